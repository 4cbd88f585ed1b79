//! Shared harness for cperf's integration tests: privilege detection, the binary under test, C fixtures
//! compiled on demand, runc bundles and containers, and `perf stat` as an independent oracle.
//!
//! Each integration-test file includes it with `mod support;`. Tests that need root, perf_event_open,
//! cgroup v2 and runc start with `if !support::privileged() { return; }`; set
//! `CPERF_REQUIRE_PRIVILEGED=1` (as CI does) to turn such a skip into a failure.
//!
//! Nothing here hard-codes the cgroup2 mount point: it is read from `/proc/self/mountinfo`.
#![allow(dead_code, reason = "each test binary uses a different subset of the harness")]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod debian;
pub mod docker;
pub mod folded;
pub mod perf_script;
pub mod profile;
pub mod stacks;

// ---------------------------------------------------------------------------------------------------------
// Privileges
// ---------------------------------------------------------------------------------------------------------

/// True when the tests that need a privileged host can run: we are root, perf_event_open works, a
/// cgroup2 hierarchy is mounted, tracefs is available (mounted here if it is missing) and runc exists.
///
/// When false, prints `skipped: <reason>` to stderr, or panics with the reason if
/// `CPERF_REQUIRE_PRIVILEGED=1`.
pub fn privileged() -> bool {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    match CHECK.get_or_init(check_privileged) {
        Ok(()) => true,
        Err(reason) => {
            if std::env::var_os("CPERF_REQUIRE_PRIVILEGED").is_some_and(|v| v == "1") {
                panic!("CPERF_REQUIRE_PRIVILEGED=1 but this host cannot run privileged tests: {reason}");
            }
            eprintln!("skipped: {reason}");
            false
        }
    }
}

/// Whether a command-line tool is on PATH; when it is not, a skip (with `what` it is needed for),
/// or — under `CPERF_REQUIRE_PRIVILEGED=1`, where CI installs it — a failure.
pub fn tool_available(tool: &str, what: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    if !found {
        if std::env::var_os("CPERF_REQUIRE_PRIVILEGED").is_some_and(|v| v == "1") {
            panic!("CPERF_REQUIRE_PRIVILEGED=1 but {tool} is missing: {what}");
        }
        eprintln!("skipped: {tool} is missing: {what}");
    }
    found
}

fn check_privileged() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root".into());
    }
    probe_perf_event_open()?;
    try_cgroup2_root().ok_or("no cgroup2 mount in /proc/self/mountinfo")?;
    runc_path().ok_or("runc not found in PATH or /usr/sbin, /usr/bin, /usr/local/sbin")?;
    ensure_tracefs()?;
    Ok(())
}

