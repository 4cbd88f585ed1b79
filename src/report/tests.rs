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
        probe: None,
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
        call_graph: None,
        targets: vec![
            target("web", "container 'web' (runc, cgroup /web)", "/web"),
            target("db", "container 'db' (runc, cgroup /db)", "/db"),
        ],
        kernel_symbols: "kallsyms".into(),
        value: None,
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
        value: None,
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
            "worker;helper;[libc.so.6+0x3000] 1",
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
    assert_eq!(row(&t.by_self, "[libc.so.6+0x3000]"), Some((1, 1)));
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
        w.push(&Entry::Sample {
            time: START + i,
            pid: 1,
            tid: 1,
            cpu: 0,
            target: 0,
            period: 1,
            stack,
            value: None,
        })
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
            Format::Retval { .. } => unreachable!("a recording with return values is tested below"),
            Format::Folded { .. } => {
                let text = String::from_utf8(out).unwrap();
                assert!(text.contains("server;helper;main;inlined_fn_[i] 60000000\n"), "{text}");
            }
        }
    }
}

/// A recording of `entries` (base strings, modules and frames of [`recording`] first), complete.
fn recording_of(dir: &Path, name: &str, entries: &[Entry]) -> PathBuf {
    let base = recording(dir, false);
    let path = dir.join(name);
    // The base recording's definitions, without its samples, then the entries.
    let mut definitions = Vec::new();
    let mut r = sampler::recording::RecordingReader::open(&base).unwrap();
    while let Some(e) = r.next_entry().unwrap() {
        if !matches!(e, Entry::Sample { .. }) {
            definitions.push(e);
        }
    }
    let mut w = RecordingWriter::create(&path, &meta()).unwrap();
    for e in definitions.iter().chain(entries) {
        w.push(e).unwrap();
    }
    w.finish(&Summary { end_time: START + 1_000_000_000, ..Summary::default() }).unwrap();
    path
}

fn sample_of(pid: u32, tid: u32, stack: u32) -> Entry {
    Entry::Sample { time: START + 1, pid, tid, cpu: 0, target: 0, period: 1, stack, value: None }
}

/// A function on the stack twice (recursion) counts once in its total.
#[test]
fn recursion_counts_once() {
    let dir = Dir::new("recursion");
    let path = recording_of(
        &dir.0,
        "rec.cperf",
        &[
            Entry::Stack { id: 9, kernel: 0, frames: vec![2, 2, 2, 1, 2] },
            sample_of(10, 10, 9),
            sample_of(10, 10, 9),
        ],
    );
    let p = Profile::read(&path, &Filters::default()).unwrap();
    let t = tables(&p, Side::Both, 20, 10);
    let helper = t.by_total.iter().find(|r| r.function == "helper").unwrap();
    assert_eq!((helper.self_samples, helper.total_samples), (2, 2));
    assert_eq!(t.samples, 2);
}

/// A thread or process created during the recording (a FORK, no COMM) has its parent's name.
#[test]
fn forked_threads_and_processes_have_their_parents_name() {
    let dir = Dir::new("fork");
    let path = recording_of(
        &dir.0,
        "fork.cperf",
        &[
            Entry::Fork { time: START, pid: 10, ppid: 10, tid: 12, ptid: 10 },
            Entry::Fork { time: START, pid: 30, ppid: 20, tid: 30, ptid: 20 },
            sample_of(10, 12, 1),
            sample_of(30, 30, 1),
        ],
    );
    let p = Profile::read(&path, &Filters { comms: vec!["server".into()], ..Filters::default() }).unwrap();
    assert_eq!(p.samples, 1, "the new thread of server is named server");
    let p = Profile::read(&path, &Filters::default()).unwrap();
    assert_eq!(
        folded(&p, Side::Both),
        ["server;helper;main;inlined_fn_[i] 1", "worker;helper;main;inlined_fn_[i] 1"]
    );
}

