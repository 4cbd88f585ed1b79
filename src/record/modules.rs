//! The modules of a recording (executables and libraries, the kernel, the vDSO, JIT memory) and the
//! capture of what names their frames.
//!
//! An ELF file is opened the moment its mapping is seen, while the process is alive: through
//! `/proc/<pid>/map_files` (the very inode mapped), else by its path inside the process's root
//! (`openat2` `RESOLVE_IN_ROOT`), never by the host path of the same name. The descriptor keeps the
//! file readable after the process, the container and its image are gone. The file is read and
//! parsed only once one of its frames is sampled; its frames are then named (ELF symbols, DWARF lines
//! and inlines, split debug files found inside the same root) and the names go into the recording.
//! Modules are keyed by build-id where the kernel reports one, within one root filesystem: the
//! processes of a container share a library's module. A build-id is only what a file claims, so a
//! module of one root never names another root's frames; a parse is shared between roots only when
//! the bytes read (binary and debug file) are identical ([`ContentKey`]), so a library shared by
//! many containers of one image is still parsed once.
//!
//! What a container's files make the recorder read, hold and inflate is charged to one [`Budget`]
//! ([`symbolizer::debug_files::LIMITS`], per file, per process and in total) before it happens: the binary's bytes, its debug
//! file's (whose build-id is checked from its notes first), and what their compressed DWARF and
//! MiniDebugInfo claim to decompress to. A binary refused is not read (its frames say why); DWARF
//! refused is left out and the symbol tables name the frames; the summary notes every cut. Once
//! recording has ended, modules are read for at most [`NAMING_TIME`] more
//! ([`Modules::stop_loading_at`]): the frames of those left then stay unnamed, with a note. Time is
//! also bounded within a module: one whose reading passes that deadline (or [`LOAD_TIME`] while
//! recording) gets no debug file, no content hash and no DWARF, only its symbol tables (noted);
//! DWARF being inflated when it passes is dropped within 4 MiB. The worst case past the deadline is
//! then one step of one module already under way: reading a binary or a debug file of at most
//! 256 MiB (about 110 ms from the page cache), or hashing the two (SHA-256 of at most 512 MiB,
//! about 0.5 s). So reading files cannot hold the recorder much past its `--duration`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sampler::recording::{Entry, Line, ModuleKind};
use symbolizer::budget::Budget;
use symbolizer::kallsyms::Kallsyms;
use symbolizer::root::ContainerRoot;
use symbolizer::unwind::CfiFile;
use symbolizer::{
    debug_file_for, Answer, Batch, ContentKey, ElfModule, Reason, StrId, Symbolize, Symbolizer,
};

/// The largest binary opened for its symbols: any size, since opening costs nothing; the budget
/// ([`symbolizer::debug_files::LIMITS`]) decides whether it is read, and notes it when not.
pub const MAX_BINARY: u64 = u64::MAX;

/// How long modules may still be read once recording has ended.
pub const NAMING_TIME: Duration = Duration::from_millis(400);

/// How long reading one module may take while recording before its debug file and DWARF are left
/// out (its symbol tables name its frames), so that one module cannot stall the recorder.
pub const LOAD_TIME: Duration = Duration::from_millis(400);

/// Why a module left unread at the end has no names.
const TOO_LATE: &str = "not read: the recording had ended";

/// What identifies a module across processes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModuleKey {
    /// An ELF file with a build-id from the kernel, as mapped in one root filesystem.
    BuildId {
        /// The build-id.
        build_id: Vec<u8>,
        /// Where the file was mapped.
        origin: Origin,
    },
    /// An ELF file known by its root, path and inode.
    File {
        /// The root it was seen through.
        root: Option<(u64, u64)>,
        /// Its path in that root.
        path: Vec<u8>,
        /// Device and inode, as the kernel or `/proc/<pid>/maps` reported them.
        dev_ino: (u32, u32, u64),
    },
    /// The kernel.
    Kernel,
    /// The vDSO.
    Vdso,
    /// JIT (anonymous executable) memory of a process.
    Anonymous(u32),
    /// Addresses of a process in no known mapping.
    Unmapped(u32),
}

/// Which files a mapped file was one of: those of a root filesystem, or (when the process's root
/// cannot be identified) those of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The root's device and inode.
    Root(u64, u64),
    /// The process.
    Process(u32),
}

