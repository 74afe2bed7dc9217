//! Stage 4: replaying the ordered stream into Kafka.
//!
//! Events go out in global (time, seq) order with an idempotent producer, so each partition
//! holds its share of the stream in order. Between data records the replayer writes progress
//! marks (see [`crate::wire`]) so that an ordered consumer never waits on an idle partition.

mod producer;
mod progress;

use crate::config::{KafkaSettings, ProducerTuning};
use crate::kafka::KafkaSetupError;
use crate::merge::TraceSource;
use crate::trace::{is_after_end, SkipCounts, Table, TraceError};
use crate::wire::{self, Mark, MarkKind};
use producer::{Producer, Target};
pub use progress::ProgressMode;
use rdkafka::error::KafkaError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    #[error("creating the Kafka client")]
    Client(#[source] Box<KafkaError>),
    #[error("producing to {topic}/{partition}")]
    Produce {
        topic: String,
        partition: i32,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("flushing the producer")]
    Flush(#[source] Box<KafkaError>),
    #[error(
        "{count} record(s) could not be delivered; first: topic {topic} partition {partition}"
    )]
    Delivery {
        count: u64,
        topic: String,
        partition: i32,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("--resume: {topic}/{partition}: {doing}")]
    Resume {
        topic: String,
        partition: i32,
        doing: &'static str,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("--resume: {topic}/{partition}: timed out reading offset {offset}")]
    ResumeTimeout {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error("{option}: {message}")]
    Invalid {
        option: &'static str,
        message: String,
    },
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("interrupted after {sent} events (resume with --resume)")]
    Interrupted { sent: u64 },
}

impl ReplayError {
    fn resume(topic: &str, partition: i32, doing: &'static str, source: KafkaError) -> Self {
        ReplayError::Resume {
            topic: topic.to_owned(),
            partition,
            doing,
            source: Box::new(source),
        }
    }
}

/// Everything `tracepipe replay` needs.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub source: TraceSource,
    pub kafka: KafkaSettings,
    pub tuning: ProducerTuning,
    /// Trace time runs this many times faster than wall time; None: as fast as possible.
    pub speed: Option<f64>,
    /// Trace time units per second (1e6: microseconds).
    pub time_scale: f64,
    /// Stop after this much wall time (then write end-of-stream marks).
    pub duration: Option<Duration>,
    /// A partition that received nothing for this long gets a watermark.
    pub watermark_interval: Duration,
    /// Continue after the last seq already in the topics.
    pub resume: bool,
    pub progress: ProgressMode,
    /// Serve the replayer's `/metrics` here.
    pub metrics_addr: Option<String>,
    /// Also push the metrics to this Pushgateway (every few seconds and at the end): a fast
    /// replay may end before Prometheus scrapes it.
    pub pushgateway: Option<String>,
}

impl ReplayOptions {
    pub fn new(source: TraceSource, kafka: KafkaSettings) -> Self {
        ReplayOptions {
            source,
            kafka,
            tuning: ProducerTuning::default(),
            speed: None,
            time_scale: 1e6,
            duration: None,
            watermark_interval: Duration::from_millis(100),
            resume: false,
            progress: ProgressMode::Quiet,
            metrics_addr: None,
            pushgateway: None,
        }
    }

    /// Rejects settings that would make pacing meaningless, before anything is read or sent.
    pub fn validate(&self) -> Result<(), ReplayError> {
        let invalid = |option, message| Err(ReplayError::Invalid { option, message });
        if let Some(s) = self.speed {
            if !(s.is_finite() && s > 0.0) {
                return invalid("--speed", format!("must be a positive number, got {s}"));
            }
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return invalid(
                "time_scaling_factor",
                format!("must be positive, got {}", self.time_scale),
            );
        }
        if self.watermark_interval.is_zero() {
            return invalid("--watermark-interval", "must be positive".into());
        }
        Ok(())
    }
}

/// What a replay did; printed at the end and written by `--summary-json`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplaySummary {
    pub events: u64,
    pub job_events: u64,
    pub task_events: u64,
    pub machine_events: u64,
    pub job_topic: String,
    pub task_topic: String,
    /// `None` when the replay read no machines (no machine topic written).
    pub machine_topic: Option<String>,
    pub marks: u64,
    /// First seq written by this run (> 0 after `--resume`).
    pub first_seq: u64,
    /// Seq the next event would get: the stream's length.
    pub next_seq: u64,
    pub first_time: Option<u64>,
    pub last_time: Option<u64>,
    pub skipped_rows: u64,
    pub skipped_by_reason: std::collections::BTreeMap<String, u64>,
    /// Rows outside `--from`/`--to`.
    pub filtered_out: u64,
    pub stopped_by_duration: bool,
    /// `--resume`: how long finding the resume point took (reading every partition's tail).
    pub resume_seconds: Option<f64>,
    pub wall_seconds: f64,
    pub events_per_second: f64,
}

