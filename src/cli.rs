//! Command-line interface. Settings resolve as config file < environment < flags: clap reads
//! flags and environment variables (flags win), and the file fills what neither gave.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracepipe::aggregate::{self, AggregateOptions, Source};
use tracepipe::config::{parse_duration_us, FileConfig, KafkaSettings, ProducerTuning, Secret};
use tracepipe::consume::verify::{verify, VerifyOutcome};
use tracepipe::consume::{ConsumeOptions, OrderedConsumer, DEFAULT_PREFETCH_KBYTES};
use tracepipe::generate::{generate, GenerateOptions};
use tracepipe::merge::TraceSource;
use tracepipe::replay::{self, ProgressMode, ReplayOptions};
use tracepipe::trace::OnError;

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
    /// Replay both tables into Kafka in global time order.
    Replay(ReplayArgs),
    /// Read both topics and print the events in exact global order as JSON Lines.
    Consume(ConsumeArgs),
    /// Check that the ordered stream in Kafka equals the merge of the trace files.
    Verify(VerifyArgs),
    /// Per-machine tumbling windows from the ordered stream (Kafka or files), with metrics.
    Aggregate(AggregateArgs),
    /// Write a synthetic trace in the exact file format (deterministic by --seed).
    Generate(GenerateArgs),
    /// Draw the windows of `aggregate --out` as one self-contained HTML page.
    Report(ReportArgs),
}

#[derive(Args)]
struct ReportArgs {
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

fn run_report(a: ReportArgs) -> Result<i32> {
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

#[derive(Args)]
struct AggregateArgs {
    #[command(flatten)]
    common: Common,
    /// Read the trace files (--jobs/--tasks) through the merge instead of Kafka.
    #[arg(long)]
    from_files: bool,
    /// Window width (1m, 30s, 5m, or microseconds).
    #[arg(long, default_value = "1m")]
    window: String,
    /// JSON Lines output file (`-` for stdout) [default: none].
    #[arg(long)]
    out: Option<PathBuf>,
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
    #[arg(long, default_value = "0s")]
    hold: String,
    /// Consumer group (Kafka source): start from its committed offsets.
    #[arg(long, env = "TRACEPIPE_GROUP")]
    group: Option<String>,
    /// Keep waiting for later replays after the end-of-stream marks.
    #[arg(long)]
    follow: bool,
    /// Fail when nothing arrives for this long (Kafka source) [default: wait forever].
    #[arg(long)]
    idle_timeout: Option<String>,
    /// Prefetch limit per partition in KiB (Kafka source; bounds memory).
    #[arg(long, default_value_t = DEFAULT_PREFETCH_KBYTES, value_parser = clap::value_parser!(u32).range(1..))]
    prefetch_kbytes: u32,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

#[derive(Args)]
struct GenerateArgs {
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
    #[arg(long, default_value = "2h")]
    duration: String,
    /// Let some work run past the end, as in the real trace (default: every task ends).
    #[arg(long)]
    open_ended: bool,
}

/// Flags shared by every subcommand.
#[derive(Args, Clone, Debug)]
struct Common {
    /// Folder of job_events parts (part-NNNNN-of-NNNNN.csv.gz).
    #[arg(long, env = "TRACEPIPE_JOBS")]
    jobs: Option<PathBuf>,
    /// Folder of task_events parts.
    #[arg(long, env = "TRACEPIPE_TASKS")]
    tasks: Option<PathBuf>,
    /// Kafka bootstrap servers [default: 127.0.0.1:9092].
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    bootstrap: Option<String>,
    /// Topic of job events [default: job-events].
    #[arg(long, env = "TRACEPIPE_JOB_TOPIC")]
    job_topic: Option<String>,
    /// Topic of task events [default: task-events].
    #[arg(long, env = "TRACEPIPE_TASK_TOPIC")]
    task_topic: Option<String>,
    /// Partitions of topics created by tracepipe [default: 12].
    #[arg(long, env = "TRACEPIPE_PARTITIONS")]
    partitions: Option<i32>,
    /// Replication factor of topics created by tracepipe [default: 1].
    #[arg(long, env = "TRACEPIPE_REPLICATION_FACTOR")]
    replication_factor: Option<i16>,
    /// YAML config file (accepts the original config.yaml).
    #[arg(long, env = "TRACEPIPE_CONFIG")]
    config: Option<PathBuf>,
    /// What to do with a bad trace row.
    #[arg(long, value_enum, default_value_t = OnError::Fail, env = "TRACEPIPE_ON_ERROR")]
    on_error: OnError,
    /// Only events at or after this trace time (microseconds, or 90m, 2h, ...).
    #[arg(long)]
    from: Option<String>,
    /// Only events before this trace time (microseconds, or 90m, 2h, ...).
    #[arg(long)]
    to: Option<String>,
    /// Kafka security.protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).
    #[arg(long, env = "TRACEPIPE_SECURITY_PROTOCOL")]
    security_protocol: Option<String>,
    /// SASL mechanism (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN).
    #[arg(long, env = "TRACEPIPE_SASL_MECHANISM")]
    sasl_mechanism: Option<String>,
    #[arg(long, env = "TRACEPIPE_SASL_USERNAME")]
    sasl_username: Option<String>,
    /// SASL password (prefer the environment variable; never printed).
    #[arg(long, env = "TRACEPIPE_SASL_PASSWORD", hide_env_values = true)]
    sasl_password: Option<String>,
    /// CA certificate (PEM) to verify the brokers.
    #[arg(long, env = "TRACEPIPE_SSL_CA_LOCATION")]
    ssl_ca_location: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, env = "TRACEPIPE_SSL_CERTIFICATE_LOCATION")]
    ssl_certificate_location: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long, env = "TRACEPIPE_SSL_KEY_LOCATION")]
    ssl_key_location: Option<PathBuf>,
    #[arg(long, env = "TRACEPIPE_SSL_KEY_PASSWORD", hide_env_values = true)]
    ssl_key_password: Option<String>,
}

