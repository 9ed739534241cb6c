/*
 * test_iam_connect.c - cdc_db_get() in dsql.auth.mode=iam against a
 * PostgreSQL wire-protocol stub (tests/support/pg_stub.h).
 *
 * The stub asks for a cleartext password and refuses it, so each test sees
 * exactly what libpq sent on behalf of conn.c: the SSL negotiation, the
 * startup parameters and the DSQL token used as the password. Credentials
 * come from AWS_* variables set here; HOME is an empty temp dir, the AWS
 * files do not exist, IMDS is off and every PG* variable is cleared so
 * libpq's own defaults cannot change what is observed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/credentials.h"
#include "auth/token.h"
#include "common/log.h"
#include "config/config.h"
#include "db/conn.h"
#include "env_guard.h"
#include "pg_stub.h"

#define HOST "127.0.0.1"
#define REGION "us-east-1"
#define AKID "ASIAQEXAMPLE7IAMTEST"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzIAMSECRET"
/* '/', '+' and '=' exercise the token's query encoding. */
#define SESSION "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUC+iam=="
#define DBNAME "cdc_capture_db"
#define WAIT_MS 10000

typedef struct {
    const char *dir;      /* HOME, a fresh temp dir (owned by env) */
    cdc_env_guard_t *env; /* no AWS_* or PG* variables; restored at teardown */
    cdc_pg_stub_t *stub;
    cdc_cred_chain_t *chain;
    cdc_config_t *cfg;
    cdc_db_t *db;
    char *log_text;   /* what the log module wrote during the test */
    size_t log_len;
    FILE *log;
} fx_t;

/* ------------------------------------------------------------- fixture */

/* Variables no test may inherit: each sets what it needs. */
static const char *const scrubbed_env[] = {"AWS_", "PG", NULL};

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    char path[256];

    assert_non_null(fx);
    fx->env = cdc_env_guard_new(scrubbed_env, "/tmp/cdc_iamconn_XXXXXX");
    fx->dir = cdc_env_guard_home(fx->env);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    snprintf(path, sizeof path, "%s/no-aws-config", fx->dir);
    setenv("AWS_CONFIG_FILE", path, 1);
    snprintf(path, sizeof path, "%s/no-aws-credentials", fx->dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_SESSION_TOKEN", SESSION, 1);

    fx->log = open_memstream(&fx->log_text, &fx->log_len);
    assert_non_null(fx->log);
    cdc_log_set_stream(fx->log);
    cdc_log_set_level(CDC_LOG_DEBUG);

    fx->stub = cdc_pg_stub_start();
    assert_non_null(fx->stub);
    fx->chain = cdc_cred_chain_new(NULL);
    assert_non_null(fx->chain);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;

    cdc_db_destroy(fx->db);
    cdc_config_destroy(fx->cfg);
    cdc_cred_chain_destroy(fx->chain);
    cdc_pg_stub_stop(fx->stub);
    cdc_log_set_stream(stderr);
    fclose(fx->log);
    free(fx->log_text);
    cdc_env_guard_destroy(fx->env);
    free(fx);
    return 0;
}

/* --------------------------------------------------------------- helpers */

static void set_key(cdc_config_t *c, const char *key, const char *value)
{
    cdc_buf_t problems;
    cdc_buf_init(&problems);
    if (cdc_config_set(c, key, value, "test", &problems) != CDC_OK)
        fail_msg("%s=%s: %s", key, value, cdc_buf_str(&problems));
    cdc_buf_free(&problems);
}

/*
 * An IAM-mode config pointing at the stub, and a db on it. sslmode NULL
 * leaves dsql.ssl.mode at its default; region NULL leaves dsql.region unset.
 */
static cdc_db_t *new_db(fx_t *fx, const char *user, const char *sslmode,
                        const char *region)
{
    char port[16];

    cdc_db_destroy(fx->db);
    cdc_config_destroy(fx->cfg);
    fx->cfg = cdc_config_new();
    assert_non_null(fx->cfg);
    snprintf(port, sizeof port, "%u", (unsigned)cdc_pg_stub_port(fx->stub));
    set_key(fx->cfg, "dsql.auth.mode", "iam");
    set_key(fx->cfg, "dsql.endpoint.primary", HOST);
    set_key(fx->cfg, "dsql.port", port);
    if (region)
        set_key(fx->cfg, "dsql.region", region);
    set_key(fx->cfg, "dsql.iam.username", user);
    set_key(fx->cfg, "dsql.database.name", DBNAME);
    set_key(fx->cfg, "dsql.pool.connection.timeout.ms", "10000");
    if (sslmode)
        set_key(fx->cfg, "dsql.ssl.mode", sslmode);
    fx->db = cdc_db_new(fx->cfg, fx->chain);
    assert_non_null(fx->db);
    return fx->db;
}

