//! Users' reachability as Twilio Chat keeps it (`is_online` and `is_notifiable` on the User,
//! when the service's `ReachabilityEnabled` is on): a user is online while any connection of its
//! identity whose token reaches the service is open, whichever device it is on. The members of
//! the user's channels are told once the identity's connections have not changed for
//! [`SETTLE`], and only if the result differs from what they were told last: a connection that
//! drops and comes back, however often, within that time tells nobody anything.
//! `is_notifiable` is always false: no push registrations (Bindings) are kept.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use switchboard_domain::Sid;

use crate::hub::Live;
use crate::Engine;

/// How long a change of connections must hold before the members hear of it.
pub const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct PresenceState {
    /// What the members were last told: the (service, identity) pairs told online. Anyone else
    /// was told offline, or nothing, which is the same.
    told_online: Mutex<HashSet<(Sid, String)>>,
    /// The latest change of each identity whose connections changed less than [`SETTLE`] ago,
    /// numbered from `changes`: only the call for the latest one tells.
    unsettled: Mutex<HashMap<String, u64>>,
    changes: AtomicU64,
}

impl PresenceState {
    fn changed(&self, identity: &str) -> u64 {
        let change = self.changes.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.unsettled).insert(identity.to_owned(), change);
        change
    }

    /// Whether `change` is still the identity's latest; if so, it is settled and forgotten.
    fn settled(&self, identity: &str, change: u64) -> bool {
        let mut unsettled = lock(&self.unsettled);
        let latest = unsettled.get(identity) == Some(&change);
        if latest {
            unsettled.remove(identity);
        }
        latest
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A user's reachability: (`is_online`, `is_notifiable`).
pub type Reachability = (bool, bool);

/// Users' reachability (`Engine::presence`).
#[derive(Debug, Clone, Copy)]
pub struct Presence<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Users' reachability: who is online, and telling the members.
    pub fn presence(&self) -> Presence<'_> {
        Presence { engine: self }
    }
}

impl Presence<'_> {
    /// The reachability of the user `identity` of `service` now, or `None` when the service
    /// keeps none (Twilio then shows `null`).
    pub fn reachability(self, service: Sid, identity: &str) -> Option<Reachability> {
        let enabled = self.engine.services().get(service)?.reachability_enabled;
        enabled.then(|| (self.engine.hub().online(identity, service), false))
    }

    /// `identity` opened or closed a connection: if nothing else changes for [`SETTLE`], the
    /// members of its channels, in each service that keeps reachability, hear whatever changed
    /// since they were last told. Must run inside the actix system.
    pub fn connections_changed(self, identity: &str) {
        if !self.engine.services().reachability_anywhere() {
            return;
        }
        let change = self.engine.inner.presence.changed(identity);
        let (engine, identity) = (self.engine.clone(), identity.to_owned());
        actix::spawn(async move {
            tokio::time::sleep(SETTLE).await;
            if engine.inner.presence.settled(&identity, change) {
                engine.presence().tell_reachability(&identity).await;
            }
        });
    }

    async fn tell_reachability(self, identity: &str) {
        for service in self.engine.services().list().into_iter().filter(|s| s.reachability_enabled)
        {
            let Ok(Some(user)) = self.engine.users().by_identity(service.sid, identity) else {
                continue;
            };
            let mut audience = BTreeSet::new();
            for channel in user.channels.keys() {
                if let Ok(Some(state)) = self.engine.channels().state(*channel).await {
                    let members = state.members.values().map(|m| &m.identity);
                    audience.extend(members.filter(|i| *i != identity).cloned());
                }
            }
            // Compared and told under one lock, with the connections as they are now: whichever
            // of two overlapping calls comes last tells the state that holds.
            let mut told = lock(&self.engine.inner.presence.told_online);
            let online = self.engine.hub().online(identity, service.sid);
            let key = (service.sid, identity.to_owned());
            let changed = if online { told.insert(key) } else { told.remove(&key) };
            if changed {
                let live = Live::Reachability {
                    service_sid: service.sid,
                    identity: identity.to_owned(),
                    is_online: online,
                    is_notifiable: false,
                };
                self.engine.hub().reachability(live, &audience.into_iter().collect::<Vec<_>>());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_change_of_an_identity_settles() {
        let presence = PresenceState::default();
        let first = presence.changed("agent.ann");
        let second = presence.changed("agent.ann");
        let other = presence.changed("agent.bob");
        assert!(!presence.settled("agent.ann", first), "superseded");
        assert!(presence.settled("agent.ann", second));
        assert!(!presence.settled("agent.ann", second), "settled once");
        assert!(presence.settled("agent.bob", other));
    }
}
