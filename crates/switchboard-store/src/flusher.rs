//! Group commit: one thread owns every flush, and every writer waits for a flush that started
//! after its write.
//!
//! sled 0.34 deadlocks when several tasks call `flush_async` at once (sled issue 1241), so nobody
//! but this thread flushes. While one flush runs, new writers queue up; the next flush covers them
//! all, so durable throughput grows with concurrency instead of being capped by the disk's sync
//! rate. sled's `flush` ends in `sync_file_range`, which survives a process crash but not power
//! loss; with [`Durability::Fsync`] the flusher also `fdatasync`s sled's log file, which flushes
//! the device cache too. docs/event-format.md states the guarantee.
//!
//! The flusher also writes the streams' heads. An append does not rewrite its stream's head in
//! sled (that insert was a third of an append's sled work); it stages the new head here, in the
//! same step that hands out its ticket. A flush of generation `g` first writes every head staged
//! for `g` as one sled value, a *checkpoint*, then flushes: so an append whose ticket names `g`
//! is inside `g`'s checkpoint, and a crash keeps either all of a checkpoint or none of it, and
//! never a later one without the earlier ones (sled keeps a prefix of its writes). Checkpoints
//! are numbered across the folder's life and overwrite a ring of [`RING`] slots (`P ‖ slot`), so
//! each costs one sled write. Before a slot is reused, the flusher *folds* the checkpoint it
//! holds: it writes into its `H` entry the head of each stream that checkpoint names and no later
//! one does, then records in `Mcheckpoint` that every checkpoint up to it is folded. A stream
//! named again by one of the next `RING - 1` checkpoints has its `H` entry left for that one, so
//! a stream appended to in every few flushes costs no `H` write until a full fold, and a stream
//! that went quiet costs one. Folding one checkpoint per flush keeps every flush short; folding
//! all of them every [`RING`] checkpoints, as this once did, made one flush in [`RING`] write the
//! head of every busy stream (a thousand in the bench: 5.6 ms at the median on two cores) while
//! every writer waited. A clean close, and the tools that need `H` exact, fold them all. Opening
//! a folder folds whatever checkpoints a crash left (`recovery::fold_journal`).
//!
//! After sled's part of a flush is durable, the flush's entry is written into the durable record
//! (`durable.rs`) before its waiters are told, so a crash of the process never loses an entry
//! of an acknowledged flush. The entry is synced at most `record_sync` later (50 ms by default),
//! with a later flush or, on a quiet log, by the flusher's idle wait: a sync of its own per flush
//! cost 7 to 17 % of the daemon's webhook throughput (docs/BENCHMARKS.md), while sled's data,
//! which the entry only vouches for, is synced before it. A power cut may so take the newest
//! entries (never sled's data): each entry says how many before it were unsynced, and the reader
//! excuses exactly such a gap. The record is never ahead of sled; a crash leaves it behind by at
//! most the flushes of that interval, and the next open writes their entries (`Recovered`).
//!
//! A busy log paces its flushes ([`FlushPacing`]): when many writes are in progress, starting the
//! next flush the moment the last one ends makes small batches, and each flush costs CPU (sled's
//! I/O threads, the sync, the wake-ups) that the writers need. Waiting until a short interval has
//! passed since the last flush started lets more writers join each one, as PostgreSQL's
//! `commit_delay` does once `commit_siblings` transactions are active. A quiet log never waits:
//! a lone writer's flush starts at once.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use switchboard_domain::Sid;

use crate::durable::{checkpoint_digest, DurableRecord, EntryKind, Position};
use crate::layout::{self, stream_prefix, HEAD};
use crate::record::Head;
use crate::StoreError;

/// How far a flush goes before writers are told their appends are durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// sled's flush, then `fdatasync` of its log file: survives power loss. The default.
    #[default]
    Fsync,
    /// sled's flush alone (`sync_file_range`): survives a crash of the process or the kernel's
    /// page cache being written back, not a power cut with a volatile disk cache.
    Flush,
}

/// When a busy log's flushes wait for more writers to join them (see the module's comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPacing {
    /// While busy, a flush starts no sooner than this after the previous one started. Zero:
    /// flushes always run back to back.
    pub interval: Duration,
    /// The log is busy while at least this many writes are in progress ([`Writing`]).
    pub busy_writers: u64,
}

impl FlushPacing {
    /// Flushes back to back, busy or not.
    pub const OFF: FlushPacing = FlushPacing { interval: Duration::ZERO, busy_writers: 0 };
}

impl Default for FlushPacing {
    /// At most a thousand flushes a second once 32 writes are in progress: measured on two cores
    /// (docs/BENCHMARKS.md), 32 and 64 concurrent webhooks went 10–15 % faster with a lower
    /// p99, and 1 and 16 were unchanged.
    fn default() -> FlushPacing {
        FlushPacing { interval: Duration::from_millis(1), busy_writers: 32 }
    }
}

