//! JSON values of data records. Encoding is hand-written ([`JsonOut`] into a reused buffer):
//! it runs once per event on the replay's hot path.

use crate::json_out::JsonOut;
use crate::trace::{EventType, JobEvent, MissingInfo, Record, TaskEvent};

/// Writes the JSON value of `record` into `out` (cleared first).
pub fn encode_record(record: &Record, out: &mut Vec<u8>) {
    out.clear();
    let mut o = JsonOut(out);
    let missing = |m: Option<MissingInfo>| m.map(|m| u64::from(m.code()));
    match record {
        Record::Job(j) => {
            o.raw("{\"time\":");
            o.u64(j.time);
            o.raw(",\"missing_info\":");
            o.opt_u64(missing(j.missing_info));
            o.raw(",\"job_id\":");
            o.u64(j.job_id);
            o.raw(",\"event_type\":");
            o.u64(j.event_type.code().into());
            o.raw(",\"user\":");
            o.opt_str(&j.user);
            o.raw(",\"scheduling_class\":");
            o.opt_u64(j.scheduling_class.map(u64::from));
            o.raw(",\"job_name\":");
            o.opt_str(&j.job_name);
            o.raw(",\"logical_job_name\":");
            o.opt_str(&j.logical_job_name);
            o.raw("}");
        }
        Record::Task(t) => {
            o.raw("{\"time\":");
            o.u64(t.time);
            o.raw(",\"missing_info\":");
            o.opt_u64(missing(t.missing_info));
            o.raw(",\"job_id\":");
            o.u64(t.job_id);
            o.raw(",\"task_index\":");
            o.u64(t.task_index);
            o.raw(",\"machine_id\":");
            o.opt_u64(t.machine_id);
            o.raw(",\"event_type\":");
            o.u64(t.event_type.code().into());
            o.raw(",\"user\":");
            o.opt_str(&t.user);
            o.raw(",\"scheduling_class\":");
            o.opt_u64(t.scheduling_class.map(u64::from));
            o.raw(",\"priority\":");
            o.u64(t.priority.into());
            o.raw(",\"cpu_request\":");
            o.opt_f64_ryu(t.cpu_request);
            o.raw(",\"memory_request\":");
            o.opt_f64_ryu(t.memory_request);
            o.raw(",\"disk_space_request\":");
            o.opt_f64_ryu(t.disk_space_request);
            o.raw(",\"different_machines_restriction\":");
            o.opt_bool(t.different_machines_restriction);
            o.raw("}");
        }
    }
}

