//! Stage 0: the trace over HTTP. The public bucket lists every file with its SHA-256 in
//! `SHA256SUM`; [`download`] copies parts to disk, verified, and [`RemotePart`] streams one
//! part straight into the trace reader. Both resume a dropped transfer at its byte offset
//! (HTTP Range) and check the hash of every byte they hand on.

mod client;
pub mod download;
mod hash;
mod remote;
pub mod sums;

pub use client::{Client, Retry};
pub use download::{download, DownloadOptions, DownloadSummary};
pub use hash::Hashes;
pub use remote::RemotePart;
pub use sums::{ListedPart, Sha256, SumEntry};

/// The public bucket of the 2011 trace (no credentials needed).
pub const PUBLIC_BUCKET: &str = "https://storage.googleapis.com/clusterdata-2011-2/";

/// Whether `s` names an HTTP(S) location rather than a local folder.
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Errors of fetching. Each names the URL or file it is about.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP {status}{}", not_found_hint(*status))]
    Status { url: String, status: u16 },
    #[error("{url}: gave up after {attempts} attempts: {last}")]
    GaveUp {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("{url}:{line}: {problem}")]
    SumsLine {
        url: String,
        line: u64,
        problem: String,
    },
    #[error("no SHA256SUM listing the parts of {url} (tried {tried})")]
    NoSums { url: String, tried: String },
    #[error("{sums}: lists no parts under `{folder}/`{}", selection_hint(.selection))]
    NoListedParts {
        sums: String,
        folder: String,
        selection: String,
    },
    #[error("{file}: {algorithm} mismatch: expected {expected}, got {actual}{}", removed_hint(*.removed))]
    HashMismatch {
        file: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
        removed: bool,
    },
    #[error("{url}: {problem}")]
    Protocol { url: String, problem: String },
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted")]
    Interrupted,
}

fn not_found_hint(status: u16) -> &'static str {
    match status {
        404 => " (not found)",
        403 => " (forbidden)",
        _ => "",
    }
}

fn selection_hint(selection: &str) -> String {
    if selection == "all" {
        String::new()
    } else {
        format!(" selected by --parts {selection}")
    }
}

fn removed_hint(removed: bool) -> &'static str {
    if removed {
        " (the bad copy was removed)"
    } else {
        ""
    }
}

impl FetchError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        FetchError::Io {
            path: path.to_string(),
            source,
        }
    }

    /// As an `io::Error`, for errors raised inside a `Read` (the trace reader's source);
    /// [`FetchError::from_io`] gets it back.
    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            FetchError::Io { source, .. } => source,
            other => std::io::Error::other(other),
        }
    }
}

impl FetchError {
    /// Recovers the [`FetchError`] inside an `io::Error` from [`FetchError::into_io`]; other
    /// I/O errors become [`FetchError::Io`] naming `what`.
    pub fn from_io(e: std::io::Error, what: &str) -> FetchError {
        if e.get_ref().is_some_and(|i| i.is::<FetchError>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<FetchError>().expect("checked above");
        }
        FetchError::io(what, e)
    }
}
