/*
 * http_stub.c - a scripted HTTP/1.1 server on 127.0.0.1 for unit tests.
 *
 * libmicrohttpd runs one thread per connection, so a held-back response
 * never blocks another request. Everything shared with the test thread
 * (routes, recorded requests, the stop flag) sits behind one mutex; a
 * condition variable on the monotonic clock serves both response delays and
 * cdc_http_stub_wait_requests().
 */
#include "http_stub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

typedef struct {
    int status;
    char *content_type;
    char *body;
    size_t body_len;
    char *headers;
    unsigned delay_ms;
    bool drop;
} stub_resp_t;

typedef struct {
    char *method; /* NULL: any */
    char *path;
    stub_resp_t *resps;
    size_t n;
    size_t next;
} stub_route_t;

/* One request as it arrives; becomes the stub's once recorded. */
typedef struct {
    cdc_http_stub_req_t pub;
    char *raw_uri;
    char *method;
    char *path;
    char *query;
    cdc_http_stub_pair_t *headers;
    size_t nheaders;
    size_t cap_headers;
    char *body;
    size_t body_len;
    size_t body_cap;
    bool started;
    bool oom;
} stub_req_t;

struct cdc_http_stub {
    struct MHD_Daemon *daemon;
    uint16_t port;
    char url[64];

    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;

    stub_route_t *routes;
    size_t nroutes;
    stub_req_t **reqs;
    size_t nreqs;
    size_t cap_reqs;
    cdc_http_stub_handler_fn handler;
    void *handler_ud;
};

static char *stub_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void stub_resp_free(stub_resp_t *r)
{
    free(r->content_type);
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

static bool stub_resp_copy(stub_resp_t *dst, const cdc_http_stub_resp_t *src)
{
    size_t len = src->body ? (src->body_len ? src->body_len : strlen(src->body))
                           : 0;

    memset(dst, 0, sizeof(*dst));
    dst->status = src->status ? src->status : 200;
    dst->delay_ms = src->delay_ms;
    dst->drop = src->drop;
    dst->body_len = len;
    dst->content_type = stub_strdup(src->content_type);
    dst->headers = stub_strdup(src->headers);
    dst->body = malloc(len + 1);
    if (!dst->body || (src->content_type && !dst->content_type) ||
        (src->headers && !dst->headers)) {
        stub_resp_free(dst);
        return false;
    }
    if (len)
        memcpy(dst->body, src->body, len);
    dst->body[len] = '\0';
    return true;
}

static bool stub_resp_dup(stub_resp_t *dst, const stub_resp_t *src)
{
    cdc_http_stub_resp_t pub = {
        .status = src->status,
        .content_type = src->content_type,
        .body = src->body,
        .body_len = src->body_len,
        .headers = src->headers,
        .delay_ms = src->delay_ms,
        .drop = src->drop,
    };
    return stub_resp_copy(dst, &pub);
}

static void stub_req_free(stub_req_t *r)
{
    if (!r)
        return;
    free(r->raw_uri);
    free(r->method);
    free(r->path);
    free(r->query);
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    free(r);
}

static void stub_route_free(stub_route_t *rt)
{
    free(rt->method);
    free(rt->path);
    for (size_t i = 0; i < rt->n; i++)
        stub_resp_free(&rt->resps[i]);
    free(rt->resps);
}

static bool stub_matches(const char *want_method, const char *want_path,
                         const char *method, const char *path)
{
    return (!want_method || strcmp(want_method, method) == 0) &&
           (!want_path || strcmp(want_path, path) == 0);
}

/* libmicrohttpd hands us the raw request target here, before it parses
 * the query; the returned pointer becomes the request's *req_cls. */
static void *stub_uri_log(void *cls, const char *uri,
                          struct MHD_Connection *conn)
{
    stub_req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->raw_uri = strdup(uri ? uri : "");
    if (!r->raw_uri)
        r->oom = true;
    return r;
}

static void stub_completed(void *cls, struct MHD_Connection *conn,
                           void **req_cls, enum MHD_RequestTerminationCode toe)
{
    stub_req_free(*req_cls); /* NULL once recorded */
    *req_cls = NULL;
}

static enum MHD_Result stub_collect_header(void *cls, enum MHD_ValueKind kind,
                                           const char *key, const char *value)
{
    stub_req_t *r = cls;

    if (r->nheaders == r->cap_headers) {
        size_t cap = r->cap_headers ? r->cap_headers * 2 : 16;
        cdc_http_stub_pair_t *h = realloc(r->headers, cap * sizeof(*h));
        if (!h) {
            r->oom = true;
            return MHD_NO;
        }
        r->headers = h;
        r->cap_headers = cap;
    }
    char *k = strdup(key ? key : "");
    char *v = strdup(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        r->oom = true;
        return MHD_NO;
    }
    r->headers[r->nheaders].name = k;
    r->headers[r->nheaders].value = v;
    r->nheaders++;
    return MHD_YES;
}

static bool stub_append_body(stub_req_t *r, const char *data, size_t len)
{
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b)
            return false;
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return true;
}

