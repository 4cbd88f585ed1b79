//! Turns sampled addresses into frames (function, file, line) for cperf.
//!
//! So far it holds [`root`] (reading files inside a container's root filesystem safely) and
//! [`perfmap`] (JIT perf maps, found under the container's own pid) and [`kallsyms`] (kernel symbols,
//! refusing addresses hidden by kptr_restrict), which both `record` (capturing
//! what a recording needs) and symbolization build on. ELF/DWARF symbolization
//! comes with the symbolizer issue.
#![deny(missing_docs)]

pub mod kallsyms;
pub mod perfmap;
pub mod root;
mod sys;
