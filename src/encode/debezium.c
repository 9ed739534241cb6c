/*
 * debezium.c - Debezium change-event envelope and keys, with JsonConverter
 * schemas (see debezium.h).
 *
 * Schemas are rendered once per (schema, table, column set) and kept as JSON
 * text in a small hash table keyed by a signature of the column set; each
 * row then only builds the signature (names, oids, key flags) to find its
 * schema and copies it in. Field order and attribute order follow Debezium's
 * SchemaFactory / TableSchemaBuilder and JsonConverter.asJsonSchema
 * ("type", "fields"/"items", "optional", "name", "version", "parameters",
 * "default", then "field").
 */
#include "encode/debezium.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encode/flat.h"
#include "encode/jsonw.h"
#include "encode/pgtypes.h"

#ifndef DSQLCDC_VERSION
#define DSQLCDC_VERSION "0.0.0"
#endif

#define CONNECTOR_NAME "dsql"

/*
 * A long-running process sees few column sets per table; past this many the
 * cache is dropped and refilled rather than grown without bound (e.g. a
 * table whose columns keep changing).
 */
#define MAX_CACHED 1024

/* io.debezium.connector.dsql.Source: the common source fields (Debezium's
 * SchemaFactory.sourceInfoSchemaBuilder) plus schema and table. */
static const char SOURCE_SCHEMA[] =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\","
    "\"version\":1,\"parameters\":{\"allowed\":\"true,first,"
    "first_in_data_collection,last_in_data_collection,last,false,"
    "incremental\"},\"default\":\"false\",\"field\":\"snapshot\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.dsql.Source\","
    "\"version\":1,\"field\":\"source\"}";

/* The envelope fields after source, each one schema: the transaction block
 * (SchemaFactory.transactionBlockSchema), op and the processing times. */
static const char *const ENVELOPE_TAIL[] = {
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
    "{\"type\":\"int64\",\"optional\":false,"
    "\"field\":\"data_collection_order\"}],"
    "\"optional\":true,\"name\":\"event.block\",\"version\":1,"
    "\"field\":\"transaction\"}",
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"}",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"}",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}",
};

/* Signature flag bits of one column. */
#define SIG_KEY 1u
#define SIG_KEY_NULL 2u

typedef struct entry {
    struct entry *next; /* hash chain */
    uint64_t hash;
    char *sig; /* signature bytes (see build_sig) */
    size_t sig_len;
    char *value_schema; /* rendered on first use; NULL until then */
    size_t value_schema_len;
    char *key_schema;
    size_t key_schema_len;
} entry_t;

struct cdc_debezium {
    char *topic_prefix;
    char *database;
    char *version;
    bool key_schemas;
    bool value_schemas;

    entry_t **buckets;
    size_t nbuckets; /* power of two, or 0 before the first entry */
    size_t count;
    cdc_buf_t sig; /* scratch: the signature of the row being encoded */
};

/* ---- helpers ------------------------------------------------------------ */

static void truncate_to(cdc_buf_t *out, size_t mark)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Copy a constant JSON value in through the writer. */
static void put_raw(cdc_jsonw_t *w, const char *json, size_t len)
{
    char *p = cdc_jsonw_raw(w, len);
    if (p)
        memcpy(p, json, len);
}

static void put_str(cdc_jsonw_t *w, const char *s)
{
    cdc_jsonw_string(w, s, strlen(s));
}

static void put_member_str(cdc_jsonw_t *w, const char *key, const char *val)
{
    cdc_jsonw_key_str(w, key);
    put_str(w, val);
}

static void put_member_bool(cdc_jsonw_t *w, const char *key, bool val)
{
    cdc_jsonw_key_str(w, key);
    cdc_jsonw_bool(w, val);
}

/* A column's schema is optional unless it is a key column holding a value. */
static bool col_optional(const cdc_column_t *col)
{
    return !col->is_key || col->is_null;
}

/* ---- the schema cache ---------------------------------------------------- */

/*
 * Bucket hash of a signature, 8 bytes per step (a byte at a time was most
 * of a cache hit's cost). Only picks the bucket: entries are matched by
 * comparing the whole signature, and the hash never leaves the process.
 */
static uint64_t hash_bytes(const char *p, size_t n)
{
    const uint64_t mul = UINT64_C(0x9E3779B97F4A7C15);
    uint64_t h = n * mul, v;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&v, p, 8);
        h = (h ^ v) * mul;
        h ^= h >> 29;
    }
    v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)(unsigned char)p[i] << (8 * i);
    h = (h ^ v) * mul;
    return h ^ h >> 32;
}

