# The servers the benchmark scripts run side by side (ferry, RabbitMQ, NATS, Redis), sourced by
# scripts/bench-peers and scripts/bench-tasks. Each listens on 127.0.0.1 on a port of its own (none
# of the defaults), keeps its data in one temporary directory removed at exit, and is stopped by its
# process id. Servers that Debian's packages may have started are left alone.
#
# The sourcing script sets BENCH_NAME (its name, for messages and its directory under target/) and
# FERRY (the broker binary) first.

FERRY_KAFKA_PORT=39092
FERRY_SQS_PORT=39324
FERRY_AMQP_PORT=39672
RABBITMQ_PORT=35672
RABBITMQ_DIST=35673
EPMD_PORT=34369
NATS_PORT=34222
REDIS_ALWAYS_PORT=36379
REDIS_EVERYSEC_PORT=36380

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# --- servers -------------------------------------------------------------------------------------
#
# Each server has a start function that fills PIDS (name -> pid, every process to stop, in the order
# started), MEM_PID (the process whose resident memory the bench reads) and LOG (its output).

# Data goes on the disk the repository is on, not in /tmp, which is a tmpfs on some systems (where
# fsync costs nothing).
mkdir -p target/$BENCH_NAME
WORK=$(mktemp -d "$PWD/target/$BENCH_NAME/data.XXXXXX")
declare -A PIDS=()
PID_ORDER=()
MEM_PID=
LOG=

track() {
    PIDS[$1]=$2
    PID_ORDER+=("$1")
}

# Stops one tracked process: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_pid() {
    local name=$1 pid=${PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    unset "PIDS[$name]"
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt 100 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "$name (pid $pid) still running after 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # Reaps our own children; the others (the Erlang VM under its start script) are not ours to wait.
    wait "$pid" 2>/dev/null || true
    # A pid that is not our child may still be a zombie of its parent for a moment.
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt 50 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
}

