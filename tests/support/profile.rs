//! Reading a recording back in tests: each sample's user leaf function, named the way `cperf report`
//! will (SYMBOLS entries for ELF, kernel and vDSO frames; the process's last perf map for JIT code).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use sampler::recording::{Entry, ModuleKind, RecordingReader, Summary};
use symbolizer::perfmap::PerfMap;

use super::stacks::{StackFrame, UserStack};

/// What a recording says, reduced to what tests check.
#[derive(Debug, Default)]
pub struct Profile {
    /// Samples per user leaf function name (`[unknown]` when unnamed).
    pub leaves: BTreeMap<String, u64>,
    /// Samples per target index, then per user leaf function.
    pub by_target: BTreeMap<u32, BTreeMap<String, u64>>,
    /// Samples whose leaf is a kernel frame, per kernel function (`[unknown]` when unnamed).
    pub kernel_leaves: BTreeMap<String, u64>,
    /// Samples per process name (the last COMM of the process's main thread).
    pub comms: BTreeMap<String, u64>,
    /// All samples.
    pub samples: u64,
    /// Lost records.
    pub lost: u64,
    /// The summary, if the recorder ended cleanly.
    pub summary: Option<Summary>,
    /// The damage report, if reading stopped early.
    pub damage: Option<String>,
    /// Module path → MODULE_STATUS symbols text.
    pub module_status: BTreeMap<String, String>,
    /// Module path → build-id (hex) the file read had.
    pub module_build_ids: BTreeMap<String, String>,
    /// Pids that have PERF_MAP data.
    pub perf_map_pids: Vec<u32>,
    /// Frames with a SYMBOLS entry / all frames.
    pub frames_named: (u64, u64),
    /// Frames with no SYMBOLS entry (neither names nor a reason), by the time of the first sample that
    /// used them; JIT frames, named by perf maps, are not counted.
    pub unnamed_frames_first_seen: Vec<u64>,
    /// The time of the last sample.
    pub last_sample_time: u64,
    /// When sampling began (META `start_time`, the records' clock).
    pub start_time: u64,
    /// Each sample's user frames, root first, named as for [`Profile::leaves`], in the form the
    /// unwinding tests compare with perf's.
    pub user_stacks: Vec<UserStack>,
}

struct Frame {
    module: u32,
    offset: u64,
}

