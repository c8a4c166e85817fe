//! The lookups the store keeps beside the log, derived from events and state alone.
//!
//! An index entry maps a lookup key (a customer's address under a Flex Flow, a unique name under a
//! service, a provider's message id) to a channel. The domain says which entries exist; the store
//! hashes the keys under a secret so no customer value is written in the clear, and `reindex`
//! rebuilds them all from the log. Two kinds of entries exist: those a channel's current state owns
//! (they come and go with the state) and those a single event owns (they are never removed).

use crate::{ChannelEvent, ChannelState, ChannelStatus, Sid, Timestamp};

/// What an index entry looks up. The numbers are part of the on-disk key layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexKind {
    /// (Flex Flow, customer address) → the channel new messages from that customer go to.
    Binding = 1,
    /// (service, unique name) → channel.
    UniqueName = 2,
    /// (provider message id) → the channel and message index of one of our replies, so status
    /// reports find it. (Folders written before channels remembered inbound ids hold inbound
    /// messages' ids here too; the router still consults them when it opens a channel.)
    ProviderMessage = 3,
    /// (media SID) → the channel that holds the medium (and the message that carries it).
    Media = 4,
    /// (service, identity) → the Chat User (`US…`) of that identity.
    UserIdentity = 5,
    /// (Flex Flow, customer address) → the customer's latest channel under that flow, whatever
    /// its status: what their next channel takes the recent provider message ids from. Its
    /// number is when that channel last took the customer (created or reactivated, in ms), so
    /// a channel the API reactivates takes the entry back, and `reindex` picks the latest.
    LatestChannel = 6,
    /// (message SID) → the channel and index of the message: how a message is fetched by SID
    /// without reading its channel's history. Owned by the event that added it; a removed
    /// message keeps its entry and is found removed.
    Message = 7,
}

impl IndexKind {
    pub const fn tag(self) -> u8 {
        self as u8
    }
}

/// One entry: the plain lookup key (hashed before it is stored) and what it points to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexEntry {
    pub kind: IndexKind,
    /// What narrows the lookup: the flow for bindings, the service for unique names.
    pub scope: Option<Sid>,
    pub value: String,
    pub channel_sid: Sid,
    pub message_index: Option<u64>,
}

impl IndexEntry {
    /// The channel a customer's next message to `flex_flow_sid` goes to.
    pub fn binding(flex_flow_sid: Sid, customer_address: &str, channel_sid: Sid) -> IndexEntry {
        IndexEntry {
            kind: IndexKind::Binding,
            scope: Some(flex_flow_sid),
            value: customer_address.to_owned(),
            channel_sid,
            message_index: None,
        }
    }

    /// The customer's latest channel under `flex_flow_sid`, theirs since `since`.
    pub fn latest_channel(
        flex_flow_sid: Sid,
        customer_address: &str,
        channel_sid: Sid,
        since: Timestamp,
    ) -> IndexEntry {
        IndexEntry {
            kind: IndexKind::LatestChannel,
            message_index: Some(u64::try_from(since.0).unwrap_or(0)),
            ..IndexEntry::binding(flex_flow_sid, customer_address, channel_sid)
        }
    }

    pub fn unique_name(service_sid: Sid, unique_name: &str, channel_sid: Sid) -> IndexEntry {
        IndexEntry {
            kind: IndexKind::UniqueName,
            scope: Some(service_sid),
            value: unique_name.to_owned(),
            channel_sid,
            message_index: None,
        }
    }

    /// The user an identity has in a service. `channel_sid` holds the user's SID: the entry
    /// points at a stream, whatever its kind.
    pub fn user_identity(service_sid: Sid, identity: &str, user_sid: Sid) -> IndexEntry {
        IndexEntry {
            kind: IndexKind::UserIdentity,
            scope: Some(service_sid),
            value: identity.to_owned(),
            channel_sid: user_sid,
            message_index: None,
        }
    }

    pub fn message(message_sid: Sid, channel_sid: Sid, index: u64) -> IndexEntry {
        IndexEntry {
            kind: IndexKind::Message,
            scope: None,
            value: message_sid.to_string(),
            channel_sid,
            message_index: Some(index),
        }
    }

    pub fn media(media_sid: Sid, channel_sid: Sid, index: Option<u64>) -> IndexEntry {
        IndexEntry {
            kind: IndexKind::Media,
            scope: None,
            value: media_sid.to_string(),
            channel_sid,
            message_index: index,
        }
    }

    pub fn provider_message(provider_message_id: &str, channel_sid: Sid, index: u64) -> IndexEntry {
        IndexEntry {
            kind: IndexKind::ProviderMessage,
            scope: None,
            value: provider_message_id.to_owned(),
            channel_sid,
            message_index: Some(index),
        }
    }
}

impl ChannelState {
    /// The entries this state owns now. A binding holds while the channel is active, and for a
    /// long-lived channel also while inactive, so the customer's next message comes back to it.
    pub fn index_entries(&self) -> Vec<IndexEntry> {
        let mut entries = Vec::new();
        let Some(channel_sid) = self.sid else { return entries };
        // A deleted channel releases its customer and its unique name.
        if self.is_removed() {
            return entries;
        }
        if let (Some(flow), Some(address)) = (self.flex_flow_sid, &self.customer_address) {
            if self.status == ChannelStatus::Active || self.long_lived {
                entries.push(IndexEntry::binding(flow, address, channel_sid));
            }
            let since = self.reactivated_at.map_or(self.date_created, |r| r.max(self.date_created));
            entries.push(IndexEntry::latest_channel(flow, address, channel_sid, since));
        }
        if let (Some(service), Some(name)) = (self.service_sid, &self.unique_name) {
            entries.push(IndexEntry::unique_name(service, name, channel_sid));
        }
        entries
    }
}

impl ChannelEvent {
    /// The entries this one event owns, for the channel it was appended to.
    pub fn index_entries(&self, channel_sid: Sid) -> Vec<IndexEntry> {
        match self {
            // An inbound message's provider id is remembered by the channel's state instead
            // (`RecentProviderMessages`): one sled write fewer per message.
            // A message whose SID is derived from its place needs no entry to be found by SID
            // (`Sid::message_of`); only those stored before SIDs were derived have one.
            // Media are found by SID alone (the Media resource's URL names no channel).
            ChannelEvent::MessageAdded { message_sid, index, media, .. } => {
                let drawn = (*message_sid != Sid::message_of(channel_sid, *index))
                    .then(|| IndexEntry::message(*message_sid, channel_sid, *index));
                let media = media.iter().map(|m| IndexEntry::media(m.sid, channel_sid, None));
                drawn.into_iter().chain(media).collect()
            }
            ChannelEvent::MediaStored { media_sid, .. } => {
                vec![IndexEntry::media(*media_sid, channel_sid, None)]
            }
            ChannelEvent::DeliveryStatusChanged {
                index, provider_message_id: Some(id), ..
            } => {
                vec![IndexEntry::provider_message(id, channel_sid, *index)]
            }
            _ => Vec::new(),
        }
    }
}
