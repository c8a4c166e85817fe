//! Key layout of the single sled tree. Every key starts with a one-byte prefix naming its kind;
//! integers are big-endian so sled's byte order is numeric order.

use switchboard_domain::Sid;

pub const EVENT: u8 = b'E';
pub const HEAD: u8 = b'H';
pub const KEY: u8 = b'K';
pub const SNAPSHOT: u8 = b'S';
pub const INDEX: u8 = b'I';
/// A slot of the ring of head checkpoints: `P ‖ slot(u64)`.
pub const CHECKPOINT: u8 = b'P';

/// Media chunks and headers: `B` channel media chunk-number (see `media.rs`).
pub const MEDIA: u8 = b'B';
/// Media SID → its channel: `N` media.
pub const MEDIA_OWNER: u8 = b'N';

/// Where each message's records are: `L` channel message-index (see `positions.rs`).
pub const POSITIONS: u8 = b'L';

pub const CURSOR: u8 = b'C';
pub const DEAD_LETTER: u8 = b'D';

pub const META_FORMAT: &[u8] = b"Mformat";
pub const META_MASTER: &[u8] = b"Mmaster";
pub const META_INDEX_KEY: &[u8] = b"Mindex-key";
pub const META_SYSTEM_KEY: &[u8] = b"Msystem-key";
/// Present while the folder is closed cleanly; absent while open or after a crash.
pub const META_CLEAN: &[u8] = b"Mclean";
/// The number of the last head checkpoint whose heads are all in their `H` entries.
pub const META_CHECKPOINT: &[u8] = b"Mcheckpoint";
/// The folder's random id (16 bytes): its durable record carries the same.
pub const META_FOLDER_ID: &[u8] = b"Mfolder-id";
/// Prefix of sealed operator secrets (auth token, API key secrets): `Msecret/<name>`.
pub const META_SECRET_PREFIX: &[u8] = b"Msecret/";

pub const STREAM_LEN: usize = Sid::BINARY_LEN;
pub const EVENT_KEY_LEN: usize = 1 + STREAM_LEN + 8;

pub fn event_key(stream: Sid, seq: u64) -> [u8; EVENT_KEY_LEN] {
    let mut key = [0u8; EVENT_KEY_LEN];
    key[0] = EVENT;
    key[1..1 + STREAM_LEN].copy_from_slice(&stream.to_bytes());
    key[1 + STREAM_LEN..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub fn stream_prefix(prefix: u8, stream: Sid) -> [u8; 1 + STREAM_LEN] {
    let mut key = [0u8; 1 + STREAM_LEN];
    key[0] = prefix;
    key[1..].copy_from_slice(&stream.to_bytes());
    key
}

pub fn checkpoint_key(slot: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = CHECKPOINT;
    key[1..].copy_from_slice(&slot.to_be_bytes());
    key
}

pub fn key_key(stream: Sid, key_id: u32) -> [u8; 1 + STREAM_LEN + 4] {
    let mut key = [0u8; 1 + STREAM_LEN + 4];
    key[..1 + STREAM_LEN].copy_from_slice(&stream_prefix(KEY, stream));
    key[1 + STREAM_LEN..].copy_from_slice(&key_id.to_be_bytes());
    key
}

/// `C|D` ‖ len(consumer) ‖ consumer ‖ stream: where a consumer of the log (an outbox) is.
pub fn consumer_key(prefix: u8, consumer: &str, stream: Sid) -> Vec<u8> {
    let name = consumer.as_bytes();
    let mut key = Vec::with_capacity(2 + name.len() + STREAM_LEN + 8);
    key.push(prefix);
    key.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(&name[..name.len().min(255)]);
    key.extend_from_slice(&stream.to_bytes());
    key
}

/// Splits a `C` or `D` key into its stream and, for a dead letter, its sequence number.
pub fn parse_consumer_key(key: &[u8]) -> Option<(Sid, Option<u64>)> {
    let name_len = usize::from(*key.get(1)?);
    let rest = key.get(2 + name_len..)?;
    let stream = Sid::from_bytes(rest.get(..STREAM_LEN)?).ok()?;
    let seq = match rest.len() - STREAM_LEN {
        0 => None,
        8 => Some(u64::from_be_bytes(rest[STREAM_LEN..].try_into().ok()?)),
        _ => return None,
    };
    Some((stream, seq))
}

pub fn index_key(kind: u8, digest: &[u8; 32]) -> [u8; 34] {
    let mut key = [0u8; 34];
    key[0] = INDEX;
    key[1] = kind;
    key[2..].copy_from_slice(digest);
    key
}

/// Splits an `E` key into its stream and sequence number.
pub fn parse_event_key(key: &[u8]) -> Option<(Sid, u64)> {
    if key.len() != EVENT_KEY_LEN || key[0] != EVENT {
        return None;
    }
    let stream = Sid::from_bytes(&key[1..1 + STREAM_LEN]).ok()?;
    let seq = u64::from_be_bytes(key[1 + STREAM_LEN..].try_into().ok()?);
    Some((stream, seq))
}

/// The stream of an `H`, `S` or `K` key.
pub fn parse_stream_key(key: &[u8]) -> Option<Sid> {
    Sid::from_bytes(key.get(1..1 + STREAM_LEN)?).ok()
}

/// The context a stream's wrapped data key is bound to.
pub fn key_context(stream: Sid, key_id: u32) -> Vec<u8> {
    let mut context = stream.to_bytes().to_vec();
    context.extend_from_slice(&key_id.to_be_bytes());
    context
}

pub const INDEX_KEY_CONTEXT: &[u8] = b"index";
pub const SYSTEM_KEY_CONTEXT: &[u8] = b"system";
