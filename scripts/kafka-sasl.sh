#!/usr/bin/env bash
# A SECOND local Kafka 4.x broker (KRaft combined mode, node.id=1, its own data and ports) whose
# only client listener is SASL_SSL: TLS with a self-signed CA made here by openssl, and
# SCRAM-SHA-512 users bootstrapped at format time. For the security tests
# (tests/kafka_security.rs) and for trying tracepipe's --security-protocol/--sasl-*/--ssl-* flags.
# Independent of scripts/stack.sh (whose plain broker on 127.0.0.1:9092 it never touches); it
# shares its jar cache ($TRACEPIPE_CACHE_DIR/kafka-libs, fetched with Maven if missing) and its
# process supervision (scripts/lib/proc.sh, scripts/lib/kafka.sh).
#
# Usage: bash scripts/kafka-sasl.sh COMMAND
#   up             make the CA, broker certificate and SCRAM users if missing, format the storage,
#                  start the broker if it is not running and wait until it answers (idempotent)
#   down [--wipe]  stop the broker (recorded pid only); --wipe also deletes its data, certificates
#                  and passwords (the next `up` makes new ones)
#   status         one line; exit 0 only if it is up
#   logs [-n N] [-f]
#   env            print `export VAR=...` lines (eval "$(bash scripts/kafka-sasl.sh env)"):
#                    KAFKA_SASL_BOOTSTRAP  127.0.0.1:<port>
#                    KAFKA_SASL_CA         PEM file of the CA (for --ssl-ca-location)
#                    KAFKA_SASL_USER       tracepipe
#                    KAFKA_SASL_PASSWORD   random, made by the first `up`
#                    KAFKA_SASL_MECHANISM  SCRAM-SHA-512
#                    KAFKA_SASL_SECURITY_PROTOCOL  SASL_SSL
#                  fails if `up` has not made the credentials yet
#
# Then, for example:
#   tracepipe replay ... --bootstrap "$KAFKA_SASL_BOOTSTRAP" --security-protocol SASL_SSL \
#     --sasl-mechanism SCRAM-SHA-512 --sasl-username "$KAFKA_SASL_USER" \
#     --sasl-password "$KAFKA_SASL_PASSWORD" --ssl-ca-location "$KAFKA_SASL_CA"
#
# Listeners, all on 127.0.0.1:
#   SASL_SSL   :$KAFKA_SASL_PORT        clients and inter-broker (the broker logs in as `admin`)
#   CONTROLLER :$KAFKA_SASL_CONTROLLER_PORT  KRaft quorum, PLAINTEXT, loopback only
#
# Files ($TRACEPIPE_RUN_DIR/kafka-sasl/): server.properties (600), credentials (600),
# tls/{ca.key,ca.pem,broker.key,broker.crt,broker.pem}, data/, logs/{kafka.log,kafka.out};
# pid file $TRACEPIPE_RUN_DIR/pids/kafka-sasl.pid.
#
# Environment (defaults in brackets):
#   KAFKA_SASL_PORT             [9095]
#   KAFKA_SASL_CONTROLLER_PORT  [9096]
#   TRACEPIPE_RUN_DIR           [<repo>/.run]
#   TRACEPIPE_CACHE_DIR         [<repo>/.cache]
#   TRACEPIPE_UP_TIMEOUT        [90]   seconds to wait for the broker
#   KAFKA_SASL_HEAP_OPTS        [-Xms128m -Xmx512m]
set -euo pipefail
set +m

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

LIB_NAME=kafka-sasl
# shellcheck source=scripts/lib.sh
source "$SCRIPT_DIR/lib.sh"

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
HOST=127.0.0.1 # the certificate names localhost and 127.0.0.1 only
PORT=${KAFKA_SASL_PORT:-9095}
CONTROLLER_PORT=${KAFKA_SASL_CONTROLLER_PORT:-9096}
is_port "$PORT" || die "KAFKA_SASL_PORT is not a port number: '$PORT'"
is_port "$CONTROLLER_PORT" || die "KAFKA_SASL_CONTROLLER_PORT is not a port number: '$CONTROLLER_PORT'"
[[ $PORT != "$CONTROLLER_PORT" ]] || die "KAFKA_SASL_PORT and KAFKA_SASL_CONTROLLER_PORT must differ"

