/*
 * test_debezium.c - the Debezium envelope format and JsonConverter schemas:
 * exact bytes for the event_headers row in every op with schemas off and on,
 * keys (also as the flat format's), NULLs, column schemas of many types, the
 * error report, and the schema cache. Every output is parsed back with
 * jansson and, when it carries a schema, checked against that schema the way
 * JsonConverter would read it.
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

#include "encode/debezium.h"
#include "encode/flat.h"
#include "encode/pgtypes.h"
#include "rows.h"

/* ---- fixtures ------------------------------------------------------------ */

static cdc_debezium_t *encoder(bool key_schemas, bool value_schemas)
{
    cdc_debezium_opts_t o = {
        .topic_prefix = "dsql-cdc",
        .database = "postgres",
        .version = "0.1.0",
        .key_schemas = key_schemas,
        .value_schemas = value_schemas,
    };
    char errstr[128] = "";
    cdc_debezium_t *d = cdc_debezium_new(&o, errstr, sizeof(errstr));
    if (!d)
        fail_msg("cdc_debezium_new: %s", errstr);
    return d;
}

/* The event_headers table of the replaced plugin's examples. */
static const cdc_column_t event_row[] = {
    {"id", CDC_PGOID_TEXT, "event-123", 9, false, true},
    {"event_name", CDC_PGOID_TEXT, "OrderCreated", 12, false, false},
    {"event_type", CDC_PGOID_TEXT, "domain", 6, false, false},
    {"created_date", CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05+00", 22,
     false, false},
    {"saved_date", CDC_PGOID_TIMESTAMPTZ, "2024-01-15 10:30:05.123+00", 26,
     false, false},
    {"header_data", CDC_PGOID_JSONB, "{\"a\": 1}", 8, false, false},
};

#define EH_ROW                                                                 \
    "{\"id\":\"event-123\",\"event_name\":\"OrderCreated\","                 \
    "\"event_type\":\"domain\",\"created_date\":\"2024-01-15T10:30:05Z\","   \
    "\"saved_date\":\"2024-01-15T10:30:05.123Z\","                           \
    "\"header_data\":\"{\\\"a\\\": 1}\"}"

#define TS_FIELDS                                                              \
    "\"ts_ms\":1705314605123,\"ts_us\":1705314605123000,"                    \
    "\"ts_ns\":1705314605123000000"

#define EH_SOURCE(snapshot)                                                    \
    "{\"version\":\"0.1.0\",\"connector\":\"dsql\",\"name\":\"dsql-cdc\","   \
    "\"ts_ms\":1705314605123,\"snapshot\":\"" snapshot "\","                 \
    "\"db\":\"postgres\",\"sequence\":null,\"ts_us\":1705314605123000,"      \
    "\"ts_ns\":1705314605123000000,\"schema\":\"public\","                   \
    "\"table\":\"event_headers\"}"

#define ENVELOPE(before, after, snapshot, op)                                  \
    "{\"before\":" before ",\"after\":" after ",\"source\":"                 \
    EH_SOURCE(snapshot) ",\"transaction\":null,\"op\":\"" op "\","           \
    TS_FIELDS "}"

/* Connect schema of the row struct of event_headers, as a field. */
#define EH_ROW_SCHEMA(field)                                                   \
    "{\"type\":\"struct\",\"fields\":["                                       \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"             \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"event_name\"},"      \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"event_type\"},"      \
    "{\"type\":\"string\",\"optional\":true,"                                \
    "\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1,"            \
    "\"field\":\"created_date\"},"                                           \
    "{\"type\":\"string\",\"optional\":true,"                                \
    "\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1,"            \
    "\"field\":\"saved_date\"},"                                             \
    "{\"type\":\"string\",\"optional\":true,"                                \
    "\"name\":\"io.debezium.data.Json\",\"version\":1,"                      \
    "\"field\":\"header_data\"}],"                                           \
    "\"optional\":true,\"name\":\"dsql-cdc.public.event_headers.Value\","   \
    "\"field\":\"" field "\"}"

/* Debezium's source schema, with the common fields, for this connector. */
#define SOURCE_SCHEMA                                                          \
    "{\"type\":\"struct\",\"fields\":["                                       \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"        \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"      \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"           \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"           \
    "{\"type\":\"string\",\"optional\":true,"                                \
    "\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":"       \
    "{\"allowed\":\"true,first,first_in_data_collection,"                    \
    "last_in_data_collection,last,false,incremental\"},"                     \
    "\"default\":\"false\",\"field\":\"snapshot\"},"                         \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"             \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"        \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"            \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"            \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"         \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"}],"         \
    "\"optional\":false,\"name\":\"io.debezium.connector.dsql.Source\","     \
    "\"version\":1,\"field\":\"source\"}"

