//! Parsing one ELF file with `object`'s ELF reader: headers, program headers, notes, symbol tables
//! and DWARF sections. Whatever the bytes, the result is a value or an [`ElfError`], never a panic:
//! every offset and size is checked by `object`, and what is decompressed (compressed DWARF
//! sections, MiniDebugInfo) is charged to the file's [`Account`] at the size its headers claim,
//! before anything is inflated: DWARF the budget refuses is left out whole (the symbol tables still
//! name functions), and the budget keeps the note.

use std::sync::Arc;

use object::elf;
use object::read::elf::{ElfFile as ObjectElf, FileHeader, ProgramHeader, SectionHeader, Sym};
use object::{Endianness, FileKind, Object, ObjectSection, SectionIndex};

use super::inflate::inflate;
use super::minidebuginfo;
use super::symbols::{RawSymbol, SymbolTable};
use crate::budget::Account;
use crate::dwarf::{DwarfSections, Section};

/// Why an ELF file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The bytes are not an ELF file (another format, or too short for a header).
    #[error("not an ELF file")]
    NotElf,
    /// An ELF file whose headers are inconsistent (truncated, offsets out of range).
    #[error("malformed ELF file: {0}")]
    Malformed(String),
    /// A separate debug file built for another binary.
    #[error("the debug file's build-id {debug} differs from the module's {module}")]
    BuildIdMismatch {
        /// The module's build-id, in hex.
        module: String,
        /// The debug file's build-id, in hex.
        debug: String,
    },
}

impl From<object::read::Error> for ElfError {
    fn from(e: object::read::Error) -> Self {
        ElfError::Malformed(e.to_string())
    }
}

/// A loadable segment (`PT_LOAD`): file bytes `offset..offset + file_size` are linked at `vaddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// File offset.
    pub offset: u64,
    /// Bytes in the file.
    pub file_size: u64,
    /// Address it is linked at.
    pub vaddr: u64,
    /// Bytes in memory (at least `file_size`).
    pub mem_size: u64,
    /// Mapped executable (`PF_X`).
    pub executable: bool,
}

/// Where a module's function symbols came from, richest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SymbolSource {
    /// No function symbols at all.
    None,
    /// Only the dynamic symbols (`.dynsym`): exported functions.
    Dynsym,
    /// `.dynsym` plus the MiniDebugInfo symbol table (`.gnu_debugdata`).
    MiniDebugInfo,
    /// The full symbol table (`.symtab`).
    Symtab,
}

/// What symbolization takes from one ELF file.
#[derive(Debug)]
pub(crate) struct ElfFile {
    /// The GNU build-id note.
    pub build_id: Option<Box<[u8]>>,
    /// `.gnu_debuglink`: the debug file's name and CRC-32.
    pub debuglink: Option<(String, u32)>,
    /// `PT_LOAD` segments with file bytes.
    pub segments: Vec<Segment>,
    /// Function symbols.
    pub symbols: SymbolTable,
    /// Where [`ElfFile::symbols`] came from.
    pub symbol_source: SymbolSource,
    /// The DWARF sections, decompressed; `None` without `.debug_info` (or when it is unreadable).
    pub dwarf: Option<DwarfSections>,
    /// `ELFCLASS64`.
    pub is_64: bool,
}

/// The account of a file parsed without a budget of its own: one of a fresh
/// [`crate::debug_files::budget`], so its per-file limit bounds it.
pub(crate) fn unbudgeted() -> Account {
    crate::debug_files::budget().account(0, "")
}

/// The sections `addr2line` reads (location lists are for variables, which it does not resolve).
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
    gimli::SectionId::DebugTypes,
];

impl ElfFile {
    /// Parses `data`, a whole ELF file (32- or 64-bit, either byte order).
    #[cfg(test)]
    pub fn parse(data: &[u8]) -> Result<ElfFile, ElfError> {
        Self::parse_within(data, &mut unbudgeted())
    }

    /// Parses `data`, charging what it decompresses to `account`.
    pub fn parse_within(data: &[u8], account: &mut Account) -> Result<ElfFile, ElfError> {
        Self::parse_nested(data, true, account)
    }

