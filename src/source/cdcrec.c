/*
 * cdcrec.c - DSQL CDC record parsing and value conversion (see cdcrec.h).
 *
 * jansson validates the document and gives the values. Integers come out of
 * it as json_int_t (long long, parsed with strtoll), so 19-digit nanosecond
 * timestamps stay exact; reals it keeps only as doubles, so a small scanner
 * walks the (already validated) text once more to keep the exact text of
 * each image column that is a real, an array or an object.
 */
#include "source/cdcrec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "encode/pgtypes.h"

#define USECS_PER_SEC INT64_C(1000000)
#define USECS_PER_DAY INT64_C(86400000000)
/* PostgreSQL's timestamp range: [4714-11-24 BC, 294277-01-01) UTC. DSQL's
 * infinity sentinels (and INT64_MIN/MAX) fall outside it. */
#define PG_MIN_TIMESTAMP INT64_C(-211813488000000000)
#define PG_END_TIMESTAMP INT64_C(9223371331200000000)

void cdc_cdcrec_init(cdc_cdcrec_t *r)
{
    memset(r, 0, sizeof(*r));
    r->source.ts_ms = -1;
    r->ts_ns = -1;
    r->ts_ms = -1;
}

static void image_clear(cdc_cdcrec_image_t *img)
{
    free(img->cols);
    free(img->raw_store);
    memset(img, 0, sizeof(*img));
}

void cdc_cdcrec_clear(cdc_cdcrec_t *r)
{
    if (!r)
        return;
    image_clear(&r->before);
    image_clear(&r->after);
    json_decref(r->root);
    cdc_cdcrec_init(r);
}

const char *cdc_cdcrec_type_name(cdc_cdcrec_type_t type)
{
    switch (type) {
    case CDC_CDCREC_FULL: return "full";
    case CDC_CDCREC_CHUNKED: return "chunked";
    case CDC_CDCREC_FRAGMENT: return "fragment";
    }
    return "?";
}

void cdc_cdcrec_describe(const cdc_cdcrec_t *r, char *dst, size_t n)
{
    if (n == 0)
        return;
    if (r->type == CDC_CDCREC_FRAGMENT)
        snprintf(dst, n, "fragment %s[%" PRIu32 "]",
                 r->frag.chunk_id ? r->frag.chunk_id : "?", r->frag.index);
    else
        snprintf(dst, n, "%s.%s txId %s",
                 r->source.schema ? r->source.schema : "?",
                 r->source.table ? r->source.table : "?",
                 r->source.tx_id ? r->source.tx_id : "?");
}

const cdc_cdcrec_col_t *cdc_cdcrec_image_col(const cdc_cdcrec_image_t *img,
                                             const char *name)
{
    for (size_t i = 0; i < img->ncols; i++)
        if (strcmp(img->cols[i].name, name) == 0)
            return &img->cols[i];
    return NULL;
}

/* ---- errors ------------------------------------------------------------- */

