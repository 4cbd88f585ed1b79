//! Opening files inside a container's root filesystem without ever reaching the host's.
//!
//! A container is untrusted input: its paths may be absolute symlinks, `..` chains, magic links into
//! `/proc`, FIFOs or devices. Every open here resolves the path with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` against a directory descriptor of the container's root (normally
//! `/proc/<pid>/root`), so `/` and `..` stop at that root. The path is opened with `O_PATH` first,
//! which opens nothing; only a regular file is then opened for reading, by reopening that same inode
//! (a device node, FIFO or socket is refused before any driver sees an open), and reads are
//! bounded. Files reached through magic links on the host (`/proc/<pid>/map_files/…`) take the same
//! way ([`open_host_regular`]).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
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

    /// The root directory's device and inode: the same for every value opened on one root, also
    /// after the processes it was opened through have exited.
    pub fn identity(&self) -> Option<(u64, u64)> {
        let st = nix::sys::stat::fstat(self.dir.as_raw_fd()).ok()?;
        Some((st.st_dev, st.st_ino))
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
    /// Anything else (a device node, a FIFO, a socket, a directory) is refused without ever being
    /// opened for reading: the path is opened with `O_PATH`, checked, and only then reopened for
    /// reading (as [`open_host_regular`] does for host paths).
    pub fn open(&self, path: &Path, max_len: u64) -> Result<(File, u64), RootError> {
        let handle = self.open_inside(path, OFlag::O_PATH)?;
        open_regular(handle, max_len).map_err(|e| e.at(path, &self.name))
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
        read_whole(file, len, max_len).map_err(|e| e.at(path, &self.name))
    }
}

/// All of `file` (`len` bytes when opened), refused if it grew past `max_len` meanwhile.
fn read_whole(file: File, len: u64, max_len: u64) -> Result<Vec<u8>, Refusal> {
    let mut buf = Vec::with_capacity(len.min(max_len) as usize);
    file.take(max_len.saturating_add(1)).read_to_end(&mut buf).map_err(Refusal::Io)?;
    if buf.len() as u64 > max_len {
        return Err(Refusal::TooLarge { len: buf.len() as u64, max: max_len });
    }
    Ok(buf)
}

/// Why [`open_regular`] refused a file (placed in a [`RootError`] by its callers).
#[derive(Debug)]
enum Refusal {
    NotRegular,
    TooLarge { len: u64, max: u64 },
    Io(std::io::Error),
}

impl Refusal {
    fn at(self, path: &Path, root: &Path) -> RootError {
        let (path, root) = (path.to_path_buf(), root.to_path_buf());
        match self {
            Refusal::NotRegular => RootError::NotRegular { path, root },
            Refusal::TooLarge { len, max } => RootError::TooLarge { path, root, len, max },
            Refusal::Io(source) => RootError::Io { path, root, source },
        }
    }
}

/// The one way cperf opens a file that a container controls for reading. `handle` is an `O_PATH`
/// descriptor of it, which opens nothing (no device driver is called, a FIFO is not touched); it
/// is checked with `fstat`, and only a regular file of at most `max_len` bytes is then opened for
/// reading, through `/proc/self/fd/<handle>`, which reopens that very inode (checked by device and
/// inode after): a path swapped meanwhile cannot substitute another file. Returns the file and its
/// length.
fn open_regular(handle: OwnedFd, max_len: u64) -> Result<(File, u64), Refusal> {
    let errno = |e: nix::errno::Errno| Refusal::Io(e.into());
    let before = nix::sys::stat::fstat(handle.as_raw_fd()).map_err(errno)?;
    if before.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Refusal::NotRegular);
    }
    let reopened = nix::fcntl::open(
        format!("/proc/self/fd/{}", handle.as_raw_fd()).as_str(),
        OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(errno)?;
    let file = File::from(crate::sys::owned(reopened));
    let meta = file.metadata().map_err(Refusal::Io)?;
    if (meta.dev(), meta.ino()) != (before.st_dev, before.st_ino) || !meta.file_type().is_file() {
        return Err(Refusal::NotRegular);
    }
    if meta.len() > max_len {
        return Err(Refusal::TooLarge { len: meta.len(), max: max_len });
    }
    Ok((file, meta.len()))
}

