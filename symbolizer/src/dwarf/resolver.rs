//! One file's DWARF as `addr2line` contexts. A context parses units, line programs and inlined
//! functions lazily and caches them, which makes it `Send` but not `Sync`; [`DwarfResolver`] keeps a
//! pool of them over the same sections, lent out one per thread for a lookup or a batch of lookups,
//! so that threads resolving different parts of a batch work in parallel.

use std::sync::{Arc, Mutex, MutexGuard};

use gimli::{EndianSlice, RunTimeEndian};

use super::DwarfSections;
use crate::demangle::demangle;
use crate::elf::SymbolTable;
use crate::hash::FastMap;

/// The reader over the sections: a plain borrowed slice. (An `Arc` reader would have every frame
/// lookup clone and drop a reference to the section, one shared cache line for all threads.)
type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// Resolves addresses with one file's DWARF; `Send + Sync`.
pub(crate) struct DwarfResolver {
    sections: Arc<DwarfSections>,
    /// Resolvers not lent out (at least one was made: the DWARF is known to load).
    idle: Mutex<Vec<OwnedResolver>>,
}

impl std::fmt::Debug for DwarfResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DwarfResolver")
    }
}

self_cell::self_cell!(
    /// A [`Resolver`] with the sections it reads.
    struct OwnedResolver {
        owner: Arc<DwarfSections>,
        #[not_covariant]
        dependent: Resolver,
    }
);

/// A resolver lent by [`DwarfResolver::lease`]; given back when dropped.
pub(crate) struct Lease<'a> {
    pool: &'a DwarfResolver,
    resolver: Option<OwnedResolver>,
}

/// One `addr2line` context and the names it found, used by one thread at a time.
pub(crate) struct Resolver<'a> {
    context: addr2line::Context<Reader<'a>>,
    /// Demangled function names, by [`Name::Dwarf`] id.
    names: Vec<Arc<str>>,
    /// Name ids by the location of their raw bytes in the sections, and whether the raw name is
    /// mangled (so a linkage name whatever the unit's language).
    name_ids: Interned<(u32, bool)>,
    /// File paths, by id.
    files: Vec<Arc<str>>,
    /// File ids by the location of addr2line's own (cached) rendering of the path.
    file_ids: Interned<u32>,
    /// Set when a lookup panicked inside `addr2line`: its caches stay unfilled, so every later
    /// lookup in the same place would panic (and print) again. The ELF symbols name what is left.
    broken: bool,
    /// The entry address (the first range's start) of functions and inlined instances whose
    /// name may be replaced by the ELF symbol's, by (unit offset, DIE offset).
    entries: FastMap<(usize, usize), Option<u64>>,
}

/// Ids keyed by where the source bytes of a string live: the sections and addr2line's caches do
/// not move while the context lives, so equal keys mean the same string, and a key costs no hashing
/// of the text.
type Interned<V> = FastMap<(usize, usize), V>;

/// A frame found by [`Resolver::frames`], its strings named by id: nothing is allocated or
/// reference-counted per lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawFrame {
    /// The function, when known.
    pub function: Option<Name>,
    /// The source file (an id for [`Resolver::file`]), when known.
    pub file: Option<u32>,
    /// The line, when known.
    pub line: Option<u32>,
    /// The column, when known.
    pub column: Option<u32>,
    /// True for a function inlined into the next frame.
    pub inlined: bool,
}

/// Where a frame's function name lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Name {
    /// A DWARF name: an id for [`Resolver::name`].
    Dwarf(u32),
    /// An ELF symbol: its index in the module's [`SymbolTable`].
    Symbol(u32),
}

