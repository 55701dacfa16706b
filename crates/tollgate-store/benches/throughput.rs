//! Requests per second through `RouteLayer` (authenticate from the cache,
//! check a scope, charge 1 credit, run a trivial handler) with 32 concurrent
//! clients, on SQLite and on Postgres (when `TOLLGATE_TEST_DATABASE_URL` is
//! set); and, in the same run, the same stack with no charge, to show what
//! the charge costs. Each case runs a fixed number of requests and stops.
//!
//! `cargo bench -p tollgate-store --bench throughput`

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tollgate_store::{Gatekeeper, NewAccount, NewKey, Store, StoreOptions};
use tower::{Layer, ServiceExt};

const CLIENTS: usize = 32;
const REQUESTS: usize = 20_000;

async fn run(store: &Store, cost: Option<i64>) -> (f64, Duration) {
    let account = format!("tp{}_{}", std::process::id(), fastrand_suffix());
    store
        .create_account(NewAccount::new(&account).credits(1 << 40))
        .await
        .expect("account");
    let key = store
        .create_key(NewKey::new(&account, ["scans:write"]))
        .await
        .expect("key");
    let header = HeaderValue::from_str(key.secret()).expect("header");
    let handler = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    });
    let gate = Gatekeeper::new(store.clone());
    let route = match cost {
        Some(cost) => gate.route().scope("scans:write").cost(cost),
        None => gate.route().scope("scans:write"),
    };
    let svc = route.layer(handler);
    // Warm the key cache.
    let mut warm = Request::post("/v1/scans")
        .body(Full::default())
        .expect("request");
    warm.headers_mut().insert("x-api-key", header.clone());
    assert_eq!(
        svc.clone()
            .oneshot(warm)
            .await
            .expect("infallible")
            .status(),
        200
    );

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (svc, header) = (svc.clone(), header.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..REQUESTS / CLIENTS {
                let mut req = Request::post("/v1/scans")
                    .body(Full::default())
                    .expect("request");
                req.headers_mut().insert("x-api-key", header.clone());
                let res = svc.clone().oneshot(req).await.expect("infallible");
                assert_eq!(res.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let elapsed = started.elapsed();
    let done = (REQUESTS / CLIENTS * CLIENTS) as f64;
    if let Some(cost) = cost {
        let spent = (1i64 << 40) - store.account(&account).await.expect("account").balance();
        assert_eq!(
            spent,
            cost * (done as i64 + 1),
            "every request charged exactly once"
        );
    }
    (done / elapsed.as_secs_f64(), elapsed)
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

async fn case(name: &str, store: &Store) {
    let (auth_only, t1) = run(store, None).await;
    let (charged, t2) = run(store, Some(1)).await;
    println!(
        "{name:<9} auth+scope: {auth_only:>9.0} req/s ({:.2}s)   auth+scope+charge: {charged:>8.0} req/s ({:.2}s)   ratio {:.1}x",
        t1.as_secs_f64(),
        t2.as_secs_f64(),
        auth_only / charged
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("{REQUESTS} requests, {CLIENTS} concurrent clients, 2 worker threads");
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("tp.db").display());
        let sqlite = Store::open_with(&url, StoreOptions::default())
            .await
            .expect("sqlite");
        case("sqlite", &sqlite).await;
        match std::env::var("TOLLGATE_TEST_DATABASE_URL") {
            Ok(pg_url) => {
                let schema = format!("tg_store_tp_{}", std::process::id());
                let options = StoreOptions::default()
                    .schema(schema.clone())
                    .max_connections(CLIENTS as u32);
                let pg = Store::open_with(&pg_url, options).await.expect("postgres");
                case("postgres", &pg).await;
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await;
                }
            }
            Err(_) => eprintln!("skipping postgres: TOLLGATE_TEST_DATABASE_URL is unset"),
        }
    });
}
