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
#include <sys/time.h>

#include "common/buf.h"
#include "common/log.h"
#include "db/conn.h"
#include "encode/pgtypes.h"
#include "source/dedup.h"

#define MAX_KEYS 32

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
                     &p->sql_rescan_first, &p->sql_rescan_next};
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
    cdc_buf_printf(&tail, " LIMIT %lld",
                   (long long)cdc_config_int(p->cfg, CDC_KEY_BATCH_SIZE));
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
#undef BUILD
    cdc_buf_free(&sel);
    cdc_buf_free(&tail);
    cdc_buf_free(&q);
    return p->sql_fast_first && p->sql_fast_from && p->sql_fast_next &&
                   p->sql_rescan_first && p->sql_rescan_next
               ? CDC_OK : CDC_ERR_NOMEM;
}

static const char columns_sql[] =
    "SELECT a.attname, a.atttypid::int8 "
    "FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 "
    "AND NOT a.attisdropped ORDER BY a.attnum";

static const char pkey_sql[] =
    "SELECT kcu.column_name "
    "FROM information_schema.table_constraints tc "
    "JOIN information_schema.key_column_usage kcu "
    "ON kcu.constraint_schema = tc.constraint_schema "
    "AND kcu.constraint_name = tc.constraint_name "
    "AND kcu.table_name = tc.table_name "
    "WHERE tc.constraint_type = 'PRIMARY KEY' "
    "AND tc.table_schema = $1 AND tc.table_name = $2 "
    "ORDER BY kcu.ordinal_position";

static bool usable_ts_type(uint32_t oid)
{
    return oid == CDC_PGOID_TIMESTAMPTZ || oid == CDC_PGOID_TIMESTAMP ||
           oid == CDC_PGOID_DATE;
}

/* SELECT permission: reading no rows still needs it. Checked before the
 * key, because the catalog views hide a table's constraints from a role
 * that may not read it. */
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

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Server time minus the lookback: transactions stamped before it have
 * committed (or never will). */
