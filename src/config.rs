//! Settings: config file < environment < flags.
//!
//! The file format accepts the first implementation's `config.yaml` unchanged (every key is
//! applied; the first implementation ignored all but `bootstrap_servers`) plus tracepipe's own
//! keys. Unknown keys are errors, so a typo is not silently ignored. Flags and environment
//! variables arrive as [`KafkaFlags`] (clap reads both, flags first) and win over the file.

use rdkafka::ClientConfig;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// Topic names in the original `topics:` map.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicsFile {
    #[serde(rename = "job-events")]
    pub job_events: Option<String>,
    #[serde(rename = "task-events")]
    pub task_events: Option<String>,
    #[serde(rename = "machine-events")]
    pub machine_events: Option<String>,
}

/// The `kafka:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaFile {
    pub bootstrap_servers: Option<String>,
    /// Bytes per partition batch (librdkafka `batch.size`).
    pub batch_size: Option<u64>,
    /// librdkafka `linger.ms`.
    pub linger_ms: Option<u64>,
    /// Producer buffer in bytes (librdkafka `queue.buffering.max.kbytes` = this / 1024).
    pub buffer_memory: Option<u64>,
    /// Stop the replay after this many wall-clock seconds (`--duration`).
    pub simulation_duration: Option<f64>,
    pub topics: Option<TopicsFile>,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i16>,
    /// `min.insync.replicas` of topics tracepipe creates.
    pub min_insync_replicas: Option<i16>,
    pub security_protocol: Option<String>,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    pub ssl_ca_location: Option<PathBuf>,
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    pub ssl_key_password: Option<String>,
}

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub kafka: KafkaFile,
    /// Trace time units per second (1,000,000: the trace counts microseconds).
    pub time_scaling_factor: Option<f64>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    pub fn parse(text: &str) -> Result<FileConfig, serde_yaml::Error> {
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        serde_yaml::from_str(text)
    }
}

/// A secret that never shows in logs, errors or `Debug` output.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How clients authenticate and encrypt (librdkafka names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Security {
    pub protocol: Option<String>,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    pub ssl_ca_location: Option<PathBuf>,
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    pub ssl_key_password: Option<Secret>,
}

impl Security {
    fn apply(&self, c: &mut ClientConfig) {
        let mut set = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                c.set(k, v);
            }
        };
        set("security.protocol", self.protocol.as_deref());
        set("sasl.mechanism", self.sasl_mechanism.as_deref());
        set("sasl.username", self.sasl_username.as_deref());
        set(
            "sasl.password",
            self.sasl_password.as_ref().map(Secret::expose),
        );
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        set("ssl.ca.location", path(&self.ssl_ca_location).as_deref());
        set(
            "ssl.certificate.location",
            path(&self.ssl_certificate_location).as_deref(),
        );
        set("ssl.key.location", path(&self.ssl_key_location).as_deref());
        set(
            "ssl.key.password",
            self.ssl_key_password.as_ref().map(Secret::expose),
        );
    }
}

