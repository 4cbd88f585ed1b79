//! `cperf report --retval`: the distribution of a uretprobe's return values, per target and
//! process, each value read as the function's return type says.
//!
//! The recording keeps the whole return register. An `int` function leaves garbage or zeros in its
//! upper half (`mov $-4, %eax` makes `rax` 4294967292), so the register is read at the width and
//! signedness of the return type: from DWARF when the recorder found it, else guessed from the
//! values (32-bit signed when every value's upper half is empty or a sign extension, as for the
//! `int`s most C functions return; the whole 64-bit register otherwise), else as asked with
//! `--retval=TYPE`.

use std::collections::HashMap;

use anyhow::bail;
use sampler::recording::ValueType;

use super::profile::Profile;

/// How to read the register, as asked on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// By the function's type, else guessed from the values.
    Auto,
    /// As this integer type.
    Int(Int),
    /// In hex (pointers, flags).
    Hex,
}

/// An integer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int {
    pub signed: bool,
    pub bits: u32,
}

impl Int {
    const I32: Int = Int { signed: true, bits: 32 };
    const I64: Int = Int { signed: true, bits: 64 };

    /// `i32`, `u8`, …
    fn name(self) -> String {
        format!("{}{}", if self.signed { 'i' } else { 'u' }, self.bits)
    }

    /// The register's low `bits`, sign- or zero-extended.
    fn read(self, raw: i64) -> i128 {
        let shift = 64 - self.bits;
        if self.signed {
            i128::from((raw << shift) >> shift)
        } else {
            i128::from(((raw as u64) << shift) >> shift)
        }
    }
}

impl std::str::FromStr for Reading {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let int = |signed, bits| Ok(Reading::Int(Int { signed, bits }));
        match s {
            "auto" => Ok(Reading::Auto),
            "hex" | "ptr" | "pointer" => Ok(Reading::Hex),
            "i8" => int(true, 8),
            "i16" => int(true, 16),
            "i32" | "int" => int(true, 32),
            "i64" | "long" => int(true, 64),
            "u8" | "bool" => int(false, 8),
            "u16" => int(false, 16),
            "u32" => int(false, 32),
            "u64" => int(false, 64),
            _ => Err(format!(
                "--retval={s}: read the return value as auto (its DWARF type, else a guess), i8, i16, i32, i64, u8, u16, u32, u64 or hex"
            )),
        }
    }
}

/// How one target's values are read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interpretation {
    /// As an integer.
    Int(Int),
    /// In hex, `bits` wide.
    Hex(u32),
    /// `false`/`true` (the low byte).
    Bool,
    /// Not from this register at all: a `void`, floating-point or structure return.
    Meaningless(String),
}

/// One value and how often it was returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueCount {
    /// As shown (`-4`, `0x7f12a0`, `true`).
    pub text: String,
    /// As a number, for integers (and booleans: 0 or 1).
    pub number: Option<i128>,
    pub calls: u64,
}

/// One process's return values, most frequent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessValues {
    pub pid: u32,
    pub name: String,
    pub calls: u64,
    pub values: Vec<ValueCount>,
    /// Calls whose value was not kept (past [`crate::report::profile::MAX_DISTINCT_VALUES`]
    /// distinct ones); counted in `calls`.
    pub not_kept: u64,
}

/// One target's return values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetValues {
    pub target: u32,
    pub description: String,
    /// The function (or file offset) probed.
    pub function: String,
    /// How the register was read (`int`, `i64`), and where that came from.
    pub reading: String,
    pub why: String,
    pub interpretation: Interpretation,
    pub processes: Vec<ProcessValues>,
}

