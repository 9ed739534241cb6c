/*
 * poll.c - keyset poller with the late-commit re-scan (see poll.h).
 *
 * Values travel as text both ways: cursor timestamps and key values are
 * bound back as text parameters typed with the columns' own type oids, so
 * comparisons happen in the column types on the server and round-trip
 * exactly (timestamptz text keeps its microseconds). Timestamps are also
 * parsed to epoch microseconds here, only to compare them with each other.
 */
#include "source/poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "db/conn.h"
#include "encode/pgtypes.h"
#include "source/dedup.h"

#define MAX_KEYS 32
#define MAX_PARAMS (1 + 2 * (1 + MAX_KEYS))

/* The queries of a step, each sent when the last one's answer is in. */
typedef enum {
    Q_NONE,
    Q_START,   /* server time: where dsql.start.mode=latest starts */
    Q_HORIZON, /* server time minus the lookback, before a page */
    Q_PAGE,    /* a page of the fast scan or of the re-scan */
} query_t;

typedef struct {
    char *name;
    uint32_t type_oid;
} col_t;

/* A point in (timestamp, key) order; key NULL means "before every key". */
typedef struct {
    json_t *ts;  /* string; NULL = before everything */
    json_t *key; /* array of strings, or NULL */
    int64_t us;
} cursor_t;

/* A timestamp bound: text for queries, microseconds for comparisons. */
typedef struct {
    json_t *ts; /* string; NULL = minus infinity */
    int64_t us;
} bound_t;

struct cdc_poller {
    const cdc_config_t *cfg;
    char *schema, *table, *name;
    col_t *cols;
    size_t ncols;
    int ts_idx, created_idx, deleted_idx; /* -1 when absent */
    int key_idx[MAX_KEYS];
    size_t nkeys;
    cdc_column_t *row; /* reused per row */
    /* queries, built at discovery */
    char *sql_fast_first, *sql_fast_from, *sql_fast_next;
    char *sql_fast_skip; /* sql_fast_next past one page: see send_skip */
    char *sql_rescan_first, *sql_rescan_next;

    cursor_t fast;      /* F */
    bound_t safe;       /* W */
    bound_t horizon;    /* server now - lookback, from the last clock read */
    bool fast_idle;     /* last fast page was short: next one starts a cycle */
    int64_t next_fast_ms; /* when an idle fast scan looks again */
    bool last_was_rescan;
    /* the re-scan pass in progress */
    bool rescan_active;
    cursor_t rescan_end;   /* F when the pass started */
    cursor_t rescan_pos;   /* last row the pass read; ts NULL = from W */
    bound_t rescan_horizon;
    int64_t next_rescan_ms;
    cdc_dedup_t *seen;
    uint64_t seq;       /* numbers steps, for delivery-aware persistence */
    int64_t row_estimate; /* the planner's, at discovery; -1 unknown */
    uint64_t late_rows, rescan_skipped;
    /* The step in progress: its queries go out one at a time and their
     * answers are read as they come, so the caller never waits on them. */
    bool in_step;
    bool step_rescan;   /* it reads a re-scan page */
    bool step_clock;    /* its fast page has read the server time */
    int64_t step_ms;    /* it began */
    query_t inflight;   /* sent, answer not yet read */
    int64_t sent_ms;
    PGresult *result;   /* its answer, until the connection is idle */
    /* The inflight page was sent ahead for the next step (before this
     * step's rows were emitted); it is used if the next step asks for the
     * same SQL and parameters. */
    bool ahead;
    const char *ahead_sql;
    cdc_buf_t ahead_params; /* each NUL-terminated */
    /* A fast page query queued behind the inflight one (the connection in
     * pipeline mode), and whether the inflight one is such a query: see
     * send_skip. */
    bool queued;
    bool ahead_skip;
};

static char *xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void cursor_set(cursor_t *c, json_t *ts, json_t *key, int64_t us)
{
    json_decref(c->ts);
    json_decref(c->key);
    c->ts = ts;
    c->key = key;
    c->us = us;
}

static void cursor_copy(cursor_t *dst, const cursor_t *src)
{
    cursor_set(dst, json_incref(src->ts), json_incref(src->key), src->us);
}

static void bound_set(bound_t *b, json_t *ts, int64_t us)
{
    json_decref(b->ts);
    b->ts = ts;
    b->us = us;
}

cdc_poller_t *cdc_poller_new(const cdc_config_t *c, const char *table)
{
    cdc_poller_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cfg = c;
    p->ts_idx = p->created_idx = p->deleted_idx = -1;
    p->safe.us = p->horizon.us = INT64_MIN;
    p->fast_idle = true;
    cdc_buf_init(&p->ahead_params);
    const char *dot = strchr(table, '.');
    p->schema = dot ? xstrndup(table, (size_t)(dot - table))
                    : strdup(cdc_config_str(c, CDC_KEY_SCHEMA));
    p->table = strdup(dot ? dot + 1 : table);
    p->seen = cdc_dedup_new();
    if (p->schema && p->table &&
        (p->name = malloc(strlen(p->schema) + strlen(p->table) + 2)))
        sprintf(p->name, "%s.%s", p->schema, p->table);
    if (!p->name || !p->seen) {
        cdc_poller_destroy(p);
        return NULL;
    }
    return p;
}

static void clear_schema(cdc_poller_t *p)
{
    for (size_t i = 0; i < p->ncols; i++)
        free(p->cols[i].name);
    free(p->cols);
    free(p->row);
    char **sqls[] = {&p->sql_fast_first, &p->sql_fast_from, &p->sql_fast_next,
                     &p->sql_fast_skip, &p->sql_rescan_first,
                     &p->sql_rescan_next};
    for (size_t i = 0; i < sizeof sqls / sizeof *sqls; i++) {
        free(*sqls[i]);
        *sqls[i] = NULL;
    }
    p->cols = NULL;
    p->row = NULL;
    p->ncols = p->nkeys = 0;
    p->ts_idx = p->created_idx = p->deleted_idx = -1;
}

void cdc_poller_destroy(cdc_poller_t *p)
{
    if (!p)
        return;
    cdc_poller_abandon(p);
    cdc_buf_free(&p->ahead_params);
    clear_schema(p);
    cursor_set(&p->fast, NULL, NULL, 0);
    cursor_set(&p->rescan_end, NULL, NULL, 0);
    cursor_set(&p->rescan_pos, NULL, NULL, 0);
    bound_set(&p->safe, NULL, 0);
    bound_set(&p->horizon, NULL, 0);
    bound_set(&p->rescan_horizon, NULL, 0);
    cdc_dedup_destroy(p->seen);
    free(p->schema);
    free(p->table);
    free(p->name);
    free(p);
}

