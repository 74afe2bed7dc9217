//! `tracepipe aggregate`: flags, then [`tracepipe::aggregate::run`].

use super::common::{Common, GroupArgs, ReadArgs};
use anyhow::{Context, Result};
use clap::Args;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracepipe::aggregate::{self, AggregateOptions, Source};
use tracepipe::duration;
use tracepipe::window::{JsonLinesWriter, ParquetWindowWriter, WindowSink};

#[derive(Args)]
pub struct AggregateArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    group: GroupArgs,
    /// Read the trace files (--jobs/--tasks) through the merge instead of Kafka.
    #[arg(long)]
    from_files: bool,
    /// Window width (1m, 30s, 5m, or microseconds).
    #[arg(long, default_value = "1m", value_parser = duration::positive_trace_us)]
    window: u64,
    /// Output file for the windows (`-` for stdout) [default: none].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Format of --out [default: parquet for a .parquet file, else jsonl].
    #[arg(long, value_enum)]
    format: Option<OutputFormat>,
    /// Serve Prometheus metrics here.
    #[arg(long, env = "TRACEPIPE_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    metrics_addr: String,
    /// Do not serve metrics.
    #[arg(long)]
    no_metrics: bool,
    /// Also push the metrics to this Pushgateway (e.g. http://127.0.0.1:9091).
    #[arg(long, env = "TRACEPIPE_PUSHGATEWAY")]
    pushgateway: Option<String>,
    /// Keep serving /metrics this long after the end of the stream (e.g. 30s).
    #[arg(long, default_value = "0s", value_parser = duration::wall_seconds)]
    hold: Duration,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

/// `--format`: JSON Lines (the contract) or Parquet (docs/windows.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    Jsonl,
    Parquet,
}

/// The sink for `--out`, its format from `--format` or the file's extension.
fn sink(path: &Path, format: Option<OutputFormat>) -> Result<Box<dyn WindowSink>> {
    let format = format.unwrap_or(
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        {
            OutputFormat::Parquet
        } else {
            OutputFormat::Jsonl
        },
    );
    let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::stdout())
    } else {
        Box::new(
            File::create(path)
                .with_context(|| format!("--out {}: cannot create", path.display()))?,
        )
    };
    let out = BufWriter::with_capacity(1 << 20, out);
    Ok(match format {
        OutputFormat::Jsonl => Box::new(JsonLinesWriter::new(out)),
        OutputFormat::Parquet => Box::new(
            ParquetWindowWriter::new(out)
                .with_context(|| format!("--out {}: starting the Parquet file", path.display()))?,
        ),
    })
}

pub fn run(a: AggregateArgs) -> Result<i32> {
    let r = a.common.resolve()?;
    let source = if a.from_files {
        a.common.require_trace()?;
        Source::Files(r.source.clone())
    } else {
        let mut o = a.read.options(&r, None);
        a.group.apply(&mut o);
        Source::Kafka(Box::new(o))
    };
    let out = a.out.as_deref().map(|p| sink(p, a.format)).transpose()?;
    let opts = AggregateOptions {
        source,
        window_us: a.window,
        metrics_addr: (!a.no_metrics).then_some(a.metrics_addr),
        pushgateway: a.pushgateway,
        push_job: "tracepipe_aggregate".into(),
        hold: a.hold,
    };
    let s = aggregate::run(opts, out, super::ctrl_c_flag())?;
    eprintln!("{}", s.report());
    if let Some(path) = &a.summary_json {
        std::fs::write(path, serde_json::to_vec_pretty(&s)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}
