//! A Chat Service's webhook settings as `POST /chat/v2/Services/{IS}` takes them:
//! `PreWebhookUrl`, `PostWebhookUrl`, `WebhookMethod`, `WebhookFilters` (repeated),
//! `PreWebhookRetryCount`, `PostWebhookRetryCount`; and the `X-Twilio-Webhook-Enabled` header,
//! which decides whether a REST call's changes fire the post-event webhook.
//!
//! An update is partial, as Twilio's are: what the form leaves out stays. An empty URL removes
//! that webhook; `WebhookFilters` given empty clears the list (and so sends nothing).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use switchboard_domain::{
    Cause, ServiceWebhooks, WebhookMethod, MAX_WEBHOOK_RETRY_COUNT, SERVICE_POST_EVENTS,
    SERVICE_PRE_EVENTS,
};

use serde::Deserialize;
use utoipa::ToSchema;

use crate::twilio::error::ApiError;

/// The header a REST call sets to `true` to have its changes fire service webhooks.
pub const WEBHOOK_ENABLED_HEADER: &str = "X-Twilio-Webhook-Enabled";

/// Middleware: runs each request as a REST call (see `switchboard_actors::cause`), asking for
/// service webhooks when it carries `X-Twilio-Webhook-Enabled: true`. Wrap the app with
/// `.wrap(actix_web::middleware::from_fn(switchboard_http::rest_cause))`.
pub async fn rest_cause(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let webhooks = request
        .headers()
        .get(WEBHOOK_ENABLED_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    switchboard_actors::cause::caused_by(Cause::Api { webhooks }, next.call(request)).await
}

/// The form of a Chat Service update: only `FriendlyName` is kept so far.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateServiceForm {
    pub(crate) friendly_name: Option<String>,
    /// Called before a client's action is applied; a non-2xx answer refuses it.
    pub(crate) pre_webhook_url: Option<String>,
    /// Called after each event named in `WebhookFilters`.
    pub(crate) post_webhook_url: Option<String>,
    /// `GET` or `POST` (default).
    pub(crate) webhook_method: Option<String>,
    /// Repeated: the events the service webhooks are called for; an empty list sends none.
    pub(crate) webhook_filters: Option<Vec<String>>,
    /// From 0 (default) to 3. Read as text so that a bad value gets Twilio's code for it (50065).
    #[schema(value_type = Option<u8>, maximum = 3)]
    pub(crate) pre_webhook_retry_count: Option<String>,
    /// From 0 (default) to 3.
    #[schema(value_type = Option<u8>, maximum = 3)]
    pub(crate) post_webhook_retry_count: Option<String>,
    /// Keep users' `is_online` and `is_notifiable`, and push them to the members of their
    /// channels (see docs/api.md, Presence).
    pub(crate) reachability_enabled: Option<bool>,
}

/// The settings after applying `form` to `current`; `None` when the form names none of them.
pub(crate) fn updated(
    form: &UpdateServiceForm,
    current: &ServiceWebhooks,
) -> Result<Option<ServiceWebhooks>, ApiError> {
    let named = form.pre_webhook_url.is_some()
        || form.post_webhook_url.is_some()
        || form.webhook_method.is_some()
        || form.webhook_filters.is_some()
        || form.pre_webhook_retry_count.is_some()
        || form.post_webhook_retry_count.is_some();
    if !named {
        return Ok(None);
    }
    let mut next = current.clone();
    if let Some(text) = &form.pre_webhook_url {
        next.pre_webhook_url = url(text, 50077, "PreWebhookUrl")?;
    }
    if let Some(text) = &form.post_webhook_url {
        next.post_webhook_url = url(text, 20001, "PostWebhookUrl")?;
    }
    if let Some(text) = &form.webhook_method {
        next.method = WebhookMethod::parse(text).ok_or_else(|| {
            ApiError::new(400, 50055, format!("WebhookMethod must be GET or POST, not {text:?}"))
        })?;
    }
    if let Some(given) = &form.webhook_filters {
        next.filters = filters(given)?;
    }
    if let Some(count) =
        retry_count(form.pre_webhook_retry_count.as_deref(), "PreWebhookRetryCount")?
    {
        next.pre_retry_count = count;
    }
    if let Some(count) =
        retry_count(form.post_webhook_retry_count.as_deref(), "PostWebhookRetryCount")?
    {
        next.post_retry_count = count;
    }
    // What the form cannot break, the stored rules would refuse; checked again for safety.
    next.check().map_err(ApiError::bad_param)?;
    Ok(Some(next))
}

