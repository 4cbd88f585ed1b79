//! Counting events: one perf event per CPU (or per thread) for each event of a list, opened for a
//! [`Scope`], enabled and disabled together, read as scaled totals.
//!
//! Per-CPU events are enabled and disabled from their own CPU (this thread is moved there for the
//! call, where its cpuset allows), as perf stat does. Enabled from another CPU, the kernel runs the
//! change on the target CPU in whatever task is running there; when that task belongs to the counted
//! cgroup and the event is the first cgroup event on that CPU, the kernel adopts the cgroup's clock
//! without restarting it, and the event's enabled and running times jump by the time since the cgroup
//! last ran under perf (its whole life, for a new container): seconds to minutes for a window of one.
//!
//! The same kernel error remains when cperf itself runs inside the counted cgroup (its own task is
//! then the one in the cgroup), or where its cpuset keeps it off a CPU. So every per-CPU reading is also held to what is possible: no more
//! time than the wall time since counting was enabled; a reading beyond it is capped there and
//! marked ([`Reading::times_capped`]), for the caller to say so.

use std::cell::Cell;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::event::{Event, EventKind, EventList};
use crate::sys::{self, perf, RawCount, SyscallError, Target};

/// Whose activity is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every task on every online CPU (`perf stat -a`).
    System,
    /// Tasks in a cgroup v2 directory and its descendants, on every online CPU (`perf stat -G`).
    Cgroup(PathBuf),
    /// These threads, and the tasks they create after the counters are opened (`perf stat -p`).
    Threads(Vec<u32>),
    /// A forked command that has not yet called `exec`: counting starts at its `exec` (enable-on-exec)
    /// and follows its children.
    Command(u32),
}

/// Why counters could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The kernel refused for lack of privilege.
    #[error("permission denied opening '{event}' (kernel.perf_event_paranoid = {paranoid}): run as root or grant CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8), or lower it with: sysctl kernel.perf_event_paranoid=-1; inside a container add --cap-add PERFMON (or --privileged) and --pid=host")]
    Permission {
        /// The event that failed first.
        event: String,
        /// The current `/proc/sys/kernel/perf_event_paranoid`, or `?`.
        paranoid: String,
    },
    /// A hardware event on a machine without a hardware PMU (most VMs).
    #[error("'{event}' is not supported on this machine (no hardware PMU, as in most VMs): use cpu-clock or task-clock instead")]
    Unsupported {
        /// The event.
        event: String,
    },
    /// The process or thread is gone.
    #[error("no such process {pid}: it may have exited; check the pid with: ps -p {pid}")]
    NoSuchProcess {
        /// The pid.
        pid: u32,
    },
    /// The cgroup directory cannot be opened.
    #[error("cannot open cgroup directory {path}: {source}")]
    Cgroup {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Too many file descriptors even after raising RLIMIT_NOFILE.
    #[error("too many open files opening {needed} perf events: raise the limit with: ulimit -n {suggest}, or count fewer events")]
    TooManyFiles {
        /// How many descriptors were needed.
        needed: usize,
        /// A limit that would do.
        suggest: usize,
    },
    /// A uprobe not resolved against a root filesystem before opening (a caller's mistake).
    #[error("'{event}': the probe's file was not opened before counting")]
    Unresolved {
        /// The event.
        event: String,
    },
    /// Any other failing system call.
    #[error("'{event}': {source}")]
    Syscall {
        /// The event being opened or read.
        event: String,
        /// The call that failed.
        #[source]
        source: SyscallError,
    },
}

/// One event's total over every CPU or thread of a [`CounterSet`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reading {
    /// The event's canonical name.
    pub event: String,
    /// The count, scaled up by `enabled_ns / running_ns` when the event was multiplexed.
    pub count: u64,
    /// The count as read, before scaling.
    pub raw_count: u64,
    /// Time the event was enabled, summed over CPUs or threads.
    pub enabled_ns: u64,
    /// Time the event was actually counting, summed over CPUs or threads.
    pub running_ns: u64,
    /// For `syscalls:sys_exit_*` events: how many of those returns were errors (`ret < 0`).
    pub errors: Option<u64>,
    /// The kernel gave more time on some CPU than the wall time counting was enabled; those times
    /// were capped at the wall time (see the module documentation).
    pub times_capped: bool,
}

impl Reading {
    /// True when the event did not count for all of the time it was enabled, so `count` is an estimate.
    pub fn multiplexed(&self) -> bool {
        self.running_ns < self.enabled_ns
    }

