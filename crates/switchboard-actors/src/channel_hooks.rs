//! Chat channel webhooks: each event of a channel that a webhook's `Configuration.Filters` ask
//! for is sent to its URL as Twilio's form, signed with `X-Twilio-Signature`.
//!
//! Like the external integration, the log is the queue: a cursor per channel ([`CONSUMER`]) says
//! how far delivery got, so nothing durable is lost and a restart resumes where delivery stopped.
//! The outbox runs each channel's webhooks on runs of their own (`ChannelRuns`), apart from its
//! other deliveries, so a slow webhook never holds up a reply to the customer.
//! A channel's events go out one at a time, in sequence order, to each of its webhooks in the
//! order they were added. A call is retried with backoff and jitter on network errors, 429 and
//! 5xx, up to the webhook's `RetryCount`, never on other 4xx, then recorded as a dead letter so
//! later events are not held up. Delivery is at least once: a crash between a call and its
//! cursor update repeats it.
//!
//! Which webhooks exist is asked of the channel's actor before each event, so a webhook removed
//! meanwhile gets nothing more and an update applies from the next event on. A webhook only
//! receives events after the one that added it: adding one never replays older history.
//!
//! A Chat Service's post-event webhook (`PostWebhookUrl`) is delivered the same way, from a cursor
//! of its own ([`SERVICE_CONSUMER`]) on runs of its own, for the events of every channel of the
//! service that its filters name and whose cause asks for it (Twilio: a client's action always, a
//! REST call only with `X-Twilio-Webhook-Enabled: true`; see `Cause`), and only for events from
//! since it was set; and for users' changes, read from each user's `US…` stream under the same
//! consumer name. Its pre-event webhook (`PreWebhookUrl`) is called by `client_action` before
//! a client's action is decided, through [`call_pre_event`].

use std::collections::BTreeMap;

use serde_json::Value;
use switchboard_domain::{
    Cause, ChannelEvent, ChannelState, ChannelStatus, MessageSource, Recorded, Sid, SidPrefix,
    Timestamp, UserEvent, UserState, WebhookConfig, WebhookMethod, WebhookState,
};
use switchboard_store::{EventLog, ReplayRecord, StoreError};

use crate::channel::GetState;
use crate::metrics::Destination;
use crate::outbox::{backoff, Shared, Wake};

/// The cursor and dead-letter name of channel webhook delivery.
pub const CONSUMER: &str = "channel-webhooks";

/// The cursor and dead-letter name of service post-event webhook delivery.
pub const SERVICE_CONSUMER: &str = "service-webhooks";

/// How long a pre-event webhook has to answer each call: the client waits meanwhile.
pub const PRE_EVENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Channel attributes as clients read them: Flex's `status` follows the channel's real status,
/// for channels of a flow and for any channel whose attributes carry a `status`.
pub fn channel_attributes(channel: &ChannelState) -> String {
    let flex_managed = channel.flex_flow_sid.is_some();
    match serde_json::from_str::<Value>(&channel.attributes) {
        Ok(Value::Object(mut map)) if flex_managed || map.contains_key("status") => {
            let status = match channel.status {
                ChannelStatus::Active => "ACTIVE",
                ChannelStatus::Inactive => "INACTIVE",
            };
            map.insert("status".into(), Value::from(status));
            Value::Object(map).to_string()
        }
        _ => channel.attributes.clone(),
    }
}

/// Where delivery of `state`'s webhooks should resume after a restart, if anywhere: at its
/// cursor, or after the first webhook's own event when delivery never started.
pub(crate) fn resume_from(
    log: &EventLog,
    channel: Sid,
    state: &ChannelState,
) -> Result<Option<u64>, StoreError> {
    let Some(first) = first_wanted(&state.webhooks) else { return Ok(None) };
    let cursor =
        if log.has_cursor(CONSUMER, channel)? { log.cursor(CONSUMER, channel)? } else { 0 };
    Ok(Some(cursor.max(first)))
}

/// The first sequence number any of `webhooks` wants.
fn first_wanted(webhooks: &BTreeMap<Sid, WebhookState>) -> Option<u64> {
    webhooks.values().map(|w| w.added_seq.saturating_add(1)).min()
}

/// One run of a channel's webhooks (the outbox keeps them one at a time per channel).
pub(crate) async fn deliver_channel(shared: &Shared, wake: &Wake) {
    if let Err(error) = deliver(shared, wake).await {
        let channel = wake.channel_sid;
        tracing::error!(%channel, %error, "channel webhooks stopped on a storage error");
    }
}

