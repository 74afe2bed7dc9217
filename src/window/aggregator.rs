//! The aggregator: task life cycle, machine allocation and the open tumbling window.
//!
//! See the module documentation of [`crate::window`] for the rules and the decisions taken.

use super::hash::FxHashMap;
use super::output::{CellWindow, ClosedWindow, EventCounts, MachineEventCounts, MachineWindow};
use super::tasks::{TaskState, TaskTable};
use crate::trace::{
    is_after_end, Event, EventType, MachineEvent, MachineEventType, Record, Table, TaskEvent,
    TIME_AFTER_END,
};

/// Default window width: 1 minute of trace time.
pub const DEFAULT_WIDTH_US: u64 = 60_000_000;

/// Allocation values in `(-ZERO_CLAMP, 0)` are rounding error and become exactly 0.0.
pub const ZERO_CLAMP: f64 = 1e-9;

/// Errors of the window stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("window width must be at least 1 microsecond (got 0)")]
    ZeroWidth,
    #[error(
        "event {seq} at time {time} us is earlier than the previous event ({last} us): \
         the window stage needs events in global time order"
    )]
    OutOfOrder { seq: u64, time: u64, last: u64 },
    #[error("event {seq} pushed after finish(): the window stage was already closed")]
    Finished { seq: u64 },
}

/// A machine's allocation and, when `epoch` is the open window's, its statistics in that window.
#[derive(Debug, Clone, Default)]
struct Machine {
    cpu: f64,
    mem: f64,
    running: u64,
    /// Epoch of the window these statistics belong to (0: none yet).
    epoch: u64,
    task_events: u64,
    cpu_sum: f64,
    cpu_n: u64,
    mem_sum: f64,
    mem_n: u64,
    peak_cpu: f64,
    /// EVICT, FAIL, FINISH, KILL, LOST (index = type code - 2).
    terminal: [u64; 5],
    /// Machine events of the open window (when `epoch` is the open window's).
    machine_events: u64,
    /// From `machine_events`: up or removed; `None` before its first machine event.
    up: Option<bool>,
    cpu_capacity: Option<f64>,
    mem_capacity: Option<f64>,
    /// Counted in [`CellState::overcommitted_machines`].
    over: bool,
}

impl Machine {
    /// Up, with a known capacity that its allocation exceeds (by more than rounding error).
    fn is_overcommitted(&self) -> bool {
        self.up == Some(true)
            && (self.cpu_capacity.is_some_and(|c| self.cpu > c + ZERO_CLAMP)
                || self.mem_capacity.is_some_and(|c| self.mem > c + ZERO_CLAMP))
    }
}

/// `allocated / capacity` when the capacity is known and positive.
fn fraction(allocated: f64, capacity: Option<f64>) -> Option<f64> {
    capacity.filter(|&c| c > 0.0).map(|c| allocated / c)
}

/// Cell totals now (not per window).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CellState {
    /// Tasks RUNNING, including those scheduled without a machine ID.
    pub running_tasks: u64,
    pub pending_tasks: u64,
    /// Running tasks placed on a known machine (the ones that allocate).
    pub placed_tasks: u64,
    pub allocated_cpu: f64,
    pub allocated_memory: f64,
    /// Machines up (from `machine_events`).
    pub machines_up: u64,
    /// Sums of the known capacities of the machines up (0.0 when none is up).
    pub cpu_capacity: f64,
    pub memory_capacity: f64,
    /// Machines up whose allocation exceeds their known capacity.
    pub overcommitted_machines: u64,
    /// At least one machine event was pushed: the capacity fields mean something.
    pub has_machines: bool,
}

impl CellState {
    /// Cell allocated CPU / capacity; `None` without machines or with a capacity of 0.
    pub fn allocated_cpu_fraction(&self) -> Option<f64> {
        fraction(
            self.allocated_cpu,
            self.has_machines.then_some(self.cpu_capacity),
        )
    }