    /// The change from an earlier reading of the same event (for interval output).
    pub fn since(&self, earlier: &Reading) -> Reading {
        let raw = RawCount {
            value: self.raw_count.saturating_sub(earlier.raw_count),
            enabled_ns: self.enabled_ns.saturating_sub(earlier.enabled_ns),
            running_ns: self.running_ns.saturating_sub(earlier.running_ns),
        };
        Reading {
            event: self.event.clone(),
            count: scale(raw),
            raw_count: raw.value,
            enabled_ns: raw.enabled_ns,
            running_ns: raw.running_ns,
            errors: match (self.errors, earlier.errors) {
                (Some(a), Some(b)) => Some(a.saturating_sub(b)),
                (a, _) => a,
            },
            times_capped: self.times_capped,
        }
    }
}

/// Scales a raw count for multiplexing; a count that never ran is 0.
fn scale(raw: RawCount) -> u64 {
    if raw.running_ns == 0 || raw.running_ns >= raw.enabled_ns {
        return raw.value;
    }
    (raw.value as u128 * raw.enabled_ns as u128 / raw.running_ns as u128) as u64
}

/// The perf events of one [`Event`].
#[derive(Debug)]
struct Opened {
    event: Event,
    fds: Vec<OwnedFd>,
    /// For syscall exit tracepoints, the same tracepoint filtered on `ret < 0`.
    error_fds: Vec<OwnedFd>,
}

/// Counting events for one scope.
#[derive(Debug)]
pub struct CounterSet {
    opened: Vec<Opened>,
    scope: Scope,
    /// The CPU of each event's `fds[i]` (and `error_fds[i]`); -1 for per-thread events.
    cpus: Vec<i32>,
    /// When counting was first enabled and last disabled: the most time a per-CPU event can have.
    enabled_at: Cell<Option<Instant>>,
    disabled_at: Cell<Option<Instant>>,
}

/// Options for [`CounterSet::open_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CounterOptions {
    /// Also count failing returns of `syscalls:sys_exit_*` events (one more filtered event each).
    pub syscall_errors: bool,
}

impl CounterSet {
    /// Opens every event of `events` for `scope`, disabled.
    pub fn open(events: &EventList, scope: &Scope) -> Result<Self, CounterError> {
        Self::open_with(events, scope, CounterOptions::default())
    }

    /// Opens every event of `events` for `scope`, disabled, with options.
    pub fn open_with(
        events: &EventList,
        scope: &Scope,
        options: CounterOptions,
    ) -> Result<Self, CounterError> {
        let cgroup_dir = match scope {
            Scope::Cgroup(path) => Some(open_dir(path)?),
            _ => None,
        };
        let placements = placements(scope, cgroup_dir.as_ref())?;
        let needed = events.len() * placements.len() * if options.syscall_errors { 2 } else { 1 };
        if needed > 512 {
            // Best effort: a failure here shows up as EMFILE below, with advice.
            let _ = sys::raise_nofile_limit();
        }
        let mut opened = Vec::with_capacity(events.len());
        for event in events.events() {
            let attr = counting_attr(event, scope);
            let mut fds = Vec::with_capacity(placements.len());
            for &(target, cpu) in &placements {
                fds.push(open_one(&attr, target, cpu, event, scope, needed)?);
            }
            let mut error_fds = Vec::new();
            if options.syscall_errors && matches!(event.syscall(), Some((false, _))) {
                let filter = CString::new("ret < 0").expect("no NUL in literal");
                for &(target, cpu) in &placements {
                    let fd = open_one(&attr, target, cpu, event, scope, needed)?;
                    sys::perf_set_filter(fd.as_fd(), &filter)
                        .map_err(|source| CounterError::Syscall { event: event.name.clone(), source })?;
                    error_fds.push(fd);
                }
            }
            opened.push(Opened { event: event.clone(), fds, error_fds });
        }
        let cpus = placements.iter().map(|&(_, cpu)| cpu).collect();
        Ok(CounterSet {
            opened,
            scope: scope.clone(),
            cpus,
            enabled_at: Cell::new(None),
            disabled_at: Cell::new(None),
        })
    }

    /// Starts counting. For [`Scope::Command`] counting starts by itself at the command's `exec`, so
    /// this does nothing.
    pub fn enable(&self) -> Result<(), CounterError> {
        if matches!(self.scope, Scope::Command(_)) {
            return Ok(());
        }
        if self.enabled_at.get().is_none() {
            self.enabled_at.set(Some(Instant::now()));
        }
        self.disabled_at.set(None);
        self.for_each_fd(sys::perf_enable)
    }

