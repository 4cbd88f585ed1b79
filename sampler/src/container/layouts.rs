//! Pure matching of cgroup paths against the layouts container runtimes and the kubelet use.
//!
//! Nothing here touches the filesystem: a path relative to the cgroup2 root goes in, and what kind of
//! container (or Kubernetes pod) that cgroup is comes out. The layouts recognised:
//!
//! | runtime                | systemd driver                                   | cgroupfs driver            |
//! |------------------------|--------------------------------------------------|----------------------------|
//! | Docker                 | `…/docker-<64hex>.scope`                         | `…/docker/<64hex>`         |
//! | containerd (CRI)       | `…/cri-containerd-<64hex>.scope`                 | `…/pod<uid>/<64hex>`       |
//! | containerd (nerdctl)   | `…/nerdctl-<64hex>.scope`                        |                            |
//! | CRI-O                  | `…/crio-<64hex>.scope`                           | `…/crio-<64hex>`           |
//! | Podman                 | `…/libpod-<64hex>.scope`                         | `…/libpod-<64hex>`         |
//! | Kubernetes pod         | `…kubepods[-<qos>]-pod<uid_with_underscores>.slice` | `…/kubepods[/<qos>]/pod<uid>` |
//!
//! `libpod-conmon-…` and `crio-conmon-…` hold the runtime's monitor process, not the container, and do
//! not match.

use super::Runtime;

/// What a cgroup directory is, judged from its path alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// A container's cgroup.
    Container {
        /// The runtime whose naming scheme matched.
        runtime: Runtime,
        /// The full container id (64 lowercase hex digits).
        id: String,
        /// The uid of the Kubernetes pod whose cgroup holds this one, with dashes.
        pod_uid: Option<String>,
    },
    /// A Kubernetes pod's cgroup.
    Pod {
        /// The pod uid, with dashes (or 32 hex digits for static pods).
        uid: String,
    },
}

/// What the cgroup at `rel` (relative to the cgroup2 root, with or without a leading `/`) is, if its
/// last component matches a known layout.
pub(crate) fn classify(rel: &str) -> Option<Layout> {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    let (&last, ancestors) = parts.split_last()?;
    let pod_uid = ancestors.split_last().and_then(|(&parent, above)| pod_dir(parent, above));
    if let Some((runtime, id)) = container_leaf(last) {
        return Some(Layout::Container { runtime, id: id.to_owned(), pod_uid });
    }
    if is_hex64(last) {
        if ancestors.last() == Some(&"docker") {
            return Some(Layout::Container { runtime: Runtime::Docker, id: last.to_owned(), pod_uid: None });
        }
        if pod_uid.is_some() {
            return Some(Layout::Container { runtime: Runtime::Kubernetes, id: last.to_owned(), pod_uid });
        }
        return None;
    }
    pod_dir(last, ancestors).map(|uid| Layout::Pod { uid })
}

/// The nearest cgroup at or above `rel` that matches a layout: its path (with a leading `/`) and what
/// it is.
pub(crate) fn enclosing(rel: &str) -> Option<(String, Layout)> {
    let mut path = rel.trim_end_matches('/');
    loop {
        if path.is_empty() {
            return None;
        }
        if let Some(layout) = classify(path) {
            let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
            return Some((path, layout));
        }
        path = &path[..path.rfind('/')?];
    }
}

/// A directory name that is by itself a container cgroup: `<prefix>-<64hex>[.scope]`.
fn container_leaf(name: &str) -> Option<(Runtime, &str)> {
    let (stem, scope) = match name.strip_suffix(".scope") {
        Some(stem) => (stem, true),
        None => (name, false),
    };
    let (runtime, id) = if let Some(id) = stem.strip_prefix("docker-") {
        (Runtime::Docker, id)
    } else if let Some(id) = stem.strip_prefix("cri-containerd-") {
        (Runtime::Containerd, id)
    } else if let Some(id) = stem.strip_prefix("nerdctl-") {
        (Runtime::Containerd, id)
    } else if let Some(id) = stem.strip_prefix("crio-") {
        (Runtime::CriO, id)
    } else if let Some(id) = stem.strip_prefix("libpod-") {
        (Runtime::Podman, id)
    } else {
        return None;
    };
    // Without `.scope` only the cgroupfs names that runtimes really use count.
    let allowed_bare = matches!(runtime, Runtime::CriO | Runtime::Podman);
    (is_hex64(id) && (scope || allowed_bare)).then_some((runtime, id))
}

