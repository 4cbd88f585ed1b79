//! User stacks to return addresses, with the call-frame information (CFI) of the mapped files.
//!
//! The recorder gets, per sample, the user registers and a copy of the user stack from the
//! kernel ([`UserStack`]); it keeps one [`AddressSpace`] per process (its executable mappings,
//! each with the [`CfiFile`] of its file, read once and shared) and one [`Unwinder`]. Rules come
//! from `framehop` (`.eh_frame` through `.eh_frame_hdr`, `.debug_frame`, a rule cache); where a
//! mapping has no CFI (JIT code, Go) frames are walked by frame pointer and CFI resumes after.
//! Signal frames (`__restore_rt`) are recognised here and continue with the interrupted registers.
//!
//! Everything is bounded: at most [`MAX_FRAMES`] frames, reads only inside the copy, unwind
//! sections checked once per file (no expression that can branch, an `.eh_frame_hdr` table that
//! names only real FDEs), checked arithmetic on addresses read from the stack. A walk that
//! cannot go on ends with a [`Cut`] saying why. x86_64 only: elsewhere a walk is the sampled ip.

mod address_space;
mod cfi_file;
mod cfi_index;
mod elf_sections;
mod error;
mod signal;
mod stack;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;
mod unwinder;

pub use address_space::AddressSpace;
pub use cfi_file::CfiFile;
pub use error::CfiError;
pub use unwinder::Unwinder;

/// The most frames a walk returns.
pub const MAX_FRAMES: usize = 1024;

/// Registers and the stack copy of one sample (`PERF_SAMPLE_REGS_USER`, `PERF_SAMPLE_STACK_USER`).
#[derive(Debug, Clone, Copy)]
pub struct UserStack<'a> {
    /// The sampled instruction pointer.
    pub ip: u64,
    /// The sampled stack pointer.
    pub sp: u64,
    /// The sampled frame pointer register (rbp).
    pub bp: u64,
    /// The bytes copied from `sp` up (the kernel's dyn_size of them).
    pub bytes: &'a [u8],
    /// The copy size asked of the kernel: `bytes.len() == requested` means more stack may exist
    /// above.
    pub requested: u64,
}

/// One frame of a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The code address.
    pub address: u64,
    /// False for the sampled ip and for the interrupted ip after a signal frame (the address of
    /// the instruction itself, not one after a call).
    pub is_return_address: bool,
}

/// How a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// At the outermost frame.
    Complete,
    /// Before it.
    Cut(Cut),
}

/// Why a walk stopped before the outermost frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Needed stack above the copy, and the copy was full: a larger `--call-graph dwarf,BYTES`
    /// helps.
    CopySize,
    /// Stopped at `address` which has no CFI (no FDE covers it in its file, or no file or no CFI
    /// for its mapping, or in no mapping at all) and the frame-pointer fallback failed there.
    NoCfi {
        /// The frame's code address.
        address: u64,
    },
    /// A read outside the copy that a larger copy would not fix (below sp, or above the stack's
    /// top when the kernel copied less than asked): `address` is what could not be read.
    Unreadable {
        /// The address that could not be read.
        address: u64,
    },
    /// The rule (or the frame pointer) of the frame at `address` led nowhere: the stack pointer
    /// did not move up, nothing changed, arithmetic overflowed, or the evaluation failed.
    BadStep {
        /// The frame's code address.
        address: u64,
    },
    /// More than [`MAX_FRAMES`] frames.
    TooDeep,
}
