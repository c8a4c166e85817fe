//! Twilio's webhooks: inbound messages (SMS, MMS, WhatsApp-over-Twilio) at
//! `POST /webhooks/twilio`, and the delivery statuses of our replies at
//! `POST /webhooks/twilio/status` (the `StatusCallback` every reply names).
//!
//! The signature is checked over the public URL and every received parameter before anything is
//! used or stored; a bad or missing one gets 403 and nothing is written. A request without a
//! signature, or announcing a body over the limit, is refused before its body is read. The empty
//! TwiML answer goes out only after the message is durably stored, so Twilio retries anything we
//! did not keep.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::metrics::InboundProvider;
use switchboard_actors::{new_sid, Inbound, InboundRefusal, ProviderStatus};
use switchboard_domain::{
    customer_address, ChannelType, DeliveryStatus, Media, ProviderError, SidPrefix,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;
use crate::twilio::signature;

/// Twilio's limit is 1600 characters of body and ten media; with the other parameters a signed
/// request stays well under this.
const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Where Twilio posts the delivery statuses of our replies.
pub const TWILIO_STATUS_PATH: &str = "/webhooks/twilio/status";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(twilio_inbound).service(twilio_status);
}

/// What Twilio posts for an inbound message (the parameters read; every parameter is signed,
/// and the signature is checked over all of them before this is read). Each medium comes as
/// `MediaUrl{N}` and `MediaContentType{N}`, N below `NumMedia`, read by name. `AccountSid`, the
/// account the number is in, picks the auth token that checks the signature.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(rename_all = "PascalCase")]
struct TwilioInboundForm {
    /// Our number (`+1…` or `whatsapp:+1…`): the flow that answers for it takes the message.
    to: String,
    /// The customer.
    from: String,
    body: Option<String>,
    message_sid: Option<String>,
    /// Twilio's older name of `MessageSid`, read when that is absent.
    sms_message_sid: Option<String>,
    /// 0 to 10.
    #[schema(value_type = Option<u8>, maximum = 10)]
    num_media: Option<String>,
    /// WhatsApp's profile name.
    profile_name: Option<String>,
}

/// What Twilio posts to a reply's `StatusCallback` (`AccountSid` picks the auth token that checks
/// the signature, as for an inbound message).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(rename_all = "PascalCase")]
struct TwilioStatusForm {
    /// The reply's provider id.
    message_sid: Option<String>,
    /// Twilio's older name of `MessageSid`, read when that is absent.
    sms_sid: Option<String>,
    /// `accepted`, `scheduled`, `queued`, `sending`, `sent`, `delivered`, `read`,
    /// `partially_delivered`, `undelivered`, `failed`, `canceled`.
    message_status: Option<String>,
    /// Twilio's older name of `MessageStatus`, read when that is absent.
    sms_status: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

/// Refused signatures are logged a few a second at most: anyone can send a forgery.
static FORGED_LOG: std::sync::LazyLock<crate::log_budget::LogBudget> =
    std::sync::LazyLock::new(|| {
        crate::log_budget::LogBudget::new(
            "twilio_signature",
            tracing::Level::WARN,
            crate::log_budget::PER_SECOND,
        )
    });

const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// The form of a Twilio webhook, once its signature is checked over the public URL with the auth
/// token of the account it names (`AccountSid`; the default upstream account otherwise).
async fn signed_form(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<TwilioForm, ApiError> {
    let refuse = || {
        if FORGED_LOG.admit() {
            tracing::warn!(
                path = request.path(),
                "refused a webhook with a bad or missing X-Twilio-Signature"
            );
        }
        ApiError::forbidden("Invalid X-Twilio-Signature")
    };
    let signature_header = request
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(refuse)?;
    let body = crate::twilio::form::read_body(request, payload, BODY_LIMIT_BYTES).await?;
    let url = state.url(&request.uri().to_string());
    let token_for = |account: Option<&str>| state.credentials.twilio_token_for(account);
    signed_params(&body, &url, signature_header, token_for).ok_or_else(refuse)
}

/// The form's parameters when `header` signs them for `url` under the auth token of the
/// account the form names (`AccountSid`); `None` when it does not.
pub(crate) fn signed_params<'t>(
    body: &[u8],
    url: &str,
    header: &str,
    token_for: impl Fn(Option<&str>) -> &'t crate::state::Secret,
) -> Option<TwilioForm> {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let account = params.iter().find(|(k, _)| k == "AccountSid").map(|(_, v)| v.as_str());
    let token = token_for(account);
    let signed = signature::validate(token.expose(), url, &params, header);
    signed.then(|| TwilioForm::from_pairs(params))
}

/// An inbound SMS, MMS or WhatsApp message from Twilio. Answered with empty TwiML once stored.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "TwilioInbound",
    request_body(content = TwilioInboundForm, content_type = FORM),
    security(("twilioSignature" = [])),
    responses((status = 200, description = "Empty TwiML: stored", body = String, content_type = "text/xml")),
)]
#[post("/webhooks/twilio")]
async fn twilio_inbound(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let form = signed_form(&state, &request, payload).await?;
    let inbound = read_inbound(&form)?;
    let (channel_type, to) = (inbound.channel_type, inbound.to.clone());
    match state.engine.channels().inbound(inbound).await? {
        Ok(outcome) => {
            tracing::debug!(channel = %outcome.channel_sid, duplicate = outcome.duplicate, "stored an inbound message");
            Ok(HttpResponse::Ok().content_type("text/xml").body(EMPTY_TWIML))
        }
        Err(InboundRefusal::Unrouted) => Err(ApiError::new(
            404,
            20404,
            format!("No enabled Flex Flow takes {} messages to {to}", channel_type.as_str()),
        )),
        Err(InboundRefusal::Rejected(rejection)) => Err(rejection.into()),
    }
}

