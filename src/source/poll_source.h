/*
 * poll_source.h - the polling source: one table's poller behind source.h.
 *
 * Owns the table's poller and its delivery tracker; borrows the database
 * connection manager, and from it one connection while a query is in
 * flight (its socket is the source's wait_fd). Positions are stored under
 * the table's name.
 */
#ifndef CDC_POLL_SOURCE_H
#define CDC_POLL_SOURCE_H

#include <jansson.h>

#include "config/config.h"
#include "db/conn.h"
#include "source/poll.h"
#include "source/source.h"

/* table: an item of dsql.tables. stored: the table's stored position or
 * NULL (borrowed). NULL on failure, with errstr set. */
cdc_source_t *cdc_poll_source_new(const cdc_config_t *c, const char *table,
                                  cdc_db_t *db, const json_t *stored,
                                  char *errstr, size_t errstr_size);

/* The table's poller (schema and table names, window size). */
cdc_poller_t *cdc_poll_source_poller(cdc_source_t *s);

#endif
