//! Turning what a user calls a container into a cgroup v2 directory.
//!
//! A spec is tried, in this order of trust:
//!
//! 1. a cgroup path: absolute under the cgroup2 mount, or relative to its root (`system.slice/x.service`,
//!    `/system.slice/x.service`) when that directory exists;
//!    its runtime is the container's when the path matches a known layout or runc/crun state,
//!    `systemd` for a `*.service` / `*.scope` unit, else `cgroup`;
//! 2. `pid:<N>` (a spec with this prefix is never taken as a path): the cgroup of process N;
//! 3. a container id, a unique id prefix (at least [`MIN_PREFIX`] characters), or a name: Docker,
//!    containerd/CRI, CRI-O and Podman containers and Kubernetes pods found by walking the cgroup tree
//!    and matching directory names against their layouts (`layouts.rs`), plus runc and crun containers
//!    from their state directories; names come from the runtimes' own files (`runtimes.rs`).
//!
//! An exact id or name beats a prefix; two matches are an error that lists them.
//!
//! ```no_run
//! let resolver = sampler::container::Resolver::new()?;
//! let web = resolver.resolve("web")?;
//! println!("{} is {} ({} processes)", web.given, web.dir.display(), web.container.pids.len());
//! # Ok::<(), sampler::container::ResolveError>(())
//! ```

mod discover;
mod layouts;
mod runtimes;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cgroup::{self, CgroupError};
use discover::{describe_cgroup, describe_layout, plain, systemd_unit, Entry, Names};
use runtimes::OciState;

/// The fewest characters an id prefix may have (full ids and names always work).
pub const MIN_PREFIX: usize = 3;

/// How many matches an ambiguity error lists.
const MAX_LISTED: usize = 10;

/// What made (or manages) a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A container from runc's state directory.
    Runc,
    /// A container from crun's state directory.
    Crun,
    /// A Docker container.
    Docker,
    /// A containerd container (CRI or nerdctl).
    Containerd,
    /// A CRI-O container.
    CriO,
    /// A Podman container.
    Podman,
    /// A Kubernetes pod, or a pod's container whose runtime the cgroup name does not tell.
    Kubernetes,
    /// A systemd unit (`*.service`, `*.scope`) given by cgroup path; its name is the unit.
    Systemd,
    /// A cgroup given by path that is not a known container.
    Cgroup,
    /// The cgroup of a process given as `pid:<N>` that is not a known container.
    Pid,
}

