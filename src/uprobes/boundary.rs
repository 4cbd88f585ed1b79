//! Whether a probe's file offset is the first byte of an instruction. The kernel writes its
//! breakpoint over whatever byte it is given: inside an instruction, that changes the instruction
//! (or the next one) and the probed program crashes. So the code is decoded from a known start —
//! the function symbol that holds the offset (of the file or its debug file), else the executable
//! section (or segment) that does, as `objdump -d` reads a file without symbols — up to the offset,
//! and an offset that falls inside an instruction is refused with the nearest boundaries.
//!
//! x86 (64 and 32-bit) is decoded with iced-x86; RISC-V instruction lengths come from their low
//! bits (2 bytes with the C extension, else 4); AArch64 instructions are 4 bytes, 4-aligned. Code
//! of other machines is not checked: only a function's first instruction is accepted there.

use std::fmt;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SectionKind};

/// The farthest a walk goes from its start: code a file has without a symbol for this long is
/// not decoded (a container's file could make cperf decode a gigabyte).
const MAX_WALK: u64 = 64 << 20;

/// How a machine's instructions are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// x86 of this bitness (64 or 32): lengths vary from 1 to 15 bytes.
    X86(u32),
    /// AArch64: every instruction is 4 bytes, 4-aligned.
    Fixed4,
    /// RISC-V: 2 bytes (compressed) or 4, by the low bits of the first byte.
    Riscv,
}

/// What the walk from a known start found at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// An instruction starts there.
    Boundary,
    /// Inside the instruction from `before` to `after`.
    Inside { before: u64, after: u64 },
    /// Bytes that are not an instruction at `at`, before or at the target: no boundary known.
    Undecodable { at: u64 },
}