    /// Parses `data`; `minidebuginfo` says whether `.gnu_debugdata` may be opened (not inside
    /// itself).
    fn parse_nested(data: &[u8], minidebuginfo: bool, account: &mut Account) -> Result<ElfFile, ElfError> {
        match FileKind::parse(data) {
            Ok(FileKind::Elf32) => {
                from_elf(&ObjectElf::<elf::FileHeader32<Endianness>>::parse(data)?, minidebuginfo, account)
            }
            Ok(FileKind::Elf64) => {
                from_elf(&ObjectElf::<elf::FileHeader64<Endianness>>::parse(data)?, minidebuginfo, account)
            }
            _ => Err(ElfError::NotElf),
        }
    }
}

/// The build-id of an ELF file, reading only its headers and notes (to check a candidate debug file
/// before parsing it whole).
pub(crate) fn build_id_of(data: &[u8]) -> Option<Vec<u8>> {
    let file = object::File::parse(data).ok()?;
    file.build_id().ok().flatten().filter(|id| !id.is_empty()).map(<[u8]>::to_vec)
}

/// What points from a binary to its separate debug file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DebugLinks {
    /// The GNU build-id note.
    pub build_id: Option<Vec<u8>>,
    /// `.gnu_debuglink`: the debug file's name and CRC-32.
    pub debuglink: Option<(String, u32)>,
    /// The binary has a `.debug_info` of its own (not stripped into a debug file).
    pub has_dwarf: bool,
}

/// The build-id, debuglink and whether it has DWARF of the ELF file `data`, from its headers and
/// notes (without reading its symbols or DWARF); `None` when it is not ELF.
pub(crate) fn debug_links(data: &[u8]) -> Option<DebugLinks> {
    let file = object::File::parse(data).ok()?;
    Some(DebugLinks {
        build_id: file.build_id().ok().flatten().filter(|id| !id.is_empty()).map(<[u8]>::to_vec),
        debuglink: file
            .gnu_debuglink()
            .ok()
            .flatten()
            .filter(|(name, _)| !name.is_empty())
            .map(|(name, crc)| (String::from_utf8_lossy(name).into_owned(), crc)),
        has_dwarf: file
            .section_by_name(".debug_info")
            .is_some_and(|s| s.kind() != object::SectionKind::UninitializedData),
    })
}

/// Everything from an `object` view of the file.
fn from_elf<Elf: FileHeader<Endian = Endianness>>(
    file: &ObjectElf<'_, Elf>,
    minidebuginfo: bool,
    account: &mut Account,
) -> Result<ElfFile, ElfError> {
    let endian = file.endian();
    // A malformed note or debuglink section costs only that piece of information.
    let build_id = file.build_id().ok().flatten().filter(|id| !id.is_empty()).map(Box::from);
    let debuglink = file
        .gnu_debuglink()
        .ok()
        .flatten()
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, crc)| (String::from_utf8_lossy(name).into_owned(), crc));

    let segments = file
        .elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .map(|ph| Segment {
            offset: ph.p_offset(endian).into(),
            file_size: ph.p_filesz(endian).into(),
            vaddr: ph.p_vaddr(endian).into(),
            mem_size: ph.p_memsz(endian).into(),
            executable: ph.p_flags(endian) & elf::PF_X != 0,
        })
        .filter(|s| s.file_size > 0)
        .collect();

    let mut raw = function_symbols(file, file.elf_symbol_table());
    let mut symbol_source = SymbolSource::Symtab;
    if raw.is_empty() {
        raw = function_symbols(file, file.elf_dynamic_symbol_table());
        symbol_source = if raw.is_empty() { SymbolSource::None } else { SymbolSource::Dynsym };
        if minidebuginfo {
            if let Some(mini) = mini_symbols(file, account) {
                if !mini.is_empty() {
                    raw.extend(mini);
                    symbol_source = SymbolSource::MiniDebugInfo;
                }
            }
        }
    }

    Ok(ElfFile {
        build_id,
        debuglink,
        segments,
        symbols: SymbolTable::new(raw),
        symbol_source,
        dwarf: dwarf_sections(file, account),
        is_64: file.is_64(),
    })
}

