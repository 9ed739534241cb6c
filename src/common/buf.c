/*
 * buf.c - growable byte buffer (see buf.h).
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cdc_buf_init(cdc_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cdc_buf_free(cdc_buf_t *b)
{
    free(b->data);
    cdc_buf_init(b);
}

void cdc_buf_wipe(cdc_buf_t *b)
{
    if (b->data) {
        volatile char *p = b->data;
        for (size_t i = 0; i < b->cap; i++)
            p[i] = 0;
    }
    cdc_buf_free(b);
}

void cdc_wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = 0;
    free(s);
}

void cdc_buf_reset(cdc_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

cdc_err_t cdc_buf_grow(cdc_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return CDC_ERR_NOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return CDC_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return CDC_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return CDC_OK;
}

cdc_err_t cdc_buf_printf(cdc_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CDC_ERR_INVALID_ARG;
    if (cdc_buf_reserve(b, (size_t)n) != CDC_OK)
        return CDC_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CDC_OK;
}

const char *cdc_buf_str(const cdc_buf_t *b)
{
    return b->data ? b->data : "";
}
