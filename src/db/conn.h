/*
 * conn.h - opening a database session that dsqlcdc can read from.
 *
 * Owns connection parameters (endpoint, port, database, user, sslmode),
 * the password (static, or a fresh DSQL IAM token per connection) and the
 * session settings that make libpq's text output predictable for the
 * encoders (see source/change.h). Blocking for now; the main loop treats a
 * connection attempt as one bounded step (dsql.pool.connection.timeout.ms).
 */
#ifndef CDC_DB_CONN_H
#define CDC_DB_CONN_H

#include <libpq-fe.h>

#include "auth/credentials.h"
#include "common/err.h"
#include "config/config.h"

typedef struct cdc_db cdc_db_t;

/* chain may be NULL in password mode; borrowed, must outlive the db. */
cdc_db_t *cdc_db_new(const cdc_config_t *c, cdc_cred_chain_t *chain);
void cdc_db_destroy(cdc_db_t *db);

/* An open, ready connection, connecting if needed. */
cdc_err_t cdc_db_get(cdc_db_t *db, PGconn **out, char *errstr,
                     size_t errstr_size);
/* Drop the connection after an error so the next get reconnects. */
void cdc_db_reset(cdc_db_t *db);
/* The endpoint currently used, for messages. */
const char *cdc_db_endpoint(const cdc_db_t *db);

/* Map a failed result to a cdc_err_t with SQLSTATE-aware advice. */
cdc_err_t cdc_db_result_error(const PGresult *res, const PGconn *conn,
                              const char *what, char *errstr,
                              size_t errstr_size);

#endif