#define ENVELOPE_TAIL_SCHEMA                                                   \
    "{\"type\":\"struct\",\"fields\":["                                       \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"             \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"     \
    "{\"type\":\"int64\",\"optional\":false,"                                \
    "\"field\":\"data_collection_order\"}],\"optional\":true,"              \
    "\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"},"     \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"             \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"            \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"            \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}"

#define ENVELOPE_SCHEMA(row_schema, name)                                      \
    "{\"type\":\"struct\",\"fields\":[" row_schema("before") ","              \
    row_schema("after") "," SOURCE_SCHEMA "," ENVELOPE_TAIL_SCHEMA "],"      \
    "\"optional\":false,\"name\":\"" name "\",\"version\":2}"

#define EH_VALUE_SCHEMA                                                        \
    ENVELOPE_SCHEMA(EH_ROW_SCHEMA, "dsql-cdc.public.event_headers.Envelope")

#define EH_KEY_SCHEMA                                                          \
    "{\"type\":\"struct\",\"fields\":["                                       \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"}],"            \
    "\"optional\":false,\"name\":\"dsql-cdc.public.event_headers.Key\"}"

/* ---- checking outputs against their schema ------------------------------ */

static bool conforms(json_t *schema, json_t *v, char *why, size_t n);

static bool check_field_list(json_t *fields, json_t *obj, char *why,
                             size_t n)
{
    if (!json_is_array(fields) || !json_is_object(obj)) {
        snprintf(why, n, "struct without fields or payload not an object");
        return false;
    }
    if (json_array_size(fields) != json_object_size(obj)) {
        snprintf(why, n, "struct has %zu fields, payload %zu members",
                 json_array_size(fields), json_object_size(obj));
        return false;
    }
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        const char *name = json_string_value(json_object_get(f, "field"));
        json_t *member = name ? json_object_get(obj, name) : NULL;
        if (!member) {
            snprintf(why, n, "payload lacks field %s", name ? name : "?");
            return false;
        }
        if (!conforms(f, member, why, n))
            return false;
    }
    return true;
}

/* Whether JsonConverter.toConnectData would accept v for this schema. */
static bool conforms(json_t *schema, json_t *v, char *why, size_t n)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    const char *field = json_string_value(json_object_get(schema, "field"));
    if (!type) {
        snprintf(why, n, "schema without type");
        return false;
    }
    if (json_is_null(v)) {
        if (json_is_true(json_object_get(schema, "optional")) ||
            json_object_get(schema, "default"))
            return true;
        snprintf(why, n, "null for required field %s", field ? field : "");
        return false;
    }
    bool ok;
    if (strcmp(type, "struct") == 0)
        return check_field_list(json_object_get(schema, "fields"), v, why, n);
    if (strcmp(type, "array") == 0) {
        if (!json_is_array(v)) {
            snprintf(why, n, "%s: not an array", field ? field : "");
            return false;
        }
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!conforms(json_object_get(schema, "items"), e, why, n))
                return false;
        }
        return true;
    }
    if (strcmp(type, "int16") == 0)
        ok = json_is_integer(v) && json_integer_value(v) >= INT16_MIN &&
             json_integer_value(v) <= INT16_MAX;
    else if (strcmp(type, "int32") == 0)
        ok = json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
             json_integer_value(v) <= INT32_MAX;
    else if (strcmp(type, "int64") == 0)
        ok = json_is_integer(v);
    else if (strcmp(type, "boolean") == 0)
        ok = json_is_boolean(v);
    else if (strcmp(type, "float") == 0 || strcmp(type, "double") == 0)
        ok = json_is_number(v) ||
             (json_is_string(v) &&
              (strcmp(json_string_value(v), "NaN") == 0 ||
               strcmp(json_string_value(v), "Infinity") == 0 ||
               strcmp(json_string_value(v), "-Infinity") == 0));
    else if (strcmp(type, "string") == 0 || strcmp(type, "bytes") == 0)
        ok = json_is_string(v);
    else
        ok = false;
    if (!ok)
        snprintf(why, n, "%s: value does not fit type %s", field ? field : "",
                 type);
    return ok;
}

/*
 * out must be JSON; with a schema it must be exactly {"schema","payload"}
 * with a payload that fits the schema.
 */
static void check_json(const char *out, bool with_schema)
{
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j)
        fail_msg("not JSON (%s): %s", jerr.text, out);
    if (with_schema) {
        assert_int_equal(json_object_size(j), 2);
        json_t *schema = json_object_get(j, "schema");
        json_t *payload = json_object_get(j, "payload");
        assert_non_null(schema);
        assert_non_null(payload);
        char why[256] = "";
        if (!conforms(schema, payload, why, sizeof(why)))
            fail_msg("payload does not fit its schema: %s", why);
    }
    json_decref(j);
}

