//! Where a function is in a file: `func`, `func+0x10` or a raw `0x1234` file offset turned into the
//! file offset a uprobe is placed at. Function symbols of `.symtab` and `.dynsym` are matched by
//! their name as written or demangled; a name that matches functions at several addresses, or
//! none, is an error that names the candidates.

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

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
    /// The address is in no loadable segment of the file.
    #[error("function '{0}' is not in a loadable segment of the file")]
    NotLoaded(String),
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
}

/// The file offset of `location` (`func`, `func+0x10`, `0x1a2b`) in the ELF file `data`.
pub fn probe_location(data: &[u8], location: &str) -> Result<ProbeLocation, LookupError> {
    if let Some(hex) = location.strip_prefix("0x") {
        let offset = u64::from_str_radix(hex, 16).map_err(|_| LookupError::Syntax(location.into()))?;
        return Ok(ProbeLocation { offset, function: None, address: None, return_type: None });
    }
    let (name, plus) = match location.rsplit_once('+') {
        Some((name, plus)) => {
            let plus = match plus.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => plus.parse(),
            }
            .map_err(|_| LookupError::Syntax(location.into()))?;
            (name, plus)
        }
        None => (location, 0),
    };
    // Whitespace only inside a C++ parameter list: `ns::f(int, char const*)`.
    let before_parameters = name.split('(').next().unwrap_or_default();
    if before_parameters.is_empty() || before_parameters.contains(char::is_whitespace) {
        return Err(LookupError::Syntax(location.into()));
    }
    let file = object::File::parse(data).map_err(|_| LookupError::NotElf)?;
    // Every function symbol: (address, name as written).
    let functions: Vec<(u64, String)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.name().ok()?.to_owned())))
        .collect();
    // Where a virtual address is in the file, through the loadable segment holding it.
    let file_offset = |vaddr: u64| {
        file.segments().find_map(|seg| {
            let (file_start, file_size) = seg.file_range();
            let into = vaddr.checked_sub(seg.address())?;
            (into < file_size).then(|| file_start + into)
        })
    };
    // A C++ name matches with or without its parameters (`ns::f` names `ns::f(int)` and every
    // other overload, which the error then lists; `ns::f(int)` names one).
    let with_parameters = name.contains('(');
    let named = |n: &str| {
        if n == name || n.split('@').next() == Some(name) {
            return true;
        }
        let demangled = demangle(n);
        demangled == name || (!with_parameters && without_parameters(&demangled) == Some(name))
    };
    let mut matches: Vec<(u64, String)> = functions.iter().filter(|(_, n)| named(n)).cloned().collect();
    matches.sort();
    matches.dedup_by_key(|(addr, _)| *addr);
    let (addr, found) = match matches.as_slice() {
        [] => {
            let lower = name.to_lowercase();
            let mut similar: Vec<String> = functions
                .iter()
                .map(|(_, n)| demangle(n).into_owned())
                .filter(|n| n.to_lowercase().contains(&lower))
                .collect();
            similar.sort();
            similar.dedup();
            similar.truncate(8);
            return Err(LookupError::NotFound { name: name.into(), similar });
        }
        [(addr, found)] => (*addr, found.clone()),
        many => {
            return Err(LookupError::Ambiguous {
                name: name.into(),
                matches: many
                    .iter()
                    .map(|(addr, n)| match file_offset(*addr) {
                        Some(offset) => format!("{} at file offset {offset:#x}", demangle(n)),
                        None => format!("{} at address {addr:#x}", demangle(n)),
                    })
                    .collect(),
            })
        }
    };
    let vaddr = addr.checked_add(plus).ok_or_else(|| LookupError::NotLoaded(found.clone()))?;
    let offset = file_offset(vaddr).ok_or_else(|| LookupError::NotLoaded(found.clone()))?;
    let return_type = return_type(data, addr);
    Ok(ProbeLocation {
        offset,
        function: Some(demangle(&found).into_owned()),
        address: Some(addr),
        return_type,
    })
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
        assert!(matches!(probe_location(b"x", "f+zz"), Err(LookupError::Syntax(_))));
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
    }

    /// Two `static` functions of one name (in two files) are ambiguous: the error lists both
    /// addresses, and each can be probed by its file offset.
    #[test]
    fn one_name_at_two_addresses_is_ambiguous() {
        let dir = std::env::temp_dir().join(format!("cperf-ambiguous-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let one = "static __attribute__((noinline)) int twin(int i) { return i + 1; }\nint one(int i) { return twin(i); }\n";
        let two = "static __attribute__((noinline)) int twin(int i) { return i * 3; }\nint one(int);\n\
                   int main(int c, char **v) { (void)v; return one(c) + twin(c); }\n";
        std::fs::write(dir.join("one.c"), one).unwrap();
        std::fs::write(dir.join("two.c"), two).unwrap();
        let bin = dir.join("twins");
        let built = std::process::Command::new("cc")
            .args(["-O1", "-o"])
            .arg(&bin)
            .arg(dir.join("one.c"))
            .arg(dir.join("two.c"))
            .status()
            .is_ok_and(|s| s.success());
        let data = std::fs::read(&bin);
        let _ = std::fs::remove_dir_all(&dir);
        if !built {
            assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "cc is needed");
            eprintln!("skipped: no C compiler");
            return;
        }
        let e = probe_location(data.as_ref().unwrap(), "twin").unwrap_err();
        let LookupError::Ambiguous { ref matches, .. } = e else { panic!("{e}") };
        assert_eq!(matches.len(), 2, "{e}");
        assert!(matches.iter().all(|m| m.starts_with("twin at file offset 0x")), "{e}");
        assert!(e.to_string().contains("probe one by its file offset"), "{e}");
        // Each offset given back is one of them.
        for m in matches {
            let offset = m.rsplit(' ').next().unwrap();
            assert_eq!(
                format!("{:#x}", probe_location(&data.as_ref().unwrap()[..], offset).unwrap().offset),
                offset
            );
        }
    }

    #[test]
    fn parameters_are_dropped_from_the_end() {
        assert_eq!(without_parameters("ns::f(int)"), Some("ns::f"));
        assert_eq!(without_parameters("ns::C::get() const"), Some("ns::C::get"));
        assert_eq!(without_parameters("ns::g(void (*)(int), char const*)"), Some("ns::g"));
        assert_eq!(without_parameters("ns::h<int>(std::pair<int, int>)"), Some("ns::h<int>"));
        assert_eq!(without_parameters("plain_c"), None);
        assert_eq!(without_parameters("(broken"), None);
        assert_eq!(without_parameters("broken)"), None);
    }

    /// C++ functions by their demangled names: with or without parameters; overloads are
    /// ambiguous without them and listed.
    #[test]
    fn cxx_names_with_and_without_parameters() {
        let dir = std::env::temp_dir().join(format!("cperf-cxx-lookup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = "namespace ns {\n\
                   __attribute__((noinline)) int handle(int i) { return i + 1; }\n\
                   __attribute__((noinline)) int handle(double d, const char *s) { return (int)d + s[0]; }\n\
                   __attribute__((noinline)) int only(int i) { return i * 2; }\n\
                   }\n\
                   int main(int c, char **v) { return ns::handle(c) + ns::handle(1.0, v[0]) + ns::only(c); }\n";
        std::fs::write(dir.join("a.cc"), src).unwrap();
        let bin = dir.join("a");
        let built = std::process::Command::new("c++")
            .args(["-O1", "-o"])
            .arg(&bin)
            .arg(dir.join("a.cc"))
            .status()
            .is_ok_and(|s| s.success());
        let data = std::fs::read(&bin);
        let _ = std::fs::remove_dir_all(&dir);
        if !built {
            assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "c++ is needed");
            eprintln!("skipped: no C++ compiler");
            return;
        }
        let data = data.unwrap();
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
        assert!(matches!(probe_location(&data, "ns handle"), Err(LookupError::Syntax(_))));
    }
}
