#!/usr/bin/env bash
# A chaos run: random broker faults on the three-node cluster of scripts/fault-cluster.sh during
# a paced replay with a live ordered group consumer and a live aggregator, then the checks:
# `tracepipe verify` (the topics equal the trace, in exact global order), the consumer's output
# (every event once, in order) and the aggregator's windows against `aggregate --from-files`.
#
# Usage: bash scripts/chaos.sh [--faults N] [--seed S] [--gap SECONDS] [--speed X]
#   --faults N   faults to inject [20]
#   --seed S     seed of the fault sequence (kinds and nodes) [1]; the same seed injects the
#                same faults in the same order (their timing follows the machine)
#   --gap S      wall seconds between one fault's recovery and the next [1]
#   --speed X    replay pace [chosen so the replay lasts about 150 s per fault]
#
# The replay runs in segments of about a minute (`--to`, then `--resume`), so that it lasts as
# long as the faults do however slowly nodes restart: a segment that ends while faults remain
# is followed by the next; once every fault is injected and recovered from, the rest of the
# trace is replayed at full speed. The readers follow (`--follow`) across the segments' end
# marks, and `verify` checks the whole stream.
#
# Fault kinds: kill-leader (kill -9 the leader of a random task partition, restart it 3 s
# later), kill-controller (kill -9 the active KRaft controller, restart), pause (SIGSTOP a node
# for 12 s: longer than replica.lag.time.max.ms and the broker session, then SIGCONT), restart
# (a controlled restart of one node), rolling-restart (all three, one after another),
# kill-two (kill -9 two nodes: below min.insync.replicas; 10 s later one returns, then the other).
# After each fault the run waits until every partition has its full ISR again.
#
# The trace: $TRACEPIPE_TRACE_DIR (job_events/, task_events/), else ../shared/traces/
# clusterdata-2011-2 beside the repository if present, else the bundled sample.
# Prints the figures at the end; exits non-zero if any check fails.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
LIB_NAME=chaos
# shellcheck source=scripts/lib.sh
source "$SCRIPT_DIR/lib.sh"

FAULTS=20
SEED=1
GAP=1
SPEED=""
while (($#)); do
  case $1 in
    --faults) FAULTS=${2:?--faults needs a number}; shift ;;
    --seed) SEED=${2:?--seed needs a number}; shift ;;
    --gap) GAP=${2:?--gap needs seconds}; shift ;;
    --speed) SPEED=${2:?--speed needs a number}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ $FAULTS =~ ^[0-9]+$ && $SEED =~ ^[0-9]+$ ]] || die "--faults and --seed take whole numbers"

TRACES=${TRACEPIPE_TRACE_DIR:-$REPO_DIR/../shared/traces/clusterdata-2011-2}
[[ -d $TRACES/job_events && -d $TRACES/task_events ]] || TRACES=$REPO_DIR/sample
JOBS=$TRACES/job_events
TASKS=$TRACES/task_events

BIN=${TRACEPIPE_BIN:-$REPO_DIR/target/release/tracepipe}
if [[ -z ${TRACEPIPE_BIN:-} ]]; then
  say "building the release binary"
  (cd "$REPO_DIR" && cargo build --release -q)
fi
[[ -x $BIN ]] || die "no tracepipe binary at $BIN"

fc() { bash "$SCRIPT_DIR/fault-cluster.sh" "$@"; }
fc up >/dev/null
eval "$(fc env)"
export KAFKA_BOOTSTRAP=$TRACEPIPE_FAULT_BOOTSTRAP
fc wait-isr 180 >/dev/null

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tracepipe-chaos.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    pkill -P "$p" 2>/dev/null || true # the replayer's current segment
    kill "$p" 2>/dev/null || true
  done
  for n in 1 2 3; do fc resume-node "$n" >/dev/null 2>&1 || true; done
  fc start-kafka >/dev/null 2>&1 || true
}
trap cleanup EXIT

now_s() { date +%s.%N; }
T0=$(now_s)
stamp=$(date +%s%N)
JT=chaos-jobs-$stamp
TT=chaos-tasks-$stamp

