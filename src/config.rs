//! Settings: config file < environment < flags.
//!
//! The file format accepts the first implementation's `config.yaml` unchanged (every key is
//! applied now; it ignored all but `bootstrap_servers`: defect 8) plus tracepipe's own keys.
//! Unknown keys are errors, so a typo is not silently ignored.

use rdkafka::ClientConfig;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
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
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<FileConfig, String> {
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        serde_yaml::from_str(text).map_err(|e| e.to_string())
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

/// Where and how to reach Kafka, and which topics to use.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub bootstrap: String,
    pub job_topic: String,
    pub task_topic: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub security: Security,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            bootstrap: "127.0.0.1:9092".into(),
            job_topic: crate::wire::DEFAULT_JOB_TOPIC.into(),
            task_topic: crate::wire::DEFAULT_TASK_TOPIC.into(),
            partitions: crate::wire::DEFAULT_PARTITIONS,
            replication_factor: 1,
            security: Security::default(),
        }
    }
}

impl KafkaSettings {
    /// Base client configuration shared by producers, consumers and the admin client.
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", client_id)
            // Fail fast on a wrong address or credentials instead of retrying for minutes.
            .set("socket.connection.setup.timeout.ms", "5000")
            .set("log_level", "3");
        self.security.apply(&mut c);
        c
    }

    /// Topic of a table.
    pub fn topic(&self, table: crate::trace::Table) -> &str {
        match table {
            crate::trace::Table::Job => &self.job_topic,
            crate::trace::Table::Task => &self.task_topic,
        }
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
        if self.job_topic == self.task_topic {
            return Err(ConfigError::Invalid {
                field: "topics",
                message: format!(
                    "job and task topics must differ (both {:?})",
                    self.job_topic
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

/// Parses a duration: `90m`, `2h`, `1.5s`, `250ms`, `10us`, `3d`; a bare number is in
/// `bare_unit_us` microseconds (1 for trace times, 1e6 for wall-clock seconds).
pub fn parse_duration_us(s: &str, bare_unit_us: f64) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    // Whole microseconds stay exact (no trip through f64), up to u64::MAX.
    if bare_unit_us == 1.0 && (unit.is_empty() || unit == "us") {
        if let Ok(v) = num.parse::<u64>() {
            return Ok(v);
        }
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 90m, 2h, 30s, 1500000)"))?;
    let scale = match unit {
        "" => bare_unit_us,
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        "d" => 86400e6,
        _ => {
            return Err(format!(
                "invalid duration unit {unit:?} in {s:?} (us, ms, s, m, h, d)"
            ))
        }
    };
    let us = value * scale;
    if !us.is_finite() || us < 0.0 || us > u64::MAX as f64 {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(us.round() as u64)
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
        let err = FileConfig::parse("kafka:\n  linger: 5\n").unwrap_err();
        assert!(err.contains("unknown field `linger`"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_us("90m", 1.0).unwrap(), 5_400_000_000);
        assert_eq!(parse_duration_us("1500000", 1.0).unwrap(), 1_500_000);
        assert_eq!(parse_duration_us("2", 1e6).unwrap(), 2_000_000);
        assert_eq!(parse_duration_us("250ms", 1.0).unwrap(), 250_000);
        assert_eq!(parse_duration_us("1.5s", 1.0).unwrap(), 1_500_000);
        assert!(parse_duration_us("5x", 1.0).is_err());
        assert!(parse_duration_us("", 1.0).is_err());
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
