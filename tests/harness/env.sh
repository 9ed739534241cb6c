# shellcheck shell=bash
#
# Integration test harness: starts/stops a throwaway PostgreSQL and a mock
# Kafka cluster, and gives tests small helpers (per-test database, waiting on
# conditions, counting and dumping topics). Sourced by the CTest fixture
# (harness_ctl.sh) and by every tests/integration/*.sh.
# Owns the state dir $CDC_HARNESS_DIR: state.env (sourceable), logs, FIFOs.
# Does not build anything or know anything about dsqlcdc's configuration.
#
# Functions return non-zero and say why on stderr; they never exit the shell,
# except cdc_require / cdc_test_begin, which end a test with 77 (skip) or 1.

if [[ -n "${_CDC_ENV_SH:-}" ]]; then
        return 0
fi
_CDC_ENV_SH=1

CDC_HARNESS_DIR=$(realpath -m "${CDC_HARNESS_DIR:-$PWD/harness-state}")
export CDC_HARNESS_DIR
# Every process started after sourcing this file inherits the mark:
# cdc_harness_cleanup finds leftovers by it in /proc/<pid>/environ.
export CDC_HARNESS_MARK=$CDC_HARNESS_DIR

_CDC_STATE_VARS=(PGHOST PGPORT PGUSER PGDATABASE
        CDC_PG_BINDIR CDC_PG_ROOT CDC_PG_DATA CDC_PG_SOCKDIR CDC_PG_LOG
        CDC_PG_PW_USER CDC_PG_PW_PASSWORD
        CDC_KAFKA_BOOTSTRAP CDC_KAFKA_PID CDC_KAFKA_DIR CDC_KAFKA_BROKERS)

# ---------------------------------------------------------------- basics

_cdc_err() {
        echo "${FUNCNAME[1]}: $*" >&2
        return 1
}

