/*
 * metrics.c - metric registry, sliding-window rates and Prometheus text
 * rendering (see metrics.h for the names and their Kafka Connect mapping).
 */
#include "http/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double cdc_metrics_poll_bounds[CDC_METRICS_POLL_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,   0.25,   0.5,   1,    2.5,   5,
};

/* Enough samples to cover the window at the sampling interval, plus one. */
#define RING_CAP (CDC_METRICS_RATE_WINDOW_MS / CDC_METRICS_SAMPLE_MS + 1)

typedef struct {
    int64_t t_ms;
    uint64_t polled;
    uint64_t written;
} sample_t;

typedef struct {
    cdc_task_metrics_t pub;
    char *table;
    char id[24];        /* task number as text, for labels */
    sample_t ring[RING_CAP];
    size_t head;        /* oldest sample */
    size_t n;           /* samples held */
} task_t;

struct cdc_metrics {
    char *connector;
    char *endpoint;
    cdc_daemon_metrics_t daemon;
    size_t ntasks;
    task_t *tasks;
};

cdc_metrics_t *cdc_metrics_new(const char *connector,
                               const char *const *tables, size_t ntasks)
{
    cdc_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->connector = strdup(connector ? connector : "");
    m->tasks = ntasks ? calloc(ntasks, sizeof(*m->tasks)) : NULL;
    if (!m->connector || (ntasks && !m->tasks))
        goto fail;
    m->ntasks = ntasks;
    for (size_t i = 0; i < ntasks; i++) {
        m->tasks[i].table = strdup(tables && tables[i] ? tables[i] : "");
        if (!m->tasks[i].table)
            goto fail;
        snprintf(m->tasks[i].id, sizeof(m->tasks[i].id), "%zu", i);
    }
    return m;
fail:
    cdc_metrics_destroy(m);
    return NULL;
}

void cdc_metrics_destroy(cdc_metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->tasks && i < m->ntasks; i++)
        free(m->tasks[i].table);
    free(m->tasks);
    free(m->connector);
    free(m->endpoint);
    free(m);
}

size_t cdc_metrics_task_count(const cdc_metrics_t *m)
{
    return m->ntasks;
}

cdc_task_metrics_t *cdc_metrics_task(cdc_metrics_t *m, size_t i)
{
    return i < m->ntasks ? &m->tasks[i].pub : NULL;
}

cdc_daemon_metrics_t *cdc_metrics_daemon(cdc_metrics_t *m)
{
    return &m->daemon;
}

cdc_err_t cdc_metrics_set_active_endpoint(cdc_metrics_t *m,
                                          const char *endpoint)
{
    char *copy = NULL;
    if (endpoint && *endpoint && !(copy = strdup(endpoint)))
        return CDC_ERR_NOMEM;
    free(m->endpoint);
    m->endpoint = copy;
    return CDC_OK;
}

void cdc_metrics_observe_poll(cdc_task_metrics_t *t, double seconds)
{
    size_t b = 0;
    while (b < CDC_METRICS_POLL_BUCKETS && !(seconds <= cdc_metrics_poll_bounds[b]))
        b++;
    t->poll_buckets[b]++;
    t->poll_seconds_sum += seconds;
    t->poll_count++;
}

static double rate(uint64_t now_v, uint64_t then_v, int64_t dt_ms)
{
    if (dt_ms <= 0 || now_v < then_v)
        return 0;
    return (double)(now_v - then_v) * 1000.0 / (double)dt_ms;
}

