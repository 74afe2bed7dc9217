use std::fmt;
use std::path::PathBuf;

/// What is wrong with one row. Paired with file and line in [`TraceError::Row`].
#[derive(Debug, Clone, PartialEq)]
pub enum RowError {
    FieldCount {
        expected: usize,
        got: usize,
    },
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    Missing {
        field: &'static str,
    },
    TimeOrder {
        time: u64,
        previous: u64,
    },
}

/// Why a row was skipped under `--on-error skip`: the keys of the summary's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    FieldCount,
    InvalidValue,
    MissingField,
    TimeOrder,
}

impl SkipReason {
    pub const ALL: [SkipReason; 4] = [
        SkipReason::FieldCount,
        SkipReason::InvalidValue,
        SkipReason::MissingField,
        SkipReason::TimeOrder,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SkipReason::FieldCount => "field_count",
            SkipReason::InvalidValue => "invalid_value",
            SkipReason::MissingField => "missing_field",
            SkipReason::TimeOrder => "time_order",
        }
    }
}

impl RowError {
    pub fn reason(&self) -> SkipReason {
        match self {
            RowError::FieldCount { .. } => SkipReason::FieldCount,
            RowError::Invalid { .. } => SkipReason::InvalidValue,
            RowError::Missing { .. } => SkipReason::MissingField,
            RowError::TimeOrder { .. } => SkipReason::TimeOrder,
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowError::FieldCount { expected, got } => {
                write!(f, "expected {expected} fields, found {got}")
            }
            RowError::Invalid {
                field,
                value,
                reason,
            } => write!(f, "field `{field}`: {reason}: {value:?}"),
            RowError::Missing { field } => write!(f, "field `{field}`: mandatory value is empty"),
            RowError::TimeOrder { time, previous } => write!(
                f,
                "field `time`: {time} is earlier than the previous row's time {previous} (files must be time-ordered)"
            ),
        }
    }
}

/// Errors of the trace reader. Every variant names the file; row errors name the line.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {error}")]
    Row {
        path: PathBuf,
        line: u64,
        error: RowError,
    },
    #[error("{location}")]
    Fetch {
        location: String,
        #[source]
        source: Box<crate::fetch::FetchError>,
    },
    #[error("{dir}: no trace parts named part-NNNNN-of-NNNNN.csv.gz")]
    NoParts { dir: PathBuf },
    #[error("{dir}: two files have part number {part}: {first} and {second}")]
    DuplicatePart {
        dir: PathBuf,
        part: u32,
        first: String,
        second: String,
    },
}

impl TraceError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TraceError::Io {
            path: path.into(),
            source,
        }
    }
}