static char *encode_value(cdc_debezium_t *d, const cdc_change_t *ch)
{
    cdc_buf_t out;
    cdc_buf_init(&out);
    char errstr[256] = "";
    cdc_err_t err = cdc_debezium_encode_value(d, ch, &out, errstr,
                                              sizeof(errstr));
    if (err != CDC_OK)
        fail_msg("encode_value: %s", errstr);
    assert_int_equal(strlen(out.data), out.len);
    return out.data;
}

static char *encode_key(cdc_debezium_t *d, const cdc_change_t *ch)
{
    cdc_buf_t out;
    cdc_buf_init(&out);
    char errstr[256] = "";
    cdc_err_t err = cdc_debezium_encode_key(d, ch, &out, errstr,
                                            sizeof(errstr));
    if (err != CDC_OK)
        fail_msg("encode_key: %s", errstr);
    return out.data;
}

/* ---- event_headers, every op -------------------------------------------- */

static const struct {
    cdc_op_t op;
    const char *plain;
} eh_ops[] = {
    {CDC_OP_CREATE, ENVELOPE("null", EH_ROW, "false", "c")},
    {CDC_OP_UPDATE, ENVELOPE("null", EH_ROW, "false", "u")},
    {CDC_OP_DELETE, ENVELOPE(EH_ROW, "null", "false", "d")},
    {CDC_OP_READ, ENVELOPE("null", EH_ROW, "true", "r")},
};

static void test_event_headers_plain(void **state)
{
    cdc_debezium_t *d = encoder(false, false);
    for (size_t i = 0; i < 4; i++) {
        cdc_change_t ch = cdc_rows_change(event_row, 6, eh_ops[i].op);
        char *out = encode_value(d, &ch);
        assert_string_equal(out, eh_ops[i].plain);
        check_json(out, false);
        free(out);

        out = encode_key(d, &ch);
        assert_string_equal(out, "{\"id\":\"event-123\"}");
        free(out);
    }
    /* Without schemas nothing is cached. */
    assert_int_equal(cdc_debezium_cached(d), 0);
    cdc_debezium_destroy(d);
}

static void test_event_headers_schemas(void **state)
{
    cdc_debezium_t *d = encoder(true, true);
    for (size_t i = 0; i < 4; i++) {
        cdc_change_t ch = cdc_rows_change(event_row, 6, eh_ops[i].op);
        char *out = encode_value(d, &ch);
        char *expected = NULL;
        assert_true(asprintf(&expected, "{\"schema\":%s,\"payload\":%s}",
                             EH_VALUE_SCHEMA, eh_ops[i].plain) > 0);
        assert_string_equal(out, expected);
        check_json(out, true);
        free(expected);
        free(out);

        out = encode_key(d, &ch);
        assert_string_equal(out, "{\"schema\":" EH_KEY_SCHEMA
                                 ",\"payload\":{\"id\":\"event-123\"}}");
        check_json(out, true);
        free(out);
    }
    assert_int_equal(cdc_debezium_cached(d), 1);
    cdc_debezium_destroy(d);
}

/* Key and value schemas are enabled separately. */
static void test_schemas_per_side(void **state)
{
    cdc_change_t ch = cdc_rows_change(event_row, 6, CDC_OP_CREATE);

    cdc_debezium_t *d = encoder(true, false);
    char *out = encode_value(d, &ch);
    assert_string_equal(out, eh_ops[0].plain);
    free(out);
    out = encode_key(d, &ch);
    assert_string_equal(out, "{\"schema\":" EH_KEY_SCHEMA
                             ",\"payload\":{\"id\":\"event-123\"}}");
    free(out);
    cdc_debezium_destroy(d);

    d = encoder(false, true);
    out = encode_value(d, &ch);
    assert_true(strncmp(out, "{\"schema\":{\"type\":\"struct\"", 26) == 0);
    check_json(out, true);
    free(out);
    out = encode_key(d, &ch);
    assert_string_equal(out, "{\"id\":\"event-123\"}");
    free(out);
    cdc_debezium_destroy(d);
}

/* ---- keys ---------------------------------------------------------------- */

