//! librdkafka's log lines and error events, summarised for operators.
//!
//! librdkafka repeats a failing connection's error every retry (a broker outage printed a
//! screenful of `ERROR librdkafka` lines a second) and warns about conditions it recovers from
//! by itself, such as a fresh broker still loading its coordinator. Operators get one line per
//! condition instead, repeated at most every [`REPEAT`] with a count and the time it has
//! lasted: `broker 127.0.0.1:9092 unreachable, retrying (3 attempts, 6 s)`. The raw lines stay
//! available at debug level under the target `librdkafka` (`RUST_LOG=warn,librdkafka=debug`).

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a condition that goes on is reported again.
pub const REPEAT: Duration = Duration::from_secs(10);

/// What the summary of one condition remembers.
struct Seen {
    first: Instant,
    last_report: Instant,
    last_seen: Instant,
    count: u64,
}

static CONDITIONS: Mutex<Option<HashMap<String, Seen>>> = Mutex::new(None);

/// A condition librdkafka reports, in operators' words, with the key it is counted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub key: String,
    pub text: String,
}

/// Classifies one librdkafka line (log message or error event reason).
pub fn classify(line: &str) -> Condition {
    let lower = line.to_ascii_lowercase();
    let connectivity = lower.contains("connect to ")
        || lower.contains("disconnected")
        || lower.contains("brokers are down")
        || lower.contains("all broker connections are down")
        || lower.contains("all brokers down")
        || lower.contains("brokertransportfailure")
        || lower.contains("broker transport failure");
    if connectivity {
        return match broker_address(line) {
            Some(addr) => Condition {
                key: format!("unreachable {addr}"),
                text: format!("broker {addr} unreachable, retrying"),
            },
            None => Condition {
                key: ALL_DOWN.into(),
                text: "Kafka brokers unreachable, retrying".into(),
            },
        };
    }
    if lower.contains("idempotence pid") || lower.contains("coordinator load in progress") {
        return Condition {
            key: "coordinator loading".into(),
            text:
                "the broker's coordinator is still loading (a fresh or restarted broker), retrying"
                    .into(),
        };
    }
    // Below min.insync.replicas a write with acks=all is refused (NOT_ENOUGH_REPLICAS) or,
    // while the leader still counts a dead follower in its ISR, waits until it times out.
    if lower.contains("not enough in-sync replicas")
        || lower.contains("notenoughreplicas")
        || lower.contains("not_enough_replicas")
        || (lower.contains("timed out") && lower.contains("in-flight"))
    {
        return Condition {
            key: "writes waiting".into(),
            text: "writes are waiting: fewer in-sync replicas than min.insync.replicas, or a leader not answering; retrying until a broker returns".into(),
        };
    }
    Condition {
        key: without_numbers(line),
        text: line.to_owned(),
    }
}

/// `line` with each run of digits replaced by `#`: lines that differ only in their counts,
/// times or offsets are one condition.
fn without_numbers(line: &str) -> String {
    let mut key = String::with_capacity(line.len());
    for c in line.chars() {
        if !c.is_ascii_digit() {
            key.push(c);
        } else if !key.ends_with('#') {
            key.push('#');
        }
    }
    key
}

/// Conditions remembered at most; the ones quiet longest are forgotten first, so a
/// long-running consumer's memory does not grow with the variety of librdkafka's messages.
const MAX_CONDITIONS: usize = 256;

/// The key of connectivity lines that name no broker.
const ALL_DOWN: &str = "all brokers down";

/// The broker a line is about: `127.0.0.1:9092` out of
/// `Connect to ipv4#127.0.0.1:9092 failed: ...` or `127.0.0.1:9092/1: Disconnected ...`.
fn broker_address(line: &str) -> Option<&str> {
    if let Some(i) = line.find("Connect to ") {
        let target = line[i + "Connect to ".len()..].split_whitespace().next()?;
        return Some(target.rsplit('#').next().unwrap_or(target));
    }
    line.split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter_map(|w| w.split_once('/').map(|(addr, _)| addr))
        .find(|addr| {
            addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && !host.starts_with("thrd")
                    && !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
            })
        })
}

