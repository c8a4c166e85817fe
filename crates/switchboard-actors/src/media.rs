//! Media of channels: where a medium is, its bytes (sealed under the channel's key), what may be
//! attached to a message, the media limits, and the signed public links through which providers
//! fetch outbound media. Inbound media are downloaded by a consumer of the log
//! (`consumer/media_fetch.rs`).

use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::{ChannelState, Media, MediaStatus, Sid};
use switchboard_store::{MediaRead, StoreError, StoredMedia};

use crate::{Engine, EngineError};

/// Media: uploads, fetches and reads (`Engine::media`).
#[derive(Debug, Clone, Copy)]
pub struct ChannelMedia<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Media of the channels, and the limits they are held to.
    pub fn media(&self) -> ChannelMedia<'_> {
        ChannelMedia { engine: self }
    }
}

impl<'e> ChannelMedia<'e> {
    /// The limits media are held to (uploads as well as fetches).
    pub fn config(self) -> &'e crate::MediaConfig {
        &self.engine.inner.media_config
    }

    /// The channel that holds a medium: through the index by media SID or, once a shred removed
    /// that entry, the media store's own record of whose it was.
    pub fn channel_of(self, media_sid: Sid) -> Result<Option<Sid>, EngineError> {
        let value = media_sid.to_string();
        if let Some((channel, _)) =
            self.engine.log().lookup(switchboard_domain::IndexKind::Media, None, &value)?
        {
            return Ok(Some(channel));
        }
        Ok(self.engine.log().media_channel(media_sid)?)
    }

    /// A medium's bytes, read on a blocking thread.
    pub async fn read(self, channel: Sid, media: Sid) -> Result<MediaRead, EngineError> {
        let log = Arc::clone(self.engine.log());
        blocking(move || log.read_media(channel, media)).await
    }

    /// Stores an upload's bytes, sealed under its channel's key, on a blocking thread. The
    /// medium exists for the API once `RecordMediaStored` is durable.
    pub async fn put(
        self,
        channel: Sid,
        media: Sid,
        content_type: String,
        filename: Option<String>,
        bytes: Vec<u8>,
    ) -> Result<StoredMedia, EngineError> {
        let log = Arc::clone(self.engine.log());
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
