#!/usr/bin/env bash
#
# A transaction stamps its row with now() (its start time) and commits only
# after later-stamped rows were captured: the fast cursor has passed it, and
# the re-scan must deliver it, once, also across a restart.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, event_name text,
           event_type text, created_date timestamptz NOT NULL DEFAULT now(),
           saved_date timestamptz NOT NULL DEFAULT now(), header_data jsonb)"
topic="$CDC_TOPIC_PREFIX.public.event_headers"
cdc_kafka_cmd "topic $topic 1"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=event_headers" \
        "dsql.lookback.ms=4000" "dsql.rescan.interval.ms=300"
cap_start "$CDC_TEST_TMP/c.json"

# The slow writer: a psql session we drive line by line.
coproc LATE { psql -XAtq -v ON_ERROR_STOP=1 2>&1; }
say() { echo "$1" >&"${LATE[1]}"; }
hear() { local line; read -r -t 10 line <&"${LATE[0]}" && [[ "$line" == "$1" ]] || { echo "slow writer said '$line', want '$1'" >&2; return 1; }; }
say "BEGIN; INSERT INTO event_headers (id, event_name, event_type) VALUES ('late', 'Late', 'order'); SELECT 'inserted';"
hear inserted

for i in 1 2 3 4 5; do
        cap_sql "INSERT INTO event_headers (id, event_name, event_type) VALUES ('after-$i', 'After', 'order')"
done
cdc_wait_for 20 cdc_topic_has "$topic" 5
say "COMMIT; SELECT 'committed';"
hear committed

cdc_wait_for 20 cdc_topic_has "$topic" 6
cdc_assert_eq '{"id":"late"}' "$(cdc_topic_dump "$topic" 6 | tail -1 | cut -f1)" "the late row"

# Wait until the safe watermark has passed the late row: from then on no
# re-scan reads it again, so the count is final.
w_past_late() {
        local w
        w=$("$CDC_BIN" offsets show --config "$CDC_TEST_TMP/c.json" | sed -n 's/.*"w":"\([^"]*\)".*/\1/p')
        [[ -n "$w" ]] && [[ "$(cap_sql "SELECT '$w'::timestamptz > saved_date FROM event_headers WHERE id = 'late'")" == t ]]
}
cdc_wait_for 30 w_past_late
cdc_assert_eq 6 "$(cdc_topic_count "$topic")" "each row exactly once"
cap_stop

# A restart re-reads the window behind the cursor and must not re-send.
cap_sql "INSERT INTO event_headers (id, event_name, event_type) VALUES ('marker', 'M', 'order')"
cap_start "$CDC_TEST_TMP/c.json" "$CDC_TEST_TMP/dsqlcdc2.log"
cdc_wait_for 20 cdc_topic_has "$topic" 7
cdc_wait_for 30 w_past_late
cap_stop
cdc_assert_eq 7 "$(cdc_topic_count "$topic")" "nothing re-sent after restart"
