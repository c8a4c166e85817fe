//! Inbound WhatsApp Cloud API and Messenger webhooks from Meta, at `/webhooks/whatsapp` and
//! `/webhooks/messenger`.
//!
//! GET answers Meta's verification handshake. POST checks `X-Hub-Signature-256` over the raw body
//! with the app secret before parsing anything (bad or missing: 403, nothing stored), then routes
//! every customer message through the enabled flow of its business number or page, exactly as SMS
//! is routed. Each message keeps Meta's own object in its attributes (`{"whatsapp": …}` or
//! `{"messenger": …}`), so no field Meta sends is lost, unknown types included; the body holds
//! the text a person would read. WhatsApp's `statuses` and Messenger's `delivery` and `read`
//! events move the delivery status of our replies, found by Meta's id for them (`wamid.…`,
//! `mid`) or, for Messenger's watermarks, by the customer's channel.

use std::sync::LazyLock;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_actors::metrics::InboundProvider;
use switchboard_actors::{new_sid, Inbound, InboundRefusal, ProviderStatus};
use switchboard_domain::{
    customer_address, ChannelType, DeliveryStatus, Media, ProviderError, SidPrefix, Timestamp,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::log_budget::LogBudget;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::signature::validate_meta;

/// Meta batches events, but a webhook stays small.
const BODY_LIMIT_BYTES: usize = 256 * 1024;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(verify_whatsapp).service(whatsapp).service(verify_messenger).service(messenger);
}

/// A webhook body from Meta: `{"object": "whatsapp_business_account" | "page", "entry": […]}`.
/// Each entry stays JSON: WhatsApp's and Messenger's shapes nest deep and differ, and are read
/// where they are used.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct MetaWebhook {
    /// Missing reads as empty, which neither notification kind takes.
    #[serde(default)]
    object: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    entry: Vec<Value>,
}

/// Meta's verification handshake for the WhatsApp webhook.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "WhatsAppVerify",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "`SWITCHBOARD_META_VERIFY_TOKEN`"),
        ("hub.challenge" = String, Query, description = "Echoed back"),
    ),
    security(()),
    responses((status = 200, description = "The challenge", body = String, content_type = "text/plain")),
)]
#[get("/webhooks/whatsapp")]
async fn verify_whatsapp(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    verify(&state, &request)
}

/// Meta's verification handshake for the Messenger webhook.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "MessengerVerify",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "`SWITCHBOARD_META_VERIFY_TOKEN`"),
        ("hub.challenge" = String, Query, description = "Echoed back"),
    ),
    security(()),
    responses((status = 200, description = "The challenge", body = String, content_type = "text/plain")),
)]
#[get("/webhooks/messenger")]
async fn verify_messenger(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    verify(&state, &request)
}

/// `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`: echo the challenge if the token fits.
fn verify(state: &AppState, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let query: Vec<(String, String)> = form_urlencoded::parse(request.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let expected = state.meta.verify_token.as_ref().ok_or_else(|| {
        ApiError::forbidden("SWITCHBOARD_META_VERIFY_TOKEN is not set: verification is refused")
    })?;
    match (get("hub.mode"), get("hub.verify_token"), get("hub.challenge")) {
        (Some("subscribe"), Some(token), Some(challenge)) if expected.matches(token) => {
            Ok(HttpResponse::Ok().content_type("text/plain").body(challenge.to_owned()))
        }
        _ => Err(ApiError::forbidden("Verification failed")),
    }
}

/// Refusals are logged a few a second at most: anyone can post to these routes.
static FORGED_LOG: LazyLock<LogBudget> = LazyLock::new(|| {
    LogBudget::new("meta_signature", tracing::Level::WARN, crate::log_budget::PER_SECOND)
});
static UNCONFIGURED_LOG: LazyLock<LogBudget> = LazyLock::new(|| {
    LogBudget::new("meta_unconfigured", tracing::Level::WARN, crate::log_budget::PER_SECOND)
});

/// Reads the body and checks its signature; nothing is parsed before that, and nothing is read
/// without a secret to check it with and a signature to check.
async fn signed_json(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<MetaWebhook, ApiError> {
    let secret = state.meta.app_secret.as_ref().ok_or_else(|| {
        if UNCONFIGURED_LOG.admit() {
            tracing::warn!("a Meta webhook arrived but SWITCHBOARD_META_APP_SECRET is not set");
        }
        ApiError::forbidden("Meta webhooks are not configured")
    })?;
    let refuse = || {
        if FORGED_LOG.admit() {
            tracing::warn!(
                path = request.path(),
                "refused a Meta webhook with a bad or missing X-Hub-Signature-256"
            );
        }
        ApiError::forbidden("Invalid X-Hub-Signature-256")
    };
    let header = request
        .headers()
        .get("X-Hub-Signature-256")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(refuse)?;
    let body = crate::twilio::form::read_body(request, payload, BODY_LIMIT_BYTES).await?;
    if !validate_meta(secret.expose(), &body, header) {
        return Err(refuse());
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_param(format!("The body is not valid JSON: {e}")))
}

/// WhatsApp Cloud API messages and statuses. 200 once every message is stored; 404 when one is
/// for a number with no enabled flow (after storing the others), so Meta retries.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "WhatsAppWebhook",
    request_body(content = MetaWebhook, content_type = "application/json"),
    security(("metaSignature" = [])),
    responses((status = 200, description = "Stored")),
)]
#[post("/webhooks/whatsapp")]
async fn whatsapp(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = signed_json(&state, &request, payload).await?;
    let (messages, statuses) = read_whatsapp(&body)?;
    let unrouted = store_all(&state, check_all(messages)?).await?;
    apply_statuses(&state, statuses).await?;
    answer(unrouted)
}

