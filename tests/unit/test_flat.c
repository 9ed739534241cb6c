/*
 * test_flat.c - the flat record format and the per-type value rendering
 * behind it: exact bytes for a full row, NULLs, every supported type, arrays,
 * the key, and the error reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "encode/flat.h"
#include "encode/jsonw.h"
#include "encode/pgtypes.h"
#include "rows.h"

/* The event_headers row of the plugin's own examples. */
static const cdc_column_t event_row[] = {
    {"id", CDC_PGOID_TEXT, "event-123", 9, false, true},
    {"event_name", CDC_PGOID_TEXT, "OrderCreated", 12, false, false},
    {"event_type", CDC_PGOID_VARCHAR, "domain", 6, false, false},
    {"created_date", CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05+00", 22,
     false, false},
    {"saved_date", CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05.123+00", 26,
     false, false},
    {"header_data", CDC_PGOID_JSONB, "{\"a\": 1}", 8, false, false},
};

static void test_event_headers_row(void **state)
{
    cdc_change_t ch = cdc_rows_change(event_row, 6, CDC_OP_CREATE);
    cdc_buf_t out;
    cdc_buf_init(&out);
    char errstr[256] = "";
    assert_int_equal(cdc_flat_encode_value(&ch, &out, errstr, sizeof(errstr)),
                     CDC_OK);
    assert_string_equal(
        out.data,
        "{\"id\":\"event-123\",\"event_name\":\"OrderCreated\","
        "\"event_type\":\"domain\",\"created_date\":\"2024-01-15T10:30:05Z\","
        "\"saved_date\":\"2024-01-15T10:30:05.123Z\","
        "\"header_data\":\"{\\\"a\\\": 1}\",\"__op\":\"c\","
        "\"__table\":\"event_headers\",\"__ts_ms\":1705314605123}");
    assert_int_equal(strlen(out.data), out.len);

    cdc_buf_reset(&out);
    assert_int_equal(cdc_flat_encode_key(&ch, &out, errstr, sizeof(errstr)),
                     CDC_OK);
    assert_string_equal(out.data, "{\"id\":\"event-123\"}");
    cdc_buf_free(&out);
}

static void test_ops_and_appending(void **state)
{
    const cdc_column_t cols[] = {cdc_rows_key_col("id", CDC_PGOID_INT8, "42")};
    const struct {
        cdc_op_t op;
        const char *text;
    } ops[] = {{CDC_OP_CREATE, "c"}, {CDC_OP_UPDATE, "u"},
               {CDC_OP_DELETE, "d"}, {CDC_OP_READ, "r"}};
    for (size_t i = 0; i < 4; i++) {
        cdc_change_t ch = cdc_rows_change(cols, 1, ops[i].op);
        ch.ts_ms = 0;
        cdc_buf_t out;
        cdc_buf_init(&out);
        cdc_buf_puts(&out, "X"); /* encoders append */
        assert_int_equal(cdc_flat_encode_value(&ch, &out, NULL, 0), CDC_OK);
        char expected[128];
        snprintf(expected, sizeof(expected),
                 "X{\"id\":42,\"__op\":\"%s\",\"__table\":\"event_headers\","
                 "\"__ts_ms\":0}",
                 ops[i].text);
        assert_string_equal(out.data, expected);
        cdc_buf_free(&out);
    }
}

static void test_nulls(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_key_col("id", CDC_PGOID_INT4, "1"),
        cdc_rows_col("t", CDC_PGOID_TEXT, NULL),
        cdc_rows_col("ts", CDC_PGOID_TIMESTAMPTZ, NULL),
        cdc_rows_col("n", CDC_PGOID_NUMERIC, NULL),
        cdc_rows_col("a", CDC_PGOID_INT4_ARRAY, NULL),
        cdc_rows_col("b", CDC_PGOID_BYTEA, NULL),
        cdc_rows_col("empty", CDC_PGOID_TEXT, ""),
    };
    cdc_change_t ch = cdc_rows_change(cols, 7, CDC_OP_UPDATE);
    cdc_buf_t out;
    cdc_buf_init(&out);
    assert_int_equal(cdc_flat_encode_value(&ch, &out, NULL, 0), CDC_OK);
    assert_string_equal(out.data,
                        "{\"id\":1,\"t\":null,\"ts\":null,\"n\":null,\"a\":null,"
                        "\"b\":null,\"empty\":\"\",\"__op\":\"u\","
                        "\"__table\":\"event_headers\","
                        "\"__ts_ms\":1705314605123}");
    cdc_buf_free(&out);
}