/// A JIT return address is named by the code before it: a call may be its function's last
/// instruction, and the address after it another function's first.
#[test]
fn jit_return_addresses_are_named_by_the_call() {
    let dir = Dir::new("jit-caller");
    let path = recording_of(
        &dir.0,
        "jit.cperf",
        &[
            // jitted_fn covers [0x7f0000001000, 0x7f0000001040).
            Entry::Frame { id: 20, module: 3, offset: 0x7f00_0000_1040, caller: true },
            Entry::Frame { id: 21, module: 3, offset: 0x7f00_0000_1040, caller: false },
            Entry::Stack { id: 20, kernel: 0, frames: vec![21, 20] },
            sample_of(10, 10, 20),
        ],
    );
    let p = Profile::read(&path, &Filters::default()).unwrap();
    assert_eq!(p.frame(20).unwrap().lines[0].function, "jitted_fn");
    assert!(p.frame(21).unwrap().lines.is_empty(), "the leaf at 0x…1040 is past jitted_fn");
    assert_eq!(p.frame(21).unwrap().unknown.as_deref(), Some("not in the JIT's perf map"));
}

/// Samples naming stacks or frames the recording never defined are counted, without names or
/// panics.
#[test]
fn undefined_ids_are_harmless() {
    let dir = Dir::new("undefined");
    let path = recording_of(
        &dir.0,
        "undefined.cperf",
        &[
            Entry::Stack { id: 30, kernel: 1, frames: vec![999, 1] },
            sample_of(10, 10, 30),
            sample_of(10, 10, 31),
        ],
    );
    let p = Profile::read(&path, &Filters::default()).unwrap();
    assert_eq!(p.samples, 2);
    assert_eq!(tables(&p, Side::Both, 20, 10).samples, 2);
    let lines = folded(&p, Side::Both);
    assert!(lines.contains(&"server;main;inlined_fn_[i] 1".to_string()), "{lines:?}");
    assert!(lines.contains(&"server 1".to_string()), "an undefined stack: {lines:?}");
    for format in [super::Format::Pprof, super::Format::Flame(super::FlameStyle::default())] {
        let opts = super::ReportOptions {
            input: path.clone(),
            output: None,
            format,
            filters: Filters::default(),
            top: 5,
            per_section: 3,
        };
        super::run(opts, &mut Vec::new(), &mut Vec::new()).unwrap();
    }
}

/// The pprof profile, decoded: the string table, samples with their two values, locations with
/// inlined functions innermost first, mappings with build-ids and file offsets.
#[test]
fn pprof_profile_decodes() {
    use std::io::Read;
    let dir = Dir::new("pprof");
    let input = recording(&dir.0, true);
    let opts = super::ReportOptions {
        input,
        output: None,
        format: super::Format::Pprof,
        filters: Filters::default(),
        top: 5,
        per_section: 3,
    };
    let mut gz = Vec::new();
    super::run(opts, &mut gz, &mut Vec::new()).unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut bytes).unwrap();
    let profile = decode(&bytes);
    let strings: Vec<String> = profile
        .iter()
        .filter(|(f, _)| *f == 6)
        .map(|(_, v)| String::from_utf8(v.bytes().to_vec()).unwrap())
        .collect();
    assert_eq!(strings[0], "");
    let string = |v: &Value| strings[v.num() as usize].clone();
    let fields = |m: &[u8], field: u64| -> Vec<Value> {
        decode(m).into_iter().filter(|(f, _)| *f == field).map(|(_, v)| v).collect()
    };
    // sample_type: samples/count, cpu/nanoseconds.
    let types: Vec<(String, String)> = profile
        .iter()
        .filter(|(f, _)| *f == 1)
        .map(|(_, v)| (string(&fields(v.bytes(), 1)[0]), string(&fields(v.bytes(), 2)[0])))
        .collect();
    assert_eq!(types, [("samples".into(), "count".into()), ("cpu".into(), "nanoseconds".into())]);
    // Samples: values are (samples, period); 12 samples in all.
    let samples: Vec<&Value> = profile.iter().filter(|(f, _)| *f == 2).map(|(_, v)| v).collect();
    let mut total = 0;
    for s in &samples {
        let values = packed(fields(s.bytes(), 2)[0].bytes());
        assert_eq!(values[1], values[0] * 10_000_000);
        total += values[0];
        let labels: Vec<String> =
            fields(s.bytes(), 3).iter().map(|l| string(&fields(l.bytes(), 1)[0])).collect();
        assert_eq!(labels, ["pid", "tid", "thread", "target"]);
    }
    assert_eq!(total, 12);
    // Functions by id; the location of frame 1 (offset 0x100): inlined_fn, then main.
    let functions: std::collections::HashMap<u64, String> = profile
        .iter()
        .filter(|(f, _)| *f == 5)
        .map(|(_, v)| (fields(v.bytes(), 1)[0].num(), string(&fields(v.bytes(), 2)[0])))
        .collect();
    let location = profile
        .iter()
        .filter(|(f, _)| *f == 4)
        .find(|(_, v)| fields(v.bytes(), 3).first().map(Value::num) == Some(0x100))
        .map(|(_, v)| v)
        .unwrap();
    let names: Vec<&str> = fields(location.bytes(), 4)
        .iter()
        .map(|line| functions[&fields(line.bytes(), 1)[0].num()].as_str())
        .collect();
    assert_eq!(names, ["inlined_fn", "main"]);
    // The mapping of /app/server: build-id, and addresses (file offsets) from 0x100.
    let mapping = profile
        .iter()
        .filter(|(f, _)| *f == 3)
        .find(|(_, v)| string(&fields(v.bytes(), 5)[0]) == "/app/server")
        .map(|(_, v)| v)
        .unwrap();
    assert_eq!(string(&fields(mapping.bytes(), 6)[0]), "abcd");
    assert_eq!(fields(mapping.bytes(), 2)[0].num(), 0x100);
    assert_eq!(fields(mapping.bytes(), 4)[0].num(), 0x100, "file offset of the mapping's start");
}

