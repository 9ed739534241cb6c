/*
 * cdc_kafka_mock: a Kafka cluster for integration tests, in its own process.
 * Owns a librdkafka mock cluster (real Kafka protocol over TCP on 127.0.0.1),
 * publishes its bootstrap list (stdout + an atomically written file) and
 * serves a line-based command channel on stdin for fault injection.
 * Does not persist anything; the mock keeps at most 100k msgs per partition.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MOCK_LINE_MAX 1024
#define MOCK_API_KEYS 128   /* Kafka ApiKeys are < 100 in librdkafka 2.0 */
#define MOCK_ERRORS_MAX 100000

typedef struct mock_ctx {
        rd_kafka_t *rk;                   /* hosts the cluster */
        rd_kafka_mock_cluster_t *cluster;
        int broker_cnt;
        bool pushed[MOCK_API_KEYS];       /* ApiKeys with injected errors */
        bool quit;
} mock_ctx_t;

static void usage(FILE *out) {
        fprintf(out,
                "usage: cdc_kafka_mock [--brokers N] [--bootstrap-file PATH]\n"
                "Runs a librdkafka mock Kafka cluster until SIGTERM/SIGINT,\n"
                "'quit' or EOF on stdin. Commands on stdin, one per line,\n"
                "each answered with 'ok' or 'error <why>':\n"
                "  down <broker_id>          disconnect, refuse connections\n"
                "  up <broker_id>            accept connections again\n"
                "  rtt <broker_id> <ms>      delay every response\n"
                "  topic <name> <partitions> create a topic\n"
                "  errors <api_key> <count> <errcode|ERR_NAME>\n"
                "                            fail the next <count> requests\n"
                "  clear                     drop all injected request errors\n"
                "  quit\n"
                "Auto-created topics get the mock's default of 4 partitions\n"
                "(librdkafka 2.0 has no API to change it): create topics\n"
                "explicitly when the partition count matters.\n");
}

/* Parses a whole base-10 integer in [lo, hi]; false on anything else. */
static bool parse_long(const char *s, long lo, long hi, long *out) {
        char *end;
        long v;

        if (!s || !*s)
                return false;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || *end || v < lo || v > hi)
                return false;
        *out = v;
        return true;
}

/* Accepts a numeric error code or a name as librdkafka spells it, with or
 * without the RD_KAFKA_RESP_ERR_ prefix: "6", "NOT_LEADER_FOR_PARTITION",
 * "_TRANSPORT" (a local error: the broker drops the connection). */
static bool parse_errcode(const char *s, rd_kafka_resp_err_t *out) {
        const struct rd_kafka_err_desc *descs;
        const char *prefix = "RD_KAFKA_RESP_ERR_";
        size_t cnt, i;
        long v;

        if (parse_long(s, INT_MIN, INT_MAX, &v)) {
                *out = (rd_kafka_resp_err_t)v;
                return true;
        }
        if (!strncmp(s, prefix, strlen(prefix)))
                s += strlen(prefix);
        rd_kafka_get_err_descs(&descs, &cnt);
        for (i = 0; i < cnt; i++) {
                if (descs[i].name && !strcmp(descs[i].name, s)) {
                        *out = descs[i].code;
                        return true;
                }
        }
        return false;
}

static bool parse_broker(const mock_ctx_t *ctx, const char *s, int32_t *out) {
        long v;

        if (!parse_long(s, 1, ctx->broker_cnt, &v))
                return false;
        *out = (int32_t)v;
        return true;
}

