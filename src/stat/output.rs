//! Writers for `cperf stat`: human tables, separated values (`-x`) and JSON. They only format a
//! [`StatReport`]; nothing here counts or reads the system.

use crate::escape::esc;
use crate::numbers::thousands;
use std::collections::BTreeMap;
use std::io::{self, Write};

use sampler::counter::Reading;
use serde_json::{json, Value};

use super::{CpuWindow, StatReport, TargetReport};

/// How `cperf stat` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tables for people.
    Human,
    /// One line per event, fields joined by this separator (perf's `-x`).
    Separated(String),
    /// One JSON document (one per line per interval with `-I`).
    Json,
}

/// Writes one report in the chosen format.
pub fn write(
    out: &mut dyn Write,
    report: &StatReport,
    format: &OutputFormat,
    show_zero: bool,
) -> io::Result<()> {
    match format {
        OutputFormat::Human if report.interval_end.is_some() => write_human_interval(out, report, show_zero),
        OutputFormat::Human => write_human(out, report, show_zero),
        OutputFormat::Separated(sep) => write_separated(out, report, sep),
        OutputFormat::Json => {
            crate::escape::write_json(&mut *out, &to_json(report), false)?;
            writeln!(out)
        }
    }
}

/// Clock events count nanoseconds; perf prints them as milliseconds.
fn is_clock(event: &str) -> bool {
    matches!(event, "cpu-clock" | "task-clock")
}

/// `count` with thousands separators, or milliseconds for clock events.
fn format_count(r: &Reading) -> (String, &'static str) {
    if is_clock(&r.event) {
        (format_float_thousands(r.count as f64 / 1e6, 2), "msec")
    } else {
        (thousands(r.count), "")
    }
}

fn format_float_thousands(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int = int.parse::<u64>().map(thousands).unwrap_or_else(|_| int.to_string());
    if frac.is_empty() {
        int
    } else {
        format!("{int}.{frac}")
    }
}

/// Readings to show, biggest first (ties by name), zeros hidden unless asked for.
fn sorted(readings: &[Reading], show_zero: bool) -> Vec<&Reading> {
    let mut rows: Vec<&Reading> = readings.iter().filter(|r| show_zero || r.count > 0).collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.event.cmp(&b.event)));
    rows
}

fn multiplex_suffix(r: &Reading) -> String {
    if r.multiplexed() && r.enabled_ns > 0 {
        format!("  ({:.2}%)", r.running_ns as f64 * 100.0 / r.enabled_ns as f64)
    } else {
        String::new()
    }
}

fn write_human(out: &mut dyn Write, report: &StatReport, show_zero: bool) -> io::Result<()> {
    for t in &report.targets {
        writeln!(out)?;
        writeln!(out, " Performance counter stats for {}:", esc(&t.description))?;
        writeln!(out)?;
        let rows = sorted(&t.readings, show_zero);
        if rows.is_empty() {
            writeln!(
                out,
                "     (no events counted: all {} were zero; --show-zero lists them)",
                t.readings.len()
            )?;
        }
        for r in &rows {
            let (count, unit) = format_count(r);
            writeln!(out, " {count:>18} {unit:<5} {}{}", r.event, multiplex_suffix(r))?;
        }
        write_syscall_view(out, &t.readings, show_zero)?;
        if let Some(cpu) = &t.cpu {
            writeln!(out)?;
            writeln!(out, " {}", cpu_line(cpu))?;
        }
        for note in &t.notes {
            writeln!(out, " note: {}", esc(note))?;
        }
    }
    writeln!(out)?;
    for note in &report.notes {
        writeln!(out, " note: {}", esc(note))?;
    }
    if report.bpf_events > 0 {
        writeln!(
            out,
            " ({} syscall tracepoints counted in-kernel by one BPF program on raw_syscalls)",
            report.bpf_events
        )?;
    }
    writeln!(out, " {:>18.9} seconds time elapsed", report.duration_ns as f64 / 1e9)?;
    writeln!(out)
}

/// Per-syscall rows merged from `sys_enter_X` / `sys_exit_X` readings.
#[derive(Debug, Default)]
struct SyscallRow {
    enter: Option<u64>,
    exit: Option<u64>,
    errors: Option<u64>,
}