/// A protobuf field value, as a test decodes it.
#[derive(Debug, Clone)]
enum Value {
    Num(u64),
    Bytes(Vec<u8>),
}

impl Value {
    fn num(&self) -> u64 {
        match self {
            Value::Num(n) => *n,
            Value::Bytes(b) => panic!("a number expected, {} bytes found", b.len()),
        }
    }
    fn bytes(&self) -> &[u8] {
        match self {
            Value::Bytes(b) => b,
            Value::Num(n) => panic!("bytes expected, {n} found"),
        }
    }
}

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0;
    for shift in (0..64).step_by(7) {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

/// The fields of one message, in order (varints and length-delimited only, as profile.proto has).
fn decode(b: &[u8]) -> Vec<(u64, Value)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let key = varint(b, &mut at);
        let value = match key & 7 {
            0 => Value::Num(varint(b, &mut at)),
            2 => {
                let len = varint(b, &mut at) as usize;
                at += len;
                Value::Bytes(b[at - len..at].to_vec())
            }
            other => panic!("wire type {other}"),
        };
        out.push((key >> 3, value));
    }
    out
}

fn packed(b: &[u8]) -> Vec<u64> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        out.push(varint(b, &mut at));
    }
    out
}

/// META of a `--retval` recording of `event`.
fn retval_meta(event: &str) -> Meta {
    let mut m = meta();
    m.event = event.into();
    m.value = Some("return value (rax)".into());
    m
}

/// A SAMPLE carrying the return value `value`, on the empty stack 1 the `--retval` tests write.
fn return_sample(time: u64, pid: u32, target: u32, value: i64) -> Entry {
    Entry::Sample {
        time: START + time,
        pid,
        tid: pid,
        cpu: 0,
        target,
        period: 1,
        stack: 1,
        value: Some(value),
    }
}

