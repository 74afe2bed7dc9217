"""Test aids, independent of the job's code: read trace parts, write them to Kafka in the replayer's
exact wire format (a stand-in for `tracepipe replay`), and compute the expected windows in pure Python.

Wire format (the contract): topics job-events/task-events; key = job ID in decimal; value = JSON
with the trace's fields (integers, floats, null, true/false); headers ``seq`` and ``time``. Marks:
null key, header ``tracepipe-mark`` = ``watermark``/``end``, value
``{"tracepipe_mark":KIND,"time":T,"next_seq":N}`` with T the time of the last event sent before it.
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WINDOW_US = 60_000_000
AFTER_END = (1 << 63) - 1
EVENT_NAMES = [
    "SUBMIT",
    "SCHEDULE",
    "EVICT",
    "FAIL",
    "FINISH",
    "KILL",
    "LOST",
    "UPDATE_PENDING",
    "UPDATE_RUNNING",
]

JOB_FIELDS = [
    ("time", int),
    ("missing_info", int),
    ("job_id", int),
    ("event_type", int),
    ("user", str),
    ("scheduling_class", int),
    ("job_name", str),
    ("logical_job_name", str),
]
TASK_FIELDS = [
    ("time", int),
    ("missing_info", int),
    ("job_id", int),
    ("task_index", int),
    ("machine_id", int),
    ("event_type", int),
    ("user", str),
    ("scheduling_class", int),
    ("priority", int),
    ("cpu_request", float),
    ("memory_request", float),
    ("disk_space_request", float),
    ("different_machines_restriction", bool),
]


@dataclass(frozen=True)
class Event:
    table: str  # "job" or "task"
    value: dict[str, Any]

    @property
    def time(self) -> int:
        return int(self.value["time"])


def _convert(text: str, kind: type) -> Any:
    if text == "":
        return None
    if kind is bool:
        return text == "1"
    return kind(text)


def _part_number(path: Path) -> int:
    m = re.match(r"part-(\d+)-of-\d+\.csv\.gz$", path.name)
    return int(m.group(1)) if m else -1


def read_table(directory: Path, table: str, parts: Iterable[int] | None = None) -> Iterator[Event]:
    fields = JOB_FIELDS if table == "job" else TASK_FIELDS
    wanted = set(parts) if parts is not None else None
    files = sorted(
        (p for p in directory.glob("part-*-of-*.csv.gz") if _part_number(p) >= 0),
        key=_part_number,
    )
    for path in files:
        if wanted is not None and _part_number(path) not in wanted:
            continue
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            for line in fh:
                cols = line.rstrip("\r\n").split(",")
                if len(cols) != len(fields):
                    raise ValueError(f"{path}: {len(cols)} fields in {line!r}")
                yield Event(table, {n: _convert(c, k) for (n, k), c in zip(fields, cols, strict=True)})


def merge(jobs: Iterable[Event], tasks: Iterable[Event]) -> Iterator[Event]:
    """Stable merge by time (both inputs are sorted); jobs first on equal times."""
    return heapq.merge(jobs, tasks, key=lambda e: (e.time, 0 if e.table == "job" else 1))


# -- expected windows ----------------------------------------------------------------------------


@dataclass
class MachineAcc:
    task_events: int = 0
    cpu_sum: float = 0.0
    mem_sum: float = 0.0
    cpu_n: int = 0
    mem_n: int = 0


@dataclass
class Expected:
    machines: dict[tuple[int, int], MachineAcc] = field(default_factory=dict)
    jobs: dict[int, dict[str, int]] = field(default_factory=dict)
    excluded: int = 0

    def machine_rows(self) -> dict[tuple[int, int], dict[str, Any]]:
        out = {}
        for (ws, mid), a in self.machines.items():
            out[(ws, mid)] = {
                "window_start": ws,
                "window_end": ws + WINDOW_US,
                "machine_id": mid,
                "task_events": a.task_events,
                "cpu_request_sum": a.cpu_sum,
                "memory_request_sum": a.mem_sum,
                "cpu_request_avg": a.cpu_sum / a.cpu_n if a.cpu_n else None,
                "memory_request_avg": a.mem_sum / a.mem_n if a.mem_n else None,
            }
        return out


def expected_windows(events: Iterable[Event]) -> Expected:
    exp = Expected()
    machines: defaultdict[tuple[int, int], MachineAcc] = defaultdict(MachineAcc)
    jobs: defaultdict[int, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in events:
        t = e.time
        if t >= AFTER_END:
            exp.excluded += 1
            continue
        ws = (t // WINDOW_US) * WINDOW_US
        v = e.value
        if e.table == "job":
            jobs[ws][EVENT_NAMES[v["event_type"]]] += 1
            continue
        mid = v["machine_id"]
        if mid is None:
            continue
        a = machines[(ws, mid)]
        a.task_events += 1
        if v["cpu_request"] is not None:
            a.cpu_sum += v["cpu_request"]
            a.cpu_n += 1
        if v["memory_request"] is not None:
            a.mem_sum += v["memory_request"]
            a.mem_n += 1
    exp.machines = dict(machines)
    exp.jobs = {ws: dict(c) for ws, c in jobs.items()}
    return exp


# -- comparison ------------------------------------------------------------------------------------


def close(a: float | None, b: float | None, rel: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-12)


def compare_machine_rows(
    got: dict[tuple[int, int], dict[str, Any]],
    want: dict[tuple[int, int], dict[str, Any]],
    fields: tuple[str, ...] = (
        "window_end",
        "task_events",
        "cpu_request_sum",
        "memory_request_sum",
        "cpu_request_avg",
        "memory_request_avg",
    ),
) -> list[str]:
    """Differences between two {(window_start, machine_id): row} maps (empty when equal)."""
    problems: list[str] = []
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing:
        problems.append(f"{len(missing)} windows missing, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} unexpected windows, e.g. {extra[:5]}")
    for key in sorted(set(got) & set(want)):
        for f in fields:
            if not close(got[key].get(f), want[key].get(f)):
                problems.append(f"{key} {f}: got {got[key].get(f)!r}, want {want[key].get(f)!r}")
                if len(problems) > 20:
                    return problems
    return problems


def read_job_output(
    directory: Path,
) -> tuple[dict[tuple[int, int], dict[str, Any]], dict[int, dict[str, int]]]:
    """Reads the Spark job's output (all batch directories), JSON lines or Parquet."""
    machines: dict[tuple[int, int], dict[str, Any]] = {}
    jobs: dict[int, dict[str, int]] = {}
    for row in _output_rows(directory):
        if row["kind"] == "machine":
            key = (int(row["window_start"]), int(row["machine_id"]))
            if key in machines:
                raise AssertionError(f"window {key} emitted twice")
            machines[key] = {k: v for k, v in row.items() if k not in ("job_events", "job_events_by_type")}
        elif row["kind"] == "job_events":
            ws = int(row["window_start"])
            if ws in jobs:
                raise AssertionError(f"job window {ws} emitted twice")
            by_type = row["job_events_by_type"]
            if isinstance(by_type, list):  # a Parquet map reads back as (key, value) pairs
                by_type = dict(by_type)
            jobs[ws] = {k: int(v) for k, v in by_type.items() if v}
    return machines, jobs


