//! `MediaFetcher`: downloads the media of inbound messages from their provider and stores them
//! encrypted in the channel's media store; and the signed public links through which providers
//! fetch outbound media.
//!
//! Like the outbox, the fetcher keeps no queue: it reads each channel's log from its own cursor,
//! so a medium whose message is durable is fetched even across restarts, and the webhook that
//! brought the message never waits for a download. Sources: a Twilio `MediaUrl` (HTTP Basic with
//! the upstream account when the URL is on Twilio's configured API origin, redirects followed), a
//! WhatsApp Cloud media id (checked, then the Graph API gives a URL, fetched with the same bearer
//! token if it is on the Graph API's or WhatsApp's media origin), a Messenger attachment URL
//! (fetched as is). Every fetch goes through the outbound policy (`outbound`). Network errors,
//! 429 and 5xx are retried with the outbox's backoff; a medium that is too large, of a refused
//! type, refused by the policy or by the provider is recorded as failed with the reason, and
//! nothing is stored. The outcome is an event of the channel (`MediaStored` / `MediaFailed`), recorded
//! through the channel's actor, its only writer; a medium already stored is never stored again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::prelude::*;
use switchboard_domain::{
    Cause, ChannelCommand, ChannelEvent, ChannelState, Media, MediaStatus, Recorded, Sid,
};
use switchboard_store::{EventLog, MediaRead, ReplayRecord, StoreError, StoredMedia};

use crate::channel::{Execute, GetState};
use crate::outbox::{backoff, OutboxConfig, TwilioApi, Wake};
use crate::registry::Registry;
use crate::{Engine, EngineError};

impl Engine {
    /// The channel that holds a medium: through the index by media SID or, once a shred removed
    /// that entry, the media store's own record of whose it was.
    pub fn media_channel(&self, media_sid: Sid) -> Result<Option<Sid>, EngineError> {
        let value = media_sid.to_string();
        if let Some((channel, _)) =
            self.log().lookup(switchboard_domain::IndexKind::Media, None, &value)?
        {
            return Ok(Some(channel));
        }
        Ok(self.log().media_channel(media_sid)?)
    }

    /// A medium's bytes, read on a blocking thread.
    pub async fn read_media(&self, channel: Sid, media: Sid) -> Result<MediaRead, EngineError> {
        let log = Arc::clone(self.log());
        blocking(move || log.read_media(channel, media)).await
    }

    /// Stores an upload's bytes, sealed under its channel's key, on a blocking thread. The
    /// medium exists for the API once `RecordMediaStored` is durable.
    pub async fn put_media(
        &self,
        channel: Sid,
        media: Sid,
        content_type: String,
        filename: Option<String>,
        bytes: Vec<u8>,
    ) -> Result<StoredMedia, EngineError> {
        let log = Arc::clone(self.log());
        blocking(move || log.put_media(channel, media, &content_type, filename.as_deref(), &bytes))
            .await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| EngineError::Internal(format!("a media read or write: {e}")))?
        .map_err(EngineError::from)
}

/// The cursor name of the media fetcher.
pub const CONSUMER: &str = "media-fetch";

/// The prefix of a WhatsApp Cloud media id in a medium's `provider_ref`.
pub const WHATSAPP_MEDIA_PREFIX: &str = "whatsapp-media:";

/// Limits and sources of media.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The largest medium fetched or accepted, in bytes.
    pub max_bytes: u64,
    /// Accepted content types: exact (`application/pdf`) or a whole family (`image/*`).
    pub allowed_types: Vec<String>,
    /// Retries of a fetch after the first attempt, on network errors, 429 and 5xx.
    pub retries: u32,
    /// How long one download may take.
    pub timeout: Duration,
}

pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

impl Default for MediaConfig {
    fn default() -> MediaConfig {
        MediaConfig {
            max_bytes: DEFAULT_MAX_BYTES,
            allowed_types: [
                "image/*",
                "audio/*",
                "video/*",
                "application/pdf",
                "text/plain",
                "text/vcard",
                "text/x-vcard",
                "text/calendar",
            ]
            .map(str::to_owned)
            .to_vec(),
            retries: 5,
            timeout: Duration::from_secs(60),
        }
    }
}

