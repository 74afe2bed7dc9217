"""Spark Structured Streaming job: per-machine 1-minute windows of the replayed cluster trace.

Reads the ``task-events`` and ``job-events`` topics written by ``tracepipe replay`` (one Kafka
source subscribed to both), drops the replayer's mark records from the aggregates, parses the full
schemas with 64-bit IDs, and aggregates on trace time (microseconds, window index
``floor(time / 60_000_000)``) with a watermark:

* per machine (task events with a machine ID): ``task_events``, ``cpu_request_sum``,
  ``memory_request_sum`` (sums over non-empty requests, 0.0 when none), ``cpu_request_avg``,
  ``memory_request_avg`` (null when no non-empty request);
* per window and job event type: job event counts.

Final windows only (output mode append) go to a Pushgateway (``total_cpu_usage``,
``total_memory_usage``, ``avg_cpu_request``, ``avg_memory_request`` per ``machine_id``, job
``spark_job_metrics``) and, optionally, to JSON-lines files. See spark/README.md.

Run: ``python -m tracepipe_spark.job -KAFKA_BROKER 127.0.0.1:9092 -PUSHGATEWAY_URL http://127.0.0.1:9091``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery
from pyspark.sql.types import StructType

from tracepipe_spark.pushgateway import DEFAULT_JOB, MachineWindow, PushgatewaySink
from tracepipe_spark.schema import (
    AFTER_END_US,
    AGGREGATE_SCHEMA,
    DEFAULT_JOB_TOPIC,
    DEFAULT_TASK_TOPIC,
    EVENT_TYPES,
    JOB_SCHEMA,
    MARK_TIME_CAP_US,
    TASK_SCHEMA,
    WINDOW_US,
)

LOG = logging.getLogger("tracepipe_spark")

REPO_ROOT = Path(__file__).resolve().parents[2]
ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"

#: Name of the observed metrics (see StreamingQueryProgress.observedMetrics).
INPUT_METRICS = "tracepipe_input"

#: Columns of the aggregated stream, in order.
MACHINE_FIELDS = (
    "window_start",
    "window_end",
    "machine_id",
    "task_events",
    "cpu_request_sum",
    "memory_request_sum",
    "cpu_request_avg",
    "memory_request_avg",
)


def cache_dir() -> Path:
    """The git-ignored cache of the repository (TRACEPIPE_CACHE_DIR overrides ``<repo>/.cache``)."""
    env = os.environ.get("TRACEPIPE_CACHE_DIR")
    return Path(env) if env else REPO_ROOT / ".cache"


_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)?\s*$"
)
_UNIT_US = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "sec": 1_000_000,
    "secs": 1_000_000,
    "second": 1_000_000,
    "seconds": 1_000_000,
    "m": 60_000_000,
    "min": 60_000_000,
    "mins": 60_000_000,
    "minute": 60_000_000,
    "minutes": 60_000_000,
    "h": 3_600_000_000,
    "hour": 3_600_000_000,
    "hours": 3_600_000_000,
    "d": 86_400_000_000,
    "day": 86_400_000_000,
    "days": 86_400_000_000,
}


def parse_duration_us(text: str) -> int:
    """``"600"`` (seconds), ``"90s"``, ``"10 minutes"``, ``"1h"`` ... -> microseconds."""
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 600, 90s, 10m, 1h)")
    return round(float(m.group(1)) * _UNIT_US[m.group(2) or "s"])


@dataclass
class Config:
    kafka_broker: str = "127.0.0.1:9092"
    pushgateway_url: str | None = "http://127.0.0.1:9091"
    pushgateway_job: str = DEFAULT_JOB
    job_topic: str = DEFAULT_JOB_TOPIC
    task_topic: str = DEFAULT_TASK_TOPIC
    checkpoint: str = ""
    starting_offsets: str = "earliest"
    trigger_seconds: float = 10.0
    available_now: bool = False
    output: str | None = None
    output_format: str = "json"
    watermark_delay_us: int = 10 * 60_000_000
    max_offsets_per_trigger: int | None = None
    group_id_prefix: str = "tracepipe-spark"
    fail_on_data_loss: bool = True
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_truststore: str | None = None
    kafka_ssl_truststore_type: str | None = None
    kafka_ssl_truststore_password: str | None = None
    kafka_options: dict[str, str] = field(default_factory=dict)
    master: str | None = None
    shuffle_partitions: int = 4
    driver_memory: str = "2g"
    jars_dir: str | None = None
    rocksdb: bool = False
    spark_ui: bool = False
    query_name: str = "tracepipe_windows"
    progress_log: str | None = None
    log_level: str = "INFO"

    @property
    def watermark_delay(self) -> str:
        """The delay as a Spark interval string."""
        return f"{self.watermark_delay_us // 1000} milliseconds"


def parse_args(argv: Sequence[str] | None = None) -> Config:
    env = os.environ
    p = argparse.ArgumentParser(
        prog="python -m tracepipe_spark.job",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # The first implementation's flags (single dash, also accepted as -KAFKA_BROKER=host:port).
    p.add_argument(
        "-KAFKA_BROKER",
        "--kafka-broker",
        dest="kafka_broker",
        default=env.get("KAFKA_BROKER", env.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")),
        help="Kafka bootstrap servers (env KAFKA_BROKER or KAFKA_BOOTSTRAP)",
    )
    p.add_argument(
        "-PUSHGATEWAY_URL",
        "--pushgateway-url",
        dest="pushgateway_url",
        default=env.get("PUSHGATEWAY_URL", "http://127.0.0.1:9091"),
        help="Pushgateway base URL (env PUSHGATEWAY_URL)",
    )
    p.add_argument("--no-pushgateway", action="store_true", help="do not push metrics")
    p.add_argument("--pushgateway-job", default=DEFAULT_JOB, help="Pushgateway job label")
    p.add_argument("--job-topic", default=DEFAULT_JOB_TOPIC)
    p.add_argument("--task-topic", default=DEFAULT_TASK_TOPIC)
    p.add_argument(
        "--checkpoint",
        default=str(cache_dir() / "spark" / "checkpoint"),
        help="checkpoint directory (offsets and window state); one per query",
    )
    p.add_argument(
        "--starting-offsets",
        choices=["earliest", "latest"],
        default="earliest",
        help="where a query without checkpoint starts",
    )
    p.add_argument("--trigger-seconds", type=float, default=10.0, help="micro-batch interval")
    p.add_argument(
        "--available-now",
        action="store_true",
        help="process what the topics hold now (Trigger.AvailableNow), then stop",
    )
    p.add_argument("--output", help="directory for the windows (one directory per batch)")
    p.add_argument(
        "--output-format",
        choices=("json", "parquet"),
        default="json",
        help="JSON lines, or Parquet (zstd) with the same columns and a kind column",
    )
    p.add_argument(
        "--watermark-delay",
        type=parse_duration_us,
        default=parse_duration_us("10m"),
        metavar="DURATION",
        help="trace-time delay of the watermark behind the latest event (600, 90s, 10m, 1h)",
    )
    p.add_argument(
        "--max-offsets-per-trigger",
        type=int,
        help="cap records per micro-batch (with a backlog this creates skew between partitions: "
        "keep the watermark delay above it)",
    )
    p.add_argument(
        "--group-id-prefix",
        default="tracepipe-spark",
        help="prefix of the consumer group IDs Spark generates (Kafka ACLs may be scoped to it)",
    )
    p.add_argument(
        "--no-fail-on-data-loss",
        action="store_true",
        help="keep going when offsets were deleted by retention",
    )
    sec = p.add_argument_group("Kafka security")
    sec.add_argument(
        "--kafka-security-protocol",
        choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        default=env.get("KAFKA_SECURITY_PROTOCOL"),
    )
    sec.add_argument(
        "--kafka-sasl-mechanism",
        choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
        default=env.get("KAFKA_SASL_MECHANISM"),
    )
    sec.add_argument("--kafka-sasl-username", default=env.get("KAFKA_SASL_USERNAME"))
    sec.add_argument(
        "--kafka-sasl-password",
        help="visible in process lists: prefer env KAFKA_SASL_PASSWORD or --kafka-sasl-password-file",
    )
    sec.add_argument("--kafka-sasl-password-file", help="file holding the SASL password")
    sec.add_argument(
        "--kafka-ssl-truststore",
        default=env.get("KAFKA_SSL_TRUSTSTORE"),
        help="CA certificate(s): PEM file (e.g. Strimzi's ca.crt), or PKCS12/JKS store",
    )
    sec.add_argument(
        "--kafka-ssl-truststore-type",
        choices=["PEM", "PKCS12", "JKS"],
        help="default: from the file name (.p12/.pfx PKCS12, .jks JKS, else PEM)",
    )
    sec.add_argument(
        "--kafka-ssl-truststore-password", help="PKCS12/JKS only; prefer env KAFKA_SSL_TRUSTSTORE_PASSWORD"
    )
    sec.add_argument(
        "--kafka-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Kafka consumer property (without the kafka. prefix); repeatable",
    )
    sp = p.add_argument_group("Spark")
    sp.add_argument(
        "--master",
        default=env.get("SPARK_MASTER"),
        help="Spark master; default local[2] (under spark-submit: the submit's master)",
    )
    sp.add_argument("--shuffle-partitions", type=int, default=4)
    sp.add_argument("--driver-memory", default="2g", help="local mode only")
    sp.add_argument(
        "--jars-dir",
        help="directory of the Kafka source jars (default: <cache>/spark-jars from "
        "spark/fetch-jars.sh; not needed when the jars are in SPARK_HOME/jars)",
    )
    sp.add_argument(
        "--state-store",
        choices=["rocksdb", "hdfs"],
        default="hdfs",
        help="state store of the window state: hdfs (in memory, checkpointed; fastest for the "
        "bounded state of 1-minute windows) or rocksdb (off-heap, for very many open windows)",
    )
    sp.add_argument("--spark-ui", action="store_true", help="enable the Spark UI (port 4040)")
    sp.add_argument("--query-name", default="tracepipe_windows")
    sp.add_argument("--progress-log", help="append each micro-batch's progress JSON to this file")
    sp.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)

    # Secrets are read from the environment here, not as argparse defaults (--help prints those).
    password = a.kafka_sasl_password or env.get("KAFKA_SASL_PASSWORD")
    if a.kafka_sasl_password_file:
        password = Path(a.kafka_sasl_password_file).read_text(encoding="utf-8").strip()
    extra: dict[str, str] = {}
    for kv in a.kafka_option:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            p.error(f"--kafka-option wants KEY=VALUE, got {kv!r}")
        extra[key.removeprefix("kafka.")] = value
    if a.trigger_seconds <= 0:
        p.error("--trigger-seconds must be positive")
    return Config(
        kafka_broker=a.kafka_broker,
        pushgateway_url=None if a.no_pushgateway else a.pushgateway_url,
        pushgateway_job=a.pushgateway_job,
        job_topic=a.job_topic,
        task_topic=a.task_topic,
        checkpoint=a.checkpoint,
        starting_offsets=a.starting_offsets,
        trigger_seconds=a.trigger_seconds,
        available_now=a.available_now,
        output=a.output,
        output_format=a.output_format,
        watermark_delay_us=a.watermark_delay,
        max_offsets_per_trigger=a.max_offsets_per_trigger,
        group_id_prefix=a.group_id_prefix,
        fail_on_data_loss=not a.no_fail_on_data_loss,
        kafka_security_protocol=a.kafka_security_protocol,
        kafka_sasl_mechanism=a.kafka_sasl_mechanism,
        kafka_sasl_username=a.kafka_sasl_username,
        kafka_sasl_password=password,
        kafka_ssl_truststore=a.kafka_ssl_truststore,
        kafka_ssl_truststore_type=a.kafka_ssl_truststore_type,
        kafka_ssl_truststore_password=(
            a.kafka_ssl_truststore_password or env.get("KAFKA_SSL_TRUSTSTORE_PASSWORD")
        ),
        kafka_options=extra,
        master=a.master,
        shuffle_partitions=a.shuffle_partitions,
        driver_memory=a.driver_memory,
        jars_dir=a.jars_dir,
        rocksdb=a.state_store == "rocksdb",
        spark_ui=a.spark_ui,
        query_name=a.query_name,
        progress_log=a.progress_log,
        log_level=a.log_level,
    )


# -- Spark session -------------------------------------------------------------------------------


def launched_by_spark_submit() -> bool:
    """True when spark-submit started this Python process (it then owns master and jars)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def kafka_jars(cfg: Config) -> list[str]:
    """The jars of spark/fetch-jars.sh, or [] when they are expected on Spark's own classpath."""
    jars_dir = Path(cfg.jars_dir) if cfg.jars_dir else cache_dir() / "spark-jars"
    jars = sorted(str(p) for p in jars_dir.glob("*.jar")) if jars_dir.is_dir() else []
    if not jars and not launched_by_spark_submit() and cfg.jars_dir is None:
        raise SystemExit(
            f"no Kafka source jars in {jars_dir}: run spark/fetch-jars.sh first (or pass --jars-dir)"
        )
    return jars


