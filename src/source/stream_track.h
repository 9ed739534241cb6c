/*
 * stream_track.h - which records of one Kinesis shard are fully handled, so
 * the stream source knows the sequence number it may commit.
 *
 * Owns, per shard, the records read and not yet behind the checkpoint, in
 * read order, each pending until the source marks it done (delivered to
 * Kafka, or deliberately dropped), and notes (chunk ids) to hand back when a
 * record leaves. The checkpoint is the sequence number of the last record
 * of the leading run of done records. Does not own the records, Kinesis
 * calls, or the offset format.
 */
#ifndef CDC_STREAM_TRACK_H
#define CDC_STREAM_TRACK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef struct cdc_stream_track cdc_stream_track_t;
/* One record's place in its shard. Valid until the advance that passes it;
 * the source must drop every reference once it marks the slot done. */
typedef struct cdc_stream_slot cdc_stream_slot_t;

/* checkpoint: the stored sequence number (copied; NULL: none). NULL on out
 * of memory. */
cdc_stream_track_t *cdc_stream_track_new(const char *checkpoint);
/* Frees every slot and note. NULL ok. */
void cdc_stream_track_destroy(cdc_stream_track_t *t);

/* A record with sequence number seq (copied) was read: a pending slot at
 * the tail. Sequence numbers must come in read order. NULL on OOM. */
cdc_stream_slot_t *cdc_stream_track_add(cdc_stream_track_t *t,
                                        const char *seq);

/* The record is handled; idempotent. */
void cdc_stream_slot_done(cdc_stream_slot_t *s);
bool cdc_stream_slot_is_done(const cdc_stream_slot_t *s);

/* Keep note (copied) with the slot until advance passes it. */
cdc_err_t cdc_stream_slot_note(cdc_stream_slot_t *s, const char *note);

/*
 * Free every leading done slot; fn (may be NULL) gets each note of them.
 * Returns true when the checkpoint moved.
 */
bool cdc_stream_track_advance(cdc_stream_track_t *t,
                              void (*fn)(void *ctx, const char *note),
                              void *ctx);

/* Sequence number of the last record handled with all before it; NULL
 * when none (nor stored). */
const char *cdc_stream_track_checkpoint(const cdc_stream_track_t *t);

/* Slots not yet passed by advance (pending or done). */
size_t cdc_stream_track_held(const cdc_stream_track_t *t);

#endif
