//! Typed perf records, parsed from ring-buffer bodies.
//!
//! cperf opens its sampling events with one fixed layout ([`sample_type`], `sample_id_all`), with or
//! without a callchain, so the parser needs no per-event format negotiation. Every read is bounds-checked: a short or malformed
//! body is an error, never a panic.

use crate::sys::perf;

/// What cperf's samples carry besides the fixed fields: the layout a sampling event is opened with
/// and its records are parsed with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleLayout {
    /// Kernel and user callchains (`-g`).
    pub callchain: bool,
    /// The user registers sampled (`sample_regs_user`, a `PERF_REG_*` bit mask); 0 for none.
    pub user_regs: u64,
    /// Bytes of user stack copied per sample from the user stack pointer up (`sample_stack_user`);
    /// 0 for none.
    pub stack_user: u32,
}

/// The `sample_type` cperf samples with: which fields a `PERF_RECORD_SAMPLE` carries, in kernel order;
/// the callchain only with `-g`, user registers only when asked for. The cgroup id (kernel 5.7+) lets
/// a recorder drop the samples a cgroup-filtered event takes at a context switch while the task
/// switching in or out is another cgroup's.
pub fn sample_type(layout: SampleLayout) -> u64 {
    let mut t = perf::PERF_SAMPLE_IDENTIFIER
        | perf::PERF_SAMPLE_IP
        | perf::PERF_SAMPLE_TID
        | perf::PERF_SAMPLE_TIME
        | perf::PERF_SAMPLE_CPU
        | perf::PERF_SAMPLE_PERIOD
        | perf::PERF_SAMPLE_CGROUP;
    if layout.callchain {
        t |= perf::PERF_SAMPLE_CALLCHAIN;
    }
    if layout.user_regs != 0 {
        t |= perf::PERF_SAMPLE_REGS_USER;
    }
    if layout.stack_user != 0 {
        t |= perf::PERF_SAMPLE_STACK_USER;
    }
    u64::from(t)
}

/// `PERF_RECORD_MISC_MMAP_BUILD_ID`: the MMAP2 record carries a build-id instead of inode numbers.
const MISC_MMAP_BUILD_ID: u16 = 1 << 14;
/// `PERF_RECORD_MISC_COMM_EXEC`: the COMM record comes from an exec.
const MISC_COMM_EXEC: u16 = 1 << 13;

/// What `sample_id_all` appends to every non-sample record (for cperf's [`sample_type`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleId {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// perf clock time (ns).
    pub time: u64,
    /// CPU.
    pub cpu: u32,
    /// Event id.
    pub id: u64,
}

/// A `PERF_RECORD_SAMPLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Event id.
    pub id: u64,
    /// Instruction pointer.
    pub ip: u64,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// perf clock time (ns).
    pub time: u64,
    /// CPU.
    pub cpu: u32,
    /// The sample period (events, or ns for clock events).
    pub period: u64,
    /// The callchain as the kernel gives it, context markers (`PERF_CONTEXT_*`) included.
    pub callchain: Vec<u64>,
    /// `PERF_RECORD_MISC_*` bits (kernel/user mode of `ip`).
    pub misc: u16,
    /// The cgroup (v2 id, the inode of its directory) of the task sampled.
    pub cgroup: u64,
    /// The user registers asked for ([`SampleLayout::user_regs`]), lowest register number first;
    /// empty when none were asked for or the task had no user state (a kernel thread).
    pub user_regs: Vec<u64>,
    /// The user stack copied from the user stack pointer up ([`SampleLayout::stack_user`] bytes
    /// asked for; what the kernel could copy of them): process memory, to unwind and drop.
    pub user_stack: Vec<u8>,
    /// How many bytes of stack the kernel set out to copy for this sample: what was asked for, or
    /// less when the record had no room for more (a copy of this size is full: the stack may go
    /// on past it).
    pub user_stack_size: u64,
    /// `PERF_SAMPLE_REGS_ABI_*` of the user registers: 2 for a 64-bit task, 1 for a 32-bit one, 0
    /// for none.
    pub user_regs_abi: u64,
}

