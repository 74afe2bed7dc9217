//! Stage 2: one ordered stream out of the three tables.
//!
//! Each table is already sorted by time (validated by the reader), so stable two-way merges
//! that prefer their left side on equal times, machines then jobs then tasks
//! (`(machines ⋈ jobs) ⋈ tasks`), give the (time, table, part, line) order in constant
//! memory, with machine < job < task. Without machines their side is empty and the stream
//! (and its seqs) is exactly the two-table one. The first implementation loaded everything
//! into a heap instead.

use crate::fetch::Client;
use crate::trace::{
    Event, Location, OnError, PartSelection, ReadAhead, Record, SkipCounts, Table, TableReader,
    TraceError,
};

/// Stable merge of two sorted iterators: on equal keys the left item comes first.
pub struct Merge2<L: Iterator, R, F> {
    left: L,
    right: R,
    left_head: Option<L::Item>,
    right_head: Option<L::Item>,
    primed: bool,
    key: F,
}

impl<L, R, K, F> Merge2<L, R, F>
where
    L: Iterator,
    R: Iterator<Item = L::Item>,
    K: Ord,
    F: FnMut(&L::Item) -> K,
{
    pub fn new(left: L, right: R, key: F) -> Self {
        Merge2 {
            left,
            right,
            left_head: None,
            right_head: None,
            primed: false,
            key,
        }
    }

    pub fn left(&self) -> &L {
        &self.left
    }

    pub fn right(&self) -> &R {
        &self.right
    }

    /// Whether the right side has nothing left (after the first `next`).
    fn right_empty(&self) -> bool {
        self.primed && self.right_head.is_none()
    }
}

impl<L, R, K, F> Iterator for Merge2<L, R, F>
where
    L: Iterator,
    R: Iterator<Item = L::Item>,
    K: Ord,
    F: FnMut(&L::Item) -> K,
{
    type Item = L::Item;

    fn next(&mut self) -> Option<L::Item> {
        if !self.primed {
            self.primed = true;
            self.left_head = self.left.next();
            self.right_head = self.right.next();
        }
        let take_left = match (&self.left_head, &self.right_head) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => (self.key)(l) <= (self.key)(r),
        };
        if take_left {
            std::mem::replace(&mut self.left_head, self.left.next())
        } else {
            std::mem::replace(&mut self.right_head, self.right.next())
        }
    }
}

/// Sort key of a reader item. Errors sort first so they surface as soon as they are read.
fn item_key(item: &ReaderItem) -> Option<u64> {
    item.as_ref().ok().map(|(r, _)| r.time())
}

/// One table's reader: on the calling thread, or on its own ([`ReadAhead`]).
// Two per stream at most, so the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum TableSource {
    Here(TableReader),
    Ahead(ReadAhead),
}

impl TableSource {
    fn skipped(&self) -> &SkipCounts {
        match self {
            TableSource::Here(r) => r.skipped(),
            TableSource::Ahead(r) => r.skipped(),
        }
    }

    fn bytes_progress(&self) -> (u64, u64) {
        match self {
            TableSource::Here(r) => r.bytes_progress(),
            TableSource::Ahead(r) => r.bytes_progress(),
        }
    }

    fn rows(&self) -> u64 {
        match self {
            TableSource::Here(r) => r.rows(),
            TableSource::Ahead(r) => r.rows(),
        }
    }
}

/// An absent table is an empty side of the merge.
struct Side(Option<TableSource>);

impl Iterator for Side {
    type Item = ReaderItem;
    fn next(&mut self) -> Option<Self::Item> {
        match self.0.as_mut()? {
            TableSource::Here(r) => r.next(),
            TableSource::Ahead(r) => r.next(),
        }
    }
}

type ReaderItem = Result<(Record, crate::trace::Position), TraceError>;
type KeyFn = fn(&ReaderItem) -> Option<u64>;
/// `(machines ⋈ jobs) ⋈ tasks`: left wins on equal times, so machine < job < task.
type ReaderMerge = Merge2<Merge2<Side, Side, KeyFn>, Side, KeyFn>;