/// The first 64 bytes of `struct perf_event_attr` (`PERF_ATTR_SIZE_VER0`), enough to open a software event.
#[repr(C)]
struct PerfEventAttrV0 {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

/// Opens (and closes) a disabled software task-clock counter on this thread.
fn probe_perf_event_open() -> Result<(), String> {
    const PERF_TYPE_SOFTWARE: u32 = 1;
    const PERF_COUNT_SW_TASK_CLOCK: u64 = 1;
    const DISABLED: u64 = 1;
    let attr = PerfEventAttrV0 {
        type_: PERF_TYPE_SOFTWARE,
        size: size_of::<PerfEventAttrV0>() as u32,
        config: PERF_COUNT_SW_TASK_CLOCK,
        sample_period: 0,
        sample_type: 0,
        read_format: 0,
        flags: DISABLED,
        wakeup_events: 0,
        bp_type: 0,
        config1: 0,
    };
    // SAFETY: `attr` is a valid, fully initialised PERF_ATTR_SIZE_VER0 attribute whose `size` field says
    // so; the kernel only reads it. pid 0 / cpu -1 / group -1 / flags 0 is "this thread, any CPU".
    let fd =
        unsafe { libc::syscall(libc::SYS_perf_event_open, &attr as *const PerfEventAttrV0, 0, -1, -1, 0) };
    if fd < 0 {
        return Err(format!("perf_event_open failed: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just returned by perf_event_open and is owned by nobody else.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}

/// Makes sure `/sys/kernel/tracing/events` exists, mounting tracefs there if needed.
fn ensure_tracefs() -> Result<(), String> {
    let events = Path::new("/sys/kernel/tracing/events");
    if events.is_dir() {
        return Ok(());
    }
    let out = Command::new("mount")
        .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        .output()
        .map_err(|e| format!("cannot run mount for tracefs: {e}"))?;
    // A parallel test binary may have mounted it in the meantime; only the end state matters.
    if events.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "tracefs not available: `mount -t tracefs nodev /sys/kernel/tracing` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Binaries, paths and commands
// ---------------------------------------------------------------------------------------------------------

/// The cperf binary under test.
pub fn cperf() -> Command {
    Command::new(cperf_path())
}

/// Path of the cperf binary under test.
pub fn cperf_path() -> &'static str {
    env!("CARGO_BIN_EXE_cperf")
}

/// Path of runc: the first `runc` in `PATH`, else a usual sbin location.
pub fn runc_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("runc"))
        .find(|p| p.is_file())
}

fn runc() -> Command {
    Command::new(runc_path().expect("runc not found"))
}

/// The cargo target directory: `CARGO_TARGET_DIR` (at run time, then at build time), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = option_env!("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

/// Runs `cmd` to completion, capturing stdout and stderr. Panics only if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null());
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd` and panics with its exit status, stdout and stderr unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed: {}", describe(&out));
    out
}

/// A one-paragraph description of a finished command, for panic messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

// ---------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------

/// Fixtures built without frame pointers, as distributions build their packages: only their call-frame
/// information (`.eh_frame`) says where a caller's frame is. Static PIE, as Debian's own binaries are PIE.
pub const NO_FRAME_POINTER_FIXTURES: &[&str] = &["unwind_chain"];

/// The compiler flags of fixture `name` (besides `-Wall -pthread -o OUT SRC`): `-static -O2 -g
/// -fno-omit-frame-pointer`, or for [`NO_FRAME_POINTER_FIXTURES`] `-static-pie -O2 -g
/// -fomit-frame-pointer -fno-optimize-sibling-calls` (each call stays a call with its own frame).
pub fn fixture_flags(name: &str) -> &'static [&'static str] {
    if NO_FRAME_POINTER_FIXTURES.contains(&name) {
        &["-static-pie", "-O2", "-g", "-fomit-frame-pointer", "-fno-optimize-sibling-calls"]
    } else {
        &["-static", "-O2", "-g", "-fno-omit-frame-pointer"]
    }
}

/// Compiles `fixtures/src/<name>.c` (once per test process, and again only if the source is newer) into
/// `<target>/fixtures/<name>` with [`fixture_flags`] (`cc -static -O2 -g -fno-omit-frame-pointer` for
/// most) and returns its path.
///
/// The binary is written under a temporary name and renamed into place, so test binaries running in
/// parallel never see (or execute) a half-written file.
pub fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }

    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/src").join(format!("{name}.c"));
    assert!(src.is_file(), "no fixture source {}", src.display());
    let out_dir = target_dir().join("fixtures");
    fs::create_dir_all(&out_dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let out = out_dir.join(name);

    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!((mtime(&src), mtime(&out)), (Some(s), Some(o)) if o >= s);
    if !fresh {
        let tmp =
            out_dir.join(format!(".{name}.tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
        let mut cmd = Command::new("cc");
        cmd.args(fixture_flags(name)).args(["-Wall", "-pthread", "-o"]).arg(&tmp).arg(&src);
        run_ok(&mut cmd);
        fs::rename(&tmp, &out)
            .unwrap_or_else(|e| panic!("cannot rename {} to {}: {e}", tmp.display(), out.display()));
    }
    built.insert(name.to_owned(), out.clone());
    out
}

/// The uprobe fixture: `probed`, dynamically linked against `libprobed.so` found through its RUNPATH
/// (`$ORIGIN/../lib`), and a decoy build of the library (other offsets, other values).
#[derive(Debug, Clone)]
pub struct Probed {
    /// `<target>/fixtures/probed/bin/probed`.
    pub program: PathBuf,
    /// `<target>/fixtures/probed/lib/libprobed.so`, with DWARF.
    pub lib: PathBuf,
    /// The same library with only its dynamic symbols (`strip --strip-all`: no `.symtab`, no DWARF).
    pub stripped_lib: PathBuf,
    /// The separate debug file of `stripped_lib` (`objcopy --only-keep-debug`), for
    /// `/usr/lib/debug/.build-id/`.
    pub debug_file: PathBuf,
    /// `libprobed.c` built with `-DCPERF_DECOY`.
    pub decoy_lib: PathBuf,
}

/// Builds the uprobe fixture (once per test process, again when a source is newer); see [`Probed`].
pub fn probed_fixture() -> Probed {
    static BUILT: OnceLock<Probed> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/src");
            let dir = target_dir().join("fixtures/probed");
            fs::create_dir_all(dir.join("bin")).unwrap();
            fs::create_dir_all(dir.join("lib")).unwrap();
            let probed = Probed {
                program: dir.join("bin/probed"),
                lib: dir.join("lib/libprobed.so"),
                stripped_lib: dir.join("lib/libprobed-stripped.so"),
                debug_file: dir.join("lib/libprobed.debug"),
                decoy_lib: dir.join("lib/libprobed-decoy.so"),
            };
            let flags = ["-O2", "-g", "-fno-omit-frame-pointer", "-Wall"];
            let tmp = |p: &Path| p.with_extension(format!("tmp-{}", std::process::id()));
            let build = |out: &Path, args: &[&str]| {
                let t = tmp(out);
                run_ok(Command::new("cc").args(flags).args(args).arg("-o").arg(&t));
                fs::rename(&t, out).unwrap();
            };
            let lib_src = src.join("libprobed.c");
            let lib_src = lib_src.to_str().unwrap();
            build(&probed.lib, &["-shared", "-fPIC", lib_src]);
            build(&probed.decoy_lib, &["-shared", "-fPIC", "-DCPERF_DECOY", lib_src]);
            let t = tmp(&probed.stripped_lib);
            run_ok(Command::new("strip").arg("--strip-all").arg("-o").arg(&t).arg(&probed.lib));
            fs::rename(&t, &probed.stripped_lib).unwrap();
            let t = tmp(&probed.debug_file);
            run_ok(Command::new("objcopy").arg("--only-keep-debug").arg(&probed.lib).arg(&t));
            fs::rename(&t, &probed.debug_file).unwrap();
            let lib_dir = format!("-L{}", dir.join("lib").display());
            build(
                &probed.program,
                &[src.join("probed.c").to_str().unwrap(), &lib_dir, "-lprobed", "-Wl,-rpath,$ORIGIN/../lib"],
            );
            probed
        })
        .clone()
}

// ---------------------------------------------------------------------------------------------------------
// cgroup v2
// ---------------------------------------------------------------------------------------------------------

/// Mount point of the cgroup2 hierarchy, read from `/proc/self/mountinfo`.
pub fn cgroup2_root() -> PathBuf {
    try_cgroup2_root().expect("no cgroup2 mount in /proc/self/mountinfo")
}

fn try_cgroup2_root() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        // <id> <parent> <maj:min> <root> <mount point> <options> [optional fields...] - <fstype> <source> ...
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(|p| PathBuf::from(unescape_mountinfo(p)))
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup v2 path of `pid` relative to the cgroup2 root, without a leading `/` (the `0::` line of
/// `/proc/<pid>/cgroup`).
pub fn cgroup_of(pid: u32) -> String {
    let path = format!("/proc/{pid}/cgroup");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("{path} has no cgroup v2 (0::) line:\n{text}"));
    line.trim_start_matches('/').to_owned()
}

// ---------------------------------------------------------------------------------------------------------
// runc bundles and containers
// ---------------------------------------------------------------------------------------------------------

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A container id unique to this test and process: `cperf-<test>-<pid>-<counter>`.
pub fn unique_id(test: &str) -> String {
    format!("cperf-{test}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A runc bundle in a fresh temporary directory: a busybox rootfs plus any fixtures, and a `config.json`
/// generated by `runc spec` and edited when the container is started.
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    rootfs: PathBuf,
    args: Vec<String>,
    cpu_quota: Option<(i64, u64)>,
    cgroups_path: Option<String>,
}

impl Bundle {
    /// Creates the bundle directory with a rootfs holding `/bin/busybox`, its applet links (including
    /// `/bin/sh`) and empty `/tmp`, `/proc`, `/dev`, `/sys`. The default command is `sh -c 'sleep 1000'`.
    pub fn new() -> Bundle {
        let dir = std::env::temp_dir().join(format!(
            "cperf-bundle-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        let bundle = Bundle {
            rootfs: dir.join("rootfs"),
            dir,
            args: ["sh", "-c", "sleep 1000"].map(String::from).to_vec(),
            cpu_quota: None,
            cgroups_path: None,
        };
        let rootfs = bundle.rootfs();
        for d in ["bin", "tmp", "proc", "dev", "sys", "etc"] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .unwrap_or_else(|e| panic!("cannot copy /bin/busybox (install busybox-static): {e}"));
        let list = run_ok(Command::new("/bin/busybox").arg("--list"));
        for applet in String::from_utf8_lossy(&list.stdout).lines().chain(["sh"]) {
            let link = rootfs.join("bin").join(applet);
            if applet != "busybox" && !link.exists() {
                std::os::unix::fs::symlink("busybox", &link).unwrap();
            }
        }
        run_ok(runc().arg("spec").arg("--bundle").arg(&bundle.dir));
        bundle
    }

    /// Copies the fixture `name` (built by [`fixture`]) to `/bin/<name>` in the rootfs.
    pub fn with_fixture(self, name: &str) -> Bundle {
        let dest = self.rootfs().join("bin").join(name);
        fs::copy(fixture(name), &dest).unwrap_or_else(|e| panic!("cannot copy fixture {name}: {e}"));
        self
    }

    /// Puts the uprobe fixture under `dir` in the rootfs (`<dir>/bin/probed`, `<dir>/lib/libprobed.so`
    /// and a symlink to it, `<dir>/lib/libprobed.so.1`), with the dynamic loader and the C library it
    /// needs at their host paths; `lib` is the library to put there (one of [`Probed`]'s).
    pub fn with_probed(self, dir: &str, lib: &Path) -> Bundle {
        let probed = probed_fixture();
        let root = self.rootfs().join(dir.trim_start_matches('/'));
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("lib")).unwrap();
        fs::copy(&probed.program, root.join("bin/probed")).unwrap();
        fs::copy(lib, root.join("lib/libprobed.so")).unwrap();
        std::os::unix::fs::symlink("libprobed.so", root.join("lib/libprobed.so.1")).unwrap();
        // The loader and libc, as ldd lists them: `libc.so.6 => /lib/.../libc.so.6 (0x…)`,
        // `/lib64/ld-linux-x86-64.so.2 (0x…)`.
        let ldd = run_ok(Command::new("ldd").arg(&probed.program));
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let path = line.split("=>").last().unwrap_or("").split_whitespace().next().unwrap_or("");
            if !path.starts_with('/') || path.contains("libprobed") {
                continue;
            }
            let dest = self.rootfs().join(&path[1..]);
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            fs::copy(path, &dest).unwrap_or_else(|e| panic!("cannot copy {path} into the rootfs: {e}"));
        }
        self
    }

    /// Copies the host binary `program` to `dest` in the rootfs, with the shared libraries and the
    /// dynamic loader `ldd` lists for it at their host paths (to run cperf itself in a container).
    pub fn with_host_binary(self, program: &Path, dest: &str) -> Bundle {
        let target = self.rootfs().join(dest.trim_start_matches('/'));
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(program, &target).unwrap_or_else(|e| panic!("cannot copy {}: {e}", program.display()));
        let ldd = run_ok(Command::new("ldd").arg(program));
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let path = line.split("=>").last().unwrap_or("").split_whitespace().next().unwrap_or("");
            if !path.starts_with('/') {
                continue;
            }
            let lib = self.rootfs().join(&path[1..]);
            fs::create_dir_all(lib.parent().unwrap()).unwrap();
            fs::copy(path, &lib).unwrap_or_else(|e| panic!("cannot copy {path} into the rootfs: {e}"));
        }
        self
    }