fn syscall_rows(readings: &[Reading]) -> BTreeMap<&str, SyscallRow> {
    let mut rows: BTreeMap<&str, SyscallRow> = BTreeMap::new();
    for r in readings {
        let Some(rest) = r.event.strip_prefix("syscalls:") else { continue };
        if let Some(name) = rest.strip_prefix("sys_enter_") {
            rows.entry(name).or_default().enter = Some(r.count);
        } else if let Some(name) = rest.strip_prefix("sys_exit_") {
            let row = rows.entry(name).or_default();
            row.exit = Some(r.count);
            row.errors = r.errors;
        }
    }
    rows
}

fn write_syscall_view(out: &mut dyn Write, readings: &[Reading], show_zero: bool) -> io::Result<()> {
    let rows = syscall_rows(readings);
    if rows.len() < 2 {
        return Ok(());
    }
    let mut rows: Vec<(&str, u64, Option<u64>)> = rows
        .into_iter()
        .map(|(name, r)| (name, r.enter.or(r.exit).unwrap_or(0), r.errors))
        .filter(|(_, calls, _)| show_zero || *calls > 0)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(7).max(7);
    writeln!(out)?;
    writeln!(out, " {:<width$} {:>14} {:>10}", "syscall", "calls", "errors")?;
    for (name, calls, errors) in rows {
        let errors = errors.map_or_else(|| "-".to_string(), thousands);
        writeln!(out, " {name:<width$} {:>14} {errors:>10}", thousands(calls))?;
    }
    Ok(())
}

fn cpu_line(cpu: &CpuWindow) -> String {
    let used_s = cpu.delta.usage_usec as f64 / 1e6;
    let window_s = cpu.window_ns as f64 / 1e9;
    let share = if window_s > 0.0 { used_s / window_s } else { 0.0 };
    let limit = match cpu.limit_cpus {
        Some(l) => {
            format!(", limit {l:.2} CPUs ({:.0}% of it used)", if l > 0.0 { share / l * 100.0 } else { 0.0 })
        }
        None => ", no CPU limit".to_string(),
    };
    let throttling = if cpu.delta.throttling_known {
        format!(
            "throttled {} of {} periods, {:.3} s throttled",
            thousands(cpu.delta.nr_throttled),
            thousands(cpu.delta.nr_periods),
            cpu.delta.throttled_usec as f64 / 1e6,
        )
    } else {
        "throttling not accounted (no cpu controller for this cgroup, so nothing throttles it)".to_string()
    };
    format!("CPU: {used_s:.3} s used over {window_s:.3} s = {share:.2} CPUs{limit}; {throttling}")
}

fn write_human_interval(out: &mut dyn Write, report: &StatReport, show_zero: bool) -> io::Result<()> {
    let time = report.interval_end.map_or(0.0, |d| d.as_secs_f64());
    let many = report.targets.len() > 1;
    for t in &report.targets {
        let rows = sorted(&t.readings, show_zero);
        if rows.is_empty() {
            writeln!(out, "{time:>14.9} {:>18}       (nothing counted){}", 0, target_suffix(t, many))?;
        }
        for r in rows {
            let (count, unit) = format_count(r);
            writeln!(
                out,
                "{time:>14.9} {count:>18} {unit:<5} {}{}{}",
                r.event,
                multiplex_suffix(r),
                target_suffix(t, many)
            )?;
        }
    }
    Ok(())
}

fn target_suffix(t: &TargetReport, many: bool) -> String {
    if many {
        format!("  [{}]", esc(&t.target))
    } else {
        String::new()
    }
}

/// Lines as `perf stat -x SEP` prints them (perf 6.x):
/// `[time,]count,unit,event,[cgroup,]running_ns,percent-running,metric,metric-unit`. The time
/// comes first with `-I`; the cgroup column appears with `-G` or when several targets are counted.
/// Clock events count milliseconds; an event that never ran is `<not counted>`.
fn write_separated(out: &mut dyn Write, report: &StatReport, sep: &str) -> io::Result<()> {
    let target_column = report.targets.len() > 1 || report.targets.iter().any(|t| t.cgroup.is_some());
    for t in &report.targets {
        // perf's rates divide by the clock event counted for the same target, when there is one.
        let clock_ns = t.readings.iter().find(|r| is_clock(&r.event) && r.running_ns > 0).map(|r| r.count);
        for r in &t.readings {
            if let Some(end) = report.interval_end {
                write!(out, "{:>6}.{:09}{sep}", end.as_secs(), end.subsec_nanos())?;
            }
            let clock = is_clock(&r.event);
            let count = match (r.running_ns, clock) {
                (0, _) => "<not counted>".to_string(),
                (_, true) => format!("{:.2}", r.count as f64 / 1e6),
                (_, false) => r.count.to_string(),
            };
            write!(out, "{count}{sep}{}{sep}{}{sep}", if clock { "msec" } else { "" }, r.event)?;
            if target_column {
                write!(out, "{}{sep}", esc(t.cgroup.as_deref().unwrap_or(&t.target)))?;
            }
            let pct =
                if r.enabled_ns > 0 { r.running_ns as f64 * 100.0 / r.enabled_ns as f64 } else { 100.0 };
            let (metric, metric_unit) = perf_metric(r, clock_ns, report.duration_ns);
            writeln!(out, "{}{sep}{pct:.2}{sep}{metric}{sep}{metric_unit}", r.running_ns)?;
        }
    }
    Ok(())
}

