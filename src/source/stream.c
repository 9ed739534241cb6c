/*
 * stream.c - the stream source (see stream.h). Being written: until then
 * source.mode=stream refuses to start with a clear message.
 */
#include "source/stream.h"

cdc_source_t *cdc_stream_source_new(const cdc_config_t *c,
                                    const cdc_offset_store_t *offsets,
                                    cdc_cred_chain_t *chain, cdc_db_t *db,
                                    char *errstr, size_t n)
{
    (void)c, (void)offsets, (void)chain, (void)db;
    cdc_err_set(errstr, n, CDC_ERR_CONFIG,
                "source.mode=stream is not available in this build yet; use "
                "source.mode=poll");
    return NULL;
}
