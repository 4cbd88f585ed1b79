//! Printing symbolized addresses: addr2line's `-f -i -C` text, or one JSON object per address.

use std::io::Write;

use symbolizer::Symbolized;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `addr2line -f -i -C`: per frame, innermost first, the function, then `file:line`.
    Addr2line,
    /// One JSON object per line per address.
    Json,
}

/// Prints one address's frames.
pub fn write(out: &mut dyn Write, format: Format, addr: u64, result: &Symbolized) -> std::io::Result<()> {
    match format {
        Format::Addr2line => match result {
            Symbolized::Frames(frames) => {
                for f in frames.iter() {
                    writeln!(out, "{}", f.function.as_deref().unwrap_or("??"))?;
                    match (&f.file, f.line) {
                        (Some(file), Some(line)) if line > 0 => writeln!(out, "{file}:{line}")?,
                        (Some(file), _) => writeln!(out, "{file}:?")?,
                        // addr2line: `??:?` for a named frame without a location, `??:0` when nothing is known.
                        (None, _) if f.function.is_some() => writeln!(out, "??:?")?,
                        (None, _) => writeln!(out, "??:0")?,
                    }
                }
                Ok(())
            }
            Symbolized::Unknown(_) => out.write_all(b"??\n??:0\n"),
        },
        Format::Json => {
            let value = match result {
                Symbolized::Frames(frames) => serde_json::json!({
                    "address": format!("{addr:#x}"),
                    "frames": frames.iter().map(|f| serde_json::json!({
                        "function": f.function.as_deref(),
                        "file": f.file.as_deref(),
                        "line": f.line,
                        "inlined": f.inlined,
                    })).collect::<Vec<_>>(),
                }),
                Symbolized::Unknown(reason) => serde_json::json!({
                    "address": format!("{addr:#x}"),
                    "frames": [],
                    "unknown": reason.to_string(),
                }),
            };
            serde_json::to_writer(&mut *out, &value)?;
            out.write_all(b"\n")
        }
    }
}
