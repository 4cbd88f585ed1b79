//! The summary `cperf record` prints when it ends (on stderr, like perf, so a profiled command's
//! own output stays clean). Names and notes quote what containers control: they are escaped
//! ([`crate::escape`]).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use sampler::recording::{StackSummary, TargetMeta};
use sampler::sampling::Rate;

use super::session::Stats;
use super::CallGraph;
use crate::escape::esc;
use crate::numbers::thousands;

/// What the summary shows.
#[derive(Debug)]
pub struct SummaryView<'a> {
    pub event: &'a str,
    pub event_note: Option<&'a str>,
    pub rate: Rate,
    pub call_graph: Option<CallGraph>,
    pub stacks: Option<&'a StackSummary>,
    pub elapsed: Duration,
    pub stats: &'a Stats,
    pub targets: &'a [TargetMeta],
    pub modules: usize,
    pub bytes: u64,
    pub path: &'a Path,
    pub notes: &'a [String],
}

/// Prints the summary.
pub fn print_summary(out: &mut dyn Write, v: &SummaryView<'_>) -> std::io::Result<()> {
    let rate = match v.rate {
        Rate::Frequency(hz) => format!("at {hz} Hz"),
        Rate::Period(1) => "at every event".to_string(),
        Rate::Period(n) => format!("every {} events", thousands(n)),
    };
    writeln!(
        out,
        "cperf record: {} samples of {} {rate}{}, {} lost, over {:.1} s",
        thousands(v.stats.samples),
        esc(v.event),
        match v.call_graph {
            Some(CallGraph::Dwarf { .. }) => " with call stacks (unwound from call-frame information)",
            Some(CallGraph::FramePointers) => " with call stacks (frame pointers)",
            None => "",
        },
        thousands(v.stats.lost),
        v.elapsed.as_secs_f64()
    )?;
    if let Some(note) = v.event_note {
        writeln!(out, "  note: {}", esc(note))?;
    }
    for (t, n) in v.targets.iter().zip(&v.stats.per_target) {
        writeln!(out, "  {}: {} samples", esc(&t.description), thousands(*n))?;
    }
    writeln!(
        out,
        "  {} processes sampled ({} seen), {} modules",
        thousands(v.stats.processes_sampled),
        thousands(v.stats.processes),
        thousands(v.modules as u64)
    )?;
    if let Some(stacks) = v.stacks {
        for line in stack_lines(stacks) {
            writeln!(out, "  {line}")?;
        }
    }
    for note in v.notes {
        writeln!(out, "  note: {}", esc(note))?;
    }
    writeln!(out, "  wrote {} to {}", size(v.bytes), esc(&v.path.to_string_lossy()))
}

/// How complete the user stacks are, and why the others were cut (reasons escaped: they quote
/// paths in containers): the record summary's lines and the report header's.
pub fn stack_lines(s: &StackSummary) -> Vec<String> {
    let share = |n: u64| if s.user_stacks == 0 { 0.0 } else { n as f64 * 100.0 / s.user_stacks as f64 };
    let how = match s.method.as_str() {
        "dwarf" => format!(
            "unwound from call-frame information with {} of user stack per sample",
            size(s.stack_bytes.into())
        ),
        other => esc(other).to_string(),
    };
    let mut lines = vec![format!(
        "user stacks ({how}): {} of {} complete ({:.1}%), mean depth {:.1} frames",
        thousands(s.complete),
        thousands(s.user_stacks),
        share(s.complete),
        if s.user_stacks == 0 { 0.0 } else { s.user_frames as f64 / s.user_stacks as f64 },
    )];
    for cut in &s.cut {
        lines.push(format!(
            "  cut short: {} ({:.1}%) {}",
            thousands(cut.samples),
            share(cut.samples),
            esc(&cut.reason)
        ));
    }
    lines
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 10 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 10 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(size(999), "999 bytes");
        assert_eq!(size(20 << 10), "20.0 KiB");
        assert_eq!(size(30 << 20), "30.0 MiB");
    }

    /// Notes quote paths and names from containers; target descriptions their names: escaped.
    #[test]
    fn notes_and_names_are_escaped() {
        let stats = Stats { samples: 1, per_target: vec![1], ..Stats::default() };
        let targets = [TargetMeta {
            spec: "web".into(),
            kind: "container".into(),
            description: "container 'w\x1b]0;X\x07'".into(),
            cgroup: None,
            probe: None,
        }];
        let notes = ["cannot read /tmp/\x1b[2J\nfake line".to_string()];
        let v = SummaryView {
            event: "cpu-clock",
            event_note: Some("\r"),
            rate: Rate::Frequency(99),
            call_graph: Some(CallGraph::FramePointers),
            stacks: None,
            elapsed: Duration::from_secs(1),
            stats: &stats,
            targets: &targets,
            modules: 0,
            bytes: 10,
            path: Path::new("out\n.cperf"),
            notes: &notes,
        };
        let mut out = Vec::new();
        print_summary(&mut out, &v).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        assert_eq!(text.lines().count(), 6, "{text}");
        assert!(text.contains("note: cannot read /tmp/\\e[2J\\nfake line"), "{text}");
        assert!(text.contains("container 'w\\e]0;X\\x07': 1 samples"), "{text}");
        assert!(text.contains("to out\\n.cperf"), "{text}");
    }
}
