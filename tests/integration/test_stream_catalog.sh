#!/usr/bin/env bash
#
# Stream source with a database: key columns and column types come from
# the catalog (no message.key.columns), so records.jsonl's values render
# as the poller renders the same rows: timestamptz as ISO 8601 UTC strings,
# numeric as strings, json as its text (json, not jsonb, whose output the
# server reformats). A poller run over a row holding ev-001's first version
# must render its columns byte for byte alike.
# audit_log is in the catalog without a primary key: its delete is skipped.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/stream_lib.sh"
stream_require
cdc_test_begin

cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, event_name text,
           event_type text, created_date timestamptz, saved_date timestamptz,
           header_data json)" \
        "CREATE TABLE order_items (order_id int, item_id int, quantity int,
           price numeric(10,2), PRIMARY KEY (order_id, item_id))" \
        "CREATE TABLE audit_log (at timestamptz, what text)"

stream_kinesis_start
stream_create cdc-catalog 2
stream_put cdc-catalog
stream_topics
stream_config "$CDC_TEST_TMP/c.json" cdc-catalog "dsql.endpoint.primary=$PGHOST" "message.key.columns="
cap_start "$CDC_TEST_TMP/c.json"
cdc_wait_for 30 cdc_topic_has "$STREAM_EH" "$STREAM_EH_COUNT"
cdc_wait_for 30 cdc_topic_has "$STREAM_OI" "$STREAM_OI_COUNT"
cap_stop

# Timestamps as UTC ISO strings (microseconds since the epoch converted,
# trailing zeros dropped, as for the poller); the rest as without types.
cdc_assert_eq "$(cat <<'EXP'
{"id":"ev-001"}	{"id":"ev-001","event_name":"user.signup","event_type":"audit","created_date":"2026-07-10T08:59:58.12Z","saved_date":"2026-07-10T08:59:59.001Z","header_data":"{\"v\":1,\"src\":\"web\"}","__op":"c","__table":"event_headers","__ts_ms":1783674000263}
{"id":"ev-001"}	{"id":"ev-001","event_name":"user.signup","event_type":"security","created_date":"2026-07-10T08:59:58.12Z","saved_date":"2026-07-10T09:00:01.4Z","header_data":"{\"v\":2,\"src\":\"web\"}","__op":"u","__table":"event_headers","__ts_ms":1783674002001}
{"id":"ev-001"}	{"id":"ev-001","event_name":"user.signup","event_type":"security","created_date":"2026-07-10T08:59:58.12Z","saved_date":"2026-07-10T09:00:04.05Z","header_data":null,"__op":"u","__table":"event_headers","__ts_ms":1783674005218}
{"id":"ev-001"}	{"id":"ev-001","event_name":"user.signup","event_type":"security","created_date":"2026-07-10T08:59:58.12Z","saved_date":"2026-07-10T09:00:11.4Z","header_data":"{\"v\":3}","__op":"u","__table":"event_headers","__ts_ms":1783674011968}
{"id":"ev-001"}	{"id":"ev-001","__op":"d","__table":"event_headers","__ts_ms":1783674014081}
{"id":"ev-001"}	NULL
{"id":"ev-002"}	{"id":"ev-002","event_name":"order.created","event_type":"business","created_date":"2026-07-10T08:59:58.5Z","saved_date":null,"header_data":null,"__op":"c","__table":"event_headers","__ts_ms":1783674000263}
{"id":"ev-002"}	{"id":"ev-002","event_name":"order.created","event_type":"business","created_date":"2026-07-10T08:59:58.5Z","saved_date":"2026-07-10T09:00:03.1Z","header_data":"{\"v\":1,\"lines\":2}","__op":"u","__table":"event_headers","__ts_ms":1783674003379}
{"id":"ev-002"}	{"id":"ev-002","event_name":"order.created","event_type":"business","created_date":"2026-07-10T08:59:58.5Z","saved_date":"2026-07-10T09:00:07.2Z","header_data":"{\"v\":2,\"lines\":3}","__op":"u","__table":"event_headers","__ts_ms":1783674008119}
{"id":"ev-003"}	{"id":"ev-003","event_name":"payment.failed","event_type":"business","created_date":"2026-07-10T09:00:01.2Z","saved_date":"2026-07-10T09:00:01.45Z","header_data":"{\"v\":1,\"code\":\"E42\"}","__op":"c","__table":"event_headers","__ts_ms":1783674002001}
{"id":"ev-003"}	{"id":"ev-003","__op":"d","__table":"event_headers","__ts_ms":1783674005218}
{"id":"ev-003"}	NULL
{"id":"ev-003"}	{"id":"ev-003","event_name":"payment.retried","event_type":"business","created_date":"2026-07-10T09:00:08.7Z","saved_date":"2026-07-10T09:00:08.99Z","header_data":"{\"v\":1,\"attempt\":2}","__op":"c","__table":"event_headers","__ts_ms":1783674009105}
{"id":"ev-004"}	{"id":"ev-004","event_name":"bulk.import","event_type":"batch","created_date":"2026-07-10T09:00:05.9Z","saved_date":"2026-07-10T09:00:05.99Z","header_data":"{\"v\":1,\"note\":\"größer → split\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}","__op":"c","__table":"event_headers","__ts_ms":1783674006434}
{"id":"ev-005"}	{"id":"ev-005","event_name":"heartbeat","event_type":null,"created_date":"2026-07-10T09:00:14.4Z","saved_date":null,"header_data":null,"__op":"c","__table":"event_headers","__ts_ms":1783674014564}
{"id":"ev-005"}	{"id":"ev-005","event_name":"heartbeat","event_type":"system","created_date":"2026-07-10T09:00:14.4Z","saved_date":"2026-07-10T09:00:16.45Z","header_data":null,"__op":"u","__table":"event_headers","__ts_ms":1783674016568}
EXP
)" "$(cdc_topic_dump "$STREAM_EH" "$STREAM_EH_COUNT" | stream_by_key)" "event_headers, typed"
cdc_assert_eq "$(stream_expected_order_items)" \
        "$(cdc_topic_dump "$STREAM_OI" "$STREAM_OI_COUNT" | stream_by_key)" "order_items, typed"