/* Runs one command line; writes the reply ("ok" / "error <why>") to reply. */
static void command_run(mock_ctx_t *ctx, char *line, char *reply,
                        size_t reply_size) {
        char *argv[5];
        int argc = 0;
        char *save, *tok;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        int32_t broker;
        long a, b;

        for (tok = strtok_r(line, " \t\r", &save); tok && argc < 5;
             tok = strtok_r(NULL, " \t\r", &save))
                argv[argc++] = tok;

#define ARGC_IS(n)                                                             \
        do {                                                                   \
                if (argc != (n)) {                                             \
                        snprintf(reply, reply_size,                            \
                                 "error %s takes %d argument(s)", argv[0],     \
                                 (n) - 1);                                     \
                        return;                                                \
                }                                                              \
        } while (0)

        if (argc == 0) {
                snprintf(reply, reply_size, "error empty command");
                return;
        }

        if (!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) {
                ARGC_IS(2);
                if (!parse_broker(ctx, argv[1], &broker))
                        goto bad_broker;
                err = argv[0][0] == 'd'
                          ? rd_kafka_mock_broker_set_down(ctx->cluster, broker)
                          : rd_kafka_mock_broker_set_up(ctx->cluster, broker);
        } else if (!strcmp(argv[0], "rtt")) {
                ARGC_IS(3);
                if (!parse_broker(ctx, argv[1], &broker))
                        goto bad_broker;
                if (!parse_long(argv[2], 0, 3600 * 1000, &a)) {
                        snprintf(reply, reply_size,
                                 "error rtt must be 0..3600000 ms");
                        return;
                }
                err = rd_kafka_mock_broker_set_rtt(ctx->cluster, broker,
                                                   (int)a);
        } else if (!strcmp(argv[0], "topic")) {
                ARGC_IS(3);
                if (!parse_long(argv[2], 1, 10000, &a)) {
                        snprintf(reply, reply_size,
                                 "error partitions must be 1..10000");
                        return;
                }
                err = rd_kafka_mock_topic_create(
                    ctx->cluster, argv[1], (int)a,
                    ctx->broker_cnt < 3 ? ctx->broker_cnt : 3);
        } else if (!strcmp(argv[0], "errors")) {
                rd_kafka_resp_err_t code, *codes;

                ARGC_IS(4);
                if (!parse_long(argv[1], 0, MOCK_API_KEYS - 1, &a) ||
                    !parse_long(argv[2], 1, MOCK_ERRORS_MAX, &b) ||
                    !parse_errcode(argv[3], &code)) {
                        snprintf(reply, reply_size,
                                 "error usage: errors <api_key 0..%d> "
                                 "<count 1..%d> <errcode|ERR_NAME>",
                                 MOCK_API_KEYS - 1, MOCK_ERRORS_MAX);
                        return;
                }
                if (!(codes = malloc(sizeof(*codes) * (size_t)b))) {
                        snprintf(reply, reply_size, "error out of memory");
                        return;
                }
                for (long i = 0; i < b; i++)
                        codes[i] = code;
                rd_kafka_mock_push_request_errors_array(
                    ctx->cluster, (int16_t)a, (size_t)b, codes);
                free(codes);
                ctx->pushed[a] = true;
        } else if (!strcmp(argv[0], "clear")) {
                ARGC_IS(1);
                for (int k = 0; k < MOCK_API_KEYS; k++) {
                        if (ctx->pushed[k])
                                rd_kafka_mock_clear_request_errors(
                                    ctx->cluster, (int16_t)k);
                        ctx->pushed[k] = false;
                }
        } else if (!strcmp(argv[0], "quit")) {
                ARGC_IS(1);
                ctx->quit = true;
        } else {
                snprintf(reply, reply_size, "error unknown command '%s'",
                         argv[0]);
                return;
        }
#undef ARGC_IS

        if (err)
                snprintf(reply, reply_size, "error %s", rd_kafka_err2str(err));
        else
                snprintf(reply, reply_size, "ok");
        return;

bad_broker:
        snprintf(reply, reply_size, "error broker id must be 1..%d",
                 ctx->broker_cnt);
}

/* Writes "<bootstraps>\n" to path via a temp file + rename, so a reader
 * polling for the file sees either nothing or the whole line. */
static int bootstrap_file_write(const char *path, const char *bootstraps,
                                char *errstr, size_t errstr_size) {
        char tmp[PATH_MAX];
        FILE *fp;
        int r;

        r = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
        if (r < 0 || (size_t)r >= sizeof(tmp)) {
                snprintf(errstr, errstr_size, "path too long: %s", path);
                return -1;
        }
        if (!(fp = fopen(tmp, "w"))) {
                snprintf(errstr, errstr_size, "creating %s.tmp.*: %s", path,
                         strerror(errno));
                return -1;
        }
        r = fprintf(fp, "%s\n", bootstraps);
        if (fclose(fp) != 0 || r < 0) {
                snprintf(errstr, errstr_size, "writing %s.tmp.*: %s", path,
                         strerror(errno));
                unlink(tmp);
                return -1;
        }
        if (rename(tmp, path) != 0) {
                snprintf(errstr, errstr_size, "renaming into %s: %s", path,
                         strerror(errno));
                unlink(tmp);
                return -1;
        }
        return 0;
}

