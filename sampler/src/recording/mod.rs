//! The cperf recording file: what `cperf record` writes and `cperf report` reads, specified in
//! `docs/recording-format.md`.
//!
//! - [`chunk`]: the framing (file header, checksummed chunks, damage detection);
//! - [`codec`] and [`entry`]: the entries inside data chunks;
//! - [`meta`]: the JSON metadata and summary chunks;
//! - [`writer`] and [`reader`]: whole recordings.

pub mod chunk;
pub mod codec;
pub mod entry;
pub mod meta;
pub mod reader;
pub mod writer;

pub use entry::{Entry, Line, ModuleKind};
pub use meta::{CutCount, Meta, ProbeMeta, StackSummary, Summary, TargetMeta, ValueType};
pub use reader::{ReadError, RecordingReader};
pub use writer::{RecordingWriter, WriteError};
