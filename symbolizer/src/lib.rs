//! Turns sampled addresses into frames (function, file, line) for cperf.
//!
//! This crate is an empty shell until the symbolizer issue lands: it exists so that the workspace has the
//! layout the design names (`sampler` produces addresses, `symbolizer` names them, `cperf` reports them).
#![deny(missing_docs)]