    /// Stops counting; readings after this are final.
    pub fn disable(&self) -> Result<(), CounterError> {
        self.for_each_fd(sys::perf_disable)?;
        self.disabled_at.set(Some(Instant::now()));
        Ok(())
    }

    /// The most time a per-CPU event of this set can have counted so far; `None` for per-task
    /// events, whose inherited children add their own times.
    fn time_bound_ns(&self) -> Option<u64> {
        if self.cpus.iter().all(|&cpu| cpu < 0) {
            return None;
        }
        let Some(start) = self.enabled_at.get() else { return Some(0) };
        let end = self.disabled_at.get().unwrap_or_else(Instant::now);
        Some(end.saturating_duration_since(start).as_nanos() as u64)
    }

    /// Applies `f` to every event, CPU by CPU, from that CPU (see the module documentation).
    fn for_each_fd(
        &self,
        f: fn(std::os::fd::BorrowedFd<'_>) -> Result<(), SyscallError>,
    ) -> Result<(), CounterError> {
        let apply = |i: usize| -> Result<(), CounterError> {
            for o in &self.opened {
                for fd in o.fds.get(i).into_iter().chain(o.error_fds.get(i)) {
                    f(fd.as_fd())
                        .map_err(|source| CounterError::Syscall { event: o.event.name.clone(), source })?;
                }
            }
            Ok(())
        };
        if self.cpus.iter().all(|&cpu| cpu < 0) {
            return (0..self.cpus.len()).try_for_each(apply);
        }
        // Best effort: a CPU this thread may not run on (a cpuset without it) is reached from here, as
        // before; the time bound in `read` catches what the kernel may then get wrong.
        let pinned = Pinned::save();
        for (i, &cpu) in self.cpus.iter().enumerate() {
            if let Some(p) = &pinned {
                p.move_to(cpu);
            }
            apply(i)?;
        }
        Ok(())
    }

    /// The current totals, one per event, in the order the events were given.
    pub fn read(&self) -> Result<Vec<Reading>, CounterError> {
        let mut out = Vec::with_capacity(self.opened.len());
        // Read after the bound is taken, so that every time read is within it.
        let bound = self.time_bound_ns();
        for o in &self.opened {
            let (total, times_capped) = sum(&o.fds, bound)
                .map_err(|source| CounterError::Syscall { event: o.event.name.clone(), source })?;
            let errors = if o.error_fds.is_empty() {
                None
            } else {
                Some(
                    sum(&o.error_fds, bound)
                        .map_err(|source| CounterError::Syscall { event: o.event.name.clone(), source })?
                        .0
                        .value,
                )
            };
            out.push(Reading {
                event: o.event.name.clone(),
                count: scale(total),
                raw_count: total.value,
                enabled_ns: total.enabled_ns,
                running_ns: total.running_ns,
                errors,
                times_capped,
            });
        }
        Ok(out)
    }

    /// The events counted.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.opened.iter().map(|o| &o.event)
    }
}

/// This thread's CPU affinity, saved so it can be moved CPU by CPU and put back when dropped.
struct Pinned {
    saved: nix::sched::CpuSet,
}

impl Pinned {
    fn save() -> Option<Self> {
        let saved = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
        Some(Pinned { saved })
    }

    /// Moves this thread to `cpu` (the kernel migrates it before the call returns); stays where it
    /// is if it may not run there.
    fn move_to(&self, cpu: i32) {
        let mut set = nix::sched::CpuSet::new();
        if set.set(cpu as usize).is_ok() {
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // Best effort: the mask was this thread's own a moment ago.
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &self.saved);
    }
}

/// The total of `fds`, each held to `bound_ns` when given (see [`capped`]); true if one was capped.
fn sum(fds: &[OwnedFd], bound_ns: Option<u64>) -> Result<(RawCount, bool), SyscallError> {
    let mut total = RawCount::default();
    let mut any_capped = false;
    for fd in fds {
        let mut c = sys::perf_read_count(fd.as_fd())?;
        if let Some(bound) = bound_ns {
            let (held, was_capped) = capped(c, bound);
            c = held;
            any_capped |= was_capped;
        }
        total.value += c.value;
        total.enabled_ns += c.enabled_ns;
        total.running_ns += c.running_ns;
    }
    Ok((total, any_capped))
}

/// Slack for the two clocks (the kernel's perf clock, this process's monotonic clock) drifting apart:
/// 1 ms, plus 0.1% of the window (NTP slews the monotonic clock by at most 0.05%).
const CLOCK_SLACK_NS: u64 = 1_000_000;

