/*
 * rows.c - test rows for the encoders (see rows.h).
 */
#include "rows.h"

#include <stdbool.h>
#include <string.h>

cdc_column_t cdc_rows_col(const char *name, uint32_t oid, const char *value)
{
    cdc_column_t c;
    memset(&c, 0, sizeof(c));
    c.name = name;
    c.type_oid = oid;
    c.value = value;
    c.len = value ? strlen(value) : 0;
    c.is_null = value == NULL;
    return c;
}

cdc_column_t cdc_rows_key_col(const char *name, uint32_t oid,
                              const char *value)
{
    cdc_column_t c = cdc_rows_col(name, oid, value);
    c.is_key = true;
    return c;
}

cdc_change_t cdc_rows_change(const cdc_column_t *cols, size_t n, cdc_op_t op)
{
    cdc_change_t ch;
    memset(&ch, 0, sizeof(ch));
    ch.schema = "public";
    ch.table = "event_headers";
    ch.op = op;
    ch.ts_ms = 1705314605123;
    ch.cols = cols;
    ch.ncols = n;
    return ch;
}
