//! Finding a binary's separate debug file the way gdb does, inside the binary's own root: by
//! build-id under `/usr/lib/debug/.build-id/`, then by `.gnu_debuglink` next to the binary, in its
//! `.debug/` directory, and under `/usr/lib/debug/` plus the binary's directory.

use std::path::{Path, PathBuf};

use crate::root::ContainerRoot;
use crate::ElfModule;

/// The largest debug file read.
const MAX_DEBUG_FILE: u64 = 2 << 30;

/// Where debug files are read from.
pub trait DebugFiles {
    /// The whole file at `path`, if it exists and is readable.
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
        (meta.is_file() && meta.len() <= MAX_DEBUG_FILE).then(|| std::fs::read(path).ok()).flatten()
    }
}

/// The separate debug file of `module`, whose path (as its root sees it) is `module_path`.
pub fn find_debug_file(module: &ElfModule, module_path: &Path, files: &dyn DebugFiles) -> Option<Vec<u8>> {
    if let Some(id) = module.build_id().filter(|id| id.len() >= 2) {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let path = PathBuf::from(format!("/usr/lib/debug/.build-id/{}/{}.debug", &hex[..2], &hex[2..]));
        if let Some(data) = files.read(&path) {
            return Some(data);
        }
    }
    let (name, crc) = module.debuglink()?;
    if name.contains('/') {
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
        .find(|data| crc32fast::hash(data) == crc)
}
