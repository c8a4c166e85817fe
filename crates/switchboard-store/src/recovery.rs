//! Crash recovery, run when a folder was not closed cleanly.
//!
//! An append writes, in order: a new stream's key, its records, its index changes, its head. sled
//! keeps a prefix of these writes across a crash, and no append is acknowledged before a flush
//! that covers its head. So after a crash a stream may have records past its head (an append that
//! was never acknowledged), possibly with some of its index changes applied. Recovery rolls each
//! such append back: it restores the index entries the stream's state at its head implies,
//! removes the entries the lost events added, and deletes the records. A shred whose marker and
//! head were written but whose keys survived is finished instead (the erasure was decided).

use std::collections::BTreeSet;

use switchboard_domain::{ChannelEvent, ChannelState, Recorded, Sid, SidPrefix};

use crate::channel::{destroy_content, index_diff};
use crate::keyring::SHRED_TOMBSTONE;
use crate::layout::{self, event_key, stream_prefix, HEAD, KEY};
use crate::log::{EventLog, IndexChanges};
use crate::record::Head;
use crate::replay::ReplayRecord;
use crate::StoreError;

/// Repairs every stream that needs it; returns how many did.
pub(crate) fn recover(log: &EventLog) -> Result<u64, StoreError> {
    let mut repaired = 0;
    for stream in streams_with_keys_or_heads(log)? {
        let head = log.head(stream)?;
        let tail: Vec<u64> = log
            .tree()
            .range(event_key(stream, head.next_seq)..event_key(stream, u64::MAX))
            .keys()
            .map(|k| k.map(|k| layout::parse_event_key(&k).map_or(u64::MAX, |(_, seq)| seq)))
            .collect::<Result<_, _>>()?;
        if !tail.is_empty() {
            roll_back(log, stream, head, &tail)?;
            repaired += 1;
        }
        if finish_shred(log, stream, head)? {
            repaired += 1;
        }
    }
    Ok(repaired)
}

/// Every stream that has a key or a head: a stream whose first append never got its head has a
/// key and nothing else.
fn streams_with_keys_or_heads(log: &EventLog) -> Result<BTreeSet<Sid>, StoreError> {
    let mut streams = BTreeSet::new();
    for prefix in [HEAD, KEY] {
        for key in log.tree().scan_prefix([prefix]).keys() {
            if let Some(stream) = layout::parse_stream_key(&key?) {
                streams.insert(stream);
            }
        }
    }
    Ok(streams)
}

fn roll_back(log: &EventLog, stream: Sid, head: Head, tail: &[u64]) -> Result<(), StoreError> {
    tracing::warn!(%stream, records = tail.len(), at = head.next_seq, "rolling back an unfinished append");
    if stream.prefix() == SidPrefix::CHANNEL {
        let mut before = ChannelState::default();
        let mut lost = Vec::new();
        for item in log.read::<Recorded>(stream, 0) {
            match item {
                Ok(ReplayRecord::Event { seq, event, .. }) if seq < head.next_seq => {
                    before.apply(&event)
                }
                Ok(ReplayRecord::Event { event, .. }) => lost.push(event),
                Ok(ReplayRecord::Shredded { .. }) => before.events_applied += 1,
                // A lost record that does not open changes nothing that needs undoing here.
                Err(_) => {}
            }
        }
        let mut after = before.clone();
        for event in &lost {
            after.apply(event);
        }
        // Undo: what the lost events removed comes back, what they added goes.
        let forward = index_diff(&before.index_entries(), &after.index_entries());
        let mut undo = IndexChanges { put: forward.delete, delete: forward.put };
        for event in &lost {
            undo.delete.extend(event.event.index_entries(stream));
        }
        log.apply_index_changes(&undo)?;
    }
    for seq in tail {
        log.tree().remove(event_key(stream, *seq))?;
    }
    if head.next_seq == 0 {
        // The stream never existed: its key goes too.
        for key in log.tree().scan_prefix(stream_prefix(KEY, stream)).keys() {
            log.tree().remove(key?)?;
        }
        log.forget(stream);
    }
    Ok(())
}

/// A stream whose last record is an erasure marker must have no readable key left.
fn finish_shred(log: &EventLog, stream: Sid, head: Head) -> Result<bool, StoreError> {
    if head.next_seq == 0 || stream.prefix() != SidPrefix::CHANNEL {
        return Ok(false);
    }
    let last = log.read::<Recorded>(stream, head.next_seq - 1).next();
    let Some(Ok(ReplayRecord::Event { event, .. })) = last else { return Ok(false) };
    if !matches!(event.event, ChannelEvent::DataErased { .. }) {
        return Ok(false);
    }
    let keys_left = log
        .tree()
        .scan_prefix(stream_prefix(KEY, stream))
        .values()
        .any(|v| v.is_ok_and(|v| v.as_ref() != SHRED_TOMBSTONE));
    if !keys_left {
        return Ok(false);
    }
    tracing::warn!(%stream, "finishing a shred interrupted by a crash");
    let mut state = ChannelState::default();
    let mut owned = Vec::new();
    for item in log.read::<Recorded>(stream, 0) {
        if let Ok(ReplayRecord::Event { event, .. }) = item {
            owned.extend(event.event.index_entries(stream));
            // The state just before the marker owns the entries to remove.
            if !matches!(event.event, ChannelEvent::DataErased { .. }) {
                state.apply(&event);
            }
        }
    }
    owned.extend(state.index_entries());
    destroy_content(log, stream, &IndexChanges { put: Vec::new(), delete: owned })?;
    Ok(true)
}
