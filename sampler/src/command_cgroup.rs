//! A cgroup of its own for a command cperf runs, so that events the kernel cannot follow task by
//! task can follow the command, and every process it starts, by cgroup instead. (An inherited
//! uprobe event is re-created at each fork from a path the kernel reads in the forking task's
//! memory, where it is not; a cgroup event is never inherited.)
//!
//! The cgroup is made inside cperf's own cgroup, so the command stays under the same limits and
//! accounting as if cperf had run it directly, and removed when dropped; processes that outlive
//! the command are first moved back to cperf's cgroup.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroup::{cgroup2_mount, cgroup_of_pid, child_dirs, procs, CgroupError};

/// Why the command's cgroup could not be made or joined.
#[derive(Debug, thiserror::Error)]
pub enum CommandCgroupError {
    /// Where cperf's own cgroup is could not be found.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// mkdir failed.
    #[error("cannot make a cgroup for the command ({path}: {source}); run it in a container and name that with -G")]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing the process into it failed.
    #[error("cannot move the command into its cgroup ({path}: {source})")]
    Join {
        /// The `cgroup.procs` file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A cgroup made for one command; removed when dropped.
#[derive(Debug)]
pub struct CommandCgroup {
    dir: PathBuf,
    parent: PathBuf,
    name: String,
}

impl CommandCgroup {
    /// Makes `cperf-cmd-<cperf's pid>` inside cperf's own cgroup.
    pub fn create() -> Result<Self, CommandCgroupError> {
        let mount = cgroup2_mount()?;
        let own = cgroup_of_pid(std::process::id())?;
        let parent = mount.join(own.trim_start_matches('/'));
        let leaf = format!("cperf-cmd-{}", std::process::id());
        let dir = parent.join(&leaf);
        // One left by an earlier cperf of the same pid that was killed: removed when empty.
        if dir.is_dir() {
            let _ = std::fs::remove_dir(&dir);
        }
        std::fs::create_dir(&dir)
            .map_err(|source| CommandCgroupError::Create { path: dir.clone(), source })?;
        let name = format!("{}/{leaf}", own.trim_end_matches('/'));
        Ok(CommandCgroup { dir, parent, name })
    }

    /// Moves process `pid` (and so every process it starts from then on) into the cgroup.
    pub fn add(&self, pid: u32) -> Result<(), CommandCgroupError> {
        let path = self.dir.join("cgroup.procs");
        std::fs::write(&path, pid.to_string()).map_err(|source| CommandCgroupError::Join { path, source })
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cgroup's path relative to the cgroup2 mount (`/user.slice/…/cperf-cmd-123`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for CommandCgroup {
    fn drop(&mut self) {
        // Processes the command left running go back where cperf is; then the empty cgroup goes.
        // A process that just exited can hold the cgroup for a moment: retry briefly.
        let back = self.parent.join("cgroup.procs");
        for _ in 0..50 {
            for pid in procs(&self.dir, true).unwrap_or_default() {
                let _ = std::fs::write(&back, pid.to_string());
            }
            // Cgroups the command made inside its own go first, deepest first.
            for child in descendants(&self.dir).into_iter().rev() {
                let _ = std::fs::remove_dir(child);
            }
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The cgroups below `dir`, parents before their children.
fn descendants(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for child in child_dirs(&d).unwrap_or_default() {
            found.push(child.clone());
            stack.push(child);
        }
    }
    // Parents before children: sorted by depth.
    found.sort_by_key(|p| p.components().count());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root and cgroup2: skipped without them, unless `CPERF_REQUIRE_PRIVILEGED=1`.
    #[test]
    fn a_child_joins_and_the_cgroup_goes_with_its_survivors_moved_back() {
        let cg = match CommandCgroup::create() {
            Ok(cg) => cg,
            Err(e) => {
                assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "{e}");
                eprintln!("skipped: {e}");
                return;
            }
        };
        let dir = cg.dir().to_path_buf();
        assert!(cg.name().ends_with(&format!("/cperf-cmd-{}", std::process::id())), "{}", cg.name());
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        cg.add(child.id()).unwrap();
        assert_eq!(procs(&dir, false).unwrap(), [child.id()]);
        // The command made cgroups of its own, one holding a process.
        let mut nested = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::create_dir(dir.join("c")).unwrap();
        std::fs::write(dir.join("a/b/cgroup.procs"), nested.id().to_string()).unwrap();
        let own = cgroup_of_pid(std::process::id()).unwrap();
        drop(cg);
        assert!(!dir.exists(), "{} is left", dir.display());
        assert_eq!(cgroup_of_pid(child.id()).unwrap(), own, "the survivor is back in cperf's cgroup");
        assert_eq!(cgroup_of_pid(nested.id()).unwrap(), own, "so is the nested one");
        for c in [&mut child, &mut nested] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}