/// One write in progress, from the moment its request arrives until it is acknowledged: the
/// flusher counts these to tell a busy log from a quiet one.
#[derive(Debug)]
#[must_use = "the write counts as in progress only while this is held"]
pub struct Writing<'a>(&'a AtomicU64);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Proof that an append was written; redeem it to wait until it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[must_use = "an append is not durable until its ticket is waited for"]
pub struct FlushTicket(pub(crate) u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    completed: u64,
    failed: bool,
}

#[derive(Debug)]
struct State {
    /// Generation of the newest flush that has started.
    started: u64,
    /// The highest generation some writer waits for.
    wanted: u64,
    progress: Progress,
    failure: Option<String>,
    shutting_down: bool,
    /// Heads staged since the last checkpoint: the next flush to start writes them.
    staged: HashMap<Sid, Head>,
    /// Records the appends behind `staged` added to the log.
    appended: u64,
    /// The appends behind `staged` (a stream appended to twice is staged once).
    appends: u64,
    /// What the newest finished flush made durable.
    durable: Position,
    /// Whether someone waits for the next flush to fold every checkpoint.
    fold_wanted: bool,
    /// Streams whose newest head is staged or in a checkpoint but not yet in `H`.
    unfolded: BTreeSet<Sid>,
    /// Streams with appends whose heads a group holds back (`hold_head`), by how many: their
    /// newest head is in no checkpoint yet, so they stay unfolded whatever a fold writes.
    held: HashMap<Sid, usize>,
}

/// Slots of the ring of checkpoints: they are folded into the `H` entries after this many.
pub const RING: u64 = 64;

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    /// The newest generation that is durable, and whether flushing failed: what blocked waiters
    /// check, so they never take `state`, which every append takes to stage its head.
    completed: AtomicU64,
    failed: AtomicBool,
    /// The lock of blocked waiters alone, only held to check the two above.
    waiting: Mutex<()>,
    /// Blocked waiters, by the parity of the generation they wait for: a finished flush wakes only
    /// its own (the others, who wrote while it ran, wait for the next one and would only go back
    /// to sleep, re-taking the lock on the way).
    done: [Condvar; 2],
    /// The same for async waiters: generation `g`'s are told through `progress[g % 2]`, so a
    /// finished flush does not wake the tasks that wait for the next one.
    progress: [watch::Sender<Progress>; 2],
    /// Writes in progress ([`Writing`]).
    writing: AtomicU64,
    /// Flushes that waited for the pacing interval.
    paced: AtomicU64,
}

