//! perf-style event specifications, parsed into concrete events.
//!
//! Accepted, as in `perf stat -e`: tracepoints `subsystem:name` with shell globs in either part
//! (`syscalls:*`, `syscalls:sys_enter_*`, `sched:sched_sw?tch`), software events (`cpu-clock`,
//! `task-clock`, `context-switches`/`cs`, `cpu-migrations`/`migrations`, `page-faults`/`faults`, …),
//! hardware events (`cycles`, `instructions`, …), user-space probes (`uprobe:/path:func`,
//! `uretprobe:/path:func+0x10`, `uprobe:/path:0x1a2b`; see [`crate::uprobe`]), comma-separated lists
//! and repeated specs. Duplicates are dropped; order is kept.

use crate::sys::perf;
use crate::tracefs::{Tracefs, TracefsError};

/// What kind of perf event an [`Event`] is, with what `perf_event_attr` needs to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A tracepoint; `id` is its tracefs id.
    Tracepoint {
        /// e.g. `syscalls`.
        subsystem: String,
        /// e.g. `sys_enter_read`.
        name: String,
        /// The id from `events/<subsystem>/<name>/id`.
        id: u64,
    },
    /// A software event (`PERF_TYPE_SOFTWARE`, config is a `PERF_COUNT_SW_*`).
    Software(u64),
    /// A generalized hardware event (`PERF_TYPE_HARDWARE`, config is a `PERF_COUNT_HW_*`).
    Hardware(u64),
    /// A user-space probe, placed through the uprobe PMU once resolved against a root filesystem.
    Uprobe(crate::uprobe::Uprobe),
}

/// One concrete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The canonical name, as printed: `syscalls:sys_enter_read`, `cpu-clock`.
    pub name: String,
    /// How to open it.
    pub kind: EventKind,
}

impl Event {
    /// `(type, config)` for `perf_event_attr` (a uprobe's come from its resolution: see
    /// [`crate::uprobe::Uprobe::attr_fields`]).
    pub fn type_and_config(&self) -> (u32, u64) {
        match &self.kind {
            EventKind::Tracepoint { id, .. } => (perf::PERF_TYPE_TRACEPOINT, *id),
            EventKind::Software(c) => (perf::PERF_TYPE_SOFTWARE, *c),
            EventKind::Hardware(c) => (perf::PERF_TYPE_HARDWARE, *c),
            EventKind::Uprobe(u) => u.attr_fields().map_or((u32::MAX, 0), |f| (f.pmu_type, f.config)),
        }
    }

    /// The uprobe, if this event is one.
    pub fn uprobe(&self) -> Option<&crate::uprobe::Uprobe> {
        match &self.kind {
            EventKind::Uprobe(u) => Some(u),
            _ => None,
        }
    }

    /// Whether every hit is a sample worth having by default (tracepoints and probes), rather than a
    /// rate to sample at (clocks, counters).
    pub fn is_discrete(&self) -> bool {
        matches!(self.kind, EventKind::Tracepoint { .. } | EventKind::Uprobe(_))
    }

    /// For `syscalls:sys_enter_X` / `syscalls:sys_exit_X`: `(true for enter, "X")`.
    pub fn syscall(&self) -> Option<(bool, &str)> {
        match &self.kind {
            EventKind::Tracepoint { subsystem, name, .. } if subsystem == "syscalls" => {
                if let Some(s) = name.strip_prefix("sys_enter_") {
                    Some((true, s))
                } else {
                    name.strip_prefix("sys_exit_").map(|s| (false, s))
                }
            }
            _ => None,
        }
    }
}

/// Why an event spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The spec names nothing we know.
    #[error("unknown event '{0}': use 'subsystem:name' for tracepoints (see {tracefs}/available_events) or one of: {names}", tracefs = crate::tracefs::DEFAULT_MOUNT_POINT, names = known_names())]
    Unknown(String),
    /// A tracepoint, or a glob, that matches nothing in tracefs.
    #[error("no tracepoint matches '{0}' (list them with: ls /sys/kernel/tracing/events/<subsystem>/)")]
    NoTracepoint(String),
    /// An empty spec such as `-e ''` or `a,,b`.
    #[error("empty event name in '{0}'")]
    Empty(String),
    /// tracefs was needed and is not usable.
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
    /// A `uprobe:`/`uretprobe:` spec that does not parse.
    #[error("{0}")]
    Uprobe(String),
}