impl ReplaySummary {
    /// The lines printed at the end of a replay.
    pub fn report(&self) -> String {
        let machines = match &self.machine_topic {
            Some(topic) => format!(", {} to {topic}", self.machine_events),
            None => String::new(),
        };
        let mut out = format!(
            "replayed {} events ({} to {}, {} to {}{machines}) in {:.2} s: {:.0} events/s; seq {}..{}; {} marks",
            self.events,
            self.job_events,
            self.job_topic,
            self.task_events,
            self.task_topic,
            self.wall_seconds,
            self.events_per_second,
            self.first_seq,
            self.next_seq,
            self.marks
        );
        if self.skipped_rows > 0 {
            let reasons: Vec<String> = self
                .skipped_by_reason
                .iter()
                .map(|(r, n)| format!("{r}: {n}"))
                .collect();
            out += &format!(
                "\nskipped {} bad rows ({})",
                self.skipped_rows,
                reasons.join(", ")
            );
        }
        if let Some(s) = self.resume_seconds {
            out += &format!("\nresumed at seq {} (found in {s:.2} s)", self.first_seq);
        }
        if self.stopped_by_duration {
            out += "\nstopped after the --duration limit";
        }
        out
    }

    fn set_skipped(&mut self, skipped: &SkipCounts) {
        self.skipped_rows = skipped.total();
        self.skipped_by_reason = skipped.iter().map(|(r, n)| (r.to_string(), n)).collect();
    }
}

/// Per-partition state for progress marks.
#[derive(Clone, Copy)]
struct PartState {
    /// Every later record here has seq >= bound (what the last record or mark promised).
    bound: u64,
    last_write: Instant,
}

