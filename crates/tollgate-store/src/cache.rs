//! A short-lived in-process cache of key lookups, so an authenticated
//! request does not hit the database each time.
//!
//! Entries live for the configured TTL (default 10 s) and are dropped at once
//! on this node when a key is revoked or its account suspended or resumed
//! through this [`Store`](crate::Store). Other nodes sharing a Postgres
//! database see such a change when their entry expires: the TTL bounds how
//! stale a node can be.
//!
//! Ids no key has are remembered as long, apart, so that a key id's being
//! in use does not show in how fast a wrong key is refused (a known id was
//! answered from the cache, an unknown one by the database), and a flood
//! of made-up ids neither reaches the database twice each nor pushes real
//! keys out.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::key::KeyHash;
use crate::model::Principal;

/// What is cached about one key.
#[derive(Clone, Debug)]
pub(crate) struct CachedKey {
    pub(crate) hash: KeyHash,
    pub(crate) principal: Principal,
    pub(crate) expires_at: Option<i64>,
    pub(crate) revoked: bool,
    pub(crate) account_active: bool,
}

struct Entry {
    key: CachedKey,
    cached_at: SystemTime,
}

pub(crate) struct KeyCache {
    ttl: Duration,
    capacity: usize,
    map: RwLock<HashMap<String, Entry>>,
    /// Ids the database had no key for, and when it said so.
    unknown: RwLock<HashMap<String, SystemTime>>,
    /// Bumped by every removal: a lookup that read the database before a
    /// removal must not cache what it read (the key it found unrevoked may
    /// have been revoked since).
    generation: AtomicU64,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> KeyCache {
        KeyCache {
            ttl,
            capacity,
            map: RwLock::new(HashMap::new()),
            unknown: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// An entry is fresh for the TTL after it was cached. One cached "in the
    /// future" (the clock stepped back since) is stale: it could otherwise
    /// outlive the TTL by however far the clock stepped.
    fn fresh(&self, cached_at: SystemTime, now: SystemTime) -> bool {
        now.duration_since(cached_at)
            .is_ok_and(|age| age < self.ttl)
    }

    /// Read before looking a key up in the database, and handed to
    /// [`insert`](Self::insert).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `f` on the fresh entry for `id`, if any, under the read lock.
    pub(crate) fn with<R>(
        &self,
        id: &str,
        now: SystemTime,
        f: impl FnOnce(&CachedKey) -> R,
    ) -> Option<R> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let entry = map.get(id)?;
        self.fresh(entry.cached_at, now).then(|| f(&entry.key))
    }

    /// Caches what a lookup read, unless something was removed since the
    /// lookup began (`generation` is what [`generation`](Self::generation)
    /// said then).
    pub(crate) fn insert(&self, id: String, key: CachedKey, now: SystemTime, generation: u64) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        // Removals bump the generation under the write lock, so this check
        // and the insert below see them in order.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        self.make_room(&mut map, &id, |e| e.cached_at, now);
        map.insert(
            id,
            Entry {
                key,
                cached_at: now,
            },
        );
    }

    /// Whether the database said, within the TTL, that no key has `id`.
    pub(crate) fn is_unknown(&self, id: &str, now: SystemTime) -> bool {
        let unknown = self.unknown.read().unwrap_or_else(|e| e.into_inner());
        unknown.get(id).is_some_and(|&at| self.fresh(at, now))
    }

