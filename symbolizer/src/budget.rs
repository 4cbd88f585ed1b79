//! One budget for what input from containers can make cperf hold in memory, read or write.
//!
//! cperf runs as root on the host and reads files that containers control (JIT perf maps, ELF and
//! debug files). Their sizes are the container's choice, so each kind of input gets a [`Budget`]
//! with three [`Limits`]: per file, per process, and in total. Before holding, reading or writing
//! `n` more bytes of a file, the caller charges them to that file's [`Account`]:
//!
//! - [`Account::try_charge`] grants all `n` bytes or none (for a thing that is useless cut short,
//!   such as a section to decompress);
//! - [`Account::charge`] grants up to `n` bytes and says how many (for a thing that may be cut,
//!   such as the lines of a perf map copied into a recording).
//!
//! Whatever is refused is recorded once per file and limit as a [`Cut`] (the first
//! [`NOTES_LISTED`] one by one, the others only as a count and a byte sum, so that the bookkeeping
//! stays the same size however many files a container makes cperf refuse); [`Budget::notes`] gives
//! the lines for the record summary. Bytes that are written or read stay charged; memory that is
//! freed can be given back with [`Account::release`]. A `Budget` is a cheap handle (clones share
//! one state) and is `Send + Sync`, so threads and several owners can charge the same one.
//!
//! ```
//! use symbolizer::budget::{Budget, Limits};
//!
//! let budget = Budget::new("perf maps", Limits { per_file: 100, per_process: 150, total: 1000 });
//! let mut map = budget.account(42, "/tmp/perf-1.map");
//! assert_eq!(map.charge(60), 60);
//! assert_eq!(map.charge(60), 40); // cut at the per-file limit
//! assert!(!map.try_charge(1));
//! assert_eq!(budget.cuts().len(), 1);
//! assert_eq!(budget.notes().len(), 1);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// How much one kind of input may cost, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most one file may cost (over all its versions, for a file that is rewritten).
    pub per_file: u64,
    /// The most all the files of one process may cost together.
    pub per_process: u64,
    /// The most all files of all processes may cost together.
    pub total: u64,
}

/// Which of the [`Limits`] refused bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    /// [`Limits::per_file`].
    PerFile,
    /// [`Limits::per_process`].
    PerProcess,
    /// [`Limits::total`].
    Total,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::PerFile => "per-file",
            Bound::PerProcess => "per-process",
            Bound::Total => "total",
        })
    }
}

/// Bytes of one file that a limit refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The process the file belongs to (or was found through).
    pub pid: u32,
    /// The file, as the container names it.
    pub file: PathBuf,
    /// The limit that refused them.
    pub bound: Bound,
    /// That limit's value, in bytes.
    pub limit: u64,
    /// How many bytes were refused, summed over every refused charge of this file by this limit.
    pub refused: u64,
}

/// Limits and what has been charged against them, shared by every [`Account`] made from it.
#[derive(Debug, Clone)]
pub struct Budget(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    what: String,
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: u64,
    /// Bytes charged per process, for processes with bytes charged and not forgotten.
    processes: HashMap<u32, u64>,
    /// The first [`NOTES_LISTED`] cuts.
    listed: Vec<Cut>,
    /// How many cuts came after those, and the bytes they refused.
    more: u64,
    more_refused: u64,
}

/// Where an [`Account`]'s cut by one [`Bound`] is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CutSlot {
    /// Index into [`State::listed`].
    Listed(usize),
    /// Counted in [`State::more`].
    Aggregated,
}

/// What one file of one process has cost so far; charges go to the file, its process and the total.
#[derive(Debug)]
pub struct Account {
    budget: Budget,
    pid: u32,
    file: PathBuf,
    used: u64,
    /// Where this account's cut by each bound (in [`Bound`] order) is recorded, once it has one.
    cuts: [Option<CutSlot>; 3],
    /// Past this, the work charged to this account that can be done without is skipped.
    deadline: Option<Instant>,
}

