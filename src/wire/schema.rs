//! The record layout on the wire, written once: each table's JSON field names in order, with
//! the Rust type of each (see [`WireValue`] for how a type is written and read). The encoder,
//! the canonical-form fast decoder and the serde_json decoders are generated from it, so a
//! new field is one line here next to the field of the record struct.

use super::fast::Cursor;
use super::value::WireValue;
use crate::json_out::JsonOut;
use crate::trace::{
    EventType, InvalidCode, JobEvent, MachineEvent, MachineEventType, MissingInfo, Table, TaskEvent,
};

wire_record! {
    JobEvent, Table::Job {
        time: u64,
        missing_info: Option<MissingInfo>,
        job_id: u64,
        event_type: EventType,
        user: Option<String>,
        scheduling_class: Option<u8>,
        job_name: Option<String>,
        logical_job_name: Option<String>,
    }
}

wire_record! {
    TaskEvent, Table::Task {
        time: u64,
        missing_info: Option<MissingInfo>,
        job_id: u64,
        task_index: u64,
        machine_id: Option<u64>,
        event_type: EventType,
        user: Option<String>,
        scheduling_class: Option<u8>,
        priority: u8,
        cpu_request: Option<f64>,
        memory_request: Option<f64>,
        disk_space_request: Option<f64>,
        different_machines_restriction: Option<bool>,
    }
}

wire_record! {
    MachineEvent, Table::Machine {
        time: u64,
        machine_id: u64,
        event_type: MachineEventType,
        platform_id: Option<String>,
        cpus: Option<f64>,
        memory: Option<f64>,
    }
}

/// A record type with a wire layout; implemented by [`wire_record!`] only.
pub(super) trait WireRecord: Sized {
    const TABLE: Table;
    /// The JSON field names in wire order.
    const FIELDS: &'static [&'static str];

    /// Writes the canonical value: fields in order, no whitespace, `null` for missing.
    fn encode(&self, o: &mut JsonOut<'_>);

    /// Reads a value in exactly the canonical form (see [`super::fast`]); `None` otherwise.
    fn decode_canonical(value: &[u8], keep_strings: bool) -> Option<Self>;

    /// Reads any JSON object with serde_json. With `keep_strings` it is strict like
    /// `#[serde(deny_unknown_fields)]`; without, it skips the hash strings' values and
    /// unknown keys, as a derived struct without those fields would. An unknown enum code
    /// comes back inside: it is reported only when the JSON itself is valid.
    fn decode_serde(
        value: &[u8],
        keep_strings: bool,
    ) -> Result<Result<Self, InvalidCode>, serde_json::Error>;
}

/// Implements [`WireRecord`] for `$record` from its field list in wire order.
macro_rules! wire_record {
    ($record:ident, $table:path {
        $first:ident: $first_ty:ty $(, $name:ident: $ty:ty)* $(,)?
    }) => {
        impl WireRecord for $record {
            const TABLE: Table = $table;
            const FIELDS: &'static [&'static str] = &[stringify!($first) $(, stringify!($name))*];

            #[inline]
            fn encode(&self, o: &mut JsonOut<'_>) {
                o.raw(concat!("{\"", stringify!($first), "\":"));
                <$first_ty as WireValue>::write(&self.$first, o);
                $(
                    o.raw(concat!(",\"", stringify!($name), "\":"));
                    <$ty as WireValue>::write(&self.$name, o);
                )*
                o.raw("}");
            }

            #[inline]
            fn decode_canonical(value: &[u8], keep_strings: bool) -> Option<Self> {
                let mut c = Cursor::new(value);
                c.lit(concat!("{\"", stringify!($first), "\":").as_bytes())?;
                let $first = <$first_ty as WireValue>::read(&mut c, keep_strings)?;
                $(
                    c.lit(concat!(",\"", stringify!($name), "\":").as_bytes())?;
                    let $name = <$ty as WireValue>::read(&mut c, keep_strings)?;
                )*
                c.end()?;
                Some($record { $first $(, $name)* })
            }

            fn decode_serde(
                value: &[u8],
                keep_strings: bool,
            ) -> Result<Result<Self, InvalidCode>, serde_json::Error> {
                serde_record!($record, $table, keep_strings, value,
                    $first: $first_ty $(, $name: $ty)*)
            }
        }
    };
}
use wire_record;

