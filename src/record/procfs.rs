//! What the recorder reads about a live process from the host's `/proc`: its mappings, names, pid
//! inside its namespace, root filesystem, and the exact files it has mapped (`map_files`).
//!
//! Every read may fail because the process has just exited; callers treat that as "unknown".

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use sampler::procmaps::{self, MapEntry};

/// At most this much of a process's `/proc/<pid>/maps` text is read: a process controls how many
/// mappings it has (up to `vm.max_map_count`, 65,530 by default) and how long their paths are,
/// which can make the whole text hundreds of MiB that the kernel generates on every read.
pub const MAX_MAPS_TEXT: u64 = 16 << 20;

/// The executable mappings of a process, as far as its maps text was read.
#[derive(Debug, Default)]
pub struct ExecutableMaps {
    /// In address order.
    pub entries: Vec<MapEntry>,
    /// True when the text was longer than [`MAX_MAPS_TEXT`]: mappings above the last entry read
    /// are not known.
    pub cut: bool,
}

/// The executable mappings of `pid` (`/proc/<pid>/maps`, at most [`MAX_MAPS_TEXT`] of it).
pub fn maps(pid: u32) -> Option<ExecutableMaps> {
    let file = File::open(format!("/proc/{pid}/maps")).ok()?;
    executable_maps(file, MAX_MAPS_TEXT).ok()
}

/// Streams a maps text, keeping only executable mappings, and stops after `max` bytes (the line
/// cut there is dropped).
pub fn executable_maps(text: impl Read, max: u64) -> std::io::Result<ExecutableMaps> {
    let mut reader = BufReader::new(text.take(max.saturating_add(1)));
    let (mut maps, mut line, mut read) = (ExecutableMaps::default(), Vec::new(), 0u64);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)? as u64;
        if n == 0 {
            return Ok(maps);
        }
        read += n;
        if read > max {
            maps.cut = true;
            return Ok(maps);
        }
        // The permissions are the second field: `start-end rwxp ...`.
        let executable = line.iter().position(|&b| b == b' ').and_then(|i| line.get(i + 3)) == Some(&b'x');
        if executable {
            maps.entries.extend(procmaps::parse(&line).into_iter().filter(MapEntry::executable));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An endless maps text (as a process with many mappings and long paths makes it), counting
    /// what is read of it.
    struct Endless {
        line: Vec<u8>,
        at: usize,
        read: u64,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut n = 0;
            while n < buf.len() {
                let chunk = (&self.line[self.at..]).read(&mut buf[n..])?;
                n += chunk;
                self.at = (self.at + chunk) % self.line.len();
            }
            self.read += n as u64;
            Ok(n)
        }
    }

    /// Finding 2 (review): the maps text is read up to its bound, not whole, keeping only
    /// executable lines, and says it was cut.
    #[test]
    fn a_huge_maps_text_is_read_up_to_its_bound() {
        let path = "/".to_string() + &"d".repeat(250) + "/lib.so";
        let line = format!("7f0000000000-7f0000001000 r--p 00000000 08:01 42 {path}\n7f0000001000-7f0000002000 r-xp 00001000 08:01 42 {path}\n");
        let mut text = Endless { line: line.into_bytes(), at: 0, read: 0 };
        let maps = executable_maps(&mut text, 1 << 20).unwrap();
        assert!(maps.cut);
        assert!(text.read <= (1 << 20) + 64 * 1024, "read {} bytes", text.read);
        assert!(!maps.entries.is_empty());
        assert!(maps.entries.iter().all(MapEntry::executable));

        let whole =
            b"00400000-00401000 r-xp 00000000 08:01 1 /bin/x\n00600000-00601000 rw-p 00000000 00:00 0 \n";
        let maps = executable_maps(&whole[..], whole.len() as u64).unwrap();
        assert!(!maps.cut);
        assert_eq!(maps.entries.len(), 1);
    }
}
