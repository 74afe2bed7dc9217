"""Fixtures of the Spark job's tests: a real Kafka broker, local Spark (local[2]), the Kafka source
jars (spark/fetch-jars.sh), the bundled trace sample and the tracepipe binary.

`make test` provides all of them (the local stack, the venv, the jars, the release build); a
missing one fails the test with what to run instead of skipping it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from needs import module

SPARK_DIR = Path(__file__).resolve().parents[1]
REPO = SPARK_DIR.parent
for p in (SPARK_DIR, SPARK_DIR / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


def reachable(hostport: str, timeout: float = 2.0) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    first = bootstrap.split(",")[0]
    if not reachable(first):
        pytest.fail(
            f"no Kafka broker at {bootstrap}: start it with `make up` (or set KAFKA_BOOTSTRAP)", pytrace=False
        )
    module("confluent_kafka")
    return bootstrap


@pytest.fixture(scope="session")
def pushgateway_url() -> str:
    """The Pushgateway of the local stack."""
    url = os.environ.get("PUSHGATEWAY_URL", "http://127.0.0.1:9091")
    parsed = urllib.parse.urlparse(url if "://" in url else f"http://{url}")
    hostport = f"{parsed.hostname}:{parsed.port or 80}"
    if not reachable(hostport):
        pytest.fail(
            f"no Pushgateway at {url}: start it with `make up` (or set PUSHGATEWAY_URL)", pytrace=False
        )
    return url


@pytest.fixture(scope="session")
def spark_jars_dir() -> Path:
    """Runs spark/fetch-jars.sh (idempotent: `make test` has run it already) and returns the jar
    directory."""
    cache = Path(os.environ.get("TRACEPIPE_CACHE_DIR", REPO / ".cache"))
    if shutil.which("mvn") is None and not any((cache / "spark-jars").glob("*.jar")):
        pytest.fail(
            "the Spark job's Kafka jars are missing and Maven (mvn) is not installed to fetch them: "
            "apt-get install maven, then `bash spark/fetch-jars.sh` (or `make test`)",
            pytrace=False,
        )
    out = subprocess.run(
        ["bash", str(SPARK_DIR / "fetch-jars.sh")],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        pytest.fail(f"spark/fetch-jars.sh failed (exit {out.returncode}):\n{out.stderr}", pytrace=False)
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def spark(spark_jars_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    module("pyspark")
    from tracepipe_spark import job

    cfg = job.parse_args(["--jars-dir", str(spark_jars_dir), "--no-pushgateway"])
    session = job.build_session(cfg)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_dirs() -> tuple[Path, Path]:
    """(job_events, task_events) folders of the bundled sample: parts 00000-00001 of the trace."""
    bundled = REPO / "sample"
    if not ((bundled / "job_events").is_dir() and (bundled / "task_events").is_dir()):
        pytest.fail(
            f"{bundled} (part of the repository) is incomplete: git checkout -- sample", pytrace=False
        )
    return bundled / "job_events", bundled / "task_events"


@pytest.fixture(scope="session")
def tracepipe_bin() -> Path:
    """target/release/tracepipe (`make test` builds it with `cargo test --release` first)."""
    binary = REPO / "target" / "release" / "tracepipe"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build --release` (or `make test`)", pytrace=False)
    return binary