    /// Cell allocated memory / capacity; `None` without machines or with a capacity of 0.
    pub fn allocated_memory_fraction(&self) -> Option<f64> {
        fraction(
            self.allocated_memory,
            self.has_machines.then_some(self.memory_capacity),
        )
    }
}

/// A machine's allocation and capacity now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineAllocation {
    pub machine_id: u64,
    pub allocated_cpu: f64,
    pub allocated_memory: f64,
    pub running_tasks: u64,
    /// `None` before its first machine event.
    pub up: Option<bool>,
    pub cpu_capacity: Option<f64>,
    pub memory_capacity: Option<f64>,
}

impl MachineAllocation {
    fn of(machine_id: u64, m: &Machine) -> Self {
        MachineAllocation {
            machine_id,
            allocated_cpu: m.cpu,
            allocated_memory: m.mem,
            running_tasks: m.running,
            up: m.up,
            cpu_capacity: m.cpu_capacity,
            memory_capacity: m.mem_capacity,
        }
    }

    /// Allocated / capacity when the capacity is known and positive.
    pub fn allocated_cpu_fraction(&self) -> Option<f64> {
        fraction(self.allocated_cpu, self.cpu_capacity)
    }

    pub fn allocated_memory_fraction(&self) -> Option<f64> {
        fraction(self.allocated_memory, self.memory_capacity)
    }
}

/// Rows that do not follow the documented life cycle, counted (they are all handled, see the
/// module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// SCHEDULE rows without machine ID (the task runs, allocating nothing).
    pub schedules_without_machine: u64,
    /// SCHEDULE of a task already RUNNING (its allocation is replaced).
    pub schedules_of_running: u64,
    /// SCHEDULE of a task never seen or dead (no SUBMIT before; it runs).
    pub schedules_of_unknown: u64,
    /// SUBMIT of a RUNNING task (its unseen death is implied: allocation released).
    pub submits_of_running: u64,
    /// SUBMIT of a task already PENDING (stays pending).
    pub submits_of_pending: u64,
    /// Terminal events (EVICT, FAIL, FINISH, KILL, LOST) of a PENDING task.
    pub terminal_of_pending: u64,
    /// Terminal events of a task never seen or already dead.
    pub terminal_of_unknown: u64,
    /// Terminal row of a running task carrying another machine ID than the remembered one.
    pub terminal_machine_mismatch: u64,
    /// UPDATE_RUNNING of a task that is not RUNNING (ignored).
    pub update_running_not_running: u64,
    /// UPDATE_RUNNING row carrying another machine ID than the remembered one.
    pub update_running_machine_mismatch: u64,
    /// UPDATE_PENDING of a task that is not PENDING (ignored).
    pub update_pending_not_pending: u64,
    /// Machine ADD of a machine already up (its capacity is replaced by the row's).
    pub machine_adds_of_up: u64,
    /// Machine REMOVE of a machine not up (it stays down).
    pub machine_removes_of_not_up: u64,
    /// Machine UPDATE of a machine not up (the capacity is updated; the state is unchanged).
    pub machine_updates_of_not_up: u64,
}

/// Per-machine tumbling-window aggregator over the globally ordered event stream.
#[derive(Debug)]
pub struct Aggregator {
    width: u64,
    tasks: TaskTable,
    machines: FxHashMap<u64, Machine>,
    /// Machines with statistics in the open window, in first-touch order.
    touched: Vec<u64>,
    /// Index (`time / width`) of the open window.
    open: Option<u64>,
    /// Counter of opened windows; machine statistics with another epoch are stale.
    epoch: u64,
    win_tasks: EventCounts,
    win_jobs: EventCounts,
    win_machines: MachineEventCounts,
    cell: CellState,
    total_tasks: EventCounts,
    total_jobs: EventCounts,
    total_machines: MachineEventCounts,
    events: u64,
    after_end: u64,
    windows_closed: u64,
    /// Ordering key of the last event (after-the-end times folded onto 2^63-1).
    last_key: Option<u64>,
    last_time: Option<u64>,
    finished: bool,
    anomalies: Anomalies,
    /// Reused buffer of the window being emitted, then the last closed window.
    closed: ClosedWindow,
    has_closed: bool,
}

