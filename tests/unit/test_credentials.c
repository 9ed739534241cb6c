/*
 * test_credentials.c - the AWS credential chain against a local HTTP stub
 * (STS, container endpoint, IMDS) and temporary profile files.
 *
 * Every test starts from an environment with no AWS_* variables, HOME in a
 * fresh temp dir, IMDS disabled and a fake clock; the real environment is
 * restored afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/credentials.h"
#include "auth/ini.h"
#include "auth/sigv4.h"
#include "env_guard.h"
#include "http_stub.h"

#define T0 1735689600LL /* 2025-01-01T00:00:00Z */
#define ROLE_ARN_DEV "arn:aws:iam::123456789012:role/dev"
#define ROLE_ARN_DEV_ENC "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdev"

typedef struct {
    const char *dir;      /* HOME, a fresh temp dir (owned by env) */
    cdc_env_guard_t *env; /* no AWS_* variables; restored at teardown */
    cdc_http_stub_t *stub;
    int64_t now;
    cdc_cred_chain_t *chain;
    char url[128];
} fx_t;

static int64_t fake_clock(void *ud)
{
    return ((fx_t *)ud)->now;
}

/* ------------------------------------------------------------- fixture */

/* Variables no test may inherit: each sets what it needs. */
static const char *const scrubbed_env[] = {"AWS_", NULL};

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);

    fx->env = cdc_env_guard_new(scrubbed_env, "/tmp/cdc_creds_XXXXXX");
    fx->dir = cdc_env_guard_home(fx->env);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);

    fx->stub = cdc_http_stub_start();
    assert_non_null(fx->stub);
    snprintf(fx->url, sizeof(fx->url), "%s", cdc_http_stub_url(fx->stub));
    fx->now = T0;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;

    cdc_cred_chain_destroy(fx->chain);
    cdc_http_stub_stop(fx->stub);
    cdc_env_guard_destroy(fx->env);
    free(fx);
    return 0;
}

/* A chain on the fake clock. Timeouts are generous so a loaded (sanitizer)
 * build never trips them by accident; slow-server tests shorten them. */
static cdc_cred_chain_t *new_chain(fx_t *fx, const char *profile)
{
    cdc_cred_chain_opts_t o = {
        .imds_timeout_ms = 3000,
        .container_timeout_ms = 3000,
        .sts_timeout_ms = 3000,
        .process_timeout_ms = 5000,
    };
    cdc_cred_chain_destroy(fx->chain);
    fx->chain = cdc_cred_chain_new(profile);
    assert_non_null(fx->chain);
    cdc_cred_chain_set_opts(fx->chain, &o);
    cdc_cred_chain_set_clock(fx->chain, fake_clock, fx);
    return fx->chain;
}

static void short_timeouts(fx_t *fx)
{
    cdc_cred_chain_opts_t o = {
        .imds_timeout_ms = 300,
        .container_timeout_ms = 300,
        .sts_timeout_ms = 300,
    };
    cdc_cred_chain_set_opts(fx->chain, &o);
}

static void write_file(fx_t *fx, const char *rel, const char *content,
                       mode_t mode)
{
    char path[512], dir[512];
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/.aws", fx->dir);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    chmod(path, mode);
}

static void path_in(fx_t *fx, const char *rel, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", fx->dir, rel);
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)((t.tv_sec - t0->tv_sec) * 1000 +
                  (t.tv_nsec - t0->tv_nsec) / 1000000);
}

static const char *container_json(const char *akid, const char *secret,
                                  const char *token, const char *exp,
                                  char *buf, size_t size)
{
    snprintf(buf, size,
             "{\"RoleArn\":\"arn:aws:iam::123456789012:role/task\","
             "\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\","
             "\"Token\":\"%s\",\"Expiration\":\"%s\"}",
             akid, secret, token, exp);
    return buf;
}

static const char *sts_xml(const char *action, const char *akid,
                           const char *secret, const char *token,
                           const char *exp, char *buf, size_t size)
{
    snprintf(buf, size,
             "<%sResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
             "  <%sResult>\n"
             "    <AssumedRoleUser>\n"
             "      <Arn>arn:aws:sts::123456789012:assumed-role/dev/s1</Arn>\n"
             "      <AssumedRoleId>AROAEXAMPLE:s1</AssumedRoleId>\n"
             "    </AssumedRoleUser>\n"
             "    <Credentials>\n"
             "      <AccessKeyId>%s</AccessKeyId>\n"
             "      <SecretAccessKey>%s</SecretAccessKey>\n"
             "      <SessionToken>%s</SessionToken>\n"
             "      <Expiration>%s</Expiration>\n"
             "    </Credentials>\n"
             "  </%sResult>\n"
             "  <ResponseMetadata><RequestId>c6104cbe</RequestId>"
             "</ResponseMetadata>\n"
             "</%sResponse>\n",
             action, action, akid, secret, token, exp, action, action);
    return buf;
}

static void assert_creds(const cdc_aws_creds_t *c, const char *akid,
                         const char *secret, const char *token,
                         int64_t expires, const char *source)
{
    assert_non_null(c);
    assert_string_equal(c->access_key_id, akid);
    assert_string_equal(c->secret_access_key, secret);
    if (token)
        assert_string_equal(c->session_token, token);
    else
        assert_null(c->session_token);
    assert_int_equal(c->expires_at, expires);
    assert_string_equal(c->source, source);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" not found in \"%s\"", needle, hay);
}

static void assert_not_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("\"%s\" must not appear in \"%s\"", needle, hay);
}

/* ------------------------------------------------------------ environment */

static void test_env_static(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048];

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "AKIDENV", "envsecret", "envtoken", 0, "environment");
    assert_string_equal(err, "");
    assert_string_equal(cdc_cred_chain_tried(fx->chain), "environment: ok");
    assert_int_equal(cdc_cred_chain_refresh_at(fx->chain), 0);

    /* Static credentials are never re-read. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDOTHER", 1);
    fx->now += 10 * 365 * 86400;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(c->access_key_id, "AKIDENV");
}

static void test_env_expiration(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048];

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_CREDENTIAL_EXPIRATION", "2025-01-01T02:00:00+01:00", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "AKIDENV", "envsecret", NULL, T0 + 3600, "environment");
    assert_int_equal(cdc_cred_chain_refresh_at(fx->chain), T0 + 3600 - 300);

    setenv("AWS_CREDENTIAL_EXPIRATION", "tomorrow", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "environment: AWS_CREDENTIAL_EXPIRATION \"tomorrow\" "
                         "is not an ISO 8601 time");
}

static void test_env_partial(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048];

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_null(c);
    assert_contains(err, "environment: AWS_ACCESS_KEY_ID is set but "
                         "AWS_SECRET_ACCESS_KEY is not; ");
}

/* ------------------------------------------------------- nothing configured */

