//! The command line (clap derive). Nothing here runs anything: arguments become the plain option
//! structs of each command before any logic sees them.
//!
//! Doc comments on the option structs are clap's help text, printed as written: `[time,]` and
//! `pid:<N>` there are help syntax, not rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use sampler::sampling::Rate;

use crate::record::{CallGraph, RecordOptions};
use crate::report::{Filters, FlameStyle, Format as ReportFormat, ReportOptions, Side};
use crate::runqlat::RunqlatOptions;
use crate::stat::{OutputFormat, StatOptions};
use crate::symbolize::{Format as SymbolizeFormat, SymbolizeOptions, TextStyle};

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
    /// Count events (syscalls, tracepoints, software events, uprobes) for containers, processes or the host.
    Stat(StatArgs),
    /// Sample call stacks of containers, processes or the host into a self-contained recording.
    Record(RecordArgs),
    /// Turn addresses of a binary (or of a running process) into functions and source lines, as
    /// `addr2line -f -i -C` prints them.
    Symbolize(SymbolizeArgs),
    /// Analyse a recording: top functions, per container and process; folded stacks, flame graph,
    /// pprof.
    Report(ReportArgs),
    /// How long tasks of containers wait for a CPU: run-queue latency histograms (BPF).
    Runqlat(RunqlatArgs),
    /// List the containers cperf can resolve: id, name, runtime, cgroup, pids.
    Containers(ContainersArgs),
}

/// `cperf symbolize`: arguments as addr2line users expect.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  cperf symbolize -e ./server 0x4011a6 0x401c20      link-time addresses of a binary
  nm ./server | awk '{print $1}' | cperf symbolize -e ./server
  cperf symbolize --pid 4242 0x55d1c0a011a6          runtime addresses of a process, in its container
  cperf symbolize -a -p -e ./server < addrs          addr2line -a -p style: one line per frame

Prints what `addr2line -f -i -C` prints; -f, -i and -C are accepted and always on.")]
pub struct SymbolizeArgs {
    /// The ELF file (with --pid: its path as the process sees it, to restrict the lookup to it).
    #[arg(short = 'e', long = "exe", value_name = "FILE")]
    pub exe: Option<std::path::PathBuf>,

    /// Addresses are runtime addresses of this process; files are read inside its root.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,

    /// One JSON object per address (frames with function, file, line, inlined).
    #[arg(long, short = 'j', conflicts_with_all = ["show_addresses", "pretty_print", "basenames"])]
    pub json: bool,

    /// Print each address before its frames, as addr2line -a.
    #[arg(short = 'a', long = "addresses")]
    pub show_addresses: bool,

    /// One line per frame, "function at file:line", callers after " (inlined by) ", as addr2line -p.
    #[arg(short = 'p', long)]
    pub pretty_print: bool,

    /// File names without their directories, as addr2line -s.
    #[arg(short = 's', long)]
    pub basenames: bool,

    /// addr2line's -f (functions are always printed).
    #[arg(short = 'f', long = "functions", hide = true)]
    pub functions: bool,

    /// addr2line's -i (inlined frames are always printed).
    #[arg(short = 'i', long = "inlines", hide = true)]
    pub inlines: bool,

    /// addr2line's -C (names are always demangled).
    #[arg(short = 'C', long = "demangle", hide = true)]
    pub demangle: bool,

    /// Hex addresses (0x optional); read from stdin when none are given.
    #[arg(value_name = "ADDR")]
    pub addresses: Vec<String>,
}

impl SymbolizeArgs {
    /// The plain options `symbolize` runs on.
    pub fn into_options(self) -> anyhow::Result<SymbolizeOptions> {
        if self.exe.is_none() && self.pid.is_none() {
            anyhow::bail!("name the file with -e FILE (or a process with --pid PID)");
        }
        Ok(SymbolizeOptions {
            file: self.exe,
            pid: self.pid,
            addresses: self.addresses,
            format: if self.json {
                SymbolizeFormat::Json
            } else {
                SymbolizeFormat::Addr2line(TextStyle::new(
                    self.show_addresses,
                    self.pretty_print,
                    self.basenames,
                ))
            },
        })
    }
}

/// `cperf runqlat`: arguments as runqlat users expect.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  cperf runqlat -G web                 one histogram for container web, until Ctrl-C
  cperf runqlat -G web -G db 1 10      every second, 10 times, one histogram per container
  cperf runqlat -G web -m --per-pid 5  milliseconds, one histogram per process, every 5 s
  cperf runqlat                        every task of the host")]
