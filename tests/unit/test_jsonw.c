/*
 * test_jsonw.c - the JSON writer: exact bytes for structure, escapes, UTF-8
 * handling and numbers, misuse, and a randomized differential check of string
 * escaping against jansson's parser.
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

#include "encode/jsonw.h"

/* Writer output of one string value, as a C string owned by the caller. */
static char *string_json(const char *s, size_t len)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    assert_int_equal(cdc_jsonw_string(&w, s, len), CDC_OK);
    assert_int_equal(cdc_jsonw_finish(&w), CDC_OK);
    assert_int_equal(strlen(b.data), b.len);
    return b.data;
}

#define EXPECT_STRING(in, expected)                                           \
    do {                                                                      \
        char *got_ = string_json((in), sizeof(in) - 1);                       \
        assert_string_equal(got_, (expected));                                \
        free(got_);                                                           \
    } while (0)

static void test_structure(void **state)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);

    cdc_jsonw_object_begin(&w);
    cdc_jsonw_key_str(&w, "a");
    cdc_jsonw_int(&w, 1);
    cdc_jsonw_key_str(&w, "b");
    cdc_jsonw_array_begin(&w);
    cdc_jsonw_bool(&w, true);
    cdc_jsonw_bool(&w, false);
    cdc_jsonw_null(&w);
    cdc_jsonw_array_begin(&w);
    cdc_jsonw_array_end(&w);
    cdc_jsonw_array_begin(&w);
    cdc_jsonw_number(&w, "2.5e-3", 6);
    cdc_jsonw_array_end(&w);
    cdc_jsonw_array_end(&w);
    cdc_jsonw_key_str(&w, "c");
    cdc_jsonw_object_begin(&w);
    cdc_jsonw_object_end(&w);
    cdc_jsonw_key_str(&w, "d\"");
    cdc_jsonw_object_begin(&w);
    cdc_jsonw_key_str(&w, "");
    cdc_jsonw_string(&w, "x", 1);
    cdc_jsonw_object_end(&w);
    cdc_jsonw_object_end(&w);

    assert_int_equal(cdc_jsonw_finish(&w), CDC_OK);
    assert_string_equal(b.data, "{\"a\":1,\"b\":[true,false,null,[],[2.5e-3]],"
                                "\"c\":{},\"d\\\"\":{\"\":\"x\"}}");
    cdc_buf_free(&b);
}

static void test_appends_to_existing_content(void **state)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_buf_puts(&b, "prefix:");
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    cdc_jsonw_array_begin(&w);
    cdc_jsonw_string(&w, "", 0);
    cdc_jsonw_array_end(&w);
    assert_int_equal(cdc_jsonw_finish(&w), CDC_OK);
    assert_string_equal(b.data, "prefix:[\"\"]");
    cdc_buf_free(&b);
}

