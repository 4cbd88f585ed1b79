//! The command line (clap derive). Nothing here runs anything: arguments become the plain option
//! structs of each command before any logic sees them.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::stat::{OutputFormat, StatOptions};

/// See inside containers from the host: per-container event counts, built on perf_event_open.
#[derive(Debug, Parser)]
#[command(name = "cperf", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count events (syscalls, tracepoints, software events) for containers, processes or the host.
    Stat(StatArgs),
    /// List the containers cperf can resolve: id, name, runtime, cgroup, pids.
    Containers(ContainersArgs),
}

/// `cperf stat`: arguments as perf stat users expect.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  cperf stat -G 50993dd8689e -e 'syscalls:*' -- sleep 5     syscalls of one container for 5 s
  cperf stat -G web -G db -e 'syscalls:sys_enter_*' -I 1000  per-second counts for two containers
  cperf stat -a -e cs,cpu-migrations --duration 2            the whole host
  cperf stat -e 'syscalls:*' -- ./my-program                  one command and its children")]
pub struct StatArgs {
    /// Event(s) to count: tracepoints `subsystem:name` with globs (`syscalls:*`), software events
    /// (cpu-clock, task-clock, context-switches, cpu-migrations, page-faults), hardware events where a
    /// PMU exists. Comma lists and repeats are fine.
    #[arg(short = 'e', long = "event", value_name = "EVENTS")]
    pub events: Vec<String>,

    /// Count in this container (repeatable): id or unique id prefix, name, cgroup path, or pid:<N>.
    #[arg(short = 'G', long = "cgroup", visible_alias = "container", value_name = "CONTAINER")]
    pub cgroups: Vec<String>,

    /// System-wide on all CPUs (implied by -G).
    #[arg(short = 'a', long = "all-cpus")]
    pub all_cpus: bool,

    /// Count in these processes (all their threads), comma-separated.
    #[arg(short = 'p', long = "pid", value_name = "PID", value_delimiter = ',')]
    pub pids: Vec<u32>,

    /// Stop after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Print counts every MS milliseconds.
    #[arg(short = 'I', long = "interval-print", value_name = "MS")]
    pub interval: Option<u64>,

    /// CSV-like output with this field separator.
    #[arg(short = 'x', long = "field-separator", value_name = "SEP", conflicts_with = "json")]
    pub separator: Option<String>,

    /// JSON output.
    #[arg(long, short = 'j')]
    pub json: bool,

    /// Also show events that counted zero.
    #[arg(long)]
    pub show_zero: bool,

    /// Do not use the in-kernel BPF aggregation for wide syscall globs; open one perf event per
    /// tracepoint instead (exact as well, but closing them takes about 35 ms per tracepoint).
    #[arg(long)]
    pub no_bpf: bool,

    /// The command to run: counted itself, or with -G/-a/-p just the timer.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `cperf containers`.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// JSON output.
    #[arg(long, short = 'j')]
    pub json: bool,
}

impl StatArgs {
    /// The plain options `stat` runs on; refuses contradictory or meaningless values.
    pub fn into_options(self) -> anyhow::Result<StatOptions> {
        let duration = match self.duration {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                anyhow::bail!("--duration must be a positive number of seconds, not {s}")
            }
            Some(s) => Some(
                Duration::try_from_secs_f64(s)
                    .ok()
                    .filter(|d| d.as_secs() < 100 * 365 * 86400)
                    .ok_or_else(|| anyhow::anyhow!("--duration {s} is too long (at most 100 years)"))?,
            ),
            None => None,
        };
        let interval = match self.interval {
            Some(0) => anyhow::bail!("-I needs a positive number of milliseconds"),
            Some(ms) if ms < 10 => anyhow::bail!("-I {ms}: the smallest interval is 10 ms"),
            other => other.map(Duration::from_millis),
        };
        let format = match (self.json, self.separator) {
            (true, _) => OutputFormat::Json,
            (false, Some(sep)) => OutputFormat::Separated(sep),
            (false, None) => OutputFormat::Human,
        };
        Ok(StatOptions {
            events: self.events,
            containers: self.cgroups,
            system_wide: self.all_cpus,
            pids: self.pids,
            duration,
            interval,
            format,
            show_zero: self.show_zero,
            allow_bpf: !self.no_bpf,
            command: self.command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn perf_style_arguments_parse() {
        let cli = Cli::try_parse_from([
            "cperf",
            "stat",
            "-G",
            "abc",
            "-G",
            "def",
            "-e",
            "syscalls:*",
            "-e",
            "cs",
            "-I",
            "500",
            "-x",
            ",",
            "--",
            "sleep",
            "1",
        ])
        .unwrap();
        let Command::Stat(args) = cli.command else { panic!("not stat") };
        let o = args.into_options().unwrap();
        assert_eq!(o.containers, ["abc", "def"]);
        assert_eq!(o.events, ["syscalls:*", "cs"]);
        assert_eq!(o.interval, Some(Duration::from_millis(500)));
        assert_eq!(o.format, OutputFormat::Separated(",".into()));
        assert_eq!(o.command, ["sleep", "1"]);
    }

    #[test]
    fn bad_values_are_refused() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Stat(a) = cli.command else { panic!() };
            a.into_options()
        };
        assert!(parse(&["cperf", "stat", "--duration", "0", "-a"]).is_err());
        assert!(parse(&["cperf", "stat", "--duration=-1", "-a"]).is_err());
        assert!(parse(&["cperf", "stat", "-I", "0", "-a"]).is_err());
    }
}