static void test_keys(void **state)
{
    const cdc_column_t composite[] = {
        cdc_rows_key_col("tenant", CDC_PGOID_UUID,
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        cdc_rows_col("payload", CDC_PGOID_TEXT, "x"),
        cdc_rows_key_col("seq", CDC_PGOID_INT8, "9007199254740993"),
        cdc_rows_key_col("day", CDC_PGOID_DATE, "2024-01-15"),
        cdc_rows_key_col("gone", CDC_PGOID_TEXT, NULL),
    };
    cdc_change_t ch = cdc_rows_change(composite, 5, CDC_OP_UPDATE);
    cdc_buf_t out;
    cdc_buf_init(&out);
    assert_true(cdc_flat_has_key(&ch));
    assert_int_equal(cdc_flat_encode_key(&ch, &out, NULL, 0), CDC_OK);
    assert_string_equal(out.data,
                        "{\"tenant\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\","
                        "\"seq\":9007199254740993,\"day\":19737,\"gone\":null}");

    /* No key column: nothing appended, the record gets a null key. */
    const cdc_column_t nokey[] = {cdc_rows_col("v", CDC_PGOID_TEXT, "x")};
    ch = cdc_rows_change(nokey, 1, CDC_OP_CREATE);
    cdc_buf_reset(&out);
    assert_false(cdc_flat_has_key(&ch));
    assert_int_equal(cdc_flat_encode_key(&ch, &out, NULL, 0), CDC_OK);
    assert_int_equal(out.len, 0);
    cdc_buf_free(&out);
}

static void test_column_names_escaped(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_col("we\"ird\\name\n", CDC_PGOID_BOOL, "t")};
    cdc_change_t ch = cdc_rows_change(cols, 1, CDC_OP_READ);
    ch.table = "t\"1";
    cdc_buf_t out;
    cdc_buf_init(&out);
    assert_int_equal(cdc_flat_encode_value(&ch, &out, NULL, 0), CDC_OK);
    assert_string_equal(out.data,
                        "{\"we\\\"ird\\\\name\\n\":true,\"__op\":\"r\","
                        "\"__table\":\"t\\\"1\",\"__ts_ms\":1705314605123}");
    cdc_buf_free(&out);
}

/* ---- single values ------------------------------------------------------ */

typedef struct {
    uint32_t oid;
    const char *in;
    const char *out;
} value_case_t;

static void check_values(const value_case_t *cases, size_t n)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        cdc_buf_reset(&b);
        cdc_jsonw_t w;
        cdc_jsonw_init(&w, &b);
        char errstr[256] = "";
        cdc_err_t err = cdc_pgtypes_render(&w, cases[i].oid, cases[i].in,
                                           strlen(cases[i].in), errstr,
                                           sizeof(errstr));
        if (err != CDC_OK)
            fail_msg("%s '%s': %s", cdc_pgtypes_name(cases[i].oid),
                     cases[i].in, errstr);
        assert_int_equal(cdc_jsonw_finish(&w), CDC_OK);
        if (strcmp(b.data, cases[i].out) != 0)
            fail_msg("%s '%s': got %s, want %s", cdc_pgtypes_name(cases[i].oid),
                     cases[i].in, b.data, cases[i].out);
        /* Whatever we write must be JSON. */
        json_error_t jerr;
        json_t *j = json_loads(b.data, JSON_DECODE_ANY, &jerr);
        if (!j)
            fail_msg("%s: not JSON: %s", b.data, jerr.text);
        json_decref(j);
    }
    cdc_buf_free(&b);
}

#define CHECK_VALUES(arr) check_values((arr), sizeof(arr) / sizeof((arr)[0]))

