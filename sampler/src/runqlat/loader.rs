//! Loads `runqlat.bpf.c` (compiled by `build.rs`) with aya, attaches it to the scheduler's BTF
//! tracepoints, and reads (and clears) its histograms.

use std::os::unix::fs::MetadataExt;

use aya::maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap};
use aya::programs::tp_btf::BtfTracePointLinkId;
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};

use super::{Histogram, Per, RunqlatConfig, RunqlatError, Unit, BUCKETS, MAX_TARGETS};
use crate::sys::{BpfHist, BpfHistKey};

static PROGRAM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/runqlat.bpf.o"));

/// The programs and the tracepoints they attach to.
const PROGRAMS: [(&str, &str); 3] = [
    ("cperf_runq_wakeup", "sched_wakeup"),
    ("cperf_runq_wakeup_new", "sched_wakeup_new"),
    ("cperf_runq_switch", "sched_switch"),
];

/// The attached programs and the histograms maps. Measuring stops when it is dropped.
pub struct RunQueueLatency {
    _ebpf: Ebpf,
    /// One histogram per target slot (with `Per::Target`): they only grow; the last totals read are
    /// kept, and an interval's histogram is the difference.
    target_hists: PerCpuArray<MapData, BpfHist>,
    last: Vec<Histogram>,
    slots: usize,
    /// Per process or thread (otherwise): entries are taken out as they are read.
    hists: PerCpuHashMap<MapData, BpfHistKey, BpfHist>,
    per: Per,
    _links: Vec<BtfTracePointLinkId>,
}

impl std::fmt::Debug for RunQueueLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunQueueLatency")
    }
}

impl RunQueueLatency {
    /// Loads and attaches the programs: measuring starts.
    pub fn load(config: &RunqlatConfig<'_>) -> Result<Self, RunqlatError> {
        if config.cgroups.len() > MAX_TARGETS {
            return Err(RunqlatError::TooManyTargets);
        }
        // A cgroup's id is its directory's inode number (kernfs_node->id).
        let ids = config
            .cgroups
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .map(|m| m.ino())
                    .map_err(|source| RunqlatError::Cgroup { path: p.to_path_buf(), source })
            })
            .collect::<Result<Vec<u64>, _>>()?;
        // Older kernels charge BPF maps to RLIMIT_MEMLOCK; newer ones ignore it.
        let _ = nix::sys::resource::setrlimit(
            nix::sys::resource::Resource::RLIMIT_MEMLOCK,
            nix::sys::resource::RLIM_INFINITY,
            nix::sys::resource::RLIM_INFINITY,
        );
        let n_targets = ids.len() as u32;
        let millis = u32::from(config.unit == Unit::Millis);
        let per: u32 = match config.per {
            Per::Target => 0,
            Per::Process => 1,
            Per::Thread => 2,
        };
        // aya has no typed wrapper for task-local storage, but creates the map; only the program
        // uses it.
        let mut ebpf = EbpfLoader::new()
            .allow_unsupported_maps()
            .override_global("n_targets", &n_targets, true)
            .override_global("millis", &millis, true)
            .override_global("per", &per, true)
            .load(PROGRAM)
            .map_err(|e| load_error(&e))?;
        {
            let map =
                ebpf.map_mut("target_ids").ok_or_else(|| RunqlatError::Load("no map 'target_ids'".into()))?;
            let mut targets: HashMap<_, u64, u32> = HashMap::try_from(map).map_err(|e| load_error(&e))?;
            for (slot, id) in ids.iter().enumerate() {
                // A cgroup given twice keeps its first slot.
                if targets.get(id, 0).is_err() {
                    targets.insert(id, slot as u32, 0).map_err(|e| load_error(&e))?;
                }
            }
        }
        let btf = Btf::from_sys_fs().map_err(|e| load_error(&e))?;
        let mut links = Vec::new();
        for (name, tracepoint) in PROGRAMS {
            let program: &mut BtfTracePoint = ebpf
                .program_mut(name)
                .ok_or_else(|| RunqlatError::Load(format!("no program '{name}'")))?
                .try_into()
                .map_err(|e| load_error(&e))?;
            program.load(tracepoint, &btf).map_err(|e| load_error(&e))?;
            links.push(program.attach().map_err(|e| load_error(&e))?);
        }
        let map = ebpf.take_map("hists").ok_or_else(|| RunqlatError::Load("no map 'hists'".into()))?;
        let hists = PerCpuHashMap::try_from(map).map_err(|e| load_error(&e))?;
        let map = ebpf
            .take_map("target_hists")
            .ok_or_else(|| RunqlatError::Load("no map 'target_hists'".into()))?;
        let target_hists = PerCpuArray::try_from(map).map_err(|e| load_error(&e))?;
        let slots = ids.len().max(1);
        let last = (0..slots).map(empty).collect();
        Ok(RunQueueLatency { _ebpf: ebpf, target_hists, last, slots, hists, per: config.per, _links: links })
    }

    /// The histograms since loading or the last call.
    pub fn take(&mut self) -> Result<Vec<Histogram>, RunqlatError> {
        if self.per != Per::Target {
            return self.take_per_task();
        }
        let mut out = Vec::new();
        for target in 0..self.slots {
            let per_cpu =
                self.target_hists.get(&(target as u32), 0).map_err(|e| RunqlatError::Read(e.to_string()))?;
            let total = sum(target, None, per_cpu.iter());
            let last = &mut self.last[target];
            let mut interval = total.clone();
            for (b, before) in interval.buckets.iter_mut().zip(last.buckets) {
                *b = b.saturating_sub(before);
            }
            interval.count = total.count.saturating_sub(last.count);
            interval.sum = total.sum.saturating_sub(last.sum);
            *last = total;
            if interval.count > 0 {
                out.push(interval);
            }
        }
        Ok(out)
    }

    /// The per-process or per-thread histograms since the last call, taken out of the map.
    fn take_per_task(&mut self) -> Result<Vec<Histogram>, RunqlatError> {
        let keys: Vec<BpfHistKey> =
            self.hists.keys().collect::<Result<_, _>>().map_err(|e| RunqlatError::Read(e.to_string()))?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            // Taken and removed one at a time: waits that end meanwhile go into a new entry, which
            // the next call reads, rather than being lost between a read and a clear.
            let Ok(per_cpu) = self.hists.get(&key, 0) else { continue };
            let _ = self.hists.remove(&key);
            let h = sum(key.slot as usize, Some(key.id), per_cpu.iter());
            if h.count > 0 {
                out.push(h);
            }
        }
        out.sort_by(|a, b| a.target.cmp(&b.target).then(b.count.cmp(&a.count)).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}

/// A histogram with nothing in it.
fn empty(target: usize) -> Histogram {
    Histogram { target, id: None, comm: String::new(), buckets: [0; BUCKETS], count: 0, sum: 0 }
}

/// The CPUs' histograms added up; the name from a CPU that measured the task.
fn sum<'a>(target: usize, id: Option<u32>, per_cpu: impl Iterator<Item = &'a BpfHist>) -> Histogram {
    let mut out = empty(target);
    out.id = id;
    let mut comm = [0u8; 16];
    for h in per_cpu {
        for (b, n) in out.buckets.iter_mut().zip(h.slots) {
            *b += u64::from(n);
        }
        out.count += h.count;
        out.sum += h.sum;
        if comm[0] == 0 {
            comm = h.comm;
        }
    }
    let end = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
    out.comm = String::from_utf8_lossy(&comm[..end]).into_owned();
    out
}

fn load_error(e: &dyn std::error::Error) -> RunqlatError {
    RunqlatError::Load(crate::error_chain(e))
}