/// Resolved common settings.
struct Resolved {
    file: FileConfig,
    kafka: KafkaSettings,
    source: TraceSource,
}

impl Common {
    fn resolve(&self) -> Result<Resolved> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let k = &file.kafka;
        let topics = k.topics.clone().unwrap_or_default();
        let d = KafkaSettings::default();
        let kafka = KafkaSettings {
            bootstrap: pick(&self.bootstrap, &k.bootstrap_servers, d.bootstrap),
            job_topic: pick(&self.job_topic, &topics.job_events, d.job_topic),
            task_topic: pick(&self.task_topic, &topics.task_events, d.task_topic),
            partitions: pick(&self.partitions, &k.partitions, d.partitions),
            replication_factor: pick(
                &self.replication_factor,
                &k.replication_factor,
                d.replication_factor,
            ),
            security: tracepipe::config::Security {
                protocol: self
                    .security_protocol
                    .clone()
                    .or(k.security_protocol.clone()),
                sasl_mechanism: self.sasl_mechanism.clone().or(k.sasl_mechanism.clone()),
                sasl_username: self.sasl_username.clone().or(k.sasl_username.clone()),
                sasl_password: self
                    .sasl_password
                    .clone()
                    .or(k.sasl_password.clone())
                    .map(Secret::new),
                ssl_ca_location: self.ssl_ca_location.clone().or(k.ssl_ca_location.clone()),
                ssl_certificate_location: self
                    .ssl_certificate_location
                    .clone()
                    .or(k.ssl_certificate_location.clone()),
                ssl_key_location: self.ssl_key_location.clone().or(k.ssl_key_location.clone()),
                ssl_key_password: self
                    .ssl_key_password
                    .clone()
                    .or(k.ssl_key_password.clone())
                    .map(Secret::new),
            },
        };
        kafka.validate()?;
        let trace_time = |s: &Option<String>, flag: &str| -> Result<Option<u64>> {
            s.as_deref()
                .map(|v| parse_duration_us(v, 1.0).map_err(anyhow::Error::msg))
                .transpose()
                .with_context(|| format!("--{flag}"))
        };
        let from = trace_time(&self.from, "from")?;
        let to = trace_time(&self.to, "to")?;
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                bail!("--from ({f}) must be before --to ({t})");
            }
        }
        Ok(Resolved {
            kafka,
            source: TraceSource {
                jobs: self.jobs.clone(),
                tasks: self.tasks.clone(),
                on_error: self.on_error,
                from,
                to,
            },
            file,
        })
    }

    fn require_trace(&self) -> Result<()> {
        if self.jobs.is_none() && self.tasks.is_none() {
            bail!("give --jobs DIR and/or --tasks DIR (trace folders of part-NNNNN-of-NNNNN.csv.gz files)");
        }
        Ok(())
    }
}

