//! `cperf stat`: count events for containers, processes, a command or the whole host over a window.
//!
//! The flow: resolve targets → parse events → open counters per target (perf events, plus the BPF
//! syscall aggregation for wide syscall globs) → run the window → read → hand a [`StatReport`] to the
//! writers in [`output`].

mod output;
mod window;

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sampler::cgroup::{self, CpuSource, CpuStat};
use sampler::command_cgroup::CommandCgroup;
use sampler::container::Resolver;
use sampler::counter::{CounterOptions, CounterSet, Reading, Scope};
use sampler::event::{self, EventList};
use sampler::syscount::{self, BpfEvent, SyscallCounter, SyscallTarget};
use sampler::workload::{Exit, Workload};

use crate::signals::Signals;
pub use output::OutputFormat;
use window::Stop;

/// What `cperf stat` was asked to do, free of any command-line parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct StatOptions {
    /// Event specs as given (`-e`), possibly comma lists and globs; empty means the default set.
    pub events: Vec<String>,
    /// Containers as the user named them (`-G`).
    pub containers: Vec<String>,
    /// `-a`.
    pub system_wide: bool,
    /// `-p`.
    pub pids: Vec<u32>,
    /// `--duration`.
    pub duration: Option<Duration>,
    /// `-I`.
    pub interval: Option<Duration>,
    /// How to print.
    pub format: OutputFormat,
    /// `--show-zero`.
    pub show_zero: bool,
    /// False with `--no-bpf`.
    pub allow_bpf: bool,
    /// The command after `--`.
    pub command: Vec<String>,
}

/// Everything the writers print: per-target readings over one window (or one interval).
#[derive(Debug, Clone)]
pub struct StatReport {
    /// Length of the window (or interval) in nanoseconds.
    pub duration_ns: u64,
    /// For `-I`: time since the start at the end of this interval.
    pub interval_end: Option<Duration>,
    /// One entry per target, in the order given.
    pub targets: Vec<TargetReport>,
    /// Notes for the whole run (e.g. default events left out for want of a PMU).
    pub notes: Vec<String>,
    /// How many of the events were counted by the in-kernel BPF syscall counter (0: all by perf).
    pub bpf_events: usize,
}

/// What was counted for one target.
#[derive(Debug, Clone)]
pub struct TargetReport {
    /// The target as the user gave it (`-G` value, `pid:N`, `all`, or the command).
    pub target: String,
    /// A phrase for headings: `container 'abc' (runc, /path)`.
    pub description: String,
    /// The cgroup path relative to the cgroup2 root, for container targets.
    pub cgroup: Option<String>,
    /// One reading per event, in the order the events were given.
    pub readings: Vec<Reading>,
    /// CPU usage and throttling of the container's cgroup over the window.
    pub cpu: Option<CpuWindow>,
    /// Things the reader must know (container exited, counts scaled…).
    pub notes: Vec<String>,
}

/// A container's CPU time over the window, from its cgroup's `cpu.stat`.
#[derive(Debug, Clone, Copy)]
pub struct CpuWindow {
    /// `cpu.stat` at the end minus at the start.
    pub delta: CpuStat,
    /// The window.
    pub window_ns: u64,
    /// `cpu.max` as a number of CPUs, if limited.
    pub limit_cpus: Option<f64>,
}

/// A target resolved, before its counters are open.
struct Planned {
    report: TargetReport,
    scope: Scope,
    /// Where a container's CPU usage and throttling are read.
    cpu: Option<CpuSource>,
    /// The container had processes when it was resolved.
    had_processes: bool,
    /// Where its files are, for uprobes.
    root: crate::uprobes::Root,
    /// Its processes when resolved (their mappings say which file a probe given by name means).
    pids: Vec<u32>,
    /// The program of the command counted.
    program: Option<std::path::PathBuf>,
    /// The command, counted through a cgroup of its own.
    in_command_cgroup: bool,
    /// The process given with `-p`.
    process: Option<u32>,
}

