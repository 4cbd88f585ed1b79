//! Turns sampled addresses into frames (function, file, line) for cperf.
//!
//! So far it holds [`root`]: reading files inside a container's root filesystem safely, which both
//! `record` (capturing what a recording needs) and symbolization build on. ELF/DWARF symbolization
//! comes with the symbolizer issue.
#![deny(missing_docs)]

pub mod root;
mod sys;