RUN_DIR=$(abspath "${TRACEPIPE_RUN_DIR:-$REPO_DIR/.run}")
CACHE_DIR=$(abspath "${TRACEPIPE_CACHE_DIR:-$REPO_DIR/.cache}")
UP_TIMEOUT=${TRACEPIPE_UP_TIMEOUT:-90}
HEAP_OPTS=${KAFKA_SASL_HEAP_OPTS:--Xms128m -Xmx512m}
SCRAM_MECHANISM=SCRAM-SHA-512
CLIENT_USER="tracepipe"
ADMIN_USER="admin"

SASL_DIR=$RUN_DIR/kafka-sasl
DATA_DIR=$SASL_DIR/data
TLS_DIR=$SASL_DIR/tls
LOG_DIR=$SASL_DIR/logs
CONFIG=$SASL_DIR/server.properties
CREDENTIALS=$SASL_DIR/credentials
PID_DIR=$RUN_DIR/pids
LOG_FILE=$LOG_DIR/kafka.log # log4j (scripts/kafka/log4j2.yaml writes ${kafka.logs.dir}/kafka.log)
OUT_FILE=$LOG_DIR/kafka.out # stdout/stderr of the JVM and of StorageTool
PID_NAME=kafka-sasl         # $PID_DIR/kafka-sasl.pid
# The marker of our broker in its command line: never the plain broker of scripts/stack.sh.
MARKER=" $CONFIG"
TEMPLATE=$SCRIPT_DIR/kafka/sasl/server.properties.template
OPENSSL_CNF=$SCRIPT_DIR/kafka/sasl/openssl.cnf

# shellcheck source=scripts/lib/proc.sh
source "$SCRIPT_DIR/lib/proc.sh"
# shellcheck source=scripts/lib/kafka.sh
source "$SCRIPT_DIR/lib/kafka.sh"

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
running_pid() { proc_running_pid "$PID_NAME" "$MARKER"; }
stop_broker() { proc_stop "$PID_NAME" "$MARKER" "$1"; }
with_lock() { proc_lock "$RUN_DIR/.kafka-sasl.lock"; }
show_log_tail() { proc_log_tail "$LOG_FILE" "$OUT_FILE"; }
ports_open() { port_open "$HOST" "$PORT" && port_open "$HOST" "$CONTROLLER_PORT"; }
started() { ports_open && kafka_started "$LOG_FILE" "$1"; }

# ---------------------------------------------------------------------------------------------
# TLS material, credentials, config, storage
# ---------------------------------------------------------------------------------------------
# CA (10 years) and a broker certificate (2 years) for localhost/127.0.0.1, as PEM. Remade when
# missing, unreadable, expiring within a day, or not signed by the CA on disk.
ensure_tls() {
  need_cmd openssl "install OpenSSL (Debian package openssl)"
  if [[ -s $TLS_DIR/ca.pem && -s $TLS_DIR/ca.key && -s $TLS_DIR/broker.pem && -s $TLS_DIR/broker.crt ]] &&
    openssl x509 -in "$TLS_DIR/ca.pem" -noout -checkend 86400 >/dev/null 2>&1 &&
    openssl x509 -in "$TLS_DIR/broker.crt" -noout -checkend 86400 >/dev/null 2>&1 &&
    openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/broker.crt" >/dev/null 2>&1; then
    return 0
  fi
  say "making a self-signed CA and a broker certificate (localhost, 127.0.0.1) in $TLS_DIR"
  local tmp
  mkdir -p "$SASL_DIR"
  tmp=$(mktemp -d "$SASL_DIR/tls.tmp.XXXXXX")
  (
    umask 077
    set -e
    exec 2>"$tmp/openssl.log"
    openssl req -x509 -new -config "$OPENSSL_CNF" -extensions v3_ca \
      -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" -days 3650 \
      -subj "/O=tracepipe/CN=tracepipe local test CA $(date -u +%Y%m%dT%H%M%SZ)"
    # Kafka reads PEM private keys only in PKCS#8 (what genpkey writes), unencrypted here.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/broker.key"
    openssl req -new -config "$OPENSSL_CNF" -key "$tmp/broker.key" -out "$tmp/broker.csr" \
      -subj "/O=tracepipe/CN=localhost"
    openssl x509 -req -in "$tmp/broker.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 730 -sha256 \
      -extfile "$OPENSSL_CNF" -extensions broker_cert -out "$tmp/broker.crt"
    openssl verify -CAfile "$tmp/ca.pem" "$tmp/broker.crt" >/dev/null
    # Kafka's PEM keystore: private key, then the certificate chain.
    cat "$tmp/broker.key" "$tmp/broker.crt" "$tmp/ca.pem" >"$tmp/broker.pem"
    rm -f "$tmp/broker.csr"
  ) || {
    cat "$tmp/openssl.log" >&2
    rm -rf "$tmp"
    die "openssl failed to make the certificates"
  }
  rm -f "$tmp/openssl.log"
  chmod 644 "$tmp/ca.pem" "$tmp/broker.crt"
  chmod 755 "$tmp" # the keys themselves are 600
  rm -rf "$TLS_DIR"
  mv "$tmp" "$TLS_DIR"
}

