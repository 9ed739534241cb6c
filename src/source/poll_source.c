/*
 * poll_source.c - a table's poller as a source (see poll_source.h).
 *
 * The records of each page share one tracker batch sealed with the poller's
 * position after the page, so the committed position is always the end of a
 * page whose records, and all before them, were delivered. A connection is
 * borrowed from the pool for a step and kept across steps while the poller
 * waits for an answer on it.
 */
#include "source/poll_source.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "http/metrics.h"
#include "offsets/tracker.h"

typedef struct {
    cdc_source_t base; /* first */
    const cdc_config_t *cfg;
    cdc_poller_t *poller;
    cdc_tracker_t *tracker;
    cdc_db_t *db;
    PGconn *conn;      /* lent while the poller waits for an answer on it */
    uint64_t sealed;   /* the poller's page number at the last seal */
    json_t *pending;   /* newest delivered position not yet put */
} poll_source_t;

typedef struct {
    poll_source_t *ps;
    cdc_emitter_t *emitter;
    cdc_batch_t *batch; /* the page's, made at its first row */
} page_ctx_t;

static cdc_err_t emit_row(const cdc_change_t *ch, void *ctx, char *errstr,
                          size_t n)
{
    page_ctx_t *pc = ctx;
    if (!pc->batch && !(pc->batch = cdc_tracker_batch(pc->ps->tracker)))
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
    return cdc_emit(pc->emitter, ch, (cdc_delivery_t *)pc->batch, errstr, n);
}

/* Give the connection back; one left with a query in flight is closed. */
static void give_back(poll_source_t *ps, cdc_err_t err)
{
    if (!ps->conn)
        return;
    if (cdc_poller_waiting(ps->poller))
        cdc_poller_abandon(ps->poller);
    cdc_db_release(ps->db, ps->conn, err, NULL, cdc_mono_ms());
    ps->conn = NULL;
}

static cdc_err_t ps_step(cdc_source_t *s, cdc_emitter_t *e, int64_t now,
                         int64_t *next_ms, char *errstr, size_t n)
{
    poll_source_t *ps = (poll_source_t *)s;
    *next_ms = now;
    cdc_err_t err;
    if (!ps->conn) {
        int64_t retry_at;
        err = cdc_db_acquire(ps->db, now, &ps->conn, &retry_at, errstr, n);
        if (err == CDC_OK && !ps->conn) {
            *next_ms = retry_at; /* still connecting, or all lent */
            return CDC_OK;
        }
        if (err != CDC_OK) {
            if (!cdc_err_retriable(err))
                return err;
            *next_ms = retry_at; /* backing off; the manager logged why */
            return CDC_OK;
        }
    }
    page_ctx_t pc = {ps, e, NULL};
    size_t rows;
    err = cdc_poller_step(ps->poller, ps->conn, now,
                          cdc_db_may_keep(ps->db, ps->conn, now), emit_row,
                          &pc, &rows, next_ms, errstr, n);
    /* A page read: seal its batch with the position after it, even after
     * an error (the rows emitted before it stand). */
    uint64_t seq = cdc_poller_seq(ps->poller);
    if (seq != ps->sealed) {
        json_t *pos = cdc_poller_position(ps->poller);
        if (pos && cdc_tracker_seal(ps->tracker, pos) == CDC_OK)
            ps->sealed = seq;
        json_decref(pos);
    }
    if (cdc_poller_waiting(ps->poller) && err == CDC_OK)
        return CDC_OK; /* keep the connection: its answer is on the way */
    if (err == CDC_ERR_DB_CONNECT && PQstatus(ps->conn) == CONNECTION_OK)
        /* a query timeout: the manager only sees a connection to drop */
        cdc_log_warn("poll", "%s; reading it again", errstr);
    give_back(ps, err);
    if (err == CDC_ERR_DB_CONNECT) {
        *next_ms = now; /* the manager reconnects */
        return CDC_OK;
    }
    return err;
}

