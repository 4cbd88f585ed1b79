//! Fuzz target: any text as `/proc/kallsyms`. Parsing and looking up addresses must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use symbolizer::kallsyms::Kallsyms;
use symbolizer::Symbolize;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(kallsyms) = Kallsyms::parse(text) else { return };
    let addrs: Vec<u64> = text
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .flat_map(|a| [a.saturating_sub(1), a, a.saturating_add(1)])
        .chain([0, u64::MAX])
        .collect();
    let batch = kallsyms.symbolize(&addrs);
    assert_eq!(batch.len(), addrs.len());
    for addr in addrs {
        let _ = kallsyms.lookup(addr);
    }
});
