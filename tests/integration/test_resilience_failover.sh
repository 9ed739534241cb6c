#!/usr/bin/env bash
#
# Failover and failback. The primary and the secondary endpoint are two
# fault proxies in front of the same PostgreSQL (same rows, as two DSQL
# regions of one multi-region cluster show). The primary refuses and its
# connection is cut: after dsql.failover.after.failures the daemon reads
# through the secondary, and rows keep arriving. The primary comes back: the
# next check (every second here) takes it back, and the secondary's
# connection closes. Each switch is logged once; the topic holds exactly the
# table's records, none lost or repeated.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/resilience_lib.sh"

res_setup
cdc_proxy_start pa "127.0.0.1:$PGPORT"
cdc_proxy_start pb "127.0.0.1:$PGPORT"
primary="127.0.0.1:$CDC_PROXY_PA_PORT"
secondary="127.0.0.1:$CDC_PROXY_PB_PORT"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=$RES_TABLE" \
        "dsql.endpoint.primary=$primary" "dsql.endpoint.secondary=$secondary" \
        "dsql.failover.after.failures=2" "dsql.failback.check.interval.ms=1000" \
        "retry.backoff.ms=100" "retry.backoff.max.ms=1000" \
        "dsql.pool.connection.timeout.ms=2000"

res_insert 1 201
cap_start "$CDC_TEST_TMP/c.json"
res_wait_delivered 30
cdc_assert_eq 0 "$(res_proxy_stat pb conns)" "connections to the secondary before any failure"

# The primary goes away: new connections refused, the open one cut.
cdc_proxy_cmd pa refuse
cdc_proxy_cmd pa cut
res_wait_log 20 "failing over from primary $primary to secondary $secondary after 2 consecutive connection failures"
res_insert 201 401
res_wait_delivered 30
res_wait_active 10 pb 1
# A check of the primary fails while it still refuses (the failover line
# announced the first one).
_failed_checks() { (($(res_log_count "; next check of the primary in 1000 ms") >= 2)); }
cdc_wait_for 10 _failed_checks

# Back: the next check succeeds and the daemon moves back to it.
back=$(_cdc_now_ms)
cdc_proxy_cmd pa pass
res_wait_log 10 "failing back from secondary $secondary to primary $primary"
took=$(($(_cdc_now_ms) - back))
echo "failed back ${took} ms after the primary answered again"
((took < 2500)) || { echo "failback took ${took} ms; the check interval is 1000 ms" >&2; exit 1; }
res_insert 401 601
res_wait_delivered 30
res_wait_active 10 pb 0
res_wait_active 10 pa 1
cap_stop

cdc_assert_eq 1 "$(res_log_count "failing over from")" "failover log lines"
cdc_assert_eq 1 "$(res_log_count "failing back from")" "failback log lines"
res_assert_exact
