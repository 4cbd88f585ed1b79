//! The recorder's state between the kernel's records and the recording: processes and their
//! mappings, modules, and the interning of strings, frames and stacks, so each sample is written as
//! a few bytes naming a stack written once.
//!
//! Records arrive per CPU ring; the caller hands them over sorted by time within each drain, so a
//! mapping is known before the samples that hit it. An address in no known mapping makes the
//! process's `/proc/<pid>/maps` be read again (once per drain) before it is kept as a raw address.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sampler::procmaps::MapEntry;
use sampler::recording::{Entry, ModuleKind, RecordingWriter, WriteError};
use sampler::records::{FileId, Mmap2, Record, Sample};
use symbolizer::budget::Budget;
use symbolizer::root::ContainerRoot;

use super::jit::PerfMapFile;
use super::modules::{ModuleKey, Modules, Opened, PendingFrame, Source, MAX_BINARY};
use super::procfs;

/// `PERF_CONTEXT_*` markers inside callchains are the values at or above this.
const PERF_CONTEXT_MAX: u64 = -4095i64 as u64;
const PERF_CONTEXT_KERNEL: u64 = -128i64 as u64;
const PERF_CONTEXT_USER: u64 = -512i64 as u64;
/// `PERF_RECORD_MISC_CPUMODE_MASK` and its kernel value.
const MISC_CPUMODE_MASK: u16 = 7;
const MISC_KERNEL: u16 = 1;

/// Counts for the summary.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Samples written.
    pub samples: u64,
    /// Samples and records the kernel dropped.
    pub lost: u64,
    /// Samples per target.
    pub per_target: Vec<u64>,
    /// Processes with at least one sample.
    pub processes_sampled: u64,
    /// Processes seen.
    pub processes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    end: u64,
    pgoff: u64,
    module: u32,
    /// Frames in it are named by address (JIT memory), not by file offset.
    by_address: bool,
}

#[derive(Debug)]
struct Process {
    maps: BTreeMap<u64, Range>,
    root: Option<Rc<ContainerRoot>>,
    ns_pid: Option<u32>,
    /// The drain in which `/proc/<pid>/maps` was last read.
    maps_read: Option<u64>,
    /// The drain in which the process exited.
    exited: Option<u64>,
    jit: Option<PerfMapFile>,
    has_jit_memory: bool,
    sampled: bool,
}

/// Everything between the records and the file.
#[derive(Debug)]
pub struct Session {
    w: RecordingWriter,
    strings: HashMap<Vec<u8>, u32>,
    frames: HashMap<(u32, u64, bool), u32>,
    stacks: HashMap<(u32, Vec<u32>), u32>,
    processes: HashMap<u32, Process>,
    roots: HashMap<(u64, u64), Rc<ContainerRoot>>,
    /// A root per target for processes gone before their own could be opened.
    target_roots: Vec<Option<Rc<ContainerRoot>>>,
    modules: Modules,
    pending: Vec<PendingFrame>,
    callchain: bool,
    drain: u64,
    /// What the processes' perf maps may make the recorder read and copy.
    perf_maps: Budget,
    /// Counts so far.
    pub stats: Stats,
}

impl Session {
    /// A session writing to `w`.
    pub fn new(w: RecordingWriter, modules: Modules, callchain: bool, targets: usize) -> Self {
        Session {
            w,
            strings: HashMap::new(),
            frames: HashMap::new(),
            stacks: HashMap::new(),
            processes: HashMap::new(),
            roots: HashMap::new(),
            target_roots: vec![None; targets],
            modules,
            pending: Vec::new(),
            callchain,
            drain: 0,
            perf_maps: super::jit::budget(),
            stats: Stats { per_target: vec![0; targets], ..Stats::default() },
        }
    }

    /// Modules seen.
    pub fn modules(&self) -> &Modules {
        &self.modules
    }

    /// Gives `target` a fallback root: that of `pid`, a process of the container.
    pub fn set_target_root(&mut self, target: usize, pid: u32) {
        self.target_roots[target] = self.root_of(pid);
    }

    /// Takes in a process that existed before recording started (or that a sample names first):
    /// its threads' names and its executable mappings, from `/proc`.
    pub fn add_existing(&mut self, pid: u32, target: u32) -> Result<(), WriteError> {
        if self.processes.contains_key(&pid) {
            return Ok(());
        }
        self.new_process(pid, target, None)?;
        for tid in procfs::threads(pid) {
            if let Some(name) = procfs::comm(pid, tid) {
                self.w.push(&Entry::Comm { time: 0, pid, tid, exec: false, name })?;
            }
        }
        self.read_maps(pid)
    }

