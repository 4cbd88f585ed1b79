//! The recorder's state between the kernel's records and the recording: processes and their
//! mappings, modules, and the interning of strings, frames and stacks, so each sample is written as
//! a few bytes naming a stack written once.
//!
//! Records arrive per CPU ring; the caller hands them over sorted by time within each drain, so a
//! mapping is known before the samples that hit it. An address in no known mapping makes the
//! process's `/proc/<pid>/maps` be read again (once per drain period, up to
//! [`procfs::MAX_MAPS_TEXT`]) before it is kept as a raw address.
//!
//! A sample is named by the image its process ran when it was taken: every exec (a COMM record
//! with the exec flag) starts a new image, and older images are kept for samples that arrive late.
//! `/proc/<pid>/maps` describes the image in force when it is read, which may be younger than the
//! samples that asked for it: such samples wait until the records written up to that read have
//! been drained (their exec records say which image each sample belongs to), see
//! [`Session::note_exec`] and [`Session::replay_deferred`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sampler::procmaps::MapEntry;
use sampler::recording::{Entry, ModuleKind, RecordingWriter, WriteError};
use sampler::records::{FileId, Mmap2, Record, Sample};
use sampler::user_stack::{register, UnwindRegisters};
use symbolizer::budget::Budget;
use symbolizer::root::ContainerRoot;
use symbolizer::unwind::{AddressSpace, Cut, End, Frame as Unwound, Unwinder, UserStack};

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
    /// Processes with samples that cperf could not name: gone before `/proc` could be read, and
    /// no COMM or FORK record of theirs reached the recorder.
    pub unnamed_processes: u64,
    /// Samples taken before an exec in an image cperf never saw (the process was first seen after
    /// it had exec'd) or no longer keeps (older than its [`MAX_IMAGES`] newest); their user frames
    /// are left unnamed rather than named from a later image.
    pub before_exec_unseen: u64,
    /// Processes whose `/proc/<pid>/maps` was longer than [`procfs::MAX_MAPS_TEXT`] and read only
    /// that far.
    pub maps_cut: u64,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    end: u64,
    pgoff: u64,
    module: u32,
    /// Frames in it are named by address (JIT memory), not by file offset.
    by_address: bool,
    /// When it was read from `/proc/<pid>/maps` (monotonic ns); `None` when a record told it.
    read_at: Option<u64>,
}

/// What one exec of a process mapped.
#[derive(Debug, Clone, Default)]
struct Image {
    /// Its executable mappings as the unwinder sees them, built when a sample first needs them and
    /// dropped whenever a mapping changes.
    space: Option<Rc<AddressSpace>>,
    /// When the exec that loaded it happened (monotonic ns); 0 for the image the process ran
    /// when cperf first saw it. Never rewritten: images older than the oldest kept are forgotten
    /// (see [`Process::trimmed_before`]), not merged into it.
    since: u64,
    maps: BTreeMap<u64, Range>,
}

/// Images kept per process (the newest ones): a sample arrives at most a few drains late.
pub const MAX_IMAGES: usize = 4;

#[derive(Debug)]
struct Process {
    /// Oldest first; never empty.
    images: Vec<Image>,
    /// The images that ran before this time (monotonic ns) were dropped: a sample taken before it
    /// is not named (its image is gone), an exec before it is not taken in again.
    trimmed_before: u64,
    /// When `/proc/<pid>/maps` was last read (monotonic ns).
    proc_read_at: Option<u64>,
    root: Option<Rc<ContainerRoot>>,
    ns_pid: Option<u32>,
    /// The drain period in which `/proc/<pid>/maps` was last read.
    maps_read: Option<u64>,
    /// True once its maps text was cut at [`procfs::MAX_MAPS_TEXT`] (counted once).
    maps_cut: bool,
    /// The drain in which the process exited.
    exited: Option<u64>,
    jit: Option<PerfMapFile>,
    has_jit_memory: bool,
    sampled: bool,
}

/// The recording, or what waits for it to be created.
#[derive(Debug)]
enum Out {
    Waiting(Vec<Entry>),
    Writing(RecordingWriter),
}

impl Out {
    fn push(&mut self, e: &Entry) -> Result<(), WriteError> {
        match self {
            Out::Waiting(entries) => {
                entries.push(e.clone());
                Ok(())
            }
            Out::Writing(w) => w.push(e),
        }
    }
}

/// How samples carry what their user stacks are unwound from (`--call-graph dwarf`).
#[derive(Debug, Clone, Copy)]
pub struct UnwindSetup {
    /// Which sampled registers are the instruction, stack and frame pointers.
    pub registers: UnwindRegisters,
    /// Bytes of user stack asked for per sample.
    pub stack_bytes: u32,
}

/// Why user stacks were cut short, as counted (module ids are named at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CutKey {
    CopySize,
    /// No CFI where the walk stopped: in this module, or (0) in no known mapping.
    NoCfi(u32),
    Unreadable,
    TooDeep,
    /// The sample carried no registers or no stack for a task in user mode, or a 32-bit task's.
    NoStack,
    /// Taken in a program whose mappings are not known.
    ProgramUnknown,
    /// The rule or frame pointer at an address of this module (0: no known mapping) led nowhere.
    BadStep(u32),
}

/// The recorder's unwinding state and what it counted.
#[derive(Debug)]
struct Unwinding {
    setup: UnwindSetup,
    unwinder: Unwinder,
    user_stacks: u64,
    complete: u64,
    user_frames: u64,
    cuts: HashMap<CutKey, u64>,
}

/// How the unwinding of one user stack ended.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// At the outermost frame, or cut (as the unwinder says).
    Unwound(End),
    /// The sample carried no user registers or stack for a task in user mode, or a 32-bit task's.
    NoStack,
    /// The sample was taken in a program whose mappings are not known (never seen, or older than
    /// the images kept).
    ProgramUnknown,
}

/// The user frames of a sample, innermost first, and, when they were to be unwound by the
/// recorder, how that ended.
type UserFrames = (Vec<Unwound>, Option<Ending>);

