//! Agent replies to the customer, through the customer's provider: Twilio's Messages API for SMS
//! and WhatsApp over Twilio, the WhatsApp Cloud API for WhatsApp numbers on Meta, and the
//! Messenger Send API for Facebook pages.
//!
//! Like the external integration, delivery reads the channel's own log from a cursor, so a reply
//! that is durable is never lost and a restart resumes where delivery stopped. Replies of a
//! channel go out one at a time, in order; a send is retried with backoff and jitter on network
//! errors, 429 and 5xx (not on other 4xx), and its outcome is recorded on the message through the
//! channel's actor: `sent` with the provider's message id (so later status reports find it), or
//! `failed` with the provider's error. A daemon without upstream provider credentials has a
//! sandbox (`OutboxConfig::sandbox`): every reply then goes there, never to a provider.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use switchboard_domain::{
    Cause, ChannelCommand, ChannelEvent, ChannelState, ChannelType, FlowConfig, MessageSource,
    ProviderError, Recorded, Sid, Timestamp,
};
use switchboard_store::{ReplayRecord, StoreError};

use super::{backoff, Consumer, Run, Shared, Wake, Woken};
use crate::channel::Execute;
use crate::Clock;

/// The cursor name of reply delivery.
pub const CONSUMER: &str = "provider-delivery";

/// Where WhatsApp Cloud media are downloaded from unless configured otherwise: the media URLs
/// the Graph API gives are on this host, and need the number's access token too.
pub const DEFAULT_WHATSAPP_MEDIA_ORIGIN: &str = "https://lookaside.fbsbx.com";

/// Meta's Graph API, which carries WhatsApp Cloud and Messenger sends. No `Debug` derive: it holds
/// access tokens.
#[derive(Clone, Default)]
pub struct GraphApi {
    /// `https://graph.facebook.com/v22.0`, or a stand-in.
    pub base_url: String,
    /// The one other origin WhatsApp access tokens go to: where media are downloaded from
    /// ([`DEFAULT_WHATSAPP_MEDIA_ORIGIN`], or a stand-in).
    pub media_origin: String,
    /// Access tokens by WhatsApp `phone_number_id`; `whatsapp_default` serves the others.
    pub whatsapp_tokens: HashMap<String, String>,
    pub whatsapp_default: Option<String>,
    /// Page access tokens by Page id; `messenger_default` serves the others.
    pub messenger_tokens: HashMap<String, String>,
    pub messenger_default: Option<String>,
}

impl std::fmt::Debug for GraphApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut numbers: Vec<_> = self.whatsapp_tokens.keys().collect();
        let mut pages: Vec<_> = self.messenger_tokens.keys().collect();
        numbers.sort();
        pages.sort();
        f.debug_struct("GraphApi")
            .field("base_url", &self.base_url)
            .field("media_origin", &self.media_origin)
            .field("whatsapp_numbers", &numbers)
            .field("whatsapp_default", &self.whatsapp_default.as_ref().map(|_| "<set>"))
            .field("messenger_pages", &pages)
            .field("messenger_default", &self.messenger_default.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl GraphApi {
    pub(crate) fn whatsapp_token(&self, phone_number_id: &str) -> Option<&str> {
        self.whatsapp_tokens.get(phone_number_id).or(self.whatsapp_default.as_ref()).map(|t| &**t)
    }

    fn messenger_token(&self, page_id: &str) -> Option<&str> {
        self.messenger_tokens.get(page_id).or(self.messenger_default.as_ref()).map(|t| &**t)
    }
}

/// Whether replies on channels of this flow go to the customer through a provider. Web chats
/// read replies on their WebSocket, custom channels through channel webhooks.
/// Whether an event may be a reply to send: a message from anyone but the customer. Edits and
/// removals are not sent again; a customer's own message never goes back to them.
pub(crate) fn may_reply(event: &ChannelEvent) -> bool {
    matches!(event, ChannelEvent::MessageAdded { source, .. } if *source != MessageSource::Customer)
}

pub(crate) fn delivers_replies(flow: &FlowConfig) -> bool {
    matches!(flow.channel_type, ChannelType::Sms | ChannelType::Whatsapp | ChannelType::Facebook)
}

/// Whether replies in a channel of `flow` with this customer go out through a provider, so the
/// outbox records each one's outcome (sent or failed) on the message.
pub(crate) fn through_provider(flow: &FlowConfig, customer: Option<&str>) -> bool {
    delivers_replies(flow) && customer.is_some_and(|c| Route::of(flow, c).is_some())
}

/// Where one channel's replies go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// Twilio's Messages API, `From` our number (`whatsapp:`-prefixed for WhatsApp).
    Twilio { to: String, from: String },
    /// WhatsApp Cloud API: our `phone_number_id`, the customer's number (`+E164`).
    WhatsappCloud { phone_number_id: String, to: String },
    /// Messenger Send API: our Page id, the customer's PSID.
    Messenger { page_id: String, psid: String },
}

