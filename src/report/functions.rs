//! Top functions: how many samples each function holds itself (the sample's innermost frame is in
//! it) and in total (it is anywhere on the sample's stack), over the whole report, per target and
//! per process. Inlined functions count as functions of their own, as their source says they are.

use std::collections::{HashMap, HashSet};

use sampler::recording::ModuleKind;

use super::profile::{Count, NamedFrame, Profile, Side, SourceLine};

/// One function's samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRow {
    pub function: String,
    /// Its module's short name.
    pub module: String,
    /// Where its samples fall most: the source file and line (for its self samples, else any).
    pub file: Option<String>,
    pub line: u32,
    /// Samples whose innermost frame is in it.
    pub self_samples: u64,
    /// Samples with it anywhere on the stack (once per sample).
    pub total_samples: u64,
    /// For code without a name (`[libc.so.6]`), why it has none.
    pub unknown: Option<String>,
}

/// A group of samples and its top functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// What the samples have in common (`container 'web' (…)`, `4242 hot`).
    pub label: String,
    /// The process's name, for process sections.
    pub name: String,
    /// The target index (per-target sections) or pid (per-process sections).
    pub key: u32,
    /// Index of the target, for process sections too.
    pub target: u32,
    pub samples: u64,
    /// By self samples, then total samples, then name; at most the limit asked for.
    pub functions: Vec<FunctionRow>,
}

/// One function's samples in a set of counts.
#[derive(Debug, Default)]
struct FunctionTally {
    own: u64,
    total: u64,
    /// Self samples per (file, line).
    lines: HashMap<(Option<String>, u32), u64>,
    /// Where it was first seen, for a function without self samples.
    first: (Option<String>, u32),
    /// Why it has no name, for unnamed code.
    unknown: Option<String>,
}

/// The functions of a set of counts.
#[derive(Debug, Default)]
struct Tally {
    samples: u64,
    /// By (function, module id).
    functions: HashMap<(String, u32), FunctionTally>,
}

impl Tally {
    fn add(&mut self, profile: &Profile, count: &Count, side: Side) {
        let frames = profile.stack(count.stack, side);
        if frames.is_empty() && side != Side::Both {
            return;
        }
        self.samples += count.samples;
        // Functions already counted for this stack (unnamed code by its address).
        let mut seen: HashSet<(String, u32)> = HashSet::new();
        for (depth, &id) in frames.iter().enumerate() {
            let Some(frame) = profile.frame(id) else { continue };
            let lines: Vec<Option<&SourceLine>> =
                if frame.lines.is_empty() { vec![None] } else { frame.lines.iter().map(Some).collect() };
            for (inner, line) in lines.into_iter().enumerate() {
                let name = line.map_or_else(|| unknown_name(profile, frame), |l| l.function.clone());
                let first = seen.insert((name.clone(), frame.module));
                let leaf = depth == 0 && inner == 0;
                if !first && !leaf {
                    continue;
                }
                let (file, number) = line.map_or((None, 0), |l| (l.file.clone(), l.line));
                let f = self.functions.entry((name, frame.module)).or_insert_with(|| FunctionTally {
                    first: (file.clone(), number),
                    unknown: if line.is_none() { frame.unknown.clone() } else { None },
                    ..FunctionTally::default()
                });
                if first {
                    f.total += count.samples;
                }
                if leaf {
                    f.own += count.samples;
                    *f.lines.entry((file, number)).or_default() += count.samples;
                }
            }
        }
    }

