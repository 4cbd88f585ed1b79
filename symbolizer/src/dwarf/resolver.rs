//! One file's DWARF as an `addr2line` context. The context parses units, line programs and inlined
//! functions lazily and caches them, which makes it `Send` but not `Sync`; [`DwarfResolver`] puts it
//! behind a mutex, taken once per lookup or once per batch of lookups.

use std::sync::{Arc, Mutex, MutexGuard};

use gimli::{EndianArcSlice, RunTimeEndian};

use super::DwarfSections;
use crate::demangle::demangle;
use crate::elf::SymbolTable;
use crate::hash::FastMap;
use crate::Frame;

/// The reader over the copied sections: cheap to clone, and `Send`.
type Reader = EndianArcSlice<RunTimeEndian>;

/// Resolves addresses with one file's DWARF; `Send + Sync`.
pub(crate) struct DwarfResolver {
    inner: Mutex<Resolver>,
}

impl std::fmt::Debug for DwarfResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DwarfResolver")
    }
}

/// The locked resolver.
pub(crate) struct Resolver {
    context: addr2line::Context<Reader>,
    /// Demangled function names by the location of their raw bytes in the sections.
    names: Interned,
    /// File paths by the location of addr2line's own (cached) rendering of them.
    files: Interned,
    /// The entry address (the first range's start) of functions and inlined instances whose
    /// name may be replaced by the ELF symbol's, by (unit offset, DIE offset).
    entries: FastMap<(usize, usize), Option<u64>>,
}

/// Shared strings keyed by where their source bytes live: the sections and addr2line's caches do not
/// move while the context lives, so equal keys mean the same string, and a key costs no hashing of
/// the text.
type Interned = FastMap<(usize, usize), Arc<str>>;

impl DwarfResolver {
    /// A resolver over the sections; `None` when they do not form usable DWARF.
    pub fn new(sections: DwarfSections) -> Option<DwarfResolver> {
        let endian = if sections.little_endian { RunTimeEndian::Little } else { RunTimeEndian::Big };
        let empty: Arc<[u8]> = Arc::from(Vec::new());
        let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, gimli::Error> {
            let data = sections.sections.iter().find(|(s, _)| *s == id).map_or(&empty, |(_, d)| d);
            Ok(EndianArcSlice::new(data.clone(), endian))
        })
        .ok()?;
        if !nesting_is_bounded(&dwarf) {
            return None;
        }
        let context = addr2line::Context::from_dwarf(dwarf).ok()?;
        let resolver = Resolver {
            context,
            names: Interned::default(),
            files: Interned::default(),
            entries: FastMap::default(),
        };
        Some(DwarfResolver { inner: Mutex::new(resolver) })
    }

    /// The resolver, locked for one or more lookups.
    pub fn lock(&self) -> MutexGuard<'_, Resolver> {
        // The lock guards caches only; a panic while holding it leaves them consistent.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Resolver {
    /// Appends the frames at `vaddr` to `out`, innermost first (inlined ones with `inlined` set);
    /// appends nothing when the DWARF does not cover it. The ELF symbol covering `vaddr` (looked
    /// up in `symbols` only when needed) names frames as binutils' `addr2line` does:
    ///
    /// - the innermost frame when the DWARF has no function for it;
    /// - the innermost frame, and the outermost (the function itself), when it has only a plain
    ///   `DW_AT_name` (no linkage name) in a language whose symbols are mangled — C++ constructors,
    ///   functions of anonymous namespaces — and the symbol starts where that function or inlined
    ///   instance does.
    ///
    /// binutils renames such a function when it first meets it as the innermost frame, and then
    /// shows the new name wherever it appears; inlined frames in between that are never innermost
    /// keep their DWARF names. It also uses the symbol the first time it meets one at any other
    /// address, and the DWARF name afterwards. Both depend on the order of queries and are not
    /// copied: this is binutils' settled state.
    pub fn frames(&mut self, vaddr: u64, symbols: &SymbolTable, out: &mut Vec<Frame>) {
        let start = out.len();
        let Ok(mut iter) = self.context.find_frames(vaddr).skip_all_loads() else { return };
        // Frames named by a plain DW_AT_name: (index in `out`, DIE), at most the innermost and
        // the last one seen.
        let mut plain: [Option<(usize, gimli::UnitOffset)>; 2] = [None, None];
        while let Ok(Some(frame)) = iter.next() {
            let index = out.len();
            let function = frame.function.as_ref().map(|f| {
                let bytes = f.name.bytes();
                if !is_linkage_name(bytes, f.language) {
                    if let Some(die) = frame.dw_die_offset {
                        plain[usize::from(index != start)] = Some((index, die));
                    }
                }
                self.names
                    .entry((bytes.as_ptr() as usize, bytes.len()))
                    .or_insert_with(|| Arc::from(demangle(&String::from_utf8_lossy(bytes))))
                    .clone()
            });
            let function = match function {
                None if index == start => symbols.lookup(vaddr).map(|symbol| symbol.name()),
                function => function,
            };
            let (file, line, column) = match frame.location {
                Some(l) => {
                    let file = l.file.map(|f| {
                        self.files
                            .entry((f.as_ptr() as usize, f.len()))
                            .or_insert_with(|| Arc::from(f))
                            .clone()
                    });
                    (file, l.line, l.column)
                }
                None => (None, None, None),
            };
            out.push(Frame { function, file, line, column, inlined: true });
        }
        let Some(outer) = out[start..].last_mut() else { return };
        outer.inlined = false;
        let last = out.len() - 1;
        let mut renamed =
            plain.iter().flatten().filter(|(index, _)| *index == start || *index == last).peekable();
        if renamed.peek().is_none() {
            return;
        }
        let Some(symbol) = symbols.lookup(vaddr) else { return };
        let mut unit = None;
        for &(index, die) in renamed {
            let unit = unit.get_or_insert_with(|| self.context.find_dwarf_and_unit(vaddr).skip_all_loads());
            let Some(unit) = unit else { return };
            let key = (unit_key(unit), die.0);
            let entry = *self.entries.entry(key).or_insert_with(|| entry_address(*unit, die));
            if entry == Some(symbol.addr()) {
                out[index].function = Some(symbol.name());
            }
        }
    }
}

