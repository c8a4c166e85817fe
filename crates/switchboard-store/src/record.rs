//! The bytes of a stored record, head and snapshot, and the associated data that binds each
//! sealed record to its place.
//!
//! Record: `version(1) ‖ key_id(4, BE) ‖ prev_hash(32) ‖ body`. The body is
//! `nonce(24) ‖ ciphertext ‖ tag(16)` under the stream's data key `key_id`, or, when `key_id` is 0,
//! the MessagePack of an event that is allowed in the clear (only the erasure marker is). Version 1
//! records hold named MessagePack (maps with field names), version 2 records positional
//! MessagePack (arrays): a fifth smaller, and sled copies every record of a leaf on each insert
//! into it; version 3 records, written since, the same with SIDs as bytes. All decode with the
//! same `Deserialize`.
//! `prev_hash` is the SHA-256 of the whole previous record of the stream (zeros for the first), so
//! the chain is checked from stored bytes alone, without keys.

use switchboard_crypto::{chain_hash, Sealer, NONCE_LEN, TAG_LEN};
use switchboard_domain::Sid;

/// Records of named MessagePack, written by builds before format 2 of the folder.
pub const RECORD_V1_NAMED: u8 = 1;
/// Records of positional MessagePack.
pub const RECORD_V2_POSITIONAL: u8 = 2;
/// Records of positional MessagePack whose SIDs are their 18 bytes, not their 34 characters
/// (folder format 4): a message's record is 16 bytes smaller. Read as version 2 is, since a
/// SID reads either form.
pub const RECORD_V3_BINARY_SIDS: u8 = 3;
/// The version of the records this build writes.
pub const RECORD_VERSION: u8 = RECORD_V3_BINARY_SIDS;
/// Heads have their own version byte, unchanged since the first format.
const HEAD_VERSION: u8 = 1;
/// Snapshots of states that did not remember provider message ids: read back only to be
/// replaced (`load_snapshot` rebuilds such a state from the log).
pub const SNAPSHOT_V1: u8 = 1;
/// Snapshots of states that remember their channels' inbound provider message ids, as a list
/// of named references: still read.
pub const SNAPSHOT_V2_PROVIDER_IDS: u8 = 2;
/// The same ids stored compact (`RecentProviderMessages`'s form): a third of a busy channel's
/// snapshot. Builds that write version 2 ignore these, and rebuild the state from the log.
pub const SNAPSHOT_V3_COMPACT_PROVIDER_IDS: u8 = 3;
/// The same with SIDs as their 18 bytes (folder format 4); read as version 3 is.
pub const SNAPSHOT_V4_BINARY_SIDS: u8 = 4;
/// The version of the snapshots this build writes.
pub const SNAPSHOT_VERSION: u8 = SNAPSHOT_V4_BINARY_SIDS;

pub const HASH_LEN: usize = 32;
pub const RECORD_HEADER_LEN: usize = 1 + 4 + HASH_LEN;
/// The key id of records stored in the clear.
pub const CLEAR_KEY_ID: u32 = 0;
pub const GENESIS_HASH: [u8; HASH_LEN] = [0; HASH_LEN];

const RECORD_DOMAIN: &[u8] = b"switchboard/record/v1";
const SNAPSHOT_DOMAIN: &[u8] = b"switchboard/snapshot/v1";

/// A record split into its parts, borrowing the stored bytes.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub version: u8,
    pub key_id: u32,
    pub prev_hash: &'a [u8; HASH_LEN],
    pub body: &'a [u8],
}

impl<'a> RecordView<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<RecordView<'a>, &'static str> {
        if bytes.len() < RECORD_HEADER_LEN {
            return Err("record shorter than its header");
        }
        let version = bytes[0];
        if !matches!(version, RECORD_V1_NAMED | RECORD_V2_POSITIONAL | RECORD_V3_BINARY_SIDS) {
            return Err("unknown record format version");
        }
        let key_id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let prev_hash = bytes[5..RECORD_HEADER_LEN].try_into().map_err(|_| "bad header")?;
        Ok(RecordView { version, key_id, prev_hash, body: &bytes[RECORD_HEADER_LEN..] })
    }
}

/// The plaintext of a new record: the positional MessagePack of `event`, every field in declaration
/// order (see `switchboard_domain::with_every_field`; the round-trip property of every event
/// catches a field left out where it would shift the others).
pub fn encode_event<E: serde::Serialize>(event: &E) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    switchboard_domain::with_every_field(|| rmp_serde::to_vec(event))
}

/// Associated data of a sealed record: its stream, sequence, key id, version and predecessor.
pub fn record_aad(
    stream: Sid,
    seq: u64,
    key_id: u32,
    version: u8,
    prev_hash: &[u8; HASH_LEN],
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(RECORD_DOMAIN.len() + 18 + 8 + 4 + 1 + HASH_LEN);
    aad.extend_from_slice(RECORD_DOMAIN);
    aad.extend_from_slice(&stream.to_bytes());
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.push(version);
    aad.extend_from_slice(prev_hash);
    aad
}