static void test_escapes(void **state)
{
    EXPECT_STRING("plain", "\"plain\"");
    EXPECT_STRING("", "\"\"");
    EXPECT_STRING("q\"b\\s/", "\"q\\\"b\\\\s/\"");
    EXPECT_STRING("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    /* DEL is not a control character for JSON; Jackson leaves it too. */
    EXPECT_STRING("\x7f~ ", "\"\x7f~ \"");
    EXPECT_STRING("a\x00" "b", "\"a\\u0000b\"");
}

static void test_all_control_chars(void **state)
{
    for (int c = 0; c < 0x20; c++) {
        char in = (char)c, expected[16];
        switch (c) {
        case '\b': strcpy(expected, "\"\\b\""); break;
        case '\f': strcpy(expected, "\"\\f\""); break;
        case '\n': strcpy(expected, "\"\\n\""); break;
        case '\r': strcpy(expected, "\"\\r\""); break;
        case '\t': strcpy(expected, "\"\\t\""); break;
        default: snprintf(expected, sizeof(expected), "\"\\u%04X\"", c);
        }
        char *got = string_json(&in, 1);
        assert_string_equal(got, expected);
        free(got);
    }
    EXPECT_STRING("\x1f\x1a\x0b", "\"\\u001F\\u001A\\u000B\"");
}

static void test_utf8_valid(void **state)
{
    /* Boundaries of each sequence length, copied unchanged. */
    EXPECT_STRING("\xc2\x80", "\"\xc2\x80\"");                 /* U+0080 */
    EXPECT_STRING("\xc3\xa9", "\"\xc3\xa9\"");                 /* é */
    EXPECT_STRING("\xdf\xbf", "\"\xdf\xbf\"");                 /* U+07FF */
    EXPECT_STRING("\xe0\xa0\x80", "\"\xe0\xa0\x80\"");         /* U+0800 */
    EXPECT_STRING("\xe2\x82\xac", "\"\xe2\x82\xac\"");         /* € */
    EXPECT_STRING("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");         /* U+D7FF */
    EXPECT_STRING("\xee\x80\x80", "\"\xee\x80\x80\"");         /* U+E000 */
    EXPECT_STRING("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");         /* U+FFFF */
    EXPECT_STRING("\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\""); /* U+10000 */
    EXPECT_STRING("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""); /* emoji */
    EXPECT_STRING("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
    /* U+2028/2029 are valid JSON and Jackson does not escape them. */
    EXPECT_STRING("a\xe2\x80\xa8" "b", "\"a\xe2\x80\xa8" "b\"");
    EXPECT_STRING("caf\xc3\xa9 \"\xe6\x97\xa5\"\n",
                  "\"caf\xc3\xa9 \\\"\xe6\x97\xa5\\\"\\n\"");
}

#define FFFD "\xef\xbf\xbd"

static void test_utf8_invalid(void **state)
{
    /* Lone continuation bytes and bytes that can never start a sequence. */
    EXPECT_STRING("\x80", "\"" FFFD "\"");
    EXPECT_STRING("a\xbf" "b", "\"a" FFFD "b\"");
    EXPECT_STRING("\xfe\xff", "\"" FFFD FFFD "\"");
    EXPECT_STRING("\xf5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
    /* Overlong forms: C0/C1 never valid; E0 and F0 need A0 / 90 next. */
    EXPECT_STRING("\xc0\xaf", "\"" FFFD FFFD "\"");
    EXPECT_STRING("\xc1\xbf", "\"" FFFD FFFD "\"");
    EXPECT_STRING("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"");
    EXPECT_STRING("\xf0\x80\x80\xaf", "\"" FFFD FFFD FFFD FFFD "\"");
    /* UTF-16 surrogates encoded in UTF-8. */
    EXPECT_STRING("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"");
    EXPECT_STRING("\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\"");
    EXPECT_STRING("\xed\xa0\xbd\xed\xb8\x80",
                  "\"" FFFD FFFD FFFD FFFD FFFD FFFD "\"");
    /* Above U+10FFFF. */
    EXPECT_STRING("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
    /* Truncated sequences: the valid prefix is one maximal subpart. */
    EXPECT_STRING("\xe2\x82", "\"" FFFD "\"");
    EXPECT_STRING("\xe2\x82x", "\"" FFFD "x\"");
    EXPECT_STRING("\xf0\x9f\x98", "\"" FFFD "\"");
    EXPECT_STRING("\xf0\x9f\x98\"", "\"" FFFD "\\\"\"");
    EXPECT_STRING("\xc3", "\"" FFFD "\"");
    EXPECT_STRING("\xc3\xc3\xa9", "\"" FFFD "\xc3\xa9\"");
    /* The example of Unicode 15 table 3-8. */
    EXPECT_STRING("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
                  "\"a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d\"");
}

static void test_escape_into_buffer(void **state)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    assert_int_equal(cdc_jsonw_escape(&b, "a\"\n\xff", 4), CDC_OK);
    assert_string_equal(b.data, "a\\\"\\n" FFFD);
    assert_int_equal(cdc_jsonw_escape(&b, NULL, 0), CDC_OK);
    assert_int_equal(b.len, 8);
    cdc_buf_free(&b);
}

static void test_long_string_grows_buffer(void **state)
{
    /* Every byte expands to 6: the buffer has to grow during escaping. */
    size_t n = 100000;
    char *in = malloc(n);
    assert_non_null(in);
    memset(in, 0x01, n);
    in[n - 1] = 'z';
    char *got = string_json(in, n);
    size_t len = strlen(got);
    assert_int_equal(len, 2 + (n - 1) * 6 + 1);
    assert_memory_equal(got, "\"\\u0001\\u0001", 13);
    assert_memory_equal(got + len - 8, "\\u0001z\"", 8);
    free(got);
    free(in);
}

/*
 * The escaper copies plain ASCII a machine word at a time: every special
 * byte at every offset of the first words (start, end, straddling a word
 * boundary) of strings of every length up to three words, with exact
 * expected bytes.
 */
static void test_escapes_at_every_offset(void **state)
{
    static const char clean[] = "The quick/brown~fox 1234{}[]:,";
    static const struct {
        const char *in;
        size_t in_len;
        const char *out;
    } special[] = {
        {"\"", 1, "\\\""},
        {"\\", 1, "\\\\"},
        {"\n", 1, "\\n"},
        {"\t", 1, "\\t"},
        {"\x00", 1, "\\u0000"},
        {"\x01", 1, "\\u0001"},
        {"\x1f", 1, "\\u001F"},
        {"\x7f", 1, "\x7f"},                        /* DEL: as is */
        {"\xc3\xa9", 2, "\xc3\xa9"},                /* valid: as is */
        {"\xe2\x82\xac", 3, "\xe2\x82\xac"},
        {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},
        {"\xff", 1, FFFD},                          /* invalid: U+FFFD */
        {"\xe2\x82", 2, FFFD},                      /* truncated */
        {"\"\"", 2, "\\\"\\\""},                    /* adjacent */
        {"\\\n\x02", 3, "\\\\\\n\\u0002"},
    };
    char in[64], expected[96];
    for (size_t k = 0; k < sizeof(special) / sizeof(special[0]); k++) {
        size_t xl = special[k].in_len, el = strlen(special[k].out);
        for (size_t n = 0; n <= 24; n++) {
            for (size_t pos = 0; pos <= n; pos++) {
                memcpy(in, clean, pos);
                memcpy(in + pos, special[k].in, xl);
                memcpy(in + pos + xl, clean + pos, n - pos);
                size_t e = 0;
                expected[e++] = '"';
                memcpy(expected + e, clean, pos);
                e += pos;
                memcpy(expected + e, special[k].out, el);
                e += el;
                memcpy(expected + e, clean + pos, n - pos);
                e += n - pos;
                expected[e++] = '"';
                expected[e] = '\0';
                char *got = string_json(in, n + xl);
                if (strcmp(got, expected) != 0)
                    fail_msg("special %zu at %zu of %zu: got %s, want %s", k,
                             pos, n, got, expected);
                free(got);
            }
        }
    }
}

static void test_adjacent_escapes(void **state)
{
    EXPECT_STRING("\"\"\"\"\"\"\"\"\"\"", /* ten: across a word boundary */
                  "\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\"");
    EXPECT_STRING("\\\\\\\\\\\\\\\\\\", /* nine */
                  "\"\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\"");
    EXPECT_STRING("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a",
                  "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t"
                  "\\n\"");
    EXPECT_STRING("\"\\\n\r\t\b\f\x1e", "\"\\\"\\\\\\n\\r\\t\\b\\f\\u001E\"");
    EXPECT_STRING("\xff\"\xc3\xa9\\\x80",
                  "\"" FFFD "\\\"\xc3\xa9\\\\" FFFD "\"");
    EXPECT_STRING("abcdefg\"hijklmno\\", "\"abcdefg\\\"hijklmno\\\\\"");
}

/* Every control byte, and DEL, inside strings longer than a word. */
static void test_control_bytes_in_runs(void **state)
{
    static const size_t positions[] = {0, 3, 7, 8, 9, 15};
    for (int c = 0; c <= 0x7f; c++) {
        if (c == 0x20)
            c = 0x7f;
        char esc[8];
        switch (c) {
        case '\b': strcpy(esc, "\\b"); break;
        case '\f': strcpy(esc, "\\f"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\r': strcpy(esc, "\\r"); break;
        case '\t': strcpy(esc, "\\t"); break;
        case 0x7f: strcpy(esc, "\x7f"); break;
        default: snprintf(esc, sizeof(esc), "\\u%04X", c);
        }
        for (size_t k = 0; k < sizeof(positions) / sizeof(*positions); k++) {
            char in[17] = "abcdefghijklmnop", expected[40];
            size_t pos = positions[k];
            in[pos] = (char)c;
            snprintf(expected, sizeof(expected), "\"%.*s%s%s\"", (int)pos,
                     in, esc, in + pos + 1);
            char *got = string_json(in, 16);
            assert_string_equal(got, expected);
            free(got);
        }
    }
}

/*
 * Long plain runs and escapes into buffers holding 0..200 bytes already, so
 * the growth (on entry, and when an escape needs room) falls at every
 * offset; the previous content stays and the result is NUL-terminated.
 */
static void test_escape_growth_at_every_offset(void **state)
{
    char in[400], expected[600];
    size_t n = 0, e = 0;
    for (size_t i = 0; i < 150; i++, n++, e++)
        in[n] = expected[e] = (char)('a' + i % 26);
    memcpy(in + n, "\"\x01", 2);
    n += 2;
    memcpy(expected + e, "\\\"\\u0001", 8);
    e += 8;
    for (size_t i = 0; i < 120; i++, n++, e++)
        in[n] = expected[e] = (char)('0' + i % 10);
    in[n++] = '\n';
    memcpy(expected + e, "\\n", 2);
    e += 2;

    for (size_t prefix = 0; prefix <= 200; prefix++) {
        for (size_t len = 0; len <= n; len = len < 160 ? len + 1
                                           : len < n - 3 ? n - 3 : len + 1) {
            cdc_buf_t b;
            cdc_buf_init(&b);
            for (size_t i = 0; i < prefix; i++)
                assert_int_equal(cdc_buf_putc(&b, 'p'), CDC_OK);
            assert_int_equal(cdc_jsonw_escape(&b, in, len), CDC_OK);
            /* The expected text for the first len input bytes. */
            size_t elen = len <= 150 ? len
                        : len == 151 ? 152
                        : len <= 272 ? len + 6
                                     : e;
            assert_int_equal(b.len, prefix + elen);
            assert_int_equal(strlen(b.data), b.len);
            for (size_t i = 0; i < prefix; i++)
                assert_int_equal(b.data[i], 'p');
            assert_memory_equal(b.data + prefix, expected, elen);
            cdc_buf_free(&b);
        }
    }

    /* A plain run far longer than the buffer: one copy, exact bytes. */
    size_t big = 100003;
    char *plain = malloc(big);
    assert_non_null(plain);
    for (size_t i = 0; i < big; i++)
        plain[i] = (char)('#' + i % 90); /* no '"'; '\\' replaced */
    for (size_t i = 0; i < big; i++)
        if (plain[i] == '\\')
            plain[i] = '/';
    char *got = string_json(plain, big);
    assert_int_equal(strlen(got), big + 2);
    assert_memory_equal(got + 1, plain, big);
    assert_int_equal(got[big + 1], '"');
    free(got);
    free(plain);
}

static void test_numbers(void **state)
{
    static const char *valid[] = {
        "0", "-0", "1", "-1", "10", "1234567890", "0.5", "-0.5", "1.25",
        "1e5", "1E5", "1e+5", "1e-5", "1.5e+300", "-12.75E-2", "0e0",
        "4.9e-324", "3.4028235e+38", "9223372036854775807",
    };
    static const char *invalid[] = {
        "", "-", "+1", "01", "-01", "00", ".5", "5.", "1.e5", "1e", "1e+",
        "1e-", "0x10", "NaN", "Infinity", "-Infinity", "1 ", " 1", "1,0",
        "--1", "1.2.3", "1e5e5", "١",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        assert_true(cdc_jsonw_number_valid(valid[i], strlen(valid[i])));
        cdc_buf_t b;
        cdc_buf_init(&b);
        cdc_jsonw_t w;
        cdc_jsonw_init(&w, &b);
        assert_int_equal(cdc_jsonw_number(&w, valid[i], strlen(valid[i])),
                         CDC_OK);
        assert_string_equal(b.data, valid[i]);
        cdc_buf_free(&b);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (cdc_jsonw_number_valid(invalid[i], strlen(invalid[i])))
            fail_msg("accepted invalid number \"%s\"", invalid[i]);
        cdc_buf_t b;
        cdc_buf_init(&b);
        cdc_jsonw_t w;
        cdc_jsonw_init(&w, &b);
        assert_int_equal(cdc_jsonw_number(&w, invalid[i], strlen(invalid[i])),
                         CDC_ERR_PARSE);
        assert_int_equal(b.len, 0);
        assert_int_equal(cdc_jsonw_finish(&w), CDC_ERR_PARSE);
        cdc_buf_free(&b);
    }
}

static void test_ints(void **state)
{
    const struct {
        int64_t v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {7, "7"},
        {-7, "-7"},
        {9, "9"},
        {10, "10"},
        {-10, "-10"},
        {99, "99"},
        {100, "100"},
        {101, "101"},
        {-999, "-999"},
        {1000, "1000"},
        {20240115, "20240115"},
        {1705314605123, "1705314605123"},
        {1000000000000000000, "1000000000000000000"},
        {INT64_MAX - 1, "9223372036854775806"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cdc_buf_t b;
        cdc_buf_init(&b);
        cdc_jsonw_t w;
        cdc_jsonw_init(&w, &b);
        assert_int_equal(cdc_jsonw_int(&w, cases[i].v), CDC_OK);
        assert_string_equal(b.data, cases[i].text);
        cdc_buf_free(&b);
    }
}

static void test_raw_and_string_parts(void **state)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    cdc_jsonw_array_begin(&w);
    char *p = cdc_jsonw_raw(&w, 4);
    assert_non_null(p);
    memcpy(p, "\"AQ\"", 4);
    cdc_jsonw_string_open(&w);
    cdc_jsonw_string_part(&w, "a\"", 2);
    cdc_jsonw_string_part(&w, "", 0);
    cdc_jsonw_string_part(&w, "\n\xc3\xa9", 3);
    cdc_jsonw_string_close(&w);
    cdc_jsonw_raw(&w, 0 + 1)[0] = '1';
    cdc_jsonw_array_end(&w);
    assert_int_equal(cdc_jsonw_finish(&w), CDC_OK);
    assert_string_equal(b.data, "[\"AQ\",\"a\\\"\\n\xc3\xa9\",1]");
    cdc_buf_free(&b);
}

/* Run one misuse scenario; the first bad call must fail and stick. */
static void expect_misuse(int scenario)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    cdc_err_t err = CDC_OK;

    switch (scenario) {
    case 0: /* value without key inside an object */
        cdc_jsonw_object_begin(&w);
        err = cdc_jsonw_int(&w, 1);
        break;
    case 1: /* key inside an array */
        cdc_jsonw_array_begin(&w);
        err = cdc_jsonw_key_str(&w, "k");
        break;
    case 2: /* two keys in a row */
        cdc_jsonw_object_begin(&w);
        cdc_jsonw_key_str(&w, "k");
        err = cdc_jsonw_key_str(&w, "k2");
        break;
    case 3: /* closing the wrong container */
        cdc_jsonw_array_begin(&w);
        err = cdc_jsonw_object_end(&w);
        break;
    case 4: /* closing an object after a dangling key */
        cdc_jsonw_object_begin(&w);
        cdc_jsonw_key_str(&w, "k");
        err = cdc_jsonw_object_end(&w);
        break;
    case 5: /* a second top-level value */
        cdc_jsonw_null(&w);
        err = cdc_jsonw_null(&w);
        break;
    case 6: /* closing with nothing open */
        err = cdc_jsonw_array_end(&w);
        break;
    case 7: /* a value while a string is open */
        cdc_jsonw_array_begin(&w);
        cdc_jsonw_string_open(&w);
        err = cdc_jsonw_int(&w, 1);
        break;
    case 8: /* a string part without string_open */
        err = cdc_jsonw_string_part(&w, "x", 1);
        break;
    case 9: /* too deep */
        for (int i = 0; i < CDC_JSONW_MAX_DEPTH; i++)
            assert_int_equal(cdc_jsonw_array_begin(&w), CDC_OK);
        err = cdc_jsonw_array_begin(&w);
        break;
    }
    assert_int_equal(err, CDC_ERR_INVALID_ARG);
    size_t len = b.len;
    /* Sticky: nothing further is written, everything reports the error. */
    assert_int_equal(cdc_jsonw_null(&w), CDC_ERR_INVALID_ARG);
    assert_int_equal(cdc_jsonw_array_end(&w), CDC_ERR_INVALID_ARG);
    assert_null(cdc_jsonw_raw(&w, 3));
    assert_int_equal(b.len, len);
    assert_int_equal(cdc_jsonw_finish(&w), CDC_ERR_INVALID_ARG);
    cdc_buf_free(&b);
}

static void test_misuse(void **state)
{
    for (int i = 0; i < 10; i++)
        expect_misuse(i);
}

static void test_finish_incomplete(void **state)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    assert_int_equal(cdc_jsonw_finish(&w), CDC_ERR_INVALID_ARG); /* empty */
    cdc_jsonw_object_begin(&w);
    assert_int_equal(cdc_jsonw_finish(&w), CDC_ERR_INVALID_ARG);
    cdc_jsonw_object_end(&w);
    assert_int_equal(cdc_jsonw_finish(&w), CDC_OK);
    cdc_buf_free(&b);

    cdc_buf_init(&b);
    cdc_jsonw_init(&w, &b);
    cdc_jsonw_string_open(&w);
    assert_int_equal(cdc_jsonw_finish(&w), CDC_ERR_INVALID_ARG);
    cdc_buf_free(&b);
}

static void test_max_depth(void **state)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    for (int i = 0; i < CDC_JSONW_MAX_DEPTH; i++) {
        if (i % 2) {
            cdc_jsonw_object_begin(&w);
            cdc_jsonw_key_str(&w, "k");
        } else {
            cdc_jsonw_array_begin(&w);
            cdc_jsonw_int(&w, i);
        }
    }
    cdc_jsonw_null(&w); /* the innermost object's member */
    for (int i = CDC_JSONW_MAX_DEPTH - 1; i >= 0; i--) {
        if (i % 2)
            cdc_jsonw_object_end(&w);
        else
            cdc_jsonw_array_end(&w);
    }
    assert_int_equal(cdc_jsonw_finish(&w), CDC_OK);
    json_error_t jerr;
    json_t *j = json_loads(b.data, 0, &jerr);
    if (!j)
        fail_msg("jansson rejected deep output: %s", jerr.text);
    json_decref(j);
    cdc_buf_free(&b);
}

/* ---- randomized differential test against jansson ----------------------- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift64*: fixed seed, so failures reproduce. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32);
}

static size_t put_utf8(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Reference decoder, written independently of the writer's tables: a
 * sequence is well formed when its bits decode to a scalar value that needs
 * exactly that many bytes; an ill-formed one is replaced by one U+FFFD per
 * maximal prefix that some continuation could still complete.
 */
static int seq_len_of_lead(unsigned char c)
{
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 0;
}

static int decodes_ok(const unsigned char *p, int n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t cp = p[0] & (0x7F >> n);
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3F);
    }
    return cp >= min_cp[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

static int prefix_completable(const unsigned char *p, int k, int n)
{
    unsigned char t[4];
    memcpy(t, p, (size_t)k);
    for (int c = 0x80; c <= 0xBF; c++) {
        for (int fill = 0; fill < 2; fill++) {
            t[k] = (unsigned char)c;
            for (int j = k + 1; j < n; j++)
                t[j] = fill ? 0xBF : 0x80;
            if (decodes_ok(t, n))
                return 1;
        }
    }
    return 0;
}

static size_t reference_decode(const unsigned char *s, size_t len,
                               unsigned char *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        int n = seq_len_of_lead(s[i]);
        if (s[i] < 0x80) {
            out[o++] = s[i++];
            continue;
        }
        if (n && i + (size_t)n <= len && decodes_ok(s + i, n)) {
            memcpy(out + o, s + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
            continue;
        }
        size_t skip = 1;
        for (int k = n - 1; k >= 1; k--) {
            if (i + (size_t)k <= len && prefix_completable(s + i, k, n)) {
                skip = (size_t)k;
                break;
            }
        }
        memcpy(out + o, FFFD, 3);
        o += 3;
        i += skip;
    }
    return o;
}

/* A random byte string biased towards the interesting cases. */
static size_t random_input(unsigned char *s)
{
    size_t len = 0, pieces = rnd() % 24;
    for (size_t i = 0; i < pieces; i++) {
        switch (rnd() % 10) {
        case 0: /* printable ASCII */
        case 1:
            s[len++] = (unsigned char)(0x20 + rnd() % 0x5F);
            break;
        case 2: /* control characters, quote, backslash, DEL */
            s[len++] = "\"\\\x7f\x00\x01\x08\x09\x0a\x0c\x0d\x1f"[rnd() % 11];
            break;
        case 3: { /* a random scalar value */
            uint32_t cp;
            do {
                uint32_t lim[4] = {0x80, 0x800, 0x10000, 0x110000};
                cp = rnd() % lim[rnd() % 4];
            } while (cp >= 0xD800 && cp <= 0xDFFF);
            len += put_utf8(s + len, cp);
            break;
        }
        case 4: /* any byte */
            s[len++] = (unsigned char)rnd();
            break;
        case 5: { /* a truncated valid sequence */
            unsigned char t[4];
            size_t n = put_utf8(t, 0x80 + rnd() % (0x110000 - 0x80));
            size_t keep = n > 1 ? 1 + rnd() % (n - 1) : 1;
            memcpy(s + len, t, keep);
            len += keep;
            break;
        }
        case 6: { /* a surrogate, overlong or too large code point */
            uint32_t cp = rnd() % 3 == 0 ? 0xD800 + rnd() % 0x800
                        : rnd() % 2 ? 0x110000 + rnd() % 0x1000
                                    : rnd() % 0x80;
            if (cp < 0x80) { /* overlong two or three byte form */
                s[len++] = (unsigned char)(0xC0 | cp >> 6);
                s[len++] = (unsigned char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                s[len++] = (unsigned char)(0xE0 | cp >> 12);
                s[len++] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
                s[len++] = (unsigned char)(0x80 | (cp & 0x3F));
            } else {
                len += put_utf8(s + len, cp);
            }
            break;
        }
        case 7: /* continuation bytes */
            s[len++] = (unsigned char)(0x80 + rnd() % 0x40);
            break;
        default: /* lead bytes */
            s[len++] = (unsigned char)(0xC0 + rnd() % 0x40);
            break;
        }
    }
    return len;
}

static void test_random_strings_roundtrip(void **state)
{
    rng_state = UINT64_C(0x9E3779B97F4A7C15);
    unsigned char in[24 * 4], expected[24 * 4 * 3];
    int keys = 0;
    cdc_buf_t b;
    cdc_buf_init(&b);

    for (int iter = 0; iter < 5000; iter++) {
        size_t len = random_input(in);
        size_t elen = reference_decode(in, len, expected);

        /*
         * Inside a structure, as value and as key, to cover both paths
         * (jansson refuses NUL in keys, so those inputs are values only).
         */
        bool as_key = memchr(in, 0, len) == NULL;
        cdc_buf_reset(&b);
        cdc_jsonw_t w;
        cdc_jsonw_init(&w, &b);
        cdc_jsonw_array_begin(&w);
        cdc_jsonw_string(&w, (const char *)in, len);
        cdc_jsonw_object_begin(&w);
        if (as_key) {
            cdc_jsonw_key(&w, (const char *)in, len);
            cdc_jsonw_int(&w, iter);
        }
        cdc_jsonw_object_end(&w);
        cdc_jsonw_array_end(&w);
        assert_int_equal(cdc_jsonw_finish(&w), CDC_OK);

        json_error_t jerr;
        json_t *root = json_loadb(b.data, b.len, JSON_ALLOW_NUL, &jerr);
        if (!root)
            fail_msg("iteration %d: jansson rejected %s: %s", iter, b.data,
                     jerr.text);
        json_t *str = json_array_get(root, 0);
        assert_true(json_is_string(str));
        assert_int_equal(json_string_length(str), elen);
        assert_memory_equal(json_string_value(str), expected, elen);

        json_t *obj = json_array_get(root, 1);
        if (as_key) {
            assert_int_equal(json_object_size(obj), 1);
            json_t *v = json_object_getn(obj, (const char *)expected, elen);
            if (!v)
                fail_msg("iteration %d: key did not round-trip", iter);
            assert_int_equal(json_integer_value(v), iter);
            keys++;
        }
        json_decref(root);
    }
    assert_true(keys > 2500);
    cdc_buf_free(&b);
}

static void test_random_numbers_vs_jansson(void **state)
{
    rng_state = UINT64_C(12345);
    static const char alphabet[] = "-+.eE0123456789001";
    char s[16], doc[32];
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 1 + rnd() % 7;
        for (size_t i = 0; i < len; i++)
            s[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
        s[len] = '\0';
        snprintf(doc, sizeof(doc), "[%s]", s);
        json_error_t jerr;
        json_t *j = json_loads(doc, 0, &jerr);
        /* jansson refuses numbers it cannot represent; JSON allows them. */
        if (!j && (strstr(jerr.text, "overflow") || strstr(jerr.text, "big")))
            continue;
        if ((j != NULL) != cdc_jsonw_number_valid(s, len))
            fail_msg("\"%s\": jansson %s, writer %s", s,
                     j ? "accepts" : "rejects", j ? "rejects" : "accepts");
        accepted += j != NULL;
        json_decref(j);
    }
    assert_true(accepted > 500); /* the alphabet does produce numbers */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_appends_to_existing_content),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_all_control_chars),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_escape_into_buffer),
        cmocka_unit_test(test_long_string_grows_buffer),
        cmocka_unit_test(test_escapes_at_every_offset),
        cmocka_unit_test(test_adjacent_escapes),
        cmocka_unit_test(test_control_bytes_in_runs),
        cmocka_unit_test(test_escape_growth_at_every_offset),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_raw_and_string_parts),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_finish_incomplete),
        cmocka_unit_test(test_max_depth),
        cmocka_unit_test(test_random_strings_roundtrip),
        cmocka_unit_test(test_random_numbers_vs_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
