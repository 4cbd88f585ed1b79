//! What the recorder reads about a live process from the host's `/proc`: its mappings, names, pid
//! inside its namespace, root filesystem, and the exact files it has mapped (`map_files`).
//!
//! Every read may fail because the process has just exited; callers treat that as "unknown".

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use sampler::procmaps::{self, MapEntry};

/// The mappings of `pid` (`/proc/<pid>/maps`).
pub fn maps(pid: u32) -> Option<Vec<MapEntry>> {
    std::fs::read(format!("/proc/{pid}/maps")).ok().map(|t| procmaps::parse(&t))
}

/// The name of thread `tid` of `pid`.
pub fn comm(pid: u32, tid: u32) -> Option<Vec<u8>> {
    let mut c = std::fs::read(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
    while c.last() == Some(&b'\n') {
        c.pop();
    }
    Some(c)
}

/// The threads of `pid`.
pub fn threads(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    dir.filter_map(Result::ok).filter_map(|e| e.file_name().to_str()?.parse().ok()).collect()
}

/// The pid of `pid` inside its own PID namespace (the last `NSpid` field).
pub fn ns_pid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    symbolizer::perfmap::innermost_pid(&status)
}

/// The executable of `pid`, as the process sees its path.
pub fn exe(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The identity (device, inode) of `pid`'s root directory, to share one open root between the
/// processes of a container.
pub fn root_identity(pid: u32) -> Option<(u64, u64)> {
    let m = std::fs::metadata(format!("/proc/{pid}/root")).ok()?;
    Some((m.dev(), m.ino()))
}

/// Every process on the host.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids: Vec<u32> =
        dir.filter_map(Result::ok).filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    pids
}

/// True while `pid` exists (and is not a zombie: a zombie's files and maps are gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Opens the very file mapped at `start..end` in `pid` (`/proc/<pid>/map_files/`), whatever path or
/// mount namespace it was mapped from; only regular files up to `max_len` bytes (a mapped device is
/// never opened: see [`symbolizer::root::open_host_regular`]).
pub fn open_mapped_file(pid: u32, start: u64, end: u64, max_len: u64) -> Option<(File, u64)> {
    symbolizer::root::open_host_regular(&mapped_file_path(pid, start, end), max_len).ok()
}

/// The `/proc/<pid>/map_files/` entry of the mapping at `start..end`.
fn mapped_file_path(pid: u32, start: u64, end: u64) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/map_files/{start:x}-{end:x}"))
}