/// The body of [`WireRecord::decode_serde`]: what serde's derive generates for a struct of
/// the raw field values, with the key handling switched by `keep_strings`.
macro_rules! serde_record {
    ($record:ident, $table:path, $keep_strings:ident, $value:ident, $($name:ident: $ty:ty),+) => {{
        use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
        use std::fmt;

        const _: () = assert!(
            $(!<$ty as WireValue>::HASH_STRING || <$ty as WireValue>::NULLABLE)&&+,
            "the string-free decoder leaves hash strings out: they must be nullable"
        );

        #[allow(non_camel_case_types)]
        enum Field {
            $($name),+
        }

        /// A key: its field, or `None` for a key whose value is skipped.
        struct Key {
            keep_strings: bool,
        }

        impl<'de> DeserializeSeed<'de> for Key {
            type Value = Option<Field>;
            fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_identifier(self)
            }
        }

        impl<'de> Visitor<'de> for Key {
            type Value = Option<Field>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("field identifier")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let (field, hash_string) = match v {
                    $(stringify!($name) => (Field::$name, <$ty as WireValue>::HASH_STRING),)+
                    _ if self.keep_strings => {
                        return Err(E::unknown_field(v, <$record as WireRecord>::FIELDS))
                    }
                    _ => return Ok(None),
                };
                Ok((self.keep_strings || !hash_string).then_some(field))
            }
        }

        struct Object {
            keep_strings: bool,
        }

        impl<'de> Visitor<'de> for Object {
            type Value = Result<$record, InvalidCode>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a {} event object", $table)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                $(let mut $name: Option<<$ty as WireValue>::Raw> = None;)+
                let keep_strings = self.keep_strings;
                while let Some(key) = map.next_key_seed(Key { keep_strings })? {
                    match key {
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        $(Some(Field::$name) => {
                            if $name.is_some() {
                                return Err(de::Error::duplicate_field(stringify!($name)));
                            }
                            $name = Some(map.next_value()?);
                        })+
                    }
                }
                $(let $name = match $name {
                    Some(v) => v,
                    None if <$ty as WireValue>::NULLABLE => Default::default(),
                    None => return Err(de::Error::missing_field(stringify!($name))),
                };)+
                let convert = || -> Result<$record, InvalidCode> {
                    Ok($record {
                        $($name: <$ty as WireValue>::from_raw($name)?,)+
                    })
                };
                Ok(convert())
            }
        }

        let mut de = serde_json::Deserializer::from_slice($value);
        let record = de::Deserializer::deserialize_struct(
            &mut de,
            stringify!($record),
            <$record as WireRecord>::FIELDS,
            Object { keep_strings: $keep_strings },
        )?;
        de.end()?;
        Ok(record)
    }};
}
use serde_record;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of every encoded sample value is a field of the layout, in layout order.
    #[test]
    fn encoded_values_have_the_fields_in_order() {
        let mut buf = Vec::new();
        for r in crate::wire::tests::sample_records(40_000) {
            crate::wire::encode_record(&r, &mut buf);
            let fields = match r.table() {
                Table::Job => JobEvent::FIELDS,
                Table::Task => TaskEvent::FIELDS,
                Table::Machine => MachineEvent::FIELDS,
            };
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&buf).unwrap();
            assert_eq!(object.len(), fields.len());
            let text = std::str::from_utf8(&buf).unwrap();
            let mut at = 0;
            for (i, f) in fields.iter().enumerate() {
                let key = format!("{}\"{f}\":", if i == 0 { '{' } else { ',' });
                let found = text[at..]
                    .find(&key)
                    .unwrap_or_else(|| panic!("{key} in {text}"));
                at += found + key.len();
            }
        }
    }

    #[test]
    fn missing_nullable_fields_are_null_and_required_ones_an_error() {
        let job = br#"{"time":1,"job_id":2,"event_type":0}"#;
        let got = JobEvent::decode_serde(job, true).unwrap().unwrap();
        assert_eq!(got.missing_info, None);
        assert_eq!(got.user, None);
        let err = TaskEvent::decode_serde(br#"{"time":1,"job_id":2}"#, true).unwrap_err();
        assert!(
            err.to_string().starts_with("missing field `task_index`"),
            "{err}"
        );
        // An unknown code is reported after the JSON is found valid.
        let bad = br#"{"time":1,"job_id":2,"event_type":9}"#;
        let got = JobEvent::decode_serde(bad, true).unwrap();
        assert_eq!(got.unwrap_err().to_string(), "unknown event type 9");
    }
}
