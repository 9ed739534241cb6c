# shellcheck shell=bash
#
# Helpers for the connection-resilience tests: one table whose rows say
# exactly which records must reach the topic, writers, the daemon's log, and
# the exact-multiset check of the topic against the table. Source after
# env.sh, cdc_test_begin and capture_lib.sh.
#
# The table: id bigint key, v text, created/saved dates stamped now(). A row
# is inserted with v = 'a<id>' (one "c" record); res_update sets v = 'b<id>'
# and a new saved_date (one more, "u", record) for rows already delivered.

RES_TABLE=items
RES_TOPIC="$CDC_TOPIC_PREFIX.public.$RES_TABLE"
RES_LOG="$CDC_TEST_TMP/dsqlcdc.log"

# res_setup: the table and its one-partition topic (order per key).
res_setup() {
        cap_sql "CREATE TABLE $RES_TABLE (id bigint PRIMARY KEY, v text NOT NULL,
                   created_date timestamptz NOT NULL, saved_date timestamptz NOT NULL)"
        cdc_kafka_cmd "topic $RES_TOPIC 1"
}

# res_insert FROM TO: rows FROM..TO-1, one transaction per 1000 rows.
res_insert() {
        local from=$1 to=$2 hi
        while ((from < to)); do
                hi=$((from + 1000 < to ? from + 1000 : to))
                cap_sql "INSERT INTO $RES_TABLE SELECT i, 'a' || i, now(), now()
                           FROM generate_series($from, $((hi - 1))) i"
                from=$hi
        done
}

# res_writer FROM TO [PAUSE_S=0.01]: a steady writer, one row per
# transaction, in the background (RES_WRITER_PID). Its output goes to a log.
res_writer() {
        local from=$1 to=$2 pause=${3:-0.01}
        (
                for ((i = from; i < to; i++)); do
                        echo "INSERT INTO $RES_TABLE VALUES ($i, 'a$i', now(), now());"
                        echo "SELECT pg_sleep($pause);"
                done | psql -XAtq -v ON_ERROR_STOP=1 >/dev/null
        ) &
        RES_WRITER_PID=$!
}

# res_writer_wait: the background writer finished, and succeeded.
res_writer_wait() {
        wait "$RES_WRITER_PID"
}

# res_update FROM TO: v = 'b<id>', saved_date = now(), one row per
# transaction (so each is a version of its own).
res_update() {
        local from=$1 to=$2
        for ((i = from; i < to; i++)); do
                echo "UPDATE $RES_TABLE SET v = 'b$i', saved_date = now() WHERE id = $i;"
        done | psql -XAtq -v ON_ERROR_STOP=1 >/dev/null
}

# res_expected_count: the records the table calls for.
res_expected_count() {
        cap_sql "SELECT count(*) + count(*) FILTER (WHERE v LIKE 'b%') FROM $RES_TABLE"
}

# res_expected: "key<TAB>v<TAB>op" per record the table calls for, sorted.
res_expected() {
        cap_sql "SELECT '{\"id\":' || id || '}' || E'\t' || 'a' || id || E'\tc' FROM $RES_TABLE
                 UNION ALL
                 SELECT '{\"id\":' || id || '}' || E'\t' || v || E'\tu' FROM $RES_TABLE
                 WHERE v LIKE 'b%'" | LC_ALL=C sort
}

# res_topic_records N: the topic's N records, in topic order, as
# "key<TAB>v<TAB>op"; fails if it holds more (or a record is malformed).
res_topic_records() {
        local n=$1 raw
        raw=$(cdc_topic_dump "$RES_TOPIC" "$n" 60) || return 1
        sed -E 's/^(\{"id":[0-9]+\})\t\{"id":[0-9]+,"v":"([^"]*)",.*"__op":"(.)".*/\1\t\2\t\3/' <<<"$raw" >"$CDC_TEST_TMP/records"
        if grep -qv $'^{"id":[0-9]*}\t[ab][0-9]*\t[cu]$' "$CDC_TEST_TMP/records"; then
                echo "res_topic_records: malformed record(s):" >&2
                grep -v $'^{"id":[0-9]*}\t[ab][0-9]*\t[cu]$' "$CDC_TEST_TMP/records" | head -5 >&2
                return 1
        fi
        cat "$CDC_TEST_TMP/records"
}

_res_topic_at_least() {
        local n
        n=$(cdc_topic_count "$RES_TOPIC") && ((n >= $1))
}

# res_wait_delivered [TIMEOUT_S=60]: the topic holds at least as many
# records as the table calls for now.
res_wait_delivered() {
        local want
        want=$(res_expected_count) || return 1
        cdc_wait_for "${1:-60}" _res_topic_at_least "$want" ||
                { echo "topic holds $(cdc_topic_count "$RES_TOPIC") of $want records" >&2; return 1; }
}

# res_assert_exact: after the daemon stopped, the topic holds exactly the
# records the table calls for: none lost, none twice. Per key, the "c"
# record comes before the "u" record.
res_assert_exact() {
        local want got disorder
        want=$(res_expected_count) || return 1
        got=$(res_topic_records "$want") || return 1
        cdc_assert_eq "$(res_expected)" "$(LC_ALL=C sort <<<"$got")" \
                "records on $RES_TOPIC (key, v, op) against the table" || return 1
        disorder=$(awk -F'\t' '$3 == "u" { u[$1] = 1 } $3 == "c" && u[$1] { print }' <<<"$got")
        cdc_assert_eq "" "$disorder" "records after their key's update" || return 1
        echo "$RES_TOPIC: exactly the $want records the table calls for"
}

# res_log_count TEXT: lines of the daemon's log containing TEXT.
res_log_count() {
        grep -cF -- "$1" "$RES_LOG" || true
}

_res_log_has() {
        grep -qF -- "$1" "$RES_LOG" 2>/dev/null
}

# res_wait_log TIMEOUT_S TEXT: until the daemon's log has a line with TEXT.
res_wait_log() {
        cdc_wait_for "$1" _res_log_has "$2" ||
                { echo "no '$2' in the daemon's log:" >&2; tail -20 "$RES_LOG" >&2; return 1; }
}

# res_proxy_stat NAME KEY: one number from a proxy's stats.
res_proxy_stat() {
        local s
        s=$(cdc_proxy_cmd "$1" stats) || return 1
        [[ " $s " =~ \ $2=([0-9]+)\  ]] || { echo "no $2 in stats: $s" >&2; return 1; }
        echo "${BASH_REMATCH[1]}"
}

_res_proxy_active_is() {
        [[ $(res_proxy_stat "$1" active) == "$2" ]]
}

# res_wait_active TIMEOUT_S NAME N: until proxy NAME has N open connections.
res_wait_active() {
        cdc_wait_for "$1" _res_proxy_active_is "$2" "$3" ||
                { echo "proxy $2: $(cdc_proxy_cmd "$2" stats), wanted active=$3" >&2; return 1; }
}
