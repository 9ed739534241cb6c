/*
 * poll.h - the keyset poller of one table, with the late-commit re-scan.
 *
 * Owns the table's schema (columns, key, timestamp column, discovered from
 * the catalog), its fast cursor F (timestamp + key of the newest row read),
 * its safe watermark W (every row stamped before W has been emitted) and the
 * set of versions emitted at or after W. The fast scan pages by
 * WHERE (ts, k1..kn) > F ORDER BY ts, k1..kn LIMIT batch, so rows that tie
 * on the timestamp are never skipped at a page boundary. Every
 * dsql.rescan.interval.ms a re-scan pages through [W, F] and emits the rows
 * it has not emitted before: rows of transactions that committed after the
 * fast cursor passed their timestamp. A pass that started at server time N
 * moves W to min(F, N - dsql.lookback.ms), because a transaction stamped
 * earlier than that had committed before the pass read it.
 *
 * Does not own connections, encoding or delivery.
 */
#ifndef CDC_SOURCE_POLL_H
#define CDC_SOURCE_POLL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "config/config.h"
#include "source/change.h"

typedef struct cdc_poller cdc_poller_t;

/* Called for each row to emit, in read order. A non-OK return stops the
 * step; the poller's state then stays after the last accepted row. */
typedef cdc_err_t (*cdc_poll_emit_fn)(const cdc_change_t *ch, void *ctx,
                                      char *errstr, size_t errstr_size);

/* table: "table" or "schema.table" from dsql.tables. */
cdc_poller_t *cdc_poller_new(const cdc_config_t *c, const char *table);
void cdc_poller_destroy(cdc_poller_t *p);

/* "schema.table": the offset key and the name used in messages. */
const char *cdc_poller_name(const cdc_poller_t *p);
const char *cdc_poller_schema(const cdc_poller_t *p);
const char *cdc_poller_table(const cdc_poller_t *p);

/* Resume from a stored position (borrowed; see cdc_poller_position). */
cdc_err_t cdc_poller_restore(cdc_poller_t *p, const json_t *pos,
                             char *errstr, size_t errstr_size);

/* Read columns and key from the catalog (done by the first step too). */
cdc_err_t cdc_poller_discover(cdc_poller_t *p, PGconn *conn, char *errstr,
                              size_t errstr_size);
/* After discovery: is there an index leading with the timestamp column to
 * serve the keyset query? (Discovery already checked SELECT permission.) */
cdc_err_t cdc_poller_check_index(cdc_poller_t *p, PGconn *conn, bool *indexed,
                                 char *errstr, size_t errstr_size);
/* The timestamp column's name after discovery, else NULL. */
const char *cdc_poller_ts_column(const cdc_poller_t *p);

/*
 * Do the next piece of work without waiting on the server: discover the
 * schema if needed (that one does wait), then move the current step on.
 * A step is one page of the fast scan or of the re-scan, with a read of
 * the server's clock before it when needed; each query is sent, and its
 * answer read by a later call, when conn's socket is readable. While
 * cdc_poller_waiting, keep conn lent to this poller and call again when its
 * socket is readable or at *next_ms (the query's timeout); otherwise
 * *next_ms is when the next step is due (now when more rows are waiting).
 * may_ahead: when a full page arrives, the query for the page after it may
 * go out on conn before this page's rows are emitted, so the server reads
 * while the rows are encoded (the next call uses its answer if it is still
 * what it needs, and drops it otherwise).
 * A connection error (CDC_ERR_DB_CONNECT, the query's timeout included)
 * abandons the step: give the connection back as broken.
 */
cdc_err_t cdc_poller_step(cdc_poller_t *p, PGconn *conn, int64_t mono_now_ms,
                          bool may_ahead, cdc_poll_emit_fn emit, void *ctx,
                          size_t *rows, int64_t *next_ms, char *errstr,
                          size_t errstr_size);
/* A query is in flight on the connection the last step used. */
bool cdc_poller_waiting(const cdc_poller_t *p);
/* Forget the query in flight (its connection is to be closed) and the
 * step in progress; the next step starts afresh. */
void cdc_poller_abandon(cdc_poller_t *p);
/* Numbers the pages read: changes when a step read a page (rows or not). */
uint64_t cdc_poller_seq(const cdc_poller_t *p);

/*
 * State after the last step, as a new JSON object (NULL before the first
 * row): {"ts":F.ts,"key":[...],"w":W,"seq":N} where seq numbers the step.
 * Hand it to the delivery tracker; once committed, pass it through
 * cdc_poller_checkpoint to add the delivered part of the emitted set.
 */
json_t *cdc_poller_position(const cdc_poller_t *p);
/* Add "seen" (versions emitted by steps <= pos.seq) to a committed position
 * (modifies pos). */
cdc_err_t cdc_poller_checkpoint(const cdc_poller_t *p, json_t *pos);

/* Versions held for de-duplication (for metrics and tests). */
size_t cdc_poller_window_size(const cdc_poller_t *p);
/* Rows the re-scan emitted (late commits) and rows it skipped as already
 * emitted, since start. */
void cdc_poller_rescan_stats(const cdc_poller_t *p, uint64_t *late,
                             uint64_t *skipped);
/* The safe watermark in epoch microseconds; INT64_MIN before the first. */
int64_t cdc_poller_watermark_us(const cdc_poller_t *p);
/* The planner's row count at discovery (progress messages); -1 unknown. */
int64_t cdc_poller_row_estimate(const cdc_poller_t *p);

#endif
