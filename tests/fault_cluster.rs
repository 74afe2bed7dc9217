//! Faults on a replicated cluster: the three KRaft nodes of `scripts/fault-cluster.sh` (topics
//! with 3 replicas and `min.insync.replicas` 2). Real processes, real failures (kill -9, SIGSTOP,
//! controlled restarts), and a checker at the end of every test: `verify` (every event exactly
//! once, in exact global order), and where readers were alive through the fault, their output
//! against the trace.
//!
//! The trace is `$TRACEPIPE_TRACE_DIR` (the real parts, replayed at full speed) when set, else
//! the bundled sample paced to last about 100 s, so that the faults land mid-replay.
//! The tests share the cluster and take its nodes away: they run one at a time (a lock).
//! Each takes minutes, so they are `#[ignore]`d in the plain test run (which keeps CI within
//! its budget with the two-fault chaos run instead): `make test-faults` starts the cluster and
//! runs them (`cargo test --release --test fault_cluster -- --ignored`).

mod common;
use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static CLUSTER: Mutex<()> = Mutex::new(());

fn fault_bootstrap() -> String {
    std::env::var("TRACEPIPE_FAULT_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "TRACEPIPE_FAULT_BOOTSTRAP is not set: start the three-node cluster with \
             `bash scripts/fault-cluster.sh up` and `eval \"$(bash scripts/fault-cluster.sh env)\"` \
             (`make test` does both)"
        )
    })
}

