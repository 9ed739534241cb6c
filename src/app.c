/*
 * app.c - the event loop (see app.h).
 *
 * One thread owns everything. Each turn: serve sink delivery reports, give
 * every source whose time has come one step (a page, a batch of stream
 * records: so one busy table cannot starve the others), store the positions
 * that are now fully delivered, flush the offset file when due, then sleep
 * until the nearest deadline or a signal. Signal handlers only set flags
 * and write to a self-pipe.
 */
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/credentials.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "db/conn.h"
#include "encode/debezium.h"
#include "encode/flat.h"
#include "encode/router.h"
#include "http/metrics.h"
#include "http/rest.h"
#include "offsets/store.h"
#include "sink/sink.h"
#include "source/poll_source.h"
#include "source/source.h"
#include "source/stream.h"

typedef enum { TASK_RUNNING, TASK_FAILED } task_state_t;

#define LAG_SAMPLES 64

typedef struct {
    cdc_source_t *source;
    char *spec;       /* the dsql.tables item (poll); NULL for the stream */
    char trace[1024]; /* why it FAILED */
    task_state_t state;
    int64_t next_ms;
    uint64_t records;
    /* catch-up progress: logged every PROGRESS_MS while steps come back busy */
    int64_t progress_ms;
    uint64_t progress_records;
    /* Change-to-delivery lag: some produced changes' own times, each with
     * the count of messages produced up to it; when that many have been
     * acknowledged, the change is taken as delivered. A sample per slot
     * free keeps it cheap; the gauge shows the latest one delivered. */
    struct { uint64_t upto; int64_t commit_us; } lag[LAG_SAMPLES];
    size_t lag_head, lag_len;
    uint64_t produced, acked;
    int64_t poll_started; /* the poll in progress began (its first step) */
} task_t;

#define PROGRESS_MS 10000

/* Routed topic of one (schema, table), computed once. */
typedef struct {
    char *schema, *table, *topic;
} topic_t;

typedef struct app app_t;

struct cdc_emitter {
    app_t *app;
    task_t *task;
};

struct app {
    const cdc_config_t *cfg;
    cdc_sink_t *sink;
    cdc_db_t *db;
    cdc_cred_chain_t *chain;
    cdc_offset_store_t *offsets;
    cdc_router_t *router;
    cdc_debezium_t *dbz;     /* keys, and values in record.format=debezium */
    bool envelope;           /* record.format=debezium */
    task_t *tasks;
    size_t ntasks;
    struct pollfd *pfd;      /* wait_until's: wake pipe, REST, one per task */
    topic_t *topics;
    size_t ntopics;
    cdc_buf_t key, value;
    bool tolerate_all;
    bool paused;             /* PUT /connectors/<name>/pause */
    cdc_metrics_t *metrics;
    cdc_rest_t *rest;
    cdc_rest_provider_t provider;
    char worker_id[300];
};

static volatile sig_atomic_t got_stop, got_hup;
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGHUP)
        got_hup = 1;
    else
        got_stop = 1;
    if (wake_pipe[1] >= 0) {
        ssize_t w = write(wake_pipe[1], "x", 1);
        (void)w;
    }
    errno = saved;
}

static void set_task_state(task_t *t, task_state_t s, const char *why)
{
    if (t->state == s)
        return;
    t->state = s;
    if (s == TASK_FAILED) {
        snprintf(t->trace, sizeof t->trace, "%s", why);
        cdc_log_error("app", "task %s FAILED: %s", t->source->name, why);
    } else {
        t->trace[0] = '\0';
        cdc_log_info("app", "task %s RUNNING", t->source->name);
    }
}

/* Samples whose messages are all acknowledged set the lag gauge. */
static void lag_resolve(task_t *t, cdc_task_metrics_t *m)
{
    while (t->lag_len && t->lag[t->lag_head].upto <= t->acked) {
        int64_t lag_us = cdc_wall_us() - t->lag[t->lag_head].commit_us;
        m->change_to_delivery_lag_ms = lag_us > 0 ? (uint64_t)lag_us / 1000 : 0;
        t->lag_head = (t->lag_head + 1) % LAG_SAMPLES;
        t->lag_len--;
    }
}

