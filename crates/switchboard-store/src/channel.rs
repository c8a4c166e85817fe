//! `ChannelLog`: one channel's state kept in step with its stream.
//!
//! It is what a channel actor holds: it runs a command through the domain's `decide`, appends the
//! events together with the index changes they imply, folds them into the state, and writes a
//! snapshot every `snapshot_every` events. It is the only writer of its stream.

use switchboard_domain::{
    decide, Cause, ChannelCommand, ChannelEvent, ChannelState, ErasureReason, IndexEntry,
    IndexKind, NewChannel, Recorded, Rejection, Sid, Timestamp,
};

use crate::keyring::{KeyStatus, SHRED_TOMBSTONE};
use crate::layout::{self, stream_prefix, KEY, SNAPSHOT};
use crate::log::{EventLog, IndexChanges};
use crate::record::{self, Head};
use crate::replay::ReplayRecord;
use crate::{FlushTicket, StoreError};

/// What a command did: the events it appended (possibly none) and the ticket to wait on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub events: Vec<ChannelEvent>,
    /// When they happened (every event of one command has the same time).
    pub at: Timestamp,
    pub first_seq: u64,
    pub ticket: Option<FlushTicket>,
}

/// One channel's state and its place in the log.
#[derive(Debug, Clone)]
pub struct ChannelLog {
    sid: Sid,
    state: ChannelState,
    /// How many events the latest snapshot written or loaded covers.
    snapshot_at: u64,
}

/// The result of shredding a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShredOutcome {
    pub records_made_unreadable: u64,
    pub ticket: FlushTicket,
}

impl ChannelLog {
    /// A channel that does not exist yet; its first command must be `Create`.
    pub fn new(sid: Sid) -> ChannelLog {
        ChannelLog { sid, state: ChannelState::default(), snapshot_at: 0 }
    }

    /// Rehydrates a channel from its latest snapshot and the events after it.
    pub fn load(log: &EventLog, sid: Sid) -> Result<ChannelLog, StoreError> {
        let (mut state, from) = match log.load_snapshot::<ChannelState>(sid)? {
            Some((events_applied, state)) if state.events_applied == events_applied => {
                (state, events_applied)
            }
            _ => (ChannelState::default(), 0),
        };
        for item in log.read::<Recorded>(sid, from) {
            match item? {
                ReplayRecord::Event { event, .. } => state.apply(&event),
                // Only the erasure marker after a shred is readable; it erases the state.
                ReplayRecord::Shredded { .. } => state.events_applied += 1,
            }
        }
        let mut channel = ChannelLog { sid, state, snapshot_at: from };
        channel.settle_after_upgrade(log, from);
        Ok(channel)
    }

    /// What a channel last written by an older build lacks, made good on its first load: the
    /// customer's `LatestChannel` entry (unless a channel that took the customer later holds
    /// it), and a snapshot of the current version when the older one was
    /// passed over (or none was usable), so the next load does not replay the whole log again.
    /// Derived data only: a failure is logged and the channel loads all the same.
    fn settle_after_upgrade(&mut self, log: &EventLog, replayed_from: u64) {
        let latest: Vec<_> = self
            .state
            .index_entries()
            .into_iter()
            .filter(|e| e.kind == IndexKind::LatestChannel)
            .collect();
        if let Err(error) = log.claim_index_entries(&latest) {
            tracing::warn!(channel = %self.sid, %error, "could not index the customer's latest channel");
        }
        let every = log.config().snapshot_every.max(1);
        if replayed_from == 0 && self.state.events_applied >= every {
            self.save_snapshot(log);
        }
    }

    /// Writes a snapshot if at least `min_events` events came after the latest one: for a
    /// channel about to stop (hibernation, a clean stop of the daemon), so that its next load
    /// replays at most that many instead of up to `snapshot_every`. Derived data: a failure is
    /// logged, and the next load replays more.
    pub fn snapshot_if_behind(&mut self, log: &EventLog, min_events: u64) {
        if self.state.events_applied.saturating_sub(self.snapshot_at) >= min_events.max(1) {
            self.save_snapshot(log);
        }
    }

    fn save_snapshot(&mut self, log: &EventLog) {
        // An erased channel's key is gone: there is nothing a snapshot could be sealed with.
        if self.state.erased {
            return;
        }
        match log.save_snapshot(self.sid, self.state.events_applied, &self.state) {
            Ok(()) => self.snapshot_at = self.state.events_applied,
            // A missing snapshot only makes the next rehydration longer: never a failure of
            // what the channel did.
            Err(error) => tracing::warn!(channel = %self.sid, %error, "could not write a snapshot"),
        }
    }

    pub fn sid(&self) -> Sid {
        self.sid
    }

    pub fn state(&self) -> &ChannelState {
        &self.state
    }

    /// Runs `command` at time `at`. A rejection is the inner `Err`; storage failures the outer.
    /// The caller must wait on the ticket before acknowledging.
    pub fn execute(
        &mut self,
        log: &EventLog,
        command: ChannelCommand,
        at: Timestamp,
    ) -> Result<Result<Executed, Rejection>, StoreError> {
        self.execute_all(log, vec![command], at)
    }

    /// Runs several commands as one: each is decided against the state the previous ones leave,
    /// and either all their events are appended in one atomic write or, if any is rejected, none.
    pub fn execute_all(
        &mut self,
        log: &EventLog,
        commands: Vec<ChannelCommand>,
        at: Timestamp,
    ) -> Result<Result<Executed, Rejection>, StoreError> {
        self.execute_caused(log, commands, at, None)
    }

