//! Finding (and if need be mounting) tracefs, and reading tracepoint ids and names from it.
//!
//! tracefs is looked up in `/proc/self/mountinfo`, either mounted on its own or as `tracing/` inside
//! debugfs; nothing is assumed about where it lives.

use std::path::{Path, PathBuf};

use crate::sys;

/// Where the usual tracefs mount point is, used when tracefs is not mounted and we may mount it.
pub const DEFAULT_MOUNT_POINT: &str = "/sys/kernel/tracing";

/// Why tracefs could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    /// Not mounted, and mounting it failed.
    #[error(
        "tracefs is not mounted and mounting it failed ({0}); as root run: mount -t tracefs nodev {DEFAULT_MOUNT_POINT}"
    )]
    NotMounted(#[source] sys::SyscallError),
    /// Mounted but its event list cannot be read.
    #[error("cannot read tracepoints under {path}: {source}; {}", unreadable_remedy(.source))]
    Unreadable {
        /// The directory that could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What to do about an unreadable tracefs: its mode, when permission was denied.
fn unreadable_remedy(source: &std::io::Error) -> &'static str {
    if source.kind() == std::io::ErrorKind::PermissionDenied {
        "tracefs is mounted for root only (mode 0700 by default), which CAP_PERFMON does not change: run as root, add CAP_DAC_READ_SEARCH, or as root let others read it (mount -o remount,mode=755 on tracefs)"
    } else {
        "tracefs needs root"
    }
}

/// A mounted tracefs.
#[derive(Debug, Clone)]
pub struct Tracefs {
    root: PathBuf,
}

impl Tracefs {
    /// Uses tracefs at `root` (the directory that holds `events/`).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Tracefs { root: root.into() }
    }

    /// Finds a mounted tracefs from `/proc/self/mountinfo`.
    pub fn find() -> Option<Self> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        parse_mountinfo(&mountinfo).map(Tracefs::at)
    }

    /// Finds tracefs, mounting it at [`DEFAULT_MOUNT_POINT`] if it is not mounted anywhere.
    pub fn find_or_mount() -> Result<Self, TracefsError> {
        if let Some(found) = Self::find() {
            return Ok(found);
        }
        let target = Path::new(DEFAULT_MOUNT_POINT);
        sys::mount_tracefs(target).map_err(TracefsError::NotMounted)?;
        Ok(Tracefs::at(target))
    }

    /// The directory that holds `events/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The id of tracepoint `subsystem:name`, or `None` if there is no such tracepoint.
    pub fn event_id(&self, subsystem: &str, name: &str) -> Option<u64> {
        if !is_plain_name(subsystem) || !is_plain_name(name) {
            return None;
        }
        let path = self.root.join("events").join(subsystem).join(name).join("id");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Subsystem names (directories of `events/`), sorted.
    pub fn subsystems(&self) -> Result<Vec<String>, TracefsError> {
        self.list_dirs(&self.root.join("events"))
    }

    /// Tracepoint names in `subsystem`, sorted.
    pub fn events(&self, subsystem: &str) -> Result<Vec<String>, TracefsError> {
        if !is_plain_name(subsystem) {
            return Ok(Vec::new());
        }
        self.list_dirs(&self.root.join("events").join(subsystem))
    }

    fn list_dirs(&self, dir: &Path) -> Result<Vec<String>, TracefsError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|source| TracefsError::Unreadable { path: dir.to_path_buf(), source })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// A name that can be joined to a path without escaping its directory.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/')
}

/// The tracefs directory named by a mountinfo text: a `tracefs` mount, else `tracing/` in a `debugfs` mount.
pub fn parse_mountinfo(mountinfo: &str) -> Option<PathBuf> {
    let mounts = crate::mountinfo::parse(mountinfo);
    if let Some(m) = mounts.iter().find(|m| m.fstype == "tracefs") {
        return Some(m.mount_point.clone());
    }
    mounts
        .iter()
        .filter(|m| m.fstype == "debugfs")
        .map(|m| m.mount_point.join("tracing"))
        .find(|p| p.join("events").is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tracefs_mount() {
        let m = "22 1 0:20 / /sys rw - sysfs sysfs rw\n\
                 45 22 0:12 / /sys/kernel/tracing rw,nosuid - tracefs nodev rw\n";
        assert_eq!(parse_mountinfo(m), Some(PathBuf::from("/sys/kernel/tracing")));
    }

    #[test]
    fn no_tracefs_no_debugfs_is_none() {
        let m = "22 1 0:20 / /sys rw - sysfs sysfs rw\n";
        assert_eq!(parse_mountinfo(m), None);
    }

    #[test]
    fn refuses_path_like_names() {
        let t = Tracefs::at("/nonexistent");
        assert_eq!(t.event_id("..", "x"), None);
        assert_eq!(t.event_id("a/b", "x"), None);
    }
}
