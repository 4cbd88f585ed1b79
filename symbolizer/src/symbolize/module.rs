//! [`ElfModule`]: one parsed binary or library, immutable once loaded (a split debug file may be
//! attached before it is shared). File offsets become link-time addresses through the `PT_LOAD`
//! program headers; addresses become DWARF frames with inlines, else the ELF symbol.

use std::sync::Arc;

use crate::dwarf::{DwarfResolver, Resolver};
use crate::elf::{ElfError, ElfFile, Segment, SymbolSource, SymbolTable};
use crate::{Frame, Reason, Symbolized};

/// A parsed ELF module: the build-id, debuglink, loadable segments, function symbols and DWARF
/// (of the file itself or of an attached debug file). The file's bytes are not kept.
///
/// `Send + Sync`: symbols are looked up without locking; DWARF lookups take the module's lock
/// (once per call, or once per batch with [`ElfModule::symbolize_vaddrs`]).
#[derive(Debug)]
pub struct ElfModule {
    build_id: Option<Box<[u8]>>,
    debuglink: Option<(String, u32)>,
    segments: Vec<Segment>,
    symbols: SymbolTable,
    symbol_source: SymbolSource,
    dwarf: Option<DwarfResolver>,
}

impl ElfModule {
    /// Parses an ELF file's bytes (which are dropped: what is needed is copied out, so a file that
    /// changes afterwards cannot affect the module). Never panics, whatever the bytes.
    pub fn parse(data: Vec<u8>) -> Result<ElfModule, ElfError> {
        let elf = ElfFile::parse(&data)?;
        drop(data);
        Ok(ElfModule {
            build_id: elf.build_id,
            debuglink: elf.debuglink,
            segments: elf.segments,
            symbols: elf.symbols,
            symbol_source: elf.symbol_source,
            dwarf: elf.dwarf.and_then(DwarfResolver::new),
        })
    }

    /// Takes DWARF, and the symbol table if it is richer than the module's, from a separate debug
    /// file (`objcopy --only-keep-debug`, a distribution's `-dbgsym` package). Refuses a file whose
    /// build-id differs from the module's when both have one; a debug file without DWARF or better
    /// symbols is accepted and changes nothing.
    pub fn attach_debug(&mut self, debug: Vec<u8>) -> Result<(), ElfError> {
        let elf = ElfFile::parse(&debug)?;
        drop(debug);
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
        if let Some(dwarf) = elf.dwarf.and_then(DwarfResolver::new) {
            self.dwarf = Some(dwarf);
        }
        Ok(())
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
        let mut dwarf = self.dwarf.as_ref().map(DwarfResolver::lock);
        self.symbolize_locked(dwarf.as_deref_mut(), vaddr, &mut Vec::new())
    }

    /// The frames at a file offset (what a sample's address minus its mapping's start plus the
    /// mapping's file offset gives).
    pub fn symbolize_offset(&self, file_offset: u64) -> Symbolized {
        match self.file_offset_to_vaddr(file_offset) {
            Some(vaddr) => self.symbolize_vaddr(vaddr),
            None => Symbolized::Unknown(Reason::OutsideText),
        }
    }

    /// [`ElfModule::symbolize_vaddr`] for many addresses, answered in their order. Faster than
    /// one call per address: the DWARF lock is taken once, the addresses are resolved in
    /// increasing order (the tables are walked in order, cache-friendly), and each distinct address
    /// once.
    pub fn symbolize_vaddrs(&self, vaddrs: &[u64]) -> Vec<Symbolized> {
        let mut dwarf = self.dwarf.as_ref().map(DwarfResolver::lock);
        let mut order: Vec<(u64, usize)> = vaddrs.iter().copied().zip(0..).collect();
        order.sort_unstable();
        let mut out = vec![Symbolized::Unknown(Reason::NoSymbols); vaddrs.len()];
        let mut previous: Option<(u64, usize)> = None;
        let mut scratch = Vec::new();
        for (vaddr, index) in order {
            out[index] = match previous {
                Some((same, first)) if same == vaddr => out[first].clone(),
                _ => {
                    previous = Some((vaddr, index));
                    self.symbolize_locked(dwarf.as_deref_mut(), vaddr, &mut scratch)
                }
            };
        }
        out
    }

    /// True when `vaddr` is inside an executable loadable segment (or the file has none, as a
    /// relocatable object). DWARF also describes functions the linker discarded, at address 0 or
    /// other tombstones, and a PIE's first segment (headers, read-only data) starts at 0.
    fn is_code(&self, vaddr: u64) -> bool {
        let mut code = self.segments.iter().filter(|s| s.executable).peekable();
        code.peek().is_none()
            || code.any(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.mem_size.max(s.file_size))
    }

    /// The lookup, with the DWARF resolver already locked; `scratch` is an empty buffer, reused.
    fn symbolize_locked(
        &self,
        dwarf: Option<&mut Resolver>,
        vaddr: u64,
        scratch: &mut Vec<Frame>,
    ) -> Symbolized {
        if !self.is_code(vaddr) {
            return Symbolized::Unknown(Reason::OutsideText);
        }
        if let Some(dwarf) = dwarf {
            dwarf.frames(vaddr, &self.symbols, scratch);
            if !scratch.is_empty() {
                return Symbolized::Frames(scratch.drain(..).collect());
            }
        }
        match self.symbols.lookup(vaddr) {
            Some(symbol) => Symbolized::Frames(Arc::new([Frame {
                function: Some(symbol.name()),
                file: symbol.file(),
                line: None,
                column: None,
                inlined: false,
            }])),
            None => Symbolized::Unknown(Reason::NoSymbols),
        }
    }
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(batch[0], Symbolized::Frames(frames.clone()));
        assert_eq!(batch[1], Symbolized::Unknown(Reason::OutsideText), "discarded code's DWARF is at 0");
        assert_eq!(batch[0], batch[2]);
    }
}
