//! Hand-written JSON into a reused buffer, for the two places that write JSON once per event
//! or per machine window: record values ([`crate::wire`]) and window lines ([`crate::window`]).
//! serde's per-field calls cost a tenth of the aggregation there.

pub(crate) struct JsonOut<'a>(pub &'a mut Vec<u8>);

impl JsonOut<'_> {
    pub fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    pub fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.u64(v),
            None => self.raw("null"),
        }
    }

    /// The wire format's floats: ryu's shortest form (trace values are always finite).
    pub fn opt_f64_ryu(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self
                .0
                .extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes()),
            None => self.raw("null"),
        }
    }

    /// serde_json's float format (the same zmij formatter; null when not finite).
    pub fn f64_serde(&mut self, v: f64) {
        if v == 0.0 && v.is_sign_positive() {
            // Most allocations and sums of idle machines: skip the formatter.
            self.raw("0.0");
        } else if v.is_finite() {
            self.0
                .extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.raw("null");
        }
    }

    pub fn opt_f64_serde(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.f64_serde(v),
            None => self.raw("null"),
        }
    }

    pub fn opt_bool(&mut self, v: Option<bool>) {
        self.raw(match v {
            None => "null",
            Some(true) => "true",
            Some(false) => "false",
        });
    }

    /// Trace strings are base64 hashes; anything else is escaped properly.
    pub fn opt_str(&mut self, v: &Option<String>) {
        match v {
            None => self.raw("null"),
            Some(s)
                if s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') =>
            {
                self.0.push(b'"');
                self.raw(s);
                self.0.push(b'"');
            }
            Some(s) => {
                serde_json::to_writer(&mut *self.0, s).expect("writing to a Vec cannot fail");
            }
        }
    }
}