/* Sink delivery report: count it, route it to the record's source. */
static void on_delivery(void *record, cdc_err_t err, const char *errstr,
                        void *ctx)
{
    app_t *a = ctx;
    cdc_delivery_t *d = record;
    cdc_task_metrics_t *m = cdc_metrics_task(a->metrics, d->source->index);
    if (err != CDC_OK) {
        m->delivery_errors++;
        cdc_log_error("app", "delivery failed: %s",
                      errstr ? errstr : cdc_err_str(err));
    } else {
        m->records_written++;
    }
    task_t *t = &a->tasks[d->source->index];
    t->acked++;
    lag_resolve(t, m);
    d->source->ops->done(d->source, d, err);
}

/* The routed topic of a change's table. NULL on allocation failure. */
static const char *topic_for(app_t *a, const cdc_change_t *ch)
{
    for (size_t i = 0; i < a->ntopics; i++)
        if (strcmp(a->topics[i].table, ch->table) == 0 &&
            strcmp(a->topics[i].schema, ch->schema) == 0)
            return a->topics[i].topic;
    topic_t *t = realloc(a->topics, (a->ntopics + 1) * sizeof *t);
    if (!t)
        return NULL;
    a->topics = t;
    cdc_buf_t name, routed;
    cdc_buf_init(&name);
    cdc_buf_init(&routed);
    cdc_buf_printf(&name, "%s.%s.%s",
                   cdc_config_str(a->cfg, CDC_KEY_TOPIC_PREFIX), ch->schema,
                   ch->table);
    cdc_router_apply(a->router, cdc_buf_str(&name), &routed);
    t = &a->topics[a->ntopics];
    t->schema = strdup(ch->schema);
    t->table = strdup(ch->table);
    t->topic = strdup(cdc_buf_str(&routed));
    cdc_buf_free(&name);
    cdc_buf_free(&routed);
    if (!t->schema || !t->table || !t->topic) {
        free(t->schema);
        free(t->table);
        free(t->topic);
        return NULL;
    }
    a->ntopics++;
    cdc_log_info("app", "%s.%s -> topic %s", t->schema, t->table, t->topic);
    return t->topic;
}

/* Hand one message to the sink, waiting out backpressure. */
static cdc_err_t produce(app_t *a, cdc_delivery_t *h, const char *topic,
                         const char *key, size_t klen, const char *val,
                         size_t vlen, char *errstr, size_t n)
{
    cdc_source_t *s = h->source;
    task_t *t = &a->tasks[s->index];
    s->ops->sent(s, h);
    t->produced++; /* before: a sink may report delivery at once */
    for (;;) {
        cdc_err_t err = cdc_sink_produce(a->sink, topic, key, klen, val, vlen,
                                         h, errstr, n);
        if (err != CDC_ERR_QUEUE_FULL) {
            if (err != CDC_OK) {
                t->produced--;
                s->ops->done(s, h, CDC_OK); /* never sent: nothing to wait for */
            }
            return err;
        }
        cdc_sink_poll(a->sink, 100);
    }
}

cdc_err_t cdc_emit(cdc_emitter_t *e, const cdc_change_t *ch,
                   cdc_delivery_t *h, char *errstr, size_t n)
{
    app_t *a = e->app;
    cdc_buf_reset(&a->key);
    cdc_buf_reset(&a->value);
    cdc_err_t err = cdc_debezium_encode_key(a->dbz, ch, &a->key, errstr, n);
    if (err == CDC_OK)
        err = a->envelope
                  ? cdc_debezium_encode_value(a->dbz, ch, &a->value, errstr, n)
                  : cdc_flat_encode_value(ch, &a->value, errstr, n);
    cdc_task_metrics_t *m = cdc_metrics_task(a->metrics, e->task->source->index);
    m->rows_polled++;
    if (err == CDC_ERR_ENCODE && a->tolerate_all) {
        m->encode_errors_skipped++;
        cdc_log_warn("app", "skipped a row (errors.tolerance=all): %s", errstr);
        return CDC_OK;
    }
    if (err != CDC_OK)
        return err;
    const char *topic = topic_for(a, ch);
    if (!topic)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
    err = produce(a, h, topic, a->key.data, a->key.len, a->value.data,
                  a->value.len, errstr, n);
    if (err == CDC_OK && ch->op == CDC_OP_DELETE)
        err = produce(a, h, topic, a->key.data, a->key.len, NULL, 0, errstr, n);
    task_t *t = e->task;
    if (err == CDC_OK) {
        t->records++;
        if (ch->commit_us && t->lag_len < LAG_SAMPLES) {
            size_t i = (t->lag_head + t->lag_len++) % LAG_SAMPLES;
            t->lag[i].upto = t->produced;
            t->lag[i].commit_us = ch->commit_us;
            lag_resolve(t, m);
        }
    }
    return err;
}

