//! Media, in the spirit of Twilio's Media Content Service: uploads for outbound messages, the
//! metadata and bytes of every medium of a channel, and the signed public links providers fetch
//! outbound media through.
//!
//! - `POST /chat/v2/Services/{IS}/Media?ChannelSid=CH…[&Filename=…]`: the raw bytes as the body,
//!   their type in `Content-Type`; 201 with the new `ME…`, which `MediaSid` then attaches to a
//!   message of that channel.
//! - `GET /chat/v2/Services/{IS}/Media/{ME}`: metadata; `GET …/Media/{ME}/Content`: the bytes.
//! - `GET /media/v1/{ME}?expires=…&signature=…`: the bytes, without credentials, while the link
//!   made by `switchboard_actors::signed_media_url` is valid.
//!
//! Access: the account's (or an API key's) Basic credentials, or an access token whose identity
//! is a member of the medium's channel (and, to upload, whose roles grant `sendMediaMessage`),
//! checked before any service or medium is looked up, so that a stranger cannot tell one that
//! exists from one that does not. Bytes are read from the store and sent whole: media are
//! bounded by the configured limit (16 MiB by default).
//!
//! Media are served from our own origin, which the console and the widget share, so no medium
//! may act there: every answer says `X-Content-Type-Options: nosniff` and
//! `Content-Security-Policy: sandbox`, and is a download (`Content-Disposition: attachment`)
//! unless its type is one a browser only shows ([`SHOWN_INLINE`]).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use serde::Serialize;
use switchboard_domain::{
    ChannelCommand, ChannelState, Media, MediaState, MediaStatus, Sid, SidPrefix,
};
use switchboard_store::MediaRead;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::views::iso;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(upload).service(fetch).service(content).service(public_content);
}

/// A medium's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaResource {
    /// `ME…`
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub channel_sid: String,
    /// The message it is attached to (`IM…`), if any.
    pub message_sid: Option<String>,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    pub filename: Option<String>,
    /// `pending` until fetched, `stored`, or `failed`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// Hex SHA-256 of the bytes, once stored.
    pub sha256: Option<String>,
    pub date_created: String,
    pub url: String,
    pub links: MediaLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaLinks {
    /// The bytes.
    pub content: String,
}

/// A medium's bytes, of its own content type.
#[derive(Debug)]
pub struct MediaBytes;

impl utoipa::PartialSchema for MediaBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("The medium's bytes"))
            .into()
    }
}

impl ToSchema for MediaBytes {}

/// The medium named by a path, with its channel's state.
struct Found {
    channel_sid: Sid,
    channel: ChannelState,
    media_sid: Sid,
    media: MediaState,
}

fn gone() -> ApiError {
    ApiError::new(410, 20404, "The medium was erased with its channel")
}

/// Finds a medium by SID: 404 when unknown (or in another service), 410 when its channel was
/// erased. With `caller` (already identified), the caller must be allowed to see the channel's
/// media (checked before anything about the medium is told).
async fn find(
    state: &AppState,
    service: Option<Sid>,
    text: &str,
    path: &str,
    caller: Option<&Caller>,
) -> Result<Found, ApiError> {
    let media_sid =
        Sid::parse_with(text, SidPrefix::MEDIA).map_err(|_| ApiError::not_found(path))?;
    let channel_sid =
        state.engine.media().channel_of(media_sid)?.ok_or_else(|| ApiError::not_found(path))?;
    let channel = state
        .engine
        .channels()
        .state(channel_sid)
        .await?
        .ok_or_else(|| ApiError::not_found(path))?;
    if let Some(caller) = caller {
        admit(caller, &channel)?;
    }
    // A shredded channel no longer knows its service (its creation cannot be read): gone.
    if channel.erased {
        return Err(gone());
    }
    // A deleted channel's media are gone from the Chat API; signed links already handed to a
    // provider (`service` is `None` then) keep working until they expire, for replies sent
    // before the deletion.
    if service.is_some_and(|s| channel.service_sid != Some(s) || channel.destroyed) {
        return Err(ApiError::not_found(path));
    }
    let media = channel.media.get(&media_sid).cloned().ok_or_else(|| ApiError::not_found(path))?;
    Ok(Found { channel_sid, channel, media_sid, media })
}

/// Who asks for media: the account (Basic), or the bearer of an access token.
enum Caller {
    Account,
    Token(crate::ws::Peer),
}

