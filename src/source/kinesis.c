/*
 * kinesis.c - Kinesis JSON API client and per-shard pacer (see kinesis.h).
 *
 * Each call is one signed POST on a reused curl handle, so the TLS session
 * and connection stay up between GetRecords calls. Numbers that must stay
 * exact (sequence numbers, hash keys) are strings on the wire and stay
 * strings here; jansson parses integers as int64, which covers
 * MillisBehindLatest and the shard counts.
 */
#include "source/kinesis.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "auth/sigv4.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/log.h"

#define KIN_TARGET_PREFIX "Kinesis_20131202."
#define KIN_CONTENT_TYPE "application/x-amz-json-1.1"
#define KIN_DEFAULT_CONNECT_MS 5000L
#define KIN_DEFAULT_TIMEOUT_MS 30000L
#define KIN_DEFAULT_MAX_RESPONSE ((size_t)32 * 1024 * 1024)
#define KIN_LIST_PAGE 1000
#define KIN_LIST_MAX_PAGES 10000
#define KIN_MSG_IN_ERRSTR 300 /* AWS message characters quoted in errstr */

struct cdc_kinesis {
    CURL *curl;
    char *url;           /* endpoint as given or derived */
    char *host;          /* host[:port], as signed and sent */
    char *path;          /* canonical URI, "/" normally */
    bool local;          /* loopback: never through a proxy */
    char *region;
    char *stream_name;   /* NULL when the ARN is used */
    char *stream_arn;
    char *stream_label;  /* for messages */
    cdc_kinesis_creds_fn creds;
    void *creds_ud;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_response;
    char *ca_file;

    /* per request */
    cdc_buf_t resp;
    bool resp_too_big;
    bool resp_nomem;
    char hdr_request_id[80];
    char hdr_error_type[96];
    char curl_err[CURL_ERROR_SIZE];

    cdc_kinesis_error_t last;
};

/* ---- error table ---- */

static const struct {
    const char *name;
    cdc_err_t err;
} kin_kinds[] = {
#define CDC_KIN_ROW(kind, name, err) {name, err},
    CDC_KINESIS_ERRORS(CDC_KIN_ROW)
#undef CDC_KIN_ROW
};

const char *cdc_kinesis_error_kind_name(cdc_kinesis_error_kind_t kind)
{
    if ((unsigned)kind >= CDC_KIN__COUNT)
        return "unknown";
    return kin_kinds[kind].name;
}

/* AWS error types (the part after '#') and what a reader does with them. */
static const struct {
    const char *type;
    cdc_kinesis_error_kind_t kind;
} kin_types[] = {
    {"ProvisionedThroughputExceededException", CDC_KIN_THROTTLED},
    {"LimitExceededException", CDC_KIN_THROTTLED},
    {"ThrottlingException", CDC_KIN_THROTTLED},
    {"KMSThrottlingException", CDC_KIN_THROTTLED},
    {"TooManyRequestsException", CDC_KIN_THROTTLED},
    {"RequestLimitExceeded", CDC_KIN_THROTTLED},
    {"ExpiredIteratorException", CDC_KIN_EXPIRED_ITERATOR},
    {"ExpiredNextTokenException", CDC_KIN_EXPIRED_TOKEN},
    {"ResourceNotFoundException", CDC_KIN_NOT_FOUND},
    {"ResourceInUseException", CDC_KIN_IN_USE},
    {"AccessDeniedException", CDC_KIN_ACCESS_DENIED},
    {"KMSAccessDeniedException", CDC_KIN_ACCESS_DENIED},
    {"UnrecognizedClientException", CDC_KIN_CREDENTIALS},
    {"InvalidSignatureException", CDC_KIN_CREDENTIALS},
    {"IncompleteSignatureException", CDC_KIN_CREDENTIALS},
    {"MissingAuthenticationTokenException", CDC_KIN_CREDENTIALS},
    {"ExpiredTokenException", CDC_KIN_CREDENTIALS},
    {"InvalidClientTokenId", CDC_KIN_CREDENTIALS},
    {"SignatureDoesNotMatch", CDC_KIN_CREDENTIALS},
    {"InvalidArgumentException", CDC_KIN_INVALID_ARGUMENT},
    {"ValidationException", CDC_KIN_INVALID_ARGUMENT},
    {"SerializationException", CDC_KIN_INVALID_ARGUMENT},
    {"UnknownOperationException", CDC_KIN_INVALID_ARGUMENT},
    {"KMSDisabledException", CDC_KIN_KMS},
    {"KMSInvalidStateException", CDC_KIN_KMS},
    {"KMSNotFoundException", CDC_KIN_KMS},
    {"KMSOptInRequired", CDC_KIN_KMS},
    {"InternalFailure", CDC_KIN_SERVER},
    {"InternalFailureException", CDC_KIN_SERVER},
    {"InternalServerError", CDC_KIN_SERVER},
    {"ServiceUnavailable", CDC_KIN_SERVER},
    {"ServiceUnavailableException", CDC_KIN_SERVER},
};

static cdc_kinesis_error_kind_t kin_classify(const char *type, long status)
{
    for (size_t i = 0; type && i < sizeof kin_types / sizeof kin_types[0];
         i++)
        if (strcmp(type, kin_types[i].type) == 0)
            return kin_types[i].kind;
    if (status == 429)
        return CDC_KIN_THROTTLED;
    if (status >= 500)
        return CDC_KIN_SERVER;
    return CDC_KIN_OTHER;
}

/* ---- small helpers ---- */

/* "5s", "250ms": a timeout as a user reads it. */
static void fmt_ms(long ms, char *out, size_t out_size)
{
    if (ms > 0 && ms % 1000 == 0)
        snprintf(out, out_size, "%lds", ms / 1000);
    else
        snprintf(out, out_size, "%ldms", ms);
}

static void copy_trunc(char *dst, size_t dst_size, const char *src,
                       size_t len)
{
    if (!dst_size)
        return;
    if (len >= dst_size)
        len = dst_size - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static char *xstrdup_opt(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

/* Duplicate a string member of obj; *ok becomes false when the member is
 * present but not a string, or on out of memory. Absent or null: NULL. */
static char *jdup(const json_t *obj, const char *key, bool *ok)
{
    const json_t *v = json_object_get(obj, key);
    char *s;

    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *ok = false;
        return NULL;
    }
    s = strdup(json_string_value(v));
    if (!s)
        *ok = false;
    return s;
}

static int64_t jint(const json_t *obj, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)llround(json_real_value(v));
    return dflt;
}