# The pace: the replay should outlast the faults (a node's restart after kill -9 took 1-3 min on
# the loaded 2-core machine of RELIABILITY.md); once they are done the rest goes at full speed.
last_part=$(find "$TASKS" -name 'part-*.csv.gz' | sort | tail -1)
span_us=$(zcat "$last_part" | tail -1 | cut -d, -f1)
if [[ -z $SPEED ]]; then
  SPEED=$(awk -v s="$span_us" -v n="$FAULTS" 'BEGIN { d = (n < 1 ? 1 : n) * 150; v = (s - 600e6) / 1e6 / d; printf "%.1f", (v < 1 ? 1 : v) }')
fi
# Trace time per segment: about 60 s of wall time at that pace.
SEGMENT_US=$(awk -v v="$SPEED" 'BEGIN { printf "%d", v * 60e6 }')
say "trace $TRACES, $FAULTS faults, seed $SEED, replay speed $SPEED, work dir $WORK"

metrics_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" consume --follow --group "chaos-consume-$stamp" --job-topic "$JT" --task-topic "$TT" \
  --out "$WORK/events.jsonl" 2>"$WORK/consume.err" &
CONSUMER=$!
PIDS+=("$CONSUMER")
"$BIN" aggregate --follow --group "chaos-aggregate-$stamp" --job-topic "$JT" --task-topic "$TT" \
  --out "$WORK/windows.jsonl" --metrics-addr "127.0.0.1:$metrics_port" 2>"$WORK/aggregate.err" &
AGGREGATOR=$!
PIDS+=("$AGGREGATOR")
# The replayer: paced segments of about a minute (`--to`, then `--resume`) one after another
# until the faults are done (the file faults.done), then the rest at full speed. Its exit code
# goes to replay.rc; each segment's summary to replay.out.
replay_segment() { # [--to T] [paced]; the first creates the topics, the others resume
  local args=()
  [[ -f $WORK/replay.started ]] && args+=(--resume)
  touch "$WORK/replay.started"
  [[ -n ${1:-} ]] && args+=(--to "$1")
  [[ ${2:-} == paced ]] && args+=(--speed "$SPEED")
  echo segment >>"$WORK/segments"
  # A replay that fails to start (its first metadata request went to a node that a fault froze
  # or killed: "cannot reach Kafka") is retried with --resume, as the deployment's Job retries
  # its pod: the resumed run sends nothing twice. Up to 3 attempts per segment.
  local attempt rc=0
  for attempt in 1 2 3; do
    "$BIN" replay --jobs "$JOBS" --tasks "$TASKS" --job-topic "$JT" --task-topic "$TT" \
      --replication-factor 3 --min-insync-replicas 2 --progress quiet "${args[@]}" \
      >>"$WORK/replay.out" 2>>"$WORK/replay.err" && return 0
    rc=$?
    echo "segment $(wc -l <"$WORK/segments"), attempt $attempt: exit $rc" >>"$WORK/replay.retries"
    [[ " ${args[*]} " == *" --resume "* ]] || args+=(--resume)
    sleep 2
  done
  return "$rc"
}
(
  end=600000000
  rc=0
  while [[ ! -f $WORK/faults.done ]] && ((end < span_us)); do
    end=$((end + SEGMENT_US))
    replay_segment "$end" paced || { rc=$?; break; }
  done
  if ((rc == 0)); then
    replay_segment "" full || rc=$?
  fi
  echo "$rc" >"$WORK/replay.rc"
) &
REPLAY=$!
PIDS+=("$REPLAY")

# The consumer's progress, twice a second: its longest stall is a figure of the run.
(
  while kill -0 "$CONSUMER" 2>/dev/null; do
    printf '%s %s\n' "$(now_s)" "$(wc -l 2>/dev/null <"$WORK/events.jsonl" || echo 0)"
    sleep 0.5
  done
) >"$WORK/progress.txt" &
PIDS+=("$!")

# Faults start once the replay has created its topics: creating a topic of 3 replicas needs all
# three nodes (Kafka refuses a replication factor above the brokers it sees, and so does replay).
# Then every new partition must have its leader and full ISR.
until "$BIN" topics --bootstrap "$KAFKA_BOOTSTRAP" --topic "$TT" --topic "$JT" >/dev/null 2>&1; do
  [[ -f $WORK/replay.rc ]] && break
  sleep 0.5
