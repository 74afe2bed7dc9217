#!/usr/bin/env bash
# The three-node Kafka cluster of the fault tests (tests/fault_cluster.rs) and scripts/chaos.sh:
# scripts/stack.sh with three KRaft nodes (topics 3 replicas, min ISR 2), in its own folder and on
# its own ports, so killing its nodes never disturbs the local stack the other tests use.
#
# Usage: bash scripts/fault-cluster.sh COMMAND [ARGS]
#   up                 start the three nodes (Kafka only) and wait until they answer
#   down [--wipe]      stop them (--wipe deletes their data)
#   env                print `export TRACEPIPE_FAULT_...=` lines for the tests
#   any other command of scripts/stack.sh: status, logs, kill-node I, start-node I,
#   restart-node I, pause-node I, resume-node I, leader T P, kill-leader T P, controller,
#   kill-controller, wait-isr [S]
#
# Environment (defaults in brackets):
#   TRACEPIPE_FAULT_PORT     [KAFKA_BOOTSTRAP's port + 100]  node 1's listener; node I listens on
#                            +2(I-1), its controller on +2(I-1)+1 (9192..9197 by default)
#   TRACEPIPE_FAULT_RUN_DIR  [TRACEPIPE_RUN_DIR/fault-cluster]
#   TRACEPIPE_FAULT_HEAP     [-Xms128m -Xmx768m]  each node's heap
#   TRACEPIPE_FAULT_JVM_OPTS [-XX:TieredStopAtLevel=1]  more JVM options of each node
#   TRACEPIPE_UP_TIMEOUT     [300]  seconds to wait for a starting node
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
LIB_NAME=fault-cluster
# shellcheck source=scripts/lib.sh
source "$SCRIPT_DIR/lib.sh"

first=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
first=${first%%,*}
port=${TRACEPIPE_FAULT_PORT:-$((${first##*:} + 100))}
is_port "$port" || die "TRACEPIPE_FAULT_PORT is not a port number: '$port'"
run_dir=$(abspath "${TRACEPIPE_FAULT_RUN_DIR:-${TRACEPIPE_RUN_DIR:-$REPO_DIR/.run}/fault-cluster}")

export KAFKA_BOOTSTRAP=127.0.0.1:$port
export KAFKA_CONTROLLER_PORT=$((port + 1))
export KAFKA_NODES=3
export TRACEPIPE_RUN_DIR=$run_dir
# The client compiler only (C1): a node killed by a fault starts in about 8 s instead of 12 on
# 2 cores, and these nodes live minutes, too short for C2's code to pay off.
export KAFKA_HEAP_OPTS="${TRACEPIPE_FAULT_HEAP:--Xms128m -Xmx768m} ${TRACEPIPE_FAULT_JVM_OPTS--XX:TieredStopAtLevel=1}"
# A node killed with -9 recovers every partition's unflushed segment when it starts again:
# minutes on a loaded 2-core machine.
export TRACEPIPE_UP_TIMEOUT=${TRACEPIPE_UP_TIMEOUT:-300}

cmd=${1:-}
(($#)) && shift
case $cmd in
  up) exec bash "$SCRIPT_DIR/stack.sh" start-kafka "$@" ;;
  env)
    bootstrap=$(bash "$SCRIPT_DIR/stack.sh" env | sed -n 's/^export KAFKA_BOOTSTRAP=//p')
    cat <<ENV
export TRACEPIPE_FAULT_BOOTSTRAP=$bootstrap
export TRACEPIPE_FAULT_PORT=$port
export TRACEPIPE_FAULT_RUN_DIR=$run_dir
ENV
    ;;
  "" | -h | --help | help) usage ;;
  *) exec bash "$SCRIPT_DIR/stack.sh" "$cmd" "$@" ;;
esac
