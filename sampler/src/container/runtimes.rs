//! Reading what container runtimes and the kubelet leave on disk: runc and crun state, Docker and
//! Podman names, and the kubelet's pod and container log directories.
//!
//! All of it is untrusted input: files are read with a size bound, malformed JSON is skipped, and
//! nothing here fails — what cannot be read is simply not known.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::Runtime;
use crate::cgroup;

/// The most a per-container state or config file may hold before it is ignored.
pub(crate) const MAX_STATE_FILE: u64 = 4 << 20;

/// The most Podman's `containers.json` (one entry per container on the host) may hold.
pub(crate) const MAX_PODMAN_INDEX: u64 = 32 << 20;

/// The contents of `path` if it can be read and is at most `limit` bytes long.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= limit).then_some(bytes)
}

/// A container an OCI runtime (runc, crun) keeps state for.
#[derive(Debug, Clone)]
pub(crate) struct OciState {
    /// Which runtime's state directory it was found in.
    pub runtime: Runtime,
    /// The container id (also its name).
    pub id: String,
    /// Its cgroup, relative to the cgroup2 root, if that cgroup still exists.
    pub cgroup: Option<String>,
    /// Where the state said the cgroup was (for messages when it is gone).
    pub recorded_cgroup: Option<String>,
    /// Its init process has exited (as `runc state` says `stopped`): the container runs nothing
    /// and never will again, though its cgroup may still be there.
    pub stopped: bool,
}

#[derive(serde::Deserialize)]
struct RuncState {
    id: String,
    #[serde(default)]
    init_process_pid: Option<u32>,
    #[serde(default)]
    init_process_start: Option<u64>,
    #[serde(default)]
    cgroup_paths: HashMap<String, String>,
    #[serde(default)]
    config: Option<RuncConfig>,
}

#[derive(serde::Deserialize)]
struct RuncConfig {
    #[serde(default)]
    cgroups: Option<RuncCgroups>,
}

#[derive(serde::Deserialize)]
struct RuncCgroups {
    #[serde(default)]
    path: Option<String>,
}

#[derive(serde::Deserialize)]
struct CrunStatus {
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default, rename = "process-start-time")]
    process_start_time: Option<u64>,
    #[serde(default, rename = "cgroup-path")]
    cgroup_path: Option<String>,
}

