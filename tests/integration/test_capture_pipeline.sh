#!/usr/bin/env bash
#
# Catch-up with the next pages queued on the connection: after a full page,
# the page after it and, behind it in the same pipeline, the page after
# that (the same rows from the batch.size-th on, OFFSET). A queued page is
# used only when its first row is the last row read. 2,450 rows in groups
# of 7 sharing a saved_date, batch.size 100: page edges fall inside ties.
# Checked: every row exactly once and in (saved_date, id) order, and the
# server's statement log shows the queued pages were read (and no page
# twice): the feature is in use, not only harmless. Then a queued page
# that does not fit, made so deterministically (below).
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

rows=2450
# The server log from here on (an earlier run may have used this database).
log_from=$(($(stat -c %s "$CDC_PG_LOG") + 1))
server_log() { tail -c "+$log_from" "$CDC_PG_LOG"; }
cap_sql "ALTER DATABASE \"$PGDATABASE\" SET log_statement = 'all'" \
        "CREATE TABLE pipe_events (id text PRIMARY KEY, event_name text,
           event_type text, created_date timestamptz, saved_date timestamptz,
           header_data jsonb)" \
        "INSERT INTO pipe_events
           SELECT 'evt-' || lpad(g::text, 5, '0'), 'Piped', 'order',
                  '2024-01-15 10:00:00+00'::timestamptz + (g / 7) * interval '1 second',
                  '2024-01-15 10:00:00+00'::timestamptz + (g / 7) * interval '1 second',
                  jsonb_build_object('n', g)
           FROM generate_series(1, $rows) g"
topic="$CDC_TOPIC_PREFIX.public.pipe_events"
cdc_kafka_cmd "topic $topic 1"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=pipe_events" "dsql.batch.size=100" \
        "dsql.rescan.interval.ms=600000"
cap_start "$CDC_TEST_TMP/c.json"
cdc_wait_for 30 cdc_topic_has "$topic" "$rows"
cap_stop

cdc_topic_dump "$topic" "$rows" | cut -f1 >"$CDC_TEST_TMP/keys"
cap_sql "SELECT '{\"id\":\"' || id || '\"}' FROM pipe_events ORDER BY saved_date, id" \
        >"$CDC_TEST_TMP/expected"
cdc_assert_eq "$rows" "$(cdc_topic_count "$topic")" "messages"
cdc_assert_eq "" "$(diff "$CDC_TEST_TMP/expected" "$CDC_TEST_TMP/keys" | head -5)" \
        "keys in (saved_date, id) order, each once"

# Page queries of this database, as the server logged them.
server_log | grep -F "@$PGDATABASE " | grep -F 'FROM "public"."pipe_events" WHERE' \
        >"$CDC_TEST_TMP/statements" || true
skip=$(grep -c 'LIMIT 101 OFFSET 99' "$CDC_TEST_TMP/statements" || true)
# The first page; the re-scan pass's first page (due at start); the second
# page (not sent ahead while the re-scan was due); the third, sent ahead
# with the fourth queued behind it. From then on each page read queues the
# page two after it, the last one finding nothing past the 25th page (50
# rows): 23 queued queries, every one used.
cdc_assert_eq 23 "$skip" "queued page queries (LIMIT 101 OFFSET 99)"
# No page read twice: until the last queued query, only those four plain
# page queries (a queued page that did not fit would be asked for again).
cdc_assert_eq 4 "$(tac "$CDC_TEST_TMP/statements" | sed -n '/OFFSET 99$/,$p' |
        grep -c 'LIMIT 100$' || true)" "plain page queries up to the last queued one"

