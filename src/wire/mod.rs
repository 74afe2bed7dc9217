//! Stage 3: the Kafka wire format, shared by the replayer and every consumer.
//!
//! - Data record: key = job ID in decimal (machine ID for `machine_events`), value = JSON
//!   with the first implementation's snake_case names (integers for IDs and times, `null`
//!   for missing, `true`/`false` for the restriction flag), headers `seq` and `time`
//!   (decimal ASCII). Machine values: `time, machine_id, event_type, platform_id, cpus,
//!   memory`.
//! - Mark record (watermark or end of stream): null key, header `tracepipe-mark`, value
//!   `{"tracepipe_mark":"watermark"|"end","time":T,"next_seq":N}`. No data record has a null
//!   key or a `tracepipe_mark` field, so plain consumers drop marks with `key IS NOT NULL`.

mod fast;
mod json;
mod partitioner;
mod schema;
mod value;

pub(crate) use fast::Cursor;
pub use json::{decode_record, decode_record_without_strings, encode_record, DecodeError};
pub use partitioner::{murmur2, partition_for_key};

/// Header carrying the global sequence number of a data record.
pub const HEADER_SEQ: &str = "seq";
/// Header carrying the trace time (microseconds) of a data record.
pub const HEADER_TIME: &str = "time";
/// Header present only on mark records; its value is the mark kind.
pub const HEADER_MARK: &str = "tracepipe-mark";
/// The same header names for librdkafka's C API.
pub const HEADER_SEQ_C: &std::ffi::CStr = c"seq";
pub const HEADER_TIME_C: &std::ffi::CStr = c"time";
pub const HEADER_MARK_C: &std::ffi::CStr = c"tracepipe-mark";

/// Default topic names, kept from the first implementation.
pub const DEFAULT_JOB_TOPIC: &str = "job-events";
pub const DEFAULT_TASK_TOPIC: &str = "task-events";
/// Topic of `machine_events` (written only when the replay reads machines).
pub const DEFAULT_MACHINE_TOPIC: &str = "machine-events";
pub const DEFAULT_PARTITIONS: i32 = 12;

/// Kinds of progress marks the replayer writes between data records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// Every later record of this partition has `seq >= next_seq`.
    Watermark,
    /// This replay wrote nothing more to this partition; `next_seq` is the replay's event count.
    End,
}

impl MarkKind {
    pub fn name(self) -> &'static str {
        match self {
            MarkKind::Watermark => "watermark",
            MarkKind::End => "end",
        }
    }

    pub fn parse(s: &[u8]) -> Option<MarkKind> {
        match s {
            b"watermark" => Some(MarkKind::Watermark),
            b"end" => Some(MarkKind::End),
            _ => None,
        }
    }
}

/// A progress mark: the replayer's position when the mark was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub kind: MarkKind,
    /// Trace time of the last event sent before the mark (0 if none).
    pub time: u64,
    /// Sequence number the next event of the replay will get.
    pub next_seq: u64,
}

impl Mark {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(b"{\"tracepipe_mark\":\"");
        out.extend_from_slice(self.kind.name().as_bytes());
        out.extend_from_slice(b"\",\"time\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.time).as_bytes());
        out.extend_from_slice(b",\"next_seq\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.next_seq).as_bytes());
        out.push(b'}');
    }

    pub fn decode(value: &[u8]) -> Option<Mark> {
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            #[serde(borrow)]
            tracepipe_mark: &'a str,
            time: u64,
            next_seq: u64,
        }
        if !is_json_object(value) {
            return None;
        }
        let raw: Raw<'_> = serde_json::from_slice(value).ok()?;
        Some(Mark {
            kind: MarkKind::parse(raw.tracepipe_mark.as_bytes())?,
            time: raw.time,
            next_seq: raw.next_seq,
        })
    }
}

/// Record values and marks are JSON objects. serde's derived structs would also take an array
/// of the values by position (found by fuzzing, `fuzz/`); the wire format has names.
fn is_json_object(value: &[u8]) -> bool {
    value.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The value of header `name` of a Kafka message, if present.
pub fn header<'a, M: rdkafka::Message>(msg: &'a M, name: &str) -> Option<&'a [u8]> {
    use rdkafka::message::Headers;
    msg.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

/// Parses a decimal header value.
pub fn header_u64(value: Option<&[u8]>) -> Option<u64> {
    crate::trace::parse::parse_u64(value?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_round_trip() {
        let m = Mark {
            kind: MarkKind::End,
            time: u64::MAX,
            next_seq: 42,
        };
        let mut buf = Vec::new();
        m.encode(&mut buf);
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            r#"{"tracepipe_mark":"end","time":18446744073709551615,"next_seq":42}"#
        );
        assert_eq!(Mark::decode(&buf), Some(m));
    }

    /// The first `n` events of the bundled sample (three tables), in merge order.
    pub(crate) fn sample_records(n: usize) -> impl Iterator<Item = crate::trace::Record> {
        crate::merge::TraceSource::sample_with_machines()
            .open()
            .unwrap()
            .take(n)
            .map(|e| e.unwrap().record)
    }

    #[test]
    fn lean_decode_equals_full_decode_without_strings() {
        let mut buf = Vec::new();
        for r in sample_records(60_000) {
            encode_record(&r, &mut buf);
            let table = r.table();
            assert_eq!(decode_record(table, &buf).unwrap(), r);
            assert_eq!(
                decode_record_without_strings(table, &buf).unwrap(),
                r.without_strings()
            );
        }
    }

    #[test]
    fn c_header_names_equal_the_rust_ones() {
        for (c, s) in [
            (HEADER_SEQ_C, HEADER_SEQ),
            (HEADER_TIME_C, HEADER_TIME),
            (HEADER_MARK_C, HEADER_MARK),
        ] {
            assert_eq!(c.to_str().unwrap(), s);
        }
    }

    #[test]
    fn data_value_is_never_a_mark() {
        assert_eq!(Mark::decode(br#"{"time":1,"job_id":2}"#), None);
        assert_eq!(Mark::decode(br#"["end",1,2]"#), None);
    }
}
