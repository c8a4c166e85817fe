//! Commands against a channel and `decide`, which checks them against the state and returns the
//! events to append, or says clearly why not.
//!
//! Every business rule of a channel's lifecycle lives here: who may reopen a channel, when the
//! janitor may retire it, that a redundant change records nothing. Fresh SIDs and the current time
//! arrive inside the command, so `decide` is a pure function of its inputs.

use crate::{
    ChannelEvent, ChannelKind, ChannelState, ChannelStatus, DeactivationReason, DeliveryStatus,
    ErasureReason, Media, MessageSource, ProviderError, ProviderMessageRef, ReactivationReason,
    Sid, TaskOutcome, Timestamp, WebhookConfig, WebhookMethod, MAX_WEBHOOKS_PER_CHANNEL,
};

/// What a new channel is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChannel {
    pub channel_sid: Sid,
    pub service_sid: Sid,
    pub kind: ChannelKind,
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: String,
    pub created_by: String,
    pub flex_flow_sid: Option<Sid>,
    pub customer_address: Option<String>,
    pub long_lived: bool,
    pub janitor_enabled: bool,
    /// What the customer's previous channel remembers of their provider message ids.
    pub carried_provider_messages: Vec<ProviderMessageRef>,
}

/// What a new message is made of; its index and SID are the channel's to give
/// ([`Sid::message_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub author: String,
    pub body: String,
    pub attributes: String,
    pub media: Option<Media>,
    pub source: MessageSource,
    pub provider_message_id: Option<String>,
}

/// A request to change one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelCommand {
    Create(NewChannel),
    UpdateAttributes {
        attributes: String,
    },
    Rename {
        friendly_name: Option<String>,
        unique_name: Option<String>,
    },
    AddMember {
        member_sid: Sid,
        identity: String,
        role_sid: Option<Sid>,
        attributes: String,
    },
    UpdateMember {
        member_sid: Sid,
        role_sid: Option<Sid>,
        attributes: Option<String>,
    },
    RemoveMember {
        member_sid: Sid,
    },
    PostMessage(NewMessage),
    EditMessage {
        index: u64,
        body: Option<String>,
        attributes: Option<String>,
        edited_by: Option<String>,
    },
    RemoveMessage {
        index: u64,
    },
    UpdateReadHorizon {
        member_sid: Sid,
        last_consumed_index: Option<u64>,
    },
    LinkTask {
        task_sid: Sid,
        attributes: String,
        priority: i64,
        timeout_secs: u64,
    },
    EndTask {
        task_sid: Sid,
        outcome: TaskOutcome,
    },
    /// Links a task only if the channel has none open: how a customer's message starts an
    /// interaction on a new channel, a reactivated long-lived one, or one left without a task.
    EnsureTask {
        task_sid: Sid,
        attributes: String,
        priority: i64,
        timeout_secs: u64,
    },
    /// An explicit deactivation (REST or operator). Always honoured, janitor or not.
    Deactivate,
    /// An explicit reactivation (REST).
    Reactivate,
    /// The janitor's periodic check: retire the channel if it has been quiet for `window_millis`.
    RetireIfIdle {
        now: Timestamp,
        window_millis: u64,
    },
    RecordDelivery {
        index: u64,
        status: DeliveryStatus,
        error: Option<ProviderError>,
    },
    /// The provider accepted an outbound message: `sent`, with its id for later status reports.
    RecordSent {
        index: u64,
        provider_message_id: Option<String>,
        requested_at: Timestamp,
    },
    /// A provider's watermark: every message whose send began at or before `up_to` reached
    /// `status` (Messenger's delivery and read watermarks).
    RecordWatermark {
        status: DeliveryStatus,
        up_to: Timestamp,
    },
    Erase {
        reason: ErasureReason,
    },
    AddWebhook {
        webhook_sid: Sid,
        config: WebhookConfig,
    },
    /// `None` leaves a setting as it is.
    UpdateWebhook {
        webhook_sid: Sid,
        url: Option<String>,
        method: Option<WebhookMethod>,
        filters: Option<Vec<String>>,
        retry_count: Option<u8>,
    },
    RemoveWebhook {
        webhook_sid: Sid,
    },
    /// The bytes of a medium are in the media store (fetched or uploaded). Recorded once: a
    /// second report of the same medium records nothing.
    RecordMediaStored {
        media_sid: Sid,
        content_type: String,
        size_bytes: u64,
        sha256: String,
        filename: Option<String>,
    },
    /// A medium of a message could not be stored, and why.
    RecordMediaFailed {
        media_sid: Sid,
        error: String,
    },
    /// Invites an identity; inviting one already invited changes nothing.
    AddInvite {
        invite_sid: Sid,
        identity: String,
        role_sid: Option<Sid>,
        created_by: Option<String>,
    },
    RemoveInvite {
        invite_sid: Sid,
    },
    /// Deletes the channel: its open tasks are canceled with `reason`, then it is destroyed.
    Destroy {
        reason: String,
    },
}

