/*
 * conn.c - endpoint connections, failover and failback (see conn.h).
 *
 * Each endpoint has at most one connection and its state changes only in
 * set_state(). While the secondary is active, the primary's connection
 * attempts are the failback checks: one that becomes READY makes the
 * primary active again. Nothing here sleeps; waits are poll() on the
 * connecting socket, bounded by the caller's budget.
 */
#include "db/conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/token.h"
#include "common/buf.h"
#include "common/log.h"

#define ACQUIRE_WAIT_MS 100   /* most an acquire waits on a connecting socket */
#define CONNECT_TICK_MS 10    /* how soon an attempt wants moving on again */
#define TOKEN_MARGIN_SECS 120 /* a kept token is used only this long before
                                 its expiry: the login must finish in time */

typedef struct {
    const char *role;      /* "primary", "secondary" */
    char *name;            /* as configured: "host" or "host:port" */
    char *host;            /* for libpq and the token */
    char port[8];
    cdc_db_state_t state;
    PGconn *conn;
    PostgresPollingStatusType polling; /* what PQconnectPoll waits for */
    bool setup;            /* logged in; sending the session settings */
    size_t setup_next;     /* the setting in flight */
    int64_t started_ms;    /* the attempt began */
    int64_t due_ms;        /* CONNECTING: give up; BACKOFF: retry */
    int64_t ready_ms;      /* READY since */
    bool lent;             /* the caller holds the connection */
    bool retire;           /* close at release: failed back */
    int failures;          /* consecutive, reset when READY */
    cdc_backoff_t backoff;
    cdc_err_t err;         /* why BACKOFF or FAILED */
    char errstr[1024];
    cdc_buf_t token;       /* the last IAM token signed for host */
    time_t token_at;
} endpoint_t;

struct cdc_db {
    const cdc_config_t *cfg;
    cdc_cred_chain_t *chain;
    bool iam;
    endpoint_t ep[2];
    int nep;
    int active;            /* index into ep */
    int64_t timeout_ms, lifetime_ms, failback_ms, backoff_max_ms;
    int failover_after;
    bool keep_warm;        /* dsql.pool.min.idle > 0 */
    int64_t last_now;
    uint64_t rng;
    cdc_db_stats_t stats;
};

/* Session settings the encoders rely on; each is tried, a refusal warned. */
static const char *const session_sql[] = {
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, MDY'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
};
#define SESSION_SQL_COUNT (sizeof session_sql / sizeof *session_sql)

static void start_connect(cdc_db_t *db, endpoint_t *ep, int64_t now);

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A libpq message on one line: each run of white space (its newlines and
 * tabs) becomes one space, none at the end. */
static void clean_msg(const char *msg, char *out, size_t n)
{
    size_t o = 0;
    bool space = false;
    if (!msg || !*msg)
        msg = "unknown error";
    for (; *msg && o + 1 < n; msg++) {
        if (*msg == ' ' || *msg == '\n' || *msg == '\t' || *msg == '\r') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < n)
            out[o++] = ' ';
        space = false;
        out[o++] = *msg;
    }
    out[o] = '\0';
}

static bool is_primary(const cdc_db_t *db, const endpoint_t *ep)
{
    return ep == &db->ep[CDC_DB_PRIMARY];
}

/* The primary's attempts are failback checks while the secondary is active. */
static bool checking(const cdc_db_t *db, const endpoint_t *ep)
{
    return is_primary(db, ep) && db->active == CDC_DB_SECONDARY;
}

/* Should this endpoint be connected (or be trying to)? */
static bool wanted(const cdc_db_t *db, const endpoint_t *ep)
{
    return ep == &db->ep[db->active] || checking(db, ep);
}

const char *cdc_db_state_name(cdc_db_state_t s)
{
    switch (s) {
    case CDC_DB_CLOSED: return "CLOSED";
    case CDC_DB_CONNECTING: return "CONNECTING";
    case CDC_DB_READY: return "READY";
    case CDC_DB_BACKOFF: return "BACKOFF";
    case CDC_DB_FAILED: return "FAILED";
    }
    return "?";
}

/*
 * The one place an endpoint's state changes, with its one log line. due:
 * the give-up time of CONNECTING, the retry time of BACKOFF. why: what led
 * here, as the log line's tail.
 */
