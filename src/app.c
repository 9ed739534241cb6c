/*
 * app.c - the event loop (see app.h).
 *
 * One thread owns everything. Each turn: serve Kafka delivery reports, poll
 * every table whose time has come (one page each, so one busy table cannot
 * starve the others), move committed offsets up to what is delivered, flush
 * the offset file when due, then sleep until the nearest deadline or a
 * signal. Signal handlers only set flags and write to a self-pipe.
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
#include "common/log.h"
#include "db/conn.h"
#include "encode/debezium.h"
#include "encode/flat.h"
#include "encode/router.h"
#include "offsets/store.h"
#include "offsets/tracker.h"
#include "sink/sink.h"
#include "source/poll.h"

typedef enum { TASK_RUNNING, TASK_FAILED } task_state_t;

typedef struct {
    cdc_poller_t *poller;
    cdc_tracker_t *tracker;
    task_state_t state;
    char *topic;
    int64_t next_poll_ms;
    uint64_t records;
    /* catch-up progress: logged every PROGRESS_MS while pages come full */
    int64_t progress_ms;
    uint64_t progress_records;
} task_t;

#define PROGRESS_MS 10000

typedef struct {
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
    cdc_buf_t key, value;
    bool tolerate_all;
    bool stopping;
    cdc_err_t fatal;
    char fatal_msg[512];
} app_t;

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

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_task_state(task_t *t, task_state_t s, const char *why)
{
    if (t->state == s)
        return;
    t->state = s;
    if (s == TASK_FAILED)
        cdc_log_error("app", "task %s FAILED: %s", cdc_poller_name(t->poller),
                      why);
    else
        cdc_log_info("app", "task %s RUNNING", cdc_poller_name(t->poller));
}

static void on_delivery(void *record, cdc_err_t err, const char *errstr,
                        void *ctx)
{
    (void)ctx;
    cdc_batch_t *b = record;
    if (err == CDC_OK) {
        cdc_tracker_record_done(b);
        return;
    }
    /* Not delivered: the batch stays open so the offset never passes it. */
    cdc_log_error("app", "a record was not delivered: %s; the offset stays "
                  "before it and the daemon must be restarted to resend it",
                  errstr ? errstr : cdc_err_str(err));
}

typedef struct {
    app_t *app;
    task_t *task;
    cdc_batch_t *batch;
} emit_ctx_t;

/* Hand one record to the sink, waiting out backpressure. */
static cdc_err_t produce(app_t *a, task_t *t, cdc_batch_t *b, const char *key,
                         size_t klen, const char *val, size_t vlen,
                         char *errstr, size_t n)
{
    cdc_tracker_record_sent(b);
    for (;;) {
        cdc_err_t err = cdc_sink_produce(a->sink, t->topic, key, klen, val,
                                         vlen, b, errstr, n);
        if (err != CDC_ERR_QUEUE_FULL) {
            if (err != CDC_OK)
                cdc_tracker_record_done(b); /* never sent; batch not sealed */
            return err;
        }
        cdc_sink_poll(a->sink, 100);
    }
}

static cdc_err_t emit_change(const cdc_change_t *ch, void *ctx, char *errstr,
                             size_t n)
{
    emit_ctx_t *e = ctx;
    app_t *a = e->app;
    cdc_buf_reset(&a->key);
    cdc_buf_reset(&a->value);
    cdc_err_t err = cdc_debezium_encode_key(a->dbz, ch, &a->key, errstr, n);
    if (err == CDC_OK)
        err = a->envelope
                  ? cdc_debezium_encode_value(a->dbz, ch, &a->value, errstr, n)
                  : cdc_flat_encode_value(ch, &a->value, errstr, n);
    if (err == CDC_ERR_ENCODE && a->tolerate_all) {
        cdc_log_warn("app", "skipped a row (errors.tolerance=all): %s", errstr);
        return CDC_OK;
    }
    if (err != CDC_OK)
        return err;
    err = produce(a, e->task, e->batch, a->key.data, a->key.len, a->value.data,
                  a->value.len, errstr, n);
    if (err == CDC_OK && ch->op == CDC_OP_DELETE)
        err = produce(a, e->task, e->batch, a->key.data, a->key.len, NULL, 0,
                      errstr, n);
    if (err == CDC_OK)
        e->task->records++;
    return err;
}

