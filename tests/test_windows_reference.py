"""The Rust window lines (`tracepipe aggregate`) equal an independent Python recomputation.

Runs `target/release/tracepipe aggregate --from-files --jobs J --tasks T [--machines M] --out
OUT` on the bundled sample (parts 00000-00001 of both tables, and the machines of that time
span) and compares every field of every line with `tests/window_reference.py`: integers, booleans
and nulls exactly, floats within 1e-9 relative. Once without machines (their fields must be null
and 0) and once with them.

Trace: `sample/` of the repository. Needs `target/release/tracepipe`, which `make test` builds
(through `cargo test --release`) before it runs pytest; without it the test fails with what to run.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "tracepipe"
PARTS = ("part-00000-of-00500.csv.gz", "part-00001-of-00500.csv.gz")
REL_TOL = 1e-9
ABS_TOL = 1e-12  # values that should be 0 may differ by rounding noise only

sys.path.insert(0, str(Path(__file__).resolve().parent))
import window_reference


def trace_dirs():
    sample = ROOT / "sample"
    missing = [
        sample / t / p for t in ("job_events", "task_events") for p in PARTS if not (sample / t / p).is_file()
    ]
    if missing:
        pytest.fail(f"the bundled sample is incomplete (missing {missing[0]}): git checkout -- sample")
    return sample / "job_events", sample / "task_events"


def same_value(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    return a == b


def differences(expected, actual, limit=10):
    """Human-readable differences between two lists of parsed lines (at most `limit`)."""
    out = []
    if len(expected) != len(actual):
        out.append(f"{len(actual)} lines, expected {len(expected)}")
    for i, (e, a) in enumerate(zip(expected, actual)):
        if list(e) != list(a):
            out.append(f"line {i + 1}: fields {list(a)}, expected {list(e)}")
        else:
            for k in e:
                if not same_value(e[k], a[k]):
                    where = f"window {e.get('window_start')} {e['kind']} {e.get('machine_id', '')}"
                    out.append(
                        f"line {i + 1} ({where}): {k} = {a[k]!r}, expected {e[k]!r}"
                    )
        if len(out) >= limit:
            break
    return out


def test_reference_compares_values_not_text():
    # Both 6.199e-05 (Python) and 0.00006199 (Rust) are the same float.
    assert same_value(6.199e-05, 0.00006199)
    assert not same_value(0.5, 0.5 + 1e-6)
    assert not same_value(None, 0.0)
    assert not same_value(1, 2)
    assert same_value(0.0, 1e-17)
    assert differences([{"kind": "cell", "a": 1}], [{"kind": "cell", "a": 2}])


@pytest.mark.parametrize("with_machines", [False, True], ids=["two-tables", "machines"])
def test_rust_windows_equal_python_reference(tmp_path, with_machines):
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} not built: run `cargo build --release` (or `make test`)")
    jobs, tasks = trace_dirs()
    machines = ROOT / "sample" / "machine_events" if with_machines else None
    out = tmp_path / "windows.jsonl"
    cmd = [
        str(BINARY),
        "aggregate",
        "--from-files",
        "--jobs",
        str(jobs),
        "--tasks",
        str(tasks),
        "--out",
        str(out),
    ]
    if machines is not None:
        cmd += ["--machines", str(machines)]
    run = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, f"{' '.join(cmd)} failed:\n{run.stderr[-4000:]}"

    with open(out) as f:
        actual = [json.loads(line) for line in f if line.strip()]
    expected = window_reference.compute(
        str(jobs), str(tasks), machines_dir=str(machines) if machines else None
    )
    assert len(expected) > 1000, "the sample should give many lines"
    diff = differences(expected, actual)
    assert not diff, "Rust and Python windows differ:\n" + "\n".join(diff)
    # Sanity of the reference itself on the sample.
    kinds = {line["kind"] for line in expected}
    assert kinds == {"cell", "machine"}
    assert all(line["allocated_cpu"] >= 0.0 for line in expected)
    cells = [line for line in expected if line["kind"] == "cell"]
    if machines is None:
        assert all(c["cpu_capacity"] is None and c["machines_up"] == 0 for c in cells)
    else:
        # The sample's cell: about 12,500 machines up from t=0, a few REMOVE and ADD later,
        # and the fields the window rules define are really exercised.
        assert all(c["machines_up"] > 12_000 for c in cells)
        assert sum(c["machine_events_by_type"]["REMOVE"] for c in cells) == 21
        assert any(c["overcommitted_machines"] > 0 for c in cells)
        assert any(
            line["kind"] == "machine" and line["task_events"] == 0 and line["machine_events"] > 0
            for line in expected
        ), "a machine with only a machine event has a line"
