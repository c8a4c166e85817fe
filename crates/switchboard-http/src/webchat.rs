//! The webchat's public API (`/webchat/v1`): a visitor's session on a web flow, its tokens, and
//! the end of its chat. No account credentials: a session is opened for a web page's visitor.
//!
//! `POST /webchat/v1/Sessions` checks, before anything is written, that the flow is an enabled
//! `web` flow, that the request's `Origin` is the daemon's own (its chat iframe) or one of the
//! flow's allowed origins, that neither its address nor the flow has opened more sessions than the
//! configured rate this minute, and the answers to the flow's form (required and consent fields).
//! It then opens (or finds) the visitor's channel through the engine's flow router, as Flex
//! `WebChannels` does, and answers an access token that reaches that one channel (`Peer::
//! channel_sid` in `ws.rs`) and a refresh token. The access token is signed with a key derived
//! from the auth token (`switchboard_crypto::webchat`), which signs nothing but such tokens.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_actors::{FlowView, OpenChannel};
use switchboard_domain::{ChannelType, Sid, SidPrefix, WebFlowSettings};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::openapi::FORM;
use crate::state::{AppState, Secret};
use crate::twilio::error::ApiError;
use crate::twilio::token::VisitorToken;
use crate::twilio::typed_form::Form;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_session).service(refresh).service(end_session);
}

/// The webchat's limits (configuration: `webchat_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebchatConfig {
    /// Sessions one address may open per minute.
    pub sessions_per_ip_per_minute: u32,
    /// Sessions one flow may open per minute, from all addresses.
    pub sessions_per_flow_per_minute: u32,
    /// How long a visitor's access token lives.
    pub token_ttl_secs: i64,
    /// How long its refresh token lives.
    pub refresh_ttl_secs: i64,
}

impl Default for WebchatConfig {
    fn default() -> WebchatConfig {
        WebchatConfig {
            sessions_per_ip_per_minute: 10,
            sessions_per_flow_per_minute: 600,
            token_ttl_secs: 3600,
            refresh_ttl_secs: 30 * 86_400,
        }
    }
}

/// The webchat's settings and the counts its rate limits keep.
#[derive(Debug, Clone, Default)]
pub struct Webchat {
    pub config: WebchatConfig,
    windows: Arc<Mutex<Windows>>,
    /// The refresh tokens' families: which token of each may refresh now.
    families: Arc<crate::webchat_refresh::RefreshFamilies>,
}

/// The most addresses counted in one minute: past it, sessions from new addresses wait for the
/// next minute, so a spray of addresses cannot grow the table without bound.
const ADDRESSES_PER_MINUTE: usize = 65_536;

/// Sessions opened per address and per flow in the current minute.
#[derive(Debug, Default)]
struct Windows {
    minute: i64,
    by_ip: HashMap<IpAddr, u32>,
    by_flow: HashMap<Sid, u32>,
}

impl Webchat {
    pub fn new(config: WebchatConfig) -> Webchat {
        Webchat { config, windows: Arc::default(), families: Arc::default() }
    }

    /// Counts a session of `flow` from `ip` at `now_secs`, or refuses it (nothing counted then).
    fn admit(&self, ip: Option<IpAddr>, flow: Sid, now_secs: i64) -> Result<(), ApiError> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let minute = now_secs.div_euclid(60);
        if windows.minute != minute {
            *windows = Windows { minute, ..Windows::default() };
        }
        let too_many = |what: &str| {
            ApiError::new(
                429,
                20429,
                format!("Too many chat sessions from {what}; try again in a minute"),
            )
        };
        let from_ip = ip.map_or(Some(0), |ip| windows.by_ip.get(&ip).copied());
        let full = windows.by_ip.len() >= ADDRESSES_PER_MINUTE;
        match from_ip {
            Some(n) if n >= self.config.sessions_per_ip_per_minute => {
                return Err(too_many("this address"))
            }
            None if full => return Err(too_many("too many addresses")),
            _ => {}
        }
        let of_flow = windows.by_flow.get(&flow).copied().unwrap_or(0);
        if of_flow >= self.config.sessions_per_flow_per_minute {
            return Err(too_many("this flow's visitors"));
        }
        if let Some(ip) = ip {
            *windows.by_ip.entry(ip).or_default() += 1;
        }
        *windows.by_flow.entry(flow).or_default() += 1;
        Ok(())
    }
}

