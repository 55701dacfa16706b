//! The in-memory keyed store: one atomic "theoretical arrival time" per key
//! in a lock-free hash map, with bounded memory and no background thread.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use papaya::{Compute, Operation};

use crate::clock::{Clock, MonotonicClock};
use crate::policy::{Decision, Gcra, Policy};

/// The default hasher: foldhash's randomly seeded hasher, in its quality
/// variant. Keys of the rate limiter come from clients, so the seed matters
/// (no HashDoS), and the speed matters (it is on every request).
///
/// Not foldhash's fast variant: with about one seed in 2 000, it spreads
/// sequential integer keys so unevenly over papaya's table that a resize
/// finds no room at the size it chose and retries at that same size for
/// ever, the inserting thread spinning (a blocking resize) or allocating
/// without end (an incremental one).
pub type DefaultHasher = foldhash::quality::RandomState;

/// Marks an entry a sweep has taken out: it counts as absent, and a caller
/// that finds it replaces the whole entry (never the value in place), so no
/// admission can be recorded on an entry that is being removed.
const DEAD: u64 = u64::MAX;

/// How long a key stays tracked after going idle, unless the store is full:
/// a hot key on a fast policy goes idle between most of its calls, and
/// forgetting it each time would turn every check into an insert.
pub const DEFAULT_IDLE_GRACE: Duration = Duration::from_secs(10);

/// At least this many inserts between two idle sweeps.
const MIN_SWEEP_INTERVAL: usize = 1024;

/// How many live entries a pressure sweep samples to pick what to evict.
const PRESSURE_SAMPLE: usize = 256;

/// An in-memory keyed GCRA store with a hard cap on tracked keys.
///
/// A store keeps one arrival time per key, whatever the policy passed in:
/// use one store per policy ([`Limiter`](crate::Limiter) and
/// [`KeyedLimiter`] do).
///
/// **Hot path.** A known key is one lock-free lookup in a
/// [`papaya`] hash map (readers take no lock and write nothing shared but the
/// key's own state) and one compare-and-swap on the key's theoretical arrival
/// time, an [`AtomicU64`]. Keys are hashed with [`foldhash`] (seeded per
/// store). papaya was chosen over `dashmap` (whose reads take a shard
/// `RwLock`: an atomic write on a cache line every thread shares) and `scc`
/// (whose `HashMap` reads lock a bucket): see `BENCHMARKS.md` for the numbers.
///
/// **Bounded memory, no thread.** A key whose arrival time is in the past is
/// idle: forgetting it changes no decision. Inserts pay for sweeps: after
/// every `max(len / 2, 1024)` inserts, the inserting thread removes the keys
/// idle for a grace period or longer ([`DEFAULT_IDLE_GRACE`], so that hot
/// keys of fast policies are not forgotten and inserted again between two
/// calls); amortised O(1) per insert. The number of tracked keys never exceeds
/// `max_keys`: a new key that finds the store full first triggers a sweep
/// that also evicts the live keys closest to idle (the quarter with the least
/// time owed, estimated from a sample, after every idle key whatever its
/// grace); an evicted key forgets at most that
/// much debt. While another thread is sweeping, a new key that finds the
/// store full is decided as a fresh caller and not tracked. A flood of
/// distinct keys (an IPv6 sweep) therefore costs at most `max_keys` entries
/// and never blocks the callers already tracked.
///
/// ```
/// use std::time::Duration;
/// use tollgate_limit::{MemoryStore, Policy};
/// let policy = Policy::new("p", 2, Duration::from_secs(1))?;
/// let store = MemoryStore::<u64>::new(1000);
/// let now = 1_000_000_000;
/// assert!(store.check(&policy, &7, now, 1).is_allowed());
/// assert!(store.check(&policy, &7, now, 1).is_allowed());
/// assert!(!store.check(&policy, &7, now, 1).is_allowed());
/// assert_eq!(store.len(), 1);
/// // Idle after a second; forgotten once the grace (10 s) has passed too.
/// assert_eq!(store.sweep(now + 5_000_000_000), 0);
/// assert_eq!(store.sweep(now + 12_000_000_000), 1);
/// assert_eq!(store.len(), 0);
/// # Ok::<(), tollgate_limit::PolicyError>(())
/// ```
pub struct MemoryStore<K, S = DefaultHasher> {
    map: papaya::HashMap<K, AtomicU64, S>,
    max_keys: usize,
    grace_ns: u64,
    /// Live entries plus reservations in flight; never above `max_keys`.
    tracked: AtomicUsize,
    inserts_since_sweep: AtomicUsize,
    sweeping: AtomicBool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Check,
    Peek,
}

