//! What can go wrong reading the unwind sections of a file: [`CfiError`].

use std::io;

/// The unwind sections of a file could not be read; frames in it are then walked by frame pointer.
#[derive(Debug, thiserror::Error)]
pub enum CfiError {
    /// Reading the file failed.
    #[error("reading the file for its unwind sections: {0}")]
    Io(#[from] io::Error),
    /// Not a 64-bit little-endian x86_64 ELF file.
    #[error("not a 64-bit little-endian x86_64 ELF file")]
    NotElf,
    /// A header, table or section lies outside the file or is absurdly large.
    #[error("malformed ELF file: {0}")]
    Malformed(&'static str),
    /// The budget refused the bytes the unwind sections need.
    #[error("over the memory budget: the unwind sections need {0} bytes")]
    OverBudget(u64),
    /// Unwinding with call-frame information is implemented for x86_64 only.
    #[error("dwarf unwinding is implemented for x86_64 only; use frame pointers (--call-graph fp)")]
    UnsupportedArch,
}
