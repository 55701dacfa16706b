//! The Redis store against a real Redis (`TOLLGATE_TEST_REDIS_URL`), and
//! against a Redis this test starts and kills (`redis-server` on the PATH).

use std::convert::Infallible;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{Request, Response};
use tollgate_limit::{
    ApiKey, Backend, FailMode, Key, Limiter, Policy, RateLimitLayer, RedisOptions, RedisStore,
    Verdict,
};
use tower::{Service, ServiceBuilder, ServiceExt};

fn redis_url() -> Option<String> {
    let url = std::env::var("TOLLGATE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipping: TOLLGATE_TEST_REDIS_URL is unset");
    }
    url
}

/// A key prefix no other test run shares.
fn prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("tollgate:test:{}:{nanos}:", std::process::id())
}

fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::open(url, RedisOptions::default().prefix(prefix)).unwrap()
}

fn policy(name: &str, quota: u64, window_s: u64) -> Policy {
    Policy::new(name, quota, Duration::from_secs(window_s)).unwrap()
}

/// Any timeout is accepted, however long, without a panic (no Redis needed:
/// the store connects lazily); an IP key is tagged, a text key hashed.
#[tokio::test]
async fn a_huge_timeout_opens_and_ip_keys_are_tagged() {
    let store = RedisStore::open(
        "redis://127.0.0.1:1",
        RedisOptions::default().timeout(Duration::MAX),
    )
    .unwrap();
    let ip = Key::from("2001:db8::1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(
        store.redis_key(&policy("per-ip", 10, 60), &ip),
        "tollgate:rl:{per-ip:ip:2001:db8::1}"
    );
    // A text key (an API key, a secret) is never written into Redis.
    let secret = store.redis_key(&policy("per-key", 10, 60), &Key::from("sk_live_secret"));
    assert!(!secret.contains("sk_live"), "{secret}");
    let digest = secret
        .strip_prefix("tollgate:rl:{per-key:k:")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap();
    assert_eq!(digest.len(), 32);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[tokio::test]
async fn gcra_on_redis_admits_the_burst_then_refuses_with_the_interval() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &prefix());
    let p = policy("per-key", 5, 60);
    let key = Key::from("alice");
    for i in 0..5 {
        let d = store.check(&p, &key, 1).await.unwrap();
        assert!(d.is_allowed(), "call {i}");
        assert_eq!(d.remaining(), 4 - i);
    }
    let d = store.check(&p, &key, 1).await.unwrap();
    assert!(!d.is_allowed());
    assert_eq!(d.remaining(), 0);
    let wait = d.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(11) && wait <= Duration::from_secs(12),
        "{wait:?}"
    );
    assert!(
        d.reset() > Duration::from_secs(59) && d.reset() <= Duration::from_secs(60),
        "{:?}",
        d.reset()
    );
    // Peek records nothing; another key is untouched.
    assert!(!store.peek(&p, &key, 1).await.unwrap().is_allowed());
    assert!(
        store
            .check(&p, &Key::from("bob"), 1)
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn weighted_cost_refund_and_impossible_cost() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &prefix());
    let p = policy("p", 10, 60);
    let key = Key::from("k");
    assert_eq!(store.check(&p, &key, 7).await.unwrap().remaining(), 3);
    let refused = store.check(&p, &key, 4).await.unwrap();
    assert!(!refused.is_allowed());
    assert_eq!(refused.remaining(), 3);
    store.refund(&p, &key, 7).await.unwrap();
    assert_eq!(store.peek(&p, &key, 1).await.unwrap().remaining(), 9);
    let never = store.check(&p, &key, 11).await.unwrap();
    assert!(!never.is_allowed());
    assert_eq!(never.retry_after(), None);
    // A cost far past the quota (its increment past what the script's doubles
    // and answer hold) is refused with what the caller has used still told.
    assert_eq!(store.check(&p, &key, 2).await.unwrap().remaining(), 8);
    let huge = store.check(&p, &key, u64::MAX / 2).await.unwrap();
    assert!(!huge.is_allowed());
    assert_eq!((huge.remaining(), huge.retry_after()), (8, None));
}

/// A key of the store's that holds another type (another application's
/// value under the prefix, an operator's mistake) counts as a fresh caller
/// and is taken over; it does not fail the decisions batched with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_type_is_a_fresh_caller() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &prefix());
    let p = policy("per-key", 5, 60);
    let (foreign, other) = (Key::from("foreign"), Key::from("other"));
    let mut admin = admin_at(&url).await;
    let () = redis::cmd("HSET")
        .arg(store.redis_key(&p, &foreign))
        .arg("x")
        .arg(1)
        .query_async(&mut admin)
        .await
        .unwrap();
    // Together, so that they may share one script call.
    let (a, b) = tokio::join!(store.check(&p, &foreign, 1), store.check(&p, &other, 1));
    assert_eq!(a.unwrap().remaining(), 4);
    assert_eq!(b.unwrap().remaining(), 4);
    assert_eq!(store.check(&p, &foreign, 1).await.unwrap().remaining(), 3);
}

/// A value of the script's length and format byte that the script did not
/// write, holding numbers that are not finite (NaN, infinities), is a fresh
/// caller too: a NaN arrival time used to refuse every call with a wait of
/// 584 years and never expire (no comparison with NaN holds).
#[tokio::test]
async fn a_value_with_numbers_that_are_not_finite_is_a_fresh_caller() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &prefix());
    let p = policy("per-key", 5, 60);
    let mut admin = admin_at(&url).await;
    let forged = |tat: f64, deadline: f64| {
        let mut value = vec![1u8];
        value.extend(tat.to_be_bytes());
        value.extend(deadline.to_be_bytes());
        value
    };
    for (i, (tat, deadline)) in [
        (f64::NAN, f64::NAN),
        (f64::NAN, 0.0),
        (0.0, f64::NAN),
        (0.0, f64::INFINITY),
        (f64::NEG_INFINITY, f64::INFINITY),
    ]
    .into_iter()
    .enumerate()
    {
        let key = Key::from(format!("forged-{i}"));
        let name = store.redis_key(&p, &key);
        let () = redis::cmd("SET")
            .arg(&name)
            .arg(forged(tat, deadline))
            .query_async(&mut admin)
            .await
            .unwrap();
        let d = store.check(&p, &key, 1).await.unwrap();
        assert!(d.is_allowed(), "{tat} {deadline}");
        assert_eq!(d.remaining(), 4, "{tat} {deadline}");
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&name)
            .query_async(&mut admin)
            .await
            .unwrap();
        assert!(pttl > 0, "{tat} {deadline}: the key expires ({pttl})");
        assert_eq!(store.check(&p, &key, 1).await.unwrap().remaining(), 3);
    }
}

/// A policy tightened under the same name (or Redis's clock stepping back)
/// leaves a caller's stored arrival time far ahead: it counts as a spent
/// burst of the new policy, not as hours of debt.
#[tokio::test]
async fn a_tightened_policy_locks_out_for_its_own_window_at_most() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &prefix());
    let key = Key::from("k");
    let hourly = policy("per-ip", 1000, 3600);
    assert!(store.check(&hourly, &key, 1000).await.unwrap().is_allowed());
    let tighter = policy("per-ip", 100, 60);
    let d = store.check(&tighter, &key, 1).await.unwrap();
    assert!(!d.is_allowed());
    let wait = d.retry_after().unwrap();
    assert!(wait <= Duration::from_millis(600), "{wait:?}");
    assert!(d.reset() <= Duration::from_secs(60), "{:?}", d.reset());
    // The wait told is the wait: once it is over, a call is admitted.
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert!(store.check(&tighter, &key, 1).await.unwrap().is_allowed());
}

