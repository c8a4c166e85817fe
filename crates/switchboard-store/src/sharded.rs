//! A map from stream to a cached value, split over many locks so that hundreds of writers on
//! different streams do not queue on one (measured: with one lock, 256 writers spent much of their
//! time asleep on it).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use switchboard_domain::Sid;

const SHARDS: usize = 64;

#[derive(Debug)]
pub(crate) struct ShardedMap<V> {
    shards: Vec<Mutex<HashMap<Sid, V>>>,
}

impl<V: Clone> ShardedMap<V> {
    pub fn new() -> ShardedMap<V> {
        ShardedMap { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    fn shard(&self, key: Sid) -> MutexGuard<'_, HashMap<Sid, V>> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let index = (hasher.finish() % SHARDS as u64) as usize;
        // A panic while holding a shard cannot leave a half-inserted entry.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: Sid) -> Option<V> {
        self.shard(key).get(&key).cloned()
    }

    pub fn insert(&self, key: Sid, value: V) {
        self.shard(key).insert(key, value);
    }

    pub fn remove(&self, key: Sid) {
        let mut shard = self.shard(key);
        shard.remove(&key);
        shrink_if_sparse(&mut shard);
    }

    /// The bytes the map holds: every slot of each shard's table (a table keeps its capacity
    /// after removals), and `owned_per_value` more for each value held (what it points to).
    pub fn footprint(&self, owned_per_value: usize) -> usize {
        let slot = std::mem::size_of::<(Sid, V)>() + 1;
        let shards = self.shards.iter().map(|shard| {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.capacity() * slot + shard.len() * owned_per_value
        });
        shards.sum::<usize>() + std::mem::size_of::<Self>()
    }

    /// Removes the value of `key` if `remove` says so, deciding under the shard's lock. Returns
    /// whether the map holds no value of `key` now.
    pub fn remove_if(&self, key: Sid, remove: impl FnOnce(&V) -> bool) -> bool {
        let mut shard = self.shard(key);
        match shard.get(&key).map(remove) {
            None => true,
            Some(false) => false,
            Some(true) => {
                shard.remove(&key);
                shrink_if_sparse(&mut shard);
                true
            }
        }
    }

    /// The cached value, or `load`'s, cached; `load` runs under the shard's lock, so two callers
    /// never load the same stream twice.
    pub fn get_or_load<E>(&self, key: Sid, load: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let mut shard = self.shard(key);
        if let Some(value) = shard.get(&key) {
            return Ok(value.clone());
        }
        let value = load()?;
        shard.insert(key, value.clone());
        Ok(value)
    }
}
/// Gives back a shard's table once it is mostly empty (a table keeps its capacity after
/// removals): when the streams it cached hibernate, the slots go too. Halving at a quarter full
/// keeps a shard that fills and empties from reallocating on every change.
fn shrink_if_sparse<V>(shard: &mut HashMap<Sid, V>) {
    if shard.capacity() > 64 && shard.len() * 4 < shard.capacity() {
        shard.shrink_to(shard.capacity() / 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::SidPrefix;

    fn sid(n: u32) -> Sid {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        Sid::from_parts(SidPrefix::CHANNEL, id)
    }

    #[test]
    fn a_map_emptied_gives_its_tables_back() {
        let map = ShardedMap::new();
        let empty = map.footprint(0);
        for n in 0..20_000 {
            map.insert(sid(n), n);
        }
        let full = map.footprint(0);
        assert!(full > 20_000 * std::mem::size_of::<(Sid, u32)>(), "{full}");
        for n in 0..20_000 {
            map.remove(sid(n));
        }
        let emptied = map.footprint(0);
        assert!(emptied < full / 4, "{emptied} of {full} kept after emptying");
        assert!(emptied >= empty);
        assert_eq!(map.get(sid(1)), None);
    }

    #[test]
    fn remove_if_says_whether_the_key_is_gone() {
        let map = ShardedMap::new();
        map.insert(sid(1), 1);
        assert!(!map.remove_if(sid(1), |_| false), "kept when told to keep it");
        assert_eq!(map.get(sid(1)), Some(1));
        assert!(map.remove_if(sid(1), |_| true));
        assert_eq!(map.get(sid(1)), None);
        assert!(map.remove_if(sid(1), |_| unreachable!("nothing to decide on")), "absent");
    }
}
