/*
 * rest.h - the Kafka Connect-compatible REST API (plus /health, /metrics).
 *
 * Answers like a Kafka Connect 3.6 worker (distributed mode) that runs one
 * connector: same paths, status codes, JSON shapes and key order, same error
 * wording. Owns the HTTP listener (libmicrohttpd, no threads of its own: the
 * main loop polls cdc_rest_fd() and calls cdc_rest_run(), so every callback
 * of the provider runs on the main thread). Does not own any daemon state:
 * everything it reports or changes goes through the provider.
 */
#ifndef CDC_HTTP_REST_H
#define CDC_HTTP_REST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/* Request bodies larger than this are answered 413. */
#define CDC_REST_MAX_BODY (1024 * 1024)

/* Connect's state names; cdc_rest_state_name() gives the text. */
typedef enum {
    CDC_REST_UNASSIGNED = 0,
    CDC_REST_RUNNING,
    CDC_REST_PAUSED,
    CDC_REST_STOPPED,
    CDC_REST_FAILED,
    CDC_REST_RESTARTING,
} cdc_rest_state_t;

/* /health (Connect 3.9): 200 healthy, 503 starting, 500 unhealthy. */
typedef enum {
    CDC_REST_HEALTHY = 0,
    CDC_REST_STARTING,
    CDC_REST_UNHEALTHY,
} cdc_rest_health_t;

/* What the provider says about one task. Strings are borrowed: they must
 * stay valid until the provider's next callback. */
typedef struct {
    cdc_rest_state_t state;
    const char *trace; /* error trace when FAILED, else NULL */
    const char *table; /* e.g. "public.event_headers" */
} cdc_rest_task_t;

/*
 * The daemon's side. Strings in the first block are copied by
 * cdc_rest_new(). Callbacks are called on the thread that calls
 * cdc_rest_run(); ones marked optional may be NULL. Callbacks that return
 * cdc_err_t fill errstr on failure; the text is sent to the client as the
 * error message, and the code picks the HTTP status: CDC_ERR_NOT_FOUND 404,
 * CDC_ERR_INVALID_ARG / CDC_ERR_PARSE / CDC_ERR_CONFIG 400, others 500.
 */
typedef struct {
    const char *name;      /* the connector's name */
    const char *worker_id; /* "host:port" as Connect reports it */
    const char *version;   /* GET / "version" */
    const char *commit;    /* GET / "commit"; NULL = "" */
    void *ud;              /* passed to every callback */

    /* optional: the Kafka cluster id once known, else NULL (-> null) */
    const char *(*kafka_cluster_id)(void *ud);
    /* connector state; *trace = error trace when FAILED, else NULL */
    cdc_rest_state_t (*connector_state)(void *ud, const char **trace);
    size_t (*task_count)(void *ud);
    /* task i (0 <= i < task_count): its id in Connect is i */
    void (*task)(void *ud, size_t i, cdc_rest_task_t *out);
    /* The connector config: a new reference to an object of string
     * values, secrets already redacted. NULL on failure (-> 500). */
    json_t *(*config)(void *ud);
    /* optional: task i's config, same rules. Default: the connector config
     * with "dsql.tables" set to the task's table. */
    json_t *(*task_config)(void *ud, size_t i);

    cdc_err_t (*pause)(void *ud, char *errstr, size_t n);
    cdc_err_t (*resume)(void *ud, char *errstr, size_t n);
    /* optional: PUT .../stop; NULL = pause (offsets may then be changed) */
    cdc_err_t (*stop)(void *ud, char *errstr, size_t n);
    /* only_failed: restart the connector/tasks only if FAILED;
     * include_tasks: restart tasks too (Connect's RestartRequest) */
    cdc_err_t (*restart)(void *ud, bool include_tasks, bool only_failed,
                         char *errstr, size_t n);
    cdc_err_t (*restart_task)(void *ud, size_t i, char *errstr, size_t n);

    /* *out = new reference {"offsets":[{"partition":{..},"offset":{..}}]} */
    cdc_err_t (*offsets_get)(void *ud, json_t **out, char *errstr, size_t n);
    /* Called only while the connector is PAUSED or STOPPED, with a body
     * already checked to be {"offsets":[{"partition":{..},"offset":{..}|null},
     * ...]} (non-empty; borrowed). */
    cdc_err_t (*offsets_alter)(void *ud, const json_t *body, char *errstr,
                               size_t n);
    /* Called only while the connector is PAUSED or STOPPED. */
    cdc_err_t (*offsets_reset)(void *ud, char *errstr, size_t n);

    /* optional (NULL = always healthy); *detail: extra text or NULL */
    cdc_rest_health_t (*health)(void *ud, const char **detail);
    /* optional (NULL = /metrics is 404): append the exposition text */
    cdc_err_t (*metrics_text)(void *ud, cdc_buf_t *out);
} cdc_rest_provider_t;

typedef struct cdc_rest cdc_rest_t;

/*
 * Listen on "host:port" ("127.0.0.1:8083", "0.0.0.0:8083", "[::1]:8083",
 * ":8083" = all addresses; port 0 = an ephemeral port, see cdc_rest_port).
 * prov is copied. NULL on failure, with the reason in errstr.
 */
cdc_rest_t *cdc_rest_new(const char *listen, const cdc_rest_provider_t *prov,
                         char *errstr, size_t errstr_size);
/* Close the listener and every connection. NULL ok. */
void cdc_rest_destroy(cdc_rest_t *rest);

/* The fd to poll for POLLIN (an epoll set). */
int cdc_rest_fd(const cdc_rest_t *rest);
/* Longest the loop may wait before calling cdc_rest_run() even without
 * activity on the fd, in ms; -1 = no limit. Ask again after every run. */
int cdc_rest_timeout_ms(cdc_rest_t *rest);
/* Accept, read, answer, time out: everything ready now. Never blocks. */
cdc_err_t cdc_rest_run(cdc_rest_t *rest);
/* The bound port (the real one when 0 was asked for). */
unsigned cdc_rest_port(const cdc_rest_t *rest);

const char *cdc_rest_state_name(cdc_rest_state_t s);

/* ---- the transport-free core (used by the listener and by the fuzzer) ---- */

typedef struct {
    const char *key;
    const char *value; /* NULL for "?key" without '=' */
} cdc_rest_arg_t;

typedef struct {
    const char *method;         /* "GET", ... */
    const char *path;           /* decoded, without the query */
    const cdc_rest_arg_t *args; /* decoded query arguments, in order */
    size_t nargs;
    const char *body;           /* may hold NULs; NULL when len is 0 */
    size_t body_len;
} cdc_rest_request_t;

typedef struct {
    unsigned status;
    const char *content_type; /* static; NULL for empty bodies */
    const char *allow;        /* static "Allow" header for 405, else NULL */
    cdc_buf_t body;           /* caller frees (cdc_buf_free) */
} cdc_rest_response_t;

/* Route one request and fill resp (resp->body initialised here). */
void cdc_rest_dispatch(cdc_rest_t *rest, const cdc_rest_request_t *req,
                       cdc_rest_response_t *resp);

#endif