/// An absolute http or https URL with a host, kept as given (receivers check signatures over
/// it); empty removes the webhook. (TaskRouter's `EventCallbackUrl` is checked the same way.)
pub(crate) fn url(text: &str, code: u32, name: &str) -> Result<Option<String>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = url::Url::parse(text).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    match parsed {
        Some(_) => Ok(Some(text.to_owned())),
        None => Err(ApiError::new(
            400,
            code,
            format!("{name} must be an absolute http or https URL, not {text:?}"),
        )),
    }
}

/// Every `WebhookFilters` sent, in order, without repeats or empty values.
fn filters(given: &[String]) -> Result<Vec<String>, ApiError> {
    let mut names: Vec<String> = Vec::new();
    for name in given.iter().map(String::as_str).filter(|f| !f.is_empty()) {
        if !SERVICE_PRE_EVENTS.contains(&name) && !SERVICE_POST_EVENTS.contains(&name) {
            return Err(ApiError::bad_param(format!(
                "WebhookFilters: {name:?} is not a service event; expected any of {}, {}",
                SERVICE_PRE_EVENTS.join(", "),
                SERVICE_POST_EVENTS.join(", ")
            )));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn retry_count(text: Option<&str>, name: &str) -> Result<Option<u8>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    text.parse::<u8>().ok().filter(|n| *n <= MAX_WEBHOOK_RETRY_COUNT).map(Some).ok_or_else(|| {
        ApiError::new(
            400,
            50065,
            format!(
                "{name} must be a whole number from 0 to {MAX_WEBHOOK_RETRY_COUNT}, not {text:?}"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::form::TwilioForm;

    fn form(body: &[u8]) -> UpdateServiceForm {
        TwilioForm::parse(body).typed().unwrap()
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let current = ServiceWebhooks {
            post_webhook_url: Some("https://hooks.example.com/post".into()),
            filters: vec!["onMessageSent".into()],
            post_retry_count: 2,
            ..ServiceWebhooks::default()
        };
        let untouched = form(b"FriendlyName=x");
        assert_eq!(updated(&untouched, &current).unwrap(), None);
        let changes = form(
            b"PreWebhookUrl=https%3A%2F%2Fhooks.example.com%2Fpre&WebhookFilters=onMessageSend\
              &WebhookFilters=onMessageSent&WebhookFilters=onMessageSend&WebhookMethod=get",
        );
        let next = updated(&changes, &current).unwrap().unwrap();
        assert_eq!(next.pre_webhook_url.as_deref(), Some("https://hooks.example.com/pre"));
        assert_eq!(next.post_webhook_url, current.post_webhook_url);
        assert_eq!(next.filters, ["onMessageSend", "onMessageSent"]);
        assert_eq!(next.method, WebhookMethod::Get);
        assert_eq!(next.post_retry_count, 2);
        let cleared = form(b"PostWebhookUrl=&WebhookFilters=");
        let next = updated(&cleared, &current).unwrap().unwrap();
        assert_eq!((next.post_webhook_url, next.filters), (None, Vec::<String>::new()));
    }

    #[test]
    fn bad_settings_get_twilios_codes() {
        let current = ServiceWebhooks::default();
        let code = |body: &[u8]| updated(&form(body), &current).unwrap_err().code();
        assert_eq!(code(b"PreWebhookUrl=ftp%3A%2F%2Fx"), 50077);
        assert_eq!(code(b"PostWebhookUrl=%2Frelative"), 20001);
        assert_eq!(code(b"WebhookMethod=PUT"), 50055);
        assert_eq!(code(b"PostWebhookRetryCount=4"), 50065);
        assert_eq!(code(b"WebhookFilters=onMessageAdded"), 20001);
    }
}
