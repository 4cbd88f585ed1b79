//! ELF files: what symbolization needs from one, extracted once so that the file's bytes can be
//! dropped — the build-id, the `.gnu_debuglink`, the loadable segments (file offsets to addresses),
//! the function symbols (`.symtab`, else `.dynsym` plus MiniDebugInfo) and the DWARF sections,
//! decompressed.
//!
//! - [`headers`]: the build-id of a file not read whole (a candidate debug file);
//! - [`inflate`]: compressed sections, inflated to the size claimed and no further;
//! - [`parser`]: the headers, notes, program headers and sections, through `object` (never panics);
//! - [`symbols`]: function symbols sorted by address, looked up by binary search, demangled lazily;
//! - [`lookup`]: a function's file offset by name, for uprobes;
//! - [`minidebuginfo`]: the xz-compressed `.gnu_debugdata` symbol table of Fedora-style binaries.

mod headers;
mod inflate;
pub mod lookup;
mod minidebuginfo;
mod parser;
mod symbols;

pub(crate) use headers::build_id_of_file;
pub use parser::ElfError;
pub(crate) use parser::{build_id_of, debug_links, unbudgeted, DebugLinks, ElfFile, Segment, SymbolSource};
pub(crate) use symbols::SymbolTable;
