/*
 * conn.c - pooled endpoint connections, failover and failback (see conn.h).
 *
 * Each endpoint has a pool of up to dsql.pool.max.size connections, each a
 * small state machine of its own (a free slot is CLOSED, then CONNECTING,
 * READY). The endpoint's state follows from its pool and its failures
 * (derived()) and changes only in set_state(), with one log line per
 * transition: what happens to the fifth connection of a pool is logged at
 * debug level. A failure makes the endpoint's other connections suspects:
 * when one of them fails too, that is the same failure, counted and logged
 * once. While the secondary is active, the primary's connection attempts
 * are the failback checks: one that becomes READY makes the primary active
 * again. Nothing here sleeps; waits are poll() on connecting sockets,
 * bounded by the caller's budget.
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
#include "common/clock.h"
#include "common/log.h"

#define ACQUIRE_WAIT_MS 100   /* most an acquire waits on connecting sockets */
#define CONNECT_TICK_MS 10    /* how soon an attempt wants moving on again */
#define WAIT_TICK_MS 10       /* how soon a caller that found every
                                 connection lent asks again */
#define IDLE_TIMEOUT_MS 600000 /* idle connections above dsql.pool.min.idle
                                  close after 10 minutes unused */
#define TOKEN_MARGIN_SECS 120 /* a kept token is used only this long before
                                 its expiry: the login must finish in time */

typedef struct endpoint endpoint_t;

/* One pooled connection. */
typedef struct {
    endpoint_t *ep;        /* its endpoint */
    cdc_db_state_t state;  /* CLOSED (a free slot), CONNECTING or READY */
    PGconn *conn;
    PostgresPollingStatusType polling; /* what PQconnectPoll waits for */
    bool setup;            /* logged in; sending the session settings */
    size_t setup_next;     /* the setting in flight */
    int64_t started_ms;    /* the attempt began */
    int64_t due_ms;        /* CONNECTING: give up */
    int64_t ready_ms;      /* READY since: its lifetime */
    int64_t idle_ms;       /* given back (or READY) at */
    uint64_t idle_seq;     /* db->seq then: which was given back last */
    bool lent;             /* the caller holds the connection */
    const char *retire;    /* close at release, for this reason; NULL: keep */
    bool suspect;          /* open when another connection to the endpoint
                              failed: failing too is the same failure */
    uint64_t lent_waits;   /* db->waits when it was lent */
} pconn_t;

struct endpoint {
    const char *role;      /* "primary", "secondary" */
    char *name;            /* as configured: "host" or "host:port" */
    char *host;            /* for libpq and the token */
    char port[8];
    cdc_db_state_t state;  /* derived() as last set by set_state() */
    pconn_t *pool;         /* db->max_size slots */
    bool backing_off;      /* failed since the last attempt began: no new
                              attempt before retry_ms */
    int64_t retry_ms;
    bool failed;           /* retrying cannot help: FAILED until a reset */
    int failures;          /* consecutive, reset when a connection is READY */
    cdc_backoff_t backoff;
    cdc_err_t err;         /* the last failure */
    char errstr[1024];
    cdc_buf_t token;       /* the last IAM token signed for host */
    time_t token_at;
};

