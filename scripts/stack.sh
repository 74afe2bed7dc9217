#!/usr/bin/env bash
# Local stack of real servers for tracepipe development and tests, started as plain processes
# (no Docker):
#   - Apache Kafka 4.x, KRaft combined mode (broker + controller, node.id=1), jars from Maven Central
#   - Prometheus          (Debian package `prometheus`)
#   - Prometheus Pushgateway (Debian package `prometheus-pushgateway`)
#
# Usage: bash scripts/stack.sh COMMAND [ARGS]
#   up                 start whatever is not running yet and wait until every server answers
#   down [--wipe]      stop the servers this script started (recorded pids only);
#                      --wipe also deletes the Kafka and Prometheus data
#   status             one line per server; exit 0 only if all three are up
#   logs [NAME] [-f] [-n N]
#                      tail the log files (NAME: kafka, prometheus, pushgateway)
#   env                print `export VAR=...` lines for the stack (eval "$(bash scripts/stack.sh env)")
#   kill-kafka         kill -9 the recorded broker pid (crash test); data stays
#   start-kafka        start only Kafka and wait until it answers
#   reset-kafka        stop Kafka, delete its data (all topics), start it again
#   libs               fetch the Kafka classpath into the cache if missing (used by kafka-sasl.sh)
#
# Environment (defaults in brackets):
#   KAFKA_BOOTSTRAP        [127.0.0.1:9092]  host and port of the broker listener
#   KAFKA_CONTROLLER_PORT  [9093]            KRaft controller listener (same host)
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
KAFKA_DIR=$RUN_DIR/kafka
KAFKA_DATA_DIR=$KAFKA_DIR/data
KAFKA_CONFIG=$KAFKA_DIR/server.properties
PROM_DIR=$RUN_DIR/prometheus
PROM_CONFIG=$PROM_DIR/prometheus.yml
PROM_DATA_DIR=$PROM_DIR/data

SERVICES=(kafka pushgateway prometheus) # start order; stopped in reverse

# Process supervision and the Kafka broker, shared with scripts/kafka-sasl.sh
# (KAFKA_LIBS, KAFKA_POM, KAFKA_LOG4J, KAFKA_TOOLS_LOG4J come from lib/kafka.sh).
# shellcheck source=scripts/lib/proc.sh
source "$SCRIPT_DIR/lib/proc.sh"
# shellcheck source=scripts/lib/kafka.sh
source "$SCRIPT_DIR/lib/kafka.sh"

