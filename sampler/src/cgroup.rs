//! cgroup v2: finding the mount, a process's cgroup, and reading `cpu.stat`, `cpu.max` and
//! `cgroup.procs`.
//!
//! Nothing here assumes where cgroup2 is mounted: [`cgroup2_mount`] reads `/proc/self/mountinfo`
//! (on a hybrid host it is `/sys/fs/cgroup/unified`, on a unified one `/sys/fs/cgroup`). Cgroups are
//! named by their path relative to that mount, starting with `/` (the form `/proc/<pid>/cgroup` uses).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Why a cgroup fact could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No cgroup2 filesystem appears in mountinfo.
    #[error("no cgroup2 filesystem is mounted (none in /proc/self/mountinfo); as root run: mount -t cgroup2 none /sys/fs/cgroup")]
    NotMounted,
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but did not look as the kernel writes it.
    #[error("unexpected contents in {path}: {what}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// The process does not exist (any more).
    #[error("process {pid} does not exist (it may have exited); check the pid with `ps -p {pid}`")]
    NoSuchProcess {
        /// The pid asked about.
        pid: u32,
    },
    /// The process's cgroup file has no cgroup v2 (`0::`) line.
    #[error("process {pid} has no cgroup v2 entry (`0::`) in /proc/{pid}/cgroup; is cgroup2 mounted?")]
    NoUnifiedCgroup {
        /// The pid asked about.
        pid: u32,
    },
}

impl CgroupError {
    fn read(path: &Path, source: std::io::Error) -> Self {
        CgroupError::Read { path: path.to_path_buf(), source }
    }
}

/// The cgroup2 mount point of this mount namespace, from `/proc/self/mountinfo`.
pub fn cgroup2_mount() -> Result<PathBuf, CgroupError> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|e| CgroupError::read(path, e))?;
    parse_cgroup2_mount(&text).ok_or(CgroupError::NotMounted)
}

/// The cgroup2 mount point named by a mountinfo text: the `cgroup2` mount with the shortest path (the
/// first one on a tie), octal escapes (`\040`) undone. `None` if there is none.
pub fn parse_cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    crate::mountinfo::parse(mountinfo)
        .into_iter()
        .filter(|m| m.fstype == "cgroup2")
        .map(|m| m.mount_point)
        .min_by_key(|p| p.as_os_str().len())
}

/// The cgroup v2 path of process `pid` (relative to the cgroup2 root, starting with `/`).
pub fn cgroup_of_pid(pid: u32) -> Result<String, CgroupError> {
    cgroup_of_pid_in(Path::new("/proc"), pid)
}

/// Like [`cgroup_of_pid`], with procfs mounted at `proc` instead of `/proc`.
pub fn cgroup_of_pid_in(proc: &Path, pid: u32) -> Result<String, CgroupError> {
    let path = proc.join(pid.to_string()).join("cgroup");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            return Err(CgroupError::NoSuchProcess { pid })
        }
        Err(e) => return Err(CgroupError::read(&path, e)),
    };
    parse_proc_cgroup(&text).ok_or(CgroupError::NoUnifiedCgroup { pid })
}

/// The path on the `0::` line of a `/proc/<pid>/cgroup` text, if there is one.
///
/// A process in a cgroup that was removed shows ` (deleted)` after the path; that suffix is kept,
/// so such a path names no directory.
pub fn parse_proc_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|line| line.strip_prefix("0::")).filter(|p| p.starts_with('/')).map(str::to_owned)
}

/// CPU time a cgroup used, from its `cpu.stat` (microseconds and counts since the cgroup was made).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CpuStat {
    /// Total CPU time.
    pub usage_usec: u64,
    /// CPU time in user mode.
    pub user_usec: u64,
    /// CPU time in kernel mode.
    pub system_usec: u64,
    /// Bandwidth-control periods that have elapsed with runnable tasks (0 without the cpu controller).
    pub nr_periods: u64,
    /// Periods in which the cgroup was throttled (0 without the cpu controller).
    pub nr_throttled: u64,
    /// Total time throttled (0 without the cpu controller).
    pub throttled_usec: u64,
    /// True when the throttling fields were present (the cpu controller is enabled for this cgroup).
    pub throttling_known: bool,
}