impl MediaConfig {
    /// Whether a content type (parameters such as `; charset=` ignored) is accepted.
    pub fn allows(&self, content_type: &str) -> bool {
        let essence = essence(content_type);
        self.allowed_types.iter().any(|allowed| match allowed.strip_suffix("/*") {
            Some(family) => essence.split('/').next() == Some(family) && essence.contains('/'),
            None => *allowed == essence,
        })
    }
}

/// A content type without its parameters, lower case: `image/jpeg; x=y` → `image/jpeg`.
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The path of a public media link, before its query.
pub const PUBLIC_MEDIA_PATH: &str = "/media/v1/";

/// A link through which anyone holding it may fetch medium `media_sid` until `expires_at`
/// (Unix seconds), without credentials: how providers fetch outbound media. `public_url` is the
/// server's public base (`SWITCHBOARD_PUBLIC_URL`, no trailing slash), `secret` the server's auth
/// token (the HTTP layer verifies with the same). The link is
/// `{public_url}/media/v1/{ME…}?expires={secs}&signature={hex}`.
pub fn signed_media_url(public_url: &str, secret: &str, media_sid: Sid, expires_at: u64) -> String {
    let sid = media_sid.to_string();
    let signature = switchboard_crypto::media_link::sign(secret.as_bytes(), &sid, expires_at);
    format!(
        "{}{PUBLIC_MEDIA_PATH}{sid}?expires={expires_at}&signature={signature}",
        public_url.trim_end_matches('/')
    )
}

/// Whether a public link's `expires` and `signature` are valid for `media_sid` at `now` (Unix
/// seconds).
pub fn verify_media_link(
    secret: &str,
    media_sid: Sid,
    expires: u64,
    signature: &str,
    now: u64,
) -> bool {
    let sid = media_sid.to_string();
    switchboard_crypto::media_link::verify(secret.as_bytes(), &sid, expires, signature, now)
}

/// Why an upload cannot go with a new message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachRefusal {
    #[error("medium {0} is not a medium uploaded to this channel")]
    NotInChannel(Sid),
    #[error("medium {0} is not stored")]
    NotStored(Sid),
    #[error("medium {0} is already attached to a message")]
    AlreadyAttached(Sid),
}

/// The medium a new message of `channel` carries: an upload of that channel (so of its
/// service), stored, and attached to no message yet. One medium, one message: what is served
/// under a media SID belongs to one message's audience, and a retried send cannot post twice.
pub fn attachable(channel: &ChannelState, media_sid: Sid) -> Result<Media, AttachRefusal> {
    let media = channel.media.get(&media_sid).ok_or(AttachRefusal::NotInChannel(media_sid))?;
    if media.status != MediaStatus::Stored {
        return Err(AttachRefusal::NotStored(media_sid));
    }
    if media.message_index.is_some() {
        return Err(AttachRefusal::AlreadyAttached(media_sid));
    }
    Ok(Media {
        sid: media_sid,
        content_type: media.content_type.clone(),
        size_bytes: media.size_bytes,
        filename: media.filename.clone(),
        provider_ref: None,
        fetch: false,
    })
}

/// Whether an event names a medium the fetcher must download.
pub(crate) fn wants_fetch(event: &ChannelEvent) -> bool {
    matches!(
        event,
        ChannelEvent::MessageAdded { media: Some(Media { provider_ref: Some(_), .. }), .. }
    )
}

/// Whether a channel has media still to fetch (after a restart).
pub(crate) fn has_pending(state: &ChannelState) -> bool {
    !state.is_removed()
        && state
            .media
            .values()
            .any(|m| m.status == MediaStatus::Pending && m.message_index.is_some())
}

#[derive(Debug)]
pub struct MediaFetcher {
    shared: Arc<Shared>,
    /// Each channel's media are fetched one run at a time.
    runs: crate::runs::ChannelRuns,
}

#[derive(Debug)]
struct Shared {
    log: Arc<EventLog>,
    outbound: crate::outbound::Outbound,
    config: MediaConfig,
    /// For the backoff, the Twilio account that media URLs are fetched with, and the Graph API
    /// with each WhatsApp number's token.
    outbox: OutboxConfig,
    /// Which number of ours a channel's medium was sent to (its flow's ContactIdentity).
    flows: Arc<crate::FlowDirectory>,
    registry: Weak<Registry>,
    /// Downloads under way at once, whatever the number of channels: each holds its medium in
    /// memory until it is sealed.
    downloads: tokio::sync::Semaphore,
}

