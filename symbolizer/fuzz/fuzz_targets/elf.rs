//! Fuzz target: any bytes as an ELF file (a container's binaries are untrusted input). Parsing,
//! attaching the same bytes as a debug file, and symbolizing addresses all over its segments must
//! never panic, abort or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use symbolizer::{ElfModule, Symbolize};

fuzz_target!(|data: &[u8]| {
    let Ok(mut module) = ElfModule::parse(data.to_vec()) else { return };
    let _ = module.attach_debug(data.to_vec());
    let _ = module.build_id();
    let _ = module.debuglink();
    // File offsets over the input (and past it) to addresses, and link-time addresses around them.
    let mut addrs: Vec<u64> = (0..data.len() as u64 + 64)
        .step_by(61)
        .filter_map(|offset| module.file_offset_to_vaddr(offset))
        .collect();
    addrs.extend([0, 1, u64::MAX, u64::MAX / 2]);
    let batch = module.symbolize(&addrs);
    for i in 0..batch.len() {
        let _ = batch.symbolized(i);
    }
    let _ = module.symbolize_offset(data.len() as u64 / 2);
});
