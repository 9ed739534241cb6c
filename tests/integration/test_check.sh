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

# run_check CONFIG: sets rc and out (the check lines and which endpoint the
# tables were checked on; ports, PORT2 for the second server's, and prefix
# masked).
run_check() {
        local mask="s/$PGPORT/PORT/g; s/$CDC_TOPIC_PREFIX/PREFIX/g"
        [[ -n "${CDC_PG_SECOND_PORT:-}" ]] && mask+="; s/$CDC_PG_SECOND_PORT/PORT2/g"
        set +e
        "$CDC_BIN" check --config "$1" >"$CDC_TEST_TMP/out" 2>"$CDC_TEST_TMP/err"
        rc=$?
        set -e
        out=$(grep -E '^(✔|⚠|✘) |^  checking the tables ' "$CDC_TEST_TMP/out" |
                grep -v '^✔ configuration' | sed "$mask" || true)
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

# ---- dsql.endpoint.secondary: connected to on its own (never by failing
# over), one line per endpoint; the tables are checked once, on the first
# endpoint that answered. The second server has the same database and table
# but no index on it, so its ⚠ shows where the table checks ran.
cdc_pg_start_extra second
second="127.0.0.1:$CDC_PG_SECOND_PORT"
createdb -p "$CDC_PG_SECOND_PORT" "$PGDATABASE"
psql -XAtq -v ON_ERROR_STOP=1 -p "$CDC_PG_SECOND_PORT" \
        -c "CREATE TABLE event_headers (id text PRIMARY KEY, created_date timestamptz, saved_date timestamptz)"
refused="Connection refused Is the server running on that host and accepting TCP/IP connections?"

cap_config "$CDC_TEST_TMP/sec.json" "dsql.tables=event_headers" "sink.type=stdout" \
        "dsql.endpoint.secondary=$second"
run_check "$CDC_TEST_TMP/sec.json"
cdc_assert_eq "✔ database 127.0.0.1:PORT (sslmode disable) as postgres
✔ database secondary 127.0.0.1:PORT2 (sslmode disable) as postgres
  checking the tables on the primary, 127.0.0.1:PORT
✔ table public.event_headers: readable, cursor column saved_date
✔ all checks passed" "$out" "check with a secondary that answers"
cdc_assert_eq 0 "$rc" "exit status with a secondary that answers"

cap_config "$CDC_TEST_TMP/secdown.json" "dsql.tables=event_headers" "sink.type=stdout" \
        "dsql.endpoint.secondary=127.0.0.1:1"
run_check "$CDC_TEST_TMP/secdown.json"
cdc_assert_eq "✔ database 127.0.0.1:PORT (sslmode disable) as postgres
✘ database: secondary 127.0.0.1:1: cannot connect as postgres: connection to server at \"127.0.0.1\", port 1 failed: $refused; check dsql.endpoint.secondary and dsql.port, and that the server is up and reachable from here (a failover to it would fail the same way)
  checking the tables on the primary, 127.0.0.1:PORT
✔ table public.event_headers: readable, cursor column saved_date
✘ check failed: fix the ✘ lines above" "$out" "check with a secondary on a closed port"
cdc_assert_eq 3 "$rc" "exit status with a secondary on a closed port"

# A secondary without the role refuses the login. The secondary's port
# comes from dsql.port here: its line names it all the same. The role may
# only SELECT, and its table's primary key is found all the same.
cap_sql "DO \$\$ BEGIN CREATE ROLE check_primary_only LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" \
        "GRANT SELECT ON event_headers TO check_primary_only"
cap_config "$CDC_TEST_TMP/secrole.json" "dsql.tables=event_headers" "sink.type=stdout" \
        "dsql.endpoint.primary=127.0.0.1:$PGPORT" "dsql.port=$CDC_PG_SECOND_PORT" \
        "dsql.endpoint.secondary=127.0.0.1" "dsql.iam.username=check_primary_only"
run_check "$CDC_TEST_TMP/secrole.json"
cdc_assert_eq "✔ database 127.0.0.1:PORT (sslmode disable) as check_primary_only
✘ database: secondary 127.0.0.1:PORT2: the server rejected the password as check_primary_only: connection to server at \"127.0.0.1\", port PORT2 failed: FATAL: role \"check_primary_only\" does not exist; check dsql.password and dsql.iam.username
  checking the tables on the primary, 127.0.0.1:PORT
✔ table public.event_headers: readable, cursor column saved_date
✘ check failed: fix the ✘ lines above" "$out" "check with a secondary that refuses the login"
cdc_assert_eq 3 "$rc" "exit status with a secondary that refuses the login"

# Primary down: its own ✘ (failing over after one failure would have put
# the secondary's address on the primary's line), then the secondary, which
# the tables are checked on.
cap_config "$CDC_TEST_TMP/pridown.json" "dsql.tables=event_headers" "sink.type=stdout" \
        "dsql.endpoint.primary=127.0.0.1:1" "dsql.endpoint.secondary=$second" \
        "dsql.failover.after.failures=1"
run_check "$CDC_TEST_TMP/pridown.json"
cdc_assert_eq "✘ database: primary 127.0.0.1:1: cannot connect as postgres: connection to server at \"127.0.0.1\", port 1 failed: $refused; check dsql.endpoint.primary and dsql.port, and that the server is up and reachable from here
✔ database secondary 127.0.0.1:PORT2 (sslmode disable) as postgres
  checking the tables on the secondary, 127.0.0.1:PORT2
✔ table public.event_headers: readable, cursor column saved_date
⚠ table public.event_headers: no index starts with saved_date; each poll scans the table. Create one: CREATE INDEX ASYNC ON public.event_headers (saved_date, <key columns>)
✘ check failed: fix the ✘ lines above" "$out" "check with the primary down and the secondary up"
cdc_assert_eq 3 "$rc" "exit status with the primary down"