/// The inbound message a Twilio webhook's (signed) parameters describe; nothing is stored here.
pub(crate) fn read_inbound(form: &TwilioForm) -> Result<Inbound, ApiError> {
    let fields: TwilioInboundForm = form.typed()?;
    let channel_type =
        if fields.to.starts_with("whatsapp:") { ChannelType::Whatsapp } else { ChannelType::Sms };
    let address = customer_address(channel_type, &fields.from)
        .map_err(|e| ApiError::bad_param(format!("From: {e}")))?;
    let body = fields.body.unwrap_or_default();
    crate::twilio::lengths::check_body(&body)?;
    let inbound = Inbound {
        provider: InboundProvider::Twilio,
        channel_type,
        to: fields.to,
        customer_address: address,
        body,
        media: media(form, fields.num_media.as_deref())?,
        provider_message_id: fields.message_sid.or(fields.sms_message_sid),
        profile_name: fields.profile_name,
        pre_engagement_data: None,
        attributes: None,
    };
    if inbound.body.is_empty() && inbound.media.is_empty() {
        return Err(ApiError::bad_param("A message needs a Body or media"));
    }
    Ok(inbound)
}

/// A reply's status from Twilio: `MessageSid`, `MessageStatus`, and `ErrorCode` when it failed.
/// Answered once the status is durable; a status for a message we do not know is answered 200
/// too (and logged), since Twilio would only retry it.
/// A delivery status of one of our replies, from Twilio.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "TwilioStatusCallback",
    request_body(content = TwilioStatusForm, content_type = FORM),
    security(("twilioSignature" = [])),
    responses((status = 200, description = "Empty TwiML: applied (or not one of ours)", body = String, content_type = "text/xml")),
)]
#[post("/webhooks/twilio/status")]
async fn twilio_status(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let form = signed_form(&state, &request, payload).await?;
    let report = read_status(&form)?;
    let reported = report.status;
    let unknown = state.engine.deliveries().provider_statuses(vec![report]).await?;
    if !unknown.is_empty() {
        tracing::info!(status = ?reported, "a Twilio status for a message that is not ours");
    }
    Ok(HttpResponse::Ok().content_type("text/xml").body(EMPTY_TWIML))
}

/// The delivery status a Twilio status callback's (signed) parameters report.
pub(crate) fn read_status(form: &TwilioForm) -> Result<ProviderStatus, ApiError> {
    let fields: TwilioStatusForm = form.typed()?;
    let sid = fields.message_sid.or(fields.sms_sid);
    let sid = form.required(sid.as_deref(), "MessageSid")?;
    let reported = fields.message_status.or(fields.sms_status);
    let reported = form.required(reported.as_deref(), "MessageStatus")?;
    let Some(status) = twilio_delivery_status(reported) else {
        return Err(ApiError::bad_param(format!("Unknown MessageStatus {reported:?}")));
    };
    let error = fields.error_code.filter(|c| !c.is_empty()).map(|code| ProviderError {
        message: fields.error_message.unwrap_or_else(|| format!("Twilio reported error {code}")),
        code,
    });
    Ok(ProviderStatus { provider_message_id: sid.to_owned(), status, error })
}

/// Twilio's message statuses in our vocabulary; `None` for a word Twilio does not use.
fn twilio_delivery_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status {
        "accepted" | "scheduled" | "queued" | "sending" => DeliveryStatus::Queued,
        "sent" => DeliveryStatus::Sent,
        "delivered" | "partially_delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" => DeliveryStatus::Undelivered,
        "failed" | "canceled" => DeliveryStatus::Failed,
        _ => return None,
    })
}

/// `MediaUrl{N}` and `MediaContentType{N}` for N below `NumMedia` (at most ten, as Twilio sends).
fn media(form: &TwilioForm, count: Option<&str>) -> Result<Vec<Media>, ApiError> {
    let count: usize = match count {
        None => 0,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| *n <= 10)
            .ok_or_else(|| ApiError::bad_param("NumMedia must be a number from 0 to 10"))?,
    };
    let find = |name: String| form.get(&name).map(str::to_owned);
    (0..count)
        .map(|n| {
            let url = find(format!("MediaUrl{n}")).ok_or_else(|| {
                ApiError::bad_param(format!("NumMedia is {count} but MediaUrl{n} is missing"))
            })?;
            Ok(Media {
                sid: new_sid(SidPrefix::MEDIA),
                content_type: find(format!("MediaContentType{n}"))
                    .unwrap_or_else(|| "application/octet-stream".into()),
                size_bytes: 0,
                filename: None,
                provider_ref: Some(url),
                fetch: true,
            })
        })
        .collect()
}
