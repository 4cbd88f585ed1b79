//! Fuzz target: the unwinder's input is untrusted end to end — a container's ELF file with its
//! `.eh_frame`/`.eh_frame_hdr`/`.debug_frame`, and a sample's registers and stack bytes. Reading
//! the unwind sections and walking a stack over them must never panic, abort or hang, and never
//! return more than `MAX_FRAMES` frames.
//!
//! Input: 24 bytes of registers (ip, sp, bp; an ip outside the mappings is folded into them), the
//! file's length (u32), then the file (mapped whole at 0x400000, where a static non-PIE binary's
//! addresses are its own), then the stack copy.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use symbolizer::unwind::{AddressSpace, CfiFile, UserStack, Unwinder, MAX_FRAMES};

const BASE: u64 = 0x40_0000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 28 {
        return;
    }
    let word = |i: usize| u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().unwrap());
    let (ip, sp, bp) = (word(0), word(1), word(2));
    let rest = &data[28..];
    let file_len = u32::from_le_bytes(data[24..28].try_into().unwrap()) as usize;
    let (file, stack) = rest.split_at(file_len.min(rest.len()));
    let mut space = AddressSpace::new();
    let span = (file.len() as u64).max(1);
    // The file mapped twice (with and without its CFI, as a JIT region), then the stack's page.
    space.map(BASE, BASE + span, 0, CfiFile::parse(file).ok().map(Arc::new));
    space.map(BASE + span, BASE + 2 * span, 0, None);
    let ip = if (BASE..BASE + 2 * span).contains(&ip) || ip & 1 == 1 { ip } else { BASE + ip % (2 * span) };
    let user = UserStack { ip, sp, bp, bytes: stack, requested: stack.len() as u64 };
    let mut frames = Vec::new();
    let _ = Unwinder::new().unwind(&space, &user, &mut frames);
    assert!(frames.len() <= MAX_FRAMES);
});
