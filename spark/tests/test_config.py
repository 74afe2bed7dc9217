"""Command line, Kafka options and schemas of the Spark job (no broker, no Spark session)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from needs import module

module("pyspark")

from pyspark.sql.types import BooleanType, DoubleType, LongType, StructField, StructType

from tracepipe_spark import job, schema


def test_original_single_dash_flags_with_space_or_equals() -> None:
    a = job.parse_args(["-KAFKA_BROKER", "broker:9094", "-PUSHGATEWAY_URL", "http://pgw:9091"])
    b = job.parse_args(["-KAFKA_BROKER=broker:9094", "-PUSHGATEWAY_URL=http://pgw:9091"])
    assert (
        (a.kafka_broker, a.pushgateway_url)
        == (b.kafka_broker, b.pushgateway_url)
        == ("broker:9094", "http://pgw:9091")
    )
    assert job.parse_args(["--no-pushgateway"]).pushgateway_url is None


def test_defaults() -> None:
    cfg = job.parse_args([])
    assert (cfg.job_topic, cfg.task_topic) == ("job-events", "task-events")
    assert cfg.watermark_delay_us == 600_000_000
    assert cfg.watermark_delay == "600000 milliseconds"
    assert cfg.shuffle_partitions == 4
    opts = job.kafka_options(cfg)
    assert opts["subscribe"] == "task-events,job-events"
    assert opts["startingOffsets"] == "earliest"
    assert "maxOffsetsPerTrigger" not in opts
    assert not any(k.startswith("kafka.sasl") or k.startswith("kafka.ssl") for k in opts)


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("600", 600_000_000),
        ("90s", 90_000_000),
        ("10m", 600_000_000),
        ("10 minutes", 600_000_000),
        ("1h", 3_600_000_000),
        ("1d", 86_400_000_000),
        ("250ms", 250_000),
    ],
)
def test_durations(text: str, us: int) -> None:
    assert job.parse_duration_us(text) == us


def test_bad_duration() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        job.parse_duration_us("ten minutes")


def test_sasl_ssl_scram_with_pem_truststore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", 'p"w\\d')
    cfg = job.parse_args(
        [
            "-KAFKA_BROKER",
            "kafka-cluster-kafka-bootstrap.kafka.svc:9093",
            "--kafka-security-protocol",
            "SASL_SSL",
            "--kafka-sasl-mechanism",
            "SCRAM-SHA-512",
            "--kafka-sasl-username",
            "spark",
            "--kafka-ssl-truststore",
            "/etc/kafka-ca/ca.crt",
            "--kafka-option",
            "client.rack=a",
        ]
    )
    opts = job.kafka_options(cfg)
    assert opts["kafka.security.protocol"] == "SASL_SSL"
    assert opts["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert opts["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="spark" password="p\\"w\\\\d";'
    )
    assert opts["kafka.ssl.truststore.type"] == "PEM"
    assert opts["kafka.ssl.truststore.location"] == "/etc/kafka-ca/ca.crt"
    assert "kafka.ssl.truststore.password" not in opts
    assert opts["kafka.client.rack"] == "a"
    assert opts["groupIdPrefix"] == "tracepipe-spark"


def test_password_file_and_pkcs12(tmp_path: Path) -> None:
    pw = tmp_path / "password"
    pw.write_text("s3cret\n")
    cfg = job.parse_args(
        [
            "--kafka-sasl-mechanism",
            "PLAIN",
            "--kafka-sasl-username",
            "u",
            "--kafka-sasl-password-file",
            str(pw),
            "--kafka-ssl-truststore",
            "/x/ca.p12",
            "--kafka-ssl-truststore-password",
            "tp",
        ]
    )
    opts = job.kafka_options(cfg)
    assert opts["kafka.sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule"
    )
    assert 'password="s3cret"' in opts["kafka.sasl.jaas.config"]
    assert opts["kafka.ssl.truststore.type"] == "PKCS12"
    assert opts["kafka.ssl.truststore.password"] == "tp"


def test_sasl_without_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_SASL_PASSWORD", raising=False)
    cfg = job.parse_args(["--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-username", "spark"])
    with pytest.raises(SystemExit):
        job.kafka_options(cfg)


def test_help_never_shows_a_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "do-not-print-me")
    monkeypatch.setenv("KAFKA_SSL_TRUSTSTORE_PASSWORD", "nor-me")
    with pytest.raises(SystemExit):
        job.parse_args(["--help"])
    out = capsys.readouterr().out
    assert "do-not-print-me" not in out and "nor-me" not in out


def test_schemas_use_64_bit_ids_and_typed_values() -> None:
    task = {f.name: f.dataType for f in schema.TASK_SCHEMA.fields}
    job_fields = {f.name: f.dataType for f in schema.JOB_SCHEMA.fields}
    assert len(task) == 13 and len(job_fields) == 8
    for name in ("time", "job_id", "task_index", "machine_id"):
        assert task[name] == LongType(), name
    assert job_fields["job_id"] == LongType() and job_fields["time"] == LongType()
    assert task["cpu_request"] == DoubleType() and task["memory_request"] == DoubleType()
    assert task["different_machines_restriction"] == BooleanType()
    assert all(f.nullable for f in schema.VALUE_SCHEMA.fields)
    assert [f.name for f in schema.AGGREGATE_SCHEMA.fields] == list(schema.AGGREGATE_FIELDS)
    with pytest.raises(ValueError, match="time"):
        schema.union_schema(schema.TASK_SCHEMA, StructType([StructField("time", DoubleType())]))
