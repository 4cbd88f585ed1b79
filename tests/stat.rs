//! Integration tests of `cperf stat` against real runc containers.
//!
//! Most tests start a container running the `getppid` fixture, which waits for `/tmp/go`, makes exactly N
//! getppid syscalls, creates `/tmp/done` and sleeps. `cperf stat -G <container> ... -- sh -c <script>`
//! uses a host script that creates `go` and waits for `done` as its timer, so the exact count is known.
//! Every test starts its own containers, so they run in parallel. Tests that need root return early
//! (printing `skipped: ...`) unless the host is privileged; `CPERF_REQUIRE_PRIVILEGED=1` makes that fatal.
//! The `harness_*` tests check the harness itself, independently of cperf.

mod support;

use std::process::Output;

use serde_json::Value;
use support::{Bundle, Container};

const N: u64 = 12345;
const ENTER: &str = "syscalls:sys_enter_getppid";
const EXIT: &str = "syscalls:sys_exit_getppid";

/// A container that makes `n` getppid calls once `/tmp/go` exists, then creates `/tmp/done` and sleeps.
/// A bundle whose container makes exactly `n` getppid calls once `/tmp/go` exists in its root, then
/// creates `/tmp/done` and sleeps.
fn getppid_bundle(n: u64) -> Bundle {
    Bundle::new().with_fixture("getppid").args(&[
        "/bin/getppid",
        &n.to_string(),
        "--wait-for",
        "/tmp/go",
        "--done",
        "/tmp/done",
        "--then-sleep",
        "1000",
    ])
}

fn getppid_container(test: &str, n: u64) -> Container {
    getppid_bundle(n).run_detached(test)
}

/// Runs `cperf stat <args>` and returns its output, whatever the exit status.
fn cperf_stat(args: &[&str]) -> Output {
    support::run(support::cperf().arg("stat").args(args))
}

/// Runs `cperf stat <args>` (which must include `--json`), asserts success and parses stdout.
fn cperf_stat_json(args: &[&str]) -> Value {
    let out = cperf_stat(args);
    assert!(out.status.success(), "cperf stat {args:?} failed: {}", support::describe(&out));
    parse_json(&out)
}

fn parse_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", support::describe(out)))
}

/// The entry of `targets` whose `target` is `target` (as given on the command line).
fn target<'a>(json: &'a Value, target: &str) -> &'a Value {
    let targets = json["targets"].as_array().unwrap_or_else(|| panic!("no `targets` array in {json}"));
    targets
        .iter()
        .find(|t| t["target"] == target)
        .unwrap_or_else(|| panic!("no target {target:?} in {}", names(targets, "target")))
}

/// The entry for `event` in a target's `events`.
fn event<'a>(target: &'a Value, event: &str) -> &'a Value {
    let events = target["events"].as_array().unwrap_or_else(|| panic!("no `events` array in {target}"));
    events.iter().find(|e| e["event"] == event).unwrap_or_else(|| {
        panic!("no event {event:?} in target {}: {}", target["target"], names(events, "event"))
    })
}

/// The count of `ev` for `tgt`, checking the entry's shape on the way.
fn count(json: &Value, tgt: &str, ev: &str) -> u64 {
    let entry = event(target(json, tgt), ev);
    let count = entry["count"].as_u64().unwrap_or_else(|| panic!("no integer count in {entry}"));
    let enabled = entry["enabled_ns"].as_u64().unwrap_or_else(|| panic!("no enabled_ns in {entry}"));
    let running = entry["running_ns"].as_u64().unwrap_or_else(|| panic!("no running_ns in {entry}"));
    assert!(running <= enabled, "running_ns > enabled_ns in {entry}");
    if count > 0 {
        assert!(running > 0, "a counted event has running_ns 0: {entry}");
    }
    count
}

fn names(items: &[Value], key: &str) -> String {
    let names: Vec<String> = items.iter().map(|i| i[key].to_string()).collect();
    if names.len() > 20 {
        format!("[{} ... {} entries]", names[..20].join(", "), names.len())
    } else {
        format!("[{}]", names.join(", "))
    }
}

/// Asserts the JSON target for `given` resolved to the container's cgroup.
fn assert_cgroup(json: &Value, given: &str, container: &Container) {
    let cgroup = target(json, given)["cgroup"].as_str().unwrap_or_else(|| panic!("no cgroup in {json}"));
    assert_eq!(cgroup.trim_start_matches('/'), container.cgroup(), "cgroup of target {given:?}");
}

/// `cperf stat -G <given> -e <events...> --json [extra...] -- sh -c <go and wait done>` against a fresh
/// getppid container; returns the JSON and checks the target's cgroup.
fn count_getppid_via(container: &Container, given: &str, events: &[&str], extra: &[&str]) -> Value {
    let script = container.go_and_wait_done_script();
    let mut args = vec!["-G", given];
    for ev in events {
        args.extend(["-e", ev]);
    }
    args.push("--json");
    args.extend(extra);
    args.extend(["--", "sh", "-c", &script]);
    let json = cperf_stat_json(&args);
    assert_cgroup(&json, given, container);
    assert!(json["duration_ns"].as_u64().is_some_and(|d| d > 0), "no positive duration_ns in {json}");
    json
}

// --- harness self-tests ----------------------------------------------------------------------------------