impl ModuleKey {
    /// The key of a file with a build-id the kernel reported, mapped by `pid` whose root is `root`
    /// (as the recorder holds it, also once the process has exited): shared with the processes of
    /// the same root only (of `pid` only, without a root).
    pub fn build_id(build_id: Vec<u8>, root: Option<&ContainerRoot>, pid: u32) -> ModuleKey {
        let origin = root
            .and_then(ContainerRoot::identity)
            .map_or(Origin::Process(pid), |(dev, ino)| Origin::Root(dev, ino));
        ModuleKey::BuildId { build_id, origin }
    }
}

/// Where a module's bytes come from.
#[derive(Debug)]
pub enum Source {
    /// An open file and its size.
    File(File, u64),
    /// An image already in memory (the vDSO).
    Bytes(Vec<u8>),
}

/// A module's file, opened while its process was alive.
#[derive(Debug)]
pub struct Opened {
    /// Its bytes.
    pub source: Source,
    /// The root its split debug files are looked up in.
    pub root: Option<Rc<ContainerRoot>>,
}

#[derive(Debug)]
enum Symbols {
    /// Not read yet (its file is open, or it could not be opened: the reason).
    Pending(Result<Opened, String>),
    /// Parsed.
    Elf(Arc<ElfModule>),
    /// Named by other means (kallsyms, perf maps) or not at all; the reason when not at all.
    Other(Option<String>),
}

#[derive(Debug)]
struct Module {
    kind: ModuleKind,
    path: Vec<u8>,
    kernel_build_id: Vec<u8>,
    /// The process that mapped it first (whose budget reading it is charged to).
    pid: u32,
    symbols: Symbols,
    /// Its call-frame information, read when it was opened (`--call-graph dwarf`); `None` when it
    /// has none or could not be read.
    cfi: Option<Arc<CfiFile>>,
}

/// A frame waiting to be named.
#[derive(Debug, Clone, Copy)]
pub struct PendingFrame {
    /// Frame id.
    pub frame: u32,
    /// Module id.
    pub module: u32,
    /// Offset (see [`ModuleKind`]).
    pub offset: u64,
    /// A return address (looked up at `offset - 1`).
    pub caller: bool,
}

/// Every module of the recording.
#[derive(Debug)]
pub struct Modules {
    by_key: HashMap<ModuleKey, u32>,
    list: Vec<Module>,
    kallsyms: Result<Kallsyms, String>,
    /// Parsed ELF files by content, shared between modules read from identical bytes.
    parsed: Symbolizer,
    /// What reading and parsing ELF and debug files may cost.
    budget: Budget,
    /// Notes for the summary (modules that could not be read).
    notes: Vec<String>,
    /// No module is read after this.
    stop_loading: Option<Instant>,
    /// Modules left unread for that.
    too_late: u64,
    /// Modules named from their symbol tables alone, their time being up.
    no_dwarf_in_time: u64,
    /// Whether a module's call-frame information is read when it is opened.
    read_cfi: bool,
}

impl Modules {
    /// An empty table; kernel frames are named from `kallsyms`, or carry the reason they cannot be.
    pub fn new(kallsyms: Result<Kallsyms, String>) -> Self {
        Modules {
            by_key: HashMap::new(),
            list: Vec::new(),
            kallsyms,
            parsed: Symbolizer::new(),
            budget: symbolizer::debug_files::budget(),
            notes: Vec::new(),
            stop_loading: None,
            too_late: 0,
            no_dwarf_in_time: 0,
            read_cfi: false,
        }
    }

    /// Reads each ELF module's call-frame information as it is opened, for the unwinder.
    pub fn read_cfi(&mut self) {
        self.read_cfi = true;
    }

    /// The call-frame information of module `id`, when it has some that could be read.
    pub fn cfi(&self, id: u32) -> Option<Arc<CfiFile>> {
        self.list.get((id as usize).checked_sub(1)?)?.cfi.clone()
    }

    /// The path of module `id`, as the recording shows it.
    pub fn path(&self, id: u32) -> &[u8] {
        (id as usize).checked_sub(1).and_then(|i| self.list.get(i)).map_or(b"", |m| &m.path)
    }