impl Planned {
    fn new(report: TargetReport, scope: Scope) -> Self {
        Planned {
            report,
            scope,
            cpu: None,
            had_processes: false,
            root: crate::uprobes::Root::Host,
            pids: Vec::new(),
            program: None,
            in_command_cgroup: false,
            process: None,
        }
    }
}

/// One target being counted.
struct Counting {
    report: TargetReport,
    /// Perf events for the events the plan left to perf.
    counters: CounterSet,
    /// This target's slot in the BPF syscall counter, when it serves this run.
    bpf_slot: Option<usize>,
    cgroup_dir: Option<std::path::PathBuf>,
    /// The container had processes when counting started (so an empty cgroup at the end means it exited).
    had_processes: bool,
    cpu: Option<CpuSource>,
    cpu_start: Option<CpuStat>,
    /// The process given with `-p`, watched for its exit.
    process: Option<u32>,
}

/// The BPF syscall counter and which events it took.
struct BpfPart {
    counter: SyscallCounter,
    events: Vec<BpfEvent>,
    enabled_at: Option<Instant>,
    disabled_at: Option<Instant>,
}

/// How the events of a run are counted: `plan.perf` by perf events, the rest by `bpf`.
struct Backends {
    names: Vec<String>,
    perf_indexes: Vec<usize>,
    bpf: Option<BpfPart>,
}

impl Backends {
    fn bpf_events(&self) -> usize {
        self.bpf.as_ref().map_or(0, |b| b.events.len())
    }

    /// One reading per event, in the order given, merged from both backends.
    fn read(&self, c: &Counting) -> anyhow::Result<Vec<Reading>> {
        let mut merged: Vec<Option<Reading>> = vec![None; self.names.len()];
        for (reading, &index) in c.counters.read()?.into_iter().zip(&self.perf_indexes) {
            merged[index] = Some(reading);
        }
        if let (Some(bpf), Some(slot)) = (&self.bpf, c.bpf_slot) {
            let end = bpf.disabled_at.unwrap_or_else(Instant::now);
            let ns = bpf.enabled_at.map_or(0, |t| end.saturating_duration_since(t).as_nanos() as u64);
            for e in &bpf.events {
                let counts = bpf.counter.read(slot, e.nr)?;
                let (count, errors) =
                    if e.enter { (counts.enter, None) } else { (counts.exit, Some(counts.errors)) };
                merged[e.index] = Some(Reading {
                    event: self.names[e.index].clone(),
                    count,
                    raw_count: count,
                    enabled_ns: ns,
                    running_ns: ns,
                    errors,
                    times_capped: false,
                });
            }
        }
        Ok(merged.into_iter().flatten().collect())
    }
}

