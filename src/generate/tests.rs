use super::output::part_file_name;
use super::*;
use crate::merge::TraceSource;
use crate::trace::{
    discover_parts, EventType, MissingInfo, OnError, Part, Record, Table, TableReader,
};
use std::collections::HashMap;
use std::io::Read;

fn opts(dir: &Path) -> GenerateOptions {
    GenerateOptions {
        out_dir: dir.to_owned(),
        seed: 7,
        jobs: 400,
        tasks_per_job: 60,
        machines: 300,
        parts: 6,
        duration_us: 2 * 3600 * 1_000_000,
        ..GenerateOptions::default()
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for t in ["job_events", "task_events"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(t))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let name = format!("{t}/{}", p.file_name().unwrap().to_str().unwrap());
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn read_all(dir: &Path) -> Vec<Record> {
    let src = TraceSource {
        jobs: Some(dir.join("job_events").into()),
        tasks: Some(dir.join("task_events").into()),
        on_error: OnError::Fail,
        ..TraceSource::default()
    };
    src.open()
        .unwrap()
        .map(|e| e.expect("generated rows parse").record)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Pending,
    Running,
    Dead,
}

/// Replays the merged stream through the trace's life cycle; returns the final states and
/// the per-machine allocations left at the end.
#[derive(Default)]
struct Checker {
    jobs: HashMap<u64, St>,
    job_schedule_time: HashMap<u64, u64>,
    job_first_task_schedule: HashMap<u64, u64>,
    tasks: HashMap<(u64, u64), St>,
    alloc: HashMap<(u64, u64), (u64, f64, f64)>,
    machine_cpu: HashMap<u64, f64>,
    live_tasks_of_job: HashMap<u64, u64>,
    pending_evicts: u64,
    kills_without_machine: u64,
    update_running_empty: u64,
}

impl Checker {
    fn job(&mut self, t: u64, id: u64, et: EventType) {
        let st = self.jobs.get(&id).copied();
        match et {
            EventType::Submit => {
                assert!(
                    st.is_none() || st == Some(St::Dead),
                    "job {id} SUBMIT from {st:?}"
                );
                self.jobs.insert(id, St::Pending);
            }
            EventType::Schedule => {
                assert_eq!(st, Some(St::Pending), "job {id} SCHEDULE at {t}");
                self.jobs.insert(id, St::Running);
                self.job_schedule_time.insert(id, t);
            }
            e if e.is_terminal() => {
                assert!(
                    matches!(st, Some(St::Pending | St::Running)),
                    "job {id} {e} from {st:?}"
                );
                let live = self.live_tasks_of_job.get(&id).copied().unwrap_or(0);
                assert_eq!(live, 0, "job {id} ends at {t} with {live} live tasks");
                self.jobs.insert(id, St::Dead);
            }
            e => panic!("job {id}: unexpected {e}"),
        }
    }

    fn task(&mut self, r: &crate::trace::TaskEvent) {
        let key = (r.job_id, r.task_index);
        let st = self.tasks.get(&key).copied();
        let job = self.jobs.get(&r.job_id).copied();
        let live = |s: Option<St>| matches!(s, Some(St::Pending | St::Running));
        match r.event_type {
            EventType::Submit => {
                assert!(
                    st.is_none() || st == Some(St::Dead),
                    "{key:?} SUBMIT from {st:?}"
                );
                assert!(live(job), "{key:?} SUBMIT while job is {job:?}");
                if r.time > 0 {
                    assert_eq!(
                        r.machine_id, None,
                        "{key:?} SUBMIT with a machine after t=0"
                    );
                }
                if r.missing_info == Some(MissingInfo::ExistsButNoCreation) {
                    assert_eq!(r.cpu_request, None);
                }
                self.tasks.insert(key, St::Pending);
                *self.live_tasks_of_job.entry(r.job_id).or_default() += 1;
            }
            EventType::Schedule => {
                assert_eq!(st, Some(St::Pending), "{key:?} SCHEDULE at {}", r.time);
                assert_eq!(job, Some(St::Running), "{key:?} SCHEDULE before its job's");
                let m = r.machine_id.expect("SCHEDULE has a machine");
                let (c, mem) = (r.cpu_request.unwrap(), r.memory_request.unwrap());
                self.alloc.insert(key, (m, c, mem));
                *self.machine_cpu.entry(m).or_default() += c;
                self.tasks.insert(key, St::Running);
                self.job_first_task_schedule
                    .entry(r.job_id)
                    .or_insert(r.time);
            }
            EventType::UpdatePending => assert_eq!(st, Some(St::Pending), "{key:?}"),
            EventType::UpdateRunning => {
                assert_eq!(st, Some(St::Running), "{key:?}");
                let a = self.alloc.get_mut(&key).unwrap();
                if let Some(c) = r.cpu_request {
                    *self.machine_cpu.get_mut(&a.0).unwrap() += c - a.1;
                    a.1 = c;
                }
                if let Some(m) = r.memory_request {
                    a.2 = m;
                }
                if r.cpu_request.is_none() || r.memory_request.is_none() {
                    self.update_running_empty += 1;
                }
            }
            e if e.is_terminal() => {
                match st {
                    Some(St::Running) => {
                        let (m, c, _) = self.alloc.remove(&key).unwrap();
                        *self.machine_cpu.get_mut(&m).unwrap() -= c;
                        if r.machine_id.is_none() {
                            assert_eq!(e, EventType::Kill, "{key:?}");
                            self.kills_without_machine += 1;
                        } else {
                            assert_eq!(r.machine_id, Some(m), "{key:?} ends on another machine");
                        }
                    }
                    Some(St::Pending) => {
                        assert_ne!(e, EventType::Finish, "{key:?} FINISH while pending");
                        if e == EventType::Evict {
                            self.pending_evicts += 1;
                        }
                    }
                    _ => panic!("{key:?} {e} from {st:?}"),
                }
                self.tasks.insert(key, St::Dead);
                *self.live_tasks_of_job.get_mut(&r.job_id).unwrap() -= 1;
            }
            e => panic!("unexpected {e}"),
        }
    }

    fn run(records: &[Record]) -> Checker {
        let mut c = Checker::default();
        for rec in records {
            match rec {
                Record::Job(j) => c.job(j.time, j.job_id, j.event_type),
                Record::Task(t) => c.task(t),
                Record::Machine(_) => panic!("the generator writes no machines"),
            }
        }
        for (job, t) in &c.job_schedule_time {
            assert_eq!(
                c.job_first_task_schedule.get(job),
                Some(t),
                "job {job}: SCHEDULE not at its first task's SCHEDULE"
            );
        }
        c
    }
}

#[test]
fn deterministic_by_seed() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let sa = generate(&opts(a.path())).unwrap();
    let sb = generate(&opts(b.path())).unwrap();
    assert_eq!(sa, sb);
    assert_eq!(files(a.path()), files(b.path()));
    let sc = generate(&GenerateOptions {
        seed: 8,
        ..opts(c.path())
    })
    .unwrap();
    assert_ne!(files(a.path()), files(c.path()));
    assert_ne!(sa.task_rows, 0);
    assert_ne!(sc.task_rows, 0);
    // Fixed gzip header: magic, deflate, no flags, mtime 0, OS 0 (like the real files).
    for (name, bytes) in files(a.path()) {
        assert_eq!(&bytes[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0], "{name}");
        assert_eq!(bytes[9], 0, "{name}");
    }
}

#[test]
fn parts_named_and_sharded_by_time() {
    let d = tempfile::tempdir().unwrap();
    let o = GenerateOptions {
        parts: 7,
        ..opts(d.path())
    };
    let s = generate(&o).unwrap();
    assert_eq!(s.parts, 7);
    assert_eq!(s.parts_done, 7);
    for table in [Table::Job, Table::Task] {
        let dir = d.path().join(output::table_dir_name(table));
        let parts = discover_parts(&dir).unwrap();
        let names: Vec<String> = parts
            .iter()
            .map(|p| p.path.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = (0..7)
            .map(|i| format!("part-{i:05}-of-00007.csv.gz"))
            .collect();
        assert_eq!(names, want);
        let mut prev_last: Option<u64> = None;
        let mut rows = 0;
        for p in parts {
            let (lo, hi) = (
                p.number as u64 * o.duration_us / 7,
                (p.number as u64 + 1) * o.duration_us / 7,
            );
            let reader = TableReader::from_parts(table, vec![p.clone()], OnError::Fail);
            let mut first = None;
            let mut last = 0;
            for r in reader {
                let (rec, _) = r.unwrap();
                let t = rec.time();
                assert!(t >= lo && t < hi, "{table} part {} has time {t}", p.number);
                assert!(t >= last, "time goes back in {}", p.number);
                first.get_or_insert(t);
                last = t;
                rows += 1;
            }
            if let Some(f) = first {
                if let Some(pl) = prev_last {
                    assert!(
                        f > pl,
                        "part {} starts at {f} <= previous last {pl}",
                        p.number
                    );
                }
                prev_last = Some(last);
            }
        }
        let want_rows = match table {
            Table::Job => s.job_rows,
            Table::Task => s.task_rows,
            Table::Machine => unreachable!("the generator writes no machines"),
        };
        assert_eq!(rows, want_rows);
    }
}

#[test]
fn parses_and_follows_the_life_cycle_with_all_end() {
    let d = tempfile::tempdir().unwrap();
    let s = generate(&opts(d.path())).unwrap();
    let recs = read_all(d.path());
    assert_eq!(recs.len() as u64, s.rows());
    let c = Checker::run(&recs);
    // Every job and task ends; allocations return to zero.
    assert!(c.jobs.values().all(|s| *s == St::Dead), "a job did not end");
    assert!(
        c.tasks.values().all(|s| *s == St::Dead),
        "a task did not end"
    );
    assert!(c.alloc.is_empty());
    for (m, cpu) in &c.machine_cpu {
        assert!(cpu.abs() < 1e-6, "machine {m} keeps {cpu}");
    }
    assert!(recs.iter().all(|r| r.time() < 2 * 3600 * 1_000_000));
    // Every event type of tasks appears (LOST and UPDATE_PENDING are rare).
    let n = |t: EventType| s.task_rows_by_type[t.code() as usize];
    for t in [
        EventType::Submit,
        EventType::Schedule,
        EventType::Evict,
        EventType::Fail,
        EventType::Finish,
        EventType::Kill,
        EventType::UpdateRunning,
    ] {
        assert!(n(t) > 0, "no task {t}");
    }
    assert!(c.kills_without_machine > 0);
    assert!(c.update_running_empty > 0);
    for t in [
        EventType::Submit,
        EventType::Schedule,
        EventType::Finish,
        EventType::Kill,
    ] {
        assert!(s.job_rows_by_type[t.code() as usize] > 0, "no job {t}");
    }
}

#[test]
fn initial_state_ids_ties_and_fields() {
    let d = tempfile::tempdir().unwrap();
    generate(&opts(d.path())).unwrap();
    let recs = read_all(d.path());
    let tasks: Vec<_> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Task(t) => Some(t),
            _ => None,
        })
        .collect();
    let jobs: Vec<_> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Job(j) => Some(j),
            _ => None,
        })
        .collect();
    // t=0: SUBMIT carrying a machine ID, then SCHEDULE at t=0 of the same task.
    let at0: Vec<_> = tasks.iter().filter(|t| t.time == 0).collect();
    let first_schedule = at0
        .iter()
        .position(|t| t.event_type == EventType::Schedule)
        .unwrap();
    assert!(at0[..first_schedule]
        .iter()
        .all(|t| t.event_type == EventType::Submit));
    let sub = at0
        .iter()
        .find(|t| t.event_type == EventType::Submit && t.machine_id.is_some())
        .unwrap();
    assert!(at0.iter().any(|t| t.event_type == EventType::Schedule
        && (t.job_id, t.task_index) == (sub.job_id, sub.task_index)
        && t.machine_id == sub.machine_id));
    assert!(at0
        .iter()
        .any(|t| t.missing_info == Some(MissingInfo::ExistsButNoCreation)
            && t.cpu_request.is_none()
            && t.memory_request.is_none()
            && t.disk_space_request.is_none()
            && t.different_machines_restriction.is_none()));
    assert!(jobs
        .iter()
        .any(|j| j.time == 0 && j.event_type == EventType::Submit));
    assert!(jobs
        .iter()
        .any(|j| j.time == 0 && j.event_type == EventType::Schedule));
    // Nothing between the initial state and the start of the window (600 s).
    let first_real = tasks.iter().map(|t| t.time).find(|&t| t > 0).unwrap();
    assert!(first_real >= 600_000_000);
    // IDs above 2^31-1.
    assert!(jobs.iter().any(|j| j.job_id > i32::MAX as u64));
    assert!(tasks
        .iter()
        .any(|t| t.machine_id.is_some_and(|m| m > u32::MAX as u64)));
    assert!(tasks
        .iter()
        .any(|t| t.machine_id.is_some_and(|m| m > i32::MAX as u64)));
    // Ties after t=0: SUBMIT and SCHEDULE of a task at the same time, in that order.
    let mut ties = 0;
    for w in tasks.windows(2) {
        if w[0].time == w[1].time && w[0].time > 0 {
            ties += 1;
        }
    }
    assert!(ties > 100, "only {ties} ties");
    // Strings: 44-character hashes, a user on every row.
    for j in &jobs {
        for h in [&j.user, &j.job_name, &j.logical_job_name] {
            let h = h.as_ref().unwrap();
            assert_eq!(h.len(), 44);
            assert!(h.ends_with('='));
        }
    }
    assert!(tasks.iter().all(|t| t.user.as_ref().unwrap().len() == 44));
    assert!(tasks.iter().all(|t| t.priority <= 11));
    assert!(tasks.iter().all(|t| t.scheduling_class.unwrap() <= 3));
}

