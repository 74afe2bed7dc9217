//! The numbers the report draws, computed from the windows file in one pass with memory bounded
//! by the chart sizes (and the number of machines), never by the number of lines.
//!
//! # Rules
//! - **Time buckets.** A [`Grid`] starts at the first line's window with one window per bucket.
//!   When a window would fall at or beyond the cap, neighbouring buckets are merged in pairs
//!   (0+1, 2+3, ...) until it fits, so a bucket always covers 2^k windows, aligned on the first
//!   window. The time series and the heatmap have a grid each, with their own caps.
//! - **States are held between lines.** A window without events has no line, and a machine
//!   without events in a window has no machine line: its allocation stayed what the last line
//!   said. So a state (the cell's allocation, running and pending tasks; a machine's allocated
//!   CPU) counts for every window from its line up to the next line, and the last one up to the
//!   file's last window. A bucket's mean is over all its windows; a machine's windows before its
//!   first line count as 0 (nothing known allocated there).
//! - **Events are summed**, and shown per minute of the windows the bucket covers.
//! - **Heatmap rows.** Machines are ordered by mean allocated CPU over the whole span,
//!   highest first (ties by machine ID), and cut into at most [`Limits::heatmap_rows`] groups of
//!   equal size (the last may be smaller); a row is the mean of its group.
//! - **Top machines** by peak allocated CPU (`peak_allocated_cpu`), highest first, ties by
//!   machine ID; the time is the first window that reached the peak.
//! - **Utilisation.** When the cell lines carry capacities (windows written with machines),
//!   the cell chart and the heatmap show allocation as a fraction of capacity
//!   (`allocated_*_fraction`) instead of raw normalised units; a machine whose capacity is
//!   unknown counts as 0 there. The top machines stay ranked by raw `peak_allocated_cpu`
//!   (the windows carry no peak fraction), with their mean fraction beside.
//! - **Order.** Lines must come in non-decreasing `window_start` (as `aggregate` writes them),
//!   with one window width throughout, at most one cell line per window and one line per
//!   machine per window.

use super::parse::{parse_line, CellLine, Line, MachineLine, Problem};
use super::ReportError;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Chart resolution: the caps that bound memory and the page's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most points per time series (buckets of the time-series grid).
    pub series_points: usize,
    /// Most columns of the heatmap (buckets of its grid).
    pub heatmap_columns: usize,
    /// Most rows of the heatmap (groups of machines).
    pub heatmap_rows: usize,
    /// Rows of the top-machines table.
    pub top_machines: usize,
}

impl Default for Limits {
    /// About what a 1,100-pixel-wide chart shows: 1 to 2 pixels per point, heatmap cells of
    /// at least 4 x 3 pixels.
    fn default() -> Self {
        Limits {
            series_points: 1024,
            heatmap_columns: 256,
            heatmap_rows: 120,
            top_machines: 15,
        }
    }
}

/// Time buckets of 2^shift windows from window index `origin`, fewer than `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    origin: u64,
    shift: u32,
    cap: u64,
}

impl Grid {
    fn new(origin: u64, cap: usize) -> Self {
        Grid {
            origin,
            shift: 0,
            cap: cap.max(1) as u64,
        }
    }

    /// Windows per bucket.
    pub fn per_bucket(&self) -> u64 {
        1 << self.shift
    }

    fn bucket(&self, window: u64) -> usize {
        ((window - self.origin) >> self.shift) as usize
    }

    /// First window of bucket `b`.
    fn start(&self, b: usize) -> u64 {
        self.origin + ((b as u64) << self.shift)
    }

    /// Doublings needed for `window` to fall in a bucket below the cap (applied to the grid;
    /// the caller merges its buckets as many times).
    fn grow_to(&mut self, window: u64) -> u32 {
        let d = window - self.origin;
        let old = self.shift;
        while (d >> self.shift) >= self.cap {
            self.shift += 1;
        }
        self.shift - old
    }

