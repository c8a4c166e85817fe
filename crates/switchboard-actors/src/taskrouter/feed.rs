//! TaskRouter's live feed to workers' sockets: every event the router appends, mapped to
//! Twilio's event types (`switchboard_routing::events`), goes to the open connections of the
//! worker it concerns, once durable and in the order it was appended; the same mapping replays a
//! stream from the log for a connection catching up. It also counts each worker's open
//! connections, so that a worker whose last one closed can be set offline after a grace.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use switchboard_domain::{Aggregate, Recorded, Sid, Timestamp};
use switchboard_routing::events::RouterEvent;
use switchboard_routing::task::TaskState;
use switchboard_routing::worker::WorkerState;
use switchboard_store::{EventLog, ReplayRecord};
use tokio::sync::mpsc;

use crate::streams::Logged;
use crate::EngineError;

/// What an event is about, as it was right after it.
#[derive(Debug, Clone)]
pub enum Subject {
    Task(Arc<TaskState>),
    Worker(Arc<WorkerState>),
}

/// One durable TaskRouter event of a stream (a task's `WT…` or a worker's `WK…`).
#[derive(Debug, Clone)]
pub struct FeedItem {
    pub stream_sid: Sid,
    pub seq: u64,
    pub at: Timestamp,
    pub event: RouterEvent,
    pub subject: Subject,
}

/// Items queued per connection before it counts as too slow (it is dropped and catches up).
const QUEUE_MAX: usize = 1024;

/// A worker connection's feed; closed by the feed when the connection fell behind.
#[derive(Debug)]
pub struct WorkerSubscription {
    pub id: u64,
    pub worker_sid: Sid,
    pub items: mpsc::Receiver<Arc<FeedItem>>,
}

/// An open connection of a worker: its id and its queue.
type Subscriber = (u64, mpsc::Sender<Arc<FeedItem>>);

#[derive(Debug, Default)]
struct Inner {
    subscribers: HashMap<Sid, Vec<Subscriber>>,
    /// Each worker's open connections and how many times one opened: a grace timer that
    /// finds the count changed knows the worker came back meanwhile.
    connections: HashMap<Sid, (usize, u64)>,
    next_id: u64,
    /// Appended batches not yet told, by the order they were appended in.
    staged: BTreeMap<u64, Vec<Arc<FeedItem>>>,
    next_batch: u64,
}

#[derive(Debug, Default)]
pub struct Feed {
    inner: Mutex<Inner>,
}

impl Feed {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any worker's connection is open (else nothing is gathered for the feed).
    pub(crate) fn listened(&self) -> bool {
        !self.lock().subscribers.is_empty()
    }

    /// A connection of `worker`: counted until [`Feed::unsubscribe`].
    pub fn subscribe(&self, worker: Sid) -> WorkerSubscription {
        let (tx, rx) = mpsc::channel(QUEUE_MAX);
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.subscribers.entry(worker).or_default().push((id, tx));
        let count = inner.connections.entry(worker).or_default();
        *count = (count.0 + 1, count.1 + 1);
        WorkerSubscription { id, worker_sid: worker, items: rx }
    }

    /// Ends a connection; returns the worker's opening count when it was its last one (what a
    /// grace timer compares with [`Feed::still_away`]), else `None`.
    pub fn unsubscribe(&self, subscription: &WorkerSubscription) -> Option<u64> {
        let worker = subscription.worker_sid;
        let mut inner = self.lock();
        if let Some(list) = inner.subscribers.get_mut(&worker) {
            list.retain(|(id, _)| *id != subscription.id);
            if list.is_empty() {
                inner.subscribers.remove(&worker);
            }
        }
        let count = inner.connections.entry(worker).or_default();
        count.0 = count.0.saturating_sub(1);
        (count.0 == 0).then_some(count.1)
    }

    /// Whether `worker` has had no connection since the one that closed at `opened`.
    pub fn still_away(&self, worker: Sid, opened: u64) -> bool {
        self.lock().connections.get(&worker).is_none_or(|(open, n)| *open == 0 && *n == opened)
    }