/// The most media downloaded at the same time.
const PARALLEL_DOWNLOADS: usize = 8;

impl MediaFetcher {
    pub(crate) fn new(
        log: Arc<EventLog>,
        config: MediaConfig,
        outbox: OutboxConfig,
        flows: Arc<crate::FlowDirectory>,
        registry: Weak<Registry>,
    ) -> MediaFetcher {
        let policy = Arc::new(outbox.outbound.clone());
        let outbound = crate::outbound::Outbound::new(policy, config.timeout);
        MediaFetcher {
            shared: Arc::new(Shared {
                log,
                outbound,
                config,
                outbox,
                flows,
                registry,
                downloads: tokio::sync::Semaphore::new(PARALLEL_DOWNLOADS),
            }),
            runs: crate::runs::ChannelRuns::default(),
        }
    }
}

impl Actor for MediaFetcher {
    type Context = Context<Self>;
}

impl Handler<Wake> for MediaFetcher {
    type Result = ();

    fn handle(&mut self, wake: Wake, _: &mut Context<Self>) {
        let shared = Arc::clone(&self.shared);
        self.runs.wake(wake, move |wake| {
            let shared = Arc::clone(&shared);
            async move {
                if let Err(error) = fetch_channel(&shared, &wake).await {
                    let channel = wake.channel_sid;
                    tracing::error!(%channel, %error, "media fetching stopped on a storage error");
                }
            }
        });
    }
}

/// Fetches every pending medium of one channel, in order, from its cursor.
async fn fetch_channel(shared: &Shared, wake: &Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.channel_sid;
    let start = if log.has_cursor(CONSUMER, channel)? {
        log.cursor(CONSUMER, channel)?
    } else {
        log.set_cursor(CONSUMER, channel, wake.from_seq)?;
        wake.from_seq
    };
    let Some(registry) = shared.registry.upgrade() else { return Ok(()) };
    let records = crate::outbox::durable_records::<Recorded>(log, wake, start)?;
    let mut state: Option<ChannelState> = None;
    for record in records {
        let seq = record.seq();
        if let ReplayRecord::Event {
            event: Recorded { event: ChannelEvent::MessageAdded { media: Some(media), .. }, .. },
            ..
        } = &record
        {
            if let Some(provider_ref) = &media.provider_ref {
                if state.is_none() {
                    state = match registry.ask(channel, None, || GetState).await {
                        Ok(Ok(state)) => Some(state),
                        other => {
                            tracing::warn!(%channel, ?other, "media fetching could not read the channel");
                            return Ok(());
                        }
                    };
                }
                let Some(current) = &state else { return Ok(()) };
                // A deleted channel's media are no one's to read: not fetched.
                if current.is_removed() {
                    return Ok(());
                }
                let pending =
                    current.media.get(&media.sid).is_some_and(|m| m.status == MediaStatus::Pending);
                if pending {
                    let customer = current.customer_address.as_deref().unwrap_or_default();
                    let ours = current
                        .flex_flow_sid
                        .and_then(|f| shared.flows.get(f))
                        .and_then(|f| f.config.contact_identity);
                    let to = Parties { customer, ours: ours.as_deref() };
                    let outcome = fetch(shared, media, provider_ref, to).await;
                    if !record_outcome(shared, &registry, channel, media, outcome).await? {
                        // Not recorded (the engine is stopping): the cursor stays, a restart retries.
                        return Ok(());
                    }
                }
            }
        }
        log.set_cursor(CONSUMER, channel, seq + 1)?;
    }
    Ok(())
}

/// Why a fetch did not give bytes; `retry` for failures that may pass.
#[derive(Debug)]
struct Failure {
    retry: bool,
    message: String,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Failure {
        Failure { retry: false, message: message.into() }
    }

    fn transient(message: impl Into<String>) -> Failure {
        Failure { retry: true, message: message.into() }
    }
}

struct Fetched {
    content_type: String,
    bytes: Vec<u8>,
}

/// Who a medium was exchanged between: the customer's address and our number or page.
#[derive(Debug, Clone, Copy)]
struct Parties<'a> {
    customer: &'a str,
    ours: Option<&'a str>,
}

