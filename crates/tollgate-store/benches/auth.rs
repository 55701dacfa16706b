//! Authentication cost per request: the `AuthLayer` answering from the key
//! cache (with a scope check), against the same lookup going to SQLite (and
//! Postgres when `TOLLGATE_TEST_DATABASE_URL` is set) with the cache off.
//!
//! `cargo bench -p tollgate-store --bench auth`

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::Criterion;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tollgate_store::{Gatekeeper, NewAccount, NewKey, Store, StoreOptions};
use tower::{Layer, Service};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A store with one account and one key; `(store, key)`.
async fn setup(url: &str, options: StoreOptions) -> (Store, String) {
    let store = Store::open_with(url, options).await.expect("open");
    let account = format!("bench{}", std::process::id());
    let _ = store
        .create_account(NewAccount::new(&account).credits(1 << 40))
        .await;
    let key = store
        .create_key(NewKey::new(&account, ["scans:read", "scans:write"]))
        .await
        .expect("key");
    (store, key.secret().to_owned())
}

/// Polls a future that must be ready at once (the cache-hit path never awaits).
fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the cache-hit path awaited"),
    }
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let cached = StoreOptions::default().cache_ttl(Duration::from_secs(3600));
    let (store, key) = rt.block_on(setup(&url, cached));
    rt.block_on(store.authenticate(&key))
        .expect("warm the cache");

    let handler = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    });
    let gate = Gatekeeper::new(store.clone());
    let mut svc = gate.auth().scope("scans:write").layer(handler);
    let header = HeaderValue::from_str(&key).expect("header");

    let mut group = c.benchmark_group("auth");
    group.bench_function("layer_cache_hit_with_scope", |b| {
        b.iter(|| {
            let mut req = Request::post("/v1/scans")
                .body(Full::<Bytes>::default())
                .expect("request");
            req.headers_mut().insert("x-api-key", header.clone());
            let res = now_or_never(svc.call(req)).expect("infallible");
            assert_eq!(res.status(), 200);
            black_box(res)
        })
    });
    group.bench_function("store_cache_hit", |b| {
        b.iter(|| {
            black_box(
                store
                    .authenticate_cached(black_box(&key))
                    .expect("cached")
                    .expect("valid"),
            )
        })
    });

    let uncached = StoreOptions::default().cache_ttl(Duration::ZERO);
    let dir2 = tempfile::tempdir().expect("tempdir");
    let url2 = format!("sqlite://{}", dir2.path().join("bench.db").display());
    let (sqlite, sqlite_key) = rt.block_on(setup(&url2, uncached.clone()));
    group.bench_function("store_cache_miss_sqlite", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(sqlite.authenticate(&sqlite_key).await.expect("valid")) })
    });
    match std::env::var("TOLLGATE_TEST_DATABASE_URL") {
        Ok(pg_url) => {
            let schema = format!("tg_store_bench_{}", std::process::id());
            let (pg, pg_key) = rt.block_on(setup(&pg_url, uncached.schema(schema.clone())));
            group.bench_function("store_cache_miss_postgres", |b| {
                b.to_async(&rt)
                    .iter(|| async { black_box(pg.authenticate(&pg_key).await.expect("valid")) })
            });
            rt.block_on(drop_schema(&pg_url, &schema));
        }
        Err(_) => eprintln!("skipping postgres: TOLLGATE_TEST_DATABASE_URL is unset"),
    }
    group.finish();
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut conn)
        .await;
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
