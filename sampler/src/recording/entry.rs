//! The entries of a recording's data chunks: strings, processes, modules, frames, stacks, samples,
//! symbols, JIT maps and losses, each a tag, a length and a body (see `docs/recording-format.md`).
//!
//! Definitions come before their uses in the stream (a stack before the samples that name it, a
//! frame before the stacks), so a reader can go front to back in one pass with memory bounded by the
//! number of distinct strings, frames and stacks, never by the number of samples.

use super::codec::{DecodeError, Decoder, Encoder};

/// What kind of code a module is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleKind {
    /// An ELF file (executable or shared library); frame offsets are file offsets.
    Elf,
    /// The kernel and its modules; frame offsets are kernel addresses.
    Kernel,
    /// The vDSO; frame offsets are offsets into its image.
    Vdso,
    /// Anonymous executable memory of one process (JIT code); frame offsets are addresses, named by
    /// that process's perf map if it has one.
    Anonymous,
    /// An address in no known mapping; the offset is the address.
    Unmapped,
}

impl ModuleKind {
    fn code(self) -> u64 {
        match self {
            ModuleKind::Elf => 0,
            ModuleKind::Kernel => 1,
            ModuleKind::Vdso => 2,
            ModuleKind::Anonymous => 3,
            ModuleKind::Unmapped => 4,
        }
    }

    fn from_code(c: u64) -> Result<Self, DecodeError> {
        Ok(match c {
            0 => ModuleKind::Elf,
            1 => ModuleKind::Kernel,
            2 => ModuleKind::Vdso,
            3 => ModuleKind::Anonymous,
            4 => ModuleKind::Unmapped,
            _ => return Err(DecodeError("unknown module kind")),
        })
    }
}

/// One source line of a symbolized frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Function name (a string id; 0 when unknown).
    pub function: u32,
    /// Source file (a string id; 0 when unknown).
    pub file: u32,
    /// Line number (0 when unknown).
    pub line: u32,
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Defines string `id` (ids start at 1; 0 means "none").
    Str {
        /// The id later entries use.
        id: u32,
        /// The bytes (UTF-8 where the source was).
        text: Vec<u8>,
    },
    /// A process seen for the first time.
    Process {
        /// Host pid.
        pid: u32,
        /// Index of the target (in the metadata) it was sampled under.
        target: u32,
        /// Its pid inside its own PID namespace (0 when unknown).
        ns_pid: u32,
        /// Its executable as it sees it, when known (a string id).
        exe: u32,
    },
    /// A thread's name (from the start, or an exec or `prctl` later).
    Comm {
        /// perf clock time.
        time: u64,
        /// Process.
        pid: u32,
        /// Thread.
        tid: u32,
        /// Set by an exec.
        exec: bool,
        /// The name.
        name: Vec<u8>,
    },
    /// A new process or thread.
    Fork {
        /// perf clock time.
        time: u64,
        /// Process.
        pid: u32,
        /// Parent process.
        ppid: u32,
        /// Thread.
        tid: u32,
        /// Parent thread.
        ptid: u32,
    },
    /// A thread (and, when `pid == tid`, its process) ended.
    Exit {
        /// perf clock time.
        time: u64,
        /// Process.
        pid: u32,
        /// Thread.
        tid: u32,
    },
    /// Defines module `id`.
    Module {
        /// The id frames use.
        id: u32,
        /// What it is.
        kind: ModuleKind,
        /// Its path as the process saw it (`[kernel.kallsyms]`, `[vdso]`, `//anon` for the others).
        path: Vec<u8>,
        /// The build-id the kernel reported for it, if any.
        build_id: Vec<u8>,
        /// For [`ModuleKind::Anonymous`] and [`ModuleKind::Unmapped`]: the process it belongs to.
        pid: u32,
    },
    /// What was captured for a module's symbols (written once cperf has read it).
    ModuleStatus {
        /// The module.
        id: u32,
        /// The build-id of the file actually read (empty when it has none or was not read).
        build_id: Vec<u8>,
        /// How its frames are named: `dwarf`, `symtab`, `dynsym`, `kallsyms`, `perf-map`, or `none: <why>`.
        symbols: Vec<u8>,
    },
    /// An executable mapping of a process.
    Mapping {
        /// perf clock time (0 for mappings that predate the recording).
        time: u64,
        /// Process.
        pid: u32,
        /// Start address.
        start: u64,
        /// Length.
        len: u64,
        /// File offset of `start`.
        pgoff: u64,
        /// The module mapped.
        module: u32,
    },
    /// Defines frame `id`: a code location inside a module.
    Frame {
        /// The id stacks use.
        id: u32,
        /// The module.
        module: u32,
        /// The location (see [`ModuleKind`] for its meaning).
        offset: u64,
        /// A return address (every frame but the first of a callchain context): it is looked up at
        /// `offset - 1`, inside the call instruction.
        caller: bool,
    },
    /// Defines stack `id`: frames leaf first, the first `kernel` of them kernel frames.
    Stack {
        /// The id samples use.
        id: u32,
        /// How many leading frames are kernel frames.
        kernel: u32,
        /// Frame ids, leaf first.
        frames: Vec<u32>,
    },
    /// One sample.
    Sample {
        /// perf clock time.
        time: u64,
        /// Process.
        pid: u32,
        /// Thread.
        tid: u32,
        /// CPU.
        cpu: u32,
        /// Target index.
        target: u32,
        /// The sample's period (events, or nanoseconds for clock events).
        period: u64,
        /// The stack.
        stack: u32,
        /// The value sampled with it, when the recording samples one (META `value`): the whole
        /// 64-bit register, as a signed integer.
        value: Option<i64>,
    },
    /// The names of a frame, innermost (inlined) first; empty `lines` when it could not be named.
    Symbols {
        /// The frame.
        frame: u32,
        /// Source lines, innermost first.
        lines: Vec<Line>,
        /// Why it has no name (a string id; 0 when named).
        unknown: u32,
    },
    /// A piece of a process's JIT perf map (`/tmp/perf-<ns_pid>.map` inside its root).
    PerfMap {
        /// Process.
        pid: u32,
        /// True when this piece starts a new version of the map (the file was rewritten).
        reset: bool,
        /// The bytes, appended to what came before for this process.
        data: Vec<u8>,
    },
    /// Records the kernel dropped because a ring was full, or samples it dropped.
    Lost {
        /// perf clock time.
        time: u64,
        /// CPU.
        cpu: u32,
        /// How many.
        count: u64,
    },
}

