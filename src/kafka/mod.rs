//! Client plumbing shared by the replayer and the consumers: reaching the broker, creating
//! topics, reading partition counts, and librdkafka's log ([`log`]).

pub(crate) mod log;

use crate::config::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long to wait for the broker before giving up with a clear error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("cannot reach Kafka at {bootstrap} within {seconds} s (is the broker running? `make up` starts the local one)")]
    Unreachable {
        bootstrap: String,
        seconds: u64,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("Kafka at {bootstrap}: authentication failed: {reason} (check the SASL mechanism, username and password)")]
    Authentication {
        bootstrap: String,
        /// librdkafka's description.
        reason: String,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("Kafka at {bootstrap}: TLS failed: {reason} (check --ssl-ca-location and the broker's certificate)")]
    Tls {
        bootstrap: String,
        /// librdkafka's description.
        reason: String,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("Kafka at {bootstrap}: creating the client")]
    Client {
        bootstrap: String,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("topic {topic}: {code}")]
    TopicMetadata {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topic {topic}: cannot create")]
    Create {
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },
    #[error("topic {topic}: cannot create: {code}")]
    CreateRefused {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topic {topic}: created but not visible in metadata")]
    NotVisible { topic: String },
    #[error("topic {topic}: does not exist (run `tracepipe replay` first)")]
    Missing { topic: String },
    #[error("topic {topic}: stopped while waiting for it to be created")]
    WaitStopped { topic: String },
    #[error("topic {topic}: replication factor {replication_factor} is larger than the {brokers} broker(s) of the cluster at {bootstrap} (lower --replication-factor, or start more brokers: `make up KAFKA_NODES=3`)")]
    ReplicationTooHigh {
        topic: String,
        replication_factor: i16,
        brokers: usize,
        bootstrap: String,
    },
}

/// Fetches metadata of `topic` and returns its partition count (None when the topic does not
/// exist). Fails within [`CONNECT_TIMEOUT`] when unreachable.
pub fn partition_count<C: ClientContext>(
    client: &Client<C>,
    settings: &KafkaSettings,
    topic: &str,
) -> Result<Option<i32>, KafkaSetupError> {
    Ok(topic_shape(client, settings, topic)?.map(|t| t.partitions))
}

/// A topic as one metadata response shows it.
struct TopicShape {
    partitions: i32,
    /// Every partition has a leader (a new topic's leaders show up a moment after it).
    led: bool,
}

/// The one metadata request behind [`partition_count`] and [`led_partition_count`]: None when
/// the topic does not exist, an error for any other topic error (authorization, say), so that
/// a reader waiting for its topic does not wait forever on one it may not read.
fn topic_shape<C: ClientContext>(
    client: &Client<C>,
    settings: &KafkaSettings,
    topic: &str,
) -> Result<Option<TopicShape>, KafkaSetupError> {
    let md = client
        .fetch_metadata(Some(topic), CONNECT_TIMEOUT)
        .map_err(|e| unreachable(settings, e))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match t.error() {
        None => Ok(Some(TopicShape {
            partitions: t.partitions().len() as i32,
            led: !t.partitions().is_empty() && t.partitions().iter().all(|p| p.leader() >= 0),
        })),
        Some(e) => {
            let code = RDKafkaErrorCode::from(e);
            if code == RDKafkaErrorCode::UnknownTopicOrPartition
                || code == RDKafkaErrorCode::UnknownTopic
            {
                Ok(None)
            } else {
                Err(KafkaSetupError::TopicMetadata {
                    topic: topic.to_owned(),
                    code,
                })
            }
        }
    }
}

fn unreachable(settings: &KafkaSettings, source: KafkaError) -> KafkaSetupError {
    KafkaSetupError::Unreachable {
        bootstrap: settings.bootstrap.clone(),
        seconds: CONNECT_TIMEOUT.as_secs(),
        source: Box::new(source),
    }
}

/// Remembers the first authentication or TLS failure that librdkafka reports as an error event
/// (a metadata request itself only sees "broker transport failure" until it times out).
#[derive(Default)]
struct ProbeContext {
    failure: Mutex<Option<(KafkaError, String)>>,
}

impl ClientContext for ProbeContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // Only the raw line: the same failures come as error events (below), and those end
        // the probe with a clear error.
        ::log::debug!(target: "librdkafka", "{level:?} {fac}: {message}");
    }
    fn error(&self, error: KafkaError, reason: &str) {
        ::log::debug!(target: "librdkafka", "error event {error}: {reason}");
        if let Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL) =
            error.rdkafka_error_code()
        {
            let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            if f.is_none() {
                *f = Some((error, reason.to_owned()));
            }
        }
    }
}

