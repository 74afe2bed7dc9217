//! Stage 1: reading the trace files into typed, validated records.

mod error;
mod location;
pub mod parse;
mod read_ahead;
mod reader;
mod record;
mod selection;

pub use error::{RowError, SkipReason, TraceError};
pub use location::Location;
pub use read_ahead::ReadAhead;
pub(crate) use reader::part_number;
pub use reader::{discover_parts, OnError, Part, SkipCounts, TableReader};
pub use record::*;
pub use selection::PartSelection;

/// The bundled sample's folder of `table` (`sample/job_events`, `sample/task_events`).
#[cfg(test)]
pub(crate) fn sample_dir(table: Table) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample")
        .join(format!("{}_events", table.name()))
}