    /// Remembers that the database has no key `id`, unless something was
    /// removed since the lookup began, as [`insert`](Self::insert) does.
    pub(crate) fn insert_unknown(&self, id: String, now: SystemTime, generation: u64) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let mut unknown = self.unknown.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        self.make_room(&mut unknown, &id, |&at| at, now);
        unknown.insert(id, now);
    }

    /// Room in `map` for `id` within the capacity: the stale entries go
    /// first, then, if it is still full, all of them.
    fn make_room<V>(
        &self,
        map: &mut HashMap<String, V>,
        id: &str,
        cached_at: impl Fn(&V) -> SystemTime,
        now: SystemTime,
    ) {
        if map.len() >= self.capacity && !map.contains_key(id) {
            map.retain(|_, e| self.fresh(cached_at(e), now));
            if map.len() >= self.capacity {
                map.clear();
            }
        }
    }

    /// Forgets `id`: a key revoked, or one made under an id once unknown.
    pub(crate) fn remove(&self, id: &str) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let mut unknown = self.unknown.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(id);
        unknown.remove(id);
    }

    pub(crate) fn remove_account(&self, account_id: &str) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.retain(|_, e| e.key.principal.account_id() != account_id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn entry(account: &str) -> CachedKey {
        CachedKey {
            hash: [0; 32],
            principal: Principal::new("k", account, ["a"]),
            expires_at: None,
            revoked: false,
            account_active: true,
        }
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = KeyCache::new(Duration::from_secs(10), 10);
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        cache.insert("k1".into(), entry("a"), t0, cache.generation());
        assert!(
            cache
                .with("k1", t0 + Duration::from_secs(9), |_| ())
                .is_some()
        );
        assert!(
            cache
                .with("k1", t0 + Duration::from_secs(10), |_| ())
                .is_none()
        );
        // The clock stepped back: the entry is not trusted for longer.
        assert!(
            cache
                .with("k1", t0 - Duration::from_secs(1), |_| ())
                .is_none()
        );
    }

    #[test]
    fn a_lookup_that_began_before_a_removal_is_not_cached() {
        let cache = KeyCache::new(Duration::from_secs(10), 10);
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        // A lookup reads the database, a revocation removes the key from the
        // cache, then the lookup comes back with what it read before.
        let began = cache.generation();
        cache.remove("k1");
        cache.insert("k1".into(), entry("a"), t0, began);
        assert!(cache.with("k1", t0, |_| ()).is_none());
        cache.insert("k1".into(), entry("a"), t0, cache.generation());
        assert!(cache.with("k1", t0, |_| ()).is_some());
    }

    #[test]
    fn capacity_is_bounded_and_removal_works() {
        let cache = KeyCache::new(Duration::from_secs(10), 3);
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        for i in 0..10 {
            cache.insert(
                format!("k{i}"),
                entry(if i % 2 == 0 { "even" } else { "odd" }),
                t0,
                cache.generation(),
            );
            assert!(cache.len() <= 3);
        }
        cache.insert("x".into(), entry("odd"), t0, cache.generation());
        cache.insert("y".into(), entry("even"), t0, cache.generation());
        cache.remove_account("odd");
        assert!(cache.with("x", t0, |_| ()).is_none());
        assert!(cache.with("y", t0, |_| ()).is_some());
        cache.remove("y");
        assert!(cache.with("y", t0, |_| ()).is_none());
    }

    /// Unknown ids are remembered for the TTL, within their own bound (a
    /// flood of them pushes no key out), unless a removal came between the
    /// lookup and the answer; a removal forgets them.
    #[test]
    fn unknown_ids_are_remembered_apart_from_keys() {
        let cache = KeyCache::new(Duration::from_secs(10), 3);
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        cache.insert("k".into(), entry("a"), t0, cache.generation());
        for i in 0..10 {
            cache.insert_unknown(format!("u{i}"), t0, cache.generation());
            assert!(cache.unknown.read().unwrap().len() <= 3);
        }
        assert!(cache.with("k", t0, |_| ()).is_some(), "the key stays");
        assert!(cache.is_unknown("u9", t0));
        assert!(!cache.is_unknown("u9", t0 + Duration::from_secs(10)));
        assert!(!cache.is_unknown("k", t0));
        cache.remove("u9");
        assert!(!cache.is_unknown("u9", t0));
        let began = cache.generation();
        cache.remove("other");
        cache.insert_unknown("late".into(), t0, began);
        assert!(!cache.is_unknown("late", t0));
    }

    /// A capacity of zero caches nothing, even with a TTL.
    #[test]
    fn zero_capacity_disables_the_cache() {
        let cache = KeyCache::new(Duration::from_secs(10), 0);
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        cache.insert("k".into(), entry("a"), t0, cache.generation());
        assert!(cache.with("k", t0, |_| ()).is_none());
        assert_eq!(cache.len(), 0);
    }

    /// Refreshing a key already cached in a full cache replaces its entry
    /// and evicts nothing else.
    #[test]
    fn refreshing_a_cached_key_in_a_full_cache_keeps_the_others() {
        let cache = KeyCache::new(Duration::from_secs(10), 3);
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        for id in ["k0", "k1", "k2"] {
            cache.insert(id.into(), entry("a"), t0, cache.generation());
        }
        let t1 = t0 + Duration::from_secs(1);
        cache.insert("k1".into(), entry("b"), t1, cache.generation());
        assert_eq!(cache.len(), 3);
        for id in ["k0", "k2"] {
            assert!(cache.with(id, t1, |_| ()).is_some(), "{id}");
        }
        assert_eq!(
            cache.with("k1", t1, |k| k.principal.account_id().to_owned()),
            Some("b".to_owned())
        );
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = KeyCache::new(Duration::ZERO, 3);
        cache.insert("k".into(), entry("a"), UNIX_EPOCH, cache.generation());
        assert!(cache.with("k", UNIX_EPOCH, |_| ()).is_none());
    }
}
