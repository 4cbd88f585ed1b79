//! Addresses from stdin, read as binutils' addr2line reads them — one per line, the hex number at
//! its start (`0x` optional, leading blanks skipped, reading stops at the first other character; a
//! line without one is address 0, answered `??`) — in batches: as many as are ready (up to a
//! limit), so that a file or a fast pipe is answered in large batches, which the symbolizer resolves
//! sorted, several times faster than small ones, while a caller that writes one address and waits
//! for its answer (addr2line used as a co-process) gets it at once.

use std::io::BufRead;

use anyhow::Context;

/// How much of a line cut by the end of a read is kept: far more than a number needs.
const KEPT: usize = 256;

/// Reads one address per line.
pub struct AddressReader<'a> {
    input: &'a mut dyn BufRead,
    /// Whether more input can be read without waiting.
    ready: &'a mut dyn FnMut() -> bool,
    /// The start of a line cut by the end of the last read (at most [`KEPT`] bytes).
    cut: Vec<u8>,
    /// Whether a line was cut (it may have been cut before any byte of it).
    in_line: bool,
    at_end: bool,
}

impl<'a> AddressReader<'a> {
    /// A reader over `input`; `ready` tells whether reading it now would not block.
    pub fn new(input: &'a mut dyn BufRead, ready: &'a mut dyn FnMut() -> bool) -> Self {
        AddressReader { input, ready, cut: Vec::new(), in_line: false, at_end: false }
    }

    /// Whether more input can be read now without waiting.
    pub fn input_ready(&mut self) -> bool {
        (self.ready)()
    }

    /// Fills `batch` (cleared first) with the next addresses: stops at `limit` (or a little past
    /// it: what one read brought), at the end of the input, or — once it holds some — when no more
    /// input is ready. Empty at the end of the input.
    pub fn next_batch(&mut self, batch: &mut Vec<u64>, limit: usize) -> anyhow::Result<()> {
        batch.clear();
        while !self.at_end && batch.len() < limit {
            if !batch.is_empty() && !(self.ready)() {
                break;
            }
            let buf = self.input.fill_buf().context("reading addresses from stdin")?;
            if buf.is_empty() {
                self.at_end = true;
                if self.in_line {
                    batch.push(scan_address(&self.cut));
                }
                break;
            }
            let len = buf.len();
            let mut lines = buf.split(|&b| b == b'\n');
            // `split` yields the text after the last newline last: a line still being written.
            let mut last = lines.next_back().unwrap_or_default();
            let mut first = true;
            for line in lines {
                if first && self.in_line {
                    keep(&mut self.cut, line);
                    batch.push(scan_address(&self.cut));
                    self.cut.clear();
                } else {
                    batch.push(scan_address(line));
                }
                first = false;
                self.in_line = false;
            }
            if !last.is_empty() || self.in_line {
                if first && !self.in_line {
                    self.cut.clear();
                }
                last = &last[..last.len().min(KEPT)];
                keep(&mut self.cut, last);
                self.in_line = true;
            }
            self.input.consume(len);
        }
        Ok(())
    }
}

/// Appends to a cut line, up to [`KEPT`] bytes in all.
fn keep(cut: &mut Vec<u8>, more: &[u8]) {
    let room = KEPT.saturating_sub(cut.len());
    cut.extend_from_slice(&more[..more.len().min(room)]);
}

/// The address at the start of a line, as binutils' `bfd_scan_vma` reads it: blanks skipped, an
/// optional `0x`, then hex digits up to the first other character (0 when there are none; the
/// low 64 bits of a longer number).
pub fn scan_address(line: &[u8]) -> u64 {
    let start = line.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r')).unwrap_or(line.len());
    let line = &line[start..];
    let digits = line.strip_prefix(b"0x").or_else(|| line.strip_prefix(b"0X")).unwrap_or(line);
    digits.iter().map_while(|&b| hex_digit(b)).fold(0u64, |value, digit| value << 4 | u64::from(digit))
}

