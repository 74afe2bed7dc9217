//! Event-driven simulation of a cluster's jobs and tasks, written out in time order.
//!
//! A priority queue holds the future events of live jobs only (keyed by time, then by a
//! sequence number given when the event is planned, so ties come out in causal order), so
//! memory is bounded by the live tasks, not by the size of the output. Rows are written the
//! moment their event is taken from the queue; time never goes back.

use super::format::{base64_32, job_row, task_row, Dec, Hash, JobInfo, ReqFields};
use super::output::TableOut;
use super::{GenerateError, GenerateOptions, GenerateSummary};
use crate::trace::{EventType, MissingInfo};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A task is submitted at most this many times (first submission plus resubmissions).
const MAX_SUBMITS: u8 = 6;

/// Derived, validated parameters.
#[derive(Debug, Clone)]
pub(super) struct Params {
    pub duration: u64,
    pub parts: u32,
    pub all_end: bool,
    pub anomalies: bool,
    /// Time of the first event after the initial state (600 s in the real trace).
    pub window_start: u64,
    /// With `all_end`, every task event happens at or before this time.
    pub task_cutoff: u64,
    /// A job ends between 1 us and `margin` after its last task.
    pub margin: u64,
    /// New jobs arrive in [window_start, arrival_end).
    pub arrival_end: u64,
    pub max_tasks: u32,
    pub jobs: u64,
    pub initial_jobs: u64,
    pub n_users: u64,
    pub n_logical: u64,
    /// Range of the per-job base run time.
    pub run_lo: u64,
    pub run_hi: u64,
    /// Upper bound of scheduling delays and resubmission delays.
    pub delay_hi: u64,
}

impl Params {
    pub fn new(o: &GenerateOptions) -> Params {
        let d = o.duration_us;
        let window_start = (600 * 1_000_000u64).min(d / 10).max(1);
        let margin = (d / 50).clamp(1, 5_000_000);
        let task_cutoff = d - margin - 1;
        let arrival_end = if o.all_end {
            window_start + (task_cutoff - window_start) * 9 / 10
        } else {
            d
        }
        .max(window_start + 1);
        let initial_jobs = if o.jobs == 0 || o.initial_fraction <= 0.0 {
            0
        } else {
            ((o.jobs as f64 * o.initial_fraction).round() as u64).clamp(1, o.jobs)
        };
        let run_lo = (d / 1000).clamp(1, 1_000_000);
        Params {
            duration: d,
            parts: o.parts,
            all_end: o.all_end,
            anomalies: o.anomalies,
            window_start,
            task_cutoff,
            margin,
            arrival_end,
            max_tasks: o.tasks_per_job,
            jobs: o.jobs,
            initial_jobs,
            n_users: (o.jobs / 20).clamp(1, 1000),
            n_logical: (o.jobs / 3).max(1),
            run_lo,
            run_hi: (d / 4).max(run_lo + 1),
            delay_hi: (d / 50).clamp(1_001, 60_000_000),
        }
    }

    fn part_start(&self, part: u32) -> u64 {
        (u128::from(part) * u128::from(self.duration) / u128::from(self.parts)) as u64
    }
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    let (lo, hi) = (lo.max(1), hi.max(lo.max(1)));
    let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
    let v = (a + (b - a) * rng.gen::<f64>()).exp() as u64;
    v.clamp(lo, hi)
}