static void test_nothing_configured_lists_every_source(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096], want[2048];

    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    snprintf(want, sizeof(want),
             "environment: AWS_ACCESS_KEY_ID not set; "
             "web identity: AWS_WEB_IDENTITY_TOKEN_FILE not set; "
             "profile \"default\": not found in %s/.aws/credentials (no such "
             "file) or %s/.aws/config (no such file); "
             "container: not configured (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
             "and _FULL_URI not set); "
             "IMDS: disabled by AWS_EC2_METADATA_DISABLED",
             fx->dir, fx->dir);
    assert_string_equal(cdc_cred_chain_tried(fx->chain), want);
    assert_contains(err, "no usable AWS credentials (");
    assert_contains(err, want);
    assert_contains(err, "). Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                         "pick a profile with AWS_PROFILE");
}

static void test_imds_timeout_reported(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096], want[256];
    struct timespec t0;

    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fx->url, 1);
    cdc_http_stub_resp_t slow = {.status = 200, .body = "tok",
                                 .delay_ms = 5000};
    cdc_http_stub_on(fx->stub, "PUT", "/latest/api/token", &slow);
    new_chain(fx, "dev");
    short_timeouts(fx);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_true(elapsed_ms(&t0) < 3000);
    snprintf(want, sizeof(want),
             "; IMDS: PUT 127.0.0.1: no complete response within 300ms");
    assert_contains(err, want);
    assert_contains(err, "profile \"dev\": not found in ");
    assert_int_equal(cdc_http_stub_count(fx->stub, "PUT", "/latest/api/token"),
                     1);
}

/* ------------------------------------------------------------ web identity */

static void web_identity_env(fx_t *fx, const char *token)
{
    char path[512];

    write_file(fx, "token.jwt", token, 0600);
    path_in(fx, "token.jwt", path, sizeof(path));
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    setenv("AWS_ROLE_ARN", ROLE_ARN_DEV, 1);
    setenv("AWS_ROLE_SESSION_NAME", "sess1", 1);
    setenv("AWS_ENDPOINT_URL_STS", fx->url, 1);
    setenv("AWS_REGION", "eu-west-1", 1);
}

static void test_web_identity_ok(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], xml[2048];

    web_identity_env(fx, "eyJ.web.token\n");
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB",
                                "websecret", "webtoken",
                                "2025-01-01T01:00:00Z", xml, sizeof(xml)));
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIAWEB", "websecret", "webtoken", T0 + 3600,
                 "web identity");

    const cdc_http_stub_req_t *r = cdc_http_stub_last(fx->stub, "POST", "/");
    assert_non_null(r);
    assert_string_equal(r->body,
                        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                        "&RoleArn=" ROLE_ARN_DEV_ENC
                        "&RoleSessionName=sess1&WebIdentityToken=eyJ.web.token");
    assert_string_equal(cdc_http_stub_req_header(r, "Content-Type"),
                        "application/x-www-form-urlencoded; charset=utf-8");
    assert_null(cdc_http_stub_req_header(r, "Authorization"));
    assert_string_equal(cdc_http_stub_req_header(r, "Host"),
                        fx->url + strlen("http://"));
}

static void test_web_identity_default_session_name(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], xml[2048];

    web_identity_env(fx, "tok");
    unsetenv("AWS_ROLE_SESSION_NAME");
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB",
                                "websecret", "webtoken",
                                "2025-01-01T01:00:00.000Z", xml, sizeof(xml)));
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_int_equal(c->expires_at, T0 + 3600);
    const cdc_http_stub_req_t *r = cdc_http_stub_last(fx->stub, "POST", "/");
    assert_contains(r->body, "&RoleSessionName=dsqlcdc-1735689600&");
}

static void test_web_identity_sts_error(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    web_identity_env(fx, "eyJ.secret.jwt");
    /* A server that quotes the token back must not get it into errstr. */
    cdc_http_stub_reply(fx->stub, "POST", "/", 403, "text/xml",
                        "<ErrorResponse><Error><Type>Sender</Type>"
                        "<Code>AccessDenied</Code><Message>Not authorized "
                        "to perform sts:AssumeRoleWithWebIdentity for "
                        "eyJ.secret.jwt</Message></Error>"
                        "<RequestId>x</RequestId></ErrorResponse>");
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    char want[512];
    snprintf(want, sizeof(want),
             "web identity: STS AssumeRoleWithWebIdentity at %s: HTTP 403 "
             "AccessDenied: Not authorized to perform "
             "sts:AssumeRoleWithWebIdentity for [REDACTED]; ", fx->url);
    assert_contains(err, want);
    assert_not_contains(err, "eyJ.secret.jwt");

    /* The message is capped at 300 characters; a token straddling the cap
     * must not leave its first bytes behind. */
    char body[1024], pad[300];
    memset(pad, 'x', 295);
    pad[295] = '\0';
    snprintf(body, sizeof(body),
             "<ErrorResponse><Error><Code>AccessDenied</Code><Message>%s "
             "eyJ.secret.jwt</Message></Error></ErrorResponse>", pad);
    cdc_http_stub_reset(fx->stub);
    cdc_http_stub_reply(fx->stub, "POST", "/", 403, "text/xml", body);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "xxxx [RED; profile \"default\"");
    assert_not_contains(err, "eyJ");
}

static void test_web_identity_malformed(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    web_identity_env(fx, "tok");
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        "<html>gateway says hi</html>");
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        "<R><Credentials><AccessKeyId>A</AccessKeyId>"
                        "<SessionToken>t</SessionToken></Credentials></R>");
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        "<R><Credentials><AccessKeyId>A</AccessKeyId>"
                        "<SecretAccessKey>s</SecretAccessKey>"
                        "<SessionToken>t</SessionToken>"
                        "<Expiration>soon</Expiration></Credentials></R>");
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "response has no <Credentials> element");
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "response has no <SecretAccessKey>");
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "<Expiration> \"soon\" is not an ISO 8601 time");
}

