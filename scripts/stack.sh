#!/usr/bin/env bash
# Local stack of real servers for tracepipe development and tests, started as plain processes
# (no Docker):
#   - Apache Kafka 4.x, KRaft combined mode (broker + controller), jars from Maven Central: one node
#     by default, or a replicated cluster of N nodes (`up --nodes 3`, or KAFKA_NODES=3)
#   - Prometheus          (Debian package `prometheus`)
#   - Prometheus Pushgateway (Debian package `prometheus-pushgateway`)
#
# Usage: bash scripts/stack.sh COMMAND [ARGS]
#   up [--nodes N]     start whatever is not running yet and wait until every server answers;
#                      N Kafka nodes (default KAFKA_NODES, else the count running, else 1). Node i
#                      listens on KAFKA_PORT + 2(i-1), its controller on KAFKA_CONTROLLER_PORT +
#                      2(i-1); with 3 or more nodes topics default to 3 replicas, min ISR 2
#   down [--wipe]      stop the servers this script started (recorded pids only);
#                      --wipe also deletes the Kafka and Prometheus data
#   status             one line per server; exit 0 only if all three are up
#   logs [NAME] [-f] [-n N]
#                      tail the log files (NAME: kafka, prometheus, pushgateway)
#   env                print `export VAR=...` lines for the stack (eval "$(bash scripts/stack.sh env)")
#   kill-kafka         kill -9 every Kafka node (crash test); data stays
#   start-kafka [--nodes N]  start only Kafka and wait until every node answers
#   reset-kafka        stop Kafka, delete its data (all topics), start it again
# Fault helpers (node I is 1..N; each waits until the fault is in place):
#   kill-node I        kill -9 node I           stop-node I     controlled shutdown of node I
#   start-node I       start node I, wait until it answers
#   restart-node I     controlled shutdown, then start (one step of a rolling restart)
#   pause-node I       SIGSTOP node I           resume-node I   SIGCONT node I
#   leader TOPIC P     print the node id leading partition P of TOPIC
#   kill-leader TOPIC P   kill -9 that node (prints its id)
#   controller         print the node id of the active KRaft controller
#   kill-controller    kill -9 it (prints its id)
#   wait-isr [SECONDS] wait until every node answers and no partition is under-replicated [120]
#   nodes              print the node count of the running Kafka
#   libs               fetch the Kafka classpath into the cache if missing (used by kafka-sasl.sh)
#
# Environment (defaults in brackets):
#   KAFKA_BOOTSTRAP        [127.0.0.1:9092]  host and port of the broker listener (of node 1)
#   KAFKA_CONTROLLER_PORT  [9093]            KRaft controller listener (same host)
#   KAFKA_NODES            [1]               Kafka nodes for `up` (as --nodes)
#   PROMETHEUS_PORT        [9090]
#   PUSHGATEWAY_PORT       [9091]
#   AGGREGATE_METRICS_PORT [9464]            scraped as job tracepipe-aggregate
#   REPLAY_METRICS_PORT    [9465]            scraped as job tracepipe-replay
#   TRACEPIPE_RUN_DIR      [<repo>/.run]     data dirs, pid files, logs (logs/ below it)
#   TRACEPIPE_CACHE_DIR    [<repo>/.cache]   kafka-libs/ (the broker's classpath)
#   TRACEPIPE_UP_TIMEOUT   [90]              seconds to wait for each server
#   KAFKA_HEAP_OPTS        [-Xms256m -Xmx1g]
#   KAFKA_RETENTION_HOURS  [24]  KAFKA_RETENTION_BYTES [1073741824] (per partition)
#   PROMETHEUS_RETENTION   [7d]
set -euo pipefail
set +m # no job control: background children stay in our process group until setsid

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