def build_session(cfg: Config) -> SparkSession:
    builder: Any = SparkSession.builder.appName("tracepipe-spark")
    if not launched_by_spark_submit():
        builder = builder.master(cfg.master or "local[2]")
        builder = builder.config("spark.driver.memory", cfg.driver_memory)
    elif cfg.master:
        builder = builder.master(cfg.master)
    jars = kafka_jars(cfg)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    conf = {
        "spark.ui.enabled": str(cfg.spark_ui).lower(),
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.streaming.numRecentProgressUpdates": "10000",
        "spark.ui.showConsoleProgress": "false",
        # Driver-side Python foreachBatch: no need for Arrow or adaptive plans on tiny batches.
        "spark.sql.adaptive.enabled": "false",
    }
    if cfg.rocksdb:
        conf["spark.sql.streaming.stateStore.providerClass"] = ROCKSDB_PROVIDER
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark: SparkSession = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


# -- Source --------------------------------------------------------------------------------------


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kafka_options(cfg: Config) -> dict[str, str]:
    """Options of Spark's Kafka source (consumer properties carry the ``kafka.`` prefix)."""
    opts = {
        "kafka.bootstrap.servers": cfg.kafka_broker,
        "subscribe": f"{cfg.task_topic},{cfg.job_topic}",
        "startingOffsets": cfg.starting_offsets,
        "failOnDataLoss": str(cfg.fail_on_data_loss).lower(),
        # Each task reads a fixed offset range, and its consumer's last fetch reaches the end of
        # the partition's data: with the default fetch.max.wait.ms (500) the broker holds that
        # fetch for half a second, which made reading 3x slower (24 tasks on 2 cores).
        "kafka.fetch.max.wait.ms": "10",
        "groupIdPrefix": cfg.group_id_prefix,
    }
    if cfg.max_offsets_per_trigger:
        opts["maxOffsetsPerTrigger"] = str(cfg.max_offsets_per_trigger)
    if cfg.kafka_security_protocol:
        opts["kafka.security.protocol"] = cfg.kafka_security_protocol
    if cfg.kafka_sasl_mechanism:
        mech = cfg.kafka_sasl_mechanism
        opts["kafka.sasl.mechanism"] = mech
        if cfg.kafka_sasl_username is None or cfg.kafka_sasl_password is None:
            raise SystemExit(
                f"SASL {mech} needs --kafka-sasl-username and a password "
                "(--kafka-sasl-password-file or env KAFKA_SASL_PASSWORD)"
            )
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if mech == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        opts["kafka.sasl.jaas.config"] = (
            f"{module} required username={_jaas_quote(cfg.kafka_sasl_username)} "
            f"password={_jaas_quote(cfg.kafka_sasl_password)};"
        )
    if cfg.kafka_ssl_truststore:
        path = cfg.kafka_ssl_truststore
        kind = cfg.kafka_ssl_truststore_type
        if kind is None:
            lower = path.lower()
            kind = (
                "PKCS12" if lower.endswith((".p12", ".pfx")) else "JKS" if lower.endswith(".jks") else "PEM"
            )
        opts["kafka.ssl.truststore.type"] = kind
        opts["kafka.ssl.truststore.location"] = path
        if cfg.kafka_ssl_truststore_password and kind != "PEM":
            opts["kafka.ssl.truststore.password"] = cfg.kafka_ssl_truststore_password
    for key, value in cfg.kafka_options.items():
        opts[f"kafka.{key}"] = value
    return opts


