//! One line of a windows file -> a typed [`Line`], with only the fields the report draws.
//!
//! serde_json reads a borrowed struct of optional fields (unknown fields are skipped), and the
//! kind decides which fields are required. Only on a failure is the line parsed again into a
//! `serde_json::Value` to name the field at fault: serde's own type errors do not.

use crate::wire::Cursor;
use serde::Deserialize;
use std::borrow::Cow;

/// A cell line: the cell at the window end and the events of the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellLine {
    pub window_start: u64,
    pub window_end: u64,
    /// Indexed by event type code (SUBMIT = 0 ... UPDATE_RUNNING = 8).
    pub task_events: [u64; 9],
    pub job_events: [u64; 9],
    pub running_tasks: u64,
    pub pending_tasks: u64,
    pub allocated_cpu: f64,
    pub allocated_memory: f64,
    /// From `machine_events` (absent in windows files written without machines).
    pub machines_up: Option<u64>,
    pub allocated_cpu_fraction: Option<f64>,
    pub allocated_memory_fraction: Option<f64>,
    pub overcommitted_machines: Option<u64>,
}

/// A machine line: the machine at the window end and its events of the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MachineLine {
    pub window_start: u64,
    pub window_end: u64,
    pub machine_id: u64,
    pub task_events: u64,
    pub allocated_cpu: f64,
    pub allocated_memory: f64,
    pub peak_allocated_cpu: f64,
    pub evictions: u64,
    pub failures: u64,
    pub kills: u64,
    /// Allocated / capacity (`None`: capacity unknown, or a file written without machines).
    pub allocated_cpu_fraction: Option<f64>,
    pub allocated_memory_fraction: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Line {
    Cell(CellLine),
    Machine(MachineLine),
}

impl Line {
    pub fn window_start(&self) -> u64 {
        match self {
            Line::Cell(c) => c.window_start,
            Line::Machine(m) => m.window_start,
        }
    }

    pub fn window_end(&self) -> u64 {
        match self {
            Line::Cell(c) => c.window_end,
            Line::Machine(m) => m.window_end,
        }
    }
}

/// Why a line was rejected; the reader adds the file and line number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// The JSON ends before the object does (a truncated line when it has no end of line).
    Eof(String),
    /// Not JSON, or not a JSON object.
    Syntax(String),
    /// A JSON object, but no `kind` or an unknown one.
    Kind(String),
    /// A field missing or of the wrong type.
    Field { field: String, reason: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct Counts {
    submit: u64,
    schedule: u64,
    evict: u64,
    fail: u64,
    finish: u64,
    kill: u64,
    lost: u64,
    update_pending: u64,
    update_running: u64,
}

impl Counts {
    /// In event type code order.
    fn array(&self) -> [u64; 9] {
        [
            self.submit,
            self.schedule,
            self.evict,
            self.fail,
            self.finish,
            self.kill,
            self.lost,
            self.update_pending,
            self.update_running,
        ]
    }
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    window_start: Option<u64>,
    window_end: Option<u64>,
    machine_id: Option<u64>,
    task_events: Option<u64>,
    task_events_by_type: Option<Counts>,
    job_events_by_type: Option<Counts>,
    running_tasks: Option<u64>,
    pending_tasks: Option<u64>,
    allocated_cpu: Option<f64>,
    allocated_memory: Option<f64>,
    peak_allocated_cpu: Option<f64>,
    evictions: Option<u64>,
    failures: Option<u64>,
    kills: Option<u64>,
    machines_up: Option<u64>,
    allocated_cpu_fraction: Option<f64>,
    allocated_memory_fraction: Option<f64>,
    overcommitted_machines: Option<u64>,
}

/// The field or a `Problem::Field` naming it.
fn need<T>(v: Option<T>, field: &str) -> Result<T, Problem> {
    v.ok_or_else(|| Problem::Field {
        field: field.into(),
        reason: "missing or null".into(),
    })
}

/// Parses one line (without its end of line).
pub(crate) fn parse_line(bytes: &[u8]) -> Result<Line, Problem> {
    if let Some(m) = fast_machine(bytes) {
        return Ok(Line::Machine(m));
    }
    let raw: Raw<'_> = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(e) => return Err(diagnose(bytes, e)),
    };
    match raw.kind.as_deref() {
        Some("cell") => Ok(Line::Cell(CellLine {
            window_start: need(raw.window_start, "window_start")?,
            window_end: need(raw.window_end, "window_end")?,
            task_events: need(raw.task_events_by_type, "task_events_by_type")?.array(),
            job_events: need(raw.job_events_by_type, "job_events_by_type")?.array(),
            running_tasks: need(raw.running_tasks, "running_tasks")?,
            pending_tasks: need(raw.pending_tasks, "pending_tasks")?,
            allocated_cpu: need(raw.allocated_cpu, "allocated_cpu")?,
            allocated_memory: need(raw.allocated_memory, "allocated_memory")?,
            machines_up: raw.machines_up,
            allocated_cpu_fraction: raw.allocated_cpu_fraction,
            allocated_memory_fraction: raw.allocated_memory_fraction,
            overcommitted_machines: raw.overcommitted_machines,
        })),
        Some("machine") => Ok(Line::Machine(MachineLine {
            window_start: need(raw.window_start, "window_start")?,
            window_end: need(raw.window_end, "window_end")?,
            machine_id: need(raw.machine_id, "machine_id")?,
            task_events: need(raw.task_events, "task_events")?,
            allocated_cpu: need(raw.allocated_cpu, "allocated_cpu")?,
            allocated_memory: need(raw.allocated_memory, "allocated_memory")?,
            peak_allocated_cpu: need(raw.peak_allocated_cpu, "peak_allocated_cpu")?,
            evictions: need(raw.evictions, "evictions")?,
            failures: need(raw.failures, "failures")?,
            kills: need(raw.kills, "kills")?,
            allocated_cpu_fraction: raw.allocated_cpu_fraction,
            allocated_memory_fraction: raw.allocated_memory_fraction,
        })),
        Some(other) => Err(Problem::Kind(format!(
            "\"kind\" is {other:?}, neither \"cell\" nor \"machine\""
        ))),
        None => Err(Problem::Kind("no \"kind\" field".into())),
    }
}

