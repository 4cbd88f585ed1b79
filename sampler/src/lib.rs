//! The data-gathering half of cperf: safe wrappers over `perf_event_open(2)`, tracefs, cgroups and
//! container resolution.
//!
//! The data path reads top to bottom:
//!
//! - [`container`] turns what a user calls a container (an id prefix, a name, a cgroup path, `pid:N`)
//!   into a cgroup v2 directory, found through [`cgroup`];
//! - [`event`] parses perf-style event specs (`syscalls:sys_enter_*`, `cpu-clock`) into concrete events,
//!   using [`tracefs`] for tracepoint ids;
//! - [`counter`] opens one counting event per CPU (or per thread) for a [`counter::Scope`] and reads
//!   scaled totals;
//! - [`runqlat`] measures how long tasks of containers wait for a CPU, with a BPF program.
//!
//! All raw system calls and `unsafe` live in the private `sys` module; everything above it is safe Rust.
//!
//! ```no_run
//! use sampler::{counter::{CounterSet, Scope}, event::EventList, tracefs::Tracefs};
//!
//! let tracefs = Tracefs::find_or_mount()?;
//! let events = EventList::parse(&["syscalls:sys_enter_getppid"], Some(&tracefs))?;
//! let mut set = CounterSet::open(&events, &Scope::System)?;
//! set.enable()?;
//! std::thread::sleep(std::time::Duration::from_millis(100));
//! set.disable()?;
//! for reading in set.read()? {
//!     println!("{} {}", reading.count, reading.event);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod cgroup;
pub mod command_cgroup;
pub mod container;
pub mod counter;
pub mod event;
pub mod mountinfo;
pub mod procmaps;
pub mod recording;
pub mod records;
pub mod ring;
pub mod runqlat;
pub mod sampling;
mod sys;
pub mod syscount;
pub mod tracefs;
pub mod uprobe;
pub mod user_stack;
pub mod workload;

pub use sys::SyscallError;

/// An error and its sources on one line (`outer: inner: …`), for the BPF loaders: aya's errors
/// leave their causes out of their own text.
#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
