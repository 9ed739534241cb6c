/*
 * test_kinesis.c - the Kinesis client, against a real kinesalite and a
 * scripted HTTP stub.
 *
 * Part one (always runs): tests/support/http_stub answers with canned
 * Kinesis errors and odd answers; asserts the exact error kinds and
 * messages, the request shape and signature, paging, ChildShards, the
 * sequence-number order and the pacer.
 * Part two: kinesalite (node tests/kinesis/start.js, installed by `npm ci`
 * in tests/kinesis) on 127.0.0.1: create streams, put known payloads with
 * random partition keys, read them back through every iterator type, split
 * a shard and follow its lineage. When node or the npm packages are absent
 * part two is skipped (exit 77, after part one passed) and says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "auth/sigv4.h"
#include "common/log.h"
#include "http_stub.h"
#include "source/kinesis.h"
#include "source/shards.h"

#define AKID "AKIDKINESISTEST"
#define SECRET "kinesisSecretKeyThatMustNeverBeLogged"
#define TOKEN "kinesisSessionTokenThatMustNeverBeLogged"
#define STREAM "orders-cdc"
#define ARN "arn:aws:kinesis:us-east-1:123456789012:stream/orders-cdc"
#define HASH_MAX "340282366920938463463374607431768211455" /* 2^128 - 1 */
#define HASH_HALF "170141183460469231731687303715884105728" /* 2^127 */
#define HASH_HALF_1 "170141183460469231731687303715884105727"

/* ---- shared helpers ---- */

static cdc_aws_creds_t test_creds = {
    .access_key_id = AKID,
    .secret_access_key = SECRET,
    .session_token = TOKEN,
    .source = "test",
};

static cdc_err_t creds_static(void *ud, const cdc_aws_creds_t **out,
                              char *errstr, size_t errstr_size)
{
    *out = &test_creds;
    return CDC_OK;
}

static cdc_err_t creds_none(void *ud, const cdc_aws_creds_t **out,
                            char *errstr, size_t errstr_size)
{
    return cdc_err_set(errstr, errstr_size, CDC_ERR_CREDENTIALS,
                       "environment: AWS_ACCESS_KEY_ID not set");
}

