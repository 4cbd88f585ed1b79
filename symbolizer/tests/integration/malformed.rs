//! Malformed input: truncated files and corrupted DWARF are errors or unknown addresses, never
//! panics.

use symbolizer::ElfModule;

use crate::support::{every_address, fixtures, nm_functions};

/// The file range of a section, by `readelf -SW`.
fn section_range(path: &std::path::Path, name: &str) -> std::ops::Range<usize> {
    let out = crate::support::run(std::process::Command::new("readelf").arg("-SW").arg(path));
    let text = String::from_utf8_lossy(&out);
    let line = text.lines().find(|l| l.split_whitespace().any(|w| w == name)).unwrap();
    let after = &line[line.find(name).unwrap() + name.len()..];
    let p: Vec<&str> = after.split_whitespace().collect();
    // Type, Address, Off, Size.
    let off = usize::from_str_radix(p[2], 16).unwrap();
    let size = usize::from_str_radix(p[3], 16).unwrap();
    off..off + size
}

#[test]
fn corrupted_dwarf_never_panics() {
    let f = fixtures();
    let path = f.path("pie");
    let original = std::fs::read(&path).unwrap();
    let addrs = every_address(&nm_functions(&path, false));
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for section in
        [".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_rnglists", ".debug_aranges"]
    {
        let range = section_range(&path, section);
        for _ in 0..12 {
            let mut data = original.clone();
            // A handful of random bytes replaced inside the section.
            for _ in 0..4 {
                let at = range.start + (next() as usize) % range.len();
                data[at] = next() as u8;
            }
            if let Ok(m) = ElfModule::parse(data) {
                parsed += 1;
                let _ = m.symbolize_vaddrs(&addrs);
            }
        }
    }
    assert!(parsed > 0);
}

#[test]
fn truncated_files_never_panic() {
    let original = std::fs::read(fixtures().path("zdebug")).unwrap();
    let addrs = every_address(&nm_functions(&fixtures().path("pie"), false));
    for i in 1..40 {
        let cut = original.len() * i / 40;
        if let Ok(m) = ElfModule::parse(original[..cut].to_vec()) {
            let _ = m.symbolize_vaddrs(&addrs);
        }
    }
}
