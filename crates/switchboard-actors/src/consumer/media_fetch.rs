//! Inbound media: downloads the media of inbound messages from their provider and stores them
//! encrypted in the channel's media store.
//!
//! Like every consumer, the fetcher keeps no queue: it reads each channel's log from its own
//! cursor, so a medium whose message is durable is fetched even across restarts, and the webhook
//! that brought the message never waits for a download. Sources: a Twilio `MediaUrl` (HTTP Basic
//! with the upstream account when the URL is on Twilio's configured API origin, redirects
//! followed), a WhatsApp Cloud media id (checked, then the Graph API gives a URL, fetched with the
//! same bearer token if it is on the Graph API's or WhatsApp's media origin), a Messenger
//! attachment URL (fetched as is). Every fetch goes through the outbound policy (`outbound`).
//! Network errors, 429 and 5xx are retried with the consumers' backoff; a medium that is too
//! large, of a refused type, refused by the policy or by the provider is recorded as failed with
//! the reason, and nothing is stored. The outcome is an event of the channel (`MediaStored` /
//! `MediaFailed`), recorded through the channel's actor, its only writer; a medium already
//! stored is never stored again.

use std::sync::{Arc, Weak};

use switchboard_domain::{
    Cause, ChannelCommand, ChannelEvent, ChannelState, Media, MediaStatus, Recorded, Sid,
};
use switchboard_store::{EventLog, ReplayRecord, StoreError};

use super::{backoff, Consumer, OutboxConfig, Run, Shared, TwilioApi, Wake, Woken};
use crate::channel::{Execute, GetState};
use crate::media::{essence, MediaConfig, WHATSAPP_MEDIA_PREFIX};
use crate::registry::Registry;

/// The cursor name of the media fetcher.
pub const CONSUMER: &str = "media-fetch";

/// Whether an event names a medium the fetcher must download.
pub(crate) fn wants_fetch(event: &ChannelEvent) -> bool {
    matches!(
        event,
        ChannelEvent::MessageAdded { media: Some(Media { provider_ref: Some(_), .. }), .. }
    )
}

/// Whether a channel has media still to fetch (after a restart).
fn has_pending(state: &ChannelState) -> bool {
    !state.is_removed()
        && state
            .media
            .values()
            .any(|m| m.status == MediaStatus::Pending && m.message_index.is_some())
}

/// Downloads inbound media into the channel's media store.
pub(crate) struct MediaFetch {
    fetcher: Arc<Fetcher>,
}

/// What the fetcher downloads with.
#[derive(Debug)]
struct Fetcher {
    log: Arc<EventLog>,
    /// With the media timeout, not the deliveries'.
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

impl MediaFetch {
    pub(crate) fn new(shared: &Shared, config: MediaConfig) -> MediaFetch {
        let policy = Arc::new(shared.config.outbound.clone());
        let outbound = crate::outbound::Outbound::new(policy, config.timeout);
        let fetcher = Fetcher {
            log: Arc::clone(&shared.log),
            outbound,
            config,
            outbox: shared.config.clone(),
            flows: Arc::clone(&shared.flows),
            registry: shared.registry.clone(),
            downloads: tokio::sync::Semaphore::new(PARALLEL_DOWNLOADS),
        };
        MediaFetch { fetcher: Arc::new(fetcher) }
    }
}

impl Consumer for MediaFetch {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, woken: &Woken<'_>) -> bool {
        woken.events().any(wants_fetch)
    }

    fn resume_from(
        &self,
        shared: &Shared,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        // Media whose message is durable but whose fetch never finished.
        if !has_pending(state) {
            return Ok(None);
        }
        Ok(Some(shared.log.cursor(CONSUMER, channel)?))
    }

    fn run(&self, _: Arc<Shared>, wake: Wake) -> Run {
        let fetcher = Arc::clone(&self.fetcher);
        Box::pin(async move { fetch_channel(&fetcher, &wake).await })
    }
}

