//! ELF files: what symbolization needs from them, extracted once so the file's bytes can be dropped:
//! the build-id, the `.gnu_debuglink`, the loadable segments (to turn file offsets into addresses),
//! the function symbols (`.symtab`, else `.dynsym`) and the DWARF sections (decompressed).

mod parser;
mod symbols;

pub use parser::{ElfError, ElfFile, Segment};
pub use symbols::{Symbol, SymbolTable};
