//! `tracepipe download`: flags, then [`tracepipe::fetch::download`].

use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use tracepipe::fetch::{self, Client, DownloadOptions, Retry};
use tracepipe::trace::PartSelection;

#[derive(Args)]
pub struct DownloadArgs {
    /// Folder to write into: parts land in DIR/<table>/part-NNNNN-of-NNNNN.csv.gz.
    #[arg(long)]
    out: PathBuf,
    /// Tables (folders of the bucket), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "job_events,task_events,machine_events"
    )]
    tables: Vec<String>,
    /// Which parts of each table: all, N (the first N) or A..B (part numbers A to B).
    #[arg(long, default_value = "all")]
    parts: PartSelection,
    /// The bucket's root, where its SHA256SUM is.
    #[arg(long, env = "TRACEPIPE_BASE_URL", default_value = fetch::PUBLIC_BUCKET)]
    base_url: String,
    /// Transfers at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
    /// Retries of a failed request or dropped transfer, with exponential backoff.
    #[arg(long, env = "TRACEPIPE_HTTP_RETRIES")]
    retries: Option<u32>,
    /// Log one line per file instead of drawing a progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

pub fn run(a: DownloadArgs) -> Result<i32> {
    if !fetch::is_url(&a.base_url) {
        bail!(
            "--base-url {}: expected an http:// or https:// URL",
            a.base_url
        );
    }
    let mut retry = Retry::from_env();
    if let Some(r) = a.retries {
        retry.retries = r;
    }
    let opts = DownloadOptions {
        out: a.out.clone(),
        tables: a
            .tables
            .iter()
            .map(|t| t.trim().trim_matches('/').to_owned())
            .collect(),
        parts: a.parts,
        base_url: a.base_url,
        parallel: usize::from(a.parallel),
        client: Client::new(retry),
        stop: super::ctrl_c_flag(),
        progress_bar: !a.no_progress && std::io::stderr().is_terminal(),
    };
    let s = match fetch::download(&opts) {
        Ok(s) => s,
        Err(fetch::FetchError::Interrupted) => {
            eprintln!(
                "download: interrupted; files not yet verified are kept as *{} and resumed by the next run",
                fetch::download::INCOMPLETE
            );
            return Ok(130);
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!("{}", s.report(&a.out));
    if let Some(path) = &a.summary_json {
        std::fs::write(path, serde_json::to_vec_pretty(&s)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}