/// Runs `cperf stat`; returns the process exit code (the command's, when one was run).
pub fn run(opts: StatOptions, out: &mut dyn Write) -> anyhow::Result<i32> {
    if opts.containers.is_empty() && opts.pids.is_empty() && !opts.system_wide && opts.command.is_empty() {
        bail!("nothing to count: give -G <container>, -p <pid>, -a (whole host), or a command after --");
    }
    let mut notes = Vec::new();
    let events = parse_events(&opts.events, &mut notes)?;
    crate::uprobes::refuse_per_task(&events, &opts.pids)?;
    // Signals are blocked before anything is forked, so none is lost and the child resets the mask.
    let mut signals = Signals::block()?;

    let mut targets = Vec::new();
    if !opts.containers.is_empty() {
        let resolver = Resolver::new().context("cannot look up containers")?;
        for given in &opts.containers {
            let resolved = resolver.resolve(given)?;
            let c = &resolved.container;
            targets.push(Planned {
                report: TargetReport {
                    target: given.clone(),
                    description: crate::targets::describe_container(&resolved),
                    cgroup: Some(c.cgroup.clone()),
                    readings: Vec::new(),
                    cpu: None,
                    notes: Vec::new(),
                },
                scope: Scope::Cgroup(resolved.dir.clone()),
                cpu: Some(CpuSource::new(&resolved.dir, c.pids.first().copied())),
                had_processes: !c.pids.is_empty(),
                root: crate::uprobes::preferred_pid(given, &c.pids)
                    .map_or(crate::uprobes::Root::Host, crate::uprobes::Root::Of),
                pids: c.pids.clone(),
                program: None,
                in_command_cgroup: false,
                process: None,
            });
        }
    }
    for &pid in &opts.pids {
        let tids = crate::targets::threads_of(pid)?;
        let mut planned =
            Planned::new(simple_target(format!("pid:{pid}"), format!("process {pid}")), Scope::Threads(tids));
        planned.root = crate::uprobes::Root::Of(pid);
        planned.pids = vec![pid];
        planned.process = Some(pid);
        targets.push(planned);
    }
    if opts.system_wide && opts.containers.is_empty() {
        targets.push(Planned::new(simple_target("all".into(), "all CPUs".into()), Scope::System));
    }

    // The command is counted itself only when nothing else was named; otherwise it is the timer.
    // Held to the end: the command's cgroup (when it has one) is removed when this is dropped.
    let mut _command_cgroup = None;
    let mut workload = if opts.command.is_empty() { None } else { Some(Workload::prepare(&opts.command)?) };
    if targets.is_empty() {
        let w = workload.as_ref().expect("a command when no other target");
        let cmd = opts.command.join(" ");
        let target = simple_target(cmd.clone(), format!("'{cmd}'"));
        if crate::uprobes::any(&events) {
            // Probes cannot follow the command task by task; its own cgroup follows it instead.
            let cgroup = CommandCgroup::create()?;
            cgroup.add(w.pid())?;
            let mut planned = Planned::new(target, Scope::Cgroup(cgroup.dir().to_path_buf()));
            planned.had_processes = true;
            planned.program = crate::uprobes::program_path(&opts.command[0]);
            planned.in_command_cgroup = true;
            targets.push(planned);
            _command_cgroup = Some(cgroup);
        } else {
            targets.push(Planned::new(target, Scope::Command(w.pid())));
        }
    }

    let mut backends = choose_backends(&events, &targets, opts.allow_bpf, &mut notes);
    let perf_events = syscount::select(&events, &backends.perf_indexes);
    let counter_options = CounterOptions { syscall_errors: true };
    let mut counting = Vec::with_capacity(targets.len());
    let mut next_slot = 0;
    // Processes given with -p end the window when they all exit, if they are all there is to count
    // (as perf stat -p does); a command, containers or -a keep it open.
    let watched: Vec<u32> = if workload.is_none() && targets.iter().all(|t| t.process.is_some()) {
        opts.pids.clone()
    } else {
        Vec::new()
    };
    for Planned { mut report, scope, cpu, had_processes, root, pids, program, in_command_cgroup, process } in
        targets
    {
        if crate::uprobes::any(&perf_events) && matches!(scope, Scope::Cgroup(_)) && !had_processes {
            bail!("{} has no process to find the probed file through; start it first", report.description);
        }
        let files = crate::uprobes::Files { root, pids: &pids, program: program.as_deref() };
        let placed = crate::uprobes::place(&perf_events, files, &report.description, false)?;
        report.notes.extend(placed.notes);
        let events = placed.events;
        let counters = CounterSet::open_with(&events, &scope, counter_options)
            .with_context(|| format!("cannot count for {}", report.description))?;
        // A container's cgroup, watched for its end (the command's own ends with the command).
        let cgroup_dir = match &scope {
            Scope::Cgroup(dir) if !in_command_cgroup => Some(dir.clone()),
            _ => None,
        };
        let bpf_slot = backends.bpf.as_ref().map(|_| {
            next_slot += 1;
            next_slot - 1
        });
        counting.push(Counting {
            report,
            counters,
            bpf_slot,
            cgroup_dir,
            had_processes,
            cpu,
            cpu_start: None,
            process,
        });
    }

    for c in &mut counting {
        c.cpu_start = c.cpu.as_ref().and_then(|src| src.read().ok());
    }
    // The window encloses every counter's enabled time: no event can have counted longer than it on
    // any CPU.
    let start = Instant::now();
    if let Some(bpf) = backends.bpf.as_mut() {
        bpf.counter.enable()?;
        bpf.enabled_at = Some(Instant::now());
    }
    for c in &counting {
        c.counters.enable()?;
    }
    if let Some(w) = workload.as_mut() {
        w.start()?;
    }

    let mut previous: Vec<Vec<Reading>> = Vec::new();
    let mut last_tick = Duration::ZERO;
    // Prints the counts since the previous interval (-I), ending `elapsed` after the start.
    let mut print_interval =
        |counting: &[Counting], backends: &Backends, elapsed: Duration| -> anyhow::Result<()> {
            let now: Vec<Vec<Reading>> =
                counting.iter().map(|c| backends.read(c)).collect::<Result<_, _>>()?;
            let deltas = if previous.is_empty() {
                now.clone()
            } else {
                now.iter()
                    .zip(&previous)
                    .map(|(n, p)| n.iter().zip(p).map(|(a, b)| a.since(b)).collect())
                    .collect()
            };
            let report = StatReport {
                duration_ns: (elapsed - last_tick).as_nanos() as u64,
                interval_end: Some(elapsed),
                targets: counting
                    .iter()
                    .zip(deltas)
                    .map(|(c, readings)| TargetReport { readings, ..c.report.clone() })
                    .collect(),
                notes: Vec::new(),
                bpf_events: backends.bpf_events(),
            };
            output::write(out, &report, &opts.format, opts.show_zero)?;
            out.flush()?;
            previous = now;
            last_tick = elapsed;
            Ok(())
        };
    let stop = signals.run(workload.as_mut(), &watched, opts.duration, opts.interval, |_| {
        print_interval(&counting, &backends, start.elapsed())
    })?;
    for c in &counting {
        c.counters.disable()?;
    }
    if let Some(bpf) = backends.bpf.as_mut() {
        bpf.counter.disable()?;
        bpf.disabled_at = Some(Instant::now());
    }
    let window = start.elapsed();
    if opts.interval.is_some() {
        // The last, partial interval (as perf prints it): nothing counted is left unprinted.
        print_interval(&counting, &backends, window)?;
    }
    let exit_code = match stop {
        Stop::Command(exit) => exit_status(exit),
        Stop::ProcessesGone => 0,
        Stop::Duration | Stop::Signal(_) => {
            if let Some(w) = workload.as_mut() {
                // perf stat ends the timer command too when it stops early.
                w.signal(nix::sys::signal::Signal::SIGTERM);
                w.wait();
            }
            0
        }
    };

    if opts.interval.is_some() {
        return Ok(exit_code);
    }
    let mut report = StatReport {
        duration_ns: window.as_nanos() as u64,
        interval_end: None,
        targets: Vec::new(),
        notes,
        bpf_events: backends.bpf_events(),
    };
    if stop == Stop::ProcessesGone {
        report.notes.push("the window ended when the counted processes exited, as perf stat -p does".into());
    }
    for c in counting {
        let readings = backends.read(&c)?;
        let mut t = c.report;
        t.readings = readings;
        if let Some(dir) = &c.cgroup_dir {
            let gone = !dir.is_dir() || cgroup::procs(dir, true).is_ok_and(|p| p.is_empty());
            if gone && (c.had_processes || !dir.is_dir()) {
                t.notes.push(
                    "the container exited during the window; its counts cover it until it exited".into(),
                );
            }
            if dir.is_dir() {
                if let (Some(src), Some(before)) = (&c.cpu, c.cpu_start) {
                    if let Ok(after) = src.read() {
                        t.cpu = Some(CpuWindow {
                            delta: after.delta(&before),
                            window_ns: report.duration_ns,
                            limit_cpus: src.limit().ok().flatten(),
                        });
                    }
                }
            }
        }
        if c.process.is_some_and(|pid| !crate::record::procfs::alive(pid)) {
            t.notes.push("the process exited during the window; its counts cover it until it exited".into());
        }
        let capped = t.readings.iter().filter(|r| r.times_capped).count();
        if capped > 0 {
            t.notes.push(format!(
                "the kernel reported more enabled or running time on one CPU than the whole window for \
                 {capped} event(s) (a kernel accounting error, seen when the counted cgroup holds cperf \
                 itself); those times are capped at the window"
            ));
        }
        if t.readings.iter().any(Reading::multiplexed) {
            t.notes.push("some events were multiplexed: their counts are scaled estimates (percent of time counted shown)".into());
        }
        report.targets.push(t);
    }
    output::write(out, &report, &opts.format, opts.show_zero)?;
    Ok(exit_code)
}

