//! `cperf symbolize`: addresses of an ELF file (or of a running process, through its maps and root)
//! to frames, printed the way `addr2line -f -i -C -e FILE` prints them ([`output`]).
//!
//! Without `--pid`, addresses are the file's link-time addresses, as addr2line takes them. With
//! `--pid`, they are runtime addresses of that process: each is found in its mappings, the mapped file
//! is opened inside the process's root (never the host's file of the same path), and the address
//! becomes a file offset; addresses in anonymous executable memory are named by the JIT perf map the
//! process writes in its own `/tmp`, and kernel addresses by `/proc/kallsyms`.
//!
//! What a process's files make `--pid` read is bounded as `cperf record` bounds it: mapped ELF
//! files and their debug files by [`symbolizer::debug_files::LIMITS`] (256 MiB per file, what its
//! compressed sections inflate to included), the JIT perf map by [`symbolizer::perfmap::LIMITS`]
//! (32 MiB, cut at the last whole line; held as that text and searched for each batch's addresses,
//! not parsed into ten times its size). A file over its bound is not read (its addresses are `??`)
//! or is cut; either way one note on stderr says so, never an unbounded read.
//!
//! Addresses come from the command line (hex, `0x` optional), else from stdin, one per line as
//! addr2line reads them ([`input`]), and are resolved in batches of as many as are ready: large
//! batches for files and pipes, which the symbolizer resolves sorted, and an answer per line for a
//! caller that waits for it.

mod input;
mod output;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use symbolizer::budget::Budget;
use symbolizer::kallsyms::Kallsyms;
use symbolizer::perfmap::PerfMapText;
use symbolizer::root::ContainerRoot;
use symbolizer::{debug_file_for, Answer, Batch, DebugFiles, ElfModule, HostFiles, Reason, Symbolize};

pub use output::{Format, TextStyle};

use input::AddressReader;
use output::Printer;

/// The largest file read with `-e` (the operator's own choice of file, on the host).
const MAX_FILE: u64 = 1 << 30;
/// The most addresses resolved in one batch: large enough that a batch's sorted addresses fall
/// many to a function (for the caches), small enough to bound memory (~70 MB at most).
const BATCH: usize = 1 << 20;
/// Where the kernel's half of the address space starts on x86-64 and arm64.
const KERNEL_START: u64 = 0xffff_8000_0000_0000;

/// What `cperf symbolize` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolizeOptions {
    /// `-e`: the ELF file (with `--pid`, its path as the process sees it, to restrict the lookup).
    pub file: Option<PathBuf>,
    /// `--pid`.
    pub pid: Option<u32>,
    /// Addresses as typed; empty means stdin.
    pub addresses: Vec<String>,
    /// Output format.
    pub format: Format,
}

/// Runs `cperf symbolize`. `ready` tells whether more of `input` can be read without waiting.
pub fn run(
    opts: SymbolizeOptions,
    input: &mut dyn BufRead,
    ready: &mut dyn FnMut() -> bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let addresses = opts
        .addresses
        .iter()
        .map(|a| input::parse_address(a.as_bytes()))
        .collect::<anyhow::Result<Vec<u64>>>()?;
    let mut reader = AddressReader::new(input, ready);
    let mut batch = Vec::new();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // The file is read and parsed on another thread while the first addresses are read, if some
    // are there already (a caller who has written none yet hears of a bad file at once). Without a
    // thread to spare, one after the other.
    let mut resolver = std::thread::scope(|scope| {
        let loading = std::thread::Builder::new().spawn_scoped(scope, || Resolver::new(&opts, threads)).ok();
        let read = if loading.is_some() && addresses.is_empty() && reader.input_ready() {
            reader.next_batch(&mut batch, BATCH)
        } else {
            Ok(())
        };
        let resolver = match loading {
            Some(loading) => loading.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
            None => Resolver::new(&opts, threads)?,
        };
        read.map(|()| resolver)
    })?;
    let mut printer = Printer::new(out, opts.format, threads);
    printer.set_address_digits(resolver.address_digits());
    if !addresses.is_empty() {
        resolver.print(&addresses, &mut printer, threads)?;
        printer.flush()?;
        resolver.write_notes(&mut std::io::stderr().lock())?;
        return Ok(0);
    }
    loop {
        if batch.is_empty() {
            reader.next_batch(&mut batch, BATCH)?;
            if batch.is_empty() {
                break;
            }
        }
        resolver.print(&batch, &mut printer, threads)?;
        printer.flush()?;
        resolver.write_notes(&mut std::io::stderr().lock())?;
        batch.clear();
    }
    // The process is about to exit: freeing a large module's DWARF caches piece by piece takes
    // tens of milliseconds that the exit does at once.
    std::mem::forget(resolver);
    Ok(0)
}