#[test]
fn raw_rows_look_like_the_trace() {
    let d = tempfile::tempdir().unwrap();
    generate(&opts(d.path())).unwrap();
    let mut job_lines = 0;
    let mut task_lines = 0;
    let mut sci = 0;
    for (name, bytes) in files(d.path()) {
        let text = gunzip(&bytes);
        for line in text.lines() {
            let f: Vec<&str> = line.split(',').collect();
            if name.starts_with("job_events") {
                assert_eq!(f.len(), 8, "{line}");
                job_lines += 1;
            } else {
                assert_eq!(f.len(), 13, "{line}");
                task_lines += 1;
                for v in &f[9..12] {
                    if v.is_empty() {
                        continue;
                    }
                    let sig: String = v
                        .split('e')
                        .next()
                        .unwrap()
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                        .trim_start_matches('0')
                        .to_owned();
                    assert!(sig.len() <= 4, "{v} in {line}");
                    assert!(!v.contains('+') && !v.contains('"'));
                    if v.contains("e-") {
                        sci += 1;
                    }
                }
            }
            assert!(!line.contains('"'));
        }
    }
    assert!(job_lines > 0 && task_lines > 0);
    assert!(
        sci > 0,
        "no float in e-notation (disk requests like 3.815e-05)"
    );
}

