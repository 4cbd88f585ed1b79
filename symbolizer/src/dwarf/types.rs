//! A function's return type from DWARF: what a uretprobe's return register holds, so that a report
//! can show `-4` for an `int` function rather than the register's 4294967292 (`mov eax` leaves the
//! upper half of `rax` zero), a pointer in hex, and nothing for `void`.
//!
//! The function is the `DW_TAG_subprogram` whose `DW_AT_low_pc` is its address (following
//! `DW_AT_abstract_origin` and `DW_AT_specification` to the declaration holding the type);
//! typedefs and qualifiers are followed down to a base, pointer or enumeration type.

use std::borrow::Cow;

use gimli::{constants, AttributeValue, EndianSlice, RunTimeEndian, UnitOffset};
use object::{Object, ObjectSection};

/// What kind of value a type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A signed integer (or a C enum).
    Signed,
    /// An unsigned integer.
    Unsigned,
    /// `bool`/`_Bool`.
    Bool,
    /// A pointer or reference.
    Pointer,
    /// A floating-point number (returned in another register: the integer register means nothing).
    Float,
    /// A structure or union (returned in registers or memory: the register is at best part of it).
    Aggregate,
    /// No value.
    Void,
}

/// A function's return type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnType {
    /// The name as written in the source (`int`, `ssize_t`, `char *`, `void`).
    pub name: String,
    /// What it is, under typedefs and qualifiers.
    pub kind: ValueKind,
    /// Its size in bytes (0 for `void`).
    pub bytes: u8,
}

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// The return type of the function at `address` (a virtual address of the ELF file `data`), when
/// the file has DWARF that describes it.
pub fn return_type(data: &[u8], address: u64) -> Option<ReturnType> {
    let file = object::File::parse(data).ok()?;
    file.section_by_name(".debug_info")?;
    let endian = if file.is_little_endian() { RunTimeEndian::Little } else { RunTimeEndian::Big };
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
        Ok(file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[])))
    };
    let owned = gimli::DwarfSections::load(load).ok()?;
    let dwarf = owned.borrow(|section| EndianSlice::new(section, endian));
    let mut headers = dwarf.units();
    while let Ok(Some(header)) = headers.next() {
        let Ok(unit) = dwarf.unit(header) else { continue };
        let mut entries = unit.entries();
        while let Ok(Some(entry)) = entries.next_dfs() {
            if entry.tag() != constants::DW_TAG_subprogram {
                continue;
            }
            let Some(low_pc) = entry.attr_value(constants::DW_AT_low_pc) else { continue };
            if dwarf.attr_address(&unit, low_pc).ok().flatten() != Some(address) {
                continue;
            }
            return function_type(&dwarf, &unit, entry.offset());
        }
    }
    None
}

/// The return type of the subprogram at `offset`, through its abstract origin or specification.
fn function_type(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    offset: UnitOffset,
) -> Option<ReturnType> {
    function_type_within(dwarf, unit, offset, 4)
}

fn function_type_within(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    mut offset: UnitOffset,
    depth: u32,
) -> Option<ReturnType> {
    for _ in 0..4 {
        let entry = unit.entry(offset).ok()?;
        match entry.attr_value(constants::DW_AT_type) {
            Some(AttributeValue::UnitRef(ty)) => return describe(dwarf, unit, ty),
            Some(AttributeValue::DebugInfoRef(ty)) => {
                let (other, ty) = unit_at(dwarf, ty)?;
                return describe(dwarf, &other, ty);
            }
            Some(_) => return None,
            None => {}
        }
        let origin = [constants::DW_AT_abstract_origin, constants::DW_AT_specification]
            .into_iter()
            .find_map(|at| entry.attr_value(at));
        match origin {
            Some(AttributeValue::UnitRef(o)) => offset = o,
            // In another unit, as link-time optimization leaves them.
            Some(AttributeValue::DebugInfoRef(o)) if depth > 0 => {
                let (other, o) = unit_at(dwarf, o)?;
                return function_type_within(dwarf, &other, o, depth - 1);
            }
            // An origin that cannot be followed: the type is unknown, not void.
            Some(_) => return None,
            // No type and nothing to inherit one from: the function returns nothing.
            None => return Some(ReturnType { name: "void".into(), kind: ValueKind::Void, bytes: 0 }),
        }
    }
    None
}