pub struct RunqlatArgs {
    /// Measure this container (repeatable; one histogram each): id or unique id prefix, name,
    /// cgroup path, or pid:<N>. Without -G: every task of the host.
    #[arg(short = 'G', long = "cgroup", visible_alias = "container", value_name = "CONTAINER")]
    pub cgroups: Vec<String>,

    /// Histograms of milliseconds (default: microseconds).
    #[arg(short = 'm', long)]
    pub milliseconds: bool,

    /// One histogram per process.
    #[arg(short = 'P', long, conflicts_with = "per_thread")]
    pub per_pid: bool,

    /// One histogram per thread.
    #[arg(short = 'L', long)]
    pub per_thread: bool,

    /// One JSON document per interval.
    #[arg(long, short = 'j')]
    pub json: bool,

    /// Print the histograms every INTERVAL seconds (and start them afresh); without it, once at Ctrl-C.
    #[arg(value_name = "INTERVAL")]
    pub interval: Option<f64>,

    /// Stop after COUNT intervals.
    #[arg(value_name = "COUNT")]
    pub count: Option<u64>,
}

impl RunqlatArgs {
    /// The plain options `runqlat` runs on.
    pub fn into_options(self) -> anyhow::Result<RunqlatOptions> {
        let interval = match self.interval {
            Some(s) if !(s > 0.0 && s.is_finite() && s < 1e9) => {
                anyhow::bail!("interval {s}: give a positive number of seconds, as runqlat 1 10 does")
            }
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => None,
        };
        if self.count == Some(0) {
            anyhow::bail!("count 0: give a positive number of intervals");
        }
        Ok(RunqlatOptions {
            containers: self.cgroups,
            interval,
            count: self.count,
            unit: if self.milliseconds {
                sampler::runqlat::Unit::Millis
            } else {
                sampler::runqlat::Unit::Micros
            },
            per: if self.per_pid {
                sampler::runqlat::Per::Process
            } else if self.per_thread {
                sampler::runqlat::Per::Thread
            } else {
                sampler::runqlat::Per::Target
            },
            json: self.json,
        })
    }
}

/// `cperf report`: arguments as perf report users expect.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  cperf report -i web.cperf                        top functions, per container and process
  cperf report -i web.cperf --flame -o web.svg     flame graph (--icicle, --reverse)
  cperf report -i web.cperf --folded | flamegraph.pl > web.svg
  cperf report -i web.cperf --pprof web.pb.gz      for go tool pprof, Pyroscope, Parca
  cperf report -i web.cperf --pid 4242 --time 10,20 --user-only")]
pub struct ReportArgs {
    /// The recording (from cperf record -o); - reads it from standard input (a pipe works).
    #[arg(short = 'i', long = "input", value_name = "FILE", default_value = "cperf.data")]
    pub input: std::path::PathBuf,

    /// Write here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// The text report's tables as one JSON document.
    #[arg(long, group = "format")]
    pub json: bool,

    /// Collapsed stacks, one per line: process;root;...;leaf count.
    #[arg(long, group = "format")]
    pub folded: bool,

    /// With --folded: count the events the samples stand for (nanoseconds of CPU for cpu-clock)
    /// instead of samples.
    #[arg(long, requires = "folded")]
    pub period: bool,

    /// An interactive SVG flame graph.
    #[arg(long, group = "format")]
    pub flame: bool,

    /// With --flame: an icicle graph (callers at the top).
    #[arg(long, requires = "flame")]
    pub icicle: bool,

    /// With --flame: stacks merged from their leaves (who calls the hottest functions).
    #[arg(long, requires = "flame")]
    pub reverse: bool,

    /// Write a gzipped pprof profile (profile.proto) to FILE ("-": stdout).
    #[arg(long, value_name = "FILE", group = "format")]
    pub pprof: Option<std::path::PathBuf>,

    /// Only this target (repeatable): as given to record, its name, cgroup, container id or id
    /// prefix (4+ hex digits), or a word of its description (docker, runc).
    #[arg(long = "container", visible_alias = "target", value_name = "CONTAINER")]
    pub containers: Vec<String>,

