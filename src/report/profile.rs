//! A recording read into a [`Profile`]: samples are counted by (target, process, thread, thread name,
//! stack) as they stream by, so memory grows with the number of distinct stacks, never with the
//! number of samples; frames are named at the end, from the recording alone (its SYMBOLS entries,
//! and the perf maps it copied for JIT code, searched for the sampled JIT addresses only: memory
//! for perf maps is their text, not ten times it as when every version was parsed).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use sampler::recording::{Entry, Meta, ModuleKind, RecordingReader, Summary};
use symbolizer::perfmap::name_addresses;

/// The most distinct values kept per process for `--retval`; calls returning further new values
/// are only counted.
pub const MAX_DISTINCT_VALUES: usize = 1 << 16;

/// Which samples, and which part of their stacks, a report is about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Targets (containers, processes, …) by what the recorder was given, their cgroup, or the
    /// name quoted in their description (a container's name); empty means all.
    pub targets: Vec<String>,
    /// Processes; empty means all.
    pub pids: Vec<u32>,
    /// Threads; empty means all.
    pub tids: Vec<u32>,
    /// Thread names; empty means all.
    pub comms: Vec<String>,
    /// Seconds from the start of the recording: samples in `[start, end)` only.
    pub window: Option<(f64, Option<f64>)>,
    /// Which frames of each stack.
    pub side: Side,
}

/// Which frames of a stack a report keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Side {
    /// All of them.
    #[default]
    Both,
    /// Samples taken in the kernel, with their kernel frames only.
    KernelOnly,
    /// The user frames of every sample (a sample taken in the kernel counts for the user code
    /// that entered it); samples without user frames are left out.
    UserOnly,
}

/// Samples with the same target, process, thread, thread name and stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// Index into the recording's targets.
    pub target: u32,
    pub pid: u32,
    pub tid: u32,
    /// The thread's name when sampled (index into [`Profile::comms`]).
    pub comm: u32,
    /// Stack id.
    pub stack: u32,
    /// Samples.
    pub samples: u64,
    /// The events they stand for (nanoseconds for cpu-clock and task-clock).
    pub period: u64,
}

/// What kind of code a frame is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    Kernel,
    User,
    /// JIT code (anonymous executable memory), named by a perf map.
    Jit,
}

/// One source line of a named frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    pub function: String,
    /// The source file, when known.
    pub file: Option<String>,
    /// The line, 0 when unknown.
    pub line: u32,
}

/// A frame, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFrame {
    pub kind: CodeKind,
    /// Module id.
    pub module: u32,
    /// The offset the recording gives (file offset, kernel address, or address).
    pub offset: u64,
    /// Innermost inlined function first, the function that holds the code last; empty when the
    /// frame has no name.
    pub lines: Vec<SourceLine>,
    /// Why it has no name, when it has none.
    pub unknown: Option<String>,
}

/// A module of the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub kind: ModuleKind,
    /// Its path (`[kernel.kallsyms]`, `[vdso]`, `//anon` for JIT memory).
    pub path: String,
    /// The build-id of the file read (or the kernel's), lower-case hex.
    pub build_id: String,
}

impl Module {
    /// The name shown in reports: the path's last component.
    pub fn short_name(&self) -> &str {
        self.path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(&self.path)
    }
}

/// A recording, read and counted.
#[derive(Debug)]
pub struct Profile {
    pub meta: Meta,
    pub summary: Option<Summary>,
    /// What a reader of the report should know: damage, unreadable entries.
    pub warnings: Vec<String>,
    /// Counts, in no particular order.
    pub counts: Vec<Count>,
    /// Samples that passed the filters.
    pub samples: u64,
    /// All samples in the recording.
    pub all_samples: u64,
    /// Lost samples and records the recording reports.
    pub lost: u64,
    /// Thread names.
    pub comms: Vec<String>,
    /// The name of each process (its main thread's last name).
    pub process_names: HashMap<u32, u32>,
    /// Which targets the filters kept (all when no filter names one).
    pub kept_targets: Vec<u32>,
    /// The times of the first and last samples kept.
    pub sample_times: Option<(u64, u64)>,
    /// The values the kept samples carry (META `value`: return values), counted by target and
    /// process: `(target, pid)` → raw value → samples.
    pub values: HashMap<(u32, u32), HashMap<i64, u64>>,
    /// Per target and pid, the samples whose value was not kept: new values after
    /// [`MAX_DISTINCT_VALUES`] distinct ones.
    pub values_not_kept: HashMap<(u32, u32), u64>,
    /// The time window asked for, on the recording's clock.
    window: Option<(u64, u64)>,
    /// The time of the last sample in the recording, kept or not.
    last_sample: Option<u64>,
    frames: HashMap<u32, NamedFrame>,
    modules: HashMap<u32, Module>,
    stacks: HashMap<u32, (u32, Vec<u32>)>,
}

