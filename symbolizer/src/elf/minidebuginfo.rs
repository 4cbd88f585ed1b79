//! MiniDebugInfo: Fedora, RHEL and their container images strip binaries to `.dynsym` but embed an
//! xz-compressed ELF file in `.gnu_debugdata` whose `.symtab` names the remaining functions (what
//! gdb and perf read, and binutils' `addr2line` does not). Decoded with the pure-Rust `lzma-rs`,
//! bounded in size.

use std::io::Write;

/// The most bytes a `.gnu_debugdata` may decompress to (real ones are well under a megabyte).
const MAX_DECOMPRESSED: usize = 64 << 20;

/// The ELF file inside an xz stream, or `None` if it is not valid xz or is too large.
pub(super) fn decompress(xz: &[u8]) -> Option<Vec<u8>> {
    decompress_at_most(xz, MAX_DECOMPRESSED)
}

/// [`decompress`] with a given bound.
fn decompress_at_most(xz: &[u8], max: usize) -> Option<Vec<u8>> {
    let mut out = Bounded { buf: Vec::new(), max };
    let mut input = xz;
    // lzma-rs is fuzzed and forbids unsafe code, but this is untrusted input decoded by a
    // dependency: a panic in it must not take the profiler down.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lzma_rs::xz_decompress(&mut input, &mut out).is_ok()
    }));
    matches!(decoded, Ok(true)).then_some(out.buf)
}

/// A `Vec` writer that fails past `max` bytes.
struct Bounded {
    buf: Vec<u8>,
    max: usize,
}

impl Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            return Err(std::io::Error::other("decompressed MiniDebugInfo is too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_garbage_and_bombs() {
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &b"\x7fELF hello"[..], &mut xz).unwrap();
        assert_eq!(decompress(&xz).unwrap(), b"\x7fELF hello");
        assert_eq!(decompress(b"not xz"), None);
        for cut in 0..xz.len() {
            assert_eq!(decompress(&xz[..cut]), None);
        }
        assert_eq!(decompress_at_most(&xz, 10).unwrap(), b"\x7fELF hello");
        assert_eq!(decompress_at_most(&xz, 9), None);
    }
}