/// Why a probe offset is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Inside an instruction: the two boundaries around it.
    Inside {
        /// The offset, as the user gave it.
        at: String,
        /// The instruction's first byte, and the next instruction's.
        before: String,
        after: String,
    },
    /// The code before the offset does not decode.
    Undecodable {
        /// The offset, as the user gave it.
        at: String,
        /// Where decoding failed.
        failed: String,
    },
    /// The file is not an ELF file whose code can be found.
    NotElf {
        /// The offset, as the user gave it.
        at: String,
    },
    /// No code is there.
    NotCode {
        /// The offset, as the user gave it.
        at: String,
    },
    /// Past the end of the function the offset is given in.
    PastEnd {
        /// The offset, as the user gave it.
        at: String,
        /// The function's size.
        size: u64,
    },
    /// A machine whose instructions cperf does not decode.
    UnknownMachine {
        /// The offset, as the user gave it.
        at: String,
        /// The machine.
        machine: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Inside { at, before, after } => write!(
                f,
                "{at} is inside an instruction, and a probe there would corrupt it and crash the program: the nearest instruction boundaries are {before} and {after}"
            ),
            Refusal::Undecodable { at, failed } => write!(
                f,
                "{at} cannot be checked to be an instruction boundary (the code does not decode at {failed}), and a probe inside an instruction would crash the program: probe a function's first instruction (the function alone)"
            ),
            Refusal::NotElf { at } => write!(
                f,
                "{at}: the file is not an ELF file cperf can read, so the offset cannot be checked to be an instruction boundary, and a probe inside an instruction would crash the program"
            ),
            Refusal::NotCode { at } => write!(
                f,
                "{at} is not in the file's code (no executable section or segment holds it): give a function (func or func+0x10) or the file offset of an instruction"
            ),
            Refusal::PastEnd { at, size } => {
                write!(f, "{at} is past the end of the function ({size:#x} bytes long)")
            }
            Refusal::UnknownMachine { at, machine } => write!(
                f,
                "{at}: cperf cannot check instruction boundaries in {machine} code, and a probe inside an instruction would crash the program: probe a function's first instruction (the function alone)"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// A function symbol: where it starts, how long it is (0: not said), its name.
#[derive(Debug, Clone)]
struct Symbol {
    address: u64,
    size: u64,
    name: String,
}

/// Checks that file offset `offset` of the ELF file `data` is an instruction's first byte;
/// `debug` is its separate debug file (whose `.symtab` names local functions a stripped file no
/// longer does). `named` is the function (as the user named it, and its address) when the
/// offset was given as `function+N`: the walk starts there, and boundaries are written relative
/// to it. The file may be anyone's (a container's): nothing in it is trusted to be consistent.
pub fn check(
    data: &[u8],
    debug: Option<&[u8]>,
    offset: u64,
    named: Option<(&str, u64)>,
) -> Result<(), Refusal> {
    let given = |vaddr: Option<u64>, symbol: Option<&Symbol>| label(offset, vaddr, symbol, named.is_some());
    let Ok(file) = object::File::parse(data) else { return Err(Refusal::NotElf { at: given(None, None) }) };
    // The loadable segment holding the offset (within the file), and the virtual address there.
    let Some((segment_start, segment_end, vaddr)) = file.segments().find_map(|seg| {
        let (file_start, file_size) = seg.file_range();
        let into = offset.checked_sub(file_start).filter(|&into| into < file_size)?;
        (offset < data.len() as u64).then_some(())?;
        Some((seg.address(), seg.address().checked_add(file_size)?, seg.address().checked_add(into)?))
    }) else {
        return Err(Refusal::NotCode { at: given(None, None) });
    };
    // The executable section holding it; else, for a file without section headers, the
    // executable segment.
    let region = file
        .sections()
        .filter(|s| s.kind() == SectionKind::Text && s.size() > 0)
        .map(|s| (s.address(), s.address().saturating_add(s.size())))
        .find(|&(start, end)| start <= vaddr && vaddr < end)
        .map(|(start, end)| (start.max(segment_start), end.min(segment_end)))
        .or_else(|| executable_segment(&file, vaddr).then_some((segment_start, segment_end)));
    let Some((region_start, region_end)) = region else {
        return Err(Refusal::NotCode { at: given(Some(vaddr), None) });
    };
    let symbols = function_symbols(&file, debug);
    // The function named, else the nearest one at or before the offset in that region.
    let symbol = match named {
        Some((name, address)) => {
            let size = symbols.iter().filter(|s| s.address == address).map(|s| s.size).max().unwrap_or(0);
            Some(Symbol { address, size, name: name.to_owned() })
        }
        None => symbols
            .iter()
            .filter(|s| s.address <= vaddr && s.address >= region_start)
            .max_by_key(|s| (s.address, s.size > 0))
            .cloned(),
    };
    let symbol = symbol.as_ref();
    let at = given(Some(vaddr), symbol);
    if let Some(s) =
        symbol.filter(|s| s.size > 0 && vaddr >= s.address.saturating_add(s.size) && named.is_some())
    {
        return Err(Refusal::PastEnd { at, size: s.size });
    }
    let start = symbol.map_or(region_start, |s| s.address);
    if start < region_start || start > vaddr {
        return Err(Refusal::Undecodable {
            at,
            failed: "the function's start (outside the code holding the offset)".into(),
        });
    }
    if vaddr - start > MAX_WALK {
        return Err(Refusal::Undecodable {
            at,
            failed: format!("more than {MAX_WALK} bytes from a known start"),
        });
    }
    let isa = match file.architecture() {
        object::Architecture::X86_64 | object::Architecture::X86_64_X32 => Isa::X86(64),
        object::Architecture::I386 => Isa::X86(32),
        object::Architecture::Aarch64 => Isa::Fixed4,
        object::Architecture::Riscv64 | object::Architecture::Riscv32 => Isa::Riscv,
        other => {
            return match symbol {
                Some(s) if s.address == vaddr => Ok(()),
                _ => Err(Refusal::UnknownMachine { at, machine: format!("{other:?}") }),
            }
        }
    };
    // The code from the start to the end of the longest instruction at the target.
    let code_start = offset - (vaddr - start);
    let code_end = (offset + 16).min(offset + (region_end - vaddr)).min(data.len() as u64);
    let Some(code) = data.get(code_start as usize..code_end as usize) else {
        return Err(Refusal::NotCode { at });
    };
    let place = |address: u64| label(code_start + (address - start), Some(address), symbol, named.is_some());
    match walk(isa, code, start, vaddr) {
        Walk::Boundary => Ok(()),
        Walk::Inside { before, after } => {
            Err(Refusal::Inside { at, before: place(before), after: place(after) })
        }
        Walk::Undecodable { at: failed } => Err(Refusal::Undecodable { at, failed: place(failed) }),
    }
}

/// How an offset is written in a message: `func+0x5` for a probe given by name, else the file
/// offset, with the function it is in when one is known (`0x1105 (func+0x5)`).
fn label(offset: u64, vaddr: Option<u64>, symbol: Option<&Symbol>, named: bool) -> String {
    let relative = match (vaddr, symbol) {
        // A hostile file's overlapping segments can put `vaddr` below the symbol: no relative name then.
        (Some(vaddr), Some(s)) if !s.name.is_empty() => {
            vaddr.checked_sub(s.address).map(|rel| format!("{}+{rel:#x}", s.name))
        }
        _ => None,
    };
    match (named, relative) {
        (true, Some(relative)) => relative,
        (_, Some(relative)) => format!("file offset {offset:#x} ({relative})"),
        (_, None) => format!("file offset {offset:#x}"),
    }
}

/// True when an executable loadable segment holds `vaddr`.
fn executable_segment(file: &object::File<'_>, vaddr: u64) -> bool {
    file.segments().any(|seg| {
        let object::SegmentFlags::Elf { p_flags } = seg.flags() else { return false };
        p_flags & object::elf::PF_X != 0 && seg.address() <= vaddr && vaddr - seg.address() < seg.size()
    })
}

/// The function symbols (`STT_FUNC`, `STT_GNU_IFUNC`) of the file's `.symtab` and `.dynsym`,
/// and of its debug file's `.symtab`, demangled.
fn function_symbols(file: &object::File<'_>, debug: Option<&[u8]>) -> Vec<Symbol> {
    fn of(file: &object::File<'_>, out: &mut Vec<Symbol>) {
        for s in file.symbols().chain(file.dynamic_symbols()) {
            let object::SymbolFlags::Elf { st_info, .. } = s.flags() else { continue };
            let kind = st_info & 0xf;
            if !(kind == object::elf::STT_FUNC || kind == object::elf::STT_GNU_IFUNC)
                || s.section_index().is_none()
                || s.address() == 0
            {
                continue;
            }
            let name = s.name().map(|n| symbolizer::demangle(n).into_owned()).unwrap_or_default();
            out.push(Symbol { address: s.address(), size: s.size(), name });
        }
    }
    let mut all = Vec::new();
    of(file, &mut all);
    if let Some(debug) = debug.and_then(|d| object::File::parse(d).ok()) {
        of(&debug, &mut all);
    }
    all
}

/// Walks the instructions of `code` (its first byte at address `start`) until `target`.
fn walk(isa: Isa, code: &[u8], start: u64, target: u64) -> Walk {
    match isa {
        Isa::X86(bitness) => walk_x86(bitness, code, start, target),
        Isa::Fixed4 => {
            if start % 4 != 0 {
                return Walk::Undecodable { at: start };
            }
            let before = target - target % 4;
            if before == target {
                Walk::Boundary
            } else {
                Walk::Inside { before, after: before + 4 }
            }
        }
        Isa::Riscv => walk_riscv(code, start, target),
    }
}

fn walk_x86(bitness: u32, code: &[u8], start: u64, target: u64) -> Walk {
    use iced_x86::{Decoder, DecoderOptions, Instruction};
    let mut decoder = Decoder::with_ip(bitness, code, start, DecoderOptions::NONE);
    let mut instruction = Instruction::default();
    loop {
        let at = decoder.ip();
        if !decoder.can_decode() {
            // The code ended (the section's end, or the file's) before the target.
            return Walk::Undecodable { at };
        }
        decoder.decode_out(&mut instruction);
        if instruction.is_invalid() {
            return Walk::Undecodable { at };
        }
        let after = decoder.ip();
        if at == target {
            return Walk::Boundary;
        }
        if after > target {
            return Walk::Inside { before: at, after };
        }
    }
}

fn walk_riscv(code: &[u8], start: u64, target: u64) -> Walk {
    let mut at = start;
    loop {
        let Some(&low) = code.get((at - start) as usize) else { return Walk::Undecodable { at } };
        // 16-bit unless the low two bits are 11; 32-bit unless bits 2-4 are also all set (the
        // longer encodings, which no ratified extension uses).
        let length = if low & 0b11 != 0b11 {
            2
        } else if low & 0b1_1100 != 0b1_1100 {
            4
        } else {
            return Walk::Undecodable { at };
        };
        if at == target {
            return Walk::Boundary;
        }
        if at + length > target {
            return Walk::Inside { before: at, after: at + length };
        }
        at += length;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `movabs $0x1122334455667788, %rax` (10 bytes), `lea 0x1(%rdi), %eax` (3), `ret` (1).
    const X86: [u8; 14] =
        [0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x8d, 0x47, 0x01, 0xc3];

    /// A hostile file's overlapping segments can map an offset below the symbol said to hold it: the
    /// label falls back to the plain offset instead of underflowing.
    #[test]
    fn a_label_below_its_symbol_is_the_plain_offset() {
        let s = Symbol { address: 0x2000, size: 0x10, name: "f".into() };
        assert_eq!(label(0x1234, Some(0x1000), Some(&s), false), "file offset 0x1234");
        assert_eq!(label(0x1234, Some(0x2004), Some(&s), true), "f+0x4");
    }

    #[test]
    fn x86_boundaries_are_found_from_the_start() {
        let start = 0x1000;
        for boundary in [0, 10, 13] {
            assert_eq!(walk(Isa::X86(64), &X86, start, start + boundary), Walk::Boundary, "+{boundary}");
        }
        for inside in 1..10 {
            assert_eq!(
                walk(Isa::X86(64), &X86, start, start + inside),
                Walk::Inside { before: start, after: start + 10 },
                "+{inside}"
            );
        }
        assert_eq!(
            walk(Isa::X86(64), &X86, start, start + 12),
            Walk::Inside { before: start + 10, after: start + 13 }
        );
        // In 32-bit code, 0x48 is `dec %eax` and b8 takes a 4-byte immediate: other boundaries.
        assert_eq!(walk(Isa::X86(32), &X86, start, start + 1), Walk::Boundary);
        assert_eq!(walk(Isa::X86(32), &X86, start, start + 6), Walk::Boundary);
    }

    #[test]
    fn x86_code_that_does_not_decode_or_ends_is_not_a_boundary() {
        // 0x06 (push %es) is invalid in 64-bit mode.
        assert_eq!(walk(Isa::X86(64), &[0x90, 0x06, 0x90], 0, 2), Walk::Undecodable { at: 1 });
        // The code ends inside the movabs.
        assert_eq!(walk(Isa::X86(64), &X86[..5], 0, 10), Walk::Undecodable { at: 0 });
    }

    #[test]
    fn riscv_lengths_come_from_the_low_bits() {
        // c.addi (2 bytes: 0x0505), addi (4 bytes: 0x00150513), c.ret (2 bytes: 0x8082).
        let code = [0x05, 0x05, 0x13, 0x05, 0x15, 0x00, 0x82, 0x80];
        for boundary in [0, 2, 6] {
            assert_eq!(walk(Isa::Riscv, &code, 0x100, 0x100 + boundary), Walk::Boundary, "+{boundary}");
        }
        assert_eq!(walk(Isa::Riscv, &code, 0x100, 0x104), Walk::Inside { before: 0x102, after: 0x106 });
        assert_eq!(walk(Isa::Riscv, &code, 0x100, 0x101), Walk::Inside { before: 0x100, after: 0x102 });
    }

    /// Code no function symbol covers (this binary's `.plt`) is decoded from its section's start,
    /// as `objdump -d` reads it, and the boundaries are file offsets.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn code_without_a_symbol_is_decoded_from_its_section() {
        let data = std::fs::read("/proc/self/exe").unwrap();
        let file = object::File::parse(&*data).unwrap();
        let Some((offset, _)) = file.section_by_name(".plt").and_then(|s| s.file_range()) else {
            return; // statically linked: no .plt
        };
        let code = &data[offset as usize..offset as usize + 16];
        let first = iced_x86::Decoder::new(64, code, iced_x86::DecoderOptions::NONE).decode().len() as u64;
        assert_eq!(check(&data, None, offset, None), Ok(()));
        assert_eq!(check(&data, None, offset + first, None), Ok(()));
        if first > 1 {
            assert_eq!(
                check(&data, None, offset + 1, None),
                Err(Refusal::Inside {
                    at: format!("file offset {:#x}", offset + 1),
                    before: format!("file offset {offset:#x}"),
                    after: format!("file offset {:#x}", offset + first),
                })
            );
        }
    }

    /// A container's file is anyone's: truncated or corrupted, it is refused or checked, never
    /// a panic.
    #[test]
    fn hostile_files_are_refused_not_a_panic() {
        let data = std::fs::read("/proc/self/exe").unwrap();
        let main = symbolizer::probe_location(&data, "main").unwrap();
        let named = Some(("main", main.address.unwrap()));
        assert!(matches!(check(b"not elf", None, 0x10, None), Err(Refusal::NotElf { .. })));
        for len in [64, 4096, main.offset as usize + 3, data.len() / 2] {
            let cut = &data[..len.min(data.len())];
            for offset in [0, 1, main.offset, main.offset + 1, u64::MAX - 1] {
                let _ = check(cut, None, offset, named);
                let _ = check(cut, Some(cut), offset, None);
            }
        }
        let mut flipped = data[..data.len().min(1 << 20)].to_vec();
        for i in (0..flipped.len().min(4096)).step_by(7) {
            flipped[i] ^= 0xff;
            let _ = check(&flipped, None, main.offset + 1, named);
            flipped[i] ^= 0xff;
        }
    }

    #[test]
    fn aarch64_instructions_are_four_aligned_bytes() {
        assert_eq!(walk(Isa::Fixed4, &[], 0x400, 0x408), Walk::Boundary);
        assert_eq!(walk(Isa::Fixed4, &[], 0x400, 0x40a), Walk::Inside { before: 0x408, after: 0x40c });
    }

    /// This test binary's own code: `main`'s first instruction is a boundary, a byte inside it
    /// is not (every x86 function starts with an instruction longer than a byte or a one-byte
    /// `push`; either way the walk agrees with the decoder); the ELF header is not code.
    #[test]
    fn offsets_in_this_test_binary() {
        let data = std::fs::read("/proc/self/exe").unwrap();
        let main = symbolizer::probe_location(&data, "main").unwrap();
        assert_eq!(check(&data, None, main.offset, Some(("main", main.address.unwrap()))), Ok(()));
        assert!(matches!(check(&data, None, 1, None), Err(Refusal::NotCode { .. })));
        if cfg!(target_arch = "x86_64") {
            let code = &data[main.offset as usize..main.offset as usize + 16];
            let mut decoder = iced_x86::Decoder::new(64, code, iced_x86::DecoderOptions::NONE);
            let first = decoder.decode().len() as u64;
            assert_eq!(
                check(&data, None, main.offset + first, Some(("main", main.address.unwrap()))),
                Ok(())
            );
            if first > 1 {
                let err =
                    check(&data, None, main.offset + 1, Some(("main", main.address.unwrap()))).unwrap_err();
                assert_eq!(
                    err,
                    Refusal::Inside {
                        at: "main+0x1".into(),
                        before: "main+0x0".into(),
                        after: format!("main+{first:#x}")
                    }
                );
                let raw = check(&data, None, main.offset + 1, None).unwrap_err().to_string();
                assert!(raw.contains(&format!("file offset {:#x} (main+0x0)", main.offset)), "{raw}");
            }
        }
    }
}
