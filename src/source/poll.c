/*
 * poll.c - keyset poller (see poll.h).
 *
 * Values travel as text both ways: the cursor's timestamp and key values are
 * bound back as text parameters typed with the columns' own type oids, so
 * comparisons happen in the column types on the server and round-trip
 * exactly (timestamptz text keeps its microseconds).
 */
#include "source/poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/buf.h"
#include "common/log.h"
#include "db/conn.h"

typedef struct {
    char *name;
    uint32_t type_oid;
} col_t;

struct cdc_poller {
    const cdc_config_t *cfg;
    char *schema, *table, *name;
    col_t *cols;
    size_t ncols;
    int ts_idx, created_idx, deleted_idx; /* -1 when absent */
    int *key_idx;
    size_t nkeys;
    char *sql_first, *sql_next, *sql_from; /* no cursor / after / at-or-after ts */
    json_t *cur_ts;   /* string, NULL before the first row */
    json_t *cur_key;  /* array of strings; NULL with ts: start at ts inclusive */
    cdc_column_t *row; /* reused per row */
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

cdc_poller_t *cdc_poller_new(const cdc_config_t *c, const char *table)
{
    cdc_poller_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cfg = c;
    p->ts_idx = p->created_idx = p->deleted_idx = -1;
    const char *dot = strchr(table, '.');
    p->schema = dot ? xstrndup(table, (size_t)(dot - table))
                    : strdup(cdc_config_str(c, CDC_KEY_SCHEMA));
    p->table = strdup(dot ? dot + 1 : table);
    if (p->schema && p->table &&
        (p->name = malloc(strlen(p->schema) + strlen(p->table) + 2)))
        sprintf(p->name, "%s.%s", p->schema, p->table);
    if (!p->name) {
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
    free(p->key_idx);
    free(p->row);
    free(p->sql_first);
    free(p->sql_next);
    free(p->sql_from);
    p->cols = NULL;
    p->key_idx = NULL;
    p->row = NULL;
    p->sql_first = p->sql_next = p->sql_from = NULL;
    p->ncols = p->nkeys = 0;
    p->ts_idx = p->created_idx = p->deleted_idx = -1;
}

void cdc_poller_destroy(cdc_poller_t *p)
{
    if (!p)
        return;
    clear_schema(p);
    json_decref(p->cur_ts);
    json_decref(p->cur_key);
    free(p->schema);
    free(p->table);
    free(p->name);
    free(p);
}

const char *cdc_poller_name(const cdc_poller_t *p) { return p->name; }
const char *cdc_poller_schema(const cdc_poller_t *p) { return p->schema; }
const char *cdc_poller_table(const cdc_poller_t *p) { return p->table; }
bool cdc_poller_discovered(const cdc_poller_t *p) { return p->ncols > 0; }

cdc_err_t cdc_poller_restore(cdc_poller_t *p, const json_t *pos, char *errstr,
                             size_t n)
{
    json_t *ts = json_object_get(pos, "ts");
    json_t *key = json_object_get(pos, "key");
    bool key_ok = !key || json_is_null(key) || json_is_array(key);
    for (size_t i = 0; key_ok && json_is_array(key) && i < json_array_size(key); i++)
        key_ok = json_is_string(json_array_get(key, i));
    if (!json_is_string(ts) || !key_ok)
        return cdc_err_set(errstr, n, CDC_ERR_PARSE,
                           "%s: stored offset is not {\"ts\":\"...\",\"key\":"
                           "[...]}; reset it with: dsqlcdc offsets reset "
                           "--table %s", p->name, p->name);
    json_decref(p->cur_ts);
    json_decref(p->cur_key);
    p->cur_ts = json_incref(ts);
    p->cur_key = json_is_array(key) ? json_incref(key) : NULL;
    return CDC_OK;
}

json_t *cdc_poller_position(const cdc_poller_t *p)
{
    if (!p->cur_ts)
        return NULL;
    return json_pack("{s:O,s:O}", "ts", p->cur_ts, "key",
                     p->cur_key ? p->cur_key : json_null());
}

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
    size_t n;
} keyctx_t;

static void add_key_col(const char *name, void *ctx)
{
    keyctx_t *k = ctx;
    int i = find_col(k->p, name);
    if (i < 0 && !k->missing)
        k->missing = name;
    if (i >= 0)
        k->p->key_idx[k->n++] = i;
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

/* Build the three page queries from the discovered schema. */
static cdc_err_t build_sql(cdc_poller_t *p)
{
    cdc_buf_t sel, order, tuple, params;
    cdc_buf_init(&sel);
    cdc_buf_init(&order);
    cdc_buf_init(&tuple);
    cdc_buf_init(&params);

    cdc_buf_puts(&sel, "SELECT ");
    for (size_t i = 0; i < p->ncols; i++) {
        if (i)
            cdc_buf_puts(&sel, ", ");
        put_ident(&sel, p->cols[i].name);
    }
    cdc_buf_puts(&sel, " FROM ");
    put_ident(&sel, p->schema);
    cdc_buf_putc(&sel, '.');
    put_ident(&sel, p->table);

    put_ident(&tuple, p->cols[p->ts_idx].name);
    cdc_buf_puts(&params, "$1");
    for (size_t k = 0; k < p->nkeys; k++) {
        cdc_buf_puts(&tuple, ", ");
        put_ident(&tuple, p->cols[p->key_idx[k]].name);
        cdc_buf_printf(&params, ", $%zu", k + 2);
    }
    long long batch = (long long)cdc_config_int(p->cfg, CDC_KEY_BATCH_SIZE);
    /* Never read rows stamped at or after the server's current time: a
     * transaction that started now may still commit rows with that stamp. */
    cdc_buf_printf(&order, " ORDER BY %s LIMIT %lld", cdc_buf_str(&tuple),
                   batch);

    cdc_buf_t q;
    cdc_buf_init(&q);
    const char *ts = cdc_buf_str(&tuple); /* begins with the ts column */
    size_t ts_len = strcspn(ts, ",");
    cdc_buf_printf(&q, "%s WHERE %.*s < now()%s", cdc_buf_str(&sel),
                   (int)ts_len, ts, cdc_buf_str(&order));
    p->sql_first = strdup(cdc_buf_str(&q));
    cdc_buf_reset(&q);
    cdc_buf_printf(&q, "%s WHERE (%s) > (%s) AND %.*s < now()%s",
                   cdc_buf_str(&sel), cdc_buf_str(&tuple),
                   cdc_buf_str(&params), (int)ts_len, ts, cdc_buf_str(&order));
    p->sql_next = strdup(cdc_buf_str(&q));
    cdc_buf_reset(&q);
    cdc_buf_printf(&q, "%s WHERE %.*s >= $1 AND %.*s < now()%s",
                   cdc_buf_str(&sel), (int)ts_len, ts, (int)ts_len, ts,
                   cdc_buf_str(&order));
    p->sql_from = strdup(cdc_buf_str(&q));

    cdc_buf_free(&q);
    cdc_buf_free(&sel);
    cdc_buf_free(&order);
    cdc_buf_free(&tuple);
    cdc_buf_free(&params);
    return p->sql_first && p->sql_next && p->sql_from ? CDC_OK : CDC_ERR_NOMEM;
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

/* Timestamp column types the cursor can order by. */
static bool usable_ts_type(uint32_t oid)
{
    return oid == 1184 /* timestamptz */ || oid == 1114 /* timestamp */ ||
           oid == 1082 /* date */;
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
    p->key_idx = calloc((size_t)nrows, sizeof *p->key_idx);
    if (!p->cols || !p->row || !p->key_idx) {
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
    p->ts_idx = find_col(p, ts_name);
    if (p->ts_idx < 0) {
        clear_schema(p);
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                           "table %s has no column \"%s\" (dsql.timestamp.column)"
                           "; set it to the column every write stamps",
                           p->name, ts_name);
    }
    if (!usable_ts_type(p->cols[p->ts_idx].type_oid)) {
        uint32_t oid = p->cols[p->ts_idx].type_oid;
        clear_schema(p);
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                           "column %s.%s (dsql.timestamp.column) has type oid "
                           "%u; it must be timestamptz, timestamp or date",
                           p->name, ts_name, oid);
    }
    p->created_idx = find_col(p, cdc_config_str(c, CDC_KEY_CREATED_COLUMN));
    const char *del = cdc_config_str(c, CDC_KEY_SOFT_DELETE_COLUMN);
    p->deleted_idx = find_col(p, del);
    if (del && p->deleted_idx < 0) {
        clear_schema(p);
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                           "table %s has no column \"%s\" "
                           "(dsql.soft.delete.column)", p->name, del);
    }

    keyctx_t kc = {p, NULL, 0};
    if (cdc_config_str(c, CDC_KEY_KEY_COLUMNS)) {
        cdc_config_list_each(c, CDC_KEY_KEY_COLUMNS, add_key_col, &kc);
    } else {
        snprintf(what, sizeof what, "reading the primary key of %s", p->name);
        r = PQexecParams(conn, pkey_sql, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            cdc_err_t err = cdc_db_result_error(r, conn, what, errstr, n);
            PQclear(r);
            clear_schema(p);
            return err;
        }
        for (int i = 0; i < PQntuples(r); i++)
            add_key_col(PQgetvalue(r, i, 0), &kc);
        PQclear(r);
    }
    p->nkeys = kc.n;
    if (kc.missing || p->nkeys == 0) {
        clear_schema(p);
        if (kc.missing)
            return cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                               "table %s has no column \"%s\" "
                               "(dsql.key.columns)", p->name, kc.missing);
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                           "table %s has no primary key; set dsql.key.columns "
                           "to columns that identify a row", p->name);
    }
    if (p->cur_key && json_array_size(p->cur_key) != p->nkeys) {
        size_t stored = json_array_size(p->cur_key);
        clear_schema(p);
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                           "%s: the stored offset has %zu key value(s) but "
                           "the key now has a different number of columns; "
                           "reset it with: dsqlcdc offsets reset --table %s "
                           "--to-timestamp TS", p->name, stored, p->name);
    }
    for (size_t i = 0; i < p->ncols; i++) {
        p->row[i].name = p->cols[i].name;
        p->row[i].type_oid = p->cols[i].type_oid;
    }
    for (size_t k = 0; k < p->nkeys; k++)
        p->row[p->key_idx[k]].is_key = true;
    if (build_sql(p) != CDC_OK) {
        clear_schema(p);
        return CDC_ERR_NOMEM;
    }
    cdc_log_info("poll", "%s: %zu columns, key (%s%s), cursor on %s", p->name,
                 p->ncols, p->cols[p->key_idx[0]].name,
                 p->nkeys > 1 ? ", ..." : "", ts_name);
    return CDC_OK;
}