/// The most cuts a [`Budget`] keeps (and [`Budget::notes`] lists) one by one before summing up
/// the rest.
pub const NOTES_LISTED: usize = 5;

impl Budget {
    /// A budget for `what` (a plural noun for the notes: "perf maps", "debug sections").
    pub fn new(what: impl Into<String>, limits: Limits) -> Budget {
        Budget(Arc::new(Shared { what: what.into(), limits, state: Mutex::new(State::default()) }))
    }

    /// Its limits.
    pub fn limits(&self) -> Limits {
        self.0.limits
    }

    /// What it is a budget for, as given to [`Budget::new`].
    pub fn what(&self) -> &str {
        &self.0.what
    }

    /// The account of `file` of process `pid`. Make one per file and keep it while the file is
    /// followed: the per-file limit counts what was charged to this account.
    pub fn account(&self, pid: u32, file: impl Into<PathBuf>) -> Account {
        Account { budget: self.clone(), pid, file: file.into(), used: 0, cuts: [None; 3], deadline: None }
    }

    /// Forgets what process `pid` was charged (when it has exited: a process reusing its pid
    /// starts afresh). Its bytes stay charged to the total.
    pub fn forget(&self, pid: u32) {
        self.state().processes.remove(&pid);
    }

    /// Bytes charged and not released, over all accounts.
    pub fn total(&self) -> u64 {
        self.state().total
    }

    /// The first [`NOTES_LISTED`] cuts, in the order first refused.
    pub fn cuts(&self) -> Vec<Cut> {
        self.state().listed.clone()
    }

    /// How many cuts there were after the first [`NOTES_LISTED`], and the bytes they refused.
    pub fn more_cuts(&self) -> (u64, u64) {
        let state = self.state();
        (state.more, state.more_refused)
    }

    /// One line per cut for the record summary (the first few, then a count of the others); empty
    /// when nothing was refused.
    pub fn notes(&self) -> Vec<String> {
        let (cuts, (more, more_refused)) = (self.cuts(), self.more_cuts());
        let what = self.what();
        let mut notes: Vec<String> = cuts.iter().map(|c| self.note(c)).collect();
        if more > 0 {
            notes.push(format!("{what}: {more} more files were cut ({} not taken)", bytes(more_refused)));
        }
        notes
    }