const char *cdc_poller_name(const cdc_poller_t *p) { return p->name; }
const char *cdc_poller_schema(const cdc_poller_t *p) { return p->schema; }
const char *cdc_poller_table(const cdc_poller_t *p) { return p->table; }
size_t cdc_poller_window_size(const cdc_poller_t *p) { return cdc_dedup_count(p->seen); }
int64_t cdc_poller_row_estimate(const cdc_poller_t *p) { return p->row_estimate; }
uint64_t cdc_poller_seq(const cdc_poller_t *p) { return p->seq; }
int64_t cdc_poller_watermark_us(const cdc_poller_t *p) { return p->safe.us; }

void cdc_poller_rescan_stats(const cdc_poller_t *p, uint64_t *late,
                             uint64_t *skipped)
{
    *late = p->late_rows;
    *skipped = p->rescan_skipped;
}

/* Epoch microseconds of a timestamp text; bounds may carry "+00" even for
 * timestamp columns, so try with a zone first. */
static bool ts_us(const char *s, int64_t *out)
{
    size_t l = strlen(s);
    return cdc_pgtypes_epoch_us(CDC_PGOID_TIMESTAMPTZ, s, l, out) == CDC_OK ||
           cdc_pgtypes_epoch_us(CDC_PGOID_TIMESTAMP, s, l, out) == CDC_OK ||
           cdc_pgtypes_epoch_us(CDC_PGOID_DATE, s, l, out) == CDC_OK;
}

cdc_err_t cdc_poller_restore(cdc_poller_t *p, const json_t *pos, char *errstr,
                             size_t n)
{
    json_t *ts = json_object_get(pos, "ts");
    json_t *key = json_object_get(pos, "key");
    json_t *w = json_object_get(pos, "w");
    json_t *seen = json_object_get(pos, "seen");
    bool ok = json_is_string(ts) && (!key || json_is_null(key) ||
                                     json_is_array(key)) &&
              (!w || json_is_string(w)) && (!seen || json_is_string(seen));
    for (size_t i = 0; ok && json_is_array(key) && i < json_array_size(key); i++)
        ok = json_is_string(json_array_get(key, i));
    int64_t f_us = 0, w_us = 0;
    ok = ok && ts_us(json_string_value(ts), &f_us) &&
         (!w || ts_us(json_string_value(w), &w_us));
    if (!ok)
        return cdc_err_set(errstr, n, CDC_ERR_PARSE,
                           "%s: stored offset is not {\"ts\":\"...\",\"key\":"
                           "[...],\"w\":\"...\"}; reset it with: dsqlcdc "
                           "offsets reset --table %s", p->name, p->name);
    cursor_set(&p->fast, json_incref(ts),
               json_is_array(key) ? json_incref(key) : NULL, f_us);
    if (w)
        bound_set(&p->safe, json_incref(w), w_us);
    else
        bound_set(&p->safe, json_incref(ts), f_us);
    if (seen && cdc_dedup_import(p->seen, json_string_value(seen),
                                 json_string_length(seen)) != CDC_OK)
        return cdc_err_set(errstr, n, CDC_ERR_PARSE,
                           "%s: stored offset has a malformed \"seen\" set; "
                           "reset it with: dsqlcdc offsets reset --table %s",
                           p->name, p->name);
    /* Re-read the window at once: rows may have committed while stopped. */
    p->next_rescan_ms = 0;
    return CDC_OK;
}

json_t *cdc_poller_position(const cdc_poller_t *p)
{
    if (!p->fast.ts)
        return NULL;
    return json_pack("{s:O,s:O,s:O,s:I}", "ts", p->fast.ts, "key",
                     p->fast.key ? p->fast.key : json_null(), "w",
                     p->safe.ts ? p->safe.ts : p->fast.ts,
                     "seq", (json_int_t)p->seq);
}

cdc_err_t cdc_poller_checkpoint(const cdc_poller_t *p, json_t *pos)
{
    json_int_t seq = json_integer_value(json_object_get(pos, "seq"));
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_err_t err = cdc_dedup_export(p->seen, (uint64_t)seq, &b);
    if (err == CDC_OK && b.len)
        err = json_object_set_new(pos, "seen",
                                  json_stringn_nocheck(b.data, b.len))
                  ? CDC_ERR_NOMEM : CDC_OK;
    cdc_buf_free(&b);
    return err;
}

/* --- schema discovery ---------------------------------------------------- */