/* "CDC record (<ctx>): <message>" as CDC_ERR_PARSE. */
static cdc_err_t fail(char *errstr, size_t n, const char *ctx,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cdc_err_t fail(char *errstr, size_t n, const char *ctx,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cdc_err_set(errstr, n, CDC_ERR_PARSE, "CDC record (%s): %s", ctx,
                       msg);
}

/*
 * Find "key": "<value>" in text that may be truncated or broken, for error
 * messages only: printable ASCII without escapes, at most 64 bytes.
 */
static bool sniff(const char *s, size_t len, const char *key, char *dst,
                  size_t n)
{
    size_t klen = strlen(key);
    const char *end = s + len;
    for (const char *p = s; p && p < end;) {
        p = memmem(p, (size_t)(end - p), key, klen);
        if (!p)
            break;
        const char *q = p + klen;
        p = q;
        while (q < end && (*q == ' ' || *q == ':' || *q == '\t'))
            q++;
        if (q >= end || *q != '"' || q == p)
            continue;
        q++;
        size_t o = 0;
        while (q < end && *q != '"' && o + 1 < n && o < 64) {
            if (*q < 0x20 || *q > 0x7e || *q == '\\')
                return false;
            dst[o++] = *q++;
        }
        dst[o] = '\0';
        return o > 0;
    }
    return false;
}

static void sniff_ctx(const char *s, size_t len, char *ctx, size_t n)
{
    char schema[72], table[72], tx[72], chunk[72];
    bool hs = sniff(s, len, "\"schema\"", schema, sizeof(schema));
    bool ht = sniff(s, len, "\"table\"", table, sizeof(table));
    bool hx = sniff(s, len, "\"txId\"", tx, sizeof(tx));
    if (ht || hx)
        snprintf(ctx, n, "%s%s%s txId %s", hs ? schema : "", hs ? "." : "",
                 ht ? table : "?", hx ? tx : "?");
    else if (sniff(s, len, "\"chunk_id\"", chunk, sizeof(chunk)))
        snprintf(ctx, n, "fragment %s", chunk);
    else
        snprintf(ctx, n, "table unknown");
}

static const char *jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* ---- exact text of values (scanner over validated JSON) ----------------- */

typedef struct {
    const char *p;
    size_t len;
} span_t;

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"': just past the closing quote, or NULL. */
static const char *skip_str(const char *p, const char *e)
{
    p++;
    while (p < e) {
        if (*p == '\\') {
            if (e - p < 2)
                return NULL;
            p += 2;
            continue;
        }
        if (*p == '"')
            return p + 1;
        p++;
    }
    return NULL;
}

static const char *skip_val(const char *p, const char *e)
{
    if (p >= e)
        return NULL;
    if (*p == '"')
        return skip_str(p, e);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < e) {
            char c = *p;
            if (c == '"') {
                if (!(p = skip_str(p, e)))
                    return NULL;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
           *p != '\t' && *p != '\n' && *p != '\r')
        p++;
    return p;
}

/*
 * Value text of each member of the object at p, in order, into out[0..n-1].
 * jansson has accepted the text (no duplicate keys) and keeps insertion
 * order, so member i here is member i of its object. False when the text
 * does not hold an object of exactly n members.
 */
static bool member_spans(const char *p, const char *e, span_t *out, size_t n)
{
    p = skip_ws(p, e);
    if (p >= e || *p != '{')
        return false;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}')
        return n == 0;
    for (size_t i = 0;; i++) {
        if (p >= e || *p != '"' || !(p = skip_str(p, e)))
            return false;
        p = skip_ws(p, e);
        if (p >= e || *p != ':')
            return false;
        p = skip_ws(p + 1, e);
        const char *v = p;
        if (!(p = skip_val(p, e)) || p == v || i >= n)
            return false;
        out[i].p = v;
        out[i].len = (size_t)(p - v);
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        return p < e && *p == '}' && i + 1 == n;
    }
}

static bool wants_raw(const json_t *v)
{
    return json_is_real(v) || json_is_array(v) || json_is_object(v);
}

/* Fill img from obj (a borrowed reference). text/len: obj's JSON text when
 * known (NULL otherwise), for the exact text of reals and containers. */
static cdc_err_t image_build(cdc_cdcrec_image_t *img, json_t *obj,
                             const char *text, size_t len)
{
    size_t n = json_object_size(obj);
    cdc_cdcrec_col_t *cols = calloc(n ? n : 1, sizeof(*cols));
    span_t *spans = text && n ? malloc(n * sizeof(*spans)) : NULL;
    if (!cols || (text && n && !spans)) {
        free(cols);
        free(spans);
        return CDC_ERR_NOMEM;
    }
    bool have = spans && member_spans(text, text + len, spans, n);
    size_t i = 0, raw_total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        cols[i].name = k;
        cols[i].value = v;
        if (have && wants_raw(v))
            raw_total += spans[i].len + 1;
        i++;
    }
    char *store = NULL;
    if (raw_total) {
        if (!(store = malloc(raw_total))) {
            free(cols);
            free(spans);
            return CDC_ERR_NOMEM;
        }
        char *o = store;
        for (i = 0; i < n; i++) {
            if (!wants_raw(cols[i].value))
                continue;
            memcpy(o, spans[i].p, spans[i].len);
            o[spans[i].len] = '\0';
            cols[i].raw = o;
            cols[i].raw_len = spans[i].len;
            o += spans[i].len + 1;
        }
    }
    free(spans);
    img->obj = obj;
    img->cols = cols;
    img->ncols = n;
    img->raw_store = store;
    return CDC_OK;
}

/* ---- field readers ------------------------------------------------------ */