    /// Calls `f(bucket, windows)` for each bucket overlapping windows `[a, b)`.
    fn for_range(&self, a: u64, b: u64, mut f: impl FnMut(usize, u64)) {
        if a >= b {
            return;
        }
        for k in self.bucket(a)..=self.bucket(b - 1) {
            let lo = self.start(k).max(a);
            let hi = self.start(k + 1).min(b);
            f(k, hi - lo);
        }
    }
}

/// [`merge_pairs`] in place for a fixed-length row: the freed tail becomes 0.
fn halve(v: &mut [f32], times: u32) {
    for _ in 0..times {
        let n = v.len();
        for i in 0..n.div_ceil(2) {
            v[i] = v[2 * i] + v.get(2 * i + 1).copied().unwrap_or(0.0);
        }
        v[n.div_ceil(2)..].fill(0.0);
    }
}

/// Merges neighbouring pairs `times` times: `v[i] = v[2i] + v[2i+1]`.
fn merge_pairs<T>(v: &mut Vec<T>, times: u32, merge: impl Fn(&mut T, T)) {
    for _ in 0..times {
        let old = std::mem::take(v);
        v.reserve(old.len().div_ceil(2));
        let mut it = old.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                merge(&mut a, b);
            }
            v.push(a);
        }
    }
}

/// The cell's state at a window end.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CellState {
    cpu: f64,
    memory: f64,
    running: u64,
    pending: u64,
}

/// Sums over the windows of one time bucket.
#[derive(Debug, Clone, Default, PartialEq)]
struct CellBucket {
    /// Windows whose state was counted (all windows from the first cell line on).
    windows: u64,
    cpu_sum: f64,
    memory_sum: f64,
    running_sum: f64,
    pending_sum: f64,
    cpu_max: f64,
    memory_max: f64,
    running_max: u64,
    pending_max: u64,
    task_events: [u64; 9],
}

impl CellBucket {
    fn add_state(&mut self, s: &CellState, n: u64) {
        let w = n as f64;
        self.windows += n;
        self.cpu_sum += s.cpu * w;
        self.memory_sum += s.memory * w;
        self.running_sum += s.running as f64 * w;
        self.pending_sum += s.pending as f64 * w;
        self.cpu_max = self.cpu_max.max(s.cpu);
        self.memory_max = self.memory_max.max(s.memory);
        self.running_max = self.running_max.max(s.running);
        self.pending_max = self.pending_max.max(s.pending);
    }

    fn merge(&mut self, o: CellBucket) {
        self.windows += o.windows;
        self.cpu_sum += o.cpu_sum;
        self.memory_sum += o.memory_sum;
        self.running_sum += o.running_sum;
        self.pending_sum += o.pending_sum;
        self.cpu_max = self.cpu_max.max(o.cpu_max);
        self.memory_max = self.memory_max.max(o.memory_max);
        self.running_max = self.running_max.max(o.running_max);
        self.pending_max = self.pending_max.max(o.pending_max);
        for (a, b) in self.task_events.iter_mut().zip(o.task_events) {
            *a += b;
        }
    }
}

/// What is kept per machine: its heatmap row (allocated CPU summed per bucket) and totals.
#[derive(Debug, Clone)]
struct MachineAcc {
    id: u64,
    /// One sum per bucket of the heatmap grid, `Limits::heatmap_columns` long from the start
    /// (no growing on the hot path).
    heat: Box<[f32]>,
    /// The bucket being filled and its sum so far (not yet in `heat`).
    open_bucket: usize,
    open_sum: f64,
    /// Allocated CPU summed over all windows (exact, for the mean; `heat` is f32).
    cpu_windows: f64,
    /// Window of the last line and its allocated CPU.
    last_window: u64,
    last_cpu: f64,
    peak_cpu: f64,
    peak_at: u64,
    peak_memory: f64,
    task_events: u64,
    evictions: u64,
    failures: u64,
    kills: u64,
    lines: u64,
}

