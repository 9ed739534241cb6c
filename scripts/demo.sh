#!/usr/bin/env bash
# The demo: installs what is needed, builds, starts a throwaway PostgreSQL
# standing in for DSQL with an event_headers table, runs dsqlcdc with the
# stdout sink while rows are inserted and updated, and prints the records.
# Everything it starts is stopped when it ends; its files are in .demo/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

"$root/scripts/install-deps.sh"
echo "== building (log in build.log)"
"$root/scripts/build.sh" "$root/build" >"$root/build.log" 2>&1 ||
  { tail -30 "$root/build.log" >&2; exit 1; }

demo=$root/.demo
rm -rf "$demo"
mkdir -p "$demo"
export CDC_HARNESS_DIR=$demo/harness
# shellcheck source=../tests/harness/env.sh
source "$root/tests/harness/env.sh"
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
  cdc_harness_cleanup >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== starting a throwaway PostgreSQL 15 (standing in for DSQL)"
cdc_pg_start
cdc_pg_newdb demo >/dev/null
sql() { psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres -d demo -c "$1"; }
sql "CREATE TABLE event_headers (
       id text PRIMARY KEY,
       event_name text NOT NULL,
       event_type text NOT NULL,
       created_date timestamptz NOT NULL DEFAULT now(),
       saved_date timestamptz NOT NULL DEFAULT now(),
       header_data jsonb)"
# Rows that exist before dsqlcdc starts: its first poll picks them up.
sql "INSERT INTO event_headers (id, event_name, event_type, header_data) VALUES
       ('evt-1', 'OrderPlaced', 'order', '{\"order_id\": 1001, \"amount\": 29.99}'),
       ('evt-2', 'OrderPlaced', 'order', '{\"order_id\": 1002, \"amount\": 5}')"

cat >"$demo/dsql-cdc.json" <<JSON
{
  "name": "dsql-cdc-source",
  "config": {
    "dsql.endpoint.primary": "$PGHOST",
    "dsql.port": "$PGPORT",
    "dsql.auth.mode": "password",
    "dsql.ssl.mode": "disable",
    "dsql.iam.username": "postgres",
    "dsql.database.name": "demo",
    "dsql.tables": "event_headers",
    "dsql.poll.interval.ms": "200",
    "topic.prefix": "dsql-cdc",
    "sink.type": "stdout",
    "offset.storage.file.filename": "$demo/dsqlcdc.offsets",
    "rest.listen": ""
  }
}
JSON

echo "== dsqlcdc run --config .demo/dsql-cdc.json (records below; log in .demo/dsqlcdc.log)"
"$root/build/dsqlcdc" run --config "$demo/dsql-cdc.json" \
  > >(tee "$demo/records.jsonl") 2>"$demo/dsqlcdc.log" &
daemon=$!

records() { [ -f "$demo/records.jsonl" ] && wc -l <"$demo/records.jsonl" || echo 0; }
have_records() { [ "$(records)" -ge "$1" ]; }
wait_records() {
  cdc_wait_for 30 have_records "$1" 2>/dev/null ||
    { echo "demo: only $(records) of $1 records arrived; see $demo/dsqlcdc.log" >&2; exit 1; }
}

wait_records 2
sql "INSERT INTO event_headers (id, event_name, event_type, header_data)
       VALUES ('evt-3', 'PaymentReceived', 'payment', '{\"order_id\": 1001}')"
wait_records 3
sql "UPDATE event_headers SET event_type = 'order-shipped', saved_date = now(),
       header_data = header_data || '{\"carrier\": \"UPS\"}' WHERE id = 'evt-1'"
wait_records 4

kill -TERM "$daemon"
wait "$daemon"
daemon=
echo "== dsqlcdc stopped cleanly after $(records) records; stored position:"
"$root/build/dsqlcdc" offsets show --config "$demo/dsql-cdc.json"
