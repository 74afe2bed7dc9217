"""End-to-end tests of the Spark job on a real Kafka broker with local Spark (local[2]).

* ``test_sample_replay``: `tracepipe replay` of the bundled sample (parts 00000-00001) into fresh
  topics, the job with --available-now, its final windows compared with `tracepipe aggregate
  --from-files` on the same parts and with an independent pure-Python computation.
* ``test_wire_edge_cases_and_restart``: records written in the replayer's wire format by a Python
  producer (64-bit IDs, empty requests, events without machine, after-the-end times 2^63-1 and
  2^64-1, marks), consumed in two runs on one checkpoint; checks exact windows, no duplicates, and
  that the Pushgateway keeps the machines of earlier batches.
* ``test_pushgateway_sink_merges_batches``: the Pushgateway sink alone.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wire
from needs import module

module("pyspark")

from tracepipe_spark import job
from tracepipe_spark.pushgateway import MachineWindow, PushgatewaySink


def _topics(prefix: str) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"{prefix}-jobs-{suffix}", f"{prefix}-tasks-{suffix}"


def _run(
    spark: Any,
    bootstrap: str,
    job_topic: str,
    task_topic: str,
    tmp: Path,
    pushgateway: str | None = None,
    push_job: str | None = None,
    extra: list[str] | None = None,
) -> job.RunResult:
    args = [
        f"-KAFKA_BROKER={bootstrap}",
        "--job-topic",
        job_topic,
        "--task-topic",
        task_topic,
        "--checkpoint",
        str(tmp / "checkpoint"),
        "--output",
        str(tmp / "out"),
        "--available-now",
        *(extra or []),
    ]
    if pushgateway and push_job:
        args += ["-PUSHGATEWAY_URL", pushgateway, "--pushgateway-job", push_job]
    else:
        args.append("--no-pushgateway")
    return job.run(job.parse_args(args), spark)


def _pushgateway_samples(url: str, push_job: str) -> dict[str, dict[str, float]]:
    """{metric: {machine_id or event_type: value}} of one Pushgateway job (JSON API)."""
    base = url if "://" in url else f"http://{url}"
    with urllib.request.urlopen(f"{base}/api/v1/metrics", timeout=30) as resp:
        body = json.load(resp)
    out: dict[str, dict[str, float]] = {}
    for group in body["data"]:
        if group["labels"] != {"job": push_job}:
            continue
        for name, family in group.items():
            if not isinstance(family, dict) or "metrics" not in family:
                continue
            for m in family["metrics"]:
                labels = m.get("labels") or {}
                label = labels.get("machine_id", labels.get("event_type", ""))
                out.setdefault(name, {})[label] = float(m["value"])
    return out


def _delete_push_job(url: str, push_job: str) -> None:
    base = url if "://" in url else f"http://{url}"
    req = urllib.request.Request(f"{base}/metrics/job/{push_job}", method="DELETE")
    with contextlib.suppress(OSError):
        urllib.request.urlopen(req, timeout=10).close()


@pytest.fixture
def topics(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    job_topic, task_topic = _topics("spark-test")
    yield job_topic, task_topic
    wire.delete_topics(kafka_bootstrap, [job_topic, task_topic])


# -- the sample, replayed by tracepipe -------------------------------------------------------------


def _tracepipe_aggregate(
    binary: Path, jobs: Path, tasks: Path, out: Path
) -> tuple[dict[tuple[int, int], dict[str, Any]], dict[int, dict[str, int]]]:
    subprocess.run(
        [
            str(binary),
            "aggregate",
            "--from-files",
            "--jobs",
            str(jobs),
            "--tasks",
            str(tasks),
            "--out",
            str(out),
        ],
        check=True,
        timeout=600,
    )
    machines: dict[tuple[int, int], dict[str, Any]] = {}
    cells: dict[int, dict[str, int]] = {}
    with open(out, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("kind") == "machine":
                # Only windows in which the machine had task events exist on the Spark side.
                if int(row.get("task_events") or 0) == 0:
                    continue
                machines[(int(row["window_start"]), int(row["machine_id"]))] = row
            elif row.get("kind") == "cell":
                counts = {k: int(v) for k, v in (row.get("job_events_by_type") or {}).items() if v}
                if counts:
                    cells[int(row["window_start"])] = counts
    return machines, cells


def test_sample_replay(
    spark: Any,
    kafka_bootstrap: str,
    sample_dirs: tuple[Path, Path],
    tracepipe_bin: Path,
    topics: tuple[str, str],
    tmp_path: Path,
) -> None:
    jobs_dir, tasks_dir = sample_dirs
    job_topic, task_topic = topics
    subprocess.run(
        [
            str(tracepipe_bin),
            "replay",
            "--jobs",
            str(jobs_dir),
            "--tasks",
            str(tasks_dir),
            "--job-topic",
            job_topic,
            "--task-topic",
            task_topic,
            "--bootstrap",
            kafka_bootstrap,
            "--progress",
            "quiet",
        ],
        check=True,
        timeout=600,
    )

    result = _run(spark, kafka_bootstrap, job_topic, task_topic, tmp_path)
    summary = result.summary()
    print(json.dumps(summary))
    assert summary["rows_dropped_by_watermark"] == 0
    observed = summary["observed"]
    got_machines, got_jobs = wire.read_job_output(tmp_path / "out")

    # Independent pure-Python computation from the CSV files.
    events = list(wire.merge(wire.read_table(jobs_dir, "job"), wire.read_table(tasks_dir, "task")))
    expected = wire.expected_windows(events)
    assert observed["task_rows"] + observed["job_rows"] + observed["after_end_rows"] + observed[
        "null_time_rows"
    ] == len(events)
    assert observed["job_rows"] == sum(1 for e in events if e.table == "job" and e.time < wire.AFTER_END)
    problems = wire.compare_machine_rows(got_machines, expected.machine_rows())
    assert not problems, "\n".join(problems)
    assert got_jobs == expected.jobs

    # The Rust aggregator on the same parts.
    want_machines, want_jobs = _tracepipe_aggregate(
        tracepipe_bin, jobs_dir, tasks_dir, tmp_path / "agg.jsonl"
    )
    problems = wire.compare_machine_rows(got_machines, want_machines)
    assert not problems, "\n".join(problems)
    assert got_jobs == want_jobs
    print(f"tracepipe aggregate: {len(want_machines)} machine windows, {len(want_jobs)} job windows equal")


# -- wire-format edge cases, restart, Pushgateway ----------------------------------------------------

BIG_JOB = 6_400_000_123  # > 2^32
BIG_MACHINE = 1 << 40  # > 2^32


def _task(
    t: int, job_id: int, machine: int | None, cpu: float | None, mem: float | None, et: int = 1
) -> wire.Event:
    return wire.Event(
        "task",
        {
            "time": t,
            "missing_info": None,
            "job_id": job_id,
            "task_index": 7,
            "machine_id": machine,
            "event_type": et,
            "user": "dXNlcg==",
            "scheduling_class": 2,
            "priority": 9,
            "cpu_request": cpu,
            "memory_request": mem,
            "disk_space_request": None,
            "different_machines_restriction": False,
        },
    )


def _job(t: int, job_id: int, et: int) -> wire.Event:
    return wire.Event(
        "job",
        {
            "time": t,
            "missing_info": 2 if et == 4 else None,
            "job_id": job_id,
            "event_type": et,
            "user": "dXNlcg==",
            "scheduling_class": None,
            "job_name": "bmFtZQ==",
            "logical_job_name": None,
        },
    )


def _synthetic(minutes: range) -> list[wire.Event]:
    """Events of the given minutes: ten machines per minute (different each minute), plus machine
    BIG_MACHINE+999 every minute, empty requests, events without machine, job events."""
    out: list[wire.Event] = []
    for m in minutes:
        base = m * wire.WINDOW_US
        out.append(_job(base, BIG_JOB + m, 0))
        for k in range(10):
            mid = BIG_MACHINE + m * 10 + k
            t = base + k * 1_000_000
            out.append(_task(t, BIG_JOB + k, None, 0.25, 0.125, et=0))  # SUBMIT: no machine
            out.append(_task(t, BIG_JOB + k, mid, 0.01 * (k + 1), 0.02 * (m + 1)))
            out.append(_task(t + 1, BIG_JOB + k, mid, None, 0.5, et=8))  # empty CPU request
        # A machine whose window has only empty requests: sums 0.0, averages null.
        out.append(_task(base + 59_999_999, BIG_JOB, BIG_MACHINE + 999, None, None, et=5))
        if m % 3 == 0:
            out.append(_job(base + 30_000_000, BIG_JOB + m, 4))
    return out


@pytest.mark.parametrize("output_format", ["json", "parquet"])
def test_wire_edge_cases_and_restart(
    spark: Any,
    kafka_bootstrap: str,
    pushgateway_url: str,
    topics: tuple[str, str],
    tmp_path: Path,
    output_format: str,
) -> None:
    job_topic, task_topic = topics
    wire.create_topics(kafka_bootstrap, [job_topic, task_topic])
    push_job = f"spark_test_{uuid.uuid4().hex[:8]}"
    first = _synthetic(range(0, 20))
    # t=0 (before the trace window) counts like any time.
    first.insert(0, _task(0, BIG_JOB, BIG_MACHINE + 5000, 1.0, 1.0))
    second = _synthetic(range(20, 40))
    # After the end of the trace: excluded from every window (2^64-1 does not fit a Spark long).
    after_end = [
        _task((1 << 63) - 1, BIG_JOB, BIG_MACHINE + 1, 0.5, 0.5),
        _task((1 << 64) - 1, BIG_JOB, BIG_MACHINE + 1, 0.5, 0.5),
        _job((1 << 63) - 1, BIG_JOB, 5),
    ]
    try:
        # Run 1: the first 20 minutes with watermark marks but no end of stream: only windows
        # older than the watermark (max time - 10 min) close.
        wire.produce(kafka_bootstrap, job_topic, task_topic, first, mark_every=100, end=False)
        r1 = _run(
            spark,
            kafka_bootstrap,
            job_topic,
            task_topic,
            tmp_path,
            pushgateway_url,
            push_job,
            extra=["--output-format", output_format],
        )
        m1, _ = wire.read_job_output(tmp_path / "out")
        assert m1, "no window closed in run 1"
        assert max(ws for ws, _ in m1) < 10 * wire.WINDOW_US
        # Run 2 on the same checkpoint: the rest, the after-the-end events and the end marks.
        wire.produce(
            kafka_bootstrap, job_topic, task_topic, second + after_end, mark_every=100, first_seq=len(first)
        )
        r2 = _run(
            spark,
            kafka_bootstrap,
            job_topic,
            task_topic,
            tmp_path,
            pushgateway_url,
            push_job,
            extra=["--output-format", output_format],
        )
        s1, s2 = r1.summary(), r2.summary()
        print(json.dumps(s1), json.dumps(s2))
        assert s1["rows_dropped_by_watermark"] == s2["rows_dropped_by_watermark"] == 0
        assert s2["observed"]["after_end_rows"] == 2
        assert s2["observed"]["null_time_rows"] == 1

        got_machines, got_jobs = wire.read_job_output(tmp_path / "out")  # raises on duplicates
        expected = wire.expected_windows(first + second + after_end)
        problems = wire.compare_machine_rows(got_machines, expected.machine_rows())
        assert not problems, "\n".join(problems)
        assert got_jobs == expected.jobs
        # The full typed records (batch read of the same topics): 64-bit IDs, nulls, booleans.
        cfg = job.parse_args(
            [f"-KAFKA_BROKER={kafka_bootstrap}", "--job-topic", job_topic, "--task-topic", task_topic]
        )
        reader = spark.read.format("kafka")
        for key, value in job.kafka_options(cfg).items():
            if key != "failOnDataLoss":
                reader = reader.option(key, value)
        raw = reader.load()
        tasks = job.parse_task_events(raw, task_topic).collect()
        jobs = job.parse_job_events(raw, job_topic).collect()
        assert len(tasks) == sum(1 for e in first + second + after_end if e.table == "task")
        assert len(jobs) == sum(1 for e in first + second + after_end if e.table == "job")
        assert {r["job_id"] for r in jobs} >= {BIG_JOB}
        assert max(r["machine_id"] or 0 for r in tasks) >= BIG_MACHINE
        assert sum(1 for r in tasks if r["machine_id"] is None) == 40 * 10
        assert all(r["different_machines_restriction"] is False for r in tasks)
        assert sum(1 for r in tasks if r["cpu_request"] is None) == 40 * 11
        assert sum(1 for r in tasks if r["time"] is None) == 1  # 2^64-1 does not fit a long
        assert sum(1 for r in jobs if r["missing_info"] == 2) == len([m for m in range(40) if m % 3 == 0])

        empty = got_machines[(0, BIG_MACHINE + 999)]
        assert empty["cpu_request_sum"] == 0.0 and empty["cpu_request_avg"] is None
        assert got_machines[(0, BIG_MACHINE + 5000)]["task_events"] == 1

        samples = _pushgateway_samples(pushgateway_url, push_job)
        cpu = samples.get("total_cpu_usage", {})
        # Every machine of every closed window, pushed in different batches of two runs.
        machines = {mid for _, mid in expected.machines}
        assert {int(k) for k in cpu} == machines
        latest: dict[int, dict[str, Any]] = {}
        for (ws, mid), row in expected.machine_rows().items():
            if mid not in latest or ws > latest[mid]["window_start"]:
                latest[mid] = row
        for mid, row in latest.items():
            assert math.isclose(cpu[str(mid)], row["cpu_request_sum"], rel_tol=1e-9, abs_tol=1e-12)
            assert math.isclose(
                samples["total_memory_usage"][str(mid)], row["memory_request_sum"], rel_tol=1e-9
            )
            if row["cpu_request_avg"] is None:
                assert str(mid) not in samples.get("avg_cpu_request", {})
            else:
                assert math.isclose(
                    samples["avg_cpu_request"][str(mid)], row["cpu_request_avg"], rel_tol=1e-9
                )
        assert s1["pushes"] >= 1 and s2["pushes"] >= 1
    finally:
        _delete_push_job(pushgateway_url, push_job)


def test_pushgateway_sink_merges_batches(pushgateway_url: str) -> None:
    push_job = f"spark_test_{uuid.uuid4().hex[:8]}"
    try:
        sink = PushgatewaySink(pushgateway_url, job=push_job)
        sink.update([MachineWindow(1, 60_000_000, 2, 0.5, 0.25, 0.25, 0.125)], {"SUBMIT": 3})
        assert sink.push()
        sink.update([MachineWindow(2, 120_000_000, 1, 0.0, 0.0, None, None)], None)
        # An older window of machine 1 arriving late does not replace its newer one.
        sink.update([MachineWindow(1, 0, 9, 9.0, 9.0, 1.0, 1.0)], None)
        assert sink.push()
        samples = _pushgateway_samples(pushgateway_url, push_job)
        assert samples["total_cpu_usage"] == {"1": 0.5, "2": 0.0}
        assert samples["avg_cpu_request"] == {"1": 0.25}
        assert samples["job_events_last_window"] == {"SUBMIT": 3.0}

        # A new sink (a restarted job) keeps what is already there, and its newer windows win.
        again = PushgatewaySink(pushgateway_url, job=push_job)
        again.update(
            [
                MachineWindow(3, 180_000_000, 1, 0.1, 0.2, 0.1, 0.2),
                MachineWindow(2, 240_000_000, 1, 0.7, 0.7, 0.7, 0.7),
            ],
            None,
        )
        # A window older than the one pushed earlier does not replace it.
        again.update([MachineWindow(1, 0, 1, 0.9, 0.9, 0.9, 0.9)], None)
        assert again.push()
        samples = _pushgateway_samples(pushgateway_url, push_job)
        assert samples["total_cpu_usage"] == {"1": 0.5, "2": 0.7, "3": 0.1}
        assert samples["avg_cpu_request"] == {"1": 0.25, "2": 0.7, "3": 0.1}
        assert samples["machine_window_end_trace_seconds"] == {"1": 60.0, "2": 240.0, "3": 180.0}
    finally:
        _delete_push_job(pushgateway_url, push_job)
