//! SIGINT, SIGTERM and SIGCHLD, blocked and read from a signalfd: a command's measurement window
//! waits on it next to its other descriptors, so a signal is never lost between two checks.

use std::os::fd::{AsFd, BorrowedFd};

use anyhow::Context;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Signals routed to a descriptor; created before any command is forked, so the child inherits the
/// mask only until it resets it at exec.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks SIGINT, SIGTERM and SIGCHLD in this thread and opens a signalfd for them.
    pub fn block() -> anyhow::Result<Self> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGCHLD);
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
            .context("blocking signals")?;
        let fd =
            SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).context("signalfd")?;
        Ok(Signals { fd })
    }

    /// Reads every pending signal; returns SIGINT or SIGTERM if one came (SIGCHLD only wakes the
    /// caller, who then checks its command).
    pub fn read_stop(&mut self) -> Option<Signal> {
        let mut stop = None;
        while let Ok(Some(info)) = self.fd.read_signal() {
            if let Ok(sig @ (Signal::SIGINT | Signal::SIGTERM)) = Signal::try_from(info.ssi_signo as i32) {
                stop.get_or_insert(sig);
            }
        }
        stop
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