def _output_rows(directory: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(directory.glob("batch-*/part-*")):
        if path.name.endswith(".parquet"):
            import pyarrow.parquet as pq

            yield from pq.read_table(path).to_pylist()
            continue
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


# -- producing in the wire format -------------------------------------------------------------------


def encode_value(e: Event) -> bytes:
    fields = JOB_FIELDS if e.table == "job" else TASK_FIELDS
    return json.dumps({n: e.value[n] for n, _ in fields}, separators=(",", ":")).encode()


def create_topics(bootstrap: str, topics: list[str], partitions: int = 12) -> None:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    for f in futures.values():
        f.result(30)


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.delete_topics(topics).values():
        with contextlib.suppress(Exception):  # best effort cleanup
            f.result(30)


def produce(
    bootstrap: str,
    job_topic: str,
    task_topic: str,
    events: Iterable[Event],
    *,
    partitions: int = 12,
    mark_every: int = 50_000,
    end: bool = True,
    first_seq: int = 0,
) -> int:
    """Writes `events` (in global time order) like `tracepipe replay`: data records, a watermark
    mark on every partition every `mark_every` events and, if `end`, end-of-stream marks after
    every data record is acknowledged. Returns the next sequence number."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",  # Java's default for keyed records
            "enable.idempotence": True,
            "linger.ms": 20,
            "queue.buffering.max.messages": 500_000,
            "compression.type": "lz4",
        }
    )

    def send(**kwargs: Any) -> None:
        while True:
            try:
                producer.produce(**kwargs)
                return
            except BufferError:
                producer.poll(0.05)

    def marks(kind: str, last_time: int, next_seq: int) -> None:
        value = json.dumps(
            {"tracepipe_mark": kind, "time": last_time, "next_seq": next_seq}, separators=(",", ":")
        )
        for topic in (job_topic, task_topic):
            for p in range(partitions):
                send(
                    topic=topic,
                    partition=p,
                    key=None,
                    value=value.encode(),
                    headers=[("tracepipe-mark", kind.encode())],
                )

    seq = first_seq
    last_time = 0
    for e in events:
        topic = job_topic if e.table == "job" else task_topic
        send(
            topic=topic,
            key=str(e.value["job_id"]).encode(),
            value=encode_value(e),
            headers=[("seq", str(seq).encode()), ("time", str(e.time).encode())],
        )
        seq += 1
        last_time = e.time
        if seq % mark_every == 0:
            marks("watermark", last_time, seq)
        if seq % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    if remaining:
        raise RuntimeError(f"{remaining} records not delivered")
    if end:
        marks("end", last_time, seq)
        if producer.flush(60):
            raise RuntimeError("end marks not delivered")
    return seq