    /// Notes for the summary: modules that could not be read, and what the budget cut.
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self.notes.iter().cloned().chain(self.budget.notes()).collect();
        if self.too_late > 0 {
            notes.push(format!(
                "modules first sampled at the end and left unread ({} ms after recording ended): {}; \
                 their frames are unnamed",
                NAMING_TIME.as_millis(),
                self.too_late
            ));
        }
        if self.no_dwarf_in_time > 0 {
            notes.push(format!(
                "modules whose reading ran out of time ({} ms while recording, {} ms after it ended), \
                 named from their symbol tables only (no debug file, no DWARF): {}",
                LOAD_TIME.as_millis(),
                NAMING_TIME.as_millis(),
                self.no_dwarf_in_time
            ));
        }
        notes
    }

    /// Reads no more modules after `deadline` (their frames are left unnamed, and counted in the
    /// notes); a module being read then is finished.
    pub fn stop_loading_at(&mut self, deadline: Instant) {
        self.stop_loading = Some(deadline);
    }

    /// How many modules.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The id of `key`, if it is known.
    pub fn get(&self, key: &ModuleKey) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// The kind of module `id`.
    pub fn kind(&self, id: u32) -> ModuleKind {
        self.list[(id - 1) as usize].kind
    }

    /// Adds a module; `open` is called at once (the process may be gone by the next second). Returns
    /// its id and the entry that defines it.
    pub fn add(
        &mut self,
        key: ModuleKey,
        kind: ModuleKind,
        path: Vec<u8>,
        kernel_build_id: Vec<u8>,
        pid: u32,
        open: impl FnOnce() -> Result<Opened, String>,
    ) -> (u32, Entry) {
        let mut cfi = None;
        let symbols = match kind {
            ModuleKind::Elf | ModuleKind::Vdso => {
                let opened = open();
                if self.read_cfi {
                    cfi = opened.as_ref().ok().and_then(|o| self.read_cfi_of(o, pid, &path));
                }
                Symbols::Pending(opened)
            }
            ModuleKind::Kernel => Symbols::Other(self.kallsyms.as_ref().err().cloned()),
            ModuleKind::Anonymous => Symbols::Other(None),
            ModuleKind::Unmapped => Symbols::Other(Some("address in no known mapping".into())),
        };
        self.list.push(Module {
            kind,
            path: path.clone(),
            kernel_build_id: kernel_build_id.clone(),
            pid,
            symbols,
            cfi,
        });
        let id = self.list.len() as u32;
        self.by_key.insert(key, id);
        let pid = if matches!(kind, ModuleKind::Anonymous | ModuleKind::Unmapped) { pid } else { 0 };
        (id, Entry::Module { id, kind, path, build_id: kernel_build_id, pid })
    }

    /// Reads the call-frame information of a module just opened (charged to the budget of what
    /// its process's files may cost); `None` when it has none or cannot be read.
    fn read_cfi_of(&self, opened: &Opened, pid: u32, path: &[u8]) -> Option<Arc<CfiFile>> {
        let path = Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path));
        let mut cfi = match &opened.source {
            Source::File(file, len) => CfiFile::read(file, *len, &mut self.budget.account(pid, path)).ok()?,
            Source::Bytes(bytes) => CfiFile::parse(bytes).ok()?,
        };
        if let (false, Source::File(file, len), Some(root)) = (cfi.has_cfi(), &opened.source, &opened.root) {
            // No .eh_frame: the .debug_frame of its split debug file, found in the same root.
            self.add_debug_frame(&mut cfi, file, *len, root, pid, path);
        }
        cfi.has_cfi().then(|| Arc::new(cfi))
    }

    /// Adds to `cfi` the `.debug_frame` of the split debug file of the binary `file` (read whole
    /// for its build-id and debuglink, then dropped; both charged to the budget while held).
    fn add_debug_frame(
        &self,
        cfi: &mut CfiFile,
        file: &File,
        len: u64,
        root: &ContainerRoot,
        pid: u32,
        path: &Path,
    ) {
        let mut account = self.budget.account(pid, path);
        if !account.try_charge(len) {
            return;
        }
        let mut data = vec![0; len as usize];
        if std::os::unix::fs::FileExt::read_exact_at(file, &mut data, 0).is_ok() {
            if let Some(mut debug) = debug_file_for(&data, path, root, &self.budget, pid) {
                let _ = cfi.add_debug_frame(&debug.data);
                debug.account.release(debug.account.used());
            }
        }
        account.release(len);
    }

    /// Names `frames` (all of one module), loading the module first if needed. Returns the entries
    /// to write: strings through `intern`, the module's status when it was just loaded, and one
    /// [`Entry::Symbols`] per frame. Frames of JIT memory are left to the perf map copied into the
    /// recording.
    pub fn symbolize(
        &mut self,
        module: u32,
        frames: &[PendingFrame],
        intern: &mut dyn FnMut(&[u8]) -> u32,
        out: &mut Vec<Entry>,
    ) {
        let index = (module - 1) as usize;
        if let Symbols::Pending(_) = self.list[index].symbols {
            if self.stop_loading.is_some_and(|d| Instant::now() >= d) {
                self.list[index].symbols = Symbols::Other(Some(TOO_LATE.into()));
                self.too_late += 1;
                let (id, symbols) = (module, format!("none: {TOO_LATE}").into_bytes());
                out.push(Entry::ModuleStatus { id, build_id: Vec::new(), symbols });
            } else {
                let status = self.load(index);
                out.push(status);
            }
        }
        let m = &self.list[index];
        match (&m.symbols, m.kind) {
            (_, ModuleKind::Anonymous) => {}
            (Symbols::Elf(elf), _) => {
                // One batch per module: addr2line walks its units once for all of them.
                let vaddrs: Vec<Option<u64>> = frames
                    .iter()
                    .map(|f| {
                        elf.file_offset_to_vaddr(if f.caller { f.offset.saturating_sub(1) } else { f.offset })
                    })
                    .collect();
                let known: Vec<u64> = vaddrs.iter().flatten().copied().collect();
                let batch = elf.symbolize_vaddrs(&known);
                let mut named = batch.iter();
                let answers = vaddrs.iter().map(|vaddr| match vaddr {
                    Some(_) => named.next().unwrap_or(Answer::Unknown(Reason::NoSymbols)),
                    None => Answer::Unknown(Reason::OutsideText),
                });
                symbols_entries(frames, answers, &batch, intern, out);
            }
            (Symbols::Other(None), ModuleKind::Kernel) => {
                let Ok(kallsyms) = &self.kallsyms else { return };
                let addrs: Vec<u64> = frames.iter().map(|f| f.offset).collect();
                let batch = kallsyms.symbolize(&addrs);
                symbols_entries(frames, batch.iter(), &batch, intern, out);
            }
            (symbols, _) => {
                let why = match symbols {
                    Symbols::Other(Some(why)) => why.clone(),
                    _ => "not readable".to_string(),
                };
                let unknown = intern(why.as_bytes());
                out.extend(frames.iter().map(|f| Entry::Symbols {
                    frame: f.frame,
                    lines: Vec::new(),
                    unknown,
                }));
            }
        }
    }

    /// Reads and parses module `index` from its open file; returns its status entry.
    fn load(&mut self, index: usize) -> Entry {
        let m = &mut self.list[index];
        let Symbols::Pending(opened) = std::mem::replace(&mut m.symbols, Symbols::Other(None)) else {
            unreachable!("load is called on pending modules")
        };
        let id = index as u32 + 1;
        let deadline = self.stop_loading.unwrap_or_else(|| Instant::now() + LOAD_TIME);
        let result = opened.and_then(|o| load_elf(o, m, &self.parsed, &self.budget, deadline));
        match result {
            Ok((elf, in_time)) => {
                if !in_time {
                    self.no_dwarf_in_time += 1;
                }
                let how = if elf.has_dwarf() {
                    "dwarf"
                } else if elf.has_symtab() {
                    "symtab"
                } else {
                    "dynsym"
                };
                let build_id = elf.build_id().unwrap_or_default().to_vec();
                m.symbols = Symbols::Elf(elf);
                Entry::ModuleStatus { id, build_id, symbols: how.as_bytes().to_vec() }
            }
            Err(why) => {
                self.notes.push(format!("{}: {why}", String::from_utf8_lossy(&m.path)));
                m.symbols = Symbols::Other(Some(why.clone()));
                Entry::ModuleStatus { id, build_id: Vec::new(), symbols: format!("none: {why}").into_bytes() }
            }
        }
    }
}