/// The merged, numbered event stream of a trace (any table may be absent).
pub struct TraceStream {
    inner: ReaderMerge,
    next_seq: u64,
    /// After an error or the end of the selected span: nothing more.
    done: bool,
    from: u64,
    to: u64,
    filtered_out: u64,
    /// Ends the stream at the last job or task event: set when `--parts` selects some parts,
    /// so the machine table (one part for the whole trace) covers the selected span only.
    machines_follow: bool,
}

/// Which folders (or bucket URLs) to read and how to treat bad rows.
#[derive(Debug, Clone, Default)]
pub struct TraceSource {
    pub jobs: Option<Location>,
    pub tasks: Option<Location>,
    /// Folder (or URL) of `machine_events` parts; `None` keeps the two-table stream and its seqs.
    pub machines: Option<Location>,
    /// Which parts of each table.
    pub parts: PartSelection,
    pub on_error: OnError,
    /// Only events with `from <= time < to`; seqs number the events that pass.
    pub from: Option<u64>,
    pub to: Option<u64>,
}

impl TraceSource {
    /// Opens both tables (lists the parts; files are opened one at a time while reading).
    pub fn open(&self) -> Result<TraceStream, TraceError> {
        self.open_with(false)
    }

    /// Like [`TraceSource::open`], with each table read on its own thread. Worth it when a
    /// core would otherwise idle, as in `aggregate --from-files`. The replay
    /// shares two cores with the broker and librdkafka, and there it only added CPU
    /// (BENCHMARKS.md).
    pub fn open_read_ahead(&self) -> Result<TraceStream, TraceError> {
        self.open_with(true)
    }

    /// Both tables of the bundled sample.
    #[cfg(test)]
    pub(crate) fn sample() -> TraceSource {
        TraceSource {
            jobs: Some(crate::trace::sample_dir(Table::Job).into()),
            tasks: Some(crate::trace::sample_dir(Table::Task).into()),
            ..Default::default()
        }
    }

    /// All three tables of the bundled sample.
    #[cfg(test)]
    pub(crate) fn sample_with_machines() -> TraceSource {
        TraceSource {
            machines: Some(crate::trace::sample_dir(Table::Machine).into()),
            ..Self::sample()
        }
    }

    fn open_with(&self, read_ahead: bool) -> Result<TraceStream, TraceError> {
        let client = Client::default();
        let open = |table, location: &Option<Location>| -> Result<_, TraceError> {
            // `--parts` selects job and task parts; the machine table is read whole (one part
            // for the whole trace), up to the selected span's end (`machines_follow`).
            let parts = if table == Table::Machine {
                PartSelection::All
            } else {
                self.parts
            };
            let reader = location
                .as_ref()
                .map(|l| TableReader::open_location(table, l, &parts, self.on_error, &client))
                .transpose()?;
            Ok(reader.map(|r| {
                if read_ahead {
                    TableSource::Ahead(ReadAhead::spawn(r))
                } else {
                    TableSource::Here(r)
                }
            }))
        };
        let mut stream = TraceStream::from_sources(
            open(Table::Machine, &self.machines)?,
            open(Table::Job, &self.jobs)?,
            open(Table::Task, &self.tasks)?,
        );
        stream.from = self.from.unwrap_or(0);
        stream.to = self.to.unwrap_or(u64::MAX);
        stream.machines_follow = self.parts != PartSelection::All
            && self.machines.is_some()
            && (self.jobs.is_some() || self.tasks.is_some());
        Ok(stream)
    }
}

impl TraceStream {
    pub fn new(jobs: Option<TableReader>, tasks: Option<TableReader>) -> Self {
        Self::from_sources(
            None,
            jobs.map(TableSource::Here),
            tasks.map(TableSource::Here),
        )
    }