cdc_err_t cdc_poller_start_latest(cdc_poller_t *p, PGconn *conn, char *errstr,
                                  size_t n)
{
    PGresult *r = PQexec(conn, "SELECT now()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cdc_err_t err = cdc_db_result_error(r, conn, "reading the server time",
                                            errstr, n);
        PQclear(r);
        return err;
    }
    json_decref(p->cur_ts);
    json_decref(p->cur_key);
    p->cur_ts = json_string(PQgetvalue(r, 0, 0));
    p->cur_key = NULL;
    PQclear(r);
    return p->cur_ts ? CDC_OK : CDC_ERR_NOMEM;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
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

/* Move the cursor to the given row of r. */
static cdc_err_t set_cursor(cdc_poller_t *p, const PGresult *r, int row)
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
    json_decref(p->cur_ts);
    json_decref(p->cur_key);
    p->cur_ts = ts;
    p->cur_key = key;
    return CDC_OK;
}

cdc_err_t cdc_poller_poll(cdc_poller_t *p, PGconn *conn, cdc_poll_emit_fn emit,
                          void *ctx, size_t *rows, char *errstr, size_t n)
{
    *rows = 0;
    if (!cdc_poller_discovered(p))
        return cdc_err_set(errstr, n, CDC_ERR_INTERNAL,
                           "%s: polled before discovery", p->name);
    const char *vals[1 + 64];
    Oid types[1 + 64];
    int nparams = 0;
    const char *sql = p->sql_first;
    if (p->nkeys > 64)
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA,
                           "%s: more than 64 key columns", p->name);
    if (p->cur_ts) {
        vals[0] = json_string_value(p->cur_ts);
        types[0] = p->cols[p->ts_idx].type_oid;
        nparams = 1;
        sql = p->sql_from;
        if (p->cur_key) {
            sql = p->sql_next;
            for (size_t k = 0; k < p->nkeys; k++) {
                vals[1 + k] = json_string_value(json_array_get(p->cur_key, k));
                types[1 + k] = p->cols[p->key_idx[k]].type_oid;
            }
            nparams = 1 + (int)p->nkeys;
        }
    }
    PGresult *r = PQexecParams(conn, sql, nparams, types, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char what[600];
        snprintf(what, sizeof what, "polling %s", p->name);
        cdc_err_t err = cdc_db_result_error(r, conn, what, errstr, n);
        PQclear(r);
        if (err == CDC_ERR_SCHEMA)
            clear_schema(p); /* re-discover before the next poll */
        return err;
    }
    int nrows = PQntuples(r);
    int64_t ts_ms = now_ms();
    cdc_change_t ch = {
        .schema = p->schema,
        .table = p->table,
        .ts_ms = ts_ms,
        .cols = p->row,
        .ncols = p->ncols,
    };
    cdc_err_t err = CDC_OK;
    int accepted = 0;
    for (int i = 0; i < nrows; i++) {
        for (size_t c = 0; c < p->ncols; c++) {
            cdc_column_t *col = &p->row[c];
            col->is_null = PQgetisnull(r, i, (int)c);
            col->value = col->is_null ? NULL : PQgetvalue(r, i, (int)c);
            col->len = col->is_null ? 0 : (size_t)PQgetlength(r, i, (int)c);
        }
        ch.op = row_op(p, r, i);
        err = emit(&ch, ctx, errstr, n);
        if (err != CDC_OK)
            break;
        accepted++;
    }
    if (accepted > 0) {
        cdc_err_t e2 = set_cursor(p, r, accepted - 1);
        if (err == CDC_OK)
            err = e2;
    }
    *rows = (size_t)accepted;
    PQclear(r);
    return err;
}
