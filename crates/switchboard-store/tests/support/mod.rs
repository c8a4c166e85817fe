//! Shared helpers for the store's integration tests: an `EventLog` in a temporary folder, channels
//! built through `ChannelLog::create` + `execute`, and raw access to the stored entries (keys of
//! the one-letter layout of `docs/event-format.md`) for tests that tamper with the folder.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelKind, IndexKind, Media, MessageSource, NewChannel, NewMessage, Recorded,
    Sid, SidPrefix, Timestamp,
};
use switchboard_store::{
    ChannelLog, Durability, EventLog, RawLog, ReplayRecord, StoreConfig, StoreError,
};

/// A data folder in a temporary directory and the master key it is sealed under.
pub struct TempLog {
    pub dir: tempfile::TempDir,
    pub key: MasterKey,
}

impl TempLog {
    pub fn new() -> TempLog {
        TempLog { dir: tempfile::tempdir().unwrap(), key: MasterKey::generate() }
    }

    /// The data folder (a subfolder, so the tests also cover its creation).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn config(&self, snapshot_every: u64) -> StoreConfig {
        let mut config = StoreConfig::new(self.path());
        config.durability = Durability::Flush;
        config.snapshot_every = snapshot_every;
        config
    }

    /// Opens (or creates) the log with `sled`-flush durability and the given snapshot interval.
    pub fn open(&self, snapshot_every: u64) -> EventLog {
        EventLog::open(self.config(snapshot_every), self.key.clone()).unwrap()
    }

    /// Opens the folder without keys, as an auditor (or an attacker) would. The log must be closed.
    pub fn raw(&self) -> RawLog {
        RawLog::open(&self.path()).unwrap()
    }

    /// Runs `change` on the raw tree of the closed folder and flushes it.
    pub fn tamper(&self, change: impl FnOnce(&sled::Tree)) {
        let raw = self.raw();
        change(raw.tree());
        raw.tree().flush().unwrap();
    }

    /// Every stored entry whose key starts with `prefix`, read from the closed folder.
    pub fn entries(&self, prefix: u8) -> BTreeMap<Vec<u8>, Vec<u8>> {
        raw_entries(&self.path(), prefix)
    }
}

/// Every stored entry whose key starts with `prefix`, read from the closed folder at `path`.
pub fn raw_entries(path: &Path, prefix: u8) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let raw = RawLog::open(path).unwrap();
    raw.tree()
        .scan_prefix([prefix])
        .map(|e| e.unwrap())
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// A SID whose id is `n`, big-endian, in its last four bytes.
pub fn sid(prefix: SidPrefix, n: u32) -> Sid {
    let mut id = [0u8; 16];
    id[12..].copy_from_slice(&n.to_be_bytes());
    Sid::from_parts(prefix, id)
}

pub fn channel_sid(n: u32) -> Sid {
    sid(SidPrefix::CHANNEL, n)
}

/// The Flex Flow every test channel comes in through.
pub fn flow() -> Sid {
    sid(SidPrefix::FLEX_FLOW, 1)
}

/// The service every test channel belongs to.
pub fn service() -> Sid {
    sid(SidPrefix::SERVICE, 1)
}

/// Channel `n` of a customer at `address`, with the unique name `unique-<address>`.
pub fn new_channel(n: u32, address: &str) -> NewChannel {
    NewChannel {
        channel_sid: channel_sid(n),
        service_sid: service(),
        kind: ChannelKind::Private,
        friendly_name: Some(format!("chat {address}")),
        unique_name: Some(format!("unique-{address}")),
        attributes: format!(r#"{{"from":"{address}"}}"#),
        created_by: "system".into(),
        flex_flow_sid: Some(flow()),
        customer_address: Some(address.into()),
        long_lived: false,
        janitor_enabled: true,
        carried_provider_messages: Vec::new(),
    }
}

/// A customer's message `n`, with the provider id `SMprovider<n>` and a reference to medium
/// [`media_of`]`(n)`, whose index entry the message owns.
pub fn message(n: u32, author: &str, body: &str) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        author: author.into(),
        body: body.into(),
        attributes: "{}".into(),
        media: Some(Media {
            sid: media_of(n),
            content_type: "image/png".into(),
            size_bytes: 0,
            filename: None,
            provider_ref: None,
            fetch: false,
        }),
        source: MessageSource::Customer,
        provider_message_id: Some(format!("SMprovider{n}")),
    })
}

