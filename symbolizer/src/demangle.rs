//! Demangling Rust (legacy and v0) and C++ (Itanium) names as binutils' `addr2line -C` prints them
//! (libiberty without `DMGL_VERBOSE`).
//!
//! Rust names go through `rustc-demangle` (`{:#}`: no hash, as libiberty). C++ names go through
//! `cpp_demangle`, whose output differs from libiberty's in a few places that are corrected here:
//! thunks (`virtual thunk to …`), integer literals in template arguments (`5ul`, not
//! `(unsigned long)5`), and the standard abbreviations `Si`/`Sd` (`std::istream`) — spelled out in
//! full, as libiberty does, only for the constructors and destructors of `Ss`, `Si`, `So` and `Sd`.
//! A symbol version or other `@` suffix (`memcpy@GLIBC_2.14`) is kept after the demangled name, as
//! `bfd_demangle` does.

use std::borrow::Cow;

/// The demangled form of `name`, or `name` itself when it is not a mangled Rust or C++ name.
pub fn demangle(name: &str) -> Cow<'_, str> {
    let (base, suffix) = match name.find('@') {
        Some(at) if at > 0 => name.split_at(at),
        _ => (name, ""),
    };
    match demangle_base(base) {
        Some(mut demangled) => {
            demangled.push_str(suffix);
            Cow::Owned(demangled)
        }
        None => Cow::Borrowed(name),
    }
}

fn demangle_base(name: &str) -> Option<String> {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        // `{:#}` leaves out the legacy hash suffix, as binutils does.
        return Some(format!("{d:#}"));
    }
    if name.starts_with("_Z") {
        return cxx(name, 0);
    }
    None
}

/// A C++ name, libiberty-style; `depth` bounds the thunk recursion.
fn cxx(name: &str, depth: u32) -> Option<String> {
    if let Some((kind, target)) = thunk(name).filter(|_| depth < 4) {
        return Some(format!("{kind}{}", cxx(&format!("_Z{target}"), depth + 1)?));
    }
    // cpp_demangle is fuzzed, but these are names from untrusted binaries: a panic in it must not
    // take the profiler down (it bounds its own recursion).
    let demangled =
        std::panic::catch_unwind(|| cpp_demangle::Symbol::new(name).ok().and_then(|sym| sym.demangle().ok()))
            .ok()
            .flatten()?;
    Some(libiberty_style(name, demangled))
}

/// `_ZTh…`, `_ZTv…`, `_ZTc…`: the thunk's description and the mangled encoding it leads to.
fn thunk(name: &str) -> Option<(&'static str, &str)> {
    let rest = name.strip_prefix("_ZT")?;
    let (kind, rest) = match rest.as_bytes().first()? {
        b'h' => ("non-virtual thunk to ", call_offset(rest)?),
        b'v' => ("virtual thunk to ", call_offset(rest)?),
        b'c' => ("covariant return thunk to ", call_offset(call_offset(&rest[1..])?)?),
        _ => return None,
    };
    (!rest.is_empty()).then_some((kind, rest))
}

/// Skips one `<call-offset>`: `h <number> _` or `v <number> _ <number> _`.
fn call_offset(s: &str) -> Option<&str> {
    let number = |s: &str| -> Option<usize> {
        let digits = s.strip_prefix('n').unwrap_or(s);
        let n = digits.bytes().take_while(u8::is_ascii_digit).count();
        (n > 0 && digits.as_bytes().get(n) == Some(&b'_')).then(|| s.len() - digits.len() + n + 1)
    };
    match s.as_bytes().first()? {
        b'h' => Some(&s[1 + number(&s[1..])?..]),
        b'v' => {
            let first = 1 + number(&s[1..])?;
            Some(&s[first + number(&s[first..])?..])
        }
        _ => None,
    }
}

/// The standard abbreviations whose constructors and destructors libiberty spells out: (letter,
/// cpp_demangle's class and constructor name after `Si`/`Sd` are shortened, libiberty's full
/// class, constructor name).
const VERBOSE_CTORS: [(u8, &str, &str, &str); 4] = [
    (
        b's',
        "std::string::string",
        "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
        "basic_string",
    ),
    (
        b'i',
        "std::istream::basic_istream",
        "std::basic_istream<char, std::char_traits<char> >",
        "basic_istream",
    ),
    (b'o', "std::ostream::ostream", "std::basic_ostream<char, std::char_traits<char> >", "basic_ostream"),
    (
        b'd',
        "std::iostream::basic_iostream",
        "std::basic_iostream<char, std::char_traits<char> >",
        "basic_iostream",
    ),
];