/// Reports a condition: the first time at once, then at most every [`REPEAT`] with how many
/// times it was seen and for how long. Returns the line printed, if any.
pub fn report(line: &str) -> Option<String> {
    let c = classify(line);
    let now = Instant::now();
    let mut guard = CONDITIONS.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if map.len() >= MAX_CONDITIONS {
        map.retain(|_, s| now.duration_since(s.last_seen) <= REPEAT * 3);
        if map.len() >= MAX_CONDITIONS {
            map.clear();
        }
    }
    let key_is_all_down = c.key == ALL_DOWN;
    let key = c.key;
    let seen = map.entry(key.clone()).or_insert(Seen {
        first: now,
        last_report: now,
        last_seen: now,
        count: 0,
    });
    // A condition quiet for a while that comes back is a new occurrence.
    if now.duration_since(seen.last_seen) > REPEAT * 3 {
        *seen = Seen {
            first: now,
            last_report: now,
            last_seen: now,
            count: 0,
        };
    }
    seen.last_seen = now;
    seen.count += 1;
    let first = seen.count == 1;
    let repeat_due = now.duration_since(seen.last_report) >= REPEAT;
    // Lines that name no broker add nothing while a named broker's outage is being reported.
    let named_outage = key_is_all_down
        && map.iter().any(|(k, s)| {
            k.starts_with("unreachable ") && now.duration_since(s.last_seen) < REPEAT * 3
        });
    let seen = map.get_mut(&key).expect("inserted above");
    let out = if named_outage {
        None
    } else if first {
        Some(c.text)
    } else if repeat_due {
        seen.last_report = now;
        Some(format!(
            "{} ({} attempts, {} s)",
            c.text,
            seen.count,
            now.duration_since(seen.first).as_secs()
        ))
    } else {
        None
    };
    if let Some(line) = &out {
        log::warn!(target: "tracepipe::kafka", "{line}");
    }
    out
}

/// A transient failure the caller retries (e.g. a fetch error a consumer will recover from).
pub fn transient(place: &str, text: &str) {
    log::debug!(target: "librdkafka", "{place}: {text}");
    report(text);
}

/// librdkafka's log callback: raw at debug level, summarised at warning level and above.
pub fn on_log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    log::debug!(target: "librdkafka", "{level:?} {fac}: {message}");
    if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
        report(message);
    }
}

/// librdkafka's error events: raw at debug level, summarised.
pub fn on_error(error: &KafkaError, reason: &str) {
    log::debug!(target: "librdkafka", "error event {error}: {reason}");
    report(reason);
}

/// The client context of every consumer and admin client: librdkafka's log summarised.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        on_log(level, fac, message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        on_error(&error, reason);
    }
}

impl ConsumerContext for LogContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_one_condition_per_broker() {
        let a = classify("127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)");
        let b = classify("127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 1ms in state CONNECT, 4 identical error(s) suppressed)");
        assert_eq!(a, b);
        assert_eq!(a.text, "broker 127.0.0.1:9092 unreachable, retrying");
        let other = classify("10.0.0.2:9094/2: Connect to ipv4#10.0.0.2:9094 failed: timed out");
        assert_ne!(a.key, other.key);
    }

    #[test]
    fn disconnects_name_their_broker_and_the_rest_is_one_condition() {
        let d = classify(
            "[thrd:127.0.0.1:9092/1]: 127.0.0.1:9092/1: Disconnected (after 3012ms in state UP)",
        );
        assert_eq!(d.key, "unreachable 127.0.0.1:9092");
        for line in [
            "2/2 brokers are down",
            "BrokerTransportFailure (Local: Broker transport failure)",
            "All broker connections are down",
        ] {
            assert_eq!(classify(line).key, ALL_DOWN, "{line}");
        }
    }

    #[test]
    fn other_lines_differing_only_in_numbers_are_one_condition() {
        assert_eq!(
            classify("fetch backoff 1200ms for partition 3").key,
            classify("fetch backoff 50ms for partition 11").key
        );
    }

    #[test]
    fn idempotence_pid_wait_is_explained() {
        let c = classify("Failed to acquire idempotence PID from broker 127.0.0.1:9092/1: Coordinator load in progress: retrying");
        assert!(
            c.text.contains("coordinator is still loading"),
            "{}",
            c.text
        );
    }

    #[test]
    fn writes_below_min_isr_are_explained() {
        for line in [
            "[thrd:127.0.0.1:19292/1]: 127.0.0.1:19292/1: Timed out 4 in-flight, 0 retry-queued, 1 out-queue, 0 partially-sent requests",
            "ProduceRequest failed: Broker: Not enough in-sync replicas",
        ] {
            let c = classify(line);
            assert_eq!(c.key, "writes waiting", "{line}");
            assert!(c.text.contains("min.insync.replicas"), "{}", c.text);
        }
    }

    #[test]
    fn repeats_are_counted_not_printed() {
        let line = "test-only condition that repeats 4d1f";
        assert_eq!(report(line).as_deref(), Some(line));
        for _ in 0..100 {
            assert_eq!(report(line), None);
        }
        let seen = CONDITIONS.lock().unwrap();
        assert_eq!(seen.as_ref().unwrap()[&classify(line).key].count, 101);
    }
}