LIB_NAME=stack
# shellcheck source=scripts/lib.sh
source "$SCRIPT_DIR/lib.sh"

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
KAFKA_BOOTSTRAP=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
_first_bootstrap=${KAFKA_BOOTSTRAP%%,*}
KAFKA_HOST=${_first_bootstrap%:*}
KAFKA_PORT=${_first_bootstrap##*:}
[[ $_first_bootstrap == *:* && -n $KAFKA_HOST ]] || die "KAFKA_BOOTSTRAP must be host:port, got '$KAFKA_BOOTSTRAP'"
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
PUSHGATEWAY_PORT=${PUSHGATEWAY_PORT:-9091}
AGGREGATE_METRICS_PORT=${AGGREGATE_METRICS_PORT:-9464}
REPLAY_METRICS_PORT=${REPLAY_METRICS_PORT:-9465}
for _v in KAFKA_PORT KAFKA_CONTROLLER_PORT PROMETHEUS_PORT PUSHGATEWAY_PORT AGGREGATE_METRICS_PORT REPLAY_METRICS_PORT; do
  is_port "${!_v}" || die "$_v is not a port number: '${!_v}'"
done

RUN_DIR=$(abspath "${TRACEPIPE_RUN_DIR:-$REPO_DIR/.run}")
CACHE_DIR=$(abspath "${TRACEPIPE_CACHE_DIR:-$REPO_DIR/.cache}")
UP_TIMEOUT=${TRACEPIPE_UP_TIMEOUT:-90}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
KAFKA_RETENTION_HOURS=${KAFKA_RETENTION_HOURS:-24}
KAFKA_RETENTION_BYTES=${KAFKA_RETENTION_BYTES:-1073741824}
PROMETHEUS_RETENTION=${PROMETHEUS_RETENTION:-7d}

LOG_DIR=$RUN_DIR/logs
PID_DIR=$RUN_DIR/pids
NODES_FILE=$RUN_DIR/kafka.nodes # the node count of the Kafka that `up` started
PROM_DIR=$RUN_DIR/prometheus
PROM_CONFIG=$PROM_DIR/prometheus.yml
PROM_DATA_DIR=$PROM_DIR/data

# The Kafka node count: --nodes / KAFKA_NODES when given, else what `up` recorded, else 1.
# Set by main() before any command runs; set_nodes fills in the names that depend on it.
NODES=1
recorded_nodes() {
  local n
  n=$(cat "$NODES_FILE" 2>/dev/null) || n=1
  [[ $n =~ ^[1-9]$ ]] || n=1
  printf '%s\n' "$n"
}
set_nodes() {
  [[ $1 =~ ^[1-9]$ ]] || die "the Kafka node count must be 1 to 9, got '$1'"
  NODES=$1
  KAFKA_SERVICES=()
  if ((NODES == 1)); then
    KAFKA_SERVICES=(kafka)
  else
    local i
    for ((i = 1; i <= NODES; i++)); do KAFKA_SERVICES+=("kafka-$i"); done
  fi
  SERVICES=("${KAFKA_SERVICES[@]}" pushgateway prometheus) # start order; stopped in reverse
  local i ports=()
  for ((i = 1; i <= NODES; i++)); do
    ports+=("$(node_port "$i")" "$(node_controller_port "$i")")
    is_port "$(node_port "$i")" && is_port "$(node_controller_port "$i")" ||
      die "node $i's ports ($(node_port "$i"), $(node_controller_port "$i")) are out of range"
  done
  ports+=("$PROMETHEUS_PORT" "$PUSHGATEWAY_PORT")
  [[ $(printf '%s\n' "${ports[@]}" | sort | uniq -d) == "" ]] ||
    die "ports collide: Kafka nodes use KAFKA_PORT + 2(i-1) and KAFKA_CONTROLLER_PORT + 2(i-1); got ${ports[*]}"
}

# Node I's ports: next to node 1's, two apart (broker, controller, broker, controller, ...).
node_port() { printf '%s\n' "$((KAFKA_PORT + 2 * ($1 - 1)))"; }
node_controller_port() { printf '%s\n' "$((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1)))"; }
# Kafka service name -> node number (kafka -> 1, kafka-3 -> 3).
node_of() {
  case $1 in
    kafka) printf '1\n' ;;
    kafka-*) printf '%s\n' "${1#kafka-}" ;;
  esac
}
# The service name of node I in the current layout.
node_service() { ((NODES == 1)) && printf 'kafka\n' || printf 'kafka-%s\n' "$1"; }
# A single node keeps the layout it always had (.run/kafka/); an N-node cluster has its own
# folder per count, so switching between them never mixes two clusters' metadata.
node_dir() { ((NODES == 1)) && printf '%s\n' "$RUN_DIR/kafka" || printf '%s\n' "$RUN_DIR/kafka-n$NODES/node-$1"; }
node_config() { printf '%s\n' "$(node_dir "$1")/server.properties"; }
node_data() { printf '%s\n' "$(node_dir "$1")/data"; }
node_log_dir() { ((NODES == 1)) && printf '%s\n' "$LOG_DIR" || printf '%s\n' "$LOG_DIR/kafka-$1"; }
# Every node's listener, for clients and tools.
all_bootstrap() {
  local i out=()
  for ((i = 1; i <= NODES; i++)); do out+=("$KAFKA_HOST:$(node_port "$i")"); done
  (IFS=,; printf '%s\n' "${out[*]}")
}
is_kafka() { [[ $1 == kafka || $1 == kafka-* ]]; }

