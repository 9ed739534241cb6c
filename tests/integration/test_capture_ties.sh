#!/usr/bin/env bash
#
# 5,000 rows share one saved_date and the batch size is 1,000: a cursor on
# the timestamp alone (the Java plugin's) skips all but the first page; the
# keyset cursor delivers every row exactly once.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, event_name text,
           event_type text, created_date timestamptz, saved_date timestamptz,
           header_data jsonb)" \
        "INSERT INTO event_headers
           SELECT 'evt-' || lpad(g::text, 5, '0'), 'Tie', 'order',
                  '2024-01-15 10:30:05+00', '2024-01-15 10:30:05+00', NULL
           FROM generate_series(1, 5000) g"
topic="$CDC_TOPIC_PREFIX.public.event_headers"
cdc_kafka_cmd "topic $topic 1"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=event_headers" "dsql.batch.size=1000"
cap_start "$CDC_TEST_TMP/c.json"
cdc_wait_for 30 cdc_topic_has "$topic" 5000
cap_stop

cdc_topic_dump "$topic" 5000 | cut -f1 >"$CDC_TEST_TMP/keys"
cdc_assert_eq 5000 "$(sort -u "$CDC_TEST_TMP/keys" | wc -l)" "distinct keys"
cdc_assert_eq '{"id":"evt-00001"}' "$(head -1 "$CDC_TEST_TMP/keys")" "first key"
cdc_assert_eq '{"id":"evt-05000"}' "$(tail -1 "$CDC_TEST_TMP/keys")" "last key (key order within the tie)"
cdc_assert_eq 5000 "$(cdc_topic_count "$topic")" "messages"
