//! Integration tests of `uprobe:` and `uretprobe:` events against real runc containers.
//!
//! The workload is the `probed` fixture, dynamically linked against `libprobed.so`: once `/tmp/go`
//! exists it calls `cperf_probed_call(i)` for i < N (returning -4 when i % 10 == 9, 7 when
//! i % 10 == 4, else 0), `cperf_probed_wide(i)` for i < N/2 (-2^40 for odd i, 2^33 for even) and
//! `cperf_probed_insn(i)` for i < N/4 (hand-written instructions at known offsets), then creates `/tmp/done` and sleeps. Counts and return values are therefore known exactly. The
//! host holds a different build of the library at the same path (other offsets, other values): a
//! probe placed through the host's file would count nothing in the container, or the wrong thing.
//! Tests that need root return early (printing `skipped: ...`) unless the host is privileged;
//! `CPERF_REQUIRE_PRIVILEGED=1` makes that fatal.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::{cperf, describe, Bundle, Container};

/// Where the fixture lives, inside the containers and (the decoy) on the host.
struct Site {
    dir: String,
}

impl Site {
    /// A unique `/opt/<id>` holding, on the host, the program and the decoy library.
    fn new() -> Site {
        let dir = format!("/opt/{}", support::unique_id("uprobe"));
        let probed = support::probed_fixture();
        std::fs::create_dir_all(format!("{dir}/bin")).unwrap();
        std::fs::create_dir_all(format!("{dir}/lib")).unwrap();
        std::fs::copy(&probed.program, format!("{dir}/bin/probed")).unwrap();
        std::fs::copy(&probed.decoy_lib, format!("{dir}/lib/libprobed.so")).unwrap();
        Site { dir }
    }

    fn lib(&self) -> String {
        format!("{}/lib/libprobed.so", self.dir)
    }

    /// A bundle for a container that runs `probed n` under this site's path, with `lib` as its
    /// library, once `/tmp/go` exists.
    fn bundle(&self, lib: &Path, n: u64) -> Bundle {
        Bundle::new().with_probed(&self.dir, lib).args(&[
            &format!("{}/bin/probed", self.dir),
            &n.to_string(),
            "--wait-for",
            "/tmp/go",
            "--done",
            "/tmp/done",
        ])
    }

    /// That container, running.
    fn container(&self, test: &str, n: u64, lib: &Path) -> Container {
        self.bundle(lib, n).run_detached(test)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A scratch directory for recordings, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = support::target_dir().join("uprobe-tests").join(support::unique_id(test));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_cperf(args: &[&str]) -> Output {
    support::run(cperf().args(args))
}

fn run_ok(args: &[&str]) -> Output {
    let out = run_cperf(args);
    assert!(out.status.success(), "cperf {args:?} failed: {}", describe(&out));
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(out)))
}

/// `count` of each event of each target of a `cperf stat --json` document: target → event → count.
fn stat_counts(doc: &Value) -> BTreeMap<String, BTreeMap<String, u64>> {
    doc["targets"]
        .as_array()
        .unwrap_or_else(|| panic!("no targets in {doc}"))
        .iter()
        .map(|t| {
            let events = t["events"].as_array().unwrap_or_else(|| panic!("no events in {t}"));
            let counts = events
                .iter()
                .map(|e| (e["event"].as_str().unwrap().to_string(), e["count"].as_u64().unwrap()))
                .collect();
            (t["target"].as_str().unwrap().to_string(), counts)
        })
        .collect()
}

/// A process's values in a `report --retval --json` document: (value as text, calls), in order.
fn value_texts(process: &Value) -> Vec<(String, u64)> {
    process["values"]
        .as_array()
        .unwrap_or_else(|| panic!("no values in {process}"))
        .iter()
        .map(|v| (v["value"].as_str().unwrap().to_string(), v["calls"].as_u64().unwrap()))
        .collect()
}

