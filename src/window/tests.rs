//! Unit tests of the window stage (no I/O).

use super::*;
use crate::trace::{
    Event, EventType, JobEvent, MachineEvent, MachineEventType, Record, Table, TaskEvent,
    TIME_AFTER_END, TIME_AFTER_END_U64,
};
use proptest::prelude::*;
use EventType::*;

const W: u64 = 60_000_000;
const M1: u64 = 5_000_000_001; // above 2^32: IDs are 64-bit
const M2: u64 = 7;

struct Feed {
    agg: Aggregator,
    seq: u64,
    out: Vec<ClosedWindow>,
}

impl Feed {
    fn new() -> Self {
        Feed {
            agg: Aggregator::new(W).unwrap(),
            seq: 0,
            out: Vec::new(),
        }
    }

    fn push(&mut self, record: Record) -> &mut Self {
        let event = Event {
            seq: self.seq,
            record,
        };
        self.seq += 1;
        let out = &mut self.out;
        self.agg.push(&event, |w| out.push(w.clone())).unwrap();
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn task(
        &mut self,
        time: u64,
        job: u64,
        index: u64,
        machine: Option<u64>,
        event_type: EventType,
        cpu: Option<f64>,
        mem: Option<f64>,
    ) -> &mut Self {
        self.push(task(time, job, index, machine, event_type, cpu, mem))
    }

    fn job(&mut self, time: u64, job_id: u64, event_type: EventType) -> &mut Self {
        self.push(Record::Job(JobEvent {
            time,
            missing_info: None,
            job_id,
            event_type,
            user: None,
            scheduling_class: None,
            job_name: None,
            logical_job_name: None,
        }))
    }

    fn machine(
        &mut self,
        time: u64,
        machine_id: u64,
        event_type: MachineEventType,
        cpus: Option<f64>,
        memory: Option<f64>,
    ) -> &mut Self {
        self.push(machine(time, machine_id, event_type, cpus, memory))
    }

    fn finish(&mut self) -> &mut Self {
        let out = &mut self.out;
        self.agg.finish(|w| out.push(w.clone()));
        self
    }

    fn windows(&self) -> &[ClosedWindow] {
        &self.out
    }

    fn line(&self, window_start: u64, machine: u64) -> &MachineWindow {
        self.out
            .iter()
            .find(|w| w.window_start() == window_start)
            .and_then(|w| w.machines.iter().find(|m| m.machine_id == machine))
            .unwrap_or_else(|| panic!("no line for machine {machine} at {window_start}"))
    }

    fn alloc(&self, machine: u64) -> (f64, f64, u64) {
        let m = self.agg.machine(machine).expect("machine seen");
        (m.allocated_cpu, m.allocated_memory, m.running_tasks)
    }
}

fn task(
    time: u64,
    job_id: u64,
    task_index: u64,
    machine_id: Option<u64>,
    event_type: EventType,
    cpu_request: Option<f64>,
    memory_request: Option<f64>,
) -> Record {
    Record::Task(TaskEvent {
        time,
        missing_info: None,
        job_id,
        task_index,
        machine_id,
        event_type,
        user: None,
        scheduling_class: None,
        priority: 0,
        cpu_request,
        memory_request,
        disk_space_request: None,
        different_machines_restriction: None,
    })
}

fn machine(
    time: u64,
    machine_id: u64,
    event_type: MachineEventType,
    cpus: Option<f64>,
    memory: Option<f64>,
) -> Record {
    Record::Machine(MachineEvent {
        time,
        machine_id,
        event_type,
        platform_id: None,
        cpus,
        memory,
    })
}

use MachineEventType::{Add, Remove, Update};

#[test]
fn machine_add_update_remove_and_capacity_fields() {
    let mut f = Feed::new();
    f.machine(0, M1, Add, Some(0.5), Some(0.25));
    f.machine(0, M2, Add, None, Some(0.5)); // CPU capacity unknown
    f.task(0, 1, 0, Some(M1), Schedule, Some(0.25), Some(0.125));
    f.task(0, 1, 1, Some(M2), Schedule, Some(0.25), Some(0.75)); // over its memory
    f.task(W, 1, 0, Some(M1), Finish, None, None);
    f.machine(W + 1, M1, Update, Some(1.0), None); // memory kept
    f.machine(2 * W, M2, Remove, Some(0.5), Some(0.5)); // its task keeps running
    f.finish();
    let w0 = &f.windows()[0];
    let c = &w0.cell;
    assert_eq!(c.machine_events_by_type.0, [2, 0, 0]);
    assert_eq!(c.machines_up, 2);
    assert_eq!(c.cpu_capacity, Some(0.5), "unknown capacities are left out");
    assert_eq!(c.memory_capacity, Some(0.75));
    assert_eq!(c.allocated_cpu_fraction, Some(0.5 / 0.5));
    assert_eq!(c.allocated_memory_fraction, Some(0.875 / 0.75));
    assert_eq!(c.overcommitted_machines, 1);
    let m = f.line(0, M1);
    assert_eq!(
        (m.up, m.cpu_capacity, m.memory_capacity),
        (Some(true), Some(0.5), Some(0.25))
    );
    assert_eq!(m.allocated_cpu_fraction, Some(0.5));
    assert_eq!(m.allocated_memory_fraction, Some(0.5));
    assert_eq!(m.machine_events, 1);
    let m = f.line(0, M2);
    assert_eq!((m.cpu_capacity, m.allocated_cpu_fraction), (None, None));
    assert_eq!(m.allocated_memory_fraction, Some(1.5));

    let w1 = &f.windows()[1];
    assert_eq!(w1.cell.machine_events_by_type.0, [0, 0, 1]);
    let m = f.line(W, M1);
    assert_eq!(
        (m.cpu_capacity, m.memory_capacity),
        (Some(1.0), Some(0.25)),
        "empty keeps"
    );
    assert_eq!(
        (m.allocated_cpu, m.allocated_cpu_fraction),
        (0.0, Some(0.0))
    );
    assert_eq!(w1.cell.cpu_capacity, Some(1.0));
    assert_eq!(w1.cell.overcommitted_machines, 1);

    // A window with only a machine event: the machine has a line; REMOVE makes it down
    // without ending its task, and a machine down is not over-committed.
    let w2 = &f.windows()[2];
    assert_eq!(w2.cell.machine_events_by_type.0, [0, 1, 0]);
    let m = f.line(2 * W, M2);
    assert_eq!((m.up, m.task_events, m.machine_events), (Some(false), 0, 1));
    assert_eq!((m.running_tasks, m.allocated_memory), (1, 0.75));
    assert_eq!(
        m.memory_capacity,
        Some(0.5),
        "REMOVE keeps the last known capacity"
    );
    let c = &w2.cell;
    assert_eq!((c.machines_up, c.overcommitted_machines), (1, 0));
    assert_eq!((c.cpu_capacity, c.memory_capacity), (Some(1.0), Some(0.25)));
    assert_eq!(
        c.allocated_memory_fraction,
        Some(0.75 / 0.25),
        "cell allocated / cell capacity"
    );
    assert_eq!(f.agg.machine_events_by_type().0, [2, 1, 1]);
    assert_eq!(f.agg.anomalies().machine_removes_of_not_up, 0);
}

#[test]
fn without_machine_events_the_new_fields_are_null() {
    let mut f = Feed::new();
    f.task(0, 1, 0, Some(M1), Schedule, Some(0.25), Some(0.125));
    f.finish();
    let c = &f.windows()[0].cell;
    assert_eq!(c.machine_events_by_type.0, [0, 0, 0]);
    assert_eq!((c.machines_up, c.overcommitted_machines), (0, 0));
    assert_eq!((c.cpu_capacity, c.memory_capacity), (None, None));
    assert_eq!(
        (c.allocated_cpu_fraction, c.allocated_memory_fraction),
        (None, None)
    );
    let m = f.line(0, M1);
    assert_eq!(
        (m.up, m.cpu_capacity, m.allocated_cpu_fraction),
        (None, None, None)
    );
    assert_eq!(m.machine_events, 0);
}

#[test]
fn no_machine_up_means_capacity_zero_and_fraction_null() {
    let mut f = Feed::new();
    f.machine(0, M1, Add, Some(0.3), Some(0.7));
    f.machine(1, M1, Remove, None, None);
    f.machine(2, M2, Remove, None, None); // never added: counted, stays down
    f.machine(3, M2, Add, None, None); // ADD with unknown capacity
    f.machine(4, M2, Add, Some(0.5), Some(0.5)); // ADD of a machine up: replaces
    f.machine(5, M2, Remove, None, None);
    f.finish();
    let c = &f.windows()[0].cell;
    assert_eq!(c.machines_up, 0);
    assert_eq!(
        (c.cpu_capacity, c.memory_capacity),
        (Some(0.0), Some(0.0)),
        "exactly 0"
    );
    assert_eq!(c.allocated_cpu_fraction, None);
    let a = f.agg.anomalies();
    assert_eq!((a.machine_removes_of_not_up, a.machine_adds_of_up), (1, 1));
}

#[test]
fn zero_width_is_an_error() {
    assert_eq!(Aggregator::new(0).unwrap_err(), WindowError::ZeroWidth);
    assert!(Aggregator::new(1).is_ok());
}

#[test]
fn schedule_allocates_submit_does_not_finish_releases() {
    let mut f = Feed::new();
    f.task(1, 10, 0, None, Submit, Some(0.5), Some(0.25));
    assert_eq!(f.agg.cell().pending_tasks, 1);
    assert_eq!(
        f.agg.machine_count(),
        0,
        "SUBMIT without machine touches no machine"
    );
    f.task(2, 10, 0, Some(M1), Schedule, Some(0.125), Some(0.0625));
    assert_eq!(f.alloc(M1), (0.125, 0.0625, 1));
    let c = f.agg.cell();
    assert_eq!((c.running_tasks, c.pending_tasks), (1, 0));
    assert_eq!((c.allocated_cpu, c.allocated_memory), (0.125, 0.0625));
    f.task(3, 10, 0, Some(M1), Finish, Some(0.9), Some(0.9));
    assert_eq!(f.alloc(M1), (0.0, 0.0, 0));
    assert_eq!(f.agg.live_tasks(), 0);
    f.finish();
    let w = &f.windows()[0];
    assert_eq!(w.cell.task_events_by_type.get(Submit), 1);
    assert_eq!(w.cell.task_events_by_type.get(Schedule), 1);
    assert_eq!(w.cell.task_events_by_type.get(Finish), 1);
    assert_eq!((w.cell.running_tasks, w.cell.pending_tasks), (0, 0));
    let m = f.line(0, M1);
    assert_eq!(m.task_events, 2);
    assert_eq!(m.cpu_request_sum, 0.125 + 0.9);
    assert_eq!(m.cpu_request_avg, Some((0.125 + 0.9) / 2.0));
    assert_eq!(m.finishes, 1);
    assert_eq!(m.peak_allocated_cpu, 0.125);
    assert_eq!((m.allocated_cpu, m.running_tasks), (0.0, 0));
}

#[test]
fn start_state_submit_with_machine_then_schedule_counts_the_schedule() {
    let mut f = Feed::new();
    f.task(0, 1, 0, Some(M1), Submit, None, None);
    f.task(0, 1, 0, Some(M1), Schedule, Some(0.25), Some(0.5));
    f.task(0, 1, 1, Some(M1), Submit, Some(0.9), Some(0.9));
    f.task(0, 1, 1, Some(M1), Schedule, Some(0.125), None);
    f.finish();
    assert_eq!(f.alloc(M1), (0.375, 0.5, 2));
    let m = f.line(0, M1);
    assert_eq!(
        m.task_events, 4,
        "SUBMIT rows carrying the machine count as its events"
    );
    assert_eq!(m.cpu_request_sum, 0.25 + 0.9 + 0.125);
    assert_eq!(m.memory_request_sum, 0.5 + 0.9);
    assert_eq!(m.memory_request_avg, Some((0.5 + 0.9) / 2.0));
    assert_eq!(m.allocated_cpu, 0.375);
    assert_eq!(m.peak_allocated_cpu, 0.375);
    assert_eq!(f.windows()[0].cell.running_tasks, 2);
}

#[test]
fn kill_without_machine_goes_to_the_remembered_machine() {
    let mut f = Feed::new();
    f.task(1, 1, 0, None, Submit, Some(0.5), Some(0.5));
    f.task(2, 1, 0, Some(M1), Schedule, Some(0.5), Some(0.25));
    f.task(W + 5, 1, 0, None, Kill, None, None);
    f.finish();
    assert_eq!(f.alloc(M1), (0.0, 0.0, 0));
    let m = f.line(W, M1);
    assert_eq!(m.task_events, 0, "the row carries no machine ID");
    assert_eq!(m.kills, 1);
    assert_eq!(m.cpu_request_sum, 0.0);
    assert_eq!(m.cpu_request_avg, None);
    assert_eq!(m.peak_allocated_cpu, 0.5, "value at the window start");
    assert_eq!(
        (m.allocated_cpu, m.allocated_memory, m.running_tasks),
        (0.0, 0.0, 0)
    );
    // A KILL of a pending task without machine is attributed to nobody.
    let mut g = Feed::new();
    g.task(1, 1, 0, None, Submit, None, None);
    g.task(2, 1, 0, None, Kill, None, None).finish();
    assert!(g.windows()[0].machines.is_empty());
    assert_eq!(g.windows()[0].cell.pending_tasks, 0);
    assert_eq!(g.agg.machine_count(), 0, "never a machine 0");
}

#[test]
fn evict_of_a_pending_task_changes_no_allocation() {
    let mut f = Feed::new();
    f.task(1, 2, 0, Some(M1), Submit, None, None);
    f.task(1, 2, 0, Some(M1), Schedule, Some(0.25), Some(0.25));
    f.task(2, 3, 0, None, Submit, Some(0.5), Some(0.5));
    f.task(3, 3, 0, Some(M1), Evict, Some(0.5), Some(0.5));
    f.finish();
    assert_eq!(f.alloc(M1), (0.25, 0.25, 1));
    let m = f.line(0, M1);
    assert_eq!(m.evictions, 1);
    assert_eq!(m.allocated_cpu, 0.25);
    let c = &f.windows()[0].cell;
    assert_eq!((c.running_tasks, c.pending_tasks), (1, 0));
    assert_eq!(f.agg.anomalies().terminal_of_pending, 1);
    // Terminal events of unknown tasks change nothing either.
    let mut g = Feed::new();
    g.task(1, 9, 9, Some(M2), Finish, Some(0.5), None).finish();
    assert_eq!(g.alloc(M2), (0.0, 0.0, 0));
    assert_eq!(g.line(0, M2).finishes, 1);
    assert_eq!(g.agg.anomalies().terminal_of_unknown, 1);
}

#[test]
fn schedule_of_a_running_task_replaces_its_allocation() {
    let mut f = Feed::new();
    f.task(1, 4, 0, None, Submit, None, None);
    f.task(2, 4, 0, Some(M1), Schedule, Some(0.5), Some(0.5));
    f.task(3, 4, 0, Some(M1), Schedule, Some(0.25), Some(0.125));
    assert_eq!(f.alloc(M1), (0.25, 0.125, 1));
    // Moves to another machine.
    f.task(4, 4, 0, Some(M2), Schedule, Some(0.375), None);
    assert_eq!(f.alloc(M1), (0.0, 0.0, 0));
    assert_eq!(f.alloc(M2), (0.375, 0.0, 1));
    let c = f.agg.cell();
    assert_eq!((c.running_tasks, c.placed_tasks), (1, 1));
    assert_eq!((c.allocated_cpu, c.allocated_memory), (0.375, 0.0));
    // The terminal event releases what is remembered now, on M2.
    f.task(5, 4, 0, Some(M1), Fail, None, None).finish();
    assert_eq!(f.alloc(M2), (0.0, 0.0, 0));
    assert_eq!(f.line(0, M1).failures, 1, "attributed to the row's machine");
    assert_eq!(f.line(0, M1).peak_allocated_cpu, 0.5);
    assert_eq!(f.line(0, M2).failures, 0);
    assert_eq!(f.agg.anomalies().schedules_of_running, 2);
    assert_eq!(f.agg.anomalies().terminal_machine_mismatch, 1);
}

#[test]
fn update_running_with_one_empty_field_keeps_the_old_value() {
    let mut f = Feed::new();
    f.task(1, 5, 0, Some(M1), Schedule, Some(0.25), Some(0.5));
    f.task(2, 5, 1, Some(M1), Schedule, Some(0.125), Some(0.125));
    f.task(3, 5, 0, None, UpdateRunning, Some(0.5), None);
    assert_eq!(f.alloc(M1), (0.625, 0.625, 2));
    f.task(4, 5, 0, Some(M1), UpdateRunning, None, Some(0.25));
    assert_eq!(f.alloc(M1), (0.625, 0.375, 2));
    // Release uses the updated remembered values.
    f.task(5, 5, 0, Some(M1), Finish, None, None);
    assert_eq!(f.alloc(M1), (0.125, 0.125, 1));
    f.finish();
    let m = f.line(0, M1);
    assert_eq!(m.peak_allocated_cpu, 0.625);
    assert_eq!(
        m.task_events, 4,
        "the UPDATE_RUNNING without machine ID is not counted"
    );
    // UPDATE_RUNNING of a pending task changes nothing.
    let mut g = Feed::new();
    g.task(1, 6, 0, None, Submit, None, None);
    g.task(2, 6, 0, Some(M2), UpdateRunning, Some(0.5), Some(0.5));
    assert_eq!(g.alloc(M2), (0.0, 0.0, 0));
    assert_eq!(g.agg.anomalies().update_running_not_running, 1);
}

#[test]
fn schedule_without_machine_runs_somewhere_unknown() {
    let mut f = Feed::new();
    f.task(1, 7, 0, None, Submit, None, None);
    f.task(2, 7, 0, None, Schedule, Some(0.5), Some(0.5));
    let c = f.agg.cell();
    assert_eq!(
        (c.running_tasks, c.pending_tasks, c.placed_tasks),
        (1, 0, 0)
    );
    assert_eq!(c.allocated_cpu, 0.0);
    assert_eq!(f.agg.machine_count(), 0);
    f.task(3, 7, 0, Some(M1), Kill, None, None).finish();
    assert_eq!(f.alloc(M1), (0.0, 0.0, 0));
    assert_eq!(f.line(0, M1).kills, 1);
    assert_eq!(f.agg.cell().running_tasks, 0);
    assert_eq!(f.agg.anomalies().schedules_without_machine, 1);
}

#[test]
fn submit_of_a_running_task_releases_it() {
    let mut f = Feed::new();
    f.task(1, 8, 0, Some(M1), Schedule, Some(0.5), Some(0.5));
    f.task(2, 8, 0, None, Submit, Some(0.5), Some(0.5));
    assert_eq!(f.alloc(M1), (0.0, 0.0, 0));
    let c = f.agg.cell();
    assert_eq!((c.running_tasks, c.pending_tasks), (0, 1));
    f.finish();
    assert_eq!(f.line(0, M1).task_events, 1);
    assert_eq!(f.agg.anomalies().submits_of_running, 1);
}

#[test]
fn window_boundaries_and_empty_windows() {
    let mut f = Feed::new();
    f.task(0, 1, 0, Some(M1), Submit, None, None);
    f.task(W - 1, 1, 0, Some(M1), Schedule, Some(0.5), None);
    assert!(f.windows().is_empty());
    assert_eq!(f.agg.open_window(), Some((0, W)));
    f.task(W, 1, 0, Some(M2), UpdatePending, None, None); // exactly at the end: next window
    assert_eq!(f.windows().len(), 1);
    f.job(5 * W + 3, 1, Finish); // windows 2..4 are empty
    f.finish();
    let starts: Vec<(u64, u64)> = f
        .windows()
        .iter()
        .map(|w| (w.window_start(), w.window_end()))
        .collect();
    assert_eq!(starts, vec![(0, W), (W, 2 * W), (5 * W, 6 * W)]);
    assert_eq!(f.windows()[0].cell.task_events_by_type.total(), 2);
    assert_eq!(f.windows()[1].cell.task_events_by_type.total(), 1);
    // The row's machine M2 and the running task's remembered machine M1 both get a line.
    let ids: Vec<u64> = f.windows()[1]
        .machines
        .iter()
        .map(|m| m.machine_id)
        .collect();
    assert_eq!(ids, vec![M2, M1]);
    assert_eq!(f.line(W, M1).task_events, 0);
    assert_eq!(f.line(W, M2).task_events, 1);
    // A window with only job events: a cell line and no machine line.
    let last = &f.windows()[2];
    assert!(last.machines.is_empty());
    assert_eq!(last.cell.job_events_by_type.get(Finish), 1);
    assert_eq!(last.cell.task_events_by_type.total(), 0);
    assert_eq!(last.cell.running_tasks, 1);
    assert_eq!(last.cell.allocated_cpu, 0.5);
    assert_eq!(f.agg.windows_closed(), 3);
    // Finish is final.
    let err = f
        .agg
        .push_record(99, &task(6 * W, 1, 0, None, Kill, None, None), |_| {})
        .unwrap_err();
    assert_eq!(err, WindowError::Finished { seq: 99 });
}

#[test]
fn machine_lines_sorted_after_the_cell_line() {
    let mut f = Feed::new();
    for (i, m) in [900u64, 3, u64::MAX - 1, 40].into_iter().enumerate() {
        f.task(10, 1, i as u64, Some(m), Schedule, Some(0.1), Some(0.1));
    }
    f.finish();
    let ids: Vec<u64> = f.windows()[0]
        .machines
        .iter()
        .map(|m| m.machine_id)
        .collect();
    assert_eq!(ids, vec![3, 40, 900, u64::MAX - 1]);
    let mut out = Vec::new();
    write_json_lines(&mut out, &f.windows()[0]).unwrap();
    let text = String::from_utf8(out).unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{}:{}", v["kind"].as_str().unwrap(), v["machine_id"])
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "cell:null",
            "machine:3",
            "machine:40",
            "machine:900",
            "machine:18446744073709551614"
        ]
    );
}

