//! The text report (a header, then the top functions by self and by total samples, then per target
//! and per process), and the same as one JSON document with `--json`; the return-value report
//! (`--retval`), in text and JSON.

use std::io::Write;

use serde_json::json;

use super::functions::{FunctionRow, Tables};
use super::profile::{Profile, Side};
use super::retval::{Interpretation, TargetValues};
use crate::escape::esc;
use crate::numbers::{thousands, utc};

/// Writes the text report.
pub fn write_text(
    out: &mut dyn Write,
    profile: &Profile,
    tables: &Tables,
    side: Side,
) -> std::io::Result<()> {
    header(out, profile, side, "# cperf report")?;
    write_tables(out, profile, tables)
}

/// The header of the text reports: where, when and how the recording was made, and what of it
/// the report covers.
pub fn header(out: &mut dyn Write, profile: &Profile, side: Side, title: &str) -> std::io::Result<()> {
    let m = &profile.meta;
    writeln!(out, "{title}")?;
    writeln!(
        out,
        "# recorded on {} (kernel {}, {}) at {} by: {}",
        esc(&m.hostname),
        esc(&m.kernel),
        esc(&m.arch),
        utc(m.start_unix_ns),
        esc(&m.command_line.join(" "))
    )?;
    let rate = match (m.frequency, m.period) {
        (Some(hz), _) => format!("at {hz} Hz"),
        (None, Some(1)) => "at every event".to_string(),
        (None, Some(n)) => format!("every {} events", thousands(n)),
        (None, None) => String::new(),
    };
    writeln!(
        out,
        "# event: {} {rate}{}",
        esc(&m.event),
        match (m.callchain, m.call_graph.as_deref()) {
            (false, _) => ", without call stacks (-g was not given)",
            (true, Some(g)) if g.starts_with("dwarf") =>
                ", with call stacks (user stacks unwound from call-frame information)",
            (true, _) => ", with call stacks (frame pointers)",
        }
    )?;
    if let Some(note) = &m.event_note {
        writeln!(out, "# note: {}", esc(note))?;
    }
    // With --kernel-only / --user-only, the samples left with frames of that side.
    let shown = profile.samples_with_frames(side);
    let filtered = if shown == profile.all_samples {
        String::new()
    } else {
        format!(" (filtered, of {} in the recording)", thousands(profile.all_samples))
    };
    let length = if profile.window_given() {
        format!(" (the recording is {:.1} s long)", profile.recording_ns() as f64 / 1e9)
    } else {
        String::new()
    };
    writeln!(
        out,
        "# {} samples{filtered}, {} lost, over {:.1} s{length}",
        thousands(shown),
        thousands(profile.lost),
        profile.duration_ns() as f64 / 1e9
    )?;
    writeln!(out, "# targets: {}", esc(&profile.targets_description()))?;
    match side {
        Side::Both => {}
        Side::KernelOnly => writeln!(out, "# kernel frames only: samples taken in the kernel")?,
        Side::UserOnly => {
            writeln!(out, "# user frames only: a sample in the kernel counts for its user caller")?
        }
    }
    if let Some(s) = &profile.summary {
        // Over the whole recording (filters choose samples, not how their stacks were found).
        for line in s.stacks.iter().flat_map(crate::record::stack_lines) {
            writeln!(out, "# {line}")?;
        }
        for note in &s.notes {
            writeln!(out, "# note: {}", esc(note))?;
        }
    }
    for w in &profile.warnings {
        writeln!(out, "# warning: {}", esc(w))?;
    }
    Ok(())
}

/// Continues [`write_text`] after the header.
fn write_tables(out: &mut dyn Write, profile: &Profile, tables: &Tables) -> std::io::Result<()> {
    let m = &profile.meta;
    if tables.samples == 0 {
        writeln!(out, "\nNo samples to report.")?;
        return Ok(());
    }
    writeln!(out, "\nTop functions by self samples (the sample's innermost frame is in the function):")?;
    rows(out, &tables.by_self, tables.samples, "  ")?;
    writeln!(out, "\nTop functions by total samples (the function is anywhere on the stack):")?;
    rows(out, &tables.by_total, tables.samples, "  ")?;
    if tables.targets.len() > 1 {
        writeln!(out, "\nPer target:")?;
        for s in &tables.targets {
            writeln!(
                out,
                "\n  {}: {} samples ({})",
                esc(&s.label),
                thousands(s.samples),
                percent(s.samples, tables.samples)
            )?;
            rows(out, &s.functions, s.samples, "    ")?;
        }
    }
    writeln!(out, "\nPer process:")?;
    for s in &tables.processes {
        let target = match m.targets.get(s.target as usize) {
            Some(t) if tables.targets.len() > 1 => format!(" in {}", esc(&t.description)),
            _ => String::new(),
        };
        writeln!(
            out,
            "\n  {}{target}: {} samples ({})",
            esc(&s.label),
            thousands(s.samples),
            percent(s.samples, tables.samples)
        )?;
        rows(out, &s.functions, s.samples, "    ")?;
    }
    Ok(())
}

/// A table of functions, shares of `of` samples.
fn rows(out: &mut dyn Write, rows: &[FunctionRow], of: u64, indent: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "{indent}{:>7} {:>7} {:>9}  {:<40} {:<20} source",
        "self", "total", "samples", "function", "module"
    )?;
    for r in rows {
        writeln!(
            out,
            "{indent}{:>7} {:>7} {:>9}  {:<40} {:<20} {}",
            percent(r.self_samples, of),
            percent(r.total_samples, of),
            thousands(r.self_samples),
            esc(&r.function),
            esc(&r.module),
            esc(&source(r))
        )?;
    }
    Ok(())
}

