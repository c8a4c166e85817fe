//! The provider message ids a channel remembers, so that a provider's redelivery of an inbound
//! message is recognized by the channel it went to.
//!
//! A redelivery (Twilio's or Meta's retry of a webhook we may have stored but not answered) comes
//! from the same customer to the same address, so it is routed to the same channel as the
//! original, whose state knows the id: no global index write or look-up per message. When that
//! channel retired between the two deliveries, the customer's next channel is opened with the ids
//! of the retired one's recent messages (`ChannelCreated::carried_provider_messages`), so the
//! memory follows the customer from channel to channel. Bounded: the last [`CAPACITY`] ids of a
//! channel, and of those only the ones younger than [`CARRY_WINDOW_MILLIS`] are carried, which is
//! beyond any provider's retry horizon (Meta retries for up to 7 days, Twilio within seconds).
//!
//! [`CAPACITY`]: RecentProviderMessages::CAPACITY
//! [`CARRY_WINDOW_MILLIS`]: RecentProviderMessages::CARRY_WINDOW_MILLIS

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Sid, Timestamp};

/// Where a provider's message was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMessageRef {
    /// The provider's message id (`SM…`, `MM…`, `wamid.…`, a Messenger `mid`).
    pub id: String,
    pub channel_sid: Sid,
    /// The message's index in that channel.
    pub index: u64,
    /// When it was stored.
    pub at: Timestamp,
}

/// The provider ids of a channel's latest inbound messages, oldest first, found by id in O(1).
///
/// Shared between copies of a state until one of them changes it (a channel actor copies its
/// state for every command it decides, and must not copy a thousand ids each time; see
/// `ChannelState::apply_deferring_memory`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<ProviderMessageRef>", into = "Vec<ProviderMessageRef>")]
pub struct RecentProviderMessages(Arc<Memory>);

#[derive(Debug, Clone, Default)]
struct Memory {
    order: VecDeque<ProviderMessageRef>,
    /// The position of each id, counted from the first id ever remembered (`evicted` of them
    /// are gone from the front), so that evicting does not renumber the rest.
    positions: HashMap<String, u64>,
    evicted: u64,
}

impl RecentProviderMessages {
    /// The most ids one channel remembers.
    pub const CAPACITY: usize = 1024;
    /// How old a remembered id may be and still be carried to the customer's next channel.
    pub const CARRY_WINDOW_MILLIS: i64 = 7 * 24 * 60 * 60 * 1000;

    pub fn is_empty(&self) -> bool {
        self.0.order.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.order.len()
    }

    /// Where the message with provider id `id` was stored, if it is remembered.
    pub fn find(&self, id: &str) -> Option<&ProviderMessageRef> {
        let memory = &*self.0;
        let position = memory.positions.get(id)?;
        memory.order.get(usize::try_from(position - memory.evicted).ok()?)
    }

    /// Remembers a stored message, forgetting the oldest past [`Self::CAPACITY`]. An id already
    /// remembered keeps its first place (what `decide` lets through never repeats one).
    pub fn remember(&mut self, message: ProviderMessageRef) {
        if self.0.positions.contains_key(&message.id) {
            return;
        }
        let memory = Arc::make_mut(&mut self.0);
        let position = memory.evicted + memory.order.len() as u64;
        memory.positions.insert(message.id.clone(), position);
        memory.order.push_back(message);
        while memory.order.len() > Self::CAPACITY {
            if let Some(oldest) = memory.order.pop_front() {
                memory.positions.remove(&oldest.id);
                memory.evicted += 1;
            }
        }
    }

    /// What a channel opened at `now` for the same customer takes over: the ids stored within
    /// [`Self::CARRY_WINDOW_MILLIS`] before it.
    pub fn carried_at(&self, now: Timestamp) -> Vec<ProviderMessageRef> {
        let since = now.0.saturating_sub(Self::CARRY_WINDOW_MILLIS);
        self.0.order.iter().filter(|m| m.at.0 >= since).cloned().collect()
    }
}

impl PartialEq for RecentProviderMessages {
    fn eq(&self, other: &Self) -> bool {
        self.0.order == other.0.order
    }
}

impl Eq for RecentProviderMessages {}

impl From<Vec<ProviderMessageRef>> for RecentProviderMessages {
    fn from(messages: Vec<ProviderMessageRef>) -> Self {
        let mut recent = RecentProviderMessages::default();
        for message in messages {
            recent.remember(message);
        }
        recent
    }
}

impl From<RecentProviderMessages> for Vec<ProviderMessageRef> {
    fn from(recent: RecentProviderMessages) -> Self {
        recent.0.order.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SidPrefix;

    fn message(n: u64, at: i64) -> ProviderMessageRef {
        ProviderMessageRef {
            id: format!("SM{n:032x}"),
            channel_sid: Sid::from_parts(SidPrefix::CHANNEL, [7; 16]),
            index: n,
            at: Timestamp(at),
        }
    }

    #[test]
    fn finds_what_it_remembers_and_forgets_the_oldest_past_capacity() {
        let mut recent = RecentProviderMessages::default();
        let total = RecentProviderMessages::CAPACITY as u64 + 10;
        for n in 0..total {
            recent.remember(message(n, 0));
        }
        assert_eq!(recent.len(), RecentProviderMessages::CAPACITY);
        for n in 0..10 {
            assert_eq!(recent.find(&message(n, 0).id), None, "message {n} was evicted");
        }
        for n in 10..total {
            assert_eq!(recent.find(&message(n, 0).id).map(|m| m.index), Some(n));
        }
        assert_eq!(recent.find("SMnot-there"), None);
    }

    #[test]
    fn a_second_remember_of_one_id_keeps_the_first() {
        let mut recent = RecentProviderMessages::default();
        recent.remember(message(1, 10));
        recent.remember(ProviderMessageRef { index: 99, ..message(1, 20) });
        assert_eq!(recent.len(), 1);
        assert_eq!(recent.find(&message(1, 0).id).map(|m| m.index), Some(1));
    }

    #[test]
    fn carries_only_what_is_inside_the_window() {
        let window = RecentProviderMessages::CARRY_WINDOW_MILLIS;
        let recent: RecentProviderMessages =
            vec![message(1, 0), message(2, 1000), message(3, window + 500)].into();
        let carried = recent.carried_at(Timestamp(window + 1000));
        assert_eq!(carried.iter().map(|m| m.index).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn survives_its_stored_form_with_eviction_counted() {
        let mut recent = RecentProviderMessages::default();
        for n in 0..(RecentProviderMessages::CAPACITY as u64 + 3) {
            recent.remember(message(n, n as i64));
        }
        let bytes = rmp_serde::to_vec_named(&recent).unwrap();
        let back: RecentProviderMessages = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, recent);
        let last = RecentProviderMessages::CAPACITY as u64 + 2;
        assert_eq!(back.find(&message(last, 0).id).map(|m| m.index), Some(last));
        assert_eq!(back.find(&message(3, 0).id).map(|m| m.index), Some(3));
    }
}