    /// `execute_all`, recording `cause` with every event it appends.
    pub fn execute_caused(
        &mut self,
        log: &EventLog,
        commands: Vec<ChannelCommand>,
        at: Timestamp,
        cause: Option<Cause>,
    ) -> Result<Result<Executed, Rejection>, StoreError> {
        let mut next = self.state.clone();
        let mut records = Vec::new();
        let mut deferred = Vec::new();
        for command in commands {
            let events = match decide(&next, command) {
                Ok(events) => events,
                Err(rejection) => return Ok(Err(rejection)),
            };
            for event in events {
                let record = Recorded::caused(at, event, cause.clone());
                deferred.push(next.apply_deferring_memory(&record));
                records.push(record);
            }
        }
        let first_seq = self.state.events_applied;
        let events: Vec<ChannelEvent> = records.iter().map(|r| r.event.clone()).collect();
        if records.is_empty() {
            return Ok(Ok(Executed { events, at, first_seq, ticket: None }));
        }
        let mut changes = index_diff(&self.state.index_entries(), &next.index_entries());
        for event in &events {
            changes.put.extend(event.index_entries(self.sid));
        }
        let appended = log.append(self.sid, first_seq, &records, &changes)?;
        let every = log.config().snapshot_every.max(1);
        let crossed = first_seq / every != next.events_applied / every;
        // The old state let go, the provider ids are this state's alone: added in place.
        self.state = next;
        for (record, deferred) in records.iter().zip(deferred) {
            self.state.remember_deferred(record, deferred);
        }
        if crossed {
            self.save_snapshot(log);
        }
        Ok(Ok(Executed { events, at, first_seq, ticket: Some(appended.ticket) }))
    }

    /// Creates a channel: a shorthand for `new` then `execute(Create)`.
    pub fn create(
        log: &EventLog,
        new: NewChannel,
        at: Timestamp,
    ) -> Result<Result<(ChannelLog, Executed), Rejection>, StoreError> {
        let mut channel = ChannelLog::new(new.channel_sid);
        if log.next_seq(new.channel_sid)? != 0 {
            return Ok(Err(Rejection::ChannelExists));
        }
        Ok(channel.execute(log, ChannelCommand::Create(new), at)?.map(|done| (channel, done)))
    }

    /// Destroys the channel's data key, after appending a clear-text erasure marker, and removes
    /// its snapshot and every index entry it owns, in one atomic write. Replay then shows the
    /// records as shredded and the marker as the last event; the chain still verifies.
    pub fn shred(
        self,
        log: &EventLog,
        reason: ErasureReason,
        at: Timestamp,
    ) -> Result<ShredOutcome, StoreError> {
        let sid = self.sid;
        log.with_head(sid, |slot| {
            let head = slot.head;
            if head.next_seq == 0 {
                return Err(StoreError::NotFound(sid));
            }
            // Shredding twice would append a second marker to a stream that takes no more writes.
            if let KeyStatus::Shredded = log.keyring().current(log.tree(), sid)? {
                return Err(StoreError::Shredded(sid));
            }
            // Like any write: a crash from here on must run recovery, which finishes the shred.
            log.unmark_clean()?;
            let mut owned = self.state.index_entries();
            for item in log.read::<Recorded>(sid, 0) {
                if let ReplayRecord::Event { event, .. } = item? {
                    owned.extend(event.event.index_entries(sid));
                }
            }
            let marker = Recorded::new(at, ChannelEvent::DataErased { reason });
            let (bytes, hash) =
                record::clear_record(&head.last_hash, &record::encode_event(&marker)?);
            // The marker, then its head checkpointed and durable: from then on the erasure is
            // decided, and crash recovery finishes it (`recovery.rs`) if the process dies before
            // the keys are gone. A crash before leaves the marker past the checkpoint, and
            // recovery rolls it back with the keys still there: nothing was erased.
            log.tree().insert(layout::event_key(sid, head.next_seq), bytes)?;
            let next = Head { next_seq: head.next_seq + 1, last_hash: hash };
            let ticket = log.checkpoint_head(sid, slot, next)?;
            destroy_content(log, sid, &IndexChanges { put: Vec::new(), delete: owned })?;
            let records_made_unreadable = head.next_seq;
            Ok(ShredOutcome { records_made_unreadable, ticket: ticket.max(log.ticket()) })
        })
    }
}

/// Replaces a stream's keys by tombstones and drops its snapshot and `owned` index entries.
pub(crate) fn destroy_content(
    log: &EventLog,
    sid: Sid,
    owned: &IndexChanges,
) -> Result<(), StoreError> {
    for entry in log.tree().scan_prefix(stream_prefix(KEY, sid)).keys() {
        log.tree().insert(entry?, SHRED_TOMBSTONE)?;
    }
    log.tree().remove(stream_prefix(SNAPSHOT, sid))?;
    crate::positions::remove_all(log.tree(), sid)?;
    crate::media::destroy_media(log, sid)?;
    log.apply_index_changes(owned)?;
    log.keyring().forget(sid);
    Ok(())
}

pub(crate) fn index_diff(before: &[IndexEntry], after: &[IndexEntry]) -> IndexChanges {
    IndexChanges {
        put: after.iter().filter(|e| !before.contains(e)).cloned().collect(),
        delete: before.iter().filter(|e| !after.contains(e)).cloned().collect(),
    }
}