static void tick_task(task_t *t, int64_t now_ms)
{
    if (t->n && t->ring[(t->head + t->n - 1) % RING_CAP].t_ms > now_ms)
        t->n = 0; /* clock went backwards: start over */
    while (t->n && t->ring[t->head].t_ms < now_ms - CDC_METRICS_RATE_WINDOW_MS) {
        t->head = (t->head + 1) % RING_CAP;
        t->n--;
    }
    if (t->n) {
        const sample_t *base = &t->ring[t->head];
        t->pub.poll_rate = rate(t->pub.rows_polled, base->polled,
                                now_ms - base->t_ms);
        t->pub.write_rate = rate(t->pub.records_written, base->written,
                                 now_ms - base->t_ms);
    } else {
        t->pub.poll_rate = 0;
        t->pub.write_rate = 0;
    }
    if (t->n && now_ms - t->ring[(t->head + t->n - 1) % RING_CAP].t_ms <
                    CDC_METRICS_SAMPLE_MS)
        return;
    if (t->n == RING_CAP) { /* only when ticks outpace the window math */
        t->head = (t->head + 1) % RING_CAP;
        t->n--;
    }
    sample_t *s = &t->ring[(t->head + t->n) % RING_CAP];
    s->t_ms = now_ms;
    s->polled = t->pub.rows_polled;
    s->written = t->pub.records_written;
    t->n++;
}

void cdc_metrics_tick(cdc_metrics_t *m, int64_t now_ms)
{
    for (size_t i = 0; i < m->ntasks; i++)
        tick_task(&m->tasks[i], now_ms);
}

/* ---- rendering ---- */

/* Shortest text that reads back as the same double (Prometheus accepts Go
 * float syntax: NaN, +Inf, -Inf). */
