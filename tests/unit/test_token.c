/*
 * test_token.c - DSQL auth tokens and the token cache.
 *
 * Tokens are checked byte for byte against tests/fixtures/
 * dsql_token_vectors.json (AWS's @aws-sdk/dsql-signer with a fixed clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "auth/sigv4.h"
#include "auth/token.h"

#define HOST "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"
#define T0 ((time_t)1766145600) /* 2025-12-19T12:00:00Z, vector pub01 */

static json_t *load_fixture(const char *name)
{
    const char *dir = getenv("CDC_FIXTURES");
    char path[1024];
    json_error_t jerr;

    if (!dir)
        fail_msg("CDC_FIXTURES is not set (run through ctest)");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    return root;
}

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("fixture field %s is not a string", key);
    return json_string_value(v);
}

static const char *jstr_or_null(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : jstr(obj, key);
}

/* Credentials of a vector; the strings belong to the JSON document. */
static cdc_aws_creds_t vector_creds(const json_t *v)
{
    cdc_aws_creds_t c;
    memset(&c, 0, sizeof c);
    c.access_key_id = (char *)jstr(v, "access_key_id");
    c.secret_access_key = (char *)jstr(v, "secret_access_key");
    c.session_token = (char *)jstr_or_null(v, "session_token");
    snprintf(c.source, sizeof c.source, "test");
    return c;
}

static void test_token_vectors(void **state)
{
    json_t *root = load_fixture("dsql_token_vectors.json");
    json_t *vectors = json_object_get(root, "vectors");
    size_t i;
    json_t *v;

    assert_int_equal(json_integer_value(json_object_get(root, "default_expires_in_secs")),
                     CDC_DSQL_TOKEN_DEFAULT_EXPIRES);
    assert_true(json_array_size(vectors) >= 12);
    json_array_foreach(vectors, i, v) {
        const char *name = jstr(v, "name");
        const char *action = jstr(v, "action");
        bool admin = strcmp(action, "DbConnectAdmin") == 0;
        bool is_default = json_is_true(json_object_get(v, "expires_in_is_default"));
        int expires = (int)json_integer_value(json_object_get(v, "expires_in_secs"));
        time_t t = (time_t)json_integer_value(json_object_get(v, "signing_time_epoch"));
        cdc_aws_creds_t creds = vector_creds(v);
        cdc_buf_t out;
        char errstr[256] = "";
        char amz[17];

        print_message("vector %s\n", name);
        assert_true(admin || strcmp(action, "DbConnect") == 0);
        cdc_sigv4_amz_date(t, amz);
        assert_string_equal(amz, jstr(v, "signing_time_amz"));

        cdc_buf_init(&out);
        cdc_err_t err = cdc_dsql_token_generate(jstr(v, "hostname"), jstr(v, "region"), admin,
                                                is_default ? 0 : expires, &creds, t, &out,
                                                errstr, sizeof errstr);
        if (err != CDC_OK)
            fail_msg("%s: %s", name, errstr);
        assert_string_equal(cdc_buf_str(&out), jstr(v, "token"));

        /* An explicit expiry equal to the default gives the same token. */
        if (is_default) {
            assert_int_equal(cdc_dsql_token_generate(jstr(v, "hostname"), jstr(v, "region"),
                                                     admin, expires, &creds, t, &out,
                                                     errstr, sizeof errstr),
                             CDC_OK);
            assert_string_equal(cdc_buf_str(&out), jstr(v, "token"));
        }
        cdc_buf_wipe(&out);
    }
    json_decref(root);
}

/* The third line of a canonical request is its canonical query. */
static void assert_canonical_query(const char *creq, const char *want)
{
    const char *l2 = strchr(creq, '\n');
    assert_non_null(l2);
    const char *l3 = strchr(l2 + 1, '\n');
    assert_non_null(l3);
    l3++;
    const char *end = strchr(l3, '\n');
    assert_non_null(end);
    assert_int_equal((size_t)(end - l3), strlen(want));
    assert_memory_equal(l3, want, strlen(want));
}

