//! [`Batch`]: the answers for many addresses of one module, kept compact — one flat list of frames,
//! each distinct string once, side by side in one buffer — so that symbolizing a million addresses
//! allocates a few vectors, not a million frame lists; a printer reads a few megabytes of names
//! that stay in the CPU's caches, and a consumer such as the recording's string table handles each
//! distinct name once.

use std::num::NonZeroU32;
use std::sync::Arc;

use super::{Frame, Reason, Symbolized};
use crate::hash::FastMap;

/// A string of a [`Batch`] (see [`Batch::str`]), numbered from 0 in the order of
/// [`Batch::strings`]. (Stored as one more than the number, so that an `Option<StrId>` takes four
/// bytes.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StrId(NonZeroU32);

impl StrId {
    /// Its number: its position in [`Batch::strings`].
    pub fn index(self) -> usize {
        self.0.get() as usize - 1
    }

    /// The id of the string at `index`; `None` past what an id can name.
    fn at(index: usize) -> Option<StrId> {
        u32::try_from(index + 1).ok().and_then(NonZeroU32::new).map(StrId)
    }
}

/// One frame of a batch's answer, its strings named by [`StrId`] (see [`Batch::str`]). Twenty
/// bytes: a million answers are a few tens of megabytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchFrame {
    /// The function, demangled, when known.
    pub function: Option<StrId>,
    /// The source file, when known (as in [`Frame::file`]).
    pub file: Option<StrId>,
    /// The line, when known (DWARF's line 0 means none).
    pub line: Option<NonZeroU32>,
    /// The column, when known (0 means none).
    pub column: Option<NonZeroU32>,
    /// True for a function inlined into the next frame.
    pub inlined: bool,
}

/// The answer for one address of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// At least one frame, innermost first.
    Frames(&'a [BatchFrame]),
    /// No name, and why.
    Unknown(Reason),
}

/// Where an address's frames are in [`Batch::frames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Frames { start: usize, len: u32 },
    Unknown(Reason),
}

/// The answers for a list of addresses, in the order the addresses were given.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    strings: Strings,
    frames: Vec<BatchFrame>,
    slots: Vec<Slot>,
}

/// Distinct strings, side by side in one buffer.
#[derive(Debug, Clone, Default)]
struct Strings {
    text: String,
    /// Where each string is in `text`.
    spans: Vec<(usize, usize)>,
}

impl Strings {
    fn push(&mut self, s: &str) -> usize {
        self.spans.push((self.text.len(), s.len()));
        self.text.push_str(s);
        self.spans.len() - 1
    }

    fn get(&self, index: usize) -> &str {
        let (start, len) = self.spans[index];
        &self.text[start..start + len]
    }

    fn len(&self) -> usize {
        self.spans.len()
    }
}

impl Batch {
    /// How many addresses were answered.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True for the answer to no addresses.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The answer for the `index`th address; `None` past the end.
    pub fn get(&self, index: usize) -> Option<Answer<'_>> {
        Some(self.answer(*self.slots.get(index)?))
    }

    /// The answers, in the order of the addresses.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Answer<'_>> + '_ {
        self.slots.iter().map(|slot| self.answer(*slot))
    }

    /// The text of a string of this batch.
    ///
    /// # Panics
    /// When `id` comes from another batch with more strings.
    pub fn str(&self, id: StrId) -> &str {
        self.strings.get(id.index())
    }

    /// Every distinct string of the batch (function names and files), in the order of
    /// [`StrId::index`].
    pub fn strings(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.strings.len()).map(|i| self.strings.get(i))
    }

    /// The `index`th answer as owned frames; `None` past the end.
    pub fn symbolized(&self, index: usize) -> Option<Symbolized> {
        Some(match self.get(index)? {
            Answer::Frames(frames) => Symbolized::Frames(
                frames
                    .iter()
                    .map(|f| Frame {
                        function: f.function.map(|s| Arc::from(self.str(s))),
                        file: f.file.map(|s| Arc::from(self.str(s))),
                        line: f.line.map(NonZeroU32::get),
                        column: f.column.map(NonZeroU32::get),
                        inlined: f.inlined,
                    })
                    .collect(),
            ),
            Answer::Unknown(reason) => Symbolized::Unknown(reason),
        })
    }

    fn answer(&self, slot: Slot) -> Answer<'_> {
        match slot {
            Slot::Frames { start, len } => Answer::Frames(&self.frames[start..start + len as usize]),
            Slot::Unknown(reason) => Answer::Unknown(reason),
        }
    }
}

