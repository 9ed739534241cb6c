/*
 * cdc_faultproxy: a TCP proxy for connection-resilience tests. Listens on
 * 127.0.0.1, forwards every accepted connection to a target, and takes
 * fault-injection commands on stdin (refuse, cut, stall, delay, retarget).
 * One thread, one poll() loop; delays are deadlines in that loop, never
 * sleeps. Does not look at the bytes it forwards.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROXY_LINE_MAX 1024
#define PROXY_READ_MAX (64 * 1024)    /* bytes per read, one chunk */
#define PROXY_QUEUE_MAX (256 * 1024)  /* per direction; then stop reading */
#define PROXY_DELAY_MAX_MS (3600 * 1000)
#define PROXY_BACKLOG 128

/* Bytes read from one side, waiting to be written to the other no earlier
 * than due_us (the read time plus the delay in force then). */
typedef struct chunk {
        struct chunk *next;
        int64_t due_us;
        size_t len, off;
        char data[];
} chunk_t;

/* One direction of a connection: src's bytes queued for dst. */
typedef struct flow {
        chunk_t *head, *tail;
        size_t queued;      /* unwritten bytes in the queue */
        bool eof;           /* src said EOF */
        bool shut;          /* EOF passed on: dst shut down for writing */
        bool want_out;      /* a due chunk met a full socket: wait POLLOUT */
} flow_t;

typedef enum { CONN_CONNECTING, CONN_OPEN, CONN_CLOSED } conn_state_t;

typedef struct conn {
        struct conn *next;
        unsigned long id;
        conn_state_t state;
        int client, server;
        flow_t up;   /* client -> server */
        flow_t down; /* server -> client */
} conn_t;

typedef struct target {
        struct sockaddr_storage addr;
        socklen_t addrlen;
        char text[300];
} target_t;

typedef struct proxy {
        int listen_fd;
        target_t target;
        conn_t *conns;
        bool refuse;        /* close new connections at once */
        bool stall;         /* move no bytes, in either direction */
        int64_t delay_us;   /* added to every chunk read from now on */
        unsigned long conns_total, active;
        uint64_t bytes_up, bytes_down;
        bool quit;
} proxy_t;

static void usage(FILE *out) {
        fprintf(out,
                "usage: cdc_faultproxy --target HOST:PORT [--listen-port N]\n"
                "                      [--listen-port-file PATH]\n"
                "Forwards connections made to 127.0.0.1:N (0, the default,\n"
                "picks a free port) to the target until SIGTERM/SIGINT, 'quit'\n"
                "or EOF on stdin. Prints 127.0.0.1:<port> first and writes the\n"
                "port to PATH (atomically). Commands on stdin, one per line,\n"
                "each answered with 'ok' or 'error <why>':\n"
                "  pass              back to normal: ends refuse, stall, delay\n"
                "  refuse            close new connections right after accept;\n"
                "                    open ones keep working\n"
                "  cut               reset every open connection, both sides\n"
                "  stall             move no bytes on any connection, new ones\n"
                "                    included, but keep them open\n"
                "  delay <ms>        forward each chunk read from now on <ms>\n"
                "                    later (0 = none), in both directions\n"
                "  target HOST:PORT  where new connections go\n"
                "  stats             'ok conns=N active=M bytes_up=X "
                "bytes_down=Y':\n"
                "                    accepted connections (refused included),\n"
                "                    open ones, bytes written to the target\n"
                "                    and back to clients\n"
                "  quit\n");
}

static int64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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