/// A hex address typed on the command line: `0x` optional, nothing else around it (a typo is an
/// error here, where stdin gives `??` as addr2line does).
pub fn parse_address(word: &[u8]) -> anyhow::Result<u64> {
    let digits = word.strip_prefix(b"0x").or_else(|| word.strip_prefix(b"0X")).unwrap_or(word);
    let significant =
        digits.iter().position(|&b| b != b'0').map_or(&digits[digits.len()..], |i| &digits[i..]);
    if digits.is_empty() || significant.len() > 16 || !digits.iter().all(|&b| hex_digit(b).is_some()) {
        anyhow::bail!("'{}' is not a hex address (like 0x4011a6 or 4011a6)", String::from_utf8_lossy(word));
    }
    Ok(scan_address(digits))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_addresses_are_checked() {
        assert_eq!(parse_address(b"0x4011a6").unwrap(), 0x4011a6);
        assert_eq!(parse_address(b"4011A6").unwrap(), 0x4011a6);
        assert_eq!(parse_address(b"ffffffffffffffff").unwrap(), u64::MAX);
        assert_eq!(parse_address(b"0x000000000000000000004011a6").unwrap(), 0x4011a6);
        assert!(parse_address(b"main").is_err());
        assert!(parse_address(b"0x").is_err());
        assert!(parse_address(b"4011a6zz").is_err());
        assert!(parse_address(b"1ffffffffffffffff").is_err(), "more than 64 bits");
    }

    #[test]
    fn lines_are_scanned_as_bfd_scan_vma_does() {
        assert_eq!(scan_address(b"0x4012ce"), 0x4012ce);
        assert_eq!(scan_address(b"  \t4012CE"), 0x4012ce);
        assert_eq!(scan_address(b"0x4012ce 0x1"), 0x4012ce, "the first number of the line");
        assert_eq!(scan_address(b"4012cezz"), 0x4012ce);
        assert_eq!(scan_address(b"0x4012ce\r"), 0x4012ce);
        assert_eq!(scan_address(b"zz"), 0);
        assert_eq!(scan_address(b""), 0);
        assert_eq!(scan_address(b"0x0000000000000000004012ce"), 0x4012ce);
    }

    /// A reader that hands out its bytes in fixed-size pieces, to cut lines anywhere.
    struct Pieces<'a> {
        data: &'a [u8],
        size: usize,
    }

    impl std::io::Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.data.len().min(self.size).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn read_all(text: &[u8], size: usize, limit: usize) -> Vec<u64> {
        let mut input = std::io::BufReader::with_capacity(size, Pieces { data: text, size });
        let mut ready = || true;
        let mut reader = AddressReader::new(&mut input, &mut ready);
        let (mut all, mut batch) = (Vec::new(), Vec::new());
        loop {
            reader.next_batch(&mut batch, limit).unwrap();
            if batch.is_empty() {
                return all;
            }
            assert!(batch.len() < limit + size + 1, "at most the limit, plus what one read brought");
            all.extend_from_slice(&batch);
        }
    }

    #[test]
    fn lines_cut_by_reads_are_joined() {
        let text = b"0x10\n0x200 0x7\n  3000\n\nzz\n0x4000\n50000\n0x600000";
        for size in 1..=text.len() {
            assert_eq!(
                read_all(text, size, 4),
                [0x10, 0x200, 0x3000, 0, 0, 0x4000, 0x50000, 0x600000],
                "{size}"
            );
        }
        assert_eq!(read_all(b"0x10\n", 3, 4), [0x10], "no line after the last newline");
        assert_eq!(read_all(b"", 3, 4), [] as [u64; 0]);
        assert_eq!(read_all(b"\n", 3, 4), [0], "one empty line");
    }

    #[test]
    fn a_long_line_keeps_its_start() {
        let mut text = b"0x1234".to_vec();
        text.extend(std::iter::repeat_n(b'z', 100_000));
        text.extend_from_slice(b"\n0x5\n");
        assert_eq!(read_all(&text, 1000, 10), [0x1234, 0x5]);
    }

    #[test]
    fn a_batch_ends_when_no_more_input_is_ready() {
        let mut input: &[u8] = b"0x1\n0x2\n";
        let mut input = std::io::BufReader::with_capacity(4, &mut input);
        let mut ready = || false;
        let mut reader = AddressReader::new(&mut input, &mut ready);
        let mut batch = Vec::new();
        reader.next_batch(&mut batch, 100).unwrap();
        assert_eq!(batch, [0x1], "answered before reading on");
        reader.next_batch(&mut batch, 100).unwrap();
        assert_eq!(batch, [0x2]);
        reader.next_batch(&mut batch, 100).unwrap();
        assert!(batch.is_empty());
    }
}
