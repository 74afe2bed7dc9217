//! JSON values of data records: the public encoder and decoders over the generated layout
//! code ([`super::schema`]). Encoding is hand-written ([`JsonOut`] into a reused buffer): it
//! runs once per event on the replay's hot path.

use super::schema::WireRecord;
use crate::json_out::JsonOut;
use crate::trace::{InvalidCode, JobEvent, MachineEvent, Record, Table, TaskEvent};

/// Writes the JSON value of `record` into `out` (cleared first).
pub fn encode_record(record: &Record, out: &mut Vec<u8>) {
    out.clear();
    let mut o = JsonOut(out);
    match record {
        Record::Job(j) => j.encode(&mut o),
        Record::Task(t) => t.encode(&mut o),
        Record::Machine(m) => m.encode(&mut o),
    }
}

/// A value that is not a valid data record of the expected table. The message includes the
/// cause's text too, as consumers print only the top-level message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Record values are JSON objects: serde would also take an array of the values by
    /// position (found by fuzzing, `fuzz/`), but the wire format has names.
    #[error("invalid {table} event JSON: not a JSON object")]
    NotAnObject { table: Table },
    /// Not JSON, or not the table's fields (missing, unknown, repeated, wrong type).
    #[error("invalid {table} event JSON: {source}")]
    Json {
        table: Table,
        #[source]
        source: serde_json::Error,
    },
    /// Valid JSON, but an event type or missing-info code that names nothing.
    #[error("invalid {table} event JSON: {source}")]
    Code {
        table: Table,
        #[source]
        source: InvalidCode,
    },
}

impl DecodeError {
    /// The table the value was decoded as.
    pub fn table(&self) -> Table {
        match self {
            DecodeError::NotAnObject { table }
            | DecodeError::Json { table, .. }
            | DecodeError::Code { table, .. } => *table,
        }
    }
}

/// Parses a data record's value back into a typed record of `table`.
pub fn decode_record(table: Table, value: &[u8]) -> Result<Record, DecodeError> {
    super::fast::decode(table, value, true).map_or_else(|| serde_decode(table, value), Ok)
}

/// Like [`decode_record`] but leaves out the hash strings (`user`, `job_name`,
/// `logical_job_name` come back as `None`): the window aggregation never reads them, and
/// allocating them was the largest cost of aggregating from Kafka after the consumer itself.
pub fn decode_record_without_strings(table: Table, value: &[u8]) -> Result<Record, DecodeError> {
    super::fast::decode(table, value, false).map_or_else(|| serde_decode_lean(table, value), Ok)
}

/// The general decoder: any valid JSON object, with serde_json's error messages.
pub(super) fn serde_decode(table: Table, value: &[u8]) -> Result<Record, DecodeError> {
    serde_decode_as(table, value, true)
}

/// The general string-free decoder: skips the hash strings' values and unknown keys.
pub(super) fn serde_decode_lean(table: Table, value: &[u8]) -> Result<Record, DecodeError> {
    serde_decode_as(table, value, false)
}

fn serde_decode_as(table: Table, value: &[u8], keep_strings: bool) -> Result<Record, DecodeError> {
    fn decode<R: WireRecord>(value: &[u8], keep_strings: bool) -> Result<R, DecodeError> {
        let table = R::TABLE;
        if !super::is_json_object(value) {
            return Err(DecodeError::NotAnObject { table });
        }
        R::decode_serde(value, keep_strings)
            .map_err(|source| DecodeError::Json { table, source })?
            .map_err(|source| DecodeError::Code { table, source })
    }
    match table {
        Table::Job => decode::<JobEvent>(value, keep_strings).map(Record::Job),
        Table::Task => decode::<TaskEvent>(value, keep_strings).map(Record::Task),
        Table::Machine => decode::<MachineEvent>(value, keep_strings).map(Record::Machine),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn errors_name_the_table_and_keep_their_cause() {
        let cases: [(Table, &[u8], &str); 7] = [
            (
                Table::Machine,
                br#"{"time":1,"machine_id":2,"event_type":3}"#,
                "invalid machine event JSON: unknown machine event type 3",
            ),
            (
                Table::Machine,
                br#"{"time":1,"event_type":0}"#,
                "invalid machine event JSON: missing field `machine_id` at line 1 column 25",
            ),
            (
                Table::Job,
                b"[1]",
                "invalid job event JSON: not a JSON object",
            ),
            (
                Table::Task,
                br#"{"time":1}"#,
                "invalid task event JSON: missing field `job_id` at line 1 column 10",
            ),
            (
                Table::Job,
                br#"{"time":1,"job_id":2,"event_type":0,"x":1}"#,
                "invalid job event JSON: unknown field `x`, expected one of `time`, \
                 `missing_info`, `job_id`, `event_type`, `user`, `scheduling_class`, \
                 `job_name`, `logical_job_name` at line 1 column 39",
            ),
            (
                Table::Job,
                br#"{"time":1,"job_id":2,"event_type":9}"#,
                "invalid job event JSON: unknown event type 9",
            ),
            (
                Table::Job,
                br#"{"time":1,"job_id":2,"event_type":0,"missing_info":3}"#,
                "invalid job event JSON: unknown missing info 3",
            ),
        ];
        for (table, value, want) in cases {
            let err = decode_record(table, value).unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!(err.table(), table);
            match &err {
                DecodeError::NotAnObject { .. } => assert!(err.source().is_none()),
                DecodeError::Json { source, .. } => {
                    assert!(want.ends_with(&source.to_string()))
                }
                DecodeError::Code { source, .. } => {
                    assert!(want.ends_with(&source.to_string()))
                }
            }
        }
    }
}
