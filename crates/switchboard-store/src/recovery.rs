//! Crash recovery, run when a folder was not closed cleanly (and the folding of head checkpoints,
//! run on every open).
//!
//! An append writes, in order: a new stream's key, its records, its index changes; its head is
//! then staged, and the flusher writes the heads of every append of a flush generation as one
//! checkpoint value before that flush (`flusher.rs`); opening first folds the checkpoints into
//! the `H` entries. sled keeps a prefix of the writes across a crash, and no
//! append is acknowledged before the flush that covers it. So after a crash a stream may have
//! records past its checkpointed head: any number of appends that were never acknowledged (every
//! one since the last checkpoint that survived), the last possibly cut short, with some or all of
//! their index changes applied. Recovery rolls them all back: it rebuilds the stream's index
//! entries as its state at the checkpoint implies (what the lost appends removed comes back,
//! what any of them added goes) and deletes the records. A shred whose marker was checkpointed
//! but whose keys survived is finished instead (the erasure was decided).

use std::collections::{BTreeMap, BTreeSet};

use switchboard_domain::{ChannelEvent, ChannelState, IndexEntry, Recorded, Sid, SidPrefix};

use crate::channel::destroy_content;
use crate::keyring::SHRED_TOMBSTONE;
use crate::layout::{self, event_key, stream_prefix, HEAD, KEY};
use crate::log::{EventLog, IndexChanges};
use crate::record::Head;
use crate::replay::ReplayRecord;
use crate::StoreError;

/// Writes the heads of the checkpoints a running log left unfolded (`P` slots numbered past
/// `Mcheckpoint`, see `flusher.rs`) into their `H` entries, oldest first, then moves the mark.
/// Run on every open, before anything reads a head; a crash during it leaves what folding again
/// repairs. Returns the number of the newest checkpoint, from which the flusher goes on.
pub(crate) fn fold_journal(db: &sled::Db) -> Result<u64, StoreError> {
    let (newest, heads) = unfolded_heads(db)?;
    if heads.is_empty() {
        return Ok(newest);
    }
    tracing::info!(streams = heads.len(), "folding head checkpoints left by an unclean stop");
    for (stream, head) in &heads {
        db.insert(stream_prefix(HEAD, *stream), &head.to_bytes()[..])?;
    }
    db.insert(layout::META_CHECKPOINT, &newest.to_be_bytes()[..])?;
    Ok(newest)
}

/// The newest head of each stream named by a checkpoint not folded yet, and the number of the
/// newest checkpoint. Reads only: key-less verification overlays these on `H` too.
pub(crate) fn unfolded_heads(tree: &sled::Tree) -> Result<(u64, BTreeMap<Sid, Head>), StoreError> {
    let folded = match tree.get(layout::META_CHECKPOINT)? {
        None => 0,
        Some(bytes) => bytes
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Damaged("the head checkpoint mark is malformed".into()))?,
    };
    let mut unfolded = Vec::new();
    let mut newest = folded;
    for entry in tree.scan_prefix([layout::CHECKPOINT]) {
        let (_, value) = entry?;
        let (number, heads) = crate::flusher::decode_checkpoint(&value)
            .ok_or_else(|| StoreError::Damaged("a head checkpoint is malformed".into()))?;
        newest = newest.max(number);
        // Older ones are folded already, and may be older than the heads in `H`.
        if number > folded {
            unfolded.push((number, heads));
        }
    }
    unfolded.sort_by_key(|(number, _)| *number);
    let mut heads = BTreeMap::new();
    for (_, checkpoint) in unfolded {
        heads.extend(checkpoint);
    }
    Ok((newest, heads))
}

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
    tracing::warn!(%stream, records = tail.len(), at = head.next_seq, "rolling back unacknowledged appends");
    if stream.prefix() == SidPrefix::CHANNEL {
        let mut state = ChannelState::default();
        // The entries the checkpointed events keyed: these stay.
        let mut kept = Vec::new();
        // What the state at the checkpoint owns (known at the first lost record).
        let mut owned: Option<Vec<IndexEntry>> = None;
        // Every entry some lost append may have written (each append wrote the diff between two
        // of the states the lost records pass through, and the entries its events keyed), and
        // every checkpointed entry some lost append may have removed.
        let (mut touched, mut removed) = (Vec::new(), Vec::new());
        for item in log.read::<Recorded>(stream, 0) {
            match item {
                Ok(ReplayRecord::Event { seq, event, .. }) if seq < head.next_seq => {
                    kept.extend(event.event.index_entries(stream));
                    state.apply(&event);
                }
                Ok(ReplayRecord::Shredded { seq, .. }) if seq < head.next_seq => {
                    state.events_applied += 1
                }
                Ok(ReplayRecord::Event { event, .. }) => {
                    let owned = owned.get_or_insert_with(|| state.index_entries());
                    touched.extend(event.event.index_entries(stream));
                    state.apply(&event);
                    let now = state.index_entries();
                    removed.extend(owned.iter().filter(|e| !now.contains(e)).cloned());
                    touched.extend(now);
                }
                // A lost record that does not open changes nothing that needs undoing here.
                Ok(ReplayRecord::Shredded { .. }) | Err(_) => {}
            }
        }
        let owned = owned.unwrap_or_else(|| state.index_entries());
        // Undo: what the lost appends removed comes back; what only they wrote goes (and only
        // while it still points here: `apply_index_changes` deletes by value).
        let mut undo = IndexChanges::default();
        for entry in removed {
            if !undo.put.contains(&entry) {
                undo.put.push(entry);
            }
        }
        for entry in touched {
            if !kept.contains(&entry) && !owned.contains(&entry) && !undo.delete.contains(&entry) {
                undo.delete.push(entry);
            }
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