async fn fetch(
    shared: &Shared,
    media: &Media,
    provider_ref: &str,
    parties: Parties<'_>,
) -> Result<Fetched, Failure> {
    let mut last = Failure::transient("not tried");
    for attempt in 0..=shared.config.retries {
        if attempt > 0 {
            tokio::time::sleep(backoff(&shared.outbox, attempt)).await;
        }
        let permit = shared.downloads.acquire().await;
        let fetched = fetch_once(shared, media, provider_ref, parties).await;
        drop(permit);
        match fetched {
            Ok(fetched) => return Ok(fetched),
            Err(failure) if failure.retry => {
                tracing::debug!(media = %media.sid, attempt, "a media fetch failed; retrying");
                last = failure;
            }
            Err(failure) => return Err(failure),
        }
    }
    Err(last)
}

async fn fetch_once(
    shared: &Shared,
    media: &Media,
    provider_ref: &str,
    parties: Parties<'_>,
) -> Result<Fetched, Failure> {
    use crate::outbound::{endpoint, parse_url, read_capped, Credential, ANSWER_LIMIT_BYTES};
    let Parties { customer, ours } = parties;
    let outbound = &shared.outbound;
    if let Some(id) = provider_ref.strip_prefix(WHATSAPP_MEDIA_PREFIX) {
        // Checked before it touches a URL, and then a path segment of its own.
        if !crate::outbound::is_plain_id(id) {
            return Err(Failure::permanent("the medium's id is not a valid WhatsApp media id"));
        }
        let graph = shared.outbox.graph.as_ref();
        let token =
            graph.and_then(|g| g.whatsapp_token(ours.unwrap_or_default())).ok_or_else(|| {
                Failure::permanent("no WhatsApp access token is configured to fetch media with")
            })?;
        let base = crate::provider::graph_base(graph);
        let lookup = endpoint(base, &[id]).map_err(|e| Failure::permanent(e.to_string()))?;
        let to_graph = Credential::bearer(&[base], token);
        let answer = send(outbound.get(lookup).credential(&to_graph), "the Graph API").await?;
        let text = read_capped(answer, ANSWER_LIMIT_BYTES)
            .await
            .map_err(|e| failure(e, "the Graph API"))?;
        let info: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Failure::permanent(format!("the Graph API answered no JSON: {e}")))?;
        let url = info["url"]
            .as_str()
            .ok_or_else(|| Failure::permanent("the Graph API gave no URL for the medium"))?;
        if let Some(size) = info["file_size"].as_u64() {
            check_size(shared, size)?;
        }
        let declared = info["mime_type"].as_str().unwrap_or(&media.content_type).to_owned();
        check_type(shared, &declared)?;
        let media_origin = graph.map_or(crate::DEFAULT_WHATSAPP_MEDIA_ORIGIN, |g| &g.media_origin);
        let to_media = Credential::bearer(&[base, media_origin], token);
        let url = parse_url(url).map_err(|e| failure(e, "the media URL"))?;
        return download(shared, outbound.get(url).credential(&to_media), &declared).await;
    }
    let url = parse_url(provider_ref).map_err(|e| failure(e, "the media URL"))?;
    // Twilio protects media with the account's Basic credentials when asked to. They go to
    // Twilio's configured API origin only: never to Messenger's CDN, another port or scheme, nor
    // wherever a redirect leads.
    let twilio = shared.outbox.twilio.as_ref().filter(|_| !customer.starts_with("messenger:"));
    let credential = twilio.map(|TwilioApi { base_url, account_sid, auth_token, .. }| {
        Credential::basic(base_url, account_sid, auth_token)
    });
    let request = outbound.get(url);
    let request = match &credential {
        Some(credential) => request.credential(credential),
        None => request,
    };
    download(shared, request, &media.content_type).await
}

/// An outbound failure as a fetch's: refusals and oversized answers are for good.
fn failure(error: crate::outbound::OutboundError, what: &str) -> Failure {
    use crate::outbound::OutboundError;
    match error {
        OutboundError::Refused(_) => Failure::permanent(format!("{what}: {error}")),
        OutboundError::Network(_) => Failure::transient(format!("could not reach {what}: {error}")),
        OutboundError::TooManyRedirects | OutboundError::TooLarge(_) => {
            Failure::permanent(format!("{what}: {error}"))
        }
    }
}

async fn send(call: crate::outbound::Call<'_>, what: &str) -> Result<reqwest::Response, Failure> {
    let response = call.send().await.map_err(|e| failure(e, what))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let message = format!("HTTP {} from {what}", status.as_u16());
    if status.is_server_error() || status.as_u16() == 429 {
        Err(Failure::transient(message))
    } else {
        Err(Failure::permanent(message))
    }
}

