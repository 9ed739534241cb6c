/*
 * fuzz_encode.c - libFuzzer target for the JSON writer, the per-type value
 * renderer and the flat encoder. Not part of the normal build; run it with
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -include stdint.h -Isrc tests/fuzz/fuzz_encode.c \
 *     src/encode/jsonw.c src/encode/pgtypes.c src/encode/flat.c \
 *     src/common/buf.c src/common/err.c -ljansson -o fuzz_encode
 *   ./fuzz_encode -max_len=512
 *
 * Input: first byte picks a type oid, the rest is the column value. Checked:
 * no crash or sanitizer report; whatever is produced parses as JSON (jansson);
 * a failed encode leaves the buffer as it was and says why.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "encode/flat.h"
#include "encode/jsonw.h"
#include "encode/pgtypes.h"

static const uint32_t oids[] = {
    CDC_PGOID_BOOL, CDC_PGOID_BYTEA, CDC_PGOID_INT2, CDC_PGOID_INT4,
    CDC_PGOID_INT8, CDC_PGOID_TEXT, CDC_PGOID_OID, CDC_PGOID_JSONB,
    CDC_PGOID_FLOAT4, CDC_PGOID_FLOAT8, CDC_PGOID_NUMERIC, CDC_PGOID_DATE,
    CDC_PGOID_TIME, CDC_PGOID_TIMESTAMP, CDC_PGOID_TIMESTAMPTZ,
    CDC_PGOID_TIMETZ, CDC_PGOID_INTERVAL, CDC_PGOID_UUID,
    CDC_PGOID_BOOL_ARRAY, CDC_PGOID_BYTEA_ARRAY, CDC_PGOID_INT4_ARRAY,
    CDC_PGOID_TEXT_ARRAY, CDC_PGOID_FLOAT8_ARRAY, CDC_PGOID_NUMERIC_ARRAY,
    CDC_PGOID_DATE_ARRAY, CDC_PGOID_TIMESTAMPTZ_ARRAY, CDC_PGOID_JSONB_ARRAY,
    424242,
};

/* big_ok: float text may hold integers or exponents beyond jansson's range. */
static void must_parse(const cdc_buf_t *b, bool big_ok)
{
    json_error_t jerr;
    json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                           &jerr);
    if (!j && big_ok && (strstr(jerr.text, "real number overflow") ||
                         strstr(jerr.text, "too big")))
        return;
    if (!j) {
        fprintf(stderr, "invalid JSON: %s\n%s\n", jerr.text, b->data);
        abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t oid = oids[data[0] % (sizeof(oids) / sizeof(oids[0]))];
    const char *val = (const char *)data + 1;
    size_t len = size - 1;

    /* The writer alone: any bytes make a valid JSON string. */
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    if (cdc_jsonw_string(&w, val, len) != CDC_OK)
        abort();
    must_parse(&b, false);

    /* The flat record for a one-column row of that type. */
    cdc_buf_reset(&b);
    cdc_buf_puts(&b, "x");
    cdc_column_t col = {"c", oid, val, len, false, true};
    cdc_change_t ch = {"public", "t", CDC_OP_CREATE, 1, &col, 1};
    char errstr[256] = "";
    cdc_err_t err = cdc_flat_encode_value(&ch, &b, errstr, sizeof(errstr));
    if (err == CDC_OK) {
        cdc_buf_t rec = {b.data + 1, b.len - 1, 0};
        must_parse(&rec, oid == CDC_PGOID_FLOAT4 || oid == CDC_PGOID_FLOAT8 ||
                             oid == CDC_PGOID_FLOAT8_ARRAY);
    } else if (err != CDC_ERR_ENCODE || b.len != 1 || strcmp(b.data, "x") ||
               strncmp(errstr, "table public.t column c: invalid ", 33)) {
        fprintf(stderr, "bad failure: %d len=%zu errstr=%s\n", err, b.len,
                errstr);
        abort();
    }
    cdc_buf_free(&b);
    return 0;
}
