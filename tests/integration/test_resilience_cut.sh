#!/usr/bin/env bash
#
# Connections cut while pages are being read. The daemon catches up on a
# 20,000-row backlog in pages of 100 through a fault proxy that delays every
# chunk (so a query is almost always in flight) and cuts every connection
# again and again. A cut page is read again on the new connection; the topic
# must hold every row exactly once: a lost connection is neither a gap nor
# a reason to send anything twice.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/resilience_lib.sh"

rows=20000
res_setup
res_insert 1 $((rows + 1))
cdc_proxy_start pa "127.0.0.1:$PGPORT"
cdc_proxy_cmd pa delay 15
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=$RES_TABLE" \
        "dsql.endpoint.primary=127.0.0.1:$CDC_PROXY_PA_PORT" \
        "dsql.batch.size=100" "retry.backoff.ms=50" "retry.backoff.max.ms=500"
cap_start "$CDC_TEST_TMP/c.json"

# Cut whenever the topic has grown by another ~1,500 records since the last
# cut, until the backlog is through.
_grown() { (($(cdc_topic_count "$RES_TOPIC") >= $1)); }
cuts=0
next=1500
while ((next < rows)); do
        cdc_wait_for 60 _grown "$next"
        cdc_proxy_cmd pa cut
        cuts=$((cuts + 1))
        next=$(($(cdc_topic_count "$RES_TOPIC") + 1500))
done
res_wait_delivered 120
# Rows written after the cuts arrive too.
res_insert $((rows + 1)) $((rows + 101))
res_wait_delivered 30
cap_stop

# Every cut was noticed: as a lost connection, or as a failed attempt when
# it hit one being made.
conns=$(res_proxy_stat pa conns)
lost=$(grep -cE 'db: primary [^ ]+: connection lost: ' "$RES_LOG" || true)
failed=$(grep -cE 'db: primary [^ ]+: cannot connect' "$RES_LOG" || true)
echo "$cuts cuts: $lost lost connections, $failed failed attempts, $conns connections through the proxy"
((lost + failed >= cuts)) || { echo "only $((lost + failed)) of $cuts cuts were noticed" >&2; exit 1; }
((conns > cuts)) || { echo "expected a new connection after each of the $cuts cuts" >&2; exit 1; }
res_assert_exact