static void test_keys(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_key_col("tenant", CDC_PGOID_UUID,
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        cdc_rows_col("payload", CDC_PGOID_TEXT, "x"),
        cdc_rows_key_col("seq", CDC_PGOID_INT8, "9007199254740993"),
        cdc_rows_key_col("day", CDC_PGOID_DATE, "2024-01-15"),
    };
    cdc_change_t ch = cdc_rows_change(cols, 4, CDC_OP_UPDATE);
    ch.table = "orders";
    const char *payload =
        "{\"tenant\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\","
        "\"seq\":9007199254740993,\"day\":19737}";

    /* Without a schema the key is flat's, byte for byte. */
    cdc_debezium_t *d = encoder(false, false);
    char *out = encode_key(d, &ch);
    assert_string_equal(out, payload);
    cdc_buf_t flat;
    cdc_buf_init(&flat);
    assert_int_equal(cdc_flat_encode_key(&ch, &flat, NULL, 0), CDC_OK);
    assert_string_equal(out, flat.data);
    cdc_buf_free(&flat);
    free(out);
    cdc_debezium_destroy(d);

    d = encoder(true, false);
    out = encode_key(d, &ch);
    assert_string_equal(
        out,
        "{\"schema\":{\"type\":\"struct\",\"fields\":["
        "{\"type\":\"string\",\"optional\":false,"
        "\"name\":\"io.debezium.data.Uuid\",\"version\":1,\"field\":\"tenant\"},"
        "{\"type\":\"int64\",\"optional\":false,\"field\":\"seq\"},"
        "{\"type\":\"int32\",\"optional\":false,"
        "\"name\":\"io.debezium.time.Date\",\"version\":1,\"field\":\"day\"}],"
        "\"optional\":false,\"name\":\"dsql-cdc.public.orders.Key\"},"
        "\"payload\":{\"tenant\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\","
        "\"seq\":9007199254740993,\"day\":19737}}");
    check_json(out, true);
    free(out);

    /* Appends after what the buffer holds. */
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_buf_puts(&b, "X");
    assert_int_equal(cdc_debezium_encode_key(d, &ch, &b, NULL, 0), CDC_OK);
    assert_true(strncmp(b.data, "X{\"schema\":", 11) == 0);
    cdc_buf_free(&b);

    /* No key column: nothing appended, schemas or not (a null key). */
    const cdc_column_t nokey[] = {cdc_rows_col("v", CDC_PGOID_TEXT, "x")};
    ch = cdc_rows_change(nokey, 1, CDC_OP_CREATE);
    cdc_buf_init(&b);
    assert_int_equal(cdc_debezium_encode_key(d, &ch, &b, NULL, 0), CDC_OK);
    assert_int_equal(b.len, 0);
    cdc_buf_free(&b);
    cdc_debezium_destroy(d);
}

/* ---- NULLs --------------------------------------------------------------- */

static void test_nulls(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_key_col("id", CDC_PGOID_INT4, "1"),
        cdc_rows_col("t", CDC_PGOID_TEXT, NULL),
        cdc_rows_col("ts", CDC_PGOID_TIMESTAMPTZ, NULL),
        cdc_rows_col("a", CDC_PGOID_INT4_ARRAY, NULL),
        cdc_rows_col("empty", CDC_PGOID_TEXT, ""),
    };
    cdc_change_t ch = cdc_rows_change(cols, 5, CDC_OP_UPDATE);
    ch.table = "n";
    cdc_debezium_t *d = encoder(true, true);
    char *out = encode_value(d, &ch);
    check_json(out, true);
    const char *payload = strstr(out, ",\"payload\":");
    const char *want = ",\"payload\":{\"before\":null,\"after\":{\"id\":1,"
                       "\"t\":null,\"ts\":null,\"a\":null,\"empty\":\"\"},";
    assert_non_null(payload);
    assert_true(strncmp(payload, want, strlen(want)) == 0);
    free(out);

    /*
     * A NULL in a key column (message.key.columns naming a nullable
     * column): the schema says optional there, so JsonConverter accepts it,
     * and that variant is cached apart from the non-null one.
     */
    cdc_column_t nk[] = {cdc_rows_key_col("id", CDC_PGOID_INT4, NULL)};
    ch = cdc_rows_change(nk, 1, CDC_OP_DELETE);
    ch.table = "n";
    out = encode_key(d, &ch);
    assert_string_equal(
        out, "{\"schema\":{\"type\":\"struct\",\"fields\":["
             "{\"type\":\"int32\",\"optional\":true,\"field\":\"id\"}],"
             "\"optional\":false,\"name\":\"dsql-cdc.public.n.Key\"},"
             "\"payload\":{\"id\":null}}");
    check_json(out, true);
    free(out);
    out = encode_value(d, &ch);
    check_json(out, true);
    assert_non_null(strstr(out, "\"before\":{\"id\":null},\"after\":null,"));
    free(out);

    nk[0] = cdc_rows_key_col("id", CDC_PGOID_INT4, "5");
    out = encode_key(d, &ch);
    assert_non_null(strstr(out, "{\"type\":\"int32\",\"optional\":false,"));
    free(out);
    assert_int_equal(cdc_debezium_cached(d), 3);
    cdc_debezium_destroy(d);
}

