//! Every raw system call the sampler makes, and all of its `unsafe`.
//!
//! Callers above this module see [`OwnedFd`]s and `Result`s; no raw file descriptor number or pointer
//! leaves it. Each `unsafe` block says why it is sound.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub(crate) use perf_event_open_sys::bindings as perf;

/// A system call failed; `call` names it so that an error message can say which.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {source}")]
pub struct SyscallError {
    /// The failing call, e.g. `perf_event_open`.
    pub call: &'static str,
    /// What the kernel said.
    #[source]
    pub source: std::io::Error,
}

impl SyscallError {
    fn last(call: &'static str) -> Self {
        SyscallError { call, source: std::io::Error::last_os_error() }
    }

    /// The errno of the failure, if it was one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// A `perf_event_attr` with its `size` set, everything else zero.
pub(crate) fn new_attr() -> perf::perf_event_attr {
    perf::perf_event_attr { size: std::mem::size_of::<perf::perf_event_attr>() as u32, ..Default::default() }
}

/// What `pid` means to `perf_event_open`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A thread or process id (`-1` is never passed this way).
    Pid(i32),
    /// Every task on the CPU.
    AnyTask,
    /// Tasks in the cgroup whose directory this is (`PERF_FLAG_PID_CGROUP`).
    Cgroup(BorrowedFd<'a>),
}

/// Opens one perf event; the descriptor is close-on-exec.
pub(crate) fn perf_event_open(
    attr: &perf::perf_event_attr,
    target: Target<'_>,
    cpu: i32,
) -> Result<OwnedFd, SyscallError> {
    let mut flags = perf::PERF_FLAG_FD_CLOEXEC as libc::c_ulong;
    let pid = match target {
        Target::Pid(pid) => pid,
        Target::AnyTask => -1,
        Target::Cgroup(dir) => {
            flags |= perf::PERF_FLAG_PID_CGROUP as libc::c_ulong;
            dir.as_raw_fd()
        }
    };
    let mut attr = *attr;
    // SAFETY: `attr` is a fully initialised perf_event_attr whose `size` matches the struct we pass;
    // the kernel only reads it (and may write `size` back on E2BIG, which is why it is a local copy).
    // For a uprobe, `config1` points to a NUL-terminated path owned by the event the attr was made
    // from (`uprobe::set_attr`), which the caller holds across this call; the kernel copies it.
    // The event requested only counts or samples; it cannot affect memory safety of this process.
    let fd = unsafe { perf_event_open_sys::perf_event_open(&mut attr, pid, cpu, -1, flags) };
    if fd < 0 {
        return Err(SyscallError::last("perf_event_open"));
    }
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `PERF_EVENT_IOC_ENABLE`.
pub(crate) fn perf_enable(fd: BorrowedFd<'_>) -> Result<(), SyscallError> {
    // SAFETY: ENABLE takes an integer argument and touches no user memory; `fd` is a live descriptor.
    let rc = unsafe { perf_event_open_sys::ioctls::ENABLE(fd.as_raw_fd(), 0) };
    if rc < 0 {
        return Err(SyscallError::last("ioctl(PERF_EVENT_IOC_ENABLE)"));
    }
    Ok(())
}

/// `PERF_EVENT_IOC_DISABLE`.
pub(crate) fn perf_disable(fd: BorrowedFd<'_>) -> Result<(), SyscallError> {
    // SAFETY: DISABLE takes an integer argument and touches no user memory; `fd` is a live descriptor.
    let rc = unsafe { perf_event_open_sys::ioctls::DISABLE(fd.as_raw_fd(), 0) };
    if rc < 0 {
        return Err(SyscallError::last("ioctl(PERF_EVENT_IOC_DISABLE)"));
    }
    Ok(())
}

/// `PERF_EVENT_IOC_SET_FILTER`: a tracepoint filter expression such as `ret < 0`.
pub(crate) fn perf_set_filter(fd: BorrowedFd<'_>, filter: &CStr) -> Result<(), SyscallError> {
    // SAFETY: the kernel copies a NUL-terminated string of bounded length from the pointer
    // (strndup_user) and never writes through it; `filter` outlives the call.
    let rc = unsafe {
        perf_event_open_sys::ioctls::SET_FILTER(fd.as_raw_fd(), filter.as_ptr() as *mut libc::c_char)
    };
    if rc < 0 {
        return Err(SyscallError::last("ioctl(PERF_EVENT_IOC_SET_FILTER)"));
    }
    Ok(())
}

/// One read of a counting event opened with
/// `read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RawCount {
    pub value: u64,
    pub enabled_ns: u64,
    pub running_ns: u64,
}

/// Reads a counting event (see [`RawCount`] for the read format it expects).
pub(crate) fn perf_read_count(fd: BorrowedFd<'_>) -> Result<RawCount, SyscallError> {
    let mut buf = [0u8; 24];
    let n = nix::unistd::read(fd.as_raw_fd(), &mut buf)
        .map_err(|e| SyscallError { call: "read(perf event)", source: e.into() })?;
    if n != buf.len() {
        return Err(SyscallError {
            call: "read(perf event)",
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("short read of {n} bytes"),
            ),
        });
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(w)
    };
    Ok(RawCount { value: word(0), enabled_ns: word(1), running_ns: word(2) })
}

