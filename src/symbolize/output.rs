//! Printing symbolized addresses: addr2line's `-f -i -C` text, or one JSON object per address. Text
//! is assembled in local buffers and handed to the writer in large pieces (a million addresses
//! make some 200 MB of text for a Rust binary); a large batch is rendered by several threads at once,
//! each into its own buffer, and written in order.

use std::io::Write;
use std::ops::Range;

use symbolizer::{Answer, Batch};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `addr2line -f -i -C`: per frame, innermost first, the function, then `file:line`; with
    /// addr2line's `-a`, `-p` and `-s` as asked.
    Addr2line(TextStyle),
    /// One JSON object per line per address.
    Json,
}

/// addr2line's options for its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextStyle {
    /// `-a`: the address first (`0x` and 16 hex digits), on its own line, or before `: ` with `-p`.
    pub addresses: bool,
    /// `-p`: one line per frame, `function at file:line`, inlining callers after ` (inlined by) `.
    pub pretty: bool,
    /// `-s`: file names without their directories.
    pub basenames: bool,
    /// How many hex digits `-a` prints: 16, or 8 for a 32-bit file (set by [`Printer`]).
    pub address_digits: u8,
}

impl TextStyle {
    /// The style for addr2line's `-a`, `-p` and `-s` (addresses of 64-bit files).
    pub fn new(addresses: bool, pretty: bool, basenames: bool) -> Self {
        TextStyle { addresses, pretty, basenames, address_digits: 16 }
    }
}

/// Collects printed answers and passes them to the output in large writes.
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    format: Format,
    /// Single answers, collected.
    buf: Vec<u8>,
    /// How many threads render a large batch.
    threads: usize,
}

/// How much text is collected before it is written.
const FLUSH_AT: usize = 256 * 1024;
/// Answers rendered per thread at a time when a batch is rendered in parallel (~4 MB of text).
const PER_THREAD: usize = 16 * 1024;

impl<'a> Printer<'a> {
    /// A printer of `format` onto `out`, rendering large batches on up to `threads` threads.
    pub fn new(out: &'a mut dyn Write, format: Format, threads: usize) -> Self {
        Printer { out, format, buf: Vec::new(), threads: threads.max(1) }
    }

    /// Prints addresses in `digits` hex digits (8 for 32-bit files, as addr2line does).
    pub fn set_address_digits(&mut self, digits: u8) {
        if let Format::Addr2line(style) = &mut self.format {
            style.address_digits = digits;
        }
    }

