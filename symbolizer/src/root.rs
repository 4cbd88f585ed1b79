//! Opening files inside a container's root filesystem without ever reaching the host's.
//!
//! A container is untrusted input: its paths may be absolute symlinks, `..` chains, magic links into
//! `/proc`, FIFOs or devices. Every open here resolves the path with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` against a directory descriptor of the container's root (normally
//! `/proc/<pid>/root`), so `/` and `..` stop at that root; only regular files are accepted, opened
//! non-blocking (a FIFO cannot hang us), and reads are bounded.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};

/// Why a file inside a container root could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The root itself cannot be opened (the process exited, or no permission).
    #[error("cannot open the root filesystem {root}: {source}")]
    Root {
        /// What was opened (`/proc/<pid>/root`).
        root: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No such file inside the root.
    #[error("{path} does not exist inside {root}")]
    NotFound {
        /// The path inside the container.
        path: PathBuf,
        /// The root.
        root: PathBuf,
    },
    /// Not a regular file (directory, FIFO, device, socket).
    #[error("{path} inside {root} is not a regular file; refusing to read it")]
    NotRegular {
        /// The path inside the container.
        path: PathBuf,
        /// The root.
        root: PathBuf,
    },
    /// Larger than the caller allows.
    #[error("{path} inside {root} is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The path inside the container.
        path: PathBuf,
        /// The root.
        root: PathBuf,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Any other failure (permission, a magic link, I/O).
    #[error("cannot read {path} inside {root}: {source}")]
    Io {
        /// The path inside the container.
        path: PathBuf,
        /// The root.
        root: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The root directory of a container (or of any process), as an open descriptor.
#[derive(Debug)]
pub struct ContainerRoot {
    dir: OwnedFd,
    name: PathBuf,
}

impl ContainerRoot {
    /// The root filesystem of process `pid`, as that process sees it (`/proc/<pid>/root`). It stays
    /// usable after the process exits for as long as this value lives.
    pub fn of_process(pid: u32) -> Result<Self, RootError> {
        Self::at(&PathBuf::from(format!("/proc/{pid}/root")))
    }

    /// Any directory used as a root (an unpacked image, a test tree).
    pub fn at(path: &Path) -> Result<Self, RootError> {
        let dir = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| RootError::Root { root: path.to_path_buf(), source: e.into() })?;
        let dir = crate::sys::owned(dir);
        Ok(ContainerRoot { dir, name: path.to_path_buf() })
    }

    /// Opens `path` (as the container sees it) with `flags`, resolved inside the root.
    fn open_inside(&self, path: &Path, flags: OFlag) -> Result<OwnedFd, RootError> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        crate::sys::openat2(self.dir.as_fd(), path, how).map_err(|e| match e {
            nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => {
                RootError::NotFound { path: path.to_path_buf(), root: self.name.clone() }
            }
            e => RootError::Io { path: path.to_path_buf(), root: self.name.clone(), source: e.into() },
        })
    }

    /// Opens `path` (as the container sees it) for reading: a regular file of at most `max_len` bytes.
    pub fn open(&self, path: &Path, max_len: u64) -> Result<(File, u64), RootError> {
        let fd = self.open_inside(path, OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|source| RootError::Io {
            path: path.to_path_buf(),
            root: self.name.clone(),
            source,
        })?;
        if !meta.file_type().is_file() {
            return Err(RootError::NotRegular { path: path.to_path_buf(), root: self.name.clone() });
        }
        if meta.len() > max_len {
            return Err(RootError::TooLarge {
                path: path.to_path_buf(),
                root: self.name.clone(),
                len: meta.len(),
                max: max_len,
            });
        }
        Ok((file, meta.len()))
    }

    /// The names in directory `path` (as the container sees it), unsorted; `.` and `..` left out.
    pub fn list(&self, path: &Path) -> Result<Vec<std::ffi::OsString>, RootError> {
        let fd = self.open_inside(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        let io = |source: std::io::Error| RootError::Io {
            path: path.to_path_buf(),
            root: self.name.clone(),
            source,
        };
        // The descriptor already is the directory inside the root; listing it through its
        // /proc/self/fd entry resolves nothing more.
        let mut names = Vec::new();
        for entry in std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(io)? {
            names.push(entry.map_err(io)?.file_name());
        }
        Ok(names)
    }

    /// Reads a whole regular file of at most `max_len` bytes (also if it grows while being read).
    pub fn read(&self, path: &Path, max_len: u64) -> Result<Vec<u8>, RootError> {
        let (file, len) = self.open(path, max_len)?;
        let mut buf = Vec::with_capacity(len as usize);
        file.take(max_len + 1).read_to_end(&mut buf).map_err(|source| RootError::Io {
            path: path.to_path_buf(),
            root: self.name.clone(),
            source,
        })?;
        if buf.len() as u64 > max_len {
            return Err(RootError::TooLarge {
                path: path.to_path_buf(),
                root: self.name.clone(),
                len: buf.len() as u64,
                max: max_len,
            });
        }
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree(PathBuf);
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tree(name: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!("cperf-root-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tree(dir)
    }

    #[test]
    fn absolute_symlinks_and_dotdot_stay_inside_the_root() {
        let host = tree("host");
        std::fs::write(host.0.join("secret"), "host secret").unwrap();
        let root = tree("root");
        let inside_twin = root.0.join(host.0.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside_twin).unwrap();
        std::fs::write(inside_twin.join("secret"), "container file").unwrap();
        std::os::unix::fs::symlink(host.0.join("secret"), root.0.join("abs-link")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../etc/hostname", root.0.join("dotdot-link"))
            .unwrap();
        let r = ContainerRoot::at(&root.0).unwrap();
        // The same absolute path, inside and as a symlink target: both give the container's file.
        assert_eq!(r.read(&host.0.join("secret"), 1 << 20).unwrap(), b"container file");
        assert_eq!(r.read(Path::new("/abs-link"), 1 << 20).unwrap(), b"container file");
        // `..` stops at the root: there is no /etc/hostname inside it.
        assert!(matches!(r.read(Path::new("/dotdot-link"), 1 << 20), Err(RootError::NotFound { .. })));
        assert!(matches!(r.read(Path::new("/../../etc/hostname"), 1 << 20), Err(RootError::NotFound { .. })));
    }

    #[test]
    fn directories_are_listed_inside_the_root() {
        let host = tree("list-host");
        std::fs::write(host.0.join("host-only"), "").unwrap();
        let root = tree("list-root");
        let inside_twin = root.0.join(host.0.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside_twin).unwrap();
        std::fs::write(inside_twin.join("inside-a"), "").unwrap();
        std::fs::write(inside_twin.join("inside-b"), "").unwrap();
        // An absolute symlink to a directory, as merged-/usr images have (/lib -> /usr/lib).
        std::os::unix::fs::symlink(&host.0, root.0.join("lib")).unwrap();
        let r = ContainerRoot::at(&root.0).unwrap();
        for dir in [host.0.as_path(), Path::new("/lib")] {
            let mut names = r.list(dir).unwrap();
            names.sort();
            assert_eq!(names, ["inside-a", "inside-b"], "{}", dir.display());
        }
        assert!(matches!(r.list(Path::new("/nowhere")), Err(RootError::NotFound { .. })));
        assert!(matches!(r.list(&host.0.join("..").join("..").join("x")), Err(RootError::NotFound { .. })));
    }

    #[test]
    fn fifos_directories_and_magic_links_are_refused() {
        let root = tree("kinds");
        nix::unistd::mkfifo(&root.0.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::create_dir(root.0.join("dir")).unwrap();
        std::fs::create_dir(root.0.join("proc")).unwrap();
        let r = ContainerRoot::at(&root.0).unwrap();
        assert!(matches!(r.read(Path::new("/fifo"), 1 << 20), Err(RootError::NotRegular { .. })));
        assert!(matches!(r.read(Path::new("/dir"), 1 << 20), Err(RootError::NotRegular { .. })));
        // A magic link in the real /proc of a process root is refused rather than followed.
        let me = ContainerRoot::of_process(std::process::id()).unwrap();
        assert!(me.read(Path::new("/proc/self/exe"), 1 << 30).is_err());
    }

    #[test]
    fn sizes_are_bounded() {
        let root = tree("size");
        std::fs::write(root.0.join("big"), vec![0u8; 4096]).unwrap();
        let r = ContainerRoot::at(&root.0).unwrap();
        assert!(matches!(
            r.read(Path::new("/big"), 1000),
            Err(RootError::TooLarge { len: 4096, max: 1000, .. })
        ));
        assert_eq!(r.read(Path::new("/big"), 4096).unwrap().len(), 4096);
    }

    #[test]
    fn a_process_root_reads_its_files() {
        let me = ContainerRoot::of_process(std::process::id()).unwrap();
        assert!(me.read(Path::new("/bin/sh"), 64 << 20).unwrap().starts_with(b"\x7fELF"));
    }
}