static void set_state(cdc_db_t *db, endpoint_t *ep, cdc_db_state_t to,
                      int64_t now, int64_t due, const char *why)
{
    if (to != CDC_DB_CONNECTING && to != CDC_DB_READY && ep->conn) {
        PQfinish(ep->conn);
        ep->conn = NULL;
    }
    ep->state = to;
    ep->due_ms = due;
    switch (to) {
    case CDC_DB_CLOSED:
        ep->lent = ep->retire = false;
        cdc_log_info("db", "%s %s: connection closed: %s", ep->role, ep->name,
                     why);
        break;
    case CDC_DB_CONNECTING:
        ep->started_ms = now;
        ep->setup = false;
        ep->setup_next = 0;
        ep->polling = PGRES_POLLING_WRITING;
        cdc_log_debug("db", "%s %s: connecting%s", ep->role, ep->name, why);
        break;
    case CDC_DB_READY:
        ep->ready_ms = now;
        ep->failures = 0;
        cdc_backoff_reset(&ep->backoff);
        db->stats.connects++;
        cdc_log_info("db", "%s %s: connected to database %s as %s in %lld ms%s",
                     ep->role, ep->name,
                     cdc_config_str(db->cfg, CDC_KEY_DATABASE_NAME),
                     cdc_config_str(db->cfg, CDC_KEY_IAM_USERNAME),
                     (long long)(now - ep->started_ms), why);
        break;
    case CDC_DB_BACKOFF:
        ep->lent = ep->retire = false;
        cdc_log_warn("db", "%s %s: %s", ep->role, ep->name, why);
        break;
    case CDC_DB_FAILED:
        ep->lent = ep->retire = false;
        cdc_log_error("db", "%s %s: %s; not retrying", ep->role, ep->name, why);
        break;
    }
}

static void fail_over(cdc_db_t *db)
{
    db->active = CDC_DB_SECONDARY;
    db->stats.failovers++;
    cdc_log_warn("db", "failing over from primary %s to secondary %s after %d "
                 "consecutive connection failures "
                 "(dsql.failover.after.failures); checking the primary every "
                 "%lld ms", db->ep[0].name, db->ep[1].name,
                 db->ep[0].failures, (long long)db->failback_ms);
}

/* The primary answered a check: make it active, drop the secondary's
 * connection (at release if it is lent). */
static void fail_back(cdc_db_t *db, int64_t now)
{
    endpoint_t *s = &db->ep[CDC_DB_SECONDARY];
    db->active = CDC_DB_PRIMARY;
    db->stats.failbacks++;
    cdc_log_info("db", "failing back from secondary %s to primary %s: the "
                 "primary answered a check", s->name, db->ep[0].name);
    s->failures = 0;
    cdc_backoff_reset(&s->backoff);
    if (s->lent)
        s->retire = true;
    else if (s->state != CDC_DB_CLOSED)
        set_state(db, s, CDC_DB_CLOSED, now, 0, "failed back to the primary");
}

/*
 * A connection attempt failed (or could not start), or a READY connection
 * was lost. counts: the endpoint is to blame (not, e.g., missing AWS
 * credentials), so it counts towards failover. Chooses the retry time and
 * fails over when due.
 */
static void endpoint_failed(cdc_db_t *db, endpoint_t *ep, cdc_err_t err,
                            const char *why, int64_t now, bool counts,
                            bool was_ready)
{
    char line[1200];
    if (was_ready)
        db->stats.lost++;
    else
        db->stats.connect_failures++;
    if (counts)
        ep->failures++;
    ep->err = err;
    snprintf(ep->errstr, sizeof ep->errstr, "%s", why);
    if (!cdc_err_retriable(err)) {
        set_state(db, ep, CDC_DB_FAILED, now, INT64_MAX, why);
        return;
    }
    bool check = checking(db, ep);
    bool failover = is_primary(db, ep) && !check && db->nep > 1 &&
                    ep->failures >= db->failover_after;
    int64_t delay;
    const char *what = "retrying";
    if (check || failover) {
        delay = db->failback_ms;
        what = "next check of the primary";
    } else if (was_ready && ep->failures == 1) {
        delay = 0; /* a lost connection is replaced at once, once */
    } else if (err == CDC_ERR_AUTH) {
        delay = db->backoff_max_ms; /* a login that was refused, slowly */
    } else {
        delay = cdc_backoff_next(&ep->backoff);
    }
    snprintf(line, sizeof line, "%s; %s in %lld ms%s", why, what,
             (long long)delay,
             err == CDC_ERR_AUTH && !check && !failover
                 ? " (retry.backoff.max.ms)" : "");
    set_state(db, ep, CDC_DB_BACKOFF, now, now + delay, line);
    if (failover)
        fail_over(db);
}