    /// Starts a drain (records of one drain come sorted by time); returns its number.
    pub fn next_drain(&mut self) -> u64 {
        self.drain += 1;
        self.drain
    }

    /// Takes one record; `target` is the index of the target whose event wrote it.
    pub fn handle(&mut self, record: Record, target: u32) -> Result<(), WriteError> {
        match record {
            Record::Sample(s) => self.sample(s, target),
            Record::Mmap2(m) => self.mmap(m, target),
            Record::Comm(c) => {
                self.ensure_process(c.pid, target)?;
                if c.exec {
                    // The old image is gone; MMAP2 records of the new one follow.
                    if let Some(p) = self.processes.get_mut(&c.pid) {
                        p.maps.clear();
                        p.has_jit_memory = false;
                        p.jit = None;
                    }
                }
                let time = c.sample_id.time;
                self.w.push(&Entry::Comm { time, pid: c.pid, tid: c.tid, exec: c.exec, name: c.comm })
            }
            Record::Fork(t) => {
                if t.pid != t.ppid && !self.processes.contains_key(&t.pid) {
                    self.forked(t.pid, t.ppid, target)?;
                }
                self.w.push(&Entry::Fork { time: t.time, pid: t.pid, ppid: t.ppid, tid: t.tid, ptid: t.ptid })
            }
            Record::Exit(t) => {
                if t.pid == t.tid {
                    let drain = self.drain;
                    if let Some(p) = self.processes.get_mut(&t.pid) {
                        p.exited = Some(drain);
                    }
                }
                self.w.push(&Entry::Exit { time: t.time, pid: t.pid, tid: t.tid })
            }
            Record::Lost { lost, sample_id, .. } | Record::LostSamples { lost, sample_id } => {
                self.stats.lost += lost;
                self.w.push(&Entry::Lost { time: sample_id.time, cpu: sample_id.cpu, count: lost })
            }
            Record::Other(_) => Ok(()),
        }
    }

    fn sample(&mut self, s: Sample, target: u32) -> Result<(), WriteError> {
        self.ensure_process(s.pid, target)?;
        let mut kernel = Vec::new();
        let mut user = Vec::new();
        if self.callchain && !s.callchain.is_empty() {
            let mut context = None;
            let mut first = true;
            for &addr in &s.callchain {
                if addr >= PERF_CONTEXT_MAX {
                    context = match addr {
                        PERF_CONTEXT_KERNEL => Some(true),
                        PERF_CONTEXT_USER => Some(false),
                        _ => None, // hypervisor and guest frames are not ours to name
                    };
                    first = true;
                    continue;
                }
                match context {
                    Some(true) => kernel.push(self.kernel_frame(addr, !first)?),
                    Some(false) => user.push(self.user_frame(s.pid, addr, !first)?),
                    None => {}
                }
                first = false;
            }
        }
        if kernel.is_empty() && user.is_empty() {
            if s.misc & MISC_CPUMODE_MASK == MISC_KERNEL {
                kernel.push(self.kernel_frame(s.ip, false)?);
            } else {
                user.push(self.user_frame(s.pid, s.ip, false)?);
            }
        }
        let kernel_len = kernel.len() as u32;
        kernel.extend(user);
        let stack = match self.stacks.get(&(kernel_len, kernel.clone())) {
            Some(&id) => id,
            None => {
                let id = self.stacks.len() as u32 + 1;
                self.w.push(&Entry::Stack { id, kernel: kernel_len, frames: kernel.clone() })?;
                self.stacks.insert((kernel_len, kernel), id);
                id
            }
        };
        self.w.push(&Entry::Sample {
            time: s.time,
            pid: s.pid,
            tid: s.tid,
            cpu: s.cpu,
            target,
            period: s.period,
            stack,
            // The one register sampled, when one is (the return value of a uretprobe).
            value: s.user_regs.first().map(|&r| r as i64),
        })?;
        self.stats.samples += 1;
        if let Some(n) = self.stats.per_target.get_mut(target as usize) {
            *n += 1;
        }
        if let Some(p) = self.processes.get_mut(&s.pid) {
            if !p.sampled {
                p.sampled = true;
                self.stats.processes_sampled += 1;
            }
        }
        Ok(())
    }

    fn kernel_frame(&mut self, addr: u64, caller: bool) -> Result<u32, WriteError> {
        let module = match self.modules.get(&ModuleKey::Kernel) {
            Some(id) => id,
            None => {
                let (id, entry) = self.modules.add(
                    ModuleKey::Kernel,
                    ModuleKind::Kernel,
                    b"[kernel.kallsyms]".to_vec(),
                    Vec::new(),
                    0,
                    || Err(String::new()),
                );
                self.w.push(&entry)?;
                id
            }
        };
        self.frame(module, addr, caller)
    }

