#!/usr/bin/env bash
#
# CTest fixture for integration tests: `start` (test harness.start) brings up
# PostgreSQL and the Kafka mock and writes $CDC_HARNESS_DIR/state.env;
# `stop` (test harness.stop) tears them down and kills whatever tests left
# running. Both first clean up after an aborted earlier run.
set -euo pipefail

# shellcheck source=tests/harness/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

case "${1:-}" in
start)
        for bin in runuser kcat pg_isready psql createdb flock ss; do
                command -v "$bin" >/dev/null 2>&1 || {
                        echo "SKIP: '$bin' is not installed; integration tests need it" >&2
                        exit 77
                }
        done
        _cdc_pg_bindir >/dev/null || exit 77
        cdc_harness_cleanup
        # Files of tests that failed in an earlier run; kept until now.
        rm -rf -- "$CDC_HARNESS_DIR"/test.*
        mkdir -p "$CDC_HARNESS_DIR"
        trap 'rc=$?; ((rc == 0)) || cdc_harness_cleanup; exit $rc' EXIT
        cdc_pg_start
        cdc_kafka_start "${CDC_KAFKA_BROKERS:-1}"
        echo "harness up: PostgreSQL $PGHOST:$PGPORT, Kafka $CDC_KAFKA_BOOTSTRAP"
        echo "state: $CDC_HARNESS_DIR/state.env"
        ;;
stop)
        if [[ -r "$CDC_HARNESS_DIR/state.env" ]]; then
                cdc_harness_load
                cdc_kafka_stop
                cdc_pg_stop
        fi
        cdc_harness_cleanup
        echo "harness down"
        ;;
*)
        echo "usage: $0 start|stop   (state in \$CDC_HARNESS_DIR=$CDC_HARNESS_DIR)" >&2
        exit 2
        ;;
esac
