#!/usr/bin/env bash
#
# Proves the integration harness itself, so later tests can trust it:
# PostgreSQL answers (trust and password users), the shared Kafka mock
# round-trips keyed messages byte for byte, and a private mock's broker
# down/up command really breaks and restores producing.
set -euo pipefail

# shellcheck source=tests/harness/env.sh
source "${CDC_HARNESS_ENV:-$(dirname "${BASH_SOURCE[0]}")/../harness/env.sh}"
cdc_test_begin

# --- PostgreSQL: exact query output in our own database
psql -XAtq -v ON_ERROR_STOP=1 \
        -c "CREATE TABLE t (id int PRIMARY KEY, v text)" \
        -c "INSERT INTO t VALUES (1, 'a'), (2, 'b b'), (3, 'ü')"
cdc_assert_eq "$PGDATABASE|1:a|2:b b|3:ü" \
        "$(psql -XAt -c "SELECT current_database() || '|' || string_agg(id || ':' || v, '|' ORDER BY id) FROM t")" \
        "query result"

# The password user reaches the same table over TCP, and only with the password.
cdc_assert_eq "cdc_pw 3" \
        "$(PGPASSWORD=$CDC_PG_PW_PASSWORD psql -XAt -h 127.0.0.1 -U "$CDC_PG_PW_USER" \
                -c "SELECT current_user || ' ' || count(*) FROM t")" \
        "password login"
if PGPASSWORD=wrong psql -XAt -h 127.0.0.1 -U "$CDC_PG_PW_USER" -c "SELECT 1" 2>/dev/null; then
        echo "FAIL: wrong password accepted" >&2
        exit 1
fi

# --- Kafka (shared cluster): three keyed messages round-trip byte for byte
topic="$CDC_TOPIC_PREFIX.roundtrip"
cdc_kafka_cmd "topic $topic 1"
cdc_assert_eq 0 "$(cdc_topic_count "$topic")" "count of an empty topic"
cdc_assert_eq 0 "$(cdc_topic_count "$CDC_TOPIC_PREFIX.absent")" "count of a missing topic"
printf 'k1\t{"id":1,"v":"a"}\nk2\tspaces and "quotes"\nk\xc3\xa93\t\xc3\xbc \\ end\n' \
        >"$CDC_TEST_TMP/sent"
kcat -P -b "$CDC_KAFKA_BOOTSTRAP" -t "$topic" -K $'\t' <"$CDC_TEST_TMP/sent"
cdc_wait_for 10 cdc_topic_has "$topic" 3
cdc_topic_dump "$topic" 3 >"$CDC_TEST_TMP/received"
cmp "$CDC_TEST_TMP/sent" "$CDC_TEST_TMP/received"
# Raw bytes, without the dump's formatting in between.
kcat -C -q -e -b "$CDC_KAFKA_BOOTSTRAP" -t "$topic" -o beginning -f '%k=%s|' \
        >"$CDC_TEST_TMP/raw"
cmp <(printf 'k1={"id":1,"v":"a"}|k2=spaces and "quotes"|k\xc3\xa93=\xc3\xbc \\ end|') \
        "$CDC_TEST_TMP/raw"
# Exactly 3: asking for a different number fails.
if cdc_topic_dump "$topic" 2 1 >/dev/null 2>&1; then
        echo "FAIL: cdc_topic_dump accepted 2 of 3 messages" >&2
        exit 1
fi

# --- Kafka (private cluster): broker down fails a produce, up restores it
cdc_kafka_start_private 1
topic="$CDC_TOPIC_PREFIX.faults"
cdc_kafka_cmd "topic $topic 1"
produce() { # produce N: N keyed messages, 2 s to deliver them
        seq "$1" | sed 's/^/key-/; s/$/\tvalue/' |
                timeout 20 kcat -P -b "$CDC_KAFKA_BOOTSTRAP" -t "$topic" -K $'\t' \
                        -X message.timeout.ms=2000
}
produce 2
cdc_assert_eq 2 "$(cdc_topic_count "$topic")" "count before down"

cdc_kafka_cmd "down 1"
if produce 1 2>"$CDC_TEST_TMP/down.err"; then
        echo "FAIL: produce succeeded with broker 1 down" >&2
        exit 1
fi
if cdc_kafka_cmd "down 7" 2>/dev/null; then
        echo "FAIL: the mock accepted an unknown broker id" >&2
        exit 1
fi
cdc_kafka_cmd "up 1"
produce 3
cdc_assert_eq 5 "$(cdc_topic_count "$topic")" "count after up"

# Injected Produce (ApiKey 0) errors fail a produce until cleared.
cdc_kafka_cmd "errors 0 50 TOPIC_AUTHORIZATION_FAILED"
if produce 1 2>"$CDC_TEST_TMP/errors.err"; then
        echo "FAIL: produce succeeded despite injected errors" >&2
        exit 1
fi
cdc_kafka_cmd "clear"
produce 1
cdc_assert_eq 6 "$(cdc_topic_count "$topic")" "count after clear"
cdc_kafka_stop

echo "harness OK"