/// Raises the soft open-files limit to the hard limit; returns the new soft limit.
pub(crate) fn raise_nofile_limit() -> Result<u64, SyscallError> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| SyscallError { call: "getrlimit", source: e.into() })?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            .map_err(|e| SyscallError { call: "setrlimit", source: e.into() })?;
    }
    Ok(hard)
}

/// Mounts tracefs at `target` (which must exist).
pub(crate) fn mount_tracefs(target: &std::path::Path) -> Result<(), SyscallError> {
    nix::mount::mount(Some("nodev"), target, Some("tracefs"), nix::mount::MsFlags::empty(), None::<&str>)
        .map_err(|e| SyscallError { call: "mount(tracefs)", source: e.into() })
}

/// A child forked by [`fork_held_command`]: it waits for `go` before calling `execvp`.
#[derive(Debug)]
pub(crate) struct HeldChild {
    pub pid: nix::unistd::Pid,
    /// Writing a byte here lets the child exec; closing it without writing makes the child exit 127.
    pub go: OwnedFd,
    /// Becomes readable with the child's `errno` (4 bytes) if `execvp` fails; EOF when exec succeeds.
    pub exec_error: OwnedFd,
}

/// Forks a child that blocks until released, then restores the default signal mask and execs `argv`.
///
/// This is how a counted command starts only after its counters exist (perf does the same).
pub(crate) fn fork_held_command(argv: &[std::ffi::CString]) -> Result<HeldChild, SyscallError> {
    use nix::unistd::{fork, ForkResult};
    if argv.is_empty() {
        return Err(SyscallError {
            call: "execvp",
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    }
    let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SyscallError { call: "pipe2", source: e.into() })?;
    let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SyscallError { call: "pipe2", source: e.into() })?;
    // Everything the child needs is prepared before fork: it may only make async-signal-safe calls.
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let go_read_raw = go_read.as_raw_fd();
    let go_write_raw = go_write.as_raw_fd();
    let err_write_raw = err_write.as_raw_fd();
    // SAFETY: the child below calls only close, read, sigemptyset, sigprocmask, execvp, write and _exit
    // on memory prepared before the fork, and never returns into Rust code. All but execvp are
    // async-signal-safe; execvp is not formally, but glibc's PATH search allocates on the stack, not the
    // heap, and cperf forks before starting any thread of its own, so no lock can be held by a thread
    // that does not exist in the child.
    match unsafe { fork() }.map_err(|e| SyscallError { call: "fork", source: e.into() })? {
        ForkResult::Child => {
            // SAFETY: see above; every pointer refers to memory allocated before fork and still live.
            unsafe {
                libc::close(go_write_raw);
                let mut byte = 0u8;
                let n = libc::read(go_read_raw, (&mut byte as *mut u8).cast(), 1);
                if n != 1 {
                    libc::_exit(127);
                }
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                // Rust's runtime ignores SIGPIPE and ignored dispositions survive exec: restore it.
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::execvp(argv_ptrs[0], argv_ptrs.as_ptr());
                let errno = *libc::__errno_location();
                libc::write(err_write_raw, (&errno as *const i32).cast(), 4);
                libc::_exit(127);
            }
        }
        ForkResult::Parent { child } => {
            drop(go_read);
            drop(err_write);
            Ok(HeldChild { pid: child, go: go_write, exec_error: err_read })
        }
    }
}

