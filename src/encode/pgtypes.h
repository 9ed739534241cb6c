/*
 * pgtypes.h - PostgreSQL type oids and the rendering of one column value, as
 * PostgreSQL's text output gives it, into the JSON value that Debezium's
 * PostgreSQL connector plus Kafka's JsonConverter (schemas.enable=false) would
 * put in a record.
 *
 * Owns the per-type rules (time.precision.mode=adaptive, binary as base64,
 * arrays as JSON arrays, ...). Record layout (flat, envelope) belongs to the
 * encoders that call it. Input is the text format of a session with
 * TimeZone=UTC, DateStyle=ISO, IntervalStyle=postgres, extra_float_digits=3,
 * bytea_output=hex (see source/change.h).
 */
#ifndef CDC_PGTYPES_H
#define CDC_PGTYPES_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "encode/jsonw.h"

/* Built-in pg_type oids (src/include/catalog/pg_type.dat); stable forever. */
enum {
    CDC_PGOID_BOOL = 16,
    CDC_PGOID_BYTEA = 17,
    CDC_PGOID_CHAR = 18,
    CDC_PGOID_NAME = 19,
    CDC_PGOID_INT8 = 20,
    CDC_PGOID_INT2 = 21,
    CDC_PGOID_INT4 = 23,
    CDC_PGOID_TEXT = 25,
    CDC_PGOID_OID = 26,
    CDC_PGOID_JSON = 114,
    CDC_PGOID_XML = 142,
    CDC_PGOID_CIDR = 650,
    CDC_PGOID_FLOAT4 = 700,
    CDC_PGOID_FLOAT8 = 701,
    CDC_PGOID_UNKNOWN = 705,
    CDC_PGOID_MACADDR8 = 774,
    CDC_PGOID_MONEY = 790,
    CDC_PGOID_MACADDR = 829,
    CDC_PGOID_INET = 869,
    CDC_PGOID_BPCHAR = 1042,
    CDC_PGOID_VARCHAR = 1043,
    CDC_PGOID_DATE = 1082,
    CDC_PGOID_TIME = 1083,
    CDC_PGOID_TIMESTAMP = 1114,
    CDC_PGOID_TIMESTAMPTZ = 1184,
    CDC_PGOID_INTERVAL = 1186,
    CDC_PGOID_TIMETZ = 1266,
    CDC_PGOID_NUMERIC = 1700,
    CDC_PGOID_UUID = 2950,
    CDC_PGOID_JSONB = 3802,

    /* Array types of the above. */
    CDC_PGOID_JSON_ARRAY = 199,
    CDC_PGOID_XML_ARRAY = 143,
    CDC_PGOID_CIDR_ARRAY = 651,
    CDC_PGOID_MACADDR8_ARRAY = 775,
    CDC_PGOID_MONEY_ARRAY = 791,
    CDC_PGOID_BOOL_ARRAY = 1000,
    CDC_PGOID_BYTEA_ARRAY = 1001,
    CDC_PGOID_CHAR_ARRAY = 1002,
    CDC_PGOID_NAME_ARRAY = 1003,
    CDC_PGOID_INT2_ARRAY = 1005,
    CDC_PGOID_INT4_ARRAY = 1007,
    CDC_PGOID_TEXT_ARRAY = 1009,
    CDC_PGOID_BPCHAR_ARRAY = 1014,
    CDC_PGOID_VARCHAR_ARRAY = 1015,
    CDC_PGOID_INT8_ARRAY = 1016,
    CDC_PGOID_FLOAT4_ARRAY = 1021,
    CDC_PGOID_FLOAT8_ARRAY = 1022,
    CDC_PGOID_OID_ARRAY = 1028,
    CDC_PGOID_MACADDR_ARRAY = 1040,
    CDC_PGOID_INET_ARRAY = 1041,
    CDC_PGOID_TIMESTAMP_ARRAY = 1115,
    CDC_PGOID_DATE_ARRAY = 1182,
    CDC_PGOID_TIME_ARRAY = 1183,
    CDC_PGOID_TIMESTAMPTZ_ARRAY = 1185,
    CDC_PGOID_INTERVAL_ARRAY = 1187,
    CDC_PGOID_NUMERIC_ARRAY = 1231,
    CDC_PGOID_TIMETZ_ARRAY = 1270,
    CDC_PGOID_UUID_ARRAY = 2951,
    CDC_PGOID_JSONB_ARRAY = 3807,
};

