//! Our frames against binutils' `addr2line -f -i -C`, for every byte of every function of C and
//! C++ fixtures (PIE, non-PIE, DWARF 4, compressed DWARF, a shared library, stripped copies) and for
//! a sample of this Rust test binary's own functions.

use std::path::Path;

use symbolizer::{Answer, ElfModule, Symbolized};

use crate::support::{compare, every_address, fixtures, module, nm_functions};

/// Compares a fixture with binutils over every byte of its functions (by `nm` of `symbols_from`).
fn agrees_with_binutils(name: &str, symbols_from: &str) {
    let f = fixtures();
    let path = f.path(name);
    let module = module(&path);
    let addrs = every_address(&nm_functions(&f.path(symbols_from), false));
    assert!(addrs.len() > 300, "{name}: only {} addresses", addrs.len());
    let diffs = compare(&module, &path, &addrs, 20);
    assert!(diffs.is_empty(), "{name}: {} addresses, differences:\n{}", addrs.len(), diffs.join("\n"));
}

#[test]
fn pie_with_inlines_matches_binutils() {
    agrees_with_binutils("pie", "pie");
    let m = module(&fixtures().path("pie"));
    assert!(m.has_dwarf() && m.has_symtab() && m.build_id().is_some());
}

#[test]
fn non_pie_matches_binutils() {
    agrees_with_binutils("nopie", "nopie");
}

#[test]
fn dwarf4_matches_binutils() {
    agrees_with_binutils("dwarf4", "dwarf4");
}

#[test]
fn compressed_debug_sections_match_binutils() {
    let out = crate::support::run(
        std::process::Command::new("readelf").args(["-SW"]).arg(fixtures().path("zdebug")),
    );
    assert!(String::from_utf8_lossy(&out).lines().any(|l| l.contains(".debug_info") && l.contains(" C ")));
    agrees_with_binutils("zdebug", "pie");
    assert!(module(&fixtures().path("zdebug")).has_dwarf());
}

#[test]
fn shared_library_matches_binutils() {
    agrees_with_binutils("lib.so", "lib.so");
}

#[test]
fn cxx_names_match_binutils() {
    agrees_with_binutils("cxx", "cxx");
}

#[test]
fn stripped_binary_is_unknown_as_for_binutils() {
    let f = fixtures();
    let m = module(&f.path("pie.stripped"));
    assert!(!m.has_dwarf() && !m.has_symtab());
    let addrs = every_address(&nm_functions(&f.path("pie"), false));
    let diffs = compare(&m, &f.path("pie.stripped"), &addrs, 20);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert!(m.symbolize_vaddrs(&addrs).iter().all(|r| matches!(r, Answer::Unknown(_))));
}

#[test]
fn stripped_library_names_exports_from_dynsym() {
    let f = fixtures();
    let path = f.path("lib.stripped.so");
    let m = module(&path);
    assert!(!m.has_dwarf() && !m.has_symtab());
    let exports = nm_functions(&path, true);
    assert!(exports.iter().any(|s| s.name == "exported_entry"), "{exports:?}");
    // Every byte of the exported functions, named as binutils names them (from .dynsym).
    let addrs: Vec<u64> = exports.iter().flat_map(|s| s.addr..s.addr + s.size.max(1)).collect();
    let diffs = compare(&m, &path, &addrs, 20);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    let Symbolized::Frames(frames) = m.symbolize_vaddr(exports[0].addr) else { panic!() };
    assert_eq!(frames.len(), 1);
    assert!(frames[0].line.is_none());
}

#[test]
fn file_offsets_become_addresses_through_program_headers() {
    let f = fixtures();
    for name in ["pie", "nopie", "lib.so"] {
        let path = f.path(name);
        let m = module(&path);
        let loads = load_segments(&path);
        let text = loads.iter().find(|l| l.3).expect("an executable segment");
        for s in nm_functions(&path, false) {
            let offset = s.addr - text.1 + text.0;
            assert_eq!(m.file_offset_to_vaddr(offset), Some(s.addr), "{name} {}", s.name);
            assert_eq!(m.symbolize_offset(offset), m.symbolize_vaddr(s.addr), "{name} {}", s.name);
        }
        assert_eq!(m.file_offset_to_vaddr(u64::MAX), None);
        assert_eq!(m.symbolize_offset(u64::MAX), Symbolized::Unknown(symbolizer::Reason::OutsideText));
    }
    // Non-PIE text is linked at its absolute address.
    let nopie = load_segments(&f.path("nopie"));
    assert!(nopie.iter().any(|l| l.3 && l.1 >= 0x400000), "{nopie:?}");
}

/// `PT_LOAD` headers by `readelf -lW`: (offset, vaddr, file size, executable).
fn load_segments(path: &Path) -> Vec<(u64, u64, u64, bool)> {
    let out = crate::support::run(std::process::Command::new("readelf").arg("-lW").arg(path));
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            (hex(p[1]), hex(p[2]), hex(p[4]), l.contains(" R E ") || l.contains("RWE"))
        })
        .collect()
}

#[test]
fn rust_test_binary_matches_binutils() {
    // This test binary: Rust, debug build, DWARF from std and dependencies, many inlines. A sample
    // of its functions: start, a few inner bytes and the last byte of every 5th function.
    let exe = std::env::current_exe().unwrap();
    let m = ElfModule::parse(std::fs::read(&exe).unwrap()).unwrap();
    let functions: Vec<_> = nm_functions(&exe, false).into_iter().filter(|s| s.size > 0).collect();
    assert!(functions.len() > 1000);
    let mut addrs = Vec::new();
    for s in functions.iter().step_by(5) {
        addrs.extend([
            s.addr,
            s.addr + s.size / 3,
            s.addr + s.size / 2,
            s.addr + s.size * 3 / 4,
            s.addr + s.size - 1,
        ]);
    }
    addrs.sort_unstable();
    addrs.dedup();
    let diffs = compare(&m, &exe, &addrs, 20);
    assert!(diffs.is_empty(), "{} addresses, differences:\n{}", addrs.len(), diffs.join("\n"));
}
