//! Loads `runqlat.bpf.c` (compiled by `build.rs`) with aya, attaches it to the scheduler's BTF
//! tracepoints, and reads (and clears) its histograms.

use std::os::unix::fs::MetadataExt;

use aya::maps::{HashMap, MapData, PerCpuHashMap};
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

/// The attached programs and the histograms map. Measuring stops when it is dropped.
pub struct RunQueueLatency {
    _ebpf: Ebpf,
    hists: PerCpuHashMap<MapData, BpfHistKey, BpfHist>,
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
        let mut ebpf = EbpfLoader::new()
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
        Ok(RunQueueLatency { _ebpf: ebpf, hists, _links: links })
    }

    /// The histograms since loading or the last call, which clears them.
    pub fn take(&mut self) -> Result<Vec<Histogram>, RunqlatError> {
        let keys: Vec<BpfHistKey> =
            self.hists.keys().collect::<Result<_, _>>().map_err(|e| RunqlatError::Read(e.to_string()))?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            // Taken and removed one at a time: waits that end meanwhile go into a new entry, which
            // the next call reads, rather than being lost between a read and a clear.
            let Ok(per_cpu) = self.hists.get(&key, 0) else { continue };
            let _ = self.hists.remove(&key);
            // The CPUs' histograms added up; the name from a CPU that measured the task.
            let mut buckets = [0u64; BUCKETS];
            let (mut count, mut sum) = (0u64, 0u64);
            let mut comm = [0u8; 16];
            for h in per_cpu.iter() {
                for (b, n) in buckets.iter_mut().zip(h.slots) {
                    *b += u64::from(n);
                }
                count += h.count;
                sum += h.sum;
                if comm[0] == 0 {
                    comm = h.comm;
                }
            }
            if count == 0 {
                continue;
            }
            let end = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
            out.push(Histogram {
                target: key.slot as usize,
                id: (key.id != 0 || comm[0] != 0).then_some(key.id),
                comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
                buckets,
                count,
                sum,
            });
        }
        out.sort_by(|a, b| a.target.cmp(&b.target).then(b.count.cmp(&a.count)).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}

fn load_error(e: &dyn std::error::Error) -> RunqlatError {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    RunqlatError::Load(text)
}
