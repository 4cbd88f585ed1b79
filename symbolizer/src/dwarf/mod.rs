//! DWARF: line tables and inlined functions through `addr2line`, which reads them the way binutils'
//! `addr2line -i` does. An address becomes its chain of frames, innermost inlined function first.
//!
//! - [`resolver`]: a pool of `addr2line` contexts over one file's sections, with interned
//!   (demangled) function and file names so that repeated lookups allocate nothing.
//!
//! - [`types`]: a function's return type, for what a uretprobe's return register holds.
//!
//! Split DWARF (`.dwo` files) is not followed: units that need it give no frames, and the ELF symbol
//! names the address instead.

mod resolver;
pub mod types;

use std::ops::Range;

pub(crate) use resolver::{DwarfResolver, Name, RawFrame, Resolver};

/// One DWARF section's bytes.
#[derive(Debug)]
pub(crate) enum Section {
    /// Stored as is: where it lies in the file.
    InFile(Range<usize>),
    /// Compressed in the file: its decompressed bytes.
    Decompressed(Box<[u8]>),
}

/// The DWARF sections of one file, owned: read from the file's bytes, which are kept when the DWARF
/// is most of them (a debug build: copying it out would double the memory touched), else copied
/// out.
#[derive(Debug)]
pub(crate) struct DwarfSections {
    file: Vec<u8>,
    sections: Vec<(gimli::SectionId, Section)>,
    /// The file's byte order.
    pub little_endian: bool,
}

impl DwarfSections {
    /// Sections of a file still to be given ([`DwarfSections::with_file`]).
    pub fn new(sections: Vec<(gimli::SectionId, Section)>, little_endian: bool) -> Self {
        DwarfSections { file: Vec::new(), sections, little_endian }
    }

    /// The sections with the bytes of the file they were found in.
    pub fn with_file(mut self, file: Vec<u8>) -> Self {
        let in_file: usize = self
            .sections
            .iter()
            .map(|(_, s)| match s {
                Section::InFile(range) => file.get(range.clone()).map_or(0, <[u8]>::len),
                Section::Decompressed(_) => 0,
            })
            .sum();
        if in_file >= file.len() / 2 {
            self.file = file;
            return self;
        }
        for (_, section) in &mut self.sections {
            if let Section::InFile(range) = section {
                *section = Section::Decompressed(Box::from(file.get(range.clone()).unwrap_or_default()));
            }
        }
        self
    }

    /// A section's bytes; empty when the file has none (or its range lies outside the file).
    pub fn get(&self, id: gimli::SectionId) -> &[u8] {
        match self.sections.iter().find(|(s, _)| *s == id) {
            Some((_, Section::InFile(range))) => self.file.get(range.clone()).unwrap_or_default(),
            Some((_, Section::Decompressed(bytes))) => bytes,
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_read_in_place_or_copied_out() {
        let file: Vec<u8> = (0..100).collect();
        let sections = || {
            vec![
                (gimli::SectionId::DebugInfo, Section::InFile(10..20)),
                (gimli::SectionId::DebugLine, Section::Decompressed(Box::from(&b"line"[..]))),
                (gimli::SectionId::DebugStr, Section::InFile(90..200)),
            ]
        };
        let small = DwarfSections::new(sections(), true).with_file(file.clone());
        assert!(small.file.is_empty(), "10 of 100 bytes: copied out");
        assert_eq!(small.get(gimli::SectionId::DebugInfo), &file[10..20]);
        assert_eq!(small.get(gimli::SectionId::DebugLine), b"line");
        assert_eq!(small.get(gimli::SectionId::DebugStr), b"", "outside the file");
        assert_eq!(small.get(gimli::SectionId::DebugAbbrev), b"");
        let mut most = sections();
        most[0].1 = Section::InFile(0..60);
        let most = DwarfSections::new(most, true).with_file(file.clone());
        assert_eq!(most.file.len(), 100, "kept");
        assert_eq!(most.get(gimli::SectionId::DebugInfo), &file[..60]);
    }
}
