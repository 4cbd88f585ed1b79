//! The few parts of an ELF file unwinding needs, read with positioned reads and bounded by the
//! file's length: `PT_LOAD` segments, and the data or address range of named sections.
//!
//! Nothing is allocated because the file claims it: every table and section must lie inside the
//! file before a byte of it is read.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use super::error::CfiError;

/// Section headers beyond this count are refused (linked files have well under a hundred).
const MAX_SECTIONS: u64 = 1 << 13;
/// Program headers beyond this count are refused.
const MAX_SEGMENTS: u64 = 1 << 12;
/// Largest header entry accepted (ELF64's are 56 and 64 bytes): the tables read stay under
/// 2 MiB whatever the file claims.
const MAX_ENTRY: u64 = 256;
/// Largest section name table accepted.
const MAX_NAMES: u64 = 1 << 20;
const SHF_COMPRESSED: u64 = 0x800;
const SHT_NOBITS: u32 = 8;
/// `p_flags` bit of an executable segment.
const PF_X: u32 = 1;
const PT_LOAD: u32 = 1;
const EM_X86_64: u16 = 62;

/// Where bytes come from: an open file (positioned reads, the file position never moves) or memory.
pub(crate) trait Source {
    /// Exactly `len` bytes at `offset`, or an error when they are not all there.
    fn read_exact_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, CfiError>;
}

impl Source for File {
    fn read_exact_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, CfiError> {
        let len = usize::try_from(len).map_err(|_| CfiError::Malformed("section too large"))?;
        let mut buf = vec![0; len];
        FileExt::read_exact_at(self, &mut buf, offset)?;
        Ok(buf)
    }
}

impl Source for [u8] {
    fn read_exact_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, CfiError> {
        let start = usize::try_from(offset).map_err(|_| CfiError::Malformed("offset past the end"))?;
        let len = usize::try_from(len).map_err(|_| CfiError::Malformed("section too large"))?;
        let end = start.checked_add(len).ok_or(CfiError::Malformed("offset past the end"))?;
        self.get(start..end).map(<[u8]>::to_vec).ok_or(CfiError::Malformed("data past the end of the file"))
    }
}

/// A `PT_LOAD` segment: file offset, link-time address, size in the file, and whether it is
/// executable (`PF_X`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub executable: bool,
}

/// One section header.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub name: Vec<u8>,
    pub kind: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
}

impl Section {
    /// Link-time address range.
    pub fn svma(&self) -> Option<Range<u64>> {
        Some(self.addr..self.addr.checked_add(self.size)?)
    }

    /// True when the section's bytes are in the file, uncompressed.
    pub fn has_plain_data(&self) -> bool {
        self.kind != SHT_NOBITS && self.flags & SHF_COMPRESSED == 0
    }
}

/// The headers of an ELF file.
#[derive(Debug)]
pub(crate) struct Headers {
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Checks that `[offset, offset + count * entsize)` lies inside a file of `len` bytes.
fn table_size(offset: u64, count: u64, entsize: u64, len: u64) -> Result<u64, CfiError> {
    let size = count.checked_mul(entsize).ok_or(CfiError::Malformed("table size overflows"))?;
    let end = offset.checked_add(size).ok_or(CfiError::Malformed("table size overflows"))?;
    if end > len {
        return Err(CfiError::Malformed("header table past the end of the file"));
    }
    Ok(size)
}

impl Headers {
    /// Reads the ELF header, program headers and section headers (with their names) of a file
    /// of `len` bytes.
    pub fn read(src: &(impl Source + ?Sized), len: u64) -> Result<Headers, CfiError> {
        if len < 64 {
            return Err(CfiError::NotElf);
        }
        let eh = src.read_exact_at(0, 64)?;
        if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
            return Err(CfiError::NotElf);
        }
        if u16_at(&eh, 18) != EM_X86_64 {
            return Err(CfiError::NotElf);
        }
        let phoff = u64_at(&eh, 32);
        let shoff = u64_at(&eh, 40);
        let phentsize = u64::from(u16_at(&eh, 54));
        let phnum = u64::from(u16_at(&eh, 56));
        let shentsize = u64::from(u16_at(&eh, 58));
        let mut shnum = u64::from(u16_at(&eh, 60));
        let mut shstrndx = u64::from(u16_at(&eh, 62));