/// Delivers every pending event of one channel to its webhooks, in order, from its cursor.
async fn deliver(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.channel_sid;
    let Some(state) = current_state(shared, channel).await else { return Ok(()) };
    let Some(first) = first_wanted(&state.webhooks) else { return Ok(()) };
    let cursor = if log.has_cursor(CONSUMER, channel)? {
        log.cursor(CONSUMER, channel)?
    } else {
        wake.from_seq
    };
    // Nothing before the oldest webhook's own event is anyone's: skip it without reading it.
    let start = cursor.max(first);
    log.set_cursor(CONSUMER, channel, start)?;
    let records = crate::outbox::durable_records::<Recorded>(log, wake, start)?;
    for (i, record) in records.iter().enumerate() {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = record {
            let next = match records.get(i + 1) {
                Some(ReplayRecord::Event { event, .. }) => Some(event),
                _ => None,
            };
            if let Some(names) = event_types(event, next) {
                deliver_event(shared, wake, seq, event, names).await?;
            }
        }
        log.set_cursor(CONSUMER, channel, seq + 1)?;
    }
    Ok(())
}

/// Sends one event to every webhook that wants it, as the webhooks are now.
async fn deliver_event(
    shared: &Shared,
    wake: &Wake,
    seq: u64,
    record: &Recorded,
    names: &[&'static str],
) -> Result<(), StoreError> {
    let channel = wake.channel_sid;
    let Some(state) = current_state(shared, channel).await else { return Ok(()) };
    let mut wanted: Vec<(Sid, &WebhookState, &'static str)> = state
        .webhooks
        .iter()
        .filter(|(_, w)| w.added_seq < seq)
        .filter_map(|(sid, w)| names.iter().find(|n| w.config.wants(n)).map(|n| (*sid, w, *n)))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    wanted.sort_by_key(|(_, w, _)| w.added_seq);
    // Built only now that someone listens: member and channel events read the log for it.
    let Some(params) = describe(shared, wake, seq, record)? else { return Ok(()) };
    let mut failures = Vec::new();
    for (webhook_sid, webhook, name) in wanted {
        let mut form = vec![("EventType".to_owned(), name.to_owned())];
        form.extend(params.iter().cloned());
        form.push(("WebhookSid".to_owned(), webhook_sid.to_string()));
        form.push(("WebhookType".to_owned(), "webhook".to_owned()));
        let called =
            call_with_retries(shared, &webhook.config, form, None, Destination::ChannelWebhook)
                .await;
        crate::metrics::delivered(Destination::ChannelWebhook, called.is_ok());
        if let Err(why) = called {
            tracing::warn!(%channel, seq, webhook = %webhook_sid, "a channel webhook gave up: {why}");
            failures.push(format!("{webhook_sid}: {why}"));
        }
    }
    if !failures.is_empty() {
        shared.log.record_dead_letter(CONSUMER, channel, seq, &failures.join("; "))?;
        crate::metrics::dead_letter(Destination::ChannelWebhook);
    }
    Ok(())
}

/// Where delivery of a channel's events to its service's post-event webhook should resume after
/// a restart, if anywhere: at its cursor, or from the start when it never began and the channel
/// changed since the webhook was set (earlier events are skipped by their time).
pub(crate) fn service_resume_from(
    log: &EventLog,
    channel: Sid,
    state: &ChannelState,
    since: Timestamp,
) -> Result<Option<u64>, StoreError> {
    if log.has_cursor(SERVICE_CONSUMER, channel)? {
        return Ok(Some(log.cursor(SERVICE_CONSUMER, channel)?));
    }
    Ok((state.date_updated >= since || state.date_created >= since).then_some(0))
}

/// One run of a channel's service post-event webhook (one at a time per channel).
pub(crate) async fn deliver_service_channel(shared: &Shared, wake: &Wake) {
    if let Err(error) = deliver_service(shared, wake).await {
        let channel = wake.channel_sid;
        tracing::error!(%channel, %error, "service webhooks stopped on a storage error");
    }
}

/// Delivers every pending event of one channel to its service's post-event webhook, in order,
/// from its cursor.
async fn deliver_service(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.channel_sid;
    if shared.services.post_webhook(wake.service_sid).is_none() {
        return Ok(());
    }
    if channel.prefix() == SidPrefix::USER {
        return deliver_user(shared, wake).await;
    }
    let start = if log.has_cursor(SERVICE_CONSUMER, channel)? {
        log.cursor(SERVICE_CONSUMER, channel)?
    } else {
        wake.from_seq
    };
    // Recorded at once, so a restart knows this channel is being delivered.
    log.set_cursor(SERVICE_CONSUMER, channel, start)?;
    let records = crate::outbox::durable_records::<Recorded>(log, wake, start)?;
    for (i, record) in records.iter().enumerate() {
        let seq = record.seq();
        if let ReplayRecord::Event { event, .. } = record {
            let next = match records.get(i + 1) {
                Some(ReplayRecord::Event { event, .. }) => Some(event),
                _ => None,
            };
            // Read for each event: a change of the settings applies from the next event on.
            if let Some((hook, since)) = shared.services.post_webhook(wake.service_sid) {
                let wanted = (event.at >= since
                    && Cause::fires_service_webhooks(event.cause.as_ref()))
                .then(|| service_event_types(event, next))
                .flatten()
                .and_then(|names| names.iter().find(|n| hook.wants(n)));
                if let Some(name) = wanted {
                    deliver_service_event(shared, wake, seq, event, name, &hook).await?;
                }
            }
        }
        log.set_cursor(SERVICE_CONSUMER, channel, seq + 1)?;
    }
    Ok(())
}

async fn deliver_service_event(
    shared: &Shared,
    wake: &Wake,
    seq: u64,
    record: &Recorded,
    name: &str,
    hook: &WebhookConfig,
) -> Result<(), StoreError> {
    let channel = wake.channel_sid;
    let Some(params) = describe(shared, wake, seq, record)? else { return Ok(()) };
    let mut form = vec![("EventType".to_owned(), name.to_owned())];
    form.extend(params);
    let called = call_with_retries(shared, hook, form, None, Destination::ServiceWebhook).await;
    crate::metrics::delivered(Destination::ServiceWebhook, called.is_ok());
    if let Err(why) = called {
        tracing::warn!(%channel, seq, "the service's post-event webhook gave up: {why}");
        shared.log.record_dead_letter(SERVICE_CONSUMER, channel, seq, &why)?;
        crate::metrics::dead_letter(Destination::ServiceWebhook);
    }
    Ok(())
}

/// Delivers a user's pending changes (`onUserAdded`, `onUserUpdated`) to its service's
/// post-event webhook, in order, from the user stream's own cursor.
async fn deliver_user(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let user = wake.channel_sid;
    let start = if log.has_cursor(SERVICE_CONSUMER, user)? {
        log.cursor(SERVICE_CONSUMER, user)?
    } else {
        wake.from_seq
    };
    log.set_cursor(SERVICE_CONSUMER, user, start)?;
    // A user's stream is a few short events: the state is folded along the way.
    let mut state = UserState::default();
    for record in crate::outbox::durable_records::<Recorded<UserEvent>>(log, wake, 0)? {
        let seq = record.seq();
        let ReplayRecord::Event { event, .. } = record else { return Ok(()) };
        state.apply(&event);
        if seq < start {
            continue;
        }
        let name = match event.event {
            UserEvent::UserCreated { .. } => Some("onUserAdded"),
            UserEvent::UserUpdated { .. } => Some("onUserUpdated"),
            _ => None,
        };
        let hook = shared.services.post_webhook(wake.service_sid);
        let wanted = name.zip(hook).filter(|(name, (hook, since))| {
            event.at >= *since
                && Cause::fires_service_webhooks(event.cause.as_ref())
                && hook.wants(name)
        });
        if let Some((name, (hook, _))) = wanted {
            let mut form = Form::default();
            form.put("EventType", name)
                .put("AccountSid", shared.config.account_sid.clone())
                .put("InstanceSid", wake.service_sid.to_string())
                .put("ServiceSid", wake.service_sid.to_string())
                .put("UserSid", user.to_string())
                .put("Identity", state.identity.clone())
                .put_some("FriendlyName", state.friendly_name.clone())
                .put("Attributes", state.attributes.clone())
                .put_some("RoleSid", state.role_sid.map(|r| r.to_string()))
                .put("DateCreated", crate::iso8601(state.date_created))
                .put("DateUpdated", crate::iso8601(state.date_updated))
                .put("Source", event.cause.as_ref().map_or("API", Cause::source_name));
            let called =
                call_with_retries(shared, &hook, form.0, None, Destination::ServiceWebhook).await;
            crate::metrics::delivered(Destination::ServiceWebhook, called.is_ok());
            if let Err(why) = called {
                tracing::warn!(%user, seq, "the service's post-event webhook gave up: {why}");
                log.record_dead_letter(SERVICE_CONSUMER, user, seq, &why)?;
                crate::metrics::dead_letter(Destination::ServiceWebhook);
            }
        }
        log.set_cursor(SERVICE_CONSUMER, user, seq + 1)?;
    }
    Ok(())
}

/// The names an event may be sent to a service's post-event webhook under, most specific first.
fn service_event_types(
    record: &Recorded,
    next: Option<&Recorded>,
) -> Option<&'static [&'static str]> {
    match &record.event {
        ChannelEvent::ChannelCreated { .. } => Some(&["onChannelAdded"]),
        _ => event_types(record, next),
    }
}

/// What the service's pre-event webhook said to an action it allowed: its JSON answer, if it
/// gave one. `Err` says why the action is refused: a non-2xx answer, or none in time after the
/// retries.
pub(crate) async fn call_pre_event(
    shared: &Shared,
    hook: &WebhookConfig,
    form: Vec<(String, String)>,
) -> Result<Option<Value>, String> {
    let called = call_with_retries(
        shared,
        hook,
        form,
        Some(PRE_EVENT_TIMEOUT),
        Destination::PreEventWebhook,
    )
    .await;
    crate::metrics::delivered(Destination::PreEventWebhook, called.is_ok());
    let response = called?;
    // An answer too long, broken off or not JSON allows the action and changes nothing in it.
    let answer = crate::outbound::read_capped(response, crate::outbound::ANSWER_LIMIT_BYTES).await;
    Ok(answer.ok().and_then(|answer| serde_json::from_slice(&answer).ok()))
}

/// The parameters every pre-event call carries, for `channel` of `service`.
pub(crate) fn pre_event_form(
    shared: &Shared,
    service: Sid,
    channel: Sid,
    name: &str,
    identity: &str,
) -> Vec<(String, String)> {
    let mut form = Form::default();
    form.put("EventType", name)
        .put("AccountSid", shared.config.account_sid.clone())
        .put("InstanceSid", service.to_string())
        .put("ServiceSid", service.to_string())
        .put("ChannelSid", channel.to_string())
        .put("ClientIdentity", identity)
        .put("Source", "SDK");
    form.0
}

/// The channel's state as its actor has it now; `None` if it cannot be had (stopping).
async fn current_state(shared: &Shared, channel: Sid) -> Option<ChannelState> {
    let registry = shared.registry.upgrade()?;
    match registry.ask(channel, None, || GetState).await {
        Ok(Ok(state)) => Some(state),
        other => {
            tracing::warn!(%channel, ?other, "channel webhooks could not read the channel");
            None
        }
    }
}

/// The names an event may be delivered under, most specific first; `None` for events no
/// filter names (tasks, deliveries, read horizons, webhook changes themselves).
fn event_types(record: &Recorded, next: Option<&Recorded>) -> Option<&'static [&'static str]> {
    Some(match &record.event {
        ChannelEvent::MessageAdded { media: Some(_), .. } => {
            &["onMediaMessageSent", "onMessageSent"]
        }
        ChannelEvent::MessageAdded { .. } => &["onMessageSent"],
        ChannelEvent::MessageEdited { .. } => &["onMessageUpdated"],
        ChannelEvent::MessageRemoved { .. } => &["onMessageRemoved"],
        ChannelEvent::MemberJoined { .. } => &["onMemberAdded"],
        ChannelEvent::MemberUpdated { .. } => &["onMemberUpdated"],
        ChannelEvent::MemberLeft { .. } => &["onMemberRemoved"],
        ChannelEvent::ChannelDestroyed { .. } => &["onChannelDestroyed"],
        // One update (say attributes and the status they carry) is one call, made for the last
        // of its events, which all share the same time.
        event if changes_channel(event) => {
            if next.is_some_and(|n| n.at == record.at && changes_channel(&n.event)) {
                return None;
            }
            &["onChannelUpdated"]
        }
        _ => return None,
    })
}

