/*
 * token.c - Aurora DSQL IAM auth tokens and their cache (see token.h).
 *
 * A token is a SigV4 query-string presign of "GET /" with only the host
 * header signed; sigv4.c does the signing, this file fixes the inputs and
 * decides when a cached token must be replaced.
 */
#include "auth/token.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/sigv4.h"

struct token_entry {
    char *hostname;
    char *region;
    bool admin;
    /* SHA-256 over the credentials the token was signed with, so a change
     * is noticed without keeping a second copy of the secrets. */
    unsigned char creds_digest[32];
    time_t generated_at;
    cdc_buf_t token;
    struct token_entry *next;
};

struct cdc_dsql_token_cache {
    int expires_secs;
    int refresh_secs;
    struct token_entry *entries;
};

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

cdc_dsql_token_cache_t *cdc_dsql_token_cache_new(int expires_secs,
                                                 int refresh_secs,
                                                 char *errstr,
                                                 size_t errstr_size)
{
    if (expires_secs == 0)
        expires_secs = CDC_DSQL_TOKEN_DEFAULT_EXPIRES;
    if (check_expires(expires_secs, errstr, errstr_size) != CDC_OK)
        return NULL;
    if (refresh_secs == 0) {
        refresh_secs = CDC_DSQL_TOKEN_DEFAULT_REFRESH;
        if (refresh_secs >= expires_secs)
            refresh_secs = (int)((long long)expires_secs * 13 / 15);
    } else if (refresh_secs < 0 || refresh_secs >= expires_secs) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                    "DSQL auth token refresh age %d s must be 1..%d s, below "
                    "the token expiry of %d s", refresh_secs,
                    expires_secs - 1, expires_secs);
        return NULL;
    }

    cdc_dsql_token_cache_t *cache = calloc(1, sizeof *cache);
    if (!cache) {
        cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                    "out of memory for the DSQL auth token cache");
        return NULL;
    }
    cache->expires_secs = expires_secs;
    cache->refresh_secs = refresh_secs;
    return cache;
}

static void entry_free(struct token_entry *e)
{
    cdc_buf_wipe(&e->token);
    OPENSSL_cleanse(e->creds_digest, sizeof e->creds_digest);
    free(e->hostname);
    free(e->region);
    free(e);
}

void cdc_dsql_token_cache_clear(cdc_dsql_token_cache_t *cache)
{
    if (!cache)
        return;
    while (cache->entries) {
        struct token_entry *next = cache->entries->next;
        entry_free(cache->entries);
        cache->entries = next;
    }
}

void cdc_dsql_token_cache_destroy(cdc_dsql_token_cache_t *cache)
{
    cdc_dsql_token_cache_clear(cache);
    free(cache);
}

/* NUL-separated so ("ab", "c") and ("a", "bc") differ. */
static cdc_err_t creds_digest(const cdc_aws_creds_t *c, unsigned char out[32])
{
    const char *parts[3] = {
        c->access_key_id, c->secret_access_key,
        c->session_token ? c->session_token : "",
    };
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;

    for (size_t i = 0; ok && i < 3; i++)
        ok = EVP_DigestUpdate(md, parts[i], strlen(parts[i]) + 1) == 1;
    ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
    EVP_MD_CTX_free(md);
    return ok ? CDC_OK : CDC_ERR_INTERNAL;
}

static struct token_entry *entry_find(cdc_dsql_token_cache_t *cache,
                                      const char *hostname, bool admin)
{
    for (struct token_entry *e = cache->entries; e; e = e->next)
        if (e->admin == admin && strcmp(e->hostname, hostname) == 0)
            return e;
    return NULL;
}

static bool entry_fresh(const cdc_dsql_token_cache_t *cache,
                        const struct token_entry *e, const char *region,
                        const unsigned char digest[32], time_t now)
{
    return e->token.len > 0 && now >= e->generated_at &&
           now - e->generated_at < cache->refresh_secs &&
           strcmp(e->region, region) == 0 &&
           CRYPTO_memcmp(e->creds_digest, digest, 32) == 0;
}

cdc_err_t cdc_dsql_token_cache_get(cdc_dsql_token_cache_t *cache,
                                   const char *hostname, const char *region,
                                   bool admin, const cdc_aws_creds_t *creds,
                                   time_t now, const char **token_out,
                                   char *errstr, size_t errstr_size)
{
    unsigned char digest[32];
    cdc_buf_t fresh;
    char *region_copy = NULL;
    cdc_err_t err;

    *token_out = NULL;
    cdc_buf_init(&fresh);
    err = check_inputs(hostname, region, creds, errstr, errstr_size);
    if (err != CDC_OK)
        return err;
    if (creds_digest(creds, digest) != CDC_OK)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INTERNAL,
                           "SHA-256 failed in OpenSSL");

    struct token_entry *e = entry_find(cache, hostname, admin);
    if (e && entry_fresh(cache, e, region, digest, now)) {
        *token_out = cdc_buf_str(&e->token);
        goto out;
    }

    err = cdc_dsql_token_generate(hostname, region, admin, cache->expires_secs,
                                  creds, now, &fresh, errstr, errstr_size);
    if (err != CDC_OK)
        goto out;

    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->hostname = strdup(hostname))) {
            free(e);
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                              "out of memory for the DSQL auth token cache");
            goto out;
        }
        e->admin = admin;
        cdc_buf_init(&e->token);
        e->next = cache->entries;
        cache->entries = e;
    }
    if (!e->region || strcmp(e->region, region) != 0) {
        region_copy = strdup(region);
        if (!region_copy) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                              "out of memory for the DSQL auth token cache");
            goto out;
        }
        free(e->region);
        e->region = region_copy;
    }
    cdc_buf_wipe(&e->token);
    e->token = fresh;
    cdc_buf_init(&fresh);
    memcpy(e->creds_digest, digest, sizeof digest);
    e->generated_at = now;
    *token_out = cdc_buf_str(&e->token);

out:
    cdc_buf_wipe(&fresh);
    OPENSSL_cleanse(digest, sizeof digest);
    return err;
}