static int find_col(const cdc_poller_t *p, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < p->ncols; i++)
        if (strcmp(p->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

typedef struct {
    cdc_poller_t *p;
    const char *missing;
    bool too_many;
} keyctx_t;

static void add_key_col(const char *name, void *ctx)
{
    keyctx_t *k = ctx;
    int i = find_col(k->p, name);
    if (i < 0 && !k->missing)
        k->missing = name;
    else if (i >= 0 && k->p->nkeys == MAX_KEYS)
        k->too_many = true;
    else if (i >= 0)
        k->p->key_idx[k->p->nkeys++] = i;
}

/* Quote an identifier (doubling quotes): identifiers come from the catalog
 * or config, never from row data. */
static void put_ident(cdc_buf_t *b, const char *id)
{
    cdc_buf_putc(b, '"');
    for (; *id; id++) {
        if (*id == '"')
            cdc_buf_putc(b, '"');
        cdc_buf_putc(b, *id);
    }
    cdc_buf_putc(b, '"');
}

/* "(ts, k1, ...) op ($first, $first+1, ...)" */
static void put_tuple_cmp(cdc_buf_t *b, const cdc_poller_t *p, const char *op,
                          int first)
{
    cdc_buf_putc(b, '(');
    put_ident(b, p->cols[p->ts_idx].name);
    for (size_t k = 0; k < p->nkeys; k++) {
        cdc_buf_puts(b, ", ");
        put_ident(b, p->cols[p->key_idx[k]].name);
    }
    cdc_buf_printf(b, ") %s ($%d", op, first);
    for (size_t k = 0; k < p->nkeys; k++)
        cdc_buf_printf(b, ", $%d", first + 1 + (int)k);
    cdc_buf_putc(b, ')');
}

/*
 * Build the page queries. Every query stops short of the server's current
 * time: a transaction that started now may still commit rows stamped now.
 * Parameters: fast_from $1 = ts; fast_next $1.. = F; rescan_first $1 = W,
 * $2.. = end; rescan_next $1 = W, $2.. = end, then the pass position.
 */
static cdc_err_t build_sql(cdc_poller_t *p)
{
    cdc_buf_t sel, tail, q;
    cdc_buf_init(&sel);
    cdc_buf_init(&tail);
    cdc_buf_init(&q);
    const char *ts = p->cols[p->ts_idx].name;

    /* SELECT *, not a column list: a column added later then shows up in
     * the result's shape and triggers re-discovery (see same_shape). */
    cdc_buf_puts(&sel, "SELECT * FROM ");
    put_ident(&sel, p->schema);
    cdc_buf_putc(&sel, '.');
    put_ident(&sel, p->table);
    cdc_buf_puts(&sel, " WHERE ");
    put_ident(&sel, ts);
    cdc_buf_puts(&sel, " < now()");

    cdc_buf_puts(&tail, " ORDER BY ");
    put_ident(&tail, ts);
    for (size_t k = 0; k < p->nkeys; k++) {
        cdc_buf_puts(&tail, ", ");
        put_ident(&tail, p->cols[p->key_idx[k]].name);
    }
    size_t order_len = tail.len;
    long long batch = (long long)cdc_config_int(p->cfg, CDC_KEY_BATCH_SIZE);
    cdc_buf_printf(&tail, " LIMIT %lld", batch);
    int pk = 3 + (int)p->nkeys; /* after W ($1) and the end ($2..$(2+nkeys)) */

#define BUILD(dst, ...)                                                       \
    do {                                                                      \
        cdc_buf_reset(&q);                                                    \
        cdc_buf_puts(&q, cdc_buf_str(&sel));                                  \
        __VA_ARGS__;                                                          \
        cdc_buf_puts(&q, cdc_buf_str(&tail));                                 \
        dst = strdup(cdc_buf_str(&q));                                        \
    } while (0)

    BUILD(p->sql_fast_first, (void)0);
    BUILD(p->sql_fast_from, cdc_buf_puts(&q, " AND "); put_ident(&q, ts);
          cdc_buf_puts(&q, " >= $1"));
    BUILD(p->sql_fast_next, cdc_buf_puts(&q, " AND ");
          put_tuple_cmp(&q, p, ">", 1));

    BUILD(p->sql_rescan_first, cdc_buf_puts(&q, " AND "); put_ident(&q, ts);
          cdc_buf_puts(&q, " >= $1 AND "); put_tuple_cmp(&q, p, "<=", 2));
    BUILD(p->sql_rescan_next, cdc_buf_puts(&q, " AND "); put_ident(&q, ts);
          cdc_buf_puts(&q, " >= $1 AND "); put_tuple_cmp(&q, p, "<=", 2);
          cdc_buf_puts(&q, " AND "); put_tuple_cmp(&q, p, ">", pk));
    /* sql_fast_next's rows from its page's last on: that row, then the
     * page after the page (see send_skip). */
    tail.len = order_len;
    cdc_buf_printf(&tail, " LIMIT %lld OFFSET %lld", batch + 1, batch - 1);
    BUILD(p->sql_fast_skip, cdc_buf_puts(&q, " AND ");
          put_tuple_cmp(&q, p, ">", 1));
#undef BUILD
    cdc_buf_free(&sel);
    cdc_buf_free(&tail);
    cdc_buf_free(&q);
    return p->sql_fast_first && p->sql_fast_from && p->sql_fast_next &&
                   p->sql_fast_skip && p->sql_rescan_first && p->sql_rescan_next
               ? CDC_OK : CDC_ERR_NOMEM;
}

static const char columns_sql[] =
    "SELECT a.attname, a.atttypid::int8 "
    "FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 "
    "AND NOT a.attisdropped ORDER BY a.attnum";

/* From pg_catalog, not information_schema: its constraint views show a
 * table's keys only to roles with more than SELECT on it. */
static const char pkey_sql[] =
    "SELECT a.attname "
    "FROM pg_catalog.pg_index i "
    "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
    "AND a.attnum = ANY (i.indkey) "
    "WHERE i.indisprimary AND n.nspname = $1 AND c.relname = $2 "
    "ORDER BY array_position(i.indkey::int2[], a.attnum)";

static bool usable_ts_type(uint32_t oid)
{
    return oid == CDC_PGOID_TIMESTAMPTZ || oid == CDC_PGOID_TIMESTAMP ||
           oid == CDC_PGOID_DATE;
}

/* SELECT permission: reading no rows still needs it. Checked before the
 * key, so a role that may not read the table hears that first. */
static cdc_err_t check_select(cdc_poller_t *p, PGconn *conn, char *errstr,
                              size_t n)
{
    cdc_buf_t q;
    cdc_buf_init(&q);
    cdc_buf_puts(&q, "SELECT * FROM ");
    put_ident(&q, p->schema);
    cdc_buf_putc(&q, '.');
    put_ident(&q, p->table);
    cdc_buf_puts(&q, " LIMIT 0");
    PGresult *r = PQexec(conn, cdc_buf_str(&q));
    cdc_buf_free(&q);
    char what[600];
    snprintf(what, sizeof what, "reading %s", p->name);
    cdc_err_t err = CDC_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        err = cdc_db_result_error(r, conn, what, errstr, n);
    PQclear(r);
    return err;
}

cdc_err_t cdc_poller_discover(cdc_poller_t *p, PGconn *conn, char *errstr,
                              size_t n)
{
    clear_schema(p);
    const char *params[2] = {p->schema, p->table};
    char what[600];
    snprintf(what, sizeof what, "reading the columns of %s", p->name);
    PGresult *r = PQexecParams(conn, columns_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cdc_err_t err = cdc_db_result_error(r, conn, what, errstr, n);
        PQclear(r);
        return err;
    }
    int nrows = PQntuples(r);
    if (nrows == 0) {
        PQclear(r);
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                           "table %s not found (or not visible to role %s); "
                           "check dsql.tables and dsql.schema", p->name,
                           cdc_config_str(p->cfg, CDC_KEY_IAM_USERNAME));
    }
    p->cols = calloc((size_t)nrows, sizeof *p->cols);
    p->row = calloc((size_t)nrows, sizeof *p->row);
    if (!p->cols || !p->row) {
        PQclear(r);
        clear_schema(p);
        return CDC_ERR_NOMEM;
    }
    for (int i = 0; i < nrows; i++) {
        p->cols[i].name = strdup(PQgetvalue(r, i, 0));
        p->cols[i].type_oid = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
        p->ncols++;
    }
    PQclear(r);

    const cdc_config_t *c = p->cfg;
    const char *ts_name = cdc_config_str(c, CDC_KEY_TIMESTAMP_COLUMN);
    cdc_err_t err = CDC_OK;
    p->ts_idx = find_col(p, ts_name);
    p->created_idx = find_col(p, cdc_config_str(c, CDC_KEY_CREATED_COLUMN));
    const char *del = cdc_config_str(c, CDC_KEY_SOFT_DELETE_COLUMN);
    p->deleted_idx = find_col(p, del);
    if (p->ts_idx < 0) {
        err = cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                          "table %s has no column \"%s\" (dsql.timestamp.column)"
                          "; set it to the column every write stamps",
                          p->name, ts_name);
        goto fail;
    }
    if (!usable_ts_type(p->cols[p->ts_idx].type_oid)) {
        const char *tn = cdc_pgtypes_name(p->cols[p->ts_idx].type_oid);
        err = cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                          "column %s.%s (dsql.timestamp.column) has type %s; "
                          "it must be timestamptz, timestamp or date", p->name,
                          ts_name, tn ? tn : "unknown");
        goto fail;
    }
    if (del && p->deleted_idx < 0)
        cdc_log_warn("poll", "table %s has no column \"%s\" "
                     "(dsql.soft.delete.column): its soft deletes are not "
                     "detected", p->name, del);

    if ((err = check_select(p, conn, errstr, n)) != CDC_OK)
        goto fail;
    keyctx_t kc = {p, NULL, false};
    if (cdc_config_str(c, CDC_KEY_KEY_COLUMNS)) {
        cdc_config_list_each(c, CDC_KEY_KEY_COLUMNS, add_key_col, &kc);
    } else {
        snprintf(what, sizeof what, "reading the primary key of %s", p->name);
        r = PQexecParams(conn, pkey_sql, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            err = cdc_db_result_error(r, conn, what, errstr, n);
            PQclear(r);
            goto fail;
        }
        for (int i = 0; i < PQntuples(r); i++)
            add_key_col(PQgetvalue(r, i, 0), &kc);
        PQclear(r);
    }
    if (kc.missing) {
        err = cdc_err_set(errstr, n, CDC_ERR_SCHEMA, "table %s has no column "
                          "\"%s\" (dsql.key.columns)", p->name, kc.missing);
        goto fail;
    }
    if (kc.too_many || p->nkeys == 0) {
        err = cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                          p->nkeys ? "table %s: more than 32 key columns"
                                   : "table %s has no primary key; set "
                                     "dsql.key.columns to columns that "
                                     "identify a row", p->name);
        goto fail;
    }
    if (p->fast.key && json_array_size(p->fast.key) != p->nkeys) {
        err = cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                          "%s: the stored offset has %zu key value(s) but the "
                          "key has %zu column(s); reset it with: dsqlcdc "
                          "offsets reset --table %s --to-timestamp TS",
                          p->name, json_array_size(p->fast.key), p->nkeys,
                          p->name);
        goto fail;
    }
    for (size_t i = 0; i < p->ncols; i++) {
        p->row[i].name = p->cols[i].name;
        p->row[i].type_oid = p->cols[i].type_oid;
    }
    for (size_t k = 0; k < p->nkeys; k++)
        p->row[p->key_idx[k]].is_key = true;
    if ((err = build_sql(p)) != CDC_OK)
        goto fail;
    /* For progress messages only: a failure just means "unknown". */
    p->row_estimate = -1;
    r = PQexecParams(conn,
                     "SELECT c.reltuples::int8 FROM pg_catalog.pg_class c "
                     "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = $1 AND c.relname = $2",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        p->row_estimate = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    cdc_log_info("poll", "%s: %zu columns, key (%s%s), cursor on %s", p->name,
                 p->ncols, p->cols[p->key_idx[0]].name,
                 p->nkeys > 1 ? ", ..." : "", ts_name);
    return CDC_OK;
fail:
    clear_schema(p);
    return err;
}