    /// Keeps a batch just appended (under the router's lock, so batches are numbered in the
    /// order of their appends); told by [`Feed::durable`] once its flush is done.
    pub(crate) fn stage(&self, items: Vec<FeedItem>) -> Option<u64> {
        if items.is_empty() {
            return None;
        }
        let mut inner = self.lock();
        let batch = inner.next_batch;
        inner.next_batch += 1;
        inner.staged.insert(batch, items.into_iter().map(Arc::new).collect());
        Some(batch)
    }

    /// Batch `batch` is durable, and so is every batch appended before it (flushes complete in
    /// order): tells them all, in order. With `told` false (the flush failed) they are dropped.
    pub(crate) fn durable(&self, batch: u64, told: bool) {
        let mut inner = self.lock();
        let later = inner.staged.split_off(&(batch + 1));
        let ready = std::mem::replace(&mut inner.staged, later);
        if !told {
            return;
        }
        for item in ready.into_values().flatten() {
            let Some(worker) = item.event.worker_sid else { continue };
            let Some(list) = inner.subscribers.get_mut(&worker) else { continue };
            // A full or closed queue drops the connection: it catches up from the log.
            list.retain(|(_, tx)| tx.try_send(Arc::clone(&item)).is_ok());
            if list.is_empty() {
                inner.subscribers.remove(&worker);
            }
        }
    }
}

/// The feed's items of one change, each event mapped with the state before and after it.
pub(crate) fn items_of<A: Aggregate>(
    sid: Sid,
    logged: &Logged<A>,
    at: Timestamp,
    map: fn(&A, &A::Event, &A) -> Vec<RouterEvent>,
    subject: fn(&A) -> Subject,
) -> Vec<FeedItem> {
    let mut state = logged.before.clone();
    let mut items = Vec::new();
    for (seq, event) in (logged.first_seq..).zip(&logged.events) {
        let before = state.clone();
        state.apply(&Recorded::new(at, event.clone()));
        for mapped in map(&before, event, &state) {
            items.push(FeedItem {
                stream_sid: sid,
                seq,
                at,
                event: mapped,
                subject: subject(&state),
            });
        }
    }
    items
}

pub(crate) fn task_subject(task: &TaskState) -> Subject {
    Subject::Task(Arc::new(task.clone()))
}

pub(crate) fn worker_subject(worker: &WorkerState) -> Subject {
    Subject::Worker(Arc::new(worker.clone()))
}

/// The items of stream `sid` (a task's or a worker's) from `from_seq` up to `head` (exclusive:
/// what was durable when the caller waited) that concern `worker`, read from the log and mapped
/// as the live feed maps them.
pub(crate) fn replay<A: Aggregate>(
    log: &EventLog,
    sid: Sid,
    (from_seq, head): (u64, u64),
    worker: Sid,
    map: fn(&A, &A::Event, &A) -> Vec<RouterEvent>,
    subject: fn(&A) -> Subject,
) -> Result<Vec<FeedItem>, EngineError> {
    let mut state = A::default();
    let mut items = Vec::new();
    for record in log.read::<Recorded<A::Event>>(sid, 0) {
        let (seq, recorded) = match record? {
            ReplayRecord::Event { seq, .. } if seq >= head => break,
            ReplayRecord::Event { seq, event, .. } => (seq, event),
            ReplayRecord::Shredded { .. } => {
                state.skip_unreadable();
                continue;
            }
        };
        let before = state.clone();
        state.apply(&recorded);
        if seq < from_seq {
            continue;
        }
        for mapped in map(&before, &recorded.event, &state) {
            if mapped.worker_sid == Some(worker) {
                let subject = subject(&state);
                items.push(FeedItem {
                    stream_sid: sid,
                    seq,
                    at: recorded.at,
                    event: mapped,
                    subject,
                });
            }
        }
    }
    Ok(items)
}
