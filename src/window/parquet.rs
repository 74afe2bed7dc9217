//! Windows as Parquet: the figures of the JSON Lines contract, in one file with a `kind`
//! column (`cell` or `machine`), rows in the JSON Lines order (each window's cell row, then
//! its machines by ID). A column that a kind does not have is null in its rows; nulls of the
//! JSON (an average without values, a non-finite float) stay null. IDs, counts and window
//! bounds are unsigned 64-bit integers; the bounds are also UTC timestamps
//! (`window_start_time`: 2011-05-01T22:50:00Z + trace time). zstd-compressed; a row group
//! is written when a window closes and at least [`ROW_GROUP_ROWS`] rows are buffered, so
//! memory stays bounded whatever the trace's length. The file is readable once the
//! aggregation ends (the footer comes last, as in every Parquet file).

use super::output::{
    CellWindow, ClosedWindow, EventCounts, MachineEventCounts, MachineWindow, WindowSink,
};
use crate::trace::{EventType, MachineEventType};
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::io::{self, Write};
use std::sync::Arc;

/// Rows buffered before a row group is written (about 40 MB of column buffers).
pub const ROW_GROUP_ROWS: usize = 1 << 17;

/// Trace time 0 in microseconds since the Unix epoch: 2011-05-01T22:50:00Z
/// (docs/trace-format.md, "Time").
pub const TRACE_EPOCH_UNIX_US: i64 = 1_304_290_200_000_000;