#[tokio::test]
async fn keys_expire_when_idle_and_are_hash_tagged() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let store = store(&url, &prefix);
    // 10 per 60 s: each call owes 6 s; the tolerance (the horizon) is 60 s.
    let p = policy("short", 10, 60);
    let name = store.redis_key(&p, &Key::from("k"));
    // The key's SHA-256 (first 128 bits), inside the hash tag.
    assert_eq!(
        name,
        format!("{prefix}{{short:k:8254c329a92850f6d539dd376f4816ee}}")
    );
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut pttl = async || -> i64 {
        redis::cmd("PTTL")
            .arg(&name)
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    store.check(&p, &Key::from("k"), 1).await.unwrap();
    let first = pttl().await;
    assert!(
        (65_000..=66_001).contains(&first),
        "the key expires a horizon (60 s) after its debt (6 s) is paid: {first} ms"
    );
    // Later calls within the deadline keep the expiry as it is.
    for _ in 0..3 {
        store.check(&p, &Key::from("k"), 1).await.unwrap();
    }
    let kept = pttl().await;
    assert!(kept <= first && kept > first - 1000, "{first} → {kept} ms");
    // A refund of every call deletes the key.
    for _ in 0..4 {
        store.refund(&p, &Key::from("k"), 1).await.unwrap();
    }
    assert_eq!(pttl().await, -2, "no key left once nothing is owed");
}

/// Concurrent decisions stay exact whatever the batch size: each key admits
/// exactly its quota, while the same key may come twice in one batch and a
/// request's two policies may travel together. (That batches form is
/// measured by the `redis_compare` example, which reports decisions a call.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_decisions_stay_exact_at_every_batch_size() {
    let Some(url) = redis_url() else { return };
    for max_batch in [1, 3, tollgate_limit::DEFAULT_MAX_BATCH] {
        let prefix = prefix();
        let store = RedisStore::open(
            &url,
            RedisOptions::default().prefix(&prefix).max_batch(max_batch),
        )
        .unwrap();
        let per_key = policy("per-key", 7, 3600);
        let per_ip = policy("per-ip", 30, 3600);
        let calls = (0..200).map(|i| {
            let (store, per_key, per_ip) = (store.clone(), per_key.clone(), per_ip.clone());
            async move {
                let (key, ip) = (Key::from(format!("k{}", i % 5)), Key::from("10.0.0.1"));
                let (a, b) =
                    tokio::join!(store.check(&per_key, &key, 1), store.check(&per_ip, &ip, 1));
                (i % 5, a.unwrap().is_allowed(), b.unwrap().is_allowed())
            }
        });
        let results = futures_util::future::join_all(calls).await;
        for k in 0..5 {
            let admitted = results
                .iter()
                .filter(|(key, ok, _)| *key == k && *ok)
                .count();
            assert_eq!(admitted, 7, "key k{k}, max_batch {max_batch}");
        }
        let by_ip = results.iter().filter(|(_, _, ok)| *ok).count();
        assert_eq!(by_ip, 30, "max_batch {max_batch}");
    }
}

/// Hammers one key at ten times its rate from several tasks on two limiter
/// instances; the admitted count is what GCRA allows, never more.
/// `TOLLGATE_EXACTNESS_SECS` sets the duration (default 3; the benchmark
/// report runs 30).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactness_under_ten_times_the_quota() {
    let Some(url) = redis_url() else { return };
    let secs: u64 = std::env::var("TOLLGATE_EXACTNESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let prefix = prefix();
    // 20 calls per second: T = 50 ms. Eight tasks each call every 40 ms: 200/s.
    let p = policy("exact", 20, 1);
    let stores = [store(&url, &prefix), store(&url, &prefix)];
    let key = Key::from("hot");
    let admitted = Arc::new(AtomicU64::new(0));
    let attempts = Arc::new(AtomicU64::new(0));
    // Redis's TIME decides; the elapsed time measured here, which starts
    // before the first call and ends after the last, can only widen the bound.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = stores[i % 2].clone();
        let (p, key, admitted, attempts) =
            (p.clone(), key.clone(), admitted.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(40));
            let mut sent = Vec::new();
            while Instant::now() < deadline {
                tick.tick().await;
                attempts.fetch_add(1, Ordering::Relaxed);
                sent.push(Instant::now());
                if store.check(&p, &key, 1).await.unwrap().is_allowed() {
                    admitted.fetch_add(1, Ordering::Relaxed);
                }
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for task in tasks {
        sent.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    let admitted = admitted.load(Ordering::Relaxed);
    let interval = p.emission_interval();
    // burst + one call per interval elapsed, +1 for the call at the boundary.
    let max = 20 + (elapsed.as_nanos() / interval.as_nanos()) as u64 + 1;
    // At least burst + one call per interval up to the last attempt, less
    // what no call could take: a gap between attempts (the tasks starved
    // on a loaded machine) longer than the burst refills lets the rest go.
    sent.sort();
    let refill = interval * 20;
    let unused: Duration = sent
        .windows(2)
        .map(|w| (w[1] - w[0]).saturating_sub(refill))
        .sum();
    let offered = sent.last().map_or(Duration::ZERO, |last| *last - start) - unused;
    let min = 20 + ((offered.as_nanos() / interval.as_nanos()) as u64).saturating_sub(2);
    eprintln!(
        "exactness: {secs} s, {} attempts, {admitted} admitted, GCRA allows at most {max}",
        attempts.load(Ordering::Relaxed)
    );
    assert!(admitted <= max, "over-admission: {admitted} > {max}");
    assert!(admitted >= min, "under-admission: {admitted} < {min}");
}

fn layer_service(
    limiter: Limiter,
) -> impl Service<Request<()>, Response = Response<Vec<u8>>, Error = Infallible> + Clone {
    ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter))
        .service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(b"ok".to_vec()))
        })
}

#[tokio::test]
async fn the_layer_over_redis_refuses_with_429_and_headers() {
    let Some(url) = redis_url() else { return };
    let RedisBackend(backend) = RedisBackend::new(&url, &prefix());
    let limiter = Limiter::builder()
        .policy(policy("per-key", 2, 60), ApiKey::bearer())
        .policy(policy("per-tenant", 100, 60), |_: &http::request::Parts| {
            Some(Key::from("tenant-1"))
        })
        .backend(backend)
        .build();
    let limiter = Arc::new(limiter);
    let mut svc = layer_service_arc(limiter.clone());
    let request = || {
        Request::builder()
            .header("authorization", "Bearer k")
            .body(())
            .unwrap()
    };
    for _ in 0..2 {
        let ok = svc.ready().await.unwrap().call(request()).await.unwrap();
        assert_eq!(ok.status(), 200);
        assert!(
            ok.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(r#""per-key";r="#)
        );
    }
    let refused = svc.ready().await.unwrap().call(request()).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "30");
    assert_eq!(
        refused.headers()["ratelimit-policy"],
        r#""per-key";q=2;w=60, "per-tenant";q=100;w=60"#
    );
    // The refused call was given back to the tenant policy.
    let (parts, ()) = Request::new(()).into_parts();
    let outcome = limiter.peek(&parts).await;
    let tenant = outcome
        .decisions()
        .find(|(p, _)| p.name() == "per-tenant")
        .unwrap()
        .1;
    assert_eq!(
        tenant.remaining(),
        97,
        "two recorded, the refused one given back, the peeked one counted"
    );
}

fn layer_service_arc(
    limiter: Arc<Limiter>,
) -> impl Service<Request<()>, Response = Response<Vec<u8>>, Error = Infallible> + Clone {
    ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter))
        .service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(b"ok".to_vec()))
        })
}

struct RedisBackend(Backend);

impl RedisBackend {
    fn new(url: &str, prefix: &str) -> RedisBackend {
        RedisBackend(Backend::Redis(store(url, prefix)))
    }
}