    /// The note for one cut, as [`Budget::notes`] words it: for a caller that reports cuts as
    /// they happen rather than in a summary.
    pub fn note(&self, cut: &Cut) -> String {
        format!(
            "{}: {} of process {} was cut at the {} limit of {} ({} not taken)",
            self.what(),
            cut.file.display(),
            cut.pid,
            cut.bound,
            bytes(cut.limit),
            bytes(cut.refused)
        )
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters inconsistent (each update is
        // one statement), so a poisoned lock is still usable.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Account {
    /// Grants up to `bytes` more and returns how many; when that is fewer, records the cut (by the
    /// tightest limit).
    pub fn charge(&mut self, bytes: u64) -> u64 {
        self.charge_with(bytes, false)
    }

    /// Grants all `bytes` or nothing; a refusal is recorded as a cut of `bytes`.
    pub fn try_charge(&mut self, bytes: u64) -> bool {
        self.charge_with(bytes, true) == bytes
    }

    /// Gives back `bytes` no longer held (memory freed); never more than was charged.
    pub fn release(&mut self, bytes: u64) {
        let bytes = bytes.min(self.used);
        self.used -= bytes;
        let mut state = self.budget.state();
        state.total = state.total.saturating_sub(bytes);
        if let Some(p) = state.processes.get_mut(&self.pid) {
            *p = p.saturating_sub(bytes);
            if *p == 0 {
                state.processes.remove(&self.pid);
            }
        }
    }

    /// Sets the time past which the work charged to this account that can be done without is
    /// skipped (a parser leaves out DWARF then: see [`Account::past_deadline`]).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// True once the deadline set by [`Account::set_deadline`] has passed.
    pub fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Bytes charged to this file and not released.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// How many bytes a charge would be granted now.
    pub fn remaining(&self) -> u64 {
        let state = self.budget.state();
        self.room(&state).0
    }

    /// The process and the file this account charges for.
    pub fn owner(&self) -> (u32, &Path) {
        (self.pid, &self.file)
    }

    /// Room left before the tightest limit, and that limit.
    fn room(&self, state: &State) -> (u64, Bound, u64) {
        let limits = self.budget.0.limits;
        let process = state.processes.get(&self.pid).copied().unwrap_or(0);
        [
            (limits.per_file.saturating_sub(self.used), Bound::PerFile, limits.per_file),
            (limits.per_process.saturating_sub(process), Bound::PerProcess, limits.per_process),
            (limits.total.saturating_sub(state.total), Bound::Total, limits.total),
        ]
        .into_iter()
        .min_by_key(|&(room, ..)| room)
        .expect("three limits")
    }

    fn charge_with(&mut self, bytes: u64, all_or_nothing: bool) -> u64 {
        if bytes == 0 {
            return 0;
        }
        let budget = self.budget.clone();
        let mut state = budget.state();
        let (room, bound, limit) = self.room(&state);
        let granted = if room >= bytes {
            bytes
        } else if all_or_nothing {
            0
        } else {
            room
        };
        if granted < bytes {
            self.record_cut(&mut state, bound, limit, bytes - granted);
        }
        if granted > 0 {
            state.total += granted;
            *state.processes.entry(self.pid).or_default() += granted;
            self.used += granted;
        }
        granted
    }

    /// Adds `refused` bytes to this account's cut by `bound`: in O(1), and without keeping
    /// anything per cut past the first [`NOTES_LISTED`].
    fn record_cut(&mut self, state: &mut State, bound: Bound, limit: u64, refused: u64) {
        let slot = &mut self.cuts[bound as usize];
        if slot.is_none() {
            // Another account of the same file (made by another caller) shares its listed cut.
            let same = state
                .listed
                .iter()
                .position(|c| c.pid == self.pid && c.file == self.file && c.bound == bound);
            *slot = Some(match same {
                Some(i) => CutSlot::Listed(i),
                None if state.listed.len() < NOTES_LISTED => {
                    state.listed.push(Cut {
                        pid: self.pid,
                        file: self.file.clone(),
                        bound,
                        limit,
                        refused: 0,
                    });
                    CutSlot::Listed(state.listed.len() - 1)
                }
                None => {
                    state.more += 1;
                    CutSlot::Aggregated
                }
            });
        }
        match slot.expect("set above") {
            CutSlot::Listed(i) => state.listed[i].refused = state.listed[i].refused.saturating_add(refused),
            CutSlot::Aggregated => state.more_refused = state.more_refused.saturating_add(refused),
        }
    }
}

/// `n` bytes in the largest binary unit that keeps it at least 1 (`64 MiB`, `1.5 GiB`, `300 bytes`),
/// as the notes write sizes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { per_file: 100, per_process: 150, total: 250 };

    #[test]
    fn each_limit_cuts_and_is_named() {
        let budget = Budget::new("perf maps", LIMITS);
        let mut a = budget.account(1, "/a");
        assert_eq!(a.charge(80), 80);
        assert_eq!(a.charge(80), 20); // per file
        let mut b = budget.account(1, "/b");
        assert_eq!(b.charge(80), 50); // per process: 100 + 50
        let mut c = budget.account(2, "/c");
        assert_eq!(c.charge(100), 100);
        let mut d = budget.account(3, "/d");
        assert_eq!(d.charge(10), 0); // total: 250 reached
        assert_eq!(budget.total(), 250);
        let bounds: Vec<_> = budget.cuts().iter().map(|c| (c.file.clone(), c.bound, c.refused)).collect();
        assert_eq!(
            bounds,
            [
                (PathBuf::from("/a"), Bound::PerFile, 60),
                (PathBuf::from("/b"), Bound::PerProcess, 30),
                (PathBuf::from("/d"), Bound::Total, 10),
            ]
        );
        assert_eq!(
            budget.notes()[0],
            "perf maps: /a of process 1 was cut at the per-file limit of 100 bytes (60 bytes not taken)"
        );
    }

    #[test]
    fn try_charge_is_all_or_nothing_and_cuts_add_up() {
        let budget = Budget::new("debug sections", LIMITS);
        let mut a = budget.account(7, "/lib.so");
        assert!(a.try_charge(60));
        assert!(!a.try_charge(60));
        assert!(!a.try_charge(50));
        assert_eq!(a.used(), 60);
        assert_eq!(a.remaining(), 40);
        let cuts = budget.cuts();
        assert_eq!(cuts.len(), 1);
        assert_eq!(cuts[0].refused, 110);
    }

    #[test]
    fn released_memory_can_be_charged_again() {
        let budget = Budget::new("debug sections", LIMITS);
        let mut a = budget.account(7, "/lib.so");
        assert_eq!(a.charge(100), 100);
        a.release(1000);
        assert_eq!((a.used(), budget.total()), (0, 0));
        assert!(a.try_charge(100));
        assert!(budget.cuts().is_empty() && budget.notes().is_empty());
    }

    #[test]
    fn many_cuts_are_summed_up_in_the_notes() {
        let budget =
            Budget::new("perf maps", Limits { per_file: 1024, per_process: 1 << 20, total: 1 << 30 });
        for pid in 0..8 {
            budget.account(pid, "/tmp/perf-1.map").charge(1024 + 512);
        }
        let notes = budget.notes();
        assert_eq!(notes.len(), NOTES_LISTED + 1);
        assert!(notes[0].contains("per-file limit of 1 KiB (512 bytes not taken)"), "{}", notes[0]);
        assert_eq!(notes[NOTES_LISTED], "perf maps: 3 more files were cut (1.5 KiB not taken)");
    }

    #[test]
    fn bookkeeping_stays_small_however_many_files_are_cut() {
        // After the total is reached, every new file of every new process is refused: the budget
        // keeps the first few cuts and a count, not one entry per file.
        let budget = Budget::new("perf maps", Limits { per_file: 10, per_process: 10, total: 100 });
        for pid in 0..10 {
            budget.account(pid, "/tmp/perf.map").charge(10);
        }
        for pid in 10..20_010 {
            budget.account(pid, format!("/tmp/perf-{pid}.map")).charge(7);
        }
        let mut again = budget.account(10, "/tmp/perf-10.map");
        again.charge(7);
        assert_eq!(budget.cuts().len(), NOTES_LISTED);
        let state = budget.state();
        assert_eq!(state.listed.len(), NOTES_LISTED);
        assert_eq!(state.listed[0].refused, 14, "a second account of a listed file adds to its cut");
        assert_eq!(
            (state.more, state.more_refused),
            (20_000 - NOTES_LISTED as u64, 7 * (20_000 - NOTES_LISTED as u64))
        );
        drop(state);
        assert_eq!(budget.notes().len(), NOTES_LISTED + 1);
    }

    #[test]
    fn processes_are_forgotten_when_released_or_gone() {
        let budget = Budget::new("x", LIMITS);
        let mut a = budget.account(1, "/a");
        a.charge(10);
        a.release(10);
        budget.account(2, "/b").charge(10);
        budget.forget(2);
        assert!(budget.state().processes.is_empty());
        assert_eq!(budget.total(), 10, "a forgotten process's bytes stay in the total");
        budget.account(2, "/c").charge(100);
        assert_eq!(budget.account(2, "/d").charge(50), 50, "a new process with the pid starts afresh");
    }

    #[test]
    fn charges_from_threads_never_exceed_the_total() {
        let budget = Budget::new("x", Limits { per_file: u64::MAX, per_process: u64::MAX, total: 1000 });
        std::thread::scope(|s| {
            for pid in 0..4 {
                let budget = budget.clone();
                s.spawn(move || {
                    let mut a = budget.account(pid, "/f");
                    for _ in 0..100 {
                        a.charge(7);
                    }
                });
            }
        });
        assert_eq!(budget.total(), 1000);
    }
}
