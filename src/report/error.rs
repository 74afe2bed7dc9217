//! Errors of `tracepipe report`. Each names the file and, for bad content, the line (1-based)
//! and the field, so that a wrong or damaged windows file is found at once.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: empty file: no window lines (write them with `tracepipe aggregate --out FILE`)", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{}:{line}: not a windows file: {reason} (expected the JSON Lines of `tracepipe aggregate --out`: \"kind\":\"cell\" and \"kind\":\"machine\" lines)",
        path.display()
    )]
    NotWindows {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("{}:{line}: truncated line: the file ends inside a JSON object ({reason})", path.display())]
    Truncated {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("{}:{line}: invalid JSON: {reason}", path.display())]
    InvalidJson {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("{}:{line}: field `{field}`: {reason}", path.display())]
    InvalidField {
        path: PathBuf,
        line: u64,
        field: String,
        reason: String,
    },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A chart could not be drawn (a bug rather than bad input).
    #[error("drawing the {chart} chart: {reason}")]
    Render { chart: &'static str, reason: String },
}
