//! A real distribution root for the tests: Debian 12 (bookworm) built with debootstrap, whose `python3`
//! and `xz` are Debian's own stripped binaries without frame pointers.
//!
//! Built once per target directory, at `<target>/debian-root/bookworm`, by
//! `tests/support/build-debian-root.sh` (the same script `.ci/run` runs before the tests, so no test
//! waits for it there): under a lock, into a temporary directory renamed when complete.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{run_ok, target_dir, tool_available};

/// The bookworm root, built if missing (about a minute); `None` (a skip) when debootstrap is missing
/// and `CPERF_REQUIRE_PRIVILEGED` is not 1.
pub fn bookworm_root() -> Option<PathBuf> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = target_dir().join("debian-root/bookworm");
        if !dir.is_dir() {
            if !tool_available("debootstrap", "building a Debian root for the unwinding tests") {
                return None;
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/build-debian-root.sh");
            run_ok(Command::new("sh").arg(script).arg(&dir));
        }
        Some(dir)
    })
    .clone()
}