def read_kafka(spark: SparkSession, cfg: Config) -> DataFrame:
    """The raw stream of both topics: key, value, topic, partition, offset, timestamp..."""
    reader = spark.readStream.format("kafka")
    for key, value in kafka_options(cfg).items():
        reader = reader.option(key, value)
    return reader.load()


# -- Transformation ------------------------------------------------------------------------------


def _names_map() -> Column:
    return F.create_map(*[x for code, name in EVENT_TYPES.items() for x in (F.lit(code), F.lit(name))])


def parse_task_events(raw: DataFrame, task_topic: str = DEFAULT_TASK_TOPIC) -> DataFrame:
    """Task-event data records of a Kafka frame (batch or stream) as fully typed rows.

    Marks (null key) are dropped; 13 columns of TASK_SCHEMA (64-bit IDs, null for missing
    values, a boolean restriction flag).
    """
    return _parse_data(raw, task_topic, TASK_SCHEMA)


def parse_job_events(raw: DataFrame, job_topic: str = DEFAULT_JOB_TOPIC) -> DataFrame:
    """Job-event data records of a Kafka frame as fully typed rows (8 columns of JOB_SCHEMA)."""
    return _parse_data(raw, job_topic, JOB_SCHEMA)


def _parse_data(raw: DataFrame, topic: str, schema: StructType) -> DataFrame:
    data = raw.filter(F.col("key").isNotNull() & (F.col("topic") == F.lit(topic)))
    e = F.from_json(F.col("value").cast("string"), schema).alias("e")
    return data.select(e).select("e.*")


