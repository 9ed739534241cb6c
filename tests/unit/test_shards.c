/*
 * test_shards.c - shard lineage: which shards may be read now.
 *
 * Every case asserts the exact readable set, in order, after each step of a
 * resharding history (split, merge, chains, trimmed parents, shards found by
 * a later ListShards).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "source/shards.h"

#define S0 "shardId-000000000000"
#define S1 "shardId-000000000001"
#define S2 "shardId-000000000002"
#define S3 "shardId-000000000003"
#define S4 "shardId-000000000004"
#define S5 "shardId-000000000005"
#define S6 "shardId-000000000006"

#define OPEN NULL
#define END "49590338271490256608559692538361571095921575989136588898"

static cdc_shard_desc_t desc(const char *id, const char *parent,
                             const char *adjacent, const char *end)
{
    cdc_shard_desc_t d = {
        .shard_id = id,
        .parent_shard_id = parent,
        .adjacent_parent_shard_id = adjacent,
        .starting_sequence_number = "49590338271490256608559692538361571095921575989136588800",
        .ending_sequence_number = end,
    };
    return d;
}

/* Assert the readable set is exactly the NULL-terminated list given. */
static void expect_readable(const cdc_shards_t *s, ...)
{
    const char *want[16], *got[16];
    size_t nwant = 0, ngot;
    char gotstr[512] = "", wantstr[512] = "";
    va_list ap;

    va_start(ap, s);
    for (const char *id; (id = va_arg(ap, const char *)) != NULL;)
        want[nwant++] = id;
    va_end(ap);

    ngot = cdc_shards_readable(s, got, 16);
    assert_true(ngot <= 16);
    assert_int_equal(cdc_shards_readable(s, NULL, 0), ngot);
    for (size_t i = 0; i < ngot; i++) {
        strcat(gotstr, got[i] + strlen("shardId-0000000000"));
        strcat(gotstr, " ");
    }
    for (size_t i = 0; i < nwant; i++) {
        strcat(wantstr, want[i] + strlen("shardId-0000000000"));
        strcat(wantstr, " ");
    }
    assert_string_equal(gotstr, wantstr);
}

static void update(cdc_shards_t *s, const cdc_shard_desc_t *l, size_t n,
                   bool complete)
{
    char errstr[256] = "";
    cdc_err_t err = cdc_shards_update(s, l, n, complete, errstr, sizeof errstr);
    if (err != CDC_OK)
        fail_msg("update: %s", errstr);
}

static void finish(cdc_shards_t *s, const char *id)
{
    char errstr[256] = "";
    if (cdc_shards_mark_finished(s, id, errstr, sizeof errstr) != CDC_OK)
        fail_msg("mark_finished %s: %s", id, errstr);
}

static void test_open_shards_all_readable(void **state)
{
    cdc_shards_t *s = cdc_shards_new();
    /* Out of order on purpose: the answer is sorted by id. */
    cdc_shard_desc_t l[] = {
        desc(S2, NULL, NULL, OPEN),
        desc(S0, "", "", OPEN),
        desc(S1, NULL, NULL, OPEN),
    };

    update(s, l, 3, true);
    assert_int_equal(cdc_shards_count(s), 3);
    expect_readable(s, S0, S1, S2, NULL);
    assert_int_equal(cdc_shards_state(s, S0), CDC_SHARD_READABLE);
    assert_int_equal(cdc_shards_state(s, "shardId-000000000099"),
                     CDC_SHARD_UNKNOWN);
    assert_false(cdc_shards_closed(s, S0));
    assert_false(cdc_shards_need_relist(s));
    cdc_shards_destroy(s);
}

