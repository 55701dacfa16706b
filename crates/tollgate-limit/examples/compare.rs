//! Paired comparison with governor, robust to a noisy machine: each case runs
//! tollgate and governor in alternating 50 ms slices (same keys, same quota,
//! same kind of clock, threads spawned before timing), 15 rounds, and prints
//! the median of the per-round throughput ratios with its spread.
//!
//! `cargo run --release -p tollgate-limit --example compare [PART…]`
//!
//! With parts given, only the rows whose `case | threads` text holds every
//! part run (e.g. `u64 "tsc" "| 1"`).
//!
//! With `-- --breakdown` it prints instead where one keyed check's time goes
//! on one thread (10k `u64` keys, median of 7 runs): a clock read of each
//! kind, a papaya lookup with its reclamation guard entered and left per
//! lookup (what a check does) and with one guard held across all lookups
//! (the floor without the guard; not something a single-check API can do),
//! a whole check without the clock read (fixed time), and whole checks of
//! both limiters.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock as GovClock, MonotonicClock as GovStd, QuantaClock as GovTsc};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tollgate_limit::{
    Clock, DirectLimiter, KeyedLimiter, MemoryStore, MonotonicClock, Policy, QuantaClock,
};

const KEYS: usize = 10_000;
const ROUNDS: usize = 15;
const SLICE: Duration = Duration::from_millis(50);

/// Checks per second of `op` on `threads` threads for one slice. `op` is
/// called statically, as an application calls a limiter, so each side's
/// check inlines as far as its crate allows (a `dyn Fn` here cost both sides
/// an indirect call and hid that difference).
fn rate(threads: usize, op: &(impl Fn(usize) + Sync)) -> f64 {
    let barrier = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let counts: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, stop) = (&barrier, &stop);
                s.spawn(move || {
                    barrier.wait();
                    let mut i = t * 7919;
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..256 {
                            op(i);
                            i += 1;
                        }
                        n += 256;
                    }
                    n
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(SLICE);
        stop.store(true, Ordering::Relaxed);
        let counts = workers.into_iter().map(|w| w.join().unwrap()).collect();
        assert!(start.elapsed() >= SLICE);
        counts
    });
    counts.iter().sum::<u64>() as f64 / SLICE.as_secs_f64()
}

fn compare<K, C, G>(
    label: &str,
    threads: usize,
    keys: &[K],
    ours: KeyedLimiter<K, C>,
    theirs: RateLimiter<K, DefaultKeyedStateStore<K>, G, NoOpMiddleware<G::Instant>>,
) where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    C: Clock,
    G: GovClock + Sync,
{
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let row = format!("{label} | {threads}");
    if !only.iter().all(|part| row.contains(part.as_str())) {
        return;
    }
    for k in keys {
        ours.check(k);
        let _ = theirs.check_key(k);
    }
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut ours_rates = Vec::with_capacity(ROUNDS);
    let mut theirs_rates = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        // Alternate which goes first.
        let run_ours = || {
            rate(threads, &|i| {
                black_box(ours.check(&keys[i % KEYS]));
            })
        };
        let run_theirs = || {
            rate(threads, &|i| {
                let _ = black_box(theirs.check_key(&keys[i % KEYS]));
            })
        };
        let (a, b) = if round % 2 == 0 {
            let a = run_ours();
            (a, run_theirs())
        } else {
            let b = run_theirs();
            (run_ours(), b)
        };
        ours_rates.push(a);
        theirs_rates.push(b);
        ratios.push(a / b);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        (v[v.len() / 2], v[v.len() / 4], v[3 * v.len() / 4])
    };
    let (r, r_lo, r_hi) = median(&mut ratios);
    let (o, _, _) = median(&mut ours_rates);
    let (t, _, _) = median(&mut theirs_rates);
    println!(
        "| {label} | {threads} | {:.1} | {:.1} | {r:.2}× ({r_lo:.2}–{r_hi:.2}) |",
        o / 1e6,
        t / 1e6
    );
}

/// Median nanoseconds per call of `op` over 7 runs of 5M calls.
fn ns_per_call(mut op: impl FnMut(usize)) -> f64 {
    const CALLS: usize = 5_000_000;
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for i in 0..CALLS {
                op(i);
            }
            start.elapsed().as_nanos() as f64 / CALLS as f64
        })
        .collect();
    runs.sort_by(|a, b| a.total_cmp(b));
    runs[runs.len() / 2]
}

