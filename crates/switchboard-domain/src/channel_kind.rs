//! The chat channel as an [`Aggregate`]: `decide` (command.rs), its fold (state.rs) and its index
//! entries (index.rs), put together. Its fold leaves the provider ids an event brings to
//! `settle`, so deciding a batch on a copy of the state does not copy them (see
//! `ChannelState::apply_deferring_memory`).

use crate::{
    decide, Aggregate, ChannelCommand, ChannelEvent, ChannelState, DeferredMemory, IndexEntry,
    IndexKind, Recorded, Rejection, Sid, SidPrefix,
};

impl Aggregate for ChannelState {
    type Event = ChannelEvent;
    type Command = ChannelCommand;
    type Rejection = Rejection;
    type Pending = DeferredMemory;

    const PREFIX: SidPrefix = SidPrefix::CHANNEL;
    const NAME: &'static str = "channel";
    const SNAPSHOTS: bool = true;

    fn decide(&self, command: ChannelCommand) -> Result<Vec<ChannelEvent>, Rejection> {
        decide(self, command)
    }

    fn apply(&mut self, record: &Recorded) {
        ChannelState::apply(self, record);
    }

    fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn skip_unreadable(&mut self) {
        self.events_applied += 1;
    }

    fn index_entries(&self) -> Vec<IndexEntry> {
        ChannelState::index_entries(self)
    }

    fn event_index_entries(event: &ChannelEvent, stream: Sid) -> Vec<IndexEntry> {
        event.index_entries(stream)
    }

    /// The customer's `LatestChannel` entry, which channels written before it existed lack;
    /// a channel that took the customer later keeps it.
    fn claimed_on_load(&self) -> Vec<IndexEntry> {
        let mut entries = ChannelState::index_entries(self);
        entries.retain(|e| e.kind == IndexKind::LatestChannel);
        entries
    }

    fn sealable(&self) -> bool {
        !self.erased
    }

    fn apply_tentatively(&mut self, record: &Recorded) -> DeferredMemory {
        self.apply_deferring_memory(record)
    }

    fn settle(&mut self, record: &Recorded, pending: DeferredMemory) {
        self.remember_deferred(record, pending);
    }
}