#[inline]
fn clamp_tiny_negative(x: &mut f64) {
    if *x < 0.0 && *x > -ZERO_CLAMP {
        *x = 0.0;
    }
}

/// Keeps [`CellState::overcommitted_machines`] equal to the machines that are over now.
#[inline]
fn refresh_over(m: &mut Machine, c: &mut CellState) {
    let over = m.is_overcommitted();
    if over != m.over {
        m.over = over;
        if over {
            c.overcommitted_machines += 1;
        } else {
            c.overcommitted_machines -= 1;
        }
    }
}

/// Starts the machine's statistics for the open window if this is its first event in it.
#[inline]
fn touch<'a>(
    machines: &'a mut FxHashMap<u64, Machine>,
    touched: &mut Vec<u64>,
    epoch: u64,
    id: u64,
) -> &'a mut Machine {
    let m = machines.entry(id).or_default();
    if m.epoch != epoch {
        m.epoch = epoch;
        m.task_events = 0;
        m.cpu_sum = 0.0;
        m.cpu_n = 0;
        m.mem_sum = 0.0;
        m.mem_n = 0;
        m.peak_cpu = m.cpu; // the value at the window start
        m.terminal = [0; 5];
        m.machine_events = 0;
        touched.push(id);
    }
    m
}

impl Aggregator {
    /// An aggregator with windows of `width_us` microseconds (`[k*w, (k+1)*w)`).
    pub fn new(width_us: u64) -> Result<Self, WindowError> {
        if width_us == 0 {
            return Err(WindowError::ZeroWidth);
        }
        Ok(Aggregator {
            width: width_us,
            tasks: TaskTable::default(),
            machines: FxHashMap::default(),
            touched: Vec::new(),
            open: None,
            epoch: 0,
            win_tasks: EventCounts::default(),
            win_jobs: EventCounts::default(),
            win_machines: MachineEventCounts::default(),
            cell: CellState::default(),
            total_tasks: EventCounts::default(),
            total_jobs: EventCounts::default(),
            total_machines: MachineEventCounts::default(),
            events: 0,
            after_end: 0,
            windows_closed: 0,
            last_key: None,
            last_time: None,
            finished: false,
            anomalies: Anomalies::default(),
            closed: ClosedWindow::default(),
            has_closed: false,
        })
    }

    /// Feeds one event (events must come in global order: time never decreases). Calls `emit`
    /// once for the window this event closes, if any (the open window closes when an event at
    /// or after its end arrives; empty windows in between emit nothing).
    pub fn push<F: FnMut(&ClosedWindow)>(
        &mut self,
        event: &Event,
        emit: F,
    ) -> Result<(), WindowError> {
        self.push_record(event.seq, &event.record, emit)
    }

    /// [`push`](Self::push) for a record and its sequence number (used in error messages only).
    pub fn push_record<F: FnMut(&ClosedWindow)>(
        &mut self,
        seq: u64,
        record: &Record,
        emit: F,
    ) -> Result<(), WindowError> {
        if self.finished {
            return Err(WindowError::Finished { seq });
        }
        let time = record.time();
        let key = time.min(TIME_AFTER_END);
        if let Some(last) = self.last_key {
            if key < last {
                return Err(WindowError::OutOfOrder {
                    seq,
                    time,
                    last: self.last_time.unwrap_or(last),
                });
            }
        }
        self.last_key = Some(key);
        self.last_time = Some(time);
        self.events += 1;

        let in_window = !is_after_end(time);
        if in_window {
            let index = time / self.width;
            if self.open != Some(index) {
                self.close_open(emit);
                self.open = Some(index);
                self.epoch += 1;
            }
        } else {
            self.after_end += 1;
            self.close_open(emit);
        }

        match record {
            Record::Job(j) => {
                self.total_jobs.add(j.event_type);
                if in_window {
                    self.win_jobs.add(j.event_type);
                }
            }
            Record::Task(t) => {
                self.total_tasks.add(t.event_type);
                if in_window {
                    self.win_tasks.add(t.event_type);
                }
                self.task_event(t, in_window);
            }
            Record::Machine(m) => {
                self.total_machines.add(m.event_type);
                if in_window {
                    self.win_machines.add(m.event_type);
                }
                self.machine_event(m, in_window);
            }
        }
        Ok(())
    }