impl Route {
    /// Our side and the customer's, as the provider names them.
    fn parties(&self) -> (&str, &str) {
        match self {
            Route::Twilio { to, from } => (from, to),
            Route::WhatsappCloud { phone_number_id, to } => (phone_number_id, to),
            Route::Messenger { page_id, psid } => (page_id, psid),
        }
    }

    /// Where its deliveries are counted.
    fn destination(&self) -> crate::metrics::Destination {
        match self {
            Route::Twilio { .. } => crate::metrics::Destination::Twilio,
            Route::WhatsappCloud { .. } => crate::metrics::Destination::Whatsapp,
            Route::Messenger { .. } => crate::metrics::Destination::Messenger,
        }
    }

    /// From the flow's contact identity and the customer's normalized address.
    fn of(flow: &FlowConfig, customer: &str) -> Option<Route> {
        let ours = flow.contact_identity.clone()?;
        match flow.channel_type {
            ChannelType::Sms => Some(Route::Twilio { to: customer.to_owned(), from: ours }),
            // WhatsApp over Twilio names a number; the WhatsApp Cloud API a phone number id.
            ChannelType::Whatsapp if ours.starts_with('+') || ours.starts_with("whatsapp:") => {
                let from =
                    if ours.starts_with("whatsapp:") { ours } else { format!("whatsapp:{ours}") };
                Some(Route::Twilio { to: customer.to_owned(), from })
            }
            ChannelType::Whatsapp => Some(Route::WhatsappCloud {
                phone_number_id: ours,
                to: customer.strip_prefix("whatsapp:").unwrap_or(customer).to_owned(),
            }),
            ChannelType::Facebook => Some(Route::Messenger {
                page_id: ours,
                psid: customer.strip_prefix("messenger:").unwrap_or(customer).to_owned(),
            }),
            _ => None,
        }
    }
}

/// Sends agent replies to the customer through the channel's provider.
pub(crate) struct Replies;

impl Consumer for Replies {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, woken: &Woken<'_>) -> bool {
        // A customer's message alone has nothing to send back: most inbound traffic then costs
        // this consumer nothing.
        woken.events().any(may_reply) && woken.flow().is_some_and(|f| delivers_replies(&f.config))
    }

    fn resume_from(
        &self,
        shared: &Shared,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        let flow = state.flex_flow_sid.and_then(|f| shared.flows.get(f));
        let Some(flow) = flow.filter(|f| delivers_replies(&f.config)) else { return Ok(None) };
        super::resume_under_flow(&shared.log, CONSUMER, channel, state, flow.date_updated)
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver_replies(&shared, &wake).await })
    }
}

