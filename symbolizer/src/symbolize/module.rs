//! [`ElfModule`]: one parsed binary or library, immutable once loaded (a split debug file may be
//! attached before it is shared). File offsets become link-time addresses through the `PT_LOAD`
//! program headers; addresses become DWARF frames with inlines, else the ELF symbol.

use std::num::NonZeroU32;

use super::batch::{assemble, BatchBuilder, BatchFrame};
use super::sorted::SortedAddresses;
use crate::budget::Account;
use crate::dwarf::{DwarfResolver, Name, RawFrame, Resolver};
use crate::elf::{unbudgeted, ElfError, ElfFile, Segment, SymbolSource, SymbolTable};
use crate::{Batch, Reason, Symbolized};

/// A parsed ELF module: the build-id, debuglink, loadable segments, function symbols and DWARF
/// (of the file itself or of an attached debug file). Of the file's bytes, only the DWARF is kept
/// (in place in a copy of the file when it is most of it).
///
/// `Send + Sync`: symbols are looked up without locking; DWARF lookups borrow one of the module's
/// DWARF contexts (once per call, or once per batch with [`ElfModule::symbolize_vaddrs`]); threads
/// symbolizing at once each get their own.
#[derive(Debug)]
pub struct ElfModule {
    build_id: Option<Box<[u8]>>,
    debuglink: Option<(String, u32)>,
    segments: Vec<Segment>,
    symbols: SymbolTable,
    symbol_source: SymbolSource,
    dwarf: Option<DwarfResolver>,
    is_64: bool,
}

impl ElfModule {
    /// Parses an ELF file's bytes: what is needed is kept (the bytes themselves when DWARF is most
    /// of them, else copies of the parts), never the file, so a file that changes afterwards cannot
    /// affect the module. Never panics, whatever the bytes.
    pub fn parse(data: Vec<u8>) -> Result<ElfModule, ElfError> {
        Self::parse_within(data, &mut unbudgeted())
    }

    /// [`ElfModule::parse`], charging what the file makes the parser decompress (compressed DWARF,
    /// MiniDebugInfo) to `account`, at the sizes its headers claim and before inflating anything.
    /// DWARF the account refuses is left out (the symbol tables still name functions; the budget
    /// keeps a note of the cut).
    pub fn parse_within(data: Vec<u8>, account: &mut Account) -> Result<ElfModule, ElfError> {
        let elf = ElfFile::parse_within(&data, account)?;
        Ok(ElfModule {
            build_id: elf.build_id,
            debuglink: elf.debuglink,
            segments: elf.segments,
            symbols: elf.symbols,
            symbol_source: elf.symbol_source,
            dwarf: elf.dwarf.map(|d| d.with_file(data)).and_then(DwarfResolver::new),
            is_64: elf.is_64,
        })
    }

    /// Takes DWARF, and the symbol table if it is richer than the module's, from a separate debug
    /// file (`objcopy --only-keep-debug`, a distribution's `-dbgsym` package). Refuses a file whose
    /// build-id differs from the module's when both have one; a debug file without DWARF or better
    /// symbols is accepted and changes nothing.
    pub fn attach_debug(&mut self, debug: Vec<u8>) -> Result<(), ElfError> {
        self.attach_debug_within(debug, &mut unbudgeted())
    }

    /// [`ElfModule::attach_debug`], charging what the debug file makes the parser decompress to
    /// `account` (see [`ElfModule::parse_within`]).
    pub fn attach_debug_within(&mut self, debug: Vec<u8>, account: &mut Account) -> Result<(), ElfError> {
        let elf = ElfFile::parse_within(&debug, account)?;
        if let (Some(module), Some(debug)) = (&self.build_id, &elf.build_id) {
            if module != debug {
                return Err(ElfError::BuildIdMismatch { module: hex(module), debug: hex(debug) });
            }
        }
        let richer = elf.symbol_source > self.symbol_source
            || (elf.symbol_source == self.symbol_source && elf.symbols.len() > self.symbols.len());
        if richer {
            self.symbols = elf.symbols;
            self.symbol_source = elf.symbol_source;
        }
        if let Some(dwarf) = elf.dwarf.map(|d| d.with_file(debug)).and_then(DwarfResolver::new) {
            self.dwarf = Some(dwarf);
        }
        Ok(())
    }