/// Kafka settings given as flags or environment variables (`None`: not given, so the config
/// file or the default applies). Every subcommand flattens this into its flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KafkaFlags {
    /// Kafka bootstrap servers [default: 127.0.0.1:9092].
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    pub bootstrap: Option<String>,
    /// Topic of job events [default: job-events].
    #[arg(long, env = "TRACEPIPE_JOB_TOPIC")]
    pub job_topic: Option<String>,
    /// Topic of task events [default: task-events].
    #[arg(long, env = "TRACEPIPE_TASK_TOPIC")]
    pub task_topic: Option<String>,
    /// Topic of machine events [default: machine-events]; written when --machines is given,
    /// read by consumers when it exists.
    #[arg(long, env = "TRACEPIPE_MACHINE_TOPIC")]
    pub machine_topic: Option<String>,
    /// Partitions of topics created by tracepipe [default: 12].
    #[arg(long, env = "TRACEPIPE_PARTITIONS")]
    pub partitions: Option<i32>,
    /// Replication factor of topics created by tracepipe [default: 1].
    #[arg(long, env = "TRACEPIPE_REPLICATION_FACTOR")]
    pub replication_factor: Option<i16>,
    /// min.insync.replicas of topics created by tracepipe [default: 2 with 3 or more replicas, else 1].
    #[arg(long, env = "TRACEPIPE_MIN_INSYNC_REPLICAS")]
    pub min_insync_replicas: Option<i16>,
    /// Kafka security.protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).
    #[arg(long, env = "TRACEPIPE_SECURITY_PROTOCOL")]
    pub security_protocol: Option<String>,
    /// SASL mechanism (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN).
    #[arg(long, env = "TRACEPIPE_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    #[arg(long, env = "TRACEPIPE_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// SASL password (prefer the environment variable; never printed).
    #[arg(long, env = "TRACEPIPE_SASL_PASSWORD", hide_env_values = true)]
    pub sasl_password: Option<String>,
    /// CA certificate (PEM) to verify the brokers.
    #[arg(long, env = "TRACEPIPE_SSL_CA_LOCATION")]
    pub ssl_ca_location: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, env = "TRACEPIPE_SSL_CERTIFICATE_LOCATION")]
    pub ssl_certificate_location: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long, env = "TRACEPIPE_SSL_KEY_LOCATION")]
    pub ssl_key_location: Option<PathBuf>,
    #[arg(long, env = "TRACEPIPE_SSL_KEY_PASSWORD", hide_env_values = true)]
    pub ssl_key_password: Option<String>,
}

/// The flag (or environment variable) if given, else the file's value, else the default.
fn pick<T: Clone>(flag: &Option<T>, file: &Option<T>, default: T) -> T {
    flag.clone().or_else(|| file.clone()).unwrap_or(default)
}

/// Where and how to reach Kafka, and which topics to use.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub bootstrap: String,
    pub job_topic: String,
    pub task_topic: String,
    pub machine_topic: String,
    pub partitions: i32,
    pub replication_factor: i16,
    /// None: 2 with three or more replicas (one replica may fail without losing an
    /// acknowledged write or stopping the writes), else 1.
    pub min_insync_replicas: Option<i16>,
    pub security: Security,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            bootstrap: "127.0.0.1:9092".into(),
            job_topic: crate::wire::DEFAULT_JOB_TOPIC.into(),
            task_topic: crate::wire::DEFAULT_TASK_TOPIC.into(),
            machine_topic: crate::wire::DEFAULT_MACHINE_TOPIC.into(),
            partitions: crate::wire::DEFAULT_PARTITIONS,
            replication_factor: 1,
            min_insync_replicas: None,
            security: Security::default(),
        }
    }
}

impl KafkaSettings {
    /// Resolves config file < environment < flags (`flags` holds both of the latter), then
    /// validates.
    pub fn resolve(file: &KafkaFile, flags: &KafkaFlags) -> Result<KafkaSettings, ConfigError> {
        let topics = file.topics.clone().unwrap_or_default();
        let d = KafkaSettings::default();
        let or = |flag: &Option<String>, file: &Option<String>| flag.clone().or(file.clone());
        let or_path =
            |flag: &Option<PathBuf>, file: &Option<PathBuf>| flag.clone().or(file.clone());
        let k = KafkaSettings {
            bootstrap: pick(&flags.bootstrap, &file.bootstrap_servers, d.bootstrap),
            job_topic: pick(&flags.job_topic, &topics.job_events, d.job_topic),
            task_topic: pick(&flags.task_topic, &topics.task_events, d.task_topic),
            machine_topic: pick(
                &flags.machine_topic,
                &topics.machine_events,
                d.machine_topic,
            ),
            partitions: pick(&flags.partitions, &file.partitions, d.partitions),
            replication_factor: pick(
                &flags.replication_factor,
                &file.replication_factor,
                d.replication_factor,
            ),
            min_insync_replicas: flags.min_insync_replicas.or(file.min_insync_replicas),
            security: Security {
                protocol: or(&flags.security_protocol, &file.security_protocol),
                sasl_mechanism: or(&flags.sasl_mechanism, &file.sasl_mechanism),
                sasl_username: or(&flags.sasl_username, &file.sasl_username),
                sasl_password: or(&flags.sasl_password, &file.sasl_password).map(Secret::new),
                ssl_ca_location: or_path(&flags.ssl_ca_location, &file.ssl_ca_location),
                ssl_certificate_location: or_path(
                    &flags.ssl_certificate_location,
                    &file.ssl_certificate_location,
                ),
                ssl_key_location: or_path(&flags.ssl_key_location, &file.ssl_key_location),
                ssl_key_password: or(&flags.ssl_key_password, &file.ssl_key_password)
                    .map(Secret::new),
            },
        };
        k.validate()?;
        Ok(k)
    }

