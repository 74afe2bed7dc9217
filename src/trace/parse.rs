//! CSV row -> typed record. Fields are parsed from raw bytes: the trace is ASCII, and
//! going through `&str` and `str::parse` for integers costs a third of the parse time.

use super::error::RowError;
use super::record::{EventType, JobEvent, MachineEvent, MachineEventType, MissingInfo, TaskEvent};
use csv::ByteRecord;

pub const JOB_FIELDS: [&str; 8] = [
    "time",
    "missing info",
    "job ID",
    "event type",
    "user",
    "scheduling class",
    "job name",
    "logical job name",
];

pub const TASK_FIELDS: [&str; 13] = [
    "time",
    "missing info",
    "job ID",
    "task index",
    "machine ID",
    "event type",
    "user",
    "scheduling class",
    "priority",
    "CPU request",
    "memory request",
    "disk space request",
    "different machines restriction",
];

pub const MACHINE_FIELDS: [&str; 6] = [
    "time",
    "machine ID",
    "event type",
    "platform ID",
    "CPUs",
    "Memory",
];

fn invalid(field: &'static str, raw: &[u8], reason: &'static str) -> RowError {
    RowError::Invalid {
        field,
        value: String::from_utf8_lossy(raw).into_owned(),
        reason,
    }
}

/// Unsigned decimal integer, no sign, no spaces, no overflow.
pub fn parse_u64(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in raw {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

fn opt_u64(field: &'static str, raw: &[u8]) -> Result<Option<u64>, RowError> {
    if raw.is_empty() {
        return Ok(None);
    }
    parse_u64(raw)
        .map(Some)
        .ok_or_else(|| invalid(field, raw, "not an unsigned 64-bit integer"))
}

fn req_u64(field: &'static str, raw: &[u8]) -> Result<u64, RowError> {
    opt_u64(field, raw)?.ok_or(RowError::Missing { field })
}

fn opt_u8(field: &'static str, raw: &[u8]) -> Result<Option<u8>, RowError> {
    match opt_u64(field, raw)? {
        None => Ok(None),
        Some(v) => u8::try_from(v)
            .map(Some)
            .map_err(|_| invalid(field, raw, "out of range")),
    }
}

fn event_type(field: &'static str, raw: &[u8]) -> Result<EventType, RowError> {
    let code = req_u64(field, raw)?;
    EventType::from_code(code).ok_or_else(|| invalid(field, raw, "unknown event type (0..8)"))
}

fn missing_info(field: &'static str, raw: &[u8]) -> Result<Option<MissingInfo>, RowError> {
    match opt_u64(field, raw)? {
        None => Ok(None),
        Some(code) => MissingInfo::from_code(code)
            .map(Some)
            .ok_or_else(|| invalid(field, raw, "unknown missing info (0..2)")),
    }
}

fn opt_f64(field: &'static str, raw: &[u8]) -> Result<Option<f64>, RowError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let s = std::str::from_utf8(raw).map_err(|_| invalid(field, raw, "not a number"))?;
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(invalid(field, raw, "not a finite number")),
    }
}

fn opt_bool(field: &'static str, raw: &[u8]) -> Result<Option<bool>, RowError> {
    match raw {
        b"" => Ok(None),
        b"0" => Ok(Some(false)),
        b"1" => Ok(Some(true)),
        _ => Err(invalid(field, raw, "not a boolean (0 or 1)")),
    }
}

fn opt_string(field: &'static str, raw: &[u8]) -> Result<Option<String>, RowError> {
    if raw.is_empty() {
        return Ok(None);
    }
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(Some(s.to_owned())),
        Err(_) => Err(invalid(field, raw, "not valid UTF-8")),
    }
}

fn check_count(row: &ByteRecord, expected: usize) -> Result<(), RowError> {
    if row.len() != expected {
        return Err(RowError::FieldCount {
            expected,
            got: row.len(),
        });
    }
    Ok(())
}

/// Parses one `job_events` row (8 fields).
pub fn parse_job(row: &ByteRecord) -> Result<JobEvent, RowError> {
    check_count(row, 8)?;
    let f = |i: usize| &row[i];
    Ok(JobEvent {
        time: req_u64(JOB_FIELDS[0], f(0))?,
        missing_info: missing_info(JOB_FIELDS[1], f(1))?,
        job_id: req_u64(JOB_FIELDS[2], f(2))?,
        event_type: event_type(JOB_FIELDS[3], f(3))?,
        user: opt_string(JOB_FIELDS[4], f(4))?,
        scheduling_class: opt_u8(JOB_FIELDS[5], f(5))?,
        job_name: opt_string(JOB_FIELDS[6], f(6))?,
        logical_job_name: opt_string(JOB_FIELDS[7], f(7))?,
    })
}

