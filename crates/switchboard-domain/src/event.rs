//! The events of a chat channel, in the past tense. They are the only thing the log stores.
//!
//! Stored names and order are part of the on-disk format. Variants are stored by name, renamed to
//! snake_case explicitly, and must never be renamed again. Fields are stored by position (records
//! of version 2) and, in older records, by name: neither may change, a new field goes last in its
//! struct with `#[serde(default)]` so older records still decode, and only a struct's last field
//! may be left out when empty (`skip_serializing_if`) unconditionally: leaving out any other
//! would shift the ones after it, so those use `stored_form::is_none_unless_positional`. A change of meaning bumps [`EVENT_SCHEMA_VERSION`] and gets an upcaster in
//! the store (see docs/event-format.md).

use serde::{Deserialize, Serialize};

use crate::{ProviderMessageRef, Sid, Timestamp, WebhookMethod};

/// The schema version written beside every event. Readers accept every version up to this one.
pub const EVENT_SCHEMA_VERSION: u16 = 1;

/// What every aggregate's event type offers the log and the audit tools.
pub trait DomainEvent {
    /// The stored name of the event, as replay prints it in `type`.
    fn type_name(&self) -> &'static str;

    /// Whether the event may be stored unencrypted: only markers that carry no customer data and
    /// must stay readable after a key is destroyed.
    fn is_clear_text_allowed(&self) -> bool {
        false
    }

    /// What the event does to one message of its stream, if anything: the store keeps where
    /// each message's records are (`MessagePositions`), so a message is read without its history.
    fn message_touch(&self) -> Option<MessageTouch> {
        None
    }
}

/// What an event does to one message of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageTouch {
    /// The message at `index` was added by this event.
    Added { index: u64 },
    /// Its body, its attributes, or both (or neither: only who edited it) were replaced.
    Edited { index: u64, body: bool, attributes: bool },
    /// The message is gone.
    Removed { index: u64 },
    /// The message's delivery to the customer moved.
    Delivery { index: u64 },
}

/// One event as it sits in the log: what happened, when the writer said it happened and, since
/// service webhooks, what caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded<E = ChannelEvent> {
    /// Schema version of `event`, for upcasting.
    pub schema: u16,
    pub at: Timestamp,
    pub event: E,
    /// `None` in records written before causes were kept, and where nobody said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

impl<E> Recorded<E> {
    pub fn new(at: Timestamp, event: E) -> Recorded<E> {
        Recorded { schema: EVENT_SCHEMA_VERSION, at, event, cause: None }
    }

    /// The same, with what caused it.
    pub fn caused(at: Timestamp, event: E, cause: Option<Cause>) -> Recorded<E> {
        Recorded { cause, ..Recorded::new(at, event) }
    }
}

/// What made an event happen. The log's consumers read it back to decide what Twilio's rules
/// make of it: service webhooks fire for clients' actions, and for REST calls only when they
/// asked (`X-Twilio-Webhook-Enabled: true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A REST call with the account's credentials; `webhooks` when it asked for service webhooks.
    Api {
        #[serde(default)]
        webhooks: bool,
    },
    /// A token-authenticated client (an agent's app, the webchat widget) acting as `identity`.
    Client { identity: String },
    /// A provider's webhook: a customer writing in by SMS, WhatsApp, Messenger.
    Provider,
    /// Switchboard itself: the janitor, delivery reports, media fetches.
    System,
}

impl Cause {
    /// Whether service post-event webhooks are sent for what this caused. Records from before
    /// causes were kept say nothing and fire nothing, so an upgrade replays no history.
    pub fn fires_service_webhooks(cause: Option<&Cause>) -> bool {
        match cause {
            Some(Cause::Api { webhooks }) => *webhooks,
            Some(Cause::Client { .. } | Cause::Provider | Cause::System) => true,
            None => false,
        }
    }

    /// Twilio's `Source`: `SDK` for a client's action, `API` for everything else.
    pub fn source_name(&self) -> &'static str {
        match self {
            Cause::Client { .. } => "SDK",
            _ => "API",
        }
    }
}

/// Whether a channel is listed to everyone in its service or only to its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Private,
    Public,
}

/// Who wrote a message: decides whether it goes out to the customer and whether it can reopen a
/// channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageSource {
    /// The customer, through a provider (SMS, WhatsApp, Messenger) or the webchat widget.
    Customer,
    /// An agent, through a token-authenticated client.
    Agent,
    /// A REST API call with the account's credentials.
    Api,
    /// Switchboard itself (greetings, closing notices). Never reopens a channel.
    System,
}

/// A media attachment. The bytes live elsewhere; the event keeps what is needed to find them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub sid: Sid,
    pub content_type: String,
    pub size_bytes: u64,
    #[serde(default)]
    pub filename: Option<String>,
    /// Where the provider holds it (a Twilio MediaUrl or a Meta media id), when it came from one.
    #[serde(default)]
    pub provider_ref: Option<String>,
    /// Whether the media fetcher is to download the bytes from `provider_ref` into the media
    /// store. Set by inbound webhooks since media are fetched; older records hold references only
    /// and are left as they are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fetch: bool,
}