def event_rows(raw: DataFrame, cfg: Config) -> DataFrame:
    """Parses Kafka records into the rows that drive event time (before the watermark).

    Columns: ``kind`` (``task``, ``job`` or ``mark``), ``event_time`` (timestamp of the raw trace
    microseconds: 1970-01-01 + time, so that windows are aligned on trace time),
    ``machine_id``, ``event_type``, ``cpu_request``, ``memory_request``.

    * Data rows whose time is null (2^64-1 overflows LongType, or an unparsable value) or >= 2^63-1
      ("after the end of the trace") are dropped; they are counted in the observed metrics.
    * Mark rows (null key) are kept as rows of kind ``mark`` so that their time moves the
      watermark; they are filtered out before aggregation. A watermark mark carries the time of
      the last event sent before it. An end-of-stream mark is placed at
      ``time + watermark delay + 2 windows``: once it has been read, the watermark passes every
      window of the replay, so the last windows close (and a bounded run can finish) without
      waiting for more data. Times of marks are clamped to MARK_TIME_CAP_US first.
    """
    e = F.from_json(F.col("value").cast("string"), AGGREGATE_SCHEMA)
    parsed = raw.select(
        F.col("topic"),
        F.col("key").isNull().alias("is_mark"),
        e.alias("e"),
    )
    is_mark = F.col("is_mark")
    is_task = ~is_mark & (F.col("topic") == F.lit(cfg.task_topic))
    t = F.col("e.time")
    real = t.isNotNull() & (t >= 0) & (t < F.lit(AFTER_END_US))

    parsed = parsed.observe(
        INPUT_METRICS,
        F.count(F.lit(1)).alias("records"),
        F.count_if(is_mark).alias("marks"),
        F.count_if(is_mark & (F.col("e.tracepipe_mark") == "end")).alias("end_marks"),
        F.count_if(~is_mark & t.isNull()).alias("null_time_rows"),
        F.count_if(~is_mark & t.isNotNull() & (t >= F.lit(AFTER_END_US))).alias("after_end_rows"),
        F.count_if(is_task & real & F.col("e.machine_id").isNull()).alias("task_rows_no_machine"),
        F.count_if(is_task & real).alias("task_rows"),
        F.count_if(~is_mark & ~is_task & real).alias("job_rows"),
    )

    cap = F.lit(MARK_TIME_CAP_US)
    mark_time = F.least(F.coalesce(t, cap), cap) + F.when(
        F.col("e.tracepipe_mark") == "end", F.lit(cfg.watermark_delay_us + 2 * WINDOW_US)
    ).otherwise(F.lit(0))
    return parsed.filter(is_mark | real).select(
        F.when(is_mark, F.lit("mark")).when(is_task, F.lit("task")).otherwise(F.lit("job")).alias("kind"),
        F.timestamp_micros(F.when(is_mark, mark_time).otherwise(t)).alias("event_time"),
        F.when(is_task, F.col("e.machine_id")).alias("machine_id"),
        F.when(~is_mark & ~is_task, F.col("e.event_type")).alias("event_type"),
        F.when(is_task, F.col("e.cpu_request")).alias("cpu_request"),
        F.when(is_task, F.col("e.memory_request")).alias("memory_request"),
    )


