#!/usr/bin/env bash
#
# Stream source end to end, no database: every line of records.jsonl put on
# a two-shard Kinesis stream (kinesalite) in file order with random
# partition keys, so duplicates, out-of-order versions and the fragments of
# the split record land on different shards. The topics must hold exactly
# expected.md section A in the flat format (per key, in commit order, each
# delete followed by a tombstone); the delete on the table without a primary
# key is skipped and counted; the stored position covers both shards and
# holds no fragments once the split record is delivered; a restart sends
# nothing again and picks up a new change exactly once.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/stream_lib.sh"
stream_require
cdc_test_begin

stream_kinesis_start
stream_create cdc-records 2
stream_put cdc-records
stream_topics
stream_config "$CDC_TEST_TMP/c.json" cdc-records
cap_start "$CDC_TEST_TMP/c.json"
cdc_wait_for 30 cdc_topic_has "$STREAM_EH" "$STREAM_EH_COUNT"
cdc_wait_for 30 cdc_topic_has "$STREAM_OI" "$STREAM_OI_COUNT"
cap_stop

cdc_assert_eq "$(stream_expected_event_headers)" \
        "$(cdc_topic_dump "$STREAM_EH" "$STREAM_EH_COUNT" | stream_by_key)" \
        "event_headers topic, per key"
cdc_assert_eq "$(stream_expected_order_items)" \
        "$(cdc_topic_dump "$STREAM_OI" "$STREAM_OI_COUNT" | stream_by_key)" \
        "order_items topic, per key"
# The audit_log delete has no key: skipped, said so, counted; no topic.
cdc_assert_eq 0 "$(cdc_topic_count "$CDC_TOPIC_PREFIX.public.audit_log")" "audit_log messages"
log=$CDC_TEST_TMP/dsqlcdc.log
grep -q 'skipped a delete on public.audit_log: the table has no primary key' "$log" ||
        { echo "no log line for the skipped audit_log delete" >&2; cat "$log" >&2; exit 1; }
grep -q 'this run: 31 record(s) read (4 fragments, 1 rebuilt), 21 change(s) emitted, 5 duplicate(s), 0 stale, 0 too old, 0 filtered, 1 delete(s) without a key skipped, 0 unkeyable, 0 malformed' "$log" ||
        { echo "final counts differ:" >&2; grep 'this run' "$log" >&2; exit 1; }
# Both shards were read from their start.
cdc_assert_eq 2 "$(grep -c 'reading shard shardId-00000000000[01] from TRIM_HORIZON' "$log")" "shards read"

# The position: a sequence number per shard, the rebuilt chunk let go.
"$CDC_BIN" offsets show --config "$CDC_TEST_TMP/c.json" >"$CDC_TEST_TMP/offsets.txt"
pos=$(awk -F '\t' '$1 == "stream:cdc-records" { print $2 }' "$CDC_TEST_TMP/offsets.txt")
[[ -n $pos ]] || { cat "$CDC_TEST_TMP/offsets.txt" >&2; exit 1; }
cdc_assert_eq "2 0 k5m2ttd7q3xw6bz4hn8ye1rc0a 8" \
        "$(jq -r '"\(.shards | map(select(.seq | test("^[0-9]+$"))) | length) \(.reassembly.chunks | length) \(.released | join(",")) \(.reorder.keys | length)"' <<<"$pos")" \
        "stored position (shards with seq, chunks held, released, keys)"

# Restart: nothing again; a new change of ev-005 arrives once, after.
cat >"$CDC_TEST_TMP/new.jsonl" <<'REC'
{"type":"full","op":"u","before":null,"after":{"id":"ev-005","event_name":"heartbeat","event_type":"system","created_date":1783674014400000,"saved_date":1783674020000000,"header_data":"{\"v\":9}"},"source":{"version":"1.0","ts_ms":1783674020000,"ts_ns":1783674020000000001,"txId":"llnew2hij3klm4nop5qrs6tuv7","schema":"public","table":"event_headers","db":"postgres","cluster":"q4abtu3hnlr5c2mvxk7ydwegzi"},"ts_ms":1783674020100,"ts_ns":1783674020100000000}
REC
cap_start "$CDC_TEST_TMP/c.json" "$CDC_TEST_TMP/dsqlcdc2.log"
kin put cdc-records "$CDC_TEST_TMP/new.jsonl"
cdc_wait_for 30 cdc_topic_has "$STREAM_EH" $((STREAM_EH_COUNT + 1))
cap_stop
cdc_assert_eq 8 "$(cdc_topic_count "$STREAM_OI")" "order_items count after restart"
cdc_assert_eq '{"id":"ev-005"}	{"id":"ev-005","event_name":"heartbeat","event_type":"system","created_date":1783674014400000,"saved_date":1783674020000000,"header_data":"{\"v\":9}","__op":"u","__table":"event_headers","__ts_ms":1783674020100}' \
        "$(cdc_topic_dump "$STREAM_EH" $((STREAM_EH_COUNT + 1)) | tail -1)" "new change after restart"
grep -q 'reading shard shardId-000000000000 from AFTER_SEQUENCE_NUMBER' "$CDC_TEST_TMP/dsqlcdc2.log" ||
        { echo "the restart did not resume after the stored sequence number" >&2; exit 1; }

# Debezium envelope, same stream from the start: a delete's before holds
# exactly the key columns, after is null, and a tombstone follows.
dbz_eh=$CDC_TOPIC_PREFIX.dbz.public.event_headers
dbz_oi=$CDC_TOPIC_PREFIX.dbz.public.order_items
cdc_kafka_cmd "topic $dbz_eh 1"
cdc_kafka_cmd "topic $dbz_oi 1"
stream_config "$CDC_TEST_TMP/dbz.json" cdc-records record.format=debezium \
        "topic.prefix=$CDC_TOPIC_PREFIX.dbz" \
        "offset.storage.file.filename=$CDC_TEST_TMP/dbz-offsets.json"
cap_start "$CDC_TEST_TMP/dbz.json" "$CDC_TEST_TMP/dbz.log"
cdc_wait_for 30 cdc_topic_has "$dbz_eh" $((STREAM_EH_COUNT + 1))
cdc_wait_for 30 cdc_topic_has "$dbz_oi" "$STREAM_OI_COUNT"
cap_stop
deletes=$({ cdc_topic_dump "$dbz_eh" $((STREAM_EH_COUNT + 1)); cdc_topic_dump "$dbz_oi" "$STREAM_OI_COUNT"; } |
        stream_by_key | awk -F '\t' '
                d != "" { print d "\t" ($0 == k "\tNULL" ? "tombstone" : "NO-TOMBSTONE"); d = "" }
                $2 ~ /"op":"d"/ { k = $1; d = $0 }' |
        while IFS=$'\t' read -r key val tomb; do
                echo "$key $(jq -c .before <<<"$val") $(jq -c .after <<<"$val") $tomb"
        done)
cdc_assert_eq '{"id":"ev-001"} {"id":"ev-001"} null tombstone
{"id":"ev-003"} {"id":"ev-003"} null tombstone
{"order_id":1001,"item_id":2} {"order_id":1001,"item_id":2} null tombstone' "$deletes" \
        "Debezium deletes (key, before, after, then)"
stream_kinesis_stop