    /// Prints the answer for `addr` (its strings are in `batch`).
    pub fn print(&mut self, addr: u64, answer: Answer<'_>, batch: &Batch) -> std::io::Result<()> {
        render(&mut self.buf, self.format, addr, answer, batch);
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Prints every answer of `batch`, for `addrs` (in the same order).
    pub fn print_batch(&mut self, addrs: &[u64], batch: &Batch) -> std::io::Result<()> {
        if self.threads == 1 || addrs.len() < 2 * PER_THREAD {
            for (&addr, answer) in addrs.iter().zip(batch.iter()) {
                self.print(addr, answer, batch)?;
            }
            return Ok(());
        }
        self.flush()?;
        let format = self.format;
        let round = self.threads * PER_THREAD;
        for start in (0..addrs.len()).step_by(round) {
            // Each thread renders into a vector of its own (vectors side by side in one list would
            // bounce the cache line of their headers between the CPUs at every push).
            let jobs: Vec<_> = (0..self.threads)
                .map(|t| {
                    let from = (start + t * PER_THREAD).min(addrs.len());
                    let range = from..(from + PER_THREAD).min(addrs.len()).min(start + round);
                    move || {
                        let mut buf = Vec::with_capacity(range.len() * 256);
                        render_range(&mut buf, format, addrs, batch, range.clone());
                        buf
                    }
                })
                .collect();
            for buf in symbolizer::parallel::run(&jobs) {
                self.out.write_all(&buf)?;
            }
        }
        Ok(())
    }

    /// Writes what is collected, through to the output (a caller may be waiting for it).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

/// Renders the answers of a range of a batch.
fn render_range(buf: &mut Vec<u8>, format: Format, addrs: &[u64], batch: &Batch, range: Range<usize>) {
    for i in range {
        if let (Some(&addr), Some(answer)) = (addrs.get(i), batch.get(i)) {
            render(buf, format, addr, answer, batch);
        }
    }
}

/// Appends one answer.
fn render(buf: &mut Vec<u8>, format: Format, addr: u64, answer: Answer<'_>, batch: &Batch) {
    match format {
        Format::Addr2line(style) => addr2line(buf, style, addr, answer, batch),
        Format::Json => json(buf, addr, answer, batch),
    }
}

fn addr2line(buf: &mut Vec<u8>, style: TextStyle, addr: u64, answer: Answer<'_>, batch: &Batch) {
    if style.addresses {
        push_address(buf, addr, style.address_digits);
        buf.extend_from_slice(if style.pretty { b": " } else { b"\n" });
    }
    let (function_end, inlined_by): (&[u8], &[u8]) =
        if style.pretty { (b" at ", b" (inlined by) ") } else { (b"\n", b"") };
    let Answer::Frames(frames) = answer else {
        buf.extend_from_slice(b"??");
        buf.extend_from_slice(if style.pretty { b" " } else { b"\n" });
        buf.extend_from_slice(b"??:0\n");
        return;
    };
    for (k, f) in frames.iter().enumerate() {
        if k > 0 {
            buf.extend_from_slice(inlined_by);
        }
        // Names and paths come from the process's files: a newline in one would split an answer.
        crate::escape::extend_escaped(buf, f.function.map_or("??", |s| batch.str(s)));
        buf.extend_from_slice(if f.function.is_none() && f.file.is_none() && style.pretty {
            b" "
        } else {
            function_end
        });
        match (f.file, f.line) {
            (Some(file), line) => {
                let file = batch.str(file);
                let file = if style.basenames { file.rsplit('/').next().unwrap_or(file) } else { file };
                crate::escape::extend_escaped(buf, file);
                buf.push(b':');
                match line {
                    Some(line) => push_decimal(buf, line.get()),
                    None => buf.push(b'?'),
                }
            }
            // addr2line: `??:N` for a line without a file, `??:?` for a named frame without a
            // location, `??:0` when nothing is known.
            (None, Some(line)) => {
                buf.extend_from_slice(b"??:");
                push_decimal(buf, line.get());
            }
            (None, None) if f.function.is_some() => buf.extend_from_slice(b"??:?"),
            (None, None) => buf.extend_from_slice(b"??:0"),
        }
        buf.push(b'\n');
    }
}

/// Appends `0x` and the address in `digits` hex digits (more if it needs them), as `addr2line -a`
/// prints it.
fn push_address(buf: &mut Vec<u8>, addr: u64, digits: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let needed = (16 - addr.leading_zeros() / 4).max(u32::from(digits).min(16));
    buf.extend_from_slice(b"0x");
    buf.extend((0..needed).rev().map(|nibble| HEX[(addr >> (nibble * 4)) as usize & 0xf]));
}

fn json(buf: &mut Vec<u8>, addr: u64, answer: Answer<'_>, batch: &Batch) {
    let value = match answer {
        Answer::Frames(frames) => serde_json::json!({
            "address": format!("{addr:#x}"),
            "frames": frames.iter().map(|f| serde_json::json!({
                "function": f.function.map(|s| batch.str(s)),
                "file": f.file.map(|s| batch.str(s)),
                "line": f.line,
                "inlined": f.inlined,
            })).collect::<Vec<_>>(),
        }),
        Answer::Unknown(reason) => serde_json::json!({
            "address": format!("{addr:#x}"),
            "frames": [],
            "unknown": reason.to_string(),
        }),
    };
    // Serializing a `Value` into memory cannot fail. Control characters are escaped (names stay exact).
    let _ = crate::escape::write_json(&mut *buf, &value, false);
    buf.push(b'\n');
}

/// Appends `n` in decimal.
fn push_decimal(buf: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_sixteen_digits() {
        let mut buf = Vec::new();
        push_address(&mut buf, 0x40121c, 16);
        push_address(&mut buf, u64::MAX, 16);
        push_address(&mut buf, 0x8049000, 8);
        push_address(&mut buf, 0x1_0000_0000, 8);
        assert_eq!(buf, b"0x000000000040121c0xffffffffffffffff0x080490000x100000000");
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 4242, u32::MAX] {
            let mut buf = Vec::new();
            push_decimal(&mut buf, n);
            assert_eq!(buf, n.to_string().as_bytes());
        }
    }
}