#[test]
fn few_jobs_and_many_parts() {
    let d = tempfile::tempdir().unwrap();
    let o = GenerateOptions {
        out_dir: d.path().to_owned(),
        jobs: 3,
        tasks_per_job: 4,
        machines: 5,
        parts: 12,
        ..GenerateOptions::default()
    };
    let s = generate(&o).unwrap();
    assert_eq!(s.jobs, 3);
    assert_eq!(s.parts_done, 12);
    for t in ["job_events", "task_events"] {
        assert_eq!(discover_parts(&d.path().join(t)).unwrap().len(), 12);
    }
    let recs = read_all(d.path());
    assert_eq!(recs.len() as u64, s.rows());
    let c = Checker::run(&recs);
    assert_eq!(c.jobs.len(), 3);
    assert!(c.jobs.values().all(|s| *s == St::Dead));
    // Empty parts are valid (empty gzip members).
    let empty = files(d.path())
        .iter()
        .filter(|(_, b)| gunzip(b).is_empty())
        .count();
    assert!(empty > 0);
}

#[test]
fn without_all_end_work_is_left_running() {
    let d = tempfile::tempdir().unwrap();
    let o = GenerateOptions {
        all_end: false,
        ..opts(d.path())
    };
    generate(&o).unwrap();
    let recs = read_all(d.path());
    let c = Checker::run(&recs);
    assert!(c.tasks.values().any(|s| *s == St::Running));
    assert!(c.jobs.values().any(|s| *s != St::Dead));
}

