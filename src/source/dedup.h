/*
 * dedup.h - the set of row versions already emitted inside the late-commit
 * window, so a re-scan emits each version once.
 *
 * A version is a 64-bit digest of (key values, timestamp). Each entry keeps
 * its timestamp (to drop it once the safe watermark passes it) and the batch
 * that emitted it (so only delivered entries are persisted). Memory is
 * bounded by the rows stamped inside the window, not by the table.
 */
#ifndef CDC_SOURCE_DEDUP_H
#define CDC_SOURCE_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct cdc_dedup cdc_dedup_t;

cdc_dedup_t *cdc_dedup_new(void);
void cdc_dedup_destroy(cdc_dedup_t *d);

/* Digest of a row version: key column texts (n of them) and its timestamp. */
uint64_t cdc_dedup_digest(const char *const *key_vals, const size_t *key_lens,
                          size_t n, int64_t ts_us);

bool cdc_dedup_contains(const cdc_dedup_t *d, uint64_t digest);
/* Add (no-op if present). seq: the batch that emitted the version. */
cdc_err_t cdc_dedup_add(cdc_dedup_t *d, uint64_t digest, int64_t ts_us,
                        uint64_t seq);
/* Forget versions stamped before ts_us. */
void cdc_dedup_prune(cdc_dedup_t *d, int64_t ts_us);
size_t cdc_dedup_count(const cdc_dedup_t *d);

/* Append base64 of the entries with seq <= max_seq (digest + timestamp). */
cdc_err_t cdc_dedup_export(const cdc_dedup_t *d, uint64_t max_seq,
                           cdc_buf_t *out);
/* Add the entries of an export (seq 0). CDC_ERR_PARSE if malformed. */
cdc_err_t cdc_dedup_import(cdc_dedup_t *d, const char *b64, size_t len);

#endif