impl MachineAcc {
    /// Adds `value` for windows `[a, b)`. The sum of the bucket being filled is kept here
    /// and written to `heat` only when a later bucket starts: one write per machine and
    /// bucket instead of one per line (the row is far away in memory; this struct is not).
    fn fill(&mut self, grid: &Grid, a: u64, b: u64, value: f64) {
        if value == 0.0 || a >= b {
            return;
        }
        self.cpu_windows += value * (b - a) as f64;
        grid.for_range(a, b, |k, n| {
            if k != self.open_bucket {
                self.flush();
                self.open_bucket = k;
            }
            self.open_sum += value * n as f64;
        });
    }

    /// Writes the open bucket's sum into `heat`.
    fn flush(&mut self) {
        if self.open_sum != 0.0 {
            self.heat[self.open_bucket] += self.open_sum as f32;
            self.open_sum = 0.0;
        }
    }
}

/// One point of the time series: a bucket of windows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellPoint {
    /// Trace time (µs) of the bucket's start and of the end of its last window in the data.
    pub start_us: u64,
    pub end_us: u64,
    pub windows: u64,
    pub cpu_mean: f64,
    pub cpu_max: f64,
    pub memory_mean: f64,
    pub memory_max: f64,
    pub running_mean: f64,
    pub running_max: u64,
    pub pending_mean: f64,
    pub pending_max: u64,
    /// Task events per minute by type code.
    pub task_per_minute: [f64; 9],
}

/// Allocated CPU of groups of machines over time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Heatmap {
    /// `values[row][column]`: mean allocated CPU of the row's machines over the column.
    pub values: Vec<Vec<f32>>,
    /// Trace time (µs) bounds of each column.
    pub columns: Vec<(u64, u64)>,
    /// Machines per row (the last row may have fewer).
    pub machines_per_row: u64,
    pub machines: u64,
    /// Largest value, for the colour scale.
    pub max: f32,
}

/// A row of the top-machines table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MachineSummary {
    pub machine_id: u64,
    pub peak_cpu: f64,
    /// `window_start` of the first window at the peak.
    pub peak_at_us: u64,
    pub mean_cpu: f64,
    pub peak_memory: f64,
    pub task_events: u64,
    pub evictions: u64,
    pub failures: u64,
    pub kills: u64,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    pub width_us: u64,
    /// First and last window index.
    pub first_window: u64,
    pub last_window: u64,
    pub lines: u64,
    /// Cell lines.
    pub windows: u64,
    pub machine_lines: u64,
    pub machines: u64,
    pub task_events_by_type: [u64; 9],
    pub job_events_by_type: [u64; 9],
    /// Highest cell allocated CPU, running and pending tasks, with the window start.
    pub peak_cell_cpu: (f64, u64),
    pub peak_running: (u64, u64),
    pub peak_pending: (u64, u64),
    pub windows_per_point: u64,
    pub points: Vec<CellPoint>,
    pub windows_per_column: u64,
    pub heatmap: Heatmap,
    pub top: Vec<MachineSummary>,
    /// The windows carry capacities: cell and heatmap values are allocated / capacity.
    pub utilisation: bool,
    /// Machines up at the last window end, and the most over-committed machines in a
    /// window with its start (both 0 without machines).
    pub machines_up: u64,
    pub peak_overcommitted: (u64, u64),
}

impl Report {
    pub fn first_window_start(&self) -> u64 {
        self.first_window * self.width_us
    }

    pub fn last_window_end(&self) -> u64 {
        (self.last_window + 1) * self.width_us
    }

    pub fn task_events_total(&self) -> u64 {
        self.task_events_by_type.iter().sum()
    }

    pub fn job_events_total(&self) -> u64 {
        self.job_events_by_type.iter().sum()
    }
}