impl Runtime {
    /// The lowercase name, as shown and serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "crio",
            Runtime::Podman => "podman",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Systemd => "systemd",
            Runtime::Cgroup => "cgroup",
            Runtime::Pid => "pid",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container (or pod, or plain cgroup) and the processes in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Container {
    /// The full container id when known (the pod uid for a pod).
    pub id: Option<String>,
    /// The human name when known: the Docker or Podman name, the runc id, `namespace/pod/container`
    /// for a Kubernetes container, `namespace/pod` for a pod.
    pub name: Option<String>,
    /// What made it.
    pub runtime: Runtime,
    /// Its cgroup, relative to the cgroup2 root, starting with `/`.
    pub cgroup: String,
    /// The processes in it and in the cgroups below it, sorted.
    pub pids: Vec<u32>,
}

/// The answer to [`Resolver::resolve`].
#[derive(Debug)]
pub struct Resolved {
    /// Exactly what the user typed.
    pub given: String,
    /// What it named.
    pub container: Container,
    /// The absolute cgroup2 directory.
    pub dir: PathBuf,
}

/// Why a spec could not be resolved. Every message is one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// cgroup2 could not be found or read.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The spec was empty.
    #[error("no container given: pass a container id, name, cgroup path or pid:<N>")]
    Empty,
    /// `pid:` was not followed by a process id.
    #[error("`{spec}` is not a valid pid spec: write pid:<N> with N a process id, e.g. pid:1234")]
    BadPid {
        /// What was typed.
        spec: String,
    },
    /// A path that tries to leave the cgroup tree, or is not UTF-8.
    #[error("`{spec}` is not a usable cgroup path: give a path under {root} without `..`")]
    BadPath {
        /// What was typed.
        spec: String,
        /// The cgroup2 mount.
        root: PathBuf,
    },
    /// An absolute path that exists but is not a cgroup v2 directory.
    #[error("`{spec}` is not under the cgroup v2 mount {root}: give a path under it, or relative to it")]
    NotUnderCgroupRoot {
        /// What was typed.
        spec: String,
        /// The cgroup2 mount.
        root: PathBuf,
    },
    /// The process's cgroup has been removed, or is not visible from here.
    #[error("process {pid} is in cgroup `{cgroup}`, which is not a directory under {root}: is the process in another cgroup namespace, or being torn down?")]
    PidCgroupMissing {
        /// The process.
        pid: u32,
        /// Its cgroup as `/proc/<pid>/cgroup` shows it.
        cgroup: String,
        /// The cgroup2 mount.
        root: PathBuf,
    },
    /// A runtime keeps state for the container but its cgroup no longer exists.
    #[error("{runtime} container `{id}` has state but its cgroup {} is gone (the container has stopped): start it again, or clear the state with `{runtime} delete {id}`", .cgroup.as_deref().unwrap_or("(unknown)"))]
    CgroupGone {
        /// The runtime.
        runtime: Runtime,
        /// The container id.
        id: String,
        /// Where the state said the cgroup was.
        cgroup: Option<String>,
    },
    /// The container exists but runs nothing: its process has exited (runc, crun), or Docker
    /// says it is not running.
    #[error("{runtime} container `{name}` is stopped: {}", stopped_remedy(*.runtime, .name))]
    Stopped {
        /// The runtime.
        runtime: Runtime,
        /// The container, as its runtime's commands take it (its name, else its id).
        name: String,
    },
    /// Nothing matches among what this user may read, and some runtime state could not be read.
    #[error("no container this user can see matches `{spec}`, and permission was denied reading {}: run cperf as root (sudo) or with CAP_DAC_READ_SEARCH, or pass a cgroup path or pid:<N>", .denied.join(", "))]
    Unreadable {
        /// What was typed.
        spec: String,
        /// The runtime state that could not be read, each with whose it is.
        denied: Vec<String>,
    },
    /// An id prefix shorter than [`MIN_PREFIX`] characters.
    #[error(
        "id prefix `{spec}` is too short: give at least {MIN_PREFIX} characters, or the full id or name"
    )]
    PrefixTooShort {
        /// What was typed.
        spec: String,
    },
    /// More than one container matches.
    #[error("`{spec}` matches {total} containers: {}; give more of the id, or the full id or a cgroup path", list_matches(.matches, *.total))]
    Ambiguous {
        /// What was typed.
        spec: String,
        /// The first few matches.
        matches: Vec<Container>,
        /// How many matched in all.
        total: usize,
    },
    /// Nothing matches.
    #[error("no container, pod or cgroup matches `{spec}`: run `cperf containers` to list what can be resolved, or pass a cgroup path or pid:<N>")]
    Unknown {
        /// What was typed.
        spec: String,
    },
}

/// What to do about a stopped container.
fn stopped_remedy(runtime: Runtime, name: &str) -> String {
    match runtime {
        Runtime::Docker | Runtime::Podman => {
            format!("start it (`{runtime} start {name}`), or name a running one (`cperf containers` lists them)")
        }
        _ => format!(
            "its process has exited; run it again (`{runtime} delete {name}`, then `{runtime} run`), or name a running one (`cperf containers` lists them)"
        ),
    }
}

fn list_matches(matches: &[Container], total: usize) -> String {
    let mut parts: Vec<String> = matches
        .iter()
        .map(|c| {
            let id = c.id.as_deref().map(short_id).unwrap_or("-");
            let name = c.name.as_deref().unwrap_or("-");
            format!("{id} {name} ({}, {})", c.runtime, c.cgroup)
        })
        .collect();
    if total > matches.len() {
        parts.push(format!("and {} more", total - matches.len()));
    }
    parts.join("; ")
}

/// The first 12 characters of an id, as `docker ps` shows it.
fn short_id(id: &str) -> &str {
    id.char_indices().nth(12).map_or(id, |(i, _)| &id[..i])
}

/// Where the resolver looks for everything. [`Default`] is the host's usual locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    /// The cgroup2 mount; `None` finds it from `/proc/self/mountinfo` on each call.
    pub cgroup2: Option<PathBuf>,
    /// procfs (`/proc`).
    pub proc: PathBuf,
    /// runc's state directory (`/run/runc`).
    pub runc_state: PathBuf,
    /// crun's state directory (`/run/crun`).
    pub crun_state: PathBuf,
    /// Docker's data root (`/var/lib/docker`).
    pub docker: PathBuf,
    /// Podman's (containers/storage) root (`/var/lib/containers/storage`).
    pub podman_storage: PathBuf,
    /// The kubelet's pod log directory (`/var/log/pods`), whose `<namespace>_<pod>_<uid>` entries name pods.
    pub pod_logs: PathBuf,
    /// The kubelet's container log links (`/var/log/containers`), whose
    /// `<pod>_<namespace>_<container>-<id>.log` entries name containers.
    pub container_logs: PathBuf,
}

