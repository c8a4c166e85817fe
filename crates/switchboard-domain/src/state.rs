//! The state of one chat channel, folded from its events by a total, pure `apply`.
//!
//! `apply` never fails and never panics: an event that makes no sense against the state (a member
//! that is not there, a second creation) changes nothing. `decide` is what keeps such events out
//! of the log; `apply` only has to be deterministic so that replay, snapshots and live actors agree.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{
    ChannelEvent, ChannelKind, DeliveryStatus, ProviderError, ProviderMessageRef,
    RecentProviderMessages, Recorded, Sid, Timestamp, WebhookConfig,
};

/// Whether the channel takes the customer's messages (Flex's `status` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    #[default]
    Active,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    pub identity: String,
    pub role_sid: Option<Sid>,
    pub attributes: String,
    pub last_consumed_index: Option<u64>,
    pub last_consumption_at: Option<Timestamp>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    pub attributes: String,
    pub priority: i64,
    pub timeout_secs: u64,
    pub linked_at: Timestamp,
}

/// The delivery of one outbound message as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    pub status: DeliveryStatus,
    pub error: Option<ProviderError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Timestamp>,
}

/// How many messages' delivery states a channel keeps (`ChannelState::deliveries`).
pub const DELIVERIES_KEPT: usize = 256;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One webhook of the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookState {
    pub config: WebhookConfig,
    /// The sequence number of the event that added it: delivery starts after it, so a webhook
    /// added later never receives older history.
    pub added_seq: u64,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// Where the bytes of one medium of the channel are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum MediaStatus {
    /// A message names it; the fetcher has not stored it yet.
    Pending,
    Stored,
    Failed {
        error: String,
    },
}

/// One medium of the channel: what a message said of it, then what the store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    pub status: MediaStatus,
    pub content_type: String,
    pub size_bytes: u64,
    pub filename: Option<String>,
    /// The message that carries it; `None` for an upload not sent yet.
    pub message_index: Option<u64>,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: Option<String>,
    pub date_created: Timestamp,
}

/// An identity invited to the channel and not joined yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteState {
    pub identity: String,
    pub role_sid: Option<Sid>,
    pub created_by: Option<String>,
    pub date_created: Timestamp,
}

/// What [`ChannelState::apply_deferring_memory`] saw before folding an event, for
/// [`ChannelState::remember_deferred`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeferredMemory {
    first_creation: bool,
    live: bool,
    /// The channel as it was once the event was folded.
    channel_sid: Option<Sid>,
}

/// Everything a channel's events say about it now. `Default` is "not created yet".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChannelState {
    pub sid: Option<Sid>,
    pub service_sid: Option<Sid>,
    pub kind: Option<ChannelKind>,
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: String,
    pub created_by: String,
    pub flex_flow_sid: Option<Sid>,
    pub customer_address: Option<String>,
    pub long_lived: bool,
    pub janitor_enabled: bool,
    pub status: ChannelStatus,
    pub erased: bool,
    /// Deleted over the API (`channel_destroyed`): listed and found nowhere, its members gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destroyed: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    /// When the last message of any author was added: the janitor's inactivity clock.
    pub last_message_at: Option<Timestamp>,
    /// When the channel was last reactivated: restarts the janitor's clock too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactivated_at: Option<Timestamp>,
    pub members: BTreeMap<Sid, MemberState>,
    /// The index the next message gets; also the number of messages ever added.
    pub next_message_index: u64,
    pub removed_messages: BTreeSet<u64>,
    pub open_tasks: BTreeMap<Sid, TaskState>,
    /// The delivery states of the latest [`DELIVERIES_KEPT`] messages that have one, by index:
    /// what the next provider report is checked against. Older ones are settled (a report on
    /// them is too late to matter) and their state is read from their records, so the state
    /// does not grow with the channel's history.
    pub deliveries: BTreeMap<u64, DeliveryState>,
    /// Messages below this index whose delivery state is not kept are settled.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delivery_floor: u64,
    /// The channel's webhooks. Left out of the stored form while empty, so states and snapshots
    /// of channels without webhooks are what they were before webhooks existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub webhooks: BTreeMap<Sid, WebhookState>,
    /// Every medium of the channel that is fetched or uploaded, by media SID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub media: BTreeMap<Sid, MediaState>,
    /// Invites not taken up yet, by invite SID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub invites: BTreeMap<Sid, InviteState>,
    /// The provider ids of the latest inbound messages, its own and those carried from the
    /// customer's previous channel: how a redelivery is recognized.
    #[serde(default, skip_serializing_if = "RecentProviderMessages::is_empty")]
    pub provider_messages: RecentProviderMessages,
    /// The number of events folded in; the next event's sequence number.
    pub events_applied: u64,
}

