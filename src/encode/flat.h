/*
 * flat.h - the "flat" record format of the Debezium connector this replaces:
 * what Debezium's PostgreSQL connector + ExtractNewRecordState
 * (add.fields=op,table,ts_ms, add.fields.prefix=__) + Kafka's JsonConverter
 * (schemas.enable=false) produce for one row change.
 *
 *   value: {"<col>":<value>,... in column order,"__op":"c","__table":"t",
 *           "__ts_ms":1705314605123}
 *   key:   {"<key col>":<value>,...}
 *
 * Column values are rendered by pgtypes. Topics, headers and delivery belong
 * to the sinks.
 */
#ifndef CDC_FLAT_H
#define CDC_FLAT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "source/change.h"

/*
 * Append the record value for ch to out. On error nothing stays appended
 * (out keeps its previous length) and errstr names the table, the column and
 * the offending value: CDC_ERR_ENCODE for a value its type cannot have,
 * CDC_ERR_NOMEM.
 */
cdc_err_t cdc_flat_encode_value(const cdc_change_t *ch, cdc_buf_t *out,
                                char *errstr, size_t errstr_size);

/*
 * Append the record key for ch: an object of the is_key columns in column
 * order, values rendered as in the value. When ch has no key column nothing
 * is appended and CDC_OK returned: the record gets a null key, as Debezium
 * gives tables without a primary key. Errors as cdc_flat_encode_value.
 */
cdc_err_t cdc_flat_encode_key(const cdc_change_t *ch, cdc_buf_t *out,
                              char *errstr, size_t errstr_size);

/* True when some column of ch is part of the key. */
bool cdc_flat_has_key(const cdc_change_t *ch);

#endif