static void test_web_identity_slow_sts(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096], xml[2048];
    struct timespec t0;

    web_identity_env(fx, "tok");
    cdc_http_stub_resp_t slow = {
        .status = 200,
        .content_type = "text/xml",
        .body = sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB", "websecret",
                        "webtoken", "2025-01-01T01:00:00Z", xml, sizeof(xml)),
        .delay_ms = 5000,
    };
    cdc_http_stub_on(fx->stub, "POST", "/", &slow);
    new_chain(fx, NULL);
    short_timeouts(fx);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_true(elapsed_ms(&t0) < 3000);
    assert_contains(err, "web identity: STS AssumeRoleWithWebIdentity at ");
    assert_contains(err, ": POST 127.0.0.1: no complete response within "
                         "300ms; ");
}

static void test_web_identity_missing_role(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    web_identity_env(fx, "tok");
    unsetenv("AWS_ROLE_ARN");
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but "
                         "AWS_ROLE_ARN is not; ");
    assert_int_equal(cdc_http_stub_nrequests(fx->stub), 0);
}

/* ---------------------------------------------------------------- profiles */

static void test_profile_static_keys(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048];

    write_file(fx, ".aws/credentials",
               "# comment\n"
               "[default]\n"
               "aws_access_key_id = AKIDDEFAULT\n"
               "aws_secret_access_key = defsecret\n"
               "\n"
               "[dev]\n"
               "aws_access_key_id=AKIDDEV\n"
               "aws_secret_access_key  =  devsecret  \n"
               "aws_session_token = devtoken\n", 0600);
    write_file(fx, ".aws/config",
               "[profile dev]\n"
               "aws_access_key_id = AKIDFROMCONFIG\n"
               "region = us-west-2\n", 0600);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "AKIDDEFAULT", "defsecret", NULL, 0, "profile default");

    setenv("AWS_PROFILE", "dev", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    /* The credentials file wins over the config file. */
    assert_creds(c, "AKIDDEV", "devsecret", "devtoken", 0, "profile dev");

    /* An explicit profile beats AWS_PROFILE. */
    new_chain(fx, "default");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(c->access_key_id, "AKIDDEFAULT");
}

static void test_profile_config_file_and_env_paths(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], path[512];

    write_file(fx, "myconfig",
               "[default]\n"
               "region = eu-central-1\n"
               "[ profile   ops ]   # trailing comment\n"
               "aws_access_key_id = AKIDOPS\n"
               "s3 =\n"
               "  max_concurrent_requests = 20\n"
               "aws_secret_access_key = opssecret\n", 0600);
    path_in(fx, "myconfig", path, sizeof(path));
    setenv("AWS_CONFIG_FILE", path, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/nowhere", 1);
    new_chain(fx, "ops");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "AKIDOPS", "opssecret", NULL, 0, "profile ops");
}

static void test_profile_not_found(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096], want[1024];

    write_file(fx, ".aws/credentials", "[default]\naws_access_key_id=A\n"
                                       "aws_secret_access_key=B\n", 0600);
    write_file(fx, ".aws/config", "[profile other]\nregion=us-east-1\n", 0600);
    setenv("AWS_PROFILE", "nope", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    snprintf(want, sizeof(want),
             "; profile \"nope\": not found in %s/.aws/credentials or "
             "%s/.aws/config; ", fx->dir, fx->dir);
    assert_contains(err, want);
}

static void test_profile_parse_error(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096], want[1024];

    write_file(fx, ".aws/credentials", "[default]\nthis line is wrong\n", 0600);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    snprintf(want, sizeof(want),
             "profile \"default\": %s/.aws/credentials:2: expected "
             "\"[section]\" or \"key = value\"; ", fx->dir);
    assert_contains(err, want);
}

static void test_profile_missing_secret_not_leaked(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    write_file(fx, ".aws/credentials",
               "[default]\naws_secret_access_key = sekritvalue123\n", 0600);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "profile \"default\" has no aws_access_key_id");
    assert_not_contains(err, "sekritvalue123");
}

/* ------------------------------------------------------- credential_process */

static void process_profile(fx_t *fx, const char *script)
{
    char conf[1024], path[512];

    write_file(fx, "creds.sh", script, 0700);
    path_in(fx, "creds.sh", path, sizeof(path));
    snprintf(conf, sizeof(conf),
             "[profile proc]\ncredential_process = %s --profile x\n", path);
    write_file(fx, ".aws/config", conf, 0600);
}

static void test_credential_process_ok(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048];

    process_profile(fx,
                    "#!/bin/sh\n"
                    "[ \"$1\" = --profile ] || exit 9\n"
                    "echo 'some diagnostics' >&2\n"
                    "cat <<EOF\n"
                    "{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\",\n"
                    " \"SecretAccessKey\": \"procsecret\",\n"
                    " \"SessionToken\": \"proctoken\",\n"
                    " \"Expiration\": \"2025-01-01T00:30:00Z\"}\n"
                    "EOF\n");
    new_chain(fx, "proc");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIAPROC", "procsecret", "proctoken", T0 + 1800,
                 "profile proc credential_process");
}

static void test_credential_process_static(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048];

    process_profile(fx, "#!/bin/sh\nprintf '{\"Version\":1,"
                        "\"AccessKeyId\":\"AKIDP\",\"SecretAccessKey\":\"s\"}'\n");
    new_chain(fx, "proc");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "AKIDP", "s", NULL, 0, "profile proc credential_process");
}

static void test_credential_process_fails(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    process_profile(fx, "#!/bin/sh\n"
                        "echo 'token expired: run sso login' >&2\n"
                        "echo 'second line' >&2\n"
                        "exit 3\n");
    new_chain(fx, "proc");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "profile \"proc\": credential_process \"");
    assert_contains(err, "creds.sh --profile x\" exited with status 3: token "
                         "expired: run sso login; container:");
    assert_not_contains(err, "second line");
}

static void test_credential_process_bad_output(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    process_profile(fx, "#!/bin/sh\necho not json\n");
    new_chain(fx, "proc");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "--profile x\": output is not a JSON object");

    process_profile(fx, "#!/bin/sh\necho '{\"Version\":2,\"AccessKeyId\":\"A\","
                        "\"SecretAccessKey\":\"S\"}'\n");
    new_chain(fx, "proc");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "output needs \"Version\": 1");

    process_profile(fx, "#!/bin/sh\necho '{\"Version\":1,\"AccessKeyId\":\"A\"}'\n");
    new_chain(fx, "proc");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "output has no \"SecretAccessKey\" string");
}

