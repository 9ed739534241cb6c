/*
 * test_rest.c - the Kafka Connect-compatible REST API over real HTTP.
 *
 * The server runs on 127.0.0.1:0 on this test's main thread: the test's own
 * loop waits on the server's epoll fd and libcurl's sockets together
 * (curl_multi_poll with the server fd as an extra fd) and calls
 * cdc_rest_run(), the way the daemon's loop will. Every wait has a deadline;
 * nothing sleeps. A fake provider records what the API asked of it.
 *
 * Checked: exact status codes and exact bodies (byte for byte where
 * Connect's key order matters to scripts), every endpoint, the provider
 * calls, error shapes, 404/405/400/409/413, HEAD, and a seeded random loop
 * of a few thousand odd requests and raw garbage after which the server
 * still answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "common/log.h"
#include "http/metrics.h"
#include "http/rest.h"

#define NAME "dsql-cdc-source"
#define WORKER "10.0.0.7:8083"
#define DEADLINE_MS 10000

/* ---- fake provider ---- */

typedef struct {
    cdc_rest_state_t state;
    const char *trace;
    size_t ntasks;
    cdc_rest_task_t tasks[3];
    const char *cluster_id;
    cdc_rest_health_t health;
    const char *health_detail;
    bool with_task_config;

    int pauses, resumes, stops, restarts, task_restarts, resets, alters,
        offsets_gets;
    bool last_include_tasks, last_only_failed;
    size_t last_task;
    json_t *altered; /* body given to offsets_alter */

    cdc_err_t fail;  /* next mutating call fails with this */
    const char *fail_msg;

    cdc_metrics_t *metrics;
} fake_t;

static fake_t F;

static void fake_reset(void)
{
    json_decref(F.altered);
    cdc_metrics_t *m = F.metrics;
    memset(&F, 0, sizeof(F));
    F.metrics = m;
    F.state = CDC_REST_RUNNING;
    F.ntasks = 2;
    F.tasks[0] = (cdc_rest_task_t){CDC_REST_RUNNING, NULL,
                                   "public.event_headers"};
    F.tasks[1] = (cdc_rest_task_t){CDC_REST_RUNNING, NULL, "public.orders"};
    F.cluster_id = "Xy3kQ_AbTz2Wk0cQ9vPqLg";
}

static const char *fk_cluster_id(void *ud)
{
    return ((fake_t *)ud)->cluster_id;
}

static cdc_rest_state_t fk_state(void *ud, const char **trace)
{
    fake_t *f = ud;
    *trace = f->trace;
    return f->state;
}

static size_t fk_task_count(void *ud)
{
    return ((fake_t *)ud)->ntasks;
}

static void fk_task(void *ud, size_t i, cdc_rest_task_t *out)
{
    *out = ((fake_t *)ud)->tasks[i];
}

static const char config_text[] =
    "{\"connector.class\":\"io.debezium.connector.dsql.DsqlConnector\","
    "\"dsql.endpoint.primary\":\"abc.dsql.us-east-1.on.aws\","
    "\"dsql.tables\":\"public.event_headers,public.orders\","
    "\"kafka.sasl.password\":\"[REDACTED]\","
    "\"name\":\"dsql-cdc-source\",\"tasks.max\":\"2\"}";

static json_t *fk_config(void *ud)
{
    return json_loads(config_text, 0, NULL);
}

static json_t *fk_task_config(void *ud, size_t i)
{
    return json_pack("{s:s,s:s}", "task.class", "io.debezium.DsqlTask",
                     "dsql.tables", ((fake_t *)ud)->tasks[i].table);
}

static cdc_err_t fk_fail(fake_t *f, char *errstr, size_t n)
{
    cdc_err_t e = f->fail;
    f->fail = CDC_OK;
    if (e && f->fail_msg)
        snprintf(errstr, n, "%s", f->fail_msg);
    return e;
}

static cdc_err_t fk_pause(void *ud, char *errstr, size_t n)
{
    fake_t *f = ud;
    cdc_err_t e = fk_fail(f, errstr, n);
    if (!e) {
        f->pauses++;
        f->state = CDC_REST_PAUSED;
    }
    return e;
}

static cdc_err_t fk_resume(void *ud, char *errstr, size_t n)
{
    fake_t *f = ud;
    cdc_err_t e = fk_fail(f, errstr, n);
    if (!e) {
        f->resumes++;
        f->state = CDC_REST_RUNNING;
    }
    return e;
}

static cdc_err_t fk_stop(void *ud, char *errstr, size_t n)
{
    fake_t *f = ud;
    cdc_err_t e = fk_fail(f, errstr, n);
    if (!e) {
        f->stops++;
        f->state = CDC_REST_STOPPED;
    }
    return e;
}

static cdc_err_t fk_restart(void *ud, bool include_tasks, bool only_failed,
                            char *errstr, size_t n)
{
    fake_t *f = ud;
    cdc_err_t e = fk_fail(f, errstr, n);
    if (!e) {
        f->restarts++;
        f->last_include_tasks = include_tasks;
        f->last_only_failed = only_failed;
    }
    return e;
}

static cdc_err_t fk_restart_task(void *ud, size_t i, char *errstr, size_t n)
{
    fake_t *f = ud;
    cdc_err_t e = fk_fail(f, errstr, n);
    if (!e) {
        f->task_restarts++;
        f->last_task = i;
    }
    return e;
}

static const char offsets_text[] =
    "{\"offsets\":[{\"partition\":{\"table\":\"public.event_headers\"},"
    "\"offset\":{\"ts\":\"2026-07-01T10:00:00.123456Z\",\"pk\":[\"42\"]}},"
    "{\"partition\":{\"table\":\"public.orders\"},"
    "\"offset\":{\"ts\":\"2026-07-01T09:59:58Z\",\"pk\":[\"7\"]}}]}";

static cdc_err_t fk_offsets_get(void *ud, json_t **out, char *errstr,
                                size_t n)
{
    fake_t *f = ud;
    cdc_err_t e = fk_fail(f, errstr, n);
    if (e)
        return e;
    f->offsets_gets++;
    *out = json_loads(offsets_text, 0, NULL);
    return CDC_OK;
}

static cdc_err_t fk_offsets_alter(void *ud, const json_t *body, char *errstr,
                                  size_t n)
{
    fake_t *f = ud;
    cdc_err_t e = fk_fail(f, errstr, n);
    if (e)
        return e;
    f->alters++;
    json_decref(f->altered);
    f->altered = json_deep_copy(body);
    return CDC_OK;
}

static cdc_err_t fk_offsets_reset(void *ud, char *errstr, size_t n)
{
    fake_t *f = ud;
    cdc_err_t e = fk_fail(f, errstr, n);
    if (!e)
        f->resets++;
    return e;
}

static cdc_rest_health_t fk_health(void *ud, const char **detail)
{
    fake_t *f = ud;
    *detail = f->health_detail;
    return f->health;
}

static cdc_err_t fk_metrics(void *ud, cdc_buf_t *out)
{
    return cdc_metrics_render(((fake_t *)ud)->metrics, out);
}