impl ChannelState {
    pub fn is_created(&self) -> bool {
        self.sid.is_some()
    }

    /// Whether the channel is gone from the API: its content erased, or the channel deleted.
    pub fn is_removed(&self) -> bool {
        self.erased || self.destroyed
    }

    /// Whether a message added at `at` is of an earlier interaction of a long-lived channel:
    /// added before the channel's latest reactivation (the widget and the console mark them).
    pub fn of_an_earlier_interaction(&self, at: Timestamp) -> bool {
        self.reactivated_at.is_some_and(|reactivated| at < reactivated)
    }

    /// The indices of the messages that exist now (added, not removed), `limit` of them from the
    /// `offset`-th on, counted from the oldest, or from the newest when `newest_first`: a page
    /// of the message list. Costs the number of removals, not of messages.
    pub fn message_indices(&self, offset: u64, limit: u64, newest_first: bool) -> Vec<u64> {
        let count = self.messages_count();
        let limit = limit.min(count.saturating_sub(offset));
        if limit == 0 {
            return Vec::new();
        }
        let mut page = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
        if newest_first {
            // The `offset`-th from the top: every removal at or above it moves it down one.
            let mut at = self.next_message_index - 1 - offset;
            for removed in self.removed_messages.iter().rev() {
                if *removed >= at {
                    at -= 1;
                } else {
                    break;
                }
            }
            let mut removed = self.removed_messages.range(..=at).rev().peekable();
            while page.len() < page.capacity() {
                if removed.next_if_eq(&&at).is_none() {
                    page.push(at);
                }
                at = at.wrapping_sub(1);
            }
        } else {
            let mut at = offset;
            for removed in &self.removed_messages {
                if *removed <= at {
                    at += 1;
                } else {
                    break;
                }
            }
            let mut removed = self.removed_messages.range(at..).peekable();
            while page.len() < page.capacity() {
                if removed.next_if_eq(&&at).is_none() {
                    page.push(at);
                }
                at += 1;
            }
        }
        page
    }

    /// Messages that exist now: added and not removed.
    pub fn messages_count(&self) -> u64 {
        self.next_message_index - self.removed_messages.len() as u64
    }

    /// Since when the channel has been quiet, for the janitor: its last message, its last
    /// reactivation, or its creation, whichever is latest.
    pub fn quiet_since(&self) -> Timestamp {
        let last_message = self.last_message_at.unwrap_or(self.date_created);
        self.reactivated_at.map_or(last_message, |at| at.max(last_message))
    }

    /// Whether `author` is the channel's customer: on a channel a Flex Flow opened, its customer
    /// address. A message in that name posted through the API is the customer's own.
    pub fn is_customer(&self, author: &str) -> bool {
        self.flex_flow_sid.is_some() && self.customer_address.as_deref() == Some(author)
    }

    pub fn member_by_identity(&self, identity: &str) -> Option<(Sid, &MemberState)> {
        self.members.iter().find(|(_, m)| m.identity == identity).map(|(sid, m)| (*sid, m))
    }