/// Replays the trace. `stop` (e.g. set by Ctrl-C) ends it early without end marks.
pub fn run(opts: &ReplayOptions, stop: Arc<AtomicBool>) -> Result<ReplaySummary, ReplayError> {
    opts.validate()?;
    let started = Instant::now();
    let mut stream = opts.source.open()?;
    let producer = Producer::connect(opts)?;
    let resume_started = Instant::now();
    let start_seq = if opts.resume {
        // The machine topic's count is 0 when the replay has no machine table.
        let [jobs, tasks, machines] = producer.partitions();
        producer::find_resume_seq(
            &opts.kafka,
            &[
                (opts.kafka.job_topic.as_str(), jobs),
                (opts.kafka.task_topic.as_str(), tasks),
                (opts.kafka.machine_topic.as_str(), machines),
            ],
        )?
    } else {
        0
    };
    let metrics = producer::ReplayMetrics::new(&opts.kafka);
    let _server = match &opts.metrics_addr {
        Some(addr) => Some(crate::metrics::MetricsServer::start(
            addr,
            metrics.registry.clone(),
        )?),
        None => None,
    };
    let mut progress = progress::Progress::new(opts.progress);
    let mut summary = ReplaySummary {
        job_topic: opts.kafka.job_topic.clone(),
        task_topic: opts.kafka.task_topic.clone(),
        machine_topic: opts
            .source
            .machines
            .as_ref()
            .map(|_| opts.kafka.machine_topic.clone()),
        first_seq: start_seq,
        resume_seconds: opts.resume.then(|| resume_started.elapsed().as_secs_f64()),
        ..Default::default()
    };

    let now = Instant::now();
    let mut parts: [Vec<PartState>; 3] = [0, 1, 2].map(|t| {
        vec![
            PartState {
                bound: start_seq,
                last_write: now,
            };
            producer.partitions()[t] as usize
        ]
    });
    let mut value = Vec::with_capacity(512);
    let mut key = itoa::Buffer::new();
    let mut next_seq: u64 = 0;
    let mut last_time: u64 = 0;
    let mut anchor: Option<(Instant, u64)> = None;
    let mut since_check: u32 = 0;
    // Refreshed every few thousand events: an exact clock per event is not needed for marks.
    let mut coarse_now = Instant::now();
    let interval = opts.watermark_interval;

    // Writes watermarks to partitions that are behind `next_seq` (and idle for `min_idle`).
    let write_marks = |producer: &Producer,
                       parts: &mut [Vec<PartState>; 3],
                       next_seq: u64,
                       time: u64,
                       min_idle: Duration,
                       value: &mut Vec<u8>|
     -> Result<u64, ReplayError> {
        let now = Instant::now();
        let mark = Mark {
            kind: MarkKind::Watermark,
            time,
            next_seq,
        };
        mark.encode(value);
        let mut n = 0;
        for (t, states) in parts.iter_mut().enumerate() {
            for (p, st) in states.iter_mut().enumerate() {
                if st.bound < next_seq && now.duration_since(st.last_write) >= min_idle {
                    producer.send_mark(t, p as i32, MarkKind::Watermark, value)?;
                    st.bound = next_seq;
                    st.last_write = now;
                    n += 1;
                }
            }
        }
        Ok(n)
    };

    while let Some(event) = stream.next() {
        let event = event?;
        let time = event.record.time();
        let seq = event.seq;
        if seq < start_seq {
            next_seq = seq + 1;
            continue;
        }
        if stop.load(Ordering::Relaxed) {
            producer.flush()?;
            return Err(ReplayError::Interrupted {
                sent: summary.events,
            });
        }

        // Pacing: time 0 (the initial state) and after-the-end events never wait.
        if let Some(speed) = opts.speed {
            if time > 0 && !is_after_end(time) {
                let (wall0, trace0) = *anchor.get_or_insert((Instant::now(), time));
                let offset = (time - trace0) as f64 / opts.time_scale / speed;
                let target = wall0 + Duration::from_secs_f64(offset);
                let mut now = Instant::now();
                if target > now + Duration::from_millis(1) {
                    // Before a pause, partitions behind the stream learn where it stands, so
                    // consumers need not wait for the pause to end. Pauses shorter than the
                    // watermark interval are left to the idle timer: at a high speed there is
                    // a pause between most events, and marking every one would write more
                    // marks than data. Either way a partition waits at most one interval.
                    let min_idle = if target - now >= interval {
                        Duration::ZERO
                    } else {
                        interval
                    };
                    summary.marks +=
                        write_marks(&producer, &mut parts, seq, last_time, min_idle, &mut value)?;
                    while target > now {
                        producer.poll(Duration::ZERO)?;
                        std::thread::sleep((target - now).min(interval));
                        summary.marks += write_marks(
                            &producer, &mut parts, seq, last_time, interval, &mut value,
                        )?;
                        metrics.update_from(&producer, &summary, last_time);
                        if out_of_time(opts, started) || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        now = Instant::now();
                    }
                }
            }
        }
        if out_of_time(opts, started) {
            summary.stopped_by_duration = true;
            break;
        }

        let table = event.record.table();
        let t = table.index();
        let k = key.format(event.record.key_id()).as_bytes();
        let partition = wire::partition_for_key(k, producer.partitions()[t]);
        wire::encode_record(&event.record, &mut value);
        producer.send_data(
            Target {
                table: t,
                partition,
            },
            k,
            &value,
            seq,
            time,
        )?;
        next_seq = seq + 1;
        let st = &mut parts[t][partition as usize];
        st.bound = next_seq;
        st.last_write = coarse_now;
        summary.events += 1;
        match table {
            Table::Job => summary.job_events += 1,
            Table::Task => summary.task_events += 1,
            Table::Machine => summary.machine_events += 1,
        }
        summary.first_time.get_or_insert(time);
        last_time = time;

        since_check += 1;
        if since_check >= 4096 || opts.speed.is_some() {
            since_check = 0;
            coarse_now = Instant::now();
        }
        if since_check == 0 {
            producer.poll(Duration::ZERO)?;
            summary.marks +=
                write_marks(&producer, &mut parts, next_seq, time, interval, &mut value)?;
            metrics.update_from(&producer, &summary, time);
            progress.update(summary.events, time, stream.progress());
        }
    }

    // End of stream: every partition of every topic learns the final seq. Flushing first
    // makes the end marks the last records anywhere (Spark uses their time as event time).
    producer.flush()?;
    let end = Mark {
        kind: MarkKind::End,
        time: last_time,
        next_seq,
    };
    end.encode(&mut value);
    for (t, states) in parts.iter().enumerate() {
        for p in 0..states.len() {
            producer.send_mark(t, p as i32, MarkKind::End, &value)?;
            summary.marks += 1;
        }
    }
    producer.flush()?;
    metrics.update_from(&producer, &summary, last_time);
    progress.finish();
    if let Some(url) = &opts.pushgateway {
        crate::metrics::push(
            url,
            "tracepipe_replay",
            &metrics.registry.lock().expect("lock"),
        )?;
    }

    summary.set_skipped(&stream.skipped());
    summary.filtered_out = stream.filtered_out();
    summary.next_seq = next_seq;
    summary.last_time = summary.first_time.map(|_| last_time);
    summary.wall_seconds = started.elapsed().as_secs_f64();
    summary.events_per_second = summary.events as f64 / summary.wall_seconds.max(1e-9);
    Ok(summary)
}

fn out_of_time(opts: &ReplayOptions, started: Instant) -> bool {
    opts.duration.is_some_and(|d| started.elapsed() >= d)
}
