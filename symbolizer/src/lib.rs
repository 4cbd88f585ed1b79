//! Turns sampled addresses into frames (function, file, line) for cperf.
//!
//! So far it holds the pieces that both `record` (capturing what a recording needs) and symbolization
//! build on:
//!
//! - [`root`]: reading files inside a container's root filesystem without reaching the host's;
//! - [`perfmap`]: JIT perf maps, found under the container's own pid;
//! - [`kallsyms`]: kernel symbols, refusing addresses hidden by `kptr_restrict`.
//!
//! ELF/DWARF symbolization comes with the symbolizer issue.
#![deny(missing_docs)]

pub mod kallsyms;
pub mod perfmap;
pub mod root;
mod sys;
