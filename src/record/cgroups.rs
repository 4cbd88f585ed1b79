//! Which samples belong to a container: the cgroup id of each sample (PERF_SAMPLE_CGROUP) against
//! the container's cgroup and the cgroups below it.
//!
//! A cgroup-filtered perf event is switched in and out with the tasks of its cgroup, and it can fire
//! inside that switch while the task going out, or coming in, is another cgroup's (such samples end in
//! `perf_ctx_enable`/`perf_ctx_unlock`). `perf record -G` keeps them, naming another container's
//! functions; cperf leaves them out and counts them.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sampler::counter::Scope;

#[derive(Debug)]
struct Member {
    dir: PathBuf,
    ids: HashSet<u64>,
    /// The drain in which `ids` was last read.
    read_in: u64,
}

/// The cgroup ids of every container target.
#[derive(Debug)]
pub struct CgroupMembership {
    targets: Vec<Option<Member>>,
    /// Samples left out.
    pub foreign: u64,
}

impl CgroupMembership {
    /// Reads the cgroup ids under each container target (other targets take every sample).
    pub fn new(scopes: &[Scope]) -> Self {
        let targets = scopes
            .iter()
            .map(|s| match s {
                Scope::Cgroup(dir) => Some(Member { dir: dir.clone(), ids: ids_under(dir), read_in: 0 }),
                _ => None,
            })
            .collect();
        CgroupMembership { targets, foreign: 0 }
    }

    /// True when a sample of `target` taken in cgroup `id` is the target's; cgroups created since the
    /// last look are found by reading the tree again (at most once per drain).
    pub fn allows(&mut self, target: usize, id: u64, drain: u64) -> bool {
        let Some(Some(m)) = self.targets.get_mut(target) else { return true };
        if id == 0 || m.ids.contains(&id) {
            return true;
        }
        if m.read_in != drain {
            m.ids = ids_under(&m.dir);
            m.read_in = drain;
            if m.ids.contains(&id) {
                return true;
            }
        }
        self.foreign += 1;
        false
    }
}

/// The inode numbers (cgroup v2 ids) of `dir` and every directory below it.
fn ids_under(dir: &Path) -> HashSet<u64> {
    let mut ids = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&d) else { continue };
        ids.insert(meta.ino());
        if let Ok(entries) = std::fs::read_dir(&d) {
            stack.extend(
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_tree_and_its_new_children() {
        let dir = std::env::temp_dir().join(format!("cperf-cgroups-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        let mut m = CgroupMembership::new(&[Scope::Cgroup(dir.clone()), Scope::System]);
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert!(m.allows(0, ino(&dir), 1));
        assert!(m.allows(0, ino(&dir.join("a/b")), 1));
        assert!(m.allows(1, 12345, 1), "system-wide takes everything");
        let outside = ino(&std::env::temp_dir());
        assert!(!m.allows(0, outside, 1));
        std::fs::create_dir(dir.join("c")).unwrap();
        assert!(m.allows(0, ino(&dir.join("c")), 2), "a cgroup created later is found");
        assert!(!m.allows(0, outside, 2));
        assert_eq!(m.foreign, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
