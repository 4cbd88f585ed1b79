//! Reading records out of a perf ring buffer.
//!
//! The kernel writes records into a power-of-two data area and advances `data_head`; the reader
//! consumes up to it and then publishes `data_tail`. A record may wrap around the end of the area: it is
//! handed out as two slices, never copied. The logic here works on plain slices and positions so it
//! is tested on a faked buffer; the mapping and the memory ordering of head/tail live in `sys`.

/// A mapped perf ring buffer, drained record by record.
#[derive(Debug)]
pub struct Ring {
    map: crate::sys::PerfMmap,
}

impl Ring {
    /// Maps the ring of a perf event opened for sampling; `data_pages` must be a power of two.
    pub fn map(fd: std::os::fd::BorrowedFd<'_>, data_pages: usize) -> Result<Ring, crate::SyscallError> {
        Ok(Ring { map: crate::sys::PerfMmap::map(fd, data_pages)? })
    }

    /// Calls `f` for every record written since the last drain, then frees their space.
    /// Returns how many bytes were consumed.
    pub fn drain(&mut self, f: impl FnMut(RawRecord<'_>)) -> Result<u64, RingError> {
        let tail = self.map.tail();
        let head = self.map.head();
        let result = read_records(self.map.data(), tail, head, f);
        // On corruption give up everything written so far: the kernel keeps writing after it.
        let new_tail = match result {
            Ok(t) => t,
            Err(_) => head,
        };
        self.map.set_tail(new_tail);
        result.map(|t| t - tail)
    }
}

/// The header every perf record starts with (`struct perf_event_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// `PERF_RECORD_*`.
    pub kind: u32,
    /// `PERF_RECORD_MISC_*` bits.
    pub misc: u16,
    /// Size of the whole record, header included.
    pub size: u16,
}

/// Size of [`RecordHeader`] in bytes.
pub const HEADER_SIZE: usize = 8;

/// One record as it lies in the ring: its body (after the header) in one or two pieces.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// The header.
    pub header: RecordHeader,
    /// The body up to the end of the data area.
    pub first: &'a [u8],
    /// The rest of the body, from the start of the data area (empty unless the record wraps).
    pub second: &'a [u8],
}

impl RawRecord<'_> {
    /// Length of the body.
    pub fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    /// True for a record with no body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body as one contiguous buffer, copying only when it wraps.
    pub fn body(&self) -> std::borrow::Cow<'_, [u8]> {
        if self.second.is_empty() {
            std::borrow::Cow::Borrowed(self.first)
        } else {
            let mut v = Vec::with_capacity(self.len());
            v.extend_from_slice(self.first);
            v.extend_from_slice(self.second);
            std::borrow::Cow::Owned(v)
        }
    }
}

/// Why a ring could not be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// A record claims a size smaller than its header or larger than what was written: the reader
    /// and the kernel disagree, and everything up to `head` is skipped.
    #[error("corrupt record in perf ring buffer at offset {offset} (size {size}); skipped {skipped} bytes")]
    Corrupt {
        /// Position of the bad record.
        offset: u64,
        /// Its claimed size.
        size: u16,
        /// Bytes given up.
        skipped: u64,
    },
}

