/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h).
 *
 * Hand-written: Debian packages no SigV4 library for C (the AWS C SDK and
 * aws-c-auth are not in the archive), and the two request shapes we need are
 * small. OpenSSL supplies SHA-256 and HMAC. The canonical request is streamed
 * straight into the digest, so nothing is allocated beyond the caller's
 * output buffers; derived keys live on the stack and are wiped after use.
 */
#include "auth/sigv4.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Bounds that let every intermediate live in a fixed stack buffer. AWS
 * documents access key ids up to 128 characters and secrets of 40. */
#define MAX_SECRET 252
#define MAX_CREDENTIAL 320
#define MAX_SCOPE 128
#define MAX_STRING_TO_SIGN 256

/* Headers the signer never signs even when the caller passes them: they are
 * rewritten or dropped by proxies (same list as AWS's own signers). */
static const char *const unsignable_headers[] = {
    "authorization", "cache-control", "connection", "expect", "from",
    "keep-alive", "max-forwards", "pragma", "referer", "te", "trailer",
    "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
};

/* Query parameters the presigner adds; a caller's extra parameter must not
 * use one of these names. */
static const char *const presign_reserved[] = {
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
    "X-Amz-Security-Token", "X-Amz-Signature", "X-Amz-SignedHeaders",
};

/* Where canonical text goes: into a running digest, into a buffer, or both.
 * The first failure sticks, so emitters need no error checks of their own. */
typedef struct {
    EVP_MD_CTX *md;
    cdc_buf_t *copy;
    cdc_err_t err;
} sink_t;

static void sink_put(sink_t *s, const void *p, size_t n)
{
    if (s->err != CDC_OK || n == 0)
        return;
    if (s->md && EVP_DigestUpdate(s->md, p, n) != 1) {
        s->err = CDC_ERR_INTERNAL;
        return;
    }
    if (s->copy && cdc_buf_append(s->copy, p, n) != CDC_OK)
        s->err = CDC_ERR_NOMEM;
}

static void sink_puts(sink_t *s, const char *str)
{
    sink_put(s, str, strlen(str));
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

static void sink_put_encoded(sink_t *s, const char *str, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)str[i];
        if (is_unreserved(c))
            continue;
        sink_put(s, str + run, i - run);
        char esc[3] = {'%', hex[c >> 4], hex[c & 0x0f]};
        sink_put(s, esc, sizeof esc);
        run = i + 1;
    }
    sink_put(s, str + run, len - run);
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static void sink_put_lower(sink_t *s, const char *str)
{
    char chunk[64];
    size_t n = 0;

    for (; *str; str++) {
        chunk[n++] = (char)ascii_lower((unsigned char)*str);
        if (n == sizeof chunk) {
            sink_put(s, chunk, n);
            n = 0;
        }
    }
    sink_put(s, chunk, n);
}

static bool is_header_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A header value as SigV4 canonicalises it: CR/LF/tab/space runs become one
 * space, leading and trailing ones go. */
static void sink_put_header_value(sink_t *s, const char *v)
{
    bool pending_space = false, wrote = false;

    while (*v) {
        if (is_header_space(*v)) {
            pending_space = true;
            v++;
            continue;
        }
        const char *start = v;
        while (*v && !is_header_space(*v))
            v++;
        if (pending_space && wrote)
            sink_put(s, " ", 1);
        sink_put(s, start, (size_t)(v - start));
        pending_space = false;
        wrote = true;
    }
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* Case-insensitive (ASCII) order of header names: the order of their
 * lowercase forms. */
static int name_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = ascii_lower((unsigned char)*a);
        unsigned char cb = ascii_lower((unsigned char)*b);
        if (ca != cb || ca == '\0')
            return (int)ca - (int)cb;
    }
}

/*
 * Byte order of the URI-encoded forms, without encoding. Up to the first
 * differing input byte the encodings agree; after it, a kept byte (all of
 * which sort above '%') beats an escaped one, two kept bytes compare as
 * themselves, and two escapes compare by their uppercase hex, i.e. by value.
 */
static int encoded_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca == cb) {
            if (ca == '\0')
                return 0;
            continue;
        }
        if (ca == '\0' || cb == '\0')
            return ca == '\0' ? -1 : 1;
        bool ka = is_unreserved(ca), kb = is_unreserved(cb);
        if (ka != kb)
            return ka ? 1 : -1;
        return (int)ca - (int)cb;
    }
}

static int query_pair_cmp(const cdc_sigv4_pair_t *a, const cdc_sigv4_pair_t *b)
{
    int c = encoded_cmp(a->name, b->name);
    return c ? c : encoded_cmp(a->value, b->value);
}

