/*
 * reorder.h - per-key commit order, de-duplication and staleness for the
 * stream source, and the turn of DSQL CDC records into cdc_change_t.
 *
 * Owns, per row key (schema.table + primary-key values): the last version
 * emitted, as (source.ts_ns, txId), and a short history of versions seen;
 * the records held back by the reorder window; the tables' key columns,
 * column-type hints and the allowed-table filter the caller configures; the
 * counters. Time is passed in (no clock inside). Does not own parsing
 * (source/cdcrec.h), reassembly (source/reassembly.h), encoding or delivery.
 *
 * Ordering: DSQL delivers unordered and at least once. A record is held for
 * window_ms of processing time after it arrives; then it is emitted together
 * with every held record of its key that sorts before it, in (ts_ns, txId)
 * order (txId breaks ties between transactions with equal ts_ns). A record
 * not newer than the last version emitted for its key is dropped: a
 * duplicate when that version was seen before, else stale (it came later
 * than the window could wait; last writer wins, so the topic still ends at
 * the right value, but that intermediate change is not on it). window_ms 0
 * forwards each record at once (streaming last-writer-wins).
 *
 * Positions: every record handed in carries the caller's position handle;
 * push says at once whether it is held or dropped, and an emitted change
 * carries it back, so the caller can release it on delivery. Held records
 * are not part of the exported state: the caller's offsets must stay before
 * them, so they are read again after a restart.
 */
#ifndef CDC_SOURCE_REORDER_H
#define CDC_SOURCE_REORDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "source/cdcrec.h"
#include "source/change.h"

typedef struct cdc_reorder cdc_reorder_t;

typedef struct {
    /* Processing time a record is held for reordering; 0: none. */
    int64_t window_ms;
    /*
     * Key state is kept until source.ts_ns falls this far behind the newest
     * source.ts_ns seen; records older than that horizon for a key without
     * state are dropped (too_old). Memory is bounded by the keys changed in
     * this span. Correctness needs it longer than the longest a record can
     * take to arrive, including redelivery: the Kinesis stream's retention
     * period (24 h by default) is always enough. A shorter one can replay an
     * old version of a forgotten key only if that version is delivered
     * again later than the horizon, and drops a genuinely new change that
     * late. 0: 25 hours.
     */
    int64_t retention_ms;
    /* Records held at most; beyond it the oldest held are released early
     * (less reordering, never loss). 0: 100000. */
    size_t max_held;
    /* The caller reports each emitted change's delivery with
     * cdc_reorder_delivered(), and exports describe delivered changes only.
     * Off: exports describe everything emitted. */
    bool track_delivery;
} cdc_reorder_opts_t;

/* What push did with a record. */
typedef enum {
    CDC_REORDER_HELD = 0,    /* accepted: emitted now or by a later release */
    CDC_REORDER_DUPLICATE,   /* this version of the key was seen before */
    CDC_REORDER_STALE,       /* a newer version of the key was emitted */
    CDC_REORDER_TOO_OLD,     /* older than the retention horizon */
    CDC_REORDER_FILTERED,    /* table not in the allowed set */
    CDC_REORDER_NO_KEY,      /* delete on a table without key: skipped */
} cdc_reorder_result_t;

/* "held", "duplicate", "stale", "too_old", "filtered", "no_key". */
const char *cdc_reorder_result_name(cdc_reorder_result_t r);

/* One emitted change. Everything in it is valid during the callback only. */
typedef struct {
    cdc_change_t change;      /* op c/u/d; columns from after (c/u) or
                                 before (d: key columns only), in the
                                 record's order; values NUL-terminated */
    bool tombstone;           /* a delete: send a tombstone after it */
    bool keyed;               /* false for tables without a key */
    uint64_t pos;             /* the caller's position handle */
    uint64_t seq;             /* 1, 2, ...: emission order, for
                                 cdc_reorder_delivered() */
    const cdc_cdcrec_t *rec;  /* the record as parsed */
    const char *key;          /* canonical key JSON, e.g. [1001,2]; NULL
                                 when not keyed */
} cdc_reorder_out_t;

/*
 * Receives each change, in order per key. A non-OK return (e.g.
 * CDC_ERR_QUEUE_FULL) keeps the change and everything after it held; the
 * next push/release/flush offers it again and returns that error now.
 * Must not call back into the reorderer.
 */
typedef cdc_err_t (*cdc_reorder_emit_fn)(void *opaque,
                                         const cdc_reorder_out_t *out,
                                         char *errstr, size_t errstr_size);

