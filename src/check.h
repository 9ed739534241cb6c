/*
 * check.h - `dsqlcdc check`: everything a run needs, verified before it.
 *
 * Credentials (and which source gave them), the auth token, each endpoint
 * (primary, then secondary: each connected to on its own, TLS as configured),
 * each table, once, on the first endpoint that connected (columns, key,
 * SELECT permission, an index for the keyset query) and Kafka (brokers
 * answer, topics exist). One line per check, ✔, ⚠ (works, but look) or ✘
 * with what to try.
 */
#ifndef CDC_CHECK_H
#define CDC_CHECK_H

#include <stdio.h>

#include "config/config.h"

/* Run every check on a valid config; returns the number of failures (✘). */
int cdc_check_run(const cdc_config_t *c, FILE *out);

#endif