/// A `PERF_RECORD_MMAP2`: an executable (or data) mapping of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mmap2 {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Start address.
    pub addr: u64,
    /// Length.
    pub len: u64,
    /// File offset of `addr`.
    pub pgoff: u64,
    /// Identity of the mapped file.
    pub file_id: FileId,
    /// `PROT_*`.
    pub prot: u32,
    /// `MAP_*`.
    pub flags: u32,
    /// The path as the process sees it (inside its mount namespace), or `[vdso]`, `//anon`, ….
    pub filename: Vec<u8>,
    /// The `sample_id_all` trailer.
    pub sample_id: SampleId,
}

/// How the kernel identified a mapped file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileId {
    /// Device and inode.
    Inode {
        /// Major device number.
        maj: u32,
        /// Minor device number.
        min: u32,
        /// Inode number.
        ino: u64,
        /// Inode generation.
        ino_generation: u64,
    },
    /// The ELF build-id (with `perf_event_attr.build_id`, kernel 5.12+).
    BuildId(Vec<u8>),
}

/// A `PERF_RECORD_COMM`: a thread's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comm {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The name.
    pub comm: Vec<u8>,
    /// True when set by an exec.
    pub exec: bool,
    /// The `sample_id_all` trailer.
    pub sample_id: SampleId,
}

/// A `PERF_RECORD_FORK` or `PERF_RECORD_EXIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskEvent {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent thread id.
    pub ptid: u32,
    /// When.
    pub time: u64,
    /// The `sample_id_all` trailer.
    pub sample_id: SampleId,
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A sample.
    Sample(Sample),
    /// A mapping.
    Mmap2(Mmap2),
    /// A name.
    Comm(Comm),
    /// A new task.
    Fork(TaskEvent),
    /// A task that ended.
    Exit(TaskEvent),
    /// Records the kernel could not write because the ring was full.
    Lost {
        /// Event id.
        id: u64,
        /// How many.
        lost: u64,
        /// The `sample_id_all` trailer.
        sample_id: SampleId,
    },
    /// Samples dropped (e.g. by a BPF filter or throttling).
    LostSamples {
        /// How many.
        lost: u64,
        /// The `sample_id_all` trailer.
        sample_id: SampleId,
    },
    /// Any other record type, kept by number.
    Other(u32),
}

/// A record body too short or malformed for its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed perf record of type {kind}: {what}")]
pub struct ParseError {
    /// `PERF_RECORD_*`.
    pub kind: u32,
    /// What was wrong.
    pub what: &'static str,
}

