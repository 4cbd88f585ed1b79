//! `cperf runqlat`: how long the tasks of containers wait, runnable, for a CPU — BCC's `runqlat` for
//! containers, with no kernel headers and nothing installed in them. The measurement is a BPF
//! program of the `sampler` crate ([`sampler::runqlat`]); this module resolves the containers, times
//! the intervals, and hands the histograms to [`output`].

mod output;

use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sampler::runqlat::{Per, RunQueueLatency, RunqlatConfig, RunqlatError, Unit};

use crate::signals::Signals;

/// What `cperf runqlat` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct RunqlatOptions {
    /// `-G`, in order; empty: every task of the host.
    pub containers: Vec<String>,
    /// Print (and restart) the histograms every this long; `None`: once, at the end.
    pub interval: Option<Duration>,
    /// How many intervals; `None`: until Ctrl-C or SIGTERM.
    pub count: Option<u64>,
    /// Milliseconds instead of microseconds.
    pub unit: Unit,
    /// One histogram per container, process or thread.
    pub per: Per,
    /// One JSON document per interval.
    pub json: bool,
}

/// One thing measured, for headings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As the user gave it.
    pub spec: String,
    /// `container 'web' (runc, cgroup /web)`, or `all tasks`.
    pub description: String,
}

/// Runs `cperf runqlat`; histograms go to `out`, the "Tracing…" line to `err`.
pub fn run(opts: RunqlatOptions, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let mut signals = Signals::block()?;
    let mut targets = Vec::new();
    let mut dirs = Vec::new();
    if opts.containers.is_empty() {
        targets.push(Target { spec: "-a".into(), description: "all tasks".into() });
    } else {
        let resolver = sampler::container::Resolver::new().context("cannot look up containers")?;
        for given in &opts.containers {
            let resolved = resolver.resolve(given)?;
            targets.push(Target {
                spec: given.clone(),
                description: crate::targets::describe_container(&resolved),
            });
            dirs.push(resolved.dir.clone());
        }
    }
    let cgroups: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    let mut latency =
        RunQueueLatency::load(&RunqlatConfig { cgroups: &cgroups, unit: opts.unit, per: opts.per })
            .map_err(explain)?;
    let what: Vec<&str> = targets.iter().map(|t| t.description.as_str()).collect();
    writeln!(
        err,
        "Tracing run queue latency of {}... Hit Ctrl-C to end.",
        crate::escape::esc(&what.join(", "))
    )?;
    let started = Instant::now();
    let mut printed = 0u64;
    let mut interval_start = Instant::now();
    loop {
        let stop = wait(
            &mut signals,
            opts.interval.map(|i| (interval_start + i).saturating_duration_since(Instant::now())),
        )?;
        let histograms = latency.take().map_err(anyhow::Error::from)?;
        let now = Instant::now();
        let view = output::Interval {
            targets: &targets,
            histograms: &histograms,
            unit: opts.unit,
            per: opts.per,
            elapsed: now.duration_since(interval_start),
            since_start: now.duration_since(started),
        };
        if opts.json {
            output::json(out, &view)?;
        } else {
            output::text(out, &view, printed > 0)?;
        }
        out.flush()?;
        printed += 1;
        interval_start = now;
        if stop || opts.count.is_some_and(|c| printed >= c) || opts.interval.is_none() {
            return Ok(0);
        }
    }
}

/// Waits for `timeout` (forever when `None`); true when SIGINT or SIGTERM came.
fn wait(signals: &mut Signals, timeout: Option<Duration>) -> anyhow::Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Ok(false);
        }
        let ms = left.map_or(PollTimeout::NONE, |l| {
            PollTimeout::try_from(l.as_millis().clamp(1, i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
        });
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("waiting for the interval"),
        }
        if signals.read_stop().is_some() {
            return Ok(true);
        }
    }
}

/// The loading error, with what to do about it.
fn explain(e: RunqlatError) -> anyhow::Error {
    match e {
        RunqlatError::Load(why) if why.contains("Operation not permitted") || why.contains("EPERM") => {
            anyhow::anyhow!(
                "cannot load the BPF program ({why}): run as root, or give cperf CAP_BPF and CAP_PERFMON \
             (in a container: --cap-add BPF --cap-add PERFMON --pid=host)"
            )
        }
        e => e.into(),
    }
}
