//! Replay into the real local broker and read it back with a plain consumer.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tracepipe::merge::TraceSource;
use tracepipe::trace::{Record, Table};
use tracepipe::wire;

#[test]
fn sample_round_trip_through_kafka() {
    let (jt, tt) = (unique("rt-jobs"), unique("rt-tasks"));
    let out = replay((&sample_jobs(), &sample_tasks()), &jt, &tt, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("replayed 541725 events"), "{stdout}");

    // The source, merged: seq -> record.
    let source = TraceSource {
        jobs: Some(sample_jobs().into()),
        tasks: Some(sample_tasks().into()),
        ..Default::default()
    };
    let expected: Vec<Record> = source.open().unwrap().map(|e| e.unwrap().record).collect();
    let n = expected.len();
    let job_rows = expected.iter().filter(|r| r.table() == Table::Job).count();

    let mut seen = vec![false; n];
    for (topic, table, rows) in [
        (&jt, Table::Job, job_rows),
        (&tt, Table::Task, n - job_rows),
    ] {
        let records = read_all(topic);
        let (data, marks): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|r| r.header(wire::HEADER_MARK).is_none());
        assert_eq!(data.len(), rows, "{topic}: record count = source rows");
        // 12 partitions, each ends with an end-of-stream mark; marks have no key.
        let ends: HashSet<i32> = marks
            .iter()
            .filter(|m| m.header(wire::HEADER_MARK) == Some(b"end"))
            .map(|m| m.partition)
            .collect();
        assert_eq!(ends.len(), 12, "{topic}: an end mark on every partition");
        assert!(marks.iter().all(|m| m.key.is_none()));
        assert!(marks.iter().all(|m| wire::Mark::decode(&m.value).is_some()));

        let mut last: HashMap<i32, (u64, u64)> = HashMap::new();
        let mut job_partition: HashMap<u64, i32> = HashMap::new();
        let mut by_offset = data.clone();
        by_offset.sort_by_key(|r| (r.partition, r.offset));
        for r in &by_offset {
            let seq = r.header_u64(wire::HEADER_SEQ).expect("seq header");
            let time = r.header_u64(wire::HEADER_TIME).expect("time header");
            assert!((seq as usize) < n, "seq {seq} out of range");
            assert!(!seen[seq as usize], "seq {seq} twice");
            seen[seq as usize] = true;
            // The value equals its source row, and lands in the source row's table topic.
            let got = wire::decode_record(table, &r.value).expect("valid JSON");
            assert_eq!(got, expected[seq as usize], "seq {seq}");
            assert_eq!(time, got.time());
            // Key = job ID; partition = Kafka's murmur2 of the key; one partition per job.
            let key = r.key.as_deref().expect("data records have a key");
            assert_eq!(key, got.key_id().to_string().as_bytes());
            assert_eq!(r.partition, wire::partition_for_key(key, 12));
            let p = *job_partition.entry(got.key_id()).or_insert(r.partition);
            assert_eq!(p, r.partition, "job {} in two partitions", got.key_id());
            // Within a partition (time, seq) increases.
            if let Some(prev) = last.insert(r.partition, (time, seq)) {
                assert!(
                    prev < (time, seq),
                    "partition {}: {prev:?} then {:?}",
                    r.partition,
                    (time, seq)
                );
            }
            // Record timestamps are wall-clock send times, not 2011.
            let ts = r.timestamp_ms.expect("timestamp");
            assert!(
                ts > 1_600_000_000_000,
                "timestamp {ts} is not a recent wall-clock time"
            );
        }
    }
    assert!(seen.iter().all(|s| *s), "seq values are exactly 0..N-1");
}