/// The exit status cperf returns for a command it ran: the command's own, or 128 + the signal that
/// killed it (as a shell reports it). `record` returns the same.
pub fn exit_status(exit: Exit) -> i32 {
    match exit {
        Exit::Code(code) => code,
        Exit::Signal(sig) => 128 + sig,
    }
}

/// Splits the events between the BPF syscall counter and perf events. BPF serves wide syscall lists
/// for container targets, or for one system-wide, process or command target; a mix of kinds, or a
/// BPF load failure, leaves every event to perf, with a note saying why closing will be slow.
fn choose_backends(
    events: &EventList,
    targets: &[Planned],
    allow_bpf: bool,
    notes: &mut Vec<String>,
) -> Backends {
    let names: Vec<String> = events.events().iter().map(|e| e.name.clone()).collect();
    let all_perf =
        |names: Vec<String>| Backends { perf_indexes: (0..names.len()).collect(), names, bpf: None };
    let plan = syscount::plan(events);
    if plan.bpf.is_empty() {
        return all_perf(names);
    }
    let slow = format!("{} syscall tracepoints are counted with one perf event each", plan.bpf.len());
    if !allow_bpf {
        notes.push(format!("{slow} (--no-bpf); closing them takes the kernel about 35 ms per tracepoint"));
        return all_perf(names);
    }
    let cgroups: Vec<&std::path::Path> = targets
        .iter()
        .filter_map(|t| match &t.scope {
            Scope::Cgroup(dir) => Some(dir.as_path()),
            _ => None,
        })
        .collect();
    let only = match targets {
        [one] => Some(&one.scope),
        _ => None,
    };
    let target = match only {
        Some(Scope::System) => SyscallTarget::All,
        Some(Scope::Threads(tids)) => SyscallTarget::Tasks { tids, on_exec: None },
        Some(Scope::Command(pid)) => SyscallTarget::Tasks { tids: &[], on_exec: Some(*pid) },
        _ if cgroups.len() == targets.len() => SyscallTarget::Cgroups(&cgroups),
        _ => {
            notes.push(format!(
                "{slow}: the BPF syscall counter serves one kind of target at a time (containers, -a, one -p or one command)"
            ));
            return all_perf(names);
        }
    };
    let exits = plan.bpf.iter().any(|e| !e.enter);
    match SyscallCounter::load(&target, exits) {
        Ok(counter) => Backends {
            names,
            perf_indexes: plan.perf,
            bpf: Some(BpfPart { counter, events: plan.bpf, enabled_at: None, disabled_at: None }),
        },
        Err(e) => {
            notes.push(format!(
                "{slow}, because {e}; closing them takes the kernel about 35 ms per tracepoint"
            ));
            all_perf(names)
        }
    }
}

fn simple_target(target: String, description: String) -> TargetReport {
    TargetReport { target, description, cgroup: None, readings: Vec::new(), cpu: None, notes: Vec::new() }
}

/// The events to count: as given, or perf stat's default set (hardware ones only where a PMU exists).
fn parse_events(specs: &[String], notes: &mut Vec<String>) -> anyhow::Result<EventList> {
    if !specs.is_empty() {
        return Ok(EventList::parse(specs, None)?);
    }
    let mut defaults: Vec<&str> = vec!["task-clock", "context-switches", "cpu-migrations", "page-faults"];
    if sampler::counter::hardware_available() {
        defaults.extend(["cycles", "instructions"]);
    } else {
        notes.push("no hardware PMU on this machine: cycles and instructions are not counted".into());
    }
    let events = defaults.iter().map(|n| event::named_event(n)).collect::<Result<Vec<_>, _>>()?;
    Ok(EventList::from_events(events))
}
