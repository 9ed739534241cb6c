/*
 * rest.c - Kafka Connect-compatible REST API on libmicrohttpd (see rest.h).
 *
 * libmicrohttpd runs in external-event-loop epoll mode: no threads, the main
 * loop polls the epoll fd and calls cdc_rest_run(). The request handler
 * collects the body, then cdc_rest_dispatch() routes it: transport-free, so
 * the fuzzer can call it directly. Response shapes, key order and messages
 * follow Kafka Connect 3.6 (ConnectorsResource, DistributedHerder,
 * ConnectExceptionMapper); /health follows 3.9.
 */
#include "http/rest.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "common/log.h"

#define CONNECTION_LIMIT 64u
#define CONNECTION_TIMEOUT_S 30u
#define MAX_ARGS 32
#define MAX_SEGS 8
#define MAX_PATH 2048

struct cdc_rest {
    struct MHD_Daemon *mhd;
    cdc_rest_provider_t prov; /* string fields point at the copies below */
    char *name;
    char *worker_id;
    char *version;
    char *commit;
    int epoll_fd;
    unsigned port;
    char mhd_err[256]; /* libmicrohttpd's last message, for start errors */
};

/* Per-request state kept by libmicrohttpd between handler calls. */
typedef struct {
    cdc_buf_t body;
    bool too_big;
    bool nomem;
    bool answered;
} req_ctx_t;

const char *cdc_rest_state_name(cdc_rest_state_t s)
{
    switch (s) {
    case CDC_REST_UNASSIGNED: return "UNASSIGNED";
    case CDC_REST_RUNNING:    return "RUNNING";
    case CDC_REST_PAUSED:     return "PAUSED";
    case CDC_REST_STOPPED:    return "STOPPED";
    case CDC_REST_FAILED:     return "FAILED";
    case CDC_REST_RESTARTING: return "RESTARTING";
    }
    return "UNASSIGNED";
}

/* ---- JSON helpers ---- */

/* A JSON string of s; bytes that are not valid UTF-8 become '?', so a
 * provider's odd trace text cannot make a whole response fail. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Set o[k] = v (stolen). False when v is NULL or the set fails. */
static bool put(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0;
}

static bool append(json_t *a, json_t *v)
{
    return v && json_array_append_new(a, v) == 0;
}

/* ---- responses ---- */

static void set_json(cdc_rest_response_t *resp, unsigned status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    cdc_buf_reset(&resp->body);
    if (!text || cdc_buf_puts(&resp->body, text) != CDC_OK) {
        free(text);
        cdc_buf_reset(&resp->body);
        resp->status = 500;
        resp->content_type = "application/json";
        cdc_buf_puts(&resp->body, "{\"error_code\":500,\"message\":"
                                  "\"Out of memory\"}");
        return;
    }
    free(text);
    resp->status = status;
    resp->content_type = "application/json";
}

