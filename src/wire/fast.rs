//! A fast path for decoding data records in exactly the form [`super::encode_record`]
//! writes them: fixed key order, no whitespace, `null` for missing. It matches the bytes
//! left to right with no intermediate tokens or allocations (except kept strings).
//!
//! Anything else (another key order, whitespace, escapes in a kept string, out-of-range
//! values, malformed input) returns `None` and the caller falls back to serde_json, which
//! accepts any valid JSON and produces the error messages. serde_json was the largest cost
//! of aggregating from Kafka.

use super::schema::WireRecord;
use crate::trace::{JobEvent, MachineEvent, Record, Table, TaskEvent};

/// Decodes a record of `table` in canonical form; `None` for anything else.
#[inline]
pub fn decode(table: Table, value: &[u8], keep_strings: bool) -> Option<Record> {
    match table {
        Table::Job => JobEvent::decode_canonical(value, keep_strings).map(Record::Job),
        Table::Task => TaskEvent::decode_canonical(value, keep_strings).map(Record::Task),
        Table::Machine => MachineEvent::decode_canonical(value, keep_strings).map(Record::Machine),
    }
}

/// The scanning primitives the field value types ([`super::value`]) read with; the report's
/// reader of window lines uses them too.
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Cursor { b, i: 0 }
    }

    #[inline]
    pub(crate) fn lit(&mut self, s: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + s.len())? == s {
            self.i += s.len();
            Some(())
        } else {
            None
        }
    }

    #[inline]
    fn null(&mut self) -> bool {
        self.lit(b"null").is_some()
    }

    /// A JSON integer without sign, leading zeros or overflow.
    #[inline]
    pub(crate) fn u64(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let n = self.i - start;
        (n > 0 && (n == 1 || self.b[start] != b'0')).then_some(v)
    }

    #[inline]
    pub(super) fn u8(&mut self) -> Option<u8> {
        u8::try_from(self.u64()?).ok()
    }

    /// The bytes of a JSON number, checked against the RFC 8259 grammar.
    #[inline]
    pub(crate) fn number(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        let digits = |c: &mut Self| {
            let s = c.i;
            while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
                c.i += 1;
            }
            c.i - s
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return None;
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(&self.b[start..self.i])
    }

    /// True when every byte has been read.
    #[inline]
    pub(crate) fn at_end(&self) -> bool {
        self.i == self.b.len()
    }

    /// A finite JSON number (grammar checked by [`Cursor::number`], value by the standard
    /// library).
    #[inline]
    pub(super) fn f64(&mut self) -> Option<f64> {
        let num = self.number()?;
        let x: f64 = std::str::from_utf8(num).ok()?.parse().ok()?;
        // The standard library reads `1e400` as infinity; serde_json says "out of range".
        x.is_finite().then_some(x)
    }

    #[inline]
    pub(super) fn bool(&mut self) -> Option<bool> {
        if self.lit(b"true").is_some() {
            Some(true)
        } else {
            self.lit(b"false").map(|_| false)
        }
    }

    /// `null` (as `Some(None)`) or what `value` reads; `None` when neither.
    #[inline]
    pub(super) fn nullable<T>(&mut self, value: fn(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null() {
            Some(None)
        } else {
            value(self).map(Some)
        }
    }

    /// A string without escapes, kept (`keep`) or skipped; `None` inside when JSON null.
    #[inline]
    pub(super) fn opt_str(&mut self, keep: bool) -> Option<Option<String>> {
        if self.null() {
            return Some(None);
        }
        self.lit(b"\"")?;
        let start = self.i;
        let len = memchr::memchr(b'"', &self.b[start..])?;
        if self.b[start..start + len]
            .iter()
            .any(|&c| c == b'\\' || c < 0x20)
        {
            return None; // an escape or a control character: serde_json decides
        }
        self.i += len + 1;
        if !keep {
            // Like serde_json skipping a string: no UTF-8 check of what is thrown away.
            return Some(None);
        }
        let s = std::str::from_utf8(&self.b[start..start + len]).ok()?;
        Some(Some(s.to_owned()))
    }

    #[inline]
    pub(super) fn end(&mut self) -> Option<()> {
        self.lit(b"}")?;
        (self.i == self.b.len()).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{EventType, MissingInfo};
    use crate::wire::json::{serde_decode, serde_decode_lean};

    fn task(value: &[u8], keep_strings: bool) -> Option<Record> {
        decode(Table::Task, value, keep_strings)
    }

    fn encoded(r: Record) -> String {
        let mut buf = Vec::new();
        crate::wire::encode_record(&r, &mut buf);
        String::from_utf8(buf).unwrap()
    }

    /// Values of every field type, null and not, in canonical form.
    fn job_value() -> String {
        encoded(Record::Job(JobEvent {
            time: 0,
            missing_info: Some(MissingInfo::NoSnapshotOrTransition),
            job_id: 6251812952,
            event_type: EventType::Submit,
            user: Some("aG9sYQ==".into()),
            scheduling_class: Some(3),
            job_name: None,
            logical_job_name: Some("x".into()),
        }))
    }

    fn task_event() -> TaskEvent {
        TaskEvent {
            time: 5,
            missing_info: None,
            job_id: 7,
            task_index: 0,
            machine_id: Some(4820223869),
            event_type: EventType::Schedule,
            user: Some("u".into()),
            scheduling_class: Some(1),
            priority: 9,
            cpu_request: Some(0.0625),
            memory_request: None,
            disk_space_request: Some(1e-7),
            different_machines_restriction: Some(true),
        }
    }

    /// A task value whose `cpu_request` is written as `text`.
    fn task_value_with_cpu_request(text: &str) -> String {
        let v = encoded(Record::Task(TaskEvent {
            machine_id: None,
            cpu_request: Some(0.5),
            ..task_event()
        }));
        v.replace("\"cpu_request\":0.5,", &format!("\"cpu_request\":{text},"))
    }

    #[test]
    fn canonical_values_of_the_sample_take_the_fast_path_and_equal_serde() {
        let mut buf = Vec::new();
        for r in crate::wire::tests::sample_records(100_000) {
            crate::wire::encode_record(&r, &mut buf);
            let t = r.table();
            assert_eq!(decode(t, &buf, true).as_ref(), Some(&r));
            assert_eq!(decode(t, &buf, true), Some(serde_decode(t, &buf).unwrap()));
            assert_eq!(
                decode(t, &buf, false),
                Some(serde_decode_lean(t, &buf).unwrap())
            );
        }
    }

    proptest::proptest! {
        /// Fuzzing by mutation: any byte changed, inserted or removed in a canonical value.
        /// The fast path never panics, and whatever it accepts serde_json decodes the same.
        #[test]
        fn mutated_values_never_disagree_with_serde(
            pos in 0usize..400,
            byte in proptest::num::u8::ANY,
            op in 0u8..3,
            keep in proptest::bool::ANY,
            job_row in proptest::bool::ANY,
        ) {
            let v = if job_row { job_value() } else { encoded(Record::Task(task_event())) };
            let mut m = v.into_bytes();
            let at = pos % (m.len() + 1);
            match op {
                0 if at < m.len() => m[at] = byte,
                1 => m.insert(at, byte),
                _ if at < m.len() => { m.remove(at); }
                _ => {}
            }
            let t = if job_row { Table::Job } else { Table::Task };
            if let Some(r) = decode(t, &m, keep) {
                let full = if keep { serde_decode(t, &m) } else { serde_decode_lean(t, &m) };
                proptest::prop_assert_eq!(Some(r), full.ok());
            }
        }
    }

    proptest::proptest! {
        /// Both decoders read every finite request value back bit for bit. serde_json
        /// needs its `float_roundtrip` feature for this: without it `1e-50` came back as
        /// `9.999999999999999e-51` (found by the mutation test above in CI).
        #[test]
        fn request_values_round_trip_exactly_through_both_decoders(
            bits in proptest::num::u64::ANY,
        ) {
            let x = f64::from_bits(bits).abs();
            proptest::prop_assume!(x.is_finite());
            for text in [format!("{x:e}"), format!("{x:?}"), ryu::Buffer::new().format_finite(x).to_string()] {
                let v = task_value_with_cpu_request(&text);
                let get = |r: Record| match r {
                    Record::Task(t) => t.cpu_request.map(f64::to_bits),
                    Record::Job(_) | Record::Machine(_) => None,
                };
                proptest::prop_assert_eq!(task(v.as_bytes(), true).and_then(get), Some(x.to_bits()));
                proptest::prop_assert_eq!(serde_decode(Table::Task, v.as_bytes()).ok().and_then(get), Some(x.to_bits()));
            }
        }
    }

    #[test]
    fn tiny_exponents_decode_exactly() {
        for text in [
            "1e-50",
            "9.999999999999999e-51",
            "2.2250738585072014e-308",
            "5e-324",
        ] {
            let v = task_value_with_cpu_request(text);
            let want: f64 = text.parse().unwrap();
            assert_eq!(
                task(v.as_bytes(), true),
                serde_decode(Table::Task, v.as_bytes()).ok(),
                "{text}"
            );
            match task(v.as_bytes(), true) {
                Some(Record::Task(t)) => {
                    assert_eq!(t.cpu_request.map(f64::to_bits), Some(want.to_bits()))
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn anything_else_falls_back() {
        let s = &task_value_with_cpu_request("0.5");
        let good = s.as_bytes();
        assert!(task(good, true).is_some());
        for bad in [
            s.replace("\"time\":5", "\"time\": 5"),          // whitespace
            s.replace("\"time\":5", "\"time\":05"),          // leading zero
            s.replace("\"time\":5", "\"time\":-5"),          // sign
            s.replace("\"priority\":9", "\"priority\":256"), // out of range
            s.replace("\"event_type\":1", "\"event_type\":9"), // unknown type
            s.replace("0.5", ".5"),                          // not JSON
            s.replace("0.5", "1."),                          // not JSON
            s.replace("0.5", "1e400"),                       // out of range
            s.replace("\"u\"", "\"a\\\"b\""),                // escape
            s.replace("true}", "true} "),                    // trailing bytes
            s.replace("true}", "true"),                      // truncated
            s.replace(",\"user\":\"u\"", ""),                // missing key
        ] {
            assert_eq!(task(bad.as_bytes(), true), None, "{bad}");
        }
        // A string that is skipped is not checked for UTF-8, as serde_json skips it too.
        let at = s.find("\"u\"").unwrap() + 1;
        let latin1 = [&good[..at], &[0xe9][..], &good[at + 1..]].concat();
        let lean = crate::wire::json::serde_decode_lean(Table::Task, &latin1);
        assert!(lean.is_ok() && task(&latin1, false).is_some());
        // Reordered keys and escapes are still valid JSON: the public decoder accepts them.
        let reordered = s.replace(
            "\"time\":5,\"missing_info\":null",
            "\"missing_info\":null,\"time\":5",
        );
        let escaped = s.replace("\"u\"", "\"a\\\"b\"");
        for v in [reordered, escaped] {
            assert!(crate::wire::decode_record(Table::Task, v.as_bytes()).is_ok());
        }
        // The field values as an array: serde's derive would take them by position; the wire
        // format is an object (a divergence between the full and lean decoders found by fuzzing).
        let array = br#"[1,2,2,2,2,2,null,2,1,2,2,2,null]"#;
        assert!(crate::wire::decode_record(Table::Task, array).is_err());
        assert!(crate::wire::decode_record_without_strings(Table::Task, array).is_err());
    }
}
