//! Where a function is in a file: `func`, `func+0x10` or a raw `0x1234` file offset turned into the
//! file offset a uprobe is placed at. Function symbols of `.symtab` and `.dynsym` are matched by
//! their name as written or demangled; a name that matches functions at several addresses, or
//! none, is an error that names the candidates.

use object::read::elf::{ElfFile, FileHeader};
use object::{Endianness, Object, ObjectSegment, ObjectSymbol, SymbolIndex};

use crate::demangle::demangle;
use crate::dwarf::types::{return_type, ReturnType};

/// Why a probe location could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The location is not `func`, `func+OFFSET` or `0xOFFSET`.
    #[error("'{0}' is not a function, function+offset (zoo_set2+0x10) or file offset (0x1a2b)")]
    Syntax(String),
    /// Not an ELF file.
    #[error("not an ELF file")]
    NotElf,
    /// No function of that name.
    #[error("no function '{name}' in the file{}", candidates(.similar))]
    NotFound {
        /// The name asked for.
        name: String,
        /// Functions whose names contain it.
        similar: Vec<String>,
    },
    /// Several functions of that name at different addresses.
    #[error("'{name}' names {} functions: {}; probe one by its file offset (0x…){}", .matches.len(), .matches.join(", "), full_names(.matches))]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// `name at file offset 0x…` for each.
        matches: Vec<String>,
    },
    /// The name is an IFUNC: which implementation runs is chosen when the program starts.
    #[error("'{name}' is chosen among implementations when the program starts (an IFUNC), and is not run itself: probe the implementation{}", implementations_list(.implementations))]
    Ifunc {
        /// The name asked for.
        name: String,
        /// Functions whose names contain it (`__memcpy_avx_unaligned_erms`, …).
        implementations: Vec<String>,
    },
    /// The address is in no loadable segment of the file.
    #[error("function '{0}' is not in a loadable segment of the file")]
    NotLoaded(String),
}

fn implementations_list(implementations: &[String]) -> String {
    if implementations.is_empty() {
        " (this file does not name them: its debug symbols do)".into()
    } else {
        format!(" this machine uses, one of: {}", implementations.join(", "))
    }
}

/// C++ overloads can also be told apart by their parameters.
fn full_names(matches: &[String]) -> &'static str {
    if matches.iter().any(|m| m.contains('(')) {
        " or its whole name as listed, parameters and all"
    } else {
        ""
    }
}

fn candidates(similar: &[String]) -> String {
    if similar.is_empty() {
        "; list its functions with: nm -D --defined-only FILE (or nm FILE)".into()
    } else {
        format!("; did you mean: {}", similar.join(", "))
    }
}

/// A probe location found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeLocation {
    /// The file offset of the instruction to probe.
    pub offset: u64,
    /// The function's name (demangled), when a name was given.
    pub function: Option<String>,
    /// The function's virtual address in the file, when a name was given.
    pub address: Option<u64>,
    /// The function's return type, when a name was given and the file's own DWARF describes it
    /// (a separate debug file may: see [`crate::return_type`]).
    pub return_type: Option<ReturnType>,
    /// The offset is a function's first instruction (where a return probe must be).
    pub at_start: bool,
}

/// A function symbol of the file.
struct Function {
    address: u64,
    /// As written (mangled, maybe `name@VERSION`).
    name: String,
    /// `STT_GNU_IFUNC`: a resolver that picks the implementation at load time.
    ifunc: bool,
    /// A non-default symbol version (`memcpy@GLIBC_2.2.5` beside `memcpy@@GLIBC_2.14`).
    hidden: bool,
}

/// `STT_GNU_IFUNC`.
const STT_GNU_IFUNC: u8 = 10;
/// `STT_FUNC`.
const STT_FUNC: u8 = 2;

/// Every defined function of `.symtab` and `.dynsym`.
fn functions(file: &object::File<'_>) -> Vec<Function> {
    let hidden = hidden_versions(file);
    let symbol = |s: object::Symbol<'_, '_>, dynamic: bool| {
        let object::SymbolFlags::Elf { st_info, .. } = s.flags() else { return None };
        let kind = st_info & 0xf;
        if !(kind == STT_FUNC || kind == STT_GNU_IFUNC) || s.section_index().is_none() || s.address() == 0 {
            return None;
        }
        Some(Function {
            address: s.address(),
            name: s.name().ok()?.to_owned(),
            ifunc: kind == STT_GNU_IFUNC,
            hidden: dynamic && hidden.get(s.index().0).copied().unwrap_or(false),
        })
    };
    let mut all: Vec<Function> = file.symbols().filter_map(|s| symbol(s, false)).collect();
    all.extend(file.dynamic_symbols().filter_map(|s| symbol(s, true)));
    all
}

