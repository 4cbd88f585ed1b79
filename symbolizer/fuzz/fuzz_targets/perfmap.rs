//! Fuzz target: any bytes as a JIT perf map (written by a process in a container: untrusted).
//! Parsing and looking up addresses must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use symbolizer::perfmap::PerfMap;
use symbolizer::Symbolize;

fuzz_target!(|data: &[u8]| {
    let map = PerfMap::parse(data);
    let mut addrs = vec![0, 1, u64::MAX];
    for sym in map.symbols() {
        addrs.extend([sym.start, sym.start.saturating_add(sym.size / 2), sym.start.saturating_add(sym.size)]);
    }
    let batch = map.symbolize(&addrs);
    assert_eq!(batch.len(), addrs.len());
    for (i, &addr) in addrs.iter().enumerate() {
        assert_eq!(map.lookup(addr).is_some(), matches!(batch.get(i), Some(symbolizer::Answer::Frames(_))));
    }
});
