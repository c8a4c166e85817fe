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
//! what any of them added goes; channels and users key the index) and deletes the records.
//! What was derived from the lost records goes with them: a snapshot past the head, a consumer's
//! cursor past it (lowered to the head) and its dead letters past it. A shred whose marker was
//! checkpointed but whose keys survived is finished instead (the erasure was decided).

use std::collections::{BTreeMap, BTreeSet};

use switchboard_domain::{
    Aggregate, ChannelEvent, ChannelState, IndexEntry, Recorded, Sid, SidPrefix,
};

use crate::channel::destroy_content;
use crate::keyring::SHRED_TOMBSTONE;
use crate::kinds::{visit_kind, KindVisitor};
use crate::layout::{self, event_key, stream_prefix, HEAD, KEY, SNAPSHOT};
use crate::log::{EventLog, IndexChanges};
use crate::record::{self, Head};
use crate::replay::{AnyEvent, ReplayRecord};
use crate::StoreError;

/// Writes the heads of the checkpoints a running log left unfolded (`P` slots numbered past
/// `Mcheckpoint`, see `flusher.rs`) into their `H` entries, oldest first, then moves the mark.
/// Run on every open, before anything reads a head; a crash during it leaves what folding again
/// repairs. Returns what the checkpoints said: the flusher goes on from the newest.
pub(crate) fn fold_journal(db: &sled::Db) -> Result<Checkpoints, StoreError> {
    let checkpoints = Checkpoints::read(db)?;
    if checkpoints.unfolded.is_empty() {
        return Ok(checkpoints);
    }
    tracing::info!(
        streams = checkpoints.unfolded.len(),
        "folding head checkpoints left by an unclean stop"
    );
    for (stream, head) in &checkpoints.unfolded {
        db.insert(stream_prefix(HEAD, *stream), &head.to_bytes()[..])?;
    }
    db.insert(layout::META_CHECKPOINT, &checkpoints.newest.to_be_bytes()[..])?;
    Ok(checkpoints)
}

/// What the head checkpoints in sled say. Reads only: key-less verification overlays the
/// unfolded heads on `H` too, and the opener compares the rest with the durable record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Checkpoints {
    /// The number of the newest checkpoint, or the mark's when no slot holds a newer one.
    pub newest: u64,
    /// Records in the log at the newest checkpoint, where it says (checkpoints of version 2).
    pub records: Option<u64>,
    /// What each slot holds, by number.
    pub slots: Vec<SlotCheckpoint>,
    /// The newest head of each stream named by a checkpoint not folded yet.
    pub unfolded: BTreeMap<Sid, Head>,
}

/// A head checkpoint held by a slot of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotCheckpoint {
    pub number: u64,
    pub records: Option<u64>,
    /// SHA-256 of its stored bytes, as the durable record keeps it.
    pub digest: [u8; 32],
}

impl Checkpoints {
    /// The checkpoint numbered `number`, if a slot still holds it.
    pub(crate) fn slot(&self, number: u64) -> Option<&SlotCheckpoint> {
        self.slots.iter().find(|slot| slot.number == number)
    }

    pub(crate) fn read(tree: &sled::Tree) -> Result<Checkpoints, StoreError> {
        let folded =
            match tree.get(layout::META_CHECKPOINT)? {
                None => 0,
                Some(bytes) => bytes.as_ref().try_into().map(u64::from_be_bytes).map_err(|_| {
                    StoreError::Damaged("the head checkpoint mark is malformed".into())
                })?,
            };
        let mut read = Checkpoints { newest: folded, ..Checkpoints::default() };
        let mut unfolded = Vec::new();
        for entry in tree.scan_prefix([layout::CHECKPOINT]) {
            let (_, value) = entry?;
            let checkpoint = crate::flusher::decode_checkpoint(&value)
                .ok_or_else(|| StoreError::Damaged("a head checkpoint is malformed".into()))?;
            read.slots.push(SlotCheckpoint {
                number: checkpoint.number,
                records: checkpoint.records,
                digest: crate::durable::checkpoint_digest(&value),
            });
            if checkpoint.number >= read.newest {
                read.newest = checkpoint.number;
                read.records = checkpoint.records;
            }
            // Older ones are folded already, and may be older than the heads in `H`.
            if checkpoint.number > folded {
                unfolded.push((checkpoint.number, checkpoint.heads));
            }
        }
        read.slots.sort_unstable_by_key(|slot| slot.number);
        unfolded.sort_by_key(|(number, _)| *number);
        for (_, heads) in unfolded {
            read.unfolded.extend(heads);
        }
        Ok(read)
    }
}

