/*
 * sink.c - sink dispatch, and the stdout and file sinks (see sink.h).
 *
 * stdout and file write one JSON object per line,
 * {"topic":"...","key":<key JSON>,"value":<value JSON or null>}, and report
 * records delivered on the next poll: stdout after fflush, file after fsync
 * (so one fsync covers a whole batch).
 */
#include "sink/sink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink/kafka.h"

enum sink_kind { SINK_KAFKA, SINK_STDOUT, SINK_FILE };

struct cdc_sink {
    enum sink_kind kind;
    cdc_kafka_t *kafka;
    FILE *out;
    char *path;
    bool closed; /* standard output's reader went away (EPIPE) */
    cdc_sink_delivery_fn fn;
    void *ctx;
    void **pending; /* written, not yet reported */
    size_t npending, cap;
};

cdc_sink_t *cdc_sink_new(const cdc_config_t *c, cdc_sink_delivery_fn fn,
                         void *ctx, char *errstr, size_t n)
{
    cdc_sink_t *s = calloc(1, sizeof *s);
    if (!s) {
        cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->fn = fn;
    s->ctx = ctx;
    const char *type = cdc_config_str(c, CDC_KEY_SINK_TYPE);
    if (strcmp(type, "kafka") == 0) {
        s->kind = SINK_KAFKA;
        s->kafka = cdc_kafka_new(c, fn, ctx, errstr, n);
        if (!s->kafka)
            goto fail;
    } else if (strcmp(type, "stdout") == 0) {
        s->kind = SINK_STDOUT;
        s->out = stdout;
        /* 64 KB per write(2), not a pipe's 4 KB: records are flushed on
         * every poll anyway. */
        setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
    } else {
        s->kind = SINK_FILE;
        const char *path = cdc_config_str(c, CDC_KEY_SINK_FILE_PATH);
        s->out = fopen(path, "a");
        if (!s->out) {
            cdc_err_set(errstr, n, CDC_ERR_IO, "cannot open sink.file.path "
                        "%s: %s", path, strerror(errno));
            goto fail;
        }
        s->path = strdup(path);
    }
    return s;
fail:
    free(s);
    return NULL;
}

void cdc_sink_destroy(cdc_sink_t *s)
{
    if (!s)
        return;
    cdc_kafka_destroy(s->kafka);
    if (s->kind == SINK_FILE && s->out)
        fclose(s->out);
    free(s->path);
    free(s->pending);
    free(s);
}

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fputc('\\', f);
        if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/*
 * A failed write or flush (errno set by it). The stream's error flag is
 * cleared, so a passing condition (a full disk) heals on the retry. A
 * reader gone from standard output never comes back: the task fails, as a
 * Kafka Connect task whose sink is gone.
 */
static cdc_err_t write_error(cdc_sink_t *s, const char *what, char *errstr,
                             size_t n)
{
    int e = errno;
    clearerr(s->out);
    if (e == EPIPE && !s->path)
        s->closed = true;
    if (s->closed)
        return cdc_err_set(errstr, n, CDC_ERR_CLOSED, "standard output was "
                           "closed (EPIPE): nothing reads the records any "
                           "more; restart with a reader attached");
    return cdc_err_set(errstr, n, CDC_ERR_IO, "%s %s failed: %s", what,
                       s->path ? s->path : "stdout", strerror(e));
}

cdc_err_t cdc_sink_produce(cdc_sink_t *s, const char *topic, const char *key,
                           size_t key_len, const char *value, size_t value_len,
                           void *record, char *errstr, size_t n)
{
    if (s->kind == SINK_KAFKA)
        return cdc_kafka_produce(s->kafka, topic, key, key_len, value,
                                 value_len, record, errstr, n);
    if (s->closed)
        return write_error(s, "write to", errstr, n);
    if (s->npending == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        void **p = realloc(s->pending, cap * sizeof *p);
        if (!p)
            return CDC_ERR_QUEUE_FULL; /* poll delivers, freeing room */
        s->pending = p;
        s->cap = cap;
    }
    fputs("{\"topic\":", s->out);
    put_json_string(s->out, topic);
    fputs(",\"key\":", s->out);
    if (key)
        fwrite(key, 1, key_len, s->out);
    else
        fputs("null", s->out);
    fputs(",\"value\":", s->out);
    if (value)
        fwrite(value, 1, value_len, s->out);
    else
        fputs("null", s->out);
    fputs("}\n", s->out);
    if (ferror(s->out))
        return write_error(s, "write to", errstr, n);
    s->pending[s->npending++] = record;
    return CDC_OK;
}

/* Make pending writes durable and report them. */
static cdc_err_t deliver_pending(cdc_sink_t *s, char *errstr, size_t n)
{
    if (!s->npending)
        return CDC_OK;
    cdc_err_t err = CDC_OK;
    if (fflush(s->out) != 0 ||
        (s->kind == SINK_FILE && fsync(fileno(s->out)) != 0))
        err = write_error(s, "flush of", errstr, n);
    for (size_t i = 0; i < s->npending; i++)
        s->fn(s->pending[i], err, err ? errstr : NULL, s->ctx);
    s->npending = 0;
    return err;
}

bool cdc_sink_in_flight(const cdc_sink_t *s)
{
    return s->kind == SINK_KAFKA ? cdc_kafka_in_flight(s->kafka)
                                 : s->npending > 0;
}

void cdc_sink_poll(cdc_sink_t *s, int timeout_ms)
{
    if (s->kind == SINK_KAFKA) {
        cdc_kafka_poll(s->kafka, timeout_ms);
        return;
    }
    char errstr[256];
    deliver_pending(s, errstr, sizeof errstr);
}

cdc_err_t cdc_sink_flush(cdc_sink_t *s, int timeout_ms, char *errstr,
                         size_t n)
{
    if (s->kind == SINK_KAFKA)
        return cdc_kafka_flush(s->kafka, timeout_ms, errstr, n);
    return deliver_pending(s, errstr, n);
}