/// The function symbols of one symbol table (`.symtab` or `.dynsym`), as binutils chooses them:
/// `STT_FUNC`/`STT_GNU_IFUNC`, and `STT_NOTYPE` labels in executable sections — but not the hidden,
/// local, size-less labels annobin emits, nor ARM mapping symbols (`$a`, `$t`, `$x`, `$d`).
///
/// Each gets the source file named by the `STT_FILE` symbol before it, with binutils' rule (its
/// `elf_find_function`): a local symbol, or any symbol while no symbol has been followed by another
/// `STT_FILE`. `addr2line` prints that file for code without DWARF.
fn function_symbols<'data, Elf: FileHeader<Endian = Endianness>>(
    file: &ObjectElf<'data, Elf>,
    table: &object::read::elf::SymbolTable<'data, Elf, &'data [u8]>,
) -> Vec<RawSymbol> {
    #[derive(PartialEq)]
    /// What has been seen so far in the table (binutils' `state`).
    enum Seen {
        Nothing,
        Symbol,
        FileAfterSymbol,
    }
    let endian = file.endian();
    let sections = file.elf_section_table();
    let thumb = file.elf_header().e_machine(endian) == elf::EM_ARM;
    let mut out = Vec::new();
    let mut source: Option<Arc<str>> = None;
    let mut state = Seen::Nothing;
    for (index, sym) in table.enumerate() {
        let kind = sym.st_type();
        if kind == elf::STT_FILE {
            source = table.symbol_name(endian, sym).ok().map(|n| Arc::from(String::from_utf8_lossy(n)));
            if state == Seen::Symbol {
                state = Seen::FileAfterSymbol;
            }
            continue;
        }
        if kind == elf::STT_SECTION || index.0 == 0 {
            continue;
        }
        if state == Seen::Nothing {
            state = Seen::Symbol;
        }
        let is_func = matches!(kind, elf::STT_FUNC | elf::STT_GNU_IFUNC);
        if !is_func && kind != elf::STT_NOTYPE {
            continue;
        }
        let Ok(Some(section_index)) = table.symbol_section(endian, sym, index) else { continue };
        let Ok(section) = sections.section(SectionIndex(section_index.0)) else { continue };
        if section.sh_flags(endian).into() & u64::from(elf::SHF_EXECINSTR) == 0 {
            continue;
        }
        let mut addr: u64 = sym.st_value(endian).into();
        if thumb && is_func {
            addr &= !1;
        }
        let size: u64 = sym.st_size(endian).into();
        let local = sym.st_bind() == elf::STB_LOCAL;
        if !is_func && size == 0 && local && sym.st_visibility() == elf::STV_HIDDEN {
            continue;
        }
        if addr == 0 {
            continue;
        }
        let Ok(name) = table.symbol_name(endian, sym) else { continue };
        if name.is_empty() || name.starts_with(b"$") {
            continue;
        }
        let section_start: u64 = section.sh_addr(endian).into();
        let section_end = section_start.saturating_add(section.sh_size(endian).into());
        let file = source.clone().filter(|_| local || state != Seen::FileAfterSymbol);
        out.push(RawSymbol {
            addr,
            size,
            section_end,
            func: is_func,
            name: String::from_utf8_lossy(name).into(),
            file,
        });
    }
    out
}

/// The function symbols of the MiniDebugInfo embedded in `.gnu_debugdata`, if any.
fn mini_symbols<Elf: FileHeader<Endian = Endianness>>(
    file: &ObjectElf<'_, Elf>,
    account: &mut Account,
) -> Option<Vec<RawSymbol>> {
    let section = file.section_by_name(".gnu_debugdata")?;
    let compressed = section.data().ok()?;
    let inner = minidebuginfo::decompress(compressed, account)?;
    let parsed = ElfFile::parse_nested(&inner, false, account).ok()?;
    (parsed.symbol_source == SymbolSource::Symtab).then(|| parsed.symbols.into_raw())
}