    /// The top `limit` rows, by self samples (or by total samples).
    fn rows(&self, profile: &Profile, limit: usize, by_total: bool) -> Vec<FunctionRow> {
        let mut rows: Vec<FunctionRow> = self
            .functions
            .iter()
            .filter(|(_, f)| if by_total { f.total > 0 } else { f.own > 0 })
            .map(|((function, module), f)| {
                let (file, line) = f
                    .lines
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map_or_else(|| f.first.clone(), |((file, line), _)| (file.clone(), *line));
                FunctionRow {
                    function: function.clone(),
                    module: profile
                        .module(*module)
                        .map_or_else(|| "[unknown]".into(), |m| m.short_name().to_owned()),
                    file,
                    line,
                    self_samples: f.own,
                    total_samples: f.total,
                    unknown: f.unknown.clone(),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            let key = |r: &FunctionRow| {
                if by_total {
                    (r.total_samples, r.self_samples)
                } else {
                    (r.self_samples, r.total_samples)
                }
            };
            key(b)
                .cmp(&key(a))
                .then_with(|| a.function.cmp(&b.function))
                .then_with(|| a.module.cmp(&b.module))
        });
        rows.truncate(limit);
        rows
    }
}

/// The name of a frame without one, kept as its address as flame graph tools show one: its
/// module's name and the file offset (`[libc.so.6+0x29d90]`), the module and the address for
/// kernel and JIT code (`[kernel.kallsyms@0xffffffff81234567]`, `[anon@0x7f3a…]`), the bare address
/// for one in no known mapping (`0x7f3a…`). Different code gives different rows.
pub fn unknown_name(profile: &Profile, frame: &NamedFrame) -> String {
    let Some(module) = profile.module(frame.module) else { return format!("{:#x}", frame.offset) };
    let name = module.short_name();
    let name = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
    match module.kind {
        ModuleKind::Elf | ModuleKind::Vdso => format!("[{name}+{:#x}]", frame.offset),
        ModuleKind::Kernel | ModuleKind::Anonymous => format!("[{name}@{:#x}]", frame.offset),
        ModuleKind::Unmapped => format!("{:#x}", frame.offset),
    }
}

/// Every table of a text or JSON report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// The samples the tables count (with `--user-only`/`--kernel-only`, those with frames left).
    pub samples: u64,
    /// By self samples.
    pub by_self: Vec<FunctionRow>,
    /// By total samples.
    pub by_total: Vec<FunctionRow>,
    /// One per target with samples, most samples first.
    pub targets: Vec<Section>,
    /// One per process with samples, most samples first.
    pub processes: Vec<Section>,
}

/// The tables: `top` rows overall, `per_section` rows per target and per process.
pub fn tables(profile: &Profile, side: Side, top: usize, per_section: usize) -> Tables {
    let mut all = Tally::default();
    let mut targets: HashMap<u32, Tally> = HashMap::new();
    let mut processes: HashMap<u32, (Tally, u32, u32)> = HashMap::new();
    for count in &profile.counts {
        all.add(profile, count, side);
        targets.entry(count.target).or_default().add(profile, count, side);
        let p = processes.entry(count.pid).or_insert_with(|| (Tally::default(), count.target, count.comm));
        p.0.add(profile, count, side);
    }
    let mut target_sections: Vec<Section> = targets
        .iter()
        .filter(|(_, t)| t.samples > 0)
        .map(|(&target, tally)| Section {
            label: profile
                .meta
                .targets
                .get(target as usize)
                .map_or_else(|| format!("target {target}"), |t| t.description.clone()),
            name: String::new(),
            key: target,
            target,
            samples: tally.samples,
            functions: tally.rows(profile, per_section, false),
        })
        .collect();
    target_sections.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.key.cmp(&b.key)));
    let mut process_sections: Vec<Section> = processes
        .iter()
        .filter(|(_, (t, _, _))| t.samples > 0)
        .map(|(&pid, (tally, target, comm))| Section {
            label: format!("{pid} {}", profile.process_name(pid, *comm)),
            name: profile.process_name(pid, *comm).to_owned(),
            key: pid,
            target: *target,
            samples: tally.samples,
            functions: tally.rows(profile, per_section, false),
        })
        .collect();
    process_sections.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.key.cmp(&b.key)));
    Tables {
        samples: all.samples,
        by_self: all.rows(profile, top, false),
        by_total: all.rows(profile, top, true),
        targets: target_sections,
        processes: process_sections,
    }
}
