//! Kernel symbols in `/proc/kallsyms` format (`ffffffff81000000 T _stext` and `… t name [module]`).
//!
//! When `kernel.kptr_restrict` (or missing privilege) hides addresses, every address reads as zero;
//! that is reported as [`KallsymsError::Hidden`] rather than turned into a table that names every
//! kernel frame after the first symbol.

use std::sync::{Arc, OnceLock};

use crate::symbolize::batch::{BatchBuilder, BatchFrame};
use crate::{Batch, Reason, Symbolize};

/// One kernel text symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSymbol {
    /// Address.
    pub addr: u64,
    /// Name.
    pub name: String,
    /// The module, for symbols of loadable modules.
    pub module: Option<String>,
}

/// Why kernel symbols are not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KallsymsError {
    /// All addresses are zero.
    #[error("kernel symbol addresses are hidden (kernel.kptr_restrict = {kptr_restrict}): run as root, or: sysctl kernel.kptr_restrict=0")]
    Hidden {
        /// The current `/proc/sys/kernel/kptr_restrict`, or `?`.
        kptr_restrict: String,
    },
    /// Nothing parsed.
    #[error("no kernel symbols found")]
    Empty,
}

/// Kernel text symbols sorted by address.
#[derive(Debug, Clone, Default)]
pub struct Kallsyms {
    symbols: Vec<KernelSymbol>,
    /// What a frame is named, by symbol: `name`, or `name [module]` (made on first use).
    labels: Vec<OnceLock<Arc<str>>>,
}

impl Kallsyms {
    /// Parses a kallsyms text, keeping text symbols (`t`, `T`, `w`, `W`); malformed lines are skipped.
    pub fn parse(text: &str) -> Result<Kallsyms, KallsymsError> {
        let mut symbols = Vec::new();
        let mut all_zero = true;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr, 16) else { continue };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            all_zero &= addr == 0;
            let module = parts.next().and_then(|m| m.strip_prefix('[')).and_then(|m| m.strip_suffix(']'));
            symbols.push(KernelSymbol { addr, name: name.to_owned(), module: module.map(str::to_owned) });
        }
        if symbols.is_empty() {
            return Err(KallsymsError::Empty);
        }
        if all_zero {
            let kptr_restrict = std::fs::read_to_string("/proc/sys/kernel/kptr_restrict")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "?".into());
            return Err(KallsymsError::Hidden { kptr_restrict });
        }
        symbols.sort_by_key(|s| s.addr);
        let labels = symbols.iter().map(|_| OnceLock::new()).collect();
        Ok(Kallsyms { symbols, labels })
    }

    /// The symbol at or below `addr` (kernel symbols have no sizes; the next symbol ends one), and the
    /// offset into it. Addresses below the first symbol have none.
    pub fn lookup(&self, addr: u64) -> Option<(&KernelSymbol, u64)> {
        let i = self.symbols.partition_point(|s| s.addr <= addr);
        let sym = self.symbols.get(i.checked_sub(1)?)?;
        Some((sym, addr - sym.addr))
    }

    /// What a frame in symbol `index` is named: `name`, or `name [module]` for a module's symbol.
    fn label(&self, index: usize) -> &Arc<str> {
        self.labels[index].get_or_init(|| {
            let sym = &self.symbols[index];
            match &sym.module {
                Some(m) => Arc::from(format!("{} [{m}]", sym.name)),
                None => Arc::from(sym.name.as_str()),
            }
        })
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}

impl Symbolize for Kallsyms {
    /// Kernel addresses, each named by the symbol at or below it (`name [module]` for a loadable
    /// module's); an address below the first symbol is [`Reason::NoKernelSymbol`].
    fn symbolize(&self, addrs: &[u64]) -> Batch {
        let mut batch = BatchBuilder::new(addrs.len());
        for &addr in addrs {
            match self.symbols.partition_point(|s| s.addr <= addr).checked_sub(1) {
                Some(i) => {
                    let function = Some(batch.intern(self.label(i)));
                    batch.push(BatchFrame { function, file: None, line: None, column: None, inlined: false });
                    batch.finish_frames();
                }
                None => batch.unknown(Reason::NoKernelSymbol),
            }
        }
        batch.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_symbols_and_modules() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\n\
             ffffffff81000100 t do_one\n\
             ffffffff82000000 D some_data\n\
             ffffffffc0000000 t ext4_thing\t[ext4]\n\
             nonsense\n",
        )
        .unwrap();
        assert_eq!(k.len(), 3);
        let (sym, off) = k.lookup(0xffffffff81000180).unwrap();
        assert_eq!((sym.name.as_str(), off), ("do_one", 0x80));
        let (sym, _) = k.lookup(0xffffffffc0000010).unwrap();
        assert_eq!(sym.module.as_deref(), Some("ext4"));
        assert!(k.lookup(0x1000).is_none());
        let batch = k.symbolize(&[0xffffffffc0000010, 0x1000, 0xffffffff81000100]);
        let name = |i| match batch.get(i).unwrap() {
            crate::Answer::Frames(f) => batch.str(f[0].function.unwrap()).to_owned(),
            crate::Answer::Unknown(r) => r.to_string(),
        };
        assert_eq!(name(0), "ext4_thing [ext4]");
        assert_eq!(name(1), Reason::NoKernelSymbol.to_string());
        assert_eq!(name(2), "do_one");
    }

    #[test]
    fn hidden_addresses_are_an_error() {
        let e = Kallsyms::parse("0000000000000000 T _stext\n0000000000000000 t do_one\n").unwrap_err();
        assert!(matches!(e, KallsymsError::Hidden { .. }));
        assert!(e.to_string().contains("kptr_restrict"));
        assert_eq!(Kallsyms::parse("").unwrap_err(), KallsymsError::Empty);
    }

    #[test]
    fn this_machines_kallsyms_parses_as_root() {
        let Ok(text) = std::fs::read_to_string("/proc/kallsyms") else { return };
        match Kallsyms::parse(&text) {
            Ok(k) => assert!(k.len() > 1000, "{} kernel text symbols", k.len()),
            Err(KallsymsError::Hidden { .. }) => {
                assert!(
                    !nix::unistd::geteuid().is_root()
                        || std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1")
                )
            }
            Err(e) => panic!("{e}"),
        }
    }
}
