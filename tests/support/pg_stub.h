/*
 * pg_stub.h - a PostgreSQL wire-protocol stub on 127.0.0.1 for unit tests.
 *
 * Just enough of the v3 protocol to watch a client try to log in: it answers
 * SSLRequest and GSSENCRequest with 'N', reads the StartupMessage, asks for a
 * cleartext password, records it and rejects it with FATAL 28P01. It never
 * accepts a login, speaks no TLS and serves one connection at a time.
 *
 * Typical use:
 *   cdc_pg_stub_t *s = cdc_pg_stub_start();
 *   ... connect to 127.0.0.1:cdc_pg_stub_port(s) ...
 *   assert_true(cdc_pg_stub_wait_conns(s, 1, 5000));
 *   assert_string_equal(cdc_pg_stub_conn(s, 0)->user, "dsql_iam_user");
 *   cdc_pg_stub_stop(s);
 */
#ifndef CDC_TEST_PG_STUB_H
#define CDC_TEST_PG_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cdc_pg_stub cdc_pg_stub_t;

/* What one client connection did, in the order it happened. Strings are
 * NUL-terminated and owned by the stub; NULL when the client never sent
 * them. */
typedef struct {
    bool ssl_requested;     /* an SSLRequest (answered 'N') */
    bool gss_requested;     /* a GSSENCRequest (answered 'N') */
    bool ssl_first;         /* the SSLRequest was the first packet */
    bool startup;           /* a StartupMessage was read */
    uint32_t protocol;      /* its version, 196608 for 3.0; 0 without one */
    const char *user;
    const char *database;
    const char *application_name;
    const char *password;   /* from the PasswordMessage */
    bool rejected;          /* the stub sent its ErrorResponse */
    const char *problem;    /* NULL, or why the stub gave up early (malformed
                               or unexpected message, timeout) */
} cdc_pg_stub_conn_t;

/* Start on 127.0.0.1, ephemeral port. NULL on failure (reason on stderr). */
cdc_pg_stub_t *cdc_pg_stub_start(void);
/* Stop the server thread (cutting a pending read short), free all. NULL ok. */
void cdc_pg_stub_stop(cdc_pg_stub_t *s);

uint16_t cdc_pg_stub_port(const cdc_pg_stub_t *s);

/*
 * Connections finished so far. A connection is recorded once the stub is
 * done with it: just before its ErrorResponse is sent (so a client that has
 * seen the rejection can count on the record), or when the client closed it
 * or it failed. Records never change afterwards.
 */
size_t cdc_pg_stub_nconns(cdc_pg_stub_t *s);
/* The i-th finished connection (0-based); NULL past the end. Valid until
 * reset or stop. */
const cdc_pg_stub_conn_t *cdc_pg_stub_conn(cdc_pg_stub_t *s, size_t i);
/* Counts over the finished connections. */
size_t cdc_pg_stub_count_ssl_requests(cdc_pg_stub_t *s);
size_t cdc_pg_stub_count_startups(cdc_pg_stub_t *s);
size_t cdc_pg_stub_count_passwords(cdc_pg_stub_t *s);
/* The password of the latest connection that sent one; NULL if none did.
 * Valid until reset or stop. */
const char *cdc_pg_stub_last_password(cdc_pg_stub_t *s);

/* Wait until at least n connections were recorded or timeout_ms passed.
 * True when reached. */
bool cdc_pg_stub_wait_conns(cdc_pg_stub_t *s, size_t n, unsigned timeout_ms);

/* Forget every recorded connection (one still being served is kept). */
void cdc_pg_stub_reset(cdc_pg_stub_t *s);

#endif
