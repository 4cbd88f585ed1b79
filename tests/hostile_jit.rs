//! Integration tests of `cperf record` against runc containers whose JIT perf maps are hostile: a
//! device node where the map should be, maps replaced by huge sparse files again and again, many
//! processes with huge maps, and nested entries. cperf runs as root on the host; none of this may
//! make it open a host device, fill the host's disk or memory, or overrun `--duration`.
//!
//! The workload is the `jit` fixture (generated code named by `/tmp/perf-<pid>.map`). Tests that
//! need root return early (printing `skipped: ...`) unless the host is privileged;
//! `CPERF_REQUIRE_PRIVILEGED=1` makes that fatal.

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{cperf, describe, profile, Bundle, Container, Scratch};

/// `cperf record -G <container> -e cpu-clock -F 499 -g -o <out> --duration <secs>`; panics unless
/// it succeeds. Returns its stderr (the summary) and how long it ran.
fn record(container: &Container, out: &Path, secs: &str) -> (String, Duration) {
    let started = Instant::now();
    let result = cperf()
        .args(["record", "-G", container.id(), "-e", "cpu-clock", "-F", "499", "-g", "-o"])
        .arg(out)
        .args(["--duration", secs])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(result.status.success(), "{}", describe(&result));
    (String::from_utf8_lossy(&result.stderr).into_owned(), took)
}

/// The notes of the recording's summary that are about perf maps.
fn perf_map_notes(p: &profile::Profile) -> Vec<String> {
    let summary = p.summary.as_ref().expect("a clean end writes a summary");
    summary.notes.iter().filter(|n| n.starts_with("perf maps:")).cloned().collect()
}

/// Grows the perf map at `host_path` to `size` bytes of sparse zeros followed by one line, as a
/// hostile container can (it costs the container no disk).
fn inflate(host_path: &Path, size: u64) {
    let f = OpenOptions::new().append(true).open(host_path).unwrap();
    f.set_len(size).unwrap();
    (&f).write_all(b"\n7f0000000000 10 after_the_hole\n").unwrap();
}

/// The perf maps in the container's `/tmp`, as host paths, once their first line is written.
fn perf_maps(container: &Container) -> Vec<PathBuf> {
    let tmp = container.rootfs().join("tmp");
    let Ok(dir) = std::fs::read_dir(&tmp) else { return Vec::new() };
    dir.filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("perf-") && name.ends_with(".map")
        })
        .filter(|p| std::fs::read(p).is_ok_and(|t| t.ends_with(b"\n")))
        .collect()
}

const MIB: u64 = 1 << 20;

/// A container that makes its perf map a character device (here the host's `/dev/null`, 1:3):
/// cperf, as host root, must never open it. strace lists every open cperf makes (other programs
/// on the host may open the node meanwhile, so a watch on the node would not tell whose open it
/// saw): the path may only be looked at with `O_PATH`, which opens nothing.
#[test]
fn a_perf_map_that_is_a_device_node_is_never_opened() {
    if !support::privileged()
        || std::env::consts::ARCH != "x86_64"
        || !support::tool_available("strace", "the check of cperf's opens (apt-get install strace)")
    {
        return;
    }
    let scratch = Scratch::new("jit-device");
    let container = Bundle::new().with_fixture("jit").args(&["jit", "30"]).run_detached("jit-device");
    container.wait_for_file("/tmp/perf-1.map", Duration::from_secs(5));
    let node = container.rootfs().join("tmp/perf-1.map");
    std::fs::remove_file(&node).unwrap();
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();

    let out = scratch.path("device.cperf");
    let trace = scratch.path("opens.strace");
    let result = std::process::Command::new("strace")
        .args(["-f", "--seccomp-bpf", "-qq", "-e", "trace=open,openat,openat2", "-e", "signal=none", "-o"])
        .arg(&trace)
        .arg(support::cperf_path())
        .args(["record", "-G", container.id(), "-e", "cpu-clock", "-F", "499", "-g", "-o"])
        .arg(&out)
        .args(["--duration", "2.5"])
        .output()
        .unwrap();
    drop(container);
    assert!(result.status.success(), "{}", describe(&result));
    let summary = String::from_utf8_lossy(&result.stderr);
    let trace = std::fs::read_to_string(&trace).unwrap();
    let looks: Vec<&str> = trace.lines().filter(|l| l.contains("/tmp/perf-1.map")).collect();
    let opened: Vec<&&str> = looks
        .iter()
        .filter(|l| !l.contains("O_PATH") && l.rsplit_once(" = ").is_some_and(|(_, rc)| !rc.starts_with('-')))
        .collect();
    assert!(opened.is_empty(), "cperf opened the device node at the perf map's path: {opened:#?}");
    // The perf map was looked for (the JIT code was sampled), and nothing was copied from the node.
    assert!(!looks.is_empty(), "cperf never looked for the perf map; summary:\n{summary}");
    let p = profile::read(&out);
    assert!(p.perf_map_pids.is_empty(), "perf map data copied from a device node");
}