async fn deliver_replies(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.stream_sid;
    // Read again for each run: the flow may have changed since the wake.
    let flow = wake.flow_sid.and_then(|f| shared.flows.get(f));
    let Some(flow) = flow.filter(|f| delivers_replies(&f.config)) else { return Ok(()) };
    let start = super::start_at(log, CONSUMER, channel, wake.from_seq)?;
    let customer = log.read::<Recorded>(channel, 0).next().and_then(|first| match first {
        Ok(ReplayRecord::Event {
            event: Recorded { event: ChannelEvent::ChannelCreated { customer_address, .. }, .. },
            ..
        }) => customer_address,
        _ => None,
    });
    let Some(route) = customer.and_then(|c| Route::of(&flow.config, &c)) else { return Ok(()) };
    let records = super::durable_records::<Recorded>(log, wake, start)?;
    let (mut passed, mut recorded) = (start, start);
    for record in records {
        passed = record.seq() + 1;
        if let ReplayRecord::Event { event: Recorded { event, .. }, .. } = &record {
            if let ChannelEvent::MessageAdded { index, body, media, message_sid, .. } = event {
                if may_reply(event) {
                    let requested_at = crate::SystemClock.now();
                    let reply =
                        Reply { body, media: media.as_ref().map(|m| attachment(shared, m)) };
                    let sent = Sent { channel, index: *index, requested_at };
                    match &shared.config.sandbox {
                        Some(sandbox) => {
                            let message = (wake.service_sid, *message_sid);
                            to_sandbox(shared, sandbox, &route, &reply, sent, message).await;
                        }
                        None => {
                            let outcome = send(shared, &route, &reply).await;
                            crate::metrics::delivered(route.destination(), outcome.is_ok());
                            record_outcome(shared, sent, outcome).await;
                        }
                    }
                    // Past each reply at once: a restart must not send it twice.
                    log.set_cursor(CONSUMER, channel, passed)?;
                    recorded = passed;
                }
            }
        }
    }
    if passed > recorded {
        log.set_cursor(CONSUMER, channel, passed)?;
    }
    Ok(())
}

/// How long a provider may fetch a reply's medium through its signed link.
const MEDIA_LINK_LIFETIME_SECS: u64 = 24 * 3600;

/// What a reply carries: text, a medium, or both.
struct Reply<'a> {
    body: &'a str,
    media: Option<Attachment>,
}

/// A reply's medium as providers take it: a link they can fetch without credentials.
struct Attachment {
    url: String,
    content_type: String,
    filename: Option<String>,
}

fn attachment(shared: &Shared, media: &switchboard_domain::Media) -> Attachment {
    let now_secs = u64::try_from(crate::SystemClock.now().as_millis() / 1000).unwrap_or(0);
    Attachment {
        url: crate::signed_media_url(
            &shared.config.public_url,
            &shared.config.signing_key,
            media.sid,
            now_secs + MEDIA_LINK_LIFETIME_SECS,
        ),
        content_type: media.content_type.clone(),
        filename: media.filename.clone(),
    }
}

/// WhatsApp's and Messenger's word for a medium of this type.
fn media_kind(content_type: &str, messenger: bool) -> &'static str {
    match content_type.split('/').next().unwrap_or_default() {
        "image" => "image",
        "audio" => "audio",
        "video" => "video",
        _ if messenger => "file",
        _ => "document",
    }
}

/// One request to a provider, ready to be sent (again), with the credential that goes with it
/// to the provider's configured origin only.
struct Request {
    url: reqwest::Url,
    credential: crate::outbound::Credential,
    body: Body,
}