static cdc_kinesis_t *client_new(const char *url, const char *name,
                                 const char *arn, long timeout_ms)
{
    char errstr[256] = "";
    cdc_kinesis_opts_t o = {
        .region = "us-east-1",
        .stream_name = name,
        .stream_arn = arn,
        .endpoint_url = url,
        .creds = creds_static,
        .connect_timeout_ms = 2000,
        .timeout_ms = timeout_ms ? timeout_ms : 10000,
    };
    cdc_kinesis_t *k = cdc_kinesis_new(&o, errstr, sizeof errstr);
    if (!k)
        fail_msg("cdc_kinesis_new: %s", errstr);
    return k;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep until a monotonic deadline (the pacer's, never a fixed guess). */
static void wait_until(int64_t at_ms)
{
    int64_t now;
    while ((now = cdc_kinesis_now_ms()) < at_ms) {
        struct timespec ts = {(at_ms - now) / 1000,
                              ((at_ms - now) % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static char *b64_encode(const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1), *w = o;
    assert_non_null(o);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *w++ = tab[(v >> 18) & 63];
        *w++ = tab[(v >> 12) & 63];
        *w++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *w = '\0';
    return o;
}

/* ==== part one: scripted answers ==== */

static cdc_http_stub_t *stub;

static int stub_setup(void **state)
{
    stub = cdc_http_stub_start();
    return stub ? 0 : -1;
}

static int stub_teardown(void **state)
{
    cdc_http_stub_stop(stub);
    stub = NULL;
    return 0;
}

static int stub_reset(void **state)
{
    cdc_http_stub_reset(stub);
    return 0;
}

static void reply_error(int status, const char *body, const char *headers)
{
    cdc_http_stub_resp_t r = {
        .status = status,
        .content_type = "application/x-amz-json-1.1",
        .body = body,
        .headers = headers,
    };
    cdc_http_stub_on(stub, "POST", "/", &r);
}

static void reply_ok(const char *body)
{
    cdc_http_stub_reply(stub, "POST", "/", 200,
                        "application/x-amz-json-1.1", body);
}

static void expect_error(const cdc_kinesis_t *k, cdc_err_t got,
                         cdc_err_t want, cdc_kinesis_error_kind_t kind,
                         const char *errstr, const char *want_msg)
{
    const cdc_kinesis_error_t *e = cdc_kinesis_last_error(k);
    if (got != want)
        fail_msg("returned %s, want %s (%s)", cdc_err_name(got),
                 cdc_err_name(want), errstr);
    assert_string_equal(cdc_kinesis_error_kind_name(e->kind),
                        cdc_kinesis_error_kind_name(kind));
    assert_int_equal(e->err, want);
    assert_string_equal(errstr, want_msg);
}

static void test_request_shape_and_signature(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    cdc_kinesis_stream_summary_t sum;
    const cdc_http_stub_req_t *r;
    char errstr[512] = "", host[64], amz_date_check[17];
    const char *amz_date, *auth;
    struct tm tm;
    cdc_buf_t want_auth;

    reply_ok("{\"StreamDescriptionSummary\":{\"StreamName\":\"orders-cdc\","
             "\"StreamARN\":\"" ARN "\",\"StreamStatus\":\"ACTIVE\","
             "\"StreamModeDetails\":{\"StreamMode\":\"ON_DEMAND\"},"
             "\"RetentionPeriodHours\":24,\"OpenShardCount\":4}}");
    assert_int_equal(cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                         sizeof errstr),
                     CDC_OK);
    assert_string_equal(sum.stream_status, "ACTIVE");
    assert_string_equal(sum.stream_arn, ARN);
    assert_string_equal(sum.stream_mode, "ON_DEMAND");
    assert_int_equal(sum.open_shard_count, 4);
    assert_int_equal(sum.retention_hours, 24);
    cdc_kinesis_stream_summary_clear(&sum);
    assert_int_equal(cdc_kinesis_last_error(k)->kind, CDC_KIN_OK);

    r = cdc_http_stub_last(stub, "POST", "/");
    assert_non_null(r);
    assert_string_equal(r->body, "{\"StreamName\":\"orders-cdc\"}");
    assert_string_equal(cdc_http_stub_req_header(r, "Content-Type"),
                        "application/x-amz-json-1.1");
    assert_string_equal(cdc_http_stub_req_header(r, "X-Amz-Target"),
                        "Kinesis_20131202.DescribeStreamSummary");
    snprintf(host, sizeof host, "127.0.0.1:%u", cdc_http_stub_port(stub));
    assert_string_equal(cdc_http_stub_req_header(r, "Host"), host);
    assert_string_equal(cdc_http_stub_req_header(r, "X-Amz-Security-Token"),
                        TOKEN);
    amz_date = cdc_http_stub_req_header(r, "X-Amz-Date");
    auth = cdc_http_stub_req_header(r, "Authorization");
    assert_non_null(amz_date);
    assert_non_null(auth);

    /* Recompute the signature from what was sent: it must match exactly. */
    memset(&tm, 0, sizeof tm);
    assert_non_null(strptime(amz_date, "%Y%m%dT%H%M%SZ", &tm));
    {
        cdc_sigv4_params_t sp = {
            .access_key_id = AKID,
            .secret_access_key = SECRET,
            .session_token = TOKEN,
            .region = "us-east-1",
            .service = "kinesis",
            .signing_time = timegm(&tm),
        };
        const cdc_sigv4_pair_t h[] = {
            {"host", host},
            {"content-type", "application/x-amz-json-1.1"},
            {"x-amz-target", "Kinesis_20131202.DescribeStreamSummary"},
        };
        cdc_buf_init(&want_auth);
        assert_int_equal(cdc_sigv4_sign_headers(&sp, "POST", "/", "", h, 3,
                                                r->body, r->body_len,
                                                amz_date_check, &want_auth,
                                                NULL, errstr, sizeof errstr),
                         CDC_OK);
        assert_string_equal(amz_date_check, amz_date);
        assert_string_equal(auth, cdc_buf_str(&want_auth));
        cdc_buf_free(&want_auth);
    }
    assert_true(strncmp(auth, "AWS4-HMAC-SHA256 Credential=" AKID "/",
                        strlen("AWS4-HMAC-SHA256 Credential=" AKID "/")) == 0);
    assert_non_null(strstr(auth, "/us-east-1/kinesis/aws4_request, "
                                 "SignedHeaders=content-type;host;"
                                 "x-amz-date;x-amz-security-token;"
                                 "x-amz-target, Signature="));
    cdc_kinesis_destroy(k);
}

static void test_list_shards_paging_by_arn(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, ARN, 0);
    cdc_kinesis_shard_list_t l = {0};
    char errstr[512] = "";

    reply_ok("{\"Shards\":[{\"ShardId\":\"shardId-000000000000\","
             "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\""
             HASH_HALF_1 "\"},\"SequenceNumberRange\":{"
             "\"StartingSequenceNumber\":\"4959\",\"EndingSequenceNumber\":"
             "\"4960\"}}],\"NextToken\":\"page-2\"}");
    reply_ok("{\"Shards\":[{\"ShardId\":\"shardId-000000000002\","
             "\"ParentShardId\":\"shardId-000000000000\","
             "\"AdjacentParentShardId\":\"shardId-000000000001\","
             "\"HashKeyRange\":{\"StartingHashKey\":\"" HASH_HALF "\","
             "\"EndingHashKey\":\"" HASH_MAX "\"},\"SequenceNumberRange\":{"
             "\"StartingSequenceNumber\":\"4961\"}}]}");
    assert_int_equal(cdc_kinesis_list_shards(k, NULL, &l, errstr,
                                             sizeof errstr),
                     CDC_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].shard_id, "shardId-000000000000");
    assert_null(l.v[0].parent_shard_id);
    assert_string_equal(l.v[0].ending_hash_key, HASH_HALF_1);
    assert_string_equal(l.v[0].ending_sequence_number, "4960");
    assert_string_equal(l.v[1].shard_id, "shardId-000000000002");
    assert_string_equal(l.v[1].parent_shard_id, "shardId-000000000000");
    assert_string_equal(l.v[1].adjacent_parent_shard_id,
                        "shardId-000000000001");
    assert_string_equal(l.v[1].starting_hash_key, HASH_HALF);
    assert_string_equal(l.v[1].ending_hash_key, HASH_MAX);
    assert_string_equal(l.v[1].starting_sequence_number, "4961");
    assert_null(l.v[1].ending_sequence_number);

    /* The first page names the stream by ARN, the next only the token. */
    assert_int_equal(cdc_http_stub_nrequests(stub), 2);
    assert_string_equal(cdc_http_stub_request(stub, 0)->body,
                        "{\"StreamARN\":\"" ARN "\",\"MaxResults\":1000}");
    assert_string_equal(cdc_http_stub_request(stub, 1)->body,
                        "{\"NextToken\":\"page-2\",\"MaxResults\":1000}");
    cdc_kinesis_shard_list_clear(&l);

    /* ExclusiveStartShardId goes with the stream on the first page. */
    cdc_http_stub_reset(stub);
    reply_ok("{\"Shards\":[]}");
    assert_int_equal(cdc_kinesis_list_shards(k, "shardId-000000000001", &l,
                                             errstr, sizeof errstr),
                     CDC_OK);
    assert_int_equal(l.n, 0);
    assert_string_equal(cdc_http_stub_request(stub, 0)->body,
                        "{\"StreamARN\":\"" ARN "\",\"ExclusiveStartShardId\":"
                        "\"shardId-000000000001\",\"MaxResults\":1000}");
    cdc_kinesis_destroy(k);
}

static void test_get_records_answer(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    cdc_kinesis_records_t rr;
    char errstr[512] = "";

    /* "AP8Q" = 00 ff 10; "aGk=" = "hi"; "" = empty. */
    reply_ok("{\"Records\":["
             "{\"SequenceNumber\":\"49590338271490256608559692538361571095921575989136588898\","
             "\"ApproximateArrivalTimestamp\":1700000000.123,"
             "\"Data\":\"AP8Q\",\"PartitionKey\":\"k1\"},"
             "{\"SequenceNumber\":\"49590338271490256608559692538361571095921575989136588899\","
             "\"ApproximateArrivalTimestamp\":1700000001,"
             "\"Data\":\"aGk=\",\"PartitionKey\":\"k2\",\"EncryptionType\":\"NONE\"},"
             "{\"SequenceNumber\":\"49590338271490256608559692538361571095921575989136588900\","
             "\"Data\":\"\",\"PartitionKey\":\"k3\"}],"
             "\"NextShardIterator\":null,\"MillisBehindLatest\":0,"
             "\"ChildShards\":[{\"ShardId\":\"shardId-000000000003\","
             "\"ParentShards\":[\"shardId-000000000001\"],"
             "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\""
             HASH_HALF_1 "\"}},{\"ShardId\":\"shardId-000000000004\","
             "\"ParentShards\":[\"shardId-000000000001\"],"
             "\"HashKeyRange\":{\"StartingHashKey\":\"" HASH_HALF "\","
             "\"EndingHashKey\":\"" HASH_MAX "\"}}]}");
    cdc_kinesis_records_init(&rr);
    assert_int_equal(cdc_kinesis_get_records(k, "AAAAiterator", 100,
                                             "shardId-000000000001", &rr,
                                             errstr, sizeof errstr),
                     CDC_OK);
    assert_string_equal(cdc_http_stub_last(stub, "POST", "/")->body,
                        "{\"ShardIterator\":\"AAAAiterator\",\"Limit\":100}");
    assert_int_equal(rr.nrecords, 3);
    assert_string_equal(rr.records[0].sequence_number,
                        "49590338271490256608559692538361571095921575989136588898");
    assert_int_equal(rr.records[0].arrival_ms, 1700000000123LL);
    assert_int_equal(rr.records[0].data_len, 3);
    assert_memory_equal(rr.records[0].data, "\x00\xff\x10", 3);
    assert_string_equal(rr.records[0].partition_key, "k1");
    assert_int_equal(rr.records[1].arrival_ms, 1700000001000LL);
    assert_int_equal(rr.records[1].data_len, 2);
    assert_string_equal((const char *)rr.records[1].data, "hi");
    assert_int_equal(rr.records[2].data_len, 0);
    assert_int_equal(rr.records[2].arrival_ms, 0);
    assert_int_equal(rr.bytes, 5);
    assert_null(rr.next_iterator); /* closed and drained */
    assert_int_equal(rr.millis_behind_latest, 0);
    assert_int_equal(rr.nchild_shards, 2);
    assert_string_equal(rr.child_shards[0].shard_id, "shardId-000000000003");
    assert_int_equal(rr.child_shards[0].nparent_shards, 1);
    assert_string_equal(rr.child_shards[0].parent_shards[0],
                        "shardId-000000000001");
    assert_string_equal(rr.child_shards[1].starting_hash_key, HASH_HALF);
    assert_string_equal(rr.child_shards[1].ending_hash_key, HASH_MAX);

    /* An open shard: iterator present, no children; Limit 0 is omitted. */
    cdc_http_stub_reset(stub);
    reply_ok("{\"Records\":[],\"NextShardIterator\":\"AAAAnext\","
             "\"MillisBehindLatest\":86400000}");
    assert_int_equal(cdc_kinesis_get_records(k, "AAAAiterator", 0, NULL, &rr,
                                             errstr, sizeof errstr),
                     CDC_OK);
    assert_string_equal(cdc_http_stub_last(stub, "POST", "/")->body,
                        "{\"ShardIterator\":\"AAAAiterator\"}");
    assert_int_equal(rr.nrecords, 0);
    assert_string_equal(rr.next_iterator, "AAAAnext");
    assert_int_equal(rr.millis_behind_latest, 86400000);
    assert_int_equal(rr.nchild_shards, 0);
    cdc_kinesis_records_clear(&rr);
    cdc_kinesis_destroy(k);
}

static void test_iterator_requests(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    char errstr[512] = "", *it = NULL;
    cdc_kinesis_start_t at_ts = {.type = CDC_KIN_ITER_AT_TIMESTAMP,
                                 .timestamp_ms = 1700000000123LL};
    cdc_kinesis_start_t at_sec = {.type = CDC_KIN_ITER_AT_TIMESTAMP,
                                  .timestamp_ms = 1700000000000LL};
    cdc_kinesis_start_t after = {.type = CDC_KIN_ITER_AFTER_SEQUENCE_NUMBER,
                                 .sequence_number = "4959033827149025660855"};
    cdc_kinesis_start_t bad = {.type = CDC_KIN_ITER_AT_SEQUENCE_NUMBER,
                               .sequence_number = "12a"};

    reply_ok("{\"ShardIterator\":\"AAAAit\"}");
    assert_int_equal(cdc_kinesis_get_shard_iterator(k, "shardId-000000000001",
                                                    &at_ts, &it, errstr,
                                                    sizeof errstr),
                     CDC_OK);
    assert_string_equal(it, "AAAAit");
    free(it);
    /* Milliseconds travel exactly, not as 1700000000.1229999. */
    assert_string_equal(cdc_http_stub_last(stub, "POST", "/")->body,
                        "{\"StreamName\":\"orders-cdc\",\"ShardId\":"
                        "\"shardId-000000000001\",\"ShardIteratorType\":"
                        "\"AT_TIMESTAMP\",\"Timestamp\":1700000000.123}");
    assert_int_equal(cdc_kinesis_get_shard_iterator(k, "shardId-000000000001",
                                                    &at_sec, &it, errstr,
                                                    sizeof errstr),
                     CDC_OK);
    free(it);
    assert_string_equal(cdc_http_stub_last(stub, "POST", "/")->body,
                        "{\"StreamName\":\"orders-cdc\",\"ShardId\":"
                        "\"shardId-000000000001\",\"ShardIteratorType\":"
                        "\"AT_TIMESTAMP\",\"Timestamp\":1700000000}");
    assert_int_equal(cdc_kinesis_get_shard_iterator(k, "shardId-000000000001",
                                                    &after, &it, errstr,
                                                    sizeof errstr),
                     CDC_OK);
    free(it);
    assert_string_equal(cdc_http_stub_last(stub, "POST", "/")->body,
                        "{\"StreamName\":\"orders-cdc\",\"ShardId\":"
                        "\"shardId-000000000001\",\"ShardIteratorType\":"
                        "\"AFTER_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":"
                        "\"4959033827149025660855\"}");

    /* A bad sequence number never leaves the process. */
    expect_error(k,
                 cdc_kinesis_get_shard_iterator(k, "shardId-000000000001",
                                                &bad, &it, errstr,
                                                sizeof errstr),
                 CDC_ERR_INVALID_ARG, CDC_KIN_INVALID_ARGUMENT, errstr,
                 "GetShardIterator AT_SEQUENCE_NUMBER on shard "
                 "shardId-000000000001: \"12a\" is not a sequence number");
    assert_null(it);
    assert_int_equal(cdc_http_stub_nrequests(stub), 3);
    cdc_kinesis_destroy(k);
}

static void test_error_throttled(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    cdc_kinesis_records_t rr;
    char errstr[1024] = "", *it = (char *)"x";
    cdc_kinesis_start_t th = {.type = CDC_KIN_ITER_TRIM_HORIZON};
    const cdc_kinesis_error_t *e;

    cdc_kinesis_records_init(&rr);
    reply_error(400,
                "{\"__type\":\"ProvisionedThroughputExceededException\","
                "\"message\":\"Rate exceeded for shard shardId-000000000001 "
                "in stream orders-cdc under account 123456789012.\"}",
                "x-amzn-RequestId: c0ffee00-1111-2222-3333-444455556666");
    expect_error(k,
                 cdc_kinesis_get_records(k, "AAAA", 0, "shardId-000000000001",
                                         &rr, errstr, sizeof errstr),
                 CDC_ERR_HTTP, CDC_KIN_THROTTLED, errstr,
                 "Kinesis GetRecords on stream \"orders-cdc\" shard "
                 "shardId-000000000001 was throttled "
                 "(ProvisionedThroughputExceededException: Rate exceeded for "
                 "shard shardId-000000000001 in stream orders-cdc under "
                 "account 123456789012.); back off and retry");
    e = cdc_kinesis_last_error(k);
    assert_int_equal(e->http_status, 400);
    assert_string_equal(e->op, "GetRecords");
    assert_string_equal(e->aws_type, "ProvisionedThroughputExceededException");
    assert_string_equal(e->request_id, "c0ffee00-1111-2222-3333-444455556666");
    assert_true(cdc_err_retriable(e->err));
    assert_int_equal(rr.nrecords, 0);

    /* GetShardIterator's rate limit is LimitExceededException. */
    cdc_http_stub_reset(stub);
    reply_error(400,
                "{\"__type\":\"LimitExceededException\",\"message\":\"Rate "
                "exceeded for stream orders-cdc under account 123456789012.\"}",
                NULL);
    expect_error(k,
                 cdc_kinesis_get_shard_iterator(k, "shardId-000000000000",
                                                &th, &it, errstr,
                                                sizeof errstr),
                 CDC_ERR_HTTP, CDC_KIN_THROTTLED, errstr,
                 "Kinesis GetShardIterator on stream \"orders-cdc\" shard "
                 "shardId-000000000000 was throttled (LimitExceededException: "
                 "Rate exceeded for stream orders-cdc under account "
                 "123456789012.); back off and retry");
    assert_null(it);
    cdc_kinesis_destroy(k);
}

static void test_error_expired_iterator(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    cdc_kinesis_records_t rr;
    char errstr[1024] = "";

    cdc_kinesis_records_init(&rr);
    reply_error(400,
                "{\"__type\":\"ExpiredIteratorException\",\"message\":"
                "\"Iterator expired. The iterator was created at time Mon "
                "Nov 27 10:00:00 UTC 2023 while right now it is Mon Nov 27 "
                "10:06:00 UTC 2023 which is further in the future than the "
                "tolerated delay of 300000 milliseconds.\"}",
                NULL);
    expect_error(k,
                 cdc_kinesis_get_records(k, "AAAA", 1000,
                                         "shardId-000000000002", &rr, errstr,
                                         sizeof errstr),
                 CDC_ERR_HTTP, CDC_KIN_EXPIRED_ITERATOR, errstr,
                 "Kinesis GetRecords on stream \"orders-cdc\" shard "
                 "shardId-000000000002: the shard iterator expired "
                 "(ExpiredIteratorException: Iterator expired. The iterator "
                 "was created at time Mon Nov 27 10:00:00 UTC 2023 while "
                 "right now it is Mon Nov 27 10:06:00 UTC 2023 which is "
                 "further in the future than the tolerated delay of 300000 "
                 "milliseconds.); get a new one after the last sequence "
                 "number read");
    cdc_kinesis_destroy(k);
}

static void test_error_access_denied(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    cdc_kinesis_shard_list_t l = {0};
    cdc_kinesis_records_t rr;
    char errstr[1024] = "";

    cdc_kinesis_records_init(&rr);
    /* AWS sends the type with its namespace. */
    reply_error(400,
                "{\"__type\":\"com.amazon.coral.service#AccessDeniedException\","
                "\"Message\":\"User: arn:aws:iam::123456789012:user/cdc is not "
                "authorized to perform: kinesis:ListShards on resource: " ARN
                " because no identity-based policy allows the "
                "kinesis:ListShards action\"}",
                NULL);
    expect_error(k, cdc_kinesis_list_shards(k, NULL, &l, errstr, sizeof errstr),
                 CDC_ERR_CONFIG, CDC_KIN_ACCESS_DENIED, errstr,
                 "Kinesis ListShards on stream \"orders-cdc\" was denied "
                 "(AccessDeniedException: User: "
                 "arn:aws:iam::123456789012:user/cdc is not authorized to "
                 "perform: kinesis:ListShards on resource: " ARN " because no "
                 "identity-based policy allows the kinesis:ListShards "
                 "action); grant kinesis:ListShards on the stream to the "
                 "identity dsqlcdc runs as (reading needs "
                 "kinesis:DescribeStreamSummary, kinesis:ListShards, "
                 "kinesis:GetShardIterator and kinesis:GetRecords)");
    assert_false(cdc_err_retriable(cdc_kinesis_last_error(k)->err));
    assert_int_equal(l.n, 0);

    cdc_http_stub_reset(stub);
    reply_error(400, "{\"__type\":\"AccessDeniedException\"}", NULL);
    expect_error(k,
                 cdc_kinesis_get_records(k, "AAAA", 0, "shardId-000000000000",
                                         &rr, errstr, sizeof errstr),
                 CDC_ERR_CONFIG, CDC_KIN_ACCESS_DENIED, errstr,
                 "Kinesis GetRecords on stream \"orders-cdc\" shard "
                 "shardId-000000000000 was denied (AccessDeniedException); "
                 "grant kinesis:GetRecords on the stream to the identity "
                 "dsqlcdc runs as (reading needs "
                 "kinesis:DescribeStreamSummary, kinesis:ListShards, "
                 "kinesis:GetShardIterator and kinesis:GetRecords)");

    cdc_http_stub_reset(stub);
    reply_error(400,
                "{\"__type\":\"KMSAccessDeniedException\",\"message\":\"no "
                "kms:Decrypt\"}",
                NULL);
    expect_error(k,
                 cdc_kinesis_get_records(k, "AAAA", 0, "shardId-000000000000",
                                         &rr, errstr, sizeof errstr),
                 CDC_ERR_CONFIG, CDC_KIN_ACCESS_DENIED, errstr,
                 "Kinesis GetRecords on stream \"orders-cdc\" shard "
                 "shardId-000000000000 was denied by KMS "
                 "(KMSAccessDeniedException: no kms:Decrypt); grant "
                 "kms:Decrypt on the stream's key to the identity dsqlcdc "
                 "runs as");
    cdc_kinesis_destroy(k);
}

static void test_error_other_kinds(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    cdc_kinesis_stream_summary_t sum;
    char errstr[1024] = "";
    char url[128];

    reply_error(400,
                "{\"__type\":\"ResourceNotFoundException\",\"message\":"
                "\"Stream orders-cdc under account 123456789012 not found.\"}",
                NULL);
    snprintf(url, sizeof url, "%s", cdc_http_stub_url(stub));
    {
        char want[512];
        snprintf(want, sizeof want,
                 "Kinesis DescribeStreamSummary on stream \"orders-cdc\": not "
                 "found in region us-east-1 at %s (ResourceNotFoundException: "
                 "Stream orders-cdc under account 123456789012 not found.); "
                 "check the stream name or ARN and region", url);
        expect_error(k,
                     cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                         sizeof errstr),
                     CDC_ERR_NOT_FOUND, CDC_KIN_NOT_FOUND, errstr, want);
    }

    cdc_http_stub_reset(stub);
    reply_error(400,
                "{\"__type\":\"ExpiredTokenException\",\"message\":\"The "
                "security token included in the request is expired\"}",
                NULL);
    expect_error(k,
                 cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                     sizeof errstr),
                 CDC_ERR_AUTH, CDC_KIN_CREDENTIALS, errstr,
                 "Kinesis DescribeStreamSummary on stream \"orders-cdc\": the "
                 "credentials were rejected (ExpiredTokenException: The "
                 "security token included in the request is expired); check "
                 "that they are valid for region us-east-1 and not expired");

    cdc_http_stub_reset(stub);
    reply_error(500, "{\"__type\":\"InternalFailure\"}", NULL);
    expect_error(k,
                 cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                     sizeof errstr),
                 CDC_ERR_HTTP, CDC_KIN_SERVER, errstr,
                 "Kinesis DescribeStreamSummary on stream \"orders-cdc\": "
                 "service error, HTTP 500 (InternalFailure); back off and "
                 "retry");

    /* No JSON body: the type comes from x-amzn-ErrorType, or the status. */
    cdc_http_stub_reset(stub);
    reply_error(503, "<html>unavailable</html>",
                "x-amzn-ErrorType: ServiceUnavailableException:http://"
                "internal.amazon.com/coral/com.amazon.coral.service/");
    expect_error(k,
                 cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                     sizeof errstr),
                 CDC_ERR_HTTP, CDC_KIN_SERVER, errstr,
                 "Kinesis DescribeStreamSummary on stream \"orders-cdc\": "
                 "service error, HTTP 503 (ServiceUnavailableException); "
                 "back off and retry");
    cdc_http_stub_reset(stub);
    reply_error(429, NULL, NULL);
    expect_error(k,
                 cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                     sizeof errstr),
                 CDC_ERR_HTTP, CDC_KIN_THROTTLED, errstr,
                 "Kinesis DescribeStreamSummary on stream \"orders-cdc\" was "
                 "throttled (HTTP 429); back off and retry");
    cdc_http_stub_reset(stub);
    reply_error(418, "{\"__type\":\"TeapotException\"}", NULL);
    expect_error(k,
                 cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                     sizeof errstr),
                 CDC_ERR_HTTP, CDC_KIN_OTHER, errstr,
                 "Kinesis DescribeStreamSummary on stream \"orders-cdc\" "
                 "failed: HTTP 418 (TeapotException)");

    cdc_http_stub_reset(stub);
    reply_error(400,
                "{\"__type\":\"ResourceInUseException\",\"message\":\"Stream "
                "orders-cdc is UPDATING\"}",
                NULL);
    expect_error(k,
                 cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                     sizeof errstr),
                 CDC_ERR_HTTP, CDC_KIN_IN_USE, errstr,
                 "Kinesis DescribeStreamSummary on stream \"orders-cdc\": the "
                 "stream is busy being created, updated or deleted "
                 "(ResourceInUseException: Stream orders-cdc is UPDATING); "
                 "retry later");
    cdc_kinesis_destroy(k);
}

