//! Integration tests of `cperf symbolize`: the same names and lines as binutils' `addr2line -f -i -C`
//! on cperf's own debug build (in a batch large enough to be resolved and printed on several
//! threads), an answer per line for a caller that waits for it, runtime addresses of processes in
//! runc containers resolved inside the container (never through the host's file of the same path,
//! nor the host's perf map), kernel addresses, JSON, and bad input.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use support::{cperf, describe, Bundle};

/// `(address, size)` of `count` function symbols of `binary` (every n-th, for a spread).
fn function_symbols(binary: &Path, count: usize) -> Vec<(u64, u64)> {
    let out = support::run_ok(Command::new("nm").arg("-S").arg(binary));
    let all: Vec<(u64, u64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && matches!(f[2], "t" | "T" | "w" | "W"))
                .then(|| Some((u64::from_str_radix(f[0], 16).ok()?, u64::from_str_radix(f[1], 16).ok()?)))
                .flatten()
        })
        .collect();
    assert!(all.len() >= count, "only {} function symbols in {}", all.len(), binary.display());
    let step = all.len() / count;
    all.into_iter().step_by(step).take(count).collect()
}

/// Runs a symbolizer over addresses given on stdin, one hex address per line, from a file (so that
/// all of them are ready at once, and cperf reads them in one batch).
fn over_stdin(cmd: &mut Command, addrs: &[u64]) -> String {
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let path = std::env::temp_dir().join(support::unique_id("symbolize-input"));
    std::fs::write(&path, input).unwrap();
    let stdin = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let out = cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Function names and file:line for function starts and interiors of cperf's own debug build (Rust,
/// heavy inlining, full DWARF) equal binutils', frame for frame. Discriminators, which cperf does not
/// print, are left out of binutils' lines. There are enough addresses (and repeats) that the batch
/// is resolved and printed on more than one thread where the machine has more than one CPU.
#[test]
fn names_and_lines_equal_addr2line_on_a_large_binary() {
    let binary = Path::new(support::cperf_path());
    let symbols = function_symbols(binary, 12_000);
    let mut addrs: Vec<u64> = symbols.iter().map(|&(a, _)| a).collect();
    addrs.extend(symbols.iter().filter(|&&(_, s)| s > 2).map(|&(a, s)| a + s / 2));
    addrs.extend(symbols.iter().filter(|&&(_, s)| s > 8).map(|&(a, s)| a + s - 3));
    // Repeats, out of order.
    addrs.extend(symbols.iter().rev().step_by(3).map(|&(a, _)| a));
    assert!(addrs.len() > 2 * 16 * 1024, "{} addresses", addrs.len());
    let ours = over_stdin(cperf().args(["symbolize", "-e"]).arg(binary), &addrs);
    let theirs = over_stdin(Command::new("addr2line").args(["-f", "-i", "-C", "-e"]).arg(binary), &addrs);
    let theirs: String =
        theirs.lines().map(|l| l.split(" (discriminator ").next().unwrap_or(l).to_string() + "\n").collect();
    let (o, t): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    let first_difference = o.iter().zip(&t).position(|(a, b)| a != b);
    assert!(
        first_difference.is_none() && o.len() == t.len(),
        "{} addresses: {} lines vs addr2line's {}; first difference at line {:?}: {:?} vs {:?}",
        addrs.len(),
        o.len(),
        t.len(),
        first_difference,
        first_difference.map(|i| o[i]),
        first_difference.map(|i| t[i])
    );
    assert!(o.len() >= addrs.len() * 2, "fewer than one frame per address");
    let named = o.iter().step_by(2).filter(|l| **l != "??").count();
    assert!(named * 10 >= addrs.len() * 9, "only {named} named frames for {} addresses", addrs.len());
}

/// addr2line's `-a`, `-p` and `-s` print as binutils does, alone and together (and its `-f -i -C`,
/// always on in cperf, are accepted).
#[test]
fn addr2line_options_print_as_binutils_does() {
    let binary = Path::new(support::cperf_path());
    let symbols = function_symbols(binary, 400);
    let mut addrs: Vec<u64> = symbols.iter().map(|&(a, s)| a + s / 2).collect();
    addrs.extend([0x1, u64::MAX]);
    for options in [&["-a"][..], &["-p"], &["-s"], &["-a", "-p", "-s"]] {
        let ours = over_stdin(
            cperf().arg("symbolize").args(options).args(["-f", "-i", "-C", "-e"]).arg(binary),
            &addrs,
        );
        let theirs = over_stdin(
            Command::new("addr2line").args(options).args(["-f", "-i", "-C", "-e"]).arg(binary),
            &addrs,
        );
        let theirs: String = theirs
            .lines()
            .map(|l| l.split(" (discriminator ").next().unwrap_or(l).to_string() + "\n")
            .collect();
        let difference = ours.lines().zip(theirs.lines()).find(|(a, b)| a != b);
        assert!(
            difference.is_none() && ours.lines().count() == theirs.lines().count(),
            "{options:?}: {} lines vs addr2line's {}; first difference: {difference:?}",
            ours.lines().count(),
            theirs.lines().count()
        );
    }
}

/// A 32-bit file's addresses are printed in 8 hex digits, and cut to 32 bits, as binutils does.
#[test]
fn addresses_of_a_32_bit_file_as_binutils_prints_them() {
    // A bare ELF32 header: a 32-bit file with nothing in it to name.
    let mut header = vec![0u8; 52];
    header[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
    (header[16], header[18], header[20], header[40]) = (2, 3, 1, 52);
    let path = std::env::temp_dir().join(support::unique_id("elf32"));
    std::fs::write(&path, header).unwrap();
    let addrs = [0x8049000, 0x1_0000_0000, 0x1];
    let ours = over_stdin(cperf().args(["symbolize", "-a", "-e"]).arg(&path), &addrs);
    let theirs =
        over_stdin(Command::new("addr2line").args(["-a", "-f", "-i", "-C", "-e"]).arg(&path), &addrs);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(ours, theirs);
    assert!(ours.starts_with("0x08049000\n"), "{ours}");
}

/// Lines of stdin are read as addr2line reads them: the number at the start of each line, and
/// address 0 (`??`) for a line without one — one answer per line, never an error.
#[test]
fn stdin_lines_are_read_as_addr2line_reads_them() {
    let binary = Path::new(support::cperf_path());
    let (addr, _) = function_symbols(binary, 10)[4];
    let input = format!("{addr:#x}\nzz\n\n  {addr:x} 0x1\n{addr:x}zz\n0x0000000000000000{addr:x}\n");
    let run = |cmd: &mut Command| {
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let ours = run(cperf().args(["symbolize", "-a", "-e"]).arg(binary));
    let theirs = run(Command::new("addr2line").args(["-a", "-f", "-i", "-C", "-e"]).arg(binary));
    let theirs: String =
        theirs.lines().map(|l| l.split(" (discriminator ").next().unwrap_or(l).to_string() + "\n").collect();
    assert_eq!(ours, theirs);
    assert_eq!(ours.lines().filter(|l| l.starts_with("0x")).count(), 6, "{ours}");
}

/// Used as a co-process, as addr2line is (one address written, its answer read, then the next),
/// `cperf symbolize` answers each address as it arrives rather than waiting for the end of its input.
#[test]
fn answers_each_address_before_the_input_ends() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;
    let binary = Path::new(support::cperf_path());
    let symbols = function_symbols(binary, 10);
    let mut child = cperf()
        .args(["symbolize", "--json", "-e"])
        .arg(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (lines, answers) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    for &(addr, _) in &symbols[..3] {
        writeln!(stdin, "{addr:#x}").unwrap();
        stdin.flush().unwrap();
        let Ok(answer) = answers.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("no answer for {addr:#x} within a minute while stdin stayed open");
        };
        let doc: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(doc["address"], format!("{addr:#x}"));
        assert!(doc["frames"][0]["function"].is_string(), "{doc}");
    }
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success());
    assert!(answers.try_recv().is_err(), "one answer per address");
}

/// `--pid` resolves runtime addresses through the process's maps and root: inside a container, the
/// container's binary is named, not the different binary the host has at the same path.
#[test]
fn runtime_addresses_of_a_container_process_are_named_from_its_root() {
    if !support::privileged() {
        return;
    }
    let bundle = Bundle::new();
    let decoy = support::HostDecoy::new(&bundle, "hot", "spin", "app");
    let container = bundle.args(&[decoy.path.clone(), "30".into()]).run_detached("symbolize-pid");

    // The fixture is static and not PIE: runtime addresses are its link-time addresses.
    let nm = support::run_ok(Command::new("nm").arg(support::fixture("hot")));
    let heavy = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find(|l| l.ends_with(" cperf_hot_heavy"))
        .and_then(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .expect("cperf_hot_heavy in nm");
    let out = cperf()
        .args(["symbolize", "--pid", &container.init_pid().to_string(), &format!("{:#x}", heavy + 4)])
        .output()
        .unwrap();
    drop(container);
    drop(decoy);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().next(), Some("cperf_hot_heavy"), "{text}");
    assert!(text.lines().nth(1).is_some_and(|l| l.contains("hot.c:")), "{text}");
}

/// With `--pid`, JIT code is named by the perf map the process wrote inside its container, under its
/// own pid (`/tmp/perf-1.map` for a container's init), and never by a map on the host under its host
/// pid; kernel addresses are named from `/proc/kallsyms`.
#[test]
fn jit_and_kernel_addresses_of_a_container_process() {
    if !support::privileged() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let container = Bundle::new().with_fixture("jit").args(&["jit", "30"]).run_detached("symbolize-jit");
    container.wait_for_file("/tmp/perf-1.map", std::time::Duration::from_secs(5));
    let inner = std::fs::read_to_string(container.rootfs().join("tmp/perf-1.map")).unwrap();
    let jit = inner
        .lines()
        .find(|l| l.ends_with(" cperf_jit_spin"))
        .and_then(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .expect("cperf_jit_spin in the container's perf map");
    // A decoy under the host pid, covering the same code with another name.
    let host_map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", container.init_pid()));
    std::fs::write(&host_map, inner.replace("cperf_jit_spin", "host_decoy")).unwrap();
    // A kernel function, from the same table cperf reads (as root, addresses are not hidden):
    // `schedule`, or another global function alone at its address.
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let text: Vec<(u64, &str, &str)> = kallsyms
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && matches!(f[1], "t" | "T" | "w" | "W"))
                .then(|| Some((u64::from_str_radix(f[0], 16).ok()?, f[1], f[2])))
                .flatten()
        })
        .collect();
    let mut at_address = std::collections::HashMap::new();
    for (a, _, _) in &text {
        *at_address.entry(*a).or_insert(0) += 1;
    }
    let alone = |a: u64| at_address[&a] == 1;
    let (kernel, _, kernel_name) = *text
        .iter()
        .filter(|(a, kind, _)| *kind == "T" && alone(*a))
        .max_by_key(|(_, _, name)| *name == "schedule")
        .expect("a global kernel function alone at its address");

    let out = cperf()
        .args(["symbolize", "--pid", &container.init_pid().to_string()])
        .args([format!("{:#x}", jit + 2), format!("{:#x}", kernel + 1), "0x10".into()])
        .output()
        .unwrap();
    drop(container);
    let _ = std::fs::remove_file(&host_map);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["cperf_jit_spin", "??:?", kernel_name, "??:?", "??", "??:0"], "{text}");
}

