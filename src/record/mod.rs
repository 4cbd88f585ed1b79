//! `cperf record`: sample stacks of containers, processes, a command or the whole host into a
//! self-contained recording.
//!
//! The flow: resolve targets → pick the event → open per-CPU sampling events (one ring per CPU) →
//! write the metadata and what already-running processes have mapped → drain the rings every
//! 100 ms, turning records into entries ([`session`]), naming newly seen frames while their files are
//! open ([`modules`]), copying JIT perf maps ([`jit`]), and writing a chunk at least once a second →
//! on the end of the command, `--duration`, Ctrl-C or SIGTERM, drain what is left, write the summary
//! and print it ([`output`]).

mod call_graph;
mod cgroups;
mod jit;
mod modules;
mod output;
pub(crate) mod procfs;
mod session;

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sampler::command_cgroup::CommandCgroup;
use sampler::counter::{self, Scope};
use sampler::event::{self, EventKind, EventList};
use sampler::recording::{Meta, RecordingWriter, Summary, TargetMeta};
use sampler::records::Record;
use sampler::sampling::{Rate, Sampler, SamplingOptions};
use sampler::workload::{Exit, Workload};

use crate::signals::Signals;
pub use call_graph::CallGraph;
use cgroups::CgroupMembership;
use modules::Modules;
pub use output::stack_lines;
use session::Session;

/// What `cperf record` was asked to do, free of command-line parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOptions {
    /// Containers as named (`-G`).
    pub containers: Vec<String>,
    /// `-p`.
    pub pids: Vec<u32>,
    /// `-a`.
    pub system_wide: bool,
    /// The command after `--`: profiled itself, or with -G/-a/-p just the timer.
    pub command: Vec<String>,
    /// `-e`, or the default (cycles where a PMU exists, else cpu-clock).
    pub event: Option<String>,
    /// `-F` or `-c`; `None` for the default (99 Hz, or every event for tracepoints).
    pub rate: Option<Rate>,
    /// `-g` or `--call-graph`: call stacks.
    pub callchain: bool,
    /// `--call-graph`: how their user part is found; `None` for the event's default.
    pub call_graph: Option<CallGraph>,
    /// `-o`.
    pub output: PathBuf,
    /// `--duration`.
    pub duration: Option<Duration>,
    /// `-m`: data pages per CPU ring; `None` for the default of the call graph.
    pub ring_pages: Option<usize>,
    /// `--retval`: sample the return register (a uretprobe's return value).
    pub retval: bool,
}

/// How often the recording is flushed (the most a SIGKILL can lose).
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often the rings are drained.
const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// Why recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Duration,
    Command(Exit),
    Signal(nix::sys::signal::Signal),
    ProcessesGone,
}

