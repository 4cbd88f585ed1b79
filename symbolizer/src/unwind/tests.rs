//! Unwinder tests on real programs: a C program built with `-O2 -fomit-frame-pointer` (static and
//! dynamic) dumps its registers, stack copy and maps inside `c` (main → a → b → c), inside a
//! thread, and inside a signal handler interrupting `spin`; the walk must name exactly those
//! frames and end at the outermost one. Then hostile unwind sections and synthetic stacks.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use object::{Object, ObjectSection, ObjectSymbol};

use super::*;
use crate::budget::{Budget, Limits};

/// A dumped sample: registers, stack copy, and the process's executable mappings.
struct Dump {
    ip: u64,
    sp: u64,
    bp: u64,
    stack: Vec<u8>,
    /// (start, end, pgoff, path)
    maps: Vec<(u64, u64, u64, String)>,
    binary: PathBuf,
}

impl Dump {
    fn user_stack(&self) -> UserStack<'_> {
        UserStack { ip: self.ip, sp: self.sp, bp: self.bp, bytes: &self.stack, requested: 32768 }
    }

    /// The address space of the dumped process, from the files on disk.
    fn space(&self) -> AddressSpace {
        self.space_with_debug(None)
    }

    /// The same, adding the `.debug_frame` of `debug` (a split debug file) to the file at `path`.
    fn space_with_debug(&self, debug: Option<(&Path, &[u8])>) -> AddressSpace {
        let budget =
            Budget::new("unwind test", Limits { per_file: 1 << 30, per_process: 1 << 31, total: 1 << 32 });
        let mut files: HashMap<String, Arc<CfiFile>> = HashMap::new();
        let mut space = AddressSpace::new();
        for (start, end, pgoff, path) in &self.maps {
            let file = if path.starts_with('/') {
                let cfi = files.entry(path.clone()).or_insert_with(|| {
                    let file = File::open(path).unwrap();
                    let len = file.metadata().unwrap().len();
                    let mut account = budget.account(1, path);
                    let mut cfi = CfiFile::read(&file, len, &mut account).unwrap();
                    if let Some((_, debug)) = debug.filter(|(p, _)| *p == Path::new(path)) {
                        assert!(!cfi.has_cfi());
                        cfi.add_debug_frame(debug).unwrap();
                    }
                    Arc::new(cfi)
                });
                Some(cfi.clone())
            } else {
                None
            };
            space.map(*start, *end, *pgoff, file);
        }
        space
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cperf-unwind-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn build(dir: &Path, source: &str, flags: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/unwind/testdata").join(source);
    let bin = dir.join("prog");
    let status = Command::new("gcc")
        .args(["-O2", "-fomit-frame-pointer", "-no-pie", "-pthread"])
        .args(flags)
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("gcc is needed by the unwinder's tests");
    assert!(status.success(), "gcc failed on {source}");
    bin
}

/// Builds testdata/chain.c with `flags`, runs it in `mode` and reads its dump.
fn dump(name: &str, mode: &str, flags: &[&str]) -> Dump {
    let dir = scratch(name);
    let binary = build(&dir, "chain.c", flags);
    let status = Command::new(&binary).arg(mode).arg(&dir).status().unwrap();
    assert!(status.success(), "{mode} run failed");
    let raw = std::fs::read(dir.join("stack")).unwrap();
    let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap());
    let (ip, sp, bp, len) = (word(0), word(1), word(2), word(3) as usize);
    let stack = raw[32..32 + len].to_vec();
    let maps = std::fs::read_to_string(dir.join("maps"))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !fields.get(1)?.contains('x') {
                return None;
            }
            let (start, end) = fields[0].split_once('-')?;
            let hex = |s: &str| u64::from_str_radix(s, 16).ok();
            let path = fields.get(5).map_or(String::new(), |p| p.to_string());
            Some((hex(start)?, hex(end)?, hex(fields[2])?, path))
        })
        .collect();
    Dump { ip, sp, bp, stack, maps, binary }
}