/*
 * The signature of ch's schema, in d->sig: schema NUL table NUL, then per
 * column its name NUL, the 4-byte oid and a flag byte. Names cannot hold NUL,
 * so two different column sets never share a signature.
 */
static cdc_err_t build_sig(cdc_debezium_t *d, const cdc_change_t *ch)
{
    cdc_buf_t *s = &d->sig;
    cdc_buf_reset(s);
    const char *schema = or_empty(ch->schema), *table = or_empty(ch->table);
    if (cdc_buf_append(s, schema, strlen(schema) + 1) != CDC_OK ||
        cdc_buf_append(s, table, strlen(table) + 1) != CDC_OK)
        return CDC_ERR_NOMEM;
    for (size_t i = 0; i < ch->ncols; i++) {
        const cdc_column_t *col = &ch->cols[i];
        const char *name = or_empty(col->name);
        unsigned flags = 0;
        if (col->is_key)
            flags = col->is_null ? SIG_KEY | SIG_KEY_NULL : SIG_KEY;
        unsigned char tail[5];
        memcpy(tail, &col->type_oid, 4);
        tail[4] = (unsigned char)flags;
        if (cdc_buf_append(s, name, strlen(name) + 1) != CDC_OK ||
            cdc_buf_append(s, tail, sizeof(tail)) != CDC_OK)
            return CDC_ERR_NOMEM;
    }
    return CDC_OK;
}

static void entry_free(entry_t *e)
{
    if (!e)
        return;
    free(e->sig);
    free(e->value_schema);
    free(e->key_schema);
    free(e);
}

static void cache_clear(cdc_debezium_t *d)
{
    for (size_t i = 0; i < d->nbuckets; i++) {
        entry_t *e = d->buckets[i];
        while (e) {
            entry_t *next = e->next;
            entry_free(e);
            e = next;
        }
        d->buckets[i] = NULL;
    }
    d->count = 0;
}

/* Double the bucket array (or create it); on failure keep the old one. */
static void cache_grow(cdc_debezium_t *d)
{
    size_t n = d->nbuckets ? d->nbuckets * 2 : 16;
    entry_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < d->nbuckets; i++) {
        entry_t *e = d->buckets[i];
        while (e) {
            entry_t *next = e->next;
            size_t at = (size_t)(e->hash & (n - 1));
            e->next = b[at];
            b[at] = e;
            e = next;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->nbuckets = n;
}

/* The cache entry for ch's column set, created empty on a miss. */
static cdc_err_t cache_get(cdc_debezium_t *d, const cdc_change_t *ch,
                           entry_t **out)
{
    if (build_sig(d, ch) != CDC_OK)
        return CDC_ERR_NOMEM;
    const char *sig = d->sig.data;
    size_t len = d->sig.len;
    uint64_t h = hash_bytes(sig, len);

    if (d->nbuckets) {
        for (entry_t *e = d->buckets[h & (d->nbuckets - 1)]; e; e = e->next)
            if (e->hash == h && e->sig_len == len &&
                memcmp(e->sig, sig, len) == 0) {
                *out = e;
                return CDC_OK;
            }
    }

    if (d->count >= MAX_CACHED)
        cache_clear(d);
    if (d->count >= d->nbuckets)
        cache_grow(d);
    if (!d->nbuckets)
        return CDC_ERR_NOMEM;
    entry_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->sig = malloc(len))) {
        free(e);
        return CDC_ERR_NOMEM;
    }
    memcpy(e->sig, sig, len);
    e->sig_len = len;
    e->hash = h;
    size_t at = (size_t)(h & (d->nbuckets - 1));
    e->next = d->buckets[at];
    d->buckets[at] = e;
    d->count++;
    *out = e;
    return CDC_OK;
}

/* ---- schema rendering --------------------------------------------------- */

/* type/name/version of one Connect schema, as JsonConverter orders them
 * around "optional". Leaves the object open for "field". */
static void put_type_schema(cdc_jsonw_t *w, uint32_t oid, bool optional)
{
    cdc_pgtypes_connect_t s = cdc_pgtypes_connect_schema(oid);
    put_member_str(w, "type", s.type);
    if (strcmp(s.type, "array") == 0) {
        /* Debezium declares array elements optional (arrays may hold NULLs) */
        cdc_jsonw_key_str(w, "items");
        cdc_jsonw_object_begin(w);
        put_type_schema(w, cdc_pgtypes_array_elem(oid), true);
        cdc_jsonw_object_end(w);
    }
    put_member_bool(w, "optional", optional);
    if (s.name) {
        put_member_str(w, "name", s.name);
        cdc_jsonw_key_str(w, "version");
        cdc_jsonw_int(w, s.version);
    }
}