cdc_err_t cdc_poller_check_index(cdc_poller_t *p, PGconn *conn, bool *indexed,
                                 char *errstr, size_t n)
{
    char what[600];
    cdc_err_t err = CDC_OK;
    static const char index_sql[] =
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
        "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
        "AND a.attnum = i.indkey[0] "
        "WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3)";
    const char *params[3] = {p->schema, p->table, p->cols[p->ts_idx].name};
    PGresult *r = PQexecParams(conn, index_sql, 3, NULL, params, NULL, NULL, 0);
    snprintf(what, sizeof what, "reading the indexes of %s", p->name);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        err = cdc_db_result_error(r, conn, what, errstr, n);
    else
        *indexed = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return err;
}

const char *cdc_poller_ts_column(const cdc_poller_t *p)
{
    return p->ncols ? p->cols[p->ts_idx].name : NULL;
}

/* --- reading ------------------------------------------------------------ */

/* A query ready to send; values borrowed from the poller's state. */
typedef struct {
    const char *sql;
    int n;
    const char *vals[MAX_PARAMS];
    Oid types[MAX_PARAMS];
    char interval[64];
} spec_t;

/* Server time minus the lookback (or not): transactions stamped before it
 * have committed, or never will. */
static query_t clock_spec(const cdc_poller_t *p, query_t q, spec_t *s)
{
    snprintf(s->interval, sizeof s->interval, "%lld milliseconds",
             q == Q_START ? 0LL
                          : (long long)cdc_config_int(p->cfg, CDC_KEY_LOOKBACK_MS));
    s->sql = "SELECT now() - $1::interval";
    s->vals[0] = s->interval;
    s->types[0] = 0;
    s->n = 1;
    return q;
}

/* Append a cursor's values to a parameter list. */
static void add_cursor_params(const cdc_poller_t *p, const cursor_t *c,
                              spec_t *s)
{
    s->vals[s->n] = json_string_value(c->ts);
    s->types[s->n++] = p->cols[p->ts_idx].type_oid;
    for (size_t k = 0; k < p->nkeys; k++) {
        s->vals[s->n] = json_string_value(json_array_get(c->key, k));
        s->types[s->n++] = p->cols[p->key_idx[k]].type_oid;
    }
}

