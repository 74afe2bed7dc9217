//! `tracepipe aggregate`: a source of ordered events (Kafka or the files, through the same
//! merge) -> the window aggregator -> JSON Lines and Prometheus metrics.

use crate::consume::{ConsumeError, ConsumeOptions, LeanRecord, OrderedConsumer, OrderedEvent};
use crate::merge::TraceSource;
use crate::metrics::window_metrics::WindowMetrics;
use crate::metrics::{MetricsError, MetricsServer};
use crate::trace::{Event, TraceError};
use crate::window::{Aggregator, ClosedWindow, WindowError, WindowSink};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
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
    #[error("writing windows")]
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

impl AggregateSummary {
    /// The line printed at the end.
    pub fn report(&self) -> String {
        format!(
            "aggregated {} events into {} windows ({} lines) in {:.2} s: {:.0} events/s; {} after-the-end events; {} machines, {} live tasks at the end",
            self.events,
            self.windows,
            self.lines,
            self.wall_seconds,
            self.events_per_second,
            self.after_end_events,
            self.machines,
            self.live_tasks
        )
    }
}

/// Release lag: now minus the replayer's send time of the last event.
fn lag_of(ts_ms: Option<i64>) -> Option<f64> {
    ts_ms.map(|ts| (now_ms() - ts).max(0) as f64 / 1e3)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Reader stage: ordered events in batches (a channel message per event costs more than
/// the aggregation of the event). Commits the consumer group at the end.
fn read_batches(
    opts: ConsumeOptions,
    tx: std::sync::mpsc::SyncSender<Result<Vec<OrderedEvent<LeanRecord>>, ConsumeError>>,
    stop: Arc<AtomicBool>,
) -> Result<(), ConsumeError> {
    // Records are decoded on this thread as they are read (no copy of the JSON value).
    let mut consumer = match OrderedConsumer::<LeanRecord>::with_payload(opts) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Err(e));
            return Ok(());
        }
    };
    let mut batch = Vec::with_capacity(1024);
    loop {
        // Hand over a partial batch when the stream pauses, so that windows stay live.
        let next = if batch.is_empty() {
            consumer.next()
        } else {
            consumer.next_ready()
        };
        match next {
            Some(Ok(ev)) => {
                batch.push(ev);
                if batch.len() < 1024 {
                    continue;
                }
            }
            Some(Err(e)) => {
                let _ = tx.send(Err(e));
                return Ok(());
            }
            None if batch.is_empty() => break,
            None => {}
        }
        if tx.send(Ok(std::mem::take(&mut batch))).is_err() || stop.load(Ordering::Relaxed) {
            break;
        }
        batch.reserve(1024);
    }
    drop(tx);
    consumer.commit(rdkafka::consumer::CommitMode::Sync)
}

/// How often the metrics follow the aggregator at most.
const SYNC_EVERY: Duration = Duration::from_millis(250);

/// Runs the aggregation until the source ends (or `stop` is set).
pub fn run(
    opts: AggregateOptions,
    out: Option<Box<dyn WindowSink>>,
    stop: Arc<AtomicBool>,
) -> Result<AggregateSummary, AggregateError> {
    let started = Instant::now();
    let mut agg = Aggregator::new(opts.window_us)?;
    // No exposition asked for: no metrics work on the hot path.
    let metrics =
        (opts.metrics_addr.is_some() || opts.pushgateway.is_some()).then(WindowMetrics::new);
    let server = match &opts.metrics_addr {
        Some(a) => Some(MetricsServer::start(
            a,
            metrics
                .as_ref()
                .expect("created with an address")
                .registry
                .clone(),
        )?),
        None => None,
    };
    let mut writer = out;
    let mut io_error: Option<std::io::Error> = None;
    let mut last_sync = Instant::now();
    let mut last_push = Instant::now();
    // Kafka timestamp of the last event; the lag is computed from it when metrics sync
    // (a clock read per event is measurable at a million events/s).
    let mut last_ts: Option<i64> = None;
    let mut n: u64 = 0;

    let mut emit = |w: &ClosedWindow| {
        if let Some(m) = &metrics {
            m.window_closed(w);
        }
        if let Some(wr) = writer.as_mut() {
            if let Err(e) = wr.write(w) {
                io_error.get_or_insert(e);
            }
        }
    };

    // Metrics follow the aggregator at most every 250 ms: checked every 4096 events from
    // files, and after every batch from Kafka; when the stream pauses, 250 ms after its last
    // batch (so a live aggregator's metrics are exact while it waits).
    let mut sync = |agg: &Aggregator,
                    last_ts: Option<i64>,
                    force: bool|
     -> Result<bool, AggregateError> {
        if !force && last_sync.elapsed() < SYNC_EVERY {
            return Ok(false);
        }
        last_sync = Instant::now();
        if let Some(m) = &metrics {
            m.sync(agg, lag_of(last_ts));
            if let Some(url) = &opts.pushgateway {
                if last_push.elapsed() >= Duration::from_secs(10) {
                    last_push = Instant::now();
                    crate::metrics::push(url, &opts.push_job, &m.registry.lock().expect("lock"))?;
                }
            }
        }
        Ok(true)
    };

    match opts.source {
        Source::Files(src) => {
            for event in src.open_read_ahead()? {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                agg.push(&event?, &mut emit)?;
                n += 1;
                if n.is_multiple_of(4096) {
                    sync(&agg, None, false)?;
                }
            }
        }
        Source::Kafka(mut copts) => {
            // Two stages on two cores: this thread decodes and aggregates while a reader
            // thread polls, reorders and hands over batches of released events.
            let (tx, rx) = std::sync::mpsc::sync_channel::<
                Result<Vec<OrderedEvent<LeanRecord>>, ConsumeError>,
            >(8);
            let reader_stop = Arc::clone(&stop);
            copts.stop = Some(Arc::clone(&stop));
            let reader = std::thread::Builder::new()
                .name("ordered-reader".into())
                .spawn(move || read_batches(*copts, tx, reader_stop))
                .expect("spawning a thread");
            // Events applied since the metrics last followed.
            let mut behind = false;
            loop {
                match rx.recv_timeout(SYNC_EVERY) {
                    Ok(batch) => {
                        for ev in batch? {
                            last_ts = ev.timestamp_ms.or(last_ts);
                            let event = Event {
                                seq: ev.seq,
                                record: ev.value.0,
                            };
                            agg.push(&event, &mut emit)?;
                        }
                        behind = !sync(&agg, last_ts, false)?;
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if behind {
                            sync(&agg, last_ts, true)?;
                            behind = false;
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            reader.join().expect("reader thread")?;
        }
    }
    agg.finish(&mut emit);
    if let Some(m) = &metrics {
        m.sync(&agg, lag_of(last_ts));
    }
    if let Some(e) = io_error {
        return Err(AggregateError::Output(e));
    }
    let lines = match writer.as_mut() {
        Some(w) => {
            w.finish().map_err(AggregateError::Output)?;
            w.lines()
        }
        None => 0,
    };
    if let (Some(url), Some(m)) = (&opts.pushgateway, &metrics) {
        crate::metrics::push(url, &opts.push_job, &m.registry.lock().expect("lock"))?;
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
