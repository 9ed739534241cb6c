#!/usr/bin/env bash
#
# The Kafka Connect-compatible REST API of a running daemon: status shapes,
# secrets redacted in /config, pause stops new records and resume delivers
# them, offsets, and /metrics counting exactly the records on the topic.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"
cdc_require curl

cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, event_name text,
           created_date timestamptz NOT NULL DEFAULT now(),
           saved_date timestamptz NOT NULL DEFAULT now())"
topic="$CDC_TOPIC_PREFIX.public.event_headers"
cdc_kafka_cmd "topic $topic 1"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=event_headers" \
        "rest.listen=127.0.0.1:0" "dsql.password=pw-secret-4242"
cap_start "$CDC_TEST_TMP/c.json"
port=$(cap_rest_port)
base="http://127.0.0.1:$port"
w="127.0.0.1:$port"
get() { curl -sS "$base$1"; }
# code METHOD PATH: the HTTP status code only
code() { curl -sS -o "$CDC_TEST_TMP/body" -w '%{http_code}' -X "$1" "$base$2"; }

cdc_assert_eq '["it-connector"]' "$(get /connectors)" "GET /connectors"
cap_sql "INSERT INTO event_headers (id, event_name) VALUES ('a', 'A'), ('b', 'B'), ('c', 'C')"
cdc_wait_for 20 cdc_topic_has "$topic" 3
cdc_assert_eq '{"name":"it-connector","connector":{"state":"RUNNING","worker_id":"'$w'"},"tasks":[{"id":0,"state":"RUNNING","worker_id":"'$w'"}],"type":"source"}' \
        "$(get /connectors/it-connector/status)" "status"
get /connectors/it-connector/config >"$CDC_TEST_TMP/config.json"
grep -q '"dsql.password":"\*\*\*\*\*\*\*\*"' "$CDC_TEST_TMP/config.json" || { cat "$CDC_TEST_TMP/config.json" >&2; exit 1; }
! grep -q pw-secret-4242 "$CDC_TEST_TMP/config.json" || { echo "secret in /config" >&2; exit 1; }
cdc_assert_eq 404 "$(code GET /connectors/other/status)" "unknown connector"
cdc_assert_eq '{"error_code":404,"message":"No status found for connector other"}' "$(cat "$CDC_TEST_TMP/body")" "404 body"

# Delivered records and the metric agree exactly.
written() { get /metrics | sed -n 's/^kafka_connect_source_task_metrics_source_record_write_total{.*task="0".*} \([0-9]*\)$/\1/p'; }
has_written() { [[ "$(written)" == "$1" ]]; }
cdc_wait_for 10 has_written 3

# Pause: no new records reach the topic; resume delivers them.
cdc_assert_eq 202 "$(code PUT /connectors/it-connector/pause)" "pause"
cdc_assert_eq '{"name":"it-connector","connector":{"state":"PAUSED","worker_id":"'$w'"},"tasks":[{"id":0,"state":"PAUSED","worker_id":"'$w'"}],"type":"source"}' \
        "$(get /connectors/it-connector/status)" "status while paused"
cap_sql "INSERT INTO event_headers (id, event_name) VALUES ('d', 'D')"
# Watch for 1.5 s (15 poll intervals) that nothing is delivered.
deadline=$(($(date +%s%N) / 1000000 + 1500))
while (($(date +%s%N) / 1000000 < deadline)); do
        cdc_assert_eq 3 "$(cdc_topic_count "$topic")" "records while paused"
done
offsets=$(get /connectors/it-connector/offsets)
grep -q '^{"offsets":\[{"partition":{"table":"public.event_headers"},"offset":{"ts":"[^"]*","key":\["c"\],' <<<"$offsets" ||
        { echo "offsets: $offsets" >&2; exit 1; }
cdc_assert_eq 202 "$(code PUT /connectors/it-connector/resume)" "resume"
cdc_wait_for 20 cdc_topic_has "$topic" 4
cdc_wait_for 10 has_written 4

# A failed task shows its trace; once the cause is fixed, a restart of the
# failed tasks brings it back and its rows flow.
cap_sql "CREATE TABLE late_table (id int PRIMARY KEY, note text)" \
        "INSERT INTO late_table VALUES (1, 'x')"
cap_stop
cap_config "$CDC_TEST_TMP/c2.json" "dsql.tables=event_headers, late_table" \
        "rest.listen=127.0.0.1:$port"
cap_start "$CDC_TEST_TMP/c2.json" "$CDC_TEST_TMP/dsqlcdc2.log"
failed() { get /connectors/it-connector/status | grep -q '"id":1,"state":"FAILED"'; }
cdc_wait_for 20 failed
get /connectors/it-connector/status | grep -q '"trace":"table public.late_table has no column \\"saved_date\\" (dsql.timestamp.column); set it to the column every write stamps"' ||
        { get /connectors/it-connector/status >&2; exit 1; }
cap_sql "ALTER TABLE late_table ADD COLUMN created_date timestamptz, ADD COLUMN saved_date timestamptz" \
        "UPDATE late_table SET created_date = now(), saved_date = now()"
cdc_assert_eq 202 "$(code POST '/connectors/it-connector/restart?includeTasks=true&onlyFailed=true')" "restart failed tasks"
cdc_wait_for 20 cdc_topic_has "$CDC_TOPIC_PREFIX.public.late_table" 1
cdc_assert_eq '{"name":"it-connector","connector":{"state":"RUNNING","worker_id":"'$w'"},"tasks":[{"id":0,"state":"RUNNING","worker_id":"'$w'"},{"id":1,"state":"RUNNING","worker_id":"'$w'"}],"type":"source"}' \
        "$(get /connectors/it-connector/status)" "status after restart"
cap_stop
cdc_assert_eq 4 "$(cdc_topic_count "$topic")" "records after resume and restart"