/// Frames as the recording gives them, before naming.
#[derive(Debug, Default)]
struct Raw {
    strings: HashMap<u32, String>,
    /// Frame → (module, offset, whether the offset is a return address).
    frames: HashMap<u32, (u32, u64, bool)>,
    symbols: HashMap<u32, (Vec<sampler::recording::Line>, u32)>,
    module_pids: HashMap<u32, u32>,
    /// Perf map versions per process, oldest first.
    perf_maps: HashMap<u32, Vec<Vec<u8>>>,
}

impl Profile {
    /// Reads and counts the recording at `path`.
    pub fn read(path: &Path, filters: &Filters) -> anyhow::Result<Profile> {
        let reader = RecordingReader::open(path)?;
        Profile::from_reader(reader, filters)
    }

    /// Reads and counts a recording from an open reader.
    pub fn from_reader<R: std::io::Read>(
        mut r: RecordingReader<R>,
        filters: &Filters,
    ) -> anyhow::Result<Profile> {
        let meta = r.meta().clone();
        let kept_targets = kept_targets(&meta, &filters.targets)?;
        let start = meta.start_time;
        let window = filters.window.map(|(from, to)| {
            let at = |secs: f64| start.saturating_add((secs.max(0.0) * 1e9) as u64);
            (at(from), to.map_or(u64::MAX, at))
        });
        let mut p = Profile {
            meta,
            summary: None,
            warnings: Vec::new(),
            counts: Vec::new(),
            samples: 0,
            all_samples: 0,
            lost: 0,
            comms: Vec::new(),
            process_names: HashMap::new(),
            kept_targets,
            sample_times: None,
            values: HashMap::new(),
            values_not_kept: HashMap::new(),
            window,
            last_sample: None,
            frames: HashMap::new(),
            modules: HashMap::new(),
            stacks: HashMap::new(),
        };
        let mut raw = Raw::default();
        let mut comm_ids: HashMap<String, u32> = HashMap::new();
        let mut thread_comm: HashMap<u32, u32> = HashMap::new();
        let mut index: HashMap<(u32, u32, u32, u32, u32), usize> = HashMap::new();
        let mut intern = |comms: &mut Vec<String>, name: &[u8]| -> u32 {
            let name = String::from_utf8_lossy(name).into_owned();
            *comm_ids.entry(name.clone()).or_insert_with(|| {
                comms.push(name);
                (comms.len() - 1) as u32
            })
        };
        let unknown_thread = intern(&mut p.comms, b"[unknown]");
        while let Some(entry) = r.next_entry().context("reading the recording")? {
            match entry {
                Entry::Str { id, text } => {
                    raw.strings.insert(id, String::from_utf8_lossy(&text).into_owned());
                }
                Entry::Module { id, kind, path, build_id, pid } => {
                    raw.module_pids.insert(id, pid);
                    let path = String::from_utf8_lossy(&path).into_owned();
                    p.modules.insert(id, Module { kind, path, build_id: hex(&build_id) });
                }
                Entry::ModuleStatus { id, build_id, .. } => {
                    if let Some(m) = p.modules.get_mut(&id) {
                        if !build_id.is_empty() {
                            m.build_id = hex(&build_id);
                        }
                    }
                }
                Entry::Frame { id, module, offset, caller } => {
                    raw.frames.insert(id, (module, offset, caller));
                }
                Entry::Symbols { frame, lines, unknown } => {
                    raw.symbols.insert(frame, (lines, unknown));
                }
                Entry::Stack { id, kernel, frames } => {
                    p.stacks.insert(id, (kernel, frames));
                }
                Entry::PerfMap { pid, reset, data } => {
                    let versions = raw.perf_maps.entry(pid).or_default();
                    if reset || versions.is_empty() {
                        versions.push(Vec::new());
                    }
                    if let Some(current) = versions.last_mut() {
                        current.extend_from_slice(&data);
                    }
                }
                Entry::Comm { pid, tid, name, .. } => {
                    let comm = intern(&mut p.comms, &name);
                    thread_comm.insert(tid, comm);
                    if pid == tid {
                        p.process_names.insert(pid, comm);
                    }
                }
                // A new thread or process is named as its parent until it is renamed (a COMM entry
                // comes only with a rename or an exec).
                Entry::Fork { pid, tid, ptid, .. } => {
                    if let Some(&comm) = thread_comm.get(&ptid) {
                        thread_comm.insert(tid, comm);
                        if pid == tid {
                            p.process_names.insert(pid, comm);
                        }
                    }
                }
                // A process that predates the recording: until a COMM names it, its executable's
                // file name.
                Entry::Process { pid, exe, .. } => {
                    if let Some(name) = raw.strings.get(&exe).and_then(|path| path.rsplit('/').next()) {
                        if !name.is_empty() && !p.process_names.contains_key(&pid) {
                            let comm = intern(&mut p.comms, name.as_bytes());
                            p.process_names.insert(pid, comm);
                            thread_comm.entry(pid).or_insert(comm);
                        }
                    }
                }
                Entry::Lost { count, .. } => p.lost = p.lost.saturating_add(count),
                Entry::Sample { time, pid, tid, target, period, stack, value, .. } => {
                    p.all_samples += 1;
                    p.last_sample = Some(p.last_sample.map_or(time, |t| t.max(time)));
                    let comm = thread_comm.get(&tid).copied().unwrap_or(unknown_thread);
                    let kept = p.kept_targets.contains(&target)
                        && (filters.pids.is_empty() || filters.pids.contains(&pid))
                        && (filters.tids.is_empty() || filters.tids.contains(&tid))
                        && (filters.comms.is_empty()
                            || filters.comms.iter().any(|c| *c == p.comms[comm as usize]))
                        && window.is_none_or(|(from, to)| time >= from && time < to);
                    if !kept {
                        continue;
                    }
                    p.samples += 1;
                    p.sample_times = Some(match p.sample_times {
                        Some((first, last)) => (first.min(time), last.max(time)),
                        None => (time, time),
                    });
                    let key = (target, pid, tid, comm, stack);
                    let at = *index.entry(key).or_insert_with(|| {
                        p.counts.push(Count { target, pid, tid, comm, stack, samples: 0, period: 0 });
                        p.counts.len() - 1
                    });
                    p.counts[at].samples += 1;
                    p.counts[at].period = p.counts[at].period.saturating_add(period);
                    if let Some(v) = value {
                        let values = p.values.entry((target, pid)).or_default();
                        let full = values.len() >= MAX_DISTINCT_VALUES;
                        match values.get_mut(&v) {
                            Some(n) => *n += 1,
                            None if !full => {
                                values.insert(v, 1);
                            }
                            // Memory stays bounded (malloc's return values are all different).
                            None => *p.values_not_kept.entry((target, pid)).or_insert(0) += 1,
                        }
                    }
                }
                _ => {}
            }
        }
        p.summary = r.summary().cloned();
        if let Some(damage) = r.damage() {
            p.warnings.push(format!(
                "the recording is damaged ({damage}); this report covers what comes before{}",
                if p.summary.is_none() { ", and its recorder did not end cleanly" } else { "" }
            ));
        } else if p.summary.is_none() {
            p.warnings.push(
                "the recording has no summary: its recorder was killed or crashed; this report covers what it wrote"
                    .into(),
            );
        }
        if r.malformed_chunks() > 0 {
            p.warnings
                .push(format!("{} chunks held entries that could not be decoded", r.malformed_chunks()));
        }
        if let (Some((from, _)), Some((secs, _))) = (p.window, filters.window) {
            let length = p.recording_ns();
            if from.saturating_sub(p.meta.start_time) >= length && secs > 0.0 {
                bail!(
                    "--time starts at {secs} s, past the end of the recording: it is {:.1} s long; give a START below that",
                    length as f64 / 1e9
                );
            }
        }
        p.name_frames(raw);
        Ok(p)
    }

