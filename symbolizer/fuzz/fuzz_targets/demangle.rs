//! Fuzz target: any symbol name through the Rust and C++ demanglers (names come from untrusted
//! binaries). Must never panic, abort or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(name) = std::str::from_utf8(data) {
        let _ = symbolizer::demangle(name);
    }
});