#[test]
fn anomalies_appear_at_scale() {
    let d = tempfile::tempdir().unwrap();
    let o = GenerateOptions {
        jobs: 3000,
        tasks_per_job: 200,
        parts: 3,
        ..opts(d.path())
    };
    let s = generate(&o).unwrap();
    let recs = read_all(d.path());
    let c = Checker::run(&recs);
    assert!(c.pending_evicts > 0);
    assert!(s.task_rows_by_type[EventType::UpdatePending.code() as usize] > 0);
    assert!(s.task_rows_by_type[EventType::Lost.code() as usize] > 0);
    let mi = |m: MissingInfo| {
        recs.iter().any(|r| match r {
            Record::Task(t) => t.missing_info == Some(m),
            Record::Job(j) => j.missing_info == Some(m),
            Record::Machine(_) => false,
        })
    };
    assert!(mi(MissingInfo::SnapshotButNoTransition));
    assert!(mi(MissingInfo::NoSnapshotOrTransition));
    assert!(mi(MissingInfo::ExistsButNoCreation));
    // Memory is bounded by live tasks, far below the tasks created.
    assert!(s.max_live_tasks < s.tasks);
}

#[test]
fn stale_parts_of_another_run_are_refused() {
    let d = tempfile::tempdir().unwrap();
    generate(&GenerateOptions {
        parts: 3,
        jobs: 10,
        ..opts(d.path())
    })
    .unwrap();
    // Same part count: overwritten in place.
    generate(&GenerateOptions {
        parts: 3,
        jobs: 12,
        ..opts(d.path())
    })
    .unwrap();
    let err = generate(&GenerateOptions {
        parts: 4,
        jobs: 10,
        ..opts(d.path())
    })
    .unwrap_err();
    assert!(matches!(err, GenerateError::StaleParts { .. }), "{err}");
}

