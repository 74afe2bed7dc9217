//! Part files of the two tables: time-range sharding and gzip compression.
//!
//! Rows are formatted on the simulation thread into chunks; one thread per table compresses
//! the chunks into the current part file. The gzip header is fixed (mtime 0, OS 0, no name,
//! like the real trace's files), so the bytes depend only on the rows and the level.

use super::GenerateError;
use crate::trace::Table;
use flate2::{Compression, GzBuilder};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes of formatted rows handed to the compressing thread at a time.
const CHUNK: usize = 256 * 1024;

/// `part-NNNNN-of-MMMMM.csv.gz`.
pub fn part_file_name(part: u32, parts: u32) -> String {
    format!("part-{part:05}-of-{parts:05}.csv.gz")
}

/// Folder name of a table in a trace directory.
pub fn table_dir_name(table: Table) -> &'static str {
    match table {
        Table::Job => "job_events",
        Table::Task => "task_events",
        Table::Machine => "machine_events",
    }
}

enum Msg {
    Open(PathBuf),
    Data(Vec<u8>),
    Close,
}

/// Writer thread of one table. Returns the compressed bytes written.
fn writer_thread(
    rx: Receiver<Msg>,
    level: u32,
    back: SyncSender<Vec<u8>>,
) -> Result<u64, GenerateError> {
    type Gz = flate2::write::GzEncoder<BufWriter<File>>;
    let mut current: Option<(PathBuf, Gz)> = None;
    let mut bytes = 0u64;
    for msg in rx {
        match msg {
            Msg::Open(path) => {
                let file = File::create(&path).map_err(|e| GenerateError::io(&path, e))?;
                let gz = GzBuilder::new().mtime(0).operating_system(0).write(
                    BufWriter::with_capacity(1 << 17, file),
                    Compression::new(level),
                );
                current = Some((path, gz));
            }
            Msg::Data(mut data) => {
                let (path, gz) = current.as_mut().expect("data before open");
                gz.write_all(&data)
                    .map_err(|e| GenerateError::io(&*path, e))?;
                data.clear();
                let _ = back.try_send(data);
            }
            Msg::Close => {
                let (path, gz) = current.take().expect("close before open");
                let buf = gz.finish().map_err(|e| GenerateError::io(&path, e))?;
                let file = buf
                    .into_inner()
                    .map_err(|e| GenerateError::io(&path, e.into_error()))?;
                bytes += file
                    .metadata()
                    .map_err(|e| GenerateError::io(&path, e))?
                    .len();
            }
        }
    }
    Ok(bytes)
}

/// The output of one table: a row buffer and its compressing thread.
pub struct TableOut {
    dir: PathBuf,
    parts: u32,
    pub buf: Vec<u8>,
    pub rows: u64,
    tx: Option<SyncSender<Msg>>,
    spare: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<Result<u64, GenerateError>>>,
}

impl TableOut {
    pub fn new(dir: PathBuf, parts: u32, level: u32, name: &str) -> Result<Self, GenerateError> {
        let (tx, rx) = sync_channel::<Msg>(4);
        let (back_tx, back_rx) = sync_channel::<Vec<u8>>(8);
        let handle = std::thread::Builder::new()
            .name(format!("generate-{name}"))
            .spawn(move || writer_thread(rx, level, back_tx))
            .map_err(|e| GenerateError::io(&dir, e))?;
        Ok(TableOut {
            dir,
            parts,
            buf: Vec::with_capacity(CHUNK + 4096),
            rows: 0,
            tx: Some(tx),
            spare: back_rx,
            handle: Some(handle),
        })
    }

    /// Sends a message; if the thread has stopped, returns its error.
    fn send(&mut self, msg: Msg) -> Result<(), GenerateError> {
        let tx = self.tx.as_ref().expect("not finished");
        if tx.send(msg).is_err() {
            return Err(self.join().err().unwrap_or_else(|| {
                GenerateError::io(&self.dir, std::io::Error::other("writer thread stopped"))
            }));
        }
        Ok(())
    }

    /// Hands the buffer over when it is full (call after each row).
    #[inline]
    pub fn maybe_flush(&mut self) -> Result<(), GenerateError> {
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), GenerateError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK + 4096));
        let data = std::mem::replace(&mut self.buf, next);
        self.send(Msg::Data(data))
    }

    pub fn open(&mut self, part: u32) -> Result<(), GenerateError> {
        let path = self.dir.join(part_file_name(part, self.parts));
        self.send(Msg::Open(path))
    }

    pub fn close(&mut self) -> Result<(), GenerateError> {
        self.flush()?;
        self.send(Msg::Close)
    }

    fn join(&mut self) -> Result<u64, GenerateError> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err(GenerateError::io(
                    &self.dir,
                    std::io::Error::other("writer thread panicked"),
                ))
            }),
            None => Ok(0),
        }
    }

    /// Waits for the thread; returns the compressed bytes written.
    pub fn finish(mut self) -> Result<u64, GenerateError> {
        self.join()
    }
}

impl Drop for TableOut {
    fn drop(&mut self) {
        // On an error path: stop the thread, ignore its result.
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Creates `dir` and refuses part files that this run would not overwrite (a trace folder
/// with parts of two runs would be read as one broken trace).
pub fn prepare_dir(dir: &Path, parts: u32) -> Result<(), GenerateError> {
    std::fs::create_dir_all(dir).map_err(|e| GenerateError::io(dir, e))?;
    let entries = std::fs::read_dir(dir).map_err(|e| GenerateError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| GenerateError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = crate::trace::part_number(name) {
            if n >= parts || name != part_file_name(n, parts) {
                return Err(GenerateError::StaleParts { path: entry.path() });
            }
        }
    }
    Ok(())
}