static cdc_rest_provider_t provider(void)
{
    return (cdc_rest_provider_t){
        .name = NAME,
        .worker_id = WORKER,
        .version = "3.6.1",
        .commit = "dsqlcdc-0.1.0",
        .ud = &F,
        .kafka_cluster_id = fk_cluster_id,
        .connector_state = fk_state,
        .task_count = fk_task_count,
        .task = fk_task,
        .config = fk_config,
        .pause = fk_pause,
        .resume = fk_resume,
        .stop = fk_stop,
        .restart = fk_restart,
        .restart_task = fk_restart_task,
        .offsets_get = fk_offsets_get,
        .offsets_alter = fk_offsets_alter,
        .offsets_reset = fk_offsets_reset,
        .health = fk_health,
        .metrics_text = fk_metrics,
    };
}

/* ---- the test's event loop: server + libcurl multi ---- */

static cdc_rest_t *S;
static CURLM *M;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct {
    long status;
    CURLcode result;
    cdc_buf_t body;
    char ctype[128];
    char allow[128];
    bool saw_content_length;
} resp_t;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp_t *r = ud;
    return cdc_buf_append(&r->body, p, sz * n) == CDC_OK ? sz * n : 0;
}

static void header_value(const char *line, size_t len, const char *name,
                         char *dst, size_t dstsz)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0)
        return;
    const char *v = line + nl;
    size_t vl = len - nl;
    while (vl && (*v == ' '))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(dst, dstsz, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp_t *r = ud;
    header_value(p, sz * n, "Content-Type:", r->ctype, sizeof(r->ctype));
    header_value(p, sz * n, "Allow:", r->allow, sizeof(r->allow));
    if (sz * n > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
        r->saw_content_length = true;
    return sz * n;
}

/* Run the server and curl until e completes; fail on the deadline. */
static CURLcode drive(CURL *e)
{
    int64_t deadline = now_ms() + DEADLINE_MS;
    curl_multi_add_handle(M, e);
    for (;;) {
        int running = 0, q = 0;
        curl_multi_perform(M, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(M, &q)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) {
                CURLcode rc = msg->data.result;
                curl_multi_remove_handle(M, e);
                return rc;
            }
        if (now_ms() > deadline) {
            curl_multi_remove_handle(M, e);
            fail_msg("no answer within %d ms", DEADLINE_MS);
        }
        long ct = -1;
        curl_multi_timeout(M, &ct);
        int st = cdc_rest_timeout_ms(S);
        int wait = 1000;
        if (ct >= 0 && ct < wait)
            wait = (int)ct;
        if (st >= 0 && st < wait)
            wait = st;
        struct curl_waitfd wfd = {.fd = cdc_rest_fd(S),
                                  .events = CURL_WAIT_POLLIN};
        curl_multi_poll(M, &wfd, 1, wait, NULL);
        assert_int_equal(cdc_rest_run(S), CDC_OK);
    }
}

typedef struct {
    const char *ctype_req;      /* Content-Type of the request body */
    bool chunked;               /* send the body chunked */
    const char *extra_header;
} opts_t;

typedef struct {
    const char *p;
    size_t left;
} reader_t;

static size_t on_read(char *dst, size_t sz, size_t n, void *ud)
{
    reader_t *r = ud;
    size_t k = sz * n < r->left ? sz * n : r->left;
    memcpy(dst, r->p, k);
    r->p += k;
    r->left -= k;
    return k;
}

static void http_opts(const char *method, const char *path, const char *body,
                      size_t body_len, const opts_t *o, resp_t *r)
{
    memset(r, 0, sizeof(*r));
    cdc_buf_init(&r->body);
    char url[8192];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", cdc_rest_port(S),
             path);
    CURL *e = curl_easy_init();
    assert_non_null(e);
    struct curl_slist *hs = NULL;
    reader_t rd = {body, body_len};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body && o && o->chunked) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, &rd);
        hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
    } else if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
    }
    if (body)
        hs = curl_slist_append(hs, o && o->ctype_req
                                       ? o->ctype_req
                                       : "Content-Type: application/json");
    if (o && o->extra_header)
        hs = curl_slist_append(hs, o->extra_header);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
    r->result = drive(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(e);
    curl_slist_free_all(hs);
}

static void http(const char *method, const char *path, const char *body,
                 resp_t *r)
{
    http_opts(method, path, body, body ? strlen(body) : 0, NULL, r);
    assert_int_equal(r->result, CURLE_OK);
}

static const char *body_of(const resp_t *r)
{
    return cdc_buf_str(&r->body);
}

static void expect_exact(const char *method, const char *path,
                         const char *body, long status, const char *want)
{
    resp_t r;
    http(method, path, body, &r);
    if (r.status != status || strcmp(body_of(&r), want) != 0)
        fail_msg("%s %s: want %ld %s\n got %ld %s", method, path, status,
                 want, r.status, body_of(&r));
    if (*want)
        assert_string_equal(r.ctype, "application/json");
    cdc_buf_free(&r.body);
}

static void expect_error(const char *method, const char *path,
                         const char *body, long status, const char *msg)
{
    char want[2048];
    json_t *j = json_pack("{s:i,s:s}", "error_code", (int)status, "message",
                          msg);
    char *s = json_dumps(j, JSON_COMPACT);
    snprintf(want, sizeof(want), "%s", s);
    free(s);
    json_decref(j);
    expect_exact(method, path, body, status, want);
}

static void expect_empty(const char *method, const char *path, long status)
{
    resp_t r;
    http(method, path, NULL, &r);
    assert_int_equal(r.status, status);
    assert_int_equal(r.body.len, 0);
    cdc_buf_free(&r.body);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *tables[] = {"public.event_headers", "public.orders"};
    F.metrics = cdc_metrics_new(NAME, tables, 2);
    fake_reset();
    char errstr[256] = "";
    cdc_rest_provider_t p = provider();
    S = cdc_rest_new("127.0.0.1:0", &p, errstr, sizeof(errstr));
    if (!S) {
        print_error("cdc_rest_new: %s\n", errstr);
        return -1;
    }
    M = curl_multi_init();
    return M ? 0 : -1;
}

static int teardown(void **state)
{
    curl_multi_cleanup(M);
    cdc_rest_destroy(S);
    json_decref(F.altered);
    cdc_metrics_destroy(F.metrics);
    curl_global_cleanup();
    return 0;
}

static int each(void **state)
{
    fake_reset();
    return 0;
}

/* ---- endpoints ---- */