/// Per `.dynsym` index: whether the symbol's version is a hidden (non-default) one.
fn hidden_versions(file: &object::File<'_>) -> Vec<bool> {
    fn of<Elf: FileHeader<Endian = Endianness>>(f: &ElfFile<'_, Elf>) -> Vec<bool> {
        let endian = f.endian();
        let Ok(Some(versions)) = f.elf_section_table().versions(endian, f.data()) else { return Vec::new() };
        (0..f.elf_dynamic_symbol_table().len())
            .map(|i| versions.version_index(endian, SymbolIndex(i)).is_hidden())
            .collect()
    }
    match file {
        object::File::Elf32(f) => of(f),
        object::File::Elf64(f) => of(f),
        _ => Vec::new(),
    }
}

/// Where a virtual address is in the file, through the loadable segment holding it.
fn file_offset(file: &object::File<'_>, data_len: usize, vaddr: u64) -> Option<u64> {
    file.segments().find_map(|seg| {
        let (file_start, file_size) = seg.file_range();
        let into = vaddr.checked_sub(seg.address())?;
        let offset = file_start.checked_add(into)?;
        (into < file_size && offset < data_len as u64).then_some(offset)
    })
}

/// `func+0x10` or `func+16` split; a `+` not followed by a number is part of the name
/// (`operator+`).
fn split_offset(location: &str) -> (&str, u64) {
    if let Some((name, plus)) = location.rsplit_once('+') {
        let number = match plus.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => plus.parse().ok(),
        };
        if let (Some(number), false) = (number, name.is_empty()) {
            return (name, number);
        }
    }
    (location, 0)
}

