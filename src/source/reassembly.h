/*
 * reassembly.h - rebuilding DSQL CDC records whose images were split into
 * fragments (SPEC.md "Oversized records"), and CRC32C.
 *
 * Owns the fragments and main records waiting for each other, keyed by
 * chunk_id, in any arrival order across shards; the limits on what they may
 * hold (bytes, chunks, age) and the counters of what was dropped. Time is
 * passed in by the caller (no clock inside). Does not own parsing
 * (source/cdcrec.h), ordering or de-duplication of the rebuilt records
 * (source/reorder.h), or offsets.
 *
 * Positions: every record handed in carries the caller's position handle
 * (an opaque uint64_t, e.g. a slot in its delivery tracker). A rebuilt record
 * hands back the positions of the main record and of every fragment used, so
 * the caller releases them all once that record is delivered; pieces dropped
 * later (expired, evicted, failed) are reported through the drop callback.
 *
 * Persistence: cdc_reassembly_export() writes the fragments held, including
 * those of rebuilt records not yet released with cdc_reassembly_release(),
 * without positions (main records are not exported: their positions hold the
 * caller's offset back, so they are read again). A caller that commits an
 * export together with its offsets may treat the positions of the fragments
 * in it as done; imported fragments carry position 0.
 */
#ifndef CDC_SOURCE_REASSEMBLY_H
#define CDC_SOURCE_REASSEMBLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "source/cdcrec.h"

/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as DSQL computes over
 * the reassembled image text. crc is the value so far (0 to start), so a
 * long text can be fed in pieces: cdc_crc32c(cdc_crc32c(0, a, n), b, m) ==
 * cdc_crc32c(0, ab, n + m).
 */
uint32_t cdc_crc32c(uint32_t crc, const void *data, size_t len);

typedef struct cdc_reassembly cdc_reassembly_t;

typedef struct {
    size_t max_bytes;   /* fragment bytes held, all chunks; 0: 256 MiB */
    size_t max_chunks;  /* chunk ids held; 0: 1024 */
    int64_t max_age_ms; /* a chunk no piece was added to for longer is
                           dropped by cdc_reassembly_expire(), with its
                           main record; 0: 15 minutes */
} cdc_reassembly_limits_t;

/* Why held pieces were let go (drop callback). */
typedef enum {
    CDC_REASM_DROP_EXPIRED,   /* waited longer than max_age_ms */
    CDC_REASM_DROP_EVICTED,   /* room was needed (max_bytes / max_chunks) */
    CDC_REASM_DROP_CORRUPT,   /* CRC32C mismatch or image not a JSON object */
    CDC_REASM_DROP_RELEASED,  /* cdc_reassembly_release() (no callback) */
} cdc_reasm_drop_t;

/* "expired", "evicted", "corrupt", "released". */
const char *cdc_reasm_drop_name(cdc_reasm_drop_t why);

/*
 * A held piece is dropped: pos is the position it was added with (0 for
 * imported fragments); main is true for a main record, whose change is
 * lost unless Kinesis delivers it again. Called from inside add, expire and
 * import; must not call back into the reassembly.
 */
typedef void (*cdc_reassembly_drop_fn)(void *opaque, uint64_t pos, bool main,
                                       cdc_reasm_drop_t why);

typedef struct {
    uint64_t fragments;       /* fragments added */
    uint64_t duplicates;      /* identical fragments or main records again */
    uint64_t completed;       /* records rebuilt */
    uint64_t expired;         /* chunks dropped by age */
    uint64_t evicted;         /* chunks dropped for room */
    uint64_t corrupt;         /* CRC32C mismatches, unparsable images */
    uint64_t conflicts;       /* same chunk/index with other data: rejected */
    size_t chunks;            /* chunk ids held now */
    size_t pending_mains;     /* main records waiting now */
    size_t bytes;             /* fragment bytes held now */
} cdc_reassembly_stats_t;