/// Runs `cperf record`; returns the exit code.
pub fn run(opts: RecordOptions, err: &mut dyn std::io::Write) -> anyhow::Result<i32> {
    if opts.containers.is_empty() && opts.pids.is_empty() && !opts.system_wide && opts.command.is_empty() {
        bail!("nothing to record: give -G <container>, -p <pid>, -a (whole host), or a command after --");
    }
    let (event, event_note) = pick_event(opts.event.as_deref())?;
    let probe_event = EventList::from_events([event.clone()]);
    crate::uprobes::refuse_per_task(&probe_event, &opts.pids)?;
    let return_register = match (opts.retval, event.uprobe()) {
        (false, _) => 0,
        (true, Some(probe)) if probe.retprobe => match sampler::uprobe::return_register() {
            Some((mask, _)) => mask,
            None => bail!("--retval: cperf does not know the return register of this machine ({})", std::env::consts::ARCH),
        },
        (true, _) => bail!(
            "--retval needs a return probe: -e 'uretprobe:/path/in/container:function' (a value exists only when the function returns)"
        ),
    };
    let every_hit =
        matches!(event.kind, EventKind::Tracepoint { .. } | EventKind::Uprobe(_)) && opts.rate.is_none();
    let call_graph =
        opts.callchain.then(|| opts.call_graph.unwrap_or_else(|| CallGraph::default_for(every_hit)));
    let unwind_registers = match call_graph {
        Some(CallGraph::Dwarf { .. }) => sampler::user_stack::unwind_registers(),
        _ => None,
    };
    let user_regs = return_register | unwind_registers.map_or(0, |r| r.mask());
    let mut rate = opts.rate.unwrap_or(match event.kind {
        EventKind::Tracepoint { .. } | EventKind::Uprobe(_) => Rate::Period(1),
        _ => Rate::Frequency(99),
    });
    let mut event_note = event_note;
    if let (Rate::Frequency(hz), Some(max)) = (rate, max_sample_rate()) {
        if hz > max {
            // The kernel refuses a higher frequency (and lowers this limit by itself when sampling
            // interrupts take long); sample at the limit and say so rather than fail.
            rate = Rate::Frequency(max.max(1));
            let note = format!(
                "sampling at {max} Hz, not {hz}: kernel.perf_event_max_sample_rate is {max}; raise it with: sysctl kernel.perf_event_max_sample_rate={hz}"
            );
            add_note(&mut event_note, note);
        }
    }
    let mut signals = Signals::block()?;

    // Targets, in the order given: containers, processes, the host, or the command.
    let mut scopes = Vec::new();
    let mut metas = Vec::new();
    let mut target_pids: Vec<Vec<u32>> = Vec::new();
    let mut existing: Vec<(u32, usize)> = Vec::new();
    if !opts.containers.is_empty() {
        let resolver = sampler::container::Resolver::new().context("cannot look up containers")?;
        for given in &opts.containers {
            let resolved = resolver.resolve(given)?;
            let index = scopes.len();
            existing.extend(resolved.container.pids.iter().map(|&p| (p, index)));
            target_pids.push(resolved.container.pids.clone());
            metas.push(TargetMeta {
                spec: given.clone(),
                kind: "container".into(),
                description: crate::targets::describe_container(&resolved),
                cgroup: Some(resolved.container.cgroup.clone()),
                probe: None,
            });
            scopes.push(Scope::Cgroup(resolved.dir.clone()));
        }
    }
    for &pid in &opts.pids {
        let tids = crate::targets::threads_of(pid)?;
        existing.push((pid, scopes.len()));
        target_pids.push(vec![pid]);
        metas.push(TargetMeta {
            spec: format!("pid:{pid}"),
            kind: "process".into(),
            description: format!("process {pid}"),
            cgroup: None,
            probe: None,
        });
        scopes.push(Scope::Threads(tids));
    }
    if opts.system_wide && opts.containers.is_empty() {
        let index = scopes.len();
        existing.extend(procfs::all_pids().into_iter().map(|p| (p, index)));
        target_pids.push(Vec::new());
        metas.push(TargetMeta {
            spec: "-a".into(),
            kind: "system".into(),
            description: "all CPUs".into(),
            cgroup: None,
            probe: None,
        });
        scopes.push(Scope::System);
    }
    // Held to the end: the command's cgroup (when it has one) is removed when this is dropped.
    let (mut _command_cgroup, mut program) = (None, None);
    let mut workload = if opts.command.is_empty() { None } else { Some(Workload::prepare(&opts.command)?) };
    if scopes.is_empty() {
        let w = workload.as_ref().expect("a command when no other target");
        let cmd = opts.command.join(" ");
        target_pids.push(Vec::new());
        metas.push(TargetMeta {
            spec: cmd.clone(),
            kind: "command".into(),
            description: format!("'{cmd}'"),
            cgroup: None,
            probe: None,
        });
        if event.uprobe().is_some() {
            // Probes cannot follow the command task by task; its own cgroup follows it instead.
            let cgroup = CommandCgroup::create()?;
            cgroup.add(w.pid())?;
            scopes.push(Scope::Cgroup(cgroup.dir().to_path_buf()));
            program = crate::uprobes::program_path(&opts.command[0]);
            _command_cgroup = Some(cgroup);
        } else {
            scopes.push(Scope::Command(w.pid()));
        }
    }

    // A probe is placed in each target's own file: found through the target's root.
    let mut target_events = Vec::with_capacity(scopes.len());
    let mut probe_notes = Vec::new();
    for (index, meta) in metas.iter_mut().enumerate() {
        let pids = &target_pids[index];
        let root = match (pids.first().copied(), meta.kind.as_str()) {
            (Some(pid), _) => crate::uprobes::Root::Of(pid),
            (None, "container") if event.uprobe().is_some() => {
                bail!("{} has no process to find the probed file through; start it first", meta.description)
            }
            (None, _) => crate::uprobes::Root::Host,
        };
        let program = if meta.kind == "command" { program.as_deref() } else { None };
        let files = crate::uprobes::Files { root, pids, program };
        let placed = crate::uprobes::place(&probe_event, files, &meta.description, opts.retval)?;
        probe_notes.extend(placed.notes.into_iter().map(|n| format!("{}: {n}", meta.description)));
        meta.probe = placed.probes.into_iter().next();
        target_events.push(placed.events.events()[0].clone());
    }
    let callchain = call_graph.is_some();
    let mut sampling = SamplingOptions {
        event: event.clone(),
        rate,
        callchain,
        user_regs,
        stack_user: call_graph.map_or(0, |c| c.stack_bytes()),
        ring_pages: opts.ring_pages.unwrap_or_else(|| call_graph::default_ring_pages(call_graph)),
    };
    // What the processes already running have mapped (and their files, opened) is read before
    // sampling starts, and again once it has: `-p` samples from the moment its events are opened,
    // and a process that exits before its maps are read has its samples named from nothing (that
    // happened while kallsyms was parsed in between, which takes seconds on a loaded host).
    let kallsyms = read_kallsyms();
    let kernel_symbols = match &kallsyms {
        Ok(_) => "kallsyms".into(),
        Err(why) => why.clone(),
    };
    let unwinding = match (call_graph, unwind_registers) {
        (Some(CallGraph::Dwarf { stack_bytes }), Some(registers)) => {
            Some(session::UnwindSetup { registers, stack_bytes })
        }
        _ => None,
    };
    let mut modules = Modules::new(kallsyms);
    if unwinding.is_some() {
        modules.read_cfi();
    }
    let mut session = Session::new(modules, callchain, unwinding, scopes.len());
    session.set_registers(user_regs, (return_register != 0).then(|| return_register.trailing_zeros()));
    for (target, pids) in target_pids.iter().enumerate() {
        if let Some(&pid) = pids.first() {
            session.set_target_root(target, pid);
        } else if metas[target].kind == "command" {
            // The command was forked from here: its files are where cperf's are, also once a
            // short-lived process of it has exited.
            session.set_target_root(target, std::process::id());
        }
    }
    for &(pid, target) in &existing {
        session.add_existing(pid, target as u32)?;
    }
    let asked_pages = sampling.ring_pages;
    let mut sampler = loop {
        match Sampler::open_per_target(&sampling, &scopes, &target_events) {
            // The locked-memory limit of a user without CAP_IPC_LOCK (perf_event_mlock_kb, then
            // RLIMIT_MEMLOCK) refuses the default rings: smaller ones, down to those of -g fp.
            Err(counter::CounterError::Syscall { ref source, .. })
                if opts.ring_pages.is_none()
                    && source.call.starts_with("mmap")
                    && source.errno() == Some(libc::EPERM)
                    && sampling.ring_pages > call_graph::MIN_DEFAULT_RING_PAGES =>
            {
                sampling.ring_pages /= 2;
            }
            result => {
                break result.with_context(|| {
                    format!("cannot sample '{}' for {}", event.name, metas[0].description)
                })?
            }
        }
    };
    if sampling.ring_pages < asked_pages {
        add_note(
            &mut event_note,
            format!(
                "rings of {} KiB per CPU, not {} KiB: the locked-memory limit refused more (kernel.perf_event_mlock_kb, ulimit -l); raise it, run with CAP_IPC_LOCK, or give -m",
                sampling.ring_pages * 4,
                asked_pages * 4
            ),
        );
    }
    let start_time = monotonic_ns();
    let meta = Meta {
        cperf_version: env!("CARGO_PKG_VERSION").into(),
        hostname: read_trimmed("/proc/sys/kernel/hostname"),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        arch: std::env::consts::ARCH.into(),
        command_line: std::env::args().collect(),
        start_unix_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        start_time,
        event: event.name.clone(),
        event_note: event_note.clone(),
        frequency: match rate {
            Rate::Frequency(f) => Some(f),
            Rate::Period(_) => None,
        },
        period: match rate {
            Rate::Period(p) => Some(p),
            Rate::Frequency(_) => None,
        },
        callchain,
        call_graph: call_graph.map(|c| c.describe()),
        targets: metas.clone(),
        kernel_symbols,
        value: sampler::uprobe::return_register()
            .filter(|_| return_register != 0)
            .map(|(_, register)| format!("return value ({register})")),
    };
    let writer = RecordingWriter::create(&opts.output, &meta)?;
    let mut membership = CgroupMembership::new(&scopes);
    session.attach(writer)?;

    sampler.enable()?;
    // An exec between the first read and the events' enabling left no record: read again.
    for &(pid, _) in &existing {
        session.refresh_maps(pid)?;
    }
    // A process a container started between its listing and the enabling left no FORK record.
    for (target, scope) in scopes.iter().enumerate() {
        if let Scope::Cgroup(dir) = scope {
            for pid in sampler::cgroup::procs(dir, true).unwrap_or_default() {
                session.add_existing(pid, target as u32)?;
            }
        }
    }
    session.flush()?;
    let started = Instant::now();
    if let Some(w) = workload.as_mut() {
        w.start()?;
    }
    let deadline = opts.duration.map(|d| started + d);
    let mut next_flush = started + FLUSH_EVERY;
    // Rings may wake the loop more often than DRAIN_EVERY: `/proc/<pid>/maps` is read again at
    // most once per process per period of DRAIN_EVERY, however many drains and rounds it holds.
    let mut next_period = started;
    let mut notes = probe_notes;
    let mut hung_up = vec![false; sampler.ring_fds().count()];
    let stop = loop {
        if let Some(exit) = workload.as_mut().and_then(|w| w.try_wait()) {
            break Stop::Command(exit);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Stop::Duration;
        }
        if let Some(sig) = signals.read_stop() {
            break Stop::Signal(sig);
        }
        if workload.is_none() && !opts.pids.is_empty() && opts.pids.iter().all(|&p| !procfs::alive(p)) {
            break Stop::ProcessesGone;
        }
        let wait =
            deadline.map_or(DRAIN_EVERY, |d| d.saturating_duration_since(Instant::now()).min(DRAIN_EVERY));
        {
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            let rings: Vec<_> = sampler.ring_fds().collect();
            let polled: Vec<usize> = (0..rings.len()).filter(|&i| !hung_up[i]).collect();
            fds.extend(polled.iter().map(|&i| PollFd::new(rings[i], PollFlags::POLLIN)));
            let timeout = PollTimeout::try_from(wait.as_millis().max(1) as i32).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll"),
            }
            // A per-task ring hangs up when its tasks are gone; stop polling it (it is still drained).
            for (k, &i) in polled.iter().enumerate() {
                if fds[k + 1].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP)) {
                    hung_up[i] = true;
                }
            }
        }
        if Instant::now() >= next_period {
            session.next_period();
            next_period = Instant::now() + DRAIN_EVERY;
        }
        drain(&mut sampler, &mut session, &mut membership, &mut notes)?;
        session.symbolize(Some(Duration::from_millis(50)))?;
        if Instant::now() >= next_flush {
            session.poll_perf_maps()?;
            session.flush()?;
            next_flush = Instant::now() + FLUSH_EVERY;
        }
    };
    // Drained before and after disabling: `/proc` read for the first drain is checked against the
    // records of the second (an exec after the events are disabled would leave no record).
    session.next_period();
    drain(&mut sampler, &mut session, &mut membership, &mut notes)?;
    sampler.disable()?;
    if let (Some(w), Stop::Signal(_) | Stop::Duration) = (workload.as_mut(), stop) {
        // The command is not ours to keep running once recording ends early.
        w.signal(nix::sys::signal::Signal::SIGTERM);
    }
    drain(&mut sampler, &mut session, &mut membership, &mut notes)?;
    session.replay_deferred()?;
    let elapsed = started.elapsed();
    if membership.foreign > 0 {
        notes.push(format!(
            "{} samples taken at a context switch while another cgroup's task was current were left out",
            membership.foreign
        ));
    }
    // The frames left are named now, so that the summary says what was cut, reading files for a
    // bounded time more.
    session.modules_mut().stop_loading_at(Instant::now() + modules::NAMING_TIME);
    session.symbolize(None)?;
    notes.extend(session.finish_perf_maps()?);
    let stats = session.stats.clone();
    if stats.unnamed_processes > 0 {
        notes.push(format!(
            "{} processes are unnamed (process [unknown]): they exited before cperf could read /proc, and no COMM or FORK record of theirs reached it",
            stats.unnamed_processes
        ));
    }
    if stats.before_exec_unseen > 0 {
        notes.push(format!(
            "{} samples were taken before an exec, in a program whose mappings cperf never saw (the process was first seen after the exec) or no longer kept (more than {} execs came after it): their user frames are left unnamed, not named from a later program",
            stats.before_exec_unseen,
            session::MAX_IMAGES - 1
        ));
    }
    if stats.maps_cut > 0 {
        notes.push(format!(
            "{} processes had more than {} of /proc/<pid>/maps: only that much was read, and user frames in mappings listed after it are unnamed",
            stats.maps_cut,
            symbolizer::budget::bytes(procfs::MAX_MAPS_TEXT)
        ));
    }
    notes.extend(session.modules().notes());
    let summary = Summary {
        end_time: monotonic_ns(),
        stop: match stop {
            Stop::Duration => "duration".into(),
            Stop::Command(_) => "command exited".into(),
            Stop::Signal(s) => s.as_str().into(),
            Stop::ProcessesGone => "processes exited".into(),
        },
        samples: stats.samples,
        lost: stats.lost,
        processes: stats.processes,
        modules: session.modules().len() as u64,
        notes: notes.clone(),
        stacks: session.stack_summary(),
    };
    let modules = session.modules().len();
    let path = opts.output.clone();
    let bytes = session.finish(&summary)?;
    if let Some(w) = workload.as_mut() {
        w.wait();
    }
    output::print_summary(
        err,
        &output::SummaryView {
            event: &event.name,
            event_note: event_note.as_deref(),
            rate,
            call_graph,
            stacks: summary.stacks.as_ref(),
            elapsed,
            stats: &stats,
            targets: &metas,
            modules,
            bytes,
            path: &path,
            notes: &notes,
        },
    )?;
    Ok(if let Stop::Command(exit) = stop { crate::stat::exit_status(exit) } else { 0 })
}