/// Every kept target's return values, read as `asked`.
pub fn distributions(profile: &Profile, asked: Reading) -> anyhow::Result<Vec<TargetValues>> {
    if profile.meta.value.is_none() {
        bail!(
            "this recording has no return values: record them with cperf record -e 'uretprobe:/path/in/container:function' --retval"
        );
    }
    let mut targets = Vec::new();
    for &target in &profile.kept_targets {
        let Some(meta) = profile.meta.targets.get(target as usize) else { continue };
        let mut by_pid: Vec<(u32, &HashMap<i64, u64>)> =
            profile.values.iter().filter(|((t, _), _)| *t == target).map(|((_, pid), v)| (*pid, v)).collect();
        by_pid.sort_by_key(|&(pid, values)| (std::cmp::Reverse(values.values().sum::<u64>()), pid));
        let probe = meta.probe.as_ref();
        let function = probe
            .map(|p| p.function.clone().unwrap_or_else(|| format!("{}:{:#x}", p.path, p.offset)))
            .unwrap_or_else(|| profile.meta.event.clone());
        let all_raw = by_pid.iter().flat_map(|(_, v)| v.keys().copied());
        let (interpretation, reading, why) =
            interpret(asked, probe.and_then(|p| p.return_type.as_ref()), all_raw);
        let processes = by_pid
            .into_iter()
            .map(|(pid, raw)| {
                let not_kept = profile.values_not_kept.get(&(target, pid)).copied().unwrap_or(0);
                ProcessValues {
                    pid,
                    name: profile.process_name(pid, u32::MAX).to_string(),
                    calls: raw.values().sum::<u64>() + not_kept,
                    values: count(&interpretation, raw),
                    not_kept,
                }
            })
            .collect();
        targets.push(TargetValues {
            target,
            description: meta.description.clone(),
            function,
            reading,
            why,
            interpretation,
            processes,
        });
    }
    Ok(targets)
}

/// How to read a target's values: what was asked, else the DWARF type, else a guess from `raw`.
fn interpret(
    asked: Reading,
    dwarf: Option<&ValueType>,
    raw: impl Iterator<Item = i64>,
) -> (Interpretation, String, String) {
    match (asked, dwarf) {
        (Reading::Int(int), _) => (Interpretation::Int(int), int.name(), "as asked".into()),
        (Reading::Hex, _) => (Interpretation::Hex(64), "hex".into(), "as asked".into()),
        (Reading::Auto, Some(t)) => {
            let bits = u32::from(t.bytes.clamp(1, 8)) * 8;
            let from = "its DWARF type".to_string();
            let interpretation = match t.kind.as_str() {
                "signed" => Interpretation::Int(Int { signed: true, bits }),
                "unsigned" => Interpretation::Int(Int { signed: false, bits }),
                "bool" => Interpretation::Bool,
                "pointer" => Interpretation::Hex(bits),
                "void" => Interpretation::Meaningless(format!("the function returns {}: there is no value", t.name)),
                "float" => Interpretation::Meaningless(format!(
                    "the function returns {}, in a floating-point register that is not sampled",
                    t.name
                )),
                _ => Interpretation::Meaningless(format!(
                    "the function returns {}: the return register holds at most part of it; --retval=hex shows it",
                    t.name
                )),
            };
            (interpretation, t.name.clone(), from)
        }
        (Reading::Auto, None) => {
            // Clean 32-bit values: the upper half empty, or the sign extension of the lower.
            let clean = |v: i64| (v >> 32 == 0) || (v >> 31 == -1);
            let raw: Vec<i64> = raw.collect();
            if raw.iter().all(|&v| clean(v)) {
                (
                    Interpretation::Int(Int::I32),
                    "i32".into(),
                    "no DWARF type; every value fits 32 bits, as an int's does (--retval=i64 reads the whole register)".into(),
                )
            } else {
                (
                    Interpretation::Int(Int::I64),
                    "i64".into(),
                    "no DWARF type; some values use the whole register (--retval=TYPE reads it as another type)".into(),
                )
            }
        }
    }
}

