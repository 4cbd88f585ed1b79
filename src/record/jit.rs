//! JIT perf maps: a process that generates code writes `/tmp/perf-<pid>.map` (its pid as it sees it,
//! inside its own mount namespace). The recorder opens that file through the process's root while it
//! lives, keeps the descriptor, and copies what is appended to it into the recording, so the last
//! version before the process exits is kept even when the file or the container is gone.
//!
//! The file is the container's: its size, how often it is replaced and what it holds are chosen by
//! someone else. Every byte read from it is charged to one [`Budget`] ([`LIMITS`]: per map over all
//! its versions, per process, and for all processes together); once a map's charge is refused, the
//! map is cut there (the summary says so) and not read again. Reads go through a fixed-size buffer
//! and are copied in entries of at most [`PIECE`] bytes, so memory stays small whatever the file's
//! size; a line longer than [`MAX_LINE`] is no perf-map line and is skipped. One copy of all maps
//! takes at most [`POLL_TIME`] ([`LAST_POLL_TIME`] when recording ends; what is left then is
//! counted in a note) plus the one read of at most [`PIECE`] under way when it passes: once it has
//! passed, nothing is read; a map never opened is still opened (once in its process's life) and
//! what is new charged, so that cuts and what is left unread are noted. So perf maps cannot hold
//! the recorder past its `--duration`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use symbolizer::budget::{Account, Budget, Limits};
use symbolizer::root::ContainerRoot;

/// What perf maps may make the recorder read (and so copy): 32 MiB per map over all its versions
/// (and per process), 128 MiB for all processes together ([`symbolizer::perfmap::LIMITS`], which
/// `cperf symbolize` keeps too).
pub const LIMITS: Limits = symbolizer::perfmap::LIMITS;

/// The longest line copied: a symbol's start, size and name. Longer ones are skipped.
pub const MAX_LINE: usize = 64 << 10;

/// The most read from a map at once, and the most data in one copied entry.
pub const PIECE: usize = 1 << 20;

/// The most time one copy of the perf maps may take while recording (the rest waits for the next).
pub const POLL_TIME: Duration = Duration::from_millis(200);

/// The most time the last copy, when recording ends, may take (so `--duration` is kept).
pub const LAST_POLL_TIME: Duration = Duration::from_millis(300);

/// The budget all perf maps of one recording are charged to.
pub fn budget() -> Budget {
    Budget::new("perf maps", LIMITS)
}

/// One process's perf map, open.
#[derive(Debug)]
pub struct PerfMapFile {
    file: File,
    /// Bytes of the current version read so far.
    read: u64,
    /// Set when the file was replaced or shrank: the next copy starts a new version.
    new_version: bool,
    ino: u64,
    ns_pid: u32,
    /// The start of a line not yet ended by a newline (at most [`MAX_LINE`] bytes).
    partial: Vec<u8>,
    /// Inside a line longer than [`MAX_LINE`]: everything up to the next newline is skipped.
    skipping: bool,
    /// What this map has cost; once a charge is refused the map is read no further than paid for.
    account: Account,
    cut: bool,
    /// Bytes paid for and not read yet (reading stopped at a deadline).
    allowance: u64,
}

/// What changed since the last look.
#[derive(Debug, PartialEq, Eq)]
pub struct PerfMapUpdate {
    /// The file was rewritten: `data` starts a new version.
    pub reset: bool,
    /// New whole lines.
    pub data: Vec<u8>,
}

impl PerfMapFile {
    /// Opens the perf map of process `pid`, whose pid in its namespace is `ns_pid`, inside `root`;
    /// what is read from it is charged to `budget`.
    pub fn open(root: &ContainerRoot, pid: u32, ns_pid: u32, budget: &Budget) -> Option<PerfMapFile> {
        let path = symbolizer::perfmap::perf_map_path(ns_pid);
        let (file, _) = root.open(&path, u64::MAX).ok()?;
        let ino = file.metadata().ok()?.ino();
        Some(PerfMapFile {
            file,
            read: 0,
            new_version: true,
            ino,
            ns_pid,
            partial: Vec::new(),
            skipping: false,
            account: budget.account(pid, path),
            cut: false,
            allowance: 0,
        })
    }

