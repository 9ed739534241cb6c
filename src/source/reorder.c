/*
 * reorder.c - per-key order, dedup and staleness (see reorder.h).
 *
 * Key states live in a chained hash table keyed by "schema\0table\0[key]".
 * Held records sit twice: in their key's array, sorted by version, and in
 * one arrival-ordered list whose head is the next to come due. Emitting a
 * due record first emits the older held records of its key, so a key's
 * changes always leave in version order and nothing held becomes stale.
 */
#include "source/reorder.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "encode/pgtypes.h"

#define DEFAULT_RETENTION_MS (INT64_C(25) * 3600 * 1000)
#define DEFAULT_MAX_HELD 100000
/* Versions remembered per key to tell a duplicate from a stale record. */
#define SEEN_MAX 8
/* Distinct unknown op strings warned about, at most. */
#define WARNED_OPS_MAX 32

typedef struct {
    int64_t ts;
    uint64_t txh; /* hash of the txId */
} seen_t;

typedef struct held held_t;

typedef struct rkey {
    struct rkey *next;    /* hash chain */
    uint64_t hash;
    char *id;             /* schema \0 table \0 key-json */
    size_t id_len;
    const char *schema, *table, *json; /* into id */
    bool has_last;
    int64_t last_ts;
    char *last_tx;
    char last_op;
    seen_t seen[SEEN_MAX];
    unsigned nseen;
    held_t **held;        /* sorted by (ts, tx) */
    size_t nheld, cap;
    uint32_t inflight;    /* emissions not yet delivered */
} rkey_t;

struct held {
    held_t *prev, *next;  /* arrival order */
    rkey_t *key;           /* NULL: table without key */
    cdc_cdcrec_t rec;
    uint64_t pos;
    int64_t due_ms;
};

typedef struct {
    char *name;
    uint32_t oid;
} coltype_t;

typedef struct {
    char *schema, *table;
    char **keys;
    size_t nkeys;
    coltype_t *types;
    size_t ntypes, cap;
    bool allowed;
    bool warned_nokey, warned_hint;
} tbl_t;

/* An emission waiting for its delivery (track_delivery). */
typedef struct {
    uint64_t seq;
    rkey_t *key;
    bool delivered;
    bool had_prev;        /* the key's version before this emission */
    int64_t prev_ts;
    char *prev_tx;
    char prev_op;
} inflight_t;

struct cdc_reorder {
    cdc_reorder_opts_t o;
    int64_t retention_ns;
    cdc_reorder_emit_fn emit;
    void *opaque;

    rkey_t **buckets;
    size_t nbuckets, nkeys;

    held_t *head, *tail;  /* keyed records, arrival order */
    held_t *nk_head, *nk_tail; /* records of tables without key */
    size_t nheld;

    tbl_t *tbls;
    size_t ntbls, tcap;
    bool any_allowed;

    char *warned_ops[WARNED_OPS_MAX];
    size_t nwarned_ops;

    int64_t max_ts;       /* newest source.ts_ns seen */
    int64_t next_prune_ts;
    uint64_t seq;

    inflight_t *infl;     /* deque by seq: [ihead, itail) */
    size_t ihead, itail, icap;

    cdc_buf_t text;       /* column texts of the change being emitted */
    cdc_column_t *cols;
    size_t *offs;
    size_t colcap;

    cdc_reorder_stats_t st;
};

const char *cdc_reorder_result_name(cdc_reorder_result_t res)
{
    switch (res) {
    case CDC_REORDER_HELD: return "held";
    case CDC_REORDER_DUPLICATE: return "duplicate";
    case CDC_REORDER_STALE: return "stale";
    case CDC_REORDER_TOO_OLD: return "too_old";
    case CDC_REORDER_FILTERED: return "filtered";
    case CDC_REORDER_NO_KEY: return "no_key";
    }
    return "?";
}

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static uint64_t tx_hash(const char *tx)
{
    return fnv1a(tx, strlen(tx));
}

/* (ts, tx) order: commit time, then txId for transactions that tie. */
static int ver_cmp(int64_t ts_a, const char *tx_a, int64_t ts_b,
                   const char *tx_b)
{
    if (ts_a != ts_b)
        return ts_a < ts_b ? -1 : 1;
    return strcmp(tx_a, tx_b);
}

static int held_cmp(const held_t *a, const held_t *b)
{
    return ver_cmp(a->rec.source.ts_ns, a->rec.source.tx_id,
                   b->rec.source.ts_ns, b->rec.source.tx_id);
}

/* ---- lifecycle ---------------------------------------------------------- */

cdc_reorder_t *cdc_reorder_new(const cdc_reorder_opts_t *opts,
                               cdc_reorder_emit_fn emit, void *opaque)
{
    if (!emit)
        return NULL;
    cdc_reorder_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (opts)
        r->o = *opts;
    if (r->o.window_ms < 0)
        r->o.window_ms = 0;
    if (r->o.retention_ms <= 0)
        r->o.retention_ms = DEFAULT_RETENTION_MS;
    if (r->o.retention_ms > INT64_MAX / 1000000)
        r->o.retention_ms = INT64_MAX / 1000000;
    if (!r->o.max_held)
        r->o.max_held = DEFAULT_MAX_HELD;
    r->retention_ns = r->o.retention_ms * 1000000;
    r->emit = emit;
    r->opaque = opaque;
    r->max_ts = INT64_MIN;
    r->next_prune_ts = INT64_MIN;
    cdc_buf_init(&r->text);
    r->nbuckets = 64;
    if (!(r->buckets = calloc(r->nbuckets, sizeof(*r->buckets)))) {
        free(r);
        return NULL;
    }
    return r;
}

