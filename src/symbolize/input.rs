//! Addresses from stdin, in batches: as many as are ready (up to a limit), so that a file or a fast
//! pipe is answered in large batches — which the symbolizer resolves sorted, several times faster than
//! small ones — while a caller that writes one address and waits for its answer (addr2line used as a
//! co-process) gets it at once.

use std::io::BufRead;

use anyhow::Context;

/// Reads whitespace-separated hex addresses.
pub struct AddressReader<'a> {
    input: &'a mut dyn BufRead,
    /// Whether more input can be read without waiting.
    ready: &'a mut dyn FnMut() -> bool,
    /// A word cut by the end of the buffer.
    partial: Vec<u8>,
    at_end: bool,
}

impl<'a> AddressReader<'a> {
    /// A reader over `input`; `ready` tells whether reading it now would not block.
    pub fn new(input: &'a mut dyn BufRead, ready: &'a mut dyn FnMut() -> bool) -> Self {
        AddressReader { input, ready, partial: Vec::new(), at_end: false }
    }

    /// Whether more input can be read now without waiting.
    pub fn input_ready(&mut self) -> bool {
        (self.ready)()
    }

    /// Fills `batch` (cleared first) with the next addresses: stops at `limit`, at the end of the
    /// input, or — once it holds some — when no more input is ready. Empty at the end of the input.
    pub fn next_batch(&mut self, batch: &mut Vec<u64>, limit: usize) -> anyhow::Result<()> {
        batch.clear();
        while !self.at_end && batch.len() < limit {
            if !batch.is_empty() && !(self.ready)() {
                break;
            }
            let buf = self.input.fill_buf().context("reading addresses from stdin")?;
            if buf.is_empty() {
                self.at_end = true;
                if !self.partial.is_empty() {
                    batch.push(parse_address(&std::mem::take(&mut self.partial))?);
                }
                break;
            }
            let len = buf.len();
            // Words up to the last separator are complete; the rest waits for the next buffer.
            let cut = buf.iter().rposition(u8::is_ascii_whitespace);
            let (complete, rest) = match cut {
                Some(cut) => buf.split_at(cut + 1),
                None => buf.split_at(0),
            };
            let mut words = complete.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty());
            if !self.partial.is_empty() && cut.is_some() {
                // The first word of this buffer ends the cut one (or the cut one was complete).
                let first = complete.first().is_some_and(|b| !b.is_ascii_whitespace());
                if first {
                    self.partial.extend_from_slice(words.next().unwrap_or_default());
                }
                batch.push(parse_address(&std::mem::take(&mut self.partial))?);
            }
            for word in words {
                batch.push(parse_address(word)?);
            }
            self.partial.extend_from_slice(rest);
            self.input.consume(len);
        }
        Ok(())
    }
}

/// A hex address, with or without `0x` (addr2line reads hex either way).
pub fn parse_address(word: &[u8]) -> anyhow::Result<u64> {
    let digits = word.strip_prefix(b"0x").or_else(|| word.strip_prefix(b"0X")).unwrap_or(word);
    let mut value: u64 = 0;
    let mut valid = !digits.is_empty() && digits.len() <= 16;
    for &b in digits {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => {
                valid = false;
                break;
            }
        };
        value = value << 4 | u64::from(digit);
    }
    if !valid {
        anyhow::bail!("'{}' is not a hex address (like 0x4011a6 or 4011a6)", String::from_utf8_lossy(word));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_like_addr2line() {
        assert_eq!(parse_address(b"0x4011a6").unwrap(), 0x4011a6);
        assert_eq!(parse_address(b"4011A6").unwrap(), 0x4011a6);
        assert_eq!(parse_address(b"ffffffffffffffff").unwrap(), u64::MAX);
        assert!(parse_address(b"main").is_err());
        assert!(parse_address(b"0x").is_err());
        assert!(parse_address(b"1ffffffffffffffff").is_err(), "more than 64 bits");
    }

    /// A reader that hands out its bytes in fixed-size pieces, to cut words anywhere.
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

    #[test]
    fn words_cut_by_buffer_ends_are_joined() {
        let text = b"0x10 0x200\n  3000\t\t0x4000 50000 \n0x600000";
        for size in 1..=text.len() {
            let mut input = std::io::BufReader::with_capacity(size, Pieces { data: text, size });
            let mut ready = || true;
            let mut reader = AddressReader::new(&mut input, &mut ready);
            let (mut all, mut batch) = (Vec::new(), Vec::new());
            loop {
                reader.next_batch(&mut batch, 4).unwrap();
                if batch.is_empty() {
                    break;
                }
                assert!(batch.len() < 4 + size, "at most the limit, plus what one read brought");
                all.extend_from_slice(&batch);
            }
            assert_eq!(all, [0x10, 0x200, 0x3000, 0x4000, 0x50000, 0x600000], "piece size {size}");
        }
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

    #[test]
    fn a_bad_word_is_an_error() {
        let mut input: &[u8] = b"0x1 zz\n";
        let mut ready = || true;
        let mut reader = AddressReader::new(&mut input, &mut ready);
        let e = reader.next_batch(&mut Vec::new(), 100).unwrap_err();
        assert!(e.to_string().contains("'zz' is not a hex address"), "{e}");
    }
}
