#!/usr/bin/env bash
#
# End to end in the flat format: exact records on Kafka for creates, updates,
# soft deletes (with tombstones), composite keys, a schema-qualified table and
# a RegexRouter transform; offsets after a clean stop; nothing re-sent on
# restart.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, event_name text,
           event_type text, created_date timestamptz, saved_date timestamptz,
           header_data jsonb)" \
        "INSERT INTO event_headers VALUES
           ('evt-1', 'OrderPlaced', 'order', '2024-01-15 10:30:05+00', '2024-01-15 10:30:05+00', '{\"a\": 1}'),
           ('evt-2', 'OrderShipped', 'order', '2024-01-15 10:30:05+00', '2024-01-15 10:30:06.5+00', NULL),
           ('evt-3', E'Odd \"name\"\\n', 'order', '2024-01-15 10:30:05.123456+00', '2024-01-15 10:30:05.123456+00', '{\"k\": \"vé\"}')" \
        "CREATE SCHEMA sales" \
        "CREATE TABLE sales.orders (order_id int, line int, amount numeric(10,2),
           paid boolean, created_date timestamptz, saved_date timestamptz,
           deleted_at timestamptz, PRIMARY KEY (order_id, line))" \
        "INSERT INTO sales.orders VALUES
           (1001, 1, 29.99, true, '2024-01-15 10:30:05+00', '2024-01-15 10:30:05+00', NULL),
           (1001, 2, 5.00, false, '2024-01-15 10:30:05+00', '2024-01-15 10:30:07+00', '2024-01-15 10:30:07+00')"

routed="$CDC_TOPIC_PREFIX-raw-event-headers"
orders="$CDC_TOPIC_PREFIX.sales.orders"
cdc_kafka_cmd "topic $routed 1"
cdc_kafka_cmd "topic $orders 1"
prefix_re=${CDC_TOPIC_PREFIX//./\\.}
cap_config "$CDC_TEST_TMP/c.json" \
        "dsql.tables=event_headers, sales.orders" \
        "dsql.soft.delete.column=deleted_at" \
        "transforms=route" \
        "transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter" \
        "transforms.route.regex=$prefix_re\\.public\\.event_headers" \
        "transforms.route.replacement=$routed"
cap_start "$CDC_TEST_TMP/c.json"
cdc_wait_for 20 cdc_topic_has "$routed" 3
cdc_wait_for 20 cdc_topic_has "$orders" 3
cap_sql "UPDATE event_headers SET event_type = 'shipped', saved_date = '2024-01-15 10:31:00+00' WHERE id = 'evt-1'"
cdc_wait_for 20 cdc_topic_has "$routed" 4
cap_stop

cdc_assert_eq "$(cat <<'EXP'
{"id":"evt-1"}	{"id":"evt-1","event_name":"OrderPlaced","event_type":"order","created_date":"2024-01-15T10:30:05Z","saved_date":"2024-01-15T10:30:05Z","header_data":"{\"a\": 1}","__op":"c","__table":"event_headers","__ts_ms":TS}
{"id":"evt-3"}	{"id":"evt-3","event_name":"Odd \"name\"\n","event_type":"order","created_date":"2024-01-15T10:30:05.123456Z","saved_date":"2024-01-15T10:30:05.123456Z","header_data":"{\"k\": \"vé\"}","__op":"c","__table":"event_headers","__ts_ms":TS}
{"id":"evt-2"}	{"id":"evt-2","event_name":"OrderShipped","event_type":"order","created_date":"2024-01-15T10:30:05Z","saved_date":"2024-01-15T10:30:06.5Z","header_data":null,"__op":"u","__table":"event_headers","__ts_ms":TS}
{"id":"evt-1"}	{"id":"evt-1","event_name":"OrderPlaced","event_type":"shipped","created_date":"2024-01-15T10:30:05Z","saved_date":"2024-01-15T10:31:00Z","header_data":"{\"a\": 1}","__op":"u","__table":"event_headers","__ts_ms":TS}
EXP
)" "$(cap_dump "$routed" 4)" "routed event_headers topic"

cdc_assert_eq "$(cat <<'EXP'
{"order_id":1001,"line":1}	{"order_id":1001,"line":1,"amount":"29.99","paid":true,"created_date":"2024-01-15T10:30:05Z","saved_date":"2024-01-15T10:30:05Z","deleted_at":null,"__op":"c","__table":"orders","__ts_ms":TS}
{"order_id":1001,"line":2}	{"order_id":1001,"line":2,"amount":"5.00","paid":false,"created_date":"2024-01-15T10:30:05Z","saved_date":"2024-01-15T10:30:07Z","deleted_at":"2024-01-15T10:30:07Z","__op":"d","__table":"orders","__ts_ms":TS}
{"order_id":1001,"line":2}	NULL
EXP
)" "$(cap_dump "$orders" 3)" "sales.orders topic"

# The stored positions are the last rows delivered.
"$CDC_BIN" offsets show --config "$CDC_TEST_TMP/c.json" >"$CDC_TEST_TMP/offsets.txt"
grep -q '^public.event_headers	{"key":\["evt-1"\],.*"ts":"2024-01-15 10:31:00+00"' "$CDC_TEST_TMP/offsets.txt" ||
        { cat "$CDC_TEST_TMP/offsets.txt" >&2; exit 1; }
grep -q '^sales.orders	{"key":\["1001","2"\],.*"ts":"2024-01-15 10:30:07+00"' "$CDC_TEST_TMP/offsets.txt" ||
        { cat "$CDC_TEST_TMP/offsets.txt" >&2; exit 1; }

# Restart: nothing is sent again; a new change arrives exactly once.
cap_start "$CDC_TEST_TMP/c.json" "$CDC_TEST_TMP/dsqlcdc2.log"
cap_sql "INSERT INTO event_headers VALUES ('evt-4', 'New', 'order',
           '2024-01-15 10:32:00+00', '2024-01-15 10:32:00+00', NULL)"
cdc_wait_for 20 cdc_topic_has "$routed" 5
cap_stop
cdc_assert_eq 5 "$(cdc_topic_count "$routed")" "event_headers count after restart"
cdc_assert_eq 3 "$(cdc_topic_count "$orders")" "orders count after restart"
cap_dump "$routed" 5 | tail -1 | grep -q '^{"id":"evt-4"}	{"id":"evt-4",.*"__op":"c"' ||
        { echo "last record is not evt-4" >&2; exit 1; }