async fn download(
    shared: &Shared,
    request: crate::outbound::Call<'_>,
    declared: &str,
) -> Result<Fetched, Failure> {
    let mut response = send(request, "the media URL").await?;
    if let Some(length) = response.content_length() {
        check_size(shared, length)?;
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence)
        .filter(|t| !t.is_empty() && t != "application/octet-stream")
        .unwrap_or_else(|| essence(declared));
    check_type(shared, &content_type)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::transient(format!("the download broke off: {}", e.without_url())))?
    {
        bytes.extend_from_slice(&chunk);
        check_size(shared, bytes.len() as u64)?;
    }
    Ok(Fetched { content_type, bytes })
}

fn check_size(shared: &Shared, size: u64) -> Result<(), Failure> {
    let max = shared.config.max_bytes;
    if size > max {
        return Err(Failure::permanent(format!(
            "the medium is larger than the limit of {max} bytes"
        )));
    }
    Ok(())
}

fn check_type(shared: &Shared, content_type: &str) -> Result<(), Failure> {
    if !shared.config.allows(content_type) {
        return Err(Failure::permanent(format!("media of type {content_type:?} are not accepted")));
    }
    Ok(())
}

/// Stores the bytes and records the outcome through the channel's actor; `false` when it could
/// not be recorded.
async fn record_outcome(
    shared: &Shared,
    registry: &Registry,
    channel: Sid,
    media: &Media,
    outcome: Result<Fetched, Failure>,
) -> Result<bool, StoreError> {
    let command = match outcome {
        Ok(fetched) => {
            let stored = match shared.log.put_media(
                channel,
                media.sid,
                &fetched.content_type,
                media.filename.as_deref(),
                &fetched.bytes,
            ) {
                Ok(stored) => stored,
                Err(StoreError::Shredded(_)) => return Ok(true),
                Err(error) => return Err(error),
            };
            ChannelCommand::RecordMediaStored {
                media_sid: media.sid,
                content_type: stored.content_type,
                size_bytes: stored.size_bytes,
                sha256: stored.sha256,
                filename: stored.filename,
            }
        }
        Err(failure) => {
            tracing::warn!(%channel, media = %media.sid, "a medium was not stored: {}", failure.message);
            ChannelCommand::RecordMediaFailed { media_sid: media.sid, error: failure.message }
        }
    };
    let at = crate::Clock::now(&crate::SystemClock);
    let execute = || Execute { commands: vec![command.clone()], at, cause: Some(Cause::System) };
    match registry.ask(channel, None, execute).await {
        Ok(Ok(Ok(done))) => {
            if let Some(ticket) = done.ticket {
                shared.log.wait_durable(ticket).await?;
            }
            Ok(true)
        }
        Ok(Ok(Err(rejection))) => {
            tracing::warn!(%channel, media = %media.sid, %rejection, "a media outcome was refused");
            Ok(true)
        }
        other => {
            tracing::warn!(%channel, media = %media.sid, ?other, "could not record a media outcome");
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_takes_families_and_exact_types() {
        let config = MediaConfig::default();
        assert!(config.allows("image/jpeg"));
        assert!(config.allows("Image/PNG; name=x"));
        assert!(config.allows("audio/ogg; codecs=opus"));
        assert!(config.allows("application/pdf"));
        assert!(config.allows("text/vcard"));
        assert!(!config.allows("application/x-msdownload"));
        assert!(!config.allows("text/html"));
        assert!(!config.allows("image"));
        assert!(!config.allows(""));
    }

    #[test]
    fn signed_links_name_the_medium_and_expire() {
        let media: Sid = "ME0123456789abcdef0123456789abcdef".parse().unwrap();
        let url = signed_media_url("https://sb.example/", "token", media, 1_000);
        let prefix = format!("https://sb.example/media/v1/{media}?expires=1000&signature=");
        assert!(url.starts_with(&prefix), "{url}");
        let signature = &url[prefix.len()..];
        assert!(verify_media_link("token", media, 1_000, signature, 999));
        assert!(!verify_media_link("token", media, 1_000, signature, 1_001));
        assert!(!verify_media_link("other", media, 1_000, signature, 999));
    }
}
