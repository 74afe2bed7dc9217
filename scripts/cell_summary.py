#!/usr/bin/env python3
"""What the cell looks like over time, from a windows file written with machines.

Reads `tracepipe aggregate --machines ... --out FILE` output in one pass and prints a Markdown
table with one row per snapshot (every --every trace hours, at a window end): machines up, the
cell's allocated fraction of its capacity, the median and 99th percentile of the machines'
allocated fraction (over the machines up with a known capacity; a machine's state is held from
its last line, as the window rules say), and the over-committed machines.

Usage: cell_summary.py WINDOWS.jsonl [--every HOURS]   (stdlib only)
"""

import argparse
import json
import sys


def percentile(sorted_values, q):
    """Nearest-rank percentile of a sorted list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def fmt(v, pct=True):
    if v is None:
        return "–"
    return f"{100 * v:.1f} %" if pct else f"{v:,}"


def snapshot(hour, cell, machines):
    cpu, mem = [], []
    for up, cpu_cap, mem_cap, cpu_alloc, mem_alloc in machines.values():
        if up is not True:
            continue
        if cpu_cap:
            cpu.append(cpu_alloc / cpu_cap)
        if mem_cap:
            mem.append(mem_alloc / mem_cap)
    cpu.sort()
    mem.sort()
    return (
        f"| {hour:.1f} h | {cell['machines_up']:,} | {fmt(cell['allocated_cpu_fraction'])} "
        f"| {fmt(cell['allocated_memory_fraction'])} | {fmt(percentile(cpu, 0.5))} "
        f"| {fmt(percentile(cpu, 0.99))} | {fmt(percentile(mem, 0.5))} "
        f"| {fmt(percentile(mem, 0.99))} | {cell['overcommitted_machines']:,} "
        f"| {cell['running_tasks']:,} |"
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("windows")
    p.add_argument("--every", type=float, default=3.0, help="trace hours between rows")
    a = p.parse_args(argv)
    step = int(a.every * 3600e6)
    machines = {}  # id -> [up, cpu_cap, mem_cap, allocated_cpu, allocated_memory]
    cell = None
    next_at = 0
    rows = []
    removes = adds = 0

    def flush_due(window_start):
        nonlocal next_at
        # Snapshot at the end of the last complete window before `window_start`.
        while cell is not None and cell["window_end"] <= window_start and cell["window_end"] >= next_at:
            rows.append(snapshot(next_at / 3600e6, cell, machines))
            next_at += step

    with open(a.windows) as f:
        for line in f:
            v = json.loads(line)
            if v["kind"] == "cell":
                flush_due(v["window_start"])
                if v["cpu_capacity"] is None:
                    sys.exit("cell_summary: the windows were written without --machines")
                cell = v
                removes += v["machine_events_by_type"]["REMOVE"]
                adds += v["machine_events_by_type"]["ADD"]
            else:
                machines[v["machine_id"]] = [
                    v["up"],
                    v["cpu_capacity"],
                    v["memory_capacity"],
                    v["allocated_cpu"],
                    v["allocated_memory"],
                ]
    if cell is not None:
        rows.append(snapshot(cell["window_end"] / 3600e6, cell, machines))
    print(
        "| trace time | machines up | cell CPU alloc./cap. | cell memory alloc./cap. "
        "| machine CPU median | CPU p99 | machine memory median | memory p99 "
        "| over-committed machines | running tasks |"
    )
    print("|" + " ---: |" * 10)
    print("\n".join(rows))
    print(f"\nmachine events in the file: {adds:,} ADD, {removes:,} REMOVE")


if __name__ == "__main__":
    main()