/// One loaded file.
fn load(data: Vec<u8>, path: &Path, files: &dyn DebugFiles) -> anyhow::Result<ElfModule> {
    let mut module =
        ElfModule::parse(data).with_context(|| format!("{} is not a readable ELF file", path.display()))?;
    if !module.has_dwarf() {
        if let Some(debug) = symbolizer::find_debug_file(&module, path, files) {
            // A debug file that does not match is ignored, as gdb and addr2line do.
            let _ = module.attach_debug(debug);
        }
    }
    Ok(module)
}

/// A process's mapped ELF file (`file`, `len` bytes when opened; `path` as the process sees it),
/// with the split debug file found in its `root`: read, held and inflated only as far as `budget`
/// grants, charged to process `pid`. `None` when it cannot be read or parsed, or the budget
/// refused it (the budget keeps the cut, for a note).
fn load_within(
    file: std::fs::File,
    len: u64,
    path: &Path,
    root: &ContainerRoot,
    budget: &Budget,
    pid: u32,
) -> Option<ElfModule> {
    let mut account = budget.account(pid, path);
    if !account.try_charge(len) {
        return None;
    }
    let mut data = Vec::new();
    data.try_reserve_exact(usize::try_from(len).ok()?).ok()?;
    // No further than what was charged, should the file grow meanwhile.
    file.take(len).read_to_end(&mut data).ok()?;
    let debug = debug_file_for(&data, path, root, budget, pid);
    let mut module = ElfModule::parse_within(data, &mut account).ok()?;
    if let Some(mut debug) = debug {
        // A debug file that does not match is ignored, as gdb and addr2line do.
        let _ = module.attach_debug_within(debug.data, &mut debug.account);
    }
    Some(module)
}

/// The perf map at `path` in `root`, as much of it as `budget` grants process `pid`, cut after its
/// last whole line (the budget keeps the cut, for a note). `None` when there is none to read.
fn read_perf_map(root: &ContainerRoot, path: &Path, budget: &Budget, pid: u32) -> Option<Vec<u8>> {
    let (file, len) = root.open(path, u64::MAX).ok()?;
    let mut account = budget.account(pid, path);
    let granted = account.charge(len);
    let mut text = Vec::new();
    text.try_reserve_exact(usize::try_from(granted).ok()?).ok()?;
    file.take(granted).read_to_end(&mut text).ok()?;
    if granted < len {
        text.truncate(text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1));
    }
    Some(text)
}

/// Where addresses are looked up.
enum Resolver {
    /// Link-time addresses of one file.
    File(ElfModule),
    /// Runtime addresses of a process.
    Process(Box<Process>),
}

/// A process's mappings and what names them, loaded as addresses need them.
struct Process {
    pid: u32,
    /// `-e`: only this file's addresses are named.
    only: Option<PathBuf>,
    root: ContainerRoot,
    /// Executable mappings, by address.
    maps: Vec<sampler::procmaps::MapEntry>,
    /// Whether the process's executable is 64-bit.
    is_64: bool,
    /// ELF modules by the mapped file (`None`: not readable).
    modules: HashMap<FileKey, Option<Arc<ElfModule>>>,
    /// The JIT perf map, once looked for (`None`: the process has none).
    perf_map: Option<Option<PerfMapText>>,
    /// Kernel symbols, once read.
    kallsyms: Option<Option<Kallsyms>>,
    /// What mapped ELF files and their debug files may make this process read and inflate.
    elf_budget: Budget,
    /// What its perf map may make it read.
    perf_map_budget: Budget,
    /// How many cuts of each budget were written to stderr already.
    cuts_noted: (usize, usize),
}

/// A mapped file: its path as the process sees it (with ` (deleted)` when it was since deleted or
/// replaced), device and inode — two files mapped from the same path (a library upgraded while the
/// process runs) are two modules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    path: Vec<u8>,
    dev: (u32, u32),
    inode: u64,
}

/// Which module names an address of a process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Owner {
    Elf(FileKey),
    PerfMap,
    Kernel,
}

/// Where an address's answer is: a batch and an index in it, or nowhere.
#[derive(Debug, Clone, Copy)]
enum Place {
    In(usize, usize),
    Unknown(Reason),
}

impl Resolver {
    /// What names the addresses `opts` speaks of, ready for `threads` threads.
    fn new(opts: &SymbolizeOptions, threads: usize) -> anyhow::Result<Resolver> {
        match (opts.pid, &opts.file) {
            (Some(pid), only) => Resolver::process(pid, only.clone()),
            (None, Some(file)) => Resolver::file(file, threads),
            (None, None) => bail!("name the file with -e FILE (or a process with --pid PID)"),
        }
    }

