#!/usr/bin/env bash
#
# Bounded memory: catching up a 1,000,000-row backlog to Kafka, the daemon's
# peak RSS stays under a generous bound (the benchmark tracks the real
# target), and every row is delivered.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"
if [[ "${CDC_SANITIZE:-0}" == 1 ]]; then
        # AddressSanitizer's shadow memory and quarantine dwarf the daemon's.
        echo "skipped: peak RSS means nothing in a sanitizer build"
        exit 77
fi

rows=${CDC_MEMORY_ROWS:-1000000}
limit_kb=$((100 * 1024))
cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, event_name text,
           event_type text, created_date timestamptz, saved_date timestamptz,
           header_data jsonb)" \
        "INSERT INTO event_headers
           SELECT 'evt-' || g, 'OrderPlaced', 'order',
                  '2024-01-01'::timestamptz + (g / 3) * interval '1 ms',
                  '2024-01-01'::timestamptz + (g / 3) * interval '1 ms',
                  jsonb_build_object('order_id', g, 'pad', repeat('x', 150))
           FROM generate_series(1, $rows) g" \
        "CREATE INDEX ON event_headers (saved_date, id)"
topic="$CDC_TOPIC_PREFIX.public.event_headers"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=event_headers"
cap_start "$CDC_TEST_TMP/c.json"
all_delivered() { (($(cdc_topic_count "$topic") >= rows)); }
cdc_wait_for 300 all_delivered
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$CAP_PID/status")
cap_stop
cdc_assert_eq "$rows" "$(cdc_topic_count "$topic")" "records on the topic"
echo "memory: peak RSS ${hwm_kb} kB for $rows rows (bound ${limit_kb} kB)"
((hwm_kb < limit_kb)) || { echo "peak RSS ${hwm_kb} kB exceeds ${limit_kb} kB" >&2; exit 1; }
