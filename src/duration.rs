//! The crate's one duration parser: `90m`, `2h`, `1.5s`, `250ms`, `10us`, `3d`, or a bare
//! number in a unit the caller chooses (microseconds for trace times, seconds or milliseconds
//! for wall-clock settings). The CLI's value parsers and the config file both use it.

use std::time::Duration;

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {text:?} (examples: 90m, 2h, 30s, 1500000)")]
    Number { text: String },
    #[error("invalid duration unit {unit:?} in {text:?} (us, ms, s, m, h, d)")]
    Unit { text: String, unit: String },
    #[error("duration {text:?} out of range")]
    Range { text: String },
    #[error("duration {text:?} must be positive")]
    Zero { text: String },
}

/// What a bare number means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BareUnit {
    Micros,
    Millis,
    Seconds,
}

impl BareUnit {
    fn micros(self) -> f64 {
        match self {
            BareUnit::Micros => 1.0,
            BareUnit::Millis => 1e3,
            BareUnit::Seconds => 1e6,
        }
    }
}

/// Parses `s` into microseconds; a bare number is in `bare` units.
pub fn parse_us(s: &str, bare: BareUnit) -> Result<u64, DurationError> {
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    // Whole microseconds stay exact (no trip through f64), up to u64::MAX.
    if unit == "us" || (unit.is_empty() && bare == BareUnit::Micros) {
        if let Ok(v) = num.parse::<u64>() {
            return Ok(v);
        }
    }
    let value: f64 = num.parse().map_err(|_| DurationError::Number {
        text: text.to_owned(),
    })?;
    let scale = match unit {
        "" => bare.micros(),
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        "d" => 86400e6,
        _ => {
            return Err(DurationError::Unit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            })
        }
    };
    let us = value * scale;
    if !us.is_finite() || us < 0.0 || us > u64::MAX as f64 {
        return Err(DurationError::Range {
            text: text.to_owned(),
        });
    }
    Ok(us.round() as u64)
}

/// A span of trace time in microseconds (bare numbers are microseconds): `--from`, `--window`.
pub fn trace_us(s: &str) -> Result<u64, DurationError> {
    parse_us(s, BareUnit::Micros)
}

/// A positive span of trace time in microseconds.
pub fn positive_trace_us(s: &str) -> Result<u64, DurationError> {
    positive(s, trace_us(s)?)
}

/// Wall-clock time; bare numbers are seconds (`--duration 60`, `--hold 30`).
pub fn wall_seconds(s: &str) -> Result<Duration, DurationError> {
    parse_us(s, BareUnit::Seconds).map(Duration::from_micros)
}

/// Positive wall-clock time; bare numbers are milliseconds (`--watermark-interval 100`).
pub fn positive_wall_millis(s: &str) -> Result<Duration, DurationError> {
    let us = parse_us(s, BareUnit::Millis)?;
    positive(s, us).map(Duration::from_micros)
}

fn positive(s: &str, us: u64) -> Result<u64, DurationError> {
    if us == 0 {
        return Err(DurationError::Zero {
            text: s.trim().to_owned(),
        });
    }
    Ok(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_numbers() {
        assert_eq!(trace_us("90m"), Ok(5_400_000_000));
        assert_eq!(trace_us("1500000"), Ok(1_500_000));
        assert_eq!(trace_us("1.5h"), Ok(5_400_000_000));
        assert_eq!(trace_us("1d"), Ok(86_400_000_000));
        assert_eq!(trace_us("250ms"), Ok(250_000));
        assert_eq!(trace_us("1.5s"), Ok(1_500_000));
        assert_eq!(trace_us("1500us"), Ok(1500));
        assert_eq!(wall_seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(positive_wall_millis("100"), Ok(Duration::from_millis(100)));
        assert_eq!(positive_wall_millis("1s"), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn whole_microseconds_are_exact_up_to_u64_max() {
        assert_eq!(trace_us("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_us("9007199254740993us", BareUnit::Seconds),
            Ok(9_007_199_254_740_993)
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(trace_us("5x"), Err(DurationError::Unit { .. })));
        assert!(matches!(trace_us(""), Err(DurationError::Number { .. })));
        assert!(matches!(trace_us("h"), Err(DurationError::Number { .. })));
        assert!(matches!(
            trace_us("99999999999999999999d"),
            Err(DurationError::Range { .. })
        ));
        assert_eq!(
            positive_trace_us("0s"),
            Err(DurationError::Zero { text: "0s".into() })
        );
        assert!(positive_wall_millis("0").is_err());
    }
}
