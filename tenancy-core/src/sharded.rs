//! A small bounded map for hot paths, shared by the caches' hot sets and the verified-token cache.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::{PoisonError, RwLock};

use hashbrown::HashTable;

/// Shards (a power of two).
const SHARDS: usize = 16;

/// The bits of the hash that pick the shard. Not the low bits (the shard's table indexes its
/// buckets with those) nor the top seven (its control bytes): the middle bits are independent of
/// both, so every shard's table still sees well-spread hashes.
const SHARD_SHIFT: u32 = 32;

type Shard<K, V> = RwLock<HashTable<(K, V)>>;

/// A map split into shards, each behind its own read-write lock: a lookup takes one shard's read
/// lock and nothing else (no bookkeeping, no eviction policy). Bounded: a shard that is full is
/// emptied before the next insert of a new key, so it holds at most about `capacity` entries;
/// what it forgets must be recoverable elsewhere (it is a cache in front of something).
///
/// A key is hashed once per operation: the one hash picks the shard and finds the entry in it.
pub(crate) struct ShardedMap<K, V> {
    shards: [Shard<K, V>; SHARDS],
    hasher: foldhash::fast::RandomState,
    shard_capacity: usize,
}

impl<K: Hash + Eq, V: Clone> ShardedMap<K, V> {
    /// A map of at most `capacity` entries (at least one per shard).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::default()),
            hasher: foldhash::fast::RandomState::default(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// The hash of `key` and its shard. A key and its borrowed form hash alike (the `Borrow`
    /// contract), so both find the same shard and the same entry.
    #[inline]
    fn locate<Q: Hash + ?Sized>(&self, key: &Q) -> (u64, &Shard<K, V>) {
        let hash = self.hasher.hash_one(key);
        #[allow(clippy::cast_possible_truncation)] // masked to the shard bits
        let index = (hash >> SHARD_SHIFT) as usize & (SHARDS - 1);
        (hash, &self.shards[index])
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (hash, shard) = self.locate(key);
        shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .find(hash, |(k, _)| k.borrow() == key)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let (hash, shard) = self.locate(&key);
        let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, v)) = shard.find_mut(hash, |(k, _)| *k == key) {
            *v = value;
            return;
        }
        if shard.len() >= self.shard_capacity {
            shard.clear();
        }
        shard.insert_unique(hash, (key, value), |(k, _)| self.hasher.hash_one(k));
    }

    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
        if let Ok(entry) = shard.find_entry(hash, |(k, _)| k.borrow() == key) {
            entry.remove();
        }
    }

    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
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
