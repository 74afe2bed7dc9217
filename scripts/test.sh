#!/usr/bin/env bash
# All tests against the local stack. Run through `make test`, which starts the stack first
# (bash scripts/stack.sh up). Runs every part even if an earlier one fails; exits non-zero if any
# part failed.
#   0. what the tests need, installed if missing or out of date (each a no-op when current):
#      the Python venv .venv/ (scripts/venv.sh), the Spark job's Kafka jars (spark/fetch-jars.sh)
#      and headless Chromium for the report test (scripts/browser.sh)
#   1. cargo test --release --all-targets; the fault tests (tests/fault_cluster.rs, minutes each)
#      only with TRACEPIPE_FAULT_TESTS=1 (`make test-faults`), against the three-node cluster of
#      scripts/fault-cluster.sh, started here (and stopped at the end when this script started it)
#      (tests/kafka_security.rs starts its own SASL_SSL broker, scripts/kafka-sasl.sh; it too is
#      stopped at the end when it was not running before)
#   2. pytest -q on whichever of tests/ and spark/tests/ exist, with the venv's Python
#      (pytest's exit code 5, "no tests collected", is not a failure)
#   3. the dashboard queries against the real Prometheus
#   4. a short chaos run: two random faults on the three-node cluster (scripts/chaos.sh) during a
#      replay of the bundled sample (TRACEPIPE_CHAOS_TRACE_DIR to use another trace)
# Then deletes the topics the tests created (each test uses its own random names): a broker that
# keeps gigabytes of old test topics gets slower. TRACEPIPE_KEEP_TEST_TOPICS=1 keeps them.
set -uo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR" || exit 1

# KAFKA_BOOTSTRAP, PROMETHEUS_URL, PUSHGATEWAY_URL, *_PORT, TRACEPIPE_RUN_DIR, KAFKA_LIBS, ...
eval "$(bash scripts/stack.sh env)" || {
  echo "test: scripts/stack.sh env failed" >&2
  exit 1
}
LIB_NAME="test"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

topics() { kafka_topics "$@" 2>/dev/null; }
topics_before=$(topics --list | sort || true)

failed=()
phase() {
  local name=$1 t0=$SECONDS rc
  shift
  echo "=== test: $name: $*"
  "$@"
  rc=$?
  echo "=== test: $name: exit $rc ($((SECONDS - t0))s)"
  return "$rc"
}

# Without the venv or the jars the Python tests cannot run at all: stop here.
phase venv bash scripts/venv.sh || exit 1
phase spark-jars bash spark/fetch-jars.sh || exit 1
phase browser bash scripts/browser.sh || exit 1
# The venv first on PATH, so `python3` in the tests and Spark's Python workers are the venv's too.
VENV=$(abspath "${TRACEPIPE_VENV:-$REPO_DIR/.venv}")
export VIRTUAL_ENV=$VENV PATH="$VENV/bin:$PATH"
PYTHON=$VENV/bin/python

# The SASL_SSL broker that tests/kafka_security.rs starts for itself (port 9095): stopped at the
# end when it was not running before, so that no JVM outlives `make test` unasked.
sasl_started=0
if ! bash scripts/kafka-sasl.sh status >/dev/null 2>&1; then
  sasl_started=1
fi

# The replicated cluster of the fault tests and the chaos run, beside the local stack.
fault_started=0
if ! bash scripts/fault-cluster.sh status >/dev/null 2>&1; then
  fault_started=1
fi
phase fault-cluster bash scripts/fault-cluster.sh up || exit 1
eval "$(bash scripts/fault-cluster.sh env)"
export TRACEPIPE_FAULT_BOOTSTRAP

if [[ -f Cargo.toml ]]; then
  phase cargo cargo test --release --all-targets || failed+=(cargo)
  if [[ ${TRACEPIPE_FAULT_TESTS:-0} == 1 ]]; then
    phase fault-tests cargo test --release --test fault_cluster -- --ignored --test-threads 1 ||
      failed+=(fault-tests)
  fi
else
  echo "=== test: no Cargo.toml, cargo tests skipped"
fi

py_dirs=()
for d in tests spark/tests; do
  [[ -d $d ]] && py_dirs+=("$d")
done
if ((${#py_dirs[@]})); then
  phase pytest "$PYTHON" -m pytest -q -rs "${py_dirs[@]}" --ignore=tests/dashboard
  rc=$?
  if ((rc == 5)); then
    echo "=== test: pytest collected no tests (exit 5), not a failure"
  elif ((rc != 0)); then
    failed+=(pytest)
  fi
else
  echo "=== test: no Python test folders (tests/, spark/tests/), pytest skipped"
fi

# Last: the dashboard's queries against the real Prometheus, fed by the real pipeline.
if [[ -d tests/dashboard ]]; then
  phase dashboard "$PYTHON" -m pytest -q -rs tests/dashboard || failed+=(dashboard)
fi

# Two faults only, on the bundled sample (541k events: a few minutes, where the real parts take
# a quarter of an hour); the full run (20 faults on the real parts) is in RELIABILITY.md.
TRACEPIPE_TRACE_DIR=${TRACEPIPE_CHAOS_TRACE_DIR:-$REPO_DIR/sample} \
  TRACEPIPE_BIN=$REPO_DIR/target/release/tracepipe phase chaos bash scripts/chaos.sh --faults 2 --seed 7 ||
  failed+=(chaos)
if ((fault_started)); then
  # Its data is deleted anyway: kill -9 instead of a controlled shutdown, which waits about a
  # minute on the last node (no controller quorum left to acknowledge it).
  bash scripts/fault-cluster.sh kill-kafka >/dev/null 2>&1 || true
  bash scripts/fault-cluster.sh down --wipe >/dev/null 2>&1 || true
fi
if ((sasl_started)); then
  bash scripts/kafka-sasl.sh down >/dev/null 2>&1 || true
fi

if [[ ${TRACEPIPE_KEEP_TEST_TOPICS:-0} != 1 ]]; then
  new_topics=$(comm -13 <(echo "$topics_before") <(topics --list | sort || true) | grep -v '^__' || true)
  if [[ -n $new_topics ]]; then
    echo "=== test: deleting the $(echo "$new_topics" | wc -l) topics the tests created"
    # One call: the topic argument of --delete is a regular expression.
    topics --delete --topic "($(echo "$new_topics" | paste -sd'|'))" >/dev/null || true
  fi
fi

if ((${#failed[@]})); then
  echo "=== test: FAILED: ${failed[*]}"
  exit 1
fi
echo "=== test: all parts passed"
