//! `tracepipe report`: one self-contained HTML page with a picture of the cell, drawn from the
//! windows that `tracepipe aggregate --out` writes.
//!
//! People would rather look than read: the page shows the cell's allocated CPU and memory, its
//! running and pending tasks, the task events per minute by type, a heatmap of every machine's
//! allocated CPU, the top machines by peak allocation and a summary. Charts are inline SVG
//! drawn by `plotters`, so the page needs no network and no JavaScript.
//!
//! # Memory
//! The windows file is read once, as a stream. Memory is bounded by the chart sizes and the
//! number of machines, not by the input: time series have at most [`Limits::series_points`]
//! buckets and the heatmap at most [`Limits::heatmap_columns`] per machine. Both start at one
//! window per bucket and merge neighbouring pairs whenever the stream outgrows them (so a
//! bucket always holds a power-of-two number of windows).
//!
//! # Usage
//! ```no_run
//! use tracepipe::report::{run, ReportOptions};
//! let summary = run(&ReportOptions::new("windows.jsonl", "report.html"))?;
//! println!("{} windows, {} machines", summary.windows, summary.machines);
//! # Ok::<(), tracepipe::report::ReportError>(())
//! ```

mod error;
mod parse;
mod render;
mod series;

pub use error::ReportError;
pub use series::Limits;

use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to read, where to write, and how the page is titled.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The windows file (JSON Lines of `tracepipe aggregate --out`).
    pub windows: PathBuf,
    /// The HTML file to write.
    pub out: PathBuf,
    /// Page title [default: `tracepipe report: FILE NAME`].
    pub title: Option<String>,
    /// Chart resolution (down-sampling caps).
    pub limits: Limits,
}

impl ReportOptions {
    pub fn new(windows: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        ReportOptions {
            windows: windows.into(),
            out: out.into(),
            title: None,
            limits: Limits::default(),
        }
    }
}

/// What the report read and wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportSummary {
    pub out: PathBuf,
    /// Lines read (cell + machine).
    pub lines: u64,
    /// Windows with a cell line.
    pub windows: u64,
    pub machine_lines: u64,
    /// Distinct machine IDs.
    pub machines: u64,
    /// Task and job events counted by the cell lines.
    pub task_events: u64,
    pub job_events: u64,
    /// Start of the first window and end of the last one, µs of trace time.
    pub first_window_start: u64,
    pub last_window_end: u64,
    /// Windows per point of the time series, and per column of the heatmap.
    pub windows_per_point: u64,
    pub windows_per_heatmap_column: u64,
    /// Machines per heatmap row.
    pub machines_per_heatmap_row: u64,
    /// Size of the HTML file.
    pub html_bytes: u64,
    pub wall_seconds: f64,
}

/// Reads the windows file and writes the HTML page.
pub fn run(opts: &ReportOptions) -> Result<ReportSummary, ReportError> {
    let started = Instant::now();
    let report = series::read_file(&opts.windows, &opts.limits)?;
    let title = opts.title.clone().unwrap_or_else(|| {
        format!(
            "tracepipe report: {}",
            opts.windows.file_name().map_or_else(
                || opts.windows.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        )
    });
    let html = render::html(&report, &title, &opts.windows)?;
    write_file(&opts.out, html.as_bytes())?;
    Ok(ReportSummary {
        out: opts.out.clone(),
        lines: report.lines,
        windows: report.windows,
        machine_lines: report.machine_lines,
        machines: report.machines,
        task_events: report.task_events_total(),
        job_events: report.job_events_total(),
        first_window_start: report.first_window_start(),
        last_window_end: report.last_window_end(),
        windows_per_point: report.windows_per_point,
        windows_per_heatmap_column: report.windows_per_column,
        machines_per_heatmap_row: report.heatmap.machines_per_row,
        html_bytes: html.len() as u64,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}
