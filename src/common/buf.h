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
#include <string.h>

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

/*
 * The out-of-line half of cdc_buf_reserve: grow so that extra more bytes
 * and the NUL fit. Call cdc_buf_reserve instead.
 */
cdc_err_t cdc_buf_grow(cdc_buf_t *b, size_t extra);

/*
 * The appends below run once or more per JSON token on the per-row path,
 * so the common case (the bytes fit) is inline and only growth is a call.
 */

/* Make room for extra more bytes (plus the NUL) without changing len. */
static inline cdc_err_t cdc_buf_reserve(cdc_buf_t *b, size_t extra)
{
    /* cap > len whenever memory is held (the NUL); no overflow here. */
    if (b->len < b->cap && extra < b->cap - b->len)
        return CDC_OK;
    return cdc_buf_grow(b, extra);
}

static inline cdc_err_t cdc_buf_append(cdc_buf_t *b, const void *p, size_t n)
{
    if (cdc_buf_reserve(b, n) != CDC_OK)
        return CDC_ERR_NOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CDC_OK;
}

static inline cdc_err_t cdc_buf_puts(cdc_buf_t *b, const char *s)
{
    return cdc_buf_append(b, s, strlen(s));
}

static inline cdc_err_t cdc_buf_putc(cdc_buf_t *b, char c)
{
    if (cdc_buf_reserve(b, 1) != CDC_OK)
        return CDC_ERR_NOMEM;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return CDC_OK;
}

cdc_err_t cdc_buf_printf(cdc_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Zero a heap string then free it (NULL ok): for copies of secrets. */
void cdc_wipe_free(char *s);

/* The contents as a C string ("" when empty); valid until the next append. */
const char *cdc_buf_str(const cdc_buf_t *b);

#endif
