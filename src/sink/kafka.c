/*
 * kafka.c - Kafka sink on librdkafka (see kafka.h).
 */
#include "sink/kafka.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/*
 * The queue bound keeps memory small on a large backlog: a full queue is
 * backpressure (the poller waits), and 4 MB in flight keeps the brokers
 * busy. No compression, as Kafka Connect's producer: lz4 costs about a
 * CPU-second per million 400-byte records.
 */
const char *const cdc_kafka_defaults[][2] = {
    {"enable.idempotence", "true"},
    {"linger.ms", "5"},
    {"client.id", "dsqlcdc"},
    {"queue.buffering.max.kbytes", "4096"},
};
const size_t cdc_kafka_ndefaults =
    sizeof cdc_kafka_defaults / sizeof *cdc_kafka_defaults;

/* A topic produced to, with librdkafka's handle for it. */
typedef struct {
    char *name;
    rd_kafka_topic_t *rkt;
} topic_ref_t;

struct cdc_kafka {
    rd_kafka_t *rk;
    cdc_sink_delivery_fn fn;
    void *ctx;
    topic_ref_t *topics; /* one per topic, a handful: searched in order */
    size_t ntopics;
};

typedef struct {
    rd_kafka_conf_t *conf;
    cdc_buf_t *problems;
} conf_ctx_t;

static void set_passthrough(const char *key, const char *value, void *ctx)
{
    conf_ctx_t *cc = ctx;
    char err[512];
    const char *name = key + strlen("kafka.");
    if (rd_kafka_conf_set(cc->conf, name, value, err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
        cdc_buf_printf(cc->problems, "%s: %s; see librdkafka's "
                       "CONFIGURATION.md for valid settings\n", key, err);
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    (void)rk;
    cdc_kafka_t *k = opaque;
    if (m->err)
        k->fn(m->_private, CDC_ERR_KAFKA, rd_kafka_err2str(m->err), k->ctx);
    else
        k->fn(m->_private, CDC_OK, NULL, k->ctx);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    (void)rk;
    cdc_log_level_t l = level <= 3 ? CDC_LOG_ERROR
                        : level <= 5 ? CDC_LOG_WARN
                        : level <= 6 ? CDC_LOG_INFO : CDC_LOG_DEBUG;
    cdc_log(l, "kafka", "%s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    cdc_log_warn("kafka", "%s: %s", rd_kafka_err2name(err), reason);
}

cdc_kafka_t *cdc_kafka_new(const cdc_config_t *c, cdc_sink_delivery_fn fn,
                           void *ctx, char *errstr, size_t n)
{
    cdc_kafka_t *k = calloc(1, sizeof *k);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cdc_buf_t problems;
    cdc_buf_init(&problems);
    if (!k || !conf) {
        cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    k->fn = fn;
    k->ctx = ctx;
    char e[512];
    /* Our defaults first; any kafka.* key below overrides them. */
    for (size_t i = 0; i < cdc_kafka_ndefaults; i++)
        rd_kafka_conf_set(conf, cdc_kafka_defaults[i][0],
                          cdc_kafka_defaults[i][1], e, sizeof e);
    conf_ctx_t cc = {conf, &problems};
    cdc_config_extras_each(c, "kafka.", set_passthrough, &cc);
    if (problems.len) {
        cdc_err_set(errstr, n, CDC_ERR_CONFIG, "%s", cdc_buf_str(&problems));
        goto fail;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!k->rk) {
        cdc_err_set(errstr, n, CDC_ERR_KAFKA, "cannot create producer: %s", e);
        goto fail;
    }
    cdc_buf_free(&problems);
    return k;
fail:
    if (!k || !k->rk)
        rd_kafka_conf_destroy(conf);
    cdc_buf_free(&problems);
    free(k);
    return NULL;
}

void cdc_kafka_destroy(cdc_kafka_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->ntopics; i++) {
        rd_kafka_topic_destroy(k->topics[i].rkt);
        free(k->topics[i].name);
    }
    free(k->topics);
    rd_kafka_destroy(k->rk);
    free(k);
}

/*
 * The handle for a topic, made on first use. Made by rd_kafka_topic_new, a
 * new topic's metadata is asked for at once; a topic named only in
 * rd_kafka_producev is looked up by the once-a-second scan, which held a
 * catch-up's first records (and each new table's) for up to a second.
 */
static rd_kafka_topic_t *topic_handle(cdc_kafka_t *k, const char *topic)
{
    for (size_t i = 0; i < k->ntopics; i++)
        if (strcmp(k->topics[i].name, topic) == 0)
            return k->topics[i].rkt;
    topic_ref_t *t = realloc(k->topics, (k->ntopics + 1) * sizeof *t);
    if (!t)
        return NULL;
    k->topics = t;
    t = &k->topics[k->ntopics];
    if (!(t->name = strdup(topic)))
        return NULL;
    if (!(t->rkt = rd_kafka_topic_new(k->rk, topic, NULL))) {
        free(t->name);
        return NULL;
    }
    k->ntopics++;
    return t->rkt;
}

cdc_err_t cdc_kafka_produce(cdc_kafka_t *k, const char *topic, const char *key,
                            size_t key_len, const char *value,
                            size_t value_len, void *record, char *errstr,
                            size_t n)
{
    rd_kafka_topic_t *rkt = topic_handle(k, topic);
    if (!rkt)
        return cdc_err_set(errstr, n, CDC_ERR_KAFKA, "produce to %s: %s",
                           topic, errno == ENOMEM ? "out of memory"
                                  : rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_resp_err_t err = rd_kafka_producev(
        k->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
        RD_KAFKA_V_OPAQUE(record), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return CDC_ERR_QUEUE_FULL;
    if (err)
        return cdc_err_set(errstr, n, CDC_ERR_KAFKA, "produce to %s: %s",
                           topic, rd_kafka_err2str(err));
    return CDC_OK;
}

bool cdc_kafka_in_flight(const cdc_kafka_t *k)
{
    return rd_kafka_outq_len(k->rk) > 0;
}

void cdc_kafka_poll(cdc_kafka_t *k, int timeout_ms)
{
    rd_kafka_poll(k->rk, timeout_ms);
}

cdc_err_t cdc_kafka_flush(cdc_kafka_t *k, int timeout_ms, char *errstr,
                          size_t n)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(k->rk, timeout_ms);
    if (err)
        return cdc_err_set(errstr, n, CDC_ERR_TIMEOUT,
                           "%d record(s) not delivered to Kafka within %d ms",
                           rd_kafka_outq_len(k->rk), timeout_ms);
    return CDC_OK;
}

cdc_err_t cdc_kafka_probe(cdc_kafka_t *k, const char *topic, int timeout_ms,
                          int *brokers, bool *exists, char *errstr, size_t n)
{
    const struct rd_kafka_metadata *md = NULL;
    /* All topics: asking for one topic could auto-create it. */
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->rk, 1, NULL, &md, timeout_ms);
    if (err)
        return cdc_err_set(errstr, n, CDC_ERR_KAFKA, "no metadata from the "
                           "brokers within %d ms: %s", timeout_ms,
                           rd_kafka_err2str(err));
    *brokers = md->broker_cnt;
    *exists = false;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            *exists = true;
    rd_kafka_metadata_destroy(md);
    return CDC_OK;
}