        let mut segments = Vec::new();
        if phnum > 0 {
            if !(56..=MAX_ENTRY).contains(&phentsize) || phnum > MAX_SEGMENTS {
                return Err(CfiError::Malformed("bad program header table"));
            }
            let size = table_size(phoff, phnum, phentsize, len)?;
            let table = src.read_exact_at(phoff, size)?;
            for entry in table.chunks_exact(phentsize as usize) {
                if u32_at(entry, 0) == PT_LOAD {
                    segments.push(Segment {
                        offset: u64_at(entry, 8),
                        vaddr: u64_at(entry, 16),
                        filesz: u64_at(entry, 32),
                        executable: u32_at(entry, 4) & PF_X != 0,
                    });
                }
            }
        }

        let mut sections = Vec::new();
        if shoff != 0 {
            if !(64..=MAX_ENTRY).contains(&shentsize) {
                return Err(CfiError::Malformed("bad section header size"));
            }
            // More than 0xff00 sections: the count and the name table's index are in section 0.
            if shnum == 0 || shstrndx == 0xffff {
                table_size(shoff, 1, shentsize, len)?;
                let first = src.read_exact_at(shoff, 64)?;
                if shnum == 0 {
                    shnum = u64_at(&first, 32);
                }
                if shstrndx == 0xffff {
                    shstrndx = u64::from(u32_at(&first, 40));
                }
            }
            if shnum > MAX_SECTIONS {
                return Err(CfiError::Malformed("too many sections"));
            }
            let size = table_size(shoff, shnum, shentsize, len)?;
            let table = src.read_exact_at(shoff, size)?;
            let raw: Vec<(u32, Section)> = table
                .chunks_exact(shentsize as usize)
                .map(|e| {
                    let section = Section {
                        name: Vec::new(),
                        kind: u32_at(e, 4),
                        flags: u64_at(e, 8),
                        addr: u64_at(e, 16),
                        offset: u64_at(e, 24),
                        size: u64_at(e, 32),
                    };
                    (u32_at(e, 0), section)
                })
                .collect();
            let names = match raw.get(shstrndx as usize) {
                Some((_, s)) if s.has_plain_data() => {
                    if s.size > MAX_NAMES {
                        return Err(CfiError::Malformed("section name table too large"));
                    }
                    table_size(s.offset, 1, s.size, len)?;
                    src.read_exact_at(s.offset, s.size)?
                }
                _ => Vec::new(),
            };
            for (name_at, mut section) in raw {
                if let Some(rest) = names.get(name_at as usize..) {
                    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                    section.name = rest[..end.min(64)].to_vec();
                }
                sections.push(section);
            }
        }
        Ok(Headers { segments, sections })
    }

    /// The first section called `name`.
    pub fn section(&self, name: &[u8]) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The bytes of section `name` when it has plain data inside the file (else `None`).
    pub fn section_data(
        &self,
        src: &(impl Source + ?Sized),
        len: u64,
        name: &[u8],
    ) -> Result<Option<Vec<u8>>, CfiError> {
        let Some(section) = self.section(name).filter(|s| s.has_plain_data() && s.size > 0) else {
            return Ok(None);
        };
        table_size(section.offset, 1, section.size, len)?;
        Ok(Some(src.read_exact_at(section.offset, section.size)?))
    }

    /// Size of section `name` when it would be read by [`Headers::section_data`].
    pub fn section_size(&self, name: &[u8]) -> u64 {
        self.section(name).filter(|s| s.has_plain_data()).map_or(0, |s| s.size)
    }
}
