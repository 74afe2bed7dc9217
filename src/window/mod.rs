//! Stage 6: per-machine tumbling windows over the globally ordered event stream.
//!
//! Pure logic (no I/O except the JSON Lines writer). The first implementation summed the
//! request of every event under a fake machine 0, kept unbounded state and lost the window in
//! its output (see docs/original-implementation.md); this stage tracks what is really allocated on each machine
//! from the task life cycle, attributes nothing to an unknown machine, closes every window
//! exactly once and keeps memory bounded by the live tasks and the machines.
//!
//! # Usage
//! ```
//! use tracepipe::window::{Aggregator, ClosedWindow, JsonLinesWriter, DEFAULT_WIDTH_US};
//! # fn events() -> Vec<tracepipe::trace::Event> { Vec::new() }
//! let mut agg = Aggregator::new(DEFAULT_WIDTH_US)?;
//! let mut out = JsonLinesWriter::new(Vec::new());
//! let mut io_error = None;
//! let mut emit = |w: &ClosedWindow| {
//!     if let Err(e) = out.write(w) { io_error.get_or_insert(e); }
//! };
//! for event in &events() {
//!     agg.push(event, &mut emit)?;
//! }
//! agg.finish(&mut emit);
//! # Ok::<(), tracepipe::window::WindowError>(())
//! ```
//!
//! # Windows
//! - Event-time tumbling windows `[k*w, (k+1)*w)` with `k = time / w` (w = 1 minute by
//!   default); time 0 falls in the first window. An event exactly at a window's end belongs to
//!   the next window.
//! - The input is ordered, so a window closes exactly when the first event at or after its end
//!   arrives (or at [`Aggregator::finish`]). Windows without any event (job, task or machine)
//!   produce nothing: no cell line, no machine line.
//! - Every window with at least one event produces one cell line; a window with only job
//!   events has a cell line and no machine line.
//! - After-the-end events (time 2^63-1 or 2^64-1) are counted apart
//!   ([`Aggregator::after_end_events`]), open no window and appear in no line: the first one
//!   closes the open window. They are still applied to the life-cycle state (and to the
//!   totals by type), which only the live accessors show.
//! - An event earlier than the previous one is an error ([`WindowError::OutOfOrder`]); pushing
//!   after `finish` is an error too.
//!
//! # Life cycle and allocation (keyed by (job ID, task index))
//! - SUBMIT: -> PENDING; SUBMIT requests are not allocations.
//! - SCHEDULE: -> RUNNING; adds the row's CPU and memory request (an empty field counts 0.0)
//!   to the row's machine and remembers (machine, cpu, mem). A SCHEDULE of a task already
//!   RUNNING replaces its allocation: subtract the remembered values from the remembered
//!   machine, then add the new row's (possibly on another machine). A SCHEDULE of a task never
//!   seen is accepted (it runs). Tasks running at the start appear at t=0 as a SUBMIT carrying
//!   a machine ID then a SCHEDULE: only the SCHEDULE allocates.
//! - **Decision**: a SCHEDULE without machine ID makes the task RUNNING somewhere unknown: it
//!   counts in the cell's `running_tasks`, allocates nothing on any machine (never on a
//!   machine 0) and is counted in [`Anomalies::schedules_without_machine`].
//! - UPDATE_RUNNING of a RUNNING task: for each non-empty field, subtract the remembered value
//!   from the remembered machine and add the new one, and remember it; an empty field keeps
//!   the old value. Always on the remembered machine, whatever the row's machine ID.
//!   UPDATE_RUNNING of a task not RUNNING and UPDATE_PENDING change nothing (counted).
//! - EVICT, FAIL, FINISH, KILL, LOST: a RUNNING task gives back its REMEMBERED values on its
//!   REMEMBERED machine (the row's machine ID is often empty); a PENDING task just dies
//!   (EVICTs of pending tasks change no allocation). The task is forgotten (DEAD = not stored).
//! - **Decision**: a SUBMIT of a RUNNING task (seen after missing trace parts: its death was
//!   not recorded) releases its allocation and makes it PENDING, as SUBMIT only applies to
//!   unsubmitted or dead tasks ([`Anomalies::submits_of_running`]).
//! - Floating point: allocations are updated incrementally in stream order (subtract old,
//!   add new); when a machine (resp. the cell) has no placed running task left its allocation
//!   is set to exactly 0.0, and values in (-1e-9, 0) are clamped to 0.0.
//!
//! # Machines and capacity (`machine_events`, when the stream has it)
//! - State per machine: ADD makes it up with the row's capacity (`CPUs`, `Memory`; an empty
//!   field makes that capacity unknown, never 0); UPDATE replaces each non-empty capacity
//!   field (an empty field keeps the old value) and leaves up/down as it is; REMOVE makes it
//!   down. **Decision**: REMOVE keeps the last known capacity (the real REMOVE rows repeat
//!   it), and its tasks end only through their own task events: a machine down keeps its
//!   allocation until their EVICT/LOST/KILL rows arrive.
//! - At equal times machine rows come before job and task rows (the merge order), so a machine
//!   added at t is up for the tasks scheduled on it at t.
//! - **Decision**: rows that do not follow the life cycle (never seen in the real table) are
//!   applied as written and counted: an ADD of a machine up replaces its capacity
//!   ([`Anomalies::machine_adds_of_up`]), a REMOVE of a machine not up leaves it down
//!   (`machine_removes_of_not_up`), an UPDATE of a machine not up updates its capacity and
//!   leaves its state (`machine_updates_of_not_up`).
//! - Machine line fields (at the window end): `up` (`true`/`false`; `null` before the
//!   machine's first machine event), `cpu_capacity`, `memory_capacity` (last known, `null`
//!   if unknown), `allocated_cpu_fraction`, `allocated_memory_fraction` (allocated /
//!   capacity when the capacity is known and positive, else `null`; whether the machine is
//!   up does not matter), `machine_events` (its machine events in the window). A machine
//!   has a line in a window where it has a machine event, even without task events.
//! - Cell line fields: `machine_events_by_type` (`ADD`, `REMOVE`, `UPDATE`, zeros included),
//!   `machines_up`, `cpu_capacity` and `memory_capacity` (sums of the known capacities of
//!   the machines up: a machine up with an unknown capacity adds nothing),
//!   `allocated_cpu_fraction` and `allocated_memory_fraction` (the cell's `allocated_*`, on
//!   every machine whether up or not, divided by the capacity; `null` when the capacity is
//!   0 or unknown), `overcommitted_machines` (machines up whose allocated CPU exceeds their
//!   known CPU capacity or whose allocated memory exceeds their known memory capacity, by
//!   more than [`ZERO_CLAMP`] so that rounding error is not over-commitment).
//! - Before the first machine event of the stream (so always, without `--machines`) the
//!   cell's capacities and fractions are `null` and its counts 0; machine lines have `up`,
//!   capacities and fractions `null` and `machine_events` 0.
//! - Floating point: the cell's capacity sums are updated incrementally in stream order (the
//!   machine's old share out, its new share in); with no machine up they are exactly 0.0,
//!   and values in (-1e-9, 0) become 0.0. The over-committed count is kept exact by
//!   re-checking a machine whenever its allocation, capacity or state changes.
//!
//! # Lines
//! - **Decision** on "machines with at least one task event": a machine has a line in a window
//!   when at least one task event of the window carries its machine ID **or** concerns a task
//!   RUNNING on it (remembered machine): a KILL with an empty machine ID of a task running on
//!   M gives M a line (`task_events` 0, `kills` 1). Allocation changes only through such
//!   events, so a machine without a line kept its allocation through the window.
//! - `task_events`, `cpu_request_sum`, `memory_request_sum` and the averages count only rows
//!   carrying the machine ID (every event type; empty requests skipped; avg = sum / number of
//!   non-empty values, `null` when none).
//! - `evictions` ... `losts`: terminal events attributed to the row's machine ID, else to the
//!   remembered machine of the running task, else to no machine.
//! - `allocated_*`, `running_tasks`: at the window end. `peak_allocated_cpu`: maximum of the
//!   machine's allocated CPU at the window start (= at its first event in the window) and
//!   after each of its events in the window.
//! - Cell line: `task_events_by_type` and `job_events_by_type` carry **all 9 type names with
//!   zeros** (fixed shape for consumers); `running_tasks` includes tasks running on an unknown
//!   machine; `allocated_*` is the sum over the machines (maintained incrementally).
//! - Field lists and their order: the structs [`CellWindow`] and [`MachineWindow`] (the
//!   JSON writer follows them; a test holds the two equal).
//! - Order: by window, the cell line first, then the machine lines by machine ID ascending.
//!
//! # Cost
//! One hash look-up of the task and one or two of machines per event (FxHash), no allocation
//! per event (per-window buffers are reused). Memory: the live tasks, the machines seen and
//! the machines of the open window.

mod aggregator;
mod hash;
mod output;
mod parquet;
mod tasks;
#[cfg(test)]
mod tests;

pub use aggregator::{
    Aggregator, Anomalies, CellState, MachineAllocation, WindowError, DEFAULT_WIDTH_US, ZERO_CLAMP,
};
pub use output::{
    write_json_lines, CellWindow, ClosedWindow, EventCounts, JsonLinesWriter, MachineEventCounts,
    MachineWindow, WindowSink,
};
pub use parquet::{schema_text as parquet_schema, ParquetWindowWriter, TRACE_EPOCH_UNIX_US};
