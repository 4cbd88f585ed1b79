//! Integration tests of `cperf record` against containers whose binaries are built to mislead or
//! exhaust it: a binary carrying another container's build-id with other function names, and
//! libraries and debug files whose DWARF claims gigabytes.
//!
//! Every hostile file is made by the test itself (compiled, relinked or patched) and run in a real
//! runc container; the recordings are read after the containers are gone.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{cperf, describe, profile, Bundle, Scratch};

/// The build-id of an ELF file, in hex.
fn build_id(path: &Path) -> String {
    let module = symbolizer::ElfModule::parse(std::fs::read(path).unwrap()).unwrap();
    module.build_id().expect("a build-id").iter().map(|b| format!("{b:02x}")).collect()
}

/// The `hot` fixture rebuilt with its three functions renamed `SPOOFED_by_attackr_*` and linked
/// with the build-id of the real one: same code at the same addresses, other names.
fn spoofing_hot(scratch: &Scratch) -> PathBuf {
    let victim = support::fixture("hot");
    let id = build_id(&victim);
    let out = scratch.path("hot-spoofed");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/src/hot.c");
    support::run_ok(
        Command::new("cc")
            .args(["-static", "-O2", "-g", "-fno-omit-frame-pointer", "-Wall", "-pthread"])
            .args([
                "-Dcperf_hot_heavy=SPOOFED_by_attackr_heavy",
                "-Dcperf_hot_light=SPOOFED_by_attackr_light",
            ])
            .arg("-Dcperf_hot_loop=SPOOFED_by_attackr_loop")
            .arg(format!("-Wl,--build-id=0x{id}"))
            .arg("-o")
            .arg(&out)
            .arg(&src),
    );
    assert_eq!(build_id(&out), id, "the attacker's binary carries the victim's build-id");
    out
}

/// Samples per leaf function of target `index`.
fn leaves(p: &profile::Profile, index: u32) -> std::collections::BTreeMap<String, u64> {
    p.by_target.get(&index).cloned().unwrap_or_default()
}

/// The share of a target's samples whose leaf name starts with `prefix`.
fn share(leaves: &std::collections::BTreeMap<String, u64>, prefix: &str) -> f64 {
    let total: u64 = leaves.values().sum();
    let matching: u64 = leaves.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, n)| n).sum();
    matching as f64 / total.max(1) as f64
}

/// Two containers run `/bin/hot`: the victim the real fixture, the attacker one with the victim's
/// build-id and other names. Each container's frames are named from its own file only. With
/// `started_after`, both exec `hot` once recording has begun (the kernel reports the build-id of
/// each mapping); else they run before it starts (their mappings are read from `/proc`).
fn spoofed_build_id_names_nothing_of_another_container(started_after: bool) {
    if !support::privileged() || !support::tool_available("cc", "building the spoofing binary") {
        return;
    }
    let scratch = Scratch::new("spoof");
    let attacker_binary = spoofing_hot(&scratch);
    let command: Vec<&str> = if started_after {
        vec!["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.02; done; exec hot 4"]
    } else {
        vec!["hot", "30"]
    };
    let victim = Bundle::new().with_fixture("hot").args(&command).run_detached("spoof-victim");
    let attacker_bundle = Bundle::new().args(&command);
    std::fs::copy(&attacker_binary, attacker_bundle.rootfs().join("bin/hot")).unwrap();
    let attacker = attacker_bundle.run_detached("spoof-attacker");

    let out = scratch.path("spoof.cperf");
    let timer = if started_after {
        format!(
            "touch '{}/tmp/go' '{}/tmp/go'; sleep 2",
            victim.rootfs().display(),
            attacker.rootfs().display()
        )
    } else {
        "sleep 2".to_string()
    };
    let result = cperf()
        .args(["record", "-G", victim.id(), "-G", attacker.id(), "-e", "cpu-clock", "-F", "499", "-g", "-o"])
        .arg(&out)
        .args(["--", "sh", "-c", &timer])
        .output()
        .unwrap();
    drop((victim, attacker));
    assert!(result.status.success(), "{}", describe(&result));

    let p = profile::read(&out);
    let (victim, attacker) = (leaves(&p, 0), leaves(&p, 1));
    let summary = String::from_utf8_lossy(&result.stderr);
    assert!(
        victim.values().sum::<u64>() >= 100 && attacker.values().sum::<u64>() >= 100,
        "too few samples: victim {victim:?}, attacker {attacker:?}\n{summary}"
    );
    assert!(
        share(&victim, "SPOOFED") == 0.0 && share(&victim, "cperf_hot_") >= 0.9,
        "the victim's frames are named from the attacker's file: {victim:?}\n{summary}"
    );
    assert!(
        share(&attacker, "cperf_hot_") == 0.0 && share(&attacker, "SPOOFED_by_attackr_") >= 0.9,
        "the attacker's frames are named from the victim's file: {attacker:?}\n{summary}"
    );
}

