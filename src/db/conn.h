/*
 * conn.h - the database connections dsqlcdc reads through: a pool of up to
 * dsql.pool.max.size connections per endpoint, each an explicit state
 * machine, with failover and failback of the endpoints.
 *
 * Owns connection parameters (endpoints, port, database, user, sslmode), the
 * password (static, or a fresh DSQL IAM token per connection), the session
 * settings the encoders rely on (see source/change.h), connecting with
 * libpq's non-blocking API within dsql.pool.connection.timeout.ms, retry
 * backoff, recycling at dsql.connection.max.lifetime.ms, keeping
 * dsql.pool.min.idle connections open, switching to dsql.endpoint.secondary
 * after dsql.failover.after.failures consecutive failures and back once the
 * primary answers a check. Does not run the daemon's queries; the caller
 * borrows a connection (one no one else holds), queries, and says how it
 * went.
 *
 * A pooled connection: CLOSED -> CONNECTING -> READY (lent or idle) ->
 * CLOSED (recycled, failed, failed back or over, idle too long). An
 * endpoint's state (cdc_db_state) follows from its pool:
 *   FAILED      retrying cannot help (e.g. no region to sign for);
 *   READY       at least one of its connections is READY, lent or idle;
 *   CONNECTING  none is READY, an attempt is under way;
 *   BACKOFF     none is open after a failure; the next attempt is due later;
 *   CLOSED      none is open, none is due.
 * Failure counts, backoff, failover and the IAM token are per endpoint; a
 * failure that takes several pooled connections counts (and is logged)
 * once. The pool grows when a borrower finds no idle connection; at least
 * dsql.pool.min.idle connections (lent or idle) stay open to the active
 * endpoint, connected before anyone asks; above that, a connection idle 10
 * minutes is closed. Times are CLOCK_MONOTONIC milliseconds, as the
 * caller's event loop has.
 */
#ifndef CDC_DB_CONN_H
#define CDC_DB_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/credentials.h"
#include "common/err.h"
#include "config/config.h"
#include "db/backoff.h"

typedef struct cdc_db cdc_db_t;

typedef enum {
    CDC_DB_CLOSED,
    CDC_DB_CONNECTING,
    CDC_DB_READY,
    CDC_DB_BACKOFF,
    CDC_DB_FAILED,
} cdc_db_state_t;

typedef enum { CDC_DB_PRIMARY, CDC_DB_SECONDARY } cdc_db_endpoint_id_t;

/* Counters since cdc_db_new, for metrics. */
typedef struct {
    uint64_t connects;          /* connections that became READY (each
                                   pooled one) */
    uint64_t connect_failures;  /* attempts that failed or timed out */
    uint64_t lost;              /* READY connections found broken */
    uint64_t failovers;         /* primary -> secondary */
    uint64_t failbacks;         /* secondary -> primary */
    uint64_t recycles;          /* closed at dsql.connection.max.lifetime.ms */
    uint64_t tokens_generated;  /* IAM tokens signed */
    uint64_t tokens_reused;     /* older tokens used while credentials failed */
} cdc_db_stats_t;

/* chain may be NULL in password mode; borrowed, must outlive the db.
 * NULL on out of memory. Nothing connects until the first acquire or
 * cdc_db_service. */
cdc_db_t *cdc_db_new(const cdc_config_t *c, cdc_cred_chain_t *chain);
/* Close every connection and free. NULL ok. */
void cdc_db_destroy(cdc_db_t *db);

/*
 * Borrow an idle READY connection to the active endpoint, lent to this
 * caller alone until cdc_db_release. Never blocks longer than about 100 ms
 * (plus a DNS lookup when a new attempt starts). Results:
 *   CDC_OK, *out set        use it, then release it;
 *   CDC_OK, *out NULL       none is idle: one more connection is being made
 *                           (while the pool has fewer than
 *                           dsql.pool.max.size), or every one is lent and
 *                           the borrowers are asked to give one back (see
 *                           cdc_db_may_keep); call again at *retry_at_ms,
 *                           10 ms or so later (no error, nothing to report);
 *   retriable error         the endpoint is backing off after the failure in
 *                           errstr, already logged here: retry at
 *                           *retry_at_ms without logging it again;
 *   other error             retrying cannot help (errstr says what to fix).
 * Also runs cdc_db_service.
 */
