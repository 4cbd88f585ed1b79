//! [`CfiFile`]: the unwind sections of one ELF file, read once and shared by every process that
//! maps the file.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use gimli::BaseAddresses;

use super::cfi_index::{CfiIndex, Kind};
use super::elf_sections::{Headers, Segment, Source};
use super::error::CfiError;
use crate::budget::Account;

/// Code bytes read to recognise a sigreturn trampoline.
pub(crate) const CODE_PEEK: usize = 16;
/// Answers kept by the code-peek cache before it is emptied.
const PEEK_CACHE_ENTRIES: usize = 1024;

/// Call-frame information is used on x86_64 only.
fn supported() -> Result<(), CfiError> {
    if cfg!(target_arch = "x86_64") {
        Ok(())
    } else {
        Err(CfiError::UnsupportedArch)
    }
}

/// Where code bytes are read from, for the sigreturn check.
#[derive(Debug)]
enum Code {
    /// A duplicate descriptor of the file (`read`).
    File(File, u64),
    /// The whole image (`parse`: the vDSO, tests).
    Bytes(Arc<[u8]>),
}

/// The unwind sections of one ELF file, read once, shared (`Arc`) by every process that maps it.
#[derive(Debug)]
pub struct CfiFile {
    pub(crate) segments: Vec<Segment>,
    pub(crate) eh_frame: Option<Arc<[u8]>>,
    pub(crate) eh_frame_hdr: Option<Arc<[u8]>>,
    pub(crate) debug_frame: Option<Arc<[u8]>>,
    pub(crate) text_svma: Option<Range<u64>>,
    pub(crate) got_svma: Option<Range<u64>>,
    pub(crate) eh_frame_svma: Option<Range<u64>>,
    pub(crate) eh_frame_hdr_svma: Option<Range<u64>>,
    /// The FDEs of whichever section unwinding uses (`.eh_frame`, else `.debug_frame`).
    index: CfiIndex,
    code: Code,
    /// File offset → "holds a sigreturn trampoline", for addresses without an FDE.
    peeks: Mutex<HashMap<u64, bool>>,
    bytes_held: u64,
}

impl CfiFile {
    /// Reads only what unwinding needs from an open ELF file of `len` bytes with positioned reads
    /// (the file position never moves): the ELF, program and section headers, `.eh_frame`,
    /// `.eh_frame_hdr`, `.debug_frame` and the address ranges of `.text`, `.got`, `.eh_frame`,
    /// `.eh_frame_hdr`. Every byte held is charged to `account` first; over budget is an error.
    ///
    /// The bytes stay charged while the `CfiFile` lives ([`CfiFile::bytes_held`]); it keeps a
    /// duplicate of the descriptor to read the few code bytes signal frames are recognised by.
    pub fn read(file: &File, len: u64, account: &mut Account) -> Result<CfiFile, CfiError> {
        supported()?;
        let headers = Headers::read(file, len)?;
        let wanted = [&b".eh_frame"[..], b".eh_frame_hdr", b".debug_frame"]
            .iter()
            .map(|name| headers.section_size(name))
            .fold(0u64, u64::saturating_add);
        if wanted > len {
            return Err(CfiError::Malformed("unwind sections larger than the file"));
        }
        // The sections, and at most as much again twice for the index of their FDEs (an FDE takes
        // at least 16 bytes of the section, 32 of the index); the excess is given back.
        let charged = wanted.saturating_mul(3);
        if !account.try_charge(charged) {
            return Err(CfiError::OverBudget(charged));
        }
        let built = file
            .try_clone()
            .map_err(CfiError::from)
            .and_then(|dup| Self::build(&headers, file, len, Code::File(dup, len)));
        match &built {
            Ok(cfi) => account.release(charged.saturating_sub(cfi.bytes_held)),
            Err(_) => account.release(charged),
        }
        built
    }

    /// The same from bytes in memory (the vDSO image, tests, fuzzing).
    pub fn parse(data: &[u8]) -> Result<CfiFile, CfiError> {
        supported()?;
        let len = data.len() as u64;
        let headers = Headers::read(data, len)?;
        let mut file = Self::build(&headers, data, len, Code::Bytes(Arc::from(data)))?;
        file.bytes_held += len;
        Ok(file)
    }

    fn build(
        headers: &Headers,
        src: &(impl Source + ?Sized),
        len: u64,
        code: Code,
    ) -> Result<CfiFile, CfiError> {
        let svma = |name: &[u8]| headers.section(name).and_then(|s| s.svma());
        let data = |name: &[u8]| -> Result<Option<Arc<[u8]>>, CfiError> {
            Ok(headers.section_data(src, len, name)?.map(Arc::from))
        };
        let mut file = CfiFile {
            segments: headers.segments.clone(),
            eh_frame: data(b".eh_frame")?,
            eh_frame_hdr: data(b".eh_frame_hdr")?,
            debug_frame: data(b".debug_frame")?,
            text_svma: svma(b".text"),
            got_svma: svma(b".got"),
            eh_frame_svma: svma(b".eh_frame"),
            eh_frame_hdr_svma: svma(b".eh_frame_hdr"),
            index: CfiIndex::default(),
            code,
            peeks: Mutex::new(HashMap::new()),
            bytes_held: 0,
        };
        file.index_sections();
        Ok(file)
    }

