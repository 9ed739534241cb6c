/*
 * pg_stub.c - a PostgreSQL wire-protocol stub on 127.0.0.1 (see pg_stub.h).
 *
 * One server thread accepts and serves connections one after another; every
 * read waits on poll() together with a wake-up pipe so a stop never hangs on
 * a silent client. A connection's record is filled privately and published
 * under the mutex once complete, so the test thread only ever reads records
 * that no longer change.
 */
#include "pg_stub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PG_SSL_REQUEST_CODE 80877103u
#define PG_GSSENC_REQUEST_CODE 80877104u
#define PG_CANCEL_REQUEST_CODE 80877102u
#define PG_MAX_PACKET 65536u      /* anything bigger is a broken client */
#define PG_READ_TIMEOUT_MS 10000  /* per read; a stop cuts it short */

typedef struct {
    cdc_pg_stub_conn_t pub;
    char *user;
    char *database;
    char *application_name;
    char *password;
    char problem[160];
} stub_conn_t;

struct cdc_pg_stub {
    int listen_fd;
    int wake[2]; /* written once by stop */
    uint16_t port;
    pthread_t thread;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    stub_conn_t **conns;
    size_t nconns;
    size_t cap;
};

typedef enum { IO_OK, IO_EOF, IO_FAIL, IO_STOP } io_t;