# A queued page that does not fit. The reader role sees gate_events through
# a row-security policy that waits on an advisory lock at evt-00300, the
# last row of the third page: the third page's query (sent ahead, the
# fourth queued behind it) stops there with its snapshot taken (only the
# (saved_date, id) index scan allowed: a page's query looks at its rows
# only). A row of
# that page is deleted meanwhile, then the lock released. The fourth
# page's query, run after the delete, skips 99 rows from one fewer: its
# first row is evt-00301, not the cursor's evt-00300, so it is dropped
# (and the one queued behind it, asked at the same cursor), and the fourth
# page is asked for again by its last row. Every row the third page read
# (evt-00250 too) arrives once, in order.
gate_rows=1000
cap_sql "DO \$\$ BEGIN CREATE ROLE pipe_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" \
        "CREATE TABLE gate_events (id text PRIMARY KEY, created_date timestamptz,
           saved_date timestamptz)" \
        "INSERT INTO gate_events
           SELECT 'evt-' || lpad(g::text, 5, '0'),
                  '2024-01-15 10:00:00+00'::timestamptz + g * interval '1 second',
                  '2024-01-15 10:00:00+00'::timestamptz + g * interval '1 second'
           FROM generate_series(1, $gate_rows) g" \
        "CREATE INDEX ON gate_events (saved_date, id)" "ANALYZE gate_events" \
        "ALTER ROLE pipe_reader IN DATABASE \"$PGDATABASE\" SET enable_seqscan = off" \
        "ALTER ROLE pipe_reader IN DATABASE \"$PGDATABASE\" SET enable_bitmapscan = off" \
        "ALTER ROLE pipe_reader IN DATABASE \"$PGDATABASE\" SET enable_sort = off" \
        "CREATE FUNCTION gate(id text) RETURNS boolean LANGUAGE plpgsql AS \$\$
         BEGIN
           IF id = 'evt-00300' THEN
             PERFORM pg_advisory_lock_shared(4242);
             PERFORM pg_advisory_unlock_shared(4242);
           END IF;
           RETURN true;
         END \$\$" \
        "ALTER TABLE gate_events ENABLE ROW LEVEL SECURITY" \
        "CREATE POLICY gate ON gate_events FOR SELECT TO pipe_reader USING (gate(id))" \
        "GRANT SELECT ON gate_events TO pipe_reader"
# The lock's holder: a psql session fed through a pipe, released on demand.
mkfifo "$CDC_TEST_TMP/lock.fifo"
psql -XAtq -v ON_ERROR_STOP=1 <"$CDC_TEST_TMP/lock.fifo" >"$CDC_TEST_TMP/lock.out" 2>&1 &
holder=$!
_CDC_SPAWNED+=("$holder") # stopped by the harness if a check below fails
exec {lockfd}>"$CDC_TEST_TMP/lock.fifo"
echo "SELECT pg_advisory_lock(4242); SELECT 'held';" >&"$lockfd"
held() { grep -q '^held$' "$CDC_TEST_TMP/lock.out"; }
cdc_wait_for 20 held
gate_topic="$CDC_TOPIC_PREFIX.public.gate_events"
cdc_kafka_cmd "topic $gate_topic 1"
cap_config "$CDC_TEST_TMP/gate.json" "dsql.tables=gate_events" "dsql.batch.size=100" \
        "dsql.rescan.interval.ms=600000" "dsql.iam.username=pipe_reader" \
        "offset.storage.file.filename=$CDC_TEST_TMP/gate-offsets.json"
cap_start "$CDC_TEST_TMP/gate.json" "$CDC_TEST_TMP/gate.log"
waiting_on_gate() {
        [[ $(cap_sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                        AND objid = 4242 AND NOT granted") == 1 ]]
}
cdc_wait_for 20 waiting_on_gate
cap_sql "DELETE FROM gate_events WHERE id = 'evt-00250'"
echo 'SELECT pg_advisory_unlock(4242);
\q' >&"$lockfd"
wait "$holder"
exec {lockfd}>&-
cdc_wait_for 30 cdc_topic_has "$gate_topic" "$gate_rows"
cap_stop "$CDC_TEST_TMP/gate.log"

cdc_topic_dump "$gate_topic" "$gate_rows" | cut -f1 >"$CDC_TEST_TMP/gate-keys"
seq -f '{"id":"evt-%05g"}' 1 "$gate_rows" >"$CDC_TEST_TMP/gate-expected"
cdc_assert_eq "$gate_rows" "$(cdc_topic_count "$gate_topic")" "gate messages"
cdc_assert_eq "" "$(diff "$CDC_TEST_TMP/gate-expected" "$CDC_TEST_TMP/gate-keys" | head -5)" \
        "gate keys in order, each once, evt-00250 (read before its delete) too"
# The reader's page queries in order, as "kind last-key-parameter".
server_log | grep -F "pipe_reader@$PGDATABASE " | awk '
        /FROM "public"."gate_events" WHERE/ {
                kind = /OFFSET/ ? "queued" : /<= \(/ ? "rescan" : /> \(/ ? "next" : "first"
                if (kind == "first") { print kind; kind = "" }
                next
        }
        kind && /DETAIL:  parameters:/ {
                n = split($0, v, "\047"); print kind, v[n - 1]; kind = ""
        }' | head -9 >"$CDC_TEST_TMP/gate-queries"
cdc_assert_eq "first
rescan evt-00100
next evt-00100
next evt-00200
queued evt-00200
queued evt-00300
next evt-00300
next evt-00400
queued evt-00400" "$(cat "$CDC_TEST_TMP/gate-queries")" \
        "page queries: the two queued at evt-00200/00300 dropped, the fourth page asked again"