/// Why a channel stopped taking the customer's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeactivationReason {
    /// A REST update set the `status` attribute to INACTIVE, or an operator asked.
    Api,
    /// The last live task of the channel was completed or canceled.
    InteractionEnded,
    /// No message for longer than the janitor's window.
    Inactivity { idle_millis: u64 },
}

/// Why an inactive channel took messages again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReactivationReason {
    /// The customer wrote again to a long-lived channel.
    CustomerMessage,
    /// A REST update set the `status` attribute to ACTIVE.
    Api,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    Completed,
    Canceled { reason: String },
}

/// Where an outbound message is on its way to the customer, in Twilio's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Undelivered,
    Failed,
}

impl DeliveryStatus {
    /// Providers report out of order and more than once; a status never moves backwards.
    /// `Undelivered` and `Failed` are final; `Read` outranks `Delivered` outranks `Sent`.
    pub fn may_follow(self, current: DeliveryStatus) -> bool {
        use DeliveryStatus::*;
        match current {
            Undelivered | Failed => false,
            _ => match self {
                Undelivered | Failed => true,
                _ => self > current,
            },
        }
    }
}

/// An error a provider returned for a message, kept so agents see why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderError {
    pub code: String,
    pub message: String,
}

/// Why a channel's content was destroyed. Deliberately not free text: this event is stored in the
/// clear so that replay can say what happened after the data key is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureReason {
    /// The customer asked for their data to be erased.
    SubjectRequest,
    /// A retention policy expired the channel.
    Retention,
    /// An operator decided, for another documented reason.
    Operator,
}

/// Everything that can happen to a chat channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelEvent {
    ChannelCreated {
        channel_sid: Sid,
        service_sid: Sid,
        kind: ChannelKind,
        friendly_name: Option<String>,
        unique_name: Option<String>,
        /// A JSON document as a string, exactly as Twilio stores channel attributes.
        attributes: String,
        created_by: String,
        /// The Flex Flow that opened the channel, if any.
        flex_flow_sid: Option<Sid>,
        /// The customer's normalized address (`+E164`, `whatsapp:+E164`, `messenger:PSID`, ...).
        customer_address: Option<String>,
        long_lived: bool,
        janitor_enabled: bool,
        /// The provider ids of the customer's recent messages in their previous channel, so a
        /// redelivery of one of them is recognized here (`provider_messages.rs`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        carried_provider_messages: Vec<ProviderMessageRef>,
    },
    AttributesUpdated {
        attributes: String,
    },
    ChannelRenamed {
        friendly_name: Option<String>,
        unique_name: Option<String>,
    },
    MemberJoined {
        member_sid: Sid,
        identity: String,
        role_sid: Option<Sid>,
        attributes: String,
    },
    MemberUpdated {
        member_sid: Sid,
        role_sid: Option<Sid>,
        attributes: Option<String>,
    },
    MemberLeft {
        member_sid: Sid,
    },
    MessageAdded {
        message_sid: Sid,
        /// Per-channel message index, from 0, never reused.
        index: u64,
        author: String,
        body: String,
        attributes: String,
        media: Option<Media>,
        source: MessageSource,
        /// The provider's id for an inbound message (Twilio MessageSid, `wamid.…`, `mid.…`):
        /// the idempotency key that stops a redelivered webhook from adding it twice.
        provider_message_id: Option<String>,
    },
    MessageEdited {
        index: u64,
        body: Option<String>,
        attributes: Option<String>,
        edited_by: Option<String>,
    },
    MessageRemoved {
        index: u64,
    },
    ReadHorizonUpdated {
        member_sid: Sid,
        last_consumed_index: Option<u64>,
    },
    TaskLinked {
        task_sid: Sid,
        /// A JSON document as a string: the task's attributes when it was created.
        attributes: String,
        priority: i64,
        timeout_secs: u64,
    },
    TaskEnded {
        task_sid: Sid,
        outcome: TaskOutcome,
    },
    ChannelDeactivated {
        reason: DeactivationReason,
    },
    ChannelReactivated {
        reason: ReactivationReason,
    },
    DeliveryStatusChanged {
        index: u64,
        status: DeliveryStatus,
        error: Option<ProviderError>,
        /// The provider's id for the message (Twilio `SM…`, `wamid.…`, Messenger `mid.…`), given
        /// when the provider accepted it: status callbacks find the message by it.
        #[serde(default, skip_serializing_if = "crate::stored_form::is_none_unless_positional")]
        provider_message_id: Option<String>,
        /// When the send to the provider began, given with `sent`: a Messenger watermark ("all
        /// messages before T were read") covers the messages whose send began before T.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_at: Option<Timestamp>,
    },
    DataErased {
        reason: ErasureReason,
    },
    /// A channel webhook (Chat v2 `Webhooks`, type `webhook`) was added.
    WebhookAdded {
        webhook_sid: Sid,
        url: String,
        method: WebhookMethod,
        /// Twilio's post-event names (`onMessageSent`, …) it is called for.
        filters: Vec<String>,
        retry_count: u8,
    },
    /// A webhook's whole configuration after an update, not only what changed.
    WebhookUpdated {
        webhook_sid: Sid,
        url: String,
        method: WebhookMethod,
        filters: Vec<String>,
        retry_count: u8,
    },
    WebhookRemoved {
        webhook_sid: Sid,
    },
    /// The bytes of a medium are in the channel's media store, sealed under its data key: fetched
    /// from the provider for an inbound message, or uploaded for an outbound one.
    MediaStored {
        media_sid: Sid,
        /// What the bytes are, as fetched (a provider may say more than the webhook did).
        content_type: String,
        size_bytes: u64,
        /// Hex SHA-256 of the plaintext, so an auditor can tie served bytes to the log.
        sha256: String,
        #[serde(default)]
        filename: Option<String>,
    },
    /// A medium will not be stored: the provider refused it, it is too large or of a refused
    /// type. Kept so the message shows why.
    MediaFailed {
        media_sid: Sid,
        error: String,
    },
    /// The channel was deleted (Chat v2 `DELETE …/Channels/{CH}`): it is gone from the API, its
    /// members and bindings are released, its log stays for audit. Only the delivery outcomes of
    /// replies sent before it may follow.
    ChannelDestroyed {},
    /// An identity was invited to the channel (Chat v2 `Invites`): it may join it, private or
    /// not, with `role_sid` as its channel role. Joining takes the invite up.
    InviteAdded {
        invite_sid: Sid,
        identity: String,
        role_sid: Option<Sid>,
        /// Who invited, when a client did; `None` for the API.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        created_by: Option<String>,
    },
    InviteRemoved {
        invite_sid: Sid,
    },
}