/* --- passwords ------------------------------------------------------------ */

/*
 * The password for a new connection: static, or a fresh IAM token. When
 * the credential chain fails, a token signed earlier for this host that is
 * still valid is used instead, with a warning.
 */
static cdc_err_t get_password(cdc_db_t *db, endpoint_t *ep, cdc_buf_t *out,
                              char *errstr, size_t n)
{
    const cdc_config_t *c = db->cfg;
    if (!db->iam) {
        const char *pw = cdc_config_str(c, CDC_KEY_PASSWORD);
        return pw ? cdc_buf_puts(out, pw) : CDC_OK;
    }
    char region[64];
    cdc_err_t err = cdc_aws_region_resolve(cdc_config_str(c, CDC_KEY_REGION),
                                           NULL, region, sizeof region,
                                           errstr, n);
    if (err != CDC_OK)
        return err;
    if (!db->chain)
        return cdc_err_set(errstr, n, CDC_ERR_INTERNAL,
                           "dsql.auth.mode=iam without a credential chain");
    const cdc_aws_creds_t *creds;
    time_t wall = time(NULL);
    err = cdc_cred_chain_get(db->chain, &creds, errstr, n);
    if (err != CDC_OK) {
        time_t valid_until = ep->token_at + CDC_DSQL_TOKEN_DEFAULT_EXPIRES -
                             TOKEN_MARGIN_SECS;
        if (!ep->token.len || wall >= valid_until)
            return err;
        cdc_log_warn("db", "%s %s: %s; connecting with the token signed %lld s "
                     "ago, usable for %lld s more", ep->role, ep->name, errstr,
                     (long long)(wall - ep->token_at),
                     (long long)(valid_until - wall));
        db->stats.tokens_reused++;
        return cdc_buf_append(out, ep->token.data, ep->token.len);
    }
    const char *user = cdc_config_str(c, CDC_KEY_IAM_USERNAME);
    err = cdc_dsql_token_generate(ep->host, region, strcmp(user, "admin") == 0,
                                  0, creds, wall, out, errstr, n);
    if (err != CDC_OK)
        return err;
    cdc_log_add_secret(cdc_buf_str(out));
    db->stats.tokens_generated++;
    cdc_buf_wipe(&ep->token);
    if (cdc_buf_append(&ep->token, out->data, out->len) == CDC_OK)
        ep->token_at = wall;
    return CDC_OK;
}

/* --- connecting ------------------------------------------------------------ */

/* An attempt failed in libpq: refused logins are auth errors with advice. */
static void connect_error(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    const cdc_config_t *c = db->cfg;
    char msg[512], why[1024];
    clean_msg(PQerrorMessage(ep->conn), msg, sizeof msg);
    const char *user = cdc_config_str(c, CDC_KEY_IAM_USERNAME);
    bool auth = (PQconnectionUsedPassword(ep->conn) && strstr(msg, "auth")) ||
                strstr(msg, "pg_hba.conf") ||
                (strstr(msg, "role \"") && strstr(msg, "does not exist"));
    cdc_err_t err;
    if (auth) {
        /* A rejected token must not be used again. */
        cdc_buf_wipe(&ep->token);
        err = cdc_err_set(why, sizeof why, CDC_ERR_AUTH,
                          "the server rejected %s as %s: %s; %s",
                          db->iam ? "the IAM token" : "the password", user, msg,
                          db->iam ? "check that the IAM identity may "
                                    "dsql:DbConnect (dsql:DbConnectAdmin for "
                                    "admin) on this cluster, that dsql.region "
                                    "is the cluster's region, and that the "
                                    "role exists and is mapped with AWS IAM "
                                    "GRANT"
                                  : "check dsql.password and "
                                    "dsql.iam.username");
    } else {
        err = cdc_err_set(why, sizeof why, CDC_ERR_DB_CONNECT,
                          "cannot connect as %s: %s", user, msg);
    }
    endpoint_failed(db, ep, err, why, now, true, false);
}