fn pick<T: Clone>(flag_or_env: &Option<T>, file: &Option<T>, default: T) -> T {
    flag_or_env
        .clone()
        .or_else(|| file.clone())
        .unwrap_or(default)
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    common: Common,
    /// Trace time runs X times faster than wall time [default: as fast as possible].
    #[arg(long, env = "TRACEPIPE_SPEED")]
    speed: Option<f64>,
    /// Stop after this many wall-clock seconds (or 90s, 5m, ...): the original simulation_duration.
    #[arg(long, env = "TRACEPIPE_DURATION")]
    duration: Option<String>,
    /// Wall-clock idle time after which a partition gets a watermark (ms, or 100ms, 1s).
    #[arg(long, default_value = "100ms")]
    watermark_interval: String,
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
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProgressArg {
    Auto,
    Bar,
    Log,
    Quiet,
}

fn ctrl_c_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    // A second Ctrl-C (or a handler that cannot be installed) falls back to the default.
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    stop
}

fn run_replay(a: ReplayArgs) -> Result<i32> {
    a.common.require_trace()?;
    let r = a.common.resolve()?;
    let k = &r.file.kafka;
    let d = ProducerTuning::default();
    let tuning = ProducerTuning {
        batch_size: pick(&a.batch_size, &k.batch_size, d.batch_size),
        linger_ms: pick(&a.linger_ms, &k.linger_ms, d.linger_ms),
        buffer_memory: pick(&a.buffer_memory, &k.buffer_memory, d.buffer_memory),
        compression: a.compression.clone().unwrap_or(d.compression),
    };
    let duration = match &a.duration {
        Some(s) => Some(
            parse_duration_us(s, 1e6)
                .map_err(anyhow::Error::msg)
                .context("--duration")?,
        ),
        None => k.simulation_duration.map(|s| (s * 1e6) as u64),
    }
    .map(Duration::from_micros);
    if let Some(s) = a.speed {
        if !(s.is_finite() && s > 0.0) {
            bail!("--speed must be a positive number, got {s}");
        }
    }
    let time_scale = r.file.time_scaling_factor.unwrap_or(1e6);
    if !(time_scale.is_finite() && time_scale > 0.0) {
        bail!("time_scaling_factor must be positive, got {time_scale}");
    }
    let watermark_interval = Duration::from_micros(
        parse_duration_us(&a.watermark_interval, 1e3)
            .map_err(anyhow::Error::msg)
            .context("--watermark-interval")?,
    );
    if watermark_interval.is_zero() {
        bail!("--watermark-interval must be positive");
    }
    let opts = ReplayOptions {
        source: r.source,
        kafka: r.kafka,
        tuning,
        speed: a.speed,
        time_scale,
        duration,
        watermark_interval,
        resume: a.resume,
        progress: match a.progress {
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::Bar => ProgressMode::Bar,
            ProgressArg::Log => ProgressMode::Log,
            ProgressArg::Quiet => ProgressMode::Quiet,
        },
        metrics_addr: a.metrics_addr,
        pushgateway: a.pushgateway,
    };
    let summary = replay::run(&opts, ctrl_c_flag())?;
    println!(
        "replayed {} events ({} to {}, {} to {}) in {:.2} s: {:.0} events/s; seq {}..{}; {} marks",
        summary.events,
        summary.job_events,
        summary.job_topic,
        summary.task_events,
        summary.task_topic,
        summary.wall_seconds,
        summary.events_per_second,
        summary.first_seq,
        summary.next_seq,
        summary.marks
    );
    if summary.skipped_rows > 0 {
        let reasons: Vec<String> = summary
            .skipped_by_reason
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        println!(
            "skipped {} bad rows ({})",
            summary.skipped_rows,
            reasons.join(", ")
        );
    }
    if summary.stopped_by_duration {
        println!("stopped after the --duration limit");
    }
    if let Some(path) = &a.summary_json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}