/// The streaming computation: push lines in file order, then [`Accumulator::finish`].
pub(crate) struct Accumulator {
    limits: Limits,
    /// Window width and the first line's window index, from the first line.
    start: Option<(u64, u64)>,
    last_window_start: u64,
    last_window: u64,
    lines: u64,
    windows: u64,
    machine_lines: u64,
    cell_grid: Grid,
    cells: Vec<CellBucket>,
    last_cell: Option<(u64, CellState)>,
    task_events_by_type: [u64; 9],
    job_events_by_type: [u64; 9],
    peak_cell_cpu: (f64, u64),
    peak_running: (u64, u64),
    peak_pending: (u64, u64),
    heat_grid: Grid,
    /// Machines in ascending ID order. The lines of a window come in that order too, so the
    /// machine of a line is found by walking forward from the previous line's (no hashing,
    /// and memory is read in order).
    machines: Vec<MachineAcc>,
    /// `machines[i].id`, apart: a small array that a search walks through quickly.
    ids: Vec<u64>,
    cursor: usize,
    utilisation: bool,
    machines_up: u64,
    peak_overcommitted: (u64, u64),
}

fn field(field: &str, reason: String) -> Problem {
    Problem::Field {
        field: field.into(),
        reason,
    }
}

impl Accumulator {
    pub fn new(limits: Limits) -> Self {
        Accumulator {
            limits,
            start: None,
            last_window_start: 0,
            last_window: 0,
            lines: 0,
            windows: 0,
            machine_lines: 0,
            cell_grid: Grid::new(0, limits.series_points),
            cells: Vec::new(),
            last_cell: None,
            task_events_by_type: [0; 9],
            job_events_by_type: [0; 9],
            peak_cell_cpu: (0.0, 0),
            peak_running: (0, 0),
            peak_pending: (0, 0),
            heat_grid: Grid::new(0, limits.heatmap_columns),
            machines: Vec::new(),
            ids: Vec::new(),
            cursor: 0,
            utilisation: false,
            machines_up: 0,
            peak_overcommitted: (0, 0),
        }
    }

    /// Adds one line; a [`Problem`] when it breaks the order or the window width.
    pub fn push(&mut self, line: &Line) -> Result<(), Problem> {
        let (ws, we) = (line.window_start(), line.window_end());
        if we <= ws {
            return Err(field(
                "window_end",
                format!("{we} is not after window_start {ws}"),
            ));
        }
        let width = we - ws;
        let (w0, _) = match self.start {
            Some(s) => s,
            None => {
                let first = ws / width;
                self.cell_grid = Grid::new(first, self.limits.series_points);
                self.heat_grid = Grid::new(first, self.limits.heatmap_columns);
                self.last_window_start = ws;
                self.start = Some((width, first));
                (width, first)
            }
        };
        if width != w0 {
            return Err(field(
                "window_end",
                format!("window width {width} µs differs from the first line's {w0} µs"),
            ));
        }
        if ws < self.last_window_start {
            return Err(field(
                "window_start",
                format!(
                    "{ws} is before the previous line's {}: lines must be in window order",
                    self.last_window_start
                ),
            ));
        }
        self.last_window_start = ws;
        let window = ws / width;
        self.last_window = window;
        self.lines += 1;
        let doublings = self.cell_grid.grow_to(window);
        merge_pairs(&mut self.cells, doublings, CellBucket::merge);
        let doublings = self.heat_grid.grow_to(window);
        if doublings > 0 {
            for acc in &mut self.machines {
                acc.flush();
                halve(&mut acc.heat, doublings);
                acc.open_bucket >>= doublings;
            }
        }
        match line {
            Line::Cell(c) => self.push_cell(window, c),
            Line::Machine(m) => self.push_machine(window, m),
        }
    }