/* While a source catches up on a backlog, say how it goes every
 * PROGRESS_MS: records, rate and, when the source can estimate its
 * backlog, the time left. */
static void log_progress(task_t *t, int64_t now, bool busy)
{
    if (!busy) {
        t->progress_ms = 0;
        return;
    }
    if (!t->progress_ms) {
        t->progress_ms = now;
        t->progress_records = t->records;
        return;
    }
    if (now - t->progress_ms < PROGRESS_MS)
        return;
    double secs = (double)(now - t->progress_ms) / 1000.0;
    double rate = (double)(t->records - t->progress_records) / secs;
    const cdc_source_ops_t *ops = t->source->ops;
    int64_t left = ops->backlog_estimate
                       ? ops->backlog_estimate(t->source, t->records) : -1;
    char eta[96] = "";
    if (left > 0 && rate > 0)
        snprintf(eta, sizeof eta, ", about %.0f s left (~%lld rows)",
                 (double)left / rate, (long long)left);
    cdc_log_info("app", "%s: catching up: %llu records so far, %.0f rows/s%s",
                 t->source->name, (unsigned long long)t->records, rate, eta);
    t->progress_ms = now;
    t->progress_records = t->records;
}

/* The socket a task waits on (a query's answer), or -1. */
static int task_fd(const task_t *t)
{
    const cdc_source_ops_t *ops = t->source->ops;
    return t->state == TASK_RUNNING && ops->wait_fd ? ops->wait_fd(t->source)
                                                    : -1;
}

/* One step of a task's source; a task that cannot go on is marked FAILED. */
static void step_task(app_t *a, task_t *t, int64_t now)
{
    char errstr[1024];
    int64_t interval = cdc_config_int(a->cfg, CDC_KEY_POLL_INTERVAL_MS);
    cdc_emitter_t e = {a, t};
    if (!t->poll_started)
        t->poll_started = cdc_mono_ms();
    cdc_err_t err = t->source->ops->step(t->source, &e, now, &t->next_ms,
                                         errstr, sizeof errstr);
    bool waiting = task_fd(t) >= 0;
    if (!waiting) {
        /* A poll is done: from its first step to now, answers waited for */
        cdc_metrics_observe_poll(cdc_metrics_task(a->metrics, t->source->index),
                                 (double)(cdc_mono_ms() - t->poll_started) / 1000.0);
        t->poll_started = 0;
    }
    if (err == CDC_OK) {
        log_progress(t, now, t->next_ms <= now || waiting);
        return;
    }
    if (err == CDC_ERR_SCHEMA && strstr(errstr, "polling")) {
        /* The table changed under the query; the poller re-reads its schema
         * on the next step and keeps its position. */
        cdc_log_warn("app", "%s; re-reading the table's schema", errstr);
        t->next_ms = now + interval;
        return;
    }
    if (!cdc_err_retriable(err)) {
        set_task_state(t, TASK_FAILED, errstr);
        return;
    }
    cdc_log_warn("app", "%s (will retry in %lld ms)", errstr,
                 (long long)interval);
    t->next_ms = now + interval;
}

static void put_offset(void *ctx, const char *key, json_t *pos)
{
    cdc_offsets_put(ctx, key, pos);
}

/* for_flush: the offset file is written next (see source.h). */
static void commit_delivered(app_t *a, bool for_flush)
{
    for (size_t i = 0; i < a->ntasks; i++) {
        cdc_source_t *s = a->tasks[i].source;
        s->ops->commit(s, for_flush, put_offset, a->offsets);
    }
}

