/*
 * sink.h - where encoded records go: Kafka, standard output or a file.
 *
 * Every record carries an opaque handle that comes back exactly once through
 * the delivery callback, from cdc_sink_poll() or cdc_sink_flush() on the
 * caller's thread: only then may the source's offset move past it. The
 * stdout and file sinks deliver on write (the file sink after fsync).
 */
#ifndef CDC_SINK_H
#define CDC_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "config/config.h"

typedef struct cdc_sink cdc_sink_t;

/* err is CDC_OK when delivered; errstr says why not otherwise. */
typedef void (*cdc_sink_delivery_fn)(void *record, cdc_err_t err,
                                     const char *errstr, void *ctx);

cdc_sink_t *cdc_sink_new(const cdc_config_t *c, cdc_sink_delivery_fn fn,
                         void *ctx, char *errstr, size_t errstr_size);
void cdc_sink_destroy(cdc_sink_t *s);

/* value NULL: a tombstone. CDC_ERR_QUEUE_FULL means "poll and try again",
 * never a drop. */
cdc_err_t cdc_sink_produce(cdc_sink_t *s, const char *topic, const char *key,
                           size_t key_len, const char *value, size_t value_len,
                           void *record, char *errstr, size_t errstr_size);
/* True while produced messages await their delivery report. */
bool cdc_sink_in_flight(const cdc_sink_t *s);
/* Serve delivery callbacks, waiting up to timeout_ms for one. */
void cdc_sink_poll(cdc_sink_t *s, int timeout_ms);
/* Deliver everything pending (file: write + fsync) within timeout_ms. */
cdc_err_t cdc_sink_flush(cdc_sink_t *s, int timeout_ms, char *errstr,
                         size_t errstr_size);

#endif