#[test]
fn invalid_options() {
    let d = tempfile::tempdir().unwrap();
    for o in [
        GenerateOptions {
            parts: 0,
            ..opts(d.path())
        },
        GenerateOptions {
            machines: 0,
            ..opts(d.path())
        },
        GenerateOptions {
            tasks_per_job: 0,
            ..opts(d.path())
        },
        GenerateOptions {
            duration_us: 10,
            ..opts(d.path())
        },
        GenerateOptions {
            gzip_level: 10,
            ..opts(d.path())
        },
    ] {
        assert!(matches!(generate(&o), Err(GenerateError::Invalid { .. })));
    }
}

#[test]
fn zero_jobs_and_short_traces_work() {
    let d = tempfile::tempdir().unwrap();
    let s = generate(&GenerateOptions {
        jobs: 0,
        parts: 2,
        ..opts(d.path())
    })
    .unwrap();
    assert_eq!(s.rows(), 0);
    assert!(read_all(d.path()).is_empty());
    let e = tempfile::tempdir().unwrap();
    let s = generate(&GenerateOptions {
        jobs: 50,
        parts: 5,
        duration_us: 5_000,
        ..opts(e.path())
    })
    .unwrap();
    let recs = read_all(e.path());
    assert_eq!(recs.len() as u64, s.rows());
    Checker::run(&recs);
    assert!(recs.iter().all(|r| r.time() < 5_000));
}

#[test]
fn part_names() {
    assert_eq!(part_file_name(3, 500), "part-00003-of-00500.csv.gz");
    let p = Part::file(0, PathBuf::from(part_file_name(0, 1)));
    assert_eq!(p.path.to_str(), Some("part-00000-of-00001.csv.gz"));
}

/// The checker above must catch what it is meant to catch.
fn check_rows(rows: &[(u64, u64, u64, EventType)]) {
    let recs: Vec<Record> = rows
        .iter()
        .map(|&(time, task, machine, et)| {
            if task == u64::MAX {
                Record::Job(crate::trace::JobEvent {
                    time,
                    missing_info: None,
                    job_id: 1,
                    event_type: et,
                    user: None,
                    scheduling_class: None,
                    job_name: None,
                    logical_job_name: None,
                })
            } else {
                Record::Task(crate::trace::TaskEvent {
                    time,
                    missing_info: None,
                    job_id: 1,
                    task_index: task,
                    machine_id: (machine > 0).then_some(machine),
                    event_type: et,
                    user: None,
                    scheduling_class: None,
                    priority: 0,
                    cpu_request: Some(0.1),
                    memory_request: Some(0.1),
                    disk_space_request: None,
                    different_machines_restriction: None,
                })
            }
        })
        .collect();
    Checker::run(&recs);
}

const JOB: u64 = u64::MAX;

#[test]
fn checker_accepts_a_valid_life() {
    use EventType::*;
    check_rows(&[
        (0, JOB, 0, Submit),
        (0, 0, 0, Submit),
        (5, JOB, 0, Schedule),
        (5, 0, 9, Schedule),
        (6, 0, 0, Kill),
        (7, JOB, 0, Kill),
    ]);
}

#[test]
#[should_panic(expected = "SCHEDULE")]
fn checker_rejects_schedule_of_a_running_task() {
    use EventType::*;
    check_rows(&[
        (0, JOB, 0, Submit),
        (0, 0, 0, Submit),
        (5, JOB, 0, Schedule),
        (5, 0, 9, Schedule),
        (6, 0, 9, Schedule),
    ]);
}

#[test]
#[should_panic(expected = "live tasks")]
fn checker_rejects_a_job_ending_before_its_tasks() {
    use EventType::*;
    check_rows(&[
        (0, JOB, 0, Submit),
        (0, 0, 0, Submit),
        (5, JOB, 0, Schedule),
        (5, 0, 9, Schedule),
        (6, JOB, 0, Finish),
    ]);
}

#[test]
#[should_panic(expected = "first task")]
fn checker_rejects_a_late_job_schedule() {
    use EventType::*;
    check_rows(&[
        (0, JOB, 0, Submit),
        (0, 0, 0, Submit),
        (3, JOB, 0, Schedule),
        (5, 0, 9, Schedule),
    ]);
}