/// The customers' messages and our replies' statuses in a WhatsApp notification (parsed JSON
/// whose signature was checked); nothing is stored here.
pub(crate) fn read_whatsapp(
    body: &MetaWebhook,
) -> Result<(Vec<Message>, Vec<ProviderStatus>), ApiError> {
    if body.object != "whatsapp_business_account" {
        return Err(ApiError::bad_param("Not a WhatsApp Business Account notification"));
    }
    let mut messages = Vec::new();
    let mut statuses = Vec::new();
    for value in body.entry.iter().flat_map(|e| each(&e["changes"])).map(|c| &c["value"]) {
        let number_id = value["metadata"]["phone_number_id"].as_str().unwrap_or_default();
        for message in each(&value["messages"]) {
            let wa_id = message["from"].as_str().unwrap_or_default();
            let name = each(&value["contacts"])
                .find(|c| c["wa_id"].as_str() == Some(wa_id))
                .and_then(|c| c["profile"]["name"].as_str());
            let (text, media) = whatsapp_content(message);
            messages.push(Message {
                channel_type: ChannelType::Whatsapp,
                our_address: number_id.to_owned(),
                from: wa_id.to_owned(),
                profile_name: name.map(str::to_owned),
                body: text,
                media,
                id: message["id"].as_str().map(str::to_owned),
                attributes: json!({ "whatsapp": message }).to_string(),
            });
        }
        statuses.extend(each(&value["statuses"]).filter_map(whatsapp_status));
    }
    Ok((messages, statuses))
}

/// One entry of WhatsApp's `statuses`: `{id, status, timestamp, recipient_id, errors[]}`.
fn whatsapp_status(status: &Value) -> Option<ProviderStatus> {
    let id = status["id"].as_str()?;
    let word = status["status"].as_str().unwrap_or_default();
    let delivery = match word {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => {
            tracing::debug!(status = word, "a WhatsApp status this server does not track");
            return None;
        }
    };
    let error = each(&status["errors"]).next().map(|e| ProviderError {
        code: e["code"].to_string().trim_matches('"').to_owned(),
        message: [e["title"].as_str(), e["message"].as_str(), e["error_data"]["details"].as_str()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": "),
    });
    Some(ProviderStatus { provider_message_id: id.to_owned(), status: delivery, error })
}

/// Statuses of messages that are not ours (sent by another system from the same number) are
/// answered 200 too: Meta would only send them again.
async fn apply_statuses(state: &AppState, statuses: Vec<ProviderStatus>) -> Result<(), ApiError> {
    if statuses.is_empty() {
        return Ok(());
    }
    let unknown = state.engine.deliveries().provider_statuses(statuses).await?;
    if !unknown.is_empty() {
        tracing::info!(count = unknown.len(), "Meta statuses for messages that are not ours");
    }
    Ok(())
}

/// Messenger messages, delivery and read receipts; answered as the WhatsApp webhook.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "MessengerWebhook",
    request_body(content = MetaWebhook, content_type = "application/json"),
    security(("metaSignature" = [])),
    responses((status = 200, description = "Stored")),
)]
#[post("/webhooks/messenger")]
async fn messenger(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = signed_json(&state, &request, payload).await?;
    let (messages, receipts) = read_messenger(&body)?;
    let messages = check_all(messages)?;
    let mut statuses = Vec::new();
    for receipt in receipts {
        statuses.extend(messenger_receipt(&state, receipt).await?);
    }
    let unrouted = store_all(&state, messages).await?;
    apply_statuses(&state, statuses).await?;
    answer(unrouted)
}

