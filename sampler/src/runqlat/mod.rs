//! Run-queue latency: how long tasks wait, runnable, for a CPU — per container, process or thread —
//! measured in the kernel by a BPF program (`bpf/runqlat.bpf.c`) on the scheduler's tracepoints and
//! kept as log2 histograms, as BCC's and libbpf-tools' `runqlat` do. The program is C compiled by
//! clang at build time and relocated against the running kernel's BTF when loaded (no kernel
//! headers, no BCC, nothing installed in the container).
//!
//! A container is its cgroup directory; a task counts for a container when its cgroup v2 is the
//! container's or below it (the waiting task's own cgroup, read from the task).

#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
mod loader;

#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
pub use loader::RunQueueLatency;
#[cfg(not(all(feature = "bpf", target_arch = "x86_64")))]
pub use unavailable::RunQueueLatency;

/// The buckets of a histogram, as in `runqlat.bpf.c`: bucket `i` holds waits in `[2^i, 2^(i+1))`
/// of the unit (bucket 0 also 0); the last holds everything longer.
pub const BUCKETS: usize = 27;

/// Largest number of containers measured at once.
pub const MAX_TARGETS: usize = 64;

/// The unit of the histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// Microseconds.
    #[default]
    Micros,
    /// Milliseconds.
    Millis,
}

/// How waits are grouped within a container (or the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Per {
    /// One histogram per container.
    #[default]
    Target,
    /// One per process.
    Process,
    /// One per thread.
    Thread,
}

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct RunqlatConfig<'a> {
    /// Cgroup v2 directories of the containers, one histogram set each, in order; empty: every
    /// task of the host, as one.
    pub cgroups: &'a [&'a std::path::Path],
    /// The histograms' unit.
    pub unit: Unit,
    /// One histogram per container, per process or per thread.
    pub per: Per,
}

/// One histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// The container's index in [`RunqlatConfig::cgroups`] (0 for the host).
    pub target: usize,
    /// The process or thread id, with per-process or per-thread histograms.
    pub id: Option<u32>,
    /// Its name (the thread's when first measured), with per-process or per-thread histograms.
    pub comm: String,
    /// Waits per bucket (see [`BUCKETS`]).
    pub buckets: [u64; BUCKETS],
    /// Waits measured.
    pub count: u64,
    /// Their sum, in the unit (for the average).
    pub sum: u64,
}

/// Why run-queue latency cannot be measured.
#[derive(Debug, thiserror::Error)]
pub enum RunqlatError {
    /// This build has no BPF support, or not for this architecture.
    #[error("this cperf was built without BPF support (the `bpf` feature, x86_64 only): runqlat needs it; rebuild with: apt-get install clang libbpf-dev && cargo build --release")]
    NotBuilt,
    /// Loading or attaching failed (no permission, no BTF, old kernel…).
    #[error("cannot load the BPF run-queue latency program: {0}")]
    Load(String),
    /// Too many containers.
    #[error("at most {MAX_TARGETS} containers can be measured at once")]
    TooManyTargets,
    /// A cgroup directory could not be read.
    #[error("cannot read cgroup directory {path}: {source}")]
    Cgroup {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading the histograms failed.
    #[error("cannot read the run-queue latency histograms: {0}")]
    Read(String),
}

/// The measurement in a build without BPF: it never loads.
#[cfg(not(all(feature = "bpf", target_arch = "x86_64")))]
mod unavailable {
    use super::{Histogram, RunqlatConfig, RunqlatError};

    /// Never constructed in this build: [`RunQueueLatency::load`] always fails with `NotBuilt`.
    #[derive(Debug)]
    pub struct RunQueueLatency(std::convert::Infallible);

    impl RunQueueLatency {
        /// Always `Err(RunqlatError::NotBuilt)` in this build.
        pub fn load(_config: &RunqlatConfig<'_>) -> Result<Self, RunqlatError> {
            Err(RunqlatError::NotBuilt)
        }
        /// Unreachable: no value exists.
        pub fn take(&mut self) -> Result<Vec<Histogram>, RunqlatError> {
            match self.0 {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        assert_eq!(Unit::default(), Unit::Micros);
        assert_eq!(Per::default(), Per::Target);
    }
}
