/*
 * test_cdcrec.c - DSQL CDC records: parsing every fixture line exactly,
 * rejecting every truncation and mutation with a useful message, value
 * conversion to PostgreSQL text (checked against the encoder's own parsers),
 * CRC32C vectors, and reassembly of split records (order, duplicates,
 * corruption, limits, persistence).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "encode/jsonw.h"
#include "encode/pgtypes.h"
#include "source/cdcrec.h"
#include "source/reassembly.h"

#define NLINES 31

static char *lines[NLINES + 1]; /* 1-based, as expected.md numbers them */

static void load_lines(void)
{
    if (lines[1])
        return;
    const char *dir = getenv("CDC_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/dsql-cdc/records.jsonl",
             dir ? dir : "tests/fixtures");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s (run through ctest)\n", path);
        exit(1);
    }
    char buf[8192];
    int n = 0;
    while (fgets(buf, sizeof buf, f) && n < NLINES) {
        buf[strcspn(buf, "\n")] = '\0';
        lines[++n] = strdup(buf);
    }
    fclose(f);
    assert_int_equal(n, NLINES);
}

static int setup(void **state)
{
    (void)state;
    load_lines();
    return 0;
}

static void parse_ok(int line, cdc_cdcrec_t *r)
{
    char err[512] = "";
    cdc_err_t e = cdc_cdcrec_parse(lines[line], strlen(lines[line]), r, err,
                                   sizeof err);
    if (e != CDC_OK)
        fail_msg("line %d: %s", line, err);
}