/* Decode base64 into a new NUL-terminated buffer the caller frees. */
static bool b64_decode(const char *in, size_t len, unsigned char **out,
                       size_t *out_len)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    if (cdc_buf_reserve(&b, 0) != CDC_OK ||
        cdc_base64_decode(in, len, &b) != CDC_OK) {
        cdc_buf_free(&b);
        return false;
    }
    *out = (unsigned char *)b.data;
    *out_len = b.len;
    return true;
}

/* ---- client ---- */

static size_t kin_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    cdc_kinesis_t *k = ud;
    size_t len = size * nmemb;

    if (k->resp.len + len > k->max_response) {
        k->resp_too_big = true;
        return 0;
    }
    if (cdc_buf_append(&k->resp, p, len) != CDC_OK) {
        k->resp_nomem = true;
        return 0;
    }
    return len;
}

/* Keep the two response headers that matter for errors. */
static size_t kin_header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    cdc_kinesis_t *k = ud;
    size_t len = size * nmemb, nlen;
    const char *colon = memchr(p, ':', len);
    char *dst = NULL;
    size_t dst_size = 0;

    if (!colon)
        return len;
    nlen = (size_t)(colon - p);
    if (nlen == strlen("x-amzn-RequestId") &&
        strncasecmp(p, "x-amzn-RequestId", nlen) == 0) {
        dst = k->hdr_request_id;
        dst_size = sizeof k->hdr_request_id;
    } else if (nlen == strlen("x-amzn-ErrorType") &&
               strncasecmp(p, "x-amzn-ErrorType", nlen) == 0) {
        dst = k->hdr_error_type;
        dst_size = sizeof k->hdr_error_type;
    }
    if (dst) {
        const char *v = colon + 1, *end = p + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
                           end[-1] == ' '))
            end--;
        copy_trunc(dst, dst_size, v, (size_t)(end - v));
    }
    return len;
}

static bool host_is_local(const char *host)
{
    return strcasecmp(host, "localhost") == 0 ||
           strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "::1") == 0;
}

/* Split the endpoint into the host header value and the canonical path. */
static cdc_err_t kin_parse_endpoint(cdc_kinesis_t *k, char *errstr,
                                    size_t errstr_size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL,
         *query = NULL;
    cdc_err_t err = CDC_OK;

    if (!u)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                           "out of memory");
    if (curl_url_set(u, CURLUPART_URL, k->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 &&
         strcasecmp(scheme, "https") != 0)) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                          "Kinesis endpoint \"%s\" is not an http(s) URL",
                          k->url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query &&
        *query) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                          "Kinesis endpoint \"%s\" must not have a query",
                          k->url);
        goto out;
    }
    /* Only an explicit port is part of the Host header. */
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        path = NULL;

    k->local = host_is_local(host);
    if (port) {
        size_t n = strlen(host) + strlen(port) + 2;
        k->host = malloc(n);
        if (k->host)
            snprintf(k->host, n, "%s:%s", host, port);
    } else {
        k->host = strdup(host);
    }
    k->path = strdup(path && *path ? path : "/");
    if (!k->host || !k->path)
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                          "out of memory");
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return err;
}

cdc_kinesis_t *cdc_kinesis_new(const cdc_kinesis_opts_t *o, char *errstr,
                               size_t errstr_size)
{
    cdc_kinesis_t *k;

    if (!o || !o->region || !*o->region) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                    "Kinesis client needs a region");
        return NULL;
    }
    if ((!o->stream_name || !*o->stream_name) &&
        (!o->stream_arn || !*o->stream_arn)) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                    "Kinesis client needs a stream name or ARN");
        return NULL;
    }
    if (!o->creds) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                    "Kinesis client needs a credentials source");
        return NULL;
    }

    k = calloc(1, sizeof *k);
    if (!k)
        goto nomem;
    cdc_buf_init(&k->resp);
    k->creds = o->creds;
    k->creds_ud = o->creds_ud;
    k->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                                      : KIN_DEFAULT_CONNECT_MS;
    k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : KIN_DEFAULT_TIMEOUT_MS;
    k->max_response = o->max_response ? o->max_response
                                      : KIN_DEFAULT_MAX_RESPONSE;
    k->region = strdup(o->region);
    if (o->stream_arn && *o->stream_arn)
        k->stream_arn = strdup(o->stream_arn);
    else
        k->stream_name = strdup(o->stream_name);
    k->stream_label = strdup(o->stream_name && *o->stream_name
                                 ? o->stream_name : o->stream_arn);
    k->ca_file = xstrdup_opt(o->ca_file);
    if (o->endpoint_url && *o->endpoint_url) {
        k->url = strdup(o->endpoint_url);
    } else {
        size_t n = strlen(o->region) + 48;
        k->url = malloc(n);
        if (k->url)
            snprintf(k->url, n, "https://kinesis.%s.amazonaws.com%s",
                     o->region,
                     strncmp(o->region, "cn-", 3) == 0 ? ".cn" : "");
    }
    if (!k->region || (!k->stream_arn && !k->stream_name) ||
        !k->stream_label || !k->url || (o->ca_file && *o->ca_file &&
                                        !k->ca_file))
        goto nomem;
    if (kin_parse_endpoint(k, errstr, errstr_size) != CDC_OK) {
        cdc_kinesis_destroy(k);
        return NULL;
    }

    k->curl = curl_easy_init();
    if (!k->curl)
        goto nomem;
    curl_easy_setopt(k->curl, CURLOPT_URL, k->url);
    curl_easy_setopt(k->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(k->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(k->curl, CURLOPT_CONNECTTIMEOUT_MS, k->connect_timeout_ms);
    curl_easy_setopt(k->curl, CURLOPT_TIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, kin_write_cb);
    curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(k->curl, CURLOPT_HEADERFUNCTION, kin_header_cb);
    curl_easy_setopt(k->curl, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, k->curl_err);
    curl_easy_setopt(k->curl, CURLOPT_USERAGENT, "dsqlcdc/" DSQLCDC_VERSION);
    curl_easy_setopt(k->curl, CURLOPT_POST, 1L);
    if (k->local)
        curl_easy_setopt(k->curl, CURLOPT_NOPROXY, "*");
    if (k->ca_file)
        curl_easy_setopt(k->curl, CURLOPT_CAINFO, k->ca_file);
    return k;

nomem:
    cdc_kinesis_destroy(k);
    cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM, "out of memory");
    return NULL;
}