/* (Re)create a task's source from the stored offsets. */
static cdc_err_t build_source(app_t *a, task_t *t, char *errstr, size_t n)
{
    cdc_source_t *src;
    if (!t->spec) {
        src = cdc_stream_source_new(a->cfg, a->offsets, a->chain, a->db,
                                    errstr, n);
    } else {
        /* Offsets are kept under schema.table, as dsql.tables may omit it. */
        char name[512];
        if (strchr(t->spec, '.'))
            snprintf(name, sizeof name, "%s", t->spec);
        else
            snprintf(name, sizeof name, "%s.%s",
                     cdc_config_str(a->cfg, CDC_KEY_SCHEMA), t->spec);
        json_t *pos = cdc_offsets_get(a->offsets, name);
        src = cdc_poll_source_new(a->cfg, t->spec, a->db, pos, errstr, n);
        if (src && pos) {
            char *text = json_dumps(pos, JSON_COMPACT);
            /* The emitted-versions set is long and opaque: leave it out. */
            char *seen = text ? strstr(text, ",\"seen\":\"") : NULL;
            char *end = seen ? strchr(seen + 9, '"') : NULL;
            if (end)
                memmove(seen, end + 1, strlen(end + 1) + 1);
            cdc_log_info("app", "%s: resuming after %s", name, text ? text : "?");
            free(text);
        }
    }
    if (!src)
        return CDC_ERR_CONFIG;
    if (t->source)
        t->source->ops->destroy(t->source);
    t->source = src;
    src->index = (size_t)(t - a->tasks);
    return CDC_OK;
}

typedef struct {
    app_t *app;
    cdc_err_t err;
    char *errstr;
    size_t n;
} setup_t;

static void add_poll_task(const char *table, void *ctx)
{
    setup_t *s = ctx;
    if (s->err != CDC_OK)
        return;
    task_t *t = &s->app->tasks[s->app->ntasks];
    if (!(t->spec = strdup(table))) {
        s->err = CDC_ERR_NOMEM;
        return;
    }
    s->app->ntasks++;
    s->err = build_source(s->app, t, s->errstr, s->n);
}

/* --- the Kafka Connect-compatible REST API ------------------------------ */

static cdc_rest_state_t rest_connector_state(void *ud, const char **trace)
{
    app_t *a = ud;
    *trace = NULL;
    return a->paused ? CDC_REST_PAUSED : CDC_REST_RUNNING;
}

static size_t rest_task_count(void *ud)
{
    return ((app_t *)ud)->ntasks;
}

static void rest_task(void *ud, size_t i, cdc_rest_task_t *out)
{
    app_t *a = ud;
    task_t *t = &a->tasks[i];
    out->table = t->source->name;
    out->trace = t->state == TASK_FAILED ? t->trace : NULL;
    out->state = t->state == TASK_FAILED ? CDC_REST_FAILED
                 : a->paused             ? CDC_REST_PAUSED
                                         : CDC_REST_RUNNING;
}

static json_t *rest_config(void *ud)
{
    app_t *a = ud;
    json_t *o = cdc_config_to_json(a->cfg);
    if (o && !json_object_get(o, "name"))
        json_object_set_new(o, "name", json_string(cdc_config_str(a->cfg, CDC_KEY_NAME)));
    return o;
}

static cdc_err_t rest_pause(void *ud, char *errstr, size_t n)
{
    (void)errstr, (void)n;
    app_t *a = ud;
    if (!a->paused)
        cdc_log_info("app", "connector PAUSED (REST): polling stops, "
                     "records in flight are still delivered");
    a->paused = true;
    return CDC_OK;
}

static cdc_err_t rest_resume(void *ud, char *errstr, size_t n)
{
    (void)errstr, (void)n;
    app_t *a = ud;
    if (a->paused)
        cdc_log_info("app", "connector RUNNING again (REST)");
    a->paused = false;
    return CDC_OK;
}

/* A restarted task steps at once; a poller re-reads its table's schema
 * on its own if the last error cleared it. */
static void restart_one(task_t *t)
{
    set_task_state(t, TASK_RUNNING, NULL);
    t->next_ms = 0;
    t->poll_started = 0;
}

