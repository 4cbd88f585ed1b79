//! Container resolution against real kernel objects: real cgroup v2 directories named as Docker,
//! containerd, CRI-O, Podman and the kubelet name them, a real `sleep` moved into them, and a real runc
//! container.
//!
//! These tests need root and a cgroup2 mount. Without them they print a skip line and pass, unless
//! `CPERF_REQUIRE_PRIVILEGED=1` is set (as CI does), in which case they fail.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use sampler::container::{Locations, ResolveError, Resolved, Resolver, Runtime};

/// The cgroup2 mount, if this test may create cgroups there; otherwise skips (or fails when
/// privileged tests are required).
fn privileged(test: &str) -> Option<PathBuf> {
    let why = if !nix::unistd::geteuid().is_root() {
        "not root".to_owned()
    } else {
        match sampler::cgroup::cgroup2_mount() {
            Ok(root) => return Some(root),
            Err(e) => e.to_string(),
        }
    };
    skip(test, &why)
}

fn skip<T>(test: &str, why: &str) -> Option<T> {
    if std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: root and a cgroup2 mount are required (CPERF_REQUIRE_PRIVILEGED=1) but {why}");
    }
    eprintln!("skipping {test}: {why}");
    None
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

fn random_hex(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(&format!("{:016x}", random_u64()));
    }
    s.truncate(len);
    s
}

