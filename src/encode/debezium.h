/*
 * debezium.h - the "debezium" record format: Debezium's change-event envelope
 * as its PostgreSQL connector (2.7 and later: envelope schema version 2)
 * writes it through Kafka Connect's JsonConverter, and the record key of both
 * formats with JsonConverter's schemas.enable semantics.
 *
 *   value: {"before":null,"after":{<row>},"source":{"version":"0.1.0",
 *           "connector":"dsql","name":"<topic.prefix>","ts_ms":T,
 *           "snapshot":"false","db":"<db>","sequence":null,"ts_us":T*1000,
 *           "ts_ns":T*1000000,"schema":"public","table":"t"},
 *           "transaction":null,"op":"c","ts_ms":T,"ts_us":..,"ts_ns":..}
 *   key:   {"<key col>":<value>,...}, the same bytes as flat's key
 *
 * op c, u, r: before null, after the row ("snapshot":"true" for r); op d:
 * before the row as captured (at least its key), after null. The tombstone
 * that follows a delete belongs to the sink. With schemas enabled a value or
 * key becomes {"schema":{...},"payload":{...}}, the schema exactly as
 * JsonConverter prints Debezium's Connect schema.
 *
 * What a query-based source cannot fill: the source block has no txId, lsn or
 * xmin (there is no WAL), so its schema, io.debezium.connector.dsql.Source,
 * leaves them out; "sequence" is always null and "transaction" always null.
 * ts_ms in the source and in the envelope is the capture time; ts_us/ts_ns
 * are that time in finer units.
 *
 * Column schemas come from cdc_pgtypes_connect_schema. Nullability is not in
 * the change record, so a key column is "optional":false and every other
 * column "optional":true (a NULL in a key column makes it optional, keeping
 * schema and payload consistent). Column defaults are not known and never
 * appear in the schema.
 *
 * Owns: envelope layout, schema rendering and its cache. Not: per-type value
 * rendering (pgtypes), topics and delivery (sinks), reading config (the
 * caller fills cdc_debezium_opts_t).
 */
#ifndef CDC_DEBEZIUM_H
#define CDC_DEBEZIUM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "source/change.h"

typedef struct {
    const char *topic_prefix; /* topic.prefix: source.name, schema names */
    const char *database;     /* dsql.database.name: source.db; NULL: "" */
    const char *version;      /* source.version; NULL: this build's version */
    bool key_schemas;         /* key.converter.schemas.enable */
    bool value_schemas;       /* value.converter.schemas.enable */
} cdc_debezium_opts_t;

/*
 * An encoder: the options plus a cache of rendered schemas, one per table and
 * column set (names, types, key flags), so the schema JSON is built once per
 * table rather than once per row. Not thread-safe; one per encoding thread.
 */
typedef struct cdc_debezium cdc_debezium_t;

/*
 * Copy opts (the strings too) into a new encoder. NULL with errstr set when
 * topic_prefix is missing or memory runs out.
 */
cdc_debezium_t *cdc_debezium_new(const cdc_debezium_opts_t *opts, char *errstr,
                                 size_t errstr_size);
void cdc_debezium_destroy(cdc_debezium_t *d);

/*
 * Append the record value for ch to out. On error nothing stays appended
 * (out keeps its previous length) and errstr names the table, the column and
 * the offending value: CDC_ERR_ENCODE for a value its type cannot have,
 * CDC_ERR_INVALID_ARG for an unknown op, CDC_ERR_NOMEM.
 */
cdc_err_t cdc_debezium_encode_value(cdc_debezium_t *d, const cdc_change_t *ch,
                                    cdc_buf_t *out, char *errstr,
                                    size_t errstr_size);

/*
 * Append the record key for ch: flat's key (cdc_flat_encode_key), wrapped
 * with its schema ("<prefix>.<schema>.<table>.Key") when key schemas are
 * enabled. Use it for the flat format too: keys are the same in both. When
 * ch has no key column nothing is appended and CDC_OK returned (a null key,
 * as Debezium gives tables without a primary key). Errors as for the value.
 */
cdc_err_t cdc_debezium_encode_key(cdc_debezium_t *d, const cdc_change_t *ch,
                                  cdc_buf_t *out, char *errstr,
                                  size_t errstr_size);

/* Schemas currently cached (for tests and metrics). */
size_t cdc_debezium_cached(const cdc_debezium_t *d);

#endif
