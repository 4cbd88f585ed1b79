//! [`Unwinder`]: walks a sampled user stack frame by frame with framehop, handles signal frames,
//! and says how the walk ended ([`End`]).

use super::address_space::AddressSpace;
use super::stack::StackReader;
use super::{Cut, End, Frame, UserStack};

/// One per recorder: holds the unwinder's rule cache (shared across processes).
pub struct Unwinder {
    #[cfg(target_arch = "x86_64")]
    cache: framehop::x86_64::CacheX86_64,
}

impl std::fmt::Debug for Unwinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unwinder").finish_non_exhaustive()
    }
}

impl Default for Unwinder {
    fn default() -> Self {
        Self::new()
    }
}

impl Unwinder {
    /// An unwinder with an empty rule cache.
    pub fn new() -> Self {
        Unwinder {
            #[cfg(target_arch = "x86_64")]
            cache: framehop::x86_64::CacheX86_64::new(),
        }
    }

    /// Unwinds the user stack; pushes frames (first = ip) into `out` (cleared first); returns how
    /// it ended. On other architectures than x86_64 the stack is the sampled ip alone, cut.
    pub fn unwind(&mut self, space: &AddressSpace, stack: &UserStack<'_>, out: &mut Vec<Frame>) -> End {
        out.clear();
        out.push(Frame { address: stack.ip, is_return_address: false });
        #[cfg(target_arch = "x86_64")]
        {
            self.walk(space, stack, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = space;
            End::Cut(Cut::Unreadable { address: stack.ip })
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn walk(&mut self, space: &AddressSpace, stack: &UserStack<'_>, out: &mut Vec<Frame>) -> End {
        use framehop::x86_64::UnwindRegsX86_64;
        use framehop::{FrameAddress, Unwinder as _};
        use std::panic::{self, AssertUnwindSafe};

        use super::signal::{self, UC_RBP, UC_RIP, UC_RSP};
        use super::MAX_FRAMES;

        let mut reader = StackReader::new(stack);
        let mut regs = UnwindRegsX86_64::new(stack.ip, stack.sp, stack.bp);
        let mut frame = FrameAddress::InstructionPointer(stack.ip);
        let mut trampoline = signal::is_trampoline(space, stack.ip);
        loop {
            reader.failed = None;
            // Rules compute the caller's sp by adding to this one and read just below it: an
            // sp below 8 is garbage, and would wrap.
            if regs.sp() < 8 {
                return End::Cut(Cut::BadStep { address: frame.address() });
            }
            // The psABI marks the outermost frame with rbp 0: code without call-frame information
            // returned into with rbp 0 is where the stack starts (musl's `_start` and `__clone`
            // are such assembly; a frame-pointer step there would fail, not end).
            if frame.is_return_address() && regs.bp() == 0 && outermost_without_cfi(space, frame) {
                return End::Complete;
            }
            let next = if trampoline {
                let sp = regs.sp();
                let saved = |reader: &mut StackReader<'_>, at: u64| {
                    let address = sp.checked_add(at).ok_or(())?;
                    reader.read(address)
                };
                let (Ok(bp), Ok(sp), Ok(ip)) =
                    (saved(&mut reader, UC_RBP), saved(&mut reader, UC_RSP), saved(&mut reader, UC_RIP))
                else {
                    return End::Cut(reader.cut_for(reader.failed.unwrap_or(sp)));
                };
                regs = UnwindRegsX86_64::new(ip, sp, bp);
                (ip, FrameAddress::InstructionPointer(ip))
            } else {
                // framehop subtracts without checking on paths a hostile CFA can reach (a CFA
                // below 8 read at CFA - 8): that overflow panics in builds with overflow checks
                // (tests, fuzzing) and wraps harmlessly otherwise. Either way the walk is cut
                // there, and the cache, possibly half-updated, is replaced.
                let step = panic::catch_unwind(AssertUnwindSafe(|| {
                    space.modules.unwind_frame(frame, &mut regs, &mut self.cache, &mut |a| reader.read(a))
                }));
                let Ok(step) = step else {
                    self.cache = framehop::x86_64::CacheX86_64::new();
                    return End::Cut(Cut::BadStep { address: frame.address() });
                };
                match step {
                    Ok(Some(ra)) => match FrameAddress::from_return_address(ra) {
                        Some(next) => (ra, next),
                        None => return self.ended(space, frame, &reader),
                    },
                    Ok(None) => return self.ended(space, frame, &reader),
                    Err(framehop::Error::CouldNotReadStack(address)) => {
                        return End::Cut(reader.copy_size_cut().unwrap_or_else(|| reader.cut_for(address)));
                    }
                    Err(_) => {
                        return End::Cut(
                            reader
                                .copy_size_cut()
                                .or_else(|| no_cfi(space, frame))
                                .unwrap_or(Cut::BadStep { address: frame.address() }),
                        );
                    }
                }
            };
            if out.len() >= MAX_FRAMES {
                return End::Cut(Cut::TooDeep);
            }
            // A signal handler "returns" to the first instruction of the sigreturn trampoline, which
            // no call precedes: that frame is named by its exact address (`__restore_rt`), not by
            // the byte before it (another function, or none).
            trampoline = signal::is_trampoline(space, next.0);
            out.push(Frame { address: next.0, is_return_address: next.1.is_return_address() && !trampoline });
            frame = next.1;
        }
    }

    /// The walk stopped without an error at `frame`: the outermost frame when CFI says so there
    /// (or frame pointers, where the mapping has no CFI), else a cut.
    #[cfg(target_arch = "x86_64")]
    fn ended(&self, space: &AddressSpace, frame: framehop::FrameAddress, reader: &StackReader<'_>) -> End {
        if let Some(cut) = reader.copy_size_cut() {
            return End::Cut(cut);
        }
        match no_cfi(space, frame) {
            Some(cut) => End::Cut(cut),
            None => End::Complete,
        }
    }
}

/// True when `frame` is in a mapping but no FDE covers it (its file has none there, or no CFI at
/// all): where frame pointers are all there is.
#[cfg(target_arch = "x86_64")]
fn outermost_without_cfi(space: &AddressSpace, frame: framehop::FrameAddress) -> bool {
    let lookup = frame.address_for_lookup();
    space.mapping(lookup).is_some_and(|m| m.cfi(lookup).is_none_or(|(file, svma)| !file.covers(svma)))
}

/// `Some(NoCfi)` when `frame` is in no mapping, or in a file with CFI but no FDE covering it;
/// `None` when an FDE covers it or its mapping has no CFI at all (frame pointers are the
/// authority there).
#[cfg(target_arch = "x86_64")]
fn no_cfi(space: &AddressSpace, frame: framehop::FrameAddress) -> Option<Cut> {
    let lookup = frame.address_for_lookup();
    let cut = Some(Cut::NoCfi { address: frame.address() });
    let Some(mapping) = space.mapping(lookup) else { return cut };
    match mapping.cfi(lookup) {
        Some((file, svma)) if !file.covers(svma) => cut,
        _ => None,
    }
}