void cdc_kinesis_destroy(cdc_kinesis_t *k)
{
    if (!k)
        return;
    if (k->curl)
        curl_easy_cleanup(k->curl);
    free(k->url);
    free(k->host);
    free(k->path);
    free(k->region);
    free(k->stream_name);
    free(k->stream_arn);
    free(k->stream_label);
    free(k->ca_file);
    cdc_buf_free(&k->resp);
    free(k);
}

const char *cdc_kinesis_endpoint(const cdc_kinesis_t *k)
{
    return k->url;
}

const char *cdc_kinesis_stream(const cdc_kinesis_t *k)
{
    return k->stream_label;
}

const cdc_kinesis_error_t *cdc_kinesis_last_error(const cdc_kinesis_t *k)
{
    return &k->last;
}

/* Record the outcome of a call; returns the cdc_err_t of kind unless err
 * is given (transport timeouts). */
static cdc_err_t kin_fail(cdc_kinesis_t *k, cdc_kinesis_error_kind_t kind,
                          cdc_err_t err)
{
    k->last.kind = kind;
    k->last.err = err != CDC_OK ? err : kin_kinds[kind].err;
    return k->last.err;
}

/* 'stream "s"', or 'stream "s" shard X' when a shard is named. */
static void kin_where(const cdc_kinesis_t *k, const char *shard_id,
                      char *out, size_t out_size)
{
    if (shard_id && *shard_id)
        snprintf(out, out_size, "stream \"%s\" shard %s", k->stream_label,
                 shard_id);
    else
        snprintf(out, out_size, "stream \"%s\"", k->stream_label);
}

/*
 * Turn an error answer into last-error and a message that says what to do.
 */
static cdc_err_t kin_error_answer(cdc_kinesis_t *k, const char *op,
                                  const char *shard_id, char *errstr,
                                  size_t errstr_size)
{
    cdc_kinesis_error_t *e = &k->last;
    json_t *root = json_loadb(k->resp.data ? k->resp.data : "", k->resp.len,
                              0, NULL);
    const char *type = NULL, *msg = NULL, *hash;
    cdc_kinesis_error_kind_t kind;
    char where[512], perm[80], aws[KIN_MSG_IN_ERRSTR + 128];
    cdc_err_t err;

    if (json_is_object(root)) {
        type = json_string_value(json_object_get(root, "__type"));
        msg = json_string_value(json_object_get(root, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(root, "Message"));
    }
    if (!type && k->hdr_error_type[0]) {
        /* "ThrottlingException:http://internal.amazon.com/coral/..." */
        char *colon = strchr(k->hdr_error_type, ':');
        if (colon)
            *colon = '\0';
        type = k->hdr_error_type;
    }
    if (type && (hash = strrchr(type, '#')) != NULL)
        type = hash + 1;
    copy_trunc(e->aws_type, sizeof e->aws_type, type ? type : "",
               type ? strlen(type) : 0);
    copy_trunc(e->aws_message, sizeof e->aws_message, msg ? msg : "",
               msg ? strlen(msg) : 0);
    json_decref(root);

    kind = kin_classify(e->aws_type[0] ? e->aws_type : NULL, e->http_status);
    err = kin_fail(k, kind, CDC_OK);
    kin_where(k, shard_id, where, sizeof where);
    if (e->aws_type[0] && e->aws_message[0])
        snprintf(aws, sizeof aws, "%s: %.*s", e->aws_type, KIN_MSG_IN_ERRSTR,
                 e->aws_message);
    else if (e->aws_type[0])
        snprintf(aws, sizeof aws, "%s", e->aws_type);
    else
        snprintf(aws, sizeof aws, "HTTP %ld", e->http_status);

    switch (kind) {
    case CDC_KIN_THROTTLED:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s was throttled (%s); back off "
                           "and retry", op, where, aws);
    case CDC_KIN_EXPIRED_ITERATOR:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s: the shard iterator expired "
                           "(%s); get a new one after the last sequence "
                           "number read", op, where, aws);
    case CDC_KIN_EXPIRED_TOKEN:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s: the paging token expired (%s); "
                           "list again from the start", op, where, aws);
    case CDC_KIN_NOT_FOUND:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s: not found in region %s at %s "
                           "(%s); check the stream name or ARN and region",
                           op, where, k->region, k->url, aws);
    case CDC_KIN_IN_USE:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s: the stream is busy being "
                           "created, updated or deleted (%s); retry later",
                           op, where, aws);
    case CDC_KIN_ACCESS_DENIED:
        if (strncmp(e->aws_type, "KMS", 3) == 0)
            return cdc_err_set(errstr, errstr_size, err,
                               "Kinesis %s on %s was denied by KMS (%s); "
                               "grant kms:Decrypt on the stream's key to "
                               "the identity dsqlcdc runs as", op, where, aws);
        /* The IAM action is named after the operation. */
        snprintf(perm, sizeof perm, "kinesis:%s", op);
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s was denied (%s); grant %s on "
                           "the stream to the identity dsqlcdc runs as "
                           "(reading needs kinesis:DescribeStreamSummary, "
                           "kinesis:ListShards, kinesis:GetShardIterator "
                           "and kinesis:GetRecords)", op, where, aws, perm);
    case CDC_KIN_CREDENTIALS:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s: the credentials were rejected "
                           "(%s); check that they are valid for region %s "
                           "and not expired", op, where, aws, k->region);
    case CDC_KIN_INVALID_ARGUMENT:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s: invalid request (%s)", op,
                           where, aws);
    case CDC_KIN_KMS:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s: the stream's KMS key is not "
                           "usable (%s)", op, where, aws);
    case CDC_KIN_SERVER:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s: service error, HTTP %ld (%s); "
                           "back off and retry", op, where, e->http_status,
                           aws);
    default:
        return cdc_err_set(errstr, errstr_size, err,
                           "Kinesis %s on %s failed: HTTP %ld (%s)", op,
                           where, e->http_status, aws);
    }
}

