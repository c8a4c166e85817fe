//! `EventLog`: the sled database, its keys, and the group-commit flusher, behind one handle.
//!
//! Appends to one stream are serialised by a per-stream lock and checked against the expected
//! sequence number, so a stream never has a gap or a fork even if two writers race. Appends to
//! different streams run in parallel and share flushes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use switchboard_crypto::{DataKey, IndexKey, MasterKey, Sealer, WrappedKey};
use switchboard_domain::{
    DomainEvent, FolderEvent, IndexEntry, IndexKind, Recorded, Sid, SidPrefix, Timestamp,
    EVENT_SCHEMA_VERSION,
};

use crate::durable::{DurableContents, DurableRecord, EntryKind, Position};
use crate::flusher::{Durability, FlushPacing, FlushTicket, GroupCommit, Writing};
use crate::integrity::{FolderProblem, LogMarks};
use crate::keyring::{KeyRing, KeyStatus, StreamKey};
use crate::layout::{self, event_key, index_key, stream_prefix, HEAD, SNAPSHOT};
use crate::record::{self, Head, RecordView, CLEAR_KEY_ID};
use crate::recovery::Checkpoints;
use crate::replay::ReplayRecord;
use crate::sharded::ShardedMap;
use crate::{StoreError, FORMAT_VERSION, OLDEST_FORMAT_VERSION};

/// Where and how the log keeps its data.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub durability: Durability,
    /// When a busy log's flushes wait for more writers to join them.
    pub pacing: FlushPacing,
    /// A snapshot of a channel's state is written every this many events.
    pub snapshot_every: u64,
    /// The most memory sled may use to cache pages.
    pub cache_bytes: u64,
    /// The longest a flush's entry in the durable record waits for its own sync: written before
    /// the flush is acknowledged (a crash of the process loses none), it is made durable at most
    /// this long after, or with its flush when zero (`durable.rs`; docs/BENCHMARKS.md measures
    /// what each costs).
    pub record_sync: std::time::Duration,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            path: path.into(),
            durability: Durability::default(),
            pacing: FlushPacing::default(),
            snapshot_every: 1000,
            cache_bytes: 256 * 1024 * 1024,
            record_sync: DEFAULT_RECORD_SYNC,
        }
    }
}

/// How long a flush's entry in the durable record may wait for its sync, by default.
pub const DEFAULT_RECORD_SYNC: std::time::Duration = std::time::Duration::from_millis(50);

/// How to open a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Open a folder whose log holds less than its durable record says was acknowledged, or
    /// whose record is missing or damaged: the operator's explicit choice
    /// (`serve --accept-data-loss`). The loss is recorded at this time as an event of the
    /// folder's audit stream, and a new durable record starts from what the log holds. Without
    /// it such a folder is refused ([`StoreError::Integrity`]).
    pub accept_loss_at: Option<Timestamp>,
}

/// Why a folder was refused: what the integrity checks found, and how far its writes had been
/// acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityFailure {
    pub problems: Vec<FolderProblem>,
    pub acknowledged: Option<Position>,
}

impl std::fmt::Display for IntegrityFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "the data folder failed its integrity check; Switchboard changed nothing:")?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(
            f,
            "Run `switchboard verify` for the details. The remedy is `switchboard restore` of the \
             latest backup, then `switchboard verify --against` your latest anchored heads. To \
             start with what the log still holds, run `switchboard serve --accept-data-loss` \
             (recorded in the folder's audit stream)."
        )
    }
}

/// The outcome of a successful append: which sequence numbers it took, and the ticket to wait on
/// before telling anyone it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub first_seq: u64,
    pub next_seq: u64,
    pub ticket: FlushTicket,
}

/// Appends to several streams that must survive a crash together or not at all (a TaskRouter
/// change and the records of it in its workspace's event log). Each is written as any append
/// is, but its stream's new head is held back until [`AppendGroup::finish`] stages them all
/// under one lock: the one checkpoint that holds any of them holds every one, and recovery rolls
/// back an append no checkpoint holds, so a flush that falls between two of them makes neither
/// durable. Every append to a stream between its first in a group and the group's end must be
/// made in the group (a stream has one writer). Dropped unfinished, a group stages what it
/// holds, so no head is ever left out of the checkpoints.
#[derive(Debug)]
pub struct AppendGroup<'a> {
    log: &'a EventLog,
    /// (stream, head after the append, records it added), in the order of the appends.
    heads: Mutex<Vec<(Sid, Head, u64)>>,
}

impl AppendGroup<'_> {
    /// Stages every append made in the group; the ticket to wait on, `None` if there was none.
    #[must_use = "the group's appends are not durable until its ticket is waited for"]
    pub fn finish(self) -> Option<FlushTicket> {
        self.stage()
    }

    fn stage(&self) -> Option<FlushTicket> {
        let heads = std::mem::take(&mut *self.heads.lock().unwrap_or_else(|e| e.into_inner()));
        (!heads.is_empty()).then(|| self.log.flusher.stage_held(&heads))
    }
}

impl Drop for AppendGroup<'_> {
    fn drop(&mut self) {
        let _ = self.stage();
    }
}

/// Index changes that go into the same atomic batch as the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexChanges {
    pub put: Vec<IndexEntry>,
    pub delete: Vec<IndexEntry>,
}

/// What the log stores per event. Implemented by the domain's `Recorded`.
pub trait LoggedEvent: Serialize + DeserializeOwned {
    /// Whether this event may be stored unencrypted (only markers without customer data).
    fn clear_text_allowed(&self) -> bool;

    /// What the event does to one message of its stream (`positions.rs`).
    fn message_touch(&self) -> Option<switchboard_domain::MessageTouch> {
        None
    }