static void test_error_bad_answers(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    cdc_kinesis_records_t rr;
    cdc_kinesis_shard_list_t l = {0};
    char errstr[1024] = "";

    cdc_kinesis_records_init(&rr);
    reply_ok("{\"Records\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":"
             "\"k\",\"Data\":\"not base64!\"}],\"NextShardIterator\":\"x\"}");
    expect_error(k,
                 cdc_kinesis_get_records(k, "AAAA", 0, "shardId-000000000000",
                                         &rr, errstr, sizeof errstr),
                 CDC_ERR_PARSE, CDC_KIN_PROTOCOL, errstr,
                 "Kinesis GetRecords on stream \"orders-cdc\" shard "
                 "shardId-000000000000: unexpected answer: a record's Data "
                 "is not base64");
    assert_int_equal(rr.nrecords, 0);
    assert_null(rr.next_iterator);

    cdc_http_stub_reset(stub);
    reply_ok("{\"Records\":[{\"SequenceNumber\":12,\"PartitionKey\":"
             "\"k\",\"Data\":\"\"}]}");
    expect_error(k,
                 cdc_kinesis_get_records(k, "AAAA", 0, NULL, &rr, errstr,
                                         sizeof errstr),
                 CDC_ERR_PARSE, CDC_KIN_PROTOCOL, errstr,
                 "Kinesis GetRecords on stream \"orders-cdc\": unexpected "
                 "answer: a record has no valid SequenceNumber");
    cdc_http_stub_reset(stub);
    reply_ok("{\"Records\":[{\"SequenceNumber\":\"12x\",\"PartitionKey\":"
             "\"k\",\"Data\":\"\"}]}");
    expect_error(k,
                 cdc_kinesis_get_records(k, "AAAA", 0, NULL, &rr, errstr,
                                         sizeof errstr),
                 CDC_ERR_PARSE, CDC_KIN_PROTOCOL, errstr,
                 "Kinesis GetRecords on stream \"orders-cdc\": unexpected "
                 "answer: a record has no valid SequenceNumber");

    cdc_http_stub_reset(stub);
    reply_ok("<html>captive portal</html>");
    assert_int_equal(cdc_kinesis_list_shards(k, NULL, &l, errstr,
                                             sizeof errstr),
                     CDC_ERR_PARSE);
    assert_int_equal(cdc_kinesis_last_error(k)->kind, CDC_KIN_PROTOCOL);
    /* jansson's own words follow; their wording is jansson's business. */
    {
        const char *want = "Kinesis ListShards on stream \"orders-cdc\": the "
                           "answer is not a JSON object: ";
        assert_true(strncmp(errstr, want, strlen(want)) == 0);
        assert_true(strlen(errstr) > strlen(want));
    }
    cdc_http_stub_reset(stub);
    reply_ok("[]");
    expect_error(k, cdc_kinesis_list_shards(k, NULL, &l, errstr, sizeof errstr),
                 CDC_ERR_PARSE, CDC_KIN_PROTOCOL, errstr,
                 "Kinesis ListShards on stream \"orders-cdc\": the answer is "
                 "not a JSON object");
    cdc_http_stub_reset(stub);
    reply_ok("{\"Shards\":[{\"HashKeyRange\":{}}]}");
    expect_error(k, cdc_kinesis_list_shards(k, NULL, &l, errstr, sizeof errstr),
                 CDC_ERR_PARSE, CDC_KIN_PROTOCOL, errstr,
                 "Kinesis ListShards on stream \"orders-cdc\": unexpected "
                 "answer: a shard has no ShardId or a field that is not a "
                 "string");
    assert_int_equal(l.n, 0);
    cdc_kinesis_destroy(k);
}