# Process supervision and the Kafka broker, shared with scripts/kafka-sasl.sh
# (KAFKA_LIBS, KAFKA_POM, KAFKA_LOG4J, KAFKA_TOOLS_LOG4J come from lib/kafka.sh).
# shellcheck source=scripts/lib/proc.sh
source "$SCRIPT_DIR/lib/proc.sh"
# shellcheck source=scripts/lib/kafka.sh
source "$SCRIPT_DIR/lib/kafka.sh"

log_file() {
  case $1 in
    kafka*) printf '%s\n' "$(node_log_dir "$(node_of "$1")")/kafka.log" ;;
    *) printf '%s\n' "$LOG_DIR/$1.log" ;;
  esac
}
# stdout/stderr of the process itself (for Kafka: JVM messages; its log4j output is kafka.log)
out_file() {
  case $1 in
    kafka*) printf '%s\n' "$LOG_DIR/$1.out" ;;
    *) printf '%s\n' "$LOG_DIR/$1.log" ;;
  esac
}
service_port() {
  case $1 in
    kafka*) node_port "$(node_of "$1")" ;;
    prometheus) printf '%s\n' "$PROMETHEUS_PORT" ;;
    pushgateway) printf '%s\n' "$PUSHGATEWAY_PORT" ;;
  esac
}
service_host() {
  case $1 in
    kafka*) printf '%s\n' "$KAFKA_HOST" ;;
    *) printf '%s\n' 127.0.0.1 ;;
  esac
}
# A string that the command line of our own process contains (guards against pid reuse).
service_marker() {
  case $1 in
    kafka*) node_config "$(node_of "$1")" ;;
    prometheus) printf '%s\n' "$PROM_CONFIG" ;;
    pushgateway) printf '%s\n' "--web.listen-address=127.0.0.1:$PUSHGATEWAY_PORT" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
http_ok() { curl -fsS -m 3 -o /dev/null "$1" 2>/dev/null; }

running_pid() { proc_running_pid "$1" "$(service_marker "$1")"; }
stop_service() { proc_stop "$1" "$(service_marker "$1")" "$2" "$1"; }
with_lock() { proc_lock "$RUN_DIR/.stack.lock"; }
show_log_tail() { proc_log_tail "$(log_file "$1")" "$(out_file "$1")"; }

ready() {
  case $1 in
    kafka*)
      local i
      i=$(node_of "$1")
      port_open "$KAFKA_HOST" "$(node_port "$i")" && port_open "$KAFKA_HOST" "$(node_controller_port "$i")"
      ;;
    prometheus) http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" ;;
    pushgateway) http_ok "http://127.0.0.1:$PUSHGATEWAY_PORT/-/ready" ;;
  esac
}
# started NAME LOG_OFFSET: ready, and Kafka has also logged its start after LOG_OFFSET.
started() {
  ready "$1" || return 1
  is_kafka "$1" || return 0
  kafka_started "$(log_file "$1")" "$2"
}

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------

ensure_prometheus_packages() {
  command -v prometheus >/dev/null 2>&1 && command -v prometheus-pushgateway >/dev/null 2>&1 && return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "prometheus / prometheus-pushgateway missing: apt-get install prometheus prometheus-pushgateway (as root)"
  fi
  say "installing Debian packages prometheus prometheus-pushgateway"
  # The packages start system services on the default ports (9090, 9091) when installed, unless
  # policy-rc.d forbids it; forbid it for the duration of the install if nothing does already.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, from tracepipe scripts/stack.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus prometheus-pushgateway
  } >"$LOG_DIR/apt-install.log" 2>&1 || rc=$?
  ((own_policy)) && rm -f "$policy"
  if ((rc != 0)); then
    tail -n 30 "$LOG_DIR/apt-install.log" >&2
    die "apt-get install prometheus prometheus-pushgateway failed"
  fi
  disable_system_services
}