static void key_free(rkey_t *k)
{
    free(k->id);
    free(k->last_tx);
    free(k->held);
    free(k);
}

static void held_free(held_t *h)
{
    cdc_cdcrec_clear(&h->rec);
    free(h);
}

void cdc_reorder_destroy(cdc_reorder_t *r)
{
    if (!r)
        return;
    for (held_t *h = r->head, *nx; h; h = nx) {
        nx = h->next;
        held_free(h);
    }
    for (held_t *h = r->nk_head, *nx; h; h = nx) {
        nx = h->next;
        held_free(h);
    }
    for (size_t b = 0; b < r->nbuckets; b++)
        for (rkey_t *k = r->buckets[b], *nx; k; k = nx) {
            nx = k->next;
            key_free(k);
        }
    free(r->buckets);
    for (size_t i = 0; i < r->ntbls; i++) {
        tbl_t *t = &r->tbls[i];
        free(t->schema);
        free(t->table);
        for (size_t k = 0; k < t->nkeys; k++)
            free(t->keys[k]);
        free(t->keys);
        for (size_t k = 0; k < t->ntypes; k++)
            free(t->types[k].name);
        free(t->types);
    }
    free(r->tbls);
    for (size_t i = 0; i < r->nwarned_ops; i++)
        free(r->warned_ops[i]);
    for (size_t i = r->ihead; i < r->itail; i++)
        free(r->infl[i].prev_tx);
    free(r->infl);
    cdc_buf_free(&r->text);
    free(r->cols);
    free(r->offs);
    free(r);
}

cdc_reorder_stats_t cdc_reorder_stats(const cdc_reorder_t *r)
{
    cdc_reorder_stats_t st = r->st;
    st.held = r->nheld;
    st.keys = r->nkeys;
    return st;
}

/* ---- tables ------------------------------------------------------------- */

static tbl_t *tbl_find(const cdc_reorder_t *r, const char *schema,
                       const char *table)
{
    for (size_t i = 0; i < r->ntbls; i++)
        if (strcmp(r->tbls[i].table, table) == 0 &&
            strcmp(r->tbls[i].schema, schema) == 0)
            return &r->tbls[i];
    return NULL;
}

static tbl_t *tbl_get(cdc_reorder_t *r, const char *schema, const char *table)
{
    tbl_t *t = tbl_find(r, schema, table);
    if (t)
        return t;
    if (r->ntbls == r->tcap) {
        size_t cap = r->tcap ? r->tcap * 2 : 8;
        tbl_t *p = realloc(r->tbls, cap * sizeof(*p));
        if (!p)
            return NULL;
        r->tbls = p;
        r->tcap = cap;
    }
    t = &r->tbls[r->ntbls];
    memset(t, 0, sizeof(*t));
    if (!(t->schema = strdup(schema)) || !(t->table = strdup(table))) {
        free(t->schema);
        free(t->table);
        return NULL;
    }
    r->ntbls++;
    return t;
}

cdc_err_t cdc_reorder_set_key(cdc_reorder_t *r, const char *schema,
                              const char *table, const char *const *cols,
                              size_t n)
{
    tbl_t *t = tbl_get(r, schema, table);
    char **keys = n ? calloc(n, sizeof(*keys)) : NULL;
    if (!t || (n && !keys)) {
        free(keys);
        return CDC_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(keys[i] = strdup(cols[i]))) {
            for (size_t k = 0; k < i; k++)
                free(keys[k]);
            free(keys);
            return CDC_ERR_NOMEM;
        }
    }
    for (size_t k = 0; k < t->nkeys; k++)
        free(t->keys[k]);
    free(t->keys);
    t->keys = keys;
    t->nkeys = n;
    return CDC_OK;
}

cdc_err_t cdc_reorder_set_type(cdc_reorder_t *r, const char *schema,
                               const char *table, const char *column,
                               uint32_t oid)
{
    tbl_t *t = tbl_get(r, schema, table);
    if (!t)
        return CDC_ERR_NOMEM;
    for (size_t i = 0; i < t->ntypes; i++) {
        if (strcmp(t->types[i].name, column) == 0) {
            t->types[i].oid = oid;
            return CDC_OK;
        }
    }
    if (t->ntypes == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        coltype_t *p = realloc(t->types, cap * sizeof(*p));
        if (!p)
            return CDC_ERR_NOMEM;
        t->types = p;
        t->cap = cap;
    }
    if (!(t->types[t->ntypes].name = strdup(column)))
        return CDC_ERR_NOMEM;
    t->types[t->ntypes++].oid = oid;
    return CDC_OK;
}

cdc_err_t cdc_reorder_allow_table(cdc_reorder_t *r, const char *schema,
                                  const char *table)
{
    tbl_t *t = tbl_get(r, schema, table);
    if (!t)
        return CDC_ERR_NOMEM;
    t->allowed = true;
    r->any_allowed = true;
    return CDC_OK;
}

