/*
 * test_db_conn.c - the connection state machine of db/conn.h against small
 * PostgreSQL servers run here: connecting without blocking, backoff, slow
 * retries after refused logins, timeouts, lost connections, 40001 without
 * penalty, recycling, failover and failback, IAM tokens per connection
 * with a fallback to a still-valid one while the credential chain fails,
 * and the pool: one borrower per connection, dsql.pool.max.size,
 * cdc_db_may_keep, dsql.pool.min.idle, and failures among several
 * connections counted once.
 *
 * The server speaks just enough of the v3 protocol: cleartext password,
 * AuthenticationOk, ReadyForQuery, and answers to SET, "SELECT 1",
 * "SELECT conflict" (40001) and "SELECT shutdown" (FATAL 57P01, then the
 * socket closes). Its mode refuses connections, rejects logins or stalls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/credentials.h"
#include "common/log.h"
#include "config/config.h"
#include "db/conn.h"

/* ------------------------------------------------------------ the server */

typedef enum { SRV_ACCEPT, SRV_REFUSE, SRV_REJECT, SRV_STALL } srv_mode_t;

#define SRV_CLIENTS 16

typedef struct {
    int fd;
    bool startup_done, authed, stalled;
    char in[8192];
    size_t inlen;
} client_t;

typedef struct {
    int lfd;
    uint16_t port;
    pthread_t thread;
    atomic_int mode;
    atomic_int kill_all;
    atomic_int accepted;   /* TCP connections */
    atomic_int logins;     /* successful logins */
    atomic_bool stop;
    pthread_mutex_t mu;
    char password[4096];   /* the last one received */
    client_t c[SRV_CLIENTS];
} srv_t;

static void put32(char *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
}

static uint32_t get32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

/* Write a message: type, then len + body. */
static void msg(int fd, char type, const void *body, size_t len)
{
    char hdr[5];
    hdr[0] = type;
    put32(hdr + 1, (uint32_t)(len + 4));
    if (write(fd, hdr, 5) != 5 || (len && write(fd, body, len) != (ssize_t)len))
        return;
}

static void msg_auth(int fd, uint32_t code)
{
    char b[4];
    put32(b, code);
    msg(fd, 'R', b, 4);
}

static void msg_ready(int fd)
{
    msg(fd, 'Z', "I", 1);
}

static void msg_error(int fd, const char *sev, const char *code,
                      const char *text)
{
    char b[512];
    int n = snprintf(b, sizeof b, "S%s%cV%s%cC%s%cM%s%c", sev, 0, sev, 0,
                     code, 0, text, 0);
    b[n++] = 0;
    msg(fd, 'E', b, (size_t)n);
}

static void msg_param(int fd, const char *k, const char *v)
{
    char b[256];
    size_t kl = strlen(k) + 1, vl = strlen(v) + 1;
    memcpy(b, k, kl);
    memcpy(b + kl, v, vl);
    msg(fd, 'S', b, kl + vl);
}

static void client_close(client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void answer_query(srv_t *s, client_t *c, const char *q)
{
    (void)s;
    if (strncmp(q, "SET ", 4) == 0) {
        msg(c->fd, 'C', "SET", 4);
    } else if (strcmp(q, "SELECT 1") == 0) {
        char t[64];
        size_t n = 0;
        put32(t, 0); /* placeholder for the field count: 2 bytes */
        t[0] = 0;
        t[1] = 1;
        n = 2;
        memcpy(t + n, "x", 2);
        n += 2;
        put32(t + n, 0);        /* table oid */
        n += 4;
        t[n++] = 0;             /* column number */
        t[n++] = 0;
        put32(t + n, 23);       /* int4 */
        n += 4;
        t[n++] = 0;             /* typlen 4 */
        t[n++] = 4;
        put32(t + n, 0xffffffff); /* typmod */
        n += 4;
        t[n++] = 0;             /* text */
        t[n++] = 0;
        msg(c->fd, 'T', t, n);
        char d[7] = {0, 1};
        put32(d + 2, 1);
        d[6] = '1';
        msg(c->fd, 'D', d, 7);
        msg(c->fd, 'C', "SELECT 1", 9);
    } else if (strcmp(q, "SELECT conflict") == 0) {
        msg_error(c->fd, "ERROR", "40001", "change conflicts with another "
                  "transaction, please retry: (OC000)");
    } else if (strcmp(q, "SELECT shutdown") == 0) {
        msg_error(c->fd, "FATAL", "57P01", "terminating connection due to "
                  "administrator command");
        client_close(c);
        return;
    } else {
        msg_error(c->fd, "ERROR", "42601", "syntax error");
    }
    msg_ready(c->fd);
}

/* Handle what a client sent; false when it is gone. */
static bool client_input(srv_t *s, client_t *c)
{
    ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
    if (r <= 0)
        return false;
    c->inlen += (size_t)r;
    if (c->stalled) {
        c->inlen = 0;
        return true;
    }
    for (;;) {
        if (!c->startup_done) {
            if (c->inlen < 8)
                return true;
            uint32_t len = get32(c->in), code = get32(c->in + 4);
            if (len > sizeof c->in)
                return false;
            if (c->inlen < len)
                return true;
            if (code == 80877103 || code == 80877104) { /* SSL, GSS */
                if (write(c->fd, "N", 1) != 1)
                    return false;
            } else {
                c->startup_done = true;
                msg_auth(c->fd, 3); /* cleartext password, please */
            }
            memmove(c->in, c->in + len, c->inlen - len);
            c->inlen -= len;
            continue;
        }
        if (c->inlen < 5)
            return true;
        uint32_t len = get32(c->in + 1);
        if (len + 1 > sizeof c->in)
            return false;
        if (c->inlen < len + 1)
            return true;
        char type = c->in[0];
        char *body = c->in + 5;
        if (type == 'p') {
            pthread_mutex_lock(&s->mu);
            snprintf(s->password, sizeof s->password, "%.*s", (int)(len - 4),
                     body);
            pthread_mutex_unlock(&s->mu);
            if (atomic_load(&s->mode) == SRV_REJECT) {
                msg_error(c->fd, "FATAL", "28P01",
                          "password authentication failed for user \"u\"");
                return false;
            }
            msg_auth(c->fd, 0);
            msg_param(c->fd, "server_version", "16.0");
            msg_param(c->fd, "client_encoding", "UTF8");
            msg_param(c->fd, "standard_conforming_strings", "on");
            msg_param(c->fd, "integer_datetimes", "on");
            char k[8];
            put32(k, 4242);
            put32(k + 4, 1);
            msg(c->fd, 'K', k, 8);
            msg_ready(c->fd);
            c->authed = true;
            atomic_fetch_add(&s->logins, 1);
        } else if (type == 'Q' && c->authed) {
            answer_query(s, c, body);
            if (c->fd < 0)
                return true;
        } else if (type == 'X') {
            return false;
        }
        memmove(c->in, c->in + len + 1, c->inlen - len - 1);
        c->inlen -= len + 1;
    }
}

static void *srv_main(void *arg)
{
    srv_t *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p[SRV_CLIENTS + 1];
        int map[SRV_CLIENTS + 1];
        nfds_t n = 0;
        p[n] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        map[n++] = -1;
        if (atomic_exchange(&s->kill_all, 0))
            for (int i = 0; i < SRV_CLIENTS; i++)
                if (s->c[i].fd >= 0)
                    client_close(&s->c[i]);
        for (int i = 0; i < SRV_CLIENTS; i++) {
            if (s->c[i].fd >= 0) {
                p[n] = (struct pollfd){.fd = s->c[i].fd, .events = POLLIN};
                map[n++] = i;
            }
        }
        if (poll(p, n, 20) <= 0)
            continue;
        for (nfds_t k = 0; k < n; k++) {
            if (!p[k].revents)
                continue;
            if (map[k] < 0) {
                int fd = accept(s->lfd, NULL, NULL);
                if (fd < 0)
                    continue;
                atomic_fetch_add(&s->accepted, 1);
                int mode = atomic_load(&s->mode);
                int slot = -1;
                for (int i = 0; i < SRV_CLIENTS && slot < 0; i++)
                    if (s->c[i].fd < 0)
                        slot = i;
                if (mode == SRV_REFUSE || slot < 0) {
                    close(fd);
                    continue;
                }
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                s->c[slot].fd = fd;
                s->c[slot].stalled = mode == SRV_STALL;
            } else if (s->c[map[k]].fd >= 0 &&
                       !client_input(s, &s->c[map[k]])) {
                client_close(&s->c[map[k]]);
            }
        }
    }
    for (int i = 0; i < SRV_CLIENTS; i++)
        client_close(&s->c[i]);
    return NULL;
}