    /// Refuses what this build cannot read correctly (written by a newer version).
    fn check_readable(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

impl<E: DomainEvent + Serialize + DeserializeOwned> LoggedEvent for Recorded<E> {
    fn clear_text_allowed(&self) -> bool {
        self.event.is_clear_text_allowed()
    }

    fn message_touch(&self) -> Option<switchboard_domain::MessageTouch> {
        self.event.message_touch()
    }

    fn check_readable(&self) -> Result<(), &'static str> {
        if self.schema > EVENT_SCHEMA_VERSION {
            Err("written by a newer version of switchboard")
        } else {
            Ok(())
        }
    }
}

/// A stream's head as its writer sees it.
#[derive(Debug)]
pub(crate) struct HeadSlot {
    pub head: Head,
    /// The stream's newest message as this process added it (`positions.rs`).
    pub last_added: crate::positions::LastAdded,
    /// Dropped from the cache by `forget`: whoever still holds it must reload.
    pub retired: bool,
}

/// The encrypted event log.
#[derive(Debug)]
pub struct EventLog {
    tree: sled::Db,
    keys: Arc<KeyRing>,
    index_key: IndexKey,
    /// Seals the operator's secrets kept in the folder (credentials made on first start).
    system: Sealer,
    flusher: GroupCommit,
    heads: ShardedMap<Arc<Mutex<HeadSlot>>>,
    config: StoreConfig,
    /// The folder's id (`Mfolder-id`), which its durable record and its audit stream carry.
    folder_id: [u8; 16],
    /// Whether the folder carries the clean-close mark (removed by the first write after it).
    clean: std::sync::atomic::AtomicBool,
    /// Records opened by `read` and `read_at` (`records_opened`).
    records_opened: std::sync::atomic::AtomicU64,
}

impl EventLog {
    /// Opens (or creates) the log at `config.path`, sealed under `master`; refuses a folder
    /// whose log lost acknowledged writes ([`OpenOptions`]).
    pub fn open(config: StoreConfig, master: MasterKey) -> Result<EventLog, StoreError> {
        EventLog::open_with(config, master, &OpenOptions::default())
    }

    /// Opens (or creates) the log at `config.path`, sealed under `master`.
    ///
    /// Before trusting sled, the opener checks it against the folder's durable record
    /// (`durable.rs`, `integrity.rs`): a log behind the record lost acknowledged writes (sled
    /// takes a damaged page for a torn tail and drops everything after it), and is refused
    /// rather than rolled back to a smaller consistent log, unless `options` accept the loss.
    pub fn open_with(
        config: StoreConfig,
        master: MasterKey,
        options: &OpenOptions,
    ) -> Result<EventLog, StoreError> {
        std::fs::create_dir_all(&config.path)?;
        // Read before sled opens the folder: sled's start may already shorten a damaged log.
        let durable = crate::durable::read(&config.path)?;
        let db = open_sled_with_cache(&config.path, config.cache_bytes)?;
        let existed = db.get(layout::META_FORMAT)?.is_some();
        let folder_id = read_folder_id(&db)?;
        let found = Checkpoints::read(&db)?;
        let marks = LogMarks { exists: existed, folder_id, checkpoints: &found };
        let problems = crate::integrity::check(durable.as_ref(), &marks);
        let adoption_interrupted =
            durable.as_ref().is_some_and(|d| crate::integrity::interrupted_adoption(d, &marks));
        let accepted = match (problems.is_empty(), options.accept_loss_at) {
            (true, _) => None,
            (false, Some(at)) => Some(at),
            (false, None) => {
                let acknowledged = crate::integrity::acknowledged(durable.as_ref());
                return Err(StoreError::Integrity(IntegrityFailure { problems, acknowledged }));
            }
        };
        let index_key = prepare_meta(&db, &master)?;
        let system = system_key(&db, &master)?.sealer();
        // Before the flusher starts: it numbers its checkpoints on from the newest.
        let checkpoints = crate::recovery::fold_journal(&db)?;
        let sync = config.durability == Durability::Fsync;
        let starting = Starting { db: &db, dir: &config.path, checkpoints: &checkpoints, sync };
        let (start, record, folder_id) = match (&durable, folder_id) {
            _ if accepted.is_some() => {
                starting.over(EntryKind::LossAccepted, durable.as_ref(), folder_id)?
            }
            (Some(contents), Some(id)) => starting.go_on(contents, id)?,
            (Some(contents), None) if adoption_interrupted => {
                let id = contents.folder_id.unwrap_or_default();
                write_folder_id(&db, &config.path, &id, sync)?;
                starting.go_on(contents, id)?
            }
            // A new folder, or one written before durable records existed.
            _ => starting.over(EntryKind::Started, None, None)?,
        };
        let flusher = GroupCommit::start(
            db.clone(),
            &config.path,
            config.durability,
            config.pacing,
            start,
            (record, config.record_sync),
        )?;
        let clean = db.remove(layout::META_CLEAN)?.is_some();
        let log = EventLog {
            tree: db,
            keys: Arc::new(KeyRing::new(master)),
            index_key,
            system,
            flusher,
            heads: ShardedMap::new(),
            config,
            folder_id,
            clean: std::sync::atomic::AtomicBool::new(false),
            records_opened: std::sync::atomic::AtomicU64::new(0),
        };
        if existed && !clean {
            let repaired = crate::recovery::recover(&log)?;
            if repaired > 0 {
                tracing::warn!(
                    streams = repaired,
                    "recovered from an unclean stop: unfinished appends were rolled back"
                );
            }
        }
        crate::positions::build_if_missing(&log)?;
        log.flush()?;
        if let Some(at) = accepted {
            let acknowledged = crate::integrity::acknowledged(durable.as_ref()).unwrap_or_default();
            let described: Vec<String> = problems.iter().map(ToString::to_string).collect();
            tracing::error!(
                problems = ?described,
                "the operator accepted the loss of acknowledged writes; recorded in the folder's \
                 audit stream"
            );
            log.record_folder_event(
                at,
                FolderEvent::LossAccepted {
                    acknowledged_checkpoint: acknowledged.checkpoint,
                    acknowledged_records: acknowledged.records,
                    found_checkpoint: found.newest,
                    found_records: start.records,
                    problems: described,
                },
            )?;
        }
        Ok(log)
    }

    /// The folder's id: its durable record and its audit stream carry it.
    pub fn folder_id(&self) -> [u8; 16] {
        self.folder_id
    }