/// The deepest nesting of debugging entries accepted. addr2line reads nested inlined functions
/// recursively, so a crafted file nesting them a million deep would overflow the stack (an abort,
/// not an error); compilers nest a few dozen levels.
const MAX_DIE_DEPTH: isize = 1000;

/// False when some unit nests its entries deeper than [`MAX_DIE_DEPTH`]. Reads every entry's
/// abbreviation code and skips its attributes: about as fast as reading the section.
fn nesting_is_bounded(dwarf: &gimli::Dwarf<Reader>) -> bool {
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        // A unit that cannot be read here cannot be read by addr2line either.
        let Ok(abbreviations) = dwarf.abbreviations(&header) else { continue };
        let Ok(mut entries) = header.entries_raw(&abbreviations, None) else { continue };
        while !entries.is_empty() {
            if entries.next_depth() > MAX_DIE_DEPTH {
                return false;
            }
            match entries.read_abbreviation() {
                Ok(Some(abbreviation)) => {
                    if entries.skip_attributes(abbreviation.attributes()).is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }
    true
}

/// A unit's identity for caches: its offset (units with code are all in `.debug_info`).
fn unit_key(unit: &gimli::UnitRef<'_, Reader>) -> usize {
    unit.header.offset().0
}

/// Where a function or inlined instance starts, as binutils takes it: its `DW_AT_low_pc`, or the
/// first range of its `DW_AT_ranges`.
fn entry_address(unit: gimli::UnitRef<'_, Reader>, die: gimli::UnitOffset) -> Option<u64> {
    let entry = unit.entry(die).ok()?;
    let mut ranges = unit.die_ranges(&entry).ok()?;
    ranges.next().ok().flatten().map(|r| r.begin)
}

/// Whether binutils takes a DWARF function name as final (`is_linkage` in its `dwarf2.c`): a
/// `DW_AT_linkage_name` (recognized by its mangling: addr2line prefers it to `DW_AT_name`), or any
/// name in a language whose symbols are not mangled (binutils' `mangle_style` 0: C, Fortran 77,
/// Pascal, assembly, …).
fn is_linkage_name(name: &[u8], language: Option<gimli::DwLang>) -> bool {
    if name.starts_with(b"_Z") || name.starts_with(b"_R") || name.starts_with(b"__Z") {
        return true;
    }
    matches!(
        language,
        Some(
            gimli::DW_LANG_C89
                | gimli::DW_LANG_C
                | gimli::DW_LANG_C99
                | gimli::DW_LANG_C11
                | gimli::DW_LANG_C17
                | gimli::DW_LANG_UPC
                | gimli::DW_LANG_Cobol74
                | gimli::DW_LANG_Cobol85
                | gimli::DW_LANG_Fortran77
                | gimli::DW_LANG_Fortran18
                | gimli::DW_LANG_Pascal83
                | gimli::DW_LANG_PLI
                | gimli::DW_LANG_Mips_Assembler
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linkage_names_by_mangling_or_language() {
        assert!(is_linkage_name(b"_ZN3foo3barEv", Some(gimli::DW_LANG_C_plus_plus)));
        assert!(is_linkage_name(b"_RNvC3foo3bar", Some(gimli::DW_LANG_Rust)));
        assert!(is_linkage_name(b"helper", Some(gimli::DW_LANG_C11)));
        assert!(!is_linkage_name(b"main", Some(gimli::DW_LANG_C_plus_plus)));
        assert!(!is_linkage_name(b"~vector", Some(gimli::DW_LANG_C_plus_plus_14)));
        assert!(!is_linkage_name(b"f", None));
    }

    /// A DWARF 4 unit of `depth` nested inlined subroutines (no attributes).
    fn nested(depth: usize) -> DwarfSections {
        // Abbreviation 1: DW_TAG_inlined_subroutine, has children, no attributes.
        let abbrev = vec![1, 0x1d, 1, 0, 0, 0];
        let mut body = vec![4, 0, 0, 0, 0, 0, 8]; // version 4, abbrev offset 0, address size 8
        body.extend(std::iter::repeat_n(1u8, depth));
        body.extend(std::iter::repeat_n(0u8, depth));
        let mut info = u32::try_from(body.len()).unwrap().to_le_bytes().to_vec();
        info.extend(body);
        DwarfSections {
            sections: vec![
                (gimli::SectionId::DebugAbbrev, Arc::from(abbrev)),
                (gimli::SectionId::DebugInfo, Arc::from(info)),
            ],
            little_endian: true,
        }
    }

    #[test]
    fn absurd_nesting_is_refused_before_addr2line_recurses() {
        let shallow = DwarfResolver::new(nested(10)).expect("a sane unit is accepted");
        let mut out = Vec::new();
        shallow.lock().frames(0x1000, &SymbolTable::default(), &mut out);
        assert!(out.is_empty());
        assert!(DwarfResolver::new(nested(100_000)).is_none());
    }

    #[test]
    fn resolvers_are_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<DwarfResolver>();
    }
}
