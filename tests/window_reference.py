#!/usr/bin/env python3
"""Independent reference recomputation of the per-machine window lines (stdlib only).

Reads the raw trace parts of the tables, sorts all rows by (time, table: machine before job
before task, part, line), then runs a plain loop with dicts. Prints the same JSON lines as the Rust
`tracepipe::window` module (`tracepipe aggregate`): for each window with at least one event,
the cell line, then the machine lines by machine ID. Rules (same as src/window/mod.rs):

- window = time // width; after-the-end times (>= 2**63-1) are in no window (the state still
  follows them); windows without events print nothing;
- task state by (job, index): SUBMIT -> pending; SCHEDULE -> running, allocating its row's
  requests (empty = 0.0) on its row's machine (none when the row has no machine) and
  replacing an earlier allocation; UPDATE_RUNNING of a running task replaces each non-empty
  request on the remembered machine; terminal events release a running task's remembered
  requests and forget the task; SUBMIT of a running task releases it too;
- a machine has a line when an event of the window carries its ID or belongs to a task
  running on it; terminal counts go to the row's machine, else to the remembered one;
- when a machine (or the cell) has no running task left, its allocation is exactly 0.0;
  values in (-1e-9, 0) become 0.0;
- machines (machine_events): ADD -> up with the row's capacity (empty = unknown), UPDATE ->
  each non-empty capacity replaces the old one, REMOVE -> down (capacity kept, tasks kept);
  a machine event gives its machine a line; machine lines show up/capacity/fraction
  (allocated / capacity when the capacity is known and > 0) and their machine events; the
  cell shows machine events by type, machines up, the sums of known capacities of machines
  up (recounted at each window end here, not kept incrementally), cell allocated / cell
  capacity (null when 0) and the machines up whose allocation exceeds a known capacity by
  more than 1e-9 (recounted too); before any machine event all of these are null / 0.

Usage: window_reference.py --jobs DIR --tasks DIR [--machines DIR] [--width-us N] [--parts N]
       [--out FILE]
"""

import argparse
import gzip
import json
import os
import re
import sys

AFTER_END = 2**63 - 1
TYPES = [
    "SUBMIT",
    "SCHEDULE",
    "EVICT",
    "FAIL",
    "FINISH",
    "KILL",
    "LOST",
    "UPDATE_PENDING",
    "UPDATE_RUNNING",
]
TERMINAL = {2: "evictions", 3: "failures", 4: "finishes", 5: "kills", 6: "losts"}
MACHINE_TYPES = ["ADD", "REMOVE", "UPDATE"]
MACHINE = -1  # table rank: machine rows sort before jobs (0) and tasks (1) at equal times
OVER_TOLERANCE = 1e-9
PART = re.compile(r"^part-(\d+)-of-(\d+)\.csv\.gz$")


def parts_of(folder, limit=None):
    found = []
    for name in os.listdir(folder):
        m = PART.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(folder, name)))
    found.sort()
    return found[:limit] if limit is not None else found


def opt_int(s):
    return int(s) if s != "" else None


def opt_float(s):
    return float(s) if s != "" else None


def read_rows(jobs_dir, tasks_dir, limit=None, machines_dir=None):
    """All rows of the tables as (time, table, part, line, fields), in global order."""
    rows = []
    for table, folder in ((MACHINE, machines_dir), (0, jobs_dir), (1, tasks_dir)):
        if folder is None:
            continue
        for part, path in parts_of(folder, limit):
            with gzip.open(path, "rt") as f:
                for line_no, line in enumerate(f, 1):
                    fields = line.rstrip("\r\n").split(",")
                    rows.append((int(fields[0]), table, part, line_no, fields))
    rows.sort(key=lambda r: r[:4])
    return rows


def clamp(x):
    return 0.0 if -1e-9 < x < 0.0 else x