    /// The stream of the folder's own audit events ([`FolderEvent`]).
    pub fn folder_stream(&self) -> Sid {
        Sid::from_parts(SidPrefix::DATA_FOLDER, self.folder_id)
    }

    /// Appends an event to the folder's audit stream and waits until it is durable.
    pub fn record_folder_event(&self, at: Timestamp, event: FolderEvent) -> Result<(), StoreError> {
        let stream = self.folder_stream();
        let next = self.next_seq(stream)?;
        let appended =
            self.append(stream, next, &[Recorded::new(at, event)], &IndexChanges::default())?;
        self.wait_durable_blocking(appended.ticket)
    }

    /// What the newest finished flush made durable: its head checkpoint and the records the log
    /// then held, as its entry in the durable record says.
    pub fn durable_position(&self) -> Position {
        self.flusher.durable_position()
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    pub(crate) fn keyring(&self) -> &KeyRing {
        &self.keys
    }

    /// Appends `events` to `stream`, which must be at `expected_seq`, with `index` changes, in one
    /// write. The records are in sled but not yet durable: wait on the returned ticket.
    pub fn append<E: LoggedEvent>(
        &self,
        stream: Sid,
        expected_seq: u64,
        events: &[E],
        index: &IndexChanges,
    ) -> Result<Appended, StoreError> {
        let (first_seq, next_seq, ticket) =
            self.append_staged(stream, expected_seq, (events, index), |next, appended| {
                self.flusher.stage_head(stream, next, appended)
            })?;
        Ok(Appended { first_seq, next_seq, ticket })
    }

    /// [`EventLog::append`] as part of `group`: its head is staged with the group's others when
    /// the group finishes. Returns the sequence numbers it took (first, next).
    pub fn append_in<E: LoggedEvent>(
        &self,
        group: &AppendGroup<'_>,
        stream: Sid,
        expected_seq: u64,
        (events, index): (&[E], &IndexChanges),
    ) -> Result<(u64, u64), StoreError> {
        debug_assert!(std::ptr::eq(group.log, self), "a group of another log");
        let (first_seq, next_seq, ()) =
            self.append_staged(stream, expected_seq, (events, index), |next, appended| {
                self.flusher.hold_head(stream);
                let mut heads = group.heads.lock().unwrap_or_else(|e| e.into_inner());
                heads.push((stream, next, appended));
            })?;
        Ok((first_seq, next_seq))
    }

    /// Appends to a group whose appends become durable together ([`AppendGroup`]).
    pub fn group(&self) -> AppendGroup<'_> {
        AppendGroup { log: self, heads: Mutex::new(Vec::new()) }
    }

    /// Writes an append and hands its new head to `stage` (with the records it added) under
    /// the stream's lock; returns (first, next) sequence and what `stage` gave.
    fn append_staged<E: LoggedEvent, T>(
        &self,
        stream: Sid,
        expected_seq: u64,
        (events, index): (&[E], &IndexChanges),
        stage: impl FnOnce(Head, u64) -> T,
    ) -> Result<(u64, u64, T), StoreError> {
        self.with_head(stream, |slot| {
            if slot.head.next_seq != expected_seq {
                return Err(StoreError::Conflict {
                    stream,
                    expected: expected_seq,
                    actual: slot.head.next_seq,
                });
            }
            let (key, new_key) = match self.keys.current(&self.tree, stream)? {
                KeyStatus::Active(key) => (key, None),
                KeyStatus::Shredded => return Err(StoreError::Shredded(stream)),
                KeyStatus::Missing => {
                    let (key, wrapped) = self.keys.create(stream);
                    (key, Some(wrapped))
                }
            };
            self.unmark_clean()?;
            // The order of these writes is what crash recovery relies on (see `recovery.rs`):
            // the key, the records, the index changes; then the head is staged for the next
            // checkpoint, which the flusher writes before the flush this append's ticket names.
            // sled keeps a prefix of the writes across a crash, so a checkpointed head is never
            // ahead of its records. (sled's `apply_batch` would make an append atomic, but per
            // append it rolls sled's I/O buffer twice and turns every later write of the process
            // into a lock acquisition: about a tenth of the throughput. The flusher uses one per
            // flush, for the checkpoint.)
            let created_key = new_key.is_some();
            if let Some(wrapped) = new_key {
                self.tree.insert(layout::key_key(stream, key.key_id), wrapped)?;
            }
            let mut next = slot.head;
            for event in events {
                let (bytes, hash) = self.encode_record(stream, next, &key, event)?;
                self.tree.insert(event_key(stream, next.next_seq), bytes)?;
                next = Head { next_seq: next.next_seq + 1, last_hash: hash };
            }
            self.apply_index_changes(index)?;
            for (seq, event) in (slot.head.next_seq..).zip(events) {
                if let Some(touch) = event.message_touch() {
                    crate::positions::apply(&self.tree, stream, seq, touch, &mut slot.last_added)?;
                }
            }
            let appended_records = next.next_seq - slot.head.next_seq;
            let staged = stage(next, appended_records);
            if created_key {
                self.keys.remember(stream, key);
            }
            let first_seq = slot.head.next_seq;
            slot.head = next;
            Ok((first_seq, next.next_seq, staged))
        })
    }

    fn encode_record<E: LoggedEvent>(
        &self,
        stream: Sid,
        at: Head,
        key: &StreamKey,
        event: &E,
    ) -> Result<(Vec<u8>, [u8; 32]), StoreError> {
        let plaintext = record::encode_event(event)?;
        if event.clear_text_allowed() {
            return Ok(record::clear_record(&at.last_hash, &plaintext));
        }
        Ok(record::seal_record(
            &key.sealer,
            stream,
            at.next_seq,
            key.key_id,
            &at.last_hash,
            &plaintext,
        ))
    }

    pub(crate) fn apply_index_changes(&self, index: &IndexChanges) -> Result<(), StoreError> {
        for entry in &index.delete {
            // Only while it still points where this entry says: another channel may have taken
            // the key since (a binding to the same customer), and its entry is not ours to drop.
            let key = self.index_entry_key(entry.kind, entry.scope, &entry.value);
            let removed =
                self.tree.compare_and_swap(key, Some(index_value(entry)), None::<&[u8]>)?;
            if removed.is_err() {
                tracing::debug!(kind = ?entry.kind, "an index entry now owned elsewhere is kept");
            }
        }
        for entry in &index.put {
            let key = self.index_entry_key(entry.kind, entry.scope, &entry.value);
            self.tree.insert(key, index_value(entry))?;
        }
        Ok(())
    }