static void set_error(cdc_rest_response_t *resp, unsigned status,
                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Connect's ErrorMessage: {"error_code":N,"message":"..."}. */
static void set_error(cdc_rest_response_t *resp, unsigned status,
                      const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    if (o && (!put(o, "error_code", json_integer(status)) ||
              !put(o, "message", jstr(msg)))) {
        json_decref(o);
        o = NULL;
    }
    set_json(resp, status, o);
}

static void set_empty(cdc_rest_response_t *resp, unsigned status)
{
    cdc_buf_reset(&resp->body);
    resp->status = status;
    resp->content_type = NULL;
}

static unsigned status_of(cdc_err_t err)
{
    switch (err) {
    case CDC_ERR_NOT_FOUND:
        return 404;
    case CDC_ERR_INVALID_ARG:
    case CDC_ERR_PARSE:
    case CDC_ERR_CONFIG:
        return 400;
    default:
        return 500;
    }
}

static void set_provider_error(cdc_rest_response_t *resp, cdc_err_t err,
                               const char *errstr)
{
    set_error(resp, status_of(err), "%s", *errstr ? errstr : cdc_err_str(err));
}

/* ---- entities ---- */

/* Connect's AbstractState: state, worker_id, then trace only if non-empty. */
static json_t *state_json(cdc_rest_t *rest, json_t *o, const char *state,
                          const char *trace)
{
    if (!o || !put(o, "state", jstr(state)) ||
        !put(o, "worker_id", jstr(rest->worker_id)) ||
        (trace && *trace && !put(o, "trace", jstr(trace)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Which instances a restart request marks RESTARTING (Connect's
 * RestartRequest.shouldRestartConnector/Task). */
typedef struct {
    bool include_tasks;
    bool only_failed;
} restart_plan_t;

static json_t *task_state_json(cdc_rest_t *rest, size_t i,
                               const restart_plan_t *plan)
{
    cdc_rest_task_t t = {0};
    rest->prov.task(rest->prov.ud, i, &t);
    cdc_rest_state_t st = t.state;
    if (plan && plan->include_tasks &&
        (!plan->only_failed || st == CDC_REST_FAILED))
        st = CDC_REST_RESTARTING;
    json_t *o = json_object();
    if (o && !put(o, "id", json_integer((json_int_t)i))) {
        json_decref(o);
        return NULL;
    }
    return state_json(rest, o, cdc_rest_state_name(st), t.trace);
}

/* ConnectorStateInfo: name, connector, tasks, type. */
static json_t *status_json(cdc_rest_t *rest, const restart_plan_t *plan)
{
    const char *trace = NULL;
    cdc_rest_state_t cs = rest->prov.connector_state(rest->prov.ud, &trace);
    if (plan && (!plan->only_failed || cs == CDC_REST_FAILED))
        cs = CDC_REST_RESTARTING;
    json_t *o = json_object();
    json_t *tasks = json_array();
    if (!o || !tasks || !put(o, "name", jstr(rest->name)) ||
        !put(o, "connector",
             state_json(rest, json_object(), cdc_rest_state_name(cs), trace)))
        goto fail;
    size_t n = rest->prov.task_count(rest->prov.ud);
    for (size_t i = 0; i < n; i++)
        if (!append(tasks, task_state_json(rest, i, plan)))
            goto fail;
    if (!put(o, "tasks", tasks)) {
        tasks = NULL;
        goto fail;
    }
    tasks = NULL;
    if (!put(o, "type", json_string("source")))
        goto fail;
    return o;
fail:
    json_decref(tasks);
    json_decref(o);
    return NULL;
}

static json_t *config_json(cdc_rest_t *rest)
{
    json_t *c = rest->prov.config(rest->prov.ud);
    if (c && !json_is_object(c)) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* ConnectorTaskId: {"connector":..,"task":i}. */
static json_t *task_id_json(cdc_rest_t *rest, size_t i)
{
    json_t *o = json_object();
    if (!o || !put(o, "connector", jstr(rest->name)) ||
        !put(o, "task", json_integer((json_int_t)i))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ConnectorInfo: name, config, tasks, type. */
static json_t *info_json(cdc_rest_t *rest)
{
    json_t *o = json_object();
    json_t *tasks = json_array();
    if (!o || !tasks || !put(o, "name", jstr(rest->name)) ||
        !put(o, "config", config_json(rest)))
        goto fail;
    size_t n = rest->prov.task_count(rest->prov.ud);
    for (size_t i = 0; i < n; i++)
        if (!append(tasks, task_id_json(rest, i)))
            goto fail;
    if (!put(o, "tasks", tasks)) {
        tasks = NULL;
        goto fail;
    }
    tasks = NULL;
    if (!put(o, "type", json_string("source")))
        goto fail;
    return o;
fail:
    json_decref(tasks);
    json_decref(o);
    return NULL;
}

static json_t *task_config_json(cdc_rest_t *rest, size_t i, json_t *conn_cfg)
{
    if (rest->prov.task_config) {
        json_t *c = rest->prov.task_config(rest->prov.ud, i);
        if (c && !json_is_object(c)) {
            json_decref(c);
            return NULL;
        }
        return c;
    }
    json_t *c = json_copy(conn_cfg);
    cdc_rest_task_t t = {0};
    rest->prov.task(rest->prov.ud, i, &t);
    if (c && t.table && !put(c, "dsql.tables", jstr(t.table))) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* List<TaskInfo>: [{"id":{..},"config":{..}}]. */
static json_t *tasks_json(cdc_rest_t *rest)
{
    json_t *cfg = rest->prov.task_config ? NULL : config_json(rest);
    json_t *a = json_array();
    if (!a || (!rest->prov.task_config && !cfg))
        goto fail;
    size_t n = rest->prov.task_count(rest->prov.ud);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        if (!o || !put(o, "id", task_id_json(rest, i)) ||
            !put(o, "config", task_config_json(rest, i, cfg))) {
            json_decref(o);
            goto fail;
        }
        if (!append(a, o))
            goto fail;
    }
    json_decref(cfg);
    return a;
fail:
    json_decref(cfg);
    json_decref(a);
    return NULL;
}

/* ---- request parsing helpers ---- */

static const char *arg_first(const cdc_rest_request_t *req, const char *key)
{
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, key) == 0)
            return req->args[i].value ? req->args[i].value : "";
    return NULL;
}

/* JAX-RS Boolean query parameter: "true" in any case, else false. */
static bool arg_bool(const cdc_rest_request_t *req, const char *key)
{
    const char *v = arg_first(req, key);
    return v && strcasecmp(v, "true") == 0;
}

/* Java Integer.valueOf: optional sign, decimal digits, 32-bit range. */
static bool parse_int32(const char *s, long *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return false;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno || v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = v;
    return true;
}

/* Parse the body as JSON; on failure fill a 400 and return NULL. */
static json_t *body_json(const cdc_rest_request_t *req,
                         cdc_rest_response_t *resp)
{
    json_error_t jerr;
    if (!req->body_len) {
        set_error(resp, 400, "Request body is empty; expected JSON");
        return NULL;
    }
    json_t *j = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, &jerr);
    if (!j)
        set_error(resp, 400, "Request body is not valid JSON: %s "
                  "(line %d, column %d)", jerr.text, jerr.line, jerr.column);
    return j;
}

/* ---- routes ---- */

typedef enum {
    R_NONE = 0,
    R_ROOT,
    R_HEALTH,
    R_METRICS,
    R_CONNECTORS,
    R_CONNECTOR,
    R_CONFIG,
    R_STATUS,
    R_TASKS,
    R_TASK_STATUS,
    R_TASK_RESTART,
    R_PAUSE,
    R_RESUME,
    R_STOP,
    R_RESTART,
    R_OFFSETS,
} route_t;

typedef struct {
    route_t route;
    const char *conn; /* {connector} */
    const char *task; /* {task} */
} match_t;

/* Split path into segs (pointing into buf); the count, or SIZE_MAX when
 * the path is malformed or too long. */
static size_t split(const char *path, char *buf, size_t bufsz, char **segs)
{
    size_t len = strlen(path);
    if (len == 0 || path[0] != '/' || len >= bufsz)
        return SIZE_MAX;
    memcpy(buf, path + 1, len); /* includes the NUL */
    if (len == 1)
        return 0; /* "/" */
    if (buf[len - 2] == '/')
        buf[len - 2] = '\0'; /* one trailing slash is tolerated */
    if (!buf[0])
        return SIZE_MAX; /* "//" */
    size_t n = 0;
    for (char *p = buf;;) {
        if (n == MAX_SEGS)
            return SIZE_MAX;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!*segs[i])
            return SIZE_MAX;
    return n;
}

static match_t match(char **s, size_t n)
{
    match_t m = {R_NONE, NULL, NULL};
    if (n == SIZE_MAX)
        return m;
    if (n == 0) {
        m.route = R_ROOT;
        return m;
    }
    if (n == 1 && strcmp(s[0], "health") == 0)
        m.route = R_HEALTH;
    else if (n == 1 && strcmp(s[0], "metrics") == 0)
        m.route = R_METRICS;
    if (m.route || strcmp(s[0], "connectors") != 0)
        return m;
    if (n == 1) {
        m.route = R_CONNECTORS;
        return m;
    }
    m.conn = s[1];
    if (n == 2) {
        m.route = R_CONNECTOR;
    } else if (n == 3) {
        static const struct { const char *seg; route_t r; } sub[] = {
            {"config", R_CONFIG}, {"status", R_STATUS}, {"tasks", R_TASKS},
            {"pause", R_PAUSE},   {"resume", R_RESUME}, {"stop", R_STOP},
            {"restart", R_RESTART}, {"offsets", R_OFFSETS},
        };
        for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
            if (strcmp(s[2], sub[i].seg) == 0)
                m.route = sub[i].r;
    } else if (n == 5 && strcmp(s[2], "tasks") == 0) {
        m.task = s[3];
        if (strcmp(s[4], "status") == 0)
            m.route = R_TASK_STATUS;
        else if (strcmp(s[4], "restart") == 0)
            m.route = R_TASK_RESTART;
    }
    return m;
}

/* The methods each route answers; "explain" ones exist in Connect but not
 * here (one connector, from the config file). */
typedef struct {
    const char *allow;   /* Allow header */
    const char *explain; /* method answered 405 with a reason, or NULL */
} methods_t;

static methods_t methods_of(route_t r)
{
    switch (r) {
    case R_CONNECTORS:   return (methods_t){"GET, HEAD", "POST"};
    case R_CONNECTOR:    return (methods_t){"GET, HEAD", "DELETE"};
    case R_CONFIG:       return (methods_t){"GET, HEAD", "PUT"};
    case R_TASK_RESTART:
    case R_RESTART:      return (methods_t){"POST", NULL};
    case R_PAUSE:
    case R_RESUME:
    case R_STOP:         return (methods_t){"PUT", NULL};
    case R_OFFSETS:      return (methods_t){"GET, HEAD, PATCH, DELETE", NULL};
    default:             return (methods_t){"GET, HEAD", NULL};
    }
}

static bool method_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);
    if (n == 0)
        return false;
    for (const char *p = allow; (p = strstr(p, method)); p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static void explain_single(cdc_rest_t *rest, cdc_rest_response_t *resp,
                           const char *allow)
{
    set_error(resp, 405, "dsqlcdc runs exactly one connector, %s, defined "
              "in its configuration file; to create, change or delete it, "
              "edit that file and restart dsqlcdc", rest->name);
    resp->allow = allow;
}

static void do_root(cdc_rest_t *rest, cdc_rest_response_t *resp)
{
    const char *cid = rest->prov.kafka_cluster_id
                          ? rest->prov.kafka_cluster_id(rest->prov.ud)
                          : NULL;
    json_t *o = json_object();
    if (o && (!put(o, "version", jstr(rest->version)) ||
              !put(o, "commit", jstr(rest->commit)) ||
              !put(o, "kafka_cluster_id", jstr(cid)))) {
        json_decref(o);
        o = NULL;
    }
    set_json(resp, 200, o);
}

static void do_health(cdc_rest_t *rest, cdc_rest_response_t *resp)
{
    const char *detail = NULL;
    cdc_rest_health_t h = rest->prov.health
                              ? rest->prov.health(rest->prov.ud, &detail)
                              : CDC_REST_HEALTHY;
    const char *status, *msg;
    unsigned code;
    switch (h) {
    case CDC_REST_STARTING:
        code = 503, status = "starting", msg = "Worker is still starting up.";
        break;
    case CDC_REST_UNHEALTHY:
        code = 500, status = "unhealthy",
        msg = "Worker was unable to handle this request and may be unable "
              "to handle other requests.";
        break;
    default:
        code = 200, status = "healthy",
        msg = "Worker has completed startup and is ready to handle requests.";
        detail = NULL;
        break;
    }
    char text[1024];
    if (detail && *detail)
        snprintf(text, sizeof(text), "%s %s", msg, detail);
    else
        snprintf(text, sizeof(text), "%s", msg);
    json_t *o = json_object();
    if (o && (!put(o, "status", json_string(status)) ||
              !put(o, "message", jstr(text)))) {
        json_decref(o);
        o = NULL;
    }
    set_json(resp, code, o);
}

static void do_metrics(cdc_rest_t *rest, cdc_rest_response_t *resp)
{
    if (!rest->prov.metrics_text) {
        set_error(resp, 404, "HTTP 404 Not Found");
        return;
    }
    cdc_buf_reset(&resp->body);
    cdc_err_t err = rest->prov.metrics_text(rest->prov.ud, &resp->body);
    if (err) {
        set_error(resp, 500, "Cannot render metrics: %s", cdc_err_str(err));
        return;
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* GET /connectors[?expand=status&expand=info] */
static void do_list(cdc_rest_t *rest, const cdc_rest_request_t *req,
                    cdc_rest_response_t *resp)
{
    if (!arg_first(req, "expand")) {
        json_t *a = json_array();
        if (a && !append(a, jstr(rest->name))) {
            json_decref(a);
            a = NULL;
        }
        set_json(resp, 200, a);
        return;
    }
    /* Connect keys each expansion in request order; unknown ones are
     * ignored, a repeated one keeps its first place. */
    json_t *exp = json_object();
    for (size_t i = 0; exp && i < req->nargs; i++) {
        const char *k = req->args[i].key, *v = req->args[i].value;
        if (strcmp(k, "expand") != 0 || !v)
            continue;
        json_t *val = NULL;
        if (strcmp(v, "status") == 0)
            val = status_json(rest, NULL);
        else if (strcmp(v, "info") == 0)
            val = info_json(rest);
        else
            continue;
        if (!put(exp, v, val)) {
            json_decref(exp);
            exp = NULL;
        }
    }
    json_t *o = json_object();
    if (o && !put(o, rest->name, exp)) {
        json_decref(o);
        o = NULL;
    } else if (!o) {
        json_decref(exp);
    }
    set_json(resp, 200, o);
}

/* POST /connectors: Connect answers 409 for an existing name. */
static void do_create(cdc_rest_t *rest, const cdc_rest_request_t *req,
                      cdc_rest_response_t *resp, const char *allow)
{
    json_t *j = body_json(req, resp);
    if (!j)
        return;
    json_t *name = json_is_object(j) ? json_object_get(j, "name") : NULL;
    if (json_is_string(name) && strcmp(json_string_value(name), rest->name) == 0)
        set_error(resp, 409, "Connector %s already exists", rest->name);
    else
        explain_single(rest, resp, allow);
    json_decref(j);
}

/* Offsets may change only while the connector does not run (Connect
 * wants STOPPED; PAUSED is as good here: no task polls while paused). */
static bool offsets_modifiable(cdc_rest_t *rest, cdc_rest_response_t *resp)
{
    const char *trace = NULL;
    cdc_rest_state_t s = rest->prov.connector_state(rest->prov.ud, &trace);
    if (s == CDC_REST_PAUSED || s == CDC_REST_STOPPED)
        return true;
    set_error(resp, 400, "Connectors must be in the STOPPED state before "
              "their offsets can be modified. This can be done for the "
              "specified connector by issuing a 'PUT' request to the "
              "'/connectors/%s/stop' endpoint", rest->name);
    return false;
}

/* {"offsets":[{"partition":{..},"offset":{..}|null}, ...]}, non-empty. */
static bool offsets_body_ok(const json_t *j, cdc_rest_response_t *resp)
{
    if (!json_is_object(j)) {
        set_error(resp, 400, "Request body must be a JSON object "
                  "{\"offsets\": [...]}");
        return false;
    }
    const json_t *a = json_object_get(j, "offsets");
    if (!a || json_is_null(a) ||
        (json_is_array(a) && json_array_size(a) == 0)) {
        set_error(resp, 400, "Partitions / offsets need to be provided for "
                  "an alter offsets request");
        return false;
    }
    if (!json_is_array(a)) {
        set_error(resp, 400, "\"offsets\" must be an array");
        return false;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *e = json_array_get(a, i);
        const json_t *p = json_object_get(e, "partition");
        const json_t *o = json_object_get(e, "offset");
        if (!json_is_object(e) || !json_is_object(p) ||
            (o && !json_is_object(o) && !json_is_null(o))) {
            set_error(resp, 400, "offsets[%zu] must be an object with a "
                      "\"partition\" object and an \"offset\" object or "
                      "null", i);
            return false;
        }
    }
    return true;
}

static void do_offsets(cdc_rest_t *rest, const char *method,
                       const cdc_rest_request_t *req, const match_t *m,
                       cdc_rest_response_t *resp)
{
    char errstr[512] = "";
    cdc_err_t err;
    json_t *body = NULL;
    bool patch = strcmp(method, "PATCH") == 0;
    /* As in Connect, the body is read and checked before the name. */
    if (patch && (!(body = body_json(req, resp)) ||
                  !offsets_body_ok(body, resp)))
        goto out;
    if (strcmp(m->conn, rest->name) != 0) {
        set_error(resp, 404, "Connector %s not found", m->conn);
        goto out;
    }
    if (strcmp(method, "GET") == 0) {
        json_t *o = NULL;
        err = rest->prov.offsets_get(rest->prov.ud, &o, errstr,
                                     sizeof(errstr));
        if (err) {
            json_decref(o);
            set_provider_error(resp, err, errstr);
        } else {
            set_json(resp, 200, o);
        }
        goto out;
    }
    if (!offsets_modifiable(rest, resp))
        goto out;
    err = patch ? rest->prov.offsets_alter(rest->prov.ud, body, errstr,
                                           sizeof(errstr))
                : rest->prov.offsets_reset(rest->prov.ud, errstr,
                                           sizeof(errstr));
    if (err) {
        set_provider_error(resp, err, errstr);
        goto out;
    }
    json_t *o = json_object();
    if (o && !put(o, "message",
                  json_string(patch ? "The offsets for this connector have "
                                      "been altered successfully"
                                    : "The offsets for this connector have "
                                      "been reset successfully"))) {
        json_decref(o);
        o = NULL;
    }
    set_json(resp, 200, o);
out:
    json_decref(body);
}

static void do_restart(cdc_rest_t *rest, const cdc_rest_request_t *req,
                       cdc_rest_response_t *resp)
{
    char errstr[512] = "";
    restart_plan_t plan = {arg_bool(req, "includeTasks"),
                           arg_bool(req, "onlyFailed")};
    /* Like Connect: with neither flag only the connector restarts and the
     * answer is 204; otherwise 202 with the states as of the request, those
     * about to restart marked RESTARTING. */
    json_t *snap = NULL;
    if (plan.include_tasks || plan.only_failed) {
        if (!(snap = status_json(rest, &plan))) {
            set_error(resp, 500, "Out of memory");
            return;
        }
    }
    cdc_err_t err = rest->prov.restart(rest->prov.ud, plan.include_tasks,
                                       plan.only_failed, errstr,
                                       sizeof(errstr));
    if (err) {
        json_decref(snap);
        set_provider_error(resp, err, errstr);
    } else if (snap) {
        set_json(resp, 202, snap);
    } else {
        set_empty(resp, 204);
    }
}

/* Connect's NotFoundException wording differs by endpoint. */
static const char *unknown_fmt(route_t r)
{
    switch (r) {
    case R_STATUS:       return "No status found for connector %s";
    case R_PAUSE:
    case R_RESUME:
    case R_STOP:         return "Unknown connector %s";
    case R_RESTART:
    case R_TASK_RESTART: return "Unknown connector: %s";
    default:             return "Connector %s not found";
    }
}

static void do_connector(cdc_rest_t *rest, const char *method,
                         const cdc_rest_request_t *req, const match_t *m,
                         cdc_rest_response_t *resp)
{
    char errstr[512] = "";
    cdc_err_t err = CDC_OK;
    long task = 0;
    size_t ntasks;

    if (m->route == R_OFFSETS) {
        do_offsets(rest, method, req, m, resp);
        return;
    }
    /* Jersey cannot convert a non-integer {task}: no such resource. */
    if (m->task && !parse_int32(m->task, &task)) {
        set_error(resp, 404, "HTTP 404 Not Found");
        return;
    }
    if (strcmp(m->conn, rest->name) != 0) {
        if (m->route == R_TASK_STATUS)
            set_error(resp, 404, "No status found for task %s-%ld", m->conn,
                      task);
        else
            set_error(resp, 404, unknown_fmt(m->route), m->conn);
        return;
    }
    switch (m->route) {
    case R_CONNECTOR:
        set_json(resp, 200, info_json(rest));
        return;
    case R_CONFIG:
        set_json(resp, 200, config_json(rest));
        return;
    case R_STATUS:
        set_json(resp, 200, status_json(rest, NULL));
        return;
    case R_TASKS:
        set_json(resp, 200, tasks_json(rest));
        return;
    case R_TASK_STATUS:
    case R_TASK_RESTART:
        ntasks = rest->prov.task_count(rest->prov.ud);
        if (task < 0 || (unsigned long)task >= ntasks) {
            set_error(resp, 404, m->route == R_TASK_STATUS
                                     ? "No status found for task %s-%ld"
                                     : "Unknown task: %s-%ld",
                      m->conn, task);
            return;
        }
        if (m->route == R_TASK_STATUS) {
            set_json(resp, 200, task_state_json(rest, (size_t)task, NULL));
            return;
        }
        err = rest->prov.restart_task(rest->prov.ud, (size_t)task, errstr,
                                      sizeof(errstr));
        if (!err)
            set_empty(resp, 204);
        break;
    case R_PAUSE:
        if (!(err = rest->prov.pause(rest->prov.ud, errstr, sizeof(errstr))))
            set_empty(resp, 202);
        break;
    case R_RESUME:
        if (!(err = rest->prov.resume(rest->prov.ud, errstr, sizeof(errstr))))
            set_empty(resp, 202);
        break;
    case R_STOP:
        err = rest->prov.stop
                  ? rest->prov.stop(rest->prov.ud, errstr, sizeof(errstr))
                  : rest->prov.pause(rest->prov.ud, errstr, sizeof(errstr));
        if (!err)
            set_empty(resp, 204);
        break;
    case R_RESTART:
        do_restart(rest, req, resp);
        return;
    default:
        set_error(resp, 404, "HTTP 404 Not Found");
        return;
    }
    if (err)
        set_provider_error(resp, err, errstr);
}

void cdc_rest_dispatch(cdc_rest_t *rest, const cdc_rest_request_t *req,
                       cdc_rest_response_t *resp)
{
    char buf[MAX_PATH];
    char *segs[MAX_SEGS];
    cdc_buf_init(&resp->body);
    resp->allow = NULL;
    resp->content_type = NULL;
    resp->status = 500;

    match_t m = match(segs, split(req->path ? req->path : "", buf,
                                  sizeof(buf), segs));
    if (m.route == R_NONE) {
        set_error(resp, 404, "HTTP 404 Not Found");
        return;
    }
    /* HEAD is GET without the body (libmicrohttpd drops it). */
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET"
                                                          : req->method;
    methods_t ms = methods_of(m.route);
    if (!method_allowed(ms.allow, method)) {
        if (ms.explain && strcmp(method, ms.explain) == 0) {
            if (m.route == R_CONNECTORS)
                do_create(rest, req, resp, ms.allow);
            else
                explain_single(rest, resp, ms.allow);
        } else {
            set_error(resp, 405, "HTTP 405 Method Not Allowed");
            resp->allow = ms.allow;
        }
        return;
    }
    switch (m.route) {
    case R_ROOT:       do_root(rest, resp); break;
    case R_HEALTH:     do_health(rest, resp); break;
    case R_METRICS:    do_metrics(rest, resp); break;
    case R_CONNECTORS: do_list(rest, req, resp); break;
    default:           do_connector(rest, method, req, &m, resp); break;
    }
}

/* ---- libmicrohttpd glue ---- */

/* The URL as a log-safe string: printable ASCII, at most 200 bytes. */
static void log_safe(const char *s, char *out, size_t n)
{
    size_t j = 0;
    for (; s && *s && j + 1 < n && j < 200; s++)
        out[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[j] = '\0';
}

static enum MHD_Result queue(struct MHD_Connection *conn, const char *method,
                             const char *url, cdc_rest_response_t *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->body.len, resp->body.data ? resp->body.data : (void *)"",
        MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type);
    if (resp->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
    enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
    MHD_destroy_response(r);
    if (cdc_log_enabled(CDC_LOG_DEBUG)) {
        char m[32], u[256];
        log_safe(method, m, sizeof(m));
        log_safe(url, u, sizeof(u));
        cdc_log_debug("rest", "%s %s -> %u", m, u, resp->status);
    }
    return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *conn,
                                   const char *method, const char *url,
                                   unsigned status, const char *msg)
{
    cdc_rest_response_t resp;
    cdc_buf_init(&resp.body);
    resp.allow = NULL;
    set_error(&resp, status, "%s", msg);
    enum MHD_Result ret = queue(conn, method, url, &resp);
    cdc_buf_free(&resp.body);
    return ret;
}

typedef struct {
    cdc_rest_arg_t args[MAX_ARGS];
    size_t n;
} args_t;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    args_t *a = cls;
    if (a->n < MAX_ARGS && key) {
        a->args[a->n].key = key;
        a->args[a->n].value = value;
        a->n++;
    }
    return MHD_YES;
}

static bool content_length_too_big(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    return errno == 0 && end != cl && v > CDC_REST_MAX_BODY;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    cdc_rest_t *rest = cls;
    req_ctx_t *ctx = *con_cls;

    if (!ctx) {
        if (!(ctx = calloc(1, sizeof(*ctx))))
            return MHD_NO;
        cdc_buf_init(&ctx->body);
        *con_cls = ctx;
        if (content_length_too_big(conn)) {
            /* Answer before reading the body; libmicrohttpd then closes. */
            ctx->answered = true;
            return queue_error(conn, method, url, 413,
                               "Request body is larger than 1048576 bytes");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!ctx->answered && !ctx->too_big && !ctx->nomem) {
            if (*upload_size > CDC_REST_MAX_BODY - ctx->body.len) {
                ctx->too_big = true;
                cdc_buf_free(&ctx->body);
            } else if (cdc_buf_append(&ctx->body, upload, *upload_size)) {
                ctx->nomem = true;
                cdc_buf_free(&ctx->body);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (ctx->answered)
        return MHD_YES;
    ctx->answered = true;
    if (ctx->too_big)
        return queue_error(conn, method, url, 413,
                           "Request body is larger than 1048576 bytes");
    if (ctx->nomem)
        return queue_error(conn, method, url, 500, "Out of memory");

    args_t args = {.n = 0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
    cdc_rest_request_t req = {
        .method = method,
        .path = url,
        .args = args.args,
        .nargs = args.n,
        .body = ctx->body.data,
        .body_len = ctx->body.len,
    };
    cdc_rest_response_t resp;
    cdc_rest_dispatch(rest, &req, &resp);
    enum MHD_Result ret = queue(conn, method, url, &resp);
    cdc_buf_free(&resp.body);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    req_ctx_t *ctx = *con_cls;
    if (!ctx)
        return;
    cdc_buf_free(&ctx->body);
    free(ctx);
    *con_cls = NULL;
}

/* libmicrohttpd reports client mistakes and socket errors here: debug
 * level, except that the last one is kept for a failed start. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    cdc_rest_t *rest = cls;
    vsnprintf(rest->mhd_err, sizeof(rest->mhd_err), fmt, ap);
    size_t n = strlen(rest->mhd_err);
    while (n && (rest->mhd_err[n - 1] == '\n' || rest->mhd_err[n - 1] == '\r'))
        rest->mhd_err[--n] = '\0';
    cdc_log_debug("rest", "libmicrohttpd: %s", rest->mhd_err);
}

/* "host:port", "[v6]:port", ":port" -> one address to bind. */
static cdc_err_t resolve_listen(const char *listen,
                                struct sockaddr_storage *ss, char *errstr,
                                size_t errstr_size)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                           "REST listener \"%s\": expected host:port, e.g. "
                           "0.0.0.0:8083", listen ? listen : "");
    char host[256], port[16];
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    const char *ps = colon + 1;
    size_t pl = strlen(ps);
    bool digits = pl > 0 && pl < 6;
    for (size_t i = 0; digits && i < pl; i++)
        digits = isdigit((unsigned char)ps[i]);
    if (hl >= sizeof(host) || !digits || atoi(ps) > 65535)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                           "REST listener \"%s\": expected host:port with a "
                           "port from 0 to 65535", listen);
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%s", ps);

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(hl && strcmp(host, "*") != 0 ? host : "0.0.0.0",
                         port, &hints, &res);
    if (rc != 0 || !res)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                           "REST listener \"%s\": cannot resolve \"%s\": %s",
                           listen, host, gai_strerror(rc));
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return CDC_OK;
}

cdc_rest_t *cdc_rest_new(const char *listen, const cdc_rest_provider_t *prov,
                         char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    if (!prov || !prov->name || !prov->connector_state || !prov->task_count ||
        !prov->task || !prov->config || !prov->pause || !prov->resume ||
        !prov->restart || !prov->restart_task || !prov->offsets_get ||
        !prov->offsets_alter || !prov->offsets_reset) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                    "REST listener: provider lacks a required callback");
        return NULL;
    }
    if (resolve_listen(listen, &ss, errstr, errstr_size))
        return NULL;

    cdc_rest_t *rest = calloc(1, sizeof(*rest));
    if (!rest) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    rest->prov = *prov;
    rest->name = strdup(prov->name);
    rest->worker_id = strdup(prov->worker_id ? prov->worker_id : "");
    rest->version = strdup(prov->version ? prov->version : "");
    rest->commit = strdup(prov->commit ? prov->commit : "");
    if (!rest->name || !rest->worker_id || !rest->version || !rest->commit) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    rest->prov.name = rest->name;
    rest->prov.worker_id = rest->worker_id;
    rest->prov.version = rest->version;
    rest->prov.commit = rest->commit;

    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    rest->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, rest,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, rest,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, rest,
        MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S,
        MHD_OPTION_END);
    if (!rest->mhd) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_IO,
                    "REST listener %s: cannot start the HTTP server: %s",
                    listen, rest->mhd_err[0] ? rest->mhd_err
                                             : "unknown reason");
        goto fail;
    }
    const union MHD_DaemonInfo *ep =
        MHD_get_daemon_info(rest->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *bp =
        MHD_get_daemon_info(rest->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (!ep || !bp) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_INTERNAL,
                    "REST listener %s: libmicrohttpd gives no epoll fd",
                    listen);
        goto fail;
    }
    rest->epoll_fd = ep->epoll_fd;
    rest->port = bp->port;
    /* A worker id ending in ":0" names the port the system picked. */
    size_t wl = strlen(rest->worker_id);
    if (wl >= 2 && strcmp(rest->worker_id + wl - 2, ":0") == 0) {
        char *w = malloc(wl + 8);
        if (!w) {
            cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        snprintf(w, wl + 8, "%.*s:%u", (int)(wl - 2), rest->worker_id,
                 (unsigned)rest->port);
        free(rest->worker_id);
        rest->worker_id = w;
        rest->prov.worker_id = w;
    }
    return rest;
fail:
    cdc_rest_destroy(rest);
    return NULL;
}

void cdc_rest_destroy(cdc_rest_t *rest)
{
    if (!rest)
        return;
    if (rest->mhd)
        MHD_stop_daemon(rest->mhd);
    free(rest->name);
    free(rest->worker_id);
    free(rest->version);
    free(rest->commit);
    free(rest);
}

int cdc_rest_fd(const cdc_rest_t *rest)
{
    return rest->epoll_fd;
}

int cdc_rest_timeout_ms(cdc_rest_t *rest)
{
    MHD_UNSIGNED_LONG_LONG to = 0;
    if (MHD_get_timeout(rest->mhd, &to) != MHD_YES)
        return -1;
    return to > INT_MAX ? INT_MAX : (int)to;
}

cdc_err_t cdc_rest_run(cdc_rest_t *rest)
{
    return MHD_run(rest->mhd) == MHD_YES ? CDC_OK : CDC_ERR_INTERNAL;
}

unsigned cdc_rest_port(const cdc_rest_t *rest)
{
    return rest->port;
}