class Reference:
    def __init__(self, width):
        self.width = width
        self.tasks = {}  # (job, index) -> ["P"] or ["R", machine, cpu, mem]
        self.alloc = {}  # machine -> [cpu, mem, running]
        self.cell = {"running": 0, "pending": 0, "placed": 0, "cpu": 0.0, "mem": 0.0}
        self.window = None  # open window index
        self.stats = {}  # machine -> per-window dict
        self.job_counts = [0] * 9
        self.task_counts = [0] * 9
        self.machine_counts = [0] * 3
        self.machines = {}  # machine -> [up (True/False), cpu capacity, memory capacity]
        self.lines = []

    # -- allocation ---------------------------------------------------------------------
    def machine(self, m):
        return self.alloc.setdefault(m, [0.0, 0.0, 0])

    def release(self, m, cpu, mem):
        if m is None:
            return
        a = self.machine(m)
        a[2] -= 1
        a[0] -= cpu
        a[1] -= mem
        if a[2] == 0:
            a[0] = 0.0
            a[1] = 0.0
        else:
            a[0] = clamp(a[0])
            a[1] = clamp(a[1])
        c = self.cell
        c["placed"] -= 1
        c["cpu"] -= cpu
        c["mem"] -= mem
        if c["placed"] == 0:
            c["cpu"] = 0.0
            c["mem"] = 0.0
        else:
            c["cpu"] = clamp(c["cpu"])
            c["mem"] = clamp(c["mem"])

    def allocate(self, m, cpu, mem):
        a = self.machine(m)
        a[2] += 1
        a[0] += cpu
        a[1] += mem
        c = self.cell
        c["placed"] += 1
        c["cpu"] += cpu
        c["mem"] += mem

    # -- windows ------------------------------------------------------------------------
    def stat(self, m):
        s = self.stats.get(m)
        if s is None:
            s = {
                "task_events": 0,
                "cpu_sum": 0.0,
                "cpu_n": 0,
                "mem_sum": 0.0,
                "mem_n": 0,
                "peak": self.machine(m)[0],
                "evictions": 0,
                "failures": 0,
                "finishes": 0,
                "kills": 0,
                "losts": 0,
                "machine_events": 0,
            }
            self.stats[m] = s
        return s

    def close(self):
        if self.window is None:
            return
        start = self.window * self.width
        end = start + self.width
        c = self.cell
        # Machines: recounted here from the per-machine state.
        up = [(m, s) for m, s in self.machines.items() if s[0] is True]
        cpu_cap = sum(s[1] for _, s in up if s[1] is not None)
        mem_cap = sum(s[2] for _, s in up if s[2] is not None)
        over = 0
        for m, s in up:
            a = self.alloc.get(m, [0.0, 0.0, 0])
            if (s[1] is not None and a[0] > s[1] + OVER_TOLERANCE) or (
                s[2] is not None and a[1] > s[2] + OVER_TOLERANCE
            ):
                over += 1
        known = bool(self.machines)

        def frac(allocated, capacity):
            return allocated / capacity if capacity is not None and capacity > 0 else None

        self.lines.append(
            {
                "kind": "cell",
                "window_start": start,
                "window_end": end,
                "task_events_by_type": dict(zip(TYPES, self.task_counts)),
                "job_events_by_type": dict(zip(TYPES, self.job_counts)),
                "running_tasks": c["running"],
                "pending_tasks": c["pending"],
                "allocated_cpu": c["cpu"],
                "allocated_memory": c["mem"],
                "machine_events_by_type": dict(zip(MACHINE_TYPES, self.machine_counts)),
                "machines_up": len(up),
                "cpu_capacity": float(cpu_cap) if known else None,
                "memory_capacity": float(mem_cap) if known else None,
                "allocated_cpu_fraction": frac(c["cpu"], cpu_cap) if known else None,
                "allocated_memory_fraction": frac(c["mem"], mem_cap) if known else None,
                "overcommitted_machines": over,
            }
        )
        for m in sorted(self.stats):
            s = self.stats[m]
            a = self.alloc[m]
            st = self.machines.get(m, [None, None, None])
            self.lines.append(
                {
                    "kind": "machine",
                    "window_start": start,
                    "window_end": end,
                    "machine_id": m,
                    "task_events": s["task_events"],
                    "cpu_request_sum": s["cpu_sum"],
                    "memory_request_sum": s["mem_sum"],
                    "cpu_request_avg": s["cpu_sum"] / s["cpu_n"]
                    if s["cpu_n"]
                    else None,
                    "memory_request_avg": s["mem_sum"] / s["mem_n"]
                    if s["mem_n"]
                    else None,
                    "allocated_cpu": a[0],
                    "allocated_memory": a[1],
                    "running_tasks": a[2],
                    "peak_allocated_cpu": s["peak"],
                    "evictions": s["evictions"],
                    "failures": s["failures"],
                    "finishes": s["finishes"],
                    "kills": s["kills"],
                    "losts": s["losts"],
                    "up": st[0],
                    "cpu_capacity": st[1],
                    "memory_capacity": st[2],
                    "allocated_cpu_fraction": frac(a[0], st[1]),
                    "allocated_memory_fraction": frac(a[1], st[2]),
                    "machine_events": s["machine_events"],
                }
            )
        self.window = None
        self.stats = {}
        self.job_counts = [0] * 9
        self.task_counts = [0] * 9
        self.machine_counts = [0] * 3

    # -- one row ------------------------------------------------------------------------
    def row(self, time, table, f):
        in_window = time < AFTER_END
        if in_window:
            if self.window != time // self.width:
                self.close()
                self.window = time // self.width
        else:
            self.close()
        if table == MACHINE:
            self.machine_row(int(f[1]), int(f[2]), opt_float(f[4]), opt_float(f[5]), in_window)
            return
        etype = int(f[3]) if table == 0 else int(f[5])
        if table == 0:
            if in_window:
                self.job_counts[etype] += 1
            return
        if in_window:
            self.task_counts[etype] += 1
        key = (int(f[2]), int(f[3]))
        machine = opt_int(f[4])
        cpu = opt_float(f[9])
        mem = opt_float(f[10])
        state = self.tasks.get(key)
        remembered = state[1] if state is not None and state[0] == "R" else None

        touched = set()
        if in_window:
            if machine is not None:
                s = self.stat(machine)
                touched.add(machine)
                s["task_events"] += 1
                if cpu is not None:
                    s["cpu_sum"] += cpu
                    s["cpu_n"] += 1
                if mem is not None:
                    s["mem_sum"] += mem
                    s["mem_n"] += 1
            if remembered is not None:
                self.stat(remembered)
                touched.add(remembered)
            if etype in TERMINAL:
                target = machine if machine is not None else remembered
                if target is not None:
                    self.stat(target)[TERMINAL[etype]] += 1

        c = self.cell
        if etype == 0:  # SUBMIT
            if state is None:
                c["pending"] += 1
            elif state[0] == "R":
                self.release(state[1], state[2], state[3])
                c["running"] -= 1
                c["pending"] += 1
            self.tasks[key] = ["P"]
        elif etype == 1:  # SCHEDULE
            if state is None:
                c["running"] += 1
            elif state[0] == "P":
                c["pending"] -= 1
                c["running"] += 1
            else:
                self.release(state[1], state[2], state[3])
            new_cpu = cpu if cpu is not None else 0.0
            new_mem = mem if mem is not None else 0.0
            if machine is not None:
                self.allocate(machine, new_cpu, new_mem)
            self.tasks[key] = ["R", machine, new_cpu, new_mem]
        elif etype in TERMINAL:
            if state is not None:
                if state[0] == "R":
                    self.release(state[1], state[2], state[3])
                    c["running"] -= 1
                else:
                    c["pending"] -= 1
                del self.tasks[key]
        elif etype == 8:  # UPDATE_RUNNING
            if state is not None and state[0] == "R" and state[1] is not None:
                a = self.machine(state[1])
                if cpu is not None:
                    a[0] -= state[2]
                    a[0] += cpu
                    a[0] = clamp(a[0])
                    c["cpu"] -= state[2]
                    c["cpu"] += cpu
                    c["cpu"] = clamp(c["cpu"])
                    state[2] = cpu
                if mem is not None:
                    a[1] -= state[3]
                    a[1] += mem
                    a[1] = clamp(a[1])
                    c["mem"] -= state[3]
                    c["mem"] += mem
                    c["mem"] = clamp(c["mem"])
                    state[3] = mem
            elif state is not None and state[0] == "R":
                if cpu is not None:
                    state[2] = cpu
                if mem is not None:
                    state[3] = mem
        # UPDATE_PENDING (7) changes nothing.

        for m in touched:
            s = self.stats[m]
            s["peak"] = max(s["peak"], self.alloc[m][0])

    def machine_row(self, m, etype, cpus, memory, in_window):
        if in_window:
            self.machine_counts[etype] += 1
            self.stat(m)["machine_events"] += 1
        st = self.machines.setdefault(m, [None, None, None])
        if etype == 0:  # ADD: up with the row's capacity (empty = unknown)
            st[0], st[1], st[2] = True, cpus, memory
        elif etype == 2:  # UPDATE: non-empty fields replace
            if cpus is not None:
                st[1] = cpus
            if memory is not None:
                st[2] = memory
        else:  # REMOVE: down, capacity and tasks kept
            st[0] = False

    def run(self, rows):
        for time, table, _part, _line, fields in rows:
            self.row(time, table, fields)
        self.close()
        return self.lines


def compute(jobs_dir, tasks_dir, width=60_000_000, limit=None, machines_dir=None):
    return Reference(width).run(read_rows(jobs_dir, tasks_dir, limit, machines_dir))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", help="job_events folder")
    p.add_argument("--tasks", help="task_events folder")
    p.add_argument("--machines", help="machine_events folder")
    p.add_argument("--width-us", type=int, default=60_000_000)
    p.add_argument(
        "--parts", type=int, default=None, help="only the first N parts per table"
    )
    p.add_argument("--out", help="output file (default: stdout)")
    a = p.parse_args(argv)
    if a.width_us <= 0:
        p.error("--width-us must be positive")
    lines = compute(a.jobs, a.tasks, a.width_us, a.parts, a.machines)
    text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    if a.out:
        with open(a.out, "w") as out:
            out.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