/// Fetches every pending medium of one channel, in order, from its cursor.
async fn fetch_channel(fetcher: &Fetcher, wake: &Wake) -> Result<(), StoreError> {
    let log = &fetcher.log;
    let channel = wake.stream_sid;
    let start = super::start_at(log, CONSUMER, channel, wake.from_seq)?;
    let Some(registry) = fetcher.registry.upgrade() else { return Ok(()) };
    let records = super::durable_records::<Recorded>(log, wake, start)?;
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
                        .and_then(|f| fetcher.flows.get(f))
                        .and_then(|f| f.config.contact_identity);
                    let to = Parties { customer, ours: ours.as_deref() };
                    let outcome = fetch(fetcher, media, provider_ref, to).await;
                    if !record_outcome(fetcher, &registry, channel, media, outcome).await? {
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
    fetcher: &Fetcher,
    media: &Media,
    provider_ref: &str,
    parties: Parties<'_>,
) -> Result<Fetched, Failure> {
    let mut last = Failure::transient("not tried");
    for attempt in 0..=fetcher.config.retries {
        if attempt > 0 {
            tokio::time::sleep(backoff(&fetcher.outbox, attempt)).await;
        }
        let permit = fetcher.downloads.acquire().await;
        let fetched = fetch_once(fetcher, media, provider_ref, parties).await;
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
    fetcher: &Fetcher,
    media: &Media,
    provider_ref: &str,
    parties: Parties<'_>,
) -> Result<Fetched, Failure> {
    use crate::outbound::{endpoint, parse_url, read_capped, Credential, ANSWER_LIMIT_BYTES};
    let Parties { customer, ours } = parties;
    let outbound = &fetcher.outbound;
    if let Some(id) = provider_ref.strip_prefix(WHATSAPP_MEDIA_PREFIX) {
        // Checked before it touches a URL, and then a path segment of its own.
        if !crate::outbound::is_plain_id(id) {
            return Err(Failure::permanent("the medium's id is not a valid WhatsApp media id"));
        }
        let graph = fetcher.outbox.graph.as_ref();
        let token =
            graph.and_then(|g| g.whatsapp_token(ours.unwrap_or_default())).ok_or_else(|| {
                Failure::permanent("no WhatsApp access token is configured to fetch media with")
            })?;
        let base = super::replies::graph_base(graph);
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
            check_size(fetcher, size)?;
        }
        let declared = info["mime_type"].as_str().unwrap_or(&media.content_type).to_owned();
        check_type(fetcher, &declared)?;
        let media_origin = graph.map_or(crate::DEFAULT_WHATSAPP_MEDIA_ORIGIN, |g| &g.media_origin);
        let to_media = Credential::bearer(&[base, media_origin], token);
        let url = parse_url(url).map_err(|e| failure(e, "the media URL"))?;
        return download(fetcher, outbound.get(url).credential(&to_media), &declared).await;
    }
    let url = parse_url(provider_ref).map_err(|e| failure(e, "the media URL"))?;
    // Twilio protects media with the account's Basic credentials when asked to. They go to
    // Twilio's configured API origin only: never to Messenger's CDN, another port or scheme, nor
    // wherever a redirect leads.
    let twilio = fetcher.outbox.twilio.as_ref().filter(|_| !customer.starts_with("messenger:"));
    let credential = twilio.map(|TwilioApi { base_url, account_sid, auth_token, .. }| {
        Credential::basic(base_url, account_sid, auth_token)
    });
    let request = outbound.get(url);
    let request = match &credential {
        Some(credential) => request.credential(credential),
        None => request,
    };
    download(fetcher, request, &media.content_type).await
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
    fetcher: &Fetcher,
    request: crate::outbound::Call<'_>,
    declared: &str,
) -> Result<Fetched, Failure> {
    let mut response = send(request, "the media URL").await?;
    if let Some(length) = response.content_length() {
        check_size(fetcher, length)?;
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence)
        .filter(|t| !t.is_empty() && t != "application/octet-stream")
        .unwrap_or_else(|| essence(declared));
    check_type(fetcher, &content_type)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::transient(format!("the download broke off: {}", e.without_url())))?
    {
        bytes.extend_from_slice(&chunk);
        check_size(fetcher, bytes.len() as u64)?;
    }
    Ok(Fetched { content_type, bytes })
}

fn check_size(fetcher: &Fetcher, size: u64) -> Result<(), Failure> {
    let max = fetcher.config.max_bytes;
    if size > max {
        return Err(Failure::permanent(format!(
            "the medium is larger than the limit of {max} bytes"
        )));
    }
    Ok(())
}

fn check_type(fetcher: &Fetcher, content_type: &str) -> Result<(), Failure> {
    if !fetcher.config.allows(content_type) {
        return Err(Failure::permanent(format!("media of type {content_type:?} are not accepted")));
    }
    Ok(())
}

/// Stores the bytes and records the outcome through the channel's actor; `false` when it could
/// not be recorded.
async fn record_outcome(
    fetcher: &Fetcher,
    registry: &Registry,
    channel: Sid,
    media: &Media,
    outcome: Result<Fetched, Failure>,
) -> Result<bool, StoreError> {
    let command = match outcome {
        Ok(fetched) => {
            let stored = match fetcher.log.put_media(
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
        Ok(Ok(Ok(done))) => match done.durability.wait().await {
            Ok(()) => Ok(true),
            Err(crate::EngineError::Store(error)) => Err(error),
            // The engine is stopping: as when the actor could not be asked, below.
            Err(_) => Ok(false),
        },
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