    /// Names every frame from the recording's SYMBOLS entries and perf maps.
    fn name_frames(&mut self, raw: Raw) {
        // Perf maps are read for the addresses frames need, not parsed whole (a map of many small
        // lines would take about ten times its size).
        let mut wanted: HashMap<u32, Vec<u64>> = HashMap::new();
        for &(module, offset, caller) in raw.frames.values() {
            if self.modules.get(&module).is_some_and(|m| m.kind == ModuleKind::Anonymous) {
                let owner = raw.module_pids.get(&module).copied().unwrap_or(0);
                wanted.entry(owner).or_default().push(offset.saturating_sub(u64::from(caller)));
            }
        }
        let jit_names: HashMap<u32, HashMap<u64, String>> = wanted
            .iter()
            .filter_map(|(pid, addrs)| {
                let versions = raw.perf_maps.get(pid)?;
                Some((*pid, name_addresses(versions.iter().map(Vec::as_slice), addrs)))
            })
            .collect();
        let string = |id: u32| raw.strings.get(&id).cloned().filter(|s| !s.is_empty());
        for (&id, &(module, offset, caller)) in &raw.frames {
            let kind = self.modules.get(&module).map(|m| m.kind).unwrap_or(ModuleKind::Unmapped);
            let code = match kind {
                ModuleKind::Kernel => CodeKind::Kernel,
                ModuleKind::Anonymous => CodeKind::Jit,
                _ => CodeKind::User,
            };
            let (lines, unknown) = match kind {
                ModuleKind::Anonymous => {
                    let owner = raw.module_pids.get(&module).copied().unwrap_or(0);
                    // The newest version of the process's map that names the address (for a return
                    // address, the call before it: the call may be the function's last instruction).
                    let at = offset.saturating_sub(u64::from(caller));
                    let named = jit_names.get(&owner).and_then(|names| names.get(&at));
                    match named {
                        Some(name) => {
                            (vec![SourceLine { function: name.clone(), file: None, line: 0 }], None)
                        }
                        None if raw.perf_maps.contains_key(&owner) => {
                            (Vec::new(), Some("not in the JIT's perf map".into()))
                        }
                        None => (Vec::new(), Some("JIT code without a perf map".into())),
                    }
                }
                ModuleKind::Unmapped => (Vec::new(), Some("in no known mapping".into())),
                _ => match raw.symbols.get(&id) {
                    Some((lines, unknown)) if !lines.is_empty() => (
                        lines
                            .iter()
                            .map(|l| SourceLine {
                                function: string(l.function).unwrap_or_else(|| "[unknown]".into()),
                                file: string(l.file),
                                line: l.line,
                            })
                            .collect(),
                        string(*unknown),
                    ),
                    Some((_, unknown)) => {
                        (Vec::new(), Some(string(*unknown).unwrap_or_else(|| "no name recorded".into())))
                    }
                    None => (Vec::new(), Some("no name recorded (the recorder stopped first)".into())),
                },
            };
            self.frames.insert(id, NamedFrame { kind: code, module, offset, lines, unknown });
        }
    }

