//! `tracepipe generate`: flags, then [`tracepipe::generate::generate`].

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use tracepipe::duration;
use tracepipe::generate::{generate, GenerateOptions};

#[derive(Args)]
pub struct GenerateArgs {
    /// Output folder (job_events/ and task_events/ are created inside).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of jobs.
    #[arg(long, default_value_t = 1000)]
    jobs: u64,
    /// Maximum tasks per job (half the jobs have one).
    #[arg(long, default_value_t = 100)]
    tasks_per_job: u32,
    #[arg(long, default_value_t = 1000)]
    machines: u64,
    /// Parts per table.
    #[arg(long, default_value_t = 10)]
    parts: u32,
    /// Trace span (2h, 90m, 1d, or microseconds).
    #[arg(long, default_value = "2h", value_parser = duration::trace_us)]
    duration: u64,
    /// Let some work run past the end, as in the real trace (default: every task ends).
    #[arg(long)]
    open_ended: bool,
}

pub fn run(a: GenerateArgs) -> Result<i32> {
    let opts = GenerateOptions {
        out_dir: a.out.clone(),
        seed: a.seed,
        jobs: a.jobs,
        tasks_per_job: a.tasks_per_job,
        machines: a.machines,
        parts: a.parts,
        duration_us: a.duration,
        all_end: !a.open_ended,
        ..GenerateOptions::default()
    };
    let s = generate(&opts)?;
    println!("{}", s.report(&a.out));
    Ok(0)
}
