#!/usr/bin/env bash
#
# Operating the capture with the file sink: a table whose schema is unusable
# fails alone while the others go on; `offsets reset --to-timestamp` replays
# from that time; dsql.start.mode=latest skips existing rows.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

cap_sql "CREATE TABLE good (id int PRIMARY KEY, created_date timestamptz, saved_date timestamptz)" \
        "CREATE TABLE no_ts (id int PRIMARY KEY, updated_at timestamptz)" \
        "INSERT INTO good VALUES (1, '2024-01-01 00:00:01+00', '2024-01-01 00:00:01+00'),
                                 (2, '2024-01-01 00:00:02+00', '2024-01-01 00:00:02+00'),
                                 (3, '2024-01-01 00:00:03+00', '2024-01-01 00:00:03+00')"
out=$CDC_TEST_TMP/records.jsonl
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=no_ts, good" "sink.type=file" \
        "sink.file.path=$out"
lines() { [[ -f "$out" ]] && wc -l <"$out" || echo 0; }
have_lines() { (($(lines) >= $1)); }
logged() { grep -q "$1" "$CDC_TEST_TMP/dsqlcdc.log"; }

cap_start "$CDC_TEST_TMP/c.json"
cdc_wait_for 20 have_lines 3
cdc_wait_for 20 logged 'task public.no_ts FAILED: table public.no_ts has no column "saved_date" (dsql.timestamp.column)'
cap_sql "INSERT INTO good VALUES (4, now(), now())"
cdc_wait_for 20 have_lines 4
cap_stop
cdc_assert_eq "1 2 3 4" "$(sed -E 's/.*"key":\{"id":([0-9]+)\}.*/\1/' "$out" | xargs)" "file sink keys"
grep -q '^{"topic":"'"$CDC_TOPIC_PREFIX"'.public.good","key":{"id":1},"value":{"id":1,"created_date":"2024-01-01T00:00:01Z","saved_date":"2024-01-01T00:00:01Z","__op":"c","__table":"good","__ts_ms":[0-9]*}}$' "$out" ||
        { head -1 "$out" >&2; exit 1; }

# Replay from a timestamp.
"$CDC_BIN" offsets reset --config "$CDC_TEST_TMP/c.json" --table good \
        --to-timestamp '2024-01-01 00:00:02+00' >"$CDC_TEST_TMP/reset.out"
cdc_assert_eq "public.good: reset to start at 2024-01-01 00:00:02+00" "$(cat "$CDC_TEST_TMP/reset.out")" "reset message"
cap_start "$CDC_TEST_TMP/c.json" "$CDC_TEST_TMP/dsqlcdc2.log"
cdc_wait_for 20 have_lines 7
cap_stop
cdc_assert_eq "1 2 3 4 2 3 4" "$(sed -E 's/.*"key":\{"id":([0-9]+)\}.*/\1/' "$out" | xargs)" "keys after replay"

# Forget the position, start at the latest row: nothing old is sent.
"$CDC_BIN" offsets reset --config "$CDC_TEST_TMP/c.json" --table public.good >/dev/null
cap_config "$CDC_TEST_TMP/latest.json" "dsql.tables=good" "sink.type=file" \
        "sink.file.path=$out" "dsql.start.mode=latest"
cap_start "$CDC_TEST_TMP/latest.json" "$CDC_TEST_TMP/dsqlcdc3.log"
# The position is stored once the first (empty) poll is delivered.
stored() { "$CDC_BIN" offsets show --config "$CDC_TEST_TMP/latest.json" | grep -q '^public.good'; }
cdc_wait_for 20 stored
cap_sql "INSERT INTO good VALUES (5, now(), now())"
cdc_wait_for 20 have_lines 8
cap_stop
cdc_assert_eq "1 2 3 4 2 3 4 5" "$(sed -E 's/.*"key":\{"id":([0-9]+)\}.*/\1/' "$out" | xargs)" "keys with start.mode=latest"

# Schema changes while running: an added column appears in the records, a
# dropped one disappears, and the position is kept.
cap_start "$CDC_TEST_TMP/latest.json" "$CDC_TEST_TMP/dsqlcdc4.log"
cdc_wait_for 20 stored
cap_sql "ALTER TABLE good ADD COLUMN note text" \
        "INSERT INTO good VALUES (6, now(), now(), 'added')"
cdc_wait_for 20 have_lines 9
cap_sql "ALTER TABLE good DROP COLUMN note" "INSERT INTO good VALUES (7, now(), now())"
cdc_wait_for 20 have_lines 10
cap_stop
tail -2 "$out" | sed -E 's/.*"value":(\{[^}]*\}).*/\1/; s/"(created_date|saved_date)":"[^"]*"/"\1":T/g; s/"__ts_ms":[0-9]+/"__ts_ms":TS/' >"$CDC_TEST_TMP/last2"
cdc_assert_eq '{"id":6,"created_date":T,"saved_date":T,"note":"added","__op":"c","__table":"good","__ts_ms":TS}
{"id":7,"created_date":T,"saved_date":T,"__op":"c","__table":"good","__ts_ms":TS}' "$(cat "$CDC_TEST_TMP/last2")" "records across schema changes"

# Standard output whose reader goes away: the task fails with the reason
# (EPIPE), instead of retrying a write that can never succeed, and with no
# task left the daemon stops.
cap_config "$CDC_TEST_TMP/stdout.json" "dsql.tables=good" "sink.type=stdout" \
        "offset.storage.file.filename=$CDC_TEST_TMP/stdout-offsets.json"
mkfifo "$CDC_TEST_TMP/out.fifo"
head -n 2 <"$CDC_TEST_TMP/out.fifo" >"$CDC_TEST_TMP/head.out" &
"$CDC_BIN" run --config "$CDC_TEST_TMP/stdout.json" >"$CDC_TEST_TMP/out.fifo" \
        2>"$CDC_TEST_TMP/dsqlcdc5.log" </dev/null &
CAP_PID=$!
_CDC_SPAWNED+=("$CAP_PID") # stopped by the harness if a check below fails
epipe='task public.good FAILED: standard output was closed (EPIPE): nothing reads the records any more; restart with a reader attached'
# Each poll with a new row writes to the pipe; the first write after head
# left fails, and the next record fails the task.
new_row_until_failed() {
        cap_sql "INSERT INTO good SELECT max(id) + 1, now(), now() FROM good"
        grep -qF "$epipe" "$CDC_TEST_TMP/dsqlcdc5.log"
}
cdc_wait_for 20 new_row_until_failed
cdc_assert_eq 2 "$(wc -l <"$CDC_TEST_TMP/head.out")" "records the reader took"
if grep -q 'failed: Success' "$CDC_TEST_TMP/dsqlcdc5.log"; then
        echo "a write error was reported as 'Success'" >&2
        exit 1
fi
# Its only task failed and nothing (no REST API) could restart it: it exits.
rc=0
wait "$CAP_PID" || rc=$?
cdc_assert_eq 1 "$rc" "exit status with every task failed"
grep -qF 'stopped: every table'"'"'s task has failed' "$CDC_TEST_TMP/dsqlcdc5.log" ||
        { tail -3 "$CDC_TEST_TMP/dsqlcdc5.log" >&2; exit 1; }