/// A container that replaces its perf map every second by a fresh 60 MiB sparse file (one line
/// after a hole) made cperf copy 60 MiB into the recording each time. Now a map costs at most
/// 32 MiB over all its versions, and the summary says it was cut.
#[test]
fn a_perf_map_replaced_again_and_again_cannot_fill_the_disk() {
    if !support::privileged() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let scratch = Scratch::new("jit-churn");
    let script = "jit 60 & jit=$!; sleep 0.2; while :; do truncate -s 60M /tmp/fresh; \
                  echo '7f0000000000 10 churned' >> /tmp/fresh; mv /tmp/fresh /tmp/perf-$jit.map; sleep 1; done";
    let container = Bundle::new().with_fixture("jit").args(&["sh", "-c", script]).run_detached("jit-churn");
    let deadline = Instant::now() + Duration::from_secs(10);
    let map = loop {
        let huge =
            perf_maps(&container).into_iter().find(|m| m.metadata().is_ok_and(|m| m.len() >= 60 * MIB));
        if let Some(map) = huge {
            break map;
        }
        assert!(Instant::now() < deadline, "no 60 MiB perf map; log:\n{}", container.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    let name = format!("/tmp/{}", map.file_name().unwrap().to_str().unwrap());

    let out = scratch.path("churn.cperf");
    let (summary, _) = record(&container, &out, "4");
    drop(container);
    let size = std::fs::metadata(&out).unwrap().len();
    // 32 MiB of map at most, plus samples and names (a few hundred KiB).
    assert!(size < 36 * MIB, "the recording is {size} bytes; summary:\n{summary}");
    let p = profile::read(&out);
    let notes = perf_map_notes(&p);
    assert!(
        notes.iter().any(|n| n.contains(&name) && n.contains("per-file limit of 32 MiB")),
        "no note on the cut perf map: {notes:?}\nsummary:\n{summary}"
    );
    assert!(summary.contains(&format!("perf maps: {name}")), "summary:\n{summary}");
}

/// Eight JIT processes whose maps grow to 60 MiB each (480 MiB in all) made cperf hold and write
/// all of it in one poll and overrun `--duration 2` by 16 s. Now all maps together cost at most
/// 128 MiB, the recording ends within 1.5 s of the duration asked, and the summary says what was
/// cut. On a host so busy that the same recording of small maps already takes longer, the bound
/// is that recording's time plus 1 s (the test is about what the maps add, not the host's load).
#[test]
fn many_huge_perf_maps_are_cut_at_the_total_and_keep_the_duration() {
    if !support::privileged() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    const PROCESSES: usize = 8;
    let scratch = Scratch::new("jit-many");
    let script = format!("for i in $(seq {PROCESSES}); do jit 60 & done; wait");
    let container = Bundle::new().with_fixture("jit").args(&["sh", "-c", &script]).run_detached("jit-many");
    let deadline = Instant::now() + Duration::from_secs(10);
    while perf_maps(&container).len() < PROCESSES {
        assert!(Instant::now() < deadline, "the jit processes wrote no maps; log:\n{}", container.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, baseline) = record(&container, &scratch.path("small.cperf"), "2");
    for map in perf_maps(&container) {
        inflate(&map, 60 * MIB);
    }

    let out = scratch.path("many.cperf");
    let (summary, took) = record(&container, &out, "2");
    drop(container);
    let bound = Duration::from_millis(3500).max(baseline + Duration::from_secs(1));
    assert!(
        took < bound,
        "record --duration 2 took {took:?} (with small maps: {baseline:?}); summary:\n{summary}"
    );
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size < 132 * MIB, "the recording is {size} bytes; summary:\n{summary}");
    let p = profile::read(&out);
    let notes = perf_map_notes(&p);
    assert!(
        notes.iter().any(|n| n.contains("total limit of 128 MiB")),
        "no note on the total limit: {notes:?}\nsummary:\n{summary}"
    );
    // Maps read before the total was reached still name their JIT code.
    assert!(p.leaves.contains_key("cperf_jit_spin"), "{:?}", p.leaves);
}

/// A region named first and a function inside it named after: samples in the region outside the
/// function keep the region's name (they came out unnamed).
#[test]
fn nested_perf_map_entries_name_the_outer_region_around_the_inner_one() {
    if !support::privileged() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let scratch = Scratch::new("jit-nested");
    let container = Bundle::new().with_fixture("jit").args(&["jit", "30"]).run_detached("jit-nested");
    container.wait_for_file("/tmp/perf-1.map", Duration::from_secs(5));
    // The fixture's one line: `<start> c cperf_jit_spin`. Its loop is at start+3..start+8; an inner
    // entry covers only the first two bytes, and the outer one the whole page around it.
    let map = container.rootfs().join("tmp/perf-1.map");
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let text = std::fs::read_to_string(&map).unwrap();
        if text.ends_with('\n') {
            break text;
        }
        assert!(Instant::now() < deadline, "the fixture's perf map is unfinished: {text:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    let start = u64::from_str_radix(line.split_whitespace().next().unwrap(), 16).unwrap();
    let fresh = container.rootfs().join("tmp/fresh.map");
    std::fs::write(&fresh, format!("{:x} 1000 OUTER_REGION\n{start:x} 2 INNER_STUB\n", start - 64)).unwrap();
    std::fs::rename(&fresh, &map).unwrap();

    let out = scratch.path("nested.cperf");
    let (summary, _) = record(&container, &out, "1.5");
    drop(container);
    let p = profile::read(&out);
    assert!(p.share("OUTER_REGION") >= 0.8, "{} samples: {:?}\nsummary:\n{summary}", p.samples, p.leaves);
}
