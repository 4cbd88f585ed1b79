//! Signal frames: the sigreturn trampoline (`__restore_rt` of glibc and musl) and the registers
//! of the interrupted code, saved by the kernel in the `ucontext` the trampoline's stack pointer
//! points at.
//!
//! The unwinder cannot evaluate glibc's CFI for the trampoline (its CFA is read from memory) and
//! musl's has none, so the frame is recognised here: by its FDE's `S` augmentation or by its
//! code, `mov $15, %rax; syscall` (`rt_sigreturn`) at the address itself.

use super::address_space::AddressSpace;

/// `mov $0xf, %rax; syscall`.
const SIGRETURN_CODE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
/// Offsets from the trampoline's stack pointer (the `ucontext`): `uc_mcontext` is at 40, its
/// general registers are r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip.
pub(crate) const UC_RBP: u64 = 40 + 10 * 8;
pub(crate) const UC_RSP: u64 = 40 + 15 * 8;
pub(crate) const UC_RIP: u64 = 40 + 16 * 8;

/// True when the frame at `address` (a return address pointing at, or an ip at, the
/// trampoline's first instruction) is a sigreturn trampoline.
pub(crate) fn is_trampoline(space: &AddressSpace, address: u64) -> bool {
    let Some(mapping) = space.mapping(address) else { return false };
    let Some(file) = mapping.file.as_deref() else { return false };
    if let Some((cfi, svma)) = mapping.cfi(address) {
        // glibc puts a nop before the trampoline so that `address - 1` lands in its FDE.
        if cfi.is_signal_fde(svma) || svma.checked_sub(1).is_some_and(|s| cfi.is_signal_fde(s)) {
            return true;
        }
        if cfi.covers(svma) {
            return false;
        }
    }
    mapping.file_offset(address).is_some_and(|offset| file.code_is(offset, &SIGRETURN_CODE))
}