/// Everything between the records and the file.
#[derive(Debug)]
pub struct Session {
    w: Out,
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
    /// With `--call-graph dwarf`: the unwinder.
    unwinding: Option<Unwinding>,
    /// Every user register sampled (`sample_regs_user`): a sample carries them in bit order.
    sampled_registers: u64,
    /// The register a sample's `value` is (the return register of a uretprobe), by bit number.
    value_register: Option<u32>,
    drain: u64,
    /// The drain period (see [`Session::next_period`]): `/proc/<pid>/maps` is read again at most
    /// once per period and process, however many drains the period has.
    period: u64,
    /// What the processes' perf maps may make the recorder read and copy.
    perf_maps: Budget,
    /// When the rings of the current drain began to be read (monotonic ns).
    drain_start: u64,
    /// Samples that wait for the records of the next drain (see the module doc).
    deferred: Vec<(Sample, u32)>,
    /// True while deferred samples are named: no further `/proc` reads for them.
    replaying: bool,
    /// Threads with a name in the recording (a COMM entry, a named parent, or an executable).
    named_tids: HashSet<u32>,
    /// Processes counted in [`Stats::unnamed_processes`].
    unnamed: HashSet<u32>,
    /// Counts so far.
    pub stats: Stats,
}

impl Session {
    /// A session; what it learns waits for [`Session::attach`] to be written.
    pub fn new(modules: Modules, callchain: bool, unwind: Option<UnwindSetup>, targets: usize) -> Self {
        Session {
            w: Out::Waiting(Vec::new()),
            strings: HashMap::new(),
            frames: HashMap::new(),
            stacks: HashMap::new(),
            processes: HashMap::new(),
            roots: HashMap::new(),
            target_roots: vec![None; targets],
            modules,
            pending: Vec::new(),
            callchain,
            unwinding: unwind.map(|setup| Unwinding {
                setup,
                unwinder: Unwinder::new(),
                user_stacks: 0,
                complete: 0,
                user_frames: 0,
                cuts: HashMap::new(),
            }),
            sampled_registers: 0,
            value_register: None,
            drain: 0,
            period: 0,
            perf_maps: super::jit::budget(),
            drain_start: 0,
            deferred: Vec::new(),
            replaying: false,
            named_tids: HashSet::new(),
            unnamed: HashSet::new(),
            stats: Stats { per_target: vec![0; targets], ..Stats::default() },
        }
    }

    /// Samples carry the user registers of `mask` (`sample_regs_user`); `value`, a bit of it, is
    /// the register written as each sample's value (the return register of a uretprobe).
    pub fn set_registers(&mut self, mask: u64, value: Option<u32>) {
        self.sampled_registers = mask;
        self.value_register = value;
    }

    /// Writes to `w` from now on, first what waited for it.
    pub fn attach(&mut self, mut w: RecordingWriter) -> Result<(), WriteError> {
        if let Out::Waiting(entries) = &self.w {
            for e in entries {
                w.push(e)?;
            }
        }
        self.w = Out::Writing(w);
        Ok(())
    }

    /// Reads the mappings of `pid` again (when it is still there): what it mapped or exec'd since
    /// [`Session::add_existing`] read them before sampling started.
    pub fn refresh_maps(&mut self, pid: u32) -> Result<(), WriteError> {
        if self.processes.contains_key(&pid) && procfs::alive(pid) {
            self.read_maps(pid)?;
        }
        Ok(())
    }

    /// Modules seen.
    pub fn modules(&self) -> &Modules {
        &self.modules
    }

    /// Modules seen, to change.
    pub fn modules_mut(&mut self) -> &mut Modules {
        &mut self.modules
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
        if pid == 0 {
            // The idle task of every CPU, which `/proc` does not list: perf's name for it.
            self.named_tids.insert(0);
            return self.w.push(&Entry::Comm {
                time: 0,
                pid,
                tid: 0,
                exec: false,
                name: b"swapper".to_vec(),
            });
        }
        for tid in procfs::threads(pid) {
            if let Some(name) = procfs::comm(pid, tid) {
                self.named_tids.insert(tid);
                self.w.push(&Entry::Comm { time: 0, pid, tid, exec: false, name })?;
            }
        }
        self.read_maps(pid)
    }

    /// Starts a drain period: the records of one or more drains (see [`Session::next_drain`]),
    /// during which each process's `/proc/<pid>/maps` is read again at most once.
    pub fn next_period(&mut self) {
        self.period += 1;
    }

    /// Starts a drain whose rings began to be read at `start` (monotonic ns; records of one drain
    /// come sorted by time); returns its number.
    pub fn next_drain(&mut self, start: u64) -> u64 {
        self.drain += 1;
        self.drain_start = start;
        self.drain
    }

    /// Tells of an exec of `pid` at `time` before its records are handled (the caller looks ahead
    /// through a drain): the image it starts is known before samples that ask `/proc` are named.
    /// Mappings read from `/proc` at or after `time` belong to the new image.
    pub fn note_exec(&mut self, pid: u32, time: u64) {
        let Some(p) = self.processes.get_mut(&pid) else { return };
        if time < p.trimmed_before || p.images.iter().any(|i| i.since == time) {
            // An exec of an image already dropped (its samples are not named), or one known.
            return;
        }
        let at = p.images.partition_point(|i| i.since < time);
        let before = &mut p.images[at - 1];
        let moved: Vec<u64> = before
            .maps
            .iter()
            .filter(|(_, r)| r.read_at.is_some_and(|t| t >= time))
            .map(|(&s, _)| s)
            .collect();
        before.space = None;
        let mut image = Image { since: time, maps: BTreeMap::new(), space: None };
        for start in moved {
            if let Some(r) = before.maps.remove(&start) {
                image.maps.insert(start, r);
            }
        }
        p.images.insert(at, image);
        if at == p.images.len() - 1 {
            // The old image's JIT memory and perf map are gone with it.
            p.has_jit_memory = p.images[at].maps.values().any(|r| r.by_address);
            p.jit = None;
        }
        if p.images.len() > MAX_IMAGES {
            p.images.remove(0);
            p.trimmed_before = p.images[0].since;
        }
    }

