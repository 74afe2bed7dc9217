#!/usr/bin/env bash
# The main job end to end on the bundled sample (sample/: parts 00000-00001 of the job and task
# tables, and the machines of that time span):
# replay into Kafka in global order -> ordered consumption + per-machine windows -> metrics in
# Prometheus (scraped and via the Pushgateway) -> verify the order against the files -> an HTML
# report of the windows.
# Run through `make demo`, which starts the stack and builds the release binary first.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"
eval "$(bash scripts/stack.sh env)"
LIB_NAME="demo"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

BIN=./target/release/tracepipe
[[ -x $BIN ]] || {
  echo "demo: $BIN not found: run 'make build' (or 'make demo')" >&2
  exit 1
}
OUT="$TRACEPIPE_RUN_DIR/demo"
mkdir -p "$OUT"
JOB_TOPIC=${TRACEPIPE_JOB_TOPIC:-job-events}
TASK_TOPIC=${TRACEPIPE_TASK_TOPIC:-task-events}
MACHINE_TOPIC=${TRACEPIPE_MACHINE_TOPIC:-machine-events}

# A demo starts from empty topics, so that what you see is this run.
for t in "$JOB_TOPIC" "$TASK_TOPIC" "$MACHINE_TOPIC"; do
  kafka_topics --delete --if-exists --topic "$t" >/dev/null
done

echo "== 1. replay sample/ into $JOB_TOPIC, $TASK_TOPIC and $MACHINE_TOPIC (12 partitions each) at $KAFKA_BOOTSTRAP"
"$BIN" replay --jobs sample/job_events --tasks sample/task_events --machines sample/machine_events \
  --job-topic "$JOB_TOPIC" --task-topic "$TASK_TOPIC" --machine-topic "$MACHINE_TOPIC" \
  --pushgateway "$PUSHGATEWAY_URL" --summary-json "$OUT/replay-summary.json" "$@"

echo
echo "== 2. aggregate: ordered consumption of the three topics -> 1-minute windows per machine"
"$BIN" aggregate --job-topic "$JOB_TOPIC" --task-topic "$TASK_TOPIC" --machine-topic "$MACHINE_TOPIC" \
  --out "$OUT/windows.jsonl" --metrics-addr "127.0.0.1:$AGGREGATE_METRICS_PORT" \
  --pushgateway "$PUSHGATEWAY_URL" --summary-json "$OUT/aggregate-summary.json"

echo
echo "== 3. verify: the ordered stream from Kafka equals the merge of the files"
"$BIN" verify --jobs sample/job_events --tasks sample/task_events --machines sample/machine_events \
  --job-topic "$JOB_TOPIC" --task-topic "$TASK_TOPIC" --machine-topic "$MACHINE_TOPIC"

echo
echo "== 4. report: the windows as one HTML page (inline SVG charts, no network needed to open it)"
"$BIN" report --windows "$OUT/windows.jsonl" --out "$OUT/report.html" --title "tracepipe demo: the sample's cell"

cat <<EOF_INFO

demo: done. Where to look:
  Report (HTML)         $OUT/report.html   open it in a browser
  Windows (JSON Lines)  $OUT/windows.jsonl   e.g. head -2 $OUT/windows.jsonl
  Summaries             $OUT/replay-summary.json, $OUT/aggregate-summary.json
  Ordered events        $BIN consume --job-topic $JOB_TOPIC --task-topic $TASK_TOPIC --machine-topic $MACHINE_TOPIC | head
  Prometheus            $PROMETHEUS_URL/graph?g0.expr=topk(10,tracepipe_machine_cpu_allocation_ratio)
                        (cell: tracepipe_cell_cpu_allocation_ratio, tracepipe_cell_machines_up; targets: $PROMETHEUS_URL/targets)
  Pushgateway           $PUSHGATEWAY_URL
  Grafana               deploy/grafana/ (dashboard + provisioning; see README "Grafana")
  Server logs           $TRACEPIPE_RUN_DIR/logs/   (bash scripts/stack.sh logs)
EOF_INFO
