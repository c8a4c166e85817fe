//! Group commit: one thread owns every flush, and every writer waits for a flush that started
//! after its write.
//!
//! sled 0.34 deadlocks when several tasks call `flush_async` at once (perf-limits.md), so nobody
//! but this thread flushes. While one flush runs, new writers queue up; the next flush covers them
//! all, so durable throughput grows with concurrency instead of being capped by the disk's sync
//! rate. sled's `flush` ends in `sync_file_range`, which survives a process crash but not power
//! loss; with [`Durability::Fsync`] the flusher also `fdatasync`s sled's log file, which flushes
//! the device cache too. docs/event-format.md states the guarantee.
//!
//! The flusher also writes the streams' heads. An append does not rewrite its stream's head in
//! sled (that insert was a third of an append's sled work); it stages the new head here, in the
//! same step that hands out its ticket. A flush of generation `g` first writes every head staged
//! for `g`, as one atomic sled batch (the *checkpoint*), then flushes: so an append whose ticket
//! names `g` is inside `g`'s checkpoint, and a crash keeps either all of a checkpoint or none of
//! it, and never a later one without the earlier ones.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;

use switchboard_domain::Sid;

use crate::layout::{stream_prefix, HEAD};
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
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    /// Blocked waiters, by the parity of the generation they wait for: a finished flush wakes only
    /// its own (the others, who wrote while it ran, wait for the next one and would only go back
    /// to sleep, re-taking the lock on the way).
    done: [Condvar; 2],
    progress_tx: watch::Sender<Progress>,
}

/// The group-commit flusher of one sled database.
#[derive(Debug)]
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommit {
    pub fn start(
        db: sled::Db,
        dir: &Path,
        durability: Durability,
    ) -> Result<GroupCommit, StoreError> {
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
            }),
            work: Condvar::new(),
            done: [Condvar::new(), Condvar::new()],
            progress_tx: watch::channel(progress).0,
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("switchboard-flusher".into())
            .spawn(move || flush_loop(&worker, &db, log_file.as_ref()))?;
        Ok(GroupCommit { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Called after a write is in sled: returns the flush generation that will cover it.
    pub fn ticket(&self) -> FlushTicket {
        let mut state = lock(&self.shared.state);
        self.next_generation(&mut state)
    }

    /// Called after an append's records and index changes are in sled: stages `head` as the
    /// stream's new head for the next checkpoint and returns the generation whose checkpoint and
    /// flush will cover it. Both happen under one lock, so the flush named by the ticket cannot
    /// have taken its checkpoint before the head was staged.
    pub fn stage_head(&self, stream: Sid, head: Head) -> FlushTicket {
        let mut state = lock(&self.shared.state);
        state.staged.insert(stream, head);
        self.next_generation(&mut state)
    }

    /// The generation that has completed (its checkpoint and flush are done).
    pub fn completed(&self) -> u64 {
        lock(&self.shared.state).progress.completed
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
        let mut state = lock(&self.shared.state);
        loop {
            if let Some(failure) = &state.failure {
                return Err(StoreError::FlushFailed(failure.clone()));
            }
            if state.progress.completed >= ticket.0 {
                return Ok(());
            }
            let done = &self.shared.done[(ticket.0 % 2) as usize];
            state = done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits, without blocking a thread, until `ticket` is durable.
    pub async fn wait(&self, ticket: FlushTicket) -> Result<(), StoreError> {
        let mut rx = self.shared.progress_tx.subscribe();
        let reached = rx.wait_for(|p| p.failed || p.completed >= ticket.0).await.map(|p| *p);
        match reached {
            Ok(progress) if !progress.failed => Ok(()),
            _ => {
                let failure = lock(&self.shared.state).failure.clone();
                Err(StoreError::FlushFailed(failure.unwrap_or_else(|| "flusher stopped".into())))
            }
        }
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the counters half-updated, so poisoning
    // carries no information worth stopping for.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn flush_loop(shared: &Shared, db: &sled::Db, log_file: Option<&File>) {
    loop {
        let (generation, staged) = {
            let mut state = lock(&shared.state);
            while state.wanted <= state.progress.completed && !state.shutting_down {
                state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.failure.is_some()
                || (state.shutting_down && state.wanted <= state.progress.completed)
            {
                break;
            }
            state.started += 1;
            // Every append staged so far has a ticket of at most this generation, and every later
            // one gets the next: this checkpoint is exactly what this generation covers.
            (state.started, std::mem::take(&mut state.staged))
        };
        let result = flush_once(db, log_file, staged);
        let mut state = lock(&shared.state);
        match result {
            Ok(()) => state.progress.completed = generation,
            Err(error) => {
                tracing::error!(%error, "flush failed; no further write will be acknowledged");
                state.failure = Some(error.to_string());
                state.progress.failed = true;
            }
        }
        shared.progress_tx.send_replace(state.progress);
        if state.progress.failed {
            shared.done.iter().for_each(Condvar::notify_all);
        } else {
            shared.done[(generation % 2) as usize].notify_all();
        }
    }
    // A final flush on the way out, so a clean stop leaves nothing only in memory.
    let staged = std::mem::take(&mut lock(&shared.state).staged);
    let _ = flush_once(db, log_file, staged);
}

fn flush_once(
    db: &sled::Db,
    log_file: Option<&File>,
    staged: HashMap<Sid, Head>,
) -> Result<(), StoreError> {
    if !staged.is_empty() {
        // One batch: sled recovers it whole or not at all, after everything written before it.
        // (A batch makes sled take a lock on every later operation, and rolls its I/O buffer;
        // once per flush that is cheap, once per append it was not: see docs/BENCHMARKS.md.)
        let mut batch = sled::Batch::default();
        for (stream, head) in staged {
            batch.insert(&stream_prefix(HEAD, stream)[..], &head.to_bytes()[..]);
        }
        db.apply_batch(batch)?;
    }
    db.flush()?;
    if let Some(file) = log_file {
        file.sync_data()?;
    }
    Ok(())
}