#[test]
fn harness_parses_perf_csv() {
    let csv = "# started on Sun Nov 22 22:36:20 2026\n\n\
               12345,,syscalls:sys_enter_getppid,t2,1199350,100.00,,\n\
               <not counted>,,syscalls:sys_exit_getppid,t2,0,100.00,,\n\
               777,,syscalls:sys_enter_getppid:u,245750,100.00,,\n\
               Some warning, with commas\n";
    let counts = support::parse_perf_csv(csv);
    assert_eq!(counts.get(ENTER), Some(&Some(12345)));
    assert_eq!(counts.get(EXIT), Some(&None));
    assert_eq!(counts.get("syscalls:sys_enter_getppid:u"), Some(&Some(777)));
    assert_eq!(counts.len(), 3, "{counts:?}");
}

#[test]
fn harness_builds_fixtures() {
    for name in ["getppid", "spin"] {
        let path = support::fixture(name);
        assert!(path.is_file(), "{} missing", path.display());
        assert!(path.starts_with(support::target_dir().join("fixtures")), "{}", path.display());
    }
    let out = support::run(std::process::Command::new(support::fixture("getppid")).arg("3"));
    assert!(out.status.success(), "{}", support::describe(&out));
    let out = support::run(std::process::Command::new(support::fixture("getppid")).arg("nonsense"));
    assert_eq!(out.status.code(), Some(2), "bad usage must exit 2: {}", support::describe(&out));
}

#[test]
fn harness_container_lives_in_its_own_cgroup() {
    if !support::privileged() {
        return;
    }
    let root = support::cgroup2_root();
    let container = Bundle::new().run_detached("harness-cgroup");
    assert_eq!(container.status(), "running");
    assert!(!container.cgroup().is_empty(), "container in the root cgroup");
    let dir = container.cgroup_dir();
    assert!(dir.starts_with(&root) && dir.is_dir(), "{} is not a cgroup directory", dir.display());
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|p| p == container.init_pid().to_string()),
        "init pid {} not in {}/cgroup.procs: {procs}",
        container.init_pid(),
        dir.display()
    );
    let bundle = container.bundle_dir().to_owned();
    container.kill();
    assert_eq!(container.status(), "stopped");
    assert!(dir.is_dir(), "runc removed the cgroup before delete");
    drop(container);
    assert!(!dir.exists(), "{} still exists after runc delete", dir.display());
    assert!(!bundle.exists(), "{} still exists after drop", bundle.display());
}

/// perf itself must see exactly N getppid calls in the container's cgroup: validates the fixture, the
/// container and the go/done protocol independently of cperf.
#[test]
fn harness_perf_counts_fixture_exactly() {
    if !support::privileged() || !support::perf_available() {
        return;
    }
    let c = getppid_container("harness-perf", N);
    let script = c.go_and_wait_done_script();
    let perf = support::perf_stat_cgroup(&[ENTER, EXIT], c.cgroup(), &["sh", "-c", &script]);
    assert_eq!(perf.counts.get(ENTER), Some(&Some(N)), "{}", perf.csv);
    assert_eq!(perf.counts.get(EXIT), Some(&Some(N)), "{}", perf.csv);
}

// --- a. exact counts, by every way of naming the container ---------------------------------------------

#[test]
fn exact_count_by_container_id() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container("by-id", N);
    let json = count_getppid_via(&c, c.id(), &[ENTER], &[]);
    assert_eq!(count(&json, c.id(), ENTER), N);
}

/// A getppid container whose cgroup (`linux.cgroupsPath`) is not named after its id, so that naming
/// it by cgroup path cannot silently fall back to the container id.
fn getppid_container_in_own_cgroup(test: &str, n: u64) -> Container {
    let cgroup = support::unique_id("cgpath");
    let c = getppid_bundle(n).cgroups_path(&format!("/{cgroup}")).run_detached(test);
    assert_eq!(c.cgroup(), cgroup, "runc ignored linux.cgroupsPath");
    assert_ne!(c.cgroup(), c.id());
    c
}

#[test]
fn exact_count_by_relative_cgroup_path() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container_in_own_cgroup("by-cgroup", N);
    let given = c.cgroup().to_owned();
    let json = count_getppid_via(&c, &given, &[ENTER], &[]);
    assert_eq!(count(&json, &given, ENTER), N);
}

#[test]
fn exact_count_by_absolute_cgroup_path() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container_in_own_cgroup("by-abs-cgroup", N);
    let given = c.cgroup_dir().display().to_string();
    let json = count_getppid_via(&c, &given, &[ENTER], &[]);
    assert_eq!(count(&json, &given, ENTER), N);
}

#[test]
fn exact_count_by_init_pid() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container("by-pid", N);
    let given = format!("pid:{}", c.init_pid());
    let json = count_getppid_via(&c, &given, &[ENTER], &[]);
    assert_eq!(count(&json, &given, ENTER), N);
}

#[test]
fn exact_count_by_unique_id_prefix() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container("by-prefix", N);
    // `cperf-by-prefix-<pid>-<n>` minus its last character: unique, since it names this process's only
    // by-prefix container.
    let given = c.id()[..c.id().len() - 1].to_owned();
    let json = count_getppid_via(&c, &given, &[ENTER], &[]);
    assert_eq!(count(&json, &given, ENTER), N);
}

// --- b. syscall globs, with and without the BPF aggregation --------------------------------------------