/* ---- column schemas of many types ---------------------------------------- */

#define TYPES_ROW_SCHEMA(field)                                                \
    "{\"type\":\"struct\",\"fields\":["                                       \
    "{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"              \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"big\"},"              \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"amount\"},"          \
    "{\"type\":\"boolean\",\"optional\":true,\"field\":\"flag\"},"           \
    "{\"type\":\"int32\",\"optional\":true,"                                 \
    "\"name\":\"io.debezium.time.Date\",\"version\":1,\"field\":\"day\"},"   \
    "{\"type\":\"int64\",\"optional\":true,"                                 \
    "\"name\":\"io.debezium.time.MicroTimestamp\",\"version\":1,"            \
    "\"field\":\"at\"},"                                                     \
    "{\"type\":\"bytes\",\"optional\":true,\"field\":\"blob\"},"             \
    "{\"type\":\"string\",\"optional\":true,"                                \
    "\"name\":\"io.debezium.data.Uuid\",\"version\":1,\"field\":\"uid\"},"   \
    "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true},"  \
    "\"optional\":true,\"field\":\"tags\"},"                                 \
    "{\"type\":\"int16\",\"optional\":true,\"field\":\"small\"},"            \
    "{\"type\":\"float\",\"optional\":true,\"field\":\"r\"},"                \
    "{\"type\":\"double\",\"optional\":true,\"field\":\"d8\"},"              \
    "{\"type\":\"int64\",\"optional\":true,"                                 \
    "\"name\":\"io.debezium.time.MicroTime\",\"version\":1,\"field\":\"t\"}," \
    "{\"type\":\"string\",\"optional\":true,"                                \
    "\"name\":\"io.debezium.time.ZonedTime\",\"version\":1,\"field\":\"tz\"}," \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"iv\"},"              \
    "{\"type\":\"string\",\"optional\":true,"                                \
    "\"name\":\"io.debezium.data.Xml\",\"version\":1,\"field\":\"x\"},"      \
    "{\"type\":\"string\",\"optional\":true,"                                \
    "\"name\":\"io.debezium.data.Json\",\"version\":1,\"field\":\"js\"},"    \
    "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true,"   \
    "\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1},"           \
    "\"optional\":true,\"field\":\"stamps\"},"                               \
    "{\"type\":\"array\",\"items\":{\"type\":\"int32\",\"optional\":true},"   \
    "\"optional\":true,\"field\":\"ints\"},"                                 \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"o\"}],"               \
    "\"optional\":true,\"name\":\"dsql-cdc.public.types.Value\","           \
    "\"field\":\"" field "\"}"

#define TYPES_ROW                                                              \
    "{\"id\":7,\"big\":9007199254740993,\"amount\":\"123.4500\","            \
    "\"flag\":true,\"day\":19737,\"at\":1705314605500000,"                   \
    "\"blob\":\"Cgs=\",\"uid\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\","    \
    "\"tags\":[\"a\",null,\"c d\"],\"small\":2,\"r\":1.5,\"d8\":\"NaN\","    \
    "\"t\":1000000,\"tz\":\"10:30:05Z\",\"iv\":\"1 day\",\"x\":\"<a/>\","    \
    "\"js\":\"{}\",\"stamps\":[\"2024-01-15T10:30:05Z\"],"                   \
    "\"ints\":[1,null],\"o\":26}"

