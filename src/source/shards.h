/*
 * shards.h - shard lineage of one Kinesis stream: which shards may be read now.
 *
 * Owns the set of known shards (from ListShards), which of them are finished
 * (drained to their end) and the rule that a child is read only after all its
 * parents are finished or gone (trimmed). Pure logic, no I/O: does not call
 * Kinesis, hold iterators or positions.
 */
#ifndef CDC_SOURCE_SHARDS_H
#define CDC_SOURCE_SHARDS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef struct cdc_shards cdc_shards_t;

/* One shard as ListShards describes it. Strings are borrowed for the call. */
typedef struct {
    const char *shard_id;
    const char *parent_shard_id;          /* NULL or "" when none */
    const char *adjacent_parent_shard_id; /* NULL or "" when none (merge) */
    const char *starting_sequence_number; /* NULL when unknown */
    const char *ending_sequence_number;   /* NULL while the shard is open */
} cdc_shard_desc_t;

typedef enum {
    CDC_SHARD_UNKNOWN = 0, /* not in the set */
    CDC_SHARD_WAITING,     /* a parent is listed and not finished yet */
    CDC_SHARD_READABLE,    /* may be read now */
    CDC_SHARD_FINISHED,    /* drained to its end */
} cdc_shard_state_t;

/* "unknown", "waiting", "readable", "finished". */
const char *cdc_shard_state_name(cdc_shard_state_t st);

/* NULL on out of memory. */
cdc_shards_t *cdc_shards_new(void);
/* NULL ok. */
void cdc_shards_destroy(cdc_shards_t *s);

/*
 * Merge a ListShards result. New shards are added; known ones take the
 * given parents and sequence range (a shard that was open may now be
 * closed) and keep their finished mark. complete: list is the whole stream
 * (every page of an unfiltered ListShards), so known shards missing from it
 * were trimmed and are dropped; their children stop waiting for them. On
 * error (an empty or repeated shard id: CDC_ERR_INVALID_ARG; CDC_ERR_NOMEM)
 * the set is left as it was.
 */
cdc_err_t cdc_shards_update(cdc_shards_t *s, const cdc_shard_desc_t *list,
                            size_t n, bool complete, char *errstr,
                            size_t errstr_size);

/*
 * The shard was drained to its end (GetRecords gave no next iterator, or
 * a stored position says so). A shard that was listed as open is taken as
 * closed from now on. CDC_ERR_NOT_FOUND for a shard not in the set.
 */
cdc_err_t cdc_shards_mark_finished(cdc_shards_t *s, const char *shard_id,
                                   char *errstr, size_t errstr_size);

cdc_shard_state_t cdc_shards_state(const cdc_shards_t *s,
                                   const char *shard_id);
/* True when the shard is in the set and has an ending sequence number or
 * was finished. */
bool cdc_shards_closed(const cdc_shards_t *s, const char *shard_id);

/*
 * Shards that may be read now (state READABLE), in ascending shard id order
 * (for Kinesis ids, creation order, so parents come before their children).
 * Fills out[0..min(n,cap)-1] with set-owned strings, valid until the next
 * update or destroy, and returns n, the number readable (so a call with
 * cap 0 sizes the array).
 */
size_t cdc_shards_readable(const cdc_shards_t *s, const char **out,
                           size_t cap);

/* Number of shards in the set, and of those finished. */
size_t cdc_shards_count(const cdc_shards_t *s);
size_t cdc_shards_finished_count(const cdc_shards_t *s);

/*
 * True when some finished shard has no child in the set: the stream was
 * resharded and ListShards must be called again to find the children
 * (Kinesis gives ChildShards with the last GetRecords, but not every
 * implementation does).
 */
bool cdc_shards_need_relist(const cdc_shards_t *s);

#endif
