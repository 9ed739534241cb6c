/*
 * test_stream_schema.c - message.key.columns as the stream source reads it
 * (Debezium's schema.table:col,col;... syntax) and the table coverage test
 * that decides when the catalog is read again. The catalog queries run in
 * the integration tests against a real PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "source/stream_schema.h"

static void expect_keys(const cdc_stream_schema_t *s, const char *schema,
                        const char *table, const char *want)
{
    const cdc_stream_table_t *t = cdc_stream_schema_table(s, schema, table);
    assert_non_null(t);
    assert_true(t->keys_known);
    assert_true(t->keys_from_config);
    assert_int_equal(t->ncols, 0);
    char got[256] = "";
    for (size_t i = 0; i < t->nkeys; i++) {
        if (i)
            strcat(got, ",");
        strcat(got, t->keys[i]);
    }
    assert_string_equal(got, want);
}

static void test_parse(void **state)
{
    (void)state;
    char e[256];
    cdc_stream_schema_t *s = cdc_stream_schema_new();
    assert_int_equal(cdc_stream_schema_set_keys(
                         s, " public.event_headers : id ; sales.order_items:"
                            "order_id, item_id;plain:k;",
                         "app", e, sizeof e),
                     CDC_OK);
    expect_keys(s, "public", "event_headers", "id");
    expect_keys(s, "sales", "order_items", "order_id,item_id");
    expect_keys(s, "app", "plain", "k"); /* default schema */
    assert_null(cdc_stream_schema_table(s, "public", "plain"));
    assert_null(cdc_stream_schema_table(s, "public", "other"));

    /* NULL and "" set nothing. */
    assert_int_equal(cdc_stream_schema_set_keys(s, NULL, "public", e,
                                                sizeof e), CDC_OK);
    assert_int_equal(cdc_stream_schema_set_keys(s, "", "public", e,
                                                sizeof e), CDC_OK);
    expect_keys(s, "public", "event_headers", "id");
    cdc_stream_schema_destroy(s);
    cdc_stream_schema_destroy(NULL);
}

static void expect_bad(const char *spec, const char *fragment)
{
    char e[256] = "";
    cdc_stream_schema_t *s = cdc_stream_schema_new();
    assert_int_equal(cdc_stream_schema_set_keys(s, spec, "public", e,
                                                sizeof e), CDC_ERR_CONFIG);
    if (!strstr(e, fragment))
        fail_msg("error for \"%s\" lacks \"%s\": %s", spec, fragment, e);
    assert_non_null(strstr(e, "message.key.columns"));
    /* A bad entry changes nothing, not even the good ones before it. */
    assert_null(cdc_stream_schema_table(s, "public", "good"));
    cdc_stream_schema_destroy(s);
}

static void test_errors(void **state)
{
    (void)state;
    expect_bad("good:id;event_headers", "\"event_headers\" is not");
    expect_bad("good:id;:id", "is not <schema.table>");
    expect_bad("good:id;t:", "empty column name");
    expect_bad("good:id;t:a,,b", "empty column name");
    expect_bad("good:id;a.b.c:id", "is not a table name");
    expect_bad("good:id;.t:id", "is not a table name");
    expect_bad("good:id;public.good:x", "named twice");
}

static void test_covers(void **state)
{
    (void)state;
    char e[256];
    cdc_stream_schema_t *s = cdc_stream_schema_new();
    assert_int_equal(cdc_stream_schema_set_keys(s, "t:id", "public", e,
                                                sizeof e), CDC_OK);
    cdc_cdcrec_col_t cols[1] = {{.name = "id"}};
    cdc_cdcrec_image_t img = {.cols = cols, .ncols = 1};
    /* Keys from config alone are not column types: not covered. */
    assert_false(cdc_stream_schema_covers(s, "public", "t", &img));
    assert_false(cdc_stream_schema_covers(s, "public", "u", &img));
    cdc_stream_schema_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_covers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
