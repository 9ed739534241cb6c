/*
 * wmwatch: waits until a Kafka topic's high watermarks add up to N and prints
 * the wall-clock time (epoch ms) it first saw that.
 *
 * bench/run times catch-ups with it: one librdkafka client polling the
 * watermarks every few ms costs almost nothing, where a kcat process per
 * check would take a good part of a core away from the daemon measured.
 * Watermarks, not consuming: the mock cluster keeps only the newest 100k
 * messages of a partition.
 *
 * usage: wmwatch -b BOOTSTRAP -t TOPIC -n N [-T TIMEOUT_S] [-i INTERVAL_MS]
 * stdout: "reached <epoch_ms> <count>", exit 0;
 *         "timeout <epoch_ms> <count>", exit 1 (count as last seen);
 *         exit 2 on a usage or client error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Partition count of the topic, 0 while it does not exist, -1 on error.
 * Asks for all topics: naming one would auto-create it. */
static int partitions(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL;
    long long want = -1;
    double timeout_s = 600;
    long interval = 10;
    int c;
    while ((c = getopt(argc, argv, "b:t:n:T:i:")) != -1) {
        switch (c) {
        case 'b': bootstrap = optarg; break;
        case 't': topic = optarg; break;
        case 'n': want = atoll(optarg); break;
        case 'T': timeout_s = atof(optarg); break;
        case 'i': interval = atol(optarg); break;
        default: goto usage;
        }
    }
    if (!bootstrap || !topic || want < 0 || interval < 1)
        goto usage;

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err)) {
        fprintf(stderr, "wmwatch: %s\n", err);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "wmwatch: %s\n", err);
        return 2;
    }
    int64_t deadline = now_ms() + (int64_t)(timeout_s * 1000);
    int parts = 0;
    long long count = 0;
    int rc = 1;
    for (;;) {
        if (parts <= 0)
            parts = partitions(rk, topic);
        count = 0;
        bool ok = parts > 0;
        for (int p = 0; ok && p < parts; p++) {
            int64_t lo, hi;
            ok = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000) ==
                 RD_KAFKA_RESP_ERR_NO_ERROR;
            count += hi;
        }
        int64_t t = now_ms();
        if (ok && count >= want) {
            printf("reached %" PRId64 " %lld\n", t, count);
            rc = 0;
            break;
        }
        if (t >= deadline) {
            printf("timeout %" PRId64 " %lld\n", t, ok ? count : 0);
            break;
        }
        sleep_ms(interval);
    }
    fflush(stdout);
    rd_kafka_destroy(rk);
    return rc;
usage:
    fprintf(stderr, "usage: wmwatch -b BOOTSTRAP -t TOPIC -n N [-T TIMEOUT_S] "
                    "[-i INTERVAL_MS]\n");
    return 2;
}
