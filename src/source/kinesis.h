/*
 * kinesis.h - a Kinesis Data Streams client for the stream source, and the
 * per-shard pacing its reader needs.
 *
 * Owns one keep-alive HTTPS connection (a reused libcurl handle), SigV4
 * signing of the JSON API (ListShards, GetShardIterator, GetRecords,
 * DescribeStreamSummary, or any operation through cdc_kinesis_call), parsing
 * of the answers, and the mapping of Kinesis errors to what a reader does
 * next: back off, get a new iterator, or stop and name the missing IAM
 * permission. Does not own credentials (the caller's chain, via a callback),
 * shard lineage (source/shards.h), CDC record parsing or offsets.
 * One client per thread; every call blocks for at most its timeout.
 */
#ifndef CDC_SOURCE_KINESIS_H
#define CDC_SOURCE_KINESIS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/credentials.h"
#include "common/err.h"

/* ---- errors ---- */

/*
 * What went wrong in the last call, as a reader acts on it. Each kind maps
 * to one cdc_err_t (third column), which callers that only propagate can
 * use; a reader switches on the kind. X(kind, name, cdc_err_t)
 */
#define CDC_KINESIS_ERRORS(X)                                                 \
    /* success */                                                             \
    X(CDC_KIN_OK,               "ok",               CDC_OK)                   \
    /* rate limits: back off with jitter, then the same call again */         \
    X(CDC_KIN_THROTTLED,        "throttled",        CDC_ERR_HTTP)             \
    /* GetRecords: the iterator is over 5 minutes old; get a new one after    \
     * the last sequence number handed out */                                 \
    X(CDC_KIN_EXPIRED_ITERATOR, "expired_iterator", CDC_ERR_HTTP)             \
    /* ListShards paging took too long: list again from the start */          \
    X(CDC_KIN_EXPIRED_TOKEN,    "expired_token",    CDC_ERR_HTTP)             \
    /* stream or shard does not exist (or was trimmed) */                     \
    X(CDC_KIN_NOT_FOUND,        "not_found",        CDC_ERR_NOT_FOUND)        \
    /* stream is being created, updated or deleted: retry later */            \
    X(CDC_KIN_IN_USE,           "in_use",           CDC_ERR_HTTP)             \
    /* IAM or KMS policy denies the call: needs an operator */                \
    X(CDC_KIN_ACCESS_DENIED,    "access_denied",    CDC_ERR_CONFIG)           \
    /* credentials missing, invalid or expired: refresh them and retry */     \
    X(CDC_KIN_CREDENTIALS,      "credentials",      CDC_ERR_AUTH)             \
    /* the request was invalid (a bug, or a bad sequence number) */           \
    X(CDC_KIN_INVALID_ARGUMENT, "invalid_argument", CDC_ERR_INVALID_ARG)      \
    /* the stream's KMS key is disabled, missing or not usable */             \
    X(CDC_KIN_KMS,              "kms",              CDC_ERR_CONFIG)           \
    /* 5xx, InternalFailure, ServiceUnavailable: back off and retry */        \
    X(CDC_KIN_SERVER,           "server",           CDC_ERR_HTTP)             \
    /* no HTTP answer: connect failure, timeout, TLS (cdc_err_t may be       \
     * CDC_ERR_TIMEOUT instead) */                                            \
    X(CDC_KIN_TRANSPORT,        "transport",        CDC_ERR_HTTP)             \
    /* an answer that is not what the API promises */                         \
    X(CDC_KIN_PROTOCOL,         "protocol",         CDC_ERR_PARSE)            \
    /* any other error answer */                                              \
    X(CDC_KIN_OTHER,            "other",            CDC_ERR_HTTP)

typedef enum {
#define CDC_KIN_ENUM(kind, name, err) kind,
    CDC_KINESIS_ERRORS(CDC_KIN_ENUM)
#undef CDC_KIN_ENUM
    CDC_KIN__COUNT
} cdc_kinesis_error_kind_t;

/* "throttled", "expired_iterator", ...; never NULL. */
const char *cdc_kinesis_error_kind_name(cdc_kinesis_error_kind_t kind);

typedef struct {
    cdc_kinesis_error_kind_t kind;
    cdc_err_t err;           /* what the call returned */
    long http_status;        /* 0 when no answer arrived */
    char op[40];             /* "GetRecords" */
    char aws_type[96];       /* "ProvisionedThroughputExceededException", "" */
    char aws_message[512];   /* AWS's message, truncated; "" when none */
    char request_id[80];     /* x-amzn-RequestId, for AWS support; "" */
} cdc_kinesis_error_t;

/* ---- client ---- */

typedef struct cdc_kinesis cdc_kinesis_t;

/*
 * Credentials for the next request. *out stays owned by the callee and must
 * stay valid until the request is signed (cdc_cred_chain_get fits with a
 * one-line wrapper). Called once per request; on failure errstr says why.
 */
typedef cdc_err_t (*cdc_kinesis_creds_fn)(void *ud,
                                          const cdc_aws_creds_t **out,
                                          char *errstr, size_t errstr_size);

