/*
 * err.h - the one error type of dsqlcdc.
 *
 * Every fallible function returns a cdc_err_t and, where the caller passes
 * one, fills an errstr buffer with the context a user needs to act. The codes,
 * whether each is worth retrying, and their text come from one X-macro table.
 */
#ifndef CDC_ERR_H
#define CDC_ERR_H

#include <stdbool.h>
#include <stddef.h>

/* X(code, retriable, text) */
#define CDC_ERRORS(X)                                                         \
    X(CDC_OK,              false, "success")                                  \
    X(CDC_ERR_INVALID_ARG, false, "invalid argument")                         \
    X(CDC_ERR_NOMEM,       false, "out of memory")                            \
    X(CDC_ERR_CONFIG,      false, "invalid configuration")                    \
    X(CDC_ERR_IO,          true,  "I/O error")                                \
    X(CDC_ERR_PARSE,       false, "malformed input")                          \
    X(CDC_ERR_NOT_FOUND,   false, "not found")                                \
    X(CDC_ERR_CREDENTIALS, true,  "no usable AWS credentials")                \
    X(CDC_ERR_HTTP,        true,  "HTTP request failed")                      \
    X(CDC_ERR_TIMEOUT,     true,  "timed out")                                \
    X(CDC_ERR_AUTH,        true,  "authentication rejected")                  \
    X(CDC_ERR_DB_CONNECT,  true,  "database connection failed")               \
    X(CDC_ERR_DB_QUERY,    true,  "database query failed")                    \
    X(CDC_ERR_SCHEMA,      false, "table schema unusable")                    \
    X(CDC_ERR_ENCODE,      false, "row cannot be encoded")                    \
    X(CDC_ERR_KAFKA,       true,  "Kafka error")                              \
    X(CDC_ERR_QUEUE_FULL,  true,  "producer queue full (backpressure)")       \
    X(CDC_ERR_CLOSED,      false, "output closed by its reader")              \
    X(CDC_ERR_INTERNAL,    false, "internal error")

typedef enum {
#define CDC_ERR_ENUM(code, retriable, text) code,
    CDC_ERRORS(CDC_ERR_ENUM)
#undef CDC_ERR_ENUM
    CDC_ERR__COUNT
} cdc_err_t;

/* Static text of a code; never NULL. */
const char *cdc_err_str(cdc_err_t err);
/* Symbolic name of a code ("CDC_ERR_CONFIG"); never NULL. */
const char *cdc_err_name(cdc_err_t err);
/* True when trying the same operation again later may succeed. */
bool cdc_err_retriable(cdc_err_t err);

/*
 * Format into errstr (size errstr_size, may be NULL/0) and return err, so a
 * failure is reported and returned in one statement:
 *   return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "key %s: ...", key);
 */
cdc_err_t cdc_err_set(char *errstr, size_t errstr_size, cdc_err_t err,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