    fn push_cell(&mut self, window: u64, c: &CellLine) -> Result<(), Problem> {
        let need = self.cell_grid.bucket(window) + 1;
        if self.cells.len() < need {
            self.cells.resize(need, CellBucket::default());
        }
        if let Some((prev, state)) = self.last_cell {
            if prev == window {
                return Err(field(
                    "kind",
                    format!("a second cell line for window_start {}", c.window_start),
                ));
            }
            let cells = &mut self.cells;
            self.cell_grid
                .for_range(prev + 1, window, |k, n| cells[k].add_state(&state, n));
        }
        // From the first cell line with machines on, values are fractions of capacity.
        self.utilisation |= c.machines_up.is_some_and(|n| n > 0);
        let (cpu, memory) = if self.utilisation {
            (
                c.allocated_cpu_fraction.unwrap_or(0.0),
                c.allocated_memory_fraction.unwrap_or(0.0),
            )
        } else {
            (c.allocated_cpu, c.allocated_memory)
        };
        self.machines_up = c.machines_up.unwrap_or(0);
        let over = c.overcommitted_machines.unwrap_or(0);
        if over > self.peak_overcommitted.0 {
            self.peak_overcommitted = (over, c.window_start);
        }
        let state = CellState {
            cpu,
            memory,
            running: c.running_tasks,
            pending: c.pending_tasks,
        };
        let b = &mut self.cells[need - 1];
        b.add_state(&state, 1);
        for (a, n) in b.task_events.iter_mut().zip(c.task_events) {
            *a += n;
        }
        for (a, n) in self.task_events_by_type.iter_mut().zip(c.task_events) {
            *a += n;
        }
        for (a, n) in self.job_events_by_type.iter_mut().zip(c.job_events) {
            *a += n;
        }
        if cpu > self.peak_cell_cpu.0 {
            self.peak_cell_cpu = (cpu, c.window_start);
        }
        if c.running_tasks > self.peak_running.0 {
            self.peak_running = (c.running_tasks, c.window_start);
        }
        if c.pending_tasks > self.peak_pending.0 {
            self.peak_pending = (c.pending_tasks, c.window_start);
        }
        self.last_cell = Some((window, state));
        self.windows += 1;
        Ok(())
    }

    fn push_machine(&mut self, window: u64, m: &MachineLine) -> Result<(), Problem> {
        let i = self.find_or_insert(m.machine_id, window);
        if self.machines[i].last_window == window && self.machines[i].lines > 0 {
            return Err(field(
                "machine_id",
                format!(
                    "a second line for machine {} in window_start {}",
                    m.machine_id, m.window_start
                ),
            ));
        }
        let grid = self.heat_grid;
        let value = if self.utilisation {
            m.allocated_cpu_fraction.unwrap_or(0.0)
        } else {
            m.allocated_cpu
        };
        let acc = &mut self.machines[i];
        let held = acc.last_cpu;
        acc.fill(&grid, acc.last_window + 1, window, held);
        acc.fill(&grid, window, window + 1, value);
        acc.last_window = window;
        acc.last_cpu = value;
        if m.peak_allocated_cpu > acc.peak_cpu {
            acc.peak_cpu = m.peak_allocated_cpu;
            acc.peak_at = m.window_start;
        }
        acc.peak_memory = acc.peak_memory.max(m.allocated_memory);
        acc.task_events += m.task_events;
        acc.evictions += m.evictions;
        acc.failures += m.failures;
        acc.kills += m.kills;
        acc.lines += 1;
        self.machine_lines += 1;
        Ok(())
    }

    /// The index of machine `id` in `machines`, inserted (with nothing yet) if new.
    fn find_or_insert(&mut self, id: u64, window: u64) -> usize {
        let ids = &self.ids;
        // Walk on from the previous line's machine while IDs ascend; otherwise search all.
        let from = if ids.get(self.cursor).is_some_and(|&x| x <= id) {
            self.cursor
        } else {
            0
        };
        let rest = &ids[from..];
        let step = rest
            .iter()
            .take(64)
            .position(|&x| x >= id)
            .unwrap_or_else(|| rest.partition_point(|&x| x < id));
        let i = from + step;
        if ids.get(i) != Some(&id) {
            self.ids.insert(i, id);
            self.machines.insert(
                i,
                MachineAcc {
                    id,
                    heat: vec![0.0; self.limits.heatmap_columns.max(1)].into_boxed_slice(),
                    open_bucket: 0,
                    open_sum: 0.0,
                    cpu_windows: 0.0,
                    last_window: window,
                    last_cpu: 0.0,
                    peak_cpu: f64::NEG_INFINITY,
                    peak_at: 0,
                    peak_memory: 0.0,
                    task_events: 0,
                    evictions: 0,
                    failures: 0,
                    kills: 0,
                    lines: 0,
                },
            );
        }
        self.cursor = i;
        i
    }