    pub fn invite_by_identity(&self, identity: &str) -> Option<(Sid, &InviteState)> {
        self.invites.iter().find(|(_, i)| i.identity == identity).map(|(sid, i)| (*sid, i))
    }

    /// Folds a whole sequence of events, as replay and rehydration do.
    pub fn replay<'a>(records: impl IntoIterator<Item = &'a Recorded>) -> ChannelState {
        let mut state = ChannelState::default();
        for record in records {
            state.apply(record);
        }
        state
    }

    /// Folds one event into the state. Total: never fails, never panics.
    pub fn apply(&mut self, record: &Recorded) {
        let deferred = self.apply_deferring_memory(record);
        self.remember_deferred(record, deferred);
    }

    /// [`Self::apply`] but for the provider ids the event brings, which
    /// [`Self::remember_deferred`] adds later. A channel deciding a batch of commands folds them
    /// into a copy of its state and keeps the copy only if the batch is appended; deferring the
    /// ids means the copy shares them with the original instead of copying them on every
    /// command. (Within one batch a second message of the same provider id is not recognized:
    /// a batch carries at most one.)
    pub fn apply_deferring_memory(&mut self, record: &Recorded) -> DeferredMemory {
        let (first_creation, live) = (!self.is_created(), !self.erased);
        self.fold(record);
        DeferredMemory { first_creation, live, channel_sid: self.sid }
    }

    /// Adds what `record` brings to the provider ids, once [`Self::apply_deferring_memory`]
    /// folded it and the events before it; in the same order.
    pub fn remember_deferred(&mut self, record: &Recorded, deferred: DeferredMemory) {
        if !deferred.live {
            return;
        }
        match &record.event {
            ChannelEvent::ChannelCreated { carried_provider_messages, .. }
                if deferred.first_creation =>
            {
                for carried in carried_provider_messages {
                    self.provider_messages.remember(carried.clone());
                }
            }
            ChannelEvent::MessageAdded { index, provider_message_id: Some(id), .. } => {
                if let Some(channel_sid) = deferred.channel_sid {
                    self.provider_messages.remember(ProviderMessageRef {
                        id: id.clone(),
                        channel_sid,
                        index: *index,
                        at: record.at,
                    });
                }
            }
            ChannelEvent::DataErased { .. } => {
                self.provider_messages = RecentProviderMessages::default();
            }
            _ => {}
        }
    }

    fn fold(&mut self, record: &Recorded) {
        let seq = self.events_applied;
        self.events_applied += 1;
        let at = record.at;
        if self.erased {
            return;
        }
        match &record.event {
            ChannelEvent::ChannelCreated {
                channel_sid,
                service_sid,
                kind,
                friendly_name,
                unique_name,
                attributes,
                created_by,
                flex_flow_sid,
                customer_address,
                long_lived,
                janitor_enabled,
                carried_provider_messages: _,
            } => {
                if self.is_created() {
                    return;
                }
                self.sid = Some(*channel_sid);
                self.service_sid = Some(*service_sid);
                self.kind = Some(*kind);
                self.friendly_name.clone_from(friendly_name);
                self.unique_name.clone_from(unique_name);
                self.attributes.clone_from(attributes);
                self.created_by.clone_from(created_by);
                self.flex_flow_sid = *flex_flow_sid;
                self.customer_address.clone_from(customer_address);
                self.long_lived = *long_lived;
                self.janitor_enabled = *janitor_enabled;
                self.status = ChannelStatus::Active;
                self.date_created = at;
            }
            ChannelEvent::AttributesUpdated { attributes } => {
                self.attributes.clone_from(attributes);
            }
            ChannelEvent::ChannelRenamed { friendly_name, unique_name } => {
                self.friendly_name.clone_from(friendly_name);
                self.unique_name.clone_from(unique_name);
            }
            ChannelEvent::MemberJoined { member_sid, identity, role_sid, attributes } => {
                self.invites.retain(|_, invite| invite.identity != *identity);
                self.members.entry(*member_sid).or_insert_with(|| MemberState {
                    identity: identity.clone(),
                    role_sid: *role_sid,
                    attributes: attributes.clone(),
                    last_consumed_index: None,
                    last_consumption_at: None,
                    date_created: at,
                    date_updated: at,
                });
            }
            ChannelEvent::MemberUpdated { member_sid, role_sid, attributes } => {
                if let Some(member) = self.members.get_mut(member_sid) {
                    if role_sid.is_some() {
                        member.role_sid = *role_sid;
                    }
                    if let Some(attributes) = attributes {
                        member.attributes.clone_from(attributes);
                    }
                    member.date_updated = at;
                }
            }
            ChannelEvent::MemberLeft { member_sid } => {
                self.members.remove(member_sid);
            }
            ChannelEvent::MessageAdded { index, media, .. } => {
                self.next_message_index = self.next_message_index.max(index.saturating_add(1));
                self.last_message_at = Some(at);
                if let Some(media) = media {
                    // An upload is stored before its message: the message only claims it. An
                    // inbound medium waits for the fetcher; a bare reference is not tracked.
                    if media.fetch && !self.media.contains_key(&media.sid) {
                        self.media.insert(
                            media.sid,
                            MediaState {
                                status: MediaStatus::Pending,
                                content_type: media.content_type.clone(),
                                size_bytes: media.size_bytes,
                                filename: media.filename.clone(),
                                message_index: None,
                                sha256: None,
                                date_created: at,
                            },
                        );
                    }
                    if let Some(entry) = self.media.get_mut(&media.sid) {
                        entry.message_index.get_or_insert(*index);
                    }
                }
            }
            ChannelEvent::MessageEdited { .. } => {}
            ChannelEvent::MessageRemoved { index } => {
                if *index < self.next_message_index {
                    self.removed_messages.insert(*index);
                }
            }
            ChannelEvent::ReadHorizonUpdated { member_sid, last_consumed_index } => {
                if let Some(member) = self.members.get_mut(member_sid) {
                    member.last_consumed_index = *last_consumed_index;
                    member.last_consumption_at = Some(at);
                    member.date_updated = at;
                }
            }
            ChannelEvent::TaskLinked { task_sid, attributes, priority, timeout_secs } => {
                self.open_tasks.insert(
                    *task_sid,
                    TaskState {
                        attributes: attributes.clone(),
                        priority: *priority,
                        timeout_secs: *timeout_secs,
                        linked_at: at,
                    },
                );
            }
            ChannelEvent::TaskEnded { task_sid, .. } => {
                self.open_tasks.remove(task_sid);
            }
            ChannelEvent::ChannelDeactivated { .. } => self.status = ChannelStatus::Inactive,
            ChannelEvent::ChannelReactivated { .. } => {
                self.status = ChannelStatus::Active;
                self.reactivated_at = Some(at);
            }
            ChannelEvent::DeliveryStatusChanged {
                index,
                status,
                error,
                provider_message_id,
                requested_at,
            } => {
                let delivery = self.deliveries.entry(*index).or_insert(DeliveryState {
                    status: *status,
                    error: None,
                    provider_message_id: None,
                    requested_at: None,
                });
                delivery.status = *status;
                delivery.error.clone_from(error);
                if provider_message_id.is_some() {
                    delivery.provider_message_id.clone_from(provider_message_id);
                }
                if requested_at.is_some() {
                    delivery.requested_at = *requested_at;
                }
                while self.deliveries.len() > DELIVERIES_KEPT {
                    if let Some((settled, _)) = self.deliveries.pop_first() {
                        self.delivery_floor = self.delivery_floor.max(settled + 1);
                    }
                }
            }
            ChannelEvent::DataErased { .. } => self.erase(),
            ChannelEvent::WebhookAdded { webhook_sid, url, method, filters, retry_count } => {
                let config = WebhookConfig {
                    url: url.clone(),
                    method: *method,
                    filters: filters.clone(),
                    retry_count: *retry_count,
                };
                self.webhooks.entry(*webhook_sid).or_insert(WebhookState {
                    config,
                    added_seq: seq,
                    date_created: at,
                    date_updated: at,
                });
            }
            ChannelEvent::WebhookUpdated { webhook_sid, url, method, filters, retry_count } => {
                if let Some(webhook) = self.webhooks.get_mut(webhook_sid) {
                    webhook.config = WebhookConfig {
                        url: url.clone(),
                        method: *method,
                        filters: filters.clone(),
                        retry_count: *retry_count,
                    };
                    webhook.date_updated = at;
                }
            }
            ChannelEvent::WebhookRemoved { webhook_sid } => {
                self.webhooks.remove(webhook_sid);
            }
            ChannelEvent::MediaStored { media_sid, content_type, size_bytes, sha256, filename } => {
                let entry = self.media.entry(*media_sid).or_insert_with(|| MediaState {
                    status: MediaStatus::Pending,
                    content_type: String::new(),
                    size_bytes: 0,
                    filename: None,
                    message_index: None,
                    sha256: None,
                    date_created: at,
                });
                entry.status = MediaStatus::Stored;
                entry.content_type.clone_from(content_type);
                entry.size_bytes = *size_bytes;
                entry.sha256 = Some(sha256.clone());
                if filename.is_some() {
                    entry.filename.clone_from(filename);
                }
            }
            ChannelEvent::MediaFailed { media_sid, error } => {
                if let Some(entry) = self.media.get_mut(media_sid) {
                    entry.status = MediaStatus::Failed { error: error.clone() };
                }
            }
            // The rest stays as it was, for the replies still on their way and for audit.
            ChannelEvent::ChannelDestroyed {} => {
                self.destroyed = true;
                self.status = ChannelStatus::Inactive;
                self.members.clear();
                self.open_tasks.clear();
                self.invites.clear();
            }
            ChannelEvent::InviteAdded { invite_sid, identity, role_sid, created_by } => {
                self.invites.entry(*invite_sid).or_insert_with(|| InviteState {
                    identity: identity.clone(),
                    role_sid: *role_sid,
                    created_by: created_by.clone(),
                    date_created: at,
                });
            }
            ChannelEvent::InviteRemoved { invite_sid } => {
                self.invites.remove(invite_sid);
            }
        }
        self.date_updated = at;
    }

    // Erasure keeps only what carries no customer data: identifiers, counters and dates.
    fn erase(&mut self) {
        let kept = ChannelState {
            sid: self.sid,
            service_sid: self.service_sid,
            kind: self.kind,
            attributes: "{}".to_owned(),
            created_by: String::new(),
            flex_flow_sid: self.flex_flow_sid,
            status: ChannelStatus::Inactive,
            erased: true,
            date_created: self.date_created,
            next_message_index: self.next_message_index,
            events_applied: self.events_applied,
            ..ChannelState::default()
        };
        *self = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_page_of_indices_is_the_slice_of_the_live_ones(
            added in 0u64..60,
            removed in proptest::collection::btree_set(0u64..60, 0..30),
            offset in 0u64..70,
            limit in 0u64..20,
            newest_first: bool,
        ) {
            let state = ChannelState {
                next_message_index: added,
                removed_messages: removed.into_iter().filter(|i| *i < added).collect(),
                ..ChannelState::default()
            };
            let mut live: Vec<u64> =
                (0..added).filter(|i| !state.removed_messages.contains(i)).collect();
            if newest_first {
                live.reverse();
            }
            let expected: Vec<u64> = live
                .into_iter()
                .skip(usize::try_from(offset).unwrap())
                .take(usize::try_from(limit).unwrap())
                .collect();
            prop_assert_eq!(state.message_indices(offset, limit, newest_first), expected);
        }
    }
}