/// The group-commit flusher of one sled database.
#[derive(Debug)]
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the flusher. `start` is where the folder is: the number of its newest checkpoint
    /// (all folded: see `recovery::fold_journal`) and the records its log holds; `record` is its
    /// durable record, whose newest entry is at or before `start`.
    pub fn start(
        db: sled::Db,
        dir: &Path,
        durability: Durability,
        pacing: FlushPacing,
        start: Position,
        record: (DurableRecord, Duration),
    ) -> Result<GroupCommit, StoreError> {
        let (record, record_sync) = record;
        let log_file = match durability {
            Durability::Fsync => Some(File::open(dir.join("db"))?),
            Durability::Flush => None,
        };
        let progress = Progress { completed: 0, failed: false };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                started: 0,
                wanted: 0,
                progress,
                failure: None,
                shutting_down: false,
                staged: HashMap::new(),
                appended: 0,
                appends: 0,
                durable: start,
                fold_wanted: false,
                unfolded: BTreeSet::new(),
                held: HashMap::new(),
            }),
            work: Condvar::new(),
            completed: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            waiting: Mutex::new(()),
            done: [Condvar::new(), Condvar::new()],
            progress: [watch::channel(progress).0, watch::channel(progress).0],
            writing: AtomicU64::new(0),
            paced: AtomicU64::new(0),
        });
        let worker = Arc::clone(&shared);
        let thread =
            std::thread::Builder::new().name("switchboard-flusher".into()).spawn(move || {
                let mut flush = Flush {
                    db: &db,
                    log_file: log_file.as_ref(),
                    record: Some(record),
                    record_sync,
                    last_record_sync: Instant::now(),
                };
                flush_loop(&worker, &mut flush, pacing, Journal::new(start));
            })?;
        Ok(GroupCommit { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Counts a write as in progress until the returned guard is dropped.
    pub fn writing(&self) -> Writing<'_> {
        self.shared.writing.fetch_add(1, Ordering::Relaxed);
        Writing(&self.shared.writing)
    }

    /// How many flushes so far waited for the pacing interval.
    pub fn paced_flushes(&self) -> u64 {
        self.shared.paced.load(Ordering::Relaxed)
    }

    /// Called after a write is in sled: returns the flush generation that will cover it.
    pub fn ticket(&self) -> FlushTicket {
        let mut state = lock(&self.shared.state);
        self.next_generation(&mut state)
    }

    /// Called after an append's records and index changes are in sled: stages `head` as the
    /// stream's new head for the next checkpoint (the append added `appended` records) and
    /// returns the generation whose checkpoint and flush will cover it. Both happen under one
    /// lock, so the flush named by the ticket cannot have taken its checkpoint before the head
    /// was staged.
    pub fn stage_head(&self, stream: Sid, head: Head, appended: u64) -> FlushTicket {
        let mut state = lock(&self.shared.state);
        stage(&mut state, stream, head, appended);
        self.next_generation(&mut state)
    }

    /// Notes that an append to `stream` is in sled with its head held back by a group
    /// (`AppendGroup`), to be staged with the group's others by [`GroupCommit::stage_held`]:
    /// until then no checkpoint holds it, and the stream counts as unfolded.
    pub fn hold_head(&self, stream: Sid) {
        let mut state = lock(&self.shared.state);
        *state.held.entry(stream).or_default() += 1;
        state.unfolded.insert(stream);
    }

    /// Stages the heads a group held back (each `(stream, head, records appended)`, in the
    /// order of the appends) under one lock: the flush this ticket names holds all of them in
    /// its checkpoint, and no earlier one holds any.
    pub fn stage_held(&self, heads: &[(Sid, Head, u64)]) -> FlushTicket {
        let mut state = lock(&self.shared.state);
        for &(stream, head, appended) in heads {
            if let Entry::Occupied(mut held) = state.held.entry(stream) {
                *held.get_mut() -= 1;
                if *held.get() == 0 {
                    held.remove();
                }
            }
            stage(&mut state, stream, head, appended);
        }
        self.next_generation(&mut state)
    }

    /// Returns a ticket whose flush also folds every checkpoint into the `H` entries: once it
    /// is durable, `H` holds every head staged before this call.
    pub fn fold_ticket(&self) -> FlushTicket {
        let mut state = lock(&self.shared.state);
        state.fold_wanted = true;
        self.next_generation(&mut state)
    }

    /// Whether the newest head of `stream` is staged or only in a checkpoint, not in its `H`
    /// entry yet.
    pub fn is_unfolded(&self, stream: Sid) -> bool {
        lock(&self.shared.state).unfolded.contains(&stream)
    }

    /// Streams whose newest head is not in its `H` entry yet.
    pub fn unfolded_streams(&self) -> BTreeSet<Sid> {
        lock(&self.shared.state).unfolded.clone()
    }

    fn next_generation(&self, state: &mut State) -> FlushTicket {
        let generation = state.started + 1;
        if state.wanted < generation {
            state.wanted = generation;
            self.shared.work.notify_one();
        }
        FlushTicket(generation)
    }

    /// Blocks the calling thread until `ticket` is durable.
    pub fn wait_blocking(&self, ticket: FlushTicket) -> Result<(), StoreError> {
        if let Some(outcome) = self.outcome(ticket) {
            return outcome;
        }
        let done = &self.shared.done[(ticket.0 % 2) as usize];
        let mut waiting = lock(&self.shared.waiting);
        loop {
            // Checked under `waiting`, which the flusher takes after it announces and before it
            // wakes: a waiter either sees the announcement or is asleep when the wake comes.
            if let Some(outcome) = self.outcome(ticket) {
                return outcome;
            }
            waiting = done.wait(waiting).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether `ticket`'s flush is over: durable, or failed.
    fn outcome(&self, ticket: FlushTicket) -> Option<Result<(), StoreError>> {
        // Failed or stopped flushing leaves the generations completed before it durable.
        if self.shared.completed.load(Ordering::Acquire) >= ticket.0 {
            return Some(Ok(()));
        }
        self.shared.failed.load(Ordering::Acquire).then(|| Err(self.stopped()))
    }

    /// What a waiter whose flush will never come is told: why flushing failed, or that it stopped.
    fn stopped(&self) -> StoreError {
        StoreError::FlushFailed(self.failure().unwrap_or_else(|| "flusher stopped".into()))
    }

    /// Waits, without blocking a thread, until `ticket` is durable.
    pub async fn wait(&self, ticket: FlushTicket) -> Result<(), StoreError> {
        // Generations complete one by one, in order, each announced on its parity's channel: if
        // this ticket's has completed, its channel already says so.
        let mut rx = self.shared.progress[(ticket.0 % 2) as usize].subscribe();
        let reached = rx.wait_for(|p| p.failed || p.completed >= ticket.0).await.map(|p| *p);
        match reached {
            Ok(progress) if progress.completed >= ticket.0 => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// What the newest finished flush made durable: its checkpoint and the records the log held.
    pub fn durable_position(&self) -> Position {
        lock(&self.shared.state).durable
    }

    /// Why flushing stopped, if it did: the log then acknowledges nothing more.
    pub fn failure(&self) -> Option<String> {
        lock(&self.shared.state).failure.clone()
    }

    /// Flushes whatever is pending, stops the thread and waits for it.
    pub fn shutdown(&self) {
        {
            let mut state = lock(&self.shared.state);
            state.shutting_down = true;
            self.shared.work.notify_one();
        }
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Stages `head` as `stream`'s for the next checkpoint (an append that added `appended`).
fn stage(state: &mut State, stream: Sid, head: Head, appended: u64) {
    state.staged.insert(stream, head);
    state.appended += appended;
    state.appends += 1;
    state.unfolded.insert(stream);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the counters half-updated, so poisoning
    // carries no information worth stopping for.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the flusher has checkpointed and not folded yet.
struct Journal {
    /// The newest head of each stream whose `H` entry lags it, and the checkpoint that holds it.
    pending: HashMap<Sid, (u64, Head)>,
    /// The streams each unfolded checkpoint names, oldest checkpoint first.
    named: VecDeque<(u64, Vec<Sid>)>,
    /// The number of the newest checkpoint written.
    last: u64,
    /// Every checkpoint up to this number is folded (what `Mcheckpoint` says).
    folded: u64,
    /// Records in the log as of the newest checkpoint.
    records: u64,
}

impl Journal {
    fn new(start: Position) -> Journal {
        let (pending, named) = (HashMap::new(), VecDeque::new());
        let last = start.checkpoint;
        Journal { pending, named, last, folded: last, records: start.records }
    }

    /// Folds every checkpoint up to number `upto`: writes into `H` the heads that no later
    /// checkpoint holds, then the mark. Adds the streams whose `H` it wrote to `folded`.
    fn fold_through(
        &mut self,
        db: &sled::Db,
        upto: u64,
        folded: &mut Vec<Sid>,
    ) -> Result<(), StoreError> {
        if upto <= self.folded {
            return Ok(());
        }
        while self.named.front().is_some_and(|(number, _)| *number <= upto) {
            let Some((number, streams)) = self.named.pop_front() else { break };
            for stream in streams {
                // Named by a later checkpoint too: that one's head is newer, and folds later.
                if let Entry::Occupied(entry) = self.pending.entry(stream) {
                    if entry.get().0 == number {
                        let (_, head) = entry.remove();
                        db.insert(stream_prefix(HEAD, stream), &head.to_bytes()[..])?;
                        folded.push(stream);
                    }
                }
            }
        }
        // The heads first, then the mark that they are in: a crash in between leaves the mark
        // behind, and folding the checkpoints again on open gives the same heads.
        db.insert(layout::META_CHECKPOINT, &upto.to_be_bytes()[..])?;
        self.folded = upto;
        Ok(())
    }
}

/// What a flush writes to: sled, its log file (to sync, for [`Durability::Fsync`]) and the
/// durable record.
struct Flush<'a> {
    db: &'a sled::Db,
    log_file: Option<&'a File>,
    /// `None` only in tests of the checkpoints alone.
    record: Option<DurableRecord>,
    /// The longest an entry of the record waits for its sync (zero: synced with its flush).
    record_sync: Duration,
    last_record_sync: Instant,
}

impl Flush<'_> {
    /// Whether the record holds entries older than `record_sync` that are not synced yet, and
    /// how long until they are due otherwise.
    fn record_due(&self) -> Option<Duration> {
        self.record.as_ref().filter(|record| record.unsynced())?;
        Some(self.record_sync.saturating_sub(self.last_record_sync.elapsed()))
    }

    fn sync_record(&mut self) -> Result<(), StoreError> {
        if let Some(record) = self.record.as_mut() {
            record.sync()?;
            crate::metrics::record_synced();
        }
        self.last_record_sync = Instant::now();
        Ok(())
    }
}

fn flush_loop(shared: &Shared, flush: &mut Flush<'_>, pacing: FlushPacing, mut journal: Journal) {
    let mut last_start: Option<Instant> = None;
    loop {
        let (generation, staged, appended, appends, fold) = {
            let mut state = lock(&shared.state);
            while state.wanted <= state.progress.completed
                && !state.shutting_down
                && state.failure.is_none()
            {
                // A quiet log syncs the record's last entries once they are due.
                match flush.record_due() {
                    Some(due) if due.is_zero() => {
                        drop(state);
                        if let Err(error) = flush.sync_record() {
                            fail(shared, error.to_string());
                        }
                        state = lock(&shared.state);
                    }
                    Some(due) => {
                        state = shared
                            .work
                            .wait_timeout(state, due)
                            .map_or_else(|e| e.into_inner().0, |(state, _)| state);
                    }
                    None => state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner()),
                }
            }
            let busy = shared.writing.load(Ordering::Relaxed) >= pacing.busy_writers;
            // A fold is asked for by a clean close or a tool, which wait for it alone.
            let urgent = state.shutting_down || state.fold_wanted;
            let early = last_start.and_then(|at| pacing.interval.checked_sub(at.elapsed()));
            if let Some(wait) = early.filter(|wait| busy && !urgent && !wait.is_zero()) {
                // Writers arriving meanwhile stage into this same generation.
                drop(state);
                std::thread::sleep(wait);
                shared.paced.fetch_add(1, Ordering::Relaxed);
                state = lock(&shared.state);
            }
            last_start = Some(Instant::now());
            if state.failure.is_some()
                || (state.shutting_down && state.wanted <= state.progress.completed)
            {
                break;
            }
            state.started += 1;
            // Every append staged so far has a ticket of at most this generation, and every later
            // one gets the next: this checkpoint is exactly what this generation covers.
            let fold = std::mem::take(&mut state.fold_wanted);
            let appended = std::mem::take(&mut state.appended);
            let appends = std::mem::take(&mut state.appends);
            (state.started, std::mem::take(&mut state.staged), appended, appends, fold)
        };
        let began = Instant::now();
        let result = flush_once(flush, staged, appended, &mut journal, fold);
        let mut state = lock(&shared.state);
        match result {
            Ok((folded, position)) => {
                crate::metrics::flushed(appends, began.elapsed());
                state.progress.completed = generation;
                state.durable = position;
                for stream in folded {
                    // Staged again meanwhile, or held by a group: its newest head belongs to a
                    // later checkpoint.
                    if !state.staged.contains_key(&stream) && !state.held.contains_key(&stream) {
                        state.unfolded.remove(&stream);
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "flush failed; no further write will be acknowledged");
                state.failure = Some(error.to_string());
                state.progress.failed = true;
            }
        }
        let progress = state.progress;
        // Waiters are told outside `state`: waking them takes a while (a wake-up per thread or
        // task), and every append takes `state` to stage its head.
        drop(state);
        announce(shared, progress, generation);
    }
    // A final flush on the way out, so a clean stop leaves nothing only in memory, the durable
    // record included.
    let (staged, appended) = {
        let mut state = lock(&shared.state);
        (std::mem::take(&mut state.staged), std::mem::take(&mut state.appended))
    };
    if lock(&shared.state).failure.is_none() {
        flush.record_sync = Duration::ZERO;
        if let Ok((_, position)) = flush_once(flush, staged, appended, &mut journal, true) {
            lock(&shared.state).durable = position;
        }
    }
    // Nothing is flushed from here on: whoever waits for a later generation, or takes a ticket
    // after this, is told so rather than left waiting.
    let progress = {
        let mut state = lock(&shared.state);
        state.progress.failed = true;
        state.progress
    };
    announce(shared, progress, progress.completed);
}

/// Stops acknowledging anything: no flush after this one is ever done.
fn fail(shared: &Shared, why: String) {
    tracing::error!(error = %why, "the durable record cannot be synced; no further write will be acknowledged");
    let progress = {
        let mut state = lock(&shared.state);
        state.failure = Some(why);
        state.progress.failed = true;
        state.progress
    };
    announce(shared, progress, progress.completed);
}

/// Tells waiters how far flushing got, `generation` having just finished: those of its parity,
/// or every waiter once flushing has stopped. `state` must not be held.
fn announce(shared: &Shared, progress: Progress, generation: u64) {
    let parity = (generation % 2) as usize;
    if progress.failed {
        for tx in &shared.progress {
            tx.send_replace(progress);
        }
    } else {
        shared.progress[parity].send_replace(progress);
    }
    shared.completed.store(progress.completed, Ordering::Release);
    shared.failed.store(progress.failed, Ordering::Release);
    drop(lock(&shared.waiting));
    if progress.failed {
        shared.done.iter().for_each(Condvar::notify_all);
    } else {
        shared.done[parity].notify_all();
    }
}

/// One flush: sled's part, then its entry in the durable record, written before anyone is told
/// (a crash of the process loses no entry) and synced once `record_sync` has passed since the
/// last sync (at once when it is zero): the record is never ahead of sled, and behind what sled
/// made durable by at most that long after a power cut.
fn flush_once(
    flush: &mut Flush<'_>,
    staged: HashMap<Sid, Head>,
    appended: u64,
    journal: &mut Journal,
    fold_all: bool,
) -> Result<(Vec<Sid>, Position), StoreError> {
    let (folded, position, digest) = flush_sled(flush, staged, appended, journal, fold_all)?;
    if let Some(record) = flush.record.as_mut() {
        record.append(EntryKind::Flush, position, digest)?;
    }
    if flush.record_due().is_some_and(|due| due.is_zero()) {
        flush.sync_record()?;
    }
    Ok((folded, position))
}

/// Writes the checkpoint of this flush, folding first the one whose slot it takes (or all of
/// them, if `fold_all`), and flushes sled. Every flush writes a checkpoint, even one that stages
/// no head (a consumer's cursor, a fold), so that the flush's entry in the durable record covers
/// every write it made durable. Returns the streams whose newest head is now in `H`, where the
/// log is, and the digest of the checkpoint, for the entry.
fn flush_sled(
    flush: &Flush<'_>,
    staged: HashMap<Sid, Head>,
    appended: u64,
    journal: &mut Journal,
    fold_all: bool,
) -> Result<(Vec<Sid>, Position, [u8; 32]), StoreError> {
    let db = flush.db;
    let mut folded = Vec::new();
    let number = journal.last + 1;
    // The slot holds checkpoint `number - RING`: its heads go to `H` before it is overwritten,
    // even those this checkpoint names again, since a crash may keep the fold and lose this
    // checkpoint.
    journal.fold_through(db, number.saturating_sub(RING), &mut folded)?;
    let records = journal.records + appended;
    let checkpoint = encode_checkpoint(number, records, &staged);
    // One value, so sled keeps all of it or none, after everything written before it.
    db.insert(layout::checkpoint_key(number % RING), checkpoint.as_slice())?;
    journal.last = number;
    journal.records = records;
    journal.named.push_back((number, staged.keys().copied().collect()));
    journal.pending.extend(staged.into_iter().map(|(stream, head)| (stream, (number, head))));
    if fold_all {
        journal.fold_through(db, journal.last, &mut folded)?;
    }
    let syncing = Instant::now();
    db.flush()?;
    if let Some(file) = flush.log_file {
        file.sync_data()?;
    }
    crate::metrics::synced(syncing.elapsed());
    // The entry is written only after this, once sled's part is durable: the record must never
    // say more than sled holds.
    let position = Position { checkpoint: number, records };
    // Named again by this checkpoint: its `H` entry lags once more.
    folded.retain(|stream| !journal.pending.contains_key(stream));
    Ok((folded, position, checkpoint_digest(&checkpoint)))
}

/// Checkpoints of folders of format 2: no record count.
const CHECKPOINT_V1: u8 = 1;
/// Checkpoints that say how many records the log holds (folder format 3).
const CHECKPOINT_V2_RECORDS: u8 = 2;

/// `version(1) ‖ number(u64) ‖ records(u64) ‖ (stream(18) ‖ head)*`.
fn encode_checkpoint(number: u64, records: u64, heads: &HashMap<Sid, Head>) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + heads.len() * (layout::STREAM_LEN + Head::LEN));
    out.push(CHECKPOINT_V2_RECORDS);
    out.extend_from_slice(&number.to_be_bytes());
    out.extend_from_slice(&records.to_be_bytes());
    for (stream, head) in heads {
        out.extend_from_slice(&stream.to_bytes());
        out.extend_from_slice(&head.to_bytes());
    }
    out
}

/// A head checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub number: u64,
    /// Records in the log once it was written (`None` in checkpoints of version 1).
    pub records: Option<u64>,
    pub heads: Vec<(Sid, Head)>,
}

/// A checkpoint of either version, or `None` if it is malformed.
pub(crate) fn decode_checkpoint(bytes: &[u8]) -> Option<Checkpoint> {
    let (&version, rest) = bytes.split_first()?;
    let (number, rest) = rest.split_at_checked(8)?;
    let (records, rest) = match version {
        CHECKPOINT_V1 => (None, rest),
        CHECKPOINT_V2_RECORDS => {
            let (records, rest) = rest.split_at_checked(8)?;
            (Some(u64::from_be_bytes(records.try_into().ok()?)), rest)
        }
        _ => return None,
    };
    let entry = layout::STREAM_LEN + Head::LEN;
    if rest.len() % entry != 0 {
        return None;
    }
    let heads = rest
        .chunks(entry)
        .map(|chunk| {
            let (stream, head) = chunk.split_at(layout::STREAM_LEN);
            Some((Sid::from_bytes(stream).ok()?, Head::from_bytes(head)?))
        })
        .collect::<Option<_>>()?;
    Some(Checkpoint { number: u64::from_be_bytes(number.try_into().ok()?), records, heads })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database and its flusher, flushing back to back, for tests.
    fn unpaced() -> (tempfile::TempDir, sled::Db, GroupCommit) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let flusher = started(&db, dir.path(), FlushPacing::OFF);
        (dir, db, flusher)
    }

    fn started(db: &sled::Db, dir: &Path, pacing: FlushPacing) -> GroupCommit {
        let start = Position::default();
        let record =
            DurableRecord::create(dir, &[0; 16], EntryKind::Started, start, [0; 32], false)
                .unwrap();
        let record = (record, Duration::ZERO);
        GroupCommit::start(db.clone(), dir, Durability::Flush, pacing, start, record).unwrap()
    }

    /// After the flusher has stopped, a ticket it will never flush is refused, blocked or not,
    /// while one it flushed before stopping is still good.
    #[test]
    fn a_ticket_after_the_flusher_stopped_is_refused_not_waited_for_forever() {
        let (_dir, db, flusher) = unpaced();
        db.insert(b"before", &[1u8][..]).unwrap();
        let flushed = flusher.ticket();
        flusher.wait_blocking(flushed).unwrap();
        flusher.shutdown();
        let late = flusher.ticket();
        assert!(matches!(flusher.wait_blocking(late), Err(StoreError::FlushFailed(_))));
        flusher.wait_blocking(flushed).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let limit = std::time::Duration::from_secs(10);
            let waited = tokio::time::timeout(limit, flusher.wait(late)).await;
            assert!(matches!(waited, Ok(Err(StoreError::FlushFailed(_)))), "{waited:?}");
            flusher.wait(flushed).await.unwrap();
        });
        assert_eq!(flusher.failure(), None, "a clean stop is not a failure");
    }

    /// Blocked waiters wait outside the flusher's state: none may miss its wake (the test would
    /// hang, and fail at the time limit) or return before its flush is done.
    #[test]
    fn blocked_waiters_of_many_threads_each_learn_that_their_flush_is_done() {
        let (_dir, db, flusher) = unpaced();
        let flusher = Arc::new(flusher);
        let (finished, all_finished) = std::sync::mpsc::channel();
        for writer in 0..16u64 {
            let (db, flusher, finished) = (db.clone(), Arc::clone(&flusher), finished.clone());
            std::thread::spawn(move || {
                for n in 0..50u64 {
                    db.insert([writer.to_be_bytes(), n.to_be_bytes()].concat(), &[1u8][..])
                        .unwrap();
                    let ticket = flusher.ticket();
                    flusher.wait_blocking(ticket).unwrap();
                    assert!(lock(&flusher.shared.state).progress.completed >= ticket.0);
                }
                finished.send(()).unwrap();
            });
        }
        for _ in 0..16 {
            let limit = std::time::Duration::from_secs(30);
            all_finished.recv_timeout(limit).expect("a blocked waiter was never woken");
        }
    }

    /// Once enough writes are in progress, consecutive flushes start at least the interval
    /// apart; below that, none waits.
    #[test]
    fn a_busy_log_paces_its_flushes_and_a_quiet_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let interval = Duration::from_millis(100);
        let pacing = FlushPacing { interval, busy_writers: 2 };
        let flusher = started(&db, dir.path(), pacing);
        let write_and_wait = |n: u64| {
            db.insert(n.to_be_bytes(), &[1u8][..]).unwrap();
            let ticket = flusher.ticket();
            flusher.wait_blocking(ticket).unwrap();
        };
        let one = flusher.writing();
        (0..5).for_each(write_and_wait);
        assert_eq!(flusher.paced_flushes(), 0, "one write in progress is not busy");
        let two = flusher.writing();
        let started = Instant::now();
        (5..9).for_each(write_and_wait);
        // The first may follow the quiet ones by more than the interval; the next three wait.
        assert!(flusher.paced_flushes() >= 3, "{} paced", flusher.paced_flushes());
        assert!(started.elapsed() >= interval * 3, "{:?}", started.elapsed());
        drop((one, two));
        let before = flusher.paced_flushes();
        (9..12).for_each(write_and_wait);
        assert_eq!(flusher.paced_flushes(), before, "the guards are gone: quiet again");
    }

    /// A checkpoint is folded when its slot comes round again: a stream no later checkpoint
    /// names gets its `H` entry then, a stream named in every flush gets none until everything
    /// is folded, and one named again by the checkpoint taking the slot gets the older head in
    /// `H` (a crash may keep the fold and lose the new checkpoint) while staying unfolded.
    /// Driven through `flush_once` itself, so that no batch can split across two flushes.
    #[test]
    fn each_flush_folds_the_checkpoint_whose_slot_it_takes() {
        use switchboard_domain::SidPrefix;
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let mut journal = Journal::new(Position::default());
        let stream = |n: u8| Sid::from_parts(SidPrefix::CHANNEL, [n; 16]);
        let head = |n: u64| Head { next_seq: n, last_hash: [n as u8; 32] };
        let in_h = |sid: Sid| {
            db.get(stream_prefix(HEAD, sid)).unwrap().map(|b| Head::from_bytes(&b).unwrap())
        };
        let mut flush_with = |heads: &[(Sid, Head)], fold_all: bool| {
            let mut flush = Flush {
                db: &db,
                log_file: None,
                record: None,
                record_sync: Duration::ZERO,
                last_record_sync: Instant::now(),
            };
            let heads = heads.iter().copied().collect();
            let (mut folded, _) = flush_once(&mut flush, heads, 0, &mut journal, fold_all).unwrap();
            folded.sort();
            folded
        };
        let (quiet, busy, again) = (stream(1), stream(2), stream(3));
        // Checkpoint 1 names all three; 2 to RING name only the busy one.
        let first = flush_with(&[(quiet, head(1)), (busy, head(1)), (again, head(1))], false);
        assert!(first.is_empty());
        for n in 2..=RING {
            assert!(flush_with(&[(busy, head(n))], false).is_empty());
        }
        assert_eq!((in_h(quiet), in_h(busy), in_h(again)), (None, None, None));
        // Checkpoint RING + 1 takes checkpoint 1's slot.
        let folded = flush_with(&[(busy, head(RING + 1)), (again, head(RING + 1))], false);
        assert_eq!(folded, vec![quiet], "`again` is named by the new checkpoint: still unfolded");
        assert_eq!(in_h(quiet), Some(head(1)));
        assert_eq!(in_h(again), Some(head(1)), "the head a crash could fall back to");
        assert_eq!(in_h(busy), None, "a later checkpoint holds it");
        let mark = db.get(layout::META_CHECKPOINT).unwrap().unwrap();
        assert_eq!(u64::from_be_bytes(mark.as_ref().try_into().unwrap()), 1);
        // What opening after a crash now would see: the newest head of each.
        let checkpoints = crate::recovery::Checkpoints::read(&db).unwrap();
        let (newest, unfolded) = (checkpoints.newest, checkpoints.unfolded);
        assert_eq!(newest, RING + 1);
        assert_eq!(unfolded.get(&busy), Some(&head(RING + 1)));
        assert_eq!(unfolded.get(&again), Some(&head(RING + 1)));
        assert_eq!(unfolded.get(&quiet), None);
        // Folding everything leaves nothing unfolded.
        assert_eq!(flush_with(&[], true), vec![busy, again]);
        assert_eq!((in_h(busy), in_h(again)), (Some(head(RING + 1)), Some(head(RING + 1))));
        assert!(crate::recovery::Checkpoints::read(&db).unwrap().unfolded.is_empty());
    }

    /// Through the flusher thread: a stream leaves the unfolded set once its head is in `H`,
    /// and not before.
    #[test]
    fn a_stream_is_unfolded_until_its_head_is_in_h() {
        use switchboard_domain::SidPrefix;
        let (_dir, db, flusher) = unpaced();
        let (quiet, busy) = (
            Sid::from_parts(SidPrefix::CHANNEL, [1; 16]),
            Sid::from_parts(SidPrefix::CHANNEL, [2; 16]),
        );
        let head = |n: u64| Head { next_seq: n, last_hash: [0; 32] };
        flusher.wait_blocking(flusher.stage_head(quiet, head(1), 1)).unwrap();
        assert!(flusher.is_unfolded(quiet));
        // Enough checkpoints of the other stream for the quiet one's to be folded, however
        // the flushes fell.
        for n in 1..=2 * RING {
            flusher.wait_blocking(flusher.stage_head(busy, head(n), 1)).unwrap();
        }
        assert!(!flusher.is_unfolded(quiet));
        assert!(db.get(stream_prefix(HEAD, quiet)).unwrap().is_some());
        assert!(flusher.is_unfolded(busy));
        flusher.wait_blocking(flusher.fold_ticket()).unwrap();
        assert!(!flusher.is_unfolded(busy));
    }

    #[test]
    fn async_waiters_of_either_parity_learn_that_their_flush_is_done() {
        let (_dir, db, flusher) = unpaced();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let limit = std::time::Duration::from_secs(10);
        runtime
            .block_on(async {
                tokio::time::timeout(limit, async {
                    let mut tickets = Vec::new();
                    for n in 0..20u64 {
                        db.insert(n.to_be_bytes(), &[1u8][..]).unwrap();
                        let ticket = flusher.ticket();
                        tickets.push(ticket);
                        flusher.wait(ticket).await.unwrap();
                        assert!(lock(&flusher.shared.state).progress.completed >= ticket.0);
                    }
                    // Generations of both parities went by; every earlier ticket is done at once.
                    assert!(
                        tickets.iter().any(|t| t.0 % 2 == 0)
                            && tickets.iter().any(|t| t.0 % 2 == 1)
                    );
                    for ticket in tickets {
                        flusher.wait(ticket).await.unwrap();
                    }
                })
                .await
            })
            .unwrap();
        // Waiters of the next generation and the one after it, both parities, at once.
        runtime.block_on(async {
            let first = flusher.ticket();
            let both = async {
                flusher.wait(first).await.unwrap();
                let second = flusher.ticket();
                assert_ne!(first.0 % 2, second.0 % 2);
                flusher.wait(second).await.unwrap();
            };
            tokio::time::timeout(limit, both).await.unwrap();
        });
    }
}
