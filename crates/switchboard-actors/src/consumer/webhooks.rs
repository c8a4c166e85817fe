//! What channel and service webhooks are told, and how they are called: the Twilio form of a
//! channel event (`describe`), which event types an event is sent under, a call retried with
//! backoff and jitter on network errors, 429 and 5xx up to the webhook's `RetryCount` (never on
//! other 4xx), and a service's pre-event webhook (`PreWebhookUrl`), called by `client_action`
//! before a client's action is decided ([`call_pre_event`]).
//!
//! Delivery is at least once: a crash between a call and its consumer's cursor update repeats it.

use serde_json::Value;
use switchboard_domain::{
    Cause, ChannelEvent, ChannelState, ChannelStatus, MessageSource, Recorded, Sid, WebhookConfig,
    WebhookMethod,
};
use switchboard_store::{EventLog, ReplayRecord, StoreError};

use super::{backoff, Shared, Wake};
use crate::channel::GetState;
use crate::metrics::Destination;

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
pub(super) async fn current_state(shared: &Shared, channel: Sid) -> Option<ChannelState> {
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
pub(super) fn event_types(
    record: &Recorded,
    next: Option<&Recorded>,
) -> Option<&'static [&'static str]> {
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
pub(super) struct Form(pub(super) Vec<(String, String)>);

impl Form {
    pub(super) fn put(&mut self, name: &str, value: impl Into<String>) -> &mut Form {
        self.0.push((name.to_owned(), value.into()));
        self
    }

    pub(super) fn put_some(&mut self, name: &str, value: Option<impl Into<String>>) -> &mut Form {
        if let Some(value) = value {
            self.put(name, value);
        }
        self
    }
}

/// What a webhook is told about `record` (without `EventType` and the per-webhook parameters);
/// `None` when what it needs is gone (a shredded channel).
pub(super) fn describe(
    shared: &Shared,
    wake: &Wake,
    seq: u64,
    record: &Recorded,
) -> Result<Option<Vec<(String, String)>>, StoreError> {
    let channel = wake.stream_sid;
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
pub(super) async fn call_with_retries(
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
                if super::refused_for_good(status) {
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
