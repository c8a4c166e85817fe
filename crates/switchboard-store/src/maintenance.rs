//! Operator tasks on a stopped log: rebuilding the indexes and rotating the master key.

use std::path::Path;

use switchboard_crypto::{MasterKey, WrappedKey};
use switchboard_domain::{
    Aggregate, ChannelEvent, ChannelState, DomainEvent, IndexEntry, IndexKind, Recorded, Sid,
    SidPrefix,
};

use crate::keyring::SHRED_TOMBSTONE;
use crate::kinds::{visit_kind, KindVisitor, PREFIXES};
use crate::layout::{self, INDEX, KEY};
use crate::log::{open_sled, EventLog, IndexChanges};
use crate::progress::Walked;
use crate::replay::{AnyEvent, ReplayRecord};
use crate::StoreError;

/// What `reindex` rebuilt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReindexReport {
    pub channels: u64,
    pub entries: u64,
    pub removed: u64,
}

/// Drops every index entry and every message position and derives them again from the log,
/// telling `progress` how many of the folder's streams it has done. Listings (`listing.rs`) are
/// dropped with their marks of having been filled: the daemon's next start lists them again
/// from the log, as it does for a folder written before them.
pub fn reindex(
    log: &EventLog,
    progress: &mut dyn FnMut(Walked),
) -> Result<ReindexReport, StoreError> {
    let mut report = ReindexReport::default();
    for prefix in [INDEX, crate::listing::LISTING] {
        for key in log.tree().scan_prefix([prefix]).keys() {
            log.tree().remove(key?)?;
            report.removed += 1;
        }
    }
    // Only the kinds walked below (the folder's own audit stream has no index entries).
    let streams: Vec<_> = log
        .streams()
        .filter(|s| s.as_ref().map_or(true, |s| PREFIXES.contains(&s.prefix())))
        .collect::<Result<_, _>>()?;
    let of = streams.len() as u64;
    let mut done = 0;
    let mut one_more = |progress: &mut dyn FnMut(Walked)| {
        done += 1;
        progress(Walked { done, of });
    };
    progress(Walked { done: 0, of });
    // Every kind but channels (users own their identity under their service), generically;
    // channels below, with their message positions and the entries older builds wrote.
    for prefix in PREFIXES.into_iter().filter(|p| *p != SidPrefix::CHANNEL) {
        for stream in streams.iter().copied().filter(|s| s.prefix() == prefix) {
            let changes =
                visit_kind(prefix, Entries { log, stream }).transpose()?.unwrap_or_default();
            report.entries += changes.put.len() as u64;
            log.apply_index_changes(&changes)?;
            one_more(progress);
        }
    }
    for stream in streams.into_iter().filter(|s| s.prefix() == SidPrefix::CHANNEL) {
        reindex_channel(log, stream, &mut report)?;
        one_more(progress);
    }
    let latest_prefix = [INDEX, IndexKind::LatestChannel.tag()];
    report.entries += log.tree().scan_prefix(latest_prefix).count() as u64;
    log.flush()?;
    Ok(report)
}

/// A channel's index entries and message positions, derived again from its log.
fn reindex_channel(
    log: &EventLog,
    stream: Sid,
    report: &mut ReindexReport,
) -> Result<(), StoreError> {
    let mut state = ChannelState::default();
    let mut changes = IndexChanges::default();
    // Where each message is, placed again on the way (`positions.rs`).
    crate::positions::remove_all(log.tree(), stream)?;
    let mut last = crate::positions::LastAdded::default();
    for item in log.read::<Recorded>(stream, 0) {
        match item? {
            ReplayRecord::Event { seq, event, .. } => {
                if let Some(touch) = event.event.message_touch() {
                    crate::positions::apply(log.tree(), stream, seq, touch, &mut last)?;
                }
                changes.put.extend(event.event.index_entries(stream));
                // Folders written before channels remembered inbound provider ids found
                // redeliveries by these entries; the router still consults them, so they
                // are kept (and written for every inbound message, which does no harm).
                if let ChannelEvent::MessageAdded { index, provider_message_id: Some(id), .. } =
                    &event.event
                {
                    changes.put.push(IndexEntry::provider_message(id, stream, *index));
                }
                state.apply(&event);
            }
            ReplayRecord::Shredded { .. } => state.events_applied += 1,
        }
    }
    if state.erased {
        return Ok(());
    }
    // Every channel of a customer claims to be their latest under its flow; the one that
    // took the customer last keeps the entry, whatever order the channels come in.
    let (latest, owned): (Vec<_>, Vec<_>) =
        state.index_entries().into_iter().partition(|e| e.kind == IndexKind::LatestChannel);
    changes.put.extend(owned);
    log.claim_index_entries(&latest)?;
    report.channels += 1;
    report.entries += changes.put.len() as u64;
    log.apply_index_changes(&changes)?;
    Ok(())
}

