//! Reading a recording back: the metadata, then entries chunk by chunk, then the summary if the
//! recorder ended cleanly. Whatever precedes a torn or corrupt chunk is returned; the damage is
//! reported, never a panic.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use super::chunk::{self, kind, ChunkReader, Damage, FormatError};
use super::entry::{DecoderState, Entry, EntryDecoder};
use super::meta::{Meta, Summary};

/// Why a recording could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Not a recording, or a newer format.
    #[error("{path}: {source}")]
    Format {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: FormatError,
    },
    /// The metadata chunk is missing or unreadable.
    #[error("{path}: the recording's metadata is missing or corrupt ({why}); nothing can be read from it")]
    NoMeta {
        /// The path.
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
}

/// An open recording, read front to back (from a file, or any reader of its bytes).
#[derive(Debug)]
pub struct RecordingReader<R = BufReader<File>> {
    chunks: ChunkReader<R>,
    path: PathBuf,
    meta: Meta,
    summary: Option<Summary>,
    /// The chunk of entries being read, and where in it: entries are decoded one at a time, so a
    /// large chunk costs its bytes, not its entries' (several times more).
    pending: Option<(Vec<u8>, DecoderState)>,
    malformed_chunks: u64,
}

/// The most bytes read from a pipe or other stream (`-i /dev/stdin`): a stream is copied to an
/// unnamed temporary file first (the reader needs the length), and no further than this.
pub const MAX_STREAM: u64 = 4 << 30;

impl RecordingReader {
    /// Opens `path` and reads its metadata. A regular file is read in place; a pipe, FIFO or other
    /// stream is first copied to an unnamed temporary file (at most [`MAX_STREAM`] bytes).
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let io_err = |source| ReadError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io_err)?;
        let kind = file.metadata().map_err(io_err)?.file_type();
        if kind.is_dir() {
            return Err(io_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is a directory; give the recording file (cperf record -o FILE wrote it)",
            )));
        }
        if !kind.is_file() {
            file = spool(file, path, MAX_STREAM)?;
        }
        let len = file.metadata().map_err(io_err)?.len();
        RecordingReader::from_reader(BufReader::with_capacity(1 << 20, file), len, path)
    }
}

/// Copies a stream to an unnamed temporary file (`O_TMPFILE`, gone when closed) and returns it,
/// positioned at its start. The file header is checked first, so a stream that is not a recording
/// (`-i /dev/zero`) is refused before anything is copied.
fn spool(mut stream: File, path: &Path, limit: u64) -> Result<File, ReadError> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let needs_file = |why: String| ReadError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(format!("{why}; give the recording as a file: cperf report -i FILE")),
    };
    let mut header = [0u8; chunk::FILE_HEADER_LEN];
    let mut got = 0;
    while got < header.len() {
        match stream.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(ReadError::Io { path: path.to_path_buf(), source }),
        }
    }
    chunk::read_file_header(&mut &header[..got]).map_err(|source| match source {
        FormatError::Io(source) => ReadError::Io { path: path.to_path_buf(), source },
        source => ReadError::Format { path: path.to_path_buf(), source },
    })?;
    let mut tmp = File::options()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(std::env::temp_dir())
        .map_err(|e| needs_file(format!("it is a stream and no temporary copy could be made ({e})")))?;
    let copy_err = |e: io::Error| needs_file(format!("it is a stream and copying it failed ({e})"));
    tmp.write_all(&header).map_err(copy_err)?;
    let rest = limit.saturating_sub(header.len() as u64);
    let copied = io::copy(&mut (&mut stream).take(rest + 1), &mut tmp).map_err(copy_err)?;
    if copied > rest {
        return Err(needs_file(format!(
            "it is a stream longer than the {} MiB cperf copies from one",
            limit >> 20
        )));
    }
    tmp.rewind().map_err(copy_err)?;
    Ok(tmp)
}

