//! Reads of the sampled stack copy, and what a failed read means for the cut ([`Cut`]).

use super::{Cut, UserStack};

/// The largest stack copy the kernel makes (`PERF_SAMPLE_STACK_USER`): a read farther than this
/// above the sampled `sp` could not be fixed by a larger copy.
pub(crate) const MAX_COPY: u64 = 65528;

/// 8-byte reads inside the copy; remembers the first failed read of the current step.
#[derive(Debug)]
pub(crate) struct StackReader<'a> {
    sp: u64,
    bytes: &'a [u8],
    requested: u64,
    pub failed: Option<u64>,
}

impl<'a> StackReader<'a> {
    pub fn new(stack: &UserStack<'a>) -> Self {
        StackReader { sp: stack.sp, bytes: stack.bytes, requested: stack.requested, failed: None }
    }

    /// The 8 bytes at `address`, when all of them are in the copy.
    pub fn read(&mut self, address: u64) -> Result<u64, ()> {
        let found = address
            .checked_sub(self.sp)
            .and_then(|offset| usize::try_from(offset).ok())
            .and_then(|start| self.bytes.get(start..start.checked_add(8)?));
        match found {
            Some(b) => {
                let mut word = [0; 8];
                word.copy_from_slice(b);
                Ok(u64::from_le_bytes(word))
            }
            None => {
                self.failed.get_or_insert(address);
                Err(())
            }
        }
    }

    /// Why a read of `address` failing stops the walk: the copy was full and a larger one would
    /// hold the address, or not.
    pub fn cut_for(&self, address: u64) -> Cut {
        let top = self.sp.saturating_add(self.bytes.len() as u64);
        let reach = self.sp.saturating_add(MAX_COPY);
        let full = self.requested > 0 && self.bytes.len() as u64 >= self.requested;
        if full && address.saturating_add(8) > top && address < reach {
            Cut::CopySize
        } else {
            Cut::Unreadable { address }
        }
    }

    /// The cut a failed read of this step calls for, when it is the copy's size.
    pub fn copy_size_cut(&self) -> Option<Cut> {
        self.failed.map(|a| self.cut_for(a)).filter(|c| *c == Cut::CopySize)
    }
}