/// Repairs every stream that needs it, and what the log's consumers recorded past a head;
/// returns how many streams needed it.
pub(crate) fn recover(log: &EventLog) -> Result<u64, StoreError> {
    let mut repaired = 0;
    let mut heads = BTreeMap::new();
    for stream in streams_with_state(log)? {
        let head = log.head(stream)?;
        let tail: Vec<u64> = log
            .tree()
            .range(event_key(stream, head.next_seq)..event_key(stream, u64::MAX))
            .keys()
            .map(|k| k.map(|k| layout::parse_event_key(&k).map_or(u64::MAX, |(_, seq)| seq)))
            .collect::<Result<_, _>>()?;
        let mut touched = false;
        if !tail.is_empty() {
            roll_back(log, stream, head, &tail)?;
            touched = true;
        }
        touched |= drop_snapshot_past(log, stream, head)?;
        touched |= finish_shred(log, stream, head)?;
        repaired += u64::from(touched);
        heads.insert(stream, head.next_seq);
    }
    lower_consumers(log, &heads)?;
    Ok(repaired)
}

/// Every stream that has a key, a head or a snapshot: a stream whose first append never got its
/// head has a key and nothing else (and perhaps a snapshot, written after the append).
fn streams_with_state(log: &EventLog) -> Result<BTreeSet<Sid>, StoreError> {
    let mut streams = BTreeSet::new();
    for prefix in [HEAD, KEY, SNAPSHOT] {
        for key in log.tree().scan_prefix([prefix]).keys() {
            if let Some(stream) = layout::parse_stream_key(&key?) {
                streams.insert(stream);
            }
        }
    }
    Ok(streams)
}

/// A snapshot is written after its append, before the flush that checkpoints the append's head:
/// a crash in between leaves a snapshot of events that recovery just rolled back. It goes, or
/// rehydration would start from a state the log does not hold.
fn drop_snapshot_past(log: &EventLog, stream: Sid, head: Head) -> Result<bool, StoreError> {
    let key = stream_prefix(SNAPSHOT, stream);
    let Some(bytes) = log.tree().get(key)? else { return Ok(false) };
    // A malformed snapshot is ignored when loaded; only one that names its count is judged.
    let Some(record::SnapshotEnvelope { events_applied, .. }) = record::parse_snapshot(&bytes)
    else {
        return Ok(false);
    };
    if events_applied <= head.next_seq {
        return Ok(false);
    }
    tracing::warn!(%stream, events_applied, at = head.next_seq, "dropping a snapshot past the head");
    log.tree().remove(key)?;
    Ok(true)
}

/// A consumer may have handled records (and moved its cursor, or given up on one) that were in
/// sled but never checkpointed, so recovery rolled them back: its cursor comes back to the head
/// and those dead letters go, or the records appended again under the same sequence numbers
/// would be skipped.
fn lower_consumers(log: &EventLog, heads: &BTreeMap<Sid, u64>) -> Result<(), StoreError> {
    let head_of = |stream: Sid| heads.get(&stream).copied().unwrap_or(0);
    for entry in log.tree().scan_prefix([layout::CURSOR]) {
        let (key, value) = entry?;
        let Some((stream, _)) = layout::parse_consumer_key(&key) else { continue };
        let Ok(cursor) = <[u8; 8]>::try_from(value.as_ref()).map(u64::from_be_bytes) else {
            continue;
        };
        let head = head_of(stream);
        if cursor > head {
            tracing::warn!(%stream, cursor, head, "lowering a consumer's cursor to the head");
            log.tree().insert(key, &head.to_be_bytes()[..])?;
        }
    }
    for key in log.tree().scan_prefix([layout::DEAD_LETTER]).keys() {
        let key = key?;
        let Some((stream, Some(seq))) = layout::parse_consumer_key(&key) else { continue };
        if seq >= head_of(stream) {
            tracing::warn!(%stream, seq, "dropping a dead letter past the head");
            log.tree().remove(key)?;
        }
    }
    Ok(())
}

