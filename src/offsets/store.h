/*
 * store.h - the file offset store: each table's committed position.
 *
 * A position is a JSON object owned by the source that made it (the store
 * does not interpret it). The file is one JSON document, replaced atomically
 * (write tmp, fsync, rename, fsync dir) so a crash leaves the old or the new
 * version, never a torn one.
 */
#ifndef CDC_OFFSETS_STORE_H
#define CDC_OFFSETS_STORE_H

#include <jansson.h>
#include <stdio.h>

#include "common/err.h"
#include "config/config.h"

typedef struct cdc_offset_store cdc_offset_store_t;

/* Open (and load, if it exists) the store at path. */
cdc_offset_store_t *cdc_offsets_open(const char *path, char *errstr,
                                     size_t errstr_size, cdc_err_t *err);
void cdc_offsets_close(cdc_offset_store_t *s);

/* Borrowed position of table ("schema.table"), or NULL when none. */
json_t *cdc_offsets_get(const cdc_offset_store_t *s, const char *table);
/* Set table's position (takes a reference of pos; NULL removes it). */
cdc_err_t cdc_offsets_put(cdc_offset_store_t *s, const char *table, json_t *pos);
/* Write the file if anything changed since the last write. */
cdc_err_t cdc_offsets_flush(cdc_offset_store_t *s, char *errstr,
                            size_t errstr_size);

/* CLI helpers: `dsqlcdc offsets show|reset`. */
cdc_err_t cdc_offsets_cli_show(const cdc_config_t *c, FILE *out, char *errstr,
                               size_t errstr_size);
cdc_err_t cdc_offsets_cli_reset(const cdc_config_t *c, const char *table,
                                const char *to_timestamp, FILE *out,
                                char *errstr, size_t errstr_size);

#endif
