/*
 * test_config.c - config loading, env substitution, every error path,
 * the plugin users' real connector files, and the generated reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static char *fixture(const char *rel)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", getenv("CDC_FIXTURES"), rel);
    return path;
}

/* Load + validate text; returns the problems (caller frees) via out. */
static cdc_err_t load(const char *json, cdc_config_t **out, cdc_buf_t *problems)
{
    cdc_config_t *c = cdc_config_new();
    assert_non_null(c);
    cdc_err_t err = cdc_config_load_string(c, json, "t.json", problems);
    if (cdc_config_validate(c, problems) != CDC_OK)
        err = CDC_ERR_CONFIG;
    *out = c;
    return err;
}

static void test_production_config_loads_unchanged(void **state)
{
    (void)state;
    cdc_config_t *c = cdc_config_new();
    cdc_buf_t p;
    cdc_buf_init(&p);
    assert_int_equal(cdc_config_load_file(
                         c, fixture("plugin-configs/production-dsql-connector.json"), &p),
                     CDC_OK);
    assert_int_equal(cdc_config_validate(c, &p), CDC_OK);
    assert_int_equal(p.len, 0);
    assert_string_equal(cdc_config_str(c, CDC_KEY_NAME), "dsql-cdc-source");
    assert_string_equal(cdc_config_str(c, CDC_KEY_ENDPOINT_PRIMARY),
                        "vftmkydwxvxys6asbsc6ih2the.dsql-fnh4.us-east-1.on.aws");
    assert_string_equal(cdc_config_str(c, CDC_KEY_DATABASE_NAME), "car_entities");
    assert_string_equal(cdc_config_str(c, CDC_KEY_IAM_USERNAME), "dsql_iam_user");
    assert_string_equal(cdc_config_str(c, CDC_KEY_TABLES), "event_headers");
    assert_string_equal(cdc_config_str(c, CDC_KEY_REGION), "us-east-1");
    assert_int_equal(cdc_config_int(c, CDC_KEY_PORT), 5432);
    assert_int_equal(cdc_config_int(c, CDC_KEY_POLL_INTERVAL_MS), 1000);
    assert_int_equal(cdc_config_int(c, CDC_KEY_BATCH_SIZE), 1000);
    assert_int_equal(cdc_config_int(c, CDC_KEY_POOL_MAX_SIZE), 10);
    assert_int_equal(cdc_config_int(c, CDC_KEY_POOL_MIN_IDLE), 1);
    assert_int_equal(cdc_config_int(c, CDC_KEY_POOL_CONNECTION_TIMEOUT_MS), 30000);
    assert_string_equal(cdc_config_str(c, CDC_KEY_TOPIC_PREFIX), "dsql-cdc");
    assert_string_equal(cdc_config_str(c, CDC_KEY_OUTPUT_DATA_FORMAT), "JSON");
    /* new keys keep their defaults */
    assert_string_equal(cdc_config_str(c, CDC_KEY_AUTH_MODE), "iam");
    assert_string_equal(cdc_config_str(c, CDC_KEY_SSL_MODE), "verify-full");
    assert_string_equal(cdc_config_str(c, CDC_KEY_SCHEMA), "public");
    assert_string_equal(cdc_config_str(c, CDC_KEY_TIMESTAMP_COLUMN), "saved_date");
    assert_string_equal(cdc_config_str(c, CDC_KEY_CREATED_COLUMN), "created_date");
    assert_null(cdc_config_str(c, CDC_KEY_KEY_COLUMNS));
    assert_null(cdc_config_str(c, CDC_KEY_SOFT_DELETE_COLUMN));
    assert_int_equal(cdc_config_int(c, CDC_KEY_LOOKBACK_MS), 330000);
    assert_string_equal(cdc_config_str(c, CDC_KEY_SINK_TYPE), "kafka");
    assert_string_equal(cdc_config_str(c, CDC_KEY_OFFSET_FILE), "dsqlcdc.offsets");
    assert_string_equal(cdc_config_str(c, CDC_KEY_REST_LISTEN), "127.0.0.1:8083");
    assert_string_equal(cdc_config_str(c, CDC_KEY_RECORD_FORMAT), "flat");
    assert_string_equal(cdc_config_str(c, CDC_KEY_START_MODE), "earliest");
    assert_int_equal(cdc_config_int(c, CDC_KEY_OFFSET_FLUSH_INTERVAL_MS), 10000);
    assert_string_equal(cdc_config_str(c, CDC_KEY_ERRORS_TOLERANCE), "none");
    assert_false(cdc_config_bool(c, CDC_KEY_VALUE_CONVERTER_SCHEMAS_ENABLE));
    assert_string_equal(cdc_config_source(c, CDC_KEY_DATABASE_NAME),
                        fixture("plugin-configs/production-dsql-connector.json:10") +
                            0);
    cdc_buf_free(&p);
    cdc_config_destroy(c);
}