/* Type hint of column i (named name) of t; 0 when none. Catalog order
 * usually matches the record's, so index i is tried first. */
static uint32_t tbl_hint(const tbl_t *t, size_t i, const char *name)
{
    if (i < t->ntypes && strcmp(t->types[i].name, name) == 0)
        return t->types[i].oid;
    for (size_t k = 0; k < t->ntypes; k++)
        if (strcmp(t->types[k].name, name) == 0)
            return t->types[k].oid;
    return 0;
}

static bool tbl_is_key(const tbl_t *t, const char *name)
{
    for (size_t k = 0; k < t->nkeys; k++)
        if (strcmp(t->keys[k], name) == 0)
            return true;
    return false;
}

/* ---- key states --------------------------------------------------------- */

static rkey_t *key_find(const cdc_reorder_t *r, const char *id, size_t len,
                       uint64_t h)
{
    for (rkey_t *k = r->buckets[h & (r->nbuckets - 1)]; k; k = k->next)
        if (k->hash == h && k->id_len == len && memcmp(k->id, id, len) == 0)
            return k;
    return NULL;
}

static void key_grow(cdc_reorder_t *r)
{
    size_t nb = r->nbuckets * 2;
    rkey_t **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* keep the longer chains */
    for (size_t i = 0; i < r->nbuckets; i++)
        for (rkey_t *k = r->buckets[i], *nx; k; k = nx) {
            nx = k->next;
            k->next = b[k->hash & (nb - 1)];
            b[k->hash & (nb - 1)] = k;
        }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = nb;
}

static rkey_t *key_add(cdc_reorder_t *r, const char *id, size_t len,
                      uint64_t h)
{
    rkey_t *k = calloc(1, sizeof(*k));
    if (!k || !(k->id = malloc(len + 1))) {
        free(k);
        return NULL;
    }
    memcpy(k->id, id, len);
    k->id[len] = '\0';
    k->id_len = len;
    k->hash = h;
    k->schema = k->id;
    k->table = k->schema + strlen(k->schema) + 1;
    k->json = k->table + strlen(k->table) + 1;
    if (r->nkeys >= r->nbuckets)
        key_grow(r);
    k->next = r->buckets[h & (r->nbuckets - 1)];
    r->buckets[h & (r->nbuckets - 1)] = k;
    r->nkeys++;
    return k;
}

static bool seen_has(const rkey_t *k, int64_t ts, uint64_t txh)
{
    for (unsigned i = 0; i < k->nseen; i++)
        if (k->seen[i].ts == ts && k->seen[i].txh == txh)
            return true;
    return false;
}

/* Remember a version; when full, forget the oldest. */
static void seen_add(rkey_t *k, int64_t ts, uint64_t txh)
{
    if (seen_has(k, ts, txh))
        return;
    if (k->nseen < SEEN_MAX) {
        k->seen[k->nseen++] = (seen_t){ts, txh};
        return;
    }
    unsigned oldest = 0;
    for (unsigned i = 1; i < SEEN_MAX; i++)
        if (k->seen[i].ts < k->seen[oldest].ts)
            oldest = i;
    if (k->seen[oldest].ts < ts)
        k->seen[oldest] = (seen_t){ts, txh};
}

/* Set the key's last version; takes tx (malloc'ed). */
static void key_take_last(rkey_t *k, int64_t ts, char *tx, char op)
{
    free(k->last_tx);
    k->last_tx = tx;
    k->last_ts = ts;
    k->last_op = op;
    k->has_last = true;
}

static int64_t horizon(const cdc_reorder_t *r)
{
    if (r->max_ts == INT64_MIN || r->max_ts < INT64_MIN + r->retention_ns)
        return INT64_MIN;
    return r->max_ts - r->retention_ns;
}

/* Forget keys whose last version is past the horizon and that hold nothing. */
static void prune_keys(cdc_reorder_t *r)
{
    int64_t hz = horizon(r);
    if (hz == INT64_MIN)
        return;
    for (size_t b = 0; b < r->nbuckets; b++) {
        rkey_t **pp = &r->buckets[b];
        while (*pp) {
            rkey_t *k = *pp;
            if (k->nheld == 0 && k->inflight == 0 &&
                (!k->has_last || k->last_ts < hz)) {
                *pp = k->next;
                r->nkeys--;
                r->st.keys_evicted++;
                key_free(k);
            } else {
                pp = &k->next;
            }
        }
    }
}

/* ---- delivery tracking -------------------------------------------------- */

static cdc_err_t inflight_add(cdc_reorder_t *r, rkey_t *k, uint64_t seq)
{
    if (r->itail == r->icap) {
        if (r->ihead > 0) {
            memmove(r->infl, r->infl + r->ihead,
                    (r->itail - r->ihead) * sizeof(*r->infl));
            r->itail -= r->ihead;
            r->ihead = 0;
        }
        if (r->itail == r->icap) {
            size_t cap = r->icap ? r->icap * 2 : 64;
            inflight_t *p = realloc(r->infl, cap * sizeof(*p));
            if (!p)
                return CDC_ERR_NOMEM;
            r->infl = p;
            r->icap = cap;
        }
    }
    inflight_t *e = &r->infl[r->itail];
    memset(e, 0, sizeof(*e));
    e->seq = seq;
    e->key = k;
    if (k->has_last) {
        if (!(e->prev_tx = strdup(k->last_tx)))
            return CDC_ERR_NOMEM;
        e->had_prev = true;
        e->prev_ts = k->last_ts;
        e->prev_op = k->last_op;
    }
    r->itail++;
    k->inflight++;
    return CDC_OK;
}