/// The key that signs visitors' access tokens (`SK…`, its secret), derived from the auth token.
pub(crate) fn token_key(state: &AppState) -> (Sid, Secret) {
    let (id, secret) =
        switchboard_crypto::webchat::token_key(state.credentials.auth_token.expose().as_bytes());
    (Sid::from_parts(SidPrefix::API_KEY, id), Secret::new(secret))
}

/// The form of a session's creation.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(rename_all = "PascalCase")]
struct CreateSessionForm {
    /// `FO…`, an enabled flow of `ChannelType` web.
    flow_sid: String,
    /// The answers to the flow's form: a JSON object of field name to string (or `true`/`false`
    /// for consent fields).
    pre_engagement_data: Option<String>,
    /// An identity the host's backend vouches for (the same customer on every device)…
    identity: Option<String>,
    /// …with its HMAC-SHA256 under the flow's identity secret, hex.
    identity_hash: Option<String>,
}

/// The form of a token's refresh.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(rename_all = "PascalCase")]
struct RefreshForm {
    flow_sid: String,
    refresh_token: String,
}

/// A visitor's session: an access token for its one channel, and how to renew it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebchatSession {
    /// An access token (`Authorization: Bearer`, or the WebSocket's first frame) reaching
    /// `channel_sid` only.
    pub token: String,
    /// When `token` expires (Unix seconds).
    pub expires_at: i64,
    /// Trades for a new access token at `/webchat/v1/Tokens`.
    pub refresh_token: String,
    pub channel_sid: String,
    pub identity: String,
    pub service_sid: String,
}

/// Opens a visitor's chat on a web flow (or finds its open one).
#[utoipa::path(
    tag = "Webchat",
    operation_id = "CreateWebchatSession",
    security(()),
    request_body(content = CreateSessionForm, content_type = FORM),
    responses((status = 201, description = "The session", body = WebchatSession)),
)]
#[post("/webchat/v1/Sessions")]
async fn create_session(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<CreateSessionForm>,
) -> Result<HttpResponse, ApiError> {
    let (flow, settings) = web_flow(&state, &form.flow_sid)?;
    let origin = admitted_origin(&state, &request, &settings)?;
    let answers = answers(form.pre_engagement_data.as_deref(), &settings)?;
    let identity = identity(&form, &settings)?;
    let now_secs = state.engine.now().as_millis() / 1000;
    let ip = request.peer_addr().map(|a| a.ip());
    state.webchat.admit(ip, flow.sid, now_secs)?;
    let name = answers.get("friendly_name").filter(|n| !n.trim().is_empty());
    let name = name.cloned().unwrap_or_else(|| "Visitor".to_owned());
    let open = OpenChannel {
        customer_address: identity.clone(),
        identity: identity.clone(),
        user_friendly_name: Some(name.clone()),
        friendly_name: Some(name),
        unique_name: None,
        pre_engagement_data: Some(
            serde_json::to_value(&answers).map_err(|_| ApiError::internal())?,
        ),
        task_sid: None,
        task_attributes: None,
        long_lived: None,
    };
    let channel = crate::flex_channels::open_channel(&state, flow.clone(), open).await?;
    let channel_sid = channel.sid.ok_or_else(ApiError::internal)?;
    let first = first_refresh(&state, &flow, channel_sid, identity, now_secs);
    let session = session(&state, &flow, channel_sid, first, now_secs);
    Ok(with_cors(HttpResponse::Created(), origin).json(session))
}