/// Why a command was refused. The HTTP layer maps each to a Twilio error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the channel does not exist")]
    ChannelNotFound,
    #[error("the channel already exists")]
    ChannelExists,
    #[error("the channel's data was erased")]
    ChannelErased,
    #[error("the channel is inactive and does not take customer messages")]
    ChannelInactive,
    #[error("member {0} is not in the channel")]
    MemberNotFound(Sid),
    #[error("identity {0:?} is already a member of the channel")]
    MemberExists(String),
    #[error("message {0} does not exist")]
    MessageNotFound(u64),
    #[error("task {0} is not open on this channel")]
    TaskNotOpen(Sid),
    #[error("task {0} is already linked to this channel")]
    TaskExists(Sid),
    #[error("webhook {0} is not on this channel")]
    WebhookNotFound(Sid),
    /// The provider delivered this message before: it is stored there, and nothing was added.
    #[error("the provider's message is already stored as message {index} of {channel_sid}")]
    AlreadyStored { channel_sid: Sid, index: u64 },
    #[error("{0}")]
    Invalid(&'static str),
}

/// Checks `command` against `state` and returns the events that carry it out, in order.
/// An empty list means the command was valid but changes nothing (asking twice is harmless).
pub fn decide(
    state: &ChannelState,
    command: ChannelCommand,
) -> Result<Vec<ChannelEvent>, Rejection> {
    match command {
        ChannelCommand::Create(new) => create(state, new),
        _ if !state.is_created() => Err(Rejection::ChannelNotFound),
        _ if state.erased => Err(Rejection::ChannelErased),
        // What a deleted channel still records: how the replies sent before it fared.
        command @ (ChannelCommand::RecordDelivery { .. } | ChannelCommand::RecordSent { .. })
            if state.destroyed =>
        {
            update(state, command)
        }
        _ if state.destroyed => Err(Rejection::ChannelNotFound),
        command => update(state, command),
    }
}

