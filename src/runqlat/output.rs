//! Printing run-queue latency: runqlat's log2 histograms with star bars (`usecs : count
//! distribution`), with the count and average of each; or one JSON document per interval.

use std::io::Write;
use std::time::Duration;

use sampler::runqlat::{Histogram, Per, Unit, BUCKETS};
use serde_json::json;

use super::Target;
use crate::escape::esc;
use crate::numbers::thousands;

/// One interval's histograms.
#[derive(Debug)]
pub struct Interval<'a> {
    pub targets: &'a [Target],
    pub histograms: &'a [Histogram],
    pub unit: Unit,
    pub per: Per,
    /// How long the interval lasted.
    pub elapsed: Duration,
    /// From the start of measuring to the end of the interval.
    pub since_start: Duration,
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Micros => "usecs",
        Unit::Millis => "msecs",
    }
}

/// The heading of a histogram: its target, and its process or thread.
fn heading(v: &Interval<'_>, h: &Histogram) -> String {
    // Names a container controls (its description, a task's comm) are escaped.
    let target = esc(v.targets.get(h.target).map_or("?", |t| t.description.as_str()));
    match (v.per, h.id) {
        (Per::Process, Some(id)) => format!("{target}: pid = {id} ({})", esc(&h.comm)),
        (Per::Thread, Some(id)) => format!("{target}: tid = {id} ({})", esc(&h.comm)),
        _ => target.to_string(),
    }
}

/// Writes the text of one interval (after a blank line when it is not the first).
pub fn text(out: &mut dyn Write, v: &Interval<'_>, not_first: bool) -> std::io::Result<()> {
    if not_first {
        writeln!(out)?;
    }
    writeln!(out, "{:.1} s measured", v.elapsed.as_secs_f64())?;
    let unit = unit_name(v.unit);
    // Targets with no wait measured still get a line, so that an idle container is visible.
    for (index, target) in v.targets.iter().enumerate() {
        let mine: Vec<&Histogram> = v.histograms.iter().filter(|h| h.target == index).collect();
        if mine.is_empty() {
            writeln!(out, "\n{}\n     no task of it waited for a CPU", esc(&target.description))?;
            continue;
        }
        for h in mine {
            writeln!(out, "\n{}", heading(v, h))?;
            log2_hist(out, &h.buckets, unit)?;
            let average = h.sum as f64 / h.count.max(1) as f64;
            writeln!(out, "     count {}, average {:.1} {unit}", thousands(h.count), average)?;
        }
    }
    Ok(())
}

/// The low and high bound of bucket `i`, as runqlat prints them: `0 -> 1`, `2 -> 3`, `4 -> 7`, …
fn bounds(i: usize) -> (u64, u64) {
    let high = (1u128 << (i + 1)) - 1;
    let low = (1u128 << (i + 1)) >> 1;
    let low = if low == high { low - 1 } else { low };
    (low as u64, high.min(u128::from(u64::MAX)) as u64)
}

/// BCC's `print_log2_hist`: the buckets up to the last one used, each with its count and a bar of
/// up to 40 stars, scaled to the largest.
fn log2_hist(out: &mut dyn Write, buckets: &[u64; BUCKETS], unit: &str) -> std::io::Result<()> {
    let Some(last) = buckets.iter().rposition(|&n| n > 0) else { return Ok(()) };
    let max = buckets.iter().copied().max().unwrap_or(0).max(1);
    writeln!(out, "{:>5}{unit:<19} : count    distribution", "")?;
    for (i, &n) in buckets.iter().enumerate().take(last + 1) {
        let (low, high) = bounds(i);
        let stars = (n * 40 / max) as usize;
        let mut bar = "*".repeat(stars);
        if i == BUCKETS - 1 && n > 0 {
            bar = format!("{bar}+");
        }
        let high = if i == BUCKETS - 1 { "...".to_string() } else { high.to_string() };
        writeln!(out, "{low:>10} -> {high:<10} : {n:<8} |{bar:<40}|")?;
    }
    Ok(())
}

/// Writes one interval as a JSON document on one line.
pub fn json(out: &mut dyn Write, v: &Interval<'_>) -> std::io::Result<()> {
    let unit = unit_name(v.unit);
    let targets: Vec<serde_json::Value> = v
        .targets
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let histograms: Vec<serde_json::Value> = v
                .histograms
                .iter()
                .filter(|h| h.target == index)
                .map(|h| {
                    let last = h.buckets.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
                    let buckets: Vec<serde_json::Value> = h.buckets[..last]
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| {
                            let (low, high) = bounds(i);
                            json!({"low": low, "high": (i < BUCKETS - 1).then_some(high), "count": n})
                        })
                        .collect();
                    json!({
                        "pid": (v.per == Per::Process).then_some(h.id).flatten(),
                        "tid": (v.per == Per::Thread).then_some(h.id).flatten(),
                        "comm": (v.per != Per::Target).then_some(&h.comm),
                        "count": h.count,
                        "average": h.sum as f64 / h.count.max(1) as f64,
                        "buckets": buckets,
                    })
                })
                .collect();
            json!({"target": t.spec, "description": t.description, "histograms": histograms})
        })
        .collect();
    let doc = json!({
        "unit": unit,
        "interval_ns": v.elapsed.as_nanos() as u64,
        "since_start_ns": v.since_start.as_nanos() as u64,
        "targets": targets,
    });
    crate::escape::write_json(&mut *out, &doc, false)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_as_runqlat_prints_them() {
        assert_eq!(bounds(0), (0, 1));
        assert_eq!(bounds(1), (2, 3));
        assert_eq!(bounds(2), (4, 7));
        assert_eq!(bounds(10), (1024, 2047));
    }

    #[test]
    fn histogram_text() {
        let mut buckets = [0u64; BUCKETS];
        buckets[0] = 5;
        buckets[2] = 10;
        let mut out = Vec::new();
        log2_hist(&mut out, &buckets, "usecs").unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "     usecs               : count    distribution");
        assert_eq!(
            lines[1],
            "         0 -> 1          : 5        |********************                    |"
        );
        assert_eq!(
            lines[2],
            "         2 -> 3          : 0        |                                        |"
        );
        assert_eq!(
            lines[3],
            "         4 -> 7          : 10       |****************************************|"
        );
        assert_eq!(lines.len(), 4, "nothing past the last bucket used");
    }

    /// A task's comm is the container's to choose: escaped in headings (issue 13, finding 3).
    #[test]
    fn task_names_are_escaped() {
        let targets = [Target { spec: "web".into(), description: "container 'web\x07'".into() }];
        let mut buckets = [0u64; BUCKETS];
        buckets[3] = 1;
        let histograms =
            [Histogram { target: 0, id: Some(7), comm: "\x1b[2J\n".into(), buckets, count: 1, sum: 9 }];
        let v = Interval {
            targets: &targets,
            histograms: &histograms,
            unit: Unit::Micros,
            per: Per::Process,
            elapsed: Duration::from_secs(1),
            since_start: Duration::from_secs(1),
        };
        let mut out = Vec::new();
        text(&mut out, &v, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        assert!(text.contains("container 'web\\x07': pid = 7 (\\e[2J\\n)"), "{text}");
    }
}