/* Optional string member; JSON null counts as absent. */
static cdc_err_t get_str(json_t *obj, const char *key, const char *where,
                         bool required, const char **out, const char *ctx,
                         char *errstr, size_t n)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(errstr, n, ctx, "%s%s is missing", where, key);
        return CDC_OK;
    }
    if (!json_is_string(v))
        return fail(errstr, n, ctx, "%s%s must be a string, got %s", where,
                    key, jtype(v));
    if (required && json_string_length(v) == 0)
        return fail(errstr, n, ctx, "%s%s is empty", where, key);
    *out = json_string_value(v);
    return CDC_OK;
}

/* Integer member within [min, max]; *out untouched when absent/null and not
 * required. */
static cdc_err_t get_int(json_t *obj, const char *key, const char *where,
                         bool required, int64_t min, int64_t max,
                         int64_t *out, const char *ctx, char *errstr,
                         size_t n)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return fail(errstr, n, ctx, "%s%s is missing", where, key);
        return CDC_OK;
    }
    if (!json_is_integer(v))
        return fail(errstr, n, ctx, "%s%s must be an integer, got %s", where,
                    key, jtype(v));
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return fail(errstr, n, ctx, "%s%s %" JSON_INTEGER_FORMAT
                    " is out of range", where, key, i);
    *out = (int64_t)i;
    return CDC_OK;
}

static cdc_err_t get_chunkref(json_t *chunked, const char *key,
                              cdc_cdcrec_chunkref_t *ref, const char *ctx,
                              char *errstr, size_t n)
{
    char where[32];
    snprintf(where, sizeof(where), "chunked.%s.", key);
    json_t *o = json_object_get(chunked, key);
    memset(ref, 0, sizeof(*ref));
    if (!o || json_is_null(o))
        return CDC_OK;
    if (!json_is_object(o))
        return fail(errstr, n, ctx, "chunked.%s must be an object, got %s",
                    key, jtype(o));
    cdc_err_t err;
    int64_t total = 0;
    if ((err = get_str(o, "chunk_id", where, true, &ref->chunk_id, ctx,
                       errstr, n)) != CDC_OK ||
        (err = get_int(o, "total_fragments", where, true, 1,
                       CDC_CDCREC_MAX_FRAGMENTS, &total, ctx, errstr, n)) !=
            CDC_OK)
        return err;
    ref->total_fragments = (uint32_t)total;

    json_t *c = json_object_get(o, "crc32c");
    if (!c || json_is_null(c))
        return fail(errstr, n, ctx, "chunked.%s.crc32c is missing", key);
    if (json_is_integer(c)) {
        json_int_t v = json_integer_value(c);
        if (v < 0 || v > UINT32_MAX)
            return fail(errstr, n, ctx, "chunked.%s.crc32c %"
                        JSON_INTEGER_FORMAT " is out of range", key, v);
        ref->crc32c = (uint32_t)v;
    } else if (json_is_string(c)) {
        const char *s = json_string_value(c);
        size_t len = json_string_length(c);
        uint64_t v = 0;
        bool ok = len > 0 && len <= 10;
        for (size_t i = 0; ok && i < len; i++) {
            ok = s[i] >= '0' && s[i] <= '9';
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (!ok || v > UINT32_MAX) {
            char q[80];
            cdc_pgtypes_quote_value(q, sizeof(q), s, len);
            return fail(errstr, n, ctx, "chunked.%s.crc32c \"%s\" is not a "
                        "decimal uint32", key, q);
        }
        ref->crc32c = (uint32_t)v;
    } else {
        return fail(errstr, n, ctx, "chunked.%s.crc32c must be a decimal "
                    "string, got %s", key, jtype(c));
    }
    ref->present = true;
    return CDC_OK;
}

/* before/after: absent or null (img stays empty) or an object. */
static cdc_err_t get_image(json_t *root, const char *key, const span_t *span,
                           cdc_cdcrec_image_t *img, const char *ctx,
                           char *errstr, size_t n)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return CDC_OK;
    if (!json_is_object(v))
        return fail(errstr, n, ctx, "%s must be an object or null, got %s",
                    key, jtype(v));
    cdc_err_t err = image_build(img, v, span ? span->p : NULL,
                                span ? span->len : 0);
    if (err != CDC_OK)
        return cdc_err_set(errstr, n, err, "CDC record (%s): %s", ctx,
                           cdc_err_str(err));
    return CDC_OK;
}