/// The index entries a stream of any kind owns now, and those its events own.
struct Entries<'a> {
    log: &'a EventLog,
    stream: Sid,
}

impl KindVisitor for Entries<'_> {
    type Output = Result<IndexChanges, StoreError>;
    fn visit<A: Aggregate>(self, _: fn(A::Event) -> AnyEvent) -> Self::Output {
        let mut state = A::default();
        let mut changes = IndexChanges::default();
        for item in self.log.read::<Recorded<A::Event>>(self.stream, 0) {
            match item? {
                ReplayRecord::Event { event, .. } => {
                    changes.put.extend(A::event_index_entries(&event.event, self.stream));
                    state.apply(&event);
                }
                ReplayRecord::Shredded { .. } => state.skip_unreadable(),
            }
        }
        changes.put.extend(state.index_entries());
        Ok(changes)
    }
}

/// What `rotate_master_key` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotateReport {
    pub rewrapped: u64,
    pub already_rotated: u64,
}

/// Re-wraps every data key (and the index key) of the folder at `path` from `old` to `new`,
/// without touching a single event. Safe to run again after an interruption: keys already under
/// `new` are skipped, and the folder only switches to `new` once every key has. `progress` is
/// told how many of the streams' keys it has done.
pub fn rotate_master_key(
    path: &Path,
    old: &MasterKey,
    new: &MasterKey,
    progress: &mut dyn FnMut(Walked),
) -> Result<RotateReport, StoreError> {
    let db = open_sled(path)?;
    let recorded = db.get(layout::META_MASTER)?.ok_or_else(|| {
        StoreError::Damaged(format!("{} holds no switchboard data", path.display()))
    })?;
    if recorded.as_ref() != old.fingerprint().0 && recorded.as_ref() != new.fingerprint().0 {
        return Err(StoreError::Damaged(format!(
            "the folder is sealed under neither the old key ({}) nor the new one ({})",
            old.fingerprint(),
            new.fingerprint()
        )));
    }
    let mut report = RotateReport::default();
    let mut batch = sled::Batch::default();
    // Counted first: a pass over the keys alone is cheap beside unwrapping each.
    let of = db.scan_prefix([KEY]).keys().count() as u64;
    progress(Walked { done: 0, of });
    for (done, entry) in (1..).zip(db.scan_prefix([KEY])) {
        progress(Walked { done, of });
        let (key, value) = entry?;
        if value.as_ref() == SHRED_TOMBSTONE {
            continue;
        }
        let stream = layout::parse_stream_key(&key)
            .ok_or_else(|| StoreError::Damaged("a key entry is malformed".into()))?;
        let key_id = key
            .get(key.len() - 4..)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| StoreError::Damaged("a key entry is malformed".into()))?;
        let context = layout::key_context(stream, key_id);
        if let Some(rewrapped) = rewrap(&value, old, new, &context, &mut report)? {
            batch.insert(key, rewrapped);
        }
    }
    let index_key = db
        .get(layout::META_INDEX_KEY)?
        .ok_or_else(|| StoreError::Damaged("the index key is missing".into()))?;
    if let Some(rewrapped) = rewrap(&index_key, old, new, layout::INDEX_KEY_CONTEXT, &mut report)? {
        batch.insert(layout::META_INDEX_KEY, rewrapped);
    }
    if let Some(system_key) = db.get(layout::META_SYSTEM_KEY)? {
        if let Some(rewrapped) =
            rewrap(&system_key, old, new, layout::SYSTEM_KEY_CONTEXT, &mut report)?
        {
            batch.insert(layout::META_SYSTEM_KEY, rewrapped);
        }
    }
    db.apply_batch(batch)?;
    db.flush()?;
    // Only now, with every key under the new master, does the folder say so.
    db.insert(layout::META_MASTER, &new.fingerprint().0[..])?;
    db.flush()?;
    std::fs::File::open(path.join("db"))?.sync_data()?;
    Ok(report)
}

fn rewrap(
    stored: &[u8],
    old: &MasterKey,
    new: &MasterKey,
    context: &[u8],
    report: &mut RotateReport,
) -> Result<Option<Vec<u8>>, StoreError> {
    let wrapped = WrappedKey::from_bytes(stored)?;
    if wrapped.master == new.fingerprint() {
        report.already_rotated += 1;
        return Ok(None);
    }
    let key = wrapped.unwrap(old, context)?;
    report.rewrapped += 1;
    Ok(Some(WrappedKey::wrap(new, &key, context).to_bytes()))
}
