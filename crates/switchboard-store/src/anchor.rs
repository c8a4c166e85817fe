//! Anchored heads: a signed digest of every stream's head and of how far the log was
//! acknowledged, taken from a live log or a stopped folder and shipped off the machine (to
//! write-once storage, on a schedule). A later `verify --against` proves the log still holds
//! everything such a digest covered: each anchored head names the hash of its stream's last
//! record then, and the chain ties every earlier record to it, so a truncated or rewritten
//! history fails even when whoever rewrote it also rewrote the durable record.
//!
//! The document is JSON (`switchboard-heads/1`); its digest is SHA-256 over a canonical binary
//! form of its fields (below), signed with Ed25519 under a key derived from the master key
//! (`switchboard_crypto::heads`). Anyone can check it with the public key it names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_crypto::{chain_hash, MasterKey};
use switchboard_domain::Sid;

use crate::durable::Position;
use crate::record::Head;

/// The format name every document carries.
pub const HEADS_FORMAT: &str = "switchboard-heads/1";

/// A stream's head as anchored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchoredHead {
    /// The records the stream held.
    pub records: u64,
    /// Hex SHA-256 of its last record's stored bytes (zeros for an empty stream).
    pub last_hash: String,
}

/// The signed heads of a folder at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchoredHeads {
    pub format: String,
    /// The folder's id (hex): its durable record and audit stream carry the same.
    pub folder_id: String,
    /// When they were taken (RFC 3339), as the taker's clock said.
    pub taken_at: String,
    /// Where the log was: the checkpoint whose flush made every listed head durable, and the
    /// records the listed heads count. The log holds at least this much from then on.
    pub position: Position,
    /// Every stream's head, by SID.
    pub heads: BTreeMap<String, AnchoredHead>,
    /// Hex SHA-256 of the canonical form of everything above.
    pub digest: String,
    /// Hex Ed25519 public key, derived from the folder's master key.
    pub public_key: String,
    /// Hex Ed25519 signature of the digest.
    pub signature: String,
}

impl AnchoredHeads {
    /// Signs `heads` of folder `folder_id` at `position` with `master`'s heads key.
    pub fn sign(
        master: &MasterKey,
        folder_id: [u8; 16],
        taken_at: &str,
        position: Position,
        heads: &BTreeMap<Sid, Head>,
    ) -> AnchoredHeads {
        let mut anchored = AnchoredHeads {
            format: HEADS_FORMAT.into(),
            folder_id: hex(&folder_id),
            taken_at: taken_at.into(),
            position,
            heads: heads
                .iter()
                .map(|(sid, head)| {
                    let head =
                        AnchoredHead { records: head.next_seq, last_hash: hex(&head.last_hash) };
                    (sid.to_string(), head)
                })
                .collect(),
            digest: String::new(),
            public_key: String::new(),
            signature: String::new(),
        };
        let digest = anchored.canonical_digest().expect("the fields were just written");
        let (public_key, signature) = switchboard_crypto::heads::sign(master, &digest);
        anchored.digest = hex(&digest);
        anchored.public_key = hex(&public_key);
        anchored.signature = hex(&signature);
        anchored
    }

    /// The heads as the log's types; `Err` names a field that does not parse.
    pub fn parsed_heads(&self) -> Result<BTreeMap<Sid, Head>, String> {
        self.heads
            .iter()
            .map(|(sid, head)| {
                let stream = sid.parse::<Sid>().map_err(|e| format!("stream {sid:?}: {e}"))?;
                let last_hash = unhex::<32>(&head.last_hash)
                    .ok_or_else(|| format!("the last hash of {sid} is not 32 bytes of hex"))?;
                Ok((stream, Head { next_seq: head.records, last_hash }))
            })
            .collect()
    }

