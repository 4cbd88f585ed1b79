//! The symbolizer's raw system calls and its only `unsafe`.

use std::os::fd::{FromRawFd, OwnedFd};

/// `openat2(2)` returning an owned descriptor.
pub(crate) fn openat2(
    dir: std::os::fd::BorrowedFd<'_>,
    path: &std::path::Path,
    how: nix::fcntl::OpenHow,
) -> Result<OwnedFd, nix::errno::Errno> {
    use std::os::fd::AsRawFd;
    let fd = nix::fcntl::openat2(dir.as_raw_fd(), path, how)?;
    // SAFETY: openat2 just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes ownership of a descriptor just returned by a nix call that hands out raw descriptors.
pub(crate) fn owned(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: callers pass only a descriptor a system call has just returned to them, unowned elsewhere.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