static srv_t *srv_start(void)
{
    srv_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < SRV_CLIENTS; i++)
        s->c[i].fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
    return s;
}

static void srv_stop(srv_t *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void srv_password(srv_t *s, char *out, size_t n)
{
    pthread_mutex_lock(&s->mu);
    size_t l = strnlen(s->password, n - 1);
    memcpy(out, s->password, l);
    out[l] = '\0';
    pthread_mutex_unlock(&s->mu);
}

/* A port nothing listens on. */
static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ------------------------------------------------------------ fixture */

typedef struct {
    srv_t *a, *b;
    cdc_config_t *cfg;
    cdc_db_t *db;
    int64_t skew;        /* added to the real clock: time travel */
    char *log_text;
    size_t log_len;
    FILE *log;
} fx_t;

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t tnow(fx_t *fx)
{
    return real_ms() + fx->skew;
}

static uint64_t zero_rand(void *ud)
{
    (void)ud;
    return 0;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->log = open_memstream(&fx->log_text, &fx->log_len);
    assert_non_null(fx->log);
    cdc_log_set_stream(fx->log);
    cdc_log_set_level(CDC_LOG_DEBUG);
    fx->a = srv_start();
    fx->b = srv_start();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    cdc_db_destroy(fx->db);
    cdc_config_destroy(fx->cfg);
    srv_stop(fx->a);
    srv_stop(fx->b);
    cdc_log_set_stream(stderr);
    if (getenv("TEST_DB_CONN_LOG"))
        fprintf(stderr, "%.*s", (int)fx->log_len, fx->log_text ? fx->log_text : "");
    fclose(fx->log);
    free(fx->log_text);
    free(fx);
    return 0;
}

static void set_key(cdc_config_t *c, const char *key, const char *value)
{
    cdc_buf_t problems;
    cdc_buf_init(&problems);
    if (cdc_config_set(c, key, value, "test", &problems) != CDC_OK)
        fail_msg("%s=%s: %s", key, value, cdc_buf_str(&problems));
    cdc_buf_free(&problems);
}

/* A password-mode config on server a (and b as the secondary when
 * secondary is true); extra is NULL-terminated key, value pairs. */
static cdc_db_t *new_db(fx_t *fx, bool secondary, const char *const *extra)
{
    char ep[64];
    cdc_db_destroy(fx->db);
    cdc_config_destroy(fx->cfg);
    fx->cfg = cdc_config_new();
    assert_non_null(fx->cfg);
    set_key(fx->cfg, "dsql.auth.mode", "password");
    set_key(fx->cfg, "dsql.password", "pw-secret");
    set_key(fx->cfg, "dsql.ssl.mode", "disable");
    set_key(fx->cfg, "dsql.iam.username", "u");
    snprintf(ep, sizeof ep, "127.0.0.1:%u", fx->a->port);
    set_key(fx->cfg, "dsql.endpoint.primary", ep);
    if (secondary) {
        snprintf(ep, sizeof ep, "127.0.0.1:%u", fx->b->port);
        set_key(fx->cfg, "dsql.endpoint.secondary", ep);
    }
    set_key(fx->cfg, "retry.backoff.ms", "100");
    set_key(fx->cfg, "retry.backoff.max.ms", "5000");
    set_key(fx->cfg, "dsql.pool.connection.timeout.ms", "2000");
    for (size_t i = 0; extra && extra[i]; i += 2)
        set_key(fx->cfg, extra[i], extra[i + 1]);
    fx->db = cdc_db_new(fx->cfg, NULL);
    assert_non_null(fx->db);
    cdc_db_set_random(fx->db, zero_rand, NULL);
    return fx->db;
}

/* Acquire until a connection or an error comes, waiting as told; fails the
 * test after 5 s. */
static cdc_err_t acquire(fx_t *fx, PGconn **conn, int64_t *retry_at,
                         char *errstr, size_t n)
{
    int64_t give_up = real_ms() + 5000;
    for (;;) {
        int64_t t = tnow(fx), call_start = real_ms();
        cdc_err_t err = cdc_db_acquire(fx->db, t, conn, retry_at, errstr, n);
        /* Bounded: never much more than its 100 ms wait. */
        assert_true(real_ms() - call_start < 400);
        if (err != CDC_OK || *conn)
            return err;
        assert_true(*retry_at > t && *retry_at <= t + 200);
        if (real_ms() > give_up)
            fail_msg("no connection after 5 s");
        int64_t wait = *retry_at - tnow(fx);
        if (wait > 0)
            poll(NULL, 0, (int)wait);
    }
}

static PGconn *acquire_ok(fx_t *fx)
{
    PGconn *conn = NULL;
    int64_t retry_at;
    char errstr[1024];
    cdc_err_t err = acquire(fx, &conn, &retry_at, errstr, sizeof errstr);
    if (err != CDC_OK)
        fail_msg("acquire: %s", errstr);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    return conn;
}

static bool log_has(fx_t *fx, const char *s)
{
    fflush(fx->log);
    return fx->log_text && strstr(fx->log_text, s);
}

static int log_count(fx_t *fx, const char *s)
{
    fflush(fx->log);
    int n = 0;
    for (const char *p = fx->log_text; p && (p = strstr(p, s)); p++)
        n++;
    return n;
}

static cdc_db_stats_t stats(fx_t *fx)
{
    cdc_db_stats_t st;
    cdc_db_stats(fx->db, &st);
    return st;
}

/* Run service until the primary's state is s (bounded). */
static void service_until(fx_t *fx, cdc_db_endpoint_id_t which,
                          cdc_db_state_t s)
{
    int64_t give_up = real_ms() + 5000;
    while (cdc_db_state(fx->db, which) != s) {
        if (real_ms() > give_up)
            fail_msg("state %s, waited for %s",
                     cdc_db_state_name(cdc_db_state(fx->db, which)),
                     cdc_db_state_name(s));
        cdc_db_service(fx->db, tnow(fx));
        poll(NULL, 0, 5);
    }
}

/* The server drops every connection; service notices (bounded). */
static void kill_and_notice(fx_t *fx)
{
    atomic_store(&fx->a->kill_all, 1);
    int64_t give_up = real_ms() + 5000;
    while (cdc_db_state(fx->db, CDC_DB_PRIMARY) == CDC_DB_READY) {
        if (real_ms() > give_up)
            fail_msg("the lost connection went unnoticed");
        poll(NULL, 0, 5);
        cdc_db_service(fx->db, tnow(fx));
    }
}

/* ------------------------------------------------------------ tests */

/* Connects without blocking, sets the session up, lends the connection,
 * and reuses it for the next query. */
static void test_connect_and_reuse(void **state)
{
    fx_t *fx = *state;
    new_db(fx, false, NULL);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_CLOSED);
    PGconn *c = acquire_ok(fx);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    PGresult *r = PQexec(c, "SELECT 1");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    assert_ptr_equal(acquire_ok(fx), c);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    assert_int_equal(atomic_load(&fx->a->logins), 1);
    assert_int_equal(stats(fx).connects, 1);
    char pw[64];
    srv_password(fx->a, pw, sizeof pw);
    assert_string_equal(pw, "pw-secret");
    assert_true(log_has(fx, "primary 127.0.0.1:"));
    assert_true(log_has(fx, ": connected to database postgres as u in "));
    assert_false(log_has(fx, "pw-secret"));
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%u", fx->a->port);
    assert_string_equal(cdc_db_active_endpoint(fx->db), ep);
    assert_string_equal(cdc_db_endpoint(fx->db), ep);
}

