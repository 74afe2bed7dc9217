//! `tracepipe generate`: writes a synthetic trace in the exact file format of the Google
//! 2011 cluster trace (clusterdata-2011-2), deterministic by seed.
//!
//! Output: `OUT/job_events/part-NNNNN-of-MMMMM.csv.gz` and `OUT/task_events/...`, gzip'd CSV
//! without header, 8 and 13 fields, empty = missing. Both tables are sharded by the same time
//! ranges: part i holds the rows with time in `[i*D/P, (i+1)*D/P)`, so a tie never spans two
//! parts and each file's first time is strictly greater than the previous file's last time.
//!
//! What the trace looks like (see `docs/trace-format.md`):
//! - an initial state at t=0: jobs SUBMIT then SCHEDULE; running tasks' SUBMITs carry their
//!   machine ID (some with missing info 2 and empty requests), followed by a SCHEDULE at t=0
//!   whose request can differ; pending tasks are submitted at t=0 too;
//! - after the initial state nothing happens before the trace window opens (600 s, or a tenth
//!   of the duration for short traces);
//! - jobs arrive uniformly; most have one task, a few have up to `tasks_per_job`;
//! - task life cycles: SUBMIT -> (UPDATE_PENDING) -> SCHEDULE on a machine ->
//!   (UPDATE_RUNNING, sometimes with one request empty) -> FINISH | EVICT | FAIL | KILL | LOST;
//!   EVICT, FAIL, KILL and LOST are often followed by a resubmission (SUBMIT, then SCHEDULE
//!   probably on another machine); a job-wide KILL kills pending and running tasks at one
//!   instant (running ones sometimes with an empty machine ID);
//! - the job table follows its tasks: job SUBMIT at or before its tasks' SUBMITs, job
//!   SCHEDULE at the time of its first task SCHEDULE, job FINISH / FAIL / KILL / LOST strictly
//!   after its last task ended;
//! - ties: tasks submitted at the same instant as their job, SCHEDULE at the same time as
//!   SUBMIT, job-wide kills; rows within a tie are in causal order;
//! - job IDs from ~3e6 (initial jobs) to above 6.25e9, machine IDs up to 4.4e9;
//! - with `anomalies`: rare EVICTs of pending tasks (with a machine ID) and jobs without tasks;
//!   missing info 0/1 appears rarely on terminal and update rows.
//!
//! Memory is bounded by the jobs alive at one time (an event queue of live tasks), not by
//! the size of the output.

mod format;
mod output;
mod sim;

#[cfg(test)]
mod tests;

use crate::trace::Table;
use std::path::{Path, PathBuf};

/// Options of `tracepipe generate` (CLI: `--out DIR --seed N --jobs N --tasks-per-job N
/// --machines N --parts N --duration 2h`).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Trace folder: `job_events/` and `task_events/` are created inside.
    pub out_dir: PathBuf,
    /// Same seed and options -> byte-identical files.
    pub seed: u64,
    /// Number of jobs (those of the initial state included).
    pub jobs: u64,
    /// Maximum tasks per job. Half the jobs have one task, the others are log-uniform on
    /// [1, max] (mean about 0.5 + max / (2 ln max)).
    pub tasks_per_job: u32,
    /// Number of machines (distinct IDs).
    pub machines: u64,
    /// Parts per table (1..=99999).
    pub parts: u32,
    /// Trace span in microseconds: every row has `time < duration_us`.
    pub duration_us: u64,
    /// Every task and job reaches a terminal event before the end of the trace (allocations
    /// return to zero). When false, events planned past the end are not written and work is
    /// still running or pending at the end, as in the real trace.
    pub all_end: bool,
    /// Fraction of the jobs already present at t=0 (initial state). At least one job when
    /// positive and `jobs > 0`.
    pub initial_fraction: f64,
    /// Include the real trace's rare anomalies (pending EVICTs, jobs without tasks).
    pub anomalies: bool,
    /// gzip level 0..=9 (1 is fast; the bytes depend on the level).
    pub gzip_level: u32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            out_dir: PathBuf::from("synthetic-trace"),
            seed: 1,
            jobs: 1000,
            tasks_per_job: 100,
            machines: 1000,
            parts: 10,
            duration_us: 2 * 3600 * 1_000_000,
            all_end: true,
            initial_fraction: 0.1,
            anomalies: true,
            gzip_level: 1,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Jobs and tasks created (a task resubmitted keeps its index: counted once).
    pub jobs: u64,
    pub tasks: u64,
    pub job_rows: u64,
    pub task_rows: u64,
    /// Rows by event type code (SUBMIT=0 .. UPDATE_RUNNING=8).
    pub job_rows_by_type: [u64; 9],
    pub task_rows_by_type: [u64; 9],
    /// Parts per table, and parts completed so far (for progress reports).
    pub parts: u32,
    pub parts_done: u32,
    /// Time of the last row written.
    pub last_time: u64,
    /// Largest number of tasks alive at once (the simulation's memory).
    pub max_live_tasks: u64,
    /// Compressed bytes of both tables (known at the end).
    pub bytes: u64,
}

