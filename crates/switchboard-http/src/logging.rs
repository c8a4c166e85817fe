//! What the daemon's log says about requests: a request id for each (taken from `X-Request-Id`
//! when it is a sane one, made otherwise), answered in the same header and carried by a span
//! around everything the request does; the access log (method, route template, status,
//! duration: never a path, a query string, a body or a credential); and the operator's control
//! of the log's filter while the daemon runs (`/admin/v1/Logging`).
//!
//! The filter itself belongs to the binary (tracing-subscriber's reload handle); this crate sees
//! it only through [`LogFilter`], so that it needs no subscriber of its own.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{get, post, web, HttpRequest};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::openapi::FORM;
use crate::twilio::error::ApiError;
use crate::twilio::typed_form::Form;

/// The header a request's id comes in and is answered in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The target of the access log's lines: `SWITCHBOARD_LOG=warn,switchboard::access=info` keeps
/// them while quieting the rest.
pub const ACCESS_TARGET: &str = "switchboard::access";
/// The longest request id taken from a client; a longer one is replaced.
const MAX_REQUEST_ID: usize = 128;
/// The longest filter the admin API takes.
const MAX_FILTER: usize = 2048;

/// The id to use for a request: the client's when it is short and made of the characters ids
/// are made of (it goes into log lines as is, so nothing that could forge a line or a field),
/// a fresh random one otherwise.
fn request_id(given: Option<&HeaderValue>) -> String {
    let sane = |text: &&str| {
        !text.is_empty()
            && text.len() <= MAX_REQUEST_ID
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
    };
    match given.and_then(|value| value.to_str().ok()).filter(sane) {
        Some(text) => text.to_owned(),
        None => format!("{:032x}", rand::random::<u128>()),
    }
}

/// Middleware, outermost: gives the request its id, runs everything it does inside a span that
/// carries the id (so every line logged for it, here or in the actors it asks, names it), and
/// answers the id in `X-Request-Id`.
///
/// The span is at the error level so that it is there whatever the filter lets through: a span
/// the filter drops would take the id off the warnings logged inside it.
pub async fn trace_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(request.headers().get(REQUEST_ID_HEADER));
    let span = tracing::error_span!("request", id = %id);
    // Handlers' errors are answers by now; an `Err` here is a middleware's, which actix answers
    // later, without the header (the request, needed to make the answer, is routing's alone).
    let mut response = span.in_scope(|| next.call(request)).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

/// Middleware (with the access log on): one line per request, at info on
/// [`ACCESS_TARGET`], inside the request's span: method, route template, status, duration.
/// Never the path (it holds SIDs and, in a user's URL, an identity), the query string (media
/// links carry signatures there), a header or a body.
pub async fn access_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let began = Instant::now();
    let method = crate::metrics::method_label(request.method());
    let answer = next.call(request).await;
    let (status, route) = crate::metrics::answered(&answer);
    tracing::info!(
        target: ACCESS_TARGET,
        method,
        route = %route,
        status = status.as_u16(),
        duration_ms = began.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    answer
}

/// The log's filter, as the binary keeps it (tracing-subscriber's `EnvFilter` directives,
/// e.g. `info,switchboard_actors=debug`).
pub trait LogFilter: Send + Sync {
    /// The directives in force.
    fn current(&self) -> String;
    /// Puts `directives` in force at once, or says why they are not valid (nothing changes then).
    fn replace(&self, directives: &str) -> Result<(), String>;
}

/// The control the admin API uses: register it on the app with [`serve_log_control`].
#[derive(Clone)]
pub struct LogControl {
    filter: Arc<dyn LogFilter>,
    /// What the daemon started with, to go back to.
    initial: String,
    format: &'static str,
    access_log: bool,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogControl").field("initial", &self.initial).finish_non_exhaustive()
    }
}

impl LogControl {
    /// `format` is the log's format as the settings name it (`text`, `json`).
    pub fn new(filter: Arc<dyn LogFilter>, format: &'static str, access_log: bool) -> LogControl {
        let initial = filter.current();
        LogControl { filter, initial, format, access_log }
    }

    fn view(&self) -> LoggingView {
        LoggingView {
            filter: self.filter.current(),
            initial_filter: self.initial.clone(),
            format: self.format.to_owned(),
            access_log: self.access_log,
        }
    }
}

