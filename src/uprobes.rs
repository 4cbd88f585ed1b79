//! Placing `uprobe:`/`uretprobe:` events for a target: the file named in the spec is opened inside
//! the target's root filesystem (a container's, through one of its processes; the host's for the
//! host or a command) without leaving it, and the function's file offset is found in that very file
//! by the symbolizer. The kernel is then handed the opened file, so the probe is on the container's
//! file even when the host has another at the same path.

mod boundary;
mod by_name;

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sampler::event::EventList;
use sampler::recording::{ProbeMeta, ValueType};
use sampler::uprobe::Uprobe;
use symbolizer::root::{ContainerRoot, RootError};
use symbolizer::{ElfModule, LookupError, ValueKind};

/// The largest file read to find a function in: the per-file limit on ELF files.
const MAX_FILE: u64 = symbolizer::debug_files::LIMITS.per_file;

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

/// The most distinct root filesystems looked at for one target.
const MAX_ROOTS: usize = 32;

/// Probes placed for one target.
#[derive(Debug)]
pub struct Placed {
    /// The events, the probes among them placed.
    pub events: EventList,
    /// Where each probe went, in the order of the events that are probes.
    pub probes: Vec<ProbeMeta>,
    /// What the user should know: which file a name meant; processes of the target that see
    /// another file at the probed path.
    pub notes: Vec<String>,
}

/// One root filesystem of a target's processes.
struct RootFs {
    fs: ContainerRoot,
    /// The target's processes in it.
    pids: Vec<u32>,
}

/// The root filesystems of a target, the preferred one (the root of [`Root::Of`]'s process)
/// first, then those of its other processes in pid order; processes that are gone are left out.
fn roots(files: &Files<'_>, what: &str) -> anyhow::Result<Vec<RootFs>> {
    let first = match files.root {
        // The host, or a command cperf runs: processes given with it are the host's own.
        Root::Host => {
            let fs = ContainerRoot::at(Path::new("/")).context("cannot open the root filesystem /")?;
            return Ok(vec![RootFs { fs, pids: files.pids.to_vec() }]);
        }
        Root::Of(pid) => pid,
    };
    let mut order = vec![first];
    order.extend(files.pids.iter().copied().filter(|&p| p != first));
    let mut roots: Vec<(u64, u64, RootFs)> = Vec::new();
    // A root this user may not open (a process of another user, without CAP_SYS_PTRACE).
    let mut denied = None;
    for pid in order {
        // Opened first, then told apart by the descriptor held: a stat of the path before or after
        // the open may see another directory (the process may chroot in between).
        let fs = match ContainerRoot::of_process(pid) {
            Ok(fs) => fs,
            Err(RootError::Root { source, .. }) if crate::process_access::is_denied(&source) => {
                denied.get_or_insert(pid);
                continue;
            }
            Err(_) => continue,
        };
        let Some(id) = fs.identity() else { continue };
        if let Some((_, _, root)) = roots.iter_mut().find(|(dev, ino, _)| (*dev, *ino) == id) {
            root.pids.push(pid);
            continue;
        }
        if roots.len() == MAX_ROOTS {
            continue;
        }
        roots.push((id.0, id.1, RootFs { fs, pids: vec![pid] }));
    }
    if let (true, Some(pid)) = (roots.is_empty(), denied) {
        bail!(
            "cannot open the root filesystem of {what}: {}",
            crate::process_access::denied(&format!("/proc/{pid}/root"))
        );
    }
    if roots.is_empty() {
        bail!("cannot open the root filesystem of {what}: its processes have exited");
    }
    Ok(roots.into_iter().map(|(_, _, root)| root).collect())
}

/// The file a probe names in one root: its path there and the opened file.
fn open_in(
    probe: &Uprobe,
    name: &str,
    root: &RootFs,
    program: Option<&Path>,
    what: &str,
) -> anyhow::Result<(String, File)> {
    let path = if probe.is_name() {
        by_name::find(&probe.path, &root.fs, &root.pids, program, what).with_context(|| name.to_owned())?
    } else {
        probe.path.clone()
    };
    let (file, _) = root
        .fs
        .open(Path::new(&path), MAX_FILE)
        .with_context(|| format!("{name}: cannot open {path} in {what}"))?;
    Ok((path, file))
}