impl CpuStat {
    /// Reads `<dir>/cpu.stat`. Keys that are absent count as 0: without the cpu controller enabled in
    /// the parent only `usage_usec`, `user_usec` and `system_usec` exist.
    pub fn read(dir: &Path) -> Result<CpuStat, CgroupError> {
        let path = dir.join("cpu.stat");
        let text = std::fs::read_to_string(&path).map_err(|e| CgroupError::read(&path, e))?;
        Self::parse(&text).map_err(|what| CgroupError::Parse { path, what })
    }

    /// Parses the text of a `cpu.stat` file; unknown keys are ignored.
    pub fn parse(text: &str) -> Result<CpuStat, String> {
        let mut stat = CpuStat::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(' ') else { continue };
            let field = match key {
                "usage_usec" => &mut stat.usage_usec,
                "user_usec" => &mut stat.user_usec,
                "system_usec" => &mut stat.system_usec,
                "nr_periods" => {
                    stat.throttling_known = true;
                    &mut stat.nr_periods
                }
                "nr_throttled" => &mut stat.nr_throttled,
                "throttled_usec" => &mut stat.throttled_usec,
                _ => continue,
            };
            *field = value.trim().parse().map_err(|_| format!("`{key}` is not a number: `{value}`"))?;
        }
        Ok(stat)
    }

    /// What was used between `earlier` and `self`, field by field (never below zero).
    pub fn delta(&self, earlier: &CpuStat) -> CpuStat {
        CpuStat {
            usage_usec: self.usage_usec.saturating_sub(earlier.usage_usec),
            user_usec: self.user_usec.saturating_sub(earlier.user_usec),
            system_usec: self.system_usec.saturating_sub(earlier.system_usec),
            nr_periods: self.nr_periods.saturating_sub(earlier.nr_periods),
            nr_throttled: self.nr_throttled.saturating_sub(earlier.nr_throttled),
            throttled_usec: self.throttled_usec.saturating_sub(earlier.throttled_usec),
            throttling_known: self.throttling_known && earlier.throttling_known,
        }
    }
}

/// Where a container's CPU usage, throttling and limit are read from.
///
/// Usage always comes from the cgroup v2 directory's `cpu.stat`. Throttling and the limit come from it
/// too when the cpu controller is enabled there; on hybrid hosts, where the cpu controller sits on a
/// cgroup v1 hierarchy, they come from the container's v1 `cpu` cgroup (`cpu.stat`,
/// `cpu.cfs_quota_us`), found through one of its processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuSource {
    v2_dir: PathBuf,
    v1_cpu_dir: Option<PathBuf>,
}

impl CpuSource {
    /// The source for the cgroup v2 directory `v2_dir`; `pid` (any process of the container) is used
    /// to find its v1 `cpu` cgroup when the v2 one has no throttling data.
    pub fn new(v2_dir: &Path, pid: Option<u32>) -> CpuSource {
        let v2_has_controller = v2_dir.join("cpu.max").exists();
        let v1_cpu_dir = match pid {
            Some(pid) if !v2_has_controller => v1_cpu_dir_of(pid, &crate::mountinfo::read()),
            _ => None,
        };
        CpuSource { v2_dir: v2_dir.to_path_buf(), v1_cpu_dir }
    }

    /// The v1 `cpu` cgroup directory used for throttling, if any.
    pub fn v1_cpu_dir(&self) -> Option<&Path> {
        self.v1_cpu_dir.as_deref()
    }