/* The page after pos: of the fast scan from F, or of the re-scan pass
 * through [W, F at its start] (pos ts NULL: from W). */
static query_t page_spec(const cdc_poller_t *p, bool rescan,
                         const cursor_t *pos, spec_t *s)
{
    s->n = 0;
    if (rescan) {
        s->vals[s->n] = p->safe.ts ? json_string_value(p->safe.ts) : "-infinity";
        s->types[s->n++] = p->cols[p->ts_idx].type_oid;
        add_cursor_params(p, &p->rescan_end, s);
        s->sql = p->sql_rescan_first;
        if (pos->ts) {
            add_cursor_params(p, pos, s);
            s->sql = p->sql_rescan_next;
        }
    } else if (pos->ts && pos->key) {
        add_cursor_params(p, pos, s);
        s->sql = p->sql_fast_next;
    } else if (pos->ts) {
        s->vals[s->n] = json_string_value(pos->ts);
        s->types[s->n++] = p->cols[p->ts_idx].type_oid;
        s->sql = p->sql_fast_from;
    } else {
        s->sql = p->sql_fast_first;
    }
    return Q_PAGE;
}

/* The step's next query; Q_NONE when the step has nothing (more) to ask. */
static query_t next_query(cdc_poller_t *p, spec_t *s)
{
    if (!p->fast.ts && !p->safe.ts &&
        strcmp(cdc_config_str(p->cfg, CDC_KEY_START_MODE), "latest") == 0)
        return clock_spec(p, Q_START, s); /* no stored position: start now */
    if (p->step_rescan) {
        if (p->rescan_active)
            return page_spec(p, true, &p->rescan_pos, s);
        /* A cursor without key values (a reset to a timestamp, or a start
         * at the latest row) has nothing behind it to re-read yet. */
        return p->fast.key ? clock_spec(p, Q_HORIZON, s) : Q_NONE;
    }
    if (p->fast_idle && !p->step_clock)
        return clock_spec(p, Q_HORIZON, s);
    return page_spec(p, false, &p->fast, s);
}

/* A failed page query (r NULL: the connection's own error) as an error
 * naming the table. */
static cdc_err_t poll_error(const cdc_poller_t *p, const PGresult *r,
                            const PGconn *conn, char *errstr, size_t n)
{
    char what[600];
    snprintf(what, sizeof what, "polling %s", p->name);
    return cdc_db_result_error(r, conn, what, errstr, n);
}

/* Send s; in pipeline mode each query is its own transaction (a Sync
 * after it), as outside it. */
static bool send_sql(PGconn *conn, const char *sql, const spec_t *s)
{
    return PQsendQueryParams(conn, sql, s->n, s->types, s->vals, NULL, NULL,
                             0) &&
           (PQpipelineStatus(conn) == PQ_PIPELINE_OFF || PQpipelineSync(conn));
}

static cdc_err_t send_query(cdc_poller_t *p, PGconn *conn, query_t q,
                            const spec_t *s, int64_t now, char *errstr,
                            size_t n)
{
    if (!send_sql(conn, s->sql, s))
        return poll_error(p, NULL, conn, errstr, n);
    p->inflight = q;
    p->sent_ms = now;
    return CDC_OK;
}

/* The query the next step would send, if it is q with the parameters s:
 * sent before this step's rows are emitted, so the server reads the next
 * page while this one is encoded and produced. */
static void send_ahead(cdc_poller_t *p, PGconn *conn, const spec_t *s,
                       int64_t now)
{
    char errstr[64];
    cdc_buf_reset(&p->ahead_params);
    for (int i = 0; i < s->n; i++)
        if (cdc_buf_append(&p->ahead_params, s->vals[i],
                           strlen(s->vals[i]) + 1) != CDC_OK)
            return;
    if (send_query(p, conn, Q_PAGE, s, now, errstr, sizeof errstr) != CDC_OK)
        return; /* the next step sends it the usual way, and sees why */
    p->ahead = true;
    p->ahead_sql = s->sql;
}

/*
 * Queue, behind the query in flight, the fast page after the page that s
 * (the fast scan after a full page) asks for: the rows s asks for from
 * their batch.size-th on, one more than a page. The server reads it right
 * after the one before, instead of waiting for the next step to name the
 * page's last row; its first row is that last row when nothing committed
 * or vanished before it in between, and only then is the rest used as the
 * page after it (see skip_fits). Costs the server the skipped rows' reads.
 */
