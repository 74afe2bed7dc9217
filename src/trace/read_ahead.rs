//! A [`TableReader`] on its own thread, handing over rows in batches.
//!
//! Decompressing, splitting and parsing the CSV is about a fifth of the replay thread's work;
//! on its own thread it overlaps with encoding and producing. The channel holds at most
//! [`DEPTH`] batches of [`BATCH`] rows, so memory stays flat whatever the trace's size, and
//! the items arrive in exactly the reader's order, errors included.

use super::error::TraceError;
use super::reader::{SkipCounts, TableReader};
use super::record::{Position, Record, Table};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

/// Rows per batch: large enough that the channel costs nothing per row.
pub const BATCH: usize = 1024;
/// Batches in flight between the reader thread and its consumer.
pub const DEPTH: usize = 4;

type Item = Result<(Record, Position), TraceError>;

/// The reader's counters as of the end of a batch.
#[derive(Debug, Clone, Default)]
struct Counters {
    skipped: SkipCounts,
    bytes: (u64, u64),
}

struct Batch {
    items: Vec<Item>,
    counters: Counters,
    /// The reader returned `None` (or an error, after which it returns nothing more).
    last: bool,
}

/// Iterates a [`TableReader`] running on a background thread.
pub struct ReadAhead {
    table: Table,
    rx: Option<Receiver<Batch>>,
    current: std::vec::IntoIter<Item>,
    counters: Counters,
    rows: u64,
    finished: bool,
    thread: Option<JoinHandle<()>>,
}

impl ReadAhead {
    pub fn spawn(mut reader: TableReader) -> ReadAhead {
        let table = reader.table();
        let counters = Counters {
            skipped: SkipCounts::default(),
            bytes: reader.bytes_progress(),
        };
        let (tx, rx) = sync_channel::<Batch>(DEPTH);
        let thread = std::thread::Builder::new()
            .name(format!("read-{}", table.name()))
            .spawn(move || loop {
                let mut items = Vec::with_capacity(BATCH);
                let mut last = false;
                while items.len() < BATCH {
                    match reader.next() {
                        Some(item) => {
                            let failed = item.is_err();
                            items.push(item);
                            if failed {
                                last = true;
                                break;
                            }
                        }
                        None => {
                            last = true;
                            break;
                        }
                    }
                }
                let counters = Counters {
                    skipped: reader.skipped().clone(),
                    bytes: reader.bytes_progress(),
                };
                // A closed channel means the consumer is gone: stop reading.
                if tx
                    .send(Batch {
                        items,
                        counters,
                        last,
                    })
                    .is_err()
                    || last
                {
                    return;
                }
            })
            .expect("spawning a trace reader thread");
        ReadAhead {
            table,
            rx: Some(rx),
            current: Vec::new().into_iter(),
            counters,
            rows: 0,
            finished: false,
            thread: Some(thread),
        }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    /// Rows skipped so far; may run up to one batch ahead of the rows returned, and is exact
    /// once the reader is exhausted.
    pub fn skipped(&self) -> &SkipCounts {
        &self.counters.skipped
    }

    /// Like [`TableReader::bytes_progress`], as of the last batch received.
    pub fn bytes_progress(&self) -> (u64, u64) {
        self.counters.bytes
    }

    /// Rows returned so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Waits for the reader thread; re-raises its panic, if it had one.
    fn join(&mut self) {
        self.rx = None;
        if let Some(t) = self.thread.take() {
            if let Err(panic) = t.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

impl Iterator for ReadAhead {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.current.next() {
                if item.is_ok() {
                    self.rows += 1;
                }
                return Some(item);
            }
            if self.finished {
                return None;
            }
            match self.rx.as_ref().map(Receiver::recv) {
                Some(Ok(batch)) => {
                    self.finished = batch.last;
                    self.counters = batch.counters;
                    self.current = batch.items.into_iter();
                    if self.finished {
                        self.join();
                    }
                }
                // The thread ended without its last batch: it panicked. Never end the
                // stream silently short.
                Some(Err(_)) | None => {
                    self.finished = true;
                    self.join();
                    unreachable!("trace reader thread ended without its last batch");
                }
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Closing the channel stops the thread at its next send; don't wait for it when
        // already unwinding.
        self.rx = None;
        if let Some(t) = self.thread.take() {
            if !std::thread::panicking() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::OnError;

    fn sample(table: Table) -> TableReader {
        TableReader::open(table, &crate::trace::sample_dir(table), OnError::Fail).unwrap()
    }

    /// Same items, same order, same counters as the reader on the calling thread.
    #[test]
    fn equals_the_reader_it_wraps() {
        for table in [Table::Job, Table::Task] {
            let mut direct = sample(table);
            let mut ahead = ReadAhead::spawn(sample(table));
            let mut n = 0u64;
            loop {
                match (direct.next(), ahead.next()) {
                    (None, None) => break,
                    (Some(Ok(a)), Some(Ok(b))) => assert_eq!(a, b),
                    (a, b) => panic!("row {n}: {a:?} vs {b:?}"),
                }
                n += 1;
            }
            assert!(n > BATCH as u64 * DEPTH as u64, "{n} rows only");
            assert_eq!(ahead.rows(), n);
            assert_eq!(ahead.bytes_progress(), direct.bytes_progress());
            assert_eq!(ahead.bytes_progress().0, ahead.bytes_progress().1);
        }
    }

    fn gz(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    /// A bad row ends the stream with its error, after every good row before it; under
    /// `skip` the counters arrive with the rows.
    #[test]
    fn errors_arrive_in_place_and_skips_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for t in 0..3000 {
            text += &format!("{t},,1,0,,,,\n");
        }
        text += "bad,,1,0,,,,\n";
        text += "5000,,1,0,,,,\n";
        std::fs::write(dir.path().join("part-00000-of-00001.csv.gz"), gz(&text)).unwrap();

        let r = TableReader::open(Table::Job, dir.path(), OnError::Fail).unwrap();
        let items: Vec<_> = ReadAhead::spawn(r).collect();
        assert_eq!(items.len(), 3001);
        assert!(items[..3000].iter().all(Result::is_ok));
        let err = items[3000].as_ref().unwrap_err().to_string();
        assert!(err.contains("part-00000-of-00001.csv.gz:3001"), "{err}");

        let r = TableReader::open(Table::Job, dir.path(), OnError::Skip).unwrap();
        let mut ahead = ReadAhead::spawn(r);
        assert_eq!(ahead.by_ref().count(), 3001);
        assert_eq!(ahead.skipped().total(), 1);
        assert_eq!(ahead.rows(), 3001);
    }

    /// Dropping it half-read stops the thread (the drop joins it, so this returns).
    #[test]
    fn dropping_early_stops_the_thread() {
        let mut ahead = ReadAhead::spawn(sample(Table::Task));
        assert!(ahead.next().unwrap().is_ok());
        drop(ahead);
    }
}