static void test_listener(void **state)
{
    assert_true(cdc_rest_port(S) > 0);
    assert_true(cdc_rest_fd(S) >= 0);

    /* the port is taken: the reason reaches the caller */
    char addr[64], errstr[256] = "";
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", cdc_rest_port(S));
    cdc_rest_provider_t p = provider();
    assert_null(cdc_rest_new(addr, &p, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, addr));
    assert_non_null(strstr(errstr, "cannot start the HTTP server"));

    const char *bad[] = {"8083", "127.0.0.1:", "127.0.0.1:70000",
                         "127.0.0.1:80a", "no.such.host.invalid:1", NULL};
    for (const char **b = bad; *b; b++) {
        errstr[0] = '\0';
        assert_null(cdc_rest_new(*b, &p, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "REST listener"));
    }
    p.offsets_get = NULL;
    assert_null(cdc_rest_new("127.0.0.1:0", &p, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "required callback"));

    /* IPv6, where this machine has ::1 */
    p = provider();
    int v6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (v6 >= 0 && bind(v6, (struct sockaddr *)&a6, sizeof(a6)) == 0) {
        cdc_rest_t *r6 = cdc_rest_new("[::1]:0", &p, errstr, sizeof(errstr));
        if (!r6)
            fail_msg("[::1]:0: %s", errstr);
        assert_true(cdc_rest_port(r6) > 0);
        cdc_rest_destroy(r6);
    }
    if (v6 >= 0)
        close(v6);
    errstr[0] = '\0';
    assert_null(cdc_rest_new("[::1:0", &p, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "REST listener \"[::1:0\""));

    /* ":port" listens on every address */
    cdc_rest_t *any = cdc_rest_new(":0", &p, errstr, sizeof(errstr));
    assert_non_null(any);
    assert_true(cdc_rest_port(any) > 0);
    cdc_rest_destroy(any);
    cdc_rest_destroy(NULL);
}

static void test_root(void **state)
{
    expect_exact("GET", "/", NULL, 200,
                 "{\"version\":\"3.6.1\",\"commit\":\"dsqlcdc-0.1.0\","
                 "\"kafka_cluster_id\":\"Xy3kQ_AbTz2Wk0cQ9vPqLg\"}");
    F.cluster_id = NULL;
    expect_exact("GET", "/", NULL, 200,
                 "{\"version\":\"3.6.1\",\"commit\":\"dsqlcdc-0.1.0\","
                 "\"kafka_cluster_id\":null}");
}

#define STATUS_RUNNING                                                       \
    "{\"name\":\"dsql-cdc-source\","                                         \
    "\"connector\":{\"state\":\"RUNNING\",\"worker_id\":\"" WORKER "\"},"    \
    "\"tasks\":[{\"id\":0,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER     \
    "\"},{\"id\":1,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER "\"}],"    \
    "\"type\":\"source\"}"

#define STATUS_RUNNING_PAUSED_CONNECTOR                                      \
    "{\"name\":\"dsql-cdc-source\","                                         \
    "\"connector\":{\"state\":\"PAUSED\",\"worker_id\":\"" WORKER "\"},"     \
    "\"tasks\":[{\"id\":0,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER     \
    "\"},{\"id\":1,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER "\"}],"    \
    "\"type\":\"source\"}"

#define INFO                                                                 \
    "{\"name\":\"dsql-cdc-source\",\"config\":" /* config_text */            \
    "{\"connector.class\":\"io.debezium.connector.dsql.DsqlConnector\","     \
    "\"dsql.endpoint.primary\":\"abc.dsql.us-east-1.on.aws\","               \
    "\"dsql.tables\":\"public.event_headers,public.orders\","                \
    "\"kafka.sasl.password\":\"[REDACTED]\","                                \
    "\"name\":\"dsql-cdc-source\",\"tasks.max\":\"2\"},"                     \
    "\"tasks\":[{\"connector\":\"dsql-cdc-source\",\"task\":0},"             \
    "{\"connector\":\"dsql-cdc-source\",\"task\":1}],\"type\":\"source\"}"

static void test_list(void **state)
{
    expect_exact("GET", "/connectors", NULL, 200, "[\"dsql-cdc-source\"]");
    expect_exact("GET", "/connectors/", NULL, 200, "[\"dsql-cdc-source\"]");
    expect_exact("GET", "/connectors?expand=status", NULL, 200,
                 "{\"dsql-cdc-source\":{\"status\":" STATUS_RUNNING "}}");
    expect_exact("GET", "/connectors?expand=info", NULL, 200,
                 "{\"dsql-cdc-source\":{\"info\":" INFO "}}");
    /* both, in request order; unknown expansions are ignored */
    expect_exact("GET", "/connectors?expand=info&expand=bogus&expand=status",
                 NULL, 200,
                 "{\"dsql-cdc-source\":{\"info\":" INFO
                 ",\"status\":" STATUS_RUNNING "}}");
    expect_exact("GET", "/connectors?expand=status&expand=info", NULL, 200,
                 "{\"dsql-cdc-source\":{\"status\":" STATUS_RUNNING
                 ",\"info\":" INFO "}}");
    expect_exact("GET", "/connectors?expand=nothing", NULL, 200,
                 "{\"dsql-cdc-source\":{}}");
    expect_exact("GET", "/connectors?forward=true", NULL, 200,
                 "[\"dsql-cdc-source\"]");
}

static void test_info_and_config(void **state)
{
    expect_exact("GET", "/connectors/" NAME, NULL, 200, INFO);
    /* passed through as the provider gives it: secrets already redacted */
    expect_exact("GET", "/connectors/" NAME "/config", NULL, 200,
                 config_text);
    expect_error("GET", "/connectors/other", NULL, 404,
                 "Connector other not found");
    expect_error("GET", "/connectors/other/config", NULL, 404,
                 "Connector other not found");
}

static void test_status(void **state)
{
    expect_exact("GET", "/connectors/" NAME "/status", NULL, 200,
                 STATUS_RUNNING);

    /* trace only where present, after worker_id */
    F.state = CDC_REST_FAILED;
    F.trace = "org.postgresql.util.PSQLException: FATAL: token expired\n"
              "\tat dsqlcdc.poll(poll.c:1)";
    F.tasks[1].state = CDC_REST_FAILED;
    F.tasks[1].trace = "table public.orders: column \"id\" missing";
    F.tasks[0].state = CDC_REST_PAUSED;
    expect_exact("GET", "/connectors/" NAME "/status", NULL, 200,
                 "{\"name\":\"dsql-cdc-source\",\"connector\":{\"state\":"
                 "\"FAILED\",\"worker_id\":\"" WORKER "\",\"trace\":"
                 "\"org.postgresql.util.PSQLException: FATAL: token "
                 "expired\\n\\tat dsqlcdc.poll(poll.c:1)\"},\"tasks\":["
                 "{\"id\":0,\"state\":\"PAUSED\",\"worker_id\":\"" WORKER
                 "\"},{\"id\":1,\"state\":\"FAILED\",\"worker_id\":\""
                 WORKER "\",\"trace\":\"table public.orders: column \\\"id\\\""
                 " missing\"}],\"type\":\"source\"}");

    /* an empty trace is left out, like Connect's NON_EMPTY; bytes that are
     * not UTF-8 do not break the answer */
    fake_reset();
    F.trace = "";
    F.state = CDC_REST_UNASSIGNED;
    F.ntasks = 1;
    F.tasks[0].state = CDC_REST_FAILED;
    F.tasks[0].trace = "bad \xff\xfe bytes";
    expect_exact("GET", "/connectors/" NAME "/status", NULL, 200,
                 "{\"name\":\"dsql-cdc-source\",\"connector\":{\"state\":"
                 "\"UNASSIGNED\",\"worker_id\":\"" WORKER "\"},\"tasks\":["
                 "{\"id\":0,\"state\":\"FAILED\",\"worker_id\":\"" WORKER
                 "\",\"trace\":\"bad ?? bytes\"}],\"type\":\"source\"}");

    expect_error("GET", "/connectors/other/status", NULL, 404,
                 "No status found for connector other");
}

