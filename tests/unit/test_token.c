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
#include "vectors.h"

#define HOST "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"
#define T0 ((time_t)1766145600) /* 2025-12-19T12:00:00Z, vector pub01 */

/* Credentials of a vector; the strings belong to the JSON document. */
static cdc_aws_creds_t vector_creds(const json_t *v)
{
    cdc_aws_creds_t c;
    memset(&c, 0, sizeof c);
    c.access_key_id = (char *)cdc_vectors_str(v, "access_key_id");
    c.secret_access_key = (char *)cdc_vectors_str(v, "secret_access_key");
    c.session_token = (char *)cdc_vectors_str_or_null(v, "session_token");
    snprintf(c.source, sizeof c.source, "test");
    return c;
}

static void test_token_vectors(void **state)
{
    json_t *root = cdc_vectors_load("dsql_token_vectors.json");
    json_t *vectors = json_object_get(root, "vectors");
    size_t i;
    json_t *v;

    assert_int_equal(json_integer_value(json_object_get(root, "default_expires_in_secs")),
                     CDC_DSQL_TOKEN_DEFAULT_EXPIRES);
    assert_true(json_array_size(vectors) >= 12);
    json_array_foreach(vectors, i, v) {
        const char *name = cdc_vectors_str(v, "name");
        const char *action = cdc_vectors_str(v, "action");
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
        assert_string_equal(amz, cdc_vectors_str(v, "signing_time_amz"));

        cdc_buf_init(&out);
        cdc_err_t err = cdc_dsql_token_generate(cdc_vectors_str(v, "hostname"), cdc_vectors_str(v, "region"), admin,
                                                is_default ? 0 : expires, &creds, t, &out,
                                                errstr, sizeof errstr);
        if (err != CDC_OK)
            fail_msg("%s: %s", name, errstr);
        assert_string_equal(cdc_buf_str(&out), cdc_vectors_str(v, "token"));

        /* An explicit expiry equal to the default gives the same token. */
        if (is_default) {
            assert_int_equal(cdc_dsql_token_generate(cdc_vectors_str(v, "hostname"), cdc_vectors_str(v, "region"),
                                                     admin, expires, &creds, t, &out,
                                                     errstr, sizeof errstr),
                             CDC_OK);
            assert_string_equal(cdc_buf_str(&out), cdc_vectors_str(v, "token"));
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
    json_t *root = cdc_vectors_load("dsql_token_vectors.json");
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
            .region = cdc_vectors_str(v, "region"),
            .service = "dsql",
            .signing_time = (time_t)json_integer_value(json_object_get(v, "signing_time_epoch")),
        };
        const cdc_sigv4_pair_t action = {"Action", cdc_vectors_str(v, "action")};
        cdc_sigv4_debug_t dbg;
        cdc_buf_t out;
        char errstr[256] = "";

        print_message("intermediates of %s\n", cdc_vectors_str(v, "name"));
        cdc_buf_init(&out);
        cdc_buf_init(&dbg.canonical_request);
        cdc_buf_init(&dbg.string_to_sign);
        assert_int_equal(cdc_sigv4_presign(&p, "GET", cdc_vectors_str(v, "hostname"), "/", &action, 1,
                                           (int)json_integer_value(json_object_get(v, "expires_in_secs")),
                                           &out, &dbg, errstr, sizeof errstr),
                         CDC_OK);
        assert_string_equal(cdc_buf_str(&dbg.canonical_request), cdc_vectors_str(v, "canonical_request"));
        assert_canonical_query(cdc_buf_str(&dbg.canonical_request), cdc_vectors_str(v, "canonical_query"));
        assert_string_equal(cdc_buf_str(&dbg.string_to_sign), cdc_vectors_str(v, "string_to_sign"));
        assert_string_equal(dbg.signature, cdc_vectors_str(v, "signature"));
        assert_string_equal(cdc_buf_str(&out), cdc_vectors_str(v, "token"));
        assert_non_null(strstr(cdc_buf_str(&dbg.string_to_sign), cdc_vectors_str(v, "credential_scope")));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_vectors),
        cmocka_unit_test(test_token_intermediates),
        cmocka_unit_test(test_expiry_bounds),
        cmocka_unit_test(test_missing_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