void cdc_reorder_delivered(cdc_reorder_t *r, uint64_t seq)
{
    size_t lo = r->ihead, hi = r->itail;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->infl[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < r->itail && r->infl[lo].seq == seq)
        r->infl[lo].delivered = true;
    while (r->ihead < r->itail && r->infl[r->ihead].delivered) {
        inflight_t *e = &r->infl[r->ihead++];
        e->key->inflight--;
        free(e->prev_tx);
    }
}

/* ---- emitting ----------------------------------------------------------- */

static cdc_err_t ensure_cols(cdc_reorder_t *r, size_t n)
{
    if (n <= r->colcap)
        return CDC_OK;
    cdc_column_t *c = realloc(r->cols, n * sizeof(*c));
    if (!c)
        return CDC_ERR_NOMEM;
    r->cols = c;
    size_t *o = realloc(r->offs, n * sizeof(*o));
    if (!o)
        return CDC_ERR_NOMEM;
    r->offs = o;
    r->colcap = n;
    return CDC_OK;
}

static int64_t change_ts_ms(const cdc_cdcrec_t *rec)
{
    if (rec->ts_ms >= 0)
        return rec->ts_ms; /* when CDC processed it, like Debezium's ts_ms */
    if (rec->source.ts_ms >= 0)
        return rec->source.ts_ms;
    return rec->source.ts_ns / 1000000;
}

/* Columns of img as text + oid into r's scratch, flagged by t's key. */
static cdc_err_t build_cols(cdc_reorder_t *r, tbl_t *t,
                            const cdc_cdcrec_image_t *img)
{
    cdc_err_t err = ensure_cols(r, img->ncols ? img->ncols : 1);
    if (err != CDC_OK)
        return err;
    cdc_buf_reset(&r->text);
    for (size_t i = 0; i < img->ncols; i++) {
        const cdc_cdcrec_col_t *col = &img->cols[i];
        cdc_column_t *c = &r->cols[i];
        uint32_t hint = tbl_hint(t, i, col->name);
        size_t start = r->text.len;
        err = cdc_cdcrec_value_text(col, hint, &r->text, &c->type_oid,
                                    &c->is_null);
        if (err == CDC_ERR_PARSE) {
            r->st.hint_mismatch++;
            if (!t->warned_hint) {
                t->warned_hint = true;
                const char *name = cdc_pgtypes_name(hint);
                cdc_log_warn("reorder", "table %s.%s column %s: a value does "
                             "not fit its type %s and passes as its JSON "
                             "type instead; check the column types given "
                             "for this table (logged once per table)",
                             t->schema, t->table, col->name,
                             name ? name : "(unknown oid)");
            }
            err = cdc_cdcrec_value_text(col, 0, &r->text, &c->type_oid,
                                        &c->is_null);
        }
        if (err != CDC_OK)
            return err;
        c->name = col->name;
        c->is_key = tbl_is_key(t, col->name);
        r->offs[i] = start;
        c->len = r->text.len - start;
        /* NUL after each value, as libpq gives them to the poller */
        if ((err = cdc_buf_putc(&r->text, '\0')) != CDC_OK)
            return err;
    }
    /* The buffer may have moved while it grew: point into it only now. */
    for (size_t i = 0; i < img->ncols; i++)
        r->cols[i].value = r->cols[i].is_null ? NULL
                                              : r->text.data + r->offs[i];
    return CDC_OK;
}

/* Emit h (its key's oldest held record, or an unkeyed one). On success the
 * key state moves on; h stays where it is (the caller unlinks it). */
static cdc_err_t emit_one(cdc_reorder_t *r, held_t *h, char *errstr,
                          size_t n)
{
    const cdc_cdcrec_t *rec = &h->rec;
    rkey_t *k = h->key;
    tbl_t *t = tbl_get(r, rec->source.schema, rec->source.table);
    /* Allocate before emitting: after a change is out, nothing may fail. */
    char *tx = k ? strdup(rec->source.tx_id) : NULL;
    if (!t || (k && !tx)) {
        free(tx);
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "reorder: %s",
                           cdc_err_str(CDC_ERR_NOMEM));
    }
    char op;
    switch (rec->op) {
    case CDC_CDCREC_OP_CREATE: op = 'c'; break;
    case CDC_CDCREC_OP_UPDATE: op = 'u'; break;
    case CDC_CDCREC_OP_DELETE: op = 'd'; break;
    default: op = (k && k->has_last && k->last_op == 'd') ? 'c' : 'u'; break;
    }
    const cdc_cdcrec_image_t *img = op == 'd' ? &rec->before : &rec->after;
    cdc_err_t err = build_cols(r, t, img);
    if (err != CDC_OK) {
        free(tx);
        char what[240];
        cdc_cdcrec_describe(rec, what, sizeof(what));
        return cdc_err_set(errstr, n, err, "reorder: %s: %s", what,
                           cdc_err_str(err));
    }
    uint64_t seq = r->seq + 1;
    cdc_reorder_out_t out = {
        .change = {
            .schema = rec->source.schema,
            .table = rec->source.table,
            .op = (cdc_op_t)op,
            .ts_ms = change_ts_ms(rec),
            .commit_us = rec->source.ts_ns / 1000,
            .cols = r->cols,
            .ncols = img->ncols,
        },
        .tombstone = op == 'd' && k != NULL,
        .keyed = k != NULL,
        .pos = h->pos,
        .seq = seq,
        .rec = rec,
        .key = k ? k->json : NULL,
    };
    if ((err = r->emit(r->opaque, &out, errstr, n)) != CDC_OK) {
        free(tx);
        return err;
    }
    r->seq = seq;
    r->st.emitted++;
    if (!k)
        return CDC_OK;
    if (r->o.track_delivery && inflight_add(r, k, seq) != CDC_OK)
        cdc_log_error("reorder", "out of memory tracking delivery of %s.%s "
                      "%s: a restart may skip this change", k->schema,
                      k->table, k->json);
    seen_add(k, rec->source.ts_ns, tx_hash(rec->source.tx_id));
    key_take_last(k, rec->source.ts_ns, tx, op);
    return CDC_OK;
}

