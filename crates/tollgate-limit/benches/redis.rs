//! Decisions per second of the Redis store against plain `SET` through the
//! same client (one multiplexed `ConnectionManager`) at the same concurrency,
//! in one run. Needs `TOLLGATE_TEST_REDIS_URL`; prints a notice and measures
//! nothing without it.

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tollgate_limit::{Key, Policy, RedisOptions, RedisStore};

const CONCURRENCY: [usize; 2] = [1, 32];
const KEYS: usize = 10_000;

fn run(c: &mut Criterion) {
    let Some(url) = std::env::var("TOLLGATE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipping: TOLLGATE_TEST_REDIS_URL is unset");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(async {
        RedisStore::open(
            &url,
            RedisOptions::default()
                .prefix("tollgate:bench:")
                .timeout(Duration::from_secs(5)),
        )
        .unwrap()
    });
    let policy = Arc::new(Policy::new("bench", 100, Duration::from_secs(60)).unwrap());
    let keys: Arc<Vec<Key>> = Arc::new(
        (0..KEYS)
            .map(|i| Key::from(format!("sk_live_{i:024}")))
            .collect(),
    );
    let set_keys: Arc<Vec<String>> = Arc::new(
        (0..KEYS)
            .map(|i| format!("tollgate:bench:set:{i}"))
            .collect(),
    );

    let mut group = c.benchmark_group("redis");
    group.throughput(Throughput::Elements(1));
    for concurrency in CONCURRENCY {
        // `iters` operations split over `concurrency` tasks on one connection.
        let timed = |op: Arc<
            dyn Fn(usize) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync,
        >,
                     iters: u64| {
            runtime.block_on(async {
                let per_task = iters.div_ceil(concurrency as u64);
                let start = Instant::now();
                let tasks: Vec<_> = (0..concurrency)
                    .map(|t| {
                        let op = op.clone();
                        tokio::spawn(async move {
                            for i in 0..per_task {
                                op(t * 7919 + i as usize).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per_task * concurrency as u64) as f64)
            })
        };
        let decide = {
            let (store, policy, keys) = (store.clone(), policy.clone(), keys.clone());
            Arc::new(move |i: usize| {
                let (store, policy, keys) = (store.clone(), policy.clone(), keys.clone());
                Box::pin(async move {
                    store.check(&policy, &keys[i % KEYS], 1).await.unwrap();
                }) as futures_util::future::BoxFuture<'static, ()>
            })
        };
        let set = {
            let (store, set_keys) = (store.clone(), set_keys.clone());
            Arc::new(move |i: usize| {
                let (store, set_keys) = (store.clone(), set_keys.clone());
                Box::pin(async move {
                    store.plain_set(&set_keys[i % KEYS]).await.unwrap();
                }) as futures_util::future::BoxFuture<'static, ()>
            })
        };
        group.bench_function(BenchmarkId::new("gcra_evalsha", concurrency), |b| {
            b.iter_custom(|iters| timed(decide.clone(), iters))
        });
        group.bench_function(BenchmarkId::new("plain_set", concurrency), |b| {
            b.iter_custom(|iters| timed(set.clone(), iters))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = run
}
criterion_main!(benches);
