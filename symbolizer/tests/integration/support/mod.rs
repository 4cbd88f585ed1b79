//! Shared by the integration tests: the fixtures compiled once from `tests/data/` into
//! `CARGO_TARGET_TMPDIR`, the binutils tools run on them, and the comparison of our frames with
//! `addr2line -f -i -C` output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use symbolizer::{ElfModule, Symbolized};

/// The compiled fixtures (see `tests/data/README.md`).
#[derive(Debug)]
pub struct Fixtures {
    /// The directory holding them.
    pub dir: PathBuf,
}

impl Fixtures {
    /// A fixture's path.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The fixtures, built on first use by whichever test comes first.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(build)
}

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name).display().to_string()
}

/// Runs a command to completion; panics with its output when it fails.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (binutils, gcc, g++ and xz-utils are needed): {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn sh(script: &str, dir: &Path) {
    run(Command::new("sh").arg("-ec").arg(script).current_dir(dir));
}

fn build() -> Fixtures {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    // One directory per test process; those of earlier runs (processes gone) are removed.
    for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("symbolizer-fixtures-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tmp.join(format!("symbolizer-fixtures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("split/.debug")).unwrap();
    let c = format!("{} {}", data("inlines.c"), data("other.c"));
    // Compilations in parallel (the C++ one is the slowest).
    let compiles = [
        format!("cc -g -O2 -fPIE -pie -o pie {c}"),
        format!("cc -g -O2 -fno-pie -no-pie -o nopie {c}"),
        format!("cc -gdwarf-4 -O2 -o dwarf4 {c}"),
        format!("cc -g -O2 -fPIC -shared -o lib.so {c}"),
        format!("c++ -g -O2 -o cxx {}", data("cxx.cc")),
    ];
    let children: Vec<_> = compiles
        .iter()
        .map(|script| {
            Command::new("sh")
                .arg("-ec")
                .arg(script)
                .current_dir(&dir)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run sh: {e}"))
        })
        .collect();
    for (child, script) in children.into_iter().zip(&compiles) {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
    sh(
        "objcopy --compress-debug-sections=zlib pie zdebug
         strip -o pie.stripped pie
         strip -o lib.stripped.so lib.so
         # A split debug file, linked by name from the stripped binary, found in .debug/ beside it.
         objcopy --only-keep-debug pie split/.debug/app.debug
         strip -o split/app.tmp pie
         objcopy --add-gnu-debuglink=split/.debug/app.debug split/app.tmp split/app
         rm split/app.tmp
         # MiniDebugInfo, made as Fedora's find-debuginfo does: the functions .dynsym lacks, in an
         # xz-compressed ELF file in .gnu_debugdata of the stripped binary.
         nm -D pie --format=posix --defined-only | awk '{ print $1 }' | sort > dynsyms
         nm pie --format=posix --defined-only | awk '{ if ($2 == \"T\" || $2 == \"t\") print $1 }' | sort > funcsyms
         comm -13 dynsyms funcsyms > keep_symbols
         objcopy --only-keep-debug pie mini_debuginfo
         objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=keep_symbols mini_debuginfo mini_debuginfo.o
         xz -f mini_debuginfo.o
         strip -o mini pie
         objcopy --add-section .gnu_debugdata=mini_debuginfo.o.xz mini",
        &dir,
    );
    Fixtures { dir }
}

/// A function symbol of `nm -S`: start, size (0 when unknown), name.
#[derive(Debug, Clone)]
pub struct NmSymbol {
    pub addr: u64,
    pub size: u64,
    pub name: String,
}

/// The text symbols (`t`, `T`, `w`, `W` in text) of a file, by address, through `nm -S`.
pub fn nm_functions(path: &Path, dynamic: bool) -> Vec<NmSymbol> {
    let mut cmd = Command::new("nm");
    cmd.args(["-S", "--defined-only"]);
    if dynamic {
        cmd.arg("-D");
    }
    let out = String::from_utf8(run(cmd.arg(path))).unwrap();
    let mut syms: Vec<NmSymbol> = out
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let (addr, size, kind, name) = match parts[..] {
                [a, s, k, n] => (a, s, k, n),
                [a, k, n] => (a, "0", k, n),
                _ => return None,
            };
            matches!(kind, "t" | "T").then(|| NmSymbol {
                addr: u64::from_str_radix(addr, 16).unwrap(),
                size: u64::from_str_radix(size, 16).unwrap(),
                name: name.to_string(),
            })
        })
        .collect();
    syms.sort_by_key(|s| s.addr);
    syms
}