/* A refused connection backs off (retry.backoff.ms with this random
 * source); asking again early makes no new attempt. */
static void test_refused_backs_off(void **state)
{
    fx_t *fx = *state;
    new_db(fx, false, NULL);
    atomic_store(&fx->a->mode, SRV_REFUSE);
    PGconn *c;
    int64_t retry_at;
    char errstr[1024];
    int64_t t = tnow(fx);
    assert_int_equal(acquire(fx, &c, &retry_at, errstr, sizeof errstr),
                     CDC_ERR_DB_CONNECT);
    assert_null(c);
    assert_true(retry_at >= t + 100 && retry_at <= tnow(fx) + 100);
    assert_non_null(strstr(errstr, "primary 127.0.0.1:"));
    assert_non_null(strstr(errstr, ": cannot connect as u: "));
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_BACKOFF);
    assert_int_equal(atomic_load(&fx->a->accepted), 1);
    assert_int_equal(cdc_db_next_deadline(fx->db), retry_at);

    assert_int_equal(cdc_db_acquire(fx->db, retry_at - 1, &c, &retry_at,
                                    errstr, sizeof errstr),
                     CDC_ERR_DB_CONNECT);
    assert_int_equal(atomic_load(&fx->a->accepted), 1);
    assert_int_equal(log_count(fx, "; retrying in 100 ms"), 1);

    /* Due: a new attempt, which now succeeds. */
    atomic_store(&fx->a->mode, SRV_ACCEPT);
    fx->skew += 100;
    c = acquire_ok(fx);
    assert_int_equal(atomic_load(&fx->a->accepted), 2);
    assert_int_equal(stats(fx).connect_failures, 1);
    assert_int_equal(stats(fx).connects, 1);
}

/* Nothing listening: the same, with the kernel's refusal. */
static void test_closed_port(void **state)
{
    fx_t *fx = *state;
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%u", closed_port());
    const char *extra[] = {"dsql.endpoint.primary", ep, NULL};
    new_db(fx, false, extra);
    PGconn *c;
    int64_t retry_at;
    char errstr[1024];
    assert_int_equal(acquire(fx, &c, &retry_at, errstr, sizeof errstr),
                     CDC_ERR_DB_CONNECT);
    assert_non_null(strstr(errstr, "Connection refused"));
}