    /// Puts back index entries a rolled-back append removed, each only where no other stream has
    /// taken its key since (that stream's write was acknowledged; the lost removal was not).
    pub(crate) fn restore_index_entries(&self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        for entry in entries {
            let key = self.index_entry_key(entry.kind, entry.scope, &entry.value);
            let restored =
                self.tree.compare_and_swap(key, None::<&[u8]>, Some(index_value(entry)))?;
            if restored.is_err() {
                tracing::debug!(kind = ?entry.kind, "an index entry now owned elsewhere is kept");
            }
        }
        Ok(())
    }

    /// Puts each entry where its key holds none, or one that ranks lower by (number, channel):
    /// for entries whose number says which claimant is the latest (`LatestChannel`).
    pub(crate) fn claim_index_entries(&self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        for entry in entries {
            let key = self.index_entry_key(entry.kind, entry.scope, &entry.value);
            let ours = index_value(entry);
            loop {
                let held = self.tree.get(key)?;
                let outranked = held.as_ref().is_some_and(|held| rank(held) >= rank(&ours));
                if outranked {
                    break;
                }
                if self.tree.compare_and_swap(key, held, Some(ours.as_slice()))?.is_ok() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Marks the folder as cleanly closed: the next open skips crash recovery. Any later write
    /// takes the mark away again.
    pub fn mark_clean(&self) -> Result<(), StoreError> {
        // A cleanly closed folder has every head in its `H` entry and no checkpoint left, so
        // the tools (and older builds) read it without folding anything.
        self.fold()?;
        self.tree.insert(layout::META_CLEAN, &[1u8][..])?;
        self.clean.store(true, std::sync::atomic::Ordering::SeqCst);
        self.flush()
    }

    pub(crate) fn unmark_clean(&self) -> Result<(), StoreError> {
        // A plain load first: the swap is a locked write every appender would contend on.
        if self.clean.load(std::sync::atomic::Ordering::Relaxed)
            && self.clean.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.tree.remove(layout::META_CLEAN)?;
        }
        Ok(())
    }

    fn index_entry_key(&self, kind: IndexKind, scope: Option<Sid>, value: &str) -> [u8; 34] {
        let scope_bytes = scope.map(|s| s.to_bytes());
        let digest = self.index_key.digest(&[
            &[kind.tag()],
            scope_bytes.as_ref().map_or(&[][..], |b| &b[..]),
            value.as_bytes(),
        ]);
        index_key(kind.tag(), &digest)
    }

    /// Looks up an index entry: the channel (and message index) `value` points to.
    pub fn lookup(
        &self,
        kind: IndexKind,
        scope: Option<Sid>,
        value: &str,
    ) -> Result<Option<(Sid, Option<u64>)>, StoreError> {
        let Some(bytes) = self.tree.get(self.index_entry_key(kind, scope, value))? else {
            return Ok(None);
        };
        let damaged = || StoreError::Damaged("an index entry is malformed; run reindex".into());
        let channel = Sid::from_bytes(bytes.get(..Sid::BINARY_LEN).ok_or_else(damaged)?)
            .map_err(|_| damaged())?;
        let index = match bytes.get(Sid::BINARY_LEN..) {
            Some(rest) if rest.len() == 8 => {
                Some(u64::from_be_bytes(rest.try_into().map_err(|_| damaged())?))
            }
            _ => None,
        };
        Ok(Some((channel, index)))
    }

    /// Counts a write as in progress while the guard lives: hold it from a request's arrival to
    /// its acknowledgement, so that the flusher knows when the log is busy (`FlushPacing`).
    pub fn writing(&self) -> Writing<'_> {
        self.flusher.writing()
    }

    /// How many flushes so far waited for more writers (`FlushPacing`): for operators and
    /// benchmarks that want to see pacing at work.
    pub fn paced_flushes(&self) -> u64 {
        self.flusher.paced_flushes()
    }

    /// Waits without blocking a thread until the append behind `ticket` is on disk.
    pub async fn wait_durable(&self, ticket: FlushTicket) -> Result<(), StoreError> {
        self.flusher.wait(ticket).await
    }

    /// Blocks until the append behind `ticket` is on disk.
    pub fn wait_durable_blocking(&self, ticket: FlushTicket) -> Result<(), StoreError> {
        self.flusher.wait_blocking(ticket)
    }

    /// A ticket covering everything written so far: wait on it to know that what another writer
    /// has already written (and this caller has seen) is durable too.
    pub fn ticket(&self) -> FlushTicket {
        self.flusher.ticket()
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        let ticket = self.flusher.ticket();
        self.flusher.wait_blocking(ticket)
    }

    /// Makes everything written so far durable with every head in its `H` entry.
    pub fn fold(&self) -> Result<(), StoreError> {
        let ticket = self.flusher.fold_ticket();
        self.flusher.wait_blocking(ticket)
    }

    /// Whether the log can take and acknowledge writes: the tree answers and flushing works.
    pub fn check_ready(&self) -> Result<(), StoreError> {
        if let Some(failure) = self.flusher.failure() {
            return Err(StoreError::FlushFailed(failure));
        }
        self.tree.get(layout::META_FORMAT)?;
        Ok(())
    }

    /// sled's size on disk, in bytes: what the operator watches the disk for.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.tree.size_on_disk()?)
    }

    /// The head of `stream`: `Head::EMPTY` if it was never written. While the log is open this
    /// is the writer's view, which may be ahead of the checkpoint in sled by appends whose flush
    /// has not finished yet.
    pub fn head(&self, stream: Sid) -> Result<Head, StoreError> {
        self.with_head(stream, |slot| Ok(slot.head))
    }

    /// The next sequence number of `stream` (0 when it was never written).
    pub fn next_seq(&self, stream: Sid) -> Result<u64, StoreError> {
        Ok(self.head(stream)?.next_seq)
    }