def window_aggregates(raw: DataFrame, cfg: Config) -> DataFrame:
    """The streaming aggregation (append mode: each row is a final window).

    Columns: ``kind`` (``task``: one row per window and machine, plus one with a null machine for
    task events without one; ``job``: one row per window and job event type; ``mark``: ignore),
    ``window_start``, ``window_end`` (trace microseconds), ``machine_id``, ``event_type``,
    ``events``, request sums (0.0 when no non-empty request) and averages (null then).
    """
    rows = event_rows(raw, cfg).withWatermark("event_time", cfg.watermark_delay)
    # No filter between the watermark and the aggregation: Spark's optimizer pushes filters that
    # do not reference the event-time column below EventTimeWatermark, so a filter dropping the
    # marks here would hide them from the watermark. Marks and task events without a machine
    # form their own (few, small) groups instead, which the sinks ignore.
    kind = F.col("kind")
    w = F.window("event_time", "1 minute")
    agg = rows.groupBy(w.alias("w"), kind, "machine_id", "event_type").agg(
        F.count(F.lit(1)).alias("events"),
        F.coalesce(F.sum("cpu_request"), F.lit(0.0)).alias("cpu_request_sum"),
        F.coalesce(F.sum("memory_request"), F.lit(0.0)).alias("memory_request_sum"),
        F.avg("cpu_request").alias("cpu_request_avg"),
        F.avg("memory_request").alias("memory_request_avg"),
    )
    return agg.select(
        kind,
        F.unix_micros(F.col("w.start")).alias("window_start"),
        F.unix_micros(F.col("w.end")).alias("window_end"),
        "machine_id",
        "event_type",
        "events",
        "cpu_request_sum",
        "memory_request_sum",
        "cpu_request_avg",
        "memory_request_avg",
    )


