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

fn report(label: &str, keys: u64, before: u64, held: impl Sized) {
    let after = rss_bytes();
    println!(
        "| {label} | {keys} | {:.1} | {} |",
        after.saturating_sub(before) as f64 / keys as f64,
        after.saturating_sub(before) >> 20
    );
    drop(held);
}

fn str_key(k: u64) -> String {
    format!("sk_live_{k:024}")
}

/// One case, alone in this process so that no memory freed by another case
/// is reused (RSS would not move).
fn run_case(case: &str, keys: u64, churn: u64) {
    let policy = Policy::new("p", 100, Duration::from_secs(60)).expect("valid policy");
    // A fixed "now": no key goes idle while the store fills.
    let now = 1_000_000_000;
    let quota = governor::Quota::per_minute(NonZeroU32::new(100).expect("nonzero"));
    let before = rss_bytes();
    match case {
        "tollgate-u64" => {
            let store = MemoryStore::<u64>::new(usize::MAX);
            for k in 0..keys {
                store.check(&policy, &k, now, 1);
            }
            assert_eq!(store.len() as u64, keys);
            report("tollgate `MemoryStore<u64>`", keys, before, store);
        }
        "tollgate-str" => {
            let store = MemoryStore::<String>::new(usize::MAX);
            for k in 0..keys {
                store.check(&policy, &str_key(k), now, 1);
            }
            report(
                "tollgate `MemoryStore<String>`, 32-byte keys",
                keys,
                before,
                store,
            );
        }
        "governor-u64" => {
            let limiter =
                governor::RateLimiter::dashmap_with_clock(quota, governor::clock::MonotonicClock);
            for k in 0..keys {
                let _ = limiter.check_key(&k);
            }
            report("governor dashmap keyed, `u64`", keys, before, limiter);
        }
        "governor-str" => {
            let limiter =
                governor::RateLimiter::dashmap_with_clock(quota, governor::clock::MonotonicClock);
            for k in 0..keys {
                let _ = limiter.check_key(&str_key(k));
            }
            report(
                "governor dashmap keyed, 32-byte `String` keys",
                keys,
                before,
                limiter,
            );
        }
        "churn-idle" | "churn-flood" => {
            // Idle: 1 µs between keys, so each key is idle 0.6 s (600k keys)
            // later and past its 10 s grace 10.6M keys later: only the cap
            // bounds it. Flood: time stands still, no key is ever idle.
            let step_ns = if case == "churn-idle" { 1_000 } else { 0 };
            let store = MemoryStore::<u64>::new(1_000_000);
            let mut line = String::new();
            let mut peak = 0;
            for k in 0..churn {
                store.check(&policy, &k, now + k * step_ns, 1);
                if (k + 1) % (churn / 10).max(1) == 0 {
                    let rss = rss_bytes().saturating_sub(before);
                    peak = peak.max(rss);
                    line.push_str(&format!(" {}", rss >> 20));
                }
            }
            println!(
                "| {case} | {churn} | {line} | {} | {} |",
                peak >> 20,
                store.len()
            );
        }
        other => eprintln!("unknown case {other:?}"),
    }
}

fn main() {
    let keys = arg("--keys", 1_000_000);
    let churn = arg("--churn", 10_000_000);
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        run_case(args.get(i + 1).map_or("", String::as_str), keys, churn);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let run = |case: &str| {
        let status = std::process::Command::new(&exe)
            .args([
                "--case",
                case,
                "--keys",
                &keys.to_string(),
                "--churn",
                &churn.to_string(),
            ])
            .status()
            .expect("runs itself");
        assert!(status.success(), "{case} failed");
    };
    println!("| store | keys | bytes per key (RSS growth / keys) | RSS growth, MiB |");
    println!("|---|---|---|---|");
    for case in [
        "tollgate-u64",
        "tollgate-str",
        "governor-u64",
        "governor-str",
    ] {
        run(case);
    }
    println!();
    println!(
        "| churn (cap 1M keys) | distinct keys | RSS growth, MiB, after each tenth | peak, MiB | tracked at end |"
    );
    println!("|---|---|---|---|---|");
    for case in ["churn-idle", "churn-flood"] {
        run(case);
    }
}