/// Return values (`--retval`): counted per target and process, read by each target's DWARF type
/// or guessed without one, kept by the same filters as samples.
#[test]
fn return_values_per_target_and_process() {
    use super::retval::{distributions, Reading};
    use sampler::recording::{ProbeMeta, ValueType};
    let dir = Dir::new("retval");
    let path = dir.0.join("retval.cperf");
    let mut m = retval_meta("uretprobe:/usr/lib/libzk.so.2:zoo_set2");
    let probe = |return_type: Option<ValueType>| ProbeMeta {
        path: "/usr/lib/libzk.so.2".into(),
        function: Some("zoo_set2".into()),
        offset: 0x1100,
        return_type,
    };
    m.targets[0].probe = Some(probe(Some(ValueType { name: "int".into(), kind: "signed".into(), bytes: 4 })));
    m.targets[1].probe = Some(probe(None));
    let mut w = RecordingWriter::create(&path, &m).unwrap();
    w.push(&Entry::Stack { id: 1, kernel: 0, frames: Vec::new() }).unwrap();
    // web: pid 10 returns 0 ×5 and -4 ×2 (as `mov $-4, %eax` leaves it), pid 11 returns 0 once;
    // db (no DWARF): pid 20 returns -1 sign-extended ×3 and 2^40 once: read as 64-bit.
    let mut entries = Vec::new();
    entries.extend((0..5).map(|i| return_sample(i, 10, 0, 0)));
    entries.extend((5..7).map(|i| return_sample(i, 10, 0, 0xffff_fffc)));
    entries.push(return_sample(8, 11, 0, 0));
    entries.extend((9..12).map(|i| return_sample(i, 20, 1, -1)));
    entries.push(return_sample(2_000_000_000, 20, 1, 1 << 40));
    for e in &entries {
        w.push(e).unwrap();
    }
    w.finish(&Summary { end_time: START + 3_000_000_000, ..Summary::default() }).unwrap();

    let profile = Profile::read(&path, &Filters::default()).unwrap();
    let targets = distributions(&profile, Reading::Auto).unwrap();
    let shown = |targets: &[super::retval::TargetValues], t: usize, p: usize| -> Vec<(String, u64)> {
        targets[t].processes[p].values.iter().map(|v| (v.text.clone(), v.calls)).collect()
    };
    assert_eq!((targets[0].reading.as_str(), targets[0].why.as_str()), ("int", "its DWARF type"));
    assert_eq!(targets[0].processes.iter().map(|p| (p.pid, p.calls)).collect::<Vec<_>>(), [(10, 7), (11, 1)]);
    assert_eq!(shown(&targets, 0, 0), [("0".to_string(), 5), ("-4".to_string(), 2)]);
    assert_eq!(targets[1].reading, "i64");
    assert_eq!(shown(&targets, 1, 0), [("-1".to_string(), 3), ("1099511627776".to_string(), 1)]);

    // Filters apply: only pid 20's samples in the first second.
    let filters = Filters { pids: vec![20], window: Some((0.0, Some(1.0))), ..Filters::default() };
    let profile = Profile::read(&path, &filters).unwrap();
    let targets = distributions(&profile, Reading::Auto).unwrap();
    assert!(targets[0].processes.is_empty());
    assert_eq!(shown(&targets, 1, 0), [("-1".to_string(), 3)]);
    // Now every value of db fits 32 bits: a guess of i32, which reads -1 the same.
    assert_eq!(targets[1].reading, "i32");

    // The text and JSON writers.
    let mut text = Vec::new();
    let all = Profile::read(&path, &Filters::default()).unwrap();
    let targets = distributions(&all, Reading::Auto).unwrap();
    super::text::write_retval_text(&mut text, &all, &targets, 1).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("Return values of zoo_set2 in container 'web' (runc, cgroup /web), read as int"),
        "{text}"
    );
    assert!(text.contains("… 1 other values: 2 calls (28.6%)"), "{text}");
    let mut json = Vec::new();
    super::text::write_retval_json(&mut json, &all, &targets).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["targets"][1]["processes"][0]["values"][1]["number"], 1_099_511_627_776i64);

    // A recording without values says how to make one.
    let plain = recording(&dir.0, true);
    let e = distributions(&Profile::read(&plain, &Filters::default()).unwrap(), Reading::Auto).unwrap_err();
    assert!(e.to_string().contains("--retval"), "{e}");
}

/// A process returning ever new values (malloc's pointers) keeps at most MAX_DISTINCT_VALUES of
/// them; the rest are counted, and said to be.
#[test]
fn distinct_return_values_are_bounded() {
    use super::profile::MAX_DISTINCT_VALUES;
    use super::retval::{distributions, Reading};
    let dir = Dir::new("retval-bounded");
    let path = dir.0.join("retval.cperf");
    let m = retval_meta("uretprobe:/usr/lib/libc.so.6:malloc");
    let mut w = RecordingWriter::create(&path, &m).unwrap();
    w.push(&Entry::Stack { id: 1, kernel: 0, frames: Vec::new() }).unwrap();
    let extra = 1000u64;
    let total = MAX_DISTINCT_VALUES as u64 + extra;
    for i in 0..total {
        w.push(&return_sample(i, 10, 0, 0x5500_0000_0000 + (i as i64) * 16)).unwrap();
    }
    // A value already kept is still counted as itself.
    w.push(&return_sample(total, 10, 0, 0x5500_0000_0000)).unwrap();
    w.finish(&Summary { end_time: START + 3_000_000_000, ..Summary::default() }).unwrap();
    let profile = Profile::read(&path, &Filters::default()).unwrap();
    let targets = distributions(&profile, Reading::Auto).unwrap();
    let p = &targets[0].processes[0];
    assert_eq!((p.calls, p.not_kept, p.values.len()), (total + 1, extra, MAX_DISTINCT_VALUES));
    assert_eq!(p.values[0].calls, 2);
    let mut text = Vec::new();
    super::text::write_retval_text(&mut text, &profile, &targets, 5).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("1,000 calls (1.5%) returned values past the first 65,536 distinct ones"),
        "{text}"
    );
}

