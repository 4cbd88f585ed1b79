//! Counting many syscall tracepoints at once, in the kernel, with one BPF program.
//!
//! `perf stat -e 'syscalls:*'` opens ~720 tracepoints; closing them takes ~25 s because the kernel
//! waits one RCU grace period per distinct tracepoint while holding its event mutex. This module counts
//! the same events from the two `raw_syscalls` tracepoints instead: a BPF program (see
//! `bpf/syscount.bpf.c`) adds one per (target cgroup, syscall number) into a per-CPU array. The numbers
//! are the same as perf's (same tracepoint data, same cgroup-descendant rule); opening and closing costs
//! two attachments.
//!
//! [`plan`] decides which requested events it takes (wide syscall globs on x86_64); the rest, and every
//! syscall tracepoint the number table does not name, stay on per-tracepoint perf events.

#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
mod loader;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
pub use loader::SyscallCounter;
#[cfg(not(all(feature = "bpf", target_arch = "x86_64")))]
pub use unavailable::SyscallCounter;

/// One syscall's totals for one target, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyscallCounts {
    /// `sys_enter` hits.
    pub enter: u64,
    /// `sys_exit` hits.
    pub exit: u64,
    /// `sys_exit` hits with a negative return value.
    pub errors: u64,
}

/// The counter in a build without BPF: it never loads, so callers fall back to perf events.
#[cfg(not(all(feature = "bpf", target_arch = "x86_64")))]
mod unavailable {
    use super::{SyscallCounts, SyscallTarget, SyscountError};

    /// Never constructed in this build: [`SyscallCounter::load`] always fails with `NotBuilt`.
    #[derive(Debug)]
    pub struct SyscallCounter(std::convert::Infallible);

    impl SyscallCounter {
        /// Always `Err(SyscountError::NotBuilt)` in this build.
        pub fn load(_target: &SyscallTarget<'_>, _exits: bool) -> Result<Self, SyscountError> {
            Err(SyscountError::NotBuilt)
        }
        /// Unreachable: no value exists.
        pub fn enable(&mut self) -> Result<(), SyscountError> {
            match self.0 {}
        }
        /// Unreachable: no value exists.
        pub fn disable(&mut self) -> Result<(), SyscountError> {
            match self.0 {}
        }
        /// Unreachable: no value exists.
        pub fn read(&self, _slot: usize, _nr: u32) -> Result<SyscallCounts, SyscountError> {
            match self.0 {}
        }
    }
}

use crate::event::{Event, EventList};

/// Wide syscall lists go to BPF; a handful of syscall tracepoints is cheaper as plain perf events.
pub const MIN_EVENTS_FOR_BPF: usize = 16;

/// Largest syscall number the BPF program counts (exclusive), as in `syscount.bpf.c`.
pub const MAX_SYSCALLS: u32 = 1024;

/// Largest number of cgroup targets one program serves, as in `syscount.bpf.c`.
pub const MAX_TARGETS: usize = 64;

/// Whose syscalls the BPF counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallTarget<'a> {
    /// Every task (one slot).
    All,
    /// Tasks in these cgroup directories and below (one slot each, in order).
    Cgroups(&'a [&'a std::path::Path]),
    /// These threads and every task they create from now on (one slot), plus, from its `exec` on, the
    /// held command `on_exec` — the tasks perf's inherited per-task events count.
    Tasks {
        /// Threads followed from the start.
        tids: &'a [u32],
        /// A process followed from its next `exec`.
        on_exec: Option<u32>,
    },
}

/// Why the BPF counter could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SyscountError {
    /// This build has no BPF support or this architecture has no syscall table.
    #[error("this cperf was built without BPF support (feature `bpf`) or for an architecture without a syscall table")]
    NotBuilt,
    /// Loading or attaching failed (no permission, no BTF, old kernel…).
    #[error("cannot load the BPF syscall counter: {0}")]
    Load(String),
    /// Too many targets for one program.
    #[error("at most {MAX_TARGETS} containers can be counted at once by the BPF syscall counter")]
    TooManyTargets,
    /// A cgroup directory could not be opened.
    #[error("cannot open cgroup directory {path}: {source}")]
    Cgroup {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading the counts failed.
    #[error("cannot read the BPF syscall counts: {0}")]
    Read(String),
}