    /// How many hex digits `-a` prints: 8 for a 32-bit file or process, as binutils does.
    fn address_digits(&self) -> u8 {
        let is_64 = match self {
            Resolver::File(module) => module.is_64(),
            Resolver::Process(process) => process.is_64,
        };
        if is_64 {
            16
        } else {
            8
        }
    }

    fn file(path: &Path, threads: usize) -> anyhow::Result<Resolver> {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            bail!("{} is not a regular file of at most 1 GiB", path.display());
        }
        let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let module = load(data, path, &HostFiles)?;
        module.prepare_threads(threads);
        Ok(Resolver::File(module))
    }

    fn process(pid: u32, only: Option<PathBuf>) -> anyhow::Result<Resolver> {
        let text = std::fs::read(format!("/proc/{pid}/maps")).map_err(|_| {
            anyhow::anyhow!(
                "no such process {pid} (or no permission to read its maps): check with: ps -p {pid}"
            )
        })?;
        let mut maps: Vec<_> =
            sampler::procmaps::parse(&text).into_iter().filter(|m| m.executable()).collect();
        maps.sort_by_key(|m| m.start);
        let root = ContainerRoot::of_process(pid)
            .with_context(|| format!("cannot open the root of process {pid}"))?;
        // EI_CLASS, the fifth byte of the ELF header: 1 for 32-bit.
        let mut header = [0u8; 5];
        let is_64 = std::fs::File::open(format!("/proc/{pid}/exe"))
            .and_then(|mut exe| std::io::Read::read_exact(&mut exe, &mut header))
            .map_or(true, |()| header[4] != 1);
        Ok(Resolver::Process(Box::new(Process {
            pid,
            only,
            root,
            maps,
            is_64,
            modules: HashMap::new(),
            perf_map: None,
            kallsyms: None,
            elf_budget: Budget::new("ELF and debug files", symbolizer::debug_files::LIMITS),
            perf_map_budget: Budget::new("perf maps", symbolizer::perfmap::LIMITS),
            cuts_noted: (0, 0),
        })))
    }

    /// Writes a note for each file cut or refused by a bound since the last call (escaped: the
    /// paths are the container's).
    fn write_notes(&mut self, err: &mut dyn Write) -> std::io::Result<()> {
        let Resolver::Process(process) = self else { return Ok(()) };
        let (elf, maps) = process.cuts_noted;
        let elf_cuts = process.elf_budget.cuts();
        let map_cuts = process.perf_map_budget.cuts();
        let new = elf_cuts[elf.min(elf_cuts.len())..]
            .iter()
            .map(|c| process.elf_budget.note(c))
            .chain(map_cuts[maps.min(map_cuts.len())..].iter().map(|c| process.perf_map_budget.note(c)));
        for note in new {
            writeln!(err, "cperf symbolize: note: {}", crate::escape::esc(&note))?;
        }
        process.cuts_noted = (elf_cuts.len(), map_cuts.len());
        Ok(())
    }

    /// Resolves `addrs` on up to `threads` threads and prints their answers, in order.
    fn print(&mut self, addrs: &[u64], printer: &mut Printer<'_>, threads: usize) -> std::io::Result<()> {
        match self {
            Resolver::File(module) if !module.is_64() => {
                // A 32-bit file's addresses are 32 bits: addr2line drops the rest.
                let addrs: Vec<u64> = addrs.iter().map(|&a| a & u64::from(u32::MAX)).collect();
                let batch = module.symbolize_vaddrs_on(&addrs, threads);
                printer.print_batch(&addrs, &batch)?;
            }
            Resolver::File(module) => {
                let batch = module.symbolize_vaddrs_on(addrs, threads);
                printer.print_batch(addrs, &batch)?;
            }
            Resolver::Process(process) => {
                let (batches, places) = process.resolve(addrs);
                let none = Batch::default();
                for (&addr, place) in addrs.iter().zip(places) {
                    let (answer, batch) = match place {
                        Place::In(b, i) => match &batches[b] {
                            Ok(batch) => (batch.get(i).unwrap_or(Answer::Unknown(Reason::NoSymbols)), batch),
                            Err(reason) => (Answer::Unknown(*reason), &none),
                        },
                        Place::Unknown(reason) => (Answer::Unknown(reason), &none),
                    };
                    printer.print(addr, answer, batch)?;
                }
            }
        }
        Ok(())
    }
}