    /// ADD: up with the row's capacity (an empty field is unknown); UPDATE: each non-empty
    /// field replaces the old value; REMOVE: down (its tasks end only through their own
    /// events). The cell's capacity sums follow incrementally: the machine's old share is
    /// taken out and its new share put in.
    fn machine_event(&mut self, e: &MachineEvent, in_window: bool) {
        let epoch = self.epoch;
        let m = if in_window {
            let m = touch(&mut self.machines, &mut self.touched, epoch, e.machine_id);
            m.machine_events += 1;
            m
        } else {
            self.machines.entry(e.machine_id).or_default()
        };
        let c = &mut self.cell;
        c.has_machines = true;
        let was_up = m.up == Some(true);
        if was_up {
            c.machines_up -= 1;
            if let Some(v) = m.cpu_capacity {
                c.cpu_capacity -= v;
            }
            if let Some(v) = m.mem_capacity {
                c.memory_capacity -= v;
            }
        }
        match e.event_type {
            MachineEventType::Add => {
                if was_up {
                    self.anomalies.machine_adds_of_up += 1;
                }
                m.up = Some(true);
                m.cpu_capacity = e.cpus;
                m.mem_capacity = e.memory;
            }
            MachineEventType::Update => {
                if !was_up {
                    self.anomalies.machine_updates_of_not_up += 1;
                }
                m.cpu_capacity = e.cpus.or(m.cpu_capacity);
                m.mem_capacity = e.memory.or(m.mem_capacity);
            }
            MachineEventType::Remove => {
                if !was_up {
                    self.anomalies.machine_removes_of_not_up += 1;
                }
                m.up = Some(false);
            }
        }
        if m.up == Some(true) {
            c.machines_up += 1;
            if let Some(v) = m.cpu_capacity {
                c.cpu_capacity += v;
            }
            if let Some(v) = m.mem_capacity {
                c.memory_capacity += v;
            }
        }
        if c.machines_up == 0 {
            c.cpu_capacity = 0.0;
            c.memory_capacity = 0.0;
        } else {
            clamp_tiny_negative(&mut c.cpu_capacity);
            clamp_tiny_negative(&mut c.memory_capacity);
        }
        refresh_over(m, c);
    }

    /// End of stream: closes the open window (if any). Further pushes are errors.
    pub fn finish<F: FnMut(&ClosedWindow)>(&mut self, emit: F) {
        self.close_open(emit);
        self.finished = true;
    }