/*
 * Write the JSON value for one column value into w. val/len is the value in
 * PostgreSQL text output format; val == NULL writes null.
 *
 *   bool                         true / false
 *   int2 int4 int8 oid           number (range-checked for the type)
 *   float4 float8                number; NaN/Infinity/-Infinity as strings
 *   numeric                      string of the exact decimal text ("NaN")
 *   date                         number: days since 1970-01-01
 *   time                         number: microseconds since midnight
 *   timestamp                    number: microseconds since the epoch
 *   timestamptz                  string "2024-01-15T10:30:05.12Z" (UTC,
 *                                fraction without trailing zeros)
 *   timetz                       string "10:30:05.5Z" (UTC)
 *   bytea                        string: base64 of the bytes
 *   arrays of the types above    JSON array (nested for multi-dimensional)
 *   everything else              string of the text as is
 *
 * Infinite values: timestamptz as the strings "infinity"/"-infinity" (as
 * Debezium does); timestamp as INT64_MAX/INT64_MIN microseconds and date as
 * INT32_MAX/INT32_MIN days: PostgreSQL's own internal sentinels, where recent
 * Debezium lands for timestamps too, rather than older Debezium's odd values.
 * numeric and interval deliberately stay text, unlike Debezium's defaults
 * (precise decimal bytes, MicroDuration microseconds): the format consumers of
 * the replaced plugin expect.
 *
 * CDC_ERR_ENCODE when the text is not valid output of its type (errstr says
 * which type and quotes at most ~64 bytes of the value); CDC_ERR_NOMEM. After
 * an error, discard w and the partial bytes it appended.
 */
cdc_err_t cdc_pgtypes_render(cdc_jsonw_t *w, uint32_t type_oid,
                             const char *val, size_t len, char *errstr,
                             size_t errstr_size);

/*
 * Microseconds since the epoch (UTC) of a date, timestamp or timestamptz
 * value in text output format; infinity/-infinity give INT64_MAX/INT64_MIN.
 * CDC_ERR_PARSE when malformed, CDC_ERR_INVALID_ARG for other types.
 */
cdc_err_t cdc_pgtypes_epoch_us(uint32_t type_oid, const char *s, size_t len,
                               int64_t *out);

/* Days since 1970-01-01 -> proleptic Gregorian year, month, day. */
void cdc_pgtypes_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* Element type of a known array type oid; 0 when oid is not one. */
uint32_t cdc_pgtypes_array_elem(uint32_t type_oid);

/* "timestamptz", "int4[]", ...; NULL for oids this module does not know. */
const char *cdc_pgtypes_name(uint32_t type_oid);

/*
 * Write at most ~64 bytes of val into dst (size n, NUL-terminated), for error
 * messages: control bytes become \xNN, a cut never splits a UTF-8 sequence,
 * and "..." marks a cut.
 */
void cdc_pgtypes_quote_value(char *dst, size_t n, const char *val,
                             size_t len);

/*
 * The Kafka Connect schema Debezium's PostgreSQL connector declares for a
 * column of this type, matching what cdc_pgtypes_render writes (so numeric is
 * "string", as decimal.handling.mode=string gives; timestamp is always
 * MicroTimestamp and time MicroTime, since values keep microseconds; interval
 * is a plain "string": its values are PostgreSQL text, not the ISO 8601 of
 * io.debezium.time.Interval). type is JsonConverter's type name ("int32",
 * "string", "bytes", "array", ...); name/version the logical type, NULL/0
 * when none.
 * For "array" the items' schema is that of cdc_pgtypes_array_elem(oid).
 */
typedef struct {
    const char *type;
    const char *name;
    int version;
} cdc_pgtypes_connect_t;

cdc_pgtypes_connect_t cdc_pgtypes_connect_schema(uint32_t type_oid);

#endif
