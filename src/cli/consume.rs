//! `tracepipe consume`: flags, then [`tracepipe::consume::write_ordered`].

use super::common::{Common, GroupArgs, ReadArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    group: GroupArgs,
    /// Release events in exact global (time, seq) order (the only mode; kept for clarity).
    #[arg(long, default_value_t = true)]
    ordered: bool,
    /// Write JSON Lines here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stop after this many events (committing them).
    #[arg(long)]
    limit: Option<u64>,
}

pub fn run(a: ConsumeArgs) -> Result<i32> {
    if !a.ordered {
        bail!("only ordered consumption is supported (--ordered)");
    }
    let r = a.common.resolve()?;
    let mut opts = a.read.options(&r, None);
    a.group.apply(&mut opts);
    let out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("--out {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let summary = tracepipe::consume::write_ordered(opts, out, a.limit, super::ctrl_c_flag())?;
    eprintln!("{}", summary.report());
    Ok(0)
}
