# shellcheck shell=bash
#
# Helpers for tests that run the daemon against the harness: a connector
# config pointing at the test's database and Kafka, starting and stopping
# dsqlcdc, and comparing topics. Source after env.sh and cdc_test_begin.

# cap_config FILE [KEY=VALUE ...]: a connector JSON for this test; the pairs
# override or add keys.
cap_config() {
        local file=$1
        shift
        local -A kv=(
                [dsql.endpoint.primary]=$PGHOST
                [dsql.port]=$PGPORT
                [dsql.auth.mode]=password
                [dsql.ssl.mode]=disable
                [dsql.iam.username]=postgres
                [dsql.database.name]=$PGDATABASE
                [dsql.poll.interval.ms]=100
                [topic.prefix]=$CDC_TOPIC_PREFIX
                [kafka.bootstrap.servers]=$CDC_KAFKA_BOOTSTRAP
                [offset.storage.file.filename]=$CDC_TEST_TMP/offsets.json
                [offset.flush.interval.ms]=100
                [rest.listen]=
        )
        local pair
        for pair in "$@"; do
                kv[${pair%%=*}]=${pair#*=}
        done
        {
                echo '{"name": "it-connector", "config": {'
                local k first=1
                for k in "${!kv[@]}"; do
                        ((first)) || echo ','
                        first=0
                        printf '  "%s": "%s"' "$k" "${kv[$k]//\\/\\\\}"
                done
                echo '}}'
        } >"$file"
}

# cap_start CONFIG [LOG]: runs the daemon in the background (CAP_PID).
cap_start() {
        local log=${2:-$CDC_TEST_TMP/dsqlcdc.log}
        cdc_spawn "$log" "$CDC_BIN" run --config "$1"
        CAP_PID=$CDC_SPAWN_PID
}

# cap_rest_port [LOG]: once the daemon (started with rest.listen=127.0.0.1:0)
# logs its REST address, the port it got.
cap_rest_port() {
        local log=${1:-$CDC_TEST_TMP/dsqlcdc.log}
        cdc_wait_for 20 _cap_rest_up "$log" ||
                { echo "no REST API line in $log" >&2; return 1; }
        sed -n 's|.*REST API on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log"
}
_cap_rest_up() { grep -q 'REST API on http://127.0.0.1:[0-9]' "$1"; }

# cap_stop: SIGTERM, then the daemon must exit 0 within 30 s.
cap_stop() {
        kill -TERM "$CAP_PID"
        local rc=0
        cdc_wait_for 30 _cap_gone || { echo "daemon did not stop" >&2; return 1; }
        wait "$CAP_PID" || rc=$?
        ((rc == 0)) || { echo "daemon exited $rc" >&2; cat "$CDC_TEST_TMP/dsqlcdc.log" >&2; return 1; }
}
_cap_gone() { ! kill -0 "$CAP_PID" 2>/dev/null || [[ "$(ps -o stat= -p "$CAP_PID")" == Z* ]]; }

# cap_sql SQL...: run statements in the test database.
cap_sql() {
        local a=()
        for s in "$@"; do a+=(-c "$s"); done
        psql -XAtq -v ON_ERROR_STOP=1 "${a[@]}"
}

# cap_dump TOPIC N: the topic's N messages with __ts_ms replaced by TS (it is
# the capture time); fails if any __ts_ms is not a plausible epoch-ms number.
cap_dump() {
        cdc_topic_dump "$1" "$2" >"$CDC_TEST_TMP/dump.raw" || return 1
        if grep "\"__op\"" "$CDC_TEST_TMP/dump.raw" | grep -vqE '"__ts_ms":1[0-9]{12}[,}]'; then
                echo "cap_dump: a record lacks a millisecond __ts_ms" >&2
                return 1
        fi
        sed -E 's/"__ts_ms":[0-9]+/"__ts_ms":TS/; s/"ts_ms":[0-9]+/"ts_ms":TS/g' \
                "$CDC_TEST_TMP/dump.raw"
}
