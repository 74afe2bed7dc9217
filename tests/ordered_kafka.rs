//! Exact global order for consumers, on the real broker.

mod common;
use common::*;
use std::io::BufRead;
use std::process::Stdio;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracepipe::config::KafkaSettings;
use tracepipe::consume::{ConsumeOptions, OrderedConsumer};
use tracepipe::merge::TraceSource;
use tracepipe::replay::{self, ReplayOptions};

fn settings(jt: &str, tt: &str) -> KafkaSettings {
    KafkaSettings {
        bootstrap: bootstrap(),
        job_topic: jt.into(),
        task_topic: tt.into(),
        ..Default::default()
    }
}

#[test]
fn real_sample_verifies_in_exact_global_order() {
    let (jt, tt) = (unique("ord-jobs"), unique("ord-tasks"));
    replay(
        (&sample_jobs(), &sample_tasks()),
        &jt,
        &tt,
        &["--partitions", "12"],
    );
    let s = verify(&sample_jobs(), &sample_tasks(), &jt, &tt);
    assert!(s.contains("OK: 541725 events in exact global order"), "{s}");
}

#[test]
fn verify_reports_missing_events_as_divergence() {
    // Replay only the first 90 minutes, then verify against all of the sample.
    let (jt, tt) = (unique("div-jobs"), unique("div-tasks"));
    replay(
        (&sample_jobs(), &sample_tasks()),
        &jt,
        &tt,
        &["--to", "90m"],
    );
    let out = tracepipe()
        .args(["verify", "--jobs"])
        .arg(sample_jobs())
        .arg("--tasks")
        .arg(sample_tasks())
        .args(["--job-topic", &jt, "--task-topic", &tt])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("DIVERGENCE at position"), "{s}");
    assert!(
        s.contains("got:      end of stream (missing events)"),
        "{s}"
    );
}

#[test]
fn thousands_of_events_at_one_time_come_out_in_seq_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..5000u64 {
        // 5000 tasks of 500 jobs, all at t = 1000 s: SUBMIT rows in file order.
        lines.push(format!(
            "1000000000,,{},{},,0,u,0,1,0.01,0.01,0,0",
            5_000_000_000 + i % 500,
            i
        ));
    }
    let tasks = dir.path().join("tasks");
    write_part(&tasks, 0, &lines);
    let (jt, tt) = (unique("tie-jobs"), unique("tie-tasks"));
    run_ok(&[
        "replay",
        "--tasks",
        tasks.to_str().unwrap(),
        "--job-topic",
        &jt,
        "--task-topic",
        &tt,
        "--progress",
        "quiet",
    ]);
    let out = dir.path().join("out.jsonl");
    run_ok(&[
        "consume",
        "--ordered",
        "--job-topic",
        &jt,
        "--task-topic",
        &tt,
        "--out",
        out.to_str().unwrap(),
    ]);
    let seqs: Vec<u64> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (0..5000).collect::<Vec<_>>());
}

#[test]
fn sparse_paced_replay_keeps_flowing() {
    // Three jobs: most of the 24 partitions stay idle for the whole replay.
    let dir = tempfile::tempdir().unwrap();
    run_ok(&[
        "generate",
        "--out",
        dir.path().to_str().unwrap(),
        "--jobs",
        "3",
        "--tasks-per-job",
        "20",
        "--machines",
        "10",
        "--parts",
        "2",
        "--duration",
        "20m",
        "--seed",
        "7",
    ]);
    let (jt, tt) = (unique("sparse-jobs"), unique("sparse-tasks"));
    let source = TraceSource {
        jobs: Some(dir.path().join("job_events").into()),
        tasks: Some(dir.path().join("task_events").into()),
        ..Default::default()
    };
    let total = source.open().unwrap().count() as u64;
    let mut opts = ReplayOptions::new(source, settings(&jt, &tt));
    opts.speed = Some(300.0); // 20 trace minutes in about 4 s
    tracepipe::kafka::ensure_topics(&opts.kafka).unwrap();
    let mut consumer = OrderedConsumer::new(ConsumeOptions {
        idle_timeout: Some(Duration::from_secs(30)),
        ..ConsumeOptions::new(opts.kafka.clone())
    })
    .unwrap();
    let replayer = std::thread::spawn(move || replay::run(&opts, Arc::new(AtomicBool::new(false))));
    let mut lags = Vec::new();
    let mut n = 0u64;
    for ev in &mut consumer {
        let ev = ev.unwrap();
        assert_eq!(ev.seq, n);
        n += 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        lags.push(now - ev.timestamp_ms.unwrap());
    }
    let summary = replayer.join().unwrap().unwrap();
    assert_eq!(n, total);
    assert_eq!(summary.events, total);
    assert!(summary.marks > 0, "idle partitions got watermarks");
    lags.sort_unstable();
    let p99 = lags[lags.len() * 99 / 100];
    let max = *lags.last().unwrap();
    // One watermark interval (100 ms) plus broker latency; generous for a loaded CI machine.
    assert!(max < 2000, "release lag max {max} ms (p99 {p99} ms)");
}