/// Rounds of draining per drain when samples wait for the records written after a `/proc` read.
const DRAIN_ROUNDS: usize = 3;

/// Drains every ring, then hands the records over in time order, execs first told ahead. Samples
/// that had `/proc` read for them wait for the records drained after that read: the rings are
/// drained again at once (a few rounds at most; what still waits, waits for the next drain).
fn drain(
    sampler: &mut Sampler,
    session: &mut Session,
    membership: &mut CgroupMembership,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    for _ in 0..DRAIN_ROUNDS {
        let start = monotonic_ns();
        let mut records: Vec<(u64, Record)> = Vec::new();
        let stats = sampler.drain(|r| records.push((record_time(&r), r)));
        if stats.malformed > 0 {
            notes.push(format!("{} malformed perf records were skipped", stats.malformed));
        }
        if stats.ring_errors > 0 {
            notes.push(format!("{} corrupt ring-buffer stretches were skipped", stats.ring_errors));
        }
        records.sort_by_key(|(t, _)| *t);
        let drain = session.next_drain(start);
        let mut seen = HashSet::new();
        records.retain(|(_, r)| sideband_key(r).is_none_or(|k| seen.insert(k)));
        for (_, r) in &records {
            if let Record::Comm(c) = r {
                if c.exec {
                    session.note_exec(c.pid, c.sample_id.time);
                }
            }
        }
        session.replay_deferred()?;
        for (_, r) in records {
            let target = record_id(&r).and_then(|id| sampler.target_of(id)).unwrap_or(0);
            if let Record::Sample(s) = &r {
                if !membership.allows(target, s.cgroup, drain) {
                    continue;
                }
            }
            session.handle(r, target as u32)?;
        }
        if !session.has_deferred() {
            break;
        }
    }
    Ok(())
}

