//! Per-machine windows through Kafka and from the files.

mod common;
use common::*;

fn aggregate(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.jsonl");
    let mut a = vec!["aggregate", "--no-metrics", "--out", out.to_str().unwrap()];
    a.extend_from_slice(args);
    run_ok(&a);
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn windows_through_kafka_equal_windows_from_files() {
    let (jt, tt) = (unique("agg-jobs"), unique("agg-tasks"));
    replay((&sample_jobs(), &sample_tasks()), &jt, &tt, &[]);
    let (j, t) = (sample_jobs(), sample_tasks());
    let files = aggregate(&[
        "--from-files",
        "--jobs",
        j.to_str().unwrap(),
        "--tasks",
        t.to_str().unwrap(),
    ]);
    let kafka = aggregate(&["--job-topic", &jt, "--task-topic", &tt]);
    assert_eq!(files.lines().count(), 152_242);
    assert!(files == kafka, "Kafka and file windows differ");
}

#[test]
fn allocation_is_never_negative_and_zero_when_every_task_ended() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(&[
        "generate",
        "--out",
        dir.path().to_str().unwrap(),
        "--jobs",
        "400",
        "--machines",
        "50",
        "--parts",
        "3",
        "--duration",
        "3h",
        "--seed",
        "11",
    ]);
    let j = dir.path().join("job_events");
    let t = dir.path().join("task_events");
    let lines = aggregate(&[
        "--from-files",
        "--jobs",
        j.to_str().unwrap(),
        "--tasks",
        t.to_str().unwrap(),
    ]);
    let mut last_cell = None;
    let mut machine_lines = 0;
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        for f in ["allocated_cpu", "allocated_memory"] {
            let x = v[f].as_f64().unwrap();
            assert!(x >= 0.0, "negative {f}: {l}");
        }
        if v["kind"] == "cell" {
            last_cell = Some(v);
        } else {
            machine_lines += 1;
            assert!(
                v["peak_allocated_cpu"].as_f64().unwrap() >= v["allocated_cpu"].as_f64().unwrap()
            );
        }
    }
    assert!(machine_lines > 100);
    let c = last_cell.expect("cell lines");
    assert_eq!(c["allocated_cpu"].as_f64(), Some(0.0), "{c}");
    assert_eq!(c["allocated_memory"].as_f64(), Some(0.0), "{c}");
    assert_eq!(c["running_tasks"].as_u64(), Some(0), "{c}");
}

fn fails_with(args: &[&str], needle: &str) {
    let out = tracepipe().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err}"
    );
}

#[test]
fn bad_arguments_give_clear_errors() {
    let t = sample_tasks();
    let t = t.to_str().unwrap();
    fails_with(
        &[
            "aggregate",
            "--from-files",
            "--tasks",
            t,
            "--window",
            "0",
            "--no-metrics",
        ],
        "for '--window <WINDOW>': duration \"0\" must be positive",
    );
    fails_with(
        &[
            "aggregate",
            "--from-files",
            "--tasks",
            t,
            "--out",
            "/nonexistent-dir/w.jsonl",
            "--no-metrics",
        ],
        "--out /nonexistent-dir/w.jsonl: cannot create",
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    fails_with(
        &[
            "aggregate",
            "--from-files",
            "--tasks",
            t,
            "--metrics-addr",
            &addr,
        ],
        &format!("cannot serve metrics on {addr}"),
    );
    fails_with(
        &["aggregate", "--from-files", "--no-metrics"],
        "give --jobs, --tasks and/or --machines",
    );
}