# Milliseconds since the epoch, from bash's own clock (no fork).
_cdc_now_ms() {
        local us=${EPOCHREALTIME//[!0-9]/}
        echo $((10#$us / 1000))
}

# "1.5" -> 1500. Accepts whole or decimal seconds.
_cdc_secs_to_ms() {
        local s=$1 int frac=""
        [[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || { _cdc_err "not a duration in seconds: '$s'"; return 1; }
        int=${s%%.*}
        [[ $s == *.* ]] && frac=${s#*.}
        frac=${frac}000
        echo $((10#$int * 1000 + 10#${frac:0:3}))
}

# cdc_wait_for TIMEOUT_S CMD [ARGS...]
# Runs CMD until it succeeds or TIMEOUT_S (whole or decimal seconds) passed;
# backs off from 10 ms to 100 ms between tries. Returns 1 on timeout.
cdc_wait_for() {
        local timeout=${1:?cdc_wait_for TIMEOUT_S CMD...} ms deadline delay=10
        shift
        (($#)) || { _cdc_err "no command given"; return 1; }
        ms=$(_cdc_secs_to_ms "$timeout") || return 1
        deadline=$(($(_cdc_now_ms) + ms))
        while :; do
                if "$@"; then
                        return 0
                fi
                if (($(_cdc_now_ms) >= deadline)); then
                        echo "cdc_wait_for: gave up after ${timeout}s waiting for: $*" >&2
                        return 1
                fi
                sleep "0.$(printf '%03d' "$delay")"
                ((delay = delay * 2 > 100 ? 100 : delay * 2))
        done
}

# cdc_assert_eq EXPECTED ACTUAL [WHAT]
# Exact string comparison; prints a diff on mismatch.
cdc_assert_eq() {
        local expected=$1 actual=$2 what=${3:-value}
        [[ "$expected" == "$actual" ]] && return 0
        echo "FAIL: $what differs (--- expected, +++ actual):" >&2
        diff -u --label expected --label actual <(printf '%s\n' "$expected") \
                <(printf '%s\n' "$actual") >&2
        return 1
}

# cdc_require BIN... : exits 77 (CTest skip) naming the first absent binary.
cdc_require() {
        local bin
        for bin in "$@"; do
                if ! command -v "$bin" >/dev/null 2>&1; then
                        echo "SKIP: '$bin' is not installed" >&2
                        exit 77
                fi
        done
}

# ------------------------------------------------------------ state file

# Writes state.env from the current shell's harness variables (tmp + rename,
# so a concurrent reader never sees half a file).
_cdc_state_save() {
        local v tmp="$CDC_HARNESS_DIR/state.env.tmp.$$"
        {
                echo "# written by tests/harness/env.sh; source it"
                printf 'export CDC_HARNESS_DIR=%q\n' "$CDC_HARNESS_DIR"
                for v in "${_CDC_STATE_VARS[@]}"; do
                        [[ -n "${!v:-}" ]] && printf 'export %s=%q\n' "$v" "${!v}"
                done
                if [[ -n "${CDC_PG_BINDIR:-}" ]]; then
                        # shellcheck disable=SC2016
                        echo 'case ":$PATH:" in *":$CDC_PG_BINDIR:"*) ;; *) export PATH="$CDC_PG_BINDIR:$PATH" ;; esac'
                fi
        } >"$tmp" && mv -f "$tmp" "$CDC_HARNESS_DIR/state.env"
}

# cdc_harness_load: sources state.env; fails when the harness is not running.
cdc_harness_load() {
        local f="$CDC_HARNESS_DIR/state.env"
        [[ -r "$f" ]] || { _cdc_err "no $f: is the harness.start fixture running?"; return 1; }
        # shellcheck disable=SC1090
        source "$f"
}

# Remembers a path to delete when the harness is torn down (even after an
# aborted run).
_cdc_own_dir() {
        echo "$1" >>"$CDC_HARNESS_DIR/owned-dirs"
}

# Pid and start time of our ancestors (never to be killed by cleanup).
_cdc_ancestors() {
        local pid=$BASHPID stat rest
        while ((pid > 1)); do
                echo "$pid"
                { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || break
                rest=${stat##*) }
                read -r _ pid _ <<<"$rest"
        done
}

# Pids of processes started under this harness dir (by env marker).
_cdc_marked_pids() {
        local p self
        self=" $(_cdc_ancestors | tr '\n' ' ') "
        for p in /proc/[0-9]*; do
                p=${p#/proc/}
                [[ $self == *" $p "* ]] && continue
                grep -qzxF "CDC_HARNESS_MARK=$CDC_HARNESS_DIR" "/proc/$p/environ" 2>/dev/null &&
                        echo "$p"
        done
}

# True when none of the pids is running (zombies count as gone).
_cdc_all_gone() {
        local p stat
        for p in "$@"; do
                { read -r stat <"/proc/$p/stat"; } 2>/dev/null || continue
                stat=${stat##*) }
                [[ ${stat:0:1} == Z ]] || return 1
        done
        return 0
}

# Sends SIGTERM to pids, waits up to 10 s for them to go, then SIGKILL.
_cdc_kill_pids() {
        local p alive=()
        (($#)) || return 0
        kill -TERM "$@" 2>/dev/null || true
        cdc_wait_for 10 _cdc_all_gone "$@" 2>/dev/null && return 0
        for p in "$@"; do
                _cdc_all_gone "$p" || alive+=("$p")
        done
        echo "harness: SIGKILL to pids that ignored SIGTERM: ${alive[*]}" >&2
        kill -KILL "${alive[@]}" 2>/dev/null || true
}

# cdc_harness_cleanup: stops everything started under $CDC_HARNESS_DIR, by
# this run or an aborted earlier one: PostgreSQL clusters it created, then any
# process still carrying the harness's env marker (mock cluster, daemons and
# kcat left by tests), then the temp dirs it created. Idempotent.
cdc_harness_cleanup() {
        local d pids
        [[ -d "$CDC_HARNESS_DIR" ]] || return 0
        if [[ -r "$CDC_HARNESS_DIR/owned-dirs" ]]; then
                while read -r d; do
                        [[ -f "$d/data/postmaster.pid" ]] || continue
                        _cdc_pg_ctl "$(_cdc_pg_bindir)" stop -D "$d/data" -m immediate -w -t 30 \
                                >/dev/null 2>&1 || true
                done <"$CDC_HARNESS_DIR/owned-dirs"
        fi
        mapfile -t pids < <(_cdc_marked_pids)
        _cdc_kill_pids "${pids[@]}"
        if [[ -r "$CDC_HARNESS_DIR/owned-dirs" ]]; then
                while read -r d; do
                        # Only ever delete what we name: cdc-pg.* temp dirs.
                        [[ $(basename "$d") == cdc-pg.* ]] && rm -rf -- "$d"
                done <"$CDC_HARNESS_DIR/owned-dirs"
                rm -f "$CDC_HARNESS_DIR/owned-dirs"
        fi
        rm -f "$CDC_HARNESS_DIR/state.env"
}

# ------------------------------------------------------------ PostgreSQL

_cdc_pg_bindir() {
        local d
        if [[ -n "${CDC_PG_BINDIR:-}" ]]; then
                echo "$CDC_PG_BINDIR"
                return 0
        fi
        while read -r d; do
                [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
        done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
        d=$(command -v initdb) && { dirname "$d"; return 0; }
        _cdc_err "no PostgreSQL server binaries (initdb) found; set CDC_PG_BINDIR"
}

# PostgreSQL refuses to run as root: its server tools run as postgres then.
_cdc_as_postgres() {
        if ((EUID == 0)); then
                (cd / && runuser -u postgres -- "$@")
        else
                "$@"
        fi
}

_cdc_pg_ctl() {
        local bindir=$1
        shift
        _cdc_as_postgres "$bindir/pg_ctl" "$@"
}

# A port nobody listens on, below the ephemeral range (32768+) so outgoing
# connections cannot take it between our check and the server's bind.
_cdc_free_port() {
        local port i
        for i in {1..50}; do
                port=$((20000 + RANDOM % 12000))
                if [[ -z $(ss -Htln "sport = :$port" 2>/dev/null) ]]; then
                        echo "$port"
                        return 0
                fi
        done
        _cdc_err "no free port found"
}

_cdc_pg_ready() {
        pg_isready -q -h 127.0.0.1 -p "$1" -t 1
}

# Succeeds once the server on $2 answers or has visibly died (check after).
_cdc_pg_up_or_dead() {
        local data=$1 port=$2 log=$3
        _cdc_pg_ready "$port" && return 0
        grep -qE 'could not (bind|create)|Address already in use|aborting startup|FATAL:  data directory' \
                "$log" 2>/dev/null
}

# cdc_pg_start: initdb + start a PostgreSQL on 127.0.0.1:<free port>, socket
# and data in a fresh /tmp/cdc-pg.* dir owned by postgres; exports PG* and
# CDC_PG_* and saves them to state.env. Users: postgres (trust) and
# $CDC_PG_PW_USER / $CDC_PG_PW_PASSWORD (scram-sha-256, TCP and socket).
cdc_pg_start() {
        local bindir root data log port _
        mkdir -p "$CDC_HARNESS_DIR" || return 1
        bindir=$(_cdc_pg_bindir) || return 1
        root=$(mktemp -d -t cdc-pg.XXXXXX) || return 1
        _cdc_own_dir "$root"
        data=$root/data
        log=$CDC_HARNESS_DIR/postgresql.log
        : >"$log"
        if ((EUID == 0)); then
                chown postgres: "$root" "$log" || return 1
        fi
        chmod 700 "$root"

        if ! _cdc_as_postgres "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 \
                --locale=C --no-sync >"$CDC_HARNESS_DIR/initdb.log" 2>&1; then
                cat "$CDC_HARNESS_DIR/initdb.log" >&2
                _cdc_err "initdb failed (log above)"
                return 1
        fi
        cat >>"$data/postgresql.conf" <<EOF

# tests/harness/env.sh: a disposable test server
listen_addresses = '127.0.0.1'
unix_socket_directories = '$root'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
        cat >"$data/pg_hba.conf" <<EOF
# password user: only with a password, like DSQL
local all cdc_pw                scram-sha-256
host  all cdc_pw   127.0.0.1/32 scram-sha-256
local all all                   trust
host  all all      127.0.0.1/32 trust
EOF

        for _ in 1 2 3 4 5; do
                port=$(_cdc_free_port) || return 1
                : >"$log"
                if ! _cdc_pg_ctl "$bindir" start -D "$data" -l "$log" -W -o "-p $port" >/dev/null; then
                        _cdc_err "pg_ctl start failed"
                        return 1
                fi
                if ! cdc_wait_for 60 _cdc_pg_up_or_dead "$data" "$port" "$log"; then
                        tail -20 "$log" >&2
                        _cdc_err "PostgreSQL did not come up within 60 s (log: $log)"
                        return 1
                fi
                _cdc_pg_ready "$port" && break
                if ! grep -qE 'could not (bind|create)|Address already in use' "$log"; then
                        tail -20 "$log" >&2
                        _cdc_err "PostgreSQL failed to start (log: $log)"
                        return 1
                fi
                echo "cdc_pg_start: port $port taken meanwhile, trying another" >&2
                port=""
        done
        [[ -n "$port" ]] || { _cdc_err "no port worked after 5 attempts"; return 1; }

        export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
        export CDC_PG_BINDIR=$bindir CDC_PG_ROOT=$root CDC_PG_DATA=$data CDC_PG_SOCKDIR=$root
        export CDC_PG_LOG=$log CDC_PG_PW_USER=cdc_pw CDC_PG_PW_PASSWORD=cdc-pw-secret
        case ":$PATH:" in *":$bindir:"*) ;; *) export PATH="$bindir:$PATH" ;; esac
        "$bindir/psql" -XAtq -v ON_ERROR_STOP=1 \
                -c "CREATE ROLE $CDC_PG_PW_USER LOGIN PASSWORD '$CDC_PG_PW_PASSWORD'" || return 1
        _cdc_state_save
}

# cdc_pg_stop: fast shutdown (immediate if that hangs), delete its temp dir.
cdc_pg_stop() {
        local v
        if [[ -n "${CDC_PG_DATA:-}" && -f "$CDC_PG_DATA/postmaster.pid" ]]; then
                _cdc_pg_ctl "$CDC_PG_BINDIR" stop -D "$CDC_PG_DATA" -m fast -w -t 30 >/dev/null ||
                        _cdc_pg_ctl "$CDC_PG_BINDIR" stop -D "$CDC_PG_DATA" -m immediate -w -t 30 >/dev/null ||
                        echo "cdc_pg_stop: could not stop PostgreSQL in $CDC_PG_DATA" >&2
        fi
        [[ -n "${CDC_PG_ROOT:-}" && $(basename "$CDC_PG_ROOT") == cdc-pg.* ]] && rm -rf -- "$CDC_PG_ROOT"
        for v in PGHOST PGPORT PGUSER PGDATABASE CDC_PG_ROOT CDC_PG_DATA CDC_PG_SOCKDIR \
                CDC_PG_LOG CDC_PG_PW_USER CDC_PG_PW_PASSWORD; do
                unset "$v"
        done
        _cdc_state_save
}

# cdc_pg_newdb NAME: (re)creates database NAME owned by $CDC_PG_PW_USER, with
# tables later created by postgres readable and writable by that user too;
# exports PGDATABASE=NAME. NAME: lower-case letters, digits, underscores.
cdc_pg_newdb() {
        local name=${1:?cdc_pg_newdb NAME}
        [[ $name =~ ^[a-z_][a-z0-9_]{0,62}$ ]] ||
                { _cdc_err "database name must match [a-z_][a-z0-9_]*: '$name'"; return 1; }
        if ! { PGOPTIONS="-c client_min_messages=warning" dropdb --if-exists --maintenance-db=postgres "$name" &&
                createdb -O "$CDC_PG_PW_USER" "$name" &&
                psql -XAtq -v ON_ERROR_STOP=1 -d "$name" \
                        -c "GRANT ALL ON SCHEMA public TO $CDC_PG_PW_USER" \
                        -c "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO $CDC_PG_PW_USER"; }; then
                _cdc_err "could not create database $name"
                return 1
        fi
        export PGDATABASE=$name
}

# ------------------------------------------------------------ Kafka mock

# The recorded mock is running (and is ours, not a reused pid).
_cdc_kafka_alive() {
        [[ -n "${CDC_KAFKA_PID:-}" ]] && ! _cdc_all_gone "$CDC_KAFKA_PID" &&
                grep -qzxF "CDC_HARNESS_MARK=$CDC_HARNESS_DIR" "/proc/$CDC_KAFKA_PID/environ" 2>/dev/null
}

_cdc_kafka_booted() {
        [[ -s "$1/bootstrap" ]] || ! kill -0 "$2" 2>/dev/null
}

# Starts cdc_kafka_mock with its files in DIR; sets CDC_KAFKA_* in this shell.
_cdc_kafka_launch() {
        local dir=$1 brokers=${2:-1} bin=${CDC_KAFKA_MOCK_BIN:-}
        [[ -x "$bin" ]] || { _cdc_err "CDC_KAFKA_MOCK_BIN is not an executable: '$bin'"; return 1; }
        mkdir -p "$dir" || return 1
        rm -f "$dir/in" "$dir/out" "$dir/bootstrap" "$dir/lock"
        mkfifo "$dir/in" || return 1
        # The mock holds its stdin FIFO open read-write itself, so writers
        # coming and going never make it see EOF.
        "$bin" --brokers "$brokers" --bootstrap-file "$dir/bootstrap" \
                0<>"$dir/in" >"$dir/out" 2>"$dir/log" &
        CDC_KAFKA_PID=$!
        if ! cdc_wait_for 10 _cdc_kafka_booted "$dir" "$CDC_KAFKA_PID" || [[ ! -s "$dir/bootstrap" ]]; then
                cat "$dir/log" >&2
                _cdc_err "cdc_kafka_mock did not publish its bootstrap list (log: $dir/log)"
                kill "$CDC_KAFKA_PID" 2>/dev/null || true
                return 1
        fi
        export CDC_KAFKA_PID CDC_KAFKA_DIR=$dir CDC_KAFKA_BROKERS=$brokers
        export CDC_KAFKA_BOOTSTRAP
        CDC_KAFKA_BOOTSTRAP=$(<"$dir/bootstrap")
}

# cdc_kafka_start [BROKERS]: the shared mock cluster, saved in state.env.
cdc_kafka_start() {
        _cdc_kafka_launch "$CDC_HARNESS_DIR/kafka" "${1:-1}" && _cdc_state_save
}

# cdc_kafka_start_private [BROKERS]: a cluster for this test alone (fault
# injection must not disturb tests running in parallel). Replaces CDC_KAFKA_*
# in this shell only; cdc_test_end stops it.
cdc_kafka_start_private() {
        [[ -n "${CDC_TEST_TMP:-}" ]] || { _cdc_err "call cdc_test_begin first"; return 1; }
        _cdc_kafka_launch "$CDC_TEST_TMP/kafka" "${1:-1}" && _CDC_KAFKA_PRIVATE=$CDC_KAFKA_PID
}

_cdc_lines() {
        local n
        n=$(wc -l <"$1") || return 1
        echo "$n"
}

_cdc_lines_gt() {
        (($(_cdc_lines "$1") > $2))
}

# cdc_kafka_cmd "CMD ARGS": sends one command to the current cluster's mock
# (see cdc_kafka_mock --help) and returns 0 on "ok"; on "error ..." prints
# it and returns 1. Serialized across processes with flock.
cdc_kafka_cmd() {
        local cmd="$*" dir=${CDC_KAFKA_DIR:-} lock fd n reply rc=0
        _cdc_kafka_alive || { _cdc_err "the Kafka mock is not running"; return 1; }
        [[ $cmd != *$'\n'* ]] || { _cdc_err "one command per call"; return 1; }
        exec {lock}>>"$dir/lock" || return 1
        flock -w 30 "$lock" || { exec {lock}>&-; _cdc_err "lock busy for 30 s"; return 1; }
        n=$(_cdc_lines "$dir/out")
        exec {fd}<>"$dir/in" && printf '%s\n' "$cmd" >&"$fd"
        exec {fd}>&-
        if cdc_wait_for 10 _cdc_lines_gt "$dir/out" "$n"; then
                reply=$(sed -n "$((n + 1))p" "$dir/out")
        else
                reply="error no reply within 10 s"
        fi
        exec {lock}>&-
        if [[ $reply != ok ]]; then
                echo "cdc_kafka_cmd '$cmd': $reply" >&2
                rc=1
        fi
        return $rc
}

# cdc_kafka_stop: stops the current cluster's mock (SIGTERM, then SIGKILL).
cdc_kafka_stop() {
        local private=${_CDC_KAFKA_PRIVATE:-}
        if _cdc_kafka_alive; then
                _cdc_kill_pids "$CDC_KAFKA_PID"
                wait "$CDC_KAFKA_PID" 2>/dev/null || true
        fi
        [[ -n "${CDC_KAFKA_DIR:-}" ]] && rm -f "$CDC_KAFKA_DIR/in" "$CDC_KAFKA_DIR/bootstrap"
        unset CDC_KAFKA_BOOTSTRAP CDC_KAFKA_PID CDC_KAFKA_DIR CDC_KAFKA_BROKERS _CDC_KAFKA_PRIVATE
        if [[ -n "$private" ]]; then
                # Back to the shared cluster.
                [[ -r "$CDC_HARNESS_DIR/state.env" ]] && cdc_harness_load
        else
                _cdc_state_save
        fi
}

# cdc_topic_count TOPIC: sum of high watermarks over the topic's partitions
# (0 for a topic that does not exist). Watermarks, not consuming: the mock
# keeps only the last 100k messages of a partition.
cdc_topic_count() {
        local topic=${1:?cdc_topic_count TOPIC} meta parts i out args=() sum=0 line
        meta=$(kcat -L -b "$CDC_KAFKA_BOOTSTRAP" -m 10 2>&1) ||
                { _cdc_err "kcat -L: $meta"; return 1; }
        parts=$(awk -v t="\"$topic\"" '$1 == "topic" && $2 == t { print $4 }' <<<"$meta")
        if [[ -z "$parts" ]]; then
                echo 0
                return 0
        fi
        for ((i = 0; i < parts; i++)); do
                args+=(-t "$topic:$i:-1")
        done
        out=$(kcat -Q -b "$CDC_KAFKA_BOOTSTRAP" -m 10 "${args[@]}" 2>&1) ||
                { _cdc_err "kcat -Q: $out"; return 1; }
        # Lines look like: "<topic> [<partition>] offset <high watermark>"
        i=0
        while read -r line; do
                [[ $line =~ ^.+\ \[[0-9]+\]\ offset\ ([0-9]+)$ ]] || continue
                ((sum += BASH_REMATCH[1], i += 1))
        done <<<"$out"
        ((i == parts)) || { _cdc_err "watermarks for $i of $parts partitions: $out"; return 1; }
        echo "$sum"
}

# cdc_topic_has TOPIC N: true when the topic holds exactly N messages. For
# cdc_wait_for 10 cdc_topic_has t 5
cdc_topic_has() {
        local n
        n=$(cdc_topic_count "$1") && [[ $n == "$2" ]]
}

_cdc_topic_at_least() {
        local n
        n=$(cdc_topic_count "$1") && ((n >= $2))
}

# cdc_topic_dump TOPIC N [TIMEOUT_S=30]: waits until TOPIC holds N messages,
# fails if it holds more, and prints all of them as "key<TAB>value" lines,
# ordered by partition then offset; a null key or value prints as NULL.
# Values must not contain newlines.
cdc_topic_dump() {
        local topic=${1:?cdc_topic_dump TOPIC N [TIMEOUT_S]} n=${2:?} timeout=${3:-30} have out
        cdc_wait_for "$timeout" _cdc_topic_at_least "$topic" "$n" ||
                { _cdc_err "$topic: fewer than $n messages after ${timeout}s"; return 1; }
        have=$(cdc_topic_count "$topic") || return 1
        ((have == n)) || { _cdc_err "$topic holds $have messages, expected $n"; return 1; }
        out=$(timeout "$timeout" kcat -C -q -e -Z -b "$CDC_KAFKA_BOOTSTRAP" -t "$topic" \
                -o beginning -c "$n" -f '%p\t%o\t%k\t%s\n') ||
                { _cdc_err "kcat -C on $topic failed or timed out"; return 1; }
        have=$(grep -c '' <<<"$out")
        ((have == n)) || { _cdc_err "read $have lines from $topic, expected $n (newlines in values?)"; return 1; }
        sort -t $'\t' -k1,1n -k2,2n <<<"$out" | cut -f3-
}

# ------------------------------------------------------------ test life cycle

# cdc_test_begin [NAME]: start of every integration test. Loads state.env
# (skips with 77 if a needed binary is missing), makes $CDC_TEST_TMP, a
# database NAME (PGDATABASE), and $CDC_TOPIC_PREFIX for unique topic names;
# installs an EXIT trap running cdc_test_end. NAME defaults to $CDC_TEST_NAME
# (set by cdc_integration_test), else the script's name without test_ / .sh.
cdc_test_begin() {
        local name=${1:-${CDC_TEST_NAME:-}}
        if [[ -z "$name" ]]; then
                name=$(basename "$0" .sh)
                name=${name#test_}
        fi
        cdc_require psql kcat pg_isready
        cdc_harness_load || exit 1
        CDC_TEST_NAME=$name
        CDC_TEST_TMP=$(mktemp -d "$CDC_HARNESS_DIR/test.$name.XXXXXX") || exit 1
        CDC_TOPIC_PREFIX="it.$name.$$"
        export CDC_TEST_NAME CDC_TEST_TMP CDC_TOPIC_PREFIX
        _CDC_SPAWNED=()
        trap cdc_test_end EXIT
        cdc_pg_newdb "$(tr -c 'a-z0-9_\n' '_' <<<"${name,,}")" || exit 1
}

# cdc_spawn LOGFILE CMD [ARGS...]: runs CMD in the background with output to
# LOGFILE; sets CDC_SPAWN_PID. cdc_test_end stops whatever is still running.
cdc_spawn() {
        local log=${1:?cdc_spawn LOGFILE CMD...}
        shift
        "$@" </dev/null >"$log" 2>&1 &
        CDC_SPAWN_PID=$!
        _CDC_SPAWNED+=("$CDC_SPAWN_PID")
}

# cdc_test_end: the EXIT trap. Stops spawned processes and a private Kafka
# cluster; keeps $CDC_TEST_TMP when the test failed, for its logs.
cdc_test_end() {
        local rc=$? p alive=()
        trap - EXIT
        for p in "${_CDC_SPAWNED[@]}"; do
                kill -0 "$p" 2>/dev/null && alive+=("$p")
        done
        _cdc_kill_pids "${alive[@]}"
        [[ -n "${_CDC_KAFKA_PRIVATE:-}" ]] && cdc_kafka_stop
        if ((rc == 0 || rc == 77)); then
                rm -rf -- "$CDC_TEST_TMP"
        else
                echo "$CDC_TEST_NAME: failed (exit $rc); files kept in $CDC_TEST_TMP" >&2
        fi
        exit "$rc"
}

# ------------------------------------------------------------ more PostgreSQL

# Drops PID from the pids cdc_test_end stops (it was stopped already).
_cdc_unspawn() {
        local p keep=()
        for p in "${_CDC_SPAWNED[@]}"; do
                [[ $p == "$1" ]] || keep+=("$p")
        done
        _CDC_SPAWNED=("${keep[@]}")
}

_cdc_check_name() {
        [[ $1 =~ ^[A-Za-z][A-Za-z0-9_]{0,30}$ ]] ||
                { echo "${FUNCNAME[1]}: NAME must match [A-Za-z][A-Za-z0-9_]*: '$1'" >&2; return 1; }
}

# cdc_pg_start_extra NAME: a second (third...) PostgreSQL for this test alone,
# set up like the shared one (users, auth, 127.0.0.1) on its own free port,
# with only the default databases. Exports CDC_PG_<NAME>_PORT (NAME
# upper-cased); PG* and state.env keep pointing at the shared server.
# cdc_pg_stop_extra NAME stops it and deletes its files; cdc_test_end stops it
# too (SIGTERM: smart shutdown), and the harness cleanup removes its files.
cdc_pg_start_extra() {
        local name=${1:?cdc_pg_start_extra NAME} dir root port pid rc=0 var
        [[ -n "${CDC_TEST_TMP:-}" ]] || { _cdc_err "call cdc_test_begin first"; return 1; }
        _cdc_check_name "$name" || return 1
        var=CDC_PG_${name^^}_PORT
        [[ -z "${!var:-}" ]] || { _cdc_err "$name is already running on port ${!var}"; return 1; }
        # cdc_pg_start keeps every file of its own under $CDC_HARNESS_DIR: run
        # it in a subshell pointed at a dir of ours, so the shared server's
        # state.env and log stay as they are. Not under $CDC_TEST_TMP: that
        # is 0700 and the server runs as postgres. "test.*": a harness start
        # deletes what a failed test left.
        dir=$(mktemp -d "$CDC_HARNESS_DIR/test.$CDC_TEST_NAME.pg-$name.XXXXXX") || return 1
        chmod 755 "$dir" || return 1
        (CDC_HARNESS_DIR=$dir cdc_pg_start >/dev/null) || rc=1
        # Its temp dir joins the harness's, so cleanup stops it after any abort.
        [[ -r "$dir/owned-dirs" ]] && cat "$dir/owned-dirs" >>"$CDC_HARNESS_DIR/owned-dirs"
        echo "$dir" >"$CDC_TEST_TMP/pg-extra.$name"
        ((rc == 0)) || { _cdc_err "could not start PostgreSQL $name (files in $dir)"; return 1; }
        # shellcheck disable=SC1091
        read -r root port < <(source "$dir/state.env" && echo "$CDC_PG_ROOT $PGPORT")
        { read -r pid <"$root/data/postmaster.pid"; } 2>/dev/null ||
                { _cdc_err "PostgreSQL $name has no postmaster.pid in $root/data"; return 1; }
        _CDC_SPAWNED+=("$pid")
        printf -v "$var" '%s' "$port"
        export "${var?}"
}

# cdc_pg_stop_extra NAME: fast shutdown of a cdc_pg_start_extra server,
# deletes its files, unsets CDC_PG_<NAME>_PORT.
cdc_pg_stop_extra() {
        local name=${1:?cdc_pg_stop_extra NAME} dir pid="" rc=0 var
        _cdc_check_name "$name" || return 1
        var=CDC_PG_${name^^}_PORT
        [[ -r "$CDC_TEST_TMP/pg-extra.$name" ]] || { _cdc_err "no PostgreSQL $name was started"; return 1; }
        dir=$(<"$CDC_TEST_TMP/pg-extra.$name")
        if [[ -r "$dir/state.env" ]]; then
                # shellcheck disable=SC1091
                { read -r pid <"$(source "$dir/state.env" && echo "$CDC_PG_DATA")/postmaster.pid"; } 2>/dev/null
                # shellcheck disable=SC1091
                (source "$dir/state.env" && cdc_pg_stop) || rc=1
        fi
        [[ -n "$pid" ]] && _cdc_unspawn "$pid"
        rm -rf -- "$dir" "$CDC_TEST_TMP/pg-extra.$name"
        unset "$var"
        return $rc
}

# ------------------------------------------------------------ fault proxy

# cdc_faultproxy instances (tests/harness/faultproxy.c) belong to one test and
# live in $CDC_TEST_TMP/proxy.NAME: in (command FIFO), out (its stdout:
# address, then one reply per command), log (stderr), port, pid, lock.

_cdc_proxy_dir() {
        echo "$CDC_TEST_TMP/proxy.$1"
}

# The proxy NAME is running (and is ours, not a reused pid).
_cdc_proxy_alive() {
        local pid
        { read -r pid <"$(_cdc_proxy_dir "$1")/pid"; } 2>/dev/null &&
                ! _cdc_all_gone "$pid" &&
                grep -qzxF "CDC_HARNESS_MARK=$CDC_HARNESS_DIR" "/proc/$pid/environ" 2>/dev/null
}

_cdc_proxy_booted() {
        [[ -s "$1/port" ]] || ! kill -0 "$2" 2>/dev/null
}

# cdc_proxy_start NAME HOST:PORT: starts a fault proxy from 127.0.0.1:<free
# port> to HOST:PORT and exports CDC_PROXY_<NAME>_PORT (NAME upper-cased):
#   cdc_proxy_start pg "127.0.0.1:$PGPORT" && psql -p "$CDC_PROXY_PG_PORT" ...
# Steer it with cdc_proxy_cmd. cdc_test_end stops it (so does cdc_proxy_stop).
cdc_proxy_start() {
        local name=${1:?cdc_proxy_start NAME HOST:PORT} target=${2:?cdc_proxy_start NAME HOST:PORT}
        local bin=${CDC_FAULTPROXY_BIN:-} dir pid var
        [[ -n "${CDC_TEST_TMP:-}" ]] || { _cdc_err "call cdc_test_begin first"; return 1; }
        _cdc_check_name "$name" || return 1
        [[ -x "$bin" ]] || { _cdc_err "CDC_FAULTPROXY_BIN is not an executable: '$bin'"; return 1; }
        _cdc_proxy_alive "$name" && { _cdc_err "proxy $name is already running"; return 1; }
        dir=$(_cdc_proxy_dir "$name")
        mkdir -p "$dir" || return 1
        rm -f "$dir/in" "$dir/out" "$dir/port" "$dir/pid" "$dir/lock"
        mkfifo "$dir/in" || return 1
        # Held open read-write by the proxy itself: writers coming and going
        # never make it see EOF.
        "$bin" --target "$target" --listen-port-file "$dir/port" \
                0<>"$dir/in" >"$dir/out" 2>"$dir/log" &
        pid=$!
        _CDC_SPAWNED+=("$pid")
        echo "$pid" >"$dir/pid"
        if ! cdc_wait_for 10 _cdc_proxy_booted "$dir" "$pid" || [[ ! -s "$dir/port" ]]; then
                cat "$dir/log" >&2
                _cdc_err "cdc_faultproxy $name did not publish its port (log: $dir/log)"
                kill "$pid" 2>/dev/null || true
                return 1
        fi
        var=CDC_PROXY_${name^^}_PORT
        printf -v "$var" '%s' "$(<"$dir/port")"
        export "${var?}"
}

# cdc_proxy_cmd NAME "CMD ARGS": sends one command to proxy NAME (see
# cdc_faultproxy --help). On "ok" returns 0 and prints what follows it, if
# anything (stats: "conns=N active=M bytes_up=X bytes_down=Y"); on
# "error ..." prints that to stderr and returns 1.
cdc_proxy_cmd() {
        local name=${1:?cdc_proxy_cmd NAME CMD} cmd dir lock fd n reply
        shift
        cmd="$*"
        dir=$(_cdc_proxy_dir "$name")
        _cdc_proxy_alive "$name" || { _cdc_err "proxy $name is not running"; return 1; }
        [[ -n $cmd && $cmd != *$'\n'* ]] || { _cdc_err "one command per call"; return 1; }
        exec {lock}>>"$dir/lock" || return 1
        flock -w 30 "$lock" || { exec {lock}>&-; _cdc_err "lock busy for 30 s"; return 1; }
        n=$(_cdc_lines "$dir/out")
        exec {fd}<>"$dir/in" && printf '%s\n' "$cmd" >&"$fd"
        exec {fd}>&-
        if cdc_wait_for 10 _cdc_lines_gt "$dir/out" "$n"; then
                reply=$(sed -n "$((n + 1))p" "$dir/out")
        else
                reply="error no reply within 10 s"
        fi
        exec {lock}>&-
        case $reply in
        ok) return 0 ;;
        "ok "*) echo "${reply#ok }" ;;
        *)
                echo "cdc_proxy_cmd $name '$cmd': $reply" >&2
                return 1
                ;;
        esac
}

# cdc_proxy_stop NAME: stops proxy NAME (SIGTERM, then SIGKILL); its
# connections close. Unsets CDC_PROXY_<NAME>_PORT.
cdc_proxy_stop() {
        local name=${1:?cdc_proxy_stop NAME} dir pid=""
        _cdc_check_name "$name" || return 1
        dir=$(_cdc_proxy_dir "$name")
        { read -r pid <"$dir/pid"; } 2>/dev/null
        if _cdc_proxy_alive "$name"; then
                _cdc_kill_pids "$pid"
                wait "$pid" 2>/dev/null || true
        fi
        [[ -n "$pid" ]] && _cdc_unspawn "$pid"
        rm -f "$dir/in" "$dir/port" "$dir/pid"
        unset "CDC_PROXY_${name^^}_PORT"
}
