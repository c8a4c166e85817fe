//! Group commit: one thread owns every flush, and every writer waits for a flush that started
//! after its write.
//!
//! sled 0.34 deadlocks when several tasks call `flush_async` at once (perf-limits.md), so nobody
//! but this thread flushes. While one flush runs, new writers queue up; the next flush covers them
//! all, so durable throughput grows with concurrency instead of being capped by the disk's sync
//! rate. sled's `flush` ends in `sync_file_range`, which survives a process crash but not power
//! loss; with [`Durability::Fsync`] the flusher also `fdatasync`s sled's log file, which flushes
//! the device cache too. docs/event-format.md states the guarantee.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;

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
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
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
            }),
            work: Condvar::new(),
            done: Condvar::new(),
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
            state = self.shared.done.wait(state).unwrap_or_else(|e| e.into_inner());
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
        let generation = {
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
            state.started
        };
        let result = flush_once(db, log_file);
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
        shared.done.notify_all();
    }
    // A final flush on the way out, so a clean stop leaves nothing only in memory.
    let _ = flush_once(db, log_file);
}

fn flush_once(db: &sled::Db, log_file: Option<&File>) -> Result<(), StoreError> {
    db.flush()?;
    if let Some(file) = log_file {
        file.sync_data()?;
    }
    Ok(())
}