/// Every byte address inside the functions (a size-less one reaches the next symbol).
pub fn every_address(syms: &[NmSymbol]) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, s) in syms.iter().enumerate() {
        let end = if s.size > 0 {
            s.addr + s.size
        } else {
            syms[i + 1..].iter().map(|n| n.addr).find(|&a| a > s.addr).unwrap_or(s.addr + 1)
        };
        out.extend(s.addr..end);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// binutils' `addr2line -f -i -C` for each address: its lines (function, then `file:line`, per
/// frame), discriminators removed.
///
/// The addresses are asked twice and the second answers kept: binutils names a function that has
/// only a plain `DW_AT_name` (C++ constructors, say) by the ELF symbol the first time it meets it,
/// and by its DWARF name (or for good by the symbol, if that starts where the function does) from
/// then on. The second pass is that settled state, which the symbolizer gives every time.
pub fn binutils_addr2line(path: &Path, addrs: &[u64]) -> Vec<Vec<String>> {
    let mut child = Command::new("addr2line")
        .args(["-f", "-i", "-C", "-a", "-e"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("addr2line (binutils) is needed");
    let input: String = addrs.iter().chain(addrs).map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("0x") && line[2..].chars().all(|c| c.is_ascii_hexdigit()) {
            blocks.push(Vec::new());
        } else if let Some(block) = blocks.last_mut() {
            let line = match line.find(" (discriminator ") {
                Some(i) => &line[..i],
                None => line,
            };
            block.push(line.to_string());
        }
    }
    assert_eq!(blocks.len(), 2 * addrs.len(), "addr2line printed one block per address");
    blocks.split_off(addrs.len())
}

/// Our answer in binutils' format.
pub fn format_like_binutils(result: &Symbolized) -> Vec<String> {
    match result {
        Symbolized::Unknown(_) => vec!["??".into(), "??:0".into()],
        Symbolized::Frames(frames) => frames
            .iter()
            .flat_map(|f| {
                [
                    f.function.as_deref().unwrap_or("??").to_string(),
                    format!(
                        "{}:{}",
                        f.file.as_deref().unwrap_or("??"),
                        f.line.map_or("?".to_string(), |l| l.to_string())
                    ),
                ]
            })
            .collect(),
    }
}

/// Compares our frames for `addrs` of `module` with binutils' for the file at `path`; returns the
/// differences, at most `limit` of them, and how many addresses were compared.
pub fn compare(module: &ElfModule, path: &Path, addrs: &[u64], limit: usize) -> Vec<String> {
    let theirs = binutils_addr2line(path, addrs);
    let ours = module.symbolize_vaddrs(addrs);
    let mut diffs = Vec::new();
    for (i, (addr, theirs)) in addrs.iter().zip(&theirs).enumerate() {
        let ours = format_like_binutils(&ours.symbolized(i).expect("one answer per address"));
        if &ours != theirs && diffs.len() < limit {
            diffs.push(format!("{addr:#x}:\n  binutils: {theirs:?}\n  ours:     {ours:?}"));
        }
    }
    diffs
}

/// Parses a file into a module.
pub fn module(path: &Path) -> ElfModule {
    ElfModule::parse(std::fs::read(path).unwrap()).unwrap()
}