    /// Runs `f` on the cached head of `stream`, loaded from its checkpoint on first use, under
    /// the stream's lock: appends to one stream are serialised by it.
    pub(crate) fn with_head<R>(
        &self,
        stream: Sid,
        f: impl FnOnce(&mut HeadSlot) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        loop {
            let slot = self.heads.get_or_load(stream, || {
                let head = match self.tree.get(stream_prefix(HEAD, stream))? {
                    None => Head::EMPTY,
                    Some(bytes) => Head::from_bytes(&bytes).ok_or_else(|| {
                        StoreError::Damaged(format!("head of {stream} is malformed"))
                    })?,
                };
                Ok::<_, StoreError>(Arc::new(Mutex::new(HeadSlot {
                    head,
                    last_added: Default::default(),
                    retired: false,
                })))
            })?;
            let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
            // `forget` dropped this slot after we fetched it: the checkpoint in sled is current
            // (nothing was appended since), so load it afresh rather than write through a slot
            // no later caller sees.
            if guard.retired {
                continue;
            }
            return f(&mut guard);
        }
    }

    /// The bytes the log keeps in memory per stream it has met since the start or since it last
    /// forgot them (`forget`, at hibernation): cached heads and unwrapped keys. sled's own page
    /// cache is apart (`StoreConfig::cache_bytes`).
    pub fn stream_caches_footprint(&self) -> usize {
        // Each head is an `Arc<Mutex<HeadSlot>>`: the counts, the lock and the slot.
        let head = 16 + std::mem::size_of::<Mutex<HeadSlot>>();
        self.heads.footprint(head) + self.keys.cache_footprint()
    }

    /// Whether the head of `stream` is cached (it was used and not forgotten since): what tests
    /// of forgetting look at.
    pub fn caches_head_of(&self, stream: Sid) -> bool {
        self.heads.get(stream).is_some()
    }

    /// Drops what is cached of `stream` (its head and key); the next use reloads it. A head not
    /// folded into its `H` entry yet stays: reloading would read an older one. Returns whether
    /// nothing of the stream is cached now (false: its head stayed; forget it again later).
    pub fn forget(&self, stream: Sid) -> bool {
        let forgotten = self.heads.remove_if(stream, |slot| {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            let checkpointed = !self.flusher.is_unfolded(stream);
            slot.retired = checkpointed;
            checkpointed
        });
        self.keys.forget(stream);
        forgotten
    }

    /// Stages `head` as the new head of `stream` (the caller holds its lock in `with_head`) and
    /// waits until the checkpoint that holds it is durable.
    pub(crate) fn checkpoint_head(
        &self,
        stream: Sid,
        slot: &mut HeadSlot,
        head: Head,
    ) -> Result<FlushTicket, StoreError> {
        let ticket = self.flusher.stage_head(stream, head, head.next_seq - slot.head.next_seq);
        slot.head = head;
        self.flusher.wait_blocking(ticket)?;
        Ok(ticket)
    }

    /// Every stream with a head, in SID byte order: those in `H` and those whose head is only
    /// staged or checkpointed so far.
    pub fn streams(&self) -> impl Iterator<Item = Result<Sid, StoreError>> + '_ {
        let mut streams = self.flusher.unfolded_streams();
        let mut errors = Vec::new();
        for key in self.tree.scan_prefix([HEAD]).keys() {
            match key.map_err(StoreError::from).and_then(|key| {
                layout::parse_stream_key(&key)
                    .ok_or_else(|| StoreError::Damaged("a head key is malformed".into()))
            }) {
                Ok(stream) => {
                    streams.insert(stream);
                }
                Err(error) => errors.push(Err(error)),
            }
        }
        errors.into_iter().chain(streams.into_iter().map(Ok))
    }

    /// Reads `stream` from `from_seq` on, decrypted and decoded, in order.
    pub fn read<E: LoggedEvent>(
        &self,
        stream: Sid,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<ReplayRecord<E>, StoreError>> + '_ {
        self.tree.range(event_key(stream, from_seq)..event_key(stream, u64::MAX)).map(
            move |entry| {
                let (key, value) = entry?;
                let (stream, seq) = layout::parse_event_key(&key)
                    .ok_or_else(|| StoreError::Damaged("an event key is malformed".into()))?;
                self.records_opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.open_record(stream, seq, &value)
            },
        )
    }

    /// Reads the record at `seq` of `stream`, decrypted and decoded; `None` past its head.
    pub fn read_at<E: LoggedEvent>(
        &self,
        stream: Sid,
        seq: u64,
    ) -> Result<Option<ReplayRecord<E>>, StoreError> {
        let Some(bytes) = self.tree.get(event_key(stream, seq))? else { return Ok(None) };
        self.records_opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.open_record(stream, seq, &bytes).map(Some)
    }

    /// Where the records of message `index` of `channel` are; `None` for a message never added,
    /// or removed.
    pub fn message_positions(
        &self,
        channel: Sid,
        index: u64,
    ) -> Result<Option<crate::MessagePositions>, StoreError> {
        crate::positions::get(&self.tree, channel, index)
    }