#[test]
fn after_the_end_events_are_counted_apart() {
    let mut f = Feed::new();
    f.task(5, 1, 0, Some(M1), Schedule, Some(0.5), Some(0.5));
    f.job(TIME_AFTER_END, 1, Kill);
    assert_eq!(
        f.windows().len(),
        1,
        "the first after-the-end event closes the window"
    );
    f.task(TIME_AFTER_END_U64, 1, 0, None, Kill, None, None);
    f.finish();
    assert_eq!(f.windows().len(), 1, "they open no window");
    let w = &f.windows()[0];
    assert_eq!(w.cell.job_events_by_type.total(), 0);
    assert_eq!(w.cell.task_events_by_type.total(), 1);
    assert_eq!(w.cell.allocated_cpu, 0.5);
    assert_eq!(f.agg.after_end_events(), 2);
    assert_eq!(f.agg.events(), 3);
    assert_eq!(f.agg.events_by_type(Table::Job).get(Kill), 1);
    assert_eq!(f.agg.events_by_type(Table::Task).get(Kill), 1);
    // Still applied to the live state.
    assert_eq!(f.alloc(M1), (0.0, 0.0, 0));
    assert_eq!(f.agg.last_event_time(), Some(TIME_AFTER_END_U64));
}

#[test]
fn out_of_order_events_are_rejected() {
    let mut agg = Aggregator::new(W).unwrap();
    agg.push_record(0, &task(100, 1, 0, None, Submit, None, None), |_| {})
        .unwrap();
    agg.push_record(1, &task(100, 1, 1, None, Submit, None, None), |_| {})
        .unwrap();
    let err = agg
        .push_record(2, &task(99, 1, 2, None, Submit, None, None), |_| {})
        .unwrap_err();
    assert_eq!(
        err,
        WindowError::OutOfOrder {
            seq: 2,
            time: 99,
            last: 100
        }
    );
}