/* The value of a token's query parameter, into out (size 128). */
static void token_param(const char *token, const char *name, char *out)
{
    char key[64];
    snprintf(key, sizeof key, "&%s=", name);
    const char *p = strstr(token, key);
    if (!p)
        fail_msg("token has no %s", name);
    p += strlen(key);
    size_t n = strcspn(p, "&");
    assert_true(n < 128);
    memcpy(out, p, n);
    out[n] = '\0';
}

static time_t parse_amz_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    if (!end || *end || strlen(s) != 16)
        fail_msg("X-Amz-Date '%s' is not YYYYMMDDTHHMMSSZ", s);
    return timegm(&tm);
}

/*
 * pw must be the DSQL token conn.c should have made for HOST/REGION, the
 * admin flag and the environment's credentials, signed at a second in
 * [lo, hi]. Returns that second.
 */
static time_t assert_dsql_token(const char *pw, bool admin, time_t lo,
                                time_t hi)
{
    char prefix[128], date[128], want[256], param[128];
    cdc_aws_creds_t creds;
    cdc_buf_t expected;
    char errstr[256];

    assert_non_null(pw);
    /* The action is the first parameter; "&" ends it, so DbConnect cannot
     * match DbConnectAdmin. */
    snprintf(prefix, sizeof prefix,
             HOST "/?Action=%s&X-Amz-Algorithm=AWS4-HMAC-SHA256&",
             admin ? "DbConnectAdmin" : "DbConnect");
    assert_ptr_equal(strstr(pw, prefix), pw);

    token_param(pw, "X-Amz-Date", date);
    time_t t = parse_amz_date(date);
    if (t < lo || t > hi)
        fail_msg("token signed at %s, outside the connection attempt", date);

    token_param(pw, "X-Amz-Expires", param);
    assert_string_equal(param, "900");
    token_param(pw, "X-Amz-Credential", param);
    snprintf(want, sizeof want, AKID "%%2F%.8s%%2F" REGION
             "%%2Fdsql%%2Faws4_request", date);
    assert_string_equal(param, want);
    token_param(pw, "X-Amz-SignedHeaders", param);
    assert_string_equal(param, "host");

    memset(&creds, 0, sizeof creds);
    creds.access_key_id = AKID;
    creds.secret_access_key = SECRET;
    creds.session_token = SESSION;
    cdc_buf_init(&expected);
    assert_int_equal(cdc_dsql_token_generate(HOST, REGION, admin, 0, &creds,
                                             t, &expected, errstr,
                                             sizeof errstr),
                     CDC_OK);
    assert_string_equal(pw, cdc_buf_str(&expected));
    cdc_buf_wipe(&expected);
    return t;
}

/* A secret, or the signature part of a token, must not be in s. */
static void assert_no_secret(const char *s, const char *token)
{
    char sig[128];

    assert_null(strstr(s, SECRET));
    assert_null(strstr(s, SESSION));
    if (token) {
        token_param(token, "X-Amz-Signature", sig);
        assert_int_equal(strlen(sig), 64);
        assert_null(strstr(s, token));
        assert_null(strstr(s, sig));
    }
}

static void assert_log_clean(fx_t *fx, const char *token)
{
    fflush(fx->log);
    assert_no_secret(fx->log_text ? fx->log_text : "", token);
}

/*
 * Connect once and return what the stub recorded; the attempt must fail:
 * with CDC_ERR_AUTH and advice when a password was sent and rejected, else
 * with CDC_ERR_DB_CONNECT. *lo and *hi bracket the attempt in wall time.
 */