static void send_skip(cdc_poller_t *p, PGconn *conn, const spec_t *s)
{
    if (s->sql == p->sql_fast_next &&
        PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
        p->queued = send_sql(conn, p->sql_fast_skip, s);
}

/* Is s the query that was sent ahead? */
static bool is_ahead(const cdc_poller_t *p, const spec_t *s)
{
    if (s->sql != p->ahead_sql)
        return false;
    const char *v = p->ahead_params.data;
    size_t left = p->ahead_params.len;
    for (int i = 0; i < s->n; i++) {
        size_t l = strlen(s->vals[i]) + 1;
        if (l > left || memcmp(v, s->vals[i], l) != 0)
            return false;
        v += l;
        left -= l;
    }
    return left == 0;
}

/* Parse a server-time result. */
static cdc_err_t clock_result(const PGresult *r, bound_t *out, char *errstr,
                              size_t n)
{
    int64_t us;
    const char *v = PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
    if (!ts_us(v, &us))
        return cdc_err_set(errstr, n, CDC_ERR_PARSE, "server time \"%s\" is "
                           "not a timestamp", v);
    bound_set(out, json_string(v), us);
    return CDC_OK;
}

/* Move W up to b (never down); forget versions stamped before it. */
static void advance_safe(cdc_poller_t *p, const bound_t *b)
{
    if (!b->ts || b->us <= p->safe.us)
        return;
    bound_set(&p->safe, json_incref(b->ts), b->us);
    cdc_dedup_prune(p->seen, b->us);
}

/* min(cursor's timestamp, bound) as a bound. */
static void min_bound(const cursor_t *c, const bound_t *b, bound_t *out)
{
    if (c->us <= b->us)
        bound_set(out, json_incref(c->ts), c->us);
    else
        bound_set(out, json_incref(b->ts), b->us);
}

static cdc_op_t row_op(const cdc_poller_t *p, const PGresult *r, int row)
{
    if (p->deleted_idx >= 0 && !PQgetisnull(r, row, p->deleted_idx)) {
        const char *v = PQgetvalue(r, row, p->deleted_idx);
        if (strcmp(v, "f") != 0)
            return CDC_OP_DELETE;
    }
    if (p->created_idx >= 0 && !PQgetisnull(r, row, p->created_idx) &&
        strcmp(PQgetvalue(r, row, p->created_idx),
               PQgetvalue(r, row, p->ts_idx)) == 0)
        return CDC_OP_CREATE;
    return CDC_OP_UPDATE;
}

static cdc_err_t row_cursor(const cdc_poller_t *p, const PGresult *r, int row,
                            int64_t us, cursor_t *out)
{
    json_t *ts = json_string(PQgetvalue(r, row, p->ts_idx));
    json_t *key = json_array();
    if (!ts || !key) {
        json_decref(ts);
        json_decref(key);
        return CDC_ERR_NOMEM;
    }
    for (size_t k = 0; k < p->nkeys; k++)
        json_array_append_new(key, json_string(PQgetvalue(r, row, p->key_idx[k])));
    cursor_set(out, ts, key, us);
    return CDC_OK;
}

static uint64_t row_digest(const cdc_poller_t *p, const PGresult *r, int row,
                           int64_t us)
{
    const char *vals[MAX_KEYS];
    size_t lens[MAX_KEYS];
    for (size_t k = 0; k < p->nkeys; k++) {
        vals[k] = PQgetvalue(r, row, p->key_idx[k]);
        lens[k] = (size_t)PQgetlength(r, row, p->key_idx[k]);
    }
    return cdc_dedup_digest(vals, lens, p->nkeys, us);
}

typedef struct {
    cdc_poll_emit_fn emit;
    void *ctx;
    bool rescan;       /* emit only versions not seen before */
    /* A fast page with W at F: rows stamped before H and before the page's
     * last timestamp fall below the new W at once, so they need no digest. */
    bool catch_up;
    int first;         /* the result's first row of the page (1: send_skip) */
    cursor_t last;     /* last row read */
    int nread;         /* rows read */
    size_t emitted;
} page_t;

/* Does the result have the columns discovery found, in the same order? */
static bool same_shape(const cdc_poller_t *p, const PGresult *r)
{
    if ((size_t)PQnfields(r) != p->ncols)
        return false;
    for (size_t i = 0; i < p->ncols; i++)
        if (strcmp(PQfname(r, (int)i), p->cols[i].name) != 0 ||
            PQftype(r, (int)i) != p->cols[i].type_oid)
            return false;
    return true;
}

/* Can r, an answer to send_skip, be the page s asks for? Its first row
 * must be the cursor's, the last row read. */
static bool skip_fits(const cdc_poller_t *p, const spec_t *s,
                      const PGresult *r)
{
    if (s->sql != p->sql_fast_next || PQresultStatus(r) != PGRES_TUPLES_OK ||
        PQntuples(r) < 1 || !same_shape(p, r) ||
        strcmp(PQgetvalue(r, 0, p->ts_idx), json_string_value(p->fast.ts)))
        return false;
    for (size_t k = 0; k < p->nkeys; k++)
        if (strcmp(PQgetvalue(r, 0, p->key_idx[k]),
                   json_string_value(json_array_get(p->fast.key, k))))
            return false;
    return true;
}

/* A full page: ask for the next one now when the next step will want it
 * (a fast page after a fast page while no re-scan is due, a re-scan page
 * after a re-scan page while the fast scan waits). */
static void maybe_ahead(cdc_poller_t *p, PGconn *conn, const PGresult *r,
                        int first, int64_t now)
{
    int nrows = PQntuples(r);
    if (nrows - first < (int)cdc_config_int(p->cfg, CDC_KEY_BATCH_SIZE))
        return;
    bool next_rescan = p->step_rescan;
    if (next_rescan ? !p->fast_idle || now >= p->next_fast_ms
                    : p->rescan_active || now >= p->next_rescan_ms)
        return;
    cursor_t last = {NULL, NULL, 0};
    if (row_cursor(p, r, nrows - 1, 0, &last) == CDC_OK) {
        spec_t s;
        page_spec(p, next_rescan, &last, &s);
        if (p->inflight == Q_NONE) {
            if (s.sql == p->sql_fast_next)
                PQenterPipelineMode(conn); /* else one query at a time */
            send_ahead(p, conn, &s, now);
            if (p->ahead)
                send_skip(p, conn, &s);
            else
                PQexitPipelineMode(conn);
        } else if (p->ahead_skip && !p->queued) {
            /* the page after this one is on its way: queue the next */
            send_skip(p, conn, &s);
        }
    }
    cursor_set(&last, NULL, NULL, 0);
}

/* Emit a page's rows. conn, when not NULL, may take the next page's query
 * before the rows are emitted. */
static cdc_err_t run_page(cdc_poller_t *p, PGresult *r, PGconn *conn,
                          int64_t now, page_t *pg, char *errstr, size_t n)
{
    int first = pg->first;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cdc_err_t err = poll_error(p, r, conn, errstr, n);
        if (err == CDC_ERR_SCHEMA)
            clear_schema(p); /* re-discover before the next step */
        return err;
    }
    if (!same_shape(p, r)) {
        clear_schema(p); /* re-discover before the next step */
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA, "polling %s: the "
                           "table's columns changed", p->name);
    }
    if (conn)
        maybe_ahead(p, conn, r, first, now);
    p->seq++;
    int nrows = PQntuples(r);
    cdc_change_t ch = {
        .schema = p->schema,
        .table = p->table,
        .ts_ms = cdc_wall_us() / 1000,
        .cols = p->row,
        .ncols = p->ncols,
    };
    cdc_err_t err = CDC_OK;
    int last = first - 1; /* last row read (emitted or skipped as seen) */
    int64_t last_us = 0;
    int64_t end_us = INT64_MIN; /* the page's last timestamp */
    if (pg->catch_up && nrows > first &&
        cdc_pgtypes_epoch_us(p->cols[p->ts_idx].type_oid,
                             PQgetvalue(r, nrows - 1, p->ts_idx),
                             (size_t)PQgetlength(r, nrows - 1, p->ts_idx),
                             &end_us) != CDC_OK)
        pg->catch_up = false;
    for (int i = first; i < nrows; i++) {
        int64_t us;
        const char *tsv = PQgetvalue(r, i, p->ts_idx);
        if (cdc_pgtypes_epoch_us(p->cols[p->ts_idx].type_oid, tsv,
                                 (size_t)PQgetlength(r, i, p->ts_idx),
                                 &us) != CDC_OK) {
            err = cdc_err_set(errstr, n, CDC_ERR_PARSE, "%s: timestamp \"%s\" "
                              "cannot be parsed", p->name, tsv);
            break;
        }
        uint64_t digest = 0;
        if (us >= p->safe.us &&
            !(pg->catch_up && us < p->horizon.us && us < end_us)) {
            digest = row_digest(p, r, i, us);
            if (pg->rescan && cdc_dedup_contains(p->seen, digest)) {
                last = i;
                last_us = us;
                p->rescan_skipped++;
                continue;
            }
        }
        for (size_t c = 0; c < p->ncols; c++) {
            cdc_column_t *col = &p->row[c];
            col->is_null = PQgetisnull(r, i, (int)c);
            col->value = col->is_null ? NULL : PQgetvalue(r, i, (int)c);
            col->len = col->is_null ? 0 : (size_t)PQgetlength(r, i, (int)c);
        }
        ch.op = row_op(p, r, i);
        ch.commit_us = us;
        if ((err = pg->emit(&ch, pg->ctx, errstr, n)) != CDC_OK)
            break;
        last = i;
        last_us = us;
        pg->emitted++;
        if (pg->rescan)
            p->late_rows++;
        if (digest && (err = cdc_dedup_add(p->seen, digest, us, p->seq)) != CDC_OK)
            break;
    }
    pg->nread = last + 1 - first;
    if (err != CDC_OK && pg->catch_up && last >= first && last_us < end_us &&
        last_us < p->horizon.us) {
        /* The page stopped early: W stops at this row's timestamp, so the
         * rows emitted with it must be in the set after all. */
        for (int j = last; j >= first; j--) {
            int64_t us;
            if (cdc_pgtypes_epoch_us(p->cols[p->ts_idx].type_oid,
                                     PQgetvalue(r, j, p->ts_idx),
                                     (size_t)PQgetlength(r, j, p->ts_idx),
                                     &us) != CDC_OK || us != last_us)
                break;
            cdc_dedup_add(p->seen, row_digest(p, r, j, us), us, p->seq);
        }
    }
    if (last >= first) {
        cdc_err_t e2 = row_cursor(p, r, last, last_us, &pg->last);
        if (err == CDC_OK)
            err = e2;
    }
    return err;
}

