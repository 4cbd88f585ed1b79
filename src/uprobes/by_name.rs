//! Finding the file a probe names by name alone (`uprobe:libc:malloc`, `uprobe:nginx:…`), as
//! bpftrace does, but among the target's own files: first the files its processes have mapped
//! (their `/proc/<pid>/maps` name files as the processes see them, inside their container), else
//! the library and program directories inside the target's root. The processes given all have
//! that root (the caller groups a target's processes by root), so the path found is a path in it.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::bail;
use symbolizer::root::ContainerRoot;

/// The most processes whose mappings are read.
const MAX_PROCESSES: usize = 4096;

/// How well a file called `file_name` matches `name`, best first: 0 for the name itself, 1 for a
/// shared library `name.so…`, 2 for `libname.so…` (`libc` and `c` both name `libc.so.6`; `probed`
/// names the program `probed` before `libprobed.so`); `None` when it does not.
pub fn rank(name: &str, file_name: &str) -> Option<u8> {
    let so_after = |prefix: &str| file_name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(".so"));
    if file_name == name {
        Some(0)
    } else if so_after(name) {
        Some(1)
    } else if so_after(&format!("lib{name}")) {
        Some(2)
    } else {
        None
    }
}

/// The files of the best rank among `found` (each with its rank).
fn best(found: Vec<(u8, Found)>) -> Vec<Found> {
    let Some(top) = found.iter().map(|(rank, _)| *rank).min() else { return Vec::new() };
    found.into_iter().filter(|(rank, _)| *rank == top).map(|(_, f)| f).collect()
}

/// The path, inside `root`, of the one file `name` names for a target: `pids` are its processes
/// in that root, `program` the program of a command about to run (looked at first); `what` names
/// the target in errors.
pub fn find(
    name: &str,
    root: &ContainerRoot,
    pids: &[u32],
    program: Option<&Path>,
    what: &str,
) -> anyhow::Result<String> {
    // The program of a command about to run, when the name is its.
    if let Some(program) = program {
        let file_name = program.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if rank(name, file_name).is_some() {
            return Ok(program.display().to_string());
        }
    }
    let mapped = mapped(name, pids);
    match mapped.as_slice() {
        [one] => return Ok(one.path.clone()),
        [] => {}
        many => bail!(
            "'{name}' names {} different files mapped by the processes of {what} ({}): give the path, as in uprobe:{}:FUNC",
            many.len(),
            list(many),
            many[0].path
        ),
    }
    // A command about to run loads its libraries from its RUNPATH first.
    let mut dirs = program.map(program_runpath).unwrap_or_default();
    dirs.extend(search_dirs());
    for dir in dirs {
        let found = in_dir(name, root, &dir);
        match found.as_slice() {
            [one] => return Ok(one.path.clone()),
            [] => {}
            many => bail!(
                "'{name}' names {} files in {dir} in {what} ({}): give the path, as in uprobe:{}:FUNC",
                many.len(),
                list(many),
                many[0].path
            ),
        }
    }
    let dirs = "the library and program directories (/lib, /usr/lib, /usr/local/lib, /usr/bin, …)";
    let looked = if pids.is_empty() {
        format!("is in {dirs}")
    } else {
        format!("is mapped by the processes of {what} or is in {dirs} of its root")
    };
    let library = if name.starts_with("lib") { format!("{name}.so") } else { format!("lib{name}.so") };
    bail!("no file called '{name}' (or {library}…) {looked}: give the path, as in uprobe:/usr/lib/{library}:FUNC")
}

/// A file found, and which file it is.
#[derive(Debug, Clone)]
struct Found {
    path: String,
    dev: u64,
    ino: u64,
}

fn list(found: &[Found]) -> String {
    found.iter().map(|f| f.path.as_str()).collect::<Vec<_>>().join(", ")
}

/// The distinct files called like `name` that the processes map.
fn mapped(name: &str, pids: &[u32]) -> Vec<Found> {
    best(mapped_ranked(name, pids))
}

fn mapped_ranked(name: &str, pids: &[u32]) -> Vec<(u8, Found)> {
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for &pid in pids.iter().take(MAX_PROCESSES) {
        // A process that has exited is passed over.
        let Ok(maps) = std::fs::read(format!("/proc/{pid}/maps")) else { continue };
        for entry in mapped_files(&maps) {
            let file_name = entry.path.rsplit('/').next().unwrap_or_default();
            if let Some(rank) = rank(name, file_name) {
                if seen.insert((entry.dev, entry.ino)) {
                    found.push((rank, entry));
                }
            }
        }
    }
    found
}

/// The mapped files of a maps text: path, device and inode; anonymous, special (`[vdso]`) and
/// deleted mappings left out.
fn mapped_files(maps: &[u8]) -> impl Iterator<Item = Found> + '_ {
    sampler::procmaps::parse(maps).into_iter().filter_map(|m| {
        let path = String::from_utf8(m.path).ok()?;
        if m.inode == 0 || !path.starts_with('/') || path.ends_with(" (deleted)") {
            return None;
        }
        Some(Found { path, dev: nix::sys::stat::makedev(m.maj.into(), m.min.into()), ino: m.inode })
    })
}