static void fifo_unlink(held_t **head, held_t **tail, held_t *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        *head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        *tail = h->prev;
    h->prev = h->next = NULL;
}

static void fifo_append(held_t **head, held_t **tail, held_t *h)
{
    h->prev = *tail;
    h->next = NULL;
    if (*tail)
        (*tail)->next = h;
    else
        *head = h;
    *tail = h;
}

/* Emit the held records of h's key up to and including h, in order. */
static cdc_err_t emit_through(cdc_reorder_t *r, held_t *h, char *errstr,
                              size_t n)
{
    rkey_t *k = h->key;
    bool last = false;
    while (!last) {
        held_t *x = k->held[0]; /* h is held, so this is h or older */
        last = x == h;
        cdc_err_t err = emit_one(r, x, errstr, n);
        if (err != CDC_OK)
            return err;
        memmove(&k->held[0], &k->held[1], (k->nheld - 1) * sizeof(*k->held));
        k->nheld--;
        fifo_unlink(&r->head, &r->tail, x);
        r->nheld--;
        held_free(x);
    }
    return CDC_OK;
}

static cdc_err_t release(cdc_reorder_t *r, int64_t now_ms, bool all,
                         char *errstr, size_t n)
{
    cdc_err_t err;
    while (r->nk_head) {
        held_t *h = r->nk_head;
        if ((err = emit_one(r, h, errstr, n)) != CDC_OK)
            return err;
        fifo_unlink(&r->nk_head, &r->nk_tail, h);
        r->nheld--;
        held_free(h);
    }
    while (r->head &&
           (all || r->head->due_ms <= now_ms || r->nheld > r->o.max_held))
        if ((err = emit_through(r, r->head, errstr, n)) != CDC_OK)
            return err;
    if (r->max_ts != INT64_MIN && r->max_ts >= r->next_prune_ts) {
        prune_keys(r);
        int64_t step = r->retention_ns / 8;
        r->next_prune_ts =
            r->max_ts > INT64_MAX - step ? INT64_MAX : r->max_ts + step;
    }
    return CDC_OK;
}

cdc_err_t cdc_reorder_release(cdc_reorder_t *r, int64_t now_ms, char *errstr,
                              size_t errstr_size)
{
    return release(r, now_ms, false, errstr, errstr_size);
}

cdc_err_t cdc_reorder_flush(cdc_reorder_t *r, char *errstr,
                            size_t errstr_size)
{
    return release(r, 0, true, errstr, errstr_size);
}

int64_t cdc_reorder_next_due(const cdc_reorder_t *r)
{
    if (r->nk_head)
        return INT64_MIN;
    return r->head ? r->head->due_ms : INT64_MAX;
}

/* ---- push --------------------------------------------------------------- */