impl<K> MemoryStore<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// A store that tracks at most `max_keys` keys (at least 1).
    pub fn new(max_keys: usize) -> MemoryStore<K> {
        MemoryStore::with_hasher(max_keys, DefaultHasher::default())
    }
}

impl<K, S> MemoryStore<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// A store with another hasher.
    pub fn with_hasher(max_keys: usize, hasher: S) -> MemoryStore<K, S> {
        MemoryStore {
            // Blocking resizes: an incremental resize left unfinished (it only
            // advances on inserts) would make every lookup search two tables.
            map: papaya::HashMap::builder()
                .hasher(hasher)
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            max_keys: max_keys.max(1),
            grace_ns: DEFAULT_IDLE_GRACE.as_nanos() as u64,
            tracked: AtomicUsize::new(0),
            inserts_since_sweep: AtomicUsize::new(0),
            sweeping: AtomicBool::new(false),
        }
    }

    /// How long idle keys stay tracked while the store is not full (default
    /// [`DEFAULT_IDLE_GRACE`]).
    pub fn with_idle_grace(mut self, grace: Duration) -> Self {
        self.grace_ns = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
        self
    }

    /// Checks and, if admitted, records a call of `cost` for `key` at `now`
    /// (nanoseconds on the limiter's [`Clock`]).
    #[inline]
    pub fn check(&self, policy: &Policy, key: &K, now: u64, cost: u64) -> Decision {
        self.apply(policy.gcra_ns(), key, || now, cost, Mode::Check)
    }

    /// What [`check`](Self::check) would decide, without recording anything.
    pub fn peek(&self, policy: &Policy, key: &K, now: u64, cost: u64) -> Decision {
        self.apply(policy.gcra_ns(), key, || now, cost, Mode::Peek)
    }

    /// Gives back a call of `cost` admitted earlier (when a later policy of the
    /// same request refused it).
    pub fn refund(&self, policy: &Policy, key: &K, cost: u64) {
        let gcra = policy.gcra_ns();
        let guard = self.map.guard();
        if let Some(tat) = self.map.get(key, &guard) {
            let _ = tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t != DEAD).then(|| gcra.refund(t, cost))
            });
        }
    }

    /// The number of tracked keys.
    pub fn len(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cap on tracked keys.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Forgets every key idle at `now` for the grace or longer; returns how
    /// many. Inserts call
    /// this on their own; call it from a timer too if memory should shrink
    /// while no new keys arrive.
    pub fn sweep(&self, now: u64) -> usize {
        self.sweep_with(now, false).unwrap_or(0)
    }

    /// The hot path: one lookup and the key's compare-and-swap. Everything
    /// else (absent or swept keys) is out of line in [`Self::insert`], so that
    /// this stays small.
    ///
    /// The time is read after the lookup has been issued, not before: the
    /// clock read (tens of cycles) then overlaps the lookup's cache misses
    /// instead of adding to them. It is still read once per call.
    #[inline]
    fn apply(
        &self,
        gcra: Gcra,
        key: &K,
        now: impl FnOnce() -> u64,
        cost: u64,
        mode: Mode,
    ) -> Decision {
        let guard = self.map.guard();
        let entry = self.map.get(key, &guard);
        let now = now();
        if let Some(tat) = entry
            && let Some(decision) = Self::update(gcra, tat, now, cost, mode)
        {
            return decision;
        }
        self.insert(gcra, key, now, cost, mode, &guard)
    }

    /// A key that is absent, or was taken out by a sweep: a fresh caller,
    /// tracked from now on if admitted and there is room.
    #[cold]
    #[inline(never)]
    fn insert(
        &self,
        gcra: Gcra,
        key: &K,
        now: u64,
        cost: u64,
        mode: Mode,
        guard: &papaya::LocalGuard<'_>,
    ) -> Decision {
        let (decision, new_tat) = gcra.decide(0, now, cost);
        let Some(new_tat) = new_tat.filter(|_| mode == Mode::Check) else {
            return decision;
        };
        if !self.reserve(now) {
            return decision;
        }
        let inserted = self.map.compute(
            key.clone(),
            |current| match current {
                Some((_, tat)) if tat.load(Ordering::Acquire) != DEAD => Operation::Abort(tat),
                _ => Operation::Insert(AtomicU64::new(new_tat)),
            },
            guard,
        );
        match inserted {
            Compute::Inserted(..) | Compute::Updated { .. } => decision,
            Compute::Aborted(tat) => {
                // Another caller inserted the key first: decide against theirs.
                self.tracked.fetch_sub(1, Ordering::Relaxed);
                Self::update(gcra, tat, now, cost, mode).unwrap_or(decision)
            }
            Compute::Removed(..) => decision,
        }
    }

    /// The compare-and-swap loop on a live entry; `None` if the entry is dead.
    #[inline]
    fn update(gcra: Gcra, tat: &AtomicU64, now: u64, cost: u64, mode: Mode) -> Option<Decision> {
        let mut current = tat.load(Ordering::Acquire);
        loop {
            if current == DEAD {
                return None;
            }
            let (decision, new_tat) = gcra.decide(current, now, cost);
            let Some(new_tat) = new_tat.filter(|_| mode == Mode::Check) else {
                return Some(decision);
            };
            match tat.compare_exchange_weak(current, new_tat, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(decision),
                Err(seen) => current = seen,
            }
        }
    }

    /// Reserves room for one more key, sweeping when it is due or the store is
    /// full. `false`: the store is full and the key goes untracked.
    fn reserve(&self, now: u64) -> bool {
        let since = self.inserts_since_sweep.fetch_add(1, Ordering::Relaxed) + 1;
        if since >= (self.len() / 2).max(MIN_SWEEP_INTERVAL) {
            self.sweep_with(now, false);
        }
        for attempt in 0..2 {
            let reserved = self
                .tracked
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < self.max_keys).then_some(n + 1)
                });
            if reserved.is_ok() {
                return true;
            }
            if attempt == 0 && self.sweep_with(now, true).is_none() {
                return false;
            }
        }
        false
    }

    /// One pass over the map. Removes idle keys and, under `pressure`, the
    /// quarter of live keys owing the least time. `None` if another thread is
    /// already sweeping.
    fn sweep_with(&self, now: u64, pressure: bool) -> Option<usize> {
        if self.sweeping.swap(true, Ordering::Acquire) {
            return None;
        }
        self.inserts_since_sweep.store(0, Ordering::Relaxed);
        let guard = self.map.guard();
        let mut horizon = now.saturating_sub(self.grace_ns);
        if pressure {
            let mut owed: Vec<u64> = self
                .map
                .iter(&guard)
                .map(|(_, tat)| tat.load(Ordering::Relaxed))
                .filter(|&t| t != DEAD)
                .take(PRESSURE_SAMPLE)
                .map(|t| t.saturating_sub(now))
                .collect();
            owed.sort_unstable();
            horizon = now.saturating_add(owed.get(owed.len() / 4).copied().unwrap_or(0));
        }
        let mut removed = 0;
        self.map.retain(
            |_, tat| {
                let t = tat.load(Ordering::Acquire);
                if t == DEAD {
                    return false;
                }
                if t > horizon {
                    return true;
                }
                // Only a value nobody changed since it was read is taken out.
                let taken = tat
                    .compare_exchange(t, DEAD, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                removed += usize::from(taken);
                !taken
            },
            &guard,
        );
        self.tracked.fetch_sub(removed, Ordering::Relaxed);
        self.sweeping.store(false, Ordering::Release);
        Some(removed)
    }
}