def machine_windows(batch: DataFrame) -> DataFrame:
    """Machine rows of a batch of :func:`window_aggregates`, with the JSON sink's field names."""
    return batch.filter((F.col("kind") == "task") & F.col("machine_id").isNotNull()).select(
        "window_start",
        "window_end",
        "machine_id",
        F.col("events").alias("task_events"),
        "cpu_request_sum",
        "memory_request_sum",
        "cpu_request_avg",
        "memory_request_avg",
    )


def job_windows(batch: DataFrame) -> DataFrame:
    """Job event counts of a batch: one row per window, ``job_events_by_type`` name -> count."""
    name = F.coalesce(F.try_element_at(_names_map(), F.col("event_type")), F.col("event_type").cast("string"))
    return (
        batch.filter(F.col("kind") == "job")
        .groupBy("window_start", "window_end")
        .agg(
            F.map_from_entries(F.collect_list(F.struct(name.alias("k"), F.col("events").alias("v")))).alias(
                "job_events_by_type"
            ),
            F.sum("events").alias("job_events"),
        )
    )


# -- Sinks ---------------------------------------------------------------------------------------


@dataclass
class SinkStats:
    batches: int = 0
    machine_windows: int = 0
    job_windows: int = 0
    pushes: int = 0
    push_failures: int = 0
    last_window_end: int | None = None


