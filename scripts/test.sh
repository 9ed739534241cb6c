#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test twice: once in a normal
# build, once under AddressSanitizer + UndefinedBehaviorSanitizer.
# The test servers (a scratch PostgreSQL 15 and a Kafka test cluster) are
# started and stopped by CTest fixtures, kinesalite by the tests that use it;
# nothing else needs to be running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

"$root/scripts/install-deps.sh"
(cd "$root/tests/kinesis" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

"$root/scripts/build.sh" "$root/build"
ctest --test-dir "$root/build" --output-on-failure -j2

"$root/scripts/build.sh" "$root/build-asan" -DDSQLCDC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j2
