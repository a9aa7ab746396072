//! A small bounded map for hot paths, shared by the caches' hot sets and the verified-token cache.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{PoisonError, RwLock};

/// Shards (a power of two).
const SHARDS: usize = 16;

type Shard<K, V> = RwLock<HashMap<K, V, foldhash::fast::RandomState>>;

/// A map split into shards, each behind its own read-write lock: a lookup takes one shard's read
/// lock and nothing else (no bookkeeping, no eviction policy). Bounded: a shard that is full is
/// emptied before the next insert of a new key, so it holds at most about `capacity` entries;
/// what it forgets must be recoverable elsewhere (it is a cache in front of something).
pub(crate) struct ShardedMap<K, V> {
    shards: Box<[Shard<K, V>]>,
    hasher: foldhash::fast::RandomState,
    shard_capacity: usize,
}

impl<K: Hash + Eq, V: Clone> ShardedMap<K, V> {
    /// A map of at most `capacity` entries (at least one per shard).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &Shard<K, V> {
        // The low bits pick the shard; each shard's map hashes with its own seed. A key and its
        // borrowed form hash alike (the `Borrow` contract), so both find the same shard.
        #[allow(clippy::cast_possible_truncation)] // only the low bits are used
        let h = self.hasher.hash_one(key) as usize;
        &self.shards[h & (SHARDS - 1)]
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let mut shard = self
            .shard(&key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.shard_capacity && !shard.contains_key(&key) {
            shard.clear();
        }
        shard.insert(key, value);
    }

    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn clear(&self) {
        for shard in &*self.shards {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn capacity(&self) -> usize {
        self.shard_capacity * SHARDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_keeps_the_latest_insert_and_finds_borrowed_keys() {
        let map: ShardedMap<u32, u32> = ShardedMap::new(32);
        for k in 0..1000u32 {
            map.insert(k, k);
            // The entry just inserted is always there.
            assert_eq!(map.get(&k), Some(k));
        }
        assert!(map.len() <= 32, "{} entries held", map.len());
        assert!(map.len() > 0);
        map.clear();
        assert!((0..1000).all(|k| map.get(&k).is_none()));

        let tokens: ShardedMap<Box<str>, u8> = ShardedMap::new(64);
        tokens.insert("abc".into(), 1);
        assert_eq!(tokens.get("abc"), Some(1));
        tokens.remove("abc");
        assert_eq!(tokens.get("abc"), None);
    }
}