/// One [`Entry::Symbols`] per frame, from the frame's answer; each distinct string of the batch is
/// interned once.
fn symbols_entries<'a>(
    frames: &[PendingFrame],
    answers: impl Iterator<Item = Answer<'a>>,
    batch: &Batch,
    intern: &mut dyn FnMut(&[u8]) -> u32,
    out: &mut Vec<Entry>,
) {
    let mut ids: Vec<Option<u32>> = vec![None; batch.strings().len()];
    for (f, answer) in frames.iter().zip(answers) {
        let mut id = |s: Option<StrId>| {
            s.map_or(0, |s| *ids[s.index()].get_or_insert_with(|| intern(batch.str(s).as_bytes())))
        };
        out.push(match answer {
            Answer::Frames(lines) => Entry::Symbols {
                frame: f.frame,
                lines: lines
                    .iter()
                    .map(|l| Line {
                        function: id(l.function),
                        file: id(l.file),
                        line: l.line.map_or(0, |l| l.get()),
                    })
                    .collect(),
                unknown: 0,
            },
            Answer::Unknown(reason) => Entry::Symbols {
                frame: f.frame,
                lines: Vec::new(),
                unknown: intern(reason.to_string().as_bytes()),
            },
        });
    }
}

/// Reads the opened binary of `m` and the split debug file found in the same root, charging both
/// to `budget`, and parses them unless a module of the very same bytes was parsed before. Once
/// `deadline` has passed, the debug file is not looked for (or is dropped), nothing is hashed or
/// shared, and the binary is parsed without DWARF; the flag returned is false then.
fn load_elf(
    o: Opened,
    m: &Module,
    parsed: &Symbolizer,
    budget: &Budget,
    deadline: Instant,
) -> Result<(Arc<ElfModule>, bool), String> {
    let path = Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&m.path));
    let mut account = budget.account(m.pid, path);
    account.set_deadline(Some(deadline));
    let late = || Instant::now() >= deadline;
    let data = match o.source {
        // The vDSO, from cperf's own memory: a few KiB that no container chose.
        Source::Bytes(b) => b,
        Source::File(file, len) => {
            if !account.try_charge(len) {
                return Err(format!(
                    "not read: {}, over what the recorder may hold",
                    symbolizer::budget::bytes(len)
                ));
            }
            // Read no further than what was charged, should it grow meanwhile.
            let mut data = Vec::with_capacity(len as usize);
            file.take(len).read_to_end(&mut data).map_err(|e| format!("cannot read it: {e}"))?;
            data
        }
    };
    let mut debug = match &o.root {
        Some(root) if !late() => debug_file_for(&data, path, root.as_ref(), budget, m.pid),
        _ => None,
    };
    if late() {
        if let Some(mut dropped) = debug.take() {
            dropped.account.release(dropped.account.used());
        }
        // Not shared with other modules: a parse without DWARF is not what identical bytes give.
        let elf = ElfModule::parse_within(data, &mut account)
            .map_err(|e| format!("not a readable ELF file: {e}"))?;
        return checked_build_id(Arc::new(elf), m).map(|elf| (elf, false));
    }
    let key = ContentKey::of(&data, debug.as_ref().map(|d| d.data.as_slice()));
    let elf = match parsed.cached(&key) {
        Some(elf) => {
            // Nothing read is kept.
            account.release(account.used());
            if let Some(mut debug) = debug {
                debug.account.release(debug.account.used());
            }
            elf
        }
        None => {
            let mut elf = ElfModule::parse_within(data, &mut account)
                .map_err(|e| format!("not a readable ELF file: {e}"))?;
            if let Some(mut debug) = debug {
                debug.account.set_deadline(Some(deadline));
                let _ = elf.attach_debug_within(debug.data, &mut debug.account);
            }
            if !elf.has_dwarf() && late() {
                // Its DWARF was left out for time: not what identical bytes give in time.
                return checked_build_id(Arc::new(elf), m).map(|elf| (elf, false));
            }
            parsed.insert(key, elf)
        }
    };
    checked_build_id(elf, m).map(|elf| (elf, true))
}

