//! `tracepipe download` and streamed parts against a real local HTTP server that serves the
//! bundled sample in the public bucket's layout (tests/common/bucket.rs).

mod common;

use common::bucket::{Bucket, Fault};
use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn bucket() -> Bucket {
    Bucket::serve(
        &repo().join("sample"),
        &["job_events", "task_events", "machine_events"],
    )
}

fn download(b: &Bucket, out: &Path, extra: &[&str]) -> Output {
    let mut c = tracepipe();
    c.args([
        "download",
        "--out",
        out.to_str().unwrap(),
        "--base-url",
        &b.base_url,
    ])
    .args(extra)
    .env("TRACEPIPE_HTTP_BACKOFF_MS", "20");
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "download failed: {}\n{err}", o.status);
    err
}

fn failed(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "download should have failed:\n{err}");
    err
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// Every served part is on disk with the served bytes, and nothing else is.
fn assert_complete(b: &Bucket, out: &Path) {
    for p in b.parts() {
        assert_eq!(std::fs::read(out.join(&p)).unwrap(), b.file(&p), "{p}");
    }
    for t in ["job_events", "task_events", "machine_events"] {
        for e in std::fs::read_dir(out.join(t)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(name.ends_with(".csv.gz"), "left over: {t}/{name}");
        }
    }
}

#[test]
fn full_download_then_nothing_to_do() {
    let b = bucket();
    let out = tempfile::tempdir().unwrap();
    let s = out.path().join("summary.json");
    let err = ok(&download(
        &b,
        out.path(),
        &["--summary-json", s.to_str().unwrap()],
    ));
    assert_complete(&b, out.path());
    let sm = summary(out.path());
    assert_eq!(sm["files"], 5);
    assert_eq!(sm["fetched"], 5);
    assert!(err.contains("download: 5 files in"), "{err}");

    // Idempotent: verified files are skipped, only SHA256SUM is asked for again.
    let before = b.requests().len();
    ok(&download(
        &b,
        out.path(),
        &["--summary-json", s.to_str().unwrap()],
    ));
    let sm = summary(out.path());
    assert_eq!(
        (sm["fetched"].as_u64(), sm["already_verified"].as_u64()),
        (Some(0), Some(5))
    );
    let again: Vec<_> = b.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(again, vec!["SHA256SUM"]);

    // A file changed on disk is fetched again.
    let p = out.path().join("job_events/part-00001-of-00500.csv.gz");
    std::fs::write(&p, b"not the part").unwrap();
    let err = ok(&download(
        &b,
        out.path(),
        &["--summary-json", s.to_str().unwrap()],
    ));
    assert!(err.contains("fetching it again"), "{err}");
    assert_eq!(summary(out.path())["fetched"], 1);
    assert_complete(&b, out.path());
}