static void test_split(void **state)
{
    cdc_shards_t *s = cdc_shards_new();
    cdc_shard_desc_t l[] = {
        desc(S0, NULL, NULL, END),
        desc(S1, S0, NULL, OPEN),
        desc(S2, S0, NULL, OPEN),
    };
    const char *one[1];

    update(s, l, 3, true);
    expect_readable(s, S0, NULL);
    assert_true(cdc_shards_closed(s, S0));
    assert_int_equal(cdc_shards_state(s, S1), CDC_SHARD_WAITING);
    assert_int_equal(cdc_shards_state(s, S2), CDC_SHARD_WAITING);

    finish(s, S0);
    assert_int_equal(cdc_shards_state(s, S0), CDC_SHARD_FINISHED);
    expect_readable(s, S1, S2, NULL);
    /* A short array gets the first ones; the count is still the total. */
    assert_int_equal(cdc_shards_readable(s, one, 1), 2);
    assert_string_equal(one[0], S1);
    assert_int_equal(cdc_shards_finished_count(s), 1);
    assert_false(cdc_shards_need_relist(s));
    cdc_shards_destroy(s);
}

static void test_merge_needs_both_parents(void **state)
{
    cdc_shards_t *s = cdc_shards_new();
    cdc_shard_desc_t l[] = {
        desc(S0, NULL, NULL, END),
        desc(S1, NULL, NULL, END),
        desc(S2, S0, S1, OPEN),
    };

    update(s, l, 3, true);
    expect_readable(s, S0, S1, NULL);

    finish(s, S1); /* the adjacent parent first */
    expect_readable(s, S0, NULL);
    assert_int_equal(cdc_shards_state(s, S2), CDC_SHARD_WAITING);

    finish(s, S0);
    expect_readable(s, S2, NULL);
    cdc_shards_destroy(s);
}

static void test_chain(void **state)
{
    /* 0 splits into 1+2, 1 splits into 3+4, 3 and 4 merge back into 5,
     * 5 and 2 merge into 6. */
    cdc_shards_t *s = cdc_shards_new();
    cdc_shard_desc_t l[] = {
        desc(S0, NULL, NULL, END), desc(S1, S0, NULL, END),
        desc(S2, S0, NULL, END),   desc(S3, S1, NULL, END),
        desc(S4, S1, NULL, END),   desc(S5, S3, S4, END),
        desc(S6, S5, S2, OPEN),
    };

    update(s, l, 7, true);
    expect_readable(s, S0, NULL);
    finish(s, S0);
    expect_readable(s, S1, S2, NULL);
    finish(s, S2);
    expect_readable(s, S1, NULL);
    finish(s, S1);
    expect_readable(s, S3, S4, NULL);
    finish(s, S3);
    expect_readable(s, S4, NULL);
    finish(s, S4);
    expect_readable(s, S5, NULL);
    assert_int_equal(cdc_shards_state(s, S6), CDC_SHARD_WAITING);
    finish(s, S5);
    expect_readable(s, S6, NULL);
    assert_int_equal(cdc_shards_finished_count(s), 6);
    cdc_shards_destroy(s);
}

static void test_trimmed_parents(void **state)
{
    cdc_shards_t *s = cdc_shards_new();
    /* Parents 0 and 1 are past retention and no longer listed. */
    cdc_shard_desc_t l[] = {
        desc(S2, S0, S1, END),
        desc(S3, S2, NULL, OPEN),
        desc(S4, S2, NULL, OPEN),
        desc(S5, S1, NULL, OPEN), /* parent gone, sibling of nothing */
    };

    update(s, l, 4, true);
    expect_readable(s, S2, S5, NULL);
    cdc_shards_destroy(s);
}

static void test_trim_while_known(void **state)
{
    cdc_shards_t *s = cdc_shards_new();
    cdc_shard_desc_t before[] = {
        desc(S0, NULL, NULL, END),
        desc(S1, S0, NULL, OPEN),
    };
    cdc_shard_desc_t after[] = {desc(S1, S0, NULL, OPEN)};

    update(s, before, 2, true);
    expect_readable(s, S0, NULL);
    /* A partial list does not drop the parent... */
    update(s, after, 1, false);
    assert_int_equal(cdc_shards_count(s), 2);
    expect_readable(s, S0, NULL);
    /* ...a complete one does: the parent's records are gone. */
    update(s, after, 1, true);
    assert_int_equal(cdc_shards_count(s), 1);
    assert_int_equal(cdc_shards_state(s, S0), CDC_SHARD_UNKNOWN);
    expect_readable(s, S1, NULL);
    cdc_shards_destroy(s);
}