fn random_uid() -> String {
    let h = random_hex(32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// A real cgroup subtree `<root>/cperf-test-<random>/…` with `sleep` processes in it; on drop the
/// processes are killed and the cgroups removed bottom-up.
struct CgroupTree {
    root: PathBuf,
    base: String,
    children: Vec<Child>,
}

impl CgroupTree {
    fn new(root: &Path) -> Self {
        let base = format!("/cperf-test-{}", random_hex(12));
        std::fs::create_dir(root.join(&base[1..])).expect("create test cgroup");
        CgroupTree { root: root.to_path_buf(), base, children: Vec::new() }
    }

    /// Creates the cgroup `<base>/<rel>` (and its parents); returns its path relative to the cgroup2 root.
    fn mkdir(&self, rel: &str) -> String {
        let rel = format!("{}/{}", self.base, rel.trim_matches('/'));
        std::fs::create_dir_all(self.root.join(&rel[1..])).expect("create cgroup");
        rel
    }

    fn dir(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Starts `sleep 1000` and moves it into cgroup `rel` (as returned by [`mkdir`](Self::mkdir)).
    fn spawn_into(&mut self, rel: &str) -> u32 {
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        self.children.push(child);
        std::fs::write(self.dir(rel).join("cgroup.procs"), pid.to_string()).expect("move sleep into cgroup");
        pid
    }
}

impl Drop for CgroupTree {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut dirs = Vec::new();
        let mut stack = vec![self.root.join(&self.base[1..])];
        while let Some(dir) = stack.pop() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                stack.extend(
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
            dirs.push(dir);
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in dirs {
            for _ in 0..100 {
                match std::fs::remove_dir(&dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(10))
                    }
                    _ => break,
                }
            }
        }
    }
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("cperf-test-{}", random_hex(12)));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Locations whose name sources (Docker, Podman, kubelet) live under `names`, and whose runc/crun
/// state directories are empty.
fn locations(root: &Path, names: &Path) -> Locations {
    Locations {
        cgroup2: Some(root.to_path_buf()),
        runc_state: names.join("run/runc"),
        crun_state: names.join("run/crun"),
        docker: names.join("docker"),
        podman_storage: names.join("storage"),
        pod_logs: names.join("pods"),
        container_logs: names.join("containers"),
        ..Locations::default()
    }
}

fn write_docker_name(names: &Path, id: &str, name: &str) {
    let dir = names.join("docker/containers").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({"ID": id, "Name": format!("/{name}"), "State": {"Running": true}});
    std::fs::write(dir.join("config.v2.json"), config.to_string()).unwrap();
}

fn write_podman_names(names: &Path, entries: &[(&str, &str)]) {
    let dir = names.join("storage/overlay-containers");
    std::fs::create_dir_all(&dir).unwrap();
    let list: Vec<_> = entries
        .iter()
        .map(|(id, name)| serde_json::json!({"id": id, "names": [name], "layer": "x"}))
        .collect();
    std::fs::write(dir.join("containers.json"), serde_json::to_string(&list).unwrap()).unwrap();
}

/// Lays out the kubelet's `/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log` and the
/// `/var/log/containers/<pod>_<ns>_<container>-<id>.log` link to it.
fn write_kube_logs(names: &Path, ns: &str, pod: &str, uid: &str, containers: &[(&str, &str)]) {
    let pod_dir = names.join("pods").join(format!("{ns}_{pod}_{uid}"));
    std::fs::create_dir_all(names.join("containers")).unwrap();
    for (container, id) in containers {
        std::fs::create_dir_all(pod_dir.join(container)).unwrap();
        let log = pod_dir.join(container).join("0.log");
        std::fs::write(&log, "").unwrap();
        std::os::unix::fs::symlink(
            &log,
            names.join("containers").join(format!("{pod}_{ns}_{container}-{id}.log")),
        )
        .unwrap();
    }
}

fn check(r: &Resolved, runtime: Runtime, id: Option<&str>, name: Option<&str>, cgroup: &str) {
    let c = &r.container;
    assert_eq!(c.runtime, runtime, "runtime of `{}`: {c:?}", r.given);
    assert_eq!(c.id.as_deref(), id, "id of `{}`", r.given);
    assert_eq!(c.name.as_deref(), name, "name of `{}`", r.given);
    assert_eq!(c.cgroup, cgroup, "cgroup of `{}`", r.given);
}

#[test]
fn resolves_each_runtime_layout_by_id_prefix_name_pid_and_path() {
    let Some(root) = privileged("resolves_each_runtime_layout_by_id_prefix_name_pid_and_path") else {
        return;
    };
    let mut tree = CgroupTree::new(&root);
    let names = TempDir::new();
    let tag = random_hex(8);

    let docker_id = random_hex(64);
    let docker = tree.mkdir(&format!("system.slice/docker-{docker_id}.scope"));
    let docker_name = format!("web-{tag}");
    write_docker_name(&names.0, &docker_id, &docker_name);
    let sleep = tree.spawn_into(&docker);

    let uid = random_uid();
    let pod = tree.mkdir(&format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        uid.replace('-', "_")
    ));
    let ctrd_id = random_hex(64);
    let ctrd = tree.mkdir(&format!("{}/cri-containerd-{ctrd_id}.scope", &pod[tree.base.len() + 1..]));
    let pause_id = random_hex(64);
    tree.mkdir(&format!("{}/cri-containerd-{pause_id}.scope", &pod[tree.base.len() + 1..]));
    let (ns, pod_name) = (format!("ns-{tag}"), format!("nginx-{tag}"));
    write_kube_logs(&names.0, &ns, &pod_name, &uid, &[("app", &ctrd_id)]);
    let in_pod = tree.spawn_into(&ctrd);

    let podman_id = random_hex(64);
    let podman = tree.mkdir(&format!("machine.slice/libpod-{podman_id}.scope"));
    let conmon = tree.mkdir(&format!("machine.slice/libpod-conmon-{podman_id}.scope"));
    let podman_name = format!("db-{tag}");
    write_podman_names(&names.0, &[(&podman_id, &podman_name)]);
    tree.spawn_into(&conmon);

    let fs_uid = random_uid();
    let fs_id = random_hex(64);
    let fs_pod = tree.mkdir(&format!("kubepods/besteffort/pod{fs_uid}"));
    let fs_ctr = tree.mkdir(&format!("kubepods/besteffort/pod{fs_uid}/{fs_id}"));

    let resolver = Resolver::with_locations(locations(&root, &names.0));
    let ok = |spec: &str| resolver.resolve(spec).unwrap_or_else(|e| panic!("resolve `{spec}`: {e}"));

    // Docker, systemd driver: full id, prefix, name, pid, relative and absolute cgroup paths.
    let abs = root.join(&docker[1..]);
    for spec in [
        docker_id.clone(),
        docker_id[..12].to_owned(),
        docker_name.clone(),
        format!("pid:{sleep}"),
        docker[1..].to_owned(),
        docker.clone(),
        abs.to_str().unwrap().to_owned(),
    ] {
        let r = ok(&spec);
        check(&r, Runtime::Docker, Some(&docker_id), Some(&docker_name), &docker);
        assert_eq!(r.container.pids, vec![sleep], "pids of `{spec}`");
        assert_eq!(r.dir, abs);
        assert_eq!(r.given, spec);
    }

    // containerd under a systemd-driver burstable pod, named through the kubelet's log links.
    let full_name = format!("{ns}/{pod_name}/app");
    for spec in [ctrd_id.clone(), ctrd_id[..5].to_owned(), full_name.clone(), format!("pid:{in_pod}")] {
        let r = ok(&spec);
        check(&r, Runtime::Containerd, Some(&ctrd_id), Some(&full_name), &ctrd);
        assert_eq!(r.container.pids, vec![in_pod]);
    }
    check(
        &ok(&pause_id),
        Runtime::Containerd,
        Some(&pause_id),
        None,
        &format!("{pod}/cri-containerd-{pause_id}.scope"),
    );

    // The pod itself, by uid, pod<uid>, namespace/name and bare name; its pids include its containers'.
    let pod_full = format!("{ns}/{pod_name}");
    for spec in [uid.clone(), format!("pod{uid}"), pod_full.clone(), pod_name.clone()] {
        let r = ok(&spec);
        check(&r, Runtime::Kubernetes, Some(&uid), Some(&pod_full), &pod);
        assert_eq!(r.container.pids, vec![in_pod]);
    }

    // Podman: the container, not its conmon scope (which holds the only process here).
    for spec in [podman_id.clone(), podman_name.clone()] {
        let r = ok(&spec);
        check(&r, Runtime::Podman, Some(&podman_id), Some(&podman_name), &podman);
        assert!(r.container.pids.is_empty());
    }

    // Kubernetes, cgroupfs driver: the runtime is not in the name.
    check(&ok(&fs_id), Runtime::Kubernetes, Some(&fs_id), None, &fs_ctr);
    check(&ok(&format!("pod{fs_uid}")), Runtime::Kubernetes, Some(&fs_uid), None, &fs_pod);

    // A plain cgroup by path, and a pid in it.
    let plain = tree.mkdir("plain");
    let plain_pid = tree.spawn_into(&plain);
    check(&ok(&plain), Runtime::Cgroup, None, None, &plain);
    let r = ok(&format!("pid:{plain_pid}"));
    check(&r, Runtime::Pid, None, None, &plain);
    assert_eq!(r.container.pids, vec![plain_pid]);

    // list() has each container once, with its processes, and not the conmon scope or plain cgroup.
    let listed = resolver.list().expect("list");
    let ours: Vec<_> = listed.iter().filter(|c| c.cgroup.starts_with(&format!("{}/", tree.base))).collect();
    let cgroups: Vec<&str> = ours.iter().map(|c| c.cgroup.as_str()).collect();
    for expected in [&docker, &pod, &ctrd, &podman, &fs_pod, &fs_ctr] {
        assert_eq!(
            cgroups.iter().filter(|c| **c == expected.as_str()).count(),
            1,
            "{expected} in {cgroups:?}"
        );
    }
    assert_eq!(ours.len(), 7, "{cgroups:?}");
    let docker_listed = ours.iter().find(|c| c.cgroup == docker).unwrap();
    assert_eq!(
        (docker_listed.name.as_deref(), docker_listed.pids.as_slice()),
        (Some(docker_name.as_str()), &[sleep][..])
    );
}