/* "<prefix>.<schema>.<table>.<suffix>" as a JSON string value. */
static void put_record_name(cdc_jsonw_t *w, const cdc_debezium_t *d,
                            const cdc_change_t *ch, const char *suffix)
{
    const char *schema = or_empty(ch->schema);
    cdc_jsonw_string_open(w);
    cdc_jsonw_string_part(w, d->topic_prefix, strlen(d->topic_prefix));
    cdc_jsonw_string_part(w, ".", 1);
    if (*schema) {
        cdc_jsonw_string_part(w, schema, strlen(schema));
        cdc_jsonw_string_part(w, ".", 1);
    }
    cdc_jsonw_string_part(w, or_empty(ch->table), strlen(or_empty(ch->table)));
    cdc_jsonw_string_part(w, ".", 1);
    cdc_jsonw_string_part(w, suffix, strlen(suffix));
    cdc_jsonw_string_close(w);
}

/* A row struct schema (key columns only for the Key). field: the member
 * name in the envelope, NULL for the key's top level. */
static void put_row_schema(cdc_jsonw_t *w, const cdc_debezium_t *d,
                           const cdc_change_t *ch, bool keys_only,
                           const char *field)
{
    cdc_jsonw_object_begin(w);
    put_member_str(w, "type", "struct");
    cdc_jsonw_key_str(w, "fields");
    cdc_jsonw_array_begin(w);
    for (size_t i = 0; i < ch->ncols; i++) {
        const cdc_column_t *col = &ch->cols[i];
        if (keys_only && !col->is_key)
            continue;
        cdc_jsonw_object_begin(w);
        put_type_schema(w, col->type_oid, col_optional(col));
        put_member_str(w, "field", or_empty(col->name));
        cdc_jsonw_object_end(w);
    }
    cdc_jsonw_array_end(w);
    put_member_bool(w, "optional", !keys_only);
    cdc_jsonw_key_str(w, "name");
    put_record_name(w, d, ch, keys_only ? "Key" : "Value");
    if (field)
        put_member_str(w, "field", field);
    cdc_jsonw_object_end(w);
}

/* Render one schema into a fresh heap string (*out, *out_len). */
static cdc_err_t render_schema(const cdc_debezium_t *d, const cdc_change_t *ch,
                               bool key, char **out, size_t *out_len)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, &b);
    if (key) {
        put_row_schema(&w, d, ch, true, NULL);
    } else {
        cdc_jsonw_object_begin(&w);
        put_member_str(&w, "type", "struct");
        cdc_jsonw_key_str(&w, "fields");
        cdc_jsonw_array_begin(&w);
        put_row_schema(&w, d, ch, false, "before");
        put_row_schema(&w, d, ch, false, "after");
        put_raw(&w, SOURCE_SCHEMA, sizeof(SOURCE_SCHEMA) - 1);
        for (size_t i = 0; i < sizeof(ENVELOPE_TAIL) / sizeof(*ENVELOPE_TAIL);
             i++)
            put_raw(&w, ENVELOPE_TAIL[i], strlen(ENVELOPE_TAIL[i]));
        cdc_jsonw_array_end(&w);
        put_member_bool(&w, "optional", false);
        cdc_jsonw_key_str(&w, "name");
        put_record_name(&w, d, ch, "Envelope");
        cdc_jsonw_key_str(&w, "version");
        cdc_jsonw_int(&w, 2); /* Envelope.SCHEMA_VERSION since Debezium 2.6 */
        cdc_jsonw_object_end(&w);
    }
    cdc_err_t err = cdc_jsonw_finish(&w);
    if (err != CDC_OK) {
        cdc_buf_free(&b);
        return err;
    }
    *out = b.data; /* the buffer's memory becomes the entry's */
    *out_len = b.len;
    return CDC_OK;
}

/* The cached key or value schema for ch, rendered on first use. */
static cdc_err_t schema_for(cdc_debezium_t *d, const cdc_change_t *ch,
                            bool key, const char **json, size_t *len,
                            char *errstr, size_t errstr_size)
{
    entry_t *e = NULL;
    cdc_err_t err = cache_get(d, ch, &e);
    if (err == CDC_OK) {
        char **slot = key ? &e->key_schema : &e->value_schema;
        size_t *slot_len = key ? &e->key_schema_len : &e->value_schema_len;
        if (!*slot)
            err = render_schema(d, ch, key, slot, slot_len);
        if (err == CDC_OK) {
            *json = *slot;
            *len = *slot_len;
            return CDC_OK;
        }
    }
    const char *schema = or_empty(ch->schema);
    return cdc_err_set(errstr, errstr_size, err, "table %s%s%s %s schema: %s",
                       schema, *schema ? "." : "", or_empty(ch->table),
                       key ? "key" : "value", cdc_err_str(err));
}