static void test_error_transport(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 300);
    cdc_kinesis_stream_summary_t sum;
    cdc_http_stub_resp_t slow = {.status = 200, .body = "{}",
                                 .delay_ms = 3000};
    char errstr[1024] = "", want[512], dead_url[64];
    cdc_http_stub_t *dead;
    int64_t t0;

    cdc_http_stub_on(stub, "POST", "/", &slow);
    t0 = cdc_kinesis_now_ms();
    snprintf(want, sizeof want,
             "Kinesis DescribeStreamSummary on stream \"orders-cdc\": no "
             "complete answer from 127.0.0.1:%u within 300ms",
             cdc_http_stub_port(stub));
    expect_error(k,
                 cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                     sizeof errstr),
                 CDC_ERR_TIMEOUT, CDC_KIN_TRANSPORT, errstr, want);
    assert_true(cdc_kinesis_now_ms() - t0 < 2500);
    assert_int_equal(cdc_kinesis_last_error(k)->http_status, 0);
    cdc_kinesis_destroy(k);

    /* Nothing listening: a port the stub just gave back. */
    dead = cdc_http_stub_start();
    assert_non_null(dead);
    snprintf(dead_url, sizeof dead_url, "%s", cdc_http_stub_url(dead));
    cdc_http_stub_stop(dead);
    k = client_new(dead_url, STREAM, NULL, 0);
    assert_int_equal(cdc_kinesis_describe_stream_summary(k, &sum, errstr,
                                                         sizeof errstr),
                     CDC_ERR_HTTP);
    assert_int_equal(cdc_kinesis_last_error(k)->kind, CDC_KIN_TRANSPORT);
    snprintf(want, sizeof want,
             "Kinesis DescribeStreamSummary on stream \"orders-cdc\": "
             "request to %s failed: ", dead_url + strlen("http://"));
    assert_true(strncmp(errstr, want, strlen(want)) == 0);
    cdc_kinesis_destroy(k);
}