mod tag {
    pub const STR: u64 = 1;
    pub const PROCESS: u64 = 2;
    pub const COMM: u64 = 3;
    pub const FORK: u64 = 4;
    pub const EXIT: u64 = 5;
    pub const MODULE: u64 = 6;
    pub const MODULE_STATUS: u64 = 7;
    pub const MAPPING: u64 = 8;
    pub const FRAME: u64 = 9;
    pub const STACK: u64 = 10;
    pub const SAMPLE: u64 = 11;
    pub const SYMBOLS: u64 = 12;
    pub const PERF_MAP: u64 = 13;
    pub const LOST: u64 = 14;
}

/// Encodes entries into one chunk payload. Sample times are deltas from the previous sample of the
/// same chunk, so a chunk decodes on its own.
#[derive(Debug, Default)]
pub struct EntryEncoder {
    out: Encoder,
    body: Encoder,
    last_sample_time: u64,
}

impl EntryEncoder {
    /// Bytes encoded so far.
    pub fn len(&self) -> usize {
        self.out.buf.len()
    }

    /// True when nothing is encoded.
    pub fn is_empty(&self) -> bool {
        self.out.buf.is_empty()
    }

    /// Takes the payload and starts a new chunk.
    pub fn take(&mut self) -> Vec<u8> {
        self.last_sample_time = 0;
        std::mem::take(&mut self.out.buf)
    }