#[test]
fn consumer_stopped_and_restarted_with_its_group_loses_and_duplicates_nothing() {
    let (jt, tt) = (unique("grp-jobs"), unique("grp-tasks"));
    replay((&sample_jobs(), &sample_tasks()), &jt, &tt, &[]);
    let dir = tempfile::tempdir().unwrap();
    let group = unique("grp");
    let first = dir.path().join("first.jsonl");
    let mut child = tracepipe()
        .args([
            "consume",
            "--job-topic",
            &jt,
            "--task-topic",
            &tt,
            "--group",
            &group,
            "--out",
        ])
        .arg(&first)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGTERM) once it is well into the stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let len = std::fs::metadata(&first).map(|m| m.len()).unwrap_or(0);
        if len > 20_000_000 {
            break;
        }
        assert!(Instant::now() < deadline, "consumer made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "consumer ended before it was killed"
        );
        std::thread::yield_now();
    }
    unsafe_kill(child.id());
    child.wait().unwrap();
    let second = dir.path().join("second.jsonl");
    run_ok(&[
        "consume",
        "--job-topic",
        &jt,
        "--task-topic",
        &tt,
        "--group",
        &group,
        "--out",
        second.to_str().unwrap(),
    ]);
    let mut seqs = Vec::new();
    for f in [&first, &second] {
        for l in std::io::BufReader::new(std::fs::File::open(f).unwrap()).lines() {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            seqs.push(v["seq"].as_u64().unwrap());
        }
    }
    let first_len = std::io::BufReader::new(std::fs::File::open(&first).unwrap())
        .lines()
        .count();
    assert!(
        first_len > 0 && first_len < 541_725,
        "killed in the middle ({first_len})"
    );
    assert_eq!(seqs, (0..541_725).collect::<Vec<_>>());
}

fn unsafe_kill(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn resume_continues_after_the_last_seq_in_the_topics() {
    let (jt, tt) = (unique("res-jobs"), unique("res-tasks"));
    // First run stops early; the resumed one writes the rest; verify sees one stream.
    let out = replay(
        (&sample_jobs(), &sample_tasks()),
        &jt,
        &tt,
        &["--to", "60m"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("seq 0.."));
    let out = replay((&sample_jobs(), &sample_tasks()), &jt, &tt, &["--resume"]);
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !s.contains("seq 0.."),
        "resumed run starts after the first: {s}"
    );
    let v = verify(&sample_jobs(), &sample_tasks(), &jt, &tt);
    assert!(v.contains("OK: 541725 events"), "{v}");
}

/// Fresh consumers, one after another, each read a small pair of topics to the end. Each
/// partition here fits in one fetch, so a consumer that loses its first fetch loses the
/// partition's end mark and never ends (the idle timeout makes that an error). That happened
/// in CI while the consumer assigned its partitions before splitting off their queues: the
/// first fetch could land on the main queue, which is never read.
#[test]
fn every_fresh_consumer_reads_small_topics_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, tasks) = generate(
        &dir.path().join("gen"),
        &[
            "--jobs",
            "40",
            "--parts",
            "1",
            "--duration",
            "1h",
            "--seed",
            "5",
        ],
    );
    let n = TraceSource {
        jobs: Some(jobs.clone().into()),
        tasks: Some(tasks.clone().into()),
        ..Default::default()
    }
    .open()
    .unwrap()
    .count() as u64;
    assert!(n > 100, "{n} events only");
    let (jt, tt) = (unique("fresh-jobs"), unique("fresh-tasks"));
    replay((&jobs, &tasks), &jt, &tt, &[]);
    for i in 0..25 {
        let mut opts = ConsumeOptions::new(settings(&jt, &tt));
        opts.idle_timeout = Some(Duration::from_secs(20));
        let seqs: Vec<u64> = OrderedConsumer::new(opts)
            .unwrap()
            .map(|e| e.unwrap_or_else(|e| panic!("consumer {i}: {e}")).seq)
            .collect();
        assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "consumer {i}");
    }
}

/// Ctrl-C ends a following consumer that is waiting for more, with its summary and exit 0.
#[test]
fn ctrl_c_ends_a_following_consumer_that_waits() {
    let (jt, tt) = (unique("int-jobs"), unique("int-tasks"));
    let jobs = sample_jobs();
    run_ok(&[
        "replay",
        "--jobs",
        jobs.to_str().unwrap(),
        "--job-topic",
        &jt,
        "--task-topic",
        &tt,
        "--progress",
        "quiet",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut child = tracepipe()
        .args([
            "consume",
            "--follow",
            "--job-topic",
            &jt,
            "--task-topic",
            &tt,
        ])
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Every event is out (the writer flushes when it waits): it now waits for more.
    let deadline = Instant::now() + Duration::from_secs(60);
    let lines = || std::fs::read(&out).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
    while lines() < 13_803 {
        assert!(Instant::now() < deadline, "only {} lines", lines());
        assert!(child.try_wait().unwrap().is_none(), "consumer exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: sends SIGINT to our own child process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running 20 s after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("consumed 13803 events in order"), "{err}");
}
