//! [`AddressSpace`]: one process image's executable mappings, each with the unwind sections of
//! its file when it has any.

use std::sync::Arc;

use super::cfi_file::CfiFile;

#[cfg(target_arch = "x86_64")]
pub(crate) type Modules = framehop::x86_64::UnwinderX86_64<Arc<[u8]>>;

/// One executable mapping.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    /// Link-time address 0 of the file in this process (`None`: no `PT_LOAD` holds `pgoff`).
    pub base_avma: Option<u64>,
    pub file: Option<Arc<CfiFile>>,
}

impl Mapping {
    /// The file and the link-time address of `avma`, when the mapping's file has CFI.
    pub fn cfi(&self, avma: u64) -> Option<(&CfiFile, u64)> {
        let file = self.file.as_deref().filter(|f| f.has_cfi())?;
        Some((file, avma.checked_sub(self.base_avma?)?))
    }

    /// The file offset of `avma` (inside this mapping).
    pub fn file_offset(&self, avma: u64) -> Option<u64> {
        avma.checked_sub(self.start)?.checked_add(self.pgoff)
    }
}

/// One process image's executable mappings, as unwinder modules.
pub struct AddressSpace {
    /// Sorted by start, not overlapping.
    pub(crate) mappings: Vec<Mapping>,
    #[cfg(target_arch = "x86_64")]
    pub(crate) modules: Modules,
}

impl std::fmt::Debug for AddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressSpace").field("mappings", &self.mappings).finish_non_exhaustive()
    }
}

impl Default for AddressSpace {
    fn default() -> Self {
        Self::new()
    }
}

impl AddressSpace {
    /// An address space with no mappings.
    pub fn new() -> Self {
        AddressSpace {
            mappings: Vec::new(),
            #[cfg(target_arch = "x86_64")]
            modules: Modules::new(),
        }
    }

    /// An executable mapping `[start, end)` of file offset `pgoff`; `file` is `None` when the
    /// file has no CFI or could not be read (JIT memory, unreadable): frames there are walked
    /// by frame pointer. A mapping replaces those it overlaps.
    pub fn map(&mut self, start: u64, end: u64, pgoff: u64, file: Option<Arc<CfiFile>>) {
        if start >= end {
            return;
        }
        self.unmap(start, end);
        let base_avma = file.as_deref().and_then(|f| {
            let segment = f.segment_for(pgoff, end - start)?;
            start.checked_sub(pgoff)?.checked_add(segment.offset)?.checked_sub(segment.vaddr)
        });
        #[cfg(target_arch = "x86_64")]
        if let (Some(cfi), Some(base_avma)) = (file.as_deref().filter(|f| f.has_cfi()), base_avma) {
            self.add_module(start, end, base_avma, cfi);
        }
        let at = self.mappings.partition_point(|m| m.start < start);
        self.mappings.insert(at, Mapping { start, end, pgoff, base_avma, file });
    }

    /// Forgets the mappings overlapping `[start, end)`.
    pub fn unmap(&mut self, start: u64, end: u64) {
        let mut removed = Vec::new();
        self.mappings.retain(|m| {
            let overlaps = m.start < end && start < m.end;
            if overlaps {
                removed.push(m.start);
            }
            !overlaps
        });
        #[cfg(target_arch = "x86_64")]
        for start in removed {
            framehop::Unwinder::remove_module(&mut self.modules, start);
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn add_module(&mut self, start: u64, end: u64, base_avma: u64, cfi: &CfiFile) {
        let info = framehop::ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: cfi.text_svma.clone(),
            got_svma: cfi.got_svma.clone(),
            eh_frame_svma: cfi.eh_frame_svma.clone(),
            eh_frame: cfi.eh_frame.clone(),
            eh_frame_hdr_svma: cfi.eh_frame_hdr_svma.clone(),
            eh_frame_hdr: cfi.eh_frame_hdr.clone(),
            debug_frame: cfi.debug_frame.clone(),
            ..Default::default()
        };
        let module = framehop::Module::new(String::new(), start..end, base_avma, info);
        framehop::Unwinder::add_module(&mut self.modules, module);
    }

    /// The mapping holding `avma`.
    pub(crate) fn mapping(&self, avma: u64) -> Option<&Mapping> {
        let after = self.mappings.partition_point(|m| m.start <= avma);
        let m = self.mappings.get(after.checked_sub(1)?)?;
        (avma < m.end).then_some(m)
    }
}