/// True when `candidate` looks like an implementation of `name`: it holds the name as a word of
/// its own (`__memcpy_avx2` for `memcpy`; not `wmemcpy`).
fn implements(candidate: &str, name: &str) -> bool {
    candidate.match_indices(name).any(|(at, _)| {
        let before = candidate[..at].chars().next_back();
        let after = candidate[at + name.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// True when the symbol `written` is what the user's `name` means: the name as written, without
/// its version, demangled, or demangled without parameters (and without a template's return type).
fn names(written: &str, name: &str) -> bool {
    if written == name || written.split('@').next() == Some(name) {
        return true;
    }
    let demangled = demangle(written);
    if demangled == name {
        return true;
    }
    without_parameters(&demangled).is_some_and(|base| base == name || without_return_type(base) == name)
}

/// The file offset of `location` (`func`, `func+0x10`, `0x1a2b`) in the ELF file `data`.
pub fn probe_location(data: &[u8], location: &str) -> Result<ProbeLocation, LookupError> {
    probe_location_with_debug(data, None, location)
}

/// Like [`probe_location`], with the functions and return types of `data`'s separate debug file
/// too (`debug`: its `.symtab` names the local functions a stripped file no longer does, at the
/// same addresses).
pub fn probe_location_with_debug(
    data: &[u8],
    debug: Option<&[u8]>,
    location: &str,
) -> Result<ProbeLocation, LookupError> {
    let debug_file = debug.and_then(|d| object::File::parse(d).ok());
    let all_functions = |file: &object::File<'_>| {
        let mut all = functions(file);
        if let Some(debug_file) = &debug_file {
            all.extend(functions(debug_file));
        }
        all
    };
    let return_type_at =
        |address: u64| return_type(data, address).or_else(|| debug.and_then(|d| return_type(d, address)));
    if let Some(hex) = location.strip_prefix("0x") {
        let offset = u64::from_str_radix(hex, 16).map_err(|_| LookupError::Syntax(location.into()))?;
        // The function starting there, if one does (a return probe must be at one).
        let start = object::File::parse(data).ok().and_then(|file| {
            all_functions(&file)
                .into_iter()
                .filter(|f| !f.ifunc)
                .find(|f| file_offset(&file, data.len(), f.address) == Some(offset))
        });
        return Ok(match start {
            Some(f) => ProbeLocation {
                offset,
                function: Some(demangle(&f.name).into_owned()),
                address: Some(f.address),
                return_type: return_type_at(f.address),
                at_start: true,
            },
            None => {
                ProbeLocation { offset, function: None, address: None, return_type: None, at_start: false }
            }
        });
    }
    let (name, plus) = split_offset(location);
    if name.trim().is_empty() || name.trim() != name {
        return Err(LookupError::Syntax(location.into()));
    }
    let file = object::File::parse(data).map_err(|_| LookupError::NotElf)?;
    let functions = all_functions(&file);
    let mut matches: Vec<&Function> = functions.iter().filter(|f| names(&f.name, name)).collect();
    if matches.iter().any(|f| f.ifunc) {
        let mut implementations: Vec<String> = functions
            .iter()
            .filter(|f| !f.ifunc && f.name != name && implements(&f.name, name))
            .map(|f| demangle(&f.name).into_owned())
            .collect();
        implementations.sort();
        implementations.dedup();
        implementations.truncate(12);
        return Err(LookupError::Ifunc { name: name.into(), implementations });
    }
    // An old symbol version beside the default one is not what a caller built today calls.
    if matches.iter().any(|f| !f.hidden) {
        matches.retain(|f| !f.hidden);
    }
    matches.sort_by_key(|f| f.address);
    matches.dedup_by_key(|f| f.address);
    let found = match matches.as_slice() {
        [] => {
            let lower = name.to_lowercase();
            let mut similar: Vec<String> = functions
                .iter()
                .map(|f| demangle(&f.name).into_owned())
                .filter(|n| n.to_lowercase().contains(&lower))
                .collect();
            similar.sort();
            similar.dedup();
            similar.truncate(8);
            return Err(LookupError::NotFound { name: name.into(), similar });
        }
        [one] => *one,
        many => {
            return Err(LookupError::Ambiguous {
                name: name.into(),
                matches: many
                    .iter()
                    .map(|f| match file_offset(&file, data.len(), f.address) {
                        Some(offset) => format!("{} at file offset {offset:#x}", demangle(&f.name)),
                        None => format!("{} at address {:#x}", demangle(&f.name), f.address),
                    })
                    .collect(),
            })
        }
    };
    let function = demangle(&found.name).into_owned();
    let vaddr = found.address.checked_add(plus).ok_or_else(|| LookupError::NotLoaded(function.clone()))?;
    let offset =
        file_offset(&file, data.len(), vaddr).ok_or_else(|| LookupError::NotLoaded(function.clone()))?;
    Ok(ProbeLocation {
        offset,
        function: Some(function),
        address: Some(found.address),
        return_type: return_type_at(found.address),
        at_start: plus == 0,
    })
}

/// A demangled template function's name without the return type the demangler puts first
/// (`int ns::h<int>` gives `ns::h<int>`): what follows the last space outside `<…>` and `(…)`,
/// unless that space belongs to `operator new` and the like.
fn without_return_type(base: &str) -> &str {
    let mut depth = 0usize;
    let mut last_space = None;
    for (at, c) in base.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 => last_space = Some(at),
            _ => {}
        }
    }
    match last_space {
        Some(at) if !base[..at].ends_with("operator") => &base[at + 1..],
        _ => base,
    }
}

/// The directories an ELF program's dynamic loader searches first for its libraries: its
/// `DT_RUNPATH` entries, else its `DT_RPATH` ones, as written (`$ORIGIN/../lib` unexpanded); empty
/// for a file without them or not ELF.
pub fn library_runpath(data: &[u8]) -> Vec<String> {
    fn of<Elf: FileHeader<Endian = Endianness>>(f: &ElfFile<'_, Elf>) -> Vec<String> {
        use object::read::elf::Dyn;
        let endian = f.endian();
        let sections = f.elf_section_table();
        // The dynamic entries, and the index of their string table.
        let Ok(Some((dynamics, link))) = sections.dynamic(endian, f.data()) else { return Vec::new() };
        let Ok(strings) = sections.strings(endian, f.data(), link) else { return Vec::new() };
        let (mut runpath, mut rpath) = (Vec::new(), Vec::new());
        for d in dynamics {
            let list = match d.tag32(endian).map(i64::from) {
                Some(object::elf::DT_NULL) => break,
                Some(object::elf::DT_RUNPATH) => &mut runpath,
                Some(object::elf::DT_RPATH) => &mut rpath,
                _ => continue,
            };
            if let Ok(value) = d.string(endian, strings) {
                let value = String::from_utf8_lossy(value);
                list.extend(value.split(':').filter(|p| !p.is_empty()).map(String::from));
            }
        }
        if runpath.is_empty() {
            rpath
        } else {
            runpath
        }
    }
    match object::File::parse(data) {
        Ok(object::File::Elf32(f)) => of(&f),
        Ok(object::File::Elf64(f)) => of(&f),
        _ => Vec::new(),
    }
}

/// A demangled C++ name without its parameter list and what follows it (`ns::f(int) const` gives
/// `ns::f`); `None` when it has none.
fn without_parameters(demangled: &str) -> Option<&str> {
    // The parameter list is the last top-level `(…)`: scan back from the last `)` to its `(`.
    let close = demangled.rfind(')')?;
    let mut depth = 0usize;
    for (at, c) in demangled[..=close].char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    let base = demangled[..at].trim_end();
                    return (!base.is_empty()).then_some(base);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Vec<u8> {
        std::fs::read("/proc/self/exe").unwrap()
    }

    #[test]
    fn offsets_as_given() {
        assert_eq!(probe_location(b"not elf", "0x1234").unwrap().offset, 0x1234);
        assert!(matches!(probe_location(b"x", "0xzz"), Err(LookupError::Syntax(_))));
        assert!(matches!(probe_location(b"x", "f+zz"), Err(LookupError::NotElf)), "f+zz is a name");
        assert!(matches!(probe_location(b"x", "+0x10"), Err(LookupError::NotElf)), "a name, however odd");
        assert!(matches!(probe_location(b"x", " f"), Err(LookupError::Syntax(_))));
        assert!(matches!(probe_location(b"x", "f"), Err(LookupError::NotElf)));
    }

    #[test]
    fn functions_of_this_test_binary() {
        let data = me();
        // `main` is in every executable's symbol table.
        let main = probe_location(&data, "main").unwrap();
        assert_eq!(main.function.as_deref(), Some("main"));
        let plus = probe_location(&data, "main+0x4").unwrap();
        assert_eq!(plus.offset, main.offset + 4);
        assert_eq!(probe_location(&data, "main+4").unwrap().offset, main.offset + 4);
        let e = probe_location(&data, "no_such_function_anywhere").unwrap_err();
        assert!(matches!(e, LookupError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("nm -D"), "{e}");
        let e = probe_location(&data, "probe_locatio").unwrap_err();
        assert!(e.to_string().contains("did you mean"), "{e}");
        // The offset is where main's first bytes are in the file, not its virtual address.
        assert_eq!(bytes_at(&data, main.offset), code_at(&data, main.address.unwrap()));
        assert!(main.at_start && !plus.at_start);
        // main's own file offset, given raw, is main's start.
        let raw = probe_location(&data, &format!("{:#x}", main.offset)).unwrap();
        assert_eq!((raw.function.as_deref(), raw.at_start), (Some("main"), true));
        let inside = probe_location(&data, &format!("{:#x}", plus.offset)).unwrap();
        assert_eq!((inside.function, inside.at_start), (None, false));
    }

    /// 16 bytes of the file at `offset`.
    fn bytes_at(data: &[u8], offset: u64) -> &[u8] {
        &data[offset as usize..offset as usize + 16]
    }

    /// 16 bytes of code at virtual address `address`, read through the section holding it.
    fn code_at(data: &[u8], address: u64) -> Vec<u8> {
        use object::ObjectSection;
        let file = object::File::parse(data).unwrap();
        let section = file
            .sections()
            .find(|s| (s.address()..s.address() + s.size()).contains(&address))
            .expect("a section holds the address");
        let into = (address - section.address()) as usize;
        section.data().unwrap()[into..into + 16].to_vec()
    }

    /// A non-PIE executable, whose text's file offsets differ from its addresses by the load base.
    #[test]
    fn offsets_in_a_non_pie_executable() {
        let Some(data) = compile(
            "nopie",
            "c",
            "int f(int i) { return i * 7; }\nint main(int c, char **v) { (void)v; return f(c); }\n",
            &["-no-pie", "-O1"],
        ) else {
            return;
        };
        let f = probe_location(&data, "f").unwrap();
        let address = f.address.unwrap();
        assert!(address >= 0x400000 && f.offset < address, "{f:?}");
        assert_eq!(bytes_at(&data, f.offset), code_at(&data, address));
    }

    /// An IFUNC is refused, naming the implementations to probe.
    #[test]
    fn ifuncs_name_their_implementations() {
        let src = "__attribute__((noinline)) int my_f_generic(int i) { return i + 1; }\n\
                   __attribute__((noinline)) int my_f_fast(int i) { return i + 1; }\n\
                   static void *resolve_my_f(void) { return (void *)my_f_fast; }\n\
                   int my_f(int) __attribute__((ifunc(\"resolve_my_f\")));\n";
        let Some(data) = compile("ifunc", "c", src, &["-shared", "-fPIC", "-O1"]) else { return };
        let e = probe_location(&data, "my_f").unwrap_err();
        let LookupError::Ifunc { ref implementations, .. } = e else { panic!("{e}") };
        assert!(implementations.starts_with(&["my_f_fast".to_string(), "my_f_generic".to_string()]), "{e}");
        assert!(e.to_string().contains("IFUNC"), "{e}");
        assert!(probe_location(&data, "my_f_fast").is_ok());
    }

    #[test]
    fn runpaths_as_written() {
        let Some(data) = compile(
            "runpath",
            "c",
            "int main(void) { return 0; }\n",
            &["-Wl,-rpath,$ORIGIN/../lib:/opt/x/lib"],
        ) else {
            return;
        };
        assert_eq!(library_runpath(&data), ["$ORIGIN/../lib", "/opt/x/lib"]);
        assert!(library_runpath(b"not elf").is_empty());
    }

    /// A stripped library's local function, named by its separate debug file.
    #[test]
    fn a_debug_file_names_what_a_stripped_file_does_not() {
        let src = "static __attribute__((noinline)) int hidden_helper(int i) { return i * 5; }\n\
                   int exported(int i) { return hidden_helper(i) + 1; }\n";
        let scratch = Scratch::new("debug");
        scratch.write(&[("lib.c", src)]);
        let built = scratch.run("cc", &["-g", "-O1", "-shared", "-fPIC", "-o", "lib.so", "lib.c"])
            && scratch.run("objcopy", &["--only-keep-debug", "lib.so", "lib.debug"])
            && scratch.run("strip", &["--strip-all", "-o", "lib.stripped", "lib.so"]);
        if !have_tools(built, "cc, objcopy and strip") {
            return;
        }
        let (full, debug, stripped) =
            (scratch.read("lib.so"), scratch.read("lib.debug"), scratch.read("lib.stripped"));
        let want = probe_location(&full, "hidden_helper").unwrap();
        assert!(matches!(probe_location(&stripped, "hidden_helper"), Err(LookupError::NotFound { .. })));
        let got = probe_location_with_debug(&stripped, Some(&debug), "hidden_helper").unwrap();
        assert_eq!((got.offset, got.at_start), (want.offset, true));
        assert_eq!(got.return_type.map(|t| t.name).as_deref(), Some("int"));
    }

    /// This machine's C library: `memcpy` is an IFUNC (with an old, non-default version beside it),
    /// `realpath` has a non-default old version beside the default one.
    #[test]
    fn the_c_librarys_versions_and_ifuncs() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let Some(libc) =
            maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.contains("/libc.so.6"))
        else {
            return; // not glibc
        };
        let data = std::fs::read(libc).unwrap();
        if !matches!(probe_location(&data, "memcpy"), Err(LookupError::Ifunc { .. })) {
            return; // a C library without an IFUNC memcpy
        }
        let e = probe_location(&data, "memcpy").unwrap_err().to_string();
        assert!(!e.contains("wmemcpy"), "{e}");
        let realpath = probe_location(&data, "realpath");
        assert!(realpath.is_ok(), "{realpath:?}");
    }

    /// A scratch directory for builds, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("cperf-lookup-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// Writes `files` (name, text) into the directory.
        fn write(&self, files: &[(&str, &str)]) {
            for (name, text) in files {
                std::fs::write(self.0.join(name), text).unwrap();
            }
        }

        /// Runs `program args` in the directory: true when it ran and succeeded.
        fn run(&self, program: &str, args: &[&str]) -> bool {
            std::process::Command::new(program)
                .args(args)
                .current_dir(&self.0)
                .status()
                .is_ok_and(|s| s.success())
        }

        /// The bytes of file `name` in the directory.
        fn read(&self, name: &str) -> Vec<u8> {
            std::fs::read(self.0.join(name)).unwrap_or_default()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// False, after a note, when the tools `what` are missing (a failure when
    /// `CPERF_REQUIRE_PRIVILEGED=1`); true when `built`.
    fn have_tools(built: bool, what: &str) -> bool {
        if !built {
            assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "{what} is needed");
            eprintln!("skipped: no {what}");
        }
        built
    }

    /// Compiles `src` (language `c` or `c++`) with `flags`; `None` without a compiler.
    fn compile(name: &str, lang: &str, src: &str, flags: &[&str]) -> Option<Vec<u8>> {
        let scratch = Scratch::new(name);
        let (source, compiler) = if lang == "c" { ("a.c", "cc") } else { ("a.cc", "c++") };
        scratch.write(&[(source, src)]);
        let args: Vec<&str> = flags.iter().copied().chain(["-o", "a", source]).collect();
        have_tools(scratch.run(compiler, &args), compiler).then(|| scratch.read("a"))
    }

    /// Two `static` functions of one name (in two files) are ambiguous: the error lists both
    /// addresses, and each can be probed by its file offset.
    #[test]
    fn one_name_at_two_addresses_is_ambiguous() {
        let one = "static __attribute__((noinline)) int twin(int i) { return i + 1; }\nint one(int i) { return twin(i); }\n";
        let two = "static __attribute__((noinline)) int twin(int i) { return i * 3; }\nint one(int);\n\
                   int main(int c, char **v) { (void)v; return one(c) + twin(c); }\n";
        let scratch = Scratch::new("ambiguous");
        scratch.write(&[("one.c", one), ("two.c", two)]);
        if !have_tools(scratch.run("cc", &["-O1", "-o", "twins", "one.c", "two.c"]), "cc") {
            return;
        }
        let data = scratch.read("twins");
        let e = probe_location(&data, "twin").unwrap_err();
        let LookupError::Ambiguous { ref matches, .. } = e else { panic!("{e}") };
        assert_eq!(matches.len(), 2, "{e}");
        assert!(matches.iter().all(|m| m.starts_with("twin at file offset 0x")), "{e}");
        assert!(e.to_string().contains("probe one by its file offset"), "{e}");
        // Two different offsets, each the start of one `twin` (found back by its raw offset).
        let offsets: Vec<&str> = matches.iter().map(|m| m.rsplit(' ').next().unwrap()).collect();
        assert_ne!(offsets[0], offsets[1], "{e}");
        for offset in offsets {
            let back = probe_location(&data, offset).unwrap();
            assert_eq!((back.function.as_deref(), back.at_start), (Some("twin"), true), "{offset}");
        }
    }

    #[test]
    fn implementations_hold_the_name_as_a_word() {
        assert!(implements("__memcpy_avx_unaligned_erms", "memcpy"));
        assert!(implements("memcpy_sse2", "memcpy"));
        assert!(!implements("wmemcpy", "memcpy"));
        assert!(!implements("__wmemcpy_chk", "memcpy"));
        assert!(!implements("memcpyx", "memcpy"));
    }

    #[test]
    fn parameters_are_dropped_from_the_end() {
        assert_eq!(without_parameters("ns::f(int)"), Some("ns::f"));
        assert_eq!(without_parameters("ns::C::get() const"), Some("ns::C::get"));
        assert_eq!(without_parameters("ns::g(void (*)(int), char const*)"), Some("ns::g"));
        assert_eq!(without_parameters("int ns::h<int>(std::pair<int, int>)"), Some("int ns::h<int>"));
        assert_eq!(without_return_type("int ns::h<int>"), "ns::h<int>");
        assert_eq!(without_return_type("std::pair<int, int> ns::h<int>"), "ns::h<int>");
        assert_eq!(without_return_type("ns::C::operator new"), "ns::C::operator new");
        assert_eq!(without_return_type("(anonymous namespace)::f"), "(anonymous namespace)::f");
        assert_eq!(without_parameters("plain_c"), None);
        assert_eq!(without_parameters("(broken"), None);
        assert_eq!(without_parameters("broken)"), None);
    }

    /// C++ functions by their demangled names: with or without parameters; overloads are
    /// ambiguous without them and listed.
    #[test]
    fn cxx_names_with_and_without_parameters() {
        let src = "namespace ns {\n\
                   __attribute__((noinline)) int handle(int i) { return i + 1; }\n\
                   __attribute__((noinline)) int handle(double d, const char *s) { return (int)d + s[0]; }\n\
                   __attribute__((noinline)) int only(int i) { return i * 2; }\n\
                   }\n\
                   int main(int c, char **v) { return ns::handle(c) + ns::handle(1.0, v[0]) + ns::only(c); }\n";
        let Some(data) = compile("cxx-lookup", "c++", src, &["-O1"]) else { return };
        let only = probe_location(&data, "ns::only").unwrap();
        assert_eq!(only.function.as_deref(), Some("ns::only(int)"));
        assert_eq!(probe_location(&data, "ns::only(int)").unwrap().offset, only.offset);
        let e = probe_location(&data, "ns::handle").unwrap_err();
        let LookupError::Ambiguous { ref matches, .. } = e else { panic!("{e}") };
        assert_eq!(matches.len(), 2, "{e}");
        let one = probe_location(&data, "ns::handle(int)").unwrap();
        let two = probe_location(&data, "ns::handle(double, char const*)").unwrap();
        assert_ne!(one.offset, two.offset);
        assert!(matches.iter().any(|m| m.starts_with("ns::handle(int) at file offset 0x")), "{e}");
        assert!(e.to_string().contains("parameters and all"), "{e}");
        let e = probe_location(&data, "ns::handl").unwrap_err();
        assert!(
            e.to_string().contains("did you mean: ns::handle(double, char const*), ns::handle(int)"),
            "{e}"
        );
        for m in matches {
            let offset = u64::from_str_radix(m.rsplit("0x").next().unwrap(), 16).unwrap();
            assert!(offset == one.offset || offset == two.offset, "{m}");
        }
        assert!(matches!(probe_location(&data, "ns handle"), Err(LookupError::NotFound { .. })));
        assert!(matches!(probe_location(&data, " ns::only"), Err(LookupError::Syntax(_))));
    }

    /// Names as the demangler writes them: templates (with the return type it puts first),
    /// operators, anonymous namespaces.
    #[test]
    fn cxx_templates_operators_and_anonymous_namespaces() {
        let src = "namespace { __attribute__((noinline)) int anon(int i) { return i - 1; } }\n\
                   namespace ns {\n\
                   template <typename T> __attribute__((noinline)) T twice(T t) { return t + t; }\n\
                   struct V { int x; __attribute__((noinline)) V operator+(const V &o) const { return V{x + o.x}; } };\n\
                   }\n\
                   int main(int c, char **) { return ns::twice<int>(c) + (int)ns::twice<long>(c) + anon(c) + (ns::V{c} + ns::V{1}).x; }\n";
        let Some(data) = compile("cxx-names", "c++", src, &["-O1"]) else { return };
        let function = |location: &str| probe_location(&data, location).map(|l| l.function.unwrap());
        assert_eq!(function("ns::twice<int>").unwrap(), "int ns::twice<int>(int)");
        assert_eq!(function("int ns::twice<int>(int)").unwrap(), "int ns::twice<int>(int)");
        assert_eq!(function("(anonymous namespace)::anon").unwrap(), "(anonymous namespace)::anon(int)");
        assert_eq!(function("ns::V::operator+").unwrap(), "ns::V::operator+(ns::V const&) const");
        assert_eq!(
            function("ns::V::operator+(ns::V const&) const").unwrap(),
            "ns::V::operator+(ns::V const&) const"
        );
        let plus = probe_location(&data, "ns::V::operator++0x4").unwrap();
        assert_eq!(plus.offset, probe_location(&data, "ns::V::operator+").unwrap().offset + 4);
    }
}