/* Begin a connection attempt; on failure the endpoint goes to BACKOFF or
 * FAILED at once. */
static void start_connect(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    const cdc_config_t *c = db->cfg;
    char errstr[1024];
    cdc_buf_t pw;
    cdc_buf_init(&pw);
    cdc_err_t err = get_password(db, ep, &pw, errstr, sizeof errstr);
    if (err != CDC_OK) {
        cdc_buf_wipe(&pw);
        endpoint_failed(db, ep, err, errstr, now, false, false);
        return;
    }
    const char *keys[10], *vals[10];
    int k = 0;
#define PARAM(name, value) (keys[k] = (name), vals[k++] = (value))
    PARAM("host", ep->host);
    PARAM("port", ep->port);
    PARAM("dbname", cdc_config_str(c, CDC_KEY_DATABASE_NAME));
    PARAM("user", cdc_config_str(c, CDC_KEY_IAM_USERNAME));
    PARAM("sslmode", cdc_config_str(c, CDC_KEY_SSL_MODE));
    PARAM("application_name", "dsqlcdc");
    if (pw.len)
        PARAM("password", cdc_buf_str(&pw));
    PARAM(NULL, NULL);
#undef PARAM
    PGconn *conn = PQconnectStartParams(keys, vals, 0);
    cdc_buf_wipe(&pw);
    if (!conn) {
        endpoint_failed(db, ep, CDC_ERR_NOMEM, "out of memory", now, false,
                        false);
        return;
    }
    ep->conn = conn;
    set_state(db, ep, CDC_DB_CONNECTING, now, now + db->timeout_ms,
              checking(db, ep) ? " (failback check)" : "");
    if (PQstatus(conn) == CONNECTION_BAD)
        connect_error(db, ep, now);
}

/* Send the next session setting; false when the connection broke. */
static bool send_setting(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    if (PQsendQuery(ep->conn, session_sql[ep->setup_next]))
        return true;
    char msg[512], why[700];
    clean_msg(PQerrorMessage(ep->conn), msg, sizeof msg);
    snprintf(why, sizeof why, "connection lost while setting up the session: "
             "%s", msg);
    endpoint_failed(db, ep, CDC_ERR_DB_CONNECT, why, now, true, false);
    return false;
}

static void became_ready(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    bool check = checking(db, ep);
    set_state(db, ep, CDC_DB_READY, now, 0, check ? " (failback check)" : "");
    if (check)
        fail_back(db, now);
}

/*
 * Move a CONNECTING endpoint on: the login handshake, then the session
 * settings, one at a time. Waits up to wait_ms in all for its socket;
 * returns once READY, failed, or the wait is used up.
 */
static void progress(cdc_db_t *db, endpoint_t *ep, int64_t now,
                     int64_t wait_ms)
{
    int64_t t0 = mono_ms();
    while (ep->state == CDC_DB_CONNECTING) {
        int64_t spent = mono_ms() - t0;
        int64_t t = now + spent;
        if (t >= ep->due_ms) {
            char why[256];
            snprintf(why, sizeof why, "cannot connect: no answer within "
                     "%lld ms (dsql.pool.connection.timeout.ms)",
                     (long long)db->timeout_ms);
            endpoint_failed(db, ep, CDC_ERR_DB_CONNECT, why, t, true, false);
            return;
        }
        int64_t left = wait_ms - spent;
        if (left < 0)
            left = 0;
        if (left > ep->due_ms - t)
            left = ep->due_ms - t;
        struct pollfd pfd = {
            .fd = PQsocket(ep->conn),
            .events = !ep->setup && ep->polling == PGRES_POLLING_WRITING
                          ? POLLOUT : POLLIN,
        };
        int r = poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)left);
        if (r == 0 || (r < 0 && errno == EINTR))
            return; /* not yet, or a signal for the caller to see */
        if (!ep->setup) {
            ep->polling = PQconnectPoll(ep->conn);
            if (ep->polling == PGRES_POLLING_FAILED) {
                connect_error(db, ep, t);
                return;
            }
            if (ep->polling == PGRES_POLLING_OK) {
                ep->setup = true;
                if (!send_setting(db, ep, t))
                    return;
            }
            continue;
        }
        if (!PQconsumeInput(ep->conn)) {
            char msg[512], why[700];
            clean_msg(PQerrorMessage(ep->conn), msg, sizeof msg);
            snprintf(why, sizeof why, "connection lost while setting up the "
                     "session: %s", msg);
            endpoint_failed(db, ep, CDC_ERR_DB_CONNECT, why, t, true, false);
            return;
        }
        while (ep->state == CDC_DB_CONNECTING && !PQisBusy(ep->conn)) {
            PGresult *res = PQgetResult(ep->conn);
            if (res) {
                if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                    char msg[512];
                    clean_msg(PQresultErrorMessage(res), msg, sizeof msg);
                    cdc_log_warn("db", "%s refused by %s %s: %s",
                                 session_sql[ep->setup_next], ep->role,
                                 ep->name, msg);
                }
                PQclear(res);
                continue;
            }
            /* NULL: that setting is done. */
            if (++ep->setup_next == SESSION_SQL_COUNT)
                became_ready(db, ep, t);
            else if (!send_setting(db, ep, t))
                return;
        }
    }
}