static void test_token_intermediates(void **state)
{
    json_t *root = load_fixture("dsql_token_vectors.json");
    json_t *vectors = json_object_get(root, "vectors");
    size_t i, checked = 0;
    json_t *v;

    json_array_foreach(vectors, i, v) {
        if (!json_object_get(v, "canonical_request"))
            continue;
        cdc_aws_creds_t creds = vector_creds(v);
        const cdc_sigv4_params_t p = {
            .access_key_id = creds.access_key_id,
            .secret_access_key = creds.secret_access_key,
            .session_token = creds.session_token,
            .region = jstr(v, "region"),
            .service = "dsql",
            .signing_time = (time_t)json_integer_value(json_object_get(v, "signing_time_epoch")),
        };
        const cdc_sigv4_pair_t action = {"Action", jstr(v, "action")};
        cdc_sigv4_debug_t dbg;
        cdc_buf_t out;
        char errstr[256] = "";

        print_message("intermediates of %s\n", jstr(v, "name"));
        cdc_buf_init(&out);
        cdc_buf_init(&dbg.canonical_request);
        cdc_buf_init(&dbg.string_to_sign);
        assert_int_equal(cdc_sigv4_presign(&p, "GET", jstr(v, "hostname"), "/", &action, 1,
                                           (int)json_integer_value(json_object_get(v, "expires_in_secs")),
                                           &out, &dbg, errstr, sizeof errstr),
                         CDC_OK);
        assert_string_equal(cdc_buf_str(&dbg.canonical_request), jstr(v, "canonical_request"));
        assert_canonical_query(cdc_buf_str(&dbg.canonical_request), jstr(v, "canonical_query"));
        assert_string_equal(cdc_buf_str(&dbg.string_to_sign), jstr(v, "string_to_sign"));
        assert_string_equal(dbg.signature, jstr(v, "signature"));
        assert_string_equal(cdc_buf_str(&out), jstr(v, "token"));
        assert_non_null(strstr(cdc_buf_str(&dbg.string_to_sign), jstr(v, "credential_scope")));
        cdc_buf_free(&dbg.canonical_request);
        cdc_buf_free(&dbg.string_to_sign);
        cdc_buf_wipe(&out);
        checked++;
    }
    assert_true(checked >= 4);
    json_decref(root);
}

static cdc_aws_creds_t example_creds(void)
{
    cdc_aws_creds_t c;
    memset(&c, 0, sizeof c);
    c.access_key_id = "AKIDEXAMPLE";
    c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    snprintf(c.source, sizeof c.source, "environment");
    return c;
}

static cdc_err_t gen(const char *host, const char *region, int expires,
                     const cdc_aws_creds_t *c, char *errstr, size_t n)
{
    cdc_buf_t out;
    cdc_buf_init(&out);
    cdc_buf_puts(&out, "stale");
    cdc_err_t err = cdc_dsql_token_generate(host, region, true, expires, c, T0, &out,
                                            errstr, n);
    if (err != CDC_OK)
        assert_string_equal(cdc_buf_str(&out), "");
    cdc_buf_wipe(&out);
    return err;
}

static void test_expiry_bounds(void **state)
{
    cdc_aws_creds_t c = example_creds();
    char errstr[256];
    cdc_buf_t out;

    assert_int_equal(gen(HOST, "us-east-1", -1, &c, errstr, sizeof errstr),
                     CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "expiry -1 s is out of range"));
    assert_non_null(strstr(errstr, "1..604800"));
    assert_int_equal(gen(HOST, "us-east-1", 604801, &c, errstr, sizeof errstr),
                     CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "expiry 604801 s is out of range"));
    assert_int_equal(gen(HOST, "us-east-1", 604800, &c, errstr, sizeof errstr), CDC_OK);

    cdc_buf_init(&out);
    assert_int_equal(cdc_dsql_token_generate(HOST, "us-east-1", false, 1, &c, T0, &out,
                                             errstr, sizeof errstr),
                     CDC_OK);
    assert_non_null(strstr(cdc_buf_str(&out), "&X-Amz-Expires=1&"));
    const char *prefix = HOST "/?Action=DbConnect&X-Amz-Algorithm=";
    assert_int_equal(strncmp(cdc_buf_str(&out), prefix, strlen(prefix)), 0);
    cdc_buf_wipe(&out);
}

