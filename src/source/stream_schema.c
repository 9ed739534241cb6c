/*
 * stream_schema.c - table keys and column types for the stream source (see
 * stream_schema.h).
 *
 * Tables live in a flat array searched linearly: a stream carries the
 * changes of one cluster, whose tables number in the tens or hundreds, and
 * the source caches what it needs per record in the reorderer anyway.
 */
#include "source/stream_schema.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "db/conn.h"

typedef struct {
    char **v;
    size_t n;
} strv_t;

typedef struct {
    char *schema, *table;
    strv_t cols;
    uint32_t *oids;
    strv_t cat_keys;
    bool cat_known;
    strv_t cfg_keys;
    bool cfg_known;
    cdc_stream_table_t view;
} tbl_t;

struct cdc_stream_schema {
    tbl_t **t;
    size_t n, cap;
};

static void strv_clear(strv_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static cdc_err_t strv_push(strv_t *v, const char *s, size_t len)
{
    char **p = realloc(v->v, (v->n + 1) * sizeof *p);
    if (!p)
        return CDC_ERR_NOMEM;
    v->v = p;
    if (!(p[v->n] = strndup(s, len)))
        return CDC_ERR_NOMEM;
    v->n++;
    return CDC_OK;
}

static void tbl_free(tbl_t *t)
{
    if (!t)
        return;
    free(t->schema);
    free(t->table);
    strv_clear(&t->cols);
    free(t->oids);
    strv_clear(&t->cat_keys);
    strv_clear(&t->cfg_keys);
    free(t);
}

/* Point the public view at the current data. */
static void tbl_view(tbl_t *t)
{
    const strv_t *k = t->cfg_known ? &t->cfg_keys : &t->cat_keys;
    t->view = (cdc_stream_table_t){
        .schema = t->schema,
        .table = t->table,
        .cols = (const char *const *)t->cols.v,
        .oids = t->oids,
        .ncols = t->cols.n,
        .keys = (const char *const *)k->v,
        .nkeys = k->n,
        .keys_known = t->cfg_known || t->cat_known,
        .keys_from_config = t->cfg_known,
    };
}

cdc_stream_schema_t *cdc_stream_schema_new(void)
{
    return calloc(1, sizeof(cdc_stream_schema_t));
}

void cdc_stream_schema_destroy(cdc_stream_schema_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        tbl_free(s->t[i]);
    free(s->t);
    free(s);
}

static tbl_t *find(const cdc_stream_schema_t *s, const char *schema,
                   const char *table)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i]->table, table) == 0 &&
            strcmp(s->t[i]->schema, schema) == 0)
            return s->t[i];
    return NULL;
}

static tbl_t *get(cdc_stream_schema_t *s, const char *schema,
                  const char *table)
{
    tbl_t *t = find(s, schema, table);
    if (t)
        return t;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        tbl_t **p = realloc(s->t, cap * sizeof *p);
        if (!p)
            return NULL;
        s->t = p;
        s->cap = cap;
    }
    t = calloc(1, sizeof *t);
    if (!t || !(t->schema = strdup(schema)) || !(t->table = strdup(table))) {
        tbl_free(t);
        return NULL;
    }
    tbl_view(t);
    s->t[s->n++] = t;
    return t;
}

/* ---- message.key.columns ------------------------------------------------ */

/* [p, end) without surrounding blanks. */
static void trim(const char **p, const char **end)
{
    while (*p < *end && isspace((unsigned char)**p))
        (*p)++;
    while (*end > *p && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

typedef struct {
    char *schema, *table;
    strv_t cols;
} keyspec_t;

static void keyspecs_free(keyspec_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].schema);
        free(v[i].table);
        strv_clear(&v[i].cols);
    }
    free(v);
}

