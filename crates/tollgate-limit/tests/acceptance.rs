//! The acceptance scenario, end to end through axum: an app limited to 100
//! calls per 60 s per API key and 1000 per 60 s per client IP, behind a
//! trusted proxy, on one node (in memory, on a fake clock: exact counts) and
//! on two nodes sharing Redis (`TOLLGATE_TEST_REDIS_URL`; Redis keeps the
//! time, so the counts are bounded by what GCRA allows in the time taken).
//! Every answer is read as a client reads it: status, headers, and the body
//! decoded with the catalog.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tollgate_limit::{
    ApiKey, Backend, ClientIp, FakeClock, Limiter, Policy, RateLimitLayer, RedisOptions, RedisStore,
};
use tower::ServiceExt;

/// The peer every request comes from: the load balancer, trusted.
const PROXY: &str = "10.0.0.5:443";
/// The client behind it, as the proxy appends it to `X-Forwarded-For`.
const CLIENT: &str = "198.51.100.7";
const PER_KEY: &str = "Rate limit exceeded: 100 calls per 60 seconds";
const PER_IP: &str = "Rate limit exceeded: 1000 calls per 60 seconds";

fn app(backend: Backend, clock: Option<&FakeClock>) -> Router {
    let minute = Duration::from_secs(60);
    let builder = Limiter::builder()
        .policy(
            Policy::new("per-key", 100, minute).unwrap(),
            ApiKey::bearer(),
        )
        .policy(
            Policy::new("per-ip", 1000, minute).unwrap(),
            ClientIp::new().trust_proxy("10.0.0.0/8").unwrap(),
        )
        .backend(backend);
    let limiter = match clock {
        Some(clock) => builder.clock(clock.clone()).build(),
        None => builder.build(),
    };
    Router::new()
        .route("/v1/scans", get(|| async { "ok" }))
        .layer(RateLimitLayer::new(limiter))
}

/// What a client sees of one answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    /// `Retry-After` in seconds.
    retry_after: Option<u64>,
    /// The decoded error message of a refusal.
    message: Option<String>,
    ratelimit: String,
}

/// A call with `key` from the client whose hops `forwarded_for` lists (the
/// leftmost ones are the client's to write, the last one the proxy's).
async fn call(app: &Router, key: &str, forwarded_for: &str) -> Answer {
    let mut request = Request::builder()
        .uri("/v1/scans")
        .header("authorization", format!("Bearer {key}"))
        .header("x-forwarded-for", forwarded_for)
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(PROXY.parse::<SocketAddr>().unwrap()));
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let message = (parts.status != StatusCode::OK).then(|| {
        tollgate::decode(
            parts.status.as_u16(),
            &parts.headers,
            &body,
            SystemTime::now(),
        )
        .message
        .unwrap_or_default()
    });
    Answer {
        status: parts.status,
        retry_after: header("retry-after").map(|s| s.parse().unwrap()),
        message,
        ratelimit: header("ratelimit").expect("every answer carries RateLimit"),
    }
}

/// Asserts `answer` is a refusal of the policy `message` names.
fn assert_refused(answer: &Answer, message: &str) {
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
    assert_eq!(answer.message.as_deref(), Some(message), "{answer:?}");
    assert!(
        answer.retry_after.is_some_and(|s| s >= 1),
        "Retry-After in whole seconds: {answer:?}"
    );
}