impl Default for Locations {
    fn default() -> Self {
        Locations {
            cgroup2: None,
            proc: PathBuf::from("/proc"),
            runc_state: PathBuf::from("/run/runc"),
            crun_state: PathBuf::from("/run/crun"),
            docker: PathBuf::from("/var/lib/docker"),
            podman_storage: PathBuf::from("/var/lib/containers/storage"),
            pod_logs: PathBuf::from("/var/log/pods"),
            container_logs: PathBuf::from("/var/log/containers"),
        }
    }
}

/// Resolves container specs against the host (or the [`Locations`] it was given).
#[derive(Debug, Clone)]
pub struct Resolver {
    loc: Locations,
}

impl Resolver {
    /// A resolver for this host, with cgroup2 found from `/proc/self/mountinfo`.
    pub fn new() -> Result<Resolver, ResolveError> {
        let cgroup2 = cgroup::cgroup2_mount()?;
        Ok(Resolver { loc: Locations { cgroup2: Some(cgroup2), ..Locations::default() } })
    }

    /// A resolver that looks where `loc` says.
    pub fn with_locations(loc: Locations) -> Resolver {
        Resolver { loc }
    }

    /// Where this resolver looks.
    pub fn locations(&self) -> &Locations {
        &self.loc
    }

    fn root(&self) -> Result<PathBuf, ResolveError> {
        match &self.loc.cgroup2 {
            Some(root) => Ok(root.clone()),
            None => Ok(cgroup::cgroup2_mount()?),
        }
    }