/// `--pid` reads a container's perf map no further than `cperf record` does (32 MiB): a map grown
/// past that is cut after its last whole line, with a note on stderr. The line past the cut would
/// rename the JIT function (the last line covering an address wins), so the name shows where it was
/// cut.
#[test]
fn a_perf_map_over_its_bound_is_cut_with_a_note() {
    if !support::privileged() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let container = Bundle::new().with_fixture("jit").args(&["jit", "30"]).run_detached("symbolize-big-map");
    container.wait_for_file("/tmp/perf-1.map", std::time::Duration::from_secs(5));
    let map = container.rootfs().join("tmp/perf-1.map");
    let first = std::fs::read_to_string(&map).unwrap();
    let (jit, size) = first
        .lines()
        .find(|l| l.ends_with(" cperf_jit_spin"))
        .and_then(|l| {
            let mut f = l.split_whitespace();
            Some((u64::from_str_radix(f.next()?, 16).ok()?, u64::from_str_radix(f.next()?, 16).ok()?))
        })
        .expect("cperf_jit_spin in the container's perf map");
    // 33 MiB of lines naming other code, then one renaming the JIT function.
    let mut text = first.into_bytes();
    let filler = b"10 1 filler\n";
    text.reserve(34 << 20);
    while text.len() < 33 << 20 {
        text.extend_from_slice(filler);
    }
    text.extend_from_slice(format!("{jit:x} {size:x} past_the_cut\n").as_bytes());
    std::fs::write(&map, &text).unwrap();

    let out = cperf()
        .args(["symbolize", "--pid", &container.init_pid().to_string(), &format!("{:#x}", jit + 2)])
        .output()
        .unwrap();
    drop(container);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("cperf_jit_spin"), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("note: perf maps: /tmp/perf-1.map of process")
            && stderr.contains("cut at the per-file limit of 32 MiB ("),
        "{stderr}"
    );
}