#[test]
fn unreachable_broker_is_a_clear_error_within_seconds() {
    let started = Instant::now();
    let out = tracepipe()
        .args(["replay", "--tasks"])
        .arg(sample_tasks())
        .args(["--bootstrap", "127.0.0.1:1", "--progress", "quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach Kafka at 127.0.0.1:1"), "{err}");
    // One error line with its cause, not librdkafka's raw retry log.
    assert!(!err.contains("librdkafka"), "{err}");
    assert!(err.lines().count() <= 3, "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn bad_row_stops_with_file_line_and_field_and_skip_counts() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("task_events");
    let good = "0,,3418309,0,4155527081,0,70s3v5qRyCO/1PCdI6fVXnrW8FU/w+5CKRSa72xgcIo=,3,9,,,,";
    write_part(
        &tasks,
        0,
        &[
            good.to_string(),
            "5,,3418309,1,notanumber,1,u,3,9,0.1,0.1,0,0".to_string(),
            "7,,3418309,2,,0,u,3,9,,,".to_string(),
            good.replacen("0,", "9,", 1),
        ],
    );
    let (jt, tt) = (unique("bad-jobs"), unique("bad-tasks"));
    let out = tracepipe()
        .args([
            "replay",
            "--tasks",
            tasks.to_str().unwrap(),
            "--job-topic",
            &jt,
            "--task-topic",
            &tt,
            "--progress",
            "quiet",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("part-00000-of-00500.csv.gz:2: field `machine ID`: not an unsigned 64-bit integer: \"notanumber\""),
        "{err}"
    );

    let (jt, tt) = (unique("skip-jobs"), unique("skip-tasks"));
    let out = tracepipe()
        .args([
            "replay",
            "--on-error",
            "skip",
            "--tasks",
            tasks.to_str().unwrap(),
            "--job-topic",
            &jt,
            "--task-topic",
            &tt,
            "--progress",
            "quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("replayed 2 events"), "{s}");
    assert!(
        s.contains("skipped 2 bad rows (field_count: 1, invalid_value: 1)"),
        "{s}"
    );
}

/// Every codec the replay offers works end to end: the broker accepts the batches and the
/// ordered consumer decodes them (zstd needs librdkafka built with it).
#[test]
fn every_compression_codec_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, tasks) = generate(
        &dir.path().join("gen"),
        &[
            "--jobs",
            "40",
            "--parts",
            "2",
            "--duration",
            "1h",
            "--seed",
            "3",
        ],
    );
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        // Shown with the output of a failing step (run_ok panics without the codec).
        eprintln!("codec {codec}");
        let (jt, tt) = (unique("codec-jobs"), unique("codec-tasks"));
        replay((&jobs, &tasks), &jt, &tt, &["--compression", codec]);
        let s = verify(&jobs, &tasks, &jt, &tt);
        assert!(s.starts_with("OK: "), "{codec}: {s}");
    }
}

/// `tracepipe topics`: one line per partition in `kafka-topics.sh --describe`'s layout, with
/// the leader, replicas and in-sync replicas from the broker; a missing topic is an error.
#[test]
fn topics_describes_every_partition() {
    let (jt, tt) = (unique("desc-jobs"), unique("desc-tasks"));
    // `--to 1`: creates the topics (12 partitions each) and sends only the end marks.
    replay((&sample_jobs(), &sample_tasks()), &jt, &tt, &["--to", "1"]);
    let out = run_ok(&["topics", "--topic", &jt, "--topic", &tt]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 24, "{text}");
    for (i, line) in lines.iter().enumerate() {
        let (topic, p) = if i < 12 { (&jt, i) } else { (&tt, i - 12) };
        let fields: Vec<&str> = line.trim().split('\t').collect();
        assert_eq!(fields[0], format!("Topic: {topic}"), "{line}");
        assert_eq!(fields[1], format!("Partition: {p}"), "{line}");
        // One broker: it leads every partition, the only replica, in sync.
        let leader = fields[2].strip_prefix("Leader: ").expect(line);
        assert!(leader.parse::<i32>().is_ok(), "{line}");
        assert_eq!(fields[3], format!("Replicas: {leader}"), "{line}");
        assert_eq!(fields[4], format!("Isr: {leader}"), "{line}");
    }
    let out = run_ok(&["topics", "--topic", &jt, "--under-replicated"]);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let missing = unique("desc-missing");
    let out = tracepipe()
        .args(["topics", "--topic", &missing])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("topic {missing}")), "{err}");
}
