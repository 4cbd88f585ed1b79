//! Finding a binary's separate debug file the way gdb does, inside the binary's own root: by
//! build-id under `/usr/lib/debug/.build-id/`, then by `.gnu_debuglink` next to the binary, in its
//! `.debug/` directory, and under `/usr/lib/debug/` plus the binary's directory. Every candidate is
//! checked before it is returned: the build-id must match, and a debuglink candidate's CRC-32 too.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use crate::elf::{build_id_of, build_id_of_file, debug_links, DebugLinks};
use crate::root::ContainerRoot;
use crate::ElfModule;

/// The largest debug file read.
pub const MAX_DEBUG_FILE: u64 = 2 << 30;

/// Where debug files are read from: a container's root, or the host.
pub trait DebugFiles {
    /// The regular file at `path` (as that filesystem sees it), opened for reading, and its size;
    /// `None` when it does not exist, is not a regular file or cannot be opened.
    fn open(&self, path: &Path) -> Option<(File, u64)>;
}

impl DebugFiles for ContainerRoot {
    fn open(&self, path: &Path) -> Option<(File, u64)> {
        ContainerRoot::open(self, path, u64::MAX).ok()
    }
}

/// The host's own files (for host processes and `cperf symbolize -e`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFiles;

impl DebugFiles for HostFiles {
    fn open(&self, path: &Path) -> Option<(File, u64)> {
        // The host's root, opened the one safe way files are opened.
        ContainerRoot::at(Path::new("/")).ok()?.open(path, u64::MAX).ok()
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
/// whose CRC-32 differs from the link's, is skipped; one over [`MAX_DEBUG_FILE`] bytes is not read.
pub fn find_debug_file(module: &ElfModule, module_path: &Path, files: &dyn DebugFiles) -> Option<Vec<u8>> {
    let links = DebugLinks {
        build_id: module.build_id().map(<[u8]>::to_vec),
        debuglink: module.debuglink().map(|(name, crc)| (name.to_owned(), crc)),
        has_dwarf: false,
    };
    search(&links, module_path, files, MAX_DEBUG_FILE).found
}

/// What [`debug_file_for`] found.
#[derive(Debug, Default)]
pub struct DebugSearch {
    /// The debug file's bytes, when one was found and read.
    pub found: Option<Vec<u8>>,
    /// Debug files that matched but were not read, and why (for a recording's notes).
    pub refused: Vec<String>,
}

/// The separate debug file of the ELF file `binary` (its bytes; its path as `files` sees it is
/// `binary_path`), as [`find_debug_file`] finds it; nothing when the binary has DWARF of its own.
/// A candidate's build-id is read from its headers and notes before it is read whole; a matching
/// one over `max_len` bytes is not read (and is listed in [`DebugSearch::refused`]).
pub fn debug_file_for(
    binary: &[u8],
    binary_path: &Path,
    files: &dyn DebugFiles,
    max_len: u64,
) -> DebugSearch {
    match debug_links(binary) {
        Some(links) if !links.has_dwarf => search(&links, binary_path, files, max_len),
        _ => DebugSearch::default(),
    }
}

/// The debug file `links` point to.
fn search(links: &DebugLinks, module_path: &Path, files: &dyn DebugFiles, max_len: u64) -> DebugSearch {
    let mut result = DebugSearch::default();
    let want = links.build_id.as_deref();
    if let Some(path) = want.and_then(build_id_path) {
        if let Some((file, len)) = files.open(&path) {
            if build_id_of_file(&file).as_deref() == want {
                match read_whole(file, len, max_len) {
                    Some(data) if build_id_of(&data).as_deref() == want => {
                        result.found = Some(data);
                        return result;
                    }
                    Some(_) => {}
                    None => result.refused.push(too_large(&path, len, max_len)),
                }
            }
        }
    }
    let Some((name, crc)) = &links.debuglink else { return result };
    if name.contains('/') || name == "." || name == ".." {
        return result;
    }
    // A candidate without a build-id is judged by its CRC alone; one with another build-id is not
    // read.
    let same_build = |have: Option<Vec<u8>>| match (want, have) {
        (Some(want), Some(have)) => want == have.as_slice(),
        _ => true,
    };
    let dir = module_path.parent().unwrap_or(Path::new("/"));
    let relative = dir.strip_prefix("/").unwrap_or(dir);
    let candidates = [
        dir.join(name),
        dir.join(".debug").join(name),
        Path::new("/usr/lib/debug").join(relative).join(name),
    ];
    for path in candidates.iter().filter(|p| p.as_path() != module_path) {
        let Some((file, len)) = files.open(path) else { continue };
        if !same_build(build_id_of_file(&file)) {
            continue;
        }
        match read_whole(file, len, max_len) {
            Some(data) if crc32fast::hash(&data) == *crc && same_build(build_id_of(&data)) => {
                result.found = Some(data);
                return result;
            }
            Some(_) => {}
            None => result.refused.push(too_large(path, len, max_len)),
        }
    }
    result
}

/// The whole file, if it is (and stays, while read) at most `max_len` bytes.
fn read_whole(mut file: File, len: u64, max_len: u64) -> Option<Vec<u8>> {
    if len > max_len {
        return None;
    }
    // Its build-id was read at other offsets of the same descriptor.
    file.rewind().ok()?;
    let mut data = Vec::new();
    data.try_reserve_exact(usize::try_from(len).ok()?).ok()?;
    file.take(max_len.saturating_add(1)).read_to_end(&mut data).ok()?;
    (data.len() as u64 <= max_len).then_some(data)
}

/// The note for a matching debug file not read.
fn too_large(path: &Path, len: u64, max_len: u64) -> String {
    format!("debug file {} not read: {} MiB, over the {} MiB limit", path.display(), len >> 20, max_len >> 20)
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