impl<K, S> std::fmt::Debug for MemoryStore<K, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("tracked", &self.tracked.load(Ordering::Relaxed))
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

/// One policy over many keys, in memory: the in-memory counterpart of
/// governor's keyed `RateLimiter`.
///
/// ```
/// use std::time::Duration;
/// use tollgate_limit::{FakeClock, KeyedLimiter, Policy};
/// let clock = FakeClock::new();
/// let limiter = KeyedLimiter::new(Policy::new("per-key", 100, Duration::from_secs(60))?, clock.clone());
/// for _ in 0..100 {
///     assert!(limiter.check(&"alice").is_allowed());
/// }
/// assert!(!limiter.check(&"alice").is_allowed());
/// assert!(limiter.check(&"bob").is_allowed());
/// clock.advance(Duration::from_millis(600));
/// assert!(limiter.check(&"alice").is_allowed());
/// # Ok::<(), tollgate_limit::PolicyError>(())
/// ```
pub struct KeyedLimiter<K, C = MonotonicClock, S = DefaultHasher> {
    policy: Policy,
    gcra: Gcra,
    store: MemoryStore<K, S>,
    clock: C,
}

/// Default cap on tracked keys of a [`KeyedLimiter`]: a million.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

impl<K, C> KeyedLimiter<K, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Clock,
{
    /// A limiter tracking at most [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(policy: Policy, clock: C) -> Self {
        KeyedLimiter::with_store(policy, clock, MemoryStore::new(DEFAULT_MAX_KEYS))
    }
}

