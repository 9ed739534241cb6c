/*
 * base64.c - strict base64 decoding (see base64.h).
 */
#include "common/base64.h"

#include <stdint.h>

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

cdc_err_t cdc_base64_decode(const char *in, size_t len, cdc_buf_t *out)
{
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return CDC_ERR_PARSE;
    if (cdc_buf_reserve(out, len / 4 * 3 + 3) != CDC_OK)
        return CDC_ERR_NOMEM;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val((unsigned char)in[i]);
        if (v < 0)
            return CDC_ERR_PARSE;
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->data[out->len++] = (char)(acc >> bits);
        }
    }
    out->data[out->len] = '\0';
    return CDC_OK;
}