/* --- lost connections -------------------------------------------------------- */

/* Does this failure mean the connection is gone? why gets the reason. */
static bool connection_lost(PGconn *conn, cdc_err_t result,
                            const PGresult *res, char *why, size_t n)
{
    bool bad = PQstatus(conn) != CONNECTION_OK;
    if (result == CDC_OK && !bad)
        return false;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* A broken connection's own message has the whole story (a FATAL
     * error, then the closed socket); a result's only the last part. */
    const char *msg = res && !bad ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(conn);
    if (!bad && state && strcmp(state, "40001") == 0)
        return false; /* an optimistic concurrency conflict: just retry */
    bool lost = bad || result == CDC_ERR_DB_CONNECT ||
                (state && (strncmp(state, "08", 2) == 0 ||
                           strcmp(state, "57P01") == 0 ||
                           strcmp(state, "57P02") == 0 ||
                           strcmp(state, "57P03") == 0)) ||
                (msg && (strstr(msg, "server closed the connection") ||
                         strstr(msg, "terminating connection") ||
                         strstr(msg, "no connection to the server") ||
                         strstr(msg, "could not receive data") ||
                         strstr(msg, "could not send data") ||
                         strstr(msg, "SSL SYSCALL error")));
    if (lost) {
        char clean[512];
        clean_msg(msg, clean, sizeof clean);
        snprintf(why, n, "connection lost: %s", clean);
    }
    return lost;
}

static void recycle(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    char why[200];
    snprintf(why, sizeof why, "recycled after %lld ms "
             "(dsql.connection.max.lifetime.ms)",
             (long long)(now - ep->ready_ms));
    db->stats.recycles++;
    set_state(db, ep, CDC_DB_CLOSED, now, 0, why);
    /* Start the replacement now, so it is likely ready by the next query. */
    if (wanted(db, ep))
        start_connect(db, ep, now);
}

/* An idle READY connection: notice a server that closed it, retire and
 * recycle it between queries. */
static void check_idle(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    char why[700];
    if (!PQconsumeInput(ep->conn) || PQstatus(ep->conn) != CONNECTION_OK) {
        connection_lost(ep->conn, CDC_ERR_DB_CONNECT, NULL, why, sizeof why);
        endpoint_failed(db, ep, CDC_ERR_DB_CONNECT, why, now, true, true);
        return;
    }
    if (ep->retire || !wanted(db, ep))
        set_state(db, ep, CDC_DB_CLOSED, now, 0, "failed back to the primary");
    else if (now - ep->ready_ms >= db->lifetime_ms)
        recycle(db, ep, now);
}

/* --- public ------------------------------------------------------------------ */

