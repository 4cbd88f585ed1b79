//! JIT symbol maps in perf's format (`/tmp/perf-<pid>.map`: one `START SIZE name` line per symbol, hex
//! numbers), and finding them for a containerised process.
//!
//! A process in a PID namespace writes the map under *its own* pid, in *its own* mount namespace: the
//! file is `/tmp/perf-<NSpid>.map` inside the container's root, where `NSpid` is the innermost pid of
//! the process (last field of `NSpid:` in `/proc/<host pid>/status`).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use crate::budget::Limits;
use crate::symbolize::batch::{BatchBuilder, BatchFrame};
use crate::{Batch, Reason, Symbolize};

/// What perf maps may make cperf read (and so hold or copy): 32 MiB per map over all its versions
/// (and per process), 128 MiB for all processes together. A map is the container's file, of any
/// size it likes: what is over these limits is cut at a line boundary, with a note.
pub const LIMITS: Limits = Limits { per_file: 32 << 20, per_process: 32 << 20, total: 128 << 20 };

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

/// A parsed perf map: which symbol names each address.
///
/// Lines may overlap (a JIT rewrites code, or writes a region and then functions inside it): the
/// last line covering an address names it, and earlier lines still name the rest of their range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerfMap {
    /// The symbols that name at least one address, by start address (file order among equals).
    symbols: Vec<PerfMapSymbol>,
    /// Disjoint address ranges by start, each with the index of the symbol naming it.
    pieces: Vec<Piece>,
    /// Lines that did not parse (skipped).
    pub skipped_lines: usize,
}

/// Addresses `start..end`, named by `symbols[symbol]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    start: u64,
    end: u64,
    symbol: u32,
}

impl PerfMap {
    /// Parses a perf map text; malformed lines are counted and skipped, never fatal. Where lines
    /// overlap, the later line names the addresses it covers (JITs rewrite code) and the earlier
    /// ones keep the rest. Time and memory are `O(n log n)` and `O(n)` in the number of lines,
    /// however they overlap.
    pub fn parse(text: &[u8]) -> PerfMap {
        // Each symbol with its line number (the later line wins), sorted by start address.
        let mut lines: Vec<(PerfMapSymbol, u32)> = Vec::new();
        let mut skipped_lines = 0;
        for line in text.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(line) {
                Some(sym) if lines.len() < u32::MAX as usize => lines.push((sym, lines.len() as u32)),
                _ => skipped_lines += 1,
            }
        }
        lines.sort_unstable_by_key(|(sym, line)| (sym.start, *line));
        let pieces = owners(&lines);
        // Keep the symbols that name something, in the same order, and renumber.
        let mut index = vec![u32::MAX; lines.len()];
        for piece in &pieces {
            index[piece.symbol as usize] = 0;
        }
        let mut kept = 0;
        for i in &mut index {
            if *i == 0 {
                *i = kept;
                kept += 1;
            }
        }
        let pieces = pieces.into_iter().map(|p| Piece { symbol: index[p.symbol as usize], ..p }).collect();
        let symbols =
            lines.into_iter().zip(&index).filter(|(_, &i)| i != u32::MAX).map(|((s, _), _)| s).collect();
        PerfMap { symbols, pieces, skipped_lines }
    }

    /// The symbol naming `addr`, if any.
    pub fn lookup(&self, addr: u64) -> Option<&PerfMapSymbol> {
        let i = self.pieces.partition_point(|p| p.start <= addr);
        let piece = self.pieces.get(i.checked_sub(1)?)?;
        (addr < piece.end).then(|| &self.symbols[piece.symbol as usize])
    }

    /// The symbols that name at least one address, by start address.
    pub fn symbols(&self) -> &[PerfMapSymbol] {
        &self.symbols
    }
}

