//! A short-lived in-process cache of key lookups, so an authenticated
//! request does not hit the database each time.
//!
//! Entries live for the configured TTL (default 10 s) and are dropped at once
//! on this node when a key is revoked or its account suspended or resumed
//! through this [`Store`](crate::Store). Other nodes sharing a Postgres
//! database see such a change when their entry expires: the TTL bounds how
//! stale a node can be.

use std::collections::HashMap;
use std::sync::RwLock;
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
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> KeyCache {
        KeyCache {
            ttl,
            capacity,
            map: RwLock::new(HashMap::new()),
        }
    }

    fn fresh(&self, cached_at: SystemTime, now: SystemTime) -> bool {
        now.duration_since(cached_at)
            .map_or(true, |age| age < self.ttl)
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

    pub(crate) fn insert(&self, id: String, key: CachedKey, now: SystemTime) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.capacity && !map.contains_key(&id) {
            map.retain(|_, e| {
                now.duration_since(e.cached_at)
                    .map_or(true, |age| age < self.ttl)
            });
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(
            id,
            Entry {
                key,
                cached_at: now,
            },
        );
    }

    pub(crate) fn remove(&self, id: &str) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    pub(crate) fn remove_account(&self, account_id: &str) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, e| e.key.principal.account_id() != account_id);
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
        cache.insert("k1".into(), entry("a"), t0);
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
            );
            assert!(cache.len() <= 3);
        }
        cache.insert("x".into(), entry("odd"), t0);
        cache.insert("y".into(), entry("even"), t0);
        cache.remove_account("odd");
        assert!(cache.with("x", t0, |_| ()).is_none());
        assert!(cache.with("y", t0, |_| ()).is_some());
        cache.remove("y");
        assert!(cache.with("y", t0, |_| ()).is_none());
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = KeyCache::new(Duration::ZERO, 3);
        cache.insert("k".into(), entry("a"), UNIX_EPOCH);
        assert!(cache.with("k", UNIX_EPOCH, |_| ()).is_none());
    }
}