#[test]
fn peak_includes_the_value_at_the_window_start() {
    let mut f = Feed::new();
    f.task(1, 1, 0, Some(M1), Schedule, Some(0.5), Some(0.1));
    f.task(2, 1, 1, Some(M1), Schedule, Some(0.25), Some(0.1));
    // Next window: a task leaves, then a small one arrives.
    f.task(W + 1, 1, 0, Some(M1), Finish, None, None);
    f.task(W + 2, 1, 2, Some(M1), Schedule, Some(0.125), Some(0.1));
    // Next window: it grows above the start value.
    f.task(2 * W, 1, 2, Some(M1), UpdateRunning, Some(0.5), None);
    f.task(2 * W + 1, 1, 2, Some(M1), Finish, None, None);
    f.finish();
    assert_eq!(f.line(0, M1).peak_allocated_cpu, 0.75);
    let second = f.line(W, M1);
    assert_eq!(second.peak_allocated_cpu, 0.75, "value at the window start");
    assert_eq!(second.allocated_cpu, 0.375);
    let third = f.line(2 * W, M1);
    assert_eq!(third.peak_allocated_cpu, 0.75);
    assert_eq!(third.allocated_cpu, 0.25);
}

#[test]
fn allocation_returns_to_exactly_zero() {
    let mut f = Feed::new();
    let reqs = [0.1, 0.2, 0.3, 0.7, 0.01];
    for (i, r) in reqs.iter().enumerate() {
        f.task(1, 1, i as u64, Some(M1), Schedule, Some(*r), Some(*r / 3.0));
    }
    for i in 0..reqs.len() as u64 {
        f.task(2, 1, i, None, Finish, None, None);
        let (cpu, mem, _) = f.alloc(M1);
        assert!(cpu >= 0.0 && mem >= 0.0);
    }
    f.finish();
    assert_eq!(f.alloc(M1), (0.0, 0.0, 0));
    assert_eq!(f.agg.cell().allocated_cpu.to_bits(), 0.0f64.to_bits());
    assert_eq!(f.agg.cell().allocated_memory.to_bits(), 0.0f64.to_bits());
}

