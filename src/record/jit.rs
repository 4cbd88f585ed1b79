//! JIT perf maps: a process that generates code writes `/tmp/perf-<pid>.map` (its pid as it sees it,
//! inside its own mount namespace). The recorder opens that file through the process's root while it
//! lives, keeps the descriptor, and copies what is appended to it into the recording, so the last
//! version before the process exits is kept even when the file or the container is gone.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;

use symbolizer::root::ContainerRoot;

/// The most of one perf map copied into a recording.
pub const MAX_PERF_MAP: u64 = 64 << 20;

/// One process's perf map, open.
#[derive(Debug)]
pub struct PerfMapFile {
    file: File,
    /// Bytes already copied.
    copied: u64,
    ino: u64,
    ns_pid: u32,
}

/// What changed since the last look.
#[derive(Debug, PartialEq, Eq)]
pub struct PerfMapUpdate {
    /// The file was rewritten: `data` starts a new version.
    pub reset: bool,
    /// New bytes.
    pub data: Vec<u8>,
}

impl PerfMapFile {
    /// Opens the perf map of the process whose pid in its namespace is `ns_pid`, inside `root`.
    pub fn open(root: &ContainerRoot, ns_pid: u32) -> Option<PerfMapFile> {
        let (file, _) = root.open(&symbolizer::perfmap::perf_map_path(ns_pid), MAX_PERF_MAP).ok()?;
        let ino = file.metadata().ok()?.ino();
        Some(PerfMapFile { file, copied: 0, ino, ns_pid })
    }

    /// If the path now names another file (deleted and written anew), switches to it.
    pub fn reopen_if_replaced(&mut self, root: &ContainerRoot) {
        let Ok((file, _)) = root.open(&symbolizer::perfmap::perf_map_path(self.ns_pid), MAX_PERF_MAP) else {
            return;
        };
        match file.metadata() {
            Ok(m) if m.ino() != self.ino => {
                self.ino = m.ino();
                self.file = file;
                self.copied = u64::MAX; // forces a reset on the next read
            }
            _ => {}
        }
    }

    /// Reads what was appended since the last call (everything, as a new version, if the file
    /// shrank or was replaced). `None` when nothing changed.
    pub fn update(&mut self) -> Option<PerfMapUpdate> {
        let len = self.file.metadata().ok()?.len().min(MAX_PERF_MAP);
        let reset = len < self.copied || self.copied == u64::MAX;
        let from = if reset { 0 } else { self.copied };
        if len <= from && !reset {
            return None;
        }
        self.file.seek(SeekFrom::Start(from)).ok()?;
        let mut data = Vec::new();
        (&mut self.file).take(len - from).read_to_end(&mut data).ok()?;
        // Copy whole lines only; a line being written is taken next time.
        let whole = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        data.truncate(whole);
        if data.is_empty() && !reset {
            return None;
        }
        self.copied = from + data.len() as u64;
        Some(PerfMapUpdate { reset: reset || from == 0, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn appends_then_rewrites() {
        let dir = std::env::temp_dir().join(format!("cperf-jit-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let path = dir.join("tmp/perf-7.map");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"1000 10 one\n2000 10 tw").unwrap();
        let root = ContainerRoot::at(&dir).unwrap();
        let mut map = PerfMapFile::open(&root, 7).unwrap();
        assert_eq!(map.update(), Some(PerfMapUpdate { reset: true, data: b"1000 10 one\n".to_vec() }));
        assert_eq!(map.update(), None);
        f.write_all(b"o\n").unwrap();
        assert_eq!(map.update(), Some(PerfMapUpdate { reset: false, data: b"2000 10 two\n".to_vec() }));
        // Rewritten shorter: a new version.
        std::fs::write(&path, b"3000 1 x\n").unwrap();
        assert_eq!(map.update(), Some(PerfMapUpdate { reset: true, data: b"3000 1 x\n".to_vec() }));
        // Deleted and created again: the descriptor still reads the old file until switched.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"4000 1 y\n").unwrap();
        map.reopen_if_replaced(&root);
        assert_eq!(map.update(), Some(PerfMapUpdate { reset: true, data: b"4000 1 y\n".to_vec() }));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