static void test_types(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_key_col("id", CDC_PGOID_INT4, "7"),
        cdc_rows_col("big", CDC_PGOID_INT8, "9007199254740993"),
        cdc_rows_col("amount", CDC_PGOID_NUMERIC, "123.4500"),
        cdc_rows_col("flag", CDC_PGOID_BOOL, "t"),
        cdc_rows_col("day", CDC_PGOID_DATE, "2024-01-15"),
        cdc_rows_col("at", CDC_PGOID_TIMESTAMP, "2024-01-15 10:30:05.5"),
        cdc_rows_col("blob", CDC_PGOID_BYTEA, "\\x0a0b"),
        cdc_rows_col("uid", CDC_PGOID_UUID,
                     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        cdc_rows_col("tags", CDC_PGOID_TEXT_ARRAY, "{a,NULL,\"c d\"}"),
        cdc_rows_col("small", CDC_PGOID_INT2, "2"),
        cdc_rows_col("r", CDC_PGOID_FLOAT4, "1.5"),
        cdc_rows_col("d8", CDC_PGOID_FLOAT8, "NaN"),
        cdc_rows_col("t", CDC_PGOID_TIME, "00:00:01"),
        cdc_rows_col("tz", CDC_PGOID_TIMETZ, "10:30:05+00"),
        cdc_rows_col("iv", CDC_PGOID_INTERVAL, "1 day"),
        cdc_rows_col("x", CDC_PGOID_XML, "<a/>"),
        cdc_rows_col("js", CDC_PGOID_JSON, "{}"),
        cdc_rows_col("stamps", CDC_PGOID_TIMESTAMPTZ_ARRAY,
            "{\"2024-01-15 10:30:05+00\"}"),
        cdc_rows_col("ints", CDC_PGOID_INT4_ARRAY, "{1,NULL}"),
        cdc_rows_col("o", CDC_PGOID_OID, "26"),
    };
    cdc_change_t ch = cdc_rows_change(cols, sizeof(cols) / sizeof(cols[0]),
                             CDC_OP_READ);
    ch.table = "types";
    ch.ts_ms = 0;
    cdc_debezium_t *d = encoder(false, true);
    char *out = encode_value(d, &ch);
    assert_string_equal(
        out,
        "{\"schema\":" ENVELOPE_SCHEMA(TYPES_ROW_SCHEMA,
                                       "dsql-cdc.public.types.Envelope")
        ",\"payload\":{\"before\":null,\"after\":" TYPES_ROW ","
        "\"source\":{\"version\":\"0.1.0\",\"connector\":\"dsql\","
        "\"name\":\"dsql-cdc\",\"ts_ms\":0,\"snapshot\":\"true\","
        "\"db\":\"postgres\",\"sequence\":null,\"ts_us\":0,\"ts_ns\":0,"
        "\"schema\":\"public\",\"table\":\"types\"},\"transaction\":null,"
        "\"op\":\"r\",\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0}}");
    check_json(out, true);
    free(out);
    cdc_debezium_destroy(d);
}

static void test_connect_schema_table(void **state)
{
    static const struct {
        uint32_t oid;
        const char *type, *name;
    } cases[] = {
        {CDC_PGOID_BOOL, "boolean", NULL},
        {CDC_PGOID_INT2, "int16", NULL},
        {CDC_PGOID_INT4, "int32", NULL},
        {CDC_PGOID_INT8, "int64", NULL},
        {CDC_PGOID_OID, "int64", NULL},
        {CDC_PGOID_FLOAT4, "float", NULL},
        {CDC_PGOID_FLOAT8, "double", NULL},
        {CDC_PGOID_NUMERIC, "string", NULL},
        {CDC_PGOID_MONEY, "string", NULL},
        {CDC_PGOID_TEXT, "string", NULL},
        {CDC_PGOID_VARCHAR, "string", NULL},
        {CDC_PGOID_BPCHAR, "string", NULL},
        {CDC_PGOID_INET, "string", NULL},
        {CDC_PGOID_INTERVAL, "string", NULL},
        {CDC_PGOID_UUID, "string", "io.debezium.data.Uuid"},
        {CDC_PGOID_JSON, "string", "io.debezium.data.Json"},
        {CDC_PGOID_JSONB, "string", "io.debezium.data.Json"},
        {CDC_PGOID_XML, "string", "io.debezium.data.Xml"},
        {CDC_PGOID_DATE, "int32", "io.debezium.time.Date"},
        {CDC_PGOID_TIME, "int64", "io.debezium.time.MicroTime"},
        {CDC_PGOID_TIMESTAMP, "int64", "io.debezium.time.MicroTimestamp"},
        {CDC_PGOID_TIMESTAMPTZ, "string", "io.debezium.time.ZonedTimestamp"},
        {CDC_PGOID_TIMETZ, "string", "io.debezium.time.ZonedTime"},
        {CDC_PGOID_BYTEA, "bytes", NULL},
        {CDC_PGOID_TEXT_ARRAY, "array", NULL},
        {CDC_PGOID_JSONB_ARRAY, "array", NULL},
        {424242, "string", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cdc_pgtypes_connect_t s = cdc_pgtypes_connect_schema(cases[i].oid);
        assert_string_equal(s.type, cases[i].type);
        if (cases[i].name) {
            assert_string_equal(s.name, cases[i].name);
            assert_int_equal(s.version, 1);
        } else {
            assert_null(s.name);
            assert_int_equal(s.version, 0);
        }
    }
}

/* ---- names, errors, options ---------------------------------------------- */

static void test_names_escaped(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_key_col("we\"ird", CDC_PGOID_BOOL, "t")};
    cdc_change_t ch = cdc_rows_change(cols, 1, CDC_OP_CREATE);
    ch.schema = "s";
    ch.table = "t\"1";
    cdc_debezium_t *d = encoder(true, true);
    char *out = encode_key(d, &ch);
    assert_string_equal(
        out, "{\"schema\":{\"type\":\"struct\",\"fields\":["
             "{\"type\":\"boolean\",\"optional\":false,"
             "\"field\":\"we\\\"ird\"}],\"optional\":false,"
             "\"name\":\"dsql-cdc.s.t\\\"1.Key\"},"
             "\"payload\":{\"we\\\"ird\":true}}");
    check_json(out, true);
    free(out);
    out = encode_value(d, &ch);
    check_json(out, true);
    assert_non_null(strstr(out, "\"name\":\"dsql-cdc.s.t\\\"1.Envelope\""));
    assert_non_null(strstr(out, "\"schema\":\"s\",\"table\":\"t\\\"1\"}"));
    free(out);
    cdc_debezium_destroy(d);
}

