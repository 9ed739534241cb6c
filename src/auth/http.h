/*
 * http.h - one blocking HTTP request over libcurl, with hard time limits.
 *
 * Owns the curl handle, timeouts, a response size cap and the rule that
 * loopback and link-local traffic never goes through a proxy. Does not know
 * about AWS: callers build URLs, headers and bodies (credential endpoints,
 * STS) and interpret status codes themselves.
 */
#ifndef CDC_AUTH_HTTP_H
#define CDC_AUTH_HTTP_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct {
    const char *method;            /* "GET", "PUT", "POST" */
    const char *url;
    const char *const *headers;    /* "Name: value" lines, as sent */
    size_t nheaders;
    const void *body;              /* NULL: no body */
    size_t body_len;
    long connect_timeout_ms;       /* 0: same as timeout_ms */
    long timeout_ms;               /* whole request; must be > 0 */
    size_t max_response;           /* 0: 1 MiB; larger bodies fail */
    const char *ca_file;           /* PEM bundle for https; NULL: system */
} cdc_http_req_t;

typedef struct {
    long status;                   /* HTTP status, 0 if none was received */
    cdc_buf_t body;                /* caller frees (cdc_buf_wipe for secrets) */
} cdc_http_resp_t;

/* Zero a response before use. */
void cdc_http_resp_init(cdc_http_resp_t *r);
/* Wipe and free the body (responses often carry credentials). NULL ok. */
void cdc_http_resp_clear(cdc_http_resp_t *r);

/*
 * Perform req. Returns CDC_OK whenever an HTTP response arrived, whatever
 * its status (callers decide what a 404 means); CDC_ERR_TIMEOUT when the
 * connect or the whole request ran out of time; CDC_ERR_HTTP for any other
 * transport failure. errstr names the host and what happened
 * ("connect to 169.254.169.254 timed out after 1s"), never headers or body.
 */
cdc_err_t cdc_http_perform(const cdc_http_req_t *req, cdc_http_resp_t *resp,
                           char *errstr, size_t errstr_size);

/* "1s", "250ms": a timeout as a user reads it. */
void cdc_http_fmt_ms(long ms, char *out, size_t out_size);

#endif