/// `--pid` reads a mapped ELF file no larger than `cperf record` does (256 MiB per file): a larger
/// one (a sparse tail makes it cheap to build) is not read; its addresses are `??`, and a note on
/// stderr, with the container's file name escaped, says why.
#[test]
fn a_mapped_file_over_its_bound_is_not_read_and_noted() {
    if !support::privileged() {
        return;
    }
    let bundle = Bundle::new();
    // A name with an escape character: the note must not pass it to the terminal.
    let name = "/bin/hot\u{1b}[2J";
    let binary = bundle.rootfs().join(&name[1..]);
    std::fs::copy(support::fixture("hot"), &binary).unwrap();
    std::fs::File::options().write(true).open(&binary).unwrap().set_len(300 << 20).unwrap();
    let container = bundle.args(&[name, "30"]).run_detached("symbolize-big-elf");

    let nm = support::run_ok(Command::new("nm").arg(support::fixture("hot")));
    let heavy = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find(|l| l.ends_with(" cperf_hot_heavy"))
        .and_then(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .expect("cperf_hot_heavy in nm");
    let out = cperf()
        .args(["symbolize", "--pid", &container.init_pid().to_string(), &format!("{:#x}", heavy + 4)])
        .output()
        .unwrap();
    drop(container);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("??"), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(
        stderr.contains("note: ELF and debug files: /bin/hot\\e[2J of process")
            && stderr.contains("cut at the per-file limit of 256 MiB (300 MiB not taken)"),
        "{stderr}"
    );
}

/// `--json` gives one object per address; an address outside the file is unknown with a reason.
#[test]
fn json_output() {
    let binary = Path::new(support::cperf_path());
    let (addr, _) = function_symbols(binary, 10)[3];
    let out = cperf()
        .args(["symbolize", "--json", "-e"])
        .arg(binary)
        .arg(format!("{addr:x}"))
        .arg("0x1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let docs: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["address"], format!("{addr:#x}"));
    assert!(docs[0]["frames"][0]["function"].is_string(), "{}", docs[0]);
    assert_eq!(docs[1]["frames"].as_array().map(Vec::len), Some(0));
    assert!(docs[1]["unknown"].is_string(), "{}", docs[1]);
}

/// Bad input is one line on stderr and exit status 2.
#[test]
fn bad_input_is_a_one_line_error() {
    for (args, needle) in [
        (&["symbolize", "-e", "/nonexistent/file", "0x1"][..], "cannot read"),
        (&["symbolize", "-e", "/etc/hostname", "0x1"][..], "not a readable ELF"),
        (&["symbolize", "-e", support::cperf_path(), "main"][..], "not a hex address"),
        (&["symbolize", "0x1"][..], "-e FILE"),
        (&["symbolize", "--pid", "999999999", "0x1"][..], "no such process"),
    ] {
        let out = cperf().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// Function names come from the files of the process being symbolized (a container's): a name with
/// a newline, ESC and a C1 control is printed escaped, one answer still two lines, and JSON keeps it
/// exact with every control character escaped.
#[test]
fn hostile_function_names_are_escaped() {
    let scratch = support::Scratch::new("symbolize-hostile");
    let src = scratch.path("evil.c");
    std::fs::write(
        &src,
        "int cperf_evil(int x) { return x * 3 + 1; }\nint main(void) { return cperf_evil(2); }\n",
    )
    .unwrap();
    let bin = scratch.path("evil");
    support::run_ok(Command::new("cc").args(["-O1", "-g0", "-o"]).arg(&bin).arg(&src));
    let evil = "evil\n\x1b[2J\u{9b}name";
    support::run_ok(Command::new("objcopy").arg(format!("--redefine-sym=cperf_evil={evil}")).arg(&bin));
    let nm = support::run_ok(Command::new("nm").arg(&bin));
    let nm = String::from_utf8_lossy(&nm.stdout);
    // nm prints the name as it is: its newline ends the line that holds the address.
    let at = nm.find(evil).unwrap_or_else(|| panic!("objcopy did not rename the function: {nm}"));
    let addr = nm[..at].rsplit('\n').next().and_then(|l| l.split(' ').next()).unwrap();

    let out = support::run_ok(cperf().args(["symbolize", "-f", "-e"]).arg(&bin).arg(addr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b') && !text.contains('\u{9b}'), "a raw control character: {text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one answer is a function line and a location line: {text:?}");
    assert_eq!(lines[0], "evil\\n\\e[2J\\u{9b}name");

    let out = support::run_ok(cperf().args(["symbolize", "--json", "-e"]).arg(&bin).arg(addr));
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(!json.contains('\x1b') && !json.contains('\u{9b}'), "a raw control character: {json:?}");
    let doc: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(doc["frames"][0]["function"], evil, "JSON keeps the name exact");
}