typedef struct {
    const char *region;          /* required: signing region ("us-east-1") */
    const char *stream_name;     /* one of name / ARN is required */
    const char *stream_arn;      /* sent instead of the name when set */
    const char *endpoint_url;    /* NULL or "": https://kinesis.<region>
                                    .amazonaws.com (.com.cn in cn-*);
                                    tests: "http://127.0.0.1:PORT" */
    cdc_kinesis_creds_fn creds;  /* required */
    void *creds_ud;
    long connect_timeout_ms;     /* 0: 5000 */
    long timeout_ms;             /* whole call, connect included; 0: 30000 */
    size_t max_response;         /* 0: 32 MiB (a 10 MiB record in base64) */
    const char *ca_file;         /* PEM bundle; NULL: the system's */
} cdc_kinesis_opts_t;

/*
 * Copies what it needs from opts. NULL on a missing region, stream or
 * credentials callback, an endpoint that is not http(s)://host[:port][/path],
 * or out of memory; errstr says which.
 */
cdc_kinesis_t *cdc_kinesis_new(const cdc_kinesis_opts_t *opts, char *errstr,
                               size_t errstr_size);
/* NULL ok. */
void cdc_kinesis_destroy(cdc_kinesis_t *k);

/* The endpoint URL in use, and the stream as messages name it (the name,
 * else the ARN). */
const char *cdc_kinesis_endpoint(const cdc_kinesis_t *k);
const char *cdc_kinesis_stream(const cdc_kinesis_t *k);

/* The error of the last call (kind CDC_KIN_OK after a success). */
const cdc_kinesis_error_t *cdc_kinesis_last_error(const cdc_kinesis_t *k);

/*
 * Any Kinesis_20131202 operation: POST req (borrowed, serialized as is; the
 * stream is NOT added) and on HTTP 200 set *resp to the parsed answer (new
 * reference; an empty body gives {}). resp may be NULL. Errors as for the
 * typed calls below.
 */
cdc_err_t cdc_kinesis_call(cdc_kinesis_t *k, const char *op,
                           const json_t *req, json_t **resp,
                           char *errstr, size_t errstr_size);

/* ---- DescribeStreamSummary ---- */

typedef struct {
    char *stream_name;
    char *stream_arn;
    char *stream_status;      /* "CREATING", "ACTIVE", "UPDATING", ... */
    char *stream_mode;        /* "ON_DEMAND", "PROVISIONED"; NULL if absent */
    int64_t open_shard_count; /* -1 when absent */
    int64_t retention_hours;  /* -1 when absent */
} cdc_kinesis_stream_summary_t;

void cdc_kinesis_stream_summary_clear(cdc_kinesis_stream_summary_t *s);
cdc_err_t cdc_kinesis_describe_stream_summary(cdc_kinesis_t *k,
                                              cdc_kinesis_stream_summary_t *out,
                                              char *errstr,
                                              size_t errstr_size);

/* ---- ListShards ---- */

typedef struct {
    char *shard_id;
    char *parent_shard_id;          /* NULL when none */
    char *adjacent_parent_shard_id; /* NULL when none */
    char *starting_hash_key;        /* decimal strings, 128-bit */
    char *ending_hash_key;
    char *starting_sequence_number;
    char *ending_sequence_number;   /* NULL while the shard is open */
} cdc_kinesis_shard_t;

typedef struct {
    cdc_kinesis_shard_t *v;         /* in the order Kinesis listed them */
    size_t n;
} cdc_kinesis_shard_list_t;

/* Free the shards; the list is empty and reusable after. NULL ok. */
void cdc_kinesis_shard_list_clear(cdc_kinesis_shard_list_t *l);

/*
 * Every shard of the stream (all pages: NextToken is followed), or only
 * those after exclusive_start_shard_id when given (NULL: all). out must be
 * zeroed or hold an earlier list; it is cleared first, holds the shards on
 * success and is empty on error.
 */
cdc_err_t cdc_kinesis_list_shards(cdc_kinesis_t *k,
                                  const char *exclusive_start_shard_id,
                                  cdc_kinesis_shard_list_t *out,
                                  char *errstr, size_t errstr_size);

/* ---- GetShardIterator ---- */

typedef enum {
    CDC_KIN_ITER_TRIM_HORIZON = 0,
    CDC_KIN_ITER_LATEST,
    CDC_KIN_ITER_AT_SEQUENCE_NUMBER,
    CDC_KIN_ITER_AFTER_SEQUENCE_NUMBER,
    CDC_KIN_ITER_AT_TIMESTAMP,
} cdc_kinesis_iter_type_t;

/* "TRIM_HORIZON", ...; never NULL. */
const char *cdc_kinesis_iter_type_name(cdc_kinesis_iter_type_t t);

typedef struct {
    cdc_kinesis_iter_type_t type;
    const char *sequence_number;  /* AT_ / AFTER_SEQUENCE_NUMBER */
    int64_t timestamp_ms;         /* AT_TIMESTAMP: Unix ms (sent exactly) */
} cdc_kinesis_start_t;