#[test]
fn all_syscalls_glob_with_bpf_counts_exactly() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container("glob-bpf", N);
    let json = count_getppid_via(&c, c.id(), &["syscalls:*"], &[]);
    assert_eq!(count(&json, c.id(), ENTER), N);
    assert_eq!(count(&json, c.id(), EXIT), N);
    // The syscall events were counted by the BPF program, not by the per-tracepoint fallback.
    let bpf_events = json["bpf_events"].as_u64().unwrap();
    assert!(bpf_events > 600, "only {bpf_events} events counted by BPF: {:?}", json["notes"]);
    // Zero-count events are listed too: every syscall tracepoint is there.
    let listed = target(&json, c.id())["events"].as_array().unwrap().len();
    assert!(listed > 100, "only {listed} events listed for syscalls:*");
}

/// The slow one (~25 s): ~700 tracepoint perf events are closed one RCU grace period each.
#[test]
fn all_syscalls_glob_without_bpf_counts_exactly() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container("glob-nobpf", N);
    let json = count_getppid_via(&c, c.id(), &["syscalls:*"], &["--no-bpf"]);
    assert_eq!(count(&json, c.id(), ENTER), N);
    assert_eq!(count(&json, c.id(), EXIT), N);
    assert_eq!(json["bpf_events"], 0);
}

#[test]
fn narrow_glob_gives_identical_counts_with_and_without_bpf() {
    if !support::privileged() {
        return;
    }
    let globs = ["syscalls:sys_enter_get*", "syscalls:sys_exit_get*"];
    let with_bpf = getppid_container("narrow-bpf", N);
    let without_bpf = getppid_container("narrow-nobpf", N);
    let a = count_getppid_via(&with_bpf, with_bpf.id(), &globs, &[]);
    let b = count_getppid_via(&without_bpf, without_bpf.id(), &globs, &["--no-bpf"]);
    assert!(a["bpf_events"].as_u64().unwrap() >= 16, "BPF not used: {:?}", a["notes"]);
    assert_eq!(b["bpf_events"], 0);
    for ev in [ENTER, EXIT] {
        assert_eq!(count(&a, with_bpf.id(), ev), N, "{ev} with BPF");
        assert_eq!(count(&b, without_bpf.id(), ev), N, "{ev} without BPF");
    }
    // Both paths expand the globs to the same event list.
    let events = |json: &Value, id: &str| -> Vec<String> {
        let mut v: Vec<String> = target(json, id)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(events(&a, with_bpf.id()), events(&b, without_bpf.id()));
}

// --- c. perf as the oracle ------------------------------------------------------------------------------

/// perf and cperf count the same window at once: perf's timer command is cperf, whose timer command
/// releases the workload.
#[test]
fn cperf_agrees_with_perf() {
    if !support::privileged() || !support::perf_available() {
        return;
    }
    let c = getppid_container("perf-oracle", N);
    let script = c.go_and_wait_done_script();
    let cmd = [support::cperf_path(), "stat", "-G", c.id(), "-e", ENTER, "--json", "--", "sh", "-c", &script];
    let perf = support::perf_stat_cgroup(&[ENTER], c.cgroup(), &cmd);
    let json = parse_json(&perf.output);
    let perf_count = perf.counts.get(ENTER).copied().flatten();
    assert_eq!(perf_count, Some(N), "perf: {}", perf.csv);
    assert_eq!(count(&json, c.id(), ENTER), N, "cperf");
}

/// The most enabled or running time an event can have over a window of `window_ns` on `ncpus` CPUs:
/// the window on each, give or take the two clocks' drift (1 ms and 0.1% per CPU, as cperf allows).
fn possible_limit(window_ns: u64, ncpus: u64) -> u64 {
    (window_ns + window_ns / 1000 + 1_000_000) * ncpus
}

/// Enabled and running times are possible: no more than the window on every CPU, the same for every
/// event of one window, and of perf's order of magnitude. A container keeps both CPUs busy so that,
/// when cperf enables its first cgroup event on a CPU, a container task is almost always the one
/// running there; cperf used to enable from another CPU, and the kernel then charged the first event
/// with the time since the container last ran under perf (the uptime for a new container, the pause
/// between runs after that). Each run follows a pause of 1 s, longer than a window on every CPU.
#[test]
fn running_and_enabled_times_fit_the_window() {
    if !support::privileged() || !support::perf_available() {
        return;
    }
    let c = Bundle::new()
        .args(&["sh", "-c", "spin() { while :; do :; done; }; spin & spin & spin"])
        .run_detached("times");
    let ncpus = std::thread::available_parallelism().unwrap().get() as u64;
    let events = [ENTER, "syscalls:sys_exit_pause", "cs"];
    let mut longest_running = 0;
    for run in 0..4 {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let json = cperf_stat_json(&["-G", c.id(), "-e", &events.join(","), "--json", "--duration", "0.3"]);
        let window = json["duration_ns"].as_u64().unwrap();
        let limit = possible_limit(window, ncpus);
        let entries = target(&json, c.id())["events"].as_array().unwrap().clone();
        assert_eq!(entries.len(), events.len(), "{json}");
        for e in &entries {
            let (enabled, running) = (e["enabled_ns"].as_u64().unwrap(), e["running_ns"].as_u64().unwrap());
            assert!(
                enabled <= limit && running <= limit,
                "run {run}: more than {window} ns on each of {ncpus} CPUs: {e}"
            );
            longest_running = longest_running.max(running);
        }
        // One window for all: the events were enabled and disabled together.
        let first = entries[0]["enabled_ns"].as_u64().unwrap();
        for e in &entries[1..] {
            let enabled = e["enabled_ns"].as_u64().unwrap();
            assert!(first.abs_diff(enabled) <= window / 10, "run {run}: events disagree: {entries:?}");
        }
    }
    // perf's running time for the same kind of window (its 4th CSV field after the count).
    let perf = support::perf_stat_cgroup(&events, c.cgroup(), &["sleep", "0.3"]);
    let perf_running: u64 = perf
        .csv
        .lines()
        .filter_map(|l| l.split(',').nth(4)?.parse().ok())
        .max()
        .unwrap_or_else(|| panic!("no running time in perf's output: {}", perf.csv));
    assert!(
        longest_running <= perf_running * 10 && perf_running <= longest_running * 10,
        "cperf's longest running time {longest_running} ns, perf's {perf_running} ns"
    );
}

/// cperf counting the cgroup it runs in: the kernel's time error remains there (cperf's own task is
/// the one in the cgroup when the first event starts), so cperf holds each CPU's times to the window
/// and says so. Three runs, each after a pause longer than the window on every CPU.
#[test]
fn counting_its_own_cgroup_gives_possible_times() {
    if !support::privileged() {
        return;
    }
    let name = support::unique_id("own-cgroup");
    let dir = support::cgroup2_root().join(&name);
    std::fs::create_dir(&dir).unwrap();
    let ncpus = std::thread::available_parallelism().unwrap().get() as u64;
    let script = format!(
        "echo $$ > '{}/cgroup.procs' && exec '{}' stat -G '{}' -e {ENTER},cs --json --duration 0.3",
        dir.display(),
        support::cperf_path(),
        dir.display()
    );
    let mut results = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_secs(1));
        results.push(support::run(std::process::Command::new("sh").args(["-c", &script])));
    }
    std::fs::remove_dir(&dir).unwrap();
    for out in results {
        assert!(out.status.success(), "{}", support::describe(&out));
        let json = parse_json(&out);
        let window = json["duration_ns"].as_u64().unwrap();
        let t = &json["targets"][0];
        for e in t["events"].as_array().unwrap() {
            let (enabled, running) = (e["enabled_ns"].as_u64().unwrap(), e["running_ns"].as_u64().unwrap());
            let limit = possible_limit(window, ncpus);
            assert!(
                enabled <= limit && running <= limit,
                "more than {window} ns on each of {ncpus} CPUs: {e}"
            );
        }
        let capped = t["events"].as_array().unwrap().iter().filter(|e| e["times_capped"] == true).count();
        if capped > 0 {
            let notes = t["notes"].to_string();
            assert!(notes.contains(&format!("whole window for {capped} event(s)")), "{notes}");
        }
    }
}

