//! An ELF file's build-id read from its ELF header, section headers and note sections alone, each
//! read bounded: a candidate debug file (which a container may make a 2 GiB sparse file) is checked
//! before any more of it is read.

use std::cell::Cell;
use std::fs::File;
use std::ops::Range;

use object::read::elf::{FileHeader, SectionHeader};
use object::read::{ReadCache, ReadRef};
use object::{elf, Endianness, FileKind};

/// The most bytes one read may ask for (the section header table, one note section).
const MAX_READ: u64 = 1 << 20;
/// The most bytes read from one file, all reads together.
const MAX_TOTAL: u64 = 4 << 20;

/// A file read piece by piece through `object`'s cache, refusing large pieces before they are
/// allocated or read.
struct BoundedReads<'f> {
    cache: ReadCache<&'f File>,
    read: Cell<u64>,
}

impl<'a> ReadRef<'a> for &'a BoundedReads<'_> {
    fn len(self) -> Result<u64, ()> {
        (&self.cache).len()
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        let total = self.read.get().saturating_add(size);
        if size > MAX_READ || total > MAX_TOTAL {
            return Err(());
        }
        self.read.set(total);
        (&self.cache).read_bytes_at(offset, size)
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'a [u8], ()> {
        // `object` looks at most 4 KiB ahead for the delimiter.
        let total = self.read.get().saturating_add(4096);
        if total > MAX_TOTAL {
            return Err(());
        }
        self.read.set(total);
        (&self.cache).read_bytes_at_until(range, delimiter)
    }
}

/// The GNU build-id of the ELF file `file`, from its `SHT_NOTE` sections; `None` when it is not ELF,
/// has none, or its headers or notes are larger than an ELF file's ever are. Reads at most a few
/// MiB whatever the file's size.
pub(crate) fn build_id_of_file(file: &File) -> Option<Vec<u8>> {
    let reads = BoundedReads { cache: ReadCache::new(file), read: Cell::new(0) };
    match FileKind::parse(&reads).ok()? {
        FileKind::Elf32 => build_id::<elf::FileHeader32<Endianness>>(&reads),
        FileKind::Elf64 => build_id::<elf::FileHeader64<Endianness>>(&reads),
        _ => None,
    }
}

fn build_id<Elf: FileHeader<Endian = Endianness>>(data: &BoundedReads<'_>) -> Option<Vec<u8>> {
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, data).ok()?;
    for section in sections.iter() {
        let Ok(Some(mut notes)) = section.notes(endian, data) else { continue };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == elf::ELF_NOTE_GNU && note.n_type(endian) == elf::NT_GNU_BUILD_ID {
                return Some(note.desc().to_vec()).filter(|id| !id.is_empty());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_id_is_read_from_the_notes_alone() {
        let me = File::open("/bin/sh").unwrap();
        let whole = std::fs::read("/bin/sh").unwrap();
        let expected = crate::elf::build_id_of(&whole).unwrap();
        assert_eq!(build_id_of_file(&me), Some(expected));
        let not_elf = File::open("/proc/self/status").unwrap();
        assert_eq!(build_id_of_file(&not_elf), None);
    }
}