static cdc_err_t parse_fragment(cdc_cdcrec_t *r, const char *ctx,
                                char *errstr, size_t n)
{
    cdc_err_t err;
    int64_t index = 0;
    if ((err = get_str(r->root, "chunk_id", "", true, &r->frag.chunk_id, ctx,
                       errstr, n)) != CDC_OK ||
        (err = get_int(r->root, "index", "", true, 0,
                       CDC_CDCREC_MAX_FRAGMENTS - 1, &index, ctx, errstr,
                       n)) != CDC_OK)
        return err;
    r->frag.index = (uint32_t)index;
    json_t *d = json_object_get(r->root, "data");
    if (!d || !json_is_string(d))
        return fail(errstr, n, ctx, "fragment %s[%" PRIu32 "]: data %s",
                    r->frag.chunk_id, r->frag.index,
                    d ? "must be a string" : "is missing");
    r->frag.json = d;
    r->frag.data = json_string_value(d);
    r->frag.len = json_string_length(d);
    return CDC_OK;
}

static cdc_err_t parse_change(cdc_cdcrec_t *r, const char *data, size_t len,
                              char *ctx, size_t ctx_size, char *errstr,
                              size_t n)
{
    json_t *root = r->root;
    cdc_err_t err;

    json_t *src = json_object_get(root, "source");
    if (!src || !json_is_object(src))
        return fail(errstr, n, ctx, "source %s", src ? "must be an object"
                                                     : "is missing");
    if ((err = get_str(src, "schema", "source.", true, &r->source.schema,
                       ctx, errstr, n)) != CDC_OK ||
        (err = get_str(src, "table", "source.", true, &r->source.table, ctx,
                       errstr, n)) != CDC_OK ||
        (err = get_str(src, "txId", "source.", true, &r->source.tx_id, ctx,
                       errstr, n)) != CDC_OK)
        return err;
    cdc_cdcrec_describe(r, ctx, ctx_size); /* from here on name the record */
    if ((err = get_int(src, "ts_ns", "source.", true, 0, INT64_MAX,
                       &r->source.ts_ns, ctx, errstr, n)) != CDC_OK ||
        (err = get_int(src, "ts_ms", "source.", false, 0, INT64_MAX,
                       &r->source.ts_ms, ctx, errstr, n)) != CDC_OK ||
        (err = get_str(src, "version", "source.", false, &r->source.version,
                       ctx, errstr, n)) != CDC_OK ||
        (err = get_str(src, "db", "source.", false, &r->source.db, ctx,
                       errstr, n)) != CDC_OK ||
        (err = get_str(src, "cluster", "source.", false, &r->source.cluster,
                       ctx, errstr, n)) != CDC_OK ||
        (err = get_int(root, "ts_ns", "", false, 0, INT64_MAX, &r->ts_ns, ctx,
                       errstr, n)) != CDC_OK ||
        (err = get_int(root, "ts_ms", "", false, 0, INT64_MAX, &r->ts_ms, ctx,
                       errstr, n)) != CDC_OK)
        return err;

    json_t *op = json_object_get(root, "op");
    if (!op || !json_is_string(op))
        return fail(errstr, n, ctx, "op %s",
                    op ? "must be a string" : "is missing");
    r->op_str = json_string_value(op);
    if (json_string_length(op) == 1 && strchr("cud", r->op_str[0]))
        r->op = (cdc_cdcrec_op_t)r->op_str[0];
    else
        r->op = CDC_CDCREC_OP_OTHER;

    /* Where the images' text is, for the exact text of their values. */
    size_t nroot = json_object_size(root);
    span_t *spans = malloc((nroot ? nroot : 1) * sizeof(*spans));
    if (!spans)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "CDC record (%s): %s",
                           ctx, cdc_err_str(CDC_ERR_NOMEM));
    const span_t *sp_before = NULL, *sp_after = NULL;
    if (member_spans(data, data + len, spans, nroot)) {
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
            if (strcmp(k, "before") == 0)
                sp_before = &spans[i];
            else if (strcmp(k, "after") == 0)
                sp_after = &spans[i];
            i++;
        }
    }
    err = get_image(root, "before", sp_before, &r->before, ctx, errstr, n);
    if (err == CDC_OK)
        err = get_image(root, "after", sp_after, &r->after, ctx, errstr, n);
    free(spans);
    if (err != CDC_OK)
        return err;

    if (r->type != CDC_CDCREC_CHUNKED)
        return CDC_OK;
    json_t *ch = json_object_get(root, "chunked");
    if (!ch || !json_is_object(ch))
        return fail(errstr, n, ctx, "chunked record: chunked %s",
                    ch ? "must be an object" : "is missing");
    if ((err = get_chunkref(ch, "before", &r->chunk_before, ctx, errstr,
                            n)) != CDC_OK ||
        (err = get_chunkref(ch, "after", &r->chunk_after, ctx, errstr, n)) !=
            CDC_OK)
        return err;
    if (!r->chunk_before.present && !r->chunk_after.present)
        return fail(errstr, n, ctx, "chunked record references no chunk");
    if (r->chunk_before.present && r->chunk_after.present &&
        strcmp(r->chunk_before.chunk_id, r->chunk_after.chunk_id) == 0)
        return fail(errstr, n, ctx, "before and after name the same chunk %s",
                    r->chunk_after.chunk_id);
    if (r->chunk_before.present && r->before.obj)
        return fail(errstr, n, ctx, "before is both inline and chunked");
    if (r->chunk_after.present && r->after.obj)
        return fail(errstr, n, ctx, "after is both inline and chunked");
    return CDC_OK;
}

