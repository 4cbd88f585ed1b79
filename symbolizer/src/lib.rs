//! Turns sampled addresses into frames (function, file, line, inlined functions) for cperf.
//!
//! - [`ElfModule`]: one binary or library — ELF symbols (`.symtab`, else `.dynsym`), DWARF lines and
//!   inlines through `addr2line`, file offsets turned into addresses through the program headers;
//!   [`Symbolizer`] keeps parsed modules by build-id;
//! - [`debug_files`]: split debug files by build-id or `.gnu_debuglink`, looked up inside a root;
//! - [`root`]: reading files inside a container's root filesystem without reaching the host's;
//! - [`perfmap`]: JIT perf maps, found under the container's own pid;
//! - [`kallsyms`]: kernel symbols, refusing addresses hidden by `kptr_restrict`.
//!
//! An address that cannot be named is a value ([`Symbolized::Unknown`] with a [`Reason`]), not an
//! error.
//!
//! ```no_run
//! use symbolizer::{ElfModule, Symbolized};
//!
//! let module = ElfModule::parse(std::fs::read("/usr/bin/ls")?)?;
//! if let Symbolized::Frames(frames) = module.symbolize_offset(0x4a20) {
//!     for f in frames {
//!         println!("{} at {}:{}", f.function.as_deref().unwrap_or("??"), f.file.as_deref().unwrap_or("??"), f.line.unwrap_or(0));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod debug_files;
mod demangle;
mod dwarf;
pub mod elf;
pub mod kallsyms;
pub mod perfmap;
pub mod root;
mod symbolize;
mod sys;

pub use debug_files::{find_debug_file, DebugFiles, HostFiles};
pub use demangle::demangle;
pub use symbolize::{ElfModule, Frame, Reason, Symbolized, Symbolizer};
