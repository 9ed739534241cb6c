/*
 * log.c - levels, text/JSON lines and redaction (see log.h).
 *
 * Redaction happens on the fully formatted line, so no caller can leak a
 * secret by formatting it in: registered secret strings, and values after
 * markers that always introduce a secret (SigV4 signatures and security
 * tokens in DSQL tokens, password= in conninfo strings).
 */
#include "common/buf.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define LOG_MAX_SECRETS 64
#define LOG_LINE_MAX 4096
#define REDACTED "[REDACTED]"

static struct {
    cdc_log_level_t level;
    cdc_log_format_t format;
    FILE *stream;      /* NULL means stderr */
    FILE *owned;       /* opened by cdc_log_set_file */
    char *path;
    char *secrets[LOG_MAX_SECRETS];
    unsigned next_secret;
} logger = {.level = CDC_LOG_INFO};

static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

/* Markers after which the value up to a delimiter is always a secret. */
static const char *const secret_markers[] = {
    "X-Amz-Signature=", "X-Amz-Security-Token=", "password=",
    "Signature=",       "\"SecretAccessKey\":\"", "\"Token\":\"",
};

cdc_err_t cdc_log_level_parse(const char *s, cdc_log_level_t *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (cdc_log_level_t)i;
            return CDC_OK;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = CDC_LOG_WARN;
        return CDC_OK;
    }
    return CDC_ERR_CONFIG;
}

cdc_err_t cdc_log_format_parse(const char *s, cdc_log_format_t *out)
{
    if (strcasecmp(s, "text") == 0)
        *out = CDC_LOG_TEXT;
    else if (strcasecmp(s, "json") == 0)
        *out = CDC_LOG_JSON;
    else
        return CDC_ERR_CONFIG;
    return CDC_OK;
}

void cdc_log_set_level(cdc_log_level_t level) { logger.level = level; }
cdc_log_level_t cdc_log_get_level(void) { return logger.level; }
void cdc_log_set_format(cdc_log_format_t format) { logger.format = format; }

void cdc_log_set_stream(FILE *f)
{
    logger.stream = f;
}

static cdc_err_t open_log_file(char *errstr, size_t n)
{
    FILE *f = fopen(logger.path, "a");
    if (!f)
        return cdc_err_set(errstr, n, CDC_ERR_IO,
                           "cannot open log file %s: %s (check log.file)",
                           logger.path, strerror(errno));
    setvbuf(f, NULL, _IOLBF, 0);
    if (logger.owned)
        fclose(logger.owned);
    logger.owned = f;
    logger.stream = f;
    return CDC_OK;
}

cdc_err_t cdc_log_set_file(const char *path, char *errstr, size_t n)
{
    free(logger.path);
    logger.path = NULL;
    if (!path || !*path) {
        if (logger.owned)
            fclose(logger.owned);
        logger.owned = NULL;
        logger.stream = NULL;
        return CDC_OK;
    }
    logger.path = strdup(path);
    if (!logger.path)
        return CDC_ERR_NOMEM;
    return open_log_file(errstr, n);
}

cdc_err_t cdc_log_reopen(char *errstr, size_t n)
{
    if (!logger.path)
        return CDC_OK;
    return open_log_file(errstr, n);
}

void cdc_log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return;
    for (unsigned i = 0; i < LOG_MAX_SECRETS; i++)
        if (logger.secrets[i] && strcmp(logger.secrets[i], secret) == 0)
            return;
    unsigned slot = logger.next_secret++ % LOG_MAX_SECRETS;
    cdc_wipe_free(logger.secrets[slot]);
    logger.secrets[slot] = strdup(secret);
}

void cdc_log_clear_secrets(void)
{
    for (unsigned i = 0; i < LOG_MAX_SECRETS; i++) {
        cdc_wipe_free(logger.secrets[i]);
        logger.secrets[i] = NULL;
    }
    logger.next_secret = 0;
}

/* Length of the secret starting at p: up to a delimiter that cannot be part
 * of a token, signature or password value. */
static size_t secret_len(const char *p)
{
    size_t n = 0;
    while (p[n] && !strchr("&\" '\n\r\t,;", p[n]))
        n++;
    return n;
}

/* Earliest secret occurrence in s: sets *start and *len, returns 0 if none. */
static int find_secret(const char *s, const char **start, size_t *len)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < sizeof secret_markers / sizeof *secret_markers;
         i++) {
        const char *m = strstr(s, secret_markers[i]);
        if (m) {
            const char *v = m + strlen(secret_markers[i]);
            size_t l = secret_len(v);
            if (l && (!best || v < best)) {
                best = v;
                best_len = l;
            }
        }
    }
    for (unsigned i = 0; i < LOG_MAX_SECRETS; i++) {
        if (!logger.secrets[i])
            continue;
        const char *m = strstr(s, logger.secrets[i]);
        if (m && (!best || m < best ||
                  (m == best && strlen(logger.secrets[i]) > best_len))) {
            best = m;
            best_len = strlen(logger.secrets[i]);
        }
    }
    if (!best)
        return 0;
    *start = best;
    *len = best_len;
    return 1;
}

void cdc_log_redact(const char *src, char *dst, size_t dst_size)
{
    if (!dst_size)
        return;
    size_t o = 0;
    const char *p = src;
    while (*p && o + 1 < dst_size) {
        const char *s;
        size_t l;
        if (!find_secret(p, &s, &l)) {
            s = p + strlen(p);
            l = 0;
        }
        size_t plain = (size_t)(s - p);
        if (plain > dst_size - 1 - o)
            plain = dst_size - 1 - o;
        memcpy(dst + o, p, plain);
        o += plain;
        if (!l)
            break;
        size_t r = strlen(REDACTED);
        if (r > dst_size - 1 - o)
            r = dst_size - 1 - o;
        memcpy(dst + o, REDACTED, r);
        o += r;
        p = s + l;
    }
    dst[o] = '\0';
}

bool cdc_log_enabled(cdc_log_level_t level)
{
    return level <= logger.level;
}

static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void cdc_logv(cdc_log_level_t level, const char *module, const char *fmt,
              va_list ap)
{
    if (!cdc_log_enabled(level))
        return;
    char raw[LOG_LINE_MAX], line[LOG_LINE_MAX];
    vsnprintf(raw, sizeof raw, fmt, ap);
    cdc_log_redact(raw, line, sizeof line);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", (long)(tv.tv_usec / 1000));

    FILE *f = logger.stream ? logger.stream : stderr;
    if (logger.format == CDC_LOG_JSON) {
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",", ts, level_names[level]);
        if (module) {
            fputs("\"module\":\"", f);
            json_escape(f, module);
            fputs("\",", f);
        }
        fputs("\"msg\":\"", f);
        json_escape(f, line);
        fputs("\"}\n", f);
    } else {
        fprintf(f, "%s %-5s %s%s%s\n", ts, level_names[level],
                module ? module : "", module ? ": " : "", line);
    }
    fflush(f);
}

void cdc_log(cdc_log_level_t level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cdc_logv(level, module, fmt, ap);
    va_end(ap);
}
