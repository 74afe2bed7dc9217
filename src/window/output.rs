//! What a closed window produces: one [`CellWindow`] and the [`MachineWindow`]s of the machines
//! that had a task event in it, as structs (for the metrics stage) and as JSON Lines.

use crate::json_out::JsonOut;
use crate::trace::{EventType, MachineEventType};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::io::{self, Write};

/// Event counts indexed by [`EventType`] code. Serialised as a JSON object with all 9 type
/// names as keys, zeros included, in code order (`SUBMIT`, `SCHEDULE`, ..., `UPDATE_RUNNING`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts(pub [u64; 9]);

impl EventCounts {
    #[inline]
    pub fn add(&mut self, event_type: EventType) {
        self.0[usize::from(event_type.code())] += 1;
    }

    pub fn get(&self, event_type: EventType) -> u64 {
        self.0[usize::from(event_type.code())]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(type, count)` for all 9 types, zeros included, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (EventType, u64)> + '_ {
        EventType::ALL.iter().map(move |&t| (t, self.get(t)))
    }

    pub fn clear(&mut self) {
        self.0 = [0; 9];
    }
}

impl Serialize for EventCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(9))?;
        for (t, n) in self.iter() {
            map.serialize_entry(t.name(), &n)?;
        }
        map.end()
    }
}

/// Machine event counts indexed by [`MachineEventType`] code. Serialised as
/// `{"ADD":..,"REMOVE":..,"UPDATE":..}`, zeros included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineEventCounts(pub [u64; 3]);

impl MachineEventCounts {
    #[inline]
    pub fn add(&mut self, event_type: MachineEventType) {
        self.0[usize::from(event_type.code())] += 1;
    }

    pub fn get(&self, event_type: MachineEventType) -> u64 {
        self.0[usize::from(event_type.code())]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(type, count)` for the 3 types, zeros included, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (MachineEventType, u64)> + '_ {
        MachineEventType::ALL.iter().map(move |&t| (t, self.get(t)))
    }

    pub fn clear(&mut self) {
        self.0 = [0; 3];
    }
}

impl Serialize for MachineEventCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        for (t, n) in self.iter() {
            map.serialize_entry(t.name(), &n)?;
        }
        map.end()
    }
}

/// The cell line of a window: events of the window by table and type, and the cell's state at
/// the window end. JSON: `{"kind":"cell","window_start":..,...}` in this field order.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename = "cell")]
pub struct CellWindow {
    /// Inclusive start, microseconds of trace time.
    pub window_start: u64,
    /// Exclusive end (`window_start + width`).
    pub window_end: u64,
    pub task_events_by_type: EventCounts,
    pub job_events_by_type: EventCounts,
    /// Tasks RUNNING at the window end (including those scheduled without a machine ID).
    pub running_tasks: u64,
    /// Tasks PENDING at the window end.
    pub pending_tasks: u64,
    /// Sum of the machines' allocations at the window end.
    pub allocated_cpu: f64,
    pub allocated_memory: f64,
    /// Machine events of the window by type (all 3 types, zeros included).
    pub machine_events_by_type: MachineEventCounts,
    /// Machines up at the window end (0 without machine events).
    pub machines_up: u64,
    /// Sums of the known capacities of the machines up; `None` before any machine event.
    pub cpu_capacity: Option<f64>,
    pub memory_capacity: Option<f64>,
    /// `allocated_* / *_capacity`; `None` when the capacity is unknown or 0.
    pub allocated_cpu_fraction: Option<f64>,
    pub allocated_memory_fraction: Option<f64>,
    /// Machines up whose allocated CPU or memory exceeds their known capacity.
    pub overcommitted_machines: u64,
}

/// The line of one machine in one window. JSON: `{"kind":"machine",...}` in this field order;
/// the averages are `null` when no event of the window carried a value.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename = "machine")]
pub struct MachineWindow {
    pub window_start: u64,
    pub window_end: u64,
    pub machine_id: u64,
    /// Task events of the window whose row carries this machine ID.
    pub task_events: u64,
    /// Sums of the non-empty requests of those rows (0.0 when none).
    pub cpu_request_sum: f64,
    pub memory_request_sum: f64,
    /// Sum / number of non-empty values; `None` when there was none.
    pub cpu_request_avg: Option<f64>,
    pub memory_request_avg: Option<f64>,
    /// Allocation and running tasks at the window end (life-cycle rules).
    pub allocated_cpu: f64,
    pub allocated_memory: f64,
    pub running_tasks: u64,
    /// Highest allocated CPU during the window, the value at the window start included.
    pub peak_allocated_cpu: f64,
    /// Terminal events attributed to the machine (the row's machine, else the remembered one).
    pub evictions: u64,
    pub failures: u64,
    pub finishes: u64,
    pub kills: u64,
    pub losts: u64,
    /// Up (true) or removed (false) at the window end; `None` before its first machine event.
    pub up: Option<bool>,
    /// Last known capacity; `None` when unknown.
    pub cpu_capacity: Option<f64>,
    pub memory_capacity: Option<f64>,
    /// `allocated_* / *_capacity` when the capacity is known and positive, else `None`.
    pub allocated_cpu_fraction: Option<f64>,
    pub allocated_memory_fraction: Option<f64>,
    /// Its machine events in the window.
    pub machine_events: u64,
}

