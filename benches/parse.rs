//! Parse-only throughput on the bundled real sample: gzip + CSV + typed records, the merge,
//! the JSON encoding of the replay, and the wire encoder and decoders alone on records held in
//! memory. `cargo bench --bench parse` (one group: `cargo bench --bench parse -- wire`).

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::PathBuf;
use std::time::Duration;
use tracepipe::merge::TraceSource;
use tracepipe::trace::{OnError, Table, TableReader};

fn sample(table: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sample")
        .join(table)
}

fn bench(c: &mut Criterion) {
    let rows = TableReader::open(Table::Task, &sample("task_events"), OnError::Fail)
        .unwrap()
        .count() as u64;
    let mut g = c.benchmark_group("trace");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rows));
    g.bench_function("parse task_events (gzip+csv+typed)", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for r in TableReader::open(Table::Task, &sample("task_events"), OnError::Fail).unwrap()
            {
                n += r.unwrap().0.time() & 1;
            }
            n
        })
    });
    let src = TraceSource {
        jobs: Some(sample("job_events").into()),
        tasks: Some(sample("task_events").into()),
        ..Default::default()
    };
    let events = src.open().unwrap().count() as u64;
    g.throughput(Throughput::Elements(events));
    g.bench_function("merge both tables", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for e in src.open().unwrap() {
                n += e.unwrap().seq & 1;
            }
            n
        })
    });
    g.bench_function("merge + JSON encode", |b| {
        let mut buf = Vec::with_capacity(512);
        b.iter(|| {
            let mut bytes = 0usize;
            for e in src.open().unwrap() {
                tracepipe::wire::encode_record(&e.unwrap().record, &mut buf);
                bytes += buf.len();
            }
            bytes
        })
    });
    g.finish();
}

/// CPU time of the benchmark thread: on a shared machine, wall time mostly measures the other
/// processes (time waiting for a core is not counted here).
struct CpuTime;

#[allow(unsafe_code)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time() - start
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Millis
    }
}

/// Values in nanoseconds, shown as CPU milliseconds.
struct Millis;

impl ValueFormatter for Millis {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms (cpu)"
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => n,
        };
        values.iter_mut().for_each(|v| *v = n as f64 * 1e3 / *v);
        "Melem/s (cpu)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// The wire codec without the trace reading around it: the replay's per-event encoding and
/// the aggregation's string-free decoding, over the first 100k events of the sample.
fn wire(c: &mut Criterion<CpuTime>) {
    const N: usize = 100_000;
    let src = TraceSource {
        jobs: Some(sample("job_events").into()),
        tasks: Some(sample("task_events").into()),
        ..Default::default()
    };
    let records: Vec<_> = src
        .open()
        .unwrap()
        .take(N)
        .map(|e| e.unwrap().record)
        .collect();
    let values: Vec<(Table, Vec<u8>)> = records
        .iter()
        .map(|r| {
            let mut v = Vec::new();
            tracepipe::wire::encode_record(r, &mut v);
            (r.table(), v)
        })
        .collect();
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("encode_record", |b| {
        let mut buf = Vec::with_capacity(512);
        b.iter(|| {
            let mut bytes = 0usize;
            for r in &records {
                tracepipe::wire::encode_record(r, &mut buf);
                bytes += buf.len();
            }
            bytes
        })
    });
    g.bench_function("decode_record_without_strings", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for (t, v) in &values {
                n += tracepipe::wire::decode_record_without_strings(*t, v)
                    .unwrap()
                    .time()
                    & 1;
            }
            n
        })
    });
    g.bench_function("decode_record", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for (t, v) in &values {
                n += tracepipe::wire::decode_record(*t, v).unwrap().time() & 1;
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_group! {
    name = wire_benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = wire
}
criterion_main!(benches, wire_benches);
