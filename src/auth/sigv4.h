/*
 * sigv4.h - AWS Signature Version 4: query-string presigning (DSQL tokens)
 * and Authorization-header signing (Kinesis, STS).
 *
 * Hand-written because no Debian package offers SigV4 for C; OpenSSL supplies
 * SHA-256 and HMAC. Owns canonicalisation, URI encoding and key derivation;
 * does not own credentials (auth/credentials.h) or HTTP (callers use libcurl).
 */
#ifndef CDC_SIGV4_H
#define CDC_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct {
    const char *name;
    const char *value;
} cdc_sigv4_pair_t;

/* Most headers (sign_headers) or extra query parameters (presign) one
 * request may carry; the signer sorts them on the stack. */
#define CDC_SIGV4_MAX_PAIRS 64

typedef struct {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" when none */
    const char *region;
    const char *service;       /* "dsql", "kinesis", "sts" */
    time_t signing_time;       /* UTC seconds */
} cdc_sigv4_params_t;

/* Optional intermediates for tests and debugging; caller owns the buffers
 * (cdc_buf_init before, cdc_buf_free after). */
typedef struct {
    cdc_buf_t canonical_request;
    cdc_buf_t string_to_sign;
    char signature[65];
} cdc_sigv4_debug_t;

/* URI-encode per SigV4: keep A-Za-z0-9-_.~, everything else %XX uppercase. */
cdc_err_t cdc_sigv4_uri_encode(cdc_buf_t *out, const char *s, size_t len);

/* Format t as YYYYMMDDTHHMMSSZ (out needs 17 bytes); "00000000T000000Z"
 * for a time outside years 1970-9999, which the signers reject. */
void cdc_sigv4_amz_date(time_t t, char out[17]);

/*
 * Presign a request that has only the host header signed and an empty-body
 * payload hash. Appends "<host><path>?<query>" to out, query sorted by name,
 * X-Amz-Signature included (in sorted position). extra: the request's own
 * query parameters (e.g. Action=DbConnect), unencoded. expires_secs in
 * 1..604800. path is used verbatim as the canonical URI. On failure out
 * is left as it was.
 */
cdc_err_t cdc_sigv4_presign(const cdc_sigv4_params_t *p, const char *method,
                            const char *host, const char *path,
                            const cdc_sigv4_pair_t *extra, size_t nextra,
                            int expires_secs, cdc_buf_t *out,
                            cdc_sigv4_debug_t *dbg,
                            char *errstr, size_t errstr_size);

/*
 * Sign a request with an Authorization header. headers: every header to sign
 * (must include "host"), any case, values as sent. query: the canonical query
 * string ("" when none). On success amz_date holds the X-Amz-Date value and
 * authorization the Authorization header value; the caller sends headers,
 * then "X-Amz-Date", then "X-Amz-Security-Token" (if a session token), then
 * "Authorization". path and query are used verbatim (already encoded as
 * sent). Repeated header names are signed as one, values joined with ','.
 * Hop-by-hop headers (user-agent, connection, authorization, ...) are
 * skipped; passing x-amz-date or x-amz-security-token is an error. The
 * payload hash is the x-amz-content-sha256 header's value when given, else
 * SHA-256 of body. authorization is overwritten (left empty on failure).
 */
cdc_err_t cdc_sigv4_sign_headers(const cdc_sigv4_params_t *p,
                                 const char *method, const char *path,
                                 const char *query,
                                 const cdc_sigv4_pair_t *headers,
                                 size_t nheaders, const void *body,
                                 size_t body_len, char amz_date[17],
                                 cdc_buf_t *authorization,
                                 cdc_sigv4_debug_t *dbg,
                                 char *errstr, size_t errstr_size);

#endif