/* "host", "host:port" or "[v6]:port" into ep; false when malformed. */
static bool parse_endpoint(endpoint_t *ep, const char *text, int64_t port)
{
    const char *colon = strrchr(text, ':');
    size_t hl = strlen(text);
    const char *h = text;
    bool has_port = false;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        h = text + 1;
        hl = (size_t)(close - h);
        has_port = close[1] == ':';
        colon = has_port ? close + 1 : NULL;
    } else if (colon && strchr(text, ':') == colon) {
        hl = (size_t)(colon - text);
        has_port = true;
    }
    if (has_port) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || p < 1 || p > 65535)
            return false;
        port = p;
    }
    if (!hl)
        return false;
    ep->name = strdup(text);
    ep->host = strndup(h, hl);
    snprintf(ep->port, sizeof ep->port, "%lld", (long long)port);
    return ep->name && ep->host;
}

cdc_db_t *cdc_db_new(const cdc_config_t *c, cdc_cred_chain_t *chain)
{
    cdc_db_t *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->cfg = c;
    db->chain = chain;
    db->iam = strcmp(cdc_config_str(c, CDC_KEY_AUTH_MODE), "iam") == 0;
    db->timeout_ms = cdc_config_int(c, CDC_KEY_POOL_CONNECTION_TIMEOUT_MS);
    db->lifetime_ms = cdc_config_int(c, CDC_KEY_CONNECTION_MAX_LIFETIME_MS);
    db->failback_ms = cdc_config_int(c, CDC_KEY_FAILBACK_CHECK_INTERVAL_MS);
    db->failover_after = (int)cdc_config_int(c, CDC_KEY_FAILOVER_AFTER_FAILURES);
    db->backoff_max_ms = cdc_config_int(c, CDC_KEY_RETRY_BACKOFF_MAX_MS);
    db->keep_warm = cdc_config_int(c, CDC_KEY_POOL_MIN_IDLE) > 0;
    db->last_now = mono_ms();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    db->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
              ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)db;
    const char *names[2] = {cdc_config_str(c, CDC_KEY_ENDPOINT_PRIMARY),
                            cdc_config_str(c, CDC_KEY_ENDPOINT_SECONDARY)};
    static const char *const roles[2] = {"primary", "secondary"};
    int64_t port = cdc_config_int(c, CDC_KEY_PORT);
    for (int i = 0; i < 2; i++) {
        endpoint_t *ep = &db->ep[i];
        ep->role = roles[i];
        ep->state = CDC_DB_CLOSED;
        cdc_buf_init(&ep->token);
        cdc_backoff_init(&ep->backoff, cdc_config_int(c, CDC_KEY_RETRY_BACKOFF_MS),
                         db->backoff_max_ms, cdc_backoff_rand_default, &db->rng);
        /* A primary that does not parse is still tried, as libpq sees it,
         * so the error names it. */
        if (i == 0 && !parse_endpoint(ep, names[0] ? names[0] : "", port)) {
            free(ep->name);
            free(ep->host);
            ep->name = strdup(names[0] ? names[0] : "");
            ep->host = strdup(names[0] ? names[0] : "");
            snprintf(ep->port, sizeof ep->port, "%lld", (long long)port);
            if (!ep->name || !ep->host) {
                cdc_db_destroy(db);
                return NULL;
            }
        }
        if (i == 1 && names[1] && names[1][0]) {
            if (!parse_endpoint(ep, names[1], port)) {
                cdc_log_warn("db", "dsql.endpoint.secondary \"%s\" is not host "
                             "or host:port; failover is off", names[1]);
                free(ep->name);
                free(ep->host);
                ep->name = ep->host = NULL;
                continue;
            }
            db->nep = 2;
        }
    }
    if (!db->nep)
        db->nep = 1;
    return db;
}

void cdc_db_destroy(cdc_db_t *db)
{
    if (!db)
        return;
    for (int i = 0; i < 2; i++) {
        endpoint_t *ep = &db->ep[i];
        if (ep->conn)
            set_state(db, ep, CDC_DB_CLOSED, db->last_now, 0, "shutting down");
        cdc_buf_wipe(&ep->token);
        free(ep->name);
        free(ep->host);
    }
    free(db);
}

void cdc_db_set_random(cdc_db_t *db, cdc_backoff_rand_fn rand, void *ud)
{
    for (int i = 0; i < 2; i++) {
        db->ep[i].backoff.rand = rand ? rand : cdc_backoff_rand_default;
        db->ep[i].backoff.rand_ud = rand ? ud : &db->rng;
    }
}