// --- d. isolation ---------------------------------------------------------------------------------------

#[test]
fn two_containers_get_their_own_counts() {
    if !support::privileged() {
        return;
    }
    let (na, nb) = (1000, 23456);
    let a = getppid_container("iso-a", na);
    let b = getppid_container("iso-b", nb);
    let script = support::go_and_wait_done_script(&[&a, &b]);
    let json =
        cperf_stat_json(&["-G", a.id(), "-G", b.id(), "-e", ENTER, "--json", "--", "sh", "-c", &script]);
    assert_eq!(json["targets"].as_array().unwrap().len(), 2, "{json}");
    assert_cgroup(&json, a.id(), &a);
    assert_cgroup(&json, b.id(), &b);
    assert_eq!(count(&json, a.id(), ENTER), na);
    assert_eq!(count(&json, b.id(), ENTER), nb);
}

// --- e. a container that exits during the window --------------------------------------------------------

#[test]
fn container_killed_during_window_still_reported() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container("killed", N);
    let runc = support::runc_path().unwrap();
    // Killed, then deleted: its processes and its cgroup are gone before the window ends.
    let script = format!(
        "{} {runc} kill {id} KILL; sleep 0.2; {runc} delete -f {id}; sleep 0.1",
        c.go_and_wait_done_script(),
        runc = runc.display(),
        id = c.id()
    );
    let json = cperf_stat_json(&["-G", c.id(), "-e", ENTER, "--json", "--", "sh", "-c", &script]);
    assert!(!c.cgroup_dir().exists(), "the timer script did not delete the container");
    assert_eq!(count(&json, c.id(), ENTER), N);
    let notes = target(&json, c.id())["notes"].to_string();
    assert_eq!(
        notes.matches("exited during the window").count(),
        1,
        "one note that the container exited: {notes}"
    );
}

// --- f. errors ------------------------------------------------------------------------------------------

fn assert_one_line_error(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what}: expected failure, got {}", support::describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert_eq!(
        stderr.lines().count(),
        1,
        "{what}: expected a one-line error, got {}",
        support::describe(out)
    );
    stderr
}

#[test]
fn unknown_container_is_a_one_line_error() {
    if !support::privileged() {
        return;
    }
    let missing = format!("cperf-no-such-container-{}", std::process::id());
    let out = cperf_stat(&["-G", &missing, "-e", ENTER, "--", "true"]);
    let stderr = assert_one_line_error(&out, "unknown container");
    assert!(stderr.contains("cperf containers"), "error should point to `cperf containers`: {stderr}");
}

#[test]
fn unknown_event_is_a_one_line_error_naming_it() {
    if !support::privileged() {
        return;
    }
    let bogus = "syscalls:sys_enter_nosuchcall";
    let out = cperf_stat(&["-e", bogus, "--", "true"]);
    let stderr = assert_one_line_error(&out, "unknown event");
    assert!(stderr.contains(bogus), "error should name {bogus}: {stderr}");
}