static void test_routed_config_with_env(void **state)
{
    (void)state;
    setenv("DSQL_ENDPOINT_PRIMARY", "abc.dsql.us-east-1.on.aws", 1);
    setenv("DSQL_ENDPOINT_SECONDARY", "def.dsql.us-east-2.on.aws", 1);
    setenv("DSQL_REGION", "us-east-1", 1);
    setenv("DSQL_IAM_USERNAME", "cdc_reader", 1);
    setenv("DSQL_DATABASE_NAME", "postgres", 1);
    setenv("DSQL_CLUSTER_RESOURCE_ID", "abc", 1);
    cdc_config_t *c = cdc_config_new();
    cdc_buf_t p;
    cdc_buf_init(&p);
    assert_int_equal(cdc_config_load_file(
                         c, fixture("plugin-configs/routed-dsql-connector.json"), &p),
                     CDC_OK);
    assert_int_equal(cdc_config_validate(c, &p), CDC_OK);
    assert_string_equal(cdc_config_str(c, CDC_KEY_NAME), "dsql-cdc-source-event-headers");
    assert_string_equal(cdc_config_str(c, CDC_KEY_ENDPOINT_PRIMARY), "abc.dsql.us-east-1.on.aws");
    assert_string_equal(cdc_config_str(c, CDC_KEY_ENDPOINT_SECONDARY), "def.dsql.us-east-2.on.aws");
    assert_string_equal(cdc_config_str(c, CDC_KEY_IAM_USERNAME), "cdc_reader");
    assert_string_equal(cdc_config_str(c, CDC_KEY_ERRORS_TOLERANCE), "all");
    assert_string_equal(cdc_config_extra(c, "transforms.route.regex"),
                        "dsql-cdc\\.public\\.event_headers");
    assert_string_equal(cdc_config_extra(c, "transforms.route.replacement"),
                        "raw-event-headers");
    assert_int_equal(cdc_config_extras_each(c, "transforms.", NULL, NULL), 3);
    cdc_buf_free(&p);
    cdc_config_destroy(c);
    unsetenv("DSQL_ENDPOINT_SECONDARY");
}

static void test_env_substitution(void **state)
{
    (void)state;
    setenv("CDC_T_HOST", "h.example", 1);
    unsetenv("CDC_T_UNSET");
    cdc_config_t *c;
    cdc_buf_t p;
    cdc_buf_init(&p);
    assert_int_equal(load("{\"dsql.endpoint.primary\":\"db-${env:CDC_T_HOST}\","
                          "\"dsql.tables\":\"${env:CDC_T_UNSET:-t1, s.t2}\","
                          "\"dsql.schema\":\"${env:CDC_T_UNSET:-}x\"}",
                          &c, &p),
                     CDC_OK);
    assert_string_equal(cdc_config_str(c, CDC_KEY_ENDPOINT_PRIMARY), "db-h.example");
    assert_string_equal(cdc_config_str(c, CDC_KEY_TABLES), "t1, s.t2");
    assert_int_equal(cdc_config_list_count(c, CDC_KEY_TABLES), 2);
    assert_string_equal(cdc_config_str(c, CDC_KEY_SCHEMA), "x");
    cdc_config_destroy(c);

    cdc_buf_reset(&p);
    assert_int_equal(load("{\"dsql.endpoint.primary\":\"${env:CDC_T_UNSET}\","
                          "\"dsql.tables\":\"t\",\"dsql.region\":\"${file:/x:y}\"}",
                          &c, &p),
                     CDC_ERR_CONFIG);
    assert_string_equal(cdc_buf_str(&p),
        "dsql.endpoint.primary (t.json:1): environment variable CDC_T_UNSET is "
        "not set; export it, or write ${env:CDC_T_UNSET:-default}\n"
        "dsql.region (t.json:1): unsupported reference \"${file:/x:y}\"; only "
        "${env:VAR} and ${env:VAR:-default} are supported\n"
        "dsql.endpoint.primary: required, not set (Host name of the DSQL "
        "cluster endpoint to read from (e.g. <id>.dsql.us-east-1.on.aws), or "
        "of a PostgreSQL server with dsql.auth.mode=password; host:port "
        "overrides dsql.port (the token is signed for the host).)\n");
    cdc_config_destroy(c);
    cdc_buf_free(&p);
}

