//! cperf run by a user who is not root, as an operator grants it: `nobody` with `CAP_PERFMON` and
//! `CAP_BPF` (through `setpriv`), against a real runc container. Such a user can count and sample,
//! but cannot read runc's state, the container's files or (by default) tracefs: each error must
//! name that cause and its remedy, never blame something else (a missing container, exited
//! processes, CAP_PERFMON).
//!
//! Tests that need root return early (printing `skipped: ...`) unless the host is privileged;
//! `CPERF_REQUIRE_PRIVILEGED=1` makes that fatal.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use support::{describe, Bundle};

/// A copy of the cperf binary that `nobody` may run (the build's own directory may be closed to
/// others), in a directory `nobody` may write recordings to; removed on drop.
struct Unprivileged {
    dir: PathBuf,
}

impl Unprivileged {
    fn new() -> Unprivileged {
        let dir = std::env::temp_dir().join(support::unique_id("privileges"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::copy(support::cperf_path(), dir.join("cperf")).unwrap();
        std::fs::set_permissions(dir.join("cperf"), std::fs::Permissions::from_mode(0o755)).unwrap();
        Unprivileged { dir }
    }

    /// cperf `args` run as `nobody` with CAP_PERFMON and CAP_BPF only, from `/`.
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(&["--inh-caps=-all,+perfmon,+bpf", "--ambient-caps=+perfmon,+bpf"], args)
    }

    /// cperf `args` run as `nobody` with no capability at all.
    fn run_plain(&self, args: &[&str]) -> Output {
        self.run_with(&["--inh-caps=-all"], args)
    }

    fn run_with(&self, caps: &[&str], args: &[&str]) -> Output {
        support::run(
            Command::new("setpriv")
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .args(caps)
                .arg(self.dir.join("cperf"))
                .args(args)
                .current_dir("/"),
        )
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Unprivileged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The one line of an error exit (status 2) that must name `wanted` and none of `wrong`.
fn assert_error(out: &Output, wanted: &[&str], wrong: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(out));
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for w in wanted {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    for w in wrong {
        assert!(!err.contains(w), "{w:?} (the wrong cause) in: {err}");
    }
}

#[test]
fn a_user_with_perfmon_and_bpf_is_told_the_real_cause() {
    if !support::privileged() || !support::tool_available("setpriv", "running cperf as another user") {
        return;
    }
    let user = Unprivileged::new();
    // A cgroup path that is not the container's id, so that the id is found only in runc's state.
    let cgroup = format!("/{}", support::unique_id("privileges-cg"));
    let c = Bundle::new()
        .cgroups_path(&cgroup)
        .args(&["sh", "-c", "while :; do :; done"])
        .run_detached("privileges");

    // runc's state (/run/runc) is root's: the container is there, this user cannot see it.
    let out = user.run(&["stat", "-G", c.id(), "--", "true"]);
    assert_error(
        &out,
        &["permission was denied reading /run/runc", "run cperf as root", c.id()],
        &["no container, pod or cgroup matches"],
    );

    // The same for a user with no capability (whatever perf_event_paranoid says, the container
    // is looked up first).
    let out = user.run_plain(&["stat", "-G", c.id(), "--", "true"]);
    assert_error(
        &out,
        &["permission was denied reading /run/runc", "run cperf as root", c.id()],
        &["no container, pod or cgroup matches"],
    );

    // `containers` cannot list what it cannot read: it says so (and still lists what it can).
    let out = user.run_plain(&["containers"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for w in ["warning: permission was denied reading /run/runc", "not listed", "run cperf as root"] {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ID "), "{}", describe(&out));

    // The container's files (/proc/<pid>/root) need root or CAP_SYS_PTRACE; its processes run.
    let probe = "uprobe:/bin/busybox:main";
    let out = user.run(&["stat", "-G", &cgroup, "-e", probe, "--", "true"]);
    assert_error(
        &out,
        &[&format!("permission denied opening /proc/{}/root", c.init_pid()), "CAP_SYS_PTRACE"],
        &["exited"],
    );

    // Sampling works, but the files of the sampled program cannot be opened: the note says why
    // (2 s of a busy loop gives it dozens of samples even on a loaded machine).
    let file = user.path("busy.cperf");
    let out = user.run(&["record", "-G", &cgroup, "-g", "--duration", "2", "-o", &file]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/bin/busybox: permission denied opening /proc/") && err.contains("CAP_SYS_PTRACE"),
        "{err}"
    );
    assert!(!err.contains("exited before"), "{err}");

    // tracefs is root's (mode 0700) unless mounted otherwise: CAP_PERFMON does not open it.
    let out = user.run(&["stat", "-G", &cgroup, "-e", "syscalls:sys_enter_getppid", "--", "true"]);
    if !out.status.success() {
        assert_error(
            &out,
            &["cannot read tracepoints", "mode 0700", "CAP_DAC_READ_SEARCH"],
            &["CAP_PERFMON with a permissive"],
        );
    }
}