static cdc_err_t read_horizon(cdc_poller_t *p, PGconn *conn, bound_t *out,
                              bool with_lookback, char *errstr, size_t n)
{
    char interval[64];
    snprintf(interval, sizeof interval, "%lld milliseconds",
             with_lookback ? (long long)cdc_config_int(p->cfg, CDC_KEY_LOOKBACK_MS)
                           : 0LL);
    const char *params[1] = {interval};
    PGresult *r = PQexecParams(conn, "SELECT now() - $1::interval", 1, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cdc_err_t err = cdc_db_result_error(r, conn, "reading the server time",
                                            errstr, n);
        PQclear(r);
        return err;
    }
    int64_t us;
    const char *v = PQgetvalue(r, 0, 0);
    cdc_err_t err = CDC_OK;
    if (!ts_us(v, &us))
        err = cdc_err_set(errstr, n, CDC_ERR_PARSE, "server time \"%s\" is not "
                          "a timestamp", v);
    else
        bound_set(out, json_string(v), us);
    PQclear(r);
    return err;
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

/* Append a cursor's values to a parameter list. */
static void add_cursor_params(const cdc_poller_t *p, const cursor_t *c,
                              const char **vals, Oid *types, int *n)
{
    vals[*n] = json_string_value(c->ts);
    types[(*n)++] = p->cols[p->ts_idx].type_oid;
    for (size_t k = 0; k < p->nkeys; k++) {
        vals[*n] = json_string_value(json_array_get(c->key, k));
        types[(*n)++] = p->cols[p->key_idx[k]].type_oid;
    }
}

typedef struct {
    cdc_poll_emit_fn emit;
    void *ctx;
    bool rescan;       /* emit only versions not seen before */
    /* A fast page with W at F: rows stamped before H and before the page's
     * last timestamp fall below the new W at once, so they need no digest. */
    bool catch_up;
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

/* Run one page query and emit its rows. */
static cdc_err_t run_page(cdc_poller_t *p, PGconn *conn, const char *sql,
                          int nparams, const char **vals, const Oid *types,
                          page_t *pg, char *errstr, size_t n)
{
    PGresult *r = PQexecParams(conn, sql, nparams, types, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char what[600];
        snprintf(what, sizeof what, "polling %s", p->name);
        cdc_err_t err = cdc_db_result_error(r, conn, what, errstr, n);
        PQclear(r);
        if (err == CDC_ERR_SCHEMA)
            clear_schema(p); /* re-discover before the next step */
        return err;
    }
    if (!same_shape(p, r)) {
        PQclear(r);
        clear_schema(p); /* re-discover before the next step */
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA, "polling %s: the "
                           "table's columns changed", p->name);
    }
    p->seq++;
    int nrows = PQntuples(r);
    cdc_change_t ch = {
        .schema = p->schema,
        .table = p->table,
        .ts_ms = now_ms(),
        .cols = p->row,
        .ncols = p->ncols,
    };
    cdc_err_t err = CDC_OK;
    int last = -1;       /* last row read (emitted or skipped as seen) */
    int64_t last_us = 0;
    int64_t end_us = INT64_MIN; /* the page's last timestamp */
    if (pg->catch_up && nrows > 0 &&
        cdc_pgtypes_epoch_us(p->cols[p->ts_idx].type_oid,
                             PQgetvalue(r, nrows - 1, p->ts_idx),
                             (size_t)PQgetlength(r, nrows - 1, p->ts_idx),
                             &end_us) != CDC_OK)
        pg->catch_up = false;
    for (int i = 0; i < nrows; i++) {
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
    pg->nread = last + 1;
    if (err != CDC_OK && pg->catch_up && last >= 0 && last_us < end_us &&
        last_us < p->horizon.us) {
        /* The page stopped early: W stops at this row's timestamp, so the
         * rows emitted with it must be in the set after all. */
        for (int j = last; j >= 0; j--) {
            int64_t us;
            if (cdc_pgtypes_epoch_us(p->cols[p->ts_idx].type_oid,
                                     PQgetvalue(r, j, p->ts_idx),
                                     (size_t)PQgetlength(r, j, p->ts_idx),
                                     &us) != CDC_OK || us != last_us)
                break;
            cdc_dedup_add(p->seen, row_digest(p, r, j, us), us, p->seq);
        }
    }
    if (last >= 0) {
        cdc_err_t e2 = row_cursor(p, r, last, last_us, &pg->last);
        if (err == CDC_OK)
            err = e2;
    }
    PQclear(r);
    return err;
}

static cdc_err_t fast_page(cdc_poller_t *p, PGconn *conn, page_t *pg,
                           char *errstr, size_t n)
{
    cdc_err_t err;
    if (p->fast_idle &&
        (err = read_horizon(p, conn, &p->horizon, true, errstr, n)) != CDC_OK)
        return err;
    const char *vals[1 + MAX_KEYS];
    Oid types[1 + MAX_KEYS];
    int np = 0;
    const char *sql = p->sql_fast_first;
    if (p->fast.ts && p->fast.key) {
        add_cursor_params(p, &p->fast, vals, types, &np);
        sql = p->sql_fast_next;
    } else if (p->fast.ts) {
        vals[np] = json_string_value(p->fast.ts);
        types[np++] = p->cols[p->ts_idx].type_oid;
        sql = p->sql_fast_from;
    }
    /* W caught up with F: the page completes everything up to min(F', H). */
    bool contiguous = !p->fast.ts || p->safe.us >= p->fast.us;
    pg->catch_up = contiguous;
    err = run_page(p, conn, sql, np, vals, types, pg, errstr, n);
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

static cdc_err_t rescan_page(cdc_poller_t *p, PGconn *conn, int64_t mono_now,
                             page_t *pg, char *errstr, size_t n)
{
    cdc_err_t err;
    int64_t interval = cdc_config_int(p->cfg, CDC_KEY_RESCAN_INTERVAL_MS);
    if (!p->rescan_active) {
        /* A cursor without key values (a reset to a timestamp, or a start
         * at the latest row) has nothing behind it to re-read yet. */
        if (!p->fast.key) {
            p->next_rescan_ms = mono_now + interval;
            return CDC_OK;
        }
        if ((err = read_horizon(p, conn, &p->rescan_horizon, true, errstr, n)) != CDC_OK)
            return err;
        cursor_copy(&p->rescan_end, &p->fast);
        cursor_set(&p->rescan_pos, NULL, NULL, 0);
        p->rescan_active = true;
    }
    const char *vals[1 + 2 * (1 + MAX_KEYS)];
    Oid types[1 + 2 * (1 + MAX_KEYS)];
    int np = 0;
    vals[np] = p->safe.ts ? json_string_value(p->safe.ts) : "-infinity";
    types[np++] = p->cols[p->ts_idx].type_oid;
    add_cursor_params(p, &p->rescan_end, vals, types, &np);
    const char *sql = p->sql_rescan_first;
    if (p->rescan_pos.ts) {
        add_cursor_params(p, &p->rescan_pos, vals, types, &np);
        sql = p->sql_rescan_next;
    }
    pg->rescan = true;
    err = run_page(p, conn, sql, np, vals, types, pg, errstr, n);
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
        p->next_rescan_ms = mono_now + interval;
    }
    return err;
}

cdc_err_t cdc_poller_step(cdc_poller_t *p, PGconn *conn, int64_t mono_now,
                          cdc_poll_emit_fn emit, void *ctx, size_t *rows,
                          int64_t *next_ms, char *errstr, size_t n)
{
    *rows = 0;
    *next_ms = mono_now;
    cdc_err_t err;
    if (!p->ncols && (err = cdc_poller_discover(p, conn, errstr, n)) != CDC_OK)
        return err;
    if (!p->fast.ts && !p->safe.ts &&
        strcmp(cdc_config_str(p->cfg, CDC_KEY_START_MODE), "latest") == 0) {
        /* No stored position: start at the server's current time. */
        bound_t now = {NULL, 0};
        if ((err = read_horizon(p, conn, &now, false, errstr, n)) != CDC_OK)
            return err;
        cursor_set(&p->fast, json_incref(now.ts), NULL, now.us);
        advance_safe(p, &now);
        bound_set(&now, NULL, 0);
    }

    page_t pg = {.emit = emit, .ctx = ctx};
    int64_t interval = cdc_config_int(p->cfg, CDC_KEY_POLL_INTERVAL_MS);
    bool fast_due = !p->fast_idle || mono_now >= p->next_fast_ms;
    bool rescan_due = p->rescan_active ||
                      (p->fast.ts && mono_now >= p->next_rescan_ms);
    /* Both due: alternate, so neither starves. A long re-scan pass runs
     * page after page, with a fast page every poll interval between, so
     * new rows keep their latency. */
    bool do_rescan = rescan_due && (!fast_due || !p->last_was_rescan);
    if (!fast_due && !rescan_due) {
        *next_ms = p->next_fast_ms;
        if (p->fast.ts && p->next_rescan_ms < *next_ms)
            *next_ms = p->next_rescan_ms;
        return CDC_OK;
    }
    if (do_rescan)
        err = rescan_page(p, conn, mono_now, &pg, errstr, n);
    else
        err = fast_page(p, conn, &pg, errstr, n);
    p->last_was_rescan = do_rescan;
    if (!do_rescan)
        p->next_fast_ms = mono_now + interval;
    cursor_set(&pg.last, NULL, NULL, 0);
    *rows = pg.emitted;
    if (err != CDC_OK)
        return err;
    if (p->fast_idle && !p->rescan_active) {
        int64_t next = p->next_fast_ms;
        if (p->fast.ts && p->next_rescan_ms < next)
            next = p->next_rescan_ms > mono_now ? p->next_rescan_ms : mono_now;
        *next_ms = next;
    }
    return CDC_OK;
}