static cdc_err_t rest_restart(void *ud, bool include_tasks, bool only_failed,
                              char *errstr, size_t n)
{
    (void)errstr, (void)n;
    app_t *a = ud;
    if (!include_tasks)
        return CDC_OK; /* the connector itself has nothing to restart */
    for (size_t i = 0; i < a->ntasks; i++)
        if (!only_failed || a->tasks[i].state == TASK_FAILED)
            restart_one(&a->tasks[i]);
    return CDC_OK;
}

static cdc_err_t rest_restart_task(void *ud, size_t i, char *errstr, size_t n)
{
    (void)errstr, (void)n;
    app_t *a = ud;
    restart_one(&a->tasks[i]);
    return CDC_OK;
}

/* Deliver what is in flight and store the positions it completes. */
static cdc_err_t settle(app_t *a, char *errstr, size_t n)
{
    cdc_err_t err = cdc_sink_flush(a->sink, 30000, errstr, n);
    cdc_sink_poll(a->sink, 0);
    commit_delivered(a, true);
    if (err == CDC_OK)
        err = cdc_offsets_flush(a->offsets, errstr, n);
    return err;
}

static cdc_err_t rest_offsets_get(void *ud, json_t **out, char *errstr,
                                  size_t n)
{
    app_t *a = ud;
    cdc_err_t err = settle(a, errstr, n);
    if (err != CDC_OK)
        return err;
    json_t *list = json_array();
    for (size_t i = 0; i < a->ntasks; i++) {
        const char *name = a->tasks[i].source->name;
        json_t *pos = cdc_offsets_get(a->offsets, name);
        if (pos)
            json_array_append_new(list, json_pack("{s:{s:s},s:O}", "partition",
                                                  "table", name, "offset", pos));
    }
    *out = json_pack("{s:o}", "offsets", list);
    return *out ? CDC_OK : CDC_ERR_NOMEM;
}

/* Rebuild every task's source from the (changed) stored offsets. */
static cdc_err_t rebuild_all(app_t *a, char *errstr, size_t n)
{
    cdc_err_t err = cdc_offsets_flush(a->offsets, errstr, n);
    for (size_t i = 0; err == CDC_OK && i < a->ntasks; i++) {
        err = build_source(a, &a->tasks[i], errstr, n);
        a->tasks[i].next_ms = a->tasks[i].poll_started = 0;
    }
    return err;
}

static cdc_err_t rest_offsets_alter(void *ud, const json_t *body, char *errstr,
                                    size_t n)
{
    app_t *a = ud;
    cdc_err_t err = settle(a, errstr, n);
    if (err != CDC_OK)
        return err;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(body, "offsets"), i, item) {
        const char *table = json_string_value(
            json_object_get(json_object_get(item, "partition"), "table"));
        json_t *off = json_object_get(item, "offset");
        size_t t;
        for (t = 0; table && t < a->ntasks; t++)
            if (strcmp(a->tasks[t].source->name, table) == 0)
                break;
        if (!table || t == a->ntasks)
            return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                               "partition %zu: expected {\"table\": "
                               "\"<schema.table>\"} naming a captured table",
                               i);
        if (!json_is_null(off) && !json_is_object(off))
            return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                               "offset of %s must be an object or null", table);
    }
    json_array_foreach(json_object_get(body, "offsets"), i, item) {
        const char *table = json_string_value(
            json_object_get(json_object_get(item, "partition"), "table"));
        json_t *off = json_object_get(item, "offset");
        cdc_offsets_put(a->offsets, table, json_is_null(off) ? NULL : off);
    }
    cdc_log_info("app", "offsets altered through the REST API");
    return rebuild_all(a, errstr, n);
}

static cdc_err_t rest_offsets_reset(void *ud, char *errstr, size_t n)
{
    app_t *a = ud;
    cdc_err_t err = settle(a, errstr, n);
    for (size_t i = 0; err == CDC_OK && i < a->ntasks; i++)
        cdc_offsets_put(a->offsets, a->tasks[i].source->name, NULL);
    cdc_log_info("app", "offsets reset through the REST API");
    return err == CDC_OK ? rebuild_all(a, errstr, n) : err;
}