    /// How many records `read` and `read_at` have opened since the log was opened: what a read
    /// path costs, for tests and the daemon's figures.
    pub fn records_opened(&self) -> u64 {
        self.records_opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Decrypts and decodes one stored record.
    pub(crate) fn open_record<E: LoggedEvent>(
        &self,
        stream: Sid,
        seq: u64,
        bytes: &[u8],
    ) -> Result<ReplayRecord<E>, StoreError> {
        open_record_in(&self.tree, &self.keys, stream, seq, bytes)
    }

    /// The tree and the keys, shared, for readers on other threads (replay's workers).
    pub(crate) fn shared_reader(&self) -> (sled::Tree, Arc<KeyRing>) {
        (sled::Tree::clone(&self.tree), Arc::clone(&self.keys))
    }

    /// Stores a sealed snapshot of `stream` after `events_applied` events. Not waited for: a lost
    /// snapshot only means a longer rehydration.
    pub fn save_snapshot<T: Serialize>(
        &self,
        stream: Sid,
        events_applied: u64,
        state: &T,
    ) -> Result<(), StoreError> {
        let KeyStatus::Active(key) = self.keys.current(&self.tree, stream)? else {
            return Err(StoreError::NotFound(stream));
        };
        let plaintext = rmp_serde::to_vec_named(state)?;
        let sealed =
            record::seal_snapshot(&key.sealer, stream, key.key_id, events_applied, &plaintext);
        self.tree.insert(stream_prefix(SNAPSHOT, stream), sealed)?;
        Ok(())
    }

    /// The latest snapshot of `stream` and the number of events it covers. A snapshot that does not
    /// open or decode, or that covers more events than the stream holds (one of appends a crash
    /// rolled back), is ignored (the caller replays from the start), never trusted.
    pub fn load_snapshot<T: DeserializeOwned>(
        &self,
        stream: Sid,
    ) -> Result<Option<(u64, T)>, StoreError> {
        let Some(bytes) = self.tree.get(stream_prefix(SNAPSHOT, stream))? else {
            return Ok(None);
        };
        let Some(envelope) = record::parse_snapshot(&bytes) else {
            tracing::warn!(%stream, "ignoring a malformed snapshot");
            return Ok(None);
        };
        let record::SnapshotEnvelope { version, key_id, events_applied, sealed } = envelope;
        if version < record::SNAPSHOT_V2_PROVIDER_IDS {
            // Its state lacks what this build's states hold (see `record.rs`): the caller
            // rebuilds the state from the log, and the next snapshot is of this version.
            // (Version 2 holds the same state in a longer form, which still decodes.)
            tracing::debug!(%stream, version, "replacing a snapshot of an older version");
            return Ok(None);
        }
        let next_seq = self.next_seq(stream)?;
        if events_applied > next_seq {
            tracing::warn!(%stream, events_applied, next_seq, "ignoring a snapshot past the head");
            return Ok(None);
        }
        let KeyStatus::Active(key) = self.keys.by_id(&self.tree, stream, key_id)? else {
            return Ok(None);
        };
        let aad = record::snapshot_aad(stream, key_id, events_applied, version);
        let decoded = key
            .sealer
            .open(&aad, sealed)
            .ok()
            .and_then(|plain| rmp_serde::from_slice::<T>(&plain).ok());
        match decoded {
            Some(state) => Ok(Some((events_applied, state))),
            None => {
                tracing::warn!(%stream, "ignoring a snapshot that does not open or decode");
                Ok(None)
            }
        }
    }

    /// How far `consumer` (an outbox) has handled `stream`: the next sequence number to look at.
    /// Consumers derive their work from the log itself, so nothing is queued on the write path
    /// and nothing the log holds can be lost; a cursor only saves redoing work after a restart.
    pub fn cursor(&self, consumer: &str, stream: Sid) -> Result<u64, StoreError> {
        let key = layout::consumer_key(layout::CURSOR, consumer, stream);
        Ok(match self.tree.get(key)? {
            Some(bytes) => bytes.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0),
            None => 0,
        })
    }

    /// Whether `consumer` has ever recorded a cursor for `stream`.
    pub fn has_cursor(&self, consumer: &str, stream: Sid) -> Result<bool, StoreError> {
        Ok(self.tree.contains_key(layout::consumer_key(layout::CURSOR, consumer, stream))?)
    }

    /// Moves a consumer's cursor forward (never backward). Made durable by the next flush.
    pub fn set_cursor(&self, consumer: &str, stream: Sid, next_seq: u64) -> Result<(), StoreError> {
        let key = layout::consumer_key(layout::CURSOR, consumer, stream);
        self.tree.fetch_and_update(key, |old| {
            let old = old.and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes);
            Some(old.max(next_seq).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// Records that `consumer` gave up on record `seq` of `stream`, and why (sealed: a remote
    /// error may quote the message).
    pub fn record_dead_letter(
        &self,
        consumer: &str,
        stream: Sid,
        seq: u64,
        why: &str,
    ) -> Result<(), StoreError> {
        let mut key = layout::consumer_key(layout::DEAD_LETTER, consumer, stream);
        key.extend_from_slice(&seq.to_be_bytes());
        let mut sealed = Vec::new();
        self.system.seal_into(&key, why.as_bytes(), &mut sealed);
        self.tree.insert(key, sealed)?;
        Ok(())
    }

    /// The dead letters of `consumer`: (stream, seq, why), in order.
    pub fn dead_letters(&self, consumer: &str) -> Result<Vec<(Sid, u64, String)>, StoreError> {
        let prefix = {
            let mut p = vec![layout::DEAD_LETTER];
            p.push(u8::try_from(consumer.len()).unwrap_or(u8::MAX));
            p.extend_from_slice(consumer.as_bytes());
            p
        };
        let mut letters = Vec::new();
        for entry in self.tree.scan_prefix(&prefix) {
            let (key, sealed) = entry?;
            let rest = &key[prefix.len()..];
            let (Some(stream), Some(seq)) = (
                rest.get(..layout::STREAM_LEN).and_then(|b| Sid::from_bytes(b).ok()),
                rest.get(layout::STREAM_LEN..)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes),
            ) else {
                continue;
            };
            let why =
                self.system.open(&key, &sealed).map(|b| String::from_utf8_lossy(&b).into_owned());
            letters.push((stream, seq, why.unwrap_or_else(|_| "(unreadable)".into())));
        }
        Ok(letters)
    }

    /// A secret kept sealed in the folder, by name.
    pub fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = secret_key(name);
        let Some(sealed) = self.tree.get(&key)? else { return Ok(None) };
        let plain = self.system.open(&key, &sealed).map_err(|_| {
            StoreError::Damaged(format!("the stored secret {name:?} does not open"))
        })?;
        Ok(Some(plain))
    }

    /// The names of stored secrets that start with `prefix`.
    pub fn secret_names(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut start = layout::META_SECRET_PREFIX.to_vec();
        start.extend_from_slice(prefix.as_bytes());
        let mut names = Vec::new();
        for key in self.tree.scan_prefix(&start).keys() {
            let key = key?;
            let name = &key[layout::META_SECRET_PREFIX.len()..];
            names.push(String::from_utf8_lossy(name).into_owned());
        }
        Ok(names)
    }

    /// Stores a secret sealed under the folder's system key, durably.
    pub fn set_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let key = secret_key(name);
        let mut sealed = Vec::new();
        self.system.seal_into(&key, value, &mut sealed);
        self.tree.insert(key, sealed)?;
        self.flush()
    }

