//! Parsing `/proc/self/mountinfo`: where tracefs and the cgroup hierarchies are mounted. Nothing is
//! assumed about mount points; every lookup in cperf goes through here.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One mount, with the fields cperf needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The path inside the filesystem that is mounted (`/` for a whole filesystem).
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `tracefs`, `cgroup2`, `cgroup`, …
    pub fstype: String,
    /// Per-superblock options, e.g. `rw,cpu,cpuacct` for a cgroup v1 hierarchy.
    pub super_options: String,
}

/// Reads this process's mount table; empty if it cannot be read.
pub fn read() -> Vec<Mount> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|t| parse(&t)).unwrap_or_default()
}

/// Parses a mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    let (left, right) = line.split_once(" - ")?;
    let mut left = left.split(' ');
    let root = left.nth(3)?;
    let mount_point = left.next()?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let _source = right.next();
    let super_options = right.next().unwrap_or("");
    Some(Mount {
        root: unescape_octal(root),
        mount_point: unescape_octal(mount_point),
        fstype: fstype.to_owned(),
        super_options: super_options.to_owned(),
    })
}

/// Undoes mountinfo's `\NNN` octal escapes (space, tab, newline, backslash), byte-exact.
fn unescape_octal(s: &str) -> PathBuf {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(digits) = bytes.get(i + 1..i + 4) {
                if digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
                    let v = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                    if let Ok(b) = u8::try_from(v) {
                        out.push(b);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n\
             50 1 0:40 /sub /mnt/a\\040b rw - tmpfs tmpfs rw\n\
             garbage\n",
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].fstype, "cgroup");
        assert_eq!(m[0].super_options, "rw,cpu");
        assert_eq!(m[1].mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m[1].fstype, "cgroup2");
        assert_eq!(m[2].root, PathBuf::from("/sub"));
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/a b"));
    }

    #[test]
    fn unescape_keeps_non_utf8_and_stray_backslashes() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(unescape_octal(r"/a\377b").as_os_str().as_bytes(), b"/a\xffb");
        assert_eq!(unescape_octal(r"/a\9\"), PathBuf::from(r"/a\9\"));
        assert_eq!(unescape_octal(r"/a\134b"), PathBuf::from(r"/a\b"));
    }

    #[test]
    fn unescape_keeps_unknown_backslashes() {
        assert_eq!(unescape_octal(r"/x\\"), PathBuf::from(r"/x\\"));
        assert_eq!(unescape_octal(r"/x\0"), PathBuf::from(r"/x\0"));
    }
}