/// The distinct ELF files called like `name` in `dir` inside `root`, in name order.
fn in_dir(name: &str, root: &ContainerRoot, dir: &str) -> Vec<Found> {
    best(in_dir_ranked(name, root, dir))
}

fn in_dir_ranked(name: &str, root: &ContainerRoot, dir: &str) -> Vec<(u8, Found)> {
    let Ok(mut entries) = root.list(Path::new(dir)) else { return Vec::new() };
    entries.sort();
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for entry in entries {
        // Names that are not text, or that would break a one-line message, are not candidates.
        let Some(file_name) = entry.to_str().filter(|n| !n.contains(char::is_control)) else { continue };
        let Some(rank) = rank(name, file_name) else { continue };
        let path = PathBuf::from(dir).join(file_name);
        // Only ELF files: `libc.so` is often a linker script.
        let Ok((file, _)) = root.open(&path, u64::MAX) else { continue };
        let mut magic = [0u8; 4];
        if std::os::unix::fs::FileExt::read_exact_at(&file, &mut magic, 0).is_err() || &magic != b"\x7fELF" {
            continue;
        }
        let Ok(meta) = file.metadata() else { continue };
        if seen.insert((meta.dev(), meta.ino())) {
            found.push((rank, Found { path: path.display().to_string(), dev: meta.dev(), ino: meta.ino() }));
        }
    }
    found
}

/// A program's RUNPATH (else RPATH) directories, `$ORIGIN` expanded to the program's directory.
fn program_runpath(program: &Path) -> Vec<String> {
    const MAX_PROGRAM: u64 = 1 << 30;
    let Ok(file) = std::fs::File::open(program) else { return Vec::new() };
    let mut data = Vec::new();
    if std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_PROGRAM), &mut data).is_err() {
        return Vec::new();
    }
    let origin = program.parent().unwrap_or(Path::new("/")).display().to_string();
    symbolizer::library_runpath(&data)
        .into_iter()
        .map(|dir| dir.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin))
        .filter(|dir| dir.starts_with('/'))
        .collect()
}

/// Where the dynamic loader looks by default (the multiarch directories first, as Debian's do),
/// then the usual program directories, in `PATH` order.
fn search_dirs() -> Vec<String> {
    let triplet = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        other => other,
    };
    let mut dirs: Vec<String> = vec![
        format!("/lib/{triplet}"),
        format!("/usr/lib/{triplet}"),
        "/lib64".into(),
        "/usr/lib64".into(),
        "/lib".into(),
        "/usr/lib".into(),
        "/usr/local/lib".into(),
    ];
    dirs.extend(
        ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(String::from),
    );
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_files_then_libraries() {
        for (name, file, expected) in [
            ("libc", "libc.so.6", 1),
            ("c", "libc.so.6", 2),
            ("libc.so.6", "libc.so.6", 0),
            ("nginx", "nginx", 0),
            ("libzookeeper_mt", "libzookeeper_mt.so.2", 1),
            ("ssl", "libssl.so.3", 2),
            ("probed", "libprobed.so", 2),
        ] {
            assert_eq!(rank(name, file), Some(expected), "{name} names {file}");
        }
        for (name, file) in
            [("libc", "libcrypto.so.3"), ("c", "libcap.so.2"), ("nginx", "nginx-debug"), ("ssl", "ssl.conf")]
        {
            assert_eq!(rank(name, file), None, "{name} does not name {file}");
        }
        let f = |path: &str| Found { path: path.into(), dev: 1, ino: path.len() as u64 };
        let got = best(vec![(2, f("/lib/libprobed.so")), (0, f("/bin/probed")), (2, f("/lib/libx.so"))]);
        assert_eq!(list(&got), "/bin/probed");
    }

    #[test]
    fn mapped_files_leave_out_anonymous_special_and_deleted() {
        let maps = b"7f3c1a000000-7f3c1a028000 r--p 00000000 fd:01 1835087                    /usr/lib/x86_64-linux-gnu/libc.so.6\n\
                     55d0-55d1 r-xp 00001000 08:02 42 /opt/my app/bin/x\n\
                     7ffd-7ffe rw-p 00000000 00:00 0                          [stack]\n\
                     7f00-7f01 r-xp 00000000 00:05 99 /memfd:jit (deleted)\n";
        let files: Vec<Found> = mapped_files(maps).collect();
        assert_eq!(list(&files), "/usr/lib/x86_64-linux-gnu/libc.so.6, /opt/my app/bin/x");
        assert_eq!((files[0].dev, files[0].ino), (nix::sys::stat::makedev(0xfd, 1), 1835087));
    }

    /// This test process's own C library, found by name among its mappings.
    #[test]
    fn a_mapped_library_is_found_by_name() {
        let me = std::process::id();
        let root = ContainerRoot::at(Path::new("/")).unwrap();
        let maps = std::fs::read("/proc/self/maps").unwrap();
        let Some(libc) = mapped_files(&maps).find(|f| f.path.contains("/libc.so")) else {
            return; // a static build: no C library mapped
        };
        let got = find("libc", &root, &[me], None, "this test").unwrap();
        assert_eq!(got, libc.path);
        let err = find("no-such-library-anywhere", &root, &[me], None, "this test").unwrap_err();
        assert!(err.to_string().contains("give the path"), "{err}");
    }
}