static cdc_rest_health_t rest_health(void *ud, const char **detail)
{
    app_t *a = ud;
    for (size_t i = 0; i < a->ntasks; i++)
        if (a->tasks[i].state == TASK_RUNNING) {
            *detail = NULL;
            return CDC_REST_HEALTHY;
        }
    *detail = "every task has failed";
    return CDC_REST_UNHEALTHY;
}

static cdc_err_t rest_metrics(void *ud, cdc_buf_t *out)
{
    app_t *a = ud;
    for (size_t i = 0; i < a->ntasks; i++) {
        task_t *t = &a->tasks[i];
        cdc_task_metrics_t *m = cdc_metrics_task(a->metrics, i);
        if (t->source->ops->metrics)
            t->source->ops->metrics(t->source, m);
        m->status = t->state == TASK_FAILED ? "failed"
                    : a->paused             ? "paused" : "running";
    }
    if (a->db) {
        cdc_db_stats_t st;
        cdc_db_stats(a->db, &st);
        cdc_daemon_metrics_t *d = cdc_metrics_daemon(a->metrics);
        d->failovers_total = st.failovers + st.failbacks;
        d->token_refreshes_total = st.tokens_generated;
        d->connection_recycles_total = st.recycles;
        d->connections_open =
            (cdc_db_state(a->db, CDC_DB_PRIMARY) == CDC_DB_READY) +
            (cdc_db_state(a->db, CDC_DB_SECONDARY) == CDC_DB_READY);
        cdc_metrics_set_active_endpoint(a->metrics, cdc_db_active_endpoint(a->db));
    }
    return cdc_metrics_render(a->metrics, out);
}

static cdc_err_t setup_rest(app_t *a, char *errstr, size_t n)
{
    const char *listen = cdc_config_str(a->cfg, CDC_KEY_REST_LISTEN);
    const char **tables = calloc(a->ntasks ? a->ntasks : 1, sizeof *tables);
    if (!tables)
        return CDC_ERR_NOMEM;
    for (size_t i = 0; i < a->ntasks; i++)
        tables[i] = a->tasks[i].source->name;
    a->metrics = cdc_metrics_new(cdc_config_str(a->cfg, CDC_KEY_NAME), tables,
                                 a->ntasks);
    free(tables);
    if (!a->metrics)
        return CDC_ERR_NOMEM;
    if (!listen)
        return CDC_OK;
    snprintf(a->worker_id, sizeof a->worker_id, "%s", listen);
    a->provider = (cdc_rest_provider_t){
        .name = cdc_config_str(a->cfg, CDC_KEY_NAME),
        .worker_id = a->worker_id,
        .version = DSQLCDC_VERSION,
        .ud = a,
        .connector_state = rest_connector_state,
        .task_count = rest_task_count,
        .task = rest_task,
        .config = rest_config,
        .pause = rest_pause,
        .resume = rest_resume,
        .restart = rest_restart,
        .restart_task = rest_restart_task,
        .offsets_get = rest_offsets_get,
        .offsets_alter = rest_offsets_alter,
        .offsets_reset = rest_offsets_reset,
        .health = rest_health,
        .metrics_text = rest_metrics,
    };
    a->rest = cdc_rest_new(listen, &a->provider, errstr, n);
    if (!a->rest)
        return CDC_ERR_CONFIG;
    /* With port 0 the system picked one: report the real one. */
    const char *colon = strrchr(listen, ':');
    cdc_log_info("app", "REST API on http://%.*s:%u (Kafka Connect paths, "
                 "/metrics)", (int)(colon - listen), listen,
                 cdc_rest_port(a->rest));
    return CDC_OK;
}

