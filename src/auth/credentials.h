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
 * profile here; cdc_cred_chain_get() reports what was tried. */
cdc_cred_chain_t *cdc_cred_chain_new(const char *profile);
void cdc_cred_chain_destroy(cdc_cred_chain_t *chain);

/*
 * Current credentials, resolving the chain on first use and again when
 * temporary credentials are within 5 minutes of expiry (a failed refresh
 * keeps returning the cached ones while they are still valid). *out points
 * into chain-owned memory, valid until the next call or destroy. On failure
 * errstr lists every source tried and why it failed (no secrets).
 */
cdc_err_t cdc_cred_chain_get(cdc_cred_chain_t *chain,
                             const cdc_aws_creds_t **out,
                             char *errstr, size_t errstr_size);

/* Region: configured (non-empty) wins, else AWS_REGION, AWS_DEFAULT_REGION,
 * then the profile's "region" in the config file. */
cdc_err_t cdc_aws_region_resolve(const char *configured, const char *profile,
                                 char *out, size_t out_size,
                                 char *errstr, size_t errstr_size);

#endif