cdc_err_t cdc_cdcrec_parse(const void *data, size_t len, cdc_cdcrec_t *out,
                           char *errstr, size_t errstr_size)
{
    char ctx[256];
    json_error_t je;

    cdc_cdcrec_init(out);
    if (!data && len)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "CDC record: no data");
    json_t *root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES,
                             &je);
    if (!root) {
        sniff_ctx(data, len, ctx, sizeof(ctx));
        return fail(errstr, errstr_size, ctx, "invalid JSON at byte %d of "
                    "%zu: %s", je.position, len, je.text);
    }
    out->root = root;
    snprintf(ctx, sizeof(ctx), "table unknown");

    cdc_err_t err;
    json_t *type = json_object_get(root, "type");
    if (!json_is_object(root)) {
        err = fail(errstr, errstr_size, ctx, "not a JSON object but %s",
                   jtype(root));
    } else if (!type || !json_is_string(type)) {
        sniff_ctx(data, len, ctx, sizeof(ctx));
        err = fail(errstr, errstr_size, ctx, "type %s",
                   type ? "must be a string" : "is missing");
    } else if (strcmp(json_string_value(type), "fragment") == 0) {
        out->type = CDC_CDCREC_FRAGMENT;
        sniff_ctx(data, len, ctx, sizeof(ctx));
        err = parse_fragment(out, ctx, errstr, errstr_size);
    } else if (strcmp(json_string_value(type), "full") == 0 ||
               strcmp(json_string_value(type), "chunked") == 0) {
        out->type = json_string_value(type)[0] == 'f' ? CDC_CDCREC_FULL
                                                      : CDC_CDCREC_CHUNKED;
        sniff_ctx(data, len, ctx, sizeof(ctx));
        err = parse_change(out, data, len, ctx, sizeof(ctx), errstr,
                           errstr_size);
    } else {
        char q[80];
        cdc_pgtypes_quote_value(q, sizeof(q), json_string_value(type),
                                json_string_length(type));
        sniff_ctx(data, len, ctx, sizeof(ctx));
        err = fail(errstr, errstr_size, ctx, "unknown record type \"%s\"", q);
    }
    if (err != CDC_OK)
        cdc_cdcrec_clear(out);
    return err;
}

