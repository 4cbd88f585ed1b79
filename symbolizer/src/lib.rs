//! Turns sampled addresses into frames (function, file, line, inlined functions) for cperf.
//!
//! The data path, one folder or file per format as in blazesym:
//!
//! - `src/elf/` ([`ElfError`]): one ELF file read once with `object` — build-id,
//!   `.gnu_debuglink`, `PT_LOAD` segments, function symbols (`.symtab`, else `.dynsym` plus the
//!   MiniDebugInfo of `.gnu_debugdata`), DWARF sections (decompressed when compressed); never
//!   panics on malformed input, and never maps the file (a container could truncate it);
//! - `src/dwarf/`: line tables and inlined frames through `addr2line`, a context per thread;
//! - `src/symbolize/`: the public verb — [`ElfModule`] turns file offsets or link-time addresses
//!   into frames, named as binutils' `addr2line -f -i -C` names them; every kind of module
//!   answers a list of addresses with one compact [`Batch`] ([`Symbolize`]); [`Symbolizer`] keeps
//!   parsed modules by the content they were parsed from ([`ContentKey`]), so a binary shared by
//!   many containers is parsed once, and a file claiming another's build-id names nothing of it;
//! - [`debug_files`]: split debug files by build-id or `.gnu_debuglink`, looked up inside a
//!   container root ([`DebugFiles`] for [`root::ContainerRoot`], or [`HostFiles`]) and verified;
//! - [`budget`]: limits on what containers can make cperf hold, read or write, and what was cut;
//! - [`root`]: reading files inside a container's root filesystem without reaching the host's;
//! - [`perfmap`]: JIT perf maps, found under the container's own pid — a module too;
//! - [`kallsyms`]: kernel symbols, refusing addresses hidden by `kptr_restrict` — a module too;
//! - [`demangle()`]: Rust and C++ names as `addr2line -C` prints them;
//! - [`unwind`]: user stacks (registers + a copy of the stack) to return addresses with the
//!   call-frame information of the mapped files (`framehop`), frame pointers where there is none;
//! - [`parallel`]: jobs on scoped threads, on the calling thread when the system refuses one.
//!
//! An address that cannot be named is a value ([`Answer::Unknown`] with a [`Reason`]), not an
//! error. Modules are `Send + Sync`. Symbolize many addresses of one module with one call: the
//! addresses are resolved in sorted order, each distinct one once, on several threads for large
//! batches ([`ElfModule::symbolize_vaddrs_on`]), and the answers share their strings.
//!
//! ```no_run
//! use std::path::Path;
//! use symbolizer::budget::{Budget, Limits};
//! use symbolizer::{debug_file_for, Answer, ContentKey, ElfModule, HostFiles, Symbolize, Symbolizer};
//!
//! let cache = Symbolizer::new();
//! let path = Path::new("/usr/bin/ls");
//! let data = std::fs::read(path)?;
//! // Inside a container, pass its `ContainerRoot` instead of `HostFiles`.
//! let budget = Budget::new("debug files", Limits { per_file: 1 << 30, per_process: 2 << 30, total: 4 << 30 });
//! let debug = debug_file_for(&data, path, &HostFiles, &budget, 0).map(|found| found.data);
//! let key = ContentKey::of(&data, debug.as_deref());
//! let module = match cache.cached(&key) {
//!     Some(module) => module,
//!     None => {
//!         let mut module = ElfModule::parse(data)?;
//!         if let Some(debug) = debug {
//!             module.attach_debug(debug)?;
//!         }
//!         cache.insert(key, module)
//!     }
//! };
//! // A sample at file offset 0x4a20 of the mapping (address - mapping start + mapping offset).
//! let vaddr = module.file_offset_to_vaddr(0x4a20).unwrap_or(0);
//! let batch = module.symbolize(&[vaddr]);
//! for answer in batch.iter() {
//!     match answer {
//!         Answer::Frames(frames) => {
//!             for f in frames {
//!                 let name = f.function.map_or("??", |s| batch.str(s));
//!                 let file = f.file.map_or("??", |s| batch.str(s));
//!                 let inlined = if f.inlined { " (inlined)" } else { "" };
//!                 println!("{name} at {file}:{}{inlined}", f.line.map_or(0, |l| l.get()));
//!             }
//!         }
//!         Answer::Unknown(reason) => println!("[unknown: {reason}]"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod budget;
pub mod debug_files;
mod demangle;
mod dwarf;
mod elf;
mod hash;
pub mod kallsyms;
pub mod parallel;
pub mod perfmap;
pub mod root;
mod symbolize;
mod sys;
pub mod unwind;

pub use debug_files::{debug_file_for, find_debug_file, DebugFile, DebugFiles, HostFiles};
pub use demangle::demangle;
pub use dwarf::types::{return_type, ReturnType, ValueKind};
pub use elf::lookup::{
    library_runpath, probe_location, probe_location_with_debug, LookupError, ProbeLocation,
};
pub use elf::ElfError;
pub use symbolize::{
    Answer, Batch, BatchFrame, ContentKey, ElfModule, Frame, Reason, StrId, Symbolize, Symbolized, Symbolizer,
};