/// Asserts a one-line error with exit status 2 that mentions every one of `wanted`.
fn assert_one_line_error(args: &[&str], wanted: &[&str]) {
    let out = run_cperf(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "cperf {args:?}: {}", describe(&out));
    assert_eq!(err.trim_end().lines().count(), 1, "cperf {args:?}: not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in wanted {
        assert!(err.contains(w), "cperf {args:?}: {w:?} not in: {err}");
    }
}

/// The counts are exact, through the container's file (also through a symlink to it inside the
/// container), never the host's file at the same path.
#[test]
fn counts_calls_in_the_container_exactly() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    let c = site.container("uprobe-count", 1000, &probed.lib);
    let lib = site.lib();
    let call = format!("uprobe:{lib}:cperf_probed_call");
    let wide_ret = format!("uretprobe:{lib}:cperf_probed_wide");
    let via_symlink = format!("uprobe:{lib}.1:cperf_probed_call");
    let script = c.go_and_wait_done_script();
    let out = run_ok(&[
        "stat",
        "-G",
        c.id(),
        "-e",
        &call,
        "-e",
        &wide_ret,
        "-e",
        &via_symlink,
        "--json",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let counts = stat_counts(&json(&out));
    let expected: BTreeMap<String, u64> =
        [(call.clone(), 1000), (wide_ret.clone(), 500), (via_symlink.clone(), 1000)].into_iter().collect();
    assert_eq!(counts[c.id()], expected, "{}", describe(&out));
}

/// A file given by name alone (`uprobe:libprobed:…`, `uprobe:probed:…`) is the one the
/// container's processes have mapped (the host has the decoy at that path); one that no process
/// maps is looked for in the container's library directories, never the host's.
#[test]
fn files_given_by_name_are_the_containers() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    let bundle = site.bundle(&probed.lib, 1000);
    // A library no process loads, only in the container's /usr/lib.
    let unmapped = format!("cperf-unmapped-{}", std::process::id());
    std::fs::create_dir_all(bundle.rootfs().join("usr/lib")).unwrap();
    std::fs::copy(&probed.lib, bundle.rootfs().join(format!("usr/lib/lib{unmapped}.so.1"))).unwrap();
    let c = bundle.run_detached("uprobe-by-name");
    let by_lib = "uprobe:libprobed:cperf_probed_call".to_string();
    let by_program = "uprobe:probed:cperf_probed_caller".to_string();
    let by_dir = format!("uretprobe:{unmapped}:cperf_probed_call");
    let script = c.go_and_wait_done_script();
    let out = run_ok(&[
        "stat",
        "-G",
        c.id(),
        "-e",
        &by_lib,
        "-e",
        &by_program,
        "-e",
        &by_dir,
        "--json",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let doc = json(&out);
    let counts = stat_counts(&doc);
    let expected: BTreeMap<String, u64> =
        [(by_lib.clone(), 1000), (by_program.clone(), 1), (by_dir.clone(), 0)].into_iter().collect();
    assert_eq!(counts[c.id()], expected, "{}", describe(&out));
    let notes = doc["targets"][0]["notes"].to_string();
    for wanted in [
        format!("'libprobed' is {}", site.lib()),
        format!("'probed' is {}/bin/probed", site.dir),
        format!("'{unmapped}' is /usr/lib/lib{unmapped}.so.1"),
    ] {
        assert!(notes.contains(&wanted), "{wanted:?} not in {notes}");
    }
    // Nowhere in the container (the host's library directories are not searched for it).
    assert_one_line_error(
        &["stat", "-G", c.id(), "-e", "uprobe:no-such-library:f", "--", "true"],
        &["no file called 'no-such-library'", "mapped by the processes of", "give the path"],
    );
}

/// A stripped library's local function is named by its debug file inside the container
/// (`/usr/lib/debug/.build-id/…`, as a -dbgsym package installs it): counted exactly, its return
/// type read from it; without the debug file, a one-line error.
#[test]
fn a_debug_file_in_the_container_names_local_functions() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    let c = site.container("uprobe-debug-file", 1000, &probed.stripped_lib);
    let local = format!("uretprobe:{}:cperf_probed_wide_value", site.lib());
    assert_one_line_error(
        &["stat", "-G", c.id(), "-e", &local, "--", "true"],
        &["no function 'cperf_probed_wide_value'"],
    );
    let readelf = support::run_ok(std::process::Command::new("readelf").arg("-n").arg(&probed.stripped_lib));
    let notes = String::from_utf8_lossy(&readelf.stdout);
    let build_id =
        notes.lines().find_map(|l| l.trim().strip_prefix("Build ID: ")).expect("a build-id").trim();
    let debug_dir = c.rootfs().join("usr/lib/debug/.build-id").join(&build_id[..2]);
    std::fs::create_dir_all(&debug_dir).unwrap();
    std::fs::copy(&probed.debug_file, debug_dir.join(format!("{}.debug", &build_id[2..]))).unwrap();
    let scratch = Scratch::new("debug-file");
    let file = scratch.path("wide.cperf");
    let script = c.go_and_wait_done_script();
    run_ok(&["record", "-G", c.id(), "-e", &local, "--retval", "-o", &file, "--", "sh", "-c", &script]);
    let doc = json(&run_ok(&["report", "-i", &file, "--retval", "--json"]));
    let t = &doc["targets"][0];
    assert_eq!(
        (t["function"].as_str(), t["read_as"].as_str()),
        (Some("cperf_probed_wide_value"), Some("long int")),
        "{t}"
    );
    assert_eq!(t["processes"][0]["calls"], 500, "{t}");
}

/// A pod: one cgroup holding containers with roots of their own. The first process (a pause-like
/// container without the file) does not hide the file from the others; the container with the
/// file is counted exactly; one with another file at the same path is left out, with a note.
#[test]
fn a_pod_is_probed_in_the_container_that_has_the_file() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    let pod = support::unique_id("uprobe-pod");
    let pod_dir = support::cgroup2_root().join(&pod);
    struct RemoveDir(PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    std::fs::create_dir(&pod_dir).unwrap();
    let _pod_dir = RemoveDir(pod_dir);
    // Started first: the lowest pid, with nothing but busybox in its root.
    let pause = Bundle::new().cgroups_path(&format!("/{pod}/pause")).run_detached("uprobe-pod-pause");
    let app =
        site.bundle(&probed.lib, 1000).cgroups_path(&format!("/{pod}/app")).run_detached("uprobe-pod-app");
    let other = site
        .bundle(&probed.decoy_lib, 300)
        .cgroups_path(&format!("/{pod}/other"))
        .run_detached("uprobe-pod-other");
    assert!(pause.init_pid() < app.init_pid() && pause.init_pid() < other.init_pid());
    let call = format!("uprobe:{}:cperf_probed_call", site.lib());
    let script = support::go_and_wait_done_script(&[&app, &other]);
    let spec = format!("/{pod}");
    let out = run_ok(&["stat", "-G", &spec, "-e", &call, "--json", "--", "sh", "-c", &script]);
    let doc = json(&out);
    assert_eq!(stat_counts(&doc)[&spec][&call], 1000, "{}", describe(&out));
    let notes = doc["targets"][0]["notes"].to_string();
    assert!(notes.contains("1 others see another file there"), "{notes}");
}

/// A command alone (no -G, -a or -p) is followed through a cgroup of its own: its calls and its
/// children's are counted exactly, return values and stacks recorded; the cgroup is gone
/// afterwards, and a process the command left running is back in cperf's cgroup.
#[test]
fn a_command_is_followed_through_a_cgroup_of_its_own() {
    if !support::privileged() {
        return;
    }
    let probed = support::probed_fixture();
    let program = probed.program.display().to_string();
    let call = format!("uprobe:{}:cperf_probed_call", probed.lib.display());
    let pidfile = Scratch::new("command");
    let survivor_pid = pidfile.path("survivor");
    // Two children calling 300 and 200 times, and a survivor that outlives the command.
    let script =
        format!("{program} 300 & {program} 200; wait; sleep 30 >/dev/null 2>&1 & echo $! > {survivor_pid}");
    let out = run_ok(&["stat", "-e", &call, "--json", "--", "sh", "-c", &script]);
    let doc = json(&out);
    assert_eq!(doc["targets"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["targets"][0]["events"][0]["count"], 500, "{}", describe(&out));
    // By name: the program itself, and a library found through its RUNPATH ($ORIGIN/../lib).
    let by_name = ["uprobe:probed:cperf_probed_caller", "uprobe:libprobed:cperf_probed_call"];
    let out = run_ok(&["stat", "-e", by_name[0], "-e", by_name[1], "--json", "--", &program, "100"]);
    let doc = json(&out);
    let counts = &stat_counts(&doc)[&format!("{program} 100")];
    assert_eq!((counts[by_name[0]], counts[by_name[1]]), (1, 100), "{}", describe(&out));
    let notes = doc["targets"][0]["notes"].to_string();
    assert!(
        notes.contains("'libprobed' is ") && notes.contains("/../lib/libprobed.so (cperf_probed_call"),
        "{notes}"
    );
    let survivor: u32 = std::fs::read_to_string(&survivor_pid).unwrap().trim().parse().unwrap();
    let survivor_cgroup = support::cgroup_of(survivor);
    let _ = std::process::Command::new("kill").arg(survivor.to_string()).status();
    let own = support::cgroup_of(std::process::id());
    assert_eq!(survivor_cgroup, own, "the survivor is back where cperf was");
    let leftovers: Vec<String> = std::fs::read_dir(support::cgroup2_root().join(own.trim_start_matches('/')))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("cperf-cmd-"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    // Recording: every return value, with the callers' stacks, named after the process exited.
    let scratch = Scratch::new("command-record");
    let file = scratch.path("c.cperf");
    let ret = format!("uretprobe:{}:cperf_probed_call", probed.lib.display());
    run_ok(&["record", "-g", "-e", &ret, "--retval", "-o", &file, "--", &program, "100"]);
    let out = run_ok(&["report", "-i", &file, "--retval", "--json"]);
    let doc = json(&out);
    let values = value_texts(&doc["targets"][0]["processes"][0]);
    assert_eq!(values, [("0".to_string(), 80), ("-4".to_string(), 10), ("7".to_string(), 10)], "{doc}");
    let folded = String::from_utf8(run_ok(&["report", "-i", &file, "--folded"]).stdout).unwrap();
    assert_eq!(folded.trim(), "probed;__libc_start_call_main;main;cperf_probed_caller 100", "{folded}");
}

/// On the host (`-a`), the probe goes into the host's file: the decoy, called by a host process.
#[test]
fn counts_calls_on_the_host_with_the_hosts_file() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let call = format!("uprobe:{}:cperf_probed_call", site.lib());
    let done = format!("{}/done", site.dir);
    // The host's program (with the decoy library) makes 77 calls while -a counts.
    let script = format!(
        "{}/bin/probed 77 --done {done} & while [ ! -e {done} ]; do sleep 0.01; done; kill $!",
        site.dir
    );
    let out = run_ok(&["stat", "-a", "-e", &call, "--json", "--", "sh", "-c", &script]);
    let counts = stat_counts(&json(&out));
    assert_eq!(counts["all"][&call], 77, "{}", describe(&out));
}

/// Two containers run the very same file (one inode, hard-linked into both roots): `-G` counts
/// only the named container's calls.
#[test]
fn a_file_shared_by_containers_counts_only_the_named_one() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    // Containers a and b, b's library a hard link to a's.
    let shared = |(test_a, n_a): (&str, u64), (test_b, n_b): (&str, u64)| {
        let a = site.container(test_a, n_a, &probed.lib);
        let b_bundle = site.bundle(&probed.lib, n_b);
        let in_b = b_bundle.rootfs().join(&site.lib()[1..]);
        std::fs::remove_file(&in_b).unwrap();
        std::fs::hard_link(a.rootfs().join(&site.lib()[1..]), &in_b).unwrap();
        (a, b_bundle.run_detached(test_b))
    };
    let (a, b) = shared(("uprobe-shared-a", 1000), ("uprobe-shared-b", 300));
    let call = format!("uprobe:{}:cperf_probed_call", site.lib());
    let script = support::go_and_wait_done_script(&[&a, &b]);
    let out = run_ok(&["stat", "-G", a.id(), "-e", &call, "--json", "--", "sh", "-c", &script]);
    assert_eq!(stat_counts(&json(&out))[a.id()][&call], 1000, "{}", describe(&out));
    // Again with both named, each its own count (new containers: the first ones made their calls).
    drop((a, b));
    let (a, b) = shared(("uprobe-shared-a2", 400), ("uprobe-shared-b2", 250));
    let script = support::go_and_wait_done_script(&[&a, &b]);
    let out = run_ok(&["stat", "-G", a.id(), "-G", b.id(), "-e", &call, "--json", "--", "sh", "-c", &script]);
    let counts = stat_counts(&json(&out));
    assert_eq!((counts[a.id()][&call], counts[b.id()][&call]), (400, 250), "{}", describe(&out));
}

/// `record --retval` keeps every call's return value; `report --retval` gives the exact
/// distribution per process, read as the DWARF type says (`int`: -4, not 4294967292) or, in a
/// container whose library has no DWARF, as a guess that reads it the same; `-g` gives the callers.
#[test]
fn return_values_are_recorded_and_reported_exactly() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    let with_dwarf = site.container("uprobe-retval-dwarf", 1000, &probed.lib);
    let stripped = site.container("uprobe-retval-stripped", 500, &probed.stripped_lib);
    let pids = [with_dwarf.init_pid(), stripped.init_pid()];
    let scratch = Scratch::new("retval");
    let file = scratch.path("calls.cperf");
    let event = format!("uretprobe:{}:cperf_probed_call", site.lib());
    let script = support::go_and_wait_done_script(&[&with_dwarf, &stripped]);
    let ids = [with_dwarf.id().to_string(), stripped.id().to_string()];
    run_ok(&[
        "record", "-G", &ids[0], "-G", &ids[1], "-e", &event, "--retval", "-g", "-o", &file, "--", "sh",
        "-c", &script,
    ]);
    drop((with_dwarf, stripped));

    let doc = json(&run_ok(&["report", "-i", &file, "--retval", "--json"]));
    let targets = doc["targets"].as_array().unwrap_or_else(|| panic!("no targets: {doc}"));
    assert_eq!(targets.len(), 2, "{doc}");
    for (t, (n, pid, read_as)) in targets.iter().zip([(1000u64, pids[0], "int"), (500, pids[1], "i32")]) {
        assert_eq!(t["read_as"], read_as, "{t}");
        assert_eq!(t["function"], "cperf_probed_call", "{t}");
        let processes = t["processes"].as_array().unwrap();
        assert_eq!(processes.len(), 1, "{t}");
        assert_eq!(processes[0]["pid"], pid, "{t}");
        assert_eq!(processes[0]["calls"], n, "{t}");
        let values: BTreeMap<i64, u64> = processes[0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["number"].as_i64().unwrap(), v["calls"].as_u64().unwrap()))
            .collect();
        let expected: BTreeMap<i64, u64> = [(0, n * 8 / 10), (-4, n / 10), (7, n / 10)].into_iter().collect();
        assert_eq!(values, expected, "{t}");
    }

    // The text report says the same; the whole register is there when asked for.
    let text = String::from_utf8(run_ok(&["report", "-i", &file, "--retval"]).stdout).unwrap();
    assert!(text.contains("read as int (its DWARF type)"), "{text}");
    let row =
        text.lines().find(|l| l.split_whitespace().next() == Some("-4")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["-4", "100", "10.0%"], "{text}");
    let whole = String::from_utf8(run_ok(&["report", "-i", &file, "--retval=u64"]).stdout).unwrap();
    assert!(whole.lines().any(|l| l.split_whitespace().next() == Some("4294967292")), "{whole}");

    // Every sample's stack: the function returned to its caller, called from main.
    let folded = String::from_utf8(run_ok(&["report", "-i", &file, "--folded"]).stdout).unwrap();
    let callers: u64 = folded
        .lines()
        .filter(|l| l.contains(";main;cperf_probed_caller "))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(callers, 1500, "{folded}");
}