/* The key JSON of rec ("[v1,v2]" in key order) from img into buf. */
static cdc_err_t key_json(const tbl_t *t, const cdc_cdcrec_t *rec,
                          const cdc_cdcrec_image_t *img, cdc_buf_t *buf,
                          char *errstr, size_t n)
{
    char what[240];
    json_t *arr = json_array();
    if (!arr)
        return CDC_ERR_NOMEM;
    for (size_t i = 0; i < t->nkeys; i++) {
        json_t *v = json_object_get(img->obj, t->keys[i]);
        if (!v) {
            json_decref(arr);
            cdc_cdcrec_describe(rec, what, sizeof(what));
            return cdc_err_set(errstr, n, CDC_ERR_PARSE, "%s: key column %s "
                               "is missing from the %s image", what,
                               t->keys[i], img == &rec->after ? "after"
                                                              : "before");
        }
        if (json_array_append(arr, v) != 0) {
            json_decref(arr);
            return CDC_ERR_NOMEM;
        }
    }
    char *s = json_dumps(arr, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(arr);
    if (!s)
        return CDC_ERR_NOMEM;
    cdc_err_t err = cdc_buf_append(buf, s, strlen(s) + 1); /* with the NUL */
    free(s);
    return err;
}

static void warn_op(cdc_reorder_t *r, const cdc_cdcrec_t *rec)
{
    for (size_t i = 0; i < r->nwarned_ops; i++)
        if (strcmp(r->warned_ops[i], rec->op_str) == 0)
            return;
    if (r->nwarned_ops < WARNED_OPS_MAX) {
        char *dup = strdup(rec->op_str);
        if (dup)
            r->warned_ops[r->nwarned_ops++] = dup;
    }
    char what[240];
    cdc_cdcrec_describe(rec, what, sizeof(what));
    cdc_log_warn("reorder", "unknown op \"%.32s\" (first seen on %s): "
                 "applied as an upsert of the after image, as DSQL advises; "
                 "logged once per op", rec->op_str, what);
}

static held_t *held_new(cdc_cdcrec_t *rec, uint64_t pos, int64_t due)
{
    held_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->rec = *rec;
    cdc_cdcrec_init(rec);
    h->pos = pos;
    h->due_ms = due;
    return h;
}

static cdc_err_t push_unkeyed(cdc_reorder_t *r, tbl_t *t, cdc_cdcrec_t *rec,
                              uint64_t pos, cdc_reorder_result_t *res,
                              char *errstr, size_t n)
{
    if (!t->warned_nokey) {
        t->warned_nokey = true;
        cdc_log_warn("reorder", "table %s.%s has no primary key known to "
                     "dsqlcdc: its changes pass unkeyed (no de-duplication, "
                     "no ordering) and its deletes, which carry no image, "
                     "are skipped; give the table a primary key (or its key "
                     "columns) to stream it correctly", t->schema, t->table);
    }
    if (rec->op != CDC_CDCREC_OP_DELETE && !rec->after.obj) {
        char what[240];
        cdc_cdcrec_describe(rec, what, sizeof(what));
        return cdc_err_set(errstr, n, CDC_ERR_PARSE, "%s: op \"%.32s\" "
                           "without an after image", what, rec->op_str);
    }
    if (rec->op == CDC_CDCREC_OP_DELETE && !rec->before.obj) {
        r->st.no_key_skipped++;
        *res = CDC_REORDER_NO_KEY;
        return CDC_OK;
    }
    held_t *h = held_new(rec, pos, 0);
    if (!h)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "reorder: %s",
                           cdc_err_str(CDC_ERR_NOMEM));
    fifo_append(&r->nk_head, &r->nk_tail, h);
    r->nheld++;
    r->st.no_key_passed++;
    r->st.accepted++;
    *res = CDC_REORDER_HELD;
    return CDC_OK;
}

static cdc_err_t push_keyed(cdc_reorder_t *r, tbl_t *t, cdc_cdcrec_t *rec,
                            uint64_t pos, int64_t now_ms,
                            cdc_reorder_result_t *res, char *errstr, size_t n)
{
    char what[240];
    const cdc_cdcrec_image_t *img =
        rec->op == CDC_CDCREC_OP_DELETE ? &rec->before : &rec->after;
    if (!img->obj) {
        cdc_cdcrec_describe(rec, what, sizeof(what));
        if (rec->op == CDC_CDCREC_OP_DELETE)
            return cdc_err_set(errstr, n, CDC_ERR_PARSE, "%s: delete without "
                               "a before image, so the row cannot be keyed; "
                               "does the table really have the key columns "
                               "configured for it?", what);
        return cdc_err_set(errstr, n, CDC_ERR_PARSE, "%s: op \"%.32s\" "
                           "without an after image", what, rec->op_str);
    }

    cdc_buf_t id;
    cdc_buf_init(&id);
    cdc_err_t err = cdc_buf_append(&id, rec->source.schema,
                                   strlen(rec->source.schema) + 1);
    if (err == CDC_OK)
        err = cdc_buf_append(&id, rec->source.table,
                             strlen(rec->source.table) + 1);
    if (err == CDC_OK)
        err = key_json(t, rec, img, &id, errstr, n);
    if (err != CDC_OK) {
        cdc_buf_free(&id);
        if (err == CDC_ERR_NOMEM)
            err = cdc_err_set(errstr, n, err, "reorder: %s",
                              cdc_err_str(err));
        return err;
    }
    size_t id_len = id.len - 1; /* without the final NUL */
    uint64_t h = fnv1a(id.data, id_len);
    rkey_t *k = key_find(r, id.data, id_len, h);
    int64_t ts = rec->source.ts_ns;
    const char *tx = rec->source.tx_id;

    *res = CDC_REORDER_HELD;
    if (!k && ts < horizon(r)) {
        *res = CDC_REORDER_TOO_OLD;
        r->st.too_old++;
    } else if (k && k->has_last && ver_cmp(ts, tx, k->last_ts,
                                           k->last_tx) <= 0) {
        uint64_t txh = tx_hash(tx);
        if (seen_has(k, ts, txh)) {
            *res = CDC_REORDER_DUPLICATE;
            r->st.duplicates++;
        } else {
            *res = CDC_REORDER_STALE;
            r->st.stale++;
            seen_add(k, ts, txh);
        }
    } else if (k) {
        for (size_t i = 0; i < k->nheld; i++) {
            if (k->held[i]->rec.source.ts_ns == ts &&
                strcmp(k->held[i]->rec.source.tx_id, tx) == 0) {
                *res = CDC_REORDER_DUPLICATE;
                r->st.duplicates++;
                break;
            }
        }
    }
    if (*res != CDC_REORDER_HELD) {
        cdc_buf_free(&id);
        return CDC_OK;
    }

    if (!k && !(k = key_add(r, id.data, id_len, h))) {
        cdc_buf_free(&id);
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "reorder: %s",
                           cdc_err_str(CDC_ERR_NOMEM));
    }
    cdc_buf_free(&id);
    if (k->nheld == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 2;
        held_t **p = realloc(k->held, cap * sizeof(*p));
        if (!p)
            return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "reorder: %s",
                               cdc_err_str(CDC_ERR_NOMEM));
        k->held = p;
        k->cap = cap;
    }
    bool unknown = rec->op == CDC_CDCREC_OP_OTHER;
    int64_t due = now_ms > INT64_MAX - r->o.window_ms
                      ? INT64_MAX
                      : now_ms + r->o.window_ms;
    held_t *hd = held_new(rec, pos, due);
    if (!hd)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "reorder: %s",
                           cdc_err_str(CDC_ERR_NOMEM));
    hd->key = k;
    size_t at = k->nheld;
    while (at > 0 && held_cmp(k->held[at - 1], hd) > 0)
        at--;
    memmove(&k->held[at + 1], &k->held[at], (k->nheld - at) * sizeof(*k->held));
    k->held[at] = hd;
    k->nheld++;
    fifo_append(&r->head, &r->tail, hd);
    r->nheld++;
    r->st.accepted++;
    if (unknown) {
        r->st.unknown_op++;
        warn_op(r, &hd->rec);
    }
    if (ts > r->max_ts)
        r->max_ts = ts;
    return CDC_OK;
}