/* Limits are copied; NULL means all defaults. NULL on out of memory. */
cdc_reassembly_t *cdc_reassembly_new(const cdc_reassembly_limits_t *limits,
                                     cdc_reassembly_drop_fn drop,
                                     void *opaque);
/* Frees everything held without calling the drop callback. NULL ok. */
void cdc_reassembly_destroy(cdc_reassembly_t *ra);

typedef enum {
    CDC_REASM_HELD,      /* kept, waiting for more pieces */
    CDC_REASM_DUPLICATE, /* the same piece is already held: not kept */
    CDC_REASM_COMPLETE,  /* a record was rebuilt: see out */
} cdc_reasm_result_t;

/* A rebuilt record and every position that went into it. */
typedef struct {
    cdc_cdcrec_t rec;     /* type FULL; chunk refs kept */
    uint64_t pos;         /* the main record's */
    uint64_t *frag_pos;   /* each fragment's, in chunk/index order */
    size_t nfrag_pos;
} cdc_reassembly_out_t;

void cdc_reassembly_out_init(cdc_reassembly_out_t *o);
/* Clears the record and frees frag_pos. */
void cdc_reassembly_out_clear(cdc_reassembly_out_t *o);

/*
 * Hand in a CHUNKED or FRAGMENT record; it is moved in (*rec is left empty,
 * whatever the result). now_ms: the caller's clock, the same one for
 * expire. On CDC_REASM_COMPLETE *out (initialised, empty) gets the rebuilt
 * record: images concatenated in index order, CRC32C checked, parsed.
 *
 * Errors (*res undefined; rec is not kept, so the caller's position for it
 * is free unless the drop callback reports it):
 *   CDC_ERR_PARSE   a fragment with the same chunk and index but other data,
 *                   an index beyond the main record's total_fragments, a
 *                   different main record for a chunk already referenced;
 *                   or the rebuilt image failed its CRC32C or is not a JSON
 *                   object: then every piece of the record, this one too,
 *                   is dropped as CORRUPT through the callback;
 *   CDC_ERR_CONFIG  one fragment (or chunk) larger than max_bytes;
 *   CDC_ERR_INVALID_ARG  a FULL or empty record; CDC_ERR_NOMEM.
 * errstr names the table, txId, chunk and index.
 */
cdc_err_t cdc_reassembly_add(cdc_reassembly_t *ra, cdc_cdcrec_t *rec,
                             uint64_t pos, int64_t now_ms,
                             cdc_reasm_result_t *res,
                             cdc_reassembly_out_t *out, char *errstr,
                             size_t errstr_size);

/*
 * The record rebuilt from chunk_id was delivered: forget the chunk's
 * fragments (a fragment delivered again afterwards is held anew and ages
 * out). Unknown or still incomplete chunks are left alone.
 */
void cdc_reassembly_release(cdc_reassembly_t *ra, const char *chunk_id);

/* Drop chunks idle for more than max_age_ms, with their main records (drop
 * callback, log). Returns how many chunks were dropped. */
size_t cdc_reassembly_expire(cdc_reassembly_t *ra, int64_t now_ms);

cdc_reassembly_stats_t cdc_reassembly_stats(const cdc_reassembly_t *ra);

/*
 * State as a new JSON object (age_ms: time since the chunk's last piece):
 *   {"v":1,"chunks":[{"chunk_id":"..","age_ms":N,
 *                     "fragments":[{"index":0,"data":".."},..]},..]}
 * NULL on out of memory.
 */
json_t *cdc_reassembly_export(const cdc_reassembly_t *ra, int64_t now_ms);

/*
 * Add the fragments of an export (borrowed) to ra, with position 0 and their
 * age carried over to now_ms. Fragments already held are skipped. On
 * CDC_ERR_PARSE (errstr says where) nothing is added.
 */
cdc_err_t cdc_reassembly_import(cdc_reassembly_t *ra, const json_t *state,
                                int64_t now_ms, char *errstr,
                                size_t errstr_size);

#endif