impl<'a> RecordingReader<&'a [u8]> {
    /// A recording held in memory (`name` appears in errors).
    pub fn from_bytes(bytes: &'a [u8], name: &Path) -> Result<Self, ReadError> {
        RecordingReader::from_reader(bytes, bytes.len() as u64, name)
    }
}

impl<R: io::Read> RecordingReader<R> {
    /// Reads the header and metadata of a recording of `len` bytes from `input` (`path` names it in
    /// errors).
    pub fn from_reader(mut input: R, len: u64, path: &Path) -> Result<Self, ReadError> {
        let io_err = |source| ReadError::Io { path: path.to_path_buf(), source };
        chunk::read_file_header(&mut input).map_err(|source| match source {
            FormatError::Io(e) => io_err(e),
            source => ReadError::Format { path: path.to_path_buf(), source },
        })?;
        let mut chunks = ChunkReader::new(input, chunk::FILE_HEADER_LEN as u64, len);
        let no_meta = |why: String| ReadError::NoMeta { path: path.to_path_buf(), why };
        let first = chunks.next_chunk().map_err(io_err)?;
        let meta = match first {
            Some(c) if c.kind == kind::META => {
                serde_json::from_slice(&c.payload).map_err(|e| no_meta(e.to_string()))?
            }
            Some(c) => return Err(no_meta(format!("the first chunk is of kind {}", c.kind))),
            None => {
                let why = chunks
                    .damage()
                    .map_or_else(|| "the file ends after its header".into(), |d| d.to_string());
                return Err(no_meta(why));
            }
        };
        Ok(RecordingReader {
            chunks,
            path: path.to_path_buf(),
            meta,
            summary: None,
            pending: None,
            malformed_chunks: 0,
        })
    }

