//! Byte-exact formatting of trace rows: integers, 4-significant-digit floats written the way
//! the real trace writes them (`0.06873`, `3.815e-05`, `0`), 44-character base64 hashes.

use crate::trace::{EventType, MissingInfo};

/// A non-negative decimal with at most 4 significant digits: `m * 10^e`.
///
/// Requests are kept in this form so that formatting is integer work only and the value
/// written is exactly the value the simulation remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dec {
    /// Significand without trailing zeros (0 only for the value 0).
    m: u16,
    e: i8,
}

impl Dec {
    pub const ZERO: Dec = Dec { m: 0, e: 0 };

    /// Rounds `v` (clamped to [0, 1]) to 4 significant digits.
    pub fn from_f64(v: f64) -> Dec {
        if v.is_nan() || v <= 0.0 {
            return Dec::ZERO;
        }
        let v = v.min(1.0);
        let mut x = v.log10().floor() as i32;
        let mut m = (v / 10f64.powi(x - 3)).round() as u32;
        if m < 1000 {
            x -= 1;
            m = (v / 10f64.powi(x - 3)).round() as u32;
        }
        if m >= 10_000 {
            m = m.div_ceil(10);
            x += 1;
        }
        let mut e = x - 3;
        while m.is_multiple_of(10) {
            m /= 10;
            e += 1;
        }
        Dec {
            m: m as u16,
            e: e.clamp(-99, 20) as i8,
        }
    }

    pub fn to_f64(self) -> f64 {
        // 10^k is exact for k <= 22, so the division is correctly rounded: the same f64
        // as parsing the written text.
        if self.e < 0 {
            f64::from(self.m) / 10f64.powi(-i32::from(self.e))
        } else {
            f64::from(self.m) * 10f64.powi(i32::from(self.e))
        }
    }

    /// Appends the value like the trace (Python `repr` of a float, "0" for zero).
    pub fn write(self, out: &mut Vec<u8>) {
        if self.m == 0 {
            out.push(b'0');
            return;
        }
        let mut buf = itoa::Buffer::new();
        let ds = buf.format(self.m).as_bytes();
        let nd = ds.len() as i32;
        let e = i32::from(self.e);
        let x = e + nd - 1; // exponent of the leading digit
        if x < -4 {
            out.push(ds[0]);
            if nd > 1 {
                out.push(b'.');
                out.extend_from_slice(&ds[1..]);
            }
            out.extend_from_slice(b"e-");
            let ax = (-x) as u32;
            if ax < 10 {
                out.push(b'0');
            }
            let mut b2 = itoa::Buffer::new();
            out.extend_from_slice(b2.format(ax).as_bytes());
        } else if e >= 0 {
            out.extend_from_slice(ds);
            out.extend(std::iter::repeat_n(b'0', e as usize));
        } else if x >= 0 {
            let int = (x + 1) as usize;
            out.extend_from_slice(&ds[..int]);
            out.push(b'.');
            out.extend_from_slice(&ds[int..]);
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-x - 1) as usize));
            out.extend_from_slice(ds);
        }
    }
}

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = Vec::new();
        self.write(&mut v);
        f.write_str(std::str::from_utf8(&v).expect("ASCII"))
    }
}

/// A 44-character base64 string (a 256-bit digest), as the trace's STRING_HASH values.
pub type Hash = [u8; 44];

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (with padding) of 32 bytes.
pub fn base64_32(bytes: &[u8; 32]) -> Hash {
    let mut out = [b'='; 44];
    let mut o = 0;
    for chunk in bytes.chunks(3) {
        let b0 = u32::from(chunk[0]);
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        out[o] = B64[(n >> 18) as usize & 63];
        out[o + 1] = B64[(n >> 12) as usize & 63];
        if chunk.len() > 1 {
            out[o + 2] = B64[(n >> 6) as usize & 63];
        }
        if chunk.len() > 2 {
            out[o + 3] = B64[n as usize & 63];
        }
        o += 4;
    }
    out
}

/// The request columns of a task row; `None` is an empty field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReqFields {
    pub cpu: Option<Dec>,
    pub mem: Option<Dec>,
    pub disk: Option<Dec>,
    pub different_machines: Option<bool>,
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