cdc_err_t cdc_db_acquire(cdc_db_t *db, int64_t now_ms, PGconn **out,
                         int64_t *retry_at_ms, char *errstr,
                         size_t errstr_size);

/*
 * Give back a lent connection with how its queries went: query_result is
 * the step's cdc_err_t and last_failed the failed PGresult, if the caller
 * still has it (NULL ok). Send no query on it afterwards. A connection error
 * (connection status bad, SQLSTATE class 08, 57P01-57P03, a closed socket)
 * closes it and counts towards failover, once for all the endpoint's
 * connections it took (the idle ones are checked at once); other errors,
 * 40001 (optimistic concurrency conflict) included, leave it in the pool.
 * Also closed here, between queries, never during one: a connection left
 * inside a transaction (or with a query in flight), one past its maximum
 * lifetime (replaced at once), one to an endpoint failed back or over
 * from. Unknown or NULL conn: ignored.
 */
void cdc_db_release(cdc_db_t *db, PGconn *conn, cdc_err_t query_result,
                    const PGresult *last_failed, int64_t now_ms);

/*
 * May the borrower of conn (lent, not yet released) send another query on
 * it without releasing it first, e.g. to prefetch the next page? False,
 * and the borrower should release it after the query in flight, when: conn
 * is past dsql.connection.max.lifetime.ms, is to be closed (its endpoint
 * failed back or over, or failed for good), is broken, or another caller
 * found every connection lent since conn was lent (so a busy borrower
 * cannot starve the others). Unknown or not lent: false. Changes nothing.
 */
bool cdc_db_may_keep(cdc_db_t *db, const PGconn *conn, int64_t now_ms);

/* Timers: retries due, connection attempts to move on, failback checks,
 * lost, retired and old idle connections, keeping dsql.pool.min.idle
 * connections open to the active endpoint, closing idle ones above that
 * after 10 minutes unused. Lent connections are left alone. Call when
 * cdc_db_next_deadline is due. */
void cdc_db_service(cdc_db_t *db, int64_t now_ms);
/* When cdc_db_service wants to run next; INT64_MAX when nothing is due. */
int64_t cdc_db_next_deadline(const cdc_db_t *db);

/* The endpoint queries go to, "host" or "host:port" as configured. */
const char *cdc_db_active_endpoint(const cdc_db_t *db);
/* The endpoint's state, as defined at the top; CLOSED for a secondary that
 * is not configured. */
cdc_db_state_t cdc_db_state(const cdc_db_t *db, cdc_db_endpoint_id_t which);
const char *cdc_db_state_name(cdc_db_state_t s);
void cdc_db_stats(const cdc_db_t *db, cdc_db_stats_t *out);

/* Replace the backoff's random source (tests). */
void cdc_db_set_random(cdc_db_t *db, cdc_backoff_rand_fn rand, void *ud);

/*
 * Blocking forms, for callers without an event loop, or queries run to the
 * end within one call: get waits for an idle connection (within
 * dsql.pool.connection.timeout.ms when one has to be made); it is not lent,
 * so nothing is released, and it must not be used after the call that got
 * it returns to the event loop. When every connection is lent (the pool is
 * full), get fails at once with CDC_ERR_DB_CONNECT, since nothing can be
 * given back while it waits. reset drops the connection the last get
 * returned after an error (a broken one counts towards failover) and lets
 * the next get retry at once.
 */
cdc_err_t cdc_db_get(cdc_db_t *db, PGconn **out, char *errstr,
                     size_t errstr_size);
void cdc_db_reset(cdc_db_t *db);
/* Same as cdc_db_active_endpoint. */
const char *cdc_db_endpoint(const cdc_db_t *db);

/* Map a failed result to a cdc_err_t with SQLSTATE-aware advice: lost
 * connections (status bad, class 08, 57P01-57P03) are CDC_ERR_DB_CONNECT. */
cdc_err_t cdc_db_result_error(const PGresult *res, const PGconn *conn,
                              const char *what, char *errstr,
                              size_t errstr_size);

#endif