static void test_credential_process_timeout(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];
    struct timespec t0;
    cdc_cred_chain_opts_t o = {.process_timeout_ms = 300};

    /* The child (and the grandchild it leaves behind) hang; both must be
     * killed and the call must return at the deadline. */
    process_profile(fx, "#!/bin/sh\nsleep 30 &\nexec sleep 30\n");
    new_chain(fx, "proc");
    cdc_cred_chain_set_opts(fx->chain, &o);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_true(elapsed_ms(&t0) < 5000);
    assert_contains(err, "--profile x\": did not finish within 300ms (killed)");
}

/* ------------------------------------------------------------- AssumeRole */

static void assume_role_files(fx_t *fx, const char *source_creds)
{
    write_file(fx, ".aws/credentials", source_creds, 0600);
    write_file(fx, ".aws/config",
               "[profile dev]\n"
               "role_arn = " ROLE_ARN_DEV "\n"
               "source_profile = base\n"
               "role_session_name = s1\n"
               "external_id = ext-42\n"
               "region = us-west-2\n", 0600);
    setenv("AWS_ENDPOINT_URL_STS", fx->url, 1);
}

/* Recompute the signature from what the stub received: proves the request
 * carried exactly the headers and body that were signed. */
static void assert_signed_as_received(const cdc_http_stub_req_t *r,
                                      const char *akid, const char *secret,
                                      const char *token, const char *region,
                                      time_t when)
{
    cdc_sigv4_pair_t h[] = {
        {"host", cdc_http_stub_req_header(r, "Host")},
        {"content-type", cdc_http_stub_req_header(r, "Content-Type")},
    };
    cdc_sigv4_params_t p = {
        .access_key_id = akid,
        .secret_access_key = secret,
        .session_token = token,
        .region = region,
        .service = "sts",
        .signing_time = when,
    };
    char amz_date[17], err[256];
    cdc_buf_t auth;

    cdc_buf_init(&auth);
    assert_int_equal(cdc_sigv4_sign_headers(&p, "POST", "/", "", h, 2, r->body,
                                            r->body_len, amz_date, &auth, NULL,
                                            err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(cdc_http_stub_req_header(r, "Authorization"),
                        cdc_buf_str(&auth));
    assert_string_equal(cdc_http_stub_req_header(r, "X-Amz-Date"), amz_date);
    cdc_buf_free(&auth);
}

static void test_assume_role_source_profile(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], xml[2048];

    assume_role_files(fx, "[base]\n"
                          "aws_access_key_id = AKIDSRC\n"
                          "aws_secret_access_key = srcsecret\n");
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        sts_xml("AssumeRole", "ASIAROLE", "rolesecret",
                                "roletoken", "2025-01-01T01:00:00Z", xml,
                                sizeof(xml)));
    new_chain(fx, "dev");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIAROLE", "rolesecret", "roletoken", T0 + 3600,
                 "profile dev assume role");

    const cdc_http_stub_req_t *r = cdc_http_stub_last(fx->stub, "POST", "/");
    assert_non_null(r);
    assert_string_equal(r->body, "Action=AssumeRole&Version=2011-06-15"
                                 "&RoleArn=" ROLE_ARN_DEV_ENC
                                 "&RoleSessionName=s1&ExternalId=ext-42");
    const char *auth = cdc_http_stub_req_header(r, "Authorization");
    assert_non_null(auth);
    const char *prefix =
        "AWS4-HMAC-SHA256 Credential=AKIDSRC/20250101/us-west-2/sts/"
        "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
        "Signature=";
    assert_int_equal(strncmp(auth, prefix, strlen(prefix)), 0);
    const char *sig = auth + strlen(prefix);
    assert_int_equal(strlen(sig), 64);
    assert_int_equal(strspn(sig, "0123456789abcdef"), 64);
    assert_string_equal(cdc_http_stub_req_header(r, "X-Amz-Date"),
                        "20250101T000000Z");
    assert_null(cdc_http_stub_req_header(r, "X-Amz-Security-Token"));
    assert_signed_as_received(r, "AKIDSRC", "srcsecret", NULL, "us-west-2",
                              (time_t)T0);
}

static void test_assume_role_session_source(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], xml[2048];

    /* AWS_REGION beats the profile's region for the STS endpoint/scope. */
    setenv("AWS_REGION", "eu-north-1", 1);
    assume_role_files(fx, "[base]\n"
                          "aws_access_key_id = ASIASRC\n"
                          "aws_secret_access_key = srcsecret\n"
                          "aws_session_token = srctoken\n");
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        sts_xml("AssumeRole", "ASIAROLE", "rolesecret",
                                "roletoken", "2025-01-01T01:00:00Z", xml,
                                sizeof(xml)));
    new_chain(fx, "dev");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    const cdc_http_stub_req_t *r = cdc_http_stub_last(fx->stub, "POST", "/");
    assert_string_equal(cdc_http_stub_req_header(r, "X-Amz-Security-Token"),
                        "srctoken");
    assert_contains(cdc_http_stub_req_header(r, "Authorization"),
                    "Credential=ASIASRC/20250101/eu-north-1/sts/aws4_request, "
                    "SignedHeaders=content-type;host;x-amz-date;"
                    "x-amz-security-token, Signature=");
    assert_signed_as_received(r, "ASIASRC", "srcsecret", "srctoken",
                              "eu-north-1", (time_t)T0);
}

static void test_assume_role_errors(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    /* STS refuses: the reason is shown, the source secret is not. */
    assume_role_files(fx, "[base]\naws_access_key_id = AKIDSRC\n"
                          "aws_secret_access_key = srcsecret\n");
    cdc_http_stub_reply(fx->stub, "POST", "/", 403, "text/xml",
                        "<ErrorResponse><Error><Code>AccessDenied</Code>"
                        "<Message>User is not authorized</Message></Error>"
                        "</ErrorResponse>");
    new_chain(fx, "dev");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "profile \"dev\": STS AssumeRole at ");
    assert_contains(err, ": HTTP 403 AccessDenied: User is not authorized; ");
    assert_not_contains(err, "srcsecret");

    /* A missing source profile. */
    write_file(fx, ".aws/credentials", "[other]\n", 0600);
    new_chain(fx, "dev");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "profile \"dev\": source_profile \"base\": not found "
                         "in ");

    /* A loop of source profiles. */
    write_file(fx, ".aws/config",
               "[profile a]\nrole_arn = arn:aws:iam::1:role/a\n"
               "source_profile = b\n"
               "[profile b]\nrole_arn = arn:aws:iam::1:role/b\n"
               "source_profile = a\n", 0600);
    new_chain(fx, "a");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "source_profile chain is longer than 5 profiles "
                         "(a loop?)");
    assert_int_equal(cdc_http_stub_nrequests(fx->stub), 1);
}