    /// Removes a stored secret, durably: whether there was one.
    pub fn remove_secret(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self.tree.remove(secret_key(name))?.is_some();
        self.flush()?;
        Ok(removed)
    }

    /// Flushes, marks the folder cleanly closed and stops the flusher.
    pub fn close(self) -> Result<(), StoreError> {
        self.mark_clean()?;
        self.flusher.shutdown();
        Ok(())
    }
}

/// How often sled's own background thread runs (milliseconds). Besides writing out sled's
/// buffer (our flusher's flushes make things durable; this one adds nothing to what is
/// acknowledged), that thread is the only place sled 0.34 reclaims its file: it moves the live
/// pages out of segments that fell to half live, for up to half of each period. At sled's
/// default of 500 ms it fell behind a busy log, whose file grew to 2.2–2.4 times the live
/// entries; every 20 ms it keeps up, about 1.8 times (docs/BENCHMARKS.md, "Night of
/// 2026-12-07"). Not stored in the folder: any folder opens with any value.
const SLED_CLEANER_PERIOD_MS: u64 = 20;

/// Opens the sled database of a data folder. sled releases its folder lock from a background
/// thread after the last handle is dropped, so a reopen right after a close may find it still
/// held for a moment: that case is retried briefly before giving up.
pub(crate) fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    open_sled_with_cache(path, 64 * 1024 * 1024)
}

pub(crate) fn open_sled_with_cache(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .flush_every_ms(Some(SLED_CLEANER_PERIOD_MS));
    loop {
        match config.open() {
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return Ok(result?),
        }
    }
}

/// Decrypts and decodes one stored record of `tree`, with the keys of `keys`.
pub(crate) fn open_record_in<E: LoggedEvent>(
    tree: &sled::Tree,
    keys: &KeyRing,
    stream: Sid,
    seq: u64,
    bytes: &[u8],
) -> Result<ReplayRecord<E>, StoreError> {
    let corrupt = |problem: &str| StoreError::Corrupt { stream, seq, problem: problem.into() };
    let view = RecordView::parse(bytes).map_err(corrupt)?;
    let plaintext = if view.key_id == CLEAR_KEY_ID {
        view.body.to_vec()
    } else {
        match keys.by_id(tree, stream, view.key_id)? {
            KeyStatus::Active(key) => key
                .sealer
                .open(
                    &record::record_aad(stream, seq, view.key_id, view.version, view.prev_hash),
                    view.body,
                )
                .map_err(|_| corrupt("authentication tag does not verify"))?,
            KeyStatus::Shredded => return Ok(ReplayRecord::Shredded { stream, seq }),
            KeyStatus::Missing => return Err(corrupt("its data key is missing")),
        }
    };
    let event: E =
        rmp_serde::from_slice(&plaintext).map_err(|e| corrupt(&format!("undecodable: {e}")))?;
    event.check_readable().map_err(corrupt)?;
    if view.key_id == CLEAR_KEY_ID && !event.clear_text_allowed() {
        return Err(corrupt("an event that must be encrypted is stored in the clear"));
    }
    Ok(ReplayRecord::Event { stream, seq, event })
}

/// Refuses a folder a newer build wrote or upgraded: this build could misread what it holds.
pub(crate) fn refuse_newer_format(db: &sled::Db) -> Result<(), StoreError> {
    match db.get(layout::META_FORMAT)? {
        Some(version) if version.len() == 1 && version[0] > FORMAT_VERSION => {
            Err(StoreError::NewerFormat {
                found: version[0],
                oldest: OLDEST_FORMAT_VERSION,
                newest: FORMAT_VERSION,
            })
        }
        _ => Ok(()),
    }
}

/// Checks or writes the `M` entries and returns the index key.
fn prepare_meta(db: &sled::Db, master: &MasterKey) -> Result<IndexKey, StoreError> {
    refuse_newer_format(db)?;
    match db.get(layout::META_FORMAT)? {
        None => {
            let index_key = DataKey::generate();
            let wrapped = WrappedKey::wrap(master, &index_key, layout::INDEX_KEY_CONTEXT);
            // The format entry goes last: a folder is only a folder once the rest is there.
            db.insert(layout::META_INDEX_KEY, wrapped.to_bytes())?;
            db.insert(layout::META_MASTER, &master.fingerprint().0[..])?;
            db.flush()?;
            db.insert(layout::META_FORMAT, &[FORMAT_VERSION][..])?;
            db.flush()?;
            Ok(index_key.to_index_key())
        }
        Some(version)
            if version.len() == 1
                && (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version[0]) =>
        {
            let recorded = db.get(layout::META_MASTER)?.unwrap_or_default();
            if recorded.as_ref() != master.fingerprint().0 {
                return Err(StoreError::Damaged(format!(
                    "this data folder is sealed under master key {}, not the one given ({}); \
                     if a rotation was interrupted, run `switchboard keys rotate` again",
                    hex8(&recorded),
                    master.fingerprint()
                )));
            }
            let wrapped = db
                .get(layout::META_INDEX_KEY)?
                .ok_or_else(|| StoreError::Damaged("the index key is missing".into()))?;
            let index_key =
                WrappedKey::from_bytes(&wrapped)?.unwrap(master, layout::INDEX_KEY_CONTEXT)?;
            if version[0] < FORMAT_VERSION {
                // Before any record of the new version can be written. Nothing else changes: the
                // records already there keep their version and are read as they are.
                db.insert(layout::META_FORMAT, &[FORMAT_VERSION][..])?;
                db.flush()?;
                tracing::info!(
                    from = version[0],
                    to = FORMAT_VERSION,
                    "data folder format upgraded; builds before it can no longer open the folder"
                );
            }
            Ok(index_key.to_index_key())
        }
        Some(version) => Err(StoreError::Damaged(format!(
            "data folder format {:?} is not supported by this build (format {FORMAT_VERSION})",
            version.as_ref()
        ))),
    }
}

