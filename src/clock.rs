//! Trace time as a 2011 calendar date, for progress lines and metrics.

use crate::trace::{is_after_end, TRACE_EPOCH_UNIX_SECONDS};

/// Unix seconds of a trace time (microseconds since 2011-05-01T22:50:00Z).
pub fn unix_seconds(trace_time_us: u64) -> f64 {
    TRACE_EPOCH_UNIX_SECONDS as f64 + trace_time_us as f64 / 1e6
}

/// `2011-05-02 01:23:45 UTC`, or `after the end` for the sentinels.
pub fn format_trace_time(trace_time_us: u64) -> String {
    if is_after_end(trace_time_us) {
        return "after the end".into();
    }
    let secs = TRACE_EPOCH_UNIX_SECONDS + trace_time_us / 1_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 -> (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_start() {
        // Trace time 600 s is 2011-05-01 19:00 EDT = 23:00 UTC.
        assert_eq!(format_trace_time(600_000_000), "2011-05-01 23:00:00 UTC");
        assert_eq!(format_trace_time(0), "2011-05-01 22:50:00 UTC");
        assert_eq!(format_trace_time(u64::MAX), "after the end");
        assert_eq!(unix_seconds(600_000_000), 1_304_290_800.0);
    }
}