/* A refused login says what to check and is retried at the max backoff. */
static void test_auth_rejected_retried_slowly(void **state)
{
    fx_t *fx = *state;
    new_db(fx, false, NULL);
    atomic_store(&fx->a->mode, SRV_REJECT);
    PGconn *c;
    int64_t retry_at;
    char errstr[1024];
    int64_t t = tnow(fx);
    assert_int_equal(acquire(fx, &c, &retry_at, errstr, sizeof errstr),
                     CDC_ERR_AUTH);
    assert_true(retry_at >= t + 5000 && retry_at <= tnow(fx) + 5000);
    assert_non_null(strstr(errstr, "the server rejected the password as u"));
    assert_non_null(strstr(errstr, "password authentication failed"));
    assert_non_null(strstr(errstr, "check dsql.password"));
    assert_true(log_has(fx, "retrying in 5000 ms (retry.backoff.max.ms)"));
    assert_false(log_has(fx, "pw-secret"));
}

/* A server that never answers: the attempt gives up at the connection
 * timeout, in steps that each return quickly. */
static void test_connect_timeout(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.pool.connection.timeout.ms", "300", NULL};
    new_db(fx, false, extra);
    atomic_store(&fx->a->mode, SRV_STALL);
    PGconn *c;
    int64_t retry_at;
    char errstr[1024];
    int64_t t0 = real_ms();
    assert_int_equal(acquire(fx, &c, &retry_at, errstr, sizeof errstr),
                     CDC_ERR_DB_CONNECT);
    int64_t took = real_ms() - t0;
    assert_true(took >= 300 && took < 1500);
    assert_non_null(strstr(errstr, "no answer within 300 ms "
                                   "(dsql.pool.connection.timeout.ms)"));
}

/* A connection lost during a query is replaced at once, and counts. */
static void test_lost_connection_replaced(void **state)
{
    fx_t *fx = *state;
    new_db(fx, false, NULL);
    PGconn *c = acquire_ok(fx);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    atomic_store(&fx->a->kill_all, 1);
    c = acquire_ok(fx);
    /* The server closed it meanwhile: found idle, or by the query. */
    PGresult *r = PQexec(c, "SELECT 1");
    cdc_err_t qerr = CDC_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char e[512];
        qerr = cdc_db_result_error(r, c, "polling t", e, sizeof e);
        assert_int_equal(qerr, CDC_ERR_DB_CONNECT);
        assert_non_null(strstr(e, "polling t: connection lost"));
    }
    cdc_db_release(fx->db, c, qerr, r, tnow(fx));
    PQclear(r);
    if (qerr == CDC_OK) {
        /* The server's close raced the query; try again. */
        atomic_store(&fx->a->kill_all, 1);
        poll(NULL, 0, 100);
        cdc_db_service(fx->db, tnow(fx));
    }
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_BACKOFF);
    assert_int_equal(cdc_db_next_deadline(fx->db) <= tnow(fx), true);
    assert_true(log_has(fx, "connection lost: "));
    assert_true(log_has(fx, "retrying in 0 ms"));
    assert_int_equal(stats(fx).lost, 1);
    c = acquire_ok(fx);
    assert_int_equal(atomic_load(&fx->a->logins), 2);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
}

/* 40001 is retried without penalty: same connection, nothing counted. */
static void test_conflict_keeps_connection(void **state)
{
    fx_t *fx = *state;
    new_db(fx, false, NULL);
    PGconn *c = acquire_ok(fx);
    PGresult *r = PQexec(c, "SELECT conflict");
    char e[512];
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_int_equal(cdc_db_result_error(r, c, "polling t", e, sizeof e),
                     CDC_ERR_DB_QUERY);
    assert_non_null(strstr(e, "40001"));
    cdc_db_release(fx->db, c, CDC_ERR_DB_QUERY, r, tnow(fx));
    PQclear(r);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    assert_ptr_equal(acquire_ok(fx), c);
    assert_int_equal(stats(fx).lost, 0);
    /* Any other query error leaves it in use too. */
    r = PQexec(c, "SELECT nonsense");
    cdc_db_release(fx->db, c, CDC_ERR_DB_QUERY, r, tnow(fx));
    PQclear(r);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    assert_int_equal(atomic_load(&fx->a->logins), 1);
}

/* An administrator shutdown (57P01) is a lost connection. */
static void test_admin_shutdown_is_lost(void **state)
{
    fx_t *fx = *state;
    new_db(fx, false, NULL);
    PGconn *c = acquire_ok(fx);
    PGresult *r = PQexec(c, "SELECT shutdown");
    char e[512];
    assert_int_equal(cdc_db_result_error(r, c, "polling t", e, sizeof e),
                     CDC_ERR_DB_CONNECT);
    cdc_db_release(fx->db, c, CDC_ERR_DB_CONNECT, r, tnow(fx));
    PQclear(r);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_BACKOFF);
    assert_true(log_has(fx, "terminating connection due to administrator "
                            "command"));
    assert_int_equal(stats(fx).lost, 1);
}

/* Past dsql.connection.max.lifetime.ms a connection is closed at release
 * (never while lent) and its replacement starts at once. (min.idle 0: no
 * second connection is warmed while the first is lent.) */
static void test_recycled_at_release(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.connection.max.lifetime.ms", "1000",
                           "dsql.pool.min.idle", "0", NULL};
    new_db(fx, false, extra);
    PGconn *c = acquire_ok(fx);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx) + 500);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    c = acquire_ok(fx);
    fx->skew += 1000;
    /* Lent: service leaves it alone however old. */
    cdc_db_service(fx->db, tnow(fx));
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_CONNECTING);
    assert_int_equal(stats(fx).recycles, 1);
    assert_true(log_has(fx, "connection closed: recycled after 1"));
    acquire_ok(fx);
    assert_int_equal(atomic_load(&fx->a->logins), 2);
    assert_int_equal(stats(fx).lost, 0);
}

/* An idle connection is recycled by service; with dsql.pool.min.idle=0
 * nothing reconnects until asked. */
