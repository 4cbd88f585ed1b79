//! DWARF: line tables and inlined functions through `addr2line`, which reads them the way binutils'
//! `addr2line -i` does. An address becomes its chain of frames, innermost inlined function first.
//!
//! - [`resolver`]: the `addr2line` context of one file behind a lock, with interned (demangled)
//!   function and file names so that repeated lookups allocate nothing but the frame list.
//!
//! Split DWARF (`.dwo` files) is not followed: units that need it give no frames, and the ELF symbol
//! names the address instead.

mod resolver;

use std::sync::Arc;

pub(crate) use resolver::{DwarfResolver, Resolver};

/// The DWARF sections of one file, decompressed and copied out of it.
#[derive(Debug)]
pub(crate) struct DwarfSections {
    /// Each section present, by gimli's id.
    pub sections: Vec<(gimli::SectionId, Arc<[u8]>)>,
    /// The file's byte order.
    pub little_endian: bool,
}
