//! The media store: the bytes of attachments, beside the log in the same sled tree, sealed under
//! the data key of the channel they belong to, so shredding a channel destroys its media too.
//!
//! A medium is cut into chunks of [`MEDIA_CHUNK`] bytes, each sealed on its own with associated
//! data that names the channel, the media SID, the chunk number, the key id and whether it is the
//! last chunk: a chunk moved to another place, another medium or another channel does not open,
//! and a medium cut short is noticed. A sealed header (content type, size, chunk count, SHA-256,
//! file name) is written after the chunks and is the commit point: chunks without a header are
//! an unfinished write and are never served. `N` maps a media SID to its channel in the clear
//! (two random identifiers, no customer data), so a request for a medium of a shredded channel
//! can be told apart from one for a medium that never existed.
//!
//! Nothing here waits for a flush: the `MediaStored` event that announces a medium is appended
//! after it, and the flush that makes the event durable covers the chunks written before it.

use serde::{Deserialize, Serialize};
use switchboard_domain::Sid;

use crate::keyring::{KeyStatus, StreamKey};
use crate::layout::{self, MEDIA, MEDIA_OWNER};
use crate::{EventLog, StoreError};

/// Plaintext bytes per sealed chunk.
pub const MEDIA_CHUNK: usize = 64 * 1024;

/// The chunk number under which a medium's header is stored (after every chunk in key order).
const HEADER_CHUNK: u32 = u32::MAX;
const CHUNK_DOMAIN: &[u8] = b"switchboard/media-chunk/v1";
const HEADER_DOMAIN: &[u8] = b"switchboard/media-header/v1";

/// What the store knows of a stored medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMedia {
    pub content_type: String,
    pub size_bytes: u64,
    /// Hex SHA-256 of the plaintext.
    pub sha256: String,
    pub filename: Option<String>,
    pub chunks: u32,
}

/// The outcome of reading a medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaRead {
    Found(StoredMedia, Vec<u8>),
    /// Not stored (yet), or its write never finished.
    Missing,
    /// The channel's key was destroyed: the medium is gone for good.
    Shredded,
}

impl EventLog {
    /// Seals `bytes` as medium `media` of `channel`, replacing any unfinished or earlier copy.
    /// The channel must exist (its data key is made by its first append).
    pub fn put_media(
        &self,
        channel: Sid,
        media: Sid,
        content_type: &str,
        filename: Option<&str>,
        bytes: &[u8],
    ) -> Result<StoredMedia, StoreError> {
        let key = match self.keyring().current(self.tree(), channel)? {
            KeyStatus::Active(key) => key,
            KeyStatus::Shredded => return Err(StoreError::Shredded(channel)),
            KeyStatus::Missing => return Err(StoreError::NotFound(channel)),
        };
        let chunks = u32::try_from(bytes.len().div_ceil(MEDIA_CHUNK).max(1))
            .map_err(|_| StoreError::Damaged("a medium of more than 256 TiB".into()))?;
        self.unmark_clean()?;
        // The header goes first, so a reader never pairs an old header with new chunks.
        self.remove_media(channel, media)?;
        self.tree().insert(owner_key(media), &channel.to_bytes()[..])?;
        let pieces: Vec<&[u8]> =
            if bytes.is_empty() { vec![&[][..]] } else { bytes.chunks(MEDIA_CHUNK).collect() };
        for (number, piece) in (0u32..).zip(pieces) {
            let aad = chunk_aad(channel, media, number, key.key_id, number + 1 == chunks);
            let mut sealed = Vec::with_capacity(piece.len() + 40);
            key.sealer.seal_into(&aad, piece, &mut sealed);
            self.tree().insert(chunk_key(channel, media, number), sealed)?;
        }
        let stored = StoredMedia {
            content_type: content_type.to_owned(),
            size_bytes: bytes.len() as u64,
            sha256: hex(&switchboard_crypto::chain_hash(bytes)),
            filename: filename.map(str::to_owned),
            chunks,
        };
        let mut header = key.key_id.to_be_bytes().to_vec();
        key.sealer.seal_into(
            &header_aad(channel, media, key.key_id),
            &rmp_serde::to_vec_named(&stored)?,
            &mut header,
        );
        self.tree().insert(chunk_key(channel, media, HEADER_CHUNK), header)?;
        Ok(stored)
    }

    /// The header of a stored medium, without its bytes.
    pub fn media_info(&self, channel: Sid, media: Sid) -> Result<MediaRead, StoreError> {
        Ok(match self.open_header(channel, media)? {
            Header::Found(_, stored) => MediaRead::Found(stored, Vec::new()),
            Header::Missing => MediaRead::Missing,
            Header::Shredded => MediaRead::Shredded,
        })
    }