#[test]
fn a_spoofed_build_id_names_nothing_of_another_container_mapped_during_recording() {
    spoofed_build_id_names_nothing_of_another_container(true);
}

#[test]
fn a_spoofed_build_id_names_nothing_of_another_container_running_before_recording() {
    spoofed_build_id_names_nothing_of_another_container(false);
}

// ---------------------------------------------------------------------------------------------------------
// Amplification: DWARF that inflates to gigabytes, debug files of gigabytes
// ---------------------------------------------------------------------------------------------------------

/// A zlib stream of `total` zero bytes (a multiple of 1 MiB), about 1 KiB per MiB: the same
/// sync-flushed deflate block, which inflates to 1 MiB of zeros after any zeros, repeated.
fn zlib_zeros(total: u64) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut z = flate2::Compress::new(flate2::Compression::best(), true);
    let mut chunk = || {
        let mut out = Vec::with_capacity(64 << 10);
        let before = z.total_in();
        z.compress_vec(&zeros, &mut out, flate2::FlushCompress::Sync).unwrap();
        assert_eq!(z.total_in() - before, CHUNK as u64);
        out
    };
    let (first, second, third) = (chunk(), chunk(), chunk());
    assert_eq!(second, third, "the repeated block is the same");
    let n = total / CHUNK as u64;
    let mut stream = first;
    for _ in 1..n {
        stream.extend_from_slice(&second);
    }
    // A final empty fixed-Huffman block, then the Adler-32 of n MiB of zeros (a = 1, b = length).
    stream.extend([0x03, 0x00]);
    let b = (n * CHUNK as u64 % 65521) as u32;
    stream.extend(((b << 16) | 1).to_be_bytes());
    stream
}