    /// The container's command line (`process.args`).
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Bundle {
        self.args = args.iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Limits the container to `quota_us` of CPU time per `period_us` (`linux.resources.cpu`).
    pub fn cpu_quota(mut self, quota_us: i64, period_us: u64) -> Bundle {
        self.cpu_quota = Some((quota_us, period_us));
        self
    }

    /// Sets `linux.cgroupsPath` (by default runc uses `/<id>`).
    pub fn cgroups_path(mut self, path: &str) -> Bundle {
        self.cgroups_path = Some(path.to_owned());
        self
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The container's root filesystem, as seen from the host.
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    fn write_config(&self, id: &str) {
        let path = self.dir.join("config.json");
        let mut config: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        config["process"]["args"] = json!(self.args);
        config["process"]["terminal"] = json!(false);
        config["root"]["path"] = json!("rootfs");
        config["root"]["readonly"] = json!(false);
        config["hostname"] = json!(id);
        if let Some(path) = &self.cgroups_path {
            config["linux"]["cgroupsPath"] = json!(path);
        }
        if let Some((quota, period)) = self.cpu_quota {
            config["linux"]["resources"]["cpu"] = json!({ "quota": quota, "period": period });
        }
        fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    /// Starts the container with `runc run -d` under the id `cperf-<test>-<pid>-<counter>` (see
    /// [`unique_id`]). Its stdout and stderr go to `container.log` in the bundle. The returned
    /// [`Container`] owns the bundle: dropping it deletes the container and the directory.
    pub fn run_detached(self, test: &str) -> Container {
        let id = unique_id(test);
        self.write_config(&id);
        let log_path = self.dir.join("container.log");
        let log = fs::File::create(&log_path).unwrap();
        let status = runc()
            .args(["run", "-d", "--bundle"])
            .arg(&self.dir)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .unwrap_or_else(|e| panic!("cannot run runc: {e}"));
        let mut container = Container { id, bundle: self, init_pid: 0, cgroup: String::new() };
        assert!(status.success(), "runc run -d {} failed ({status}):\n{}", container.id, container.log());
        let state = container.state();
        container.init_pid = state["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("runc state {} has no pid: {state}", container.id))
            as u32;
        container.cgroup = cgroup_of(container.init_pid);
        container
    }
}

/// A fixture placed at the same path in a container's rootfs and on the host, with different contents:
/// a container-aware tool must read the container's and never the host's. The host copy is removed
/// when this is dropped.
pub struct HostDecoy {
    /// The path, the same inside the container and on the host (`/opt/<unique>/<name>`).
    pub path: String,
}

impl HostDecoy {
    /// Puts fixture `inside` at `/opt/<unique>/<name>` in `bundle`'s rootfs and fixture `on_host` at
    /// that path on the host.
    pub fn new(bundle: &Bundle, inside: &str, on_host: &str, name: &str) -> HostDecoy {
        let dir = format!("/opt/{}", unique_id("decoy"));
        let path = format!("{dir}/{name}");
        fs::create_dir_all(bundle.rootfs().join(&dir[1..])).unwrap();
        fs::copy(fixture(inside), bundle.rootfs().join(&path[1..])).unwrap();
        fs::create_dir_all(&dir).unwrap();
        fs::copy(fixture(on_host), &path).unwrap();
        HostDecoy { path }
    }
}

impl Drop for HostDecoy {
    fn drop(&mut self) {
        if let Some(dir) = Path::new(&self.path).parent() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

/// A running runc container. Dropping it runs `runc delete -f` and removes the bundle directory.
#[derive(Debug)]
pub struct Container {
    id: String,
    bundle: Bundle,
    init_pid: u32,
    cgroup: String,
}

impl Container {
    /// The runc container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Host pid of the container's init process, from `runc state`.
    pub fn init_pid(&self) -> u32 {
        self.init_pid
    }

    /// The container's cgroup v2 path relative to the cgroup2 root, without a leading `/` (read from
    /// `/proc/<init pid>/cgroup` when the container started).
    pub fn cgroup(&self) -> &str {
        &self.cgroup
    }

    /// The container's cgroup v2 directory (absolute).
    pub fn cgroup_dir(&self) -> PathBuf {
        cgroup2_root().join(&self.cgroup)
    }

    /// The container's root filesystem, as seen from the host.
    pub fn rootfs(&self) -> &Path {
        self.bundle.rootfs()
    }

    /// The bundle directory.
    pub fn bundle_dir(&self) -> &Path {
        self.bundle.dir()
    }

    /// What the container (and runc) wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.bundle.dir.join("container.log")).unwrap_or_default()
    }

    /// `runc state <id>` as JSON.
    pub fn state(&self) -> Value {
        let out = run(runc().args(["state", &self.id]));
        assert!(out.status.success(), "runc state {} failed: {}\n{}", self.id, describe(&out), self.log());
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("runc state {} printed invalid JSON ({e}): {}", self.id, describe(&out))
        })
    }

    /// The `status` field of `runc state` ("running", "stopped", ...).
    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap_or_default().to_owned()
    }

    /// Sends SIGKILL to the container (`runc kill <id> KILL`) and waits until runc reports it stopped.
    pub fn kill(&self) {
        run_ok(runc().args(["kill", &self.id, "KILL"]));
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status() != "stopped" {
            assert!(Instant::now() < deadline, "container {} did not stop after SIGKILL", self.id);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `runc delete -f <id>`: kills the container if needed and removes its state and cgroup.
    pub fn delete(&self) {
        run_ok(runc().args(["delete", "-f", &self.id]));
    }

    /// CPU time the container's tasks have had so far (`usage_usec` of its cgroup's `cpu.stat`).
    pub fn cpu_usage(&self) -> Duration {
        let stat = fs::read_to_string(self.cgroup_dir().join("cpu.stat")).unwrap_or_default();
        let usec = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no usage_usec in the cpu.stat of {}: {stat}", self.id));
        Duration::from_micros(usec)
    }

    /// Waits until `path` (inside the container's rootfs, e.g. `/tmp/done`) exists.
    pub fn wait_for_file(&self, path: &str, timeout: Duration) {
        let host = self.rootfs().join(path.trim_start_matches('/'));
        let deadline = Instant::now() + timeout;
        while !host.exists() {
            assert!(
                Instant::now() < deadline,
                "{} did not appear in container {} within {timeout:?}; log:\n{}",
                host.display(),
                self.id,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A host shell script that releases a fixture waiting on `/tmp/go` and returns once it created
    /// `/tmp/done`; see [`go_and_wait_done_script`].
    pub fn go_and_wait_done_script(&self) -> String {
        go_and_wait_done_script(&[self])
    }
}

/// A host shell script (for `sh -c`) that creates `/tmp/go` in every container's rootfs, then waits until
/// each has created `/tmp/done`, failing after 60 s: the usual timer command for
/// `cperf stat -G ... -- sh -c <script>` with the `getppid` fixture run as
/// `getppid N --wait-for /tmp/go --done /tmp/done --then-sleep 1000`.
pub fn go_and_wait_done_script(containers: &[&Container]) -> String {
    let roots: Vec<String> = containers.iter().map(|c| c.rootfs().display().to_string()).collect();
    let mut script = String::new();
    for root in &roots {
        script += &format!("touch '{root}/tmp/go'; ");
    }
    for root in &roots {
        script += &format!(
            "i=0; while [ ! -e '{root}/tmp/done' ]; do i=$((i+1)); if [ $i -gt 3000 ]; then \
             echo 'timed out waiting for {root}/tmp/done' >&2; exit 1; fi; sleep 0.02; done; "
        );
    }
    script
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(runc_path().unwrap_or_else(|| "runc".into()))
            .args(["delete", "-f", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&self.bundle.dir);
    }
}

// ---------------------------------------------------------------------------------------------------------
// perf as an oracle
// ---------------------------------------------------------------------------------------------------------

/// True when `perf` runs (`perf --version`).
pub fn perf_available() -> bool {
    Command::new("perf")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The result of one `perf stat` run.
#[derive(Debug)]
pub struct PerfStat {
    /// Event name → count; `None` for `<not counted>` / `<not supported>`.
    pub counts: BTreeMap<String, Option<u64>>,
    /// The CSV perf wrote (its `-o` file).
    pub csv: String,
    /// The timer command's stdout and stderr (perf's own diagnostics are in stderr too).
    pub output: Output,
}

/// Runs `perf stat -x, -o <tmp> -e <ev>... -G <cgroup>,... -a -- <cmd>` (system-wide, restricted to the
/// cgroup, relative to the cgroup2 root) and parses the counts. Panics unless perf and cmd succeed.
pub fn perf_stat_cgroup<S: AsRef<OsStr>>(events: &[&str], cgroup: &str, cmd: &[S]) -> PerfStat {
    let cgroup = cgroup.trim_start_matches('/');
    let cgroups = vec![cgroup; events.len()].join(",");
    perf_stat(&["-e", &events.join(","), "-G", &cgroups, "-a"], cmd)
}

/// Runs `perf stat -x, -o <tmp> -e <ev>... -- <cmd>` (the command and its children) and parses the counts.
pub fn perf_stat_command<S: AsRef<OsStr>>(events: &[&str], cmd: &[S]) -> PerfStat {
    perf_stat(&["-e", &events.join(",")], cmd)
}

fn perf_stat<S: AsRef<OsStr>>(perf_args: &[&str], cmd: &[S]) -> PerfStat {
    let csv_path = std::env::temp_dir().join(format!(
        "cperf-perf-{}-{}.csv",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut perf = Command::new("perf");
    perf.args(["stat", "-x,", "-o"]).arg(&csv_path).args(perf_args).arg("--").args(cmd);
    let output = run(&mut perf);
    let csv = fs::read_to_string(&csv_path).unwrap_or_default();
    let _ = fs::remove_file(&csv_path);
    assert!(output.status.success(), "{perf:?} failed: {}\n--- perf csv ---\n{csv}", describe(&output));
    let counts = parse_perf_csv(&csv);
    PerfStat { counts, csv, output }
}

/// Parses `perf stat -x,` output: lines `count,unit,event,[cgroup,]running_ns,percent,...`. Lines that
/// are not counts (comments, blank lines, warnings) are ignored; `<not counted>` and `<not supported>`
/// become `None`.
pub fn parse_perf_csv(text: &str) -> BTreeMap<String, Option<u64>> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let (count, event) = (fields.first()?.trim(), fields.get(2)?.trim());
            if event.is_empty() {
                return None;
            }
            let count = match count {
                "<not counted>" | "<not supported>" => None,
                c => Some(c.parse::<u64>().ok()?),
            };
            Some((event.to_owned(), count))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Scratch directories
// ---------------------------------------------------------------------------------------------------------

/// A scratch directory for one test's files (recordings, traces, built binaries) under
/// `<target>/test-scratch/`, removed when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new, empty directory named after `test` (see [`unique_id`]).
    pub fn new(test: &str) -> Scratch {
        let dir = target_dir().join("test-scratch").join(unique_id(test));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch(dir)
    }

    /// `name` inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
