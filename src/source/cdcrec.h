/*
 * cdcrec.h - one Aurora DSQL native CDC record (the JSON in the Data blob of
 * one Kinesis record): its envelope, read exactly, and the conversion of its
 * column values back into PostgreSQL text output + a type oid, the form
 * source/change.h carries, so the stream source feeds the encoders the same
 * values the poller does.
 *
 * Does not own fragment reassembly (source/reassembly.h), ordering or
 * de-duplication (source/reorder.h), or reading Kinesis (source/kinesis.h).
 * Format: testdata/dsql-cdc/SPEC.md.
 */
#ifndef CDC_SOURCE_CDCREC_H
#define CDC_SOURCE_CDCREC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef enum {
    CDC_CDCREC_FULL = 0, /* everything inline */
    CDC_CDCREC_CHUNKED,  /* main record; an image is in fragments */
    CDC_CDCREC_FRAGMENT, /* one piece of a split image */
} cdc_cdcrec_type_t;

typedef enum {
    CDC_CDCREC_OP_NONE = 0,      /* fragments carry no op */
    CDC_CDCREC_OP_CREATE = 'c',
    CDC_CDCREC_OP_UPDATE = 'u',
    CDC_CDCREC_OP_DELETE = 'd',
    CDC_CDCREC_OP_OTHER = '?',   /* any other string: see op_str */
} cdc_cdcrec_op_t;

/*
 * One column of a row image, in the order the record lists them. raw is the
 * exact JSON text the record holds for a non-integer number, an array or an
 * object (jansson keeps reals only as doubles, which would lose the text);
 * NULL for other values.
 */
typedef struct {
    const char *name;
    const json_t *value; /* JSON null for a NULL column */
    const char *raw;
    size_t raw_len;
} cdc_cdcrec_col_t;

/* A before or after image. obj NULL when the record has null (or none). */
typedef struct {
    json_t *obj;
    cdc_cdcrec_col_t *cols;
    size_t ncols;
    char *raw_store; /* private: holds the cols' raw texts */
} cdc_cdcrec_image_t;

/* chunked.before / chunked.after of a main record. */
typedef struct {
    bool present;
    const char *chunk_id;
    uint32_t total_fragments; /* >= 1 */
    uint32_t crc32c;          /* of the reassembled image text */
} cdc_cdcrec_chunkref_t;

/*
 * A parsed record. Every pointer in it (strings, json_t, columns) is owned
 * by the record and valid until cdc_cdcrec_clear(); json_t pointers are
 * borrowed references into root. A record may be moved by copying the
 * struct, after which only the copy is cleared.
 */
typedef struct {
    cdc_cdcrec_type_t type;
    cdc_cdcrec_op_t op;        /* NONE for fragments */
    const char *op_str;        /* the op as written ("c", "x"); NULL for
                                  fragments */
    cdc_cdcrec_image_t before;
    cdc_cdcrec_image_t after;
    struct {
        const char *schema;    /* required */
        const char *table;     /* required */
        const char *tx_id;     /* required */
        int64_t ts_ns;         /* commit time, required, exact */
        int64_t ts_ms;         /* -1 when absent */
        const char *version;   /* NULL when absent */
        const char *db;
        const char *cluster;
    } source;                  /* all zero/NULL for fragments */
    int64_t ts_ns;             /* top level: when CDC processed the record; */
    int64_t ts_ms;             /*   -1 when absent */
    /* Main records; kept after reassembly (type then FULL) so a caller can
     * tell which chunks the record was rebuilt from. */
    cdc_cdcrec_chunkref_t chunk_before;
    cdc_cdcrec_chunkref_t chunk_after;
    struct {
        const char *chunk_id;
        uint32_t index;        /* 0-based */
        const char *data;      /* a piece of the image's JSON text */
        size_t len;
        json_t *json;          /* the data as a jansson string (borrowed) */
    } frag;                    /* fragments only */
    json_t *root;
} cdc_cdcrec_t;

/* Longest total_fragments accepted by the parser. */
#define CDC_CDCREC_MAX_FRAGMENTS 65536