static int header_pair_cmp(const cdc_sigv4_pair_t *a,
                           const cdc_sigv4_pair_t *b)
{
    return name_cmp(a->name, b->name);
}

/* Stable insertion sort: the arrays hold a few dozen entries at most, and
 * stability keeps repeated headers in the order the caller gave them. */
static void pairs_sort(cdc_sigv4_pair_t *v, size_t n,
                       int (*cmp)(const cdc_sigv4_pair_t *,
                                  const cdc_sigv4_pair_t *))
{
    for (size_t i = 1; i < n; i++) {
        cdc_sigv4_pair_t x = v[i];
        size_t j = i;
        while (j > 0 && cmp(&v[j - 1], &x) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static bool time_to_tm(time_t t, struct tm *tm)
{
    return gmtime_r(&t, tm) != NULL && tm->tm_year >= 70 &&
           tm->tm_year <= 9999 - 1900;
}

void cdc_sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;

    if (!time_to_tm(t, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        memcpy(out, "00000000T000000Z", 17);
}

cdc_err_t cdc_sigv4_uri_encode(cdc_buf_t *out, const char *s, size_t len)
{
    size_t len0 = out->len;
    sink_t sink = {NULL, out, CDC_OK};

    sink_put_encoded(&sink, s, len);
    if (sink.err != CDC_OK && out->data) {
        out->len = len0;
        out->data[len0] = '\0';
    }
    return sink.err;
}

static bool is_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

/* What both signing forms share: checked parameters, dates and scope. */
typedef struct {
    char amz_date[17];
    char date[9];
    char scope[MAX_SCOPE];
} sig_ctx_t;

static cdc_err_t sig_ctx_init(sig_ctx_t *c, const cdc_sigv4_params_t *p,
                              char *errstr, size_t n)
{
    if (!p)
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "SigV4: no signing parameters");
    if (is_empty(p->access_key_id))
        return cdc_err_set(errstr, n, CDC_ERR_CREDENTIALS,
                           "SigV4: credentials have no access key id");
    if (is_empty(p->secret_access_key))
        return cdc_err_set(errstr, n, CDC_ERR_CREDENTIALS,
                           "SigV4: credentials for access key %s have no "
                           "secret access key", p->access_key_id);
    if (strlen(p->secret_access_key) > MAX_SECRET)
        return cdc_err_set(errstr, n, CDC_ERR_CREDENTIALS,
                           "SigV4: secret access key for %s is longer than "
                           "%d bytes", p->access_key_id, MAX_SECRET);
    if (is_empty(p->region))
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "SigV4: no region to sign for");
    if (is_empty(p->service))
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "SigV4: no service to sign for");

    struct tm tm;
    if (!time_to_tm(p->signing_time, &tm))
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "SigV4: signing time %lld is outside years "
                           "1970-9999", (long long)p->signing_time);
    cdc_sigv4_amz_date(p->signing_time, c->amz_date);
    memcpy(c->date, c->amz_date, 8);
    c->date[8] = '\0';

    int len = snprintf(c->scope, sizeof c->scope, "%s/%s/%s/aws4_request",
                       c->date, p->region, p->service);
    if (len < 0 || (size_t)len >= sizeof c->scope)
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "SigV4: region \"%s\" and service \"%s\" too long",
                           p->region, p->service);
    return CDC_OK;
}

static bool hmac_sha256(const void *key, size_t key_len, const void *data,
                        size_t data_len, unsigned char out[32])
{
    unsigned int out_len = 0;

    return HMAC(EVP_sha256(), key, (int)key_len, data, data_len, out,
                &out_len) != NULL && out_len == 32;
}

/*
 * signature = hex(HMAC(k, string_to_sign)) with k derived from the secret,
 * date, region and service. Every key on the way is wiped before returning.
 */
