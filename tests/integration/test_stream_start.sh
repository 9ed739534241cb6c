#!/usr/bin/env bash
#
# stream.start.position=latest: records already in the stream are not
# emitted; a stop before any new record arrived, and a record put while the
# daemon is down, must not lose that record (the position keeps where each
# shard started, and a restart reads from there, not from "latest" again).
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/stream_lib.sh"
stream_require
cdc_test_begin

stream_kinesis_start
stream_create cdc-latest 2
stream_topics
stream_put cdc-latest 1 12
# A shard's start is kept with a 1 s allowance for clock skew (so a restart
# may only repeat, never miss); let the old records fall outside it.
old_until=$(($(date +%s%3N) + 1500))
_clock_past() { (($(date +%s%3N) >= $1)); }
cdc_wait_for 5 _clock_past "$old_until"

stream_config "$CDC_TEST_TMP/c.json" cdc-latest stream.start.position=latest
log1=$CDC_TEST_TMP/dsqlcdc.log
cap_start "$CDC_TEST_TMP/c.json" "$log1"
cdc_wait_for 20 grep -q 'reading shard shardId-000000000000 from LATEST' "$log1"
cdc_wait_for 20 grep -q 'reading shard shardId-000000000001 from LATEST' "$log1"
# Both shards' starts are stored before the stop.
_starts_stored() {
        [[ "$(jq -r '.tables["stream:cdc-latest"].shards | map(select(.from_ms > 0)) | length' \
                "$CDC_TEST_TMP/offsets.json" 2>/dev/null)" == 2 ]]
}
cdc_wait_for 20 _starts_stored
cap_stop

# Put while the daemon is down: the last change of ev-005 to shard 0 and
# of order 1002 to shard 1 (kinesalite's AT_TIMESTAMP never answers for a
# shard with no record after the time).
stream_put cdc-latest 30 30 0
stream_put cdc-latest 25 25 340282366920938463463374607431768211455
log2=$CDC_TEST_TMP/dsqlcdc2.log
cap_start "$CDC_TEST_TMP/c.json" "$log2"
cdc_wait_for 30 cdc_topic_has "$STREAM_EH" 1
cdc_wait_for 30 cdc_topic_has "$STREAM_OI" 1
cap_stop
cdc_assert_eq 2 "$(grep -c 'reading shard shardId-00000000000[01] from AT_TIMESTAMP' "$log2")" \
        "shards resumed at their stored start"
cdc_assert_eq "$(stream_expected_event_headers | tail -1)" "$(cdc_topic_dump "$STREAM_EH" 1)" \
        "event_headers: only the record put while down"
cdc_assert_eq "$(stream_expected_order_items | tail -1)" "$(cdc_topic_dump "$STREAM_OI" 1)" \
        "order_items: only the record put while down"
stream_kinesis_stop