/// The medium message `n` refers to.
pub fn media_of(n: u32) -> Sid {
    sid(SidPrefix::MEDIA, n)
}

/// The channel the index says holds message `n` (by the entry of its medium).
pub fn indexed_channel_of(log: &EventLog, n: u32) -> Option<Sid> {
    let found = log.lookup(IndexKind::Media, None, &media_of(n).to_string()).unwrap();
    found.map(|(channel, _)| channel)
}

/// Creates channel `n` with `messages` messages (ids `n * 1000 + i`) and waits until everything
/// is durable.
pub fn channel_with(log: &EventLog, n: u32, address: &str, messages: u32) -> ChannelLog {
    let (mut channel, _) =
        ChannelLog::create(log, new_channel(n, address), Timestamp(1)).unwrap().unwrap();
    for i in 0..messages {
        let body = format!("message {i} of {address}");
        channel
            .execute(log, message(n * 1000 + i, address, &body), Timestamp(2 + i64::from(i)))
            .unwrap()
            .unwrap();
    }
    log.flush().unwrap();
    channel
}

/// Every record of `channel`, decrypted, in order.
pub fn records(log: &EventLog, channel: Sid) -> Vec<ReplayRecord<Recorded>> {
    log.read::<Recorded>(channel, 0).collect::<Result<_, StoreError>>().unwrap()
}

/// Every event of `channel`; panics on a shredded record.
pub fn events(log: &EventLog, channel: Sid) -> Vec<Recorded> {
    records(log, channel)
        .into_iter()
        .map(|r| match r {
            ReplayRecord::Event { event, .. } => event,
            ReplayRecord::Shredded { seq, .. } => panic!("record {seq} is shredded"),
        })
        .collect()
}

pub fn event_key(stream: Sid, seq: u64) -> Vec<u8> {
    let mut key = stream_key(b'E', stream);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `prefix ‖ stream`: the key of a head (`H`) or snapshot (`S`), or the prefix of `E`/`K` keys.
pub fn stream_key(prefix: u8, stream: Sid) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(&stream.to_bytes());
    key
}

pub fn key_key(stream: Sid, key_id: u32) -> Vec<u8> {
    let mut key = stream_key(b'K', stream);
    key.extend_from_slice(&key_id.to_be_bytes());
    key
}

/// Byte offsets inside a stored record: `version(1) ‖ key_id(4) ‖ prev_hash(32) ‖ body`.
pub const PREV_HASH: std::ops::Range<usize> = 5..37;

/// How many head checkpoints of the closed folder at `path` are not folded into `H` yet: `P`
/// slots (`version(1) ‖ number(u64) ‖ heads`) numbered past the `Mcheckpoint` mark.
pub fn unfolded_checkpoints(path: &Path) -> usize {
    let raw = RawLog::open(path).unwrap();
    let folded = raw
        .tree()
        .get(b"Mcheckpoint")
        .unwrap()
        .map_or(0, |v| u64::from_be_bytes(v.as_ref().try_into().unwrap()));
    raw.tree()
        .scan_prefix(b"P")
        .values()
        .map(|v| v.unwrap())
        .filter(|v| u64::from_be_bytes(v[1..9].try_into().unwrap()) > folded)
        .count()
}

/// Every file of a folder and its bytes, by relative path: to check that a tool changed nothing.
pub fn folder_bytes(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                into.insert(
                    path.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}
