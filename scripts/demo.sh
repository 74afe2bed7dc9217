#!/usr/bin/env bash
# Replays the bundled sample (sample/, two shards of each table) into the local Kafka.
# Run through `make demo`, which starts the stack and builds the release binary first.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"
eval "$(bash scripts/stack.sh env)"

BIN=./target/release/tracepipe
[[ -x $BIN ]] || {
  echo "demo: $BIN not found: run 'make build' (or 'make demo')" >&2
  exit 1
}

echo "demo: replaying sample/job_events and sample/task_events into Kafka at $KAFKA_BOOTSTRAP"
"$BIN" replay --jobs sample/job_events --tasks sample/task_events "$@"

cat <<EOF_INFO

demo: done. Where to look:
  Kafka          $KAFKA_BOOTSTRAP   topics: java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile=$KAFKA_TOOLS_LOG4J org.apache.kafka.tools.TopicCommand --bootstrap-server $KAFKA_BOOTSTRAP --list
  Prometheus     $PROMETHEUS_URL   (targets: $PROMETHEUS_URL/targets)
  Pushgateway    $PUSHGATEWAY_URL
  Server logs    $TRACEPIPE_RUN_DIR/logs/   (bash scripts/stack.sh logs)
EOF_INFO
