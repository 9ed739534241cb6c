/*
 * source.h - the boundary between a capture source and the rest of the
 * daemon.
 *
 * Two peers implement it: poll (one per table, src/source/poll_source.c) and
 * stream (DSQL's native CDC from Kinesis). A source reads changes and hands
 * each to the emitter with a delivery handle; the daemon encodes, routes and
 * produces it, and reports back per produced message through the handle, so
 * the source alone decides which positions are safe to commit.
 */
#ifndef CDC_SOURCE_H
#define CDC_SOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "source/change.h"

typedef struct cdc_source cdc_source_t;
struct cdc_task_metrics; /* http/metrics.h */

/* Every delivery handle starts with this, so the daemon can route a
 * delivery report back to its source. */
typedef struct cdc_delivery {
    cdc_source_t *source;
} cdc_delivery_t;

/* The daemon's side: encodes, routes and produces one change (a delete is
 * followed by a tombstone). Before each message produced, it calls
 * ops->sent(h); for each, later, exactly one ops->done(h, err). A failure
 * returned here means nothing more was produced for the change. */
typedef struct cdc_emitter cdc_emitter_t;
cdc_err_t cdc_emit(cdc_emitter_t *e, const cdc_change_t *ch,
                   cdc_delivery_t *h, char *errstr, size_t errstr_size);

/* Called by commit for each partition (table, shard...) whose committed
 * position moved: key names it in the offset store, pos is borrowed. */
typedef void (*cdc_source_put_fn)(void *ctx, const char *key, json_t *pos);

typedef struct {
    /* One bounded piece of work (a page, a GetRecords call). *next_ms: when
     * to call again (now_ms when more is waiting). */
    cdc_err_t (*step)(cdc_source_t *s, cdc_emitter_t *e, int64_t now_ms,
                      int64_t *next_ms, char *errstr, size_t errstr_size);
    /* Optional: a socket the source waits on (an answer to a query in
     * flight); the daemon steps it again when the socket is readable, or
     * at *next_ms. -1 when none. May be NULL. */
    int (*wait_fd)(cdc_source_t *s);
    void (*sent)(cdc_source_t *s, cdc_delivery_t *h);
    void (*done)(cdc_source_t *s, cdc_delivery_t *h, cdc_err_t err);
    /* Take note of what is now fully delivered. for_flush: the offset file
     * is about to be written, so put every position that moved (a source
     * may put only then, when building a position is costly). */
    void (*commit)(cdc_source_t *s, bool for_flush, cdc_source_put_fn put,
                   void *ctx);
    /* Optional: fill the source-specific metrics (late rows, duplicates
     * suppressed, watermark age...). May be NULL. */
    void (*metrics)(cdc_source_t *s, struct cdc_task_metrics *m);
    /* Rows still to read, for progress messages; -1 when unknown. May be
     * NULL. */
    int64_t (*backlog_estimate)(cdc_source_t *s, uint64_t emitted);
    void (*destroy)(cdc_source_t *s);
} cdc_source_ops_t;

/* Sources embed this first. name: for status and messages; index: the
 * daemon's task number, set by the daemon. */
struct cdc_source {
    const cdc_source_ops_t *ops;
    const char *name;
    size_t index;
};

#endif
