//! The public verb: an ELF module (a binary or library, with its split debug file if found) turns
//! addresses into frames; a [`Symbolizer`] keeps parsed modules by build-id so a binary shared by many
//! processes or containers is parsed once.

use std::collections::HashMap;
use std::rc::Rc;

use crate::dwarf::DwarfResolver;
use crate::elf::{ElfError, ElfFile, Segment, SymbolTable};

/// One frame of a symbolized address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The function (demangled), when known.
    pub function: Option<String>,
    /// The source file, when known.
    pub file: Option<String>,
    /// The line, when known.
    pub line: Option<u32>,
    /// True for a function inlined into the next frame.
    pub inlined: bool,
}

/// Why an address has no name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No loadable segment of the file covers the offset.
    OutsideText,
    /// Neither DWARF nor a symbol table covers it (a stripped binary).
    NoSymbols,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::OutsideText => "outside the file's loadable segments",
            Reason::NoSymbols => "no symbol covers it (stripped)",
        })
    }
}

/// The answer for one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symbolized {
    /// At least one frame, innermost first.
    Frames(Vec<Frame>),
    /// No name, and why.
    Unknown(Reason),
}

/// A parsed ELF module, immutable once loaded.
#[derive(Debug)]
pub struct ElfModule {
    build_id: Option<Vec<u8>>,
    debuglink: Option<(String, u32)>,
    segments: Vec<Segment>,
    symbols: SymbolTable,
    has_symtab: bool,
    dwarf: Option<DwarfResolver>,
}

impl ElfModule {
    /// Parses an ELF file's bytes (which are not kept).
    pub fn parse(data: Vec<u8>) -> Result<ElfModule, ElfError> {
        let elf = ElfFile::parse(&data)?;
        drop(data);
        let dwarf =
            if elf.dwarf.is_empty() { None } else { DwarfResolver::new(elf.dwarf, elf.little_endian) };
        Ok(ElfModule {
            build_id: elf.build_id,
            debuglink: elf.debuglink,
            segments: elf.segments,
            symbols: elf.symbols,
            has_symtab: elf.has_symtab,
            dwarf,
        })
    }

    /// Takes DWARF (and the symbol table, if richer) from a separate debug file; refuses one whose
    /// build-id differs.
    pub fn attach_debug(&mut self, data: Vec<u8>) -> Result<(), ElfError> {
        let debug = ElfFile::parse(&data)?;
        drop(data);
        if let (Some(a), Some(b)) = (&self.build_id, &debug.build_id) {
            if a != b {
                return Err(ElfError::Malformed("the debug file's build-id differs".into()));
            }
        }
        if debug.has_symtab && !self.has_symtab {
            self.symbols = debug.symbols;
            self.has_symtab = true;
        }
        if !debug.dwarf.is_empty() {
            self.dwarf = DwarfResolver::new(debug.dwarf, debug.little_endian).or(self.dwarf.take());
        }
        Ok(())
    }

    /// The GNU build-id.
    pub fn build_id(&self) -> Option<&[u8]> {
        self.build_id.as_deref()
    }

    /// The `.gnu_debuglink` name and CRC.
    pub fn debuglink(&self) -> Option<(&str, u32)> {
        self.debuglink.as_ref().map(|(n, c)| (n.as_str(), *c))
    }

    /// True when DWARF is available.
    pub fn has_dwarf(&self) -> bool {
        self.dwarf.is_some()
    }

    /// True when a full symbol table (`.symtab`) is available.
    pub fn has_symtab(&self) -> bool {
        self.has_symtab
    }

    /// The address a file offset is loaded at (PIE, non-PIE and shared libraries alike).
    pub fn file_offset_to_vaddr(&self, offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| offset >= s.offset && offset - s.offset < s.file_size)
            .map(|s| s.vaddr + (offset - s.offset))
    }

    /// The frames at a link-time address: DWARF lines and inlines, the ELF symbol filling in a
    /// missing outer function name, else the ELF symbol alone.
    pub fn symbolize_vaddr(&self, vaddr: u64) -> Symbolized {
        let symbol = self.symbols.lookup(vaddr);
        if let Some(dwarf) = &self.dwarf {
            let mut frames = dwarf.frames(vaddr);
            if let Some(outer) = frames.last_mut() {
                if outer.function.is_none() {
                    outer.function = symbol.map(|s| s.name.clone());
                }
                return Symbolized::Frames(frames);
            }
        }
        match symbol {
            Some(s) => Symbolized::Frames(vec![Frame {
                function: Some(s.name.clone()),
                file: None,
                line: None,
                inlined: false,
            }]),
            None => Symbolized::Unknown(Reason::NoSymbols),
        }
    }

    /// The frames at a file offset (what a sample's address minus its mapping's start plus its
    /// offset gives).
    pub fn symbolize_offset(&self, offset: u64) -> Symbolized {
        match self.file_offset_to_vaddr(offset) {
            Some(vaddr) => self.symbolize_vaddr(vaddr),
            None => Symbolized::Unknown(Reason::OutsideText),
        }
    }
}

/// Parsed modules by build-id (one thread: a module is `Send` but not `Sync`, as addr2line parses
/// units lazily).
#[derive(Debug, Default)]
pub struct Symbolizer {
    modules: HashMap<Vec<u8>, Rc<ElfModule>>,
}

impl Symbolizer {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The module with this build-id, if parsed before.
    pub fn cached(&self, build_id: &[u8]) -> Option<Rc<ElfModule>> {
        self.modules.get(build_id).cloned()
    }

    /// Keeps a module (by its build-id, if it has one) and hands it back shared.
    pub fn insert(&mut self, module: ElfModule) -> Rc<ElfModule> {
        let module = Rc::new(module);
        if let Some(id) = module.build_id() {
            self.modules.insert(id.to_vec(), module.clone());
        }
        module
    }

    /// Symbolizes link-time addresses of one module.
    pub fn symbolize(&self, module: &ElfModule, vaddrs: &[u64]) -> Vec<Symbolized> {
        vaddrs.iter().map(|&a| module.symbolize_vaddr(a)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_can_move_between_threads() {
        fn movable<T: Send>() {}
        movable::<ElfModule>(); // not Sync: addr2line fills its caches lazily
    }

    #[test]
    fn this_test_binary_names_its_own_functions() {
        let module = ElfModule::parse(std::fs::read("/proc/self/exe").unwrap()).unwrap();
        assert!(module.has_symtab());
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
        let Symbolized::Frames(frames) = module.symbolize_offset(f - start + offset) else { panic!() };
        let outer = frames.last().unwrap().function.as_deref().unwrap();
        assert!(outer.ends_with("this_test_binary_names_its_own_functions"), "{frames:?}");
        assert_eq!(module.symbolize_offset(u64::MAX / 2), Symbolized::Unknown(Reason::OutsideText));
    }
}