    fn task_event(&mut self, t: &TaskEvent, in_window: bool) {
        let key = (t.job_id, t.task_index);
        let prev = self.tasks.get(&key);
        let remembered = match prev {
            Some(TaskState::Running { machine, .. }) => machine,
            _ => None,
        };
        let epoch = self.epoch;

        // Window statistics: the row's machine gets the event and its requests; the remembered
        // machine of a running task gets a line too (its allocation may change); terminal
        // counts go to the row's machine, else to the remembered one.
        if in_window {
            if let Some(id) = t.machine_id {
                let m = touch(&mut self.machines, &mut self.touched, epoch, id);
                m.task_events += 1;
                if let Some(c) = t.cpu_request {
                    m.cpu_sum += c;
                    m.cpu_n += 1;
                }
                if let Some(c) = t.memory_request {
                    m.mem_sum += c;
                    m.mem_n += 1;
                }
            }
            if let Some(id) = remembered {
                touch(&mut self.machines, &mut self.touched, epoch, id);
            }
            if t.event_type.is_terminal() {
                if let Some(id) = t.machine_id.or(remembered) {
                    let m = touch(&mut self.machines, &mut self.touched, epoch, id);
                    m.terminal[usize::from(t.event_type.code() - 2)] += 1;
                }
            }
        }

        match t.event_type {
            EventType::Submit => {
                match prev {
                    Some(TaskState::Running { machine, cpu, mem }) => {
                        self.anomalies.submits_of_running += 1;
                        self.release(machine, cpu, mem);
                        self.cell.running_tasks -= 1;
                        self.cell.pending_tasks += 1;
                    }
                    Some(TaskState::Pending) => self.anomalies.submits_of_pending += 1,
                    None => self.cell.pending_tasks += 1,
                }
                self.tasks.insert(key, TaskState::Pending);
            }
            EventType::Schedule => {
                match prev {
                    Some(TaskState::Running { machine, cpu, mem }) => {
                        self.anomalies.schedules_of_running += 1;
                        self.release(machine, cpu, mem);
                    }
                    Some(TaskState::Pending) => {
                        self.cell.pending_tasks -= 1;
                        self.cell.running_tasks += 1;
                    }
                    None => {
                        self.anomalies.schedules_of_unknown += 1;
                        self.cell.running_tasks += 1;
                    }
                }
                let cpu = t.cpu_request.unwrap_or(0.0);
                let mem = t.memory_request.unwrap_or(0.0);
                match t.machine_id {
                    Some(id) => self.allocate(id, cpu, mem),
                    None => self.anomalies.schedules_without_machine += 1,
                }
                self.tasks.insert(
                    key,
                    TaskState::Running {
                        machine: t.machine_id,
                        cpu,
                        mem,
                    },
                );
            }
            EventType::Evict
            | EventType::Fail
            | EventType::Finish
            | EventType::Kill
            | EventType::Lost => {
                match prev {
                    Some(TaskState::Running { machine, cpu, mem }) => {
                        if t.machine_id.is_some() && machine.is_some() && t.machine_id != machine {
                            self.anomalies.terminal_machine_mismatch += 1;
                        }
                        self.release(machine, cpu, mem);
                        self.cell.running_tasks -= 1;
                    }
                    Some(TaskState::Pending) => {
                        self.anomalies.terminal_of_pending += 1;
                        self.cell.pending_tasks -= 1;
                    }
                    None => self.anomalies.terminal_of_unknown += 1,
                }
                if prev.is_some() {
                    self.tasks.remove(&key);
                }
            }
            EventType::UpdatePending => {
                if prev != Some(TaskState::Pending) {
                    self.anomalies.update_pending_not_pending += 1;
                }
            }
            EventType::UpdateRunning => match prev {
                Some(TaskState::Running { machine, cpu, mem }) => {
                    if t.machine_id.is_some() && machine.is_some() && t.machine_id != machine {
                        self.anomalies.update_running_machine_mismatch += 1;
                    }
                    let new_cpu = t.cpu_request.unwrap_or(cpu);
                    let new_mem = t.memory_request.unwrap_or(mem);
                    if let Some(id) = machine {
                        let cpu_change = t.cpu_request.map(|c| (cpu, c));
                        let mem_change = t.memory_request.map(|c| (mem, c));
                        self.update(id, cpu_change, mem_change);
                    }
                    self.tasks.insert(
                        key,
                        TaskState::Running {
                            machine,
                            cpu: new_cpu,
                            mem: new_mem,
                        },
                    );
                }
                _ => self.anomalies.update_running_not_running += 1,
            },
        }
    }