    /// SHA-256 of `format ‖ folder id ‖ len‖taken_at ‖ checkpoint ‖ records ‖ count ‖
    /// (stream ‖ records ‖ last hash)*`, streams in SID byte order.
    pub fn canonical_digest(&self) -> Result<[u8; 32], String> {
        if self.format != HEADS_FORMAT {
            return Err(format!("format {:?} is not {HEADS_FORMAT:?}", self.format));
        }
        let folder = unhex::<16>(&self.folder_id).ok_or("the folder id is not 16 bytes of hex")?;
        let heads = self.parsed_heads()?;
        let mut bytes = Vec::with_capacity(64 + heads.len() * 58);
        bytes.extend_from_slice(HEADS_FORMAT.as_bytes());
        bytes.extend_from_slice(&folder);
        bytes.extend_from_slice(&(self.taken_at.len() as u64).to_be_bytes());
        bytes.extend_from_slice(self.taken_at.as_bytes());
        bytes.extend_from_slice(&self.position.checkpoint.to_be_bytes());
        bytes.extend_from_slice(&self.position.records.to_be_bytes());
        bytes.extend_from_slice(&(heads.len() as u64).to_be_bytes());
        for (stream, head) in &heads {
            bytes.extend_from_slice(&stream.to_bytes());
            bytes.extend_from_slice(&head.next_seq.to_be_bytes());
            bytes.extend_from_slice(&head.last_hash);
        }
        Ok(chain_hash(&bytes))
    }

    /// Whether the document is whole and signed by the key it names. Says nothing of whose key
    /// that is: compare [`AnchoredHeads::public_key`] with the folder's
    /// ([`heads_public_key`]) or with the one you published.
    pub fn check_signature(&self) -> Result<(), String> {
        let digest = self.canonical_digest()?;
        if unhex::<32>(&self.digest) != Some(digest) {
            return Err("its digest does not match its contents (altered)".into());
        }
        let public_key = unhex::<32>(&self.public_key).ok_or("the public key is not hex")?;
        let signature = unhex::<64>(&self.signature).ok_or("the signature is not hex")?;
        if !switchboard_crypto::heads::verify(&public_key, &digest, &signature) {
            return Err("its signature does not verify".into());
        }
        Ok(())
    }
}