static void test_assume_role_credential_source_env(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], xml[2048];

    write_file(fx, ".aws/config",
               "[profile ci]\nrole_arn = " ROLE_ARN_DEV "\n"
               "credential_source = Environment\nrole_session_name = ci\n",
               0600);
    setenv("AWS_ENDPOINT_URL", fx->url, 1); /* the all-services override */
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        sts_xml("AssumeRole", "ASIACI", "cisecret", "citoken",
                                "2025-01-01T01:00:00Z", xml, sizeof(xml)));

    /* Via AWS_PROFILE the environment keys still come first... */
    setenv("AWS_PROFILE", "ci", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(c->source, "environment");
    assert_int_equal(cdc_http_stub_nrequests(fx->stub), 0);

    /* ...but a profile chosen explicitly overrides them, and its
     * credential_source signs AssumeRole with them. */
    new_chain(fx, "ci");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIACI", "cisecret", "citoken", T0 + 3600,
                 "profile ci assume role");
    assert_string_equal(cdc_cred_chain_tried(fx->chain),
                        "environment: skipped, profile \"ci\" was chosen "
                        "explicitly; web identity: AWS_WEB_IDENTITY_TOKEN_FILE "
                        "not set; profile \"ci\": ok");
    const cdc_http_stub_req_t *r = cdc_http_stub_last(fx->stub, "POST", "/");
    assert_contains(cdc_http_stub_req_header(r, "Authorization"),
                    "Credential=AKIDENV/20250101/ap-south-1/sts/aws4_request");
    assert_signed_as_received(r, "AKIDENV", "envsecret", NULL, "ap-south-1",
                              (time_t)T0);
}

static void test_profile_web_identity(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], xml[2048], conf[1024], path[512];

    write_file(fx, "pod.jwt", "pod-token", 0600);
    path_in(fx, "pod.jwt", path, sizeof(path));
    snprintf(conf, sizeof(conf),
             "[profile pod]\nrole_arn = " ROLE_ARN_DEV "\n"
             "web_identity_token_file = %s\nrole_session_name = p1\n", path);
    write_file(fx, ".aws/config", conf, 0600);
    setenv("AWS_ENDPOINT_URL_STS", fx->url, 1);
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        sts_xml("AssumeRoleWithWebIdentity", "ASIAPOD",
                                "podsecret", "podtoken",
                                "2025-01-01T01:00:00Z", xml, sizeof(xml)));
    new_chain(fx, "pod");
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIAPOD", "podsecret", "podtoken", T0 + 3600,
                 "profile pod web identity");
    assert_string_equal(cdc_http_stub_last(fx->stub, "POST", "/")->body,
                        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                        "&RoleArn=" ROLE_ARN_DEV_ENC
                        "&RoleSessionName=p1&WebIdentityToken=pod-token");
}

/* ---------------------------------------------------------------- container */

static void container_env(fx_t *fx, const char *path)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", fx->url, path);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
}

static void test_container_ok(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], js[1024];

    container_env(fx, "/v2/credentials/abc");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer sekrit-ecs", 1);
    cdc_http_stub_reply(fx->stub, "GET", "/v2/credentials/abc", 200,
                        "application/json",
                        container_json("ASIAECS", "ecssecret", "ecstoken",
                                       "2025-01-01T06:00:00Z", js, sizeof(js)));
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIAECS", "ecssecret", "ecstoken", T0 + 6 * 3600,
                 "container");
    const cdc_http_stub_req_t *r = cdc_http_stub_last(fx->stub, "GET", NULL);
    assert_string_equal(cdc_http_stub_req_header(r, "Authorization"),
                        "Bearer sekrit-ecs");
    assert_int_equal(cdc_cred_chain_refresh_at(fx->chain), T0 + 6 * 3600 - 300);
}

static void test_container_token_file_wins(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], js[1024], path[512];

    container_env(fx, "/creds");
    write_file(fx, "eks-token", "eks-pod-identity-token\n", 0600);
    path_in(fx, "eks-token", path, sizeof(path));
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token", 1);
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        container_json("ASIAEKS", "s", "t",
                                       "2025-01-01T06:00:00Z", js, sizeof(js)));
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(
        cdc_http_stub_req_header(cdc_http_stub_last(fx->stub, "GET", "/creds"),
                                 "Authorization"),
        "eks-pod-identity-token");
}

static void test_container_errors(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096], want[512];

    container_env(fx, "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer sekrit-ecs", 1);
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 500, "application/json",
                        "{\"code\":\"InternalError\",\"message\":\"token "
                        "Bearer sekrit-ecs rejected\"}");
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        "{\"AccessKeyId\": ");
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
                        "\"Expiration\":\"2025-01-01T06:00:00Z\"}");

    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    snprintf(want, sizeof(want),
             "container: GET %s/creds: HTTP 500 InternalError: token "
             "[REDACTED] rejected; IMDS: ", fx->url);
    assert_contains(err, want);
    assert_not_contains(err, "sekrit-ecs");

    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "/creds: response is not a JSON object; ");

    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "/creds: response has no \"Token\" string; ");
}

static void test_container_slow_and_dropped(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];
    struct timespec t0;

    container_env(fx, "/creds");
    cdc_http_stub_resp_t slow = {.status = 200, .body = "{}", .delay_ms = 5000};
    cdc_http_stub_on(fx->stub, "GET", "/creds", &slow);
    cdc_http_stub_resp_t drop = {.drop = true};
    cdc_http_stub_on(fx->stub, "GET", "/creds", &drop);

    new_chain(fx, NULL);
    short_timeouts(fx);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_true(elapsed_ms(&t0) < 3000);
    assert_contains(err, "container: GET 127.0.0.1: no complete response "
                         "within 300ms; ");

    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "container: GET 127.0.0.1: ");
}

static void test_container_full_uri_rejected(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "container: AWS_CONTAINER_CREDENTIALS_FULL_URI "
                         "\"http://example.com/creds\" must use https or a "
                         "loopback");
}

/* --------------------------------------------------------------------- IMDS */

