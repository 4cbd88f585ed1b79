//! `--flame`: an interactive SVG flame graph (or icicle graph), drawn by inferno from the collapsed
//! stacks, titled with what was recorded.

use std::io::Write;

use inferno::flamegraph::{self, color::MultiPalette, Direction, Options, Palette};

use super::folded::{collapse, Weight};
use super::profile::{Profile, Side};
use crate::escape::esc;
use crate::numbers::thousands;

/// How to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlameStyle {
    /// Callers on top of callees (icicle graph).
    pub icicle: bool,
    /// Stacks merged from the leaf: what the hottest functions are called from.
    pub reverse: bool,
}

/// Writes the SVG.
pub fn write(out: &mut dyn Write, profile: &Profile, side: Side, style: FlameStyle) -> anyhow::Result<()> {
    let lines = collapse(profile, side, Weight::Samples);
    let drawn = lines.iter().fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
    let text: Vec<String> = lines.iter().map(|(stack, n)| format!("{stack} {n}")).collect();
    let mut options = Options::default();
    options.title = title(profile, drawn);
    options.subtitle = Some(subtitle(profile, side));
    options.count_name = "samples".into();
    options.colors = Palette::Multi(MultiPalette::Java);
    options.hash = true;
    options.direction = if style.icicle { Direction::Inverted } else { Direction::Straight };
    options.reverse_stack_order = style.reverse;
    if text.is_empty() {
        anyhow::bail!("no samples to draw (the filters left none, or the recording has none)");
    }
    flamegraph::from_lines(&mut options, text.iter().map(String::as_str), out)?;
    Ok(())
}

/// What was recorded, for the title: the targets, the event, the samples drawn and the duration.
fn title(profile: &Profile, samples: u64) -> String {
    format!(
        "{} — {}, {} samples, {:.1} s",
        esc(&profile.targets_description()),
        esc(&profile.meta.event),
        thousands(samples),
        profile.duration_ns() as f64 / 1e9
    )
}

fn subtitle(profile: &Profile, side: Side) -> String {
    let side = match side {
        Side::Both => "",
        Side::KernelOnly => ", kernel frames only",
        Side::UserOnly => ", user frames only",
    };
    format!(
        "cperf record on {} (kernel {}){side}; frames marked _[k] (kernel) are orange, _[i] (inlined) aqua, _[j] (JIT) green",
        esc(&profile.meta.hostname),
        esc(&profile.meta.kernel)
    )
}