static void test_scalar_numbers_and_bool(void **state)
{
    static const value_case_t cases[] = {
        {CDC_PGOID_BOOL, "t", "true"},
        {CDC_PGOID_BOOL, "f", "false"},
        {CDC_PGOID_INT2, "-32768", "-32768"},
        {CDC_PGOID_INT2, "32767", "32767"},
        {CDC_PGOID_INT4, "-2147483648", "-2147483648"},
        {CDC_PGOID_INT8, "9223372036854775807", "9223372036854775807"},
        {CDC_PGOID_OID, "0", "0"},
        {CDC_PGOID_INT4, "0", "0"},
        {CDC_PGOID_INT4, "2147483647", "2147483647"},
        {CDC_PGOID_INT8, "-9223372036854775808", "-9223372036854775808"},
        {CDC_PGOID_OID, "4294967295", "4294967295"},
        {CDC_PGOID_FLOAT4, "3.4028235e+38", "3.4028235e+38"},
        {CDC_PGOID_FLOAT8, "3.14", "3.14"},
        {CDC_PGOID_FLOAT8, "1e+20", "1e+20"},
        {CDC_PGOID_FLOAT8, "-0", "-0"},
        {CDC_PGOID_FLOAT8, "1.5e-07", "1.5e-07"},
        {CDC_PGOID_FLOAT8, "NaN", "\"NaN\""},
        {CDC_PGOID_FLOAT8, "Infinity", "\"Infinity\""},
        {CDC_PGOID_FLOAT4, "-Infinity", "\"-Infinity\""},
        {CDC_PGOID_NUMERIC, "123.4500", "\"123.4500\""},
        {CDC_PGOID_NUMERIC, "-0.000001", "\"-0.000001\""},
        {CDC_PGOID_NUMERIC, "12345678901234567890123456789012345678",
         "\"12345678901234567890123456789012345678\""},
        {CDC_PGOID_NUMERIC, "NaN", "\"NaN\""},
        {CDC_PGOID_NUMERIC, "-Infinity", "\"-Infinity\""},
    };
    CHECK_VALUES(cases);
}