static cdc_err_t sign_string(const cdc_sigv4_params_t *p, const sig_ctx_t *c,
                             const unsigned char creq_hash[32],
                             char signature[65], cdc_sigv4_debug_t *dbg,
                             char *errstr, size_t n)
{
    char creq_hex[65];
    char sts[MAX_STRING_TO_SIGN];
    unsigned char secret[4 + MAX_SECRET];
    unsigned char k_date[32], k_region[32], k_service[32], k_signing[32];
    unsigned char sig[32];
    size_t secret_len = strlen(p->secret_access_key);
    cdc_err_t err = CDC_OK;

    hex_encode(creq_hash, 32, creq_hex);
    int len = snprintf(sts, sizeof sts, ALGORITHM "\n%s\n%s\n%s", c->amz_date,
                       c->scope, creq_hex);
    if (len < 0 || (size_t)len >= sizeof sts)
        return cdc_err_set(errstr, n, CDC_ERR_INTERNAL,
                           "SigV4: string to sign does not fit");

    memcpy(secret, "AWS4", 4);
    memcpy(secret + 4, p->secret_access_key, secret_len);
    if (!hmac_sha256(secret, 4 + secret_len, c->date, strlen(c->date),
                     k_date) ||
        !hmac_sha256(k_date, 32, p->region, strlen(p->region), k_region) ||
        !hmac_sha256(k_region, 32, p->service, strlen(p->service),
                     k_service) ||
        !hmac_sha256(k_service, 32, "aws4_request", 12, k_signing) ||
        !hmac_sha256(k_signing, 32, sts, (size_t)len, sig)) {
        err = cdc_err_set(errstr, n, CDC_ERR_INTERNAL,
                          "SigV4: HMAC-SHA256 failed in OpenSSL");
        goto out;
    }
    hex_encode(sig, 32, signature);

    if (dbg) {
        cdc_buf_reset(&dbg->string_to_sign);
        if (cdc_buf_append(&dbg->string_to_sign, sts, (size_t)len) != CDC_OK) {
            err = cdc_err_set(errstr, n, CDC_ERR_NOMEM,
                              "SigV4: out of memory for debug output");
            goto out;
        }
        memcpy(dbg->signature, signature, 65);
    }

out:
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(k_date, sizeof k_date);
    OPENSSL_cleanse(k_region, sizeof k_region);
    OPENSSL_cleanse(k_service, sizeof k_service);
    OPENSSL_cleanse(k_signing, sizeof k_signing);
    return err;
}

/* Start hashing a canonical request; a copy goes to dbg when asked. */
static cdc_err_t creq_begin(sink_t *s, cdc_sigv4_debug_t *dbg, char *errstr,
                            size_t n)
{
    s->md = EVP_MD_CTX_new();
    s->copy = NULL;
    s->err = CDC_OK;
    if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM,
                           "SigV4: cannot start SHA-256 in OpenSSL");
    if (dbg) {
        cdc_buf_reset(&dbg->canonical_request);
        s->copy = &dbg->canonical_request;
    }
    return CDC_OK;
}

static cdc_err_t creq_end(sink_t *s, unsigned char hash[32], char *errstr,
                          size_t n)
{
    unsigned int len = 0;

    if (s->err == CDC_OK &&
        (EVP_DigestFinal_ex(s->md, hash, &len) != 1 || len != 32))
        s->err = CDC_ERR_INTERNAL;
    if (s->err != CDC_OK)
        return cdc_err_set(errstr, n, s->err,
                           "SigV4: cannot build canonical request (%s)",
                           cdc_err_str(s->err));
    return CDC_OK;
}

static void put_query(sink_t *s, const cdc_sigv4_pair_t *v, size_t nv,
                      const char *skip_value)
{
    bool first = true;

    for (size_t i = 0; i < nv; i++) {
        if (v[i].value == skip_value)
            continue;
        if (!first)
            sink_put(s, "&", 1);
        sink_put_encoded(s, v[i].name, strlen(v[i].name));
        sink_put(s, "=", 1);
        sink_put_encoded(s, v[i].value, strlen(v[i].value));
        first = false;
    }
}