/* Resolves "HOST:PORT" or "[V6]:PORT" into t. Returns 0, or -1 with why. */
static int target_parse(const char *s, target_t *t, char *errstr,
                        size_t errstr_size) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags    = AI_NUMERICSERV};
        struct addrinfo *res  = NULL;
        char host[256];
        const char *colon = strrchr(s, ':'), *h = s;
        size_t hlen;
        long port;
        int r;

        if (!colon || !parse_long(colon + 1, 1, 65535, &port)) {
                snprintf(errstr, errstr_size,
                         "target must be HOST:PORT with PORT 1..65535, not "
                         "'%s'",
                         s);
                return -1;
        }
        hlen = (size_t)(colon - s);
        if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
                h++;
                hlen -= 2;
        }
        if (hlen == 0 || hlen >= sizeof(host)) {
                snprintf(errstr, errstr_size, "bad host in target '%s'", s);
                return -1;
        }
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        if ((r = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
                snprintf(errstr, errstr_size, "cannot resolve '%s': %s", host,
                         gai_strerror(r));
                return -1;
        }
        memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
        t->addrlen = res->ai_addrlen;
        snprintf(t->text, sizeof(t->text), "%s", s);
        freeaddrinfo(res);
        return 0;
}

/* ------------------------------------------------------------ connections */

static void flow_clear(flow_t *f) {
        chunk_t *c, *next;

        for (c = f->head; c; c = next) {
                next = c->next;
                free(c);
        }
        f->head = f->tail = NULL;
        f->queued         = 0;
}

/* Closes both sides and frees queued bytes. reset: abortive close (RST), so
 * both peers see the connection drop instead of an orderly EOF. The conn
 * stays in the list, CLOSED, until conns_reap(). */
static void conn_close(proxy_t *px, conn_t *c, bool reset, const char *why) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        int *fds[2]      = {&c->client, &c->server};

        if (c->state == CONN_CLOSED)
                return;
        for (int i = 0; i < 2; i++) {
                if (*fds[i] < 0)
                        continue;
                if (reset)
                        setsockopt(*fds[i], SOL_SOCKET, SO_LINGER, &lg,
                                   sizeof(lg));
                close(*fds[i]);
                *fds[i] = -1;
        }
        flow_clear(&c->up);
        flow_clear(&c->down);
        c->state = CONN_CLOSED;
        px->active--;
        fprintf(stderr, "cdc_faultproxy: conn %lu closed: %s\n", c->id, why);
}

static void conns_reap(proxy_t *px) {
        conn_t **pp = &px->conns, *c;

        while ((c = *pp)) {
                if (c->state == CONN_CLOSED) {
                        *pp = c->next;
                        free(c);
                } else {
                        pp = &c->next;
                }
        }
}

/* Small writes go out at once: the proxy must add no latency of its own
 * (Nagle + delayed ACK) beyond what 'delay' asks for. */
