#!/usr/bin/env bash
# The command line: help, version, exit codes, `check` on the plugin users'
# configs (clean summary, secrets masked) and on a broken one (every problem).
set -euo pipefail
bin=${CDC_BIN:?}
fx=${CDC_FIXTURES:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_rc RC CMD...: run CMD, capture stdout/stderr, check its exit code.
expect_rc() {
  local want=$1; shift
  set +e
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  set -e
  [ "$got" -eq "$want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "$* exited $got, want $want"; }
}

expect_rc 0 "$bin" --help
grep -q '^Usage: dsqlcdc <command> \[options\]$' "$tmp/out" || fail "--help usage line"
for cmd in run check token offsets config-reference; do
  grep -q "^  $cmd" "$tmp/out" || fail "--help does not list $cmd"
done
expect_rc 0 "$bin" --version
[ "$(cat "$tmp/out")" = "dsqlcdc 0.1.0" ] || fail "--version printed $(cat "$tmp/out")"
expect_rc 2 "$bin"
expect_rc 2 "$bin" frobnicate
grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "unknown command message"
expect_rc 2 "$bin" check
grep -q -- "--config FILE is required" "$tmp/err" || fail "missing --config message"
expect_rc 2 "$bin" offsets list --config x
expect_rc 2 "$bin" token --region us-east-1
expect_rc 2 "$bin" token --hostname h --region r --time 2025-12-19
# dates that would silently roll over to another signing time
for t in 20250230T120000Z 20251219T235960Z "2025 119T120000Z" 20251219T246000Z; do
  expect_rc 2 "$bin" token --hostname h --region r --time "$t"
done
expect_rc 2 "$bin" token --hostname h --region r --expires-in 604801

# The production connector file of the Java plugin's users: clean summary.
expect_rc 0 "$bin" check --no-connect --config "$fx/plugin-configs/production-dsql-connector.json"
head -1 "$tmp/out" | grep -q '^✔ configuration .*production-dsql-connector.json is valid$' || fail "check headline"
grep -qx '  dsql.endpoint.primary = vftmkydwxvxys6asbsc6ih2the.dsql-fnh4.us-east-1.on.aws' "$tmp/out" || fail "endpoint line"
grep -qx '  dsql.database.name = car_entities' "$tmp/out" || fail "database line"
grep -qx '  dsql.iam.username = dsql_iam_user' "$tmp/out" || fail "user line"
grep -qx '  tasks.max = 1  (no effect)' "$tmp/out" || fail "tasks.max notice"

# Secrets never printed, by check or in logs.
CONFLUENT_API_KEY=KEY123 CONFLUENT_API_SECRET=topsecret-value-42 \
  expect_rc 0 "$bin" check --no-connect --config "$fx/configs/confluent-cloud.json"
grep -qx '  kafka.sasl.password = \*\*\*\*\*\*\*\*' "$tmp/out" || fail "password not masked"
! grep -q 'topsecret-value-42' "$tmp/out" "$tmp/err" || fail "secret printed"

# A broken config: every problem, with key names, exit 3.
expect_rc 3 env -u CDC_TEST_UNSET_VAR "$bin" check --config "$fx/configs/broken.json"
[ "$(grep -c '^  ✘ ' "$tmp/err")" -eq 9 ] || { cat "$tmp/err"; fail "want 9 problems"; }
grep -q '✘ dsql.endpont.primary (.*broken.json:4): unknown key; did you mean dsql.endpoint.primary?' "$tmp/err" || fail "did-you-mean"
grep -q '✘ dsql.batch.size (.*broken.json:5): 0 is out of range; valid: 1..100000' "$tmp/err" || fail "bounds"
expect_rc 3 "$bin" run --config "$tmp/missing.json"
grep -q 'cannot open config file' "$tmp/err" || fail "missing file message"

# config-reference is what docs/config.md holds.
expect_rc 0 "$bin" config-reference
cmp -s "$tmp/out" "${CDC_SOURCE_DIR:?}/docs/config.md" || fail "docs/config.md is stale: regenerate with dsqlcdc config-reference > docs/config.md"
echo "test_cli: all checks passed"