/* An empty record (safe to clear). */
void cdc_cdcrec_init(cdc_cdcrec_t *r);
/* Free what r owns and make it empty again. NULL ok. */
void cdc_cdcrec_clear(cdc_cdcrec_t *r);

/*
 * Parse one payload (borrowed; need not be NUL-terminated) into *out (which
 * is overwritten, not cleared). Strict: one JSON object, no duplicate keys,
 * source.ts_ns and every other integer read as int64 without a double in
 * between (a real, a string or an out-of-range number is rejected), crc32c
 * a decimal string (or integer) within uint32. Unknown keys are ignored.
 * CDC_ERR_PARSE with errstr naming what is wrong, and the record's table and
 * txId when they can be found; *out is then empty. CDC_ERR_NOMEM.
 */
cdc_err_t cdc_cdcrec_parse(const void *data, size_t len, cdc_cdcrec_t *out,
                           char *errstr, size_t errstr_size);

/*
 * Install a reassembled image: parse text (the concatenated fragments) as a
 * JSON object and make it r's before or after image. r keeps its chunk
 * references; its type becomes FULL once no chunked image is left missing.
 * CDC_ERR_PARSE (errstr names the record) leaves r unchanged.
 */
cdc_err_t cdc_cdcrec_set_image(cdc_cdcrec_t *r, bool after, const char *text,
                               size_t len, char *errstr, size_t errstr_size);

/* "full", "chunked", "fragment". */
const char *cdc_cdcrec_type_name(cdc_cdcrec_type_t type);

/* "public.event_headers txId aaqs..." (or "fragment <chunk>[i]") for
 * messages; always NUL-terminated. */
void cdc_cdcrec_describe(const cdc_cdcrec_t *r, char *dst, size_t n);

/* The column called name in img, NULL if absent. */
const cdc_cdcrec_col_t *cdc_cdcrec_image_col(const cdc_cdcrec_image_t *img,
                                             const char *name);

/*
 * Append one column value to out as PostgreSQL text output (the session
 * settings of change.h) and set its type oid, or set *is_null (nothing
 * appended). hint_oid is the column's type from the catalog or config, 0
 * when unknown.
 *
 * With a hint (JSON encodings of SPEC.md "Column values"):
 *   bool        true/false -> "t"/"f"
 *   int2 int4 int8 oid     integer -> decimal (range-checked)
 *   float4 float8          number -> its exact JSON text; "NaN",
 *                          "Infinity", "-Infinity" strings as is
 *   numeric     decimal string (or number) -> as is
 *   date        days since 1970-01-01 -> "2026-07-10" (" BC" suffix)
 *   time        microseconds since midnight -> "10:00:00.12"
 *   timetz      microseconds since midnight UTC -> "10:00:00.12+00"
 *   timestamp   microseconds since the epoch -> "2026-07-10 10:00:00.12"
 *   timestamptz same, UTC -> "2026-07-10 10:00:00.12+00"; DSQL's infinity
 *               sentinels (and anything outside PostgreSQL's range) ->
 *               "infinity" / "-infinity"
 *   interval    microseconds -> "[-]HH:MM:SS[.f]" (DSQL sends only a total,
 *               months and days are gone)
 *   bytea       base64 -> "\x" + hex
 *   json jsonb  string -> as is (it already holds the JSON text)
 *   other types string -> as is
 * Without a hint (0), inferred from the JSON value: integer -> int8, other
 * number -> float8 (exact text), true/false -> bool, string -> text, array
 * or object -> its JSON text as json, null -> NULL. A timestamp, date or
 * bytea column cannot be recognised without a hint: it comes out as int8 or
 * text, so callers give hints for such columns.
 *
 * CDC_ERR_PARSE when the value does not fit the hint (nothing appended; the
 * caller may count it and retry with hint 0, which only fails on
 * CDC_ERR_NOMEM).
 */
cdc_err_t cdc_cdcrec_value_text(const cdc_cdcrec_col_t *col,
                                uint32_t hint_oid, cdc_buf_t *out,
                                uint32_t *oid, bool *is_null);

#endif