static void test_every_problem_reported(void **state)
{
    (void)state;
    unsetenv("CDC_TEST_UNSET_VAR");
    cdc_config_t *c = cdc_config_new();
    cdc_buf_t p;
    cdc_buf_init(&p);
    assert_int_equal(cdc_config_load_file(c, fixture("configs/broken.json"), &p),
                     CDC_ERR_CONFIG);
    assert_int_equal(cdc_config_validate(c, &p), CDC_ERR_CONFIG);
    const char *path = fixture("configs/broken.json");
    cdc_buf_t expect;
    cdc_buf_init(&expect);
    cdc_buf_printf(&expect,
        "dsql.endpont.primary (%1$s:4): unknown key; did you mean dsql.endpoint.primary?\n"
        "dsql.batch.size (%1$s:5): 0 is out of range; valid: 1..100000\n"
        "dsql.poll.interval.ms (%1$s:6): \"soon\" is not an integer; valid: 10..3600000\n"
        "dsql.auth.mode (%1$s:7): \"kerberos\" is not valid; valid: iam|password\n"
        "dsql.region (%1$s:8): environment variable CDC_TEST_UNSET_VAR is not set; "
        "export it, or write ${env:CDC_TEST_UNSET_VAR:-default}\n"
        "dsql.endpoint.primary: required, not set (Host name of the DSQL cluster "
        "endpoint to read from (e.g. <id>.dsql.us-east-1.on.aws), or of a "
        "PostgreSQL server with dsql.auth.mode=password; host:port overrides "
        "dsql.port (the token is signed for the host).)\n"
        "dsql.tables: required, not set (Comma-separated tables to capture, each "
        "\"table\" or \"schema.table\". With source.mode=stream: the tables to "
        "keep (default: all).)\n"
        "sink.file.path: required when sink.type=file\n"
        "transforms.route.type: unsupported transform "
        "\"org.apache.kafka.connect.transforms.InsertField\"; supported: "
        "org.apache.kafka.connect.transforms.RegexRouter, "
        "io.confluent.connect.cloud.transforms.TopicRegexRouter\n",
        path);
    assert_string_equal(cdc_buf_str(&p), cdc_buf_str(&expect));
    cdc_buf_free(&expect);
    cdc_buf_free(&p);
    cdc_config_destroy(c);
}

static void test_type_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *problem;
    } cases[] = {
        {"{\"dsql.port\":\"70000\"}", "dsql.port (t.json:1): 70000 is out of range; valid: 1..65535\n"},
        {"{\"dsql.port\":\"12x\"}", "dsql.port (t.json:1): \"12x\" is not an integer; valid: 1..65535\n"},
        {"{\"key.converter.schemas.enable\":\"yes\"}",
         "key.converter.schemas.enable (t.json:1): \"yes\" is not a boolean; valid: true or false\n"},
        {"{\"record.format\":\"avro\"}", "record.format (t.json:1): \"avro\" is not valid; valid: flat|debezium\n"},
        {"{\"dsql.tables\":[\"a\"]}", "dsql.tables (t.json:1): expected a string value\n"},
        {"{\"toppic.prefix\":\"x\"}", "toppic.prefix (t.json:1): unknown key; did you mean topic.prefix?\n"},
        {"{\"zzzz\":\"x\"}", "zzzz (t.json:1): unknown key; see docs/config.md or dsqlcdc --help for the keys\n"},
        {"[1]", "t.json: expected a JSON object: a connector {\"name\": ..., \"config\": {...}} or a map of keys\n"},
        {"{\"a\":", "t.json:1:5: not valid JSON: unexpected token near end of file\n"},
        {"{\"name\":\"x\",\"config\":{},\"extra\":1}",
         "t.json:1: unexpected top-level key \"extra\"; a connector file has \"name\" and \"config\"\n"},
        {"{\"dsql.port\":\"1\",\"dsql.port\":\"2\"}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cdc_config_t *c = cdc_config_new();
        cdc_buf_t p;
        cdc_buf_init(&p);
        assert_int_equal(cdc_config_load_string(c, cases[i].json, "t.json", &p),
                         CDC_ERR_CONFIG);
        if (cases[i].problem)
            assert_string_equal(cdc_buf_str(&p), cases[i].problem);
        else
            assert_non_null(strstr(cdc_buf_str(&p), "duplicate"));
        cdc_buf_free(&p);
        cdc_config_destroy(c);
    }
}

