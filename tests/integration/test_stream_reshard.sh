#!/usr/bin/env bash
#
# Stream source across resharding: while records flow into a two-shard
# stream, shard 0 is split (SplitShard) and later its two children are
# merged (MergeShards). Every change must reach Kafka exactly once, in
# commit order per key, none dropped as stale; and every child shard is
# read only after its parents were read to their end.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/stream_lib.sh"
stream_require
cdc_test_begin

N=600 KEYS=20
stream_kinesis_start
stream_create cdc-reshard 2
topic=$CDC_TOPIC_PREFIX.public.items
cdc_kafka_cmd "topic $topic 1"
stream_config "$CDC_TEST_TMP/c.json" cdc-reshard "message.key.columns=public.items:id"
log=$CDC_TEST_TMP/dsqlcdc.log
cap_start "$CDC_TEST_TMP/c.json" "$log"
cdc_wait_for 20 grep -q 'reading shard shardId-000000000001' "$log"

kin flow cdc-reshard "$N" "$KEYS" 200 400 "$CDC_TEST_TMP/expected.txt"
cdc_wait_for 60 cdc_topic_has "$topic" "$N"
cap_stop

cdc_assert_eq "$(stream_by_key <"$CDC_TEST_TMP/expected.txt")" \
        "$(cdc_topic_dump "$topic" "$N" | stream_by_key)" "items topic, per key"
grep -q "this run: $N record(s) read (0 fragments, 0 rebuilt), $N change(s) emitted, 0 duplicate(s), 0 stale" "$log" ||
        { echo "unexpected counts:" >&2; grep 'this run' "$log" >&2; exit 1; }

# Lineage: 0 -> 2 + 3 (split), 2 + 3 -> 4 (merge); 1 stays open.
lineage=$(kin call ListShards '{"StreamName":"cdc-reshard"}' |
        jq -r '.Shards[] | [.ShardId, (.ParentShardId // "-"), (.AdjacentParentShardId // "-")] | join(" ")')
cdc_assert_eq "shardId-000000000000 - -
shardId-000000000001 - -
shardId-000000000002 shardId-000000000000 -
shardId-000000000003 shardId-000000000000 -
shardId-000000000004 shardId-000000000002 shardId-000000000003" "$lineage" "shard lineage"
# Parents drained before their children are read.
line_of() {
        grep -n -m1 -F "$1" "$log" | cut -d: -f1
}
while read -r child parent adjacent; do
        [[ $parent == - ]] && continue
        c=$(line_of "reading shard $child from")
        [[ -n $c ]] || { echo "child $child was never read" >&2; exit 1; }
        for p in "$parent" "$adjacent"; do
                [[ $p == - ]] && continue
                e=$(line_of "shard $p is read to its end")
                [[ -n $e ]] || { echo "parent $p was never read to its end" >&2; exit 1; }
                ((e < c)) || { echo "$child read (log line $c) before parent $p ended (line $e)" >&2; exit 1; }
        done
done <<<"$lineage"
grep -q 'reading shard shardId-000000000004 from TRIM_HORIZON' "$log" ||
        { echo "the merged child was not read from its start" >&2; exit 1; }

# Restart: finished parents stay finished (not read again), the open shards
# resume after their stored sequence numbers, and nothing is sent again.
cat >"$CDC_TEST_TMP/new.jsonl" <<'REC'
{"type":"full","op":"u","before":null,"after":{"id":"k000","v":31,"note":"after restart"},"source":{"version":"1.0","ts_ms":1783680001000,"ts_ns":1783680001000000000,"txId":"txnew","schema":"public","table":"items","db":"postgres","cluster":"c1"},"ts_ms":1783680001007,"ts_ns":1783680001007000000}
REC
log2=$CDC_TEST_TMP/dsqlcdc2.log
cap_start "$CDC_TEST_TMP/c.json" "$log2"
cdc_wait_for 20 grep -q 'reading shard shardId-000000000004 from AFTER_SEQUENCE_NUMBER' "$log2"
cdc_wait_for 20 grep -q 'reading shard shardId-000000000001 from AFTER_SEQUENCE_NUMBER' "$log2"
kin put cdc-reshard "$CDC_TEST_TMP/new.jsonl"
cdc_wait_for 30 cdc_topic_has "$topic" $((N + 1))
cap_stop
if grep -E 'reading shard shardId-00000000000[023] ' "$log2" >&2; then
        echo "a finished shard was read again after the restart" >&2
        exit 1
fi
grep -q '5 shard(s), 3 finished, 2 readable now' "$log2" ||
        { echo "the restart did not restore the finished shards" >&2; exit 1; }
cdc_assert_eq '{"id":"k000"}	{"id":"k000","v":31,"note":"after restart","__op":"u","__table":"items","__ts_ms":1783680001007}' \
        "$(cdc_topic_dump "$topic" $((N + 1)) | tail -1)" "the change after the restart"
stream_kinesis_stop
