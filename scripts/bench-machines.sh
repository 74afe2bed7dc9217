#!/usr/bin/env bash
# The cost of the third table: the same binary with and without --machines, alternating run by
# run, on the real parts and the real machine_events table, against the local broker
# (`make up`). Prints wall and user-CPU medians and their ratios; nothing here is a test.
# Usage: bash scripts/bench-machines.sh [runs=3]
# Trace folder: $TRACEPIPE_TRACE_DIR (job_events/, task_events/, machine_events/), by default
# ../shared/traces/clusterdata-2011-2 beside the repository.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"
eval "$(bash scripts/stack.sh env)"
LIB_NAME="bench-machines"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
RUNS=${1:-3}
BIN=${BIN:-./target/release/tracepipe}
TRACES=${TRACEPIPE_TRACE_DIR:-$REPO_DIR/../shared/traces/clusterdata-2011-2}
J=$TRACES/job_events T=$TRACES/task_events M=$TRACES/machine_events
[[ -d $J && -d $T && -d $M ]] ||
  die "no trace parts in $TRACES (job_events/, task_events/, machine_events/): set TRACEPIPE_TRACE_DIR"
TMP=$(mktemp -d)
cleanup() {
  kafka_topics --delete --topic "benchm-.*-$$-[0-9]+" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# measure NAME CMD...: wall seconds, user CPU seconds and peak RSS (KB) of one run.
measure() {
  local name=$1
  shift
  /usr/bin/time -f "%e %U %M" -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" || {
    cat "$TMP/err" >&2
    exit 1
  }
  read -r wall user rss <"$TMP/time"
  echo "$name $wall $user $rss" >>"$TMP/results"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$TMP/results"; }

N2=$(zcat "$J"/*.csv.gz "$T"/*.csv.gz | wc -l)
NM=$(zcat "$M"/*.csv.gz | wc -l)
N3=$((N2 + NM))
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; broker on the same machine; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $N2 job and task rows; $NM machine rows (the whole table, 29 days)"
for i in $(seq "$RUNS"); do
  two=(--job-topic "benchm-j2-$$-$i" --task-topic "benchm-t2-$$-$i")
  three=(--job-topic "benchm-j3-$$-$i" --task-topic "benchm-t3-$$-$i" --machine-topic "benchm-m3-$$-$i")
  measure replay-2 "$BIN" replay --jobs "$J" --tasks "$T" "${two[@]}" --progress quiet
  measure replay-3 "$BIN" replay --jobs "$J" --tasks "$T" --machines "$M" "${three[@]}" --progress quiet
  measure aggregate-kafka-2 "$BIN" aggregate "${two[@]}" --no-metrics --out /dev/null
  measure aggregate-kafka-3 "$BIN" aggregate "${three[@]}" --no-metrics --out /dev/null
  measure aggregate-files-2 "$BIN" aggregate --from-files --jobs "$J" --tasks "$T" --no-metrics --out /dev/null
  measure aggregate-files-3 "$BIN" aggregate --from-files --jobs "$J" --tasks "$T" --machines "$M" --no-metrics --out /dev/null
done

echo
printf '%-18s %12s %12s %14s %12s %10s\n' what "wall (2)" "wall (3)" "user CPU (2)" "user CPU (3)" "CPU ratio"
for what in replay aggregate-kafka aggregate-files; do
  w2=$(col "$what-2" 2 | median) w3=$(col "$what-3" 2 | median)
  u2=$(col "$what-2" 3 | median) u3=$(col "$what-3" 3 | median)
  printf '%-18s %10.2f s %10.2f s %12.2f s %10.2f s %10.3f\n' "$what" "$w2" "$w3" "$u2" "$u3" "$(echo "$u3 / $u2" | bc -l)"
done
echo
echo "events/s by wall median: two tables $N2 events, three tables $N3 events"
for what in replay aggregate-kafka aggregate-files; do
  w2=$(col "$what-2" 2 | median) w3=$(col "$what-3" 2 | median)
  printf '%-18s %10.0f  %10.0f\n' "$what" "$(echo "$N2 / $w2" | bc -l)" "$(echo "$N3 / $w3" | bc -l)"
done
echo
echo "runs (name wall user rss_kb):"
cat "$TMP/results"
