//! `Aggregate`: the one shape of every event-sourced stream kind (a channel, a user, a flow, a
//! service). A kind is its state (`Default` is "not created yet"), the commands it takes, the
//! events it records, `decide` and `apply`, and what the store derives from its state: index
//! entries and, for busy kinds, snapshots. The store runs every kind the same way
//! (`switchboard_store::StreamLog`); a new kind is a module that implements this, plus its
//! registration in the store's `kinds.rs`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{DomainEvent, IndexEntry, Recorded, Sid, SidPrefix, Timestamp};

/// What [`Aggregate::decide_folded`] gives: the events, and the state they were folded into as
/// they were decided, when the kind folds them so.
pub type FoldedDecision<A> =
    Result<(Vec<<A as Aggregate>::Event>, Option<A>), <A as Aggregate>::Rejection>;

/// One kind of event-sourced stream, implemented by its state.
pub trait Aggregate: Clone + Default + Serialize + DeserializeOwned {
    /// What its streams record.
    type Event: DomainEvent + Clone + Serialize + DeserializeOwned;
    /// What may be asked of one stream.
    type Command;
    /// Why `decide` refused a command.
    type Rejection;
    /// What [`Aggregate::apply_tentatively`] leaves for [`Aggregate::settle`]; `()` for kinds
    /// that fold every event at once.
    type Pending: Default;

    /// The SID prefix that names its streams.
    const PREFIX: SidPrefix;
    /// What one stream is, as `verify` counts it (a singular noun).
    const NAME: &'static str;
    /// Whether its streams keep a sealed snapshot of their state every `snapshot_every` events
    /// (and load from it). Small kinds replay from the start instead.
    const SNAPSHOTS: bool = false;

    /// Checks `command` against the state and returns the events that carry it out, in order.
    /// An empty list means the command was valid but changes nothing.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Rejection>;

    /// [`Aggregate::decide`], and with the events, when the kind folds them into a copy of
    /// itself as it decides, that copy: the state [`Aggregate::apply_tentatively`] of each
    /// event, recorded at `at`, would leave, with nothing left to [`Aggregate::settle`]. `None`
    /// (the default) has the store fold them. For a kind whose fold is costly and which decides
    /// on a folded copy anyway (an execution parses its context once to decide, where folding
    /// each event again parsed and wrote it back again), so the work is done once.
    fn decide_folded(&self, command: Self::Command, _at: Timestamp) -> FoldedDecision<Self> {
        Ok((self.decide(command)?, None))
    }

    /// Folds one event in. Total: never fails, never panics, so any stored log replays.
    fn apply(&mut self, record: &Recorded<Self::Event>);

    /// The number of events folded in: the next event's sequence number.
    fn events_applied(&self) -> u64;

    /// Counts a record that no longer opens (its stream's key was destroyed).
    fn skip_unreadable(&mut self);

    /// The index entries this state owns now; the store writes the difference at each append.
    fn index_entries(&self) -> Vec<IndexEntry> {
        Vec::new()
    }

    /// The index entries one event owns for good, in stream `stream`.
    fn event_index_entries(_event: &Self::Event, _stream: Sid) -> Vec<IndexEntry> {
        Vec::new()
    }

    /// Entries claimed at every load, where the state's owner may not have written them (an
    /// older build's streams): written only where no other stream holds them.
    fn claimed_on_load(&self) -> Vec<IndexEntry> {
        Vec::new()
    }

    /// Whether a snapshot of this state can be sealed now (an erased channel's key is gone).
    fn sealable(&self) -> bool {
        true
    }

    /// [`Aggregate::apply`] as a batch being decided does it, on a copy of the state that is
    /// kept only if the batch is appended: a kind may leave part of the fold to
    /// [`Aggregate::settle`], done on the kept state, so the copy stays cheap.
    fn apply_tentatively(&mut self, record: &Recorded<Self::Event>) -> Self::Pending {
        self.apply(record);
        Self::Pending::default()
    }

    /// Finishes what [`Aggregate::apply_tentatively`] left of `record`, in the same order.
    fn settle(&mut self, _record: &Recorded<Self::Event>, _pending: Self::Pending) {}
}
