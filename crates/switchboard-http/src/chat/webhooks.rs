//! Chat v2 channel Webhooks (`/chat/v2/Services/{IS}/Channels/{CH}/Webhooks[/{WH}]`): create,
//! list, fetch, update and delete, in Twilio's shapes. Delivery is the actors' business
//! (`consumer/channel_webhooks.rs` there); this module only turns forms into webhook commands on
//! the channel.
//!
//! Only `Type=webhook` exists here; `studio` and `trigger` get a clear 400 rather than a webhook
//! that would silently never fire.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    ChannelCommand, ChannelState, Sid, SidPrefix, WebhookConfig, WebhookMethod, WebhookState,
    MAX_WEBHOOK_RETRY_COUNT, WEBHOOK_FILTERS,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{load_channel, run};
use crate::auth::Principal;
use crate::lists::Listing as _;
use crate::openapi::ChannelPath;
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::paging::PageRequest;
use crate::twilio::typed_form::Form;
use crate::views::iso;

/// Twilio pages channel webhooks five at a time, and a channel has at most five.
const MAX_PAGE_SIZE: u64 = 5;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_webhooks)
        .service(create_webhook)
        .service(fetch_webhook)
        .service(update_webhook)
        .service(delete_webhook);
}

/// The form of a channel webhook create.
#[derive(Deserialize, ToSchema)]
struct CreateChannelWebhookForm {
    /// Only `webhook` (`studio` and `trigger` are refused with 400).
    #[serde(rename = "Type")]
    kind: String,
    /// An absolute http or https URL. Required, but only once `Type` is known to be `webhook`:
    /// another type is refused for what it is.
    #[serde(rename = "Configuration.Url")]
    #[schema(required = true)]
    url: Option<String>,
    /// `GET` or `POST` (default).
    #[serde(rename = "Configuration.Method")]
    method: Option<String>,
    /// Repeated, at least one: the channel events to call for (`onMessageSent`, …). Required
    /// as `Configuration.Url` is.
    #[serde(rename = "Configuration.Filters")]
    #[schema(required = true)]
    filters: Option<Vec<String>>,
    /// From 0 (default) to 3. Read as text, so that a bad value is refused naming the range.
    #[serde(rename = "Configuration.RetryCount")]
    #[schema(value_type = Option<u8>, maximum = 3)]
    retry_count: Option<String>,
}

/// The form of a channel webhook update: what it names changes; `Type` cannot.
#[derive(Deserialize, ToSchema)]
struct UpdateChannelWebhookForm {
    #[serde(rename = "Configuration.Url")]
    url: Option<String>,
    #[serde(rename = "Configuration.Method")]
    method: Option<String>,
    /// Repeated; replaces the set.
    #[serde(rename = "Configuration.Filters")]
    filters: Option<Vec<String>>,
    #[serde(rename = "Configuration.RetryCount")]
    #[schema(value_type = Option<u8>, maximum = 3)]
    retry_count: Option<String>,
}

/// A channel webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelWebhook {
    /// `WH…`
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub channel_sid: String,
    /// Always `webhook`.
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub configuration: ChannelWebhookConfiguration,
    pub date_created: String,
    pub date_updated: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelWebhookConfiguration {
    pub url: String,
    /// `GET` or `POST`.
    pub method: String,
    pub filters: Vec<String>,
    /// Always `null` (a `trigger` webhook's).
    pub triggers: Option<Vec<String>>,
    /// Always `null` (a `studio` webhook's).
    pub flow_sid: Option<String>,
    pub retry_count: u8,
}

crate::listing!(
    /// A page of a channel's webhooks.
    ChannelWebhookList, webhooks, ChannelWebhook
);

