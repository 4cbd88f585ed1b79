//! `cperf symbolize`: addresses of an ELF file (or of a running process, through its maps and root)
//! to frames, printed the way `addr2line -f -i -C -e FILE` prints them ([`output`]).
//!
//! Without `--pid`, addresses are the file's link-time addresses, as addr2line takes them. With
//! `--pid`, they are runtime addresses of that process: each is found in its mappings, the mapped file
//! is opened inside the process's root (never the host's file of the same path), and the address
//! becomes a file offset. Addresses come from the command line, else from stdin (whitespace-separated,
//! hex with or without `0x`), and are resolved in batches.

mod output;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use symbolizer::root::ContainerRoot;
use symbolizer::{DebugFiles, ElfModule, HostFiles, Reason, Symbolized};

pub use output::Format;

/// The largest file read.
const MAX_FILE: u64 = 1 << 30;
/// Addresses resolved per batch.
const BATCH: usize = 65536;

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

/// Runs `cperf symbolize`.
pub fn run(opts: SymbolizeOptions, input: &mut dyn BufRead, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut resolver = match opts.pid {
        Some(pid) => Resolver::process(pid, opts.file.clone())?,
        None => {
            let Some(file) = &opts.file else {
                bail!("name the file with -e FILE (or a process with --pid PID)");
            };
            Resolver::file(file)?
        }
    };
    let mut batch: Vec<u64> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<u64>, resolver: &mut Resolver, out: &mut dyn Write| -> anyhow::Result<()> {
        let results = resolver.resolve(batch);
        for (addr, result) in batch.iter().zip(&results) {
            output::write(out, opts.format, *addr, result)?;
        }
        batch.clear();
        Ok(())
    };
    if opts.addresses.is_empty() {
        let mut line = String::new();
        loop {
            line.clear();
            if input.read_line(&mut line).context("reading addresses from stdin")? == 0 {
                break;
            }
            for word in line.split_whitespace() {
                batch.push(parse_address(word)?);
                if batch.len() == BATCH {
                    flush(&mut batch, &mut resolver, out)?;
                }
            }
        }
    } else {
        for word in &opts.addresses {
            batch.push(parse_address(word)?);
        }
    }
    flush(&mut batch, &mut resolver, out)?;
    Ok(0)
}

/// A hex address, with or without `0x` (addr2line reads hex either way).
fn parse_address(word: &str) -> anyhow::Result<u64> {
    let digits = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")).unwrap_or(word);
    u64::from_str_radix(digits, 16)
        .map_err(|_| anyhow::anyhow!("'{word}' is not a hex address (like 0x4011a6 or 4011a6)"))
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

/// Where addresses are looked up.
enum Resolver {
    /// Link-time addresses of one file.
    File(ElfModule),
    /// Runtime addresses of a process.
    Process {
        pid: u32,
        only: Option<PathBuf>,
        root: ContainerRoot,
        maps: Vec<sampler::procmaps::MapEntry>,
        modules: HashMap<Vec<u8>, Option<Arc<ElfModule>>>,
    },
}

impl Resolver {
    fn file(path: &Path) -> anyhow::Result<Resolver> {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            bail!("{} is not a regular file of at most 1 GiB", path.display());
        }
        let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Resolver::File(load(data, path, &HostFiles)?))
    }

    fn process(pid: u32, only: Option<PathBuf>) -> anyhow::Result<Resolver> {
        let text = std::fs::read(format!("/proc/{pid}/maps")).map_err(|_| {
            anyhow::anyhow!(
                "no such process {pid} (or no permission to read its maps): check with: ps -p {pid}"
            )
        })?;
        let maps = sampler::procmaps::parse(&text).into_iter().filter(|m| m.executable()).collect();
        let root = ContainerRoot::of_process(pid)
            .with_context(|| format!("cannot open the root of process {pid}"))?;
        Ok(Resolver::Process { pid, only, root, maps, modules: HashMap::new() })
    }

    fn resolve(&mut self, addrs: &[u64]) -> Vec<Symbolized> {
        match self {
            Resolver::File(module) => module.symbolize_vaddrs(addrs),
            Resolver::Process { pid, only, root, maps, modules } => addrs
                .iter()
                .map(|&addr| {
                    let Some(m) = maps.iter().find(|m| (m.start..m.end).contains(&addr)) else {
                        return Symbolized::Unknown(Reason::OutsideText);
                    };
                    let path = m.path.strip_suffix(b" (deleted)").unwrap_or(&m.path).to_vec();
                    if only.as_ref().is_some_and(|o| o.as_os_str().as_encoded_bytes() != path.as_slice()) {
                        return Symbolized::Unknown(Reason::OutsideText);
                    }
                    let module = modules.entry(path.clone()).or_insert_with(|| {
                        let p =
                            Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&path));
                        let data = std::fs::read(format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end))
                            .ok()
                            .or_else(|| root.read(p, MAX_FILE).ok())?;
                        load(data, p, root).ok().map(Arc::new)
                    });
                    match module {
                        Some(module) => module.symbolize_offset(addr - m.start + m.offset),
                        None => Symbolized::Unknown(Reason::NoSymbols),
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_like_addr2line() {
        assert_eq!(parse_address("0x4011a6").unwrap(), 0x4011a6);
        assert_eq!(parse_address("4011A6").unwrap(), 0x4011a6);
        assert!(parse_address("main").is_err());
        assert!(parse_address("0x").is_err());
    }
}