/// The containers in runc's state directory (`/run/runc/<id>/state.json`).
///
/// The cgroup is taken from `cgroup_paths[""]` (the unified hierarchy's entry, an absolute path),
/// else from the init process when it is still the same process (same start time), else from
/// `config.cgroups.path` when that is an absolute cgroupfs path.
pub(crate) fn runc_states(state_dir: &Path, cgroup_root: &Path, proc: &Path) -> Vec<OciState> {
    let mut out = Vec::new();
    for dir in subdirs(state_dir) {
        let Some(bytes) = read_bounded(&dir.join("state.json"), MAX_STATE_FILE) else { continue };
        let Ok(state) = serde_json::from_slice::<RuncState>(&bytes) else { continue };
        if !is_runtime_id(&state.id) {
            continue;
        }
        let mut recorded = Vec::new();
        if let Some(abs) = state.cgroup_paths.get("") {
            recorded.push(under_root(abs, cgroup_root).unwrap_or_else(|| abs.clone()));
        }
        if let Some(rel) = live_process_cgroup(proc, state.init_process_pid, state.init_process_start) {
            recorded.push(rel);
        }
        if let Some(path) = state.config.and_then(|c| c.cgroups).and_then(|c| c.path) {
            if path.starts_with('/') {
                recorded.push(path);
            }
        }
        let stopped = init_exited(proc, state.init_process_pid, state.init_process_start);
        out.push(pick(Runtime::Runc, state.id, recorded, cgroup_root, stopped));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The containers in crun's state directory (`/run/crun/<id>/status`), whose `cgroup-path` is relative
/// to the cgroup2 root.
pub(crate) fn crun_states(state_dir: &Path, cgroup_root: &Path, proc: &Path) -> Vec<OciState> {
    let mut out = Vec::new();
    for dir in subdirs(state_dir) {
        let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
        if !is_runtime_id(&id) {
            continue;
        }
        let Some(bytes) = read_bounded(&dir.join("status"), MAX_STATE_FILE) else { continue };
        let Ok(status) = serde_json::from_slice::<CrunStatus>(&bytes) else { continue };
        let mut recorded = Vec::new();
        if let Some(path) = status.cgroup_path.filter(|p| !p.is_empty()) {
            recorded.push(
                under_root(&path, cgroup_root)
                    .unwrap_or_else(|| format!("/{}", path.trim_start_matches('/'))),
            );
        }
        if let Some(rel) = live_process_cgroup(proc, status.pid, status.process_start_time) {
            recorded.push(rel);
        }
        let stopped = init_exited(proc, status.pid, status.process_start_time);
        out.push(pick(Runtime::Crun, id, recorded, cgroup_root, stopped));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The first recorded cgroup that exists, keeping the first one for messages if none does.
fn pick(runtime: Runtime, id: String, recorded: Vec<String>, cgroup_root: &Path, stopped: bool) -> OciState {
    let cgroup = recorded.iter().find(|rel| is_cgroup_dir(cgroup_root, rel)).cloned();
    OciState { runtime, id, cgroup, recorded_cgroup: recorded.into_iter().next(), stopped }
}

/// `rel` (with a leading `/`, no `..`) names a directory under `cgroup_root`.
pub(crate) fn is_cgroup_dir(cgroup_root: &Path, rel: &str) -> bool {
    rel.starts_with('/') && !rel.split('/').any(|c| c == "..") && cgroup_root.join(&rel[1..]).is_dir()
}

/// `abs` made relative to `root` (with a leading `/`), if it is under it.
pub(crate) fn under_root(abs: &str, root: &Path) -> Option<String> {
    let rest = Path::new(abs).strip_prefix(root).ok()?;
    let rest = rest.to_str()?;
    Some(format!("/{}", rest.trim_matches('/')))
}

/// The cgroup of `pid` if it is alive and started at `start` (clock ticks after boot, field 22 of
/// `/proc/<pid>/stat`), so that a reused pid is not mistaken for the container's init.
fn live_process_cgroup(proc: &Path, pid: Option<u32>, start: Option<u64>) -> Option<String> {
    let (pid, start) = (pid.filter(|&p| p > 0)?, start?);
    if process_start(proc, pid)?.0 != start {
        return None;
    }
    let rel = cgroup::cgroup_of_pid_in(proc, pid).ok()?;
    (!rel.ends_with(" (deleted)")).then_some(rel)
}

/// When `pid` started (clock ticks after boot, field 22 of `/proc/<pid>/stat`), and whether it
/// has exited and waits to be reaped (a zombie); `None` when it does not exist.
fn process_start(proc: &Path, pid: u32) -> Option<(u64, bool)> {
    let stat = read_bounded(&proc.join(pid.to_string()).join("stat"), 64 << 10)?;
    let stat = String::from_utf8_lossy(&stat);
    // The command name (field 2) may hold spaces and parentheses; fields after the last `)` are plain.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let zombie = matches!(fields.next()?, "Z" | "X");
    Some((fields.nth(18)?.parse().ok()?, zombie))
}

/// True when a runtime's recorded init process has exited, as runc decides a container is
/// `stopped`: no process `pid`, a zombie, or another process (started at another time) that
/// reuses the pid. A state that records no pid says nothing.
fn init_exited(proc: &Path, pid: Option<u32>, start: Option<u64>) -> bool {
    let Some(pid) = pid.filter(|&p| p > 0) else { return false };
    match (process_start(proc, pid), start) {
        (None, _) | (Some((_, true)), _) => true,
        (Some((started, false)), Some(start)) => started != start,
        (Some((_, false)), None) => false,
    }
}

/// runc's rule for container ids (`^[\w+-\.]+$`), which also keeps an id from naming another path.
fn is_runtime_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
}

fn subdirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// The name of Docker container `id` (without Docker's leading `/`), from
/// `<docker_root>/containers/<id>/config.v2.json`.
pub(crate) fn docker_name(docker_root: &Path, id: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "Name")]
        name: String,
    }
    if !super::layouts::is_hex64(id) {
        return None;
    }
    let bytes =
        read_bounded(&docker_root.join("containers").join(id).join("config.v2.json"), MAX_STATE_FILE)?;
    let config: Config = serde_json::from_slice(&bytes).ok()?;
    let name = config.name.trim_start_matches('/');
    (!name.is_empty()).then(|| name.to_owned())
}

/// A Docker container that is not running, from `<docker_root>/containers/<id>/config.v2.json`
/// (`State.Running` false; Docker removes a stopped container's cgroup, so the cgroup tree does
/// not show it): the one whose id, name, or id prefix of at least `min_prefix` characters is
/// `spec`, as (id, name). `None` when none is, or when a prefix names several.
pub(crate) fn docker_stopped(docker_root: &Path, spec: &str, min_prefix: usize) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "Name", default)]
        name: String,
        #[serde(rename = "State")]
        state: State,
    }
    #[derive(serde::Deserialize)]
    struct State {
        #[serde(rename = "Running", default)]
        running: bool,
    }
    let mut by_prefix = Vec::new();
    for dir in subdirs(&docker_root.join("containers")) {
        let Some(id) = dir.file_name().and_then(|n| n.to_str()).filter(|id| super::layouts::is_hex64(id))
        else {
            continue;
        };
        let (exact, prefix) = (id == spec, spec.len() >= min_prefix && id.starts_with(spec));
        let Some(bytes) = read_bounded(&dir.join("config.v2.json"), MAX_STATE_FILE) else { continue };
        let Ok(config) = serde_json::from_slice::<Config>(&bytes) else { continue };
        let name = config.name.trim_start_matches('/').to_owned();
        if config.state.running {
            continue;
        }
        if exact || name == spec {
            return Some((id.to_owned(), name));
        }
        if prefix {
            by_prefix.push((id.to_owned(), name));
        }
    }
    (by_prefix.len() == 1).then(|| by_prefix.remove(0))
}