static void test_scalar_text_like(void **state)
{
    static const value_case_t cases[] = {
        {CDC_PGOID_TEXT, "caf\xc3\xa9 \"q\"\t", "\"caf\xc3\xa9 \\\"q\\\"\\t\""},
        {CDC_PGOID_VARCHAR, "v", "\"v\""},
        {CDC_PGOID_BPCHAR, "ab   ", "\"ab   \""},
        {CDC_PGOID_NAME, "pg_class", "\"pg_class\""},
        {CDC_PGOID_CHAR, "x", "\"x\""},
        {CDC_PGOID_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
         "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""},
        {CDC_PGOID_JSON, "{\"k\":[1, 2]}", "\"{\\\"k\\\":[1, 2]}\""},
        {CDC_PGOID_JSONB, "{\"a\": \"\\n\"}", "\"{\\\"a\\\": \\\"\\\\n\\\"}\""},
        {CDC_PGOID_XML, "<a>b</a>", "\"<a>b</a>\""},
        {CDC_PGOID_INET, "192.168.0.1/24", "\"192.168.0.1/24\""},
        {CDC_PGOID_CIDR, "10.0.0.0/8", "\"10.0.0.0/8\""},
        {CDC_PGOID_MACADDR, "08:00:2b:01:02:03", "\"08:00:2b:01:02:03\""},
        {CDC_PGOID_INTERVAL, "1 year 2 mons 3 days 04:05:06.5",
         "\"1 year 2 mons 3 days 04:05:06.5\""},
        {CDC_PGOID_UNKNOWN, "?", "\"?\""},
        {CDC_PGOID_MONEY, "$1,234.50", "\"$1,234.50\""},
        {987654, "some enum label", "\"some enum label\""}, /* enum etc. */
        {987655, "{a,b}", "\"{a,b}\""}, /* array of a type we do not know */
    };
    CHECK_VALUES(cases);
}

static void test_scalar_bytea(void **state)
{
    static const value_case_t cases[] = {
        {CDC_PGOID_BYTEA, "\\x", "\"\""},
        {CDC_PGOID_BYTEA, "\\x0a", "\"Cg==\""},
        {CDC_PGOID_BYTEA, "\\x0a0b", "\"Cgs=\""},
        {CDC_PGOID_BYTEA, "\\x000102", "\"AAEC\""},
        {CDC_PGOID_BYTEA, "\\xDEADbeef", "\"3q2+7w==\""},
        {CDC_PGOID_BYTEA, "\\xfbff", "\"+/8=\""},
    };
    CHECK_VALUES(cases);
}

static void test_scalar_temporal(void **state)
{
    static const value_case_t cases[] = {
        /* timestamptz: ISO-8601 in UTC, fraction only when not zero */
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05+00",
         "\"2024-01-15T10:30:05Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05.12+00",
         "\"2024-01-15T10:30:05.12Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05.120000+00:00",
         "\"2024-01-15T10:30:05.12Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05.000001+00",
         "\"2024-01-15T10:30:05.000001Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 00:00:00+00",
         "\"2024-01-15T00:00:00Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 02:30:05-08",
         "\"2024-01-15T10:30:05Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-01 00:30:00.5+05:30",
         "\"2023-12-31T19:00:00.5Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-02-28 23:00:00-01",
         "\"2024-02-29T00:00:00Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "1900-01-01 00:00:00+00:19:32",
         "\"1899-12-31T23:40:28Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "1969-12-31 23:59:59.999999+00",
         "\"1969-12-31T23:59:59.999999Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15T10:30:05+00",
         "\"2024-01-15T10:30:05Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "0044-03-15 12:00:00+00 BC",
         "\"-0043-03-15T12:00:00Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "0001-01-01 00:00:00+00 BC",
         "\"0000-01-01T00:00:00Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "10000-01-01 00:00:00+00",
         "\"+10000-01-01T00:00:00Z\""},
        {CDC_PGOID_TIMESTAMPTZ, "infinity", "\"infinity\""},
        {CDC_PGOID_TIMESTAMPTZ, "-infinity", "\"-infinity\""},
        /* timestamp: epoch microseconds */
        {CDC_PGOID_TIMESTAMP, "2024-01-15 10:30:05.123456", "1705314605123456"},
        {CDC_PGOID_TIMESTAMP, "1970-01-01 00:00:00", "0"},
        {CDC_PGOID_TIMESTAMP, "1969-12-31 23:59:59.999999", "-1"},
        {CDC_PGOID_TIMESTAMP, "0001-01-01 00:00:00", "-62135596800000000"},
        {CDC_PGOID_TIMESTAMP, "0001-12-31 00:00:00 BC", "-62135683200000000"},
        {CDC_PGOID_TIMESTAMP, "infinity", "9223372036854775807"},
        {CDC_PGOID_TIMESTAMP, "-infinity", "-9223372036854775808"},
        /* date: days since the epoch */
        {CDC_PGOID_DATE, "2024-01-15", "19737"},
        {CDC_PGOID_DATE, "1970-01-01", "0"},
        {CDC_PGOID_DATE, "1969-12-31", "-1"},
        {CDC_PGOID_DATE, "2000-02-29", "11016"},
        {CDC_PGOID_DATE, "0001-01-01", "-719162"},
        {CDC_PGOID_DATE, "0001-12-31 BC", "-719163"},
        {CDC_PGOID_DATE, "5874897-12-31", "2145042905"}, /* PG maximum */
        {CDC_PGOID_DATE, "infinity", "2147483647"},
        {CDC_PGOID_DATE, "-infinity", "-2147483648"},
        /* time: microseconds since midnight */
        {CDC_PGOID_TIME, "00:00:00", "0"},
        {CDC_PGOID_TIME, "10:30:05.5", "37805500000"},
        {CDC_PGOID_TIME, "23:59:59.999999", "86399999999"},
        {CDC_PGOID_TIME, "24:00:00", "86400000000"},
        /* timetz: UTC time string */
        {CDC_PGOID_TIMETZ, "10:30:05+00", "\"10:30:05Z\""},
        {CDC_PGOID_TIMETZ, "10:30:05.250+05:30", "\"05:00:05.25Z\""},
        {CDC_PGOID_TIMETZ, "23:30:00-01", "\"00:30:00Z\""},
        {CDC_PGOID_TIMETZ, "00:15:00+01", "\"23:15:00Z\""},
    };
    CHECK_VALUES(cases);
}