/// Software events by name, with perf's aliases.
const SOFTWARE: &[(&str, u32)] = &[
    ("cpu-clock", perf::PERF_COUNT_SW_CPU_CLOCK),
    ("task-clock", perf::PERF_COUNT_SW_TASK_CLOCK),
    ("context-switches", perf::PERF_COUNT_SW_CONTEXT_SWITCHES),
    ("cs", perf::PERF_COUNT_SW_CONTEXT_SWITCHES),
    ("cpu-migrations", perf::PERF_COUNT_SW_CPU_MIGRATIONS),
    ("migrations", perf::PERF_COUNT_SW_CPU_MIGRATIONS),
    ("page-faults", perf::PERF_COUNT_SW_PAGE_FAULTS),
    ("faults", perf::PERF_COUNT_SW_PAGE_FAULTS),
    ("minor-faults", perf::PERF_COUNT_SW_PAGE_FAULTS_MIN),
    ("major-faults", perf::PERF_COUNT_SW_PAGE_FAULTS_MAJ),
    ("alignment-faults", perf::PERF_COUNT_SW_ALIGNMENT_FAULTS),
    ("emulation-faults", perf::PERF_COUNT_SW_EMULATION_FAULTS),
];

/// Hardware events by name, with perf's aliases.
const HARDWARE: &[(&str, u32)] = &[
    ("cycles", perf::PERF_COUNT_HW_CPU_CYCLES),
    ("cpu-cycles", perf::PERF_COUNT_HW_CPU_CYCLES),
    ("instructions", perf::PERF_COUNT_HW_INSTRUCTIONS),
    ("cache-references", perf::PERF_COUNT_HW_CACHE_REFERENCES),
    ("cache-misses", perf::PERF_COUNT_HW_CACHE_MISSES),
    ("branches", perf::PERF_COUNT_HW_BRANCH_INSTRUCTIONS),
    ("branch-instructions", perf::PERF_COUNT_HW_BRANCH_INSTRUCTIONS),
    ("branch-misses", perf::PERF_COUNT_HW_BRANCH_MISSES),
    ("bus-cycles", perf::PERF_COUNT_HW_BUS_CYCLES),
    ("ref-cycles", perf::PERF_COUNT_HW_REF_CPU_CYCLES),
    ("stalled-cycles-frontend", perf::PERF_COUNT_HW_STALLED_CYCLES_FRONTEND),
    ("stalled-cycles-backend", perf::PERF_COUNT_HW_STALLED_CYCLES_BACKEND),
];

fn known_names() -> String {
    let mut names: Vec<&str> = SOFTWARE.iter().chain(HARDWARE).map(|(n, _)| *n).collect();
    names.dedup();
    names.join(", ")
}

/// The canonical (first-listed) name for an alias.
fn canonical(table: &'static [(&'static str, u32)], config: u32) -> &'static str {
    table.iter().find(|(_, c)| *c == config).map_or("", |(name, _)| *name)
}

/// A comma list's parts; commas inside `(…)` and `<…>` do not split, so a C++ function's
/// parameters (`uprobe:/bin/app:ns::f(int, char)`) stay whole.
fn split_list(spec: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (at, c) in spec.char_indices() {
        // `operator<`, `operator<<=`, `operator->`: brackets of a name, not of a list.
        let in_operator = spec[..at].trim_end_matches(['<', '>', '=', '-']).ends_with("operator");
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '<' if !in_operator => depth += 1,
            '>' if !in_operator => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&spec[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&spec[start..]);
    parts
}

/// An ordered, duplicate-free list of events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventList {
    events: Vec<Event>,
}

impl EventList {
    /// Parses specs (each may be a comma list); `tracefs` is consulted only for tracepoints, and is
    /// found (or mounted) on first need through [`Tracefs::find_or_mount`] when `None`.
    pub fn parse<S: AsRef<str>>(specs: &[S], tracefs: Option<&Tracefs>) -> Result<Self, EventError> {
        let mut list = EventList::default();
        let mut found_tracefs: Option<Tracefs> = None;
        for spec in specs {
            let spec = spec.as_ref();
            for part in split_list(spec) {
                let part = part.trim();
                if part.is_empty() {
                    return Err(EventError::Empty(spec.to_string()));
                }
                if let Some(probe) = crate::uprobe::Uprobe::parse(part) {
                    list.push(probe.map_err(EventError::Uprobe)?.into_event());
                } else if let Some((subsystem, name)) = part.split_once(':') {
                    let fs = match tracefs {
                        Some(fs) => fs,
                        None => {
                            if found_tracefs.is_none() {
                                found_tracefs = Some(Tracefs::find_or_mount()?);
                            }
                            found_tracefs.as_ref().expect("set just above")
                        }
                    };
                    for event in expand_tracepoints(fs, subsystem, name, part)? {
                        list.push(event);
                    }
                } else {
                    list.push(named_event(part)?);
                }
            }
        }
        Ok(list)
    }

    /// A list of the given events (duplicates dropped).
    pub fn from_events(events: impl IntoIterator<Item = Event>) -> Self {
        let mut list = EventList::default();
        for e in events {
            list.push(e);
        }
        list
    }

    fn push(&mut self, event: Event) {
        if !self.events.iter().any(|e| e.name == event.name) {
            self.events.push(event);
        }
    }

