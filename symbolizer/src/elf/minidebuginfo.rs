//! MiniDebugInfo: Fedora, RHEL and their container images strip binaries to `.dynsym` but embed an
//! xz-compressed ELF file in `.gnu_debugdata` whose `.symtab` names the remaining functions (what
//! gdb and perf read, and binutils' `addr2line` does not). Decoded with the pure-Rust `lzma-rs`,
//! bounded in size: the size the stream's index claims is charged to the file's account before
//! anything is decoded, and decoding stops past it.

use std::io::Write;

use crate::budget::Account;

/// The most bytes a `.gnu_debugdata` may decompress to (real ones are well under a megabyte).
const MAX_DECOMPRESSED: u64 = 64 << 20;

/// The ELF file inside an xz stream, or `None` if it is not valid xz, is larger than
/// [`MAX_DECOMPRESSED`], or `account` refuses the size its index claims.
pub(super) fn decompress(xz: &[u8], account: &mut Account) -> Option<Vec<u8>> {
    let claimed = claimed_size(xz).filter(|&n| n <= MAX_DECOMPRESSED)?;
    if !account.try_charge(claimed) {
        return None;
    }
    decompress_at_most(xz, usize::try_from(claimed).ok()?)
}

/// The uncompressed size an xz stream's index (found from its footer) claims: the sum of its
/// blocks' sizes. `None` when the footer or index is malformed.
fn claimed_size(xz: &[u8]) -> Option<u64> {
    // Stream padding: zero bytes, four at a time, after the footer.
    let mut end = xz.len();
    while end >= 4 && xz[end - 4..end] == [0; 4] {
        end -= 4;
    }
    let footer = xz.get(end.checked_sub(12)?..end)?;
    if &footer[10..12] != b"YZ" {
        return None;
    }
    let backward = u64::from(u32::from_le_bytes(footer[4..8].try_into().ok()?));
    let index_len = usize::try_from((backward + 1) * 4).ok()?;
    let index = xz.get((end - 12).checked_sub(index_len)?..end - 12)?;
    let (&indicator, mut rest) = index.split_first()?;
    if indicator != 0 {
        return None;
    }
    let records = varint(&mut rest)?;
    let mut total: u64 = 0;
    for _ in 0..records {
        let _unpadded = varint(&mut rest)?;
        total = total.checked_add(varint(&mut rest)?)?;
    }
    Some(total)
}

/// An xz variable-length integer (7 bits a byte, least significant first, at most 9 bytes).
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
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
        let mut account = super::super::parser::unbudgeted();
        assert_eq!(claimed_size(&xz), Some(10));
        assert_eq!(decompress(&xz, &mut account).unwrap(), b"\x7fELF hello");
        assert_eq!(decompress(b"not xz", &mut account), None);
        for cut in 0..xz.len() {
            assert_eq!(decompress(&xz[..cut], &mut account), None);
        }
        assert_eq!(decompress_at_most(&xz, 10).unwrap(), b"\x7fELF hello");
        assert_eq!(decompress_at_most(&xz, 9), None);
        // A budget too small for the claim: refused before decoding, and noted.
        let budget = crate::budget::Budget::new(
            "debug data",
            crate::budget::Limits { per_file: 9, per_process: 100, total: 100 },
        );
        assert_eq!(decompress(&xz, &mut budget.account(1, "/lib/x.so")), None);
        assert_eq!(budget.cuts().len(), 1);
    }

    /// An index and footer claiming one block of `size` bytes (CRCs left zero: they are not read).
    fn claiming(size: u64) -> Vec<u8> {
        let mut index = vec![0, 1, 0x10];
        let mut n = size;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            index.push(if n > 0 { byte | 0x80 } else { byte });
            if n == 0 {
                break;
            }
        }
        while index.len() % 4 != 0 {
            index.push(0);
        }
        index.extend([0; 4]);
        let backward = (index.len() / 4 - 1) as u32;
        let mut xz = index;
        xz.extend([0; 4]);
        xz.extend(backward.to_le_bytes());
        xz.extend([0, 1, b'Y', b'Z']);
        xz
    }

    #[test]
    fn a_bomb_is_refused_by_its_index_before_decoding() {
        assert_eq!(claimed_size(&claiming(12345)), Some(12345));
        assert_eq!(claimed_size(&claiming(u64::from(u32::MAX) * 4)), Some(u64::from(u32::MAX) * 4));
        let budget = crate::budget::Budget::new(
            "debug data",
            crate::budget::Limits { per_file: 1 << 40, per_process: 1 << 40, total: 1 << 40 },
        );
        assert_eq!(decompress(&claiming(MAX_DECOMPRESSED + 1), &mut budget.account(1, "x")), None);
        assert_eq!(budget.total(), 0, "nothing charged past the hard bound");
    }
}
