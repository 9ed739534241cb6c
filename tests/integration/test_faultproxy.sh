#!/usr/bin/env bash
#
# Proves cdc_faultproxy (tests/harness/faultproxy.c) with psql against the
# harness PostgreSQL, so resilience tests can trust its faults: bytes pass
# unchanged both ways, 'refuse' fails new connections only, 'cut' ends a
# running query at once on both sides, 'stall' holds a query until 'pass',
# 'delay' adds its latency per direction, 'target' moves new connections to
# another server while old ones stay.
set -euo pipefail

# shellcheck source=tests/harness/env.sh
source "${CDC_HARNESS_ENV:-$(dirname "${BASH_SOURCE[0]}")/../harness/env.sh}"
# shellcheck disable=SC2119
cdc_test_begin

T=$CDC_TEST_TMP
# One TCP connection per psql run, so connection counts are exact: no TLS or
# GSS negotiation that libpq could retry on a fresh connection.
export PGSSLMODE=disable PGGSSENCMODE=disable PGCONNECT_TIMEOUT=10

cdc_proxy_start pg "127.0.0.1:$PGPORT"
P=$CDC_PROXY_PG_PORT

viaproxy() { # viaproxy ARGS...: psql through the proxy
        psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$P" "$@"
}

# True once PID has exited (a zombie counts: we reap it with wait).
exited() {
        local stat
        { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
        stat=${stat##*) }
        [[ ${stat:0:1} == Z ]]
}

stat_field() { # stat_field KEY: one number from the proxy's stats
        local s
        s=$(cdc_proxy_cmd pg stats) || return 1
        [[ " $s " =~ \ $1=([0-9]+)\  ]] || { echo "no $1 in stats: $s" >&2; return 1; }
        echo "${BASH_REMATCH[1]}"
}

active_is() {
        [[ $(stat_field active) == "$1" ]]
}

# A long-lived psql session through the proxy, fed through a FIFO that psql
# holds open read-write itself (so it never sees EOF, and no other child of
# this shell inherits a writer): a test keeps one connection open across
# commands. sess_sql SQL waits for its output and leaves it in $SESS_OUT.
sess_start() {
        mkfifo "$T/sess.in"
        # shellcheck disable=SC2016
        cdc_spawn "$T/sess.out" bash -c 'exec psql -XAtq -h 127.0.0.1 -p "$1" 0<>"$0"' \
                "$T/sess.in" "$P"
        SESS_PID=$CDC_SPAWN_PID
        SESS_N=0
        # Bytes written before psql opens the FIFO would vanish with the
        # writer's close.
        cdc_wait_for 10 _sess_listening
}
_sess_listening() {
        [[ $(readlink "/proc/$SESS_PID/fd/0") == "$T/sess.in" ]]
}
sess_write() {
        local fd
        exec {fd}<>"$T/sess.in"
        printf '%s\n' "$1" >&"$fd"
        exec {fd}>&-
}
sess_send() { # sess_send SQL|\META: sends one statement and a marker, no wait
        local stmt=$1
        [[ $stmt == \\* ]] || stmt+=";"
        SESS_N=$((SESS_N + 1))
        sess_write "$stmt"$'\n'"\\echo @@done $SESS_N"
}
_sess_has() {
        grep -qxF "@@done $1" "$T/sess.out"
}
sess_wait() { # sess_wait N TIMEOUT_S: output of the Nth statement
        cdc_wait_for "$2" _sess_has "$1" || return 1
        SESS_OUT=$(awk -v n="$1" '$0 == "@@done " n - 1 { on = 1; next }
                $0 == "@@done " n { exit } on || n == 1' "$T/sess.out")
}
sess_sql() { # sess_sql SQL [TIMEOUT_S=10]
        sess_send "$1"
        sess_wait "$SESS_N" "${2:-10}"
}

now_ms() {
        local us=${EPOCHREALTIME//[!0-9]/}
        echo $((10#$us / 1000))
}

# timed VALUE: the milliseconds of psql's \timing line after VALUE in $SESS_OUT.
timed() {
        local re="^$1"$'\n''Time: ([0-9]+)\.[0-9]+ ms$'
        [[ $SESS_OUT =~ $re ]] || { echo "no timing for $1 in: $SESS_OUT" >&2; return 1; }
        echo "${BASH_REMATCH[1]}"
}

# ---- pass: a query works, and megabytes cross unchanged in both directions
cdc_assert_eq "$PGDATABASE|$PGPORT" \
        "$(viaproxy -c "SELECT current_database() || '|' || inet_server_port()")" \
        "query through the proxy"

viaproxy -c "CREATE TABLE blob (n int, line text)"
seq 1 60000 | awk '{ printf "%d\t%s-%08d-%s\n", $1, "line", $1 * 7919 % 100000000, "abcdefghijklmnopqrstuvwxyz" }' \
        >"$T/up.tsv"
viaproxy -c "\\copy blob FROM '$T/up.tsv'"
viaproxy -c "\\copy (SELECT * FROM blob ORDER BY n) TO '$T/down.tsv'"
cmp "$T/up.tsv" "$T/down.tsv"
size=$(stat -c %s "$T/up.tsv")
((size > 2000000)) || { echo "FAIL: test data too small ($size bytes)" >&2; exit 1; }
up=$(stat_field bytes_up)
down=$(stat_field bytes_down)
((up > size && up < 2 * size)) || { echo "FAIL: bytes_up=$up for $size bytes sent" >&2; exit 1; }
((down > size && down < 2 * size)) || { echo "FAIL: bytes_down=$down for $size bytes read" >&2; exit 1; }
cdc_assert_eq 4 "$(stat_field conns)" "connections after 4 psql runs"
cdc_wait_for 10 active_is 0

# ---- refuse: new connections fail, an open one keeps working; pass restores
sess_start
sess_sql "SELECT 'session ' || inet_server_port()"
cdc_assert_eq "session $PGPORT" "$SESS_OUT" "session output"
cdc_assert_eq 1 "$(stat_field active)" "active connections with a session open"

cdc_proxy_cmd pg refuse
if viaproxy -c "SELECT 1" >/dev/null 2>"$T/refused.err"; then
        echo "FAIL: a new connection got through while refusing" >&2
        exit 1
fi
grep -q "server closed the connection unexpectedly" "$T/refused.err" ||
        { echo "FAIL: unexpected error while refusing:" >&2; cat "$T/refused.err" >&2; exit 1; }
sess_sql "SELECT 'still ' || count(*) FROM blob"
cdc_assert_eq "still 60000" "$SESS_OUT" "open session while refusing"
cdc_assert_eq 6 "$(stat_field conns)" "a refused connection is counted"
cdc_proxy_cmd pg pass
cdc_assert_eq "back" "$(viaproxy -c "SELECT 'back'")" "new connection after pass"

# ---- stall: an open session's query is held, neither sent nor answered,
# until pass; a connection made meanwhile waits too
sess_sql "SELECT pg_backend_pid()"
sess_backend=$SESS_OUT
cdc_proxy_cmd pg stall
sess_send "SELECT 'unstalled'"
stalled_n=$SESS_N
cdc_spawn "$T/stalled-new.out" psql -XAtq -h 127.0.0.1 -p "$P" -c "SELECT 'new unstalled'"
stalled_new=$CDC_SPAWN_PID
before=$(cdc_proxy_cmd pg stats)
# The condition must hold for a while: a stall is the absence of progress.
if cdc_wait_for 1.5 _sess_has "$stalled_n" 2>/dev/null || exited "$stalled_new"; then
        echo "FAIL: a query completed while stalled" >&2
        exit 1
fi
# The server never saw the query: the session's backend still shows the last one.
cdc_assert_eq "SELECT pg_backend_pid();" \
        "$(psql -XAtq -c "SELECT query FROM pg_stat_activity WHERE pid = $sess_backend")" \
        "backend's last query while stalled"
after=$(cdc_proxy_cmd pg stats)
cdc_assert_eq "${before#* bytes_up=}" "${after#* bytes_up=}" "bytes moved while stalled"
cdc_proxy_cmd pg pass
sess_wait "$stalled_n" 10
cdc_assert_eq unstalled "$SESS_OUT" "stalled query after pass"
cdc_wait_for 10 exited "$stalled_new"
wait "$stalled_new"
cdc_assert_eq "new unstalled" "$(<"$T/stalled-new.out")" "connection made while stalled"

# ---- delay: every chunk waits, so a round trip takes two delays
sess_sql '\timing on'
cdc_proxy_cmd pg delay 300
sess_sql "SELECT 'delayed'"
ms=$(timed delayed)
((ms >= 600 && ms < 5000)) || { echo "FAIL: round trip of $ms ms with delay 300" >&2; exit 1; }
cdc_proxy_cmd pg pass
sess_sql "SELECT 'undelayed'"
ms=$(timed undelayed)
((ms < 600)) || { echo "FAIL: pass kept the delay ($ms ms)" >&2; exit 1; }
sess_sql '\timing off'

# ---- target: new connections go to a second server, open ones stay
cdc_pg_start_extra second
cdc_proxy_cmd pg target "127.0.0.1:$CDC_PG_SECOND_PORT"
cdc_assert_eq "postgres|$CDC_PG_SECOND_PORT" \
        "$(viaproxy -d postgres -c "SELECT current_database() || '|' || inet_server_port()")" \
        "new connection after target"
sess_sql "SELECT current_database() || '|' || inet_server_port()"
cdc_assert_eq "$PGDATABASE|$PGPORT" "$SESS_OUT" "open session after target"
# A target that is down: new connections fail, the proxy lives on.
second_port=$CDC_PG_SECOND_PORT
cdc_pg_stop_extra second
cdc_proxy_cmd pg target "127.0.0.1:$second_port"
if viaproxy -d postgres -c "SELECT 1" >/dev/null 2>&1; then
        echo "FAIL: connected through the proxy to a stopped server" >&2
        exit 1
fi
cdc_proxy_cmd pg target "127.0.0.1:$PGPORT"
cdc_assert_eq "$PGPORT" "$(viaproxy -c "SELECT inet_server_port()")" "target back"

# ---- cut: a long query dies at once, on both sides
sess_write '\q' # end the session: cut is about a fresh connection
cdc_wait_for 10 exited "$SESS_PID"
cdc_wait_for 10 active_is 0
cdc_spawn "$T/sleep.out" env PGOPTIONS="-c client_connection_check_interval=100" \
        psql -XAtq -h 127.0.0.1 -p "$P" -c "SELECT pg_sleep(30) /* cut me */"
sleeper=$CDC_SPAWN_PID
sleeping() {
        [[ $(psql -XAtq -c "SELECT count(*) FROM pg_stat_activity
                WHERE query LIKE '%/* cut me */' AND state = 'active'
                  AND pid <> pg_backend_pid()") == 1 ]]
}
cdc_wait_for 10 sleeping
t0=$(now_ms)
cdc_proxy_cmd pg cut
cdc_wait_for 3 exited "$sleeper"
elapsed=$(($(now_ms) - t0))
rc=0
wait "$sleeper" || rc=$?
((rc != 0)) || { echo "FAIL: the query survived the cut" >&2; exit 1; }
grep -qE "server closed the connection unexpectedly|Connection reset by peer" "$T/sleep.out" ||
        { echo "FAIL: unexpected error after cut:" >&2; cat "$T/sleep.out" >&2; exit 1; }
((elapsed < 3000)) || { echo "FAIL: psql needed $elapsed ms to notice the cut" >&2; exit 1; }
# The server side was reset too: the backend notices and ends its query.
awake() { ! sleeping; }
cdc_wait_for 5 awake
cdc_assert_eq 0 "$(stat_field active)" "active connections after cut"

# ---- command errors are answered, and the proxy keeps serving
for bad in "delay -1" "delay x" "target nohost" "target 127.0.0.1:0" "stall now" "bogus"; do
        if cdc_proxy_cmd pg "$bad" 2>/dev/null; then
                echo "FAIL: the proxy accepted '$bad'" >&2
                exit 1
        fi
done
cdc_assert_eq "fine" "$(viaproxy -c "SELECT 'fine'")" "query after bad commands"

# ---- stop: the proxy goes, its port stops answering
cdc_proxy_stop pg
if psql -XAtq -h 127.0.0.1 -p "$P" -c "SELECT 1" >/dev/null 2>&1; then
        echo "FAIL: the port still answers after cdc_proxy_stop" >&2
        exit 1
fi

echo "faultproxy OK"
