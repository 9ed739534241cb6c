/*
 * test_dedup.c - the emitted-versions set: membership, pruning by the
 * watermark, persistence of delivered entries only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "source/dedup.h"

static uint64_t dig(const char *key, int64_t ts)
{
    const char *vals[1] = {key};
    size_t lens[1] = {strlen(key)};
    return cdc_dedup_digest(vals, lens, 1, ts);
}

static void test_digest_distinguishes(void **state)
{
    (void)state;
    assert_true(dig("e1", 100) == dig("e1", 100));
    assert_true(dig("e1", 100) != dig("e1", 101));
    assert_true(dig("e1", 100) != dig("e2", 100));
    const char *a[2] = {"ab", "c"}, *b[2] = {"a", "bc"};
    size_t la[2] = {2, 1}, lb[2] = {1, 2};
    assert_true(cdc_dedup_digest(a, la, 2, 5) != cdc_dedup_digest(b, lb, 2, 5));
}

/*
 * Digests are persisted in offset files, so their values must never change:
 * the first 8 bytes (host order) of SHA-256 over each key as a 64-bit length
 * then its bytes, then the 64-bit timestamp (values from Python's hashlib).
 */
static void test_digest_values_are_stable(void **state)
{
    (void)state;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    assert_true(dig("9e3779b1-9e37-79b1-779b-c46d23eb0001",
                    1764000000000001) == UINT64_C(0xe15d46265e903aa7));
    assert_true(dig("", 0) == UINT64_C(0xd59d71f7ff084737));
    const char *a[2] = {"ab", "c"}, *b[2] = {"a", "bc"};
    size_t la[2] = {2, 1}, lb[2] = {1, 2};
    assert_true(cdc_dedup_digest(a, la, 2, 5) == UINT64_C(0xb1c74542f383e0f1));
    assert_true(cdc_dedup_digest(b, lb, 2, 5) == UINT64_C(0x46eff5a2533f794f));
    assert_true(cdc_dedup_digest(NULL, NULL, 0, -1) ==
                UINT64_C(0x5dce615644aea312));
#else
    skip();
#endif
}

static void test_add_contains_prune_grow(void **state)
{
    (void)state;
    cdc_dedup_t *d = cdc_dedup_new();
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(cdc_dedup_add(d, dig(key, i), i, 1), CDC_OK);
    }
    assert_int_equal(cdc_dedup_add(d, dig("k5", 5), 5, 2), CDC_OK); /* dup */
    assert_int_equal(cdc_dedup_count(d), 10000);
    assert_true(cdc_dedup_contains(d, dig("k9999", 9999)));
    assert_false(cdc_dedup_contains(d, dig("k9999", 9998)));
    cdc_dedup_prune(d, 9990);
    assert_int_equal(cdc_dedup_count(d), 10);
    assert_false(cdc_dedup_contains(d, dig("k5", 5)));
    assert_true(cdc_dedup_contains(d, dig("k9990", 9990)));
    cdc_dedup_destroy(d);
}

/* Export d up to max_seq into b (expecting want_len base64 characters) and
 * import that into a new set. */
static cdc_dedup_t *round_trip(const cdc_dedup_t *d, uint64_t max_seq,
                               cdc_buf_t *b, size_t want_len)
{
    assert_int_equal(cdc_dedup_export(d, max_seq, b), CDC_OK);
    assert_int_equal(b->len, want_len);
    assert_int_equal(strlen(b->data), want_len);
    cdc_dedup_t *r = cdc_dedup_new();
    assert_int_equal(cdc_dedup_import(r, b->data, b->len), CDC_OK);
    return r;
}