/// A 64-bit return type reads the whole register.
#[test]
fn wide_return_values_use_the_whole_register() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    let c = site.container("uprobe-retval-wide", 100, &probed.lib);
    let scratch = Scratch::new("wide");
    let file = scratch.path("wide.cperf");
    let event = format!("uretprobe:{}:cperf_probed_wide", site.lib());
    let script = c.go_and_wait_done_script();
    run_ok(&["record", "-G", c.id(), "-e", &event, "--retval", "-o", &file, "--", "sh", "-c", &script]);
    let doc = json(&run_ok(&["report", "-i", &file, "--retval", "--json"]));
    let t = &doc["targets"][0];
    assert_eq!(t["read_as"], "long int", "{t}");
    let values = value_texts(&t["processes"][0]);
    assert_eq!(values, [("-1099511627776".to_string(), 25), ("8589934592".to_string(), 25)], "{t}");
}

/// Bad probes and misuse: one line, exit status 2, saying what to do.
#[test]
fn bad_probes_fail_with_one_line_that_says_what_to_do() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    let c = site.container("uprobe-bad", 10, &probed.lib);
    let lib = site.lib();
    let stat = |event: &str| {
        vec!["stat", "-G", c.id(), "-e", event, "--", "true"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let check = |args: Vec<String>, wanted: &[&str]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_one_line_error(&args, wanted);
    };
    check(
        stat(&format!("uprobe:{lib}:cperf_probed")),
        &["no function 'cperf_probed'", "did you mean", "cperf_probed_call", "cperf_probed_wide"],
    );
    check(stat(&format!("uprobe:{lib}:no_such_thing")), &["no function 'no_such_thing'", "nm -D"]);
    check(stat(&format!("uprobe:{}/lib/missing.so:f", site.dir)), &["cannot open", "missing.so", c.id()]);
    check(stat(&format!("uprobe:{}/bin/probed:0xzz", site.dir)), &["0xzz"]);
    // A return probe past a function's first instruction would corrupt the traced stack.
    check(stat(&format!("uretprobe:{lib}:cperf_probed_call+0x4")), &["first instruction", "uretprobe:"]);
    check(stat(&format!("uretprobe:{lib}:0x1")), &["no function", "starts at file offset 0x1"]);
    check(stat("uprobe:lib/relative.so:f"), &["uprobe:/usr/lib/libfoo.so:func"]);
    // Per-task targets cannot carry probes (the kernel would fail their forks).
    let pid = c.init_pid().to_string();
    check(
        ["stat", "-p", &pid, "-e", &format!("uprobe:{lib}:cperf_probed_call"), "--", "true"]
            .map(String::from)
            .to_vec(),
        &["-G pid:"],
    );
    // A container with no process has no root to find the file through.
    let empty = format!("cperf-test-uprobe-empty-{}", std::process::id());
    let empty_dir = support::cgroup2_root().join(&empty);
    std::fs::create_dir(&empty_dir).unwrap();
    let empty_spec = format!("/{empty}");
    let event = format!("uprobe:{lib}:cperf_probed_call");
    let out = run_cperf(&["stat", "-G", &empty_spec, "-e", &event, "--", "true"]);
    std::fs::remove_dir(&empty_dir).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains("has no process") && err.contains("start it first"), "{err}");
    let scratch = Scratch::new("bad");
    let file = scratch.path("x.cperf");
    check(
        [
            "record",
            "-G",
            c.id(),
            "-e",
            &format!("uprobe:{lib}:cperf_probed_call"),
            "--retval",
            "-o",
            &file,
            "--",
            "true",
        ]
        .map(String::from)
        .to_vec(),
        &["--retval needs a return probe", "uretprobe:"],
    );
    // A recording without return values.
    run_ok(&[
        "record",
        "-G",
        c.id(),
        "-e",
        &format!("uprobe:{lib}:cperf_probed_call"),
        "-o",
        &file,
        "--",
        "true",
    ]);
    check(["report", "-i", &file, "--retval"].map(String::from).to_vec(), &["no return values", "--retval"]);
    check(["report", "-i", &file, "--retval=float"].map(String::from).to_vec(), &["i32", "hex"]);
}