/// Makes `/admin/v1/Logging` answer: register on the main app.
pub fn serve_log_control(cfg: &mut web::ServiceConfig, control: LogControl) {
    cfg.app_data(web::Data::new(control));
}

pub(crate) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(fetch_logging).service(update_logging);
}

/// The daemon's log settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggingView {
    /// The filter in force: `EnvFilter` directives, a default level and levels by module.
    #[schema(example = "warn,switchboard_actors=debug,switchboard::access=info")]
    pub filter: String,
    /// The filter the daemon started with (`log`, `SWITCHBOARD_LOG`).
    pub initial_filter: String,
    /// `text` or `json` (`log_format`); fixed for the daemon's run.
    pub format: String,
    /// Whether each request is logged on `switchboard::access` (`access_log`); fixed for the run.
    pub access_log: bool,
}

/// The form of a change of the log's filter.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateLoggingForm {
    /// `EnvFilter` directives (e.g. `info,switchboard_http=debug`); empty: back to the filter the
    /// daemon started with. At most 2048 characters. Required, but may be empty, which an
    /// optional field keeps.
    #[schema(required = true)]
    filter: Option<String>,
}

fn control(request: &HttpRequest) -> Result<&LogControl, ApiError> {
    request
        .app_data::<web::Data<LogControl>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| ApiError::not_found(request.path()))
}

/// What only the account's own credentials (not an API key) may do: a debug filter can make
/// the log much louder.
fn account_only(principal: Principal) -> Result<(), ApiError> {
    if principal != Principal::Account {
        return Err(ApiError::forbidden("Changing the log needs the account's own credentials"));
    }
    Ok(())
}

/// The log's filter, format and access log.
#[utoipa::path(
    tag = "Operations",
    operation_id = "FetchLogging",
    responses((status = 200, description = "The log's settings", body = LoggingView)),
)]
#[get("/admin/v1/Logging")]
async fn fetch_logging(
    _: Principal,
    request: HttpRequest,
) -> Result<web::Json<LoggingView>, ApiError> {
    Ok(web::Json(control(&request)?.view()))
}

/// Changes the log's filter at once, for every module it names, until the next change or stop.
/// Only the account's own credentials may; an invalid filter is refused and changes nothing.
#[utoipa::path(
    tag = "Operations",
    operation_id = "UpdateLogging",
    request_body(content = UpdateLoggingForm, content_type = FORM),
    responses((status = 200, description = "The log's settings after the change", body = LoggingView)),
)]
#[post("/admin/v1/Logging")]
async fn update_logging(
    principal: Principal,
    request: HttpRequest,
    form: Form<UpdateLoggingForm>,
) -> Result<web::Json<LoggingView>, ApiError> {
    account_only(principal)?;
    let control = control(&request)?;
    // Present but empty is a request too: back to the start's filter.
    let filter = form.filter.as_deref().ok_or_else(|| form.raw.missing("Filter"))?.trim();
    if filter.len() > MAX_FILTER {
        return Err(ApiError::bad_param(format!("Filter is longer than {MAX_FILTER} characters")));
    }
    let filter = if filter.is_empty() { control.initial.as_str() } else { filter };
    control
        .filter
        .replace(filter)
        .map_err(|error| ApiError::bad_param(format!("Filter is not valid: {error}")))?;
    tracing::warn!(filter, "the log's filter changed through the admin API");
    Ok(web::Json(control.view()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_request_id_is_kept_and_anything_else_replaced() {
        let given = |text: &str| request_id(Some(&HeaderValue::from_str(text).unwrap()));
        assert_eq!(given("abc-123_DEF.4:5"), "abc-123_DEF.4:5");
        assert_eq!(
            given("0f8fad5b-d9cb-469f-a165-70867728950e"),
            "0f8fad5b-d9cb-469f-a165-70867728950e"
        );
        for wrong in ["", "has space", "quote\"", "new\\nline", "brace{}", &"x".repeat(129)] {
            let made = given(wrong);
            assert_ne!(made, wrong);
            assert_eq!(made.len(), 32, "{made}");
            assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
        }
        assert_ne!(request_id(None), request_id(None), "made ids differ");
    }
}