    /// What was recorded and how.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The next entry, `Ok(None)` at the end of what is readable.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ReadError> {
        loop {
            if let Some((payload, state)) = &mut self.pending {
                let mut decoder = EntryDecoder::resume(payload, *state);
                match decoder.next_entry() {
                    Ok(Some(e)) => {
                        *state = decoder.state();
                        return Ok(Some(e));
                    }
                    Ok(None) => {}
                    // A checksummed chunk that does not decode came from a broken writer: keep the
                    // entries before the bad one.
                    Err(_) => self.malformed_chunks += 1,
                }
                self.pending = None;
            }
            let chunk = self
                .chunks
                .next_chunk()
                .map_err(|source| ReadError::Io { path: self.path.clone(), source })?;
            let Some(chunk) = chunk else { return Ok(None) };
            match chunk.kind {
                kind::ENTRIES => self.pending = Some((chunk.payload, DecoderState::default())),
                kind::SUMMARY => self.summary = serde_json::from_slice(&chunk.payload).ok(),
                _ => {} // a kind from a newer writer
            }
        }
    }

    /// The summary, once reading has reached it; `None` for a recording whose recorder did not end
    /// cleanly (killed, crashed, disk full).
    pub fn summary(&self) -> Option<&Summary> {
        self.summary.as_ref()
    }

    /// Where reading stopped early, if it did.
    pub fn damage(&self) -> Option<&Damage> {
        self.chunks.damage()
    }

    /// Chunks with a good checksum whose entries did not all decode.
    pub fn malformed_chunks(&self) -> u64 {
        self.malformed_chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::meta::test_meta as meta;
    use crate::recording::RecordingWriter;

    fn sample(time: u64) -> Entry {
        Entry::Sample { time, pid: 1, tid: 1, cpu: 0, target: 0, period: 1, stack: 1, value: None }
    }

    fn read_all(path: &Path) -> (Vec<Entry>, RecordingReader) {
        let mut r = RecordingReader::open(path).unwrap();
        let mut out = Vec::new();
        while let Some(e) = r.next_entry().unwrap() {
            out.push(e);
        }
        (out, r)
    }

    #[test]
    fn writes_and_reads_back_and_survives_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("cperf-reader-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.cperf");
        let mut w = RecordingWriter::create(&path, &meta()).unwrap();
        w.push(&sample(10)).unwrap();
        w.flush().unwrap();
        w.push(&sample(20)).unwrap();
        w.push(&sample(30)).unwrap();
        w.flush().unwrap();
        let summary = Summary { samples: 3, stop: "duration".into(), ..Summary::default() };
        let len = w.finish(&summary).unwrap();
        assert_eq!(len, std::fs::metadata(&path).unwrap().len());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

        let (entries, r) = read_all(&path);
        assert_eq!(entries, [sample(10), sample(20), sample(30)]);
        assert_eq!(r.meta(), &meta());
        assert_eq!(r.summary(), Some(&summary));
        assert!(r.damage().is_none());

        // Cut inside the second data chunk, as a SIGKILL mid-write would.
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.join("cut.cperf");
        for keep in (bytes.len() - 60)..bytes.len() {
            std::fs::write(&cut, &bytes[..keep]).unwrap();
            let (entries, r) = read_all(&cut);
            assert!(entries.starts_with(&[sample(10)]), "kept {keep}: {entries:?}");
            assert!(r.summary().is_none());
            assert!(r.damage().is_some(), "kept {keep}");
        }
        // Not a recording, and an empty one.
        std::fs::write(&cut, b"hello world, not a recording").unwrap();
        assert!(matches!(RecordingReader::open(&cut), Err(ReadError::Format { .. })));
        std::fs::write(&cut, &bytes[..chunk::FILE_HEADER_LEN]).unwrap();
        assert!(matches!(RecordingReader::open(&cut), Err(ReadError::NoMeta { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `report -i /dev/stdin` from a pipe: the stream is read whole (it was "metadata … corrupt",
    /// since a pipe's size is 0).
    #[test]
    fn a_recording_is_read_from_a_pipe() {
        let dir = std::env::temp_dir().join(format!("cperf-reader-pipe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.cperf");
        let mut w = RecordingWriter::create(&path, &meta()).unwrap();
        for t in 0..1000 {
            w.push(&sample(t)).unwrap();
        }
        w.finish(&Summary { samples: 1000, ..Summary::default() }).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let mut out = File::from(write_end);
            io::Write::write_all(&mut out, &bytes).unwrap();
        });
        use std::os::fd::AsRawFd;
        let (entries, r) = read_all(Path::new(&format!("/proc/self/fd/{}", read_end.as_raw_fd())));
        writer.join().unwrap();
        assert_eq!(entries.len(), 1000);
        assert_eq!(entries[999], sample(999));
        assert_eq!(r.summary().map(|s| s.samples), Some(1000));
        assert!(r.damage().is_none());
    }

    /// A stream that is not a recording is refused from its first bytes, not copied first.
    #[test]
    fn an_endless_stream_that_is_no_recording_is_refused_at_once() {
        let started = std::time::Instant::now();
        let e = RecordingReader::open(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, ReadError::Format { .. }), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "copied before checking");
    }

    /// What is copied from a stream is bounded.
    #[test]
    fn a_stream_is_copied_up_to_its_bound() {
        let mut bytes = Vec::new();
        chunk::write_file_header(&mut bytes).unwrap();
        bytes.resize(3 << 20, 0);
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = io::Write::write_all(&mut File::from(write_end), &bytes);
        });
        let e = spool(File::from(read_end), Path::new("-"), 1 << 20).unwrap_err().to_string();
        writer.join().unwrap();
        assert!(e.contains("longer than the 1 MiB") && e.contains("cperf report -i FILE"), "{e}");
    }

    #[test]
    fn a_directory_is_refused_in_one_line() {
        let e = RecordingReader::open(&std::env::temp_dir()).unwrap_err().to_string();
        assert!(e.contains("is a directory") && !e.contains('\n'), "{e}");
    }
}