/// The value type of the BPF syscall counter's per-CPU array (`struct counts` in `syscount.bpf.c`).
#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BpfSyscallCounts {
    pub enter: u64,
    pub exit: u64,
    pub errors: u64,
}

// SAFETY: three u64s with repr(C): no padding, no pointers, every bit pattern valid, matching the C
// struct of the same fields that the kernel copies out of the map.
#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
unsafe impl aya::Pod for BpfSyscallCounts {}

/// The key of the run-queue latency histograms (`struct hist_key` in `runqlat.bpf.c`).
#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BpfHistKey {
    pub slot: u32,
    pub id: u32,
}

// SAFETY: two u32s with repr(C): no padding, no pointers, every bit pattern valid, matching the C
// struct of the same fields.
#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
unsafe impl aya::Pod for BpfHistKey {}

/// A run-queue latency histogram (`struct hist` in `runqlat.bpf.c`): 27 u32 buckets, 4 bytes of
/// padding (which the C compiler puts there too, to align `count`), two u64s, and a 16-byte name.
#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BpfHist {
    pub slots: [u32; 27],
    pub _pad: u32,
    pub count: u64,
    pub sum: u64,
    pub comm: [u8; 16],
}

// SAFETY: repr(C) with the padding spelled out as a field, so there are no uninitialised bytes;
// integers and bytes only (every bit pattern valid), no pointers; 144 bytes, laid out as the C
// struct the kernel copies out of the map.
#[cfg(all(feature = "bpf", target_arch = "x86_64"))]
unsafe impl aya::Pod for BpfHist {}

#[cfg(all(test, feature = "bpf", target_arch = "x86_64"))]
const _: () = assert!(std::mem::size_of::<BpfHist>() == 144 && std::mem::size_of::<BpfHistKey>() == 8);

/// The mapping of a perf event's ring buffer: the metadata page and a power-of-two data area.
///
/// The kernel writes records and advances `data_head`; we read them, then advance `data_tail`.
/// `data_head` is loaded with acquire ordering (records before it are fully written) and `data_tail`
/// stored with release ordering (we are done with the bytes before it), as perf_event_open(2) asks.
#[derive(Debug)]
pub(crate) struct PerfMmap {
    base: std::ptr::NonNull<libc::c_void>,
    len: usize,
    data_offset: usize,
    data_size: usize,
}

// SAFETY: the mapping is owned by this value; the kernel is the only other party and synchronises
// through the head/tail protocol, so moving the owner to another thread is sound.
unsafe impl Send for PerfMmap {}