static void test_missing_inputs(void **state)
{
    cdc_aws_creds_t c = example_creds();
    char errstr[256];

    assert_int_equal(gen("", "us-east-1", 0, &c, errstr, sizeof errstr), CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "no hostname"));
    assert_int_equal(gen(NULL, "us-east-1", 0, &c, errstr, sizeof errstr), CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "no hostname"));
    assert_int_equal(gen(HOST, "", 0, &c, errstr, sizeof errstr), CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "no AWS region"));
    assert_int_equal(gen(HOST, NULL, 0, &c, errstr, sizeof errstr), CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "no AWS region"));
    assert_int_equal(gen(HOST, "us-east-1", 0, NULL, errstr, sizeof errstr),
                     CDC_ERR_CREDENTIALS);
    assert_non_null(strstr(errstr, "no AWS credentials"));

    cdc_aws_creds_t bad = c;
    bad.access_key_id = "";
    assert_int_equal(gen(HOST, "us-east-1", 0, &bad, errstr, sizeof errstr),
                     CDC_ERR_CREDENTIALS);
    assert_string_equal(errstr, "cannot generate DSQL auth token for " HOST
                                ": AWS credentials from environment have no access key id");
    bad = c;
    bad.secret_access_key = NULL;
    assert_int_equal(gen(HOST, "us-east-1", 0, &bad, errstr, sizeof errstr),
                     CDC_ERR_CREDENTIALS);
    assert_string_equal(errstr, "cannot generate DSQL auth token for " HOST
                                ": AWS credentials from environment (key AKIDEXAMPLE) "
                                "have no secret access key");

    assert_int_equal(gen("https://" HOST, "us-east-1", 0, &c, errstr, sizeof errstr),
                     CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "scheme"));
    assert_int_equal(gen(HOST ":5432", "us-east-1", 0, &c, errstr, sizeof errstr),
                     CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "port"));
    assert_int_equal(gen(HOST "/postgres", "us-east-1", 0, &c, errstr, sizeof errstr),
                     CDC_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "path"));
}

/* What the cache must hand out at time t: a freshly generated token. */
static void assert_token_at(const char *token, const char *host, bool admin,
                            const cdc_aws_creds_t *c, time_t t)
{
    cdc_buf_t want;
    char errstr[256];

    cdc_buf_init(&want);
    assert_int_equal(cdc_dsql_token_generate(host, "us-east-1", admin, 0, c, t, &want,
                                             errstr, sizeof errstr),
                     CDC_OK);
    assert_non_null(token);
    assert_string_equal(token, cdc_buf_str(&want));
    cdc_buf_wipe(&want);
}

static void test_cache_refresh_age(void **state)
{
    cdc_aws_creds_t c = example_creds();
    char errstr[256];
    const char *tok = NULL;

    cdc_dsql_token_cache_t *cache = cdc_dsql_token_cache_new(0, 0, errstr, sizeof errstr);
    assert_non_null(cache);

    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0, &tok,
                                              errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, true, &c, T0);

    /* Younger than 13 minutes: the same token. */
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 779,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, true, &c, T0);

    /* 13 minutes old: regenerated, and the new one is then reused. */
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 780,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, true, &c, T0 + 780);
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 1000,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, true, &c, T0 + 780);

    /* A clock that went backwards never gets a token from its future. */
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 700,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, true, &c, T0 + 700);

    /* Clearing forgets it. */
    cdc_dsql_token_cache_clear(cache);
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 701,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, true, &c, T0 + 701);
    cdc_dsql_token_cache_destroy(cache);
}

static void test_cache_credentials_change(void **state)
{
    cdc_aws_creds_t c = example_creds();
    char errstr[256];
    const char *tok = NULL;
    char session1[] = "session/token+one==";
    char session2[] = "session/token+two==";

    cdc_dsql_token_cache_t *cache = cdc_dsql_token_cache_new(0, 0, errstr, sizeof errstr);
    assert_non_null(cache);
    c.session_token = session1;
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", false, &c, T0, &tok,
                                              errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, false, &c, T0);

    /* Same values in other memory: still cached. */
    char copy[sizeof session1];
    memcpy(copy, session1, sizeof copy);
    c.session_token = copy;
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", false, &c, T0 + 10,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, false, &c, T0);

    /* New session token (the chain refreshed temporary credentials). */
    c.session_token = session2;
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", false, &c, T0 + 20,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, false, &c, T0 + 20);
    assert_non_null(strstr(tok, "X-Amz-Security-Token=session%2Ftoken%2Btwo%3D%3D&"));

    /* Session token gone. */
    c.session_token = NULL;
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", false, &c, T0 + 30,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, false, &c, T0 + 30);
    assert_null(strstr(tok, "X-Amz-Security-Token"));

    /* New access key id. */
    c.access_key_id = "AKIDOTHER";
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", false, &c, T0 + 40,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, false, &c, T0 + 40);
    assert_non_null(strstr(tok, "X-Amz-Credential=AKIDOTHER%2F"));

    /* Failure hands out nothing. */
    c.secret_access_key = "";
    tok = "sentinel";
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", false, &c, T0 + 50,
                                              &tok, errstr, sizeof errstr),
                     CDC_ERR_CREDENTIALS);
    assert_null(tok);
    cdc_dsql_token_cache_destroy(cache);
}