static void test_encode_errors(void **state)
{
    const cdc_column_t cols[] = {
        cdc_rows_key_col("id", CDC_PGOID_TEXT, "event-123"),
        cdc_rows_col("created_date", CDC_PGOID_TIMESTAMPTZ,
                     "2024-13-45 10:30:05+00"),
    };
    const char *want = "table public.event_headers column created_date: "
                       "invalid timestamptz value \"2024-13-45 10:30:05+00\"";
    for (int schemas = 0; schemas < 2; schemas++) {
        cdc_debezium_t *d = encoder(schemas, schemas);
        for (size_t i = 0; i < 4; i++) {
            cdc_change_t ch = cdc_rows_change(cols, 2, eh_ops[i].op);
            cdc_buf_t out;
            cdc_buf_init(&out);
            cdc_buf_puts(&out, "kept");
            char errstr[256] = "";
            assert_int_equal(cdc_debezium_encode_value(d, &ch, &out, errstr,
                                                       sizeof(errstr)),
                             CDC_ERR_ENCODE);
            assert_string_equal(errstr, want);
            /* Nothing of the failed record stays in the buffer. */
            assert_string_equal(out.data, "kept");
            assert_int_equal(out.len, 4);
            cdc_buf_free(&out);
        }

        /* Keys report their columns the same way, schema or not. */
        const cdc_column_t keycols[] = {
            cdc_rows_key_col("n", CDC_PGOID_INT4, "x1")};
        cdc_change_t ch = cdc_rows_change(keycols, 1, CDC_OP_CREATE);
        ch.schema = NULL;
        cdc_buf_t out;
        cdc_buf_init(&out);
        cdc_buf_puts(&out, "kept");
        char errstr[256] = "";
        assert_int_equal(cdc_debezium_encode_key(d, &ch, &out, errstr,
                                                 sizeof(errstr)),
                         CDC_ERR_ENCODE);
        assert_string_equal(errstr, "table event_headers column n: "
                                    "invalid int4 value \"x1\"");
        assert_string_equal(out.data, "kept");
        cdc_buf_free(&out);
        cdc_debezium_destroy(d);
    }

    /* An op the envelope has no code for. */
    cdc_debezium_t *d = encoder(false, false);
    cdc_change_t ch = cdc_rows_change(event_row, 6, (cdc_op_t)'x');
    cdc_buf_t out;
    cdc_buf_init(&out);
    char errstr[128] = "";
    assert_int_equal(cdc_debezium_encode_value(d, &ch, &out, errstr,
                                               sizeof(errstr)),
                     CDC_ERR_INVALID_ARG);
    assert_string_equal(errstr, "table event_headers: unknown op 'x'");
    assert_int_equal(out.len, 0);
    cdc_buf_free(&out);
    cdc_debezium_destroy(d);
}

static void test_options(void **state)
{
    char errstr[128] = "";
    cdc_debezium_opts_t o = {.topic_prefix = NULL};
    assert_null(cdc_debezium_new(&o, errstr, sizeof(errstr)));
    assert_string_equal(errstr,
                        "debezium encoder: topic.prefix must not be empty");
    o.topic_prefix = "";
    assert_null(cdc_debezium_new(&o, NULL, 0));
    cdc_debezium_destroy(NULL);

    /* Defaults: this build's version, an empty database name. The options'
     * strings are copied. */
    char prefix[] = "pre";
    o.topic_prefix = prefix;
    cdc_debezium_t *d = cdc_debezium_new(&o, errstr, sizeof(errstr));
    assert_non_null(d);
    prefix[0] = 'X';
    const cdc_column_t cols[] = {cdc_rows_key_col("id", CDC_PGOID_INT8, "1")};
    cdc_change_t ch = cdc_rows_change(cols, 1, CDC_OP_CREATE);
    char *out = encode_value(d, &ch);
    assert_non_null(strstr(out, "\"source\":{\"version\":\"" DSQLCDC_VERSION
                                "\",\"connector\":\"dsql\",\"name\":\"pre\","));
    assert_non_null(strstr(out, "\"db\":\"\","));
    free(out);

    /* Beyond what fits int64 nanoseconds, ts_ns is null, not wrapped. */
    ch.ts_ms = INT64_C(9300000000000);
    out = encode_value(d, &ch);
    assert_non_null(strstr(out, "\"op\":\"c\",\"ts_ms\":9300000000000,"
                                "\"ts_us\":9300000000000000,\"ts_ns\":null}"));
    check_json(out, false);
    free(out);
    cdc_debezium_destroy(d);
}

