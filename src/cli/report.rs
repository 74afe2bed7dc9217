//! `tracepipe report`: flags, then [`tracepipe::report::run`].

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ReportArgs {
    /// Windows file written by `tracepipe aggregate --out` (JSON Lines).
    #[arg(long)]
    windows: PathBuf,
    /// HTML file to write.
    #[arg(long)]
    out: PathBuf,
    /// Page title [default: "tracepipe report: <windows file name>"].
    #[arg(long)]
    title: Option<String>,
}

pub fn run(a: ReportArgs) -> Result<i32> {
    let mut opts = tracepipe::report::ReportOptions::new(a.windows, a.out);
    opts.title = a.title;
    let s = tracepipe::report::run(&opts)?;
    println!(
        "report: {} ({} windows, {} machines, {} lines) in {:.2} s",
        s.out.display(),
        s.windows,
        s.machines,
        s.lines,
        s.wall_seconds
    );
    Ok(0)
}