done
fc wait-isr 180 >/dev/null

# The fault sequence, from the seed alone.
RANDOM=$SEED
KINDS=(kill-leader kill-controller pause restart kill-leader rolling-restart kill-two pause)
declare -A COUNT=()
fault_log=$WORK/faults.txt
: >"$fault_log"

other_node() { # a node other than $1
  local n=$(((RANDOM % 3) + 1))
  while ((n == $1)); do n=$(((RANDOM % 3) + 1)); done
  printf '%s\n' "$n"
}

inject() {
  local kind=$1 node id a b p
  case $kind in
    kill-leader)
      p=$((RANDOM % 12))
      id=$(fc kill-leader "$TT" "$p" 2>/dev/null)
      echo "kill -9 node $id (leader of $TT/$p)"
      sleep 3
      fc start-node "$id" >/dev/null
      ;;
    kill-controller)
      id=$(fc kill-controller 2>/dev/null)
      echo "kill -9 node $id (active controller)"
      sleep 3
      fc start-node "$id" >/dev/null
      ;;
    pause)
      node=$(((RANDOM % 3) + 1))
      fc pause-node "$node" >/dev/null
      echo "SIGSTOP node $node for 12 s"
      sleep 12
      fc resume-node "$node" >/dev/null
      ;;
    restart)
      node=$(((RANDOM % 3) + 1))
      echo "controlled restart of node $node"
      fc restart-node "$node" >/dev/null
      ;;
    rolling-restart)
      echo "rolling restart of nodes 1, 2, 3"
      for node in 1 2 3; do
        fc restart-node "$node" >/dev/null
        fc wait-isr 180 >/dev/null
      done
      ;;
    kill-two)
      a=$(((RANDOM % 3) + 1))
      b=$(other_node "$a")
      fc kill-node "$a" >/dev/null
      fc kill-node "$b" >/dev/null
      echo "kill -9 nodes $a and $b (below min.insync.replicas), node $a back after 10 s"
      sleep 10
      fc start-node "$a" >/dev/null
      sleep 3
      fc start-node "$b" >/dev/null
      ;;
  esac
}

