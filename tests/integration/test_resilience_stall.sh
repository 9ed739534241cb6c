#!/usr/bin/env bash
#
# A server that goes silent. The daemon reads a backlog in pages through a
# fault proxy (the primary) that then stalls: no byte moves on the open
# connection or on new ones, and no socket closes, so nothing but a timeout
# can tell. While the page query hangs, the REST API answers at once: the
# event loop never waits on the database. After dsql.query.timeout.ms the
# connection is dropped, new attempts time out too, the daemon fails over to
# the secondary and delivers the rest. The topic holds exactly the table's
# records.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/resilience_lib.sh"
cdc_require curl

res_setup
res_insert 1 3001
cdc_proxy_start pa "127.0.0.1:$PGPORT"
cdc_proxy_start pb "127.0.0.1:$PGPORT"
primary="127.0.0.1:$CDC_PROXY_PA_PORT"
secondary="127.0.0.1:$CDC_PROXY_PB_PORT"
# Every chunk through the primary waits 20 ms, so a page query is nearly
# always in flight.
cdc_proxy_cmd pa delay 20
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=$RES_TABLE" \
        "dsql.endpoint.primary=$primary" "dsql.endpoint.secondary=$secondary" \
        "dsql.batch.size=100" "dsql.query.timeout.ms=1500" \
        "dsql.pool.connection.timeout.ms=1000" \
        "dsql.failover.after.failures=2" "dsql.failback.check.interval.ms=600000" \
        "retry.backoff.ms=50" "retry.backoff.max.ms=200" "rest.listen=127.0.0.1:0"
cap_start "$CDC_TEST_TMP/c.json"
port=$(cap_rest_port "$RES_LOG")

_some() { (($(cdc_topic_count "$RES_TOPIC") >= 300)); }
cdc_wait_for 30 _some
cdc_proxy_cmd pa stall
stalled=$(_cdc_now_ms)

# The loop serves REST while the query hangs: answers that come before the
# query's timeout is logged came while it hung.
n=0
while (($(_cdc_now_ms) - stalled < 1000)); do
        health=$(curl -sS --max-time 1 "http://127.0.0.1:$port/health") ||
                { echo "REST did not answer within 1 s during the stall" >&2; exit 1; }
        [[ $health == *'"status":"healthy"'* ]] ||
                { echo "unexpected /health answer: $health" >&2; exit 1; }
        (($(res_log_count "no answer within") == 0)) && n=$((n + 1))
done
echo "REST answered $n times while the page query hung"
((n >= 1)) || { echo "no REST answer while the page query hung" >&2; exit 1; }

res_wait_log 10 "no answer within 1500 ms (dsql.query.timeout.ms)"
res_wait_log 20 "failing over from primary $primary to secondary $secondary"
res_wait_delivered 60
res_insert 3001 3201
res_wait_delivered 30
cap_stop
grep -E " (db|poll): " "$RES_LOG" | cut -c1-220 | head -12

cdc_assert_eq 1 "$(res_log_count "failing over from")" "failover log lines"
res_assert_exact