static void test_no_credentials(void **state)
{
    char errstr[512] = "";
    cdc_kinesis_opts_t o = {
        .region = "eu-west-1",
        .stream_name = STREAM,
        .endpoint_url = cdc_http_stub_url(stub),
        .creds = creds_none,
    };
    cdc_kinesis_t *k = cdc_kinesis_new(&o, errstr, sizeof errstr);
    cdc_kinesis_shard_list_t l = {0};

    assert_non_null(k);
    expect_error(k, cdc_kinesis_list_shards(k, NULL, &l, errstr, sizeof errstr),
                 CDC_ERR_CREDENTIALS, CDC_KIN_CREDENTIALS, errstr,
                 "Kinesis ListShards on stream \"orders-cdc\": no AWS "
                 "credentials: environment: AWS_ACCESS_KEY_ID not set");
    assert_int_equal(cdc_http_stub_nrequests(stub), 0);
    cdc_kinesis_destroy(k);
}

static void test_new_validates(void **state)
{
    char errstr[256] = "";
    cdc_kinesis_opts_t o = {.region = "us-east-1", .stream_name = STREAM,
                            .creds = creds_static};
    cdc_kinesis_t *k;

    k = cdc_kinesis_new(&o, errstr, sizeof errstr);
    assert_non_null(k);
    assert_string_equal(cdc_kinesis_endpoint(k),
                        "https://kinesis.us-east-1.amazonaws.com");
    assert_string_equal(cdc_kinesis_stream(k), STREAM);
    cdc_kinesis_destroy(k);

    o.region = "cn-north-1";
    o.stream_name = NULL;
    o.stream_arn = "arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s";
    k = cdc_kinesis_new(&o, errstr, sizeof errstr);
    assert_non_null(k);
    assert_string_equal(cdc_kinesis_endpoint(k),
                        "https://kinesis.cn-north-1.amazonaws.com.cn");
    assert_string_equal(cdc_kinesis_stream(k), o.stream_arn);
    cdc_kinesis_destroy(k);

    o.endpoint_url = "ftp://127.0.0.1:21";
    assert_null(cdc_kinesis_new(&o, errstr, sizeof errstr));
    assert_string_equal(errstr, "Kinesis endpoint \"ftp://127.0.0.1:21\" is "
                                "not an http(s) URL");
    o.endpoint_url = NULL;
    o.stream_arn = NULL;
    assert_null(cdc_kinesis_new(&o, errstr, sizeof errstr));
    assert_string_equal(errstr, "Kinesis client needs a stream name or ARN");
    o.stream_name = STREAM;
    o.region = "";
    assert_null(cdc_kinesis_new(&o, errstr, sizeof errstr));
    assert_string_equal(errstr, "Kinesis client needs a region");
    o.region = "us-east-1";
    o.creds = NULL;
    assert_null(cdc_kinesis_new(&o, errstr, sizeof errstr));
    assert_string_equal(errstr, "Kinesis client needs a credentials source");
    cdc_kinesis_destroy(NULL);
}

static void test_never_logs_secrets(void **state)
{
    cdc_kinesis_t *k = client_new(cdc_http_stub_url(stub), STREAM, NULL, 0);
    cdc_kinesis_shard_list_t l = {0};
    char errstr[1024] = "", logbuf[8192];
    FILE *f = tmpfile();
    size_t n;

    assert_non_null(f);
    cdc_log_set_stream(f);
    cdc_log_set_level(CDC_LOG_TRACE);
    reply_ok("{\"Shards\":[]}");
    assert_int_equal(cdc_kinesis_list_shards(k, NULL, &l, errstr,
                                             sizeof errstr),
                     CDC_OK);
    cdc_http_stub_reset(stub);
    reply_error(400, "{\"__type\":\"AccessDeniedException\"}", NULL);
    cdc_kinesis_list_shards(k, NULL, &l, errstr, sizeof errstr);
    cdc_log_set_level(CDC_LOG_INFO);
    cdc_log_set_stream(NULL);
    fflush(f);
    rewind(f);
    n = fread(logbuf, 1, sizeof logbuf - 1, f);
    logbuf[n] = '\0';
    fclose(f);
    /* The calls were logged, but nothing that could sign a request. */
    assert_non_null(strstr(logbuf, "ListShards"));
    assert_null(strstr(logbuf, SECRET));
    assert_null(strstr(logbuf, TOKEN));
    assert_null(strstr(logbuf, "Signature="));
    assert_null(strstr(logbuf, "Authorization"));
    assert_null(strstr(errstr, "Signature="));
    cdc_kinesis_destroy(k);
}

static void test_seq_cmp(void **state)
{
    /* 56-digit numbers differ beyond any integer type. */
    const char *a = "49590338271490256608559692538361571095921575989136588898";
    const char *b = "49590338271490256608559692538361571095921575989136588899";
    const char *c = "49590338271490256608559692540925702759324208523137515618";

    assert_true(cdc_kinesis_seq_cmp(a, b) < 0);
    assert_true(cdc_kinesis_seq_cmp(b, a) > 0);
    assert_int_equal(cdc_kinesis_seq_cmp(a, a), 0);
    assert_true(cdc_kinesis_seq_cmp(b, c) < 0);
    /* Length decides before digits; leading zeros do not count. */
    assert_true(cdc_kinesis_seq_cmp("9", "10") < 0);
    assert_true(cdc_kinesis_seq_cmp("100", "99") > 0);
    assert_int_equal(cdc_kinesis_seq_cmp("007", "7"), 0);
    assert_int_equal(cdc_kinesis_seq_cmp("0", "000"), 0);
    assert_true(cdc_kinesis_seq_cmp("0", "1") < 0);

    assert_true(cdc_kinesis_seq_valid(a));
    assert_true(cdc_kinesis_seq_valid("0"));
    assert_false(cdc_kinesis_seq_valid(""));
    assert_false(cdc_kinesis_seq_valid(NULL));
    assert_false(cdc_kinesis_seq_valid("-1"));
    assert_false(cdc_kinesis_seq_valid("1 "));
    {
        char big[131];
        memset(big, '9', 130);
        big[130] = '\0';
        assert_false(cdc_kinesis_seq_valid(big));
        big[129] = '\0';
        assert_true(cdc_kinesis_seq_valid(big));
    }
}

static void test_pacer(void **state)
{
    cdc_kinesis_pacer_opts_t o = {.backoff_base_ms = 100,
                                  .backoff_max_ms = 1000, .seed = 42};
    cdc_kinesis_pacer_t *p = cdc_kinesis_pacer_new(&o);
    int64_t now = 1000000, d;

    assert_non_null(p);
    assert_int_equal(cdc_kinesis_pacer_wait_ms(p, now), 0);

    /* 5 calls per second per shard. */
    cdc_kinesis_pacer_on_call(p, now);
    assert_int_equal(cdc_kinesis_pacer_next_at(p), now + 200);
    assert_int_equal(cdc_kinesis_pacer_wait_ms(p, now + 50), 150);
    cdc_kinesis_pacer_on_success(p, now + 20, 1000);
    assert_int_equal(cdc_kinesis_pacer_next_at(p), now + 200);
    /* A 10 MiB answer holds the shard for 5 s (2 MiB/s). */
    cdc_kinesis_pacer_on_success(p, now + 20, 10 * 1024 * 1024);
    assert_int_equal(cdc_kinesis_pacer_next_at(p), now + 20 + 5000);
    assert_int_equal(cdc_kinesis_pacer_wait_ms(p, now + 6000), 0);

    /* Backoff doubles from 100 ms, half of each step random, capped at 1 s,
     * and starts over after a success. */
    now += 10000;
    for (unsigned i = 1; i <= 8; i++) {
        int64_t step = 100LL << (i - 1);
        if (step > 1000)
            step = 1000;
        d = cdc_kinesis_pacer_on_backoff(p, now);
        assert_int_equal(cdc_kinesis_pacer_failures(p), i);
        assert_true(d >= step / 2 && d <= step);
        assert_int_equal(cdc_kinesis_pacer_next_at(p), now + d);
        now += d;
    }
    cdc_kinesis_pacer_on_success(p, now, 0);
    assert_int_equal(cdc_kinesis_pacer_failures(p), 0);
    d = cdc_kinesis_pacer_on_backoff(p, now);
    assert_true(d >= 50 && d <= 100);

    /* Jitter: the same seed gives the same delays, others spread out. */
    {
        cdc_kinesis_pacer_t *a = cdc_kinesis_pacer_new(&o);
        cdc_kinesis_pacer_t *b = cdc_kinesis_pacer_new(&o);
        cdc_kinesis_pacer_opts_t o2 = o;
        bool differs = false;
        o2.seed = 43;
        cdc_kinesis_pacer_t *c = cdc_kinesis_pacer_new(&o2);
        for (int i = 0; i < 6; i++) {
            int64_t da = cdc_kinesis_pacer_on_backoff(a, 0);
            assert_int_equal(da, cdc_kinesis_pacer_on_backoff(b, 0));
            differs |= da != cdc_kinesis_pacer_on_backoff(c, 0);
        }
        assert_true(differs);
        cdc_kinesis_pacer_destroy(a);
        cdc_kinesis_pacer_destroy(b);
        cdc_kinesis_pacer_destroy(c);
    }
    cdc_kinesis_pacer_destroy(p);

    /* Defaults: 200 ms, 2 MiB/s, 250 ms first backoff. */
    p = cdc_kinesis_pacer_new(NULL);
    cdc_kinesis_pacer_on_call(p, 0);
    assert_int_equal(cdc_kinesis_pacer_next_at(p), 200);
    cdc_kinesis_pacer_on_success(p, 0, 4 * 1024 * 1024);
    assert_int_equal(cdc_kinesis_pacer_next_at(p), 2000);
    d = cdc_kinesis_pacer_on_backoff(p, 0);
    assert_true(d >= 125 && d <= 250);
    cdc_kinesis_pacer_destroy(p);
    cdc_kinesis_pacer_destroy(NULL);
}