static void test_idle_recycled_and_min_idle(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.connection.max.lifetime.ms", "1000",
                           "dsql.pool.min.idle", "0", NULL};
    new_db(fx, false, extra);
    cdc_db_service(fx->db, tnow(fx));
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_CLOSED);
    assert_int_equal(cdc_db_next_deadline(fx->db), INT64_MAX);
    PGconn *c = acquire_ok(fx);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    int64_t due = cdc_db_next_deadline(fx->db);
    assert_true(due > tnow(fx) + 900 && due <= tnow(fx) + 1000);
    fx->skew += 1000;
    cdc_db_service(fx->db, tnow(fx));
    assert_int_equal(stats(fx).recycles, 1);
    /* The replacement is being made (it was in use before). */
    acquire_ok(fx);
    assert_int_equal(atomic_load(&fx->a->logins), 2);

    /* min.idle 1 (default): service connects before anyone asks. */
    new_db(fx, false, NULL);
    assert_int_equal(cdc_db_next_deadline(fx->db) <= tnow(fx), true);
    service_until(fx, CDC_DB_PRIMARY, CDC_DB_READY);
    assert_int_equal(atomic_load(&fx->a->logins), 3);
}

/* After dsql.failover.after.failures failures the secondary takes over;
 * the primary is checked every dsql.failback.check.interval.ms and taken
 * back when it answers; the secondary's lent connection closes at release. */
static void test_failover_and_failback(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.failover.after.failures", "2",
                           "dsql.failback.check.interval.ms", "1000", NULL};
    new_db(fx, true, extra);
    char a[64], b[64], line[256];
    snprintf(a, sizeof a, "127.0.0.1:%u", fx->a->port);
    snprintf(b, sizeof b, "127.0.0.1:%u", fx->b->port);

    PGconn *c = acquire_ok(fx);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    atomic_store(&fx->a->mode, SRV_REFUSE);
    atomic_store(&fx->a->kill_all, 1);
    /* Lost (1), then the immediate reconnect is refused (2): failover. */
    c = NULL;
    int64_t retry_at;
    char errstr[1024];
    int64_t give_up = real_ms() + 5000;
    while (!c) {
        cdc_err_t err = cdc_db_acquire(fx->db, tnow(fx), &c, &retry_at,
                                       errstr, sizeof errstr);
        if (c) {
            PGresult *r = PQexec(c, "SELECT 1");
            cdc_err_t q = PQresultStatus(r) == PGRES_TUPLES_OK
                              ? CDC_OK : CDC_ERR_DB_CONNECT;
            cdc_db_release(fx->db, c, q, NULL, tnow(fx));
            PQclear(r);
            if (q == CDC_OK && strcmp(cdc_db_active_endpoint(fx->db), b) == 0)
                break;
            c = NULL;
        } else {
            assert_true(err == CDC_OK || err == CDC_ERR_DB_CONNECT);
        }
        assert_true(real_ms() < give_up);
        poll(NULL, 0, 10);
    }
    assert_string_equal(cdc_db_active_endpoint(fx->db), b);
    assert_int_equal(stats(fx).failovers, 1);
    snprintf(line, sizeof line, "failing over from primary %s to secondary "
             "%s after 2 consecutive connection failures", a, b);
    assert_true(log_has(fx, line));
    assert_int_equal(log_count(fx, "failing over"), 1);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_BACKOFF);

    /* A check while the primary still refuses: the next one an interval
     * later. */
    int64_t check = cdc_db_next_deadline(fx->db);
    assert_true(check > tnow(fx) + 500 && check <= tnow(fx) + 1000);
    int accepted = atomic_load(&fx->a->accepted);
    fx->skew += 1000;
    service_until(fx, CDC_DB_PRIMARY, CDC_DB_BACKOFF);
    cdc_db_service(fx->db, tnow(fx));
    int64_t give_up2 = real_ms() + 3000;
    while (atomic_load(&fx->a->accepted) == accepted ||
           cdc_db_state(fx->db, CDC_DB_PRIMARY) != CDC_DB_BACKOFF) {
        assert_true(real_ms() < give_up2);
        cdc_db_service(fx->db, tnow(fx));
        poll(NULL, 0, 5);
    }
    assert_true(log_has(fx, "next check of the primary in 1000 ms"));
    assert_string_equal(cdc_db_active_endpoint(fx->db), b);

    /* The primary answers: failback. The secondary's connection is lent,
     * so it closes only when given back. */
    c = acquire_ok(fx);
    assert_int_equal(PQport(c) ? atoi(PQport(c)) : 0, fx->b->port);
    atomic_store(&fx->a->mode, SRV_ACCEPT);
    fx->skew += 1000;
    service_until(fx, CDC_DB_PRIMARY, CDC_DB_READY);
    assert_string_equal(cdc_db_active_endpoint(fx->db), a);
    assert_int_equal(stats(fx).failbacks, 1);
    snprintf(line, sizeof line, "failing back from secondary %s to primary "
             "%s", b, a);
    assert_true(log_has(fx, line));
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_SECONDARY), CDC_DB_READY);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_SECONDARY), CDC_DB_CLOSED);
    assert_true(log_has(fx, "connection closed: failed back to the primary"));
    c = acquire_ok(fx);
    assert_int_equal(atoi(PQport(c)), fx->a->port);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    assert_int_equal(log_count(fx, "failing back"), 1);
}

/* Without a secondary the primary is retried with backoff, no failover. */
static void test_no_secondary_keeps_retrying(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.failover.after.failures", "1", NULL};
    new_db(fx, false, extra);
    atomic_store(&fx->a->mode, SRV_REFUSE);
    PGconn *c;
    int64_t retry_at;
    char errstr[1024];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(acquire(fx, &c, &retry_at, errstr, sizeof errstr),
                         CDC_ERR_DB_CONNECT);
        fx->skew += retry_at - tnow(fx);
    }
    assert_int_equal(atomic_load(&fx->a->accepted), 3);
    assert_int_equal(stats(fx).failovers, 0);
    assert_false(log_has(fx, "failing over"));
}

/* The blocking forms still work: get waits for the attempt, reset drops
 * the connection and lets the next get retry at once. */