    /// The base addresses pointer encodings are relative to, as the unwinder uses them.
    pub(crate) fn bases(&self) -> BaseAddresses {
        let start = |r: &Option<Range<u64>>| r.as_ref().map_or(0, |r| r.start);
        BaseAddresses::default()
            .set_eh_frame(start(&self.eh_frame_svma))
            .set_eh_frame_hdr(start(&self.eh_frame_hdr_svma))
            .set_text(start(&self.text_svma))
            .set_got(start(&self.got_svma))
    }

    /// Scans the section unwinding will use; drops what is unsafe or malformed.
    fn index_sections(&mut self) {
        let bases = self.bases();
        self.index = CfiIndex::default();
        if let Some(eh_frame) = &self.eh_frame {
            match CfiIndex::scan(eh_frame, Kind::EhFrame, &bases) {
                Some(index) => {
                    if let Some(hdr) = &self.eh_frame_hdr {
                        if !index.hdr_is_sound(hdr, &bases) {
                            // The unwinder then builds its own table from `.eh_frame`.
                            self.eh_frame_hdr = None;
                        }
                    }
                    self.index = index;
                }
                None => {
                    self.eh_frame = None;
                    self.eh_frame_hdr = None;
                }
            }
        }
        if self.eh_frame.is_none() {
            if let Some(debug_frame) = &self.debug_frame {
                match CfiIndex::scan(debug_frame, Kind::DebugFrame, &bases) {
                    Some(index) => self.index = index,
                    None => self.debug_frame = None,
                }
            }
        }
        if self.index.is_empty() {
            self.eh_frame = None;
            self.eh_frame_hdr = None;
            self.debug_frame = None;
        }
        let section = |s: &Option<Arc<[u8]>>| s.as_ref().map_or(0, |s| s.len() as u64);
        self.bytes_held = section(&self.eh_frame)
            + section(&self.eh_frame_hdr)
            + section(&self.debug_frame)
            + self.index.bytes_held()
            + (self.segments.len() * size_of::<Segment>()) as u64;
    }

    /// Adds the `.debug_frame` of a split debug file (used when the binary itself has no
    /// `.eh_frame`).
    pub fn add_debug_frame(&mut self, debug_file: &[u8]) -> Result<(), CfiError> {
        let len = debug_file.len() as u64;
        let headers = Headers::read(debug_file, len)?;
        if let Some(data) = headers.section_data(debug_file, len, b".debug_frame")? {
            if self.eh_frame.is_none() {
                self.debug_frame = Some(Arc::from(data));
                self.index_sections();
                // Keep the whole image's bytes counted when it came from `parse`.
                if let Code::Bytes(bytes) = &self.code {
                    self.bytes_held += bytes.len() as u64;
                }
            }
        }
        Ok(())
    }

    /// True when the file has call-frame information the unwinder can use.
    pub fn has_cfi(&self) -> bool {
        !self.index.is_empty()
    }

    /// True when an FDE covers the link-time address `svma`.
    pub fn covers(&self, svma: u64) -> bool {
        self.index.find(svma).is_some()
    }

    /// True when the FDE covering `svma` belongs to a signal trampoline (CIE augmentation `S`).
    pub(crate) fn is_signal_fde(&self, svma: u64) -> bool {
        self.index.find(svma).is_some_and(|fde| fde.signal)
    }

    /// Bytes held (for the budget and statistics).
    pub fn bytes_held(&self) -> u64 {
        self.bytes_held
    }

    /// The `PT_LOAD` segment an executable mapping of `len` bytes from file offset `pgoff` maps:
    /// the executable one it overlaps most (any, when none is executable). The kernel maps a
    /// segment from its offset rounded down to a page, so with linkers that do not page-align
    /// segments in the file (lld: `R` at offset 0, `R E` at offset 0xa40, vaddr 0x1a40) the mapping
    /// of the code starts inside the segment before it, which a lookup of `pgoff` alone picks (the
    /// base then off by the two segments' different vaddr − offset).
    pub(crate) fn segment_for(&self, pgoff: u64, len: u64) -> Option<&Segment> {
        let end = pgoff.saturating_add(len.max(1));
        let overlap = |s: &Segment| {
            let s_end = s.offset.saturating_add(s.filesz.max(1));
            s_end.min(end).saturating_sub(s.offset.max(pgoff))
        };
        self.segments.iter().filter(|s| overlap(s) > 0).max_by_key(|s| (s.executable, overlap(s)))
    }

    /// Whether the code at file offset `offset` is exactly `code`; cached, at most
    /// [`CODE_PEEK`] bytes read.
    pub(crate) fn code_is(&self, offset: u64, code: &[u8]) -> bool {
        debug_assert!(code.len() <= CODE_PEEK);
        let mut peeks = self.peeks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&answer) = peeks.get(&offset) {
            return answer;
        }
        let mut buf = [0u8; CODE_PEEK];
        let buf = &mut buf[..code.len()];
        let answer = match &self.code {
            Code::File(file, len) => {
                offset.checked_add(code.len() as u64).is_some_and(|end| end <= *len)
                    && FileExt::read_exact_at(file, buf, offset).is_ok()
                    && buf == code
            }
            Code::Bytes(bytes) => usize::try_from(offset)
                .ok()
                .and_then(|start| bytes.get(start..start.checked_add(code.len())?))
                .is_some_and(|found| found == code),
        };
        if peeks.len() >= PEEK_CACHE_ENTRIES {
            peeks.clear();
        }
        peeks.insert(offset, answer);
        answer
    }
}