    fn user_frame(&mut self, pid: u32, addr: u64, caller: bool) -> Result<u32, WriteError> {
        let mut found = self.locate(pid, addr);
        if found.is_none() {
            let p = self.processes.get(&pid);
            if p.is_some_and(|p| p.maps_read != Some(self.drain) && p.exited.is_none()) {
                self.read_maps(pid)?;
                found = self.locate(pid, addr);
            }
        }
        let (module, offset) = match found {
            Some(f) => f,
            None => {
                let key = ModuleKey::Unmapped(pid);
                let module = match self.modules.get(&key) {
                    Some(id) => id,
                    None => {
                        let (id, entry) = self.modules.add(
                            key,
                            ModuleKind::Unmapped,
                            b"[unknown]".to_vec(),
                            Vec::new(),
                            pid,
                            || Err(String::new()),
                        );
                        self.w.push(&entry)?;
                        id
                    }
                };
                (module, addr)
            }
        };
        self.frame(module, offset, caller)
    }

    fn locate(&self, pid: u32, addr: u64) -> Option<(u32, u64)> {
        let p = self.processes.get(&pid)?;
        let (&start, r) = p.maps.range(..=addr).next_back()?;
        (addr < r.end).then(|| (r.module, if r.by_address { addr } else { addr - start + r.pgoff }))
    }

    fn frame(&mut self, module: u32, offset: u64, caller: bool) -> Result<u32, WriteError> {
        if let Some(&id) = self.frames.get(&(module, offset, caller)) {
            return Ok(id);
        }
        let id = self.frames.len() as u32 + 1;
        self.frames.insert((module, offset, caller), id);
        self.w.push(&Entry::Frame { id, module, offset, caller })?;
        self.pending.push(PendingFrame { frame: id, module, offset, caller });
        Ok(id)
    }

    fn ensure_process(&mut self, pid: u32, target: u32) -> Result<(), WriteError> {
        if !self.processes.contains_key(&pid) {
            self.add_existing(pid, target)?;
        }
        Ok(())
    }

    fn forked(&mut self, pid: u32, ppid: u32, target: u32) -> Result<(), WriteError> {
        let (maps, parent_root, jit) = match self.processes.get(&ppid) {
            Some(p) => (p.maps.clone(), p.root.clone(), p.has_jit_memory),
            None => (BTreeMap::new(), None, false),
        };
        self.new_process(pid, target, parent_root)?;
        if let Some(p) = self.processes.get_mut(&pid) {
            p.maps = maps;
            p.has_jit_memory = jit;
        }
        Ok(())
    }

    fn new_process(
        &mut self,
        pid: u32,
        target: u32,
        inherited_root: Option<Rc<ContainerRoot>>,
    ) -> Result<(), WriteError> {
        let root = self
            .root_of(pid)
            .or(inherited_root)
            .or_else(|| self.target_roots.get(target as usize).cloned().flatten());
        let ns_pid = procfs::ns_pid(pid);
        let exe = match procfs::exe(pid) {
            Some(path) => self.intern(path.as_os_str().as_encoded_bytes())?,
            None => 0,
        };
        self.processes.insert(
            pid,
            Process {
                maps: BTreeMap::new(),
                root,
                ns_pid,
                maps_read: None,
                exited: None,
                jit: None,
                has_jit_memory: false,
                sampled: false,
            },
        );
        self.stats.processes += 1;
        self.w.push(&Entry::Process { pid, target, ns_pid: ns_pid.unwrap_or(0), exe })
    }

    fn root_of(&mut self, pid: u32) -> Option<Rc<ContainerRoot>> {
        let id = procfs::root_identity(pid)?;
        if let Some(r) = self.roots.get(&id) {
            return Some(r.clone());
        }
        let root = Rc::new(ContainerRoot::of_process(pid).ok()?);
        self.roots.insert(id, root.clone());
        Some(root)
    }

    /// Reads `/proc/<pid>/maps` and takes in its executable mappings.
    fn read_maps(&mut self, pid: u32) -> Result<(), WriteError> {
        let drain = self.drain;
        if let Some(p) = self.processes.get_mut(&pid) {
            p.maps_read = Some(drain);
        }
        let Some(maps) = procfs::maps(pid) else { return Ok(()) };
        for m in maps.iter().filter(|m| m.executable()) {
            self.map_entry(pid, m)?;
        }
        Ok(())
    }

