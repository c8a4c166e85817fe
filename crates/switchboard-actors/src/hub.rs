//! Live fan-out: a channel's durable events go to every open connection of its members.
//!
//! Connections subscribe by identity. A channel actor publishes each event, once durable and in
//! sequence order, with the identities that are members after it, so a member who joins later
//! gets that channel's events from the join on, and non-members never get them. A subscriber that
//! falls behind is dropped rather than let memory grow: it reconnects and resumes from the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_domain::{ChannelEvent, Sid, Timestamp};
use tokio::sync::mpsc;

/// One durable event of a channel, as pushed to members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub channel_sid: Sid,
    pub seq: u64,
    pub at: Timestamp,
    pub event: ChannelEvent,
}

/// A connection's feed: live events, or a note that it fell behind and must resume.
#[derive(Debug)]
pub struct Subscription {
    pub id: u64,
    pub identity: String,
    pub events: mpsc::Receiver<Arc<LiveEvent>>,
}

/// Events queued per connection before it counts as too slow.
const QUEUE_MAX: usize = 1024;

/// Open connections by identity: (connection id, its queue).
type Subscribers = HashMap<String, Vec<(u64, mpsc::Sender<Arc<LiveEvent>>)>>;

#[derive(Debug, Default)]
pub struct Hub {
    subscribers: Mutex<Subscribers>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Hub {
    pub fn subscribe(&self, identity: &str) -> Subscription {
        let (tx, rx) = mpsc::channel(QUEUE_MAX);
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().entry(identity.to_owned()).or_default().push((id, tx));
        Subscription { id, identity: identity.to_owned(), events: rx }
    }

    pub fn unsubscribe(&self, identity: &str, id: u64) {
        let mut subscribers = self.lock();
        if let Some(list) = subscribers.get_mut(identity) {
            list.retain(|(sid, _)| *sid != id);
            if list.is_empty() {
                subscribers.remove(identity);
            }
        }
    }

    /// Delivers `event` to the connections of `identities`.
    pub fn publish(&self, event: Arc<LiveEvent>, identities: &[String]) {
        let mut subscribers = self.lock();
        for identity in identities {
            let Some(list) = subscribers.get_mut(identity) else { continue };
            // A full or closed queue drops the connection: it resumes from the log.
            list.retain(|(_, tx)| tx.try_send(Arc::clone(&event)).is_ok());
            if list.is_empty() {
                subscribers.remove(identity);
            }
        }
    }

    pub fn connections(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }
}