impl DomainEvent for ChannelEvent {
    fn message_touch(&self) -> Option<MessageTouch> {
        Some(match self {
            ChannelEvent::MessageAdded { index, .. } => MessageTouch::Added { index: *index },
            ChannelEvent::MessageEdited { index, body, attributes, .. } => MessageTouch::Edited {
                index: *index,
                body: body.is_some(),
                attributes: attributes.is_some(),
            },
            ChannelEvent::MessageRemoved { index } => MessageTouch::Removed { index: *index },
            ChannelEvent::DeliveryStatusChanged { index, .. } => {
                MessageTouch::Delivery { index: *index }
            }
            _ => return None,
        })
    }

    fn type_name(&self) -> &'static str {
        match self {
            ChannelEvent::ChannelCreated { .. } => "channel_created",
            ChannelEvent::AttributesUpdated { .. } => "attributes_updated",
            ChannelEvent::ChannelRenamed { .. } => "channel_renamed",
            ChannelEvent::MemberJoined { .. } => "member_joined",
            ChannelEvent::MemberUpdated { .. } => "member_updated",
            ChannelEvent::MemberLeft { .. } => "member_left",
            ChannelEvent::MessageAdded { .. } => "message_added",
            ChannelEvent::MessageEdited { .. } => "message_edited",
            ChannelEvent::MessageRemoved { .. } => "message_removed",
            ChannelEvent::ReadHorizonUpdated { .. } => "read_horizon_updated",
            ChannelEvent::TaskLinked { .. } => "task_linked",
            ChannelEvent::TaskEnded { .. } => "task_ended",
            ChannelEvent::ChannelDeactivated { .. } => "channel_deactivated",
            ChannelEvent::ChannelReactivated { .. } => "channel_reactivated",
            ChannelEvent::DeliveryStatusChanged { .. } => "delivery_status_changed",
            ChannelEvent::DataErased { .. } => "data_erased",
            ChannelEvent::WebhookAdded { .. } => "webhook_added",
            ChannelEvent::WebhookUpdated { .. } => "webhook_updated",
            ChannelEvent::WebhookRemoved { .. } => "webhook_removed",
            ChannelEvent::MediaStored { .. } => "media_stored",
            ChannelEvent::MediaFailed { .. } => "media_failed",
            ChannelEvent::ChannelDestroyed { .. } => "channel_destroyed",
            ChannelEvent::InviteAdded { .. } => "invite_added",
            ChannelEvent::InviteRemoved { .. } => "invite_removed",
        }
    }

    // Only the erasure marker qualifies: it must stay readable after the channel's key is gone.
    fn is_clear_text_allowed(&self) -> bool {
        matches!(self, ChannelEvent::DataErased { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_status_never_moves_backwards() {
        use DeliveryStatus::*;
        assert!(Sent.may_follow(Queued));
        assert!(Read.may_follow(Sent));
        assert!(!Delivered.may_follow(Read));
        assert!(!Read.may_follow(Failed));
        assert!(Failed.may_follow(Delivered));
        assert!(!Sent.may_follow(Sent));
    }
}