    /// A frame by id (`None` for an id the recording never defined).
    pub fn frame(&self, id: u32) -> Option<&NamedFrame> {
        self.frames.get(&id)
    }

    /// A module by id.
    pub fn module(&self, id: u32) -> Option<&Module> {
        self.modules.get(&id)
    }

    /// The frame ids of a stack as the report shows it, leaf first: all, the kernel ones or the
    /// user ones (see [`Side`]). Empty for an unknown stack, or when nothing of it is kept.
    pub fn stack(&self, id: u32, side: Side) -> &[u32] {
        let Some((kernel, frames)) = self.stacks.get(&id) else { return &[] };
        let kernel = (*kernel as usize).min(frames.len());
        match side {
            Side::Both => frames,
            Side::KernelOnly => &frames[..kernel],
            Side::UserOnly => &frames[kernel..],
        }
    }

    /// The name of thread-name index `comm`.
    pub fn comm(&self, comm: u32) -> &str {
        self.comms.get(comm as usize).map_or("[unknown]", String::as_str)
    }

    /// The name of a process: its main thread's, else that of the first thread sampled.
    pub fn process_name(&self, pid: u32, fallback: u32) -> &str {
        self.comm(self.process_names.get(&pid).copied().unwrap_or(fallback))
    }

    /// How long the report covers: the recording, from its start to its summary's end (else to
    /// its last sample), within the time window asked for.
    pub fn duration_ns(&self) -> u64 {
        let end = self.summary.as_ref().map(|s| s.end_time).filter(|&t| t > 0);
        let end = end.or(self.sample_times.map(|(_, last)| last)).unwrap_or(self.meta.start_time);
        let (from, to) = self.window.unwrap_or((self.meta.start_time, u64::MAX));
        end.min(to).saturating_sub(from.max(self.meta.start_time))
    }

