//! Finding a binary's separate debug file the way gdb does, inside the binary's own root: by
//! build-id under `/usr/lib/debug/.build-id/`, then by `.gnu_debuglink` next to the binary, in its
//! `.debug/` directory, and under `/usr/lib/debug/` plus the binary's directory. Every candidate is
//! checked before it is returned: the build-id must match, and a debuglink candidate's CRC-32 too.

use std::path::{Path, PathBuf};

use crate::elf::build_id_of;
use crate::root::ContainerRoot;
use crate::ElfModule;

/// The largest debug file read.
pub const MAX_DEBUG_FILE: u64 = 2 << 30;

/// Where debug files are read from: a container's root, or the host.
pub trait DebugFiles {
    /// The whole regular file at `path` (as that filesystem sees it), if it exists, is readable
    /// and is at most [`MAX_DEBUG_FILE`] bytes.
    fn read(&self, path: &Path) -> Option<Vec<u8>>;
}

impl DebugFiles for ContainerRoot {
    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        ContainerRoot::read(self, path, MAX_DEBUG_FILE).ok()
    }
}

/// The host's own files (for host processes and `cperf symbolize -e`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFiles;

impl DebugFiles for HostFiles {
    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.len() > MAX_DEBUG_FILE {
            return None;
        }
        let data = std::fs::read(path).ok()?;
        (data.len() as u64 <= MAX_DEBUG_FILE).then_some(data)
    }
}

/// The path gdb and distributions use for the debug file of a build-id:
/// `/usr/lib/debug/.build-id/<first byte in hex>/<the rest in hex>.debug`. `None` for an id shorter
/// than two bytes.
pub fn build_id_path(build_id: &[u8]) -> Option<PathBuf> {
    let (first, rest) = build_id.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let rest: String = rest.iter().map(|b| format!("{b:02x}")).collect();
    Some(PathBuf::from(format!("/usr/lib/debug/.build-id/{first:02x}/{rest}.debug")))
}

/// The separate debug file of `module`, whose path (as `files` sees it) is `module_path`: by
/// build-id, then by debuglink (in the binary's directory, its `.debug/`, and `/usr/lib/debug/`
/// plus its directory). A candidate whose build-id differs from the module's, or (for a debuglink)
/// whose CRC-32 differs from the link's, is skipped.
pub fn find_debug_file(module: &ElfModule, module_path: &Path, files: &dyn DebugFiles) -> Option<Vec<u8>> {
    let same_build = |data: &[u8]| match (module.build_id(), build_id_of(data)) {
        (Some(want), Some(have)) => want == have.as_slice(),
        _ => true,
    };
    if let Some(path) = module.build_id().and_then(build_id_path) {
        if let Some(data) = files.read(&path).filter(|d| build_id_of(d).as_deref() == module.build_id()) {
            return Some(data);
        }
    }
    let (name, crc) = module.debuglink()?;
    if name.contains('/') || name == "." || name == ".." {
        return None;
    }
    let dir = module_path.parent().unwrap_or(Path::new("/"));
    let relative = dir.strip_prefix("/").unwrap_or(dir);
    let candidates = [
        dir.join(name),
        dir.join(".debug").join(name),
        Path::new("/usr/lib/debug").join(relative).join(name),
    ];
    candidates
        .iter()
        .filter(|p| p.as_path() != module_path)
        .filter_map(|p| files.read(p))
        .find(|data| crc32fast::hash(data) == crc && same_build(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_paths() {
        assert_eq!(
            build_id_path(&[0xab, 0x01, 0xff]).unwrap(),
            Path::new("/usr/lib/debug/.build-id/ab/01ff.debug")
        );
        assert_eq!(build_id_path(&[0xab]), None);
        assert_eq!(build_id_path(&[]), None);
    }
}