    /// The events, in the order given.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// A software or hardware event by name.
pub fn named_event(name: &str) -> Result<Event, EventError> {
    if let Some((_, config)) = SOFTWARE.iter().find(|(n, _)| *n == name) {
        return Ok(Event {
            name: canonical(SOFTWARE, *config).to_string(),
            kind: EventKind::Software(*config as u64),
        });
    }
    if let Some((_, config)) = HARDWARE.iter().find(|(n, _)| *n == name) {
        return Ok(Event {
            name: canonical(HARDWARE, *config).to_string(),
            kind: EventKind::Hardware(*config as u64),
        });
    }
    Err(EventError::Unknown(name.to_string()))
}

fn expand_tracepoints(
    fs: &Tracefs,
    subsystem: &str,
    name: &str,
    spec: &str,
) -> Result<Vec<Event>, EventError> {
    let mut out = Vec::new();
    let subsystems = if is_glob(subsystem) {
        fs.subsystems()?.into_iter().filter(|s| glob_match(subsystem, s)).collect()
    } else {
        vec![subsystem.to_string()]
    };
    for sub in subsystems {
        let names = if is_glob(name) {
            // A subsystem that does not exist simply contributes nothing to a glob.
            fs.events(&sub).unwrap_or_default().into_iter().filter(|n| glob_match(name, n)).collect()
        } else {
            vec![name.to_string()]
        };
        for n in names {
            if let Some(id) = fs.event_id(&sub, &n) {
                out.push(Event {
                    name: format!("{sub}:{n}"),
                    kind: EventKind::Tracepoint { subsystem: sub.clone(), name: n, id },
                });
            }
        }
    }
    if out.is_empty() {
        // Distinguish "tracefs unreadable" from "nothing matches".
        fs.subsystems()?;
        return Err(EventError::NoTracepoint(spec.to_string()));
    }
    Ok(out)
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Shell-style glob match: `*`, `?` and `[abc]`/`[a-z]`/`[!a]` classes.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with single-star backtracking.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class_match(&p, pi, t[ti]) {
                        if matched {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns (matched, index after `]`),
/// or `None` when the class is not closed (then `[` is literal).
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("sys_enter_*", "sys_enter_read"));
        assert!(!glob_match("sys_enter_*", "sys_exit_read"));
        assert!(glob_match("sched_sw?tch", "sched_switch"));
        assert!(glob_match("sys_e[nx]*_read", "sys_exit_read"));
        assert!(!glob_match("sys_e[!nx]*_read", "sys_exit_read"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(glob_match("[x", "[x"));
    }

    #[test]
    fn software_aliases_are_canonical() {
        assert_eq!(named_event("cs").unwrap().name, "context-switches");
        assert_eq!(named_event("faults").unwrap().name, "page-faults");
        assert_eq!(named_event("cpu-cycles").unwrap().name, "cycles");
        assert!(matches!(named_event("nonsense"), Err(EventError::Unknown(_))));
    }

    #[test]
    fn comma_lists_and_duplicates() {
        let l = EventList::parse(&["cs,task-clock", "context-switches"], None).unwrap();
        let names: Vec<&str> = l.events().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["context-switches", "task-clock"]);
        assert!(matches!(EventList::parse(&["cs,,x"], None), Err(EventError::Empty(_))));
        let l = EventList::parse(&["uprobe:/bin/app:ns::f(int, std::map<int, int>),cs"], None).unwrap();
        let names: Vec<&str> = l.events().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["uprobe:/bin/app:ns::f(int, std::map<int, int>)", "context-switches"]);
        let l = EventList::parse(
            &["uprobe:/bin/app:ns::V::operator<<,cs,uprobe:/bin/app:ns::V::operator->"],
            None,
        )
        .unwrap();
        let names: Vec<&str> = l.events().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["uprobe:/bin/app:ns::V::operator<<", "context-switches", "uprobe:/bin/app:ns::V::operator->"]
        );
    }

    #[test]
    fn tracepoints_from_a_fake_tree() {
        let dir = std::env::temp_dir().join(format!("cperf-tracefs-{}", std::process::id()));
        for (sub, name, id) in [
            ("syscalls", "sys_enter_read", 1),
            ("syscalls", "sys_exit_read", 2),
            ("sched", "sched_switch", 3),
        ] {
            let d = dir.join("events").join(sub).join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("id"), format!("{id}\n")).unwrap();
        }
        let fs = Tracefs::at(&dir);
        let l = EventList::parse(&["syscalls:sys_enter_*,sched:sched_switch"], Some(&fs)).unwrap();
        let names: Vec<&str> = l.events().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["syscalls:sys_enter_read", "sched:sched_switch"]);
        assert_eq!(l.events()[0].syscall(), Some((true, "read")));
        assert!(matches!(
            EventList::parse(&["syscalls:nope_*"], Some(&fs)),
            Err(EventError::NoTracepoint(_))
        ));
        assert!(matches!(EventList::parse(&["nosuch:thing"], Some(&fs)), Err(EventError::NoTracepoint(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