/// A redis-server of our own, on a free port, that the test may kill.
struct OwnRedis {
    child: Option<Child>,
    port: u16,
    /// Its working directory, where a replica keeps what it receives.
    _dir: tempfile::TempDir,
}

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        OwnRedis::start_with(port, &[])
    }

    /// Starts `redis-server` with `extra` arguments after the usual ones.
    fn start_with(port: u16, extra: &[String]) -> Option<OwnRedis> {
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ])
            .args(extra);
        OwnRedis::spawn(command, port)
    }

    /// Runs `command`, a server that listens on `port`, until it does.
    fn spawn(mut command: Command, port: u16) -> Option<OwnRedis> {
        let dir = tempfile::tempdir().ok()?;
        let child = command
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let own = OwnRedis {
            child: Some(child),
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(own)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` distinct free ports, none handed out before in this process: tests
/// run in parallel, and a port given to one whose server has not bound it
/// yet looks free to the next, whose admin connection then reached the
/// other's server (once, a sentinel test's, refused its password).
fn free_ports<const N: usize>() -> [u16; N] {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap();
    // Every listener is held until all are chosen, so that the system does
    // not offer one of its ports again.
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(N);
    while ports.len() < N {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if given.insert(port) {
            ports.push(port);
        }
        held.push(listener);
    }
    ports.try_into().unwrap()
}

/// A connection of a test's own to its Redis.
type Admin = redis::aio::MultiplexedConnection;

/// An [`Admin`] connection to `url`, patient enough for a machine busy with
/// other tests (redis's defaults give up after a second).
async fn admin_at(url: &str) -> Admin {
    let patient = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(Some(Duration::from_secs(10)));
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .unwrap()
}

/// A Redis of the test's own, a store on it after one decision on key `k`
/// of policy `own` (10 per hour; so the script is loaded), and an admin
/// connection to that Redis. `None` (and a notice) without Redis tests or
/// `redis-server`.
async fn warm_own_store(timeout: Duration) -> Option<(OwnRedis, RedisStore, Policy, Key, Admin)> {
    redis_url()?;
    let Some(own) = OwnRedis::start(free_port()) else {
        eprintln!("skipping: no redis-server on the PATH");
        return None;
    };
    let store = RedisStore::open(&own.url(), RedisOptions::default().timeout(timeout)).unwrap();
    let (p, key) = (policy("own", 10, 3600), Key::from("k"));
    // Connected and the script loaded by peeks (which charge nothing)
    // before the store's own short timeout is counted on: a loaded machine
    // may take longer than it for the first call to a Redis just started.
    let connecting = Instant::now() + Duration::from_secs(10);
    while store.peek(&p, &key, 1).await.is_err() {
        assert!(
            Instant::now() < connecting,
            "no answer from the test's Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.check(&p, &key, 1).await.unwrap().remaining(), 9);
    let client = redis::Client::open(own.url().as_str()).unwrap();
    let admin = client.get_multiplexed_async_connection().await.unwrap();
    Some((own, store, p, key, admin))
}

/// [`warm_own_store`], with every client of that Redis then paused for
/// `pause_ms`.
async fn paused_store(
    timeout: Duration,
    pause_ms: u64,
) -> Option<(OwnRedis, RedisStore, Policy, Key)> {
    let (own, store, p, key, mut admin) = warm_own_store(timeout).await?;
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(pause_ms)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    Some((own, store, p, key))
}

/// A caller that gives up while its decision waits in the queue (here: its
/// task is aborted while Redis is paused) is neither decided nor recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_give_up_in_the_queue_are_not_recorded() {
    // Paused long enough for the steps below on a loaded machine.
    let Some((_own, store, p, key)) = paused_store(Duration::from_secs(5), 1500).await else {
        return;
    };
    let sender = tokio::spawn({
        let (store, p, key) = (store.clone(), p.clone(), key.clone());
        async move { store.check(&p, &key, 1).await.unwrap().remaining() }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Three callers wait (with a call on its way, four waiting would start
    // another call), then give up.
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let (store, p, key) = (store.clone(), p.clone(), key.clone());
            tokio::spawn(async move { store.check(&p, &key, 1).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for task in &queued {
        task.abort();
    }
    assert_eq!(sender.await.unwrap(), 8, "the call on its way was decided");
    let after = store.peek(&p, &key, 1).await.unwrap();
    assert_eq!(
        after.remaining(),
        7,
        "the abandoned calls were not recorded"
    );
}

/// A server other than Redis at the URL's port (here one that answers as a
/// web server does) is an answer that cannot be read, told apart from a
/// timeout or a refused connection (no Redis needed).
#[tokio::test]
async fn an_answer_that_is_not_redis_is_a_parse_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let web = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = web.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = web.accept().await {
            tokio::spawn(async move {
                let mut request = [0; 1024];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            });
        }
    });
    let store = store(&format!("redis://127.0.0.1:{port}"), &prefix());
    let error = store
        .peek(&policy("p", 1, 1), &Key::from("k"), 1)
        .await
        .unwrap_err();
    assert!(error.is_parse(), "{error}");
    assert!(!error.is_timeout(), "{error}");
}

/// A server that takes the connection and closes it without an answer (as
/// Postgres does with a command it cannot read) is told apart from one that
/// refuses the connection (no Redis needed).
#[tokio::test]
async fn a_server_that_hangs_up_is_told_from_one_that_refuses() {
    use tokio::io::AsyncReadExt;
    let hangs_up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = hangs_up.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = hangs_up.accept().await {
            let _ = stream.read(&mut [0; 64]).await;
        }
    });
    let (p, key) = (policy("p", 1, 1), Key::from("k"));
    let other = store(&format!("redis://127.0.0.1:{port}"), &prefix());
    let error = other.peek(&p, &key, 1).await.unwrap_err();
    assert!(error.is_hung_up(), "{error}");
    assert!(!error.is_parse() && !error.is_timeout(), "{error}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let nothing = store(&format!("redis://127.0.0.1:{closed_port}"), &prefix());
    let error = nothing.peek(&p, &key, 1).await.unwrap_err();
    assert!(!error.is_hung_up(), "refused: {error}");
}

/// A caller that gives up while sending its own call (a timeout while Redis
/// is paused) leaves the call to a task, which gives the call slot back once
/// the call ends: the decisions after that are sent and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_times_out_frees_its_slot() {
    let Some((_own, store, p, key)) = paused_store(Duration::from_millis(100), 300).await else {
        return;
    };
    let error = store.check(&p, &key, 1).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    for call in 0..3 {
        let again = store.check(&p, &key, 1).await;
        assert!(
            again.is_ok(),
            "call {call}: the slot was given back: {:?}",
            again.err()
        );
    }
}

/// A caller whose timeout fires while its call is on its way is told the
/// store failed; when Redis answers later (here: paused for 450 ms, past the
/// caller's 300 ms and within the connection's 600 ms) and admitted it, the
/// charge is given back, so a request that failed costs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_timed_out_is_not_charged() {
    let Some((_own, store, p, key)) = paused_store(Duration::from_millis(300), 450).await else {
        return;
    };
    let error = store.check(&p, &key, 1).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    // The warm-up took one of ten, and a check now would take another: 8
    // left after it. The timed-out call took one more (7) and gives it back
    // once answered.
    peek_until(&store, &p, &key, 8, "not refunded").await;
}

/// Peeks until `key` has `remaining` calls left after one more, for up to
/// 5 s (a peek while Redis is still paused times out, and is tried again).
async fn peek_until(store: &RedisStore, p: &Policy, key: &Key, remaining: u64, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = store.peek(p, key, 1).await.map(|d| d.remaining());
        if left.as_ref().ok() == Some(&remaining) {
            return;
        }
        assert!(Instant::now() < deadline, "{left:?} left: {why}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A refund waiting in the queue is sent though its caller has gone (a
/// request dropped while it gave its charges back): it is owed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_refund_is_sent_after_its_caller_has_gone() {
    let Some((_own, store, p, key, mut admin)) = warm_own_store(Duration::from_secs(5)).await
    else {
        return;
    };
    assert_eq!(store.check(&p, &key, 1).await.unwrap().remaining(), 8);
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    // A call on its way (another key), then the refund waits behind it.
    let on_its_way = tokio::spawn({
        let (store, p) = (store.clone(), p.clone());
        async move { store.check(&p, &Key::from("other"), 1).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refund = tokio::spawn({
        let (store, p, key) = (store.clone(), p.clone(), key.clone());
        async move { store.refund(&p, &key, 1).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    refund.abort();
    assert!(on_its_way.await.unwrap().is_ok());
    // One call of ten left standing (the warm-up's): 8 after a check.
    peek_until(&store, &p, &key, 8, "the refund was dropped").await;
}

/// A caller that sends a call carrying other callers' decisions and then
/// gives up (its task aborted while Redis is paused) leaves the call going:
/// the others in it are answered, not cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_gives_up_still_answers_the_others_in_its_call() {
    // Paused long enough for the steps below on a loaded machine.
    let Some((_own, store, p, _)) = paused_store(Duration::from_secs(5), 1500).await else {
        return;
    };
    let spawn_check = |key: &'static str| {
        let (store, p) = (store.clone(), p.clone());
        tokio::spawn(async move { store.check(&p, &Key::from(key), 1).await })
    };
    // The first decision goes alone; with one call on its way, three more
    // wait and the fifth opens a call for all four, sent by its own caller.
    let first = spawn_check("a");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting: Vec<_> = ["b", "c", "d"].into_iter().map(spawn_check).collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sender = spawn_check("e");
    tokio::time::sleep(Duration::from_millis(50)).await;
    sender.abort();
    assert!(first.await.unwrap().is_ok());
    for (key, task) in ["b", "c", "d"].into_iter().zip(waiting) {
        assert_eq!(
            task.await.unwrap().map(|d| d.remaining()).ok(),
            Some(9),
            "{key} was decided"
        );
    }
}

/// Many callers, a third of them giving up at arbitrary moments (queued,
/// sending, or waiting for an answer): every caller that stays is answered,
/// and afterwards a lone decision still is, which it would not be if a
/// call slot had leaked (it would wait for a call that never comes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_giving_up_at_random_leave_no_call_slot_behind() {
    let Some(url) = redis_url() else { return };
    let store = RedisStore::open(
        &url,
        RedisOptions::default()
            .prefix(&prefix())
            .timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let p = policy("churn", 1_000_000, 1);
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let (store, p) = (store.clone(), p.clone());
            tokio::spawn(async move {
                // A small deterministic generator picks who gives up, when.
                let mut seed = t
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let mut answered = 0;
                for i in 0..50u64 {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let key = Key::from(format!("k{}", (t * 50 + i) % 97));
                    let check = store.check(&p, &key, 1);
                    if (seed >> 33) % 3 == 0 {
                        let patience = Duration::from_micros((seed >> 40) % 300);
                        let _ = tokio::time::timeout(patience, check).await;
                    } else {
                        check.await.unwrap();
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for task in tasks {
        answered += task.await.unwrap();
    }
    assert!(answered > 1_500, "{answered} decisions answered");
    let lone = tokio::time::timeout(
        Duration::from_secs(1),
        store.check(&p, &Key::from("after"), 1),
    )
    .await;
    assert!(
        matches!(lone, Ok(Ok(ref d)) if d.is_allowed()),
        "a lone decision after the churn: {lone:?}"
    );
}

/// A lone decision's call is sent by its caller, on the caller's own task:
/// no task is spawned for it (a hop to another task would cost every
/// decision a wake-up). The runtime has one thread, so a task spawned during
/// the first poll is still alive when they are counted.
#[tokio::test]
async fn a_lone_decision_is_sent_on_its_callers_own_task() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &prefix());
    let (p, key) = (policy("p", 10, 60), Key::from("k"));
    // The first call makes the connection, and the tasks that drive it.
    assert_eq!(store.check(&p, &key, 1).await.unwrap().remaining(), 9);
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let mut check = std::pin::pin!(store.check(&p, &key, 1));
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(check.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "answered before Redis was asked");
    assert_eq!(metrics.num_alive_tasks(), before, "a task took the call");
    assert_eq!(check.await.unwrap().remaining(), 8);
}

/// A limiter's check of one policy on Redis is its lone decision, sent on
/// its caller's own task as the store sends it: only a check of several
/// policies takes a task of its own. The runtime has one thread, so a task
/// spawned during the first poll is still alive when they are counted.
#[tokio::test]
async fn a_limiters_check_of_one_policy_on_redis_spawns_no_task() {
    let Some(url) = redis_url() else { return };
    let limiter = Limiter::builder()
        .policy(policy("per-key", 10, 60), ApiKey::presented())
        .backend(Backend::Redis(store(&url, &prefix())))
        .build();
    let (parts, ()) = Request::builder()
        .header("x-api-key", "k")
        .body(())
        .unwrap()
        .into_parts();
    let remaining = |outcome: &tollgate_limit::Outcome| {
        outcome
            .decisions()
            .map(|(_, d)| d.remaining())
            .collect::<Vec<_>>()
    };
    // The first check makes the connection, and the tasks that drive it.
    assert_eq!(remaining(&limiter.check(&parts).await), [9]);
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let mut check = std::pin::pin!(limiter.check(&parts));
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(check.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "answered before Redis was asked");
    assert_eq!(metrics.num_alive_tasks(), before, "a task took the check");
    assert_eq!(remaining(&check.await), [8]);
}

/// The benchmarks' plain `SET` writes its key on the store's connection.
#[tokio::test]
async fn the_benchmarks_plain_set_writes_its_key() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let store = store(&url, &prefix);
    let key = format!("{prefix}plain");
    store.plain_set(&key).await.unwrap();
    let mut admin = admin_at(&url).await;
    let value: Option<String> = redis::cmd("GETDEL")
        .arg(&key)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("1"));
}

/// After Redis forgets its scripts (`SCRIPT FLUSH`, or a restart), the next
/// decision loads the script again and is decided, not failed.
#[tokio::test]
async fn a_flushed_script_is_loaded_again() {
    let Some((_own, store, p, key, mut admin)) = warm_own_store(Duration::from_millis(500)).await
    else {
        return;
    };
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(store.check(&p, &key, 1).await.unwrap().remaining(), 8);
}

/// A request one policy refuses gives back what the others took, though it
/// is dropped part-way (its client gone): the check runs to its end on a
/// task of its own. Its two decisions go in two calls (the second waits for
/// the first), so a request dropped between the answers used to keep the
/// first policy's charge. Dropped at many moments, none leaves one behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_dropped_part_way_leaves_no_charge() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &prefix());
    // A call of each comes back after 10 days: nothing is restored meanwhile.
    let (per_key, per_ip) = (
        policy("per-key", 1000, 864_000),
        policy("per-ip", 1, 864_000),
    );
    let limiter = Arc::new(
        Limiter::builder()
            .policy(per_key.clone(), |_: &http::request::Parts| {
                Some(Key::from("k"))
            })
            .policy(per_ip, |_: &http::request::Parts| Some(Key::from("ip")))
            .backend(Backend::Redis(store.clone()))
            .build(),
    );
    let parts = || Request::new(()).into_parts().0;
    // The per-ip call is spent: every request from now on is refused.
    assert!(limiter.check(&parts()).await.is_allowed());
    let left = || async {
        store
            .peek(&per_key, &Key::from("k"), 1)
            .await
            .unwrap()
            .remaining()
    };
    let before = left().await;
    for i in 0..400 {
        let task = tokio::spawn({
            let limiter = Arc::clone(&limiter);
            async move { limiter.check(&parts()).await }
        });
        // A moment that sweeps through the decisions' round trips.
        let start = Instant::now();
        while start.elapsed() < Duration::from_micros(i % 400) {
            std::hint::spin_loop();
        }
        task.abort();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(left().await, before, "refused requests kept a charge");
}

/// A TCP proxy on a free port that sends each new connection to the Redis
/// whose port it holds at that moment: an address (a DNS name, a virtual
/// IP, a Kubernetes service) that a failover moves to the new primary.
struct Proxy {
    port: u16,
    target: Arc<AtomicU16>,
    silence: tokio::sync::watch::Sender<u64>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(target));
        let (silence, silenced) = tokio::sync::watch::channel(0);
        let to = Arc::clone(&target);
        let accepting = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let port = to.load(Ordering::SeqCst);
                let mut silenced = silenced.clone();
                silenced.borrow_and_update();
                tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                    {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            // Open, and carrying nothing, for as long as the test runs.
                            _ = silenced.changed() => std::future::pending::<()>().await,
                        }
                    }
                });
            }
        });
        Proxy {
            port,
            target,
            silence,
            accepting,
        }
    }

    /// Sends new connections to the Redis on `port`; open ones stay.
    fn point_to(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    /// The connections open now stay open and carry nothing more, as to a
    /// host that went away without a word; new ones are carried.
    fn silence_open_connections(&self) {
        self.silence.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// A failover behind one address: the old primary, now a replica, keeps the
/// store's connection open and answers `READONLY` to every admission. The
/// store answers that decision with the error (the fail mode applies), drops
/// the connection, and decides the next one on the new primary, through the
/// same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_behind_one_address_reaches_the_new_primary() {
    failover_behind_one_address(false).await;
}

/// The same, when the old primary came back without its scripts (a restart):
/// the script is loaded again, and it is the retried call that is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_old_primary_without_scripts_reaches_the_new_primary() {
    failover_behind_one_address(true).await;
}

async fn failover_behind_one_address(flush_scripts: bool) {
    if redis_url().is_none() {
        return;
    }
    let [old_port, new_port] = free_ports();
    let (Some(old), Some(new)) = (OwnRedis::start(old_port), OwnRedis::start(new_port)) else {
        eprintln!("skipping: redis-server could not be started");
        return;
    };
    let proxy = Proxy::start(old_port).await;
    let url = format!("redis://127.0.0.1:{}", proxy.port);
    let store = RedisStore::open(
        &url,
        RedisOptions::default().timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let (p, key) = (policy("failover", 1000, 60), Key::from("k"));
    assert!(store.check(&p, &key, 1).await.unwrap().is_allowed());

    let mut old_admin = admin_at(&old.url()).await;
    let () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(new_port)
        .query_async(&mut old_admin)
        .await
        .unwrap();
    if flush_scripts {
        let () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut old_admin)
            .await
            .unwrap();
    }
    proxy.point_to(new_port);

    let error = store
        .check(&p, &key, 1)
        .await
        .expect_err("the demoted primary refuses the admission");
    let message = error.to_string();
    assert!(message.contains("read only replica"), "{message}");
    assert!(message.contains("reconnecting"), "{message}");
    let decision = store
        .check(&p, &key, 1)
        .await
        .expect("the next decision is made on the new primary");
    assert!(decision.is_allowed());
    let mut new_admin = admin_at(&new.url()).await;
    let keys: u64 = redis::cmd("DBSIZE")
        .query_async(&mut new_admin)
        .await
        .unwrap();
    assert_eq!(keys, 1, "the decision was recorded on the new primary");
}

/// A server gone without a word (a host powered off, a partition): its
/// connection carries nothing and only ever times out. The store makes a new
/// connection and decides again within a few timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_gone_silent_is_replaced() {
    if redis_url().is_none() {
        return;
    }
    let Some(own) = OwnRedis::start(free_port()) else {
        eprintln!("skipping: redis-server could not be started");
        return;
    };
    let proxy = Proxy::start(own.port).await;
    let url = format!("redis://127.0.0.1:{}", proxy.port);
    let timeout = Duration::from_millis(200);
    let store = RedisStore::open(&url, RedisOptions::default().timeout(timeout)).unwrap();
    let (p, key) = (policy("silent", 1000, 60), Key::from("k"));
    assert!(store.check(&p, &key, 1).await.unwrap().is_allowed());

    proxy.silence_open_connections();
    let silenced = Instant::now();
    let error = store.check(&p, &key, 1).await.expect_err("nothing answers");
    assert!(error.to_string().contains("no answer"), "{error}");
    let decided_again = loop {
        if store.check(&p, &key, 1).await.is_ok() {
            break silenced.elapsed();
        }
        assert!(
            silenced.elapsed() < Duration::from_secs(10),
            "still no decision 10 s after the connection went silent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("decided again {decided_again:?} after the connection went silent");
}

/// Kills Redis mid-run: the fail mode holds (503 closed, admitted open), no
/// panic, and decisions resume within a second of Redis coming back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_fails_as_configured_and_recovers() {
    let port = free_port();
    let Some(mut redis) = OwnRedis::start(port) else {
        eprintln!("skipping: redis-server could not be started");
        return;
    };
    let url = redis.url();
    let make = |mode: FailMode| {
        let backend = Backend::Redis(
            RedisStore::open(
                &url,
                RedisOptions::default().timeout(Duration::from_millis(200)),
            )
            .unwrap(),
        );
        let limiter = Limiter::builder()
            .policy(policy("per-key", 1000, 60), ApiKey::bearer())
            .backend(backend)
            .fail_mode(mode);
        layer_service(limiter.build())
    };
    let mut closed = make(FailMode::CLOSED);
    let mut open = make(FailMode::Open);
    let request = || {
        Request::builder()
            .header("authorization", "Bearer k")
            .body(())
            .unwrap()
    };
    async fn status<S>(svc: &mut S, request: Request<()>) -> u16
    where
        S: Service<Request<()>, Response = Response<Vec<u8>>, Error = Infallible>,
    {
        svc.ready()
            .await
            .unwrap()
            .call(request)
            .await
            .unwrap()
            .status()
            .as_u16()
    }
    assert_eq!(status(&mut closed, request()).await, 200);
    assert_eq!(status(&mut open, request()).await, 200);

    redis.kill();
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(status(&mut closed, request()).await, 503);
        let response = open.ready().await.unwrap().call(request()).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers().get("ratelimit").is_none(),
            "failing open skips the policy"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a failure is answered within the timeout"
        );
    }

    let _back = OwnRedis::start(port).expect("redis-server restarts");
    let restarted = Instant::now();
    loop {
        if status(&mut closed, request()).await == 200 {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(1),
            "no recovery within a second of Redis returning"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("recovered {:?} after Redis came back", restarted.elapsed());
    // The open limiter decides again too (over a connection of its own,
    // which may come back a moment later): its answers carry the fields.
    loop {
        let response = open.ready().await.unwrap().call(request()).await.unwrap();
        if response.headers().get("ratelimit").is_some() {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(1),
            "the open limiter did not decide again within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The password of an [`OwnSentinel`]'s primary and replica, and as a URL
/// writes it.
const SERVICE_PASSWORD: (&str, &str) = ("p@ss", "p%40ss");

/// The password of an [`OwnSentinel`]'s sentinel, and as a URL writes it.
const SENTINEL_PASSWORD: (&str, &str) = ("s&nt", "s%26nt");

/// A Redis Sentinel service of the test's own, `svc`: a primary, its
/// replica (both with [`SERVICE_PASSWORD`]), and one sentinel (quorum 1,
/// [`SENTINEL_PASSWORD`]) in a directory of its own (a sentinel rewrites its
/// configuration file).
struct OwnSentinel {
    primary: OwnRedis,
    replica: OwnRedis,
    sentinel: OwnRedis,
    _dir: tempfile::TempDir,
}

impl OwnSentinel {
    /// Started, with the replica in sync and known to the sentinel; `None`
    /// (and a notice) without Redis tests or `redis-server`.
    async fn start() -> Option<OwnSentinel> {
        redis_url()?;
        let started = OwnSentinel::start_servers().await;
        if started.is_none() {
            eprintln!("skipping: redis-server could not be started");
        }
        started
    }

    async fn start_servers() -> Option<OwnSentinel> {
        let [primary_port, replica_port, sentinel_port] = free_ports();
        let ((password, _), (sentinel_password, _)) = (SERVICE_PASSWORD, SENTINEL_PASSWORD);
        let auth = ["--requirepass", password, "--masterauth", password].map(String::from);
        let primary = OwnRedis::start_with(primary_port, &auth)?;
        let mut replica_args = auth.to_vec();
        replica_args.extend([
            "--replicaof".into(),
            "127.0.0.1".into(),
            primary_port.to_string(),
        ]);
        let replica = OwnRedis::start_with(replica_port, &replica_args)?;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\n\
                 sentinel monitor svc 127.0.0.1 {primary_port} 1\n\
                 sentinel auth-pass svc {password}\n\
                 requirepass {sentinel_password}\n\
                 sentinel down-after-milliseconds svc 1000\n\
                 sentinel failover-timeout svc 5000\n"
            ),
        )
        .unwrap();
        let mut command = Command::new("redis-server");
        command.arg(&config).arg("--sentinel");
        let sentinel = OwnRedis::spawn(command, sentinel_port)?;
        let own = OwnSentinel {
            primary,
            replica,
            sentinel,
            _dir: dir,
        };
        let mut sentinel = own.admin(&own.sentinel).await;
        let mut replica = own.admin(&own.replica).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let known: Vec<redis::Value> = redis::cmd("SENTINEL")
                .arg("REPLICAS")
                .arg("svc")
                .query_async(&mut sentinel)
                .await
                .unwrap();
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut replica)
                .await
                .unwrap();
            if !known.is_empty() && info.contains("master_link_status:up") {
                return Some(own);
            }
            assert!(
                Instant::now() < deadline,
                "the sentinel never saw the replica in sync"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A connection to one of the service's servers.
    async fn admin(&self, own: &OwnRedis) -> Admin {
        if own.port == self.sentinel.port {
            admin_at(&format!(
                "redis://:{}@127.0.0.1:{}",
                SENTINEL_PASSWORD.1, own.port
            ))
            .await
        } else {
            admin_at(&format!(
                "redis://:{}@127.0.0.1:{}",
                SERVICE_PASSWORD.1, own.port
            ))
            .await
        }
    }

    /// Whether `key` is on `own`.
    async fn holds(&self, own: &OwnRedis, key: String) -> bool {
        let mut admin = self.admin(own).await;
        redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut admin)
            .await
            .unwrap()
    }

    /// A store on the service, its decisions timing out after `timeout`.
    fn store(&self, timeout: Duration) -> RedisStore {
        let url = format!(
            "redis+sentinel://:{}@127.0.0.1:{}/svc?sentinel_password={}",
            SERVICE_PASSWORD.1, self.sentinel.port, SENTINEL_PASSWORD.1
        );
        RedisStore::open(&url, RedisOptions::default().timeout(timeout)).unwrap()
    }

    /// The port of the primary the sentinel names now.
    async fn primary_port(&self) -> u16 {
        let mut sentinel = self.admin(&self.sentinel).await;
        let (_host, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg("svc")
            .query_async(&mut sentinel)
            .await
            .unwrap();
        port
    }
}

/// On a Redis Sentinel service, decisions go to the primary the sentinels
/// name, and after a failover to the new one as soon as the sentinel
/// announces it (`+switch-master`), well before the sentinel demotes the old
/// primary, which keeps taking writes until then (its next look at it, up
/// to ten seconds). The store's listener ends with the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_store_follows_the_primary_through_a_failover() {
    let Some(service) = OwnSentinel::start().await else {
        return;
    };
    let store = service.store(Duration::from_millis(500));
    let p = policy("sentinel", 1000, 60);
    let (before, after) = (Key::from("before"), Key::from("after"));
    assert!(store.check(&p, &before, 1).await.unwrap().is_allowed());
    assert!(
        service
            .holds(&service.primary, store.redis_key(&p, &before))
            .await
    );

    let mut sentinel = service.admin(&service.sentinel).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    // Refused while the sentinel does not yet rate the replica promotable.
    while redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg("svc")
        .query_async::<()>(&mut sentinel)
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the sentinel never failed over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while service.primary_port().await != service.replica.port {
        assert!(
            Instant::now() < deadline,
            "the sentinel never named the new primary"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let named = Instant::now();
    let key = store.redis_key(&p, &after);
    loop {
        if store.check(&p, &after, 1).await.is_ok()
            && service.holds(&service.replica, key.clone()).await
        {
            break;
        }
        assert!(
            named.elapsed() < Duration::from_secs(2),
            "no decision on the new primary within 2 s of the sentinel naming it"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "decided on the new primary {:?} after the sentinel named it",
        named.elapsed()
    );

    // The store's listener ends with it: no task or connection left behind.
    let listeners = || async {
        let mut sentinel = service.admin(&service.sentinel).await;
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut sentinel)
            .await
            .unwrap();
        clients.lines().count()
    };
    assert_eq!(listeners().await, 1);
    drop(store);
    let dropped = Instant::now();
    while listeners().await > 0 {
        assert!(
            dropped.elapsed() < Duration::from_secs(2),
            "the listener outlived its store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sentinel that accepts connections and never answers (no Redis needed):
/// asking it gives up within redis's own timeouts (a second to connect,
/// half a second for an answer), whatever the decisions' own timeout, so it
/// does not hold every later call behind the question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_sentinel_is_given_up_on() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "redis+sentinel://127.0.0.1:{}/svc",
        silent.local_addr().unwrap().port()
    );
    let store = RedisStore::open(
        &url,
        RedisOptions::default().timeout(Duration::from_secs(5)),
    )
    .unwrap();
    let started = Instant::now();
    let error = store
        .check(&policy("silent", 10, 60), &Key::from("k"), 1)
        .await
        .unwrap_err();
    assert!(
        !error.is_timeout(),
        "the store's own timeout did not have to fire: {error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A check of several policies waiting on Redis when its runtime shuts down
/// is answered as the store failing: the fail mode's verdict, no decision
/// (no Redis needed: a silent listener stands in for it). The check runs on
/// a task of its own, which the shutdown cancels; the caller here is polled
/// on a thread outside the runtime, as a `block_on` in a test or a CLI is.
#[test]
fn a_check_of_several_policies_cut_off_by_shutdown_fails_as_configured() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = {
        let _inside = runtime.enter();
        RedisStore::open(
            &url,
            RedisOptions::default().timeout(Duration::from_secs(60)),
        )
        .unwrap()
    };
    let closed = FailMode::Closed {
        retry_after: Duration::from_secs(7),
    };
    let limiter = Limiter::builder()
        .policy(policy("per-key", 10, 60), |_: &http::request::Parts| {
            Some(Key::from("k"))
        })
        .policy(policy("per-ip", 10, 60), |_: &http::request::Parts| {
            Some(Key::from("ip"))
        })
        .backend(Backend::Redis(store))
        .fail_mode(closed)
        .build();
    let handle = runtime.handle().clone();
    let caller = std::thread::spawn(move || {
        let parts = Request::new(()).into_parts().0;
        handle.block_on(limiter.check(&parts))
    });
    // Long enough for the check to be sent and wait on the silent listener.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!caller.is_finished(), "the silent listener answered");
    runtime.shutdown_background();
    let outcome = caller.join().expect("the check panicked");
    assert_eq!(
        outcome.verdict(),
        Verdict::Unavailable {
            retry_after: Duration::from_secs(7)
        }
    );
    assert_eq!(outcome.decisions().count(), 0);
}

/// A Sentinel service whose primary dies: decisions fail (the fail mode
/// applies) until the sentinel promotes the replica, then are decided there
/// soon after the sentinel names it (30–99 ms measured; the test allows 2 s
/// for a machine busy with other tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_store_recovers_when_its_primary_dies() {
    let Some(mut service) = OwnSentinel::start().await else {
        return;
    };
    let store = service.store(Duration::from_millis(300));
    let (p, key) = (policy("sentinel", 1000, 60), Key::from("k"));
    assert!(store.check(&p, &key, 1).await.unwrap().is_allowed());

    service.primary.kill();
    let killed = Instant::now();
    let mut failed = 0;
    while service.primary_port().await != service.replica.port {
        failed += usize::from(store.check(&p, &key, 1).await.is_err());
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the sentinel never promoted the replica"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failed > 0, "decisions fail while there is no primary");
    let named = Instant::now();
    decided_again(&store, &p, &key, named, Duration::from_secs(2)).await;
    eprintln!(
        "primary killed: the sentinel named the replica {:?} later, decided there {:?} after that",
        named - killed,
        named.elapsed()
    );
    assert!(
        service
            .holds(&service.replica, store.redis_key(&p, &key))
            .await
    );
}

/// Redis Cluster's slots.
const SLOTS: u16 = 16_384;

/// A Redis Cluster of the test's own: three masters on free ports, no
/// replicas, node `i` serving the `i`-th third of the slots. The cluster
/// keeps answering for the slots of the nodes still up when one is down.
struct OwnCluster {
    nodes: Vec<OwnRedis>,
    dir: tempfile::TempDir,
}

impl OwnCluster {
    /// The cluster, formed and ready; `None` (and a notice) without Redis
    /// tests or `redis-server`.
    async fn start(ports: [u16; 3]) -> Option<OwnCluster> {
        redis_url()?;
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        for (i, port) in ports.into_iter().enumerate() {
            let Some(node) = OwnRedis::start_with(port, &OwnCluster::args(&dir, i)) else {
                eprintln!("skipping: no redis-server on the PATH");
                return None;
            };
            nodes.push(node);
        }
        let cluster = OwnCluster { nodes, dir };
        for (i, node) in cluster.nodes.iter().enumerate() {
            let (first, last) = OwnCluster::slots(i);
            let () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query_async(&mut cluster.admin(i).await)
                .await
                .unwrap();
            if i > 0 {
                let () = redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(node.port)
                    .query_async(&mut cluster.admin(0).await)
                    .await
                    .unwrap();
            }
        }
        cluster.wait_until_ok().await;
        Some(cluster)
    }

    /// The arguments of node `i`.
    fn args(dir: &tempfile::TempDir, i: usize) -> Vec<String> {
        [
            "--dir",
            dir.path().to_str().unwrap(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &format!("nodes-{i}.conf"),
            "--cluster-node-timeout",
            "1000",
            "--cluster-require-full-coverage",
            "no",
        ]
        .map(String::from)
        .to_vec()
    }

    /// The first and last slot node `i` serves.
    fn slots(i: usize) -> (u16, u16) {
        let third = SLOTS / 3;
        let first = third * i as u16;
        let last = if i == 2 { SLOTS - 1 } else { first + third - 1 };
        (first, last)
    }

    async fn admin(&self, i: usize) -> Admin {
        redis::Client::open(self.nodes[i].url().as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Waits until every node sees all three, with every slot served.
    async fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for i in 0..self.nodes.len() {
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut self.admin(i).await)
                    .await
                    .unwrap();
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not form: {info}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// The node serving the Redis key `key`.
    async fn node_of(&self, key: &str) -> usize {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut self.admin(0).await)
            .await
            .unwrap();
        (0..3).find(|&i| slot <= OwnCluster::slots(i).1).unwrap()
    }

    /// How many keys node `i` holds.
    async fn keys_on(&self, i: usize) -> u64 {
        redis::cmd("DBSIZE")
            .query_async(&mut self.admin(i).await)
            .await
            .unwrap()
    }

    /// A `redis+cluster://` URL naming node 0 alone: the client finds the
    /// others.
    fn url(&self) -> String {
        format!("redis+cluster://127.0.0.1:{}", self.nodes[0].port)
    }
}

/// Checks `key` until the store decides it again, failing the test once
/// `within` has passed since `back` (when a Redis served it again).
async fn decided_again(store: &RedisStore, p: &Policy, key: &Key, back: Instant, within: Duration) {
    while store.check(p, key, 1).await.is_err() {
        assert!(
            back.elapsed() < within,
            "no decision on {key} within {within:?} of a Redis serving it again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// On a Redis Cluster, keys spread over every node, each decided exactly
/// (concurrent callers, several keys at once). A store opened while the
/// cluster is down fails its decisions, then decides once it is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_decides_exactly_on_every_node() {
    let ports = free_ports();
    let store = RedisStore::open(
        &format!("redis+cluster://127.0.0.1:{}", ports[0]),
        RedisOptions::default().timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let p = policy("cluster", 5, 3600);
    let refused = store.check(&p, &Key::from("key-0"), 1).await;
    assert!(refused.is_err(), "no cluster yet: {refused:?}");

    let Some(cluster) = OwnCluster::start(ports).await else {
        return;
    };
    let admitted = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, p, admitted) = (store.clone(), p.clone(), admitted.clone());
            tokio::spawn(async move {
                for k in 0..100 {
                    let decision = store.check(&p, &Key::from(format!("key-{k}")), 1).await;
                    if decision.unwrap().is_allowed() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // 8 callers × 100 keys, 5 calls a key admitted.
    assert_eq!(admitted.load(Ordering::Relaxed), 500);
    for i in 0..3 {
        let keys = cluster.keys_on(i).await;
        assert!(keys > 10, "node {i} holds {keys} of the 100 keys");
    }
    let last = store.check(&p, &Key::from("key-0"), 1).await.unwrap();
    assert!(!last.is_allowed());
    assert!(last.retry_after().unwrap() > Duration::from_secs(600));
    assert!(
        store
            .peek(&p, &Key::from("key-new"), 5)
            .await
            .unwrap()
            .is_allowed()
    );
}

/// One node of the cluster down: its keys fail (the limiter's fail mode
/// applies), the other nodes' keys are still decided; once the node is back,
/// its keys are decided again. A `redis://` store pointed at a cluster node
/// says to use `redis+cluster://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_down_fails_its_keys_only_and_recovers() {
    let Some(mut cluster) = OwnCluster::start(free_ports()).await else {
        return;
    };
    let options = RedisOptions::default().timeout(Duration::from_millis(300));
    let store = RedisStore::open(&cluster.url(), options.clone()).unwrap();
    let p = policy("node-down", 1000, 60);
    // A key on node 2, and one on node 1.
    let mut on = [None, None, None];
    for k in 0.. {
        let key = Key::from(format!("k{k}"));
        let node = cluster.node_of(&store.redis_key(&p, &key)).await;
        on[node].get_or_insert(key);
        if on[1].is_some() && on[2].is_some() {
            break;
        }
    }
    let (down_key, up_key) = (on[2].take().unwrap(), on[1].take().unwrap());
    assert!(store.check(&p, &down_key, 1).await.is_ok());

    let single = RedisStore::open(&cluster.nodes[0].url(), options).unwrap();
    let moved = single.check(&p, &down_key, 1).await.unwrap_err();
    assert!(moved.to_string().contains("redis+cluster://"), "{moved}");

    let port = cluster.nodes[2].port;
    cluster.nodes[2].kill();
    for _ in 0..3 {
        let started = Instant::now();
        assert!(store.check(&p, &down_key, 1).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(store.check(&p, &up_key, 1).await.unwrap().is_allowed());
    }

    cluster.nodes[2] =
        OwnRedis::start_with(port, &OwnCluster::args(&cluster.dir, 2)).expect("the node restarts");
    let restarted = Instant::now();
    // A restarted master refuses its slots for two seconds (Redis's
    // `CLUSTER_WRITABLE_DELAY`), until its view of the cluster is fresh.
    cluster.wait_until_ok().await;
    let back = Instant::now();
    decided_again(&store, &p, &down_key, back, Duration::from_secs(1)).await;
    eprintln!(
        "decided again {:?} after the node served its slots ({:?} after its restart)",
        back.elapsed(),
        restarted.elapsed()
    );
    assert!(store.check(&p, &up_key, 1).await.unwrap().is_allowed());
}

/// A certificate authority of the test's own, a certificate it signed for
/// 127.0.0.1 and one for a client (`ca.crt`, `server.crt`, `server.key`,
/// `client.crt`, `client.key`), made with the `openssl` command; `None`
/// without it.
#[cfg(feature = "rustls")]
fn tls_certificates() -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    // Extensions make version 3 certificates, the only ones rustls takes.
    for (name, extension) in [
        ("server.ext", "subjectAltName=IP:127.0.0.1"),
        ("client.ext", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(dir.path().join(name), extension).unwrap();
    }
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    let sign = "-CA ca.crt -CAkey ca.key -CAcreateserial -days 2";
    let steps = [
        format!("req -x509 {key} -keyout ca.key -out ca.crt -days 2 -subj /CN=tollgate-test-CA"),
        format!("req {key} -keyout server.key -out server.csr -subj /CN=server"),
        format!("x509 -req -in server.csr {sign} -out server.crt -extfile server.ext"),
        format!("req {key} -keyout client.key -out client.csr -subj /CN=client"),
        format!("x509 -req -in client.csr {sign} -out client.crt -extfile client.ext"),
    ];
    for step in steps {
        let made = Command::new("openssl")
            .args(step.split_whitespace())
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !made.is_ok_and(|status| status.success()) {
            return None;
        }
    }
    Some(dir)
}

/// Opening a `rediss://` store installs a rustls crypto provider as the
/// process's default, none being installed: rustls cannot pick one by itself
/// when more than one is built in (say, a dependency enables `ring`), and the
/// first connection would panic. Checked in a process of its own, the test
/// binary run again for this test alone: in this one, any TLS connection
/// another test makes installs a provider too.
#[cfg(feature = "rustls")]
#[test]
fn opening_a_tls_store_installs_a_crypto_provider() {
    use rustls::crypto::CryptoProvider;
    const ALONE: &str = "TOLLGATE_TEST_CRYPTO_PROVIDER_ALONE";
    if std::env::var_os(ALONE).is_none() {
        let name = "opening_a_tls_store_installs_a_crypto_provider";
        let alone = Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&alone.stdout);
        assert!(alone.status.success(), "{stdout}");
        assert!(stdout.contains("1 passed"), "{stdout}");
        return;
    }
    assert!(CryptoProvider::get_default().is_none(), "one is installed");
    RedisStore::open("rediss://127.0.0.1:1", RedisOptions::default()).unwrap();
    assert!(
        CryptoProvider::get_default().is_some(),
        "none was installed"
    );
}

/// A Redis that speaks only TLS and asks clients for a certificate, both
/// from an authority of the test's own: a `rediss://` store given that
/// authority and a client certificate decides; one without the client
/// certificate, or trusting the system's roots only, fails with a
/// certificate error (no panic); certificates given to a `redis://` store
/// are refused at open, and never shown by `Debug`.
#[cfg(feature = "rustls")]
#[tokio::test]
async fn a_tls_redis_is_reached_with_its_certificates_and_refused_without() {
    if redis_url().is_none() {
        return;
    }
    let Some(certificates) = tls_certificates() else {
        eprintln!("skipping: no openssl on the PATH");
        return;
    };
    let file = |name: &str| certificates.path().join(name).to_str().unwrap().to_owned();
    let port = free_port();
    let tls_only = [
        // After the plain `--port` of `start_with`: this one wins.
        "--port".to_owned(),
        "0".to_owned(),
        "--tls-port".to_owned(),
        port.to_string(),
        "--tls-cert-file".to_owned(),
        file("server.crt"),
        "--tls-key-file".to_owned(),
        file("server.key"),
        "--tls-ca-cert-file".to_owned(),
        file("ca.crt"),
        "--tls-auth-clients".to_owned(),
        "yes".to_owned(),
    ];
    let Some(_redis) = OwnRedis::start_with(port, &tls_only) else {
        eprintln!("skipping: redis-server could not serve TLS");
        return;
    };
    let url = format!("rediss://127.0.0.1:{port}");
    let authority = std::fs::read(file("ca.crt")).unwrap();
    let (p, key) = (policy("tls", 2, 3600), Key::from("k"));

    let client_key = std::fs::read(file("client.key")).unwrap();
    let trusted = RedisOptions::default().tls_root_certificates(&authority);
    let known = trusted
        .clone()
        .tls_client_certificate(&std::fs::read(file("client.crt")).unwrap(), &client_key);
    let store = RedisStore::open(&url, known.clone()).unwrap();
    assert_eq!(store.check(&p, &key, 1).await.unwrap().remaining(), 1);
    assert_eq!(store.check(&p, &key, 1).await.unwrap().remaining(), 0);
    assert!(!store.check(&p, &key, 1).await.unwrap().is_allowed());

    for (options, what) in [
        (trusted, "client certificate"),
        (RedisOptions::default(), "authority"),
    ] {
        let store = RedisStore::open(&url, options).unwrap();
        let refused = store.check(&p, &key, 1).await.unwrap_err().to_string();
        assert!(refused.to_lowercase().contains("certificate"), "{refused}");
        eprintln!("without the {what}: {refused}");
    }

    let plain = RedisStore::open(&format!("redis://127.0.0.1:{port}"), known.clone());
    assert!(plain.unwrap_err().to_string().contains("rediss://"));
    // Said to be set, not shown (as text or as a list of bytes).
    let shown = format!("{known:?}");
    assert!(shown.contains("tls_client_certificate: true"), "{shown}");
    assert!(shown.len() < 200, "{shown}");
}

/// The whole cluster killed and restarted (same nodes, same addresses): the
/// store's decisions fail meanwhile, then succeed again within a second of
/// the cluster serving its slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_cluster_restarted_is_decided_on_again() {
    let Some(mut cluster) = OwnCluster::start(free_ports()).await else {
        return;
    };
    let options = RedisOptions::default().timeout(Duration::from_millis(300));
    let store = RedisStore::open(&cluster.url(), options).unwrap();
    let p = policy("restart", 1000, 60);
    let keys: Vec<Key> = (0..30).map(|k| Key::from(format!("k{k}"))).collect();
    for key in &keys {
        assert!(store.check(&p, key, 1).await.unwrap().is_allowed());
    }

    let ports: Vec<u16> = cluster.nodes.iter().map(|node| node.port).collect();
    for node in &mut cluster.nodes {
        node.kill();
    }
    assert!(store.check(&p, &keys[0], 1).await.is_err());
    for (i, port) in ports.into_iter().enumerate() {
        cluster.nodes[i] = OwnRedis::start_with(port, &OwnCluster::args(&cluster.dir, i))
            .expect("the node restarts");
    }
    cluster.wait_until_ok().await;
    let back = Instant::now();
    for key in &keys {
        decided_again(&store, &p, key, back, Duration::from_secs(1)).await;
    }
    eprintln!(
        "every node decided again {:?} after the cluster was back",
        back.elapsed()
    );
}

/// A cluster none of whose nodes can be reached (a refused connection, a
/// name that does not resolve) is not a server that hung up, whatever the
/// cluster client wraps the cause in (no Redis needed).
#[tokio::test]
async fn a_cluster_that_cannot_be_reached_has_not_hung_up() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let (p, key) = (policy("p", 1, 1), Key::from("k"));
    for url in [
        format!("redis+cluster://127.0.0.1:{closed_port}"),
        "redis+cluster://nohost.invalid:7000".to_owned(),
    ] {
        let nothing = store(&url, &prefix());
        let error = nothing.peek(&p, &key, 1).await.unwrap_err();
        assert!(!error.is_hung_up(), "{url}: {error} ({error:?})");
    }
}
