//! Parsing an ELF file with `object`: never panics, whatever the bytes.

use std::borrow::Cow;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

use super::symbols::{Symbol, SymbolTable};
use crate::demangle::demangle;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// Not an ELF file, or a malformed one.
    #[error("not a valid ELF file: {0}")]
    Malformed(String),
}

/// A loadable segment: file bytes `offset..offset+file_size` are at `vaddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// File offset.
    pub offset: u64,
    /// Bytes in the file.
    pub file_size: u64,
    /// Address it is linked at.
    pub vaddr: u64,
}

/// What symbolization takes from one ELF file.
#[derive(Debug)]
pub struct ElfFile {
    /// The GNU build-id note.
    pub build_id: Option<Vec<u8>>,
    /// `.gnu_debuglink`: the debug file's name and CRC-32.
    pub debuglink: Option<(String, u32)>,
    /// PT_LOAD segments.
    pub segments: Vec<Segment>,
    /// Function symbols (`.symtab`, else `.dynsym`).
    pub symbols: SymbolTable,
    /// True when the symbols come from `.symtab`.
    pub has_symtab: bool,
    /// The DWARF sections, decompressed, by gimli's section id; empty when there is no `.debug_info`.
    pub dwarf: Vec<(gimli::SectionId, Vec<u8>)>,
    /// Little-endian.
    pub little_endian: bool,
}

impl ElfFile {
    /// Parses `data`.
    pub fn parse(data: &[u8]) -> Result<ElfFile, ElfError> {
        let file = object::File::parse(data).map_err(|e| ElfError::Malformed(e.to_string()))?;
        if file.format() != object::BinaryFormat::Elf {
            return Err(ElfError::Malformed("not ELF".into()));
        }
        let build_id = file.build_id().ok().flatten().map(<[u8]>::to_vec);
        let debuglink = file
            .gnu_debuglink()
            .ok()
            .flatten()
            .map(|(name, crc)| (String::from_utf8_lossy(name).into_owned(), crc));
        let segments = file
            .segments()
            .filter_map(|s| {
                let (offset, file_size) = s.file_range();
                Some(Segment { offset, file_size, vaddr: s.address() }).filter(|s| s.file_size > 0)
            })
            .collect();
        let collect = |symbols: object::SymbolIterator<'_, '_>| -> Vec<Symbol> {
            symbols
                .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
                .filter_map(|s| {
                    let name = s.name().ok()?;
                    Some(Symbol { addr: s.address(), size: s.size(), name: demangle(name).into_owned() })
                })
                .collect()
        };
        let mut symbols = collect(file.symbols());
        let has_symtab = !symbols.is_empty();
        if !has_symtab {
            symbols = collect(file.dynamic_symbols());
        }
        let mut dwarf = Vec::new();
        if file.section_by_name(".debug_info").is_some() {
            for id in DWARF_SECTIONS {
                if let Some(section) = file.section_by_name(id.name()) {
                    let bytes =
                        section.uncompressed_data().map_err(|e| ElfError::Malformed(e.to_string()))?;
                    dwarf.push((
                        id,
                        match bytes {
                            Cow::Borrowed(b) => b.to_vec(),
                            Cow::Owned(v) => v,
                        },
                    ));
                }
            }
        }
        Ok(ElfFile {
            build_id,
            debuglink,
            segments,
            symbols: SymbolTable::new(symbols),
            has_symtab,
            dwarf,
            little_endian: file.is_little_endian(),
        })
    }
}

/// The sections addr2line reads.
const DWARF_SECTIONS: [gimli::SectionId; 11] = [
    gimli::SectionId::DebugAbbrev,
    gimli::SectionId::DebugAddr,
    gimli::SectionId::DebugAranges,
    gimli::SectionId::DebugInfo,
    gimli::SectionId::DebugLine,
    gimli::SectionId::DebugLineStr,
    gimli::SectionId::DebugRanges,
    gimli::SectionId::DebugRngLists,
    gimli::SectionId::DebugStr,
    gimli::SectionId::DebugStrOffsets,
    gimli::SectionId::DebugLocLists,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncated_files_are_errors_not_panics() {
        assert!(ElfFile::parse(b"").is_err());
        assert!(ElfFile::parse(b"\x7fELF garbage").is_err());
        let me = std::fs::read("/proc/self/exe").unwrap();
        let parsed = ElfFile::parse(&me).unwrap();
        assert!(!parsed.segments.is_empty());
        for cut in [16, 64, 100, 1000, 4096, me.len() / 3, me.len() / 2] {
            let _ = ElfFile::parse(&me[..cut.min(me.len())]);
        }
        let mut flipped = me[..me.len().min(200_000)].to_vec();
        for i in (0..flipped.len()).step_by(997) {
            flipped[i] ^= 0xff;
            let _ = ElfFile::parse(&flipped);
        }
    }
}