static const cdc_pg_stub_conn_t *connect_once(fx_t *fx, char *errstr,
                                              size_t n, time_t *lo,
                                              time_t *hi)
{
    PGconn *conn = NULL;
    size_t before = cdc_pg_stub_nconns(fx->stub);

    *lo = time(NULL);
    cdc_err_t err = cdc_db_get(fx->db, &conn, errstr, n);
    *hi = time(NULL);
    assert_null(conn);
    assert_true(cdc_pg_stub_wait_conns(fx->stub, before + 1, WAIT_MS));
    assert_int_equal(cdc_pg_stub_nconns(fx->stub), before + 1);
    const cdc_pg_stub_conn_t *c = cdc_pg_stub_conn(fx->stub, before);
    if (c->password) {
        assert_int_equal(err, CDC_ERR_AUTH);
        assert_non_null(strstr(errstr, "rejected the IAM token"));
        assert_non_null(strstr(errstr, "dsql:DbConnect"));
    } else {
        assert_int_equal(err, CDC_ERR_DB_CONNECT);
    }
    return c;
}

/*
 * Prove no connection reached the stub: connections are served in order,
 * so once a marker connection made now is recorded, anything made earlier
 * would be recorded before it.
 */
static void assert_no_connection(fx_t *fx)
{
    char port[16];
    const char *keys[] = {"host", "port", "user", "password", "sslmode",
                          "dbname", NULL};
    const char *vals[] = {HOST, port, "marker", "x", "disable", "marker",
                          NULL};

    snprintf(port, sizeof port, "%u", (unsigned)cdc_pg_stub_port(fx->stub));
    PQfinish(PQconnectdbParams(keys, vals, 0));
    assert_true(cdc_pg_stub_wait_conns(fx->stub, 1, WAIT_MS));
    assert_int_equal(cdc_pg_stub_nconns(fx->stub), 1);
    assert_string_equal(cdc_pg_stub_conn(fx->stub, 0)->user, "marker");
}

/* The client's first request was an SSLRequest. libpq may try GSSAPI
 * encryption before TLS when a Kerberos ticket cache exists; the stub
 * refuses that too, and the SSLRequest then comes second. */
static void assert_ssl_requested_first(const cdc_pg_stub_conn_t *c)
{
    assert_true(c->ssl_requested);
    if (!c->gss_requested)
        assert_true(c->ssl_first);
}

/* ----------------------------------------------------------------- tests */

static void check_token_login(fx_t *fx, const char *user, bool admin)
{
    char errstr[1024], want[160];
    time_t lo, hi;

    new_db(fx, user, "disable", REGION);
    const cdc_pg_stub_conn_t *c =
        connect_once(fx, errstr, sizeof errstr, &lo, &hi);

    assert_null(c->problem);
    assert_false(c->ssl_requested);
    assert_true(c->startup);
    assert_int_equal(c->protocol, 196608);
    assert_string_equal(c->user, user);
    assert_string_equal(c->database, DBNAME);
    assert_string_equal(c->application_name, "dsqlcdc");
    assert_true(c->rejected);
    assert_dsql_token(c->password, admin, lo, hi);
    assert_string_equal(cdc_pg_stub_last_password(fx->stub), c->password);

    /* The server's refusal reaches the caller; the token does not. */
    snprintf(want, sizeof want,
             "password authentication failed for user \"%s\"", user);
    assert_non_null(strstr(errstr, want));
    assert_non_null(strstr(errstr, HOST));
    assert_no_secret(errstr, c->password);
    assert_log_clean(fx, c->password);
}

static void test_token_for_custom_role(void **state)
{
    check_token_login(*state, "dsql_iam_user", false);
}

static void test_token_for_admin(void **state)
{
    check_token_login(*state, "admin", true);
}

/* verify-full by default: libpq asks for TLS, the stub says no, and the
 * token is never sent in the clear. */
static void test_default_sslmode_never_sends_token_in_clear(void **state)
{
    fx_t *fx = *state;
    char errstr[1024];
    time_t lo, hi;

    new_db(fx, "dsql_iam_user", NULL, REGION);
    assert_string_equal(cdc_config_str(fx->cfg, CDC_KEY_SSL_MODE),
                        "verify-full");
    const cdc_pg_stub_conn_t *c =
        connect_once(fx, errstr, sizeof errstr, &lo, &hi);
    assert_ssl_requested_first(c);
    assert_false(c->startup);
    assert_null(c->password);
    assert_int_equal(cdc_pg_stub_count_passwords(fx->stub), 0);
    assert_null(cdc_pg_stub_last_password(fx->stub));
    assert_non_null(strstr(errstr, "SSL"));
    assert_no_secret(errstr, NULL);
    assert_log_clean(fx, NULL);
}

/* dsql.ssl.mode reaches libpq as given: "require" refuses like verify-full,
 * "prefer" falls back to plain text after the 'N'. */
