/*
 * poll.h - the keyset poller of one table.
 *
 * Owns the table's schema (columns, key, timestamp column, discovered from
 * the catalog), its cursor (timestamp + key of the last row handed out) and
 * the keyset query: WHERE (ts, k1..kn) > ($ts, $k1..$kn) ORDER BY ts, k1..kn
 * LIMIT batch, so rows that tie on the timestamp are never skipped at a page
 * boundary. Does not own connections, encoding or delivery.
 */
#ifndef CDC_SOURCE_POLL_H
#define CDC_SOURCE_POLL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "common/err.h"
#include "config/config.h"
#include "source/change.h"

typedef struct cdc_poller cdc_poller_t;

/* Called for each row of a page, in cursor order. A non-OK return stops the
 * page; the cursor then stays after the last row that was accepted. */
typedef cdc_err_t (*cdc_poll_emit_fn)(const cdc_change_t *ch, void *ctx,
                                      char *errstr, size_t errstr_size);

/* table: "table" or "schema.table" from dsql.tables. */
cdc_poller_t *cdc_poller_new(const cdc_config_t *c, const char *table);
void cdc_poller_destroy(cdc_poller_t *p);

/* "schema.table": the offset key and the name used in messages. */
const char *cdc_poller_name(const cdc_poller_t *p);
const char *cdc_poller_schema(const cdc_poller_t *p);
const char *cdc_poller_table(const cdc_poller_t *p);

/* Resume after a stored position (borrowed). */
cdc_err_t cdc_poller_restore(cdc_poller_t *p, const json_t *pos,
                             char *errstr, size_t errstr_size);
/* Start from the newest row (dsql.start.mode=latest, no stored position). */
cdc_err_t cdc_poller_start_latest(cdc_poller_t *p, PGconn *conn,
                                  char *errstr, size_t errstr_size);

/* Read columns and key from the catalog; needed before the first poll. */
cdc_err_t cdc_poller_discover(cdc_poller_t *p, PGconn *conn, char *errstr,
                              size_t errstr_size);
bool cdc_poller_discovered(const cdc_poller_t *p);

/*
 * Read one page and emit its rows. *rows gets the number emitted; a full
 * page (rows == batch size) means more may be waiting.
 */
cdc_err_t cdc_poller_poll(cdc_poller_t *p, PGconn *conn, cdc_poll_emit_fn emit,
                          void *ctx, size_t *rows, char *errstr,
                          size_t errstr_size);

/* Position after the last emitted row: {"ts":"...","key":[...]} (new ref),
 * or NULL before the first row. */
json_t *cdc_poller_position(const cdc_poller_t *p);

#endif
