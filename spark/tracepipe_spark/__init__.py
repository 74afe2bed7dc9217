"""tracepipe's Spark Structured Streaming job (per-machine 1-minute windows from Kafka)."""

__version__ = "0.1.0"