    /// Only these processes (comma-separated or repeated).
    #[arg(long = "pid", value_delimiter = ',', value_name = "PID")]
    pub pids: Vec<u32>,

    /// Only these threads (comma-separated or repeated).
    #[arg(long = "tid", value_delimiter = ',', value_name = "TID")]
    pub tids: Vec<u32>,

    /// Only threads of this name (comma-separated or repeated).
    #[arg(long = "comm", value_delimiter = ',', value_name = "NAME")]
    pub comms: Vec<String>,

    /// Only samples in this window, seconds from the start of the recording: START,END, START, or
    /// ,END (as in --time 10,20).
    #[arg(long = "time", value_name = "START,END")]
    pub time: Option<String>,

    /// Only samples taken in the kernel, and only their kernel frames.
    #[arg(long, conflicts_with = "user_only")]
    pub kernel_only: bool,

    /// Only user frames (a sample taken in the kernel counts for the user code that entered it).
    #[arg(long)]
    pub user_only: bool,

    /// Rows of the top-functions tables.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,

    /// The distribution of return values (of a recording made with -e uretprobe:… --retval), per
    /// process; TYPE reads the return register as i8…i64, u8…u64 or hex instead of the function's
    /// DWARF type (or, without one, a guess from the values).
    #[arg(long, value_name = "TYPE", num_args = 0..=1, require_equals = true, default_missing_value = "auto",
          conflicts_with_all = ["folded", "flame", "pprof"])]
    pub retval: Option<String>,
}

impl ReportArgs {
    /// The plain options `report` runs on.
    pub fn into_options(self) -> anyhow::Result<ReportOptions> {
        let format = if let Some(reading) = &self.retval {
            let reading = reading.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            ReportFormat::Retval { reading, json: self.json }
        } else if self.json {
            ReportFormat::Json
        } else if self.folded {
            ReportFormat::Folded { period: self.period }
        } else if self.flame {
            ReportFormat::Flame(FlameStyle { icicle: self.icicle, reverse: self.reverse })
        } else if self.pprof.is_some() {
            ReportFormat::Pprof
        } else {
            ReportFormat::Text
        };
        if self.output.is_some() && self.pprof.is_some() {
            anyhow::bail!("--pprof names its own file; leave out -o");
        }
        let side = match (self.kernel_only, self.user_only) {
            (true, _) => Side::KernelOnly,
            (_, true) => Side::UserOnly,
            _ => Side::Both,
        };
        Ok(ReportOptions {
            input: self.input,
            output: self.pprof.or(self.output),
            format,
            filters: Filters {
                targets: self.containers,
                pids: self.pids,
                tids: self.tids,
                comms: self.comms,
                window: self.time.as_deref().map(time_window).transpose()?,
                side,
            },
            top: self.top.max(1),
            per_section: self.top.clamp(1, 10),
        })
    }
}

/// `--time START,END` in seconds from the start of the recording.
fn time_window(text: &str) -> anyhow::Result<(f64, Option<f64>)> {
    let bad = || {
        anyhow::anyhow!("--time {text}: give seconds from the start of the recording, as START,END (10,20), START (10) or ,END (,20)")
    };
    let (start, end) = text.split_once(',').unwrap_or((text, ""));
    let number = |s: &str| -> anyhow::Result<Option<f64>> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let v: f64 = s.parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(bad());
        }
        Ok(Some(v))
    };
    let (start, end) = (number(start)?.unwrap_or(0.0), number(end)?);
    if end.is_some_and(|e| e <= start) {
        return Err(bad());
    }
    Ok((start, end))
}

/// `cperf record`: arguments as perf record users expect.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  cperf record -G web -F 99 -g -o /out/web.cperf -- sleep 30   one container for 30 s
  cperf record -G web -G db -g --duration 10                    two containers, into ./cperf.data
  cperf record -a -g -F 999 -- sleep 5                          the whole host
  cperf record -g -- ./my-program                               one command and its children
  cperf record -G zk -e 'uretprobe:/usr/lib/libzk.so.2:zoo_set2' --retval -g
                                                                each call of a library function in a
                                                                container: its callers and return value