static void test_blocking_get_and_reset(void **state)
{
    fx_t *fx = *state;
    new_db(fx, false, NULL);
    PGconn *c;
    char errstr[1024];
    assert_int_equal(cdc_db_get(fx->db, &c, errstr, sizeof errstr), CDC_OK);
    assert_non_null(c);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    atomic_store(&fx->a->mode, SRV_REFUSE);
    cdc_db_reset(fx->db);
    assert_int_equal(cdc_db_get(fx->db, &c, errstr, sizeof errstr),
                     CDC_ERR_DB_CONNECT);
    assert_null(c);
    cdc_db_reset(fx->db);
    atomic_store(&fx->a->mode, SRV_ACCEPT);
    assert_int_equal(cdc_db_get(fx->db, &c, errstr, sizeof errstr), CDC_OK);
    assert_int_equal(atomic_load(&fx->a->logins), 2);
}

/* --- the pool ------------------------------------------------------------- */

/* The server has dropped every connection (not only been asked to). */
static void kill_and_wait(fx_t *fx)
{
    atomic_store(&fx->a->kill_all, 1);
    int64_t give_up = real_ms() + 5000;
    while (atomic_load(&fx->a->kill_all)) {
        if (real_ms() > give_up)
            fail_msg("the server did not drop its connections");
        poll(NULL, 0, 5);
    }
}

/* Run service until cond(fx) holds (bounded). */
static void service_while_not(fx_t *fx, bool (*cond)(fx_t *), const char *what)
{
    int64_t give_up = real_ms() + 5000;
    while (!cond(fx)) {
        if (real_ms() > give_up)
            fail_msg("waited 5 s for %s", what);
        cdc_db_service(fx->db, tnow(fx));
        poll(NULL, 0, 5);
    }
}

/* A query on c that must work. */
static void select_1(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT 1");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
}

/* A query on c that fails because the server dropped it; gives c back
 * saying so, as the poller does. */
static void fail_and_release(fx_t *fx, PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT 1");
    char e[512];
    assert_int_not_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    cdc_err_t err = cdc_db_result_error(r, c, "polling t", e, sizeof e);
    assert_int_equal(err, CDC_ERR_DB_CONNECT);
    cdc_db_release(fx->db, c, err, r, tnow(fx));
    PQclear(r);
}

/* Two borrowers at once get two connections, each with its own query in
 * flight; given back, they are lent again (the last one given back first)
 * without new logins. The endpoint's "connected" line is logged once. */
static void test_two_borrowers_two_connections(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.pool.min.idle", "0", NULL};
    new_db(fx, false, extra);
    PGconn *c1 = acquire_ok(fx);
    PGconn *c2 = acquire_ok(fx);
    assert_ptr_not_equal(c1, c2);
    assert_int_equal(atomic_load(&fx->a->logins), 2);
    assert_int_equal(stats(fx).connects, 2);
    assert_int_equal(PQsendQuery(c1, "SELECT 1"), 1);
    assert_int_equal(PQsendQuery(c2, "SELECT 1"), 1);
    PGconn *both[2] = {c2, c1};
    for (int i = 0; i < 2; i++) {
        PGresult *r = PQgetResult(both[i]);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        PQclear(r);
        assert_null(PQgetResult(both[i]));
    }
    assert_int_equal(log_count(fx, ": connected to database "), 1);
    cdc_db_release(fx->db, c1, CDC_OK, NULL, tnow(fx));
    cdc_db_release(fx->db, c2, CDC_OK, NULL, tnow(fx));
    assert_ptr_equal(acquire_ok(fx), c2);
    assert_ptr_equal(acquire_ok(fx), c1);
    assert_int_equal(atomic_load(&fx->a->logins), 2);
    assert_int_equal(atomic_load(&fx->a->accepted), 2);
}

/* dsql.pool.max.size=2: a third borrower waits (no third connection) and
 * the two borrowers are told to give one back; the one given back is lent
 * to it. cdc_db_get cannot wait for a release and says so at once. */
static void test_pool_full_third_waits(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.pool.max.size", "2", "dsql.pool.min.idle",
                           "0", NULL};
    new_db(fx, false, extra);
    PGconn *c1 = acquire_ok(fx);
    PGconn *c2 = acquire_ok(fx);
    assert_true(cdc_db_may_keep(fx->db, c1, tnow(fx)));
    assert_true(cdc_db_may_keep(fx->db, c2, tnow(fx)));
    PGconn *c3;
    int64_t retry_at;
    char e[1024];
    for (int i = 0; i < 3; i++) {
        int64_t t = tnow(fx);
        assert_int_equal(cdc_db_acquire(fx->db, t, &c3, &retry_at, e,
                                        sizeof e),
                         CDC_OK);
        assert_null(c3);
        assert_true(retry_at >= t + 10 && retry_at <= tnow(fx) + 10);
        cdc_db_service(fx->db, tnow(fx));
    }
    assert_int_equal(atomic_load(&fx->a->accepted), 2);
    assert_false(cdc_db_may_keep(fx->db, c1, tnow(fx)));
    assert_false(cdc_db_may_keep(fx->db, c2, tnow(fx)));
    PGconn *g = c1;
    int64_t t0 = real_ms();
    assert_int_equal(cdc_db_get(fx->db, &g, e, sizeof e), CDC_ERR_DB_CONNECT);
    assert_null(g);
    assert_true(real_ms() - t0 < 400);
    assert_non_null(strstr(e, "all 2 connections are in use "
                              "(dsql.pool.max.size)"));

    cdc_db_release(fx->db, c1, CDC_OK, NULL, tnow(fx));
    c3 = acquire_ok(fx);
    assert_ptr_equal(c3, c1);
    select_1(c3);
    /* Lent after the wait: it may be kept. The other one still may not. */
    assert_true(cdc_db_may_keep(fx->db, c3, tnow(fx)));
    assert_false(cdc_db_may_keep(fx->db, c2, tnow(fx)));
    assert_int_equal(atomic_load(&fx->a->accepted), 2);
    assert_int_equal(stats(fx).connects, 2);
}

static bool failed_back(fx_t *fx)
{
    return cdc_db_state(fx->db, CDC_DB_PRIMARY) == CDC_DB_READY;
}

/* cdc_db_may_keep: true for a lent connection; false past the lifetime,
 * for one not lent or unknown, and for the secondary's once failed back. */
