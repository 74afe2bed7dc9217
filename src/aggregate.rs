//! `tracepipe aggregate`: a source of ordered events (Kafka or the files, through the same
//! merge) -> the window aggregator -> JSON Lines and Prometheus metrics.

use crate::consume::{ConsumeError, ConsumeOptions, OrderedConsumer};
use crate::merge::TraceSource;
use crate::metrics::window_metrics::WindowMetrics;
use crate::metrics::{MetricsError, MetricsServer};
use crate::trace::{Event, TraceError};
use crate::window::{Aggregator, ClosedWindow, JsonLinesWriter, WindowError};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Consume(#[from] ConsumeError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("{topic}/{partition} offset {offset}: {message}")]
    Decode {
        topic: String,
        partition: i32,
        offset: i64,
        message: String,
    },
    #[error("writing windows: {0}")]
    Output(#[source] std::io::Error),
}

/// Where the events come from.
pub enum Source {
    Files(TraceSource),
    Kafka(Box<ConsumeOptions>),
}

pub struct AggregateOptions {
    pub source: Source,
    pub window_us: u64,
    pub metrics_addr: Option<String>,
    pub pushgateway: Option<String>,
    /// Pushgateway job name.
    pub push_job: String,
    /// Keep serving /metrics this long after the end of the stream.
    pub hold: Duration,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AggregateSummary {
    pub events: u64,
    pub windows: u64,
    pub lines: u64,
    pub after_end_events: u64,
    pub machines: usize,
    pub live_tasks: usize,
    pub wall_seconds: f64,
    pub events_per_second: f64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs the aggregation until the source ends (or `stop` is set).
pub fn run<W: Write>(
    opts: AggregateOptions,
    out: Option<W>,
    stop: Arc<AtomicBool>,
) -> Result<AggregateSummary, AggregateError> {
    let started = Instant::now();
    let mut agg = Aggregator::new(opts.window_us)?;
    let metrics = WindowMetrics::new();
    let server = match &opts.metrics_addr {
        Some(a) => Some(MetricsServer::start(a, metrics.registry.clone())?),
        None => None,
    };
    let mut writer = out.map(JsonLinesWriter::new);
    let mut io_error: Option<std::io::Error> = None;
    let mut last_sync = Instant::now();
    let mut last_push = Instant::now();
    let mut lag: Option<f64> = None;
    let mut n: u64 = 0;

    let mut emit = |w: &ClosedWindow| {
        metrics.window_closed(w);
        if let Some(wr) = writer.as_mut() {
            if let Err(e) = wr.write(w) {
                io_error.get_or_insert(e);
            }
        }
    };

    let mut step = |event: &Event,
                    agg: &mut Aggregator,
                    lag: Option<f64>,
                    emit: &mut dyn FnMut(&ClosedWindow)|
     -> Result<(), AggregateError> {
        agg.push(event, emit)?;
        n += 1;
        if n.is_multiple_of(4096) && last_sync.elapsed() >= Duration::from_millis(250) {
            last_sync = Instant::now();
            metrics.sync(agg, lag);
            if let Some(url) = &opts.pushgateway {
                if last_push.elapsed() >= Duration::from_secs(10) {
                    last_push = Instant::now();
                    crate::metrics::push(
                        url,
                        &opts.push_job,
                        &metrics.registry.lock().expect("lock"),
                    )?;
                }
            }
        }
        Ok(())
    };

    match opts.source {
        Source::Files(src) => {
            for event in src.open()? {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                step(&event?, &mut agg, None, &mut emit)?;
            }
        }
        Source::Kafka(copts) => {
            let topics = [
                copts.kafka.job_topic.clone(),
                copts.kafka.task_topic.clone(),
            ];
            let mut consumer = OrderedConsumer::new(*copts)?;
            while let Some(ev) = consumer.next().transpose()? {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let record = ev.record().map_err(|e| AggregateError::Decode {
                    topic: topics[ev.table as usize].clone(),
                    partition: ev.partition,
                    offset: ev.offset,
                    message: e.to_string(),
                })?;
                if let Some(ts) = ev.timestamp_ms {
                    lag = Some((now_ms() - ts).max(0) as f64 / 1e3);
                }
                step(
                    &Event {
                        seq: ev.seq,
                        record,
                    },
                    &mut agg,
                    lag,
                    &mut emit,
                )?;
            }
            consumer.commit(rdkafka::consumer::CommitMode::Sync)?;
        }
    }
    agg.finish(&mut emit);
    metrics.sync(&agg, lag);
    if let Some(e) = io_error {
        return Err(AggregateError::Output(e));
    }
    let lines = match writer.as_mut() {
        Some(w) => {
            w.flush().map_err(AggregateError::Output)?;
            w.lines()
        }
        None => 0,
    };
    if let Some(url) = &opts.pushgateway {
        crate::metrics::push(url, &opts.push_job, &metrics.registry.lock().expect("lock"))?;
    }
    let wall = started.elapsed().as_secs_f64();
    let summary = AggregateSummary {
        events: agg.events(),
        windows: agg.windows_closed(),
        lines,
        after_end_events: agg.after_end_events(),
        machines: agg.machine_count(),
        live_tasks: agg.live_tasks(),
        wall_seconds: wall,
        events_per_second: agg.events() as f64 / wall.max(1e-9),
    };
    if server.is_some() && !opts.hold.is_zero() {
        let until = Instant::now() + opts.hold;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(server);
    Ok(summary)
}