/* ---- the schema cache ---------------------------------------------------- */

static void test_cache(void **state)
{
    cdc_debezium_t *d = encoder(true, true);
    cdc_change_t ch = cdc_rows_change(event_row, 6, CDC_OP_CREATE);
    char *first = encode_value(d, &ch);
    char *second = encode_value(d, &ch);
    assert_string_equal(first, second);
    assert_int_equal(cdc_debezium_cached(d), 1);

    /* Same columns from another source buffer: still one entry. */
    cdc_column_t copy[6];
    memcpy(copy, event_row, sizeof(copy));
    char name[] = "event_name";
    copy[1].name = name;
    cdc_change_t ch2 = cdc_rows_change(copy, 6, CDC_OP_CREATE);
    char *third = encode_value(d, &ch2);
    assert_string_equal(first, third);
    assert_int_equal(cdc_debezium_cached(d), 1);
    free(third);

    /* Another table with the same columns gets its own schema names. */
    cdc_change_t other = ch;
    other.table = "event_headers_archive";
    char *o1 = encode_value(d, &other);
    assert_int_equal(cdc_debezium_cached(d), 2);
    assert_non_null(
        strstr(o1, "\"name\":\"dsql-cdc.public.event_headers_archive.Value\""));
    assert_null(strstr(o1, "event_headers.Value"));
    check_json(o1, true);
    char *again = encode_value(d, &ch);
    assert_string_equal(again, first);
    free(again);
    free(o1);

    /* So does another schema holding a table of the same name. */
    other = ch;
    other.schema = "audit";
    char *o2 = encode_value(d, &other);
    assert_non_null(strstr(o2, "\"name\":\"dsql-cdc.audit.event_headers."
                               "Envelope\""));
    assert_int_equal(cdc_debezium_cached(d), 3);
    free(o2);

    /* A changed column type (schema evolution) is a new column set. */
    copy[1].name = "event_name";
    copy[2].type_oid = CDC_PGOID_INT4;
    copy[2].value = "5";
    copy[2].len = 1;
    char *o3 = encode_value(d, &ch2);
    assert_non_null(strstr(o3, "{\"type\":\"int32\",\"optional\":true,"
                               "\"field\":\"event_type\"}"));
    assert_int_equal(cdc_debezium_cached(d), 4);
    check_json(o3, true);
    free(o3);
    /* ...and the old one is still there, unchanged. */
    char *o4 = encode_value(d, &ch);
    assert_string_equal(o4, first);
    assert_int_equal(cdc_debezium_cached(d), 4);
    free(o4);

    /* The key schema shares the entry. */
    char *k = encode_key(d, &ch);
    assert_int_equal(cdc_debezium_cached(d), 4);
    free(k);
    free(first);
    free(second);
    cdc_debezium_destroy(d);
}

/* Many tables: the cache stays bounded and every output stays right. */
static void test_cache_bounded(void **state)
{
    cdc_debezium_t *d = encoder(true, true);
    const cdc_column_t cols[] = {cdc_rows_key_col("id", CDC_PGOID_INT4, "1")};
    cdc_buf_t out;
    cdc_buf_init(&out);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 1500; i++) {
            char table[32], want[64];
            snprintf(table, sizeof(table), "t%d", i);
            snprintf(want, sizeof(want), "\"name\":\"dsql-cdc.public.t%d.Key\"",
                     i);
            cdc_change_t ch = cdc_rows_change(cols, 1, CDC_OP_CREATE);
            ch.table = table;
            cdc_buf_reset(&out);
            assert_int_equal(cdc_debezium_encode_key(d, &ch, &out, NULL, 0),
                             CDC_OK);
            if (!strstr(out.data, want))
                fail_msg("table %s got %s", table, out.data);
            assert_true(cdc_debezium_cached(d) <= 1024);
        }
    }
    cdc_buf_free(&out);
    cdc_debezium_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_headers_plain),
        cmocka_unit_test(test_event_headers_schemas),
        cmocka_unit_test(test_schemas_per_side),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_connect_schema_table),
        cmocka_unit_test(test_names_escaped),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