/// Time of an event planned `delay` after `now`, or `None` if it falls after the trace.
/// With `all_end`, times beyond the cutoff are squeezed into [now, cutoff].
fn when(rng: &mut ChaCha8Rng, p: &Params, now: u64, delay: u64) -> Option<u64> {
    let t = now.saturating_add(delay);
    if p.all_end {
        if t <= p.task_cutoff {
            Some(t)
        } else if now >= p.task_cutoff {
            Some(now)
        } else {
            let room = (p.task_cutoff - now) as f64;
            Some((now + (room * rng.gen::<f64>()) as u64).min(p.task_cutoff))
        }
    } else if t >= p.duration {
        None
    } else {
        Some(t)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Arrival,
    Submit,
    UpdatePending,
    Schedule,
    UpdateRunning,
    /// Terminal event of a running task (`arg` = event type).
    End,
    /// EVICT or FAIL of a pending task (`arg` = event type).
    PendingEnd,
    JobKill,
    /// Terminal event of a job (`arg` = event type).
    JobEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ev {
    time: u64,
    seq: u64,
    kind: Kind,
    arg: u8,
    job: u32,
    jgen: u32,
    task: u32,
    tgen: u32,
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Ev>>,
    seq: u64,
}

impl Queue {
    #[allow(clippy::too_many_arguments)]
    fn push(&mut self, time: u64, kind: Kind, arg: u8, job: u32, jgen: u32, task: u32, tgen: u32) {
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Reverse(Ev {
            time,
            seq,
            kind,
            arg,
            job,
            jgen,
            task,
            tgen,
        }));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TState {
    Unsubmitted,
    Pending,
    Running,
    /// Ended, a resubmission is planned.
    Dead,
    /// Ended for good.
    Final,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Req {
    cpu: Dec,
    mem: Dec,
    disk: Dec,
}

#[derive(Debug, Clone)]
struct Task {
    state: TState,
    /// Submissions so far (the first one and resubmissions).
    submits: u8,
    machine: u32,
    gen: u32,
    req: Req,
}

struct Job {
    info: JobInfo,
    different_machines: bool,
    tasks: Vec<Task>,
    /// Tasks not yet in state Final.
    unfinished: u32,
    scheduled: bool,
    ending: bool,
    final_fails: u32,
    final_lost: u32,
    base_run: u64,
    /// First scheduling of the tasks: the scheduler takes a job's tasks in a burst,
    /// `sched_delay` after submission plus `step` per task index.
    sched_delay: u64,
    step: u64,
}

impl Job {
    fn fields(&self, req: &Req) -> ReqFields {
        ReqFields {
            cpu: Some(req.cpu),
            mem: Some(req.mem),
            disk: Some(req.disk),
            different_machines: Some(self.different_machines),
        }
    }
}

struct Slot {
    jgen: u32,
    job: Option<Box<Job>>,
}

const COMMON_CPU: [f64; 10] = [
    0.0625, 0.125, 0.25, 0.03125, 0.01562, 0.5, 0.02499, 0.0125, 0.06873, 0.1,
];

fn sample_req(rng: &mut ChaCha8Rng) -> Req {
    let cpu = if chance(rng, 0.5) {
        COMMON_CPU[rng.gen_range(0..COMMON_CPU.len())]
    } else {
        (-6.2 + 5.5 * rng.gen::<f64>()).exp() // ~0.002 .. 0.5
    };
    let mem = if chance(rng, 0.01) {
        0.15 + 0.45 * rng.gen::<f64>()
    } else {
        (-8.5 + 6.6 * rng.gen::<f64>()).exp() // ~0.0002 .. 0.15
    };
    let disk = (-13.8 + 8.0 * rng.gen::<f64>()).exp(); // ~1e-6 .. 0.003
    Req {
        cpu: Dec::from_f64(cpu),
        mem: Dec::from_f64(mem),
        disk: Dec::from_f64(disk),
    }
}

fn scale(rng: &mut ChaCha8Rng, d: Dec) -> Dec {
    Dec::from_f64(d.to_f64() * (0.5 + 1.5 * rng.gen::<f64>()))
}

/// Priority 0..11 with roughly the trace's frequencies.
fn sample_priority(rng: &mut ChaCha8Rng) -> u8 {
    let u = rng.gen::<f64>();
    const TABLE: [(f64, u8); 8] = [
        (0.35, 0),
        (0.43, 1),
        (0.87, 2),
        (0.88, 4),
        (0.90, 8),
        (0.98, 9),
        (0.985, 10),
        (1.0, 11),
    ];
    TABLE.iter().find(|(c, _)| u < *c).map_or(11, |(_, p)| *p)
}

fn sample_class(rng: &mut ChaCha8Rng) -> u8 {
    let u = rng.gen::<f64>();
    if u < 0.36 {
        0
    } else if u < 0.72 {
        1
    } else if u < 0.97 {
        2
    } else {
        3
    }
}

fn event(code: u8) -> EventType {
    EventType::from_code(code.into()).expect("valid event code")
}

/// Missing info of a terminal row: mostly none, rarely synthesised or snapshot-only.
fn terminal_missing(rng: &mut ChaCha8Rng) -> Option<MissingInfo> {
    let u = rng.gen::<f64>();
    if u < 0.003 {
        Some(MissingInfo::NoSnapshotOrTransition)
    } else if u < 0.004 {
        Some(MissingInfo::SnapshotButNoTransition)
    } else {
        None
    }
}

pub(super) struct Sim<'a> {
    p: Params,
    rng: ChaCha8Rng,
    names: ChaCha8Rng,
    q: Queue,
    slots: Vec<Slot>,
    free: Vec<u32>,
    machines: Vec<u64>,
    jobs_out: TableOut,
    tasks_out: TableOut,
    part: u32,
    part_end: u64,
    arrivals_left: u64,
    last_arrival: u64,
    next_job_id: u64,
    job_ordinal: u64,
    live_tasks: u64,
    stats: GenerateSummary,
    progress: &'a mut dyn FnMut(&GenerateSummary),
}

/// Hash streams of the name generator.
const STREAM_USER: u64 = 1;
const STREAM_JOB_NAME: u64 = 2;
const STREAM_LOGICAL: u64 = 3;

impl<'a> Sim<'a> {
    pub fn new(
        o: &GenerateOptions,
        jobs_out: TableOut,
        tasks_out: TableOut,
        progress: &'a mut dyn FnMut(&GenerateSummary),
    ) -> Sim<'a> {
        let p = Params::new(o);
        let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
        let names = ChaCha8Rng::seed_from_u64(o.seed ^ 0x6e61_6d65_735f_7631);
        let machines = machine_ids(&mut rng, o.machines);
        let next_job_id = 6_251_000_000 + rng.gen_range(0..1_000_000);
        let part_end = p.part_start(1);
        let stats = GenerateSummary {
            parts: p.parts,
            ..GenerateSummary::default()
        };
        Sim {
            arrivals_left: p.jobs - p.initial_jobs,
            last_arrival: p.window_start,
            p,
            rng,
            names,
            q: Queue::default(),
            slots: Vec::new(),
            free: Vec::new(),
            machines,
            jobs_out,
            tasks_out,
            part: 0,
            part_end,
            next_job_id,
            job_ordinal: 0,
            live_tasks: 0,
            stats,
            progress,
        }
    }

    fn hash(&mut self, stream: u64, index: u64) -> Hash {
        self.names.set_stream(stream);
        self.names.set_word_pos(u128::from(index) * 8);
        let mut b = [0u8; 32];
        self.names.fill_bytes(&mut b);
        base64_32(&b)
    }

    fn machine(&mut self) -> u32 {
        self.rng.gen_range(0..self.machines.len() as u32)
    }

    /// Runs the whole simulation and closes every part. Returns the statistics.
    pub fn run(mut self) -> Result<(GenerateSummary, TableOut, TableOut), GenerateError> {
        self.jobs_out.open(0)?;
        self.tasks_out.open(0)?;
        self.initial_state()?;
        self.plan_arrival();
        while let Some(Reverse(ev)) = self.q.heap.pop() {
            self.advance(ev.time)?;
            match ev.kind {
                Kind::Arrival => self.on_arrival(ev.time)?,
                Kind::JobKill => self.on_job_kill(ev)?,
                Kind::JobEnd => self.on_job_end(ev)?,
                _ => self.on_task_event(ev)?,
            }
        }
        // Close the current part and write the remaining (empty) ones.
        loop {
            self.jobs_out.close()?;
            self.tasks_out.close()?;
            self.stats.parts_done = self.part + 1;
            self.sync_stats();
            (self.progress)(&self.stats);
            if self.part + 1 >= self.p.parts {
                break;
            }
            self.part += 1;
            self.jobs_out.open(self.part)?;
            self.tasks_out.open(self.part)?;
        }
        Ok((self.stats, self.jobs_out, self.tasks_out))
    }

    fn sync_stats(&mut self) {
        self.stats.job_rows = self.jobs_out.rows;
        self.stats.task_rows = self.tasks_out.rows;
    }

    fn advance(&mut self, t: u64) -> Result<(), GenerateError> {
        while t >= self.part_end {
            self.jobs_out.close()?;
            self.tasks_out.close()?;
            self.part += 1;
            self.stats.parts_done = self.part;
            self.sync_stats();
            (self.progress)(&self.stats);
            self.part_end = self.p.part_start(self.part + 1);
            self.jobs_out.open(self.part)?;
            self.tasks_out.open(self.part)?;
        }
        Ok(())
    }

    // ---- rows -------------------------------------------------------------------------

    fn emit_job(
        &mut self,
        t: u64,
        slot: u32,
        mi: Option<MissingInfo>,
        et: EventType,
    ) -> Result<(), GenerateError> {
        let job = self.slots[slot as usize].job.as_deref().expect("live job");
        job_row(&mut self.jobs_out.buf, t, mi, &job.info, et);
        self.jobs_out.rows += 1;
        self.stats.job_rows_by_type[et.code() as usize] += 1;
        self.stats.last_time = t;
        self.jobs_out.maybe_flush()
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_task(
        &mut self,
        t: u64,
        slot: u32,
        task: u32,
        mi: Option<MissingInfo>,
        machine: Option<u32>,
        et: EventType,
        req: &ReqFields,
    ) -> Result<(), GenerateError> {
        let job = self.slots[slot as usize].job.as_deref().expect("live job");
        let machine = machine.map(|m| self.machines[m as usize]);
        task_row(
            &mut self.tasks_out.buf,
            t,
            mi,
            &job.info,
            task,
            machine,
            et,
            req,
        );
        self.tasks_out.rows += 1;
        self.stats.task_rows_by_type[et.code() as usize] += 1;
        self.stats.last_time = t;
        self.tasks_out.maybe_flush()
    }

    fn job(&mut self, slot: u32) -> &mut Job {
        self.slots[slot as usize]
            .job
            .as_deref_mut()
            .expect("live job")
    }

    fn task(&mut self, slot: u32, task: u32) -> &mut Task {
        &mut self.job(slot).tasks[task as usize]
    }

    fn jgen(&self, slot: u32) -> u32 {
        self.slots[slot as usize].jgen
    }

    // ---- jobs -------------------------------------------------------------------------

    fn tasks_for_new_job(&mut self) -> u32 {
        let max = self.p.max_tasks;
        if max <= 1 || chance(&mut self.rng, 0.5) {
            return 1;
        }
        // Log-uniform on [1, max]: most jobs small, a few large.
        let v = ((f64::from(max) + 1.0).ln() * self.rng.gen::<f64>()).exp() as u32;
        v.clamp(1, max)
    }

    /// Creates a job in a free slot; its tasks are unsubmitted.
    fn new_job(&mut self, id: u64, n_tasks: u32) -> u32 {
        let ordinal = self.job_ordinal;
        self.job_ordinal += 1;
        let user_ix = (self.p.n_users as f64 * self.rng.gen::<f64>().powi(3)) as u64;
        let logical_ix = (self.p.n_logical as f64 * self.rng.gen::<f64>().powi(2)) as u64;
        let info = JobInfo {
            id,
            user: self.hash(STREAM_USER, user_ix),
            name: self.hash(STREAM_JOB_NAME, ordinal),
            logical_name: self.hash(STREAM_LOGICAL, logical_ix),
            scheduling_class: sample_class(&mut self.rng),
            priority: sample_priority(&mut self.rng),
        };
        let different_machines = chance(&mut self.rng, 0.25);
        let base_run = if chance(&mut self.rng, 0.15) {
            // Long-running service.
            (self.p.duration as f64 * (0.5 + 2.5 * self.rng.gen::<f64>())) as u64
        } else {
            log_uniform(&mut self.rng, self.p.run_lo, self.p.run_hi)
        };
        let req = sample_req(&mut self.rng);
        let sched_delay = if chance(&mut self.rng, 0.25) {
            0
        } else {
            log_uniform(&mut self.rng, 1_000, self.p.delay_hi)
        };
        let step = self.rng.gen_range(5..=30u64);
        let tasks = (0..n_tasks)
            .map(|_| Task {
                state: TState::Unsubmitted,
                submits: 0,
                machine: 0,
                gen: 0,
                req,
            })
            .collect();
        let job = Box::new(Job {
            info,
            different_machines,
            tasks,
            unfinished: n_tasks,
            scheduled: false,
            ending: false,
            final_fails: 0,
            final_lost: 0,
            base_run,
            sched_delay,
            step,
        });
        self.stats.jobs += 1;
        self.stats.tasks += u64::from(n_tasks);
        self.live_tasks += u64::from(n_tasks);
        self.stats.max_live_tasks = self.stats.max_live_tasks.max(self.live_tasks);
        match self.free.pop() {
            Some(s) => {
                self.slots[s as usize].job = Some(job);
                s
            }
            None => {
                self.slots.push(Slot {
                    jgen: 0,
                    job: Some(job),
                });
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Maybe plans a job-wide KILL some time after `from`.
    fn maybe_plan_kill(&mut self, slot: u32, from: u64) {
        if !chance(&mut self.rng, 0.12) {
            return;
        }
        let base = self.job(slot).base_run;
        let delay = (base as f64 * (0.05 + 1.2 * self.rng.gen::<f64>())) as u64;
        if let Some(t) = when(&mut self.rng, &self.p, from, delay) {
            let jgen = self.jgen(slot);
            self.q.push(t, Kind::JobKill, 0, slot, jgen, 0, 0);
        }
    }

    fn plan_arrival(&mut self) {
        if self.arrivals_left == 0 {
            return;
        }
        // Next of `m` sorted uniform arrivals on [last, end): last + (end-last)(1 - U^(1/m)).
        let m = self.arrivals_left as f64;
        let span = (self.p.arrival_end - self.last_arrival) as f64;
        let u: f64 = self.rng.gen();
        let t = self.last_arrival + (span * (1.0 - u.powf(1.0 / m))) as u64;
        let t = t.min(self.p.arrival_end - 1).max(self.last_arrival);
        self.arrivals_left -= 1;
        self.last_arrival = t;
        self.q.push(t, Kind::Arrival, 0, 0, 0, 0, 0);
    }

    fn on_arrival(&mut self, t: u64) -> Result<(), GenerateError> {
        let id = self.next_job_id;
        self.next_job_id += self.rng.gen_range(1..=400);
        let no_tasks = self.p.anomalies && chance(&mut self.rng, 0.001);
        let n = if no_tasks {
            0
        } else {
            self.tasks_for_new_job()
        };
        let slot = self.new_job(id, n);
        self.emit_job(t, slot, None, EventType::Submit)?;
        if n == 0 {
            // Anomaly of the real trace: a job with job events but no task events.
            let et = if chance(&mut self.rng, 0.8) {
                EventType::Kill
            } else {
                EventType::Fail
            };
            self.job(slot).ending = true;
            self.plan_job_end(slot, t, et);
        } else if chance(&mut self.rng, 0.3) {
            // All tasks submitted at the same instant as the job (a tie).
            for i in 0..n {
                self.submit(slot, i, t)?;
            }
        } else {
            let step = self.job(slot).step;
            let first = self.rng.gen_range(0..=1_000u64);
            let jgen = self.jgen(slot);
            for i in 0..n {
                if let Some(ts) = when(&mut self.rng, &self.p, t, first + step * u64::from(i)) {
                    self.q.push(ts, Kind::Submit, 0, slot, jgen, i, 0);
                }
            }
        }
        if n > 0 {
            self.maybe_plan_kill(slot, t);
        }
        self.plan_arrival();
        Ok(())
    }

    fn plan_job_end(&mut self, slot: u32, t: u64, et: EventType) {
        let delay = self.rng.gen_range(1..=self.p.margin);
        let te = t + delay;
        if te < self.p.duration {
            let jgen = self.jgen(slot);
            self.q.push(te, Kind::JobEnd, et.code(), slot, jgen, 0, 0);
        }
    }

    fn on_job_kill(&mut self, ev: Ev) -> Result<(), GenerateError> {
        let slot = ev.job;
        if self.jgen(slot) != ev.jgen || self.job(slot).ending {
            return Ok(());
        }
        let t = ev.time;
        let n = self.job(slot).tasks.len() as u32;
        for i in 0..n {
            let task = self.task(slot, i);
            let state = task.state;
            let req = task.req;
            let machine = task.machine;
            if state == TState::Final {
                continue;
            }
            task.gen += 1;
            task.state = TState::Final;
            self.live_tasks -= 1;
            let fields = self.job(slot).fields(&req);
            match state {
                TState::Pending => {
                    self.emit_task(t, slot, i, None, None, EventType::Kill, &fields)?;
                }
                TState::Running => {
                    let m = (!chance(&mut self.rng, 0.4)).then_some(machine);
                    self.emit_task(t, slot, i, None, m, EventType::Kill, &fields)?;
                }
                _ => {}
            }
        }
        let job = self.job(slot);
        job.unfinished = 0;
        job.ending = true;
        self.plan_job_end(slot, t, EventType::Kill);
        Ok(())
    }

    fn on_job_end(&mut self, ev: Ev) -> Result<(), GenerateError> {
        let slot = ev.job;
        if self.jgen(slot) != ev.jgen {
            return Ok(());
        }
        let mi = chance(&mut self.rng, 0.001).then_some(MissingInfo::NoSnapshotOrTransition);
        self.emit_job(ev.time, slot, mi, event(ev.arg))?;
        let s = &mut self.slots[slot as usize];
        s.job = None;
        s.jgen = s.jgen.wrapping_add(1);
        self.free.push(slot);
        Ok(())
    }

    /// A task reached its final state: maybe the job is over.
    fn finalize(&mut self, slot: u32, i: u32, t: u64, et: EventType) {
        self.live_tasks -= 1;
        let job = self.job(slot);
        job.tasks[i as usize].state = TState::Final;
        job.unfinished -= 1;
        match et {
            EventType::Fail => job.final_fails += 1,
            EventType::Lost => job.final_lost += 1,
            _ => {}
        }
        if job.unfinished > 0 || job.ending {
            return;
        }
        job.ending = true;
        let n = job.tasks.len() as u32;
        let (fails, lost) = (job.final_fails, job.final_lost);
        let et = if fails > 0 && (n == 1 || fails * 5 > n) {
            EventType::Fail
        } else if lost > 0 && chance(&mut self.rng, 0.1) {
            EventType::Lost
        } else {
            EventType::Finish
        };
        self.plan_job_end(slot, t, et);
    }

    // ---- tasks ------------------------------------------------------------------------

    fn on_task_event(&mut self, ev: Ev) -> Result<(), GenerateError> {
        let (slot, i, t) = (ev.job, ev.task, ev.time);
        if self.jgen(slot) != ev.jgen || self.task(slot, i).gen != ev.tgen {
            return Ok(());
        }
        match ev.kind {
            Kind::Submit => self.submit(slot, i, t),
            Kind::UpdatePending => self.update_pending(slot, i, t),
            Kind::Schedule => self.schedule(slot, i, t),
            Kind::UpdateRunning => self.update_running(slot, i, t),
            Kind::End => self.end(slot, i, t, event(ev.arg)),
            Kind::PendingEnd => self.pending_end(slot, i, t, event(ev.arg)),
            Kind::Arrival | Kind::JobKill | Kind::JobEnd => unreachable!("job events"),
        }
    }

    /// SUBMIT row (first submission or resubmission), then the pending phase is planned.
    fn submit(&mut self, slot: u32, i: u32, t: u64) -> Result<(), GenerateError> {
        let task = self.task(slot, i);
        debug_assert!(matches!(task.state, TState::Unsubmitted | TState::Dead));
        task.state = TState::Pending;
        task.submits += 1;
        let req = task.req;
        let fields = self.job(slot).fields(&req);
        self.emit_task(t, slot, i, None, None, EventType::Submit, &fields)?;
        self.plan_pending(slot, i, t);
        Ok(())
    }

    /// Plans the SCHEDULE (or a rare pending EVICT/FAIL) of a pending task. The first
    /// submission follows the job's burst; a resubmission waits a delay of its own.
    fn plan_pending(&mut self, slot: u32, i: u32, from: u64) {
        let task = &self.job(slot).tasks[i as usize];
        let first = task.submits <= 1;
        let delay = if first {
            // The burst started at the job's submission; tasks submitted later (staggered)
            // have waited part of it already.
            let job = self.job(slot);
            job.sched_delay + job.step * u64::from(i)
        } else if chance(&mut self.rng, 0.25) {
            0
        } else {
            log_uniform(&mut self.rng, 1_000, self.p.delay_hi)
        };
        let Some(ts) = when(&mut self.rng, &self.p, from, delay) else {
            return;
        };
        let jgen = self.jgen(slot);
        let tgen = self.task(slot, i).gen;
        if delay > 0 && chance(&mut self.rng, 0.01) {
            let d = (delay as f64 * self.rng.gen::<f64>()) as u64;
            if let Some(tu) = when(&mut self.rng, &self.p, from, d) {
                self.q.push(tu, Kind::UpdatePending, 0, slot, jgen, i, tgen);
            }
        }
        let u = self.rng.gen::<f64>();
        if self.p.anomalies && u < 0.0005 {
            // Seen in the trace: EVICT of a task that is still pending.
            let code = EventType::Evict.code();
            self.q.push(ts, Kind::PendingEnd, code, slot, jgen, i, tgen);
        } else if u < 0.0008 {
            let code = EventType::Fail.code();
            self.q.push(ts, Kind::PendingEnd, code, slot, jgen, i, tgen);
        } else {
            self.q.push(ts, Kind::Schedule, 0, slot, jgen, i, tgen);
        }
    }

    fn update_pending(&mut self, slot: u32, i: u32, t: u64) -> Result<(), GenerateError> {
        if self.task(slot, i).state != TState::Pending {
            return Ok(());
        }
        let old = self.task(slot, i).req;
        let req = Req {
            cpu: scale(&mut self.rng, old.cpu),
            mem: scale(&mut self.rng, old.mem),
            disk: old.disk,
        };
        self.task(slot, i).req = req;
        let fields = self.job(slot).fields(&req);
        self.emit_task(t, slot, i, None, None, EventType::UpdatePending, &fields)
    }

    fn schedule(&mut self, slot: u32, i: u32, t: u64) -> Result<(), GenerateError> {
        if !self.job(slot).scheduled {
            self.job(slot).scheduled = true;
            self.emit_job(t, slot, None, EventType::Schedule)?;
        }
        let m = self.machine();
        let task = self.task(slot, i);
        debug_assert_eq!(task.state, TState::Pending);
        task.state = TState::Running;
        task.machine = m;
        let req = task.req;
        let fields = self.job(slot).fields(&req);
        self.emit_task(t, slot, i, None, Some(m), EventType::Schedule, &fields)?;
        let base = self.job(slot).base_run;
        let run = ((base as f64) * (0.5 + self.rng.gen::<f64>())) as u64;
        self.plan_run(slot, i, t, run.max(1));
        Ok(())
    }

    /// Plans the end of a run (and maybe an UPDATE_RUNNING before it).
    fn plan_run(&mut self, slot: u32, i: u32, from: u64, run: u64) {
        let u = self.rng.gen::<f64>();
        let et = if u < 0.08 {
            EventType::Evict
        } else if u < 0.14 {
            EventType::Fail
        } else if u < 0.17 {
            EventType::Kill
        } else if u < 0.173 {
            EventType::Lost
        } else {
            EventType::Finish
        };
        let Some(te) = when(&mut self.rng, &self.p, from, run) else {
            return;
        };
        let jgen = self.jgen(slot);
        let tgen = self.task(slot, i).gen;
        if chance(&mut self.rng, 0.03) {
            let d = (run as f64 * self.rng.gen::<f64>()) as u64;
            if let Some(tu) = when(&mut self.rng, &self.p, from, d) {
                self.q.push(tu, Kind::UpdateRunning, 0, slot, jgen, i, tgen);
            }
        }
        self.q.push(te, Kind::End, et.code(), slot, jgen, i, tgen);
    }

    fn update_running(&mut self, slot: u32, i: u32, t: u64) -> Result<(), GenerateError> {
        let task = self.task(slot, i);
        if task.state != TState::Running {
            return Ok(());
        }
        let (old, m) = (task.req, task.machine);
        let mut req = old;
        let mut fields = ReqFields {
            cpu: Some(scale(&mut self.rng, old.cpu)),
            mem: Some(scale(&mut self.rng, old.mem)),
            disk: Some(old.disk),
            different_machines: Some(self.job(slot).different_machines),
        };
        // Sometimes one request is empty: it keeps its old value.
        let u = self.rng.gen::<f64>();
        if u < 0.15 {
            fields.cpu = None;
        } else if u < 0.3 {
            fields.mem = None;
        }
        req.cpu = fields.cpu.unwrap_or(old.cpu);
        req.mem = fields.mem.unwrap_or(old.mem);
        self.task(slot, i).req = req;
        let mi = chance(&mut self.rng, 0.002).then_some(MissingInfo::SnapshotButNoTransition);
        self.emit_task(t, slot, i, mi, Some(m), EventType::UpdateRunning, &fields)
    }

    fn end(&mut self, slot: u32, i: u32, t: u64, et: EventType) -> Result<(), GenerateError> {
        let task = self.task(slot, i);
        debug_assert_eq!(task.state, TState::Running);
        let (req, m) = (task.req, task.machine);
        let fields = self.job(slot).fields(&req);
        let machine = if et == EventType::Kill && chance(&mut self.rng, 0.2) {
            None
        } else {
            Some(m)
        };
        let mi = terminal_missing(&mut self.rng);
        self.emit_task(t, slot, i, mi, machine, et, &fields)?;
        self.after_death(slot, i, t, et);
        Ok(())
    }

    /// EVICT (with a machine ID) or FAIL of a task that is still pending.
    fn pending_end(
        &mut self,
        slot: u32,
        i: u32,
        t: u64,
        et: EventType,
    ) -> Result<(), GenerateError> {
        let req = self.task(slot, i).req;
        let fields = self.job(slot).fields(&req);
        let machine = (et == EventType::Evict).then(|| self.machine());
        self.emit_task(t, slot, i, None, machine, et, &fields)?;
        self.after_death(slot, i, t, et);
        Ok(())
    }

    /// After a terminal event: resubmission or the end of the task.
    fn after_death(&mut self, slot: u32, i: u32, t: u64, et: EventType) {
        let p_resubmit = match et {
            EventType::Evict => 0.95,
            EventType::Fail => 0.75,
            EventType::Kill => 0.2,
            EventType::Lost => 0.6,
            _ => 0.0,
        };
        let submits = self.task(slot, i).submits;
        if submits < MAX_SUBMITS && chance(&mut self.rng, p_resubmit) {
            self.task(slot, i).state = TState::Dead;
            let delay = log_uniform(&mut self.rng, 1_000, self.p.delay_hi / 2);
            if let Some(ts) = when(&mut self.rng, &self.p, t, delay) {
                let jgen = self.jgen(slot);
                let tgen = self.task(slot, i).gen;
                self.q.push(ts, Kind::Submit, 0, slot, jgen, i, tgen);
            }
            return;
        }
        self.finalize(slot, i, t, et);
    }

    // ---- initial state ----------------------------------------------------------------

    /// Jobs and tasks that exist before the trace window, all at t=0: first every SUBMIT
    /// (running tasks' SUBMITs already carry their machine ID, some with missing info 2 and
    /// empty requests), then every SCHEDULE (whose request can differ from the SUBMIT's).
    fn initial_state(&mut self) -> Result<(), GenerateError> {
        let n = self.p.initial_jobs;
        if n == 0 {
            return Ok(());
        }
        let lo = 3_000_000u64;
        let gap = ((6_250_000_000 - lo) / n).max(1);
        // (slot, per task: Some(submit-row request) for running tasks)
        let mut jobs: Vec<u32> = Vec::with_capacity(n as usize);
        for k in 0..n {
            let id = lo + k * gap + self.rng.gen_range(0..gap.div_ceil(2));
            let nt = self.tasks_for_new_job();
            let slot = self.new_job(id, nt);
            for i in 0..nt {
                let running = chance(&mut self.rng, 0.85);
                let m = self.machine();
                let task = self.task(slot, i);
                task.state = if running {
                    TState::Running
                } else {
                    TState::Pending
                };
                task.machine = m;
                task.submits = 1;
            }
            jobs.push(slot);
        }
        // SUBMITs.
        for &slot in &jobs {
            self.emit_job(0, slot, None, EventType::Submit)?;
        }
        for &slot in &jobs {
            let nt = self.job(slot).tasks.len() as u32;
            for i in 0..nt {
                let task = self.task(slot, i).clone();
                let fields = self.job(slot).fields(&task.req);
                if task.state == TState::Running {
                    if chance(&mut self.rng, 0.3) {
                        let empty = ReqFields::default();
                        let mi = Some(MissingInfo::ExistsButNoCreation);
                        self.emit_task(
                            0,
                            slot,
                            i,
                            mi,
                            Some(task.machine),
                            EventType::Submit,
                            &empty,
                        )?;
                    } else {
                        self.emit_task(
                            0,
                            slot,
                            i,
                            None,
                            Some(task.machine),
                            EventType::Submit,
                            &fields,
                        )?;
                    }
                    if chance(&mut self.rng, 0.3) {
                        // The SCHEDULE's request differs from the SUBMIT's: it counts.
                        let r = &mut self.task(slot, i).req;
                        let old = *r;
                        r.cpu = Dec::from_f64(old.cpu.to_f64() * 0.5);
                        r.mem = Dec::from_f64(old.mem.to_f64() * 1.25);
                    }
                } else {
                    self.emit_task(0, slot, i, None, None, EventType::Submit, &fields)?;
                }
            }
        }
        // SCHEDULEs.
        for &slot in &jobs {
            let any = self
                .job(slot)
                .tasks
                .iter()
                .any(|t| t.state == TState::Running);
            if any {
                self.job(slot).scheduled = true;
                self.emit_job(0, slot, None, EventType::Schedule)?;
            }
        }
        for &slot in &jobs {
            let nt = self.job(slot).tasks.len() as u32;
            for i in 0..nt {
                let task = self.task(slot, i).clone();
                if task.state == TState::Running {
                    let fields = self.job(slot).fields(&task.req);
                    self.emit_task(
                        0,
                        slot,
                        i,
                        None,
                        Some(task.machine),
                        EventType::Schedule,
                        &fields,
                    )?;
                }
            }
        }
        // Their future, from the start of the trace window.
        let from = self.p.window_start;
        for &slot in &jobs {
            let nt = self.job(slot).tasks.len() as u32;
            let base = self.job(slot).base_run;
            for i in 0..nt {
                if self.task(slot, i).state == TState::Running {
                    let left = (base as f64 * 1.5 * self.rng.gen::<f64>()) as u64;
                    self.plan_run(slot, i, from, left);
                } else {
                    self.plan_pending(slot, i, from);
                }
            }
            self.maybe_plan_kill(slot, from);
        }
        Ok(())
    }
}

/// `n` distinct machine IDs, in random order: some small, most between 1e8 and 4.4e9
/// (above 2^31-1 and 2^32 for many of them, as in the trace).
fn machine_ids(rng: &mut ChaCha8Rng, n: u64) -> Vec<u64> {
    let n = n as usize;
    let mut ids: Vec<u64> = Vec::with_capacity(n);
    while ids.len() < n {
        while ids.len() < n {
            let id = if chance(rng, 0.15) {
                log_uniform(rng, 1, 100_000_000)
            } else {
                rng.gen_range(100_000_000..4_400_000_000)
            };
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
    }
    // Fisher-Yates with our generator (deterministic).
    for i in (1..ids.len()).rev() {
        let j = rng.gen_range(0..=i);
        ids.swap(i, j);
    }
    ids
}