static void test_tasks(void **state)
{
    /* default: the connector config with the task's own table */
    char want[4096];
    json_t *cfg = json_loads(config_text, 0, NULL);
    json_t *a = json_array();
    for (int i = 0; i < 2; i++) {
        json_t *c = json_copy(cfg);
        json_object_set_new(c, "dsql.tables",
                            json_string(F.tasks[i].table));
        json_array_append_new(a, json_pack("{s:{s:s,s:i},s:o}", "id",
                                           "connector", NAME, "task", i,
                                           "config", c));
    }
    char *s = json_dumps(a, JSON_COMPACT);
    snprintf(want, sizeof(want), "%s", s);
    free(s);
    json_decref(a);
    json_decref(cfg);
    expect_exact("GET", "/connectors/" NAME "/tasks", NULL, 200, want);
    /* key order of the config kept as the provider gave it */
    assert_non_null(strstr(want, "\"kafka.sasl.password\":\"[REDACTED]\","
                                 "\"name\":\"dsql-cdc-source\""));

    /* a provider that knows its task configs */
    cdc_rest_provider_t p = provider();
    p.task_config = fk_task_config;
    char errstr[256];
    cdc_rest_t *keep = S;
    S = cdc_rest_new("127.0.0.1:0", &p, errstr, sizeof(errstr));
    assert_non_null(S);
    expect_exact("GET", "/connectors/" NAME "/tasks", NULL, 200,
                 "[{\"id\":{\"connector\":\"dsql-cdc-source\",\"task\":0},"
                 "\"config\":{\"task.class\":\"io.debezium.DsqlTask\","
                 "\"dsql.tables\":\"public.event_headers\"}},"
                 "{\"id\":{\"connector\":\"dsql-cdc-source\",\"task\":1},"
                 "\"config\":{\"task.class\":\"io.debezium.DsqlTask\","
                 "\"dsql.tables\":\"public.orders\"}}]");
    cdc_rest_destroy(S);
    S = keep;

    expect_error("GET", "/connectors/other/tasks", NULL, 404,
                 "Connector other not found");
}

static void test_task_status(void **state)
{
    expect_exact("GET", "/connectors/" NAME "/tasks/1/status", NULL, 200,
                 "{\"id\":1,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER
                 "\"}");
    F.tasks[0].state = CDC_REST_FAILED;
    F.tasks[0].trace = "boom";
    expect_exact("GET", "/connectors/" NAME "/tasks/0/status", NULL, 200,
                 "{\"id\":0,\"state\":\"FAILED\",\"worker_id\":\"" WORKER
                 "\",\"trace\":\"boom\"}");
    /* Integer.valueOf semantics for the id */
    expect_exact("GET", "/connectors/" NAME "/tasks/+1/status", NULL, 200,
                 "{\"id\":1,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER
                 "\"}");
    expect_error("GET", "/connectors/" NAME "/tasks/2/status", NULL, 404,
                 "No status found for task dsql-cdc-source-2");
    expect_error("GET", "/connectors/" NAME "/tasks/-1/status", NULL, 404,
                 "No status found for task dsql-cdc-source--1");
    expect_error("GET", "/connectors/other/tasks/0/status", NULL, 404,
                 "No status found for task other-0");
    expect_error("GET", "/connectors/" NAME "/tasks/x/status", NULL, 404,
                 "HTTP 404 Not Found");
    expect_error("GET", "/connectors/" NAME "/tasks/99999999999/status",
                 NULL, 404, "HTTP 404 Not Found");
}

static void test_pause_resume_stop(void **state)
{
    expect_empty("PUT", "/connectors/" NAME "/pause", 202);
    assert_int_equal(F.pauses, 1);
    assert_int_equal(F.state, CDC_REST_PAUSED);
    expect_empty("PUT", "/connectors/" NAME "/pause", 202); /* idempotent */
    assert_int_equal(F.pauses, 2);
    expect_empty("PUT", "/connectors/" NAME "/resume", 202);
    assert_int_equal(F.resumes, 1);
    assert_int_equal(F.state, CDC_REST_RUNNING);
    expect_empty("PUT", "/connectors/" NAME "/stop", 204);
    assert_int_equal(F.stops, 1);
    assert_int_equal(F.state, CDC_REST_STOPPED);

    expect_error("PUT", "/connectors/other/pause", NULL, 404,
                 "Unknown connector other");
    expect_error("PUT", "/connectors/other/resume", NULL, 404,
                 "Unknown connector other");
    expect_error("PUT", "/connectors/other/stop", NULL, 404,
                 "Unknown connector other");
    assert_int_equal(F.pauses, 2);

    /* provider refuses: its message, status from its error code */
    F.fail = CDC_ERR_DB_CONNECT;
    F.fail_msg = "cannot pause while the snapshot commits";
    expect_error("PUT", "/connectors/" NAME "/pause", NULL, 500,
                 "cannot pause while the snapshot commits");
    F.fail = CDC_ERR_INVALID_ARG;
    F.fail_msg = NULL;
    expect_error("PUT", "/connectors/" NAME "/resume", NULL, 400,
                 "invalid argument");

    /* wrong method: 405 with Allow */
    resp_t r;
    http("GET", "/connectors/" NAME "/pause", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "PUT");
    assert_string_equal(body_of(&r), "{\"error_code\":405,\"message\":"
                                     "\"HTTP 405 Method Not Allowed\"}");
    cdc_buf_free(&r.body);
}

static void test_stop_without_provider_stop(void **state)
{
    cdc_rest_provider_t p = provider();
    p.stop = NULL;
    char errstr[256];
    cdc_rest_t *keep = S;
    S = cdc_rest_new("127.0.0.1:0", &p, errstr, sizeof(errstr));
    assert_non_null(S);
    expect_empty("PUT", "/connectors/" NAME "/stop", 204);
    assert_int_equal(F.pauses, 1);
    assert_int_equal(F.state, CDC_REST_PAUSED);
    cdc_rest_destroy(S);
    S = keep;
}