/// Walks the records between `tail` and `head` of a data area (`data.len()` a power of two), calling
/// `f` for each. Returns the new tail (always `head` unless a record was cut short by `head`, which
/// the kernel never does).
pub fn read_records(
    data: &[u8],
    mut tail: u64,
    head: u64,
    mut f: impl FnMut(RawRecord<'_>),
) -> Result<u64, RingError> {
    let size = data.len() as u64;
    debug_assert!(size.is_power_of_two());
    while head.saturating_sub(tail) >= HEADER_SIZE as u64 {
        let mut header_bytes = [0u8; HEADER_SIZE];
        copy_out(data, tail, &mut header_bytes);
        let header = RecordHeader {
            kind: u32::from_ne_bytes([header_bytes[0], header_bytes[1], header_bytes[2], header_bytes[3]]),
            misc: u16::from_ne_bytes([header_bytes[4], header_bytes[5]]),
            size: u16::from_ne_bytes([header_bytes[6], header_bytes[7]]),
        };
        let record_size = u64::from(header.size);
        if record_size < HEADER_SIZE as u64 || record_size > head - tail || record_size > size {
            return Err(RingError::Corrupt { offset: tail, size: header.size, skipped: head - tail });
        }
        let body_start = (tail + HEADER_SIZE as u64) % size;
        let body_len = record_size - HEADER_SIZE as u64;
        let to_end = size - body_start;
        let (first, second) = if body_len <= to_end {
            (&data[body_start as usize..(body_start + body_len) as usize], &data[..0])
        } else {
            (&data[body_start as usize..], &data[..(body_len - to_end) as usize])
        };
        f(RawRecord { header, first, second });
        tail += record_size;
    }
    Ok(tail)
}

/// Copies `out.len()` bytes starting at ring position `pos`, wrapping at the end of `data`.
fn copy_out(data: &[u8], pos: u64, out: &mut [u8]) {
    let size = data.len();
    let start = (pos % size as u64) as usize;
    let n = out.len().min(size - start);
    out[..n].copy_from_slice(&data[start..start + n]);
    let rest = out.len() - n;
    out[n..].copy_from_slice(&data[..rest]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a record the way the kernel does, wrapping at the end.
    fn put(data: &mut [u8], head: &mut u64, kind: u32, body: &[u8]) {
        let size = (HEADER_SIZE + body.len()) as u16;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(&size.to_ne_bytes());
        bytes.extend_from_slice(body);
        let len = data.len() as u64;
        for (i, b) in bytes.iter().enumerate() {
            data[((*head + i as u64) % len) as usize] = *b;
        }
        *head += bytes.len() as u64;
    }

    #[test]
    fn reads_records_in_order() {
        let mut data = vec![0u8; 64];
        let mut head = 0;
        put(&mut data, &mut head, 9, &[1, 2, 3, 4, 5, 6, 7, 8]);
        put(&mut data, &mut head, 3, &[9; 16]);
        let mut seen = Vec::new();
        let tail =
            read_records(&data, 0, head, |r| seen.push((r.header.kind, r.body().into_owned()))).unwrap();
        assert_eq!(tail, head);
        assert_eq!(seen, vec![(9, vec![1, 2, 3, 4, 5, 6, 7, 8]), (3, vec![9; 16])]);
    }

    #[test]
    fn a_record_that_wraps_comes_in_two_slices() {
        let mut data = vec![0u8; 64];
        let mut head = 48; // as if 48 bytes were written and consumed before
        let tail = head;
        let body: Vec<u8> = (0..24).collect();
        put(&mut data, &mut head, 9, &body);
        let mut pieces = None;
        read_records(&data, tail, head, |r| {
            pieces = Some((r.first.to_vec(), r.second.to_vec(), r.body().into_owned()))
        })
        .unwrap();
        let (first, second, whole) = pieces.unwrap();
        assert_eq!(first.len(), 8); // 48 + 8 header = 56, 8 bytes to the end
        assert_eq!(second.len(), 16);
        assert_eq!(whole, body);
    }

    #[test]
    fn a_header_that_wraps_is_read_whole() {
        let mut data = vec![0u8; 64];
        let mut head = 60;
        let tail = head;
        put(&mut data, &mut head, 7, &[5; 8]);
        let mut kinds = Vec::new();
        read_records(&data, tail, head, |r| kinds.push((r.header.kind, r.body().into_owned()))).unwrap();
        assert_eq!(kinds, vec![(7, vec![5; 8])]);
    }

    #[test]
    fn corrupt_sizes_are_reported_not_looped_on() {
        let mut data = vec![0u8; 64];
        // A header claiming 4 bytes (smaller than itself).
        data[6..8].copy_from_slice(&4u16.to_ne_bytes());
        assert!(matches!(
            read_records(&data, 0, 16, |_| {}),
            Err(RingError::Corrupt { offset: 0, size: 4, .. })
        ));
        // A header claiming more than was written.
        data[6..8].copy_from_slice(&40u16.to_ne_bytes());
        assert!(matches!(read_records(&data, 0, 16, |_| {}), Err(RingError::Corrupt { size: 40, .. })));
    }

    /// A real sampling event on this thread: the kernel's records come out of the mapped ring.
    #[test]
    fn drains_real_samples() {
        use crate::sys::{self, perf, Target};
        use std::os::fd::AsFd;
        let mut attr = sys::new_attr();
        attr.type_ = perf::PERF_TYPE_SOFTWARE;
        attr.config = u64::from(perf::PERF_COUNT_SW_TASK_CLOCK);
        attr.__bindgen_anon_1.sample_period = 100_000; // every 0.1 ms of CPU time
        attr.sample_type = u64::from(perf::PERF_SAMPLE_TID | perf::PERF_SAMPLE_TIME);
        attr.set_exclude_kernel(1);
        let tid = nix::unistd::gettid().as_raw();
        let fd = match sys::perf_event_open(&attr, Target::Pid(tid), -1) {
            Ok(fd) => fd,
            Err(e) if std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1") => {
                eprintln!("skipped: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let mut ring = Ring::map(fd.as_fd(), 8).unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(20) {
            std::hint::black_box(0u64);
        }
        let mut samples = 0;
        ring.drain(|r| {
            if r.header.kind == perf::PERF_RECORD_SAMPLE {
                let body = r.body();
                let pid = u32::from_ne_bytes(body[0..4].try_into().unwrap());
                assert_eq!(pid, std::process::id());
                samples += 1;
            }
        })
        .unwrap();
        assert!(samples >= 20, "{samples} samples in 20 ms at one per 0.1 ms");
        // Everything was consumed: a second drain sees nothing new (or only a few fresh samples).
        let again = ring.drain(|_| {}).unwrap();
        assert!(again < 4096, "{again} bytes left after draining");
    }

    #[test]
    fn a_partial_header_waits() {
        let data = vec![0u8; 64];
        assert_eq!(read_records(&data, 10, 14, |_| panic!("no record yet")).unwrap(), 10);
    }
}