    /// Appends one entry.
    pub fn push(&mut self, entry: &Entry) {
        let b = &mut self.body;
        b.buf.clear();
        let tag = match entry {
            Entry::Str { id, text } => {
                b.u64((*id).into());
                b.bytes(text);
                tag::STR
            }
            Entry::Process { pid, target, ns_pid, exe } => {
                for v in [*pid, *target, *ns_pid, *exe] {
                    b.u64(v.into());
                }
                tag::PROCESS
            }
            Entry::Comm { time, pid, tid, exec, name } => {
                b.u64(*time);
                b.u64((*pid).into());
                b.u64((*tid).into());
                b.u64((*exec).into());
                b.bytes(name);
                tag::COMM
            }
            Entry::Fork { time, pid, ppid, tid, ptid } => {
                b.u64(*time);
                for v in [*pid, *ppid, *tid, *ptid] {
                    b.u64(v.into());
                }
                tag::FORK
            }
            Entry::Exit { time, pid, tid } => {
                b.u64(*time);
                b.u64((*pid).into());
                b.u64((*tid).into());
                tag::EXIT
            }
            Entry::Module { id, kind, path, build_id, pid } => {
                b.u64((*id).into());
                b.u64(kind.code());
                b.bytes(path);
                b.bytes(build_id);
                b.u64((*pid).into());
                tag::MODULE
            }
            Entry::ModuleStatus { id, build_id, symbols } => {
                b.u64((*id).into());
                b.bytes(build_id);
                b.bytes(symbols);
                tag::MODULE_STATUS
            }
            Entry::Mapping { time, pid, start, len, pgoff, module } => {
                b.u64(*time);
                b.u64((*pid).into());
                b.u64(*start);
                b.u64(*len);
                b.u64(*pgoff);
                b.u64((*module).into());
                tag::MAPPING
            }
            Entry::Frame { id, module, offset, caller } => {
                b.u64((*id).into());
                b.u64((*module).into());
                b.u64(*offset);
                b.u64((*caller).into());
                tag::FRAME
            }
            Entry::Stack { id, kernel, frames } => {
                b.u64((*id).into());
                b.u64((*kernel).into());
                b.u64(frames.len() as u64);
                for &f in frames {
                    b.u64(f.into());
                }
                tag::STACK
            }
            Entry::Sample { time, pid, tid, cpu, target, period, stack, value } => {
                b.i64(time.wrapping_sub(self.last_sample_time) as i64);
                self.last_sample_time = *time;
                for v in [*pid, *tid, *cpu, *target] {
                    b.u64(v.into());
                }
                b.u64(*period);
                b.u64((*stack).into());
                if let Some(v) = value {
                    b.i64(*v);
                }
                tag::SAMPLE
            }
            Entry::Symbols { frame, lines, unknown } => {
                b.u64((*frame).into());
                b.u64((*unknown).into());
                b.u64(lines.len() as u64);
                for l in lines {
                    b.u64(l.function.into());
                    b.u64(l.file.into());
                    b.u64(l.line.into());
                }
                tag::SYMBOLS
            }
            Entry::PerfMap { pid, reset, data } => {
                b.u64((*pid).into());
                b.u64((*reset).into());
                b.bytes(data);
                tag::PERF_MAP
            }
            Entry::Lost { time, cpu, count } => {
                b.u64(*time);
                b.u64((*cpu).into());
                b.u64(*count);
                tag::LOST
            }
        };
        self.out.u64(tag);
        self.out.bytes(&self.body.buf);
    }
}

/// Where an [`EntryDecoder`] stopped in its payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderState {
    position: usize,
    last_sample_time: u64,
}

/// Decodes the entries of one chunk payload.
#[derive(Debug)]
pub struct EntryDecoder<'a> {
    d: Decoder<'a>,
    last_sample_time: u64,
}

impl<'a> EntryDecoder<'a> {
    /// A decoder over one chunk payload.
    pub fn new(payload: &'a [u8]) -> Self {
        EntryDecoder { d: Decoder::new(payload), last_sample_time: 0 }
    }

    /// A decoder that goes on where another over the same payload stopped (see
    /// [`EntryDecoder::state`]).
    pub fn resume(payload: &'a [u8], state: DecoderState) -> Self {
        EntryDecoder { d: Decoder::at(payload, state.position), last_sample_time: state.last_sample_time }
    }

    /// Where it is, to [`EntryDecoder::resume`] later.
    pub fn state(&self) -> DecoderState {
        DecoderState { position: self.d.position(), last_sample_time: self.last_sample_time }
    }