static void test_arrays(void **state)
{
    static const value_case_t cases[] = {
        {CDC_PGOID_TEXT_ARRAY, "{a,b,\"c d\",NULL}",
         "[\"a\",\"b\",\"c d\",null]"},
        {CDC_PGOID_TEXT_ARRAY, "{}", "[]"},
        {CDC_PGOID_TEXT_ARRAY, "{\"\"}", "[\"\"]"},
        {CDC_PGOID_TEXT_ARRAY, "{\"NULL\",null,NuLl}", "[\"NULL\",null,null]"},
        {CDC_PGOID_TEXT_ARRAY, "{\"x\\\"y\",\"back\\\\slash\",\"{,}\"}",
         "[\"x\\\"y\",\"back\\\\slash\",\"{,}\"]"},
        {CDC_PGOID_TEXT_ARRAY, "{\"caf\xc3\xa9\\\\\",\xe6\x97\xa5}",
         "[\"caf\xc3\xa9\\\\\",\"\xe6\x97\xa5\"]"},
        {CDC_PGOID_TEXT_ARRAY, "{ a , \" b \" }", "[\"a\",\" b \"]"},
        {CDC_PGOID_VARCHAR_ARRAY, "{\"line\nbreak\"}", "[\"line\\nbreak\"]"},
        {CDC_PGOID_INT4_ARRAY, "{1,2,NULL,-3}", "[1,2,null,-3]"},
        {CDC_PGOID_INT2_ARRAY, "{{1,2},{3,4}}", "[[1,2],[3,4]]"},
        {CDC_PGOID_INT8_ARRAY, "{{{1}},{{2}}}", "[[[1]],[[2]]]"},
        {CDC_PGOID_INT4_ARRAY, "[0:1]={5,6}", "[5,6]"},
        {CDC_PGOID_INT4_ARRAY, "[1:2][1:1]={{5},{6}}", "[[5],[6]]"},
        {CDC_PGOID_BOOL_ARRAY, "{t,f,NULL}", "[true,false,null]"},
        {CDC_PGOID_FLOAT8_ARRAY, "{1.5,NaN,-Infinity,1e+300}",
         "[1.5,\"NaN\",\"-Infinity\",1e+300]"},
        {CDC_PGOID_FLOAT4_ARRAY, "{0.1}", "[0.1]"},
        {CDC_PGOID_NUMERIC_ARRAY, "{1.10,NaN}", "[\"1.10\",\"NaN\"]"},
        {CDC_PGOID_OID_ARRAY, "{26}", "[26]"},
        {CDC_PGOID_DATE_ARRAY, "{2024-01-15,infinity}", "[19737,2147483647]"},
        {CDC_PGOID_TIME_ARRAY, "{00:00:01}", "[1000000]"},
        {CDC_PGOID_TIMESTAMP_ARRAY, "{\"1970-01-01 00:00:01\"}", "[1000000]"},
        {CDC_PGOID_TIMESTAMPTZ_ARRAY,
         "{\"2024-01-15 10:30:05+00\",\"2024-01-15 10:30:05.5+00\",NULL}",
         "[\"2024-01-15T10:30:05Z\",\"2024-01-15T10:30:05.5Z\",null]"},
        {CDC_PGOID_TIMETZ_ARRAY, "{10:00:00+02}", "[\"08:00:00Z\"]"},
        {CDC_PGOID_UUID_ARRAY, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
         "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]"},
        {CDC_PGOID_JSONB_ARRAY, "{\"{\\\"a\\\": 1}\",\"[]\"}",
         "[\"{\\\"a\\\": 1}\",\"[]\"]"},
        {CDC_PGOID_BYTEA_ARRAY, "{\"\\\\x0a0b\",NULL,\"\\\\x\"}",
         "[\"Cgs=\",null,\"\"]"},
        {CDC_PGOID_INTERVAL_ARRAY, "{\"1 day\",00:00:01}",
         "[\"1 day\",\"00:00:01\"]"},
        {CDC_PGOID_INET_ARRAY, "{10.0.0.1,::1}", "[\"10.0.0.1\",\"::1\"]"},
        {CDC_PGOID_CHAR_ARRAY, "{a,\"\\\\\"}", "[\"a\",\"\\\\\"]"},
        {CDC_PGOID_BPCHAR_ARRAY, "{\"a  \"}", "[\"a  \"]"},
        {CDC_PGOID_NAME_ARRAY, "{x}", "[\"x\"]"},
        {CDC_PGOID_JSON_ARRAY, "{\"{}\"}", "[\"{}\"]"},
        {CDC_PGOID_XML_ARRAY, "{<a/>}", "[\"<a/>\"]"},
        {CDC_PGOID_MONEY_ARRAY, "{\"$1.00\"}", "[\"$1.00\"]"},
        /* array_in accepts escapes anywhere in quotes; unescaped first */
        {CDC_PGOID_DATE_ARRAY, "{\"2024-01-1\\5\"}", "[19737]"},
    };
    CHECK_VALUES(cases);
}