struct cdc_db {
    const cdc_config_t *cfg;
    cdc_cred_chain_t *chain;
    bool iam;
    endpoint_t ep[2];
    int nep;
    int active;            /* index into ep */
    int64_t timeout_ms, lifetime_ms, failback_ms, backoff_max_ms;
    int failover_after;
    int max_size;          /* dsql.pool.max.size, per endpoint */
    int min_idle;          /* dsql.pool.min.idle, at most max_size */
    uint64_t waits;        /* acquires that found every connection lent */
    uint64_t seq;          /* counts give-backs */
    pconn_t *got;          /* the last cdc_db_get's, for cdc_db_reset */
    struct pollfd *pfd;    /* max_size each: progress()'s poll set */
    pconn_t **who;
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
static void check_idle(cdc_db_t *db, endpoint_t *ep, pconn_t *pc,
                       int64_t now);
static bool connection_lost(PGconn *conn, cdc_err_t result,
                            const PGresult *res, char *why, size_t n);

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

static bool is_active(const cdc_db_t *db, const endpoint_t *ep)
{
    return ep == &db->ep[db->active];
}

/* The primary's attempts are failback checks while the secondary is active. */
static bool checking(const cdc_db_t *db, const endpoint_t *ep)
{
    return is_primary(db, ep) && db->active == CDC_DB_SECONDARY;
}

/* Why a connection to an endpoint that is not active closes. */
static const char *leaving(const cdc_db_t *db, const endpoint_t *ep)
{
    return is_primary(db, ep) ? "failed over to the secondary"
                              : "failed back to the primary";
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

/* --- the pool ------------------------------------------------------------- */

typedef struct {
    int live;              /* slots in use: connecting + ready */
    int connecting;
    int ready;
    int idle;              /* ready, not lent, not to be retired */
} tally_t;

static tally_t tally(const cdc_db_t *db, const endpoint_t *ep)
{
    tally_t n = {0, 0, 0, 0};
    for (int i = 0; i < db->max_size; i++) {
        const pconn_t *pc = &ep->pool[i];
        if (pc->state == CDC_DB_CONNECTING)
            n.connecting++;
        else if (pc->state == CDC_DB_READY) {
            n.ready++;
            if (!pc->lent && !pc->retire)
                n.idle++;
        }
    }
    n.live = n.connecting + n.ready;
    return n;
}

/* The idle READY connection given back last (warmest caches; the others
 * can then go idle long enough to be closed), or NULL. */
static pconn_t *idle_conn(cdc_db_t *db, endpoint_t *ep)
{
    pconn_t *best = NULL;
    for (int i = 0; i < db->max_size; i++) {
        pconn_t *pc = &ep->pool[i];
        if (pc->state == CDC_DB_READY && !pc->lent && !pc->retire &&
            (!best || pc->idle_seq > best->idle_seq))
            best = pc;
    }
    return best;
}

/* The connection's slot is free again. Logs nothing. */
static void pc_close(cdc_db_t *db, pconn_t *pc)
{
    endpoint_t *ep = pc->ep;
    if (pc->conn)
        PQfinish(pc->conn);
    if (db->got == pc)
        db->got = NULL;
    memset(pc, 0, sizeof *pc);
    pc->ep = ep;
    pc->state = CDC_DB_CLOSED;
}

/* Close the endpoint's connections, the lent ones when given back. */
static void drop_pool(cdc_db_t *db, endpoint_t *ep, const char *why)
{
    for (int i = 0; i < db->max_size; i++) {
        pconn_t *pc = &ep->pool[i];
        if (pc->state == CDC_DB_READY && pc->lent)
            pc->retire = why;
        else if (pc->state != CDC_DB_CLOSED)
            pc_close(db, pc);
    }
}

/*
 * The endpoint's state: FAILED when retrying cannot help; READY while one
 * of its connections is; CONNECTING while an attempt is under way; BACKOFF
 * while waiting to retry after a failure; CLOSED otherwise.
 */
static cdc_db_state_t derived(const cdc_db_t *db, const endpoint_t *ep)
{
    if (ep->failed)
        return CDC_DB_FAILED;
    tally_t n = tally(db, ep);
    if (n.ready)
        return CDC_DB_READY;
    if (n.connecting)
        return CDC_DB_CONNECTING;
    return ep->backing_off ? CDC_DB_BACKOFF : CDC_DB_CLOSED;
}

/*
 * The one place an endpoint's state changes, with its one log line. why:
 * what led here, as the line's tail; NULL when the event was logged
 * already (the transition is then logged at debug level only).
 */
static void set_state(cdc_db_t *db, endpoint_t *ep, cdc_db_state_t to,
                      int64_t now, const char *why)
{
    if (to == ep->state)
        return;
    ep->state = to;
    switch (to) {
    case CDC_DB_CLOSED:
        if (why)
            cdc_log_info("db", "%s %s: connection closed: %s", ep->role,
                         ep->name, why);
        else
            cdc_log_debug("db", "%s %s: no connection open", ep->role,
                          ep->name);
        break;
    case CDC_DB_CONNECTING:
        cdc_log_debug("db", "%s %s: connecting%s", ep->role, ep->name,
                      why ? why : "");
        break;
    case CDC_DB_READY:
        cdc_log_info("db", "%s %s: connected to database %s as %s%s",
                     ep->role, ep->name,
                     cdc_config_str(db->cfg, CDC_KEY_DATABASE_NAME),
                     cdc_config_str(db->cfg, CDC_KEY_IAM_USERNAME),
                     why ? why : "");
        break;
    case CDC_DB_BACKOFF:
        if (why)
            cdc_log_warn("db", "%s %s: %s", ep->role, ep->name, why);
        else
            cdc_log_debug("db", "%s %s: no connection open; next attempt "
                          "in %lld ms", ep->role, ep->name,
                          (long long)(ep->retry_ms > now ? ep->retry_ms - now
                                                         : 0));
        break;
    case CDC_DB_FAILED:
        cdc_log_error("db", "%s %s: %s; not retrying", ep->role, ep->name,
                      why ? why : ep->errstr);
        break;
    }
}

/*
 * One connection closes for why. Logged once: each (an event of this
 * connection) at info, else only when it was the endpoint's last one (the
 * endpoint's transition), at debug level otherwise.
 */
static void close_one(cdc_db_t *db, endpoint_t *ep, pconn_t *pc,
                      int64_t now, const char *why, bool each)
{
    pc_close(db, pc);
    cdc_db_state_t to = derived(db, ep);
    if (each)
        cdc_log_info("db", "%s %s: connection closed: %s", ep->role,
                     ep->name, why);
    else if (to == ep->state)
        cdc_log_debug("db", "%s %s: connection closed: %s (%d still open)",
                      ep->role, ep->name, why, tally(db, ep).live);
    set_state(db, ep, to, now, each || to != CDC_DB_CLOSED ? NULL : why);
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
 * connections (the lent ones at release). */
static void fail_back(cdc_db_t *db, int64_t now)
{
    endpoint_t *s = &db->ep[CDC_DB_SECONDARY];
    db->active = CDC_DB_PRIMARY;
    db->stats.failbacks++;
    cdc_log_info("db", "failing back from secondary %s to primary %s: the "
                 "primary answered a check", s->name, db->ep[0].name);
    s->failures = 0;
    cdc_backoff_reset(&s->backoff);
    s->backing_off = s->failed = false;
    const char *why = leaving(db, s);
    drop_pool(db, s, why);
    set_state(db, s, derived(db, s), now, why);
}

/* Check the endpoint's idle suspects now: the failure just seen may have
 * taken them too, or may not have (one backend killed). */
static void check_suspects(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    for (int i = 0; i < db->max_size; i++) {
        pconn_t *pc = &ep->pool[i];
        if (pc->state == CDC_DB_READY && !pc->lent && pc->suspect)
            check_idle(db, ep, pc, now);
    }
}

/*
 * A connection attempt failed (pc CONNECTING, or NULL when it could not
 * start), or a READY connection was lost (pc READY, was_ready). counts: the
 * endpoint is to blame (not, e.g., missing AWS credentials), so it counts
 * towards failover. A suspect's failure is the one already counted and
 * logged. Otherwise chooses the retry time, logs, fails over when due.
 */
static void conn_failed(cdc_db_t *db, endpoint_t *ep, pconn_t *pc,
                        cdc_err_t err, const char *why, int64_t now,
                        bool counts, bool was_ready)
{
    char line[1200];
    if (was_ready)
        db->stats.lost++;
    else
        db->stats.connect_failures++;
    bool same = pc && pc->suspect;
    if (pc)
        pc_close(db, pc);
    if (same) {
        cdc_log_debug("db", "%s %s: %s (the same failure as before)",
                      ep->role, ep->name, why);
        set_state(db, ep, derived(db, ep), now, NULL);
        return;
    }
    if (counts) {
        ep->failures++;
        for (int i = 0; i < db->max_size; i++)
            if (ep->pool[i].state != CDC_DB_CLOSED)
                ep->pool[i].suspect = true;
    }
    ep->err = err;
    snprintf(ep->errstr, sizeof ep->errstr, "%s", why);
    if (!cdc_err_retriable(err)) {
        ep->failed = true;
        ep->backing_off = false;
        drop_pool(db, ep, "not retrying");
        set_state(db, ep, CDC_DB_FAILED, now, why);
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
    ep->backing_off = true;
    ep->retry_ms = now + delay;
    if (failover)
        drop_pool(db, ep, leaving(db, ep));
    cdc_db_state_t to = derived(db, ep);
    if (to == CDC_DB_BACKOFF && ep->state != CDC_DB_BACKOFF) {
        set_state(db, ep, to, now, line);
    } else {
        /* Other connections stay open, or it was BACKOFF already. */
        cdc_log_warn("db", "%s %s: %s", ep->role, ep->name, line);
        set_state(db, ep, to, now, NULL);
    }
    if (failover)
        fail_over(db);
    else if (counts)
        check_suspects(db, ep, now);
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
static void connect_error(cdc_db_t *db, endpoint_t *ep, pconn_t *pc,
                          int64_t now)
{
    const cdc_config_t *c = db->cfg;
    char msg[512], why[1024];
    clean_msg(PQerrorMessage(pc->conn), msg, sizeof msg);
    const char *user = cdc_config_str(c, CDC_KEY_IAM_USERNAME);
    bool auth = (PQconnectionUsedPassword(pc->conn) && strstr(msg, "auth")) ||
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
    conn_failed(db, ep, pc, err, why, now, true, false);
}

/* May a new attempt to ep begin now (not backing off, a free slot)? */
static bool may_start(const cdc_db_t *db, const endpoint_t *ep, int64_t now)
{
    return !ep->failed && (!ep->backing_off || now >= ep->retry_ms) &&
           tally(db, ep).live < db->max_size;
}

/* Begin one more connection attempt; on failure the endpoint goes to
 * BACKOFF or FAILED at once. The caller checked may_start. */
static void start_connect(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    const cdc_config_t *c = db->cfg;
    pconn_t *pc = NULL;
    for (int i = 0; i < db->max_size && !pc; i++)
        if (ep->pool[i].state == CDC_DB_CLOSED)
            pc = &ep->pool[i];
    if (!pc)
        return;
    char errstr[1024];
    cdc_buf_t pw;
    cdc_buf_init(&pw);
    cdc_err_t err = get_password(db, ep, &pw, errstr, sizeof errstr);
    if (err != CDC_OK) {
        cdc_buf_wipe(&pw);
        conn_failed(db, ep, NULL, err, errstr, now, false, false);
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
        conn_failed(db, ep, NULL, CDC_ERR_NOMEM, "out of memory", now, false,
                    false);
        return;
    }
    pc->conn = conn;
    pc->state = CDC_DB_CONNECTING;
    pc->started_ms = now;
    pc->due_ms = now + db->timeout_ms;
    pc->polling = PGRES_POLLING_WRITING;
    ep->backing_off = false;
    const char *why = checking(db, ep) ? " (failback check)" : "";
    cdc_db_state_t to = derived(db, ep);
    if (to == ep->state)
        cdc_log_debug("db", "%s %s: opening connection %d of at most %d%s",
                      ep->role, ep->name, tally(db, ep).live, db->max_size,
                      why);
    set_state(db, ep, to, now, why);
    if (PQstatus(conn) == CONNECTION_BAD)
        connect_error(db, ep, pc, now);
}

/* Send the next session setting; false when the connection broke. */
static bool send_setting(cdc_db_t *db, endpoint_t *ep, pconn_t *pc,
                         int64_t now)
{
    if (PQsendQuery(pc->conn, session_sql[pc->setup_next]))
        return true;
    char msg[512], why[700];
    clean_msg(PQerrorMessage(pc->conn), msg, sizeof msg);
    snprintf(why, sizeof why, "connection lost while setting up the session: "
             "%s", msg);
    conn_failed(db, ep, pc, CDC_ERR_DB_CONNECT, why, now, true, false);
    return false;
}

static void became_ready(cdc_db_t *db, endpoint_t *ep, pconn_t *pc,
                         int64_t now)
{
    bool check = checking(db, ep);
    char why[64];
    snprintf(why, sizeof why, " in %lld ms%s",
             (long long)(now - pc->started_ms),
             check ? " (failback check)" : "");
    pc->state = CDC_DB_READY;
    pc->ready_ms = pc->idle_ms = now;
    pc->idle_seq = ++db->seq;
    pc->suspect = false;
    ep->failures = 0;
    ep->backing_off = false;
    cdc_backoff_reset(&ep->backoff);
    db->stats.connects++;
    if (ep->state == CDC_DB_READY)
        cdc_log_debug("db", "%s %s: one more connection ready%s (%d open)",
                      ep->role, ep->name, why, tally(db, ep).live);
    set_state(db, ep, CDC_DB_READY, now, why);
    if (check)
        fail_back(db, now);
}

/* Move one attempt on after its socket woke: the login handshake, then the
 * session settings, one at a time. */
static void step(cdc_db_t *db, endpoint_t *ep, pconn_t *pc, int64_t t)
{
    if (!pc->setup) {
        pc->polling = PQconnectPoll(pc->conn);
        if (pc->polling == PGRES_POLLING_FAILED) {
            connect_error(db, ep, pc, t);
        } else if (pc->polling == PGRES_POLLING_OK) {
            pc->setup = true;
            send_setting(db, ep, pc, t);
        }
        return;
    }
    if (!PQconsumeInput(pc->conn)) {
        char msg[512], why[700];
        clean_msg(PQerrorMessage(pc->conn), msg, sizeof msg);
        snprintf(why, sizeof why, "connection lost while setting up the "
                 "session: %s", msg);
        conn_failed(db, ep, pc, CDC_ERR_DB_CONNECT, why, t, true, false);
        return;
    }
    while (pc->state == CDC_DB_CONNECTING && !PQisBusy(pc->conn)) {
        PGresult *res = PQgetResult(pc->conn);
        if (res) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                char msg[512];
                clean_msg(PQresultErrorMessage(res), msg, sizeof msg);
                cdc_log_warn("db", "%s refused by %s %s: %s",
                             session_sql[pc->setup_next], ep->role,
                             ep->name, msg);
            }
            PQclear(res);
            continue;
        }
        /* NULL: that setting is done. */
        if (++pc->setup_next == SESSION_SQL_COUNT)
            became_ready(db, ep, pc, t);
        else if (!send_setting(db, ep, pc, t))
            return;
    }
}

/*
 * Move ep's attempts on. Waits up to wait_ms in all for their sockets;
 * returns once the wait is used up, no attempt is left, or (wait_ms > 0)
 * an idle READY connection is there to lend.
 */
static void progress(cdc_db_t *db, endpoint_t *ep, int64_t now,
                     int64_t wait_ms)
{
    int64_t t0 = cdc_mono_ms();
    for (;;) {
        int64_t spent = cdc_mono_ms() - t0;
        int64_t t = now + spent;
        int64_t left = wait_ms - spent;
        if (left < 0)
            left = 0;
        /* Time-outs first: one can fail over, closing the others. */
        for (int i = 0; i < db->max_size; i++) {
            pconn_t *pc = &ep->pool[i];
            if (pc->state == CDC_DB_CONNECTING && t >= pc->due_ms) {
                char why[256];
                snprintf(why, sizeof why, "cannot connect: no answer within "
                         "%lld ms (dsql.pool.connection.timeout.ms)",
                         (long long)db->timeout_ms);
                conn_failed(db, ep, pc, CDC_ERR_DB_CONNECT, why, t, true,
                            false);
            }
        }
        nfds_t n = 0;
        for (int i = 0; i < db->max_size; i++) {
            pconn_t *pc = &ep->pool[i];
            if (pc->state != CDC_DB_CONNECTING)
                continue;
            if (left > pc->due_ms - t)
                left = pc->due_ms - t;
            db->pfd[n] = (struct pollfd){
                .fd = PQsocket(pc->conn),
                .events = !pc->setup && pc->polling == PGRES_POLLING_WRITING
                              ? POLLOUT : POLLIN,
            };
            db->who[n++] = pc;
        }
        if (!n)
            return;
        int r = poll(db->pfd, n, (int)left);
        if (r <= 0)
            return; /* not yet, or a signal for the caller to see */
        for (nfds_t k = 0; k < n; k++)
            if (db->pfd[k].revents && db->who[k]->state == CDC_DB_CONNECTING)
                step(db, ep, db->who[k], t);
        if (wait_ms > 0 && idle_conn(db, ep))
            return;
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
    if (!bad && (!msg || !*msg))
        msg = "the server stopped answering (the caller's query timed out)";
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

/* Close a connection past its lifetime and start its replacement at once,
 * so one is likely ready by the next query. */
static void recycle(cdc_db_t *db, endpoint_t *ep, pconn_t *pc, int64_t now)
{
    char why[200];
    snprintf(why, sizeof why, "recycled after %lld ms "
             "(dsql.connection.max.lifetime.ms)",
             (long long)(now - pc->ready_ms));
    db->stats.recycles++;
    close_one(db, ep, pc, now, why, true);
    if (is_active(db, ep) && may_start(db, ep, now))
        start_connect(db, ep, now);
}

/* An idle READY connection: notice a server that closed it, retire and
 * recycle it between queries. */
static void check_idle(cdc_db_t *db, endpoint_t *ep, pconn_t *pc,
                       int64_t now)
{
    char why[700];
    if (!PQconsumeInput(pc->conn) || PQstatus(pc->conn) != CONNECTION_OK) {
        connection_lost(pc->conn, CDC_ERR_DB_CONNECT, NULL, why, sizeof why);
        conn_failed(db, ep, pc, CDC_ERR_DB_CONNECT, why, now, true, true);
    } else if (pc->retire || !is_active(db, ep)) {
        close_one(db, ep, pc, now, pc->retire ? pc->retire : leaving(db, ep),
                  false);
    } else if (now - pc->ready_ms >= db->lifetime_ms) {
        recycle(db, ep, pc, now);
    }
}

/* The connection idle longest, when the active endpoint has more open
 * than dsql.pool.min.idle; else NULL. */
static const pconn_t *surplus_idle(const cdc_db_t *db, const endpoint_t *ep)
{
    if (!is_active(db, ep) || tally(db, ep).live <= db->min_idle)
        return NULL;
    const pconn_t *oldest = NULL;
    for (int i = 0; i < db->max_size; i++) {
        const pconn_t *pc = &ep->pool[i];
        if (pc->state == CDC_DB_READY && !pc->lent && !pc->retire &&
            (!oldest || pc->idle_ms < oldest->idle_ms))
            oldest = pc;
    }
    return oldest;
}

/* Close idle connections above dsql.pool.min.idle open once unused for
 * IDLE_TIMEOUT_MS: a burst's extra connections do not stay open for good. */
static void trim_idle(cdc_db_t *db, endpoint_t *ep, int64_t now)
{
    const pconn_t *old;
    while ((old = surplus_idle(db, ep)) &&
           now - old->idle_ms >= IDLE_TIMEOUT_MS) {
        char why[160];
        snprintf(why, sizeof why, "idle for %lld ms, more than "
                 "dsql.pool.min.idle open",
                 (long long)(now - old->idle_ms));
        close_one(db, ep, (pconn_t *)old, now, why, false);
    }
}

/*
 * Does the endpoint want a new attempt (when may_start allows)? The
 * primary, while the secondary is active: one check at a time. The active
 * endpoint: fewer than dsql.pool.min.idle open or coming, or retrying after
 * a failure left it no connection. Lent connections count: one table
 * reading through its connection needs no second one kept ready beside
 * it; a borrower that finds none idle makes the pool grow (acquire).
 */
static bool attempt_wanted(const cdc_db_t *db, const endpoint_t *ep)
{
    if (ep->failed)
        return false;
    tally_t n = tally(db, ep);
    if (checking(db, ep))
        return n.live == 0;
    if (!is_active(db, ep) || n.live >= db->max_size)
        return false;
    return n.live < db->min_idle || (n.live == 0 && ep->backing_off);
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
    db->max_size = (int)cdc_config_int(c, CDC_KEY_POOL_MAX_SIZE);
    if (db->max_size < 1)
        db->max_size = 1;
    db->min_idle = (int)cdc_config_int(c, CDC_KEY_POOL_MIN_IDLE);
    if (db->min_idle > db->max_size)
        db->min_idle = db->max_size;
    db->last_now = cdc_mono_ms();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    db->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
              ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)db;
    db->pfd = calloc((size_t)db->max_size, sizeof *db->pfd);
    db->who = calloc((size_t)db->max_size, sizeof *db->who);
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
        ep->pool = calloc((size_t)db->max_size, sizeof *ep->pool);
        if (!ep->pool || !db->pfd || !db->who) {
            cdc_db_destroy(db);
            return NULL;
        }
        for (int k = 0; k < db->max_size; k++)
            ep->pool[k].ep = ep;
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
        if (ep->pool) {
            bool open = tally(db, ep).live > 0;
            for (int k = 0; k < db->max_size; k++)
                if (ep->pool[k].state != CDC_DB_CLOSED)
                    pc_close(db, &ep->pool[k]);
            if (open) {
                ep->backing_off = ep->failed = false;
                set_state(db, ep, CDC_DB_CLOSED, db->last_now, "shutting down");
            }
        }
        free(ep->pool);
        cdc_buf_wipe(&ep->token);
        free(ep->name);
        free(ep->host);
    }
    free(db->pfd);
    free(db->who);
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
        progress(db, ep, now, 0);
        /* Before the checks: a connection found lost now is replaced by
         * the next call (the endpoint shows BACKOFF in between). Bounded:
         * each start fills a slot or makes ep back off. */
        for (int k = 0; k < db->max_size && attempt_wanted(db, ep) &&
                        may_start(db, ep, now); k++)
            start_connect(db, ep, now);
        for (int k = 0; k < db->max_size; k++) {
            pconn_t *pc = &ep->pool[k];
            if (pc->state == CDC_DB_READY && !pc->lent)
                check_idle(db, ep, pc, now);
        }
        trim_idle(db, ep, now);
    }
}

int64_t cdc_db_next_deadline(const cdc_db_t *db)
{
    int64_t next = INT64_MAX;
#define SOONER(x) do { int64_t t_ = (x); if (t_ < next) next = t_; } while (0)
    for (int i = 0; i < db->nep; i++) {
        const endpoint_t *ep = &db->ep[i];
        for (int k = 0; k < db->max_size; k++) {
            const pconn_t *pc = &ep->pool[k];
            if (pc->state == CDC_DB_CONNECTING) {
                SOONER(db->last_now + CONNECT_TICK_MS);
                SOONER(pc->due_ms);
            } else if (pc->state == CDC_DB_READY && !pc->lent) {
                SOONER(pc->retire || !is_active(db, ep)
                           ? db->last_now : pc->ready_ms + db->lifetime_ms);
            }
        }
        const pconn_t *old = surplus_idle(db, ep);
        if (old)
            SOONER(old->idle_ms + IDLE_TIMEOUT_MS);
        if (attempt_wanted(db, ep) && tally(db, ep).live < db->max_size)
            SOONER(ep->backing_off ? ep->retry_ms : db->last_now);
    }
#undef SOONER
    return next;
}

/* Lend pc: the caller holds it until cdc_db_release. */
static PGconn *lend(cdc_db_t *db, pconn_t *pc)
{
    pc->lent = true;
    pc->lent_waits = db->waits;
    return pc->conn;
}

cdc_err_t cdc_db_acquire(cdc_db_t *db, int64_t now, PGconn **out,
                         int64_t *retry_at, char *errstr, size_t n)
{
    int64_t t0 = cdc_mono_ms();
    *out = NULL;
    *retry_at = now;
    cdc_db_service(db, now);
    endpoint_t *ep = NULL;
    pconn_t *pc = NULL;
    /* Twice at most: a failed attempt may fail over to the secondary. */
    for (int round = 0; round < 2 && !pc && ep != &db->ep[db->active];
         round++) {
        ep = &db->ep[db->active];
        int64_t t = now + (cdc_mono_ms() - t0);
        if ((pc = idle_conn(db, ep)))
            break;
        /* One attempt at a time serves whoever asks first. */
        if (!tally(db, ep).connecting && may_start(db, ep, t))
            start_connect(db, ep, t);
        if (tally(db, ep).connecting)
            progress(db, ep, t, ACQUIRE_WAIT_MS);
        pc = is_active(db, ep) ? idle_conn(db, ep) : NULL;
    }
    ep = &db->ep[db->active];
    if (pc && pc->ep == ep) {
        *out = lend(db, pc);
        return CDC_OK;
    }
    int64_t t = now + (cdc_mono_ms() - t0);
    switch (ep->state) {
    case CDC_DB_FAILED:
        *retry_at = INT64_MAX;
        return cdc_err_set(errstr, n, ep->err, "%s %s: %s", ep->role, ep->name,
                           ep->errstr);
    case CDC_DB_BACKOFF:
        *retry_at = ep->retry_ms;
        return cdc_err_set(errstr, n, ep->err, "%s %s: %s", ep->role, ep->name,
                           ep->errstr);
    case CDC_DB_CLOSED:
    case CDC_DB_CONNECTING:
    case CDC_DB_READY:
        break;
    }
    *retry_at = t + WAIT_TICK_MS;
    bool coming = false;
    for (int k = 0; k < db->max_size; k++) {
        const pconn_t *c = &ep->pool[k];
        if (c->state == CDC_DB_CONNECTING) {
            coming = true;
            if (c->due_ms < *retry_at)
                *retry_at = c->due_ms;
        }
    }
    /* Every connection lent, none coming: the borrowers are told to give
     * one back (cdc_db_may_keep). */
    if (!coming)
        db->waits++;
    return CDC_OK;
}

/* The pooled connection of conn, or NULL. */
static pconn_t *find_conn(cdc_db_t *db, const PGconn *conn)
{
    for (int i = 0; conn && i < db->nep; i++)
        for (int k = 0; k < db->max_size; k++)
            if (db->ep[i].pool[k].conn == conn &&
                db->ep[i].pool[k].state != CDC_DB_CLOSED)
                return &db->ep[i].pool[k];
    return NULL;
}

bool cdc_db_may_keep(cdc_db_t *db, const PGconn *conn, int64_t now)
{
    const pconn_t *pc = find_conn(db, conn);
    return pc && pc->lent && pc->state == CDC_DB_READY && !pc->retire &&
           is_active(db, pc->ep) && !pc->ep->failed &&
           now - pc->ready_ms < db->lifetime_ms &&
           db->waits == pc->lent_waits &&
           PQstatus(pc->conn) == CONNECTION_OK;
}

void cdc_db_release(cdc_db_t *db, PGconn *conn, cdc_err_t result,
                    const PGresult *last_failed, int64_t now)
{
    pconn_t *pc = find_conn(db, conn);
    if (!pc)
        return;
    endpoint_t *ep = pc->ep;
    db->last_now = now;
    pc->lent = false;
    pc->idle_ms = now;
    pc->idle_seq = ++db->seq;
    if (pc->state != CDC_DB_READY)
        return;
    char why[700];
    if (connection_lost(conn, result, last_failed, why, sizeof why))
        conn_failed(db, ep, pc, CDC_ERR_DB_CONNECT, why, now, true, true);
    else if (PQtransactionStatus(conn) != PQTRANS_IDLE ||
             PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
        /* A query still running (given up on), or a transaction left
         * open: a fresh session is the safe bet. */
        close_one(db, ep, pc, now,
                  PQtransactionStatus(conn) == PQTRANS_INTRANS ||
                          PQtransactionStatus(conn) == PQTRANS_INERROR
                      ? "left inside a transaction"
                      : "given back with a query in flight", true);
    else if (pc->retire || !is_active(db, ep))
        close_one(db, ep, pc, now, pc->retire ? pc->retire : leaving(db, ep),
                  false);
    else if (now - pc->ready_ms >= db->lifetime_ms)
        recycle(db, ep, pc, now);
    else if (result == CDC_OK)
        pc->suspect = false; /* it just worked */
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
    db->got = NULL;
    for (;;) {
        int64_t now = cdc_mono_ms(), retry_at;
        PGconn *conn;
        uint64_t waits = db->waits;
        cdc_err_t err = cdc_db_acquire(db, now, &conn, &retry_at, errstr, n);
        if (err != CDC_OK)
            return err;
        if (conn) {
            pconn_t *pc = find_conn(db, conn);
            pc->lent = false;
            db->got = pc;
            *out = conn;
            return CDC_OK;
        }
        const endpoint_t *ep = &db->ep[db->active];
        if (db->waits != waits && tally(db, ep).live >= db->max_size)
            /* Nothing is given back while this waits. */
            return cdc_err_set(errstr, n, CDC_ERR_DB_CONNECT,
                               "%s %s: all %d connections are in use "
                               "(dsql.pool.max.size); try again", ep->role,
                               ep->name, db->max_size);
        int64_t wait = retry_at - cdc_mono_ms();
        if (wait > 0)
            poll(NULL, 0, (int)(wait > ACQUIRE_WAIT_MS ? ACQUIRE_WAIT_MS : wait));
    }
}

void cdc_db_reset(cdc_db_t *db)
{
    int64_t now = cdc_mono_ms();
    endpoint_t *ep = &db->ep[db->active];
    pconn_t *pc = db->got;
    char why[700];
    db->last_now = now;
    db->got = NULL;
    if (pc && pc->state == CDC_DB_READY && !pc->lent) {
        if (connection_lost(pc->conn, CDC_OK, NULL, why, sizeof why))
            conn_failed(db, pc->ep, pc, CDC_ERR_DB_CONNECT, why, now, true,
                        true);
        else
            close_one(db, pc->ep, pc, now, "reset after an error", true);
    }
    /* Retry at once, unless that failed over: the primary then waits for
     * its check. */
    if (ep == &db->ep[db->active] &&
        (ep->state == CDC_DB_BACKOFF || ep->state == CDC_DB_FAILED)) {
        ep->backing_off = ep->failed = false;
        set_state(db, ep, derived(db, ep), now, "reset: retrying at once");
    }
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
