//! `--call-graph`: how the user part of each sample's call stack is found.
//!
//! `dwarf` (the default of `-g` where cperf can unwind) copies a window of the user stack and the
//! user registers into each sample; the recorder unwinds it with the call-frame information of the
//! mapped files as the sample arrives and keeps only the frames. `fp` lets the kernel walk frame
//! pointers, which costs less and finds one or two frames in code built without them.

use anyhow::bail;
use sampler::user_stack::{unwind_registers, MAX_STACK_COPY};

/// The stack copied per sample by default: 32 KiB, what samply copies. 8 KiB (perf's default)
/// cut a measurable share of real stacks (see README, "Call stacks").
pub const DEFAULT_STACK_BYTES: u32 = 32768;

/// How user stacks are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallGraph {
    /// The kernel walks frame pointers.
    FramePointers,
    /// The recorder unwinds a copy of `stack_bytes` of user stack from call-frame information.
    Dwarf {
        /// Bytes copied per sample.
        stack_bytes: u32,
    },
}

impl CallGraph {
    /// What `-g` means: CFI unwinding where cperf knows the registers it starts from, frame
    /// pointers elsewhere, and for an event recorded at `every_hit` (a tracepoint or probe without
    /// -F/-c): a stack copy per hit would overflow any ring in a burst of hits (1,000 calls of a
    /// probed function lost 682 samples with 8 MiB rings), and such recordings count hits.
    pub fn default_for(every_hit: bool) -> CallGraph {
        match unwind_registers() {
            Some(_) if !every_hit => CallGraph::Dwarf { stack_bytes: DEFAULT_STACK_BYTES },
            _ => CallGraph::FramePointers,
        }
    }

    /// Parses `fp`, `dwarf` or `dwarf,BYTES`.
    pub fn parse(spec: &str) -> anyhow::Result<CallGraph> {
        let (method, size) = match spec.split_once(',') {
            Some((m, s)) => (m, Some(s)),
            None => (spec, None),
        };
        match (method, size) {
            ("fp", None) => Ok(CallGraph::FramePointers),
            ("dwarf", _) if unwind_registers().is_none() => bail!(
                "--call-graph dwarf: cperf unwinds call-frame information on x86_64 only, not {}; use --call-graph fp",
                std::env::consts::ARCH
            ),
            ("dwarf", None) => Ok(CallGraph::Dwarf { stack_bytes: DEFAULT_STACK_BYTES }),
            ("dwarf", Some(bytes)) => match bytes.trim().parse::<u32>() {
                Ok(n) if n > 0 && n <= MAX_STACK_COPY && n % 8 == 0 => Ok(CallGraph::Dwarf { stack_bytes: n }),
                _ => bail!(
                    "--call-graph dwarf,{bytes}: the stack copy must be a multiple of 8 bytes from 8 to {MAX_STACK_COPY} (e.g. dwarf,32768)"
                ),
            },
            _ => bail!("--call-graph {spec}: use fp, dwarf or dwarf,BYTES (e.g. dwarf,32768)"),
        }
    }

    /// As written in the recording's metadata (`fp`, `dwarf,32768`).
    pub fn describe(&self) -> String {
        match self {
            CallGraph::FramePointers => "fp".into(),
            CallGraph::Dwarf { stack_bytes } => format!("dwarf,{stack_bytes}"),
        }
    }

    /// Bytes of user stack each sample carries.
    pub fn stack_bytes(&self) -> u32 {
        match self {
            CallGraph::FramePointers => 0,
            CallGraph::Dwarf { stack_bytes } => *stack_bytes,
        }
    }
}

/// The smallest ring the default falls back to when the locked-memory limit refuses larger ones:
/// the default ring of frame-pointer stacks.
pub const MIN_DEFAULT_RING_PAGES: usize = 256;

/// The default ring per CPU, in pages: 256 (1 MiB) for frame-pointer stacks; with a stack copy per
/// sample (32 KiB at 999 Hz is 32 MB/s per busy CPU), 8 MiB per CPU — about 250 ms of such
/// samples, for the recorder to be late by while it reads a module or waits for a CPU — and less
/// on hosts with more than 8 CPUs so that all rings together stay near 64 MiB, never under 1 MiB.
pub fn default_ring_pages(call_graph: Option<CallGraph>) -> usize {
    match call_graph {
        Some(CallGraph::Dwarf { .. }) => dwarf_ring_pages(sampler::counter::online_cpus().len()),
        _ => MIN_DEFAULT_RING_PAGES,
    }
}

/// [`default_ring_pages`] with a stack copy, for `cpus` CPUs: a power of two of pages.
fn dwarf_ring_pages(cpus: usize) -> usize {
    const PAGE: usize = 4096;
    let per_cpu = ((64 << 20) / cpus.max(1)).clamp(1 << 20, 8 << 20);
    1 << (per_cpu / PAGE).ilog2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dwarf_rings_are_8_mib_per_cpu_up_to_64_mib_in_all() {
        assert_eq!(dwarf_ring_pages(2), 2048);
        assert_eq!(dwarf_ring_pages(8), 2048);
        assert_eq!(dwarf_ring_pages(16), 1024);
        assert_eq!(dwarf_ring_pages(24), 512);
        assert_eq!(dwarf_ring_pages(256), 256);
        assert_eq!(dwarf_ring_pages(0), 2048);
        assert_eq!(default_ring_pages(Some(CallGraph::FramePointers)), 256);
        assert_eq!(default_ring_pages(None), 256);
    }

    #[test]
    fn events_recorded_at_every_hit_walk_frame_pointers_by_default() {
        assert_eq!(CallGraph::default_for(true), CallGraph::FramePointers);
        if unwind_registers().is_some() {
            assert_eq!(CallGraph::default_for(false), CallGraph::Dwarf { stack_bytes: DEFAULT_STACK_BYTES });
        }
    }
}
