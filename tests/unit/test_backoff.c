/*
 * test_backoff.c - retry delays: bounds, growth to the cap, reset, and
 * exact values under an injected random source.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "db/backoff.h"

/* Returns the scripted values in turn, then zeros. */
typedef struct {
    const uint64_t *v;
    size_t n, i;
} script_t;

static uint64_t scripted(void *ud)
{
    script_t *s = ud;
    return s->i < s->n ? s->v[s->i++] : 0;
}

static uint64_t zero(void *ud)
{
    (void)ud;
    return 0;
}

/* The largest value each time: r % span == span - 1 needs r = span - 1,
 * so the script follows the spans [base, min(max, 3 * prev)]. */
static void test_grows_by_three_to_the_cap(void **state)
{
    (void)state;
    /* base 100, max 1000: spans 201 (100..300), 801 (100..900), 901. */
    const uint64_t v[] = {200, 800, 900, 900, 900};
    script_t s = {v, 5, 0};
    cdc_backoff_t b;
    cdc_backoff_init(&b, 100, 1000, scripted, &s);
    assert_int_equal(cdc_backoff_next(&b), 300);
    assert_int_equal(cdc_backoff_next(&b), 900);
    assert_int_equal(cdc_backoff_next(&b), 1000);
    assert_int_equal(cdc_backoff_next(&b), 1000);
    assert_int_equal(cdc_backoff_next(&b), 1000);
    assert_int_equal(b.attempts, 5);
}

/* The smallest value is the base, whatever came before: decorrelated
 * jitter may step down. */
static void test_lowest_is_base(void **state)
{
    (void)state;
    const uint64_t v[] = {800 * 1000 + 200, 0, 7};
    script_t s = {v, 3, 0};
    cdc_backoff_t b;
    cdc_backoff_init(&b, 100, 1000, scripted, &s);
    /* 800200 % 201 = 21 -> 121 */
    assert_int_equal(cdc_backoff_next(&b), 100 + (800 * 1000 + 200) % 201);
    assert_int_equal(cdc_backoff_next(&b), 100);
    /* prev 100 again: span 201 */
    assert_int_equal(cdc_backoff_next(&b), 107);
}

static void test_reset_starts_over(void **state)
{
    (void)state;
    const uint64_t v[] = {200, 800, 200};
    script_t s = {v, 3, 0};
    cdc_backoff_t b;
    cdc_backoff_init(&b, 100, 1000, scripted, &s);
    assert_int_equal(cdc_backoff_next(&b), 300);
    assert_int_equal(cdc_backoff_next(&b), 900);
    cdc_backoff_reset(&b);
    assert_int_equal(b.attempts, 0);
    assert_int_equal(cdc_backoff_next(&b), 300);
}

static void test_max_below_base_is_base(void **state)
{
    (void)state;
    cdc_backoff_t b;
    uint64_t seed = 42;
    cdc_backoff_init(&b, 500, 100, cdc_backoff_rand_default, &seed);
    for (int i = 0; i < 50; i++)
        assert_int_equal(cdc_backoff_next(&b), 500);
    cdc_backoff_init(&b, 0, 0, zero, NULL);
    assert_int_equal(cdc_backoff_next(&b), 1);
}

/* With the default source: always within [base, min(max, 3 * previous)],
 * reaching the cap, spread out (not one value), and no overflow with the
 * widest configurable range. */
static void test_default_source_bounds(void **state)
{
    (void)state;
    cdc_backoff_t b;
    uint64_t seed = 12345;
    cdc_backoff_init(&b, 1, 3600000, cdc_backoff_rand_default, &seed);
    int64_t prev = 1, distinct = 0, last = -1;
    bool capped = false;
    for (int i = 0; i < 10000; i++) {
        int64_t d = cdc_backoff_next(&b);
        int64_t hi = prev * 3 > 3600000 ? 3600000 : prev * 3;
        assert_true(d >= 1);
        assert_true(d <= hi);
        if (d > 3600000 / 2)
            capped = true;
        if (d != last)
            distinct++;
        last = d;
        prev = d;
    }
    assert_true(capped);
    assert_true(distinct > 5000);

    /* Two sources seeded alike give the same delays. */
    uint64_t s1 = 7, s2 = 7;
    cdc_backoff_t a, c;
    cdc_backoff_init(&a, 100, 30000, cdc_backoff_rand_default, &s1);
    cdc_backoff_init(&c, 100, 30000, cdc_backoff_rand_default, &s2);
    for (int i = 0; i < 100; i++)
        assert_int_equal(cdc_backoff_next(&a), cdc_backoff_next(&c));
}

/* Many clients that failed together spread their first retries. */
static void test_first_retries_spread(void **state)
{
    (void)state;
    int64_t lo = INT64_MAX, hi = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        uint64_t s = seed * 0x9e3779b97f4a7c15ULL;
        cdc_backoff_t b;
        cdc_backoff_init(&b, 500, 30000, cdc_backoff_rand_default, &s);
        int64_t d = cdc_backoff_next(&b);
        assert_true(d >= 500 && d <= 1500);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo < 700);
    assert_true(hi > 1300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_by_three_to_the_cap),
        cmocka_unit_test(test_lowest_is_base),
        cmocka_unit_test(test_reset_starts_over),
        cmocka_unit_test(test_max_below_base_is_base),
        cmocka_unit_test(test_default_source_bounds),
        cmocka_unit_test(test_first_retries_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
