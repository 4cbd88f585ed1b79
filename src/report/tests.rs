//! Tests of the report on a recording written by hand, where every count is known: naming (DWARF
//! lines with an inlined function, kernel, JIT, unnamed code), the tables, the collapsed stacks,
//! every filter, and damaged recordings.

use std::path::{Path, PathBuf};

use sampler::recording::{Entry, Line, Meta, ModuleKind, RecordingWriter, Summary, TargetMeta};

use super::folded::{collapse, Weight};
use super::functions::tables;
use super::profile::{Filters, Profile, Side};

const START: u64 = 1_000_000_000;

fn meta() -> Meta {
    let target = |spec: &str, description: &str, cgroup: &str| TargetMeta {
        spec: spec.into(),
        kind: "container".into(),
        description: description.into(),
        cgroup: Some(cgroup.into()),
    };
    Meta {
        cperf_version: "test".into(),
        hostname: "node-3".into(),
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
        targets: vec![
            target("web", "container 'web' (runc, cgroup /web)", "/web"),
            target("db", "container 'db' (runc, cgroup /db)", "/db"),
        ],
        kernel_symbols: "kallsyms".into(),
    }
}

/// A recording with four stacks in two containers:
///
/// - stack 1, pid 10 `server` in web: helper → main, with `inlined_fn` inlined into main — 6 samples
///   (3 of them after 1 s);
/// - stack 2, pid 10 thread 11 `io` in web: the same, then `sys_getppid` in the kernel — 3 samples;
/// - stack 3, pid 10 in web: helper → JIT code named `jitted_fn` by pid 10's perf map — 2 samples;
/// - stack 4, pid 20 `worker` in db: helper → unnamed code of libc — 1 sample.
fn recording(dir: &Path, complete: bool) -> PathBuf {
    let path = dir.join(format!("r-{complete}.cperf"));
    let mut w = RecordingWriter::create(&path, &meta()).unwrap();
    let s = |id: u32, text: &str| Entry::Str { id, text: text.as_bytes().to_vec() };
    let module = |id: u32, kind, path: &str, pid: u32| Entry::Module {
        id,
        kind,
        path: path.as_bytes().to_vec(),
        build_id: vec![0xab, 0xcd],
        pid,
    };
    let line = |function, file, line| Line { function, file, line };
    let mut entries = vec![
        s(1, "main"),
        s(2, "main.c"),
        s(3, "helper"),
        s(4, "inlined_fn"),
        s(5, "sys_getppid"),
        s(6, "no symbol covers it (stripped)"),
        module(1, ModuleKind::Elf, "/app/server", 0),
        module(2, ModuleKind::Kernel, "[kernel.kallsyms]", 0),
        module(3, ModuleKind::Anonymous, "//anon", 10),
        module(4, ModuleKind::Elf, "/lib/libc.so.6", 0),
        Entry::Frame { id: 1, module: 1, offset: 0x100, caller: false },
        Entry::Frame { id: 2, module: 1, offset: 0x200, caller: true },
        Entry::Frame { id: 3, module: 2, offset: 0xffff_ffff_8100_0010, caller: false },
        Entry::Frame { id: 4, module: 3, offset: 0x7f00_0000_1010, caller: false },
        Entry::Frame { id: 5, module: 4, offset: 0x3000, caller: false },
        Entry::Stack { id: 1, kernel: 0, frames: vec![1, 2] },
        Entry::Stack { id: 2, kernel: 1, frames: vec![3, 1, 2] },
        Entry::Stack { id: 3, kernel: 0, frames: vec![4, 2] },
        Entry::Stack { id: 4, kernel: 0, frames: vec![5, 2] },
        Entry::Comm { time: START, pid: 10, tid: 10, exec: true, name: b"server".to_vec() },
        Entry::Comm { time: START, pid: 10, tid: 11, exec: false, name: b"io".to_vec() },
        Entry::Comm { time: START, pid: 20, tid: 20, exec: true, name: b"worker".to_vec() },
        Entry::PerfMap { pid: 10, reset: true, data: b"7f0000001000 40 jitted_fn\n".to_vec() },
    ];
    let sample = |time: u64, pid: u32, tid: u32, target: u32, stack: u32| Entry::Sample {
        time: START + time,
        pid,
        tid,
        cpu: 0,
        target,
        period: 10_000_000,
        stack,
    };
    for i in 0..6 {
        entries.push(sample(i * 300_000_000, 10, 10, 0, 1));
    }
    for i in 0..3 {
        entries.push(sample(i * 100_000_000, 10, 11, 0, 2));
    }
    entries.extend([sample(50, 10, 10, 0, 3), sample(60, 10, 10, 0, 3), sample(70, 20, 20, 1, 4)]);
    // Names come after the samples, as a recorder writes them (within a second).
    entries.extend([
        Entry::Symbols { frame: 1, lines: vec![line(4, 2, 5), line(1, 2, 20)], unknown: 0 },
        Entry::Symbols { frame: 2, lines: vec![line(3, 2, 30)], unknown: 0 },
        Entry::Symbols { frame: 3, lines: vec![line(5, 0, 0)], unknown: 0 },
        Entry::Symbols { frame: 5, lines: Vec::new(), unknown: 6 },
        Entry::Lost { time: START, cpu: 0, count: 2 },
    ]);
    for e in &entries {
        w.push(e).unwrap();
    }
    w.flush().unwrap();
    if complete {
        w.finish(&Summary {
            end_time: START + 2_000_000_000,
            stop: "duration".into(),
            samples: 12,
            ..Summary::default()
        })
        .unwrap();
    }
    path
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cperf-report-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(filters: &Filters) -> Profile {
    let dir = Dir::new("read");
    Profile::read(&recording(&dir.0, true), filters).unwrap()
}

fn folded(p: &Profile, side: Side) -> Vec<String> {
    collapse(p, side, Weight::Samples).into_iter().map(|(stack, n)| format!("{stack} {n}")).collect()
}

#[test]
fn stacks_are_named_from_the_recording_alone() {
    let p = read(&Filters::default());
    assert_eq!((p.samples, p.all_samples, p.lost), (12, 12, 2));
    assert_eq!(p.duration_ns(), 2_000_000_000);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(
        folded(&p, Side::Both),
        [
            "server;helper;jitted_fn_[j] 2",
            "server;helper;main;inlined_fn_[i] 6",
            "server;helper;main;inlined_fn_[i];sys_getppid_[k] 3",
            "worker;helper;[libc.so.6] 1",
        ]
    );
    assert_eq!(
        collapse(&p, Side::Both, Weight::Period).iter().map(|(_, n)| n).sum::<u64>(),
        12 * 10_000_000,
        "periods"
    );
}

#[test]
fn functions_by_self_and_total() {
    let p = read(&Filters::default());
    let t = tables(&p, Side::Both, 20, 10);
    assert_eq!(t.samples, 12);
    let row = |rows: &[super::functions::FunctionRow], name: &str| {
        rows.iter().find(|r| r.function == name).map(|r| (r.self_samples, r.total_samples))
    };
    assert_eq!(row(&t.by_self, "inlined_fn"), Some((6, 9)));
    assert_eq!(row(&t.by_self, "sys_getppid"), Some((3, 3)));
    assert_eq!(row(&t.by_self, "jitted_fn"), Some((2, 2)));
    assert_eq!(row(&t.by_self, "[libc.so.6]"), Some((1, 1)));
    assert_eq!(row(&t.by_self, "main"), None, "no self samples: everything in it is inlined_fn's");
    assert_eq!(row(&t.by_total, "main"), Some((0, 9)));
    assert_eq!(row(&t.by_total, "helper"), Some((0, 12)));
    assert_eq!(t.by_self[0].function, "inlined_fn");
    assert_eq!(
        (t.by_self[0].module.as_str(), t.by_self[0].file.as_deref(), t.by_self[0].line),
        ("server", Some("main.c"), 5)
    );
    assert_eq!(t.by_total[0].function, "helper");
    assert_eq!(t.targets.iter().map(|s| (s.key, s.samples)).collect::<Vec<_>>(), [(0, 11), (1, 1)]);
    assert_eq!(
        t.processes.iter().map(|s| (s.label.as_str(), s.samples)).collect::<Vec<_>>(),
        [("10 server", 11), ("20 worker", 1)]
    );
}

#[test]
fn filters_keep_what_they_name() {
    let with = |f: Filters| read(&f).samples;
    assert_eq!(with(Filters { targets: vec!["db".into()], ..Filters::default() }), 1);
    assert_eq!(with(Filters { targets: vec!["/web".into()], ..Filters::default() }), 11);
    assert_eq!(with(Filters { targets: vec!["web".into(), "db".into()], ..Filters::default() }), 12);
    assert_eq!(with(Filters { pids: vec![20], ..Filters::default() }), 1);
    assert_eq!(with(Filters { tids: vec![11], ..Filters::default() }), 3);
    assert_eq!(with(Filters { comms: vec!["io".into(), "worker".into()], ..Filters::default() }), 4);
    // Stack 1 has samples at 0, 0.3, …, 1.5 s; stack 2 at 0, 0.1, 0.2 s; the others at ~0.
    assert_eq!(with(Filters { window: Some((1.0, None)), ..Filters::default() }), 2);
    assert_eq!(with(Filters { window: Some((0.0, Some(0.25))), ..Filters::default() }), 1 + 3 + 3);
    let dir = Dir::new("unknown-target");
    let e = Profile::read(
        &recording(&dir.0, true),
        &Filters { targets: vec!["nope".into()], ..Filters::default() },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no target 'nope'") && e.contains("'web'") && e.contains("'db'"), "{e}");
}

#[test]
fn kernel_only_and_user_only() {
    let p = read(&Filters { side: Side::KernelOnly, ..Filters::default() });
    assert_eq!(folded(&p, Side::KernelOnly), ["server;sys_getppid_[k] 3"], "the process's name first");
    assert_eq!(tables(&p, Side::KernelOnly, 20, 10).samples, 3);
    let p = read(&Filters { side: Side::UserOnly, ..Filters::default() });
    let user = folded(&p, Side::UserOnly);
    assert!(user.contains(&"server;helper;main;inlined_fn_[i] 9".to_string()), "{user:?}");
    assert!(user.iter().all(|l| !l.contains("_[k]")), "{user:?}");
    let t = tables(&p, Side::UserOnly, 20, 10);
    assert_eq!(t.samples, 12);
    assert_eq!(t.by_self[0].function, "inlined_fn");
    assert_eq!(t.by_self[0].self_samples, 9, "kernel samples count for their user caller");
}

#[test]
fn a_damaged_recording_gives_what_it_has_and_says_so() {
    let dir = Dir::new("damaged");
    // Without a summary: the recorder was killed.
    let p = Profile::read(&recording(&dir.0, false), &Filters::default()).unwrap();
    assert_eq!(p.samples, 12);
    assert!(p.warnings.iter().any(|w| w.contains("no summary")), "{:?}", p.warnings);
    // Cut inside the last chunk.
    let path = recording(&dir.0, true);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let p = Profile::read(&path, &Filters::default()).unwrap();
    assert!(p.warnings.iter().any(|w| w.contains("damaged")), "{:?}", p.warnings);
    // Not a recording at all, and no file.
    std::fs::write(&path, b"#!/bin/sh\necho not a recording\n").unwrap();
    let e = Profile::read(&path, &Filters::default()).unwrap_err().to_string();
    assert!(e.contains("not a cperf recording"), "{e}");
    let e = Profile::read(&dir.0.join("missing"), &Filters::default()).unwrap_err().to_string();
    assert!(e.contains("cannot read"), "{e}");
}

/// Memory grows with distinct stacks, not samples: 200,000 samples of two stacks are two counts.
#[test]
fn samples_are_counted_not_kept() {
    let dir = Dir::new("many");
    let path = dir.0.join("many.cperf");
    let mut w = RecordingWriter::create(&path, &meta()).unwrap();
    w.push(&Entry::Stack { id: 1, kernel: 0, frames: vec![] }).unwrap();
    w.push(&Entry::Stack { id: 2, kernel: 0, frames: vec![] }).unwrap();
    for i in 0..200_000u64 {
        let stack = 1 + (i % 2) as u32;
        w.push(&Entry::Sample { time: START + i, pid: 1, tid: 1, cpu: 0, target: 0, period: 1, stack })
            .unwrap();
        if i % 50_000 == 0 {
            w.flush().unwrap();
        }
    }
    w.finish(&Summary::default()).unwrap();
    let p = Profile::read(&path, &Filters::default()).unwrap();
    assert_eq!((p.samples, p.counts.len()), (200_000, 2));
}

#[test]
fn every_format_writes() {
    use super::{FlameStyle, Format, ReportOptions};
    let dir = Dir::new("formats");
    let input = recording(&dir.0, true);
    for format in [
        Format::Text,
        Format::Json,
        Format::Folded { period: true },
        Format::Flame(FlameStyle { icicle: true, reverse: true }),
        Format::Pprof,
    ] {
        let opts = ReportOptions {
            input: input.clone(),
            output: None,
            format,
            filters: Filters::default(),
            top: 5,
            per_section: 3,
        };
        let (mut out, mut warn) = (Vec::new(), Vec::new());
        assert_eq!(super::run(opts, &mut out, &mut warn).unwrap(), 0);
        assert!(!out.is_empty(), "{format:?}");
        assert!(warn.is_empty(), "{format:?}: {}", String::from_utf8_lossy(&warn));
        match format {
            Format::Text => {
                let text = String::from_utf8(out).unwrap();
                assert!(text.contains("12 samples, 2 lost, over 2.0 s"), "{text}");
                assert!(text.contains("container 'web' (runc, cgroup /web): 11 samples (91.7%)"), "{text}");
                assert!(text.contains("main.c:5"), "{text}");
            }
            Format::Json => {
                let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(doc["samples"], 12);
                assert_eq!(doc["functions_by_self"][0]["function"], "inlined_fn");
                assert_eq!(doc["processes"][0]["name"], "server");
            }
            Format::Flame(_) => {
                let svg = String::from_utf8(out).unwrap();
                assert!(svg.starts_with("<?xml"), "{}", &svg[..100]);
                assert!(
                    svg.contains("container &apos;web&apos; (runc, cgroup /web), container &apos;db&apos;"),
                    "title"
                );
                assert!(svg.contains("cpu-clock, 12 samples, 2.0 s"), "title");
            }
            Format::Pprof => assert_eq!(&out[..2], [0x1f, 0x8b], "gzip"),
            Format::Folded { .. } => {
                let text = String::from_utf8(out).unwrap();
                assert!(text.contains("server;helper;main;inlined_fn_[i] 60000000\n"), "{text}");
            }
        }
    }
}
