//! `--pprof`: the profile as pprof's gzipped `profile.proto` (read by `go tool pprof`, Pyroscope,
//! Parca, Grafana): function names, source files and lines with inlined functions, a mapping per
//! module with its build-id, and per sample the sample count and the time (or events) it stands for,
//! labelled with its process, thread and target.
//!
//! The encoding is written out here: the format is a handful of messages, and a protobuf code
//! generator would need `protoc` at build time.

use std::collections::HashMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use sampler::recording::ModuleKind;

use super::functions::unknown_name;
use super::profile::{Profile, Side};

/// Writes the gzipped profile.
pub fn write(out: &mut dyn Write, profile: &Profile, side: Side) -> std::io::Result<()> {
    let bytes = encode(profile, side);
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&bytes)?;
    gz.finish()?.flush()
}

/// Whether the event counts time (its period is nanoseconds).
fn counts_time(event: &str) -> bool {
    matches!(event, "cpu-clock" | "task-clock")
}

/// The `profile.proto` bytes.
fn encode(profile: &Profile, side: Side) -> Vec<u8> {
    let mut strings = Strings::default();
    let mut p = Message::default();
    let (value_type, value_unit) = if counts_time(&profile.meta.event) {
        ("cpu", "nanoseconds")
    } else {
        (profile.meta.event.as_str(), "count")
    };
    // sample_type = 1
    for (t, u) in [("samples", "count"), (value_type, value_unit)] {
        let mut vt = Message::default();
        vt.int(1, strings.id(t));
        vt.int(2, strings.id(u));
        p.message(1, &vt);
    }

    // Locations (one per frame used), functions and mappings (one per module used).
    let mut locations: HashMap<u32, u64> = HashMap::new();
    let mut functions: HashMap<(String, String), u64> = HashMap::new();
    let mut mappings: HashMap<u32, MappingUse> = HashMap::new();
    let mut location_messages = Vec::new();
    let mut function_messages = Vec::new();
    let mut samples = Vec::new();
    for count in &profile.counts {
        let frames = profile.stack(count.stack, side);
        if frames.is_empty() && side != Side::Both {
            continue;
        }
        let mut ids = Vec::with_capacity(frames.len());
        for &frame_id in frames {
            let Some(frame) = profile.frame(frame_id) else { continue };
            let next = locations.len() as u64 + 1;
            let location = *locations.entry(frame_id).or_insert_with(|| {
                let next_mapping = mappings.len() as u64 + 1;
                let mapping = mappings.entry(frame.module).or_insert(MappingUse {
                    id: next_mapping,
                    low: frame.offset,
                    high: frame.offset,
                    named: false,
                });
                mapping.low = mapping.low.min(frame.offset);
                mapping.high = mapping.high.max(frame.offset);
                mapping.named |= !frame.lines.is_empty();
                let mut loc = Message::default();
                loc.uint(1, next);
                loc.uint(2, mapping.id);
                loc.uint(3, frame.offset);
                let unnamed;
                let lines: Vec<(&str, &str, u32)> = if frame.lines.is_empty() {
                    unnamed = unknown_name(profile, frame);
                    vec![(unnamed.as_str(), "", 0)]
                } else {
                    frame
                        .lines
                        .iter()
                        .map(|l| (l.function.as_str(), l.file.as_deref().unwrap_or(""), l.line))
                        .collect()
                };
                // Innermost (inlined) first, the function holding the code last: pprof's order.
                for (name, file, line) in lines {
                    let next_function = functions.len() as u64 + 1;
                    let function =
                        *functions.entry((name.to_owned(), file.to_owned())).or_insert_with(|| {
                            let mut f = Message::default();
                            f.uint(1, next_function);
                            f.int(2, strings.id(name));
                            f.int(3, strings.id(name));
                            f.int(4, strings.id(file));
                            function_messages.push(f);
                            next_function
                        });
                    let mut l = Message::default();
                    l.uint(1, function);
                    l.int(2, i64::from(line));
                    loc.message(4, &l);
                }
                location_messages.push(loc);
                next
            });
            ids.push(location);
        }
        let mut s = Message::default();
        s.packed(1, &ids);
        s.packed(2, &[count.samples, count.period]);
        let mut label = |key: &str, text: Option<&str>, num: Option<u64>| {
            let mut l = Message::default();
            l.int(1, strings.id(key));
            // Written even when 0 (pid 0, an empty name), so that the label is there.
            if let Some(text) = text {
                l.always(2, strings.id(text) as u64);
            }
            if let Some(num) = num {
                l.always(3, num);
            }
            s.message(3, &l);
        };
        label("pid", None, Some(u64::from(count.pid)));
        label("tid", None, Some(u64::from(count.tid)));
        label("thread", Some(profile.comm(count.comm)), None);
        if let Some(target) = profile.meta.targets.get(count.target as usize) {
            label("target", Some(&target.description), None);
        }
        samples.push(s);
    }
    for s in &samples {
        p.message(2, s);
    }
    let mut modules: Vec<(&u32, &MappingUse)> = mappings.iter().collect();
    modules.sort_by_key(|(_, m)| m.id);
    for (&module, &MappingUse { id, low, high, named }) in modules {
        let m = profile.module(module);
        let mut mapping = Message::default();
        mapping.uint(1, id);
        // Addresses are what the recording gives: file offsets for files (so the mapping starts at
        // the file offset of its lowest one), kernel addresses, JIT addresses.
        mapping.uint(2, low);
        mapping.uint(3, high.saturating_add(1));
        let file_offset = m.is_some_and(|m| matches!(m.kind, ModuleKind::Elf | ModuleKind::Vdso));
        mapping.uint(4, if file_offset { low } else { 0 });
        mapping.int(5, strings.id(m.map_or("[unknown]", |m| m.path.as_str())));
        mapping.int(6, strings.id(m.map_or("", |m| m.build_id.as_str())));
        if named {
            for field in [7, 8, 9, 10] {
                mapping.uint(field, 1); // has functions, file names, line numbers, inline frames
            }
        }
        p.message(3, &mapping);
    }
    for l in &location_messages {
        p.message(4, l);
    }
    for f in &function_messages {
        p.message(5, f);
    }
    p.int(9, profile.meta.start_unix_ns as i64);
    p.int(10, profile.duration_ns() as i64);
    let mut period_type = Message::default();
    period_type.int(1, strings.id(value_type));
    period_type.int(2, strings.id(value_unit));
    p.message(11, &period_type);
    let period = match (profile.meta.frequency, profile.meta.period) {
        (_, Some(period)) => period,
        (Some(hz), None) if hz > 0 && counts_time(&profile.meta.event) => 1_000_000_000 / hz,
        _ => 1,
    };
    p.int(12, period as i64);
    let comment = strings.id(&format!("cperf record: {}", profile.meta.command_line.join(" ")));
    p.int(13, comment);
    // string_table = 6, written last: every string is known by now (it may come in any order).
    for s in &strings.list {
        p.bytes(6, s.as_bytes());
    }
    p.buf
}

