//! Streaming reader of one table's parts: discovery, multi-member gzip, CSV, validation.
//!
//! Memory is one decoder buffer and one CSV record, whatever the size of the trace.

use super::error::{RowError, SkipReason, TraceError};
use super::location::Location;
use super::parse::{parse_job, parse_machine, parse_task};
use super::record::{Position, Record, Table};
use super::selection::PartSelection;
use crate::fetch::{Client, RemotePart};
use flate2::read::MultiGzDecoder;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop with an error naming file, line, field and value.
    #[default]
    Fail,
    /// Skip the row and count it by reason.
    Skip,
}

/// A discovered part: a file, or a part streamed over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    /// The file, or the URL of a streamed part: what errors name.
    pub path: PathBuf,
    /// Set for a part streamed over HTTP (`path` is then its URL).
    pub remote: Option<RemotePart>,
}

impl Part {
    pub fn file(number: u32, path: PathBuf) -> Part {
        Part {
            number,
            path,
            remote: None,
        }
    }

    /// Weight of the part in the progress measure: its size for a file; for a streamed
    /// part, whose size is only known once it is open, the average size of a real part.
    fn progress_weight(&self) -> u64 {
        match &self.remote {
            None => std::fs::metadata(&self.path).map_or(0, |m| m.len()),
            Some(_) => 1_800_000,
        }
    }
}

/// Parses `part-NNNNN-of-MMMMM.csv.gz` into NNNNN.
pub fn part_number(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".csv.gz")?;
    let (n, total) = rest.split_once("-of-")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(n) || !digits(total) {
        return None;
    }
    n.parse().ok()
}

/// Lists the parts of a table folder sorted by part number (not by name).
pub fn discover_parts(dir: &Path) -> Result<Vec<Part>, TraceError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TraceError::io(dir, e))?;
    let mut parts: BTreeMap<u32, PathBuf> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| TraceError::io(dir, e))?;
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(part_number) else {
            continue;
        };
        if let Some(prev) = parts.insert(number, entry.path()) {
            return Err(TraceError::DuplicatePart {
                dir: dir.to_owned(),
                part: number,
                first: prev.display().to_string(),
                second: entry.path().display().to_string(),
            });
        }
    }
    if parts.is_empty() {
        return Err(TraceError::NoParts {
            dir: dir.to_owned(),
        });
    }
    Ok(parts
        .into_iter()
        .map(|(number, path)| Part::file(number, path))
        .collect())
}

/// Rows skipped under [`OnError::Skip`], by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipCounts {
    counts: BTreeMap<SkipReason, u64>,
}

impl SkipCounts {
    pub fn add(&mut self, reason: SkipReason) {
        *self.counts.entry(reason).or_default() += 1;
    }

    pub fn merge(&mut self, other: &SkipCounts) {
        for (r, n) in &other.counts {
            *self.counts.entry(*r).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn get(&self, reason: SkipReason) -> u64 {
        self.counts.get(&reason).copied().unwrap_or(0)
    }

    /// (reason name, count) for the non-zero reasons.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts.iter().map(|(r, n)| (r.name(), *n))
    }
}

type CsvReader = csv::Reader<MultiGzDecoder<BufReader<Box<dyn Read + Send>>>>;

/// Iterator over the rows of one table, part after part, validated.
pub struct TableReader {
    table: Table,
    parts: std::vec::IntoIter<Part>,
    current: Option<(Part, CsvReader)>,
    row: csv::ByteRecord,
    prev_time: Option<u64>,
    on_error: OnError,
    skipped: SkipCounts,
    rows: u64,
    total_bytes: u64,
    done_bytes: u64,
    current_bytes: u64,
    /// For parts streamed over HTTP.
    client: Option<Client>,
}

impl TableReader {
    /// Opens the table folder `dir` (lists parts now, opens each part lazily).
    pub fn open(table: Table, dir: &Path, on_error: OnError) -> Result<Self, TraceError> {
        Ok(Self::from_parts(table, discover_parts(dir)?, on_error))
    }

    /// Opens the selected parts of a folder or a bucket URL (lists them now).
    pub fn open_location(
        table: Table,
        location: &Location,
        selection: &PartSelection,
        on_error: OnError,
        client: &Client,
    ) -> Result<Self, TraceError> {
        let parts = location.parts(selection, client)?;
        let mut r = Self::from_parts(table, parts, on_error);
        r.client = Some(client.clone());
        Ok(r)
    }

    pub fn from_parts(table: Table, parts: Vec<Part>, on_error: OnError) -> Self {
        let total_bytes = parts.iter().map(Part::progress_weight).sum();
        TableReader {
            client: None,
            total_bytes,
            done_bytes: 0,
            current_bytes: 0,
            table,
            parts: parts.into_iter(),
            current: None,
            row: csv::ByteRecord::new(),
            prev_time: None,
            on_error,
            skipped: SkipCounts::default(),
            rows: 0,
        }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    pub fn skipped(&self) -> &SkipCounts {
        &self.skipped
    }

    /// Compressed bytes of the parts finished so far and of all parts: a progress measure.
    pub fn bytes_progress(&self) -> (u64, u64) {
        (self.done_bytes, self.total_bytes)
    }

    /// Rows returned so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn open_part(&mut self, part: &Part) -> Result<CsvReader, TraceError> {
        let input: Box<dyn Read + Send> = match &part.remote {
            None => Box::new(File::open(&part.path).map_err(|e| TraceError::io(&part.path, e))?),
            Some(remote) => {
                Box::new(remote.reader(self.client.get_or_insert_with(Client::default)))
            }
        };
        let gz = MultiGzDecoder::new(BufReader::with_capacity(1 << 17, input));
        Ok(csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .quoting(false)
            .buffer_capacity(1 << 17)
            .from_reader(gz))
    }

