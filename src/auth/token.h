/*
 * token.h - Aurora DSQL IAM auth tokens (the PostgreSQL password).
 *
 * Owns the token format (a SigV4 presigned GET for service "dsql"); when to
 * sign a new one is the connection manager's (db/conn.c: one per new
 * connection). Does not find credentials (auth/credentials.h) or sign
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

#endif
