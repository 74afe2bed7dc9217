"""Fixtures of the Spark job's tests: a real Kafka broker, local Spark (local[2]), the Kafka source
jars (spark/fetch-jars.sh), the bundled trace sample and the tracepipe binary."""

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
        pytest.skip(f"no Kafka broker at {bootstrap} (start it with `make up`, or set KAFKA_BOOTSTRAP)")
    pytest.importorskip("confluent_kafka", reason="pip install -r spark/requirements-dev.txt")
    return bootstrap


@pytest.fixture(scope="session")
def pushgateway_url() -> str | None:
    """The Pushgateway of the local stack, or None when it is not running."""
    url = os.environ.get("PUSHGATEWAY_URL", "http://127.0.0.1:9091")
    parsed = urllib.parse.urlparse(url if "://" in url else f"http://{url}")
    hostport = f"{parsed.hostname}:{parsed.port or 80}"
    return url if reachable(hostport) else None


@pytest.fixture(scope="session")
def spark_jars_dir() -> Path:
    """Runs spark/fetch-jars.sh (idempotent) and returns the jar directory."""
    if shutil.which("mvn") is None and not any(
        (Path(os.environ.get("TRACEPIPE_CACHE_DIR", REPO / ".cache")) / "spark-jars").glob("*.jar")
    ):
        pytest.skip("Maven (mvn) is needed to fetch the Kafka source jars (apt-get install maven)")
    out = subprocess.run(
        ["bash", str(SPARK_DIR / "fetch-jars.sh")],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def spark(spark_jars_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pip install -r spark/requirements.txt")
    from tracepipe_spark import job

    cfg = job.parse_args(["--jars-dir", str(spark_jars_dir), "--no-pushgateway"])
    session = job.build_session(cfg)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(job_events, task_events) folders with parts 00000-00001 of the trace."""
    bundled = REPO / "sample"
    if (bundled / "job_events").is_dir() and (bundled / "task_events").is_dir():
        return bundled / "job_events", bundled / "task_events"
    candidates = [
        Path(os.environ["TRACEPIPE_TRACES"]) if "TRACEPIPE_TRACES" in os.environ else None,
        REPO.parent / "shared" / "traces" / "clusterdata-2011-2",
        Path("/work/shared/traces/clusterdata-2011-2"),
    ]
    for src in candidates:
        if src is None or not (src / "task_events").is_dir():
            continue
        dst = tmp_path_factory.mktemp("sample")
        for table in ("job_events", "task_events"):
            (dst / table).mkdir()
            for part in ("00000", "00001"):
                shutil.copy(src / table / f"part-{part}-of-00500.csv.gz", dst / table)
        return dst / "job_events", dst / "task_events"
    pytest.skip("no trace sample (sample/ or shared/traces/clusterdata-2011-2)")


@pytest.fixture(scope="session")
def tracepipe_bin() -> Path | None:
    """target/release/tracepipe, built with cargo if missing and cargo is there; None if absent."""
    binary = REPO / "target" / "release" / "tracepipe"
    if not binary.exists() and shutil.which("cargo") and (REPO / "Cargo.toml").exists():
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=False, timeout=1200)
    return binary if binary.exists() else None