static void test_restart(void **state)
{
    /* no flags: the connector only, 204 without a body */
    resp_t r;
    http("POST", "/connectors/" NAME "/restart", NULL, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body.len, 0);
    cdc_buf_free(&r.body);
    assert_int_equal(F.restarts, 1);
    assert_false(F.last_include_tasks);
    assert_false(F.last_only_failed);
    expect_empty("POST", "/connectors/" NAME "/restart?includeTasks=false",
                 204);
    assert_int_equal(F.restarts, 2);

    /* includeTasks: everything RESTARTING, 202 with the status */
    expect_exact("POST", "/connectors/" NAME "/restart?includeTasks=TRUE",
                 NULL, 202,
                 "{\"name\":\"dsql-cdc-source\",\"connector\":{\"state\":"
                 "\"RESTARTING\",\"worker_id\":\"" WORKER "\"},\"tasks\":["
                 "{\"id\":0,\"state\":\"RESTARTING\",\"worker_id\":\""
                 WORKER "\"},{\"id\":1,\"state\":\"RESTARTING\","
                 "\"worker_id\":\"" WORKER "\"}],\"type\":\"source\"}");
    assert_int_equal(F.restarts, 3);
    assert_true(F.last_include_tasks);
    assert_false(F.last_only_failed);

    /* onlyFailed + includeTasks: only the FAILED task; trace kept */
    F.tasks[1].state = CDC_REST_FAILED;
    F.tasks[1].trace = "boom";
    expect_exact("POST",
                 "/connectors/" NAME "/restart?includeTasks=true&onlyFailed=true",
                 NULL, 202,
                 "{\"name\":\"dsql-cdc-source\",\"connector\":{\"state\":"
                 "\"RUNNING\",\"worker_id\":\"" WORKER "\"},\"tasks\":["
                 "{\"id\":0,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER
                 "\"},{\"id\":1,\"state\":\"RESTARTING\",\"worker_id\":\""
                 WORKER "\",\"trace\":\"boom\"}],\"type\":\"source\"}");
    assert_true(F.last_include_tasks);
    assert_true(F.last_only_failed);

    /* onlyFailed alone: a FAILED connector restarts, tasks do not */
    F.state = CDC_REST_FAILED;
    expect_exact("POST", "/connectors/" NAME "/restart?onlyFailed=true",
                 NULL, 202,
                 "{\"name\":\"dsql-cdc-source\",\"connector\":{\"state\":"
                 "\"RESTARTING\",\"worker_id\":\"" WORKER "\"},\"tasks\":["
                 "{\"id\":0,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER
                 "\"},{\"id\":1,\"state\":\"FAILED\",\"worker_id\":\""
                 WORKER "\",\"trace\":\"boom\"}],\"type\":\"source\"}");
    assert_false(F.last_include_tasks);
    assert_true(F.last_only_failed);
    assert_int_equal(F.restarts, 5);

    expect_error("POST", "/connectors/other/restart", NULL, 404,
                 "Unknown connector: other");
    F.fail = CDC_ERR_NOT_FOUND;
    F.fail_msg = "Status for connector dsql-cdc-source not found";
    expect_error("POST", "/connectors/" NAME "/restart?includeTasks=true",
                 NULL, 404, "Status for connector dsql-cdc-source not found");
    assert_int_equal(F.restarts, 5);
}

static void test_task_restart(void **state)
{
    expect_empty("POST", "/connectors/" NAME "/tasks/1/restart", 204);
    assert_int_equal(F.task_restarts, 1);
    assert_int_equal(F.last_task, 1);
    expect_error("POST", "/connectors/" NAME "/tasks/5/restart", NULL, 404,
                 "Unknown task: dsql-cdc-source-5");
    expect_error("POST", "/connectors/other/tasks/0/restart", NULL, 404,
                 "Unknown connector: other");
    expect_error("PUT", "/connectors/" NAME "/tasks/0/restart", NULL, 405,
                 "HTTP 405 Method Not Allowed");
    assert_int_equal(F.task_restarts, 1);
}

static void test_offsets_get(void **state)
{
    expect_exact("GET", "/connectors/" NAME "/offsets", NULL, 200,
                 offsets_text);
    assert_int_equal(F.offsets_gets, 1);
    expect_error("GET", "/connectors/other/offsets", NULL, 404,
                 "Connector other not found");
    F.fail = CDC_ERR_IO;
    F.fail_msg = "offsets file /var/lib/dsqlcdc/offsets.json: Permission denied";
    expect_error("GET", "/connectors/" NAME "/offsets", NULL, 500,
                 "offsets file /var/lib/dsqlcdc/offsets.json: Permission denied");
}

#define NOT_STOPPED                                                          \
    "Connectors must be in the STOPPED state before their offsets can be "   \
    "modified. This can be done for the specified connector by issuing a "   \
    "'PUT' request to the '/connectors/dsql-cdc-source/stop' endpoint"

static void test_offsets_alter(void **state)
{
    const char *body =
        "{\"offsets\":[{\"partition\":{\"table\":\"public.orders\"},"
        "\"offset\":{\"ts\":\"2026-07-01T00:00:00Z\",\"pk\":[\"1\"]}},"
        "{\"partition\":{\"table\":\"public.event_headers\"},\"offset\":null}]}";

    /* running: refused with Connect's words */
    expect_error("PATCH", "/connectors/" NAME "/offsets", body, 400,
                 NOT_STOPPED);
    assert_int_equal(F.alters, 0);

    F.state = CDC_REST_PAUSED;
    expect_exact("PATCH", "/connectors/" NAME "/offsets", body, 200,
                 "{\"message\":\"The offsets for this connector have been "
                 "altered successfully\"}");
    assert_int_equal(F.alters, 1);
    json_t *want = json_loads(body, 0, NULL);
    assert_true(json_equal(want, F.altered));
    json_decref(want);

    F.state = CDC_REST_STOPPED;
    expect_exact("PATCH", "/connectors/" NAME "/offsets", body, 200,
                 "{\"message\":\"The offsets for this connector have been "
                 "altered successfully\"}");
    assert_int_equal(F.alters, 2);

    /* the body is checked first, as Connect's deserializer does */
    expect_error("PATCH", "/connectors/" NAME "/offsets", "{\"offsets\":[]}",
                 400, "Partitions / offsets need to be provided for an alter "
                      "offsets request");
    expect_error("PATCH", "/connectors/" NAME "/offsets", "{}", 400,
                 "Partitions / offsets need to be provided for an alter "
                 "offsets request");
    expect_error("PATCH", "/connectors/" NAME "/offsets", "", 400,
                 "Request body is empty; expected JSON");
    expect_error("PATCH", "/connectors/" NAME "/offsets",
                 "{\"offsets\":[{\"partition\":1,\"offset\":{}}]}", 400,
                 "offsets[0] must be an object with a \"partition\" object "
                 "and an \"offset\" object or null");
    expect_error("PATCH", "/connectors/" NAME "/offsets",
                 "{\"offsets\":{\"partition\":{}}}", 400,
                 "\"offsets\" must be an array");
    expect_error("PATCH", "/connectors/" NAME "/offsets", "[1]", 400,
                 "Request body must be a JSON object {\"offsets\": [...]}");
    resp_t r;
    http("PATCH", "/connectors/" NAME "/offsets", "{\"offsets\": [", &r);
    assert_int_equal(r.status, 400);
    json_t *j = json_loads(body_of(&r), 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "error_code")), 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
                           "Request body is not valid JSON: "));
    json_decref(j);
    cdc_buf_free(&r.body);
    expect_error("PATCH", "/connectors/other/offsets", body, 404,
                 "Connector other not found");

    F.fail = CDC_ERR_INVALID_ARG;
    F.fail_msg = "unknown partition {\"table\":\"public.nope\"}";
    expect_error("PATCH", "/connectors/" NAME "/offsets", body, 400,
                 "unknown partition {\"table\":\"public.nope\"}");
    assert_int_equal(F.alters, 2);

    /* any content type is read as JSON (curl -d sends form-urlencoded) */
    http_opts("PATCH", "/connectors/" NAME "/offsets", body, strlen(body),
              &(opts_t){.ctype_req = "Content-Type: "
                                     "application/x-www-form-urlencoded"},
              &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(F.alters, 3);
    cdc_buf_free(&r.body);
}