/* ---- payload ------------------------------------------------------------ */

/* "name":value for each column; on failure errstr names table and column
 * (the same report as the flat format's). */
static cdc_err_t put_columns(cdc_jsonw_t *w, const cdc_change_t *ch,
                             char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < ch->ncols; i++) {
        const cdc_column_t *col = &ch->cols[i];
        const char *name = or_empty(col->name);
        char why[192];
        why[0] = '\0';
        cdc_err_t err = cdc_jsonw_key_str(w, name);
        if (err == CDC_OK)
            err = cdc_pgtypes_render(w, col->type_oid,
                                     col->is_null ? NULL : col->value,
                                     col->len, why, sizeof(why));
        if (err != CDC_OK) {
            const char *schema = or_empty(ch->schema);
            return cdc_err_set(errstr, errstr_size, err,
                               "table %s%s%s column %s: %s", schema,
                               *schema ? "." : "", or_empty(ch->table), name,
                               why[0] ? why : cdc_err_str(err));
        }
    }
    return CDC_OK;
}

static cdc_err_t put_row(cdc_jsonw_t *w, const cdc_change_t *ch, char *errstr,
                         size_t errstr_size)
{
    cdc_jsonw_object_begin(w);
    cdc_err_t err = put_columns(w, ch, errstr, errstr_size);
    cdc_jsonw_object_end(w);
    return err;
}

/* ts_ms scaled to finer units, null when that overflows int64. */
static void put_scaled_ts(cdc_jsonw_t *w, int64_t ts_ms, int64_t factor)
{
    int64_t v;
    if (__builtin_mul_overflow(ts_ms, factor, &v))
        cdc_jsonw_null(w);
    else
        cdc_jsonw_int(w, v);
}

static void put_timestamps(cdc_jsonw_t *w, int64_t ts_ms)
{
    cdc_jsonw_key(w, "ts_ms", 5);
    cdc_jsonw_int(w, ts_ms);
    cdc_jsonw_key(w, "ts_us", 5);
    put_scaled_ts(w, ts_ms, 1000);
    cdc_jsonw_key(w, "ts_ns", 5);
    put_scaled_ts(w, ts_ms, 1000000);
}

static void put_source(cdc_jsonw_t *w, const cdc_debezium_t *d,
                       const cdc_change_t *ch)
{
    cdc_jsonw_object_begin(w);
    put_member_str(w, "version", d->version);
    put_member_str(w, "connector", CONNECTOR_NAME);
    put_member_str(w, "name", d->topic_prefix);
    cdc_jsonw_key(w, "ts_ms", 5);
    cdc_jsonw_int(w, ch->ts_ms);
    put_member_str(w, "snapshot", ch->op == CDC_OP_READ ? "true" : "false");
    put_member_str(w, "db", d->database);
    cdc_jsonw_key(w, "sequence", 8);
    cdc_jsonw_null(w);
    cdc_jsonw_key(w, "ts_us", 5);
    put_scaled_ts(w, ch->ts_ms, 1000);
    cdc_jsonw_key(w, "ts_ns", 5);
    put_scaled_ts(w, ch->ts_ms, 1000000);
    put_member_str(w, "schema", or_empty(ch->schema));
    put_member_str(w, "table", or_empty(ch->table));
    cdc_jsonw_object_end(w);
}

static cdc_err_t put_envelope(cdc_jsonw_t *w, const cdc_debezium_t *d,
                              const cdc_change_t *ch, char *errstr,
                              size_t errstr_size)
{
    bool is_delete = ch->op == CDC_OP_DELETE;
    cdc_err_t err = CDC_OK;

    cdc_jsonw_object_begin(w);
    cdc_jsonw_key(w, "before", 6);
    if (is_delete)
        err = put_row(w, ch, errstr, errstr_size);
    else
        cdc_jsonw_null(w);
    if (err != CDC_OK)
        return err;
    cdc_jsonw_key(w, "after", 5);
    if (is_delete)
        cdc_jsonw_null(w);
    else
        err = put_row(w, ch, errstr, errstr_size);
    if (err != CDC_OK)
        return err;
    cdc_jsonw_key(w, "source", 6);
    put_source(w, d, ch);
    cdc_jsonw_key(w, "transaction", 11);
    cdc_jsonw_null(w);
    char op = (char)ch->op;
    cdc_jsonw_key(w, "op", 2);
    cdc_jsonw_string(w, &op, 1);
    put_timestamps(w, ch->ts_ms);
    cdc_jsonw_object_end(w);
    return CDC_OK;
}

