//! Text that came from a container (process and thread names, paths, function names, descriptions),
//! made safe to print: every control character is written as a visible escape, so no name can move
//! the cursor, clear or retitle a terminal, or split a line of output in two.
//!
//! The escapes are those of C and Rust strings: `\n`, `\r`, `\t`, `\e` (ESC), `\\` (the backslash
//! itself, so the output is unambiguous) and `\xHH` for the other C0 controls and DEL, `\u{HHHH}`
//! for the C1 controls (U+0080–U+009F: some terminals obey them as ESC sequences), the bidirectional
//! overrides and isolates (U+202A–U+202E, U+2066–U+2069: they reorder what a line shows) and the
//! noncharacters U+FFFE and U+FFFF (not allowed in XML). Everything else, UTF-8 included, is kept.
//! Text that was not valid UTF-8 was already read with `U+FFFD` in place of the bad bytes.
//!
//! JSON keeps names exact: [`write_json`] has serde_json escape, as `\u00XX`, the control
//! characters it would otherwise write as they are (DEL and the C1 controls).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// `text` with every control character (and the backslash) escaped; borrowed when nothing needs it.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped(&mut out, text);
    Cow::Owned(out)
}

/// Appends `text` to `out`, escaped as [`escape`] does.
pub fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Appends `text`, escaped as [`escape`] does, to a byte buffer. The usual case, printable ASCII
/// without a backslash, is one copy with no allocation (this is on `cperf symbolize`'s hot path).
pub fn extend_escaped(buf: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\') {
        buf.extend_from_slice(text.as_bytes());
    } else {
        buf.extend_from_slice(escape(text).as_bytes());
    }
}

/// Whether `c` is written as an escape: the backslash, a control character, a bidi override or
/// isolate, or a noncharacter XML forbids.
fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{fffe}' | '\u{ffff}')
}

/// Displays a string escaped (see [`escape`]); widths and alignment (`{:<40}`) apply to the escaped
/// text.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&escape(self.0))
    }
}

/// Shorthand for [`Escaped`]: `format!("{}", esc(&name))`.
pub fn esc(text: &str) -> Escaped<'_> {
    Escaped(text)
}

/// Writes `value` as JSON (pretty when `pretty`) with every control character escaped: serde_json
/// escapes those below U+0020, this also writes DEL and the C1 controls as `\u00XX`. JSON readers
/// get the exact text back.
pub fn write_json<T: serde::Serialize + ?Sized>(
    out: &mut dyn std::io::Write,
    value: &T,
    pretty: bool,
) -> serde_json::Result<()> {
    if pretty {
        let mut ser =
            serde_json::Serializer::with_formatter(out, NoControls(serde_json::ser::PrettyFormatter::new()));
        value.serialize(&mut ser)
    } else {
        let mut ser =
            serde_json::Serializer::with_formatter(out, NoControls(serde_json::ser::CompactFormatter));
        value.serialize(&mut ser)
    }
}

/// A JSON formatter that escapes the control characters serde_json writes as they are.
struct NoControls<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for NoControls<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(|c: char| c.is_control()) {
            w.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or(' ');
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept_and_borrowed() {
        for s in ["", "hot", "/usr/lib/libc.so.6", "<impl Foo as Bar>::baz", "naïve → 名前", "a;b c"] {
            assert!(matches!(escape(s), Cow::Borrowed(t) if t == s), "{s}");
        }
    }

    #[test]
    fn every_control_character_is_escaped() {
        assert_eq!(escape("/tmp/\x1b[2J\x1b]0;PWNED\x07"), "/tmp/\\e[2J\\e]0;PWNED\\x07");
        assert_eq!(escape("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(escape("\0\x01\x1f\x7f"), "\\x00\\x01\\x1f\\x7f");
        assert_eq!(escape("\u{9b}31m\u{85}"), "\\u{9b}31m\\u{85}");
        assert_eq!(escape("a\u{202e}b\u{2066}\u{ffff}"), "a\\u{202e}b\\u{2066}\\u{ffff}");
        for c in (0u32..0x110000).filter_map(char::from_u32) {
            let out = escape(&c.to_string()).into_owned();
            assert!(!out.chars().any(char::is_control), "{c:?} gave {out:?}");
        }
    }

    #[test]
    fn the_escape_character_is_escaped_so_output_is_unambiguous() {
        // A name that spells an escape differs from the name holding the character.
        assert_eq!(escape("\\n"), "\\\\n");
        assert_ne!(escape("\\n"), escape("\n"));
        assert_eq!(escape("C:\\dir"), "C:\\\\dir");
    }

    #[test]
    fn json_escapes_every_control_and_reads_back_exact() {
        let text = "a\x1b[2J\x07\n\u{9b}\x7f\u{85}é";
        for pretty in [false, true] {
            let mut out = Vec::new();
            write_json(&mut out, &serde_json::json!({ "name": text, "list": [text] }), pretty).unwrap();
            let raw = String::from_utf8(out).unwrap();
            assert!(!raw.chars().any(|c| c.is_control() && c != '\n'), "{raw:?}");
            assert!(raw.contains("\\u009b") && raw.contains("\\u007f") && raw.contains('é'), "{raw}");
            let back: serde_json::Value = serde_json::from_str(&raw).unwrap();
            assert_eq!(back["name"], text);
            assert_eq!(back["list"][0], text);
        }
    }

    #[test]
    fn display_pads_the_escaped_text() {
        assert_eq!(format!("[{:<6}]", esc("a\nb")), "[a\\nb  ]");
        assert_eq!(format!("[{:>5}]", esc("ok")), "[   ok]");
    }
}