    fn next_row(&mut self) -> Option<Result<(Record, Position), TraceError>> {
        loop {
            if self.current.is_none() {
                let part = self.parts.next()?;
                self.done_bytes += self.current_bytes;
                self.current_bytes = part.progress_weight();
                match self.open_part(&part) {
                    Ok(r) => self.current = Some((part, r)),
                    Err(e) => return Some(Err(e)),
                }
            }
            let (part, reader) = self.current.as_mut().expect("opened above");
            match reader.read_byte_record(&mut self.row) {
                Ok(true) => {}
                Ok(false) => {
                    self.current = None;
                    self.done_bytes += std::mem::take(&mut self.current_bytes);
                    continue;
                }
                Err(e) => {
                    let path = part.path.clone();
                    self.current = None;
                    self.parts = Vec::new().into_iter();
                    let io = match e.into_kind() {
                        csv::ErrorKind::Io(io) => io,
                        other => std::io::Error::other(format!("{other:?}")),
                    };
                    return Some(Err(TraceError::io(path, io)));
                }
            }
            let line = self.row.position().map_or(0, |p| p.line());
            let pos = Position {
                part: part.number,
                line,
            };
            let parsed = match self.table {
                Table::Job => parse_job(&self.row).map(Record::Job),
                Table::Task => parse_task(&self.row).map(Record::Task),
                Table::Machine => parse_machine(&self.row).map(Record::Machine),
            };
            let checked = parsed.and_then(|rec| match self.prev_time {
                Some(previous) if rec.time() < previous => Err(RowError::TimeOrder {
                    time: rec.time(),
                    previous,
                }),
                _ => Ok(rec),
            });
            match checked {
                Ok(rec) => {
                    self.prev_time = Some(rec.time());
                    self.rows += 1;
                    return Some(Ok((rec, pos)));
                }
                Err(error) if self.on_error == OnError::Skip => {
                    self.skipped.add(error.reason());
                }
                Err(error) => {
                    let path = part.path.clone();
                    self.current = None;
                    self.parts = Vec::new().into_iter();
                    return Some(Err(TraceError::Row { path, line, error }));
                }
            }
        }
    }
}

impl Iterator for TableReader {
    type Item = Result<(Record, Position), TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_sort_by_number() {
        assert_eq!(part_number("part-00012-of-00500.csv.gz"), Some(12));
        assert_eq!(part_number("part-7-of-9.csv.gz"), Some(7));
        assert_eq!(part_number("part-00012-of-00500.csv"), None);
        assert_eq!(part_number("README.md"), None);
        let dir = tempfile::tempdir().unwrap();
        for n in ["part-10-of-11.csv.gz", "part-9-of-11.csv.gz", "notes.txt"] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let parts: Vec<u32> = discover_parts(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.number)
            .collect();
        assert_eq!(parts, vec![9, 10]);
    }

    fn gz(members: &[&str]) -> Vec<u8> {
        use std::io::Write;
        let mut out = Vec::new();
        for m in members {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(m.as_bytes()).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    #[test]
    fn multi_member_gzip_and_time_order_across_parts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("part-00000-of-00002.csv.gz"),
            gz(&["5,,1,0,,,,\n", "6,,1,1,,,,\n"]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("part-00001-of-00002.csv.gz"),
            gz(&["4,,2,0,,,,\n"]),
        )
        .unwrap();
        let mut r = TableReader::open(Table::Job, dir.path(), OnError::Fail).unwrap();
        assert_eq!(r.next().unwrap().unwrap().0.time(), 5);
        assert_eq!(
            r.next().unwrap().unwrap().0.time(),
            6,
            "second gzip member is read"
        );
        let err = r.next().unwrap().unwrap_err().to_string();
        assert!(err.contains("part-00001-of-00002.csv.gz:1: field `time`: 4 is earlier than the previous row's time 6"), "{err}");
        assert!(r.next().is_none());

        let mut r = TableReader::open(Table::Job, dir.path(), OnError::Skip).unwrap();
        assert_eq!(r.by_ref().count(), 2);
        assert_eq!(r.skipped().get(SkipReason::TimeOrder), 1);
    }

    /// A bad machine row stops the reader with file, line and field, like the other tables;
    /// under skip it is counted.
    #[test]
    fn machine_rows_are_validated_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("part-00000-of-00001.csv.gz"),
            gz(&["0,5,0,p,0.5,0.2493\n1,6,7,p,0.5,0.5\n2,7,1,,,\n"]),
        )
        .unwrap();
        let mut r = TableReader::open(Table::Machine, dir.path(), OnError::Fail).unwrap();
        assert!(matches!(r.next(), Some(Ok((Record::Machine(_), _)))));
        let err = r.next().unwrap().unwrap_err().to_string();
        assert!(
            err.ends_with(
                "part-00000-of-00001.csv.gz:2: field `event type`: unknown machine event type (0..2): \"7\""
            ),
            "{err}"
        );
        let mut r = TableReader::open(Table::Machine, dir.path(), OnError::Skip).unwrap();
        assert_eq!(r.by_ref().count(), 2);
        assert_eq!(r.skipped().get(SkipReason::InvalidValue), 1);
    }

    #[test]
    fn missing_folder_and_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        let e = TableReader::open(Table::Task, dir.path(), OnError::Fail)
            .err()
            .unwrap();
        assert!(e.to_string().contains("no trace parts"), "{e}");
        let e = TableReader::open(Table::Task, &dir.path().join("nope"), OnError::Fail)
            .err()
            .unwrap();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
