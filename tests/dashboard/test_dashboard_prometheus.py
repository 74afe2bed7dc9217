"""Every PromQL expression of the Grafana dashboard returns data from a real Prometheus.

The real pipeline feeds it: ``tracepipe replay`` and ``tracepipe aggregate`` (from Kafka) run
on the bundled sample, machines included (the utilisation panels need machine_events); Prometheus scrapes the aggregator's ``/metrics`` (job
tracepipe-aggregate) and the Pushgateway (honor_labels). The Spark panels' metrics come from the
Spark job's own Pushgateway sink (``tracepipe_spark.pushgateway``), fed with the windows that
tracepipe computed (the Spark test proves both agree). Run after the other tests
(scripts/test.sh), with the local stack up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "deploy"))
sys.path.insert(0, str(REPO / "spark"))

from dashboard import dashboard_exprs  # noqa: E402

BIN = REPO / "target" / "release" / "tracepipe"
PROM = os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090")
PGW = os.environ.get("PUSHGATEWAY_URL", "http://127.0.0.1:9091")
BOOT = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
AGG_PORT = os.environ.get("AGGREGATE_METRICS_PORT", "9464")


def query(expr: str) -> list[dict]:
    url = f"{PROM}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for(expr: str, deadline: float) -> list[dict]:
    while True:
        try:
            result = query(expr)
        except (TimeoutError, urllib.error.URLError) as e:
            # A query over thousands of machine series can take seconds on a busy machine:
            # ask again until the deadline, then fail with the cause.
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr}: Prometheus did not answer: {e}") from e
            continue
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)  # polling Prometheus (scrape interval 5 s), bounded by the deadline


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    if not BIN.exists():
        pytest.fail(f"{BIN} missing: run cargo build --release")
    tmp = tmp_path_factory.mktemp("dash")
    jt, tt = f"dash-jobs-{uuid.uuid4().hex[:8]}", f"dash-tasks-{uuid.uuid4().hex[:8]}"
    mt = f"dash-machines-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KAFKA_BOOTSTRAP": BOOT}
    topics = ["--job-topic", jt, "--task-topic", tt, "--machine-topic", mt]
    sample = [
        "--jobs", str(REPO / "sample/job_events"),
        "--tasks", str(REPO / "sample/task_events"),
        "--machines", str(REPO / "sample/machine_events"),
    ]
    # The windows' line count, from the files, tells when the aggregator has finished.
    from_files = tmp / "from-files.jsonl"
    subprocess.run(
        [str(BIN), "aggregate", "--from-files", *sample, "--no-metrics", "--out", str(from_files)],
        check=True,
        env=env,
    )
    expected_lines = sum(1 for _ in from_files.open())
    subprocess.run(
        [str(BIN), "replay", *sample, *topics, "--progress", "quiet", "--pushgateway", PGW],
        check=True,
        env=env,
    )
    out = tmp / "windows.jsonl"
    agg = subprocess.Popen(
        [
            str(BIN), "aggregate", *topics, "--out", str(out), "--pushgateway", PGW,
            "--metrics-addr", f"127.0.0.1:{AGG_PORT}", "--hold", "120s",
        ],
        env=env,
    )
    # The aggregator finishes the stream, then keeps serving /metrics for scraping.
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 0 and agg.poll() is None):
        assert agg.poll() is None, "aggregate exited early"
        assert time.monotonic() < deadline, "aggregate produced nothing"
        time.sleep(0.2)
    # Spark's sink, fed with tracepipe's machine windows, pushes the original metric names.
    from tracepipe_spark.pushgateway import MachineWindow, PushgatewaySink

    # wait until the aggregator's output is complete (the summary line is printed at the end)
    while sum(1 for _ in out.open()) < expected_lines:
        assert time.monotonic() < deadline, "aggregate did not finish"
        time.sleep(0.2)
    windows = []
    for line in out.open():
        v = json.loads(line)
        if v["kind"] == "machine":
            windows.append(
                MachineWindow(
                    machine_id=v["machine_id"],
                    window_end_us=v["window_end"],
                    task_events=v["task_events"],
                    cpu_request_sum=v["cpu_request_sum"],
                    memory_request_sum=v["memory_request_sum"],
                    cpu_request_avg=v["cpu_request_avg"],
                    memory_request_avg=v["memory_request_avg"],
                )
            )
    sink = PushgatewaySink(PGW)
    sink.update(windows, None)
    assert sink.push()
    yield
    agg.terminate()
    agg.wait(timeout=30)


def test_prometheus_scrapes_the_aggregator(pipeline) -> None:
    deadline = time.monotonic() + 60
    up = wait_for('up{job="tracepipe-aggregate"} == 1', deadline)
    assert up, "Prometheus does not scrape the aggregator"
    events = wait_for('tracepipe_aggregate_events_total{job="tracepipe-aggregate"} > 0', deadline)
    assert events, "no aggregator events scraped"


@pytest.mark.parametrize(
    "expr",
    sorted(set(dashboard_exprs(str(REPO / "deploy/grafana/dashboards/tracepipe.json")))),
)
def test_dashboard_expression_returns_series(pipeline, expr: str) -> None:
    result = wait_for(expr, time.monotonic() + 60)
    assert result, f"no series for {expr}"