impl DwarfResolver {
    /// A resolver over the sections; `None` when they do not form usable DWARF. The check of every
    /// unit's nesting (the one pass over all of `.debug_info`) runs on two threads.
    pub fn new(sections: DwarfSections) -> Option<DwarfResolver> {
        let sections = Arc::new(sections);
        let dwarf = load(&sections);
        let mut headers = Vec::new();
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            headers.push(header);
        }
        let (first_half, second_half) = headers.split_at(headers.len() / 2);
        let checks = [first_half, second_half].map(|units| || nesting_is_bounded(&dwarf, units));
        if !crate::parallel::run(&checks).into_iter().all(|bounded| bounded) {
            return None;
        }
        let first = OwnedResolver::try_new(sections.clone(), |s| Resolver::new(s).ok_or(())).ok()?;
        Some(DwarfResolver { sections, idle: Mutex::new(vec![first]) })
    }

    /// Makes ready up to `contexts` contexts in all (each parses the units it is asked about as it
    /// goes), so that as many threads can symbolize at once without setting one up first.
    pub fn prepare(&self, contexts: usize) {
        let missing = contexts.saturating_sub(self.idle().len());
        let new = (0..missing).filter_map(|_| {
            OwnedResolver::try_new(self.sections.clone(), |s| Resolver::new(s).ok_or(())).ok()
        });
        let new: Vec<_> = new.collect();
        self.idle().extend(new);
    }

    /// A resolver for one or more lookups by this thread: an idle one, or a new one over the same
    /// sections when all are lent out (it fills its caches as it goes).
    pub fn lease(&self) -> Lease<'_> {
        let idle = self.idle().pop();
        let resolver = idle
            .or_else(|| OwnedResolver::try_new(self.sections.clone(), |s| Resolver::new(s).ok_or(())).ok());
        Lease { pool: self, resolver }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<OwnedResolver>> {
        // The lock guards a list; a panic while holding it leaves it consistent.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Lease<'_> {
    /// Runs `f` with the resolver (`None` only if a new context could not be made over sections
    /// that already made one: it cannot happen, but is not worth a panic).
    pub fn with<R>(&mut self, f: impl FnOnce(Option<&mut Resolver<'_>>) -> R) -> R {
        match &mut self.resolver {
            Some(owned) => owned.with_dependent_mut(|_, resolver| f(Some(resolver))),
            None => f(None),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(resolver) = self.resolver.take() {
            self.pool.idle().push(resolver);
        }
    }
}

/// gimli's view of the sections.
fn load(sections: &DwarfSections) -> gimli::Dwarf<Reader<'_>> {
    let endian = if sections.little_endian { RunTimeEndian::Little } else { RunTimeEndian::Big };
    gimli::Dwarf::load(|id| Ok::<_, std::convert::Infallible>(EndianSlice::new(sections.get(id), endian)))
        .unwrap_or_else(|never| match never {})
}

impl<'a> Resolver<'a> {
    fn new(sections: &'a DwarfSections) -> Option<Resolver<'a>> {
        Some(Resolver {
            context: addr2line::Context::from_dwarf(load(sections)).ok()?,
            names: Vec::new(),
            name_ids: Interned::default(),
            files: Vec::new(),
            file_ids: Interned::default(),
            entries: FastMap::default(),
            broken: false,
        })
    }

    /// The demangled function name `id` of a [`Name::Dwarf`].
    pub fn name(&self, id: u32) -> &Arc<str> {
        &self.names[id as usize]
    }

    /// The file path `id` of a [`RawFrame::file`].
    pub fn file(&self, id: u32) -> &Arc<str> {
        &self.files[id as usize]
    }

    /// Appends the frames at `vaddr` to `out`, innermost first (inlined ones with `inlined` set);
    /// appends nothing when the DWARF does not cover it. The ELF symbol covering `vaddr` (looked
    /// up in `symbols` only when needed) names frames as binutils' `addr2line` does:
    ///
    /// - the innermost frame when the DWARF has no function for it, or an empty name, and the
    ///   outermost one (the function itself) then too;
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
    ///
    /// A panic inside `addr2line` (arithmetic overflow on crafted DWARF, say) costs the file its
    /// DWARF frames from then on, not the process: the caller falls back to the ELF symbols.
    pub fn frames(&mut self, vaddr: u64, symbols: &SymbolTable, out: &mut Vec<RawFrame>) {
        if self.broken {
            return;
        }
        let start = out.len();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.frames_unguarded(vaddr, symbols, out)
        }));
        if found.is_err() {
            out.truncate(start);
            self.broken = true;
        }
    }

    fn frames_unguarded(&mut self, vaddr: u64, symbols: &SymbolTable, out: &mut Vec<RawFrame>) {
        // addr2line looks up the range [vaddr, vaddr + 1), which does not exist for the last address.
        if vaddr == u64::MAX {
            return;
        }
        let start = out.len();
        let Ok(mut iter) = self.context.find_frames(vaddr).skip_all_loads() else { return };
        // Frames named by a plain DW_AT_name: (index in `out`, DIE), at most the innermost and
        // the last one seen.
        let mut plain: [Option<(usize, gimli::UnitOffset)>; 2] = [None, None];
        while let Ok(Some(frame)) = iter.next() {
            let index = out.len();
            // An empty name (a string section left out, or crafted) names nothing: the symbol does.
            let function = match frame.function.as_ref().filter(|f| !f.name.slice().is_empty()) {
                Some(f) => {
                    let bytes = f.name.slice();
                    let (id, mangled) =
                        *self.name_ids.entry((bytes.as_ptr() as usize, bytes.len())).or_insert_with(|| {
                            let text = String::from_utf8_lossy(bytes);
                            self.names.push(Arc::from(demangle(&text)));
                            // Fewer than u32::MAX names: each takes at least one byte of the sections.
                            ((self.names.len() - 1) as u32, is_mangled(bytes))
                        });
                    if !mangled && !is_unmangled_language(f.language) {
                        if let Some(die) = frame.dw_die_offset {
                            plain[usize::from(index != start)] = Some((index, die));
                        }
                    }
                    Some(Name::Dwarf(id))
                }
                None if index == start => symbols.lookup(vaddr).map(|symbol| Name::Symbol(symbol.index())),
                None => None,
            };
            let (file, line, column) = match frame.location {
                Some(l) => {
                    let file = l.file.map(|f| {
                        *self.file_ids.entry((f.as_ptr() as usize, f.len())).or_insert_with(|| {
                            self.files.push(Arc::from(f));
                            (self.files.len() - 1) as u32
                        })
                    });
                    (file, l.line, l.column)
                }
                None => (None, None, None),
            };
            out.push(RawFrame { function, file, line, column, inlined: true });
        }
        let Some(outer) = out[start..].last_mut() else { return };
        outer.inlined = false;
        if outer.function.is_none() {
            // The function itself, unnamed (or named by an empty string): the symbol covering the
            // address is it.
            outer.function = symbols.lookup(vaddr).map(|symbol| Name::Symbol(symbol.index()));
        }
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
                out[index].function = Some(Name::Symbol(symbol.index()));
            }
        }
    }
}

