#!/usr/bin/env bash
#
# The Kafka broker is down for ~10 s while rows keep coming: the daemon
# keeps reading (into the producer's queue), the stored offset does not move
# past the last record delivered before the outage, and once the broker is
# back every record arrives exactly once, in order per key (an update after
# its insert).
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"
cdc_kafka_start_private 1
source "$(dirname "$0")/resilience_lib.sh"

res_setup
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=$RES_TABLE"
cap_start "$CDC_TEST_TMP/c.json"

# Before: rows 1..500 under load, all delivered, the offset on row 500.
res_writer 1 501 0.005
res_writer_wait
res_wait_delivered 30
offset() { # "ts key" of the stored offset
        "$CDC_BIN" offsets show --config "$CDC_TEST_TMP/c.json" |
                sed -n 's/^public\.items\t.*"key":\["\([0-9]*\)"\].*"ts":"\([^"]*\)".*/\2 \1/p'
}
last_ts=$(cap_sql "SET TimeZone = 'UTC'" "SELECT saved_date FROM $RES_TABLE WHERE id = 500")
_offset_at_500() { [[ "$(offset)" == "$last_ts 500" ]]; }
cdc_wait_for 10 _offset_at_500 || { echo "offset: $(offset), wanted $last_ts 500" >&2; exit 1; }

# Down: new rows 501..1000 and updates of rows 1..100 meanwhile.
cdc_kafka_cmd "down 1"
down_ms=$(_cdc_now_ms)
res_writer 501 1001 0.005
res_update 1 101 &
updater=$!
# While it is down the offset stays on row 500, the last delivered record.
samples=0
while (($(_cdc_now_ms) < down_ms + 10000)); do
        got=$(offset)
        cdc_assert_eq "$last_ts 500" "$got" "stored offset while the broker is down"
        samples=$((samples + 1))
        sleep 0.5
done
cdc_kafka_cmd "up 1"
up_ms=$(_cdc_now_ms)
res_writer_wait
wait "$updater"
res_wait_delivered 120
cap_stop
echo "broker down $((up_ms - down_ms)) ms; offset checked $samples times"

# The daemon did read during the outage: records it produced then (their
# create time) were delivered after it.
during=$(kcat -C -q -e -b "$CDC_KAFKA_BOOTSTRAP" -t "$RES_TOPIC" -o beginning -f '%T\n' |
        awk -v a="$down_ms" -v b="$up_ms" '$1 >= a && $1 < b' | wc -l)
echo "$during records were produced while the broker was down"
((during > 0)) || { echo "nothing was read while the broker was down" >&2; exit 1; }
res_assert_exact