/// Builds a form of name/value pairs, leaving out values that are absent.
#[derive(Default)]
struct Form(Vec<(String, String)>);

impl Form {
    fn put(&mut self, name: &str, value: impl Into<String>) -> &mut Form {
        self.0.push((name.to_owned(), value.into()));
        self
    }

    fn put_some(&mut self, name: &str, value: Option<impl Into<String>>) -> &mut Form {
        if let Some(value) = value {
            self.put(name, value);
        }
        self
    }
}

/// What a webhook is told about `record` (without `EventType` and the per-webhook parameters);
/// `None` when what it needs is gone (a shredded channel).
fn describe(
    shared: &Shared,
    wake: &Wake,
    seq: u64,
    record: &Recorded,
) -> Result<Option<Vec<(String, String)>>, StoreError> {
    let channel = wake.channel_sid;
    let source = source_of(record);
    // A client acted as its token's identity; otherwise the event's own actor says who.
    let client = match &record.cause {
        Some(Cause::Client { identity }) => Some(identity.clone()),
        _ => None,
    };
    let mut form = Form::default();
    form.put("AccountSid", shared.config.account_sid.clone())
        .put("InstanceSid", wake.service_sid.to_string())
        .put("ServiceSid", wake.service_sid.to_string())
        .put("ChannelSid", channel.to_string());
    match &record.event {
        ChannelEvent::MessageAdded {
            message_sid, index, author, body, attributes, media, ..
        } => {
            form.put("MessageSid", message_sid.to_string())
                .put("Index", index.to_string())
                .put("From", author.clone())
                .put("ClientIdentity", client.unwrap_or_else(|| author.clone()))
                .put("Body", body.clone())
                .put("Attributes", attributes.clone())
                .put("DateCreated", crate::iso8601(record.at))
                .put("Source", source);
            if let Some(media) = media {
                form.put("MediaSid", media.sid.to_string())
                    .put("MediaContentType", media.content_type.clone())
                    .put("MediaSize", media.size_bytes.to_string())
                    .put_some("MediaFilename", media.filename.clone());
            }
        }
        ChannelEvent::MessageEdited { index, edited_by, .. } => {
            let Some(message) = message_through(&shared.log, channel, seq, *index)? else {
                return Ok(None);
            };
            let actor = edited_by.clone().unwrap_or_else(|| message.author.clone());
            message.put_into(&mut form);
            form.put("ClientIdentity", client.unwrap_or(actor))
                .put_some("ModifiedBy", edited_by.clone())
                .put("DateUpdated", crate::iso8601(record.at))
                .put("Source", source);
        }
        ChannelEvent::MessageRemoved { index } => {
            let Some(message) = message_through(&shared.log, channel, seq, *index)? else {
                return Ok(None);
            };
            message.put_into(&mut form);
            form.put("ClientIdentity", client.unwrap_or_else(|| message.author.clone()))
                .put("Source", source);
        }
        ChannelEvent::MemberJoined { member_sid, .. }
        | ChannelEvent::MemberUpdated { member_sid, .. }
        | ChannelEvent::MemberLeft { member_sid } => {
            let left = matches!(record.event, ChannelEvent::MemberLeft { .. });
            // A member who left is found in the state just before leaving.
            let state = state_through(&shared.log, channel, if left { seq } else { seq + 1 })?;
            let Some(member) = state.members.get(member_sid) else { return Ok(None) };
            form.put("MemberSid", member_sid.to_string())
                .put("Identity", member.identity.clone())
                .put("ClientIdentity", client.unwrap_or_else(|| member.identity.clone()))
                .put_some("RoleSid", member.role_sid.map(|r| r.to_string()))
                .put("Attributes", member.attributes.clone())
                .put("DateCreated", crate::iso8601(member.date_created))
                .put("Source", source);
            if matches!(record.event, ChannelEvent::MemberUpdated { .. }) {
                form.put("DateUpdated", crate::iso8601(record.at));
            }
        }
        event
            if changes_channel(event)
                || matches!(
                    event,
                    ChannelEvent::ChannelCreated { .. } | ChannelEvent::ChannelDestroyed {}
                ) =>
        {
            // A deleted channel is told as it was just before.
            let destroyed = matches!(event, ChannelEvent::ChannelDestroyed {});
            let state = state_through(&shared.log, channel, if destroyed { seq } else { seq + 1 })?;
            if !state.is_created() {
                return Ok(None);
            }
            form.put_some("FriendlyName", state.friendly_name.clone())
                .put_some("UniqueName", state.unique_name.clone())
                .put("Attributes", channel_attributes(&state))
                .put("ChannelType", channel_type(&state))
                .put("CreatedBy", state.created_by.clone())
                .put("DateCreated", crate::iso8601(state.date_created))
                .put("DateUpdated", crate::iso8601(record.at))
                .put_some("ClientIdentity", client)
                .put("Source", source);
        }
        _ => return Ok(None),
    }
    Ok(Some(form.0))
}