/// Checks the credentials themselves, before anything about a medium is looked up.
fn identify(state: &AppState, request: &HttpRequest) -> Result<Caller, ApiError> {
    if let Some(token) = crate::ws::bearer_token(request) {
        let ip = request.peer_addr().map(|peer| peer.ip());
        return Ok(Caller::Token(crate::ws::verify_from(state, ip, &token)?));
    }
    crate::auth::authenticate(request).map(|_| Caller::Account)
}

/// The account sees every medium; a token's identity those of the channels it is a member of,
/// within the token's Chat Service.
fn admit(caller: &Caller, channel: &ChannelState) -> Result<(), ApiError> {
    match caller {
        Caller::Account => Ok(()),
        Caller::Token(peer)
            if channel.sid.is_some_and(|sid| peer.reaches(sid, channel.service_sid))
                && channel.member_by_identity(&peer.identity).is_some() =>
        {
            Ok(())
        }
        Caller::Token(_) => {
            Err(ApiError::forbidden("The identity is not a member of the medium's channel"))
        }
    }
}

fn service_of(state: &AppState, request: &HttpRequest) -> Result<Sid, ApiError> {
    let text = request.match_info().get("service").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::SERVICE)
        .map_err(|_| ApiError::not_found(request.path()))?;
    state.engine.services().get(sid).map(|_| sid).ok_or_else(|| ApiError::not_found(request.path()))
}

/// Fetches a medium's metadata.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchMedia",
    params(crate::openapi::ServicePath, ("media" = String, Path, description = "The medium (`ME…`)")),
    security(("basic" = []), ("accessToken" = [])),
    responses((status = 200, description = "The medium", body = MediaResource)),
)]
#[get("/chat/v2/Services/{service}/Media/{media}")]
async fn fetch(state: web::Data<AppState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let caller = identify(&state, &request)?;
    let service = service_of(&state, &request)?;
    let text = request.match_info().get("media").unwrap_or_default();
    let found = find(&state, Some(service), text, request.path(), Some(&caller)).await?;
    let message_sid = match found.media.message_index {
        Some(index) => {
            state.engine.messages().get(&found.channel, index)?.map(|m| m.sid.to_string())
        }
        None => None,
    };
    Ok(HttpResponse::Ok().json(view(&state, &found, message_sid)))
}

/// A medium's bytes: 404 while pending or failed, 410 once its channel was shredded.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchMediaContent",
    params(crate::openapi::ServicePath, ("media" = String, Path, description = "The medium (`ME…`)")),
    security(("basic" = []), ("accessToken" = [])),
    responses((status = 200, description = "The bytes, with their Content-Type", body = MediaBytes, content_type = "*/*")),
)]
#[get("/chat/v2/Services/{service}/Media/{media}/Content")]
async fn content(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let caller = identify(&state, &request)?;
    let service = service_of(&state, &request)?;
    let text = request.match_info().get("media").unwrap_or_default();
    let found = find(&state, Some(service), text, request.path(), Some(&caller)).await?;
    serve(&state, &found, request.path()).await
}