    /// Base client configuration shared by producers, consumers and the admin client.
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", client_id)
            // Fail fast on a wrong address or credentials instead of retrying for minutes.
            .set("socket.connection.setup.timeout.ms", "5000")
            // Errors only, summarised by `kafka::log`; everything when the raw log is asked
            // for (`RUST_LOG=warn,librdkafka=debug`).
            .set(
                "log_level",
                if log::log_enabled!(target: "librdkafka", log::Level::Debug) {
                    "7"
                } else {
                    "3"
                },
            );
        self.security.apply(&mut c);
        c
    }

    /// Topic of a table.
    pub fn topic(&self, table: crate::trace::Table) -> &str {
        match table {
            crate::trace::Table::Job => &self.job_topic,
            crate::trace::Table::Task => &self.task_topic,
            crate::trace::Table::Machine => &self.machine_topic,
        }
    }

    /// `min.insync.replicas` of the topics tracepipe creates.
    pub fn min_insync_replicas(&self) -> i16 {
        self.min_insync_replicas
            .unwrap_or(if self.replication_factor >= 3 { 2 } else { 1 })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.partitions < 1 {
            return Err(ConfigError::Invalid {
                field: "partitions",
                message: format!("must be at least 1, got {}", self.partitions),
            });
        }
        if self.replication_factor < 1 {
            return Err(ConfigError::Invalid {
                field: "replication factor",
                message: format!("must be at least 1, got {}", self.replication_factor),
            });
        }
        if let Some(m) = self.min_insync_replicas {
            if m < 1 || m > self.replication_factor {
                return Err(ConfigError::Invalid {
                    field: "min.insync.replicas",
                    message: format!(
                        "must be 1 to the replication factor ({}), got {m}",
                        self.replication_factor
                    ),
                });
            }
        }
        if self.job_topic == self.task_topic {
            return Err(ConfigError::Invalid {
                field: "topics",
                message: format!(
                    "job and task topics must differ (both {:?})",
                    self.job_topic
                ),
            });
        }
        if self.machine_topic == self.job_topic || self.machine_topic == self.task_topic {
            return Err(ConfigError::Invalid {
                field: "topics",
                message: format!(
                    "the machine topic must differ from the job and task topics ({:?})",
                    self.machine_topic
                ),
            });
        }
        Ok(())
    }
}

/// Producer tuning (the original `config.yaml` keys, applied to librdkafka).
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerTuning {
    pub batch_size: u64,
    pub linger_ms: u64,
    pub buffer_memory: u64,
    pub compression: String,
}

impl Default for ProducerTuning {
    fn default() -> Self {
        ProducerTuning {
            batch_size: 1_000_000,
            linger_ms: 5,
            // Bounds the replayer's memory: what librdkafka may hold before QueueFull.
            buffer_memory: 8 << 20,
            compression: "lz4".into(),
        }
    }
}

impl ProducerTuning {
    /// Resolves file < flags for each key; the codec comes from the flags only.
    pub fn resolve(
        file: &KafkaFile,
        batch_size: Option<u64>,
        linger_ms: Option<u64>,
        buffer_memory: Option<u64>,
        compression: Option<String>,
    ) -> ProducerTuning {
        let d = ProducerTuning::default();
        ProducerTuning {
            batch_size: pick(&batch_size, &file.batch_size, d.batch_size),
            linger_ms: pick(&linger_ms, &file.linger_ms, d.linger_ms),
            buffer_memory: pick(&buffer_memory, &file.buffer_memory, d.buffer_memory),
            compression: compression.unwrap_or(d.compression),
        }
    }

