"""`aggregate --out FILE.parquet` holds every figure of the JSON Lines output, read back with
third-party readers (pyarrow and DuckDB, from PyPI).

Runs `target/release/tracepipe aggregate --from-files` on the bundled sample (with its machine
table, so the capacity fields are filled) twice, to JSON
Lines and to Parquet, and compares row by row, field by field: the Parquet file must hold the
same rows in the same order, integers and floats equal, nulls as nulls, and the columns a kind
does not have null. Needs `target/release/tracepipe` (`make test` builds it first).
"""

import datetime
import json
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "tracepipe"
EPOCH = datetime.datetime(2011, 5, 1, 22, 50, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} is missing: run `cargo build --release` (make test does)")
    tmp = tmp_path_factory.mktemp("parquet")
    paths = {"jsonl": tmp / "w.jsonl", "parquet": tmp / "w.parquet"}
    for path in paths.values():
        subprocess.run(
            [
                str(BINARY),
                "aggregate",
                "--from-files",
                "--jobs",
                str(ROOT / "sample" / "job_events"),
                "--tasks",
                str(ROOT / "sample" / "task_events"),
                "--machines",
                str(ROOT / "sample" / "machine_events"),
                "--no-metrics",
                "--out",
                str(path),
            ],
            check=True,
            capture_output=True,
        )
    lines = [json.loads(line) for line in paths["jsonl"].read_text().splitlines()]
    return lines, paths


def test_schema_types_and_compression(outputs):
    _, paths = outputs
    f = pq.ParquetFile(paths["parquet"])
    s = f.schema_arrow
    assert s.field("kind").type == pa.string()
    for name in ("window_start", "window_end", "machine_id", "running_tasks", "task_events", "kills"):
        assert s.field(name).type == pa.uint64(), name
    assert s.field("window_start_time").type == pa.timestamp("us", tz="UTC")
    assert s.field("allocated_cpu").type == pa.float64()
    assert s.field("up").type == pa.bool_()
    assert [c.name for c in s.field("machine_events_by_type").type] == ["ADD", "REMOVE", "UPDATE"]
    assert pa.types.is_struct(s.field("task_events_by_type").type)
    assert [c.name for c in s.field("job_events_by_type").type] == [
        "SUBMIT", "SCHEDULE", "EVICT", "FAIL", "FINISH", "KILL", "LOST", "UPDATE_PENDING", "UPDATE_RUNNING",
    ]
    md = f.metadata
    assert md.num_row_groups >= 2, "row groups are written as windows close"
    for rg in range(md.num_row_groups):
        for c in range(md.num_columns):
            assert md.row_group(rg).column(c).compression == "ZSTD"


def test_every_figure_equals_the_json_lines(outputs):
    lines, paths = outputs
    rows = pq.read_table(paths["parquet"]).to_pylist()
    assert len(rows) == len(lines)
    columns = set(rows[0])
    for i, (row, line) in enumerate(zip(rows, lines)):
        for key, want in line.items():
            got = row[key]
            if isinstance(want, float) or isinstance(got, float):
                # JSON prints the shortest round-trip form: the same double comes back.
                assert got == want or (got is None and want is None), (i, key, got, want)
            else:
                assert got == want, (i, key, got, want)
        for key in columns - set(line) - {"window_start_time", "window_end_time"}:
            assert row[key] is None, (i, key, "a column the kind does not have is null")
        assert row["window_start_time"] == EPOCH + datetime.timedelta(microseconds=line["window_start"])
        assert row["window_end_time"] == EPOCH + datetime.timedelta(microseconds=line["window_end"])
    nulls = sum(1 for line in lines if line.get("kind") == "machine" and line["cpu_request_avg"] is None)
    assert nulls > 0, "the sample has machine lines without a CPU request: nulls are exercised"
    ups = {line["up"] for line in lines if line["kind"] == "machine"}
    assert True in ups, "machines with capacity are exercised"


def test_duckdb_reads_the_same_totals(outputs):
    lines, paths = outputs
    con = duckdb.connect()
    got = con.execute(
        """
        SELECT kind, count(*), sum(running_tasks), sum(task_events), sum(kills),
               sum(task_events_by_type.SUBMIT), min(window_start_time), count(cpu_request_avg)
        FROM read_parquet(?) GROUP BY kind ORDER BY kind
        """,
        [str(paths["parquet"])],
    ).fetchall()
    cell = [x for x in lines if x["kind"] == "cell"]
    mach = [x for x in lines if x["kind"] == "machine"]
    start = EPOCH + datetime.timedelta(microseconds=lines[0]["window_start"])
    assert got[0][:2] == ("cell", len(cell))
    assert got[0][2] == sum(x["running_tasks"] for x in cell)
    assert got[0][3] is None and got[0][4] is None
    assert got[0][5] == sum(x["task_events_by_type"]["SUBMIT"] for x in cell)
    assert got[0][6] == start
    assert got[1][:5] == (
        "machine",
        len(mach),
        sum(x["running_tasks"] for x in mach),
        sum(x["task_events"] for x in mach),
        sum(x["kills"] for x in mach),
    )
    assert got[1][5] is None
    assert got[1][7] == sum(1 for x in mach if x["cpu_request_avg"] is not None)
    (alloc,) = con.execute(
        "SELECT sum(allocated_cpu) FROM read_parquet(?) WHERE kind = 'machine'", [str(paths["parquet"])]
    ).fetchone()
    assert alloc == pytest.approx(sum(x["allocated_cpu"] for x in mach), rel=1e-12)


def test_parquet_is_much_smaller(outputs):
    _, paths = outputs
    ratio = paths["jsonl"].stat().st_size / paths["parquet"].stat().st_size
    print(f"JSON Lines {paths['jsonl'].stat().st_size} B, Parquet {paths['parquet'].stat().st_size} B: {ratio:.1f}x")
    assert ratio >= 10