/// Adds a webhook to a channel (at most five).
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateChannelWebhook",
    params(crate::openapi::ChannelPath),
    request_body(content = CreateChannelWebhookForm, content_type = FORM),
    responses((status = 201, description = "The new webhook", body = ChannelWebhook)),
)]
#[post("/chat/v2/Services/{service}/Channels/{channel}/Webhooks")]
async fn create_webhook(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: Form<CreateChannelWebhookForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::WEBHOOK_URL, lengths::WEBHOOK_TRIGGERS])?;
    let ChannelPath { service, channel: sid } = path;
    load_channel(&state, service, sid, request.path()).await?;
    let Form { fields: form, raw } = form;
    match form.kind.as_str() {
        "webhook" => {}
        kind @ ("studio" | "trigger") => {
            return Err(ApiError::unsupported(format!(
                "Webhooks of Type {kind} are not supported yet; only Type webhook is"
            )))
        }
        other => {
            return Err(ApiError::bad_param(format!(
                "Type must be webhook, studio or trigger, not {other:?}"
            )))
        }
    }
    let config = WebhookConfig {
        url: webhook_url(raw.required(form.url.as_deref(), "Configuration.Url")?)?,
        method: method(form.method.as_deref())?.unwrap_or_default(),
        filters: filters(form.filters.as_deref())?.unwrap_or_default(),
        retry_count: retry_count(form.retry_count.as_deref())?.unwrap_or(0),
    };
    if config.filters.is_empty() {
        return Err(ApiError::bad_param(
            "Missing required parameter Configuration.Filters in the post body",
        ));
    }
    let webhook_sid = switchboard_actors::new_sid(SidPrefix::WEBHOOK);
    run(&state, sid, vec![ChannelCommand::AddWebhook { webhook_sid, config }]).await?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let webhook = channel.webhooks.get(&webhook_sid).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Created().json(view(&state, &channel, webhook_sid, webhook)))
}

/// Lists a channel's webhooks, oldest first.
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListChannelWebhook",
    params(crate::openapi::ChannelPath, ("PageSize" = Option<u32>, Query, description = "At most 5"), ("Page" = Option<u32>, Query), ("PageToken" = Option<String>, Query)),
    responses((status = 200, description = "A page of webhooks", body = ChannelWebhookList)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}/Webhooks")]
async fn list_webhooks(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let paging = PageRequest::from_request(&request, &state.public_url, MAX_PAGE_SIZE)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    // Oldest first, as they were added.
    let mut webhooks: Vec<(&Sid, &WebhookState)> = channel.webhooks.iter().collect();
    webhooks.sort_by_key(|(_, w)| w.added_seq);
    let items = webhooks
        .into_iter()
        .map(|(s, w)| serde_json::to_value(view(&state, &channel, *s, w)))
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::internal())?;
    Ok(HttpResponse::Ok().json(paging.render_slice(ChannelWebhookList::KEY, items)))
}

/// Fetches a channel webhook.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchChannelWebhook",
    params(crate::openapi::ChannelPath, ("webhook" = String, Path, description = "The webhook (`WH…`)")),
    responses((status = 200, description = "The webhook", body = ChannelWebhook)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}/Webhooks/{webhook}")]
async fn fetch_webhook(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (channel, webhook_sid) = existing(&state, &request).await?;
    let webhook = channel.webhooks.get(&webhook_sid).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(view(&state, &channel, webhook_sid, webhook)))
}

/// A partial update: what the form names changes, the rest stays. `Type` cannot change.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateChannelWebhook",
    params(crate::openapi::ChannelPath, ("webhook" = String, Path, description = "The webhook (`WH…`)")),
    request_body(content = UpdateChannelWebhookForm, content_type = FORM),
    responses((status = 200, description = "The webhook", body = ChannelWebhook)),
)]
#[post("/chat/v2/Services/{service}/Channels/{channel}/Webhooks/{webhook}")]
async fn update_webhook(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateChannelWebhookForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::WEBHOOK_URL, lengths::WEBHOOK_TRIGGERS])?;
    let (channel, webhook_sid) = existing(&state, &request).await?;
    let form = form.fields;
    let url = form.url.as_deref().map(webhook_url).transpose()?;
    let command = ChannelCommand::UpdateWebhook {
        webhook_sid,
        url,
        method: method(form.method.as_deref())?,
        filters: filters(form.filters.as_deref())?,
        retry_count: retry_count(form.retry_count.as_deref())?,
    };
    let (service, sid) = ids(&channel)?;
    run(&state, sid, vec![command]).await?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let webhook =
        channel.webhooks.get(&webhook_sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(view(&state, &channel, webhook_sid, webhook)))
}

