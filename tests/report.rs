//! `tracepipe report` end to end: windows of the bundled sample (aggregated from the files, no
//! Kafka), the HTML page opened in a real headless Chromium (Debian package `chromium`),
//! and the bad-input errors of the binary.

mod common;

use common::{run_ok, sample_jobs, sample_tasks, tracepipe};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The chart sections every report has, by element id.
const CHARTS: [&str; 5] = [
    "chart-allocation",
    "chart-tasks",
    "chart-events",
    "chart-evictions",
    "chart-heatmap",
];

/// A folder of this test binary's own under Cargo's target tmp dir.
fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The sample's windows, aggregated once for all tests.
fn sample_windows() -> &'static Path {
    static W: OnceLock<PathBuf> = OnceLock::new();
    W.get_or_init(|| {
        let out = work_dir("sample").join("windows.jsonl");
        run_ok(&[
            "aggregate",
            "--from-files",
            "--jobs",
            sample_jobs().to_str().unwrap(),
            "--tasks",
            sample_tasks().to_str().unwrap(),
            "--no-metrics",
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    })
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium not found on PATH: this test opens the report in a real browser; \
         install the Debian package `chromium` (apt-get install -y chromium)"
    );
}

/// Runs headless Chromium on `url` with a fresh profile, no name resolution at all (so no
/// request can leave the machine) and the given flags; returns its stdout. Its output goes to
/// files (a full pipe would block it), and it fails after 2 minutes rather than hanging.
fn run_chromium(dir: &Path, name: &str, url: &str, extra: &[&str]) -> String {
    let profile = dir.join(format!("profile-{name}"));
    let stdout = dir.join(format!("{name}.stdout"));
    let stderr = dir.join(format!("{name}.stderr"));
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--window-size=1280,3600",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(File::create(&stdout).unwrap())
    .stderr(File::create(&stderr).unwrap());
    let mut child = cmd.spawn().expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 2 minutes on {url} ({name})");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "chromium failed on {url} ({name}): {status}\n{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    std::fs::read_to_string(&stdout).unwrap()
}

/// URLs of the requests the page itself made (the browser's own background requests have
/// another network isolation key), from Chromium's net log.
fn page_requests(net_log: &Path) -> Vec<String> {
    let text = std::fs::read(net_log).expect("read the net log");
    let log: serde_json::Value = serde_json::from_slice(&text).expect("net log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("net log constants name URL_REQUEST_START_JOB");
    log["events"]
        .as_array()
        .expect("net log events")
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("file://"))
        })
        .map(|e| e["params"]["url"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Mean and variance of the luminance of an 8-bit RGB(A) PNG, and its size.
fn png_stats(path: &Path) -> (f64, f64, u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("screenshot exists"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let lum: Vec<f64> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    let var = lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64;
    (mean, var, info.width, info.height)
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.canonicalize().unwrap().display())
}

#[test]
fn sample_report_renders_in_chromium_without_network() {
    let dir = work_dir("chromium");
    let html = dir.join("report.html");
    let out = run_ok(&[
        "report",
        "--windows",
        sample_windows().to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
        "--title",
        "Sample <cell>",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("report: "), "{stdout}");
    assert!(stdout.contains(" windows, "), "{stdout}");

    // The page as written: self-contained, every chart an inline SVG.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<title>Sample &lt;cell&gt;</title>"));
    for id in CHARTS {
        let at = page
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no section {id}"));
        assert!(page[at..].find("<svg").is_some(), "no SVG after {id}");
    }
    assert!(!page.contains("<script"), "the page has a script");
    for scheme in ["http://", "https://", "//"] {
        let refs = page
            .match_indices(scheme)
            .filter(|(i, _)| !page[*i..].starts_with("http://www.w3.org/2000/svg"))
            .filter(|(i, _)| !(scheme == "//" && page[..*i].ends_with("http:")))
            .count();
        assert_eq!(
            refs, 0,
            "the page refers to {scheme} (other than the SVG namespace)"
        );
    }

    // Screenshot in a real browser, with a net log.
    let shot = dir.join("report.png");
    let net_log = dir.join("net-log.json");
    run_chromium(
        &dir,
        "screenshot",
        &file_url(&html),
        &[
            &format!("--screenshot={}", shot.display()),
            &format!("--log-net-log={}", net_log.display()),
        ],
    );
    let (mean, var, w, h) = png_stats(&shot);
    assert_eq!((w, h), (1280, 3600));
    // A blank page is one colour (variance 0); charts and text give thousands.
    assert!(
        var > 500.0,
        "screenshot looks blank: luminance mean {mean:.1}, variance {var:.1}"
    );
    assert!(mean > 100.0 && mean < 250.0, "luminance mean {mean:.1}");
    let requests = page_requests(&net_log);
    assert!(requests.is_empty(), "the page made requests: {requests:?}");

    // The DOM as the browser built it: every chart's SVG with drawn content.
    let dom = run_chromium(&dir, "dom", &file_url(&html), &["--dump-dom"]);
    for id in CHARTS {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no section {id} in the DOM"));
        let section = &dom[at..at + dom[at..].find("</section>").expect("section end")];
        let svg = &section[section
            .find("<svg")
            .unwrap_or_else(|| panic!("no <svg> in {id}"))..];
        let marks = svg.matches("<polyline").count() + svg.matches("<rect").count();
        assert!(marks >= 3, "{id}: the SVG draws nothing ({marks} marks)");
        assert!(svg.contains("</svg>"), "{id}: SVG not closed");
    }
    assert!(dom.contains("id=\"top-machines\""));
}

/// Windows written with machines: the page shows utilisation (allocated / capacity) instead
/// of raw units, with machines up and over-committed machines, and renders in the browser.
#[test]
fn sample_with_machines_shows_utilisation() {
    let dir = work_dir("machines");
    let windows = dir.join("windows.jsonl");
    run_ok(&[
        "aggregate",
        "--from-files",
        "--jobs",
        sample_jobs().to_str().unwrap(),
        "--tasks",
        sample_tasks().to_str().unwrap(),
        "--machines",
        common::repo()
            .join("sample/machine_events")
            .to_str()
            .unwrap(),
        "--no-metrics",
        "--out",
        windows.to_str().unwrap(),
    ]);
    let html = dir.join("report.html");
    run_ok(&[
        "report",
        "--windows",
        windows.to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    for text in [
        "<h2>Cell allocated CPU and memory / capacity</h2>",
        "<h2>Allocated CPU / capacity per machine</h2>",
        "<th>peak allocated CPU / capacity</th>",
        "<th>machines up</th>",
        "<th>over-committed machines</th>",
        "mean CPU / capacity",
    ] {
        assert!(page.contains(text), "{text} missing");
    }
    // The sample's cell is over-committed by requests: the peak fraction is above 1.
    let at = page
        .find("<th>peak allocated CPU / capacity</th><td>")
        .unwrap();
    let value: f64 = page[at..]
        .split("<td>")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("a number");
    assert!(value > 1.0 && value < 3.0, "peak fraction {value}");
    let shot = dir.join("report.png");
    run_chromium(
        &dir,
        "screenshot",
        &file_url(&html),
        &[&format!("--screenshot={}", shot.display())],
    );
    let (mean, var, _, _) = png_stats(&shot);
    assert!(var > 500.0, "screenshot looks blank: {mean:.1} / {var:.1}");
}

/// The network check can fail: a page with an image on another host shows up in the net log
/// (the host resolves to nothing, so no packet leaves).
#[test]
fn the_net_log_check_sees_a_page_request() {
    let dir = work_dir("control");
    let page = dir.join("remote.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>x</p><img src=\"http://report-test.invalid/x.png\"></body></html>",
    )
    .unwrap();
    let net_log = dir.join("net-log.json");
    let shot = dir.join("remote.png");
    run_chromium(
        &dir,
        "control",
        &file_url(&page),
        &[
            &format!("--screenshot={}", shot.display()),
            &format!("--log-net-log={}", net_log.display()),
        ],
    );
    assert_eq!(
        page_requests(&net_log),
        ["http://report-test.invalid/x.png"]
    );
}

fn report_err(windows: &Path) -> String {
    let html = windows.with_extension("html");
    let out = tracepipe()
        .args(["report", "--windows", windows.to_str().unwrap()])
        .args(["--out", html.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2 for {}",
        windows.display()
    );
    assert!(!html.exists(), "no page is written for bad input");
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

#[test]
fn bad_input_names_file_and_line() {
    let dir = work_dir("bad");
    let name = |f: &str| dir.join(f);

    // The trace itself is not a windows file.
    let csv = name("not-windows.csv");
    std::fs::write(
        &csv,
        "0,,3418309,0,,0,70s3v5qRyCO/1PCdI6fVXnrW8FU/w+5CKRSa72xgcIo=,3\n",
    )
    .unwrap();
    let e = report_err(&csv);
    assert!(
        e.starts_with(&format!("error: {}:1: not a windows file: ", csv.display())),
        "{e}"
    );

    let empty = name("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(
        report_err(&empty),
        format!(
            "error: {}: empty file: no window lines (write them with `tracepipe aggregate --out FILE`)",
            empty.display()
        )
    );

    // The sample's windows cut in the middle of line 1000.
    let text = std::fs::read_to_string(sample_windows()).unwrap();
    let offset: usize = text.lines().take(999).map(|l| l.len() + 1).sum::<usize>() + 40;
    let cut = name("cut.jsonl");
    std::fs::write(&cut, &text[..offset]).unwrap();
    let e = report_err(&cut);
    assert!(
        e.starts_with(&format!("error: {}:1000: truncated line", cut.display())),
        "{e}"
    );

    // A wrong value names its field.
    let bad = name("bad-field.jsonl");
    let mut lines: Vec<&str> = text.lines().take(20).collect();
    let fixed = lines[4].replacen("\"window_end\":", "\"window_end\":-", 1);
    lines[4] = &fixed;
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let e = report_err(&bad);
    assert!(
        e.starts_with(&format!("error: {}:5: field `window_end`: ", bad.display())),
        "{e}"
    );
}