/// A medium's bytes through a signed link, for providers (no credentials).
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchSignedMedia",
    params(
        ("media" = String, Path, description = "The medium (`ME…`)"),
        ("expires" = u64, Query, description = "Unix seconds"),
        ("signature" = String, Query, description = "Hex HMAC-SHA256 over the SID and the expiry"),
    ),
    security(()),
    responses((status = 200, description = "The bytes, with their Content-Type", body = MediaBytes, content_type = "*/*")),
)]
#[get("/media/v1/{media}")]
async fn public_content(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let text = request.match_info().get("media").unwrap_or_default().to_owned();
    let query: Vec<(String, String)> = form_urlencoded::parse(request.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let refused = || ApiError::forbidden("The media link is invalid or has expired");
    let media_sid = Sid::parse_with(&text, SidPrefix::MEDIA).map_err(|_| refused())?;
    let expires: u64 = param("expires").and_then(|e| e.parse().ok()).ok_or_else(refused)?;
    let signature = param("signature").ok_or_else(refused)?;
    let now = u64::try_from(state.engine.now().as_millis() / 1000).unwrap_or(0);
    let secret = state.credentials.auth_token.expose();
    if !switchboard_actors::media::verify_media_link(secret, media_sid, expires, signature, now) {
        return Err(refused());
    }
    let found = find(&state, None, &text, request.path(), None).await?;
    serve(&state, &found, request.path()).await
}

/// The bytes of a stored medium; 404 while it is not stored, saying why when it failed.
async fn serve(state: &AppState, found: &Found, path: &str) -> Result<HttpResponse, ApiError> {
    match &found.media.status {
        MediaStatus::Stored => {}
        MediaStatus::Pending => {
            return Err(ApiError::new(404, 20404, "The medium has not been fetched yet"))
        }
        MediaStatus::Failed { error } => {
            return Err(ApiError::new(404, 20404, format!("The medium was not stored: {error}")))
        }
    }
    let read = state.engine.media().read(found.channel_sid, found.media_sid).await?;
    match read {
        MediaRead::Found(stored, bytes) => {
            let disposition = disposition(&stored.content_type, stored.filename.as_deref());
            Ok(HttpResponse::Ok()
                .content_type(stored.content_type)
                .insert_header(("Cache-Control", "private, no-store"))
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .insert_header(("Content-Security-Policy", "sandbox"))
                .insert_header(disposition)
                .body(bytes))
        }
        MediaRead::Missing => Err(ApiError::not_found(path)),
        MediaRead::Shredded => Err(gone()),
    }
}

/// Types a browser only shows (an image, a sound, a film), with nothing in them that runs:
/// served inline. Everything else is a download. Not here, on purpose: `image/svg+xml` (a
/// document that runs scripts), `text/*` (`text/html` and its kin, and sniffing bait), and
/// `application/pdf` (browsers open PDFs in a viewer that runs their scripts and forms, and
/// Chromium refuses to show one under `Content-Security-Policy: sandbox` anyway).
pub const SHOWN_INLINE: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "video/mp4",
    "video/webm",
    "video/3gpp",
];

/// `inline` for the types in [`SHOWN_INLINE`] and sounds, `attachment` for everything else; the
/// filename goes as RFC 8187 UTF-8, percent-encoded, so no byte of it can end the header.
pub(crate) fn disposition(
    content_type: &str,
    filename: Option<&str>,
) -> actix_web::http::header::ContentDisposition {
    use actix_web::http::header::{
        Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
    };
    let essence = switchboard_actors::media::essence(content_type);
    let shown = SHOWN_INLINE.contains(&essence.as_str()) || essence.starts_with("audio/");
    let parameters = filename
        .map(|name| {
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: name.as_bytes().to_vec(),
            })
        })
        .into_iter()
        .collect();
    ContentDisposition {
        disposition: if shown { DispositionType::Inline } else { DispositionType::Attachment },
        parameters,
    }
}

/// Uploads a medium to a channel, to attach to a message with `MediaSid`: the raw bytes as the
/// body, their type as `Content-Type`.
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateMedia",
    params(
        crate::openapi::ServicePath,
        ("ChannelSid" = String, Query, description = "The channel (`CH…`) the medium is for"),
        ("Filename" = Option<String>, Query, description = "At most 255 characters"),
    ),
    request_body(content = MediaBytes, content_type = "*/*"),
    security(("basic" = []), ("accessToken" = [])),
    responses((status = 201, description = "The medium, stored", body = MediaResource)),
)]
#[post("/chat/v2/Services/{service}/Media")]
async fn upload(
    state: web::Data<AppState>,
    request: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = identify(&state, &request)?;
    let service = service_of(&state, &request)?;
    let query: Vec<(String, String)> = form_urlencoded::parse(request.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let channel_text = param("ChannelSid")
        .ok_or_else(|| ApiError::bad_param("Missing required parameter ChannelSid"))?;
    let channel_sid = Sid::parse_with(&channel_text, SidPrefix::CHANNEL)
        .map_err(|_| ApiError::bad_param("ChannelSid must be a channel SID (CH…)"))?;
    let channel = match state.engine.channels().state(channel_sid).await? {
        Some(channel) if channel.service_sid == Some(service) && !channel.is_removed() => channel,
        _ => {
            return Err(ApiError::not_found(&format!(
                "{}?ChannelSid={channel_text}",
                request.path()
            )))
        }
    };
    admit(&caller, &channel)?;
    // A token's identity uploads for a message it will send: its roles must allow media messages.
    if let Caller::Token(peer) = &caller {
        if let Err(refusal) =
            state.engine.clients().may_upload_media(&peer.identity, channel_sid).await?
        {
            return Err(ApiError::new(403, 50107, refusal.to_string()));
        }
    }
    let filename = param("Filename").filter(|f| !f.is_empty());
    if filename.as_ref().is_some_and(|f| f.chars().count() > 255) {
        return Err(ApiError::bad_param("Filename is longer than 255 characters"));
    }
    let config = state.engine.media().config();
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(switchboard_actors::media::essence)
        .unwrap_or_default();
    if content_type.is_empty() {
        return Err(ApiError::new(
            415,
            20001,
            "A Content-Type header naming the medium's type is required",
        ));
    }
    if !config.allows(&content_type) {
        return Err(ApiError::new(
            415,
            20001,
            format!(
                "Media of type {content_type:?} are not accepted; accepted: {}",
                config.allowed_types.join(", ")
            ),
        ));
    }
    let too_large = || {
        ApiError::too_large(format!(
            "The medium is larger than the limit of {} bytes",
            config.max_bytes
        ))
    };
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > config.max_bytes) {
        return Err(too_large());
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_param("The upload broke off"))?;
        if (bytes.len() + chunk.len()) as u64 > config.max_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let media_sid = switchboard_actors::new_sid(SidPrefix::MEDIA);
    let (kind, name) = (content_type.clone(), filename.clone());
    let stored =
        state.engine.media().put(channel_sid, media_sid, kind, name, bytes.to_vec()).await?;
    let command = ChannelCommand::RecordMediaStored {
        media_sid,
        content_type: stored.content_type,
        size_bytes: stored.size_bytes,
        sha256: stored.sha256,
        filename: stored.filename,
    };
    // 201 only once the event that makes the medium exist is durable (the bytes are flushed with it).
    match state.engine.channels().execute(channel_sid, vec![command]).await? {
        Ok(_) => {}
        Err(rejection) => return Err(rejection.into()),
    }
    let path = request.path().to_owned();
    let found = find(&state, Some(service), &media_sid.to_string(), &path, None).await?;
    Ok(HttpResponse::Created().json(view(&state, &found, None)))
}