/// The pod uid (with dashes) if `name`, below `ancestors`, is a Kubernetes pod cgroup.
fn pod_dir(name: &str, ancestors: &[&str]) -> Option<String> {
    if let Some(stem) = name.strip_suffix(".slice") {
        // systemd driver: kubepods-pod<uid>.slice, kubepods-burstable-pod<uid>.slice, and with a
        // kubelet root slice such as kubelet.slice: kubelet-kubepods-besteffort-pod<uid>.slice.
        let (prefix, uid) = stem.rsplit_once("-pod")?;
        let without_qos = prefix
            .strip_suffix("-burstable")
            .or_else(|| prefix.strip_suffix("-besteffort"))
            .unwrap_or(prefix);
        if without_qos.rsplit('-').next() != Some("kubepods") {
            return None;
        }
        return normalize_uid(uid, '_');
    }
    // cgroupfs driver: kubepods/pod<uid> (guaranteed) or kubepods/<qos>/pod<uid>.
    let uid = name.strip_prefix("pod")?;
    let under_kubepods = matches!(ancestors, [.., "kubepods"] | [.., "kubepods", "burstable" | "besteffort"]);
    if under_kubepods {
        normalize_uid(uid, '-')
    } else {
        None
    }
}

/// A pod uid as the kubelet writes it (`sep` between groups), returned with dashes: 8-4-4-4-12 hex
/// digits, or 32 bare hex digits (static pods' uids are a hash).
fn normalize_uid(uid: &str, sep: char) -> Option<String> {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if uid.len() == 32 && hex(uid) {
        return Some(uid.to_owned());
    }
    let groups: Vec<&str> = uid.split(sep).collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    (lens == [8, 4, 4, 4, 12] && groups.iter().all(|g| hex(g))).then(|| groups.join("-"))
}

