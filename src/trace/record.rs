//! Typed rows of the three trace tables, exactly as in the trace's schema.
//!
//! Optional fields are `Option`s: an empty CSV field is "missing", never 0 or "unknown"
//! (the first implementation summed unscheduled tasks under a fake machine 0).

use std::fmt;

/// `time` sentinel written by the trace for "after the end of the trace window" (2^63-1).
pub const TIME_AFTER_END: u64 = i64::MAX as u64;
/// The same sentinel as some public readers report it in raw task files (2^64-1).
pub const TIME_AFTER_END_U64: u64 = u64::MAX;
/// Trace time 0 is 2011-05-01T22:50:00Z (trace time 600 s is 2011-05-01 19:00 EDT).
pub const TRACE_EPOCH_UNIX_SECONDS: u64 = 1_304_290_200;

/// True for both "after the end of the trace window" sentinels.
pub fn is_after_end(time: u64) -> bool {
    time >= TIME_AFTER_END
}

/// Which table a row comes from. The ORDER (not the discriminant) matters: at equal times
/// machines sort before jobs before tasks, so a machine added at t exists before the tasks
/// scheduled on it at t. The discriminant is an index into per-table arrays: job and task
/// kept 0 and 1 when the machine table came, so two-table code paths did not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Job = 0,
    Task = 1,
    Machine = 2,
}

impl Table {
    /// Every table, in index order (job, task, machine).
    pub const ALL: [Table; 3] = [Table::Job, Table::Task, Table::Machine];

    pub fn name(self) -> &'static str {
        match self {
            Table::Job => "job",
            Table::Task => "task",
            Table::Machine => "machine",
        }
    }

    /// Number of CSV fields of a row of this table.
    pub fn field_count(self) -> usize {
        match self {
            Table::Job => 8,
            Table::Task => 13,
            Table::Machine => 6,
        }
    }

    /// Position in the global order at equal times: machine 0, job 1, task 2.
    pub fn order_rank(self) -> u8 {
        match self {
            Table::Machine => 0,
            Table::Job => 1,
            Table::Task => 2,
        }
    }

    /// Index into per-table arrays (job 0, task 1, machine 2).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl PartialOrd for Table {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// machine < job < task (the global order at equal times).
impl Ord for Table {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order_rank().cmp(&other.order_rank())
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Event types shared by jobs and tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum EventType {
    Submit = 0,
    Schedule = 1,
    Evict = 2,
    Fail = 3,
    Finish = 4,
    Kill = 5,
    Lost = 6,
    UpdatePending = 7,
    UpdateRunning = 8,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::Submit,
        EventType::Schedule,
        EventType::Evict,
        EventType::Fail,
        EventType::Finish,
        EventType::Kill,
        EventType::Lost,
        EventType::UpdatePending,
        EventType::UpdateRunning,
    ];

    pub fn from_code(code: u64) -> Option<EventType> {
        EventType::ALL.get(usize::try_from(code).ok()?).copied()
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// Upper-case name as in the trace documentation (`SUBMIT`, `UPDATE_RUNNING`, ...).
    pub fn name(self) -> &'static str {
        match self {
            EventType::Submit => "SUBMIT",
            EventType::Schedule => "SCHEDULE",
            EventType::Evict => "EVICT",
            EventType::Fail => "FAIL",
            EventType::Finish => "FINISH",
            EventType::Kill => "KILL",
            EventType::Lost => "LOST",
            EventType::UpdatePending => "UPDATE_PENDING",
            EventType::UpdateRunning => "UPDATE_RUNNING",
        }
    }

    /// EVICT, FAIL, FINISH, KILL, LOST: the task or job is dead afterwards.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventType::Evict
                | EventType::Fail
                | EventType::Finish
                | EventType::Kill
                | EventType::Lost
        )
    }
}

/// A numeric code that names no variant of an enum column (e.g. event type 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {code}")]
pub struct InvalidCode {
    /// The column, as in messages: `event type` or `missing info`.
    pub what: &'static str,
    pub code: u8,
}