/// Builds the answers of a [`Batch`] in the order a module resolves them (sorted addresses, for
/// an ELF module); [`assemble`] puts them in the order of the addresses.
#[derive(Debug, Default)]
pub(crate) struct BatchBuilder {
    strings: Strings,
    frames: Vec<BatchFrame>,
    slots: Vec<Slot>,
    /// String ids by the location of the text: every string handed in lives, unchanged, in a table
    /// of the module while the batch is built, so the same location is the same string.
    ids: FastMap<(usize, usize), StrId>,
    /// The last string interned: consecutive sorted addresses mostly share their function and file.
    last: [Option<((usize, usize), StrId)>; 2],
    /// Where the frames of the answer being built start.
    start: usize,
}

impl BatchBuilder {
    /// A builder with room for about `answers` answers.
    pub fn new(answers: usize) -> Self {
        BatchBuilder {
            frames: Vec::with_capacity(answers + answers / 4),
            slots: Vec::with_capacity(answers),
            ..BatchBuilder::default()
        }
    }

    /// The id of a string held by the module (copied into the batch the first time): the module
    /// must keep it, unchanged and in place, until the batch is built.
    pub fn intern(&mut self, text: &str) -> StrId {
        let key = (text.as_ptr() as usize, text.len());
        if let Some((_, id)) = self.last.iter().flatten().find(|(k, _)| *k == key) {
            return *id;
        }
        let strings = &mut self.strings;
        let id = *self.ids.entry(key).or_insert_with(|| {
            // Fewer than u32::MAX distinct strings: each was found by at least one address's frame,
            // and a batch of four billion addresses does not fit in memory.
            StrId::at(strings.push(text)).unwrap_or(StrId(NonZeroU32::MAX))
        });
        self.last = [Some((key, id)), self.last[0]];
        id
    }

    /// Adds a frame to the answer being built (finished by [`BatchBuilder::finish_frames`]).
    pub fn push(&mut self, frame: BatchFrame) {
        self.frames.push(frame);
    }

    /// The frames pushed since the last answer are the next answer (an unknown one,
    /// [`Reason::NoSymbols`], when there are none).
    pub fn finish_frames(&mut self) {
        let len = self.frames.len() - self.start;
        self.slots.push(match u32::try_from(len) {
            Ok(len) if len > 0 => Slot::Frames { start: self.start, len },
            _ => Slot::Unknown(Reason::NoSymbols),
        });
        self.start = self.frames.len();
    }

    /// The next answer: no name.
    pub fn unknown(&mut self, reason: Reason) {
        self.frames.truncate(self.start);
        self.slots.push(Slot::Unknown(reason));
    }

    /// The next answer is the previous one again (the same address).
    pub fn repeat(&mut self) {
        let previous = self.slots.last().copied().unwrap_or(Slot::Unknown(Reason::NoSymbols));
        self.slots.push(previous);
    }

    /// How many answers so far.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The batch, its answers in the order they were built.
    pub fn finish(self) -> Batch {
        Batch { strings: self.strings, frames: self.frames, slots: self.slots }
    }
}

/// The strings of all `parts`, each once, and for each part the new id of each of its strings.
fn merge_strings(parts: &[BatchBuilder]) -> (Strings, Vec<Option<Vec<StrId>>>) {
    let mut strings = Strings::default();
    let mut ids: std::collections::HashMap<&str, StrId> = std::collections::HashMap::new();
    let remaps = parts
        .iter()
        .map(|part| {
            let remap = (0..part.strings.len())
                .map(|i| {
                    let text = part.strings.get(i);
                    // Fewer than u32::MAX strings (see `BatchBuilder::intern`).
                    *ids.entry(text)
                        .or_insert_with(|| StrId::at(strings.push(text)).unwrap_or(StrId(NonZeroU32::MAX)))
                })
                .collect();
            Some(remap)
        })
        .collect();
    (strings, remaps)
}