    /// The three tables' readers (any may be absent).
    pub fn with_machines(
        machines: Option<TableReader>,
        jobs: Option<TableReader>,
        tasks: Option<TableReader>,
    ) -> Self {
        Self::from_sources(
            machines.map(TableSource::Here),
            jobs.map(TableSource::Here),
            tasks.map(TableSource::Here),
        )
    }

    fn from_sources(
        machines: Option<TableSource>,
        jobs: Option<TableSource>,
        tasks: Option<TableSource>,
    ) -> Self {
        let key: KeyFn = item_key;
        TraceStream {
            inner: Merge2::new(
                Merge2::new(Side(machines), Side(jobs), key),
                Side(tasks),
                key,
            ),
            next_seq: 0,
            done: false,
            from: 0,
            to: u64::MAX,
            filtered_out: 0,
            machines_follow: false,
        }
    }

    /// The three sides: machines, jobs, tasks.
    fn sides(&self) -> [&Side; 3] {
        [
            self.inner.left().left(),
            self.inner.left().right(),
            self.inner.right(),
        ]
    }

    /// Rows skipped so far (under `--on-error skip`), by reason, all tables together.
    pub fn skipped(&self) -> SkipCounts {
        let mut all = SkipCounts::default();
        for side in self.sides() {
            if let Some(r) = &side.0 {
                all.merge(r.skipped());
            }
        }
        all
    }

    /// Fraction of the input's compressed bytes in finished parts (0..=1).
    pub fn progress(&self) -> f64 {
        let (mut done, mut total) = (0, 0);
        for side in self.sides() {
            if let Some(r) = &side.0 {
                let (d, t) = r.bytes_progress();
                done += d;
                total += t;
            }
        }
        if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        }
    }

    /// Rows read so far per table (job, task).
    pub fn rows(&self) -> (u64, u64) {
        let [_, jobs, tasks] = self.sides().map(|s| s.0.as_ref().map_or(0, |r| r.rows()));
        (jobs, tasks)
    }

    /// Rows of `machine_events` read so far.
    pub fn machine_rows(&self) -> u64 {
        self.sides()[0].0.as_ref().map_or(0, |r| r.rows())
    }

    /// Rows left out by the `from`/`to` bounds.
    pub fn filtered_out(&self) -> u64 {
        self.filtered_out
    }

    /// Sequence number the next event will get (= events yielded so far).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

impl Iterator for TraceStream {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            return match self.inner.next()? {
                // Only machine events are left: with some parts selected, the stream ends
                // with the last job or task event.
                Ok((Record::Machine(_), _))
                    if self.machines_follow
                        && self.inner.right_empty()
                        && self.inner.left().right_empty() =>
                {
                    self.done = true;
                    None
                }
                Ok((record, _pos)) if record.time() < self.from || record.time() >= self.to => {
                    self.filtered_out += 1;
                    continue;
                }
                Ok((record, _pos)) => {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    Some(Ok(Event { seq, record }))
                }
                Err(e) => {
                    self.done = true;
                    Some(Err(e))
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The merge equals a stable sort of the concatenated inputs by (time, table): jobs
        /// before tasks at equal times, file order kept within a table.
        #[test]
        fn merge_equals_stable_sort(
            mut jobs in prop::collection::vec(0u64..50, 0..200),
            mut tasks in prop::collection::vec(0u64..50, 0..200),
        ) {
            jobs.sort_unstable();
            tasks.sort_unstable();
            let left: Vec<(u64, u8, usize)> = jobs.iter().enumerate().map(|(i, &t)| (t, 0, i)).collect();
            let right: Vec<(u64, u8, usize)> = tasks.iter().enumerate().map(|(i, &t)| (t, 1, i)).collect();
            let merged: Vec<_> = Merge2::new(left.clone().into_iter(), right.clone().into_iter(), |x: &(u64, u8, usize)| x.0).collect();
            let mut sorted: Vec<_> = left.into_iter().chain(right).collect();
            sorted.sort_by_key(|x| (x.0, x.1)); // stable: keeps file order within a table
            prop_assert_eq!(merged, sorted);
        }
    }

