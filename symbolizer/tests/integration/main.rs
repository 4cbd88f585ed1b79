//! The symbolizer's integration tests, one binary with a module per subject: agreement with
//! binutils' `addr2line` on compiled fixtures, split debug files, MiniDebugInfo, and malformed
//! input.

mod binutils;
mod debug_files;
mod malformed;
mod support;