cdc_err_t cdc_reorder_push(cdc_reorder_t *r, cdc_cdcrec_t *rec, uint64_t pos,
                           int64_t now_ms, cdc_reorder_result_t *res,
                           char *errstr, size_t errstr_size)
{
    cdc_err_t err;
    *res = CDC_REORDER_HELD;
    if (!rec->root || rec->type != CDC_CDCREC_FULL) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                          "reorder: only full records can be ordered (got "
                          "a %s record)", rec->root
                              ? cdc_cdcrec_type_name(rec->type)
                              : "empty");
        cdc_cdcrec_clear(rec);
        return err;
    }
    tbl_t *t = tbl_get(r, rec->source.schema, rec->source.table);
    if (!t) {
        cdc_cdcrec_clear(rec);
        return cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM, "reorder: %s",
                           cdc_err_str(CDC_ERR_NOMEM));
    }
    if (r->any_allowed && !t->allowed) {
        r->st.filtered++;
        *res = CDC_REORDER_FILTERED;
        err = CDC_OK;
    } else if (t->nkeys == 0) {
        err = push_unkeyed(r, t, rec, pos, res, errstr, errstr_size);
    } else {
        err = push_keyed(r, t, rec, pos, now_ms, res, errstr, errstr_size);
    }
    cdc_cdcrec_clear(rec); /* no-op when it was moved in */
    if (err != CDC_OK)
        return err;
    return release(r, now_ms, false, errstr, errstr_size);
}

/* ---- persistence -------------------------------------------------------- */

static int key_order(const void *a, const void *b)
{
    const rkey_t *x = *(const rkey_t *const *)a, *y = *(const rkey_t *const *)b;
    size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
    int c = memcmp(x->id, y->id, n);
    if (c)
        return c;
    return x->id_len < y->id_len ? -1 : x->id_len > y->id_len;
}

typedef struct {
    const rkey_t *key;
    size_t idx;
} infl_pair_t;

static int pair_order(const void *a, const void *b)
{
    const infl_pair_t *x = a, *y = b;
    if (x->key != y->key)
        return (uintptr_t)x->key < (uintptr_t)y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The first pair of k (pairs sorted by pair_order), NULL if none. */
static const infl_pair_t *pair_find(const infl_pair_t *pairs, size_t n,
                                    const rkey_t *k)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)pairs[mid].key < (uintptr_t)k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && pairs[lo].key == k ? &pairs[lo] : NULL;
}