static void slist_wipe_free(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p; p = p->next)
        if (p->data)
            explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

static bool slist_add(struct curl_slist **l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool slist_add(struct curl_slist **l, const char *fmt, ...)
{
    cdc_buf_t b;
    struct curl_slist *n;
    va_list ap;
    int len;
    char small[1];

    va_start(ap, fmt);
    len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0)
        return false;
    cdc_buf_init(&b);
    if (cdc_buf_reserve(&b, (size_t)len + 1) != CDC_OK)
        return false;
    va_start(ap, fmt);
    vsnprintf(b.data, (size_t)len + 1, fmt, ap);
    va_end(ap);
    b.len = (size_t)len;
    n = curl_slist_append(*l, b.data);
    cdc_buf_wipe(&b);
    if (!n)
        return false;
    *l = n;
    return true;
}

/*
 * Sign and send one request; on HTTP 200 parse the answer into *resp.
 * shard_id only names the shard in messages.
 */
static cdc_err_t kin_request(cdc_kinesis_t *k, const char *op,
                             const json_t *req, const char *shard_id,
                             json_t **resp, char *errstr, size_t errstr_size)
{
    cdc_err_t err;
    char *body = NULL;
    const cdc_aws_creds_t *creds = NULL;
    char cerr[512] = "", target[96], where[512], amz_date[17];
    cdc_buf_t auth;
    struct curl_slist *hdrs = NULL;
    CURLcode rc;
    long status = 0;
    int64_t t0;

    memset(&k->last, 0, sizeof k->last);
    copy_trunc(k->last.op, sizeof k->last.op, op, strlen(op));
    if (resp)
        *resp = NULL;
    cdc_buf_init(&auth);
    kin_where(k, shard_id, where, sizeof where);

    body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(16));
    if (!body) {
        err = kin_fail(k, CDC_KIN_PROTOCOL, CDC_ERR_NOMEM);
        cdc_err_set(errstr, errstr_size, err,
                    "Kinesis %s: cannot serialize the request", op);
        goto out;
    }

    err = k->creds(k->creds_ud, &creds, cerr, sizeof cerr);
    if (err != CDC_OK || !creds || !creds->access_key_id ||
        !creds->secret_access_key) {
        err = kin_fail(k, CDC_KIN_CREDENTIALS,
                       err != CDC_OK ? err : CDC_ERR_CREDENTIALS);
        cdc_err_set(errstr, errstr_size, err,
                    "Kinesis %s on %s: no AWS credentials: %s", op, where,
                    cerr[0] ? cerr : "the credentials source gave none");
        goto out;
    }

    snprintf(target, sizeof target, KIN_TARGET_PREFIX "%s", op);
    {
        cdc_sigv4_params_t sp = {
            .access_key_id = creds->access_key_id,
            .secret_access_key = creds->secret_access_key,
            .session_token = creds->session_token,
            .region = k->region,
            .service = "kinesis",
            .signing_time = time(NULL),
        };
        const cdc_sigv4_pair_t sh[] = {
            {"host", k->host},
            {"content-type", KIN_CONTENT_TYPE},
            {"x-amz-target", target},
        };
        char serr[256] = "";
        if (cdc_sigv4_sign_headers(&sp, "POST", k->path, "", sh, 3, body,
                                   strlen(body), amz_date, &auth, NULL, serr,
                                   sizeof serr) != CDC_OK) {
            err = kin_fail(k, CDC_KIN_CREDENTIALS, CDC_ERR_CREDENTIALS);
            cdc_err_set(errstr, errstr_size, err,
                        "Kinesis %s on %s: cannot sign the request: %s", op,
                        where, serr);
            goto out;
        }
        if (!slist_add(&hdrs, "Host: %s", k->host) ||
            !slist_add(&hdrs, "Content-Type: %s", KIN_CONTENT_TYPE) ||
            !slist_add(&hdrs, "X-Amz-Target: %s", target) ||
            !slist_add(&hdrs, "X-Amz-Date: %s", amz_date) ||
            (creds->session_token && *creds->session_token &&
             !slist_add(&hdrs, "X-Amz-Security-Token: %s",
                        creds->session_token)) ||
            !slist_add(&hdrs, "Authorization: %s", cdc_buf_str(&auth)) ||
            !slist_add(&hdrs, "Expect:")) {
            err = kin_fail(k, CDC_KIN_PROTOCOL, CDC_ERR_NOMEM);
            cdc_err_set(errstr, errstr_size, err, "out of memory");
            goto out;
        }
    }

    cdc_buf_reset(&k->resp);
    k->resp_too_big = k->resp_nomem = false;
    k->hdr_request_id[0] = k->hdr_error_type[0] = '\0';
    k->curl_err[0] = '\0';
    curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)strlen(body));
    curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, body);

    t0 = cdc_kinesis_now_ms();
    rc = curl_easy_perform(k->curl);
    /* The handle must not keep pointers to what is freed below. */
    curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, NULL);
    copy_trunc(k->last.request_id, sizeof k->last.request_id,
               k->hdr_request_id, strlen(k->hdr_request_id));

    if (rc != CURLE_OK) {
        char tbuf[32];
        cdc_kinesis_error_kind_t kind = CDC_KIN_TRANSPORT;
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            curl_off_t connected_us = 0;
            curl_easy_getinfo(k->curl, CURLINFO_CONNECT_TIME_T, &connected_us);
            err = kin_fail(k, kind, CDC_ERR_TIMEOUT);
            if (connected_us == 0) {
                fmt_ms(k->connect_timeout_ms, tbuf, sizeof tbuf);
                cdc_err_set(errstr, errstr_size, err,
                            "Kinesis %s on %s: connect to %s timed out "
                            "after %s", op, where, k->host, tbuf);
            } else {
                fmt_ms(k->timeout_ms, tbuf, sizeof tbuf);
                cdc_err_set(errstr, errstr_size, err,
                            "Kinesis %s on %s: no complete answer from %s "
                            "within %s", op, where, k->host, tbuf);
            }
        } else if (rc == CURLE_WRITE_ERROR && k->resp_too_big) {
            err = kin_fail(k, CDC_KIN_PROTOCOL, CDC_ERR_HTTP);
            cdc_err_set(errstr, errstr_size, err,
                        "Kinesis %s on %s: answer larger than %zu bytes", op,
                        where, k->max_response);
        } else if (rc == CURLE_WRITE_ERROR && k->resp_nomem) {
            err = kin_fail(k, CDC_KIN_PROTOCOL, CDC_ERR_NOMEM);
            cdc_err_set(errstr, errstr_size, err,
                        "Kinesis %s on %s: out of memory reading the answer",
                        op, where);
        } else {
            err = kin_fail(k, kind, CDC_ERR_HTTP);
            cdc_err_set(errstr, errstr_size, err,
                        "Kinesis %s on %s: request to %s failed: %s", op,
                        where, k->host,
                        k->curl_err[0] ? k->curl_err : curl_easy_strerror(rc));
        }
        goto out;
    }

    curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &status);
    k->last.http_status = status;
    cdc_log_debug("kinesis", "%s %s: HTTP %ld, %zu bytes in %lld ms", op,
                  where, status, k->resp.len,
                  (long long)(cdc_kinesis_now_ms() - t0));
    if (status != 200) {
        err = kin_error_answer(k, op, shard_id, errstr, errstr_size);
        goto out;
    }

    {
        json_error_t jerr;
        json_t *root = k->resp.len
                           ? json_loadb(k->resp.data, k->resp.len, 0, &jerr)
                           : json_object();
        if (!json_is_object(root)) {
            json_decref(root);
            err = kin_fail(k, CDC_KIN_PROTOCOL, CDC_OK);
            cdc_err_set(errstr, errstr_size, err,
                        "Kinesis %s on %s: the answer is not a JSON object%s%s",
                        op, where, root ? "" : ": ",
                        root ? "" : jerr.text);
            goto out;
        }
        if (resp)
            *resp = root;
        else
            json_decref(root);
    }
    err = kin_fail(k, CDC_KIN_OK, CDC_OK);