    /// How long the whole recording is: from its start to its summary's end, else to its last
    /// sample (whatever the filters).
    pub fn recording_ns(&self) -> u64 {
        let end = self.summary.as_ref().map(|s| s.end_time).filter(|&t| t > 0);
        let end = end.or(self.last_sample).unwrap_or(self.meta.start_time);
        end.saturating_sub(self.meta.start_time)
    }

    /// Whether `--time` was given.
    pub fn window_given(&self) -> bool {
        self.window.is_some()
    }

    /// The kept samples that have frames left on `side` (all kept samples for [`Side::Both`]):
    /// what the tables and graphs count.
    pub fn samples_with_frames(&self, side: Side) -> u64 {
        if side == Side::Both {
            return self.samples;
        }
        self.counts.iter().filter(|c| !self.stack(c.stack, side).is_empty()).map(|c| c.samples).sum()
    }

    /// What the report is about, for titles: the kept targets' descriptions.
    pub fn targets_description(&self) -> String {
        let names: Vec<&str> = self
            .kept_targets
            .iter()
            .filter_map(|&t| self.meta.targets.get(t as usize))
            .map(|t| t.description.as_str())
            .collect();
        names.join(", ")
    }
}

/// The targets the filters keep; an error naming what the recording has when one matches nothing.
fn kept_targets(meta: &Meta, wanted: &[String]) -> anyhow::Result<Vec<u32>> {
    let all: Vec<u32> = (0..meta.targets.len() as u32).collect();
    if wanted.is_empty() {
        return Ok(all);
    }
    let mut kept = Vec::new();
    for w in wanted {
        let matches: Vec<u32> =
            all.iter().copied().filter(|&i| target_matches(&meta.targets[i as usize], w)).collect();
        if matches.is_empty() {
            let have: Vec<String> =
                meta.targets.iter().map(|t| format!("'{}' ({})", t.spec, t.description)).collect();
            bail!("no target '{w}' in this recording; it has: {}", have.join(", "));
        }
        kept.extend(matches);
    }
    kept.sort_unstable();
    kept.dedup();
    Ok(kept)
}

/// Whether `--container WANTED` names this target: what was given to record (`web`, `pid:42`), its
/// cgroup (`/web`, with or without slashes), its name, a word of its description (`docker`,
/// `runc`), or a container id or id prefix (at least 4 hex digits) found in its cgroup or
/// description (`50993dd8` for `/system.slice/docker-50993dd8….scope`).
fn target_matches(t: &sampler::recording::TargetMeta, wanted: &str) -> bool {
    let trimmed = wanted.trim_matches('/');
    if wanted.is_empty() {
        return false;
    }
    let words =
        || t.description.split(|c: char| c.is_whitespace() || "'\"(),".contains(c)).filter(|w| !w.is_empty());
    let cgroup = t.cgroup.as_deref().unwrap_or("");
    let prefix = trimmed.to_ascii_lowercase();
    let is_id_prefix = prefix.len() >= 4 && prefix.chars().all(|c| c.is_ascii_hexdigit());
    let mut ids = cgroup
        .split(|c: char| !c.is_ascii_alphanumeric())
        .chain(words())
        .filter(|part| part.len() >= 12 && part.chars().all(|c| c.is_ascii_hexdigit()));
    t.spec == wanted
        || (!cgroup.is_empty() && cgroup.trim_matches('/') == trimmed)
        || quoted(&t.description).any(|name| name == wanted)
        || words().any(|word| word == wanted || word.trim_matches('/') == trimmed)
        || (is_id_prefix && ids.any(|id| id.to_ascii_lowercase().starts_with(&prefix)))
}

/// The names quoted in a target's description: `web` in "container 'web' (runc, cgroup /web)".
fn quoted(description: &str) -> impl Iterator<Item = &str> {
    description.split('\'').skip(1).step_by(2)
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
