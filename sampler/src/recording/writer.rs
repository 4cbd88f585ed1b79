//! Writing a recording: the header and metadata, then entries gathered in memory and appended as one
//! checksummed chunk per [`RecordingWriter::flush`] (the recorder flushes at least once a second), then
//! the summary.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::chunk::{self, kind};
use super::entry::{Entry, EntryEncoder};
use super::meta::{Meta, Summary};

/// Above this many buffered bytes, [`RecordingWriter::push`] writes a chunk without waiting for the
/// next flush.
const CHUNK_TARGET: usize = 1 << 20;

/// Why a recording could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file could not be created.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A write failed (disk full, I/O error); what was written before is readable.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// An open recording.
#[derive(Debug)]
pub struct RecordingWriter {
    file: File,
    path: PathBuf,
    entries: EntryEncoder,
    bytes: u64,
}

impl RecordingWriter {
    /// Creates `path` with mode 0600 (or truncates the regular file already there, keeping its mode)
    /// and writes the header and metadata.
    ///
    /// Only a regular file is ever opened for writing: a symlink in the last component is not
    /// followed, and anything else there (a device, a FIFO, a directory) is refused untouched.
    pub fn create(path: &Path, meta: &Meta) -> Result<Self, WriteError> {
        let create_err = |source| WriteError::Create { path: path.to_path_buf(), source };
        let file = open_regular(path).map_err(create_err)?;
        let mut w =
            RecordingWriter { file, path: path.to_path_buf(), entries: EntryEncoder::default(), bytes: 0 };
        let mut head = Vec::new();
        chunk::write_file_header(&mut head).map_err(create_err)?;
        let json = serde_json::to_vec(meta).map_err(|e| create_err(io::Error::other(e)))?;
        chunk::write_chunk(&mut head, kind::META, 0, &json).map_err(create_err)?;
        w.write(&head)?;
        Ok(w)
    }

    /// The path written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written to the file so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Buffers one entry (writing a chunk if the buffer is large).
    pub fn push(&mut self, entry: &Entry) -> Result<(), WriteError> {
        self.entries.push(entry);
        if self.entries.len() >= CHUNK_TARGET {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered entries as one chunk (nothing if there are none).
    pub fn flush(&mut self) -> Result<(), WriteError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let payload = self.entries.take();
        let mut buf = Vec::with_capacity(payload.len() + chunk::CHUNK_HEADER_LEN);
        chunk::write_chunk(&mut buf, kind::ENTRIES, 0, &payload)
            .map_err(|source| WriteError::Write { path: self.path.clone(), source })?;
        self.write(&buf)
    }

    /// Flushes, writes the summary and syncs the file to disk.
    pub fn finish(mut self, summary: &Summary) -> Result<u64, WriteError> {
        self.flush()?;
        let write_err = |source| WriteError::Write { path: self.path.clone(), source };
        let json = serde_json::to_vec(summary).map_err(|e| write_err(io::Error::other(e)))?;
        let mut buf = Vec::new();
        chunk::write_chunk(&mut buf, kind::SUMMARY, 0, &json).map_err(write_err)?;
        self.write(&buf)?;
        self.file.sync_data().map_err(|source| WriteError::Write { path: self.path.clone(), source })?;
        Ok(self.bytes)
    }

    fn write(&mut self, buf: &[u8]) -> Result<(), WriteError> {
        self.file.write_all(buf).map_err(|source| WriteError::Write { path: self.path.clone(), source })?;
        self.bytes += buf.len() as u64;
        Ok(())
    }
}

/// Opens `path` for writing as a regular file. When nothing is there, it is created exclusively with
/// mode 0600. When something is, it is first opened with `O_PATH | O_NOFOLLOW` (which opens neither
/// a device nor a symlink's target) and checked; only a regular file is reopened through that
/// descriptor and truncated. Its mode is left as it is: cperf changes the mode of nothing it did not
/// create (a user who made the file chose who may read it).
fn open_regular(path: &Path) -> io::Result<File> {
    let create = || {
        File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
    };
    match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        other => return other,
    }
    let handle = match File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(handle) => handle,
        // Removed between the two opens: create it after all.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return create(),
        Err(e) => return Err(e),
    };
    let kind = handle.metadata()?.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_symlink() {
            "a symbolic link"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}; a recording is written only to a new file or over a regular file (give another -o path)"),
        ));
    }
    // The same inode the check saw, opened for writing through its descriptor.
    use std::os::fd::AsRawFd;
    let file = File::options()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", handle.as_raw_fd()))?;
    file.set_len(0)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::meta::test_meta as meta;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    /// Neither a FIFO nor a symlink to one is written to or has its mode changed; a regular file is
    /// overwritten (keeping its mode), a new one created 0600. (Device nodes are checked by the
    /// integration tests, which run as root.)
    #[test]
    fn only_regular_files_are_written() {
        let dir = std::env::temp_dir().join(format!("cperf-writer-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        // A reader, so that opening the FIFO for writing would not block: the old code opened it.
        let _reader = File::options().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
        for path in [&fifo, &link] {
            let e = RecordingWriter::create(path, &meta()).unwrap_err().to_string();
            assert!(e.contains("regular file") && !e.contains('\n'), "{}: {e}", path.display());
            let m = std::fs::metadata(&fifo).unwrap();
            assert!(m.file_type().is_fifo());
            assert_eq!(m.mode() & 0o777, 0o644, "{}: the FIFO's mode changed", path.display());
        }
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());

        let existing = dir.join("old.cperf");
        std::fs::write(&existing, vec![b'x'; 100_000]).unwrap();
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
        let len = RecordingWriter::create(&existing, &meta()).unwrap().finish(&Summary::default()).unwrap();
        let m = std::fs::metadata(&existing).unwrap();
        assert_eq!((m.len(), m.mode() & 0o777), (len, 0o644), "an existing file keeps its mode");

        let new = dir.join("new.cperf");
        RecordingWriter::create(&new, &meta()).unwrap();
        assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