static void test_export_only_delivered(void **state)
{
    (void)state;
    cdc_dedup_t *d = cdc_dedup_new();
    cdc_dedup_add(d, dig("a", 1), 1, 3);
    cdc_dedup_add(d, dig("b", 2), 2, 4);
    cdc_dedup_add(d, dig("c", 3), 3, 5);
    cdc_buf_t b;
    cdc_buf_init(&b);
    /* 2 entries x 16 bytes = 32 bytes -> 44 base64 chars */
    cdc_dedup_t *r = round_trip(d, 4, &b, 44);
    assert_int_equal(cdc_dedup_count(r), 2);
    assert_true(cdc_dedup_contains(r, dig("a", 1)));
    assert_true(cdc_dedup_contains(r, dig("b", 2)));
    assert_false(cdc_dedup_contains(r, dig("c", 3)));
    /* pruning after import uses the stored timestamps */
    cdc_dedup_prune(r, 2);
    assert_false(cdc_dedup_contains(r, dig("a", 1)));
    assert_true(cdc_dedup_contains(r, dig("b", 2)));
    assert_int_equal(cdc_dedup_import(r, "abc", 3), CDC_ERR_PARSE);
    assert_int_equal(cdc_dedup_import(r, "AAAA", 4), CDC_ERR_PARSE);
    cdc_buf_free(&b);
    cdc_dedup_destroy(d);
    cdc_dedup_destroy(r);
}

/* Step numbers past 2^32: the set keeps their low 32 bits and still tells
 * delivered steps from later ones. */
static void test_export_across_seq_wrap(void **state)
{
    (void)state;
    cdc_dedup_t *d = cdc_dedup_new();
    cdc_dedup_add(d, dig("a", 1), 1, 0xFFFFFFFFull);
    cdc_dedup_add(d, dig("b", 2), 2, 0x100000000ull);
    cdc_dedup_add(d, dig("c", 3), 3, 0x100000001ull);
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_dedup_t *r = round_trip(d, 0x100000000ull, &b, 44);
    assert_int_equal(cdc_dedup_count(r), 2);
    assert_true(cdc_dedup_contains(r, dig("a", 1)));
    assert_true(cdc_dedup_contains(r, dig("b", 2)));
    assert_false(cdc_dedup_contains(r, dig("c", 3)));
    cdc_buf_free(&b);
    cdc_dedup_destroy(d);
    cdc_dedup_destroy(r);
}

/* An export of more entries than one encoding chunk reads back whole. */
static void test_export_many(void **state)
{
    (void)state;
    cdc_dedup_t *d = cdc_dedup_new();
    for (uint64_t i = 1; i <= 2000; i++)
        cdc_dedup_add(d, i * 0x9E3779B97F4A7C15ull, (int64_t)i, i);
    cdc_buf_t b;
    cdc_buf_init(&b);
    /* 1999 entries x 16 bytes = 31984 bytes -> 42648 base64 chars */
    cdc_dedup_t *r = round_trip(d, 1999, &b, 42648);
    assert_int_equal(cdc_dedup_count(r), 1999);
    for (uint64_t i = 1; i <= 1999; i++)
        assert_true(cdc_dedup_contains(r, i * 0x9E3779B97F4A7C15ull));
    assert_false(cdc_dedup_contains(r, 2000 * 0x9E3779B97F4A7C15ull));
    cdc_buf_free(&b);
    cdc_dedup_destroy(d);
    cdc_dedup_destroy(r);
}

/* Pruning in place against the obvious answer: random digests and
 * timestamps, pruned again and again, hold exactly the entries stamped at or
 * after the last prune's time (every probe chain still finds its entry). */
static void test_prune_in_place_matches_reference(void **state)
{
    (void)state;
    enum { N = 20000 };
    static uint64_t digests[N];
    static int64_t stamps[N];
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    cdc_dedup_t *d = cdc_dedup_new();
    size_t added = 0;
    int64_t cut = INT64_MIN;
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < N / 8; i++, added++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            digests[added] = x | 1;
            stamps[added] = (int64_t)(x >> 40) % 1000 + round * 100;
            assert_int_equal(cdc_dedup_add(d, digests[added], stamps[added], 1),
                             CDC_OK);
        }
        cut = round * 100 + 250;
        cdc_dedup_prune(d, cut);
        size_t want = 0;
        for (size_t j = 0; j < added; j++) {
            bool kept = stamps[j] >= cut; /* cuts only rise */
            want += kept;
            assert_int_equal(cdc_dedup_contains(d, digests[j]), kept);
        }
        assert_int_equal(cdc_dedup_count(d), want);
    }
    cdc_dedup_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prune_in_place_matches_reference),
        cmocka_unit_test(test_export_many),
        cmocka_unit_test(test_export_across_seq_wrap),
        cmocka_unit_test(test_digest_distinguishes),
        cmocka_unit_test(test_digest_values_are_stable),
        cmocka_unit_test(test_add_contains_prune_grow),
        cmocka_unit_test(test_export_only_delivered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