#[test]
fn ambiguous_prefix_lists_every_match_and_exact_names_win() {
    let Some(root) = privileged("ambiguous_prefix_lists_every_match_and_exact_names_win") else { return };
    let tree = CgroupTree::new(&root);
    let names = TempDir::new();
    let shared = random_hex(20);
    // The ids share 20 digits and differ at the 21st, so `b[..21]` is unique (random 21st digits would
    // collide one run in 16).
    let a = format!("{shared}0{}", random_hex(43));
    let b = format!("{shared}f{}", random_hex(43));
    let a_cg = tree.mkdir(&format!("system.slice/docker-{a}.scope"));
    let b_cg = tree.mkdir(&format!("docker/{b}"));
    write_docker_name(&names.0, &a, "alpha");
    let resolver = Resolver::with_locations(locations(&root, &names.0));

    match resolver.resolve(&shared[..10]) {
        Err(e @ ResolveError::Ambiguous { .. }) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            for needle in [&a[..12], &b[..12], "alpha", "docker", a_cg.as_str(), b_cg.as_str()] {
                assert!(msg.contains(needle), "`{needle}` missing from: {msg}");
            }
            let ResolveError::Ambiguous { total, .. } = e else { unreachable!() };
            assert_eq!(total, 2);
        }
        other => panic!("expected an ambiguity error, got {other:?}"),
    }
    assert_eq!(resolver.resolve(&a).unwrap().container.cgroup, a_cg);
    assert_eq!(resolver.resolve(&b).unwrap().container.cgroup, b_cg);
    assert_eq!(resolver.resolve(&b[..21]).unwrap().container.cgroup, b_cg);

    // A container whose name is the shared prefix beats the two prefix matches.
    write_docker_name(&names.0, &b, &shared[..10]);
    assert_eq!(resolver.resolve(&shared[..10]).unwrap().container.cgroup, b_cg);
}

