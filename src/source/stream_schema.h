/*
 * stream_schema.h - what the stream source knows about tables: key columns
 * (message.key.columns, else the catalog's primary key) and column types
 * (the catalog), which decide how DSQL's JSON values become PostgreSQL text.
 *
 * Owns the parsing of message.key.columns (Debezium's syntax, literal table
 * names) and the catalog queries (pg_catalog + information_schema, which
 * DSQL has). Does not own the database connection, the reorderer that uses
 * the result, or when to refresh.
 */
#ifndef CDC_STREAM_SCHEMA_H
#define CDC_STREAM_SCHEMA_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "source/cdcrec.h"

typedef struct cdc_stream_schema cdc_stream_schema_t;

/* One table. Strings belong to the schema object. */
typedef struct {
    const char *schema, *table;
    const char *const *cols;  /* catalog columns in attnum order */
    const uint32_t *oids;     /* their pg_type oids */
    size_t ncols;             /* 0: not in the catalog (or none loaded) */
    const char *const *keys;  /* key columns in key order */
    size_t nkeys;
    bool keys_known;          /* keys came from config or the catalog (the
                                 catalog may say: no primary key) */
    bool keys_from_config;
} cdc_stream_table_t;

/* NULL on out of memory. */
cdc_stream_schema_t *cdc_stream_schema_new(void);
/* NULL ok. */
void cdc_stream_schema_destroy(cdc_stream_schema_t *s);

/*
 * message.key.columns: "schema.table:col1,col2;schema.table2:col" (spaces
 * around names ignored; a table without a schema is in default_schema).
 * These keys win over the catalog's. CDC_ERR_CONFIG with errstr naming the
 * key and the bad entry; nothing is changed then.
 */
cdc_err_t cdc_stream_schema_set_keys(cdc_stream_schema_t *s, const char *spec,
                                     const char *default_schema,
                                     char *errstr, size_t errstr_size);

/*
 * Read every user table's columns and primary key from the catalog through
 * conn, replacing what an earlier load gave (config keys stay). Errors as
 * cdc_db_result_error (CDC_ERR_DB_CONNECT when the connection broke, else
 * CDC_ERR_DB_QUERY); nothing is changed then. *ntables: tables read.
 */
cdc_err_t cdc_stream_schema_load(cdc_stream_schema_t *s, PGconn *conn,
                                 size_t *ntables, char *errstr,
                                 size_t errstr_size);

/* The table, NULL when neither config nor catalog names it. Valid until the
 * next set_keys or load. */
const cdc_stream_table_t *cdc_stream_schema_table(const cdc_stream_schema_t *s,
                                                  const char *schema,
                                                  const char *table);

/* True when the catalog has the table and every column of img. */
bool cdc_stream_schema_covers(const cdc_stream_schema_t *s, const char *schema,
                              const char *table,
                              const cdc_cdcrec_image_t *img);

/* Calls fn for every table known, in no particular order. */
void cdc_stream_schema_each(const cdc_stream_schema_t *s,
                            void (*fn)(void *ctx, const cdc_stream_table_t *t),
                            void *ctx);

#endif
