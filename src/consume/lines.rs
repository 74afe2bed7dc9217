//! `tracepipe consume`: the ordered stream as JSON Lines, and the release lag measured on
//! the way.

use super::{ConsumeError, ConsumeOptions, OrderedConsumer, OrderedEvent};
use hdrhistogram::Histogram;
use rdkafka::consumer::CommitMode;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes released events as
/// `{"topic":…,"partition":…,"offset":…,"seq":…,"time":…,"event":<the value>}` lines.
pub struct EventLines<W: Write> {
    out: W,
    /// `{"topic":"<name>"` per table (job, task, machine), encoded once.
    topic_json: [Vec<u8>; 3],
    line: Vec<u8>,
}

impl<W: Write> EventLines<W> {
    pub fn new(out: W, job_topic: &str, task_topic: &str) -> Self {
        Self::with_machine_topic(
            out,
            job_topic,
            task_topic,
            crate::wire::DEFAULT_MACHINE_TOPIC,
        )
    }

    /// Like [`EventLines::new`], naming the machine topic too.
    pub fn with_machine_topic(
        out: W,
        job_topic: &str,
        task_topic: &str,
        machine_topic: &str,
    ) -> Self {
        let topic_json = [job_topic, task_topic, machine_topic].map(|t| {
            let mut v = b"{\"topic\":".to_vec();
            serde_json::to_writer(&mut v, t).expect("writing to a Vec");
            v
        });
        EventLines {
            out,
            topic_json,
            line: Vec::with_capacity(1024),
        }
    }

    pub fn write(&mut self, ev: &OrderedEvent) -> std::io::Result<()> {
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(&self.topic_json[ev.table.index()]);
        let mut num = itoa::Buffer::new();
        line.extend_from_slice(b",\"partition\":");
        line.extend_from_slice(num.format(ev.partition).as_bytes());
        line.extend_from_slice(b",\"offset\":");
        line.extend_from_slice(num.format(ev.offset).as_bytes());
        line.extend_from_slice(b",\"seq\":");
        line.extend_from_slice(num.format(ev.seq).as_bytes());
        line.extend_from_slice(b",\"time\":");
        line.extend_from_slice(num.format(ev.time).as_bytes());
        line.extend_from_slice(b",\"event\":");
        line.extend_from_slice(&ev.value);
        line.extend_from_slice(b"}\n");
        self.out.write_all(line)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Time from a record's send (its Kafka timestamp) to its ordered release, in milliseconds:
/// constant memory, 3 significant digits, up to [`MAX_LAG_MS`] (a topic filled hours ago
/// reports hours).
pub struct ReleaseLag {
    hist: Histogram<u64>,
    seen: u64,
    now_ms: i64,
}

/// Lags above this (30 days, the trace's span) are counted as this.
pub const MAX_LAG_MS: u64 = 30 * 24 * 3_600_000;

impl Default for ReleaseLag {
    fn default() -> Self {
        ReleaseLag {
            hist: Histogram::new_with_bounds(1, MAX_LAG_MS, 3).expect("valid bounds"),
            seen: 0,
            now_ms: 0,
        }
    }
}

impl ReleaseLag {
    /// Records one release of a record sent at `timestamp_ms` (ms since the Unix epoch).
    pub fn record(&mut self, timestamp_ms: Option<i64>) {
        let Some(ts) = timestamp_ms else { return };
        // A clock read per 64 events: millisecond figures do not need more.
        if self.seen.is_multiple_of(64) {
            self.now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
        }
        self.seen += 1;
        self.record_lag_ms((self.now_ms - ts).max(0) as u64);
    }

    fn record_lag_ms(&mut self, ms: u64) {
        self.hist.saturating_record(ms);
    }

    /// The lag at quantile `q` (0..=1) in ms; `None` before any record.
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        (!self.hist.is_empty()).then(|| self.hist.value_at_quantile(q))
    }
}

/// What `consume` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeSummary {
    pub events: u64,
    pub dropped_duplicates: u64,
    pub lag_p50_ms: Option<u64>,
    pub lag_p99_ms: Option<u64>,
}