    /// If the path now names another file (deleted and written anew), switches to it.
    pub fn reopen_if_replaced(&mut self, root: &ContainerRoot) {
        if self.cut && self.allowance == 0 {
            return;
        }
        let Ok((file, _)) = root.open(&symbolizer::perfmap::perf_map_path(self.ns_pid), u64::MAX) else {
            return;
        };
        match file.metadata() {
            Ok(m) if m.ino() != self.ino => {
                self.ino = m.ino();
                self.file = file;
                self.start_version();
            }
            _ => {}
        }
    }

    /// Reads what was appended since the last call (everything, as a new version, if the file
    /// shrank or was replaced) and hands it to `copy` as whole lines, in pieces of at most
    /// [`PIECE`] bytes; the first piece of a new version has `reset` set (and is handed over even
    /// when empty, so that the old version is dropped). Stops at the map's budget, and at
    /// `deadline` (the next call goes on from there): once it has passed, nothing is read (what
    /// is new is still charged, so that a cut is noted and what is left unread is counted).
    pub fn update<E>(
        &mut self,
        deadline: Instant,
        mut copy: impl FnMut(PerfMapUpdate) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.cut && self.allowance == 0 {
            return Ok(());
        }
        let Ok(meta) = self.file.metadata() else { return Ok(()) };
        if meta.len() < self.read {
            self.start_version();
        }
        let available = meta.len() - self.read;
        // Bytes are paid for once, when first seen; what is paid and not yet read is read later.
        let unpaid = available.saturating_sub(self.allowance);
        if unpaid > 0 && !self.cut {
            let granted = self.account.charge(unpaid);
            self.allowance += granted;
            self.cut = granted < unpaid;
        }
        // What is new is paid for (and a cut noted) at once, but read only before the deadline.
        if Instant::now() >= deadline {
            return Ok(());
        }
        let mut left = available.min(self.allowance);
        if left == 0 {
            return self.copy_lines(Vec::new(), &mut copy);
        }
        if self.file.seek(SeekFrom::Start(self.read)).is_err() {
            return Ok(());
        }
        // With the partial line before them (at most MAX_LINE), the lines of one read fit in PIECE.
        let mut buf = vec![0u8; (PIECE - MAX_LINE).min(usize::try_from(left).unwrap_or(PIECE))];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match self.file.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break, // truncated meanwhile: the next call starts a new version
                Ok(n) => n,
            };
            left -= n as u64;
            self.allowance -= n as u64;
            self.read += n as u64;
            let lines = self.whole_lines(&buf[..n]);
            self.copy_lines(lines, &mut copy)?;
            if Instant::now() >= deadline {
                break;
            }
        }
        Ok(())
    }

    /// Bytes of the file not copied (yet): past what was read, within the map's budget.
    pub fn unread(&self) -> u64 {
        let len = self.file.metadata().map_or(0, |m| m.len());
        len.saturating_sub(self.read).min(if self.cut { self.allowance } else { u64::MAX })
    }

    fn start_version(&mut self) {
        self.read = 0;
        self.new_version = true;
        self.partial.clear();
        self.skipping = false;
    }

    /// The whole lines that `bytes` completes (with the partial line before it); keeps the new
    /// partial line, or skips a line grown past [`MAX_LINE`].
    fn whole_lines(&mut self, mut bytes: &[u8]) -> Vec<u8> {
        if self.skipping {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.skipping = false;
                    bytes = &bytes[i + 1..];
                }
                None => return Vec::new(),
            }
        }
        let Some(last) = bytes.iter().rposition(|&b| b == b'\n') else {
            self.keep_partial(bytes);
            return Vec::new();
        };
        let mut lines = std::mem::take(&mut self.partial);
        lines.extend_from_slice(&bytes[..=last]);
        self.keep_partial(&bytes[last + 1..]);
        // A line longer than MAX_LINE that arrived whole in one read is dropped here.
        if lines.split(|&b| b == b'\n').any(|l| l.len() > MAX_LINE) {
            lines = lines
                .split_inclusive(|&b| b == b'\n')
                .filter(|l| l.len() <= MAX_LINE + 1)
                .flatten()
                .copied()
                .collect();
        }
        lines
    }

    fn keep_partial(&mut self, tail: &[u8]) {
        if self.partial.len() + tail.len() > MAX_LINE {
            self.partial.clear();
            self.skipping = true;
        } else {
            self.partial.extend_from_slice(tail);
        }
    }

    fn copy_lines<E>(
        &mut self,
        lines: Vec<u8>,
        copy: &mut impl FnMut(PerfMapUpdate) -> Result<(), E>,
    ) -> Result<(), E> {
        if lines.is_empty() && !self.new_version {
            return Ok(());
        }
        let reset = std::mem::take(&mut self.new_version);
        copy(PerfMapUpdate { reset, data: lines })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Tree(std::path::PathBuf);
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tree(name: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!("cperf-jit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        Tree(dir)
    }

    fn updates(map: &mut PerfMapFile) -> Vec<PerfMapUpdate> {
        let mut all = Vec::new();
        map.update(far(), |u| {
            all.push(u);
            Ok::<(), ()>(())
        })
        .unwrap();
        all
    }

    fn far() -> Instant {
        Instant::now() + std::time::Duration::from_secs(3600)
    }

    fn update(map: &mut PerfMapFile) -> Option<PerfMapUpdate> {
        let mut all = updates(map);
        assert!(all.len() <= 1, "{all:?}");
        all.pop()
    }

    #[test]
    fn appends_then_rewrites() {
        let dir = tree("rewrite");
        let path = dir.0.join("tmp/perf-7.map");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"1000 10 one\n2000 10 tw").unwrap();
        let root = ContainerRoot::at(&dir.0).unwrap();
        let mut map = PerfMapFile::open(&root, 70, 7, &budget()).unwrap();
        assert_eq!(update(&mut map), Some(PerfMapUpdate { reset: true, data: b"1000 10 one\n".to_vec() }));
        assert_eq!(update(&mut map), None);
        f.write_all(b"o\n").unwrap();
        assert_eq!(update(&mut map), Some(PerfMapUpdate { reset: false, data: b"2000 10 two\n".to_vec() }));
        // Rewritten shorter: a new version.
        std::fs::write(&path, b"3000 1 x\n").unwrap();
        assert_eq!(update(&mut map), Some(PerfMapUpdate { reset: true, data: b"3000 1 x\n".to_vec() }));
        // Deleted and created again: the descriptor still reads the old file until switched.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"4000 1 y\n").unwrap();
        map.reopen_if_replaced(&root);
        assert_eq!(update(&mut map), Some(PerfMapUpdate { reset: true, data: b"4000 1 y\n".to_vec() }));
        // Replaced by an empty file: the old version is dropped.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"").unwrap();
        map.reopen_if_replaced(&root);
        assert_eq!(update(&mut map), Some(PerfMapUpdate { reset: true, data: Vec::new() }));
    }

    /// A map replaced by a fresh large file, again and again, costs the recorder at most the
    /// per-map limit in all, however many times it is replaced; the cut is recorded once.
    #[test]
    fn replacing_a_map_again_and_again_is_bounded() {
        let dir = tree("churn");
        let path = dir.0.join("tmp/perf-1.map");
        std::fs::write(&path, b"").unwrap();
        let root = ContainerRoot::at(&dir.0).unwrap();
        let budget =
            Budget::new("perf maps", Limits { per_file: 1 << 20, per_process: 1 << 20, total: 1 << 30 });
        let mut map = PerfMapFile::open(&root, 4242, 1, &budget).unwrap();
        let line = b"7f0000001000 10 jitted_function_with_a_name\n";
        let version: Vec<u8> = line.iter().copied().cycle().take(line.len() * 10_000).collect();
        let mut copied = 0;
        for _ in 0..10 {
            let fresh = dir.0.join("tmp/fresh");
            std::fs::write(&fresh, &version).unwrap();
            std::fs::rename(&fresh, &path).unwrap();
            map.reopen_if_replaced(&root);
            for u in updates(&mut map) {
                assert!(u.data.len() <= PIECE);
                copied += u.data.len();
            }
        }
        assert!(copied <= 1 << 20, "{copied} bytes copied");
        assert!(copied > (1 << 20) - line.len(), "{copied} bytes copied");
        let cuts = budget.cuts();
        assert_eq!(cuts.len(), 1, "{cuts:?}");
        assert_eq!((cuts[0].pid, cuts[0].file.to_str()), (4242, Some("/tmp/perf-1.map")));
    }

    /// Past the deadline nothing is read, not even one piece (what is new is charged); a deadline
    /// passed while copying a piece stops reading after it, and the next call goes on from there.
    /// (The copy sleeps past the deadline, so no timing decides the outcome.)
    #[test]
    fn a_deadline_stops_reading_and_the_next_call_goes_on() {
        let dir = tree("deadline");
        let path = dir.0.join("tmp/perf-1.map");
        let line = b"7f0000001000 10 f\n";
        let text: Vec<u8> =
            line.iter().copied().cycle().take(line.len() * (PIECE / line.len()) * 3).collect();
        std::fs::write(&path, &text).unwrap();
        let root = ContainerRoot::at(&dir.0).unwrap();
        let mut map = PerfMapFile::open(&root, 1, 1, &budget()).unwrap();
        let mut copied = Vec::new();
        map.update(Instant::now(), |u| {
            copied.extend(u.data);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(copied.is_empty(), "{} bytes read past the deadline", copied.len());
        assert_eq!(map.account.used(), text.len() as u64, "what is new is charged at once");
        let mut calls = 0;
        while copied.len() < text.len() {
            let before = copied.len();
            let wait = Duration::from_millis(20);
            map.update(Instant::now() + wait, |u| {
                assert_eq!(u.reset, before == 0);
                copied.extend(u.data);
                std::thread::sleep(wait);
                Ok::<(), ()>(())
            })
            .unwrap();
            assert!(copied.len() > before, "no progress");
            assert!(copied.len() - before <= PIECE, "more than one piece past the deadline");
            calls += 1;
            assert!(calls <= 8, "no progress");
        }
        assert_eq!(copied, text);
        assert_eq!(map.unread(), 0);
    }

    /// A sparse file with no line in it (or one endless line) is read once, in bounded memory,
    /// and nothing is copied; lines after an over-long one are.
    #[test]
    fn endless_lines_are_skipped() {
        let dir = tree("endless");
        let path = dir.0.join("tmp/perf-1.map");
        let f = File::create(&path).unwrap();
        f.set_len(3 << 20).unwrap();
        let root = ContainerRoot::at(&dir.0).unwrap();
        let mut map = PerfMapFile::open(&root, 1, 1, &budget()).unwrap();
        assert_eq!(update(&mut map), Some(PerfMapUpdate { reset: true, data: Vec::new() }));
        assert!(map.partial.is_empty() && map.skipping);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"\n1000 10 after\n").unwrap();
        assert_eq!(update(&mut map), Some(PerfMapUpdate { reset: false, data: b"1000 10 after\n".to_vec() }));
        // An over-long line arriving whole, between two good ones.
        let long = format!("2000 10 {}\n", "x".repeat(MAX_LINE));
        f.write_all(format!("3000 1 a\n{long}4000 1 b\n").as_bytes()).unwrap();
        assert_eq!(
            update(&mut map),
            Some(PerfMapUpdate { reset: false, data: b"3000 1 a\n4000 1 b\n".to_vec() })
        );
    }
}
