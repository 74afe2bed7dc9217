"""Pushgateway sink: the latest closed window of every machine, pushed as one request per batch.

Why the whole picture is pushed each time: the Pushgateway groups metrics by grouping key (here
just ``job``). ``PUT`` replaces the whole group; ``POST`` (``pushadd_to_gateway``) replaces every
metric *family* named in the body, i.e. all series of ``total_cpu_usage`` at once, not only the
machines present in the body. Pushing only the machines of one micro-batch therefore erases all the
others either way (the first implementation did, so its dashboard lost every machine that had no
event in the last batch: docs/original-implementation.md). One group per machine would avoid that
but costs one HTTP request per machine (thousands per batch). So the sink keeps the latest values
of every machine in the driver (a few numbers per machine: about 12,500 machines in the trace),
seeds them from the Pushgateway at start (so a restarted job does not erase what an earlier run
pushed), merges each batch into them and POSTs the complete set in one request.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, pushadd_to_gateway
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

LOG = logging.getLogger(__name__)

DEFAULT_JOB = "spark_job_metrics"

# Metric names: the first two are the original dashboard's.
CPU_SUM = "total_cpu_usage"
MEM_SUM = "total_memory_usage"
CPU_AVG = "avg_cpu_request"
MEM_AVG = "avg_memory_request"
TASK_EVENTS = "machine_task_events"
WINDOW_END = "machine_window_end_trace_seconds"
JOB_EVENTS = "job_events_last_window"
LAST_WINDOW_END = "spark_last_window_end_trace_seconds"

_MACHINE_HELP: dict[str, str] = {
    CPU_SUM: "Sum of CPU requests of the task events of the machine's latest closed 1-minute window",
    MEM_SUM: "Sum of memory requests of the task events of the machine's latest closed 1-minute window",
    CPU_AVG: "Average non-empty CPU request of the machine's latest closed 1-minute window",
    MEM_AVG: "Average non-empty memory request of the machine's latest closed 1-minute window",
    TASK_EVENTS: "Task events of the machine's latest closed 1-minute window",
    WINDOW_END: "Trace time (seconds) at which the machine's latest closed window ends",
}


@dataclass(frozen=True)
class MachineWindow:
    """Figures of one machine's 1-minute window."""

    machine_id: int
    window_end_us: int
    task_events: int
    cpu_request_sum: float
    memory_request_sum: float
    cpu_request_avg: float | None
    memory_request_avg: float | None

    def gauges(self) -> dict[str, float]:
        values: dict[str, float] = {
            CPU_SUM: self.cpu_request_sum,
            MEM_SUM: self.memory_request_sum,
            TASK_EVENTS: float(self.task_events),
            WINDOW_END: self.window_end_us / 1e6,
        }
        # No non-empty request in the window: the average is undefined, leave the series out
        # rather than keep a stale value from an older window.
        if self.cpu_request_avg is not None:
            values[CPU_AVG] = self.cpu_request_avg
        if self.memory_request_avg is not None:
            values[MEM_AVG] = self.memory_request_avg
        return values


class _Snapshot(Collector):
    def __init__(self, sink: PushgatewaySink) -> None:
        self._sink = sink

    def collect(self) -> Iterable[Metric]:
        return self._sink.families()


