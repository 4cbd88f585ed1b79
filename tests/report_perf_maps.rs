//! `cperf report` on a recording whose JIT perf maps are as large as the recorder lets a process's
//! maps be (32 MiB over all versions) and made of the smallest lines: the report names the sampled
//! JIT code from them without parsing them whole (that took about ten times their size in memory),
//! so its peak RSS stays near the size of the maps themselves.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use sampler::recording::{Entry, Meta, ModuleKind, RecordingWriter, Summary, TargetMeta};

const START: u64 = 1_000_000_000;

/// How much perf-map text the recording holds: the recorder's per-process limit.
const MAP_BYTES: usize = 32 << 20;

/// The most RSS the report may take, in KiB: the maps once, the reader's buffers and the program
/// (about 50 MiB; parsing every version whole took about 400 MiB).
const MAX_RSS_KIB: u64 = 120 << 10;

fn meta() -> Meta {
    Meta {
        cperf_version: "test".into(),
        hostname: "node".into(),
        kernel: "6.1".into(),
        arch: "x86_64".into(),
        command_line: vec!["cperf".into(), "record".into()],
        start_unix_ns: 1_764_633_600_000_000_000,
        start_time: START,
        event: "cpu-clock".into(),
        event_note: None,
        frequency: Some(100),
        period: None,
        callchain: true,
        call_graph: None,
        targets: vec![TargetMeta {
            spec: "jit".into(),
            kind: "container".into(),
            description: "container 'jit' (runc, cgroup /jit)".into(),
            cgroup: Some("/jit".into()),
            probe: None,
        }],
        kernel_symbols: "kallsyms".into(),
        value: None,
    }
}

/// A recording of process 10 running JIT code at 0x7f0000001010 (named `jitted_fn` by the oldest of
/// four perf-map versions) and at 0x7f0000002010 (named by the newest), the versions filled with
/// [`MAP_BYTES`] of one-byte symbols elsewhere, copied in 1 MiB entries as the recorder copies them.
fn recording(path: &Path) {
    let mut w = RecordingWriter::create(path, &meta()).unwrap();
    let filler_line = b"1 1 f\n";
    let piece: Vec<u8> = filler_line.repeat((1 << 20) / filler_line.len());
    let versions = 4;
    for version in 0..versions {
        let mut first = match version {
            0 => b"7f0000001000 40 jitted_fn\n".to_vec(),
            v if v == versions - 1 => b"7f0000002000 40 newest_fn\n".to_vec(),
            _ => Vec::new(),
        };
        first.extend_from_slice(&piece);
        w.push(&Entry::PerfMap { pid: 10, reset: true, data: first }).unwrap();
        for _ in 1..MAP_BYTES / versions / piece.len() {
            w.push(&Entry::PerfMap { pid: 10, reset: false, data: piece.clone() }).unwrap();
        }
    }
    let entries = [
        Entry::Module {
            id: 1,
            kind: ModuleKind::Anonymous,
            path: b"//anon".to_vec(),
            build_id: vec![],
            pid: 10,
        },
        Entry::Frame { id: 1, module: 1, offset: 0x7f00_0000_1010, caller: false },
        Entry::Frame { id: 2, module: 1, offset: 0x7f00_0000_2010, caller: false },
        Entry::Stack { id: 1, kernel: 0, frames: vec![1, 2] },
        Entry::Comm { time: START, pid: 10, tid: 10, exec: true, name: b"node".to_vec() },
        Entry::Sample {
            time: START + 1,
            pid: 10,
            tid: 10,
            cpu: 0,
            target: 0,
            period: 1,
            stack: 1,
            value: None,
        },
    ];
    for e in &entries {
        w.push(e).unwrap();
    }
    w.finish(&Summary { end_time: START + 1_000_000_000, samples: 1, ..Summary::default() }).unwrap();
}

struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn large_perf_maps_are_not_parsed_whole() {
    if !Path::new("/usr/bin/time").exists() {
        assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "/usr/bin/time is needed");
        eprintln!("skipped: /usr/bin/time (GNU time) measures the peak RSS");
        return;
    }
    let dir = Scratch(std::env::temp_dir().join(support::unique_id("report-perf-maps")));
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("jit.cperf");
    recording(&path);
    let rss = dir.0.join("rss");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(support::cperf_path())
        .args(["report", "--folded", "-i"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::describe(&out));
    let folded = String::from_utf8_lossy(&out.stdout);
    assert_eq!(folded.trim_end(), "node;newest_fn_[j];jitted_fn_[j] 1", "{}", support::describe(&out));
    let kib = std::fs::read_to_string(&rss).unwrap();
    let kib: u64 = kib.lines().last().and_then(|l| l.trim().parse().ok()).expect("an RSS from GNU time");
    eprintln!("cperf report: peak RSS {} MiB for {} MiB of perf maps", kib >> 10, MAP_BYTES >> 20);
    assert!(kib < MAX_RSS_KIB, "peak RSS {kib} KiB for {} MiB of perf maps", MAP_BYTES >> 20);
}