impl<K, C, S> KeyedLimiter<K, C, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Clock,
    S: BuildHasher,
{
    /// A limiter over a given store.
    pub fn with_store(policy: Policy, clock: C, store: MemoryStore<K, S>) -> Self {
        KeyedLimiter {
            gcra: policy.gcra_ns(),
            policy,
            store,
            clock,
        }
    }

    /// Checks and records one call for `key`.
    #[inline]
    pub fn check(&self, key: &K) -> Decision {
        self.store
            .apply(self.gcra, key, || self.clock.now(), 1, Mode::Check)
    }

    /// Checks and records a call of weight `cost` for `key`.
    #[inline]
    pub fn check_n(&self, key: &K, cost: u64) -> Decision {
        self.store
            .apply(self.gcra, key, || self.clock.now(), cost, Mode::Check)
    }

    /// What [`check_n`](Self::check_n) would decide, without recording it.
    pub fn peek(&self, key: &K, cost: u64) -> Decision {
        self.store
            .apply(self.gcra, key, || self.clock.now(), cost, Mode::Peek)
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The store.
    pub fn store(&self) -> &MemoryStore<K, S> {
        &self.store
    }
}

/// One policy, one key: a single atomic, for a global limit.
///
/// ```
/// use std::time::Duration;
/// use tollgate_limit::{DirectLimiter, FakeClock, Policy};
/// let clock = FakeClock::new();
/// let limiter = DirectLimiter::new(Policy::new("global", 2, Duration::from_secs(1))?, clock.clone());
/// assert!(limiter.check().is_allowed());
/// assert!(limiter.check().is_allowed());
/// assert_eq!(limiter.check().retry_after(), Some(Duration::from_millis(500)));
/// assert_eq!(limiter.peek(1).remaining(), 0);
/// # Ok::<(), tollgate_limit::PolicyError>(())
/// ```
pub struct DirectLimiter<C = MonotonicClock> {
    policy: Policy,
    gcra: Gcra,
    tat: AtomicU64,
    clock: C,
}

impl<C: Clock> DirectLimiter<C> {
    /// A limiter for one policy.
    pub fn new(policy: Policy, clock: C) -> Self {
        DirectLimiter {
            gcra: policy.gcra_ns(),
            policy,
            tat: AtomicU64::new(0),
            clock,
        }
    }

    /// Checks and records one call.
    #[inline]
    pub fn check(&self) -> Decision {
        self.check_n(1)
    }

    /// Checks and records a call of weight `cost`.
    #[inline]
    pub fn check_n(&self, cost: u64) -> Decision {
        let now = self.clock.now();
        MemoryStore::<u8>::update(self.gcra, &self.tat, now, cost, Mode::Check)
            .unwrap_or_else(|| self.gcra.decide(0, now, cost).0)
    }

    /// What [`check_n`](Self::check_n) would decide, without recording it.
    pub fn peek(&self, cost: u64) -> Decision {
        let now = self.clock.now();
        MemoryStore::<u8>::update(self.gcra, &self.tat, now, cost, Mode::Peek)
            .unwrap_or_else(|| self.gcra.decide(0, now, cost).0)
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::FakeClock;

    const S: u64 = 1_000_000_000;

    fn policy(quota: u64) -> Policy {
        Policy::new("p", quota, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn keys_are_independent_and_peek_records_nothing() {
        let store = MemoryStore::<String>::new(10);
        let p = policy(1);
        assert!(store.peek(&p, &"a".into(), S, 1).is_allowed());
        assert_eq!(store.len(), 0, "peek inserts nothing");
        assert!(store.check(&p, &"a".into(), S, 1).is_allowed());
        assert!(!store.peek(&p, &"a".into(), S, 1).is_allowed());
        assert!(!store.check(&p, &"a".into(), S, 1).is_allowed());
        assert!(store.check(&p, &"b".into(), S, 1).is_allowed());
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn refused_fresh_calls_are_not_tracked() {
        let store = MemoryStore::<u64>::new(10);
        let p = policy(2);
        assert!(!store.check(&p, &1, S, 3).is_allowed());
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn refund_restores_capacity() {
        let store = MemoryStore::<u64>::new(10);
        let p = policy(2);
        store.check(&p, &1, S, 2);
        assert!(!store.check(&p, &1, S, 1).is_allowed());
        store.refund(&p, &1, 1);
        assert!(store.check(&p, &1, S, 1).is_allowed());
    }

    #[test]
    fn idle_keys_are_swept_by_inserts_without_a_thread() {
        let store = MemoryStore::<u64>::new(1_000_000);
        let p = policy(10);
        for k in 0..5000 {
            store.check(&p, &k, S, 1);
        }
        assert!(store.len() <= 5000);
        // Much later, new keys arrive: their inserts sweep the idle ones.
        let later = 100 * S;
        for k in 5000..10_000 {
            store.check(&p, &k, later, 1);
        }
        assert!(store.len() < 5000 + 1024 + 1, "len {}", store.len());
        let sweeps_left = store.sweep(1000 * S);
        assert_eq!(store.len(), 0, "swept {sweeps_left}");
    }

    /// Sequential keys inserted, then swept, under hash seeds that made
    /// foldhash's fast variant stall papaya's resize for ever (3196 and
    /// 3667 among them), with the variant the store uses: every run ends.
    #[test]
    fn sequential_keys_never_stall_a_resize() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for seed in (3190..3200).chain(3660..3670) {
                let shared = Box::leak(Box::new(foldhash::SharedSeed::from_u64(seed)));
                let per = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let hasher = foldhash::quality::SeedableRandomState::with_seed(per, shared);
                let store = MemoryStore::<u64, _>::with_hasher(1_000_000, hasher);
                let p = policy(10);
                for k in 0..5000 {
                    store.check(&p, &k, S, 1);
                }
                for k in 5000..10_000u64 {
                    store.check(&p, &k, 100 * S, 1);
                }
                store.sweep(1000 * S);
                assert_eq!(store.len(), 0);
            }
            let _ = done.send(());
        });
        let ended = finished.recv_timeout(Duration::from_secs(120));
        assert!(ended.is_ok(), "a run stalled or failed: {ended:?}");
    }

    #[test]
    fn cap_holds_under_a_flood_of_live_keys() {
        let store = MemoryStore::<u64>::new(1000);
        let p = policy(1);
        // Every key stays live for a second: no key is idle during the flood.
        for k in 0..100_000u64 {
            store.check(&p, &k, S + k, 1);
            assert!(store.len() <= 1000);
        }
        assert!(
            store.len() > 500,
            "the store keeps working: {}",
            store.len()
        );
    }

    #[test]
    fn pressure_evicts_the_keys_owing_least() {
        let store = MemoryStore::<u64>::new(100);
        let heavy = Policy::new("heavy", 1000, Duration::from_secs(10)).unwrap();
        let p = policy(1);
        // Key 0 owes ten seconds (its whole burst spent); the flood's keys one.
        store.check(&heavy, &0, S, 1000);
        for k in 1..10_000u64 {
            store.check(&p, &k, S, 1);
        }
        assert!(
            !store.check(&heavy, &0, S, 1).is_allowed(),
            "the heaviest key survived the flood and still owes its burst"
        );
    }

    #[test]
    fn a_swept_key_is_replaced_not_resurrected() {
        let store = MemoryStore::<u64>::new(10);
        let p = policy(1);
        store.check(&p, &1, S, 1);
        assert_eq!(store.sweep(3 * S), 0, "idle, but within the grace");
        assert_eq!(store.sweep(13 * S), 1);
        assert!(store.check(&p, &1, 13 * S, 1).is_allowed());
        assert!(!store.check(&p, &1, 13 * S, 1).is_allowed());
        assert_eq!(store.len(), 1);
    }

    /// A sweep takes the keys it forgets out of the map, not only out of
    /// the count: their memory goes with them.
    #[test]
    fn a_sweep_takes_the_keys_it_forgets_out_of_the_map() {
        let store = MemoryStore::<u64>::new(10);
        let p = policy(1);
        for k in 0..3 {
            store.check(&p, &k, S, 1);
        }
        assert_eq!(store.sweep(13 * S), 3);
        assert_eq!(store.len(), 0);
        assert_eq!(store.map.len(), 0, "the forgotten entries are gone");
    }

    #[test]
    fn a_full_store_forgets_idle_keys_whatever_their_grace() {
        let store = MemoryStore::<u64>::new(10).with_idle_grace(Duration::from_secs(3600));
        let p = policy(1);
        for k in 0..10 {
            store.check(&p, &k, S, 1);
        }
        // Two seconds on, all ten are idle; the eleventh key makes room.
        assert!(store.check(&p, &10, 3 * S, 1).is_allowed());
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn two_threads_never_over_admit() {
        let clock = FakeClock::new();
        let limiter = Arc::new(KeyedLimiter::new(
            Policy::new("p", 1000, Duration::from_secs(1)).unwrap(),
            clock.clone(),
        ));
        let admitted: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let limiter = Arc::clone(&limiter);
                    s.spawn(move || {
                        (0..50_000)
                            .filter(|_| limiter.check(&7u64).is_allowed())
                            .count() as u64
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 1000);
    }

    #[test]
    fn a_store_is_empty_until_a_key_is_tracked() {
        let store = MemoryStore::<u64>::new(10);
        assert!(store.is_empty());
        store.peek(&policy(1), &1, S, 1);
        assert!(store.is_empty(), "a peek tracks nothing");
        store.check(&policy(1), &1, S, 1);
        assert!(!store.is_empty());
    }

    #[test]
    fn a_store_tracks_at_least_one_key() {
        assert_eq!(MemoryStore::<u64>::new(10).max_keys(), 10);
        assert_eq!(MemoryStore::<u64>::new(0).max_keys(), 1);
    }

    #[test]
    fn debug_shows_the_tracked_keys_and_the_cap() {
        let store = MemoryStore::<u64>::new(10);
        store.check(&policy(1), &1, S, 1);
        assert_eq!(
            format!("{store:?}"),
            "MemoryStore { tracked: 1, max_keys: 10 }"
        );
    }

    /// Two threads calling the same fresh keys in step: each key admits
    /// one call, whichever thread inserts it first, and is tracked once.
    #[test]
    fn racing_first_calls_of_a_key_admit_one_and_track_it_once() {
        const KEYS: u64 = 50_000;
        let store = MemoryStore::<u64>::new(1_000_000);
        let p = policy(1);
        let admitted: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        (0..KEYS)
                            .filter(|k| store.check(&p, k, S, 1).is_allowed())
                            .count() as u64
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, KEYS);
        assert_eq!(store.len(), KEYS as usize);
    }

    /// Inserts sweep once they number half the tracked keys (at least
    /// 1024), not sooner: a sweep walks the whole map.
    #[test]
    fn idle_keys_stay_until_half_the_store_in_inserts_sweeps_them() {
        let store = MemoryStore::<u64>::new(1_000_000);
        let p = policy(1);
        for k in 0..4000 {
            store.check(&p, &k, S, 1);
        }
        assert_eq!(
            store.sweep(S),
            0,
            "nothing idle yet; the count starts again"
        );
        // Much later, the 4000 are idle past the grace; new keys arrive.
        let later = 100 * S;
        for k in 4000..7000 {
            store.check(&p, &k, later, 1);
        }
        assert_eq!(store.len(), 7000, "3000 inserts, fewer than half of 7000");
        for k in 7000..8000 {
            store.check(&p, &k, later, 1);
        }
        assert_eq!(store.len(), 4000, "the sweep came, and took the idle ones");
    }

    /// The insert that makes `MIN_SWEEP_INTERVAL` since the last sweep, in
    /// a store of fewer than twice as many keys, sweeps: not one insert
    /// later.
    #[test]
    fn the_insert_that_completes_the_sweep_interval_sweeps() {
        let store = MemoryStore::<u64>::new(1_000_000);
        let p = policy(1);
        let interval = MIN_SWEEP_INTERVAL as u64;
        for k in 0..interval - 1 {
            store.check(&p, &k, S, 1);
        }
        assert_eq!(store.len(), MIN_SWEEP_INTERVAL - 1, "no sweep yet");
        // Much later, the keys are idle past the grace; one more insert.
        store.check(&p, &interval, 100 * S, 1);
        assert_eq!(store.len(), 1, "that insert swept the idle keys");
    }

    /// A store full of live keys evicts the quarter owing least for a new
    /// key, which is then tracked: its second call in the same instant is
    /// refused.
    #[test]
    fn a_store_full_of_live_keys_evicts_the_quarter_owing_least() {
        let store = MemoryStore::<u64>::new(100);
        let p = policy(1);
        // Key k owes a second from S + k: key 0 the least, key 99 the most.
        for k in 0..100 {
            assert!(store.check(&p, &k, S + k, 1).is_allowed());
        }
        let now = S + 100;
        assert!(store.check(&p, &1000, now, 1).is_allowed());
        assert!(!store.check(&p, &1000, now, 1).is_allowed(), "tracked");
        assert_eq!(store.len(), 75, "keys 0 to 25 went, the new key came");
        assert!(store.check(&p, &0, now, 1).is_allowed(), "forgotten");
        assert!(!store.check(&p, &99, now, 1).is_allowed(), "still owes");
    }

    /// Keys that all owe the same (a flood in one clock tick) are evicted
    /// together, rather than none of them: the new key is still tracked.
    #[test]
    fn keys_owing_alike_are_evicted_together_under_pressure() {
        let store = MemoryStore::<u64>::new(100);
        let p = policy(1);
        for k in 0..100 {
            store.check(&p, &k, S, 1);
        }
        assert!(store.check(&p, &1000, S, 1).is_allowed());
        assert!(!store.check(&p, &1000, S, 1).is_allowed(), "tracked");
        assert_eq!(store.len(), 1);
    }
}
