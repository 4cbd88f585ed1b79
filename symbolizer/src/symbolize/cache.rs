//! [`Symbolizer`]: parsed modules by the content they were parsed from. A binary or library shared by
//! many processes — 50 containers from one image, every process's libc — is parsed once, and only
//! identical bytes share a parse: a build-id is what a file claims about itself, and a container can
//! copy another's (with other symbols) to rename its functions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::{Batch, ElfModule};

/// What a parsed module was made from: the SHA-256 of the binary's bytes and of its separate debug
/// file's, if one was attached. Equal keys mean the same bytes (no one can make two inputs collide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentKey([u8; 32]);

impl ContentKey {
    /// The key of a module parsed from `binary` with the debug file `debug` attached (or none).
    pub fn of(binary: &[u8], debug: Option<&[u8]>) -> ContentKey {
        let mut hash = Sha256::new();
        // Lengths first, so that no split of the same bytes between the two gives the same key.
        hash.update((binary.len() as u64).to_le_bytes());
        hash.update(binary);
        match debug {
            Some(debug) => {
                hash.update([1]);
                hash.update((debug.len() as u64).to_le_bytes());
                hash.update(debug);
            }
            None => hash.update([0]),
        }
        ContentKey(hash.finalize().into())
    }
}

/// Parsed modules by [`ContentKey`], shareable between threads (`&self` everywhere).
///
/// The cache never reads files: the caller reads a module's bytes (and its debug file's), looks
/// them up with [`Symbolizer::cached`], and parses and [`Symbolizer::insert`]s the module when
/// missing.
#[derive(Debug, Default)]
pub struct Symbolizer {
    modules: Mutex<HashMap<ContentKey, Arc<ElfModule>>>,
}

impl Symbolizer {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The module parsed from the content `key`, if one was inserted.
    pub fn cached(&self, key: &ContentKey) -> Option<Arc<ElfModule>> {
        self.lock().get(key).cloned()
    }

    /// Keeps `module`, parsed from the content `key`, and hands it back shared. When a module of the
    /// same content is already kept (two threads parsed the same bytes), that one is returned.
    pub fn insert(&self, key: ContentKey, module: ElfModule) -> Arc<ElfModule> {
        self.lock().entry(key).or_insert_with(|| Arc::new(module)).clone()
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContentKey, Arc<ElfModule>>> {
        // The map is never left half-updated; a panic elsewhere while holding it is harmless.
        self.modules.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_kept_by_content() {
        let cache = Symbolizer::new();
        let me = std::fs::read("/proc/self/exe").unwrap();
        let key = ContentKey::of(&me, None);
        let first = cache.insert(key, ElfModule::parse(me.clone()).unwrap());
        assert!(Arc::ptr_eq(&cache.cached(&key).unwrap(), &first));
        let second = cache.insert(key, ElfModule::parse(me.clone()).unwrap());
        assert!(Arc::ptr_eq(&second, &first), "the first parse is kept");
        assert_eq!(cache.len(), 1);
        // The same build-id with other bytes, or with a debug file, is another module.
        let mut other = me.clone();
        *other.last_mut().unwrap() ^= 1;
        assert!(cache.cached(&ContentKey::of(&other, None)).is_none());
        assert!(cache.cached(&ContentKey::of(&me, Some(b""))).is_none());
        assert_ne!(ContentKey::of(b"ab", Some(b"c")), ContentKey::of(b"a", Some(b"bc")));
        fn shareable<T: Send + Sync>() {}
        shareable::<Symbolizer>();
    }
}
