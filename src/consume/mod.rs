//! Stage 5: ordered consumption. Kafka orders records only within a partition; this reads
//! every partition of the job and task topics (and of the machine topic when the stream has
//! machines, [`ConsumeOptions::machines`]) and releases events in exact global (time, seq)
//! order.
//!
//! An event is released when it is the next seq after the last released one (seqs are
//! dense), or when every other partition has passed it: it holds a record with a higher
//! seq, or its last record or progress mark promises that everything later is higher.
//! Each partition has its own librdkafka queue, and the consumer reads only from partitions
//! that hold the release back (empty here and not yet past the smallest buffered seq). A
//! partition that runs ahead is therefore not read; its prefetch queue fills up to
//! `queued.max.messages.kbytes` and librdkafka stops fetching it until it is read again:
//! watermark alignment by flow control, with at most one buffered record per partition in
//! this process and no refetch after a resume. Seqs at or below the last released one are
//! duplicates (a restarted replay) and are dropped.

mod lines;
mod native;
mod reorder;
pub mod verify;

pub use lines::{write_ordered, ConsumeSummary, EventLines, ReleaseLag};

use crate::config::KafkaSettings;
use crate::kafka::log::LogContext;
use crate::kafka::{self, KafkaSetupError};
use crate::trace::{Record, Table};
use crate::wire::{self, Mark, MarkKind};
use native::{PartitionQueues, RawMessage};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use reorder::Reorderer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    #[error("Kafka consumer: {doing}")]
    Client {
        doing: &'static str,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("{topic}/{partition}: cannot get its queue")]
    Queue { topic: String, partition: i32 },
    #[error("{topic}/{partition}: {doing}")]
    Partition {
        topic: String,
        partition: i32,
        doing: &'static str,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("{topic}/{partition}: {detail}")]
    Fetch {
        topic: String,
        partition: i32,
        /// librdkafka's description of this failure.
        detail: String,
        #[source]
        code: RDKafkaErrorCode,
    },
    #[error("{topic}/{partition} offset {offset}")]
    Record {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        problem: RecordProblem,
    },
    #[error("writing events")]
    Output(#[source] std::io::Error),
    #[error("no progress for {seconds} s; waiting for seq {waiting_for:?}; partitions not yet past it: {lagging}")]
    Stalled {
        seconds: u64,
        waiting_for: Option<u64>,
        lagging: String,
    },
}

/// What is wrong with a record the consumer read.
#[derive(Debug, thiserror::Error)]
pub enum RecordProblem {
    #[error("unreadable progress mark")]
    Mark,
    #[error("data record without a valid `seq` header (not written by tracepipe replay?)")]
    Seq,
    #[error("data record without a valid `time` header")]
    Time,
    #[error(transparent)]
    Value(#[from] wire::DecodeError),
}

impl ConsumeError {
    fn client(doing: &'static str) -> impl FnOnce(KafkaError) -> ConsumeError {
        move |source| ConsumeError::Client {
            doing,
            source: Box::new(source),
        }
    }
}

/// Prefetch per partition (KiB). Each partition that holds the release back must be
/// refetched when its queue runs dry; 1 MiB (with 128 KiB fetches) makes that rare enough to
/// be as fast as 2 MiB and faster than 512 KiB, for half the memory of 2 MiB (BENCHMARKS.md).
pub const DEFAULT_PREFETCH_KBYTES: u32 = 1024;

/// Options of the ordered consumer.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    pub kafka: KafkaSettings,
    /// Read the machine topic too (it must exist). Off by default: a machine topic is part
    /// of a stream only when its replay read machines, and a stale topic of the default name
    /// must not mix into another stream's seqs.
    pub machines: bool,
    /// Consumer group: start from its committed offsets and commit what was released.
    pub group: Option<String>,
    /// Keep waiting for later replays after the end-of-stream marks.
    pub follow: bool,
    /// Prefetch limit of each partition's librdkafka queue (KiB): bounds memory.
    pub prefetch_kbytes_per_partition: u32,
    pub commit_interval: Duration,
    /// Give up when nothing is released for this long (None: wait forever).
    pub idle_timeout: Option<Duration>,
    /// Set (e.g. by Ctrl-C) to end the stream early: the iterator commits and ends even
    /// while it waits for more records, as a following reader mostly does.
    pub stop: Option<Arc<AtomicBool>>,
}

impl ConsumeOptions {
    pub fn new(kafka: KafkaSettings) -> Self {
        ConsumeOptions {
            kafka,
            machines: false,
            group: None,
            follow: false,
            prefetch_kbytes_per_partition: DEFAULT_PREFETCH_KBYTES,
            commit_interval: Duration::from_secs(1),
            idle_timeout: None,
            stop: None,
        }
    }
}

/// What the consumer keeps of a data record's value. It is made when the record is read,
/// because librdkafka's message is released right after.
pub trait Payload: Sized {
    fn from_value(table: Table, value: &[u8]) -> Result<Self, wire::DecodeError>;
}

/// The JSON value as written by the replayer (a copy).
impl Payload for Vec<u8> {
    fn from_value(_: Table, value: &[u8]) -> Result<Self, wire::DecodeError> {
        Ok(value.to_vec())
    }
}

/// The typed record without the hash strings ([`wire::decode_record_without_strings`]):
/// what the window aggregation needs, decoded on the reader thread with no copy of the value.
#[derive(Debug, Clone, PartialEq)]
pub struct LeanRecord(pub Record);

impl Payload for LeanRecord {
    fn from_value(table: Table, value: &[u8]) -> Result<Self, wire::DecodeError> {
        wire::decode_record_without_strings(table, value).map(LeanRecord)
    }
}

/// A released event with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedEvent<P = Vec<u8>> {
    pub table: Table,
    pub partition: i32,
    pub offset: i64,
    pub seq: u64,
    pub time: u64,
    /// Kafka record timestamp (ms since the Unix epoch): the replayer's send time.
    pub timestamp_ms: Option<i64>,
    /// The value: by default the JSON as written by the replayer.
    pub value: P,
}

impl OrderedEvent {
    /// Parses the value into a typed record.
    pub fn record(&self) -> Result<Record, wire::DecodeError> {
        wire::decode_record(self.table, &self.value)
    }
}

struct Buffered<P> {
    seq: u64,
    time: u64,
    offset: i64,
    timestamp_ms: Option<i64>,
    value: P,
}

enum Incoming<P> {
    Mark(Mark),
    Data(Buffered<P>),
}

/// Reads what ordering needs out of a message of `topic`/`partition` (a `table` topic).
fn decode<P: Payload>(
    table: Table,
    topic: &str,
    partition: i32,
    msg: &RawMessage<'_>,
) -> Result<Incoming<P>, ConsumeError> {
    let err = |problem: RecordProblem| ConsumeError::Record {
        topic: topic.to_owned(),
        partition,
        offset: msg.offset(),
        problem,
    };
    if let Some(kind) = msg.header(wire::HEADER_MARK_C) {
        let mark = msg
            .payload()
            .and_then(Mark::decode)
            .filter(|m| MarkKind::parse(kind) == Some(m.kind))
            .ok_or_else(|| err(RecordProblem::Mark))?;
        return Ok(Incoming::Mark(mark));
    }
    let seq =
        wire::header_u64(msg.header(wire::HEADER_SEQ_C)).ok_or_else(|| err(RecordProblem::Seq))?;
    let time = wire::header_u64(msg.header(wire::HEADER_TIME_C))
        .ok_or_else(|| err(RecordProblem::Time))?;
    Ok(Incoming::Data(Buffered {
        seq,
        time,
        offset: msg.offset(),
        timestamp_ms: msg.timestamp_ms(),
        value: P::from_value(table, msg.payload().unwrap_or_default())
            .map_err(|e| err(RecordProblem::Value(e)))?,
    }))
}

/// Where a partition is, for commits.
struct PartState {
    table: Table,
    partition: i32,
    /// Offset to commit: after the last released data record.
    commit: Option<i64>,
    committed: Option<i64>,
    /// Offset after the last record read.
    read_to: i64,
}

/// Iterator over the events of the job and task topics (and the machine topic) in exact
/// global order.
pub struct OrderedConsumer<P: Payload = Vec<u8>> {
    /// One queue per entry of `parts`, same index; holds the consumer.
    queues: PartitionQueues,
    /// Round-robin position among the partitions to wait on.
    rotation: usize,
    /// Indexed by [`Table::index`]: job, task, machine.
    topics: [String; 3],
    parts: Vec<PartState>,
    reorder: Reorderer<Buffered<P>>,
    opts: ConsumeOptions,
    last_commit: Instant,
    last_progress: Instant,
    released: u64,
    released_at_check: u64,
    failed: bool,
}

impl OrderedConsumer {
    /// Connects, assigns every partition of the topics (from the group's committed
    /// offsets, or from the beginning) and reads nothing yet. Events carry the JSON value.
    pub fn new(opts: ConsumeOptions) -> Result<OrderedConsumer, ConsumeError> {
        Self::with_payload(opts)
    }
}

impl<P: Payload> OrderedConsumer<P> {
    /// Like [`OrderedConsumer::new`], keeping each value as `P`.
    pub fn with_payload(opts: ConsumeOptions) -> Result<OrderedConsumer<P>, ConsumeError> {
        let group = opts
            .group
            .clone()
            .unwrap_or_else(|| format!("tracepipe-ordered-{}", std::process::id()));
        let consumer: BaseConsumer<LogContext> = opts
            .kafka
            .client_config("tracepipe-consume")
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "queued.max.messages.kbytes",
                opts.prefetch_kbytes_per_partition.to_string(),
            )
            .set("queued.min.messages", "20000")
            // librdkafka waits this long before fetching again for a partition whose queue
            // was full (default 1 s): with flow control by queue size, that stalls everything.
            .set("fetch.queue.backoff.ms", "1")
            .set("fetch.wait.max.ms", "10")
            .set("fetch.max.bytes", "4194304")
            // Small fetches per partition: each fetch may overshoot the prefetch limit by a
            // whole response, decompressed, so with 512 KiB (compressed) the 24 queues held
            // about twice the limit; 128 KiB fetches took 40% off the consumer's peak memory
            // at the same speed (BENCHMARKS.md).
            .set("max.partition.fetch.bytes", "131072")
            .create_with_context(LogContext)
            .map_err(ConsumeError::client("creating the consumer"))?;
        let (jobs, tasks) = if opts.follow {
            kafka::await_topics(consumer.client(), &opts.kafka, opts.stop.as_deref())?
        } else {
            kafka::existing_topics(consumer.client(), &opts.kafka)?
        };
        let machines = if opts.machines {
            kafka::existing_topic(consumer.client(), &opts.kafka, &opts.kafka.machine_topic)?
        } else {
            0
        };
        let topics = [
            opts.kafka.job_topic.clone(),
            opts.kafka.task_topic.clone(),
            opts.kafka.machine_topic.clone(),
        ];
        let mut tpl = TopicPartitionList::new();
        let mut parts = Vec::new();
        for (table, topic, n) in [
            (Table::Machine, &topics[2], machines),
            (Table::Job, &topics[0], jobs),
            (Table::Task, &topics[1], tasks),
        ] {
            for p in 0..n {
                tpl.add_partition(topic, p);
                parts.push(PartState {
                    table,
                    partition: p,
                    commit: None,
                    committed: None,
                    read_to: 0,
                });
            }
        }
        let mut last_released = None;
        if opts.group.is_some() {
            let committed = consumer
                .committed_offsets(tpl.clone(), kafka::CONNECT_TIMEOUT)
                .map_err(ConsumeError::client("reading committed offsets"))?;
            for (i, elem) in committed.elements().iter().enumerate() {
                if let Offset::Offset(o) = elem.offset() {
                    tpl.set_partition_offset(elem.topic(), elem.partition(), Offset::Offset(o))
                        .map_err(ConsumeError::client("setting start offsets"))?;
                    parts[i].committed = Some(o);
                }
                if let Some(seq) = crate::trace::parse::parse_u64(elem.metadata().as_bytes()) {
                    last_released = Some(last_released.map_or(seq, |l: u64| l.max(seq)));
                }
            }
        }
        for elem in tpl.clone().elements() {
            if elem.offset() == Offset::Invalid {
                tpl.set_partition_offset(elem.topic(), elem.partition(), Offset::Beginning)
                    .map_err(ConsumeError::client("setting start offsets"))?;
            }
        }
        let queues = PartitionQueues::split_and_assign(
            Arc::new(consumer),
            &tpl,
            parts
                .iter()
                .map(|p| (topics[p.table.index()].clone(), p.partition)),
        )?;
        let now = Instant::now();
        Ok(OrderedConsumer {
            queues,
            rotation: 0,
            topics,
            reorder: Reorderer::new(parts.len(), last_released),
            parts,
            opts,
            last_commit: now,
            last_progress: now,
            released: 0,
            released_at_check: 0,
            failed: false,
        })
    }

    /// Seq of the last released event (from the group's commit metadata at start).
    pub fn last_released(&self) -> Option<u64> {
        self.reorder.last_released()
    }

    pub fn released(&self) -> u64 {
        self.released
    }

    pub fn dropped_duplicates(&self) -> u64 {
        self.reorder.duplicates()
    }

    /// Events read but not yet released.
    pub fn buffered(&self) -> usize {
        self.reorder.buffered()
    }

    fn topic_of(&self, i: usize) -> &str {
        &self.topics[self.parts[i].table.index()]
    }

    fn try_release(&mut self) -> Option<OrderedEvent<P>> {
        let (i, seq, b) = self.reorder.pop()?;
        let p = &mut self.parts[i];
        p.commit = Some(b.offset + 1);
        self.released += 1;
        // A clock read per event is measurable at a million events/s; progress for the idle
        // timeout only needs to be noticed, not timed exactly.
        if self.released.is_multiple_of(1024) {
            self.last_progress = Instant::now();
        }
        Some(OrderedEvent {
            table: p.table,
            partition: p.partition,
            offset: b.offset,
            seq,
            time: b.time,
            timestamp_ms: b.timestamp_ms,
            value: b.value,
        })
    }

    /// Every partition has delivered its end mark and nothing is left to release.
    fn finished(&self) -> bool {
        !self.opts.follow && self.reorder.finished()
    }

    /// Every partition ended with an end mark; but a resumed replay may have written more
    /// after it. Reopens the partitions whose log goes on past what was read.
    fn more_after_end(&mut self) -> Result<bool, ConsumeError> {
        let mut more = false;
        for i in 0..self.parts.len() {
            let topic = self.topic_of(i).to_owned();
            let p = &self.parts[i];
            let (_, high) = self
                .queues
                .consumer()
                .fetch_watermarks(&topic, p.partition, kafka::CONNECT_TIMEOUT)
                .map_err(|source| ConsumeError::Partition {
                    topic: topic.clone(),
                    partition: p.partition,
                    doing: "reading its end offset",
                    source: Box::new(source),
                })?;
            if high > p.read_to {
                self.reorder.reopen(i);
                more = true;
            }
        }
        Ok(more)
    }

    /// Commits the offsets after the last released record of each partition, with the last
    /// released seq as metadata (so a restart knows which seqs are duplicates).
    pub fn commit(&mut self, mode: CommitMode) -> Result<(), ConsumeError> {
        if self.opts.group.is_none() {
            return Ok(());
        }
        let force = matches!(mode, CommitMode::Sync);
        let meta = self
            .reorder
            .last_released()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let mut tpl = TopicPartitionList::new();
        for (i, p) in self.parts.iter().enumerate() {
            match p.commit {
                Some(o) if force || p.committed != Some(o) => {
                    let mut e = tpl
                        .add_partition_offset(self.topic_of(i), p.partition, Offset::Offset(o))
                        .map(|_| tpl.find_partition(self.topic_of(i), p.partition))
                        .map_err(ConsumeError::client("preparing the commit"))?
                        .expect("just added");
                    e.set_metadata(meta.clone());
                }
                _ => {}
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        self.queues
            .consumer()
            .commit(&tpl, mode)
            .map_err(ConsumeError::client("committing offsets"))?;
        for p in &mut self.parts {
            p.committed = p.commit.or(p.committed);
        }
        Ok(())
    }

    fn stalled(&self) -> ConsumeError {
        let waiting = self.reorder.last_released().map(|l| l + 1);
        let lagging: Vec<String> = self
            .reorder
            .blocking(self.opts.follow)
            .map(|i| {
                format!(
                    "{}/{} (passed {})",
                    self.topic_of(i),
                    self.parts[i].partition,
                    self.reorder.passed(i)
                )
            })
            .take(12)
            .collect();
        ConsumeError::Stalled {
            seconds: self.opts.idle_timeout.map_or(0, |d| d.as_secs()),
            waiting_for: waiting,
            lagging: if lagging.is_empty() {
                "none (end-of-stream marks missing?)".into()
            } else {
                lagging.join(", ")
            },
        }
    }

    fn next_event(&mut self) -> Result<Option<OrderedEvent<P>>, ConsumeError> {
        loop {
            if let Some(ev) = self.try_release() {
                if self.released.is_multiple_of(1024)
                    && self.last_commit.elapsed() >= self.opts.commit_interval
                {
                    self.last_commit = Instant::now();
                    self.commit(CommitMode::Async)?;
                }
                return Ok(Some(ev));
            }
            let stopped = self
                .opts
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed));
            if stopped || (self.finished() && !self.more_after_end()?) {
                self.commit(CommitMode::Sync)?;
                return Ok(None);
            }
            if let Some(limit) = self.opts.idle_timeout {
                if self.released_at_check != self.released {
                    self.released_at_check = self.released;
                    self.last_progress = Instant::now();
                }
                if self.last_progress.elapsed() >= limit {
                    return Err(self.stalled());
                }
            }
            self.read_some()?;
            if self.last_commit.elapsed() >= self.opts.commit_interval {
                self.last_commit = Instant::now();
                self.commit(CommitMode::Async)?;
            }
        }
    }

    /// Reads from the partitions that block the release: first whatever is already
    /// fetched, then waits a little on one of them (round robin).
    /// Reads, without waiting, what is already fetched for the partitions in `blocking`.
    fn read_ready(&mut self, blocking: &[usize]) -> Result<bool, ConsumeError> {
        let mut got = false;
        for &i in blocking {
            got |= self.read_one(i, Duration::ZERO)?;
        }
        Ok(got)
    }

    fn read_some(&mut self) -> Result<(), ConsumeError> {
        let blocking: Vec<usize> = self.reorder.blocking(self.opts.follow).collect();
        if !self.read_ready(&blocking)? {
            // Serves the consumer's events (errors, statistics) from the main queue.
            self.poll_main()?;
            if !blocking.is_empty() {
                // Wait on the partition furthest behind (it holds the release back longest);
                // briefly, so that data arriving on another one is not missed for long.
                self.rotation = (self.rotation + 1) % blocking.len();
                let behind = blocking
                    .iter()
                    .copied()
                    .min_by_key(|&i| self.reorder.passed(i))
                    .expect("not empty");
                let pick = if blocking.len() == 1 || !self.rotation.is_multiple_of(4) {
                    behind
                } else {
                    blocking[self.rotation]
                };
                let wait = if blocking.len() == 1 { 100 } else { 2 };
                self.read_one(pick, Duration::from_millis(wait))?;
            } else {
                std::thread::yield_now();
            }
        }
        Ok(())
    }

    /// Reads a batch of what is already fetched for partition `i`, or waits up to
    /// `timeout` for its next record. True if anything was read.
    fn read_one(&mut self, i: usize, timeout: Duration) -> Result<bool, ConsumeError> {
        let Self {
            queues,
            parts,
            reorder,
            topics,
            ..
        } = self;
        let part = &mut parts[i];
        let topic = &topics[part.table.index()];
        let n = queues.read(i, timeout, |msg| {
            if let Some((code, text)) = msg.error() {
                // librdkafka reconnects by itself after transport errors; only the idle
                // timeout (if any) decides when waiting has become failure.
                if is_transient(code) {
                    crate::kafka::log::transient(&format!("{topic}/{}", part.partition), &text);
                    return Ok(());
                }
                return Err(ConsumeError::Fetch {
                    topic: topic.clone(),
                    partition: part.partition,
                    detail: text,
                    code,
                });
            }
            part.read_to = msg.offset() + 1;
            match decode(part.table, topic, part.partition, &msg)? {
                Incoming::Mark(m) => reorder.mark(i, m.next_seq, m.kind == MarkKind::End),
                Incoming::Data(b) => {
                    reorder.push(i, b.seq, b);
                }
            }
            Ok(())
        })?;
        Ok(n > 0)
    }

    fn poll_main(&self) -> Result<(), ConsumeError> {
        match self.queues.consumer().poll(Duration::ZERO) {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(KafkaError::MessageConsumption(code))) if is_transient(code) => {
                crate::kafka::log::transient("consumer", &code.to_string());
                Ok(())
            }
            Some(Err(source)) => Err(ConsumeError::Client {
                doing: "polling",
                source: Box::new(source),
            }),
        }
    }
}

