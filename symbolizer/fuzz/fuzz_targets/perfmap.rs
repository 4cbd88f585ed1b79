//! Fuzz target: any bytes as a JIT perf map (written by a process in a container: untrusted).
//! Parsing and looking up addresses must never panic, lookups and `symbolize` must agree, and
//! overlapping lines must follow the rule: the last line covering an address names it, also when the
//! text is searched for given addresses (`name_addresses`) rather than parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use symbolizer::perfmap::{PerfMap, PerfMapSymbol};
use symbolizer::Symbolize;

/// Above this many lines the plain scan below is too slow to run on every input.
const MAX_CHECKED_LINES: usize = 512;

fuzz_target!(|data: &[u8]| {
    let map = PerfMap::parse(data);
    let mut addrs = vec![0, 1, u64::MAX];
    for sym in map.symbols() {
        addrs.extend([sym.start, sym.start.saturating_add(sym.size / 2), sym.start.saturating_add(sym.size)]);
    }
    // Each line on its own is a map of at most one symbol: the lines, in file order.
    let lines: Vec<PerfMapSymbol> =
        data.split(|&b| b == b'\n').filter_map(|l| PerfMap::parse(l).symbols().first().cloned()).collect();
    for sym in lines.iter().take(MAX_CHECKED_LINES) {
        addrs.extend([sym.start.saturating_sub(1), sym.start, sym.start + sym.size - 1, sym.start + sym.size]);
    }
    let batch = map.symbolize(&addrs);
    assert_eq!(batch.len(), addrs.len());
    for (i, &addr) in addrs.iter().enumerate() {
        assert_eq!(map.lookup(addr).is_some(), matches!(batch.get(i), Some(symbolizer::Answer::Frames(_))));
    }
    if lines.len() <= MAX_CHECKED_LINES {
        for &addr in &addrs {
            let last = lines.iter().rev().find(|s| addr >= s.start && addr - s.start < s.size);
            assert_eq!(map.lookup(addr), last, "address {addr:#x}");
        }
    }
    assert!(map.symbols().windows(2).all(|w| w[0].start <= w[1].start));
    // Searched for these addresses only (as the report searches the maps it copied), the map names
    // them as the parsed map does.
    let names = symbolizer::perfmap::name_addresses([data], &addrs);
    for &addr in &addrs {
        let parsed = map.lookup(addr).map(|s| s.name.as_str());
        assert_eq!(names.get(&addr).map(String::as_str), parsed, "address {addr:#x}");
    }
});