impl PerfMmap {
    /// Maps `1 + data_pages` pages of `fd` (`data_pages` a power of two), read-write so that the
    /// tail can be published (the kernel then never overwrites unread records: it counts them lost).
    pub(crate) fn map(fd: BorrowedFd<'_>, data_pages: usize) -> Result<Self, SyscallError> {
        let page =
            nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().unwrap_or(4096) as usize;
        if !data_pages.is_power_of_two() {
            return Err(SyscallError {
                call: "mmap(perf ring)",
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "data pages must be a power of two",
                ),
            });
        }
        let len = page * (1 + data_pages);
        let size = std::num::NonZeroUsize::new(len).expect("at least one page");
        // SAFETY: a fresh shared mapping of a perf event fd at a kernel-chosen address; no existing
        // memory is affected. The kernel validates the size (1 + 2^n pages).
        let base = unsafe {
            nix::sys::mman::mmap(
                None,
                size,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
                fd,
                0,
            )
        }
        .map_err(|e| SyscallError { call: "mmap(perf ring)", source: e.into() })?;
        let mut m = PerfMmap { base, len, data_offset: page, data_size: page * data_pages };
        let meta = m.meta();
        // SAFETY: `meta` points at the metadata page we just mapped; these fields are written once by the
        // kernel before mmap returns (kernel >= 4.1; zero on older ones, then the classic layout holds).
        let (offset, size) = unsafe { ((*meta).data_offset, (*meta).data_size) };
        if offset != 0 && size != 0 && (offset + size) as usize <= len {
            m.data_offset = offset as usize;
            m.data_size = size as usize;
        }
        Ok(m)
    }

    fn meta(&self) -> *mut perf::perf_event_mmap_page {
        self.base.as_ptr().cast()
    }

    /// Where the kernel has written up to (monotonic byte position).
    pub(crate) fn head(&self) -> u64 {
        // SAFETY: data_head is a naturally aligned u64 in the mapped metadata page; the kernel updates it
        // concurrently, so it is read atomically, with acquire ordering as the ABI requires.
        unsafe {
            let p = std::ptr::addr_of_mut!((*self.meta()).data_head);
            (*(p as *const std::sync::atomic::AtomicU64)).load(std::sync::atomic::Ordering::Acquire)
        }
    }

    /// What we have consumed up to.
    pub(crate) fn tail(&self) -> u64 {
        // SAFETY: only this process writes data_tail; aligned u64 in the mapped page.
        unsafe {
            let p = std::ptr::addr_of_mut!((*self.meta()).data_tail);
            (*(p as *const std::sync::atomic::AtomicU64)).load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    /// Publishes that everything before `tail` has been consumed.
    pub(crate) fn set_tail(&self, tail: u64) {
        // SAFETY: aligned u64 in the mapped page; release ordering so our reads of the records happen
        // before the kernel may reuse their space.
        unsafe {
            let p = std::ptr::addr_of_mut!((*self.meta()).data_tail);
            (*(p as *const std::sync::atomic::AtomicU64)).store(tail, std::sync::atomic::Ordering::Release);
        }
    }

    /// The data area.
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: the data area lies inside the mapping (checked in `map`) and lives as long as `self`.
        // The kernel writes only between head and tail + size, i.e. never into the published range
        // [tail, head) that readers look at before publishing a new tail — the protocol every perf
        // reader relies on.
        unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().cast::<u8>().add(self.data_offset), self.data_size)
        }
    }
}

impl Drop for PerfMmap {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping made in `map`, and no slice from `data` can
        // outlive `self`.
        let _ = unsafe { nix::sys::mman::munmap(self.base, self.len) };
    }
}

/// `PERF_EVENT_IOC_SET_OUTPUT`: send `fd`'s records to `target`'s ring (same CPU required).
pub(crate) fn perf_set_output(fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), SyscallError> {
    // SAFETY: SET_OUTPUT takes another perf event fd as an integer argument; both fds are live.
    let rc = unsafe { perf_event_open_sys::ioctls::SET_OUTPUT(fd.as_raw_fd(), target.as_raw_fd()) };
    if rc < 0 {
        return Err(SyscallError::last("ioctl(PERF_EVENT_IOC_SET_OUTPUT)"));
    }
    Ok(())
}

/// `PERF_EVENT_IOC_ID`: the id the kernel puts in this event's records.
pub(crate) fn perf_event_id(fd: BorrowedFd<'_>) -> Result<u64, SyscallError> {
    let mut id = 0u64;
    // SAFETY: the kernel writes one u64 through the pointer, which points at a live local.
    let rc = unsafe { perf_event_open_sys::ioctls::ID(fd.as_raw_fd(), &mut id) };
    if rc < 0 {
        return Err(SyscallError::last("ioctl(PERF_EVENT_IOC_ID)"));
    }
    Ok(id)
}
