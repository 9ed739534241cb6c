/*
 * test_log.c - log lines, levels, JSON format, and that secrets never
 * appear in any line however they are formatted in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config/config.h"

static char *captured;
static size_t captured_len;
static FILE *capture;

static int setup(void **state)
{
    (void)state;
    capture = open_memstream(&captured, &captured_len);
    cdc_log_set_stream(capture);
    cdc_log_set_level(CDC_LOG_INFO);
    cdc_log_set_format(CDC_LOG_TEXT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_log_set_stream(NULL);
    fclose(capture);
    free(captured);
    captured = NULL;
    cdc_log_clear_secrets();
    return 0;
}

/* The text after the timestamp of the only line logged. */
static const char *line_body(void)
{
    fflush(capture);
    const char *sp = strchr(captured, ' ');
    assert_non_null(sp);
    return sp + 1;
}

static void test_text_line_and_levels(void **state)
{
    (void)state;
    cdc_log_debug("poll", "hidden %d", 1);
    cdc_log_info("poll", "table %s: %d rows", "public.t", 42);
    assert_string_equal(line_body(), "info  poll: table public.t: 42 rows\n");
    /* timestamp: 2026-11-28T13:30:57.123Z */
    assert_int_equal(strchr(captured, ' ') - captured, 24);
    assert_int_equal(captured[23], 'Z');
}

static void test_json_line(void **state)
{
    (void)state;
    cdc_log_set_format(CDC_LOG_JSON);
    cdc_log_warn("db", "quote \" and\nnewline");
    fflush(capture);
    json_error_t e;
    json_t *j = json_loads(captured, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "module")), "db");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "quote \" and\nnewline");
    assert_int_equal(strlen(json_string_value(json_object_get(j, "ts"))), 24);
    json_decref(j);
}

static void test_token_and_conninfo_redacted(void **state)
{
    (void)state;
    cdc_log_error("db", "token h.dsql.us-east-1.on.aws/?Action=DbConnect&"
                  "X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%%2Bsecret&"
                  "X-Amz-Signature=abcdef0123&X-Amz-SignedHeaders=host "
                  "conninfo host=x password=hunter22 user=u");
    const char *b = line_body();
    assert_string_equal(b, "error db: token h.dsql.us-east-1.on.aws/?Action="
                        "DbConnect&X-Amz-Security-Token=[REDACTED]&"
                        "X-Amz-Signature=[REDACTED]&X-Amz-SignedHeaders=host "
                        "conninfo host=x password=[REDACTED] user=u\n");
}

static void test_registered_secrets_redacted(void **state)
{
    (void)state;
    cdc_log_add_secret("sasl-pw-0001");
    cdc_log_info("kafka", "auth failed for key K with sasl-pw-0001 (again: "
                 "sasl-pw-0001)");
    assert_string_equal(line_body(), "info  kafka: auth failed for key K with "
                        "[REDACTED] (again: [REDACTED])\n");
}

/* Every key flagged secret that a config sets is redacted from logs. */
static void test_config_secrets_redacted(void **state)
{
    (void)state;
    cdc_config_t *c = cdc_config_new();
    cdc_buf_t p;
    cdc_buf_init(&p);
    assert_int_equal(cdc_config_load_string(
                         c, "{\"dsql.password\":\"pg-secret-991\","
                            "\"kafka.sasl.password\":\"cc-secret-992\","
                            "\"kafka.sasl.oauthbearer.client.secret\":\"oa-993\"}",
                         "t", &p),
                     CDC_OK);
    cdc_log_info("x", "%s %s %s", "pg-secret-991", "cc-secret-992", "oa-993");
    assert_string_equal(line_body(), "info  x: [REDACTED] [REDACTED] [REDACTED]\n");
    cdc_buf_free(&p);
    cdc_config_destroy(c);
}

static void test_redact_truncates_safely(void **state)
{
    (void)state;
    cdc_log_add_secret("abcdefgh");
    char out[8];
    cdc_log_redact("xx abcdefgh yy", out, sizeof out);
    assert_string_equal(out, "xx [RED");
    cdc_log_redact("abc", out, sizeof out);
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_line_and_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_and_conninfo_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_secrets_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_secrets_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_truncates_safely, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
