//! Flags shared by the subcommands, each group one `#[command(flatten)]` struct.

use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tracepipe::config::{FileConfig, KafkaFlags, KafkaSettings};
use tracepipe::consume::{ConsumeOptions, DEFAULT_PREFETCH_KBYTES};
use tracepipe::duration;
use tracepipe::merge::TraceSource;
use tracepipe::trace::{Location, OnError, PartSelection};

/// Flags every subcommand takes: trace folders, Kafka and the config file.
#[derive(Args, Clone, Debug)]
pub struct Common {
    #[command(flatten)]
    pub trace: TraceArgs,
    #[command(flatten)]
    pub kafka: KafkaFlags,
    /// YAML config file (accepts the original config.yaml).
    #[arg(long, env = "TRACEPIPE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Which trace files to read and how.
#[derive(Args, Clone, Debug)]
pub struct TraceArgs {
    /// Folder of job_events parts (part-NNNNN-of-NNNNN.csv.gz), or its URL in a bucket
    /// with a SHA256SUM (streamed, e.g. https://storage.googleapis.com/clusterdata-2011-2/job_events).
    #[arg(long, env = "TRACEPIPE_JOBS")]
    pub jobs: Option<Location>,
    /// Folder or URL of task_events parts.
    #[arg(long, env = "TRACEPIPE_TASKS")]
    pub tasks: Option<Location>,
    /// Folder (or bucket URL) of machine_events parts: machines and their capacity (a third
    /// topic; consumers given it read the machine topic too).
    #[arg(long, env = "TRACEPIPE_MACHINES")]
    pub machines: Option<Location>,
    /// Which parts of each table: all, N (the first N) or A..B (part numbers A to B).
    #[arg(long, default_value = "all", env = "TRACEPIPE_PARTS")]
    pub parts: PartSelection,
    /// What to do with a bad trace row.
    #[arg(long, value_enum, default_value_t = OnError::Fail, env = "TRACEPIPE_ON_ERROR")]
    pub on_error: OnError,
    /// Only events at or after this trace time (microseconds, or 90m, 2h, ...).
    #[arg(long, value_parser = duration::trace_us)]
    pub from: Option<u64>,
    /// Only events before this trace time (microseconds, or 90m, 2h, ...).
    #[arg(long, value_parser = duration::trace_us)]
    pub to: Option<u64>,
}

/// How the ordered consumer reads Kafka (consume, verify, aggregate).
#[derive(Args, Clone, Debug)]
pub struct ReadArgs {
    /// Prefetch limit per partition in KiB (bounds memory).
    #[arg(long, default_value_t = DEFAULT_PREFETCH_KBYTES, value_parser = clap::value_parser!(u32).range(1..))]
    pub prefetch_kbytes: u32,
    /// Fail when nothing is released for this long (e.g. 60s) [default: wait forever; verify: 60s].
    #[arg(long, value_parser = duration::wall_seconds)]
    pub idle_timeout: Option<Duration>,
}

/// A live reader's position and lifetime (consume, aggregate).
#[derive(Args, Clone, Debug)]
pub struct GroupArgs {
    /// Consumer group: start from its committed offsets, commit what was released.
    #[arg(long, env = "TRACEPIPE_GROUP")]
    pub group: Option<String>,
    /// Keep waiting for later replays after the end-of-stream marks.
    #[arg(long)]
    pub follow: bool,
}

/// The common flags resolved against the config file.
pub struct Resolved {
    pub file: FileConfig,
    pub kafka: KafkaSettings,
    pub source: TraceSource,
    /// The stream has machines: `--machines` given, or a machine topic named (flag,
    /// environment or config file). Consumers then read the machine topic too.
    pub machines: bool,
}

impl Common {
    pub fn resolve(&self) -> Result<Resolved> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let kafka = KafkaSettings::resolve(&file.kafka, &self.kafka)?;
        let t = &self.trace;
        if let (Some(f), Some(to)) = (t.from, t.to) {
            if f >= to {
                bail!("--from ({f}) must be before --to ({to})");
            }
        }
        let source = TraceSource {
            jobs: t.jobs.clone(),
            tasks: t.tasks.clone(),
            parts: t.parts,
            machines: t.machines.clone(),
            on_error: t.on_error,
            from: t.from,
            to: t.to,
        };
        let machines = source.machines.is_some()
            || self.kafka.machine_topic.is_some()
            || file
                .kafka
                .topics
                .as_ref()
                .is_some_and(|t| t.machine_events.is_some());
        Ok(Resolved {
            file,
            kafka,
            source,
            machines,
        })
    }

    /// The subcommands that read the files need at least one table.
    pub fn require_trace(&self) -> Result<()> {
        if self.trace.jobs.is_none() && self.trace.tasks.is_none() && self.trace.machines.is_none()
        {
            bail!("give --jobs, --tasks and/or --machines: trace folders of part-NNNNN-of-NNNNN.csv.gz files, or their URLs (see `tracepipe download`)");
        }
        Ok(())
    }
}

impl ReadArgs {
    /// Consumer options; `default_idle` applies when `--idle-timeout` is not given.
    pub fn options(&self, r: &Resolved, default_idle: Option<Duration>) -> ConsumeOptions {
        let mut o = ConsumeOptions::new(r.kafka.clone());
        o.machines = r.machines;
        o.prefetch_kbytes_per_partition = self.prefetch_kbytes;
        o.idle_timeout = self.idle_timeout.or(default_idle);
        o
    }
}

impl GroupArgs {
    pub fn apply(&self, o: &mut ConsumeOptions) {
        o.group = self.group.clone();
        o.follow = self.follow;
    }
}