impl ProducerContext for ProbeContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// Connects once with the configured security settings: Ok when the broker answers a metadata
/// request; a clear error at the first authentication or TLS failure (about 1 s), or after
/// [`CONNECT_TIMEOUT`] when nothing answers.
pub fn check_connection(settings: &KafkaSettings) -> Result<(), KafkaSetupError> {
    let probe: BaseProducer<ProbeContext> = settings
        .client_config("tracepipe-probe")
        .create_with_context(ProbeContext::default())
        .map_err(|source| KafkaSetupError::Client {
            bootstrap: settings.bootstrap.clone(),
            source: Box::new(source),
        })?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(500));
        let result = probe.client().fetch_metadata(None, slice);
        probe.poll(Duration::ZERO); // delivers error events to the context
        let failure = probe
            .context()
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((source, reason)) = failure {
            let bootstrap = settings.bootstrap.clone();
            return Err(
                if source.rdkafka_error_code() == Some(RDKafkaErrorCode::SSL) {
                    KafkaSetupError::Tls {
                        bootstrap,
                        reason,
                        source: Box::new(source),
                    }
                } else {
                    KafkaSetupError::Authentication {
                        bootstrap,
                        reason,
                        source: Box::new(source),
                    }
                },
            );
        }
        match result {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(unreachable(settings, e)),
            Err(_) => {}
        }
    }
}

/// Makes sure the job and task topics exist (creating missing ones with the configured
/// partitions and replication factor) and returns their partition counts (job, task).
pub fn ensure_topics(settings: &KafkaSettings) -> Result<(i32, i32), KafkaSetupError> {
    let counts = ensure_named_topics(settings, &[&settings.job_topic, &settings.task_topic])?;
    Ok((counts[0], counts[1]))
}

/// Makes sure each of `topics` exists (creating missing ones with the configured partitions
/// and replication factor) and returns their partition counts, in the same order.
pub fn ensure_named_topics(
    settings: &KafkaSettings,
    topics: &[&String],
) -> Result<Vec<i32>, KafkaSetupError> {
    check_connection(settings)?;
    let admin: AdminClient<log::LogContext> = settings
        .client_config("tracepipe-admin")
        .create_with_context(log::LogContext)
        .map_err(|source| KafkaSetupError::Client {
            bootstrap: settings.bootstrap.clone(),
            source: Box::new(source),
        })?;
    let client = admin.inner();
    let mut counts = vec![0i32; topics.len()];
    let min_isr = settings.min_insync_replicas().to_string();
    for (i, topic) in topics.iter().copied().enumerate() {
        if let Some(n) = partition_count(client, settings, topic)? {
            counts[i] = n;
            continue;
        }
        // The broker would refuse too, but with INVALID_REPLICATION_FACTOR only.
        let brokers = client
            .fetch_metadata(None, CONNECT_TIMEOUT)
            .map_err(|e| unreachable(settings, e))?
            .brokers()
            .len();
        if usize::try_from(settings.replication_factor).unwrap_or(0) > brokers {
            return Err(KafkaSetupError::ReplicationTooHigh {
                topic: topic.clone(),
                replication_factor: settings.replication_factor,
                brokers,
                bootstrap: settings.bootstrap.clone(),
            });
        }
        // min.insync.replicas on the topic itself: with `acks=all` a write is acknowledged
        // only once that many replicas have it, whatever the broker's default is.
        let new = NewTopic::new(
            topic,
            settings.partitions,
            TopicReplication::Fixed(i32::from(settings.replication_factor)),
        )
        .set("min.insync.replicas", &min_isr);
        let opts = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
        let results =
            futures::executor::block_on(admin.create_topics([&new], &opts)).map_err(|source| {
                KafkaSetupError::Create {
                    topic: topic.clone(),
                    source: Box::new(source),
                }
            })?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(KafkaSetupError::CreateRefused { topic, code }),
            }
        }
        counts[i] = wait_for_topic(client, settings, topic)?;
    }
    Ok(counts)
}

/// Partition counts of the job and task topics, which must exist (job, task).
pub fn existing_topics<C: ClientContext>(
    client: &Client<C>,
    settings: &KafkaSettings,
) -> Result<(i32, i32), KafkaSetupError> {
    check_connection(settings)?;
    let mut counts = [0i32; 2];
    for (i, topic) in [&settings.job_topic, &settings.task_topic]
        .into_iter()
        .enumerate()
    {
        counts[i] = existing_topic(client, settings, topic)?;
    }
    Ok((counts[0], counts[1]))
}