static cdc_err_t fast_page(cdc_poller_t *p, PGresult *r, PGconn *conn,
                           int64_t now, page_t *pg, char *errstr, size_t n)
{
    /* W caught up with F: the page completes everything up to min(F', H). */
    bool contiguous = !p->fast.ts || p->safe.us >= p->fast.us;
    pg->catch_up = contiguous;
    cdc_err_t err = run_page(p, r, conn, now, pg, errstr, n);
    if (pg->nread > 0) {
        cursor_copy(&p->fast, &pg->last);
        if (contiguous) {
            bound_t b = {NULL, 0};
            min_bound(&p->fast, &p->horizon, &b);
            advance_safe(p, &b);
            bound_set(&b, NULL, 0);
        }
    } else if (err == CDC_OK && contiguous && p->fast.ts) {
        /* Nothing after F, and everything stamped before H had committed
         * before this page was read: W may pass F, so an idle table's
         * watermark keeps up with time and its emitted set empties. */
        advance_safe(p, &p->horizon);
    }
    if (err == CDC_OK)
        p->fast_idle =
            pg->nread < (int)cdc_config_int(p->cfg, CDC_KEY_BATCH_SIZE);
    return err;
}

static cdc_err_t rescan_page(cdc_poller_t *p, PGresult *r, PGconn *conn,
                             int64_t now, page_t *pg, char *errstr, size_t n)
{
    pg->rescan = true;
    cdc_err_t err = run_page(p, r, conn, now, pg, errstr, n);
    if (pg->nread > 0)
        cursor_copy(&p->rescan_pos, &pg->last);
    if (err == CDC_OK &&
        pg->nread < (int)cdc_config_int(p->cfg, CDC_KEY_BATCH_SIZE)) {
        /* Pass complete: everything before min(F at start, N - lookback)
         * has been read after it committed. */
        bound_t b = {NULL, 0};
        min_bound(&p->rescan_end, &p->rescan_horizon, &b);
        advance_safe(p, &b);
        bound_set(&b, NULL, 0);
        p->rescan_active = false;
        p->next_rescan_ms = p->step_ms +
                            cdc_config_int(p->cfg, CDC_KEY_RESCAN_INTERVAL_MS);
    }
    return err;
}

/* Begin the next step if one is due; else false, and *next_ms: when. */
static bool begin_step(cdc_poller_t *p, int64_t now, int64_t *next_ms)
{
    bool fast_due = !p->fast_idle || now >= p->next_fast_ms;
    bool rescan_due = p->rescan_active ||
                      (p->fast.ts && now >= p->next_rescan_ms);
    if (!fast_due && !rescan_due) {
        *next_ms = p->next_fast_ms;
        if (p->fast.ts && p->next_rescan_ms < *next_ms)
            *next_ms = p->next_rescan_ms;
        return false;
    }
    /* Both due: alternate, so neither starves. A long re-scan pass runs
     * page after page, with a fast page every poll interval between, so
     * new rows keep their latency. */
    p->step_rescan = rescan_due && (!fast_due || !p->last_was_rescan);
    p->in_step = true;
    p->step_clock = false;
    p->step_ms = now;
    return true;
}

/* The step is over (err: how it went); *next_ms: when the next is due. */
static cdc_err_t end_step(cdc_poller_t *p, cdc_err_t err, int64_t now,
                          int64_t *next_ms)
{
    p->in_step = false;
    p->last_was_rescan = p->step_rescan;
    if (!p->step_rescan)
        p->next_fast_ms =
            p->step_ms + cdc_config_int(p->cfg, CDC_KEY_POLL_INTERVAL_MS);
    *next_ms = now;
    if (err == CDC_OK && p->fast_idle && !p->rescan_active) {
        int64_t next = p->next_fast_ms;
        if (p->fast.ts && p->next_rescan_ms < next)
            next = p->next_rescan_ms > now ? p->next_rescan_ms : now;
        *next_ms = next;
    }
    return err;
}

/* The answer to the query in flight, once the connection is idle again:
 * *out NULL while it is still coming. */