fn push_missing(out: &mut Vec<u8>, mi: Option<MissingInfo>) {
    if let Some(mi) = mi {
        out.push(b'0' + mi.code());
    }
    out.push(b',');
}

fn push_dec(out: &mut Vec<u8>, d: Option<Dec>) {
    if let Some(d) = d {
        d.write(out);
    }
}

/// Static part of a job: what every row of the job repeats.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: u64,
    pub user: Hash,
    pub name: Hash,
    pub logical_name: Hash,
    pub scheduling_class: u8,
    pub priority: u8,
}

/// Appends one `job_events` row (8 fields) and its newline.
pub fn job_row(
    out: &mut Vec<u8>,
    time: u64,
    mi: Option<MissingInfo>,
    job: &JobInfo,
    et: EventType,
) {
    push_u64(out, time);
    out.push(b',');
    push_missing(out, mi);
    push_u64(out, job.id);
    out.push(b',');
    out.push(b'0' + et.code());
    out.push(b',');
    out.extend_from_slice(&job.user);
    out.push(b',');
    out.push(b'0' + job.scheduling_class);
    out.push(b',');
    out.extend_from_slice(&job.name);
    out.push(b',');
    out.extend_from_slice(&job.logical_name);
    out.push(b'\n');
}

/// Appends one `task_events` row (13 fields) and its newline.
#[allow(clippy::too_many_arguments)]
pub fn task_row(
    out: &mut Vec<u8>,
    time: u64,
    mi: Option<MissingInfo>,
    job: &JobInfo,
    task_index: u32,
    machine: Option<u64>,
    et: EventType,
    req: &ReqFields,
) {
    push_u64(out, time);
    out.push(b',');
    push_missing(out, mi);
    push_u64(out, job.id);
    out.push(b',');
    push_u64(out, u64::from(task_index));
    out.push(b',');
    if let Some(m) = machine {
        push_u64(out, m);
    }
    out.push(b',');
    out.push(b'0' + et.code());
    out.push(b',');
    out.extend_from_slice(&job.user);
    out.push(b',');
    out.push(b'0' + job.scheduling_class);
    out.push(b',');
    push_u64(out, u64::from(job.priority));
    out.push(b',');
    push_dec(out, req.cpu);
    out.push(b',');
    push_dec(out, req.mem);
    out.push(b',');
    push_dec(out, req.disk);
    out.push(b',');
    if let Some(b) = req.different_machines {
        out.push(if b { b'1' } else { b'0' });
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: Dec) -> String {
        d.to_string()
    }

    #[test]
    fn decimals_like_the_trace() {
        assert_eq!(s(Dec::from_f64(0.06873)), "0.06873");
        assert_eq!(s(Dec::from_f64(0.125)), "0.125");
        assert_eq!(s(Dec::from_f64(0.0004244)), "0.0004244");
        assert_eq!(s(Dec::from_f64(3.815e-5)), "3.815e-05");
        assert_eq!(s(Dec::from_f64(9.537e-6)), "9.537e-06");
        assert_eq!(s(Dec::from_f64(0.25)), "0.25");
        assert_eq!(s(Dec::from_f64(0.0)), "0");
        assert_eq!(s(Dec::from_f64(1.0)), "1");
        assert_eq!(s(Dec::from_f64(0.2505)), "0.2505");
        assert_eq!(s(Dec::from_f64(0.0001)), "0.0001");
        assert_eq!(s(Dec::from_f64(0.00001)), "1e-05");
        assert_eq!(s(Dec::from_f64(0.123456)), "0.1235");
        assert_eq!(s(Dec::from_f64(0.99999)), "1");
        // Python's repr of these floats gives the same strings; they parse back exactly.
        for v in [0.06873, 3.815e-5, 0.0004244, 0.2505, 0.01562] {
            let d = Dec::from_f64(v);
            assert_eq!(s(d).parse::<f64>().unwrap(), v);
            assert_eq!(d.to_f64().to_string().parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn base64_of_32_bytes_is_44_chars() {
        let h = base64_32(&[0u8; 32]);
        assert_eq!(&h, b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        let mut b = [0u8; 32];
        b[..3].copy_from_slice(b"Man");
        assert_eq!(&base64_32(&b)[..4], b"TWFu");
    }
}
