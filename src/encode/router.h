/*
 * router.h - topic routing: Kafka Connect's RegexRouter semantics.
 *
 * The regex must match the whole topic name; the replacement may refer to
 * groups as $1..$9 (\$ for a literal dollar). A topic that does not match is
 * left as is. Both org.apache.kafka.connect.transforms.RegexRouter and
 * Confluent's TopicRegexRouter behave this way. Regexes are POSIX extended.
 */
#ifndef CDC_ENCODE_ROUTER_H
#define CDC_ENCODE_ROUTER_H

#include "common/buf.h"
#include "common/err.h"
#include "config/config.h"

typedef struct cdc_router cdc_router_t;

/* Compile every transform listed in `transforms` (config already validated). */
cdc_router_t *cdc_router_new(const cdc_config_t *c, char *errstr,
                             size_t errstr_size);
void cdc_router_destroy(cdc_router_t *r);
/* Apply the transforms in order to topic; result in out. */
cdc_err_t cdc_router_apply(const cdc_router_t *r, const char *topic,
                           cdc_buf_t *out);

#endif