/// Section `name` of a 64-bit little-endian ELF file: where its header is.
fn section_header(elf: &[u8], name: &str) -> usize {
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let strtab = u64_at(shoff + shstrndx * shentsize + 24);
    (0..shnum)
        .map(|i| shoff + i * shentsize)
        .find(|&h| {
            let at = strtab + u32::from_le_bytes(elf[h..h + 4].try_into().unwrap()) as usize;
            elf[at..].split(|&b| b == 0).next() == Some(name.as_bytes())
        })
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// `binary` with its `.debug_str` replaced by a zlib-compressed section (`SHF_COMPRESSED`) that
/// inflates to `claim` bytes of zeros: a few MiB on disk, gigabytes once inflated.
fn with_debug_str_bomb(binary: &[u8], claim: u64) -> Vec<u8> {
    let mut elf = binary.to_vec();
    let header = section_header(&elf, ".debug_str");
    while elf.len() % 8 != 0 {
        elf.push(0);
    }
    let offset = elf.len() as u64;
    // Elf64_Chdr: ch_type ELFCOMPRESS_ZLIB, ch_reserved, ch_size, ch_addralign.
    elf.extend(1u32.to_le_bytes());
    elf.extend(0u32.to_le_bytes());
    elf.extend(claim.to_le_bytes());
    elf.extend(1u64.to_le_bytes());
    elf.extend(zlib_zeros(claim));
    let size = elf.len() as u64 - offset;
    let flags = u64::from_le_bytes(elf[header + 8..header + 16].try_into().unwrap());
    elf[header + 8..header + 16].copy_from_slice(&(flags | 0x800).to_le_bytes()); // SHF_COMPRESSED
    elf[header + 24..header + 32].copy_from_slice(&offset.to_le_bytes());
    elf[header + 32..header + 40].copy_from_slice(&size.to_le_bytes());
    elf
}

/// `cperf record args` run under `/usr/bin/time`: its output, wall time and peak RSS in KiB.
fn record_measured(scratch: &Scratch, args: &[&str]) -> (std::process::Output, std::time::Duration, u64) {
    let rss = scratch.path("rss");
    let start = std::time::Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(support::cperf_path())
        .arg("record")
        .args(args)
        .output()
        .unwrap();
    let wall = start.elapsed();
    let kib = std::fs::read_to_string(&rss).unwrap_or_default();
    let kib =
        kib.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no RSS: {kib}"));
    (out, wall, kib)
}

/// A backstop on the whole run of `cperf record --duration 2`, start-up included (about 2.5 s alone;
/// today's code took 21 s and 39.5 s on these files). Start-up grows with the load of the machine, so
/// the duration itself is checked on the recording's own clock, below.
const MAX_WALL_SECS: f64 = 10.0;

/// Asserts that `cperf record --duration 2` kept to its duration: on the recording's clock, at most a
/// second more from the start of sampling to the summary, and at most a second from the last sample to
/// the summary (naming what was left included); in all, at most [`MAX_WALL_SECS`].
fn assert_on_time(p: &profile::Profile, wall: std::time::Duration, summary: &str) {
    assert!(wall.as_secs_f64() < MAX_WALL_SECS, "--duration 2 took {wall:?}\n{summary}");
    let end = p.summary.as_ref().expect("a summary").end_time;
    let span = end.saturating_sub(p.start_time) as f64 / 1e9;
    assert!(span < 3.0, "{span:.3} s from the start of sampling to the summary for --duration 2\n{summary}");
    let after = end.saturating_sub(p.last_sample_time) as f64 / 1e9;
    eprintln!("{span:.3} s of recording, {after:.3} s from the last sample to the summary, {wall:?} in all");
    assert!(after < 1.0, "{after:.3} s from the last sample to the summary\n{summary}");
}

/// The most RSS a 2-second recording of one busy container may take, in KiB (it takes about
/// 30 MiB; a bomb inflated takes gigabytes).
const MAX_RSS_KIB: u64 = 400 << 10;

/// A container's `/bin/hot` whose `.debug_str` inflates to 3.5 GiB (the file is 4.5 MiB): the
/// recorder refuses the DWARF before inflating it, says so in the summary, keeps to `--duration`
/// and names the frames from `.symtab`.
#[test]
fn dwarf_claiming_gigabytes_is_refused_before_it_is_inflated() {
    if !support::privileged() || !Path::new("/usr/bin/time").exists() {
        assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "/usr/bin/time is needed");
        return;
    }
    let scratch = Scratch::new("bomb");
    let bomb = with_debug_str_bomb(&std::fs::read(support::fixture("hot")).unwrap(), 3584 << 20);
    assert!(bomb.len() < 8 << 20, "{} bytes", bomb.len());
    let bundle = Bundle::new().args(&["hot", "30"]);
    std::fs::write(bundle.rootfs().join("bin/hot"), &bomb).unwrap();
    std::fs::set_permissions(
        bundle.rootfs().join("bin/hot"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let container = bundle.run_detached("bomb");
    std::thread::sleep(std::time::Duration::from_millis(200));

    let out = scratch.path("bomb.cperf");
    let (result, wall, rss) = record_measured(
        &scratch,
        &[
            "-G",
            container.id(),
            "-e",
            "cpu-clock",
            "-F",
            "499",
            "-g",
            "-o",
            out.to_str().unwrap(),
            "--duration",
            "2",
        ],
    );
    drop(container);
    assert!(result.status.success(), "{}", describe(&result));
    let summary = String::from_utf8_lossy(&result.stderr);
    eprintln!("peak RSS {} MiB, wall time {wall:?}\n{summary}", rss >> 10);
    assert!(rss < MAX_RSS_KIB, "peak RSS {} MiB\n{summary}", rss >> 10);
    assert!(
        summary.lines().any(|l| l.contains("note:") && l.contains("/bin/hot") && l.contains("cut")),
        "no note on the refused DWARF:\n{summary}"
    );
    let p = profile::read(&out);
    assert_on_time(&p, wall, &summary);
    assert_eq!(p.module_status.get("/bin/hot").map(String::as_str), Some("symtab"), "{:?}", p.module_status);
    let named = p.share("cperf_hot_heavy") + p.share("cperf_hot_light");
    assert!(p.samples >= 100 && named >= 0.9, "frames named from .symtab: {:?}\n{summary}", p.leaves);
}

/// DWARF within the budget whose names are all empty (its `.debug_str` is zeros): the frames are
/// named from `.symtab`, not left unnamed.
#[test]
fn empty_dwarf_names_give_way_to_the_symbol_table() {
    let hot = std::fs::read(support::fixture("hot")).unwrap();
    let heavy = symbolizer::probe_location(&hot, "cperf_hot_heavy").unwrap().address.unwrap();
    let module = symbolizer::ElfModule::parse(with_debug_str_bomb(&hot, 16 << 20)).unwrap();
    assert!(module.has_dwarf(), "16 MiB of DWARF strings are accepted");
    let symbolizer::Symbolized::Frames(frames) = module.symbolize_vaddr(heavy + 4) else { panic!("unnamed") };
    let outer = frames.last().unwrap();
    assert_eq!(outer.function.as_deref(), Some("cperf_hot_heavy"), "{frames:?}");
    assert!(outer.line.is_some(), "the line table is still read: {frames:?}");
}

/// DWARF claiming more than the file's budget allows is left out whole, before anything is
/// inflated: the budget notes the cut, and `.symtab` names the frames.
#[test]
fn dwarf_over_the_budget_is_left_out_and_noted() {
    use symbolizer::budget::{Budget, Limits};
    let hot = std::fs::read(support::fixture("hot")).unwrap();
    let heavy = symbolizer::probe_location(&hot, "cperf_hot_heavy").unwrap().address.unwrap();
    let budget =
        Budget::new("debug data", Limits { per_file: 8 << 20, per_process: 1 << 30, total: 1 << 30 });
    let mut account = budget.account(7, "/bin/hot");
    let module =
        symbolizer::ElfModule::parse_within(with_debug_str_bomb(&hot, 16 << 20), &mut account).unwrap();
    assert!(!module.has_dwarf() && module.has_symtab());
    let cuts = budget.cuts();
    assert_eq!(cuts.len(), 1, "{cuts:?}");
    assert_eq!((cuts[0].pid, cuts[0].refused), (7, 16 << 20), "{cuts:?}");
    assert_eq!(budget.total(), 0, "nothing inflated");
    let symbolizer::Symbolized::Frames(frames) = module.symbolize_vaddr(heavy + 4) else { panic!("unnamed") };
    assert_eq!(frames.last().unwrap().function.as_deref(), Some("cperf_hot_heavy"), "{frames:?}");
}

/// A bundle running `/bin/hot 30`, its binary stripped of DWARF (`.symtab` kept) and a 2 GiB
/// sparse file at its build-id's debug file path: `debug` (another build's ELF file, or its own
/// debug file) followed by 2 GiB of holes.
fn hot_with_sparse_debug_file(scratch: &Scratch, name: &str, debug: &Path) -> Bundle {
    let hot = support::fixture("hot");
    let stripped = scratch.path(&format!("{name}-hot"));
    support::run_ok(Command::new("objcopy").arg("--strip-debug").arg(&hot).arg(&stripped));
    let bundle = Bundle::new().args(&["hot", "30"]);
    std::fs::copy(&stripped, bundle.rootfs().join("bin/hot")).unwrap();
    let id = build_id(&hot);
    let path = bundle.rootfs().join(format!("usr/lib/debug/.build-id/{}/{}.debug", &id[..2], &id[2..]));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(debug, &path).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(2 << 30).unwrap();
    bundle
}

/// Two containers each give their stripped `/bin/hot` a 2 GiB sparse debug file: one of another
/// build (its build-id is read from its notes, and the file no further), one its own (refused by
/// the budget unread, with a note). The recording stays small and on time, and `.symtab` names
/// the frames.
#[test]
fn gigabyte_debug_files_are_not_read_whole() {
    if !support::privileged()
        || !support::tool_available("objcopy", "stripping and splitting debug info")
        || !Path::new("/usr/bin/time").exists()
    {
        assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "/usr/bin/time is needed");
        return;
    }
    let scratch = Scratch::new("sparse-debug");
    let own_debug = scratch.path("hot.debug");
    support::run_ok(
        Command::new("objcopy").arg("--only-keep-debug").arg(support::fixture("hot")).arg(&own_debug),
    );
    let other =
        hot_with_sparse_debug_file(&scratch, "other", &support::fixture("spin")).run_detached("sparse-other");
    let own = hot_with_sparse_debug_file(&scratch, "own", &own_debug).run_detached("sparse-own");
    std::thread::sleep(std::time::Duration::from_millis(200));

    let out = scratch.path("sparse.cperf");
    let (result, wall, rss) = record_measured(
        &scratch,
        &[
            "-G",
            other.id(),
            "-G",
            own.id(),
            "-e",
            "cpu-clock",
            "-F",
            "499",
            "-g",
            "-o",
            out.to_str().unwrap(),
            "--duration",
            "2",
        ],
    );
    drop((other, own));
    assert!(result.status.success(), "{}", describe(&result));
    let summary = String::from_utf8_lossy(&result.stderr);
    eprintln!("peak RSS {} MiB, wall time {wall:?}\n{summary}", rss >> 10);
    assert!(rss < MAX_RSS_KIB, "peak RSS {} MiB\n{summary}", rss >> 10);
    let cut: Vec<&str> =
        summary.lines().filter(|l| l.contains("note:") && l.contains(".build-id/")).collect();
    assert_eq!(cut.len(), 1, "one note, on the matching debug file refused:\n{summary}");
    assert!(cut[0].contains("per-file limit"), "{summary}");
    let p = profile::read(&out);
    assert_on_time(&p, wall, &summary);
    for target in [0, 1] {
        let leaves = leaves(&p, target);
        assert!(
            leaves.values().sum::<u64>() >= 100 && share(&leaves, "cperf_hot_") >= 0.9,
            "target {target}: frames named from .symtab: {leaves:?}\n{summary}"
        );
    }
}

/// A uprobe target is an ELF file like any other: one over the per-file limit on binaries
/// (256 MiB; here the `hot` fixture made 300 MiB long with a hole) is refused with one line before
/// anything is read, where it used to be read whole up to 1 GiB; the same file at its own size is
/// probed.
#[test]
fn a_uprobe_target_over_the_file_limit_is_refused_unread() {
    if !support::privileged() {
        return;
    }
    let scratch = Scratch::new("uprobe-big");
    let small = scratch.path("hot");
    std::fs::copy(support::fixture("hot"), &small).unwrap();
    let big = scratch.path("hot-big");
    std::fs::copy(support::fixture("hot"), &big).unwrap();
    std::fs::OpenOptions::new().write(true).open(&big).unwrap().set_len(300 << 20).unwrap();
    let stat = |file: &Path| {
        cperf()
            .args(["stat", "-e", &format!("uprobe:{}:main", file.display()), "--", "true"])
            .output()
            .unwrap()
    };
    let out = stat(&small);
    assert!(out.status.success(), "{}", describe(&out));
    let out = stat(&big);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(err.contains("over the 268435456-byte limit") && err.lines().count() == 1, "{err}");
}

// ---------------------------------------------------------------------------------------------------------
// Call-frame information that lies (issue 14): unwinding costs a cut stack, never the recorder
// ---------------------------------------------------------------------------------------------------------

/// The `hot` fixture built without frame pointers, with an `.eh_frame_hdr` (static links have
/// none unless asked): call-frame information is all there is to walk it.
fn hot_without_frame_pointers(scratch: &Scratch) -> PathBuf {
    let out = scratch.path("hot-no-fp");
    if !out.exists() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/src/hot.c");
        support::run_ok(
            Command::new("cc")
                .args([
                    "-static",
                    "-O2",
                    "-g",
                    "-fomit-frame-pointer",
                    "-Wall",
                    "-pthread",
                    "-Wl,--eh-frame-hdr",
                ])
                .arg("-o")
                .arg(&out)
                .arg(&src),
        );
    }
    out
}

