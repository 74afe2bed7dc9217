#!/usr/bin/env bash
# Runs the Spark job locally (local[2]): fetches the Kafka source jars if needed (spark/fetch-jars.sh),
# then `python3 -m tracepipe_spark.job` with the given arguments, e.g.
#   spark/run.sh -KAFKA_BROKER 127.0.0.1:9092 -PUSHGATEWAY_URL http://127.0.0.1:9091
#   spark/run.sh --available-now --output out/ --no-pushgateway
# Needs Python 3.10+ with spark/requirements.txt installed, Java 17 and (first time) Maven.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/fetch-jars.sh" >/dev/null
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m tracepipe_spark.job "$@"
