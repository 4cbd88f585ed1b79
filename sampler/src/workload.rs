//! A command run under measurement: forked first, held until its counters are open, then released to
//! `exec` (the order `perf stat -- cmd` uses, so no event of the command is missed).

use std::ffi::CString;
use std::io::Read;

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use crate::sys;

/// Why the command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// An argument contains a NUL byte.
    #[error("command argument contains a NUL byte")]
    NulInArgument,
    /// fork/pipe/write failed.
    #[error("cannot start the command: {0}")]
    Start(#[from] sys::SyscallError),
    /// `execvp` failed in the child.
    #[error("cannot run '{command}': {source}")]
    Exec {
        /// The program name.
        command: String,
        /// The child's errno.
        #[source]
        source: std::io::Error,
    },
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

/// A forked command, held before `exec` until [`Workload::start`].
#[derive(Debug)]
pub struct Workload {
    held: Option<sys::HeldChild>,
    pid: nix::unistd::Pid,
    program: String,
    exit: Option<Exit>,
}

impl Workload {
    /// Forks `argv` (looked up in `PATH`); it does not run until [`Workload::start`].
    pub fn prepare(argv: &[String]) -> Result<Self, WorkloadError> {
        let c_argv = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| WorkloadError::NulInArgument))
            .collect::<Result<Vec<_>, _>>()?;
        let held = sys::fork_held_command(&c_argv)?;
        Ok(Workload { pid: held.pid, held: Some(held), program: argv[0].clone(), exit: None })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Lets the command exec; reports an `execvp` failure (e.g. command not found).
    pub fn start(&mut self) -> Result<(), WorkloadError> {
        let Some(held) = self.held.take() else { return Ok(()) };
        nix::unistd::write(&held.go, &[1u8]).map_err(|e| {
            WorkloadError::Start(sys::SyscallError { call: "write(go pipe)", source: e.into() })
        })?;
        drop(held.go);
        // EOF means exec succeeded (the pipe is close-on-exec); 4 bytes are the child's errno.
        let mut errno = [0u8; 4];
        let mut f = std::fs::File::from(held.exec_error);
        let mut got = 0;
        while got < 4 {
            match f.read(&mut errno[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if got == 4 {
            let _ = waitpid(self.pid, None);
            self.exit = Some(Exit::Code(127));
            return Err(WorkloadError::Exec {
                command: self.program.clone(),
                source: std::io::Error::from_raw_os_error(i32::from_ne_bytes(errno)),
            });
        }
        Ok(())
    }

    /// Reaps the command if it has ended; `Some` once it has.
    pub fn try_wait(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => self.exit = Some(Exit::Code(code)),
                Ok(WaitStatus::Signaled(_, sig, _)) => self.exit = Some(Exit::Signal(sig as i32)),
                Err(nix::errno::Errno::ECHILD) => self.exit = Some(Exit::Code(0)),
                _ => {}
            }
        }
        self.exit
    }

    /// Blocks until the command ends.
    pub fn wait(&mut self) -> Exit {
        while self.exit.is_none() {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => self.exit = Some(Exit::Code(code)),
                Ok(WaitStatus::Signaled(_, sig, _)) => self.exit = Some(Exit::Signal(sig as i32)),
                Err(nix::errno::Errno::EINTR) | Ok(_) => {}
                Err(_) => self.exit = Some(Exit::Code(0)),
            }
        }
        self.exit.unwrap_or(Exit::Code(0))
    }

    /// Sends a signal to the command if it is still running.
    pub fn signal(&self, sig: Signal) {
        if self.exit.is_none() {
            let _ = nix::sys::signal::kill(self.pid, sig);
        }
    }
}

/// How long a command dropped while still running gets between SIGTERM and SIGKILL.
const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

impl Drop for Workload {
    fn drop(&mut self) {
        // A command never started exits by itself when its go pipe closes; reap it either way.
        let started = self.held.take().is_none();
        if self.exit.is_some() {
            return;
        }
        if started {
            // Dropped while running means the measurement ended early (an error): end the command
            // rather than wait for it, SIGTERM first, SIGKILL if it ignores that.
            self.signal(Signal::SIGTERM);
            let deadline = std::time::Instant::now() + TERM_GRACE;
            while self.try_wait().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            self.signal(Signal::SIGKILL);
        }
        let _ = self.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running command dropped without being waited for (an error path) is ended, even one that
    /// ignores SIGTERM, instead of hanging its caller.
    #[test]
    fn dropping_a_running_command_ends_it() {
        let argv: Vec<String> =
            ["sh", "-c", "trap '' TERM; sleep 30; sleep 30"].iter().map(|s| s.to_string()).collect();
        let mut w = Workload::prepare(&argv).unwrap();
        w.start().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let pid = w.pid();
        let start = std::time::Instant::now();
        drop(w);
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "drop took {:?}", start.elapsed());
        assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err(), "still there");
    }
}
