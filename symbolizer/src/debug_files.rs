//! Finding a binary's separate debug file the way gdb does, inside the binary's own root: by
//! build-id under `/usr/lib/debug/.build-id/`, then by `.gnu_debuglink` next to the binary, in its
//! `.debug/` directory, and under `/usr/lib/debug/` plus the binary's directory. Every candidate is
//! checked before it is returned: the build-id must match, and a debuglink candidate's CRC-32 too.
//!
//! A candidate is a file the container chose: its build-id is read from its headers and notes
//! alone (a few KiB, whatever its size) before it is read whole, and reading it whole is charged to
//! a [`Budget`] first, so one of another build costs nothing and one too large is not read.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use crate::budget::{Account, Budget, Limits};
use crate::elf::{build_id_of, build_id_of_file, debug_links, DebugLinks};
use crate::root::ContainerRoot;
use crate::ElfModule;

/// What a binary and its debug files may make cperf read, hold and decompress: 256 MiB per file (its
/// size, plus what its compressed sections claim to inflate to), 512 MiB per process, 1 GiB in all.
/// These are the only limits on ELF and debug files: a recording charges one [`budget`] of them for
/// all its files; [`ElfModule::parse`] and [`find_debug_file`], called without one, charge a
/// budget of their own of these limits (so a file is held to the per-file limit).
pub const LIMITS: Limits = Limits { per_file: 256 << 20, per_process: 512 << 20, total: 1 << 30 };

/// A budget of [`LIMITS`] for ELF and debug files.
pub fn budget() -> Budget {
    Budget::new("ELF and debug files", LIMITS)
}

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
        crate::root::open_host_regular(path, u64::MAX).ok()
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
/// whose CRC-32 differs from the link's, is skipped; one over the per-file limit of [`LIMITS`] is
/// not read (a [`budget`] of its own is charged; [`debug_file_for`] charges a shared one).
pub fn find_debug_file(module: &ElfModule, module_path: &Path, files: &dyn DebugFiles) -> Option<Vec<u8>> {
    let links = DebugLinks {
        build_id: module.build_id().map(<[u8]>::to_vec),
        debuglink: module.debuglink().map(|(name, crc)| (name.to_owned(), crc)),
        has_dwarf: false,
    };
    search(&links, module_path, files, &budget(), 0).map(|found| found.data)
}

/// A debug file found by [`debug_file_for`].
#[derive(Debug)]
pub struct DebugFile {
    /// Its bytes.
    pub data: Vec<u8>,
    /// Its path, as the binary's filesystem sees it.
    pub path: PathBuf,
    /// What it has cost so far (its size): charge what parsing it decompresses here too.
    pub account: Account,
}

/// The separate debug file of the ELF file `binary` (its bytes; its path as `files` sees it is
/// `binary_path`), as [`find_debug_file`] finds it; `None` as well when the binary has DWARF of its
/// own. Reading a candidate whole is charged to `budget`, under process `pid`, once its build-id
/// (read from its notes) matches; one the budget refuses is not read (the budget notes the cut).
pub fn debug_file_for(
    binary: &[u8],
    binary_path: &Path,
    files: &dyn DebugFiles,
    budget: &Budget,
    pid: u32,
) -> Option<DebugFile> {
    debug_links(binary)
        .filter(|links| !links.has_dwarf)
        .and_then(|links| search(&links, binary_path, files, budget, pid))
}

/// The debug file `links` point to.
fn search(
    links: &DebugLinks,
    module_path: &Path,
    files: &dyn DebugFiles,
    budget: &Budget,
    pid: u32,
) -> Option<DebugFile> {
    let want = links.build_id.as_deref();
    if let Some(path) = want.and_then(build_id_path) {
        if let Some((file, len)) = files.open(&path) {
            if build_id_of_file(&file).as_deref() == want {
                let mut account = budget.account(pid, &path);
                if let Some(data) = read_whole(file, len, &mut account) {
                    if build_id_of(&data).as_deref() == want {
                        return Some(DebugFile { data, path, account });
                    }
                    account.release(len);
                }
            }
        }
    }
    let (name, crc) = links.debuglink.as_ref()?;
    if name.contains('/') || name == "." || name == ".." {
        return None;
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
    for path in candidates.into_iter().filter(|p| p.as_path() != module_path) {
        let Some((file, len)) = files.open(&path) else { continue };
        if !same_build(build_id_of_file(&file)) {
            continue;
        }
        let mut account = budget.account(pid, &path);
        let Some(data) = read_whole(file, len, &mut account) else { continue };
        if crc32fast::hash(&data) == *crc && same_build(build_id_of(&data)) {
            return Some(DebugFile { data, path, account });
        }
        account.release(len);
    }
    None
}

/// The whole file, once `account` grants its size (it is read no further than that).
fn read_whole(mut file: File, len: u64, account: &mut Account) -> Option<Vec<u8>> {
    if !account.try_charge(len) {
        return None;
    }
    // Its build-id was read at other offsets of the same descriptor.
    file.rewind().ok()?;
    let mut data = Vec::new();
    data.try_reserve_exact(usize::try_from(len).ok()?).ok()?;
    file.take(len).read_to_end(&mut data).ok()?;
    Some(data)
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
