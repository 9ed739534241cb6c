/*
 * change.h - one captured row change, the boundary between sources and
 * encoders.
 *
 * Sources (poll, stream) fill it; encoders render it; neither owns the other's
 * memory. A change borrows all its strings from the source for the duration
 * of one encode call.
 */
#ifndef CDC_CHANGE_H
#define CDC_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CDC_OP_CREATE = 'c',
    CDC_OP_UPDATE = 'u',
    CDC_OP_DELETE = 'd',
    CDC_OP_READ = 'r', /* snapshot */
} cdc_op_t;

/*
 * A column value in PostgreSQL's text output format, as libpq returns it for
 * a session with TimeZone=UTC, DateStyle=ISO, IntervalStyle=postgres,
 * extra_float_digits=3, bytea_output=hex.
 */
typedef struct {
    const char *name;
    uint32_t type_oid;  /* pg_type oid; arrays have their array type oid */
    const char *value;  /* NULL when is_null */
    size_t len;
    bool is_null;
    bool is_key;        /* part of the message key */
} cdc_column_t;

typedef struct {
    const char *schema;
    const char *table;
    cdc_op_t op;
    int64_t ts_ms;              /* capture time, epoch milliseconds */
    int64_t commit_us;          /* the change's own time (commit or row
                                   timestamp), epoch microseconds; 0 unknown */
    const cdc_column_t *cols;   /* in table column order */
    size_t ncols;
} cdc_change_t;

#endif
