//! Collapsed stacks, the input of flame graph tools: one line per distinct stack, `process;root;…;leaf
//! count`. The first frame is the process's name (its main thread's); every inlined function is a frame of its own, after
//! the function it is inlined into; kernel frames end in `_[k]`, JIT frames in `_[j]` and inlined
//! ones in `_[i]` (inferno's and FlameGraph's annotations, which their `java` palette colours).
//! A frame without a name is its module's in brackets with its offset (`[libc.so.6+0x29d90]`).
//! Names are escaped: a control character is written as `\n`, `\e`, `\x07`… (so a line is always
//! one stack) and `;` inside a name as `:`.

use std::collections::HashMap;
use std::io::Write;

use super::functions::unknown_name;
use super::profile::{CodeKind, Profile, Side};

/// What each line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weight {
    /// Samples.
    #[default]
    Samples,
    /// The events they stand for (nanoseconds of CPU for cpu-clock and task-clock).
    Period,
}

/// The collapsed stacks, merged and sorted by their text.
pub fn collapse(profile: &Profile, side: Side, weight: Weight) -> Vec<(String, u64)> {
    let mut merged: HashMap<String, u64> = HashMap::new();
    let mut line = String::new();
    for count in &profile.counts {
        let frames = profile.stack(count.stack, side);
        if frames.is_empty() && side != Side::Both {
            continue;
        }
        line.clear();
        push_name(&mut line, profile.process_name(count.pid, count.comm));
        for &id in frames.iter().rev() {
            let Some(frame) = profile.frame(id) else { continue };
            let mark = match frame.kind {
                CodeKind::Kernel => "_[k]",
                CodeKind::Jit => "_[j]",
                CodeKind::User => "",
            };
            if frame.lines.is_empty() {
                line.push(';');
                push_name(&mut line, &unknown_name(profile, frame));
                line.push_str(mark);
                continue;
            }
            // Outermost (the function holding the code) first, then what is inlined into it.
            for (i, l) in frame.lines.iter().rev().enumerate() {
                line.push(';');
                push_name(&mut line, &l.function);
                line.push_str(if i > 0 && frame.kind == CodeKind::User { "_[i]" } else { mark });
            }
        }
        let value = match weight {
            Weight::Samples => count.samples,
            Weight::Period => count.period,
        };
        let total = merged.entry(line.clone()).or_default();
        *total = total.saturating_add(value);
    }
    let mut lines: Vec<(String, u64)> = merged.into_iter().collect();
    lines.sort_unstable();
    lines
}

/// Writes the collapsed stacks, one per line.
pub fn write(out: &mut dyn Write, profile: &Profile, side: Side, weight: Weight) -> std::io::Result<()> {
    for (stack, n) in collapse(profile, side, weight) {
        writeln!(out, "{stack} {n}")?;
    }
    Ok(())
}

/// Appends a name, escaped (control characters, line breaks included, as `\n`, `\e`, `\x07`: see
/// [`crate::escape`]), with `;`, the frame separator, written as `:` as FlameGraph's own
/// stackcollapse scripts do (flame graph tools have no escape for it).
fn push_name(line: &mut String, name: &str) {
    let start = line.len();
    crate::escape::push_escaped(line, name);
    if line[start..].contains(';') {
        let replaced = line[start..].replace(';', ":");
        line.truncate(start);
        line.push_str(&replaced);
    }
}