enum Body {
    Form(Vec<(&'static str, String)>),
    Json(Value),
}

/// Sends one reply, in one request or, where the provider cannot put text beside a medium
/// (Messenger, WhatsApp audio), as the text and then the medium; returns the provider's id for
/// the last.
async fn send(
    shared: &Shared,
    route: &Route,
    reply: &Reply<'_>,
) -> Result<Option<String>, ProviderError> {
    let mut id = None;
    for request in requests(shared, route, reply)? {
        id = send_one(shared, route, &request).await?;
    }
    Ok(id)
}

async fn send_one(
    shared: &Shared,
    route: &Route,
    request: &Request,
) -> Result<Option<String>, ProviderError> {
    let mut last = ProviderError { code: "network".into(), message: String::new() };
    for attempt in 0..=shared.config.reply_retries {
        if attempt > 0 {
            tokio::time::sleep(backoff(&shared.config, attempt)).await;
        }
        crate::metrics::attempt(route.destination(), attempt);
        let call = shared.outbound.post(request.url.clone()).credential(&request.credential);
        let call = match &request.body {
            Body::Form(form) => call.form(form),
            Body::Json(json) => call.json(json),
        };
        match call.send().await {
            Ok(response) => {
                let status = response.status();
                let limit = crate::outbound::ANSWER_LIMIT_BYTES;
                let answer = crate::outbound::read_capped(response, limit).await;
                let text =
                    answer.map(|a| String::from_utf8_lossy(&a).into_owned()).unwrap_or_default();
                let answer = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
                if status.is_success() {
                    return Ok(provider_id(route, &answer));
                }
                last = ProviderError {
                    code: error_code(&answer).unwrap_or_else(|| status.as_u16().to_string()),
                    message: text.chars().take(500).collect(),
                };
                if super::refused_for_good(status) {
                    return Err(last);
                }
            }
            Err(error) if !error.may_pass() => {
                let message = format!("{}: {error}", provider_name(route));
                return Err(ProviderError { code: "refused".into(), message });
            }
            Err(error) => {
                last.message = format!("could not reach {}: {error}", provider_name(route));
            }
        }
    }
    Err(last)
}

fn requests(
    shared: &Shared,
    route: &Route,
    reply: &Reply<'_>,
) -> Result<Vec<Request>, ProviderError> {
    let missing = |what: String| ProviderError { code: "configuration".into(), message: what };
    let body = reply.body;
    match route {
        Route::Twilio { to, from } => {
            let api = shared
                .config
                .twilio
                .as_ref()
                .ok_or_else(|| missing("Twilio's Messages API is not configured".into()))?;
            let account = api.account_for(from);
            let mut form = vec![("To", to.clone()), ("From", from.clone())];
            if !body.is_empty() || reply.media.is_none() {
                form.push(("Body", body.into()));
            }
            if let Some(media) = &reply.media {
                form.push(("MediaUrl", media.url.clone()));
            }
            if let Some(callback) = &api.status_callback {
                form.push(("StatusCallback", callback.clone()));
            }
            let path = ["2010-04-01", "Accounts", &account.account_sid, "Messages.json"];
            let url = crate::outbound::endpoint(&api.base_url, &path)
                .map_err(|e| missing(format!("Twilio's API base URL: {e}")))?;
            let credential = crate::outbound::Credential::basic(
                &api.base_url,
                &account.account_sid,
                &account.auth_token,
            );
            Ok(vec![Request { url, credential, body: Body::Form(form) }])
        }
        Route::WhatsappCloud { phone_number_id, to } => {
            let graph = shared.config.graph.as_ref();
            let token = graph.and_then(|g| g.whatsapp_token(phone_number_id)).ok_or_else(|| {
                missing(format!(
                    "no WhatsApp access token for phone number id {phone_number_id} \
                     (SWITCHBOARD_WHATSAPP_TOKEN or whatsapp_numbers in the configuration)"
                ))
            })?;
            let url = graph_url(graph, phone_number_id).map_err(&missing)?;
            let credential = graph_credential(graph, token);
            let message = |content: Value| {
                Request {
                    url: url.clone(),
                    credential: credential.clone(),
                    body: Body::Json(json!({
                        "messaging_product": "whatsapp",
                        "recipient_type": "individual",
                        "to": to,
                    })),
                }
                .with(content)
            };
            let text = json!({"type": "text", "text": { "preview_url": false, "body": body }});
            let Some(media) = &reply.media else { return Ok(vec![message(text)]) };
            let kind = media_kind(&media.content_type, false);
            let mut object = json!({ "link": media.url });
            // Audio takes no caption: its text goes first, as a message of its own.
            let mut sends = Vec::new();
            if kind == "audio" && !body.is_empty() {
                sends.push(message(text));
            } else if !body.is_empty() {
                object["caption"] = json!(body);
            }
            if let (Some(name), "document") = (&media.filename, kind) {
                object["filename"] = json!(name);
            }
            sends.push(message(json!({ "type": kind, kind: object })));
            Ok(sends)
        }
        Route::Messenger { page_id, psid } => {
            let graph = shared.config.graph.as_ref();
            let token = graph.and_then(|g| g.messenger_token(page_id)).ok_or_else(|| {
                missing(format!(
                    "no page access token for Page {page_id} \
                     (SWITCHBOARD_MESSENGER_PAGE_TOKEN or messenger_pages in the configuration)"
                ))
            })?;
            let url = graph_url(graph, page_id).map_err(&missing)?;
            let credential = graph_credential(graph, token);
            let message = |content: Value| Request {
                url: url.clone(),
                credential: credential.clone(),
                body: Body::Json(json!({
                    "recipient": { "id": psid },
                    "messaging_type": "RESPONSE",
                    "message": content,
                })),
            };
            // Messenger's attachments carry no text: the text goes first, on its own.
            let mut sends = Vec::new();
            if !body.is_empty() || reply.media.is_none() {
                sends.push(message(json!({ "text": body })));
            }
            if let Some(media) = &reply.media {
                let kind = media_kind(&media.content_type, true);
                sends.push(message(json!({"attachment": {
                    "type": kind, "payload": { "url": media.url, "is_reusable": false }
                }})));
            }
            Ok(sends)
        }
    }
}

impl Request {
    /// The JSON body with `content`'s fields added.
    fn with(mut self, content: Value) -> Request {
        if let (Body::Json(Value::Object(body)), Value::Object(content)) = (&mut self.body, content)
        {
            body.extend(content);
        }
        self
    }
}

/// `{base}/{node}/messages`, the node (a phone number id, a Page id) as one encoded segment.
fn graph_url(graph: Option<&GraphApi>, node: &str) -> Result<reqwest::Url, String> {
    crate::outbound::endpoint(graph_base(graph), &[node, "messages"])
        .map_err(|e| format!("the Graph API base URL: {e}"))
}

pub(crate) fn graph_base(graph: Option<&GraphApi>) -> &str {
    graph.map_or(super::DEFAULT_GRAPH_API_BASE, |g| g.base_url.as_str())
}

/// A token for the Graph API's configured origin only.
fn graph_credential(graph: Option<&GraphApi>, token: &str) -> crate::outbound::Credential {
    crate::outbound::Credential::bearer(&[graph_base(graph)], token)
}

fn provider_name(route: &Route) -> &'static str {
    match route {
        Route::Twilio { .. } => "Twilio",
        Route::WhatsappCloud { .. } => "the WhatsApp Cloud API",
        Route::Messenger { .. } => "the Messenger Send API",
    }
}

/// The provider's id of an accepted message, from its answer.
fn provider_id(route: &Route, answer: &Value) -> Option<String> {
    let id = match route {
        Route::Twilio { .. } => &answer["sid"],
        Route::WhatsappCloud { .. } => &answer["messages"][0]["id"],
        Route::Messenger { .. } => &answer["message_id"],
    };
    id.as_str().map(str::to_owned)
}

/// The provider's own error code, which the agent needs: Twilio's `code`, Graph's `error.code`.
fn error_code(answer: &Value) -> Option<String> {
    answer["code"].as_u64().or_else(|| answer["error"]["code"].as_u64()).map(|c| c.to_string())
}

/// Which reply an outcome is for, and when its send began.
#[derive(Debug, Clone, Copy)]
struct Sent {
    channel: Sid,
    index: u64,
    requested_at: Timestamp,
}

/// Records `sent` (with the provider's id) or `failed` on the message, through the channel's
/// actor.
async fn record_outcome(
    shared: &Shared,
    sent: Sent,
    outcome: Result<Option<String>, ProviderError>,
) {
    let Sent { channel, index, requested_at } = sent;
    let command = match outcome {
        Ok(provider_message_id) => {
            ChannelCommand::RecordSent { index, provider_message_id, requested_at }
        }
        Err(error) => {
            tracing::warn!(%channel, index, code = %error.code, "a reply could not be delivered");
            ChannelCommand::RecordDelivery {
                index,
                status: switchboard_domain::DeliveryStatus::Failed,
                error: Some(error),
            }
        }
    };
    record(shared, channel, index, vec![command]).await;
}

/// Delivers a reply to the sandbox instead of its provider: recorded `sent` with a sandbox id
/// and `delivered` in one append, then shown by the sandbox once that is durable.
async fn to_sandbox(
    shared: &Shared,
    sandbox: &crate::sandbox::Sandbox,
    route: &Route,
    reply: &Reply<'_>,
    sent: Sent,
    (service_sid, message_sid): (Sid, Sid),
) {
    let (from, to) = route.parties();
    let delivery = crate::sandbox::SandboxDelivery {
        sid: crate::sandbox::Sandbox::new_id(),
        service_sid,
        channel_sid: sent.channel,
        message_sid,
        index: sent.index,
        provider: provider_name(route),
        from: from.to_owned(),
        to: to.to_owned(),
        body: reply.body.to_owned(),
        media_content_type: reply.media.as_ref().map(|m| m.content_type.clone()),
        delivered_at: sent.requested_at,
    };
    let commands = vec![
        ChannelCommand::RecordSent {
            index: sent.index,
            provider_message_id: Some(delivery.sid.clone()),
            requested_at: sent.requested_at,
        },
        ChannelCommand::RecordDelivery {
            index: sent.index,
            status: switchboard_domain::DeliveryStatus::Delivered,
            error: None,
        },
    ];
    crate::metrics::attempt(crate::metrics::Destination::Sandbox, 0);
    let kept = record(shared, sent.channel, sent.index, commands).await;
    crate::metrics::delivered(crate::metrics::Destination::Sandbox, kept);
    if kept {
        sandbox.keep(delivery);
    }
}

/// Appends delivery commands to the message's channel through its actor; true once durable.
async fn record(shared: &Shared, channel: Sid, index: u64, commands: Vec<ChannelCommand>) -> bool {
    let Some(registry) = shared.registry.upgrade() else { return false };
    let at = crate::SystemClock.now();
    let execute = || Execute { commands: commands.clone(), at, cause: Some(Cause::System) };
    match registry.ask(channel, None, execute).await {
        Ok(Ok(Ok(done))) => done.durability.wait().await.is_ok(),
        other => {
            tracing::warn!(%channel, index, ?other, "could not record a delivery status");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(channel_type: ChannelType, identity: &str) -> FlowConfig {
        FlowConfig {
            friendly_name: "flow".into(),
            chat_service_sid: Sid::from_parts(switchboard_domain::SidPrefix::SERVICE, [1; 16]),
            channel_type,
            contact_identity: Some(identity.into()),
            enabled: true,
            integration_type: switchboard_domain::IntegrationType::Task,
            integration: switchboard_domain::Integration::default(),
            long_lived: false,
            janitor_enabled: true,
        }
    }

    #[test]
    fn each_channel_type_has_its_route() {
        let twilio = |to: &str, from: &str| Route::Twilio { to: to.into(), from: from.into() };
        assert_eq!(
            Route::of(&flow(ChannelType::Sms, "+15005550006"), "+14155550100"),
            Some(twilio("+14155550100", "+15005550006"))
        );
        assert_eq!(
            Route::of(&flow(ChannelType::Whatsapp, "+15005550006"), "whatsapp:+14155550100"),
            Some(twilio("whatsapp:+14155550100", "whatsapp:+15005550006"))
        );
        assert_eq!(
            Route::of(&flow(ChannelType::Whatsapp, "whatsapp:+15005550006"), "whatsapp:+1415"),
            Some(twilio("whatsapp:+1415", "whatsapp:+15005550006"))
        );
        assert_eq!(
            Route::of(&flow(ChannelType::Whatsapp, "106540352242922"), "whatsapp:+14155550100"),
            Some(Route::WhatsappCloud {
                phone_number_id: "106540352242922".into(),
                to: "+14155550100".into()
            })
        );
        assert_eq!(
            Route::of(&flow(ChannelType::Facebook, "1029384756"), "messenger:6543210"),
            Some(Route::Messenger { page_id: "1029384756".into(), psid: "6543210".into() })
        );
        assert_eq!(Route::of(&flow(ChannelType::Web, "site"), "visitor"), None);
    }

    #[test]
    fn provider_ids_and_error_codes_are_read_from_each_answer() {
        let cloud = Route::WhatsappCloud { phone_number_id: "1".into(), to: "+1".into() };
        let messenger = Route::Messenger { page_id: "1".into(), psid: "2".into() };
        let twilio = Route::Twilio { to: "+1".into(), from: "+2".into() };
        assert_eq!(
            provider_id(&twilio, &json!({"sid": "SM1", "status": "queued"})),
            Some("SM1".into())
        );
        assert_eq!(
            provider_id(&cloud, &json!({"messages": [{"id": "wamid.A"}]})),
            Some("wamid.A".into())
        );
        assert_eq!(
            provider_id(&messenger, &json!({"recipient_id": "2", "message_id": "m_B"})),
            Some("m_B".into())
        );
        assert_eq!(provider_id(&cloud, &Value::Null), None);
        assert_eq!(error_code(&json!({"code": 21610, "status": 400})), Some("21610".into()));
        assert_eq!(
            error_code(&json!({"error": {"code": 131047, "message": "x"}})),
            Some("131047".into())
        );
        assert_eq!(error_code(&json!({"message": "no code"})), None);
    }

    #[test]
    fn media_kinds_are_each_providers_words() {
        assert_eq!(media_kind("image/jpeg", false), "image");
        assert_eq!(media_kind("audio/ogg; codecs=opus", false), "audio");
        assert_eq!(media_kind("video/mp4", true), "video");
        assert_eq!(media_kind("application/pdf", false), "document");
        assert_eq!(media_kind("application/pdf", true), "file");
        assert_eq!(media_kind("", true), "file");
    }

    #[test]
    fn tokens_are_chosen_per_number_and_page_and_never_printed() {
        let graph = GraphApi {
            base_url: "http://graph".into(),
            media_origin: String::new(),
            whatsapp_tokens: HashMap::from([("111".to_owned(), "token-111".to_owned())]),
            whatsapp_default: Some("token-default".into()),
            messenger_tokens: HashMap::from([("222".to_owned(), "page-222".to_owned())]),
            messenger_default: None,
        };
        assert_eq!(graph.whatsapp_token("111"), Some("token-111"));
        assert_eq!(graph.whatsapp_token("999"), Some("token-default"));
        assert_eq!(graph.messenger_token("222"), Some("page-222"));
        assert_eq!(graph.messenger_token("999"), None);
        let printed = format!("{graph:?}");
        assert!(!printed.contains("token-") && !printed.contains("page-222"), "{printed}");
        assert!(printed.contains("111") && printed.contains("222"), "{printed}");
    }
}
