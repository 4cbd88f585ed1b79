//! Why cperf cannot reach a process's files (`/proc/<pid>/root`): the process has exited, or this
//! user may not. The kernel lets only the process's own user, root, or a holder of
//! `CAP_SYS_PTRACE` in; `CAP_PERFMON` and `CAP_BPF` do not open files, so a user granted only those
//! can count and sample a container's processes but not read their files.

use std::io::ErrorKind;

/// Why `/proc/<pid>/root` cannot be opened, as one clause for a message.
pub fn no_root(pid: u32) -> String {
    let dir = format!("/proc/{pid}/root");
    match std::fs::read_dir(&dir) {
        Err(e) if is_denied(&e) => denied(&dir),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            "the process exited before its files could be opened".into()
        }
        Err(e) => format!("cannot open {dir}: {e}"),
        Ok(_) => format!("{dir} could not be opened at the time"),
    }
}

/// True when `e` says this user may not (EACCES; or EPERM, for a process whose memory it may
/// not read).
pub fn is_denied(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EPERM)
}

/// The clause for a root this user may not open.
pub fn denied(dir: &str) -> String {
    format!(
        "permission denied opening {dir}: the files of another user's processes need root, or CAP_SYS_PTRACE beside CAP_PERFMON"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exited_process_and_this_one() {
        // A pid above the kernel's limit never exists.
        assert_eq!(no_root(4_194_305), "the process exited before its files could be opened");
        assert!(no_root(std::process::id()).contains("could not be opened at the time"));
    }
}
