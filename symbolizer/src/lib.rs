//! Turns sampled addresses into frames (function, file, line, inlined functions) for cperf.
//!
//! The data path, one folder or file per format as in blazesym:
//!
//! - `src/elf/` ([`ElfError`]): one ELF file read once with `object` — build-id,
//!   `.gnu_debuglink`, `PT_LOAD` segments, function symbols (`.symtab`, else `.dynsym` plus the
//!   MiniDebugInfo of `.gnu_debugdata`), DWARF sections decompressed; never panics on malformed
//!   input, and the file's bytes are not kept (no mmap: a container could truncate a mapped file);
//! - `src/dwarf/`: line tables and inlined frames through `addr2line`, names interned;
//! - `src/symbolize/`: the public verb — [`ElfModule`] turns file offsets or link-time addresses
//!   into [`Symbolized`] frames, named as binutils' `addr2line -f -i -C` names them;
//!   [`Symbolizer`] keeps parsed modules by build-id, so a binary shared by many containers is
//!   parsed once;
//! - [`debug_files`]: split debug files by build-id or `.gnu_debuglink`, looked up inside a
//!   container root ([`DebugFiles`] for [`root::ContainerRoot`], or [`HostFiles`]) and verified;
//! - [`root`]: reading files inside a container's root filesystem without reaching the host's;
//! - [`perfmap`]: JIT perf maps, found under the container's own pid;
//! - [`kallsyms`]: kernel symbols, refusing addresses hidden by `kptr_restrict`;
//! - [`demangle()`]: Rust and C++ names as `addr2line -C` prints them.
//!
//! An address that cannot be named is a value ([`Symbolized::Unknown`] with a [`Reason`]), not an
//! error. Modules are `Send + Sync`; symbolize many addresses of one module with one call
//! ([`ElfModule::symbolize_vaddrs`] or [`Symbolizer::symbolize`]): it is several times faster than
//! one call per address.
//!
//! ```no_run
//! use std::path::Path;
//! use symbolizer::{find_debug_file, ElfModule, HostFiles, Symbolized, Symbolizer};
//!
//! let cache = Symbolizer::new();
//! let path = Path::new("/usr/bin/ls");
//! let mut module = ElfModule::parse(std::fs::read(path)?)?;
//! if !module.has_dwarf() {
//!     // Inside a container, pass its `ContainerRoot` instead of `HostFiles`.
//!     if let Some(debug) = find_debug_file(&module, path, &HostFiles) {
//!         module.attach_debug(debug)?;
//!     }
//! }
//! let module = cache.insert(module);
//! // A sample at file offset 0x4a20 of the mapping (address - mapping start + mapping offset).
//! let vaddr = module.file_offset_to_vaddr(0x4a20).unwrap_or(0);
//! for result in cache.symbolize(&module, &[vaddr]) {
//!     match result {
//!         Symbolized::Frames(frames) => {
//!             for f in frames.iter() {
//!                 let name = f.function.as_deref().unwrap_or("??");
//!                 let file = f.file.as_deref().unwrap_or("??");
//!                 let inlined = if f.inlined { " (inlined)" } else { "" };
//!                 println!("{name} at {file}:{}{inlined}", f.line.unwrap_or(0));
//!             }
//!         }
//!         Symbolized::Unknown(reason) => println!("[unknown: {reason}]"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod debug_files;
mod demangle;
mod dwarf;
mod elf;
mod hash;
pub mod kallsyms;
pub mod perfmap;
pub mod root;
mod symbolize;
mod sys;

pub use debug_files::{find_debug_file, DebugFiles, HostFiles};
pub use demangle::demangle;
pub use elf::ElfError;
pub use symbolize::{ElfModule, Frame, Reason, Symbolized, Symbolizer};