/// Parses one `machine_events` row (6 fields).
pub fn parse_machine(row: &ByteRecord) -> Result<MachineEvent, RowError> {
    check_count(row, 6)?;
    let f = |i: usize| &row[i];
    let code = req_u64(MACHINE_FIELDS[2], f(2))?;
    let event_type = MachineEventType::from_code(code)
        .ok_or_else(|| invalid(MACHINE_FIELDS[2], f(2), "unknown machine event type (0..2)"))?;
    Ok(MachineEvent {
        time: req_u64(MACHINE_FIELDS[0], f(0))?,
        machine_id: req_u64(MACHINE_FIELDS[1], f(1))?,
        event_type,
        platform_id: opt_string(MACHINE_FIELDS[3], f(3))?,
        cpus: opt_f64(MACHINE_FIELDS[4], f(4))?,
        memory: opt_f64(MACHINE_FIELDS[5], f(5))?,
    })
}

/// Parses one `task_events` row (13 fields).
pub fn parse_task(row: &ByteRecord) -> Result<TaskEvent, RowError> {
    check_count(row, 13)?;
    let f = |i: usize| &row[i];
    let priority = opt_u8(TASK_FIELDS[8], f(8))?.ok_or(RowError::Missing {
        field: TASK_FIELDS[8],
    })?;
    Ok(TaskEvent {
        time: req_u64(TASK_FIELDS[0], f(0))?,
        missing_info: missing_info(TASK_FIELDS[1], f(1))?,
        job_id: req_u64(TASK_FIELDS[2], f(2))?,
        task_index: req_u64(TASK_FIELDS[3], f(3))?,
        machine_id: opt_u64(TASK_FIELDS[4], f(4))?,
        event_type: event_type(TASK_FIELDS[5], f(5))?,
        user: opt_string(TASK_FIELDS[6], f(6))?,
        scheduling_class: opt_u8(TASK_FIELDS[7], f(7))?,
        priority,
        cpu_request: opt_f64(TASK_FIELDS[9], f(9))?,
        memory_request: opt_f64(TASK_FIELDS[10], f(10))?,
        disk_space_request: opt_f64(TASK_FIELDS[11], f(11))?,
        different_machines_restriction: opt_bool(TASK_FIELDS[12], f(12))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::record::TIME_AFTER_END;

    fn row(line: &str) -> ByteRecord {
        ByteRecord::from(line.split(',').collect::<Vec<_>>())
    }

    /// Real lines of task_events part-00000 and job_events part-00000.
    #[test]
    fn real_task_lines() {
        let t = parse_task(&row(
            "0,2,3418309,0,4155527081,0,70s3v5qRyCO/1PCdI6fVXnrW8FU/w+5CKRSa72xgcIo=,3,9,,,,",
        ))
        .unwrap();
        assert_eq!(t.time, 0);
        assert_eq!(t.missing_info, Some(MissingInfo::ExistsButNoCreation));
        assert_eq!(t.job_id, 3418309);
        assert_eq!(t.machine_id, Some(4155527081), "machine IDs exceed 2^31");
        assert_eq!(t.event_type, EventType::Submit);
        assert_eq!(t.cpu_request, None, "empty is missing, never 0");
        assert_eq!(t.different_machines_restriction, None);
        let t = parse_task(&row("0,,3418314,0,3938719206,0,70s3v5qRyCO/1PCdI6fVXnrW8FU/w+5CKRSa72xgcIo=,3,9,0.125,0.07446,0.0004244,0")).unwrap();
        assert_eq!(t.missing_info, None);
        assert_eq!(t.cpu_request, Some(0.125));
        assert_eq!(t.memory_request, Some(0.07446));
        assert_eq!(t.disk_space_request, Some(0.0004244));
        assert_eq!(
            t.different_machines_restriction,
            Some(false),
            "0 is false (bool(\"0\") was true)"
        );
        assert_eq!(t.priority, 9);
        assert_eq!(t.scheduling_class, Some(3));
    }

    #[test]
    fn real_job_line() {
        let j = parse_job(&row("0,,3418309,0,70s3v5qRyCO/1PCdI6fVXnrW8FU/w+5CKRSa72xgcIo=,3,IHgtoxEBuUTHNbUeVs4hzptMY4n8rZKLbZg+Jh5fNG4=,wAmgn2H74cdoMuSFwJF3NaUEaudVBTZ0/HaNZBwIpEQ=")).unwrap();
        assert_eq!(j.job_id, 3418309);
        assert_eq!(j.user.as_deref().map(str::len), Some(44));
        assert_eq!(j.scheduling_class, Some(3));
    }

    /// Real lines of machine_events part-00000: an ADD with capacity, one with the capacity
    /// empty (unknown, not 0), a REMOVE.
    #[test]
    fn real_machine_lines() {
        let m = parse_machine(&row(
            "0,5,0,HofLGzk1Or/8Ildj2+Lqv0UGGvY82NLoni8+J/Yy0RU=,0.5,0.2493",
        ))
        .unwrap();
        assert_eq!(m.time, 0);
        assert_eq!(m.machine_id, 5);
        assert_eq!(m.event_type, MachineEventType::Add);
        assert_eq!(m.platform_id.as_deref().map(str::len), Some(44));
        assert_eq!((m.cpus, m.memory), (Some(0.5), Some(0.2493)));
        let m = parse_machine(&row(
            "113019603442,6264344062,0,JQ1tVQBMHBAIISU1gUNXk2powhYumYA+4cB3KzU29l8=,,",
        ))
        .unwrap();
        assert_eq!(m.machine_id, 6264344062, "machine IDs exceed 2^32");
        assert_eq!(
            (m.cpus, m.memory),
            (None, None),
            "empty is unknown, never 0"
        );
        let m = parse_machine(&row(
            "779231019,5782512,1,HofLGzk1Or/8Ildj2+Lqv0UGGvY82NLoni8+J/Yy0RU=,0.5,0.2493",
        ))
        .unwrap();
        assert_eq!(m.event_type, MachineEventType::Remove);
        let m = parse_machine(&row("5,7,2,,,")).unwrap();
        assert_eq!(m.event_type, MachineEventType::Update);
        assert_eq!(m.platform_id, None);
    }

    #[test]
    fn machine_errors_name_the_field() {
        let e = parse_machine(&row("1,2,3,p,0.5,0.5")).unwrap_err();
        assert!(
            e.to_string()
                .contains("field `event type`: unknown machine event type (0..2): \"3\""),
            "{e}"
        );
        let e = parse_machine(&row("1,,0,p,0.5,0.5")).unwrap_err();
        assert_eq!(
            e,
            RowError::Missing {
                field: "machine ID"
            }
        );
        let e = parse_machine(&row("1,2,0,p,half,0.5")).unwrap_err();
        assert!(e.to_string().contains("field `CPUs`"), "{e}");
        let e = parse_machine(&row("1,2,0,p,0.5")).unwrap_err();
        assert_eq!(
            e,
            RowError::FieldCount {
                expected: 6,
                got: 5
            }
        );
    }

    #[test]
    fn large_ids_and_after_the_end_sentinels() {
        let t = parse_task(&row("18446744073709551615,,6400000000,1,,5,u,,0,,,,1")).unwrap();
        assert!(crate::trace::is_after_end(t.time));
        assert_eq!(t.job_id, 6_400_000_000);
        assert_eq!(t.different_machines_restriction, Some(true));
        let j = parse_job(&row("9223372036854775807,,1,4,,,,")).unwrap();
        assert_eq!(j.time, TIME_AFTER_END);
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let e = parse_task(&row("1,,2,3,4,5,u,0,1")).unwrap_err();
        assert_eq!(
            e,
            RowError::FieldCount {
                expected: 13,
                got: 9
            }
        );
        let e = parse_task(&row(",,2,3,4,5,u,0,1,,,,")).unwrap_err();
        assert_eq!(e, RowError::Missing { field: "time" });
        let e = parse_task(&row("1,,2,3,4,5,u,0,,,,,")).unwrap_err();
        assert_eq!(e, RowError::Missing { field: "priority" });
        let e = parse_task(&row("1,,2,3,4,9,u,0,1,,,,")).unwrap_err();
        assert!(
            e.to_string()
                .contains("field `event type`: unknown event type (0..8): \"9\""),
            "{e}"
        );
        let e = parse_task(&row("1,,2,3,4,5,u,0,1,abc,,,")).unwrap_err();
        assert!(e.to_string().contains("field `CPU request`"), "{e}");
        let e = parse_task(&row("1,,2,3,4,5,u,0,1,,,,2")).unwrap_err();
        assert!(e.to_string().contains("not a boolean (0 or 1)"), "{e}");
        let e = parse_task(&row("1,7,2,3,4,5,u,0,1,,,,")).unwrap_err();
        assert!(e.to_string().contains("missing info"), "{e}");
        let e = parse_job(&row("1,,-5,0,,,,")).unwrap_err();
        assert!(e.to_string().contains("field `job ID`"), "{e}");
        assert_eq!(parse_u64(b"18446744073709551616"), None, "overflow");
        assert_eq!(parse_u64(b"+1"), None);
    }

    proptest::proptest! {
        /// Fuzzing by property: any bytes in any field never panic; a row either parses or
        /// gives an error that names a field (or the field count).
        #[test]
        fn arbitrary_fields_never_panic(
            fields in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..24), 0..16),
            numeric in proptest::collection::vec("[0-9]{0,21}", 13),
        ) {
            let row = ByteRecord::from(fields.clone());
            for r in [parse_task(&row).err(), parse_job(&row).err(), parse_machine(&row).err()].into_iter().flatten() {
                let msg = r.to_string();
                proptest::prop_assert!(msg.contains("field") || msg.contains("fields"), "{}", msg);
            }
            // Mostly-numeric rows reach the deeper checks (ranges, overflow, enums).
            let row = ByteRecord::from(numeric.clone());
            if let Err(e) = parse_task(&row) {
                proptest::prop_assert!(e.to_string().contains("field"));
            }
            let row = ByteRecord::from(numeric[..8].to_vec());
            if let Err(e) = parse_job(&row) {
                proptest::prop_assert!(e.to_string().contains("field"));
            }
            let row = ByteRecord::from(numeric[..6].to_vec());
            if let Err(e) = parse_machine(&row) {
                proptest::prop_assert!(e.to_string().contains("field"));
            }
        }
    }
}
