//! Stage 1: reading the trace files into typed, validated records.

pub mod error;
pub mod parse;
pub mod read_ahead;
pub mod reader;
pub mod record;

pub use error::{RowError, SkipReason, TraceError};
pub use read_ahead::ReadAhead;
pub use reader::{discover_parts, OnError, Part, SkipCounts, TableReader};
pub use record::*;