out:
    cdc_buf_wipe(&auth);
    slist_wipe_free(hdrs);
    free(body);
    return err;
}

cdc_err_t cdc_kinesis_call(cdc_kinesis_t *k, const char *op,
                           const json_t *req, json_t **resp,
                           char *errstr, size_t errstr_size)
{
    if (!k || !op || !*op || !json_is_object(req))
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "Kinesis call needs an operation and a JSON "
                           "object");
    return kin_request(k, op, req, NULL, resp, errstr, errstr_size);
}

/* A new request object naming the stream. */
static json_t *kin_stream_req(const cdc_kinesis_t *k)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (json_object_set_new(o, k->stream_arn ? "StreamARN" : "StreamName",
                            json_string(k->stream_arn ? k->stream_arn
                                                      : k->stream_name))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static cdc_err_t kin_nomem(cdc_kinesis_t *k, char *errstr, size_t errstr_size)
{
    return cdc_err_set(errstr, errstr_size,
                       kin_fail(k, CDC_KIN_PROTOCOL, CDC_ERR_NOMEM),
                       "out of memory");
}

static cdc_err_t kin_bad_answer(cdc_kinesis_t *k, const char *op,
                                const char *shard_id, const char *what,
                                char *errstr, size_t errstr_size)
{
    char where[512];

    kin_where(k, shard_id, where, sizeof where);
    return cdc_err_set(errstr, errstr_size,
                       kin_fail(k, CDC_KIN_PROTOCOL, CDC_OK),
                       "Kinesis %s on %s: unexpected answer: %s", op, where,
                       what);
}

/* ---- DescribeStreamSummary ---- */

void cdc_kinesis_stream_summary_clear(cdc_kinesis_stream_summary_t *s)
{
    if (!s)
        return;
    free(s->stream_name);
    free(s->stream_arn);
    free(s->stream_status);
    free(s->stream_mode);
    memset(s, 0, sizeof *s);
    s->open_shard_count = s->retention_hours = -1;
}

cdc_err_t cdc_kinesis_describe_stream_summary(cdc_kinesis_t *k,
                                              cdc_kinesis_stream_summary_t *out,
                                              char *errstr,
                                              size_t errstr_size)
{
    json_t *req = kin_stream_req(k), *resp = NULL, *d;
    cdc_err_t err;
    bool ok = true;

    memset(out, 0, sizeof *out);
    cdc_kinesis_stream_summary_clear(out);
    if (!req)
        return kin_nomem(k, errstr, errstr_size);
    err = kin_request(k, "DescribeStreamSummary", req, NULL, &resp, errstr,
                      errstr_size);
    json_decref(req);
    if (err != CDC_OK)
        return err;
    d = json_object_get(resp, "StreamDescriptionSummary");
    if (!json_is_object(d)) {
        json_decref(resp);
        return kin_bad_answer(k, "DescribeStreamSummary", NULL,
                              "no StreamDescriptionSummary", errstr,
                              errstr_size);
    }
    out->stream_name = jdup(d, "StreamName", &ok);
    out->stream_arn = jdup(d, "StreamARN", &ok);
    out->stream_status = jdup(d, "StreamStatus", &ok);
    out->stream_mode = jdup(json_object_get(d, "StreamModeDetails"),
                            "StreamMode", &ok);
    out->open_shard_count = jint(d, "OpenShardCount", -1);
    out->retention_hours = jint(d, "RetentionPeriodHours", -1);
    json_decref(resp);
    if (!ok || !out->stream_status) {
        cdc_kinesis_stream_summary_clear(out);
        return kin_bad_answer(k, "DescribeStreamSummary", NULL,
                              "StreamStatus missing or not a string", errstr,
                              errstr_size);
    }
    return CDC_OK;
}

/* ---- ListShards ---- */

static void shard_free(cdc_kinesis_shard_t *s)
{
    free(s->shard_id);
    free(s->parent_shard_id);
    free(s->adjacent_parent_shard_id);
    free(s->starting_hash_key);
    free(s->ending_hash_key);
    free(s->starting_sequence_number);
    free(s->ending_sequence_number);
}

void cdc_kinesis_shard_list_clear(cdc_kinesis_shard_list_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        shard_free(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Append the shards of one page; false with *what set on a bad shape. */
static bool shards_append(cdc_kinesis_shard_list_t *l, const json_t *arr,
                          const char **what)
{
    size_t n = json_array_size(arr);
    cdc_kinesis_shard_t *nv;

    if (!n)
        return true;
    nv = realloc(l->v, (l->n + n) * sizeof *nv);
    if (!nv) {
        *what = "out of memory";
        return false;
    }
    l->v = nv;
    for (size_t i = 0; i < n; i++) {
        const json_t *j = json_array_get(arr, i);
        cdc_kinesis_shard_t *s = &l->v[l->n];
        const json_t *hk = json_object_get(j, "HashKeyRange");
        const json_t *sr = json_object_get(j, "SequenceNumberRange");
        bool ok = true;

        memset(s, 0, sizeof *s);
        l->n++;
        if (!json_is_object(j)) {
            *what = "a shard is not an object";
            return false;
        }
        s->shard_id = jdup(j, "ShardId", &ok);
        s->parent_shard_id = jdup(j, "ParentShardId", &ok);
        s->adjacent_parent_shard_id = jdup(j, "AdjacentParentShardId", &ok);
        s->starting_hash_key = jdup(hk, "StartingHashKey", &ok);
        s->ending_hash_key = jdup(hk, "EndingHashKey", &ok);
        s->starting_sequence_number = jdup(sr, "StartingSequenceNumber", &ok);
        s->ending_sequence_number = jdup(sr, "EndingSequenceNumber", &ok);
        if (!ok || !s->shard_id || !*s->shard_id) {
            *what = "a shard has no ShardId or a field that is not a string";
            return false;
        }
    }
    return true;
}

cdc_err_t cdc_kinesis_list_shards(cdc_kinesis_t *k,
                                  const char *exclusive_start_shard_id,
                                  cdc_kinesis_shard_list_t *out,
                                  char *errstr, size_t errstr_size)
{
    char *token = NULL;
    cdc_err_t err = CDC_OK;

    cdc_kinesis_shard_list_clear(out);
    for (int page = 0;; page++) {
        json_t *req, *resp = NULL;
        const json_t *next;
        const char *what = NULL;
        bool more;

        if (page == KIN_LIST_MAX_PAGES) {
            err = kin_bad_answer(k, "ListShards", NULL,
                                 "more than 10000 pages", errstr,
                                 errstr_size);
            break;
        }
        /* A page after the first names neither the stream nor a start:
         * Kinesis rejects NextToken together with either. */
        req = token ? json_object() : kin_stream_req(k);
        if (!req ||
            (token && json_object_set_new(req, "NextToken",
                                          json_string(token))) ||
            (!token && exclusive_start_shard_id &&
             json_object_set_new(req, "ExclusiveStartShardId",
                                 json_string(exclusive_start_shard_id))) ||
            json_object_set_new(req, "MaxResults",
                                json_integer(KIN_LIST_PAGE))) {
            json_decref(req);
            err = kin_nomem(k, errstr, errstr_size);
            break;
        }
        err = kin_request(k, "ListShards", req, NULL, &resp, errstr,
                          errstr_size);
        json_decref(req);
        if (err != CDC_OK)
            break;
        if (!json_is_array(json_object_get(resp, "Shards")))
            what = "no Shards array";
        else
            shards_append(out, json_object_get(resp, "Shards"), &what);
        if (what) {
            json_decref(resp);
            err = strcmp(what, "out of memory") == 0
                      ? kin_nomem(k, errstr, errstr_size)
                      : kin_bad_answer(k, "ListShards", NULL, what, errstr,
                                       errstr_size);
            break;
        }
        next = json_object_get(resp, "NextToken");
        more = json_is_string(next) && *json_string_value(next);
        free(token);
        token = more ? strdup(json_string_value(next)) : NULL;
        json_decref(resp);
        if (more && !token) {
            err = kin_nomem(k, errstr, errstr_size);
            break;
        }
        if (!more)
            break;
    }
    free(token);
    if (err != CDC_OK)
        cdc_kinesis_shard_list_clear(out);
    return err;
}

/* ---- GetShardIterator ---- */

const char *cdc_kinesis_iter_type_name(cdc_kinesis_iter_type_t t)
{
    switch (t) {
    case CDC_KIN_ITER_TRIM_HORIZON:          return "TRIM_HORIZON";
    case CDC_KIN_ITER_LATEST:                return "LATEST";
    case CDC_KIN_ITER_AT_SEQUENCE_NUMBER:    return "AT_SEQUENCE_NUMBER";
    case CDC_KIN_ITER_AFTER_SEQUENCE_NUMBER: return "AFTER_SEQUENCE_NUMBER";
    case CDC_KIN_ITER_AT_TIMESTAMP:          return "AT_TIMESTAMP";
    }
    return "TRIM_HORIZON";
}

cdc_err_t cdc_kinesis_get_shard_iterator(cdc_kinesis_t *k,
                                         const char *shard_id,
                                         const cdc_kinesis_start_t *start,
                                         char **iterator,
                                         char *errstr, size_t errstr_size)
{
    json_t *req, *resp = NULL;
    const char *it;
    cdc_err_t err;
    bool by_seq;
    int rc;

    *iterator = NULL;
    if (!shard_id || !*shard_id || !start ||
        (unsigned)start->type > CDC_KIN_ITER_AT_TIMESTAMP)
        return cdc_err_set(errstr, errstr_size,
                           kin_fail(k, CDC_KIN_INVALID_ARGUMENT, CDC_OK),
                           "GetShardIterator needs a shard and a start");
    by_seq = start->type == CDC_KIN_ITER_AT_SEQUENCE_NUMBER ||
             start->type == CDC_KIN_ITER_AFTER_SEQUENCE_NUMBER;
    if (by_seq && !cdc_kinesis_seq_valid(start->sequence_number))
        return cdc_err_set(errstr, errstr_size,
                           kin_fail(k, CDC_KIN_INVALID_ARGUMENT, CDC_OK),
                           "GetShardIterator %s on shard %s: \"%s\" is not a "
                           "sequence number",
                           cdc_kinesis_iter_type_name(start->type), shard_id,
                           start->sequence_number ? start->sequence_number
                                                  : "(null)");

    req = kin_stream_req(k);
    if (!req)
        return kin_nomem(k, errstr, errstr_size);
    rc = json_object_set_new(req, "ShardId", json_string(shard_id));
    rc |= json_object_set_new(req, "ShardIteratorType",
                              json_string(cdc_kinesis_iter_type_name(
                                  start->type)));
    if (by_seq)
        rc |= json_object_set_new(req, "StartingSequenceNumber",
                                  json_string(start->sequence_number));
    if (start->type == CDC_KIN_ITER_AT_TIMESTAMP) {
        /* Epoch seconds with millisecond decimals; printed with 16
         * significant digits, a double holds them exactly. */
        json_t *ts = start->timestamp_ms % 1000 == 0
                         ? json_integer(start->timestamp_ms / 1000)
                         : json_real((double)start->timestamp_ms / 1000.0);
        rc |= json_object_set_new(req, "Timestamp", ts);
    }
    if (rc) {
        json_decref(req);
        return kin_nomem(k, errstr, errstr_size);
    }
    err = kin_request(k, "GetShardIterator", req, shard_id, &resp, errstr,
                      errstr_size);
    json_decref(req);
    if (err != CDC_OK)
        return err;
    it = json_string_value(json_object_get(resp, "ShardIterator"));
    if (!it || !*it) {
        json_decref(resp);
        return kin_bad_answer(k, "GetShardIterator", shard_id,
                              "no ShardIterator", errstr, errstr_size);
    }
    *iterator = strdup(it);
    json_decref(resp);
    if (!*iterator)
        return kin_nomem(k, errstr, errstr_size);
    return CDC_OK;
}

/* ---- GetRecords ---- */

void cdc_kinesis_records_init(cdc_kinesis_records_t *r)
{
    memset(r, 0, sizeof *r);
    r->millis_behind_latest = -1;
}

void cdc_kinesis_records_clear(cdc_kinesis_records_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrecords; i++) {
        free(r->records[i].sequence_number);
        free(r->records[i].partition_key);
        free(r->records[i].data);
    }
    free(r->records);
    for (size_t i = 0; i < r->nchild_shards; i++) {
        cdc_kinesis_child_shard_t *c = &r->child_shards[i];
        free(c->shard_id);
        for (size_t j = 0; j < c->nparent_shards; j++)
            free(c->parent_shards[j]);
        free(c->parent_shards);
        free(c->starting_hash_key);
        free(c->ending_hash_key);
    }
    free(r->child_shards);
    free(r->next_iterator);
    cdc_kinesis_records_init(r);
}

/* Parse one record; NULL on success, else what is wrong. */
static const char *record_parse(const json_t *j, cdc_kinesis_record_t *r)
{
    const json_t *seq = json_object_get(j, "SequenceNumber");
    const json_t *pk = json_object_get(j, "PartitionKey");
    const json_t *data = json_object_get(j, "Data");
    const json_t *ts = json_object_get(j, "ApproximateArrivalTimestamp");

    if (!json_is_object(j))
        return "a record is not an object";
    if (!json_is_string(seq) || !cdc_kinesis_seq_valid(json_string_value(seq)))
        return "a record has no valid SequenceNumber";
    if (!json_is_string(pk))
        return "a record has no PartitionKey";
    r->sequence_number = strdup(json_string_value(seq));
    r->partition_key = strdup(json_string_value(pk));
    if (!r->sequence_number || !r->partition_key)
        return "out of memory";
    if (!json_is_string(data))
        return "a record has no Data";
    if (!b64_decode(json_string_value(data), json_string_length(data),
                    &r->data, &r->data_len))
        return "a record's Data is not base64";
    if (json_is_number(ts)) {
        double s = json_number_value(ts);
        if (!(s >= 0 && s < 1e13))
            return "a record's ApproximateArrivalTimestamp is out of range";
        r->arrival_ms = (int64_t)llround(s * 1000.0);
    } else if (ts && !json_is_null(ts)) {
        return "a record's ApproximateArrivalTimestamp is not a number";
    }
    return NULL;
}

static const char *child_parse(const json_t *j, cdc_kinesis_child_shard_t *c)
{
    const json_t *parents = json_object_get(j, "ParentShards");
    const json_t *hk = json_object_get(j, "HashKeyRange");
    bool ok = true;

    if (!json_is_object(j))
        return "a child shard is not an object";
    c->shard_id = jdup(j, "ShardId", &ok);
    c->starting_hash_key = jdup(hk, "StartingHashKey", &ok);
    c->ending_hash_key = jdup(hk, "EndingHashKey", &ok);
    if (!ok)
        return "a child shard field is not a string";
    if (!c->shard_id)
        return "a child shard has no ShardId";
    if (parents && !json_is_array(parents))
        return "a child shard's ParentShards is not an array";
    if (json_array_size(parents)) {
        c->parent_shards = calloc(json_array_size(parents), sizeof(char *));
        if (!c->parent_shards)
            return "out of memory";
        for (size_t i = 0; i < json_array_size(parents); i++) {
            const char *p = json_string_value(json_array_get(parents, i));
            if (!p)
                return "a child shard's parent is not a string";
            if (!(c->parent_shards[c->nparent_shards] = strdup(p)))
                return "out of memory";
            c->nparent_shards++;
        }
    }
    return NULL;
}

cdc_err_t cdc_kinesis_get_records(cdc_kinesis_t *k, const char *iterator,
                                  int limit, const char *shard_id,
                                  cdc_kinesis_records_t *out,
                                  char *errstr, size_t errstr_size)
{
    json_t *req, *resp = NULL;
    const json_t *recs, *children, *next;
    const char *what = NULL;
    cdc_err_t err;
    int rc;

    cdc_kinesis_records_clear(out);
    if (!iterator || !*iterator || limit < 0 || limit > 10000)
        return cdc_err_set(errstr, errstr_size,
                           kin_fail(k, CDC_KIN_INVALID_ARGUMENT, CDC_OK),
                           "GetRecords needs an iterator and a limit in "
                           "0..10000");
    req = json_object();
    if (!req)
        return kin_nomem(k, errstr, errstr_size);
    rc = json_object_set_new(req, "ShardIterator", json_string(iterator));
    if (limit > 0)
        rc |= json_object_set_new(req, "Limit", json_integer(limit));
    if (rc) {
        json_decref(req);
        return kin_nomem(k, errstr, errstr_size);
    }
    err = kin_request(k, "GetRecords", req, shard_id, &resp, errstr,
                      errstr_size);
    json_decref(req);
    if (err != CDC_OK)
        return err;

    recs = json_object_get(resp, "Records");
    children = json_object_get(resp, "ChildShards");
    next = json_object_get(resp, "NextShardIterator");
    if (!json_is_array(recs)) {
        what = "no Records array";
        goto bad;
    }
    if (next && !json_is_null(next) && !json_is_string(next)) {
        what = "NextShardIterator is not a string";
        goto bad;
    }
    if (children && !json_is_null(children) && !json_is_array(children)) {
        what = "ChildShards is not an array";
        goto bad;
    }

    if (json_array_size(recs)) {
        out->records = calloc(json_array_size(recs), sizeof *out->records);
        if (!out->records) {
            what = "out of memory";
            goto bad;
        }
        for (size_t i = 0; i < json_array_size(recs); i++) {
            cdc_kinesis_record_t *r = &out->records[out->nrecords++];
            if ((what = record_parse(json_array_get(recs, i), r)) != NULL)
                goto bad;
            out->bytes += r->data_len;
        }
    }
    if (json_array_size(children)) {
        out->child_shards = calloc(json_array_size(children),
                                   sizeof *out->child_shards);
        if (!out->child_shards) {
            what = "out of memory";
            goto bad;
        }
        for (size_t i = 0; i < json_array_size(children); i++) {
            cdc_kinesis_child_shard_t *c =
                &out->child_shards[out->nchild_shards++];
            if ((what = child_parse(json_array_get(children, i), c)) != NULL)
                goto bad;
        }
    }
    if (json_is_string(next) && *json_string_value(next) &&
        !(out->next_iterator = strdup(json_string_value(next)))) {
        what = "out of memory";
        goto bad;
    }
    out->millis_behind_latest = jint(resp, "MillisBehindLatest", -1);
    json_decref(resp);
    return CDC_OK;

bad:
    json_decref(resp);
    cdc_kinesis_records_clear(out);
    if (strcmp(what, "out of memory") == 0)
        return kin_nomem(k, errstr, errstr_size);
    return kin_bad_answer(k, "GetRecords", shard_id, what, errstr,
                          errstr_size);
}

/* ---- sequence numbers ---- */

bool cdc_kinesis_seq_valid(const char *s)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9')
            return false;
    return n >= 1 && n <= 129;
}

int cdc_kinesis_seq_cmp(const char *a, const char *b)
{
    size_t la, lb;
    int c;

    while (*a == '0' && a[1])
        a++;
    while (*b == '0' && b[1])
        b++;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    c = strcmp(a, b);
    return (c > 0) - (c < 0);
}

/* ---- pacer ---- */

struct cdc_kinesis_pacer {
    int64_t min_interval_ms;
    int64_t bytes_per_sec;
    int64_t base_ms;
    int64_t max_ms;
    uint64_t rng;
    int64_t next_at;
    unsigned failures;
};

int64_t cdc_kinesis_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: small, seedable, good enough for jitter. */
static uint64_t pacer_rand(cdc_kinesis_pacer_t *p)
{
    uint64_t z = (p->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

cdc_kinesis_pacer_t *cdc_kinesis_pacer_new(const cdc_kinesis_pacer_opts_t *o)
{
    cdc_kinesis_pacer_t *p = calloc(1, sizeof *p);
    cdc_kinesis_pacer_opts_t d = {0};

    if (!p)
        return NULL;
    if (!o)
        o = &d;
    p->min_interval_ms = o->min_interval_ms > 0 ? o->min_interval_ms : 200;
    p->bytes_per_sec = o->bytes_per_sec > 0   ? o->bytes_per_sec
                       : o->bytes_per_sec < 0 ? 0
                                              : 2 * 1024 * 1024;
    p->base_ms = o->backoff_base_ms > 0 ? o->backoff_base_ms : 250;
    p->max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms : 10000;
    if (p->max_ms < p->base_ms)
        p->max_ms = p->base_ms;
    if (o->seed) {
        p->rng = o->seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 (uint64_t)(uintptr_t)p;
    }
    return p;
}

void cdc_kinesis_pacer_destroy(cdc_kinesis_pacer_t *p)
{
    free(p);
}

int64_t cdc_kinesis_pacer_next_at(const cdc_kinesis_pacer_t *p)
{
    return p->next_at;
}

int64_t cdc_kinesis_pacer_wait_ms(const cdc_kinesis_pacer_t *p, int64_t now)
{
    return p->next_at > now ? p->next_at - now : 0;
}

static void pacer_not_before(cdc_kinesis_pacer_t *p, int64_t t)
{
    if (t > p->next_at)
        p->next_at = t;
}

void cdc_kinesis_pacer_on_call(cdc_kinesis_pacer_t *p, int64_t now)
{
    pacer_not_before(p, now + p->min_interval_ms);
}

void cdc_kinesis_pacer_on_success(cdc_kinesis_pacer_t *p, int64_t now,
                                  size_t bytes)
{
    p->failures = 0;
    if (p->bytes_per_sec > 0 && bytes > 0) {
        /* Round up: the shard's read budget is per second. */
        int64_t ms = (int64_t)(((uint64_t)bytes * 1000 +
                                (uint64_t)p->bytes_per_sec - 1) /
                               (uint64_t)p->bytes_per_sec);
        pacer_not_before(p, now + ms);
    }
}

int64_t cdc_kinesis_pacer_on_backoff(cdc_kinesis_pacer_t *p, int64_t now)
{
    int64_t cap = p->base_ms, delay;
    unsigned shift;

    if (p->failures < 64)
        p->failures++;
    for (shift = 1; shift < p->failures && cap < p->max_ms; shift++)
        cap *= 2;
    if (cap > p->max_ms)
        cap = p->max_ms;
    /* Half fixed, half random: spreads retries of many shards apart while
     * still waiting at least half the step. */
    delay = cap / 2 + (int64_t)(pacer_rand(p) % (uint64_t)(cap - cap / 2 + 1));
    pacer_not_before(p, now + delay);
    return delay;
}

unsigned cdc_kinesis_pacer_failures(const cdc_kinesis_pacer_t *p)
{
    return p->failures;
}
