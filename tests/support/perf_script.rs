//! `perf record --call-graph dwarf` as the oracle of the unwinding tests: the command line, and
//! `perf script`'s stacks parsed into [`UserStack`]s.

use std::path::Path;
use std::process::Command;

use super::stacks::{StackFrame, UserStack};
use super::{describe, run};

/// The argv of `perf record --call-graph dwarf,<stack_bytes> -F <hz> -p <pid> -o <out> -- sleep <secs>`
/// (perf unwinds with libdw when the recording is read; it reaches the container's files through the
/// process's mount namespace).
pub fn record_argv(pid: u32, stack_bytes: u32, hz: u32, out: &Path, secs: f64) -> Vec<String> {
    [
        "perf",
        "record",
        "-q",
        "--call-graph",
        &format!("dwarf,{stack_bytes}"),
        "-F",
        &hz.to_string(),
        "-p",
        &pid.to_string(),
        "-o",
        &out.display().to_string(),
        "--",
        "sleep",
        &secs.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `perf script` on a recording and parses its stacks; panics unless perf succeeds.
pub fn read(data: &Path) -> Vec<UserStack> {
    let out = run(Command::new("perf")
        .args(["script", "--no-inline", "-F", "comm,tid,ip,sym,dso", "-i"])
        .arg(data));
    assert!(out.status.success(), "perf script -i {} failed: {}", data.display(), describe(&out));
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// Parses `perf script -F comm,tid,ip,sym,dso`: per sample a line `COMM TID`, then one line per frame,
/// leaf first, `ADDRESS SYMBOL (DSO)` (`[unknown]` for either when perf has none), then a blank line.
/// Kernel frames (`[kernel.kallsyms]`, `[bpf_prog]`…) are left out; symbol versions (`@@GLIBC_2.34`) are
/// dropped.
pub fn parse(text: &str) -> Vec<UserStack> {
    let mut stacks = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines().filter(|l| !l.trim().is_empty());
        let Some(header) = lines.next() else { continue };
        let header = header.trim();
        let (comm, tid) = header.rsplit_once(char::is_whitespace).unwrap_or((header, ""));
        let mut frames: Vec<StackFrame> = lines.filter_map(parse_frame).collect();
        frames.reverse();
        stacks.push(UserStack { comm: comm.trim().to_owned(), tid: tid.parse().unwrap_or(0), frames });
    }
    stacks
}

/// One frame line; `None` for a kernel frame or a line that is not a frame.
fn parse_frame(line: &str) -> Option<StackFrame> {
    let line = line.trim();
    let (_address, rest) = line.split_once(char::is_whitespace)?;
    let open = rest.rfind(" (")?;
    let dso = rest[open + 2..].strip_suffix(')')?;
    if dso.starts_with("[kernel") || dso == "[bpf_prog]" || dso.starts_with("[guest.kernel") {
        return None;
    }
    let symbol = rest[..open].trim();
    let module = match dso {
        "[unknown]" | "" => "?".to_owned(),
        d => d.rsplit('/').next().unwrap_or(d).to_owned(),
    };
    // perf appends the symbol version of a dynamic symbol (`__libc_start_main@@GLIBC_2.34`); the
    // function is the same.
    let symbol = symbol.split('@').next().unwrap_or(symbol);
    let function = (symbol != "[unknown]" && !symbol.is_empty()).then(|| symbol.to_owned());
    Some(StackFrame { module, function })
}