/// The events that change what the channel resource shows.
fn changes_channel(event: &ChannelEvent) -> bool {
    matches!(
        event,
        ChannelEvent::AttributesUpdated { .. }
            | ChannelEvent::ChannelRenamed { .. }
            | ChannelEvent::ChannelDeactivated { .. }
            | ChannelEvent::ChannelReactivated { .. }
    )
}

/// Twilio's `Source` of an event: what its cause says, else (records from before causes were
/// kept) `SDK` for an agent's message.
fn source_of(record: &Recorded) -> &'static str {
    match (&record.cause, &record.event) {
        (Some(cause), _) => cause.source_name(),
        (None, ChannelEvent::MessageAdded { source, .. }) => source_name(*source),
        (None, _) => "API",
    }
}

fn channel_type(state: &ChannelState) -> &'static str {
    match state.kind {
        Some(switchboard_domain::ChannelKind::Public) => "public",
        _ => "private",
    }
}

/// `SDK` for what an agent's client did, `API` for everything else, as Twilio labels them.
fn source_name(source: MessageSource) -> &'static str {
    match source {
        MessageSource::Agent => "SDK",
        _ => "API",
    }
}

/// The channel's state folded from its first `end` events. Only for the rare events that need
/// more than they carry (member and channel changes), never for messages.
fn state_through(log: &EventLog, channel: Sid, end: u64) -> Result<ChannelState, StoreError> {
    let mut state = ChannelState::default();
    for record in log.read::<Recorded>(channel, 0) {
        match record? {
            ReplayRecord::Event { seq, .. } if seq >= end => break,
            ReplayRecord::Event { event, .. } => state.apply(&event),
            ReplayRecord::Shredded { .. } => return Ok(ChannelState::default()),
        }
    }
    Ok(state)
}