static cdc_err_t collect(cdc_poller_t *p, PGconn *conn, int64_t now,
                         PGresult **out, char *errstr, size_t n)
{
    *out = NULL;
    if (!PQconsumeInput(conn))
        return poll_error(p, NULL, conn, errstr, n);
    bool piped = PQpipelineStatus(conn) != PQ_PIPELINE_OFF;
    while (!PQisBusy(conn)) {
        PGresult *r = PQgetResult(conn);
        /* In pipeline mode the query ends at the Sync after it. */
        bool end = piped ? r && PQresultStatus(r) == PGRES_PIPELINE_SYNC : !r;
        if (end) {
            PQclear(r);
            if (piped && !p->queued)
                PQexitPipelineMode(conn);
            *out = p->result;
            p->result = NULL;
            if (!*out)
                return poll_error(p, NULL, conn, errstr, n);
            return CDC_OK;
        }
        if (!r)
            continue; /* between the query's results and its Sync */
        if (p->result)
            PQclear(r); /* one statement, one result: keep the first */
        else
            p->result = r;
    }
    int64_t limit = cdc_config_int(p->cfg, CDC_KEY_QUERY_TIMEOUT_MS);
    if (now - p->sent_ms >= limit)
        return cdc_err_set(errstr, n, CDC_ERR_DB_CONNECT, "polling %s: no "
                           "answer within %lld ms (dsql.query.timeout.ms)",
                           p->name, (long long)limit);
    return CDC_OK;
}

void cdc_poller_abandon(cdc_poller_t *p)
{
    PQclear(p->result);
    p->result = NULL;
    p->inflight = Q_NONE;
    p->ahead = p->ahead_skip = p->queued = false;
    p->in_step = false;
}

bool cdc_poller_waiting(const cdc_poller_t *p)
{
    return p->inflight != Q_NONE;
}

/* Apply the answer r (consumed) to query q of the step in progress. */
static cdc_err_t apply(cdc_poller_t *p, query_t q, PGresult *r, PGconn *conn,
                       bool may_ahead, int64_t now, page_t *pg, char *errstr,
                       size_t n)
{
    cdc_err_t err = CDC_OK;
    if (q != Q_PAGE && PQresultStatus(r) != PGRES_TUPLES_OK) {
        err = cdc_db_result_error(r, conn, "reading the server time", errstr, n);
    } else if (q == Q_START) {
        bound_t b = {NULL, 0};
        if ((err = clock_result(r, &b, errstr, n)) == CDC_OK) {
            cursor_set(&p->fast, json_incref(b.ts), NULL, b.us);
            advance_safe(p, &b);
        }
        bound_set(&b, NULL, 0);
    } else if (q == Q_HORIZON && p->step_rescan) {
        if ((err = clock_result(r, &p->rescan_horizon, errstr, n)) == CDC_OK) {
            cursor_copy(&p->rescan_end, &p->fast);
            cursor_set(&p->rescan_pos, NULL, NULL, 0);
            p->rescan_active = true;
        }
    } else if (q == Q_HORIZON) {
        err = clock_result(r, &p->horizon, errstr, n);
        p->step_clock = true;
    } else {
        PGconn *ahead = may_ahead ? conn : NULL;
        err = p->step_rescan ? rescan_page(p, r, ahead, now, pg, errstr, n)
                             : fast_page(p, r, ahead, now, pg, errstr, n);
        cursor_set(&pg->last, NULL, NULL, 0);
    }
    PQclear(r);
    return err;
}

cdc_err_t cdc_poller_step(cdc_poller_t *p, PGconn *conn, int64_t now,
                          bool may_ahead, cdc_poll_emit_fn emit, void *ctx,
                          size_t *rows, int64_t *next_ms, char *errstr,
                          size_t n)
{
    *rows = 0;
    *next_ms = now;
    cdc_err_t err;
    page_t pg = {.emit = emit, .ctx = ctx};
    for (;;) {
        spec_t s;
        query_t q;
        if (p->inflight != Q_NONE) {
            PGresult *r;
            if ((err = collect(p, conn, now, &r, errstr, n)) != CDC_OK) {
                bool stepping = p->in_step;
                cdc_poller_abandon(p);
                return stepping ? end_step(p, err, now, next_ms) : err;
            }
            if (!r) {
                *next_ms = p->sent_ms +
                           cdc_config_int(p->cfg, CDC_KEY_QUERY_TIMEOUT_MS);
                return CDC_OK; /* call again when the socket is readable */
            }
            q = p->inflight;
            bool ahead = p->ahead, skip = p->ahead_skip;
            p->inflight = Q_NONE;
            p->ahead = p->ahead_skip = false;
            if (p->queued) { /* the query behind it is now the one read */
                p->queued = false;
                p->inflight = Q_PAGE;
                p->ahead = p->ahead_skip = true;
                p->sent_ms = now;
            }
            if (ahead) {
                /* Sent by the last step for this one (or queued behind
                 * such a query): is it still what this step asks? */
                if (!p->in_step && !begin_step(p, now, next_ms)) {
                    PQclear(r);
                    return CDC_OK;
                }
                bool fits = next_query(p, &s) == Q_PAGE &&
                            (skip ? skip_fits(p, &s, r) : is_ahead(p, &s));
                if (!fits) {
                    PQclear(r);
                    continue;
                }
            }
            pg.first = skip ? 1 : 0;
            err = apply(p, q, r, conn, may_ahead, now, &pg, errstr, n);
            *rows = pg.emitted;
            if (err != CDC_OK || q == Q_PAGE)
                return end_step(p, err, now, next_ms);
            continue;
        }
        if (!p->ncols &&
            (err = cdc_poller_discover(p, conn, errstr, n)) != CDC_OK)
            return err;
        if (!p->in_step && !begin_step(p, now, next_ms))
            return CDC_OK;
        if ((q = next_query(p, &s)) == Q_NONE) {
            /* a re-scan with nothing to re-read yet */
            p->next_rescan_ms =
                now + cdc_config_int(p->cfg, CDC_KEY_RESCAN_INTERVAL_MS);
            return end_step(p, CDC_OK, now, next_ms);
        }
        if ((err = send_query(p, conn, q, &s, now, errstr, n)) != CDC_OK)
            return end_step(p, err, now, next_ms);
        *next_ms = now + cdc_config_int(p->cfg, CDC_KEY_QUERY_TIMEOUT_MS);
        return CDC_OK;
    }
}