/// A probe inside an instruction would have the kernel write its breakpoint over the middle of it
/// and crash the program: `cperf_probed_insn` (a 10-byte `movabs` at +0x0, a 3-byte `lea` at
/// +0xa, `ret` at +0xd) probed inside an instruction, by function and offset, by name, or by raw
/// file offset, is refused with the boundaries around it, and nothing is placed; the program
/// keeps running, and probes at boundaries count its calls exactly.
#[cfg(target_arch = "x86_64")]
#[test]
fn offsets_inside_an_instruction_are_refused() {
    if !support::privileged() {
        return;
    }
    let site = Site::new();
    let probed = support::probed_fixture();
    let c = site.container("uprobe-boundary", 400, &probed.lib);
    let lib = site.lib();
    let data = std::fs::read(&probed.lib).unwrap();
    let insn = symbolizer::probe_location(&data, "cperf_probed_insn").unwrap().offset;
    let stat = |event: &str| ["stat", "-G", c.id(), "-e", event, "--", "true"].map(String::from);
    let check = |args: [String; 7], wanted: &[&str]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_one_line_error(&args, wanted);
    };
    // Placed, this probe turns the movabs into garbage and the program dies of SIGSEGV while the
    // script waits for it (and times out): refused, the script is not even started.
    let script = c.go_and_wait_done_script();
    let event = format!("uprobe:{lib}:cperf_probed_insn+0x1");
    assert_one_line_error(
        &["stat", "-G", c.id(), "-e", &event, "--", "sh", "-c", &script],
        &[
            "cperf_probed_insn+0x1 is inside an instruction",
            "cperf_probed_insn+0x0 and cperf_probed_insn+0xa",
        ],
    );
    assert!(!c.rootfs().join("tmp/go").exists(), "the command ran");
    check(
        stat(&format!("uprobe:{lib}:cperf_probed_insn+0x5")),
        &[
            "cperf_probed_insn+0x5 is inside an instruction",
            "boundaries are cperf_probed_insn+0x0 and cperf_probed_insn+0xa",
        ],
    );
    check(
        stat("uprobe:libprobed:cperf_probed_insn+12"),
        &[
            "cperf_probed_insn+0xc is inside an instruction",
            "cperf_probed_insn+0xa and cperf_probed_insn+0xd",
        ],
    );
    check(
        stat(&format!("uprobe:{lib}:{:#x}", insn + 3)),
        &[
            &format!("file offset {:#x} (cperf_probed_insn+0x3) is inside an instruction", insn + 3),
            &format!("file offset {insn:#x} (cperf_probed_insn+0x0) and file offset {:#x}", insn + 10),
        ],
    );
    check(stat(&format!("uprobe:{lib}:cperf_probed_insn+0x40")), &["past the end of the function"]);
    // Not code at all: the ELF header.
    check(stat(&format!("uprobe:{lib}:0x2")), &["not in the file's code"]);
    // Nothing was placed: the program runs on, and the boundaries count exactly (400 / 4 calls).
    let at_lea = format!("uprobe:{lib}:cperf_probed_insn+0xa");
    let at_ret = format!("uprobe:{lib}:{:#x}", insn + 13);
    let out =
        run_ok(&["stat", "-G", c.id(), "-e", &at_lea, "-e", &at_ret, "--json", "--", "sh", "-c", &script]);
    let expected: BTreeMap<String, u64> =
        [(at_lea.clone(), 100), (at_ret.clone(), 100)].into_iter().collect();
    assert_eq!(stat_counts(&json(&out))[c.id()], expected, "{}", describe(&out));
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.init_pid())).unwrap();
    let state = status.lines().find(|l| l.starts_with("State:")).unwrap_or_default().to_string();
    assert!(!state.contains("zombie") && !state.contains("dead"), "the program died: {state}");
}