/// Removes a channel webhook.
#[utoipa::path(
    tag = "Chat",
    operation_id = "DeleteChannelWebhook",
    params(crate::openapi::ChannelPath, ("webhook" = String, Path, description = "The webhook (`WH…`)")),
    responses((status = 204, description = "Removed")),
)]
#[delete("/chat/v2/Services/{service}/Channels/{channel}/Webhooks/{webhook}")]
async fn delete_webhook(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (channel, webhook_sid) = existing(&state, &request).await?;
    let (_, sid) = ids(&channel)?;
    run(&state, sid, vec![ChannelCommand::RemoveWebhook { webhook_sid }]).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The channel of the path and the webhook it names, or 404 in Twilio's shape for either.
async fn existing(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(ChannelState, Sid), ApiError> {
    super::channel_and_child(state, request, "webhook", SidPrefix::WEBHOOK, |c, sid| {
        c.webhooks.contains_key(sid)
    })
    .await
}

fn ids(channel: &ChannelState) -> Result<(Sid, Sid), ApiError> {
    match (channel.service_sid, channel.sid) {
        (Some(service), Some(sid)) => Ok((service, sid)),
        _ => Err(ApiError::internal()),
    }
}

/// `Configuration.Url`: an absolute http or https URL with a host.
fn webhook_url(text: &str) -> Result<String, ApiError> {
    let refused = || {
        ApiError::bad_param(format!(
            "Configuration.Url must be an absolute http or https URL, not {text:?}"
        ))
    };
    let parsed = url::Url::parse(text).map_err(|_| refused())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(refused());
    }
    // Kept as given: it is what the receiver's signature check is computed over.
    Ok(text.to_owned())
}

fn method(given: Option<&str>) -> Result<Option<WebhookMethod>, ApiError> {
    given
        .map(|text| {
            WebhookMethod::parse(text).ok_or_else(|| {
                ApiError::bad_param(format!(
                    "Configuration.Method must be GET or POST, not {text:?}"
                ))
            })
        })
        .transpose()
}

/// Every `Configuration.Filters` sent (repeated keys); `None` when the form names none.
fn filters(given: Option<&[String]>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(given) = given else { return Ok(None) };
    let names: Vec<String> = given.iter().filter(|f| !f.is_empty()).cloned().collect();
    if let Some(unknown) = names.iter().find(|f| !WEBHOOK_FILTERS.contains(&f.as_str())) {
        return Err(ApiError::bad_param(format!(
            "Configuration.Filters: {unknown:?} is not a channel event; expected any of {}",
            WEBHOOK_FILTERS.join(", ")
        )));
    }
    if names.is_empty() {
        return Err(ApiError::bad_param("Configuration.Filters needs at least one event name"));
    }
    Ok(Some(names))
}

fn retry_count(given: Option<&str>) -> Result<Option<u8>, ApiError> {
    let Some(text) = given else { return Ok(None) };
    text.parse::<u8>()
        .ok()
        .filter(|n| *n <= MAX_WEBHOOK_RETRY_COUNT)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_param(format!(
                "Configuration.RetryCount must be a whole number from 0 to {MAX_WEBHOOK_RETRY_COUNT}, not {text:?}"
            ))
        })
}

/// A channel webhook as Twilio renders it.
fn view(
    state: &AppState,
    channel: &ChannelState,
    sid: Sid,
    webhook: &WebhookState,
) -> ChannelWebhook {
    let channel_sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    let config = &webhook.config;
    ChannelWebhook {
        sid: sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        url: state
            .url(&format!("/chat/v2/Services/{service}/Channels/{channel_sid}/Webhooks/{sid}")),
        service_sid: service,
        channel_sid,
        kind: "webhook".to_owned(),
        configuration: ChannelWebhookConfiguration {
            url: config.url.clone(),
            method: config.method.as_str().to_owned(),
            filters: config.filters.clone(),
            triggers: None,
            flow_sid: None,
            retry_count: config.retry_count,
        },
        date_created: iso(webhook.date_created),
        date_updated: iso(webhook.date_updated),
    }
}