/// The batch for addresses whose answers were built by `parts`, one after another: the `k`th answer
/// of them all is for the address at the `k`th of `positions` (a permutation of `0..n` for `n`
/// answers in all).
///
/// The frames are laid out in the order of the addresses, since that is how they are read. They
/// are moved there in the order they were built: every read is sequential, and the scattered
/// writes and independent lookups let the CPU overlap its cache misses (gathering them in address
/// order instead chains two dependent misses per answer, several times slower for a million).
pub(crate) fn assemble(
    mut parts: Vec<BatchBuilder>,
    positions: impl Iterator<Item = usize> + Clone,
) -> Batch {
    let (strings, remaps) = match parts.as_mut_slice() {
        [only] => (std::mem::take(&mut only.strings), vec![None]),
        _ => merge_strings(&parts),
    };
    let total = parts.iter().map(BatchBuilder::len).sum();
    let answers = || parts.iter().flat_map(|part| part.slots.iter());
    // Each answer's length at its position; then where each position's frames start.
    let mut slots = vec![Slot::Unknown(Reason::NoSymbols); total];
    for (slot, at) in answers().zip(positions.clone()) {
        if let Some(place) = slots.get_mut(at) {
            *place = *slot;
        }
    }
    let mut frame_count = 0;
    for slot in &mut slots {
        if let Slot::Frames { start, len } = slot {
            *start = frame_count;
            frame_count += *len as usize;
        }
    }
    let filler = BatchFrame { function: None, file: None, line: None, column: None, inlined: false };
    let mut frames = vec![filler; frame_count];
    let mut at = positions;
    for (part, remap) in parts.iter().zip(&remaps) {
        let renamed = |s: StrId| remap.as_ref().and_then(|r| r.get(s.index()).copied()).unwrap_or(s);
        for (slot, at) in part.slots.iter().zip(at.by_ref()) {
            let (Slot::Frames { start: from, len }, Some(Slot::Frames { start: to, .. })) =
                (*slot, slots.get(at))
            else {
                continue;
            };
            let (from, to, len) = (from, *to, len as usize);
            let (Some(source), Some(target)) =
                (part.frames.get(from..from + len), frames.get_mut(to..to + len))
            else {
                continue;
            };
            for (t, f) in target.iter_mut().zip(source) {
                *t = BatchFrame { function: f.function.map(renamed), file: f.file.map(renamed), ..*f };
            }
        }
    }
    Batch { strings, frames, slots }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_built_in_any_order_are_assembled_in_address_order() {
        let name: Arc<str> = Arc::from("main");
        let file: Arc<str> = Arc::from("main.c");
        let other: Arc<str> = Arc::from("helper");
        let frame = |b: &mut BatchBuilder, function: &Arc<str>, line| BatchFrame {
            function: Some(b.intern(function)),
            file: Some(b.intern(&file)),
            line: NonZeroU32::new(line),
            column: None,
            inlined: false,
        };
        // Two parts, as two threads would build them: addresses 2 and 3 (the same), then 0 and 1.
        let mut first = BatchBuilder::new(2);
        let f = frame(&mut first, &name, 7);
        first.push(f);
        first.finish_frames();
        first.repeat();
        let mut second = BatchBuilder::new(2);
        second.unknown(Reason::OutsideText);
        let f = frame(&mut second, &other, 9);
        second.push(f);
        second.finish_frames();
        assert_eq!(first.len(), 2);
        let batch = assemble(vec![first, second], [2, 3, 0, 1].into_iter());
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.get(0), Some(Answer::Unknown(Reason::OutsideText)));
        let name_of = |i| match batch.get(i) {
            Some(Answer::Frames(f)) => {
                (batch.str(f[0].function.unwrap()), batch.str(f[0].file.unwrap()), f[0].line.map(|l| l.get()))
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(name_of(1), ("helper", "main.c", Some(9)));
        assert_eq!(name_of(2), ("main", "main.c", Some(7)));
        assert_eq!(name_of(3), name_of(2));
        assert_eq!(batch.get(4), None);
        let Some(Symbolized::Frames(owned)) = batch.symbolized(2) else { panic!() };
        assert_eq!(owned[0].function.as_deref(), Some("main"));
        assert_eq!(batch.strings().collect::<Vec<_>>(), ["main", "main.c", "helper"], "each string once");
        assert_eq!(batch.iter().count(), 4);
    }

    #[test]
    fn strings_are_interned_once_per_part() {
        let name: Arc<str> = Arc::from("main");
        let copy: Arc<str> = Arc::from("main");
        let mut b = BatchBuilder::new(0);
        let ids = [b.intern(&name), b.intern(&copy), b.intern(&name), b.intern("x"), b.intern(&copy)];
        assert_eq!(ids[0], ids[2]);
        assert_eq!(ids[1], ids[4]);
        assert_ne!(ids[0], ids[1], "keyed by where the text lives");
        assert_eq!(b.finish().strings().len(), 3);
    }

    #[test]
    fn an_answer_without_frames_is_unknown() {
        let mut b = BatchBuilder::new(1);
        b.finish_frames();
        b.repeat();
        let batch = b.finish();
        assert_eq!(batch.get(0), Some(Answer::Unknown(Reason::NoSymbols)));
        assert_eq!(batch.get(1), Some(Answer::Unknown(Reason::NoSymbols)));
    }
}