    proptest! {
        /// With machines: the nested merge equals a stable sort of the three inputs by
        /// (time, table rank machine 0 < job 1 < task 2), file order kept within a table.
        #[test]
        fn three_table_merge_equals_stable_sort(
            mut machines in prop::collection::vec(0u64..50, 0..100),
            mut jobs in prop::collection::vec(0u64..50, 0..200),
            mut tasks in prop::collection::vec(0u64..50, 0..200),
        ) {
            machines.sort_unstable();
            jobs.sort_unstable();
            tasks.sort_unstable();
            let side = |v: &[u64], t: Table| -> Vec<(u64, Table, usize)> {
                v.iter().enumerate().map(|(i, &x)| (x, t, i)).collect()
            };
            let (m, j, t) = (side(&machines, Table::Machine), side(&jobs, Table::Job), side(&tasks, Table::Task));
            let key = |x: &(u64, Table, usize)| x.0;
            let merged: Vec<_> = Merge2::new(
                Merge2::new(m.clone().into_iter(), j.clone().into_iter(), key),
                t.clone().into_iter(),
                key,
            )
            .collect();
            let mut sorted: Vec<_> = j.into_iter().chain(t).chain(m).collect();
            sorted.sort_by_key(|x| (x.0, x.1)); // Table's Ord: machine < job < task
            prop_assert_eq!(merged, sorted);
        }
    }

    /// Writes `rows` as one gzip part `part-00000-of-00001.csv.gz` of a new folder in `dir`.
    fn part(dir: &std::path::Path, table: &str, rows: &str) -> Location {
        use std::io::Write;
        let folder = dir.join(table);
        std::fs::create_dir_all(&folder).unwrap();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(rows.as_bytes()).unwrap();
        std::fs::write(
            folder.join("part-00000-of-00001.csv.gz"),
            e.finish().unwrap(),
        )
        .unwrap();
        folder.into()
    }