/// The names that `versions` of one process's perf map (oldest first, as the recorder copied them)
/// give `addrs`, as [`PerfMap::parse`] and [`PerfMap::lookup`] would: the newest version that
/// covers an address names it, and within a version the last line covering it. Nothing else is
/// kept: memory is `O(addrs)` plus the names found, whatever the size of the maps (a container
/// chose it), and time `O(lines × log addrs)`. Addresses no version names are left out.
pub fn name_addresses<'a, V>(versions: V, addrs: &[u64]) -> HashMap<u64, String>
where
    V: IntoIterator<Item = &'a [u8]>,
    V::IntoIter: DoubleEndedIterator,
{
    let mut unnamed: BTreeSet<u64> = addrs.iter().copied().collect();
    let mut names = HashMap::new();
    for text in versions.into_iter().rev() {
        // Lines last to first: the first line seen covering an address is the one that names it.
        for line in text.rsplit(|&b| b == b'\n') {
            if unnamed.is_empty() {
                return names;
            }
            let Some((start, end)) = line_range(line) else { continue };
            let covered: Vec<u64> = unnamed.range(start..end).copied().collect();
            if covered.is_empty() {
                continue;
            }
            let Some(sym) = parse_line(line) else { continue };
            for addr in covered {
                unnamed.remove(&addr);
                names.insert(addr, sym.name.clone());
            }
        }
    }
    names
}

/// A perf map kept as its text and searched for each batch's addresses ([`name_addresses`]) rather
/// than parsed: it names addresses as [`PerfMap`] does, in memory that is its text (parsed, a map
/// of many small lines takes about ten times its size), at the cost of a scan of the text per batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerfMapText(Vec<u8>);

impl PerfMapText {
    /// The map `text` (the file's bytes).
    pub fn new(text: Vec<u8>) -> PerfMapText {
        PerfMapText(text)
    }
}

impl Symbolize for PerfMapText {
    /// As [`PerfMap`]'s.
    fn symbolize(&self, addrs: &[u64]) -> Batch {
        let names = name_addresses([self.0.as_slice()], addrs);
        let mut batch = BatchBuilder::new(addrs.len());
        for addr in addrs {
            match names.get(addr) {
                Some(name) => {
                    let function = Some(batch.intern(name));
                    batch.push(BatchFrame { function, file: None, line: None, column: None, inlined: false });
                    batch.finish_frames();
                }
                None => batch.unknown(Reason::NotInPerfMap),
            }
        }
        batch.finish()
    }
}

/// The addresses a valid perf-map line covers, without copying its name.
fn line_range(line: &[u8]) -> Option<(u64, u64)> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let start = parse_hex(std::str::from_utf8(parts.next()?).ok()?)?;
    let size = parse_hex(std::str::from_utf8(parts.next()?).ok()?)?;
    Some((start, start.checked_add(size)?))
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