/* The JSON value v, dumped compact with sorted keys (for comparisons). */
static char *canon(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static void assert_canon_eq(const json_t *v, const char *want_json)
{
    json_error_t je;
    json_t *want = json_loads(want_json, JSON_DECODE_ANY, &je);
    assert_non_null(want);
    char *a = canon(v), *b = canon(want);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(want);
}

/* ---- parsing ------------------------------------------------------------ */

static void test_parse_every_line(void **state)
{
    (void)state;
    for (int i = 1; i <= NLINES; i++) {
        cdc_cdcrec_t r;
        parse_ok(i, &r);
        bool frag = i == 13 || i == 14 || i == 17 || i == 18;
        if (frag) {
            assert_int_equal(r.type, CDC_CDCREC_FRAGMENT);
            assert_int_equal(r.op, CDC_CDCREC_OP_NONE);
            assert_null(r.op_str);
            assert_string_equal(r.frag.chunk_id, "k5m2ttd7q3xw6bz4hn8ye1rc0a");
        } else {
            assert_int_equal(r.type, i == 16 ? CDC_CDCREC_CHUNKED
                                             : CDC_CDCREC_FULL);
            assert_string_equal(r.source.schema, "public");
            assert_string_equal(r.source.db, "postgres");
            assert_string_equal(r.source.version, "1.0");
            assert_string_equal(r.source.cluster,
                                "q4abtu3hnlr5c2mvxk7ydwegzi");
            /* ts_ms is ts_ns truncated to ms: both read exactly */
            assert_true(r.source.ts_ms == r.source.ts_ns / 1000000);
            assert_true(r.ts_ms == r.ts_ns / 1000000);
            if (i == 19 || i == 26) {
                assert_int_equal(r.op, CDC_CDCREC_OP_OTHER);
                assert_string_equal(r.op_str, "x");
            } else {
                assert_int_equal(r.op, r.op_str[0]);
            }
            if (r.op == CDC_CDCREC_OP_DELETE) {
                assert_null(r.after.obj);
                if (i == 29)
                    assert_null(r.before.obj);
                else
                    assert_non_null(r.before.obj);
            } else if (i != 16) {
                assert_null(r.before.obj);
                assert_non_null(r.after.obj);
            }
        }
        cdc_cdcrec_clear(&r);
        assert_null(r.root);
    }
}

static void test_exact_fields(void **state)
{
    (void)state;
    cdc_cdcrec_t r;
    parse_ok(1, &r);
    assert_int_equal(r.type, CDC_CDCREC_FULL);
    assert_int_equal(r.op, CDC_CDCREC_OP_CREATE);
    assert_string_equal(r.op_str, "c");
    assert_string_equal(r.source.table, "event_headers");
    assert_string_equal(r.source.tx_id, "aaqsd4fgh5jk2lmn3opq7rstuv");
    /* Through a double this would be ...118204416. */
    assert_true(r.source.ts_ns == INT64_C(1783674000118204311));
    assert_true(r.source.ts_ms == INT64_C(1783674000118));
    assert_true(r.ts_ns == INT64_C(1783674000263034602));
    assert_true(r.ts_ms == INT64_C(1783674000263));
    assert_false(r.chunk_after.present);
    assert_null(r.before.obj);
    assert_int_equal(r.after.ncols, 6);
    static const char *names[] = {"id", "event_name", "event_type",
                                  "created_date", "saved_date",
                                  "header_data"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(r.after.cols[i].name, names[i]);
    assert_string_equal(json_string_value(r.after.cols[0].value), "ev-002");
    assert_true(json_integer_value(r.after.cols[3].value) ==
                INT64_C(1783673998500000));
    assert_true(json_is_null(r.after.cols[4].value));
    assert_null(r.after.cols[0].raw);
    assert_ptr_equal(cdc_cdcrec_image_col(&r.after, "saved_date"),
                     &r.after.cols[4]);
    assert_null(cdc_cdcrec_image_col(&r.after, "nope"));
    char d[128];
    cdc_cdcrec_describe(&r, d, sizeof d);
    assert_string_equal(d, "public.event_headers txId "
                           "aaqsd4fgh5jk2lmn3opq7rstuv");
    cdc_cdcrec_clear(&r);

    /* The latest commit time of the fixture, all 19 digits. */
    parse_ok(21, &r);
    assert_true(r.source.ts_ns == INT64_C(1783674013999999999));
    assert_int_equal(r.before.ncols, 1);
    assert_string_equal(json_string_value(r.before.cols[0].value), "ev-001");
    cdc_cdcrec_clear(&r);

    /* Composite key delete image. */
    parse_ok(9, &r);
    assert_canon_eq(r.before.obj, "{\"order_id\":1001,\"item_id\":2}");
    cdc_cdcrec_clear(&r);
}

static void test_chunked_and_fragment_fields(void **state)
{
    (void)state;
    cdc_cdcrec_t r;
    parse_ok(16, &r);
    assert_int_equal(r.type, CDC_CDCREC_CHUNKED);
    assert_true(r.chunk_after.present);
    assert_false(r.chunk_before.present);
    assert_string_equal(r.chunk_after.chunk_id, "k5m2ttd7q3xw6bz4hn8ye1rc0a");
    assert_int_equal(r.chunk_after.total_fragments, 3);
    assert_true(r.chunk_after.crc32c == UINT32_C(1968238927));
    assert_null(r.after.obj);
    assert_true(r.source.ts_ns == INT64_C(1783674006120000456));
    cdc_cdcrec_clear(&r);

    parse_ok(17, &r);
    assert_int_equal(r.frag.index, 1);
    assert_true(strncmp(r.frag.data, "4005900000,", 11) == 0);
    assert_non_null(strstr(r.frag.data, "gr\xc3\xb6\xc3\x9f" "er \xe2\x86\x92"));
    assert_int_equal(r.frag.len, strlen(r.frag.data));
    char d[128];
    cdc_cdcrec_describe(&r, d, sizeof d);
    assert_string_equal(d, "fragment k5m2ttd7q3xw6bz4hn8ye1rc0a[1]");
    cdc_cdcrec_clear(&r);
}

/* Every prefix of every line is rejected with a message, never a crash;
 * once the prefix holds the txId, the message names it. */
static void test_truncated_every_offset(void **state)
{
    (void)state;
    size_t checked = 0;
    for (int i = 1; i <= NLINES; i++) {
        size_t len = strlen(lines[i]);
        cdc_cdcrec_t probe;
        parse_ok(i, &probe);
        char txkey[96] = "";
        if (probe.source.tx_id)
            snprintf(txkey, sizeof txkey, "\"txId\":\"%s\"",
                     probe.source.tx_id);
        cdc_cdcrec_clear(&probe);
        for (size_t n = 0; n < len; n++) {
            char *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
            memcpy(copy, lines[i], n);
            char err[512] = "";
            cdc_cdcrec_t r;
            cdc_err_t e = cdc_cdcrec_parse(copy, n, &r, err, sizeof err);
            if (e != CDC_ERR_PARSE)
                fail_msg("line %d cut at %zu: %s", i, n, cdc_err_name(e));
            assert_null(r.root);
            assert_true(strncmp(err, "CDC record (", 12) == 0);
            if (txkey[0] && memmem(copy, n, txkey, strlen(txkey))) {
                const char *tx = strchr(txkey + 7, '"') + 1;
                char want[64];
                snprintf(want, sizeof want, "%.*s", (int)strlen(tx) - 1, tx);
                if (!strstr(err, want))
                    fail_msg("line %d cut at %zu: \"%s\" lacks %s", i, n, err,
                             want);
            }
            free(copy);
            checked++;
        }
    }
    assert_true(checked > 10000);
}

typedef struct {
    const char *from, *to; /* replace in line `line` */
    int line;
    const char *want;      /* substring of the error */
} mutation_t;

static void test_mutations_rejected(void **state)
{
    (void)state;
    static const mutation_t m[] = {
        {"\"ts_ns\":1783674000118204311", "\"ts_ns\":1783674000118204311.0",
         1, "event_headers txId aaqsd4fgh5jk2lmn3opq7rstuv): source.ts_ns "
            "must be an integer, got a real number"},
        {"\"ts_ns\":1783674000118204311", "\"ts_ns\":\"1783674000118204311\"",
         1, "source.ts_ns must be an integer, got a string"},
        {"\"ts_ns\":1783674000118204311", "\"ts_ns\":17836740001182043110",
         1, "too big integer"},
        {"\"ts_ns\":1783674000118204311", "\"ts_ns\":-1", 1,
         "source.ts_ns -1 is out of range"},
        {"\"ts_ms\":1783674000263,", "\"ts_ms\":1.5e3,", 1,
         "ts_ms must be an integer"},
        {"\"txId\":\"aaqsd4fgh5jk2lmn3opq7rstuv\"", "\"txId\":7", 1,
         "source.txId must be a string, got an integer"},
        {"\"table\":\"event_headers\",", "", 1, "source.table is missing"},
        {"\"type\":\"full\"", "\"type\":\"partial\"", 1,
         "unknown record type \"partial\""},
        {"\"type\":\"full\",", "", 1, "type is missing"},
        {"\"op\":\"c\",", "", 1, "op is missing"},
        {"\"op\":\"c\"", "\"op\":1", 1, "op must be a string"},
        {"\"after\":{", "\"after\":[{", 1, "invalid JSON"},
        {"\"before\":null", "\"before\":\"x\"", 1,
         "before must be an object or null, got a string"},
        {"\"op\":\"c\",", "\"op\":\"c\",\"op\":\"u\",", 1, "duplicate"},
        {"\"source\":{", "\"source\":[{", 1, "invalid JSON"},
        {"\"version\":\"1.0\"", "\"version\":1.0", 1,
         "source.version must be a string"},
        {"\"crc32c\":\"1968238927\"", "\"crc32c\":\"19682x8927\"", 16,
         "chunked.after.crc32c \"19682x8927\" is not a decimal uint32"},
        {"\"crc32c\":\"1968238927\"", "\"crc32c\":\"4294967296\"", 16,
         "is not a decimal uint32"},
        {"\"crc32c\":\"1968238927\"", "\"crc32c\":1.5", 16,
         "crc32c must be a decimal string, got a real number"},
        {"\"total_fragments\":3", "\"total_fragments\":0", 16,
         "chunked.after.total_fragments 0 is out of range"},
        {"\"chunk_id\":\"k5m2ttd7q3xw6bz4hn8ye1rc0a\",", "", 16,
         "chunked.after.chunk_id is missing"},
        {"\"chunked\":{\"after\"", "\"chunked\":{\"other\"", 16,
         "references no chunk"},
        {"\"after\":null,\"source\"", "\"after\":{\"id\":1},\"source\"", 16,
         "after is both inline and chunked"},
        {"\"index\":2", "\"index\":-1", 13, "index -1 is out of range"},
        {"\"index\":2", "\"index\":\"2\"", 13, "index must be an integer"},
        {"\"data\":\" split", "\"data\":5,\"x\":\" split", 13,
         "fragment k5m2ttd7q3xw6bz4hn8ye1rc0a): fragment "
         "k5m2ttd7q3xw6bz4hn8ye1rc0a[2]: data must be a string"},
        {"\"chunk_id\":\"k5m2ttd7q3xw6bz4hn8ye1rc0a\"", "\"chunk_id\":\"\"",
         13, "chunk_id is empty"},
        {"}", "} x", 2, "invalid JSON"},
        {"\"ev-002\"", "\"ev-\\u0000\"", 1, "invalid JSON"},
        {"\"ev-002\"", "\"ev-\xff\"", 1, "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        const char *src = lines[m[i].line];
        const char *at = strstr(src, m[i].from);
        if (!at)
            fail_msg("mutation %zu: \"%s\" not in line %d", i, m[i].from,
                     m[i].line);
        char buf[8192];
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - src), src, m[i].to,
                 at + strlen(m[i].from));
        char err[512] = "";
        cdc_cdcrec_t r;
        cdc_err_t e = cdc_cdcrec_parse(buf, strlen(buf), &r, err, sizeof err);
        if (e != CDC_ERR_PARSE || !strstr(err, m[i].want))
            fail_msg("mutation %zu: %s \"%s\", want \"%s\"", i,
                     cdc_err_name(e), err, m[i].want);
        assert_null(r.root);
    }

    /* Not an object at all, and nothing at all. */
    char err[256];
    cdc_cdcrec_t r;
    assert_int_equal(cdc_cdcrec_parse("[1]", 3, &r, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_non_null(strstr(err, "not a JSON object but an array"));
    assert_int_equal(cdc_cdcrec_parse("", 0, &r, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_int_equal(cdc_cdcrec_parse("\"full\"", 6, &r, err, sizeof err),
                     CDC_ERR_PARSE);
    /* A crc32c given as an integer is accepted too. */
    const char *src = lines[16];
    const char *at = strstr(src, "\"1968238927\"");
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s1968238927%s", (int)(at - src), src,
             at + 12);
    assert_int_equal(cdc_cdcrec_parse(buf, strlen(buf), &r, err, sizeof err),
                     CDC_OK);
    assert_true(r.chunk_after.crc32c == UINT32_C(1968238927));
    cdc_cdcrec_clear(&r);
}

/* ---- value conversion --------------------------------------------------- */

static const char *values_record =
    "{\"type\":\"full\",\"op\":\"c\",\"before\":null,\"after\":{"
    "\"tstz\":1783674000120000,\"ts\":1783673998120000,\"d\":20644,"
    "\"t\":36000120000,\"ttz\":36000000000,\"iv\":-93784500000,"
    "\"b\":\"3q2+7w==\",\"f\":1.5e300,\"f2\":0.1,\"i\":42,\"n\":\"29.99\","
    "\"nan\":\"NaN\",\"bool\":true,\"txt\":\"h\xc3\xa9\","
    "\"j\":\"{\\\"a\\\":1}\",\"arr\":[1, 2.50,{\"x\":null}],\"nul\":null,"
    "\"inf\":9223372036825200000,\"ninf\":-9223372036832400000,"
    "\"bc\":-62167219200000000,\"ep\":0,\"neg\":-1,\"f3\":-0.0,"
    "\"obj\":{\"k\":[1.10]},\"big\":9223372036854775807}"
    ",\"source\":{\"schema\":\"public\",\"table\":\"t\",\"txId\":\"tx\","
    "\"ts_ns\":1}}";

static cdc_cdcrec_t values;

/* Text and oid of column name with hint. */
static cdc_err_t text_of(const char *name, uint32_t hint, char *dst,
                         size_t n, uint32_t *oid, bool *is_null)
{
    const cdc_cdcrec_col_t *col = cdc_cdcrec_image_col(&values.after, name);
    assert_non_null(col);
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_buf_puts(&b, "x"); /* appends after what is there */
    cdc_err_t err = cdc_cdcrec_value_text(col, hint, &b, oid, is_null);
    assert_true(b.data[0] == 'x');
    if (err != CDC_OK)
        assert_int_equal(b.len, 1);
    snprintf(dst, n, "%s", b.data + 1);
    cdc_buf_free(&b);
    return err;
}

static void expect_text(const char *name, uint32_t hint, const char *want,
                        uint32_t want_oid)
{
    char got[256];
    uint32_t oid = 0;
    bool is_null = true;
    cdc_err_t e = text_of(name, hint, got, sizeof got, &oid, &is_null);
    if (e != CDC_OK)
        fail_msg("%s hint %u: %s", name, hint, cdc_err_name(e));
    assert_false(is_null);
    if (strcmp(got, want) != 0)
        fail_msg("%s hint %u: got \"%s\", want \"%s\"", name, hint, got, want);
    assert_int_equal(oid, want_oid);
}

/* What the encoder makes of the text: the Kafka record's JSON value. */
static void expect_rendered(const char *name, uint32_t hint,
                            const char *want_json)
{
    char text[256];
    uint32_t oid;
    bool is_null;
    assert_int_equal(text_of(name, hint, text, sizeof text, &oid, &is_null),
                     CDC_OK);
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    char err[256] = "";
    if (cdc_pgtypes_render(&w, oid, is_null ? NULL : text, strlen(text), err,
                           sizeof err) != CDC_OK)
        fail_msg("%s: %s", name, err);
    assert_string_equal(b.data, want_json);
    cdc_buf_free(&b);
}

static void test_value_text_hinted(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cdc_cdcrec_parse(values_record, strlen(values_record),
                                      &values, err, sizeof err),
                     CDC_OK);
    expect_text("tstz", CDC_PGOID_TIMESTAMPTZ, "2026-07-10 09:00:00.12+00",
                CDC_PGOID_TIMESTAMPTZ);
    expect_text("ts", CDC_PGOID_TIMESTAMP, "2026-07-10 08:59:58.12",
                CDC_PGOID_TIMESTAMP);
    expect_text("ep", CDC_PGOID_TIMESTAMPTZ, "1970-01-01 00:00:00+00",
                CDC_PGOID_TIMESTAMPTZ);
    expect_text("neg", CDC_PGOID_TIMESTAMP, "1969-12-31 23:59:59.999999",
                CDC_PGOID_TIMESTAMP);
    expect_text("bc", CDC_PGOID_TIMESTAMPTZ, "0001-01-01 00:00:00+00 BC",
                CDC_PGOID_TIMESTAMPTZ);
    expect_text("inf", CDC_PGOID_TIMESTAMPTZ, "infinity",
                CDC_PGOID_TIMESTAMPTZ);
    expect_text("ninf", CDC_PGOID_TIMESTAMP, "-infinity",
                CDC_PGOID_TIMESTAMP);
    expect_text("big", CDC_PGOID_TIMESTAMP, "infinity", CDC_PGOID_TIMESTAMP);
    expect_text("d", CDC_PGOID_DATE, "2026-07-10", CDC_PGOID_DATE);
    expect_text("neg", CDC_PGOID_DATE, "1969-12-31", CDC_PGOID_DATE);
    expect_text("t", CDC_PGOID_TIME, "10:00:00.12", CDC_PGOID_TIME);
    expect_text("ttz", CDC_PGOID_TIMETZ, "10:00:00+00", CDC_PGOID_TIMETZ);
    expect_text("iv", CDC_PGOID_INTERVAL, "-26:03:04.5", CDC_PGOID_INTERVAL);
    expect_text("b", CDC_PGOID_BYTEA, "\\xdeadbeef", CDC_PGOID_BYTEA);
    expect_text("f", CDC_PGOID_FLOAT8, "1.5e300", CDC_PGOID_FLOAT8);
    expect_text("f2", CDC_PGOID_FLOAT4, "0.1", CDC_PGOID_FLOAT4);
    expect_text("f3", CDC_PGOID_FLOAT8, "-0.0", CDC_PGOID_FLOAT8);
    expect_text("i", CDC_PGOID_FLOAT8, "42", CDC_PGOID_FLOAT8);
    expect_text("nan", CDC_PGOID_FLOAT8, "NaN", CDC_PGOID_FLOAT8);
    expect_text("nan", CDC_PGOID_NUMERIC, "NaN", CDC_PGOID_NUMERIC);
    expect_text("n", CDC_PGOID_NUMERIC, "29.99", CDC_PGOID_NUMERIC);
    expect_text("i", CDC_PGOID_INT2, "42", CDC_PGOID_INT2);
    expect_text("i", CDC_PGOID_INT4, "42", CDC_PGOID_INT4);
    expect_text("i", CDC_PGOID_OID, "42", CDC_PGOID_OID);
    expect_text("bool", CDC_PGOID_BOOL, "t", CDC_PGOID_BOOL);
    expect_text("txt", CDC_PGOID_VARCHAR, "h\xc3\xa9", CDC_PGOID_VARCHAR);
    expect_text("txt", CDC_PGOID_UUID, "h\xc3\xa9", CDC_PGOID_UUID);
    expect_text("j", CDC_PGOID_JSONB, "{\"a\":1}", CDC_PGOID_JSONB);
    expect_text("obj", CDC_PGOID_JSON, "{\"k\":[1.10]}", CDC_PGOID_JSON);

    /* NULL keeps the hinted type. */
    char got[64];
    uint32_t oid;
    bool is_null;
    assert_int_equal(text_of("nul", CDC_PGOID_INT4, got, sizeof got, &oid,
                             &is_null), CDC_OK);
    assert_true(is_null);
    assert_int_equal(oid, CDC_PGOID_INT4);
    assert_string_equal(got, "");

    /* Values that do not fit their hint: nothing appended. */
    static const struct {
        const char *name;
        uint32_t hint;
    } bad[] = {
        {"txt", CDC_PGOID_INT4},        {"big", CDC_PGOID_INT4},
        {"i", CDC_PGOID_BOOL},          {"txt", CDC_PGOID_TIMESTAMPTZ},
        {"f", CDC_PGOID_INT8},          {"f", CDC_PGOID_NUMERIC},
        {"txt", CDC_PGOID_BYTEA},       {"txt", CDC_PGOID_NUMERIC},
        {"tstz", CDC_PGOID_TIME},       {"neg", CDC_PGOID_TIMETZ},
        {"i", CDC_PGOID_TEXT},          {"txt", CDC_PGOID_FLOAT8},
        {"arr", CDC_PGOID_INT4_ARRAY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (text_of(bad[i].name, bad[i].hint, got, sizeof got, &oid,
                    &is_null) != CDC_ERR_PARSE)
            fail_msg("%s with hint %u should not fit", bad[i].name,
                     bad[i].hint);
    cdc_cdcrec_clear(&values);
}

static void test_value_text_inferred(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cdc_cdcrec_parse(values_record, strlen(values_record),
                                      &values, err, sizeof err),
                     CDC_OK);
    /* Without a hint a timestamp is only a number. */
    expect_text("tstz", 0, "1783674000120000", CDC_PGOID_INT8);
    expect_text("f", 0, "1.5e300", CDC_PGOID_FLOAT8); /* not 1.5000000000000001e+300 */
    expect_text("f2", 0, "0.1", CDC_PGOID_FLOAT8);
    expect_text("bool", 0, "t", CDC_PGOID_BOOL);
    expect_text("txt", 0, "h\xc3\xa9", CDC_PGOID_TEXT);
    expect_text("n", 0, "29.99", CDC_PGOID_TEXT);
    expect_text("arr", 0, "[1, 2.50,{\"x\":null}]", CDC_PGOID_JSON);
    expect_text("big", 0, "9223372036854775807", CDC_PGOID_INT8);
    char got[64];
    uint32_t oid;
    bool is_null;
    assert_int_equal(text_of("nul", 0, got, sizeof got, &oid, &is_null),
                     CDC_OK);
    assert_true(is_null);
    assert_int_equal(oid, CDC_PGOID_TEXT);
    cdc_cdcrec_clear(&values);
}

/* The texts are what the encoder accepts and renders as the poller's. */
static void test_value_text_renders(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cdc_cdcrec_parse(values_record, strlen(values_record),
                                      &values, err, sizeof err),
                     CDC_OK);
    expect_rendered("tstz", CDC_PGOID_TIMESTAMPTZ,
                    "\"2026-07-10T09:00:00.12Z\"");
    expect_rendered("ts", CDC_PGOID_TIMESTAMP, "1783673998120000");
    expect_rendered("bc", CDC_PGOID_TIMESTAMP, "-62167219200000000");
    expect_rendered("inf", CDC_PGOID_TIMESTAMPTZ, "\"infinity\"");
    expect_rendered("d", CDC_PGOID_DATE, "20644");
    expect_rendered("t", CDC_PGOID_TIME, "36000120000");
    expect_rendered("ttz", CDC_PGOID_TIMETZ, "\"10:00:00Z\"");
    expect_rendered("b", CDC_PGOID_BYTEA, "\"3q2+7w==\"");
    expect_rendered("f", CDC_PGOID_FLOAT8, "1.5e300");
    expect_rendered("nan", CDC_PGOID_FLOAT8, "\"NaN\"");
    expect_rendered("n", CDC_PGOID_NUMERIC, "\"29.99\"");
    expect_rendered("bool", CDC_PGOID_BOOL, "true");
    expect_rendered("i", CDC_PGOID_INT4, "42");
    expect_rendered("j", CDC_PGOID_JSON, "\"{\\\"a\\\":1}\"");
    expect_rendered("nul", CDC_PGOID_TIMESTAMPTZ, "null");
    cdc_cdcrec_clear(&values);
}

/* Epoch microseconds -> text -> the encoder's parser gives them back. */
static void test_timestamp_round_trip(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* from 4713 BC to past 285000 AD, and near the epoch */
        int64_t span = i % 2 ? INT64_C(9000000000000000000) +
                                   INT64_C(211813488000000000)
                             : INT64_C(4000000000000000);
        int64_t us = (int64_t)(x % (uint64_t)span) -
                     (i % 2 ? INT64_C(211813488000000000)
                            : INT64_C(2000000000000000));
        char json[64];
        snprintf(json, sizeof json, "%lld", (long long)us);
        json_t *v = json_integer(us);
        cdc_cdcrec_col_t col = {"c", v, NULL, 0};
        uint32_t oids[] = {CDC_PGOID_TIMESTAMPTZ, CDC_PGOID_TIMESTAMP};
        for (int k = 0; k < 2; k++) {
            cdc_buf_t b;
            cdc_buf_init(&b);
            uint32_t oid;
            bool is_null;
            assert_int_equal(cdc_cdcrec_value_text(&col, oids[k], &b, &oid,
                                                   &is_null), CDC_OK);
            int64_t back;
            if (cdc_pgtypes_epoch_us(oids[k], b.data, b.len, &back) != CDC_OK ||
                back != us)
                fail_msg("%s -> \"%s\" -> %lld", json, b.data,
                         (long long)back);
            cdc_buf_free(&b);
        }
        /* dates: whole days only */
        int64_t days = (us / INT64_C(86400000000)) % 2000000;
        json_integer_set(v, days);
        cdc_buf_t b;
        cdc_buf_init(&b);
        uint32_t oid;
        bool is_null;
        assert_int_equal(cdc_cdcrec_value_text(&col, CDC_PGOID_DATE, &b, &oid,
                                               &is_null), CDC_OK);
        int64_t back;
        assert_int_equal(cdc_pgtypes_epoch_us(CDC_PGOID_DATE, b.data, b.len,
                                              &back), CDC_OK);
        assert_true(back == days * INT64_C(86400000000));
        cdc_buf_free(&b);
        json_decref(v);
    }
}

/* ---- CRC32C ------------------------------------------------------------- */

static void test_crc32c_vectors(void **state)
{
    (void)state;
    assert_true(cdc_crc32c(0, "123456789", 9) == UINT32_C(0xE3069283));
    assert_true(cdc_crc32c(0, "", 0) == 0);
    /* RFC 3720 B.4 */
    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    assert_true(cdc_crc32c(0, buf, 32) == UINT32_C(0x8A9136AA));
    memset(buf, 0xFF, sizeof buf);
    assert_true(cdc_crc32c(0, buf, 32) == UINT32_C(0x62A8AB43));
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    assert_true(cdc_crc32c(0, buf, 32) == UINT32_C(0x46DD794E));
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    assert_true(cdc_crc32c(0, buf, 32) == UINT32_C(0x113FDB5C));
    /* in pieces */
    assert_true(cdc_crc32c(cdc_crc32c(0, "1234", 4), "56789", 5) ==
                UINT32_C(0xE3069283));
}

/* ---- reassembly --------------------------------------------------------- */

typedef struct {
    uint64_t pos[16];
    bool main[16];
    cdc_reasm_drop_t why[16];
    int n;
} drops_t;

static void on_drop(void *opaque, uint64_t pos, bool main,
                    cdc_reasm_drop_t why)
{
    drops_t *d = opaque;
    if (d->n < 16) {
        d->pos[d->n] = pos;
        d->main[d->n] = main;
        d->why[d->n] = why;
    }
    d->n++;
}

static const char *ev004_image =
    "{\"id\":\"ev-004\",\"event_name\":\"bulk.import\",\"event_type\":"
    "\"batch\",\"created_date\":1783674005900000,\"saved_date\":"
    "1783674005990000,\"header_data\":\"{\\\"v\\\":1,\\\"note\\\":\\\"gr"
    "\xc3\xb6\xc3\x9f" "er \xe2\x86\x92 split\\\",\\\"pad\\\":\\\"xxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\\"}\"}";

/* Add the record of `text` to ra. */
static cdc_err_t add_text(cdc_reassembly_t *ra, const char *text,
                          uint64_t pos, int64_t now, cdc_reasm_result_t *res,
                          cdc_reassembly_out_t *out, char *err, size_t n)
{
    cdc_cdcrec_t r;
    assert_int_equal(cdc_cdcrec_parse(text, strlen(text), &r, err, n),
                     CDC_OK);
    cdc_err_t e = cdc_reassembly_add(ra, &r, pos, now, res, out, err, n);
    assert_null(r.root); /* moved in whatever happened */
    return e;
}

static cdc_reasm_result_t add_line(cdc_reassembly_t *ra, int line,
                                   int64_t now, cdc_reassembly_out_t *out)
{
    char err[512] = "";
    cdc_reasm_result_t res;
    cdc_err_t e = add_text(ra, lines[line], (uint64_t)line, now, &res, out,
                           err, sizeof err);
    if (e != CDC_OK)
        fail_msg("line %d: %s", line, err);
    return res;
}

static void check_ev004(const cdc_reassembly_out_t *out)
{
    assert_int_equal(out->rec.type, CDC_CDCREC_FULL);
    assert_true(out->rec.chunk_after.present);
    assert_string_equal(out->rec.source.tx_id, "eezab2cde3fgh4ijk5lmn6opq7");
    assert_canon_eq(out->rec.after.obj, ev004_image);
    /* the image's columns are there, in order, for conversion */
    assert_int_equal(out->rec.after.ncols, 6);
    assert_string_equal(out->rec.after.cols[5].name, "header_data");
    assert_non_null(strstr(json_string_value(out->rec.after.cols[5].value),
                           "gr\xc3\xb6\xc3\x9f" "er \xe2\x86\x92 split"));
    assert_int_equal(out->pos, 16);
}

static void test_reassemble_fixture(void **state)
{
    (void)state;
    drops_t drops = {0};
    cdc_reassembly_limits_t lim = {.max_age_ms = 1000};
    cdc_reassembly_t *ra = cdc_reassembly_new(&lim, on_drop, &drops);
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);

    assert_int_equal(add_line(ra, 13, 13, &out), CDC_REASM_HELD);
    assert_int_equal(add_line(ra, 14, 14, &out), CDC_REASM_HELD);
    assert_int_equal(add_line(ra, 16, 16, &out), CDC_REASM_HELD);
    cdc_reassembly_stats_t st = cdc_reassembly_stats(ra);
    assert_int_equal(st.pending_mains, 1);
    assert_int_equal(st.chunks, 1);
    assert_int_equal(add_line(ra, 17, 17, &out), CDC_REASM_COMPLETE);
    check_ev004(&out);
    assert_int_equal(out.nfrag_pos, 3);
    assert_int_equal(out.frag_pos[0], 14); /* index order */
    assert_int_equal(out.frag_pos[1], 17);
    assert_int_equal(out.frag_pos[2], 13);
    cdc_reassembly_out_clear(&out);

    /* Line 18 re-sends fragment 0: the chunk is kept until released. */
    assert_int_equal(add_line(ra, 18, 18, &out), CDC_REASM_DUPLICATE);
    assert_int_equal(add_line(ra, 16, 19, &out), CDC_REASM_DUPLICATE);
    st = cdc_reassembly_stats(ra);
    assert_int_equal(st.completed, 1);
    assert_int_equal(st.duplicates, 2);
    assert_int_equal(st.pending_mains, 0);
    assert_true(st.bytes > 0);
    cdc_reassembly_release(ra, "k5m2ttd7q3xw6bz4hn8ye1rc0a");
    st = cdc_reassembly_stats(ra);
    assert_int_equal(st.chunks, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(drops.n, 0);

    /* After release a late fragment is held again and ages out. */
    assert_int_equal(add_line(ra, 18, 20, &out), CDC_REASM_HELD);
    assert_int_equal(cdc_reassembly_expire(ra, 1020), 0);
    assert_int_equal(cdc_reassembly_expire(ra, 1021), 1);
    assert_int_equal(drops.n, 1);
    assert_int_equal(drops.pos[0], 18);
    assert_false(drops.main[0]);
    assert_int_equal(drops.why[0], CDC_REASM_DROP_EXPIRED);
    assert_int_equal(cdc_reassembly_stats(ra).expired, 1);
    cdc_reassembly_destroy(ra);
}

/* All 24 arrival orders of main + 3 fragments rebuild the same record. */
static void test_reassemble_any_order(void **state)
{
    (void)state;
    int pieces[4] = {16, 14, 17, 13};
    int perm[4] = {0, 1, 2, 3};
    int count = 0;
    for (;;) {
        cdc_reassembly_t *ra = cdc_reassembly_new(NULL, NULL, NULL);
        cdc_reassembly_out_t out;
        cdc_reassembly_out_init(&out);
        for (int i = 0; i < 4; i++) {
            cdc_reasm_result_t res = add_line(ra, pieces[perm[i]], i, &out);
            assert_int_equal(res, i == 3 ? CDC_REASM_COMPLETE
                                         : CDC_REASM_HELD);
        }
        check_ev004(&out);
        cdc_reassembly_out_clear(&out);
        cdc_reassembly_destroy(ra);
        count++;
        /* next permutation */
        int i = 2;
        while (i >= 0 && perm[i] > perm[i + 1])
            i--;
        if (i < 0)
            break;
        int j = 3;
        while (perm[j] < perm[i])
            j--;
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        for (int a = i + 1, b = 3; a < b; a++, b--) {
            t = perm[a];
            perm[a] = perm[b];
            perm[b] = t;
        }
    }
    assert_int_equal(count, 24);
}

static void test_corrupt_fragment_fails_crc(void **state)
{
    (void)state;
    drops_t drops = {0};
    cdc_reassembly_t *ra = cdc_reassembly_new(NULL, on_drop, &drops);
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);
    /* One x of the padding becomes a y: still valid JSON, wrong CRC. */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s", lines[13]);
    *strstr(bad, "xxxx") = 'y';
    char err[512] = "";
    cdc_reasm_result_t res;
    assert_int_equal(add_text(ra, bad, 13, 0, &res, &out, err, sizeof err),
                     CDC_OK);
    add_line(ra, 14, 0, &out);
    add_line(ra, 16, 0, &out);
    assert_int_equal(add_text(ra, lines[17], 17, 0, &res, &out, err,
                              sizeof err), CDC_ERR_PARSE);
    assert_non_null(strstr(err, "public.event_headers txId "
                                "eezab2cde3fgh4ijk5lmn6opq7"));
    assert_non_null(strstr(err, "chunk k5m2ttd7q3xw6bz4hn8ye1rc0a"));
    assert_non_null(strstr(err, "fails its CRC32C"));
    assert_non_null(strstr(err, "record says 1968238927"));
    assert_null(out.rec.root);
    /* every piece, the main record first, is given back */
    assert_int_equal(drops.n, 4);
    assert_int_equal(drops.pos[0], 16);
    assert_true(drops.main[0]);
    uint64_t sum = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(drops.why[i], CDC_REASM_DROP_CORRUPT);
        sum += drops.pos[i];
    }
    assert_int_equal(sum, 13 + 14 + 16 + 17);
    cdc_reassembly_stats_t st = cdc_reassembly_stats(ra);
    assert_int_equal(st.corrupt, 1);
    assert_int_equal(st.chunks, 0);
    assert_int_equal(st.pending_mains, 0);
    assert_int_equal(st.bytes, 0);
    cdc_reassembly_destroy(ra);
}

