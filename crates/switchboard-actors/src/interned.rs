//! `Interned`: SIDs of which there are few (services, flows, workflows) numbered, so that a
//! record kept for every channel or task names one in four bytes instead of eighteen.

use std::collections::BTreeMap;

use switchboard_domain::Sid;

/// Each SID kept once and numbered in the order first met. Never shrinks: it holds a SID per
/// one ever numbered, which is one per service, flow or workflow, not per customer.
#[derive(Debug, Default)]
pub(crate) struct Interned {
    sids: Vec<Sid>,
    numbers: BTreeMap<Sid, u32>,
}

impl Interned {
    /// The number of `sid`, given one if it has none; and the bytes that took (0 if known).
    pub fn number(&mut self, sid: Sid) -> (u32, usize) {
        if let Some(number) = self.numbers.get(&sid) {
            return (*number, 0);
        }
        // Fewer than 2^32 services, flows and workflows: the number fits.
        let number = u32::try_from(self.sids.len()).unwrap_or(u32::MAX);
        self.sids.push(sid);
        self.numbers.insert(sid, number);
        (number, Interned::BYTES_EACH)
    }

    /// The SID numbered `number`.
    pub fn sid(&self, number: u32) -> Option<Sid> {
        self.sids.get(usize::try_from(number).ok()?).copied()
    }

    /// How many SIDs are numbered.
    pub fn len(&self) -> usize {
        self.sids.len()
    }

    /// What one SID numbered holds (`memory.rs`).
    pub const BYTES_EACH: usize =
        std::mem::size_of::<Sid>() + crate::memory::btree_entry::<Sid, u32>();
}
