//! Sampling events: one perf event per CPU for each target, every target's events on a CPU writing
//! into that CPU's one ring buffer, with side-band records (MMAP2, COMM, FORK, EXIT) from each
//! container or task target's events (the kernel filters those by cgroup and task) and from the
//! first system-wide one.
//!
//! This is what `cperf record` drains; records are parsed by [`crate::records`] and attributed to a
//! target through their event id.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::counter::{self, CounterError, Scope};
use crate::event::Event;
use crate::records::{self, ParseError, Record, SampleLayout};
use crate::ring::{Ring, RingError};
use crate::sys::{self, perf, Target};

/// How often to sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Samples per second (`-F`), the kernel adjusting the period.
    Frequency(u64),
    /// One sample every this many events (`-c`; nanoseconds for clock events).
    Period(u64),
}

/// What to sample.
#[derive(Debug, Clone)]
pub struct SamplingOptions {
    /// The event that triggers samples (`cpu-clock`, `cycles`, …).
    pub event: Event,
    /// How often.
    pub rate: Rate,
    /// Kernel and user callchains (`-g`).
    pub callchain: bool,
    /// User registers to sample (`PERF_REG_*` bits; 0 for none): the return value of a uretprobe,
    /// the registers a user stack is unwound from.
    pub user_regs: u64,
    /// Bytes of user stack to copy per sample (0 for none). With a callchain, the kernel's
    /// callchain then stops at the user boundary: the user part is unwound from this copy.
    pub stack_user: u32,
    /// Data pages per CPU ring (a power of two).
    pub ring_pages: usize,
}

impl SamplingOptions {
    /// What the samples carry.
    pub fn layout(&self) -> SampleLayout {
        SampleLayout { callchain: self.callchain, user_regs: self.user_regs, stack_user: self.stack_user }
    }
}

/// One CPU's events and their shared ring.
#[derive(Debug)]
struct CpuStream {
    ring: Ring,
    /// `(event fd, target index)`; the first one owns the ring.
    events: Vec<(OwnedFd, usize)>,
}

/// Sampling events for a set of targets.
#[derive(Debug)]
pub struct Sampler {
    streams: Vec<CpuStream>,
    /// Event id → target index.
    ids: Vec<(u64, usize)>,
    layout: SampleLayout,
    build_ids: bool,
}

/// What a drain found besides records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DrainStats {
    /// Bytes consumed.
    pub bytes: u64,
    /// Records that did not parse (counted, skipped).
    pub malformed: u64,
    /// Corrupt ring stretches skipped.
    pub ring_errors: u64,
}

impl Sampler {
    /// Opens, disabled, one sampling event per online CPU for every target. System-wide and cgroup
    /// targets get one event per CPU; threads (`-p`) and a held command get one per thread per CPU,
    /// inherited by the tasks they create (the kernel only maps rings of inherited events bound to
    /// a CPU). Every event on a CPU writes into that CPU's one ring.
    pub fn open(options: &SamplingOptions, targets: &[Scope]) -> Result<Self, CounterError> {
        let events = vec![options.event.clone(); targets.len()];
        Self::open_per_target(options, targets, &events)
    }

