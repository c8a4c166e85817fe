//! What a channel's stream does beyond any stream's (`StreamLog`, which runs it): its creation,
//! which refuses a stream that exists, and its shredding, which destroys its content (as a
//! task's stream is shredded with its channel: `shred_task`).

use switchboard_domain::{
    ChannelCommand, ChannelEvent, DomainEvent, ErasureReason, NewChannel, Recorded, Rejection, Sid,
    Timestamp,
};

use crate::keyring::{KeyStatus, SHRED_TOMBSTONE};
use crate::layout::{self, stream_prefix, KEY, SNAPSHOT};
use crate::log::{EventLog, IndexChanges};
use crate::record::{self, Head};
use crate::replay::ReplayRecord;
use crate::stream::ChannelLog;
use crate::{Executed, FlushTicket, StoreError};

/// The result of shredding a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShredOutcome {
    pub records_made_unreadable: u64,
    pub ticket: FlushTicket,
}

/// What only a channel's stream does: its creation refuses a stream that exists, and its
/// content can be destroyed.
impl ChannelLog {
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
        let sid = self.sid();
        let marker = Recorded::new(at, ChannelEvent::DataErased { reason });
        shred_stream(log, sid, &record::encode_event(&marker)?, || {
            let mut owned = self.state().index_entries();
            for item in log.read::<Recorded>(sid, 0) {
                if let ReplayRecord::Event { event, .. } = item? {
                    owned.extend(event.event.index_entries(sid));
                }
            }
            Ok(owned)
        })
    }
}

/// Destroys a task's stream content (`keys shred` of its channel, or the channel's erasure),
/// after appending `marker` (a `TaskEvent::TaskShredded`, which restates what the task keeps
/// without the customer's data) in the clear. Replay then shows the records before it as
/// shredded; the task is what the marker says. A stream shredded already is refused
/// (`StoreError::Shredded`).
pub fn shred_task(
    log: &EventLog,
    sid: Sid,
    marker: &Recorded<switchboard_routing::task::TaskEvent>,
) -> Result<ShredOutcome, StoreError> {
    if !marker.event.is_clear_text_allowed() {
        return Err(StoreError::Damaged("a task's shred marker must be its clear marker".into()));
    }
    shred_stream(log, sid, &record::encode_event(marker)?, || Ok(Vec::new()))
}

/// Appends the encoded `marker` in the clear to stream `sid`, checkpoints it, then destroys the
/// stream's keys, snapshot and the index entries `owned` finds (read under the stream's head,
/// so no append comes in between).
fn shred_stream(
    log: &EventLog,
    sid: Sid,
    marker: &[u8],
    owned: impl FnOnce() -> Result<Vec<switchboard_domain::IndexEntry>, StoreError>,
) -> Result<ShredOutcome, StoreError> {
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
        let owned = owned()?;
        let (bytes, hash) = record::clear_record(&head.last_hash, marker);
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
