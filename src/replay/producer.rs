//! The Kafka side of the replay: an idempotent librdkafka producer with explicit partitions.

use super::{ReplayError, ReplayOptions};
use crate::config::KafkaSettings;
use crate::kafka;
use crate::metrics::SharedRegistry;
use crate::wire::{self, MarkKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a record goes: table index (0 job, 1 task) and partition.
pub struct Target {
    pub table: usize,
    pub partition: i32,
}

/// Counts delivery outcomes; librdkafka calls it from `poll`.
#[derive(Default)]
pub struct DeliveryContext {
    failed: AtomicU64,
    first_failure: Mutex<Option<(String, i32, KafkaError)>>,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        kafka::log::on_log(level, fac, message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        kafka::log::on_error(&error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {}
            Err((e, msg)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_failure.lock().expect("lock");
                if first.is_none() {
                    *first = Some((msg.topic().to_owned(), msg.partition(), e.clone()));
                }
            }
        }
    }
}

pub struct Producer {
    inner: BaseProducer<DeliveryContext>,
    /// Indexed by [`crate::trace::Table::index`]: job, task, machine.
    topics: [String; 3],
    /// 0 partitions for the machine topic when the replay reads no machines.
    partitions: [i32; 3],
    produced: std::cell::Cell<u64>,
}

impl Producer {
    /// Connects (failing fast when the broker is unreachable) and creates missing topics.
    pub fn connect(opts: &ReplayOptions) -> Result<Producer, ReplayError> {
        let (jobs, tasks) = kafka::ensure_topics(&opts.kafka)?;
        // The machine topic exists only for replays that read machines: without them the
        // replay is exactly the two-table one.
        let machines = match opts.source.machines {
            Some(_) => kafka::ensure_named_topics(&opts.kafka, &[&opts.kafka.machine_topic])?[0],
            None => 0,
        };
        let mut cfg = opts.kafka.client_config("tracepipe-replay");
        opts.tuning.apply(&mut cfg);
        cfg.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("queue.buffering.max.messages", "1000000")
            // Delivery reports for every record, not only failures: librdkafka then hands
            // each delivered message back to this thread (at `poll`) and frees it here, where
            // the allocator's free is local. With only error reports its broker thread freed
            // them, and the cross-thread frees cost a sixth of the replay's CPU (BENCHMARKS.md).
            .set("delivery.report.only.error", "false");
        let inner: BaseProducer<DeliveryContext> = cfg
            .create_with_context(DeliveryContext::default())
            .map_err(|e| ReplayError::Client(Box::new(e)))?;
        Ok(Producer {
            inner,
            topics: [
                opts.kafka.job_topic.clone(),
                opts.kafka.task_topic.clone(),
                opts.kafka.machine_topic.clone(),
            ],
            partitions: [jobs, tasks, machines],
            produced: std::cell::Cell::new(0),
        })
    }

    pub fn partitions(&self) -> [i32; 3] {
        self.partitions
    }

    fn send(
        &self,
        target: &Target,
        key: Option<&[u8]>,
        value: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), ReplayError> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topics[target.table])
            .partition(target.partition)
            .payload(value)
            .headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        loop {
            match self.inner.send(record) {
                Ok(()) => {
                    self.produced.set(self.produced.get() + 1);
                    return Ok(());
                }
                // The local queue is full: the broker is the bottleneck. Wait for deliveries.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    self.poll(Duration::from_millis(5))?;
                }
                Err((source, _)) => {
                    return Err(ReplayError::Produce {
                        topic: self.topics[target.table].clone(),
                        partition: target.partition,
                        source: Box::new(source),
                    })
                }
            }
        }
    }

    pub fn send_data(
        &self,
        target: Target,
        key: &[u8],
        value: &[u8],
        seq: u64,
        time: u64,
    ) -> Result<(), ReplayError> {
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: wire::HEADER_SEQ,
                value: Some(itoa::Buffer::new().format(seq)),
            })
            .insert(Header {
                key: wire::HEADER_TIME,
                value: Some(itoa::Buffer::new().format(time)),
            });
        self.send(&target, Some(key), value, headers)
    }

    pub fn send_mark(
        &self,
        table: usize,
        partition: i32,
        kind: MarkKind,
        value: &[u8],
    ) -> Result<(), ReplayError> {
        let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
            key: wire::HEADER_MARK,
            value: Some(kind.name()),
        });
        self.send(&Target { table, partition }, None, value, headers)
    }

    /// Serves delivery reports; fails as soon as a record could not be delivered.
    pub fn poll(&self, timeout: Duration) -> Result<(), ReplayError> {
        self.inner.poll(timeout);
        self.check()
    }

    fn check(&self) -> Result<(), ReplayError> {
        let ctx = self.inner.context();
        let failed = ctx.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let (topic, partition, source) = ctx
                .first_failure
                .lock()
                .expect("lock")
                .clone()
                .expect("a failure count comes with its first failure");
            return Err(ReplayError::Delivery {
                count: failed,
                topic,
                partition,
                source: Box::new(source),
            });
        }
        Ok(())
    }

    /// Waits until every record is delivered (or failed).
    pub fn flush(&self) -> Result<(), ReplayError> {
        loop {
            match self.inner.flush(Duration::from_secs(1)) {
                Ok(()) => break,
                Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {
                    self.check()?;
                }
                Err(e) => return Err(ReplayError::Flush(Box::new(e))),
            }
        }
        self.check()
    }

    pub fn in_flight(&self) -> i32 {
        self.inner.in_flight_count()
    }

    /// Records acknowledged by the broker.
    pub fn delivered(&self) -> u64 {
        let failed = self.inner.context().failed.load(Ordering::Relaxed);
        self.produced
            .get()
            .saturating_sub(self.in_flight().max(0) as u64 + failed)
    }
}