static void test_type_tables(void **state)
{
    /* Array oids from pg_type.dat map to their element types. */
    static const uint32_t pairs[][2] = {
        {1000, 16}, {1001, 17}, {1002, 18}, {1003, 19}, {1005, 21},
        {1007, 23}, {1009, 25}, {1014, 1042}, {1015, 1043}, {1016, 20},
        {1021, 700}, {1022, 701}, {1028, 26}, {1115, 1114}, {1182, 1082},
        {1183, 1083}, {1185, 1184}, {1187, 1186}, {1231, 1700},
        {1270, 1266}, {2951, 2950}, {3807, 3802}, {199, 114}, {143, 142},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        assert_int_equal(cdc_pgtypes_array_elem(pairs[i][0]), pairs[i][1]);
    assert_int_equal(cdc_pgtypes_array_elem(CDC_PGOID_TEXT), 0);
    assert_int_equal(cdc_pgtypes_array_elem(424242), 0);
    assert_string_equal(cdc_pgtypes_name(1184), "timestamptz");
    assert_string_equal(cdc_pgtypes_name(1007), "int4[]");
    assert_null(cdc_pgtypes_name(424242));
}

/* ---- errors ------------------------------------------------------------- */

static void test_invalid_values(void **state)
{
    static const struct {
        uint32_t oid;
        const char *in;
    } bad[] = {
        {CDC_PGOID_BOOL, "yes"},
        {CDC_PGOID_BOOL, ""},
        {CDC_PGOID_INT4, "12a"},
        {CDC_PGOID_INT4, "01"},
        {CDC_PGOID_INT4, "-"},
        {CDC_PGOID_INT4, "1.5"},
        {CDC_PGOID_INT8, ""},
        {CDC_PGOID_INT2, "32768"},
        {CDC_PGOID_INT2, "-32769"},
        {CDC_PGOID_INT4, "2147483648"},
        {CDC_PGOID_INT8, "9223372036854775808"},
        {CDC_PGOID_INT8, "-9223372036854775809"},
        {CDC_PGOID_INT8, "777777777777777777777777777777777777777777777"},
        {CDC_PGOID_OID, "4294967296"},
        {CDC_PGOID_OID, "-1"},
        {CDC_PGOID_FLOAT8, "abc"},
        {CDC_PGOID_FLOAT8, "nan"},
        {CDC_PGOID_FLOAT8, ".5"},
        {CDC_PGOID_NUMERIC, "1e5"},
        {CDC_PGOID_NUMERIC, "1."},
        {CDC_PGOID_NUMERIC, ""},
        {CDC_PGOID_TIMESTAMPTZ, "2024-02-30 00:00:00+00"},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05"},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05+0"},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05.1234567+00"},
        {CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05+00 AD"},
        {CDC_PGOID_TIMESTAMPTZ, "24-01-15 10:30:05+00"},
        {CDC_PGOID_TIMESTAMPTZ, "Infinity"},
        {CDC_PGOID_TIMESTAMP, "2024-01-15 24:00:00"},
        {CDC_PGOID_TIMESTAMP, "2024-01-15 10:60:00"},
        {CDC_PGOID_TIMESTAMP, "2024-01-15 10:30:05+00"},
        {CDC_PGOID_TIMESTAMP, "294276-12-31 23:59:59"}, /* beyond int64 us */
        {CDC_PGOID_DATE, "2023-02-29"},
        {CDC_PGOID_DATE, "2024-13-01"},
        {CDC_PGOID_DATE, "2024-00-10"},
        {CDC_PGOID_DATE, "0000-01-01"},
        {CDC_PGOID_DATE, "2024-01-15 "},
        {CDC_PGOID_TIME, "25:00:00"},
        {CDC_PGOID_TIME, "24:00:01"},
        {CDC_PGOID_TIME, "10:30"},
        {CDC_PGOID_TIMETZ, "10:30:05"},
        {CDC_PGOID_BYTEA, "abc"},
        {CDC_PGOID_BYTEA, "\\x0"},
        {CDC_PGOID_BYTEA, "\\xzz"},
        {CDC_PGOID_BYTEA, "\\x0a0g"},
        {CDC_PGOID_INT4_ARRAY, "{1,x}"},
        {CDC_PGOID_INT4_ARRAY, "{1,2"},
        {CDC_PGOID_INT4_ARRAY, "{1,,2}"},
        {CDC_PGOID_INT4_ARRAY, "1,2"},
        {CDC_PGOID_INT4_ARRAY, "{1}x"},
        {CDC_PGOID_INT4_ARRAY, "[0:1]{1}"},
        {CDC_PGOID_INT4_ARRAY, "{{{{{{{1}}}}}}}"},
        {CDC_PGOID_TEXT_ARRAY, "{\"abc}"},
        {CDC_PGOID_TEXT_ARRAY, "{a\"b}"},
        {CDC_PGOID_TEXT_ARRAY, "{\"a\\"},
        {CDC_PGOID_BYTEA_ARRAY, "{\"\\x0a\"}"},
    };
    cdc_buf_t b;
    cdc_buf_init(&b);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cdc_buf_reset(&b);
        cdc_jsonw_t w;
        cdc_jsonw_init(&w, &b);
        char errstr[256] = "";
        cdc_err_t err = cdc_pgtypes_render(&w, bad[i].oid, bad[i].in,
                                           strlen(bad[i].in), errstr,
                                           sizeof(errstr));
        if (err != CDC_ERR_ENCODE)
            fail_msg("%s '%s' accepted as %s", cdc_pgtypes_name(bad[i].oid),
                     bad[i].in, b.data);
        char expected[256];
        snprintf(expected, sizeof(expected), "invalid %s value \"%s\"",
                 cdc_pgtypes_name(bad[i].oid), bad[i].in);
        if (!strchr(bad[i].in, '\\'))
            assert_string_equal(errstr, expected);
    }
    cdc_buf_free(&b);
}