# Stops every tracked process, the last started first.
stop_all() {
    local i
    for ((i = ${#PID_ORDER[@]} - 1; i >= 0; i--)); do
        stop_pid "${PID_ORDER[$i]}"
    done
    PID_ORDER=()
    MEM_PID=
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Fails, naming what answers there, when a port this script needs is already taken.
port_free() {
    if port_answers "$1"; then
        echo "$BENCH_NAME: port $1 already answers on 127.0.0.1; another server is there:" >&2
        if command -v ss >/dev/null; then ss -ltnp "sport = :$1" >&2 || true; fi
        return 1
    fi
}

# Waits until 127.0.0.1:PORT accepts a connection while PID lives; on failure prints the log's tail.
wait_port() {
    local what=$1 port=$2 pid=$3 timeout_s=$4 log=$5 t=0
    while ! port_answers "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$BENCH_NAME: $what exited before listening on 127.0.0.1:$port; end of $log:" >&2
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        if [ $t -ge $((timeout_s * 10)) ]; then
            echo "$BENCH_NAME: $what does not answer on 127.0.0.1:$port after ${timeout_s} s; end of $log:" >&2
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        sleep 0.1
        t=$((t + 1))
    done
}

start_ferry() {
    local d=$WORK/ferry
    mkdir -p "$d"
    LOG=$d/ferry.log
    port_free $FERRY_KAFKA_PORT && port_free $FERRY_SQS_PORT && port_free $FERRY_AMQP_PORT || return 1
    # The defaults are what is measured: no FERRY_* variable of the caller's shell reaches the broker
    # (nor a configuration file through FERRY_CONFIG). The bench creates its own topics, so the
    # broker's auto-creation settings play no part.
    local unset_ferry=()
    local var
    for var in $(compgen -e); do
        [[ $var == FERRY_* ]] && unset_ferry+=(-u "$var")
    done
    env "${unset_ferry[@]}" "$FERRY" serve --data-dir "$d/data" --fsync always \
        --kafka-listen 127.0.0.1:$FERRY_KAFKA_PORT --sqs-listen 127.0.0.1:$FERRY_SQS_PORT \
        --amqp-listen 127.0.0.1:$FERRY_AMQP_PORT --http-listen 127.0.0.1:0 \
        >"$LOG" 2>&1 &
    track ferry $!
    MEM_PID=$!
    wait_port ferry $FERRY_KAFKA_PORT "$MEM_PID" 30 "$LOG" &&
        wait_port ferry $FERRY_SQS_PORT "$MEM_PID" 30 "$LOG" &&
        wait_port ferry $FERRY_AMQP_PORT "$MEM_PID" 30 "$LOG"
}

# RabbitMQ runs as the current user straight from its start script (the /usr/sbin wrapper would
# switch to the rabbitmq user and the system's data directory), with its own epmd on its own port.
start_rabbitmq() {
    local d=$WORK/rabbitmq
    mkdir -p "$d"
    LOG=$d/rabbitmq.out
    port_free $RABBITMQ_PORT && port_free $RABBITMQ_DIST && port_free $EPMD_PORT || return 1
    local bin=/usr/lib/rabbitmq/bin/rabbitmq-server
    [ -x "$bin" ] || { echo "$BENCH_NAME: $bin not found (is rabbitmq-server installed?)" >&2; return 1; }

    ERL_EPMD_PORT=$EPMD_PORT epmd -port $EPMD_PORT -address 127.0.0.1 >"$d/epmd.log" 2>&1 &
    track epmd $!
    wait_port epmd $EPMD_PORT "${PIDS[epmd]}" 10 "$d/epmd.log" || return 1

    : >"$d/rabbitmq-env.conf"
    echo '[].' >"$d/enabled_plugins"
    cat >"$d/rabbitmq.conf" <<'EOF'
# Defaults apart from the listener, which the environment sets (127.0.0.1 only).
EOF
    HOME=$d \
        ERL_EPMD_PORT=$EPMD_PORT \
        RABBITMQ_NODENAME=ferrybench@localhost \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT=$RABBITMQ_PORT \
        RABBITMQ_DIST_PORT=$RABBITMQ_DIST \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf \
        RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf \
        RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config \
        RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins \
        RABBITMQ_MNESIA_BASE=$d/mnesia \
        RABBITMQ_LOG_BASE=$d/log \
        "$bin" >"$LOG" 2>&1 </dev/null &
    track rabbitmq-server $!

    # The start script runs the Erlang VM as its one child (erl execs into beam.smp); its memory is
    # what counts, and it is stopped by its own pid should the script not take it down.
    local t=0 child=
    while [ $t -lt 300 ]; do
        child=$(ps -o pid= --ppid "${PIDS[rabbitmq-server]}" 2>/dev/null | head -n 1 | tr -d ' ')
        if [ -n "$child" ] && [ "$(cat "/proc/$child/comm" 2>/dev/null)" = beam.smp ]; then
            break
        fi
        child=
        kill -0 "${PIDS[rabbitmq-server]}" 2>/dev/null || break
        sleep 0.1
        t=$((t + 1))
    done
    if [ -z "$child" ]; then
        echo "$BENCH_NAME: no beam.smp process under RabbitMQ's start script; end of $LOG:" >&2
        tail -n 30 "$LOG" >&2 || true
        return 1
    fi
    track beam.smp "$child"
    MEM_PID=$child
    local node_log=$d/log/ferrybench@localhost.log
    wait_port rabbitmq $RABBITMQ_PORT "$MEM_PID" 120 "$LOG" || {
        tail -n 30 "$node_log" >&2 2>/dev/null || true
        return 1
    }
    # The AMQP listener opens just before the boot ends; the bench starts once it has.
    t=0
    until grep -q 'Server startup complete' "$node_log" 2>/dev/null; do
        if [ $t -ge 300 ] || ! kill -0 "$MEM_PID" 2>/dev/null; then
            echo "$BENCH_NAME: RabbitMQ listens but did not finish booting; end of $node_log:" >&2
            tail -n 30 "$node_log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
        t=$((t + 1))
    done
}

start_nats() {
    local d=$WORK/nats
    mkdir -p "$d"
    LOG=$d/nats.log
    port_free $NATS_PORT || return 1
    nats-server -a 127.0.0.1 -p $NATS_PORT -js -sd "$d/store" >"$LOG" 2>&1 &
    track nats-server $!
    MEM_PID=$!
    wait_port nats $NATS_PORT "$MEM_PID" 30 "$LOG"
}

# start_redis NAME PORT FSYNC: one Redis with the append-only file fsynced as FSYNC says, no snapshots.
start_redis() {
    local name=$1 port=$2 fsync=$3 d=$WORK/$1
    mkdir -p "$d"
    LOG=$d/redis.log
    port_free "$port" || return 1
    redis-server --port "$port" --bind 127.0.0.1 --dir "$d" --daemonize no --save '' \
        --appendonly yes --appendfsync "$fsync" --logfile '' >"$LOG" 2>&1 &
    track "$name" $!
    MEM_PID=$!
    wait_port "$name" "$port" "$MEM_PID" 30 "$LOG"
}

start_server() {
    case $1 in
        ferry) start_ferry ;;
        rabbitmq) start_rabbitmq ;;
        nats) start_nats ;;
        redis-always) start_redis redis-always $REDIS_ALWAYS_PORT always ;;
        redis-everysec) start_redis redis-everysec $REDIS_EVERYSEC_PORT everysec ;;
    esac
}

# The system of BENCH_ONLY a server belongs to.
system_of() { echo "${1%%-*}"; }

# The TCP addresses a process listens on, e.g. "127.0.0.1:34222".
listening_of() {
    command -v ss >/dev/null || { echo "? (ss, from iproute2, is not installed)"; return; }
    local addrs
    addrs=$(ss -ltnpH 2>/dev/null | awk -v pid="pid=$1," 'index($0, pid) { print $4 }' | xargs)
    echo "${addrs:-nothing}"
}

rss_of() { awk '/^VmRSS:/ { print $2 " " $3 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
