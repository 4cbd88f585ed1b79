//! The byte encoding of recording entries: LEB128 variable-length integers (zigzag for signed
//! deltas) and length-prefixed byte strings. Decoding is bounds-checked and never panics.

/// Appends encoded values to a buffer.
#[derive(Debug, Default)]
pub struct Encoder {
    /// The bytes so far.
    pub buf: Vec<u8>,
}

impl Encoder {
    /// An unsigned LEB128 integer.
    pub fn u64(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    /// A signed integer, zigzag-encoded then LEB128.
    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
}

/// Why a value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed entry: {0}")]
pub struct DecodeError(pub &'static str);

/// Reads encoded values from a slice.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// A decoder over `buf`, `pos` bytes in (where an earlier one stopped).
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Decoder { buf, pos }
    }

    /// How far it has read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// An unsigned LEB128 integer (at most 10 bytes).
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or(DecodeError("truncated integer"))?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(DecodeError("integer overflows 64 bits"));
            }
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("integer longer than 10 bytes"))
    }

    /// An unsigned integer that must fit 32 bits.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.u64()?).map_err(|_| DecodeError("integer overflows 32 bits"))
    }

    /// A zigzag-encoded signed integer.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let v = self.u64()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u64()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError("byte string longer than its entry"))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// A count of following items, each at least `min_item_len` bytes long: refuses counts the
    /// remaining bytes cannot hold, so a corrupt count cannot make a reader allocate wildly.
    pub fn count(&mut self, min_item_len: usize) -> Result<usize, DecodeError> {
        let n = self.u64()?;
        let room = (self.buf.len() - self.pos.min(self.buf.len())) / min_item_len.max(1);
        usize::try_from(n).ok().filter(|&n| n <= room).ok_or(DecodeError("count larger than its entry"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges() {
        let mut e = Encoder::default();
        let us = [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        let is = [0, 1, -1, 63, -64, i64::MAX, i64::MIN];
        for &u in &us {
            e.u64(u);
        }
        for &i in &is {
            e.i64(i);
        }
        e.bytes(b"hello");
        e.bytes(b"");
        let mut d = Decoder::new(&e.buf);
        for &u in &us {
            assert_eq!(d.u64().unwrap(), u);
        }
        for &i in &is {
            assert_eq!(d.i64().unwrap(), i);
        }
        assert_eq!(d.bytes().unwrap(), b"hello");
        assert_eq!(d.bytes().unwrap(), b"");
        assert!(d.is_empty());
        assert!(d.u64().is_err());
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(Decoder::new(&[0xff; 11]).u64().is_err());
        assert!(Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).u64().is_err());
        assert!(Decoder::new(&[5, b'a']).bytes().is_err());
        assert!(Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).count(1).is_err());
        assert!(Decoder::new(&[0x80, 0x80, 0x80, 0x80, 0x10]).u32().is_err());
    }
}