impl Process {
    /// Groups `addrs` by the module that names them, resolves each group in one batch, and says
    /// where each address's answer is.
    fn resolve(&mut self, addrs: &[u64]) -> (Vec<Result<Batch, Reason>>, Vec<Place>) {
        let mut groups: HashMap<Owner, (usize, Vec<u64>)> = HashMap::new();
        let mut places = Vec::with_capacity(addrs.len());
        for &addr in addrs {
            let place = match self.owner(addr) {
                Ok((owner, module_addr)) => {
                    let next = groups.len();
                    let (group, list) = groups.entry(owner).or_insert_with(|| (next, Vec::new()));
                    list.push(module_addr);
                    Place::In(*group, list.len() - 1)
                }
                Err(reason) => Place::Unknown(reason),
            };
            places.push(place);
        }
        let mut groups: Vec<(Owner, (usize, Vec<u64>))> = groups.into_iter().collect();
        groups.sort_by_key(|(_, (group, _))| *group);
        let batches = groups
            .into_iter()
            .map(|(owner, (_, list))| self.module(&owner).map(|m| m.symbolize(&list)))
            .collect();
        (batches, places)
    }

    /// Which module names `addr`, and the address in that module's terms.
    fn owner(&mut self, addr: u64) -> Result<(Owner, u64), Reason> {
        if addr >= KERNEL_START && self.only.is_none() {
            return Ok((Owner::Kernel, addr));
        }
        let i = self.maps.partition_point(|m| m.start <= addr).checked_sub(1).ok_or(Reason::OutsideText)?;
        let m = &self.maps[i];
        if addr >= m.end {
            return Err(Reason::OutsideText);
        }
        if m.path.is_empty() {
            return if self.only.is_none() { Ok((Owner::PerfMap, addr)) } else { Err(Reason::OutsideText) };
        }
        if !m.path.starts_with(b"/") {
            // [vdso], [vsyscall]: not files.
            return Err(Reason::NoSymbols);
        }
        let live = m.path.strip_suffix(b" (deleted)");
        let path = live.unwrap_or(&m.path);
        if self.only.as_ref().is_some_and(|o| o.as_os_str().as_bytes() != path) {
            return Err(Reason::OutsideText);
        }
        let key = FileKey { path: m.path.clone(), dev: (m.maj, m.min), inode: m.inode };
        let (start, end, offset, deleted) = (m.start, m.end, m.offset, live.is_some());
        let (pid, root, budget) = (self.pid, &self.root, &self.elf_budget);
        let module = self.modules.entry(key.clone()).or_insert_with(|| {
            let p = Path::new(OsStr::from_bytes(path));
            // The mapped file itself; else the file at its path in the process's root — unless it
            // was deleted since, when that path holds another file, or none.
            let mapped = PathBuf::from(format!("/proc/{pid}/map_files/{start:x}-{end:x}"));
            let (file, len) = symbolizer::root::open_host_regular(&mapped, u64::MAX).ok().or_else(|| {
                if deleted {
                    None
                } else {
                    root.open(p, u64::MAX).ok()
                }
            })?;
            load_within(file, len, p, root, budget, pid).map(Arc::new)
        });
        let module = module.as_ref().ok_or(Reason::Unreadable)?;
        let vaddr = module.file_offset_to_vaddr(addr - start + offset).ok_or(Reason::OutsideText)?;
        Ok((Owner::Elf(key), vaddr))
    }

    /// The module that names an owner's addresses, or why there is none.
    fn module(&mut self, owner: &Owner) -> Result<&dyn Symbolize, Reason> {
        match owner {
            Owner::Elf(key) => match self.modules.get(key) {
                Some(Some(module)) => Ok(&**module),
                _ => Err(Reason::Unreadable),
            },
            Owner::PerfMap => {
                let (pid, root, budget) = (self.pid, &self.root, &self.perf_map_budget);
                let map = self.perf_map.get_or_insert_with(|| {
                    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                    let ns_pid = symbolizer::perfmap::innermost_pid(&status)?;
                    let text = read_perf_map(root, &symbolizer::perfmap::perf_map_path(ns_pid), budget, pid)?;
                    Some(PerfMapText::new(text))
                });
                map.as_ref().map(|m| m as &dyn Symbolize).ok_or(Reason::NotInPerfMap)
            }
            Owner::Kernel => {
                let kallsyms = self.kallsyms.get_or_insert_with(|| {
                    let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
                    Kallsyms::parse(&text).ok()
                });
                kallsyms.as_ref().map(|k| k as &dyn Symbolize).ok_or(Reason::KernelSymbolsHidden)
            }
        }
    }
}