/// Podman container names by id, from `<storage>/overlay-containers/containers.json`.
pub(crate) fn podman_names(storage_root: &Path) -> HashMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
        #[serde(default)]
        names: Vec<String>,
    }
    let path = storage_root.join("overlay-containers").join("containers.json");
    let Some(bytes) = read_bounded(&path, MAX_PODMAN_INDEX) else { return HashMap::new() };
    let Ok(entries) = serde_json::from_slice::<Vec<Entry>>(&bytes) else { return HashMap::new() };
    entries.into_iter().filter_map(|e| Some((e.id, e.names.into_iter().next()?))).collect()
}

/// A Kubernetes pod as the kubelet's log directory names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodName {
    /// The namespace.
    pub namespace: String,
    /// The pod name.
    pub name: String,
}

/// Pods by uid (with dashes), from the kubelet's `<pod_logs>/<namespace>_<pod>_<uid>/` directories.
pub(crate) fn kube_pods(pod_logs: &Path) -> HashMap<String, PodName> {
    let mut out = HashMap::new();
    for dir in subdirs(pod_logs) {
        let Some(entry) = dir.file_name().and_then(|n| n.to_str()) else { continue };
        if let Some((uid, pod)) = parse_pod_log_dir(entry) {
            out.insert(uid, pod);
        }
    }
    out
}

/// `<namespace>_<pod>_<uid>` → (uid, pod). Namespaces and pod names cannot hold `_`.
pub(crate) fn parse_pod_log_dir(name: &str) -> Option<(String, PodName)> {
    let mut parts = name.splitn(3, '_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if namespace.is_empty() || pod.is_empty() || uid.is_empty() || uid.contains('_') {
        return None;
    }
    Some((uid.to_owned(), PodName { namespace: namespace.to_owned(), name: pod.to_owned() }))
}

/// A container in a Kubernetes pod, as the kubelet's container log link names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KubeContainer {
    /// The pod it belongs to.
    pub pod: PodName,
    /// The container's name in the pod spec.
    pub container: String,
}

/// Kubernetes containers by container id, from the kubelet's
/// `<container_logs>/<pod>_<namespace>_<container>-<id>.log` links (which point into the pod's
/// `/var/log/pods/<namespace>_<pod>_<uid>/<container>/` directory).
pub(crate) fn kube_containers(container_logs: &Path) -> HashMap<String, KubeContainer> {
    let Ok(entries) = std::fs::read_dir(container_logs) else { return HashMap::new() };
    entries.filter_map(Result::ok).filter_map(|e| parse_container_log_name(e.file_name().to_str()?)).collect()
}