/// Parses a record body (after its header) of an event opened with `layout`.
pub fn parse(kind: u32, misc: u16, body: &[u8], layout: SampleLayout) -> Result<Record, ParseError> {
    let mut c = Cursor { buf: body, pos: 0, kind };
    Ok(match kind {
        perf::PERF_RECORD_SAMPLE => {
            let id = c.u64()?;
            let ip = c.u64()?;
            let (pid, tid) = (c.u32()?, c.u32()?);
            let time = c.u64()?;
            let cpu = c.u32()?;
            let _res = c.u32()?;
            let period = c.u64()?;
            let nr = if layout.callchain { c.u64()? } else { 0 };
            if nr > (c.remaining() / 8) as u64 {
                return Err(c.error("callchain longer than the record"));
            }
            let callchain = (0..nr).map(|_| c.u64()).collect::<Result<Vec<_>, _>>()?;
            let mut user_regs = Vec::new();
            let mut user_regs_abi = 0;
            if layout.user_regs != 0 {
                // PERF_SAMPLE_REGS_ABI_NONE (0): no user state, and no registers follow.
                user_regs_abi = c.u64()?;
                if user_regs_abi != 0 {
                    user_regs =
                        (0..layout.user_regs.count_ones()).map(|_| c.u64()).collect::<Result<_, _>>()?;
                }
            }
            let mut user_stack = Vec::new();
            let mut user_stack_size = 0;
            if layout.stack_user != 0 {
                // `size`, `size` bytes, then (when size is not 0) how many of them were copied.
                let size = c.u64()?;
                if size > c.remaining() as u64 {
                    return Err(c.error("user stack longer than the record"));
                }
                let data = c.bytes(size as usize)?;
                user_stack_size = size;
                if size != 0 {
                    let copied = c.u64()?;
                    user_stack = data[..(copied.min(size) as usize)].to_vec();
                }
            }
            let cgroup = c.u64()?;
            Record::Sample(Sample {
                id,
                ip,
                pid,
                tid,
                time,
                cpu,
                period,
                callchain,
                misc,
                cgroup,
                user_regs,
                user_stack,
                user_stack_size,
                user_regs_abi,
            })
        }
        perf::PERF_RECORD_MMAP2 => {
            let (pid, tid) = (c.u32()?, c.u32()?);
            let (addr, len, pgoff) = (c.u64()?, c.u64()?, c.u64()?);
            let file_id = if misc & MISC_MMAP_BUILD_ID != 0 {
                let size = c.bytes(1)?[0] as usize;
                c.bytes(3)?;
                let id = c.bytes(20)?;
                if size > 20 {
                    return Err(c.error("build-id longer than 20 bytes"));
                }
                FileId::BuildId(id[..size].to_vec())
            } else {
                FileId::Inode { maj: c.u32()?, min: c.u32()?, ino: c.u64()?, ino_generation: c.u64()? }
            };
            let (prot, flags) = (c.u32()?, c.u32()?);
            let filename = c.c_string()?;
            let sample_id = c.sample_id()?;
            Record::Mmap2(Mmap2 { pid, tid, addr, len, pgoff, file_id, prot, flags, filename, sample_id })
        }
        perf::PERF_RECORD_COMM => {
            let (pid, tid) = (c.u32()?, c.u32()?);
            let comm = c.c_string()?;
            let sample_id = c.sample_id()?;
            Record::Comm(Comm { pid, tid, comm, exec: misc & MISC_COMM_EXEC != 0, sample_id })
        }
        perf::PERF_RECORD_FORK | perf::PERF_RECORD_EXIT => {
            let (pid, ppid, tid, ptid) = (c.u32()?, c.u32()?, c.u32()?, c.u32()?);
            let time = c.u64()?;
            let sample_id = c.sample_id()?;
            let t = TaskEvent { pid, ppid, tid, ptid, time, sample_id };
            if kind == perf::PERF_RECORD_FORK {
                Record::Fork(t)
            } else {
                Record::Exit(t)
            }
        }
        perf::PERF_RECORD_LOST => {
            let (id, lost) = (c.u64()?, c.u64()?);
            Record::Lost { id, lost, sample_id: c.sample_id()? }
        }
        perf::PERF_RECORD_LOST_SAMPLES => {
            let lost = c.u64()?;
            Record::LostSamples { lost, sample_id: c.sample_id()? }
        }
        other => Record::Other(other),
    })
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    kind: u32,
}