/// Where the time of one keyed check goes (see the module docs).
fn breakdown(keys: &[u64]) {
    use std::sync::atomic::AtomicU64;
    let map: papaya::HashMap<u64, AtomicU64, tollgate_limit::DefaultHasher> =
        papaya::HashMap::builder()
            .hasher(tollgate_limit::DefaultHasher::default())
            .resize_mode(papaya::ResizeMode::Blocking)
            .build();
    for &k in keys {
        map.pin().insert(k, AtomicU64::new(1));
    }
    let tsc = QuantaClock::new();
    let std_clock = MonotonicClock::new();
    let policy = Policy::new("p", 100, Duration::from_secs(60)).unwrap();
    let gq = Quota::with_period(Duration::from_secs(60) / 100)
        .unwrap()
        .allow_burst(NonZeroU32::new(100).unwrap());
    let ours_tsc = KeyedLimiter::new(policy.clone(), QuantaClock::new());
    let ours_std = KeyedLimiter::new(policy, MonotonicClock::new());
    let theirs_tsc = RateLimiter::dashmap_with_clock(gq, GovTsc::default());
    let theirs_std = RateLimiter::dashmap_with_clock(gq, GovStd);
    for k in keys {
        ours_tsc.check(k);
        ours_std.check(k);
        let _ = theirs_tsc.check_key(k);
        let _ = theirs_std.check_key(k);
    }
    println!("| step (1 thread, 10k u64 keys, 100/60s) | ns per call |");
    println!("|---|---|");
    let row = |label: &str, ns: f64| println!("| {label} | {ns:.1} |");
    row(
        "tsc clock read (`QuantaClock::now`)",
        ns_per_call(|_| {
            black_box(tsc.now());
        }),
    );
    row(
        "std clock read (`MonotonicClock::now`)",
        ns_per_call(|_| {
            black_box(std_clock.now());
        }),
    );
    row(
        "papaya lookup, guard per lookup",
        ns_per_call(|i| {
            let guard = map.guard();
            black_box(
                map.get(&keys[i % KEYS], &guard)
                    .map(|t| t.load(Ordering::Acquire)),
            );
        }),
    );
    let guard = map.guard();
    row(
        "papaya lookup, one guard held throughout",
        ns_per_call(|i| {
            black_box(
                map.get(&keys[i % KEYS], &guard)
                    .map(|t| t.load(Ordering::Acquire)),
            );
        }),
    );
    drop(guard);
    row(
        "papaya guard enter and leave alone",
        ns_per_call(|_| {
            black_box(map.guard());
        }),
    );
    let store = MemoryStore::<u64>::new(KEYS);
    let fixed_policy = Policy::new("p", 100, Duration::from_secs(60)).unwrap();
    let fixed_now = std_clock.now();
    for k in keys {
        store.check(&fixed_policy, k, fixed_now, 1);
    }
    row(
        "tollgate check, no clock read (`MemoryStore::check`, fixed time)",
        ns_per_call(|i| {
            black_box(store.check(&fixed_policy, &keys[i % KEYS], fixed_now, 1));
        }),
    );
    let direct_ours = DirectLimiter::new(
        Policy::new("p", 100, Duration::from_secs(60)).unwrap(),
        QuantaClock::new(),
    );
    let direct_theirs = RateLimiter::direct_with_clock(gq, GovTsc::default());
    row(
        "tollgate direct (unkeyed) check, tsc",
        ns_per_call(|_| {
            black_box(direct_ours.check());
        }),
    );
    row(
        "governor direct (unkeyed) check, tsc",
        ns_per_call(|_| {
            let _ = black_box(direct_theirs.check());
        }),
    );
    row(
        "tollgate check, tsc",
        ns_per_call(|i| {
            black_box(ours_tsc.check(&keys[i % KEYS]));
        }),
    );
    row(
        "governor check, tsc",
        ns_per_call(|i| {
            let _ = black_box(theirs_tsc.check_key(&keys[i % KEYS]));
        }),
    );
    row(
        "tollgate check, std",
        ns_per_call(|i| {
            black_box(ours_std.check(&keys[i % KEYS]));
        }),
    );
    row(
        "governor check, std",
        ns_per_call(|i| {
            let _ = black_box(theirs_std.check_key(&keys[i % KEYS]));
        }),
    );
}

fn main() {
    let u64_keys: Vec<u64> = (0..KEYS as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    if std::env::args().any(|a| a == "--breakdown") {
        breakdown(&u64_keys);
        return;
    }
    let str_keys: Vec<String> = (0..KEYS).map(|i| format!("sk_live_{i:024}")).collect();
    println!(
        "| case | threads | tollgate M checks/s | governor M checks/s | ratio, median (quartiles) |"
    );
    println!("|---|---|---|---|---|");
    for (qname, quota, window) in [("100/60s", 100u32, 60u64), ("1M/s", 1_000_000, 1)] {
        let policy = Policy::new("p", u64::from(quota), Duration::from_secs(window)).unwrap();
        let gq = Quota::with_period(Duration::from_secs(window) / quota)
            .unwrap()
            .allow_burst(NonZeroU32::new(quota).unwrap());
        for threads in [1, 2] {
            compare(
                &format!("u64 keys, {qname}, tsc clocks"),
                threads,
                &u64_keys,
                KeyedLimiter::new(policy.clone(), QuantaClock::new()),
                RateLimiter::dashmap_with_clock(gq, GovTsc::default()),
            );
            compare(
                &format!("u64 keys, {qname}, std clocks"),
                threads,
                &u64_keys,
                KeyedLimiter::new(policy.clone(), MonotonicClock::new()),
                RateLimiter::dashmap_with_clock(gq, GovStd),
            );
            compare(
                &format!("32-byte keys, {qname}, tsc clocks"),
                threads,
                &str_keys,
                KeyedLimiter::new(policy.clone(), QuantaClock::new()),
                RateLimiter::dashmap_with_clock(gq, GovTsc::default()),
            );
            compare(
                &format!("32-byte keys, {qname}, std clocks"),
                threads,
                &str_keys,
                KeyedLimiter::new(policy.clone(), MonotonicClock::new()),
                RateLimiter::dashmap_with_clock(gq, GovStd),
            );
        }
    }
}