# Make sure the distribution's own services do not hold our ports.
disable_system_services() {
  local svc
  for svc in prometheus prometheus-pushgateway; do
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    else
      if [[ -x /etc/init.d/$svc ]]; then
        service "$svc" stop >/dev/null 2>&1 || true
        update-rc.d "$svc" disable >/dev/null 2>&1 || true
      fi
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Config rendering
# ---------------------------------------------------------------------------------------------
# render_kafka_config I: node I's server.properties. With three or more nodes every topic,
# internal ones included, defaults to 3 replicas and min.insync.replicas 2: a write acknowledged
# by `acks=all` is then on two nodes, and one node may fail at any time.
render_kafka_config() {
  local i=$1 config data voters="" j rf isr
  config=$(node_config "$i")
  data=$(node_data "$i")
  mkdir -p "$(dirname "$config")" "$data"
  for ((j = 1; j <= NODES; j++)); do
    voters+="${voters:+,}$j@$KAFKA_HOST:$(node_controller_port "$j")"
  done
  rf=$((NODES >= 3 ? 3 : NODES))
  isr=$((NODES >= 3 ? 2 : 1))
  sed -e "s|@KAFKA_HOST@|$(sed_rhs "$KAFKA_HOST")|g" \
    -e "s|@KAFKA_PORT@|$(node_port "$i")|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$(node_controller_port "$i")|g" \
    -e "s|@KAFKA_NODE_ID@|$i|g" \
    -e "s|@KAFKA_QUORUM_VOTERS@|$(sed_rhs "$voters")|g" \
    -e "s|@KAFKA_REPLICATION_FACTOR@|$rf|g" \
    -e "s|@KAFKA_MIN_ISR@|$isr|g" \
    -e "s|@KAFKA_DATA_DIR@|$(sed_rhs "$data")|g" \
    -e "s|@KAFKA_RETENTION_HOURS@|$KAFKA_RETENTION_HOURS|g" \
    -e "s|@KAFKA_RETENTION_BYTES@|$KAFKA_RETENTION_BYTES|g" \
    "$SCRIPT_DIR/kafka/server.properties.template" >"$config.tmp"
  mv "$config.tmp" "$config"
}

# Renders prometheus.yml; returns 0 if the file changed.
render_prometheus_config() {
  mkdir -p "$PROM_DIR" "$PROM_DATA_DIR"
  sed -e "s|@PROMETHEUS_PORT@|$PROMETHEUS_PORT|g" \
    -e "s|@PUSHGATEWAY_PORT@|$PUSHGATEWAY_PORT|g" \
    -e "s|@AGGREGATE_METRICS_PORT@|$AGGREGATE_METRICS_PORT|g" \
    -e "s|@REPLAY_METRICS_PORT@|$REPLAY_METRICS_PORT|g" \
    "$REPO_DIR/scripts/prometheus/prometheus.yml" >"$PROM_CONFIG.tmp"
  if command -v promtool >/dev/null 2>&1; then
    promtool check config "$PROM_CONFIG.tmp" >"$LOG_DIR/promtool.log" 2>&1 ||
      {
        cat "$LOG_DIR/promtool.log" >&2
        die "rendered Prometheus config is invalid"
      }
  fi
  if [[ -f $PROM_CONFIG ]] && cmp -s "$PROM_CONFIG.tmp" "$PROM_CONFIG"; then
    rm -f "$PROM_CONFIG.tmp"
    return 1
  fi
  mv "$PROM_CONFIG.tmp" "$PROM_CONFIG"
  return 0
}

# ---------------------------------------------------------------------------------------------
# Starting
# ---------------------------------------------------------------------------------------------
# Waits until the service answers; on timeout or death prints its log, stops it, fails.
wait_ready() {
  local name=$1 pid=$2 t0=$3 log_offset=${4:-0} rc=0
  proc_wait_ready "$name" "$pid" "$UP_TIMEOUT" started "$name" "$log_offset" || rc=$?
  case $rc in
    0)
      if is_kafka "$name"; then
        local i
        i=$(node_of "$name")
        say "$name: ready on $KAFKA_HOST:$(node_port "$i") (controller :$(node_controller_port "$i"), pid $pid, $(elapsed "$t0")s)"
      else
        say "$name: ready on port $(service_port "$name") (pid $pid, $(elapsed "$t0")s)"
      fi
      return 0
      ;;
    1)
      rm -f "$(proc_pid_file "$name")"
      show_log_tail "$name"
      ;;
    *)
      show_log_tail "$name"
      stop_service "$name" 10 >&2
      ;;
  esac
  return 1
}