/// What identifies a side-band record, which container targets whose cgroups nest (or the same
/// container given twice) each receive: the second copy is dropped.
fn sideband_key(r: &Record) -> Option<(u8, u32, u32, u64, u32, u64)> {
    Some(match r {
        Record::Mmap2(m) => (0, m.pid, m.tid, m.sample_id.time, m.sample_id.cpu, m.addr),
        Record::Comm(c) => (1, c.pid, c.tid, c.sample_id.time, c.sample_id.cpu, 0),
        Record::Fork(t) => (2, t.pid, t.tid, t.time, t.sample_id.cpu, 0),
        Record::Exit(t) => (3, t.pid, t.tid, t.time, t.sample_id.cpu, 0),
        _ => return None,
    })
}

fn record_time(r: &Record) -> u64 {
    match r {
        Record::Sample(s) => s.time,
        Record::Mmap2(m) => m.sample_id.time,
        Record::Comm(c) => c.sample_id.time,
        Record::Fork(t) | Record::Exit(t) => t.time,
        Record::Lost { sample_id, .. } | Record::LostSamples { sample_id, .. } => sample_id.time,
        Record::Other(_) => 0,
    }
}

fn record_id(r: &Record) -> Option<u64> {
    Some(match r {
        Record::Sample(s) => s.id,
        Record::Mmap2(m) => m.sample_id.id,
        Record::Comm(c) => c.sample_id.id,
        Record::Fork(t) | Record::Exit(t) => t.sample_id.id,
        Record::Lost { sample_id, .. } | Record::LostSamples { sample_id, .. } => sample_id.id,
        Record::Other(_) => return None,
    })
}