/// Every probe in `events` placed for a target with these `files`; `what` names the target in
/// errors. `return_types` also looks for each function's return type in a separate debug file
/// inside the root when the file itself has no DWARF for it.
///
/// A target's processes may see different files at one path (a pod's containers, each with its
/// own root; its pause process, with almost nothing): the file is the one in the first root,
/// preferred one first, that has it; another root with another file there gets a note.
pub fn place(events: &EventList, files: Files<'_>, what: &str, return_types: bool) -> anyhow::Result<Placed> {
    let mut placed = Placed { events: events.clone(), probes: Vec::new(), notes: Vec::new() };
    if !any(events) {
        return Ok(placed);
    }
    let roots = roots(&files, what)?;
    let mut placed_events = Vec::with_capacity(events.len());
    for event in events.events() {
        let Some(probe) = event.uprobe() else {
            placed_events.push(event.clone());
            continue;
        };
        let mut first_error = None;
        let mut chosen = None;
        for (index, root) in roots.iter().enumerate() {
            match open_in(probe, &event.name, root, files.program, what) {
                Ok(found) => {
                    chosen = Some((index, found));
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let Some((index, (path_name, file))) = chosen else {
            return Err(first_error.expect("at least one root"));
        };
        let root = &roots[index];
        // Other roots of the target with another file at that path are not probed: say so.
        let meta =
            file.metadata().with_context(|| format!("{}: cannot read {path_name} in {what}", event.name))?;
        let others: Vec<&RootFs> = roots[index + 1..]
            .iter()
            .filter(|other| {
                other.fs.open(Path::new(&path_name), MAX_FILE).is_ok_and(|(f, _)| {
                    f.metadata().is_ok_and(|m| (m.dev(), m.ino()) != (meta.dev(), meta.ino()))
                })
            })
            .collect();
        if !others.is_empty() {
            let left_out: usize = others.iter().map(|r| r.pids.len()).sum();
            placed.notes.push(format!(
                "{}: probed {path_name} as the processes of {what} in the root of pid {} see it ({} of them); {left_out} others see another file there and are not counted: name their container with its own -G",
                event.name,
                root.pids[0],
                root.pids.len()
            ));
        }
        let data = read_bounded(&file)
            .with_context(|| format!("{}: cannot read {path_name} in {what}", event.name))?;
        // The file's debug file inside the root (a -dbgsym package), looked for once, when needed.
        let debug = std::cell::OnceCell::new();
        let debug_file = || {
            debug
                .get_or_init(|| {
                    ElfModule::parse(data.clone()).ok().and_then(|module| {
                        symbolizer::find_debug_file(&module, Path::new(&path_name), &root.fs)
                    })
                })
                .as_deref()
        };
        let location = match symbolizer::probe_location(&data, &probe.location) {
            // A name the file does not have (a stripped local function, an IFUNC's
            // implementations) may be in its debug file.
            Err(e @ (LookupError::NotFound { .. } | LookupError::Ifunc { .. })) => match debug_file() {
                Some(debug) => symbolizer::probe_location_with_debug(&data, Some(debug), &probe.location),
                None => Err(e),
            },
            other => other,
        }
        .with_context(|| format!("{}: {path_name} in {what}", event.name))?;
        // The kernel takes a return probe anywhere, and then overwrites whatever is on top of the
        // stack there with its trampoline: only a function's first instruction is safe.
        if probe.retprobe && !location.at_start {
            match &location.function {
                Some(_) => bail!(
                    "{}: a return probe must be at a function's first instruction: give the function alone (uretprobe:{}:FUNC), not an offset into it",
                    event.name,
                    probe.path
                ),
                None => bail!(
                    "{}: no function of {path_name} starts at file offset {:#x}, and a return probe must be at a function's first instruction",
                    event.name,
                    location.offset
                ),
            }
        }
        // The kernel writes its breakpoint over the byte it is given: inside an instruction, the
        // program would run a corrupted one. A function's start is an instruction's.
        if !location.at_start {
            let named = match (&location.function, location.address) {
                (Some(function), Some(address)) => Some((function.as_str(), address)),
                _ => None,
            };
            boundary::check(&data, debug_file(), location.offset, named)
                .with_context(|| format!("{}: {path_name} in {what}", event.name))?;
        }
        if probe.is_name() {
            let at = match &location.function {
                Some(function) => format!("{function}, file offset {:#x}", location.offset),
                None => format!("file offset {:#x}", location.offset),
            };
            placed.notes.push(format!("{}: '{}' is {path_name} ({at})", event.name, probe.path));
        }
        let mut return_type = location.return_type.clone();
        if let (true, None, Some(address)) = (return_types, &return_type, location.address) {
            return_type = debug_file().and_then(|debug| symbolizer::return_type(debug, address));
        }
        placed.probes.push(ProbeMeta {
            path: path_name,
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
    placed.events = EventList::from_events(placed_events);
    Ok(placed)
}

/// The process a target's files are looked for through first: `N` for a target given as
/// `pid:N`, else its first process.
pub fn preferred_pid(spec: &str, pids: &[u32]) -> Option<u32> {
    let given = spec.strip_prefix("pid:").and_then(|n| n.parse().ok()).filter(|n| pids.contains(n));
    given.or_else(|| pids.first().copied())
}

/// The whole of an opened file, read through the descriptor that was checked, never more than
/// [`MAX_FILE`] bytes (also if it grows meanwhile).
fn read_bounded(file: &std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut data = Vec::new();
    let mut reader = file;
    reader.by_ref().take(MAX_FILE + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other(format!("the file grew past {MAX_FILE} bytes while being read")));
    }
    Ok(data)
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