    /// Current totals.
    pub fn read(&self) -> Result<CpuStat, CgroupError> {
        let mut stat = CpuStat::read(&self.v2_dir)?;
        if !stat.throttling_known {
            if let Some(dir) = &self.v1_cpu_dir {
                let path = dir.join("cpu.stat");
                let text = std::fs::read_to_string(&path).map_err(|e| CgroupError::read(&path, e))?;
                let v1 = parse_v1_cpu_stat(&text).map_err(|what| CgroupError::Parse { path, what })?;
                stat.nr_periods = v1.nr_periods;
                stat.nr_throttled = v1.nr_throttled;
                stat.throttled_usec = v1.throttled_usec;
                stat.throttling_known = true;
            }
        }
        Ok(stat)
    }

    /// The CPU limit in CPUs, if any.
    pub fn limit(&self) -> Result<Option<f64>, CgroupError> {
        if let Some(limit) = cpu_limit(&self.v2_dir)? {
            return Ok(Some(limit));
        }
        let Some(dir) = &self.v1_cpu_dir else { return Ok(None) };
        let read = |name: &str| -> Result<i64, CgroupError> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| CgroupError::read(&path, e))?;
            text.trim()
                .parse()
                .map_err(|_| CgroupError::Parse { path, what: format!("not a number: `{}`", text.trim()) })
        };
        let quota = read("cpu.cfs_quota_us")?;
        let period = read("cpu.cfs_period_us")?;
        Ok((quota > 0 && period > 0).then(|| quota as f64 / period as f64))
    }
}

/// Parses a cgroup v1 `cpu.stat` (`nr_periods`, `nr_throttled`, `throttled_time` in ns).
pub fn parse_v1_cpu_stat(text: &str) -> Result<CpuStat, String> {
    let mut stat = CpuStat { throttling_known: true, ..CpuStat::default() };
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else { continue };
        let parsed =
            || value.trim().parse::<u64>().map_err(|_| format!("`{key}` is not a number: `{value}`"));
        match key {
            "nr_periods" => stat.nr_periods = parsed()?,
            "nr_throttled" => stat.nr_throttled = parsed()?,
            "throttled_time" => stat.throttled_usec = parsed()? / 1000,
            _ => {}
        }
    }
    Ok(stat)
}

/// The v1 `cpu` controller directory of `pid`, from `/proc/<pid>/cgroup` and the mount table.
fn v1_cpu_dir_of(pid: u32, mounts: &[crate::mountinfo::Mount]) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    v1_cpu_dir_from(&text, mounts).filter(|d| d.join("cpu.stat").is_file())
}

/// Pure part of `v1_cpu_dir_of`: the `N:…cpu…:/path` line joined to the v1 mount holding `cpu`.
pub fn v1_cpu_dir_from(proc_cgroup: &str, mounts: &[crate::mountinfo::Mount]) -> Option<PathBuf> {
    let has_cpu = |list: &str| list.split(',').any(|c| c == "cpu");
    let path = proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        has_cpu(controllers).then_some(path)
    })?;
    let mount = mounts.iter().find(|m| m.fstype == "cgroup" && has_cpu(&m.super_options))?;
    let relative = Path::new(path).strip_prefix(&mount.root).ok()?;
    if relative.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return None;
    }
    Some(mount.mount_point.join(relative))
}

/// The CPU limit of a cgroup in CPUs, from `<dir>/cpu.max` (`50000 100000` is 0.5).
///
/// `None` when there is no limit (`max …`) or no `cpu.max` file (the cpu controller is not enabled
/// for this cgroup, so nothing limits it).
pub fn cpu_limit(dir: &Path) -> Result<Option<f64>, CgroupError> {
    let path = dir.join("cpu.max");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CgroupError::read(&path, e)),
    };
    parse_cpu_max(&text).map_err(|what| CgroupError::Parse { path, what })
}

