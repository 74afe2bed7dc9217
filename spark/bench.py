"""Throughput of the Spark job on a real broker, local[2] (run through spark/bench.sh).

Fills fresh topics with `tracepipe replay` of a trace folder (default: the bundled sample; falls
back to the Python wire-format producer of spark/tests/wire.py when the binary is missing), then
measures the job in up to three modes:

* catchup: the topics hold the whole replay; one --available-now run without a rate limit (one
  data batch, then the batch that closes the last windows). The recommended bounded mode.
* batched: the same, in batches of --max-offsets-per-trigger records. Spark prorates the limit
  over partitions, so partitions drift apart in event time; the watermark delay is raised to
  --batched-watermark-delay so that nothing is dropped as late (reported anyway).
* live: the query runs (trigger --live-trigger-seconds) while the replay writes, as in production.

Figures: Spark's processedRowsPerSecond per batch (median over batches with input) and total
input rows / wall seconds from the query start to its end (excluding the Spark session start).
Input rows include the replayer's mark records (a few hundred).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(HERE / "tests")]

import wire  # noqa: E402

from tracepipe_spark import job  # noqa: E402

LOG = logging.getLogger("bench")


def replay(binary: Path | None, jobs: Path, tasks: Path, bootstrap: str, jt: str, tt: str) -> dict[str, Any]:
    t0 = time.monotonic()
    if binary is not None:
        with tempfile.NamedTemporaryFile(suffix=".json") as summary:
            subprocess.run(
                [
                    str(binary),
                    "replay",
                    "--jobs",
                    str(jobs),
                    "--tasks",
                    str(tasks),
                    "--job-topic",
                    jt,
                    "--task-topic",
                    tt,
                    "--bootstrap",
                    bootstrap,
                    "--progress",
                    "quiet",
                    "--summary-json",
                    summary.name,
                ],
                check=True,
            )
            out: dict[str, Any] = json.loads(Path(summary.name).read_text())
        out["replayer"] = "tracepipe"
    else:
        wire.create_topics(bootstrap, [jt, tt])
        events = wire.merge(wire.read_table(jobs, "job"), wire.read_table(tasks, "task"))
        n = wire.produce(bootstrap, jt, tt, events)
        out = {"events": n, "replayer": "python"}
    out["replay_seconds"] = round(time.monotonic() - t0, 2)
    return out


def figures(progress: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    with_input = [p for p in progress if int(p.get("numInputRows", 0)) > 0]
    rates = [float(p["processedRowsPerSecond"]) for p in with_input]
    rows = sum(int(p.get("numInputRows", 0)) for p in progress)
    dropped = sum(
        int(op.get("numRowsDroppedByWatermark", 0)) for p in progress for op in p.get("stateOperators", [])
    )
    return {
        "batches": len(progress),
        "batches_with_input": len(with_input),
        "input_rows": rows,
        "wall_seconds": round(wall, 2),
        "rows_per_second_wall": round(rows / wall) if wall else None,
        "median_processed_rows_per_second": round(statistics.median(rates)) if rates else None,
        "max_processed_rows_per_second": round(max(rates)) if rates else None,
        "batch_durations_ms": [int(p["batchDuration"]) for p in progress],
        "rows_dropped_by_watermark": dropped,
    }


def config(args: argparse.Namespace, jt: str, tt: str, tmp: Path, name: str, extra: list[str]) -> job.Config:
    return job.parse_args(
        [
            f"-KAFKA_BROKER={args.bootstrap}",
            "--job-topic",
            jt,
            "--task-topic",
            tt,
            "--checkpoint",
            str(tmp / name / "checkpoint"),
            "--output",
            str(tmp / name / "out"),
            "--no-pushgateway",
            "--query-name",
            f"bench_{name}",
            "--log-level",
            "WARNING",
            *extra,
        ]
    )


def run_bounded(spark: Any, cfg: job.Config) -> dict[str, Any]:
    result = job.run(cfg, spark)
    out = figures(result.progress, result.wall_seconds)
    out["machine_windows"] = result.sink.machine_windows
    return out


def run_live(spark: Any, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    jt, tt = f"bench-live-jobs-{uuid.uuid4().hex[:8]}", f"bench-live-tasks-{uuid.uuid4().hex[:8]}"
    wire.create_topics(args.bootstrap, [jt, tt])
    cfg = config(
        args,
        jt,
        tt,
        tmp,
        "live",
        ["--trigger-seconds", str(args.live_trigger_seconds), "--starting-offsets", "earliest"],
    )
    sink = job.BatchSink(cfg)
    query = job.start(cfg, spark, sink)
    try:
        time.sleep(5)  # first (empty) batch planned before data arrives
        t0 = time.monotonic()
        info = replay(args.binary, args.jobs, args.tasks, args.bootstrap, jt, tt)
        expected_records = int(info["events"]) + int(info.get("marks", 0))
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            seen = sum(int(job.progress_dict(p).get("numInputRows", 0)) for p in query.recentProgress)
            if seen >= expected_records and sink.stats.last_window_end is not None:
                last = job.progress_dict(query.lastProgress) if query.lastProgress else {}
                if int(last.get("numInputRows", 0)) == 0:
                    break
            time.sleep(0.5)
        wall = time.monotonic() - t0
    finally:
        query.stop()
    progress = [job.progress_dict(p) for p in query.recentProgress]
    out = figures(progress, wall)
    out["replay"] = info
    out["machine_windows"] = sink.stats.machine_windows
    wire.delete_topics(args.bootstrap, [jt, tt])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=Path, default=REPO / "sample" / "job_events")
    p.add_argument("--tasks", type=Path, default=REPO / "sample" / "task_events")
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--mode", choices=["catchup", "batched", "live", "all"], default="all")
    p.add_argument("--max-offsets-per-trigger", type=int, default=100_000)
    p.add_argument("--batched-watermark-delay", default="1d")
    p.add_argument("--live-trigger-seconds", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--state-store", choices=["hdfs", "rocksdb"], default="hdfs")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--no-warmup", action="store_true", help="skip the unreported warm-up run")
    args = p.parse_args()
    binary = REPO / "target" / "release" / "tracepipe"
    args.binary = binary if binary.exists() else None
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    spark = job.build_session(job.parse_args(["--no-pushgateway", "--state-store", args.state_store]))
    results: dict[str, Any] = {
        "jobs": str(args.jobs),
        "tasks": str(args.tasks),
        "cores": os.cpu_count(),
        "master": spark.sparkContext.master,
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "state_store": args.state_store,
        "load_average_before": os.getloadavg(),
    }
    modes = ["catchup", "batched", "live"] if args.mode == "all" else [args.mode]
    with tempfile.TemporaryDirectory(prefix="tracepipe-spark-bench-") as tmpdir:
        tmp = Path(tmpdir)
        if {"catchup", "batched"} & set(modes):
            jt, tt = f"bench-jobs-{uuid.uuid4().hex[:8]}", f"bench-tasks-{uuid.uuid4().hex[:8]}"
            results["replay"] = replay(args.binary, args.jobs, args.tasks, args.bootstrap, jt, tt)
            print(f"replay: {json.dumps(results['replay'])}", flush=True)
            try:
                if not args.no_warmup:
                    # JIT warm-up of the fresh JVM on the same topics (not reported).
                    run_bounded(spark, config(args, jt, tt, tmp, "warmup", ["--available-now"]))
                if "catchup" in modes:
                    results["catchup"] = run_bounded(
                        spark, config(args, jt, tt, tmp, "catchup", ["--available-now"])
                    )
                    print(f"catchup: {json.dumps(results['catchup'])}", flush=True)
                if "batched" in modes:
                    extra = [
                        "--available-now",
                        "--max-offsets-per-trigger",
                        str(args.max_offsets_per_trigger),
                        "--watermark-delay",
                        args.batched_watermark_delay,
                    ]
                    results["batched"] = run_bounded(spark, config(args, jt, tt, tmp, "batched", extra))
                    print(f"batched: {json.dumps(results['batched'])}", flush=True)
            finally:
                wire.delete_topics(args.bootstrap, [jt, tt])
        if "live" in modes:
            results["live"] = run_live(spark, args, tmp)
            print(f"live: {json.dumps(results['live'])}", flush=True)
    spark.stop()
    results["load_average_after"] = os.getloadavg()

    print("\n== Spark job throughput (local[2]) ==")
    print(f"input: {args.jobs} + {args.tasks}")
    print(f"load average before/after: {results['load_average_before']} / {results['load_average_after']}")
    for mode in modes:
        r = results[mode]
        print(
            f"{mode:8s} rows={r['input_rows']:>9,d} wall={r['wall_seconds']:>7.1f}s "
            f"rows/s(wall)={r['rows_per_second_wall'] or 0:>8,d} "
            f"median processedRowsPerSecond={r['median_processed_rows_per_second'] or 0:>8,d} "
            f"batches={r['batches_with_input']}/{r['batches']} dropped={r['rows_dropped_by_watermark']}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