static void test_offsets_reset(void **state)
{
    expect_error("DELETE", "/connectors/" NAME "/offsets", NULL, 400,
                 NOT_STOPPED);
    F.state = CDC_REST_FAILED;
    expect_error("DELETE", "/connectors/" NAME "/offsets", NULL, 400,
                 NOT_STOPPED);
    assert_int_equal(F.resets, 0);
    F.state = CDC_REST_PAUSED;
    expect_exact("DELETE", "/connectors/" NAME "/offsets", NULL, 200,
                 "{\"message\":\"The offsets for this connector have been "
                 "reset successfully\"}");
    assert_int_equal(F.resets, 1);
    expect_error("DELETE", "/connectors/other/offsets", NULL, 404,
                 "Connector other not found");
    resp_t r;
    http("POST", "/connectors/" NAME "/offsets", "{}", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD, PATCH, DELETE");
    cdc_buf_free(&r.body);
}

static void test_health(void **state)
{
    expect_exact("GET", "/health", NULL, 200,
                 "{\"status\":\"healthy\",\"message\":\"Worker has completed "
                 "startup and is ready to handle requests.\"}");
    F.health = CDC_REST_STARTING;
    F.health_detail = "Waiting for the first database connection.";
    expect_exact("GET", "/health", NULL, 503,
                 "{\"status\":\"starting\",\"message\":\"Worker is still "
                 "starting up. Waiting for the first database "
                 "connection.\"}");
    F.health = CDC_REST_UNHEALTHY;
    F.health_detail = NULL;
    expect_exact("GET", "/health", NULL, 500,
                 "{\"status\":\"unhealthy\",\"message\":\"Worker was unable "
                 "to handle this request and may be unable to handle other "
                 "requests.\"}");
}

static void test_metrics_endpoint(void **state)
{
    cdc_metrics_task(F.metrics, 1)->rows_polled = 77;
    cdc_buf_t want;
    cdc_buf_init(&want);
    assert_int_equal(cdc_metrics_render(F.metrics, &want), CDC_OK);
    resp_t r;
    http("GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(body_of(&r), cdc_buf_str(&want));
    assert_non_null(strstr(body_of(&r),
        "kafka_connect_source_task_metrics_source_record_poll_total{"
        "connector=\"dsql-cdc-source\",task=\"1\",table=\"public.orders\"} "
        "77\n"));
    cdc_buf_free(&r.body);
    cdc_buf_free(&want);
}

static void test_unknown_paths_and_methods(void **state)
{
    const char *nf = "HTTP 404 Not Found";
    expect_error("GET", "/nope", NULL, 404, nf);
    expect_error("GET", "/connectors/" NAME "/bogus", NULL, 404, nf);
    expect_error("GET", "/connectors//status", NULL, 404, nf);
    expect_error("GET", "//", NULL, 404, nf);
    expect_error("GET", "/connectors/" NAME "/tasks/0", NULL, 404, nf);
    expect_error("GET", "/connectors/" NAME "/tasks/0/status/x", NULL, 404,
                 nf);
    expect_error("GET", "/connector-plugins", NULL, 404, nf);
    expect_error("DELETE", "/", NULL, 405, "HTTP 405 Method Not Allowed");
    expect_error("POST", "/connectors/" NAME "/status", NULL, 405,
                 "HTTP 405 Method Not Allowed");

    /* Connect's create/update/delete: one connector from a file here */
    char single[512];
    snprintf(single, sizeof(single),
             "dsqlcdc runs exactly one connector, %s, defined in its "
             "configuration file; to create, change or delete it, edit that "
             "file and restart dsqlcdc", NAME);
    expect_error("POST", "/connectors",
                 "{\"name\":\"dsql-cdc-source\",\"config\":{}}", 409,
                 "Connector dsql-cdc-source already exists");
    expect_error("POST", "/connectors", "{\"name\":\"another\",\"config\":{}}",
                 405, single);
    expect_error("POST", "/connectors", "{not json", 400,
                 "Request body is not valid JSON: string or '}' expected "
                 "near 'not' (line 1, column 4)");
    expect_error("PUT", "/connectors/" NAME "/config", "{}", 405, single);
    expect_error("PUT", "/connectors/other/config", "{}", 405, single);
    expect_error("DELETE", "/connectors/" NAME, NULL, 405, single);
    resp_t r;
    http("DELETE", "/connectors/" NAME, NULL, &r);
    assert_string_equal(r.allow, "GET, HEAD");
    cdc_buf_free(&r.body);

    /* HEAD: GET's status and headers, no body */
    http("HEAD", "/connectors/" NAME "/status", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    assert_string_equal(r.ctype, "application/json");
    cdc_buf_free(&r.body);
    http("HEAD", "/connectors/other/status", NULL, &r);
    assert_int_equal(r.status, 404);
    cdc_buf_free(&r.body);
}

static void test_body_limit(void **state)
{
    size_t big = CDC_REST_MAX_BODY + 1;
    char *body = malloc(big);
    assert_non_null(body);
    memset(body, ' ', big);
    const char *msg = "{\"error_code\":413,\"message\":\"Request body is "
                      "larger than 1048576 bytes\"}";
    resp_t r;
    /* announced by Content-Length: answered before the body is read */
    http_opts("PATCH", "/connectors/" NAME "/offsets", body, big,
              &(opts_t){0}, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(body_of(&r), msg);
    cdc_buf_free(&r.body);
    /* chunked: read, dropped, then refused */
    http_opts("PATCH", "/connectors/" NAME "/offsets", body, big,
              &(opts_t){.chunked = true}, &r);
    assert_int_equal(r.result, CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_string_equal(body_of(&r), msg);
    cdc_buf_free(&r.body);
    assert_int_equal(F.alters, 0);

    /* exactly at the limit is accepted: valid JSON padded with spaces */
    F.state = CDC_REST_PAUSED;
    const char *json = "{\"offsets\":[{\"partition\":{\"t\":\"a\"},"
                       "\"offset\":{\"v\":1}}]}";
    memcpy(body, json, strlen(json));
    http_opts("PATCH", "/connectors/" NAME "/offsets", body,
              CDC_REST_MAX_BODY, &(opts_t){.chunked = true}, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(F.alters, 1);
    cdc_buf_free(&r.body);
    free(body);

    /* and the server still answers */
    expect_exact("GET", "/connectors/" NAME "/status", NULL, 200,
                 STATUS_RUNNING_PAUSED_CONNECTOR);
}

/* ---- raw sockets, for what libcurl will not send ---- */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)cdc_rest_port(S))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    assert_true(rc == 0 || errno == EINPROGRESS);
    return fd;
}

/* Run the server until it has nothing ready: on loopback, bytes a send()
 * returned for are already queued at the server, so afterwards it has read
 * them. */
static void server_settle(int64_t deadline)
{
    while (now_ms() < deadline) {
        struct pollfd p = {.fd = cdc_rest_fd(S), .events = POLLIN};
        if (poll(&p, 1, 0) <= 0 && cdc_rest_timeout_ms(S) != 0)
            return;
        assert_int_equal(cdc_rest_run(S), CDC_OK);
    }
}

/*
 * Send data, let the server read it, half-close, read until EOF; all while
 * running the server. False if the deadline passed.
 *
 * The half-close goes out only once the server has read the data: with
 * libmicrohttpd 0.9.75's edge-triggered epoll, a FIN that arrives together
 * with an incomplete request is noticed only at the connection timeout
 * (test_partial_request_and_fin shows that this does not block others).
 */
static bool raw_exchange(const void *data, size_t len, cdc_buf_t *reply)
{
    int fd = raw_connect();
    size_t sent = 0;
    bool wr_open = true, done = false;
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (!done && now_ms() < deadline) {
        struct pollfd p[2] = {
            {.fd = fd, .events = POLLIN | (wr_open ? POLLOUT : 0)},
            {.fd = cdc_rest_fd(S), .events = POLLIN},
        };
        int st = cdc_rest_timeout_ms(S);
        poll(p, 2, st >= 0 && st < 1000 ? st : 1000);
        if (wr_open && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = len > sent ? send(fd, (const char *)data + sent,
                                          len - sent, MSG_NOSIGNAL)
                                   : 0;
            if (n > 0)
                sent += (size_t)n;
            if (sent == len || (n < 0 && errno != EAGAIN)) {
                server_settle(deadline);
                shutdown(fd, SHUT_WR);
                wr_open = false;
            }
        }
        if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            char buf[4096];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n > 0)
                cdc_buf_append(reply, buf, (size_t)n);
            else if (n == 0 || errno != EAGAIN)
                done = true;
        }
        assert_int_equal(cdc_rest_run(S), CDC_OK);
    }
    close(fd);
    return done;
}

/* An incomplete request and its FIN in one segment hold that connection
 * until the connection timeout; other clients are served meanwhile. */
static void test_partial_request_and_fin(void **state)
{
    int held[8];
    const char *partial = "GET /connectors HTTP/1.1\r\nHost: abc";
    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
        held[i] = raw_connect();
        struct pollfd p = {.fd = held[i], .events = POLLOUT};
        int64_t deadline = now_ms() + DEADLINE_MS;
        while (poll(&p, 1, 0) <= 0 && now_ms() < deadline) {
            struct pollfd sp = {.fd = cdc_rest_fd(S), .events = POLLIN};
            poll(&sp, 1, 10);
            cdc_rest_run(S);
        }
        assert_int_equal(send(held[i], partial, strlen(partial),
                              MSG_NOSIGNAL | MSG_MORE),
                         (ssize_t)strlen(partial));
        shutdown(held[i], SHUT_WR);
    }
    expect_exact("GET", "/connectors", NULL, 200, "[\"dsql-cdc-source\"]");
    expect_exact("GET", "/connectors/" NAME "/tasks/1/status", NULL, 200,
                 "{\"id\":1,\"state\":\"RUNNING\",\"worker_id\":\"" WORKER
                 "\"}");
    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
        close(held[i]);
}