/// Names a container controls: ESC sequences (clear screen, retitle the terminal), BEL, CR, a line
/// break, a C1 control, XML's special characters, the folded format's separator, a bidi override and
/// a noncharacter XML does not allow.
const HOSTILE: &str = "/tmp/\x1b[2J\x1b]0;PWNED\x07\nnext\rline<&\"'>\u{9b}31m\u{202e}\u{ffff}";

/// A recording whose every container-controlled text is [`HOSTILE`]: host name, target
/// description, thread and process names, module path, function and file names, notes.
fn hostile_recording(dir: &Path) -> PathBuf {
    let path = dir.join("hostile.cperf");
    let mut m = meta();
    m.hostname = HOSTILE.into();
    m.targets[0].description = format!("container '{HOSTILE}' (runc, cgroup /web)");
    m.event_note = Some(HOSTILE.into());
    let mut w = RecordingWriter::create(&path, &m).unwrap();
    let s = |id: u32, text: &str| Entry::Str { id, text: text.as_bytes().to_vec() };
    let fn_name = format!("fn_{HOSTILE}");
    let file_name = format!("{HOSTILE}.c");
    let entries = [
        s(1, &fn_name),
        s(2, &file_name),
        s(3, "main"),
        Entry::Module {
            id: 1,
            kind: ModuleKind::Elf,
            path: HOSTILE.as_bytes().to_vec(),
            build_id: vec![1],
            pid: 0,
        },
        Entry::Frame { id: 1, module: 1, offset: 0x10, caller: false },
        Entry::Frame { id: 2, module: 1, offset: 0x20, caller: true },
        Entry::Frame { id: 3, module: 1, offset: 0x30, caller: true },
        Entry::Stack { id: 1, kernel: 0, frames: vec![1, 2, 3] },
        Entry::Comm { time: START, pid: 40, tid: 40, exec: true, name: HOSTILE.as_bytes().to_vec() },
        Entry::Comm { time: START, pid: 40, tid: 41, exec: false, name: b"t\x1b[31m\n".to_vec() },
        Entry::Sample {
            time: START + 1,
            pid: 40,
            tid: 40,
            cpu: 0,
            target: 0,
            period: 1,
            stack: 1,
            value: None,
        },
        Entry::Sample {
            time: START + 2,
            pid: 40,
            tid: 41,
            cpu: 0,
            target: 0,
            period: 1,
            stack: 1,
            value: None,
        },
        Entry::Symbols { frame: 1, lines: vec![Line { function: 1, file: 2, line: 7 }], unknown: 0 },
        Entry::Symbols { frame: 2, lines: vec![Line { function: 3, file: 2, line: 9 }], unknown: 0 },
    ];
    for e in &entries {
        w.push(e).unwrap();
    }
    w.finish(&Summary {
        end_time: START + 1_000_000_000,
        samples: 2,
        notes: vec![format!("cannot read {HOSTILE}")],
        ..Summary::default()
    })
    .unwrap();
    path
}

/// Control characters outside line ends (and the C1 controls), which a terminal obeys.
fn controls(text: &str) -> Vec<char> {
    text.chars().filter(|&c| c != '\n' && c.is_control()).collect()
}

fn render(input: &Path, format: super::Format, filters: Filters) -> anyhow::Result<Vec<u8>> {
    let opts = super::ReportOptions {
        input: input.to_path_buf(),
        output: None,
        format,
        filters,
        top: 20,
        per_section: 10,
    };
    let (mut out, mut warn) = (Vec::new(), Vec::new());
    super::run(opts, &mut out, &mut warn)?;
    Ok(out)
}

