/*
 * kafka.h - the Kafka sink on librdkafka (used through sink.h).
 *
 * Idempotent producer, every kafka.* key passed through, partitioning by
 * key (librdkafka's default murmur2_random matches the Java client's
 * partitioner for keyed records), delivery reports served on poll.
 */
#ifndef CDC_SINK_KAFKA_H
#define CDC_SINK_KAFKA_H

#include <stdbool.h>

#include "sink/sink.h"

typedef struct cdc_kafka cdc_kafka_t;

/* librdkafka settings dsqlcdc sets unless a kafka.* key does. */
extern const char *const cdc_kafka_defaults[][2];
extern const size_t cdc_kafka_ndefaults;

cdc_kafka_t *cdc_kafka_new(const cdc_config_t *c, cdc_sink_delivery_fn fn,
                           void *ctx, char *errstr, size_t errstr_size);
void cdc_kafka_destroy(cdc_kafka_t *k);
cdc_err_t cdc_kafka_produce(cdc_kafka_t *k, const char *topic, const char *key,
                            size_t key_len, const char *value,
                            size_t value_len, void *record, char *errstr,
                            size_t errstr_size);
void cdc_kafka_poll(cdc_kafka_t *k, int timeout_ms);
/* Messages produced and not yet reported delivered (or failed). */
bool cdc_kafka_in_flight(const cdc_kafka_t *k);
cdc_err_t cdc_kafka_flush(cdc_kafka_t *k, int timeout_ms, char *errstr,
                          size_t errstr_size);

/* Ask the cluster for metadata: how many brokers answer and whether topic
 * exists (without creating it). CDC_ERR_KAFKA when no broker answers. */
cdc_err_t cdc_kafka_probe(cdc_kafka_t *k, const char *topic, int timeout_ms,
                          int *brokers, bool *exists, char *errstr,
                          size_t errstr_size);

#endif