static void test_may_keep(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.connection.max.lifetime.ms", "60000", NULL};
    new_db(fx, false, extra);
    PGconn *c = acquire_ok(fx);
    int64_t t = tnow(fx);
    assert_true(cdc_db_may_keep(fx->db, c, t));
    assert_true(cdc_db_may_keep(fx->db, c, t + 59000));
    assert_false(cdc_db_may_keep(fx->db, c, t + 60000));
    assert_false(cdc_db_may_keep(fx->db, NULL, t));
    cdc_db_release(fx->db, c, CDC_OK, NULL, t);
    assert_false(cdc_db_may_keep(fx->db, c, t));

    const char *fo[] = {"dsql.failover.after.failures", "1",
                        "dsql.failback.check.interval.ms", "1000",
                        "dsql.pool.min.idle", "0", NULL};
    new_db(fx, true, fo);
    atomic_store(&fx->a->mode, SRV_REFUSE);
    c = acquire_ok(fx); /* refused once: failed over */
    assert_int_equal(atoi(PQport(c)), fx->b->port);
    assert_true(cdc_db_may_keep(fx->db, c, tnow(fx)));
    atomic_store(&fx->a->mode, SRV_ACCEPT);
    fx->skew += 1000;
    service_while_not(fx, failed_back, "the failback");
    assert_int_equal(stats(fx).failbacks, 1);
    assert_false(cdc_db_may_keep(fx->db, c, tnow(fx)));
    select_1(c); /* still open until given back */
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_SECONDARY), CDC_DB_CLOSED);
}

static bool two_connected(fx_t *fx)
{
    return stats(fx).connects == 2;
}

/* dsql.pool.min.idle=2 keeps two connections open before anyone asks;
 * lent ones count (no third is opened beside them), a third borrower
 * makes the pool grow (up to dsql.pool.max.size), and a connection above
 * min.idle closes after 10 minutes idle. */
static void test_min_idle_two(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.pool.min.idle", "2", "dsql.pool.max.size",
                           "3", NULL};
    new_db(fx, false, extra);
    assert_true(cdc_db_next_deadline(fx->db) <= tnow(fx));
    service_while_not(fx, two_connected, "two connections");
    assert_int_equal(atomic_load(&fx->a->logins), 2);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    assert_true(cdc_db_next_deadline(fx->db) > tnow(fx) + 60000);
    /* Both ready: lent without connecting, and none added beside them. */
    PGconn *c1 = acquire_ok(fx);
    PGconn *c2 = acquire_ok(fx);
    assert_ptr_not_equal(c1, c2);
    for (int i = 0; i < 5; i++) {
        cdc_db_service(fx->db, tnow(fx));
        poll(NULL, 0, 5);
    }
    assert_int_equal(atomic_load(&fx->a->accepted), 2);
    assert_true(cdc_db_next_deadline(fx->db) > tnow(fx) + 60000);
    PGconn *c3 = acquire_ok(fx);
    assert_int_equal(atomic_load(&fx->a->logins), 3);
    assert_true(c3 != c1 && c3 != c2);

    cdc_db_release(fx->db, c1, CDC_OK, NULL, tnow(fx));
    cdc_db_release(fx->db, c2, CDC_OK, NULL, tnow(fx));
    cdc_db_release(fx->db, c3, CDC_OK, NULL, tnow(fx));
    int64_t due = cdc_db_next_deadline(fx->db);
    assert_true(due > tnow(fx) + 590000 && due <= tnow(fx) + 600000);
    fx->skew += 600000;
    cdc_db_service(fx->db, tnow(fx));
    assert_int_equal(log_count(fx, "connection closed: idle for "), 1);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    assert_true(cdc_db_next_deadline(fx->db) > tnow(fx) + 60000);
    /* Two left: a third borrower needs a new connection. */
    acquire_ok(fx);
    acquire_ok(fx);
    assert_int_equal(atomic_load(&fx->a->logins), 3);
    acquire_ok(fx);
    assert_int_equal(atomic_load(&fx->a->logins), 4);
}

/* Three connections, all dropped by the server: the failure counts once
 * (no failover after 2), the idle one is checked at once, the lent one's
 * failure at release is the same failure; then a new connection. */
static void test_lost_among_several(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.failover.after.failures", "2",
                           "dsql.pool.min.idle", "0", NULL};
    new_db(fx, true, extra);
    PGconn *c1 = acquire_ok(fx);
    PGconn *c2 = acquire_ok(fx);
    PGconn *c3 = acquire_ok(fx);
    cdc_db_release(fx->db, c3, CDC_OK, NULL, tnow(fx));
    assert_int_equal(atomic_load(&fx->a->logins), 3);
    kill_and_wait(fx);

    fail_and_release(fx, c1);
    assert_int_equal(stats(fx).lost, 2); /* c1, and c3 found idle */
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    assert_int_equal(log_count(fx, "; retrying in 0 ms"), 1);
    fail_and_release(fx, c2);
    assert_int_equal(stats(fx).lost, 3);
    assert_int_equal(log_count(fx, "; retrying in"), 1);
    assert_int_equal(stats(fx).failovers, 0);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_BACKOFF);

    PGconn *c = acquire_ok(fx);
    assert_int_equal(atoi(PQport(c)), fx->a->port);
    select_1(c);
    assert_int_equal(atomic_load(&fx->a->logins), 4);
    assert_int_equal(atomic_load(&fx->b->accepted), 0);
}

static bool primary_not_ready(fx_t *fx)
{
    return cdc_db_state(fx->db, CDC_DB_PRIMARY) != CDC_DB_READY;
}

/* One connection killed alone (57P01): the idle one is checked, found
 * fine and kept. Once it has worked again, its own loss later is a new
 * failure, counted and logged. */
static void test_lost_one_spares_the_others(void **state)
{
    fx_t *fx = *state;
    const char *extra[] = {"dsql.pool.min.idle", "0", NULL};
    new_db(fx, false, extra);
    PGconn *c1 = acquire_ok(fx);
    PGconn *c2 = acquire_ok(fx);
    cdc_db_release(fx->db, c2, CDC_OK, NULL, tnow(fx));
    PGresult *r = PQexec(c1, "SELECT shutdown");
    cdc_db_release(fx->db, c1, CDC_ERR_DB_CONNECT, r, tnow(fx));
    PQclear(r);
    assert_int_equal(stats(fx).lost, 1);
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_READY);
    PGconn *c = acquire_ok(fx);
    assert_ptr_equal(c, c2);
    select_1(c);
    assert_int_equal(atomic_load(&fx->a->logins), 2);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));

    kill_and_wait(fx);
    service_while_not(fx, primary_not_ready, "the loss to be noticed");
    assert_int_equal(stats(fx).lost, 2);
    assert_true(log_has(fx, "; retrying in 100 ms"));
}