/// The source column: `file:line`, or why code has no name.
fn source(r: &FunctionRow) -> String {
    match (&r.file, r.line, &r.unknown) {
        (Some(file), 0, _) => file.clone(),
        (Some(file), line, _) => format!("{file}:{line}"),
        (None, _, Some(why)) => format!("({why})"),
        (None, _, None) => String::new(),
    }
}

fn percent(n: u64, of: u64) -> String {
    format!("{:.1}%", n as f64 * 100.0 / of.max(1) as f64)
}

/// Writes the JSON report: one document.
pub fn write_json(out: &mut dyn Write, profile: &Profile, tables: &Tables) -> std::io::Result<()> {
    let functions = |rows: &[FunctionRow]| -> Vec<serde_json::Value> {
        rows.iter()
            .map(|r| {
                json!({
                    "function": r.function, "module": r.module, "file": r.file,
                    "line": (r.line > 0).then_some(r.line),
                    "self": r.self_samples, "total": r.total_samples,
                    "unknown": r.unknown,
                })
            })
            .collect()
    };
    let doc = json!({
        "meta": profile.meta,
        "summary": profile.summary,
        "samples": profile.samples,
        "samples_in_recording": profile.all_samples,
        "lost": profile.lost,
        "duration_ns": profile.duration_ns(),
        "warnings": profile.warnings,
        "counted_samples": tables.samples,
        "functions_by_self": functions(&tables.by_self),
        "functions_by_total": functions(&tables.by_total),
        "targets": tables.targets.iter().map(|s| json!({
            "target": s.key,
            "description": s.label,
            "samples": s.samples,
            "functions": functions(&s.functions),
        })).collect::<Vec<_>>(),
        "processes": tables.processes.iter().map(|s| json!({
            "pid": s.key,
            "name": s.name,
            "target": s.target,
            "samples": s.samples,
            "functions": functions(&s.functions),
        })).collect::<Vec<_>>(),
    });
    crate::escape::write_json(&mut *out, &doc, true)?;
    writeln!(out)
}

/// Writes the return-value report (`--retval`): per target, how its values were read, then per
/// process the most frequent values.
pub fn write_retval_text(
    out: &mut dyn Write,
    profile: &Profile,
    targets: &[TargetValues],
    top: usize,
) -> std::io::Result<()> {
    header(out, profile, Side::Both, "# cperf report --retval")?;
    for t in targets {
        writeln!(
            out,
            "\nReturn values of {} in {}, read as {} ({}):",
            esc(&t.function),
            esc(&t.description),
            esc(&t.reading),
            esc(&t.why)
        )?;
        if let Interpretation::Meaningless(why) = &t.interpretation {
            writeln!(out, "  not shown: {}", esc(why))?;
            continue;
        }
        if t.processes.is_empty() {
            writeln!(out, "  no calls returned")?;
            continue;
        }
        for p in &t.processes {
            let noun = if p.calls == 1 { "call" } else { "calls" };
            writeln!(out, "\n  process {} ({}): {} {noun}", p.pid, esc(&p.name), thousands(p.calls))?;
            let width =
                p.values.iter().take(top).map(|v| esc(&v.text).to_string().len()).max().unwrap_or(0).max(5);
            writeln!(out, "    {:>width$} {:>12} {:>7}", "value", "calls", "share")?;
            for v in p.values.iter().take(top) {
                writeln!(
                    out,
                    "    {:>width$} {:>12} {:>7}",
                    esc(&v.text),
                    thousands(v.calls),
                    percent(v.calls, p.calls)
                )?;
            }
            let rest = &p.values[p.values.len().min(top)..];
            if !rest.is_empty() {
                let calls: u64 = rest.iter().map(|v| v.calls).sum();
                writeln!(
                    out,
                    "    … {} other values: {} calls ({}); --top N shows more",
                    thousands(rest.len() as u64),
                    thousands(calls),
                    percent(calls, p.calls)
                )?;
            }
            if p.not_kept > 0 {
                writeln!(
                    out,
                    "    … {} calls ({}) returned values past the first {} distinct ones, which are not kept",
                    thousands(p.not_kept),
                    percent(p.not_kept, p.calls),
                    thousands(crate::report::profile::MAX_DISTINCT_VALUES as u64)
                )?;
            }
        }
    }
    Ok(())
}

/// Writes the return-value report as one JSON document.
pub fn write_retval_json(
    out: &mut dyn Write,
    profile: &Profile,
    targets: &[TargetValues],
) -> std::io::Result<()> {
    let doc = json!({
        "meta": profile.meta,
        "summary": profile.summary,
        "warnings": profile.warnings,
        "targets": targets.iter().map(|t| json!({
            "target": t.target,
            "description": t.description,
            "function": t.function,
            "read_as": t.reading,
            "why": t.why,
            "not_shown": match &t.interpretation {
                Interpretation::Meaningless(why) => Some(why),
                _ => None,
            },
            "processes": t.processes.iter().map(|p| json!({
                "pid": p.pid,
                "name": p.name,
                "calls": p.calls,
                "calls_with_values_not_kept": p.not_kept,
                "values": p.values.iter().map(|v| json!({
                    "value": v.text,
                    // JSON numbers lose precision past 2^53: big values are exact in "value".
                    "number": v.number.filter(|n| n.unsigned_abs() <= 1 << 53).map(|n| n as i64),
                    "calls": v.calls,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    crate::escape::write_json(&mut *out, &doc, true)?;
    writeln!(out)
}
