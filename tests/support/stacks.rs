//! User call stacks from two profilers (cperf's recording, `perf script`) in one comparable form, and the
//! comparison the unwinding tests make between them.
//!
//! Two profilers sampling the same container never sample the same instants, so stacks are compared as
//! weighted sets: each stack is normalised to its frames' (module basename, function or `?`), root
//! first, and the two distributions are compared by their overlap (the share of samples both have,
//! stack by stack: `Σ min(share_a, share_b)`). Completeness (the stack starts at the outermost frame)
//! and mean depth are compared as numbers.

use std::collections::BTreeMap;
use std::fmt::Write;

/// One user frame.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StackFrame {
    /// The mapped file's basename (`python3.11`, `libc.so.6`, `[vdso]`), `?` when none.
    pub module: String,
    /// The function, `None` when the profiler could not name it.
    pub function: Option<String>,
}

impl StackFrame {
    /// `module:function`, or `module:?`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.module, self.function.as_deref().unwrap_or("?"))
    }
}

/// The user part of one sample's stack.
#[derive(Debug, Clone)]
pub struct UserStack {
    /// The thread's name.
    pub comm: String,
    /// The thread (as the host sees it).
    pub tid: u32,
    /// Root (outermost) first.
    pub frames: Vec<StackFrame>,
}

/// The functions a complete user stack starts with: a process's entry point, or the system call a
/// thread was created with (`__clone3` is how symbol tables of glibc name `clone3`).
pub const OUTERMOST: &[&str] = &["_start", "clone3", "__clone3", "clone", "__clone", "__GI___clone3"];

impl UserStack {
    /// Whether the stack starts at the outermost frame ([`OUTERMOST`]).
    pub fn is_complete(&self) -> bool {
        self.frames.first().and_then(|f| f.function.as_deref()).is_some_and(|f| OUTERMOST.contains(&f))
    }

    /// The frames' keys joined with `;`, root first.
    pub fn key(&self) -> String {
        self.frames.iter().map(StackFrame::key).collect::<Vec<_>>().join(";")
    }
}

/// A profiler's stacks, reduced to what the comparison needs.
#[derive(Debug, Default)]
pub struct StackSet {
    /// Samples per normalised stack ([`UserStack::key`]).
    pub counts: BTreeMap<String, u64>,
    /// Samples.
    pub samples: u64,
    /// Samples whose stack starts at the outermost frame.
    pub complete: u64,
    /// User frames of all samples.
    pub frames: u64,
    /// The sum of each sample's depth squared (for the spread of the depths).
    pub frames_squared: u64,
}

impl StackSet {
    /// A set of samples, each given with whether its stack is complete (samples with no user frame are
    /// left out).
    pub fn new<'a>(samples: impl IntoIterator<Item = (&'a UserStack, bool)>) -> Self {
        let mut set = StackSet::default();
        for (s, complete) in samples.into_iter().filter(|(s, _)| !s.frames.is_empty()) {
            *set.counts.entry(s.key()).or_default() += 1;
            set.samples += 1;
            set.complete += u64::from(complete);
            set.frames += s.frames.len() as u64;
            set.frames_squared += (s.frames.len() as u64).pow(2);
        }
        set
    }

    /// The share of samples whose stack is complete.
    pub fn completeness(&self) -> f64 {
        self.complete as f64 / self.samples.max(1) as f64
    }

    /// User frames per sample.
    pub fn mean_depth(&self) -> f64 {
        self.frames as f64 / self.samples.max(1) as f64
    }

    /// The standard error of [`StackSet::mean_depth`] (the depths' standard deviation over √samples):
    /// how far the mean depth of another sampling of the same stacks may lie by chance.
    pub fn mean_depth_error(&self) -> f64 {
        let n = self.samples.max(1) as f64;
        let variance = (self.frames_squared as f64 / n - self.mean_depth().powi(2)).max(0.0);
        (variance / n).sqrt()
    }

    /// The share of samples with stack `key`.
    pub fn share(&self, key: &str) -> f64 {
        self.counts.get(key).copied().unwrap_or(0) as f64 / self.samples.max(1) as f64
    }

    /// `Σ min(share here, share there)` over all stacks: 1 for the same distribution, 0 when no stack
    /// is in both.
    pub fn overlap(&self, other: &StackSet) -> f64 {
        self.counts.keys().map(|k| self.share(k).min(other.share(k))).sum()
    }

    /// The share of samples whose stack the other set has too (however often).
    pub fn seen_by(&self, other: &StackSet) -> f64 {
        let both: u64 =
            self.counts.iter().filter(|(k, _)| other.counts.contains_key(*k)).map(|(_, n)| n).sum();
        both as f64 / self.samples.max(1) as f64
    }
}

/// Both sets side by side: the summary figures, then the `top` most frequent stacks of either with their
/// share in each, so a reader can tell which profiler is right where they differ.
pub fn side_by_side(a_name: &str, a: &StackSet, b_name: &str, b: &StackSet, top: usize) -> String {
    let mut out = String::new();
    for (name, s) in [(a_name, a), (b_name, b)] {
        let _ = writeln!(
            out,
            "{name}: {} samples, {:.1}% complete, mean depth {:.2} ± {:.2}, {} distinct stacks",
            s.samples,
            100.0 * s.completeness(),
            s.mean_depth(),
            s.mean_depth_error(),
            s.counts.len()
        );
    }
    let _ =
        writeln!(out, "overlap {:.3}; {a_name} stacks {b_name} saw too: {:.3}", a.overlap(b), a.seen_by(b));
    let mut keys: Vec<&String> = a.counts.keys().chain(b.counts.keys()).collect();
    keys.sort_by(|x, y| (b.share(y) + a.share(y)).total_cmp(&(b.share(x) + a.share(x))).then(x.cmp(y)));
    keys.dedup();
    let _ = writeln!(out, "{:>7} {:>7}  stack (root first)", a_name, b_name);
    for k in keys.into_iter().take(top) {
        let _ = writeln!(out, "{:>6.1}% {:>6.1}%  {k}", 100.0 * a.share(k), 100.0 * b.share(k));
    }
    out
}