/// Everything a closed window produces. Machines are sorted by `machine_id` ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClosedWindow {
    pub cell: CellWindow,
    pub machines: Vec<MachineWindow>,
}

impl ClosedWindow {
    pub fn window_start(&self) -> u64 {
        self.cell.window_start
    }

    pub fn window_end(&self) -> u64 {
        self.cell.window_end
    }

    /// Number of JSON lines this window writes (cell line + machine lines).
    pub fn line_count(&self) -> usize {
        1 + self.machines.len()
    }
}

/// Writes the window as JSON Lines: the cell line, then the machine lines by machine ID.
/// Floats are printed shortest-round-trip, `None` and non-finite values as `null`: byte for
/// byte what serde_json prints for these structs (a test holds the two equal), written by
/// hand because serde's per-field calls were a tenth of the aggregation's time.
pub fn write_json_lines<W: Write + ?Sized>(out: &mut W, closed: &ClosedWindow) -> io::Result<()> {
    let mut buf = Vec::with_capacity(512 + 360 * closed.machines.len().min(4096));
    let c = &closed.cell;
    let mut o = JsonOut(&mut buf);
    o.raw(r#"{"kind":"cell","window_start":"#);
    o.u64(c.window_start);
    o.raw(r#","window_end":"#);
    o.u64(c.window_end);
    o.raw(r#","task_events_by_type":"#);
    counts(&mut o, &c.task_events_by_type);
    o.raw(r#","job_events_by_type":"#);
    counts(&mut o, &c.job_events_by_type);
    o.raw(r#","running_tasks":"#);
    o.u64(c.running_tasks);
    o.raw(r#","pending_tasks":"#);
    o.u64(c.pending_tasks);
    o.raw(r#","allocated_cpu":"#);
    o.f64_serde(c.allocated_cpu);
    o.raw(r#","allocated_memory":"#);
    o.f64_serde(c.allocated_memory);
    o.raw(r#","machine_events_by_type":{"ADD":"#);
    o.u64(c.machine_events_by_type.0[0]);
    o.raw(r#","REMOVE":"#);
    o.u64(c.machine_events_by_type.0[1]);
    o.raw(r#","UPDATE":"#);
    o.u64(c.machine_events_by_type.0[2]);
    o.raw(r#"},"machines_up":"#);
    o.u64(c.machines_up);
    o.raw(r#","cpu_capacity":"#);
    o.opt_f64_serde(c.cpu_capacity);
    o.raw(r#","memory_capacity":"#);
    o.opt_f64_serde(c.memory_capacity);
    o.raw(r#","allocated_cpu_fraction":"#);
    o.opt_f64_serde(c.allocated_cpu_fraction);
    o.raw(r#","allocated_memory_fraction":"#);
    o.opt_f64_serde(c.allocated_memory_fraction);
    o.raw(r#","overcommitted_machines":"#);
    o.u64(c.overcommitted_machines);
    o.raw("}\n");
    for m in &closed.machines {
        o.raw(r#"{"kind":"machine","window_start":"#);
        o.u64(m.window_start);
        o.raw(r#","window_end":"#);
        o.u64(m.window_end);
        o.raw(r#","machine_id":"#);
        o.u64(m.machine_id);
        o.raw(r#","task_events":"#);
        o.u64(m.task_events);
        o.raw(r#","cpu_request_sum":"#);
        o.f64_serde(m.cpu_request_sum);
        o.raw(r#","memory_request_sum":"#);
        o.f64_serde(m.memory_request_sum);
        o.raw(r#","cpu_request_avg":"#);
        o.opt_f64_serde(m.cpu_request_avg);
        o.raw(r#","memory_request_avg":"#);
        o.opt_f64_serde(m.memory_request_avg);
        o.raw(r#","allocated_cpu":"#);
        o.f64_serde(m.allocated_cpu);
        o.raw(r#","allocated_memory":"#);
        o.f64_serde(m.allocated_memory);
        o.raw(r#","running_tasks":"#);
        o.u64(m.running_tasks);
        o.raw(r#","peak_allocated_cpu":"#);
        o.f64_serde(m.peak_allocated_cpu);
        o.raw(r#","evictions":"#);
        o.u64(m.evictions);
        o.raw(r#","failures":"#);
        o.u64(m.failures);
        o.raw(r#","finishes":"#);
        o.u64(m.finishes);
        o.raw(r#","kills":"#);
        o.u64(m.kills);
        o.raw(r#","losts":"#);
        o.u64(m.losts);
        o.raw(r#","up":"#);
        match m.up {
            Some(true) => o.raw("true"),
            Some(false) => o.raw("false"),
            None => o.raw("null"),
        }
        o.raw(r#","cpu_capacity":"#);
        o.opt_f64_serde(m.cpu_capacity);
        o.raw(r#","memory_capacity":"#);
        o.opt_f64_serde(m.memory_capacity);
        o.raw(r#","allocated_cpu_fraction":"#);
        o.opt_f64_serde(m.allocated_cpu_fraction);
        o.raw(r#","allocated_memory_fraction":"#);
        o.opt_f64_serde(m.allocated_memory_fraction);
        o.raw(r#","machine_events":"#);
        o.u64(m.machine_events);
        o.raw("}\n");
        if o.0.len() >= 1 << 16 {
            out.write_all(o.0)?;
            o.0.clear();
        }
    }
    out.write_all(&buf)
}

/// The event counts as a JSON object, all 9 types in code order.
fn counts(o: &mut JsonOut<'_>, c: &EventCounts) {
    o.0.push(b'{');
    for (i, (t, n)) in c.iter().enumerate() {
        if i > 0 {
            o.0.push(b',');
        }
        o.0.push(b'"');
        o.raw(t.name());
        o.raw("\":");
        o.u64(n);
    }
    o.0.push(b'}');
}

/// Where closed windows go: JSON Lines ([`JsonLinesWriter`]) or Parquet
/// ([`super::ParquetWindowWriter`]).
pub trait WindowSink {
    fn write(&mut self, closed: &ClosedWindow) -> io::Result<()>;
    /// Writes what is buffered (and Parquet's footer); call once, at the end.
    fn finish(&mut self) -> io::Result<()>;
    /// Lines (rows) written so far.
    fn lines(&self) -> u64;
}

impl<W: Write> WindowSink for JsonLinesWriter<W> {
    fn write(&mut self, closed: &ClosedWindow) -> io::Result<()> {
        JsonLinesWriter::write(self, closed)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }

    fn lines(&self) -> u64 {
        JsonLinesWriter::lines(self)
    }
}

/// A JSON Lines sink for closed windows that counts what it wrote.
#[derive(Debug)]
pub struct JsonLinesWriter<W: Write> {
    out: W,
    lines: u64,
    windows: u64,
}

impl<W: Write> JsonLinesWriter<W> {
    pub fn new(out: W) -> Self {
        JsonLinesWriter {
            out,
            lines: 0,
            windows: 0,
        }
    }

    pub fn write(&mut self, closed: &ClosedWindow) -> io::Result<()> {
        write_json_lines(&mut self.out, closed)?;
        self.lines += closed.line_count() as u64;
        self.windows += 1;
        Ok(())
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn windows(&self) -> u64 {
        self.windows
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_lines(closed: &ClosedWindow) -> String {
        let mut s = serde_json::to_string(&closed.cell).unwrap() + "\n";
        for m in &closed.machines {
            s += &(serde_json::to_string(m).unwrap() + "\n");
        }
        s
    }

    proptest::proptest! {
        #[test]
        fn hand_written_lines_equal_serde_json(
            nums in proptest::collection::vec(proptest::num::u64::ANY, 12),
            floats in proptest::collection::vec(proptest::num::f64::ANY, 8),
            machines in 0usize..3,
        ) {
            let mut counts = EventCounts::default();
            counts.0[3] = nums[0];
            let closed = ClosedWindow {
                cell: CellWindow {
                    window_start: nums[1],
                    window_end: nums[2],
                    task_events_by_type: counts,
                    job_events_by_type: EventCounts([nums[3]; 9]),
                    running_tasks: nums[4],
                    pending_tasks: nums[5],
                    allocated_cpu: floats[0],
                    allocated_memory: floats[1],
                    machine_events_by_type: MachineEventCounts([nums[5], 0, nums[9]]),
                    machines_up: nums[10],
                    cpu_capacity: (machines > 0).then_some(floats[2]),
                    memory_capacity: (machines > 1).then_some(floats[3]),
                    allocated_cpu_fraction: (machines != 1).then_some(floats[4]),
                    allocated_memory_fraction: None,
                    overcommitted_machines: nums[11],
                },
                machines: (0..machines)
                    .map(|i| MachineWindow {
                        window_start: nums[1],
                        window_end: nums[2],
                        machine_id: nums[6] + i as u64,
                        task_events: nums[7],
                        cpu_request_sum: floats[2],
                        memory_request_sum: floats[3],
                        cpu_request_avg: (i % 2 == 0).then_some(floats[4]),
                        memory_request_avg: (i % 2 == 1).then_some(floats[5]),
                        allocated_cpu: floats[6],
                        allocated_memory: floats[7] * 1e-300,
                        running_tasks: nums[8],
                        peak_allocated_cpu: floats[6] / 3.0,
                        evictions: nums[9],
                        failures: nums[10],
                        finishes: nums[11],
                        kills: 0,
                        losts: u64::MAX,
                        up: [None, Some(true), Some(false)][i],
                        cpu_capacity: (i > 0).then_some(floats[5]),
                        memory_capacity: (i != 1).then_some(floats[1]),
                        allocated_cpu_fraction: (i > 0).then_some(floats[6] / 0.5),
                        allocated_memory_fraction: (i == 2).then_some(floats[0]),
                        machine_events: nums[4],
                    })
                    .collect(),
            };
            let mut out = Vec::new();
            write_json_lines(&mut out, &closed).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), serde_lines(&closed));
        }
    }

    #[test]
    fn json_lines_have_exact_fields_in_order() {
        let mut counts = EventCounts::default();
        counts.add(EventType::Submit);
        counts.add(EventType::UpdateRunning);
        let closed = ClosedWindow {
            cell: CellWindow {
                window_start: 0,
                window_end: 60_000_000,
                task_events_by_type: counts,
                job_events_by_type: EventCounts::default(),
                running_tasks: 1,
                pending_tasks: 2,
                allocated_cpu: 0.1 + 0.2,
                allocated_memory: 0.0,
                ..Default::default()
            },
            machines: vec![MachineWindow {
                window_start: 0,
                window_end: 60_000_000,
                machine_id: 6_000_000_000,
                task_events: 1,
                cpu_request_sum: 0.5,
                cpu_request_avg: Some(0.5),
                ..Default::default()
            }],
        };
        let mut w = JsonLinesWriter::new(Vec::new());
        w.write(&closed).unwrap();
        assert_eq!(w.lines(), 2);
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            concat!(
                r#"{"kind":"cell","window_start":0,"window_end":60000000,"#,
                r#""task_events_by_type":{"SUBMIT":1,"SCHEDULE":0,"EVICT":0,"FAIL":0,"FINISH":0,"#,
                r#""KILL":0,"LOST":0,"UPDATE_PENDING":0,"UPDATE_RUNNING":1},"#,
                r#""job_events_by_type":{"SUBMIT":0,"SCHEDULE":0,"EVICT":0,"FAIL":0,"FINISH":0,"#,
                r#""KILL":0,"LOST":0,"UPDATE_PENDING":0,"UPDATE_RUNNING":0},"#,
                r#""running_tasks":1,"pending_tasks":2,"allocated_cpu":0.30000000000000004,"#,
                r#""allocated_memory":0.0,"#,
                r#""machine_events_by_type":{"ADD":0,"REMOVE":0,"UPDATE":0},"machines_up":0,"#,
                r#""cpu_capacity":null,"memory_capacity":null,"allocated_cpu_fraction":null,"#,
                r#""allocated_memory_fraction":null,"overcommitted_machines":0}"#
            )
        );
        assert_eq!(
            lines[1],
            concat!(
                r#"{"kind":"machine","window_start":0,"window_end":60000000,"#,
                r#""machine_id":6000000000,"task_events":1,"cpu_request_sum":0.5,"#,
                r#""memory_request_sum":0.0,"cpu_request_avg":0.5,"memory_request_avg":null,"#,
                r#""allocated_cpu":0.0,"allocated_memory":0.0,"running_tasks":0,"#,
                r#""peak_allocated_cpu":0.0,"evictions":0,"failures":0,"finishes":0,"kills":0,"#,
                r#""losts":0,"up":null,"cpu_capacity":null,"memory_capacity":null,"#,
                r#""allocated_cpu_fraction":null,"allocated_memory_fraction":null,"#,
                r#""machine_events":0}"#
            )
        );
    }
}