/// A Messenger `delivery` or `read` event, from the customer `psid` to `page`.
pub(crate) struct Receipt<'a> {
    page: &'a str,
    psid: &'a str,
    event: &'a Value,
}

/// The customers' messages and the receipts in a Messenger notification (parsed JSON whose
/// signature was checked); nothing is stored here. Echoes of our own messages are skipped.
pub(crate) fn read_messenger(
    body: &MetaWebhook,
) -> Result<(Vec<Message>, Vec<Receipt<'_>>), ApiError> {
    if body.object != "page" {
        return Err(ApiError::bad_param("Not a Messenger page notification"));
    }
    let mut messages = Vec::new();
    let mut receipts = Vec::new();
    for entry in &body.entry {
        for event in each(&entry["messaging"]) {
            let message = &event["message"];
            let page =
                event["recipient"]["id"].as_str().or(entry["id"].as_str()).unwrap_or_default();
            let psid = event["sender"]["id"].as_str().unwrap_or_default();
            if event["delivery"].is_object() || event["read"].is_object() {
                receipts.push(Receipt { page, psid, event });
                continue;
            }
            // Echoes are our own messages coming back.
            if message.is_null() || message["is_echo"] == true {
                continue;
            }
            messages.push(messenger_message(page, psid, event));
        }
    }
    Ok((messages, receipts))
}

/// A customer's Messenger `message` event as the message it is.
fn messenger_message(page: &str, psid: &str, event: &Value) -> Message {
    let message = &event["message"];
    let media: Vec<Media> = each(&message["attachments"])
        .filter_map(|a| {
            let url = a["payload"]["url"].as_str()?;
            Some(media_ref(&format!("{}/*", a["type"].as_str().unwrap_or("file")), url, None))
        })
        .collect();
    let text = message["text"].as_str().map(str::to_owned);
    let body =
        text.or_else(|| media.is_empty().then(|| describe_unknown(message))).unwrap_or_default();
    Message {
        channel_type: ChannelType::Facebook,
        our_address: page.to_owned(),
        from: psid.to_owned(),
        profile_name: None,
        body,
        media,
        id: message["mid"].as_str().map(str::to_owned),
        attributes: json!({ "messenger": event }).to_string(),
    }
}

/// A Messenger `delivery` (`mids[]` and a watermark) or `read` (a watermark) from the customer
/// `psid`: every reply the watermark covers moves, as do the listed messages. Returns the
/// statuses of the listed messages, applied with the other statuses of the request.
async fn messenger_receipt(
    state: &AppState,
    Receipt { page, psid, event }: Receipt<'_>,
) -> Result<Vec<ProviderStatus>, ApiError> {
    let (receipt, status) = if event["read"].is_object() {
        (&event["read"], DeliveryStatus::Read)
    } else {
        (&event["delivery"], DeliveryStatus::Delivered)
    };
    let listed = each(&receipt["mids"])
        .filter_map(Value::as_str)
        .map(|mid| ProviderStatus { provider_message_id: mid.to_owned(), status, error: None })
        .collect();
    let (Some(watermark), Some(flow)) = (
        receipt["watermark"].as_i64(),
        state.engine.flows().find_enabled(ChannelType::Facebook, page),
    ) else {
        return Ok(listed);
    };
    let Ok(address) = customer_address(ChannelType::Facebook, psid) else { return Ok(listed) };
    state
        .engine
        .deliveries()
        .provider_watermark(flow.sid, &address, status, Timestamp::from_millis(watermark))
        .await?;
    Ok(listed)
}

/// One customer message, from either product.
pub(crate) struct Message {
    channel_type: ChannelType,
    our_address: String,
    from: String,
    profile_name: Option<String>,
    body: String,
    media: Vec<Media>,
    id: Option<String>,
    attributes: String,
}

/// Checks every message of a request before any is stored: a bad one refuses the whole request
/// (400), so a retry cannot half-succeed. Each comes with its customer's address.
pub(crate) fn check_all(messages: Vec<Message>) -> Result<Vec<(String, Message)>, ApiError> {
    let mut checked = Vec::with_capacity(messages.len());
    for message in messages {
        let address = customer_address(message.channel_type, &message.from)
            .map_err(|e| ApiError::bad_param(format!("sender {:?}: {e}", message.from)))?;
        if message.id.is_none() {
            return Err(ApiError::bad_param("A message has no id (`id` / `mid`)"));
        }
        crate::twilio::lengths::check_body(&message.body)?;
        checked.push((address, message));
    }
    Ok(checked)
}