class BatchSink:
    """foreachBatch function: JSON-lines files and the Pushgateway."""

    def __init__(self, cfg: Config) -> None:
        self.output = Path(cfg.output) if cfg.output else None
        self.output_format = cfg.output_format
        self.push = (
            PushgatewaySink(cfg.pushgateway_url, job=cfg.pushgateway_job) if cfg.pushgateway_url else None
        )
        self.stats = SinkStats()

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        batch = batch.persist()
        try:
            # One small job gives the row counts (and materializes the cache for the sinks).
            counts = (
                batch.filter((F.col("kind") == "job") | F.col("machine_id").isNotNull())
                .groupBy("kind")
                .agg(F.count(F.lit(1)).alias("n"), F.max("window_end").alias("end"))
                .collect()
            )
            self.stats.batches += 1
            n = sum(int(row["n"]) for row in counts)
            if n == 0:
                return
            machines = machine_windows(batch)
            jobs = job_windows(batch)
            if self.output is not None and self.output_format == "parquet":
                self._write_parquet(machines, jobs, batch_id)
            elif self.output is not None:
                self._write_json(machines, jobs, batch_id)
            if self.push is not None:
                self._push(machines, jobs)
            for row in counts:
                if row["kind"] == "task":
                    self.stats.machine_windows += int(row["n"])
                else:
                    self.stats.job_windows += int(row["n"])
                end = int(row["end"])
                if self.stats.last_window_end is None or end > self.stats.last_window_end:
                    self.stats.last_window_end = end
            LOG.info("batch %d: %d closed windows (machines and job event types)", batch_id, n)
        finally:
            batch.unpersist()

    def _write_json(self, machines: DataFrame, jobs: DataFrame, batch_id: int) -> None:
        assert self.output is not None
        opts = {"ignoreNullFields": "false"}
        m = machines.select(
            F.to_json(
                F.struct(F.lit("machine").alias("kind"), *[F.col(c) for c in MACHINE_FIELDS]), opts
            ).alias("value")
        )
        j = jobs.select(
            F.to_json(
                F.struct(
                    F.lit("job_events").alias("kind"),
                    "window_start",
                    "window_end",
                    "job_events",
                    "job_events_by_type",
                ),
                opts,
            ).alias("value")
        )
        # One directory per batch, overwritten if the batch is re-run after a failure:
        # the files hold each final window exactly once.
        m.unionByName(j).coalesce(1).write.mode("overwrite").text(str(self.output / f"batch-{batch_id:08d}"))

    def _write_parquet(self, machines: DataFrame, jobs: DataFrame, batch_id: int) -> None:
        """The rows of the JSON lines as one Parquet dataset per batch: a `kind` column, and
        the columns a kind does not have null (as `aggregate --out *.parquet` does)."""
        assert self.output is not None
        m = machines.select(F.lit("machine").alias("kind"), *[F.col(c) for c in MACHINE_FIELDS])
        j = jobs.select(
            F.lit("job_events").alias("kind"),
            "window_start",
            "window_end",
            "job_events",
            "job_events_by_type",
        )
        out = str(self.output / f"batch-{batch_id:08d}")
        (
            m.unionByName(j, allowMissingColumns=True)
            .coalesce(1)
            .write.mode("overwrite")
            .option("compression", "zstd")
            .parquet(out)
        )

    def _push(self, machines: DataFrame, jobs: DataFrame) -> None:
        assert self.push is not None
        latest = (
            machines.groupBy("machine_id")
            .agg(
                F.max_by(
                    F.struct(*[F.col(c) for c in MACHINE_FIELDS if c != "machine_id"]), "window_end"
                ).alias("r")
            )
            .select("machine_id", "r.*")
        )
        windows = [
            MachineWindow(
                machine_id=int(r["machine_id"]),
                window_end_us=int(r["window_end"]),
                task_events=int(r["task_events"]),
                cpu_request_sum=float(r["cpu_request_sum"]),
                memory_request_sum=float(r["memory_request_sum"]),
                cpu_request_avg=None if r["cpu_request_avg"] is None else float(r["cpu_request_avg"]),
                memory_request_avg=None
                if r["memory_request_avg"] is None
                else float(r["memory_request_avg"]),
            )
            for r in latest.collect()
        ]
        last_jobs = jobs.orderBy(F.col("window_end").desc()).limit(1).collect()
        job_counts = (
            {str(k): int(v) for k, v in last_jobs[0]["job_events_by_type"].items()} if last_jobs else None
        )
        self.push.update(windows, job_counts)
        ok = self.push.push()
        self.stats.pushes = self.push.pushes
        self.stats.push_failures = self.push.failures
        if ok:
            LOG.info("pushed %d machines (%d in this batch)", len(self.push.machines), len(windows))


# -- Running -------------------------------------------------------------------------------------