    /// The report, or `None` when no line was pushed.
    pub fn finish(mut self) -> Option<Report> {
        let (width, first) = self.start?;
        let last = self.last_window;
        let end = last + 1;
        // Hold the last states to the last window.
        if let Some((prev, state)) = self.last_cell {
            let cells = &mut self.cells;
            self.cell_grid
                .for_range(prev + 1, end, |k, n| cells[k].add_state(&state, n));
        }
        let grid = self.heat_grid;
        for acc in &mut self.machines {
            let held = acc.last_cpu;
            acc.fill(&grid, acc.last_window + 1, end, held);
            acc.flush();
        }

        let cg = self.cell_grid;
        let points = self
            .cells
            .iter()
            .enumerate()
            .filter(|(_, b)| b.windows > 0)
            .map(|(k, b)| {
                let w = b.windows as f64;
                let minutes = w * width as f64 / 60e6;
                CellPoint {
                    start_us: cg.start(k) * width,
                    end_us: cg.start(k + 1).min(end) * width,
                    windows: b.windows,
                    cpu_mean: b.cpu_sum / w,
                    cpu_max: b.cpu_max,
                    memory_mean: b.memory_sum / w,
                    memory_max: b.memory_max,
                    running_mean: b.running_sum / w,
                    running_max: b.running_max,
                    pending_mean: b.pending_sum / w,
                    pending_max: b.pending_max,
                    task_per_minute: b.task_events.map(|n| n as f64 / minutes),
                }
            })
            .collect();

        // Heatmap columns and each machine's mean over the span.
        let columns: Vec<(u64, u64)> = (0..=grid.bucket(last))
            .map(|k| (grid.start(k), grid.start(k + 1).min(end)))
            .collect();
        let span = (end - first) as f64;
        let mean = |acc: &MachineAcc| acc.cpu_windows / span;
        let mut order: Vec<(f64, u64, usize)> = self
            .machines
            .iter()
            .enumerate()
            .map(|(i, acc)| (mean(acc), acc.id, i))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let n = order.len() as u64;
        let per_row = n.div_ceil(self.limits.heatmap_rows.max(1) as u64).max(1);
        let mut values = Vec::new();
        let mut max = 0f32;
        for group in order.chunks(per_row as usize) {
            let row: Vec<f32> = columns
                .iter()
                .enumerate()
                .map(|(k, &(a, b))| {
                    let sum: f64 = group
                        .iter()
                        .map(|&(_, _, i)| {
                            f64::from(self.machines[i].heat.get(k).copied().unwrap_or(0.0))
                        })
                        .sum();
                    (sum / ((b - a) as f64 * group.len() as f64)) as f32
                })
                .collect();
            max = row.iter().copied().fold(max, f32::max);
            values.push(row);
        }
        let heatmap = Heatmap {
            values,
            columns: columns
                .iter()
                .map(|&(a, b)| (a * width, b * width))
                .collect(),
            machines_per_row: per_row,
            machines: n,
            max,
        };

        let mut by_peak: Vec<&MachineAcc> = self.machines.iter().collect();
        by_peak.sort_by(|a, b| b.peak_cpu.total_cmp(&a.peak_cpu).then(a.id.cmp(&b.id)));
        let top = by_peak
            .into_iter()
            .take(self.limits.top_machines)
            .map(|acc| MachineSummary {
                machine_id: acc.id,
                peak_cpu: acc.peak_cpu,
                peak_at_us: acc.peak_at,
                mean_cpu: mean(acc),
                peak_memory: acc.peak_memory,
                task_events: acc.task_events,
                evictions: acc.evictions,
                failures: acc.failures,
                kills: acc.kills,
            })
            .collect();

        Some(Report {
            width_us: width,
            first_window: first,
            last_window: last,
            lines: self.lines,
            windows: self.windows,
            machine_lines: self.machine_lines,
            machines: n,
            task_events_by_type: self.task_events_by_type,
            job_events_by_type: self.job_events_by_type,
            peak_cell_cpu: self.peak_cell_cpu,
            peak_running: self.peak_running,
            peak_pending: self.peak_pending,
            windows_per_point: cg.per_bucket(),
            points,
            windows_per_column: grid.per_bucket(),
            heatmap,
            top,
            utilisation: self.utilisation,
            machines_up: self.machines_up,
            peak_overcommitted: self.peak_overcommitted,
        })
    }
}