/// The stored value of an index entry: `channel sid(18) [‖ message index(u64)]`.
/// How an index value ranks among claimants of one key: by its number, then its channel (the
/// value is the channel then the number, big-endian, so bytes compare as the numbers do).
fn rank(value: &[u8]) -> (&[u8], &[u8]) {
    let (channel, number) = value.split_at(value.len().min(Sid::BINARY_LEN));
    (number, channel)
}

fn index_value(entry: &IndexEntry) -> Vec<u8> {
    let mut value = entry.channel_sid.to_bytes().to_vec();
    if let Some(message_index) = entry.message_index {
        value.extend_from_slice(&message_index.to_be_bytes());
    }
    value
}

fn secret_key(name: &str) -> Vec<u8> {
    let mut key = layout::META_SECRET_PREFIX.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

/// The system key (for sealed secrets), made on first need.
fn system_key(db: &sled::Db, master: &MasterKey) -> Result<DataKey, StoreError> {
    if let Some(wrapped) = db.get(layout::META_SYSTEM_KEY)? {
        return Ok(WrappedKey::from_bytes(&wrapped)?.unwrap(master, layout::SYSTEM_KEY_CONTEXT)?);
    }
    let key = DataKey::generate();
    let wrapped = WrappedKey::wrap(master, &key, layout::SYSTEM_KEY_CONTEXT);
    db.insert(layout::META_SYSTEM_KEY, wrapped.to_bytes())?;
    db.flush()?;
    Ok(key)
}

/// Where an opening folder's flusher starts, and with which durable record.
struct Starting<'a> {
    db: &'a sled::Db,
    dir: &'a Path,
    checkpoints: &'a Checkpoints,
    sync: bool,
}

impl Starting<'_> {
    /// Goes on with the folder's durable record: sled holds at least what its newest entry says.
    /// Checkpoints sled holds past it (a flush that died between sled's sync and its entry) get
    /// entries now, so the record never has a gap.
    fn go_on(
        &self,
        contents: &DurableContents,
        folder_id: [u8; 16],
    ) -> Result<(Position, DurableRecord, [u8; 16]), StoreError> {
        let records = match self.checkpoints.records {
            Some(records) => records,
            None => records_in_heads(self.db)?,
        };
        let start = Position { checkpoint: self.checkpoints.newest, records };
        let mut record = DurableRecord::open(self.dir, contents, self.sync)?;
        let mut known = record.newest();
        for number in known.position.checkpoint + 1..=start.checkpoint {
            let slot = self.checkpoints.slot(number);
            let records = match slot.and_then(|slot| slot.records) {
                _ if number == start.checkpoint => start.records,
                Some(records) => records,
                None => known.position.records,
            };
            let digest = slot.map_or([0; 32], |slot| slot.digest);
            let position = Position { checkpoint: number, records };
            record.append(EntryKind::Recovered, position, digest)?;
            known = record.newest();
        }
        record.sync()?;
        Ok((start, record, folder_id))
    }

    /// Starts a new durable record from what the log holds: for a new folder or one written
    /// before durable records existed (`Started`), or after the operator accepted a loss
    /// (`LossAccepted`). The record is written before the folder id goes into sled, so that a
    /// crash in between leaves an adoption the next open finishes (`interrupted_adoption`).
    fn over(
        &self,
        kind: EntryKind,
        previous: Option<&DurableContents>,
        folder_id: Option<[u8; 16]>,
    ) -> Result<(Position, DurableRecord, [u8; 16]), StoreError> {
        let records = records_in_heads(self.db)?;
        let mut checkpoint = self.checkpoints.newest;
        if kind != EntryKind::Started {
            // Past every number the old record used, and the log says so first: the new
            // record's first entry must never be ahead of sled.
            let acknowledged = crate::integrity::acknowledged(previous).unwrap_or_default();
            checkpoint = checkpoint.max(acknowledged.checkpoint) + 1;
            self.db.insert(layout::META_CHECKPOINT, &checkpoint.to_be_bytes()[..])?;
            sync_sled(self.db, self.dir, self.sync)?;
        }
        let id = folder_id.unwrap_or_else(switchboard_crypto::random_id);
        let start = Position { checkpoint, records };
        let record = DurableRecord::create(self.dir, &id, kind, start, [0; 32], self.sync)?;
        if folder_id.is_none() {
            write_folder_id(self.db, self.dir, &id, self.sync)?;
        }
        Ok((start, record, id))
    }
}

/// Records in the log: every stream's head (in `H`, every checkpoint folded) summed.
fn records_in_heads(db: &sled::Db) -> Result<u64, StoreError> {
    let mut records = 0u64;
    for value in db.scan_prefix([HEAD]).values() {
        let head = Head::from_bytes(&value?)
            .ok_or_else(|| StoreError::Damaged("a stream's head is malformed".into()))?;
        records = records.saturating_add(head.next_seq);
    }
    Ok(records)
}

/// The folder's id, if sled holds one.
fn read_folder_id(db: &sled::Db) -> Result<Option<[u8; 16]>, StoreError> {
    match db.get(layout::META_FOLDER_ID)? {
        None => Ok(None),
        Some(bytes) => bytes
            .as_ref()
            .try_into()
            .map(Some)
            .map_err(|_| StoreError::Damaged("the folder id is malformed".into())),
    }
}

fn write_folder_id(db: &sled::Db, dir: &Path, id: &[u8; 16], sync: bool) -> Result<(), StoreError> {
    db.insert(layout::META_FOLDER_ID, &id[..])?;
    sync_sled(db, dir, sync)
}

/// sled's flush and, for [`Durability::Fsync`], `fdatasync` of its file, as a flush does.
fn sync_sled(db: &sled::Db, dir: &Path, sync: bool) -> Result<(), StoreError> {
    db.flush()?;
    if sync {
        std::fs::File::open(dir.join("db"))?.sync_data()?;
    }
    Ok(())
}

fn hex8(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