#[tokio::test]
async fn one_node_in_memory_admits_exactly_the_quotas() {
    let clock = FakeClock::new();
    let app = app(Backend::from_url("memory://").unwrap(), Some(&clock));
    // The client puts a made-up hop of its own first: it is not trusted.
    let spoofed = format!("203.0.113.66, {CLIENT}");

    // One key: 100 admitted, then refused by its own policy, 600 ms apart.
    for i in 0..100 {
        let answer = call(&app, "key-0", &spoofed).await;
        assert_eq!(answer.status, StatusCode::OK, "call {i}: {answer:?}");
    }
    for _ in 0..10 {
        let answer = call(&app, "key-0", &spoofed).await;
        assert_refused(&answer, PER_KEY);
        assert_eq!(answer.retry_after, Some(1), "600 ms, rounded up");
        assert_eq!(answer.ratelimit, r#""per-key";r=0;t=1, "per-ip";r=900;t=6"#);
    }
    // Nine more keys from the same client: the IP's 1000 are then spent
    // (the ten refusals above cost the IP nothing).
    for key in 1..10 {
        for _ in 0..100 {
            let answer = call(&app, &format!("key-{key}"), CLIENT).await;
            assert_eq!(answer.status, StatusCode::OK, "key-{key}: {answer:?}");
        }
    }
    let answer = call(&app, "key-10", CLIENT).await;
    assert_refused(&answer, PER_IP);
    assert_eq!(answer.retry_after, Some(1), "60 ms, rounded up");
    // Another made-up first hop changes nothing; another client is served.
    assert_refused(
        &call(&app, "key-11", &format!("192.0.2.1, {CLIENT}")).await,
        PER_IP,
    );
    assert_eq!(
        call(&app, "key-12", "198.51.100.8").await.status,
        StatusCode::OK
    );

    // 600 ms later key-0 has one call again, and the IP ten.
    clock.advance(Duration::from_millis(600));
    assert_eq!(call(&app, "key-0", CLIENT).await.status, StatusCode::OK);
    assert_refused(&call(&app, "key-0", CLIENT).await, PER_KEY);
    for key in 1..10 {
        assert_eq!(
            call(&app, &format!("key-1{key}"), CLIENT).await.status,
            StatusCode::OK
        );
    }
    assert_refused(&call(&app, "key-20", CLIENT).await, PER_IP);
}

#[tokio::test]
async fn two_nodes_sharing_redis_never_admit_more_than_the_quotas() {
    let Some(url) = std::env::var("TOLLGATE_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("skipping: TOLLGATE_TEST_REDIS_URL is unset");
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("tollgate:test:acceptance:{}:{nanos}:", std::process::id());
    // Two nodes: each its own store and connection, one Redis between them.
    let node = || {
        let store = RedisStore::open(&url, RedisOptions::default().prefix(&prefix)).unwrap();
        app(Backend::Redis(store), None)
    };
    let nodes = [node(), node()];
    let start = Instant::now();

    // One key first, every other call on the other node: its 100, then
    // refusals of its own policy.
    let hot = hammer(&nodes, 0..1).await;
    // Then eleven more keys of the same client, all at once: 1210 calls, more
    // than the IP's 1000 less the hot key's 100.
    let rest = hammer(&nodes, 1..12).await;
    let elapsed = start.elapsed();
    // The burst, one call per emission interval elapsed, and one for the
    // call at the boundary: what GCRA allows in the time taken.
    let allows = |quota: u64| quota + (elapsed.as_millis() as u64 * quota / 60_000) + 1;

    let mut admitted = 0;
    let mut refusals = [0; 2];
    for (key, answers) in hot.iter().chain(&rest).enumerate() {
        let n = answers
            .iter()
            .filter(|a| a.status == StatusCode::OK)
            .count() as u64;
        assert!(n <= allows(100), "key-{key} over-admitted: {n}");
        admitted += n;
        for answer in answers.iter().filter(|a| a.status != StatusCode::OK) {
            let policy = usize::from(answer.message.as_deref() == Some(PER_IP));
            assert_refused(answer, [PER_KEY, PER_IP][policy]);
            refusals[policy] += 1;
        }
    }
    eprintln!(
        "two nodes: {admitted} of 1320 admitted in {elapsed:?} (GCRA allows {} for the IP); \
         refused {} per key, {} per IP",
        allows(1000),
        refusals[0],
        refusals[1]
    );
    let hot_admitted = hot[0].iter().filter(|a| a.status == StatusCode::OK).count();
    assert!(
        hot_admitted >= 100,
        "the hot key got its quota: {hot_admitted}"
    );
    assert!(
        hot[0]
            .iter()
            .all(|a| a.status == StatusCode::OK || a.message.as_deref() == Some(PER_KEY)),
        "the hot key was refused by its own policy"
    );
    assert!(admitted <= allows(1000), "IP over-admitted: {admitted}");
    // No key reached its quota in the second round: the IP's is what binds.
    assert!(admitted >= 1000, "under-admitted: {admitted}");
    assert!(refusals[1] > 0, "the IP's quota refused calls");
}

/// 110 calls for each key of `keys`, a task per key, all at once, every
/// other call on the other node; each comes with a made-up first hop.
async fn hammer(nodes: &[Router; 2], keys: std::ops::Range<usize>) -> Vec<Vec<Answer>> {
    let tasks: Vec<_> = keys
        .map(|key| {
            let nodes = nodes.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in 0..110 {
                    let spoofed = format!("203.0.113.{i}, {CLIENT}");
                    answers.push(call(&nodes[i % 2], &format!("key-{key}"), &spoofed).await);
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}