static void imds_env(fx_t *fx)
{
    char base[256];
    unsetenv("AWS_EC2_METADATA_DISABLED");
    snprintf(base, sizeof(base), "%s/", fx->url); /* trailing slash is fine */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base, 1);
}

#define IMDS_LIST "/latest/meta-data/iam/security-credentials/"
#define IMDS_ROLE IMDS_LIST "app-role"

static const char imds_json[] =
    "{\"Code\":\"Success\",\"LastUpdated\":\"2024-12-31T23:00:00Z\","
    "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDS\","
    "\"SecretAccessKey\":\"imdssecret\",\"Token\":\"imdstoken\","
    "\"Expiration\":\"2025-01-01T06:00:00Z\"}";

static void test_imds_ok(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048];

    imds_env(fx);
    cdc_http_stub_reply(fx->stub, "PUT", "/latest/api/token", 200, "text/plain",
                        "AQAEAv2-session");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_LIST, 200, "text/plain",
                        "app-role\n");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_ROLE, 200, "text/plain",
                        imds_json);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIAIMDS", "imdssecret", "imdstoken", T0 + 6 * 3600,
                 "IMDS");

    assert_int_equal(cdc_http_stub_nrequests(fx->stub), 3);
    const cdc_http_stub_req_t *r = cdc_http_stub_request(fx->stub, 0);
    assert_string_equal(r->method, "PUT");
    assert_string_equal(
        cdc_http_stub_req_header(r, "X-aws-ec2-metadata-token-ttl-seconds"),
        "21600");
    for (size_t i = 1; i < 3; i++) {
        r = cdc_http_stub_request(fx->stub, i);
        assert_string_equal(r->method, "GET");
        assert_string_equal(r->path, i == 1 ? IMDS_LIST : IMDS_ROLE);
        assert_string_equal(
            cdc_http_stub_req_header(r, "X-aws-ec2-metadata-token"),
            "AQAEAv2-session");
    }
}

static void test_imds_v1_fallback_and_errors(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    imds_env(fx);
    cdc_http_stub_reply(fx->stub, "PUT", "/latest/api/token", 403, NULL, "");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_LIST, 200, NULL, "app-role");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_LIST, 404, NULL, "");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_ROLE, 200, NULL, imds_json);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(c->access_key_id, "ASIAIMDS");
    assert_null(cdc_http_stub_req_header(
        cdc_http_stub_last(fx->stub, "GET", IMDS_ROLE),
        "X-aws-ec2-metadata-token"));

    /* No role attached. */
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "IMDS: no IAM role attached to this instance (GET ");

    /* IMDSv1 refused by configuration. */
    setenv("AWS_EC2_METADATA_V1_DISABLED", "true", 1);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "/latest/api/token: HTTP 403 and IMDSv1 is disabled "
                         "by AWS_EC2_METADATA_V1_DISABLED");
}

static void test_imds_bad_credentials_json(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096];

    imds_env(fx);
    cdc_http_stub_reply(fx->stub, "PUT", "/latest/api/token", 200, NULL, "t");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_LIST, 200, NULL, "app-role");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_ROLE, 200, NULL,
                        "{\"Code\":\"AssumeRoleUnauthorizedAccess\","
                        "\"Message\":\"role cannot be assumed\"}");
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "app-role: Code AssumeRoleUnauthorizedAccess: role "
                         "cannot be assumed");
}

/* ------------------------------------------------------------- chain order */

static void configure_everything(fx_t *fx)
{
    char js[1024];

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    write_file(fx, ".aws/credentials", "[default]\naws_access_key_id = AKIDPROF\n"
                                       "aws_secret_access_key = profsecret\n",
               0600);
    container_env(fx, "/creds");
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        container_json("ASIAECS", "ecssecret", "ecstoken",
                                       "2025-01-01T06:00:00Z", js, sizeof(js)));
    imds_env(fx);
    cdc_http_stub_reply(fx->stub, "PUT", "/latest/api/token", 200, NULL, "t");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_LIST, 200, NULL, "app-role");
    cdc_http_stub_reply(fx->stub, "GET", IMDS_ROLE, 200, NULL, imds_json);
}

static const char *get_source(fx_t *fx)
{
    const cdc_aws_creds_t *c;
    char err[4096];

    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    return c->source;
}

static void test_chain_order(void **state)
{
    fx_t *fx = *state;
    char path[512];

    configure_everything(fx);
    assert_string_equal(get_source(fx), "environment");
    assert_int_equal(cdc_http_stub_nrequests(fx->stub), 0);

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_string_equal(get_source(fx), "profile default");
    assert_int_equal(cdc_http_stub_nrequests(fx->stub), 0);

    path_in(fx, ".aws/credentials", path, sizeof(path));
    unlink(path);
    assert_string_equal(get_source(fx), "container");
    assert_int_equal(cdc_http_stub_nrequests(fx->stub), 1);
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 1);

    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    assert_string_equal(get_source(fx), "IMDS");
    assert_int_equal(cdc_http_stub_count(fx->stub, "PUT", "/latest/api/token"),
                     1);
    assert_string_equal(cdc_cred_chain_tried(fx->chain) +
                            strlen(cdc_cred_chain_tried(fx->chain)) -
                            strlen("; IMDS: ok"),
                        "; IMDS: ok");
}

static void test_web_identity_before_profile(void **state)
{
    fx_t *fx = *state;
    char xml[2048];

    write_file(fx, ".aws/credentials", "[default]\naws_access_key_id = AKIDPROF\n"
                                       "aws_secret_access_key = profsecret\n",
               0600);
    web_identity_env(fx, "tok");
    cdc_http_stub_reply(fx->stub, "POST", "/", 200, "text/xml",
                        sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB",
                                "websecret", "webtoken",
                                "2025-01-01T01:00:00Z", xml, sizeof(xml)));
    assert_string_equal(get_source(fx), "web identity");
    assert_string_equal(cdc_cred_chain_tried(fx->chain),
                        "environment: AWS_ACCESS_KEY_ID not set; "
                        "web identity: ok");
}

/* ---------------------------------------------------------------- refresh */