/* A split image that passes its CRC but is not a JSON object. */
static void test_image_not_object(void **state)
{
    (void)state;
    drops_t drops = {0};
    cdc_reassembly_t *ra = cdc_reassembly_new(NULL, on_drop, &drops);
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);
    char main[1024], err[512];
    snprintf(main, sizeof main,
             "{\"type\":\"chunked\",\"op\":\"c\",\"before\":null,"
             "\"after\":null,\"source\":{\"schema\":\"s\",\"table\":\"t\","
             "\"txId\":\"tx\",\"ts_ns\":5},\"chunked\":{\"after\":{"
             "\"chunk_id\":\"c1\",\"total_fragments\":1,\"crc32c\":\"%u\"}}}",
             (unsigned)cdc_crc32c(0, "[1,2]", 5));
    cdc_reasm_result_t res;
    assert_int_equal(add_text(ra, main, 1, 0, &res, &out, err, sizeof err),
                     CDC_OK);
    assert_int_equal(add_text(ra, "{\"type\":\"fragment\",\"chunk_id\":\"c1\","
                                  "\"index\":0,\"data\":\"[1,2]\"}", 2, 0,
                              &res, &out, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_non_null(strstr(err, "s.t txId tx"));
    assert_non_null(strstr(err, "an array, not an object"));
    assert_int_equal(drops.n, 2);
    assert_int_equal(cdc_reassembly_stats(ra).corrupt, 1);
    cdc_reassembly_destroy(ra);
}

static void test_conflicting_pieces(void **state)
{
    (void)state;
    cdc_reassembly_t *ra = cdc_reassembly_new(NULL, NULL, NULL);
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);
    char err[512] = "";
    cdc_reasm_result_t res;
    add_line(ra, 13, 0, &out);
    char other[4096];
    snprintf(other, sizeof other, "%s", lines[13]);
    *strstr(other, "xxxx") = 'y';
    assert_int_equal(add_text(ra, other, 99, 0, &res, &out, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_non_null(strstr(err, "fragment k5m2ttd7q3xw6bz4hn8ye1rc0a[2] "
                                "arrived again with other data"));
    /* The main record says 3 fragments: index 3 cannot be. */
    add_line(ra, 16, 0, &out);
    const char *f3 = "{\"type\":\"fragment\",\"chunk_id\":"
                     "\"k5m2ttd7q3xw6bz4hn8ye1rc0a\",\"index\":3,\"data\":\"\"}";
    assert_int_equal(add_text(ra, f3, 98, 0, &res, &out, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_non_null(strstr(err, "beyond the 3 fragments"));
    /* Another main record naming the same chunk. */
    char main2[4096];
    snprintf(main2, sizeof main2, "%s", lines[16]);
    memcpy(strstr(main2, "eezab2"), "zzzzz2", 6);
    assert_int_equal(add_text(ra, main2, 97, 0, &res, &out, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_non_null(strstr(err, "which public.event_headers txId "
                                "eezab2cde3fgh4ijk5lmn6opq7 already names"));
    /* A full record is not for reassembly. */
    assert_int_equal(add_text(ra, lines[1], 1, 0, &res, &out, err,
                              sizeof err), CDC_ERR_INVALID_ARG);
    cdc_reassembly_stats_t st = cdc_reassembly_stats(ra);
    assert_int_equal(st.conflicts, 3);
    assert_int_equal(st.pending_mains, 1);
    /* The held pieces are intact: the record still completes. */
    add_line(ra, 14, 0, &out);
    assert_int_equal(add_line(ra, 17, 0, &out), CDC_REASM_COMPLETE);
    check_ev004(&out);
    cdc_reassembly_out_clear(&out);
    cdc_reassembly_destroy(ra);
}

static void frag_text(char *dst, size_t n, const char *chunk, int index,
                      const char *data)
{
    snprintf(dst, n, "{\"type\":\"fragment\",\"chunk_id\":\"%s\",\"index\":%d,"
             "\"data\":\"%s\"}", chunk, index, data);
}

static void test_reassembly_limits(void **state)
{
    (void)state;
    drops_t drops = {0};
    cdc_reassembly_limits_t lim = {.max_bytes = 100, .max_chunks = 2};
    cdc_reassembly_t *ra = cdc_reassembly_new(&lim, on_drop, &drops);
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);
    char t[512], err[512];
    cdc_reasm_result_t res;
    frag_text(t, sizeof t, "a", 0, "0123456789");
    assert_int_equal(add_text(ra, t, 1, 10, &res, &out, err, sizeof err),
                     CDC_OK);
    frag_text(t, sizeof t, "b", 0, "0123456789");
    assert_int_equal(add_text(ra, t, 2, 20, &res, &out, err, sizeof err),
                     CDC_OK);
    /* A third chunk evicts the least recently active one (a). */
    frag_text(t, sizeof t, "c", 0, "0123456789");
    assert_int_equal(add_text(ra, t, 3, 30, &res, &out, err, sizeof err),
                     CDC_OK);
    assert_int_equal(drops.n, 1);
    assert_int_equal(drops.pos[0], 1);
    assert_int_equal(drops.why[0], CDC_REASM_DROP_EVICTED);
    /* Bytes: 20 held, 85 more do not fit with b (10) and c (10). */
    char big[128];
    memset(big, 'z', 85);
    big[85] = '\0';
    frag_text(t, sizeof t, "c", 1, big);
    assert_int_equal(add_text(ra, t, 4, 40, &res, &out, err, sizeof err),
                     CDC_OK);
    assert_int_equal(drops.n, 2);
    assert_int_equal(drops.pos[1], 2); /* b went, c stayed */
    cdc_reassembly_stats_t st = cdc_reassembly_stats(ra);
    assert_int_equal(st.chunks, 1);
    assert_int_equal(st.bytes, 95);
    assert_int_equal(st.evicted, 2);
    /* Larger than the whole budget: refused, not evicting everything. */
    memset(big, 'z', 101);
    big[101] = '\0';
    frag_text(t, sizeof t, "d", 0, big);
    assert_int_equal(add_text(ra, t, 5, 50, &res, &out, err, sizeof err),
                     CDC_ERR_CONFIG);
    assert_non_null(strstr(err, "raise the limit"));
    assert_int_equal(cdc_reassembly_stats(ra).bytes, 95);
    cdc_reassembly_destroy(ra);
}

static void test_reassembly_export_import(void **state)
{
    (void)state;
    cdc_reassembly_t *ra = cdc_reassembly_new(NULL, NULL, NULL);
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);
    add_line(ra, 13, 1000, &out);
    add_line(ra, 14, 1500, &out);
    json_t *st = cdc_reassembly_export(ra, 2000);
    assert_non_null(st);
    char *s = json_dumps(st, JSON_COMPACT);
    assert_non_null(strstr(s, "\"chunk_id\":\"k5m2ttd7q3xw6bz4hn8ye1rc0a\","
                              "\"age_ms\":500"));
    free(s);
    cdc_reassembly_destroy(ra);

    /* Through text, as it would be stored. */
    char *text = json_dumps(st, 0);
    json_decref(st);
    json_error_t je;
    st = json_loads(text, 0, &je);
    free(text);
    drops_t drops = {0};
    cdc_reassembly_limits_t lim = {.max_age_ms = 1000};
    ra = cdc_reassembly_new(&lim, on_drop, &drops);
    char err[256];
    assert_int_equal(cdc_reassembly_import(ra, st, 50000, err, sizeof err),
                     CDC_OK);
    /* importing again adds nothing */
    assert_int_equal(cdc_reassembly_import(ra, st, 50000, err, sizeof err),
                     CDC_OK);
    cdc_reassembly_stats_t rs = cdc_reassembly_stats(ra);
    assert_int_equal(rs.chunks, 1);
    size_t want_bytes = 0;
    for (int line = 13; line <= 14; line++) {
        cdc_cdcrec_t r;
        parse_ok(line, &r);
        want_bytes += r.frag.len;
        cdc_cdcrec_clear(&r);
    }
    assert_int_equal(rs.bytes, want_bytes);
    json_decref(st);
    assert_int_equal(add_line(ra, 16, 50100, &out), CDC_REASM_HELD);
    assert_int_equal(add_line(ra, 17, 50200, &out), CDC_REASM_COMPLETE);
    check_ev004(&out);
    assert_int_equal(out.frag_pos[0], 0); /* imported */
    assert_int_equal(out.frag_pos[1], 17);
    assert_int_equal(out.frag_pos[2], 0);
    cdc_reassembly_out_clear(&out);
    cdc_reassembly_destroy(ra);

    /* Malformed states add nothing. */
    ra = cdc_reassembly_new(NULL, NULL, NULL);
    static const char *bad[] = {
        "[]", "{\"v\":2,\"chunks\":[]}", "{\"v\":1}",
        "{\"v\":1,\"chunks\":[{\"chunk_id\":\"a\",\"age_ms\":1,\"fragments\":"
        "[{\"index\":0,\"data\":\"x\"}]},{\"chunk_id\":\"b\"}]}",
        "{\"v\":1,\"chunks\":[{\"chunk_id\":\"a\",\"age_ms\":1,\"fragments\":"
        "[{\"index\":-1,\"data\":\"x\"}]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i], 0, &je);
        assert_non_null(j);
        assert_int_equal(cdc_reassembly_import(ra, j, 0, err, sizeof err),
                         CDC_ERR_PARSE);
        json_decref(j);
    }
    assert_int_equal(cdc_reassembly_stats(ra).chunks, 0);
    cdc_reassembly_destroy(ra);
}

/* Both images split, and one image inline. */
static void test_two_chunks(void **state)
{
    (void)state;
    const char *bimg = "{\"id\":7}", *aimg = "{\"id\":7,\"v\":\"\xc3\xa9\"}";
    char main[1024], t[256], err[512];
    snprintf(main, sizeof main,
             "{\"type\":\"chunked\",\"op\":\"u\",\"before\":null,"
             "\"after\":null,\"source\":{\"schema\":\"s\",\"table\":\"t\","
             "\"txId\":\"tx\",\"ts_ns\":5},\"chunked\":{"
             "\"before\":{\"chunk_id\":\"B\",\"total_fragments\":1,"
             "\"crc32c\":\"%u\"},\"after\":{\"chunk_id\":\"A\","
             "\"total_fragments\":2,\"crc32c\":\"%u\"}}}",
             (unsigned)cdc_crc32c(0, bimg, strlen(bimg)),
             (unsigned)cdc_crc32c(0, aimg, strlen(aimg)));
    cdc_reassembly_t *ra = cdc_reassembly_new(NULL, NULL, NULL);
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);
    cdc_reasm_result_t res;
    frag_text(t, sizeof t, "A", 1, "\\\"v\\\":\\\"\xc3\xa9\\\"}");
    assert_int_equal(add_text(ra, t, 1, 0, &res, &out, err, sizeof err),
                     CDC_OK);
    assert_int_equal(add_text(ra, main, 2, 0, &res, &out, err, sizeof err),
                     CDC_OK);
    frag_text(t, sizeof t, "A", 0, "{\\\"id\\\":7,");
    assert_int_equal(add_text(ra, t, 3, 0, &res, &out, err, sizeof err),
                     CDC_OK);
    assert_int_equal(res, CDC_REASM_HELD); /* before still missing */
    frag_text(t, sizeof t, "B", 0, "{\\\"id\\\":7}");
    assert_int_equal(add_text(ra, t, 4, 0, &res, &out, err, sizeof err),
                     CDC_OK);
    assert_int_equal(res, CDC_REASM_COMPLETE);
    assert_int_equal(out.rec.type, CDC_CDCREC_FULL);
    assert_canon_eq(out.rec.before.obj, bimg);
    assert_canon_eq(out.rec.after.obj, aimg);
    assert_int_equal(out.nfrag_pos, 3);
    assert_int_equal(out.frag_pos[0], 4); /* before first */
    assert_int_equal(out.frag_pos[1], 3);
    assert_int_equal(out.frag_pos[2], 1);
    cdc_reassembly_out_clear(&out);
    cdc_reassembly_destroy(ra);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_every_line),
        cmocka_unit_test(test_exact_fields),
        cmocka_unit_test(test_chunked_and_fragment_fields),
        cmocka_unit_test(test_truncated_every_offset),
        cmocka_unit_test(test_mutations_rejected),
        cmocka_unit_test(test_value_text_hinted),
        cmocka_unit_test(test_value_text_inferred),
        cmocka_unit_test(test_value_text_renders),
        cmocka_unit_test(test_timestamp_round_trip),
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_reassemble_fixture),
        cmocka_unit_test(test_reassemble_any_order),
        cmocka_unit_test(test_corrupt_fragment_fails_crc),
        cmocka_unit_test(test_image_not_object),
        cmocka_unit_test(test_conflicting_pieces),
        cmocka_unit_test(test_reassembly_limits),
        cmocka_unit_test(test_reassembly_export_import),
        cmocka_unit_test(test_two_chunks),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    for (int i = 1; i <= NLINES; i++)
        free(lines[i]);
    return rc;
}