    /// True when samples wait for the records of another drain.
    pub fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Names and writes the samples that waited for this drain's records (whose execs the caller
    /// has told with [`Session::note_exec`]); they ask `/proc` nothing more.
    pub fn replay_deferred(&mut self) -> Result<(), WriteError> {
        self.replaying = true;
        let deferred = std::mem::take(&mut self.deferred);
        let result = deferred.into_iter().try_for_each(|(s, target)| self.sample(s, target));
        self.replaying = false;
        result
    }

    /// Takes one record; `target` is the index of the target whose event wrote it.
    pub fn handle(&mut self, record: Record, target: u32) -> Result<(), WriteError> {
        match record {
            Record::Sample(s) => self.sample(s, target),
            Record::Mmap2(m) => self.mmap(m, target),
            Record::Comm(c) => {
                self.ensure_process(c.pid, target)?;
                if c.exec {
                    // A new image; MMAP2 records of it follow.
                    self.note_exec(c.pid, c.sample_id.time);
                }
                self.named_tids.insert(c.tid);
                let time = c.sample_id.time;
                self.w.push(&Entry::Comm { time, pid: c.pid, tid: c.tid, exec: c.exec, name: c.comm })
            }
            Record::Fork(t) => {
                if t.pid != t.ppid && !self.processes.contains_key(&t.pid) {
                    self.forked(t.pid, t.ppid, target, t.time)?;
                }
                if self.named_tids.contains(&t.ptid) {
                    self.named_tids.insert(t.tid);
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
        if !self.replaying {
            // `/proc` read during this drain describes the process as it is now, perhaps after
            // an exec whose record is still in a ring: the sample waits for the next drain.
            let in_kept_image = self.image_at(s.pid, s.time).is_some();
            let user = self.user_frames(&s);
            // The last frame of a walk cut there may be garbage (see `settle`): not a reason to
            // read the maps again.
            let checked = &user.0[..user.0.len() - usize::from(stopped_at_last(&user.0, user.1))];
            if in_kept_image && checked.iter().any(|f| self.locate(s.pid, s.time, f.address).is_none()) {
                self.reread_maps(s.pid)?;
            }
            let read_late = self.processes.get(&s.pid).and_then(|p| p.proc_read_at);
            if read_late.is_some_and(|t| t >= self.drain_start) {
                self.deferred.push((s, target));
                return Ok(());
            }
            return self.write_sample(s, target, user);
        }
        let user = self.user_frames(&s);
        self.write_sample(s, target, user)
    }

    /// Writes a sample whose user frames are `user`.
    fn write_sample(
        &mut self,
        s: Sample,
        target: u32,
        (mut user_frames, end): UserFrames,
    ) -> Result<(), WriteError> {
        let cut = end.map(|end| self.settle(s.pid, s.time, &mut user_frames, end));
        if !self.named_tids.contains(&s.tid) && self.unnamed.insert(s.pid) {
            self.stats.unnamed_processes += 1;
        }
        let image = self.image_at(s.pid, s.time);
        let unseen = self.processes.get(&s.pid).is_some_and(|p| {
            // Dropped, or the image cperf never saw (the process was first seen after its exec).
            image.is_none() || (p.images.len() > 1 && p.images[0].maps.is_empty() && image == Some(0))
        });
        if unseen && !user_frames.is_empty() {
            self.stats.before_exec_unseen += 1;
        }
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
                if context == Some(true) {
                    kernel.push(self.kernel_frame(addr, !first)?);
                }
                first = false;
            }
        }
        for f in &user_frames {
            user.push(self.user_frame(s.pid, s.time, f.address, f.is_return_address)?);
        }
        if kernel.is_empty() && user.is_empty() {
            if s.misc & MISC_CPUMODE_MASK == MISC_KERNEL {
                kernel.push(self.kernel_frame(s.ip, false)?);
            } else {
                user.push(self.user_frame(s.pid, s.time, s.ip, false)?);
            }
        }
        if let Some(cut) = cut {
            self.count_stack(&user_frames, cut);
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
            // The return value of a uretprobe, when one is sampled.
            value: self
                .value_register
                .and_then(|bit| register(self.sampled_registers, bit, &s.user_regs))
                .map(|r| r as i64),
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

    /// The user frames of `sample`: its user callchain (frame pointers, walked by the kernel), or
    /// its user stack unwound here (`--call-graph dwarf`), else its ip when it was taken in user
    /// mode and the callchain has no frame at all.
    fn user_frames(&mut self, s: &Sample) -> UserFrames {
        if self.unwinding.is_some() {
            if let Some(unwound) = self.unwind(s) {
                return unwound;
            }
        }
        let (mut user, mut any) = (Vec::new(), false);
        if self.callchain {
            let mut context = None;
            let mut first = true;
            for &addr in &s.callchain {
                if addr >= PERF_CONTEXT_MAX {
                    context = Some(addr);
                    first = true;
                    continue;
                }
                if context == Some(PERF_CONTEXT_USER) {
                    user.push(Unwound { address: addr, is_return_address: !first });
                    any = true;
                } else if context == Some(PERF_CONTEXT_KERNEL) {
                    any = true;
                }
                first = false;
            }
        }
        if !any && s.misc & MISC_CPUMODE_MASK != MISC_KERNEL {
            user.push(Unwound { address: s.ip, is_return_address: false });
        }
        // A task in user state whose sample carried no registers or stack to unwind.
        let ending = (self.unwinding.is_some() && !user.is_empty()).then_some(Ending::NoStack);
        (user, ending)
    }

    /// Unwinds the user stack `s` carries, in the image its process ran then; `None` when it
    /// carries none (a kernel thread, or a task with no user state).
    fn unwind(&mut self, s: &Sample) -> Option<UserFrames> {
        let u = self.unwinding.as_ref()?;
        // PERF_SAMPLE_REGS_ABI_64: a 32-bit task's registers and stack are not unwound by x86-64 rules.
        if s.user_regs_abi != 2 {
            return None;
        }
        let regs = u.setup.registers;
        let mask = self.sampled_registers;
        let ip = register(mask, regs.ip, &s.user_regs)?;
        let sp = register(mask, regs.sp, &s.user_regs)?;
        let bp = register(mask, regs.fp, &s.user_regs)?;
        // What the kernel set out to copy for this sample (less than asked when the record had no
        // room): a copy of that size is full.
        let requested = s.user_stack_size;
        let space = self.address_space(s.pid, s.time);
        let u = self.unwinding.as_mut()?;
        let stack = UserStack { ip, sp, bp, bytes: &s.user_stack, requested };
        let mut frames = Vec::new();
        let ending = match &space {
            Some(space) => Ending::Unwound(u.unwinder.unwind(space, &stack, &mut frames)),
            // The image is gone: the ip alone, and no walk through mappings not known.
            None => {
                frames.push(Unwound { address: ip, is_return_address: false });
                Ending::ProgramUnknown
            }
        };
        Some((frames, Some(ending)))
    }

    /// Why the unwinding of `frames` (of `pid` at `time`, its mappings as final as they get) was
    /// cut, `None` when it was not. A walk cut at an address in no mapping got there from the frame
    /// before, whose unwinding information was missing or wrong (frame pointers followed where
    /// there were none): that address is garbage, left out, and the cut is the frame before's.
    fn settle(&self, pid: u32, time: u64, frames: &mut Vec<Unwound>, end: Ending) -> Option<CutKey> {
        Some(match end {
            Ending::Unwound(End::Complete) => return None,
            Ending::NoStack => CutKey::NoStack,
            Ending::ProgramUnknown => CutKey::ProgramUnknown,
            Ending::Unwound(End::Cut(Cut::BadStep { address })) => {
                CutKey::BadStep(self.locate(pid, time, address).map_or(0, |(module, _)| module))
            }
            Ending::Unwound(End::Cut(Cut::CopySize)) => CutKey::CopySize,
            Ending::Unwound(End::Cut(Cut::Unreadable { .. })) => CutKey::Unreadable,
            Ending::Unwound(End::Cut(Cut::TooDeep)) => CutKey::TooDeep,
            Ending::Unwound(End::Cut(Cut::NoCfi { address })) => {
                if stopped_at_last(frames, Some(end)) && self.locate(pid, time, address).is_none() {
                    frames.pop();
                }
                let at = frames.last().map_or(address, |f| f.address);
                CutKey::NoCfi(self.locate(pid, time, at).map_or(0, |(module, _)| module))
            }
        })
    }

    /// The executable mappings of the image `pid` ran at `time`, for the unwinder: built from the
    /// image's mappings and their modules' call-frame information when first needed.
    fn address_space(&mut self, pid: u32, time: u64) -> Option<Rc<AddressSpace>> {
        let index = self.image_at(pid, time)?;
        let image = &self.processes.get(&pid)?.images[index];
        if let Some(space) = &image.space {
            return Some(space.clone());
        }
        let mut space = AddressSpace::new();
        for (&start, r) in &image.maps {
            space.map(start, r.end, r.pgoff, self.modules.cfi(r.module));
        }
        let space = Rc::new(space);
        self.processes.get_mut(&pid)?.images[index].space = Some(space.clone());
        Some(space)
    }

    /// Counts how the unwinding of a user stack of `frames` ended.
    fn count_stack(&mut self, frames: &[Unwound], key: Option<CutKey>) {
        let Some(u) = self.unwinding.as_mut() else { return };
        u.user_stacks += 1;
        u.user_frames += frames.len() as u64;
        match key {
            None => u.complete += 1,
            Some(key) => *u.cuts.entry(key).or_default() += 1,
        }
    }

    /// How complete the unwound user stacks are, for the summary (`--call-graph dwarf`).
    pub fn stack_summary(&self) -> Option<sampler::recording::StackSummary> {
        let u = self.unwinding.as_ref()?;
        let bytes = u.setup.stack_bytes;
        // Modules of one path in several roots (or by build-id and by inode) give one reason.
        let mut by_reason: HashMap<String, u64> = HashMap::new();
        for (&key, &samples) in &u.cuts {
            let reason = self.cut_reason(key, bytes);
            *by_reason.entry(reason).or_default() += samples;
        }
        let mut cut: Vec<sampler::recording::CutCount> = by_reason
            .into_iter()
            .map(|(reason, samples)| sampler::recording::CutCount { reason, samples })
            .collect();
        cut.sort_by(|a, b| b.samples.cmp(&a.samples).then_with(|| a.reason.cmp(&b.reason)));
        Some(sampler::recording::StackSummary {
            method: "dwarf".into(),
            stack_bytes: bytes,
            user_stacks: u.user_stacks,
            complete: u.complete,
            user_frames: u.user_frames,
            cut,
        })
    }

    /// The summary's words for `key`, with `stack_bytes` copied per sample.
    fn cut_reason(&self, key: CutKey, stack_bytes: u32) -> String {
        use sampler::user_stack::MAX_STACK_COPY;
        let module = |id: u32| String::from_utf8_lossy(self.modules.path(id)).into_owned();
        let copied =
            format!("copy size reached: the stack went on past the {stack_bytes} bytes copied per sample");
        match key {
            CutKey::CopySize if stack_bytes >= MAX_STACK_COPY => format!("{copied} (the most the kernel copies)"),
            CutKey::CopySize => {
                format!("{copied} (raise it with --call-graph dwarf,BYTES, at most {MAX_STACK_COPY})")
            }
            CutKey::NoCfi(0) => "stopped at an address in no known mapping".into(),
            CutKey::NoCfi(id) => format!(
                "no call-frame information for an address in {}, and no frame pointer to follow there",
                module(id)
            ),
            CutKey::BadStep(0) => "the unwinding led to an address in no known mapping".into(),
            CutKey::BadStep(id) => {
                format!("the unwinding rule or frame pointer at an address in {} led nowhere", module(id))
            }
            CutKey::Unreadable => {
                "the walk left the copied stack (stack memory below the stack pointer or above the stack's top)"
                    .into()
            }
            CutKey::TooDeep => format!("more than {} frames", symbolizer::unwind::MAX_FRAMES),
            CutKey::NoStack => "the sample carried no user registers or stack (or a 32-bit task's)".into(),
            CutKey::ProgramUnknown => "taken in a program whose mappings cperf never saw or no longer keeps".into(),
        }
    }

    /// Reads `/proc/<pid>/maps` again for an address in no known mapping, once per drain period.
    fn reread_maps(&mut self, pid: u32) -> Result<(), WriteError> {
        let p = self.processes.get(&pid);
        if p.is_some_and(|p| p.maps_read != Some(self.period) && p.exited.is_none()) {
            self.read_maps(pid)?;
        }
        Ok(())
    }

    fn user_frame(&mut self, pid: u32, time: u64, addr: u64, caller: bool) -> Result<u32, WriteError> {
        let mut found = self.locate(pid, time, addr);
        if found.is_none() && !self.replaying && self.image_at(pid, time).is_some() {
            self.reread_maps(pid)?;
            found = self.locate(pid, time, addr);
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

    /// The image `pid` ran at `time`: its index; `None` when that image was dropped.
    fn image_at(&self, pid: u32, time: u64) -> Option<usize> {
        let p = self.processes.get(&pid)?;
        if time < p.trimmed_before {
            return None;
        }
        Some(p.images.partition_point(|i| i.since <= time).saturating_sub(1))
    }

    /// The module and offset of `addr` in the image `pid` ran at `time`.
    fn locate(&self, pid: u32, time: u64, addr: u64) -> Option<(u32, u64)> {
        let image = &self.processes.get(&pid)?.images[self.image_at(pid, time)?];
        let (&start, r) = image.maps.range(..=addr).next_back()?;
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

    fn forked(&mut self, pid: u32, ppid: u32, target: u32, time: u64) -> Result<(), WriteError> {
        // The child starts with the image its parent ran when it forked.
        let image = self.image_at(ppid, time);
        let (maps, parent_root, jit) = match (self.processes.get(&ppid), image) {
            (Some(p), Some(i)) => (p.images[i].maps.clone(), p.root.clone(), p.has_jit_memory),
            _ => (BTreeMap::new(), None, false),
        };
        self.new_process(pid, target, parent_root)?;
        if let Some(p) = self.processes.get_mut(&pid) {
            p.images = vec![Image { since: 0, maps, space: None }];
            p.trimmed_before = 0;
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
        if exe != 0 {
            self.named_tids.insert(pid);
        }
        self.processes.insert(
            pid,
            Process {
                images: vec![Image::default()],
                trimmed_before: 0,
                proc_read_at: None,
                root,
                ns_pid,
                maps_read: None,
                maps_cut: false,
                exited: None,
                jit: None,
                has_jit_memory: false,
                sampled: false,
            },
        );
        self.stats.processes += 1;
        self.w.push(&Entry::Process { pid, target, ns_pid: ns_pid.unwrap_or(0), exe })
    }

    /// The root of `pid`, shared with the processes of the same root. The root is opened first
    /// and keyed by the identity of the descriptor held: a stat of `/proc/<pid>/root` before or
    /// after the open may see another directory (the process may chroot in between).
    fn root_of(&mut self, pid: u32) -> Option<Rc<ContainerRoot>> {
        let root = ContainerRoot::of_process(pid).ok()?;
        let id = root.identity()?;
        Some(self.roots.entry(id).or_insert_with(|| Rc::new(root)).clone())
    }

    /// Reads `/proc/<pid>/maps` and takes in its executable mappings.
    /// Its mappings are those of the image in force when it is read.
    fn read_maps(&mut self, pid: u32) -> Result<(), WriteError> {
        let period = self.period;
        let now = monotonic_ns();
        if let Some(p) = self.processes.get_mut(&pid) {
            p.maps_read = Some(period);
            p.proc_read_at = Some(now);
        }
        let Some(maps) = procfs::maps(pid) else { return Ok(()) };
        if let Some(p) = self.processes.get_mut(&pid).filter(|p| maps.cut && !p.maps_cut) {
            p.maps_cut = true;
            self.stats.maps_cut += 1;
        }
        for m in &maps.entries {
            self.map_entry(pid, m, now)?;
        }
        Ok(())
    }

    fn map_entry(&mut self, pid: u32, m: &MapEntry, read_at: u64) -> Result<(), WriteError> {
        let image = self.image_at(pid, read_at);
        let p = self.processes.get_mut(&pid);
        if let Some(r) = p.zip(image).and_then(|(p, i)| p.images[i].maps.get_mut(&m.start)) {
            if r.end == m.end {
                // Still mapped when read: should an exec turn out to have come before this read,
                // the mapping goes with the new image.
                r.read_at = Some(r.read_at.unwrap_or(0).max(read_at));
                return Ok(());
            }
        }
        let path = m.path.strip_suffix(b" (deleted)").unwrap_or(&m.path).to_vec();
        let module = self.module_for(pid, &path, None, (m.maj, m.min, m.inode), m.start, m.end)?;
        self.insert_range(pid, (0, Some(read_at)), m.start, m.end, m.offset, module)
    }

    fn mmap(&mut self, m: Mmap2, target: u32) -> Result<(), WriteError> {
        self.ensure_process(m.pid, target)?;
        let (build_id, dev_ino) = match &m.file_id {
            FileId::BuildId(b) => (Some(b.clone()), (0, 0, 0)),
            FileId::Inode { maj, min, ino, .. } => (None, (*maj, *min, *ino)),
        };
        let end = m.addr.saturating_add(m.len);
        let module = self.module_for(m.pid, &m.filename, build_id, dev_ino, m.addr, end)?;
        self.insert_range(m.pid, (m.sample_id.time, None), m.addr, end, m.pgoff, module)
    }

    /// Puts a mapping into the image in force at its time: `(record time, None)` for a record,
    /// `(0, Some(read time))` for `/proc/<pid>/maps`.
    fn insert_range(
        &mut self,
        pid: u32,
        (time, read_at): (u64, Option<u64>),
        start: u64,
        end: u64,
        pgoff: u64,
        module: u32,
    ) -> Result<(), WriteError> {
        let by_address = matches!(self.modules.kind(module), ModuleKind::Anonymous);
        let Some(image) = self.image_at(pid, read_at.unwrap_or(time)) else { return Ok(()) };
        let Some(p) = self.processes.get_mut(&pid) else { return Ok(()) };
        let latest = image == p.images.len() - 1;
        p.images[image].space = None;
        let maps = &mut p.images[image].maps;
        let overlapping: Vec<u64> =
            maps.range(..end).filter(|(_, r)| r.end > start).map(|(&s, _)| s).collect();
        for s in overlapping {
            maps.remove(&s);
        }
        maps.insert(start, Range { end, pgoff, module, by_address, read_at });
        if latest {
            p.has_jit_memory |= by_address;
        }
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
                Some(b) if !b.is_empty() => ModuleKey::build_id(b.clone(), root.as_deref(), pid),
                _ => ModuleKey::File {
                    root: root.as_deref().and_then(ContainerRoot::identity),
                    path: path.to_vec(),
                    dev_ino,
                },
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
            if p.exited.is_some_and(|d| d + 1 < drain) {
                gone.push(pid);
            }
            if p.has_jit_memory && p.jit.is_none() && p.exited.is_none() {
                if let (Some(root), Some(ns_pid)) = (&p.root, p.ns_pid) {
                    p.jit = PerfMapFile::open(root, pid, ns_pid, &self.perf_maps);
                }
            }
            if let (Some(jit), Some(root)) = (&mut p.jit, &p.root) {
                // Past the deadline a map is only charged for what is new, not reopened nor read
                // (the next poll goes on from there).
                if p.exited.is_none() && Instant::now() < deadline {
                    jit.reopen_if_replaced(root);
                }
                jit.update(deadline, |u| self.w.push(&Entry::PerfMap { pid, reset: u.reset, data: u.data }))?;
            }
        }
        for pid in gone {
            self.processes.remove(&pid);
            self.perf_maps.forget(pid);
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
        match &mut self.w {
            Out::Waiting(_) => Ok(()),
            Out::Writing(w) => w.flush(),
        }
    }

    /// Names every remaining frame and closes the recording (after [`Session::finish_perf_maps`]).
    pub fn finish(mut self, summary: &sampler::recording::Summary) -> Result<u64, WriteError> {
        self.replay_deferred()?;
        self.symbolize(None)?;
        match self.w {
            Out::Waiting(_) => Ok(0),
            Out::Writing(w) => w.finish(summary),
        }
    }
}

/// Now on `CLOCK_MONOTONIC`, the clock of the records' times.
/// True when a walk of `frames` was cut for want of call-frame information at its last frame,
/// with a frame before it: that last address is what the frame before led to, perhaps garbage.
fn stopped_at_last(frames: &[Unwound], end: Option<Ending>) -> bool {
    match end {
        Some(Ending::Unwound(End::Cut(Cut::NoCfi { address }))) => {
            frames.len() > 1 && frames.last().is_some_and(|f| f.address == address)
        }
        _ => false,
    }
}

fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}

/// The vDSO image, as mapped in this process (the kernel maps the same one into every process of
/// this architecture).
fn open_own_vdso() -> Result<Opened, String> {
    use std::io::{Seek, SeekFrom};
    let maps = procfs::maps(std::process::id()).unwrap_or_default();
    let vdso = maps.entries.iter().find(|m| m.path == b"[vdso]").ok_or("this process has no vDSO")?;
    let mut mem = std::fs::File::open("/proc/self/mem").map_err(|e| e.to_string())?;
    mem.seek(SeekFrom::Start(vdso.start)).map_err(|e| e.to_string())?;
    let len = vdso.end - vdso.start;
    let mut image = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut mem, len), &mut image)
        .map_err(|e| e.to_string())?;
    Ok(Opened { source: Source::Bytes(image), root: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sampler::recording::{Meta, RecordingReader, Summary};
    use sampler::records::{Comm, SampleId, TaskEvent};

    /// A pid no process has (above the kernel's largest), so `/proc` knows nothing of it.
    const NO_SUCH_PID: u32 = 4_200_000_000;

    struct Scratch(std::path::PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn session(name: &str) -> (Session, Scratch) {
        let path = std::env::temp_dir().join(format!("cperf-session-{name}-{}.cperf", std::process::id()));
        let meta = Meta {
            cperf_version: "test".into(),
            hostname: "test".into(),
            kernel: "test".into(),
            arch: std::env::consts::ARCH.into(),
            command_line: Vec::new(),
            start_unix_ns: 0,
            start_time: 0,
            event: "cpu-clock".into(),
            event_note: None,
            frequency: Some(99),
            period: None,
            callchain: false,
            call_graph: None,
            targets: Vec::new(),
            kernel_symbols: "none".into(),
            value: None,
        };
        let _ = std::fs::remove_file(&path);
        let w = RecordingWriter::create(&path, &meta).unwrap();
        let mut s = Session::new(Modules::new(Err("none".into())), false, None, 1);
        s.attach(w).unwrap();
        (s, Scratch(path))
    }

    fn id(pid: u32, time: u64) -> SampleId {
        SampleId { pid, tid: pid, time, cpu: 0, id: 1 }
    }

    fn sample(pid: u32, ip: u64, time: u64) -> Record {
        Record::Sample(Sample {
            id: 1,
            ip,
            pid,
            tid: pid,
            time,
            cpu: 0,
            period: 1,
            callchain: Vec::new(),
            misc: 2, // PERF_RECORD_MISC_USER
            cgroup: 0,
            user_regs: Vec::new(),
            user_stack: Vec::new(),
            user_stack_size: 0,
            user_regs_abi: 0,
        })
    }

    fn mmap(pid: u32, path: &str, addr: u64, len: u64, time: u64) -> Record {
        Record::Mmap2(Mmap2 {
            pid,
            tid: pid,
            addr,
            len,
            pgoff: 0,
            file_id: FileId::Inode { maj: 0, min: 0, ino: 1, ino_generation: 0 },
            prot: 5,
            flags: 2,
            filename: path.as_bytes().to_vec(),
            sample_id: id(pid, time),
        })
    }

    fn exec(pid: u32, name: &str, time: u64) -> Record {
        Record::Comm(Comm {
            pid,
            tid: pid,
            comm: name.as_bytes().to_vec(),
            exec: true,
            sample_id: id(pid, time),
        })
    }

    /// Closes the recording and reads, for each sample in the order written, its time and the
    /// path of the module of its leaf frame.
    fn samples_and_modules(s: Session, path: &std::path::Path) -> Vec<(u64, String)> {
        let summary = Summary {
            end_time: 0,
            stop: "test".into(),
            samples: 0,
            lost: 0,
            processes: 0,
            modules: 0,
            notes: vec![],
            stacks: None,
        };
        s.finish(&summary).unwrap();
        let mut r = RecordingReader::open(path).unwrap();
        let (mut modules, mut frames, mut stacks, mut out) =
            (HashMap::new(), HashMap::new(), HashMap::new(), Vec::new());
        while let Some(e) = r.next_entry().unwrap() {
            match e {
                Entry::Module { id, path, .. } => {
                    modules.insert(id, String::from_utf8_lossy(&path).into_owned());
                }
                Entry::Frame { id, module, .. } => {
                    frames.insert(id, module);
                }
                Entry::Stack { id, frames: f, .. } => {
                    stacks.insert(id, f[0]);
                }
                Entry::Sample { time, stack, .. } => {
                    out.push((time, modules[&frames[&stacks[&stack]]].clone()))
                }
                _ => {}
            }
        }
        out.sort();
        out
    }

    /// Finding 9, from records: a sample taken before an exec but handed over after the exec's
    /// records (a ring drained late) is named by the old program's mapping, not the new one's at the
    /// same address.
    #[test]
    fn a_sample_handed_over_after_an_exec_is_named_by_the_image_it_ran() {
        let (mut s, scratch) = session("late");
        let pid = NO_SUCH_PID;
        s.next_drain(1_000);
        let fork = TaskEvent { pid, ppid: 1, tid: pid, ptid: 1, time: 10, sample_id: id(pid, 10) };
        s.handle(Record::Fork(fork), 0).unwrap();
        s.handle(mmap(pid, "/old", 0x40_0000, 0x10_0000, 20), 0).unwrap();
        s.handle(sample(pid, 0x40_1000, 30), 0).unwrap();
        s.next_drain(2_000);
        s.note_exec(pid, 50);
        s.handle(exec(pid, "new", 50), 0).unwrap();
        s.handle(mmap(pid, "/new", 0x40_0000, 0x8_0000, 55), 0).unwrap();
        s.handle(sample(pid, 0x40_1000, 60), 0).unwrap();
        // Taken at 40, before the exec at 50, on a CPU whose ring was read later.
        s.next_drain(3_000);
        s.handle(sample(pid, 0x40_2000, 40), 0).unwrap();
        assert!(!s.has_deferred());
        let got = samples_and_modules(s, &scratch.0);
        assert_eq!(got, [(30, "/old".into()), (40, "/old".into()), (60, "/new".into())]);
    }

    /// Finding 9, through `/proc`: a process first seen by a sample taken before its exec has its
    /// maps read after the exec; the sample waits for the records drained after that read, which
    /// tell of the exec, and is then not named from the new program.
    #[test]
    fn maps_read_after_an_exec_do_not_name_samples_taken_before_it() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        // Wait for `sleep`'s own text mapping (an exec names the process before it maps the program).
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = procfs::maps(pid)
                .unwrap_or_default()
                .entries
                .into_iter()
                .find(|m| m.executable() && m.path.ends_with(b"/sleep"));
            if let Some(text) = text {
                break text;
            }
            assert!(Instant::now() < deadline, "sleep did not start");
            std::thread::sleep(Duration::from_millis(5));
        };
        let (mut s, scratch) = session("proc");
        let start = monotonic_ns();
        s.next_drain(start);
        let (before, exec_time, after) = (start - 3_000, start - 2_000, start - 1_000);
        s.handle(sample(pid, text.start + 0x10, before), 0).unwrap();
        s.handle(sample(pid, text.start + 0x20, after), 0).unwrap();
        assert!(s.has_deferred(), "samples named from maps read after their drain began must wait");
        // The next drain holds the exec record, written before the maps were read.
        s.next_drain(monotonic_ns());
        s.note_exec(pid, exec_time);
        s.replay_deferred().unwrap();
        s.handle(exec(pid, "sleep", exec_time), 0).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let sleep = String::from_utf8_lossy(&text.path).into_owned();
        let got = samples_and_modules(s, &scratch.0);
        assert_eq!(got, [(before, "[unknown]".into()), (after, sleep)]);
    }

    /// Review of finding 9: once more execs came than images are kept, a late sample taken in a
    /// dropped image is left unnamed and counted (not named from the oldest image kept), and a late
    /// exec record of a dropped image is not taken in again (it went in out of order before).
    #[test]
    fn samples_and_execs_older_than_the_images_kept_are_not_named_from_a_later_program() {
        let (mut s, scratch) = session("trimmed");
        let pid = NO_SUCH_PID;
        s.next_period();
        s.next_drain(1_000);
        let fork = TaskEvent { pid, ppid: 1, tid: pid, ptid: 1, time: 10, sample_id: id(pid, 10) };
        s.handle(Record::Fork(fork), 0).unwrap();
        s.handle(mmap(pid, "/p0", 0x40_0000, 0x10_0000, 20), 0).unwrap();
        for n in 1..=MAX_IMAGES as u64 + 1 {
            s.handle(exec(pid, "p", n * 100), 0).unwrap();
            s.handle(mmap(pid, &format!("/p{n}"), 0x40_0000, 0x10_0000, n * 100 + 5), 0).unwrap();
        }
        // Handed over late: a sample taken while /p1 ran (its image is dropped), the exec record
        // of an image older still, then samples of images kept.
        s.handle(sample(pid, 0x40_1000, 150), 0).unwrap();
        s.handle(exec(pid, "p", 50), 0).unwrap();
        s.handle(sample(pid, 0x40_1000, 250), 0).unwrap();
        s.handle(sample(pid, 0x40_1000, 550), 0).unwrap();
        assert_eq!(s.stats.before_exec_unseen, 1, "{:?}", s.stats);
        let got = samples_and_modules(s, &scratch.0);
        assert_eq!(got, [(150, "[unknown]".into()), (250, "/p2".into()), (550, "/p5".into())]);
    }

    /// Review of finding 7: `/proc/<pid>/maps` is read again for addresses in no known mapping
    /// at most once per drain period, not once per round of draining.
    #[test]
    fn maps_are_read_again_at_most_once_per_drain_period() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let (mut s, _scratch) = session("period");
        s.next_period();
        s.next_drain(monotonic_ns());
        s.add_existing(pid, 0).unwrap();
        let read_at = |s: &Session| s.processes[&pid].proc_read_at;
        let first = read_at(&s);
        assert!(first.is_some());
        for _ in 0..3 {
            // A round of the same period, with a sample at an address in no mapping.
            s.next_drain(monotonic_ns());
            s.replay_deferred().unwrap();
            s.handle(sample(pid, 0x10, monotonic_ns()), 0).unwrap();
            assert_eq!(read_at(&s), first, "maps read again within a drain period");
        }
        s.next_period();
        s.next_drain(monotonic_ns());
        s.handle(sample(pid, 0x10, monotonic_ns()), 0).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(read_at(&s) > first, "maps not read again in the next period");
    }

    /// Review of finding 7, on a real process: one with more than 16 MiB of maps text (thousands
    /// of mappings of a file with a long path, as a container can make) has it read up to the
    /// bound, once, and counted for the summary's note; what was read still names its program.
    #[test]
    fn a_process_with_a_huge_maps_text_is_read_up_to_the_bound() {
        use std::io::BufRead;
        let dir = std::env::temp_dir().join(format!("cperf-session-maps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let deep = (0..18).fold(dir.clone(), |p, i| p.join(format!("{i:02}{}", "d".repeat(200))));
        std::fs::create_dir_all(&deep).unwrap();
        let file = deep.join("f");
        std::fs::write(&file, [0u8; 4096]).unwrap();
        let program = dir.join("many-maps");
        let source = dir.join("many-maps.c");
        std::fs::write(
            &source,
            "#include <fcntl.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <sys/mman.h>\n#include <unistd.h>\n\
             int main(int argc, char **argv) {\n  int fd = open(argv[1], O_RDONLY);\n  if (fd < 0) return 1;\n\
               for (int i = 0; i < atoi(argv[2]); i++)\n    if (mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED) return 2;\n\
               puts(\"ready\");\n  fflush(stdout);\n  pause();\n}\n",
        )
        .unwrap();
        let cc = std::process::Command::new("cc").arg("-o").arg(&program).arg(&source).status().unwrap();
        assert!(cc.success());
        // About 3.7 KB a line: 6,000 lines are some 22 MB.
        let mut child = std::process::Command::new(&program)
            .arg(&file)
            .arg("6000")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(ready, "ready\n");
        let pid = child.id();
        let whole = std::fs::read(format!("/proc/{pid}/maps")).unwrap().len() as u64;
        let (mut s, _scratch) = session("huge-maps");
        s.next_period();
        s.next_drain(monotonic_ns());
        s.add_existing(pid, 0).unwrap();
        s.next_period();
        s.refresh_maps(pid).unwrap();
        let maps = procfs::maps(pid).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(whole > procfs::MAX_MAPS_TEXT, "the maps text is only {whole} bytes");
        assert!(maps.cut);
        assert!(maps.entries.iter().all(MapEntry::executable));
        assert!(maps.entries.iter().any(|m| m.path.ends_with(b"/many-maps")), "{:?}", maps.entries);
        assert_eq!(s.stats.maps_cut, 1, "{:?}", s.stats);
    }

    /// Review of finding 8: a file mapped in two roots is two modules, also once the processes
    /// are gone (their roots held): a module is keyed by the root descriptor held, not by a fresh
    /// stat of `/proc/<pid>/root` (which fails once the process is gone, and may see another
    /// directory than the one held after a chroot).
    #[test]
    fn a_path_in_two_roots_is_two_modules() {
        let dir = std::env::temp_dir().join(format!("cperf-session-root-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (mut s, _scratch) = session("roots");
        let root = |p: &std::path::Path| Some(Rc::new(ContainerRoot::at(p).unwrap()));
        s.target_roots = vec![root(std::path::Path::new("/")), root(&dir)];
        s.stats.per_target = vec![0; 2];
        let _ = std::fs::remove_dir(&dir);
        s.next_period();
        s.next_drain(1_000);
        let (a, b) = (NO_SUCH_PID, NO_SUCH_PID - 1);
        s.handle(mmap(a, "/lib/x.so", 0x40_0000, 0x1000, 10), 0).unwrap();
        s.handle(mmap(b, "/lib/x.so", 0x40_0000, 0x1000, 10), 1).unwrap();
        let module = |pid| s.locate(pid, 20, 0x40_0000).unwrap().0;
        assert_ne!(module(a), module(b), "one module for files of two roots");
    }

    /// Finding 12: a process cperf meets only through a sample, gone before `/proc` could be read,
    /// is counted as unnamed; one announced by a FORK from a named parent is not, nor the idle task.
    #[test]
    fn processes_that_cannot_be_named_are_counted() {
        let (mut s, _scratch) = session("unnamed");
        let start = monotonic_ns();
        s.next_drain(start);
        s.handle(exec(NO_SUCH_PID - 1, "parent", 5), 0).unwrap();
        let fork = TaskEvent {
            pid: NO_SUCH_PID - 2,
            ppid: NO_SUCH_PID - 1,
            tid: NO_SUCH_PID - 2,
            ptid: NO_SUCH_PID - 1,
            time: 10,
            sample_id: id(NO_SUCH_PID - 1, 10),
        };
        s.handle(Record::Fork(fork), 0).unwrap();
        s.handle(sample(NO_SUCH_PID - 2, 0x1000, 20), 0).unwrap();
        s.handle(sample(NO_SUCH_PID, 0x1000, 20), 0).unwrap();
        s.handle(sample(NO_SUCH_PID, 0x1000, 30), 0).unwrap();
        // The idle task (pid 0, which `/proc` does not list) is named as perf names it.
        s.handle(sample(0, 0x1000, 40), 0).unwrap();
        s.next_drain(monotonic_ns());
        s.replay_deferred().unwrap();
        assert_eq!(s.stats.unnamed_processes, 1, "{:?}", s.stats);
        assert_eq!(s.stats.samples, 4);
    }
}