cdc_err_t cdc_cdcrec_set_image(cdc_cdcrec_t *r, bool after, const char *text,
                               size_t len, char *errstr, size_t errstr_size)
{
    char ctx[256];
    const char *key = after ? "after" : "before";
    json_error_t je;

    cdc_cdcrec_describe(r, ctx, sizeof(ctx));
    if (!r->root)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "CDC record: empty record");
    json_t *img = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!img)
        return fail(errstr, errstr_size, ctx, "reassembled %s image is not "
                    "valid JSON at byte %d of %zu: %s", key, je.position, len,
                    je.text);
    if (!json_is_object(img)) {
        cdc_err_t e = fail(errstr, errstr_size, ctx, "reassembled %s image "
                           "is %s, not an object", key, jtype(img));
        json_decref(img);
        return e;
    }
    cdc_cdcrec_image_t im = {0};
    cdc_err_t err = image_build(&im, img, text, len);
    if (err == CDC_OK && json_object_set_new(r->root, key, img) != 0) {
        img = NULL; /* set_new consumed it */
        image_clear(&im);
        err = CDC_ERR_NOMEM;
    } else if (err != CDC_OK) {
        json_decref(img);
    }
    if (err != CDC_OK)
        return cdc_err_set(errstr, errstr_size, err, "CDC record (%s): %s",
                           ctx, cdc_err_str(err));
    cdc_cdcrec_image_t *dst = after ? &r->after : &r->before;
    image_clear(dst);
    *dst = im;
    if (!(r->chunk_before.present && !r->before.obj) &&
        !(r->chunk_after.present && !r->after.obj))
        r->type = CDC_CDCREC_FULL;
    return CDC_OK;
}

/* ---- value conversion --------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* "YYYY-MM-DD" as PostgreSQL prints it; *bc when the year is BC. */
static cdc_err_t put_ymd(cdc_buf_t *out, int64_t days, bool *bc)
{
    int64_t y;
    int m, d;
    cdc_pgtypes_civil_from_days(days, &y, &m, &d);
    *bc = y <= 0;
    return cdc_buf_printf(out, "%04" PRId64 "-%02d-%02d", *bc ? 1 - y : y, m,
                          d);
}

/* "HH:MM:SS" plus a fraction without trailing zeros; hours may exceed 23. */
static cdc_err_t put_hms(cdc_buf_t *out, uint64_t usec)
{
    uint64_t secs = usec / USECS_PER_SEC, frac = usec % USECS_PER_SEC;
    cdc_err_t err = cdc_buf_printf(out, "%02" PRIu64 ":%02u:%02u", secs / 3600,
                                   (unsigned)(secs / 60 % 60),
                                   (unsigned)(secs % 60));
    if (err != CDC_OK || frac == 0)
        return err;
    char f[8];
    snprintf(f, sizeof(f), "%06u", (unsigned)frac);
    size_t k = 6;
    while (f[k - 1] == '0')
        k--;
    if ((err = cdc_buf_putc(out, '.')) != CDC_OK)
        return err;
    return cdc_buf_append(out, f, k);
}

static cdc_err_t put_timestamp(cdc_buf_t *out, int64_t us, bool tz)
{
    if (us >= PG_END_TIMESTAMP)
        return cdc_buf_puts(out, "infinity");
    if (us < PG_MIN_TIMESTAMP)
        return cdc_buf_puts(out, "-infinity");
    int64_t days = floor_div(us, USECS_PER_DAY);
    bool bc;
    cdc_err_t err = put_ymd(out, days, &bc);
    if (err == CDC_OK)
        err = cdc_buf_putc(out, ' ');
    if (err == CDC_OK)
        err = put_hms(out, (uint64_t)(us - days * USECS_PER_DAY));
    if (err == CDC_OK && tz)
        err = cdc_buf_puts(out, "+00");
    if (err == CDC_OK && bc)
        err = cdc_buf_puts(out, " BC");
    return err;
}

static cdc_err_t put_date(cdc_buf_t *out, int64_t days)
{
    /* PostgreSQL's date infinities are INT32_MAX/MIN days; anything beyond
     * its range can only be a sentinel too. */
    if (days >= INT32_MAX)
        return cdc_buf_puts(out, "infinity");
    if (days <= INT32_MIN)
        return cdc_buf_puts(out, "-infinity");
    bool bc;
    cdc_err_t err = put_ymd(out, days, &bc);
    if (err == CDC_OK && bc)
        err = cdc_buf_puts(out, " BC");
    return err;
}

static cdc_err_t put_interval(cdc_buf_t *out, int64_t us)
{
    uint64_t mag = us < 0 ? (uint64_t)(-(us + 1)) + 1 : (uint64_t)us;
    cdc_err_t err = us < 0 ? cdc_buf_putc(out, '-') : CDC_OK;
    return err == CDC_OK ? put_hms(out, mag) : err;
}