json_t *cdc_reorder_export(const cdc_reorder_t *r)
{
    rkey_t **all = malloc((r->nkeys ? r->nkeys : 1) * sizeof(*all));
    json_t *keys = json_array();
    json_t *root = json_pack("{s:i, s:I, s:o}", "v", 1, "max_ts_ns",
                             (json_int_t)(r->max_ts == INT64_MIN ? 0
                                                                 : r->max_ts),
                             "keys", keys);
    if (!all || !root) {
        free(all);
        json_decref(root);
        return NULL;
    }
    size_t nk = 0;
    for (size_t b = 0; b < r->nbuckets; b++)
        for (rkey_t *k = r->buckets[b]; k; k = k->next)
            all[nk++] = k;
    qsort(all, nk, sizeof(*all), key_order);

    /* A key with an undelivered emission exports the version it had before
     * the first of them: pairs (key, first undelivered entry) by key. */
    size_t npairs = 0;
    infl_pair_t *pairs = NULL;
    if (r->o.track_delivery && r->itail > r->ihead) {
        pairs = malloc((r->itail - r->ihead) * sizeof(*pairs));
        if (!pairs) {
            free(all);
            json_decref(root);
            return NULL;
        }
        for (size_t i = r->ihead; i < r->itail; i++)
            if (!r->infl[i].delivered)
                pairs[npairs++] = (infl_pair_t){r->infl[i].key, i};
        /* Stable by index within a key: the first undelivered comes first. */
        qsort(pairs, npairs, sizeof(*pairs), pair_order);
    }

    bool ok = true;
    for (size_t i = 0; i < nk && ok; i++) {
        rkey_t *k = all[i];
        bool has = k->has_last;
        int64_t ts = k->last_ts;
        const char *tx = k->last_tx;
        char op = k->last_op;
        const infl_pair_t *p = npairs ? pair_find(pairs, npairs, k) : NULL;
        if (p) {
            const inflight_t *e = &r->infl[p->idx];
            has = e->had_prev;
            ts = e->prev_ts;
            tx = e->prev_tx;
            op = e->prev_op;
        }
        if (!has)
            continue;
        json_t *seen = json_array();
        for (unsigned s = 0; seen && s < k->nseen; s++) {
            char hex[17];
            snprintf(hex, sizeof(hex), "%016" PRIx64, k->seen[s].txh);
            ok = json_array_append_new(seen, json_pack("[I,s]",
                                       (json_int_t)k->seen[s].ts, hex)) == 0;
        }
        char ops[2] = {op, '\0'};
        json_t *jk = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:o}",
                               "schema", k->schema, "table", k->table, "key",
                               k->json, "ts_ns", (json_int_t)ts, "tx", tx,
                               "op", ops, "seen", seen);
        ok = ok && jk && json_array_append_new(keys, jk) == 0;
    }
    free(pairs);
    free(all);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

cdc_err_t cdc_reorder_import(cdc_reorder_t *r, const json_t *state,
                             char *errstr, size_t errstr_size)
{
    if (r->nkeys || r->nheld || r->seq)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "reorder state: import into a fresh reorderer "
                           "only");
    json_t *v = json_object_get(state, "v");
    json_t *mx = json_object_get(state, "max_ts_ns");
    json_t *keys = json_object_get(state, "keys");
    if (!json_is_object(state) || !json_is_integer(v) ||
        json_integer_value(v) != 1 || !json_is_integer(mx) ||
        !json_is_array(keys))
        return cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE, "reorder "
                           "state: expected {\"v\":1,\"max_ts_ns\":N,"
                           "\"keys\":[...]}");
    size_t i;
    json_t *jk;
    cdc_buf_t id;
    cdc_buf_init(&id);
    cdc_err_t err = CDC_OK;
    json_array_foreach(keys, i, jk) {
        const char *schema = NULL, *table = NULL, *key = NULL, *tx = NULL,
                   *op = NULL;
        json_int_t ts = 0;
        json_t *seen = NULL;
        if (json_unpack(jk, "{s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "schema",
                        &schema, "table", &table, "key", &key, "ts_ns", &ts,
                        "tx", &tx, "op", &op, "seen", &seen) != 0 ||
            !json_is_array(seen) || strlen(op) != 1 ||
            !strchr("cud", op[0])) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE, "reorder "
                              "state: key %zu is malformed", i);
            break;
        }
        cdc_buf_reset(&id);
        if ((err = cdc_buf_append(&id, schema, strlen(schema) + 1)) !=
                CDC_OK ||
            (err = cdc_buf_append(&id, table, strlen(table) + 1)) != CDC_OK ||
            (err = cdc_buf_puts(&id, key)) != CDC_OK)
            break;
        uint64_t h = fnv1a(id.data, id.len);
        if (key_find(r, id.data, id.len, h)) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE, "reorder "
                              "state: key %s.%s %s appears twice", schema,
                              table, key);
            break;
        }
        rkey_t *k = key_add(r, id.data, id.len, h);
        char *txd = k ? strdup(tx) : NULL;
        if (!txd) {
            err = CDC_ERR_NOMEM;
            break;
        }
        key_take_last(k, ts, txd, op[0]);
        size_t s;
        json_t *js;
        json_array_foreach(seen, s, js) {
            json_int_t sts;
            const char *hex;
            char *end;
            if (json_unpack(js, "[I,s]", &sts, &hex) != 0 ||
                strlen(hex) != 16) {
                err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                                  "reorder state: key %s.%s %s: malformed "
                                  "seen entry %zu", schema, table, key, s);
                break;
            }
            uint64_t txh = strtoull(hex, &end, 16);
            if (*end) {
                err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                                  "reorder state: key %s.%s %s: malformed "
                                  "seen entry %zu", schema, table, key, s);
                break;
            }
            seen_add(k, sts, txh);
        }
        if (err != CDC_OK)
            break;
    }
    cdc_buf_free(&id);
    if (err != CDC_OK) {
        if (err == CDC_ERR_NOMEM)
            cdc_err_set(errstr, errstr_size, err, "reorder state: %s",
                        cdc_err_str(err));
        for (size_t b = 0; b < r->nbuckets; b++) {
            for (rkey_t *k = r->buckets[b], *nx; k; k = nx) {
                nx = k->next;
                key_free(k);
            }
            r->buckets[b] = NULL;
        }
        r->nkeys = 0;
        return err;
    }
    json_int_t m = json_integer_value(mx);
    r->max_ts = m > 0 ? m : INT64_MIN;
    return CDC_OK;
}
