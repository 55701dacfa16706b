//! In-memory checks against governor on the same quota and the same kind of
//! clock: `std` (both read `std::time::Instant`) and `tsc` (both read the TSC
//! through quanta: our `QuantaClock`, governor's default `QuantaClock`). A
//! direct check, keyed checks on 10k `u64` keys and 10k 32-byte strings on 1
//! and 2 threads, and inserts of new keys. Threads are spawned before the
//! timer starts.
//!
//! Two quotas: the seed APIs' 100 calls per 60 s (after the first burst most
//! checks are refusals), and 1M calls per second (every check admitted and
//! written).

#![allow(missing_docs)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use governor::clock::{Clock as GovClock, MonotonicClock as GovStd, QuantaClock as GovTsc};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tollgate_limit::{
    Clock, DirectLimiter, KeyedLimiter, MemoryStore, MonotonicClock, Policy, QuantaClock,
};

const KEYS: usize = 10_000;

#[derive(Clone, Copy)]
struct Q {
    name: &'static str,
    quota: u32,
    window: u64,
}

const QUOTAS: [Q; 2] = [
    Q {
        name: "100_per_60s",
        quota: 100,
        window: 60,
    },
    Q {
        name: "1M_per_s",
        quota: 1_000_000,
        window: 1,
    },
];

fn policy(q: Q) -> Policy {
    Policy::new("bench", u64::from(q.quota), Duration::from_secs(q.window)).unwrap()
}

fn gov_quota(q: Q) -> Quota {
    let n = NonZeroU32::new(q.quota).unwrap();
    Quota::with_period(Duration::from_secs(q.window) / q.quota)
        .unwrap()
        .allow_burst(n)
}

fn u64_keys() -> Vec<u64> {
    // Spread like ids, not 0..n.
    (0..KEYS as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect()
}

fn string_keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("sk_live_{i:024}")).collect()
}

/// Runs `per_thread(thread, iters)` on `threads` threads, spawned before the
/// timer starts; returns the wall time of the slowest.
fn parallel(threads: usize, iters: u64, per_thread: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    per_thread(t, iters);
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for w in workers {
            w.join().unwrap();
        }
        start.elapsed()
    })
}

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("direct");
    group.throughput(Throughput::Elements(1));
    for q in QUOTAS {
        let ours = DirectLimiter::new(policy(q), MonotonicClock::new());
        group.bench_function(
            BenchmarkId::new("tollgate", format!("{}/std", q.name)),
            |b| b.iter(|| black_box(ours.check())),
        );
        let theirs = RateLimiter::direct_with_clock(gov_quota(q), GovStd);
        group.bench_function(
            BenchmarkId::new("governor", format!("{}/std", q.name)),
            |b| b.iter(|| black_box(theirs.check())),
        );
        let ours = DirectLimiter::new(policy(q), QuantaClock::new());
        group.bench_function(
            BenchmarkId::new("tollgate", format!("{}/tsc", q.name)),
            |b| b.iter(|| black_box(ours.check())),
        );
        let theirs = RateLimiter::direct_with_clock(gov_quota(q), GovTsc::default());
        group.bench_function(
            BenchmarkId::new("governor", format!("{}/tsc", q.name)),
            |b| b.iter(|| black_box(theirs.check())),
        );
    }
    group.finish();
}

fn keyed_pair<K, C, G>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    threads: usize,
    keys: &[K],
    ours: KeyedLimiter<K, C>,
    theirs: RateLimiter<K, DefaultKeyedStateStore<K>, G, NoOpMiddleware<G::Instant>>,
) where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    C: Clock,
    G: GovClock + Sync,
{
    for k in keys {
        ours.check(k);
        let _ = theirs.check_key(k);
    }
    group.bench_function(BenchmarkId::new("tollgate", id), |b| {
        b.iter_custom(|iters| {
            parallel(threads, iters, &|t, n| {
                for i in (t * 7919..).take(n as usize) {
                    black_box(ours.check(&keys[i % KEYS]));
                }
            })
        })
    });
    group.bench_function(BenchmarkId::new("governor", id), |b| {
        b.iter_custom(|iters| {
            parallel(threads, iters, &|t, n| {
                for i in (t * 7919..).take(n as usize) {
                    let _ = black_box(theirs.check_key(&keys[i % KEYS]));
                }
            })
        })
    });
}

fn keyed<K>(c: &mut Criterion, group_name: &str, keys: &[K])
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let mut group = c.benchmark_group(group_name);
    for q in QUOTAS {
        for threads in [1usize, 2] {
            group.throughput(Throughput::Elements(threads as u64));
            keyed_pair(
                &mut group,
                &format!("{}/std/{threads}t", q.name),
                threads,
                keys,
                KeyedLimiter::new(policy(q), MonotonicClock::new()),
                RateLimiter::dashmap_with_clock(gov_quota(q), GovStd),
            );
            keyed_pair(
                &mut group,
                &format!("{}/tsc/{threads}t", q.name),
                threads,
                keys,
                KeyedLimiter::new(policy(q), QuantaClock::new()),
                RateLimiter::dashmap_with_clock(gov_quota(q), GovTsc::default()),
            );
        }
    }
    group.finish();
}

fn keyed_u64(c: &mut Criterion) {
    keyed(c, "keyed_u64_10k", &u64_keys());
}

fn keyed_string(c: &mut Criterion) {
    keyed(c, "keyed_str32_10k", &string_keys());
}

/// Checks of keys never seen before: the insert path (TSC clocks). A fresh
/// limiter per sample, built outside the timing.
fn insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("insert_new_key");
    group.throughput(Throughput::Elements(1));
    let q = QUOTAS[0];
    group.bench_function("tollgate", |b| {
        b.iter_custom(|iters| {
            let store = MemoryStore::<u64>::new(usize::MAX);
            let limiter = KeyedLimiter::with_store(policy(q), QuantaClock::new(), store);
            let start = Instant::now();
            for k in 0..iters {
                black_box(limiter.check(&k));
            }
            start.elapsed()
        })
    });
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| {
            let limiter = RateLimiter::dashmap_with_clock(gov_quota(q), GovTsc::default());
            let start = Instant::now();
            for k in 0..iters {
                let _ = black_box(limiter.check_key(&k));
            }
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = direct, keyed_u64, keyed_string, insert
}
criterion_main!(benches);