/// `elf`, unless the kernel mapped a file of another build-id (it changed on disk).
fn checked_build_id(elf: Arc<ElfModule>, m: &Module) -> Result<Arc<ElfModule>, String> {
    if !m.kernel_build_id.is_empty() && elf.build_id().is_some_and(|b| b != m.kernel_build_id) {
        return Err(format!(
            "the file read has build-id {} but the kernel mapped {}; it changed on disk",
            hex(elf.build_id().unwrap_or_default()),
            hex(&m.kernel_build_id)
        ));
    }
    Ok(elf)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once loading has stopped, a module first sampled is not read: its frames carry the reason,
    /// its status says so, and the notes count it.
    #[test]
    fn modules_are_not_read_after_the_deadline() {
        let mut modules = Modules::new(Err("no kallsyms here".into()));
        let open = || Ok(Opened { source: Source::Bytes(std::fs::read("/bin/sh").unwrap()), root: None });
        let key = |path: &str| ModuleKey::File { root: None, path: path.into(), dev_ino: (0, 0, 1) };
        let (first, _) = modules.add(key("/bin/a"), ModuleKind::Elf, b"/bin/a".to_vec(), Vec::new(), 1, open);
        let (second, _) =
            modules.add(key("/bin/b"), ModuleKind::Elf, b"/bin/b".to_vec(), Vec::new(), 1, open);
        let mut strings: Vec<Vec<u8>> = Vec::new();
        let mut intern = |s: &[u8]| {
            strings.push(s.to_vec());
            strings.len() as u32
        };
        let frame = |frame, module| PendingFrame { frame, module, offset: 0x1000, caller: false };
        let mut out = Vec::new();
        modules.symbolize(first, &[frame(1, first)], &mut intern, &mut out);
        assert!(
            matches!(&out[0], Entry::ModuleStatus { symbols, .. } if !symbols.starts_with(b"none")),
            "{out:?}"
        );
        modules.stop_loading_at(Instant::now());
        out.clear();
        modules.symbolize(second, &[frame(2, second)], &mut intern, &mut out);
        assert!(
            matches!(&out[0], Entry::ModuleStatus { symbols, .. } if symbols.ends_with(TOO_LATE.as_bytes())),
            "{out:?}"
        );
        let Entry::Symbols { lines, unknown, .. } = &out[1] else { panic!("{out:?}") };
        assert!(lines.is_empty());
        assert_eq!(strings[*unknown as usize - 1], TOO_LATE.as_bytes());
        assert!(modules.notes().iter().any(|n| n.contains("left unread (400 ms after recording ended): 1;")));
    }

    /// A small binary with DWARF, built for the test.
    fn binary_with_dwarf() -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("cperf-modules-dwarf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("f.c"),
            "int spin_here(int n) { return n * 3; }\nint main(void) { return spin_here(1); }\n",
        )
        .unwrap();
        let status = std::process::Command::new("gcc")
            .args(["-g", "-O0", "-o"])
            .arg(dir.join("f"))
            .arg(dir.join("f.c"))
            .status()
            .unwrap();
        assert!(status.success());
        let data = std::fs::read(dir.join("f")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        data
    }

    /// A module whose reading passes its deadline is parsed without DWARF (its symbol table names
    /// its frames) and not shared; in time, the same bytes get their DWARF.
    #[test]
    fn a_module_past_its_deadline_is_named_from_its_symbol_table() {
        let data = binary_with_dwarf();
        let module = Module {
            kind: ModuleKind::Elf,
            path: b"/bin/f".to_vec(),
            kernel_build_id: Vec::new(),
            pid: 1,
            symbols: Symbols::Other(None),
            cfi: None,
        };
        let parsed = Symbolizer::new();
        let budget = symbolizer::debug_files::budget();
        let opened = || Opened { source: Source::Bytes(data.clone()), root: None };
        let (late, in_time) = load_elf(opened(), &module, &parsed, &budget, Instant::now()).unwrap();
        assert!(!in_time);
        assert!(!late.has_dwarf() && late.has_symtab());
        let (elf, in_time) =
            load_elf(opened(), &module, &parsed, &budget, Instant::now() + Duration::from_secs(3600))
                .unwrap();
        assert!(in_time && elf.has_dwarf(), "the late parse was shared");

        let mut modules = Modules::new(Err("no kallsyms here".into()));
        let key = ModuleKey::File { root: None, path: b"/bin/f".to_vec(), dev_ino: (0, 0, 1) };
        let (id, _) = modules.add(key, ModuleKind::Elf, b"/bin/f".to_vec(), Vec::new(), 1, || Ok(opened()));
        // The deadline passes while the module is read (here: before; symbolize checks it first).
        modules.stop_loading = Some(Instant::now());
        let out = [modules.load((id - 1) as usize)];
        assert!(matches!(&out[0], Entry::ModuleStatus { symbols, .. } if symbols == b"symtab"), "{out:?}");
        assert!(modules.notes().iter().any(|n| n.contains("symbol tables only") && n.ends_with(": 1")));
    }
}