/// A message as it stood just before event `end`.
struct MessageThen {
    sid: Sid,
    index: u64,
    author: String,
    body: String,
    attributes: String,
    date_created: switchboard_domain::Timestamp,
}

impl MessageThen {
    fn put_into(&self, form: &mut Form) {
        form.put("MessageSid", self.sid.to_string())
            .put("Index", self.index.to_string())
            .put("From", self.author.clone())
            .put("Body", self.body.clone())
            .put("Attributes", self.attributes.clone())
            .put("DateCreated", crate::iso8601(self.date_created));
    }
}

/// Message `index` with the edits before event `end`, and the edit at `end` itself applied (an
/// update is told with its new text).
fn message_through(
    log: &EventLog,
    channel: Sid,
    end: u64,
    index: u64,
) -> Result<Option<MessageThen>, StoreError> {
    let mut found: Option<MessageThen> = None;
    for record in log.read::<Recorded>(channel, 0) {
        let ReplayRecord::Event { seq, event, .. } = record? else { return Ok(None) };
        if seq > end {
            break;
        }
        match event.event {
            ChannelEvent::MessageAdded {
                message_sid, index: i, author, body, attributes, ..
            } if i == index => {
                found = Some(MessageThen {
                    sid: message_sid,
                    index,
                    author,
                    body,
                    attributes,
                    date_created: event.at,
                });
            }
            ChannelEvent::MessageEdited { index: i, body, attributes, .. } if i == index => {
                if let Some(message) = found.as_mut() {
                    if let Some(body) = body {
                        message.body = body;
                    }
                    if let Some(attributes) = attributes {
                        message.attributes = attributes;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Calls one webhook, retried up to its `RetryCount` on network errors, 429 and 5xx; each call
/// waits `timeout` at most, else the outbox's. Returns the 2xx answer.
async fn call_with_retries(
    shared: &Shared,
    config: &WebhookConfig,
    mut params: Vec<(String, String)>,
    timeout: Option<std::time::Duration>,
    destination: Destination,
) -> Result<reqwest::Response, String> {
    let mut last_error = String::new();
    let target =
        crate::outbound::parse_url(&config.url).map_err(|e| format!("the webhook URL: {e}"))?;
    for attempt in 0..=u32::from(config.retry_count) {
        if attempt > 0 {
            tokio::time::sleep(backoff(&shared.config, attempt)).await;
        }
        params.retain(|(k, _)| k != "RetryCount");
        params.push(("RetryCount".to_owned(), attempt.to_string()));
        crate::metrics::attempt(destination, attempt);
        let key = &shared.config.signing_key;
        let call = match config.method {
            WebhookMethod::Post => {
                let signature = switchboard_crypto::webhook::compute(key, &config.url, &params);
                shared
                    .outbound
                    .post(target.clone())
                    .header("X-Twilio-Signature", &signature)
                    .form(&params)
            }
            // A GET carries the form in its query string and is signed over the whole URL.
            WebhookMethod::Get => {
                let mut url = target.clone();
                url.query_pairs_mut().extend_pairs(&params);
                let signature = switchboard_crypto::webhook::compute(key, url.as_str(), &[]);
                shared.outbound.get(url).header("X-Twilio-Signature", &signature)
            }
        };
        let call = match timeout {
            Some(timeout) => call.timeout(timeout),
            None => call,
        };
        match call.send().await {
            Ok(response) if response.status().is_success() => return Ok(response),
            Ok(response) => {
                let status = response.status();
                last_error = format!("HTTP {status} from the webhook URL");
                if crate::outbox::refused_for_good(status) {
                    return Err(last_error);
                }
            }
            Err(error) if !error.may_pass() => return Err(format!("the webhook URL: {error}")),
            Err(error) => last_error = format!("could not reach the webhook URL: {error}"),
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(attributes: &str, flow: bool, status: ChannelStatus) -> ChannelState {
        ChannelState {
            attributes: attributes.into(),
            flex_flow_sid: flow
                .then(|| Sid::from_parts(switchboard_domain::SidPrefix::FLEX_FLOW, [1; 16])),
            status,
            ..ChannelState::default()
        }
    }

    #[test]
    fn the_status_attribute_follows_the_channel() {
        let flex = state(r#"{"from":"+1"}"#, true, ChannelStatus::Inactive);
        assert_eq!(channel_attributes(&flex), r#"{"from":"+1","status":"INACTIVE"}"#);
        let plain = state(r#"{"a":1}"#, false, ChannelStatus::Inactive);
        assert_eq!(channel_attributes(&plain), r#"{"a":1}"#);
        let says = state(r#"{"status":"ACTIVE"}"#, false, ChannelStatus::Inactive);
        assert_eq!(channel_attributes(&says), r#"{"status":"INACTIVE"}"#);
        let not_json = state("not json", true, ChannelStatus::Active);
        assert_eq!(channel_attributes(&not_json), "not json");
    }

    #[test]
    fn only_agents_are_the_sdk() {
        assert_eq!(source_name(MessageSource::Agent), "SDK");
        for source in [MessageSource::Api, MessageSource::Customer, MessageSource::System] {
            assert_eq!(source_name(source), "API");
        }
    }

    #[test]
    fn one_channel_update_is_one_call() {
        use switchboard_domain::{DeactivationReason, Timestamp};
        let at = |ms, event| Recorded::new(Timestamp(ms), event);
        let deactivated =
            at(5, ChannelEvent::ChannelDeactivated { reason: DeactivationReason::Api });
        let attributes = at(5, ChannelEvent::AttributesUpdated { attributes: "{}".into() });
        let later = at(6, ChannelEvent::AttributesUpdated { attributes: "{}".into() });
        assert_eq!(event_types(&deactivated, Some(&attributes)), None, "the next one tells");
        assert_eq!(event_types(&attributes, None), Some(&["onChannelUpdated"][..]));
        assert_eq!(event_types(&attributes, Some(&later)), Some(&["onChannelUpdated"][..]));
        let removed = at(5, ChannelEvent::MessageRemoved { index: 0 });
        assert_eq!(event_types(&deactivated, Some(&removed)), Some(&["onChannelUpdated"][..]));
        let read = at(
            5,
            ChannelEvent::ReadHorizonUpdated {
                member_sid: Sid::from_parts(switchboard_domain::SidPrefix::MEMBER, [1; 16]),
                last_consumed_index: Some(0),
            },
        );
        assert_eq!(event_types(&read, None), None, "a read horizon is not an update");
    }
}