    /// Makes ready DWARF contexts for `threads` threads (see [`ElfModule::symbolize_vaddrs_on`]),
    /// so that none sets one up when it starts. Contexts are otherwise made as threads first need
    /// them, and kept.
    pub fn prepare_threads(&self, threads: usize) {
        if let Some(dwarf) = &self.dwarf {
            dwarf.prepare(threads.min(MAX_THREADS));
        }
    }

    /// True for a 64-bit ELF file (`ELFCLASS64`).
    pub fn is_64(&self) -> bool {
        self.is_64
    }

    /// The GNU build-id (`NT_GNU_BUILD_ID` note).
    pub fn build_id(&self) -> Option<&[u8]> {
        self.build_id.as_deref()
    }

    /// The `.gnu_debuglink`: the separate debug file's name and the CRC-32 of its contents.
    pub fn debuglink(&self) -> Option<(&str, u32)> {
        self.debuglink.as_ref().map(|(name, crc)| (name.as_str(), *crc))
    }

    /// True when DWARF (line tables, inlined functions) is available.
    pub fn has_dwarf(&self) -> bool {
        self.dwarf.is_some()
    }

    /// True when a full symbol table is available: `.symtab`, or the MiniDebugInfo one; false when
    /// only the exported functions of `.dynsym` (or nothing) can be named.
    pub fn has_symtab(&self) -> bool {
        self.symbol_source >= SymbolSource::MiniDebugInfo
    }

    /// The link-time address of a file offset, through the `PT_LOAD` program headers (PIE,
    /// non-PIE and shared libraries alike); `None` when no segment holds the offset. An
    /// executable segment wins over another that also holds it.
    pub fn file_offset_to_vaddr(&self, offset: u64) -> Option<u64> {
        let holds = |s: &&Segment| offset >= s.offset && offset - s.offset < s.file_size;
        let segment = self
            .segments
            .iter()
            .filter(holds)
            .find(|s| s.executable)
            .or_else(|| self.segments.iter().find(holds))?;
        segment.vaddr.checked_add(offset - segment.offset)
    }

    /// The frames at a link-time address: DWARF frames with inlines when the DWARF covers it (the
    /// innermost function named as binutils' `addr2line -f -i -C` names it), else the ELF symbol
    /// (`.symtab`, MiniDebugInfo, else `.dynsym`) covering it. An address outside every executable
    /// loadable segment is [`Reason::OutsideText`].
    pub fn symbolize_vaddr(&self, vaddr: u64) -> Symbolized {
        self.symbolize_vaddrs(&[vaddr]).symbolized(0).unwrap_or(Symbolized::Unknown(Reason::NoSymbols))
    }

    /// The frames at a file offset (what a sample's address minus its mapping's start plus the
    /// mapping's file offset gives).
    pub fn symbolize_offset(&self, file_offset: u64) -> Symbolized {
        match self.file_offset_to_vaddr(file_offset) {
            Some(vaddr) => self.symbolize_vaddr(vaddr),
            None => Symbolized::Unknown(Reason::OutsideText),
        }
    }

    /// [`ElfModule::symbolize_vaddr`] for many addresses, answered in their order. Much faster
    /// than one call per address: the addresses are resolved in increasing order (each unit's
    /// tables are then walked while they are in the CPU's caches), each distinct address once, and
    /// the answers share their strings.
    pub fn symbolize_vaddrs(&self, vaddrs: &[u64]) -> Batch {
        self.symbolize_vaddrs_on(vaddrs, 1)
    }

    /// [`ElfModule::symbolize_vaddrs`] on up to `threads` threads, each resolving a range of the
    /// sorted addresses with its own DWARF context (so each parses and caches mostly its own
    /// units). Batches too small to gain from it are resolved on the calling thread.
    pub fn symbolize_vaddrs_on(&self, vaddrs: &[u64], threads: usize) -> Batch {
        let sorted = SortedAddresses::new(vaddrs);
        let threads = threads.clamp(1, (sorted.len() / MIN_PER_THREAD).clamp(1, MAX_THREADS));
        let chunk = sorted.len().div_ceil(threads).max(1);
        let jobs: Vec<_> = (0..sorted.len().max(1))
            .step_by(chunk)
            .map(|start| {
                let range = start..(start + chunk).min(sorted.len());
                let sorted = &sorted;
                move || self.answer_sorted(sorted.addrs(range.clone()), range.len())
            })
            .collect();
        assemble(crate::parallel::run(&jobs), sorted.positions())
    }