/// Which line names each address: `lines` sorted by start, each with its line number. A sweep
/// over the addresses keeps the lines covering the current one in a heap by line number; the
/// top names addresses until it ends or a line starts (`O(n log n)` time, `O(n)` memory). The
/// pieces are disjoint and sorted, and `symbol` is an index into `lines`.
fn owners(lines: &[(PerfMapSymbol, u32)]) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut covering: std::collections::BinaryHeap<(u32, u64, u32)> = std::collections::BinaryHeap::new();
    let mut next = 0;
    let mut at = 0;
    loop {
        if covering.is_empty() {
            let Some((sym, _)) = lines.get(next) else { break };
            at = sym.start;
        }
        while let Some((sym, line)) = lines.get(next).filter(|(sym, _)| sym.start <= at) {
            covering.push((*line, sym.start + sym.size, next as u32));
            next += 1;
        }
        while covering.peek().is_some_and(|&(_, end, _)| end <= at) {
            covering.pop();
        }
        let Some(&(_, end, symbol)) = covering.peek() else { continue };
        let stop = lines.get(next).map_or(end, |(sym, _)| end.min(sym.start));
        match pieces.last_mut() {
            Some(last) if last.end == at && last.symbol == symbol => last.end = stop,
            _ => pieces.push(Piece { start: at, end: stop, symbol }),
        }
        at = stop;
    }
    pieces
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

    /// [`name_addresses`] names every address as the parsed maps do, newest version first, on
    /// overlapping, nested, rewritten and malformed lines.
    #[test]
    fn name_addresses_agrees_with_parse_and_lookup() {
        let versions: [&[u8]; 3] = [
            b"1000 100 OLD_OUTER\n1010 10 OLD_INNER\n3000 10 ONLY_OLD\n",
            b"1000 40 outer\n1010 8 inner\nzz 1 bad\n1000 8 rewritten\r\n2000 0 empty\n\n1020 4 \n",
            b"1030 8 newest\nffffffffffffffff 2 overflows\n",
        ];
        let addrs: Vec<u64> = (0xff0..0x1120).chain(0x2ff8..0x3018).chain([u64::MAX - 1]).collect();
        let maps: Vec<PerfMap> = versions.iter().map(|v| PerfMap::parse(v)).collect();
        let names = name_addresses(versions, &addrs);
        for &a in &addrs {
            let want = maps.iter().rev().find_map(|m| m.lookup(a)).map(|s| s.name.as_str());
            assert_eq!(names.get(&a).map(String::as_str), want, "{a:#x}");
        }
        assert_eq!(names[&0x1031], "newest");
        assert_eq!(names[&0x1012], "inner");
        assert_eq!(names[&0x1001], "rewritten");
        assert_eq!(names[&0x1050], "OLD_OUTER");
        assert_eq!(names[&0x3001], "ONLY_OLD");
        // Kept as text, one version names addresses as its parse does.
        let text = PerfMapText::new(versions[1].to_vec());
        let (a, b) = (text.symbolize(&addrs), maps[1].symbolize(&addrs));
        for (i, addr) in addrs.iter().enumerate() {
            assert_eq!(a.symbolized(i), b.symbolized(i), "{addr:#x}");
        }
    }

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
        assert_eq!(map.symbols().len(), 3);
        assert_eq!(map.lookup(0x7f0000000050).unwrap().name, "Interpreter");
        assert_eq!(map.lookup(0x7f0000001010).unwrap().name, "LazyCompile:*fib2 /app/fib.js:3");
        // Past the rewritten symbol's 0x20 bytes, the first version still names its rest.
        assert_eq!(map.lookup(0x7f0000001020).unwrap().name, "LazyCompile:*fib /app/fib.js:3");
        assert!(map.lookup(0x7f0000001040).is_none());
        assert!(map.lookup(0x10).is_none());
    }

    /// A function written inside a region named before it: the inner name wins inside it, and the
    /// outer name still covers the rest of its range, before and after.
    #[test]
    fn nested_entries_keep_the_outer_name_around_the_inner_one() {
        let map = PerfMap::parse(b"100000000 11 OUTER_A\n100000005 2 INNER_B\n");
        let name = |addr| map.lookup(addr).map(|s| s.name.as_str());
        assert_eq!(name(0x100000000), Some("OUTER_A"));
        assert_eq!(name(0x100000004), Some("OUTER_A"));
        assert_eq!(name(0x100000005), Some("INNER_B"));
        assert_eq!(name(0x100000006), Some("INNER_B"));
        assert_eq!(name(0x100000007), Some("OUTER_A"));
        assert_eq!(name(0x100000010), Some("OUTER_A"));
        assert_eq!(name(0x100000011), None);
        // Written the other way round, the later, larger line covers the inner one.
        let map = PerfMap::parse(b"100000005 2 INNER_B\n100000000 11 OUTER_A\n");
        assert_eq!(map.lookup(0x100000005).unwrap().name, "OUTER_A");
        assert_eq!(map.symbols().len(), 1);
    }

    /// The last line covering an address names it, against a plain scan of the lines, for lines
    /// overlapping in every way (same start, inside, across either end, covering several).
    #[test]
    fn the_last_line_covering_an_address_names_it() {
        let mut text = String::new();
        let mut lines = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let (start, size) = (seed % 200, 1 + (seed >> 20) % 40);
            text.push_str(&format!("{start:x} {size:x} f{i}\n"));
            lines.push((start, size, format!("f{i}")));
        }
        let map = PerfMap::parse(text.as_bytes());
        for addr in 0..260 {
            let expected =
                lines.iter().rev().find(|(s, n, _)| (*s..s + n).contains(&addr)).map(|l| l.2.as_str());
            assert_eq!(map.lookup(addr).map(|s| s.name.as_str()), expected, "address {addr:#x}");
        }
        assert!(map.symbols().windows(2).all(|w| w[0].start <= w[1].start));
    }

    /// Many lines each covering all the earlier ones parse in about linear time.
    #[test]
    fn many_overlapping_lines_parse_quickly() {
        let mut text = String::new();
        for i in 0..200_000u64 {
            // Alternately one wide line over everything and one narrow line inside it.
            if i % 2 == 0 {
                text.push_str(&format!("1000 {:x} wide{i}\n", 0x100000 + i));
            } else {
                text.push_str(&format!("{:x} 1 narrow{i}\n", 0x1000 + i));
            }
        }
        let map = PerfMap::parse(text.as_bytes());
        assert_eq!(map.lookup(0x1000 + 199_999).unwrap().name, "narrow199999");
        assert_eq!(map.lookup(0x1000).unwrap().name, "wide199998");
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