/* On success *iterator is a new string (caller frees with free()). */
cdc_err_t cdc_kinesis_get_shard_iterator(cdc_kinesis_t *k,
                                         const char *shard_id,
                                         const cdc_kinesis_start_t *start,
                                         char **iterator,
                                         char *errstr, size_t errstr_size);

/* ---- GetRecords ---- */

typedef struct {
    char *sequence_number;  /* decimal string up to 128 bits: compare with
                               cdc_kinesis_seq_cmp, never as a number */
    char *partition_key;
    unsigned char *data;    /* base64-decoded; a NUL follows data_len bytes */
    size_t data_len;
    int64_t arrival_ms;     /* ApproximateArrivalTimestamp, Unix ms; 0 if
                               absent */
} cdc_kinesis_record_t;

typedef struct {
    char *shard_id;
    char **parent_shards;
    size_t nparent_shards;
    char *starting_hash_key;
    char *ending_hash_key;
} cdc_kinesis_child_shard_t;

typedef struct {
    cdc_kinesis_record_t *records;
    size_t nrecords;
    size_t bytes;                     /* sum of data_len (for the pacer) */
    char *next_iterator;              /* NULL: the shard is closed and
                                         drained to its end */
    int64_t millis_behind_latest;     /* -1 when absent */
    cdc_kinesis_child_shard_t *child_shards; /* at the end of a closed
                                                shard, when given */
    size_t nchild_shards;
} cdc_kinesis_records_t;

/* Zero a result before first use. */
void cdc_kinesis_records_init(cdc_kinesis_records_t *r);
/* Free everything; the result is empty and reusable after. NULL ok. */
void cdc_kinesis_records_clear(cdc_kinesis_records_t *r);

/*
 * One GetRecords call. limit: 1..10000, 0 for the service's default.
 * shard_id (may be NULL) only names the shard in messages. out is cleared
 * first and holds the answer on success; on error it is empty.
 */
cdc_err_t cdc_kinesis_get_records(cdc_kinesis_t *k, const char *iterator,
                                  int limit, const char *shard_id,
                                  cdc_kinesis_records_t *out,
                                  char *errstr, size_t errstr_size);

/* ---- sequence numbers ---- */

/* True for a decimal string of 1..129 digits (what Kinesis accepts). */
bool cdc_kinesis_seq_valid(const char *s);
/* Numeric order of two valid sequence numbers: <0, 0, >0. Leading zeros
 * are ignored. */
int cdc_kinesis_seq_cmp(const char *a, const char *b);

/* ---- per-shard pacing ---- */

/*
 * When the next GetRecords on one shard may start: at most 5 calls/s per
 * shard, the 2 MiB/s read budget after a large answer (a 10 MiB answer
 * blocks the shard for 5 s), and exponential backoff with jitter after
 * throttling or server errors. Times are monotonic milliseconds supplied
 * by the caller (cdc_kinesis_now_ms), so the loop can wait on the nearest
 * deadline instead of sleeping.
 */
typedef struct cdc_kinesis_pacer cdc_kinesis_pacer_t;

typedef struct {
    int64_t min_interval_ms;   /* 0: 200 (5 calls/s) */
    int64_t bytes_per_sec;     /* 0: 2 MiB/s; <0: no byte budget */
    int64_t backoff_base_ms;   /* 0: 250 */
    int64_t backoff_max_ms;    /* 0: 10000 */
    uint64_t seed;             /* jitter; 0: from the clock */
} cdc_kinesis_pacer_opts_t;

/* CLOCK_MONOTONIC in milliseconds. */
int64_t cdc_kinesis_now_ms(void);

/* opts NULL: defaults. NULL on out of memory. */
cdc_kinesis_pacer_t *cdc_kinesis_pacer_new(const cdc_kinesis_pacer_opts_t *o);
/* NULL ok. */
void cdc_kinesis_pacer_destroy(cdc_kinesis_pacer_t *p);

/* Earliest time the next call may start (0 before the first call). */
int64_t cdc_kinesis_pacer_next_at(const cdc_kinesis_pacer_t *p);
/* How long to wait from now (0 when a call may start now). */
int64_t cdc_kinesis_pacer_wait_ms(const cdc_kinesis_pacer_t *p, int64_t now);

/* A call starts now: the next may not start before now + min interval. */
void cdc_kinesis_pacer_on_call(cdc_kinesis_pacer_t *p, int64_t now);
/* The call succeeded with bytes of data: the backoff resets, and the next
 * call waits until the byte budget has refilled. */
void cdc_kinesis_pacer_on_success(cdc_kinesis_pacer_t *p, int64_t now,
                                  size_t bytes);
/*
 * The call was throttled or failed retriably: wait base * 2^(n-1) (capped
 * at max) for the n-th consecutive failure, the second half of it random.
 * Returns the delay chosen.
 */
int64_t cdc_kinesis_pacer_on_backoff(cdc_kinesis_pacer_t *p, int64_t now);
/* Consecutive failures since the last success. */
unsigned cdc_kinesis_pacer_failures(const cdc_kinesis_pacer_t *p);

#endif
