//! Requests per second through `RouteLayer` (authenticate from the cache,
//! check a scope, charge 1 credit, run a trivial handler) with 32 concurrent
//! clients, on SQLite and on Postgres (when `TOLLGATE_TEST_DATABASE_URL` is
//! set): all clients charging one account (one hot row: the worst case) and
//! each client its own account. In the same run, the same stack with no
//! charge, to show what the charge costs. Each case runs a fixed number of
//! requests and stops.
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
const AUTH_ONLY_REQUESTS: usize = 640_000;
const CREDITS: i64 = 1 << 40;

/// `(requests/s, elapsed)` for `requests` requests spread over the clients,
/// client `i` using the key of account `i % accounts`.
async fn run(
    store: &Store,
    cost: Option<i64>,
    accounts: usize,
    requests: usize,
) -> (f64, Duration) {
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..accounts {
        let account = format!("tp{}_{}", std::process::id(), unique());
        store
            .create_account(NewAccount::new(&account).credits(CREDITS))
            .await
            .expect("account");
        let key = store
            .create_key(NewKey::new(&account, ["scans:write"]))
            .await
            .expect("key");
        keys.push(HeaderValue::from_str(key.secret()).expect("header"));
        ids.push(account);
    }
    let handler = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    });
    let gate = Gatekeeper::new(store.clone());
    let route = match cost {
        Some(cost) => gate.route().scope("scans:write").cost(cost),
        None => gate.route().scope("scans:write"),
    };
    let svc = route.layer(handler);
    // Warm the key cache (one charged request per account).
    for header in &keys {
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
    }

    let per_client = requests / CLIENTS;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (svc, header) = (svc.clone(), keys[client % accounts].clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_client {
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
    let done = per_client * CLIENTS;
    if let Some(cost) = cost {
        let mut spent = 0;
        for id in &ids {
            spent += CREDITS - store.account(id).await.expect("account").balance();
        }
        let charged = i64::try_from(done + accounts).expect("small");
        assert_eq!(spent, cost * charged, "every request charged exactly once");
    }
    (done as f64 / elapsed.as_secs_f64(), elapsed)
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

async fn case(name: &str, store: &Store) {
    let (rate, t) = run(store, None, 1, AUTH_ONLY_REQUESTS).await;
    println!(
        "{name:<9} auth+scope (cache hit), no charge:       {rate:>10.0} req/s ({:.2}s)",
        t.as_secs_f64()
    );
    let (rate, t) = run(store, Some(1), 1, REQUESTS).await;
    println!(
        "{name:<9} auth+scope+charge, 1 account (hot row): {rate:>10.0} req/s ({:.2}s)",
        t.as_secs_f64()
    );
    let (rate, t) = run(store, Some(1), CLIENTS, REQUESTS).await;
    println!(
        "{name:<9} auth+scope+charge, {CLIENTS} accounts:         {rate:>10.0} req/s ({:.2}s)",
        t.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("{CLIENTS} concurrent clients, 2 worker threads");
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
                    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop.as_str()))
                        .execute(&mut conn)
                        .await;
                }
            }
            Err(_) => eprintln!("skipping postgres: TOLLGATE_TEST_DATABASE_URL is unset"),
        }
    });
}