    /// A running task leaves `machine` (if known): subtract its remembered requests. When the
    /// machine (or the cell) has no placed task left, its allocation is exactly 0.0.
    fn release(&mut self, machine: Option<u64>, cpu: f64, mem: f64) {
        let Some(id) = machine else { return };
        let m = self.machines.entry(id).or_default();
        m.running -= 1;
        m.cpu -= cpu;
        m.mem -= mem;
        if m.running == 0 {
            m.cpu = 0.0;
            m.mem = 0.0;
        } else {
            clamp_tiny_negative(&mut m.cpu);
            clamp_tiny_negative(&mut m.mem);
        }
        let c = &mut self.cell;
        refresh_over(m, c);
        c.placed_tasks -= 1;
        c.allocated_cpu -= cpu;
        c.allocated_memory -= mem;
        if c.placed_tasks == 0 {
            c.allocated_cpu = 0.0;
            c.allocated_memory = 0.0;
        } else {
            clamp_tiny_negative(&mut c.allocated_cpu);
            clamp_tiny_negative(&mut c.allocated_memory);
        }
    }

    /// A task starts running on machine `id` with these requests.
    fn allocate(&mut self, id: u64, cpu: f64, mem: f64) {
        let epoch = self.epoch;
        let m = self.machines.entry(id).or_default();
        m.running += 1;
        m.cpu += cpu;
        m.mem += mem;
        if m.epoch == epoch && m.cpu > m.peak_cpu {
            m.peak_cpu = m.cpu;
        }
        let c = &mut self.cell;
        refresh_over(m, c);
        c.placed_tasks += 1;
        c.allocated_cpu += cpu;
        c.allocated_memory += mem;
    }

    /// UPDATE_RUNNING on machine `id`: for each present field, subtract the old value and add
    /// the new one (`(old, new)`).
    fn update(&mut self, id: u64, cpu: Option<(f64, f64)>, mem: Option<(f64, f64)>) {
        let epoch = self.epoch;
        let m = self.machines.entry(id).or_default();
        let c = &mut self.cell;
        if let Some((old, new)) = cpu {
            m.cpu -= old;
            m.cpu += new;
            clamp_tiny_negative(&mut m.cpu);
            c.allocated_cpu -= old;
            c.allocated_cpu += new;
            clamp_tiny_negative(&mut c.allocated_cpu);
        }
        if let Some((old, new)) = mem {
            m.mem -= old;
            m.mem += new;
            clamp_tiny_negative(&mut m.mem);
            c.allocated_memory -= old;
            c.allocated_memory += new;
            clamp_tiny_negative(&mut c.allocated_memory);
        }
        if m.epoch == epoch && m.cpu > m.peak_cpu {
            m.peak_cpu = m.cpu;
        }
        refresh_over(m, c);
    }