fn update(state: &ChannelState, command: ChannelCommand) -> Result<Vec<ChannelEvent>, Rejection> {
    match command {
        ChannelCommand::Create(_) => Err(Rejection::ChannelExists),
        ChannelCommand::UpdateAttributes { attributes } => Ok(changed(
            state.attributes != attributes,
            ChannelEvent::AttributesUpdated { attributes },
        )),
        ChannelCommand::Rename { friendly_name, unique_name } => {
            let same = state.friendly_name == friendly_name && state.unique_name == unique_name;
            Ok(changed(!same, ChannelEvent::ChannelRenamed { friendly_name, unique_name }))
        }
        ChannelCommand::AddMember { member_sid, identity, role_sid, attributes } => {
            if state.member_by_identity(&identity).is_some() {
                return Err(Rejection::MemberExists(identity));
            }
            // `apply` would ignore a second join under the same SID: keep it out of the log.
            if state.members.contains_key(&member_sid) {
                return Err(Rejection::Invalid("the member SID is already in use"));
            }
            require_text(&identity, "a member needs a non-empty identity")?;
            Ok(vec![ChannelEvent::MemberJoined { member_sid, identity, role_sid, attributes }])
        }
        ChannelCommand::UpdateMember { member_sid, role_sid, attributes } => {
            // `None` leaves a field as it is, as `apply` reads it.
            let current = member(state, member_sid)?;
            let changes = role_sid.is_some_and(|role| current.role_sid != Some(role))
                || attributes.as_ref().is_some_and(|a| *a != current.attributes);
            Ok(changed(changes, ChannelEvent::MemberUpdated { member_sid, role_sid, attributes }))
        }
        ChannelCommand::RemoveMember { member_sid } => {
            member(state, member_sid)?;
            Ok(vec![ChannelEvent::MemberLeft { member_sid }])
        }
        ChannelCommand::PostMessage(new) => post_message(state, new),
        ChannelCommand::EditMessage { index, body, attributes, edited_by } => {
            existing_message(state, index)?;
            Ok(vec![ChannelEvent::MessageEdited { index, body, attributes, edited_by }])
        }
        ChannelCommand::RemoveMessage { index } => {
            existing_message(state, index)?;
            Ok(vec![ChannelEvent::MessageRemoved { index }])
        }
        ChannelCommand::UpdateReadHorizon { member_sid, last_consumed_index } => {
            let current = member(state, member_sid)?.last_consumed_index;
            Ok(changed(
                current != last_consumed_index,
                ChannelEvent::ReadHorizonUpdated { member_sid, last_consumed_index },
            ))
        }
        ChannelCommand::LinkTask { task_sid, attributes, priority, timeout_secs } => {
            if state.open_tasks.contains_key(&task_sid) {
                return Err(Rejection::TaskExists(task_sid));
            }
            Ok(vec![ChannelEvent::TaskLinked { task_sid, attributes, priority, timeout_secs }])
        }
        ChannelCommand::EndTask { task_sid, outcome } => end_task(state, task_sid, outcome),
        ChannelCommand::EnsureTask { task_sid, attributes, priority, timeout_secs } => Ok(changed(
            state.open_tasks.is_empty(),
            ChannelEvent::TaskLinked { task_sid, attributes, priority, timeout_secs },
        )),
        ChannelCommand::Deactivate => Ok(changed(
            state.status == ChannelStatus::Active,
            ChannelEvent::ChannelDeactivated { reason: DeactivationReason::Api },
        )),
        ChannelCommand::Reactivate => Ok(changed(
            state.status == ChannelStatus::Inactive,
            ChannelEvent::ChannelReactivated { reason: ReactivationReason::Api },
        )),
        ChannelCommand::RetireIfIdle { now, window_millis } => {
            Ok(retire_if_idle(state, now, window_millis))
        }
        ChannelCommand::RecordDelivery { index, status, error } => {
            existing_message(state, index)?;
            Ok(changed(
                delivery_moves(state, index, status),
                ChannelEvent::DeliveryStatusChanged {
                    index,
                    status,
                    error,
                    provider_message_id: None,
                    requested_at: None,
                },
            ))
        }
        ChannelCommand::RecordSent { index, provider_message_id, requested_at } => {
            existing_message(state, index)?;
            Ok(changed(
                delivery_moves(state, index, DeliveryStatus::Sent),
                ChannelEvent::DeliveryStatusChanged {
                    index,
                    status: DeliveryStatus::Sent,
                    error: None,
                    provider_message_id,
                    requested_at: Some(requested_at),
                },
            ))
        }
        ChannelCommand::RecordWatermark { status, up_to } => {
            if !matches!(status, DeliveryStatus::Delivered | DeliveryStatus::Read) {
                return Err(Rejection::Invalid("a watermark reports delivered or read"));
            }
            Ok(state
                .deliveries
                .iter()
                .filter(|(_, d)| d.requested_at.is_some_and(|at| at <= up_to))
                .filter(|(_, d)| status.may_follow(d.status))
                .map(|(index, _)| ChannelEvent::DeliveryStatusChanged {
                    index: *index,
                    status,
                    error: None,
                    provider_message_id: None,
                    requested_at: None,
                })
                .collect())
        }
        ChannelCommand::Erase { reason } => Ok(vec![ChannelEvent::DataErased { reason }]),
        ChannelCommand::AddWebhook { webhook_sid, config } => {
            add_webhook(state, webhook_sid, config)
        }
        ChannelCommand::UpdateWebhook { webhook_sid, url, method, filters, retry_count } => {
            let current = &state
                .webhooks
                .get(&webhook_sid)
                .ok_or(Rejection::WebhookNotFound(webhook_sid))?
                .config;
            let next = WebhookConfig {
                url: url.unwrap_or_else(|| current.url.clone()),
                method: method.unwrap_or(current.method),
                filters: filters.map_or_else(|| current.filters.clone(), without_repeats),
                retry_count: retry_count.unwrap_or(current.retry_count),
            };
            next.check().map_err(Rejection::Invalid)?;
            let WebhookConfig { url, method, filters, retry_count } = next.clone();
            Ok(changed(
                next != *current,
                ChannelEvent::WebhookUpdated { webhook_sid, url, method, filters, retry_count },
            ))
        }
        ChannelCommand::RemoveWebhook { webhook_sid } => {
            if !state.webhooks.contains_key(&webhook_sid) {
                return Err(Rejection::WebhookNotFound(webhook_sid));
            }
            Ok(vec![ChannelEvent::WebhookRemoved { webhook_sid }])
        }
        ChannelCommand::RecordMediaStored {
            media_sid,
            content_type,
            size_bytes,
            sha256,
            filename,
        } => {
            let stored = state.media.get(&media_sid).is_some_and(|m| {
                !matches!(m.status, crate::MediaStatus::Pending | crate::MediaStatus::Failed { .. })
            });
            require_text(&content_type, "a stored medium needs a content type")?;
            Ok(changed(
                !stored,
                ChannelEvent::MediaStored { media_sid, content_type, size_bytes, sha256, filename },
            ))
        }
        ChannelCommand::AddInvite { invite_sid, identity, role_sid, created_by } => {
            require_text(&identity, "an invite needs a non-empty identity")?;
            if state.member_by_identity(&identity).is_some() {
                return Err(Rejection::MemberExists(identity));
            }
            // `apply` would ignore a second invite under the same SID: keep it out of the log.
            if state.invites.contains_key(&invite_sid) {
                return Err(Rejection::Invalid("the invite SID is already in use"));
            }
            Ok(changed(
                state.invite_by_identity(&identity).is_none(),
                ChannelEvent::InviteAdded { invite_sid, identity, role_sid, created_by },
            ))
        }
        ChannelCommand::RemoveInvite { invite_sid } => {
            if !state.invites.contains_key(&invite_sid) {
                return Err(Rejection::Invalid("the invite is not on this channel"));
            }
            Ok(vec![ChannelEvent::InviteRemoved { invite_sid }])
        }
        ChannelCommand::Destroy { reason } => {
            let mut events: Vec<ChannelEvent> = state
                .open_tasks
                .keys()
                .map(|task_sid| ChannelEvent::TaskEnded {
                    task_sid: *task_sid,
                    outcome: TaskOutcome::Canceled { reason: reason.clone() },
                })
                .collect();
            events.push(ChannelEvent::ChannelDestroyed {});
            Ok(events)
        }
        ChannelCommand::RecordMediaFailed { media_sid, error } => {
            let media = state
                .media
                .get(&media_sid)
                .ok_or(Rejection::Invalid("no message of the channel has this medium"))?;
            Ok(changed(
                media.status == crate::MediaStatus::Pending,
                ChannelEvent::MediaFailed { media_sid, error },
            ))
        }
    }
}