/// A value that is not a valid data record of the expected table.
#[derive(Debug, thiserror::Error)]
#[error("invalid {table} event JSON: {message}")]
pub struct DecodeError {
    pub table: &'static str,
    pub message: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JobJson {
    time: u64,
    missing_info: Option<u8>,
    job_id: u64,
    event_type: u8,
    user: Option<String>,
    scheduling_class: Option<u8>,
    job_name: Option<String>,
    logical_job_name: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskJson {
    time: u64,
    missing_info: Option<u8>,
    job_id: u64,
    task_index: u64,
    machine_id: Option<u64>,
    event_type: u8,
    user: Option<String>,
    scheduling_class: Option<u8>,
    priority: u8,
    cpu_request: Option<f64>,
    memory_request: Option<f64>,
    disk_space_request: Option<f64>,
    different_machines_restriction: Option<bool>,
}

fn enums(
    table: &'static str,
    event_type: u8,
    missing: Option<u8>,
) -> Result<(EventType, Option<MissingInfo>), DecodeError> {
    let err = |message: String| DecodeError { table, message };
    let et = EventType::try_from(event_type).map_err(err)?;
    let mi = missing
        .map(MissingInfo::try_from)
        .transpose()
        .map_err(err)?;
    Ok((et, mi))
}

fn expect_object(table: crate::trace::Table, value: &[u8]) -> Result<(), DecodeError> {
    if super::is_json_object(value) {
        Ok(())
    } else {
        Err(DecodeError {
            table: table.name(),
            message: "not a JSON object".into(),
        })
    }
}

/// Parses a data record's value back into a typed record of `table`.
pub fn decode_record(table: crate::trace::Table, value: &[u8]) -> Result<Record, DecodeError> {
    super::fast::decode(table, value, true).map_or_else(|| serde_decode(table, value), Ok)
}

/// The general decoder: any valid JSON, with serde_json's error messages.
pub(super) fn serde_decode(
    table: crate::trace::Table,
    value: &[u8],
) -> Result<Record, DecodeError> {
    use crate::trace::Table;
    expect_object(table, value)?;
    match table {
        Table::Job => {
            let j: JobJson = serde_json::from_slice(value).map_err(|e| DecodeError {
                table: "job",
                message: e.to_string(),
            })?;
            let (event_type, missing_info) = enums("job", j.event_type, j.missing_info)?;
            Ok(Record::Job(JobEvent {
                time: j.time,
                missing_info,
                job_id: j.job_id,
                event_type,
                user: j.user,
                scheduling_class: j.scheduling_class,
                job_name: j.job_name,
                logical_job_name: j.logical_job_name,
            }))
        }
        Table::Task => {
            let t: TaskJson = serde_json::from_slice(value).map_err(|e| DecodeError {
                table: "task",
                message: e.to_string(),
            })?;
            let (event_type, missing_info) = enums("task", t.event_type, t.missing_info)?;
            Ok(Record::Task(TaskEvent {
                time: t.time,
                missing_info,
                job_id: t.job_id,
                task_index: t.task_index,
                machine_id: t.machine_id,
                event_type,
                user: t.user,
                scheduling_class: t.scheduling_class,
                priority: t.priority,
                cpu_request: t.cpu_request,
                memory_request: t.memory_request,
                disk_space_request: t.disk_space_request,
                different_machines_restriction: t.different_machines_restriction,
            }))
        }
    }
}

#[derive(serde::Deserialize)]
struct JobLean {
    time: u64,
    missing_info: Option<u8>,
    job_id: u64,
    event_type: u8,
    scheduling_class: Option<u8>,
}

#[derive(serde::Deserialize)]
struct TaskLean {
    time: u64,
    missing_info: Option<u8>,
    job_id: u64,
    task_index: u64,
    machine_id: Option<u64>,
    event_type: u8,
    scheduling_class: Option<u8>,
    priority: u8,
    cpu_request: Option<f64>,
    memory_request: Option<f64>,
    disk_space_request: Option<f64>,
    different_machines_restriction: Option<bool>,
}

/// Like [`decode_record`] but leaves out the hash strings (`user`, `job_name`,
/// `logical_job_name` come back as `None`): the window aggregation never reads them, and
/// allocating them was the largest cost of aggregating from Kafka after the consumer itself.
pub fn decode_record_without_strings(
    table: crate::trace::Table,
    value: &[u8],
) -> Result<Record, DecodeError> {
    super::fast::decode(table, value, false).map_or_else(|| serde_decode_lean(table, value), Ok)
}

pub(super) fn serde_decode_lean(
    table: crate::trace::Table,
    value: &[u8],
) -> Result<Record, DecodeError> {
    use crate::trace::Table;
    expect_object(table, value)?;
    let err = |table: &'static str| {
        move |e: serde_json::Error| DecodeError {
            table,
            message: e.to_string(),
        }
    };
    match table {
        Table::Job => {
            let j: JobLean = serde_json::from_slice(value).map_err(err("job"))?;
            let (event_type, missing_info) = enums("job", j.event_type, j.missing_info)?;
            Ok(Record::Job(JobEvent {
                time: j.time,
                missing_info,
                job_id: j.job_id,
                event_type,
                user: None,
                scheduling_class: j.scheduling_class,
                job_name: None,
                logical_job_name: None,
            }))
        }
        Table::Task => {
            let t: TaskLean = serde_json::from_slice(value).map_err(err("task"))?;
            let (event_type, missing_info) = enums("task", t.event_type, t.missing_info)?;
            Ok(Record::Task(TaskEvent {
                time: t.time,
                missing_info,
                job_id: t.job_id,
                task_index: t.task_index,
                machine_id: t.machine_id,
                event_type,
                user: None,
                scheduling_class: t.scheduling_class,
                priority: t.priority,
                cpu_request: t.cpu_request,
                memory_request: t.memory_request,
                disk_space_request: t.disk_space_request,
                different_machines_restriction: t.different_machines_restriction,
            }))
        }
    }
}