    /// Through the real readers: at equal times machine rows come first, then jobs, then
    /// tasks; seqs count all three.
    #[test]
    fn machines_come_first_at_equal_times() {
        let dir = tempfile::tempdir().unwrap();
        let src = TraceSource {
            machines: Some(part(
                dir.path(),
                "machine_events",
                "0,7,0,p,0.5,0.5\n5,7,2,,0.25,\n9,7,1,,,\n",
            )),
            jobs: Some(part(dir.path(), "job_events", "0,,1,0,,,,\n5,,1,1,,,,\n")),
            tasks: Some(part(
                dir.path(),
                "task_events",
                "0,,1,0,7,0,u,,0,0.1,0.1,,\n5,,1,0,7,1,u,,0,0.1,0.1,,\n",
            )),
            ..Default::default()
        };
        let got: Vec<(u64, u64, Table)> = src
            .open()
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.seq, e.record.time(), e.record.table()))
            .collect();
        use Table::*;
        assert_eq!(
            got,
            vec![
                (0, 0, Machine),
                (1, 0, Job),
                (2, 0, Task),
                (3, 5, Machine),
                (4, 5, Job),
                (5, 5, Task),
                (6, 9, Machine),
            ]
        );
        let mut s = src.open().unwrap();
        s.by_ref().for_each(drop);
        assert_eq!((s.machine_rows(), s.rows()), (3, (2, 2)));
    }

    /// With some parts selected the machine table is read whole (its one part is not
    /// "part 1") and ends with the selected job and task parts: machine events up to and at
    /// the last job or task event's time, none after.
    #[test]
    fn selected_parts_cut_the_machine_table_at_their_end() {
        let all: Vec<Record> = TraceSource::sample_with_machines()
            .open()
            .unwrap()
            .map(|e| e.unwrap().record)
            .collect();
        for parts in [PartSelection::First(1), PartSelection::Range(1, 1)] {
            let src = TraceSource {
                parts,
                ..TraceSource::sample_with_machines()
            };
            let got: Vec<Record> = src.open().unwrap().map(|e| e.unwrap().record).collect();
            let last = got.last().unwrap();
            assert_ne!(
                last.table(),
                Table::Machine,
                "{parts}: ends with a job or task"
            );
            let end = last.time();
            let two: Vec<&Record> = got.iter().filter(|r| r.table() != Table::Machine).collect();
            let expected_two: Vec<Record> = TraceSource {
                parts,
                ..TraceSource::sample()
            }
            .open()
            .unwrap()
            .map(|e| e.unwrap().record)
            .collect();
            assert_eq!(two, expected_two.iter().collect::<Vec<_>>(), "{parts}");
            let machines: Vec<&Record> =
                got.iter().filter(|r| r.table() == Table::Machine).collect();
            let expected: Vec<&Record> = all
                .iter()
                .filter(|r| r.table() == Table::Machine && r.time() <= end)
                .collect();
            assert!(!machines.is_empty(), "{parts}");
            if parts == PartSelection::First(1) {
                assert!(
                    machines.len() < 12_540,
                    "the first part ends before the machine table"
                );
            }
            assert_eq!(machines, expected, "{parts}: the machine rows up to {end}");
        }
        // All parts: the whole machine table, also after the last task event.
        assert_eq!(
            all.iter().filter(|r| r.table() == Table::Machine).count(),
            12_540
        );
    }

    /// Without machines the stream is the two-table one, seq for seq; with them, the jobs
    /// and tasks keep their relative order.
    #[test]
    fn machines_interleave_without_reordering_jobs_and_tasks() {
        let two: Vec<Record> = TraceSource::sample()
            .open()
            .unwrap()
            .map(|e| e.unwrap().record)
            .collect();
        let mut n_machines = 0u64;
        let mut prev = (0u64, Table::Machine);
        let mut others = Vec::with_capacity(two.len());
        for (i, e) in TraceSource::sample_with_machines()
            .open()
            .unwrap()
            .enumerate()
        {
            let e = e.unwrap();
            assert_eq!(e.seq, i as u64);
            let key = (e.record.time(), e.record.table());
            assert!(key >= prev, "{key:?} after {prev:?}");
            prev = key;
            match e.record {
                Record::Machine(_) => n_machines += 1,
                r => others.push(r),
            }
        }
        assert_eq!(others, two);
        assert_eq!(n_machines, 12_540, "the sample's machine_events rows");
    }

    #[test]
    fn sample_stream_is_ordered_and_numbered() {
        let src = TraceSource::sample();
        let mut prev = (0u64, Table::Machine);
        let mut n = 0u64;
        for e in src.open().unwrap() {
            let e = e.unwrap();
            assert_eq!(e.seq, n);
            let key = (e.record.time(), e.record.table());
            assert!(key >= prev);
            prev = key;
            n += 1;
        }
        assert_eq!(n, 541_725);
    }

    #[test]
    fn read_ahead_stream_equals_the_direct_one() {
        let src = TraceSource {
            from: Some(600_000_000),
            to: Some(1_800_000_000),
            ..TraceSource::sample()
        };
        let mut direct = src.open().unwrap();
        let mut ahead = src.open_read_ahead().unwrap();
        let mut n = 0u64;
        loop {
            match (direct.next(), ahead.next()) {
                (None, None) => break,
                (Some(Ok(a)), Some(Ok(b))) => {
                    assert_eq!((a.seq, &a.record), (b.seq, &b.record));
                }
                (a, b) => panic!("event {n}: {a:?} vs {b:?}"),
            }
            n += 1;
        }
        assert!(n > 10_000, "{n} events only");
        assert_eq!(direct.rows(), ahead.rows());
        assert_eq!(direct.filtered_out(), ahead.filtered_out());
        assert_eq!(direct.progress(), ahead.progress());
    }
}
