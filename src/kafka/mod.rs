//! Client plumbing shared by the replayer and the consumers: reaching the broker, creating
//! topics, reading partition counts.

use crate::config::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext, DefaultClientContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
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

/// Makes sure the job and task topics exist (creating missing ones with the configured
/// partitions and replication factor) and returns their partition counts (job, task).
pub fn ensure_topics(settings: &KafkaSettings) -> Result<(i32, i32), KafkaSetupError> {
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
