/*
 * stream.h - the stream source: DSQL's native CDC records from a Kinesis
 * data stream, behind source.h.
 *
 * Reads every shard (children after their parents), reassembles split
 * records, drops duplicates and stale records, restores commit order per key
 * within stream.reorder.window.ms, and emits the same changes the poller
 * would. Its whole position (per-shard sequence numbers, per-key state,
 * fragments waiting for their record) is one offset entry.
 */
#ifndef CDC_STREAM_SOURCE_H
#define CDC_STREAM_SOURCE_H

#include "auth/credentials.h"
#include "config/config.h"
#include "db/conn.h"
#include "offsets/store.h"
#include "source/source.h"

/* db: NULL when no database is configured (keys then come from
 * message.key.columns). offsets: read for the stored position (borrowed,
 * only during the call). chain: AWS credentials (borrowed). */
cdc_source_t *cdc_stream_source_new(const cdc_config_t *c,
                                    const cdc_offset_store_t *offsets,
                                    cdc_cred_chain_t *chain, cdc_db_t *db,
                                    char *errstr, size_t errstr_size);

#endif