/* While a table catches up on a backlog, say how it goes every PROGRESS_MS:
 * rows, rate and, from the planner's row count, the time left. */
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
    int64_t est = cdc_poller_row_estimate(t->poller);
    char eta[96] = "";
    if (est > 0 && rate > 0 && (uint64_t)est > t->records)
        snprintf(eta, sizeof eta, ", about %.0f s left of ~%lld rows",
                 (double)((uint64_t)est - t->records) / rate, (long long)est);
    cdc_log_info("app", "%s: catching up: %llu records so far, %.0f rows/s%s",
                 cdc_poller_name(t->poller), (unsigned long long)t->records,
                 rate, eta);
    t->progress_ms = now;
    t->progress_records = t->records;
}

/* One step of a task's poller; a task that cannot go on is marked FAILED. */
static void poll_task(app_t *a, task_t *t, int64_t now)
{
    char errstr[1024];
    PGconn *conn;
    int64_t interval = cdc_config_int(a->cfg, CDC_KEY_POLL_INTERVAL_MS);
    cdc_err_t err = cdc_db_get(a->db, &conn, errstr, sizeof errstr);
    size_t rows = 0;
    bool stepped = false;
    if (err == CDC_OK) {
        emit_ctx_t e = {a, t, cdc_tracker_batch(t->tracker)};
        stepped = true;
        if (!e.batch)
            err = CDC_ERR_NOMEM;
        else
            err = cdc_poller_step(t->poller, conn, now, emit_change, &e, &rows,
                                  &t->next_poll_ms, errstr, sizeof errstr);
        json_t *pos = cdc_poller_position(t->poller);
        if (pos)
            cdc_tracker_seal(t->tracker, pos);
        json_decref(pos);
    }
    if (err == CDC_OK) {
        log_progress(t, now, t->next_poll_ms <= now);
        return;
    }
    if (err == CDC_ERR_SCHEMA && stepped && strstr(errstr, "polling")) {
        /* The table changed under the query; the poller re-reads its schema
         * on the next step and keeps its position. */
        cdc_log_warn("app", "%s; re-reading the table's schema", errstr);
        t->next_poll_ms = now + interval;
        return;
    }
    if (!cdc_err_retriable(err)) {
        set_task_state(t, TASK_FAILED, errstr);
        return;
    }
    if (err == CDC_ERR_DB_CONNECT)
        cdc_db_reset(a->db);
    cdc_log_warn("app", "%s (will retry in %lld ms)", errstr,
                 (long long)interval);
    t->next_poll_ms = now + interval;
}

static void commit_delivered(app_t *a)
{
    for (size_t i = 0; i < a->ntasks; i++) {
        task_t *t = &a->tasks[i];
        json_t *pos = cdc_tracker_advance(t->tracker);
        if (!pos)
            continue;
        /* The position is ours (a fresh object per step): add to it the
         * delivered part of the emitted-versions set. */
        if (cdc_poller_checkpoint(t->poller, pos) == CDC_OK)
            cdc_offsets_put(a->offsets, cdc_poller_name(t->poller), pos);
        json_decref(pos);
    }
}

typedef struct {
    app_t *app;
    char *errstr;
    size_t n;
    cdc_err_t err;
} setup_t;