log_file() {
  case $1 in
    kafka) printf '%s\n' "$LOG_DIR/kafka.log" ;;
    *) printf '%s\n' "$LOG_DIR/$1.log" ;;
  esac
}
# stdout/stderr of the process itself (for Kafka: JVM messages; its log4j output is kafka.log)
out_file() {
  case $1 in
    kafka) printf '%s\n' "$LOG_DIR/kafka.out" ;;
    *) printf '%s\n' "$LOG_DIR/$1.log" ;;
  esac
}
service_port() {
  case $1 in
    kafka) printf '%s\n' "$KAFKA_PORT" ;;
    prometheus) printf '%s\n' "$PROMETHEUS_PORT" ;;
    pushgateway) printf '%s\n' "$PUSHGATEWAY_PORT" ;;
  esac
}
service_host() {
  case $1 in
    kafka) printf '%s\n' "$KAFKA_HOST" ;;
    *) printf '%s\n' 127.0.0.1 ;;
  esac
}
# A string that the command line of our own process contains (guards against pid reuse).
service_marker() {
  case $1 in
    kafka) printf '%s\n' "$KAFKA_CONFIG" ;;
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
    kafka) port_open "$KAFKA_HOST" "$KAFKA_PORT" && port_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT" ;;
    prometheus) http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" ;;
    pushgateway) http_ok "http://127.0.0.1:$PUSHGATEWAY_PORT/-/ready" ;;
  esac
}
# started NAME LOG_OFFSET: ready, and Kafka has also logged its start after LOG_OFFSET.
started() {
  ready "$1" || return 1
  [[ $1 != kafka ]] || kafka_started "$(log_file kafka)" "$2"
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
render_kafka_config() {
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA_DIR"
  sed -e "s|@KAFKA_HOST@|$(sed_rhs "$KAFKA_HOST")|g" \
    -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@KAFKA_DATA_DIR@|$(sed_rhs "$KAFKA_DATA_DIR")|g" \
    -e "s|@KAFKA_RETENTION_HOURS@|$KAFKA_RETENTION_HOURS|g" \
    -e "s|@KAFKA_RETENTION_BYTES@|$KAFKA_RETENTION_BYTES|g" \
    "$SCRIPT_DIR/kafka/server.properties.template" >"$KAFKA_CONFIG.tmp"
  mv "$KAFKA_CONFIG.tmp" "$KAFKA_CONFIG"
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
      if [[ $name == kafka ]]; then
        say "kafka: ready on $KAFKA_HOST:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, pid $pid, $(elapsed "$t0")s)"
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
  if [[ $name == kafka ]] && port_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT"; then
    die "kafka: controller port $KAFKA_CONTROLLER_PORT is already in use by another process"
  fi
  return 0
}

start_kafka() {
  check_before_start kafka || return 0
  kafka_need_java
  local t0
  t0=$(now)
  kafka_ensure_libs
  mkdir -p "$LOG_DIR"
  render_kafka_config
  kafka_format kafka "$KAFKA_DATA_DIR" "$KAFKA_CONFIG" "$(out_file kafka)" ""
  local log_offset
  log_offset=$(file_size "$(log_file kafka)")
  kafka_spawn kafka "$KAFKA_CONFIG" "$LOG_DIR" "$(out_file kafka)" "$KAFKA_HEAP_OPTS" \
    -XX:InitiatingHeapOccupancyPercent=35
  wait_ready kafka "$(proc_read_pid kafka)" "$t0" "$log_offset"
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
  local range lo hi v
  range=$(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || return 0
  read -r lo hi <<<"$range"
  for v in KAFKA_PORT KAFKA_CONTROLLER_PORT; do
    if ((${!v} >= lo && ${!v} <= hi)); then
      say "warning: $v=${!v} is inside the ephemeral port range $lo-$hi; a broker restart can then fail with 'Address already in use' (choose a port below $lo)"
    fi
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
  local wipe=0 arg
  for arg in "$@"; do
    case $arg in
      --wipe) wipe=1 ;;
      *) die "down: unknown option '$arg'" ;;
    esac
  done
  with_lock
  stop_service prometheus 20
  stop_service pushgateway 20
  stop_service kafka 60
  if ((wipe)); then
    rm -rf "$KAFKA_DATA_DIR" "$PROM_DATA_DIR"
    say "deleted $KAFKA_DATA_DIR and $PROM_DATA_DIR"
  fi
}

cmd_status() {
  local name pid all=0 where
  for name in "${SERVICES[@]}"; do
    case $name in
      kafka) where="$KAFKA_HOST:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)" ;;
      *) where="http://127.0.0.1:$(service_port "$name")/" ;;
    esac
    if pid=$(running_pid "$name"); then
      if ready "$name"; then
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
      kafka | prometheus | pushgateway) names+=("$1") ;;
      *) die "logs: unknown argument '$1' (kafka, prometheus, pushgateway, -f, -n N)" ;;
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
export KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP
export KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
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

cmd_kill_kafka() {
  with_lock
  local pid
  pid=$(proc_kill kafka "$(service_marker kafka)") || die "kafka is not running (no live recorded pid)"
  # The command line disappears before the dying JVM has closed its sockets: wait for the
  # port too, or an immediate start-kafka finds it still taken.
  proc_wait_ports_closed "$KAFKA_HOST" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  say "kafka: killed -9 (pid $pid)"
}

cmd_start_kafka() {
  with_lock
  mkdir -p "$LOG_DIR" "$PID_DIR"
  start_kafka
}

cmd_reset_kafka() {
  with_lock
  stop_service kafka 60
  rm -rf "$KAFKA_DATA_DIR"
  say "kafka: deleted $KAFKA_DATA_DIR"
  mkdir -p "$LOG_DIR" "$PID_DIR"
  start_kafka
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    logs) cmd_logs "$@" ;;
    env) cmd_env "$@" ;;
    kill-kafka) cmd_kill_kafka "$@" ;;
    start-kafka) cmd_start_kafka "$@" ;;
    reset-kafka) cmd_reset_kafka "$@" ;;
    libs) kafka_ensure_libs ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