static cdc_err_t setup(app_t *a, char *errstr, size_t n)
{
    cdc_err_t err;
    const cdc_config_t *c = a->cfg;
    a->tolerate_all = strcmp(cdc_config_str(c, CDC_KEY_ERRORS_TOLERANCE), "all") == 0;
    a->offsets = cdc_offsets_open(cdc_config_str(c, CDC_KEY_OFFSET_FILE), errstr,
                                  n, &err);
    if (!a->offsets)
        return err;
    a->router = cdc_router_new(c, errstr, n);
    if (!a->router)
        return CDC_ERR_CONFIG;
    a->envelope = strcmp(cdc_config_str(c, CDC_KEY_RECORD_FORMAT), "debezium") == 0;
    cdc_debezium_opts_t dopts = {
        .topic_prefix = cdc_config_str(c, CDC_KEY_TOPIC_PREFIX),
        .database = cdc_config_str(c, CDC_KEY_DATABASE_NAME),
        .key_schemas = cdc_config_bool(c, CDC_KEY_KEY_CONVERTER_SCHEMAS_ENABLE),
        .value_schemas = cdc_config_bool(c, CDC_KEY_VALUE_CONVERTER_SCHEMAS_ENABLE),
    };
    if (!(a->dbz = cdc_debezium_new(&dopts, errstr, n)))
        return CDC_ERR_CONFIG;
    bool stream = strcmp(cdc_config_str(c, CDC_KEY_SOURCE_MODE), "stream") == 0;
    /* The stream source signs Kinesis requests even with a password-mode
     * database (or none). */
    if ((stream || strcmp(cdc_config_str(c, CDC_KEY_AUTH_MODE), "iam") == 0) &&
        !(a->chain = cdc_cred_chain_new(NULL)))
        return CDC_ERR_NOMEM;
    if (cdc_config_str(c, CDC_KEY_ENDPOINT_PRIMARY) &&
        !(a->db = cdc_db_new(c, a->chain)))
        return CDC_ERR_NOMEM;
    a->sink = cdc_sink_new(c, on_delivery, a, errstr, n);
    if (!a->sink)
        return CDC_ERR_CONFIG;
    size_t count = stream ? 1 : cdc_config_list_count(c, CDC_KEY_TABLES);
    a->tasks = calloc(count, sizeof *a->tasks);
    a->pfd = calloc(count + 2, sizeof *a->pfd);
    if (!a->tasks || !a->pfd)
        return CDC_ERR_NOMEM;
    if (stream) {
        a->ntasks = 1;
        err = build_source(a, &a->tasks[0], errstr, n);
    } else {
        setup_t s = {a, CDC_OK, errstr, n};
        cdc_config_list_each(c, CDC_KEY_TABLES, add_poll_task, &s);
        err = s.err;
    }
    return err == CDC_OK ? setup_rest(a, errstr, n) : err;
}

static void teardown(app_t *a)
{
    cdc_rest_destroy(a->rest);
    cdc_metrics_destroy(a->metrics);
    for (size_t i = 0; i < a->ntasks; i++) {
        if (a->tasks[i].source)
            a->tasks[i].source->ops->destroy(a->tasks[i].source);
        free(a->tasks[i].spec);
    }
    free(a->tasks);
    free(a->pfd);
    for (size_t i = 0; i < a->ntopics; i++) {
        free(a->topics[i].schema);
        free(a->topics[i].table);
        free(a->topics[i].topic);
    }
    free(a->topics);
    cdc_sink_destroy(a->sink);
    cdc_db_destroy(a->db);
    cdc_cred_chain_destroy(a->chain);
    cdc_router_destroy(a->router);
    cdc_debezium_destroy(a->dbz);
    cdc_offsets_close(a->offsets);
    cdc_buf_free(&a->key);
    cdc_buf_free(&a->value);
}