    /// The bytes of a stored medium, every chunk checked.
    pub fn read_media(&self, channel: Sid, media: Sid) -> Result<MediaRead, StoreError> {
        let (key, stored) = match self.open_header(channel, media)? {
            Header::Found(key, stored) => (key, stored),
            Header::Missing => return Ok(MediaRead::Missing),
            Header::Shredded => return Ok(MediaRead::Shredded),
        };
        let damaged =
            |why: &str| StoreError::Damaged(format!("medium {media} of {channel}: {why}"));
        let mut bytes = Vec::with_capacity(usize::try_from(stored.size_bytes).unwrap_or(0));
        for number in 0..stored.chunks {
            let sealed = self
                .tree()
                .get(chunk_key(channel, media, number))?
                .ok_or_else(|| damaged("a chunk is missing"))?;
            let aad = chunk_aad(channel, media, number, key.key_id, number + 1 == stored.chunks);
            let plain =
                key.sealer.open(&aad, &sealed).map_err(|_| damaged("a chunk does not open"))?;
            bytes.extend_from_slice(&plain);
        }
        if bytes.len() as u64 != stored.size_bytes {
            return Err(damaged("its chunks do not add up to its size"));
        }
        Ok(MediaRead::Found(stored, bytes))
    }

    /// The channel a medium was stored for, even after the channel was shredded.
    pub fn media_channel(&self, media: Sid) -> Result<Option<Sid>, StoreError> {
        let Some(bytes) = self.tree().get(owner_key(media))? else { return Ok(None) };
        Sid::from_bytes(&bytes)
            .map(Some)
            .map_err(|_| StoreError::Damaged(format!("the owner entry of {media} is malformed")))
    }

    fn remove_media(&self, channel: Sid, media: Sid) -> Result<(), StoreError> {
        self.tree().remove(chunk_key(channel, media, HEADER_CHUNK))?;
        let start = chunk_key(channel, media, 0);
        for key in self.tree().range(start..chunk_key(channel, media, HEADER_CHUNK)).keys() {
            self.tree().remove(key?)?;
        }
        Ok(())
    }

    fn open_header(&self, channel: Sid, media: Sid) -> Result<Header, StoreError> {
        let Some(bytes) = self.tree().get(chunk_key(channel, media, HEADER_CHUNK))? else {
            return Ok(match self.keyring().current(self.tree(), channel)? {
                KeyStatus::Shredded => Header::Shredded,
                _ => Header::Missing,
            });
        };
        let damaged = || StoreError::Damaged(format!("the header of medium {media} is malformed"));
        let key_id = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(damaged)?;
        let key = match self.keyring().by_id(self.tree(), channel, key_id)? {
            KeyStatus::Active(key) => key,
            KeyStatus::Shredded => return Ok(Header::Shredded),
            KeyStatus::Missing => return Err(damaged()),
        };
        let plain = key
            .sealer
            .open(&header_aad(channel, media, key_id), &bytes[4..])
            .map_err(|_| damaged())?;
        let stored: StoredMedia = rmp_serde::from_slice(&plain).map_err(|_| damaged())?;
        Ok(Header::Found(key, stored))
    }
}

enum Header {
    Found(std::sync::Arc<StreamKey>, StoredMedia),
    Missing,
    Shredded,
}

/// Removes every stored medium of `channel` (its chunks and headers); part of a shred. The
/// owner entries stay, so a shredded medium is answered as gone rather than unknown.
pub(crate) fn destroy_media(log: &EventLog, channel: Sid) -> Result<(), StoreError> {
    for key in log.tree().scan_prefix(layout::stream_prefix(MEDIA, channel)).keys() {
        log.tree().remove(key?)?;
    }
    Ok(())
}

/// `B` ‖ channel ‖ media ‖ chunk number.
fn chunk_key(channel: Sid, media: Sid, number: u32) -> Vec<u8> {
    let mut key = layout::stream_prefix(MEDIA, channel).to_vec();
    key.extend_from_slice(&media.to_bytes());
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// `N` ‖ media.
fn owner_key(media: Sid) -> [u8; 1 + layout::STREAM_LEN] {
    layout::stream_prefix(MEDIA_OWNER, media)
}

fn chunk_aad(channel: Sid, media: Sid, number: u32, key_id: u32, last: bool) -> Vec<u8> {
    let mut aad = CHUNK_DOMAIN.to_vec();
    aad.extend_from_slice(&channel.to_bytes());
    aad.extend_from_slice(&media.to_bytes());
    aad.extend_from_slice(&number.to_be_bytes());
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

fn header_aad(channel: Sid, media: Sid, key_id: u32) -> Vec<u8> {
    let mut aad = HEADER_DOMAIN.to_vec();
    aad.extend_from_slice(&channel.to_bytes());
    aad.extend_from_slice(&media.to_bytes());
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