fn roll_back(log: &EventLog, stream: Sid, head: Head, tail: &[u64]) -> Result<(), StoreError> {
    tracing::warn!(%stream, records = tail.len(), at = head.next_seq, "rolling back unacknowledged appends");
    // Kinds that key nothing (flows, services) get an empty undo: removing the records is all
    // there is to undo for them, as for a stream of no registered kind.
    let undo = visit_kind(stream.prefix(), IndexUndo { log, stream, head })
        .transpose()?
        .unwrap_or_default();
    log.apply_index_changes(&IndexChanges { put: Vec::new(), delete: undo.delete })?;
    log.restore_index_entries(&undo.put)?;
    for seq in tail {
        log.tree().remove(event_key(stream, *seq))?;
    }
    if stream.prefix() == SidPrefix::CHANNEL {
        // The lost appends may have placed, moved or removed messages of any index.
        crate::positions::rebuild(log, stream, false)?;
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

/// The index changes that take a stream's entries back to what its state at `head` implies.
struct IndexUndo<'a> {
    log: &'a EventLog,
    stream: Sid,
    head: Head,
}

impl KindVisitor for IndexUndo<'_> {
    type Output = Result<IndexChanges, StoreError>;
    fn visit<A: Aggregate>(self, _: fn(A::Event) -> AnyEvent) -> Self::Output {
        index_undo::<A>(self.log, self.stream, self.head)
    }
}

/// The index changes that take `stream`'s entries back to what its state at `head` implies:
/// `put` what the lost appends removed, `delete` what only they wrote.
fn index_undo<S: Aggregate>(
    log: &EventLog,
    stream: Sid,
    head: Head,
) -> Result<IndexChanges, StoreError> {
    let mut state = S::default();
    // The entries the checkpointed events keyed: these stay.
    let mut kept = Vec::new();
    // What the state at the checkpoint owns (known at the first lost record).
    let mut owned: Option<Vec<IndexEntry>> = None;
    // Every entry some lost append may have written (each append wrote the diff between two
    // of the states the lost records pass through, and the entries its events keyed), and
    // every checkpointed entry some lost append may have removed.
    let (mut touched, mut removed) = (Vec::new(), Vec::new());
    for item in log.read::<Recorded<S::Event>>(stream, 0) {
        match item {
            Ok(ReplayRecord::Event { seq, event, .. }) if seq < head.next_seq => {
                kept.extend(S::event_index_entries(&event.event, stream));
                state.apply(&event);
            }
            Ok(ReplayRecord::Shredded { seq, .. }) if seq < head.next_seq => {
                state.skip_unreadable()
            }
            Ok(ReplayRecord::Event { event, .. }) => {
                let owned = owned.get_or_insert_with(|| state.index_entries());
                touched.extend(S::event_index_entries(&event.event, stream));
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
    // What only lost appends wrote goes (only while it still points here:
    // `apply_index_changes` deletes by value); what they removed comes back.
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
    Ok(undo)
}

/// Whether any key of the stream is still readable (not a tombstone).
fn keys_left(log: &EventLog, stream: Sid) -> bool {
    log.tree()
        .scan_prefix(stream_prefix(KEY, stream))
        .values()
        .any(|v| v.is_ok_and(|v| v.as_ref() != SHRED_TOMBSTONE))
}

/// [`finish_shred`] for a task's stream, whose marker is `TaskShredded` (it owns no index
/// entries).
fn finish_task_shred(log: &EventLog, stream: Sid, head: Head) -> Result<bool, StoreError> {
    use switchboard_routing::task::TaskEvent;
    let last = log.read::<Recorded<TaskEvent>>(stream, head.next_seq - 1).next();
    let Some(Ok(ReplayRecord::Event { event, .. })) = last else { return Ok(false) };
    if !matches!(event.event, TaskEvent::TaskShredded { .. }) || !keys_left(log, stream) {
        return Ok(false);
    }
    tracing::warn!(%stream, "finishing a task's shred interrupted by a crash");
    destroy_content(log, stream, &IndexChanges::default())?;
    Ok(true)
}

/// A stream whose last record is an erasure marker must have no readable key left.
fn finish_shred(log: &EventLog, stream: Sid, head: Head) -> Result<bool, StoreError> {
    if head.next_seq > 0 && stream.prefix() == SidPrefix::TASK {
        return finish_task_shred(log, stream, head);
    }
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