typedef struct {
    uint64_t accepted;        /* records held (then emitted) */
    uint64_t emitted;         /* changes handed to the callback */
    uint64_t duplicates;
    uint64_t stale;
    uint64_t too_old;
    uint64_t filtered;
    uint64_t unknown_op;      /* accepted records with an op we do not know,
                                 emitted as upserts */
    uint64_t no_key_passed;   /* changes of tables without key, unkeyed */
    uint64_t no_key_skipped;  /* deletes there without an image: skipped */
    uint64_t hint_mismatch;   /* values that did not fit their type hint */
    uint64_t keys_evicted;    /* key states forgotten past the horizon */
    size_t held;              /* records held now */
    size_t keys;              /* key states now */
} cdc_reorder_stats_t;

/* opts copied (NULL: defaults); emit required. NULL on out of memory. */
cdc_reorder_t *cdc_reorder_new(const cdc_reorder_opts_t *opts,
                               cdc_reorder_emit_fn emit, void *opaque);
/* Held records are freed without being emitted. NULL ok. */
void cdc_reorder_destroy(cdc_reorder_t *r);

/*
 * Key columns of schema.table, in key order (strings copied). n == 0 marks
 * the table as having no key. A table never given keys has none: its
 * changes pass through unkeyed (one warning per table) and its deletes,
 * which carry no image, are skipped and counted. Replaces earlier keys.
 */
cdc_err_t cdc_reorder_set_key(cdc_reorder_t *r, const char *schema,
                              const char *table, const char *const *cols,
                              size_t n);

/*
 * Type of a column (pg_type oid, e.g. from the catalog or config), which
 * decides how its JSON value becomes text (cdc_cdcrec_value_text). Without
 * a hint the type is inferred from the JSON value, which cannot tell a
 * timestamp from a bigint: give hints for date/time and bytea columns.
 * A value that does not fit its hint is inferred instead and counted.
 */
cdc_err_t cdc_reorder_set_type(cdc_reorder_t *r, const char *schema,
                               const char *table, const char *column,
                               uint32_t oid);

/* Only tables allowed this way are passed on once any is; others are
 * dropped (FILTERED). */
cdc_err_t cdc_reorder_allow_table(cdc_reorder_t *r, const char *schema,
                                  const char *table);

/*
 * Hand in a FULL record (moved in: *rec is left empty whatever happens)
 * with its position, at the caller's time now_ms (never going back). Then
 * emits whatever is due, this record too when window_ms is 0.
 *
 * Unknown ops (anything but c/u/d) are upserts of the after image: emitted
 * as 'u', or as 'c' when the key's last emitted change was a delete (the
 * row is known to be gone); a warning is logged once per op string.
 *
 * *res says what became of rec (HELD: it is now in the reorderer, whose
 * callback will carry its position). Errors: CDC_ERR_PARSE when the record
 * cannot be keyed (c/u without after, key column missing, a delete without
 * before on a keyed table) or is not FULL; rec is then not kept. An error
 * from the callback while emitting is returned with *res already set.
 */
cdc_err_t cdc_reorder_push(cdc_reorder_t *r, cdc_cdcrec_t *rec, uint64_t pos,
                           int64_t now_ms, cdc_reorder_result_t *res,
                           char *errstr, size_t errstr_size);

/* Emit every held record whose window has passed at now_ms (call it from
 * the loop even when nothing arrives). */
cdc_err_t cdc_reorder_release(cdc_reorder_t *r, int64_t now_ms,
                              char *errstr, size_t errstr_size);

/* Emit everything held, in order per key (shutdown, tests). */
cdc_err_t cdc_reorder_flush(cdc_reorder_t *r, char *errstr,
                            size_t errstr_size);

/*
 * The change emitted with seq was delivered (any order). Only with
 * track_delivery; unknown seqs are ignored.
 */
void cdc_reorder_delivered(cdc_reorder_t *r, uint64_t seq);

/* When the earliest held record becomes due; INT64_MAX when none is held
 * (for the loop's deadline). */
int64_t cdc_reorder_next_due(const cdc_reorder_t *r);

cdc_reorder_stats_t cdc_reorder_stats(const cdc_reorder_t *r);

/*
 * Key state as a new JSON object, in key order:
 *   {"v":1,"max_ts_ns":N,"keys":[{"schema":..,"table":..,"key":"[..]",
 *     "ts_ns":N,"tx":"..","op":"c|u|d","seen":[[ts_ns,"txhash"],..]},..]}
 * Each key's version is the last one delivered (track_delivery) or emitted
 * (otherwise: then take the export only when everything emitted has been
 * delivered, or a restart may drop an undelivered change as a duplicate).
 * Commit it together with the offsets it goes with. NULL on out of memory.
 */
json_t *cdc_reorder_export(const cdc_reorder_t *r);

/*
 * Load an export (borrowed) into a reorderer that has seen nothing yet.
 * CDC_ERR_PARSE (errstr says where) leaves it empty; CDC_ERR_INVALID_ARG
 * when it already holds state.
 */
cdc_err_t cdc_reorder_import(cdc_reorder_t *r, const json_t *state,
                             char *errstr, size_t errstr_size);

#endif