cdc_err_t cdc_stream_schema_set_keys(cdc_stream_schema_t *s, const char *spec,
                                     const char *default_schema,
                                     char *errstr, size_t n)
{
    keyspec_t *v = NULL;
    size_t nv = 0;
    cdc_err_t err = CDC_OK;
    const char *p = spec ? spec : "";

    /* Parse everything first, so a bad entry changes nothing. */
    while (*p && err == CDC_OK) {
        const char *end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        const char *next = *end ? end + 1 : end;
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *tb = p, *te = colon ? colon : end;
        trim(&tb, &te);
        if (tb == te && !colon) { /* empty entry: "a:b;" */
            p = next;
            continue;
        }
        if (!colon || tb == te) {
            err = cdc_err_set(errstr, n, CDC_ERR_CONFIG,
                              "message.key.columns: \"%.*s\" is not "
                              "<schema.table>:<column>[,<column>...]",
                              (int)(end - p), p);
            break;
        }
        keyspec_t *nvp = realloc(v, (nv + 1) * sizeof *nvp);
        if (!nvp) {
            err = CDC_ERR_NOMEM;
            break;
        }
        v = nvp;
        keyspec_t *k = &v[nv++];
        memset(k, 0, sizeof *k);
        const char *dot = memchr(tb, '.', (size_t)(te - tb));
        if (dot) {
            const char *se = dot, *ts = dot + 1;
            const char *sb = tb, *tend = te;
            trim(&sb, &se);
            trim(&ts, &tend);
            k->schema = strndup(sb, (size_t)(se - sb));
            k->table = strndup(ts, (size_t)(tend - ts));
            if (k->schema && k->table && (!*k->schema || !*k->table ||
                                          strchr(k->table, '.'))) {
                err = cdc_err_set(errstr, n, CDC_ERR_CONFIG,
                                  "message.key.columns: \"%.*s\" is not a "
                                  "table name (schema.table or table)",
                                  (int)(te - tb), tb);
                break;
            }
        } else {
            k->schema = strdup(default_schema ? default_schema : "public");
            k->table = strndup(tb, (size_t)(te - tb));
        }
        if (!k->schema || !k->table) {
            err = CDC_ERR_NOMEM;
            break;
        }
        const char *c = colon + 1;
        while (c <= end && err == CDC_OK) {
            const char *ce = memchr(c, ',', (size_t)(end - c));
            if (!ce)
                ce = end;
            const char *cb = c, *cend = ce;
            trim(&cb, &cend);
            if (cb == cend)
                err = cdc_err_set(errstr, n, CDC_ERR_CONFIG,
                                  "message.key.columns: table %s.%s has an "
                                  "empty column name", k->schema, k->table);
            else
                err = strv_push(&k->cols, cb, (size_t)(cend - cb));
            c = ce + 1;
        }
        p = next;
    }
    for (size_t i = 0; err == CDC_OK && i < nv; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[i].schema, v[j].schema) == 0 &&
                strcmp(v[i].table, v[j].table) == 0) {
                err = cdc_err_set(errstr, n, CDC_ERR_CONFIG,
                                  "message.key.columns: table %s.%s is "
                                  "named twice", v[i].schema, v[i].table);
                break;
            }
    if (err == CDC_ERR_NOMEM)
        cdc_err_set(errstr, n, err, "message.key.columns: out of memory");

    for (size_t i = 0; err == CDC_OK && i < nv; i++) {
        tbl_t *t = get(s, v[i].schema, v[i].table);
        if (!t) {
            err = cdc_err_set(errstr, n, CDC_ERR_NOMEM,
                              "message.key.columns: out of memory");
            break;
        }
        strv_clear(&t->cfg_keys);
        t->cfg_keys = v[i].cols; /* taken over */
        v[i].cols = (strv_t){NULL, 0};
        t->cfg_known = true;
        tbl_view(t);
    }
    keyspecs_free(v, nv);
    return err;
}

/* ---- catalog ------------------------------------------------------------ */

static const char columns_sql[] =
    "SELECT n.nspname, c.relname, a.attname, a.atttypid::int8 "
    "FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
    "AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' "
    "ORDER BY 1, 2, a.attnum";

/* From pg_catalog, not information_schema: its constraint views show a
 * table's keys only to roles with more than SELECT on it. */
static const char pkey_sql[] =
    "SELECT n.nspname, c.relname, a.attname "
    "FROM pg_catalog.pg_index i "
    "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
    "AND a.attnum = ANY (i.indkey) "
    "WHERE i.indisprimary "
    "ORDER BY 1, 2, array_position(i.indkey::int2[], a.attnum)";

