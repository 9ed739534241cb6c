/*
 * credentials.h - the AWS default credential chain, cached and refreshed.
 *
 * Owns finding credentials (env, web identity, shared files + profiles,
 * credential_process, role assumption, container endpoint, IMDSv2) and the
 * region; does not sign anything itself (auth/sigv4.h).
 */
#ifndef CDC_CREDENTIALS_H
#define CDC_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;  /* NULL when none */
    int64_t expires_at;   /* Unix seconds; 0 = does not expire */
    char source[64];      /* which source gave them: "environment", "profile default", ... */
} cdc_aws_creds_t;

/* Wipe and free the strings; the struct can be reused. NULL ok. */
void cdc_aws_creds_clear(cdc_aws_creds_t *c);

typedef struct cdc_cred_chain cdc_cred_chain_t;

/* profile: NULL means AWS_PROFILE or "default". Never fails for a missing
 * profile here; cdc_cred_chain_get() reports what was tried. As in the AWS
 * CLI, a profile given here (not via AWS_PROFILE) makes the chain skip the
 * AWS_ACCESS_KEY_ID/... environment keys. NULL on out of memory. */
cdc_cred_chain_t *cdc_cred_chain_new(const char *profile);
void cdc_cred_chain_destroy(cdc_cred_chain_t *chain);

/*
 * Current credentials, resolving the chain on first use and again when
 * temporary credentials are within 5 minutes of expiry (a failed refresh
 * keeps returning the cached ones while they are still valid). *out points
 * into chain-owned memory, valid until the next call or destroy. On failure
 * errstr lists every source tried and why it failed (no secrets). On
 * success errstr holds cdc_cred_chain_last_error() ("" normally).
 *
 * Blocks while a source is queried (bounded by the timeouts below). A
 * refresh asks the source that gave the cached credentials; once they have
 * expired the whole chain is walked again.
 */
cdc_err_t cdc_cred_chain_get(cdc_cred_chain_t *chain,
                             const cdc_aws_creds_t **out,
                             char *errstr, size_t errstr_size);

/* Tuning, mostly for tests; a zero field keeps its default. */
typedef struct {
    int refresh_margin_secs;   /* refresh this long before expiry: 300 */
    int retry_secs;            /* least time between refresh attempts: 10 */
    long imds_timeout_ms;      /* IMDS connect and whole request: 1000 */
    long container_timeout_ms; /* container endpoint: 2000 */
    long sts_timeout_ms;       /* STS AssumeRole*: 10000 */
    long process_timeout_ms;   /* credential_process: 60000 */
} cdc_cred_chain_opts_t;

void cdc_cred_chain_set_opts(cdc_cred_chain_t *chain,
                             const cdc_cred_chain_opts_t *opts);

/* Replace the wall clock (Unix seconds) used for expiry, refresh, STS
 * signing and session names. NULL restores time(). */
typedef int64_t (*cdc_cred_clock_fn)(void *ud);
void cdc_cred_chain_set_clock(cdc_cred_chain_t *chain, cdc_cred_clock_fn now,
                              void *ud);

/* Why the last refresh failed while cached credentials stayed in use; ""
 * after a success. Chain-owned, valid until the next get or destroy. */
const char *cdc_cred_chain_last_error(const cdc_cred_chain_t *chain);

/* What the last full resolution tried, in order, each with why it was
 * skipped or failed, the successful source last ("environment: ...;
 * web identity: ...; container: ok"). "" before the first get. */
const char *cdc_cred_chain_tried(const cdc_cred_chain_t *chain);

/* Unix time at which cdc_cred_chain_get() will next try to refresh; 0 when
 * nothing is cached or the credentials do not expire. For the event loop. */
int64_t cdc_cred_chain_refresh_at(const cdc_cred_chain_t *chain);

/* Region: configured (non-empty) wins, else AWS_REGION, AWS_DEFAULT_REGION,
 * then the profile's "region" in the config file. */
cdc_err_t cdc_aws_region_resolve(const char *configured, const char *profile,
                                 char *out, size_t out_size,
                                 char *errstr, size_t errstr_size);

#endif
