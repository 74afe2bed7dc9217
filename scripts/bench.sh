#!/usr/bin/env bash
# Benchmarks on real trace files (BENCHMARKS.md used parts 00000-00017, 3.47M events) and a
# generated input 10x larger, against the local broker (`make up`). Prints a table of figures;
# nothing here is a test. Usage: bash scripts/bench.sh [runs=3] [--skip-10x]
# The trace folder (job_events/ and task_events/ with part-NNNNN-of-00500.csv.gz files) comes from
# TRACEPIPE_TRACE_DIR, by default ../shared/traces/clusterdata-2011-2 beside the repository; get the
# parts with `tracepipe download` (coming) or gsutil (docs/trace-format.md, "Getting the data").
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"
eval "$(bash scripts/stack.sh env)"
LIB_NAME="bench"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
RUNS=${1:-3}
SKIP10=${2:-}
# BIN=path/to/another/build compares a baseline binary on the same machine and broker.
BIN=${BIN:-./target/release/tracepipe}
TRACES=${TRACEPIPE_TRACE_DIR:-$REPO_DIR/../shared/traces/clusterdata-2011-2}
J=$TRACES/job_events
T=$TRACES/task_events
[[ -d $J && -d $T ]] ||
  die "no trace parts in $TRACES (job_events/, task_events/): set TRACEPIPE_TRACE_DIR; get the parts with \`tracepipe download\` (coming) or gsutil, see docs/trace-format.md"
TMP=$(mktemp -d)
# The bench topics are deleted at the end: a broker holding many GB of old topics gets slower.
cleanup() {
  kafka_topics --delete --topic "bench.*-$$(-[0-9]+)?" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
cargo build --release -q

# run NAME CMD...: wall seconds and peak RSS (KB) of one run, from /usr/bin/time.
measure() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" || {
    cat "$TMP/err" >&2
    exit 1
  }
  read -r wall rss <"$TMP/time"
  echo "$name $wall $rss" >>"$TMP/results"
  grep -h "release lag" "$TMP/err" >>"$TMP/lags" || true
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
report() {
  local name=$1 events=$2
  local walls rss
  walls=$(awk -v n="$name" '$1==n {print $2}' "$TMP/results")
  rss=$(awk -v n="$name" '$1==n {print $3}' "$TMP/results" | sort -n | tail -1)
  local med
  med=$(echo "$walls" | median)
  printf '%-34s %10s events  median %7.2f s  %10.0f events/s  peak RSS %6.1f MB  (runs: %s)\n' \
    "$name" "$events" "$med" "$(echo "$events / $med" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$(echo $walls | tr '\n' ' ')"
}

# Events = rows of the parts (the replay sends every row).
N=$(zcat "$J"/*.csv.gz "$T"/*.csv.gz | wc -l)
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; broker on the same machine; load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
  jt=bench-jobs-$$-$i tt=bench-tasks-$$-$i
  measure replay "$BIN" replay --jobs "$J" --tasks "$T" --job-topic "$jt" --task-topic "$tt" --progress quiet
  measure consume-ordered "$BIN" consume --job-topic "$jt" --task-topic "$tt" --out /dev/null
  measure aggregate-kafka "$BIN" aggregate --job-topic "$jt" --task-topic "$tt" --no-metrics --out /dev/null
  measure aggregate-files "$BIN" aggregate --from-files --jobs "$J" --tasks "$T" --no-metrics --out /dev/null
done
# Release latency during a paced replay: 30 trace minutes after the t=0 burst, at 100x (18 s).
jt=bench-lat-jobs-$$ tt=bench-lat-tasks-$$
"$BIN" replay --jobs "$J" --tasks "$T" --job-topic "$jt" --task-topic "$tt" --from 10m --to 40m --speed 100 --progress quiet >/dev/null &
rp=$!
# The consumer starts when the topics exist (created by the replay) and runs along.
until "$BIN" consume --job-topic "$jt" --task-topic "$tt" --out /dev/null 2>"$TMP/lat" ; do sleep 0.2; done
wait $rp

echo
echo "== results"
report replay $N
report consume-ordered $N
report aggregate-kafka $N
report aggregate-files $N
echo "paced replay (--from 10m --to 40m --speed 100), ordered consumer alongside: $(grep -o 'release lag.*' "$TMP/lat")"

if [[ $SKIP10 != --skip-10x ]]; then
  G=$TMP/gen10x
  "$BIN" generate --out "$G" --jobs 850000 --parts 20 --duration 24h --seed 10 >"$TMP/gen"
  cat "$TMP/gen"
  rows=$(grep -o 'generated [0-9]* job rows and [0-9]* task rows' "$TMP/gen" | awk '{print $2 + $6}')
  measure replay-10x "$BIN" replay --jobs "$G/job_events" --tasks "$G/task_events" --job-topic bench10-j-$$ --task-topic bench10-t-$$ --progress quiet
  report replay-10x "$rows"
fi

