#!/usr/bin/env bash
#
# `dsqlcdc check` against a real PostgreSQL and Kafka: one line per check,
# ✔/⚠/✘ with the fix, and a non-zero exit on any ✘.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

cap_sql "CREATE TABLE event_headers (id text PRIMARY KEY, created_date timestamptz,
           saved_date timestamptz)" \
        "CREATE INDEX ON event_headers (saved_date, id)" \
        "CREATE TABLE no_index (id int PRIMARY KEY, saved_date timestamptz)" \
        "CREATE TABLE no_ts (id int PRIMARY KEY, updated_at timestamptz)" \
        "DO \$\$ BEGIN CREATE ROLE check_noread LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$"
topic="$CDC_TOPIC_PREFIX.public.event_headers"
cdc_kafka_cmd "topic $topic 1"

# run_check CONFIG: sets rc and out (the check lines, port and prefix masked).
run_check() {
        set +e
        "$CDC_BIN" check --config "$1" >"$CDC_TEST_TMP/out" 2>"$CDC_TEST_TMP/err"
        rc=$?
        set -e
        out=$(grep -E '^(✔|⚠|✘) ' "$CDC_TEST_TMP/out" | grep -v '^✔ configuration' |
                sed "s/$PGPORT/PORT/; s/$CDC_TOPIC_PREFIX/PREFIX/g" || true)
}

cap_config "$CDC_TEST_TMP/good.json" "dsql.tables=event_headers, no_index"
run_check "$CDC_TEST_TMP/good.json"
cdc_assert_eq "✔ Kafka at $CDC_KAFKA_BOOTSTRAP: 1 broker(s) answer
✔ database 127.0.0.1:PORT (sslmode disable) as postgres
✔ table public.event_headers: readable, cursor column saved_date
✔ topic PREFIX.public.event_headers exists
✔ table public.no_index: readable, cursor column saved_date
⚠ table public.no_index: no index starts with saved_date; each poll scans the table. Create one: CREATE INDEX ASYNC ON public.no_index (saved_date, <key columns>)
⚠ topic PREFIX.public.no_index does not exist: create it, or allow the cluster to create it (auto.create.topics.enable)
✔ all checks passed" "$out" "check of a good config"
cdc_assert_eq 0 "$rc" "exit status of a good check"

cap_config "$CDC_TEST_TMP/bad.json" "dsql.tables=nope, no_ts"
run_check "$CDC_TEST_TMP/bad.json"
cdc_assert_eq "✔ Kafka at $CDC_KAFKA_BOOTSTRAP: 1 broker(s) answer
✔ database 127.0.0.1:PORT (sslmode disable) as postgres
✘ table public.nope not found (or not visible to role postgres); check dsql.tables and dsql.schema
✘ table public.no_ts has no column \"saved_date\" (dsql.timestamp.column); set it to the column every write stamps
✘ check failed: fix the ✘ lines above" "$out" "check of missing table and column"
cdc_assert_eq 3 "$rc" "exit status of a failed check"

cap_config "$CDC_TEST_TMP/noread.json" "dsql.tables=event_headers" "dsql.iam.username=check_noread"
run_check "$CDC_TEST_TMP/noread.json"
grep -qx '✘ reading public.event_headers: permission denied (ERROR: permission denied for table event_headers); GRANT SELECT on the table to the role in dsql.iam.username' <<<"$out" ||
        { echo "$out" >&2; exit 1; }
cdc_assert_eq 3 "$rc" "exit status without SELECT permission"

cap_config "$CDC_TEST_TMP/nokafka.json" "dsql.tables=event_headers" "kafka.bootstrap.servers=127.0.0.1:1"
run_check "$CDC_TEST_TMP/nokafka.json"
grep -q '^✘ Kafka at 127.0.0.1:1: no metadata from the brokers within' <<<"$out" || { echo "$out" >&2; exit 1; }
cdc_assert_eq 3 "$rc" "exit status without Kafka"

cap_config "$CDC_TEST_TMP/nodb.json" "dsql.tables=event_headers" "dsql.port=1" "sink.type=stdout"
run_check "$CDC_TEST_TMP/nodb.json"
grep -q '^✘ database: .*cannot connect.* as postgres: .*port 1 failed: Connection refused' <<<"$out" || { echo "$out" >&2; exit 1; }
cdc_assert_eq 3 "$rc" "exit status without a database"