#[test]
fn malformed_pid_target_is_a_one_line_error() {
    if !support::privileged() {
        return;
    }
    let out = cperf_stat(&["-G", "pid:notapid", "-e", ENTER, "--", "true"]);
    let stderr = assert_one_line_error(&out, "bad -G syntax");
    assert!(stderr.contains("pid:notapid"), "error should quote the bad target: {stderr}");
}

/// Without privilege the error explains perf_event_paranoid and the capabilities, in one line.
#[test]
fn permission_denied_explains_what_to_do() {
    if !support::privileged() {
        return;
    }
    // `nobody` may not count system-wide unless perf_event_paranoid is -1.
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").unwrap();
    assert!(paranoid.trim().parse::<i32>().unwrap() > -1, "this test needs perf_event_paranoid > -1");
    let out = support::run(std::process::Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        support::cperf_path(),
        "stat",
        "-a",
        "-e",
        "cs",
        "--",
        "true",
    ]));
    let stderr = assert_one_line_error(&out, "permission denied");
    for needle in ["perf_event_paranoid", "CAP_PERFMON", "--pid=host"] {
        assert!(stderr.contains(needle), "error should mention {needle}: {stderr}");
    }
}

/// Hardware events count where a PMU exists; elsewhere (most VMs) the error names the software event to use.
#[test]
fn hardware_event_counts_or_names_the_software_alternative() {
    if !support::privileged() {
        return;
    }
    let out = cperf_stat(&["-e", "cycles", "--json", "--", "true"]);
    if out.status.success() {
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let cycles = json["targets"][0]["events"][0]["count"].as_u64().unwrap();
        assert!(cycles > 0, "cycles counted 0 for `true`: {}", support::describe(&out));
    } else {
        let stderr = assert_one_line_error(&out, "no PMU");
        assert!(stderr.contains("cpu-clock"), "error should name cpu-clock: {stderr}");
    }
}

