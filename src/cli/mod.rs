//! Command-line interface: one module per subcommand, each parsing its flags and making one
//! call into the library. Settings resolve as config file < environment < flags: clap reads
//! flags and environment variables (flags win), and the file fills what neither gave.

mod aggregate;
mod common;
mod consume;
mod download;
mod generate;
mod replay;
mod report;
mod topics;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "tracepipe",
    version,
    about = "Replay the Google 2011 cluster trace through Kafka in exact global time order"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay the tables (jobs, tasks, machines) into Kafka in global time order.
    Replay(replay::ReplayArgs),
    /// Read the topics and print the events in exact global order as JSON Lines.
    Consume(consume::ConsumeArgs),
    /// Check that the ordered stream in Kafka equals the merge of the trace files.
    Verify(verify::VerifyArgs),
    /// Per-machine tumbling windows from the ordered stream (Kafka or files), with metrics.
    Aggregate(aggregate::AggregateArgs),
    /// Fetch the real trace from its public bucket, every file checked against SHA256SUM.
    Download(download::DownloadArgs),
    /// Write a synthetic trace in the exact file format (deterministic by --seed).
    Generate(generate::GenerateArgs),
    /// Draw the windows of `aggregate --out` as one self-contained HTML page.
    Report(report::ReportArgs),
    /// Describe the topics' partitions: leader, replicas, in-sync replicas.
    Topics(topics::TopicsArgs),
}

/// Parses the command line and runs the subcommand; the exit code on success.
pub fn run() -> Result<i32> {
    match Cli::parse().command {
        Command::Replay(a) => replay::run(a),
        Command::Consume(a) => consume::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Aggregate(a) => aggregate::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Download(a) => download::run(a),
        Command::Report(a) => report::run(a),
        Command::Topics(a) => topics::run(a),
    }
}

/// Set by the first Ctrl-C or SIGTERM; a second one exits at once.
fn ctrl_c_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    // A handler that cannot be installed leaves the default (exit at once).
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    stop
}