cdc_err_t cdc_stream_schema_load(cdc_stream_schema_t *s, PGconn *conn,
                                 size_t *ntables, char *errstr, size_t n)
{
    *ntables = 0;
    PGresult *cols = PQexecParams(conn, columns_sql, 0, NULL, NULL, NULL,
                                  NULL, 0);
    if (PQresultStatus(cols) != PGRES_TUPLES_OK) {
        cdc_err_t err = cdc_db_result_error(cols, conn, "reading the "
                                            "catalog's columns", errstr, n);
        PQclear(cols);
        return err;
    }
    PGresult *keys = PQexecParams(conn, pkey_sql, 0, NULL, NULL, NULL, NULL,
                                  0);
    if (PQresultStatus(keys) != PGRES_TUPLES_OK) {
        cdc_err_t err = cdc_db_result_error(keys, conn, "reading the "
                                            "catalog's primary keys", errstr,
                                            n);
        PQclear(cols);
        PQclear(keys);
        return err;
    }

    for (size_t i = 0; i < s->n; i++) {
        tbl_t *t = s->t[i];
        strv_clear(&t->cols);
        free(t->oids);
        t->oids = NULL;
        strv_clear(&t->cat_keys);
        t->cat_known = false;
        tbl_view(t);
    }
    cdc_err_t err = CDC_OK;
    tbl_t *t = NULL;
    for (int r = 0; r < PQntuples(cols) && err == CDC_OK; r++) {
        const char *schema = PQgetvalue(cols, r, 0);
        const char *table = PQgetvalue(cols, r, 1);
        if (!t || strcmp(t->schema, schema) || strcmp(t->table, table)) {
            if (!(t = get(s, schema, table))) {
                err = CDC_ERR_NOMEM;
                break;
            }
            t->cat_known = true; /* no key unless the next query has one */
            (*ntables)++;
        }
        const char *name = PQgetvalue(cols, r, 2);
        uint32_t *o = realloc(t->oids, (t->cols.n + 1) * sizeof *o);
        if (!o) {
            err = CDC_ERR_NOMEM;
            break;
        }
        t->oids = o;
        o[t->cols.n] = (uint32_t)strtoul(PQgetvalue(cols, r, 3), NULL, 10);
        err = strv_push(&t->cols, name, strlen(name));
    }
    for (int r = 0; r < PQntuples(keys) && err == CDC_OK; r++) {
        const char *schema = PQgetvalue(keys, r, 0);
        const char *table = PQgetvalue(keys, r, 1);
        const char *col = PQgetvalue(keys, r, 2);
        if (!(t = get(s, schema, table))) {
            err = CDC_ERR_NOMEM;
            break;
        }
        t->cat_known = true;
        err = strv_push(&t->cat_keys, col, strlen(col));
    }
    for (size_t i = 0; i < s->n; i++)
        tbl_view(s->t[i]);
    PQclear(cols);
    PQclear(keys);
    if (err != CDC_OK)
        return cdc_err_set(errstr, n, err, "reading the catalog: %s",
                           cdc_err_str(err));
    return CDC_OK;
}

const cdc_stream_table_t *cdc_stream_schema_table(const cdc_stream_schema_t *s,
                                                  const char *schema,
                                                  const char *table)
{
    const tbl_t *t = find(s, schema, table);
    return t ? &t->view : NULL;
}

bool cdc_stream_schema_covers(const cdc_stream_schema_t *s, const char *schema,
                              const char *table,
                              const cdc_cdcrec_image_t *img)
{
    const tbl_t *t = find(s, schema, table);
    if (!t || t->cols.n == 0)
        return false;
    for (size_t i = 0; i < img->ncols; i++) {
        const char *name = img->cols[i].name;
        if (i < t->cols.n && strcmp(t->cols.v[i], name) == 0)
            continue; /* records list columns in table order, usually */
        bool found = false;
        for (size_t k = 0; k < t->cols.n && !found; k++)
            found = strcmp(t->cols.v[k], name) == 0;
        if (!found)
            return false;
    }
    return true;
}

void cdc_stream_schema_each(const cdc_stream_schema_t *s,
                            void (*fn)(void *ctx, const cdc_stream_table_t *t),
                            void *ctx)
{
    for (size_t i = 0; i < s->n; i++)
        fn(ctx, &s->t[i]->view);
}