    /// The next entry: `Ok(None)` at the end of the chunk. Entries with an unknown tag (from a newer
    /// writer) are skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, DecodeError> {
        loop {
            if self.d.is_empty() {
                return Ok(None);
            }
            let tag = self.d.u64()?;
            let body = self.d.bytes()?;
            if let Some(e) = self.decode(tag, body)? {
                return Ok(Some(e));
            }
        }
    }

    fn decode(&mut self, tag: u64, body: &[u8]) -> Result<Option<Entry>, DecodeError> {
        let mut b = Decoder::new(body);
        let bool_ = |b: &mut Decoder<'_>| b.u64().map(|v| v != 0);
        Ok(Some(match tag {
            tag::STR => Entry::Str { id: b.u32()?, text: b.bytes()?.to_vec() },
            tag::PROCESS => {
                Entry::Process { pid: b.u32()?, target: b.u32()?, ns_pid: b.u32()?, exe: b.u32()? }
            }
            tag::COMM => Entry::Comm {
                time: b.u64()?,
                pid: b.u32()?,
                tid: b.u32()?,
                exec: bool_(&mut b)?,
                name: b.bytes()?.to_vec(),
            },
            tag::FORK => {
                Entry::Fork { time: b.u64()?, pid: b.u32()?, ppid: b.u32()?, tid: b.u32()?, ptid: b.u32()? }
            }
            tag::EXIT => Entry::Exit { time: b.u64()?, pid: b.u32()?, tid: b.u32()? },
            tag::MODULE => Entry::Module {
                id: b.u32()?,
                kind: ModuleKind::from_code(b.u64()?)?,
                path: b.bytes()?.to_vec(),
                build_id: b.bytes()?.to_vec(),
                pid: b.u32()?,
            },
            tag::MODULE_STATUS => Entry::ModuleStatus {
                id: b.u32()?,
                build_id: b.bytes()?.to_vec(),
                symbols: b.bytes()?.to_vec(),
            },
            tag::MAPPING => Entry::Mapping {
                time: b.u64()?,
                pid: b.u32()?,
                start: b.u64()?,
                len: b.u64()?,
                pgoff: b.u64()?,
                module: b.u32()?,
            },
            tag::FRAME => {
                Entry::Frame { id: b.u32()?, module: b.u32()?, offset: b.u64()?, caller: bool_(&mut b)? }
            }
            tag::STACK => {
                let id = b.u32()?;
                let kernel = b.u32()?;
                let n = b.count(1)?;
                let frames = (0..n).map(|_| b.u32()).collect::<Result<Vec<_>, _>>()?;
                if kernel as usize > frames.len() {
                    return Err(DecodeError("more kernel frames than frames"));
                }
                Entry::Stack { id, kernel, frames }
            }
            tag::SAMPLE => {
                let time = self.last_sample_time.wrapping_add(b.i64()? as u64);
                self.last_sample_time = time;
                Entry::Sample {
                    time,
                    pid: b.u32()?,
                    tid: b.u32()?,
                    cpu: b.u32()?,
                    target: b.u32()?,
                    period: b.u64()?,
                    stack: b.u32()?,
                    value: if b.is_empty() { None } else { Some(b.i64()?) },
                }
            }
            tag::SYMBOLS => {
                let frame = b.u32()?;
                let unknown = b.u32()?;
                let n = b.count(3)?;
                let lines = (0..n)
                    .map(|_| Ok(Line { function: b.u32()?, file: b.u32()?, line: b.u32()? }))
                    .collect::<Result<Vec<_>, DecodeError>>()?;
                Entry::Symbols { frame, lines, unknown }
            }
            tag::PERF_MAP => {
                Entry::PerfMap { pid: b.u32()?, reset: bool_(&mut b)?, data: b.bytes()?.to_vec() }
            }
            tag::LOST => Entry::Lost { time: b.u64()?, cpu: b.u32()?, count: b.u64()? },
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<Entry> {
        vec![
            Entry::Str { id: 1, text: b"main".to_vec() },
            Entry::Process { pid: 4242, target: 0, ns_pid: 1, exe: 1 },
            Entry::Comm { time: 10, pid: 4242, tid: 4243, exec: true, name: b"spin".to_vec() },
            Entry::Fork { time: 11, pid: 4244, ppid: 4242, tid: 4244, ptid: 4242 },
            Entry::Exit { time: 12, pid: 4244, tid: 4244 },
            Entry::Module {
                id: 3,
                kind: ModuleKind::Elf,
                path: b"/app/spin".to_vec(),
                build_id: vec![0xab; 20],
                pid: 0,
            },
            Entry::ModuleStatus { id: 3, build_id: vec![0xab; 20], symbols: b"dwarf".to_vec() },
            Entry::Mapping { time: 0, pid: 4242, start: 0x400000, len: 0x1000, pgoff: 0, module: 3 },
            Entry::Frame { id: 7, module: 3, offset: 0x1234, caller: true },
            Entry::Stack { id: 2, kernel: 1, frames: vec![9, 7, 8] },
            Entry::Sample {
                time: 5_000_000,
                pid: 4242,
                tid: 4243,
                cpu: 1,
                target: 0,
                period: 1_010_101,
                stack: 2,
                value: None,
            },
            Entry::Sample {
                time: 4_000_000,
                pid: 4242,
                tid: 4243,
                cpu: 0,
                target: 0,
                period: 1,
                stack: 2,
                value: Some(-4),
            },
            Entry::Sample {
                time: 4_000_001,
                pid: 4242,
                tid: 4243,
                cpu: 0,
                target: 0,
                period: 1,
                stack: 2,
                value: Some(i64::MIN),
            },
            Entry::Symbols { frame: 7, lines: vec![Line { function: 1, file: 0, line: 12 }], unknown: 0 },
            Entry::PerfMap { pid: 4242, reset: true, data: b"7f00 10 jitted\n".to_vec() },
            Entry::Lost { time: 99, cpu: 1, count: 3 },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        let entries = all_kinds();
        let mut enc = EntryEncoder::default();
        for e in &entries {
            enc.push(e);
        }
        let payload = enc.take();
        let mut dec = EntryDecoder::new(&payload);
        let mut back = Vec::new();
        while let Some(e) = dec.next_entry().unwrap() {
            back.push(e);
        }
        assert_eq!(back, entries);
        assert!(enc.is_empty());
        // One entry at a time, each by a new decoder resuming the last one's state (sample times
        // are deltas from the previous sample: the state carries them).
        let mut state = DecoderState::default();
        let mut resumed = Vec::new();
        loop {
            let mut dec = EntryDecoder::resume(&payload, state);
            let Some(e) = dec.next_entry().unwrap() else { break };
            resumed.push(e);
            state = dec.state();
        }
        assert_eq!(resumed, entries);
    }

    #[test]
    fn unknown_tags_are_skipped() {
        let mut enc = EntryEncoder::default();
        enc.push(&Entry::Exit { time: 1, pid: 2, tid: 2 });
        let mut payload = enc.take();
        payload.extend_from_slice(&[99, 3, 1, 2, 3]);
        let mut enc = EntryEncoder::default();
        enc.push(&Entry::Exit { time: 4, pid: 5, tid: 5 });
        payload.extend_from_slice(&enc.take());
        let mut dec = EntryDecoder::new(&payload);
        assert_eq!(dec.next_entry().unwrap(), Some(Entry::Exit { time: 1, pid: 2, tid: 2 }));
        assert_eq!(dec.next_entry().unwrap(), Some(Entry::Exit { time: 4, pid: 5, tid: 5 }));
        assert_eq!(dec.next_entry().unwrap(), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut enc = EntryEncoder::default();
        for e in all_kinds() {
            enc.push(&e);
        }
        let payload = enc.take();
        for i in 0..payload.len() {
            for bit in [0x01u8, 0x40, 0x80] {
                let mut p = payload.clone();
                p[i] ^= bit;
                let mut dec = EntryDecoder::new(&p);
                while let Ok(Some(_)) = dec.next_entry() {}
            }
            let mut dec = EntryDecoder::new(&payload[..i]);
            while let Ok(Some(_)) = dec.next_entry() {}
        }
    }
}