/// A new access token for a session, from its refresh token.
#[utoipa::path(
    tag = "Webchat",
    operation_id = "RefreshWebchatToken",
    security(()),
    request_body(content = RefreshForm, content_type = FORM),
    responses((status = 200, description = "The session, with a new access token", body = WebchatSession)),
)]
#[post("/webchat/v1/Tokens")]
async fn refresh(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<RefreshForm>,
) -> Result<HttpResponse, ApiError> {
    let (flow, settings) = web_flow(&state, &form.flow_sid)?;
    let origin = admitted_origin(&state, &request, &settings)?;
    let now_secs = state.engine.now().as_millis() / 1000;
    let claims = RefreshClaims::verify(&state, &form.refresh_token, now_secs)?;
    let refused = || ApiError::new(401, 20101, "The refresh token is not valid for this flow");
    if claims.flow != flow.sid.to_string() {
        return Err(refused());
    }
    let channel_sid =
        Sid::parse_with(&claims.channel, SidPrefix::CHANNEL).map_err(|_| refused())?;
    // A chat that ended, or whose visitor left it, is not continued: the visitor starts anew.
    let gone = || ApiError::new(404, 20404, "The chat has ended");
    let channel = state.engine.channels().state(channel_sid).await?.ok_or_else(gone)?;
    let open = channel.status == switchboard_domain::ChannelStatus::Active && !channel.is_removed();
    if !open || channel.member_by_identity(&claims.identity).is_none() {
        return Err(gone());
    }
    let next = rotate(&state, claims, now_secs)?;
    let session = session(&state, &flow, channel_sid, next, now_secs);
    Ok(with_cors(HttpResponse::Ok(), origin).json(session))
}

/// The claims of a new session's first refresh token, its family tracked from now on.
fn first_refresh(
    state: &AppState,
    flow: &FlowView,
    channel: Sid,
    identity: String,
    now_secs: i64,
) -> RefreshClaims {
    let (family, id) = (switchboard_crypto::random_id(), switchboard_crypto::random_id());
    let expires = now_secs + state.webchat.config.refresh_ttl_secs;
    state.webchat.families.start(family, id, expires, now_secs);
    RefreshClaims {
        flow: flow.sid.to_string(),
        channel: channel.to_string(),
        identity,
        family: hex(family),
        id: hex(id),
        expires,
    }
}

/// Spends a refresh token: the claims of its successor, or 401 (20101) for a token spent
/// before, whose family is then revoked (`webchat_refresh`).
fn rotate(
    state: &AppState,
    claims: RefreshClaims,
    now_secs: i64,
) -> Result<RefreshClaims, ApiError> {
    let invalid = || ApiError::new(401, 20101, "The refresh token is not valid");
    let (family, id) = claims.family_bytes().zip(claims.id_bytes()).ok_or_else(invalid)?;
    let expires = now_secs + state.webchat.config.refresh_ttl_secs;
    match state.webchat.families.spend(family, id, now_secs, expires) {
        crate::webchat_refresh::Spent::Next(next, expires) => {
            Ok(RefreshClaims { id: hex(next), expires, ..claims })
        }
        crate::webchat_refresh::Spent::Reused => Err(ApiError::new(
            401,
            20101,
            "The refresh token was used before; its session is revoked: start a new chat",
        )),
    }
}

fn hex(bytes: [u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 16]> {
    let mut bytes = [0u8; 16];
    if text.len() != 32 {
        return None;
    }
    for (n, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(n * 2..n * 2 + 2)?, 16).ok()?;
    }
    Some(bytes)
}

/// Ends the visitor's chat: its channel goes INACTIVE and its open tasks are canceled, as a Flex
/// `WebChannels` update with `ChatStatus=inactive` does. Needs the visitor's access token.
#[utoipa::path(
    tag = "Webchat",
    operation_id = "EndWebchatSession",
    security(("accessToken" = [])),
    responses((status = 204, description = "Ended")),
)]
#[post("/webchat/v1/Sessions/End")]
async fn end_session(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, channel) = visitor(&state, &request, "ends its chat")?;
    let ended = state
        .engine
        .channels()
        .end_interaction(channel, "the visitor ended the chat", |_| Vec::new())
        .await;
    ended??;
    Ok(HttpResponse::NoContent().finish())
}