static void install_signals(void)
{
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        wake_pipe[0] = wake_pipe[1] = -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Sleep until the deadline, a signal, a REST request or an answer a task
 * waits for (that task is due at once), then serve the REST API. Delivery
 * reports come through the sink's poll: while messages are in flight,
 * serve them every 50 ms. */
static void wait_until(app_t *a, int64_t deadline)
{
    int64_t wait = deadline - cdc_mono_ms();
    if (wait < 0)
        wait = 0;
    if (wait > 50 && cdc_sink_in_flight(a->sink))
        wait = 50;
    if (a->rest) {
        int rt = cdc_rest_timeout_ms(a->rest);
        if (rt >= 0 && rt < wait)
            wait = rt;
    }
    struct pollfd *pfd = a->pfd;
    pfd[0] = (struct pollfd){.fd = wake_pipe[0], .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = a->rest ? cdc_rest_fd(a->rest) : -1,
                             .events = POLLIN};
    for (size_t i = 0; i < a->ntasks; i++)
        pfd[2 + i] = (struct pollfd){
            .fd = a->paused ? -1 : task_fd(&a->tasks[i]), .events = POLLIN};
    if (poll(pfd, 2 + a->ntasks, (int)wait) > 0) {
        if (pfd[0].revents & POLLIN) {
            char drain[64];
            while (read(wake_pipe[0], drain, sizeof drain) > 0) {
            }
        }
        for (size_t i = 0; i < a->ntasks; i++)
            if (pfd[2 + i].revents)
                a->tasks[i].next_ms = 0;
    }
    if (a->rest)
        cdc_rest_run(a->rest);
}

cdc_err_t cdc_app_run(const cdc_config_t *c, char *errstr, size_t n)
{
    app_t a;
    memset(&a, 0, sizeof a);
    a.cfg = c;
    cdc_buf_init(&a.key);
    cdc_buf_init(&a.value);
    got_stop = got_hup = 0;
    install_signals();
    cdc_err_t err = setup(&a, errstr, n);
    if (err != CDC_OK) {
        teardown(&a);
        return err;
    }
    cdc_log_info("app", "dsqlcdc %s started: connector %s, %zu table(s), "
                 "sink %s", DSQLCDC_VERSION, cdc_config_str(c, CDC_KEY_NAME),
                 a.ntasks, cdc_config_str(c, CDC_KEY_SINK_TYPE));

    int64_t flush_every = cdc_config_int(c, CDC_KEY_OFFSET_FLUSH_INTERVAL_MS);
    int64_t next_flush = cdc_mono_ms() + flush_every;
    while (!got_stop) {
        if (got_hup) {
            got_hup = 0;
            char e[256];
            if (cdc_log_reopen(e, sizeof e) != CDC_OK)
                cdc_log_error("app", "%s", e);
        }
        cdc_sink_poll(a.sink, 0);
        int64_t now = cdc_mono_ms();
        int64_t deadline = now + 1000;
        bool any_running = false;
        for (size_t i = 0; i < a.ntasks && !got_stop; i++) {
            task_t *t = &a.tasks[i];
            if (t->state != TASK_RUNNING)
                continue;
            any_running = true;
            if (t->next_ms <= now && !a.paused)
                step_task(&a, t, now);
            if (t->state == TASK_RUNNING && t->next_ms < deadline)
                deadline = t->next_ms;
        }
        if (!any_running && !a.rest && !got_stop) {
            /* Without the REST API nothing can restart them. */
            err = cdc_err_set(errstr, n, CDC_ERR_INTERNAL,
                              "every table's task has failed (see the errors "
                              "above); fix them and restart");
            break;
        }
        if (a.db) {
            cdc_db_service(a.db, cdc_mono_ms());
            if (cdc_db_next_deadline(a.db) < deadline)
                deadline = cdc_db_next_deadline(a.db);
        }
        cdc_metrics_tick(a.metrics, now);
        now = cdc_mono_ms();
        commit_delivered(&a, now >= next_flush);
        if (now >= next_flush) {
            char e[512];
            if (cdc_offsets_flush(a.offsets, e, sizeof e) != CDC_OK)
                cdc_log_error("app", "%s", e);
            next_flush = now + flush_every;
        }
        if (next_flush < deadline)
            deadline = next_flush;
        wait_until(&a, deadline);
    }

    cdc_log_info("app", "stopping: flushing the sink and committing offsets");
    char e[512];
    if (cdc_sink_flush(a.sink, 30000, e, sizeof e) != CDC_OK)
        cdc_log_error("app", "%s; offsets stay before them", e);
    cdc_sink_poll(a.sink, 0);
    commit_delivered(&a, true);
    if (cdc_offsets_flush(a.offsets, e, sizeof e) != CDC_OK) {
        cdc_log_error("app", "%s", e);
        if (err == CDC_OK)
            err = cdc_err_set(errstr, n, CDC_ERR_IO, "%s", e);
    }
    for (size_t i = 0; i < a.ntasks; i++)
        cdc_log_info("app", "%s: %llu record(s) produced this run",
                     a.tasks[i].source->name,
                     (unsigned long long)a.tasks[i].records);
    teardown(&a);
    return err;
}