The recording holds everything needed to name its frames (symbols and source lines of the sampled
binaries, read through each container's root; JIT perf maps; kernel symbols): analyse it later,
elsewhere, after the container is gone. Its format: docs/recording-format.md.")]
pub struct RecordArgs {
    /// Sample in this container (repeatable): id or unique id prefix, name, cgroup path, or pid:<N>.
    #[arg(short = 'G', long = "cgroup", visible_alias = "container", value_name = "CONTAINER")]
    pub cgroups: Vec<String>,

    /// System-wide on all CPUs (implied by -G).
    #[arg(short = 'a', long = "all-cpus")]
    pub all_cpus: bool,

    /// Sample these processes (all their threads and children), comma-separated.
    #[arg(short = 'p', long = "pid", value_name = "PID", value_delimiter = ',')]
    pub pids: Vec<u32>,

    /// The event that triggers samples: cycles where a hardware PMU exists (the default there),
    /// cpu-clock (the default elsewhere), task-clock, page-faults, a tracepoint, a uprobe or
    /// uretprobe (`uretprobe:/path/in/container:func`, every call unless -F/-c say otherwise), …
    #[arg(short = 'e', long = "event", value_name = "EVENT")]
    pub event: Option<String>,

    /// Samples per second per CPU (default 99).
    #[arg(short = 'F', long = "freq", value_name = "HZ", conflicts_with = "count")]
    pub freq: Option<u64>,

    /// One sample every N events (nanoseconds for cpu-clock/task-clock).
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub count: Option<u64>,

    /// Record call stacks: the kernel's, and user stacks unwound from call-frame information
    /// (`--call-graph dwarf`), complete also for code built without frame pointers; for an event
    /// recorded at every hit (a tracepoint or probe without -F/-c), frame pointers (`fp`).
    #[arg(short = 'g')]
    pub callchain: bool,

    /// How user stacks are found (implies -g): `dwarf[,BYTES]` unwinds each sample's copy of BYTES
    /// of user stack (default 32768, at most 65528) with the call-frame information of the mapped
    /// files, in the recorder (the copy is never written); `fp` walks frame pointers in the kernel
    /// (cheaper; one or two frames deep in code built without them).
    #[arg(long = "call-graph", value_name = "fp|dwarf[,BYTES]")]
    pub call_graph: Option<String>,

    /// The recording to write (mode 0600; replaced if it exists).
    #[arg(short = 'o', long = "output", value_name = "FILE", default_value = "cperf.data")]
    pub output: std::path::PathBuf,

    /// Stop after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Ring-buffer size per CPU in pages, a power of two (default 256; with dwarf call stacks,
    /// whose samples carry a stack copy, 2048 — 8 MiB — on up to 8 CPUs, then less so that all
    /// rings stay near 64 MiB).
    #[arg(short = 'm', long = "mmap-pages", value_name = "PAGES")]
    pub mmap_pages: Option<usize>,

    /// With -e uretprobe:…: record each call's return value (the return register), for
    /// `cperf report --retval`.
    #[arg(long)]
    pub retval: bool,

    /// The command to run: profiled itself (with its children), or with -G/-a/-p just the timer.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl RecordArgs {
    /// The plain options `record` runs on; refuses meaningless values.
    pub fn into_options(self) -> anyhow::Result<RecordOptions> {
        let rate = match (self.freq, self.count) {
            (Some(0), _) => anyhow::bail!("-F needs a positive number of samples per second"),
            (_, Some(0)) => anyhow::bail!("-c needs a positive number of events"),
            (Some(hz), _) => Some(Rate::Frequency(hz)),
            (None, Some(n)) => Some(Rate::Period(n)),
            (None, None) => None,
        };
        if let Some(pages) = self.mmap_pages.filter(|p| !p.is_power_of_two()) {
            anyhow::bail!("-m {pages}: the ring size must be a power of two number of pages");
        }
        let call_graph = self.call_graph.as_deref().map(CallGraph::parse).transpose()?;
        Ok(RecordOptions {
            containers: self.cgroups,
            pids: self.pids,
            system_wide: self.all_cpus,
            command: self.command,
            event: self.event,
            rate,
            callchain: self.callchain || call_graph.is_some(),
            call_graph,
            output: self.output,
            duration: duration_arg(self.duration)?,
            ring_pages: self.mmap_pages,
            retval: self.retval,
        })
    }
}

/// `--duration` in seconds, checked.
fn duration_arg(secs: Option<f64>) -> anyhow::Result<Option<Duration>> {
    match secs {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            anyhow::bail!("--duration must be a positive number of seconds, not {s}")
        }
        Some(s) => Ok(Some(
            Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| d.as_secs() < 100 * 365 * 86400)
                .ok_or_else(|| anyhow::anyhow!("--duration {s} is too long (at most 100 years)"))?,
        )),
        None => Ok(None),
    }
}