static void fmt_double(char *dst, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(dst, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(dst, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Whole numbers as integers: %g would pick "3e+01" for 30. */
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(dst, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(dst, n, "%.*g", prec, v);
        if (strtod(dst, NULL) == v)
            return;
    }
}

/* Label values escape backslash, double quote and newline. */
static cdc_err_t put_label_value(cdc_buf_t *b, const char *s)
{
    cdc_err_t err = CDC_OK;
    for (; *s && !err; s++) {
        switch (*s) {
        case '\\': err = cdc_buf_puts(b, "\\\\"); break;
        case '"':  err = cdc_buf_puts(b, "\\\""); break;
        case '\n': err = cdc_buf_puts(b, "\\n"); break;
        default:   err = cdc_buf_putc(b, *s); break;
        }
    }
    return err;
}

static cdc_err_t put_family(cdc_buf_t *b, const char *name, const char *type,
                            const char *help)
{
    return cdc_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                          name, type);
}

/* name{connector="..",task="..",table=".."[,extra="extra_v"]} */
static cdc_err_t put_task_series(cdc_buf_t *b, const cdc_metrics_t *m,
                                 const task_t *t, const char *name,
                                 const char *extra, const char *extra_v)
{
    cdc_err_t err = cdc_buf_printf(b, "%s{connector=\"", name);
    if (!err)
        err = put_label_value(b, m->connector);
    if (!err)
        err = cdc_buf_printf(b, "\",task=\"%s\",table=\"", t->id);
    if (!err)
        err = put_label_value(b, t->table);
    if (!err && extra) {
        err = cdc_buf_printf(b, "\",%s=\"", extra);
        if (!err)
            err = put_label_value(b, extra_v);
    }
    if (!err)
        err = cdc_buf_puts(b, "\"} ");
    return err;
}

typedef enum { V_U64, V_DOUBLE, V_MS_AS_SECONDS } vkind_t;

/* A per-task family whose value is one field of cdc_task_metrics_t. */
typedef struct {
    const char *name;
    const char *type;
    const char *help;
    size_t off;
    vkind_t kind;
} task_family_t;

#define TF(name, type, help, field, kind) \
    { name, type, help, offsetof(cdc_task_metrics_t, field), kind }

static const task_family_t task_families[] = {
    TF("kafka_connect_source_task_metrics_source_record_poll_total", "counter",
       "Rows read from the table (Kafka Connect source-record-poll-total).",
       rows_polled, V_U64),
    TF("kafka_connect_source_task_metrics_source_record_poll_rate", "gauge",
       "Rows read per second over the last minute (Kafka Connect "
       "source-record-poll-rate).",
       poll_rate, V_DOUBLE),
    TF("kafka_connect_source_task_metrics_source_record_write_total", "counter",
       "Records delivered to the sink (Kafka Connect "
       "source-record-write-total).",
       records_written, V_U64),
    TF("kafka_connect_source_task_metrics_source_record_write_rate", "gauge",
       "Records delivered per second over the last minute (Kafka Connect "
       "source-record-write-rate).",
       write_rate, V_DOUBLE),
    TF("kafka_connect_task_error_metrics_total_records_skipped", "counter",
       "Rows skipped because they could not be encoded (Kafka Connect "
       "total-records-skipped).",
       encode_errors_skipped, V_U64),
    TF("dsqlcdc_task_delivery_errors_total", "counter",
       "Records the sink failed to deliver.", delivery_errors, V_U64),
    TF("dsqlcdc_task_rescan_duplicates_suppressed_total", "counter",
       "Rows the late-commit re-scan found already emitted.",
       rescan_duplicates_suppressed, V_U64),
    TF("dsqlcdc_task_late_rows_total", "counter",
       "Rows first found by the late-commit re-scan.", late_rows, V_U64),
    TF("dsqlcdc_task_watermark_age_seconds", "gauge",
       "Age of the safe watermark: everything older is complete.",
       watermark_age_seconds, V_DOUBLE),
    TF("dsqlcdc_task_change_to_delivery_lag_seconds", "gauge",
       "Time from a change's own timestamp (the cursor column, or the CDC "
       "commit time) to its acknowledgement by Kafka, for a recently "
       "delivered change.",
       change_to_delivery_lag_ms, V_MS_AS_SECONDS),
    TF("dsqlcdc_task_window_versions", "gauge",
       "Row versions held by the re-scan window's dedup set.",
       window_versions, V_U64),
};

static cdc_err_t put_value_line(cdc_buf_t *b, const task_family_t *f,
                                const cdc_task_metrics_t *tm)
{
    const char *p = (const char *)tm + f->off;
    char num[40];
    switch (f->kind) {
    case V_U64: {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return cdc_buf_printf(b, "%llu\n", (unsigned long long)v);
    }
    case V_DOUBLE: {
        double v;
        memcpy(&v, p, sizeof(v));
        fmt_double(num, sizeof(num), v);
        return cdc_buf_printf(b, "%s\n", num);
    }
    case V_MS_AS_SECONDS: {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        fmt_double(num, sizeof(num), (double)v / 1000.0);
        return cdc_buf_printf(b, "%s\n", num);
    }
    }
    return CDC_ERR_INTERNAL;
}

static cdc_err_t render_status(const cdc_metrics_t *m, cdc_buf_t *b)
{
    static const char *name = "kafka_connect_connector_status";
    bool any = false;
    for (size_t i = 0; i < m->ntasks; i++)
        any = any || m->tasks[i].pub.status;
    if (!any)
        return CDC_OK;
    cdc_err_t err = put_family(b, name, "gauge",
                               "Task status: 1 for the current one (Kafka "
                               "Connect connector-task-metrics status).");
    for (size_t i = 0; i < m->ntasks && !err; i++) {
        const task_t *t = &m->tasks[i];
        if (!t->pub.status)
            continue;
        err = put_task_series(b, m, t, name, "status", t->pub.status);
        if (!err)
            err = cdc_buf_puts(b, "1\n");
    }
    return err;
}

static cdc_err_t render_histogram(const cdc_metrics_t *m, cdc_buf_t *b)
{
    static const char *base = "dsqlcdc_task_poll_duration_seconds";
    char name[64], le[40];
    cdc_err_t err = put_family(b, base, "histogram",
                               "Time one poll of the table took.");
    for (size_t i = 0; i < m->ntasks && !err; i++) {
        const task_t *t = &m->tasks[i];
        uint64_t cum = 0;
        snprintf(name, sizeof(name), "%s_bucket", base);
        for (size_t k = 0; k <= CDC_METRICS_POLL_BUCKETS && !err; k++) {
            cum += t->pub.poll_buckets[k];
            if (k < CDC_METRICS_POLL_BUCKETS)
                fmt_double(le, sizeof(le), cdc_metrics_poll_bounds[k]);
            else
                snprintf(le, sizeof(le), "+Inf");
            err = put_task_series(b, m, t, name, "le", le);
            if (!err)
                err = cdc_buf_printf(b, "%llu\n", (unsigned long long)cum);
        }
        snprintf(name, sizeof(name), "%s_sum", base);
        if (!err)
            err = put_task_series(b, m, t, name, NULL, NULL);
        if (!err) {
            fmt_double(le, sizeof(le), t->pub.poll_seconds_sum);
            err = cdc_buf_printf(b, "%s\n", le);
        }
        snprintf(name, sizeof(name), "%s_count", base);
        if (!err)
            err = put_task_series(b, m, t, name, NULL, NULL);
        if (!err)
            err = cdc_buf_printf(b, "%llu\n",
                                 (unsigned long long)t->pub.poll_count);
    }
    return err;
}

static cdc_err_t put_daemon_u64(cdc_buf_t *b, const cdc_metrics_t *m,
                                const char *name, const char *type,
                                const char *help, uint64_t v)
{
    cdc_err_t err = put_family(b, name, type, help);
    if (!err)
        err = cdc_buf_printf(b, "%s{connector=\"", name);
    if (!err)
        err = put_label_value(b, m->connector);
    if (!err)
        err = cdc_buf_printf(b, "\"} %llu\n", (unsigned long long)v);
    return err;
}

static cdc_err_t render_daemon(const cdc_metrics_t *m, cdc_buf_t *b)
{
    cdc_err_t err = CDC_OK;
    if (m->endpoint) {
        static const char *name = "dsqlcdc_active_endpoint";
        err = put_family(b, name, "gauge",
                         "The database endpoint in use (value always 1).");
        if (!err)
            err = cdc_buf_printf(b, "%s{connector=\"", name);
        if (!err)
            err = put_label_value(b, m->connector);
        if (!err)
            err = cdc_buf_puts(b, "\",endpoint=\"");
        if (!err)
            err = put_label_value(b, m->endpoint);
        if (!err)
            err = cdc_buf_puts(b, "\"} 1\n");
    }
    if (!err)
        err = put_daemon_u64(b, m, "dsqlcdc_failovers_total", "counter",
                             "Switches between primary and secondary "
                             "endpoint.", m->daemon.failovers_total);
    if (!err)
        err = put_daemon_u64(b, m, "dsqlcdc_token_refreshes_total", "counter",
                             "DSQL authentication tokens generated.",
                             m->daemon.token_refreshes_total);
    if (!err)
        err = put_daemon_u64(b, m, "dsqlcdc_connection_recycles_total",
                             "counter",
                             "Database connections closed for reaching "
                             "their maximum age.",
                             m->daemon.connection_recycles_total);
    if (!err)
        err = put_daemon_u64(b, m, "dsqlcdc_connections_open", "gauge",
                             "Database connections open now.",
                             m->daemon.connections_open);
    return err;
}

cdc_err_t cdc_metrics_render(const cdc_metrics_t *m, cdc_buf_t *out)
{
    size_t mark = out->len;
    cdc_err_t err = CDC_OK;
    size_t nf = sizeof(task_families) / sizeof(task_families[0]);
    for (size_t f = 0; f < nf && !err; f++) {
        const task_family_t *tf = &task_families[f];
        err = put_family(out, tf->name, tf->type, tf->help);
        for (size_t i = 0; i < m->ntasks && !err; i++) {
            err = put_task_series(out, m, &m->tasks[i], tf->name, NULL, NULL);
            if (!err)
                err = put_value_line(out, tf, &m->tasks[i].pub);
        }
    }
    if (!err)
        err = render_status(m, out);
    if (!err)
        err = render_histogram(m, out);
    if (!err)
        err = render_daemon(m, out);
    if (err) { /* leave out as it was */
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return err;
}