static void test_cross_key_rules(void **state)
{
    (void)state;
    cdc_config_t *c;
    cdc_buf_t p;
    cdc_buf_init(&p);
    assert_int_equal(load("{\"dsql.endpoint.primary\":\"h\",\"dsql.tables\":\"a.b.c, ok\","
                          "\"dsql.pool.min.idle\":\"5\",\"dsql.pool.max.size\":\"2\","
                          "\"value.converter\":\"io.confluent.connect.avro.AvroConverter\","
                          "\"rest.listen\":\"8083\",\"transforms\":\"r\","
                          "\"transforms.r.type\":\"org.apache.kafka.connect.transforms.RegexRouter\","
                          "\"transforms.r.regex\":\"(a\",\"transforms.x.type\":\"y\","
                          "\"value.converter.schemas.enable\":\"true\"}",
                          &c, &p),
                     CDC_ERR_CONFIG);
    assert_string_equal(cdc_buf_str(&p),
        "dsql.tables (t.json:1): \"a.b.c\" is not a table name; write table or schema.table (letters, digits, _)\n"
        "dsql.pool.min.idle (t.json:1): 5 is more than dsql.pool.max.size (2)\n"
        "value.converter (t.json:1): \"io.confluent.connect.avro.AvroConverter\" is not supported; use org.apache.kafka.connect.json.JsonConverter\n"
        "value.converter.schemas.enable (t.json:1): true needs record.format=debezium; the flat format is schemaless JSON\n"
        "rest.listen (t.json:1): \"8083\" is not host:port, e.g. 127.0.0.1:8083\n"
        "transforms.r.regex: \"(a\" is not a valid regular expression: Unmatched ( or \\(\n"
        "transforms.r.replacement: not set; RegexRouter needs the replacement topic name ($1 refers to a group)\n"
        "transforms.x.type: transform \"x\" is not listed in transforms\n");
    cdc_config_destroy(c);
    cdc_buf_free(&p);
}

static void test_stream_mode_rules(void **state)
{
    (void)state;
    cdc_config_t *c;
    cdc_buf_t p;
    cdc_buf_init(&p);
    /* No endpoint or tables needed; the stream is. */
    assert_int_equal(load("{\"source.mode\":\"stream\","
                          "\"stream.start.position\":\"at_timestamp\"}", &c, &p),
                     CDC_ERR_CONFIG);
    assert_string_equal(cdc_buf_str(&p),
        "stream.kinesis.stream.arn: required with source.mode=stream (or stream.kinesis.stream.name)\n"
        "stream.start.timestamp: required with stream.start.position=at_timestamp\n");
    cdc_config_destroy(c);
    cdc_buf_reset(&p);
    assert_int_equal(load("{\"source.mode\":\"stream\",\"stream.kinesis.stream.arn\":"
                          "\"arn:aws:kinesis:us-east-1:123456789012:stream/dsql-cdc\"}",
                          &c, &p), CDC_OK);
    assert_int_equal(p.len, 0);
    assert_int_equal(cdc_config_int(c, CDC_KEY_STREAM_REORDER_WINDOW_MS), 2000);
    cdc_config_destroy(c);
    cdc_buf_free(&p);
}

