//! Any bytes as a trace part file (raw, or gzip-compressed so that the CSV and validation
//! layers are reached): reading it with --on-error stop or skip yields records or errors; it
//! never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;
use tracepipe::trace::{OnError, Table, TableReader};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bytes = if mode % 2 == 1 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(rest).unwrap();
        gz.finish().unwrap()
    } else {
        rest.to_vec()
    };
    std::fs::write(dir.path().join("part-00000-of-00001.csv.gz"), bytes).unwrap();
    let table = match (mode >> 1) % 3 {
        0 => Table::Job,
        1 => Table::Task,
        _ => Table::Machine,
    };
    let on_error = if mode & 8 == 0 {
        OnError::Fail
    } else {
        OnError::Skip
    };
    if let Ok(reader) = TableReader::open(table, dir.path(), on_error) {
        for item in reader.take(10_000) {
            if item.is_err() && on_error == OnError::Fail {
                break;
            }
        }
    }
});
