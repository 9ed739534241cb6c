#!/usr/bin/env bash
#
# Connections recycled at dsql.connection.max.lifetime.ms (2 s here) while a
# writer inserts a row every ~10 ms: each recycle is logged, happens between
# queries (no query fails), and the topic holds exactly the table's records.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"
source "$(dirname "$0")/resilience_lib.sh"

res_setup
cdc_proxy_start pa "127.0.0.1:$PGPORT"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=$RES_TABLE" \
        "dsql.endpoint.primary=127.0.0.1:$CDC_PROXY_PA_PORT" \
        "dsql.connection.max.lifetime.ms=2000"
cap_start "$CDC_TEST_TMP/c.json"
res_writer 1 601 0.01
_recycled() { (($(res_log_count "recycled after") >= $1)); }
cdc_wait_for 30 _recycled 3
res_writer_wait
res_wait_delivered 30
cap_stop

recycles=$(res_log_count "connection closed: recycled after")
conns=$(res_proxy_stat pa conns)
echo "$recycles recycles logged, $conns connections through the proxy"
((conns >= recycles + 1)) || { echo "$recycles recycles but $conns connections" >&2; exit 1; }
# Recycling happens between queries: nothing was lost or retried.
cdc_assert_eq 0 "$(res_log_count "connection lost")" "lost connections"
cdc_assert_eq 0 "$(grep -c ' warn  \| error ' "$RES_LOG" || true)" "warnings and errors in the log"
res_assert_exact