/* ==== part two: kinesalite ==== */

typedef struct {
    pid_t pid;
    int stdin_fd; /* our end of its stdin: closing it stops kinesalite */
    char url[64];
} kinesalite_t;

static kinesalite_t kl = {.pid = -1, .stdin_fd = -1};
static char node_path[1200];
static unsigned rand_seed;

/* NULL when kinesalite can run, else why not. */
static const char *kinesalite_missing(char *why, size_t n)
{
    const char *src = getenv("CDC_SOURCE_DIR"), *path = getenv("PATH");
    char p[1200];
    struct stat st;

    if (!src) {
        snprintf(why, n, "CDC_SOURCE_DIR is not set (run through ctest)");
        return why;
    }
    node_path[0] = '\0';
    for (const char *d = path ? path : ""; *d;) {
        size_t len = strcspn(d, ":");
        snprintf(p, sizeof p, "%.*s/node", (int)len, d);
        if (len && access(p, X_OK) == 0) {
            snprintf(node_path, sizeof node_path, "%s", p);
            break;
        }
        d += len + (d[len] == ':');
    }
    if (!node_path[0]) {
        snprintf(why, n, "node is not installed (not on PATH)");
        return why;
    }
    snprintf(p, sizeof p, "%s/tests/kinesis/node_modules/kinesalite/package.json",
             src);
    if (stat(p, &st) != 0) {
        snprintf(why, n,
                 "kinesalite is not installed: run `npm ci` in %s/tests/kinesis",
                 src);
        return why;
    }
    return NULL;
}

static void kinesalite_stop(void)
{
    int status;
    int64_t deadline;

    if (kl.pid <= 0)
        return;
    if (kl.stdin_fd >= 0)
        close(kl.stdin_fd);
    kl.stdin_fd = -1;
    kill(kl.pid, SIGTERM);
    deadline = cdc_kinesis_now_ms() + 5000;
    while (waitpid(kl.pid, &status, WNOHANG) == 0) {
        if (cdc_kinesis_now_ms() > deadline) {
            kill(kl.pid, SIGKILL);
            waitpid(kl.pid, &status, 0);
            break;
        }
        poll(NULL, 0, 10);
    }
    kl.pid = -1;
}

/* Start kinesalite and wait, with deadlines, for its port and for it to
 * answer. 0 on success. */
static int kinesalite_start(void)
{
    const char *src = getenv("CDC_SOURCE_DIR");
    char script[1200], line[32] = "";
    int in[2], out[2];
    size_t got = 0;
    pid_t parent = getpid();
    int64_t deadline;

    snprintf(script, sizeof script, "%s/tests/kinesis/start.js", src);
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        return -1;
    kl.pid = fork();
    if (kl.pid < 0)
        return -1;
    if (kl.pid == 0) {
        /* Dies with the test, even when the test is killed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl(node_path, "node", script, "--exit-on-stdin-close",
              (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", node_path, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    kl.stdin_fd = in[1];
    atexit(kinesalite_stop);

    /* The first stdout line is the port. */
    deadline = cdc_kinesis_now_ms() + 30000;
    while (!memchr(line, '\n', got)) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        int64_t left = deadline - cdc_kinesis_now_ms();
        ssize_t r;
        if (left <= 0 || got >= sizeof line - 1) {
            fprintf(stderr, "kinesalite gave no port within 30s\n");
            close(out[0]);
            return -1;
        }
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        r = read(out[0], line + got, sizeof line - 1 - got);
        if (r <= 0) {
            fprintf(stderr, "kinesalite exited before giving its port\n");
            close(out[0]);
            return -1;
        }
        got += (size_t)r;
        line[got] = '\0';
    }
    close(out[0]);
    snprintf(kl.url, sizeof kl.url, "http://127.0.0.1:%d", atoi(line));

    /* Listening is not answering: wait for a real API answer. */
    {
        cdc_kinesis_t *k = client_new(kl.url, "probe", NULL, 2000);
        json_t *req = json_object();
        char errstr[512] = "";
        cdc_err_t err;
        deadline = cdc_kinesis_now_ms() + 20000;
        while ((err = cdc_kinesis_call(k, "ListStreams", req, NULL, errstr,
                                       sizeof errstr)) != CDC_OK &&
               cdc_kinesis_now_ms() < deadline)
            poll(NULL, 0, 50);
        json_decref(req);
        cdc_kinesis_destroy(k);
        if (err != CDC_OK) {
            fprintf(stderr, "kinesalite at %s does not answer: %s\n", kl.url,
                    errstr);
            return -1;
        }
    }
    return 0;
}

static int kinesalite_setup(void **state)
{
    rand_seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("# partition keys from seed %u\n", rand_seed);
    return kinesalite_start() == 0 ? 0 : -1;
}

static int kinesalite_teardown(void **state)
{
    kinesalite_stop();
    return 0;
}

static void wait_active(cdc_kinesis_t *k)
{
    int64_t deadline = cdc_kinesis_now_ms() + 20000;
    char errstr[512] = "";

    for (;;) {
        cdc_kinesis_stream_summary_t s;
        cdc_err_t err = cdc_kinesis_describe_stream_summary(k, &s, errstr,
                                                            sizeof errstr);
        bool active = err == CDC_OK && strcmp(s.stream_status, "ACTIVE") == 0;
        cdc_kinesis_stream_summary_clear(&s);
        if (active)
            return;
        if (cdc_kinesis_now_ms() > deadline)
            fail_msg("stream %s not ACTIVE within 20s: %s",
                     cdc_kinesis_stream(k), errstr);
        poll(NULL, 0, 20);
    }
}

static void call_ok(cdc_kinesis_t *k, const char *op, json_t *req,
                    json_t **resp)
{
    char errstr[1024] = "";
    if (cdc_kinesis_call(k, op, req, resp, errstr, sizeof errstr) != CDC_OK)
        fail_msg("%s: %s", op, errstr);
    json_decref(req);
}

static cdc_kinesis_t *stream_new(const char *name, int shards)
{
    cdc_kinesis_t *k = client_new(kl.url, name, NULL, 0);
    call_ok(k, "CreateStream",
            json_pack("{s:s, s:i}", "StreamName", name, "ShardCount", shards),
            NULL);
    wait_active(k);
    return k;
}

typedef struct {
    unsigned char data[64];
    size_t len;
    char pkey[40];
    char shard[32];
    char seq[140];
    bool seen;
} put_t;

/* Payload i: bytes that base64 and JSON could mangle, i-dependent length. */
static void payload(size_t i, put_t *p)
{
    p->len = 1 + (i * 7) % 40;
    for (size_t j = 0; j < p->len; j++)
        p->data[j] = (unsigned char)((i * 31 + j * 17) & 0xff);
    p->data[0] = (unsigned char)i; /* unique first byte */
    if (p->len > 1)
        p->data[1] = i % 2 ? 0x00 : 0xff;
}

static void put(cdc_kinesis_t *k, size_t i, put_t *p)
{
    json_t *resp = NULL;
    char *b64;

    payload(i, p);
    snprintf(p->pkey, sizeof p->pkey, "pk-%08x%08x", rand_r(&rand_seed),
             rand_r(&rand_seed));
    b64 = b64_encode(p->data, p->len);
    call_ok(k, "PutRecord",
            json_pack("{s:s, s:s, s:s}", "StreamName", cdc_kinesis_stream(k),
                      "PartitionKey", p->pkey, "Data", b64),
            &resp);
    free(b64);
    snprintf(p->shard, sizeof p->shard, "%s",
             json_string_value(json_object_get(resp, "ShardId")));
    snprintf(p->seq, sizeof p->seq, "%s",
             json_string_value(json_object_get(resp, "SequenceNumber")));
    json_decref(resp);
    p->seen = false;
}

typedef struct {
    char seq[140];
    char pkey[40];
    unsigned char data[64];
    size_t len;
    int64_t arrival_ms;
} got_t;

/*
 * Read a shard from start until caught up (an empty answer) or, with
 * to_end, until the shard ends (no next iterator). Paced like the daemon
 * reads. Returns the number of records.
 */
