//! `/proc/<pid>/maps`: the mappings of processes that were already running when recording started
//! (the kernel only reports new ones as MMAP2 records), as perf synthesizes them.

/// One line of `/proc/<pid>/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// Start address.
    pub start: u64,
    /// End address (exclusive).
    pub end: u64,
    /// `r`, `w`, `x` and `p`/`s` as four characters.
    pub perms: [u8; 4],
    /// File offset of `start`.
    pub offset: u64,
    /// Major device number.
    pub maj: u32,
    /// Minor device number.
    pub min: u32,
    /// Inode.
    pub inode: u64,
    /// The path (as the process sees it), `[vdso]`, `[heap]`, …, or empty for anonymous memory. A
    /// file deleted since it was mapped ends in ` (deleted)`.
    pub path: Vec<u8>,
}

impl MapEntry {
    /// True for executable mappings, the ones samples can point into.
    pub fn executable(&self) -> bool {
        self.perms[2] == b'x'
    }
}

/// Parses a maps text; malformed lines are skipped.
pub fn parse(text: &[u8]) -> Vec<MapEntry> {
    text.split(|&b| b == b'\n').filter_map(parse_line).collect()
}

fn parse_line(line: &[u8]) -> Option<MapEntry> {
    // start-end perms offset maj:min inode   path
    let mut fields = line.splitn(6, |&b| b == b' ');
    let range = std::str::from_utf8(fields.next()?).ok()?;
    let (start, end) = range.split_once('-')?;
    let (start, end) = (u64::from_str_radix(start, 16).ok()?, u64::from_str_radix(end, 16).ok()?);
    let perms: [u8; 4] = fields.next()?.try_into().ok()?;
    let offset = u64::from_str_radix(std::str::from_utf8(fields.next()?).ok()?, 16).ok()?;
    let dev = std::str::from_utf8(fields.next()?).ok()?;
    let (maj, min) = dev.split_once(':')?;
    let (maj, min) = (u32::from_str_radix(maj, 16).ok()?, u32::from_str_radix(min, 16).ok()?);
    let inode = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let path = fields.next().map(|p| p.trim_ascii_start().to_vec()).unwrap_or_default();
    (start < end).then_some(MapEntry { start, end, perms, offset, maj, min, inode, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_anonymous_and_special_mappings() {
        let m = parse(
            b"55d0c0a00000-55d0c0a21000 r-xp 00002000 08:01 1311  /usr/bin/my app\n\
              7ffd1000-7ffd3000 rw-p 00000000 00:00 0 \n\
              7fff0000-7fff2000 r-xp 00000000 00:00 0                          [vdso]\n\
              7f00-7f10 r-xp 00000000 08:01 99 /tmp/x.so (deleted)\n\
              bad line\n\
              20-10 r-xp 0 0:0 0 /backwards\n",
        );
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].start, m[0].offset, m[0].inode), (0x55d0c0a00000, 0x2000, 1311));
        assert_eq!(m[0].path, b"/usr/bin/my app");
        assert!(m[0].executable() && !m[1].executable());
        assert_eq!(m[1].path, b"");
        assert_eq!(m[2].path, b"[vdso]");
        assert_eq!(m[3].path, b"/tmp/x.so (deleted)");
    }

    #[test]
    fn own_maps_include_this_executable() {
        let text = std::fs::read("/proc/self/maps").unwrap();
        let me = std::fs::read_link("/proc/self/exe").unwrap();
        let m = parse(&text);
        assert!(m.iter().any(|e| e.executable() && e.path == me.as_os_str().as_encoded_bytes()), "{m:?}");
    }
}
