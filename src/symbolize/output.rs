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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextStyle {
    /// `-a`: the address first (`0x` and 16 hex digits), on its own line, or before `: ` with `-p`.
    pub addresses: bool,
    /// `-p`: one line per frame, `function at file:line`, inlining callers after ` (inlined by) `.
    pub pretty: bool,
    /// `-s`: file names without their directories.
    pub basenames: bool,
}

/// Collects printed answers and passes them to the output in large writes.
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    format: Format,
    /// One buffer per rendering thread (the first also collects single answers).
    bufs: Vec<Vec<u8>>,
}

/// How much text is collected before it is written.
const FLUSH_AT: usize = 256 * 1024;
/// Answers rendered per thread at a time when a batch is rendered in parallel (~4 MB of text).
const PER_THREAD: usize = 16 * 1024;

impl<'a> Printer<'a> {
    /// A printer of `format` onto `out`, rendering large batches on up to `threads` threads.
    pub fn new(out: &'a mut dyn Write, format: Format, threads: usize) -> Self {
        Printer { out, format, bufs: (0..threads.max(1)).map(|_| Vec::new()).collect() }
    }

    /// Prints the answer for `addr` (its strings are in `batch`).
    pub fn print(&mut self, addr: u64, answer: Answer<'_>, batch: &Batch) -> std::io::Result<()> {
        render(&mut self.bufs[0], self.format, addr, answer, batch);
        if self.bufs[0].len() >= FLUSH_AT {
            self.out.write_all(&self.bufs[0])?;
            self.bufs[0].clear();
        }
        Ok(())
    }

    /// Prints every answer of `batch`, for `addrs` (in the same order).
    pub fn print_batch(&mut self, addrs: &[u64], batch: &Batch) -> std::io::Result<()> {
        let threads = self.bufs.len();
        if threads == 1 || addrs.len() < 2 * PER_THREAD {
            for (&addr, answer) in addrs.iter().zip(batch.iter()) {
                self.print(addr, answer, batch)?;
            }
            return Ok(());
        }
        self.flush()?;
        let format = self.format;
        let round = threads * PER_THREAD;
        for start in (0..addrs.len()).step_by(round) {
            std::thread::scope(|scope| {
                for (t, buf) in self.bufs.iter_mut().enumerate() {
                    let from = (start + t * PER_THREAD).min(addrs.len());
                    let range = from..(from + PER_THREAD).min(addrs.len()).min(start + round);
                    scope.spawn(move || {
                        // Rendered into a vector of this thread's own: `bufs` keeps the threads'
                        // vector headers side by side, and updating them from two CPUs would
                        // bounce that cache line between them at every push.
                        let mut local = std::mem::take(buf);
                        render_range(&mut local, format, addrs, batch, range);
                        *buf = local;
                    });
                }
            });
            for buf in &mut self.bufs {
                self.out.write_all(buf)?;
                buf.clear();
            }
        }
        Ok(())
    }

    /// Writes what is collected, through to the output (a caller may be waiting for it).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.bufs[0])?;
        self.bufs[0].clear();
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
        push_address(buf, addr);
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
        buf.extend_from_slice(f.function.map_or("??", |s| batch.str(s)).as_bytes());
        buf.extend_from_slice(if f.function.is_none() && f.file.is_none() && style.pretty {
            b" "
        } else {
            function_end
        });
        match (f.file, f.line) {
            (Some(file), line) => {
                let file = batch.str(file);
                let file = if style.basenames { file.rsplit('/').next().unwrap_or(file) } else { file };
                buf.extend_from_slice(file.as_bytes());
                buf.push(b':');
                match line {
                    Some(line) => push_decimal(buf, line.get()),
                    None => buf.push(b'?'),
                }
            }
            // addr2line: `??:?` for a named frame without a location, `??:0` when nothing is known.
            (None, _) if f.function.is_some() => buf.extend_from_slice(b"??:?"),
            (None, _) => buf.extend_from_slice(b"??:0"),
        }
        buf.push(b'\n');
    }
}

/// Appends `0x` and the address in 16 hex digits, as `addr2line -a` prints it.
fn push_address(buf: &mut Vec<u8>, addr: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.extend_from_slice(b"0x");
    buf.extend((0..16).rev().map(|nibble| HEX[(addr >> (nibble * 4)) as usize & 0xf]));
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
    // Serializing a `Value` into memory cannot fail.
    let _ = serde_json::to_writer(&mut *buf, &value);
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
        push_address(&mut buf, 0x40121c);
        push_address(&mut buf, u64::MAX);
        assert_eq!(buf, b"0x000000000040121c0xffffffffffffffff");
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