/// `cperf stat`: arguments as perf stat users expect.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  cperf stat -G 50993dd8689e -e 'syscalls:*' -- sleep 5     syscalls of one container for 5 s
  cperf stat -G web -G db -e 'syscalls:sys_enter_*' -I 1000  per-second counts for two containers
  cperf stat -a -e cs,cpu-migrations --duration 2            the whole host
  cperf stat -e 'syscalls:*' -- ./my-program                  one command and its children
  cperf stat -G zk -e 'uprobe:/usr/lib/libzk.so.2:zoo_set2'   calls of a function in the container's file
  cperf stat -G web -e uprobe:libc:malloc                     a library by name (as the container maps it)")]
pub struct StatArgs {
    /// Event(s) to count: tracepoints `subsystem:name` with globs (`syscalls:*`), software events
    /// (cpu-clock, task-clock, context-switches, cpu-migrations, page-faults), hardware events where a
    /// PMU exists, user-space probes `uprobe:/path/in/container:func` (or `uprobe:libname:func`,
    /// `func+0x10`, a file offset `0x…`) and `uretprobe:…`. Comma lists and repeats are fine.
    #[arg(short = 'e', long = "event", value_name = "EVENTS")]
    pub events: Vec<String>,

    /// Count in this container (repeatable): id or unique id prefix, name, cgroup path, or pid:<N>.
    #[arg(short = 'G', long = "cgroup", visible_alias = "container", value_name = "CONTAINER")]
    pub cgroups: Vec<String>,

    /// System-wide on all CPUs (implied by -G).
    #[arg(short = 'a', long = "all-cpus")]
    pub all_cpus: bool,

    /// Count in these processes (all their threads, and the tasks they create), comma-separated.
    /// Alone (without -G, -a or a command), counting ends when they have all exited.
    #[arg(short = 'p', long = "pid", value_name = "PID", value_delimiter = ',')]
    pub pids: Vec<u32>,

    /// Stop after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Print counts every MS milliseconds.
    #[arg(short = 'I', long = "interval-print", value_name = "MS")]
    pub interval: Option<u64>,

    /// perf stat -x output with this field separator, one line per event:
    /// [time,]count,unit,event,[cgroup,]running_ns,percent-running,metric-value,metric-unit (time with
    /// -I; cgroup with -G or several targets).
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
        let duration = duration_arg(self.duration)?;
        let interval = match self.interval {
            Some(0) => anyhow::bail!("-I needs a positive number of milliseconds"),
            Some(ms) if ms < 10 => anyhow::bail!("-I {ms}: the smallest interval is 10 ms"),
            other => other.map(Duration::from_millis),
        };
        let format = match (self.json, self.separator) {
            (true, _) => OutputFormat::Json,
            (false, Some(sep)) if sep.is_empty() => {
                anyhow::bail!("-x needs a field separator, for example: -x ,")
            }
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
        assert!(parse(&["cperf", "stat", "-x", "", "-a"]).is_err());
    }

    fn report(args: &[&str]) -> anyhow::Result<ReportOptions> {
        let mut all = vec!["cperf", "report"];
        all.extend_from_slice(args);
        let Command::Report(args) = Cli::try_parse_from(all)?.command else { panic!("not report") };
        args.into_options()
    }

    #[test]
    fn report_arguments_parse() {
        let o = report(&[
            "-i",
            "web.cperf",
            "--flame",
            "--icicle",
            "-o",
            "w.svg",
            "--container",
            "web",
            "--pid",
            "1,2",
            "--pid",
            "3",
            "--comm",
            "nginx",
            "--time",
            "10,20",
            "--user-only",
            "--top",
            "5",
        ])
        .unwrap();
        assert_eq!(o.input, std::path::PathBuf::from("web.cperf"));
        assert_eq!(o.output, Some("w.svg".into()));
        assert_eq!(o.format, ReportFormat::Flame(FlameStyle { icicle: true, reverse: false }));
        assert_eq!(o.filters.targets, ["web"]);
        assert_eq!(o.filters.pids, [1, 2, 3]);
        assert_eq!(o.filters.comms, ["nginx"]);
        assert_eq!(o.filters.window, Some((10.0, Some(20.0))));
        assert_eq!(o.filters.side, Side::UserOnly);
        assert_eq!((o.top, o.per_section), (5, 5));
        let o = report(&["--pprof", "x.pb.gz", "--kernel-only"]).unwrap();
        assert_eq!(
            (o.format, o.output, o.filters.side),
            (ReportFormat::Pprof, Some("x.pb.gz".into()), Side::KernelOnly)
        );
        assert_eq!(o.input, std::path::PathBuf::from("cperf.data"), "perf's default name");
        assert_eq!(report(&["--folded", "--period"]).unwrap().format, ReportFormat::Folded { period: true });
        assert_eq!(report(&[]).unwrap().format, ReportFormat::Text);
    }