static void test_refresh_before_expiry(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], js1[1024], js2[1024];

    container_env(fx, "/creds");
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        container_json("ASIAONE", "s1", "t1",
                                       "2025-01-01T01:00:00Z", js1,
                                       sizeof(js1)));
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        container_json("ASIATWO", "s2", "t2",
                                       "2025-01-01T02:00:00Z", js2,
                                       sizeof(js2)));
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(c->access_key_id, "ASIAONE");
    assert_int_equal(cdc_cred_chain_refresh_at(fx->chain), T0 + 3600 - 300);

    /* Outside the 5-minute margin: served from cache. */
    fx->now = T0 + 3600 - 301;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(c->access_key_id, "ASIAONE");
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 1);

    /* Inside it: re-fetched. */
    fx->now = T0 + 3600 - 300;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIATWO", "s2", "t2", T0 + 7200, "container");
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 2);
    assert_string_equal(err, "");
    assert_int_equal(cdc_cred_chain_refresh_at(fx->chain), T0 + 7200 - 300);
}

static void test_refresh_margin_injectable(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[2048], js[1024];
    cdc_cred_chain_opts_t o = {.refresh_margin_secs = 60};

    container_env(fx, "/creds");
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        container_json("ASIAONE", "s1", "t1",
                                       "2025-01-01T01:00:00Z", js, sizeof(js)));
    new_chain(fx, NULL);
    cdc_cred_chain_set_opts(fx->chain, &o);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_int_equal(cdc_cred_chain_refresh_at(fx->chain), T0 + 3600 - 60);
    fx->now = T0 + 3600 - 61;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 1);
    fx->now = T0 + 3600 - 60;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 2);
}

static void test_failed_refresh_keeps_cache(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096], js[1024], want[512];

    container_env(fx, "/creds");
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        container_json("ASIAONE", "s1", "t1",
                                       "2025-01-01T01:00:00Z", js, sizeof(js)));
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 500, "text/plain", "down");
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);

    fx->now = T0 + 3600 - 100;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_creds(c, "ASIAONE", "s1", "t1", T0 + 3600, "container");
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 2);
    snprintf(want, sizeof(want),
             "refreshing AWS credentials from container failed (GET %s/creds: "
             "HTTP 500); using the cached ones, valid until "
             "2025-01-01T01:00:00Z", fx->url);
    assert_string_equal(err, want);
    assert_string_equal(cdc_cred_chain_last_error(fx->chain), want);

    /* No retry storm: the next attempt waits retry_secs (10). */
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 2);
    assert_int_equal(cdc_cred_chain_refresh_at(fx->chain), T0 + 3600 - 90);
    fx->now = T0 + 3600 - 90;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(c->access_key_id, "ASIAONE");
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 3);

    /* Expired: now it is fatal, and the whole chain is reported. */
    fx->now = T0 + 3600;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_null(c);
    snprintf(want, sizeof(want), "container: GET %s/creds: HTTP 500; IMDS: ",
             fx->url);
    assert_contains(err, want);
    assert_int_equal(cdc_http_stub_count(fx->stub, "GET", "/creds"), 4);
}

static void test_recovers_after_expiry(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[4096], js1[1024], js2[1024];

    container_env(fx, "/creds");
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        container_json("ASIAONE", "s1", "t1",
                                       "2025-01-01T01:00:00Z", js1,
                                       sizeof(js1)));
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 200, "application/json",
                        container_json("ASIATWO", "s2", "t2",
                                       "2025-01-01T03:00:00Z", js2,
                                       sizeof(js2)));
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    /* The process slept past expiry (suspended laptop): resolve again. */
    fx->now = T0 + 7200;
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(c->access_key_id, "ASIATWO");
}

/* ------------------------------------------------------------ no secrets */

static void test_errstr_never_has_secrets(void **state)
{
    fx_t *fx = *state;
    const cdc_aws_creds_t *c;
    char err[8192], path[512];
    const char *secrets[] = {"ENVSECRETVALUE", "ENVSESSIONTOKEN",
                             "JWTWEBIDENTITY", "FILESECRETVALUE",
                             "FILESESSIONTOKEN", "ECSAUTHTOKEN"};

    /* Secret without key id in env, token without role, a profile with a
     * secret and token but no key id, a container endpoint that echoes the
     * authorization token back. */
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRETVALUE", 1);
    setenv("AWS_SESSION_TOKEN", "ENVSESSIONTOKEN", 1);
    write_file(fx, "jwt", "JWTWEBIDENTITY", 0600);
    path_in(fx, "jwt", path, sizeof(path));
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    setenv("AWS_ROLE_ARN", ROLE_ARN_DEV, 1);
    setenv("AWS_ENDPOINT_URL_STS", fx->url, 1);
    cdc_http_stub_reply(fx->stub, "POST", "/", 400, "text/xml",
                        "<ErrorResponse><Error><Code>InvalidIdentityToken"
                        "</Code><Message>bad JWTWEBIDENTITY</Message></Error>"
                        "</ErrorResponse>");
    write_file(fx, ".aws/credentials",
               "[default]\naws_secret_access_key = FILESECRETVALUE\n"
               "aws_session_token = FILESESSIONTOKEN\n", 0600);
    container_env(fx, "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ECSAUTHTOKEN", 1);
    cdc_http_stub_reply(fx->stub, "GET", "/creds", 401, "application/json",
                        "{\"code\":\"Denied\",\"message\":\"ECSAUTHTOKEN\"}");

    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        assert_not_contains(err, secrets[i]);
        assert_not_contains(cdc_cred_chain_tried(fx->chain), secrets[i]);
    }
    assert_contains(err, "environment: AWS_SECRET_ACCESS_KEY is set but "
                         "AWS_ACCESS_KEY_ID is not; ");
    assert_contains(err, "HTTP 400 InvalidIdentityToken: bad [REDACTED]; ");
    assert_contains(err, "HTTP 401 Denied: [REDACTED]; ");
}

/* ------------------------------------------------------------------ region */