/* Consumes complete lines from buf (len bytes), runs each as a command and
 * answers on stdout. Returns the number of bytes left (a partial line). */
static size_t lines_run(mock_ctx_t *ctx, char *buf, size_t len) {
        char reply[256];
        char *start = buf, *end = buf + len, *nl;

        while (!ctx->quit &&
               (nl = memchr(start, '\n', (size_t)(end - start)))) {
                *nl = '\0';
                command_run(ctx, start, reply, sizeof(reply));
                printf("%s\n", reply);
                fflush(stdout);
                start = nl + 1;
        }
        len = (size_t)(end - start);
        memmove(buf, start, len);
        return len;
}

/* Serves stdin and the termination signals until told to stop. */
static int loop_run(mock_ctx_t *ctx, int sigfd) {
        char buf[MOCK_LINE_MAX];
        size_t len = 0;
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                {.fd = sigfd, .events = POLLIN}};

        while (!ctx->quit) {
                ssize_t r;

                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "cdc_kafka_mock: poll: %s\n",
                                strerror(errno));
                        return 1;
                }
                if (fds[1].revents & POLLIN)
                        return 0;
                if (!fds[0].revents)
                        continue;

                r = read(STDIN_FILENO, buf + len, sizeof(buf) - len);
                if (r < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (r <= 0)
                        return 0; /* EOF (or a dead pipe): the owner is gone */
                len = lines_run(ctx, buf, len + (size_t)r);
                if (len == sizeof(buf)) {
                        printf("error line longer than %d bytes\n",
                               MOCK_LINE_MAX - 1);
                        fflush(stdout);
                        len = 0;
                }
        }
        return 0;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
            {"brokers", required_argument, NULL, 'b'},
            {"bootstrap-file", required_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        mock_ctx_t ctx            = {.broker_cnt = 1};
        const char *bootstrap_file = NULL;
        rd_kafka_conf_t *conf;
        char errstr[512];
        sigset_t sigs;
        int sigfd = -1, opt, rc = 1;
        long v;

        while ((opt = getopt_long(argc, argv, "b:f:h", longopts, NULL)) != -1) {
                switch (opt) {
                case 'b':
                        if (!parse_long(optarg, 1, 64, &v)) {
                                fprintf(stderr, "cdc_kafka_mock: --brokers "
                                                "must be 1..64\n");
                                return 2;
                        }
                        ctx.broker_cnt = (int)v;
                        break;
                case 'f':
                        bootstrap_file = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }

        /* Block before librdkafka starts its threads so they inherit the
         * mask and the signals are only ever read from the signalfd. A
         * vanished reader of stdout must not kill us either. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        sigaddset(&sigs, SIGPIPE);
        if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
                perror("cdc_kafka_mock: sigprocmask");
                return 1;
        }
        sigdelset(&sigs, SIGPIPE);
        if ((sigfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
                perror("cdc_kafka_mock: signalfd");
                return 1;
        }

        /* The hosting handle never talks to a broker itself; log_level 4
         * hides its notice that no bootstrap.servers is configured. */
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "client.id", "cdc_kafka_mock", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "log_level", "4", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "cdc_kafka_mock: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                goto out;
        }
        if (!(ctx.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
                                    sizeof(errstr)))) {
                fprintf(stderr, "cdc_kafka_mock: rd_kafka_new: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                goto out;
        }
        ctx.cluster = rd_kafka_mock_cluster_new(ctx.rk, ctx.broker_cnt);
        if (!ctx.cluster) {
                fprintf(stderr, "cdc_kafka_mock: failed to create the mock "
                                "cluster (see librdkafka log above)\n");
                goto out;
        }

        if (bootstrap_file &&
            bootstrap_file_write(bootstrap_file,
                                 rd_kafka_mock_cluster_bootstraps(ctx.cluster),
                                 errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "cdc_kafka_mock: --bootstrap-file: %s\n",
                        errstr);
                goto out;
        }
        printf("%s\n", rd_kafka_mock_cluster_bootstraps(ctx.cluster));
        fflush(stdout);

        rc = loop_run(&ctx, sigfd);

out:
        if (ctx.cluster)
                rd_kafka_mock_cluster_destroy(ctx.cluster);
        if (ctx.rk)
                rd_kafka_destroy(ctx.rk);
        if (sigfd >= 0)
                close(sigfd);
        return rc;
}