/// Stores the checked messages of a request; returns the addresses that have no enabled flow.
async fn store_all(
    state: &AppState,
    checked: Vec<(String, Message)>,
) -> Result<Vec<String>, ApiError> {
    let mut unrouted = Vec::new();
    for (address, message) in checked {
        if let Some(missing) = store(state, address, message).await? {
            unrouted.push(missing);
        }
    }
    Ok(unrouted)
}

/// Stores one message; returns the address that has no enabled flow, if that is why it was not.
async fn store(
    state: &AppState,
    address: String,
    message: Message,
) -> Result<Option<String>, ApiError> {
    let provider = match message.channel_type {
        ChannelType::Facebook => InboundProvider::Messenger,
        _ => InboundProvider::Whatsapp,
    };
    let inbound = Inbound {
        provider,
        channel_type: message.channel_type,
        to: message.our_address.clone(),
        customer_address: address,
        body: message.body,
        media: message.media,
        provider_message_id: message.id,
        profile_name: message.profile_name,
        pre_engagement_data: None,
        attributes: Some(message.attributes),
    };
    match state.engine.channels().inbound(inbound).await? {
        Ok(_) => Ok(None),
        Err(InboundRefusal::Unrouted) => Ok(Some(message.our_address)),
        Err(InboundRefusal::Rejected(rejection)) => Err(rejection.into()),
    }
}

/// 200 once everything is stored; 404 naming what has no flow (Meta retries, and what was
/// stored is not stored twice), so nothing is dropped while a flow is missing.
fn answer(unrouted: Vec<String>) -> Result<HttpResponse, ApiError> {
    if unrouted.is_empty() {
        return Ok(HttpResponse::Ok().finish());
    }
    Err(ApiError::new(
        404,
        20404,
        format!("No enabled Flex Flow takes messages to {}", unrouted.join(", ")),
    ))
}

/// The readable text and the media of a WhatsApp message, whatever its type.
fn whatsapp_content(message: &Value) -> (String, Vec<Media>) {
    let kind = message["type"].as_str().unwrap_or("unknown");
    let object = &message[kind];
    match kind {
        "text" => (object["body"].as_str().unwrap_or_default().to_owned(), Vec::new()),
        "image" | "audio" | "video" | "document" | "sticker" => {
            let id = object["id"].as_str().unwrap_or_default();
            let mime = object["mime_type"].as_str().unwrap_or("application/octet-stream");
            let media =
                media_ref(mime, &format!("whatsapp-media:{id}"), object["filename"].as_str());
            (object["caption"].as_str().unwrap_or_default().to_owned(), vec![media])
        }
        "location" => {
            let place = [object["name"].as_str(), object["address"].as_str()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let at = format!("{},{}", object["latitude"], object["longitude"]);
            (
                if place.is_empty() {
                    format!("Location {at}")
                } else {
                    format!("Location {at} ({place})")
                },
                Vec::new(),
            )
        }
        "contacts" => {
            let names: Vec<&str> =
                each(object).filter_map(|c| c["name"]["formatted_name"].as_str()).collect();
            (format!("Contacts: {}", names.join(", ")), Vec::new())
        }
        "interactive" => {
            let reply = if object["button_reply"].is_object() {
                &object["button_reply"]
            } else {
                &object["list_reply"]
            };
            (reply["title"].as_str().unwrap_or_default().to_owned(), Vec::new())
        }
        "button" => (object["text"].as_str().unwrap_or_default().to_owned(), Vec::new()),
        "reaction" => (object["emoji"].as_str().unwrap_or_default().to_owned(), Vec::new()),
        _ => (describe_unknown(message), Vec::new()),
    }
}

fn describe_unknown(message: &Value) -> String {
    format!("[{} message]", message["type"].as_str().unwrap_or("unsupported"))
}

fn media_ref(content_type: &str, provider_ref: &str, filename: Option<&str>) -> Media {
    Media {
        sid: new_sid(SidPrefix::MEDIA),
        content_type: content_type.to_owned(),
        size_bytes: 0,
        filename: filename.map(str::to_owned),
        provider_ref: Some(provider_ref.to_owned()),
        fetch: true,
    }
}

fn each(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}
