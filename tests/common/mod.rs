//! Helpers for integration tests against the real local broker (`make up`).
#![allow(dead_code)]

pub mod bucket;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A topic name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_jobs() -> PathBuf {
    repo().join("sample/job_events")
}

pub fn sample_tasks() -> PathBuf {
    repo().join("sample/task_events")
}

pub fn tracepipe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracepipe"));
    c.env("KAFKA_BOOTSTRAP", bootstrap());
    c
}

/// Runs tracepipe with `args`, panicking with its output if it fails.
pub fn run_ok(args: &[&str]) -> Output {
    let out = tracepipe().args(args).output().expect("spawn tracepipe");
    assert!(
        out.status.success(),
        "tracepipe {args:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn replay(dirs: (&Path, &Path), jobs_topic: &str, tasks_topic: &str, extra: &[&str]) -> Output {
    let (j, t) = (dirs.0.to_str().unwrap(), dirs.1.to_str().unwrap());
    let mut args = vec![
        "replay",
        "--jobs",
        j,
        "--tasks",
        t,
        "--job-topic",
        jobs_topic,
        "--task-topic",
        tasks_topic,
        "--progress",
        "quiet",
    ];
    args.extend_from_slice(extra);
    run_ok(&args)
}

/// `tracepipe verify` of the topics against the trace folders; its stdout (it must succeed).
pub fn verify(jobs: &std::path::Path, tasks: &std::path::Path, jt: &str, tt: &str) -> String {
    let out = run_ok(&[
        "verify",
        "--jobs",
        jobs.to_str().unwrap(),
        "--tasks",
        tasks.to_str().unwrap(),
        "--job-topic",
        jt,
        "--task-topic",
        tt,
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A record as a plain consumer sees it.
#[derive(Debug, Clone)]
pub struct Raw {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: Option<i64>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
    pub fn header_u64(&self, name: &str) -> Option<u64> {
        std::str::from_utf8(self.header(name)?).ok()?.parse().ok()
    }
}

/// Reads every record of every partition of `topic` with a plain consumer.
pub fn read_all(topic: &str) -> Vec<Raw> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("plain"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let parts = md.topics()[0].partitions().len() as i32;
    assert!(parts > 0, "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0i64;
    for p in 0..parts {
        let (lo, hi) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        remaining += hi - lo;
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(remaining as usize);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (out.len() as i64) < remaining {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            let m = m.unwrap();
            out.push(Raw {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().unwrap_or_default().to_vec(),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| (x.key.to_string(), x.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
                timestamp_ms: m.timestamp().to_millis(),
            });
        }
    }
    out
}

/// `tracepipe generate --out OUT ARGS...`; returns the job and task folders.
pub fn generate(out: &Path, args: &[&str]) -> (PathBuf, PathBuf) {
    let mut all = vec!["generate", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    run_ok(&all);
    (out.join("job_events"), out.join("task_events"))
}

/// Writes a trace table folder with one part from CSV lines (gzip).
pub fn write_part(dir: &Path, part: u32, lines: &[String]) {
    use std::io::Write;
    std::fs::create_dir_all(dir).unwrap();
    let f = std::fs::File::create(dir.join(format!("part-{part:05}-of-00500.csv.gz"))).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    for l in lines {
        writeln!(gz, "{l}").unwrap();
    }
    gz.finish().unwrap();
}
