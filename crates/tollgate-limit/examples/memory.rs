//! Memory of the in-memory store, measured from `/proc/self/statm`:
//!
//! 1. bytes per tracked key with 1M `u64` keys and with 1M 32-byte string
//!    keys (and governor's dashmap store on the same keys, for reference);
//! 2. RSS while 10M distinct keys churn through a store capped at 1M keys,
//!    once with keys going idle as time passes (sweeps reclaim them) and once
//!    as a flood where no key ever goes idle (the cap holds).
//!
//! `cargo run --release -p tollgate-limit --example memory`
//! (`-- --keys N --churn N` to change the sizes).

use std::num::NonZeroU32;
use std::time::Duration;

use tollgate_limit::{MemoryStore, Policy};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn per_key(label: &str, keys: u64, fill: impl FnOnce() -> Box<dyn std::any::Any>) {
    let before = rss_bytes();
    let held = fill();
    let after = rss_bytes();
    println!(
        "{label}: {:.1} bytes per key ({keys} keys, RSS +{} MiB)",
        (after - before) as f64 / keys as f64,
        (after - before) >> 20
    );
    drop(held);
}

fn main() {
    let keys = arg("--keys", 1_000_000);
    let churn = arg("--churn", 10_000_000);
    let policy = Policy::new("p", 100, Duration::from_secs(60)).expect("valid policy");
    // A fixed "now": no key goes idle while the store fills.
    let now = 1_000_000_000;

    println!("## bytes per tracked key");
    per_key("tollgate MemoryStore<u64>", keys, || {
        let store = MemoryStore::<u64>::new(usize::MAX);
        for k in 0..keys {
            store.check(&policy, &k, now, 1);
        }
        assert_eq!(store.len() as u64, keys);
        Box::new(store)
    });
    per_key("tollgate MemoryStore<String>, 32-byte keys", keys, || {
        let store = MemoryStore::<String>::new(usize::MAX);
        for k in 0..keys {
            store.check(&policy, &format!("sk_live_{k:024}"), now, 1);
        }
        Box::new(store)
    });
    let quota = governor::Quota::per_minute(NonZeroU32::new(100).expect("nonzero"));
    per_key("governor dashmap keyed, u64", keys, || {
        let limiter =
            governor::RateLimiter::dashmap_with_clock(quota, governor::clock::MonotonicClock);
        for k in 0..keys {
            let _ = limiter.check_key(&k);
        }
        Box::new(limiter)
    });
    per_key("governor dashmap keyed, 32-byte keys", keys, || {
        let limiter =
            governor::RateLimiter::dashmap_with_clock(quota, governor::clock::MonotonicClock);
        for k in 0..keys {
            let _ = limiter.check_key(&format!("sk_live_{k:024}"));
        }
        Box::new(limiter)
    });

    println!("\n## RSS while {churn} distinct keys churn (cap 1M keys)");
    for (label, step_ns) in [
        ("keys idle after 0.6 s, 1 µs between keys", 1_000u64),
        ("flood: no key ever idle", 0),
    ] {
        let store = MemoryStore::<u64>::new(1_000_000);
        let start = rss_bytes();
        let mut peak = 0;
        let mut line = String::new();
        for k in 0..churn {
            store.check(&policy, &k, now + k * step_ns, 1);
            if (k + 1) % (churn / 10).max(1) == 0 {
                let rss = rss_bytes();
                peak = peak.max(rss);
                line.push_str(&format!(" {}", (rss - start.min(rss)) >> 20));
            }
        }
        println!(
            "{label}: RSS growth MiB at each tenth:{line}; tracked at end {}; peak +{} MiB",
            store.len(),
            (peak - start.min(peak)) >> 20
        );
    }
}
