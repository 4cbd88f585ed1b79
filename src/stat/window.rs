//! The counting window: waits for the end of the command, `--duration`, Ctrl-C, SIGTERM or the exit of
//! every process counted by `-p` (when they are all there is to count), waking up for each `-I`
//! interval on the way.
//!
//! Signals come from [`Signals`]' signalfd, so none is lost between two checks, and the timer is
//! exact to the poll's millisecond.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use sampler::workload::{Exit, Workload};

use crate::signals::Signals;

/// Why the window closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `--duration` elapsed.
    Duration,
    /// The command ended.
    Command(Exit),
    /// SIGINT or SIGTERM.
    Signal(Signal),
    /// Every watched process exited.
    ProcessesGone,
}

/// How often the watched processes are looked at: the longest a window outlives them.
const WATCH_EVERY: Duration = Duration::from_millis(50);

impl Signals {
    /// Runs the window until it stops, calling `tick` at each interval boundary (with the time since
    /// the start). With `watched` processes, it also stops once none of them is alive (zombies count
    /// as exited). Returns why it stopped.
    pub fn run(
        &mut self,
        mut workload: Option<&mut Workload>,
        watched: &[u32],
        duration: Option<Duration>,
        interval: Option<Duration>,
        mut tick: impl FnMut(Duration) -> anyhow::Result<()>,
    ) -> anyhow::Result<Stop> {
        let start = Instant::now();
        let mut next_tick = interval.map(|i| start + i);
        let deadline = duration.map(|d| start + d);
        loop {
            if let Some(w) = workload.as_deref_mut() {
                if let Some(exit) = w.try_wait() {
                    return Ok(Stop::Command(exit));
                }
            }
            if !watched.is_empty() && !watched.iter().any(|&pid| crate::record::procfs::alive(pid)) {
                return Ok(Stop::ProcessesGone);
            }
            let now = Instant::now();
            if let Some(t) = next_tick {
                if now >= t {
                    tick(t - start)?;
                    next_tick = interval.map(|i| t + i);
                    continue;
                }
            }
            if deadline.is_some_and(|d| now >= d) {
                return Ok(Stop::Duration);
            }
            let watch = (!watched.is_empty()).then(|| now + WATCH_EVERY);
            let wake = [next_tick, deadline, watch].into_iter().flatten().min();
            let timeout = match wake {
                Some(w) => {
                    let ms = w.saturating_duration_since(now).as_micros().div_ceil(1000);
                    PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            let mut fds = [PollFd::new(self.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll"),
            }
            // SIGCHLD needs nothing here: the command is checked at the top of the loop. The caller
            // ends a still-running command on every early stop.
            if let Some(sig) = self.read_stop() {
                return Ok(Stop::Signal(sig));
            }
        }
    }
}