void cdc_db_service(cdc_db_t *db, int64_t now)
{
    db->last_now = now;
    for (int i = 0; i < db->nep; i++) {
        endpoint_t *ep = &db->ep[i];
        switch (ep->state) {
        case CDC_DB_CLOSED:
            if (wanted(db, ep) && (db->keep_warm || checking(db, ep)))
                start_connect(db, ep, now);
            break;
        case CDC_DB_BACKOFF:
            if (wanted(db, ep) && now >= ep->due_ms)
                start_connect(db, ep, now);
            break;
        case CDC_DB_CONNECTING:
            progress(db, ep, now, 0);
            break;
        case CDC_DB_READY:
            if (!ep->lent)
                check_idle(db, ep, now);
            break;
        case CDC_DB_FAILED:
            break;
        }
    }
}

int64_t cdc_db_next_deadline(const cdc_db_t *db)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < db->nep; i++) {
        const endpoint_t *ep = &db->ep[i];
        int64_t t = INT64_MAX;
        switch (ep->state) {
        case CDC_DB_CLOSED:
            if (wanted(db, ep) && (db->keep_warm || checking(db, ep)))
                t = db->last_now;
            break;
        case CDC_DB_BACKOFF:
            if (wanted(db, ep))
                t = ep->due_ms;
            break;
        case CDC_DB_CONNECTING:
            t = db->last_now + CONNECT_TICK_MS;
            if (ep->due_ms < t)
                t = ep->due_ms;
            break;
        case CDC_DB_READY:
            if (!ep->lent)
                t = ep->retire || !wanted(db, ep)
                        ? db->last_now : ep->ready_ms + db->lifetime_ms;
            break;
        case CDC_DB_FAILED:
            break;
        }
        if (t < next)
            next = t;
    }
    return next;
}

cdc_err_t cdc_db_acquire(cdc_db_t *db, int64_t now, PGconn **out,
                         int64_t *retry_at, char *errstr, size_t n)
{
    int64_t t0 = mono_ms();
    *out = NULL;
    *retry_at = now;
    cdc_db_service(db, now);
    endpoint_t *ep = NULL;
    /* Twice at most: a failed attempt may fail over to the secondary. */
    for (int round = 0; round < 2 && ep != &db->ep[db->active]; round++) {
        ep = &db->ep[db->active];
        int64_t t = now + (mono_ms() - t0);
        if (ep->state == CDC_DB_CLOSED ||
            (ep->state == CDC_DB_BACKOFF && t >= ep->due_ms))
            start_connect(db, ep, t);
        if (ep->state == CDC_DB_CONNECTING)
            progress(db, ep, t, ACQUIRE_WAIT_MS);
    }
    ep = &db->ep[db->active];
    int64_t t = now + (mono_ms() - t0);
    switch (ep->state) {
    case CDC_DB_READY:
        ep->lent = true;
        *out = ep->conn;
        return CDC_OK;
    case CDC_DB_CONNECTING:
    case CDC_DB_CLOSED:
        *retry_at = t + CONNECT_TICK_MS < ep->due_ms ? t + CONNECT_TICK_MS
                                                     : ep->due_ms;
        return CDC_OK;
    case CDC_DB_BACKOFF:
        *retry_at = ep->due_ms;
        return cdc_err_set(errstr, n, ep->err, "%s %s: %s", ep->role, ep->name,
                           ep->errstr);
    case CDC_DB_FAILED:
        *retry_at = INT64_MAX;
        return cdc_err_set(errstr, n, ep->err, "%s %s: %s", ep->role, ep->name,
                           ep->errstr);
    }
    return cdc_err_set(errstr, n, CDC_ERR_INTERNAL, "bad connection state");
}

static endpoint_t *find_conn(cdc_db_t *db, const PGconn *conn)
{
    for (int i = 0; conn && i < db->nep; i++)
        if (db->ep[i].conn == conn)
            return &db->ep[i];
    return NULL;
}