    pub fn apply(&self, c: &mut ClientConfig) {
        c.set("batch.size", self.batch_size.to_string())
            .set("linger.ms", self.linger_ms.to_string())
            .set(
                "queue.buffering.max.kbytes",
                (self.buffer_memory / 1024).max(1).to_string(),
            )
            .set("compression.type", &self.compression);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"
kafka:
  bootstrap_servers: "YOUR_KAFKA_BROKER_IP:9094"
  batch_size: 32768
  linger_ms: 100
  buffer_memory: 67108864
  simulation_duration: 60

  topics:
    job-events: "job-events"
    task-events: "task-events"
time_scaling_factor: 1000000
"#;

    #[test]
    fn accepts_the_original_config() {
        let c = FileConfig::parse(ORIGINAL).unwrap();
        assert_eq!(
            c.kafka.bootstrap_servers.as_deref(),
            Some("YOUR_KAFKA_BROKER_IP:9094")
        );
        assert_eq!(c.kafka.batch_size, Some(32768));
        assert_eq!(c.kafka.linger_ms, Some(100));
        assert_eq!(c.kafka.buffer_memory, Some(67108864));
        assert_eq!(c.kafka.simulation_duration, Some(60.0));
        assert_eq!(
            c.kafka.topics.unwrap().task_events.as_deref(),
            Some("task-events")
        );
        assert_eq!(c.time_scaling_factor, Some(1e6));
    }

    #[test]
    fn rejects_unknown_keys() {
        let err = FileConfig::parse("kafka:\n  linger: 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `linger`"), "{err}");
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file = FileConfig::parse(ORIGINAL).unwrap().kafka;
        let k = KafkaSettings::resolve(&file, &KafkaFlags::default()).unwrap();
        assert_eq!(k.bootstrap, "YOUR_KAFKA_BROKER_IP:9094");
        assert_eq!(k.partitions, crate::wire::DEFAULT_PARTITIONS);
        let flags = KafkaFlags {
            bootstrap: Some("127.0.0.1:1".into()),
            task_topic: Some("t".into()),
            sasl_password: Some("p".into()),
            ..KafkaFlags::default()
        };
        let k = KafkaSettings::resolve(&file, &flags).unwrap();
        assert_eq!(k.bootstrap, "127.0.0.1:1");
        assert_eq!(
            (k.job_topic.as_str(), k.task_topic.as_str()),
            ("job-events", "t")
        );
        assert_eq!(k.security.sasl_password, Some(Secret::new("p")));
        let t = ProducerTuning::resolve(&file, None, Some(7), None, None);
        assert_eq!(
            (t.batch_size, t.linger_ms, t.buffer_memory),
            (32768, 7, 67108864)
        );
        let same = KafkaFlags {
            job_topic: Some("x".into()),
            task_topic: Some("x".into()),
            ..KafkaFlags::default()
        };
        assert!(KafkaSettings::resolve(&file, &same).is_err());
    }

    #[test]
    fn min_insync_replicas_defaults_to_two_of_three_and_stays_within_the_replicas() {
        let file = FileConfig::parse("kafka:\n  replication_factor: 3\n")
            .unwrap()
            .kafka;
        let k = KafkaSettings::resolve(&file, &KafkaFlags::default()).unwrap();
        assert_eq!(k.min_insync_replicas(), 2);
        assert_eq!(KafkaSettings::default().min_insync_replicas(), 1);
        let flags = KafkaFlags {
            min_insync_replicas: Some(3),
            ..Default::default()
        };
        assert_eq!(
            KafkaSettings::resolve(&file, &flags)
                .unwrap()
                .min_insync_replicas(),
            3
        );
        let too_many = KafkaFlags {
            min_insync_replicas: Some(4),
            ..Default::default()
        };
        let err = KafkaSettings::resolve(&file, &too_many)
            .unwrap_err()
            .to_string();
        assert!(err.contains("min.insync.replicas"), "{err}");
        assert!(err.contains("got 4"), "{err}");
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Security {
            sasl_password: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