#[test]
fn last_closed_and_accessors() {
    let mut f = Feed::new();
    assert!(f.agg.last_closed().is_none());
    f.task(1, 1, 0, Some(M1), Schedule, Some(0.5), Some(0.5));
    f.job(W, 1, Schedule);
    let last = f.agg.last_closed().unwrap();
    assert_eq!(last.window_start(), 0);
    assert_eq!(last.machines[0].allocated_cpu, 0.5);
    let all: Vec<MachineAllocation> = f.agg.machines().collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].machine_id, M1);
    assert_eq!(f.agg.width_us(), W);
    assert_eq!(f.agg.open_window(), Some((W, 2 * W)));
}

// ---- property: allocation never negative, zero once every task has ended ----

#[derive(Debug, Clone)]
struct Step {
    task: u64,
    event_type: EventType,
    machine: Option<u64>,
    cpu: Option<f64>,
    mem: Option<f64>,
    dt: u64,
}

fn request() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        1 => Just(None),
        4 => (0u32..=10_000).prop_map(|v| Some(f64::from(v) / 10_000.0 * 0.7)),
    ]
}

fn step(tasks: u64) -> impl Strategy<Value = Step> {
    (
        0..tasks,
        0u8..9,
        prop::option::weighted(0.8, 0u64..6),
        request(),
        request(),
        prop_oneof![3 => Just(0u64), 1 => 0u64..(3 * W)],
    )
        .prop_map(|(task, code, machine, cpu, mem, dt)| Step {
            task,
            event_type: EventType::from_code(code.into()).unwrap(),
            machine,
            cpu,
            mem,
            dt,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// With machine events mixed in: the cell's machines up, capacity sums and over-committed
    /// count always equal a recount over the machines (capacities are multiples of 1/16, so
    /// the incremental sums are exact).
    #[test]
    fn cell_machine_state_equals_a_recount(
        steps in prop::collection::vec((step(8), prop::option::weighted(0.3, (0u8..3, 0u64..6, prop::option::of(0u8..17), prop::option::of(0u8..17)))), 1..300),
    ) {
        let mut agg = Aggregator::new(W).unwrap();
        let mut time = 0u64;
        let mut windows = Vec::new();
        for (seq, (s, m)) in steps.iter().enumerate() {
            time += s.dt;
            let r = match m {
                Some((code, id, cpu, mem)) => machine(
                    time,
                    *id,
                    MachineEventType::from_code((*code).into()).unwrap(),
                    cpu.map(|v| f64::from(v) / 16.0),
                    mem.map(|v| f64::from(v) / 16.0),
                ),
                None => task(time, 1, s.task, s.machine, s.event_type, s.cpu, s.mem),
            };
            agg.push_record(seq as u64, &r, |w| windows.push(w.clone())).unwrap();
            let c = agg.cell();
            let up: Vec<_> = agg.machines().filter(|m| m.up == Some(true)).collect();
            prop_assert_eq!(c.machines_up, up.len() as u64);
            let cpu: f64 = up.iter().filter_map(|m| m.cpu_capacity).sum();
            let mem: f64 = up.iter().filter_map(|m| m.memory_capacity).sum();
            prop_assert_eq!((c.cpu_capacity, c.memory_capacity), (cpu, mem));
            let over = up
                .iter()
                .filter(|m| {
                    m.cpu_capacity.is_some_and(|k| m.allocated_cpu > k + ZERO_CLAMP)
                        || m.memory_capacity.is_some_and(|k| m.allocated_memory > k + ZERO_CLAMP)
                })
                .count();
            prop_assert_eq!(c.overcommitted_machines, over as u64);
        }
        agg.finish(|w| windows.push(w.clone()));
        let events: u64 = windows
            .iter()
            .map(|w| w.cell.task_events_by_type.total() + w.cell.machine_events_by_type.total())
            .sum();
        prop_assert_eq!(events, steps.len() as u64);
    }

    #[test]
    fn allocation_never_negative_and_zero_at_the_end(
        steps in prop::collection::vec(step(12), 1..300),
        ends in prop::collection::vec((2u8..7, prop::option::of(0u64..6)), 12),
    ) {
        let mut agg = Aggregator::new(W).unwrap();
        let mut time = 0u64;
        let mut seq = 0u64;
        let mut windows = Vec::new();
        let check = |agg: &Aggregator| {
            for m in agg.machines() {
                assert!(m.allocated_cpu >= -ZERO_CLAMP, "{m:?}");
                assert!(m.allocated_memory >= -ZERO_CLAMP, "{m:?}");
            }
            let c = agg.cell();
            assert!(c.allocated_cpu >= -ZERO_CLAMP && c.allocated_memory >= -ZERO_CLAMP);
        };
        for s in &steps {
            time += s.dt;
            let r = task(time, 1, s.task, s.machine, s.event_type, s.cpu, s.mem);
            agg.push_record(seq, &r, |w| windows.push(w.clone())).unwrap();
            seq += 1;
            check(&agg);
        }
        // Every task ends (a terminal event of a dead task is harmless).
        for (i, (code, machine)) in ends.iter().enumerate() {
            let r = task(time, 1, i as u64, *machine, EventType::from_code((*code).into()).unwrap(), None, None);
            agg.push_record(seq, &r, |w| windows.push(w.clone())).unwrap();
            seq += 1;
            check(&agg);
        }
        agg.finish(|w| windows.push(w.clone()));
        for m in agg.machines() {
            prop_assert_eq!(m.allocated_cpu, 0.0);
            prop_assert_eq!(m.allocated_memory, 0.0);
            prop_assert_eq!(m.running_tasks, 0);
        }
        let c = agg.cell();
        prop_assert_eq!((c.running_tasks, c.pending_tasks, c.placed_tasks), (0, 0, 0));
        prop_assert_eq!((c.allocated_cpu, c.allocated_memory), (0.0, 0.0));
        prop_assert_eq!(agg.live_tasks(), 0);
        // Window lines are consistent: increasing windows, sorted machines, peak >= end value.
        let total: u64 = windows.iter().map(|w| w.cell.task_events_by_type.total()).sum();
        prop_assert_eq!(total, seq);
        for pair in windows.windows(2) {
            prop_assert!(pair[0].window_end() <= pair[1].window_start());
        }
        for w in &windows {
            prop_assert!(w.machines.windows(2).all(|p| p[0].machine_id < p[1].machine_id));
            for m in &w.machines {
                prop_assert!(m.peak_allocated_cpu >= m.allocated_cpu);
                prop_assert!(m.allocated_cpu >= 0.0 && m.allocated_memory >= 0.0);
            }
        }
    }
}

/// Dumps the JSON lines of a real trace and measures `push` on pre-parsed events:
/// `WINDOW_JOBS=dir WINDOW_TASKS=dir [WINDOW_MACHINES=dir] [WINDOW_OUT=file] cargo test
/// --release --lib window::tests::dump_real_trace -- --ignored --nocapture`. Compare the
/// output with `python3 tests/window_reference.py --jobs dir --tasks dir [--machines dir]`.
#[test]
#[ignore = "needs WINDOW_JOBS / WINDOW_TASKS (real trace folders)"]
fn dump_real_trace() {
    use std::time::Instant;
    let dir = |k: &str| std::env::var_os(k).map(std::path::PathBuf::from);
    let (Some(jobs), Some(tasks)) = (dir("WINDOW_JOBS"), dir("WINDOW_TASKS")) else {
        eprintln!("set WINDOW_JOBS and WINDOW_TASKS");
        return;
    };
    let source = crate::merge::TraceSource {
        jobs: Some(jobs.into()),
        tasks: Some(tasks.into()),
        machines: dir("WINDOW_MACHINES").map(Into::into),
        ..Default::default()
    };
    let events: Vec<Event> = source.open().unwrap().collect::<Result<_, _>>().unwrap();
    let rounds = 5;
    let mut best = f64::MAX;
    let mut lines = 0;
    for _ in 0..rounds {
        let mut agg = Aggregator::new(DEFAULT_WIDTH_US).unwrap();
        let mut n = 0usize;
        let t0 = Instant::now();
        for e in &events {
            agg.push(e, |w| n += w.line_count()).unwrap();
        }
        agg.finish(|w| n += w.line_count());
        best = best.min(t0.elapsed().as_secs_f64());
        lines = n;
    }
    let mut agg = Aggregator::new(DEFAULT_WIDTH_US).unwrap();
    let mut out = JsonLinesWriter::new(Vec::new());
    let t0 = Instant::now();
    for e in &events {
        agg.push(e, |w| out.write(w).unwrap()).unwrap();
    }
    agg.finish(|w| out.write(w).unwrap());
    let with_json = t0.elapsed().as_secs_f64();
    eprintln!(
        "{} events, {} lines, {} windows: push {:.1} ms ({:.2} M events/s), with JSON {:.1} ms \
         ({:.2} M events/s); anomalies {:?}",
        events.len(),
        lines,
        agg.windows_closed(),
        best * 1e3,
        events.len() as f64 / best / 1e6,
        with_json * 1e3,
        events.len() as f64 / with_json / 1e6,
        agg.anomalies()
    );
    if let Some(path) = dir("WINDOW_OUT") {
        std::fs::write(path, out.into_inner().unwrap()).unwrap();
    }
}
