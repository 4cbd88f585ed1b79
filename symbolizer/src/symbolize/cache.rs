//! [`Symbolizer`]: parsed modules by build-id. A binary or library shared by many processes — 50
//! containers from one image, every process's libc — is read and parsed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::{Batch, ElfModule};

/// Parsed modules by build-id, shareable between threads (`&self` everywhere).
///
/// The cache never reads files: the caller looks a module up with [`Symbolizer::cached`] (by the
/// build-id the kernel reported, or one it read), and parses and [`Symbolizer::insert`]s it when
/// missing. Modules without a build-id are handed back but not kept (nothing would identify them).
#[derive(Debug, Default)]
pub struct Symbolizer {
    modules: Mutex<HashMap<Box<[u8]>, Arc<ElfModule>>>,
}

impl Symbolizer {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The module with this build-id, if one was inserted.
    pub fn cached(&self, build_id: &[u8]) -> Option<Arc<ElfModule>> {
        if build_id.is_empty() {
            return None;
        }
        self.lock().get(build_id).cloned()
    }

    /// Keeps `module` under its build-id and hands it back shared. When a module with the same
    /// build-id is already kept (two threads parsed the same file), the one with DWARF, else the
    /// one kept first, is kept and returned.
    pub fn insert(&self, module: ElfModule) -> Arc<ElfModule> {
        let Some(id) = module.build_id().map(Box::<[u8]>::from) else { return Arc::new(module) };
        let mut modules = self.lock();
        if let Some(kept) = modules.get(&id) {
            if kept.has_dwarf() || !module.has_dwarf() {
                return kept.clone();
            }
        }
        let module = Arc::new(module);
        modules.insert(id, module.clone());
        module
    }

    /// How many modules are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no module is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Symbolizes link-time addresses of one module, in order (see
    /// [`ElfModule::symbolize_vaddrs`]).
    pub fn symbolize(&self, module: &ElfModule, vaddrs: &[u64]) -> Batch {
        module.symbolize_vaddrs(vaddrs)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Arc<ElfModule>>> {
        // The map is never left half-updated; a panic elsewhere while holding it is harmless.
        self.modules.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_kept_by_build_id() {
        let cache = Symbolizer::new();
        let me = std::fs::read("/proc/self/exe").unwrap();
        let first = cache.insert(ElfModule::parse(me.clone()).unwrap());
        let id = first.build_id().unwrap().to_vec();
        assert!(Arc::ptr_eq(&cache.cached(&id).unwrap(), &first));
        let second = cache.insert(ElfModule::parse(me).unwrap());
        assert!(Arc::ptr_eq(&second, &first), "the first parse is kept");
        assert_eq!(cache.len(), 1);
        assert!(cache.cached(b"other").is_none());
        assert!(cache.cached(b"").is_none());
        fn shareable<T: Send + Sync>() {}
        shareable::<Symbolizer>();
    }
}
