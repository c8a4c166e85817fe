//! Live fan-out: a channel's durable events go to every open connection of its members.
//!
//! Connections subscribe by identity. A channel actor publishes each event, once durable and in
//! sequence order, with the identities that are members after it, so a member who joins later
//! gets that channel's events from the join on, and non-members never get them. A subscriber that
//! falls behind is dropped rather than let memory grow: it reconnects and resumes from the log.
//! When the daemon stops, the hub tells every connection to say goodbye ([`Hub::close_all`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_domain::{ChannelEvent, Sid, Timestamp};
use tokio::sync::{mpsc, watch};

/// One durable event of a channel, as pushed to members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub channel_sid: Sid,
    /// The channel's service, so that a connection scoped to a service needs not ask the
    /// channel for it (`None` where the sender did not know it: a resume).
    pub service_sid: Option<Sid>,
    pub seq: u64,
    pub at: Timestamp,
    pub event: ChannelEvent,
}

/// What a connection receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// A durable event of a channel the connection's identity is a member of.
    Event(Arc<LiveEvent>),
    /// Another member is typing (relayed, never stored).
    Typing { channel_sid: Sid, service_sid: Option<Sid>, identity: String },
    /// A user of a channel the connection's identity is a member of came online or went away
    /// (see `presence.rs`).
    Reachability { service_sid: Sid, identity: String, is_online: bool, is_notifiable: bool },
}

/// A connection's feed. When it closes without the connection asking, the connection fell
/// behind and should resume from the log.
#[derive(Debug)]
pub struct Subscription {
    pub id: u64,
    pub identity: String,
    /// Shared by every connection it goes to: a queue's slots are a pointer each, so the block of
    /// slots every queue allocates when opened stays small (an idle socket holds one).
    pub events: mpsc::Receiver<Arc<Live>>,
    /// Turns true when the daemon stops: the connection closes (it is true from the start for a
    /// connection opened while the daemon is stopping).
    pub closing: watch::Receiver<bool>,
}

/// Events queued per connection before it counts as too slow.
const QUEUE_MAX: usize = 1024;

/// An open connection: its id, the Chat Service its token is for (`None`: every service), and
/// its queue.
type Connection = (u64, Option<Sid>, mpsc::Sender<Arc<Live>>);

/// Open connections by identity.
type Subscribers = HashMap<String, Vec<Connection>>;

#[derive(Debug)]
pub struct Hub {
    subscribers: Mutex<Subscribers>,
    next_id: std::sync::atomic::AtomicU64,
    closing: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub {
            subscribers: Mutex::default(),
            next_id: std::sync::atomic::AtomicU64::new(0),
            closing: watch::Sender::new(false),
        }
    }
}

impl Hub {
    /// A connection of `identity` whose token reaches `service` (`None`: every service).
    pub fn subscribe(&self, identity: &str, service: Option<Sid>) -> Subscription {
        let (tx, rx) = mpsc::channel(QUEUE_MAX);
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().entry(identity.to_owned()).or_default().push((id, service, tx));
        Subscription { id, identity: identity.to_owned(), events: rx, closing: self.closing() }
    }

    /// Turns true when the daemon stops.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Tells every connection, open now or opened later, that the daemon is stopping.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    pub fn unsubscribe(&self, identity: &str, id: u64) {
        let mut subscribers = self.lock();
        if let Some(list) = subscribers.get_mut(identity) {
            list.retain(|(open, _, _)| *open != id);
            if list.is_empty() {
                subscribers.remove(identity);
            }
        }
    }

    /// Delivers `event` to the connections of `identities`.
    pub fn publish(&self, event: Arc<LiveEvent>, identities: &[String]) {
        self.deliver(Live::Event(event), identities);
    }

    /// Tells `identities` that `identity` is typing in `channel_sid`.
    pub fn typing(
        &self,
        channel_sid: Sid,
        service_sid: Option<Sid>,
        identity: &str,
        identities: &[String],
    ) {
        let live = Live::Typing { channel_sid, service_sid, identity: identity.to_owned() };
        self.deliver(live, identities);
    }

    fn deliver(&self, live: Live, identities: &[String]) {
        let live = Arc::new(live);
        let mut subscribers = self.lock();
        for identity in identities {
            let Some(list) = subscribers.get_mut(identity) else { continue };
            // A full or closed queue drops the connection: it resumes from the log.
            list.retain(|(_, _, tx)| tx.try_send(Arc::clone(&live)).is_ok());
            if list.is_empty() {
                subscribers.remove(identity);
            }
        }
    }

    /// Tells `identities` that a user's reachability changed.
    pub fn reachability(&self, live: Live, identities: &[String]) {
        self.deliver(live, identities);
    }

    /// Whether `identity` has a connection open whose token reaches `service`.
    pub fn online(&self, identity: &str, service: Sid) -> bool {
        self.lock()
            .get(identity)
            .is_some_and(|list| list.iter().any(|(_, reach, _)| reach.is_none_or(|s| s == service)))
    }

    pub fn connections(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::SidPrefix;

    #[test]
    fn closing_reaches_connections_open_before_and_opened_after() {
        let hub = Hub::default();
        let before = hub.subscribe("agent.ann", None);
        assert!(!*before.closing.borrow());
        hub.close_all();
        assert!(*before.closing.borrow());
        assert!(*hub.subscribe("agent.bob", None).closing.borrow());
    }

    #[test]
    fn online_in_a_service_is_a_connection_whose_token_reaches_it() {
        let hub = Hub::default();
        let (ours, theirs) = (
            Sid::from_parts(SidPrefix::SERVICE, [1; 16]),
            Sid::from_parts(SidPrefix::SERVICE, [2; 16]),
        );
        assert!(!hub.online("agent.ann", ours));
        let scoped = hub.subscribe("agent.ann", Some(ours));
        assert!(hub.online("agent.ann", ours));
        assert!(!hub.online("agent.ann", theirs));
        let everywhere = hub.subscribe("agent.ann", None);
        assert!(hub.online("agent.ann", theirs));
        hub.unsubscribe("agent.ann", everywhere.id);
        hub.unsubscribe("agent.ann", scoped.id);
        assert!(!hub.online("agent.ann", ours));
    }
}