#[test]
fn unknown_short_and_stale_specs_say_what_to_do() {
    let Some(root) = privileged("unknown_short_and_stale_specs_say_what_to_do") else { return };
    let tree = CgroupTree::new(&root);
    let names = TempDir::new();
    let id = random_hex(64);
    tree.mkdir(&format!("system.slice/docker-{id}.scope"));
    let resolver = Resolver::with_locations(locations(&root, &names.0));

    let unknown = format!("cperf-nothing-{}", random_hex(8));
    let err = resolver.resolve(&unknown).unwrap_err();
    assert!(matches!(err, ResolveError::Unknown { .. }), "{err:?}");
    assert!(err.to_string().contains("cperf containers"), "{err}");
    assert!(err.to_string().contains("pid:<N>"), "{err}");

    let err = resolver.resolve(&id[..2]).unwrap_err();
    assert!(matches!(err, ResolveError::PrefixTooShort { .. }), "{err:?}");

    let err = resolver.resolve(&format!("{}/no/such/dir", tree.base)).unwrap_err();
    assert!(matches!(err, ResolveError::Unknown { .. }), "{err:?}");

    // A runc container whose state outlived its cgroup.
    let stale = format!("cperf-stale-{}", random_hex(8));
    let state_dir = names.0.join("run/runc").join(&stale);
    std::fs::create_dir_all(&state_dir).unwrap();
    let gone = root.join(format!("{}/{stale}", &tree.base[1..]));
    let state = serde_json::json!({"id": stale, "init_process_pid": 0, "cgroup_paths": {"": gone}});
    std::fs::write(state_dir.join("state.json"), state.to_string()).unwrap();
    let err = resolver.resolve(&stale).unwrap_err();
    assert!(matches!(err, ResolveError::CgroupGone { .. }), "{err:?}");
    assert!(err.to_string().contains("runc delete"), "{err}");
    assert!(!resolver.list().unwrap().iter().any(|c| c.id.as_deref() == Some(stale.as_str())));

    // A pid that does not exist.
    let err = resolver.resolve("pid:4194304").unwrap_err();
    assert!(err.to_string().contains("4194304"), "{err}");
}

