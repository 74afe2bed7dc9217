//! How each Rust type of a record field travels in a record value. The layout (which fields,
//! in which order) is [`super::schema`]; this is what one field's value looks like.

use super::fast::Cursor;
use crate::json_out::JsonOut;
use crate::trace::{EventType, InvalidCode, MachineEventType, MissingInfo};

/// A field value type of the wire layout: written by the encoder, read by the canonical fast
/// path and (as [`WireValue::Raw`]) by serde_json.
pub(super) trait WireValue: Sized {
    /// What serde_json reads: the enums travel as their codes, and an unknown code is reported
    /// only once the whole value is valid JSON of the table (as the derived decoder did).
    type Raw: serde::de::DeserializeOwned + Default;
    /// Absent from a JSON object means `null` (serde's rule for `Option` fields).
    const NULLABLE: bool = false;
    /// A hash string: the string-free decoder skips its value, whatever it is.
    const HASH_STRING: bool = false;

    fn write(&self, o: &mut JsonOut<'_>);
    /// The value in canonical form; `None` sends the whole record to serde_json.
    fn read(c: &mut Cursor<'_>, keep_strings: bool) -> Option<Self>;
    fn from_raw(raw: Self::Raw) -> Result<Self, InvalidCode>;
}

/// Types that are their own raw value: everything but the enums.
macro_rules! plain {
    ($($ty:ty, nullable: $nullable:expr,
        write: |$o:ident, $v:ident| $write:expr, read: |$c:ident| $read:expr;)*) => {$(
        impl WireValue for $ty {
            type Raw = $ty;
            const NULLABLE: bool = $nullable;

            #[inline]
            fn write(&self, $o: &mut JsonOut<'_>) {
                let $v = self;
                $write
            }

            #[inline]
            fn read($c: &mut Cursor<'_>, _keep_strings: bool) -> Option<Self> {
                $read
            }

            #[inline]
            fn from_raw(raw: $ty) -> Result<Self, InvalidCode> {
                Ok(raw)
            }
        }
    )*};
}

plain! {
    u64, nullable: false, write: |o, v| o.u64(*v), read: |c| c.u64();
    u8, nullable: false, write: |o, v| o.u64((*v).into()), read: |c| c.u8();
    Option<u64>, nullable: true, write: |o, v| o.opt_u64(*v), read: |c| c.nullable(Cursor::u64);
    Option<u8>, nullable: true,
        write: |o, v| o.opt_u64(v.map(u64::from)), read: |c| c.nullable(Cursor::u8);
    Option<f64>, nullable: true, write: |o, v| o.opt_f64_ryu(*v), read: |c| c.nullable(Cursor::f64);
    Option<bool>, nullable: true, write: |o, v| o.opt_bool(*v), read: |c| c.nullable(Cursor::bool);
}

impl WireValue for Option<String> {
    type Raw = Option<String>;
    const NULLABLE: bool = true;
    const HASH_STRING: bool = true;

    #[inline]
    fn write(&self, o: &mut JsonOut<'_>) {
        o.opt_str(self)
    }

    #[inline]
    fn read(c: &mut Cursor<'_>, keep_strings: bool) -> Option<Self> {
        c.opt_str(keep_strings)
    }

    #[inline]
    fn from_raw(raw: Self::Raw) -> Result<Self, InvalidCode> {
        Ok(raw)
    }
}

/// The event-type enums travel as their numeric code (a `u8`).
macro_rules! coded {
    ($($t:ty),*) => {$(
        impl WireValue for $t {
            type Raw = u8;

            #[inline]
            fn write(&self, o: &mut JsonOut<'_>) {
                o.u64(self.code().into())
            }

            #[inline]
            fn read(c: &mut Cursor<'_>, _keep_strings: bool) -> Option<Self> {
                <$t>::try_from(c.u8()?).ok()
            }

            #[inline]
            fn from_raw(raw: u8) -> Result<Self, InvalidCode> {
                <$t>::try_from(raw)
            }
        }
    )*};
}
coded!(EventType, MachineEventType);

impl WireValue for Option<MissingInfo> {
    type Raw = Option<u8>;
    const NULLABLE: bool = true;

    #[inline]
    fn write(&self, o: &mut JsonOut<'_>) {
        o.opt_u64(self.map(|m| m.code().into()))
    }

    #[inline]
    fn read(c: &mut Cursor<'_>, _keep_strings: bool) -> Option<Self> {
        match c.nullable(Cursor::u8)? {
            None => Some(None),
            Some(code) => MissingInfo::try_from(code).ok().map(Some),
        }
    }

    #[inline]
    fn from_raw(raw: Option<u8>) -> Result<Self, InvalidCode> {
        raw.map(MissingInfo::try_from).transpose()
    }
}