/// A module's mapping as the profile's locations use it.
#[derive(Debug, Clone, Copy)]
struct MappingUse {
    id: u64,
    /// The lowest and highest address (offset) of its frames.
    low: u64,
    high: u64,
    /// Whether any of its frames has a name.
    named: bool,
}

/// The string table: index 0 is the empty string.
#[derive(Debug)]
struct Strings {
    list: Vec<String>,
    ids: HashMap<String, i64>,
}

impl Default for Strings {
    fn default() -> Self {
        Strings { list: vec![String::new()], ids: HashMap::from([(String::new(), 0)]) }
    }
}

impl Strings {
    fn id(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        self.list.push(s.to_owned());
        let id = (self.list.len() - 1) as i64;
        self.ids.insert(s.to_owned(), id);
        id
    }
}

/// A protobuf message being written: fields as tag, then value.
#[derive(Debug, Default)]
struct Message {
    buf: Vec<u8>,
}

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    /// A `uint64` field (left out when zero, as proto3 does).
    fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v);
        }
    }

    /// A varint field, written even when zero.
    fn always(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        self.varint(v);
    }

    /// An `int64` field (left out when zero).
    fn int(&mut self, field: u32, v: i64) {
        self.uint(field, v as u64);
    }

    /// A length-delimited field.
    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    fn message(&mut self, field: u32, m: &Message) {
        self.bytes(field, &m.buf);
    }

    /// A packed repeated `uint64`/`int64` field.
    fn packed(&mut self, field: u32, values: &[u64]) {
        let mut inner = Message::default();
        for &v in values {
            inner.varint(v);
        }
        self.bytes(field, &inner.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields() {
        let mut m = Message::default();
        m.uint(1, 150);
        assert_eq!(m.buf, [0x08, 0x96, 0x01], "the protobuf documentation's example");
        let mut m = Message::default();
        m.uint(2, 0);
        assert!(m.buf.is_empty(), "zero is the default and left out");
        m.bytes(2, b"testing");
        assert_eq!(m.buf, [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']);
        let mut m = Message::default();
        m.packed(4, &[3, 270, 86942]);
        assert_eq!(m.buf, [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]);
        let mut m = Message::default();
        m.int(1, -1);
        assert_eq!(m.buf.len(), 11, "negative int64: ten bytes of varint");
    }

    #[test]
    fn strings_start_empty_and_repeat_once() {
        let mut s = Strings::default();
        assert_eq!(s.id(""), 0);
        assert_eq!(s.id("a"), 1);
        assert_eq!(s.id("b"), 2);
        assert_eq!(s.id("a"), 1);
        assert_eq!(s.list, ["", "a", "b"]);
    }
}
