//! One pass over a `.eh_frame` or `.debug_frame` section, done once per file: the address range
//! of every FDE (to tell "CFI says this is the outermost frame" from "no CFI here"), which FDEs
//! are signal trampolines (CIE augmentation `S`), and a check that the section is safe to hand to
//! the unwinder.
//!
//! Safe means: every entry parses, and no DWARF expression in it can branch (`DW_OP_skip`,
//! `DW_OP_bra`). The unwinder evaluates CFA and register expressions without an iteration
//! limit, so a backward branch would spin forever; compilers never emit branches in call-frame
//! information. A section that fails the check is not used at all (frames there are walked by
//! frame pointer), and neither is an `.eh_frame_hdr` table naming anything but the FDEs found
//! here.

use std::collections::HashSet;

use gimli::{
    BaseAddresses, CallFrameInstruction, CieOrFde, DebugFrame, EhFrame, EhFrameHdr, EndianSlice,
    LittleEndian, Operation, Reader, UnwindSection,
};

/// Entries beyond this count are refused (glibc has about 3,000 FDEs; a huge binary 10^5-10^6).
const MAX_ENTRIES: usize = 4 << 20;

/// The address range of one FDE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdeRange {
    pub start: u64,
    pub end: u64,
    /// The FDE's CIE has the `S` augmentation: a signal trampoline (`__restore_rt`).
    pub signal: bool,
}

/// The FDEs of one CFI section, sorted by start address.
#[derive(Debug, Default)]
pub(crate) struct CfiIndex {
    ranges: Vec<FdeRange>,
    /// Offsets of the FDEs in the section (`.eh_frame` only, to check `.eh_frame_hdr`).
    fde_offsets: Vec<u64>,
}

/// Which section is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    EhFrame,
    DebugFrame,
}

impl CfiIndex {
    /// Scans `data` (`None` when it is unsafe to use or malformed).
    pub fn scan(data: &[u8], kind: Kind, bases: &BaseAddresses) -> Option<CfiIndex> {
        match kind {
            Kind::EhFrame => {
                let mut section = EhFrame::new(data, LittleEndian);
                section.set_address_size(8);
                Self::scan_section(&section, bases)
            }
            Kind::DebugFrame => {
                let mut section = DebugFrame::new(data, LittleEndian);
                section.set_address_size(8);
                Self::scan_section(&section, bases)
            }
        }
    }

    fn scan_section<'a, S>(section: &S, bases: &BaseAddresses) -> Option<CfiIndex>
    where
        S: UnwindSection<EndianSlice<'a, LittleEndian>>,
    {
        let mut index = CfiIndex::default();
        let mut cies_checked = HashSet::new();
        let mut entries = section.entries(bases);
        while let Some(entry) = entries.next().ok()? {
            if index.ranges.len() >= MAX_ENTRIES {
                return None;
            }
            let fde = match entry {
                CieOrFde::Cie(cie) => {
                    if cies_checked.insert(cie.offset())
                        && !instructions_safe(section, cie.encoding(), cie.instructions(section, bases))
                    {
                        return None;
                    }
                    continue;
                }
                CieOrFde::Fde(partial) => partial.parse(S::cie_from_offset).ok()?,
            };
            let cie = fde.cie();
            if cies_checked.insert(cie.offset())
                && !instructions_safe(section, cie.encoding(), cie.instructions(section, bases))
            {
                return None;
            }
            if !instructions_safe(section, cie.encoding(), fde.instructions(section, bases)) {
                return None;
            }
            let start = fde.initial_address();
            let Some(end) = start.checked_add(fde.len()) else { continue };
            index.ranges.push(FdeRange { start, end, signal: cie.is_signal_trampoline() });
            index.fde_offsets.push(fde.offset() as u64);
        }
        index.ranges.sort_unstable_by_key(|r| (r.start, r.end));
        index.fde_offsets.sort_unstable();
        index.ranges.shrink_to_fit();
        index.fde_offsets.shrink_to_fit();
        Some(index)
    }

    /// The FDE whose range holds `svma`.
    pub fn find(&self, svma: u64) -> Option<&FdeRange> {
        let after = self.ranges.partition_point(|r| r.start <= svma);
        let candidate = self.ranges.get(after.checked_sub(1)?)?;
        (svma < candidate.end).then_some(candidate)
    }

    /// True when no FDE was found.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Bytes held.
    pub fn bytes_held(&self) -> u64 {
        (self.ranges.capacity() * size_of::<FdeRange>() + self.fde_offsets.capacity() * 8) as u64
    }

    /// True when the `.eh_frame_hdr` `hdr` is well formed and its table names only FDEs found in
    /// this `.eh_frame`, in increasing address order.
    pub fn hdr_is_sound(&self, hdr: &[u8], bases: &BaseAddresses) -> bool {
        let Ok(parsed) = EhFrameHdr::new(hdr, LittleEndian).parse(bases, 8) else { return false };
        let Ok(eh_frame_ptr) = parsed.eh_frame_ptr().direct() else { return false };
        let Some(table) = parsed.table() else { return false };
        let mut entries = table.iter(bases);
        let mut previous = None;
        let mut count = 0usize;
        loop {
            let (start, fde) = match entries.next() {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(_) => return false,
            };
            count += 1;
            if count > self.fde_offsets.len() {
                return false;
            }
            let (Ok(start), Ok(fde)) = (start.direct(), fde.direct()) else { return false };
            let Some(offset) = fde.checked_sub(eh_frame_ptr) else { return false };
            if self.fde_offsets.binary_search(&offset).is_err() || previous.is_some_and(|p| p > start) {
                return false;
            }
            previous = Some(start);
        }
        true
    }
}

/// True when the instructions parse and none of their expressions can branch.
fn instructions_safe<'a, S>(
    section: &S,
    encoding: gimli::Encoding,
    mut instructions: gimli::CallFrameInstructionIter<'_, EndianSlice<'a, LittleEndian>>,
) -> bool
where
    S: UnwindSection<EndianSlice<'a, LittleEndian>>,
{
    loop {
        let expression = match instructions.next() {
            Ok(None) => return true,
            Err(_) => return false,
            Ok(Some(
                CallFrameInstruction::DefCfaExpression { expression }
                | CallFrameInstruction::Expression { expression, .. }
                | CallFrameInstruction::ValExpression { expression, .. },
            )) => expression,
            Ok(Some(_)) => continue,
        };
        let Ok(expression) = expression.get(section) else { return false };
        let mut ops = expression.0;
        while !ops.is_empty() {
            match Operation::parse(&mut ops, encoding) {
                Ok(Operation::Skip { .. } | Operation::Bra { .. }) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    }
}