static void test_region_resolve(void **state)
{
    fx_t *fx = *state;
    char r[64], err[1024], want[1024];

    write_file(fx, ".aws/config", "[default]\nregion = sa-east-1\n"
                                  "[profile dev]\nregion = ca-central-1\n",
               0600);
    assert_int_equal(cdc_aws_region_resolve(NULL, NULL, r, sizeof(r), err,
                                            sizeof(err)), CDC_OK);
    assert_string_equal(r, "sa-east-1");
    assert_int_equal(cdc_aws_region_resolve("", "dev", r, sizeof(r), err,
                                            sizeof(err)), CDC_OK);
    assert_string_equal(r, "ca-central-1");
    setenv("AWS_PROFILE", "dev", 1);
    assert_int_equal(cdc_aws_region_resolve(NULL, NULL, r, sizeof(r), err,
                                            sizeof(err)), CDC_OK);
    assert_string_equal(r, "ca-central-1");
    setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
    assert_int_equal(cdc_aws_region_resolve(NULL, "dev", r, sizeof(r), err,
                                            sizeof(err)), CDC_OK);
    assert_string_equal(r, "eu-west-3");
    setenv("AWS_REGION", "us-east-2", 1);
    assert_int_equal(cdc_aws_region_resolve(NULL, "dev", r, sizeof(r), err,
                                            sizeof(err)), CDC_OK);
    assert_string_equal(r, "us-east-2");
    assert_int_equal(cdc_aws_region_resolve("ap-northeast-1", "dev", r,
                                            sizeof(r), err, sizeof(err)),
                     CDC_OK);
    assert_string_equal(r, "ap-northeast-1");

    assert_int_equal(cdc_aws_region_resolve("us-east-1/../x", NULL, r,
                                            sizeof(r), err, sizeof(err)),
                     CDC_ERR_CONFIG);
    assert_string_equal(err, "region \"us-east-1/../x\" from the configuration "
                             "is not a region name (like us-east-1)");

    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    assert_int_equal(cdc_aws_region_resolve(NULL, "ghost", r, sizeof(r), err,
                                            sizeof(err)), CDC_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "no AWS region: set dsql.region, AWS_REGION or "
             "AWS_DEFAULT_REGION, or \"region\" in profile \"ghost\" of "
             "%s/.aws/config", fx->dir);
    assert_string_equal(err, want);
}

/* --------------------------------------------------------------------- ini */

static void test_ini_parse(void **state)
{
    static const char text[] =
        "; leading comment\r\n"
        "[default]\r\n"
        "Region = us-east-1\r\n"
        "[profile   a b]\n"
        "  key = indented first key\n"
        "nested =\n"
        "  inner = skipped\n"
        "key = last wins\n"
        "url = http://x/?a=b#frag\n"
        "[profile a b]\n"
        "more = yes\n";
    cdc_ini_t *ini;
    char err[256];

    assert_int_equal(cdc_ini_parse(text, strlen(text), "t", &ini, err,
                                   sizeof(err)), CDC_OK);
    assert_string_equal(cdc_ini_get(ini, "default", "region"), "us-east-1");
    assert_true(cdc_ini_has_section(ini, "profile a b"));
    assert_string_equal(cdc_ini_get(ini, "profile a b", "key"), "last wins");
    assert_string_equal(cdc_ini_get(ini, "profile a b", "nested"), "");
    assert_null(cdc_ini_get(ini, "profile a b", "inner"));
    assert_string_equal(cdc_ini_get(ini, "profile a b", "url"),
                        "http://x/?a=b#frag");
    assert_string_equal(cdc_ini_get(ini, "profile a b", "more"), "yes");
    assert_null(cdc_ini_get(ini, "default", "more"));
    cdc_ini_destroy(ini);

    assert_int_equal(cdc_ini_parse("key = v\n", 8, "f.ini", &ini, err,
                                   sizeof(err)), CDC_ERR_PARSE);
    assert_string_equal(err, "f.ini:1: setting before any [section]");
    assert_null(ini);
    assert_int_equal(cdc_ini_parse("[a]\n[b\n", 7, "f.ini", &ini, err,
                                   sizeof(err)), CDC_ERR_PARSE);
    assert_string_equal(err, "f.ini:2: section header without ']'");
}

/* ------------------------------------------------------------ http stub */

static void test_stub_queue_and_records(void **state)
{
    fx_t *fx = *state;

    /* Exercised through the credential code everywhere else; here only
     * the parts that code does not reach: queued order, query capture. */
    cdc_http_stub_reply(fx->stub, "GET", "/q", 200, NULL, "one");
    cdc_http_stub_reply(fx->stub, "GET", "/q", 201, NULL, "two");
    container_env(fx, "/q?x=1&y=%2F");
    const cdc_aws_creds_t *c;
    char err[4096];
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "/q?x=1&y=%2F: HTTP 201");
    new_chain(fx, NULL);
    assert_int_equal(cdc_cred_chain_get(fx->chain, &c, err, sizeof(err)),
                     CDC_ERR_CREDENTIALS);
    assert_contains(err, "/q?x=1&y=%2F: HTTP 201"); /* last one repeats */
    assert_true(cdc_http_stub_wait_requests(fx->stub, 3, 1000));
    const cdc_http_stub_req_t *r = cdc_http_stub_request(fx->stub, 0);
    assert_string_equal(r->path, "/q");
    assert_string_equal(r->query, "x=1&y=%2F");
    assert_null(cdc_http_stub_request(fx->stub, 3));
    cdc_http_stub_reset(fx->stub);
    assert_int_equal(cdc_http_stub_nrequests(fx->stub), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_env_static),
        T(test_env_expiration),
        T(test_env_partial),
        T(test_nothing_configured_lists_every_source),
        T(test_imds_timeout_reported),
        T(test_web_identity_ok),
        T(test_web_identity_default_session_name),
        T(test_web_identity_sts_error),
        T(test_web_identity_malformed),
        T(test_web_identity_slow_sts),
        T(test_web_identity_missing_role),
        T(test_profile_static_keys),
        T(test_profile_config_file_and_env_paths),
        T(test_profile_not_found),
        T(test_profile_parse_error),
        T(test_profile_missing_secret_not_leaked),
        T(test_credential_process_ok),
        T(test_credential_process_static),
        T(test_credential_process_fails),
        T(test_credential_process_bad_output),
        T(test_credential_process_timeout),
        T(test_assume_role_source_profile),
        T(test_assume_role_session_source),
        T(test_assume_role_errors),
        T(test_assume_role_credential_source_env),
        T(test_profile_web_identity),
        T(test_container_ok),
        T(test_container_token_file_wins),
        T(test_container_errors),
        T(test_container_slow_and_dropped),
        T(test_container_full_uri_rejected),
        T(test_imds_ok),
        T(test_imds_v1_fallback_and_errors),
        T(test_imds_bad_credentials_json),
        T(test_chain_order),
        T(test_web_identity_before_profile),
        T(test_refresh_before_expiry),
        T(test_refresh_margin_injectable),
        T(test_failed_refresh_keeps_cache),
        T(test_recovers_after_expiry),
        T(test_errstr_never_has_secrets),
        T(test_region_resolve),
        T(test_ini_parse),
        T(test_stub_queue_and_records),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
