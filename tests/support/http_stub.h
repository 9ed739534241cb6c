/*
 * http_stub.h - a scripted HTTP/1.1 server on 127.0.0.1 for unit tests.
 *
 * Listens on an ephemeral port (libmicrohttpd, one thread per connection),
 * answers each method + path with canned responses queued by the test, can
 * hold a response back to provoke client timeouts, and records every request
 * (method, path, raw query, headers, body) for assertions. It does not speak
 * TLS and is not meant for load.
 *
 * Typical use:
 *   cdc_http_stub_t *s = cdc_http_stub_start();
 *   cdc_http_stub_reply(s, "GET", "/creds", 200, "application/json", "{...}");
 *   ... point the code under test at cdc_http_stub_url(s) ...
 *   assert_int_equal(cdc_http_stub_count(s, "GET", "/creds"), 1);
 *   cdc_http_stub_stop(s);
 */
#ifndef CDC_TEST_HTTP_STUB_H
#define CDC_TEST_HTTP_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cdc_http_stub cdc_http_stub_t;

typedef struct {
    int status;               /* 0: 200 */
    const char *content_type; /* NULL: no Content-Type header */
    const char *body;         /* NULL: empty body */
    size_t body_len;          /* 0: strlen(body) */
    const char *headers;      /* extra "Name: value" lines, '\n'-separated */
    unsigned delay_ms;        /* hold the response back this long; a stop
                                 cuts the wait short */
    bool drop;                /* close the connection, send nothing */
} cdc_http_stub_resp_t;

typedef struct {
    const char *name;
    const char *value;
} cdc_http_stub_pair_t;

/* A received request; all strings NUL-terminated, owned by the stub. */
typedef struct {
    const char *method;
    const char *path;                   /* without the query */
    const char *query;                  /* raw, after '?'; "" when none */
    const cdc_http_stub_pair_t *headers;
    size_t nheaders;
    const char *body;                   /* "" when none */
    size_t body_len;
} cdc_http_stub_req_t;

/*
 * Optional dynamic answer: called on the server thread for every request
 * before the scripted routes; fill *resp (strings must stay valid until the
 * call returns; the stub copies them) and return true, or return false to
 * fall through to the routes.
 */
typedef bool (*cdc_http_stub_handler_fn)(const cdc_http_stub_req_t *req,
                                         cdc_http_stub_resp_t *resp, void *ud);

/* Start on 127.0.0.1, ephemeral port. NULL on failure (reason on stderr). */
cdc_http_stub_t *cdc_http_stub_start(void);
/* Stop the server, cut pending delays short, free everything. NULL ok. */
void cdc_http_stub_stop(cdc_http_stub_t *s);

uint16_t cdc_http_stub_port(const cdc_http_stub_t *s);
/* "http://127.0.0.1:<port>", no trailing slash; valid until stop. */
const char *cdc_http_stub_url(const cdc_http_stub_t *s);

/*
 * Queue a response for method (NULL: any) and exact path. Responses for one
 * route are served in the order queued; the last one then repeats. The stub
 * copies everything. Unscripted requests get 404 "no route".
 */
void cdc_http_stub_on(cdc_http_stub_t *s, const char *method,
                      const char *path, const cdc_http_stub_resp_t *resp);
/* Shorthand for cdc_http_stub_on with status, content type and body. */
void cdc_http_stub_reply(cdc_http_stub_t *s, const char *method,
                         const char *path, int status,
                         const char *content_type, const char *body);
void cdc_http_stub_set_handler(cdc_http_stub_t *s, cdc_http_stub_handler_fn fn,
                               void *ud);
/* Forget routes, handler and recorded requests. */
void cdc_http_stub_reset(cdc_http_stub_t *s);

/* Requests received so far matching method and path (NULL: any). A request
 * is recorded before its response is sent, so once a client has its answer
 * the request is visible here. */
size_t cdc_http_stub_count(cdc_http_stub_t *s, const char *method,
                           const char *path);
size_t cdc_http_stub_nrequests(cdc_http_stub_t *s);
/* The i-th request (0-based, arrival order); NULL past the end. Valid until
 * reset or stop. */
const cdc_http_stub_req_t *cdc_http_stub_request(cdc_http_stub_t *s, size_t i);
/* The latest request matching method and path (NULL: any); NULL if none. */
const cdc_http_stub_req_t *cdc_http_stub_last(cdc_http_stub_t *s,
                                              const char *method,
                                              const char *path);
/* Wait until at least n requests were recorded or timeout_ms passed (for
 * clients running on another thread). True when reached. */
bool cdc_http_stub_wait_requests(cdc_http_stub_t *s, size_t n,
                                 unsigned timeout_ms);

/* A header of a recorded request, name case-insensitive; NULL if absent. */
const char *cdc_http_stub_req_header(const cdc_http_stub_req_t *r,
                                     const char *name);

#endif
