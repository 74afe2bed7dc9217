//! Prometheus metrics of the window aggregator. Names carry their unit (`_ratio`: fraction
//! of the largest machine's capacity, the trace's normalised unit; `_seconds`); only
//! `machine_id` has a high cardinality, as in the original dashboard.

use super::SharedRegistry;
use crate::trace::{EventType, MachineEventType, Table};
use crate::window::{Aggregator, ClosedWindow};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

type F64Gauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Machine {
    machine_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableType {
    table: &'static str,
    event_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Type {
    event_type: &'static str,
}

/// Gauges and counters fed from the aggregator at each closed window and periodically.
pub struct WindowMetrics {
    pub registry: SharedRegistry,
    m_alloc_cpu: Family<Machine, F64Gauge>,
    m_alloc_mem: Family<Machine, F64Gauge>,
    m_running: Family<Machine, Gauge>,
    m_peak_cpu: Family<Machine, F64Gauge>,
    m_cpu_sum: Family<Machine, F64Gauge>,
    m_mem_sum: Family<Machine, F64Gauge>,
    m_events: Family<Machine, Gauge>,
    m_up: Family<Machine, Gauge>,
    m_cpu_cap: Family<Machine, F64Gauge>,
    m_mem_cap: Family<Machine, F64Gauge>,
    m_cpu_frac: Family<Machine, F64Gauge>,
    m_mem_frac: Family<Machine, F64Gauge>,
    c_machines_up: Gauge,
    c_cpu_cap: F64Gauge,
    c_mem_cap: F64Gauge,
    c_cpu_frac: F64Gauge,
    c_mem_frac: F64Gauge,
    c_over: Gauge,
    c_window_machine_events: Family<Type, Gauge>,
    c_alloc_cpu: F64Gauge,
    c_alloc_mem: F64Gauge,
    c_running: Gauge,
    c_pending: Gauge,
    c_window_events: Family<Type, Gauge>,
    events_by_type: Family<TableType, Counter>,
    events: Counter,
    event_time: F64Gauge,
    event_time_unix: F64Gauge,
    lag: F64Gauge,
    windows: Counter,
    window_end: F64Gauge,
    /// Gauge handles per machine: a label lookup (and a String) per machine and window was
    /// a tenth of the aggregation time.
    handles: Mutex<HashMap<u64, MachineGauges>>,
}

/// The per-machine gauges of one machine (cheap clones sharing the registry's values).
struct MachineGauges {
    alloc_cpu: F64Gauge,
    alloc_mem: F64Gauge,
    running: Gauge,
    peak_cpu: F64Gauge,
    cpu_sum: F64Gauge,
    mem_sum: F64Gauge,
    events: Gauge,
    /// Created at the machine's first machine event: machines of a trace without
    /// `machine_events` get no capacity series.
    capacity: Option<CapacityGauges>,
}

/// A machine's state and capacity gauges.
struct CapacityGauges {
    up: Gauge,
    cpu: F64Gauge,
    mem: F64Gauge,
    cpu_frac: F64Gauge,
    mem_frac: F64Gauge,
}

impl Default for WindowMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowMetrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("tracepipe");
        macro_rules! reg {
            ($name:expr, $help:expr, $m:expr) => {{
                let m = $m;
                r.register($name, $help, m.clone());
                m
            }};
        }
        let m_alloc_cpu = reg!(
            "machine_allocated_cpu_ratio",
            "CPU allocated on the machine at the end of its last closed window (normalised)",
            Family::<Machine, F64Gauge>::default()
        );
        let m_alloc_mem = reg!(
            "machine_allocated_memory_ratio",
            "Memory allocated on the machine at the end of its last closed window (normalised)",
            Family::<Machine, F64Gauge>::default()
        );
        let m_running = reg!(
            "machine_running_tasks",
            "Tasks running on the machine at the end of its last closed window",
            Family::<Machine, Gauge>::default()
        );
        let m_peak_cpu = reg!(
            "machine_peak_allocated_cpu_ratio",
            "Highest allocated CPU during the machine's last closed window",
            Family::<Machine, F64Gauge>::default()
        );
        let m_cpu_sum = reg!(
            "machine_window_cpu_request_sum_ratio",
            "Sum of CPU requests of the machine's task events in its last closed window",
            Family::<Machine, F64Gauge>::default()
        );
        let m_mem_sum = reg!(
            "machine_window_memory_request_sum_ratio",
            "Sum of memory requests of the machine's task events in its last closed window",
            Family::<Machine, F64Gauge>::default()
        );
        let m_events = reg!(
            "machine_window_task_events",
            "Task events carrying the machine ID in its last closed window",
            Family::<Machine, Gauge>::default()
        );
        let m_up = reg!(
            "machine_up",
            "1 if the machine is up (added, not removed) at the end of its last closed window, 0 if removed",
            Family::<Machine, Gauge>::default()
        );
        let m_cpu_cap = reg!(
            "machine_cpu_capacity_ratio",
            "CPU capacity of the machine from machine_events (normalised; NaN: unknown)",
            Family::<Machine, F64Gauge>::default()
        );
        let m_mem_cap = reg!(
            "machine_memory_capacity_ratio",
            "Memory capacity of the machine from machine_events (normalised; NaN: unknown)",
            Family::<Machine, F64Gauge>::default()
        );
        let m_cpu_frac = reg!(
            "machine_cpu_allocation_ratio",
            "Allocated CPU / CPU capacity of the machine at the end of its last closed window (NaN: capacity unknown)",
            Family::<Machine, F64Gauge>::default()
        );
        let m_mem_frac = reg!(
            "machine_memory_allocation_ratio",
            "Allocated memory / memory capacity of the machine at the end of its last closed window (NaN: capacity unknown)",
            Family::<Machine, F64Gauge>::default()
        );
        let c_machines_up = reg!(
            "cell_machines_up",
            "Machines up at the last window end",
            Gauge::default()
        );
        let c_cpu_cap = reg!(
            "cell_cpu_capacity_ratio",
            "Sum of the known CPU capacities of the machines up at the last window end (normalised)",
            F64Gauge::default()
        );
        let c_mem_cap = reg!(
            "cell_memory_capacity_ratio",
            "Sum of the known memory capacities of the machines up at the last window end (normalised)",
            F64Gauge::default()
        );
        let c_cpu_frac = reg!(
            "cell_cpu_allocation_ratio",
            "Cell allocated CPU / cell CPU capacity at the last window end (NaN: no capacity)",
            F64Gauge::default()
        );
        let c_mem_frac = reg!(
            "cell_memory_allocation_ratio",
            "Cell allocated memory / cell memory capacity at the last window end (NaN: no capacity)",
            F64Gauge::default()
        );
        let c_over = reg!(
            "cell_overcommitted_machines",
            "Machines up whose allocated CPU or memory exceeds their capacity at the last window end",
            Gauge::default()
        );
        let c_window_machine_events = reg!(
            "cell_window_machine_events",
            "Machine events by type in the last closed window",
            Family::<Type, Gauge>::default()
        );
        let c_alloc_cpu = reg!(
            "cell_allocated_cpu_ratio",
            "CPU allocated in the whole cell at the last window end (normalised)",
            F64Gauge::default()
        );
        let c_alloc_mem = reg!(
            "cell_allocated_memory_ratio",
            "Memory allocated in the whole cell at the last window end (normalised)",
            F64Gauge::default()
        );
        let c_running = reg!(
            "cell_running_tasks",
            "Running tasks at the last window end",
            Gauge::default()
        );
        let c_pending = reg!(
            "cell_pending_tasks",
            "Pending tasks at the last window end",
            Gauge::default()
        );
        let c_window_events = reg!(
            "cell_window_task_events",
            "Task events by type in the last closed window",
            Family::<Type, Gauge>::default()
        );
        let events_by_type = reg!(
            "events",
            "Events aggregated, by table and event type",
            Family::<TableType, Counter>::default()
        );
        let events = reg!(
            "aggregate_events",
            "Events consumed by the aggregator",
            Counter::default()
        );
        let event_time = reg!(
            "aggregate_event_time_seconds",
            "Trace time reached by the aggregator",
            F64Gauge::default()
        );
        let event_time_unix = reg!(
            "aggregate_event_time_unix_seconds",
            "Trace time reached, as a 2011 Unix time",
            F64Gauge::default()
        );
        let lag = reg!(
            "aggregate_release_lag_seconds",
            "Wall time from the replayer's send to the ordered release of the last event",
            F64Gauge::default()
        );
        let windows = reg!(
            "aggregate_windows_closed",
            "Windows closed",
            Counter::default()
        );
        let window_end = reg!(
            "aggregate_last_window_end_seconds",
            "Trace time of the end of the last closed window",
            F64Gauge::default()
        );
        for t in [Table::Job, Table::Task] {
            for e in EventType::ALL {
                let _ = events_by_type.get_or_create(&TableType {
                    table: t.name(),
                    event_type: e.name(),
                });
            }
        }
        for e in MachineEventType::ALL {
            let _ = events_by_type.get_or_create(&TableType {
                table: Table::Machine.name(),
                event_type: e.name(),
            });
        }
        WindowMetrics {
            registry: Arc::new(Mutex::new(r)),
            m_alloc_cpu,
            m_alloc_mem,
            m_running,
            m_peak_cpu,
            m_cpu_sum,
            m_mem_sum,
            m_events,
            m_up,
            m_cpu_cap,
            m_mem_cap,
            m_cpu_frac,
            m_mem_frac,
            c_machines_up,
            c_cpu_cap,
            c_mem_cap,
            c_cpu_frac,
            c_mem_frac,
            c_over,
            c_window_machine_events,
            c_alloc_cpu,
            c_alloc_mem,
            c_running,
            c_pending,
            c_window_events,
            events_by_type,
            events,
            event_time,
            event_time_unix,
            lag,
            windows,
            window_end,
            handles: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the per-machine and cell gauges from a window that just closed.
    pub fn window_closed(&self, w: &ClosedWindow) {
        let mut handles = self.handles.lock().expect("lock");
        for m in &w.machines {
            let g = handles.entry(m.machine_id).or_insert_with(|| {
                let l = Machine {
                    machine_id: m.machine_id.to_string(),
                };
                MachineGauges {
                    alloc_cpu: self.m_alloc_cpu.get_or_create(&l).clone(),
                    alloc_mem: self.m_alloc_mem.get_or_create(&l).clone(),
                    running: self.m_running.get_or_create(&l).clone(),
                    peak_cpu: self.m_peak_cpu.get_or_create(&l).clone(),
                    cpu_sum: self.m_cpu_sum.get_or_create(&l).clone(),
                    mem_sum: self.m_mem_sum.get_or_create(&l).clone(),
                    events: self.m_events.get_or_create(&l).clone(),
                    capacity: None,
                }
            });
            if let Some(up) = m.up {
                let cap = g.capacity.get_or_insert_with(|| {
                    let l = Machine {
                        machine_id: m.machine_id.to_string(),
                    };
                    CapacityGauges {
                        up: self.m_up.get_or_create(&l).clone(),
                        cpu: self.m_cpu_cap.get_or_create(&l).clone(),
                        mem: self.m_mem_cap.get_or_create(&l).clone(),
                        cpu_frac: self.m_cpu_frac.get_or_create(&l).clone(),
                        mem_frac: self.m_mem_frac.get_or_create(&l).clone(),
                    }
                });
                cap.up.set(i64::from(up));
                cap.cpu.set(m.cpu_capacity.unwrap_or(f64::NAN));
                cap.mem.set(m.memory_capacity.unwrap_or(f64::NAN));
                cap.cpu_frac
                    .set(m.allocated_cpu_fraction.unwrap_or(f64::NAN));
                cap.mem_frac
                    .set(m.allocated_memory_fraction.unwrap_or(f64::NAN));
            }
            g.alloc_cpu.set(m.allocated_cpu);
            g.alloc_mem.set(m.allocated_memory);
            g.running.set(m.running_tasks as i64);
            g.peak_cpu.set(m.peak_allocated_cpu);
            g.cpu_sum.set(m.cpu_request_sum);
            g.mem_sum.set(m.memory_request_sum);
            g.events.set(m.task_events as i64);
        }
        let c = &w.cell;
        self.c_alloc_cpu.set(c.allocated_cpu);
        self.c_alloc_mem.set(c.allocated_memory);
        self.c_running.set(c.running_tasks as i64);
        self.c_pending.set(c.pending_tasks as i64);
        for (t, n) in c.task_events_by_type.iter() {
            self.c_window_events
                .get_or_create(&Type {
                    event_type: t.name(),
                })
                .set(n as i64);
        }
        if let Some(cpu) = c.cpu_capacity {
            self.c_machines_up.set(c.machines_up as i64);
            self.c_cpu_cap.set(cpu);
            self.c_mem_cap.set(c.memory_capacity.unwrap_or(f64::NAN));
            self.c_cpu_frac
                .set(c.allocated_cpu_fraction.unwrap_or(f64::NAN));
            self.c_mem_frac
                .set(c.allocated_memory_fraction.unwrap_or(f64::NAN));
            self.c_over.set(c.overcommitted_machines as i64);
            for (t, n) in c.machine_events_by_type.iter() {
                self.c_window_machine_events
                    .get_or_create(&Type {
                        event_type: t.name(),
                    })
                    .set(n as i64);
            }
        }
        self.windows.inc();
        self.window_end.set(c.window_end as f64 / 1e6);
    }

    /// Brings counters and clocks up to date with the aggregator (cheap: call every few
    /// thousand events, not per event).
    pub fn sync(&self, agg: &Aggregator, lag_seconds: Option<f64>) {
        for t in [Table::Job, Table::Task] {
            for (e, n) in agg.events_by_type(t).iter() {
                let c = self.events_by_type.get_or_create(&TableType {
                    table: t.name(),
                    event_type: e.name(),
                });
                c.inc_by(n.saturating_sub(c.get()));
            }
        }
        for (e, n) in agg.machine_events_by_type().iter() {
            let c = self.events_by_type.get_or_create(&TableType {
                table: Table::Machine.name(),
                event_type: e.name(),
            });
            c.inc_by(n.saturating_sub(c.get()));
        }
        self.events
            .inc_by(agg.events().saturating_sub(self.events.get()));
        if let Some(t) = agg.last_event_time() {
            if !crate::trace::is_after_end(t) {
                self.event_time.set(t as f64 / 1e6);
                self.event_time_unix.set(crate::clock::unix_seconds(t));
            }
        }
        if let Some(l) = lag_seconds {
            self.lag.set(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{MachineEvent, Record, TaskEvent};
    use crate::window::Aggregator;

    fn machine(time: u64, id: u64, t: MachineEventType, cpus: Option<f64>) -> Record {
        Record::Machine(MachineEvent {
            time,
            machine_id: id,
            event_type: t,
            platform_id: None,
            cpus,
            memory: Some(0.5),
        })
    }

    fn schedule(time: u64, machine: u64, cpu: f64) -> Record {
        Record::Task(TaskEvent {
            time,
            missing_info: None,
            job_id: 1,
            task_index: machine,
            machine_id: Some(machine),
            event_type: EventType::Schedule,
            user: None,
            scheduling_class: None,
            priority: 0,
            cpu_request: Some(cpu),
            memory_request: Some(0.125),
            disk_space_request: None,
            different_machines_restriction: None,
        })
    }

    /// The capacity gauges show what the closed window says; a machine without machine
    /// events gets none, and an unknown capacity is NaN.
    #[test]
    fn capacity_gauges_follow_the_window() {
        let m = WindowMetrics::new();
        let mut agg = Aggregator::new(60_000_000).unwrap();
        let rows = [
            machine(0, 1, MachineEventType::Add, Some(0.5)),
            machine(0, 2, MachineEventType::Add, None),
            schedule(0, 1, 0.75),
            schedule(0, 3, 0.25),
            machine(1, 2, MachineEventType::Remove, None),
        ];
        for (seq, r) in rows.iter().enumerate() {
            agg.push_record(seq as u64, r, |w| m.window_closed(w))
                .unwrap();
        }
        agg.finish(|w| m.window_closed(w));
        m.sync(&agg, None);
        let text = crate::metrics::render(&m.registry.lock().unwrap());
        for line in [
            "tracepipe_machine_up{machine_id=\"1\"} 1",
            "tracepipe_machine_up{machine_id=\"2\"} 0",
            "tracepipe_machine_cpu_capacity_ratio{machine_id=\"1\"} 0.5",
            "tracepipe_machine_cpu_capacity_ratio{machine_id=\"2\"} NaN",
            "tracepipe_machine_cpu_allocation_ratio{machine_id=\"1\"} 1.5",
            "tracepipe_machine_memory_allocation_ratio{machine_id=\"1\"} 0.25",
            "tracepipe_cell_machines_up 1",
            "tracepipe_cell_cpu_capacity_ratio 0.5",
            "tracepipe_cell_cpu_allocation_ratio 2.0",
            "tracepipe_cell_overcommitted_machines 1",
            "tracepipe_cell_window_machine_events{event_type=\"REMOVE\"} 1",
            "tracepipe_events_total{table=\"machine\",event_type=\"ADD\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(
            !text.contains("tracepipe_machine_up{machine_id=\"3\"}"),
            "a machine without machine events has no state series"
        );
    }
}
