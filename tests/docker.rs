//! Integration tests against a real Docker engine (Debian's `docker.io`, started by `.ci/run`): containers
//! named as `docker ps` names them, a stopped container, and issue 13's hostile-container findings
//! reproduced the way they were found, with Docker's own default capabilities (a container may `mknod`).
//!
//! Images are imported from a busybox root plus static fixtures: no registry is reachable. Tests that
//! need root return early unless the host is privileged; `CPERF_REQUIRE_PRIVILEGED=1` makes a missing
//! engine a failure.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::docker::{docker_ready, DockerContainer, Image};
use support::{cperf, describe, profile, run, Bundle, Scratch};

fn ready() -> bool {
    support::privileged() && docker_ready()
}

/// A `getppid N` container waiting for `/tmp/go`; `stat -G <given>` with a timer that releases it.
fn count_getppid(image: &Image, test: &str, n: u64, name_of: impl Fn(&DockerContainer) -> String) -> u64 {
    let n_text = n.to_string();
    let c = DockerContainer::run(
        image,
        test,
        &[],
        &["/bin/getppid", &n_text, "--wait-for", "/tmp/go", "--done", "/tmp/done", "--then-sleep", "1000"],
    );
    let go = c.host_path("/tmp/go");
    let done = c.host_path("/tmp/done");
    let timer = format!(
        "touch '{}'; i=0; while [ ! -e '{}' ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 1; sleep 0.02; done",
        go.display(),
        done.display()
    );
    let given = name_of(&c);
    let out = run(cperf()
        .args(["stat", "-G", &given, "-e", "syscalls:sys_enter_getppid", "--json", "--"])
        .args(["sh", "-c", &timer]));
    assert!(out.status.success(), "cperf stat -G {given}: {}", describe(&out));
    let json: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    json["targets"][0]["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["event"] == "syscalls:sys_enter_getppid"))
        .and_then(|e| e["count"].as_u64())
        .unwrap_or_else(|| panic!("no getppid count for {given}: {json}"))
}

/// Names and id prefixes as `docker ps` prints them resolve to the container, with exact counts.
#[test]
fn docker_names_and_short_ids_count_exactly() {
    if !ready() {
        return;
    }
    let image = Image::import(&Bundle::new().with_fixture("getppid"), "docker-names");
    assert_eq!(count_getppid(&image, "docker-by-name", 20_000, |c| c.name().to_owned()), 20_000);
    assert_eq!(count_getppid(&image, "docker-by-id", 20_000, |c| c.id()[..12].to_owned()), 20_000);
}

/// A container that exists but is stopped is said to be stopped (with what to do), not "no match".
#[test]
fn a_stopped_docker_container_is_said_to_be_stopped() {
    if !ready() {
        return;
    }
    let image = Image::import(&Bundle::new(), "docker-stopped");
    let c = DockerContainer::run(&image, "docker-stopped", &[], &["sleep", "1000"]);
    c.stop();
    for given in [c.name(), &c.id()[..12]] {
        let out = run(cperf().args(["stat", "-G", given, "-e", "cs", "--duration", "0.2"]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(stderr.contains("stopped"), "-G {given} of a stopped container: {}", describe(&out));
        assert_eq!(stderr.trim_end().lines().count(), 1, "not one line: {}", describe(&out));
    }
}

/// Issue 13, finding 1, as it was found: a Docker container (which may `mknod` by default) makes its perf
/// map a character device. cperf, as host root, may resolve the path but must never open it for
/// reading (strace shows every open cperf makes).
#[test]
fn a_device_node_as_perf_map_is_never_opened() {
    if !ready() || std::env::consts::ARCH != "x86_64" || !support::tool_available("strace", "watching opens")
    {
        return;
    }
    let scratch = Scratch::new("docker-mknod");
    let image = Image::import(&Bundle::new().with_fixture("jit"), "docker-mknod");
    // /dev/null's numbers: the JIT fixture's own write of its map goes nowhere.
    let c = DockerContainer::run(
        &image,
        "docker-mknod",
        &[],
        &["sh", "-c", "mknod /tmp/perf-1.map c 1 3 && exec /bin/jit 30"],
    );
    c.wait_for_file("/tmp/perf-1.map", Duration::from_secs(5));
    let trace = scratch.path("strace.txt");
    let out_file = scratch.path("rec.cperf");
    let out = run(Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=open,openat,openat2", "-o"])
        .arg(&trace)
        .arg(support::cperf_path())
        .args(["record", "-G", c.name(), "-g", "-F", "199", "--duration", "1.5", "-o"])
        .arg(&out_file));
    assert!(out.status.success(), "{}", describe(&out));
    let trace = std::fs::read_to_string(&trace).unwrap();
    let opens: Vec<&str> = trace.lines().filter(|l| l.contains("perf-1.map")).collect();
    assert!(!opens.is_empty(), "cperf never looked for the perf map; the test proves nothing:\n{trace}");
    let for_reading: Vec<&&str> = opens.iter().filter(|l| !l.contains("O_PATH")).collect();
    assert!(for_reading.is_empty(), "the device node was opened for reading: {for_reading:#?}");
    // The rest of the recording is intact: the JIT fixture's samples are there, unnamed.
    let p = profile::read(&out_file);
    assert!(p.samples > 50, "only {} samples: {}", p.samples, describe(&out));
    assert!(!p.leaves.contains_key("cperf_jit_spin"), "named from a device? {:?}", p.leaves);
}