cdc_err_t cdc_sigv4_presign(const cdc_sigv4_params_t *p, const char *method,
                            const char *host, const char *path,
                            const cdc_sigv4_pair_t *extra, size_t nextra,
                            int expires_secs, cdc_buf_t *out,
                            cdc_sigv4_debug_t *dbg,
                            char *errstr, size_t errstr_size)
{
    sig_ctx_t c;
    cdc_sigv4_pair_t q[CDC_SIGV4_MAX_PAIRS + 7];
    char credential[MAX_CREDENTIAL];
    char expires[16];
    char signature[65] = "";
    unsigned char creq_hash[32];
    sink_t s = {NULL, NULL, CDC_OK};
    sink_t o = {NULL, out, CDC_OK};
    size_t nq = 0, out_len0 = out->len;
    cdc_err_t err;

    err = sig_ctx_init(&c, p, errstr, errstr_size);
    if (err != CDC_OK)
        return err;
    if (is_empty(method) || is_empty(host) || is_empty(path) || path[0] != '/')
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "SigV4 presign: method, host and a path starting "
                           "with '/' are required");
    if (expires_secs < 1 || expires_secs > 604800)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "SigV4 presign: expiry %d s is out of range "
                           "1..604800 (7 days)", expires_secs);
    if (nextra > CDC_SIGV4_MAX_PAIRS || (nextra && !extra))
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "SigV4 presign: %zu query parameters (at most %d)",
                           nextra, CDC_SIGV4_MAX_PAIRS);
    for (size_t i = 0; i < nextra; i++) {
        if (is_empty(extra[i].name) || !extra[i].value)
            return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                               "SigV4 presign: query parameter %zu has no "
                               "name or value", i);
        for (size_t r = 0; r < sizeof presign_reserved / sizeof *presign_reserved; r++)
            if (name_cmp(extra[i].name, presign_reserved[r]) == 0)
                return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                                   "SigV4 presign: query parameter %s is "
                                   "added by the signer", extra[i].name);
        q[nq++] = extra[i];
    }

    int len = snprintf(credential, sizeof credential, "%s/%s",
                       p->access_key_id, c.scope);
    if (len < 0 || (size_t)len >= sizeof credential)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_CREDENTIALS,
                           "SigV4 presign: access key id is too long");
    snprintf(expires, sizeof expires, "%d", expires_secs);

    q[nq++] = (cdc_sigv4_pair_t){"X-Amz-Algorithm", ALGORITHM};
    q[nq++] = (cdc_sigv4_pair_t){"X-Amz-Credential", credential};
    q[nq++] = (cdc_sigv4_pair_t){"X-Amz-Date", c.amz_date};
    q[nq++] = (cdc_sigv4_pair_t){"X-Amz-Expires", expires};
    if (!is_empty(p->session_token))
        q[nq++] = (cdc_sigv4_pair_t){"X-Amz-Security-Token", p->session_token};
    q[nq++] = (cdc_sigv4_pair_t){"X-Amz-SignedHeaders", "host"};
    /* Sorted with the rest; left out of the canonical query by identity. */
    q[nq++] = (cdc_sigv4_pair_t){"X-Amz-Signature", signature};
    pairs_sort(q, nq, query_pair_cmp);

    err = creq_begin(&s, dbg, errstr, errstr_size);
    if (err != CDC_OK)
        goto out;
    sink_puts(&s, method);
    sink_put(&s, "\n", 1);
    sink_puts(&s, path);
    sink_put(&s, "\n", 1);
    put_query(&s, q, nq, signature);
    sink_puts(&s, "\nhost:");
    sink_puts(&s, host);
    sink_puts(&s, "\n\nhost\n" EMPTY_SHA256);
    err = creq_end(&s, creq_hash, errstr, errstr_size);
    if (err != CDC_OK)
        goto out;

    err = sign_string(p, &c, creq_hash, signature, dbg, errstr, errstr_size);
    if (err != CDC_OK)
        goto out;

    sink_puts(&o, host);
    sink_puts(&o, path);
    sink_put(&o, "?", 1);
    put_query(&o, q, nq, NULL);
    if (o.err != CDC_OK)
        err = cdc_err_set(errstr, errstr_size, o.err,
                          "SigV4 presign: out of memory for the URL");

out:
    EVP_MD_CTX_free(s.md);
    if (err != CDC_OK && out->data) {
        out->len = out_len0;
        out->data[out_len0] = '\0';
    }
    return err;
}

static bool is_unsignable(const char *name)
{
    for (size_t i = 0; i < sizeof unsignable_headers / sizeof *unsignable_headers; i++)
        if (name_cmp(name, unsignable_headers[i]) == 0)
            return true;
    return false;
}

/* Canonical header lines: one per distinct name, repeated names joined with
 * ',' in the order given. v must be sorted by header_pair_cmp. */
static void put_canonical_headers(sink_t *s, const cdc_sigv4_pair_t *v,
                                  size_t nv)
{
    for (size_t i = 0; i < nv; i++) {
        if (i > 0 && name_cmp(v[i - 1].name, v[i].name) == 0) {
            sink_put(s, ",", 1);
        } else {
            if (i > 0)
                sink_put(s, "\n", 1);
            sink_put_lower(s, v[i].name);
            sink_put(s, ":", 1);
        }
        sink_put_header_value(s, v[i].value);
    }
    sink_put(s, "\n", 1);
}

static void put_signed_headers(sink_t *s, const cdc_sigv4_pair_t *v,
                               size_t nv)
{
    for (size_t i = 0; i < nv; i++) {
        if (i > 0 && name_cmp(v[i - 1].name, v[i].name) == 0)
            continue;
        if (i > 0)
            sink_put(s, ";", 1);
        sink_put_lower(s, v[i].name);
    }
}