/// Finding 3 of issue 13: no control character from a container reaches the text report or the
/// folded stacks, and a folded line stays one stack; JSON keeps the names exact.
#[test]
fn hostile_names_are_escaped_everywhere_they_are_printed() {
    use super::{FlameStyle, Format};
    let dir = Dir::new("hostile");
    let input = hostile_recording(&dir.0);
    let text = String::from_utf8(render(&input, Format::Text, Filters::default()).unwrap()).unwrap();
    assert_eq!(controls(&text), [], "{text}");
    assert!(
        text.contains("fn_/tmp/\\e[2J\\e]0;PWNED\\x07\\nnext\\rline<&\"'>\\u{9b}31m\\u{202e}\\u{ffff}"),
        "{text}"
    );
    assert!(text.contains("# note: cannot read /tmp/\\e[2J"), "{text}");
    assert!(text.contains("# recorded on /tmp/\\e[2J"), "{text}");

    let folded =
        String::from_utf8(render(&input, Format::Folded { period: false }, Filters::default()).unwrap())
            .unwrap();
    assert_eq!(controls(&folded), [], "{folded}");
    let lines: Vec<&str> = folded.lines().collect();
    assert_eq!(lines.len(), 1, "one stack, one line: {folded:?}");
    assert!(lines[0].ends_with(" 2"), "{folded:?}");
    // main; the function; the frame without a name: three frames, `;` in names written as `:`.
    let frames: Vec<&str> = lines[0].rsplit_once(' ').unwrap().0.split(';').collect();
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert_eq!(frames[3], "fn_/tmp/\\e[2J\\e]0:PWNED\\x07\\nnext\\rline<&\"'>\\u{9b}31m\\u{202e}\\u{ffff}");

    let doc: serde_json::Value =
        serde_json::from_slice(&render(&input, Format::Json, Filters::default()).unwrap()).unwrap();
    assert_eq!(doc["functions_by_self"][0]["function"], format!("fn_{HOSTILE}"), "JSON keeps names exact");
    assert_eq!(doc["processes"][0]["name"], HOSTILE);
    let raw = String::from_utf8(render(&input, Format::Json, Filters::default()).unwrap()).unwrap();
    assert_eq!(controls(&raw), [], "serde writes them as \\u escapes");

    // Finding 4: the flame graph is well-formed XML 1.0, whatever the names.
    for style in [FlameStyle::default(), FlameStyle { icicle: true, reverse: true }] {
        let svg =
            String::from_utf8(render(&input, Format::Flame(style), Filters::default()).unwrap()).unwrap();
        assert_eq!(controls(&svg), [], "{style:?}");
        let options = roxmltree::ParsingOptions { allow_dtd: true, ..roxmltree::ParsingOptions::default() };
        let xml = roxmltree::Document::parse_with_options(&svg, options)
            .unwrap_or_else(|e| panic!("{style:?}: not XML: {e}"));
        let all: String = xml.descendants().filter_map(|n| n.text()).collect();
        assert!(all.contains("fn_/tmp/\\e[2J\\e]0:PWNED"), "{style:?}: the name is drawn");
    }
}

/// Frames without a name are kept as their addresses (README): two different addresses in one
/// module are two rows, with why they have no name.
#[test]
fn unnamed_frames_show_their_address() {
    let dir = Dir::new("addresses");
    let path = recording_of(
        &dir.0,
        "addr.cperf",
        &[
            Entry::Frame { id: 20, module: 4, offset: 0x4000, caller: false },
            Entry::Symbols { frame: 20, lines: Vec::new(), unknown: 6 },
            Entry::Module {
                id: 9,
                kind: ModuleKind::Unmapped,
                path: b"[unknown]".to_vec(),
                build_id: vec![],
                pid: 0,
            },
            Entry::Frame { id: 21, module: 9, offset: 0x7f00_dead_beef, caller: false },
            Entry::Stack { id: 7, kernel: 0, frames: vec![5, 2] },
            Entry::Stack { id: 8, kernel: 0, frames: vec![20, 2] },
            Entry::Stack { id: 9, kernel: 0, frames: vec![21, 2] },
            sample_of(20, 20, 7),
            sample_of(20, 20, 8),
            sample_of(20, 20, 8),
            sample_of(20, 20, 9),
        ],
    );
    let p = Profile::read(&path, &Filters::default()).unwrap();
    assert_eq!(
        folded(&p, Side::Both),
        [
            "worker;helper;0x7f00deadbeef 1",
            "worker;helper;[libc.so.6+0x3000] 1",
            "worker;helper;[libc.so.6+0x4000] 2"
        ]
    );
    let t = tables(&p, Side::Both, 20, 10);
    let row = |name: &str| t.by_self.iter().find(|r| r.function == name).cloned();
    let r = row("[libc.so.6+0x4000]").unwrap();
    assert_eq!((r.self_samples, r.unknown.as_deref()), (2, Some("no symbol covers it (stripped)")));
    assert_eq!(row("[libc.so.6+0x3000]").unwrap().self_samples, 1);
    assert_eq!(row("0x7f00deadbeef").unwrap().unknown.as_deref(), Some("in no known mapping"));
    let text = String::from_utf8(render(&path, super::Format::Text, Filters::default()).unwrap()).unwrap();
    assert!(text.contains("(no symbol covers it (stripped))"), "{text}");
}

