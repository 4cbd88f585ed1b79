//! Integration tests of `cperf symbolize`: the same names and lines as binutils' `addr2line -f -i -C`
//! on cperf's own debug build, runtime addresses of a process in a runc container resolved inside the
//! container (never through the host's file of the same path), JSON, and bad input.

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

/// Runs a symbolizer over addresses given on stdin, one hex address per line.
fn over_stdin(cmd: &mut Command, addrs: &[u64]) -> String {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Function names and file:line for function starts and interiors of cperf's own debug build (Rust,
/// heavy inlining, full DWARF) equal binutils', frame for frame. Discriminators, which cperf does not
/// print, are left out of binutils' lines.
#[test]
fn names_and_lines_equal_addr2line_on_a_large_binary() {
    let binary = Path::new(support::cperf_path());
    let symbols = function_symbols(binary, 1500);
    let mut addrs: Vec<u64> = symbols.iter().map(|&(a, _)| a).collect();
    addrs.extend(symbols.iter().filter(|&&(_, s)| s > 2).map(|&(a, s)| a + s / 2));
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