    fn map_entry(&mut self, pid: u32, m: &MapEntry) -> Result<(), WriteError> {
        let existing = self.processes.get(&pid).and_then(|p| p.maps.get(&m.start));
        if existing.is_some_and(|r| r.end == m.end) {
            return Ok(());
        }
        let path = m.path.strip_suffix(b" (deleted)").unwrap_or(&m.path).to_vec();
        let module = self.module_for(pid, &path, None, (m.maj, m.min, m.inode), m.start, m.end)?;
        self.insert_range(pid, 0, m.start, m.end, m.offset, module)
    }

    fn mmap(&mut self, m: Mmap2, target: u32) -> Result<(), WriteError> {
        self.ensure_process(m.pid, target)?;
        let (build_id, dev_ino) = match &m.file_id {
            FileId::BuildId(b) => (Some(b.clone()), (0, 0, 0)),
            FileId::Inode { maj, min, ino, .. } => (None, (*maj, *min, *ino)),
        };
        let end = m.addr.saturating_add(m.len);
        let module = self.module_for(m.pid, &m.filename, build_id, dev_ino, m.addr, end)?;
        self.insert_range(m.pid, m.sample_id.time, m.addr, end, m.pgoff, module)
    }

    fn insert_range(
        &mut self,
        pid: u32,
        time: u64,
        start: u64,
        end: u64,
        pgoff: u64,
        module: u32,
    ) -> Result<(), WriteError> {
        let by_address = matches!(self.modules.kind(module), ModuleKind::Anonymous);
        let Some(p) = self.processes.get_mut(&pid) else { return Ok(()) };
        let overlapping: Vec<u64> =
            p.maps.range(..end).filter(|(_, r)| r.end > start).map(|(&s, _)| s).collect();
        for s in overlapping {
            p.maps.remove(&s);
        }
        p.maps.insert(start, Range { end, pgoff, module, by_address });
        p.has_jit_memory |= by_address;
        self.w.push(&Entry::Mapping { time, pid, start, len: end - start, pgoff, module })
    }