random_password() { openssl rand -hex 24; }

load_credentials() {
  [[ -s $CREDENTIALS ]] || return 1
  KAFKA_SASL_PASSWORD=$(sed -n 's/^KAFKA_SASL_PASSWORD=//p' "$CREDENTIALS")
  KAFKA_SASL_ADMIN_PASSWORD=$(sed -n 's/^KAFKA_SASL_ADMIN_PASSWORD=//p' "$CREDENTIALS")
  [[ $KAFKA_SASL_PASSWORD =~ ^[0-9a-f]{16,}$ && $KAFKA_SASL_ADMIN_PASSWORD =~ ^[0-9a-f]{16,}$ ]]
}

# The SCRAM users only exist in the metadata written by `StorageTool format`: new passwords mean
# a new cluster (the data is wiped), and a formatted cluster without its passwords is useless.
ensure_credentials() {
  if load_credentials; then
    return 0
  fi
  if [[ -e $DATA_DIR ]]; then
    say "no usable $CREDENTIALS: deleting $DATA_DIR (its SCRAM users have unknown passwords)"
    rm -rf "$DATA_DIR"
  fi
  mkdir -p "$SASL_DIR"
  rm -f "$CREDENTIALS.tmp"
  (
    umask 077
    {
      printf '# SCRAM-SHA-512 passwords of this broker (made by kafka-sasl.sh up; down --wipe forgets them)\n'
      printf 'KAFKA_SASL_USER=%s\n' "$CLIENT_USER"
      printf 'KAFKA_SASL_PASSWORD=%s\n' "$(random_password)"
      printf 'KAFKA_SASL_ADMIN_USER=%s\n' "$ADMIN_USER"
      printf 'KAFKA_SASL_ADMIN_PASSWORD=%s\n' "$(random_password)"
    } >"$CREDENTIALS.tmp"
  )
  mv "$CREDENTIALS.tmp" "$CREDENTIALS"
  load_credentials || die "could not write $CREDENTIALS"
}

render_config() {
  mkdir -p "$SASL_DIR"
  (
    umask 077
    sed -e "s|@KAFKA_SASL_HOST@|$HOST|g" \
      -e "s|@KAFKA_SASL_PORT@|$PORT|g" \
      -e "s|@KAFKA_SASL_CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@KAFKA_SASL_DATA_DIR@|$(sed_rhs "$DATA_DIR")|g" \
      -e "s|@KAFKA_SASL_TLS_DIR@|$(sed_rhs "$TLS_DIR")|g" \
      -e "s|@KAFKA_SASL_ADMIN_PASSWORD@|$KAFKA_SASL_ADMIN_PASSWORD|g" \
      -e "s|@KAFKA_SASL_RETENTION_HOURS@|${KAFKA_RETENTION_HOURS:-24}|g" \
      -e "s|@KAFKA_SASL_RETENTION_BYTES@|${KAFKA_RETENTION_BYTES:-1073741824}|g" \
      "$TEMPLATE" >"$CONFIG.tmp"
  )
  if grep -q '@[A-Z_]*@' "$CONFIG.tmp"; then
    grep -n '@[A-Z_]*@' "$CONFIG.tmp" >&2
    rm -f "$CONFIG.tmp"
    die "unreplaced placeholders in $TEMPLATE"
  fi
  mv "$CONFIG.tmp" "$CONFIG"
}

format_storage() {
  # (The passwords are on this short-lived command line: the only way KRaft bootstraps SCRAM users.)
  kafka_format "" "$DATA_DIR" "$CONFIG" "$OUT_FILE" ", SCRAM users $CLIENT_USER and $ADMIN_USER" \
    --add-scram "$SCRAM_MECHANISM=[name=$CLIENT_USER,password=$KAFKA_SASL_PASSWORD]" \
    --add-scram "$SCRAM_MECHANISM=[name=$ADMIN_USER,password=$KAFKA_SASL_ADMIN_PASSWORD]"
}