/* ---- public ------------------------------------------------------------- */

cdc_debezium_t *cdc_debezium_new(const cdc_debezium_opts_t *opts, char *errstr,
                                 size_t errstr_size)
{
    if (!opts || !opts->topic_prefix || !*opts->topic_prefix) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                    "debezium encoder: topic.prefix must not be empty");
        return NULL;
    }
    cdc_debezium_t *d = calloc(1, sizeof(*d));
    if (!d)
        goto nomem;
    cdc_buf_init(&d->sig);
    d->key_schemas = opts->key_schemas;
    d->value_schemas = opts->value_schemas;
    d->topic_prefix = dup_str(opts->topic_prefix);
    d->database = dup_str(or_empty(opts->database));
    d->version = dup_str(opts->version ? opts->version : DSQLCDC_VERSION);
    if (!d->topic_prefix || !d->database || !d->version)
        goto nomem;
    return d;

nomem:
    cdc_debezium_destroy(d);
    cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                "debezium encoder: %s", cdc_err_str(CDC_ERR_NOMEM));
    return NULL;
}

void cdc_debezium_destroy(cdc_debezium_t *d)
{
    if (!d)
        return;
    cache_clear(d);
    free(d->buckets);
    cdc_buf_free(&d->sig);
    free(d->topic_prefix);
    free(d->database);
    free(d->version);
    free(d);
}

size_t cdc_debezium_cached(const cdc_debezium_t *d)
{
    return d ? d->count : 0;
}

cdc_err_t cdc_debezium_encode_value(cdc_debezium_t *d, const cdc_change_t *ch,
                                    cdc_buf_t *out, char *errstr,
                                    size_t errstr_size)
{
    switch (ch->op) {
    case CDC_OP_CREATE:
    case CDC_OP_UPDATE:
    case CDC_OP_DELETE:
    case CDC_OP_READ: break;
    default:
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "table %s: unknown op '%c'", or_empty(ch->table),
                           (char)ch->op);
    }

    const char *schema = NULL;
    size_t schema_len = 0;
    if (d->value_schemas) {
        cdc_err_t err = schema_for(d, ch, false, &schema, &schema_len, errstr,
                                   errstr_size);
        if (err != CDC_OK)
            return err;
    }

    size_t mark = out->len;
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, out);
    if (schema) {
        cdc_jsonw_object_begin(&w);
        cdc_jsonw_key(&w, "schema", 6);
        put_raw(&w, schema, schema_len);
        cdc_jsonw_key(&w, "payload", 7);
    }
    cdc_err_t err = put_envelope(&w, d, ch, errstr, errstr_size);
    if (err != CDC_OK) {
        truncate_to(out, mark);
        return err;
    }
    if (schema)
        cdc_jsonw_object_end(&w);
    if ((err = cdc_jsonw_finish(&w)) != CDC_OK) {
        truncate_to(out, mark);
        return cdc_err_set(errstr, errstr_size, err, "table %s: %s",
                           or_empty(ch->table), cdc_err_str(err));
    }
    return CDC_OK;
}

cdc_err_t cdc_debezium_encode_key(cdc_debezium_t *d, const cdc_change_t *ch,
                                  cdc_buf_t *out, char *errstr,
                                  size_t errstr_size)
{
    if (!d->key_schemas || !cdc_flat_has_key(ch))
        return cdc_flat_encode_key(ch, out, errstr, errstr_size);

    const char *schema;
    size_t schema_len;
    cdc_err_t err = schema_for(d, ch, true, &schema, &schema_len, errstr,
                               errstr_size);
    if (err != CDC_OK)
        return err;

    /* The payload is flat's key verbatim, so both formats agree byte for
     * byte; the wrapper is written around it by hand. */
    size_t mark = out->len;
    if (cdc_buf_puts(out, "{\"schema\":") != CDC_OK ||
        cdc_buf_append(out, schema, schema_len) != CDC_OK ||
        cdc_buf_puts(out, ",\"payload\":") != CDC_OK)
        goto nomem;
    if ((err = cdc_flat_encode_key(ch, out, errstr, errstr_size)) != CDC_OK) {
        truncate_to(out, mark); /* errstr names the column */
        return err;
    }
    if (cdc_buf_putc(out, '}') != CDC_OK)
        goto nomem;
    return CDC_OK;

nomem:
    truncate_to(out, mark);
    return cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM, "table %s key: %s",
                       or_empty(ch->table), cdc_err_str(CDC_ERR_NOMEM));
}