static int ps_wait_fd(cdc_source_t *s)
{
    poll_source_t *ps = (poll_source_t *)s;
    return ps->conn && cdc_poller_waiting(ps->poller) ? PQsocket(ps->conn) : -1;
}

static void ps_sent(cdc_source_t *s, cdc_delivery_t *h)
{
    (void)s;
    cdc_tracker_record_sent((cdc_batch_t *)h);
}

static void ps_done(cdc_source_t *s, cdc_delivery_t *h, cdc_err_t err)
{
    if (err == CDC_OK) {
        cdc_tracker_record_done((cdc_batch_t *)h);
        return;
    }
    /* Not delivered: the batch stays open so the offset never passes it. */
    cdc_log_error("poll", "%s: a record was not delivered (%s); the offset "
                  "stays before it until a restart resends it", s->name,
                  cdc_err_str(err));
}

static void ps_commit(cdc_source_t *s, bool for_flush, cdc_source_put_fn put,
                      void *ctx)
{
    poll_source_t *ps = (poll_source_t *)s;
    json_t *pos = cdc_tracker_advance(ps->tracker);
    if (pos) {
        json_decref(ps->pending);
        ps->pending = pos;
    }
    if (!for_flush || !ps->pending)
        return;
    /* Only now add the delivered part of the emitted-versions set: it can
     * hold hundreds of thousands of digests. The position is ours (a fresh
     * object per step). */
    if (cdc_poller_checkpoint(ps->poller, ps->pending) == CDC_OK)
        put(ctx, s->name, ps->pending);
    json_decref(ps->pending);
    ps->pending = NULL;
}

static void ps_metrics(cdc_source_t *s, cdc_task_metrics_t *m)
{
    const cdc_poller_t *p = ((poll_source_t *)s)->poller;
    cdc_poller_rescan_stats(p, &m->late_rows, &m->rescan_duplicates_suppressed);
    m->window_versions = cdc_poller_window_size(p);
    int64_t w = cdc_poller_watermark_us(p);
    m->watermark_age_seconds =
        w == INT64_MIN ? 0 : (double)(cdc_wall_us() - w) / 1e6;
}

static int64_t ps_backlog(cdc_source_t *s, uint64_t emitted)
{
    int64_t est = cdc_poller_row_estimate(((poll_source_t *)s)->poller);
    return est > 0 && (uint64_t)est > emitted ? est - (int64_t)emitted : -1;
}

static void ps_destroy(cdc_source_t *s)
{
    poll_source_t *ps = (poll_source_t *)s;
    if (!ps)
        return;
    give_back(ps, CDC_OK);
    json_decref(ps->pending);
    cdc_tracker_destroy(ps->tracker);
    cdc_poller_destroy(ps->poller);
    free(ps);
}

static const cdc_source_ops_t poll_ops = {
    .step = ps_step,
    .wait_fd = ps_wait_fd,
    .sent = ps_sent,
    .done = ps_done,
    .commit = ps_commit,
    .metrics = ps_metrics,
    .backlog_estimate = ps_backlog,
    .destroy = ps_destroy,
};

cdc_source_t *cdc_poll_source_new(const cdc_config_t *c, const char *table,
                                  cdc_db_t *db, const json_t *stored,
                                  char *errstr, size_t n)
{
    poll_source_t *ps = calloc(1, sizeof *ps);
    if (!ps) {
        cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ps->base.ops = &poll_ops;
    ps->cfg = c;
    ps->db = db;
    ps->poller = cdc_poller_new(c, table);
    ps->tracker = cdc_tracker_new(&ps->base);
    if (!ps->poller || !ps->tracker) {
        cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        ps_destroy(&ps->base);
        return NULL;
    }
    ps->base.name = cdc_poller_name(ps->poller);
    if (stored && cdc_poller_restore(ps->poller, stored, errstr, n) != CDC_OK) {
        ps_destroy(&ps->base);
        return NULL;
    }
    return &ps->base;
}

cdc_poller_t *cdc_poll_source_poller(cdc_source_t *s)
{
    return ((poll_source_t *)s)->poller;
}