#[derive(Clone, Copy)]
enum Row<'a> {
    Cell(&'a CellWindow),
    Machine(&'a MachineWindow),
}

/// How a column gets its value from a row; `None` is a null.
#[derive(Clone, Copy)]
enum Get {
    U64(fn(Row<'_>) -> Option<u64>),
    F64(fn(Row<'_>) -> Option<f64>),
    /// Trace time as a timestamp.
    Time(fn(Row<'_>) -> u64),
    Bool(fn(Row<'_>) -> Option<bool>),
    /// One type's count of an [`EventCounts`] group (cell rows only).
    Count(fn(&CellWindow) -> &EventCounts, EventType),
    /// One type's count of the machine events by type (cell rows only).
    MachineCount(fn(&CellWindow) -> &MachineEventCounts, MachineEventType),
}

struct Column {
    name: &'static str,
    /// Leaves of a group (the event counts by type) share its name here.
    group: Option<&'static str>,
    get: Get,
}

fn cell<T>(r: Row<'_>, f: impl Fn(&CellWindow) -> T) -> Option<T> {
    match r {
        Row::Cell(c) => Some(f(c)),
        Row::Machine(_) => None,
    }
}

fn machine<T>(r: Row<'_>, f: impl Fn(&MachineWindow) -> T) -> Option<T> {
    match r {
        Row::Machine(m) => Some(f(m)),
        Row::Cell(_) => None,
    }
}

fn both<T>(r: Row<'_>, c: impl Fn(&CellWindow) -> T, m: impl Fn(&MachineWindow) -> T) -> T {
    match r {
        Row::Cell(x) => c(x),
        Row::Machine(x) => m(x),
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The columns after `kind`, in JSON Lines order: the one place that lists them.
fn columns() -> Vec<Column> {
    let col = |name, get| Column {
        name,
        group: None,
        get,
    };
    let mut v = vec![
        col(
            "window_start",
            Get::U64(|r| Some(both(r, |c| c.window_start, |m| m.window_start))),
        ),
        col(
            "window_end",
            Get::U64(|r| Some(both(r, |c| c.window_end, |m| m.window_end))),
        ),
        col(
            "window_start_time",
            Get::Time(|r| both(r, |c| c.window_start, |m| m.window_start)),
        ),
        col(
            "window_end_time",
            Get::Time(|r| both(r, |c| c.window_end, |m| m.window_end)),
        ),
        col("machine_id", Get::U64(|r| machine(r, |m| m.machine_id))),
    ];
    for (group, counts) in [
        (
            "task_events_by_type",
            (|c: &CellWindow| &c.task_events_by_type) as fn(&CellWindow) -> &EventCounts,
        ),
        ("job_events_by_type", |c: &CellWindow| &c.job_events_by_type),
    ] {
        for t in EventType::ALL {
            v.push(Column {
                name: t.name(),
                group: Some(group),
                get: Get::Count(counts, t),
            });
        }
    }
    v.extend([
        col(
            "running_tasks",
            Get::U64(|r| Some(both(r, |c| c.running_tasks, |m| m.running_tasks))),
        ),
        col("pending_tasks", Get::U64(|r| cell(r, |c| c.pending_tasks))),
        col(
            "allocated_cpu",
            Get::F64(|r| finite(both(r, |c| c.allocated_cpu, |m| m.allocated_cpu))),
        ),
        col(
            "allocated_memory",
            Get::F64(|r| finite(both(r, |c| c.allocated_memory, |m| m.allocated_memory))),
        ),
        col("task_events", Get::U64(|r| machine(r, |m| m.task_events))),
        col(
            "cpu_request_sum",
            Get::F64(|r| machine(r, |m| m.cpu_request_sum).and_then(finite)),
        ),
        col(
            "memory_request_sum",
            Get::F64(|r| machine(r, |m| m.memory_request_sum).and_then(finite)),
        ),
        col(
            "cpu_request_avg",
            Get::F64(|r| machine(r, |m| m.cpu_request_avg).flatten().and_then(finite)),
        ),
        col(
            "memory_request_avg",
            Get::F64(|r| {
                machine(r, |m| m.memory_request_avg)
                    .flatten()
                    .and_then(finite)
            }),
        ),
        col(
            "peak_allocated_cpu",
            Get::F64(|r| machine(r, |m| m.peak_allocated_cpu).and_then(finite)),
        ),
        col("evictions", Get::U64(|r| machine(r, |m| m.evictions))),
        col("failures", Get::U64(|r| machine(r, |m| m.failures))),
        col("finishes", Get::U64(|r| machine(r, |m| m.finishes))),
        col("kills", Get::U64(|r| machine(r, |m| m.kills))),
        col("losts", Get::U64(|r| machine(r, |m| m.losts))),
    ]);
    for t in MachineEventType::ALL {
        v.push(Column {
            name: t.name(),
            group: Some("machine_events_by_type"),
            get: Get::MachineCount(|c| &c.machine_events_by_type, t),
        });
    }
    v.extend([
        col("machines_up", Get::U64(|r| cell(r, |c| c.machines_up))),
        col(
            "overcommitted_machines",
            Get::U64(|r| cell(r, |c| c.overcommitted_machines)),
        ),
        col("up", Get::Bool(|r| machine(r, |m| m.up).flatten())),
        col(
            "cpu_capacity",
            Get::F64(|r| both(r, |c| c.cpu_capacity, |m| m.cpu_capacity).and_then(finite)),
        ),
        col(
            "memory_capacity",
            Get::F64(|r| both(r, |c| c.memory_capacity, |m| m.memory_capacity).and_then(finite)),
        ),
        col(
            "allocated_cpu_fraction",
            Get::F64(|r| {
                both(
                    r,
                    |c| c.allocated_cpu_fraction,
                    |m| m.allocated_cpu_fraction,
                )
                .and_then(finite)
            }),
        ),
        col(
            "allocated_memory_fraction",
            Get::F64(|r| {
                both(
                    r,
                    |c| c.allocated_memory_fraction,
                    |m| m.allocated_memory_fraction,
                )
                .and_then(finite)
            }),
        ),
        col(
            "machine_events",
            Get::U64(|r| machine(r, |m| m.machine_events)),
        ),
    ]);
    v
}

/// Whether a column is null in some rows (a group's leaves are then required inside an
/// optional group).
fn nullable(c: &Column) -> bool {
    !matches!(
        c.name,
        "window_start" | "window_end" | "window_start_time" | "window_end_time" | "running_tasks"
    )
}

/// The Parquet schema of [`columns`], as a message type.
pub fn schema_text() -> String {
    let mut s = String::from("message tracepipe_window {\n  REQUIRED BYTE_ARRAY kind (STRING);\n");
    let cols = columns();
    let mut i = 0;
    while i < cols.len() {
        let c = &cols[i];
        if let Some(g) = c.group {
            s.push_str(&format!("  OPTIONAL group {g} {{\n"));
            while i < cols.len() && cols[i].group == Some(g) {
                s.push_str(&format!(
                    "    REQUIRED INT64 {} (INTEGER(64,false));\n",
                    cols[i].name
                ));
                i += 1;
            }
            s.push_str("  }\n");
            continue;
        }
        let rep = if nullable(c) { "OPTIONAL" } else { "REQUIRED" };
        let ty = match c.get {
            Get::U64(_) | Get::Count(..) | Get::MachineCount(..) => "INT64 {} (INTEGER(64,false))",
            Get::Bool(_) => "BOOLEAN {}",
            Get::F64(_) => "DOUBLE {}",
            Get::Time(_) => "INT64 {} (TIMESTAMP(MICROS,true))",
        };
        s.push_str(&format!("  {rep} {};\n", ty.replace("{}", c.name)));
        i += 1;
    }
    s.push('}');
    s
}

/// One column's buffered values and definition levels.
#[derive(Default)]
struct Buffer {
    ints: Vec<i64>,
    floats: Vec<f64>,
    bools: Vec<bool>,
    defs: Vec<i16>,
}

/// Writes closed windows as Parquet; see the module doc.
pub struct ParquetWindowWriter<W: Write + Send> {
    writer: Option<SerializedFileWriter<W>>,
    columns: Vec<Column>,
    nullable: Vec<bool>,
    kinds: Vec<ByteArray>,
    buffers: Vec<Buffer>,
    rows: usize,
    lines: u64,
    windows: u64,
    row_group_rows: usize,
    cell_kind: ByteArray,
    machine_kind: ByteArray,
}

fn to_io(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e)
}

impl<W: Write + Send> ParquetWindowWriter<W> {
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_row_group_rows(out, ROW_GROUP_ROWS)
    }

    pub fn with_row_group_rows(out: W, row_group_rows: usize) -> io::Result<Self> {
        let schema = parquet::schema::parser::parse_message_type(&schema_text()).map_err(to_io)?;
        // Dictionaries only where values repeat within a page by nature (`kind`); elsewhere
        // the writer would build one per page and fall back to plain encoding, a cost for
        // nothing that zstd does better.
        // zstd level 1: level 3 cost a fifth more CPU for a file a few percent smaller.
        let props = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from("kind"), true)
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(to_io)?))
            .set_created_by(concat!("tracepipe ", env!("CARGO_PKG_VERSION")).into())
            .build();
        let writer =
            SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).map_err(to_io)?;
        let columns = columns();
        Ok(ParquetWindowWriter {
            writer: Some(writer),
            nullable: columns
                .iter()
                .map(|c| c.group.is_some() || nullable(c))
                .collect(),
            buffers: columns.iter().map(|_| Buffer::default()).collect(),
            columns,
            kinds: Vec::new(),
            rows: 0,
            lines: 0,
            windows: 0,
            row_group_rows: row_group_rows.max(1),
            cell_kind: ByteArray::from("cell"),
            machine_kind: ByteArray::from("machine"),
        })
    }

    fn push(&mut self, row: Row<'_>) {
        self.kinds.push(match row {
            Row::Cell(_) => self.cell_kind.clone(),
            Row::Machine(_) => self.machine_kind.clone(),
        });
        for (i, c) in self.columns.iter().enumerate() {
            let b = &mut self.buffers[i];
            let present = match c.get {
                Get::U64(f) => f(row).map(|v| b.ints.push(v as i64)).is_some(),
                Get::F64(f) => f(row).map(|v| b.floats.push(v)).is_some(),
                Get::Bool(f) => f(row).map(|v| b.bools.push(v)).is_some(),
                Get::Time(f) => {
                    b.ints
                        .push(TRACE_EPOCH_UNIX_US.saturating_add_unsigned(f(row)));
                    true
                }
                Get::Count(f, t) => match row {
                    Row::Cell(cw) => {
                        b.ints.push(f(cw).get(t) as i64);
                        true
                    }
                    Row::Machine(_) => false,
                },
                Get::MachineCount(f, t) => match row {
                    Row::Cell(cw) => {
                        b.ints.push(f(cw).get(t) as i64);
                        true
                    }
                    Row::Machine(_) => false,
                },
            };
            if self.nullable[i] {
                b.defs.push(i16::from(present));
            }
        }
        self.rows += 1;
    }

    fn flush_row_group(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let w = self.writer.as_mut().expect("not closed");
        let mut rg = w.next_row_group().map_err(to_io)?;
        let mut col = rg.next_column().map_err(to_io)?.expect("kind column");
        col.typed::<ByteArrayType>()
            .write_batch(&self.kinds, None, None)
            .map_err(to_io)?;
        col.close().map_err(to_io)?;
        for (i, b) in self.buffers.iter_mut().enumerate() {
            let mut col = rg.next_column().map_err(to_io)?.expect("schema column");
            let defs = self.nullable[i].then_some(b.defs.as_slice());
            match self.columns[i].get {
                Get::F64(_) => col.typed::<DoubleType>().write_batch(&b.floats, defs, None),
                Get::Bool(_) => col.typed::<BoolType>().write_batch(&b.bools, defs, None),
                _ => col.typed::<Int64Type>().write_batch(&b.ints, defs, None),
            }
            .map_err(to_io)?;
            col.close().map_err(to_io)?;
            b.ints.clear();
            b.floats.clear();
            b.bools.clear();
            b.defs.clear();
        }
        rg.close().map_err(to_io)?;
        self.kinds.clear();
        self.rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the inner writer, flushed.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush_row_group()?;
        let w = self.writer.take().expect("not closed");
        let mut inner = w.into_inner().map_err(to_io)?;
        inner.flush()?;
        Ok(inner)
    }
}

impl<W: Write + Send> WindowSink for ParquetWindowWriter<W> {
    fn write(&mut self, closed: &ClosedWindow) -> io::Result<()> {
        self.push(Row::Cell(&closed.cell));
        for m in &closed.machines {
            self.push(Row::Machine(m));
        }
        self.lines += closed.line_count() as u64;
        self.windows += 1;
        if self.rows >= self.row_group_rows {
            self.flush_row_group()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.flush_row_group()?;
        if let Some(mut w) = self.writer.take() {
            // Writes the footer and flushes the inner writer.
            w.finish().map_err(to_io)?;
        }
        Ok(())
    }

    fn lines(&self) -> u64 {
        self.lines
    }
}
