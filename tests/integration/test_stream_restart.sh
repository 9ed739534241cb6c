#!/usr/bin/env bash
#
# Stream source restarts lose nothing.
#
# SIGTERM: the first half of records.jsonl is delivered, the second half is
# put and read, and the daemon is stopped inside the reorder window, so
# changes are held and the split record's main record (first half) is still
# waiting for its last fragment (second half). After a restart the topics
# hold exactly expected.md section A: nothing lost, nothing twice.
#
# kill -9 mid-stream: no clean stop, the offset file may lag. After a
# restart every change is on the topics in commit order (repeats allowed:
# at least once) and each key ends at its right value.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/stream_lib.sh"
stream_require
cdc_test_begin

stream_kinesis_start

# ---- SIGTERM with changes held and a split record half complete ----------
stream_create cdc-term 2
stream_topics
stream_config "$CDC_TEST_TMP/term.json" cdc-term stream.reorder.window.ms=2000
log1=$CDC_TEST_TMP/dsqlcdc.log
stream_put cdc-term 1 16
cap_start "$CDC_TEST_TMP/term.json" "$log1"
# Lines 1-16: 8 messages on event_headers, 5 on order_items; ev-004's main
# record (line 16) waits for fragment 1 (line 17).
cdc_wait_for 30 cdc_topic_has "$STREAM_EH" 8
cdc_wait_for 30 cdc_topic_has "$STREAM_OI" 5
stream_put cdc-term 17 31
cdc_wait_for 30 _stream_read_at_least "$log1" 31
cap_stop
grep 'this run:' "$log1" >&2
# Stopped inside the window: changes were still held (else this run did
# not test what it says).
if grep -q 'this run: .* 0 held for ordering' "$log1"; then
        echo "SIGTERM came after the reorder window: nothing was held" >&2
        exit 1
fi

log2=$CDC_TEST_TMP/dsqlcdc2.log
cap_start "$CDC_TEST_TMP/term.json" "$log2"
cdc_wait_for 30 cdc_topic_has "$STREAM_EH" "$STREAM_EH_COUNT"
cdc_wait_for 30 cdc_topic_has "$STREAM_OI" "$STREAM_OI_COUNT"
cap_stop
cdc_assert_eq "$(stream_expected_event_headers)" \
        "$(cdc_topic_dump "$STREAM_EH" "$STREAM_EH_COUNT" | stream_by_key)" \
        "event_headers after SIGTERM + restart"
cdc_assert_eq "$(stream_expected_order_items)" \
        "$(cdc_topic_dump "$STREAM_OI" "$STREAM_OI_COUNT" | stream_by_key)" \
        "order_items after SIGTERM + restart"
# The restart read again what was held, and rebuilt ev-004 from the
# fragments kept in the position plus the one read after it.
(($(stream_count_read "$log2") > 0)) || { echo "the restart read nothing again" >&2; exit 1; }
grep -q 'this run: .*1 rebuilt' "$log2" ||
        { echo "ev-004 was not rebuilt after the restart" >&2; grep 'this run' "$log1" "$log2" >&2; exit 1; }

# ---- kill -9 mid-stream ---------------------------------------------------
stream_create cdc-kill 2
STREAM_EH=$CDC_TOPIC_PREFIX.k9.public.event_headers
STREAM_OI=$CDC_TOPIC_PREFIX.k9.public.order_items
cdc_kafka_cmd "topic $STREAM_EH 1"
cdc_kafka_cmd "topic $STREAM_OI 1"
stream_config "$CDC_TEST_TMP/kill.json" cdc-kill \
        "topic.prefix=$CDC_TOPIC_PREFIX.k9" \
        "offset.storage.file.filename=$CDC_TEST_TMP/offsets-k9.json"
stream_put cdc-kill 1 20
cap_start "$CDC_TEST_TMP/kill.json" "$CDC_TEST_TMP/k9-1.log"
cdc_wait_for 30 _cdc_topic_at_least "$STREAM_EH" 3
stream_put cdc-kill 21 31
kill -KILL "$CAP_PID"
wait "$CAP_PID" 2>/dev/null || true

cap_start "$CDC_TEST_TMP/kill.json" "$CDC_TEST_TMP/k9-2.log"
# Done when every change is there (repeats are allowed).
_complete() {
        local n
        n=$(cdc_topic_count "$1") || return 1
        ((n >= $3)) || return 1
        [[ "$(cdc_topic_dump "$1" "$n" 10 | stream_by_key | stream_first_seen)" == "$2" ]]
}
cdc_wait_for 30 _complete "$STREAM_EH" "$(stream_expected_event_headers)" "$STREAM_EH_COUNT"
cdc_wait_for 30 _complete "$STREAM_OI" "$(stream_expected_order_items)" "$STREAM_OI_COUNT"
cap_stop
for t in EH OI; do
        topic=STREAM_$t
        n=$(cdc_topic_count "${!topic}")
        got=$(cdc_topic_dump "${!topic}" "$n" | stream_by_key)
        if [[ $t == EH ]]; then want=$(stream_expected_event_headers); else want=$(stream_expected_order_items); fi
        # Every change, in commit order per key (first time each appears).
        cdc_assert_eq "$want" "$(stream_first_seen <<<"$got")" "${!topic} after kill -9"
        # Each key ends where it must (a repeat only re-sends a run of
        # changes in order, so the last message per key is the right one).
        cdc_assert_eq "$(awk -F '\t' '{ last[$1] = $0 } END { for (k in last) print last[k] }' <<<"$want" | sort)" \
                "$(awk -F '\t' '{ last[$1] = $0 } END { for (k in last) print last[k] }' <<<"$got" | sort)" \
                "${!topic}: last message per key after kill -9"
done
stream_kinesis_stop
