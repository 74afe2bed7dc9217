//! `machine_events` as the third table, through the real local broker: the machine topic's
//! records, the three-topic ordered stream (`verify`, `consume`) and `--resume`.

mod common;
use common::*;
use std::collections::HashSet;
use tracepipe::merge::TraceSource;
use tracepipe::trace::{Record, Table};
use tracepipe::wire;

fn sample_machines() -> std::path::PathBuf {
    repo().join("sample/machine_events")
}

/// `replay` of the sample with machines into the three topics; stdout.
fn replay3(jt: &str, tt: &str, mt: &str, extra: &[&str]) -> String {
    let (j, t, m) = (sample_jobs(), sample_tasks(), sample_machines());
    let mut args = vec![
        "replay",
        "--jobs",
        j.to_str().unwrap(),
        "--tasks",
        t.to_str().unwrap(),
        "--machines",
        m.to_str().unwrap(),
        "--job-topic",
        jt,
        "--task-topic",
        tt,
        "--machine-topic",
        mt,
        "--progress",
        "quiet",
    ];
    args.extend_from_slice(extra);
    String::from_utf8_lossy(&run_ok(&args).stdout).into_owned()
}

/// The trace subcommands' shared flags for the three tables and topics.
fn three(jt: &str, tt: &str, mt: &str) -> Vec<String> {
    let (j, t, m) = (sample_jobs(), sample_tasks(), sample_machines());
    [
        "--jobs",
        j.to_str().unwrap(),
        "--tasks",
        t.to_str().unwrap(),
        "--machines",
        m.to_str().unwrap(),
        "--job-topic",
        jt,
        "--task-topic",
        tt,
        "--machine-topic",
        mt,
    ]
    .map(String::from)
    .to_vec()
}

fn run_strings(args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    String::from_utf8_lossy(&run_ok(&args).stdout).into_owned()
}

#[test]
fn machine_topic_holds_the_machine_rows_keyed_by_machine_id() {
    let (jt, tt, mt) = (unique("m-jobs"), unique("m-tasks"), unique("m-machines"));
    let to = "40m";
    let out = replay3(&jt, &tt, &mt, &["--to", to]);
    let source = TraceSource {
        jobs: Some(sample_jobs().into()),
        tasks: Some(sample_tasks().into()),
        machines: Some(sample_machines().into()),
        to: Some(40 * 60 * 1_000_000),
        ..Default::default()
    };
    let expected: Vec<Record> = source.open().unwrap().map(|e| e.unwrap().record).collect();
    let machine_rows = expected
        .iter()
        .filter(|r| r.table() == Table::Machine)
        .count();
    assert!(machine_rows > 12_000, "{machine_rows}");
    assert!(
        out.contains(&format!("{machine_rows} to {mt}")),
        "the summary names the machine topic: {out}"
    );

    let records = read_all(&mt);
    let (data, marks): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|r| r.header(wire::HEADER_MARK).is_none());
    assert_eq!(data.len(), machine_rows);
    let ends: HashSet<i32> = marks
        .iter()
        .filter(|m| m.header(wire::HEADER_MARK) == Some(b"end"))
        .map(|m| m.partition)
        .collect();
    assert_eq!(ends.len(), 12, "an end mark on every machine partition");
    for r in &data {
        let seq = r.header_u64(wire::HEADER_SEQ).expect("seq header") as usize;
        let got = wire::decode_record(Table::Machine, &r.value).expect("valid machine JSON");
        assert_eq!(got, expected[seq], "seq {seq}");
        assert_eq!(r.header_u64(wire::HEADER_TIME), Some(got.time()));
        let Record::Machine(m) = &got else {
            panic!("seq {seq} is not a machine row")
        };
        let key = r.key.as_deref().expect("a key");
        assert_eq!(key, m.machine_id.to_string().as_bytes());
        assert_eq!(r.partition, wire::partition_for_key(key, 12));
        // snake_case fields in schema order, nulls kept.
        let text = std::str::from_utf8(&r.value).unwrap();
        assert!(
            text.starts_with(&format!(
                "{{\"time\":{},\"machine_id\":{},\"event_type\":{},\"platform_id\":",
                m.time,
                m.machine_id,
                m.event_type.code()
            )),
            "{text}"
        );
        assert!(text.contains(",\"cpus\":") && text.contains(",\"memory\":"));
        if m.cpus.is_none() {
            assert!(text.contains("\"cpus\":null"), "{text}");
        }
    }
    // The job and task topics hold the rest, with their seqs.
    let other: usize = [&jt, &tt]
        .iter()
        .map(|t| {
            read_all(t)
                .iter()
                .filter(|r| r.header(wire::HEADER_MARK).is_none())
                .count()
        })
        .sum();
    assert_eq!(other + machine_rows, expected.len());
}

#[test]
fn three_topics_verify_consume_and_resume_as_one_stream() {
    let (jt, tt, mt) = (unique("m3-jobs"), unique("m3-tasks"), unique("m3-machines"));
    // First run stops at 30 trace minutes; the resumed one writes the rest after the last seq
    // found in the three topics.
    let first = replay3(&jt, &tt, &mt, &["--to", "30m"]);
    assert!(first.contains("seq 0.."), "{first}");
    let resumed = replay3(&jt, &tt, &mt, &["--resume"]);
    assert!(
        !resumed.contains("seq 0.."),
        "resumed after the first: {resumed}"
    );

    let total = TraceSource {
        jobs: Some(sample_jobs().into()),
        tasks: Some(sample_tasks().into()),
        machines: Some(sample_machines().into()),
        ..Default::default()
    }
    .open()
    .unwrap()
    .count();
    assert_eq!(total, 541_725 + 12_540);

    let mut args = vec!["verify".to_string()];
    args.extend(three(&jt, &tt, &mt));
    let v = run_strings(&args);
    assert!(v.contains(&format!("OK: {total} events")), "{v}");

    // Without --machines the same files make a verify fail: the stream has machine seqs.
    let out = tracepipe()
        .args([
            "verify",
            "--jobs",
            sample_jobs().to_str().unwrap(),
            "--tasks",
            sample_tasks().to_str().unwrap(),
            "--job-topic",
            &jt,
            "--task-topic",
            &tt,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a divergence, not a pass");
    assert!(String::from_utf8_lossy(&out.stdout).contains("DIVERGENCE at position 0"));

    // consume: the three topics in exact global order, machine rows named by their topic.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let mut args = vec!["consume".to_string()];
    args.extend(three(&jt, &tt, &mt));
    args.extend(["--out".into(), file.to_str().unwrap().into()]);
    args.extend(["--idle-timeout".into(), "60s".into()]);
    run_strings(&args);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut n = 0usize;
    let mut machines = 0usize;
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"].as_u64(), Some(i as u64), "line {i}");
        if v["topic"] == mt.as_str() {
            machines += 1;
            assert!(v["event"]["machine_id"].is_u64(), "{line}");
        }
        n += 1;
    }
    assert_eq!((n, machines), (total, 12_540));
}
