//! The broker is killed (kill -9) and restarted during a replay: the idempotent producer
//! retries, and the ordered stream is still exact. Its own test binary, because it takes the
//! shared local broker away for a few seconds (cargo runs test binaries one at a time).

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stack(cmd: &str) {
    let ok = Command::new("bash")
        .arg(repo().join("scripts/stack.sh"))
        .arg(cmd)
        .status()
        .expect("run scripts/stack.sh");
    assert!(ok.success(), "scripts/stack.sh {cmd} failed");
}

#[test]
fn replay_survives_a_broker_crash_and_verify_is_ok() {
    let (jt, tt) = (unique("crash-jobs"), unique("crash-tasks"));
    // Paced so that the crash happens in the middle: about 10 s of replay.
    let mut child = tracepipe()
        .args(["replay", "--jobs"])
        .arg(sample_jobs())
        .arg("--tasks")
        .arg(sample_tasks())
        .args([
            "--job-topic",
            &jt,
            "--task-topic",
            &tt,
            "--speed",
            "1000",
            "--progress",
            "quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the replay has produced into the topic, then crash the broker.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "replay did not start producing");
        assert!(
            child.try_wait().unwrap().is_none(),
            "replay ended before the crash"
        );
        if topic_has_records(&tt, 10_000) {
            break;
        }
    }
    stack("kill-kafka");
    stack("start-kafka");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "replay failed after the broker restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = run_ok(&[
        "verify",
        "--jobs",
        sample_jobs().to_str().unwrap(),
        "--tasks",
        sample_tasks().to_str().unwrap(),
        "--job-topic",
        &jt,
        "--task-topic",
        &tt,
    ]);
    let s = String::from_utf8_lossy(&v.stdout);
    assert!(s.contains("OK: 541725 events in exact global order"), "{s}");
}

fn topic_has_records(topic: &str, n: i64) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = match rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
    {
        Ok(c) => c,
        Err(_) => return false,
    };
    (0..12)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(2))
                .map_or(0, |(lo, hi)| hi - lo)
        })
        .sum::<i64>()
        >= n
}
