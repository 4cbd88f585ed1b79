//! Placing `uprobe:`/`uretprobe:` events for a target: the file named in the spec is opened inside
//! the target's root filesystem (a container's, through one of its processes; the host's for the
//! host or a command) without leaving it, and the function's file offset is found in that very file
//! by the symbolizer. The kernel is then handed the opened file, so the probe is on the container's
//! file even when the host has another at the same path.

mod by_name;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sampler::event::EventList;
use sampler::recording::{ProbeMeta, ValueType};
use symbolizer::root::ContainerRoot;
use symbolizer::{ElfModule, ValueKind};

/// The largest file read to find a function in.
const MAX_FILE: u64 = 1 << 30;

/// Where a target's files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The host's root.
    Host,
    /// The root of this process (a container's, for a process in one).
    Of(u32),
}

/// True when `events` has probes to place.
pub fn any(events: &EventList) -> bool {
    events.events().iter().any(|e| e.uprobe().is_some())
}

/// A target's files: where they are, and its processes (whose mappings say which file a probe
/// given by name, `uprobe:libc:malloc`, means).
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    /// Where its files are.
    pub root: Root,
    /// Its processes.
    pub pids: &'a [u32],
    /// The program of a command cperf runs (which has not started yet, so no mapping names it).
    pub program: Option<&'a Path>,
}

/// Every probe in `events` placed for a target with these `files`, and where each went (in the
/// order of the events that are probes); `what` names the target in errors. `return_types` also
/// looks for each function's return type in a separate debug file inside the root when the file
/// itself has no DWARF for it.
pub fn place(
    events: &EventList,
    files: Files<'_>,
    what: &str,
    return_types: bool,
) -> anyhow::Result<(EventList, Vec<ProbeMeta>)> {
    if !any(events) {
        return Ok((events.clone(), Vec::new()));
    }
    let root_dir = match files.root {
        Root::Host => PathBuf::from("/"),
        Root::Of(pid) => PathBuf::from(format!("/proc/{pid}/root")),
    };
    let root_fs =
        ContainerRoot::at(&root_dir).with_context(|| format!("cannot open the root filesystem of {what}"))?;
    let mut probes = Vec::new();
    let mut placed_events = Vec::with_capacity(events.len());
    for event in events.events() {
        let Some(probe) = event.uprobe() else {
            placed_events.push(event.clone());
            continue;
        };
        let found;
        let path_name = if probe.is_name() {
            found = by_name::find(&probe.path, &root_fs, &root_dir, files.pids, files.program, what)
                .with_context(|| event.name.clone())?;
            &found
        } else {
            &probe.path
        };
        let path = Path::new(path_name);
        let (file, _) = root_fs
            .open(path, MAX_FILE)
            .with_context(|| format!("{}: cannot open {path_name} in {what}", event.name))?;
        let data = std::fs::read(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .with_context(|| format!("{}: cannot read {path_name} in {what}", event.name))?;
        let location = symbolizer::probe_location(&data, &probe.location)
            .with_context(|| format!("{}: {path_name} in {what}", event.name))?;
        let mut return_type = location.return_type.clone();
        if let (true, None, Some(address)) = (return_types, &return_type, location.address) {
            return_type = ElfModule::parse(data)
                .ok()
                .and_then(|module| symbolizer::find_debug_file(&module, path, &root_fs))
                .and_then(|debug| symbolizer::return_type(&debug, address));
        }
        probes.push(ProbeMeta {
            path: path_name.clone(),
            function: location.function.clone(),
            offset: location.offset,
            return_type: return_type.map(|t| ValueType {
                name: t.name,
                kind: match t.kind {
                    ValueKind::Signed => "signed",
                    ValueKind::Unsigned => "unsigned",
                    ValueKind::Bool => "bool",
                    ValueKind::Pointer => "pointer",
                    ValueKind::Float => "float",
                    ValueKind::Aggregate => "aggregate",
                    ValueKind::Void => "void",
                }
                .into(),
                bytes: t.bytes,
            }),
        });
        placed_events.push(probe.resolve(OwnedFd::from(file), location.offset)?.into_event());
    }
    Ok((EventList::from_events(placed_events), probes))
}

/// A line for each probe given by name (`uprobe:libc:malloc`) saying which file and offset it
/// went to; `probes` as [`place`] returned them for `events`.
pub fn found_by_name(events: &EventList, probes: &[ProbeMeta]) -> Vec<String> {
    let given = events.events().iter().filter_map(|e| e.uprobe());
    given
        .zip(probes)
        .filter(|(probe, _)| probe.is_name())
        .map(|(probe, placed)| {
            let at = match &placed.function {
                Some(function) => format!("{function}, file offset {:#x}", placed.offset),
                None => format!("file offset {:#x}", placed.offset),
            };
            format!("{}: '{}' is {} ({at})", probe.name(), probe.path, placed.path)
        })
        .collect()
}

/// Refuses probes on processes followed thread by thread (`-p`).
///
/// A probe event given to perf_event_open by file descriptor path is re-created for each new
/// thread from a path the kernel reads in the memory of the thread that forks, where it is not: the
/// fork would fail, in the traced program. The cgroup filter has no such step, so the remedy is to
/// name the process's cgroup (a command cperf runs gets a cgroup of its own for this).
pub fn refuse_per_task(events: &EventList, pids: &[u32]) -> anyhow::Result<()> {
    if let (true, Some(pid)) = (any(events), pids.first()) {
        anyhow::bail!(
            "uprobe events cannot follow a process's threads (the kernel would fail its forks): count its whole cgroup with -G pid:{pid} instead of -p {pid}"
        );
    }
    Ok(())
}

/// The file `argv0` runs: itself when it has a slash (made absolute), else the first executable
/// file of that name in `PATH`.
pub fn program_path(argv0: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if argv0.contains('/') {
        let path = std::path::absolute(argv0).ok()?;
        return runnable(&path).then_some(path);
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search).map(|dir| dir.join(argv0)).find(|p| p.is_absolute() && runnable(p))
}