static void nodelay_set(int fd) {
        int one = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Starts a non-blocking connect to the current target for a new client. */
static void conn_open(proxy_t *px, int client) {
        conn_t *c = calloc(1, sizeof(*c));

        if (!c) {
                fprintf(stderr, "cdc_faultproxy: out of memory, dropping a "
                                "connection\n");
                close(client);
                return;
        }
        c->id     = px->conns_total;
        c->client = client;
        c->state  = CONN_CONNECTING;
        c->next   = px->conns;
        px->conns = c;
        px->active++;

        c->server = socket(px->target.addr.ss_family,
                           SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->server < 0) {
                conn_close(px, c, false, strerror(errno));
                return;
        }
        nodelay_set(client);
        nodelay_set(c->server);
        if (connect(c->server, (struct sockaddr *)&px->target.addr,
                    px->target.addrlen) == 0) {
                c->state = CONN_OPEN;
        } else if (errno != EINPROGRESS) {
                char why[400];

                snprintf(why, sizeof(why), "connect to %s: %s",
                         px->target.text, strerror(errno));
                conn_close(px, c, false, why);
                return;
        }
        fprintf(stderr, "cdc_faultproxy: conn %lu accepted, %s %s\n", c->id,
                c->state == CONN_OPEN ? "connected to" : "connecting to",
                px->target.text);
}

/* The non-blocking connect finished (the server socket polled ready). */
static void conn_connected(proxy_t *px, conn_t *c) {
        int err       = 0;
        socklen_t len = sizeof(err);
        char why[400];

        if (getsockopt(c->server, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        if (err) {
                snprintf(why, sizeof(why), "connect: %s", strerror(err));
                conn_close(px, c, false, why);
                return;
        }
        c->state = CONN_OPEN;
        fprintf(stderr, "cdc_faultproxy: conn %lu connected\n", c->id);
}

/* Reads what src has (bounded by the queue room) into f. Returns false when
 * the connection was closed. */
static bool flow_read(proxy_t *px, conn_t *c, flow_t *f, int src) {
        char buf[PROXY_READ_MAX];
        size_t room = PROXY_QUEUE_MAX - f->queued;
        chunk_t *ch;
        ssize_t r;

        if (room == 0) /* a hang-up report while the queue is full */
                return true;
        if (room > sizeof(buf))
                room = sizeof(buf);
        r = recv(src, buf, room, 0);
        if (r == 0) {
                f->eof = true;
                return true;
        }
        if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                        return true;
                conn_close(px, c, true, strerror(errno));
                return false;
        }
        /* Sized to what arrived: a delayed queue of small messages must not
         * hold a full buffer each. */
        if (!(ch = malloc(sizeof(*ch) + (size_t)r))) {
                conn_close(px, c, true, "out of memory");
                return false;
        }
        memcpy(ch->data, buf, (size_t)r);
        ch->next   = NULL;
        ch->len    = (size_t)r;
        ch->off    = 0;
        ch->due_us = now_us() + px->delay_us;
        if (f->tail)
                f->tail->next = ch;
        else
                f->head = ch;
        f->tail = ch;
        f->queued += (size_t)r;
        return true;
}

/* Writes f's due chunks to dst and passes on a drained EOF. Sets
 * *next_due_us to the earliest not-yet-due chunk (kept if none). Returns
 * false when the connection was closed. */
static bool flow_pump(proxy_t *px, conn_t *c, flow_t *f, int dst,
                      uint64_t *counter, int64_t now, int64_t *next_due_us) {
        chunk_t *ch;
        ssize_t w;

        f->want_out = false;
        while ((ch = f->head) && ch->due_us <= now) {
                w = send(dst, ch->data + ch->off, ch->len - ch->off,
                         MSG_NOSIGNAL);
                if (w < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                f->want_out = true;
                                return true;
                        }
                        if (errno == EINTR)
                                continue;
                        conn_close(px, c, true, strerror(errno));
                        return false;
                }
                ch->off += (size_t)w;
                f->queued -= (size_t)w;
                *counter += (uint64_t)w;
                if (ch->off < ch->len)
                        continue;
                f->head = ch->next;
                if (!f->head)
                        f->tail = NULL;
                free(ch);
        }
        if (ch) {
                if (*next_due_us < 0 || ch->due_us < *next_due_us)
                        *next_due_us = ch->due_us;
                return true;
        }
        if (f->eof && !f->shut) {
                shutdown(dst, SHUT_WR);
                f->shut = true;
        }
        return true;
}

/* Moves whatever is due on c; closes it once both directions have ended. */
static void conn_pump(proxy_t *px, conn_t *c, int64_t now,
                      int64_t *next_due_us) {
        if (c->state != CONN_OPEN || px->stall)
                return;
        if (!flow_pump(px, c, &c->up, c->server, &px->bytes_up, now,
                       next_due_us) ||
            !flow_pump(px, c, &c->down, c->client, &px->bytes_down, now,
                       next_due_us))
                return;
        if (c->up.shut && c->down.shut)
                conn_close(px, c, false, "both sides finished");
}

/* Poll events wanted on one side of an open connection: read while its
 * outgoing queue has room, write while its incoming queue waits on it. */
static short side_events(const proxy_t *px, const flow_t *out_of,
                         const flow_t *into) {
        short ev = 0;

        if (px->stall)
                return 0;
        if (!out_of->eof && out_of->queued < PROXY_QUEUE_MAX)
                ev |= POLLIN;
        if (into->want_out)
                ev |= POLLOUT;
        return ev;
}

static void conn_events(proxy_t *px, conn_t *c, short client_rev,
                        short server_rev) {
        if (c->state == CONN_CONNECTING) {
                if (server_rev)
                        conn_connected(px, c);
                return;
        }
        if (c->state != CONN_OPEN)
                return;
        /* Read first: a hang-up often comes with the last bytes or EOF. */
        if ((client_rev & (POLLIN | POLLHUP | POLLERR)) &&
            !flow_read(px, c, &c->up, c->client))
                return;
        if ((server_rev & (POLLIN | POLLHUP | POLLERR)) &&
            !flow_read(px, c, &c->down, c->server))
                return;
        /* POLLOUT needs no action: the next pump writes. */
}

/* Accepts every pending connection. */
static void listener_accept(proxy_t *px) {
        int fd;

        while ((fd = accept4(px->listen_fd, NULL, NULL,
                             SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                px->conns_total++;
                if (px->refuse) {
                        fprintf(stderr,
                                "cdc_faultproxy: conn %lu refused\n",
                                px->conns_total);
                        close(fd);
                        continue;
                }
                conn_open(px, fd);
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED)
                fprintf(stderr, "cdc_faultproxy: accept: %s\n",
                        strerror(errno));
}

/* ------------------------------------------------------------ commands */

/* Runs one command line; writes the reply ("ok..." / "error <why>"). */
static void command_run(proxy_t *px, char *line, char *reply,
                        size_t reply_size) {
        char *argv[3];
        int argc = 0;
        char *save, *tok;
        long v;

        for (tok = strtok_r(line, " \t\r", &save); tok && argc < 3;
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

        if (!strcmp(argv[0], "pass")) {
                ARGC_IS(1);
                px->refuse   = false;
                px->stall    = false;
                px->delay_us = 0;
        } else if (!strcmp(argv[0], "refuse")) {
                ARGC_IS(1);
                px->refuse = true;
        } else if (!strcmp(argv[0], "stall")) {
                ARGC_IS(1);
                px->stall = true;
        } else if (!strcmp(argv[0], "cut")) {
                ARGC_IS(1);
                for (conn_t *c = px->conns; c; c = c->next)
                        conn_close(px, c, true, "cut");
        } else if (!strcmp(argv[0], "delay")) {
                ARGC_IS(2);
                if (!parse_long(argv[1], 0, PROXY_DELAY_MAX_MS, &v)) {
                        snprintf(reply, reply_size,
                                 "error delay must be 0..%d ms",
                                 PROXY_DELAY_MAX_MS);
                        return;
                }
                px->delay_us = (int64_t)v * 1000;
        } else if (!strcmp(argv[0], "target")) {
                target_t t;
                char errstr[400];

                ARGC_IS(2);
                if (target_parse(argv[1], &t, errstr, sizeof(errstr)) != 0) {
                        snprintf(reply, reply_size, "error %s", errstr);
                        return;
                }
                px->target = t;
        } else if (!strcmp(argv[0], "stats")) {
                ARGC_IS(1);
                snprintf(reply, reply_size,
                         "ok conns=%lu active=%lu bytes_up=%llu "
                         "bytes_down=%llu",
                         px->conns_total, px->active,
                         (unsigned long long)px->bytes_up,
                         (unsigned long long)px->bytes_down);
                return;
        } else if (!strcmp(argv[0], "quit")) {
                ARGC_IS(1);
                px->quit = true;
        } else {
                snprintf(reply, reply_size, "error unknown command '%s'",
                         argv[0]);
                return;
        }
#undef ARGC_IS
        snprintf(reply, reply_size, "ok");
}

/* Consumes complete lines from buf (len bytes), runs each as a command and
 * answers on stdout. Returns the number of bytes left (a partial line). */
static size_t lines_run(proxy_t *px, char *buf, size_t len) {
        char reply[512];
        char *start = buf, *end = buf + len, *nl;

        while (!px->quit &&
               (nl = memchr(start, '\n', (size_t)(end - start)))) {
                *nl = '\0';
                command_run(px, start, reply, sizeof(reply));
                printf("%s\n", reply);
                fflush(stdout);
                start = nl + 1;
        }
        len = (size_t)(end - start);
        memmove(buf, start, len);
        return len;
}

/* Reads stdin once. Returns false on EOF (the owner is gone). */
static bool stdin_read(proxy_t *px, char *buf, size_t *len) {
        ssize_t r = read(STDIN_FILENO, buf + *len, PROXY_LINE_MAX - *len);

        if (r < 0 && (errno == EINTR || errno == EAGAIN))
                return true;
        if (r <= 0)
                return false;
        *len = lines_run(px, buf, *len + (size_t)r);
        if (*len == PROXY_LINE_MAX) {
                printf("error line longer than %d bytes\n",
                       PROXY_LINE_MAX - 1);
                fflush(stdout);
                *len = 0;
        }
        return true;
}

/* ------------------------------------------------------------ main loop */

typedef struct pollset {
        struct pollfd *fds;
        conn_t **conns; /* conns[i] owns fds[i] (NULL: not a conn) */
        size_t cap;
} pollset_t;

static int pollset_fit(pollset_t *ps, size_t n) {
        struct pollfd *fds;
        conn_t **conns;

        if (n <= ps->cap)
                return 0;
        n *= 2;
        if (!(fds = realloc(ps->fds, n * sizeof(*fds))))
                return -1;
        ps->fds = fds;
        if (!(conns = realloc(ps->conns, n * sizeof(*conns))))
                return -1;
        ps->conns = conns;
        ps->cap   = n;
        return 0;
}

/* Serves stdin, the listener, connections and the termination signals
 * until told to stop. Returns the exit code. */
static int loop_run(proxy_t *px, int sigfd) {
        char line[PROXY_LINE_MAX];
        size_t line_len = 0;
        pollset_t ps    = {0};
        int rc          = 0;

        while (!px->quit) {
                int64_t now = now_us(), next_due = -1;
                int timeout_ms = -1;
                size_t n = 3, i;

                for (conn_t *c = px->conns; c; c = c->next)
                        conn_pump(px, c, now, &next_due);
                conns_reap(px);
                if (next_due >= 0) /* round up: never wake before due */
                        timeout_ms = (int)((next_due - now + 999) / 1000);

                if (pollset_fit(&ps, 3 + 2 * px->active) != 0) {
                        fprintf(stderr, "cdc_faultproxy: out of memory\n");
                        rc = 1;
                        break;
                }
                ps.fds[0] = (struct pollfd){.fd = sigfd, .events = POLLIN};
                ps.fds[1] = (struct pollfd){.fd     = STDIN_FILENO,
                                            .events = POLLIN};
                ps.fds[2] = (struct pollfd){.fd     = px->listen_fd,
                                            .events = POLLIN};
                ps.conns[0] = ps.conns[1] = ps.conns[2] = NULL;
                for (conn_t *c = px->conns; c; c = c->next) {
                        short cev = 0, sev = 0;

                        if (c->state == CONN_CONNECTING) {
                                sev = POLLOUT;
                        } else {
                                cev = side_events(px, &c->up, &c->down);
                                sev = side_events(px, &c->down, &c->up);
                        }
                        /* A negative fd is skipped: no events wanted means
                         * no hang-up reports either (a stalled connection
                         * notices nothing). */
                        ps.fds[n] = (struct pollfd){
                            .fd = cev ? c->client : -1, .events = cev};
                        ps.fds[n + 1] = (struct pollfd){
                            .fd = sev ? c->server : -1, .events = sev};
                        ps.conns[n] = ps.conns[n + 1] = c;
                        n += 2;
                }

                if (poll(ps.fds, n, timeout_ms) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "cdc_faultproxy: poll: %s\n",
                                strerror(errno));
                        rc = 1;
                        break;
                }
                if (ps.fds[0].revents)
                        break; /* SIGTERM / SIGINT / SIGHUP */
                for (i = 3; i < n; i += 2) {
                        if (ps.fds[i].revents || ps.fds[i + 1].revents)
                                conn_events(px, ps.conns[i],
                                            ps.fds[i].revents,
                                            ps.fds[i + 1].revents);
                }
                if (ps.fds[2].revents)
                        listener_accept(px);
                /* Commands last: 'cut' may close what the loop above used. */
                if (ps.fds[1].revents && !stdin_read(px, line, &line_len))
                        break;
        }

        for (conn_t *c = px->conns; c; c = c->next)
                conn_close(px, c, false, "proxy exiting");
        conns_reap(px);
        free(ps.fds);
        free(ps.conns);
        return rc;
}

/* Binds the listener to 127.0.0.1:port; returns the fd and the bound port
 * (port 0 picks a free one), or -1 with why. */
static int listener_open(long port, long *bound, char *errstr,
                         size_t errstr_size) {
        struct sockaddr_in sin = {.sin_family      = AF_INET,
                                  .sin_port        = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len          = sizeof(sin);
        int fd, one = 1;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "socket: %s", strerror(errno));
                return -1;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
            listen(fd, PROXY_BACKLOG) != 0 ||
            getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
                snprintf(errstr, errstr_size, "listening on 127.0.0.1:%ld: %s",
                         port, strerror(errno));
                close(fd);
                return -1;
        }
        *bound = ntohs(sin.sin_port);
        return fd;
}

/* Writes "<port>\n" to path via a temp file + rename, so a reader polling
 * for the file sees either nothing or the whole line. */
static int port_file_write(const char *path, long port, char *errstr,
                           size_t errstr_size) {
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
        r = fprintf(fp, "%ld\n", port);
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

int main(int argc, char **argv) {
        static const struct option longopts[] = {
            {"target", required_argument, NULL, 't'},
            {"listen-port", required_argument, NULL, 'p'},
            {"listen-port-file", required_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        proxy_t px            = {.listen_fd = -1};
        const char *port_file = NULL, *target = NULL;
        char errstr[512];
        long port = 0, bound;
        sigset_t sigs;
        int sigfd = -1, opt, rc = 1;

        while ((opt = getopt_long(argc, argv, "t:p:f:h", longopts, NULL)) !=
               -1) {
                switch (opt) {
                case 't':
                        target = optarg;
                        break;
                case 'p':
                        if (!parse_long(optarg, 0, 65535, &port)) {
                                fprintf(stderr, "cdc_faultproxy: "
                                                "--listen-port must be "
                                                "0..65535\n");
                                return 2;
                        }
                        break;
                case 'f':
                        port_file = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc || !target) {
                usage(stderr);
                return 2;
        }
        if (target_parse(target, &px.target, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "cdc_faultproxy: --target: %s\n", errstr);
                return 2;
        }

        /* Termination signals are read from a signalfd in the loop; a
         * vanished reader of stdout or a peer must not kill us either. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        sigaddset(&sigs, SIGPIPE);
        if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
                perror("cdc_faultproxy: sigprocmask");
                return 1;
        }
        sigdelset(&sigs, SIGPIPE);
        if ((sigfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
                perror("cdc_faultproxy: signalfd");
                return 1;
        }

        if ((px.listen_fd = listener_open(port, &bound, errstr,
                                          sizeof(errstr))) < 0) {
                fprintf(stderr, "cdc_faultproxy: %s\n", errstr);
                goto out;
        }
        if (port_file &&
            port_file_write(port_file, bound, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "cdc_faultproxy: --listen-port-file: %s\n",
                        errstr);
                goto out;
        }
        printf("127.0.0.1:%ld\n", bound);
        fflush(stdout);
        fprintf(stderr, "cdc_faultproxy: 127.0.0.1:%ld -> %s\n", bound,
                px.target.text);

        rc = loop_run(&px, sigfd);

out:
        if (px.listen_fd >= 0)
                close(px.listen_fd);
        close(sigfd);
        return rc;
}