for ((f = 1; f <= FAULTS; f++)); do
  kind=${KINDS[RANDOM % ${#KINDS[@]}]}
  if [[ -f $WORK/replay.rc ]]; then
    say "the replay ended after $((f - 1)) faults (exit $(<"$WORK/replay.rc"); lower --speed for more)"
    break
  fi
  t=$(now_s)
  what=$(inject "$kind")
  fc wait-isr 300 >/dev/null
  COUNT[$kind]=$((${COUNT[$kind]:-0} + 1))
  line=$(printf '%3d  %-16s %6.1f s  %s' "$f" "$kind" "$(awk -v a="$t" -v b="$(now_s)" 'BEGIN { print b - a }')" "$what")
  echo "$line" | tee -a "$fault_log"
  sleep "$GAP"
done
injected=$(wc -l <"$fault_log")

# The rest of the trace at full speed, after the segment still running.
touch "$WORK/faults.done"
wait "$REPLAY" || true
replay_rc=$(cat "$WORK/replay.rc" 2>/dev/null || echo 1)
SEGMENTS=$(wc -l <"$WORK/segments")
say "replay: $SEGMENTS segments, exit $replay_rc"

# verify: the topics against the trace, every event once in exact global order.
verify_out=$("$BIN" verify --jobs "$JOBS" --tasks "$TASKS" --job-topic "$JT" --task-topic "$TT" 2>&1) && verify_rc=0 || verify_rc=$?
events=$(sed -n 's/.*OK: \([0-9]*\) events.*/\1/p' <<<"$verify_out")

# The live readers catch up, then stop (Ctrl-C).
replayed=$(sed -n 's/^replayed \([0-9]*\) events.*/\1/p' "$WORK/replay.out" | awk '{ n += $1 } END { print n + 0 }')
# What the readers must have: every event of the trace once verify found them all in Kafka
# (a segment that failed mid-way and was resumed has no summary for its part), else what the
# segments' summaries count.
expected=${events:-$replayed}
deadline=$((SECONDS + 600))
agg_events() { curl -fsS -m 2 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | awk '$1 == "tracepipe_aggregate_events_total" { printf "%d", $2 }'; }
# (The aggregator's metrics follow it within 250 ms once the stream pauses.)
while (($(wc -l <"$WORK/events.jsonl") < ${expected:-0})) || (($(agg_events || echo 0) < ${expected:-0})); do
  ((SECONDS < deadline)) || break
  kill -0 "$CONSUMER" 2>/dev/null && kill -0 "$AGGREGATOR" 2>/dev/null || break
  sleep 0.5
done
readers_alive=1
kill -0 "$CONSUMER" 2>/dev/null && kill -0 "$AGGREGATOR" 2>/dev/null || readers_alive=0
kill -INT "$CONSUMER" "$AGGREGATOR" 2>/dev/null || true
wait "$CONSUMER" 2>/dev/null || true
wait "$AGGREGATOR" 2>/dev/null || true

"$BIN" aggregate --from-files --no-metrics --jobs "$JOBS" --tasks "$TASKS" --out "$WORK/files.jsonl" 2>/dev/null

python3 - "$WORK" "${expected:-0}" "$T0" <<'EOF' >"$WORK/figures.txt"
import json, sys
work, expected, t0 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
seen, dup, reordered, last, n = set(), 0, 0, None, 0
with open(f"{work}/events.jsonl") as f:
    for line in f:
        v = json.loads(line)
        key = (v["time"], v["seq"])
        if v["seq"] in seen:
            dup += 1
        seen.add(v["seq"])
        if last is not None and key < last:
            reordered += 1
        last = key
        n += 1
lost = len(set(range(expected)) - seen) if expected else 0
a = open(f"{work}/files.jsonl").read().splitlines()
b = open(f"{work}/windows.jsonl").read().splitlines()
from collections import Counter
ca, cb = Counter(a), Counter(b)
differ = sum(((ca - cb) + (cb - ca)).values())
stall, prev_t, prev_n, since = 0.0, None, 0, None
for line in open(f"{work}/progress.txt"):
    t, c = line.split()
    t, c = float(t), int(c)
    if c > prev_n or since is None:
        since = t
    elif c < expected:
        stall = max(stall, t - since)
    prev_n = c
print(f"consumed {n} lines, {len(seen)} distinct events")
print(f"lost {lost}")
print(f"duplicated {dup}")
print(f"reordered {reordered}")
print(f"windows {len(a)} from files, {len(b)} live, differing {differ}")
print(f"longest release stall {stall:.1f} s")
EOF

elapsed_total=$(elapsed "$T0")
{
  echo "=== chaos run: seed $SEED, $injected faults in ${elapsed_total} s (trace $TRACES, speed $SPEED)"
  printf 'faults by kind:'
  for k in "${!COUNT[@]}"; do printf ' %s %s,' "$k" "${COUNT[$k]}"; done
  echo
  echo "replay: $SEGMENTS segments (paced at speed $SPEED while faults were injected, then full speed), exit $replay_rc; $(grep -c '^replayed' "$WORK/replay.out") summaries, $expected events; $(cat "$WORK/replay.retries" 2>/dev/null | wc -l) segment starts retried"
  echo "verify: exit $verify_rc; $(head -1 <<<"$verify_out")"
  echo "events ${events:-?} (replayed ${replayed:-?}); readers alive to the end: $((readers_alive ? 1 : 0))"
  cat "$WORK/figures.txt"
} | tee "$WORK/summary.txt"

ok=1
((replay_rc == 0 && verify_rc == 0 && readers_alive == 1)) || ok=0
grep -q '^lost 0$' "$WORK/figures.txt" && grep -q '^duplicated 0$' "$WORK/figures.txt" &&
  grep -q '^reordered 0$' "$WORK/figures.txt" && grep -q 'differing 0$' "$WORK/figures.txt" || ok=0
((injected >= FAULTS)) || ok=0
if ((ok)); then
  say "PASS (details in $WORK)"
  exit 0
fi
say "FAIL (details in $WORK)"
exit 1