    /// Resolves `spec` (see the [module docs](self) for what it may be).
    ///
    /// For `pid:<N>` the cgroup is always the process's own; when that cgroup is, or is inside, a
    /// known container, the runtime, id and name are that container's.
    pub fn resolve(&self, spec: &str) -> Result<Resolved, ResolveError> {
        let root = self.root()?;
        let given = spec.to_owned();
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(ResolveError::Empty);
        }
        let names = Names::new(&self.loc);
        let mut container = if let Some(pid) = spec.strip_prefix("pid:") {
            self.by_pid(&root, spec, pid, &names)?
        } else if let Some(rel) = self.as_cgroup_path(&root, spec)? {
            let states = self.oci_states(&root);
            describe_cgroup(&rel, &states, &names)
                .unwrap_or_else(|| systemd_unit(&rel).unwrap_or_else(|| plain(Runtime::Cgroup, rel)))
        } else {
            self.by_id_or_name(&root, spec, &names)?
        };
        // A runc or crun container whose process has exited keeps its cgroup until deleted:
        // empty, for good.
        if matches!(container.runtime, Runtime::Runc | Runtime::Crun) {
            let states = self.oci_states(&root);
            if let Some(s) = states.iter().find(|s| s.stopped && container.id.as_ref() == Some(&s.id)) {
                return Err(ResolveError::Stopped { runtime: s.runtime, name: s.id.clone() });
            }
        }
        let dir = cgroup_dir(&root, &container.cgroup);
        container.pids = cgroup::procs(&dir, true)?;
        Ok(Resolved { given, container, dir })
    }

    /// Every container, pod and runc/crun container that can be resolved, with their processes; plain
    /// cgroups (systemd services and the like) are not listed.
    pub fn list(&self) -> Result<Vec<Container>, ResolveError> {
        let root = self.root()?;
        let names = Names::new(&self.loc);
        let mut out = Vec::new();
        for entry in discover::snapshot(&root, &self.oci_states(&root), &names) {
            let mut container = entry.container;
            // A cgroup that vanished since the walk is simply no longer there.
            let Ok(pids) = cgroup::procs(&cgroup_dir(&root, &container.cgroup), true) else { continue };
            container.pids = pids;
            out.push(container);
        }
        out.sort_by(|a, b| (a.runtime, &a.name, &a.cgroup).cmp(&(b.runtime, &b.name, &b.cgroup)));
        Ok(out)
    }

    fn by_pid(
        &self,
        root: &Path,
        spec: &str,
        pid: &str,
        names: &Names<'_>,
    ) -> Result<Container, ResolveError> {
        let bad = || ResolveError::BadPid { spec: spec.to_owned() };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let pid: u32 = pid.parse().map_err(|_| bad())?;
        if pid == 0 {
            return Err(bad());
        }
        let rel = cgroup::cgroup_of_pid_in(&self.loc.proc, pid)?;
        if !runtimes::is_cgroup_dir(root, &rel) {
            return Err(ResolveError::PidCgroupMissing { pid, cgroup: rel, root: root.to_path_buf() });
        }
        let states = self.oci_states(root);
        if let Some(c) = describe_cgroup(&rel, &states, names) {
            return Ok(c);
        }
        if let Some((_, layout)) = layouts::enclosing(&rel) {
            let c = describe_layout(rel.clone(), &layout, names).container;
            return Ok(Container { cgroup: rel, ..c });
        }
        Ok(plain(Runtime::Pid, rel))
    }

    /// `spec` as a cgroup path relative to the root, if it names an existing cgroup directory.
    fn as_cgroup_path(&self, root: &Path, spec: &str) -> Result<Option<String>, ResolveError> {
        let bad = || ResolveError::BadPath { spec: spec.to_owned(), root: root.to_path_buf() };
        if spec.split('/').any(|c| c == "..") {
            return Err(bad());
        }
        let path = Path::new(spec);
        if path.is_absolute() {
            if let Ok(rest) = path.strip_prefix(root) {
                let rest = rest.to_str().ok_or_else(bad)?;
                let rel = format!("/{}", rest.trim_matches('/'));
                if runtimes::is_cgroup_dir(root, &rel) {
                    return Ok(Some(rel));
                }
            }
        }
        let rel = format!("/{}", spec.trim_matches('/'));
        if runtimes::is_cgroup_dir(root, &rel) {
            return Ok(Some(rel));
        }
        if path.is_absolute() && path.exists() {
            return Err(ResolveError::NotUnderCgroupRoot { spec: spec.to_owned(), root: root.to_path_buf() });
        }
        Ok(None)
    }

    fn by_id_or_name(&self, root: &Path, spec: &str, names: &Names<'_>) -> Result<Container, ResolveError> {
        let states = self.oci_states(root);
        let entries = discover::snapshot(root, &states, names);
        let exact: Vec<&Entry> =
            entries.iter().filter(|e| e.ids.iter().chain(&e.names).any(|k| k == spec)).collect();
        if let Some(found) = one_or_ambiguous(spec, &exact)? {
            return Ok(found);
        }
        let stale: Vec<&OciState> = states.iter().filter(|s| s.cgroup.is_none()).collect();
        if let Some(s) = stale.iter().find(|s| s.id == spec) {
            return Err(gone(s));
        }
        let prefixed: Vec<&Entry> =
            entries.iter().filter(|e| e.ids.iter().any(|k| k.starts_with(spec))).collect();
        if !prefixed.is_empty() && spec.chars().count() < MIN_PREFIX {
            return Err(ResolveError::PrefixTooShort { spec: spec.to_owned() });
        }
        if let Some(found) = one_or_ambiguous(spec, &prefixed)? {
            return Ok(found);
        }
        let stale: Vec<&OciState> = stale.into_iter().filter(|s| s.id.starts_with(spec)).collect();
        if let ([s], true) = (stale.as_slice(), spec.chars().count() >= MIN_PREFIX) {
            return Err(gone(s));
        }
        // Docker removes a stopped container's cgroup: its own files still know it.
        if let Some((id, name)) = runtimes::docker_stopped(&self.loc.docker, spec, MIN_PREFIX) {
            let name = if name.is_empty() { id } else { name };
            return Err(ResolveError::Stopped { runtime: Runtime::Docker, name });
        }
        let denied = self.unreadable();
        if !denied.is_empty() {
            return Err(ResolveError::Unreadable { spec: spec.to_owned(), denied });
        }
        Err(ResolveError::Unknown { spec: spec.to_owned() })
    }

    /// The runtime state directories this user is not allowed to read (each with whose it is):
    /// a container known only there can be neither found nor listed.
    pub fn unreadable(&self) -> Vec<String> {
        let loc = &self.loc;
        [
            (loc.runc_state.clone(), "runc's state"),
            (loc.crun_state.clone(), "crun's state"),
            (loc.docker.join("containers"), "Docker's containers"),
            (loc.podman_storage.join("overlay-containers"), "Podman's containers"),
            (loc.pod_logs.clone(), "the kubelet's pods"),
            (loc.container_logs.clone(), "the kubelet's containers"),
        ]
        .into_iter()
        .filter(|(dir, _)| {
            std::fs::read_dir(dir).is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
        })
        .map(|(dir, whose)| format!("{} ({whose})", dir.display()))
        .collect()
    }

    fn oci_states(&self, root: &Path) -> Vec<OciState> {
        let mut states = runtimes::runc_states(&self.loc.runc_state, root, &self.loc.proc);
        states.extend(runtimes::crun_states(&self.loc.crun_state, root, &self.loc.proc));
        states
    }
}

