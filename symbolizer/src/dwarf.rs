//! DWARF line tables and inlined functions, through `addr2line` (which reads them the way binutils'
//! `addr2line -i` does): an address becomes its chain of frames, innermost inlined function first.

use std::sync::Arc;

use gimli::{EndianArcSlice, RunTimeEndian};

use crate::demangle::demangle;
use crate::Frame;

type Reader = EndianArcSlice<RunTimeEndian>;

/// Resolves addresses with one file's DWARF.
pub struct DwarfResolver {
    context: addr2line::Context<Reader>,
}

impl std::fmt::Debug for DwarfResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DwarfResolver")
    }
}

impl DwarfResolver {
    /// A resolver over decompressed DWARF sections; `None` when they do not form usable DWARF.
    pub fn new(sections: Vec<(gimli::SectionId, Vec<u8>)>, little_endian: bool) -> Option<DwarfResolver> {
        let endian = if little_endian { RunTimeEndian::Little } else { RunTimeEndian::Big };
        let mut by_id: Vec<(gimli::SectionId, Arc<[u8]>)> =
            sections.into_iter().map(|(id, bytes)| (id, Arc::from(bytes))).collect();
        let empty: Arc<[u8]> = Arc::from(Vec::new());
        let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, gimli::Error> {
            let data = by_id.iter().find(|(s, _)| *s == id).map_or_else(|| empty.clone(), |(_, d)| d.clone());
            Ok(EndianArcSlice::new(data, endian))
        })
        .ok()?;
        by_id.clear();
        let context = addr2line::Context::from_dwarf(dwarf).ok()?;
        Some(DwarfResolver { context })
    }

    /// The frames at `vaddr`, innermost first (inlined ones with `inlined` set); empty when the DWARF
    /// does not cover it.
    pub fn frames(&self, vaddr: u64) -> Vec<Frame> {
        let mut out = Vec::new();
        let Ok(mut iter) = self.context.find_frames(vaddr).skip_all_loads() else { return out };
        while let Ok(Some(f)) = iter.next() {
            let function = f
                .function
                .as_ref()
                .and_then(|n| n.raw_name().ok())
                .map(|n| demangle(n.as_ref()).into_owned());
            let (file, line) = match f.location {
                Some(l) => (l.file.map(str::to_owned), l.line),
                None => (None, None),
            };
            out.push(Frame { function, file, line, inlined: true });
        }
        if let Some(last) = out.last_mut() {
            last.inlined = false;
        }
        out
    }
}
