//! Integration tests of `cperf record`'s call stacks for code built without frame pointers (issue 14):
//! user stacks unwound with the call-frame information of the mapped files, in real containers.
//!
//! - The `unwind_chain` fixture (`-O2 -fomit-frame-pointer`, static PIE) in a runc container: known
//!   chains through two threads and a signal handler, exact frame by frame; the same container recorded
//!   with `--call-graph fp` must fail the same check (so the check can fail).
//! - Debian 12's own `python3.11` and `xz` (stripped, no frame pointers), from a root built with
//!   debootstrap, under Docker: cperf's stacks against `perf record --call-graph dwarf` on the same
//!   container in the same window (perf runs as cperf's timer command, so it starts once cperf records).
//! - A recording made with CFI unwinding reports byte for byte the same inside another container (no
//!   network, no host files) as on the host.
//!
//! Tests that need root, Docker or debootstrap return early unless the host has them;
//! `CPERF_REQUIRE_PRIVILEGED=1` makes that a failure.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use support::docker::{docker_ready, DockerContainer, Image};
use support::folded::{self, FoldedStack};
use support::stacks::{side_by_side, StackSet, UserStack};
use support::{cperf, describe, perf_script, profile, run, run_ok, Bundle, Scratch};

/// `cperf record ARGS`; panics unless it succeeds. Returns its stderr (the summary).
fn record(args: &[&str]) -> String {
    let out = run(cperf().arg("record").args(args));
    assert!(out.status.success(), "cperf record {args:?} failed:\n{}", describe(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `cperf report -i FILE ARGS` on the host; its stdout.
fn report(file: &Path, args: &[&str]) -> String {
    let out = run_ok(cperf().arg("report").arg("-i").arg(file).args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------------------------
// The fixture's known chains
// ---------------------------------------------------------------------------------------------------------

/// The frames of a complete stack, root first: each position lists the names it may have (static
/// glibc's `__libc_start_main` and `__libc_start_main_impl` are one address; `clone3` is `__clone3`
/// in the symbol table). Checked against `perf record --call-graph dwarf` of the same binary:
/// `_start;__libc_start_main_impl;__libc_start_call_main;main;a;b;c`, `__clone3;start_thread;worker;d;e`,
/// and `…;main;spin;[unknown];handler;h`, where perf's `[unknown]` is the return address into
/// `__restore_rt` less one (the byte before the function): perf does not know it is a signal frame.
const MAIN_ROOT: &[&[&str]] =
    &[&["_start"], &["__libc_start_main", "__libc_start_main_impl"], &["__libc_start_call_main"], &["main"]];
const THREAD_ROOT: &[&[&str]] = &[&["__clone3", "clone3"], &["start_thread"]];

/// The expected user chain of a sample whose innermost frame is `leaf` (c, e or h). The signal frame
/// is `__restore_rt`, the signal trampoline the kernel returns to, named by its exact address (no
/// call precedes it; the byte before is another function's or none). `restore_rt` is its address in
/// the binary, for the message of a failure.
fn expected_chain(leaf: &str, restore_rt: u64) -> Vec<Vec<String>> {
    let _ = restore_rt;
    let restore_rt = ["__restore_rt".to_owned()];
    let tail: Vec<Vec<String>> = match leaf {
        "c" => vec![vec!["a".into()], vec!["b".into()], vec!["c".into()]],
        "e" => vec![vec!["worker".into()], vec!["d".into()], vec!["e".into()]],
        "h" => vec![vec!["spin".into()], restore_rt.to_vec(), vec!["handler".into()], vec!["h".into()]],
        _ => unreachable!(),
    };
    let root = if leaf == "e" { THREAD_ROOT } else { MAIN_ROOT };
    let root = root.iter().map(|names| names.iter().map(|n| n.to_string()).collect());
    root.chain(tail).collect()
}

fn matches_chain(user: &[String], chain: &[Vec<String>]) -> bool {
    user.len() == chain.len() && is_suffix_of_chain(user, chain)
}

/// Whether `user` is the innermost part of `chain`: a stack cut short, with nothing invented.
fn is_suffix_of_chain(user: &[String], chain: &[Vec<String>]) -> bool {
    user.len() <= chain.len()
        && user.iter().zip(&chain[chain.len() - user.len()..]).all(|(f, n)| n.contains(f))
}

/// The address of `symbol` in `binary` (its `nm` line).
fn symbol_address(binary: &Path, symbol: &str) -> u64 {
    let out = run_ok(std::process::Command::new("nm").arg(binary));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (address, _, name) = (f.next()?, f.next()?, f.next()?);
            (name == symbol).then(|| u64::from_str_radix(address, 16).ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no {symbol} in {}", binary.display()))
}

/// Checks the fixture's folded stacks: for each of c (main → a → b → c), e (the second thread) and h
/// (the SIGALRM handler, interrupting spin) at least `min_samples` samples, of which at least 95% carry
/// exactly the expected chain from the outermost frame, nothing above it. Err describes what is wrong.
fn check_fixture_chains(stacks: &[FoldedStack], min_samples: u64) -> Result<(), String> {
    let restore_rt = symbol_address(&support::fixture("unwind_chain"), "__restore_rt");
    let mut problems = Vec::new();
    for leaf in ["c", "e", "h"] {
        let chain = expected_chain(leaf, restore_rt);
        let with_leaf: Vec<&FoldedStack> =
            stacks.iter().filter(|s| !s.kernel && s.user.last().is_some_and(|l| l == leaf)).collect();
        let total: u64 = with_leaf.iter().map(|s| s.count).sum();
        let exact: u64 = with_leaf.iter().filter(|s| matches_chain(&s.user, &chain)).map(|s| s.count).sum();
        let mut others: Vec<(u64, String)> = with_leaf
            .iter()
            .filter(|s| !matches_chain(&s.user, &chain))
            .map(|s| (s.count, s.user_text()))
            .collect();
        others.sort_by(|a, b| b.cmp(a));
        others.truncate(5);
        if total < min_samples || (exact as f64) < 0.95 * total as f64 {
            problems.push(format!(
                "leaf {leaf}: {exact} of {total} samples (at least {min_samples} needed, 95% exact) carry \
                 {}; most frequent others: {others:?}",
                chain.iter().map(|n| n.join("|")).collect::<Vec<_>>().join(";")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The fixture's chain functions set up no frame pointer (objdump shows no `%rbp` in them), so a walk
/// that follows `%rbp` cannot find their callers: the premise of the test below.
#[test]
fn the_fixture_functions_have_no_frame_pointer() {
    if std::env::consts::ARCH != "x86_64" || !support::tool_available("objdump", "disassembling the fixture")
    {
        return;
    }
    let binary = support::fixture("unwind_chain");
    for function in ["a", "b", "c", "d", "e", "h", "handler", "spin", "worker"] {
        let out = run_ok(
            std::process::Command::new("objdump")
                .args(["-d", "--no-show-raw-insn", &format!("--disassemble={function}")])
                .arg(&binary),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("<{function}>:")), "objdump found no {function}:\n{text}");
        assert!(!text.contains("%rbp"), "{function} uses %rbp:\n{text}");
    }
}

/// The fixture built without frame pointers, in a runc container: with `-g` (CFI unwinding by default)
/// the samples in c, e and h carry their exact chains from `_start` / `clone3`, including the signal
/// frame; recorded with `--call-graph fp` the same check fails (the frames have no frame pointers).
#[test]
fn fixture_without_frame_pointers_has_exact_chains_through_threads_and_signal_frames() {
    if !support::privileged() {
        return;
    }
    let scratch = Scratch::new("unwind-chain");
    let container = Bundle::new()
        .with_fixture("unwind_chain")
        .args(&["unwind_chain", "/tmp/ready"])
        .run_detached("unwind-chain");
    // Ready once the second thread runs and the handler has run once: the chains are all live.
    container.wait_for_file("/tmp/ready", Duration::from_secs(10));
    let dwarf = scratch.path("dwarf.cperf");
    let fp = scratch.path("fp.cperf");
    let common = ["-G", container.id(), "-e", "cpu-clock", "-F", "999", "--duration", "3", "-o"];
    let summary = record(&[&common[..], &[dwarf.to_str().unwrap(), "-g"]].concat());
    let fp_summary = record(&[&common[..], &[fp.to_str().unwrap(), "--call-graph", "fp"]].concat());
    drop(container);

    eprintln!("{summary}");
    let stacks = folded::parse(&report(&dwarf, &["--folded"]));
    if let Err(e) = check_fixture_chains(&stacks, 30) {
        panic!("with CFI unwinding:\n{e}\nrecord said:\n{summary}");
    }
    let p = profile::read(&dwarf);
    let s =
        p.summary.as_ref().and_then(|s| s.stacks.clone()).expect("the summary says how stacks were found");
    assert_eq!(s.method, "dwarf", "{s:?}");
    assert!(s.user_stacks >= p.samples * 9 / 10, "{s:?} of {} samples", p.samples);
    assert!(s.complete as f64 >= 0.95 * s.user_stacks as f64, "complete stacks: {s:?}");
    assert_eq!(p.lost, 0, "lost samples");

    let fp_stacks = folded::parse(&report(&fp, &["--folded"]));
    match check_fixture_chains(&fp_stacks, 30) {
        Err(e) => eprintln!("with --call-graph fp the check fails, as it must:\n{e}"),
        Ok(()) => panic!(
            "frame-pointer walking found the exact chains of a binary without frame pointers: the check \
             cannot fail\n{fp_summary}"
        ),
    }
}

/// A stack copy too small for the fixture's stacks: the summary says how many stacks were cut and that
/// the copy size did it (naming the size), and each cut stack is the innermost part of the exact chain,
/// nothing guessed beyond the copy.
#[test]
fn a_small_stack_copy_cuts_stacks_and_says_why() {
    if !support::privileged() {
        return;
    }
    let scratch = Scratch::new("unwind-cut");
    let container = Bundle::new()
        .with_fixture("unwind_chain")
        .args(&["unwind_chain", "/tmp/ready"])
        .run_detached("unwind-cut");
    container.wait_for_file("/tmp/ready", Duration::from_secs(10));
    let rec = scratch.path("cut.cperf");
    let summary = record(&[
        "-G",
        container.id(),
        "-e",
        "cpu-clock",
        "-F",
        "999",
        "--duration",
        "3",
        "--call-graph",
        "dwarf,512",
        "-o",
        rec.to_str().unwrap(),
    ]);
    drop(container);

    let p = profile::read(&rec);
    let s =
        p.summary.as_ref().and_then(|s| s.stacks.clone()).expect("the summary says how stacks were found");
    assert_eq!((s.method.as_str(), s.stack_bytes), ("dwarf", 512), "{s:?}");
    // main's frame alone is 0x148 bytes: 512 bytes cannot hold main's caller's frames as well.
    let by_copy: u64 =
        s.cut.iter().filter(|c| c.reason.starts_with("copy size reached")).map(|c| c.samples).sum();
    assert!(by_copy > 0 && s.complete < s.user_stacks, "no stack cut by the copy size: {s:?}\n{summary}");
    assert!(s.cut.iter().any(|c| c.reason.contains("512 bytes")), "the reason does not say the size: {s:?}");
    assert!(summary.contains("copy size reached"), "record's summary does not say why:\n{summary}");

    let restore_rt = symbol_address(&support::fixture("unwind_chain"), "__restore_rt");
    let stacks = folded::parse(&report(&rec, &["--folded"]));
    for leaf in ["c", "e", "h"] {
        let chain = expected_chain(leaf, restore_rt);
        let with_leaf: Vec<&FoldedStack> =
            stacks.iter().filter(|s| !s.kernel && s.user.last().is_some_and(|l| l == leaf)).collect();
        let total: u64 = with_leaf.iter().map(|s| s.count).sum();
        let good: u64 =
            with_leaf.iter().filter(|s| is_suffix_of_chain(&s.user, &chain)).map(|s| s.count).sum();
        let bad: Vec<String> = with_leaf
            .iter()
            .filter(|s| !is_suffix_of_chain(&s.user, &chain))
            .map(|s| format!("{} {}", s.user_text(), s.count))
            .collect();
        assert!(
            total >= 10 && good as f64 >= 0.95 * total as f64,
            "leaf {leaf}: {good} of {total} cut stacks are the inner part of the exact chain; others: {bad:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Debian's python3 and xz against perf
// ---------------------------------------------------------------------------------------------------------

/// Spends its time in three known functions (the interpreter's C stack is the same for all three).
const PYTHON_SCRIPT: &str = "\
def alpha(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

def beta(n):
    return sum(len(str(i)) for i in range(n))

def gamma(n):
    d = {}
    for i in range(n):
        d[i % 97] = d.get(i % 97, 0) + i
    return len(d)

open('/tmp/ready', 'w').close()
while True:
    alpha(200000)
    beta(100000)
    gamma(100000)
";

/// One cperf recording of a Debian container, with perf's of the same window.
struct Recorded {
    cperf: Vec<UserStack>,
    perf: Vec<UserStack>,
    summary: Option<sampler::recording::StackSummary>,
    cperf_said: String,
}

/// Runs `args` in a container of the bookworm image, waits for `/tmp/ready`, and records it at 199 Hz
/// with one cperf per entry of `call_graphs` (its stack arguments) and perf (`--call-graph dwarf,32768`,
/// the same cgroup), all in the same window: each cperf runs the next as its timer command, the last
/// runs perf for 5 s, so perf starts once every cperf records.
fn record_with_perf(image: &Image, test: &str, args: &[&str], call_graphs: &[&[&str]]) -> Vec<Recorded> {
    let scratch = Scratch::new(test);
    let c = DockerContainer::run(image, test, &["--network", "none"], args);
    c.wait_for_file("/tmp/ready", Duration::from_secs(20));
    let cgroup = support::cgroup_of(c.pid());
    let perf_data = scratch.path("perf.data");
    let recs: Vec<String> = (0..call_graphs.len())
        .map(|i| scratch.path(&format!("rec{i}.cperf")).display().to_string())
        .collect();
    let mut argv: Vec<&str> = Vec::new();
    for (i, call_graph) in call_graphs.iter().enumerate() {
        if i > 0 {
            argv.extend_from_slice(&["--", support::cperf_path(), "record"]);
        }
        argv.extend_from_slice(&["-G", c.id(), "-e", "cpu-clock", "-F", "199", "-o", &recs[i]]);
        argv.extend_from_slice(call_graph);
    }
    let perf_argv = [
        "perf",
        "record",
        "-q",
        "-B",
        "-N",
        "-e",
        "cpu-clock",
        "--call-graph",
        "dwarf,32768",
        "-F",
        "199",
        "-a",
        "-G",
        &cgroup,
        "-o",
        perf_data.to_str().unwrap(),
        "--",
        "sleep",
        "5",
    ];
    argv.push("--");
    argv.extend_from_slice(&perf_argv);
    let cperf_said = record(&argv);
    // perf script reaches the container's files through the sampled processes, so they must still run.
    let perf = perf_script::read(&perf_data);
    drop(c);
    recs.iter()
        .map(|rec| {
            let p = profile::read(Path::new(rec));
            Recorded {
                cperf: p.user_stacks,
                perf: perf.clone(),
                summary: p.summary.and_then(|s| s.stacks),
                cperf_said: cperf_said.clone(),
            }
        })
        .collect()
}

/// Function names only one of the two profilers gives (perf may find the host's debug files of an
/// identical library by build-id; cperf reads only the container's) become `?`: the comparison is about
/// the frames, not about who names more.
fn common_vocabulary(a: &mut [UserStack], b: &mut [UserStack]) {
    let names = |stacks: &[UserStack]| -> std::collections::BTreeSet<String> {
        stacks.iter().flat_map(|s| &s.frames).filter_map(|f| f.function.clone()).collect()
    };
    let (na, nb) = (names(a), names(b));
    for f in a.iter_mut().chain(b.iter_mut()).flat_map(|s| s.frames.iter_mut()) {
        if f.function.as_ref().is_some_and(|n| !na.contains(n) || !nb.contains(n)) {
            f.function = None;
        }
    }
}

/// A complete main-thread stack of a stripped executable starts with its unnamed entry point calling
/// `__libc_start_main`; a thread's with `clone3`. See [`UserStack::is_complete`] for named roots.
fn complete_in_stripped(s: &UserStack) -> bool {
    s.is_complete()
        || s.frames.get(1).and_then(|f| f.function.as_deref()).is_some_and(|f| f == "__libc_start_main")
}

/// Compares cperf's stacks of one process name with perf's. Err (with both side by side) unless they
/// agree: at least 50 samples each; the same stacks, frame by frame, on most samples (overlap of the
/// two distributions ≥ `min_overlap`, and ≥ 80% of cperf's samples have a stack perf saw too); cperf's
/// stacks complete at least as often as perf's less 5 points, and at least as deep on average less
/// what chance allows (four standard errors, at least half a frame).
fn compare_with_perf(r: &Recorded, comm: &str, min_overlap: f64) -> Result<String, String> {
    // Completeness is judged on the names as each profiler gave them, before the vocabulary is shared.
    let complete_c: Vec<bool> = r.cperf.iter().map(complete_in_stripped).collect();
    let complete_p: Vec<bool> = r.perf.iter().map(complete_in_stripped).collect();
    let (mut c, mut p) = (r.cperf.clone(), r.perf.clone());
    common_vocabulary(&mut c, &mut p);
    let of_comm = |stacks: &[UserStack], complete: &[bool]| {
        StackSet::new(stacks.iter().zip(complete.iter().copied()).filter(|(s, _)| s.comm == comm))
    };
    let (cs, ps) = (of_comm(&c, &complete_c), of_comm(&p, &complete_p));
    let table = side_by_side("cperf", &cs, "perf", &ps, 12);
    let mut problems = Vec::new();
    if cs.samples < 50 || ps.samples < 50 {
        problems.push(format!("too few samples ({} cperf, {} perf)", cs.samples, ps.samples));
    }
    if cs.overlap(&ps) < min_overlap {
        problems.push(format!("overlap {:.3} < {min_overlap}", cs.overlap(&ps)));
    }
    if cs.seen_by(&ps) < 0.8 {
        problems.push(format!("only {:.3} of cperf's samples have a stack perf saw", cs.seen_by(&ps)));
    }
    if cs.completeness() < ps.completeness() - 0.05 {
        problems.push(format!("completeness {:.3} < perf's {:.3}", cs.completeness(), ps.completeness()));
    }
    // Two samplings of the same stacks differ in mean depth by chance: allow four standard errors of
    // the difference (a python3 sample's depth ranges over 11-16 frames), and at least half a frame.
    let depth_tolerance = (4.0 * cs.mean_depth_error().hypot(ps.mean_depth_error())).max(0.5);
    if cs.mean_depth() < ps.mean_depth() - depth_tolerance {
        problems.push(format!(
            "mean depth {:.2} < perf's {:.2} less {depth_tolerance:.2}",
            cs.mean_depth(),
            ps.mean_depth()
        ));
    }
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(format!("{}\n{table}\ncperf record said:\n{}", problems.join("\n"), r.cperf_said))
    }
}

fn debian_image(test: &str) -> Option<Image> {
    if !support::privileged() || !docker_ready() || !support::tool_available("perf", "the oracle") {
        return None;
    }
    let root = support::debian::bookworm_root()?;
    Some(Image::import_dir(&root, test))
}

/// Debian's python3.11 (stripped, no frame pointers): cperf's `-g` stacks agree with perf's dwarf
/// unwinding of the same container; with `--call-graph fp` they do not (the comparison can fail).
#[test]
fn debian_python3_stacks_agree_with_perf() {
    let Some(image) = debian_image("unwind-python") else { return };
    let args = ["python3", "-c", PYTHON_SCRIPT];
    let recorded = record_with_perf(&image, "unwind-python", &args, &[&["-g"], &["--call-graph", "fp"]]);
    let (dwarf, fp) = (&recorded[0], &recorded[1]);
    match compare_with_perf(dwarf, "python3", 0.6) {
        Ok(table) => eprintln!("python3, cperf -g against perf dwarf:\n{table}"),
        Err(e) => panic!("python3: cperf -g and perf --call-graph dwarf disagree:\n{e}"),
    }
    let s = dwarf.summary.as_ref().expect("the summary says how stacks were found");
    assert!(s.complete as f64 >= 0.9 * s.user_stacks as f64, "{s:?}");
    match compare_with_perf(fp, "python3", 0.6) {
        Err(e) => eprintln!("python3 with --call-graph fp disagrees with perf, as it must:\n{e}"),
        Ok(table) => panic!(
            "frame-pointer stacks of a binary without frame pointers agree with perf's dwarf unwinding: \
             the comparison cannot fail\n{table}"
        ),
    }
}

/// Debian's xz compressing (liblzma, stripped, no frame pointers): cperf's `-g` stacks agree with perf's.
#[test]
fn debian_xz_stacks_agree_with_perf() {
    let Some(image) = debian_image("unwind-xz") else { return };
    // One long-lived xz (perf script unwinds through the processes' mount namespace: they must live).
    let script = "touch /tmp/ready; seq 1 1000000000 | xz -6 -T1 > /dev/null";
    let r = record_with_perf(&image, "unwind-xz", &["sh", "-c", script], &[&["-g"]]);
    match compare_with_perf(&r[0], "xz", 0.6) {
        Ok(table) => eprintln!("xz, cperf -g against perf dwarf:\n{table}"),
        Err(e) => panic!("xz: cperf -g and perf --call-graph dwarf disagree:\n{e}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Reporting elsewhere
// ---------------------------------------------------------------------------------------------------------

/// A recording of Debian's python3 made with CFI unwinding, the container stopped and removed, reports
/// byte for byte the same (text and folded) inside another container that has only the cperf binary
/// and its libraries (busybox, no network, the recording on a read-only volume) as on the host.
#[test]
fn a_cfi_recording_reports_identically_inside_another_container() {
    let Some(image) = debian_image("unwind-elsewhere") else { return };
    let scratch = Scratch::new("unwind-elsewhere");
    let c = DockerContainer::run(
        &image,
        "unwind-elsewhere",
        &["--network", "none"],
        &["python3", "-c", PYTHON_SCRIPT],
    );
    c.wait_for_file("/tmp/ready", Duration::from_secs(20));
    let rec = scratch.path("rec.cperf");
    record(&[
        "-G",
        c.id(),
        "-e",
        "cpu-clock",
        "-F",
        "199",
        "-g",
        "--duration",
        "3",
        "-o",
        rec.to_str().unwrap(),
    ]);
    c.stop();
    drop(c);
    drop(image);

    let reporter = Image::import(
        &Bundle::new().with_host_binary(Path::new(support::cperf_path()), "/opt/cperf/cperf"),
        "unwind-reporter",
    );
    let dir = rec.parent().unwrap().display().to_string();
    let mut outputs = BTreeMap::new();
    for (name, args) in [("text", &[][..]), ("folded", &["--folded"][..])] {
        let host = report(&rec, args);
        let out = run(std::process::Command::new("docker")
            .args(["run", "--rm", "--network", "none", "-v", &format!("{dir}:/rec:ro"), reporter.tag()])
            .args(["/opt/cperf/cperf", "report", "-i", "/rec/rec.cperf"])
            .args(args));
        assert!(out.status.success(), "cperf report {args:?} in a container: {}", describe(&out));
        let inside = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(inside, host, "cperf report {args:?}: inside a container (left) and on the host (right)");
        outputs.insert(name, host);
    }
    // The recording is one of complete stacks: the folded output reaches the interpreter's entry.
    let stacks = folded::parse(&outputs["folded"]);
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    let deep: u64 = stacks.iter().filter(|s| s.user.len() >= 5).map(|s| s.count).sum();
    assert!(
        total >= 30 && deep * 10 >= total * 9,
        "{deep} of {total} stacks 5 frames deep:\n{}",
        outputs["folded"]
    );
}

/// `perf script` blocks become root-first user stacks, kernel frames left out.
#[test]
fn perf_script_output_is_parsed_into_user_stacks() {
    let text = "unwind_chain 27890 \n\
                \tffffffff81000000 asm_sysvec_apic_timer_interrupt ([kernel.kallsyms])\n\
                \t            9a67 e (/bin/unwind_chain)\n\
                \t            9a9c d (/bin/unwind_chain)\n\
                \t           6a52b __clone3 (/bin/unwind_chain)\n\
                \n\
                python3 12 \n\
                \t           10b3f [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)\n\
                \t    7ffd2f037a95 [unknown] ([unknown])\n\
                \t           27304 __libc_start_main@@GLIBC_2.34 (/usr/lib/x86_64-linux-gnu/libc.so.6)\n";
    let s = perf_script::parse(text);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].comm.as_str(), s[0].tid), ("unwind_chain", 27890));
    assert_eq!(s[0].key(), "unwind_chain:__clone3;unwind_chain:d;unwind_chain:e");
    assert!(s[0].is_complete());
    assert_eq!(s[1].key(), "libc.so.6:__libc_start_main;?:?;libc.so.6:?");
    assert!(!s[1].is_complete());
}