    /// The answers for `len` sorted addresses, in their order.
    fn answer_sorted(&self, sorted: impl Iterator<Item = u64>, len: usize) -> BatchBuilder {
        match self.dwarf.as_ref().map(DwarfResolver::lease) {
            Some(mut lease) => lease.with(|dwarf| self.answer_all(dwarf, sorted, len)),
            None => self.answer_all(None, sorted, len),
        }
    }

    /// [`ElfModule::answer_sorted`] with a DWARF resolver lent to this thread.
    fn answer_all(
        &self,
        mut dwarf: Option<&mut Resolver<'_>>,
        sorted: impl Iterator<Item = u64>,
        len: usize,
    ) -> BatchBuilder {
        let mut batch = BatchBuilder::new(len);
        let mut previous = None;
        let mut scratch = Vec::new();
        for vaddr in sorted {
            if previous == Some(vaddr) {
                batch.repeat();
            } else {
                previous = Some(vaddr);
                self.answer(dwarf.as_deref_mut(), vaddr, &mut batch, &mut scratch);
            }
        }
        batch
    }

    /// True when `vaddr` is inside an executable loadable segment (or the file has none, as a
    /// relocatable object). DWARF also describes functions the linker discarded, at address 0 or
    /// other tombstones, and a PIE's first segment (headers, read-only data) starts at 0.
    fn is_code(&self, vaddr: u64) -> bool {
        let mut code = self.segments.iter().filter(|s| s.executable).peekable();
        code.peek().is_none()
            || code.any(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.mem_size.max(s.file_size))
    }

    /// Adds the answer for `vaddr` to a batch, with a DWARF resolver lent to this thread;
    /// `scratch` is a buffer reused between calls.
    fn answer(
        &self,
        dwarf: Option<&mut Resolver<'_>>,
        vaddr: u64,
        batch: &mut BatchBuilder,
        scratch: &mut Vec<RawFrame>,
    ) {
        if !self.is_code(vaddr) {
            return batch.unknown(Reason::OutsideText);
        }
        if let Some(dwarf) = dwarf {
            scratch.clear();
            dwarf.frames(vaddr, &self.symbols, scratch);
            if !scratch.is_empty() {
                for f in scratch.iter() {
                    let function = match f.function {
                        Some(Name::Dwarf(id)) => Some(batch.intern(dwarf.name(id))),
                        Some(Name::Symbol(i)) => self.symbols.get(i).map(|s| batch.intern(s.name())),
                        None => None,
                    };
                    let file = f.file.map(|id| batch.intern(dwarf.file(id)));
                    let (line, column) =
                        (f.line.and_then(NonZeroU32::new), f.column.and_then(NonZeroU32::new));
                    batch.push(BatchFrame { function, file, line, column, inlined: f.inlined });
                }
                return batch.finish_frames();
            }
        }
        match self.symbols.lookup(vaddr) {
            Some(symbol) => {
                let function = Some(batch.intern(symbol.name()));
                let file = symbol.file().map(|f| batch.intern(f));
                batch.push(BatchFrame { function, file, line: None, column: None, inlined: false });
                batch.finish_frames();
            }
            None => batch.unknown(Reason::NoSymbols),
        }
    }
}

