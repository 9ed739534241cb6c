/*
 * fuzz_cdcrec.c - libFuzzer target for DSQL CDC record parsing, value
 * conversion, reassembly and reordering. Not part of the normal build; run
 * it with
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_cdcrec.c src/source/cdcrec.c src/source/reassembly.c \
 *     src/source/reorder.c src/encode/jsonw.c src/encode/pgtypes.c \
 *     src/common/buf.c src/common/err.c src/common/log.c -ljansson \
 *     -o fuzz_cdcrec
 *   mkdir -p corpus && split -l 1 tests/fixtures/dsql-cdc/records.jsonl corpus/
 *   ./fuzz_cdcrec -max_len=4096 corpus
 *
 * Checked: no crash, leak or sanitizer report; a failed parse says why and
 * leaves an empty record; every converted value the encoder's renderer
 * accepts for its oid (the stream source must never hand encoders text
 * they reject). Reassembly and reorder state carries over between inputs
 * (small limits), so sequences of records are exercised too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "encode/jsonw.h"
#include "encode/pgtypes.h"
#include "source/cdcrec.h"
#include "source/reassembly.h"
#include "source/reorder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t hints[] = {
    0, CDC_PGOID_BOOL, CDC_PGOID_INT2, CDC_PGOID_INT4, CDC_PGOID_INT8,
    CDC_PGOID_FLOAT4, CDC_PGOID_FLOAT8, CDC_PGOID_NUMERIC, CDC_PGOID_DATE,
    CDC_PGOID_TIME, CDC_PGOID_TIMETZ, CDC_PGOID_TIMESTAMP,
    CDC_PGOID_TIMESTAMPTZ, CDC_PGOID_INTERVAL, CDC_PGOID_BYTEA,
    CDC_PGOID_JSON, CDC_PGOID_UUID, CDC_PGOID_TEXT, CDC_PGOID_OID,
};

static void check_value(const cdc_cdcrec_col_t *col, uint32_t hint)
{
    cdc_buf_t text, json;
    cdc_buf_init(&text);
    cdc_buf_init(&json);
    uint32_t oid;
    bool is_null;
    cdc_err_t err = cdc_cdcrec_value_text(col, hint, &text, &oid, &is_null);
    if (err == CDC_ERR_PARSE && hint) {
        if (text.len != 0)
            abort(); /* a refused hint appends nothing */
        err = cdc_cdcrec_value_text(col, 0, &text, &oid, &is_null);
    }
    if (err != CDC_OK)
        abort();
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &json);
    char why[256];
    /* Interval text and unvalidated strings render as strings; anything
     * else must be what its type's output function prints. */
    if (cdc_pgtypes_render(&w, oid, is_null ? NULL : cdc_buf_str(&text),
                           text.len, why, sizeof(why)) != CDC_OK) {
        fprintf(stderr, "oid %u rejects \"%s\": %s\n", oid,
                cdc_buf_str(&text), why);
        abort();
    }
    cdc_buf_free(&text);
    cdc_buf_free(&json);
}

static cdc_err_t on_emit(void *opaque, const cdc_reorder_out_t *out,
                         char *errstr, size_t n)
{
    (void)opaque;
    for (size_t i = 0; i < out->change.ncols; i++) {
        const cdc_column_t *c = &out->change.cols[i];
        if (!c->is_null && (!c->value || c->value[c->len] != '\0'))
            abort();
    }
    return CDC_OK;
}

static cdc_reassembly_t *ra;
static cdc_reorder_t *ro;

static void setup(void)
{
    cdc_log_set_level(CDC_LOG_ERROR);
    cdc_reassembly_limits_t lim = {.max_bytes = 1 << 16, .max_chunks = 8,
                                   .max_age_ms = 100};
    ra = cdc_reassembly_new(&lim, NULL, NULL);
    cdc_reorder_opts_t o = {.window_ms = 3, .retention_ms = 1000,
                            .max_held = 64};
    ro = cdc_reorder_new(&o, on_emit, NULL);
    static const char *const id[] = {"id"};
    static const char *const oi[] = {"order_id", "item_id"};
    cdc_reorder_set_key(ro, "public", "event_headers", id, 1);
    cdc_reorder_set_key(ro, "public", "order_items", oi, 2);
    cdc_reorder_set_type(ro, "public", "event_headers", "created_date",
                         CDC_PGOID_TIMESTAMPTZ);
    cdc_reorder_set_type(ro, "public", "order_items", "price",
                         CDC_PGOID_NUMERIC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int64_t now;
    char err[512];
    if (!ra)
        setup();
    now++;

    cdc_cdcrec_t rec;
    if (cdc_cdcrec_parse(data, size, &rec, err, sizeof(err)) != CDC_OK) {
        if (rec.root || strncmp(err, "CDC record (", 12) != 0)
            abort();
        return 0;
    }
    const cdc_cdcrec_image_t *imgs[2] = {&rec.before, &rec.after};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < imgs[k]->ncols; i++)
            for (size_t h = 0; h < sizeof(hints) / sizeof(hints[0]); h++)
                check_value(&imgs[k]->cols[i], hints[h]);

    cdc_reorder_result_t res;
    if (rec.type == CDC_CDCREC_FULL) {
        cdc_reorder_push(ro, &rec, 0, now, &res, err, sizeof(err));
    } else {
        cdc_reasm_result_t ares;
        cdc_reassembly_out_t out;
        cdc_reassembly_out_init(&out);
        if (cdc_reassembly_add(ra, &rec, 0, now, &ares, &out, err,
                               sizeof(err)) == CDC_OK &&
            ares == CDC_REASM_COMPLETE) {
            if (out.rec.chunk_after.present)
                cdc_reassembly_release(ra, out.rec.chunk_after.chunk_id);
            cdc_reorder_push(ro, &out.rec, out.pos, now, &res, err,
                             sizeof(err));
        }
        cdc_reassembly_out_clear(&out);
        cdc_reassembly_expire(ra, now);
    }
    if (rec.root)
        abort(); /* both take the record, whatever happens */
    cdc_reorder_release(ro, now, err, sizeof(err));
    json_t *st = cdc_reorder_export(ro);
    json_decref(st);
    return 0;
}