/// `scripts/fault-cluster.sh ARGS`; its stdout (it must succeed).
fn cluster(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(repo().join("scripts/fault-cluster.sh"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/fault-cluster.sh");
    assert!(
        out.status.success(),
        "scripts/fault-cluster.sh {args:?} failed"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Restarts whatever a failed test left down and waits for full ISR, so that every test starts
/// from a whole cluster.
fn whole_cluster() -> std::sync::MutexGuard<'static, ()> {
    let guard = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    for i in ["1", "2", "3"] {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/fault-cluster.sh"))
            .args(["resume-node", i])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    cluster(&["start-kafka"]);
    cluster(&["wait-isr", "180"]);
    guard
}

/// The trace to replay: (jobs, tasks, replay flags that set its pace).
fn trace() -> (PathBuf, PathBuf, Vec<&'static str>) {
    match std::env::var_os("TRACEPIPE_TRACE_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            (d.join("job_events"), d.join("task_events"), vec![])
        }
        None => (sample_jobs(), sample_tasks(), vec!["--speed", "100"]),
    }
}

fn tp() -> Command {
    let mut c = tracepipe();
    c.env("KAFKA_BOOTSTRAP", fault_bootstrap());
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Waits for the child (up to `limit`); its exit status, stdout and stderr.
fn finish(mut child: Child, limit: Duration) -> (bool, String, String) {
    let deadline = Instant::now() + limit;
    // Drain the pipes while waiting: a chatty child must not block on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = out.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = err.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status.success(), o.join().unwrap(), e.join().unwrap())
}

/// Records in the topic (sum of high watermarks), once every partition answers (a partition
/// whose leader just died answers again after the failover). A new client for each attempt,
/// so that no attempt sees the metadata of the one before.
fn records(topic: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", fault_bootstrap())
            .create()
            .unwrap();
        let mut sum = 0;
        let mut error = None;
        for p in 0..12 {
            match c.fetch_watermarks(topic, p, Duration::from_secs(3)) {
                Ok((_, hi)) => sum += hi,
                Err(e) => {
                    error = Some(format!("{topic}/{p}: {e}"));
                    break;
                }
            }
        }
        match error {
            None => return sum,
            // Not created yet.
            Some(e) if e.contains("UnknownTopicOrPartition") => return 0,
            Some(e) => assert!(Instant::now() < deadline, "{e}"),
        }
    }
}

/// The partition of `topic` holding the most records: the busiest leader.
fn busiest_partition(topic: &str) -> i32 {
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", fault_bootstrap())
        .create()
        .unwrap();
    (0..12)
        .max_by_key(|&p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(5))
                .map_or(0, |(_, hi)| hi)
        })
        .unwrap()
}

/// Waits until `topic` holds `n` records: true if the replay still runs then, false if it
/// ended first (on a slow machine a restart can outlast the paced replay; the fault then hits
/// only the live readers).
fn wait_records(topic: &str, n: i64, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(300);
    while records(topic) < n {
        assert!(Instant::now() < deadline, "{topic}: fewer than {n} records");
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.try_wait().unwrap().is_none()
}

/// `verify` of the topics against the trace: every event exactly once, in exact global order.
/// Returns the event count.
fn verify(jt: &str, tt: &str) -> u64 {
    let (j, t, _) = trace();
    let out = tp()
        .args(["verify", "--jobs", s(&j), "--tasks", s(&t)])
        .args(["--job-topic", jt, "--task-topic", tt])
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify failed: {so}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = so
        .split("OK: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `OK: N events` in {so}"));
    assert!(so.contains("events in exact global order"), "{so}");
    n
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A counter of the aggregator's /metrics (0 while it does not answer).
fn metric(addr: &str, name: &str) -> u64 {
    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(
        c,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = c.read_to_string(&mut body);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A child process killed when the test ends, also when it fails: no reader or replay outlives
/// its test.
struct Owned(Child);

impl Owned {
    fn take(&mut self) -> Child {
        // A finished placeholder stands in; the real child is now the caller's.
        let done = Command::new("true").spawn().expect("spawn true");
        std::mem::replace(&mut self.0, done)
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Deletes the test's topics: a node killed with -9 recovers every partition when it starts
/// again, and old topics would make each restart slower.
fn delete_topics(topics: &[&str]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", fault_bootstrap())
        .create()
        .unwrap();
    let _ = futures::executor::block_on(admin.delete_topics(topics, &AdminOptions::new()));
}

fn interrupt(child: &Child) {
    // SAFETY: sends SIGINT to our own child process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
}

fn lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Live readers started before the replay creates the topics: a group consumer and an
/// aggregator, both with `--follow`.
struct Readers {
    consumer: Owned,
    aggregator: Owned,
    events_out: PathBuf,
    windows_out: PathBuf,
    metrics: String,
}

fn start_readers(dir: &Path, jt: &str, tt: &str) -> Readers {
    let events_out = dir.join("events.jsonl");
    let windows_out = dir.join("windows.jsonl");
    let metrics = format!("127.0.0.1:{}", free_port());
    let consumer = tp()
        .args(["consume", "--follow", "--group", &unique("fault-consume")])
        .args([
            "--job-topic",
            jt,
            "--task-topic",
            tt,
            "--out",
            s(&events_out),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let aggregator = tp()
        .args([
            "aggregate",
            "--follow",
            "--group",
            &unique("fault-aggregate"),
        ])
        .args([
            "--job-topic",
            jt,
            "--task-topic",
            tt,
            "--out",
            s(&windows_out),
        ])
        .args(["--metrics-addr", &metrics])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Readers {
        consumer: Owned(consumer),
        aggregator: Owned(aggregator),
        events_out,
        windows_out,
        metrics,
    }
}

/// Once the readers have every event: stops them (Ctrl-C) and checks that they never
/// restarted, that the consumer wrote each event once in order, and that the windows equal
/// `aggregate --from-files`.
fn check_readers(r: Readers, events: u64, dir: &Path) {
    let mut r = r;
    let (consumer, aggregator) = (&mut r.consumer.0, &mut r.aggregator.0);
    let deadline = Instant::now() + Duration::from_secs(300);
    // The aggregator counts the events it applies: as many as `aggregate --from-files` does.
    let (j, t, _) = trace();
    let files = dir.join("files.jsonl");
    let summary = dir.join("files-summary.json");
    let out = tracepipe()
        .args(["aggregate", "--from-files", "--no-metrics", "--jobs", s(&j)])
        .args([
            "--tasks",
            s(&t),
            "--out",
            s(&files),
            "--summary-json",
            s(&summary),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let file_summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let applied = file_summary["events"]
        .as_u64()
        .expect("events in the summary");
    // The aggregator refreshes its metrics every 4096 events: once the count is within that
    // of the total, the rest is in its hands, and Ctrl-C applies it before it stops.
    while (lines(&r.events_out) as u64) < events
        || metric(&r.metrics, "tracepipe_aggregate_events_total") + 4096 < applied
    {
        assert!(
            Instant::now() < deadline,
            "readers behind: consumer {} lines of {events}, aggregator {} events of {applied}",
            lines(&r.events_out),
            metric(&r.metrics, "tracepipe_aggregate_events_total")
        );
        for (name, child) in [
            ("consumer", &mut *consumer),
            ("aggregator", &mut *aggregator),
        ] {
            if let Some(st) = child.try_wait().unwrap() {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("the {name} exited ({st}): {err}");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    interrupt(consumer);
    interrupt(aggregator);
    let (ok, _, err) = finish(r.consumer.take(), Duration::from_secs(60));
    assert!(ok, "consumer: {err}");
    assert_eq!(
        err.matches("does not exist yet, waiting").count(),
        2,
        "the consumer says once per topic that it waits: {err}"
    );
    assert!(
        err.contains(&format!("consumed {events} events in order")),
        "{err}"
    );
    let (ok, _, err) = finish(r.aggregator.take(), Duration::from_secs(60));
    assert!(ok, "aggregator: {err}");
    // Each event once, in (time, seq) order.
    let text = std::fs::read_to_string(&r.events_out).unwrap();
    let mut last = (0u64, 0u64);
    let mut n = 0u64;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (v["time"].as_u64().unwrap(), v["seq"].as_u64().unwrap());
        assert!(n == 0 || key > last, "line {n}: {key:?} after {last:?}");
        last = key;
        n += 1;
    }
    assert_eq!(n, events);
    let a = std::fs::read_to_string(&files).unwrap();
    let b = std::fs::read_to_string(&r.windows_out).unwrap();
    assert!(a.lines().count() > 1000);
    assert!(
        a == b,
        "the live aggregator's windows differ from --from-files"
    );
}

/// Two fresh topic names for a test.
fn topics(name: &str) -> (String, String) {
    (
        unique(&format!("fault-{name}-jobs")),
        unique(&format!("fault-{name}-tasks")),
    )
}

/// A replay with 3 replicas, min ISR 2, in the background (stderr kept for its messages), once
/// it has written `first` task records to `tt`: where every fault starts.
fn replay_under_way(jt: &str, tt: &str, first: i64) -> Owned {
    let (j, t, pace) = trace();
    let mut replay = Owned(
        tp().args(["replay", "--jobs", s(&j), "--tasks", s(&t)])
            .args(["--job-topic", jt, "--task-topic", tt])
            .args(["--replication-factor", "3", "--min-insync-replicas", "2"])
            .args(["--progress", "quiet"])
            .args(&pace)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn replay"),
    );
    assert!(wait_records(tt, first, &mut replay.0), "replay ended early");
    replay
}

/// Watches `child` for `span`: a fault that must neither fail nor end it (the replay waits).
fn keeps_running(child: &mut Child, span: Duration, what: &str) {
    let t0 = Instant::now();
    while t0.elapsed() < span {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the replay ended {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for the replay to end, which it must do successfully; its stderr.
fn replay_succeeds(mut replay: Owned) -> String {
    let (ok, out, err) = finish(replay.take(), Duration::from_secs(900));
    assert!(ok, "replay failed: {out}\n{err}");
    err
}

/// The end of a test without live readers: `verify` (every event once, in exact global order),
/// then the topics go. Returns the event count.
fn verified_then_deleted(jt: &str, tt: &str) -> u64 {
    let events = verify(jt, tt);
    delete_topics(&[jt, tt]);
    events
}

#[test]
#[ignore = "minutes per test on a three-node cluster: make test-faults runs them"]
fn leader_and_controller_crashes_with_live_readers() {
    let _c = whole_cluster();
    let (jt, tt) = topics("lead");
    let dir = tempfile::tempdir().unwrap();
    let readers = start_readers(dir.path(), &jt, &tt);
    let mut replay = replay_under_way(&jt, &tt, 60_000);
    let p = busiest_partition(&tt);
    let leader = cluster(&["kill-leader", &tt, &p.to_string()]);
    // Writes go on with the two others (a new leader for the partitions the dead node led).
    assert!(
        wait_records(&tt, records(&tt) + 30_000, &mut replay.0),
        "the replay ended before writing anything after the leader's death"
    );
    cluster(&["start-node", &leader]);
    let controller = cluster(&["kill-controller"]);
    wait_records(&tt, records(&tt) + 30_000, &mut replay.0);
    cluster(&["start-node", &controller]);
    replay_succeeds(replay);
    // The topics go only after the readers are done with them.
    let events = verify(&jt, &tt);
    check_readers(readers, events, dir.path());
    delete_topics(&[&jt, &tt]);
}

#[test]
#[ignore = "minutes per test on a three-node cluster: make test-faults runs them"]
fn a_paused_broker_and_rolling_restarts_during_replay_and_consume() {
    let _c = whole_cluster();
    let (jt, tt) = topics("roll");
    let mut replay = replay_under_way(&jt, &tt, 60_000);
    // Longer than replica.lag.time.max.ms (10 s) and the broker session (4 s).
    let paused = busiest_partition(&tt);
    let node = cluster(&["leader", &tt, &paused.to_string()]);
    cluster(&["pause-node", &node]);
    keeps_running(
        &mut replay.0,
        Duration::from_secs(14),
        "while a node was paused",
    );
    cluster(&["resume-node", &node]);
    for n in ["1", "2", "3"] {
        cluster(&["restart-node", n]);
        cluster(&["wait-isr", "180"]);
    }
    replay_succeeds(replay);
    // A rolling restart while the ordered consumer (verify) reads.
    let (j, t, _) = trace();
    let verifier = tp()
        .args(["verify", "--jobs", s(&j), "--tasks", s(&t)])
        .args(["--job-topic", &jt, "--task-topic", &tt])
        .args(["--prefetch-kbytes", "64"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for n in ["1", "2", "3"] {
        cluster(&["restart-node", n]);
        cluster(&["wait-isr", "180"]);
    }
    let (ok, out, err) = finish(verifier, Duration::from_secs(900));
    assert!(ok, "verify through a rolling restart failed: {out}\n{err}");
    assert!(out.contains("events in exact global order"), "{out}");
    verified_then_deleted(&jt, &tt);
}

#[test]
#[ignore = "minutes per test on a three-node cluster: make test-faults runs them"]
fn below_min_isr_the_replay_waits_and_goes_on_when_a_node_returns() {
    let _c = whole_cluster();
    let (jt, tt) = topics("isr");
    let mut replay = replay_under_way(&jt, &tt, 60_000);
    // (Counted before: with one node of three, partitions led by the others have no leader,
    // and their offsets cannot be read either.)
    let stalled = records(&tt);
    cluster(&["kill-node", "2"]);
    cluster(&["kill-node", "3"]);
    // One node of three: no quorum, and no partition has two in-sync replicas. The replay must
    // neither fail nor write: it waits.
    keeps_running(
        &mut replay.0,
        Duration::from_secs(15),
        "while two of three nodes were down",
    );
    cluster(&["start-node", "2"]);
    assert!(
        wait_records(&tt, stalled + 30_000, &mut replay.0),
        "the replay ended before writing after a node returned"
    );
    cluster(&["start-node", "3"]);
    let err = replay_succeeds(replay);
    assert!(
        err.contains("unreachable") || err.contains("min.insync.replicas"),
        "the replay says why it waits: {err}"
    );
    verified_then_deleted(&jt, &tt);
}

#[test]
#[ignore = "minutes per test on a three-node cluster: make test-faults runs them"]
fn resume_reads_every_tail_through_a_failover() {
    let _c = whole_cluster();
    let (jt, tt) = topics("res");
    let mut replay = replay_under_way(&jt, &tt, 100_000);
    interrupt(&replay.0);
    let (ok, _, err) = finish(replay.take(), Duration::from_secs(60));
    assert!(!ok && err.contains("resume with --resume"), "{err}");
    // The leader of the busiest partition dies just before the resume reads the tails.
    let p = busiest_partition(&tt);
    let leader = cluster(&["kill-leader", &tt, &p.to_string()]);
    let (j, t, _) = trace();
    let out = tp()
        .args(["replay", "--resume", "--jobs", s(&j), "--tasks", s(&t)])
        .args([
            "--job-topic",
            &jt,
            "--task-topic",
            &tt,
            "--progress",
            "quiet",
        ])
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "resume failed: {so}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(so.contains("resumed at seq"), "{so}");
    cluster(&["start-node", &leader]);
    verified_then_deleted(&jt, &tt);
}