static size_t read_shard(cdc_kinesis_t *k, const char *shard,
                         const cdc_kinesis_start_t *start, int limit,
                         bool to_end, got_t *out, size_t cap)
{
    char errstr[1024] = "", *it = NULL;
    cdc_kinesis_records_t rr;
    cdc_kinesis_pacer_t *pacer = cdc_kinesis_pacer_new(NULL);
    size_t n = 0;
    int64_t deadline = cdc_kinesis_now_ms() + 20000;

    if (cdc_kinesis_get_shard_iterator(k, shard, start, &it, errstr,
                                       sizeof errstr) != CDC_OK)
        fail_msg("GetShardIterator %s: %s", shard, errstr);
    cdc_kinesis_records_init(&rr);
    for (;;) {
        wait_until(cdc_kinesis_pacer_next_at(pacer));
        cdc_kinesis_pacer_on_call(pacer, cdc_kinesis_now_ms());
        if (cdc_kinesis_get_records(k, it, limit, shard, &rr, errstr,
                                    sizeof errstr) != CDC_OK)
            fail_msg("GetRecords %s: %s", shard, errstr);
        cdc_kinesis_pacer_on_success(pacer, cdc_kinesis_now_ms(), rr.bytes);
        assert_true(limit == 0 || rr.nrecords <= (size_t)limit);
        for (size_t i = 0; i < rr.nrecords; i++) {
            got_t *g = &out[n];
            assert_true(n < cap);
            assert_true(rr.records[i].data_len <= sizeof g->data);
            snprintf(g->seq, sizeof g->seq, "%s",
                     rr.records[i].sequence_number);
            snprintf(g->pkey, sizeof g->pkey, "%s",
                     rr.records[i].partition_key);
            memcpy(g->data, rr.records[i].data, rr.records[i].data_len);
            g->len = rr.records[i].data_len;
            g->arrival_ms = rr.records[i].arrival_ms;
            /* Sequence numbers grow within a shard. */
            if (n > 0)
                assert_true(cdc_kinesis_seq_cmp(out[n - 1].seq, g->seq) < 0);
            n++;
        }
        free(it);
        it = rr.next_iterator;
        rr.next_iterator = NULL;
        if (!it) {
            if (!to_end)
                fail_msg("shard %s ended while reading to the tip", shard);
            break;
        }
        if (!to_end && rr.nrecords == 0)
            break;
        if (cdc_kinesis_now_ms() > deadline)
            fail_msg("shard %s: no %s within 20s", shard,
                     to_end ? "end" : "empty answer");
    }
    cdc_kinesis_records_clear(&rr);
    free(it);
    cdc_kinesis_pacer_destroy(pacer);
    return n;
}

static void assert_got(const got_t *g, const put_t *p)
{
    assert_string_equal(g->seq, p->seq);
    assert_string_equal(g->pkey, p->pkey);
    assert_int_equal(g->len, p->len);
    assert_memory_equal(g->data, p->data, p->len);
}

#define MAXPUT 200

static void test_kl_read_two_shards(void **state)
{
    cdc_kinesis_t *k = stream_new("two-shards", 2);
    static put_t puts[MAXPUT];
    static got_t got[MAXPUT];
    cdc_kinesis_shard_list_t l = {0};
    char errstr[1024] = "";
    size_t nput = 0, per[2] = {0, 0}, total = 0;
    int64_t t0 = wall_ms(), t1;
    cdc_kinesis_start_t th = {.type = CDC_KIN_ITER_TRIM_HORIZON};

    /* Random keys spread records over both shards; put until each has a
     * few (bounded). */
    while (nput < MAXPUT && (nput < 12 || per[0] < 3 || per[1] < 3)) {
        put(k, nput, &puts[nput]);
        per[strcmp(puts[nput].shard, "shardId-000000000001") == 0]++;
        nput++;
    }
    t1 = wall_ms();
    assert_true(per[0] >= 3 && per[1] >= 3);

    assert_int_equal(cdc_kinesis_list_shards(k, NULL, &l, errstr,
                                             sizeof errstr),
                     CDC_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].shard_id, "shardId-000000000000");
    assert_string_equal(l.v[1].shard_id, "shardId-000000000001");
    assert_string_equal(l.v[0].starting_hash_key, "0");
    assert_string_equal(l.v[0].ending_hash_key, HASH_HALF_1);
    assert_string_equal(l.v[1].starting_hash_key, HASH_HALF);
    assert_string_equal(l.v[1].ending_hash_key, HASH_MAX);
    for (size_t s = 0; s < 2; s++) {
        assert_null(l.v[s].parent_shard_id);
        assert_null(l.v[s].ending_sequence_number);
        assert_true(cdc_kinesis_seq_valid(l.v[s].starting_sequence_number));
    }

    /* Every record once, on the shard PutRecord named, bytes exact. */
    for (size_t s = 0; s < 2; s++) {
        size_t n = read_shard(k, l.v[s].shard_id, &th, 5, false, got, MAXPUT);
        assert_int_equal(n, per[s]);
        for (size_t i = 0; i < n; i++) {
            size_t idx = got[i].data[0];
            assert_true(idx < nput);
            assert_false(puts[idx].seen);
            puts[idx].seen = true;
            assert_string_equal(puts[idx].shard, l.v[s].shard_id);
            assert_got(&got[i], &puts[idx]);
            assert_true(got[i].arrival_ms >= t0 && got[i].arrival_ms <= t1);
        }
        total += n;
    }
    assert_int_equal(total, nput);
    for (size_t i = 0; i < nput; i++)
        assert_true(puts[i].seen);
    cdc_kinesis_shard_list_clear(&l);
    cdc_kinesis_destroy(k);
}

static void test_kl_resume_after_sequence(void **state)
{
    cdc_kinesis_t *k = stream_new("resume", 1);
    static put_t puts[8];
    static got_t got[8];
    cdc_kinesis_start_t st = {.type = CDC_KIN_ITER_AFTER_SEQUENCE_NUMBER};
    size_t n;

    for (size_t i = 0; i < 6; i++)
        put(k, i, &puts[i]);

    st.sequence_number = puts[2].seq;
    n = read_shard(k, "shardId-000000000000", &st, 0, false, got, 8);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_got(&got[i], &puts[3 + i]);

    st.type = CDC_KIN_ITER_AT_SEQUENCE_NUMBER;
    n = read_shard(k, "shardId-000000000000", &st, 0, false, got, 8);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_got(&got[i], &puts[2 + i]);

    /* After the last record: nothing until something new arrives. */
    st.type = CDC_KIN_ITER_AFTER_SEQUENCE_NUMBER;
    st.sequence_number = puts[5].seq;
    assert_int_equal(read_shard(k, "shardId-000000000000", &st, 0, false, got,
                                8),
                     0);
    cdc_kinesis_destroy(k);
}

static void test_kl_at_timestamp_and_latest(void **state)
{
    cdc_kinesis_t *k = stream_new("timestamps", 1);
    static put_t puts[8];
    static got_t got[8];
    cdc_kinesis_start_t th = {.type = CDC_KIN_ITER_TRIM_HORIZON};
    cdc_kinesis_start_t at = {.type = CDC_KIN_ITER_AT_TIMESTAMP};
    cdc_kinesis_start_t latest = {.type = CDC_KIN_ITER_LATEST};
    char errstr[1024] = "", *it = NULL;
    cdc_kinesis_records_t rr;
    int64_t last_a;
    size_t n;

    for (size_t i = 0; i < 3; i++)
        put(k, i, &puts[i]);
    n = read_shard(k, "shardId-000000000000", &th, 0, false, got, 8);
    assert_int_equal(n, 3);
    last_a = got[2].arrival_ms;
    /* The second batch must arrive in a later millisecond. */
    while (wall_ms() <= last_a)
        poll(NULL, 0, 1);
    for (size_t i = 3; i < 6; i++)
        put(k, i, &puts[i]);
    n = read_shard(k, "shardId-000000000000", &th, 0, false, got, 8);
    assert_int_equal(n, 6);
    assert_true(got[3].arrival_ms > last_a);

    at.timestamp_ms = got[3].arrival_ms;
    n = read_shard(k, "shardId-000000000000", &at, 0, false, got, 8);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_got(&got[i], &puts[3 + i]);

    /* LATEST: only what is put after the iterator was taken. */
    assert_int_equal(cdc_kinesis_get_shard_iterator(k, "shardId-000000000000",
                                                    &latest, &it, errstr,
                                                    sizeof errstr),
                     CDC_OK);
    put(k, 6, &puts[6]);
    cdc_kinesis_records_init(&rr);
    assert_int_equal(cdc_kinesis_get_records(k, it, 0, NULL, &rr, errstr,
                                             sizeof errstr),
                     CDC_OK);
    assert_int_equal(rr.nrecords, 1);
    assert_string_equal(rr.records[0].sequence_number, puts[6].seq);
    assert_int_equal(rr.records[0].data_len, puts[6].len);
    assert_memory_equal(rr.records[0].data, puts[6].data, puts[6].len);
    assert_non_null(rr.next_iterator);
    assert_int_equal(rr.millis_behind_latest, 0);
    cdc_kinesis_records_clear(&rr);
    free(it);
    cdc_kinesis_destroy(k);
}