log=$CDC_TEST_TMP/dsqlcdc.log
grep -q 'column types and primary keys of 3 table(s) read from the catalog' "$log" ||
        { echo "the catalog was not read" >&2; exit 1; }
grep -q 'skipped a delete on public.audit_log' "$log" ||
        { echo "the audit_log delete was not skipped" >&2; exit 1; }

# The poller renders the same row alike (its __op/__ts_ms differ by nature).
cap_sql "INSERT INTO event_headers VALUES ('ev-001', 'user.signup', 'audit',
           timestamptz 'epoch' + 1783673998120000 * interval '1 microsecond',
           timestamptz 'epoch' + 1783673999001000 * interval '1 microsecond',
           '{\"v\":1,\"src\":\"web\"}')"
poll_topic=$CDC_TOPIC_PREFIX.poll.public.event_headers
cap_config "$CDC_TEST_TMP/poll.json" "dsql.tables=event_headers" \
        "topic.prefix=$CDC_TOPIC_PREFIX.poll" \
        "offset.storage.file.filename=$CDC_TEST_TMP/poll-offsets.json"
cap_start "$CDC_TEST_TMP/poll.json" "$CDC_TEST_TMP/poll.log"
cdc_wait_for 30 cdc_topic_has "$poll_topic" 1
cap_stop
strip() { sed -E 's/,"__op":.*$//'; }
cdc_assert_eq "$(cdc_topic_dump "$STREAM_EH" "$STREAM_EH_COUNT" | stream_by_key | head -1 | strip)" \
        "$(cdc_topic_dump "$poll_topic" 1 | strip)" "stream vs poller rendering of ev-001"
stream_kinesis_stop