# ---------------------------------------------------------------------------------------------
# Start / wait
# ---------------------------------------------------------------------------------------------
wait_ready() {
  local pid=$1 t0=$2 log_offset=$3 rc=0
  proc_wait_ready broker "$pid" "$UP_TIMEOUT" started "$log_offset" || rc=$?
  case $rc in
    0)
      say "ready on SASL_SSL $HOST:$PORT (controller :$CONTROLLER_PORT, pid $pid, $(elapsed "$t0")s)"
      return 0
      ;;
    1)
      rm -f "$(proc_pid_file "$PID_NAME")"
      show_log_tail
      ;;
    *)
      show_log_tail
      stop_broker 10 >&2
      ;;
  esac
  return 1
}

# The running broker (pid $1) must listen where this invocation asks.
check_listeners() {
  local want have
  want="listeners=SASL_SSL://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT"
  have=$(grep '^listeners=' "$CONFIG" 2>/dev/null || true)
  [[ $have == "$want" ]] ||
    die "already running (pid $1) with ${have:-unknown listeners}, not the requested ports $PORT/$CONTROLLER_PORT: run 'bash scripts/kafka-sasl.sh down' first"
}

start_broker() {
  local pid
  if pid=$(running_pid); then
    check_listeners "$pid"
    if ports_open; then
      say "already running (pid $pid, SASL_SSL $HOST:$PORT)"
      return 0
    fi
    say "pid $pid is running but not answering yet; waiting"
    wait_ready "$pid" "$(now)" 0
    return
  fi
  port_open "$HOST" "$PORT" &&
    die "port $PORT is already in use by a process this script did not start (see 'ss -ltnp'); set KAFKA_SASL_PORT"
  port_open "$HOST" "$CONTROLLER_PORT" &&
    die "controller port $CONTROLLER_PORT is already in use by another process; set KAFKA_SASL_CONTROLLER_PORT"

  kafka_need_java
  local t0
  t0=$(now)
  mkdir -p "$LOG_DIR" "$PID_DIR"
  kafka_ensure_libs
  ensure_tls
  ensure_credentials
  render_config
  format_storage

  local log_offset
  log_offset=$(file_size "$LOG_FILE")
  kafka_spawn "$PID_NAME" "$CONFIG" "$LOG_DIR" "$OUT_FILE" "$HEAP_OPTS"
  wait_ready "$(proc_read_pid "$PID_NAME")" "$t0" "$log_offset"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
cmd_up() {
  (($# == 0)) || die "up: no arguments expected"
  with_lock
  start_broker
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
  stop_broker 60
  if ((wipe)); then
    rm -rf "$DATA_DIR" "$TLS_DIR" "$CREDENTIALS" "$CONFIG"
    say "deleted $DATA_DIR, $TLS_DIR and the credentials"
  fi
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    check_listeners "$pid"
    if ports_open; then
      printf 'kafka-sasl   up        pid %-8s SASL_SSL %s:%s (controller :%s)\n' "$pid" "$HOST" "$PORT" "$CONTROLLER_PORT"
      return 0
    fi
    printf 'kafka-sasl   starting  pid %-8s SASL_SSL %s:%s (not answering)\n' "$pid" "$HOST" "$PORT"
    return 1
  fi
  printf 'kafka-sasl   down      %-12s SASL_SSL %s:%s\n' "" "$HOST" "$PORT"
  return 1
}

cmd_logs() {
  local follow=0 lines=30
  while (($#)); do
    case $1 in
      -f | --follow) follow=1 ;;
      -n)
        shift
        lines=${1:?-n needs a number}
        ;;
      *) die "logs: unknown argument '$1' (-f, -n N)" ;;
    esac
    shift
  done
  proc_logs "$lines" "$follow" "$LOG_FILE" "$OUT_FILE"
}

cmd_env() {
  (($# == 0)) || die "env: no arguments expected"
  load_credentials || die "no credentials yet in $CREDENTIALS: run 'bash scripts/kafka-sasl.sh up' first"
  [[ -s $TLS_DIR/ca.pem ]] || die "no CA yet ($TLS_DIR/ca.pem): run 'bash scripts/kafka-sasl.sh up' first"
  printf 'export KAFKA_SASL_BOOTSTRAP=%q\n' "$HOST:$PORT"
  printf 'export KAFKA_SASL_CA=%q\n' "$TLS_DIR/ca.pem"
  printf 'export KAFKA_SASL_USER=%q\n' "$CLIENT_USER"
  printf 'export KAFKA_SASL_PASSWORD=%q\n' "$KAFKA_SASL_PASSWORD"
  printf 'export KAFKA_SASL_MECHANISM=%q\n' "$SCRAM_MECHANISM"
  printf 'export KAFKA_SASL_SECURITY_PROTOCOL=%q\n' SASL_SSL
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
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
