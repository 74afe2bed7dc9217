//! Client plumbing shared by the replayer and the consumers: reaching the broker, creating
//! topics, reading partition counts.

use crate::config::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long to wait for the broker before giving up with a clear error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("cannot reach Kafka at {bootstrap} within {seconds} s: {message} (is the broker running? `make up` starts the local one)")]
    Unreachable {
        bootstrap: String,
        seconds: u64,
        message: String,
    },
    #[error("Kafka at {bootstrap}: authentication failed: {message} (check the SASL mechanism, username and password)")]
    Authentication { bootstrap: String, message: String },
    #[error("Kafka at {bootstrap}: TLS failed: {message} (check --ssl-ca-location and the broker's certificate)")]
    Tls { bootstrap: String, message: String },
    #[error("Kafka at {bootstrap}: {message}")]
    Client { bootstrap: String, message: String },
    #[error("topic {topic}: {message}")]
    Topic { topic: String, message: String },
}

/// Fetches metadata of `topic` (or the whole cluster) and returns its partition count
/// (None when the topic does not exist). Fails within [`CONNECT_TIMEOUT`] when unreachable.
pub fn partition_count<C: ClientContext>(
    client: &Client<C>,
    settings: &KafkaSettings,
    topic: &str,
) -> Result<Option<i32>, KafkaSetupError> {
    let md = client
        .fetch_metadata(Some(topic), CONNECT_TIMEOUT)
        .map_err(|e| unreachable(settings, e))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match t.error() {
        None => Ok(Some(t.partitions().len() as i32)),
        Some(e) => {
            let code = RDKafkaErrorCode::from(e);
            if code == RDKafkaErrorCode::UnknownTopicOrPartition
                || code == RDKafkaErrorCode::UnknownTopic
            {
                Ok(None)
            } else {
                Err(KafkaSetupError::Topic {
                    topic: topic.to_owned(),
                    message: code.to_string(),
                })
            }
        }
    }
}

fn unreachable(settings: &KafkaSettings, e: KafkaError) -> KafkaSetupError {
    let message = match &e {
        KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut) => {
            "no answer (timed out)".to_string()
        }
        KafkaError::MetadataFetch(RDKafkaErrorCode::Authentication) => {
            "authentication failed (check SASL username, password and mechanism)".to_string()
        }
        other => other.to_string(),
    };
    KafkaSetupError::Unreachable {
        bootstrap: settings.bootstrap.clone(),
        seconds: CONNECT_TIMEOUT.as_secs(),
        message,
    }
}

/// Remembers the first authentication or TLS failure that librdkafka reports as an error event
/// (a metadata request itself only sees "broker transport failure" until it times out).
#[derive(Default)]
struct ProbeContext {
    failure: Mutex<Option<(RDKafkaErrorCode, String)>>,
}

impl ClientContext for ProbeContext {
    fn log(&self, _level: RDKafkaLogLevel, _fac: &str, _message: &str) {
        // The same failures come as error events (below): no duplicate log lines.
    }
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(code @ (RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)) =
            error.rdkafka_error_code()
        {
            let mut f = self.failure.lock().unwrap();
            if f.is_none() {
                *f = Some((code, reason.to_owned()));
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
        .map_err(|e| KafkaSetupError::Client {
            bootstrap: settings.bootstrap.clone(),
            message: e.to_string(),
        })?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(500));
        let result = probe.client().fetch_metadata(None, slice);
        probe.poll(Duration::ZERO); // delivers error events to the context
        if let Some((code, message)) = probe.context().failure.lock().unwrap().take() {
            let bootstrap = settings.bootstrap.clone();
            return Err(if code == RDKafkaErrorCode::SSL {
                KafkaSetupError::Tls { bootstrap, message }
            } else {
                KafkaSetupError::Authentication { bootstrap, message }
            });
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
    check_connection(settings)?;
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config("tracepipe-admin")
        .create()
        .map_err(|e| KafkaSetupError::Client {
            bootstrap: settings.bootstrap.clone(),
            message: e.to_string(),
        })?;
    let client = admin.inner();
    let mut counts = [0i32; 2];
    for (i, topic) in [&settings.job_topic, &settings.task_topic]
        .into_iter()
        .enumerate()
    {
        if let Some(n) = partition_count(client, settings, topic)? {
            counts[i] = n;
            continue;
        }
        let new = NewTopic::new(
            topic,
            settings.partitions,
            TopicReplication::Fixed(i32::from(settings.replication_factor)),
        );
        let opts = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
        let results =
            futures::executor::block_on(admin.create_topics([&new], &opts)).map_err(|e| {
                KafkaSetupError::Topic {
                    topic: topic.clone(),
                    message: e.to_string(),
                }
            })?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(KafkaSetupError::Topic {
                        topic: name,
                        message: format!("cannot create: {code}"),
                    })
                }
            }
        }
        counts[i] = wait_for_topic(client, settings, topic)?;
    }
    Ok((counts[0], counts[1]))
}

/// Partition counts of existing topics (job, task); an error if either is missing.
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
        counts[i] =
            partition_count(client, settings, topic)?.ok_or_else(|| KafkaSetupError::Topic {
                topic: topic.clone(),
                message: "does not exist (run `tracepipe replay` first)".into(),
            })?;
    }
    Ok((counts[0], counts[1]))
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
            return Err(KafkaSetupError::Topic {
                topic: topic.to_owned(),
                message: "created but not visible in metadata".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