/// Reads a machine line in exactly the form `aggregate` writes it (field order, no spaces,
/// see `window::write_json_lines`), or `None` for anything else, which then goes through
/// serde_json. Machine lines are nearly all the lines of a windows file, and serde_json's
/// field-by-field matching made it the report's largest cost.
fn fast_machine(b: &[u8]) -> Option<MachineLine> {
    let mut c = Cursor::new(b);
    c.lit(br#"{"kind":"machine","window_start":"#)?;
    let window_start = c.u64()?;
    c.lit(br#","window_end":"#)?;
    let window_end = c.u64()?;
    c.lit(br#","machine_id":"#)?;
    let machine_id = c.u64()?;
    c.lit(br#","task_events":"#)?;
    let task_events = c.u64()?;
    c.lit(br#","cpu_request_sum":"#)?;
    c.number()?;
    c.lit(br#","memory_request_sum":"#)?;
    c.number()?;
    c.lit(br#","cpu_request_avg":"#)?;
    skip_opt_number(&mut c)?;
    c.lit(br#","memory_request_avg":"#)?;
    skip_opt_number(&mut c)?;
    c.lit(br#","allocated_cpu":"#)?;
    let allocated_cpu = f64(&mut c)?;
    c.lit(br#","allocated_memory":"#)?;
    let allocated_memory = f64(&mut c)?;
    c.lit(br#","running_tasks":"#)?;
    c.u64()?;
    c.lit(br#","peak_allocated_cpu":"#)?;
    let peak_allocated_cpu = f64(&mut c)?;
    c.lit(br#","evictions":"#)?;
    let evictions = c.u64()?;
    c.lit(br#","failures":"#)?;
    let failures = c.u64()?;
    c.lit(br#","finishes":"#)?;
    c.u64()?;
    c.lit(br#","kills":"#)?;
    let kills = c.u64()?;
    c.lit(br#","losts":"#)?;
    c.u64()?;
    // The machine fields (windows files since machine_events; older files end here).
    let (mut allocated_cpu_fraction, mut allocated_memory_fraction) = (None, None);
    if c.lit(b"}").is_none() {
        c.lit(br#","up":"#)?;
        if c.lit(b"null").is_none() && c.lit(b"true").is_none() {
            c.lit(b"false")?;
        }
        c.lit(br#","cpu_capacity":"#)?;
        skip_opt_number(&mut c)?;
        c.lit(br#","memory_capacity":"#)?;
        skip_opt_number(&mut c)?;
        c.lit(br#","allocated_cpu_fraction":"#)?;
        allocated_cpu_fraction = opt_f64(&mut c)?;
        c.lit(br#","allocated_memory_fraction":"#)?;
        allocated_memory_fraction = opt_f64(&mut c)?;
        c.lit(br#","machine_events":"#)?;
        c.u64()?;
        c.lit(b"}")?;
    }
    c.at_end().then_some(MachineLine {
        window_start,
        window_end,
        machine_id,
        task_events,
        allocated_cpu,
        allocated_memory,
        peak_allocated_cpu,
        evictions,
        failures,
        kills,
        allocated_cpu_fraction,
        allocated_memory_fraction,
    })
}

/// `null` (as `Some(None)`) or a number.
fn opt_f64(c: &mut Cursor<'_>) -> Option<Option<f64>> {
    if c.lit(b"null").is_some() {
        return Some(None);
    }
    f64(c).map(Some)
}

/// A JSON number's value, correctly rounded (as serde_json's `float_roundtrip`).
fn f64(c: &mut Cursor<'_>) -> Option<f64> {
    let s = c.number()?;
    exact_decimal(s).or_else(|| std::str::from_utf8(s).ok()?.parse().ok())
}

/// `null` or a number (the value is not needed).
fn skip_opt_number(c: &mut Cursor<'_>) -> Option<()> {
    if c.lit(b"null").is_some() {
        return Some(());
    }
    c.number().map(|_| ())
}

/// `[-]digits[.digits]` with a mantissa below 2^53 and at most 22 decimals: both the
/// mantissa and the power of ten are exact doubles, so one division is correctly rounded
/// (Clinger's fast path). Most window values look like this; the rest go to the standard
/// library's parser.
fn exact_decimal(s: &[u8]) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let mut mantissa: u64 = 0;
    let mut decimals: Option<usize> = None;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                if let Some(d) = &mut decimals {
                    *d += 1;
                }
            }
            b'.' if decimals.is_none() => decimals = Some(0),
            _ => return None,
        }
    }
    if mantissa > 1 << 53 {
        return None;
    }
    let v = mantissa as f64 / *POW10.get(decimals.unwrap_or(0))?;
    Some(if negative { -v } else { v })
}

/// Names what is wrong with a line that serde_json rejected (the slow path).
fn diagnose(bytes: &[u8], e: serde_json::Error) -> Problem {
    if e.is_eof() {
        return Problem::Eof(e.to_string());
    }
    if e.is_syntax() {
        return Problem::Syntax(e.to_string());
    }
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Problem::Syntax(e.to_string()),
    };
    let Some(obj) = value.as_object() else {
        return Problem::Syntax(format!("not a JSON object: {}", short(&value)));
    };
    let check = |name: &str, ok: bool| -> Result<(), Problem> {
        match obj.get(name) {
            Some(v) if !ok => Err(Problem::Field {
                field: name.into(),
                reason: format!("unexpected value {}", short(v)),
            }),
            _ => Ok(()),
        }
    };
    let u64_ok = |name: &str| obj.get(name).is_none_or(|v| v.is_null() || v.is_u64());
    let f64_ok = |name: &str| obj.get(name).is_none_or(|v| v.is_null() || v.is_number());
    let result = (|| {
        if obj
            .get("kind")
            .is_some_and(|k| !k.is_string() && !k.is_null())
        {
            return Err(Problem::Kind(format!(
                "\"kind\" is {}, not a string",
                short(&obj["kind"])
            )));
        }
        for name in [
            "window_start",
            "window_end",
            "machine_id",
            "task_events",
            "running_tasks",
            "pending_tasks",
            "evictions",
            "failures",
            "kills",
        ] {
            check(name, u64_ok(name))?;
        }
        for name in ["machines_up", "overcommitted_machines"] {
            check(name, u64_ok(name))?;
        }
        for name in [
            "allocated_cpu",
            "allocated_memory",
            "peak_allocated_cpu",
            "allocated_cpu_fraction",
            "allocated_memory_fraction",
        ] {
            check(name, f64_ok(name))?;
        }
        for name in ["task_events_by_type", "job_events_by_type"] {
            if let Some(v) = obj.get(name).filter(|v| !v.is_null()) {
                if let Err(e) = Counts::deserialize(v) {
                    return Err(Problem::Field {
                        field: name.into(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    })();
    match result {
        Err(p) => p,
        // Every field we read looks right: report serde's own words.
        Ok(()) => Problem::Syntax(e.to_string()),
    }
}

/// A JSON value for an error message, cut to a readable length.
fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CELL: &str = r#"{"kind":"cell","window_start":0,"window_end":60000000,"task_events_by_type":{"SUBMIT":1,"SCHEDULE":2,"EVICT":3,"FAIL":4,"FINISH":5,"KILL":6,"LOST":7,"UPDATE_PENDING":8,"UPDATE_RUNNING":9},"job_events_by_type":{"SUBMIT":1,"SCHEDULE":0,"EVICT":0,"FAIL":0,"FINISH":0,"KILL":0,"LOST":0,"UPDATE_PENDING":0,"UPDATE_RUNNING":0},"running_tasks":10,"pending_tasks":11,"allocated_cpu":0.5,"allocated_memory":0.25}"#;
    const MACHINE: &str = r#"{"kind":"machine","window_start":0,"window_end":60000000,"machine_id":6000000000,"task_events":1,"cpu_request_sum":0.5,"memory_request_sum":0.0,"cpu_request_avg":0.5,"memory_request_avg":null,"allocated_cpu":0.125,"allocated_memory":0.0625,"running_tasks":2,"peak_allocated_cpu":0.25,"evictions":1,"failures":2,"finishes":0,"kills":3,"losts":0}"#;

    #[test]
    fn reads_both_kinds() {
        let Line::Cell(c) = parse_line(CELL.as_bytes()).unwrap() else {
            panic!("not a cell")
        };
        assert_eq!(c.task_events, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(c.job_events[0], 1);
        assert_eq!((c.running_tasks, c.pending_tasks), (10, 11));
        assert_eq!((c.allocated_cpu, c.allocated_memory), (0.5, 0.25));
        let Line::Machine(m) = parse_line(MACHINE.as_bytes()).unwrap() else {
            panic!("not a machine")
        };
        assert_eq!(m.machine_id, 6_000_000_000);
        assert_eq!(m.peak_allocated_cpu, 0.25);
        assert_eq!((m.evictions, m.failures, m.kills), (1, 2, 3));
    }

    /// The fast path reads what serde_json reads, and leaves anything else to it.
    #[test]
    fn fast_path_agrees_with_serde() {
        use crate::window::{write_json_lines, CellWindow, ClosedWindow, MachineWindow};
        let values = [
            0.0,
            1.0,
            0.1 + 0.2,
            1e-300,
            123456.789e10,
            5e-324,
            -0.0,
            0.5,
        ];
        let mut machines = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            machines.push(MachineWindow {
                window_start: 60_000_000 * i as u64,
                window_end: 60_000_000 * (i as u64 + 1),
                machine_id: u64::MAX - i as u64,
                task_events: i as u64,
                cpu_request_sum: v,
                memory_request_sum: v / 3.0,
                cpu_request_avg: (i % 2 == 0).then_some(v),
                memory_request_avg: (i % 3 == 0).then_some(v * 7.0),
                allocated_cpu: v,
                allocated_memory: v / 7.0,
                running_tasks: 10 * i as u64,
                peak_allocated_cpu: v * 2.0,
                evictions: i as u64,
                failures: 2 * i as u64,
                finishes: 3,
                kills: u64::MAX,
                losts: 1,
                up: [None, Some(true), Some(false)][i % 3],
                cpu_capacity: (i % 2 == 1).then_some(v + 0.5),
                memory_capacity: (i % 3 == 1).then_some(v),
                allocated_cpu_fraction: (i % 2 == 1).then_some(v / (v + 0.5)),
                allocated_memory_fraction: (i % 4 == 1).then_some(v * 3.0),
                machine_events: i as u64,
            });
        }
        let closed = ClosedWindow {
            cell: CellWindow::default(),
            machines,
        };
        let mut out = Vec::new();
        write_json_lines(&mut out, &closed).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut n = 0;
        for line in text.lines().skip(1) {
            let fast = fast_machine(line.as_bytes()).expect("the writer's form");
            let raw: Raw<'_> = serde_json::from_str(line).unwrap();
            assert_eq!(
                fast.allocated_cpu.to_bits(),
                raw.allocated_cpu.unwrap().to_bits()
            );
            assert_eq!(
                fast.allocated_memory.to_bits(),
                raw.allocated_memory.unwrap().to_bits()
            );
            assert_eq!(
                fast.peak_allocated_cpu.to_bits(),
                raw.peak_allocated_cpu.unwrap().to_bits()
            );
            assert_eq!(
                (
                    fast.machine_id,
                    fast.window_start,
                    fast.window_end,
                    fast.task_events
                ),
                (
                    raw.machine_id.unwrap(),
                    raw.window_start.unwrap(),
                    raw.window_end.unwrap(),
                    raw.task_events.unwrap()
                )
            );
            assert_eq!(
                (fast.evictions, fast.failures, fast.kills),
                (
                    raw.evictions.unwrap(),
                    raw.failures.unwrap(),
                    raw.kills.unwrap()
                )
            );
            // Other forms of the same line are left to serde_json (which reads or rejects them).
            for other in [
                line.replacen(',', ", ", 1),
                line.replacen("\"machine_id\":", "\"machine_id\":0", 1),
                line.replacen("}", ",\"x\":1}", 1),
                line.replacen("\"losts\":1", "\"losts\":1 ", 1),
            ] {
                assert!(fast_machine(other.as_bytes()).is_none(), "{other}");
            }
            n += 1;
        }
        assert_eq!(n, values.len());
        assert!(fast_machine(MACHINE.as_bytes()).is_some());
    }

    proptest::proptest! {
        /// The fast decimal path gives the standard library's value, bit for bit, for the
        /// shortest form of any double and for decimals of every length.
        #[test]
        fn exact_decimal_is_correctly_rounded(v in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
                                              m in 0u64..(1 << 53), d in 0usize..23) {
            let shortest = zmij::Buffer::new().format_finite(v).to_string();
            if let Some(x) = exact_decimal(shortest.as_bytes()) {
                proptest::prop_assert_eq!(x.to_bits(), shortest.parse::<f64>().unwrap().to_bits());
            }
            let digits = format!("{m:0>width$}", width = d + 1);
            let text = format!("{}.{}", &digits[..digits.len() - d], &digits[digits.len() - d..]);
            let text = text.trim_end_matches('.');
            let x = exact_decimal(text.as_bytes()).expect("a plain decimal");
            proptest::prop_assert_eq!(x.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{}", text);
        }
    }

    #[test]
    fn names_the_bad_field() {
        let bad = MACHINE.replace(r#""machine_id":6000000000"#, r#""machine_id":"x""#);
        assert_eq!(
            parse_line(bad.as_bytes()),
            Err(Problem::Field {
                field: "machine_id".into(),
                reason: "unexpected value \"x\"".into()
            })
        );
        let missing = MACHINE.replace(r#""peak_allocated_cpu":0.25,"#, "");
        assert!(matches!(parse_line(missing.as_bytes()),
            Err(Problem::Field { field, .. }) if field == "peak_allocated_cpu"));
        let counts = CELL.replace(r#""LOST":7,"#, "");
        assert!(matches!(parse_line(counts.as_bytes()),
            Err(Problem::Field { field, reason }) if field == "task_events_by_type" && reason.contains("LOST")));
    }

    #[test]
    fn classifies_eof_syntax_and_kind() {
        assert!(matches!(
            parse_line(&CELL.as_bytes()[..100]),
            Err(Problem::Eof(_))
        ));
        assert!(matches!(parse_line(b"1,2,3"), Err(Problem::Syntax(_))));
        assert!(matches!(parse_line(b"[1]"), Err(Problem::Syntax(_))));
        assert!(matches!(
            parse_line(br#"{"topic":"task-events"}"#),
            Err(Problem::Kind(_))
        ));
        assert!(matches!(
            parse_line(br#"{"kind":"job"}"#),
            Err(Problem::Kind(_))
        ));
    }
}
