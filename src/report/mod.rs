//! `cperf report`: a recording, analysed anywhere — on another machine, without network, after
//! the container is gone — from the recording alone.
//!
//! - [`profile`]: the recording read and counted by stack as it streams by (memory grows with the
//!   distinct stacks, not the samples), filtered, its frames named;
//! - [`retval`]: the distribution of a uretprobe's return values (`--retval`);
//! - [`functions`]: the top functions by self and total samples, overall, per target, per process;
//! - writers, one per format: [`text`] (and `--json`), [`folded`] (collapsed stacks), [`flame`]
//!   (inferno's SVG), [`pprof`] (gzipped profile.proto).

pub mod flame;
pub mod folded;
pub mod functions;
pub mod pprof;
pub mod profile;
pub mod retval;
pub mod text;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

pub use flame::FlameStyle;
pub use profile::{Filters, Profile, Side};

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The text report.
    Text,
    /// The text report's tables as JSON.
    Json,
    /// Collapsed stacks; `period` counts events (nanoseconds of CPU) instead of samples.
    Folded { period: bool },
    /// An SVG flame graph.
    Flame(FlameStyle),
    /// A gzipped pprof profile.
    Pprof,
    /// The distribution of return values, read as asked; as JSON when `json`.
    Retval { reading: retval::Reading, json: bool },
}

/// What `cperf report` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// The recording (`-` for standard input).
    pub input: PathBuf,
    /// Where to write (stdout when `None` or `-`).
    pub output: Option<PathBuf>,
    pub format: Format,
    pub filters: Filters,
    /// Rows of the top-functions tables, and per target and per process.
    pub top: usize,
    pub per_section: usize,
}

/// Runs `cperf report`; warnings about the recording go to `warn` (stderr) as well as into the
/// report.
pub fn run(opts: ReportOptions, stdout: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<i32> {
    // `-i -`: standard input, a pipe or a file.
    let input = if opts.input.as_os_str() == "-" { std::path::Path::new("/dev/stdin") } else { &opts.input };
    let profile = Profile::read(input, &opts.filters)?;
    if !matches!(opts.format, Format::Text | Format::Json) {
        // Formats without a header: the warnings go to stderr only.
        for w in &profile.warnings {
            writeln!(warn, "cperf report: warning: {}", crate::escape::esc(w))?;
        }
    }
    let side = opts.filters.side;
    // Written in memory first: a failure (no samples to draw) leaves no half-written file.
    let mut rendered = Vec::new();
    let out: &mut dyn Write = &mut rendered;
    match opts.format {
        Format::Text => text::write_text(
            out,
            &profile,
            &functions::tables(&profile, side, opts.top, opts.per_section),
            side,
        )?,
        Format::Json => {
            text::write_json(out, &profile, &functions::tables(&profile, side, opts.top, opts.per_section))?
        }
        Format::Folded { period } => {
            let weight = if period { folded::Weight::Period } else { folded::Weight::Samples };
            folded::write(out, &profile, side, weight)?
        }
        Format::Flame(style) => flame::write(out, &profile, side, style)?,
        Format::Pprof => pprof::write(out, &profile, side)?,
        Format::Retval { reading, json } => {
            let targets = retval::distributions(&profile, reading)?;
            if json {
                text::write_retval_json(out, &profile, &targets)?
            } else {
                text::write_retval_text(out, &profile, &targets, opts.top)?
            }
        }
    }
    match &opts.output {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::write(path, &rendered).with_context(|| format!("cannot write {}", path.display()))?
        }
        _ => {
            stdout.write_all(&rendered)?;
            stdout.flush()?;
        }
    }
    Ok(0)
}
