/*
 * err.c - text and retry class of each cdc_err_t, from the table in err.h.
 */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    const char *name;
    bool retriable;
    const char *text;
} err_table[] = {
#define CDC_ERR_ROW(code, retriable, text) {#code, retriable, text},
    CDC_ERRORS(CDC_ERR_ROW)
#undef CDC_ERR_ROW
};

const char *cdc_err_str(cdc_err_t err)
{
    if ((unsigned)err >= CDC_ERR__COUNT)
        return "unknown error";
    return err_table[err].text;
}

const char *cdc_err_name(cdc_err_t err)
{
    if ((unsigned)err >= CDC_ERR__COUNT)
        return "CDC_ERR_UNKNOWN";
    return err_table[err].name;
}

bool cdc_err_retriable(cdc_err_t err)
{
    if ((unsigned)err >= CDC_ERR__COUNT)
        return false;
    return err_table[err].retriable;
}

cdc_err_t cdc_err_set(char *errstr, size_t errstr_size, cdc_err_t err,
                      const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
