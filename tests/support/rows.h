/*
 * rows.h - cdc_column_t and cdc_change_t values for encoder unit tests.
 *
 * Builds the rows the encoders take, the way the poller hands them over
 * (public.event_headers, a fixed change time). Owns nothing: every string
 * stays the caller's and must outlive the values built from it.
 */
#ifndef CDC_TEST_ROWS_H
#define CDC_TEST_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "source/change.h"

/* A column with value as text, NULL for SQL NULL. */
cdc_column_t cdc_rows_col(const char *name, uint32_t oid, const char *value);
/* Same, part of the key. */
cdc_column_t cdc_rows_key_col(const char *name, uint32_t oid,
                              const char *value);
/* A change of public.event_headers at 1705314605123 ms with n cols. */
cdc_change_t cdc_rows_change(const cdc_column_t *cols, size_t n, cdc_op_t op);

#endif