/// One CPU's reading held to what is possible: enabled no longer than `bound_ns` (the wall time
/// since counting was enabled), running no longer than enabled. True when the kernel's was more.
fn capped(c: RawCount, bound_ns: u64) -> (RawCount, bool) {
    let limit = bound_ns + bound_ns / 1000 + CLOCK_SLACK_NS;
    if c.enabled_ns <= limit && c.running_ns <= limit {
        return (c, false);
    }
    let enabled_ns = c.enabled_ns.min(bound_ns);
    (RawCount { value: c.value, enabled_ns, running_ns: c.running_ns.min(enabled_ns) }, true)
}

pub(crate) fn open_dir(path: &Path) -> Result<OwnedFd, CounterError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|source| CounterError::Cgroup { path: path.to_path_buf(), source })
}

/// Where each event is opened: `(pid target, cpu)` pairs.
fn placements<'a>(
    scope: &Scope,
    cgroup_dir: Option<&'a OwnedFd>,
) -> Result<Vec<(Target<'a>, i32)>, CounterError> {
    Ok(match scope {
        Scope::System => online_cpus().into_iter().map(|c| (Target::AnyTask, c)).collect(),
        Scope::Cgroup(_) => {
            let dir = cgroup_dir.expect("cgroup scope opens its directory first");
            online_cpus().into_iter().map(|c| (Target::Cgroup(dir.as_fd()), c)).collect()
        }
        Scope::Threads(tids) => tids.iter().map(|&t| (Target::Pid(t as i32), -1)).collect(),
        Scope::Command(pid) => vec![(Target::Pid(*pid as i32), -1)],
    })
}

fn counting_attr(event: &Event, scope: &Scope) -> perf::perf_event_attr {
    let mut attr = sys::new_attr();
    let (type_, config) = event.type_and_config();
    attr.type_ = type_;
    attr.config = config;
    crate::uprobe::set_attr(event, &mut attr);
    attr.read_format = (perf::PERF_FORMAT_TOTAL_TIME_ENABLED | perf::PERF_FORMAT_TOTAL_TIME_RUNNING) as u64;
    attr.set_disabled(1);
    match scope {
        Scope::Threads(_) => attr.set_inherit(1),
        Scope::Command(_) => {
            attr.set_inherit(1);
            attr.set_enable_on_exec(1);
        }
        Scope::System | Scope::Cgroup(_) => {}
    }
    attr
}

pub(crate) fn open_one(
    attr: &perf::perf_event_attr,
    target: Target<'_>,
    cpu: i32,
    event: &Event,
    scope: &Scope,
    needed: usize,
) -> Result<OwnedFd, CounterError> {
    if event.uprobe().is_some_and(|u| u.attr_fields().is_none()) {
        return Err(CounterError::Unresolved { event: event.name.clone() });
    }
    match sys::perf_event_open(attr, target, cpu) {
        Ok(fd) => Ok(fd),
        Err(e) if e.errno() == Some(libc::EMFILE) => {
            // perf raises the limit only when it must; so do we, then try once more.
            let hard = sys::raise_nofile_limit().unwrap_or(0);
            sys::perf_event_open(attr, target, cpu).map_err(|e2| {
                if e2.errno() == Some(libc::EMFILE) {
                    CounterError::TooManyFiles { needed, suggest: (needed + 64).max(hard as usize + 1) }
                } else {
                    classify(e2, event, scope, target)
                }
            })
        }
        Err(e) => Err(classify(e, event, scope, target)),
    }
}

fn classify(e: SyscallError, event: &Event, _scope: &Scope, target: Target<'_>) -> CounterError {
    match e.errno() {
        Some(libc::EACCES) | Some(libc::EPERM) => CounterError::Permission {
            event: event.name.clone(),
            paranoid: std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into()),
        },
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENODEV)
            if matches!(event.kind, EventKind::Hardware(_)) =>
        {
            CounterError::Unsupported { event: event.name.clone() }
        }
        Some(libc::ESRCH) => match target {
            Target::Pid(pid) => CounterError::NoSuchProcess { pid: pid as u32 },
            _ => CounterError::Syscall { event: event.name.clone(), source: e },
        },
        _ => CounterError::Syscall { event: event.name.clone(), source: e },
    }
}

/// True when a hardware `cycles` event can be opened for this thread (false in most VMs).
pub fn hardware_available() -> bool {
    let Ok(event) = crate::event::named_event("cycles") else { return false };
    let mut attr = counting_attr(&event, &Scope::Threads(Vec::new()));
    attr.set_exclude_kernel(1);
    attr.set_exclude_hv(1);
    sys::perf_event_open(&attr, Target::Pid(0), -1).is_ok()
}