static void conn_free(stub_conn_t *c)
{
    if (!c)
        return;
    free(c->user);
    free(c->database);
    free(c->application_name);
    free(c->password);
    free(c);
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Read exactly n bytes. IO_EOF only when the peer closed before the first
 * byte; a close in the middle is IO_FAIL. */
static io_t read_full(cdc_pg_stub_t *s, int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    size_t got = 0;

    while (got < n) {
        struct pollfd pfd[2] = {
            {.fd = fd, .events = POLLIN},
            {.fd = s->wake[0], .events = POLLIN},
        };
        int r = poll(pfd, 2, PG_READ_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return IO_FAIL;
        if (pfd[1].revents)
            return IO_STOP;
        ssize_t k = recv(fd, p + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return IO_FAIL;
        if (k == 0)
            return got == 0 ? IO_EOF : IO_FAIL;
        got += (size_t)k;
    }
    return IO_OK;
}

static bool write_full(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static void publish(cdc_pg_stub_t *s, stub_conn_t *c)
{
    c->pub.user = c->user;
    c->pub.database = c->database;
    c->pub.application_name = c->application_name;
    c->pub.password = c->password;
    c->pub.problem = c->problem[0] ? c->problem : NULL;

    pthread_mutex_lock(&s->mu);
    if (s->nconns == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        stub_conn_t **grown = realloc(s->conns, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&s->mu);
            fprintf(stderr, "pg_stub: out of memory, connection dropped\n");
            conn_free(c);
            return;
        }
        s->conns = grown;
        s->cap = cap;
    }
    s->conns[s->nconns++] = c;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* Read one length-prefixed packet (the length counts itself) into a fresh
 * NUL-terminated buffer of *len bytes. */
static io_t read_packet(cdc_pg_stub_t *s, int fd, stub_conn_t *c,
                        unsigned char **out, uint32_t *len)
{
    unsigned char hdr[4];
    io_t io = read_full(s, fd, hdr, sizeof hdr);
    if (io != IO_OK)
        return io;
    uint32_t n = get_be32(hdr);
    if (n < 4 || n > PG_MAX_PACKET) {
        snprintf(c->problem, sizeof c->problem, "bad packet length %u", n);
        return IO_FAIL;
    }
    n -= 4;
    unsigned char *body = calloc(1, (size_t)n + 1);
    if (!body) {
        snprintf(c->problem, sizeof c->problem, "out of memory");
        return IO_FAIL;
    }
    io = read_full(s, fd, body, n);
    if (io != IO_OK) {
        free(body);
        return io == IO_EOF ? IO_FAIL : io;
    }
    *out = body;
    *len = n;
    return IO_OK;
}

/* StartupMessage body after the version: name\0value\0 ... \0. */
static bool parse_startup(stub_conn_t *c, const unsigned char *body,
                          uint32_t len)
{
    const char *p = (const char *)body + 4, *end = (const char *)body + len;

    while (p < end && *p) {
        const char *name = p;
        const char *value = name + strnlen(name, (size_t)(end - name)) + 1;
        if (value >= end)
            return false;
        size_t vlen = strnlen(value, (size_t)(end - value));
        if (value + vlen >= end)
            return false;
        char **slot = strcmp(name, "user") == 0 ? &c->user
                      : strcmp(name, "database") == 0 ? &c->database
                      : strcmp(name, "application_name") == 0
                          ? &c->application_name
                          : NULL;
        if (slot) {
            free(*slot);
            *slot = strdup(value);
        }
        p = value + vlen + 1;
    }
    return p < end; /* the terminating \0 */
}

static bool send_auth_cleartext(int fd)
{
    unsigned char m[9] = {'R'};
    put_be32(m + 1, 8);
    put_be32(m + 5, 3);
    return write_full(fd, m, sizeof m);
}

/* ErrorResponse FATAL 28P01, as a server refusing the password sends it. */
static bool send_auth_failed(int fd, const char *user)
{
    char msg[256];
    unsigned char m[512];
    size_t n = 5;

    snprintf(msg, sizeof msg, "password authentication failed for user \"%s\"",
             user ? user : "");
    const char *fields[][2] = {
        {"S", "FATAL"}, {"V", "FATAL"}, {"C", "28P01"}, {"M", msg},
    };
    m[0] = 'E';
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        size_t l = strlen(fields[i][1]) + 1;
        m[n++] = (unsigned char)fields[i][0][0];
        memcpy(m + n, fields[i][1], l);
        n += l;
    }
    m[n++] = '\0';
    put_be32(m + 1, (uint32_t)(n - 1));
    return write_full(fd, m, n);
}

/* Serve one connection to its end; publishes its record unless stopping. */
static void serve(cdc_pg_stub_t *s, int fd)
{
    stub_conn_t *c = calloc(1, sizeof *c);
    unsigned char *body = NULL;
    uint32_t len = 0;
    io_t io;

    if (!c)
        return;
    /* Negotiation requests, then the StartupMessage. */
    for (unsigned npackets = 0;; npackets++) {
        io = read_packet(s, fd, c, &body, &len);
        if (io != IO_OK)
            goto done;
        if (len < 4) {
            snprintf(c->problem, sizeof c->problem, "packet without a code");
            goto done;
        }
        uint32_t code = get_be32(body);
        if (code == PG_SSL_REQUEST_CODE || code == PG_GSSENC_REQUEST_CODE) {
            if (code == PG_SSL_REQUEST_CODE) {
                c->pub.ssl_requested = true;
                c->pub.ssl_first = npackets == 0;
            } else {
                c->pub.gss_requested = true;
            }
            free(body);
            body = NULL;
            if (!write_full(fd, "N", 1)) {
                io = IO_FAIL;
                goto done;
            }
            continue;
        }
        if (code >> 16 != 3) {
            snprintf(c->problem, sizeof c->problem,
                     code == PG_CANCEL_REQUEST_CODE ? "CancelRequest"
                                                    : "unsupported request code %u",
                     code);
            goto done;
        }
        c->pub.startup = true;
        c->pub.protocol = code;
        if (!parse_startup(c, body, len)) {
            snprintf(c->problem, sizeof c->problem, "malformed StartupMessage");
            goto done;
        }
        break;
    }
    free(body);
    body = NULL;

    if (!send_auth_cleartext(fd)) {
        io = IO_FAIL;
        goto done;
    }
    unsigned char type;
    io = read_full(s, fd, &type, 1);
    if (io != IO_OK)
        goto done;
    if (type != 'p') {
        snprintf(c->problem, sizeof c->problem,
                 "expected PasswordMessage, got '%c'", type);
        goto done;
    }
    io = read_packet(s, fd, c, &body, &len);
    if (io != IO_OK)
        goto done;
    if (len == 0 || body[len - 1] != '\0') {
        snprintf(c->problem, sizeof c->problem,
                 "PasswordMessage not NUL-terminated");
        goto done;
    }
    c->password = strdup((const char *)body);
    c->pub.rejected = true;
    /* Record first: a client that has read the rejection sees the record. */
    {
        char *user = c->user ? strdup(c->user) : NULL;
        publish(s, c);
        c = NULL;
        send_auth_failed(fd, user);
        free(user);
    }
done:
    free(body);
    if (c) {
        if (io == IO_STOP) {
            conn_free(c);
            return;
        }
        if (io == IO_FAIL && !c->problem[0])
            snprintf(c->problem, sizeof c->problem,
                     "read failed or timed out");
        publish(s, c);
    }
}

static void *server_main(void *arg)
{
    cdc_pg_stub_t *s = arg;

    for (;;) {
        struct pollfd pfd[2] = {
            {.fd = s->listen_fd, .events = POLLIN},
            {.fd = s->wake[0], .events = POLLIN},
        };
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents)
            break;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        serve(s, fd);
        close(fd);
    }
    return NULL;
}

cdc_pg_stub_t *cdc_pg_stub_start(void)
{
    cdc_pg_stub_t *s = calloc(1, sizeof *s);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t alen = sizeof addr;
    pthread_condattr_t ca;

    if (!s)
        return NULL;
    s->listen_fd = -1;
    s->wake[0] = s->wake[1] = -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0 ||
        bind(s->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&addr, &alen) != 0 ||
        pipe2(s->wake, O_CLOEXEC) != 0) {
        fprintf(stderr, "pg_stub: cannot listen on 127.0.0.1: %s\n",
                strerror(errno));
        goto fail;
    }
    s->port = ntohs(addr.sin_port);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
        fprintf(stderr, "pg_stub: cannot start the server thread\n");
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mu);
        goto fail;
    }
    return s;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->wake[0] >= 0) {
        close(s->wake[0]);
        close(s->wake[1]);
    }
    free(s);
    return NULL;
}