impl TryFrom<u8> for EventType {
    type Error = InvalidCode;
    fn try_from(code: u8) -> Result<Self, InvalidCode> {
        EventType::from_code(code.into()).ok_or(InvalidCode {
            what: "event type",
            code,
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Event types of `machine_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum MachineEventType {
    /// The machine becomes available, with its capacity.
    Add = 0,
    /// It leaves the cluster (failure, maintenance); its tasks end through their own events.
    Remove = 1,
    /// Its available resources change.
    Update = 2,
}

impl MachineEventType {
    pub const ALL: [MachineEventType; 3] = [
        MachineEventType::Add,
        MachineEventType::Remove,
        MachineEventType::Update,
    ];

    pub fn from_code(code: u64) -> Option<MachineEventType> {
        MachineEventType::ALL
            .get(usize::try_from(code).ok()?)
            .copied()
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// `ADD`, `REMOVE`, `UPDATE`.
    pub fn name(self) -> &'static str {
        match self {
            MachineEventType::Add => "ADD",
            MachineEventType::Remove => "REMOVE",
            MachineEventType::Update => "UPDATE",
        }
    }
}

impl TryFrom<u8> for MachineEventType {
    type Error = InvalidCode;
    fn try_from(code: u8) -> Result<Self, InvalidCode> {
        MachineEventType::from_code(code.into()).ok_or(InvalidCode {
            what: "machine event type",
            code,
        })
    }
}

impl fmt::Display for MachineEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `missing info` column: why a record is synthesised or incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MissingInfo {
    SnapshotButNoTransition = 0,
    NoSnapshotOrTransition = 1,
    ExistsButNoCreation = 2,
}

impl MissingInfo {
    pub fn from_code(code: u64) -> Option<MissingInfo> {
        match code {
            0 => Some(MissingInfo::SnapshotButNoTransition),
            1 => Some(MissingInfo::NoSnapshotOrTransition),
            2 => Some(MissingInfo::ExistsButNoCreation),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for MissingInfo {
    type Error = InvalidCode;
    fn try_from(code: u8) -> Result<Self, InvalidCode> {
        MissingInfo::from_code(code.into()).ok_or(InvalidCode {
            what: "missing info",
            code,
        })
    }
}

/// One row of `job_events`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    pub time: u64,
    pub missing_info: Option<MissingInfo>,
    pub job_id: u64,
    pub event_type: EventType,
    pub user: Option<String>,
    pub scheduling_class: Option<u8>,
    pub job_name: Option<String>,
    pub logical_job_name: Option<String>,
}

/// One row of `task_events`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEvent {
    pub time: u64,
    pub missing_info: Option<MissingInfo>,
    pub job_id: u64,
    pub task_index: u64,
    pub machine_id: Option<u64>,
    pub event_type: EventType,
    pub user: Option<String>,
    pub scheduling_class: Option<u8>,
    pub priority: u8,
    pub cpu_request: Option<f64>,
    pub memory_request: Option<f64>,
    pub disk_space_request: Option<f64>,
    pub different_machines_restriction: Option<bool>,
}

/// One row of `machine_events`. Capacities are in the tasks' normalised unit (largest
/// machine = 1.0); an empty field is unknown, not 0.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineEvent {
    pub time: u64,
    pub machine_id: u64,
    pub event_type: MachineEventType,
    pub platform_id: Option<String>,
    pub cpus: Option<f64>,
    pub memory: Option<f64>,
}

/// A row of any table.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Job(JobEvent),
    Task(TaskEvent),
    Machine(MachineEvent),
}

impl Record {
    pub fn time(&self) -> u64 {
        match self {
            Record::Job(j) => j.time,
            Record::Task(t) => t.time,
            Record::Machine(m) => m.time,
        }
    }

    pub fn table(&self) -> Table {
        match self {
            Record::Job(_) => Table::Job,
            Record::Task(_) => Table::Task,
            Record::Machine(_) => Table::Machine,
        }
    }

    /// The Kafka key's ID: the job ID for jobs and tasks, the machine ID for machines.
    pub fn key_id(&self) -> u64 {
        match self {
            Record::Job(j) => j.job_id,
            Record::Task(t) => t.job_id,
            Record::Machine(m) => m.machine_id,
        }
    }

    /// The job ID of a job or task row; `None` for a machine row.
    pub fn job_id(&self) -> Option<u64> {
        match self {
            Record::Job(j) => Some(j.job_id),
            Record::Task(t) => Some(t.job_id),
            Record::Machine(_) => None,
        }
    }

    /// The record without its hash strings (user, job names): what the string-free decoder
    /// ([`crate::wire::decode_record_without_strings`]) returns.
    pub fn without_strings(mut self) -> Record {
        match &mut self {
            Record::Job(j) => {
                j.user = None;
                j.job_name = None;
                j.logical_job_name = None;
            }
            Record::Task(t) => t.user = None,
            Record::Machine(m) => m.platform_id = None,
        }
        self
    }
}

/// Where a row came from: for error messages and for the merge's tie-break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Part number `NNNNN` of `part-NNNNN-of-MMMMM.csv.gz`.
    pub part: u32,
    /// 1-based line number inside the decompressed part.
    pub line: u64,
}

/// A trace row with its place in the global order.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Global sequence number: 0, 1, 2, ... in (time, table, part, line) order, tables
    /// ordered machine < job < task.
    pub seq: u64,
    pub record: Record,
}