/// Reads a recording.
pub fn read(path: &Path) -> Profile {
    let mut r = RecordingReader::open(path).unwrap_or_else(|e| panic!("cannot open recording: {e}"));
    let mut strings: HashMap<u32, String> = HashMap::new();
    let mut modules: HashMap<u32, (ModuleKind, String, u32)> = HashMap::new();
    let mut frames: HashMap<u32, Frame> = HashMap::new();
    let mut names: HashMap<u32, String> = HashMap::new();
    let mut stacks: HashMap<u32, (u32, Vec<u32>)> = HashMap::new();
    let mut perf_maps: HashMap<u32, Vec<u8>> = HashMap::new();
    let mut comm_of: HashMap<u32, String> = HashMap::new();
    let mut thread_comm: HashMap<u32, String> = HashMap::new();
    // Samples are resolved at the end: names and perf maps may come after the samples.
    let mut samples: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut first_seen: HashMap<u32, u64> = HashMap::new();
    let mut symbolized: std::collections::HashSet<u32> = Default::default();
    let mut sample_stacks: Vec<(u64, u32)> = Vec::new();
    let mut p = Profile { start_time: r.meta().start_time, ..Profile::default() };
    while let Some(e) = r.next_entry().unwrap() {
        match e {
            Entry::Str { id, text } => {
                strings.insert(id, String::from_utf8_lossy(&text).into_owned());
            }
            Entry::Module { id, kind, path, pid, .. } => {
                modules.insert(id, (kind, String::from_utf8_lossy(&path).into_owned(), pid));
            }
            Entry::ModuleStatus { id, build_id, symbols } => {
                let path = modules.get(&id).map(|m| m.1.clone()).unwrap_or_default();
                p.module_status.insert(path.clone(), String::from_utf8_lossy(&symbols).into_owned());
                p.module_build_ids.insert(path, build_id.iter().map(|b| format!("{b:02x}")).collect());
            }
            Entry::Frame { id, module, offset, .. } => {
                frames.insert(id, Frame { module, offset });
            }
            Entry::Symbols { frame, lines, .. } => {
                symbolized.insert(frame);
                if let Some(l) = lines.last() {
                    names.insert(frame, strings.get(&l.function).cloned().unwrap_or_default());
                }
            }
            Entry::Stack { id, kernel, frames } => {
                stacks.insert(id, (kernel, frames));
            }
            Entry::Sample { pid, tid, stack, target, time, .. } => {
                samples.push((pid, tid, stack, target));
                sample_stacks.push((time, stack));
            }
            Entry::PerfMap { pid, reset, data } => {
                let m = perf_maps.entry(pid).or_default();
                if reset {
                    m.clear();
                }
                m.extend_from_slice(&data);
            }
            Entry::Comm { pid, tid, name, .. } => {
                let name = String::from_utf8_lossy(&name).into_owned();
                if pid == tid {
                    comm_of.insert(pid, name.clone());
                }
                thread_comm.insert(tid, name);
            }
            Entry::Lost { count, .. } => p.lost += count,
            _ => {}
        }
    }
    let maps: HashMap<u32, PerfMap> =
        perf_maps.iter().map(|(&pid, text)| (pid, PerfMap::parse(text))).collect();
    p.perf_map_pids = maps.keys().copied().collect();
    p.frames_named = (names.len() as u64, frames.len() as u64);
    for &(time, stack) in &sample_stacks {
        for id in &stacks[&stack].1 {
            let t = first_seen.entry(*id).or_insert(time);
            *t = (*t).min(time);
        }
        p.last_sample_time = p.last_sample_time.max(time);
    }
    p.unnamed_frames_first_seen = frames
        .iter()
        .filter(|(id, f)| !symbolized.contains(id) && !matches!(modules[&f.module].0, ModuleKind::Anonymous))
        .filter_map(|(id, _)| first_seen.get(id).copied())
        .collect();
    // A frame's function as `report` names it: SYMBOLS for files, the process's perf map for JIT code.
    let function_of = |id: u32| {
        let f = &frames[&id];
        let (kind, _, owner) = &modules[&f.module];
        match kind {
            ModuleKind::Anonymous => maps.get(owner).and_then(|m| m.lookup(f.offset)).map(|s| s.name.clone()),
            _ => names.get(&id).cloned(),
        }
    };
    for (pid, tid, stack, target) in samples {
        p.samples += 1;
        let (kernel, ids) = &stacks[&stack];
        let user = ids.get(*kernel as usize..).unwrap_or_default();
        let frames = user
            .iter()
            .rev()
            .map(|&id| {
                let path = &modules[&frames[&id].module].1;
                let module = path.rsplit('/').next().filter(|m| !m.is_empty() && *m != "[unknown]");
                let module = module.unwrap_or("?");
                StackFrame { module: module.to_owned(), function: function_of(id) }
            })
            .collect();
        let comm = thread_comm.get(&tid).or(comm_of.get(&pid)).cloned().unwrap_or_default();
        p.user_stacks.push(UserStack { comm, tid, frames });
        if *kernel > 0 {
            let name = names.get(&ids[0]).cloned().unwrap_or_else(|| "[unknown]".into());
            *p.kernel_leaves.entry(name).or_default() += 1;
        }
        let leaf = ids.get(*kernel as usize).or(ids.first()).copied();
        let name = leaf.and_then(function_of);
        let name = name.unwrap_or_else(|| "[unknown]".into());
        *p.by_target.entry(target).or_default().entry(name.clone()).or_default() += 1;
        *p.leaves.entry(name).or_default() += 1;
        *p.comms.entry(comm_of.get(&pid).cloned().unwrap_or_default()).or_default() += 1;
    }
    p.summary = r.summary().cloned();
    p.damage = r.damage().map(|d| d.to_string());
    p
}

impl Profile {
    /// The share of samples whose user leaf is `function`.
    pub fn share(&self, function: &str) -> f64 {
        self.leaves.get(function).copied().unwrap_or(0) as f64 / self.samples.max(1) as f64
    }
}