/// The DWARF sections: where each lies in the file, or its bytes when it is compressed
/// (`SHF_COMPRESSED` zlib or zstd, and GNU `.zdebug_*`). `None` without `.debug_info`, when a
/// section is unreadable, when `account` refuses what they claim to decompress to — all of it,
/// charged before any section is inflated — or once the account's deadline has passed, before or
/// while inflating (the symbol tables name the frames then).
fn dwarf_sections<Elf: FileHeader<Endian = Endianness>>(
    file: &ObjectElf<'_, Elf>,
    account: &mut Account,
) -> Option<DwarfSections> {
    if account.past_deadline() {
        return None;
    }
    let info = file.section_by_name(".debug_info")?;
    if info.kind() == object::SectionKind::UninitializedData {
        return None; // NOBITS: stripped into a separate debug file
    }
    let mut found = Vec::new();
    let mut inflated: u64 = 0;
    for id in DWARF_SECTIONS {
        let Some(section) = file.section_by_name(id.name()) else { continue };
        if section.kind() == object::SectionKind::UninitializedData {
            continue;
        }
        // The compression header's size (ch_size, or the `.zdebug` header's), read without
        // inflating anything.
        let compressed = section.compressed_data().ok()?;
        if compressed.format != object::CompressionFormat::None {
            inflated = inflated.checked_add(compressed.uncompressed_size)?;
        }
        found.push((id, section, compressed));
    }
    if !account.try_charge(inflated) {
        return None;
    }
    let mut sections = Vec::with_capacity(found.len());
    for (id, section, compressed) in found {
        let bytes = if compressed.format == object::CompressionFormat::None {
            let (start, len) = section.file_range()?;
            let (start, len) = (usize::try_from(start).ok()?, usize::try_from(len).ok()?);
            Section::InFile(start..start.checked_add(len)?)
        } else {
            // Never more than the size claimed (and charged).
            Section::Decompressed(inflate(&compressed, &|| account.past_deadline())?.into_boxed_slice())
        };
        sections.push((id, bytes));
    }
    Some(DwarfSections::new(sections, file.is_little_endian()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small, stripped, dynamically linked system binary.
    fn small_binary() -> Vec<u8> {
        std::fs::read("/bin/sh").unwrap()
    }

    #[test]
    fn garbage_and_truncated_files_are_errors_not_panics() {
        assert!(matches!(ElfFile::parse(b""), Err(ElfError::NotElf)));
        assert!(matches!(ElfFile::parse(b"MZ\x90\x00 not elf at all"), Err(ElfError::NotElf)));
        assert!(ElfFile::parse(b"\x7fELF garbage").is_err());
        let me = small_binary();
        let parsed = ElfFile::parse(&me).unwrap();
        assert!(!parsed.segments.is_empty());
        assert!(parsed.build_id.is_some());
        // Every prefix length class: inside the header, the program headers, the sections, the
        // section header table at the end.
        let mut cuts: Vec<usize> = (0..130).chain([200, 1000, 4096, 65536]).collect();
        cuts.extend((1..64).map(|i| me.len() * i / 64));
        cuts.extend((1..200).map(|i| me.len() - i));
        for cut in cuts {
            let _ = ElfFile::parse(&me[..cut.min(me.len())]);
        }
    }

    #[test]
    fn corrupted_bytes_are_errors_not_panics() {
        let me = small_binary();
        // Flip bytes in the ELF header, program headers and section headers (the end of the file),
        // one at a time, so that each corruption is seen by the parser.
        let shoff = usize::try_from(u64::from_le_bytes(me[0x28..0x30].try_into().unwrap())).unwrap();
        let mut positions: Vec<usize> = (0..0x40).chain(0x40..0x40 + 56 * 4).collect();
        positions.extend((shoff..me.len()).step_by(7));
        let mut copy = me.clone();
        for i in positions {
            for pattern in [0xff, 0x80, 0x01] {
                copy[i] ^= pattern;
                let _ = ElfFile::parse(&copy);
                copy[i] ^= pattern;
            }
        }
        // Random garbage after a valid ELF header.
        let mut state = 0x1234_5678_u64;
        let mut junk = me[..0x40].to_vec();
        junk.extend((0..8192).map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        }));
        let _ = ElfFile::parse(&junk);
    }
}