# Common part of start_*: already running? port taken by someone else?
# Returns 0 if the caller should start the service, 1 if it is already up.
check_before_start() {
  local name=$1 pid port
  port=$(service_port "$name")
  if pid=$(running_pid "$name"); then
    if ready "$name"; then
      say "$name: already running (pid $pid, port $port)"
      return 1
    fi
    say "$name: pid $pid is running but not answering yet; waiting"
    wait_ready "$name" "$pid" "$(now)" 0 || exit 1
    return 1
  fi
  if port_open "$(service_host "$name")" "$port"; then
    die "$name: port $port is already in use by a process this script did not start (not ours: see 'ss -ltnp'); stop it or choose another port"
  fi
  if is_kafka "$name" && port_open "$KAFKA_HOST" "$(node_controller_port "$(node_of "$name")")"; then
    die "$name: controller port $(node_controller_port "$(node_of "$name")") is already in use by another process"
  fi
  return 0
}

# Another layout's Kafka still running (one node while three are asked for, or the reverse)
# would hold node 1's ports: say so instead of failing on a taken port.
check_layout() {
  local other name pid
  for other in 1 2 3 4 5 6 7 8 9; do
    ((other == NODES)) && continue
    if ((other == 1)); then name=kafka; else name=kafka-1; fi
    # (not proc_running_pid: that would drop the pid file of this layout's node 1)
    if pid=$(proc_read_pid "$name") && proc_is_ours "$pid" "$(NODES=$other node_config 1)"; then
      die "Kafka is running with $other node(s), not $NODES: stop it first (make down / scripts/stack.sh down)"
    fi
  done
}

