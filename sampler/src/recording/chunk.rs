//! The framing of a cperf recording: a file header, then checksummed chunks (see
//! `docs/recording-format.md`).
//!
//! Writers append whole chunks; a reader takes every chunk up to the first one that is torn (short)
//! or corrupt (bad magic, bad checksum, absurd length) and reports where it stopped and how many
//! bytes it skipped. Nothing after a bad chunk is trusted.

use std::io::{self, Read, Write};

/// The first 8 bytes of every recording.
pub const FILE_MAGIC: [u8; 8] = *b"CPERFREC";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Size of the file header.
pub const FILE_HEADER_LEN: usize = 16;
/// Magic at the start of every chunk (`CHNK`).
pub const CHUNK_MAGIC: [u8; 4] = *b"CHNK";
/// Size of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 16;
/// Largest payload a reader accepts (a writer never comes near it).
pub const MAX_CHUNK_LEN: u32 = 256 << 20;

/// Chunk kinds.
pub mod kind {
    /// The metadata (JSON, [`crate::recording::Meta`]); always the first chunk.
    pub const META: u16 = 1;
    /// Entries ([`crate::recording::entry`]).
    pub const ENTRIES: u16 = 2;
    /// The summary (JSON, [`crate::recording::Summary`]), last, from a recorder that ended cleanly.
    pub const SUMMARY: u16 = 3;
}

/// Why a recording could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file does not start with [`FILE_MAGIC`].
    #[error(
        "not a cperf recording (it does not start with CPERFREC); record one with: cperf record -o FILE"
    )]
    NotARecording,
    /// A version this build does not read.
    #[error("recording format version {0} is newer than this cperf reads ({VERSION}); use a newer cperf")]
    UnsupportedVersion(u16),
    /// The underlying read or write failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Writes the file header.
pub fn write_file_header(out: &mut impl Write) -> io::Result<()> {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..8].copy_from_slice(&FILE_MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    out.write_all(&h)
}

/// Reads and checks the file header.
pub fn read_file_header(input: &mut impl Read) -> Result<u16, FormatError> {
    let mut h = [0u8; FILE_HEADER_LEN];
    match input.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FormatError::NotARecording),
        Err(e) => return Err(e.into()),
    }
    if h[..8] != FILE_MAGIC {
        return Err(FormatError::NotARecording);
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version > VERSION || version == 0 {
        return Err(FormatError::UnsupportedVersion(version));
    }
    Ok(version)
}

/// The checksum of a chunk: CRC-32 over kind, flags, length and payload.
fn checksum(kind: u16, flags: u16, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&kind.to_le_bytes());
    h.update(&flags.to_le_bytes());
    h.update(&(payload.len() as u32).to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends one chunk (header and payload) in a single write.
pub fn write_chunk(out: &mut impl Write, kind: u16, flags: u16, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= MAX_CHUNK_LEN)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "chunk payload too large"))?;
    let mut buf = Vec::with_capacity(CHUNK_HEADER_LEN + payload.len());
    buf.extend_from_slice(&CHUNK_MAGIC);
    buf.extend_from_slice(&kind.to_le_bytes());
    buf.extend_from_slice(&flags.to_le_bytes());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&checksum(kind, flags, payload).to_le_bytes());
    buf.extend_from_slice(payload);
    out.write_all(&buf)
}

/// One chunk read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// What the payload is.
    pub kind: u16,
    /// Kind-specific flags.
    pub flags: u16,
    /// The payload.
    pub payload: Vec<u8>,
    /// File offset of the chunk header.
    pub offset: u64,
}

/// Where and why reading stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// File offset of the first bad chunk.
    pub offset: u64,
    /// Bytes from there to the end of the file, not read.
    pub skipped: u64,
    /// What was wrong.
    pub reason: &'static str,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}: the last {} bytes were skipped", self.reason, self.offset, self.skipped)
    }
}

/// Reads chunks in order; after the first bad one it yields nothing more and [`ChunkReader::damage`]
/// says where it stopped.
#[derive(Debug)]
pub struct ChunkReader<R> {
    input: R,
    offset: u64,
    len: u64,
    damage: Option<Damage>,
}

impl<R: Read> ChunkReader<R> {
    /// A reader over `input` (positioned after the file header at `offset`), whose total size is `len`.
    pub fn new(input: R, offset: u64, len: u64) -> Self {
        ChunkReader { input, offset, len, damage: None }
    }

