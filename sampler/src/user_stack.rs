//! What a sample needs to carry for its user stack to be unwound from call-frame information: the
//! user registers unwinding starts from (as `sample_regs_user` bits) and a copy of the user stack,
//! whose size the kernel bounds.
//!
//! Samples carry the registers asked for in increasing bit order ([`crate::records::Sample::user_regs`]),
//! so one register is found by counting the bits of the mask below its own.

/// The largest user stack copy the kernel accepts per sample: `sample_stack_user` must be below
/// 65535 and a multiple of 8 (a record's size is 16 bits; the kernel copies less when the rest of
/// the sample leaves less room).
pub const MAX_STACK_COPY: u32 = 65528;

/// The registers unwinding starts from, by their `PERF_REG_*` bit numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnwindRegisters {
    /// The instruction pointer.
    pub ip: u32,
    /// The stack pointer.
    pub sp: u32,
    /// The frame pointer.
    pub fp: u32,
}

impl UnwindRegisters {
    /// Their `sample_regs_user` mask.
    pub fn mask(&self) -> u64 {
        (1 << self.ip) | (1 << self.sp) | (1 << self.fp)
    }
}

/// This machine's unwinding registers: `PERF_REG_X86_IP`, `_SP`, `_BP` on x86_64; `None` where cperf
/// cannot unwind from call-frame information.
pub fn unwind_registers() -> Option<UnwindRegisters> {
    if cfg!(target_arch = "x86_64") {
        Some(UnwindRegisters { ip: 8, sp: 7, fp: 6 })
    } else {
        None
    }
}

/// Register `bit` among `regs`, sampled with `mask`; `None` when the mask lacks it or the sample
/// carries no registers (a task without user state).
pub fn register(mask: u64, bit: u32, regs: &[u64]) -> Option<u64> {
    if bit >= 64 || mask & (1 << bit) == 0 {
        return None;
    }
    regs.get((mask & ((1u64 << bit) - 1)).count_ones() as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_found_by_their_rank_in_the_mask() {
        let regs = unwind_registers().map_or(UnwindRegisters { ip: 8, sp: 7, fp: 6 }, |r| r);
        // The return register (bit 0) sampled too: AX, BP, SP, IP.
        let mask = regs.mask() | 1;
        let values = [10, 11, 12, 13];
        assert_eq!(register(mask, 0, &values), Some(10));
        assert_eq!(register(mask, regs.fp, &values), Some(11));
        assert_eq!(register(mask, regs.sp, &values), Some(12));
        assert_eq!(register(mask, regs.ip, &values), Some(13));
        assert_eq!(register(mask, 3, &values), None);
        assert_eq!(register(mask, regs.ip, &[]), None);
        assert_eq!(register(mask, 64, &values), None);
    }
}
