//! Fuzz target: any bytes as the payload of one chunk of entries. Chunks are checksummed, so the
//! `recording` target rarely gets past the checksum; this one drives the entry decoder directly
//! (a recording from a buggy or hostile writer has good checksums over bad entries). Decoding must
//! never panic or allocate more than the payload holds, and every entry it returns must encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sampler::recording::entry::{EntryDecoder, EntryEncoder};

fuzz_target!(|data: &[u8]| {
    let mut decoder = EntryDecoder::new(data);
    let mut encoder = EntryEncoder::default();
    let mut entries = 0usize;
    while let Ok(Some(entry)) = decoder.next_entry() {
        entries += 1;
        assert!(entries <= data.len(), "more entries than bytes");
        encoder.push(&entry);
    }
});