/// The replayer's own metrics (served on `--metrics-addr`).
pub struct ReplayMetrics {
    pub registry: SharedRegistry,
    sent: Family<TopicLabel, Counter>,
    delivered_total: Counter,
    errors: Counter,
    marks: Counter,
    queue_depth: Gauge,
    trace_time: Gauge<f64, AtomicU64>,
    trace_unix: Gauge<f64, AtomicU64>,
    topics: [String; 3],
    last: Mutex<(u64, u64, u64)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabel {
    topic: String,
}

impl ReplayMetrics {
    pub fn new(kafka: &KafkaSettings) -> Self {
        let mut r = Registry::with_prefix("tracepipe_replay");
        let sent = Family::<TopicLabel, Counter>::default();
        r.register(
            "events_sent",
            "Data records handed to the producer",
            sent.clone(),
        );
        let delivered_total = Counter::default();
        r.register(
            "records_delivered",
            "Records (data and marks) acknowledged by the broker",
            delivered_total.clone(),
        );
        let errors = Counter::default();
        r.register(
            "delivery_errors",
            "Records the broker did not accept",
            errors.clone(),
        );
        let marks = Counter::default();
        r.register(
            "marks_sent",
            "Watermark and end-of-stream marks written",
            marks.clone(),
        );
        let queue_depth = Gauge::default();
        r.register(
            "queue_depth",
            "Records waiting in the producer queue",
            queue_depth.clone(),
        );
        let trace_time = Gauge::<f64, AtomicU64>::default();
        r.register_with_unit(
            "trace_time",
            "Trace time of the last event sent",
            prometheus_client::registry::Unit::Seconds,
            trace_time.clone(),
        );
        let trace_unix = Gauge::<f64, AtomicU64>::default();
        r.register_with_unit(
            "trace_time_unix",
            "The same as a 2011 Unix time",
            prometheus_client::registry::Unit::Seconds,
            trace_unix.clone(),
        );
        ReplayMetrics {
            registry: Arc::new(Mutex::new(r)),
            sent,
            delivered_total,
            errors,
            marks,
            queue_depth,
            trace_time,
            trace_unix,
            topics: [
                kafka.job_topic.clone(),
                kafka.task_topic.clone(),
                kafka.machine_topic.clone(),
            ],
            last: Mutex::new((0, 0, 0)),
        }
    }

