/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Owned by whoever declares it: cdc_buf_init() before use, cdc_buf_free()
 * after. Appends return CDC_ERR_NOMEM on allocation failure and leave the
 * buffer as it was. Not for secrets that must be wiped (see cdc_buf_wipe).
 */
#ifndef CDC_BUF_H
#define CDC_BUF_H

#include <stddef.h>

#include "common/err.h"

typedef struct {
    char *data;  /* NULL until the first append; then NUL-terminated */
    size_t len;
    size_t cap;
} cdc_buf_t;

void cdc_buf_init(cdc_buf_t *b);
void cdc_buf_free(cdc_buf_t *b);
/* Zero the bytes then free: for buffers that held secrets. */
void cdc_buf_wipe(cdc_buf_t *b);
/* Empty the buffer, keeping its memory. */
void cdc_buf_reset(cdc_buf_t *b);
cdc_err_t cdc_buf_reserve(cdc_buf_t *b, size_t extra);
cdc_err_t cdc_buf_append(cdc_buf_t *b, const void *p, size_t n);
cdc_err_t cdc_buf_puts(cdc_buf_t *b, const char *s);
cdc_err_t cdc_buf_putc(cdc_buf_t *b, char c);
cdc_err_t cdc_buf_printf(cdc_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Zero a heap string then free it (NULL ok): for copies of secrets. */
void cdc_wipe_free(char *s);

/* The contents as a C string ("" when empty); valid until the next append. */
const char *cdc_buf_str(const cdc_buf_t *b);

#endif