impl<'a> Cursor<'a> {
    fn error(&self, what: &'static str) -> ParseError {
        ParseError { kind: self.kind, what }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(self.error("record too short"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, ParseError> {
        let b = self.bytes(4)?;
        Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, ParseError> {
        let b = self.bytes(8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(u64::from_ne_bytes(w))
    }

    /// A NUL-terminated string padded to 8 bytes, as the kernel writes names.
    fn c_string(&mut self) -> Result<Vec<u8>, ParseError> {
        let rest = &self.buf[self.pos..];
        let nul = rest.iter().position(|&b| b == 0).ok_or(self.error("unterminated string"))?;
        let padded = (nul + 1).next_multiple_of(8).min(rest.len());
        let s = rest[..nul].to_vec();
        self.pos += padded;
        Ok(s)
    }

    /// The trailer for cperf's sample type: TID, TIME, CPU, IDENTIFIER (in that order).
    fn sample_id(&mut self) -> Result<SampleId, ParseError> {
        let (pid, tid) = (self.u32()?, self.u32()?);
        let time = self.u64()?;
        let cpu = self.u32()?;
        let _res = self.u32()?;
        let id = self.u64()?;
        Ok(SampleId { pid, tid, time, cpu, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: SampleLayout = SampleLayout { callchain: true, user_regs: 0, stack_user: 0 };

    #[derive(Default)]
    struct Bytes(Vec<u8>);
    impl Bytes {
        fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }
        fn name(mut self, s: &str) -> Self {
            self.0.extend_from_slice(s.as_bytes());
            let padded = (s.len() + 1).next_multiple_of(8);
            self.0.resize(self.0.len() + padded - s.len(), 0);
            self
        }
        fn sample_id(self) -> Self {
            self.u32(7).u32(8).u64(1000).u32(1).u32(0).u64(42)
        }
    }

    #[test]
    fn sample_with_callchain() {
        let body = Bytes::default().u64(42).u64(0x1000).u32(7).u32(8).u64(99).u32(1).u32(0).u64(10_101_010);
        let body = body.u64(3).u64(perf::PERF_CONTEXT_USER).u64(0x1000).u64(0x2000).u64(77).0;
        let r = parse(perf::PERF_RECORD_SAMPLE, 2, &body, CHAIN).unwrap();
        let Record::Sample(s) = r else { panic!("{r:?}") };
        assert_eq!(
            (s.id, s.ip, s.pid, s.tid, s.time, s.cpu, s.period),
            (42, 0x1000, 7, 8, 99, 1, 10_101_010)
        );
        assert_eq!(s.callchain, [perf::PERF_CONTEXT_USER, 0x1000, 0x2000]);
        assert_eq!(s.cgroup, 77);
    }

    #[test]
    fn sample_with_user_registers() {
        let head = || Bytes::default().u64(42).u64(0x1000).u32(7).u32(8).u64(99).u32(1).u32(0).u64(1);
        let layout = SampleLayout { callchain: false, user_regs: 1, stack_user: 0 };
        // ABI 2 (64-bit), one register (AX), then the cgroup.
        let body = head().u64(2).u64(-4i64 as u64).u64(77).0;
        let Record::Sample(s) = parse(perf::PERF_RECORD_SAMPLE, 2, &body, layout).unwrap() else { panic!() };
        assert_eq!((s.user_regs.as_slice(), s.cgroup), ([-4i64 as u64].as_slice(), 77));
        // ABI 0: a kernel thread, no registers follow.
        let body = head().u64(0).u64(77).0;
        let Record::Sample(s) = parse(perf::PERF_RECORD_SAMPLE, 2, &body, layout).unwrap() else { panic!() };
        assert_eq!((s.user_regs.len(), s.cgroup), (0, 77));
        let layout = SampleLayout { callchain: false, user_regs: 0b101, stack_user: 0 };
        let body = head().u64(2).u64(5).u64(6).u64(77).0;
        let Record::Sample(s) = parse(perf::PERF_RECORD_SAMPLE, 2, &body, layout).unwrap() else { panic!() };
        assert_eq!(s.user_regs, [5, 6]);
        assert!(parse(perf::PERF_RECORD_SAMPLE, 2, &head().u64(2).u64(5).0, layout).is_err());
    }

    #[test]
    fn sample_with_a_user_stack() {
        let head = || Bytes::default().u64(42).u64(0x1000).u32(7).u32(8).u64(99).u32(1).u32(0).u64(1);
        let layout = SampleLayout { callchain: false, user_regs: 0b11, stack_user: 16 };
        // Registers, then 16 bytes of stack of which 12 were copied, then the cgroup.
        let mut body = head().u64(2).u64(5).u64(6).u64(16);
        body.0.extend(1..=16u8);
        let body = body.u64(12).u64(77).0;
        let Record::Sample(s) = parse(perf::PERF_RECORD_SAMPLE, 2, &body, layout).unwrap() else { panic!() };
        assert_eq!(
            (s.user_regs.as_slice(), s.user_stack.as_slice(), s.cgroup),
            ([5, 6].as_slice(), &[1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12][..], 77)
        );
        assert_eq!((s.user_stack_size, s.user_regs_abi), (16, 2));
        // A kernel thread: no registers, a zero-size stack and no copied count.
        let body = head().u64(0).u64(0).u64(77).0;
        let Record::Sample(s) = parse(perf::PERF_RECORD_SAMPLE, 2, &body, layout).unwrap() else { panic!() };
        assert_eq!((s.user_stack.len(), s.cgroup), (0, 77));
        // A size past the record's end, and a copied count larger than the size.
        assert!(parse(perf::PERF_RECORD_SAMPLE, 2, &head().u64(0).u64(1 << 40).0, layout).is_err());
        let mut body = head().u64(0).u64(8);
        body.0.extend([9u8; 8]);
        let body = body.u64(1 << 20).u64(77).0;
        let Record::Sample(s) = parse(perf::PERF_RECORD_SAMPLE, 2, &body, layout).unwrap() else { panic!() };
        assert_eq!(s.user_stack, [9u8; 8]);
    }

    #[test]
    fn callchain_longer_than_body_is_an_error() {
        let body = Bytes::default().u64(1).u64(2).u32(3).u32(4).u64(5).u32(0).u32(0).u64(1).u64(1_000_000).0;
        assert!(parse(perf::PERF_RECORD_SAMPLE, 0, &body, CHAIN).is_err());
    }

    #[test]
    fn mmap2_with_build_id_and_inode() {
        let mut with_id = Bytes::default().u32(7).u32(8).u64(0x400000).u64(0x1000).u64(0);
        with_id.0.extend_from_slice(&[20, 0, 0, 0]);
        with_id.0.extend_from_slice(&[0xab; 20]); // the union is 24 bytes, like maj, min, ino, ino_generation
        let with_id = with_id.u32(5).u32(2).name("/usr/bin/app").sample_id().0;
        let Record::Mmap2(m) = parse(perf::PERF_RECORD_MMAP2, MISC_MMAP_BUILD_ID, &with_id, CHAIN).unwrap()
        else {
            panic!()
        };
        assert_eq!(m.file_id, FileId::BuildId(vec![0xab; 20]));
        assert_eq!(m.filename, b"/usr/bin/app");
        assert_eq!(m.sample_id.id, 42);

        let inode = Bytes::default().u32(7).u32(8).u64(0x400000).u64(0x1000).u64(0x2000);
        let inode = inode.u32(8).u32(1).u64(1234).u64(0).u32(5).u32(2).name("/lib/x.so").sample_id().0;
        let Record::Mmap2(m) = parse(perf::PERF_RECORD_MMAP2, 0, &inode, CHAIN).unwrap() else { panic!() };
        assert_eq!(m.file_id, FileId::Inode { maj: 8, min: 1, ino: 1234, ino_generation: 0 });
        assert_eq!((m.pgoff, m.filename.as_slice()), (0x2000, b"/lib/x.so".as_slice()));
    }

    #[test]
    fn comm_fork_exit_lost() {
        let comm = Bytes::default().u32(7).u32(7).name("nginx").sample_id().0;
        let Record::Comm(c) = parse(perf::PERF_RECORD_COMM, MISC_COMM_EXEC, &comm, CHAIN).unwrap() else {
            panic!()
        };
        assert_eq!((c.comm.as_slice(), c.exec), (b"nginx".as_slice(), true));
        let fork = Bytes::default().u32(9).u32(7).u32(9).u32(7).u64(5).sample_id().0;
        assert!(matches!(
            parse(perf::PERF_RECORD_FORK, 0, &fork, CHAIN).unwrap(),
            Record::Fork(TaskEvent { pid: 9, ppid: 7, .. })
        ));
        assert!(matches!(parse(perf::PERF_RECORD_EXIT, 0, &fork, CHAIN).unwrap(), Record::Exit(_)));
        let lost = Bytes::default().u64(42).u64(17).sample_id().0;
        assert!(matches!(
            parse(perf::PERF_RECORD_LOST, 0, &lost, CHAIN).unwrap(),
            Record::Lost { lost: 17, .. }
        ));
    }

    #[test]
    fn truncated_bodies_never_panic() {
        let full = Bytes::default().u32(7).u32(7).name("nginx").sample_id().0;
        for kind in [
            perf::PERF_RECORD_SAMPLE,
            perf::PERF_RECORD_MMAP2,
            perf::PERF_RECORD_COMM,
            perf::PERF_RECORD_FORK,
            perf::PERF_RECORD_LOST,
            perf::PERF_RECORD_LOST_SAMPLES,
        ] {
            for n in 0..full.len() {
                let _ = parse(kind, MISC_MMAP_BUILD_ID, &full[..n], CHAIN);
                let _ = parse(kind, 0, &full[..n], CHAIN);
            }
        }
    }
}