class PushgatewaySink:
    """Keeps the latest window per machine and pushes all of them with one POST per batch."""

    def __init__(
        self,
        url: str,
        job: str = DEFAULT_JOB,
        timeout: float = 30.0,
        retries: int = 3,
    ) -> None:
        self.url = url.rstrip("/")
        self.job = job
        self.timeout = timeout
        self.retries = retries
        self.machines: dict[int, dict[str, float]] = {}
        self.machine_window_end: dict[int, int] = {}
        self.job_events: dict[str, float] = {}
        self.last_window_end_us: int | None = None
        self.pushes = 0
        self.failures = 0
        self._seeded = False
        self._fresh: set[int] = set()

    # -- state ---------------------------------------------------------------------------------

    def seed(self) -> None:
        """Loads what an earlier run pushed for this job, so that the first push keeps it.

        Reads the Pushgateway's JSON API (only this job's group is decoded; the text exposition
        of a busy Pushgateway is tens of MB), or the text exposition if the API is missing.
        """
        self._seeded = True
        try:
            with urllib.request.urlopen(f"{self._base()}/api/v1/metrics", timeout=self.timeout) as resp:
                body = json.load(resp)
            n = self.load_api(body)
        except (OSError, ValueError) as exc:
            LOG.info("pushgateway %s: no JSON API (%s), reading /metrics", self.url, exc)
            try:
                with urllib.request.urlopen(f"{self._base()}/metrics", timeout=self.timeout) as resp:
                    n = self.load_exposition(resp.read().decode("utf-8"))
            except OSError as exc2:
                LOG.warning("pushgateway %s: cannot read existing metrics (%s)", self.url, exc2)
                return
        if n:
            LOG.info("pushgateway: %d machines pushed earlier for job %s are kept", n, self.job)

    def _remember(self, name: str, machine: str, value: float) -> None:
        try:
            mid = int(machine)
        except ValueError:
            return
        if mid in self._fresh:
            return  # already updated by this run: newer than anything pushed before
        self.machines.setdefault(mid, {})[name] = value
        if name == WINDOW_END:
            self.machine_window_end[mid] = round(value * 1e6)

    def load_api(self, body: Any) -> int:
        """Reads our job's machine gauges from ``GET /api/v1/metrics``; returns machines seen."""
        for group in body.get("data") or []:
            if (group.get("labels") or {}).get("job") != self.job or set(group["labels"]) != {"job"}:
                continue
            for name in _MACHINE_HELP:
                for m in (group.get(name) or {}).get("metrics") or []:
                    machine = (m.get("labels") or {}).get("machine_id")
                    if machine is not None:
                        self._remember(name, machine, float(m["value"]))
        return len(self.machines)

    def load_exposition(self, text: str) -> int:
        """Reads our job's machine gauges from a Prometheus text exposition; returns machines seen."""
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("job") != self.job:
                    continue
                if sample.name in _MACHINE_HELP and "machine_id" in sample.labels:
                    self._remember(sample.name, sample.labels["machine_id"], float(sample.value))
        return len(self.machines)

    def update(self, windows: Iterable[MachineWindow], job_counts: Mapping[str, int] | None) -> int:
        """Merges closed windows (any order); a machine keeps its latest window. Returns rows used.

        The first call seeds the state from the Pushgateway first, so that what an earlier run
        pushed is kept but never overrides a newer window.
        """
        if not self._seeded:
            self.seed()
        n = 0
        for w in windows:
            n += 1
            if self.machine_window_end.get(w.machine_id, -1) > w.window_end_us:
                continue
            self.machine_window_end[w.machine_id] = w.window_end_us
            self.machines[w.machine_id] = w.gauges()
            self._fresh.add(w.machine_id)
            if self.last_window_end_us is None or w.window_end_us > self.last_window_end_us:
                self.last_window_end_us = w.window_end_us
        if job_counts is not None:
            self.job_events = {k: float(v) for k, v in job_counts.items()}
        return n

    def families(self) -> Iterator[Metric]:
        by_name: dict[str, GaugeMetricFamily] = {
            name: GaugeMetricFamily(name, help_text, labels=["machine_id"])
            for name, help_text in _MACHINE_HELP.items()
        }
        for mid in sorted(self.machines):
            label = [str(mid)]
            for name, value in self.machines[mid].items():
                family = by_name.get(name)
                if family is not None:
                    family.add_metric(label, value)
        yield from by_name.values()
        jobs = GaugeMetricFamily(
            JOB_EVENTS,
            "Job events of the latest closed 1-minute window that had job events, by event type",
            labels=["event_type"],
        )
        for event_type, count in sorted(self.job_events.items()):
            jobs.add_metric([event_type], count)
        yield jobs
        if self.last_window_end_us is not None:
            yield GaugeMetricFamily(
                LAST_WINDOW_END,
                "Trace time (seconds) at which the latest closed window ends",
                value=self.last_window_end_us / 1e6,
            )

    # -- pushing -------------------------------------------------------------------------------

    def _base(self) -> str:
        return self.url if "://" in self.url else f"http://{self.url}"

    def push(self) -> bool:
        """POSTs every machine's latest window in one request. Returns False after failed retries."""
        if not self._seeded:
            self.seed()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshot(self))
        delay = 0.5
        for attempt in range(1, self.retries + 1):
            try:
                pushadd_to_gateway(self._base(), job=self.job, registry=registry, timeout=self.timeout)
                self.pushes += 1
                return True
            except OSError as exc:
                LOG.warning("pushgateway push %d/%d failed: %s", attempt, self.retries, exc)
                if attempt < self.retries:
                    time.sleep(delay)
                    delay *= 2
        self.failures += 1
        return False