/// The fewest addresses worth a thread of their own: below that, starting the thread and filling
/// another context's caches cost more than they save.
const MIN_PER_THREAD: usize = 16 * 1024;
/// The most threads one batch is split over: each keeps a DWARF context (and its caches) for the
/// module's lifetime, and the sorted addresses stop being dense enough per thread to gain more.
const MAX_THREADS: usize = 8;

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every answer of a batch split over threads (each with its own DWARF context, strings
    /// renumbered when the parts are put together) equals the answer on one thread.
    #[test]
    fn threads_answer_as_one_thread_does() {
        let module = ElfModule::parse(std::fs::read("/proc/self/exe").unwrap()).unwrap();
        let text = module.segments.iter().find(|s| s.executable).unwrap();
        // Addresses all over the code, with repeats, in a scrambled order.
        let n = 3 * MIN_PER_THREAD + 17;
        let addrs: Vec<u64> = (0..n as u64)
            .map(|i| text.vaddr + (i * 7919 * 131) % text.file_size.max(1) / (1 + i % 3))
            .collect();
        let one = module.symbolize_vaddrs_on(&addrs, 1);
        let three = module.symbolize_vaddrs_on(&addrs, 3);
        assert_eq!(one.len(), n);
        assert_eq!(three.len(), n);
        let mut named = 0;
        for (i, addr) in addrs.iter().enumerate() {
            assert_eq!(one.symbolized(i), three.symbolized(i), "address {addr:#x}");
            named += usize::from(matches!(one.get(i), Some(crate::Answer::Frames(_))));
        }
        assert!(named > n / 2, "{named} of {n} named");
    }

    /// A bare 32-bit ELF header (no segments, sections or symbols), as a test of the class.
    pub(crate) fn elf32_header() -> Vec<u8> {
        let mut h = vec![0u8; 52];
        h[..7].copy_from_slice(b"\x7fELF\x01\x01\x01"); // ELFCLASS32, little-endian, version 1
        h[16] = 2; // ET_EXEC
        h[18] = 3; // EM_386
        h[20] = 1; // EV_CURRENT
        h[40] = 52; // e_ehsize
        h
    }

    #[test]
    fn the_class_is_known() {
        let module = ElfModule::parse(elf32_header()).unwrap();
        assert!(!module.is_64());
        assert_eq!(module.symbolize_vaddr(0x8049000), Symbolized::Unknown(Reason::NoSymbols));
        assert!(ElfModule::parse(std::fs::read("/proc/self/exe").unwrap()).unwrap().is_64());
    }

    #[test]
    fn modules_are_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<ElfModule>();
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(ElfModule::parse(Vec::new()), Err(ElfError::NotElf)));
        assert!(ElfModule::parse(b"\x7fELF\x02\x01\x01".to_vec()).is_err());
    }

    #[test]
    fn this_test_binary_names_its_own_functions() {
        let module = ElfModule::parse(std::fs::read("/proc/self/exe").unwrap()).unwrap();
        assert!(module.has_symtab());
        assert!(module.has_dwarf());
        let f = this_test_binary_names_its_own_functions as fn() as usize as u64;
        // Our own load address: the mapping of /proc/self/exe that holds `f`.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let (start, offset) = maps
            .lines()
            .filter(|l| l.ends_with(exe.to_str().unwrap()))
            .find_map(|l| {
                let mut it = l.split_whitespace();
                let (s, e) = it.next()?.split_once('-')?;
                let (s, e) = (u64::from_str_radix(s, 16).ok()?, u64::from_str_radix(e, 16).ok()?);
                let off = u64::from_str_radix(it.nth(1)?, 16).ok()?;
                (s..e).contains(&f).then_some((s, off))
            })
            .unwrap();
        let at = f - start + offset;
        let Symbolized::Frames(frames) = module.symbolize_offset(at) else { panic!("unknown") };
        let outer = frames.last().unwrap();
        assert!(
            outer.function.as_deref().unwrap().ends_with("this_test_binary_names_its_own_functions"),
            "{frames:?}"
        );
        assert!(outer.file.as_deref().unwrap().ends_with("module.rs"), "{frames:?}");
        assert!(!outer.inlined);
        assert_eq!(module.symbolize_offset(u64::MAX / 2), Symbolized::Unknown(Reason::OutsideText));
        let vaddr = module.file_offset_to_vaddr(at).unwrap();
        let batch = module.symbolize_vaddrs(&[vaddr, 0, vaddr]);
        assert_eq!(batch.symbolized(0), Some(Symbolized::Frames(frames.clone())));
        assert_eq!(
            batch.get(1),
            Some(crate::Answer::Unknown(Reason::OutsideText)),
            "discarded code's DWARF is at 0"
        );
        assert_eq!(batch.get(0), batch.get(2));
    }
}
