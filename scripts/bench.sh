#!/usr/bin/env bash
# Benchmarks on real trace files (BENCHMARKS.md used parts 00000-00017, 3.47M events) and a
# generated input 10x larger, against the local broker (`make up`). Prints a table of figures;
# nothing here is a test.
#   bash scripts/bench.sh [runs=3] [--skip-10x]   the real parts, then a 10x generated input
#   bash scripts/bench.sh --whole                 a generated trace of the real trace's size,
#                                                 beside Kafka's own ProducerPerformance and
#                                                 ConsumerPerformance (see bench_whole below)
# The trace folder (job_events/ and task_events/ with part-NNNNN-of-00500.csv.gz files) comes from
# TRACEPIPE_TRACE_DIR, by default ../shared/traces/clusterdata-2011-2 beside the repository; get the
# parts with `tracepipe download` (docs/trace-format.md, "Getting the data").
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"
eval "$(bash scripts/stack.sh env)"
LIB_NAME="bench"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
WHOLE=
if [[ ${1:-} == --whole ]]; then
  WHOLE=1
  shift
fi
RUNS=${1:-3}
SKIP10=${2:-}
# BIN=path/to/another/build compares a baseline binary on the same machine and broker.
BIN=${BIN:-./target/release/tracepipe}
TRACES=${TRACEPIPE_TRACE_DIR:-$REPO_DIR/../shared/traces/clusterdata-2011-2}
J=$TRACES/job_events
T=$TRACES/task_events
[[ -n $WHOLE || (-d $J && -d $T) ]] ||
  die "no trace parts in $TRACES (job_events/, task_events/): set TRACEPIPE_TRACE_DIR; get the parts with \`tracepipe download\`, see docs/trace-format.md"
TMP=$(mktemp -d "${TRACEPIPE_BENCH_TMP:-${TMPDIR:-/tmp}}/bench.XXXXXX")
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
  [[ -n $walls ]] || return 0 # not run (the generated trace was kept from an earlier run)
  rss=$(awk -v n="$name" '$1==n {print $3}' "$TMP/results" | sort -n | tail -1)
  local med
  med=$(echo "$walls" | median)
  printf '%-34s %10s events  median %7.2f s  %10.0f events/s  peak RSS %6.1f MB  (runs: %s)\n' \
    "$name" "$events" "$med" "$(echo "$events / $med" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$(echo $walls | tr '\n' ' ')"
}

# Bytes of the log segments the broker holds for a topic (index files are preallocated, not counted).
topic_bytes() {
  find "$TRACEPIPE_RUN_DIR"/kafka/data/ -path "*/$1-[0-9]*/*.log" -printf '%s\n' | awk '{b += $1} END {printf "%d", b}'
}