    /// Brings the counters up to date from the producer state (counters only move forward).
    pub fn update_from(&self, producer: &Producer, summary: &super::ReplaySummary, time: u64) {
        let sent = [
            summary.job_events,
            summary.task_events,
            summary.machine_events,
        ];
        let marks = summary.marks;
        let mut last = self.last.lock().expect("lock");
        for (t, n) in sent.iter().enumerate() {
            if t == 2 && *n == 0 {
                continue; // no machine topic in this replay: no series for it
            }
            let c = self.sent.get_or_create(&TopicLabel {
                topic: self.topics[t].clone(),
            });
            let cur = c.get();
            if *n > cur {
                c.inc_by(n - cur);
            }
        }
        let delivered = producer.delivered();
        self.delivered_total
            .inc_by(delivered.saturating_sub(last.0));
        let failed = producer.inner.context().failed.load(Ordering::Relaxed);
        self.errors.inc_by(failed.saturating_sub(last.1));
        self.marks.inc_by(marks.saturating_sub(last.2));
        *last = (delivered, failed, marks);
        self.queue_depth.set(i64::from(producer.in_flight()));
        if !crate::trace::is_after_end(time) {
            self.trace_time.set(time as f64 / 1e6);
            self.trace_unix.set(crate::clock::unix_seconds(time));
        }
    }
}

/// The seq after the last event already in the topics: the max over every partition of
/// (last data seq + 1) and the marks' `next_seq`, read from the tail of each partition.
///
/// Every partition of every topic is assigned at once and read in the same fetch rounds, so
/// the cost is about one round trip whatever the number of partitions (reading them one by
/// one waited for a fetch round each: BENCHMARKS.md). Errors while a leader moves (a broker
/// failing over) are retried until [`RESUME_TIMEOUT`].
pub fn find_resume_seq(
    settings: &KafkaSettings,
    topics: &[(&str, i32)],
) -> Result<u64, ReplayError> {
    let connect = || -> Result<BaseConsumer<kafka::log::LogContext>, ReplayError> {
        settings
            .client_config("tracepipe-resume")
            .set("enable.auto.commit", "false")
            .set("group.id", "tracepipe-resume")
            // The tails are small: answer as soon as there is anything.
            .set("fetch.wait.max.ms", "10")
            .set("fetch.error.backoff.ms", "100")
            .create_with_context(kafka::log::LogContext)
            .map_err(|e| ReplayError::Client(Box::new(e)))
    };
    let mut consumer = connect()?;
    let deadline = std::time::Instant::now() + RESUME_TIMEOUT;
    // (topic, partition, next offset to read, end offset) of every non-empty partition.
    let mut tails: Vec<(&str, i32, i64, i64)> = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for &(topic, n) in topics {
        for p in 0..n {
            let (low, high) = loop {
                match consumer.fetch_watermarks(topic, p, kafka::CONNECT_TIMEOUT) {
                    Ok(w) => break w,
                    Err(e) if std::time::Instant::now() >= deadline => {
                        return Err(ReplayError::resume(topic, p, "reading its offsets", e))
                    }
                    Err(e) => {
                        kafka::log::transient("resume", &e.to_string());
                        std::thread::sleep(Duration::from_millis(200));
                        // A client that asked a dead leader keeps timing out after the
                        // failover (seen on a three-node cluster): a new one asks afresh.
                        consumer = connect()?;
                    }
                }
            };
            if high <= low {
                continue;
            }
            // The tail holds a data record or a mark carrying next_seq within a few records.
            let start = (high - 64).max(low);
            tpl.add_partition_offset(topic, p, Offset::Offset(start))
                .map_err(|e| ReplayError::resume(topic, p, "assigning it", e))?;
            tails.push((topic, p, start, high));
        }
    }
    if tails.is_empty() {
        return Ok(0);
    }
    consumer.assign(&tpl).map_err(|e| {
        let (topic, p, _, _) = tails[0];
        ReplayError::resume(topic, p, "assigning its partitions", e)
    })?;
    let mut next = 0u64;
    let mut left = tails.iter().filter(|t| t.2 < t.3).count();
    while left > 0 {
        let msg = match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                if std::time::Instant::now() >= deadline {
                    let (topic, p, _, _) = tails.iter().find(|t| t.2 < t.3).expect("left > 0");
                    return Err(ReplayError::resume(topic, *p, "reading its tail", e));
                }
                kafka::log::transient("resume", &e.to_string());
                continue;
            }
            None => {
                if std::time::Instant::now() >= deadline {
                    let (topic, p, offset, _) = tails.iter().find(|t| t.2 < t.3).expect("left > 0");
                    return Err(ReplayError::ResumeTimeout {
                        topic: topic.to_string(),
                        partition: *p,
                        offset: *offset,
                    });
                }
                continue;
            }
        };
        let Some(tail) = tails
            .iter_mut()
            .find(|t| t.0 == msg.topic() && t.1 == msg.partition())
        else {
            continue;
        };
        if msg.offset() < tail.2 || tail.2 >= tail.3 {
            continue;
        }
        tail.2 = msg.offset() + 1;
        if tail.2 >= tail.3 {
            left -= 1;
        }
        if wire::header(&msg, wire::HEADER_MARK).is_some() {
            if let Some(m) = msg.payload().and_then(wire::Mark::decode) {
                next = next.max(m.next_seq);
            }
        } else if let Some(seq) = wire::header_u64(wire::header(&msg, wire::HEADER_SEQ)) {
            next = next.max(seq + 1);
        }
    }
    Ok(next)
}

/// How long `--resume` keeps retrying while it reads the tails (a leader election takes
/// seconds; a cluster that stays unavailable longer is an error).
pub const RESUME_TIMEOUT: Duration = Duration::from_secs(60);