static void shards_from_list(cdc_shards_t *s, const cdc_kinesis_shard_list_t *l)
{
    cdc_shard_desc_t d[16];
    char errstr[256] = "";

    assert_true(l->n <= 16);
    for (size_t i = 0; i < l->n; i++) {
        d[i].shard_id = l->v[i].shard_id;
        d[i].parent_shard_id = l->v[i].parent_shard_id;
        d[i].adjacent_parent_shard_id = l->v[i].adjacent_parent_shard_id;
        d[i].starting_sequence_number = l->v[i].starting_sequence_number;
        d[i].ending_sequence_number = l->v[i].ending_sequence_number;
    }
    if (cdc_shards_update(s, d, l->n, true, errstr, sizeof errstr) != CDC_OK)
        fail_msg("shards update: %s", errstr);
}

static void test_kl_split_lineage(void **state)
{
    cdc_kinesis_t *k = stream_new("split", 1);
    cdc_shards_t *set = cdc_shards_new();
    static put_t before[8], after[40];
    static got_t got[40];
    cdc_kinesis_shard_list_t l = {0};
    cdc_kinesis_start_t th = {.type = CDC_KIN_ITER_TRIM_HORIZON};
    const char *ids[4];
    char errstr[1024] = "";
    size_t n, nafter = 0, per[2] = {0, 0}, total = 0;

    for (size_t i = 0; i < 5; i++)
        put(k, i, &before[i]);
    assert_int_equal(cdc_kinesis_list_shards(k, NULL, &l, errstr,
                                             sizeof errstr),
                     CDC_OK);
    shards_from_list(set, &l);
    assert_int_equal(cdc_shards_readable(set, ids, 4), 1);
    assert_string_equal(ids[0], "shardId-000000000000");

    call_ok(k, "SplitShard",
            json_pack("{s:s, s:s, s:s}", "StreamName", "split", "ShardToSplit",
                      "shardId-000000000000", "NewStartingHashKey", HASH_HALF),
            NULL);
    wait_active(k);

    /* The parent reads to its end: the five records, then no iterator. */
    n = read_shard(k, "shardId-000000000000", &th, 2, true, got, 40);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_got(&got[i], &before[i]);
    assert_int_equal(cdc_shards_mark_finished(set, "shardId-000000000000",
                                              errstr, sizeof errstr),
                     CDC_OK);
    /* No ChildShards from kinesalite: the set asks for a relist. */
    assert_true(cdc_shards_need_relist(set));
    assert_int_equal(cdc_shards_readable(set, ids, 4), 0);

    assert_int_equal(cdc_kinesis_list_shards(k, NULL, &l, errstr,
                                             sizeof errstr),
                     CDC_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].shard_id, "shardId-000000000000");
    assert_true(cdc_kinesis_seq_valid(l.v[0].ending_sequence_number));
    assert_true(cdc_kinesis_seq_cmp(before[4].seq,
                                    l.v[0].ending_sequence_number) < 0);
    assert_string_equal(l.v[1].shard_id, "shardId-000000000001");
    assert_string_equal(l.v[1].parent_shard_id, "shardId-000000000000");
    assert_null(l.v[1].adjacent_parent_shard_id);
    assert_string_equal(l.v[1].starting_hash_key, "0");
    assert_string_equal(l.v[1].ending_hash_key, HASH_HALF_1);
    assert_null(l.v[1].ending_sequence_number);
    assert_string_equal(l.v[2].shard_id, "shardId-000000000002");
    assert_string_equal(l.v[2].parent_shard_id, "shardId-000000000000");
    assert_string_equal(l.v[2].starting_hash_key, HASH_HALF);
    assert_string_equal(l.v[2].ending_hash_key, HASH_MAX);
    assert_null(l.v[2].ending_sequence_number);

    shards_from_list(set, &l);
    assert_false(cdc_shards_need_relist(set));
    assert_int_equal(cdc_shards_state(set, "shardId-000000000000"),
                     CDC_SHARD_FINISHED);
    assert_int_equal(cdc_shards_readable(set, ids, 4), 2);
    assert_string_equal(ids[0], "shardId-000000000001");
    assert_string_equal(ids[1], "shardId-000000000002");

    /* A fresh reader that knew nothing: the parent first, children wait. */
    {
        cdc_shards_t *fresh = cdc_shards_new();
        const char *first[4];
        shards_from_list(fresh, &l);
        assert_int_equal(cdc_shards_readable(fresh, first, 4), 1);
        assert_string_equal(first[0], "shardId-000000000000");
        assert_int_equal(cdc_shards_state(fresh, "shardId-000000000002"),
                         CDC_SHARD_WAITING);
        cdc_shards_destroy(fresh);
    }

    /* New records go to the children, split by hash key. */
    while (nafter < 40 && (nafter < 8 || per[0] < 2 || per[1] < 2)) {
        put(k, 100 + nafter, &after[nafter]);
        assert_string_not_equal(after[nafter].shard, "shardId-000000000000");
        per[strcmp(after[nafter].shard, "shardId-000000000002") == 0]++;
        nafter++;
    }
    for (size_t c = 0; c < 2; c++) {
        n = read_shard(k, ids[c], &th, 0, false, got, 40);
        assert_int_equal(n, per[c]);
        for (size_t i = 0; i < n; i++) {
            size_t idx = (size_t)got[i].data[0] - 100;
            assert_true(idx < nafter);
            assert_false(after[idx].seen);
            after[idx].seen = true;
            assert_string_equal(after[idx].shard, ids[c]);
            assert_got(&got[i], &after[idx]);
        }
        total += n;
    }
    assert_int_equal(total, nafter);

    cdc_kinesis_shard_list_clear(&l);
    cdc_shards_destroy(set);
    cdc_kinesis_destroy(k);
}

static void test_kl_errors(void **state)
{
    cdc_kinesis_t *k = client_new(kl.url, "no-such-stream", NULL, 0);
    cdc_kinesis_shard_list_t l = {0};
    cdc_kinesis_records_t rr;
    char errstr[1024] = "", want[512];

    snprintf(want, sizeof want,
             "Kinesis ListShards on stream \"no-such-stream\": not found in "
             "region us-east-1 at %s (ResourceNotFoundException: Stream "
             "no-such-stream under account 000000000000 not found.); check "
             "the stream name or ARN and region", kl.url);
    expect_error(k, cdc_kinesis_list_shards(k, NULL, &l, errstr, sizeof errstr),
                 CDC_ERR_NOT_FOUND, CDC_KIN_NOT_FOUND, errstr, want);

    cdc_kinesis_records_init(&rr);
    expect_error(k,
                 cdc_kinesis_get_records(k, "bm90IGFuIGl0ZXJhdG9y", 0, NULL,
                                         &rr, errstr, sizeof errstr),
                 CDC_ERR_INVALID_ARG, CDC_KIN_INVALID_ARGUMENT, errstr,
                 "Kinesis GetRecords on stream \"no-such-stream\": invalid "
                 "request (InvalidArgumentException: Invalid "
                 "ShardIterator.)");
    cdc_kinesis_destroy(k);
}

int main(void)
{
    const struct CMUnitTest stub_tests[] = {
        cmocka_unit_test_setup(test_request_shape_and_signature, stub_reset),
        cmocka_unit_test_setup(test_list_shards_paging_by_arn, stub_reset),
        cmocka_unit_test_setup(test_get_records_answer, stub_reset),
        cmocka_unit_test_setup(test_iterator_requests, stub_reset),
        cmocka_unit_test_setup(test_error_throttled, stub_reset),
        cmocka_unit_test_setup(test_error_expired_iterator, stub_reset),
        cmocka_unit_test_setup(test_error_access_denied, stub_reset),
        cmocka_unit_test_setup(test_error_other_kinds, stub_reset),
        cmocka_unit_test_setup(test_error_bad_answers, stub_reset),
        cmocka_unit_test_setup(test_error_transport, stub_reset),
        cmocka_unit_test_setup(test_no_credentials, stub_reset),
        cmocka_unit_test(test_new_validates),
        cmocka_unit_test_setup(test_never_logs_secrets, stub_reset),
        cmocka_unit_test(test_seq_cmp),
        cmocka_unit_test(test_pacer),
    };
    const struct CMUnitTest kinesalite_tests[] = {
        cmocka_unit_test(test_kl_read_two_shards),
        cmocka_unit_test(test_kl_resume_after_sequence),
        cmocka_unit_test(test_kl_at_timestamp_and_latest),
        cmocka_unit_test(test_kl_split_lineage),
        cmocka_unit_test(test_kl_errors),
    };
    char why[1024];
    int rc;

    rc = cmocka_run_group_tests_name("kinesis_stub", stub_tests, stub_setup,
                                     stub_teardown);
    if (kinesalite_missing(why, sizeof why)) {
        printf("SKIP kinesalite tests: %s\n", why);
        return rc ? rc : 77;
    }
    return rc | cmocka_run_group_tests_name("kinesis_kinesalite",
                                            kinesalite_tests, kinesalite_setup,
                                            kinesalite_teardown);
}
