/*
 * token.c - Aurora DSQL IAM auth tokens (see token.h).
 *
 * A token is a SigV4 query-string presign of "GET /" with only the host
 * header signed; sigv4.c does the signing, this file fixes the inputs.
 */
#include "auth/token.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/sigv4.h"

static bool is_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

/* A scheme, port, path or blank in the hostname would end up inside the
 * signed host header and make a token the server can never accept. */
static const char *hostname_problem(const char *h)
{
    if (strstr(h, "://"))
        return "has a scheme (give the bare host name, without https://)";
    for (const char *p = h; *p; p++) {
        if (*p == ':')
            return "has a port (the token never includes one)";
        if (*p == '/' || *p == '?' || *p == '#')
            return "has a path or query (give the bare host name)";
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            return "contains whitespace";
    }
    return NULL;
}

static cdc_err_t check_inputs(const char *hostname, const char *region,
                              const cdc_aws_creds_t *creds, char *errstr,
                              size_t n)
{
    const char *problem;

    if (is_empty(hostname))
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "cannot generate DSQL auth token: no hostname "
                           "(the cluster endpoint)");
    if ((problem = hostname_problem(hostname)) != NULL)
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "cannot generate DSQL auth token: hostname \"%s\" "
                           "%s", hostname, problem);
    if (is_empty(region))
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "cannot generate DSQL auth token for %s: no AWS "
                           "region", hostname);
    if (!creds)
        return cdc_err_set(errstr, n, CDC_ERR_CREDENTIALS,
                           "cannot generate DSQL auth token for %s: no AWS "
                           "credentials", hostname);
    if (is_empty(creds->access_key_id))
        return cdc_err_set(errstr, n, CDC_ERR_CREDENTIALS,
                           "cannot generate DSQL auth token for %s: AWS "
                           "credentials%s%s have no access key id", hostname,
                           creds->source[0] ? " from " : "", creds->source);
    if (is_empty(creds->secret_access_key))
        return cdc_err_set(errstr, n, CDC_ERR_CREDENTIALS,
                           "cannot generate DSQL auth token for %s: AWS "
                           "credentials%s%s (key %s) have no secret access "
                           "key", hostname, creds->source[0] ? " from " : "",
                           creds->source, creds->access_key_id);
    return CDC_OK;
}

static cdc_err_t check_expires(int expires_secs, char *errstr, size_t n)
{
    if (expires_secs < 1 || expires_secs > CDC_DSQL_TOKEN_MAX_EXPIRES)
        return cdc_err_set(errstr, n, CDC_ERR_INVALID_ARG,
                           "DSQL auth token expiry %d s is out of range: use "
                           "1..%d seconds (7 days), or 0 for the default %d",
                           expires_secs, CDC_DSQL_TOKEN_MAX_EXPIRES,
                           CDC_DSQL_TOKEN_DEFAULT_EXPIRES);
    return CDC_OK;
}

cdc_err_t cdc_dsql_token_generate(const char *hostname, const char *region,
                                  bool admin, int expires_secs,
                                  const cdc_aws_creds_t *creds,
                                  time_t signing_time, cdc_buf_t *out,
                                  char *errstr, size_t errstr_size)
{
    cdc_err_t err;

    cdc_buf_reset(out);
    if (expires_secs == 0)
        expires_secs = CDC_DSQL_TOKEN_DEFAULT_EXPIRES;
    err = check_expires(expires_secs, errstr, errstr_size);
    if (err != CDC_OK)
        return err;
    err = check_inputs(hostname, region, creds, errstr, errstr_size);
    if (err != CDC_OK)
        return err;

    const cdc_sigv4_params_t params = {
        .access_key_id = creds->access_key_id,
        .secret_access_key = creds->secret_access_key,
        .session_token = creds->session_token,
        .region = region,
        .service = "dsql",
        .signing_time = signing_time,
    };
    const cdc_sigv4_pair_t action = {
        "Action", admin ? "DbConnectAdmin" : "DbConnect",
    };
    return cdc_sigv4_presign(&params, "GET", hostname, "/", &action, 1,
                             expires_secs, out, NULL, errstr, errstr_size);
}

