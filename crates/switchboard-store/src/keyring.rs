//! Per-stream data keys: created on a stream's first append, stored wrapped by the master key,
//! unwrapped once and cached as ready ciphers. Shredding replaces a stream's keys by a tombstone.

use std::sync::Arc;

use switchboard_crypto::{DataKey, MasterKey, Sealer, WrappedKey};
use switchboard_domain::Sid;

use crate::layout::{key_context, key_key, stream_prefix, KEY};
use crate::sharded::ShardedMap;
use crate::StoreError;

/// The value stored in place of a stream's keys once they are destroyed.
pub const SHRED_TOMBSTONE: &[u8] = b"shredded";
/// The key id a stream's first key gets. 0 means "clear text" in records.
pub const FIRST_KEY_ID: u32 = 1;

#[derive(Debug)]
pub struct StreamKey {
    pub key_id: u32,
    pub sealer: Sealer,
}

/// What the key entries of a stream say.
#[derive(Debug, Clone)]
pub enum KeyStatus {
    /// No key yet: the stream has never been written.
    Missing,
    Active(Arc<StreamKey>),
    Shredded,
}

#[derive(Debug)]
pub struct KeyRing {
    master: MasterKey,
    cache: ShardedMap<Arc<StreamKey>>,
}

impl KeyRing {
    pub fn new(master: MasterKey) -> KeyRing {
        KeyRing { master, cache: ShardedMap::new() }
    }

    /// The bytes the cache of unwrapped stream keys holds.
    pub fn cache_footprint(&self) -> usize {
        // Each value is an `Arc`: its counts and the key it shares.
        self.cache.footprint(16 + std::mem::size_of::<StreamKey>())
    }

    /// The master key the ring unwraps with (for signing anchored heads).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The current key of `stream`, from the cache or the tree.
    pub fn current(&self, tree: &sled::Tree, stream: Sid) -> Result<KeyStatus, StoreError> {
        if let Some(key) = self.cache.get(stream) {
            return Ok(KeyStatus::Active(key));
        }
        let status = load_current(tree, &self.master, stream)?;
        if let KeyStatus::Active(key) = &status {
            self.cache.insert(stream, Arc::clone(key));
        }
        Ok(status)
    }

    /// The key `key_id` of `stream`, for reading records sealed under an older key.
    pub fn by_id(
        &self,
        tree: &sled::Tree,
        stream: Sid,
        key_id: u32,
    ) -> Result<KeyStatus, StoreError> {
        if let KeyStatus::Active(key) = self.current(tree, stream)? {
            if key.key_id == key_id {
                return Ok(KeyStatus::Active(key));
            }
        }
        match tree.get(key_key(stream, key_id))? {
            None => Ok(KeyStatus::Missing),
            Some(bytes) => unwrap_entry(&self.master, stream, key_id, &bytes),
        }
    }

    /// Makes a stream's first key. Returns it and the wrapped bytes to store under `K`.
    pub fn create(&self, stream: Sid) -> (Arc<StreamKey>, Vec<u8>) {
        let data_key = DataKey::generate();
        let wrapped = WrappedKey::wrap(&self.master, &data_key, &key_context(stream, FIRST_KEY_ID));
        let key = Arc::new(StreamKey { key_id: FIRST_KEY_ID, sealer: data_key.sealer() });
        (key, wrapped.to_bytes())
    }

    /// Caches a key once the batch that stores it has been applied.
    pub fn remember(&self, stream: Sid, key: Arc<StreamKey>) {
        self.cache.insert(stream, key);
    }

    pub fn forget(&self, stream: Sid) {
        self.cache.remove(stream);
    }
}

fn load_current(
    tree: &sled::Tree,
    master: &MasterKey,
    stream: Sid,
) -> Result<KeyStatus, StoreError> {
    let Some(entry) = tree.scan_prefix(stream_prefix(KEY, stream)).next_back() else {
        return Ok(KeyStatus::Missing);
    };
    let (key, value) = entry?;
    let key_id =
        key.get(key.len() - 4..)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| StoreError::Damaged(format!("key entry of {stream} is malformed")))?;
    unwrap_entry(master, stream, key_id, &value)
}

fn unwrap_entry(
    master: &MasterKey,
    stream: Sid,
    key_id: u32,
    bytes: &[u8],
) -> Result<KeyStatus, StoreError> {
    if bytes == SHRED_TOMBSTONE {
        return Ok(KeyStatus::Shredded);
    }
    let wrapped = WrappedKey::from_bytes(bytes)?;
    let data_key = wrapped.unwrap(master, &key_context(stream, key_id))?;
    Ok(KeyStatus::Active(Arc::new(StreamKey { key_id, sealer: data_key.sealer() })))
}