#[test]
fn pid_inside_a_container_subgroup_reports_the_container() {
    let Some(root) = privileged("pid_inside_a_container_subgroup_reports_the_container") else { return };
    let mut tree = CgroupTree::new(&root);
    let names = TempDir::new();
    let id = random_hex(64);
    tree.mkdir(&format!("machine.slice/libpod-{id}.scope"));
    let inner = tree.mkdir(&format!("machine.slice/libpod-{id}.scope/container"));
    let pid = tree.spawn_into(&inner);
    write_podman_names(&names.0, &[(&id, "split")]);
    let resolver = Resolver::with_locations(locations(&root, &names.0));
    let r = resolver.resolve(&format!("pid:{pid}")).unwrap();
    check(&r, Runtime::Podman, Some(&id), Some("split"), &inner);
    // By id, the container's own scope, with the process below it.
    let r = resolver.resolve(&id).unwrap();
    assert_eq!(r.container.pids, vec![pid]);
    assert_eq!(r.container.cgroup, inner.trim_end_matches("/container"));
}

/// A runc container made from a busybox bundle; deleted on drop.
struct RuncContainer {
    id: String,
    _bundle: TempDir,
}

impl RuncContainer {
    fn start() -> Option<RuncContainer> {
        Self::make("runc_container_by_id_prefix_and_pid", "run", "sleep 1000")
    }

    /// A container of `test` made with `runc <how>` (`run` or `create`), its process running
    /// `sh -c script`.
    fn make(test: &str, how: &str, script: &str) -> Option<RuncContainer> {
        if Command::new("runc").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
            return skip(test, "runc is not installed");
        }
        if !Path::new("/bin/busybox").exists() {
            return skip(test, "/bin/busybox (busybox-static) is not installed");
        }
        let bundle = TempDir::new();
        let bin = bundle.0.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", bin.join("sh")).unwrap();
        let status = Command::new("runc").arg("spec").current_dir(&bundle.0).status().unwrap();
        assert!(status.success(), "runc spec");
        let config_path = bundle.0.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["process"]["args"] = serde_json::json!(["/bin/sh", "-c", script]);
        config["process"]["terminal"] = serde_json::json!(false);
        config["root"]["readonly"] = serde_json::json!(false);
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