cdc_err_t cdc_sigv4_sign_headers(const cdc_sigv4_params_t *p,
                                 const char *method, const char *path,
                                 const char *query,
                                 const cdc_sigv4_pair_t *headers,
                                 size_t nheaders, const void *body,
                                 size_t body_len, char amz_date[17],
                                 cdc_buf_t *authorization,
                                 cdc_sigv4_debug_t *dbg,
                                 char *errstr, size_t errstr_size)
{
    sig_ctx_t c;
    cdc_sigv4_pair_t h[CDC_SIGV4_MAX_PAIRS + 2];
    const char *content_sha256 = NULL;
    char payload_hash[65];
    char signature[65];
    unsigned char creq_hash[32];
    sink_t s = {NULL, NULL, CDC_OK};
    sink_t a = {NULL, authorization, CDC_OK};
    size_t nh = 0;
    bool have_host = false;
    cdc_err_t err;

    cdc_buf_reset(authorization);
    err = sig_ctx_init(&c, p, errstr, errstr_size);
    if (err != CDC_OK)
        return err;
    if (is_empty(method) || is_empty(path) || path[0] != '/')
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "SigV4: method and a path starting with '/' are "
                           "required");
    if (body_len > 0 && !body)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "SigV4: body length %zu without a body", body_len);
    if (nheaders > CDC_SIGV4_MAX_PAIRS || (nheaders && !headers))
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "SigV4: %zu headers to sign (at most %d)",
                           nheaders, CDC_SIGV4_MAX_PAIRS);
    for (size_t i = 0; i < nheaders; i++) {
        const char *name = headers[i].name;
        if (is_empty(name) || !headers[i].value)
            return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                               "SigV4: header %zu has no name or value", i);
        if (name_cmp(name, "x-amz-date") == 0 ||
            name_cmp(name, "x-amz-security-token") == 0)
            return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                               "SigV4: header %s is added by the signer; "
                               "do not pass it", name);
        if (is_unsignable(name))
            continue;
        if (name_cmp(name, "host") == 0)
            have_host = true;
        if (!content_sha256 && name_cmp(name, "x-amz-content-sha256") == 0)
            content_sha256 = headers[i].value;
        h[nh++] = headers[i];
    }
    if (!have_host)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "SigV4: no host header to sign (the signer does "
                           "not take it from the URL)");

    h[nh++] = (cdc_sigv4_pair_t){"x-amz-date", c.amz_date};
    if (!is_empty(p->session_token))
        h[nh++] = (cdc_sigv4_pair_t){"x-amz-security-token", p->session_token};
    pairs_sort(h, nh, header_pair_cmp);

    err = creq_begin(&s, dbg, errstr, errstr_size);
    if (err != CDC_OK)
        goto out;
    if (!content_sha256) {
        unsigned char body_hash[32];
        unsigned int len = 0;
        if (EVP_Digest(body_len ? body : "", body_len, body_hash, &len,
                       EVP_sha256(), NULL) != 1) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_INTERNAL,
                              "SigV4: SHA-256 of the body failed in OpenSSL");
            goto out;
        }
        hex_encode(body_hash, 32, payload_hash);
    }
    sink_puts(&s, method);
    sink_put(&s, "\n", 1);
    sink_puts(&s, path);
    sink_put(&s, "\n", 1);
    sink_puts(&s, query ? query : "");
    sink_put(&s, "\n", 1);
    put_canonical_headers(&s, h, nh);
    sink_put(&s, "\n", 1);
    put_signed_headers(&s, h, nh);
    sink_put(&s, "\n", 1);
    if (content_sha256)
        sink_put_header_value(&s, content_sha256);
    else
        sink_put(&s, payload_hash, 64);
    err = creq_end(&s, creq_hash, errstr, errstr_size);
    if (err != CDC_OK)
        goto out;

    err = sign_string(p, &c, creq_hash, signature, dbg, errstr, errstr_size);
    if (err != CDC_OK)
        goto out;

    sink_puts(&a, ALGORITHM " Credential=");
    sink_puts(&a, p->access_key_id);
    sink_put(&a, "/", 1);
    sink_puts(&a, c.scope);
    sink_puts(&a, ", SignedHeaders=");
    put_signed_headers(&a, h, nh);
    sink_puts(&a, ", Signature=");
    sink_put(&a, signature, 64);
    if (a.err != CDC_OK) {
        err = cdc_err_set(errstr, errstr_size, a.err,
                          "SigV4: out of memory for the Authorization header");
        goto out;
    }
    memcpy(amz_date, c.amz_date, 17);

out:
    EVP_MD_CTX_free(s.md);
    if (err != CDC_OK)
        cdc_buf_reset(authorization);
    return err;
}
