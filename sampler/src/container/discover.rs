//! Discovering containers: one walk of the cgroup tree matched against the runtimes' layouts, plus
//! runc/crun state, each described with the names the runtimes and the kubelet keep on disk.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::Path;

use super::layouts::{self, Layout};
use super::runtimes::{self, KubeContainer, OciState, PodName};
use super::{Container, Locations, Runtime};

/// How deep below the cgroup2 root the tree is searched for containers.
const MAX_WALK_DEPTH: usize = 10;

/// Every container-like cgroup: one walk of the tree plus the runc/crun state directories, merged
/// by cgroup (the cgroup layout's description first).
pub(super) fn snapshot(root: &Path, states: &[OciState], names: &Names<'_>) -> Vec<Entry> {
    let mut entries: Vec<Entry> =
        walk(root).into_iter().map(|(rel, layout)| describe_layout(rel, &layout, names)).collect();
    let mut by_cgroup: HashMap<String, usize> =
        entries.iter().enumerate().map(|(i, e)| (e.container.cgroup.clone(), i)).collect();
    for state in states {
        let Some(entry) = describe_state(state) else { continue };
        match by_cgroup.get(&entry.container.cgroup) {
            Some(&i) => entries[i].absorb(entry),
            None => {
                by_cgroup.insert(entry.container.cgroup.clone(), entries.len());
                entries.push(entry);
            }
        }
    }
    entries
}

/// A cgroup path naming a systemd unit with processes (`*.service`, `*.scope`): runtime
/// [`Runtime::Systemd`], the unit as name.
pub(super) fn systemd_unit(rel: &str) -> Option<Container> {
    let unit = rel.rsplit('/').next().filter(|u| u.ends_with(".service") || u.ends_with(".scope"))?;
    Some(Container { name: Some(unit.to_owned()), ..plain(Runtime::Systemd, rel.to_owned()) })
}

pub(super) fn plain(runtime: Runtime, cgroup: String) -> Container {
    Container { id: None, name: None, runtime, cgroup, pids: Vec::new() }
}

/// A container and the keys it answers to.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) container: Container,
    /// Matched exactly and by prefix.
    pub(super) ids: Vec<String>,
    /// Matched exactly.
    pub(super) names: Vec<String>,
}

impl Entry {
    /// Takes `other`'s keys, and its id and name where this one has none.
    pub(super) fn absorb(&mut self, other: Entry) {
        let c = &mut self.container;
        c.id = c.id.take().or(other.container.id);
        c.name = c.name.take().or(other.container.name);
        self.ids.extend(other.ids);
        self.names.extend(other.names);
    }
}

/// The known container at exactly `rel`, if it is one: a cgroup layout, else a runc/crun container.
pub(super) fn describe_cgroup(rel: &str, states: &[OciState], names: &Names<'_>) -> Option<Container> {
    if let Some(layout) = layouts::classify(rel) {
        return Some(describe_layout(rel.to_owned(), &layout, names).container);
    }
    let state = states.iter().find(|s| s.cgroup.as_deref() == Some(rel))?;
    describe_state(state).map(|e| e.container)
}

pub(super) fn describe_layout(rel: String, layout: &Layout, names: &Names<'_>) -> Entry {
    match layout {
        Layout::Container { runtime, id, pod_uid } => {
            let kube_name = || {
                names
                    .kube_containers()
                    .get(id)
                    .map(|k| format!("{}/{}/{}", k.pod.namespace, k.pod.name, k.container))
            };
            let name = match runtime {
                Runtime::Docker if pod_uid.is_none() => runtimes::docker_name(&names.loc.docker, id),
                Runtime::Docker => kube_name().or_else(|| runtimes::docker_name(&names.loc.docker, id)),
                Runtime::Podman => names.podman().get(id).cloned(),
                _ => kube_name(),
            };
            let container = Container {
                id: Some(id.clone()),
                name: name.clone(),
                runtime: *runtime,
                cgroup: rel,
                pids: Vec::new(),
            };
            Entry { container, ids: vec![id.clone()], names: name.into_iter().collect() }
        }
        Layout::Pod { uid } => {
            let pod = names.pods().get(uid).cloned();
            let full = pod.as_ref().map(|p| format!("{}/{}", p.namespace, p.name));
            let container = Container {
                id: Some(uid.clone()),
                name: full.clone(),
                runtime: Runtime::Kubernetes,
                cgroup: rel,
                pids: Vec::new(),
            };
            let mut keys = full.into_iter().collect::<Vec<_>>();
            keys.extend(pod.map(|p| p.name));
            Entry { container, ids: vec![uid.clone(), format!("pod{uid}")], names: keys }
        }
    }
}

pub(super) fn describe_state(state: &OciState) -> Option<Entry> {
    let cgroup = state.cgroup.clone()?;
    let container = Container {
        id: Some(state.id.clone()),
        name: Some(state.id.clone()),
        runtime: state.runtime,
        cgroup,
        pids: Vec::new(),
    };
    Some(Entry { container, ids: vec![state.id.clone()], names: vec![state.id.clone()] })
}

/// Name sources, each read at most once per call and only when needed.
pub(super) struct Names<'a> {
    loc: &'a Locations,
    podman: OnceCell<HashMap<String, String>>,
    pods: OnceCell<HashMap<String, PodName>>,
    kube_containers: OnceCell<HashMap<String, KubeContainer>>,
}

impl<'a> Names<'a> {
    pub(super) fn new(loc: &'a Locations) -> Self {
        Names { loc, podman: OnceCell::new(), pods: OnceCell::new(), kube_containers: OnceCell::new() }
    }

    fn podman(&self) -> &HashMap<String, String> {
        self.podman.get_or_init(|| runtimes::podman_names(&self.loc.podman_storage))
    }

    fn pods(&self) -> &HashMap<String, PodName> {
        self.pods.get_or_init(|| runtimes::kube_pods(&self.loc.pod_logs))
    }

    fn kube_containers(&self) -> &HashMap<String, KubeContainer> {
        self.kube_containers.get_or_init(|| runtimes::kube_containers(&self.loc.container_logs))
    }
}

/// Every cgroup down to [`MAX_WALK_DEPTH`] below `root` whose path matches a container or pod layout.
/// Unreadable directories and names that are not UTF-8 are skipped.
pub(super) fn walk(root: &Path) -> Vec<(String, Layout)> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.filter_map(Result::ok) {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else { continue };
            let child = format!("{rel}/{name}");
            if let Some(layout) = layouts::classify(&child) {
                out.push((child.clone(), layout));
            }
            if depth + 1 < MAX_WALK_DEPTH {
                stack.push((entry.path(), child, depth + 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_a_plain_tree() {
        let id = "c".repeat(64);
        let dir = std::env::temp_dir().join(format!("cperf-walk-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(format!("a/docker/{id}/deeper"))).unwrap();
        std::fs::create_dir_all(dir.join("b/c/d/e/f/g/h/i/j/k/docker").join(&id)).unwrap();
        let found = walk(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, format!("/a/docker/{id}"));
    }
}
