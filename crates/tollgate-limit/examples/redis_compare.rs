//! Decisions per second of the Redis store against plain `SET` through the
//! same client (one multiplexed `ConnectionManager`) at the same concurrency,
//! robust to a noisy machine: each case alternates 300 ms slices of
//! decisions and of `SET`s (which goes first alternates too), 15 rounds, and
//! prints the median of the per-round ratios with its quartiles, and the
//! CPU each operation took in this process and in Redis (medians), which
//! tells which side bounds a row.
//!
//! ```text
//! TOLLGATE_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo run --release -p tollgate-limit --example redis_compare [CONCURRENCY…] [--max-batch=N]
//! ```
//!
//! Concurrency levels default to 1, 8, 32 and 128; `--max-batch=1` measures
//! the store as configured for a Redis Cluster proxy (one decision a call).
//! A `redis+cluster://` URL measures the store and `SET` on a cluster (Redis
//! CPU is then not measured: 0).

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

/// CPU time this process has used, summed over its threads (Linux; zero
/// elsewhere).
fn client_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// CPU time the Redis server has used (`INFO cpu`; zero on a cluster, whose
/// nodes the example does not sum).
async fn redis_cpu(conn: &mut Option<redis::aio::MultiplexedConnection>) -> Duration {
    let Some(conn) = conn else {
        return Duration::ZERO;
    };
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(conn)
        .await
        .unwrap();
    let seconds: f64 = info
        .lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum();
    Duration::from_secs_f64(seconds)
}

/// One slice's measure: operations per second, and the microseconds of
/// client and of Redis CPU each operation took.
struct Slice {
    rate: f64,
    client_us: f64,
    redis_us: f64,
}

/// Runs `op` on `concurrency` tasks for one slice.
async fn rate(
    concurrency: usize,
    op: &Op,
    info: &mut Option<redis::aio::MultiplexedConnection>,
) -> Slice {
    let redis_before = redis_cpu(info).await;
    let client_before = client_cpu();
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
    let client = client_cpu() - client_before;
    let redis = redis_cpu(info).await - redis_before;
    let per_op = |cpu: Duration| cpu.as_secs_f64() * 1e6 / counted.max(1) as f64;
    Slice {
        rate: counted as f64 / elapsed.as_secs_f64(),
        client_us: per_op(client),
        redis_us: per_op(redis),
    }
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
    let mut max_batch = tollgate_limit::DEFAULT_MAX_BATCH;
    let mut levels: Vec<usize> = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.strip_prefix("--max-batch=") {
            Some(n) => max_batch = n.parse().expect("--max-batch=N takes a number"),
            None => levels.push(arg.parse().expect("concurrency levels are numbers")),
        }
    }
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
                .timeout(Duration::from_secs(5))
                .max_batch(max_batch),
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
        // A connection of its own for `INFO cpu`, outside the store's.
        let mut info = if url.starts_with("redis+cluster://") {
            None
        } else {
            let client = redis::Client::open(url.as_str()).unwrap();
            Some(client.get_multiplexed_async_connection().await.unwrap())
        };
        println!(
            "| policy | concurrency | decisions/s | SET/s | ratio, median (quartiles) | client µs/op, decision / SET | Redis µs/op, decision / SET |"
        );
        println!("|---|---|---|---|---|---|---|");
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
                let mut ratios = Vec::new();
                let (mut decisions, mut sets) = (Vec::new(), Vec::new());
                for round in 0..ROUNDS {
                    let (d, s) = if round % 2 == 0 {
                        let d = rate(concurrency, &decide, &mut info).await;
                        (d, rate(concurrency, &set, &mut info).await)
                    } else {
                        let s = rate(concurrency, &set, &mut info).await;
                        (rate(concurrency, &decide, &mut info).await, s)
                    };
                    ratios.push(d.rate / s.rate);
                    decisions.push(d);
                    sets.push(s);
                }
                let (low, median, high) = quartiles(ratios);
                let med = |slices: &[Slice], f: fn(&Slice) -> f64| {
                    quartiles(slices.iter().map(f).collect()).1
                };
                println!(
                    "| {label} | {concurrency} | {:.0} | {:.0} | {median:.2} ({low:.2}–{high:.2}) | {:.1} / {:.1} | {:.1} / {:.1} |",
                    med(&decisions, |s| s.rate),
                    med(&sets, |s| s.rate),
                    med(&decisions, |s| s.client_us),
                    med(&sets, |s| s.client_us),
                    med(&decisions, |s| s.redis_us),
                    med(&sets, |s| s.redis_us),
                );
            }
        }
    });
}