void cdc_db_release(cdc_db_t *db, PGconn *conn, cdc_err_t result,
                    const PGresult *last_failed, int64_t now)
{
    endpoint_t *ep = find_conn(db, conn);
    if (!ep)
        return;
    db->last_now = now;
    ep->lent = false;
    if (ep->state != CDC_DB_READY)
        return;
    char why[700];
    if (connection_lost(conn, result, last_failed, why, sizeof why))
        endpoint_failed(db, ep, CDC_ERR_DB_CONNECT, why, now, true, true);
    else if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        /* Not how the poller leaves it; a fresh session is the safe bet. */
        set_state(db, ep, CDC_DB_CLOSED, now, 0, "left inside a transaction");
    else if (ep->retire || !wanted(db, ep))
        set_state(db, ep, CDC_DB_CLOSED, now, 0, "failed back to the primary");
    else if (now - ep->ready_ms >= db->lifetime_ms)
        recycle(db, ep, now);
}

const char *cdc_db_active_endpoint(const cdc_db_t *db)
{
    return db->ep[db->active].name;
}

const char *cdc_db_endpoint(const cdc_db_t *db)
{
    return cdc_db_active_endpoint(db);
}

cdc_db_state_t cdc_db_state(const cdc_db_t *db, cdc_db_endpoint_id_t which)
{
    if ((int)which < 0 || (int)which >= db->nep)
        return CDC_DB_CLOSED;
    return db->ep[which].state;
}

void cdc_db_stats(const cdc_db_t *db, cdc_db_stats_t *out)
{
    *out = db->stats;
}

cdc_err_t cdc_db_get(cdc_db_t *db, PGconn **out, char *errstr, size_t n)
{
    *out = NULL;
    for (;;) {
        int64_t now = mono_ms(), retry_at;
        PGconn *conn;
        cdc_err_t err = cdc_db_acquire(db, now, &conn, &retry_at, errstr, n);
        if (err != CDC_OK)
            return err;
        if (conn) {
            find_conn(db, conn)->lent = false;
            *out = conn;
            return CDC_OK;
        }
        int64_t wait = retry_at - mono_ms();
        if (wait > 0)
            poll(NULL, 0, (int)(wait > ACQUIRE_WAIT_MS ? ACQUIRE_WAIT_MS : wait));
    }
}

void cdc_db_reset(cdc_db_t *db)
{
    int64_t now = mono_ms();
    endpoint_t *ep = &db->ep[db->active];
    char why[700];
    db->last_now = now;
    if (ep->state == CDC_DB_READY) {
        if (connection_lost(ep->conn, CDC_OK, NULL, why, sizeof why))
            endpoint_failed(db, ep, CDC_ERR_DB_CONNECT, why, now, true, true);
        else
            set_state(db, ep, CDC_DB_CLOSED, now, 0, "reset after an error");
    }
    /* Retry at once, unless that failed over: the primary then waits for
     * its check. */
    if (ep == &db->ep[db->active] &&
        (ep->state == CDC_DB_BACKOFF || ep->state == CDC_DB_FAILED))
        set_state(db, ep, CDC_DB_CLOSED, now, 0, "reset: retrying at once");
}

cdc_err_t cdc_db_result_error(const PGresult *res, const PGconn *conn,
                              const char *what, char *errstr, size_t n)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool bad = PQstatus(conn) != CONNECTION_OK;
    const char *msg = res && !bad ? PQresultErrorMessage(res) : NULL;
    char clean[512];
    clean_msg(msg && *msg ? msg : PQerrorMessage(conn), clean, sizeof clean);
    if (bad ||
        (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
                   strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)))
        return cdc_err_set(errstr, n, CDC_ERR_DB_CONNECT,
                           "%s: connection lost: %s", what, clean);
    if (state && strcmp(state, "40001") == 0)
        return cdc_err_set(errstr, n, CDC_ERR_DB_QUERY,
                           "%s: conflict with a concurrent transaction "
                           "(SQLSTATE 40001); retried", what);
    if (state && strcmp(state, "42501") == 0)
        return cdc_err_set(errstr, n, CDC_ERR_DB_QUERY,
                           "%s: permission denied (%s); GRANT SELECT on the "
                           "table to the role in dsql.iam.username", what,
                           clean);
    if (state && (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0))
        return cdc_err_set(errstr, n, CDC_ERR_SCHEMA, "%s: %s (SQLSTATE %s)",
                           what, clean, state);
    return cdc_err_set(errstr, n, CDC_ERR_DB_QUERY, "%s: %s (SQLSTATE %s)",
                       what, clean, state ? state : "?");
}
