//! User-space probes: `uprobe:/path:func` (entry) and `uretprobe:/path:func` (return) events, placed
//! with perf_event_open's uprobe PMU — its type and the `retprobe` bit of its config from
//! `/sys/bus/event_source/devices/uprobe`, the file in `config1` and the offset in `config2` — with
//! no tracefs writes.
//!
//! A spec names the file as the probed processes see it (inside their container). It is resolved
//! by whoever knows where that container's root is ([`Uprobe::resolve`]): the file opened safely
//! inside the root, and the function's file offset. The kernel is then given the opened file itself,
//! as `/proc/self/fd/<n>`, so it probes exactly that file — never a host file at the same path.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use crate::event::{Event, EventKind};

/// Where the uprobe PMU describes itself.
const PMU_DIR: &str = "/sys/bus/event_source/devices/uprobe";

/// A uprobe spec, resolved or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uprobe {
    /// The file, as the probed processes see it; or a bare name (`libc`, `nginx`), for the
    /// resolver to find among the files they have mapped ([`Uprobe::is_name`]).
    pub path: String,
    /// `func`, `func+0x10` or `0x1a2b` (a file offset).
    pub location: String,
    /// A return probe.
    pub retprobe: bool,
    resolved: Option<Resolved>,
}

/// A probe placed on an opened file.
#[derive(Debug, Clone)]
struct Resolved {
    file: Arc<OwnedFd>,
    /// `/proc/self/fd/<n>` for `file`.
    fd_path: Arc<CString>,
    offset: u64,
    pmu_type: u32,
    config: u64,
}

impl PartialEq for Resolved {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file) && self.offset == other.offset && self.config == other.config
    }
}

impl Eq for Resolved {}

/// The `perf_event_attr` fields of a resolved uprobe.
#[derive(Debug, Clone, Copy)]
pub struct AttrFields<'a> {
    /// The PMU's type.
    pub pmu_type: u32,
    /// 0, or the `retprobe` bit.
    pub config: u64,
    /// The file, as a path the kernel resolves to exactly it (goes in `config1`).
    pub path: &'a CString,
    /// The file offset (goes in `config2`).
    pub offset: u64,
}

/// Why a probe cannot be placed.
#[derive(Debug, thiserror::Error)]
pub enum UprobeError {
    /// The kernel has no uprobe PMU.
    #[error("this kernel has no uprobe PMU ({PMU_DIR}: {0}); uprobes need Linux 4.17 or later with CONFIG_UPROBE_EVENTS")]
    NoPmu(String),
}

impl Uprobe {
    /// Parses `uprobe:PATH:LOCATION` or `uretprobe:PATH:LOCATION`; `None` for any other spec.
    pub fn parse(spec: &str) -> Option<Result<Uprobe, String>> {
        let (retprobe, rest) = if let Some(rest) = spec.strip_prefix("uretprobe:") {
            (true, rest)
        } else {
            (false, spec.strip_prefix("uprobe:")?)
        };
        let usage = || {
            format!(
                "'{spec}': give the file as the container sees it (or a library or program name) and the function: \
                 uprobe:/usr/lib/libfoo.so:func, uprobe:libfoo:func (func+0x10, or a file offset 0x1a2b)"
            )
        };
        // The path ends at its first colon: a C++ or Rust function's `::` stays in the location.
        let Some((path, location)) = rest.split_once(':') else { return Some(Err(usage())) };
        let is_name = !path.is_empty() && !path.contains('/');
        if !(path.starts_with('/') || is_name) || location.is_empty() || path.contains('\0') {
            return Some(Err(usage()));
        }
        Some(Ok(Uprobe { path: path.to_owned(), location: location.to_owned(), retprobe, resolved: None }))
    }

    /// True when [`Uprobe::path`] is a bare name (`libc`), not a path.
    pub fn is_name(&self) -> bool {
        !self.path.starts_with('/')
    }

    /// The event's name: the spec.
    pub fn name(&self) -> String {
        format!("{}:{}:{}", if self.retprobe { "uretprobe" } else { "uprobe" }, self.path, self.location)
    }

    /// The event.
    pub fn into_event(self) -> Event {
        Event { name: self.name(), kind: EventKind::Uprobe(self) }
    }

    /// This probe placed at `offset` in `file` (the file at [`Uprobe::path`], opened inside the
    /// probed processes' root).
    pub fn resolve(&self, file: OwnedFd, offset: u64) -> Result<Uprobe, UprobeError> {
        let (pmu_type, retprobe_bit) = pmu()?;
        let fd_path = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .expect("a formatted number has no NUL");
        let config = if self.retprobe { 1u64 << retprobe_bit } else { 0 };
        let resolved =
            Resolved { file: Arc::new(file), fd_path: Arc::new(fd_path), offset, pmu_type, config };
        Ok(Uprobe { resolved: Some(resolved), ..self.clone() })
    }