#[test]
fn tables_and_parts_select_what_is_fetched() {
    let b = bucket();
    let out = tempfile::tempdir().unwrap();
    ok(&download(
        &b,
        out.path(),
        &["--tables", "task_events", "--parts", "1..1"],
    ));
    let names: Vec<_> = std::fs::read_dir(out.path().join("task_events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["part-00001-of-00500.csv.gz"]);
    assert!(!out.path().join("job_events").exists());
}

#[test]
fn a_cut_transfer_resumes_at_its_byte_offset() {
    let b = bucket();
    let part = "task_events/part-00000-of-00500.csv.gz";
    b.fault(part, Fault::cut_after(100_000));
    let out = tempfile::tempdir().unwrap();
    let s = out.path().join("summary.json");
    ok(&download(
        &b,
        out.path(),
        &["--summary-json", s.to_str().unwrap()],
    ));
    assert_complete(&b, out.path());
    let asks: Vec<_> = b
        .requests()
        .into_iter()
        .filter(|r| r.path == part)
        .collect();
    assert_eq!(asks.len(), 2, "{asks:?}");
    assert_eq!(
        asks[1].range_from,
        Some(100_000),
        "resumed where the cut was: {asks:?}"
    );
    assert_eq!(asks[1].status, 206);
    assert_eq!(summary(out.path())["resumed"], 1);
}

#[test]
fn an_incomplete_file_of_an_earlier_run_is_continued() {
    let b = bucket();
    let part = "job_events/part-00000-of-00500.csv.gz";
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(out.path().join("job_events")).unwrap();
    std::fs::write(
        out.path().join(format!("{part}.incomplete")),
        &b.file(part)[..50_000],
    )
    .unwrap();
    let err = ok(&download(&b, out.path(), &["--tables", "job_events"]));
    assert!(err.contains("resuming at byte 50000"), "{err}");
    let asks: Vec<_> = b
        .requests()
        .into_iter()
        .filter(|r| r.path == part)
        .collect();
    assert_eq!(asks.len(), 1);
    assert_eq!(asks[0].range_from, Some(50_000));
    assert_eq!(std::fs::read(out.path().join(part)).unwrap(), b.file(part));
}

#[test]
fn a_corrupted_file_is_caught_named_and_removed() {
    let b = bucket();
    let part = "job_events/part-00001-of-00500.csv.gz";
    let mut bad = b.file(part);
    bad[1000] ^= 0x55;
    b.goog_hash(false);
    b.fault(
        part,
        Fault {
            body: Some(bad),
            ..Fault::default()
        },
    );
    let out = tempfile::tempdir().unwrap();
    let err = failed(&download(&b, out.path(), &["--tables", "job_events"]));
    let final_path = out.path().join(part);
    assert!(
        err.contains(&format!(
            "{}: sha256 mismatch: expected ",
            final_path.display()
        )),
        "{err}"
    );
    assert!(err.contains("(the bad copy was removed)"), "{err}");
    assert!(!final_path.exists());
    assert!(!out.path().join(format!("{part}.incomplete")).exists());
}

#[test]
fn x_goog_hash_is_checked_too() {
    let b = bucket();
    let part = "job_events/part-00000-of-00500.csv.gz";
    b.fault(
        part,
        Fault {
            crc32c: Some("AAAAAA==".into()),
            ..Fault::default()
        },
    );
    let out = tempfile::tempdir().unwrap();
    let err = failed(&download(&b, out.path(), &["--tables", "job_events"]));
    assert!(
        err.contains("crc32c (x-goog-hash) mismatch: expected AAAAAA==, got "),
        "{err}"
    );
    assert!(!out.path().join(part).exists());
}

#[test]
fn parallel_transfers() {
    let b = bucket();
    // Paced so that the transfers overlap.
    b.pace(2_000_000);
    let out = tempfile::tempdir().unwrap();
    // Four files for four transfers: all at once, and never more (a fifth file could start
    // while the server still counts the connection that just ended).
    ok(&download(
        &b,
        out.path(),
        &["--parallel", "4", "--tables", "job_events,task_events"],
    ));
    assert_eq!(b.max_concurrent(), 4);
    ok(&download(&b, out.path(), &["--parallel", "4"]));
    assert_complete(&b, out.path());
    let out = tempfile::tempdir().unwrap();
    ok(&download(&b, out.path(), &["--parallel", "1"]));
    assert_eq!(b.max_concurrent(), 4, "the maximum so far");
}

#[test]
fn not_found_and_server_errors() {
    let b = bucket();
    let out = tempfile::tempdir().unwrap();
    // A folder SHA256SUM does not list.
    let err = failed(&download(&b, out.path(), &["--tables", "task_usage"]));
    assert!(
        err.contains("SHA256SUM: lists no parts under `task_usage/`"),
        "{err}"
    );
    // A listed part the server does not have: 404 at once, no retries.
    let part = "job_events/part-00001-of-00500.csv.gz";
    b.remove(part);
    let err = failed(&download(&b, out.path(), &["--tables", "job_events"]));
    assert!(
        err.contains(&format!("{}: HTTP 404 (not found)", b.url(part))),
        "{err}"
    );
    assert_eq!(b.requests().iter().filter(|r| r.path == part).count(), 1);
    // A bucket without SHA256SUM.
    let b = bucket();
    b.remove("SHA256SUM");
    let err = failed(&download(&b, out.path(), &[]));
    assert!(err.contains("no SHA256SUM listing the parts of"), "{err}");

    // 500s are retried with backoff...
    let b = bucket();
    let part = "task_events/part-00001-of-00500.csv.gz";
    b.fault(
        part,
        Fault {
            statuses: [500, 503].into(),
            ..Fault::default()
        },
    );
    let out = tempfile::tempdir().unwrap();
    ok(&download(&b, out.path(), &[]));
    assert_complete(&b, out.path());
    let statuses: Vec<u16> = b
        .requests()
        .iter()
        .filter(|r| r.path == part)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![500, 503, 200]);
    // ... up to --retries.
    b.fault(
        part,
        Fault {
            always: Some(500),
            ..Fault::default()
        },
    );
    let out = tempfile::tempdir().unwrap();
    let err = failed(&download(&b, out.path(), &["--retries", "2"]));
    assert!(
        err.contains(&format!(
            "{}: gave up after 3 attempts: HTTP 500",
            b.url(part)
        )),
        "{err}"
    );
    assert!(!out.path().join(part).exists());
}

#[test]
fn ctrl_c_leaves_no_unverified_file_under_a_final_name() {
    let b = bucket();
    b.pace(400_000);
    let out = tempfile::tempdir().unwrap();
    let child = tracepipe()
        .args([
            "download",
            "--out",
            out.path().to_str().unwrap(),
            "--base-url",
            &b.base_url,
            "--parallel",
            "2",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        b.wait_body_bytes(300_000, Duration::from_secs(60)),
        "the download started"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted"));
    let mut incomplete = 0;
    for p in b.parts() {
        let final_path = out.path().join(&p);
        if final_path.exists() {
            assert_eq!(
                std::fs::read(&final_path).unwrap(),
                b.file(&p),
                "{p} is verified"
            );
        }
        incomplete += usize::from(out.path().join(format!("{p}.incomplete")).exists());
    }
    assert!(incomplete > 0, "a transfer was cut short");
    // The next run continues the partial files.
    b.pace(0);
    let before = b.requests().len();
    ok(&download(&b, out.path(), &[]));
    assert_complete(&b, out.path());
    assert!(b.requests()[before..]
        .iter()
        .any(|r| r.range_from.is_some_and(|f| f > 0)));
}

#[test]
fn streaming_from_the_bucket_equals_reading_the_folder() {
    let b = bucket();
    // A dropped connection mid-part resumes at its offset while streaming, too.
    let part = "task_events/part-00000-of-00500.csv.gz";
    b.fault(part, Fault::cut_after(70_000));
    let out = tempfile::tempdir().unwrap();
    let (from_url, from_dir) = (out.path().join("url.jsonl"), out.path().join("dir.jsonl"));
    let run = |jobs: &str, tasks: &str, path: &Path| {
        let o = tracepipe()
            .args([
                "aggregate",
                "--from-files",
                "--no-metrics",
                "--jobs",
                jobs,
                "--tasks",
                tasks,
                "--out",
            ])
            .arg(path)
            .env("TRACEPIPE_HTTP_BACKOFF_MS", "20")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&b.url("job_events"), &b.url("task_events/"), &from_url);
    run(
        sample_jobs().to_str().unwrap(),
        sample_tasks().to_str().unwrap(),
        &from_dir,
    );
    assert_eq!(
        std::fs::read(&from_url).unwrap(),
        std::fs::read(&from_dir).unwrap()
    );
    let asks: Vec<_> = b
        .requests()
        .into_iter()
        .filter(|r| r.path == part)
        .collect();
    assert_eq!(
        asks.iter().map(|r| r.range_from).collect::<Vec<_>>(),
        vec![None, Some(70_000)]
    );
}

#[test]
fn a_corrupted_part_stops_a_streamed_read() {
    let b = bucket();
    let part = "job_events/part-00001-of-00500.csv.gz";
    // The listed part plus one more valid row (its last row again, as a second gzip
    // member): every row passes, only the hash can tell.
    let mut body = b.file(part);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&body[..]), &mut text)
        .unwrap();
    let last = text.lines().last().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, format!("{last}\n").as_bytes()).unwrap();
    body.extend(gz.finish().unwrap());
    b.fault(
        part,
        Fault {
            body: Some(body),
            ..Fault::default()
        },
    );
    b.goog_hash(false);
    let o = tracepipe()
        .args([
            "aggregate",
            "--from-files",
            "--no-metrics",
            "--jobs",
            &b.url("job_events"),
            "--tasks",
            &b.url("task_events"),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!("{}: sha256 mismatch: expected ", b.url(part))),
        "{err}"
    );
}

#[test]
fn replay_from_the_bucket_verifies_against_the_folder() {
    let b = bucket();
    let (jt, tt) = (unique("url-jobs"), unique("url-tasks"));
    run_ok(&[
        "replay",
        "--jobs",
        &b.url("job_events"),
        "--tasks",
        &b.url("task_events"),
        "--job-topic",
        &jt,
        "--task-topic",
        &tt,
        "--progress",
        "quiet",
    ]);
    let report = verify(&sample_jobs(), &sample_tasks(), &jt, &tt);
    assert!(report.contains("OK"), "{report}");
}
