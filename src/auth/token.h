/*
 * token.h - Aurora DSQL IAM auth tokens (the PostgreSQL password) and a
 * small cache that reuses one until it is due for refresh.
 *
 * Owns the token format (a SigV4 presigned GET for service "dsql") and when
 * to regenerate; does not find credentials (auth/credentials.h) or sign
 * anything itself (auth/sigv4.h). Tokens are secrets: buffers that held one
 * are wiped, never just freed.
 */
#ifndef CDC_TOKEN_H
#define CDC_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "auth/credentials.h"
#include "common/buf.h"
#include "common/err.h"

#define CDC_DSQL_TOKEN_DEFAULT_EXPIRES 900    /* seconds, as AWS's signers */
#define CDC_DSQL_TOKEN_MAX_EXPIRES 604800     /* 7 days, SigV4's limit */
#define CDC_DSQL_TOKEN_DEFAULT_REFRESH 780    /* 13 minutes, as the plugin */

/*
 * Generate a token: "<hostname>/?Action=DbConnect[Admin]&X-Amz-...". admin
 * selects DbConnectAdmin (for the "admin" role). expires_secs 0 means 900;
 * otherwise 1..604800. hostname is the bare host (no scheme, port or path)
 * and region comes from configuration, not from the hostname. Only the
 * key id, secret and session token of creds are used. out is overwritten;
 * wipe it with cdc_buf_wipe() when done. Errors name what is missing.
 */
cdc_err_t cdc_dsql_token_generate(const char *hostname, const char *region,
                                  bool admin, int expires_secs,
                                  const cdc_aws_creds_t *creds,
                                  time_t signing_time, cdc_buf_t *out,
                                  char *errstr, size_t errstr_size);

typedef struct cdc_dsql_token_cache cdc_dsql_token_cache_t;

/*
 * A cache of one token per (hostname, action). expires_secs: the tokens'
 * lifetime (0 = 900). refresh_secs: the age at which a token is regenerated
 * (0 = 13 minutes, or 13/15 of a shorter lifetime); must be below
 * expires_secs so a handed-out token always has time left. NULL with errstr
 * set on bad arguments or out of memory.
 */
cdc_dsql_token_cache_t *cdc_dsql_token_cache_new(int expires_secs,
                                                 int refresh_secs,
                                                 char *errstr,
                                                 size_t errstr_size);
/* Wipe every token and free the cache. NULL ok. */
void cdc_dsql_token_cache_destroy(cdc_dsql_token_cache_t *cache);

/*
 * The token for (hostname, admin), generated at now when there is none yet,
 * when the cached one is refresh_secs old or more (or from the future), or
 * when region or credentials (key id, secret, session token) changed since
 * it was made. *token_out points into the cache and stays valid until the
 * next call on this cache; do not free it. Errors as
 * cdc_dsql_token_generate(); on error *token_out is NULL.
 */
cdc_err_t cdc_dsql_token_cache_get(cdc_dsql_token_cache_t *cache,
                                   const char *hostname, const char *region,
                                   bool admin, const cdc_aws_creds_t *creds,
                                   time_t now, const char **token_out,
                                   char *errstr, size_t errstr_size);

/* Wipe and forget every cached token, e.g. after the server rejected one. */
void cdc_dsql_token_cache_clear(cdc_dsql_token_cache_t *cache);

#endif
