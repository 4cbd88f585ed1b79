//! JIT symbol maps in perf's format (`/tmp/perf-<pid>.map`: one `START SIZE name` line per symbol, hex
//! numbers), and finding them for a containerised process.
//!
//! A process in a PID namespace writes the map under *its own* pid, in *its own* mount namespace: the
//! file is `/tmp/perf-<NSpid>.map` inside the container's root, where `NSpid` is the innermost pid of
//! the process (last field of `NSpid:` in `/proc/<host pid>/status`).

use std::path::PathBuf;

use crate::symbolize::batch::{BatchBuilder, BatchFrame};
use crate::{Batch, Reason, Symbolize};

/// One JIT symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerfMapSymbol {
    /// First address.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// The name as written (not demangled).
    pub name: String,
}

/// A parsed perf map, sorted by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerfMap {
    symbols: Vec<PerfMapSymbol>,
    /// Lines that did not parse (skipped).
    pub skipped_lines: usize,
}

impl PerfMap {
    /// Parses a perf map text; malformed lines are counted and skipped, never fatal. Later lines win
    /// for the same start address (JITs rewrite code).
    pub fn parse(text: &[u8]) -> PerfMap {
        let mut map = PerfMap::default();
        for line in text.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(line) {
                Some(sym) => map.symbols.push(sym),
                None => map.skipped_lines += 1,
            }
        }
        // Stable sort keeps file order among equal starts; keep the last of each.
        map.symbols.sort_by_key(|s| s.start);
        let mut dedup: Vec<PerfMapSymbol> = Vec::with_capacity(map.symbols.len());
        for sym in map.symbols.drain(..) {
            match dedup.last_mut() {
                Some(last) if last.start == sym.start => *last = sym,
                _ => dedup.push(sym),
            }
        }
        map.symbols = dedup;
        map
    }

    /// The symbol containing `addr`, if any.
    pub fn lookup(&self, addr: u64) -> Option<&PerfMapSymbol> {
        let i = self.symbols.partition_point(|s| s.start <= addr);
        let sym = self.symbols.get(i.checked_sub(1)?)?;
        (addr - sym.start < sym.size).then_some(sym)
    }

    /// All symbols, by address.
    pub fn symbols(&self) -> &[PerfMapSymbol] {
        &self.symbols
    }
}

impl Symbolize for PerfMap {
    /// Runtime addresses of the process that wrote the map; an address no symbol covers is
    /// [`Reason::NotInPerfMap`]. Names are kept as the JIT wrote them.
    fn symbolize(&self, addrs: &[u64]) -> Batch {
        let mut batch = BatchBuilder::new(addrs.len());
        for &addr in addrs {
            match self.lookup(addr) {
                Some(sym) => {
                    let function = Some(batch.intern(&sym.name));
                    batch.push(BatchFrame { function, file: None, line: None, column: None, inlined: false });
                    batch.finish_frames();
                }
                None => batch.unknown(Reason::NotInPerfMap),
            }
        }
        batch.finish()
    }
}

fn parse_line(line: &[u8]) -> Option<PerfMapSymbol> {
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.splitn(3, ' ');
    let start = parse_hex(parts.next()?)?;
    let size = parse_hex(parts.next()?)?;
    let name = parts.next()?.trim();
    if name.is_empty() || size == 0 || start.checked_add(size).is_none() {
        return None;
    }
    Some(PerfMapSymbol { start, size, name: name.to_owned() })
}

fn parse_hex(s: &str) -> Option<u64> {
    let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// The innermost pid of a process from its `/proc/<pid>/status` text (`NSpid:\t4242\t1` → 1), or its
/// `Pid:` when the kernel has no `NSpid` line.
pub fn innermost_pid(status: &str) -> Option<u32> {
    let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).map(str::split_whitespace);
    if let Some(mut ns) = field("NSpid:") {
        return ns.next_back()?.parse().ok();
    }
    field("Pid:")?.next()?.parse().ok()
}

/// Where a process with innermost pid `ns_pid` writes its perf map, inside its own root.
pub fn perf_map_path(ns_pid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/perf-{ns_pid}.map"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_looks_up() {
        let map = PerfMap::parse(
            b"7f0000001000 40 LazyCompile:*fib /app/fib.js:3\n\
              7f0000000000 100 Interpreter\n\
              garbage line\n\
              7f0000001000 20 LazyCompile:*fib2 /app/fib.js:3\n\
              \n",
        );
        assert_eq!(map.skipped_lines, 1);
        assert_eq!(map.symbols().len(), 2);
        assert_eq!(map.lookup(0x7f0000000050).unwrap().name, "Interpreter");
        assert_eq!(map.lookup(0x7f0000001010).unwrap().name, "LazyCompile:*fib2 /app/fib.js:3");
        assert!(map.lookup(0x7f0000001020).is_none()); // past the rewritten symbol's 0x20 bytes
        assert!(map.lookup(0x10).is_none());
    }

    #[test]
    fn symbolizes_as_a_module() {
        let map = PerfMap::parse(b"1000 10 jitted_a\n2000 10 jitted_b\n");
        let batch = map.symbolize(&[0x2004, 0x1500, 0x1000]);
        let name = |i| match batch.get(i).unwrap() {
            crate::Answer::Frames(f) => Some(batch.str(f[0].function.unwrap()).to_owned()),
            crate::Answer::Unknown(r) => {
                assert_eq!(r, Reason::NotInPerfMap);
                None
            }
        };
        assert_eq!(name(0).as_deref(), Some("jitted_b"));
        assert_eq!(name(1), None);
        assert_eq!(name(2).as_deref(), Some("jitted_a"));
    }

    #[test]
    fn hostile_lines_do_not_panic() {
        for line in [
            &b"ffffffffffffffff ffffffffffffffff overflow"[..],
            b"0x10 0x0 zero-size",
            b"12345678901234567890 10 too-long",
            b"\xff\xfe 10 not-utf8",
            b"10 10",
            b"10",
            b" ",
        ] {
            let map = PerfMap::parse(line);
            assert!(map.symbols().is_empty(), "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn innermost_pid_from_status() {
        assert_eq!(innermost_pid("Name:\tnode\nPid:\t4242\nNSpid:\t4242\t17\t1\n"), Some(1));
        assert_eq!(innermost_pid("Name:\tnode\nPid:\t4242\nNSpid:\t4242\n"), Some(4242));
        assert_eq!(innermost_pid("Name:\tnode\nPid:\t99\n"), Some(99));
        assert_eq!(innermost_pid("Name:\tnode\n"), None);
        assert_eq!(perf_map_path(1), PathBuf::from("/tmp/perf-1.map"));
    }
}
