/*
 * base64.h - strict standard base64 decoding (RFC 4648 alphabet, padding
 * optional, nothing else accepted), as Kinesis record data and DSQL's bytea
 * values use it.
 */
#ifndef CDC_BASE64_H
#define CDC_BASE64_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/* Append the bytes of in[0..len) to out. CDC_ERR_PARSE when malformed
 * (out then holds a partial decode), CDC_ERR_NOMEM. */
cdc_err_t cdc_base64_decode(const char *in, size_t len, cdc_buf_t *out);

#endif