    /// Why reading stopped early, if it did.
    pub fn damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// The next good chunk; `Ok(None)` at the end or at the first bad chunk.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.damage.is_some() || self.offset >= self.len {
            return Ok(None);
        }
        let start = self.offset;
        let mut header = [0u8; CHUNK_HEADER_LEN];
        if !self.fill(&mut header)? {
            return self.stop(start, "torn chunk header");
        }
        if header[..4] != CHUNK_MAGIC {
            return self.stop(start, "corrupt chunk (bad magic)");
        }
        let kind = u16::from_le_bytes([header[4], header[5]]);
        let flags = u16::from_le_bytes([header[6], header[7]]);
        let len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        let crc = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if len > MAX_CHUNK_LEN {
            return self.stop(start, "corrupt chunk (impossible length)");
        }
        if u64::from(len) > self.len - self.offset {
            return self.stop(start, "torn chunk (the file ends inside it)");
        }
        let mut payload = vec![0u8; len as usize];
        if !self.fill(&mut payload)? {
            return self.stop(start, "torn chunk (the file ends inside it)");
        }
        if checksum(kind, flags, &payload) != crc {
            return self.stop(start, "corrupt chunk (checksum mismatch)");
        }
        Ok(Some(Chunk { kind, flags, payload, offset: start }))
    }

    /// Reads exactly `buf.len()` bytes; false at a premature end of file.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn stop(&mut self, offset: u64, reason: &'static str) -> io::Result<Option<Chunk>> {
        self.damage = Some(Damage { offset, skipped: self.len.saturating_sub(offset), reason });
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(chunks: &[(u16, &[u8])]) -> Vec<u8> {
        let mut f = Vec::new();
        write_file_header(&mut f).unwrap();
        for (kind, payload) in chunks {
            write_chunk(&mut f, *kind, 0, payload).unwrap();
        }
        f
    }

    fn read_all(bytes: &[u8]) -> (Vec<Chunk>, Option<Damage>) {
        let mut input = bytes;
        read_file_header(&mut input).unwrap();
        let mut r = ChunkReader::new(input, FILE_HEADER_LEN as u64, bytes.len() as u64);
        let mut out = Vec::new();
        while let Some(c) = r.next_chunk().unwrap() {
            out.push(c);
        }
        (out, r.damage().cloned())
    }

    #[test]
    fn round_trip() {
        let f = file(&[(1, b"meta"), (2, b""), (3, &[7; 1000])]);
        let (chunks, damage) = read_all(&f);
        assert_eq!(damage, None);
        assert_eq!(
            chunks.iter().map(|c| (c.kind, c.payload.len())).collect::<Vec<_>>(),
            [(1, 4), (2, 0), (3, 1000)]
        );
        assert_eq!(chunks[1].offset, (FILE_HEADER_LEN + CHUNK_HEADER_LEN + 4) as u64);
    }

    #[test]
    fn torn_last_chunk_keeps_the_rest() {
        let f = file(&[(1, b"first"), (2, &[9; 100])]);
        for cut in 1..(CHUNK_HEADER_LEN + 100) {
            let torn = &f[..f.len() - cut];
            let (chunks, damage) = read_all(torn);
            assert_eq!(chunks.len(), 1, "cut {cut}");
            let d = damage.expect("damage reported");
            assert!(d.reason.starts_with("torn"), "{d}");
            assert_eq!(d.skipped, (CHUNK_HEADER_LEN + 100 - cut) as u64);
        }
    }

    #[test]
    fn a_flipped_bit_stops_at_that_chunk() {
        let mut f = file(&[(1, b"first"), (2, b"second"), (3, b"third")]);
        let second_payload = FILE_HEADER_LEN + CHUNK_HEADER_LEN + 5 + CHUNK_HEADER_LEN;
        f[second_payload + 2] ^= 0x10;
        let (chunks, damage) = read_all(&f);
        assert_eq!(chunks.len(), 1);
        assert_eq!(damage.unwrap().reason, "corrupt chunk (checksum mismatch)");
    }

    #[test]
    fn not_a_recording_or_too_new() {
        assert!(matches!(
            read_file_header(&mut &b"ELF\0garbage garbage"[..]),
            Err(FormatError::NotARecording)
        ));
        assert!(matches!(read_file_header(&mut &b"CPERF"[..]), Err(FormatError::NotARecording)));
        let mut f = file(&[]);
        f[8] = 9;
        assert!(matches!(read_file_header(&mut &f[..]), Err(FormatError::UnsupportedVersion(9))));
    }

    #[test]
    fn garbage_never_panics() {
        let f = file(&[(1, b"first"), (2, &[3; 40])]);
        for i in FILE_HEADER_LEN..f.len() {
            for bit in [0x01u8, 0x80] {
                let mut g = f.clone();
                g[i] ^= bit;
                let _ = read_all(&g);
            }
        }
    }
}