/// Names of the binary's functions holding each frame's address (`?` elsewhere).
fn names(binary: &Path, frames: &[Frame]) -> Vec<String> {
    let data = std::fs::read(binary).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let functions: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text)
        .map(|s| (s.address(), s.size(), s.name().unwrap_or("").to_string()))
        .collect();
    frames
        .iter()
        .map(|f| {
            let lookup = f.address - u64::from(f.is_return_address);
            // Assembly symbols without a size (`__restore_rt`) are found by their address.
            functions
                .iter()
                .find(|(start, size, _)| *start <= lookup && lookup < start + size)
                .or_else(|| functions.iter().find(|(start, size, _)| *size == 0 && *start == f.address))
                .map_or("?".to_string(), |(_, _, name)| name.clone())
        })
        .collect()
}

fn walk(dump: &Dump, stack: &UserStack<'_>) -> (Vec<Frame>, End) {
    let space = dump.space();
    let mut frames = Vec::new();
    let end = Unwinder::new().unwind(&space, stack, &mut frames);
    (frames, end)
}

#[test]
fn unwind_static_chain_ends_at_start() {
    let dump = dump("static", "main", &["-static"]);
    let (frames, end) = walk(&dump, &dump.user_stack());
    let names = names(&dump.binary, &frames);
    assert_eq!(end, End::Complete, "{names:?}");
    assert_eq!(names[..4], ["c", "b", "a", "main"], "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("_start"), "{names:?}");
    assert!(!frames[0].is_return_address && frames[1..].iter().all(|f| f.is_return_address));
}

#[test]
fn unwind_dynamic_chain_through_libc_ends_at_start() {
    let dump = dump("dynamic", "main", &[]);
    let (frames, end) = walk(&dump, &dump.user_stack());
    let names = names(&dump.binary, &frames);
    assert_eq!(end, End::Complete, "{names:?}");
    assert_eq!(names[..4], ["c", "b", "a", "main"], "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("_start"), "{names:?}");
    // Between main and _start: libc's own frames, walked with libc's CFI.
    let space = dump.space();
    let in_libc = |f: &Frame| {
        space.mapping(f.address - 1).and_then(|m| m.file.as_ref()).is_some()
            && dump.maps.iter().any(|(s, e, _, p)| *s <= f.address && f.address < *e && p.contains("libc.so"))
    };
    assert!(frames[4..frames.len() - 1].iter().any(in_libc), "{names:?}");
}

#[test]
fn unwind_static_thread_ends_at_clone() {
    let dump = dump("thread", "thread", &["-static"]);
    let (frames, end) = walk(&dump, &dump.user_stack());
    let names = names(&dump.binary, &frames);
    assert_eq!(end, End::Complete, "{names:?}");
    assert_eq!(names[..4], ["c", "b", "a", "thread_fn"], "{names:?}");
    assert!(names.last().is_some_and(|n| n.contains("clone")), "{names:?}");
}

#[test]
fn unwind_dynamic_thread_ends_in_libc() {
    let dump = dump("dynthread", "thread", &[]);
    let (frames, end) = walk(&dump, &dump.user_stack());
    let names = names(&dump.binary, &frames);
    assert_eq!(end, End::Complete, "{names:?}");
    assert_eq!(names[..4], ["c", "b", "a", "thread_fn"], "{names:?}");
}

fn check_signal(dump: &Dump) -> Vec<String> {
    let (frames, end) = walk(dump, &dump.user_stack());
    let names = names(&dump.binary, &frames);
    assert_eq!(end, End::Complete, "{names:?}");
    assert_eq!(names[0], "handler", "{names:?}");
    assert_eq!(names[2..4], ["spin", "main"], "{names:?}");
    // The trampoline is entered by a return no call precedes, the interrupted ip is exact: both
    // are named by their own address.
    assert!(!frames[1].is_return_address && !frames[2].is_return_address, "{frames:x?}");
    assert_eq!(names.last().map(String::as_str), Some("_start"), "{names:?}");
    names
}

#[test]
fn unwind_static_signal_handler_frame() {
    let dump = dump("signal", "signal", &["-static"]);
    let names = check_signal(&dump);
    assert_eq!(names[1], "__restore_rt", "{names:?}");
}

#[test]
fn unwind_dynamic_signal_handler_frame() {
    let dump = dump("dynsignal", "signal", &[]);
    check_signal(&dump);
}

#[test]
fn unwind_cut_by_copy_size() {
    let dump = dump("small", "main", &["-static"]);
    let stack = UserStack { bytes: &dump.stack[..256], requested: 256, ..dump.user_stack() };
    let (_, end) = walk(&dump, &stack);
    assert_eq!(end, End::Cut(Cut::CopySize));
    // The kernel copied less than asked: the stack's top, not the copy's size.
    let stack = UserStack { bytes: &dump.stack[..256], requested: 4096, ..dump.user_stack() };
    assert!(matches!(walk(&dump, &stack).1, End::Cut(Cut::Unreadable { .. })));
}

/// The address of `_start`'s `hlt` after its call: a return address whose FDE says "outermost".
fn start_return_address(binary: &Path) -> u64 {
    let data = std::fs::read(binary).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let start = file.symbols().find(|s| s.name() == Ok("_start")).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let code = &text.data().unwrap()[(start.address() - text.address()) as usize..][..start.size() as usize];
    start.address() + code.iter().position(|&b| b == 0xf4).unwrap() as u64
}

/// Maps the segment of a static non-PIE binary holding `address` at its link-time address.
fn map_static(space: &mut AddressSpace, cfi: Arc<CfiFile>, address: u64) {
    let seg =
        cfi.segments.iter().find(|s| s.vaddr <= address && address < s.vaddr + s.filesz).copied().unwrap();
    space.map(seg.vaddr, seg.vaddr + seg.filesz, seg.offset, Some(cfi));
}

#[test]
fn unwind_jit_frames_by_frame_pointer_then_cfi() {
    let dir = scratch("jit");
    let binary = build(&dir, "chain.c", &["-static"]);
    let ra_start = start_return_address(&binary);
    let data = std::fs::read(&binary).unwrap();
    let cfi = Arc::new(CfiFile::parse(&data).unwrap());
    let mut space = AddressSpace::new();
    // Static, non-PIE: the text segment at its link-time address.
    let seg =
        cfi.segments.iter().find(|s| s.vaddr <= ra_start && ra_start < s.vaddr + s.filesz).copied().unwrap();
    space.map(seg.vaddr, seg.vaddr + seg.filesz, seg.offset, Some(cfi));
    space.map(0x7000_0000, 0x7001_0000, 0, None); // JIT code: no file
    let sp = 0x7ff0_0000u64;
    let mut stack = vec![0u8; 256];
    let mut put =
        |at: u64, value: u64| stack[(at - sp) as usize..][..8].copy_from_slice(&value.to_le_bytes());
    // JIT frame 1 (bp = sp + 32) returns into JIT frame 2 (bp = sp + 96), which returns into _start.
    put(sp + 32, sp + 96);
    put(sp + 40, 0x7000_2000);
    put(sp + 96, 0x1234);
    put(sp + 104, ra_start);
    let user = UserStack { ip: 0x7000_1000, sp, bp: sp + 32, bytes: &stack, requested: 256 };
    let mut frames = Vec::new();
    let end = Unwinder::new().unwind(&space, &user, &mut frames);
    let addresses: Vec<u64> = frames.iter().map(|f| f.address).collect();
    assert_eq!(addresses, [0x7000_1000, 0x7000_2000, ra_start]);
    assert_eq!(end, End::Complete);

    // Code in no mapping at all, frame pointer chain ending there: no CFI, not complete.
    let user = UserStack { ip: 0x5000_0000, sp, bp: 0, bytes: &stack, requested: 256 };
    let end = Unwinder::new().unwind(&space, &user, &mut frames);
    assert_eq!(end, End::Cut(Cut::NoCfi { address: 0x5000_0000 }));
    // The same in a mapping without CFI: frame pointers are the authority there.
    let user = UserStack { ip: 0x7000_1000, sp, bp: 0, bytes: &stack, requested: 256 };
    assert_eq!(Unwinder::new().unwind(&space, &user, &mut frames), End::Complete);
}

#[test]
fn unwind_branching_cfa_expression_is_refused_not_evaluated() {
    let dir = scratch("loop");
    let binary = build(&dir, "loop_cfa.s", &["-static"]);
    let data = std::fs::read(&binary).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let function = file.symbols().find(|s| s.name() == Ok("loop_cfa")).unwrap().address();
    let cfi = CfiFile::parse(&data).unwrap();
    // The whole .eh_frame is refused, so frames in it are walked by frame pointer.
    assert!(!cfi.has_cfi());
    let mut space = AddressSpace::new();
    map_static(&mut space, Arc::new(cfi), function);
    let stack = [0u8; 64];
    let user = UserStack { ip: function, sp: 0x7ff0_0000, bp: 0x7ff0_0010, bytes: &stack, requested: 64 };
    let mut frames = Vec::new();
    // Returns (walked by frame pointer: a zero return address ends it), rather than spinning.
    Unwinder::new().unwind(&space, &user, &mut frames);
    assert_eq!(frames.len(), 1);
}

/// xorshift64*: deterministic pseudo-random flips.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Flips random bits of the binary's `.eh_frame` and `.eh_frame_hdr`, `cases` times, and walks
/// the real stack with each: never a panic or a hang.
fn corrupt_and_walk(dump: &Dump, cases: u32, seed: u64) {
    let data = std::fs::read(&dump.binary).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let ranges: Vec<(usize, usize)> = [".eh_frame", ".eh_frame_hdr"]
        .iter()
        .filter_map(|name| file.section_by_name(name)?.file_range())
        .map(|(offset, size)| (offset as usize, size as usize))
        .collect();
    assert!(!ranges.is_empty());
    let prog = dump.binary.to_str().unwrap();
    let mut space = dump.space();
    let prog_maps: Vec<_> = dump.maps.iter().filter(|m| m.3 == prog).cloned().collect();
    assert!(!prog_maps.is_empty());
    let mut state = seed;
    let mut frames = Vec::new();
    let mut unwinder = Unwinder::new();
    let mut complete = 0;
    for case in 0..cases {
        let mut bytes = data.clone();
        let flips = 1 + next(&mut state) % 8;
        for _ in 0..flips {
            let (offset, size) = ranges[(next(&mut state) % ranges.len() as u64) as usize];
            let at = offset + (next(&mut state) as usize) % size;
            bytes[at] ^= 1 << (next(&mut state) % 8);
        }
        let cfi = CfiFile::parse(&bytes).map(Arc::new).ok();
        for (start, end, pgoff, _) in &prog_maps {
            space.map(*start, *end, *pgoff, cfi.clone());
        }
        let end = unwinder.unwind(&space, &dump.user_stack(), &mut frames);
        assert!(frames.len() <= MAX_FRAMES, "case {case}: {end:?}");
        complete += u32::from(end == End::Complete);
    }
    // Most flips hit FDEs no frame of this stack uses.
    assert!(complete > 0);
}

#[test]
fn unwind_corrupt_unwind_sections_cut_never_panic() {
    corrupt_and_walk(&dump("corrupt", "main", &["-static"]), 1500, 0x9e37_79b9_7f4a_7c15);
    corrupt_and_walk(&dump("corruptdyn", "main", &[]), 1500, 0x2545_f491_4f6c_dd1d);
}

#[test]
fn unwind_malformed_files_are_errors() {
    assert!(CfiFile::parse(&[]).is_err());
    let real = std::fs::read("/proc/self/exe").unwrap();
    // 60000 section headers claimed, the table past the end of the file.
    let mut many = real[..4096].to_vec();
    many[60..62].copy_from_slice(&60000u16.to_le_bytes());
    assert!(matches!(CfiFile::parse(&many), Err(CfiError::Malformed(_))));
    // Sections pointing past the end of the file.
    let mut past = real.clone();
    let shoff = u64::from_le_bytes(past[40..48].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(past[60..62].try_into().unwrap()) as usize;
    for i in 0..shnum {
        let offset = shoff + i * 64 + 24;
        past[offset..offset + 8].copy_from_slice(&(real.len() as u64 - 16).to_le_bytes());
    }
    assert!(CfiFile::parse(&past).is_err());
    // Through a file: the budget refuses.
    let budget = Budget::new("tiny", Limits { per_file: 16, per_process: 16, total: 16 });
    let exe = File::open("/proc/self/exe").unwrap();
    let len = exe.metadata().unwrap().len();
    let mut account = budget.account(1, "/proc/self/exe");
    assert!(matches!(CfiFile::read(&exe, len, &mut account), Err(CfiError::OverBudget(_))));
}

/// Time per walk of the real static stack (run with `--release -- --nocapture` for the figure).
#[test]
fn unwind_time_per_stack() {
    let dump = dump("bench", "main", &[]);
    let space = dump.space();
    let mut unwinder = Unwinder::new();
    let mut frames = Vec::new();
    let runs = 20_000;
    let started = std::time::Instant::now();
    for _ in 0..runs {
        assert_eq!(unwinder.unwind(&space, &dump.user_stack(), &mut frames), End::Complete);
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    println!("unwind: {per:.2} µs per stack of {} frames (dynamic binary, warm rule cache)", frames.len());
    // Cold: every rule found in the CFI again (a new unwinder, an empty cache).
    let runs = 2_000;
    let started = std::time::Instant::now();
    for _ in 0..runs {
        assert_eq!(Unwinder::new().unwind(&space, &dump.user_stack(), &mut frames), End::Complete);
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    println!("unwind: {per:.2} µs per stack of {} frames (dynamic binary, cold rule cache)", frames.len());
    // Mapping a file into a process: with .eh_frame_hdr (the dynamic binary), and without it (a
    // static one: gcc links those without), where the unwinder indexes .eh_frame on each map.
    let static_binary = build(&scratch("benchstatic"), "chain.c", &["-static"]);
    for (what, path) in [("with .eh_frame_hdr", &dump.binary), ("static, no .eh_frame_hdr", &static_binary)] {
        let cfi = Arc::new(CfiFile::parse(&std::fs::read(path).unwrap()).unwrap());
        let seg = cfi.segments.iter().find(|s| s.vaddr != 0 || s.offset != 0).copied().unwrap();
        let started = std::time::Instant::now();
        for _ in 0..200 {
            AddressSpace::new().map(0x40_0000, 0x40_0000 + seg.filesz, seg.offset, Some(cfi.clone()));
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / 200.0;
        println!("unwind: {per:.1} µs per AddressSpace::map ({what}, {} bytes held)", cfi.bytes_held());
    }
}

#[test]
fn unwind_cfa_near_zero_is_cut() {
    let dir = scratch("lowcfa");
    let binary = build(&dir, "low_cfa.s", &["-static"]);
    let data = std::fs::read(&binary).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let function = file.symbols().find(|s| s.name() == Ok("low_cfa")).unwrap().address();
    let cfi = Arc::new(CfiFile::parse(&data).unwrap());
    assert!(cfi.has_cfi());
    let mut space = AddressSpace::new();
    map_static(&mut space, cfi, function);
    let stack = [0u8; 64];
    let user = UserStack { ip: function + 1, sp: 0x7ff0_0000, bp: 0, bytes: &stack, requested: 64 };
    let mut frames = Vec::new();
    let mut unwinder = Unwinder::new();
    let end = unwinder.unwind(&space, &user, &mut frames);
    assert!(matches!(end, End::Cut(Cut::BadStep { .. })), "{end:?}");
    // The unwinder is still usable afterwards.
    assert!(matches!(unwinder.unwind(&space, &user, &mut frames), End::Cut(_)));
}

#[test]
fn unwind_with_debug_frame_of_split_debug_file() {
    // The program's CFI only in .debug_frame, moved to a split debug file; .eh_frame removed.
    let dump = dump("debugframe", "main", &["-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"]);
    let debug = dump.binary.with_extension("debug");
    let objcopy = |args: &[&str]| assert!(Command::new("objcopy").args(args).status().unwrap().success());
    let (bin, dbg) = (dump.binary.to_str().unwrap(), debug.to_str().unwrap());
    objcopy(&["--only-keep-debug", bin, dbg]);
    objcopy(&["--remove-section=.eh_frame", "--remove-section=.eh_frame_hdr", "--strip-debug", bin]);
    let debug_bytes = std::fs::read(&debug).unwrap();
    let space = dump.space_with_debug(Some((&dump.binary, &debug_bytes)));
    let mut frames = Vec::new();
    let end = Unwinder::new().unwind(&space, &dump.user_stack(), &mut frames);
    let names = names(&dump.binary, &frames);
    assert_eq!(names[..4], ["c", "b", "a", "main"], "{names:?} {end:?}");
}

#[test]
fn unwind_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<CfiFile>();
    send_sync::<AddressSpace>();
    send::<Unwinder>();
}

/// The directory of the `ld.lld` that rustup ships (`gcc -B` picks the linker up from it).
fn rust_lld_dir() -> PathBuf {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output().expect("rustc");
    let sysroot = String::from_utf8(sysroot.stdout).unwrap();
    Path::new(sysroot.trim()).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld")
}

/// lld does not page-align segments in the file: the executable `PT_LOAD` starts mid-page (offset
/// 0x1940, vaddr 0x2940), so the kernel maps it from the page before, inside the segment before
/// it, whose vaddr − offset differs. The base must come from the segment the mapping is of (picked
/// by `pgoff` alone, every frame was looked up 0x1000 off and Rust binaries, linked by lld by
/// default, had their stacks cut after one frame).
#[test]
fn unwind_pie_linked_by_lld_with_unaligned_segments() {
    let lld = rust_lld_dir();
    let dump = dump("lld", "main", &["-pie", "-fPIE", &format!("-B{}", lld.display()), "-fuse-ld=lld"]);
    let data = std::fs::read(&dump.binary).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let unaligned = file.segments().any(|s| {
        use object::ObjectSegment;
        let (offset, _) = s.file_range();
        s.address() != offset && offset % 4096 != 0
    });
    assert!(unaligned, "the test needs a segment whose vaddr - offset differs from the one before, mid-page");
    let (frames, end) = walk(&dump, &dump.user_stack());
    // PIE: name by the address minus the load bias (the mapping at file offset 0).
    let maps = std::fs::read_to_string(dump.binary.with_file_name("maps")).unwrap();
    let bias = maps
        .lines()
        .find(|l| {
            l.ends_with(&*dump.binary.to_string_lossy()) && l.split_whitespace().nth(2) == Some("00000000")
        })
        .and_then(|l| u64::from_str_radix(l.split('-').next()?, 16).ok())
        .expect("the binary mapped from offset 0");
    let relative: Vec<Frame> = frames
        .iter()
        .map(|f| Frame { address: f.address - bias, is_return_address: f.is_return_address })
        .collect();
    let names = names(&dump.binary, &relative[..4.min(relative.len())]);
    assert_eq!(end, End::Complete, "{names:?}");
    assert_eq!(names, ["c", "b", "a", "main"]);
}
