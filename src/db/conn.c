/*
 * conn.c - database session set-up (see conn.h).
 */
#include "db/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/token.h"
#include "common/buf.h"
#include "common/log.h"

struct cdc_db {
    const cdc_config_t *cfg;
    cdc_cred_chain_t *chain;
    PGconn *conn;
};

/* Session settings the encoders rely on; each is tried, a refusal warned. */
static const char *const session_sql[] = {
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, MDY'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
};

cdc_db_t *cdc_db_new(const cdc_config_t *c, cdc_cred_chain_t *chain)
{
    cdc_db_t *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->cfg = c;
    db->chain = chain;
    return db;
}

void cdc_db_destroy(cdc_db_t *db)
{
    if (!db)
        return;
    cdc_db_reset(db);
    free(db);
}

void cdc_db_reset(cdc_db_t *db)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
}

const char *cdc_db_endpoint(const cdc_db_t *db)
{
    return cdc_config_str(db->cfg, CDC_KEY_ENDPOINT_PRIMARY);
}

/* The password for a new connection: static, or a fresh IAM token. */
static cdc_err_t get_password(cdc_db_t *db, cdc_buf_t *out, char *errstr,
                              size_t n)
{
    const cdc_config_t *c = db->cfg;
    if (strcmp(cdc_config_str(c, CDC_KEY_AUTH_MODE), "password") == 0) {
        const char *pw = cdc_config_str(c, CDC_KEY_PASSWORD);
        return pw ? cdc_buf_puts(out, pw) : CDC_OK;
    }
    char region[64];
    cdc_err_t err = cdc_aws_region_resolve(cdc_config_str(c, CDC_KEY_REGION),
                                           NULL, region, sizeof region,
                                           errstr, n);
    if (err != CDC_OK)
        return err;
    const cdc_aws_creds_t *creds;
    err = cdc_cred_chain_get(db->chain, &creds, errstr, n);
    if (err != CDC_OK)
        return err;
    const char *user = cdc_config_str(c, CDC_KEY_IAM_USERNAME);
    err = cdc_dsql_token_generate(cdc_db_endpoint(db), region,
                                  strcmp(user, "admin") == 0, 0, creds,
                                  time(NULL), out, errstr, n);
    if (err == CDC_OK)
        cdc_log_add_secret(cdc_buf_str(out));
    return err;
}

cdc_err_t cdc_db_get(cdc_db_t *db, PGconn **out, char *errstr, size_t n)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK) {
        *out = db->conn;
        return CDC_OK;
    }
    cdc_db_reset(db);
    const cdc_config_t *c = db->cfg;
    cdc_buf_t pw;
    cdc_buf_init(&pw);
    cdc_err_t err = get_password(db, &pw, errstr, n);
    if (err != CDC_OK) {
        cdc_buf_wipe(&pw);
        return err;
    }
    char port[24], timeout[24];
    snprintf(port, sizeof port, "%lld",
             (long long)cdc_config_int(c, CDC_KEY_PORT));
    /* libpq's connect_timeout is in whole seconds, at least 2. */
    long long secs = (cdc_config_int(c, CDC_KEY_POOL_CONNECTION_TIMEOUT_MS) + 999) / 1000;
    snprintf(timeout, sizeof timeout, "%lld", secs < 2 ? 2 : secs);
    const char *keys[10], *vals[10];
    int k = 0;
#define PARAM(name, value) (keys[k] = (name), vals[k++] = (value))
    PARAM("host", cdc_db_endpoint(db));
    PARAM("port", port);
    PARAM("dbname", cdc_config_str(c, CDC_KEY_DATABASE_NAME));
    PARAM("user", cdc_config_str(c, CDC_KEY_IAM_USERNAME));
    PARAM("sslmode", cdc_config_str(c, CDC_KEY_SSL_MODE));
    PARAM("connect_timeout", timeout);
    PARAM("application_name", "dsqlcdc");
    if (pw.len)
        PARAM("password", cdc_buf_str(&pw));
    PARAM(NULL, NULL);
#undef PARAM
    PGconn *conn = PQconnectdbParams(keys, vals, 0);
    cdc_buf_wipe(&pw);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s",
                 conn ? PQerrorMessage(conn) : "out of memory");
        /* libpq's message ends with a newline. */
        size_t l = strlen(msg);
        while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = '\0';
        bool iam = strcmp(cdc_config_str(c, CDC_KEY_AUTH_MODE), "iam") == 0;
        if (conn && PQconnectionUsedPassword(conn) && strstr(msg, "auth"))
            err = cdc_err_set(errstr, n, CDC_ERR_AUTH,
                              "%s:%s rejected %s as %s: %s; %s", cdc_db_endpoint(db),
                              port, iam ? "the IAM token" : "the password",
                              cdc_config_str(c, CDC_KEY_IAM_USERNAME), msg,
                              iam ? "check that the IAM identity may "
                                    "dsql:DbConnect (dsql:DbConnectAdmin for "
                                    "admin) on this cluster, that dsql.region "
                                    "is the cluster's region, and that the "
                                    "role exists and is mapped with AWS IAM "
                                    "GRANT"
                                  : "check dsql.password");
        else
            err = cdc_err_set(errstr, n, CDC_ERR_DB_CONNECT,
                              "cannot connect to %s:%s as %s: %s",
                              cdc_db_endpoint(db), port,
                              cdc_config_str(c, CDC_KEY_IAM_USERNAME), msg);
        PQfinish(conn);
        return err;
    }
    for (size_t i = 0; i < sizeof session_sql / sizeof *session_sql; i++) {
        PGresult *r = PQexec(conn, session_sql[i]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            cdc_log_warn("db", "%s refused by %s: %s", session_sql[i],
                         cdc_db_endpoint(db), PQresultErrorMessage(r));
        PQclear(r);
    }
    cdc_log_info("db", "connected to %s:%s database %s as %s",
                 cdc_db_endpoint(db), port,
                 cdc_config_str(c, CDC_KEY_DATABASE_NAME),
                 cdc_config_str(c, CDC_KEY_IAM_USERNAME));
    db->conn = conn;
    *out = conn;
    return CDC_OK;
}

cdc_err_t cdc_db_result_error(const PGresult *res, const PGconn *conn,
                              const char *what, char *errstr, size_t n)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    char clean[512];
    snprintf(clean, sizeof clean, "%s", msg ? msg : "unknown error");
    size_t l = strlen(clean);
    while (l && (clean[l - 1] == '\n' || clean[l - 1] == ' '))
        clean[--l] = '\0';
    if (PQstatus(conn) != CONNECTION_OK)
        return cdc_err_set(errstr, n, CDC_ERR_DB_CONNECT,
                           "%s: connection lost: %s", what, clean);
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
