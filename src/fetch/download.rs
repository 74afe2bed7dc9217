//! `tracepipe download`: the bucket's parts to `DIR/<table>/<part>`, verified, resumable.
//!
//! A part is written to `<name>.incomplete` and renamed only once its SHA-256 (and the
//! server's `x-goog-hash`) matched, so a final name always holds a verified copy. Parts that
//! are already there and verify are skipped; an `.incomplete` file is resumed with a Range.

use super::client::Client;
use super::hash::{sha256_file, Hashes};
use super::remote::RemotePart;
use super::sums::{self, ListedPart};
use super::FetchError;
use crate::trace::PartSelection;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Suffix of a part being downloaded.
pub const INCOMPLETE: &str = ".incomplete";

#[derive(Clone)]
pub struct DownloadOptions {
    pub out: PathBuf,
    /// Folders of the bucket, e.g. `job_events`, `task_events`.
    pub tables: Vec<String>,
    pub parts: PartSelection,
    /// The bucket root, where `SHA256SUM` is.
    pub base_url: String,
    pub parallel: usize,
    pub client: Client,
    /// Ctrl-C: transfers stop, their `.incomplete` files stay for the next run.
    pub stop: Arc<AtomicBool>,
    /// Draw a progress bar (on a terminal) instead of one log line per file.
    pub progress_bar: bool,
}

/// What a download did, for the summary line and `--summary-json`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DownloadSummary {
    pub files: u64,
    /// Fetched and verified in this run.
    pub fetched: u64,
    /// Of those, continued from an `.incomplete` file or after a dropped connection.
    pub resumed: u64,
    /// Already on disk and verified.
    pub already_verified: u64,
    /// Bytes transferred in this run.
    pub bytes_fetched: u64,
    /// Size of all the selected files.
    pub bytes_total: u64,
    pub seconds: f64,
}

impl DownloadSummary {
    pub fn report(&self, out: &Path) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        format!(
            "download: {} files in {}: {} fetched ({} resumed), {} already verified; {:.1} MB fetched in {:.1} s ({:.1} MB/s), {:.1} MB on disk",
            self.files,
            out.display(),
            self.fetched,
            self.resumed,
            self.already_verified,
            mb(self.bytes_fetched),
            self.seconds,
            mb(self.bytes_fetched) / self.seconds.max(1e-3),
            mb(self.bytes_total),
        )
    }
}

/// `base` with exactly one trailing slash.
pub fn root_url(base: &str) -> String {
    format!("{}/", base.trim_end_matches('/'))
}

struct Job {
    table: String,
    part: ListedPart,
}

enum Outcome {
    AlreadyVerified {
        bytes: u64,
    },
    Fetched {
        bytes: u64,
        total: u64,
        resumed: bool,
    },
}

/// Shared counters of the workers and the progress display.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    files: u64,
    files_done: AtomicU64,
    bytes_done: AtomicU64,
    sizes_known: Mutex<(u64, u64)>,
    t0: Instant,
}

impl Progress {
    fn new(files: u64, bar: bool) -> Progress {
        let bar = bar.then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            files,
            files_done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            sizes_known: Mutex::new((0, 0)),
            t0: Instant::now(),
        }
    }

    /// A file's size became known: re-estimate the total as known + average × unknown.
    fn learn_size(&self, size: u64) {
        let mut k = self.sizes_known.lock().expect("not poisoned");
        k.0 += 1;
        k.1 += size;
        let estimate = k.1 + (self.files - k.0) * (k.1 / k.0);
        if let Some(b) = &self.bar {
            b.set_length(estimate);
        }
    }

    fn bytes(&self, n: u64) {
        self.bytes_done.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    fn file_done(&self, name: &str, what: &str) {
        let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(b) => b.set_message(format!("{done}/{} files", self.files)),
            None => {
                let secs = self.t0.elapsed().as_secs_f64().max(1e-3);
                let mb = self.bytes_done.load(Ordering::Relaxed) as f64 / 1e6;
                eprintln!(
                    "download: [{done}/{}] {name}: {what} ({mb:.1} MB, {:.1} MB/s)",
                    self.files,
                    mb / secs
                );
            }
        }
    }

    fn note(&self, line: String) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }
}

