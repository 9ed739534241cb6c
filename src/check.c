/*
 * check.c - connectivity and schema checks for `dsqlcdc check` (see check.h).
 */
#include "check.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "auth/credentials.h"
#include "auth/token.h"
#include "common/buf.h"
#include "common/log.h"
#include "db/conn.h"
#include "encode/router.h"
#include "sink/kafka.h"
#include "source/poll.h"

typedef struct {
    FILE *out;
    int failures;
    const cdc_config_t *cfg;
    PGconn *conn;
    cdc_router_t *router;
    cdc_kafka_t *kafka;
} check_t;

static void line(check_t *k, const char *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void line(check_t *k, const char *mark, const char *fmt, ...)
{
    char raw[1600], clean[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    cdc_log_redact(raw, clean, sizeof clean);
    fprintf(k->out, "%s %s\n", mark, clean);
    if (strcmp(mark, "✘") == 0)
        k->failures++;
}

#define OK(k, ...) line(k, "✔", __VA_ARGS__)
#define WARN(k, ...) line(k, "⚠", __VA_ARGS__)
#define FAIL(k, ...) line(k, "✘", __VA_ARGS__)

static void check_iam(check_t *k)
{
    const cdc_config_t *c = k->cfg;
    char errstr[2048], region[64];
    if (cdc_aws_region_resolve(cdc_config_str(c, CDC_KEY_REGION), NULL, region,
                               sizeof region, errstr, sizeof errstr) != CDC_OK) {
        FAIL(k, "AWS region: %s", errstr);
        return;
    }
    OK(k, "AWS region %s", region);
    cdc_cred_chain_t *chain = cdc_cred_chain_new(NULL);
    const cdc_aws_creds_t *creds;
    if (!chain || cdc_cred_chain_get(chain, &creds, errstr, sizeof errstr) != CDC_OK) {
        FAIL(k, "AWS credentials: %s", chain ? errstr : "out of memory");
        cdc_cred_chain_destroy(chain);
        return;
    }
    OK(k, "AWS credentials from %s (access key %s)", creds->source,
       creds->access_key_id);
    const char *user = cdc_config_str(c, CDC_KEY_IAM_USERNAME);
    bool admin = strcmp(user, "admin") == 0;
    cdc_buf_t tok;
    cdc_buf_init(&tok);
    if (cdc_dsql_token_generate(cdc_config_str(c, CDC_KEY_ENDPOINT_PRIMARY),
                                region, admin, 0, creds, time(NULL), &tok,
                                errstr, sizeof errstr) == CDC_OK)
        OK(k, "auth token for %s as %s (%s, valid 900 s)",
           cdc_config_str(c, CDC_KEY_ENDPOINT_PRIMARY), user,
           admin ? "DbConnectAdmin" : "DbConnect");
    else
        FAIL(k, "auth token: %s", errstr);
    cdc_buf_wipe(&tok);
    cdc_cred_chain_destroy(chain);
}

static void check_table(const char *table, void *ctx)
{
    check_t *k = ctx;
    cdc_poller_t *p = cdc_poller_new(k->cfg, table);
    char errstr[1024];
    if (!p) {
        FAIL(k, "table %s: out of memory", table);
        return;
    }
    bool indexed = false;
    if (cdc_poller_discover(p, k->conn, errstr, sizeof errstr) != CDC_OK) {
        FAIL(k, "%s", errstr);
    } else if (cdc_poller_check_index(p, k->conn, &indexed, errstr,
                                      sizeof errstr) != CDC_OK) {
        FAIL(k, "%s", errstr);
    } else {
        OK(k, "table %s: readable, cursor column %s", cdc_poller_name(p),
           cdc_poller_ts_column(p));
        if (!indexed)
            WARN(k, "table %s: no index starts with %s; each poll scans the "
                 "table. Create one: CREATE INDEX ASYNC ON %s (%s, <key "
                 "columns>)", cdc_poller_name(p), cdc_poller_ts_column(p),
                 cdc_poller_name(p), cdc_poller_ts_column(p));
        if (k->kafka) {
            cdc_buf_t topic, routed;
            cdc_buf_init(&topic);
            cdc_buf_init(&routed);
            cdc_buf_printf(&topic, "%s.%s.%s",
                           cdc_config_str(k->cfg, CDC_KEY_TOPIC_PREFIX),
                           cdc_poller_schema(p), cdc_poller_table(p));
            cdc_router_apply(k->router, cdc_buf_str(&topic), &routed);
            int brokers;
            bool exists;
            if (cdc_kafka_probe(k->kafka, cdc_buf_str(&routed), 10000,
                                &brokers, &exists, errstr,
                                sizeof errstr) != CDC_OK)
                FAIL(k, "topic %s: %s", cdc_buf_str(&routed), errstr);
            else if (exists)
                OK(k, "topic %s exists", cdc_buf_str(&routed));
            else
                WARN(k, "topic %s does not exist: create it, or allow the "
                     "cluster to create it (auto.create.topics.enable)",
                     cdc_buf_str(&routed));
            cdc_buf_free(&topic);
            cdc_buf_free(&routed);
        }
    }
    cdc_poller_destroy(p);
}

static void ignore_delivery(void *record, cdc_err_t err, const char *errstr,
                            void *ctx)
{
    (void)record, (void)err, (void)errstr, (void)ctx;
}

static void check_kafka(check_t *k)
{
    const cdc_config_t *c = k->cfg;
    char errstr[1024];
    const char *servers = cdc_config_str(c, CDC_KEY_KAFKA_BOOTSTRAP_SERVERS);
    k->kafka = cdc_kafka_new(c, ignore_delivery, NULL, errstr, sizeof errstr);
    if (!k->kafka) {
        FAIL(k, "Kafka client: %s", errstr);
        return;
    }
    int brokers;
    bool exists;
    if (cdc_kafka_probe(k->kafka, "", 10000, &brokers, &exists, errstr,
                        sizeof errstr) != CDC_OK) {
        FAIL(k, "Kafka at %s: %s; check kafka.bootstrap.servers and the "
             "kafka.security.* / kafka.sasl.* settings", servers, errstr);
        cdc_kafka_destroy(k->kafka);
        k->kafka = NULL;
        return;
    }
    OK(k, "Kafka at %s: %d broker(s) answer", servers, brokers);
}

/*
 * A copy of c whose primary is endpoint and which has no secondary, so that
 * a connection made with it reaches that endpoint directly, never through
 * failover, with every other setting (port, user, TLS, auth) as in c.
 * Values are set again as text, so one that holds "${" after substitution
 * cannot be copied. Caller destroys; NULL with problems filled on failure.
 */
static cdc_config_t *endpoint_config(const cdc_config_t *c,
                                     const char *endpoint, cdc_buf_t *problems)
{
    cdc_config_t *e = cdc_config_new();
    if (!e) {
        cdc_buf_puts(problems, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CDC_KEY__COUNT; i++) {
        cdc_key_t key = (cdc_key_t)i;
        const char *name = cdc_config_key_name(key);
        const char *v = cdc_config_str(c, key);
        cdc_err_t err = CDC_OK;
        if (key == CDC_KEY_ENDPOINT_PRIMARY)
            err = cdc_config_set(e, name, endpoint, "check", problems);
        else if (key == CDC_KEY_ENDPOINT_SECONDARY)
            continue;
        else if (cdc_config_is_set(c, key))
            err = cdc_config_set(e, name, v, cdc_config_source(c, key),
                                 problems);
        else if (!v && cdc_config_str(e, key))
            /* Set to "" (unset), not left at its default. */
            err = cdc_config_set(e, name, "", "check", problems);
        if (err != CDC_OK) {
            cdc_config_destroy(e);
            return NULL;
        }
    }
    return e;
}

/* One configured endpoint, connected to on its own. */
typedef struct {
    const char *role;   /* "primary" or "secondary" */
    const char *name;   /* as configured: "host" or "host:port" */
    char hostport[300]; /* always "host:port", for the lines */
    cdc_config_t *cfg;  /* owned; NULL: the checked config itself is used */
    cdc_db_t *db;       /* owned */
    PGconn *conn;       /* owned by db; NULL when it did not connect */
} endpoint_t;

/*
 * Connect to ep and print its line: the primary's as it always was,
 * "database HOST:PORT (sslmode M) as USER", the secondary's with
 * "secondary" before the address; on failure "database: ROLE HOST:PORT:
 * why; what to try". own_cfg: connect through a copy of the config that has
 * only this endpoint (needed whenever a secondary is configured, so the
 * primary's line never comes from failing over).
 */
static void check_endpoint(check_t *k, endpoint_t *ep, bool own_cfg,
                           cdc_cred_chain_t *chain)
{
    const cdc_config_t *c = k->cfg;
    bool secondary = strcmp(ep->role, "secondary") == 0;
    char errstr[1024];
    if (strchr(ep->name, ':'))
        snprintf(ep->hostport, sizeof ep->hostport, "%s", ep->name);
    else
        snprintf(ep->hostport, sizeof ep->hostport, "%s:%lld", ep->name,
                 (long long)cdc_config_int(c, CDC_KEY_PORT));
    if (own_cfg) {
        cdc_buf_t problems;
        cdc_buf_init(&problems);
        ep->cfg = endpoint_config(c, ep->name, &problems);
        if (problems.len && problems.data[problems.len - 1] == '\n')
            problems.data[--problems.len] = '\0';
        if (!ep->cfg)
            FAIL(k, "database: %s %s: cannot use the configuration for it: "
                 "%s", ep->role, ep->hostport, cdc_buf_str(&problems));
        cdc_buf_free(&problems);
        if (!ep->cfg)
            return;
    }
    ep->db = cdc_db_new(ep->cfg ? ep->cfg : c, chain);
    if (!ep->db) {
        FAIL(k, "database: %s %s: out of memory", ep->role, ep->hostport);
        return;
    }
    cdc_err_t err = cdc_db_get(ep->db, &ep->conn, errstr, sizeof errstr);
    if (err == CDC_OK) {
        OK(k, "database %s%s (sslmode %s) as %s",
           secondary ? "secondary " : "", ep->hostport,
           cdc_config_str(c, CDC_KEY_SSL_MODE),
           cdc_config_str(c, CDC_KEY_IAM_USERNAME));
        return;
    }
    ep->conn = NULL;
    /* conn.c names the endpoint as its primary: say it once, our way. */
    const char *why = errstr;
    size_t nl = strlen(ep->name);
    if (strncmp(why, "primary ", 8) == 0 && strncmp(why + 8, ep->name, nl) == 0 &&
        strncmp(why + 8 + nl, ": ", 2) == 0)
        why += 8 + nl + 2;
    if (err == CDC_ERR_DB_CONNECT)
        FAIL(k, "database: %s %s: %s; check dsql.endpoint.%s and dsql.port, "
             "and that the server is up and reachable from here%s", ep->role,
             ep->hostport, why, ep->role,
             secondary ? " (a failover to it would fail the same way)" : "");
    else
        FAIL(k, "database: %s %s: %s", ep->role, ep->hostport, why);
}

int cdc_check_run(const cdc_config_t *c, FILE *out)
{
    check_t k = {.out = out, .cfg = c};
    char errstr[1024];
    if (strcmp(cdc_config_str(c, CDC_KEY_AUTH_MODE), "iam") == 0)
        check_iam(&k);
    if (strcmp(cdc_config_str(c, CDC_KEY_SINK_TYPE), "kafka") == 0)
        check_kafka(&k);
    k.router = cdc_router_new(c, errstr, sizeof errstr);

    cdc_cred_chain_t *chain = NULL;
    if (strcmp(cdc_config_str(c, CDC_KEY_AUTH_MODE), "iam") == 0)
        chain = cdc_cred_chain_new(NULL);
    const char *primary = cdc_config_str(c, CDC_KEY_ENDPOINT_PRIMARY);
    const char *secondary = cdc_config_str(c, CDC_KEY_ENDPOINT_SECONDARY);
    endpoint_t eps[2] = {
        {.role = "primary", .name = primary ? primary : ""},
        {.role = "secondary", .name = secondary},
    };
    int neps = secondary ? 2 : 1;
    for (int i = 0; i < neps; i++)
        check_endpoint(&k, &eps[i], neps > 1, chain);

    /* The tables are the same on every endpoint: check them once, on the
     * first that answered. */
    endpoint_t *on = NULL;
    for (int i = 0; i < neps && !on; i++)
        if (eps[i].conn)
            on = &eps[i];
    if (on) {
        if (neps > 1)
            fprintf(out, "  checking the tables on the %s, %s\n", on->role,
                    on->hostport);
        k.conn = on->conn;
        cdc_config_list_each(c, CDC_KEY_TABLES, check_table, &k);
    }
    for (int i = 0; i < neps; i++) {
        cdc_db_destroy(eps[i].db);
        cdc_config_destroy(eps[i].cfg);
    }
    cdc_cred_chain_destroy(chain);
    cdc_router_destroy(k.router);
    cdc_kafka_destroy(k.kafka);
    return k.failures;
}