static void test_children_found_later(void **state)
{
    /* kinesalite gives no ChildShards: the reader finds the end of a shard,
     * marks it finished, sees it needs a relist, and lists again. */
    cdc_shards_t *s = cdc_shards_new();
    cdc_shard_desc_t first[] = {
        desc(S0, NULL, NULL, OPEN),
        desc(S1, NULL, NULL, OPEN),
    };
    cdc_shard_desc_t second[] = {
        desc(S0, NULL, NULL, END),
        desc(S1, NULL, NULL, OPEN),
        desc(S2, S0, NULL, OPEN),
        desc(S3, S0, NULL, OPEN),
    };

    update(s, first, 2, true);
    expect_readable(s, S0, S1, NULL);
    finish(s, S0);
    assert_true(cdc_shards_closed(s, S0));
    assert_true(cdc_shards_need_relist(s));
    expect_readable(s, S1, NULL);

    update(s, second, 4, true);
    assert_false(cdc_shards_need_relist(s));
    /* The finished mark survives the relist. */
    assert_int_equal(cdc_shards_state(s, S0), CDC_SHARD_FINISHED);
    expect_readable(s, S1, S2, S3, NULL);

    /* A stale list showing 0 open does not reopen it. */
    update(s, first, 2, false);
    assert_true(cdc_shards_closed(s, S0));
    assert_int_equal(cdc_shards_state(s, S0), CDC_SHARD_FINISHED);
    expect_readable(s, S1, S2, S3, NULL);
    cdc_shards_destroy(s);
}

static void test_child_before_parent_in_list(void **state)
{
    /* A child listed before its unfinished parent:
     * the parent is readable, the child waits, whatever the list order. */
    cdc_shards_t *s = cdc_shards_new();
    cdc_shard_desc_t l[] = {
        desc(S3, S1, NULL, OPEN),
        desc(S1, NULL, NULL, END),
        desc(S2, NULL, NULL, OPEN),
    };

    update(s, l, 3, true);
    expect_readable(s, S1, S2, NULL);
    assert_int_equal(cdc_shards_state(s, S3), CDC_SHARD_WAITING);
    cdc_shards_destroy(s);
}

static void test_errors(void **state)
{
    cdc_shards_t *s = cdc_shards_new();
    cdc_shard_desc_t ok[] = {desc(S0, NULL, NULL, OPEN)};
    cdc_shard_desc_t dup[] = {desc(S1, NULL, NULL, OPEN),
                              desc(S1, NULL, NULL, OPEN)};
    cdc_shard_desc_t noid[] = {desc("", NULL, NULL, OPEN)};
    char errstr[256];

    update(s, ok, 1, true);
    assert_int_equal(cdc_shards_update(s, dup, 2, true, errstr, sizeof errstr),
                     CDC_ERR_INVALID_ARG);
    assert_string_equal(errstr, "shard " S1 " is listed twice");
    assert_int_equal(cdc_shards_update(s, noid, 1, true, errstr,
                                       sizeof errstr),
                     CDC_ERR_INVALID_ARG);
    assert_string_equal(errstr, "shard 0 of the list has no ShardId");
    /* Failed updates changed nothing. */
    expect_readable(s, S0, NULL);

    assert_int_equal(cdc_shards_mark_finished(s, S5, errstr, sizeof errstr),
                     CDC_ERR_NOT_FOUND);
    assert_string_equal(errstr, "shard " S5 " is not among the 1 known shards");

    /* An empty complete list empties the set. */
    update(s, NULL, 0, true);
    assert_int_equal(cdc_shards_count(s), 0);
    expect_readable(s, NULL);
    assert_string_equal(cdc_shard_state_name(CDC_SHARD_WAITING), "waiting");
    cdc_shards_destroy(s);
    cdc_shards_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_shards_all_readable),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_merge_needs_both_parents),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_trimmed_parents),
        cmocka_unit_test(test_trim_while_known),
        cmocka_unit_test(test_children_found_later),
        cmocka_unit_test(test_child_before_parent_in_list),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
