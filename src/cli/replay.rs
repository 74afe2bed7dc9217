//! `tracepipe replay`: flags, then [`tracepipe::replay::run`].

use super::common::Common;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tracepipe::config::ProducerTuning;
use tracepipe::duration;
use tracepipe::replay::{self, ProgressMode, ReplayOptions};

#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    common: Common,
    /// Trace time runs X times faster than wall time [default: as fast as possible].
    #[arg(long, env = "TRACEPIPE_SPEED")]
    speed: Option<f64>,
    /// Stop after this many wall-clock seconds (or 90s, 5m, ...): the original simulation_duration.
    #[arg(long, env = "TRACEPIPE_DURATION", value_parser = duration::wall_seconds)]
    duration: Option<Duration>,
    /// Wall-clock idle time after which a partition gets a watermark (ms, or 100ms, 1s).
    #[arg(long, default_value = "100ms", value_parser = duration::positive_wall_millis)]
    watermark_interval: Duration,
    /// Continue after the last seq already in the topics.
    #[arg(long)]
    resume: bool,
    /// librdkafka linger.ms [default: 5].
    #[arg(long)]
    linger_ms: Option<u64>,
    /// librdkafka batch.size in bytes [default: 1000000].
    #[arg(long)]
    batch_size: Option<u64>,
    /// Producer buffer in bytes [default: 8388608].
    #[arg(long)]
    buffer_memory: Option<u64>,
    /// Compression codec (none, gzip, snappy, lz4, zstd) [default: lz4].
    #[arg(long)]
    compression: Option<String>,
    /// Serve the replayer's Prometheus metrics here, e.g. 127.0.0.1:9465.
    #[arg(long, env = "TRACEPIPE_REPLAY_METRICS_ADDR")]
    metrics_addr: Option<String>,
    /// Also push the replayer's metrics to this Pushgateway at the end.
    #[arg(long, env = "TRACEPIPE_PUSHGATEWAY")]
    pushgateway: Option<String>,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

pub fn run(a: ReplayArgs) -> Result<i32> {
    a.common.require_trace()?;
    let r = a.common.resolve()?;
    let file = &r.file.kafka;
    let opts = ReplayOptions {
        tuning: ProducerTuning::resolve(
            file,
            a.batch_size,
            a.linger_ms,
            a.buffer_memory,
            a.compression,
        ),
        speed: a.speed,
        time_scale: r.file.time_scaling_factor.unwrap_or(1e6),
        duration: a.duration.or(file
            .simulation_duration
            .map(|s| Duration::from_micros((s * 1e6) as u64))),
        watermark_interval: a.watermark_interval,
        resume: a.resume,
        progress: a.progress,
        metrics_addr: a.metrics_addr,
        pushgateway: a.pushgateway,
        ..ReplayOptions::new(r.source, r.kafka)
    };
    let summary = replay::run(&opts, super::ctrl_c_flag())?;
    println!("{}", summary.report());
    if let Some(path) = &a.summary_json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}