fn gone(state: &OciState) -> ResolveError {
    ResolveError::CgroupGone {
        runtime: state.runtime,
        id: state.id.clone(),
        cgroup: state.recorded_cgroup.clone(),
    }
}

fn one_or_ambiguous(spec: &str, found: &[&Entry]) -> Result<Option<Container>, ResolveError> {
    match found {
        [] => Ok(None),
        [one] => Ok(Some(one.container.clone())),
        many => Err(ResolveError::Ambiguous {
            spec: spec.to_owned(),
            matches: many.iter().take(MAX_LISTED).map(|e| e.container.clone()).collect(),
            total: many.len(),
        }),
    }
}

fn cgroup_dir(root: &Path, rel: &str) -> PathBuf {
    match rel.trim_start_matches('/') {
        "" => root.to_path_buf(),
        rest => root.join(rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names() {
        assert_eq!(Runtime::CriO.to_string(), "crio");
        assert_eq!(serde_json::to_string(&Runtime::Containerd).unwrap(), "\"containerd\"");
        assert_eq!(serde_json::to_string(&Runtime::CriO).unwrap(), "\"crio\"");
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn ambiguity_message_is_one_line_and_bounded() {
        let c = |i: usize| Container {
            id: Some(format!("{i:064x}")),
            name: None,
            runtime: Runtime::Docker,
            cgroup: format!("/docker/{i:064x}"),
            pids: vec![],
        };
        let err =
            ResolveError::Ambiguous { spec: "000".into(), matches: (0..10).map(c).collect(), total: 12 };
        let msg = err.to_string();
        assert!(!msg.contains('\n'));
        assert!(msg.contains("and 2 more"), "{msg}");
        assert!(msg.contains("000000000000 - (docker, /docker/"), "{msg}");
    }

    #[test]
    fn resolves_paths_in_a_plain_tree() {
        let dir = std::env::temp_dir().join(format!("cperf-paths-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("system.slice/x.service")).unwrap();
        std::fs::write(dir.join("system.slice/x.service/cgroup.procs"), "42\n").unwrap();
        std::fs::write(dir.join("system.slice/cgroup.procs"), "").unwrap();
        std::fs::write(dir.join("cgroup.procs"), "").unwrap();
        let r = Resolver::with_locations(Locations {
            cgroup2: Some(dir.clone()),
            runc_state: dir.join("none"),
            crun_state: dir.join("none"),
            ..Locations::default()
        });
        let abs = dir.join("system.slice/x.service");
        for spec in ["system.slice/x.service", "/system.slice/x.service/", abs.to_str().unwrap()] {
            let got = r.resolve(spec).unwrap();
            assert_eq!(got.container.cgroup, "/system.slice/x.service");
            assert_eq!(got.container.runtime, Runtime::Systemd);
            assert_eq!(got.container.name.as_deref(), Some("x.service"));
            assert_eq!(got.container.pids, vec![42]);
            assert_eq!(got.dir, abs);
            assert_eq!(got.given, spec);
        }
        let whole = r.resolve(dir.to_str().unwrap()).unwrap().container;
        assert_eq!((whole.cgroup.as_str(), whole.runtime), ("/", Runtime::Cgroup));
        assert_eq!(r.resolve("system.slice").unwrap().container.runtime, Runtime::Cgroup);
        assert!(matches!(r.resolve("system.slice/../.."), Err(ResolveError::BadPath { .. })));
        assert!(matches!(r.resolve("/etc"), Err(ResolveError::NotUnderCgroupRoot { .. })));
        assert!(matches!(r.resolve("  "), Err(ResolveError::Empty)));
        assert!(matches!(r.resolve("pid:x"), Err(ResolveError::BadPid { .. })));
        assert!(matches!(r.resolve("pid:0"), Err(ResolveError::BadPid { .. })));
        assert!(matches!(r.resolve("pid:-1"), Err(ResolveError::BadPid { .. })));
        assert!(matches!(r.resolve("nothing-here"), Err(ResolveError::Unknown { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
