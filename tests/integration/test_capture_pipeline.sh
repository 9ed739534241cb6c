#!/usr/bin/env bash
#
# Catch-up with the next pages queued on the connection: after a full page,
# the page after it and, behind it in the same pipeline, the page after
# that (the same rows from the batch.size-th on, OFFSET). A queued page is
# used only when its first row is the last row read. 2,450 rows in groups
# of 7 sharing a saved_date, batch.size 100: page edges fall inside ties.
# Checked: every row exactly once and in (saved_date, id) order, and the
# server's statement log shows the queued pages were read (and no page
# twice): the feature is in use, not only harmless.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"

rows=2450
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
grep -F "@$PGDATABASE " "$CDC_PG_LOG" | grep -F 'FROM "public"."pipe_events" WHERE' \
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