/* --- IAM tokens ------------------------------------------------------------ */

static int64_t chain_clock(void *ud)
{
    return *(int64_t *)ud;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    return remove(path);
}

/* Each connection gets a fresh token; while the chain fails, the last one
 * (still valid) is used and the failure logged; a rejected token is never
 * used again. */
static void test_iam_token_per_connection_and_fallback(void **state)
{
    fx_t *fx = *state;
    char dir[64] = "/tmp/cdc_dbconn_XXXXXX", path[128], exp[32], ep[64];
    assert_non_null(mkdtemp(dir));
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", dir, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    snprintf(path, sizeof path, "%s/none", dir);
    setenv("AWS_CONFIG_FILE", path, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    setenv("AWS_ACCESS_KEY_ID", "ASIAQEXAMPLEDBCONNTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "dbconnSECRETdbconnSECRETdbconnSECRET", 1);
    unsetenv("AWS_SESSION_TOKEN");
    time_t wall = time(NULL);
    struct tm tm;
    time_t e = wall + 3600;
    gmtime_r(&e, &tm);
    strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    setenv("AWS_CREDENTIAL_EXPIRATION", exp, 1);
    int64_t clock = wall;
    cdc_cred_chain_t *chain = cdc_cred_chain_new(NULL);
    assert_non_null(chain);
    cdc_cred_chain_set_clock(chain, chain_clock, &clock);

    cdc_db_destroy(fx->db);
    cdc_config_destroy(fx->cfg);
    fx->cfg = cdc_config_new();
    set_key(fx->cfg, "dsql.auth.mode", "iam");
    set_key(fx->cfg, "dsql.region", "us-east-1");
    set_key(fx->cfg, "dsql.ssl.mode", "disable");
    set_key(fx->cfg, "dsql.iam.username", "dsql_iam_user");
    snprintf(ep, sizeof ep, "127.0.0.1:%u", fx->a->port);
    set_key(fx->cfg, "dsql.endpoint.primary", ep);
    set_key(fx->cfg, "retry.backoff.ms", "100");
    fx->db = cdc_db_new(fx->cfg, chain);
    assert_non_null(fx->db);
    cdc_db_set_random(fx->db, zero_rand, NULL);

    char pw1[4096], pw2[4096];
    PGconn *c = acquire_ok(fx);
    srv_password(fx->a, pw1, sizeof pw1);
    /* Signed for the host without the port. */
    assert_ptr_equal(strstr(pw1, "127.0.0.1/?Action=DbConnect&"), pw1);
    assert_int_equal(stats(fx).tokens_generated, 1);
    cdc_db_release(fx->db, c, CDC_OK, NULL, tnow(fx));

    /* A new connection signs a new token. */
    kill_and_notice(fx);
    service_until(fx, CDC_DB_PRIMARY, CDC_DB_READY);
    assert_int_equal(stats(fx).tokens_generated, 2);
    assert_int_equal(atomic_load(&fx->a->logins), 2);

    /* The credentials expire and cannot be refreshed: the token signed a
     * moment ago is still good, so it is used, and the failure logged. */
    srv_password(fx->a, pw1, sizeof pw1);
    unsetenv("AWS_ACCESS_KEY_ID");
    clock = wall + 7200;
    kill_and_notice(fx);
    service_until(fx, CDC_DB_PRIMARY, CDC_DB_READY);
    srv_password(fx->a, pw2, sizeof pw2);
    assert_string_equal(pw2, pw1);
    assert_int_equal(stats(fx).tokens_generated, 2);
    assert_int_equal(stats(fx).tokens_reused, 1);
    assert_true(log_has(fx, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
    assert_true(log_has(fx, "connecting with the token signed "));

    /* Once the server rejects it, it is gone: no credentials, no login. */
    atomic_store(&fx->a->mode, SRV_REJECT);
    kill_and_notice(fx);
    int64_t give_up = real_ms() + 5000;
    while (!log_has(fx, "rejected the IAM token")) {
        assert_true(real_ms() < give_up);
        cdc_db_service(fx->db, tnow(fx));
        poll(NULL, 0, 5);
    }
    assert_int_equal(cdc_db_state(fx->db, CDC_DB_PRIMARY), CDC_DB_BACKOFF);
    char errstr[2048];
    int64_t retry_at;
    fx->skew += 30000; /* retry.backoff.max.ms: a refused login */
    atomic_store(&fx->a->mode, SRV_ACCEPT);
    assert_int_equal(cdc_db_acquire(fx->db, tnow(fx), &c, &retry_at, errstr,
                                    sizeof errstr),
                     CDC_ERR_CREDENTIALS);
    assert_int_equal(atomic_load(&fx->a->logins), 3);
    /* No secret in the log. */
    fflush(fx->log);
    assert_null(strstr(fx->log_text, "dbconnSECRET"));
    assert_null(strstr(fx->log_text, strstr(pw1, "X-Amz-Signature=")));

    cdc_db_destroy(fx->db);
    fx->db = NULL;
    cdc_cred_chain_destroy(chain);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_CREDENTIAL_EXPIRATION");
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (saved_home)
        setenv("HOME", saved_home, 1);
    free(saved_home);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_connect_and_reuse),
        T(test_refused_backs_off),
        T(test_closed_port),
        T(test_auth_rejected_retried_slowly),
        T(test_connect_timeout),
        T(test_lost_connection_replaced),
        T(test_conflict_keeps_connection),
        T(test_admin_shutdown_is_lost),
        T(test_recycled_at_release),
        T(test_idle_recycled_and_min_idle),
        T(test_failover_and_failback),
        T(test_no_secondary_keeps_retrying),
        T(test_blocking_get_and_reset),
        T(test_two_borrowers_two_connections),
        T(test_pool_full_third_waits),
        T(test_may_keep),
        T(test_min_idle_two),
        T(test_lost_among_several),
        T(test_lost_one_spares_the_others),
        T(test_iam_token_per_connection_and_fallback),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