/// Opens for reading the regular file that the host path `path` leads to, following symlinks and
/// magic links (such as `/proc/<pid>/map_files/<start>-<end>`, the very file a process mapped,
/// which may be a device it mapped): a regular file of at most `max_len` bytes, else refused
/// without being opened for reading, as [`ContainerRoot::open`] does.
pub fn open_host_regular(path: &Path, max_len: u64) -> Result<(File, u64), RootError> {
    let root = Path::new("/");
    let handle = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| match e {
            nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => {
                RootError::NotFound { path: path.to_path_buf(), root: root.to_path_buf() }
            }
            e => RootError::Io { path: path.to_path_buf(), root: root.to_path_buf(), source: e.into() },
        })?;
    open_regular(crate::sys::owned(handle), max_len).map_err(|e| e.at(path, root))
}

/// Reads a whole regular file reached by the host path `path` (see [`open_host_regular`]).
pub fn read_host_regular(path: &Path, max_len: u64) -> Result<Vec<u8>, RootError> {
    let (file, len) = open_host_regular(path, max_len)?;
    read_whole(file, len, max_len).map_err(|e| e.at(path, Path::new("/")))
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

    /// Watches `paths` for opens (`IN_OPEN`; an `O_PATH` descriptor is not an open to inotify).
    fn watch_opens(paths: &[&Path]) -> nix::sys::inotify::Inotify {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).unwrap();
        for path in paths {
            inotify.add_watch(*path, AddWatchFlags::IN_OPEN).unwrap();
        }
        inotify
    }

    fn opens_seen(inotify: &nix::sys::inotify::Inotify) -> usize {
        match inotify.read_events() {
            Ok(events) => events.len(),
            Err(nix::errno::Errno::EAGAIN) => 0,
            Err(e) => panic!("inotify: {e}"),
        }
    }

    /// A device node (the host's /dev/null, as a container can make one) and a FIFO are refused
    /// without ever being opened: inotify sees no open of either, whichever way they are reached,
    /// while it does see the open of a regular file.
    #[test]
    fn device_nodes_and_fifos_are_never_opened() {
        let root = tree("nodes");
        let mut nodes = vec![root.0.join("fifo")];
        nix::unistd::mkfifo(&nodes[0], nix::sys::stat::Mode::S_IRWXU).unwrap();
        let null = root.0.join("null");
        match nix::sys::stat::mknod(
            &null,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
            nix::sys::stat::makedev(1, 3),
        ) {
            Ok(()) => nodes.push(null),
            Err(e) if std::env::var_os("CPERF_REQUIRE_PRIVILEGED").is_some_and(|v| v == "1") => {
                panic!("cannot make a device node (CPERF_REQUIRE_PRIVILEGED=1): {e}")
            }
            Err(e) => eprintln!("skipped: the device node half (mknod: {e})"),
        }
        std::os::unix::fs::symlink("fifo", root.0.join("link-to-fifo")).unwrap();
        std::fs::write(root.0.join("regular"), "text").unwrap();
        let r = ContainerRoot::at(&root.0).unwrap();
        let watched: Vec<&Path> = nodes.iter().map(PathBuf::as_path).collect();
        let inotify = watch_opens(&watched);
        for node in &nodes {
            let inside = Path::new("/").join(node.file_name().unwrap());
            assert!(matches!(r.open(&inside, 1 << 20), Err(RootError::NotRegular { .. })), "{node:?}");
            assert!(matches!(r.read(&inside, 1 << 20), Err(RootError::NotRegular { .. })), "{node:?}");
            assert!(
                matches!(open_host_regular(node, 1 << 20), Err(RootError::NotRegular { .. })),
                "{node:?}"
            );
        }
        assert!(matches!(r.read(Path::new("/link-to-fifo"), 1 << 20), Err(RootError::NotRegular { .. })));
        assert_eq!(opens_seen(&inotify), 0, "a device node or FIFO was opened");
        // The check itself sees opens (two identical unread events are one to inotify).
        let regular = root.0.join("regular");
        let inotify = watch_opens(&[&regular]);
        assert_eq!(r.read(Path::new("/regular"), 1 << 20).unwrap(), b"text");
        assert_eq!(open_host_regular(&regular, 1 << 20).unwrap().1, 4);
        assert!(opens_seen(&inotify) >= 1, "inotify saw no open of a regular file");
    }

    /// `/proc/<pid>/map_files/` entries (magic links to what a process mapped) lead to the file.
    #[test]
    fn mapped_files_are_opened_through_their_magic_links() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let line = maps.lines().find(|l| l.ends_with(exe.to_str().unwrap())).unwrap();
        let range = line.split_whitespace().next().unwrap();
        let path = PathBuf::from(format!("/proc/self/map_files/{range}"));
        let (mut file, len) = open_host_regular(&path, 1 << 30).unwrap();
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic).unwrap();
        assert_eq!((len, &magic), (std::fs::metadata(&exe).unwrap().len(), b"\x7fELF"));
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