impl GenerateSummary {
    pub fn rows(&self) -> u64 {
        self.job_rows + self.task_rows
    }

    /// The line printed at the end; `out` is the output folder.
    pub fn report(&self, out: &Path) -> String {
        format!(
            "generated {} job rows and {} task rows ({} jobs, {} tasks) in {} parts per table under {}",
            self.job_rows,
            self.task_rows,
            self.jobs,
            self.tasks,
            self.parts,
            out.display()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid generate option: {option} {message}")]
    Invalid {
        option: &'static str,
        message: String,
    },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: a trace part of another run is in the way (its part count differs); remove it or choose another output folder")]
    StaleParts { path: PathBuf },
}

impl GenerateError {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        GenerateError::Io {
            path: path.as_ref().to_owned(),
            source,
        }
    }
}

impl GenerateOptions {
    pub fn validate(&self) -> Result<(), GenerateError> {
        let bad = |option, message| Err(GenerateError::Invalid { option, message });
        if self.parts == 0 || self.parts > 99_999 {
            return bad("parts", format!("must be 1..=99999, got {}", self.parts));
        }
        if self.duration_us < 1_000 || self.duration_us >= 1 << 62 {
            return bad(
                "duration",
                format!(
                    "must be at least 1 ms and below 2^62 us, got {} us",
                    self.duration_us
                ),
            );
        }
        if self.duration_us < u64::from(self.parts) {
            return bad(
                "duration",
                format!(
                    "{} us is shorter than {} parts of 1 us",
                    self.duration_us, self.parts
                ),
            );
        }
        if self.tasks_per_job == 0 || self.tasks_per_job > 1_000_000 {
            return bad(
                "tasks per job",
                format!("must be 1..=1000000, got {}", self.tasks_per_job),
            );
        }
        if self.machines == 0 || self.machines > 100_000_000 {
            return bad(
                "machines",
                format!("must be 1..=100000000, got {}", self.machines),
            );
        }
        if self.jobs > 1_000_000_000 {
            return bad("jobs", format!("must be at most 1e9, got {}", self.jobs));
        }
        if !(0.0..=1.0).contains(&self.initial_fraction) {
            return bad(
                "initial fraction",
                format!("must be in [0, 1], got {}", self.initial_fraction),
            );
        }
        if self.gzip_level > 9 {
            return bad(
                "gzip level",
                format!("must be 0..=9, got {}", self.gzip_level),
            );
        }
        Ok(())
    }
}

/// Writes the synthetic trace. See the module documentation.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary, GenerateError> {
    generate_with_progress(opts, |_| {})
}

/// [`generate`], calling `progress` each time the simulation has passed the end of a part
/// (its rows are handed to the compressing threads), and once at the end.
pub fn generate_with_progress(
    opts: &GenerateOptions,
    mut progress: impl FnMut(&GenerateSummary),
) -> Result<GenerateSummary, GenerateError> {
    opts.validate()?;
    // The generator writes jobs and tasks; it has no machine model (no machine_events).
    let dirs = [Table::Job, Table::Task].map(|t| opts.out_dir.join(output::table_dir_name(t)));
    for d in &dirs {
        output::prepare_dir(d, opts.parts)?;
    }
    let [job_dir, task_dir] = dirs;
    let jobs_out = output::TableOut::new(job_dir, opts.parts, opts.gzip_level, "jobs")?;
    let tasks_out = output::TableOut::new(task_dir, opts.parts, opts.gzip_level, "tasks")?;
    let sim = sim::Sim::new(opts, jobs_out, tasks_out, &mut progress);
    let (mut summary, jobs_out, tasks_out) = sim.run()?;
    summary.bytes = jobs_out.finish()? + tasks_out.finish()?;
    Ok(summary)
}