    /// Closes the open window (if any) and hands it to `emit`.
    fn close_open<F: FnMut(&ClosedWindow)>(&mut self, mut emit: F) {
        let Some(index) = self.open.take() else {
            return;
        };
        let start = index * self.width;
        let end = start.saturating_add(self.width);
        self.closed.cell = CellWindow {
            window_start: start,
            window_end: end,
            task_events_by_type: self.win_tasks,
            job_events_by_type: self.win_jobs,
            running_tasks: self.cell.running_tasks,
            pending_tasks: self.cell.pending_tasks,
            allocated_cpu: self.cell.allocated_cpu,
            allocated_memory: self.cell.allocated_memory,
            machine_events_by_type: self.win_machines,
            machines_up: self.cell.machines_up,
            cpu_capacity: self.cell.has_machines.then_some(self.cell.cpu_capacity),
            memory_capacity: self.cell.has_machines.then_some(self.cell.memory_capacity),
            allocated_cpu_fraction: self.cell.allocated_cpu_fraction(),
            allocated_memory_fraction: self.cell.allocated_memory_fraction(),
            overcommitted_machines: self.cell.overcommitted_machines,
        };
        self.touched.sort_unstable();
        self.closed.machines.clear();
        for &id in &self.touched {
            let m = &self.machines[&id];
            self.closed.machines.push(MachineWindow {
                window_start: start,
                window_end: end,
                machine_id: id,
                task_events: m.task_events,
                cpu_request_sum: m.cpu_sum,
                memory_request_sum: m.mem_sum,
                cpu_request_avg: (m.cpu_n > 0).then(|| m.cpu_sum / m.cpu_n as f64),
                memory_request_avg: (m.mem_n > 0).then(|| m.mem_sum / m.mem_n as f64),
                allocated_cpu: m.cpu,
                allocated_memory: m.mem,
                running_tasks: m.running,
                peak_allocated_cpu: m.peak_cpu,
                evictions: m.terminal[0],
                failures: m.terminal[1],
                finishes: m.terminal[2],
                kills: m.terminal[3],
                losts: m.terminal[4],
                up: m.up,
                cpu_capacity: m.cpu_capacity,
                memory_capacity: m.mem_capacity,
                allocated_cpu_fraction: fraction(m.cpu, m.cpu_capacity),
                allocated_memory_fraction: fraction(m.mem, m.mem_capacity),
                machine_events: m.machine_events,
            });
        }
        self.touched.clear();
        self.win_tasks.clear();
        self.win_jobs.clear();
        self.win_machines.clear();
        self.windows_closed += 1;
        self.has_closed = true;
        // Statistics of the closed window's machines are stale from now on.
        self.epoch += 1;
        emit(&self.closed);
    }

    // ---- accessors (live metrics) ----

    pub fn width_us(&self) -> u64 {
        self.width
    }

    /// `[start, end)` of the open window, if any.
    pub fn open_window(&self) -> Option<(u64, u64)> {
        self.open.map(|i| {
            let s = i * self.width;
            (s, s.saturating_add(self.width))
        })
    }

    /// The last window handed to `emit`, if any.
    pub fn last_closed(&self) -> Option<&ClosedWindow> {
        self.has_closed.then_some(&self.closed)
    }

    /// Current cell totals (after every event pushed so far).
    pub fn cell(&self) -> CellState {
        self.cell
    }

    /// Current allocation of every machine seen so far (any order).
    pub fn machines(&self) -> impl Iterator<Item = MachineAllocation> + '_ {
        self.machines
            .iter()
            .map(|(&id, m)| MachineAllocation::of(id, m))
    }

    /// Current allocation of one machine.
    pub fn machine(&self, machine_id: u64) -> Option<MachineAllocation> {
        self.machines
            .get(&machine_id)
            .map(|m| MachineAllocation::of(machine_id, m))
    }

    /// Machines seen so far.
    pub fn machine_count(&self) -> usize {
        self.machines.len()
    }

    /// Tasks currently PENDING or RUNNING (the size of the life-cycle state).
    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Events pushed so far, by type, for the job or task table (after-the-end events
    /// included). Machine events have their own types: [`Self::machine_events_by_type`]
    /// (here they are all zeros).
    pub fn events_by_type(&self, table: Table) -> &EventCounts {
        static NONE: EventCounts = EventCounts([0; 9]);
        match table {
            Table::Job => &self.total_jobs,
            Table::Task => &self.total_tasks,
            Table::Machine => &NONE,
        }
    }

    /// Machine events pushed so far, by type.
    pub fn machine_events_by_type(&self) -> &MachineEventCounts {
        &self.total_machines
    }

    /// Events pushed so far (all tables, after-the-end events included).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Events with an after-the-end time (2^63-1 or 2^64-1): in no window.
    pub fn after_end_events(&self) -> u64 {
        self.after_end
    }

    pub fn windows_closed(&self) -> u64 {
        self.windows_closed
    }

    /// Time of the last event pushed (raw, after-the-end sentinels as read).
    pub fn last_event_time(&self) -> Option<u64> {
        self.last_time
    }

    pub fn anomalies(&self) -> &Anomalies {
        &self.anomalies
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
}