@dataclass
class RunResult:
    query_id: str
    progress: list[dict[str, Any]]
    sink: SinkStats
    wall_seconds: float

    @property
    def input_rows(self) -> int:
        return sum(int(p.get("numInputRows", 0)) for p in self.progress)

    @property
    def dropped_by_watermark(self) -> int:
        return sum(
            int(op.get("numRowsDroppedByWatermark", 0))
            for p in self.progress
            for op in p.get("stateOperators", [])
        )

    def observed(self) -> dict[str, int]:
        """Sums of the observed input metrics over all batches."""
        total: dict[str, int] = {}
        for p in self.progress:
            metrics = p.get("observedMetrics", {}).get(INPUT_METRICS)
            if not metrics:
                continue
            for key, value in metrics.items():
                total[key] = total.get(key, 0) + int(value or 0)
        return total

    def summary(self) -> dict[str, Any]:
        rates = sorted(
            float(p["processedRowsPerSecond"])
            for p in self.progress
            if p.get("numInputRows", 0) and p.get("processedRowsPerSecond") is not None
        )
        return {
            "query_id": self.query_id,
            "batches": len(self.progress),
            "input_rows": self.input_rows,
            "wall_seconds": round(self.wall_seconds, 3),
            "median_processed_rows_per_second": rates[len(rates) // 2] if rates else None,
            "rows_dropped_by_watermark": self.dropped_by_watermark,
            "observed": self.observed(),
            "machine_windows": self.sink.machine_windows,
            "job_windows": self.sink.job_windows,
            "pushes": self.sink.pushes,
            "push_failures": self.sink.push_failures,
            "last_window_end": self.sink.last_window_end,
        }


def progress_dict(p: Any) -> dict[str, Any]:
    """A StreamingQueryProgress (pyspark returns objects with .json, or plain dicts) as a dict."""
    raw = getattr(p, "json", None)
    return json.loads(raw) if isinstance(raw, str) else dict(p)


def _progress_dicts(query: StreamingQuery) -> list[dict[str, Any]]:
    return [progress_dict(p) for p in query.recentProgress]


def start(cfg: Config, spark: SparkSession, sink: BatchSink) -> StreamingQuery:
    windows = window_aggregates(read_kafka(spark, cfg), cfg)
    writer = (
        windows.writeStream.outputMode("append")
        .queryName(cfg.query_name)
        .option("checkpointLocation", cfg.checkpoint)
        .foreachBatch(sink)
    )
    if cfg.available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{cfg.trigger_seconds} seconds")
    return writer.start()


def run(cfg: Config, spark: SparkSession | None = None) -> RunResult:
    """Runs the query until it stops (AvailableNow) or is interrupted; returns its progress."""
    spark = spark or build_session(cfg)
    sink = BatchSink(cfg)
    t0 = time.monotonic()
    query = start(cfg, spark, sink)
    LOG.info(
        "query %s: topics %s,%s at %s, watermark delay %s, checkpoint %s",
        query.id,
        cfg.task_topic,
        cfg.job_topic,
        cfg.kafka_broker,
        cfg.watermark_delay,
        cfg.checkpoint,
    )

    stop_requested = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    try:
        previous: Any = signal.signal(signal.SIGTERM, on_signal)
    except ValueError:  # not the main thread
        previous = None
    seen_batches = -1
    progress_file = open(cfg.progress_log, "a", encoding="utf-8") if cfg.progress_log else None  # noqa: SIM115
    try:
        while query.isActive:
            try:
                query.awaitTermination(1)
            except KeyboardInterrupt:
                stop_requested = True
            if stop_requested:
                LOG.info("stopping the query")
                query.stop()
                break
            if progress_file is not None:
                for p in query.recentProgress[-100:]:
                    lp = progress_dict(p)
                    if int(lp.get("batchId", -1)) > seen_batches:
                        seen_batches = int(lp["batchId"])
                        progress_file.write(json.dumps(lp) + "\n")
                        progress_file.flush()
        query.awaitTermination()  # raises StreamingQueryException if the query failed
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if progress_file is not None:
            progress_file.close()
    return RunResult(str(query.id), _progress_dicts(query), sink.stats, time.monotonic() - t0)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    logging.basicConfig(
        level=cfg.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    result = run(cfg)
    print(json.dumps(result.summary(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