    /// Like [`Sampler::open`], with each target's own version of the event (`events[i]` for
    /// `targets[i]`): a uprobe is placed on each target's own file.
    pub fn open_per_target(
        options: &SamplingOptions,
        targets: &[Scope],
        target_events: &[Event],
    ) -> Result<Self, CounterError> {
        assert_eq!(targets.len(), target_events.len(), "one event per target");
        let dirs = targets
            .iter()
            .map(|scope| match scope {
                Scope::Cgroup(path) => counter::open_dir(path).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cpus = counter::online_cpus();
        let per_cpu: usize = targets
            .iter()
            .map(|t| match t {
                Scope::Threads(tids) => tids.len(),
                _ => 1,
            })
            .sum();
        let needed = cpus.len() * per_cpu;
        let mut build_id = true;
        let mut streams = Vec::with_capacity(cpus.len());
        let mut ids = Vec::new();
        // Tasks with an event on some CPU already: one that exits while the others are opened has
        // samples in those rings, to be kept.
        let mut attached: Vec<u32> = Vec::new();
        for &cpu in &cpus {
            let mut events: Vec<(OwnedFd, usize)> = Vec::with_capacity(per_cpu);
            let mut ring = None;
            for (index, scope) in targets.iter().enumerate() {
                let placements: Vec<(Target<'_>, Option<u32>)> = match (scope, &dirs[index]) {
                    (Scope::Cgroup(_), Some(dir)) => vec![(Target::Cgroup(dir.as_fd()), None)],
                    (Scope::System, _) => vec![(Target::AnyTask, None)],
                    (Scope::Threads(tids), _) => {
                        tids.iter().map(|&t| (Target::Pid(t as i32), Some(t))).collect()
                    }
                    (Scope::Command(pid), _) => vec![(Target::Pid(*pid as i32), Some(*pid))],
                    (Scope::Cgroup(_), None) => unreachable!("cgroup directories are opened above"),
                };
                for (target, task) in placements {
                    let per_task = task.is_some();
                    // The kernel filters a cgroup event's side-band records (MMAP2, COMM, FORK,
                    // EXIT) by the cgroup of the task that causes them, so each container target
                    // carries its own; a system-wide event sees every task's, so only the first
                    // event of a CPU carries them; per-task events each see only their tasks.
                    let sideband = per_task || events.is_empty() || matches!(scope, Scope::Cgroup(_));
                    let event = &target_events[index];
                    let mut attr = sampling_attr(options, event, sideband, scope, build_id);
                    let fd = match counter::open_one(&attr, target, cpu, event, scope, needed) {
                        Err(CounterError::Syscall { ref source, .. })
                            if build_id && sideband && source.errno() == Some(libc::EINVAL) =>
                        {
                            // Kernels before 5.12 do not put build-ids in MMAP2 records.
                            build_id = false;
                            attr = sampling_attr(options, event, sideband, scope, false);
                            counter::open_one(&attr, target, cpu, event, scope, needed)
                        }
                        other => other,
                    };
                    let fd = match fd {
                        Ok(fd) => fd,
                        // A thread of `-p` that exited since it was listed, or since its events on
                        // the CPUs before this one were opened.
                        Err(CounterError::NoSuchProcess { .. })
                            if matches!(scope, Scope::Threads(t) if t.len() > 1)
                                || task.is_some_and(|t| attached.contains(&t)) =>
                        {
                            continue
                        }
                        Err(e) => return Err(e),
                    };
                    let map_err = |source| CounterError::Syscall { event: event.name.clone(), source };
                    ids.push((sys::perf_event_id(fd.as_fd()).map_err(map_err)?, index));
                    match &ring {
                        None => ring = Some(Ring::map(fd.as_fd(), options.ring_pages).map_err(map_err)?),
                        Some(_) => sys::perf_set_output(fd.as_fd(), events[0].0.as_fd()).map_err(map_err)?,
                    }
                    events.push((fd, index));
                    attached.extend(task);
                }
            }
            if let Some(ring) = ring {
                streams.push(CpuStream { ring, events });
            }
        }
        if streams.is_empty() {
            return Err(CounterError::NoSuchProcess {
                pid: targets
                    .iter()
                    .find_map(|t| match t {
                        Scope::Threads(t) => t.first().copied(),
                        _ => None,
                    })
                    .unwrap_or(0),
            });
        }
        Ok(Sampler { streams, ids, layout: options.layout(), build_ids: build_id })
    }

    /// True when MMAP2 records carry build-ids (kernel 5.12+).
    pub fn build_ids(&self) -> bool {
        self.build_ids
    }

    /// Starts sampling.
    pub fn enable(&self) -> Result<(), CounterError> {
        self.each_fd(sys::perf_enable)
    }

    /// Stops sampling; records already written can still be drained.
    pub fn disable(&self) -> Result<(), CounterError> {
        self.each_fd(sys::perf_disable)
    }

    fn each_fd(&self, f: fn(BorrowedFd<'_>) -> Result<(), sys::SyscallError>) -> Result<(), CounterError> {
        for s in &self.streams {
            for (fd, _) in &s.events {
                f(fd.as_fd())
                    .map_err(|source| CounterError::Syscall { event: "sampling event".into(), source })?;
            }
        }
        Ok(())
    }

    /// The descriptors that own a ring, to wait on with poll/epoll (readable when the ring has data).
    pub fn ring_fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.streams.iter().map(|s| s.events[0].0.as_fd())
    }

    /// The target index of an event id, if it is one of ours.
    pub fn target_of(&self, id: u64) -> Option<usize> {
        self.ids.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
    }

    /// Parses and hands over every record written so far, ring by ring.
    pub fn drain(&mut self, mut f: impl FnMut(Record)) -> DrainStats {
        let mut stats = DrainStats::default();
        let layout = self.layout;
        for s in &mut self.streams {
            let result = s.ring.drain(|raw| {
                let body = raw.body();
                match records::parse(raw.header.kind, raw.header.misc, &body, layout) {
                    Ok(record) => f(record),
                    Err(ParseError { .. }) => stats.malformed += 1,
                }
            });
            match result {
                Ok(bytes) => stats.bytes += bytes,
                Err(RingError::Corrupt { .. }) => stats.ring_errors += 1,
            }
        }
        stats
    }
}

fn sampling_attr(
    options: &SamplingOptions,
    event: &Event,
    sideband: bool,
    scope: &Scope,
    build_id: bool,
) -> perf::perf_event_attr {
    let mut attr = sys::new_attr();
    let (type_, config) = event.type_and_config();
    attr.type_ = type_;
    attr.config = config;
    crate::uprobe::set_attr(event, &mut attr);
    match options.rate {
        Rate::Frequency(hz) => {
            attr.set_freq(1);
            attr.__bindgen_anon_1.sample_freq = hz;
        }
        Rate::Period(n) => attr.__bindgen_anon_1.sample_period = n,
    }
    attr.sample_type = records::sample_type(options.layout());
    attr.sample_regs_user = options.user_regs;
    attr.sample_stack_user = options.stack_user;
    if options.callchain && options.stack_user != 0 {
        // The user part is unwound from the stack copy; the kernel's frame-pointer walk of it would
        // only cost time and ring space.
        attr.set_exclude_callchain_user(1);
    }
    attr.set_disabled(1);
    attr.set_sample_id_all(1);
    // Times on CLOCK_MONOTONIC, comparable with the recorder's own clock.
    attr.set_use_clockid(1);
    attr.clockid = libc::CLOCK_MONOTONIC;
    // Wake the reader when a quarter of the ring is full (it also polls on a timer).
    attr.set_watermark(1);
    attr.__bindgen_anon_2.wakeup_watermark = (options.ring_pages as u32 * 4096) / 4;
    match scope {
        Scope::Threads(_) => {
            attr.set_inherit(1);
            // Measured on 6.18: an inherited per-CPU event on a task that is already running and
            // never sleeps takes no samples when enabled later by ioctl; opened enabled, it does.
            // Its samples wait in the ring until the recorder drains it.
            attr.set_disabled(0);
        }
        Scope::Command(_) => {
            attr.set_inherit(1);
            attr.set_enable_on_exec(1);
        }
        Scope::System | Scope::Cgroup(_) => {}
    }
    if sideband {
        attr.set_mmap(1);
        attr.set_mmap2(1);
        attr.set_comm(1);
        attr.set_comm_exec(1);
        attr.set_task(1);
        if build_id {
            attr.set_build_id(1);
        }
    }
    attr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_carry_sideband_only_on_the_first_event() {
        let event = crate::event::named_event("cpu-clock").unwrap();
        let options = SamplingOptions {
            event,
            rate: Rate::Frequency(99),
            callchain: true,
            user_regs: 0,
            stack_user: 0,
            ring_pages: 64,
        };
        let first = sampling_attr(&options, &options.event, true, &Scope::System, true);
        let other = sampling_attr(&options, &options.event, false, &Scope::System, true);
        assert_eq!((first.mmap2(), first.comm(), first.task()), (1, 1, 1));
        assert_eq!((other.mmap2(), other.comm(), other.task()), (0, 0, 0));
        assert_eq!(first.freq(), 1);
        assert_eq!((first.build_id(), first.use_clockid(), first.inherit()), (1, 1, 0));
        let command = sampling_attr(&options, &options.event, true, &Scope::Command(1), false);
        assert_eq!((command.inherit(), command.enable_on_exec(), command.build_id()), (1, 1, 0));
        assert_eq!(
            first.sample_type & u64::from(perf::PERF_SAMPLE_CALLCHAIN),
            u64::from(perf::PERF_SAMPLE_CALLCHAIN)
        );
    }

    /// Samples a busy thread of this process system-wide at 999 Hz: its pid shows up in samples, and
    /// side-band records arrive.
    #[test]
    fn samples_this_process_system_wide() {
        let event = crate::event::named_event("cpu-clock").unwrap();
        let options = SamplingOptions {
            event,
            rate: Rate::Frequency(999),
            callchain: true,
            user_regs: 0,
            stack_user: 0,
            ring_pages: 64,
        };
        let mut sampler = match Sampler::open(&options, &[Scope::System]) {
            Ok(s) => s,
            Err(CounterError::Permission { .. })
                if std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1") =>
            {
                eprintln!("skipped: system-wide sampling not permitted");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        sampler.enable().unwrap();
        let child = std::process::Command::new("true").status().unwrap();
        assert!(child.success());
        // 300 ms of this thread's own CPU time, however loaded the host is.
        let cpu_time = || {
            let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
            t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
        };
        let start = cpu_time();
        while cpu_time() - start < 300_000_000 {
            std::hint::black_box(0u64);
        }
        sampler.disable().unwrap();
        let me = std::process::id();
        let (mut ours, mut comms, mut mmaps, mut with_stack) = (0, 0, 0, 0);
        let mut ids = Vec::new();
        let stats = sampler.drain(|r| match r {
            Record::Sample(s) => {
                ids.push(s.id);
                if s.pid == me {
                    ours += 1;
                    if s.callchain.len() > 1 {
                        with_stack += 1;
                    }
                }
            }
            Record::Comm(_) => comms += 1,
            Record::Mmap2(_) => mmaps += 1,
            _ => {}
        });
        assert_eq!(stats.malformed, 0);
        assert!(ids.iter().all(|&id| sampler.target_of(id) == Some(0)), "a sample from an unknown event id");
        // 300 ms of one busy thread's CPU time at 999 Hz: about 300 samples.
        assert!(ours >= 150, "{ours} samples of this process in 300 ms of its CPU time at 999 Hz");
        assert!(with_stack * 10 >= ours * 9, "{with_stack} of {ours} samples have a callchain");
        assert!(comms >= 1 && mmaps >= 1, "side-band: {comms} COMM, {mmaps} MMAP2 for the exec of `true`");
    }

    /// Only tasks of the cgroup are sampled: a busy shell moved into a fresh cgroup shows up, a busy
    /// shell outside it never does.
    #[test]
    fn samples_only_the_cgroup() {
        let privileged = nix::unistd::geteuid().is_root();
        let Some(root) = crate::cgroup::cgroup2_mount().ok().filter(|_| privileged) else {
            assert!(
                std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
                "needs root and cgroup2"
            );
            eprintln!("skipped: needs root and cgroup2");
            return;
        };
        let dir = root.join(format!("cperf-sampling-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let spin = |cgroup: Option<&std::path::Path>| {
            let script = match cgroup {
                Some(d) => format!("echo $$ > {}/cgroup.procs; while :; do :; done", d.display()),
                None => "while :; do :; done".to_string(),
            };
            std::process::Command::new("sh").args(["-c", &script]).spawn().unwrap()
        };
        let mut inside = spin(Some(&dir));
        let mut outside = spin(None);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let event = crate::event::named_event("cpu-clock").unwrap();
        let options = SamplingOptions {
            event,
            rate: Rate::Frequency(999),
            callchain: false,
            user_regs: 0,
            stack_user: 0,
            ring_pages: 64,
        };
        // The CPU time the cgroup's tasks had (its `cpu.stat`), which the samples follow however
        // loaded the host is.
        let usage_us = || {
            let stat = std::fs::read_to_string(dir.join("cpu.stat")).unwrap();
            let line = stat.lines().find_map(|l| l.strip_prefix("usage_usec ")).unwrap();
            line.trim().parse::<u64>().unwrap()
        };
        let mut used_ms = 0;
        let result = Sampler::open(&options, &[Scope::Cgroup(dir.clone())]).map(|mut sampler| {
            let before = usage_us();
            sampler.enable().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(400));
            sampler.disable().unwrap();
            used_ms = (usage_us() - before) / 1000;
            let mut pids = std::collections::BTreeMap::new();
            sampler.drain(|r| {
                if let Record::Sample(s) = r {
                    *pids.entry(s.pid).or_insert(0u32) += 1;
                }
            });
            pids
        });
        let _ = inside.kill();
        let _ = outside.kill();
        let _ = inside.wait();
        let _ = outside.wait();
        let _ = std::fs::remove_dir(&dir);
        let pids = result.unwrap();
        let n_inside = pids.get(&inside.id()).copied().unwrap_or(0);
        assert!(
            used_ms >= 20 && u64::from(n_inside) * 2 >= used_ms,
            "{n_inside} samples of the cgroup's busy shell, which ran {used_ms} ms, at 999 Hz: {pids:?}"
        );
        assert_eq!(
            pids.keys().copied().collect::<Vec<_>>(),
            [inside.id()],
            "samples outside the cgroup: {pids:?}"
        );
    }
}
