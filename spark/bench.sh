#!/usr/bin/env bash
# Throughput of the Spark job (local[2]) on topics filled by a replay of a trace folder.
#   spark/bench.sh                      # bundled sample (sample/), modes catchup, batched, live
#   spark/bench.sh --mode catchup --jobs DIR --tasks DIR --json out.json
# Needs the local stack (make up) and, preferably, target/release/tracepipe (make build).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/fetch-jars.sh" >/dev/null
exec "${PYTHON:-python3}" "$here/bench.py" "$@"