/// The medium a message posted with `MediaSid` carries: an upload of the same channel, stored
/// and not yet attached to a message (see `switchboard_actors::media::attachable`).
pub(crate) fn attached(
    channel: &ChannelState,
    media_sid: Option<&str>,
) -> Result<Option<Media>, ApiError> {
    let Some(text) = media_sid.filter(|t| !t.is_empty()) else { return Ok(None) };
    let sid = Sid::parse_with(text, SidPrefix::MEDIA)
        .map_err(|_| ApiError::bad_param("MediaSid must be a media SID (ME…)"))?;
    switchboard_actors::media::attachable(channel, sid)
        .map(Some)
        .map_err(|refusal| ApiError::bad_param(format!("MediaSid: {refusal}")))
}

/// The status of a medium as messages and the Media resource show it, and why it failed.
pub(crate) fn status(media: &MediaState) -> (&'static str, Option<String>) {
    match &media.status {
        MediaStatus::Pending => ("pending", None),
        MediaStatus::Stored => ("stored", None),
        MediaStatus::Failed { error } => ("failed", Some(error.clone())),
    }
}

fn view(state: &AppState, found: &Found, message_sid: Option<String>) -> MediaResource {
    let channel = found.channel_sid.to_string();
    let service = found.channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    let url = state.url(&format!("/chat/v2/Services/{service}/Media/{}", found.media_sid));
    let (status, error) = status(&found.media);
    MediaResource {
        sid: found.media_sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        service_sid: service,
        channel_sid: channel,
        message_sid,
        content_type: found.media.content_type.clone(),
        size: found.media.size_bytes,
        filename: found.media.filename.clone(),
        status: status.to_owned(),
        error,
        sha256: found.media.sha256.clone(),
        date_created: iso(found.media.date_created),
        links: MediaLinks { content: format!("{url}/Content") },
        url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inert_types_are_shown_and_filenames_cannot_break_the_header() {
        let header = |content_type, filename| {
            use actix_web::http::header::TryIntoHeaderValue as _;
            let value = disposition(content_type, filename).try_into_value().unwrap();
            value.to_str().unwrap().to_owned()
        };
        assert_eq!(header("image/png", None), "inline");
        assert_eq!(header("audio/ogg; codecs=opus", None), "inline");
        for active in
            ["image/svg+xml", "text/html", "text/plain", "application/pdf", "", "IMAGE/SVG+XML"]
        {
            assert_eq!(header(active, None), "attachment", "{active}");
        }
        let named = header("image/svg+xml", Some("x\"\r\ny.svg"));
        assert!(named.starts_with("attachment; filename*=UTF-8''"), "{named}");
        assert!(!named.contains(['"', '\r', '\n']), "{named}");
    }
}