static void test_cache_keys(void **state)
{
    cdc_aws_creds_t c = example_creds();
    char errstr[256];
    const char *tok = NULL;
    const char *host2 = "zyxwvutsrqponmlkjihgfedcba.dsql.us-east-1.on.aws";

    cdc_dsql_token_cache_t *cache = cdc_dsql_token_cache_new(0, 0, errstr, sizeof errstr);
    assert_non_null(cache);

    /* Each (hostname, action) has its own token and age. */
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0, &tok,
                                              errstr, sizeof errstr),
                     CDC_OK);
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", false, &c, T0 + 100,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, false, &c, T0 + 100);
    assert_int_equal(cdc_dsql_token_cache_get(cache, host2, "us-east-1", true, &c, T0 + 200,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, host2, true, &c, T0 + 200);

    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 300,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, true, &c, T0);
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", false, &c, T0 + 300,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_token_at(tok, HOST, false, &c, T0 + 100);

    /* A different region regenerates. */
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-west-2", false, &c, T0 + 400,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_non_null(strstr(tok, "%2Fus-west-2%2Fdsql%2Faws4_request"));
    assert_non_null(strstr(tok, "X-Amz-Date=20251219T120640Z"));
    cdc_dsql_token_cache_destroy(cache);
}

static void test_cache_config(void **state)
{
    cdc_aws_creds_t c = example_creds();
    char errstr[256];
    const char *tok = NULL;
    cdc_buf_t want;

    assert_null(cdc_dsql_token_cache_new(900, 900, errstr, sizeof errstr));
    assert_string_equal(errstr, "DSQL auth token refresh age 900 s must be 1..899 s, "
                                "below the token expiry of 900 s");
    assert_null(cdc_dsql_token_cache_new(600, 700, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "refresh age 700 s"));
    assert_null(cdc_dsql_token_cache_new(0, -5, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "refresh age -5 s"));
    assert_null(cdc_dsql_token_cache_new(604801, 0, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "expiry 604801 s is out of range"));
    cdc_dsql_token_cache_destroy(NULL);

    /* Explicit refresh age and expiry; the tokens carry that expiry. */
    cdc_dsql_token_cache_t *cache = cdc_dsql_token_cache_new(3600, 60, errstr, sizeof errstr);
    assert_non_null(cache);
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0, &tok,
                                              errstr, sizeof errstr),
                     CDC_OK);
    assert_non_null(strstr(tok, "&X-Amz-Expires=3600&"));
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 59,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_non_null(strstr(tok, "X-Amz-Date=20251219T120000Z"));
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 60,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    cdc_buf_init(&want);
    assert_int_equal(cdc_dsql_token_generate(HOST, "us-east-1", true, 3600, &c, T0 + 60,
                                             &want, errstr, sizeof errstr),
                     CDC_OK);
    assert_string_equal(tok, cdc_buf_str(&want));
    cdc_buf_wipe(&want);
    cdc_dsql_token_cache_destroy(cache);

    /* A short expiry scales the default refresh age down (13/15 of 300). */
    cache = cdc_dsql_token_cache_new(300, 0, errstr, sizeof errstr);
    assert_non_null(cache);
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0, &tok,
                                              errstr, sizeof errstr),
                     CDC_OK);
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 259,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_non_null(strstr(tok, "X-Amz-Date=20251219T120000Z"));
    assert_int_equal(cdc_dsql_token_cache_get(cache, HOST, "us-east-1", true, &c, T0 + 260,
                                              &tok, errstr, sizeof errstr),
                     CDC_OK);
    assert_non_null(strstr(tok, "X-Amz-Date=20251219T120420Z"));
    cdc_dsql_token_cache_destroy(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_vectors),
        cmocka_unit_test(test_token_intermediates),
        cmocka_unit_test(test_expiry_bounds),
        cmocka_unit_test(test_missing_inputs),
        cmocka_unit_test(test_cache_refresh_age),
        cmocka_unit_test(test_cache_credentials_change),
        cmocka_unit_test(test_cache_keys),
        cmocka_unit_test(test_cache_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