impl ConsumeSummary {
    /// The line printed at the end.
    pub fn report(&self) -> String {
        let ms = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
        format!(
            "consumed {} events in order ({} duplicates dropped); release lag since send: p50 {} ms, p99 {} ms",
            self.events,
            self.dropped_duplicates,
            ms(self.lag_p50_ms),
            ms(self.lag_p99_ms)
        )
    }
}

/// Reads the topics in exact global order and writes every event as a JSON line, until
/// the end-of-stream marks (unless following), `limit` events, or `stop`; flushes whenever
/// it waits for more. Commits what was
/// released when a group is set.
pub fn write_ordered<W: Write>(
    mut opts: ConsumeOptions,
    out: W,
    limit: Option<u64>,
    stop: Arc<AtomicBool>,
) -> Result<ConsumeSummary, ConsumeError> {
    opts.stop = Some(Arc::clone(&stop));
    let k = &opts.kafka;
    let mut lines =
        EventLines::with_machine_topic(out, &k.job_topic, &k.task_topic, &k.machine_topic);
    let mut consumer = OrderedConsumer::new(opts)?;
    let mut lag = ReleaseLag::default();
    let mut n = 0u64;
    while limit.is_none_or(|l| n < l) && !stop.load(Ordering::Relaxed) {
        // What is released is written out before waiting for more, so a reader of a
        // following consumer's output sees every event that arrived.
        let next = match consumer.next_ready() {
            Some(ev) => Some(ev),
            None => {
                lines.flush().map_err(ConsumeError::Output)?;
                consumer.next()
            }
        };
        let Some(ev) = next.transpose()? else {
            break;
        };
        lines.write(&ev).map_err(ConsumeError::Output)?;
        lag.record(ev.timestamp_ms);
        n += 1;
    }
    lines.flush().map_err(ConsumeError::Output)?;
    consumer.commit(CommitMode::Sync)?;
    Ok(ConsumeSummary {
        events: n,
        dropped_duplicates: consumer.dropped_duplicates(),
        lag_p50_ms: lag.quantile_ms(0.5),
        lag_p99_ms: lag.quantile_ms(0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Table;

    #[test]
    fn event_lines_wrap_the_value() {
        let mut buf = Vec::new();
        let mut w = EventLines::new(&mut buf, "job-events", "t\"q");
        let ev = OrderedEvent {
            table: Table::Task,
            partition: 3,
            offset: 17,
            seq: 42,
            time: 600_000_000,
            timestamp_ms: None,
            value: br#"{"a":1}"#.to_vec(),
        };
        w.write(&ev).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"topic\":\"t\\\"q\",\"partition\":3,\"offset\":17,\"seq\":42,\"time\":600000000,\"event\":{\"a\":1}}\n"
        );
    }

    #[test]
    fn release_lag_is_not_clamped() {
        let mut lag = ReleaseLag::default();
        assert_eq!(lag.quantile_ms(0.5), None);
        for ms in [7, 7, 7, 600_000, 3_600_000] {
            lag.record_lag_ms(ms);
        }
        assert_eq!(lag.quantile_ms(0.5), Some(7));
        // Three significant digits: within 0.1% of an hour, not 10 s.
        let p99 = lag.quantile_ms(0.99).unwrap();
        assert!((3_596_400..=3_603_600).contains(&p99), "{p99}");
    }

    #[test]
    fn summary_line() {
        let s = ConsumeSummary {
            events: 3,
            dropped_duplicates: 1,
            lag_p50_ms: Some(4),
            lag_p99_ms: None,
        };
        assert_eq!(
            s.report(),
            "consumed 3 events in order (1 duplicates dropped); release lag since send: p50 4 ms, p99 - ms"
        );
    }
}