/// Providers report out of order and more than once; only a forward move is recorded, and
/// nothing on a message whose delivery is settled (older than the states a channel keeps).
fn delivery_moves(state: &ChannelState, index: u64, status: DeliveryStatus) -> bool {
    match state.deliveries.get(&index) {
        Some(current) => status.may_follow(current.status),
        None => index >= state.delivery_floor,
    }
}

fn add_webhook(
    state: &ChannelState,
    webhook_sid: Sid,
    config: WebhookConfig,
) -> Result<Vec<ChannelEvent>, Rejection> {
    // `apply` would ignore a second add under the same SID: keep it out of the log.
    if state.webhooks.contains_key(&webhook_sid) {
        return Err(Rejection::Invalid("the webhook SID is already in use"));
    }
    if state.webhooks.len() >= MAX_WEBHOOKS_PER_CHANNEL {
        return Err(Rejection::Invalid("a channel has at most 5 webhooks"));
    }
    let WebhookConfig { url, method, filters, retry_count } = config;
    let config = WebhookConfig { url, method, filters: without_repeats(filters), retry_count };
    config.check().map_err(Rejection::Invalid)?;
    let WebhookConfig { url, method, filters, retry_count } = config;
    Ok(vec![ChannelEvent::WebhookAdded { webhook_sid, url, method, filters, retry_count }])
}

/// Filters keep the order they were given in; a repeat adds nothing.
fn without_repeats(filters: Vec<String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::with_capacity(filters.len());
    for filter in filters {
        if !kept.contains(&filter) {
            kept.push(filter);
        }
    }
    kept
}

fn create(state: &ChannelState, new: NewChannel) -> Result<Vec<ChannelEvent>, Rejection> {
    if state.is_created() {
        return Err(Rejection::ChannelExists);
    }
    if new.customer_address.is_some() != new.flex_flow_sid.is_some() {
        return Err(Rejection::Invalid("a customer address and a Flex Flow go together"));
    }
    Ok(vec![ChannelEvent::ChannelCreated {
        channel_sid: new.channel_sid,
        service_sid: new.service_sid,
        kind: new.kind,
        friendly_name: new.friendly_name,
        unique_name: new.unique_name,
        attributes: new.attributes,
        created_by: new.created_by,
        flex_flow_sid: new.flex_flow_sid,
        customer_address: new.customer_address,
        long_lived: new.long_lived,
        janitor_enabled: new.janitor_enabled,
        carried_provider_messages: new.carried_provider_messages,
    }])
}