/// Reads a windows file (see [`read`]).
pub(crate) fn read_file(path: &Path, limits: &Limits) -> Result<Report, ReportError> {
    let file = File::open(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    read(BufReader::with_capacity(1 << 20, file), path, limits)
}

/// Reads windows JSON Lines from `input` (`path` names it in errors) line by line.
pub(crate) fn read<R: BufRead>(
    mut input: R,
    path: &Path,
    limits: &Limits,
) -> Result<Report, ReportError> {
    let mut acc = Accumulator::new(*limits);
    let read_err = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Lines are parsed where they lie in the reader's buffer; only a line that straddles two
    // reads is copied into `carry`.
    let mut carry = Vec::new();
    let mut line_no = 0u64;
    let mut line = |bytes: &[u8], complete: bool, acc: &mut Accumulator| {
        line_no += 1;
        let parsed = if bytes.is_empty() {
            Err(Problem::Syntax("empty line".into()))
        } else {
            parse_line(bytes)
        };
        parsed
            .and_then(|l| acc.push(&l))
            .map_err(|p| to_error(p, path, line_no, complete))
    };
    loop {
        let buf = input.fill_buf().map_err(read_err)?;
        if buf.is_empty() {
            break;
        }
        let mut used = 0;
        while let Some(n) = memchr::memchr(b'\n', &buf[used..]) {
            if carry.is_empty() {
                line(&buf[used..used + n], true, &mut acc)?;
            } else {
                carry.extend_from_slice(&buf[used..used + n]);
                line(&carry, true, &mut acc)?;
                carry.clear();
            }
            used += n + 1;
        }
        carry.extend_from_slice(&buf[used..]);
        let len = buf.len();
        input.consume(len);
    }
    if !carry.is_empty() {
        line(&carry, false, &mut acc)?;
    }
    acc.finish().ok_or_else(|| ReportError::Empty {
        path: path.to_path_buf(),
    })
}

/// The error for a rejected line: a file whose first line is not a window line is not a
/// windows file; a last line without end of line that stops mid-object is truncated.
fn to_error(p: Problem, path: &Path, line: u64, complete: bool) -> ReportError {
    let path = path.to_path_buf();
    match p {
        Problem::Eof(reason) if !complete => ReportError::Truncated { path, line, reason },
        Problem::Eof(reason) | Problem::Syntax(reason) | Problem::Kind(reason) if line == 1 => {
            ReportError::NotWindows { path, line, reason }
        }
        Problem::Eof(reason) | Problem::Syntax(reason) => {
            ReportError::InvalidJson { path, line, reason }
        }
        Problem::Kind(reason) => ReportError::InvalidField {
            path,
            line,
            field: "kind".into(),
            reason,
        },
        Problem::Field { field, reason } => ReportError::InvalidField {
            path,
            line,
            field,
            reason,
        },
    }
}

#[cfg(test)]
mod tests;
