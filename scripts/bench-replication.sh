#!/usr/bin/env bash
# Replay throughput with replication factor 3 (min ISR 2) beside factor 1, on the same three-node
# cluster (scripts/fault-cluster.sh) in the same session, runs interleaved; and the time
# `replay --resume` takes to find where to resume (every partition's tail), for this build and
# optionally a baseline build (BASE=/path/to/tracepipe).
#
# Usage: bash scripts/bench-replication.sh [RUNS]   (RUNS per setting, default 3)
# Environment: TRACEPIPE_TRACE_DIR (default ../shared/traces/clusterdata-2011-2 beside the
# repository), BIN (default target/release/tracepipe), BASE (a baseline binary, optional).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
LIB_NAME=bench-replication
# shellcheck source=scripts/lib.sh
source "$SCRIPT_DIR/lib.sh"

RUNS=${1:-3}
TRACES=${TRACEPIPE_TRACE_DIR:-$REPO_DIR/../shared/traces/clusterdata-2011-2}
[[ -d $TRACES/job_events && -d $TRACES/task_events ]] ||
  die "no trace parts in $TRACES (job_events/, task_events/): set TRACEPIPE_TRACE_DIR"
BIN=${BIN:-$REPO_DIR/target/release/tracepipe}
[[ -x $BIN ]] || die "no binary at $BIN (cargo build --release)"

bash "$SCRIPT_DIR/fault-cluster.sh" up >/dev/null
eval "$(bash "$SCRIPT_DIR/fault-cluster.sh" env)"
export KAFKA_BOOTSTRAP=$TRACEPIPE_FAULT_BOOTSTRAP
bash "$SCRIPT_DIR/fault-cluster.sh" wait-isr 300 >/dev/null

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# replay_eps RF: events/s of one full-speed replay of the parts into new topics.
replay_eps() {
  local s topics=()
  s=$(date +%s%N)
  topics=(--job-topic "bench-rf$1-jobs-$s" --task-topic "bench-rf$1-tasks-$s")
  "$BIN" replay --jobs "$TRACES/job_events" --tasks "$TRACES/task_events" "${topics[@]}" \
    --replication-factor "$1" --progress quiet | sed -n 's/.* s: \([0-9]*\) events\/s.*/\1/p'
}

declare -A eps=()
for ((i = 1; i <= RUNS; i++)); do
  for rf in 1 3; do
    v=$(replay_eps "$rf")
    eps[$rf]+="$v "
    say "run $i, replication factor $rf: $v events/s"
  done
done
m1=$(tr ' ' '\n' <<<"${eps[1]}" | grep . | median)
m3=$(tr ' ' '\n' <<<"${eps[3]}" | grep . | median)
printf 'replay, full speed, %s events: RF 1 median %s events/s, RF 3 (min ISR 2) median %s events/s, ratio %.2f\n' \
  "$(zcat "$TRACES"/job_events/*.gz "$TRACES"/task_events/*.gz | wc -l)" "$m1" "$m3" "$(awk -v a="$m3" -v b="$m1" 'BEGIN { print a / b }')"

# resume_seconds BINARY: interrupts a replay after 3 s, then times `--resume --to 1` (finding
# the resume point, skipping what is written; `--to 1` sends nothing more).
resume_seconds() {
  local b=$1 s
  s=$(date +%s%N)
  local t=(--job-topic "bench-res-jobs-$s" --task-topic "bench-res-tasks-$s")
  timeout -s INT 3 "$b" replay --jobs "$TRACES/job_events" --tasks "$TRACES/task_events" "${t[@]}" \
    --replication-factor 3 --progress quiet >/dev/null 2>&1 || true
  local out
  out=$(/usr/bin/time -f 'wall %e' "$b" replay --jobs "$TRACES/job_events" --tasks "$TRACES/task_events" "${t[@]}" \
    --resume --to 1 --progress quiet 2>&1)
  printf '%s %s\n' "$(grep -o 'wall [0-9.]*' <<<"$out" | tail -1)" "$(grep -o 'found in [0-9.]* s' <<<"$out" || true)"
}
for ((i = 1; i <= RUNS; i++)); do
  if [[ -n ${BASE:-} ]]; then
    say "run $i: --resume wall (baseline $BASE): $(resume_seconds "$BASE")"
  fi
  say "run $i: --resume wall (this build): $(resume_seconds "$BIN")"
done