static void test_bare_map_and_types(void **state)
{
    (void)state;
    cdc_config_t *c;
    cdc_buf_t p;
    cdc_buf_init(&p);
    assert_int_equal(load("{\"name\":\"n1\",\"dsql.endpoint.primary\":\"h\","
                          "\"dsql.tables\":\"t\",\"dsql.batch.size\":500,"
                          "\"value.converter.schemas.enable\":true,"
                          "\"record.format\":\"debezium\","
                          "\"dsql.ssl.mode\":\"DISABLE\",\"sink.type\":\"stdout\","
                          "\"kafka.linger.ms\":\"20\",\"dsql.endpoint.secondary\":\"\"}",
                          &c, &p),
                     CDC_OK);
    assert_string_equal(cdc_config_str(c, CDC_KEY_NAME), "n1");
    assert_int_equal(cdc_config_int(c, CDC_KEY_BATCH_SIZE), 500);
    assert_true(cdc_config_bool(c, CDC_KEY_VALUE_CONVERTER_SCHEMAS_ENABLE));
    assert_string_equal(cdc_config_str(c, CDC_KEY_SSL_MODE), "disable");
    assert_null(cdc_config_str(c, CDC_KEY_ENDPOINT_SECONDARY));
    assert_string_equal(cdc_config_extra(c, "kafka.linger.ms"), "20");
    /* kafka.bootstrap.servers (default) + kafka.linger.ms */
    assert_int_equal(cdc_config_extras_each(c, "kafka.", NULL, NULL), 2);
    assert_true(cdc_config_key_is_secret("kafka.sasl.password"));
    assert_true(cdc_config_key_is_secret("kafka.ssl.key.password"));
    assert_true(cdc_config_key_is_secret("dsql.password"));
    assert_false(cdc_config_key_is_secret("kafka.sasl.username"));
    cdc_config_destroy(c);
    cdc_buf_free(&p);
}

static void test_print_redacts_secrets(void **state)
{
    (void)state;
    setenv("CONFLUENT_API_KEY", "ABCDKEY", 1);
    setenv("CONFLUENT_API_SECRET", "s3cr3t-confluent-value", 1);
    cdc_config_t *c = cdc_config_new();
    cdc_buf_t p;
    cdc_buf_init(&p);
    assert_int_equal(cdc_config_load_file(c, fixture("configs/confluent-cloud.json"), &p),
                     CDC_OK);
    assert_int_equal(cdc_config_set(c, "dsql.password", "pg-pass-1234", "cli", &p),
                     CDC_OK);
    assert_int_equal(cdc_config_set(c, "kafka.ssl.key.password", "kp-5678", "cli", &p),
                     CDC_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cdc_config_print(c, f);
    fclose(f);
    assert_null(strstr(text, "s3cr3t-confluent-value"));
    assert_null(strstr(text, "pg-pass-1234"));
    assert_null(strstr(text, "kp-5678"));
    assert_non_null(strstr(text, "  kafka.sasl.password = ********\n"));
    assert_non_null(strstr(text, "  dsql.password = ********\n"));
    assert_non_null(strstr(text, "  kafka.ssl.key.password = ********\n"));
    assert_non_null(strstr(text, "  kafka.sasl.username = ABCDKEY\n"));
    free(text);
    cdc_buf_free(&p);
    cdc_config_destroy(c);
}

/* docs/config.md must be exactly what the key table generates. */
static void test_reference_doc_is_current(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cdc_config_write_reference(f);
    fclose(f);
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/config.md", getenv("CDC_SOURCE_DIR"));
    FILE *d = fopen(path, "r");
    assert_non_null(d);
    char *doc = calloc(1, len + 2);
    size_t got = fread(doc, 1, len + 1, d);
    fclose(d);
    if (got != len || memcmp(doc, text, len) != 0)
        fail_msg("docs/config.md is stale: regenerate it with "
                 "`build/dsqlcdc config-reference > docs/config.md`");
    free(doc);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_production_config_loads_unchanged),
        cmocka_unit_test(test_routed_config_with_env),
        cmocka_unit_test(test_env_substitution),
        cmocka_unit_test(test_every_problem_reported),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_cross_key_rules),
        cmocka_unit_test(test_stream_mode_rules),
        cmocka_unit_test(test_bare_map_and_types),
        cmocka_unit_test(test_print_redacts_secrets),
        cmocka_unit_test(test_reference_doc_is_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