/// The event to sample and, when it is not what was asked for, why.
fn pick_event(spec: Option<&str>) -> anyhow::Result<(event::Event, Option<String>)> {
    if let Some(spec) = spec {
        // tracefs is found (or mounted) only when a tracepoint needs it: not for a uprobe.
        let list = EventList::parse(&[spec], None)?;
        if list.len() != 1 {
            bail!("-e {spec} names {} events; record samples one event: name a single one", list.len());
        }
        return Ok((list.events()[0].clone(), None));
    }
    if counter::hardware_available() {
        Ok((event::named_event("cycles")?, None))
    } else {
        Ok((
            event::named_event("cpu-clock")?,
            Some("no hardware PMU (cycles is unavailable): sampling cpu-clock instead".into()),
        ))
    }
}

fn read_kallsyms() -> Result<symbolizer::kallsyms::Kallsyms, String> {
    let text =
        std::fs::read_to_string("/proc/kallsyms").map_err(|e| format!("cannot read /proc/kallsyms: {e}"))?;
    symbolizer::kallsyms::Kallsyms::parse(&text).map_err(|e| e.to_string())
}

/// Adds `note` to the event's note (`; ` between notes).
fn add_note(event_note: &mut Option<String>, note: String) {
    *event_note = Some(match event_note.take() {
        Some(n) => format!("{n}; {note}"),
        None => note,
    });
}

