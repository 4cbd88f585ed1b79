//! Fuzz target: any bytes as the payload of one chunk of entries. Chunks are checksummed, so the
//! `recording` target rarely gets past the checksum; this one drives the entry decoder directly
//! (a recording from a buggy or hostile writer has good checksums over bad entries). Decoding must
//! never panic or allocate more than the payload holds, and the entries it returns, encoded again,
//! must decode to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sampler::recording::entry::{EntryDecoder, EntryEncoder};

fuzz_target!(|data: &[u8]| {
    let mut decoder = EntryDecoder::new(data);
    let mut decoded = Vec::new();
    while let Ok(Some(entry)) = decoder.next_entry() {
        decoded.push(entry);
        assert!(decoded.len() <= data.len(), "more entries than bytes");
    }
    let mut encoder = EntryEncoder::default();
    for entry in &decoded {
        encoder.push(entry);
    }
    let payload = encoder.take();
    let mut again = EntryDecoder::new(&payload);
    for entry in &decoded {
        assert_eq!(again.next_entry().ok().flatten().as_ref(), Some(entry));
    }
    assert_eq!(again.next_entry().ok().flatten(), None);
});