/// The deepest nesting of debugging entries accepted. addr2line reads nested inlined functions
/// recursively, so a crafted file nesting them a million deep would overflow the stack (an abort,
/// not an error); compilers nest a few dozen levels.
const MAX_DIE_DEPTH: isize = 1000;

/// False when one of the units nests its entries deeper than [`MAX_DIE_DEPTH`]. Reads every
/// entry's abbreviation code and skips its attributes: about as fast as reading the section.
fn nesting_is_bounded(dwarf: &gimli::Dwarf<Reader<'_>>, units: &[gimli::UnitHeader<Reader<'_>>]) -> bool {
    for header in units {
        // A unit that cannot be read here cannot be read by addr2line either.
        let Ok(abbreviations) = dwarf.abbreviations(header) else { continue };
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
fn unit_key(unit: &gimli::UnitRef<'_, Reader<'_>>) -> usize {
    unit.header.offset().0
}

/// Where a function or inlined instance starts, as binutils takes it: its `DW_AT_low_pc`, or the
/// first range of its `DW_AT_ranges`.
fn entry_address(unit: gimli::UnitRef<'_, Reader<'_>>, die: gimli::UnitOffset) -> Option<u64> {
    let entry = unit.entry(die).ok()?;
    let mut ranges = unit.die_ranges(&entry).ok()?;
    ranges.next().ok().flatten().map(|r| r.begin)
}

/// Whether binutils takes a DWARF function name as final (`is_linkage` in its `dwarf2.c`): a
/// `DW_AT_linkage_name` (recognized by its mangling: addr2line prefers it to `DW_AT_name`), or any
/// name in a language whose symbols are not mangled.
#[cfg(test)]
fn is_linkage_name(name: &[u8], language: Option<gimli::DwLang>) -> bool {
    is_mangled(name) || is_unmangled_language(language)
}

/// A mangled (C++ or Rust) symbol name.
fn is_mangled(name: &[u8]) -> bool {
    name.starts_with(b"_Z") || name.starts_with(b"_R") || name.starts_with(b"__Z")
}

/// A language whose symbols are not mangled (binutils' `mangle_style` 0: C, Fortran 77, Pascal,
/// assembly, …).
fn is_unmangled_language(language: Option<gimli::DwLang>) -> bool {
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
    use crate::dwarf::Section;

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
        DwarfSections::new(
            vec![
                (gimli::SectionId::DebugAbbrev, Section::Decompressed(abbrev.into())),
                (gimli::SectionId::DebugInfo, Section::Decompressed(info.into())),
            ],
            true,
        )
    }

    #[test]
    fn absurd_nesting_is_refused_before_addr2line_recurses() {
        let shallow = DwarfResolver::new(nested(10)).expect("a sane unit is accepted");
        let mut out = Vec::new();
        shallow.lease().with(|r| r.unwrap().frames(0x1000, &SymbolTable::default(), &mut out));
        assert!(out.is_empty());
        assert!(DwarfResolver::new(nested(100_000)).is_none());
    }

    /// Found by the `elf` fuzz target: addr2line computed `vaddr + 1` (an overflow panic in debug
    /// builds) for the last address.
    #[test]
    fn the_last_address_is_looked_up_without_overflow() {
        let resolver = DwarfResolver::new(nested(3)).unwrap();
        let mut out = Vec::new();
        // Unguarded: the panic would otherwise be caught, and the test could not fail.
        resolver.lease().with(|r| r.unwrap().frames_unguarded(u64::MAX, &SymbolTable::default(), &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn resolvers_are_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<DwarfResolver>();
    }
}