fn is_transient(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::OperationTimedOut
            | C::RequestTimedOut
            | C::NotLeaderForPartition
            | C::LeaderNotAvailable
            | C::NetworkException
            | C::PartitionEOF
            // While leaders move between brokers (a failover, a rolling restart) or right
            // after a topic is created, a broker may not know the partition or its epoch
            // yet; librdkafka refreshes its metadata and retries.
            | C::UnknownTopicOrPartition
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::OffsetNotAvailable
            | C::ReplicaNotAvailable
            | C::KafkaStorageError
            | C::NotCoordinator
            | C::CoordinatorNotAvailable
            | C::CoordinatorLoadInProgress
    )
}

impl<P: Payload> OrderedConsumer<P> {
    /// The next event if it can be released from what has been read already (None means
    /// "not now", not the end of the stream).
    pub fn next_ready(&mut self) -> Option<Result<OrderedEvent<P>, ConsumeError>> {
        if self.failed {
            return None;
        }
        if let Some(ev) = self.try_release() {
            return Some(Ok(ev));
        }
        // One non-blocking read of what is already fetched, then try again.
        let blocking: Vec<usize> = self.reorder.blocking(self.opts.follow).collect();
        if let Err(e) = self.read_ready(&blocking) {
            self.failed = true;
            return Some(Err(e));
        }
        self.try_release().map(Ok)
    }
}

impl<P: Payload> Iterator for OrderedConsumer<P> {
    type Item = Result<OrderedEvent<P>, ConsumeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_event() {
            Ok(Some(ev)) => Some(Ok(ev)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
