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
    /// What `-g` means on this machine: CFI unwinding where cperf knows the registers it starts
    /// from, frame pointers elsewhere.
    pub fn default_for_this_machine() -> CallGraph {
        match unwind_registers() {
            Some(_) => CallGraph::Dwarf { stack_bytes: DEFAULT_STACK_BYTES },
            None => CallGraph::FramePointers,
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