static void test_row_error_report(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_key_col("id", CDC_PGOID_TEXT, "event-123"),
        cdc_rows_col("created_date", CDC_PGOID_TIMESTAMPTZ,
                     "2024-13-45 10:30:05+00"),
    };
    cdc_change_t ch = cdc_rows_change(cols, 2, CDC_OP_CREATE);
    cdc_buf_t out;
    cdc_buf_init(&out);
    cdc_buf_puts(&out, "kept");
    char errstr[256] = "";
    assert_int_equal(cdc_flat_encode_value(&ch, &out, errstr, sizeof(errstr)),
                     CDC_ERR_ENCODE);
    assert_string_equal(errstr,
                        "table public.event_headers column created_date: "
                        "invalid timestamptz value \"2024-13-45 10:30:05+00\"");
    /* Nothing of the failed record stays in the buffer. */
    assert_string_equal(out.data, "kept");
    assert_int_equal(out.len, 4);

    /* The key reports its own columns the same way. */
    const cdc_column_t keycols[] = {
        cdc_rows_key_col("n", CDC_PGOID_INT4, "x1")};
    ch = cdc_rows_change(keycols, 1, CDC_OP_CREATE);
    ch.schema = NULL;
    assert_int_equal(cdc_flat_encode_key(&ch, &out, errstr, sizeof(errstr)),
                     CDC_ERR_ENCODE);
    assert_string_equal(errstr,
                        "table event_headers column n: invalid int4 value "
                        "\"x1\"");
    assert_string_equal(out.data, "kept");
    cdc_buf_free(&out);
}

static void test_error_value_truncated(void **state)
{
    /* 100 bytes with a control char and a multi-byte char across the cut. */
    char v[101];
    memset(v, 'a', 100);
    v[0] = '\n';
    memcpy(v + 62, "\xe2\x82\xac", 3); /* bytes 62..64 straddle 64 */
    v[100] = '\0';
    const cdc_column_t cols[] = {cdc_rows_col("n", CDC_PGOID_INT8, v)};
    cdc_change_t ch = cdc_rows_change(cols, 1, CDC_OP_CREATE);
    cdc_buf_t out;
    cdc_buf_init(&out);
    char errstr[256];
    assert_int_equal(cdc_flat_encode_value(&ch, &out, errstr, sizeof(errstr)),
                     CDC_ERR_ENCODE);
    char expected[256];
    snprintf(expected, sizeof(expected),
             "table public.event_headers column n: invalid int8 value "
             "\"\\x0a%.61s...\"",
             v + 1);
    assert_string_equal(errstr, expected);
    assert_int_equal(out.len, 0);

    /* A short errstr buffer is truncated, never overrun. */
    char small[16];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(cdc_flat_encode_value(&ch, &out, small, 8),
                     CDC_ERR_ENCODE);
    assert_string_equal(small, "table p");
    assert_int_equal(small[9], 'Z');
    cdc_buf_free(&out);
}