/// One event taken by the BPF counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfEvent {
    /// Index of the event in the original list.
    pub index: usize,
    /// Its syscall number.
    pub nr: u32,
    /// `sys_enter_*` (true) or `sys_exit_*` (false).
    pub enter: bool,
}

/// How a list of events is split between the BPF counter and perf events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Events counted by BPF.
    pub bpf: Vec<BpfEvent>,
    /// Indexes (into the original list) of the events left to perf.
    pub perf: Vec<usize>,
}

/// The events at `indexes` of `events`, in that order (the perf part of a [`Plan`]).
pub fn select(events: &EventList, indexes: &[usize]) -> EventList {
    EventList::from_events(indexes.iter().map(|&i| events.events()[i].clone()))
}

/// The syscall number of a tracepoint name (`read` → 0), if this architecture's table names it.
pub fn syscall_number(name: &str) -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::SYSCALLS.iter().find(|(_, n)| *n == name).map(|(nr, _)| *nr)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = name;
        None
    }
}

/// Splits `events` between BPF and perf. BPF takes the syscall tracepoints whose number is known,
/// but only when there are at least [`MIN_EVENTS_FOR_BPF`] of them and this build can load BPF.
pub fn plan(events: &EventList) -> Plan {
    let mut plan = Plan::default();
    for (index, event) in events.events().iter().enumerate() {
        match bpf_event(index, event) {
            Some(b) => plan.bpf.push(b),
            None => plan.perf.push(index),
        }
    }
    if plan.bpf.len() < MIN_EVENTS_FOR_BPF || !cfg!(all(feature = "bpf", target_arch = "x86_64")) {
        return Plan { bpf: Vec::new(), perf: (0..events.len()).collect() };
    }
    plan
}

fn bpf_event(index: usize, event: &Event) -> Option<BpfEvent> {
    let (enter, name) = event.syscall()?;
    let nr = syscall_number(name)?;
    (nr < MAX_SYSCALLS).then_some(BpfEvent { index, nr, enter })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn tp(name: &str) -> Event {
        Event {
            name: format!("syscalls:{name}"),
            kind: EventKind::Tracepoint { subsystem: "syscalls".into(), name: name.into(), id: 1 },
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn table_names_tracepoints_not_libc_names() {
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("newfstat"), Some(5));
        assert_eq!(syscall_number("getppid"), Some(110));
        assert_eq!(syscall_number("sendfile64"), Some(40));
        assert_eq!(syscall_number("fstat"), None);
        let mut seen = std::collections::HashSet::new();
        for (nr, name) in x86_64::SYSCALLS {
            assert!(*nr < MAX_SYSCALLS);
            assert!(seen.insert(*name), "{name} twice");
        }
    }

    #[test]
    fn few_syscalls_stay_on_perf() {
        let events = EventList::from_events([tp("sys_enter_getppid"), tp("sys_exit_getppid")]);
        let p = plan(&events);
        assert!(p.bpf.is_empty());
        assert_eq!(p.perf, [0, 1]);
    }

    #[cfg(all(feature = "bpf", target_arch = "x86_64"))]
    #[test]
    fn wide_globs_go_to_bpf_and_unknown_names_to_perf() {
        let mut list: Vec<Event> =
            x86_64::SYSCALLS.iter().take(40).map(|(_, n)| tp(&format!("sys_enter_{n}"))).collect();
        list.push(tp("sys_enter_not_in_table"));
        list.push(crate::event::named_event("cs").unwrap());
        let events = EventList::from_events(list);
        let p = plan(&events);
        assert_eq!(p.bpf.len(), 40);
        assert_eq!(p.perf, [40, 41]);
        assert_eq!(p.bpf[0], BpfEvent { index: 0, nr: x86_64::SYSCALLS[0].0, enter: true });
        assert_eq!(select(&events, &p.perf).len(), 2);
    }
}
