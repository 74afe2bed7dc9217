"""The Kafka wire format written by `tracepipe replay`, as Spark schemas and constants.

Data record: key = job ID in decimal, value = JSON object with the first implementation's
snake_case field names, headers ``seq`` and ``time``. Mark record (progress watermark or end of
stream): null key, header ``tracepipe-mark``, value
``{"tracepipe_mark":"watermark"|"end","time":T,"next_seq":N}`` where T is the trace time of the
last event sent before the mark. No data record has a null key.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

DEFAULT_JOB_TOPIC = "job-events"
DEFAULT_TASK_TOPIC = "task-events"

#: Trace time is in microseconds; windows are 1 minute of trace time.
WINDOW_US = 60_000_000

#: Times at or above this value mean "after the end of the trace window" (2^63-1; 2^64-1 does not
#: fit a LongType and parses as null, which is treated the same way).
AFTER_END_US = (1 << 63) - 1

#: Mark times are clamped to this (about 31.7 years of trace time, far past the trace's 29 days)
#: before adding the flush margin, so that sentinel times cannot overflow timestamp arithmetic.
MARK_TIME_CAP_US = 10**15

EVENT_TYPES: dict[int, str] = {
    0: "SUBMIT",
    1: "SCHEDULE",
    2: "EVICT",
    3: "FAIL",
    4: "FINISH",
    5: "KILL",
    6: "LOST",
    7: "UPDATE_PENDING",
    8: "UPDATE_RUNNING",
}

#: job_events value (8 fields). IDs are 64-bit: job IDs reach about 6.4e9.
JOB_SCHEMA = StructType(
    [
        StructField("time", LongType(), True),
        StructField("missing_info", IntegerType(), True),
        StructField("job_id", LongType(), True),
        StructField("event_type", IntegerType(), True),
        StructField("user", StringType(), True),
        StructField("scheduling_class", IntegerType(), True),
        StructField("job_name", StringType(), True),
        StructField("logical_job_name", StringType(), True),
    ]
)

#: task_events value (13 fields). machine IDs also exceed 2^31-1; missing values are JSON null.
TASK_SCHEMA = StructType(
    [
        StructField("time", LongType(), True),
        StructField("missing_info", IntegerType(), True),
        StructField("job_id", LongType(), True),
        StructField("task_index", LongType(), True),
        StructField("machine_id", LongType(), True),
        StructField("event_type", IntegerType(), True),
        StructField("user", StringType(), True),
        StructField("scheduling_class", IntegerType(), True),
        StructField("priority", IntegerType(), True),
        StructField("cpu_request", DoubleType(), True),
        StructField("memory_request", DoubleType(), True),
        StructField("disk_space_request", DoubleType(), True),
        StructField("different_machines_restriction", BooleanType(), True),
    ]
)

#: Fields of a mark record's value (besides ``time``).
MARK_FIELDS = [
    StructField("tracepipe_mark", StringType(), True),
    StructField("next_seq", LongType(), True),
]


def union_schema(*schemas: StructType, extra: list[StructField] | None = None) -> StructType:
    """Union of the fields of `schemas` (first occurrence wins; same-named fields must agree)."""
    fields: dict[str, StructField] = {}
    for schema in schemas:
        for field in schema.fields:
            known = fields.get(field.name)
            if known is None:
                fields[field.name] = field
            elif known.dataType != field.dataType:
                raise ValueError(f"field {field.name!r}: {known.dataType} vs {field.dataType}")
    for field in extra or []:
        fields.setdefault(field.name, field)
    return StructType(list(fields.values()))


#: One schema for every value of both topics and the marks, so that each Kafka value is parsed
#: by a single from_json (one pass over the source, no self-union of the stream).
VALUE_SCHEMA = union_schema(TASK_SCHEMA, JOB_SCHEMA, extra=MARK_FIELDS)


#: Fields the window aggregation reads. The job parses each value with VALUE_SCHEMA restricted to
#: these (same names and types as the full schemas): Jackson skips the other fields without
#: building them, which halves the job's CPU per record (the user/job-name hashes are 44-character
#: strings). `parse_task_events` / `parse_job_events` in job.py give the full typed records.
AGGREGATE_FIELDS = ("time", "machine_id", "event_type", "cpu_request", "memory_request", "tracepipe_mark")


def project_schema(schema: StructType, names: tuple[str, ...]) -> StructType:
    """`schema` restricted to `names` (in that order)."""
    by_name = {f.name: f for f in schema.fields}
    return StructType([by_name[n] for n in names])


AGGREGATE_SCHEMA = project_schema(VALUE_SCHEMA, AGGREGATE_FIELDS)
