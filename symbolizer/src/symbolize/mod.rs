//! The public verb: addresses of a module become frames.
//!
//! - [`module`]: [`ElfModule`], one binary or library (with its split debug file if found): DWARF
//!   frames with inlines, else the ELF symbol;
//! - [`batch`]: [`Batch`], the answers for many addresses, compact (one list of frames, each
//!   distinct string once);
//! - [`sorted`]: a batch's addresses sorted, with their positions;
//! - [`cache`]: [`Symbolizer`], parsed modules by the content they were parsed from, so a binary
//!   shared by many processes or containers is parsed once.
//!
//! An address that cannot be named is a value, [`Symbolized::Unknown`] with a [`Reason`], not an
//! error.

pub(crate) mod batch;
mod cache;
mod module;
mod sorted;

use std::sync::Arc;

pub use batch::{Answer, Batch, BatchFrame, StrId};
pub use cache::{ContentKey, Symbolizer};
pub use module::ElfModule;

/// One frame of a symbolized address. The frames of one address come innermost first: every frame
/// but the last is a function inlined into the next one.
///
/// Names are shared (`Arc<str>`) with the module's caches, so that symbolizing the same function a
/// million times allocates its name once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The function, demangled (as `addr2line -C` prints it), when known.
    pub function: Option<Arc<str>>,
    /// The source file, as `addr2line` prints it (the compilation directory joined), when known.
    /// For code without DWARF, the `STT_FILE` symbol binutils would print (`crtstuff.c`), if any.
    pub file: Option<Arc<str>>,
    /// The line, when known (for an inlined function's caller: the line of the call).
    pub line: Option<u32>,
    /// The column, when the line table has one.
    pub column: Option<u32>,
    /// True for a function inlined into the next frame.
    pub inlined: bool,
}

/// Why an address has no name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No loadable segment of the file holds the file offset (or no executable one the address).
    OutsideText,
    /// Neither DWARF nor a symbol covers the address (a stripped binary, a static function of a
    /// library that only has `.dynsym`, or code without symbols such as PLT stubs).
    NoSymbols,
    /// JIT code (anonymous executable memory) that no perf map names: the process writes none, or
    /// has not written this code's line yet.
    NotInPerfMap,
    /// A kernel address below the first kernel text symbol.
    NoKernelSymbol,
    /// Kernel addresses, while `kernel.kptr_restrict` (or missing privilege) hides kernel symbols.
    KernelSymbolsHidden,
    /// The module's file could not be read (gone, not a regular file, or not ELF).
    Unreadable,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::OutsideText => "outside the file's loadable segments",
            Reason::NoSymbols => "no symbol covers it (stripped)",
            Reason::NotInPerfMap => "JIT code that no perf map names",
            Reason::NoKernelSymbol => "no kernel symbol covers it",
            Reason::KernelSymbolsHidden => "kernel symbols are hidden (kernel.kptr_restrict)",
            Reason::Unreadable => "the module's file could not be read",
        })
    }
}

/// Something that names addresses. Each kind of module takes the addresses it is about:
///
/// - [`ElfModule`]: link-time addresses of the file (see [`ElfModule::file_offset_to_vaddr`]);
/// - [`PerfMap`](crate::perfmap::PerfMap): runtime addresses of JIT code in the process that wrote it;
/// - [`Kallsyms`](crate::kallsyms::Kallsyms): kernel addresses.
///
/// ```
/// use symbolizer::{kallsyms::Kallsyms, perfmap::PerfMap, Answer, Symbolize};
///
/// let jit = PerfMap::parse(b"7f0000001000 40 LazyCompile:*fib /app/fib.js:3\n");
/// let kernel = Kallsyms::parse("ffffffff81000000 T _stext\nffffffff81000100 t do_one\n")?;
/// let modules: [&dyn Symbolize; 2] = [&jit, &kernel];
/// for (module, addr) in modules.iter().zip([0x7f0000001010, 0xffffffff81000180]) {
///     let batch = module.symbolize(&[addr]);
///     let Some(Answer::Frames(frames)) = batch.get(0) else { panic!("unknown") };
///     println!("{:#x}: {}", addr, batch.str(frames[0].function.unwrap()));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Symbolize {
    /// The answers for `addrs`, in their order.
    fn symbolize(&self, addrs: &[u64]) -> Batch;
}

impl Symbolize for ElfModule {
    fn symbolize(&self, addrs: &[u64]) -> Batch {
        self.symbolize_vaddrs(addrs)
    }
}

/// The answer for one address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Symbolized {
    /// At least one frame, innermost first. Shared: a batch hands the same frames to every
    /// occurrence of an address, and cloning or dropping them costs one reference count.
    Frames(Arc<[Frame]>),
    /// No name, and why.
    Unknown(Reason),
}

impl Symbolized {
    /// The frames, innermost first (empty for an unknown address).
    pub fn frames(&self) -> &[Frame] {
        match self {
            Symbolized::Frames(frames) => frames,
            Symbolized::Unknown(_) => &[],
        }
    }
}