# start_kafka [I...]: the given nodes (default all) that are not running yet. A quorum of
# several voters elects a leader only when a majority runs, so all are spawned before any is
# waited for.
start_kafka() {
  local nodes=("$@") i name t0 cluster_file
  ((${#nodes[@]})) || for ((i = 1; i <= NODES; i++)); do nodes+=("$i"); done
  check_layout
  kafka_need_java
  t0=$(now)
  kafka_ensure_libs
  mkdir -p "$LOG_DIR"
  printf '%s\n' "$NODES" >"$NODES_FILE"
  # One cluster id for all nodes, kept beside them: a node formatted later joins the same cluster.
  local KAFKA_CLUSTER_ID=""
  if ((NODES > 1)); then
    cluster_file=$RUN_DIR/kafka-n$NODES/cluster.id
    mkdir -p "$(dirname "$cluster_file")"
    [[ -s $cluster_file ]] || kafka_java kafka.tools.StorageTool random-uuid >"$cluster_file" 2>>"$LOG_DIR/kafka-format.out" ||
      die "StorageTool random-uuid failed (see $LOG_DIR/kafka-format.out)"
    KAFKA_CLUSTER_ID=$(<"$cluster_file")
  fi
  local -A offsets=()
  local spawned=()
  for i in "${nodes[@]}"; do
    name=$(node_service "$i")
    check_before_start "$name" || continue
    mkdir -p "$(node_log_dir "$i")"
    render_kafka_config "$i"
    KAFKA_CLUSTER_ID=$KAFKA_CLUSTER_ID kafka_format "$name" "$(node_data "$i")" "$(node_config "$i")" "$(out_file "$name")" ""
    offsets[$name]=$(file_size "$(log_file "$name")")
    kafka_spawn "$name" "$(node_config "$i")" "$(node_log_dir "$i")" "$(out_file "$name")" "$KAFKA_HEAP_OPTS" \
      -XX:InitiatingHeapOccupancyPercent=35
    spawned+=("$name")
  done
  for name in "${spawned[@]}"; do
    wait_ready "$name" "$(proc_read_pid "$name")" "$t0" "${offsets[$name]}" || exit 1
  done
}

start_pushgateway() {
  check_before_start pushgateway || return 0
  local t0
  t0=$(now)
  # In memory only (no --persistence.file): a restart starts with an empty gateway.
  proc_spawn pushgateway "$(out_file pushgateway)" prometheus-pushgateway \
    --web.listen-address="127.0.0.1:$PUSHGATEWAY_PORT" \
    --persistence.file="" \
    --web.enable-admin-api \
    --web.enable-lifecycle
  wait_ready pushgateway "$(proc_read_pid pushgateway)" "$t0"
}

start_prometheus() {
  local changed=0
  render_prometheus_config && changed=1
  if ! check_before_start prometheus; then
    if ((changed)); then
      say "prometheus: configuration changed, reloading"
      curl -fsS -m 10 -X POST "http://127.0.0.1:$PROMETHEUS_PORT/-/reload" >/dev/null ||
        die "prometheus: reload failed (see $(log_file prometheus))"
    fi
    return 0
  fi
  local t0
  t0=$(now)
  proc_spawn prometheus "$(out_file prometheus)" prometheus \
    --config.file="$PROM_CONFIG" \
    --storage.tsdb.path="$PROM_DATA_DIR" \
    --storage.tsdb.retention.time="$PROMETHEUS_RETENTION" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --web.enable-lifecycle \
    --web.enable-admin-api
  wait_ready prometheus "$(proc_read_pid prometheus)" "$t0"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
# A listening port inside the kernel's ephemeral range can be taken while its server is down:
# a client reconnecting to it may get that very port as its own source port and connect to
# itself (TCP self-connect), and the restarted server then fails with "Address already in use".
# The crash tests restart the broker while clients reconnect, so say it up front.
warn_ephemeral_ports() {
  local range lo hi i p
  range=$(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || return 0
  read -r lo hi <<<"$range"
  for ((i = 1; i <= NODES; i++)); do
    for p in "$(node_port "$i")" "$(node_controller_port "$i")"; do
      if ((p >= lo && p <= hi)); then
        say "warning: Kafka port $p is inside the ephemeral port range $lo-$hi; a broker restart can then fail with 'Address already in use' (choose a port below $lo)"
      fi
    done
  done
}

cmd_up() {
  warn_ephemeral_ports
  with_lock
  need_cmd curl "install curl (Debian package curl)"
  local t0
  t0=$(now)
  mkdir -p "$LOG_DIR" "$PID_DIR"
  ensure_prometheus_packages
  start_kafka
  start_pushgateway
  start_prometheus
  say "up: all servers ready ($(elapsed "$t0")s); run dir $RUN_DIR"
}

cmd_down() {
  local wipe=0 arg name i pid
  for arg in "$@"; do
    case $arg in
      --wipe) wipe=1 ;;
      *) die "down: unknown option '$arg'" ;;
    esac
  done
  with_lock
  stop_service prometheus 20
  stop_service pushgateway 20
  for ((i = ${#KAFKA_SERVICES[@]} - 1; i >= 0; i--)); do
    name=${KAFKA_SERVICES[i]}
    # A paused node ignores TERM until it is resumed.
    if pid=$(running_pid "$name"); then kill -CONT "$pid" 2>/dev/null || true; fi
    stop_service "$name" 60
  done
  rm -f "$NODES_FILE"
  if ((wipe)); then
    local dirs=("$PROM_DATA_DIR")
    for ((i = 1; i <= NODES; i++)); do dirs+=("$(node_data "$i")"); done
    rm -rf "${dirs[@]}"
    say "deleted ${dirs[*]}"
  fi
}

cmd_status() {
  local name pid all=0 where i
  for name in "${SERVICES[@]}"; do
    if is_kafka "$name"; then
      i=$(node_of "$name")
      where="$KAFKA_HOST:$(node_port "$i") (controller :$(node_controller_port "$i"))"
    else
      where="http://127.0.0.1:$(service_port "$name")/"
    fi
    if pid=$(running_pid "$name"); then
      if [[ $(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) == T ]]; then
        printf '%-12s paused    pid %-8s %s (SIGSTOP)\n' "$name" "$pid" "$where"
        all=1
      elif ready "$name"; then
        printf '%-12s up        pid %-8s %s\n' "$name" "$pid" "$where"
      else
        printf '%-12s starting  pid %-8s %s (not answering)\n' "$name" "$pid" "$where"
        all=1
      fi
    else
      printf '%-12s down      %-12s %s\n' "$name" "" "$where"
      all=1
    fi
  done
  printf 'run dir: %s   logs: %s\n' "$RUN_DIR" "$LOG_DIR"
  return "$all"
}

cmd_logs() {
  local follow=0 lines=30 names=() name
  while (($#)); do
    case $1 in
      -f | --follow) follow=1 ;;
      -n)
        shift
        lines=${1:?-n needs a number}
        ;;
      kafka) names+=("${KAFKA_SERVICES[@]}") ;;
      kafka-[1-9] | prometheus | pushgateway) names+=("$1") ;;
      *) die "logs: unknown argument '$1' (kafka, kafka-I, prometheus, pushgateway, -f, -n N)" ;;
    esac
    shift
  done
  ((${#names[@]})) || names=("${SERVICES[@]}")
  local files=()
  for name in "${names[@]}"; do
    files+=("$(log_file "$name")")
    [[ $(out_file "$name") == "$(log_file "$name")" ]] || files+=("$(out_file "$name")")
  done
  proc_logs "$lines" "$follow" "${files[@]}"
}

cmd_env() {
  cat <<EOF
export KAFKA_BOOTSTRAP=$(all_bootstrap)
export KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
export KAFKA_NODES=$NODES
export PROMETHEUS_PORT=$PROMETHEUS_PORT
export PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT
export PUSHGATEWAY_PORT=$PUSHGATEWAY_PORT
export PUSHGATEWAY_URL=http://127.0.0.1:$PUSHGATEWAY_PORT
export AGGREGATE_METRICS_PORT=$AGGREGATE_METRICS_PORT
export REPLAY_METRICS_PORT=$REPLAY_METRICS_PORT
export TRACEPIPE_RUN_DIR=$RUN_DIR
export TRACEPIPE_CACHE_DIR=$CACHE_DIR
export KAFKA_LIBS=$KAFKA_LIBS
export KAFKA_TOOLS_LOG4J=$KAFKA_TOOLS_LOG4J
EOF
}

# ---------------------------------------------------------------------------------------------
# Fault helpers
# ---------------------------------------------------------------------------------------------
# node_arg I: checks that I is a node of the running layout; prints its service name.
node_arg() {
  [[ ${1:-} =~ ^[1-9]$ ]] && (($1 <= NODES)) || die "node must be 1..$NODES, got '${1:-}'"
  node_service "$1"
}

kill_node() {
  local i=$1 name pid
  name=$(node_service "$i")
  pid=$(proc_kill "$name" "$(service_marker "$name")") || die "$name is not running (no live recorded pid)"
  # A paused process dies of KILL too. The command line disappears before the dying JVM has
  # closed its sockets: wait for the ports too, or an immediate start finds them still taken.
  proc_wait_ports_closed "$KAFKA_HOST" "$(node_port "$i")" "$(node_controller_port "$i")"
  say "$name: killed -9 (pid $pid)"
}

stop_node() {
  local name pid
  name=$(node_service "$1")
  # A paused node ignores TERM until it is resumed.
  if pid=$(running_pid "$name"); then kill -CONT "$pid" 2>/dev/null || true; fi
  stop_service "$name" 60
  proc_wait_ports_closed "$KAFKA_HOST" "$(node_port "$1")" "$(node_controller_port "$1")"
}

signal_node() {
  local sig=$1 i=$2 name pid
  name=$(node_arg "$i")
  pid=$(running_pid "$name") || die "$name is not running"
  kill "-$sig" "$pid"
  say "$name: sent SIG$sig (pid $pid)"
}

# Kafka's own tools, reaching the cluster through every node, so any one of them may be down.
cluster_tool() {
  local main=$1
  shift
  java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" "$main" --bootstrap-server "$(all_bootstrap)" "$@"
}

# describe_topics [--topic T] [--under-replicated-partitions]: one line per partition in the
# layout of `kafka-topics.sh --describe`. `tracepipe topics` answers in milliseconds where a JVM
# start takes seconds (more on a loaded machine, and the fault runs call this after every fault),
# so it is used when the binary is built ($TRACEPIPE_BIN or target/release); else TopicCommand.
describe_topics() {
  local bin=${TRACEPIPE_BIN:-$REPO_DIR/target/release/tracepipe} args=()
  if [[ -x $bin ]] && "$bin" topics --help >/dev/null 2>&1; then
    while (($#)); do
      case $1 in
        --under-replicated-partitions) args+=(--under-replicated) ;;
        *) args+=("$1") ;;
      esac
      shift
    done
    # (its log lines, e.g. about a node that is down, stay out of the answer)
    "$bin" topics --bootstrap "$(all_bootstrap)" "${args[@]}" 2>/dev/null
  else
    cluster_tool org.apache.kafka.tools.TopicCommand --describe "$@" 2>&1
  fi
}

leader_of() {
  local topic=${1:?leader: give TOPIC PARTITION} part=${2:?leader: give TOPIC PARTITION} out id
  local deadline=$((SECONDS + 30))
  # A new partition, or one failing over, has no leader for a moment: ask again for up to 30 s.
  while :; do
    out=$(describe_topics --topic "$topic") ||
      die "describing topic $topic failed: $out"
    id=$(awk -v p="$part" '{
        for (i = 1; i < NF; i++) if ($i == "Partition:" && $(i + 1) == p) found = 1
        if (found) { for (i = 1; i < NF; i++) if ($i == "Leader:") { print $(i + 1); exit } }
      }' <<<"$out")
    [[ $id =~ ^[0-9]+$ ]] && break
    ((SECONDS < deadline)) || die "topic $topic partition $part: no leader (${id:-not found})"
    sleep 0.5
  done
  printf '%s\n' "$id"
}

active_controller() {
  local out id
  out=$(cluster_tool org.apache.kafka.tools.MetadataQuorumCommand describe --status 2>&1) ||
    die "describing the KRaft quorum failed: $out"
  id=$(awk '$1 == "LeaderId:" { print $2; exit }' <<<"$out")
  [[ $id =~ ^[0-9]+$ ]] || die "no active controller in: $out"
  printf '%s\n' "$id"
}

# Every node answers and no partition lacks a replica in its ISR.
cmd_wait_isr() {
  local timeout=${1:-120} deadline out i name t0
  t0=$(now)
  deadline=$((SECONDS + timeout))
  for ((i = 1; i <= NODES; i++)); do
    name=$(node_service "$i")
    until running_pid "$name" >/dev/null && ready "$name"; do
      ((SECONDS < deadline)) || die "wait-isr: $name is not up after ${timeout}s"
      sleep 0.5
    done
  done
  while :; do
    if out=$(describe_topics --under-replicated-partitions) &&
      [[ -z ${out//[[:space:]]/} ]]; then
      say "wait-isr: every partition has its full ISR ($(elapsed "$t0")s)"
      return 0
    fi
    ((SECONDS < deadline)) || die "wait-isr: partitions still under-replicated after ${timeout}s: $(head -c 600 <<<"$out")"
    sleep 1
  done
}

cmd_kill_kafka() {
  with_lock
  local i
  for ((i = 1; i <= NODES; i++)); do kill_node "$i"; done
}

cmd_start_kafka() {
  with_lock
  mkdir -p "$LOG_DIR" "$PID_DIR"
  start_kafka
}

cmd_reset_kafka() {
  with_lock
  local i
  for ((i = NODES; i >= 1; i--)); do stop_service "$(node_service "$i")" 60; done
  for ((i = 1; i <= NODES; i++)); do
    rm -rf "$(node_data "$i")"
    say "$(node_service "$i"): deleted $(node_data "$i")"
  done
  mkdir -p "$LOG_DIR" "$PID_DIR"
  start_kafka
}

main() {
  local cmd=${1:-} args=() id
  (($#)) && shift
  # --nodes N or KAFKA_NODES choose the layout; otherwise the one `up` recorded.
  local n=${KAFKA_NODES:-}
  while (($#)); do
    case $1 in
      --nodes)
        n=${2:?--nodes needs a count}
        shift
        ;;
      --nodes=*) n=${1#--nodes=} ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  set_nodes "${n:-$(recorded_nodes)}"
  set -- "${args[@]}"
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    logs) cmd_logs "$@" ;;
    env) cmd_env "$@" ;;
    nodes) printf '%s\n' "$NODES" ;;
    kill-kafka) cmd_kill_kafka "$@" ;;
    start-kafka) cmd_start_kafka "$@" ;;
    reset-kafka) cmd_reset_kafka "$@" ;;
    kill-node | stop-node | start-node | restart-node)
      node_arg "${1:-}" >/dev/null
      with_lock
      mkdir -p "$LOG_DIR" "$PID_DIR"
      case $cmd in
        kill-node) kill_node "$1" ;;
        stop-node) stop_node "$1" ;;
        start-node) start_kafka "$1" ;;
        restart-node) stop_node "$1" && start_kafka "$1" ;;
      esac
      ;;
    pause-node) signal_node STOP "${1:-}" ;;
    resume-node) signal_node CONT "${1:-}" ;;
    leader) leader_of "$@" ;;
    kill-leader)
      id=$(leader_of "$@")
      with_lock
      kill_node "$id" >&2
      printf '%s\n' "$id"
      ;;
    controller) active_controller ;;
    kill-controller)
      id=$(active_controller)
      with_lock
      kill_node "$id" >&2
      printf '%s\n' "$id"
      ;;
    wait-isr) cmd_wait_isr "$@" ;;
    libs) kafka_ensure_libs ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