/// Builds a sealed record; returns its bytes and their chain hash.
pub fn seal_record(
    sealer: &Sealer,
    stream: Sid,
    seq: u64,
    key_id: u32,
    prev_hash: &[u8; HASH_LEN],
    plaintext: &[u8],
) -> (Vec<u8>, [u8; HASH_LEN]) {
    // Sized exactly, so the record is never reallocated on the append path.
    let mut out = record_header(key_id, prev_hash, NONCE_LEN + plaintext.len() + TAG_LEN);
    let aad = record_aad(stream, seq, key_id, RECORD_VERSION, prev_hash);
    sealer.seal_into(&aad, plaintext, &mut out);
    let hash = chain_hash(&out);
    (out, hash)
}

/// Builds a clear-text record (erasure markers only).
pub fn clear_record(prev_hash: &[u8; HASH_LEN], plaintext: &[u8]) -> (Vec<u8>, [u8; HASH_LEN]) {
    let mut out = record_header(CLEAR_KEY_ID, prev_hash, plaintext.len());
    out.extend_from_slice(plaintext);
    let hash = chain_hash(&out);
    (out, hash)
}

fn record_header(key_id: u32, prev_hash: &[u8; HASH_LEN], body_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + body_len);
    out.push(RECORD_VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(prev_hash);
    out
}

/// The head of a stream: the sequence the next record gets and the hash of the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub next_seq: u64,
    pub last_hash: [u8; HASH_LEN],
}

impl Head {
    pub const EMPTY: Head = Head { next_seq: 0, last_hash: GENESIS_HASH };
    pub const LEN: usize = 1 + 8 + HASH_LEN;

    pub fn to_bytes(self) -> [u8; Head::LEN] {
        let mut out = [0u8; Head::LEN];
        out[0] = HEAD_VERSION;
        out[1..9].copy_from_slice(&self.next_seq.to_be_bytes());
        out[9..].copy_from_slice(&self.last_hash);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Head> {
        if bytes.len() != Head::LEN || bytes[0] != HEAD_VERSION {
            return None;
        }
        Some(Head {
            next_seq: u64::from_be_bytes(bytes[1..9].try_into().ok()?),
            last_hash: bytes[9..].try_into().ok()?,
        })
    }
}

/// A sealed snapshot: `version(1) ‖ key_id(4) ‖ events_applied(8) ‖ sealed state`.
pub fn seal_snapshot(
    sealer: &Sealer,
    stream: Sid,
    key_id: u32,
    events_applied: u64,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + plaintext.len() + 40);
    out.push(SNAPSHOT_VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&events_applied.to_be_bytes());
    let aad = snapshot_aad(stream, key_id, events_applied, SNAPSHOT_VERSION);
    sealer.seal_into(&aad, plaintext, &mut out);
    out
}

/// A snapshot's envelope, parsed but not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEnvelope<'a> {
    pub version: u8,
    pub key_id: u32,
    pub events_applied: u64,
    pub sealed: &'a [u8],
}

/// Parses a snapshot of any version this build knows.
pub fn parse_snapshot(bytes: &[u8]) -> Option<SnapshotEnvelope<'_>> {
    let version = *bytes.first()?;
    let known = matches!(
        version,
        SNAPSHOT_V1
            | SNAPSHOT_V2_PROVIDER_IDS
            | SNAPSHOT_V3_COMPACT_PROVIDER_IDS
            | SNAPSHOT_V4_BINARY_SIDS
    );
    if bytes.len() < 13 || !known {
        return None;
    }
    Some(SnapshotEnvelope {
        version,
        key_id: u32::from_be_bytes(bytes[1..5].try_into().ok()?),
        events_applied: u64::from_be_bytes(bytes[5..13].try_into().ok()?),
        sealed: &bytes[13..],
    })
}

pub fn snapshot_aad(stream: Sid, key_id: u32, events_applied: u64, version: u8) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SNAPSHOT_DOMAIN.len() + 18 + 4 + 8 + 1);
    aad.extend_from_slice(SNAPSHOT_DOMAIN);
    aad.extend_from_slice(&stream.to_bytes());
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.extend_from_slice(&events_applied.to_be_bytes());
    aad.push(version);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_every_version_this_build_knows_parse_and_no_other() {
        let (record, _) = clear_record(&GENESIS_HASH, b"body");
        for version in [RECORD_V1_NAMED, RECORD_V2_POSITIONAL, RECORD_V3_BINARY_SIDS] {
            let mut stored = record.clone();
            stored[0] = version;
            let view = RecordView::parse(&stored).unwrap();
            assert_eq!((view.version, view.body), (version, &b"body"[..]));
        }
        let mut newer = record;
        newer[0] = RECORD_V3_BINARY_SIDS + 1;
        assert_eq!(RecordView::parse(&newer).unwrap_err(), "unknown record format version");
    }
}
