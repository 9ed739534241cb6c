#!/usr/bin/env bash
#
# Concurrent writers with transactions of random length (inserts and
# updates, each stamped with now() = its start time), the daemon killed with
# SIGKILL five times along the way, then an independent check of the topic
# against the history the writers kept:
#   - every key's final version is on the topic (nothing lost),
#   - every version on the topic was committed (nothing invented),
#   - per key, versions appear in commit order (never older after newer),
#   - after a graceful restart nothing is sent again.
# Versions overwritten before any poll could see them cannot be captured by a
# query-based source; they are not required.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

writers=${CDC_WORKLOAD_WRITERS:-8}
txns=${CDC_WORKLOAD_TXNS:-60}      # per writer; ~1 s each on average
cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, event_name text,
           event_type text, created_date timestamptz NOT NULL,
           saved_date timestamptz NOT NULL, header_data jsonb,
           version int NOT NULL)"
topic="$CDC_TOPIC_PREFIX.public.event_headers"
cdc_kafka_cmd "topic $topic 1"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=event_headers" \
        "dsql.lookback.ms=6000" "dsql.rescan.interval.ms=500" \
        "dsql.batch.size=50"

# One writer: a psql session fed a script of transactions; it reports each
# committed version on stdout ("done|key|version"), which is the history.
writer() {
        local w=$1 i key v n=0
        local -A ver=()
        RANDOM=$((w * 7919))
        for ((i = 0; i < txns; i++)); do
                if ((n < 12 && (n == 0 || RANDOM % 3 == 0))); then
                        key="w$w-$n"
                        n=$((n + 1))
                        ver[$key]=1
                        echo "BEGIN;"
                        echo "INSERT INTO event_headers VALUES ('$key', 'E', 'insert', now(), now(), '{\"w\": $w}', 1);"
                else
                        key="w$w-$((RANDOM % n))"
                        ver[$key]=$((ver[$key] + 1))
                        echo "BEGIN;"
                        echo "UPDATE event_headers SET version = ${ver[$key]}, saved_date = now(), event_type = 'update' WHERE id = '$key';"
                fi
                printf "SELECT pg_sleep(%d.%02d);\n" $((RANDOM % 2)) $((RANDOM % 100))
                echo "COMMIT;"
                echo "SELECT 'done', '$key', ${ver[$key]};"
        done | psql -XAtq -v ON_ERROR_STOP=1 | grep '^done|' >"$CDC_TEST_TMP/history.$w"
}

cap_start "$CDC_TEST_TMP/c.json" "$CDC_TEST_TMP/run0.log"
pids=()
for ((w = 1; w <= writers; w++)); do
        writer "$w" &
        pids+=($!)
done

# Kill -9 five times, each after the topic grew by at least 20 records.
grown() { (($(cdc_topic_count "$topic") >= $1)); }
for run in 1 2 3 4 5; do
        cdc_wait_for 120 grown $(($(cdc_topic_count "$topic") + 20))
        kill -KILL "$CAP_PID"
        wait "$CAP_PID" 2>/dev/null || true
        cap_start "$CDC_TEST_TMP/c.json" "$CDC_TEST_TMP/run$run.log"
done
for p in "${pids[@]}"; do
        wait "$p"
done
cat "$CDC_TEST_TMP"/history.* >"$CDC_TEST_TMP/history"
total=$(wc -l <"$CDC_TEST_TMP/history")
((total == writers * txns)) || { echo "writers committed $total of $((writers * txns))" >&2; exit 1; }

# Final version per key, from the writers' history.
awk -F'|' '{ if ($3 > last[$2]) last[$2] = $3 } END { for (k in last) print k "|" last[k] }' \
        "$CDC_TEST_TMP/history" | sort >"$CDC_TEST_TMP/final"

consume() {
        kcat -C -b "$CDC_KAFKA_BOOTSTRAP" -t "$topic" -o beginning -e -q \
                -f '%k\t%s\n' 2>/dev/null |
                sed -E 's/^\{"id":"([^"]*)"\}\t.*"version":([0-9]+).*/\1|\2/' >"$CDC_TEST_TMP/seen"
}
finals_present() {
        consume
        sort -u "$CDC_TEST_TMP/seen" | comm -23 "$CDC_TEST_TMP/final" - | grep -q . && return 1
        return 0
}
cdc_wait_for 60 finals_present

# Let the watermark reach the newest row: no re-scan can still add records.
max_ts=$(cap_sql "SELECT max(saved_date) FROM event_headers")
w_past_all() {
        local w
        w=$("$CDC_BIN" offsets show --config "$CDC_TEST_TMP/c.json" | sed -n 's/.*"w":"\([^"]*\)".*/\1/p')
        [[ -n "$w" ]] && [[ "$(cap_sql "SELECT '$w'::timestamptz >= '$max_ts'::timestamptz")" == t ]]
}
cdc_wait_for 60 w_past_all
cap_stop
consume

# Nothing invented: every (key, version) on the topic was committed.
sort -u "$CDC_TEST_TMP/history" | sed 's/^done|//' >"$CDC_TEST_TMP/committed"
invented=$(sort -u "$CDC_TEST_TMP/seen" | comm -23 - "$CDC_TEST_TMP/committed")
cdc_assert_eq "" "$invented" "versions on the topic that were never committed"
# Commit order per key: a version never follows a newer one.
disorder=$(awk -F'|' '{ if ($2 + 0 < last[$1]) print; if ($2 + 0 > last[$1]) last[$1] = $2 + 0 }' "$CDC_TEST_TMP/seen")
cdc_assert_eq "" "$disorder" "versions out of commit order"
dups=$(($(wc -l <"$CDC_TEST_TMP/seen") - $(sort -u "$CDC_TEST_TMP/seen" | wc -l)))
echo "workload: $total transactions, $(wc -l <"$CDC_TEST_TMP/final") keys, $(wc -l <"$CDC_TEST_TMP/seen") records, $dups re-sent after the 5 SIGKILLs"

# After a graceful stop, a restart sends nothing again.
before=$(cdc_topic_count "$topic")
cap_sql "INSERT INTO event_headers VALUES ('marker', 'M', 'insert', now(), now(), NULL, 1)"
cap_start "$CDC_TEST_TMP/c.json" "$CDC_TEST_TMP/final.log"
cdc_wait_for 30 grown $((before + 1))
max_ts=$(cap_sql "SELECT max(saved_date) FROM event_headers")
cdc_wait_for 60 w_past_all
cap_stop
cdc_assert_eq $((before + 1)) "$(cdc_topic_count "$topic")" "records after a graceful restart"