/// The file range of section `name` of the ELF file `data`.
fn section_range(data: &[u8], name: &str) -> std::ops::Range<usize> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(data).unwrap();
    let (offset, size) =
        file.section_by_name(name).and_then(|s| s.file_range()).unwrap_or_else(|| panic!("no {name}"));
    offset as usize..(offset + size) as usize
}

/// The `hot` fixture with its `.eh_frame_hdr` and `.eh_frame` rewritten: `seed` 0 claims two
/// billion FDEs in the header's table and points every entry of it at offset 0; other seeds fill
/// both sections with pseudo-random bytes but for the header's first 4 bytes (so that it still
/// looks like a header).
fn hot_with_lying_cfi(scratch: &Scratch, seed: u64) -> PathBuf {
    let mut data = std::fs::read(hot_without_frame_pointers(scratch)).unwrap();
    let hdr = section_range(&data, ".eh_frame_hdr");
    let eh = section_range(&data, ".eh_frame");
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    if seed == 0 {
        // version 1, eh_frame_ptr pcrel|sdata4, fde_count udata4, table datarel|sdata4.
        data[hdr.start..hdr.start + 4].copy_from_slice(&[1, 0x1b, 0x03, 0x3b]);
        data[hdr.start + 8..hdr.start + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        for b in &mut data[hdr.start + 12..hdr.end] {
            *b = 0;
        }
    } else {
        for i in (hdr.start + 4..hdr.end).chain(eh) {
            data[i] = next() as u8;
        }
    }
    let out = scratch.path(&format!("hot-lying-cfi-{seed}"));
    std::fs::write(&out, &data).unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    out
}

/// Containers whose program's `.eh_frame_hdr` and `.eh_frame` are garbage (a header claiming two
/// billion FDEs; random bytes): `record -g` keeps its duration, exits cleanly, writes every sample,
/// and accounts for every user stack as complete or cut with a reason; a container with honest
/// call-frame information beside them keeps complete stacks.
#[test]
fn lying_call_frame_information_costs_cut_stacks_not_the_recorder() {
    if !support::privileged() || !support::tool_available("cc", "building the lying binaries") {
        return;
    }
    let scratch = Scratch::new("lying-cfi");
    let honest_bundle = Bundle::new().args(&["hot", "30"]);
    std::fs::copy(hot_without_frame_pointers(&scratch), honest_bundle.rootfs().join("bin/hot")).unwrap();
    let honest = honest_bundle.run_detached("cfi-honest");
    let mut liars = Vec::new();
    for seed in [0, 1, 2] {
        let bundle = Bundle::new().args(&["hot", "30"]);
        std::fs::copy(hot_with_lying_cfi(&scratch, seed), bundle.rootfs().join("bin/hot")).unwrap();
        liars.push(bundle.run_detached(&format!("cfi-liar-{seed}")));
    }
    let out = scratch.path("lying.cperf");
    let started = std::time::Instant::now();
    let mut cmd = cperf();
    cmd.args(["record", "-g", "-F", "199", "--duration", "2", "-o"]).arg(&out);
    cmd.args(["-G", honest.id()]);
    for liar in &liars {
        cmd.args(["-G", liar.id()]);
    }
    let result = cmd.output().unwrap();
    let elapsed = started.elapsed();
    assert!(result.status.success(), "{}", describe(&result));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!("{stderr}");
    // Start-up (kallsyms, the containers' files) takes a few seconds on a loaded debug build; a
    // walk that hung would hold the recorder far longer.
    assert!(elapsed.as_secs() < 30, "record -g --duration 2 took {elapsed:?}");

    let p = profile::read(&out);
    let summary = p.summary.as_ref().expect("a summary: the recorder ended cleanly");
    let stacks = summary.stacks.as_ref().expect("stack completeness in the summary");
    let cut: u64 = stacks.cut.iter().map(|c| c.samples).sum();
    assert_eq!(stacks.complete + cut, stacks.user_stacks, "{stacks:?}");
    // Random call-frame information and no frame pointers: those stacks are cut, with a reason.
    assert!(cut > 0 && stacks.cut.iter().all(|c| !c.reason.is_empty()), "{stacks:?}");
    assert!(stacks.user_stacks > 0 && stacks.user_stacks <= p.samples, "{} samples: {stacks:?}", p.samples);
    for (index, liar) in liars.iter().enumerate() {
        let n: u64 = leaves(&p, index as u32 + 1).values().sum();
        assert!(n > 0, "no samples of {}: {:?}", liar.id(), p.by_target);
    }
    // The honest container's stacks reach `_start`: lies elsewhere did not spill over.
    let folded = support::run_ok(
        Command::new(support::cperf_path())
            .args(["report", "--folded", "--container", honest.id(), "-i"])
            .arg(&out),
    );
    let folded = String::from_utf8_lossy(&folded.stdout);
    let stacks = support::folded::parse(&folded);
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    let rooted: u64 =
        stacks.iter().filter(|s| s.user.first().is_some_and(|f| f == "_start")).map(|s| s.count).sum();
    assert!(
        total > 0 && rooted * 10 >= total * 9,
        "{rooted} of {total} honest stacks from _start:\n{folded}"
    );
}
