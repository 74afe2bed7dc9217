//! Any bytes read as CSV rows: parsing a row as a job, task or machine event returns a record
//! or an error naming a field; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracepipe::trace::parse::{parse_job, parse_machine, parse_task};

fuzz_target!(|data: &[u8]| {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut row = csv::ByteRecord::new();
    while let Ok(true) = rdr.read_byte_record(&mut row) {
        for msg in [
            parse_job(&row).err().map(|e| e.to_string()),
            parse_task(&row).err().map(|e| e.to_string()),
            parse_machine(&row).err().map(|e| e.to_string()),
        ]
        .into_iter()
        .flatten()
        {
            assert!(msg.contains("field"), "{msg}");
        }
    }
});