        let id = format!("cperf-runc-{}", random_hex(16));
        let container = RuncContainer { id: id.clone(), _bundle: bundle };
        // With `-d` the container inherits runc's stdio: a pipe would stay open as long as the
        // container runs, so runc's errors go to a file.
        let log_path = container._bundle.0.join("runc-run.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let args: &[&str] = if how == "run" { &["run", "-d", "--bundle"] } else { &[how, "--bundle"] };
        let status = Command::new("runc")
            .args(args)
            .arg(&container._bundle.0)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .status()
            .unwrap();
        assert!(status.success(), "runc run: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
        Some(container)
    }

    fn init_pid(&self) -> u32 {
        self.state()["pid"].as_u64().unwrap() as u32
    }

    /// What `runc state` says.
    fn state(&self) -> serde_json::Value {
        let out = Command::new("runc").args(["state", &self.id]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc").args(["delete", "-f", &self.id]).stderr(Stdio::null()).status();
    }
}

#[test]
fn runc_container_by_id_prefix_and_pid() {
    let Some(_root) = privileged("runc_container_by_id_prefix_and_pid") else { return };
    let Some(container) = RuncContainer::start() else { return };
    let init = container.init_pid();
    let cgroup = sampler::cgroup::cgroup_of_pid(init).unwrap();
    let resolver = Resolver::new().unwrap();
    let prefix = &container.id[..container.id.len() - 8];
    for spec in [container.id.clone(), prefix.to_owned(), format!("pid:{init}"), cgroup.clone()] {
        let r = resolver.resolve(&spec).unwrap_or_else(|e| panic!("resolve `{spec}`: {e}"));
        check(&r, Runtime::Runc, Some(&container.id), Some(&container.id), &cgroup);
        assert!(r.container.pids.contains(&init), "{:?} lacks init {init}", r.container.pids);
        assert!(r.dir.is_dir());
    }
    let listed = resolver.list().unwrap();
    assert!(listed.iter().any(|c| c.id.as_deref() == Some(container.id.as_str()) && c.pids.contains(&init)));
}

/// A runc container whose process has exited keeps its (empty) cgroup until `runc delete`: it is
/// said to be stopped, by id and by cgroup path, not counted as an empty container. One made with
/// `runc create` and not yet started is resolved (counting can start before `runc start`).
#[test]
fn a_stopped_runc_container_is_said_to_be_stopped() {
    let test = "a_stopped_runc_container_is_said_to_be_stopped";
    let Some(root) = privileged(test) else { return };
    let Some(stopped) = RuncContainer::make(test, "run", "exit 0") else { return };
    // runc says `stopped` once the process has exited: wait for that (the container's whole life
    // is one `exit`), then resolve.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while stopped.state()["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline, "never stopped: {}", stopped.state());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let cgroup = format!("/{}", stopped.id);
    assert!(root.join(&stopped.id).is_dir(), "runc keeps the cgroup of a stopped container");
    let resolver = Resolver::new().unwrap();
    for spec in [stopped.id.as_str(), &stopped.id[..stopped.id.len() - 4], cgroup.as_str()] {
        let err = resolver.resolve(spec).unwrap_err();
        assert!(matches!(err, ResolveError::Stopped { runtime: Runtime::Runc, .. }), "{spec}: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("runc container `{}` is stopped", stopped.id))
                && msg.contains(&format!("runc delete {}", stopped.id))
                && !msg.contains('\n'),
            "{msg}"
        );
    }
    let Some(created) = RuncContainer::make(test, "create", "sleep 1000") else { return };
    assert_eq!(created.state()["status"], "created");
    let r = resolver.resolve(&created.id).unwrap();
    assert_eq!(r.container.runtime, Runtime::Runc);
    assert_eq!(r.container.pids, vec![created.init_pid()]);
}

/// Docker removes a stopped container's cgroup; its `config.v2.json` says it is not running: the
/// container is said to be stopped by name, id and id prefix, with how to start it.
#[test]
fn a_stopped_docker_container_is_said_to_be_stopped() {
    let Some(root) = privileged("a_stopped_docker_container_is_said_to_be_stopped") else { return };
    let names = TempDir::new();
    let id = random_hex(64);
    let name = format!("cperf-stopped-{}", random_hex(8));
    let dir = names.0.join("docker/containers").join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let config =
        serde_json::json!({"ID": id, "Name": format!("/{name}"), "State": {"Running": false, "ExitCode": 0}});
    std::fs::write(dir.join("config.v2.json"), config.to_string()).unwrap();
    let resolver = Resolver::with_locations(locations(&root, &names.0));
    for spec in [name.as_str(), id.as_str(), &id[..12]] {
        let err = resolver.resolve(spec).unwrap_err();
        assert!(matches!(err, ResolveError::Stopped { runtime: Runtime::Docker, .. }), "{spec}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!("docker container `{name}` is stopped: start it (`docker start {name}`), or name a running one (`cperf containers` lists them)")
        );
    }
    // Running (by its file) but without a cgroup: not claimed to be stopped.
    let running = serde_json::json!({"ID": id, "Name": format!("/{name}"), "State": {"Running": true}});
    std::fs::write(dir.join("config.v2.json"), running.to_string()).unwrap();
    assert!(matches!(resolver.resolve(&name), Err(ResolveError::Unknown { .. })));
}
