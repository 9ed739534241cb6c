#!/usr/bin/env bash
#
# record.format=debezium end to end: the envelope on Kafka, byte for byte,
# schemaless values with key schemas on (JsonConverter semantics), and a
# soft delete as before-image + tombstone.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, event_name text,
           event_type text, created_date timestamptz, saved_date timestamptz,
           header_data jsonb, deleted boolean NOT NULL DEFAULT false)" \
        "INSERT INTO event_headers VALUES
           ('evt-1', 'OrderPlaced', 'order', '2024-01-15 10:30:05+00', '2024-01-15 10:30:05+00', '{\"a\": 1}', false),
           ('evt-2', 'OrderShipped', NULL, '2024-01-15 10:30:05+00', '2024-01-15 10:30:06.5+00', NULL, true)"
topic="$CDC_TOPIC_PREFIX.public.event_headers"
cdc_kafka_cmd "topic $topic 1"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=event_headers" \
        "record.format=debezium" "key.converter.schemas.enable=true" \
        "dsql.soft.delete.column=deleted"
cap_start "$CDC_TEST_TMP/c.json"
cdc_wait_for 20 cdc_topic_has "$topic" 3
cap_stop

p=$CDC_TOPIC_PREFIX
db=$PGDATABASE
key_schema='{"type":"struct","fields":[{"type":"string","optional":false,"field":"id"}],"optional":false,"name":"'$p'.public.event_headers.Key"}'
source_block='"source":{"version":"0.1.0","connector":"dsql","name":"'$p'","ts_ms":TS,"snapshot":"false","db":"'$db'","sequence":null,"ts_us":TS,"ts_ns":TS,"schema":"public","table":"event_headers"}'
cdc_assert_eq "$(cat <<EXP
{"schema":$key_schema,"payload":{"id":"evt-1"}}	{"before":null,"after":{"id":"evt-1","event_name":"OrderPlaced","event_type":"order","created_date":"2024-01-15T10:30:05Z","saved_date":"2024-01-15T10:30:05Z","header_data":"{\"a\": 1}","deleted":false},$source_block,"transaction":null,"op":"c","ts_ms":TS,"ts_us":TS,"ts_ns":TS}
{"schema":$key_schema,"payload":{"id":"evt-2"}}	{"before":{"id":"evt-2","event_name":"OrderShipped","event_type":null,"created_date":"2024-01-15T10:30:05Z","saved_date":"2024-01-15T10:30:06.5Z","header_data":null,"deleted":true},"after":null,$source_block,"transaction":null,"op":"d","ts_ms":TS,"ts_us":TS,"ts_ns":TS}
{"schema":$key_schema,"payload":{"id":"evt-2"}}	NULL
EXP
)" "$(cap_dump "$topic" 3 | sed -E 's/"ts_(us|ns)":[0-9]+/"ts_\1":TS/g')" "debezium records"
