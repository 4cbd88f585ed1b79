//! Fuzz target: any bytes as a cperf recording (`cperf report` reads files from other machines,
//! cut short, or not recordings at all). Opening, reading every entry, the summary and the damage
//! report must never panic, abort or hang, and must end.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sampler::recording::RecordingReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = RecordingReader::from_bytes(data, Path::new("fuzz.cperf")) else { return };
    let _ = reader.meta();
    // Each entry takes at least one byte of the input: more entries than bytes would be a loop.
    let mut entries = 0usize;
    while let Ok(Some(_)) = reader.next_entry() {
        entries += 1;
        assert!(entries <= data.len(), "more entries than bytes");
    }
    let _ = reader.summary();
    let _ = reader.damage().map(ToString::to_string);
    let _ = reader.malformed_chunks();
});
