//! Loads `syscount.bpf.c` (compiled by `build.rs`) with aya, attaches it, and reads its counts.

use std::os::fd::OwnedFd;
use std::path::Path;

use aya::maps::{CgroupArray, HashMap, MapData, PerCpuArray};
use aya::programs::tp_btf::BtfTracePointLinkId;
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};

use super::{SyscallCounts, SyscallTarget, SyscountError, MAX_SYSCALLS, MAX_TARGETS};
use crate::sys::BpfSyscallCounts;

static PROGRAM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syscount.bpf.o"));

/// The two attached programs and the counts map.
pub struct SyscallCounter {
    ebpf: Ebpf,
    counts: PerCpuArray<MapData, BpfSyscallCounts>,
    programs: Vec<&'static str>,
    links: Vec<(&'static str, BtfTracePointLinkId)>,
    /// Task-tracking programs (fork/exec/exit), attached from load to drop.
    _trackers: Vec<BtfTracePointLinkId>,
    slots: usize,
}

impl std::fmt::Debug for SyscallCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyscallCounter")
            .field("slots", &self.slots)
            .field("attached", &!self.links.is_empty())
            .finish()
    }
}

const PROGRAMS: [(&str, &str); 2] = [("cperf_sys_enter", "sys_enter"), ("cperf_sys_exit", "sys_exit")];

/// Programs that keep the `followed` set of a task target up to date.
const TRACKERS: [(&str, &str); 3] = [
    ("cperf_fork", "sched_process_fork"),
    ("cperf_exec", "sched_process_exec"),
    ("cperf_exit", "sched_process_exit"),
];

impl SyscallCounter {
    /// Loads the programs for `target`; the exit program only when `exits` (syscall exits or errors
    /// are wanted). Nothing is counted until [`SyscallCounter::enable`]; a task target's set of
    /// followed threads is tracked from now on.
    pub fn load(target: &SyscallTarget<'_>, exits: bool) -> Result<Self, SyscountError> {
        let cgroups: &[&Path] = match target {
            SyscallTarget::Cgroups(c) => c,
            _ => &[],
        };
        if cgroups.len() > MAX_TARGETS {
            return Err(SyscountError::TooManyTargets);
        }
        let dirs = cgroups
            .iter()
            .map(|p| {
                std::fs::File::open(p)
                    .map(OwnedFd::from)
                    .map_err(|source| SyscountError::Cgroup { path: p.to_path_buf(), source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let slots = cgroups.len().max(1);
        let n_targets = cgroups.len() as u32;
        let follow_tasks = u32::from(matches!(target, SyscallTarget::Tasks { .. }));
        // Older kernels charge BPF maps to RLIMIT_MEMLOCK; newer ones ignore it.
        let _ = nix::sys::resource::setrlimit(
            nix::sys::resource::Resource::RLIMIT_MEMLOCK,
            nix::sys::resource::RLIM_INFINITY,
            nix::sys::resource::RLIM_INFINITY,
        );
        let mut ebpf = EbpfLoader::new()
            .override_global("n_targets", &n_targets, true)
            .override_global("follow_tasks", &follow_tasks, true)
            .map_max_entries("counts", slots as u32 * MAX_SYSCALLS)
            .load(PROGRAM)
            .map_err(|e| load_error(&e))?;
        if !dirs.is_empty() {
            let map =
                ebpf.map_mut("targets").ok_or_else(|| SyscountError::Load("no map 'targets'".into()))?;
            let mut targets = CgroupArray::try_from(map).map_err(|e| load_error(&e))?;
            for (i, dir) in dirs.iter().enumerate() {
                targets.set(i as u32, std::os::fd::AsRawFd::as_raw_fd(dir), 0).map_err(|e| load_error(&e))?;
            }
        }
        let btf = Btf::from_sys_fs().map_err(|e| load_error(&e))?;
        let programs: Vec<&'static str> = PROGRAMS
            .iter()
            .filter(|(name, _)| exits || *name != "cperf_sys_exit")
            .map(|(name, _)| *name)
            .collect();
        for (name, tracepoint) in PROGRAMS {
            if !programs.contains(&name) {
                continue;
            }
            program(&mut ebpf, name)?.load(tracepoint, &btf).map_err(|e| load_error(&e))?;
        }
        let mut trackers = Vec::new();
        if let SyscallTarget::Tasks { tids, on_exec } = target {
            // Track forks before seeding, so no thread created meanwhile is missed.
            for (name, tracepoint) in TRACKERS {
                let prog = program(&mut ebpf, name)?;
                prog.load(tracepoint, &btf).map_err(|e| load_error(&e))?;
                trackers.push(prog.attach().map_err(|e| load_error(&e))?);
            }
            seed(&mut ebpf, "followed", tids)?;
            seed(&mut ebpf, "armed", on_exec.as_slice())?;
        }
        let map = ebpf.take_map("counts").ok_or_else(|| SyscountError::Load("no map 'counts'".into()))?;
        let counts = PerCpuArray::try_from(map).map_err(|e| load_error(&e))?;
        Ok(SyscallCounter { ebpf, counts, programs, links: Vec::new(), _trackers: trackers, slots })
    }

    /// Attaches both programs: counting starts.
    pub fn enable(&mut self) -> Result<(), SyscountError> {
        if !self.links.is_empty() {
            return Ok(());
        }
        for name in self.programs.clone() {
            let link = program(&mut self.ebpf, name)?.attach().map_err(|e| load_error(&e))?;
            self.links.push((name, link));
        }
        Ok(())
    }

    /// Detaches both programs: counting stops.
    pub fn disable(&mut self) -> Result<(), SyscountError> {
        for (name, link) in std::mem::take(&mut self.links) {
            program(&mut self.ebpf, name)?.detach(link).map_err(|e| load_error(&e))?;
        }
        Ok(())
    }

    /// Totals for syscall `nr` in target slot `slot`.
    pub fn read(&self, slot: usize, nr: u32) -> Result<SyscallCounts, SyscountError> {
        if slot >= self.slots || nr >= MAX_SYSCALLS {
            return Ok(SyscallCounts::default());
        }
        let key = slot as u32 * MAX_SYSCALLS + nr;
        let per_cpu = self.counts.get(&key, 0).map_err(|e| SyscountError::Read(e.to_string()))?;
        let mut total = SyscallCounts::default();
        for c in per_cpu.iter() {
            total.enter += c.enter;
            total.exit += c.exit;
            total.errors += c.errors;
        }
        Ok(total)
    }
}

/// Puts thread ids into one of the task-set maps.
fn seed(ebpf: &mut Ebpf, map: &str, tids: &[u32]) -> Result<(), SyscountError> {
    let data = ebpf.map_mut(map).ok_or_else(|| SyscountError::Load(format!("no map '{map}'")))?;
    let mut set: HashMap<_, u32, u8> = HashMap::try_from(data).map_err(|e| load_error(&e))?;
    for tid in tids {
        set.insert(tid, 1, 0).map_err(|e| load_error(&e))?;
    }
    Ok(())
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut BtfTracePoint, SyscountError> {
    ebpf.program_mut(name)
        .ok_or_else(|| SyscountError::Load(format!("no program '{name}'")))?
        .try_into()
        .map_err(|e| load_error(&e))
}

fn load_error(e: &dyn std::error::Error) -> SyscountError {
    SyscountError::Load(crate::error_chain(e))
}