/// The online CPUs, from `/sys/devices/system/cpu/online` (`0-3,5`); CPU 0.. nproc on failure.
pub fn online_cpus() -> Vec<i32> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(&s))
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n as i32).collect()
        })
}

/// Parses a kernel CPU list such as `0-3,5,7-8`.
pub fn parse_cpu_list(s: &str) -> Option<Vec<i32>> {
    let mut cpus = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (i32, i32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 65536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,2-3,5"), Some(vec![0, 2, 3, 5]));
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("3-1"), None);
    }

    #[test]
    fn scaling() {
        assert_eq!(scale(RawCount { value: 100, enabled_ns: 10, running_ns: 10 }), 100);
        assert_eq!(scale(RawCount { value: 100, enabled_ns: 20, running_ns: 10 }), 200);
        assert_eq!(scale(RawCount { value: 0, enabled_ns: 0, running_ns: 0 }), 0);
    }

    /// The arithmetic of issue 13's impossible figures: 15.8 s on one CPU for a 1.5 s window is
    /// capped at the window; times within it (and within the clocks' slack) are kept as read.
    #[test]
    fn per_cpu_times_are_held_to_the_window() {
        let window = 1_500_000_000;
        let jumped = RawCount { value: 7, enabled_ns: 15_800_000_000, running_ns: 15_800_000_000 };
        assert_eq!(
            capped(jumped, window),
            (RawCount { value: 7, enabled_ns: window, running_ns: window }, true)
        );
        let half = RawCount { value: 7, enabled_ns: 20_000_000_000, running_ns: 750_000_000 };
        assert_eq!(
            capped(half, window),
            (RawCount { value: 7, enabled_ns: window, running_ns: 750_000_000 }, true)
        );
        let fine = RawCount { value: 7, enabled_ns: window + 900_000, running_ns: 750_000_000 };
        assert_eq!(capped(fine, window), (fine, false));
        let idle = RawCount::default();
        assert_eq!(capped(idle, window), (idle, false));
    }

    #[test]
    fn interval_delta() {
        let a = Reading {
            event: "e".into(),
            count: 10,
            raw_count: 10,
            enabled_ns: 5,
            running_ns: 5,
            errors: Some(1),
            times_capped: false,
        };
        let b = Reading {
            event: "e".into(),
            count: 25,
            raw_count: 25,
            enabled_ns: 9,
            running_ns: 9,
            errors: Some(3),
            times_capped: false,
        };
        let d = b.since(&a);
        assert_eq!((d.count, d.enabled_ns, d.errors), (15, 4, Some(2)));
    }

    /// Enabling and disabling per-CPU events moves this thread to each CPU and back: its affinity
    /// afterwards is the one it had before.
    #[test]
    fn per_cpu_enable_leaves_affinity_as_it_was() {
        let events = EventList::parse(&["cs"], None).unwrap();
        let set = match CounterSet::open(&events, &Scope::System) {
            Ok(s) => s,
            Err(CounterError::Permission { .. })
                if std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1") =>
            {
                eprintln!("skipped: system-wide perf_event_open not permitted");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let me = nix::unistd::Pid::from_raw(0);
        let before = nix::sched::sched_getaffinity(me).unwrap();
        set.enable().unwrap();
        assert_eq!(nix::sched::sched_getaffinity(me).unwrap(), before);
        set.disable().unwrap();
        assert_eq!(nix::sched::sched_getaffinity(me).unwrap(), before);
    }

    /// Counts this process's own context switches through a real perf event (needs perf_event_open
    /// for self, allowed at perf_event_paranoid <= 2 for software events).
    #[test]
    fn counts_own_task_clock() {
        let events = EventList::parse(&["task-clock"], None).unwrap();
        let set =
            match CounterSet::open(&events, &Scope::Threads(vec![nix::unistd::gettid().as_raw() as u32])) {
                Ok(s) => s,
                Err(CounterError::Permission { .. })
                    if std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1") =>
                {
                    eprintln!("skipped: perf_event_open not permitted");
                    return;
                }
                Err(e) => panic!("{e}"),
            };
        // Spin for 20 ms of this thread's own CPU time, not wall time: tests run in parallel on few CPUs.
        let cpu_ns = || {
            let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
            t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
        };
        set.enable().unwrap();
        let start = cpu_ns();
        while cpu_ns() - start < 20_000_000 {
            std::hint::black_box(0);
        }
        set.disable().unwrap();
        let r = &set.read().unwrap()[0];
        assert!(
            (15_000_000..200_000_000).contains(&r.count),
            "task-clock {} ns for a 20 ms CPU spin",
            r.count
        );
    }
}
