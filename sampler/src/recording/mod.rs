//! The cperf recording file: what `cperf record` writes and `cperf report` reads. The framing is in
//! [`chunk`]; the format is specified in `docs/recording-format.md`.

pub mod chunk;