static void test_raw_requests(void **state)
{
    cdc_buf_t reply;
    cdc_buf_init(&reply);
    const char *req = "GET /connectors/" NAME "/tasks/0/status HTTP/1.1\r\n"
                      "Host: x\r\nConnection: close\r\n\r\n";
    assert_true(raw_exchange(req, strlen(req), &reply));
    assert_non_null(strstr(cdc_buf_str(&reply), "HTTP/1.1 200"));
    assert_non_null(strstr(cdc_buf_str(&reply),
                           "\r\n\r\n{\"id\":0,\"state\":\"RUNNING\","
                           "\"worker_id\":\"" WORKER "\"}"));

    /* a header block beyond the per-connection memory: refused, not hung */
    cdc_buf_reset(&reply);
    cdc_buf_t big;
    cdc_buf_init(&big);
    cdc_buf_puts(&big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 100000; i++)
        cdc_buf_putc(&big, 'a');
    cdc_buf_puts(&big, "\r\n\r\n");
    assert_true(raw_exchange(big.data, big.len, &reply));
    assert_true(reply.len == 0 ||
                strncmp(cdc_buf_str(&reply), "HTTP/1.1 4", 10) == 0);
    cdc_buf_free(&big);

    /* garbage request line */
    cdc_buf_reset(&reply);
    assert_true(raw_exchange("\x01\x02 \xff\r\n\r\n", 8, &reply));
    assert_true(reply.len == 0 ||
                strncmp(cdc_buf_str(&reply), "HTTP/1.", 7) == 0);
    cdc_buf_free(&reply);
}

/* ---- seeded random robustness ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void random_bytes(cdc_buf_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cdc_buf_putc(b, (char)(rnd() & 0xff));
}

static void random_path(cdc_buf_t *p)
{
    static const char *segs[] = {
        "connectors", NAME, "other", "tasks", "0", "1", "-1", "2",
        "99999999999", "status", "restart", "offsets", "config", "pause",
        "resume", "stop", "health", "metrics", "", "..", ".", "%00", "%2F",
        "%ff%fe", "x%20y", "+1", "expand",
    };
    size_t n = rnd() % 7;
    if (n == 0)
        cdc_buf_putc(p, '/');
    for (size_t i = 0; i < n; i++) {
        cdc_buf_putc(p, '/');
        if (rnd() % 12 == 0) { /* long or random segment */
            size_t len = rnd() % 8 ? rnd() % 64 : 3000 + rnd() % 3000;
            for (size_t k = 0; k < len; k++)
                cdc_buf_printf(p, "%%%02x", rnd() & 0xff);
        } else {
            cdc_buf_puts(p, segs[rnd() % (sizeof(segs) / sizeof(segs[0]))]);
        }
    }
    if (rnd() % 3 == 0) {
        static const char *qs[] = {
            "?expand=status", "?expand=info&expand=status", "?expand",
            "?includeTasks=true&onlyFailed=true", "?onlyFailed=TRUE",
            "?a=%00&b", "?&&&=", "?expand=%ff",
        };
        cdc_buf_puts(p, qs[rnd() % (sizeof(qs) / sizeof(qs[0]))]);
    }
}

