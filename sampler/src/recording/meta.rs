//! The two JSON chunks of a recording: the metadata written first (what was recorded, how, where)
//! and the summary written last by a recorder that ended cleanly.

use serde::{Deserialize, Serialize};

/// What was recorded and how: the first chunk of every recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The cperf version that wrote it.
    pub cperf_version: String,
    /// The recording host's name.
    pub hostname: String,
    /// `uname -r` of the recording host.
    pub kernel: String,
    /// The machine architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// The command line of the recorder.
    pub command_line: Vec<String>,
    /// Wall-clock start, nanoseconds since the Unix epoch.
    pub start_unix_ns: u64,
    /// The start on the clock of every `time` field (CLOCK_MONOTONIC, nanoseconds).
    pub start_time: u64,
    /// The sampling event (`cpu-clock`, `cycles`, …).
    pub event: String,
    /// Why this event and not the one asked for, when they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_note: Option<String>,
    /// Samples per second asked for (`-F`), if sampling by frequency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<u64>,
    /// Events per sample (`-c`), if sampling by period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Whether callchains were recorded (`-g`).
    pub callchain: bool,
    /// How the user part of the callchains was found: `dwarf,BYTES` (unwound by the recorder from
    /// call-frame information and a copy of BYTES of user stack) or `fp` (the kernel's frame-pointer
    /// walk); absent without callchains and in recordings of cperf before 0.1 that walked frame
    /// pointers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_graph: Option<String>,
    /// What was sampled; samples name their target by index.
    pub targets: Vec<TargetMeta>,
    /// How kernel frames are named (`kallsyms`, or why they are not).
    pub kernel_symbols: String,
    /// What the `value` of a SAMPLE is, when samples carry one (`return value`: the return
    /// register of a uretprobe, `--retval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One thing sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetMeta {
    /// What the user typed (`web`, `pid:4242`, `-a`, the command).
    pub spec: String,
    /// `container`, `system`, `process` or `command`.
    pub kind: String,
    /// What it resolved to, for people (`runc container 50993dd8 (pid 4242)`).
    pub description: String,
    /// The cgroup v2 path (relative to the cgroup2 mount), for containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Where the probe was placed for this target, when the event is a uprobe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeMeta>,
}

/// A uprobe as placed in one target's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeMeta {
    /// The file, as the target's processes see it.
    pub path: String,
    /// The function probed, when the probe was given by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The file offset probed.
    pub offset: u64,
    /// The function's return type, when DWARF (in the file or its debug file) describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_type: Option<ValueType>,
}

/// A C type, as far as reading a register as it needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueType {
    /// As written in the source (`int`, `ssize_t`, `char *`).
    pub name: String,
    /// `signed`, `unsigned`, `bool`, `pointer`, `float`, `aggregate` or `void`.
    pub kind: String,
    /// Size in bytes.
    pub bytes: u8,
}

/// Totals written by a recorder that ended cleanly: the last chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The end on the `time` clock.
    pub end_time: u64,
    /// Why recording stopped (`duration`, `command exited`, `SIGINT`, …).
    pub stop: String,
    /// Samples written.
    pub samples: u64,
    /// Samples (and side-band records) the kernel dropped.
    pub lost: u64,
    /// Processes seen.
    pub processes: u64,
    /// Modules (executables, libraries, kernel, JIT regions) seen.
    pub modules: u64,
    /// Things worth knowing about the recording (unreadable binaries, hidden kernel symbols, …).
    #[serde(default)]
    pub notes: Vec<String>,
    /// How complete the user stacks unwound from call-frame information are (with
    /// `call_graph` `dwarf,…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacks: Option<StackSummary>,
}

/// How complete the user stacks of a recording are, and why the others were cut.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackSummary {
    /// `dwarf` (unwound by the recorder) or `fp` (frame pointers, walked by the kernel).
    pub method: String,
    /// Bytes of user stack copied per sample (`dwarf`).
    pub stack_bytes: u32,
    /// Samples with a user stack.
    pub user_stacks: u64,
    /// Of those, the ones that reached the outermost frame (`_start`, a thread's `clone3`).
    pub complete: u64,
    /// User frames of all of them (mean depth: `user_frames / user_stacks`).
    pub user_frames: u64,
    /// Why the others ended early, most samples first.
    #[serde(default)]
    pub cut: Vec<CutCount>,
}

/// Stacks cut short for one reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutCount {
    /// Why (`copy size reached (32768 bytes)`, `no CFI for an address in /usr/lib/…`, …).
    pub reason: String,
    /// How many samples.
    pub samples: u64,
}

/// A small META of a whole-system recording, for the writer's and the reader's unit tests.
#[cfg(test)]
pub(crate) fn test_meta() -> Meta {
    Meta {
        cperf_version: "test".into(),
        hostname: "h".into(),
        kernel: "6.1".into(),
        arch: "x86_64".into(),
        command_line: vec!["cperf".into()],
        start_unix_ns: 1,
        start_time: 2,
        event: "cpu-clock".into(),
        event_note: None,
        frequency: Some(99),
        period: None,
        callchain: true,
        call_graph: None,
        targets: vec![TargetMeta {
            spec: "-a".into(),
            kind: "system".into(),
            description: "all".into(),
            cgroup: None,
            probe: None,
        }],
        kernel_symbols: "kallsyms".into(),
        value: None,
    }
}