    #[test]
    fn bad_report_arguments_are_refused() {
        assert!(report(&["--json", "--folded"]).is_err(), "one format");
        assert!(report(&["--icicle"]).is_err(), "--icicle needs --flame");
        assert!(report(&["--kernel-only", "--user-only"]).is_err());
        assert!(report(&["--pprof", "x", "-o", "y"]).is_err());
        for window in ["5,1", "x", "-1,", "1,1", "nan"] {
            let e = report(&[&format!("--time={window}")]).unwrap_err().to_string();
            assert!(e.contains(&format!("--time {window}")), "{window}: {e}");
        }
        assert_eq!(time_window(",5").unwrap(), (0.0, Some(5.0)));
        assert_eq!(time_window("2.5").unwrap(), (2.5, None));
        assert_eq!(time_window("1,").unwrap(), (1.0, None));
    }

    #[test]
    fn record_arguments_parse() {
        let cli = Cli::try_parse_from([
            "cperf", "record", "-G", "web", "-F", "999", "-g", "-o", "/out/x", "--", "sleep", "3",
        ])
        .unwrap();
        let Command::Record(args) = cli.command else { panic!("not record") };
        let o = args.into_options().unwrap();
        assert_eq!(o.containers, ["web"]);
        assert_eq!(o.rate, Some(Rate::Frequency(999)));
        assert!(o.callchain);
        assert_eq!(o.call_graph, None, "-g alone: the default for the event");
        assert_eq!(o.output, std::path::PathBuf::from("/out/x"));
        assert_eq!(o.command, ["sleep", "3"]);
        let record = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Record(a) = cli.command else { panic!() };
            a.into_options()
        };
        assert!(record(&["cperf", "record", "-F", "0", "-a"]).is_err());
        assert!(record(&["cperf", "record", "-m", "100", "-a"]).is_err());
        assert_eq!(
            record(&["cperf", "record", "-a"]).unwrap().output,
            std::path::PathBuf::from("cperf.data")
        );
        assert!(Cli::try_parse_from(["cperf", "record", "-F", "99", "-c", "1000", "-a"]).is_err());
        let graph =
            |spec: &str| record(&["cperf", "record", "-a", "--call-graph", spec]).map(|o| o.call_graph);
        assert_eq!(graph("fp").unwrap(), Some(CallGraph::FramePointers));
        if cfg!(target_arch = "x86_64") {
            assert_eq!(graph("dwarf").unwrap(), Some(CallGraph::Dwarf { stack_bytes: 32768 }));
            assert_eq!(graph("dwarf,8192").unwrap(), Some(CallGraph::Dwarf { stack_bytes: 8192 }));
            assert_eq!(graph("dwarf,65528").unwrap(), Some(CallGraph::Dwarf { stack_bytes: 65528 }));
        }
        for bad in ["dwarf,0", "dwarf,100", "dwarf,65536", "dwarf,x", "lbr", "fp,8"] {
            let e = graph(bad).unwrap_err().to_string();
            assert!(e.contains("--call-graph"), "{bad}: {e}");
        }
        assert!(!record(&["cperf", "record", "-a"]).unwrap().callchain);
        assert!(
            record(&["cperf", "record", "-a", "--call-graph", "fp"]).unwrap().callchain,
            "--call-graph implies -g"
        );
        assert_eq!(record(&["cperf", "record", "-a", "-m", "64", "-g"]).unwrap().ring_pages, Some(64));
        assert_eq!(record(&["cperf", "record", "-a", "-g"]).unwrap().ring_pages, None);
    }
}
