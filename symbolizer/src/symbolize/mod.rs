//! The public verb: addresses of a module become frames.
//!
//! - [`module`]: [`ElfModule`], one binary or library (with its split debug file if found): DWARF
//!   frames with inlines, else the ELF symbol;
//! - [`cache`]: [`Symbolizer`], parsed modules by build-id, so a binary shared by many processes or
//!   containers is parsed once.
//!
//! An address that cannot be named is a value, [`Symbolized::Unknown`] with a [`Reason`], not an
//! error.

mod cache;
mod module;

use std::sync::Arc;

pub use cache::Symbolizer;
pub use module::ElfModule;

/// One frame of a symbolized address. The frames of one address come innermost first: every frame
/// but the last is a function inlined into the next one.
///
/// Names are shared (`Arc<str>`) with the module's caches, so that symbolizing the same function a
/// million times allocates its name once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The function, demangled (as `addr2line -C` prints it), when known.
    pub function: Option<Arc<str>>,
    /// The source file, as `addr2line` prints it (the compilation directory joined), when known.
    /// For code without DWARF, the `STT_FILE` symbol binutils would print (`crtstuff.c`), if any.
    pub file: Option<Arc<str>>,
    /// The line, when known (for an inlined function's caller: the line of the call).
    pub line: Option<u32>,
    /// The column, when the line table has one.
    pub column: Option<u32>,
    /// True for a function inlined into the next frame.
    pub inlined: bool,
}

/// Why an address has no name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No loadable segment of the file holds the file offset (or no executable one the address).
    OutsideText,
    /// Neither DWARF nor a symbol covers the address (a stripped binary, a static function of a
    /// library that only has `.dynsym`, or code without symbols such as PLT stubs).
    NoSymbols,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::OutsideText => "outside the file's loadable segments",
            Reason::NoSymbols => "no symbol covers it (stripped)",
        })
    }
}

/// The answer for one address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Symbolized {
    /// At least one frame, innermost first. Shared: a batch hands the same frames to every
    /// occurrence of an address, and cloning or dropping them costs one reference count.
    Frames(Arc<[Frame]>),
    /// No name, and why.
    Unknown(Reason),
}

impl Symbolized {
    /// The frames, innermost first (empty for an unknown address).
    pub fn frames(&self) -> &[Frame] {
        match self {
            Symbolized::Frames(frames) => frames,
            Symbolized::Unknown(_) => &[],
        }
    }
}