/// The values of one process, read by `how`, most frequent first (then smallest).
fn count(how: &Interpretation, raw: &HashMap<i64, u64>) -> Vec<ValueCount> {
    let mut merged: HashMap<i128, u64> = HashMap::new();
    for (&v, &n) in raw {
        let key = match how {
            Interpretation::Int(int) => int.read(v),
            Interpretation::Hex(bits) => Int { signed: false, bits: *bits }.read(v),
            Interpretation::Bool => i128::from(v & 0xff != 0),
            Interpretation::Meaningless(_) => 0,
        };
        *merged.entry(key).or_insert(0) += n;
    }
    let mut values: Vec<ValueCount> = merged
        .into_iter()
        .map(|(key, calls)| {
            let (text, number) = match how {
                Interpretation::Int(_) => (key.to_string(), Some(key)),
                Interpretation::Hex(_) => (format!("{key:#x}"), Some(key)),
                Interpretation::Bool => ((key != 0).to_string(), Some(key)),
                Interpretation::Meaningless(_) => ("-".into(), None),
            };
            ValueCount { text, number, calls }
        })
        .collect();
    values.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.number.cmp(&b.number)));
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(i64, u64)]) -> HashMap<i64, u64> {
        pairs.iter().copied().collect()
    }

    fn shown(values: &[ValueCount]) -> Vec<(&str, u64)> {
        values.iter().map(|v| (v.text.as_str(), v.calls)).collect()
    }

    #[test]
    fn an_int_function_without_dwarf_reads_as_i32() {
        // `mov $-4, %eax`: the register holds 0x00000000fffffffc.
        let values = raw(&[(0, 800), (7, 100), (0xffff_fffc, 100)]);
        let (how, name, why) = interpret(Reading::Auto, None, values.keys().copied());
        assert_eq!((how.clone(), name.as_str()), (Interpretation::Int(Int::I32), "i32"));
        assert!(why.contains("no DWARF"), "{why}");
        assert_eq!(shown(&count(&how, &values)), [("0", 800), ("-4", 100), ("7", 100)]);
    }

    #[test]
    fn wide_values_read_as_i64() {
        let values = raw(&[(-(1 << 40), 3), (1 << 33, 2), (-1, 1)]);
        let (how, ..) = interpret(Reading::Auto, None, values.keys().copied());
        assert_eq!(how, Interpretation::Int(Int::I64));
        assert_eq!(shown(&count(&how, &values)), [("-1099511627776", 3), ("8589934592", 2), ("-1", 1)]);
    }

    #[test]
    fn dwarf_types_decide() {
        let t = |name: &str, kind: &str, bytes| ValueType { name: name.into(), kind: kind.into(), bytes };
        let values = raw(&[(0x1_0000_00ff, 2), (0xff, 1)]);
        let (how, name, _) =
            interpret(Reading::Auto, Some(&t("unsigned char", "unsigned", 1)), values.keys().copied());
        assert_eq!(name, "unsigned char");
        assert_eq!(shown(&count(&how, &values)), [("255", 3)]);
        let (how, ..) = interpret(Reading::Auto, Some(&t("char *", "pointer", 8)), values.keys().copied());
        assert_eq!(shown(&count(&how, &values)), [("0x1000000ff", 2), ("0xff", 1)]);
        let (how, ..) = interpret(Reading::Auto, Some(&t("_Bool", "bool", 1)), [0x100, 1].into_iter());
        assert_eq!(shown(&count(&how, &raw(&[(0x100, 4), (1, 1)]))), [("false", 4), ("true", 1)]);
        let (how, ..) = interpret(Reading::Auto, Some(&t("void", "void", 0)), values.keys().copied());
        assert!(matches!(how, Interpretation::Meaningless(ref why) if why.contains("returns void")));
        // Asked for beats DWARF.
        let (how, name, why) =
            interpret(Reading::Int(Int::I64), Some(&t("int", "signed", 4)), values.keys().copied());
        assert_eq!((how, name.as_str(), why.as_str()), (Interpretation::Int(Int::I64), "i64", "as asked"));
    }

    #[test]
    fn readings_parse() {
        assert_eq!("auto".parse::<Reading>(), Ok(Reading::Auto));
        assert_eq!("u16".parse::<Reading>(), Ok(Reading::Int(Int { signed: false, bits: 16 })));
        assert_eq!("hex".parse::<Reading>(), Ok(Reading::Hex));
        assert!("float".parse::<Reading>().unwrap_err().contains("i32"));
    }
}
