//! Function symbols sorted by address, looked up by binary search. Names are kept as the file spells
//! them and demangled on first use (a library can have hundreds of thousands of symbols, of which a
//! profile touches a few hundred).

use std::sync::{Arc, OnceLock};

use crate::demangle::demangle;

/// A function symbol as read from a symbol table, before sorting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawSymbol {
    /// Start address.
    pub addr: u64,
    /// Size in bytes (0 when the table does not say).
    pub size: u64,
    /// The end of the section holding it: how far a size-less symbol may reach.
    pub section_end: u64,
    /// `STT_FUNC` or `STT_GNU_IFUNC` (preferred over `STT_NOTYPE` labels).
    pub func: bool,
    /// The name as in the file (mangled).
    pub name: Box<str>,
    /// The source file named by a preceding `STT_FILE` symbol, when binutils would use it.
    pub file: Option<Arc<str>>,
}

/// One symbol of the table: the address range it covers and its name.
#[derive(Debug)]
struct Symbol {
    addr: u64,
    /// Exclusive end: `addr + size`, or for a size-less symbol the next symbol or the section end.
    end: u64,
    raw: RawSymbol,
    demangled: OnceLock<Arc<str>>,
}

/// Function symbols sorted by address; `Sync`, so lookups need no lock.
#[derive(Default)]
pub(crate) struct SymbolTable {
    symbols: Vec<Symbol>,
}

impl std::fmt::Debug for SymbolTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SymbolTable({} symbols)", self.symbols.len())
    }
}

/// A symbol found by [`SymbolTable::lookup`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    symbol: &'a Symbol,
    index: u32,
}

impl<'a> Found<'a> {
    /// The demangled name, shared.
    pub fn name(&self) -> &'a Arc<str> {
        self.symbol.demangled.get_or_init(|| Arc::from(demangle(&self.symbol.raw.name)))
    }

    /// The source file of an `STT_FILE` symbol, as binutils reports it for code without DWARF.
    pub fn file(&self) -> Option<&'a Arc<str>> {
        self.symbol.raw.file.as_ref()
    }

    /// The start address.
    pub fn addr(&self) -> u64 {
        self.symbol.addr
    }

    /// Its position in the table, for [`SymbolTable::name_at`] and [`SymbolTable::file_at`].
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl SymbolTable {
    /// A table over `symbols`, in file order. At one address one symbol is kept: a sized one over a
    /// size-less one, then a function over a label, then the first in the file — the alias
    /// binutils' `addr2line` names (for glibc, the local `__GI_` alias before the public name).
    pub fn new(mut raw: Vec<RawSymbol>) -> Self {
        // Stable: equal keys keep file order.
        raw.sort_by_key(|s| (s.addr, s.size == 0, !s.func));
        raw.dedup_by_key(|s| s.addr);
        // Symbols are named by a u32 index; no real file has four billion functions.
        raw.truncate(u32::MAX as usize);
        let starts: Vec<u64> = raw.iter().map(|s| s.addr).collect();
        let symbols = raw
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let end = if raw.size > 0 {
                    raw.addr.saturating_add(raw.size)
                } else {
                    let next = starts.get(i + 1).copied().unwrap_or(u64::MAX);
                    next.min(raw.section_end).max(raw.addr.saturating_add(1))
                };
                Symbol { addr: raw.addr, end, raw, demangled: OnceLock::new() }
            })
            .collect();
        SymbolTable { symbols }
    }

    /// How many symbols (after merging aliases).
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// The symbol covering `addr`: the last one starting at or before it, if `addr` is before its
    /// end.
    pub fn lookup(&self, addr: u64) -> Option<Found<'_>> {
        let i = self.symbols.partition_point(|s| s.addr <= addr).checked_sub(1)?;
        let symbol = &self.symbols[i];
        // At most u32::MAX symbols are read (see `new`), so the index fits.
        (addr < symbol.end).then_some(Found { symbol, index: i as u32 })
    }

    /// The symbol at `index` (from [`Found::index`]).
    pub fn get(&self, index: u32) -> Option<Found<'_>> {
        let symbol = self.symbols.get(index as usize)?;
        Some(Found { symbol, index })
    }

    /// The symbols as read, to be merged into another table.
    pub fn into_raw(self) -> Vec<RawSymbol> {
        self.symbols.into_iter().map(|s| s.raw).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(addr: u64, size: u64, name: &str) -> RawSymbol {
        RawSymbol { addr, size, section_end: 0x1000, func: true, name: name.into(), file: None }
    }

    #[test]
    fn sized_unsized_gaps_and_section_ends() {
        let t = SymbolTable::new(vec![
            sym(0x300, 0, "c"),
            sym(0x100, 0x10, "a"),
            sym(0x200, 0, "b"),
            sym(0x100, 0, "alias"),
        ]);
        assert_eq!(t.len(), 3);
        let name = |a| t.lookup(a).map(|f| f.name().to_string());
        assert_eq!(name(0x100).as_deref(), Some("a"));
        assert_eq!(name(0x10f).as_deref(), Some("a"));
        assert_eq!(name(0x110), None);
        assert_eq!(name(0xff), None);
        assert_eq!(name(0x2ff).as_deref(), Some("b"));
        assert_eq!(name(0xfff).as_deref(), Some("c"));
        assert_eq!(name(0x1000), None, "a size-less symbol stops at its section's end");
        assert_eq!(name(u64::MAX), None);
        assert_eq!(t.lookup(0x2ff).unwrap().addr(), 0x200);
    }

    #[test]
    fn aliases_prefer_sized_functions_then_file_order() {
        let mut label = sym(0x100, 0x10, "label");
        label.func = false;
        let t = SymbolTable::new(vec![
            sym(0x100, 0, "sizeless"),
            label,
            sym(0x100, 0x10, "__GI_malloc"),
            sym(0x100, 0x10, "malloc"),
        ]);
        assert_eq!(&**t.lookup(0x100).unwrap().name(), "__GI_malloc");
    }

    #[test]
    fn names_are_demangled_once() {
        let t = SymbolTable::new(vec![sym(0x10, 4, "_ZN3foo3barEv")]);
        let a = t.lookup(0x10).unwrap().name();
        let b = t.lookup(0x12).unwrap().name();
        assert_eq!(&**a, "foo::bar()");
        assert!(Arc::ptr_eq(a, b));
        assert!(Arc::ptr_eq(t.get(0).unwrap().name(), a));
        assert!(t.get(1).is_none());
        assert!(SymbolTable::default().lookup(0).is_none());
    }
}