# Kafka's tools from the broker's jars: "${KAFKA_TOOL[@]}" MAIN ARGS...
KAFKA_TOOL=(java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J")

# bench_whole: a generated trace of the real one's size (29 days, 12,500 machines, 500 parts
# per table, about 146.7M events; the generator's parameters below), through every stage once,
# and Kafka's own producer and consumer benchmarks on the same broker with records of the
# replay's average value size, printed side by side. The generated trace is kept in
# TRACEPIPE_WHOLE_DIR (default .run/bench/whole) for the next run; outputs are deleted as soon
# as they are measured (the JSON Lines of the windows are about 27 GB).
bench_whole() {
  local dir=${TRACEPIPE_WHOLE_DIR:-$TRACEPIPE_RUN_DIR/bench/whole}
  local gen_args=(--seed 29 --jobs 3800000 --machines 12500 --parts 500 --duration 29d --open-ended)
  # TRACEPIPE_WHOLE_ARGS: other generator arguments (a small trace to try the script).
  [[ -z ${TRACEPIPE_WHOLE_ARGS:-} ]] || read -r -a gen_args <<<"$TRACEPIPE_WHOLE_ARGS"
  if [[ ! -f $dir/.generated || $(cat "$dir/.generated") != "${gen_args[*]}" ]]; then
    rm -rf "$dir"
    say "generating ${gen_args[*]} into $dir"
    measure generate "$BIN" generate --out "$dir" "${gen_args[@]}"
    grep -o 'generated [0-9]* job rows and [0-9]* task rows' "$TMP/err" "$TMP/out" | head -1 |
      awk '{print $2 + $6}' >"$dir/.events"
    echo "${gen_args[*]}" >"$dir/.generated"
  fi
  local n jt=bench-whole-jobs-$$ tt=bench-whole-tasks-$$ pt=bench-whole-perf-$$
  n=$(cat "$dir/.events")
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; broker on the same machine; load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "trace: tracepipe generate ${gen_args[*]}: $n events, $(du -sh "$dir" | cut -f1) gzipped"
  measure replay "$BIN" replay --jobs "$dir/job_events" --tasks "$dir/task_events" --job-topic "$jt" --task-topic "$tt" --progress quiet
  local disk
  disk=$(($(topic_bytes "$jt") + $(topic_bytes "$tt")))
  measure consume-ordered "$BIN" consume --job-topic "$jt" --task-topic "$tt" --out /dev/null
  measure aggregate-kafka "$BIN" aggregate --job-topic "$jt" --task-topic "$tt" --no-metrics --out /dev/null
  # Average size of the replay's values (task events, 93% of them): what ProducerPerformance sends.
  local size
  size=$("${KAFKA_TOOL[@]}" org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$KAFKA_BOOTSTRAP" \
    --topic "$tt" --from-beginning --max-messages 200000 2>/dev/null | awk '{b += length($0)} END {printf "%d", b / NR}')
  kafka_topics --delete --topic "($jt|$tt)" >/dev/null 2>&1 || true
  measure aggregate-files-jsonl "$BIN" aggregate --from-files --jobs "$dir/job_events" --tasks "$dir/task_events" --no-metrics --out "$TMP/w.jsonl"
  local jsonl_size parquet_size
  jsonl_size=$(stat -c %s "$TMP/w.jsonl")
  rm -f "$TMP/w.jsonl"
  measure aggregate-files-parquet "$BIN" aggregate --from-files --jobs "$dir/job_events" --tasks "$dir/task_events" --no-metrics --out "$TMP/w.parquet"
  parquet_size=$(stat -c %s "$TMP/w.parquet")
  rm -f "$TMP/w.parquet"
  # Kafka's own tools, same broker, same producer settings as the replay (idempotent, acks=all,
  # lz4, linger 5 ms, 1 MB batches), 12 partitions like each replay topic.
  kafka_topics --create --topic "$pt" --partitions 12 --replication-factor 1 >/dev/null
  measure kafka-producer-perf "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ProducerPerformance --topic "$pt" \
    --num-records "$n" --record-size "$size" --throughput -1 --producer-props \
    bootstrap.servers="$KAFKA_BOOTSTRAP" acks=all enable.idempotence=true compression.type=lz4 \
    linger.ms=5 batch.size=1000000
  local pp_line
  pp_line=$(grep -E "records sent" "$TMP/out" | tail -1)
  measure kafka-consumer-perf "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ConsumerPerformance \
    --bootstrap-server "$KAFKA_BOOTSTRAP" --topic "$pt" --messages "$n" --timeout 60000
  kafka_topics --delete --topic "$pt" >/dev/null 2>&1 || true

  echo
  echo "== results (whole trace, $n events)"
  report generate "$n"
  report replay "$n"
  report consume-ordered "$n"
  report aggregate-kafka "$n"
  report aggregate-files-jsonl "$n"
  report aggregate-files-parquet "$n"
  report kafka-producer-perf "$n"
  report kafka-consumer-perf "$n"
  echo "broker disk for the two replay topics: $((disk / 1000000)) MB; average value size $size B"
  echo "windows: JSON Lines $((jsonl_size / 1000000)) MB, Parquet $((parquet_size / 1000000)) MB ($(echo "$jsonl_size / $parquet_size" | bc -l | cut -c1-5)x smaller)"
  echo "ProducerPerformance: $pp_line"
  local w
  w() { awk -v n="$1" '$1==n {print $2}' "$TMP/results" | median; }
  echo "ratios (wall time, lower is faster): replay / ProducerPerformance $(echo "$(w replay) / $(w kafka-producer-perf)" | bc -l | cut -c1-5), ordered consume / ConsumerPerformance $(echo "$(w consume-ordered) / $(w kafka-consumer-perf)" | bc -l | cut -c1-5), Parquet / JSON Lines aggregation $(echo "$(w aggregate-files-parquet) / $(w aggregate-files-jsonl)" | bc -l | cut -c1-5)"
}

if [[ -n $WHOLE ]]; then
  bench_whole
  exit 0
fi

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

