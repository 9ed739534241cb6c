/*
 * tracker.h - delivery watermark: which position is safe to commit.
 *
 * A source hands over records in batches; each batch ends at a position.
 * The tracker counts each batch's records still in flight and reports the
 * position of the newest batch such that it and every batch before it are
 * fully delivered. It never lets the committed position pass an undelivered
 * record. One tracker per table; not thread-safe (the main loop owns it).
 */
#ifndef CDC_OFFSETS_TRACKER_H
#define CDC_OFFSETS_TRACKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "source/source.h"

typedef struct cdc_tracker cdc_tracker_t;
/* A record's delivery handle; begins with a cdc_delivery_t naming owner, so
 * (cdc_delivery_t *)batch and back are valid casts. */
typedef struct cdc_batch cdc_batch_t;

/* owner: the source whose records this tracker follows. */
cdc_tracker_t *cdc_tracker_new(cdc_source_t *owner);
void cdc_tracker_destroy(cdc_tracker_t *t);

/* The open batch that new records join (created on demand). NULL on OOM. */
cdc_batch_t *cdc_tracker_batch(cdc_tracker_t *t);
/* One more record of b is in flight. */
void cdc_tracker_record_sent(cdc_batch_t *b);
/* One record of b was delivered (or deliberately dropped). */
void cdc_tracker_record_done(cdc_batch_t *b);
/* Close the open batch at pos (takes a reference). Empty batches too: the
 * position still advances once everything before it is delivered. */
cdc_err_t cdc_tracker_seal(cdc_tracker_t *t, json_t *pos);

/*
 * Pop every leading fully delivered batch; return the newest popped
 * position (a new reference, caller decrefs) or NULL when none.
 */
json_t *cdc_tracker_advance(cdc_tracker_t *t);
/* Records sent and not yet delivered. */
size_t cdc_tracker_in_flight(const cdc_tracker_t *t);

#endif
