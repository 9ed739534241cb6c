#!/usr/bin/env bash
#
# The change-to-delivery lag gauge measures: a backlog row stamped an hour
# ago is delivered about 3,600 s after its change, and a fresh row brings
# the gauge down to seconds.
set -euo pipefail
source "${CDC_HARNESS_ENV:?}"
cdc_test_begin
source "$(dirname "$0")/capture_lib.sh"
cdc_require curl

cap_sql "CREATE TABLE ev (id text PRIMARY KEY,
           created_date timestamptz NOT NULL, saved_date timestamptz NOT NULL)" \
        "INSERT INTO ev VALUES ('old', now() - interval '1 hour', now() - interval '1 hour')"
topic="$CDC_TOPIC_PREFIX.public.ev"
cdc_kafka_cmd "topic $topic 1"
cap_config "$CDC_TEST_TMP/c.json" "dsql.tables=ev" "rest.listen=127.0.0.1:0"
cap_start "$CDC_TEST_TMP/c.json"
port=$(cap_rest_port)

# lag_in LO HI: the gauge, in whole seconds, is within [LO, HI].
lag_in() {
        local v
        v=$(curl -sS "http://127.0.0.1:$port/metrics" |
                sed -n 's/^dsqlcdc_task_change_to_delivery_lag_seconds{.*} \([0-9.]*\)$/\1/p')
        [[ -n $v ]] && ((${v%.*} >= $1 && ${v%.*} <= $2))
}
cdc_wait_for 20 cdc_topic_has "$topic" 1
cdc_wait_for 10 lag_in 3600 3660
cap_sql "INSERT INTO ev VALUES ('new', now(), now())"
cdc_wait_for 20 cdc_topic_has "$topic" 2
cdc_wait_for 10 lag_in 0 30
cap_stop
