/*
 * log.h - the one logging module: levels, text or JSON lines, secret redaction.
 *
 * Process-wide (like stderr itself): configured once in main, used everywhere.
 * Every line passes through redaction here, so callers never need to scrub:
 * registered secrets (config values flagged secret, passwords, tokens) and
 * anything shaped like a SigV4 signature, security token or conninfo password
 * are replaced by "[REDACTED]" before the line is written.
 */
#ifndef CDC_LOG_H
#define CDC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/err.h"

typedef enum {
    CDC_LOG_ERROR = 0,
    CDC_LOG_WARN,
    CDC_LOG_INFO,
    CDC_LOG_DEBUG,
    CDC_LOG_TRACE,
} cdc_log_level_t;

typedef enum { CDC_LOG_TEXT = 0, CDC_LOG_JSON } cdc_log_format_t;

/* Parse "error|warn|info|debug|trace" / "text|json"; CDC_ERR_CONFIG if unknown. */
cdc_err_t cdc_log_level_parse(const char *s, cdc_log_level_t *out);
cdc_err_t cdc_log_format_parse(const char *s, cdc_log_format_t *out);

void cdc_log_set_level(cdc_log_level_t level);
cdc_log_level_t cdc_log_get_level(void);
void cdc_log_set_format(cdc_log_format_t format);
/* Log to this stream (default stderr). The log module does not own it. */
void cdc_log_set_stream(FILE *f);
/* Log to a file (appended); reopened by cdc_log_reopen() (SIGHUP). NULL = stderr. */
cdc_err_t cdc_log_set_file(const char *path, char *errstr, size_t errstr_size);
cdc_err_t cdc_log_reopen(char *errstr, size_t errstr_size);

/* Register a string that must never appear in a log line (copied; strings
 * shorter than 4 bytes are ignored). The most recent 64 are kept. */
void cdc_log_add_secret(const char *secret);
void cdc_log_clear_secrets(void);

/* Redact src into dst (size dst_size, always NUL-terminated). */
void cdc_log_redact(const char *src, char *dst, size_t dst_size);

bool cdc_log_enabled(cdc_log_level_t level);
/* module: short component name ("config", "poll", "kafka"); may be NULL. */
void cdc_log(cdc_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cdc_logv(cdc_log_level_t level, const char *module, const char *fmt,
              va_list ap);

#define cdc_log_error(mod, ...) cdc_log(CDC_LOG_ERROR, mod, __VA_ARGS__)
#define cdc_log_warn(mod, ...)  cdc_log(CDC_LOG_WARN, mod, __VA_ARGS__)
#define cdc_log_info(mod, ...)  cdc_log(CDC_LOG_INFO, mod, __VA_ARGS__)
#define cdc_log_debug(mod, ...)                                               \
    do {                                                                      \
        if (cdc_log_enabled(CDC_LOG_DEBUG))                                   \
            cdc_log(CDC_LOG_DEBUG, mod, __VA_ARGS__);                         \
    } while (0)

#endif