/// `--kernel-only` / `--user-only`: the header counts the samples the report is about, and says
/// they are filtered.
#[test]
fn side_filtered_headers_count_what_is_shown() {
    let dir = Dir::new("side-header");
    let input = recording(&dir.0, true);
    let header = |side| {
        let filters = Filters { side, ..Filters::default() };
        let text = String::from_utf8(render(&input, super::Format::Text, filters).unwrap()).unwrap();
        text.lines().find(|l| l.contains(" lost, over ")).unwrap().to_owned()
    };
    assert_eq!(header(Side::Both), "# 12 samples, 2 lost, over 2.0 s");
    assert_eq!(
        header(Side::KernelOnly),
        "# 3 samples (filtered, of 12 in the recording), 2 lost, over 2.0 s"
    );
    assert_eq!(header(Side::UserOnly), "# 12 samples, 2 lost, over 2.0 s");
}

/// `--time` past the end says how long the recording is; a window inside it says so too.
#[test]
fn a_time_window_past_the_end_gives_the_recordings_length() {
    let dir = Dir::new("time-past");
    let input = recording(&dir.0, true);
    let e =
        render(&input, super::Format::Text, Filters { window: Some((5.0, Some(9.0))), ..Filters::default() })
            .unwrap_err()
            .to_string();
    assert!(e.contains("it is 2.0 s long") && e.contains("--time starts at 5 s"), "{e}");
    let e = render(
        &input,
        super::Format::Flame(super::FlameStyle::default()),
        Filters { window: Some((2.0, None)), ..Filters::default() },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("2.0 s long"), "{e}");
    let text = String::from_utf8(
        render(&input, super::Format::Text, Filters { window: Some((1.0, None)), ..Filters::default() })
            .unwrap(),
    )
    .unwrap();
    assert!(text.contains("over 1.0 s (the recording is 2.0 s long)"), "{text}");
}

/// `--container` matches what users type: the name, a runtime word of the description, the
/// cgroup, a container id or id prefix.
#[test]
fn container_filter_matches_ids_names_and_words() {
    let dir = Dir::new("container-words");
    let path = dir.0.join("docker.cperf");
    let mut m = meta();
    let id = "4f1e8c0b9a7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f";
    m.targets[0] = TargetMeta {
        spec: "web".into(),
        kind: "container".into(),
        description: format!("container 'web' (docker, cgroup /system.slice/docker-{id}.scope)"),
        cgroup: Some(format!("/system.slice/docker-{id}.scope")),
        probe: None,
    };
    let mut w = RecordingWriter::create(&path, &m).unwrap();
    w.push(&Entry::Stack { id: 1, kernel: 0, frames: vec![] }).unwrap();
    w.push(&sample_of(1, 1, 1)).unwrap();
    w.push(&Entry::Sample {
        time: START + 1,
        pid: 2,
        tid: 2,
        cpu: 0,
        target: 1,
        period: 1,
        stack: 1,
        value: None,
    })
    .unwrap();
    w.finish(&Summary::default()).unwrap();
    let kept = |wanted: &str| {
        Profile::read(&path, &Filters { targets: vec![wanted.into()], ..Filters::default() })
            .map(|p| p.kept_targets)
            .map_err(|e| e.to_string())
    };
    for wanted in
        ["web", "docker", &id[..12], &id[..4], id, "4F1E8C0B", &format!("/system.slice/docker-{id}.scope")]
    {
        assert_eq!(kept(wanted), Ok(vec![0]), "{wanted}");
    }
    assert_eq!(kept("runc"), Ok(vec![1]));
    assert_eq!(kept("db"), Ok(vec![1]));
    for wanted in ["4f1", "e1f", "dock", "nope"] {
        assert!(kept(wanted).unwrap_err().contains(&format!("no target '{wanted}'")), "{wanted}");
    }
}