#[derive(Args)]
struct ConsumeArgs {
    #[command(flatten)]
    common: Common,
    /// Release events in exact global (time, seq) order (the only mode; kept for clarity).
    #[arg(long, default_value_t = true)]
    ordered: bool,
    /// Consumer group: start from its committed offsets, commit what was released.
    #[arg(long, env = "TRACEPIPE_GROUP")]
    group: Option<String>,
    /// Keep waiting for later replays after the end-of-stream marks.
    #[arg(long)]
    follow: bool,
    /// Write JSON Lines here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stop after this many events (committing them).
    #[arg(long)]
    limit: Option<u64>,
    /// Prefetch limit per partition in KiB (bounds memory).
    #[arg(long, default_value_t = DEFAULT_PREFETCH_KBYTES, value_parser = clap::value_parser!(u32).range(1..))]
    prefetch_kbytes: u32,
    /// Fail when nothing is released for this long (e.g. 60s) [default: wait forever].
    #[arg(long)]
    idle_timeout: Option<String>,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    common: Common,
    /// Fail when nothing is released for this long.
    #[arg(long, default_value = "60s")]
    idle_timeout: String,
}

fn consume_options(r: &Resolved, idle: Option<&str>) -> Result<ConsumeOptions> {
    let mut o = ConsumeOptions::new(r.kafka.clone());
    o.idle_timeout = idle
        .map(|s| parse_duration_us(s, 1e6).map_err(anyhow::Error::msg))
        .transpose()
        .context("--idle-timeout")?
        .map(Duration::from_micros);
    Ok(o)
}