/// The flow of `text` if it is a live, enabled `web` flow, with its widget settings.
pub(crate) fn web_flow(
    state: &AppState,
    text: &str,
) -> Result<(FlowView, WebFlowSettings), ApiError> {
    let not_found = || ApiError::new(404, 20404, format!("No enabled web flow {text}"));
    let sid = Sid::parse_with(text, SidPrefix::FLEX_FLOW).map_err(|_| not_found())?;
    let flow = state.engine.flows().get(sid).ok_or_else(not_found)?;
    if flow.config.channel_type != ChannelType::Web || !flow.config.enabled {
        return Err(not_found());
    }
    let settings = state.engine.flows().web_settings(sid).ok_or_else(not_found)?;
    Ok((flow, settings))
}

/// The daemon's own origin (scheme, host, port of its public URL).
pub(crate) fn own_origin(state: &AppState) -> String {
    match url::Url::parse(&state.public_url) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => state.public_url.clone(),
    }
}

/// Whether pages of `origin` may embed the flow's chat: the daemon's own, or an allowed one.
pub(crate) fn origin_allowed(state: &AppState, settings: &WebFlowSettings, origin: &str) -> bool {
    origin == own_origin(state) || settings.allows_origin(origin)
}

/// The request's `Origin`, if the flow admits it; a request without one (no browser sends a
/// POST without it) is refused like a foreign one.
fn admitted_origin(
    state: &AppState,
    request: &HttpRequest,
    settings: &WebFlowSettings,
) -> Result<String, ApiError> {
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match origin {
        Some(origin) if origin_allowed(state, settings, origin) => Ok(origin.to_owned()),
        _ => Err(ApiError::forbidden("This origin may not start chats on this flow")),
    }
}

fn with_cors(
    mut builder: actix_web::HttpResponseBuilder,
    origin: String,
) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::VARY, "Origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// The visitor's answers, checked against the flow's form.
fn answers(
    text: Option<&str>,
    settings: &WebFlowSettings,
) -> Result<BTreeMap<String, String>, ApiError> {
    let bad = |m: String| ApiError::bad_param(format!("PreEngagementData: {m}"));
    let text = text.filter(|t| !t.is_empty()).unwrap_or("{}");
    if text.len() > 16 * 1024 {
        return Err(bad("longer than 16 KiB".into()));
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err(bad("must be a JSON object".into()));
    };
    let mut answers = BTreeMap::new();
    for (name, value) in map {
        let value = match value {
            Value::String(text) => text,
            Value::Bool(flag) => flag.to_string(),
            _ => return Err(bad(format!("{name} must be a string or a boolean"))),
        };
        answers.insert(name, value);
    }
    settings.check_answers(&answers).map_err(bad)?;
    Ok(answers)
}