    /// The module of a mapping of `path` in `pid`, created (and its file opened) on first sight.
    fn module_for(
        &mut self,
        pid: u32,
        path: &[u8],
        build_id: Option<Vec<u8>>,
        dev_ino: (u32, u32, u64),
        start: u64,
        end: u64,
    ) -> Result<u32, WriteError> {
        let root = self.processes.get(&pid).and_then(|p| p.root.clone());
        let (key, kind) = if path == b"[vdso]" {
            (ModuleKey::Vdso, ModuleKind::Vdso)
        } else if path.starts_with(b"/") {
            let key = match &build_id {
                Some(b) if !b.is_empty() => ModuleKey::BuildId(b.clone()),
                _ => ModuleKey::File { root: procfs::root_identity(pid), path: path.to_vec(), dev_ino },
            };
            (key, ModuleKind::Elf)
        } else {
            (ModuleKey::Anonymous(pid), ModuleKind::Anonymous)
        };
        if let Some(id) = self.modules.get(&key) {
            return Ok(id);
        }
        let display = match kind {
            ModuleKind::Anonymous => b"//anon".to_vec(),
            _ => path.to_vec(),
        };
        let (id, entry) = self.modules.add(key, kind, display, build_id.unwrap_or_default(), pid, || {
            if kind == ModuleKind::Vdso {
                return open_own_vdso();
            }
            if let Some((file, len)) = procfs::open_mapped_file(pid, start, end, MAX_BINARY) {
                return Ok(Opened { source: Source::File(file, len), root: root.clone() });
            }
            let Some(root) = root else {
                return Err(crate::process_access::no_root(pid));
            };
            let p = std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path));
            match root.open(p, MAX_BINARY) {
                Ok((file, len)) => Ok(Opened { source: Source::File(file, len), root: Some(root) }),
                Err(e) => Err(e.to_string()),
            }
        });
        self.w.push(&entry)?;
        Ok(id)
    }

    fn intern(&mut self, s: &[u8]) -> Result<u32, WriteError> {
        if let Some(&id) = self.strings.get(s) {
            return Ok(id);
        }
        let id = self.strings.len() as u32 + 1;
        self.strings.insert(s.to_vec(), id);
        self.w.push(&Entry::Str { id, text: s.to_vec() })?;
        Ok(id)
    }

    /// Names the frames seen so far, module by module, for at most `budget` (all of them with
    /// `None`); the rest wait for the next call.
    pub fn symbolize(&mut self, budget: Option<Duration>) -> Result<(), WriteError> {
        let start = Instant::now();
        self.pending.sort_by_key(|f| f.module);
        let mut done = 0;
        while done < self.pending.len() {
            if budget.is_some_and(|b| start.elapsed() >= b) {
                break;
            }
            let module = self.pending[done].module;
            let end = done + self.pending[done..].iter().take_while(|f| f.module == module).count();
            let frames: Vec<PendingFrame> = self.pending[done..end].to_vec();
            let mut new_strings = Vec::new();
            let mut out = Vec::new();
            {
                let strings = &mut self.strings;
                let mut intern = |s: &[u8]| -> u32 {
                    if let Some(&id) = strings.get(s) {
                        return id;
                    }
                    let id = strings.len() as u32 + 1;
                    strings.insert(s.to_vec(), id);
                    new_strings.push(Entry::Str { id, text: s.to_vec() });
                    id
                };
                self.modules.symbolize(module, &frames, &mut intern, &mut out);
            }
            for e in new_strings.iter().chain(&out) {
                self.w.push(e)?;
            }
            done = end;
        }
        self.pending.drain(..done);
        Ok(())
    }

    /// Copies what JIT processes appended to their perf maps; opens the maps of processes with JIT
    /// memory that have none open yet. Forgets processes that exited before the previous drain.
    pub fn poll_perf_maps(&mut self) -> Result<(), WriteError> {
        self.copy_perf_maps(super::jit::POLL_TIME)
    }

    /// [`Session::poll_perf_maps`] for at most `time`.
    fn copy_perf_maps(&mut self, time: Duration) -> Result<(), WriteError> {
        let deadline = Instant::now() + time;
        let drain = self.drain;
        let mut gone = Vec::new();
        for (&pid, p) in &mut self.processes {
            if p.has_jit_memory && p.jit.is_none() && p.exited.is_none() {
                if let (Some(root), Some(ns_pid)) = (&p.root, p.ns_pid) {
                    p.jit = PerfMapFile::open(root, pid, ns_pid, &self.perf_maps);
                }
            }
            if let (Some(jit), Some(root)) = (&mut p.jit, &p.root) {
                if p.exited.is_none() {
                    jit.reopen_if_replaced(root);
                }
                jit.update(deadline, |u| self.w.push(&Entry::PerfMap { pid, reset: u.reset, data: u.data }))?;
            }
            if p.exited.is_some_and(|d| d + 1 < drain) {
                gone.push(pid);
            }
        }
        for pid in gone {
            self.processes.remove(&pid);
        }
        Ok(())
    }

    /// Copies the perf maps a last time (before the summary is written, so that it can say what
    /// was cut) and returns the notes on maps cut at their budget.
    pub fn finish_perf_maps(&mut self) -> Result<Vec<String>, WriteError> {
        self.drain += 1;
        self.copy_perf_maps(super::jit::LAST_POLL_TIME)?;
        let mut notes = self.perf_maps.notes();
        let unread: Vec<u64> = self
            .processes
            .values()
            .filter_map(|p| p.jit.as_ref())
            .map(|j| j.unread())
            .filter(|&n| n > 0)
            .collect();
        if !unread.is_empty() {
            notes.push(format!(
                "perf maps: {} of {} maps were not copied: the recording ended first",
                symbolizer::budget::bytes(unread.iter().sum()),
                unread.len()
            ));
        }
        Ok(notes)
    }

    /// Writes what is buffered as one chunk.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.w.flush()
    }

    /// Names every remaining frame and closes the recording (after [`Session::finish_perf_maps`]).
    pub fn finish(mut self, summary: &sampler::recording::Summary) -> Result<u64, WriteError> {
        self.symbolize(None)?;
        self.w.finish(summary)
    }
}

/// The vDSO image, as mapped in this process (the kernel maps the same one into every process of
/// this architecture).
fn open_own_vdso() -> Result<Opened, String> {
    use std::io::{Seek, SeekFrom};
    let maps = procfs::maps(std::process::id()).unwrap_or_default();
    let vdso = maps.iter().find(|m| m.path == b"[vdso]").ok_or("this process has no vDSO")?;
    let mut mem = std::fs::File::open("/proc/self/mem").map_err(|e| e.to_string())?;
    mem.seek(SeekFrom::Start(vdso.start)).map_err(|e| e.to_string())?;
    let len = vdso.end - vdso.start;
    let mut image = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut mem, len), &mut image)
        .map_err(|e| e.to_string())?;
    Ok(Opened { source: Source::Bytes(image), root: None })
}