/// `<pod>_<namespace>_<container>-<64hex>.log` → (id, container).
pub(crate) fn parse_container_log_name(name: &str) -> Option<(String, KubeContainer)> {
    let stem = name.strip_suffix(".log")?;
    let (rest, id) = stem.rsplit_once('-')?;
    if !super::layouts::is_hex64(id) {
        return None;
    }
    let mut parts = rest.splitn(3, '_');
    let (pod, namespace, container) = (parts.next()?, parts.next()?, parts.next()?);
    if pod.is_empty() || namespace.is_empty() || container.is_empty() || container.contains('_') {
        return None;
    }
    let pod = PodName { namespace: namespace.to_owned(), name: pod.to_owned() };
    Some((id.to_owned(), KubeContainer { pod, container: container.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const ID: &str = "4f1e8c0b9a7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f";

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
            let dir = std::env::temp_dir().join(format!("cperf-rt-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn bounded_read_refuses_big_files() {
        let t = TempDir::new("bound");
        let f = t.0.join("f");
        std::fs::write(&f, vec![b'x'; 100]).unwrap();
        assert_eq!(read_bounded(&f, 100).map(|b| b.len()), Some(100));
        assert_eq!(read_bounded(&f, 99), None);
        assert_eq!(read_bounded(&t.0.join("missing"), 99), None);
    }

    #[test]
    fn runc_state_as_runc_1_1_writes_it() {
        let t = TempDir::new("runc");
        let cg = t.0.join("cg");
        std::fs::create_dir_all(cg.join("probe1")).unwrap();
        let state = t.0.join("run");
        for (id, body) in [
            (
                "probe1",
                format!(
                    r#"{{"id":"probe1","init_process_pid":999999999,"init_process_start":57054,
                    "cgroup_paths":{{"":"{}/probe1","memory":"/sys/fs/cgroup/memory/x/probe1"}},
                    "config":{{"cgroups":{{"name":"probe1","path":""}}}}}}"#,
                    cg.display()
                ),
            ),
            ("gone", format!(r#"{{"id":"gone","cgroup_paths":{{"":"{}/gone"}}}}"#, cg.display())),
            ("bad", "{not json".to_owned()),
            ("evil", r#"{"id":"../../etc","cgroup_paths":{"":"/"}}"#.to_owned()),
        ] {
            std::fs::create_dir_all(state.join(id)).unwrap();
            std::fs::write(state.join(id).join("state.json"), body).unwrap();
        }
        let states = runc_states(&state, &cg, Path::new("/proc"));
        let ids: Vec<_> = states.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["gone", "probe1"]);
        assert_eq!(states[1].cgroup.as_deref(), Some("/probe1"));
        assert_eq!(states[0].cgroup, None);
        assert_eq!(states[0].recorded_cgroup.as_deref(), Some("/gone"));
    }

    #[test]
    fn crun_status() {
        let t = TempDir::new("crun");
        let cg = t.0.join("cg");
        std::fs::create_dir_all(cg.join("machine.slice/box1")).unwrap();
        let state = t.0.join("run");
        std::fs::create_dir_all(state.join("box1")).unwrap();
        std::fs::write(
            state.join("box1/status"),
            r#"{"pid":1,"process-start-time":1,"cgroup-path":"/machine.slice/box1","scope":"","rootfs":"rootfs"}"#,
        )
        .unwrap();
        let states = crun_states(&state, &cg, Path::new("/nonexistent-proc"));
        assert_eq!(states.len(), 1);
        assert_eq!(
            (states[0].runtime, states[0].cgroup.as_deref()),
            (Runtime::Crun, Some("/machine.slice/box1"))
        );
    }

    #[test]
    fn docker_and_podman_names() {
        let t = TempDir::new("names");
        let dir = t.0.join("docker/containers").join(ID);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.v2.json"), r#"{"ID":"x","Name":"/web","State":{}}"#).unwrap();
        assert_eq!(docker_name(&t.0.join("docker"), ID).as_deref(), Some("web"));
        assert_eq!(docker_name(&t.0.join("docker"), "../../etc"), None);
        std::fs::write(dir.join("config.v2.json"), r#"{"Name":"#).unwrap();
        assert_eq!(docker_name(&t.0.join("docker"), ID), None);

        let storage = t.0.join("storage/overlay-containers");
        std::fs::create_dir_all(&storage).unwrap();
        std::fs::write(
            storage.join("containers.json"),
            format!(r#"[{{"id":"{ID}","names":["db","db2"]}},{{"id":"x"}}]"#),
        )
        .unwrap();
        let names = podman_names(&t.0.join("storage"));
        assert_eq!(names.get(ID).map(String::as_str), Some("db"));
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn kubelet_log_names() {
        let (uid, pod) =
            parse_pod_log_dir("kube-system_coredns-5d78c9869d-abcde_0a1b2c3d-4e5f-6789-abcd-ef0123456789")
                .unwrap();
        assert_eq!(uid, "0a1b2c3d-4e5f-6789-abcd-ef0123456789");
        assert_eq!((pod.namespace.as_str(), pod.name.as_str()), ("kube-system", "coredns-5d78c9869d-abcde"));
        assert_eq!(parse_pod_log_dir("justone"), None);
        assert_eq!(parse_pod_log_dir("a_b_c_d"), None);

        let (id, c) =
            parse_container_log_name(&format!("coredns-5d78c9869d-abcde_kube-system_coredns-{ID}.log"))
                .unwrap();
        assert_eq!(id, ID);
        assert_eq!(
            (c.pod.namespace.as_str(), c.pod.name.as_str(), c.container.as_str()),
            ("kube-system", "coredns-5d78c9869d-abcde", "coredns")
        );
        assert_eq!(parse_container_log_name("pod_ns_c-abc.log"), None);
        assert_eq!(parse_container_log_name(&format!("pod_ns-{ID}.log")), None);
    }

    #[test]
    fn runtime_ids() {
        assert!(is_runtime_id("probe1"));
        assert!(is_runtime_id("a.b+c_d-e"));
        assert!(!is_runtime_id(".."));
        assert!(!is_runtime_id("a/b"));
        assert!(!is_runtime_id(""));
    }
}