/// The visitor's identity: one the host's backend signed, else a fresh random one.
fn identity(
    form: &Form<CreateSessionForm>,
    settings: &WebFlowSettings,
) -> Result<String, ApiError> {
    let Some(claimed) = form.identity.as_deref().filter(|i| !i.is_empty()) else {
        let id = switchboard_crypto::random_id();
        return Ok(format!(
            "visitor-{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
    };
    crate::twilio::lengths::check(&form.raw, &[crate::twilio::lengths::IDENTITY])?;
    let refused = || ApiError::new(401, 20101, "The identity's IdentityHash does not verify");
    let secret = settings.identity_secret.as_deref().ok_or_else(refused)?;
    let hash = form.identity_hash.as_deref().ok_or_else(refused)?;
    if !switchboard_crypto::webchat::identity_matches(secret.as_bytes(), claimed, hash) {
        return Err(refused());
    }
    // Kept apart from every other identity of the service (agents', other flows' customers).
    Ok(format!("web:{claimed}"))
}

fn session(
    state: &AppState,
    flow: &FlowView,
    channel: Sid,
    claims: RefreshClaims,
    now_secs: i64,
) -> WebchatSession {
    let identity = claims.identity.as_str();
    let (key_sid, key) = token_key(state);
    let config = state.webchat.config;
    let (account, key_text) = (state.credentials.account_sid.to_string(), key_sid.to_string());
    let (service, channel_text) = (flow.config.chat_service_sid.to_string(), channel.to_string());
    let token = VisitorToken {
        account_sid: &account,
        api_key_sid: &key_text,
        api_key_secret: key.expose(),
        identity,
        service_sid: &service,
        channel_sid: &channel_text,
    }
    .mint(config.token_ttl_secs, now_secs);
    WebchatSession {
        token,
        expires_at: now_secs + config.token_ttl_secs,
        refresh_token: claims.sign(state),
        channel_sid: channel_text,
        identity: identity.to_owned(),
        service_sid: service,
    }
}

/// What a refresh token says: `v2.<base64url JSON>.<hex HMAC>` (`v1`, before rotation, had no
/// family and is refused).
#[derive(Debug, Serialize, Deserialize)]
struct RefreshClaims {
    flow: String,
    channel: String,
    identity: String,
    /// The session's family of tokens, and this token in it (hex, 16 bytes each).
    family: String,
    id: String,
    expires: i64,
}

impl RefreshClaims {
    fn sign(&self, state: &AppState) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let secret = state.credentials.auth_token.expose().as_bytes();
        format!("v2.{payload}.{}", switchboard_crypto::webchat::sign_refresh(secret, &payload))
    }

    fn family_bytes(&self) -> Option<[u8; 16]> {
        unhex(&self.family)
    }

    fn id_bytes(&self) -> Option<[u8; 16]> {
        unhex(&self.id)
    }

    fn verify(state: &AppState, token: &str, now_secs: i64) -> Result<RefreshClaims, ApiError> {
        let invalid = || ApiError::new(401, 20101, "The refresh token is not valid");
        let mut parts = token.split('.');
        let (Some("v2"), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let secret = state.credentials.auth_token.expose().as_bytes();
        if !switchboard_crypto::webchat::verify_refresh(secret, payload, signature) {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let claims: RefreshClaims = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if now_secs >= claims.expires {
            return Err(ApiError::new(401, 20104, "The refresh token has expired"));
        }
        Ok(claims)
    }
}

/// The web visitor whose access token (a bearer) the request carries, with its channel; 403
/// for any other token ("Only a web visitor's token {does} here").
pub(crate) fn visitor(
    state: &AppState,
    request: &HttpRequest,
    does: &str,
) -> Result<(crate::ws::Peer, Sid), ApiError> {
    let token = crate::ws::bearer_token(request).ok_or_else(ApiError::unauthorized)?;
    let ip = request.peer_addr().map(|peer| peer.ip());
    let peer = crate::ws::verify_from(state, ip, &token)?;
    let channel = peer
        .channel_sid
        .ok_or_else(|| ApiError::forbidden(format!("Only a web visitor's token {does} here")))?;
    Ok((peer, channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_limited_per_address_and_per_flow_each_minute() {
        let webchat = Webchat::new(WebchatConfig {
            sessions_per_ip_per_minute: 2,
            sessions_per_flow_per_minute: 3,
            ..WebchatConfig::default()
        });
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let flow = Sid::from_parts(SidPrefix::FLEX_FLOW, [1; 16]);
        let other = Sid::from_parts(SidPrefix::FLEX_FLOW, [2; 16]);
        assert!(webchat.admit(Some(a), flow, 60).is_ok());
        assert!(webchat.admit(Some(a), flow, 61).is_ok());
        let third = webchat.admit(Some(a), flow, 62).unwrap_err();
        assert_eq!((third.status(), third.code()), (429, 20429));
        assert!(webchat.admit(Some(b), flow, 63).is_ok(), "another address");
        assert!(webchat.admit(Some(b), flow, 64).is_err(), "the flow's three are used");
        assert!(webchat.admit(Some(b), other, 65).is_ok(), "another flow");
        assert!(webchat.admit(Some(a), flow, 120).is_ok(), "the next minute");
    }

    #[test]
    fn answers_are_json_strings_or_booleans_checked_against_the_form() {
        let settings = WebFlowSettings::default_form();
        assert_eq!(
            answers(Some(r#"{"friendly_name":"Ann"}"#), &settings).unwrap()["friendly_name"],
            "Ann"
        );
        for bad in
            ["[]", "{nope", r#"{"friendly_name":1}"#, "{}", r#"{"friendly_name":"A","x":"y"}"#]
        {
            let error = answers(Some(bad), &settings).unwrap_err();
            assert_eq!(error.status(), 400, "{bad}");
        }
    }
}
