//! The webchat's files and pages (built in `switchboard-web`): the loader at a stable URL with a
//! short cache, the chat app under hashed names cached for good (both with ETags), the chat page
//! the loader frames, and the demo page at `/`.
//!
//! The chat page is where the embedding is enforced: its `Content-Security-Policy` lets only the
//! daemon itself and the flow's allowed origins frame it (`frame-ancestors`), and it is refused
//! outright for a host origin the flow does not allow. Its scripts come from the daemon only.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_domain::{ChannelType, FieldKind, WebFlowSettings};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::webchat::{origin_allowed, own_origin, web_flow};

/// Where the hashed assets are served.
const ASSETS: &str = "/webchat/v1/assets";
/// The loader's cache: short, as its URL never changes.
const LOADER_CACHE: &str = "public, max-age=300";
const HASHED_CACHE: &str = "public, max-age=31536000, immutable";
const HTML: &str = "text/html; charset=utf-8";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(loader).service(hashed_asset).service(chat_page).service(demo_page);
}

/// The loader a site includes with `<script async src=…/webchat/v1/widget.js data-flow=FO…>`.
#[utoipa::path(
    tag = "Webchat",
    operation_id = "FetchWebchatLoader",
    security(()),
    responses(
        (status = 200, description = "The loader", body = String, content_type = "text/javascript"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
    ),
)]
#[get("/webchat/v1/widget.js")]
async fn loader(request: HttpRequest) -> HttpResponse {
    serve(&request, switchboard_web::loader(), LOADER_CACHE)
}

/// A hashed asset of the chat app (its name changes with its content).
#[utoipa::path(
    tag = "Webchat",
    operation_id = "FetchWebchatAsset",
    security(()),
    params(("name" = String, Path, description = "`chat.<hash>.js` or `chat.<hash>.css`")),
    responses(
        (status = 200, description = "The asset", body = String, content_type = "text/javascript"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
    ),
)]
#[get("/webchat/v1/assets/{name}")]
async fn hashed_asset(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let name = request.match_info().get("name").unwrap_or_default();
    let asset = switchboard_web::hashed(name).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(serve(&request, asset, HASHED_CACHE))
}

fn serve(request: &HttpRequest, asset: &switchboard_web::Asset, cache: &str) -> HttpResponse {
    let matches = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag || t.trim() == "*"));
    let mut response = if matches { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, asset.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Sites that isolate themselves (COEP) may still load it.
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"));
    if matches {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.bytes)
}

/// What the chat app is told of its flow (never the allowed origins or the identity secret).
#[derive(Serialize)]
struct PublicSettings<'a> {
    flow: String,
    fields: Vec<PublicField<'a>>,
    greeting: Option<&'a str>,
    theme: &'a std::collections::BTreeMap<String, String>,
    strings: &'a std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// The limits of an upload, shown to the visitor before it uploads anything.
    media: PublicMediaLimits<'a>,
}

#[derive(Serialize)]
struct PublicMediaLimits<'a> {
    max_bytes: u64,
    /// Exact types (`application/pdf`) or whole families (`image/*`).
    types: &'a [String],
}

#[derive(Serialize)]
struct PublicField<'a> {
    name: &'a str,
    label: &'a str,
    kind: &'static str,
    required: bool,
}

fn public_settings<'a>(
    flow: String,
    settings: &'a WebFlowSettings,
    media: &'a switchboard_actors::MediaConfig,
) -> PublicSettings<'a> {
    let kind = |kind| match kind {
        FieldKind::Text => "text",
        FieldKind::Email => "email",
        FieldKind::Consent => "consent",
    };
    PublicSettings {
        flow,
        fields: settings
            .fields
            .iter()
            .map(|f| PublicField {
                name: &f.name,
                label: &f.label,
                kind: kind(f.kind),
                required: f.required,
            })
            .collect(),
        greeting: settings.greeting.as_deref(),
        theme: &settings.theme,
        strings: &settings.strings,
        media: PublicMediaLimits { max_bytes: media.max_bytes, types: &media.allowed_types },
    }
}

/// The chat page the loader frames: `?flow=FO…&origin=<the host page's origin>`.
#[utoipa::path(
    tag = "Webchat",
    operation_id = "FetchWebchatPage",
    security(()),
    params(
        ("flow" = String, Query, description = "The web flow (`FO…`)"),
        ("origin" = Option<String>, Query, description = "The origin of the page that embeds it"),
    ),
    responses((status = 200, description = "The chat", body = String, content_type = "text/html")),
)]
#[get("/webchat/v1/chat.html")]
async fn chat_page(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = crate::twilio::form::TwilioForm::parse_query(request.query_string());
    let (flow, settings) = web_flow(&state, query.require("flow")?)?;
    if let Some(origin) = query.get("origin").filter(|o| !o.is_empty()) {
        if !origin_allowed(&state, &settings, origin) {
            return Err(ApiError::forbidden("This site may not embed this chat"));
        }
    }
    let config = serde_json::to_string(&public_settings(
        flow.sid.to_string(),
        &settings,
        state.engine.media().config(),
    ))
    .map_err(|_| ApiError::internal())?;
    let ancestors: Vec<&str> = settings.allowed_origins.iter().map(String::as_str).collect();
    let socket = own_origin(&state).replacen("http", "ws", 1);
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self' {socket}; form-action 'none'; base-uri 'none'; \
         frame-ancestors 'self' {}",
        ancestors.join(" ")
    );
    Ok(HttpResponse::Ok()
        .content_type(HTML)
        .insert_header((header::CONTENT_SECURITY_POLICY, policy.trim_end().to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(switchboard_web::chat_page(ASSETS, &config)))
}

/// The demo page: the widget of the first enabled web flow, and how an agent answers.
#[utoipa::path(
    tag = "Webchat",
    operation_id = "FetchDemoPage",
    security(()),
    responses((status = 200, description = "The demo page", body = String, content_type = "text/html")),
)]
#[get("/")]
async fn demo_page(state: web::Data<AppState>) -> HttpResponse {
    let flow = state
        .engine
        .flows()
        .list()
        .into_iter()
        .find(|f| f.config.channel_type == ChannelType::Web && f.config.enabled);
    let body = match flow {
        Some(flow) => switchboard_web::demo_page(
            &state.public_url,
            &flow.sid.to_string(),
            &flow.config.chat_service_sid.to_string(),
        ),
        None => "<!doctype html><title>Switchboard</title><p>Switchboard is running. \
                 Create an enabled web Flex Flow to see the webchat here.</p>"
            .to_owned(),
    };
    HttpResponse::Ok()
        .content_type(HTML)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"))
        .body(body)
}