/// Fetches `SHA256SUM` from the bucket root.
pub fn fetch_sums(client: &Client, root: &str) -> Result<Vec<sums::SumEntry>, FetchError> {
    let url = format!("{root}SHA256SUM");
    let text = client.get_text(&url).map_err(|e| match e {
        FetchError::Status { status: 404, .. } => FetchError::NoSums {
            url: root.to_owned(),
            tried: url.clone(),
        },
        other => other,
    })?;
    sums::parse(&url, &text)
}

/// Downloads the selected parts; see the module doc.
pub fn download(opts: &DownloadOptions) -> Result<DownloadSummary, FetchError> {
    let root = root_url(&opts.base_url);
    let entries = fetch_sums(&opts.client, &root)?;
    let mut jobs = VecDeque::new();
    for table in &opts.tables {
        // machine_events is one part for the whole trace: always fetched whole (replay reads
        // it up to the end of the selected job and task parts).
        let selection = if table == "machine_events" {
            PartSelection::All
        } else {
            opts.parts
        };
        let parts = sums::parts_under(&entries, table, &selection);
        if parts.is_empty() {
            return Err(FetchError::NoListedParts {
                sums: format!("{root}SHA256SUM"),
                folder: table.clone(),
                selection: opts.parts.to_string(),
            });
        }
        let dir = opts.out.join(table);
        fs::create_dir_all(&dir).map_err(|e| FetchError::io(dir.display(), e))?;
        jobs.extend(parts.into_iter().map(|part| Job {
            table: table.clone(),
            part,
        }));
    }
    let progress = Progress::new(jobs.len() as u64, opts.progress_bar);
    let summary = Mutex::new(DownloadSummary {
        files: jobs.len() as u64,
        ..Default::default()
    });
    let queue = Mutex::new(jobs);
    let first_error: Mutex<Option<FetchError>> = Mutex::new(None);
    // Workers stop on the user's Ctrl-C or on the first error of another worker.
    let halt = AtomicBool::new(false);
    let stopped = || halt.load(Ordering::Relaxed) || opts.stop.load(Ordering::Relaxed);
    std::thread::scope(|s| {
        for _ in 0..opts.parallel.max(1) {
            s.spawn(|| loop {
                if stopped() {
                    return;
                }
                let Some(job) = queue.lock().expect("not poisoned").pop_front() else {
                    return;
                };
                let name = format!("{}/{}", job.table, job.part.name);
                match fetch_one(opts, &root, &job, &progress, &stopped) {
                    Ok(Outcome::AlreadyVerified { bytes }) => {
                        progress.learn_size(bytes);
                        if let Some(b) = &progress.bar {
                            b.inc(bytes);
                        }
                        let mut sm = summary.lock().expect("not poisoned");
                        sm.already_verified += 1;
                        sm.bytes_total += bytes;
                        drop(sm);
                        progress.file_done(&name, "already verified");
                    }
                    Ok(Outcome::Fetched {
                        bytes,
                        total,
                        resumed,
                    }) => {
                        let mut sm = summary.lock().expect("not poisoned");
                        sm.fetched += 1;
                        sm.resumed += u64::from(resumed);
                        sm.bytes_fetched += bytes;
                        sm.bytes_total += total;
                        drop(sm);
                        progress.file_done(&name, "verified");
                    }
                    Err(e) => {
                        halt.store(true, Ordering::Relaxed);
                        let mut first = first_error.lock().expect("not poisoned");
                        let interrupted = matches!(e, FetchError::Interrupted);
                        if first.is_none()
                            || (!interrupted && matches!(*first, Some(FetchError::Interrupted)))
                        {
                            *first = Some(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(b) = &progress.bar {
        b.finish_and_clear();
    }
    if opts.stop.load(Ordering::Relaxed) {
        return Err(FetchError::Interrupted);
    }
    if let Some(e) = first_error.into_inner().expect("not poisoned") {
        return Err(e);
    }
    let mut sm = summary.into_inner().expect("not poisoned");
    sm.seconds = progress.t0.elapsed().as_secs_f64();
    Ok(sm)
}

fn fetch_one(
    opts: &DownloadOptions,
    root: &str,
    job: &Job,
    progress: &Progress,
    stopped: &dyn Fn() -> bool,
) -> Result<Outcome, FetchError> {
    let dir = opts.out.join(&job.table);
    let final_path = dir.join(&job.part.name);
    let tmp = dir.join(format!("{}{INCOMPLETE}", job.part.name));
    if final_path.exists() {
        let on_disk =
            sha256_file(&final_path).map_err(|e| FetchError::io(final_path.display(), e))?;
        if on_disk == job.part.sha256 {
            let bytes = fs::metadata(&final_path).map_or(0, |m| m.len());
            return Ok(Outcome::AlreadyVerified { bytes });
        }
        progress.note(format!(
            "download: {}: on disk with sha256 {}, expected {}: fetching it again",
            final_path.display(),
            sums::to_hex(&on_disk),
            sums::to_hex(&job.part.sha256)
        ));
        fs::remove_file(&final_path).map_err(|e| FetchError::io(final_path.display(), e))?;
    }
    // Continue an earlier run's partial copy: hash what it holds, ask for the rest.
    let (offset, prefix) = match fs::metadata(&tmp) {
        Ok(m) if m.len() > 0 => {
            let mut h = Hashes::new(false);
            let mut f = File::open(&tmp).map_err(|e| FetchError::io(tmp.display(), e))?;
            let mut buf = vec![0u8; 1 << 17];
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| FetchError::io(tmp.display(), e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            (h.bytes(), Some(h))
        }
        _ => (0, None),
    };
    if offset > 0 {
        progress.note(format!(
            "download: {}: resuming at byte {offset}",
            final_path.display()
        ));
    }
    let remote = RemotePart {
        url: format!("{root}{}", job.part.path),
        sha256: job.part.sha256,
    };
    let mut reader = remote.reader_from(&opts.client, offset, prefix);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&tmp)
        .map_err(|e| FetchError::io(tmp.display(), e))?;
    let mut buf = vec![0u8; 1 << 18];
    let mut fetched = 0u64;
    let mut size_known = false;
    loop {
        if stopped() {
            return Err(FetchError::Interrupted);
        }
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                let e = FetchError::from_io(e, &remote.url);
                if let FetchError::HashMismatch {
                    algorithm,
                    expected,
                    actual,
                    ..
                } = e
                {
                    drop(file);
                    let removed = fs::remove_file(&tmp).is_ok();
                    return Err(FetchError::HashMismatch {
                        file: final_path.display().to_string(),
                        algorithm,
                        expected,
                        actual,
                        removed,
                    });
                }
                return Err(e);
            }
        };
        if !size_known {
            if let Some(t) = reader.total() {
                size_known = true;
                progress.learn_size(t);
                progress.bytes(offset);
            }
        }
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])
            .map_err(|e| FetchError::io(tmp.display(), e))?;
        fetched += n as u64;
        progress.bytes(n as u64);
    }
    file.sync_all()
        .map_err(|e| FetchError::io(tmp.display(), e))?;
    drop(file);
    fs::rename(&tmp, &final_path).map_err(|e| FetchError::io(final_path.display(), e))?;
    Ok(Outcome::Fetched {
        bytes: fetched,
        total: reader.offset(),
        resumed: offset > 0 || reader.reconnects() > 0,
    })
}