static void add_task(const char *table, void *ctx)
{
    setup_t *s = ctx;
    app_t *a = s->app;
    if (s->err != CDC_OK)
        return;
    task_t *t = &a->tasks[a->ntasks];
    t->poller = cdc_poller_new(a->cfg, table);
    t->tracker = cdc_tracker_new();
    if (!t->poller || !t->tracker) {
        cdc_poller_destroy(t->poller);
        cdc_tracker_destroy(t->tracker);
        s->err = CDC_ERR_NOMEM;
        return;
    }
    a->ntasks++;
    cdc_buf_t topic, routed;
    cdc_buf_init(&topic);
    cdc_buf_init(&routed);
    cdc_buf_printf(&topic, "%s.%s.%s",
                   cdc_config_str(a->cfg, CDC_KEY_TOPIC_PREFIX),
                   cdc_poller_schema(t->poller), cdc_poller_table(t->poller));
    cdc_router_apply(a->router, cdc_buf_str(&topic), &routed);
    t->topic = strdup(cdc_buf_str(&routed));
    cdc_buf_free(&topic);
    cdc_buf_free(&routed);
    json_t *pos = cdc_offsets_get(a->offsets, cdc_poller_name(t->poller));
    if (pos) {
        s->err = cdc_poller_restore(t->poller, pos, s->errstr, s->n);
        if (s->err == CDC_OK) {
            char *text = json_dumps(pos, JSON_COMPACT);
            cdc_log_info("app", "%s: resuming after %s", cdc_poller_name(t->poller),
                         text ? text : "?");
            free(text);
        }
    }
    cdc_log_info("app", "%s -> topic %s", cdc_poller_name(t->poller), t->topic);
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
    if (strcmp(cdc_config_str(c, CDC_KEY_AUTH_MODE), "iam") == 0 &&
        !(a->chain = cdc_cred_chain_new(NULL)))
        return CDC_ERR_NOMEM;
    if (!(a->db = cdc_db_new(c, a->chain)))
        return CDC_ERR_NOMEM;
    a->sink = cdc_sink_new(c, on_delivery, a, errstr, n);
    if (!a->sink)
        return CDC_ERR_CONFIG;
    size_t count = cdc_config_list_count(c, CDC_KEY_TABLES);
    a->tasks = calloc(count, sizeof *a->tasks);
    if (!a->tasks)
        return CDC_ERR_NOMEM;
    setup_t s = {a, errstr, n, CDC_OK};
    cdc_config_list_each(c, CDC_KEY_TABLES, add_task, &s);
    return s.err;
}

static void teardown(app_t *a)
{
    for (size_t i = 0; i < a->ntasks; i++) {
        cdc_poller_destroy(a->tasks[i].poller);
        cdc_tracker_destroy(a->tasks[i].tracker);
        free(a->tasks[i].topic);
    }
    free(a->tasks);
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

/* Sleep until the deadline, a signal or sink activity. */
static void wait_until(app_t *a, int64_t deadline)
{
    int64_t wait = deadline - mono_ms();
    if (wait < 0)
        wait = 0;
    /* Delivery reports come through the sink's poll: serve them at least
     * every 50 ms while anything is in flight. */
    for (size_t i = 0; i < a->ntasks; i++)
        if (cdc_tracker_in_flight(a->tasks[i].tracker) && wait > 50)
            wait = 50;
    struct pollfd pfd = {.fd = wake_pipe[0], .events = POLLIN};
    if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)wait) > 0) {
        char drain[64];
        while (read(wake_pipe[0], drain, sizeof drain) > 0) {
        }
    }
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
    int64_t next_flush = mono_ms() + flush_every;
    while (!got_stop) {
        if (got_hup) {
            got_hup = 0;
            char e[256];
            if (cdc_log_reopen(e, sizeof e) != CDC_OK)
                cdc_log_error("app", "%s", e);
        }
        cdc_sink_poll(a.sink, 0);
        int64_t now = mono_ms();
        int64_t deadline = now + 1000;
        bool any_running = false;
        for (size_t i = 0; i < a.ntasks && !got_stop; i++) {
            task_t *t = &a.tasks[i];
            if (t->state != TASK_RUNNING)
                continue;
            any_running = true;
            if (t->next_poll_ms <= now)
                poll_task(&a, t, now);
            if (t->state == TASK_RUNNING && t->next_poll_ms < deadline)
                deadline = t->next_poll_ms;
        }
        if (!any_running) {
            err = cdc_err_set(errstr, n, CDC_ERR_INTERNAL,
                              "every table's task has failed (see the errors "
                              "above); fix them and restart");
            break;
        }
        commit_delivered(&a);
        now = mono_ms();
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
    commit_delivered(&a);
    if (cdc_offsets_flush(a.offsets, e, sizeof e) != CDC_OK) {
        cdc_log_error("app", "%s", e);
        if (err == CDC_OK)
            err = cdc_err_set(errstr, n, CDC_ERR_IO, "%s", e);
    }
    for (size_t i = 0; i < a.ntasks; i++)
        cdc_log_info("app", "%s: %llu record(s) produced this run",
                     cdc_poller_name(a.tasks[i].poller),
                     (unsigned long long)a.tasks[i].records);
    teardown(&a);
    return err;
}