    /// The `perf_event_attr` fields, once resolved.
    pub fn attr_fields(&self) -> Option<AttrFields<'_>> {
        self.resolved.as_ref().map(|r| AttrFields {
            pmu_type: r.pmu_type,
            config: r.config,
            path: &r.fd_path,
            offset: r.offset,
        })
    }

    /// The file offset probed, once resolved.
    pub fn offset(&self) -> Option<u64> {
        self.resolved.as_ref().map(|r| r.offset)
    }
}

/// Puts a resolved probe's file and offset into `attr` (`config1`, `config2`); nothing for other
/// events. `config1` then points into `event`, which must outlive every use of `attr`.
pub(crate) fn set_attr(event: &Event, attr: &mut crate::sys::perf::perf_event_attr) {
    if let Some(fields) = event.uprobe().and_then(Uprobe::attr_fields) {
        attr.__bindgen_anon_3.uprobe_path = fields.path.as_ptr() as u64;
        attr.__bindgen_anon_4.probe_offset = fields.offset;
    }
}

/// The register a function's integer return value is in, as a `sample_regs_user` mask and its
/// name: `PERF_REG_X86_AX`, `PERF_REG_ARM64_X0`, `PERF_REG_RISCV_A0`; `None` on other machines.
pub fn return_register() -> Option<(u64, &'static str)> {
    if cfg!(target_arch = "x86_64") {
        Some((1 << 0, "rax"))
    } else if cfg!(target_arch = "aarch64") {
        Some((1 << 0, "x0"))
    } else if cfg!(target_arch = "riscv64") {
        Some((1 << 10, "a0"))
    } else {
        None
    }
}

/// The uprobe PMU's type and the bit of `config` that makes a return probe.
pub fn pmu() -> Result<(u32, u32), UprobeError> {
    let read = |file: &str| {
        std::fs::read_to_string(Path::new(PMU_DIR).join(file)).map_err(|e| UprobeError::NoPmu(e.to_string()))
    };
    let pmu_type = read("type")?.trim().parse().map_err(|_| UprobeError::NoPmu("bad type".into()))?;
    // `config:0`: the bit number after the colon.
    let format = read("format/retprobe")?;
    let bit = format
        .trim()
        .strip_prefix("config:")
        .and_then(|b| b.parse().ok())
        .filter(|&b: &u32| b < 64)
        .ok_or_else(|| UprobeError::NoPmu(format!("unexpected retprobe format '{}'", format.trim())))?;
    Ok((pmu_type, bit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let u = Uprobe::parse("uprobe:/usr/lib/libzk.so.2:zoo_set2").unwrap().unwrap();
        assert_eq!(
            (u.path.as_str(), u.location.as_str(), u.retprobe),
            ("/usr/lib/libzk.so.2", "zoo_set2", false)
        );
        assert_eq!(u.name(), "uprobe:/usr/lib/libzk.so.2:zoo_set2");
        let r = Uprobe::parse("uretprobe:/bin/app:main+0x10").unwrap().unwrap();
        assert!(r.retprobe);
        assert_eq!(r.location, "main+0x10");
        assert!(Uprobe::parse("syscalls:sys_enter_read").is_none());
        let cxx = Uprobe::parse("uprobe:/bin/app:ns::f(int, char)").unwrap().unwrap();
        assert_eq!((cxx.path.as_str(), cxx.location.as_str()), ("/bin/app", "ns::f(int, char)"));
        let n = Uprobe::parse("uprobe:libc:malloc").unwrap().unwrap();
        assert!(n.is_name() && !u.is_name());
        assert_eq!((n.path.as_str(), n.location.as_str()), ("libc", "malloc"));
        for bad in
            ["uprobe:relative/path:f", "uprobe:/bin/app", "uprobe:/bin/app:", "uretprobe:", "uprobe::f"]
        {
            let e = Uprobe::parse(bad).unwrap().unwrap_err();
            assert!(e.contains("uprobe:/usr/lib/libfoo.so:func"), "{bad}: {e}");
        }
        assert!(u.attr_fields().is_none(), "not resolved yet");
    }

    #[test]
    fn this_kernels_pmu() {
        match pmu() {
            Ok((pmu_type, bit)) => {
                assert!(pmu_type > 5, "a dynamic PMU type: {pmu_type}");
                assert!(bit < 64);
            }
            Err(e) => {
                assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "{e}");
                eprintln!("skipped: {e}");
            }
        }
    }
}