/// `kernel.perf_event_max_sample_rate`, the highest `-F` the kernel accepts.
fn max_sample_rate() -> Option<u64> {
    read_trimmed("/proc/sys/kernel/perf_event_max_sample_rate").parse().ok()
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sampler::records::{Comm, SampleId};

    /// The same exec seen by two container targets whose cgroups nest: one copy is kept.
    #[test]
    fn a_sideband_record_seen_by_two_targets_is_kept_once() {
        let comm = |event_id| {
            Record::Comm(Comm {
                pid: 7,
                tid: 7,
                comm: b"sh".to_vec(),
                exec: true,
                sample_id: SampleId { pid: 7, tid: 7, time: 100, cpu: 1, id: event_id },
            })
        };
        let other_exec = Record::Comm(Comm {
            pid: 7,
            tid: 7,
            comm: b"sh".to_vec(),
            exec: true,
            sample_id: SampleId { pid: 7, tid: 7, time: 200, cpu: 1, id: 1 },
        });
        let mut seen = HashSet::new();
        let kept: Vec<bool> = [comm(1), comm(2), other_exec]
            .iter()
            .map(|r| sideband_key(r).is_none_or(|k| seen.insert(k)))
            .collect();
        assert_eq!(kept, [true, false, true]);
    }
}