void cdc_pg_stub_reset(cdc_pg_stub_t *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nconns; i++)
        conn_free(s->conns[i]);
    s->nconns = 0;
    pthread_mutex_unlock(&s->mu);
}

void cdc_pg_stub_stop(cdc_pg_stub_t *s)
{
    if (!s)
        return;
    while (write(s->wake[1], "x", 1) < 0 && errno == EINTR)
        ;
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->wake[0]);
    close(s->wake[1]);
    cdc_pg_stub_reset(s);
    free(s->conns);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint16_t cdc_pg_stub_port(const cdc_pg_stub_t *s)
{
    return s->port;
}

size_t cdc_pg_stub_nconns(cdc_pg_stub_t *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->nconns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const cdc_pg_stub_conn_t *cdc_pg_stub_conn(cdc_pg_stub_t *s, size_t i)
{
    const cdc_pg_stub_conn_t *c = NULL;
    pthread_mutex_lock(&s->mu);
    if (i < s->nconns)
        c = &s->conns[i]->pub;
    pthread_mutex_unlock(&s->mu);
    return c;
}

typedef enum { COUNT_SSL, COUNT_STARTUP, COUNT_PASSWORD } count_t;

static size_t count(cdc_pg_stub_t *s, count_t what)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nconns; i++) {
        const cdc_pg_stub_conn_t *c = &s->conns[i]->pub;
        n += what == COUNT_SSL       ? c->ssl_requested
             : what == COUNT_STARTUP ? c->startup
                                     : c->password != NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

size_t cdc_pg_stub_count_ssl_requests(cdc_pg_stub_t *s)
{
    return count(s, COUNT_SSL);
}

size_t cdc_pg_stub_count_startups(cdc_pg_stub_t *s)
{
    return count(s, COUNT_STARTUP);
}

size_t cdc_pg_stub_count_passwords(cdc_pg_stub_t *s)
{
    return count(s, COUNT_PASSWORD);
}

const char *cdc_pg_stub_last_password(cdc_pg_stub_t *s)
{
    const char *pw = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = s->nconns; i-- > 0 && !pw;)
        pw = s->conns[i]->password;
    pthread_mutex_unlock(&s->mu);
    return pw;
}

bool cdc_pg_stub_wait_conns(cdc_pg_stub_t *s, size_t n, unsigned timeout_ms)
{
    struct timespec until;
    bool reached;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->nconns < n)
        if (pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT)
            break;
    reached = s->nconns >= n;
    pthread_mutex_unlock(&s->mu);
    return reached;
}
