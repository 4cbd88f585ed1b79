//! Compiles the BPF programs in `bpf/` with clang when the `bpf` feature is on.
//!
//! Only Debian's `clang` and `libbpf-dev` (for `bpf/bpf_helpers.h`) are needed: no kernel headers, no
//! vmlinux.h; the kernel structs the programs read are declared in the C sources and relocated at load
//! time against the running kernel's BTF (CO-RE). Set `CLANG` to use another compiler.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The programs, in `bpf/<name>.bpf.c`.
const PROGRAMS: [&str; 2] = ["syscount", "runqlat"];

fn main() {
    for name in PROGRAMS {
        println!("cargo:rerun-if-changed=bpf/{name}.bpf.c");
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let bpf = std::env::var_os("CARGO_FEATURE_BPF").is_some();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if !bpf || arch != "x86_64" {
        return;
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    for name in PROGRAMS {
        compile(&clang, name, &out_dir);
    }
}

/// `bpf/<name>.bpf.c` to `$OUT_DIR/<name>.bpf.o`.
fn compile(clang: &str, name: &str, out_dir: &Path) {
    let source = format!("bpf/{name}.bpf.c");
    let object = out_dir.join(format!("{name}.bpf.o"));
    let result = Command::new(clang)
        .args(["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall", "-Werror"])
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&object)
        .output();
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "\n\nThe `bpf` feature (on by default) compiles BPF programs with clang, which was not found.\n\
             Install it with: apt-get install clang libbpf-dev\n\
             or build without BPF: cargo build --no-default-features\n\n"
        ),
        Err(e) => panic!("running {clang}: {e}"),
        Ok(out) if !out.status.success() => panic!(
            "\n\n{clang} failed to compile {source}:\n{}\n\
             If bpf/bpf_helpers.h is missing: apt-get install libbpf-dev\n\n",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {}
    }
}