static void test_sslmode_passed_through(void **state)
{
    fx_t *fx = *state;
    char errstr[1024];
    time_t lo, hi;

    new_db(fx, "dsql_iam_user", "require", REGION);
    const cdc_pg_stub_conn_t *c =
        connect_once(fx, errstr, sizeof errstr, &lo, &hi);
    assert_ssl_requested_first(c);
    assert_false(c->startup);
    assert_null(c->password);

    new_db(fx, "dsql_iam_user", "prefer", REGION);
    c = connect_once(fx, errstr, sizeof errstr, &lo, &hi);
    assert_ssl_requested_first(c);
    assert_true(c->startup);
    assert_string_equal(c->user, "dsql_iam_user");
    assert_dsql_token(c->password, false, lo, hi);
    assert_int_equal(cdc_pg_stub_count_ssl_requests(fx->stub), 2);
    assert_int_equal(cdc_pg_stub_count_startups(fx->stub), 1);
    assert_int_equal(cdc_pg_stub_count_passwords(fx->stub), 1);
}

/* Each new connection signs a new token with the current time. */
static void test_fresh_token_per_connection(void **state)
{
    fx_t *fx = *state;
    char errstr[1024], first[2048];
    time_t lo, hi;
    struct timespec t0, now, tick = {0, 20 * 1000 * 1000};

    new_db(fx, "dsql_iam_user", "disable", REGION);
    const cdc_pg_stub_conn_t *c =
        connect_once(fx, errstr, sizeof errstr, &lo, &hi);
    time_t t1 = assert_dsql_token(c->password, false, lo, hi);
    snprintf(first, sizeof first, "%s", c->password);

    /* Wait for the signing second to change (bounded). */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (time(NULL) <= t1) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 5)
            fail_msg("wall clock did not advance past %lld",
                     (long long)t1);
        nanosleep(&tick, NULL);
    }

    cdc_db_reset(fx->db);
    c = connect_once(fx, errstr, sizeof errstr, &lo, &hi);
    time_t t2 = assert_dsql_token(c->password, false, lo, hi);
    assert_true(t2 > t1);
    assert_string_not_equal(c->password, first);
    assert_int_equal(cdc_pg_stub_count_passwords(fx->stub), 2);
}

/* Without a region there is nothing to sign for: no connection attempt,
 * and the error says how to set one. */
static void test_no_region_no_attempt(void **state)
{
    fx_t *fx = *state;
    char errstr[1024];
    PGconn *conn = NULL;

    new_db(fx, "dsql_iam_user", "disable", NULL);
    assert_int_equal(cdc_db_get(fx->db, &conn, errstr, sizeof errstr),
                     CDC_ERR_CONFIG);
    assert_null(conn);
    assert_non_null(strstr(errstr, "dsql.region"));
    assert_non_null(strstr(errstr, "AWS_REGION"));
    assert_no_connection(fx);
}

/* AWS_REGION stands in for dsql.region. */
static void test_region_from_environment(void **state)
{
    fx_t *fx = *state;
    char errstr[1024];
    time_t lo, hi;

    setenv("AWS_REGION", REGION, 1);
    new_db(fx, "admin", "disable", NULL);
    const cdc_pg_stub_conn_t *c =
        connect_once(fx, errstr, sizeof errstr, &lo, &hi);
    assert_dsql_token(c->password, true, lo, hi);
}

static void test_no_credentials_no_attempt(void **state)
{
    fx_t *fx = *state;
    char errstr[2048];
    PGconn *conn = NULL;

    unsetenv("AWS_ACCESS_KEY_ID");
    new_db(fx, "dsql_iam_user", "disable", REGION);
    assert_int_equal(cdc_db_get(fx->db, &conn, errstr, sizeof errstr),
                     CDC_ERR_CREDENTIALS);
    assert_null(conn);
    assert_non_null(strstr(errstr, "no usable AWS credentials"));
    assert_non_null(strstr(errstr, "environment: AWS_SECRET_ACCESS_KEY is "
                                   "set but AWS_ACCESS_KEY_ID is not"));
    assert_no_secret(errstr, NULL);
    assert_no_connection(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_for_custom_role, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_token_for_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_default_sslmode_never_sends_token_in_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sslmode_passed_through, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fresh_token_per_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_region_no_attempt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_region_from_environment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_credentials_no_attempt, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