fn post_message(state: &ChannelState, new: NewMessage) -> Result<Vec<ChannelEvent>, Rejection> {
    let NewMessage { author, body, attributes, media, source, provider_message_id } = new;
    if body.is_empty() && media.is_none() {
        return Err(Rejection::Invalid("a message needs a body or media"));
    }
    // One medium, one message: what is served under a media SID belongs to one message's audience.
    if let Some(media) = &media {
        if state.media.get(&media.sid).is_some_and(|m| m.message_index.is_some()) {
            return Err(Rejection::Invalid("the medium is already attached to another message"));
        }
    }
    // Before the status: a redelivery must not reopen a channel, nor be refused by a retired one
    // (the router then looks no further).
    if let Some(stored) =
        provider_message_id.as_deref().and_then(|id| state.provider_messages.find(id))
    {
        return Err(Rejection::AlreadyStored {
            channel_sid: stored.channel_sid,
            index: stored.index,
        });
    }
    let mut events = Vec::with_capacity(2);
    // Only the customer reopens a channel, and only a long-lived one: a closing or system message
    // must never bring a retired channel back (chatwoot#13265 did exactly that).
    if state.status == ChannelStatus::Inactive && source == MessageSource::Customer {
        if !state.long_lived {
            return Err(Rejection::ChannelInactive);
        }
        events
            .push(ChannelEvent::ChannelReactivated { reason: ReactivationReason::CustomerMessage });
    }
    let Some(channel_sid) = state.sid else { return Err(Rejection::ChannelNotFound) };
    let index = state.next_message_index;
    events.push(ChannelEvent::MessageAdded {
        message_sid: Sid::message_of(channel_sid, index),
        index,
        author,
        body,
        attributes,
        media,
        source,
        provider_message_id,
    });
    Ok(events)
}

fn end_task(
    state: &ChannelState,
    task_sid: Sid,
    outcome: TaskOutcome,
) -> Result<Vec<ChannelEvent>, Rejection> {
    if !state.open_tasks.contains_key(&task_sid) {
        return Err(Rejection::TaskNotOpen(task_sid));
    }
    let mut events = vec![ChannelEvent::TaskEnded { task_sid, outcome }];
    // A transfer links the next task before the first ends: the interaction goes on, so the
    // channel stays active (plugin-chat-sms-transfer#24).
    let others_live = state.open_tasks.len() > 1;
    if state.janitor_enabled && !others_live && state.status == ChannelStatus::Active {
        events.push(ChannelEvent::ChannelDeactivated {
            reason: DeactivationReason::InteractionEnded,
        });
    }
    Ok(events)
}

fn retire_if_idle(state: &ChannelState, now: Timestamp, window_millis: u64) -> Vec<ChannelEvent> {
    if !state.janitor_enabled || state.status != ChannelStatus::Active {
        return Vec::new();
    }
    let idle_millis = now.millis_since(state.quiet_since());
    if idle_millis <= window_millis {
        return Vec::new();
    }
    let reason = format!("channel inactive for {} s", idle_millis / 1000);
    let mut events: Vec<ChannelEvent> = state
        .open_tasks
        .keys()
        .map(|task_sid| ChannelEvent::TaskEnded {
            task_sid: *task_sid,
            outcome: TaskOutcome::Canceled { reason: reason.clone() },
        })
        .collect();
    events.push(ChannelEvent::ChannelDeactivated {
        reason: DeactivationReason::Inactivity { idle_millis },
    });
    events
}

fn changed(changes: bool, event: ChannelEvent) -> Vec<ChannelEvent> {
    if changes {
        vec![event]
    } else {
        Vec::new()
    }
}

fn member(state: &ChannelState, member_sid: Sid) -> Result<&crate::MemberState, Rejection> {
    state.members.get(&member_sid).ok_or(Rejection::MemberNotFound(member_sid))
}

fn existing_message(state: &ChannelState, index: u64) -> Result<(), Rejection> {
    if index >= state.next_message_index || state.removed_messages.contains(&index) {
        return Err(Rejection::MessageNotFound(index));
    }
    Ok(())
}

fn require_text(text: &str, why: &'static str) -> Result<(), Rejection> {
    if text.trim().is_empty() {
        Err(Rejection::Invalid(why))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