/// cpp_demangle's output with libiberty's spelling.
fn libiberty_style(mangled: &str, demangled: String) -> String {
    // cpp_demangle spells `Si` and `Sd` out; libiberty abbreviates them. The same text from an
    // explicit `basic_istream` (a template parameter that happens to be `char`) stays as it is.
    let mut out = demangled;
    for (full, short, explicit) in [
        ("std::basic_istream<char, std::char_traits<char> >", "std::istream", "13basic_istream"),
        ("std::basic_iostream<char, std::char_traits<char> >", "std::iostream", "14basic_iostream"),
    ] {
        if out.contains(full) && !mangled.contains(explicit) {
            out = out.replace(full, short);
        }
    }
    out = integer_literals(&out);
    // `_ZN [qualifiers] S<x> C<n>|D<n>`: a constructor or destructor of an abbreviated class.
    let nested = mangled.strip_prefix("_ZN").unwrap_or("").trim_start_matches(['r', 'V', 'K', 'R', 'O']);
    if let [b'S', letter, b'C' | b'D', ..] = nested.as_bytes() {
        if let Some((_, short, full, ctor)) = VERBOSE_CTORS.iter().find(|v| v.0 == *letter) {
            let (class, short_ctor) = short.rsplit_once("::").unwrap_or((short, short));
            for tilde in ["", "~"] {
                if let Some(rest) = out.strip_prefix(&format!("{class}::{tilde}{short_ctor}(")) {
                    return format!("{full}::{tilde}{ctor}({rest}");
                }
            }
        }
    }
    out
}

/// `(long)5` → `5l`, as libiberty prints literals of these types (`int` has no suffix, `bool` is
/// already `true`/`false`).
fn integer_literals(s: &str) -> String {
    const SUFFIXES: [(&str, &str); 6] = [
        ("(int)", ""),
        ("(unsigned int)", "u"),
        ("(long)", "l"),
        ("(unsigned long)", "ul"),
        ("(long long)", "ll"),
        ("(unsigned long long)", "ull"),
    ];
    if !SUFFIXES.iter().any(|(cast, _)| s.contains(cast)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    'scan: while !rest.is_empty() {
        for (cast, suffix) in SUFFIXES {
            if let Some(after) = rest.strip_prefix(cast) {
                let sign = usize::from(after.starts_with('-'));
                let digits = after[sign..].bytes().take_while(u8::is_ascii_digit).count();
                if digits > 0 {
                    out.push_str(&after[..sign + digits]);
                    out.push_str(suffix);
                    rest = &after[sign + digits..];
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::demangle;

    /// Expected values are binutils 2.40's `c++filt -i` (= `addr2line -C`) output.
    #[test]
    fn like_binutils() {
        let cases = [
            ("_ZN4core3ptr13drop_in_place17h0123456789abcdefE", "core::ptr::drop_in_place"),
            ("_RNvCs1234_7mycrate3foo", "mycrate::foo"),
            ("_ZN3foo3barEi", "foo::bar(int)"),
            ("main", "main"),
            ("_Zgarbage", "_Zgarbage"),
            ("memcpy@GLIBC_2.14", "memcpy@GLIBC_2.14"),
            ("_ZNKSs4sizeEv@@GLIBCXX_3.4", "std::string::size() const@@GLIBCXX_3.4"),
            ("_Z1fILj1EEvv", "void f<1u>()"),
            ("_Z1fILln5EEvv", "void f<-5l>()"),
            ("_Z1fILy5EEvv", "void f<5ull>()"),
            ("_Z1fILx5EEvv", "void f<5ll>()"),
            ("_Z1fILm5EEvv", "void f<5ul>()"),
            ("_Z1fILi1EEvv", "void f<1>()"),
            ("_Z1fILs5EEvv", "void f<(short)5>()"),
            ("_Z1fILb1EEvv", "void f<true>()"),
            ("_Z3foov.cold", "foo() [clone .cold]"),
            ("_ZN3foo3barEv.isra.0.cold", "foo::bar() [clone .isra.0] [clone .cold]"),
            ("_ZNSoC1Ev", "std::basic_ostream<char, std::char_traits<char> >::basic_ostream()"),
            ("_ZNSiD0Ev", "std::basic_istream<char, std::char_traits<char> >::~basic_istream()"),
            ("_ZNSdC2Ev", "std::basic_iostream<char, std::char_traits<char> >::basic_iostream()"),
            (
                "_ZNSsC1ERKSs",
                "std::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string(std::string const&)",
            ),
            ("_ZNSi6ignoreEl", "std::istream::ignore(long)"),
            ("_Z1fSiSdSo", "f(std::istream, std::iostream, std::ostream)"),
            ("_ZTv0_n24_NSt10istrstreamD0Ev", "virtual thunk to std::istrstream::~istrstream()"),
            ("_ZThn16_NSt9strstreamD1Ev", "non-virtual thunk to std::strstream::~strstream()"),
            ("_ZTch0_h16_N1B1fEv", "covariant return thunk to B::f()"),
            (
                "_ZNSt11this_thread11__sleep_forENSt6chrono8durationIlSt5ratioILl1ELl1EEEENS1_IlS2_ILl1ELl1000000000EEEE",
                "std::this_thread::__sleep_for(std::chrono::duration<long, std::ratio<1l, 1l> >, std::chrono::duration<long, std::ratio<1l, 1000000000l> >)",
            ),
        ];
        for (mangled, want) in cases {
            assert_eq!(demangle(mangled), want, "{mangled}");
        }
    }

    #[test]
    fn malformed_names_are_kept() {
        for name in ["_ZTh", "_ZThn16_", "_ZTv0_", "_ZTcx", "_Z", "_ZN", "_ZNSsC", "_R", "@", "_Z@x"] {
            let _ = demangle(name);
        }
        assert_eq!(demangle("_ZThn16_"), "_ZThn16_");
    }
}