static bool stub_finish_req(stub_req_t *r, struct MHD_Connection *conn)
{
    const char *q = strchr(r->raw_uri, '?');
    size_t plen = q ? (size_t)(q - r->raw_uri) : strlen(r->raw_uri);

    r->path = strndup(r->raw_uri, plen);
    r->query = strdup(q ? q + 1 : "");
    if (!r->body && !stub_append_body(r, "", 0))
        return false;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, stub_collect_header, r);
    if (!r->path || !r->query || r->oom)
        return false;

    r->pub.method = r->method;
    r->pub.path = r->path;
    r->pub.query = r->query;
    r->pub.headers = r->headers;
    r->pub.nheaders = r->nheaders;
    r->pub.body = r->body;
    r->pub.body_len = r->body_len;
    return true;
}

static bool stub_record(cdc_http_stub_t *s, stub_req_t *r)
{
    bool ok = true;

    pthread_mutex_lock(&s->mu);
    if (s->nreqs == s->cap_reqs) {
        size_t cap = s->cap_reqs ? s->cap_reqs * 2 : 16;
        stub_req_t **v = realloc(s->reqs, cap * sizeof(*v));
        if (v) {
            s->reqs = v;
            s->cap_reqs = cap;
        } else {
            ok = false;
        }
    }
    if (ok) {
        s->reqs[s->nreqs++] = r;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* Pick the response for r into *out (a copy the caller frees). */
static bool stub_choose(cdc_http_stub_t *s, const stub_req_t *r,
                        stub_resp_t *out)
{
    cdc_http_stub_handler_fn fn;
    void *ud;
    bool ok = false;

    pthread_mutex_lock(&s->mu);
    fn = s->handler;
    ud = s->handler_ud;
    pthread_mutex_unlock(&s->mu);

    if (fn) {
        cdc_http_stub_resp_t pub = {0};
        if (fn(&r->pub, &pub, ud))
            return stub_resp_copy(out, &pub);
    }

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nroutes; i++) {
        stub_route_t *rt = &s->routes[i];
        if (!stub_matches(rt->method, rt->path, r->method, r->path))
            continue;
        size_t idx = rt->next < rt->n ? rt->next : rt->n - 1;
        if (rt->next < rt->n)
            rt->next++;
        ok = stub_resp_dup(out, &rt->resps[idx]);
        pthread_mutex_unlock(&s->mu);
        return ok;
    }
    pthread_mutex_unlock(&s->mu);

    cdc_http_stub_resp_t nf = {.status = 404, .content_type = "text/plain",
                               .body = "no route"};
    return stub_resp_copy(out, &nf);
}

static void stub_deadline(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void stub_delay(cdc_http_stub_t *s, unsigned ms)
{
    struct timespec until;

    if (!ms)
        return;
    stub_deadline(&until, ms);
    pthread_mutex_lock(&s->mu);
    while (!s->stopping)
        if (pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->mu);
}

static void stub_add_headers(struct MHD_Response *resp, const char *lines)
{
    const char *p = lines;

    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char *line = strndup(p, len);
        p = eol ? eol + 1 : NULL;
        if (!line)
            return;
        char *colon = strchr(line, ':');
        if (colon) {
            char *v = colon + 1;
            *colon = '\0';
            while (*v == ' ')
                v++;
            MHD_add_response_header(resp, line, v);
        }
        free(line);
    }
}

static enum MHD_Result stub_access(void *cls, struct MHD_Connection *conn,
                                   const char *url, const char *method,
                                   const char *version,
                                   const char *upload_data,
                                   size_t *upload_data_size, void **req_cls)
{
    cdc_http_stub_t *s = cls;
    stub_req_t *r = *req_cls;
    stub_resp_t out;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (!r || r->oom)
        return MHD_NO;
    if (!r->started) {
        r->started = true;
        r->method = strdup(method);
        return r->method ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        if (!stub_append_body(r, upload_data, *upload_data_size))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (!stub_finish_req(r, conn) || !stub_record(s, r))
        return MHD_NO;
    *req_cls = NULL; /* the stub owns it now */

    if (!stub_choose(s, r, &out))
        return MHD_NO;
    stub_delay(s, out.delay_ms);
    if (out.drop) {
        stub_resp_free(&out);
        return MHD_NO;
    }
    resp = MHD_create_response_from_buffer(out.body_len, out.body,
                                           MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        stub_resp_free(&out);
        return MHD_NO;
    }
    if (out.content_type)
        MHD_add_response_header(resp, "Content-Type", out.content_type);
    stub_add_headers(resp, out.headers);
    ret = MHD_queue_response(conn, (unsigned)out.status, resp);
    MHD_destroy_response(resp);
    stub_resp_free(&out);
    return ret;
}

cdc_http_stub_t *cdc_http_stub_start(void)
{
    cdc_http_stub_t *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    s->daemon = MHD_start_daemon(
        /* No MHD_USE_ERROR_LOG: dropped connections are on purpose. */
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
        0, NULL, NULL, stub_access, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_URI_LOG_CALLBACK, stub_uri_log, s,
        MHD_OPTION_NOTIFY_COMPLETED, stub_completed, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(stderr, "http_stub: cannot start libmicrohttpd on 127.0.0.1\n");
        cdc_http_stub_stop(s);
        return NULL;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port) {
        fprintf(stderr, "http_stub: cannot learn the bound port\n");
        cdc_http_stub_stop(s);
        return NULL;
    }
    s->port = info->port;
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", (unsigned)s->port);
    return s;
}

static void stub_clear_locked(cdc_http_stub_t *s)
{
    for (size_t i = 0; i < s->nroutes; i++)
        stub_route_free(&s->routes[i]);
    free(s->routes);
    s->routes = NULL;
    s->nroutes = 0;
    for (size_t i = 0; i < s->nreqs; i++)
        stub_req_free(s->reqs[i]);
    free(s->reqs);
    s->reqs = NULL;
    s->nreqs = 0;
    s->cap_reqs = 0;
    s->handler = NULL;
    s->handler_ud = NULL;
}

void cdc_http_stub_stop(cdc_http_stub_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* joins the connection threads */
    stub_clear_locked(s);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint16_t cdc_http_stub_port(const cdc_http_stub_t *s)
{
    return s->port;
}

const char *cdc_http_stub_url(const cdc_http_stub_t *s)
{
    return s->url;
}

void cdc_http_stub_on(cdc_http_stub_t *s, const char *method,
                      const char *path, const cdc_http_stub_resp_t *resp)
{
    stub_resp_t copy;
    stub_route_t *rt = NULL;

    if (!stub_resp_copy(&copy, resp)) {
        fprintf(stderr, "http_stub: out of memory\n");
        abort();
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nroutes; i++) {
        stub_route_t *c = &s->routes[i];
        bool same_method = (!c->method && !method) ||
                           (c->method && method && strcmp(c->method, method) == 0);
        if (same_method && strcmp(c->path, path) == 0) {
            rt = c;
            break;
        }
    }
    if (!rt) {
        stub_route_t *v = realloc(s->routes, (s->nroutes + 1) * sizeof(*v));
        if (!v)
            abort();
        s->routes = v;
        rt = &s->routes[s->nroutes++];
        memset(rt, 0, sizeof(*rt));
        rt->method = stub_strdup(method);
        rt->path = strdup(path);
        if ((method && !rt->method) || !rt->path)
            abort();
    }
    stub_resp_t *v = realloc(rt->resps, (rt->n + 1) * sizeof(*v));
    if (!v)
        abort();
    rt->resps = v;
    rt->resps[rt->n++] = copy;
    pthread_mutex_unlock(&s->mu);
}

void cdc_http_stub_reply(cdc_http_stub_t *s, const char *method,
                         const char *path, int status,
                         const char *content_type, const char *body)
{
    cdc_http_stub_resp_t r = {.status = status,
                              .content_type = content_type,
                              .body = body};
    cdc_http_stub_on(s, method, path, &r);
}

void cdc_http_stub_set_handler(cdc_http_stub_t *s, cdc_http_stub_handler_fn fn,
                               void *ud)
{
    pthread_mutex_lock(&s->mu);
    s->handler = fn;
    s->handler_ud = ud;
    pthread_mutex_unlock(&s->mu);
}

void cdc_http_stub_reset(cdc_http_stub_t *s)
{
    pthread_mutex_lock(&s->mu);
    stub_clear_locked(s);
    pthread_mutex_unlock(&s->mu);
}

size_t cdc_http_stub_count(cdc_http_stub_t *s, const char *method,
                           const char *path)
{
    size_t n = 0;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nreqs; i++)
        if (stub_matches(method, path, s->reqs[i]->method, s->reqs[i]->path))
            n++;
    pthread_mutex_unlock(&s->mu);
    return n;
}

size_t cdc_http_stub_nrequests(cdc_http_stub_t *s)
{
    return cdc_http_stub_count(s, NULL, NULL);
}

const cdc_http_stub_req_t *cdc_http_stub_request(cdc_http_stub_t *s, size_t i)
{
    const cdc_http_stub_req_t *r = NULL;

    pthread_mutex_lock(&s->mu);
    if (i < s->nreqs)
        r = &s->reqs[i]->pub;
    pthread_mutex_unlock(&s->mu);
    return r;
}

const cdc_http_stub_req_t *cdc_http_stub_last(cdc_http_stub_t *s,
                                              const char *method,
                                              const char *path)
{
    const cdc_http_stub_req_t *r = NULL;

    pthread_mutex_lock(&s->mu);
    for (size_t i = s->nreqs; i-- > 0;) {
        if (stub_matches(method, path, s->reqs[i]->method, s->reqs[i]->path)) {
            r = &s->reqs[i]->pub;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

bool cdc_http_stub_wait_requests(cdc_http_stub_t *s, size_t n,
                                 unsigned timeout_ms)
{
    struct timespec until;
    bool reached;

    stub_deadline(&until, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (s->nreqs < n)
        if (pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT)
            break;
    reached = s->nreqs >= n;
    pthread_mutex_unlock(&s->mu);
    return reached;
}

const char *cdc_http_stub_req_header(const cdc_http_stub_req_t *r,
                                     const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}