fn run_consume(a: ConsumeArgs) -> Result<i32> {
    if !a.ordered {
        bail!("only ordered consumption is supported (--ordered)");
    }
    let r = a.common.resolve()?;
    let mut o = consume_options(&r, a.idle_timeout.as_deref())?;
    o.group = a.group.clone();
    o.follow = a.follow;
    o.prefetch_kbytes_per_partition = a.prefetch_kbytes;
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("--out {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let stop = ctrl_c_flag();
    let mut consumer = OrderedConsumer::new(o)?;
    // `{"topic":"<name>"` per table, encoded once.
    let topic_json = [&r.kafka.job_topic, &r.kafka.task_topic].map(|t| {
        let mut v = b"{\"topic\":".to_vec();
        serde_json::to_writer(&mut v, t).expect("writing to a Vec");
        v
    });
    let mut n = 0u64;
    let mut line = Vec::with_capacity(1024);
    // Release lag (send time -> release), in ms buckets: constant memory.
    let mut lag_ms = vec![0u64; 10_001];
    let mut now_ms = 0i64;
    while a.limit.is_none_or(|l| n < l) && !stop.load(Ordering::Relaxed) {
        let Some(ev) = consumer.next().transpose()? else {
            break;
        };
        line.clear();
        line.extend_from_slice(&topic_json[ev.table as usize]);
        let mut num = itoa::Buffer::new();
        line.extend_from_slice(b",\"partition\":");
        line.extend_from_slice(num.format(ev.partition).as_bytes());
        line.extend_from_slice(b",\"offset\":");
        line.extend_from_slice(num.format(ev.offset).as_bytes());
        line.extend_from_slice(b",\"seq\":");
        line.extend_from_slice(num.format(ev.seq).as_bytes());
        line.extend_from_slice(b",\"time\":");
        line.extend_from_slice(num.format(ev.time).as_bytes());
        line.extend_from_slice(b",\"event\":");
        line.extend_from_slice(&ev.value);
        line.extend_from_slice(b"}\n");
        out.write_all(&line)?;
        n += 1;
        if let Some(ts) = ev.timestamp_ms {
            // A clock read per 64 events: millisecond buckets do not need more.
            if n % 64 == 1 {
                now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
            }
            lag_ms[(now_ms - ts).clamp(0, 10_000) as usize] += 1;
        }
    }
    out.flush()?;
    consumer.commit(rdkafka::consumer::CommitMode::Sync)?;
    let pct = |q: f64| {
        let target = (n as f64 * q).ceil() as u64;
        let mut acc = 0;
        lag_ms.iter().position(|c| {
            acc += c;
            acc >= target.max(1)
        })
    };
    eprintln!(
        "consumed {n} events in order ({} duplicates dropped); release lag since send: p50 {} ms, p99 {} ms",
        consumer.dropped_duplicates(),
        pct(0.5).map_or("-".into(), |v| v.to_string()),
        pct(0.99).map_or("-".into(), |v| v.to_string()),
    );
    Ok(0)
}

fn run_verify(a: VerifyArgs) -> Result<i32> {
    a.common.require_trace()?;
    let r = a.common.resolve()?;
    let files = r.source.open()?;
    let mut consumer = OrderedConsumer::new(consume_options(&r, Some(&a.idle_timeout))?)?;
    match verify(files, &mut consumer)? {
        VerifyOutcome::Ok { events } => {
            println!("OK: {events} events in exact global order");
            Ok(0)
        }
        VerifyOutcome::Diverged(d) => {
            println!("DIVERGENCE at position {}", d.position);
            println!("  expected: {}", d.expected);
            println!("  got:      {}", d.got);
            Ok(1)
        }
    }
}

fn run_aggregate(a: AggregateArgs) -> Result<i32> {
    let r = a.common.resolve()?;
    let window_us = parse_duration_us(&a.window, 1.0)
        .map_err(anyhow::Error::msg)
        .context("--window")?;
    if window_us == 0 {
        bail!("--window must be positive (e.g. 1m)");
    }
    let hold = parse_duration_us(&a.hold, 1e6)
        .map_err(anyhow::Error::msg)
        .context("--hold")?;
    let source = if a.from_files {
        a.common.require_trace()?;
        Source::Files(r.source.clone())
    } else {
        let mut o = consume_options(&r, a.idle_timeout.as_deref())?;
        o.group = a.group.clone();
        o.follow = a.follow;
        o.prefetch_kbytes_per_partition = a.prefetch_kbytes;
        Source::Kafka(Box::new(o))
    };
    let out: Option<Box<dyn Write>> = match &a.out {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(BufWriter::new(std::io::stdout()))),
        Some(p) => Some(Box::new(BufWriter::with_capacity(
            1 << 20,
            File::create(p).with_context(|| format!("--out {}: cannot create", p.display()))?,
        ))),
    };
    let opts = AggregateOptions {
        source,
        window_us,
        metrics_addr: (!a.no_metrics).then(|| a.metrics_addr.clone()),
        pushgateway: a.pushgateway.clone(),
        push_job: "tracepipe_aggregate".into(),
        hold: Duration::from_micros(hold),
    };
    let s = aggregate::run(opts, out, ctrl_c_flag())?;
    eprintln!(
        "aggregated {} events into {} windows ({} lines) in {:.2} s: {:.0} events/s; {} after-the-end events; {} machines, {} live tasks at the end",
        s.events, s.windows, s.lines, s.wall_seconds, s.events_per_second, s.after_end_events, s.machines, s.live_tasks
    );
    if let Some(path) = &a.summary_json {
        std::fs::write(path, serde_json::to_vec_pretty(&s)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}

fn run_generate(a: GenerateArgs) -> Result<i32> {
    let opts = GenerateOptions {
        out_dir: a.out.clone(),
        seed: a.seed,
        jobs: a.jobs,
        tasks_per_job: a.tasks_per_job,
        machines: a.machines,
        parts: a.parts,
        duration_us: parse_duration_us(&a.duration, 1.0)
            .map_err(anyhow::Error::msg)
            .context("--duration")?,
        all_end: !a.open_ended,
        ..GenerateOptions::default()
    };
    let s = generate(&opts)?;
    println!(
        "generated {} job rows and {} task rows ({} jobs, {} tasks) in {} parts per table under {}",
        s.job_rows,
        s.task_rows,
        s.jobs,
        s.tasks,
        s.parts,
        a.out.display()
    );
    Ok(0)
}

pub fn run() -> Result<i32> {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(a) => run_replay(a),
        Command::Consume(a) => run_consume(a),
        Command::Verify(a) => run_verify(a),
        Command::Aggregate(a) => run_aggregate(a),
        Command::Generate(a) => run_generate(a),
        Command::Report(a) => run_report(a),
    }
}