/// The public key that checks the heads signed under `master` (hex).
pub fn heads_public_key(master: &MasterKey) -> String {
    hex(&switchboard_crypto::heads::public_key(master))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

impl crate::EventLog {
    /// Every stream's durable head and the log's position, signed: what `GET /admin/v1/Heads`
    /// serves. Every head it lists was durable when listed (a fold puts every staged head in
    /// `H`, and a flush after the reading covers any newer one it saw); the position is that
    /// flush's checkpoint and the records the heads count.
    pub fn anchor_heads(&self, taken_at: &str) -> Result<AnchoredHeads, crate::StoreError> {
        self.fold()?;
        let mut heads = BTreeMap::new();
        for entry in self.tree().scan_prefix([crate::layout::HEAD]) {
            let (key, value) = entry?;
            let stream = crate::layout::parse_stream_key(&key)
                .ok_or_else(|| crate::StoreError::Damaged("a head key is malformed".into()))?;
            let head = Head::from_bytes(&value).ok_or_else(|| {
                crate::StoreError::Damaged(format!("head of {stream} is malformed"))
            })?;
            heads.insert(stream, head);
        }
        self.flush()?;
        let position = Position {
            checkpoint: self.durable_position().checkpoint,
            records: heads.values().map(|head| head.next_seq).sum(),
        };
        Ok(AnchoredHeads::sign(
            self.keyring().master(),
            self.folder_id(),
            taken_at,
            position,
            &heads,
        ))
    }
}

/// The signed heads of a stopped folder, read from a private copy (nothing is written to the
/// folder): every stream's checkpointed head, at the newest checkpoint. A folder whose log is
/// behind its durable record is refused: `verify` says what it lacks.
pub fn anchor_folder(
    dir: &std::path::Path,
    master: &MasterKey,
    scratch: Option<&std::path::Path>,
    taken_at: &str,
) -> Result<AnchoredHeads, crate::StoreError> {
    use crate::StoreError;
    let copy = crate::PrivateCopy::make(dir, scratch)?;
    let durable = crate::durable::read(copy.path())?;
    let db = crate::log::open_sled_with_cache(copy.path(), 64 * 1024 * 1024)?;
    let folder_id: [u8; 16] = db
        .get(crate::layout::META_FOLDER_ID)?
        .and_then(|id| id.as_ref().try_into().ok())
        .ok_or_else(|| {
            StoreError::Damaged(
                "the folder has no id: open it once with this build (any tool) first".into(),
            )
        })?;
    if db.get(crate::layout::META_MASTER)?.as_deref() != Some(&master.fingerprint().0[..]) {
        return Err(StoreError::Damaged(
            "the folder is not sealed under the master key given".into(),
        ));
    }
    let checkpoints = crate::recovery::Checkpoints::read(&db)?;
    let marks = crate::integrity::LogMarks {
        exists: true,
        folder_id: Some(folder_id),
        checkpoints: &checkpoints,
    };
    let problems = crate::integrity::check(durable.as_ref(), &marks);
    if durable.is_none() || !problems.is_empty() {
        return Err(StoreError::Integrity(crate::IntegrityFailure {
            problems,
            acknowledged: crate::integrity::acknowledged(durable.as_ref()),
        }));
    }
    let mut heads = BTreeMap::new();
    for (stream, head) in crate::verify::read_heads(&db)? {
        let head =
            head.ok_or_else(|| StoreError::Damaged(format!("head of {stream} is malformed")))?;
        heads.insert(stream, head);
    }
    let records = heads.values().map(|head| head.next_seq).sum();
    let position = Position { checkpoint: checkpoints.newest, records };
    Ok(AnchoredHeads::sign(master, folder_id, taken_at, position, &heads))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::SidPrefix;

    fn heads() -> BTreeMap<Sid, Head> {
        (1..=3u8)
            .map(|n| {
                let sid = Sid::from_parts(SidPrefix::CHANNEL, [n; 16]);
                (sid, Head { next_seq: u64::from(n) * 10, last_hash: [n; 32] })
            })
            .collect()
    }

    fn signed(master: &MasterKey) -> AnchoredHeads {
        let position = Position { checkpoint: 9, records: 60 };
        AnchoredHeads::sign(master, [4; 16], "2026-12-06T06:00:00Z", position, &heads())
    }

    #[test]
    fn a_signed_document_checks_and_gives_its_heads_back() {
        let master = MasterKey::generate();
        let anchored = signed(&master);
        anchored.check_signature().unwrap();
        assert_eq!(anchored.parsed_heads().unwrap(), heads());
        assert_eq!(anchored.public_key, heads_public_key(&master));
        let json = serde_json_round_trip(&anchored);
        assert_eq!(json, anchored);
    }

    fn serde_json_round_trip(anchored: &AnchoredHeads) -> AnchoredHeads {
        // The store has no JSON dependency: MessagePack round-trips the same serde shape.
        rmp_serde::from_slice(&rmp_serde::to_vec_named(anchored).unwrap()).unwrap()
    }

    #[test]
    fn any_change_to_a_signed_document_is_caught() {
        let anchored = signed(&MasterKey::generate());
        let mut fewer = anchored.clone();
        let first = fewer.heads.keys().next().unwrap().clone();
        fewer.heads.get_mut(&first).unwrap().records -= 1;
        assert!(fewer.check_signature().is_err(), "a head shortened");
        let mut moved = anchored.clone();
        moved.position.records += 1;
        assert!(moved.check_signature().is_err(), "the position");
        let mut later = anchored.clone();
        later.taken_at = "2026-12-07T06:00:00Z".into();
        assert!(later.check_signature().is_err(), "the time");
        // Re-digested by the forger, but not re-signed.
        let mut forged = fewer.clone();
        forged.digest = hex(&forged.canonical_digest().unwrap());
        assert!(forged.check_signature().unwrap_err().contains("signature"));
    }
}