/// Parses the text of a `cpu.max` file (`<quota|max> <period>`) into CPUs.
pub fn parse_cpu_max(text: &str) -> Result<Option<f64>, String> {
    let mut fields = text.split_whitespace();
    let (Some(quota), Some(period)) = (fields.next(), fields.next()) else {
        return Err(format!("expected `<quota> <period>`, got `{}`", text.trim()));
    };
    let period: u64 = period.parse().map_err(|_| format!("period `{period}` is not a number"))?;
    if quota == "max" {
        return Ok(None);
    }
    let quota: u64 = quota.parse().map_err(|_| format!("quota `{quota}` is not a number or `max`"))?;
    if period == 0 {
        return Err("period is 0".to_owned());
    }
    Ok(Some(quota as f64 / period as f64))
}

/// The processes in the cgroup at `dir` (from `cgroup.procs`), and with `recursive` those of every
/// cgroup below it; sorted, without duplicates.
///
/// Child cgroups that disappear during the walk, and threaded children (whose `cgroup.procs` cannot be
/// read), are skipped.
pub fn procs(dir: &Path, recursive: bool) -> Result<Vec<u32>, CgroupError> {
    let mut pids = read_procs(dir)?;
    if recursive {
        let mut stack = child_dirs(dir)?;
        while let Some(child) = stack.pop() {
            match read_procs(&child) {
                Ok(more) => pids.extend(more),
                Err(CgroupError::Read { source, .. }) if vanished_or_threaded(&source) => continue,
                Err(e) => return Err(e),
            }
            match child_dirs(&child) {
                Ok(children) => stack.extend(children),
                Err(CgroupError::Read { source, .. }) if vanished_or_threaded(&source) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

fn vanished_or_threaded(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound
        || e.raw_os_error() == Some(libc::ENODEV)
        || e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

fn read_procs(dir: &Path) -> Result<Vec<u32>, CgroupError> {
    let path = dir.join("cgroup.procs");
    let text = std::fs::read_to_string(&path).map_err(|e| CgroupError::read(&path, e))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.trim()
                .parse()
                .map_err(|_| CgroupError::Parse { path: path.clone(), what: format!("`{l}` is not a pid") })
        })
        .collect()
}

/// The cgroups directly below `dir`.
pub(crate) fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CgroupError::read(dir, e))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_cpu_cgroup_of_a_hybrid_host() {
        let mounts = crate::mountinfo::parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             33 31 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n",
        );
        let proc_cgroup = "3:cpuset:/x\n2:cpu,cpuacct:/docker/abc\n0::/system.slice/docker-abc.scope\n";
        assert_eq!(
            v1_cpu_dir_from(proc_cgroup, &mounts),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/docker/abc"))
        );
        assert_eq!(v1_cpu_dir_from("0::/x\n", &mounts), None);
        assert_eq!(v1_cpu_dir_from("1:cpuset:/x\n", &mounts), None);
    }

    #[test]
    fn v1_cpu_stat_in_microseconds() {
        let s = parse_v1_cpu_stat("nr_periods 20\nnr_throttled 3\nthrottled_time 41000000\nnr_bursts 0\n")
            .unwrap();
        assert_eq!(
            (s.nr_periods, s.nr_throttled, s.throttled_usec, s.throttling_known),
            (20, 3, 41_000, true)
        );
    }

    #[test]
    fn v2_cpu_stat_without_controller_has_no_throttling() {
        let s = CpuStat::parse("usage_usec 10\nuser_usec 6\nsystem_usec 4\n").unwrap();
        assert!(!s.throttling_known);
        let s = CpuStat::parse("usage_usec 10\nnr_periods 5\nnr_throttled 1\nthrottled_usec 7\n").unwrap();
        assert!(s.throttling_known);
    }

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const UNIFIED: &str = "\
22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn finds_cgroup2_in_hybrid_mode() {
        assert_eq!(parse_cgroup2_mount(HYBRID), Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn finds_cgroup2_in_unified_mode_with_optional_fields() {
        assert_eq!(parse_cgroup2_mount(UNIFIED), Some(PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn picks_shortest_cgroup2_mount_and_first_on_tie() {
        let m = "\
50 1 0:40 / /run/my\\040cgroups/deep rw - cgroup2 cgroup2 rw
51 1 0:40 / /run/my\\040cg rw - cgroup2 cgroup2 rw
52 1 0:40 / /run/my\\040cx rw - cgroup2 cgroup2 rw
";
        assert_eq!(parse_cgroup2_mount(m), Some(PathBuf::from("/run/my cg")));
    }

    #[test]
    fn no_cgroup2_is_none() {
        assert_eq!(parse_cgroup2_mount("31 23 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"), None);
        assert_eq!(parse_cgroup2_mount("garbage\n\n - \n"), None);
    }

    #[test]
    fn proc_cgroup_line() {
        let hybrid = "9:name=systemd:/probe1\n4:memory:/process_api/f5d0\n0::/probe1\n";
        assert_eq!(parse_proc_cgroup(hybrid).as_deref(), Some("/probe1"));
        assert_eq!(parse_proc_cgroup("0::/\n").as_deref(), Some("/"));
        assert_eq!(parse_proc_cgroup("1:cpu:/x\n"), None);
    }

    #[test]
    fn cpu_stat_without_cpu_controller() {
        let s = CpuStat::parse("usage_usec 4632\nuser_usec 4000\nsystem_usec 632\nnice_usec 0\n").unwrap();
        assert_eq!(s, CpuStat { usage_usec: 4632, user_usec: 4000, system_usec: 632, ..Default::default() });
    }

    #[test]
    fn cpu_stat_with_cpu_controller() {
        let text = "usage_usec 10\nuser_usec 6\nsystem_usec 4\ncore_sched.force_idle_usec 0\nnr_periods 7\n\
                    nr_throttled 2\nthrottled_usec 300\nnr_bursts 0\nburst_usec 0\n";
        let s = CpuStat::parse(text).unwrap();
        assert_eq!((s.nr_periods, s.nr_throttled, s.throttled_usec), (7, 2, 300));
        assert!(CpuStat::parse("usage_usec lots\n").is_err());
    }

    #[test]
    fn cpu_stat_delta_saturates() {
        let a = CpuStat { usage_usec: 100, user_usec: 60, nr_periods: 5, ..Default::default() };
        let b = CpuStat { usage_usec: 150, user_usec: 50, nr_periods: 9, ..Default::default() };
        let d = b.delta(&a);
        assert_eq!((d.usage_usec, d.user_usec, d.nr_periods), (50, 0, 4));
    }

    #[test]
    fn cpu_max() {
        assert_eq!(parse_cpu_max("max 100000\n"), Ok(None));
        assert_eq!(parse_cpu_max("50000 100000\n"), Ok(Some(0.5)));
        assert_eq!(parse_cpu_max("200000 100000"), Ok(Some(2.0)));
        assert!(parse_cpu_max("50000 0").is_err());
        assert!(parse_cpu_max("").is_err());
        assert!(parse_cpu_max("x 100000").is_err());
    }

    #[test]
    fn missing_cpu_max_is_no_limit() {
        assert_eq!(cpu_limit(Path::new("/nonexistent-cperf-dir")).unwrap(), None);
    }

    #[test]
    fn procs_of_a_plain_directory_tree() {
        let dir = std::env::temp_dir().join(format!("cperf-procs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("cgroup.procs"), "5\n3\n").unwrap();
        std::fs::write(dir.join("a/cgroup.procs"), "3\n9\n").unwrap();
        std::fs::write(dir.join("a/b/cgroup.procs"), "").unwrap();
        assert_eq!(procs(&dir, false).unwrap(), vec![3, 5]);
        assert_eq!(procs(&dir, true).unwrap(), vec![3, 5, 9]);
        std::fs::write(dir.join("a/cgroup.procs"), "x\n").unwrap();
        assert!(matches!(procs(&dir, true), Err(CgroupError::Parse { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