/// perf's derived metric for a reading: CPUs utilized for a clock event, the rate per second of the
/// target's clock for other events (with K, M, G for thousands), nothing when neither applies.
fn perf_metric(r: &Reading, clock_ns: Option<u64>, window_ns: u64) -> (String, String) {
    if r.running_ns == 0 {
        return (String::new(), String::new());
    }
    if is_clock(&r.event) {
        if window_ns == 0 {
            return (String::new(), String::new());
        }
        return (format!("{:.3}", r.count as f64 / window_ns as f64), "CPUs utilized".into());
    }
    let Some(clock_ns) = clock_ns.filter(|&ns| ns > 0) else { return (String::new(), String::new()) };
    let mut rate = r.count as f64 * 1e9 / clock_ns as f64;
    let mut prefix = "";
    for p in ["K", "M", "G"] {
        if rate > 1000.0 {
            rate /= 1000.0;
            prefix = p;
        }
    }
    (format!("{rate:.3}"), format!("{prefix}/sec"))
}

fn to_json(report: &StatReport) -> Value {
    let targets: Vec<Value> = report
        .targets
        .iter()
        .map(|t| {
            let events: Vec<Value> = t
                .readings
                .iter()
                .map(|r| {
                    let mut e = json!({
                        "event": r.event,
                        "count": r.count,
                        "enabled_ns": r.enabled_ns,
                        "running_ns": r.running_ns,
                    });
                    if r.multiplexed() {
                        e["raw_count"] = json!(r.raw_count);
                    }
                    if let Some(errors) = r.errors {
                        e["errors"] = json!(errors);
                    }
                    if r.times_capped {
                        e["times_capped"] = json!(true);
                    }
                    e
                })
                .collect();
            let mut v = json!({
                "target": t.target,
                "cgroup": t.cgroup,
                "description": t.description,
                "events": events,
            });
            if let Some(cpu) = &t.cpu {
                v["cpu"] = json!({
                    "usage_usec": cpu.delta.usage_usec,
                    "user_usec": cpu.delta.user_usec,
                    "system_usec": cpu.delta.system_usec,
                    "nr_periods": cpu.delta.nr_periods,
                    "nr_throttled": cpu.delta.nr_throttled,
                    "throttled_usec": cpu.delta.throttled_usec,
                    "throttling_known": cpu.delta.throttling_known,
                    "limit_cpus": cpu.limit_cpus,
                });
            }
            if !t.notes.is_empty() {
                v["notes"] = json!(t.notes);
            }
            v
        })
        .collect();
    let mut doc =
        json!({ "duration_ns": report.duration_ns, "targets": targets, "bpf_events": report.bpf_events });
    if let Some(end) = report.interval_end {
        doc["interval_end_ns"] = json!(end.as_nanos() as u64);
    }
    if !report.notes.is_empty() {
        doc["notes"] = json!(report.notes);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(event: &str, count: u64) -> Reading {
        Reading {
            event: event.into(),
            count,
            raw_count: count,
            enabled_ns: 10,
            running_ns: 10,
            errors: None,
            times_capped: false,
        }
    }

    fn report(readings: Vec<Reading>) -> StatReport {
        StatReport {
            duration_ns: 2_000_000_000,
            interval_end: None,
            targets: vec![TargetReport {
                target: "abc".into(),
                description: "container 'abc' (runc, cgroup /x)".into(),
                cgroup: Some("/x".into()),
                readings,
                cpu: None,
                notes: vec![],
            }],
            notes: vec![],
            bpf_events: 0,
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(12345), "12,345");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn human_sorts_hides_zero_and_merges_syscalls() {
        let mut exit = reading("syscalls:sys_exit_read", 7);
        exit.errors = Some(2);
        let r = report(vec![
            reading("syscalls:sys_enter_getppid", 12345),
            reading("syscalls:sys_enter_write", 0),
            reading("syscalls:sys_enter_read", 7),
            exit,
        ]);
        let mut buf = Vec::new();
        write(&mut buf, &r, &OutputFormat::Human, false).unwrap();
        let s = String::from_utf8(buf).unwrap();
        let getppid_line = s.lines().find(|l| l.contains("syscalls:sys_enter_getppid")).expect(&s);
        assert_eq!(
            getppid_line.split_whitespace().collect::<Vec<_>>(),
            ["12,345", "syscalls:sys_enter_getppid"]
        );
        let getppid = s.find("syscalls:sys_enter_getppid").unwrap();
        let read = s.find("syscalls:sys_enter_read").unwrap();
        assert!(getppid < read, "{s}");
        assert!(!s.contains("sys_enter_write"), "{s}");
        assert!(s.contains(" getppid"), "{s}");
        let read_row = s.lines().find(|l| l.trim_start().starts_with("read ")).expect(&s);
        assert!(read_row.ends_with(" 2"), "{read_row}");
    }

    #[test]
    fn json_has_the_documented_shape() {
        let r = report(vec![reading("syscalls:sys_enter_getppid", 5)]);
        let mut buf = Vec::new();
        write(&mut buf, &r, &OutputFormat::Json, false).unwrap();
        let v: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["duration_ns"], 2_000_000_000u64);
        assert_eq!(v["targets"][0]["target"], "abc");
        assert_eq!(v["targets"][0]["cgroup"], "/x");
        assert_eq!(v["targets"][0]["events"][0]["event"], "syscalls:sys_enter_getppid");
        assert_eq!(v["targets"][0]["events"][0]["count"], 5);
        assert_eq!(v["targets"][0]["events"][0]["enabled_ns"], 10);
        assert_eq!(v["targets"][0]["events"][0]["running_ns"], 10);
    }

    /// The BPF line counts kinds of event (tracepoints), not syscalls: it must not read as a count.
    #[test]
    fn bpf_line_counts_tracepoints() {
        let mut r = report(vec![reading("syscalls:sys_enter_getppid", 12345)]);
        r.bpf_events = 722;
        let mut buf = Vec::new();
        write(&mut buf, &r, &OutputFormat::Human, false).unwrap();
        let s = String::from_utf8(buf).unwrap();
        let line = s.lines().find(|l| l.contains("BPF")).expect(&s);
        assert_eq!(
            line.trim(),
            "(722 syscall tracepoints counted in-kernel by one BPF program on raw_syscalls)"
        );
    }

    fn separated(r: &StatReport) -> String {
        let mut buf = Vec::new();
        write(&mut buf, r, &OutputFormat::Separated(",".into()), false).unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// The lines perf 6.1 printed for the same figures (`perf stat -x, -e task-clock,cs -G x -a`).
    #[test]
    fn separated_values_as_perf_prints_them() {
        let mut clock = reading("task-clock", 403_170_000);
        clock.running_ns = 6_150_558_417;
        clock.enabled_ns = 6_150_558_417;
        let mut cs = reading("context-switches", 236);
        cs.running_ns = 1_421_609_816;
        cs.enabled_ns = 1_421_609_816;
        let mut r = report(vec![clock, cs]);
        r.duration_ns = 201_585_000;
        assert_eq!(
            separated(&r),
            "403.17,msec,task-clock,/x,6150558417,100.00,2.000,CPUs utilized\n\
             236,,context-switches,/x,1421609816,100.00,585.361,/sec\n"
        );
    }

    /// Without a cgroup (one `-p`, a command, `-a`) there is no cgroup column; with `-I` the time comes
    /// first, padded as perf pads it; rates take K, M, G; an event that never ran is `<not counted>`.
    #[test]
    fn separated_values_without_cgroup_with_interval() {
        let mut r = report(vec![
            reading("task-clock", 943_873),
            reading("context-switches", 1),
            Reading { running_ns: 0, enabled_ns: 0, ..reading("syscalls:sys_enter_getppid", 0) },
        ]);
        r.targets[0].cgroup = None;
        r.duration_ns = 500_000_000;
        r.interval_end = Some(std::time::Duration::from_nanos(1_001_055_940));
        assert_eq!(
            separated(&r),
            "     1.001055940,0.94,msec,task-clock,10,100.00,0.002,CPUs utilized\n\
             \x20    1.001055940,1,,context-switches,10,100.00,1.059,K/sec\n\
             \x20    1.001055940,<not counted>,,syscalls:sys_enter_getppid,0,100.00,,\n"
        );
    }
}