/// 64 lowercase hex digits: a Docker / containerd / CRI-O / Podman container id.
pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1e8c0b9a7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f";
    const UID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    const UID_: &str = "0a1b2c3d_4e5f_6789_abcd_ef0123456789";

    fn container(runtime: Runtime, pod: Option<&str>) -> Option<Layout> {
        Some(Layout::Container { runtime, id: ID.to_owned(), pod_uid: pod.map(str::to_owned) })
    }

    fn pod() -> Option<Layout> {
        Some(Layout::Pod { uid: UID.to_owned() })
    }

    #[test]
    fn docker_systemd_and_cgroupfs_drivers() {
        assert_eq!(classify(&format!("/system.slice/docker-{ID}.scope")), container(Runtime::Docker, None));
        assert_eq!(classify(&format!("/docker/{ID}")), container(Runtime::Docker, None));
        assert_eq!(classify(&format!("docker/{ID}")), container(Runtime::Docker, None));
        // rootless docker under the user's systemd instance
        let rootless = format!("/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope");
        assert_eq!(classify(&rootless), container(Runtime::Docker, None));
        // a bare id that is not under docker/ or a pod is not a container
        assert_eq!(classify(&format!("/other/{ID}")), None);
        assert_eq!(classify(&format!("/{ID}")), None);
    }

    #[test]
    fn docker_in_docker_is_the_inner_container() {
        let other = "a".repeat(64);
        let nested = format!("/system.slice/docker-{other}.scope/docker/{ID}");
        assert_eq!(classify(&nested), container(Runtime::Docker, None));
    }

    #[test]
    fn containerd_and_crio_under_systemd_kubepods() {
        for (qos, slice) in [
            ("burstable", format!("kubepods-burstable-pod{UID_}.slice")),
            ("besteffort", format!("kubepods-besteffort-pod{UID_}.slice")),
        ] {
            let base = format!("/kubepods.slice/kubepods-{qos}.slice/{slice}");
            assert_eq!(classify(&base), pod(), "{base}");
            let c = format!("{base}/cri-containerd-{ID}.scope");
            assert_eq!(classify(&c), container(Runtime::Containerd, Some(UID)), "{c}");
            let c = format!("{base}/crio-{ID}.scope");
            assert_eq!(classify(&c), container(Runtime::CriO, Some(UID)), "{c}");
            assert_eq!(classify(&format!("{base}/crio-conmon-{ID}.scope")), None);
        }
        // guaranteed QoS pods sit directly under kubepods.slice
        let guaranteed = format!("/kubepods.slice/kubepods-pod{UID_}.slice");
        assert_eq!(classify(&guaranteed), pod());
        assert_eq!(
            classify(&format!("{guaranteed}/cri-containerd-{ID}.scope")),
            container(Runtime::Containerd, Some(UID))
        );
    }

    #[test]
    fn kubernetes_cgroupfs_driver() {
        for base in [
            format!("/kubepods/besteffort/pod{UID}"),
            format!("/kubepods/burstable/pod{UID}"),
            format!("/kubepods/pod{UID}"),
        ] {
            assert_eq!(classify(&base), pod(), "{base}");
            assert_eq!(classify(&format!("{base}/{ID}")), container(Runtime::Kubernetes, Some(UID)));
            assert_eq!(classify(&format!("{base}/crio-{ID}")), container(Runtime::CriO, Some(UID)));
        }
        // not under kubepods: not a pod
        assert_eq!(classify(&format!("/besteffort/pod{UID}")), None);
        assert_eq!(classify(&format!("/other/pod{UID}")), None);
        assert_eq!(classify("/kubepods/besteffort/podnotauid"), None);
        // qos and kubepods dirs themselves are not pods
        assert_eq!(classify("/kubepods/besteffort"), None);
        assert_eq!(classify("/kubepods.slice/kubepods-burstable.slice"), None);
    }

    #[test]
    fn kind_node_nested_in_docker_with_kubelet_slice() {
        let node = "b".repeat(64);
        let base = format!(
            "/system.slice/docker-{node}.scope/kubelet.slice/kubelet-kubepods.slice/\
             kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{UID_}.slice"
        );
        assert_eq!(classify(&base), pod());
        assert_eq!(
            classify(&format!("{base}/cri-containerd-{ID}.scope")),
            container(Runtime::Containerd, Some(UID))
        );
    }

    #[test]
    fn static_pod_uid_is_a_hash() {
        let hash = "7d5cd1d1b0f4e3bbd6e5f1a2b3c4d5e6";
        assert_eq!(
            classify(&format!("/kubepods/burstable/pod{hash}")),
            Some(Layout::Pod { uid: hash.to_owned() })
        );
        assert_eq!(
            classify(&format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{hash}.slice")),
            Some(Layout::Pod { uid: hash.to_owned() })
        );
    }

    #[test]
    fn lookalike_slices_are_not_pods() {
        assert_eq!(classify(&format!("/system.slice/notkubepods-pod{UID_}.slice")), None);
        assert_eq!(classify(&format!("/kubepods.slice/kubepods-weird-pod{UID_}.slice")), None);
        assert_eq!(classify(&format!("/kubepods.slice/kubepods-pod{UID}.slice")), None);
        // dashes, not underscores
    }

    #[test]
    fn podman_rootful_rootless_and_conmon() {
        assert_eq!(classify(&format!("/machine.slice/libpod-{ID}.scope")), container(Runtime::Podman, None));
        let rootless = format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope");
        assert_eq!(classify(&rootless), container(Runtime::Podman, None));
        assert_eq!(classify(&format!("/libpod_parent/libpod-{ID}")), container(Runtime::Podman, None));
        assert_eq!(classify(&format!("/machine.slice/libpod-conmon-{ID}.scope")), None);
        // podman's split mode puts the processes one level down
        assert_eq!(classify(&format!("/machine.slice/libpod-{ID}.scope/container")), None);
    }

    #[test]
    fn nerdctl() {
        assert_eq!(
            classify(&format!("/system.slice/nerdctl-{ID}.scope")),
            container(Runtime::Containerd, None)
        );
    }

    #[test]
    fn not_containers() {
        for p in [
            "/",
            "",
            "/system.slice",
            "/system.slice/sshd.service",
            "/user.slice/user-1000.slice/session-3.scope",
            "/init.scope",
            "/system.slice/docker.service",
            "/system.slice/docker-abc.scope",
            &format!("/system.slice/docker-{}.scope", ID.to_uppercase()),
            &format!("/system.slice/docker-{ID}"),
            &format!("/system.slice/cri-containerd-{ID}"),
            &format!("/system.slice/docker-{ID}x.scope"),
        ] {
            assert_eq!(classify(p), None, "{p}");
        }
    }

    #[test]
    fn enclosing_walks_up() {
        let scope = format!("/machine.slice/libpod-{ID}.scope");
        assert_eq!(
            enclosing(&format!("{scope}/container")),
            Some((scope.clone(), container(Runtime::Podman, None).unwrap()))
        );
        assert_eq!(enclosing(&scope).map(|(p, _)| p), Some(scope));
        let pod_dir = format!("/kubepods/pod{UID}");
        assert_eq!(enclosing(&format!("{pod_dir}/")).map(|(p, _)| p), Some(pod_dir));
        assert_eq!(enclosing("/system.slice/sshd.service"), None);
        assert_eq!(enclosing("/"), None);
    }
}
