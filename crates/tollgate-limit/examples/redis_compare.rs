//! Decisions per second of the Redis store against plain `SET` through the
//! same client (one multiplexed `ConnectionManager`) at the same concurrency,
//! robust to a noisy machine: each case alternates 300 ms slices of
//! decisions and of `SET`s (which goes first alternates too), 15 rounds, and
//! prints the median of the per-round ratios with its quartiles.
//!
//! ```text
//! TOLLGATE_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo run --release -p tollgate-limit --example redis_compare [CONCURRENCY…]
//! ```
//!
//! Concurrency levels default to 1, 8, 32 and 128.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tollgate_limit::{Key, Policy, RedisOptions, RedisStore};

const KEYS: usize = 10_000;
const ROUNDS: usize = 15;
const SLICE: Duration = Duration::from_millis(300);
const CONCURRENCY: [usize; 4] = [1, 8, 32, 128];

/// One operation of a task: `i` picks the key.
type Op = Arc<dyn Fn(usize) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// Operations per second of `op` on `concurrency` tasks for one slice.
async fn rate(concurrency: usize, op: &Op) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (op, stop, done) = (op.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = t * 7919;
                while !stop.load(Ordering::Relaxed) {
                    op(i).await;
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(SLICE).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let counted = done.load(Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    counted as f64 / elapsed.as_secs_f64()
}

fn quartiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}

fn main() {
    let Some(url) = std::env::var("TOLLGATE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipping: TOLLGATE_TEST_REDIS_URL is unset");
        return;
    };
    let levels: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("concurrency levels are numbers"))
        .collect();
    let levels = if levels.is_empty() {
        CONCURRENCY.to_vec()
    } else {
        levels
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = RedisStore::open(
            &url,
            RedisOptions::default()
                .prefix("tollgate:compare:")
                .timeout(Duration::from_secs(5)),
        )
        .unwrap();
        let keys: Arc<Vec<Key>> = Arc::new(
            (0..KEYS)
                .map(|i| Key::from(format!("sk_live_{i:024}")))
                .collect(),
        );
        let set_keys: Arc<Vec<String>> = Arc::new(
            (0..KEYS)
                .map(|i| format!("tollgate:compare:set:{i}"))
                .collect(),
        );
        let set: Op = {
            let (store, set_keys) = (store.clone(), set_keys.clone());
            Arc::new(move |i| {
                let (store, set_keys) = (store.clone(), set_keys.clone());
                Box::pin(async move { store.plain_set(&set_keys[i % KEYS]).await.unwrap() })
            })
        };
        println!("| policy | concurrency | decisions/s | SET/s | ratio, median (quartiles) |");
        println!("|---|---|---|---|---|");
        let policies = [
            // The seeds' quota: after each key's burst, most calls are refused.
            ("100 / 60 s", Policy::new("seed", 100, Duration::from_secs(60)).unwrap()),
            // Every call admitted, so every decision writes.
            (
                "1M / s (all admitted)",
                Policy::new("fast", 1_000_000, Duration::from_secs(1)).unwrap(),
            ),
        ];
        for (label, policy) in policies {
            let policy = Arc::new(policy);
            let decide: Op = {
                let (store, policy, keys) = (store.clone(), policy.clone(), keys.clone());
                Arc::new(move |i| {
                    let (store, policy, keys) = (store.clone(), policy.clone(), keys.clone());
                    Box::pin(async move {
                        store.check(&policy, &keys[i % KEYS], 1).await.unwrap();
                    })
                })
            };
            for &concurrency in &levels {
                let (mut ratios, mut decisions, mut sets) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0..ROUNDS {
                    let (d, s) = if round % 2 == 0 {
                        let d = rate(concurrency, &decide).await;
                        (d, rate(concurrency, &set).await)
                    } else {
                        let s = rate(concurrency, &set).await;
                        (rate(concurrency, &decide).await, s)
                    };
                    ratios.push(d / s);
                    decisions.push(d);
                    sets.push(s);
                }
                let (low, median, high) = quartiles(ratios);
                println!(
                    "| {label} | {concurrency} | {:.0} | {:.0} | {median:.2} ({low:.2}–{high:.2}) |",
                    quartiles(decisions).1,
                    quartiles(sets).1,
                );
            }
        }
    });
}