/// More perf events than RLIMIT_NOFILE allows: the soft limit is raised and counting goes on.
#[test]
fn low_open_file_limit_is_raised() {
    if !support::privileged() {
        return;
    }
    let script = format!(
        "ulimit -Sn 24 && exec {} stat --no-bpf -a -e 'syscalls:sys_enter_get*' --json -- true",
        support::cperf_path()
    );
    let out = support::run(std::process::Command::new("sh").args(["-c", &script]));
    assert!(out.status.success(), "{}", support::describe(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = json["targets"][0]["events"].as_array().unwrap();
    assert!(events.len() >= 20, "only {} events: {}", events.len(), support::describe(&out));
}

#[test]
fn missing_command_is_a_one_line_error() {
    if !support::privileged() {
        return;
    }
    let out = cperf_stat(&["-e", "cs", "--", "/nonexistent/cperf-no-such-command"]);
    let stderr = assert_one_line_error(&out, "missing command");
    assert!(stderr.contains("/nonexistent/cperf-no-such-command"), "{stderr}");
}

// --- g. human output ------------------------------------------------------------------------------------

#[test]
fn human_output_has_separators_and_cpu_usage() {
    if !support::privileged() {
        return;
    }
    let c = getppid_bundle(N).cpu_quota(50_000, 100_000).run_detached("human");
    let script = c.go_and_wait_done_script();
    let out = cperf_stat(&["-G", c.id(), "-e", "syscalls:sys_enter_get*", "--", "sh", "-c", &script]);
    assert!(out.status.success(), "{}", support::describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("sys_enter_getppid") && l.contains("12,345")),
        "no `12,345 ... sys_enter_getppid` line: {}",
        support::describe(&out)
    );
    // The container's quota (runc puts it in the v1 cpu hierarchy on this hybrid host, in cpu.max on a
    // pure cgroup v2 one) must be found, with real throttling counts.
    let cpu_line = stdout.lines().find(|l| l.trim_start().starts_with("CPU:")).unwrap_or_else(|| {
        panic!("no CPU line: {}", support::describe(&out));
    });
    assert!(cpu_line.contains("limit 0.50 CPUs"), "{cpu_line}");
    assert!(cpu_line.contains(" periods, "), "throttling not read: {cpu_line}");
}

/// A CPU-bound container limited to 0.2 CPU is throttled, and its usage over the window is about 0.2 CPU.
#[test]
fn throttling_of_a_cpu_bound_container_is_reported() {
    if !support::privileged() {
        return;
    }
    let c = Bundle::new()
        .with_fixture("spin")
        .args(&["/bin/spin", "1000"])
        .cpu_quota(20_000, 100_000)
        .run_detached("throttle");
    let out = cperf_stat(&["-G", c.id(), "-e", "cs", "--json", "--duration", "1"]);
    assert!(out.status.success(), "{}", support::describe(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cpu = &target(&json, c.id())["cpu"];
    assert_eq!(cpu["throttling_known"], true, "{cpu}");
    assert_eq!(cpu["limit_cpus"].as_f64(), Some(0.2), "{cpu}");
    let periods = cpu["nr_periods"].as_u64().unwrap();
    let throttled = cpu["nr_throttled"].as_u64().unwrap();
    assert!(periods >= 8 && throttled >= periods / 2, "throttled {throttled} of {periods} periods: {cpu}");
    let used_s = cpu["usage_usec"].as_u64().unwrap() as f64 / 1e6;
    assert!((0.1..0.35).contains(&used_s), "used {used_s} s of CPU in 1 s at a 0.2 CPU limit: {cpu}");
}

// --- g2. separated values as perf prints them ---------------------------------------------------------

/// `perf stat -x, <args> -- sleep <secs>`: its lines (perf writes them to stderr), comments dropped.
fn perf_separated(args: &[&str], secs: &str) -> Vec<String> {
    let out = support::run(
        std::process::Command::new("perf").args(["stat", "-x,"]).args(args).args(["--", "sleep", secs]),
    );
    assert!(out.status.success(), "perf stat {args:?}: {}", support::describe(&out));
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Compares cperf's `-x,` lines with perf's for the same events, column by column: same number of
/// columns, the same units, event names, percentages, metric units, and interval times formatted alike.
fn assert_same_columns(ours: &[String], theirs: &[String], interval: bool) {
    let skip = usize::from(interval);
    let event = |line: &str| line.split(',').nth(skip + 2).unwrap_or_default().to_owned();
    let events = |lines: &[String]| lines.iter().map(|l| event(l)).collect::<std::collections::BTreeSet<_>>();
    assert!(
        !ours.is_empty() && events(ours) == events(theirs),
        "cperf:\n{}\nperf:\n{}",
        ours.join("\n"),
        theirs.join("\n")
    );
    let time = |f: &str| {
        f.len() == 16
            && f.trim_start().split_once('.').is_some_and(|(s, ns)| s.parse::<u64>().is_ok() && ns.len() == 9)
    };
    // Each of our lines against perf's first line for the same event (how many intervals each
    // printed depends on timing).
    for o in ours {
        let t = theirs.iter().find(|t| event(t) == event(o)).unwrap();
        let (of, tf): (Vec<&str>, Vec<&str>) = (o.split(',').collect(), t.split(',').collect());
        assert_eq!(of.len(), tf.len(), "columns of\n cperf {o}\n perf  {t}");
        if interval {
            assert!(time(of[0]) && time(tf[0]), "interval times of\n cperf {o}\n perf  {t}");
        }
        // count: a number (with 2 decimals for msec) or <not counted> in both.
        let kind = |count: &str, unit: &str| match count {
            "<not counted>" => "not counted",
            c if unit == "msec" && c.split_once('.').is_some_and(|(_, d)| d.len() == 2) => "msec",
            c if c.parse::<u64>().is_ok() => "integer",
            _ => "other",
        };
        assert_eq!(
            kind(of[skip], of[skip + 1]),
            kind(tf[skip], tf[skip + 1]),
            "counts of\n cperf {o}\n perf  {t}"
        );
        assert_eq!(
            of[skip + 1..skip + 3],
            tf[skip + 1..skip + 3],
            "unit and event of\n cperf {o}\n perf  {t}"
        );
        let n = of.len();
        if n == skip + 8 {
            assert_eq!(
                of[skip + 3].trim_start_matches('/'),
                tf[skip + 3],
                "cgroup of\n cperf {o}\n perf  {t}"
            );
        }
        assert!(of[n - 4].parse::<u64>().is_ok(), "running_ns of {o}");
        assert_eq!(of[n - 3], tf[n - 3], "percent running of\n cperf {o}\n perf  {t}");
        let per = |u: &str| u.trim_start_matches(['K', 'M', 'G']).to_owned();
        assert_eq!(per(of[n - 1]), per(tf[n - 1]), "metric unit of\n cperf {o}\n perf  {t}");
    }
}

/// `-x` prints perf's columns for a container (`-G`: with the cgroup column), with and without `-I`.
#[test]
fn separated_values_have_perf_columns() {
    if !support::privileged() || !support::perf_available() {
        return;
    }
    let c = Bundle::new().args(&["sh", "-c", "while :; do sleep 0.01; done"]).run_detached("csv");
    let events = "task-clock,context-switches,syscalls:sys_enter_getppid";
    let cgroups = [c.cgroup().trim_start_matches('/'); 3].join(",");
    let cperf = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["-G", c.id(), "-e", events, "-x", ","];
        args.extend(extra);
        let out = cperf_stat(&args);
        assert!(out.status.success(), "{}", support::describe(&out));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    };
    let ours = cperf(&["--duration", "0.5"]);
    let theirs = perf_separated(&["-e", events, "-G", &cgroups, "-a"], "0.5");
    assert_same_columns(&ours, &theirs, false);
    // With -I: whole intervals and the last, partial one, each line shaped as perf shapes it.
    let ours = cperf(&["-I", "200", "--duration", "0.5"]);
    let theirs = perf_separated(&["-e", events, "-G", &cgroups, "-a", "-I", "200"], "0.5");
    assert_same_columns(&ours, &theirs, true);
}

/// Without `-G` (a process) there is no cgroup column, as in perf.
#[test]
fn separated_values_for_a_process_have_perf_columns() {
    if !support::privileged() || !support::perf_available() {
        return;
    }
    // A process that runs all along: a sleeping one may not run at all in a window, and then perf
    // prints `<not counted>` for it or not depending on a wakeup, which made this test flaky.
    let mut sleeper = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
    let pid = sleeper.id().to_string();
    let events = "task-clock,context-switches";
    let out = cperf_stat(&["-p", &pid, "-e", events, "-x", ",", "--duration", "0.3"]);
    let ours: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    let theirs = perf_separated(&["-e", events, "-p", &pid], "0.3");
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert!(out.status.success(), "{}", support::describe(&out));
    assert_same_columns(&ours, &theirs, false);
}

// --- h. interval mode -----------------------------------------------------------------------------------

#[test]
fn interval_mode_prints_several_blocks() {
    if !support::privileged() {
        return;
    }
    let c = getppid_container("interval", N);
    let script = format!("touch '{}/tmp/go'; sleep 1", c.rootfs().display());
    let out = cperf_stat(&["-G", c.id(), "-e", ENTER, "-I", "200", "--show-zero", "--", "sh", "-c", &script]);
    assert!(out.status.success(), "{}", support::describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // A 1 s window at 200 ms gives about 5 blocks; each names the event once.
    let blocks = stdout.lines().filter(|l| l.contains("sys_enter_getppid")).count();
    assert!(blocks >= 3, "expected several interval blocks, found {blocks}: {}", support::describe(&out));
}

/// Interval counts add up to the whole: nothing is lost between intervals or after the last tick
/// (the final, partial interval is printed, as perf does). Both the perf-event and the BPF path.
#[test]
fn interval_counts_sum_to_the_exact_total() {
    if !support::privileged() {
        return;
    }
    for (test, events) in [("isum-perf", ENTER), ("isum-bpf", "syscalls:*")] {
        let c = getppid_container(test, N);
        let script = c.go_and_wait_done_script();
        let out = cperf_stat(&["-G", c.id(), "-e", events, "-I", "50", "--json", "--", "sh", "-c", &script]);
        assert!(out.status.success(), "{}", support::describe(&out));
        let mut total = 0;
        let mut intervals = 0;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(doc["interval_end_ns"].as_u64().is_some(), "{line}");
            total += count(&doc, c.id(), ENTER);
            intervals += 1;
        }
        assert!(intervals >= 1, "{}", support::describe(&out));
        assert_eq!(total, N, "{events}: sum over {intervals} intervals");
    }
}

// --- i. counting a command ------------------------------------------------------------------------------

/// The only target (the command), and its count of `ev`.
fn only_target_count(json: &Value, ev: &str) -> u64 {
    let targets = json["targets"].as_array().unwrap_or_else(|| panic!("no `targets` array in {json}"));
    assert_eq!(targets.len(), 1, "one target expected: {json}");
    let given = targets[0]["target"].as_str().unwrap_or_else(|| panic!("no target name in {json}"));
    count(json, given, ev)
}

#[test]
fn command_without_target_is_counted() {
    if !support::privileged() {
        return;
    }
    let getppid = support::fixture("getppid");
    let json = cperf_stat_json(&["-e", ENTER, "--json", "--", getppid.to_str().unwrap(), "777"]);
    assert_eq!(only_target_count(&json, ENTER), 777);
}

#[test]
fn command_children_are_counted() {
    if !support::privileged() {
        return;
    }
    let getppid = support::fixture("getppid");
    let script = format!("'{0}' 300 && '{0}' 400", getppid.display());
    // busybox sh (like dash and bash) calls getppid once at startup, to set $PPID: 300 + 400 + 1.
    let json = cperf_stat_json(&["-e", ENTER, "--json", "--", "/bin/busybox", "sh", "-c", &script]);
    assert_eq!(only_target_count(&json, ENTER), 701);
}

// --- BPF for -p and counted commands ----------------------------------------------------------------

/// A counted command under `syscalls:*` goes through the BPF task-following counter and gives exactly
/// perf's numbers for every syscall event, including the exec boundary (perf's enable-on-exec counts
/// the command from inside its execve: sys_exit_execve, not sys_enter_execve).
#[test]
fn counted_command_all_syscalls_with_bpf_equals_perf() {
    if !support::privileged() || !support::perf_available() {
        return;
    }
    let fixture = support::fixture("getppid");
    let fixture = fixture.to_str().unwrap();
    let json = cperf_stat_json(&["-e", "syscalls:*", "--json", "--", fixture, "777"]);
    assert!(json["bpf_events"].as_u64().unwrap() > 600, "BPF not used: {:?}", json["notes"]);
    let ours: std::collections::BTreeMap<String, u64> = json["targets"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["count"].as_u64().unwrap() > 0)
        .map(|e| (e["event"].as_str().unwrap().to_owned(), e["count"].as_u64().unwrap()))
        .collect();
    let perf = support::perf_stat_command(&["syscalls:*"], &[fixture, "777"]);
    let theirs: std::collections::BTreeMap<String, u64> =
        perf.counts.iter().filter_map(|(e, c)| c.filter(|&c| c > 0).map(|c| (e.clone(), c))).collect();
    assert_eq!(ours.get("syscalls:sys_enter_getppid"), Some(&777));
    assert_eq!(ours, theirs, "cperf (left) and perf (right) differ");
}

/// `-p` follows the threads of the process and every task it creates after counting starts, on the
/// BPF path (`syscalls:*`) and on the perf-event path (one tracepoint, inherited counters). The shell
/// forks its work only once the timer command (started once counting is on) creates a file: a fixed
/// head start for cperf made this test fail when a loaded host started cperf slowly.
#[test]
fn pid_target_follows_children_created_later() {
    if !support::privileged() {
        return;
    }
    let fixture = support::fixture("getppid");
    let scratch = support::Scratch::new("pid-children");
    for (events, bpf) in [("syscalls:*", true), (ENTER, false)] {
        let (go, done) = (scratch.path(&format!("go-{bpf}")), scratch.path(&format!("done-{bpf}")));
        let script = format!(
            "while [ ! -e '{go}' ]; do sleep 0.02; done; {f} 300; {f} 400 --done '{done}'",
            f = fixture.display(),
            go = go.display(),
            done = done.display()
        );
        let mut shell = started_shell(&scratch, &format!("children-{bpf}"), &script);
        let pid = shell.id().to_string();
        let timer = format!(
            "touch '{}'; i=0; while [ ! -e '{}' ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 1; sleep 0.02; done",
            go.display(),
            done.display()
        );
        let json = cperf_stat_json(&["-p", &pid, "-e", events, "--json", "--", "sh", "-c", &timer]);
        shell.wait().unwrap();
        assert_eq!(json["bpf_events"].as_u64().unwrap() > 0, bpf, "{events}: {:?}", json["notes"]);
        assert_eq!(count(&json, &format!("pid:{pid}"), ENTER), 700, "{events}");
    }
}

/// Starts `sh -c script` and returns once the shell runs the script: the shell's own start-up (dash
/// calls getppid once) is over before anything counts it.
fn started_shell(scratch: &support::Scratch, name: &str, script: &str) -> std::process::Child {
    let ready = scratch.path(&format!("{name}-ready"));
    let script = format!("touch '{}'; {script}", ready.display());
    let shell = std::process::Command::new("sh").args(["-c", &script]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready.exists() {
        assert!(std::time::Instant::now() < deadline, "the shell did not start within 30 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    shell
}

/// Waits until the cperf process `pid` counts: its BPF programs are attached (a raw-tracepoint link
/// among its descriptors) or, on the perf-event path, its counters are open (they are enabled right
/// after), then 200 ms more. The work it counts starts only then, whatever the load of the host.
fn wait_until_counting(pid: u32, bpf: bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let counting = || {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
        fds.flatten().any(|fd| {
            if bpf {
                let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
                std::fs::read_to_string(info).is_ok_and(|i| i.contains("raw_tracepoint"))
            } else {
                std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == "anon_inode:[perf_event]")
            }
        })
    };
    while !counting() {
        assert!(std::time::Instant::now() < deadline, "cperf {pid} did not start counting within 30 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
}

/// Runs `cperf stat <args>` but gives up after `limit`: the run is killed and `None` returned.
/// Its output goes through threads, so a long report never blocks it on a full pipe.
fn cperf_stat_within(args: &[&str], limit: std::time::Duration, started: impl FnOnce(u32)) -> Option<Output> {
    let mut child = support::cperf()
        .arg("stat")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    started(child.id());
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).unwrap();
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Some(Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() })
}

/// `-p` without `--duration` ends when the process exits (as perf stat -p does), prints its counts
/// with a note, and exits 0; on both counting paths. The process is this test's child: it stays a
/// zombie until reaped, which must count as exited.
#[test]
fn pid_target_ends_when_the_process_exits() {
    if !support::privileged() {
        return;
    }
    let fixture = support::fixture("getppid");
    let scratch = support::Scratch::new("pid-ends");
    for (events, bpf) in [("syscalls:*", true), (ENTER, false)] {
        let go = scratch.path(&format!("go-{bpf}"));
        // The shell waits, then forks the work: -p counts the tasks created after counting starts.
        let script =
            format!("while [ ! -e '{}' ]; do sleep 0.02; done; {} 300", go.display(), fixture.display());
        let mut shell = started_shell(&scratch, &format!("ends-{bpf}"), &script);
        let pid = shell.id().to_string();
        let out = cperf_stat_within(
            &["-p", &pid, "-e", events, "--json"],
            std::time::Duration::from_secs(20),
            |cperf| {
                wait_until_counting(cperf, bpf);
                std::fs::write(&go, "").unwrap();
            },
        );
        shell.wait().unwrap();
        let out = out.unwrap_or_else(|| {
            panic!("{events}: cperf stat -p was still counting 20 s after the process exited")
        });
        assert!(out.status.success(), "{}", support::describe(&out));
        let json = parse_json(&out);
        assert_eq!(json["bpf_events"].as_u64().unwrap() > 0, bpf, "{events}: {:?}", json["notes"]);
        let target = format!("pid:{pid}");
        assert_eq!(count(&json, &target, ENTER), 300, "{events}");
        let notes = super_notes(&json, &target);
        assert!(notes.contains("the process exited during the window"), "{events}: {notes}");
        let window_s = json["duration_ns"].as_u64().unwrap() as f64 / 1e9;
        assert!(window_s < 5.0, "{events}: a {window_s} s window for a process that lived 0.5 s");
    }
}

/// The notes of the whole run and of one target, as one string.
fn super_notes(json: &Value, tgt: &str) -> String {
    format!("{} {}", json["notes"], target(json, tgt)["notes"])
}

/// `stat -- cmd` and `record -- cmd` both return the command's exit status (128 + the signal when a
/// signal killed it), as a shell reports it; before, record always returned 0.
#[test]
fn stat_and_record_return_the_commands_exit_status() {
    if !support::privileged() {
        return;
    }
    let dir = std::env::temp_dir().join(support::unique_id("exit-status"));
    std::fs::create_dir_all(&dir).unwrap();
    for (script, expected) in [("exit 3", 3), ("kill -KILL $$", 128 + 9), ("true", 0)] {
        let recording = dir.join(format!("{expected}.cperf"));
        let recording = recording.to_str().unwrap();
        let stat = cperf_stat(&["-e", "cs", "--", "sh", "-c", script]);
        assert_eq!(
            stat.status.code(),
            Some(expected),
            "stat -- sh -c '{script}': {}",
            support::describe(&stat)
        );
        let record =
            support::run(support::cperf().args(["record", "-o", recording, "--", "sh", "-c", script]));
        assert_eq!(
            record.status.code(),
            Some(expected),
            "record -- sh -c '{script}': {}",
            support::describe(&record)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
