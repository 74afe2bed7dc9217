//! Any bytes as a Kafka record value: the decoders (fast path and serde_json fallback) and the
//! mark decoder return a value or an error; they never panic, and the lean decoder agrees with
//! the full one apart from the strings it leaves out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracepipe::trace::Table;
use tracepipe::wire::{decode_record, decode_record_without_strings, Mark};

fuzz_target!(|data: &[u8]| {
    let _ = Mark::decode(data);
    for table in Table::ALL {
        let lean = decode_record_without_strings(table, data);
        if let Ok(full) = decode_record(table, data) {
            assert_eq!(lean.ok(), Some(full.without_strings()));
        }
    }
});
