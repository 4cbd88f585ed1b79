//! A function symbol table sorted by address, looked up by binary search.

/// One function symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Start address.
    pub addr: u64,
    /// Size in bytes (0 when the table does not say).
    pub size: u64,
    /// Demangled name.
    pub name: String,
}

/// Function symbols sorted by address.
#[derive(Debug, Clone, Default)]
pub struct SymbolTable {
    symbols: Vec<Symbol>,
}

impl SymbolTable {
    /// A table over `symbols` (any order; at one address the sized, then first, symbol wins).
    pub fn new(mut symbols: Vec<Symbol>) -> Self {
        symbols.sort_by(|a, b| a.addr.cmp(&b.addr).then(b.size.cmp(&a.size)));
        symbols.dedup_by_key(|s| s.addr);
        SymbolTable { symbols }
    }

    /// True when there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// How many symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// The symbol covering `addr`: the last one starting at or before it, if `addr` is inside its size
    /// (or, for a symbol without a size, before the next symbol).
    pub fn lookup(&self, addr: u64) -> Option<&Symbol> {
        let i = self.symbols.partition_point(|s| s.addr <= addr).checked_sub(1)?;
        let s = &self.symbols[i];
        let covers = if s.size > 0 {
            addr - s.addr < s.size
        } else {
            self.symbols.get(i + 1).is_none_or(|next| addr < next.addr)
        };
        covers.then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(addr: u64, size: u64, name: &str) -> Symbol {
        Symbol { addr, size, name: name.into() }
    }

    #[test]
    fn sized_unsized_and_gaps() {
        let t = SymbolTable::new(vec![
            sym(0x300, 0, "c"),
            sym(0x100, 0x10, "a"),
            sym(0x200, 0, "b"),
            sym(0x100, 0, "alias"),
        ]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(0x100).unwrap().name, "a");
        assert_eq!(t.lookup(0x10f).unwrap().name, "a");
        assert!(t.lookup(0x110).is_none());
        assert!(t.lookup(0xff).is_none());
        assert_eq!(t.lookup(0x2ff).unwrap().name, "b");
        assert_eq!(t.lookup(0x1_0000).unwrap().name, "c");
    }
}