/// Like [`existing_topics`], but waits for missing topics (a live reader started before the
/// replay that creates them): says so once per topic, then polls the metadata. Gives up with
/// [`KafkaSetupError::WaitStopped`] when `stop` is set.
pub fn await_topics<C: ClientContext>(
    client: &Client<C>,
    settings: &KafkaSettings,
    stop: Option<&AtomicBool>,
) -> Result<(i32, i32), KafkaSetupError> {
    check_connection(settings)?;
    let mut counts = [0i32; 2];
    let mut said = [false; 2];
    for (i, topic) in [&settings.job_topic, &settings.task_topic]
        .into_iter()
        .enumerate()
    {
        loop {
            // A new topic's partitions, and their leaders, show up a moment after the topic.
            if let Some(n) = led_partition_count(client, settings, topic)? {
                counts[i] = n;
                if said[i] {
                    ::log::warn!(target: "tracepipe::kafka", "topic {topic}: created, starting");
                }
                break;
            }
            if !said[i] {
                said[i] = true;
                ::log::warn!(target: "tracepipe::kafka", "topic {topic}: does not exist yet, waiting for it (`tracepipe replay` creates it)");
            }
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err(KafkaSetupError::WaitStopped {
                    topic: topic.clone(),
                });
            }
            std::thread::sleep(TOPIC_POLL);
        }
    }
    Ok((counts[0], counts[1]))
}

/// The partition count of `topic` once it exists and every partition has a leader.
fn led_partition_count<C: ClientContext>(
    client: &Client<C>,
    settings: &KafkaSettings,
    topic: &str,
) -> Result<Option<i32>, KafkaSetupError> {
    Ok(topic_shape(client, settings, topic)?
        .filter(|t| t.led)
        .map(|t| t.partitions))
}

/// How often a reader waiting for its topics asks the broker.
const TOPIC_POLL: Duration = Duration::from_millis(250);

/// Partition count of `topic`, which must exist.
pub fn existing_topic<C: ClientContext>(
    client: &Client<C>,
    settings: &KafkaSettings,
    topic: &str,
) -> Result<i32, KafkaSetupError> {
    partition_count(client, settings, topic)?.ok_or_else(|| KafkaSetupError::Missing {
        topic: topic.to_owned(),
    })
}

/// A new topic's partitions appear in metadata a moment after creation.
fn wait_for_topic<C: ClientContext>(
    client: &Client<C>,
    settings: &KafkaSettings,
    topic: &str,
) -> Result<i32, KafkaSetupError> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        if let Some(n) = partition_count(client, settings, topic)? {
            if n > 0 {
                return Ok(n);
            }
        }
        if Instant::now() > deadline {
            return Err(KafkaSetupError::NotVisible {
                topic: topic.to_owned(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One partition as the cluster's metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub topic: String,
    pub partition: i32,
    /// `None` while the partition has no leader.
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl PartitionInfo {
    /// A replica is missing from the in-sync set (Kafka's "under-replicated").
    pub fn under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }
}

/// Leader, replicas and in-sync replicas of every partition of `topics` (all topics but the
/// internal ones when empty), from one metadata request: what `kafka-topics --describe` shows,
/// without starting a JVM.
pub fn describe_partitions(
    settings: &KafkaSettings,
    topics: &[String],
) -> Result<Vec<PartitionInfo>, KafkaSetupError> {
    let client: rdkafka::consumer::BaseConsumer<log::LogContext> = settings
        .client_config("tracepipe-topics")
        .create_with_context(log::LogContext)
        .map_err(|source| KafkaSetupError::Client {
            bootstrap: settings.bootstrap.clone(),
            source: Box::new(source),
        })?;
    let md = rdkafka::consumer::Consumer::fetch_metadata(&client, None, CONNECT_TIMEOUT)
        .map_err(|e| unreachable(settings, e))?;
    let mut out = Vec::new();
    for wanted in topics {
        if !md.topics().iter().any(|t| t.name() == wanted) {
            return Err(KafkaSetupError::TopicMetadata {
                topic: wanted.clone(),
                code: RDKafkaErrorCode::UnknownTopicOrPartition,
            });
        }
    }
    for t in md.topics() {
        let listed = if topics.is_empty() {
            !t.name().starts_with("__")
        } else {
            topics.iter().any(|w| w == t.name())
        };
        if !listed {
            continue;
        }
        for p in t.partitions() {
            out.push(PartitionInfo {
                topic: t.name().to_owned(),
                partition: p.id(),
                leader: (p.leader() >= 0).then_some(p.leader()),
                replicas: p.replicas().to_vec(),
                isr: p.isr().to_vec(),
            });
        }
    }
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(out)
}