static void test_quote_value(void **state)
{
    char dst[128];
    cdc_pgtypes_quote_value(dst, sizeof(dst), "abc", 3);
    assert_string_equal(dst, "abc");
    cdc_pgtypes_quote_value(dst, sizeof(dst), "a\x01\x7f", 3);
    assert_string_equal(dst, "a\\x01\\x7f");
    cdc_pgtypes_quote_value(dst, 6, "abcdefgh", 8);
    assert_string_equal(dst, "abcde");
    cdc_pgtypes_quote_value(dst, 1, "abc", 3);
    assert_string_equal(dst, "");
}

/* Every type together in one row: the record parses and types are right. */
static void test_all_types_row_is_json(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_key_col("id", CDC_PGOID_INT8, "7"),
        cdc_rows_col("b", CDC_PGOID_BOOL, "t"),
        cdc_rows_col("i2", CDC_PGOID_INT2, "2"),
        cdc_rows_col("f8", CDC_PGOID_FLOAT8, "NaN"),
        cdc_rows_col("num", CDC_PGOID_NUMERIC, "1.50"),
        cdc_rows_col("d", CDC_PGOID_DATE, "2024-01-15"),
        cdc_rows_col("t", CDC_PGOID_TIME, "00:00:01"),
        cdc_rows_col("ts", CDC_PGOID_TIMESTAMP, "1970-01-01 00:00:01"),
        cdc_rows_col("tstz", CDC_PGOID_TIMESTAMPTZ,
                     "2024-01-15 10:30:05.12+00"),
        cdc_rows_col("tz", CDC_PGOID_TIMETZ, "10:30:05+00"),
        cdc_rows_col("by", CDC_PGOID_BYTEA, "\\x0a0b"),
        cdc_rows_col("u", CDC_PGOID_UUID,
                     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        cdc_rows_col("j", CDC_PGOID_JSONB, "{\"a\": 1}"),
        cdc_rows_col("arr", CDC_PGOID_TEXT_ARRAY, "{a,NULL}"),
        cdc_rows_col("iv", CDC_PGOID_INTERVAL, "00:00:01"),
    };
    cdc_change_t ch = cdc_rows_change(cols, sizeof(cols) / sizeof(cols[0]),
                             CDC_OP_READ);
    cdc_buf_t out;
    cdc_buf_init(&out);
    assert_int_equal(cdc_flat_encode_value(&ch, &out, NULL, 0), CDC_OK);
    assert_string_equal(
        out.data,
        "{\"id\":7,\"b\":true,\"i2\":2,\"f8\":\"NaN\",\"num\":\"1.50\","
        "\"d\":19737,\"t\":1000000,\"ts\":1000000,"
        "\"tstz\":\"2024-01-15T10:30:05.12Z\",\"tz\":\"10:30:05Z\","
        "\"by\":\"Cgs=\",\"u\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\","
        "\"j\":\"{\\\"a\\\": 1}\",\"arr\":[\"a\",null],\"iv\":\"00:00:01\","
        "\"__op\":\"r\",\"__table\":\"event_headers\","
        "\"__ts_ms\":1705314605123}");

    json_error_t jerr;
    json_t *j = json_loads(out.data, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 18);
    assert_true(json_is_true(json_object_get(j, "b")));
    assert_int_equal(json_integer_value(json_object_get(j, "__ts_ms")),
                     1705314605123);
    json_decref(j);
    cdc_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_headers_row),
        cmocka_unit_test(test_ops_and_appending),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_column_names_escaped),
        cmocka_unit_test(test_scalar_numbers_and_bool),
        cmocka_unit_test(test_scalar_text_like),
        cmocka_unit_test(test_scalar_bytea),
        cmocka_unit_test(test_scalar_temporal),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_type_tables),
        cmocka_unit_test(test_invalid_values),
        cmocka_unit_test(test_row_error_report),
        cmocka_unit_test(test_error_value_truncated),
        cmocka_unit_test(test_quote_value),
        cmocka_unit_test(test_all_types_row_is_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
