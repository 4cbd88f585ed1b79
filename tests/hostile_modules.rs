//! Integration tests of `cperf record` against containers whose binaries are built to mislead or
//! exhaust it: a binary carrying another container's build-id with other function names, and
//! libraries and debug files whose DWARF claims gigabytes.
//!
//! Every hostile file is made by the test itself (compiled, relinked or patched) and run in a real
//! runc container; the recordings are read after the containers are gone.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{cperf, describe, profile, Bundle};

/// A scratch directory for one test's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = support::target_dir().join("hostile-tests").join(support::unique_id(test));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