static cdc_err_t put_int(cdc_buf_t *out, json_int_t v)
{
    return cdc_buf_printf(out, "%" JSON_INTEGER_FORMAT, v);
}

/* A real: the text the record had, else the shortest text that reads back
 * as the same double. */
static cdc_err_t put_real(cdc_buf_t *out, const cdc_cdcrec_col_t *col)
{
    if (col->raw)
        return cdc_buf_append(out, col->raw, col->raw_len);
    double d = json_real_value(col->value);
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    return cdc_buf_puts(out, tmp);
}

/* An array or object as JSON text: as the record wrote it when known. */
static cdc_err_t put_json(cdc_buf_t *out, const cdc_cdcrec_col_t *col)
{
    if (col->raw)
        return cdc_buf_append(out, col->raw, col->raw_len);
    char *s = json_dumps(col->value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return CDC_ERR_NOMEM;
    cdc_err_t err = cdc_buf_puts(out, s);
    free(s);
    return err;
}

static bool str_is(const json_t *v, const char *lit)
{
    return json_string_length(v) == strlen(lit) &&
           memcmp(json_string_value(v), lit, strlen(lit)) == 0;
}

static bool is_special_float(const json_t *v)
{
    return str_is(v, "NaN") || str_is(v, "Infinity") || str_is(v, "-Infinity");
}

/* PostgreSQL numeric output: -?digits[.digits], NaN, Infinity, -Infinity. */
static bool numeric_text_ok(const char *s, size_t len)
{
    if ((len == 3 && memcmp(s, "NaN", 3) == 0) ||
        (len == 8 && memcmp(s, "Infinity", 8) == 0) ||
        (len == 9 && memcmp(s, "-Infinity", 9) == 0))
        return true;
    size_t i = (len && s[0] == '-') ? 1 : 0, digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (digits == 0)
        return false;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    return i == len;
}

/* Standard base64 (padding optional) -> bytea hex output "\x0a0b". */
static cdc_err_t put_bytea(cdc_buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    cdc_buf_t bytes;
    cdc_buf_init(&bytes);
    cdc_err_t err = cdc_base64_decode(s, len, &bytes);
    if (err == CDC_OK)
        err = cdc_buf_reserve(out, 2 + 2 * bytes.len);
    if (err == CDC_OK) {
        cdc_buf_append(out, "\\x", 2);
        for (size_t i = 0; i < bytes.len; i++) {
            unsigned char byte = (unsigned char)bytes.data[i];
            char h[2] = {hex[byte >> 4], hex[byte & 15]};
            cdc_buf_append(out, h, 2);
        }
    }
    cdc_buf_free(&bytes);
    return err;
}

static bool int_in(const json_t *v, int64_t min, int64_t max)
{
    return json_is_integer(v) && json_integer_value(v) >= min &&
           json_integer_value(v) <= max;
}

/* Conversion for a known type; CDC_ERR_PARSE when v does not fit it. */
static cdc_err_t convert_hinted(const cdc_cdcrec_col_t *col, uint32_t oid,
                                cdc_buf_t *out)
{
    const json_t *v = col->value;
    switch (oid) {
    case CDC_PGOID_BOOL:
        if (!json_is_boolean(v))
            return CDC_ERR_PARSE;
        return cdc_buf_putc(out, json_is_true(v) ? 't' : 'f');
    case CDC_PGOID_INT2:
        return int_in(v, INT16_MIN, INT16_MAX) ? put_int(out, json_integer_value(v))
                                               : CDC_ERR_PARSE;
    case CDC_PGOID_INT4:
        return int_in(v, INT32_MIN, INT32_MAX) ? put_int(out, json_integer_value(v))
                                               : CDC_ERR_PARSE;
    case CDC_PGOID_OID:
        return int_in(v, 0, UINT32_MAX) ? put_int(out, json_integer_value(v))
                                        : CDC_ERR_PARSE;
    case CDC_PGOID_INT8:
        return json_is_integer(v) ? put_int(out, json_integer_value(v))
                                  : CDC_ERR_PARSE;
    case CDC_PGOID_FLOAT4:
    case CDC_PGOID_FLOAT8:
        if (json_is_integer(v))
            return put_int(out, json_integer_value(v));
        if (json_is_real(v))
            return put_real(out, col);
        if (json_is_string(v) && is_special_float(v))
            return cdc_buf_append(out, json_string_value(v),
                                  json_string_length(v));
        return CDC_ERR_PARSE;
    case CDC_PGOID_NUMERIC:
        if (json_is_string(v) &&
            numeric_text_ok(json_string_value(v), json_string_length(v)))
            return cdc_buf_append(out, json_string_value(v),
                                  json_string_length(v));
        if (json_is_integer(v))
            return put_int(out, json_integer_value(v));
        if (json_is_real(v) && col->raw &&
            numeric_text_ok(col->raw, col->raw_len))
            return cdc_buf_append(out, col->raw, col->raw_len);
        return CDC_ERR_PARSE;
    case CDC_PGOID_DATE:
        return json_is_integer(v) ? put_date(out, json_integer_value(v))
                                  : CDC_ERR_PARSE;
    case CDC_PGOID_TIME:
        return int_in(v, 0, USECS_PER_DAY)
                   ? put_hms(out, (uint64_t)json_integer_value(v))
                   : CDC_ERR_PARSE;
    case CDC_PGOID_TIMETZ: {
        if (!int_in(v, 0, USECS_PER_DAY))
            return CDC_ERR_PARSE;
        cdc_err_t err = put_hms(out, (uint64_t)json_integer_value(v));
        return err == CDC_OK ? cdc_buf_puts(out, "+00") : err;
    }
    case CDC_PGOID_TIMESTAMP:
    case CDC_PGOID_TIMESTAMPTZ:
        return json_is_integer(v)
                   ? put_timestamp(out, json_integer_value(v),
                                   oid == CDC_PGOID_TIMESTAMPTZ)
                   : CDC_ERR_PARSE;
    case CDC_PGOID_INTERVAL:
        if (json_is_integer(v))
            return put_interval(out, json_integer_value(v));
        break; /* a string is taken as interval text */
    case CDC_PGOID_BYTEA:
        return json_is_string(v) ? put_bytea(out, json_string_value(v),
                                             json_string_length(v))
                                 : CDC_ERR_PARSE;
    case CDC_PGOID_JSON:
    case CDC_PGOID_JSONB:
        if (json_is_array(v) || json_is_object(v))
            return put_json(out, col);
        break;
    default:
        break;
    }
    if (!json_is_string(v))
        return CDC_ERR_PARSE;
    return cdc_buf_append(out, json_string_value(v), json_string_length(v));
}

static cdc_err_t convert_inferred(const cdc_cdcrec_col_t *col, cdc_buf_t *out,
                                  uint32_t *oid)
{
    const json_t *v = col->value;
    switch (json_typeof(v)) {
    case JSON_TRUE:
    case JSON_FALSE:
        *oid = CDC_PGOID_BOOL;
        return cdc_buf_putc(out, json_is_true(v) ? 't' : 'f');
    case JSON_INTEGER:
        *oid = CDC_PGOID_INT8;
        return put_int(out, json_integer_value(v));
    case JSON_REAL:
        *oid = CDC_PGOID_FLOAT8;
        return put_real(out, col);
    case JSON_STRING:
        *oid = CDC_PGOID_TEXT;
        return cdc_buf_append(out, json_string_value(v),
                              json_string_length(v));
    case JSON_ARRAY:
    case JSON_OBJECT:
        *oid = CDC_PGOID_JSON;
        return put_json(out, col);
    case JSON_NULL:
        break;
    }
    *oid = CDC_PGOID_TEXT;
    return CDC_OK;
}

cdc_err_t cdc_cdcrec_value_text(const cdc_cdcrec_col_t *col,
                                uint32_t hint_oid, cdc_buf_t *out,
                                uint32_t *oid, bool *is_null)
{
    const json_t *v = col->value;
    *is_null = !v || json_is_null(v);
    if (*is_null) {
        *oid = hint_oid ? hint_oid : CDC_PGOID_TEXT;
        return CDC_OK;
    }
    size_t mark = out->len;
    cdc_err_t err;
    if (hint_oid) {
        err = convert_hinted(col, hint_oid, out);
        *oid = hint_oid;
    } else {
        err = convert_inferred(col, out, oid);
    }
    if (err != CDC_OK) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return err;
}