static void random_body(cdc_buf_t *b)
{
    static const char *bodies[] = {
        "{\"offsets\":[{\"partition\":{\"t\":1},\"offset\":{\"v\":2}}]}",
        "{\"offsets\":[{\"partition\":{},\"offset\":null}]}",
        "{\"offsets\":null}", "{\"name\":\"" NAME "\"}", "[]", "null",
        "{\"offsets\":[1,2,3]}", "\"str\"", "{", "{\"a\":\"\\ud800\"}",
    };
    switch (rnd() % 4) {
    case 0:
        return; /* none */
    case 1:
        cdc_buf_puts(b, bodies[rnd() % (sizeof(bodies) / sizeof(bodies[0]))]);
        return;
    case 2:
        random_bytes(b, rnd() % 256);
        return;
    default:
        random_bytes(b, rnd() % 8192);
        return;
    }
}

static void test_random_robustness(void **state)
{
    static const char *methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE",
                                    "HEAD", "OPTIONS", "TRACE", "FOO",
                                    "get"};
    /* exercise the debug request log too, and check its shape */
    FILE *logf = tmpfile();
    assert_non_null(logf);
    cdc_log_set_stream(logf);
    cdc_log_set_level(CDC_LOG_DEBUG);

    int answered = 0, raw = 0;
    for (int i = 0; i < 3000; i++) {
        cdc_buf_t path, body;
        cdc_buf_init(&path);
        cdc_buf_init(&body);
        unsigned kind = rnd() % 10;
        if (kind < 7) {
            random_path(&path);
            random_body(&body);
            resp_t r;
            http_opts(methods[rnd() % (sizeof(methods) / sizeof(methods[0]))],
                      cdc_buf_str(&path), body.data, body.len,
                      &(opts_t){.chunked = rnd() % 4 == 0,
                                .extra_header = rnd() % 20 == 0
                                    ? "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                    : NULL},
                      &r);
            /* every request libcurl can send gets an HTTP answer, except
             * URLs beyond the server's request-line memory */
            if (r.result == CURLE_OK) {
                assert_true(r.status >= 200 && r.status < 600);
                answered++;
            } else {
                assert_true(path.len > 2048);
            }
            cdc_buf_free(&r.body);
        } else {
            /* raw: random bytes, optionally after a plausible start */
            if (kind == 7)
                cdc_buf_puts(&body, "GET /connectors HTTP/1.1\r\n");
            if (kind == 8)
                cdc_buf_puts(&body, "PATCH /connectors/" NAME
                                    "/offsets HTTP/1.1\r\nContent-Length: "
                                    "5\r\n\r\n");
            random_bytes(&body, rnd() % (kind == 9 ? 70000 : 600));
            cdc_buf_t reply;
            cdc_buf_init(&reply);
            assert_true(raw_exchange(body.data ? body.data : "", body.len,
                                     &reply));
            assert_true(reply.len == 0 ||
                        strncmp(cdc_buf_str(&reply), "HTTP/1.", 7) == 0);
            cdc_buf_free(&reply);
            raw++;
        }
        cdc_buf_free(&path);
        cdc_buf_free(&body);
        if (i % 250 == 0) {
            resp_t r;
            http("GET", "/connectors/" NAME "/status", NULL, &r);
            assert_int_equal(r.status, 200);
            cdc_buf_free(&r.body);
        }
    }
    assert_true(answered > 1500);
    assert_true(raw > 500);

    /* the server is intact: exact answers after all that */
    fake_reset();
    expect_exact("GET", "/connectors/" NAME "/status", NULL, 200,
                 STATUS_RUNNING);
    expect_exact("GET", "/connectors", NULL, 200, "[\"dsql-cdc-source\"]");

    cdc_log_set_level(CDC_LOG_INFO);
    cdc_log_set_stream(NULL);
    fflush(logf);
    rewind(logf);
    char line[4096];
    bool seen = false;
    while (fgets(line, sizeof(line), logf))
        seen = seen || strstr(line, "GET /connectors/" NAME
                                    "/status -> 200");
    fclose(logf);
    assert_true(seen);
}

/* The transport-free core answers the same as the server. */
static void test_dispatch_direct(void **state)
{
    cdc_rest_arg_t args[] = {{"expand", "status"}};
    cdc_rest_request_t req = {.method = "GET", .path = "/connectors",
                              .args = args, .nargs = 1};
    cdc_rest_response_t resp;
    cdc_rest_dispatch(S, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(cdc_buf_str(&resp.body),
                        "{\"dsql-cdc-source\":{\"status\":" STATUS_RUNNING
                        "}}");
    cdc_buf_free(&resp.body);

    req = (cdc_rest_request_t){.method = "", .path = "/connectors"};
    cdc_rest_dispatch(S, &req, &resp);
    assert_int_equal(resp.status, 405);
    cdc_buf_free(&resp.body);

    req = (cdc_rest_request_t){.method = "GET", .path = ""};
    cdc_rest_dispatch(S, &req, &resp);
    assert_int_equal(resp.status, 404);
    cdc_buf_free(&resp.body);

    char body[] = {'{', '\0', '}'};
    req = (cdc_rest_request_t){.method = "PATCH",
                               .path = "/connectors/" NAME "/offsets",
                               .body = body, .body_len = sizeof(body)};
    cdc_rest_dispatch(S, &req, &resp);
    assert_int_equal(resp.status, 400);
    cdc_buf_free(&resp.body);
    assert_string_equal(cdc_rest_state_name(CDC_REST_RESTARTING),
                        "RESTARTING");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_listener, each),
        cmocka_unit_test_setup(test_root, each),
        cmocka_unit_test_setup(test_list, each),
        cmocka_unit_test_setup(test_info_and_config, each),
        cmocka_unit_test_setup(test_status, each),
        cmocka_unit_test_setup(test_tasks, each),
        cmocka_unit_test_setup(test_task_status, each),
        cmocka_unit_test_setup(test_pause_resume_stop, each),
        cmocka_unit_test_setup(test_stop_without_provider_stop, each),
        cmocka_unit_test_setup(test_restart, each),
        cmocka_unit_test_setup(test_task_restart, each),
        cmocka_unit_test_setup(test_offsets_get, each),
        cmocka_unit_test_setup(test_offsets_alter, each),
        cmocka_unit_test_setup(test_offsets_reset, each),
        cmocka_unit_test_setup(test_health, each),
        cmocka_unit_test_setup(test_metrics_endpoint, each),
        cmocka_unit_test_setup(test_unknown_paths_and_methods, each),
        cmocka_unit_test_setup(test_body_limit, each),
        cmocka_unit_test_setup(test_raw_requests, each),
        cmocka_unit_test_setup(test_partial_request_and_fin, each),
        cmocka_unit_test_setup(test_random_robustness, each),
        cmocka_unit_test_setup(test_dispatch_direct, each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
