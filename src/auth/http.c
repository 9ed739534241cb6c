/*
 * http.c - one blocking HTTP request over libcurl, with hard time limits.
 *
 * Credential endpoints are queried rarely (start-up and refresh), so a fresh
 * easy handle per request keeps this free of shared state.
 */
#include "auth/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define HTTP_DEFAULT_MAX_RESPONSE (1024 * 1024)

typedef struct {
    cdc_buf_t *body;
    size_t max;
    bool too_big;
    bool nomem;
} http_sink_t;

void cdc_http_resp_init(cdc_http_resp_t *r)
{
    r->status = 0;
    cdc_buf_init(&r->body);
}

void cdc_http_resp_clear(cdc_http_resp_t *r)
{
    if (!r)
        return;
    cdc_buf_wipe(&r->body);
    r->status = 0;
}

void cdc_http_fmt_ms(long ms, char *out, size_t out_size)
{
    if (ms > 0 && ms % 1000 == 0)
        snprintf(out, out_size, "%lds", ms / 1000);
    else
        snprintf(out, out_size, "%ldms", ms);
}

static size_t http_write_cb(char *p, size_t size, size_t n, void *ud)
{
    http_sink_t *s = ud;
    size_t len = size * n;

    if (s->body->len + len > s->max) {
        s->too_big = true;
        return 0;
    }
    if (cdc_buf_append(s->body, p, len) != CDC_OK) {
        s->nomem = true;
        return 0;
    }
    return len;
}

/* Loopback and link-local hosts (IMDS, ECS/EKS agents, local tests) are
 * never reachable through a proxy, and sending credentials requests to one
 * would leak them. */
static bool http_host_is_local(const char *host)
{
    static const char *const prefixes[] = {
        "127.", "169.254.", "[::1]", "[fd00:ec2::", "[fe80:",
    };

    if (strcasecmp(host, "localhost") == 0)
        return true;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncasecmp(host, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

cdc_err_t cdc_http_perform(const cdc_http_req_t *req, cdc_http_resp_t *resp,
                           char *errstr, size_t errstr_size)
{
    cdc_err_t err = CDC_OK;
    CURL *curl = NULL;
    CURLU *url = NULL;
    char *host = NULL;
    struct curl_slist *hdrs = NULL;
    char curl_err[CURL_ERROR_SIZE] = "";
    char tbuf[32];
    http_sink_t sink;
    CURLcode rc;

    if (!req || !req->url || !req->method || req->timeout_ms <= 0 || !resp)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "HTTP request needs a method, a URL and a timeout");

    cdc_buf_reset(&resp->body);
    resp->status = 0;

    url = curl_url();
    if (!url) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (curl_url_set(url, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
        curl_url_get(url, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                          "invalid URL \"%s\"", req->url);
        goto out;
    }

    curl = curl_easy_init();
    if (!curl) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                          "cannot create an HTTP handle");
        goto out;
    }

    for (size_t i = 0; i < req->nheaders; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, req->headers[i]);
        if (!n) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                              "out of memory");
            goto out;
        }
        hdrs = n;
    }
    /* A bare "Expect:" stops curl from waiting for 100-continue. */
    {
        struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
        if (!n) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                              "out of memory");
            goto out;
        }
        hdrs = n;
    }

    sink.body = &resp->body;
    sink.max = req->max_response ? req->max_response
                                 : HTTP_DEFAULT_MAX_RESPONSE;
    sink.too_big = false;
    sink.nomem = false;

    long connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                                  : req->timeout_ms;

    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "dsqlcdc/" DSQLCDC_VERSION);
    if (http_host_is_local(host))
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    if (req->ca_file && *req->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_file);

    if (strcmp(req->method, "GET") == 0 && !req->body) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                         req->body ? (const char *)req->body : "");
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    }

    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
        goto out;
    }

    if (rc == CURLE_OPERATION_TIMEDOUT) {
        curl_off_t connected_us = 0;
        curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connected_us);
        if (connected_us == 0) {
            cdc_http_fmt_ms(connect_ms, tbuf, sizeof(tbuf));
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_TIMEOUT,
                              "connect to %s timed out after %s", host, tbuf);
        } else {
            cdc_http_fmt_ms(req->timeout_ms, tbuf, sizeof(tbuf));
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_TIMEOUT,
                              "%s %s: no complete response within %s",
                              req->method, host, tbuf);
        }
    } else if (rc == CURLE_WRITE_ERROR && sink.too_big) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_HTTP,
                          "%s %s: response larger than %zu bytes",
                          req->method, host, sink.max);
    } else if (rc == CURLE_WRITE_ERROR && sink.nomem) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                          "out of memory reading the response from %s", host);
    } else {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_HTTP, "%s %s: %s",
                          req->method, host,
                          curl_err[0] ? curl_err : curl_easy_strerror(rc));
    }
    cdc_buf_wipe(&resp->body);

out:
    if (curl)
        curl_easy_cleanup(curl);
    for (struct curl_slist *h = hdrs; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data)); /* Authorization values */
    curl_slist_free_all(hdrs);
    curl_free(host);
    curl_url_cleanup(url);
    return err;
}
