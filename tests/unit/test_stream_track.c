/*
 * test_stream_track.c - the stream source's per-shard delivery watermark:
 * the checkpoint moves only over a leading run of done records, notes come
 * back exactly when their record leaves, and the stored checkpoint stands
 * until something passes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "source/stream_track.h"

typedef struct {
    char got[256];
} notes_t;

static void collect(void *ctx, const char *note)
{
    notes_t *n = ctx;
    if (n->got[0])
        strcat(n->got, ",");
    strcat(n->got, note);
}

static void test_fresh(void **state)
{
    (void)state;
    cdc_stream_track_t *t = cdc_stream_track_new(NULL);
    assert_non_null(t);
    assert_null(cdc_stream_track_checkpoint(t));
    assert_false(cdc_stream_track_advance(t, NULL, NULL));
    assert_int_equal(cdc_stream_track_held(t), 0);
    cdc_stream_track_destroy(t);
    cdc_stream_track_destroy(NULL);
}

static void test_out_of_order_done(void **state)
{
    (void)state;
    cdc_stream_track_t *t = cdc_stream_track_new("100");
    cdc_stream_slot_t *a = cdc_stream_track_add(t, "101");
    cdc_stream_slot_t *b = cdc_stream_track_add(t, "102");
    cdc_stream_slot_t *c = cdc_stream_track_add(t, "103");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(cdc_stream_track_held(t), 3);

    /* Later records done first: the checkpoint stays at the stored one. */
    cdc_stream_slot_done(c);
    cdc_stream_slot_done(b);
    assert_false(cdc_stream_track_advance(t, NULL, NULL));
    assert_string_equal(cdc_stream_track_checkpoint(t), "100");
    assert_int_equal(cdc_stream_track_held(t), 3);

    /* The head is done: everything passes at once. */
    cdc_stream_slot_done(a);
    cdc_stream_slot_done(a); /* idempotent */
    assert_true(cdc_stream_track_advance(t, NULL, NULL));
    assert_string_equal(cdc_stream_track_checkpoint(t), "103");
    assert_int_equal(cdc_stream_track_held(t), 0);
    assert_false(cdc_stream_track_advance(t, NULL, NULL));

    /* New records after an empty list. */
    cdc_stream_slot_t *d = cdc_stream_track_add(t, "104");
    cdc_stream_slot_t *e = cdc_stream_track_add(t, "105");
    cdc_stream_slot_done(d);
    assert_true(cdc_stream_track_advance(t, NULL, NULL));
    assert_string_equal(cdc_stream_track_checkpoint(t), "104");
    assert_false(cdc_stream_slot_is_done(e));
    assert_int_equal(cdc_stream_track_held(t), 1);
    cdc_stream_track_destroy(t); /* frees the pending one */
}

static void test_notes(void **state)
{
    (void)state;
    notes_t got = {""};
    cdc_stream_track_t *t = cdc_stream_track_new(NULL);
    cdc_stream_slot_t *a = cdc_stream_track_add(t, "1");
    cdc_stream_slot_t *b = cdc_stream_track_add(t, "2");
    assert_int_equal(cdc_stream_slot_note(b, "chunk-b1"), CDC_OK);
    assert_int_equal(cdc_stream_slot_note(b, "chunk-b2"), CDC_OK);
    assert_int_equal(cdc_stream_slot_note(a, "chunk-a"), CDC_OK);

    /* b is done but a is not: b's notes stay until b leaves. */
    cdc_stream_slot_done(b);
    assert_false(cdc_stream_track_advance(t, collect, &got));
    assert_string_equal(got.got, "");

    cdc_stream_slot_done(a);
    assert_true(cdc_stream_track_advance(t, collect, &got));
    assert_string_equal(got.got, "chunk-a,chunk-b1,chunk-b2");
    assert_string_equal(cdc_stream_track_checkpoint(t), "2");
    cdc_stream_track_destroy(t);
}

static void test_destroy_with_notes(void **state)
{
    (void)state;
    cdc_stream_track_t *t = cdc_stream_track_new("7");
    cdc_stream_slot_t *a = cdc_stream_track_add(t, "8");
    assert_int_equal(cdc_stream_slot_note(a, "x"), CDC_OK);
    cdc_stream_slot_done(a);
    cdc_stream_track_destroy(t); /* no leak under ASan */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh),
        cmocka_unit_test(test_out_of_order_done),
        cmocka_unit_test(test_notes),
        cmocka_unit_test(test_destroy_with_notes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