/// The unit holding `offset` of `.debug_info`, and the offset within it.
fn unit_at<'a>(
    dwarf: &gimli::Dwarf<Reader<'a>>,
    offset: gimli::DebugInfoOffset,
) -> Option<(gimli::Unit<Reader<'a>>, UnitOffset)> {
    let mut headers = dwarf.units();
    while let Ok(Some(header)) = headers.next() {
        if let Some(within) = offset.to_unit_offset(&header) {
            return Some((dwarf.unit(header).ok()?, within));
        }
    }
    None
}

/// Names and classifies the type at `offset`.
fn describe(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    mut offset: UnitOffset,
) -> Option<ReturnType> {
    let mut name: Option<String> = None;
    let mut qualifiers = String::new();
    for _ in 0..32 {
        let entry = unit.entry(offset).ok()?;
        let own_name = match entry.attr_value(constants::DW_AT_name) {
            Some(v) => {
                dwarf.attr_string(unit, v).ok().map(|s| String::from_utf8_lossy(s.slice()).into_owned())
            }
            None => None,
        };
        let size = match entry.attr_value(constants::DW_AT_byte_size) {
            Some(v) => v.udata_value().map(|b| b.min(u64::from(u8::MAX)) as u8),
            None => None,
        };
        let (next, next_elsewhere) = match entry.attr_value(constants::DW_AT_type) {
            Some(AttributeValue::UnitRef(t)) => (Some(t), None),
            // A type in another unit, as link-time optimization leaves them.
            Some(AttributeValue::DebugInfoRef(t)) => (None, Some(t)),
            _ => (None, None),
        };
        // The type this one refers to, described wherever it is.
        let describe_next = || match (next, next_elsewhere) {
            (Some(t), _) => describe(dwarf, unit, t),
            (None, Some(t)) => unit_at(dwarf, t).and_then(|(other, t)| describe(dwarf, &other, t)),
            (None, None) => None,
        };
        let finish = |name: &Option<String>, qualifiers: &str, kind, bytes, fallback: &str| {
            let base = name.clone().or(own_name.clone()).unwrap_or_else(|| fallback.to_string());
            Some(ReturnType { name: format!("{qualifiers}{base}"), kind, bytes })
        };
        let passes_through = match entry.tag() {
            constants::DW_TAG_typedef => {
                name.get_or_insert_with(|| own_name.clone().unwrap_or_default());
                true
            }
            constants::DW_TAG_const_type
            | constants::DW_TAG_volatile_type
            | constants::DW_TAG_restrict_type
            | constants::DW_TAG_atomic_type => {
                if name.is_none() && entry.tag() == constants::DW_TAG_const_type {
                    qualifiers.push_str("const ");
                }
                true
            }
            _ => false,
        };
        if passes_through && next_elsewhere.is_some() {
            let inner = describe_next()?;
            return Some(ReturnType {
                name: format!("{qualifiers}{}", name.clone().unwrap_or(inner.name)),
                kind: inner.kind,
                bytes: inner.bytes,
            });
        }
        match entry.tag() {
            constants::DW_TAG_typedef
            | constants::DW_TAG_const_type
            | constants::DW_TAG_volatile_type
            | constants::DW_TAG_restrict_type
            | constants::DW_TAG_atomic_type => {}
            constants::DW_TAG_base_type => {
                let encoding = match entry.attr_value(constants::DW_AT_encoding) {
                    Some(AttributeValue::Encoding(e)) => e,
                    _ => return None,
                };
                let kind = match encoding {
                    constants::DW_ATE_signed | constants::DW_ATE_signed_char => ValueKind::Signed,
                    constants::DW_ATE_unsigned
                    | constants::DW_ATE_unsigned_char
                    | constants::DW_ATE_UTF
                    | constants::DW_ATE_address => ValueKind::Unsigned,
                    constants::DW_ATE_boolean => ValueKind::Bool,
                    constants::DW_ATE_float | constants::DW_ATE_complex_float => ValueKind::Float,
                    _ => return None,
                };
                return finish(&name, &qualifiers, kind, size?, "?");
            }
            constants::DW_TAG_pointer_type
            | constants::DW_TAG_reference_type
            | constants::DW_TAG_rvalue_reference_type
            | constants::DW_TAG_ptr_to_member_type => {
                let pointee = match (&name, next.is_some() || next_elsewhere.is_some()) {
                    (Some(_), _) => String::new(),
                    (None, true) => describe_next().map_or_else(|| "?".into(), |t| t.name),
                    (None, false) => "void".into(),
                };
                return finish(
                    &name,
                    &qualifiers,
                    ValueKind::Pointer,
                    size.unwrap_or(8),
                    &format!("{pointee} *"),
                );
            }
            constants::DW_TAG_enumeration_type => {
                // The underlying type when given (DWARF 3+), else C's: int.
                let kind = match describe_next() {
                    Some(ReturnType { kind: ValueKind::Unsigned, .. }) => ValueKind::Unsigned,
                    _ => ValueKind::Signed,
                };
                let enum_name = own_name.as_ref().map(|n| format!("enum {n}"));
                let base = name.clone().or(enum_name).unwrap_or_else(|| "enum".into());
                return Some(ReturnType {
                    name: format!("{qualifiers}{base}"),
                    kind,
                    bytes: size.unwrap_or(4),
                });
            }
            constants::DW_TAG_structure_type
            | constants::DW_TAG_union_type
            | constants::DW_TAG_class_type => {
                let keyword = match entry.tag() {
                    constants::DW_TAG_union_type => "union",
                    constants::DW_TAG_class_type => "class",
                    _ => "struct",
                };
                let own = own_name.as_ref().map_or_else(|| keyword.to_string(), |n| format!("{keyword} {n}"));
                let base = name.clone().unwrap_or(own);
                return Some(ReturnType {
                    name: format!("{qualifiers}{base}"),
                    kind: ValueKind::Aggregate,
                    bytes: size.unwrap_or(0),
                });
            }
            _ => return None,
        }
        match next {
            Some(t) => offset = t,
            // A typedef or qualifier of nothing: void.
            None => return finish(&name, &qualifiers, ValueKind::Void, 0, "void"),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a C file with functions of several return types, with DWARF, and reads them back.
    #[test]
    fn return_types_of_a_c_file() {
        let dir = std::env::temp_dir().join(format!("cperf-rettype-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("t.c");
        std::fs::write(
            &src,
            "#include <stddef.h>\n#include <sys/types.h>\n\
             enum colour { RED = -1, GREEN };\n\
             typedef long my_long;\n\
             struct pair { long a, b; };\n\
             int f_int(void) { return -4; }\n\
             ssize_t f_ssize(void) { return -1; }\n\
             unsigned char f_uchar(void) { return 200; }\n\
             char *f_ptr(void) { return 0; }\n\
             void f_void(void) { }\n\
             _Bool f_bool(void) { return 1; }\n\
             double f_double(void) { return 1.5; }\n\
             enum colour f_enum(void) { return RED; }\n\
             my_long f_typedef(void) { return 7; }\n\
             struct pair f_struct(void) { struct pair p = {1, 2}; return p; }\n\
             int main(void) { return 0; }\n",
        )
        .unwrap();
        // Plain, and with link-time optimization (whose functions refer to their types and
        // abstract origins in other units).
        for flags in [&["-O0"][..], &["-O2", "-flto", "-shared", "-fPIC"][..]] {
            let bin = dir.join("t");
            let status =
                std::process::Command::new("cc").arg("-g").args(flags).arg("-o").arg(&bin).arg(&src).status();
            if !status.is_ok_and(|s| s.success()) {
                let _ = std::fs::remove_dir_all(&dir);
                assert!(std::env::var("CPERF_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "cc is needed");
                eprintln!("skipped: no C compiler");
                return;
            }
            check_return_types(&std::fs::read(&bin).unwrap(), flags);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn check_return_types(data: &[u8], flags: &[&str]) {
        let data = data.to_vec();
        let file = object::File::parse(&*data).unwrap();
        let address = |name: &str| {
            use object::ObjectSymbol;
            file.symbols().find(|s| s.name() == Ok(name)).unwrap().address()
        };
        let of = |name: &str| return_type(&data, address(name)).unwrap_or_else(|| panic!("{name}"));
        let check = |name: &str, type_name: &str, kind: ValueKind, bytes: u8| {
            assert_eq!(of(name), ReturnType { name: type_name.into(), kind, bytes }, "{name} {flags:?}");
        };
        check("f_int", "int", ValueKind::Signed, 4);
        check("f_ssize", "ssize_t", ValueKind::Signed, 8);
        check("f_uchar", "unsigned char", ValueKind::Unsigned, 1);
        check("f_ptr", "char *", ValueKind::Pointer, 8);
        check("f_void", "void", ValueKind::Void, 0);
        check("f_bool", "_Bool", ValueKind::Bool, 1);
        check("f_double", "double", ValueKind::Float, 8);
        check("f_enum", "enum colour", ValueKind::Signed, 4);
        check("f_typedef", "my_long", ValueKind::Signed, 8);
        check("f_struct", "struct pair", ValueKind::Aggregate, 16);
        // An address that starts no function.
        assert_eq!(return_type(&data, address("f_int") + 1), None);
        assert_eq!(return_type(b"not elf", 0), None);
    }
}
