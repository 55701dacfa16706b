//! The layer without sockets: headers and bodies in every dialect.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{HeaderMap, Request, Response, StatusCode};
use tollgate::{ApiError, Catalog, Dialect};
use tollgate_limit::{
    ApiKey, Backend, ClientIp, Clock, FailMode, FakeClock, Limiter, PeerAddr, Policy, RateLimitKey,
    RateLimitLayer,
};
use tower::{Service, ServiceBuilder, ServiceExt};

type BoxService = tower::util::BoxCloneService<Request<()>, Response<Vec<u8>>, Infallible>;

fn service(layer: RateLimitLayer, calls: Arc<AtomicUsize>) -> BoxService {
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |_req: Request<()>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(b"ok".to_vec())) }
        });
    tower::util::BoxCloneService::new(svc)
}

fn request(key: &str) -> Request<()> {
    let mut request = Request::builder()
        .uri("/v1/scans")
        .header("authorization", format!("Bearer {key}"))
        .header("x-request-id", "req_42")
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(PeerAddr("198.51.100.7:5000".parse().unwrap()));
    request
}

fn policy(name: &str, quota: u64, window: u64) -> Policy {
    Policy::new(name, quota, Duration::from_secs(window)).unwrap()
}

fn per_key(quota: u64, clock: &FakeClock) -> Limiter {
    Limiter::builder()
        .policy(policy("per-key", quota, 60), ApiKey::bearer())
        .clock(clock.clone())
        .build()
}

async fn call(svc: &mut BoxService, req: Request<()>) -> Response<Vec<u8>> {
    svc.ready().await.unwrap().call(req).await.unwrap()
}

/// Per IP (`ip_quota` a minute) outside, `per_key` inside, as the crate docs
/// advise; both send the legacy triple.
fn nested(ip_quota: u64, per_key: Limiter, clock: &FakeClock) -> BoxService {
    let per_ip = Limiter::builder()
        .policy(policy("per-ip", ip_quota, 60), ClientIp::new())
        .clock(clock.clone())
        .build();
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(per_ip).legacy_headers(true))
        .layer(RateLimitLayer::new(per_key).legacy_headers(true))
        .service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(b"ok".to_vec()))
        });
    tower::util::BoxCloneService::new(svc)
}

#[tokio::test]
async fn refusal_in_every_dialect_decodes_to_the_catalog_entry() {
    let catalog = Catalog::builtin();
    for dialect in Dialect::ALL {
        let clock = FakeClock::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = RateLimitLayer::new(per_key(100, &clock)).dialect(dialect);
        let mut svc = service(layer, calls.clone());
        for i in 0..100 {
            let response = call(&mut svc, request("k")).await;
            assert_eq!(response.status(), StatusCode::OK, "{dialect} call {i}");
        }
        let response = call(&mut svc, request("k")).await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{dialect}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            100,
            "{dialect}: the refused call never reached the service"
        );
        let headers = response.headers();
        assert_eq!(headers["content-type"], dialect.content_type(), "{dialect}");
        // 600 ms until the next call fits, rounded up.
        assert_eq!(headers["retry-after"], "1", "{dialect}");
        assert_eq!(
            headers["ratelimit-policy"], r#""per-key";q=100;w=60"#,
            "{dialect}"
        );
        // A refusal's reset is its Retry-After: one point in time.
        assert_eq!(headers["ratelimit"], r#""per-key";r=0;t=1"#, "{dialect}");
        assert_eq!(headers["x-request-id"], "req_42", "{dialect}");
        let err = response
            .extensions()
            .get::<ApiError>()
            .expect("the ApiError rides in the extensions");
        assert_eq!(err.code(), "rate_limit_exceeded");
        assert_eq!(err.retry_after_delay(), Some(Duration::from_millis(600)));

        let decoded = catalog.decode(429, headers, response.body(), clock.wall());
        assert_eq!(
            decoded.dialect,
            dialect.name(),
            "{dialect}: {}",
            String::from_utf8_lossy(response.body())
        );
        assert_eq!(decoded.status, 429);
        assert_eq!(
            decoded.message.as_deref(),
            Some("Rate limit exceeded: 100 calls per 60 seconds"),
            "{dialect}"
        );
        assert_eq!(
            decoded.retry_after,
            Some(Duration::from_secs(1)),
            "{dialect}"
        );
        assert!(decoded.retryable, "{dialect}");
        assert_eq!(
            decoded
                .code
                .as_deref()
                .map(|c| catalog.find_wire_code(c).map(|d| d.code().to_owned())),
            Some(Some("rate_limit_exceeded".into())),
            "{dialect}"
        );
        if dialect.carries_details()
            && !matches!(
                dialect,
                Dialect::Google | Dialect::Jsonapi | Dialect::Detail
            )
        {
            assert_eq!(decoded.details.get("limit"), Some(&100.into()), "{dialect}");
            assert_eq!(decoded.details.get("window"), Some(&60.into()), "{dialect}");
        }
        // The body alone carries the hint where the dialect has a place for it.
        let body_only = catalog.decode(429, &HeaderMap::new(), response.body(), clock.wall());
        if matches!(
            dialect,
            Dialect::Problem | Dialect::StatusCode | Dialect::Google
        ) {
            assert_eq!(
                body_only.retry_after,
                Some(Duration::from_secs(1)),
                "{dialect}"
            );
        }
    }
}

#[tokio::test]
async fn allowed_responses_carry_the_fields_and_legacy_headers_on_request() {
    let clock = FakeClock::new();
    let layer = RateLimitLayer::new(per_key(10, &clock)).legacy_headers(true);
    let mut svc = service(layer, Arc::default());
    let response = call(&mut svc, request("k")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["ratelimit-policy"],
        r#""per-key";q=10;w=60"#
    );
    assert_eq!(response.headers()["ratelimit"], r#""per-key";r=9;t=6"#);
    assert_eq!(response.headers()["x-ratelimit-limit"], "10");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "9");
    assert_eq!(response.headers()["x-ratelimit-reset"], "6");
    assert!(response.headers().get("retry-after").is_none());
    assert!(response.extensions().get::<ApiError>().is_none());
    // Refused, the reset is the wait Retry-After gives.
    for _ in 0..9 {
        call(&mut svc, request("k")).await;
    }
    let refused = call(&mut svc, request("k")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "6");
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(refused.headers()["x-ratelimit-reset"], "6");

    // Without legacy headers only the IETF fields are sent.
    let mut svc = service(RateLimitLayer::new(per_key(10, &clock)), Arc::default());
    let response = call(&mut svc, request("k")).await;
    assert!(response.headers().get("x-ratelimit-limit").is_none());
    assert!(response.headers().get("ratelimit").is_some());

    // With a burst other than the quota, the limit is what is counted down
    // from, so that limit - remaining is what was used.
    for burst in [100, 3] {
        let limiter = Limiter::builder()
            .policy(
                policy("per-key", 10, 60).with_burst(burst).unwrap(),
                ApiKey::bearer(),
            )
            .clock(clock.clone())
            .build();
        let mut svc = service(
            RateLimitLayer::new(limiter).legacy_headers(true),
            Arc::default(),
        );
        let response = call(&mut svc, request("k")).await;
        assert_eq!(response.headers()["x-ratelimit-limit"], burst.to_string());
        // The IETF fields tell a larger burst's rate by the burst, so that
        // r never passes q; a smaller one is under the quota already.
        let (q, w) = if burst > 10 {
            (burst, burst * 6)
        } else {
            (10, 60)
        };
        assert_eq!(
            response.headers()["ratelimit-policy"],
            format!(r#""per-key";q={q};w={w}"#).as_str()
        );
        assert_eq!(
            response.headers()["ratelimit"],
            format!(r#""per-key";r={};t=6"#, burst - 1).as_str()
        );
        let remaining = (burst - 1).to_string();
        assert_eq!(
            response.headers()["x-ratelimit-remaining"],
            remaining.as_str()
        );
    }
}

#[tokio::test]
async fn the_legacy_reset_of_a_refusal_is_its_retry_after() {
    // Both policies refuse the third call; the per-IP one waits longer.
    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-key", 2, 60), ApiKey::bearer())
        .policy(policy("per-ip", 2, 3600), ClientIp::new())
        .clock(clock.clone())
        .build();
    let layer = RateLimitLayer::new(limiter).legacy_headers(true);
    let mut svc = service(layer, Arc::default());
    call(&mut svc, request("k")).await;
    call(&mut svc, request("k")).await;
    let refused = call(&mut svc, request("k")).await;
    assert_eq!(refused.status(), 429);
    let headers = refused.headers();
    assert_eq!(headers["retry-after"], "1800");
    assert_eq!(headers["x-ratelimit-reset"], "1800");
    assert_eq!(headers["x-ratelimit-limit"], "2");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn nested_layers_list_both_policies_and_one_legacy_triple() {
    let clock = FakeClock::new();
    let mut svc = nested(5, per_key(10, &clock), &clock);
    for (other_key, ip_left) in [("a", 4), ("b", 3)] {
        let response = call(&mut svc, request(other_key)).await;
        let headers = response.headers();
        let lines = |name: &str| headers.get_all(name).iter().count();
        assert_eq!(lines("ratelimit"), 2, "{headers:?}");
        assert_eq!(lines("ratelimit-policy"), 2, "{headers:?}");
        for legacy in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert_eq!(lines(legacy), 1, "{legacy}: {headers:?}");
        }
        // The IP's budget (5, shared by both keys) is the tighter one.
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(
            headers["x-ratelimit-remaining"],
            ip_left.to_string().as_str()
        );
    }
}

/// A refusal of the inner layer keeps its own legacy triple, though the
/// outer layer, which admitted the request, has fewer calls left: the
/// triple tells the policy that refused (its `Reset` is the `Retry-After`).
#[tokio::test]
async fn a_nested_refusal_keeps_the_legacy_triple_of_the_policy_that_refused() {
    let clock = FakeClock::new();
    let per_key = Limiter::builder()
        .policy(policy("per-key", 10, 60), ApiKey::bearer())
        .cost(|parts| parts.headers["x-cost"].to_str().unwrap().parse().unwrap())
        .clock(clock.clone())
        .build();
    let mut svc = nested(5, per_key, &clock);
    let costing = |cost: u64| {
        let mut req = request("k");
        req.headers_mut().insert("x-cost", cost.into());
        req
    };
    // The key spends 7 of 10 in three calls; the IP 3 of 5.
    for cost in [1, 1, 5] {
        assert_eq!(call(&mut svc, costing(cost)).await.status(), 200);
    }
    // 8 more: the IP admits it (1 left), the key refuses (3 left).
    let refused = call(&mut svc, costing(8)).await;
    assert_eq!(refused.status(), 429);
    let headers = refused.headers();
    assert_eq!(headers["x-ratelimit-limit"], "10", "{headers:?}");
    assert_eq!(headers["x-ratelimit-remaining"], "3", "{headers:?}");
    assert_eq!(headers["x-ratelimit-reset"], headers["retry-after"]);
}

/// A request that costs nothing (a health check under the same layer) is
/// admitted while the limit is spent, and spends nothing.
#[tokio::test]
async fn a_request_that_costs_nothing_is_admitted_while_the_limit_is_spent() {
    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-key", 2, 60), ApiKey::bearer())
        .cost(|parts| u64::from(!parts.headers.contains_key("x-free")))
        .clock(clock.clone())
        .build();
    let mut svc = service(RateLimitLayer::new(limiter), Arc::default());
    let free = || {
        let mut req = request("k");
        req.headers_mut().insert("x-free", "1".parse().unwrap());
        req
    };
    assert_eq!(call(&mut svc, request("k")).await.status(), 200);
    assert_eq!(call(&mut svc, request("k")).await.status(), 200);
    assert_eq!(call(&mut svc, request("k")).await.status(), 429);
    let admitted = call(&mut svc, free()).await;
    assert_eq!(admitted.status(), 200);
    assert_eq!(admitted.headers()["ratelimit"], r#""per-key";r=0;t=60"#);
    // It took nothing: the call time brings back is the next one's.
    clock.advance(Duration::from_secs(30));
    assert_eq!(call(&mut svc, request("k")).await.status(), 200);
    assert_eq!(call(&mut svc, request("k")).await.status(), 429);
}

#[tokio::test]
async fn time_brings_calls_back_one_interval_at_a_time() {
    let clock = FakeClock::new();
    let mut svc = service(RateLimitLayer::new(per_key(2, &clock)), Arc::default());
    assert_eq!(call(&mut svc, request("k")).await.status(), 200);
    assert_eq!(call(&mut svc, request("k")).await.status(), 200);
    let refused = call(&mut svc, request("k")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "30");
    clock.advance(Duration::from_secs(29));
    assert_eq!(call(&mut svc, request("k")).await.status(), 429);
    clock.advance(Duration::from_secs(1));
    let ok = call(&mut svc, request("k")).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["ratelimit"], r#""per-key";r=0;t=60"#);
    // Another key is untouched.
    assert_eq!(call(&mut svc, request("other")).await.status(), 200);
}

#[tokio::test]
async fn per_key_and_per_ip_both_apply_and_a_refusal_costs_nothing() {
    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-key", 2, 60), ApiKey::bearer())
        .policy(policy("per-ip", 3, 60), ClientIp::new())
        .clock(clock.clone())
        .build();
    let mut svc = service(RateLimitLayer::new(limiter), Arc::default());
    assert_eq!(call(&mut svc, request("a")).await.status(), 200);
    assert_eq!(call(&mut svc, request("a")).await.status(), 200);
    // Key a is spent; the refusal must not eat the IP's last call.
    let refused = call(&mut svc, request("a")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["ratelimit-policy"],
        r#""per-key";q=2;w=60, "per-ip";q=3;w=60"#
    );
    assert_eq!(
        refused.headers()["ratelimit"],
        r#""per-key";r=0;t=30, "per-ip";r=1;t=40"#
    );
    let err = refused.extensions().get::<ApiError>().unwrap();
    assert_eq!(err.message(), "Rate limit exceeded: 2 calls per 60 seconds");
    let ok = call(&mut svc, request("b")).await;
    assert_eq!(ok.status(), 200, "the IP still had one call");
    // Now the IP is spent for every key.
    let refused = call(&mut svc, request("c")).await;
    assert_eq!(refused.status(), 429);
    let err = refused.extensions().get::<ApiError>().unwrap();
    assert_eq!(err.message(), "Rate limit exceeded: 3 calls per 60 seconds");
    assert_eq!(refused.headers()["retry-after"], "20");
}

#[tokio::test]
async fn anonymous_requests_skip_per_key_policies() {
    let clock = FakeClock::new();
    let mut svc = service(RateLimitLayer::new(per_key(1, &clock)), Arc::default());
    let anonymous = || Request::builder().uri("/").body(()).unwrap();
    for _ in 0..5 {
        let response = call(&mut svc, anonymous()).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_none());
    }
}

#[tokio::test]
async fn key_from_the_auth_layer_extension() {
    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-account", 1, 60), ApiKey::from_extension())
        .clock(clock.clone())
        .build();
    let mut svc = service(RateLimitLayer::new(limiter), Arc::default());
    let with_account = |account: &str| {
        let mut request = Request::new(());
        request.extensions_mut().insert(RateLimitKey::new(account));
        request
    };
    assert_eq!(call(&mut svc, with_account("acct_1")).await.status(), 200);
    assert_eq!(call(&mut svc, with_account("acct_1")).await.status(), 429);
    assert_eq!(call(&mut svc, with_account("acct_2")).await.status(), 200);
}

#[tokio::test]
async fn a_header_the_authentication_ignores_cannot_buy_a_fresh_budget() {
    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-key", 2, 60), ApiKey::presented())
        .clock(clock.clone())
        .build();
    let mut svc = service(RateLimitLayer::new(limiter), Arc::default());
    // Authenticated by X-API-Key (which wins, as in tollgate-store), with a
    // new bearer token each time: still one key, one budget.
    let request = |decoy: usize| {
        Request::builder()
            .header("x-api-key", "tg_live_real")
            .header("authorization", format!("Bearer decoy-{decoy}"))
            .body(())
            .unwrap()
    };
    let mut statuses = Vec::new();
    for decoy in 0..4 {
        statuses.push(call(&mut svc, request(decoy)).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    // Without X-API-Key, the bearer token is the key.
    let bearer = Request::builder()
        .header("authorization", "Bearer other")
        .body(())
        .unwrap();
    assert_eq!(call(&mut svc, bearer).await.status(), 200);
}

#[tokio::test]
async fn weighted_cost_and_impossible_cost() {
    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-key", 10, 60), ApiKey::bearer())
        .cost(|parts| {
            if parts.uri.path() == "/export" {
                8
            } else if parts.uri.path() == "/huge" {
                11
            } else {
                1
            }
        })
        .clock(clock.clone())
        .build();
    let mut svc = service(RateLimitLayer::new(limiter), Arc::default());
    let at = |path: &str| {
        Request::builder()
            .uri(path)
            .header("authorization", "Bearer k")
            .body(())
            .unwrap()
    };
    let export = call(&mut svc, at("/export")).await;
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["ratelimit"], r#""per-key";r=2;t=48"#);
    let again = call(&mut svc, at("/export")).await;
    assert_eq!(again.status(), 429);
    assert_eq!(
        again.headers()["retry-after"],
        "36",
        "six more intervals of 6 s"
    );
    assert_eq!(call(&mut svc, at("/")).await.status(), 200);
    // A call costing more than the burst can never pass: refused as made,
    // with no Retry-After, so that clients do not retry it.
    let huge = call(&mut svc, at("/huge")).await;
    assert_eq!(huge.status(), 400);
    assert!(huge.headers().get("retry-after").is_none());
    assert_eq!(huge.headers()["ratelimit"], r#""per-key";r=1;t=54"#);
    let err = huge.extensions().get::<ApiError>().unwrap();
    assert_eq!(err.code(), "validation_error");
    assert_eq!(
        err.message(),
        r#"This request costs 11 calls; the "per-key" rate limit allows at most 10 at once."#
    );
}

#[tokio::test]
async fn catalog_overrides_and_invalid_request_ids() {
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "app.toml",
            r#"
            [errors.rate_limit_exceeded]
            message = "Rate limit exceeded. Please try again later."
            details = []
            aliases = { coded = "RATE_LIMIT_ERROR" }
            "#,
        )
        .unwrap();
    let clock = FakeClock::new();
    let layer = RateLimitLayer::new(per_key(1, &clock))
        .catalog(Arc::new(catalog.clone()))
        .dialect(Dialect::Coded);
    let mut svc = service(layer, Arc::default());
    call(&mut svc, request("k")).await;
    let mut req = request("k");
    req.headers_mut()
        .insert("x-request-id", "bad id!".parse().unwrap());
    let refused = call(&mut svc, req).await;
    assert_eq!(refused.status(), 429);
    assert!(
        refused.headers().get("x-request-id").is_none(),
        "an invalid id is not echoed"
    );
    let decoded = catalog.decode(429, refused.headers(), refused.body(), clock.wall());
    assert_eq!(decoded.code.as_deref(), Some("RATE_LIMIT_ERROR"));
    assert_eq!(
        decoded.message.as_deref(),
        Some("Rate limit exceeded. Please try again later.")
    );
    assert_eq!(refused.headers()["x-error-code"], "RATE_LIMIT_ERROR");
}

#[tokio::test]
async fn seed_002_names_the_refusing_policy_and_sends_no_details() {
    // Seed 002's 429: the policy's numbers in the message, `"details": {}`,
    // in its middleware's `coded` shape where its API answers in `detail`.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/catalogs/002-extraction.toml"
    );
    let catalog = Catalog::from_toml(path, &std::fs::read_to_string(path).unwrap()).unwrap();
    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-ip", 2, 30), ClientIp::new())
        .clock(clock.clone())
        .build();
    let layer = RateLimitLayer::new(limiter)
        .catalog(Arc::new(catalog))
        .dialect(Dialect::Detail);
    let mut svc = service(layer, Arc::default());
    call(&mut svc, request("k")).await;
    call(&mut svc, request("k")).await;
    let refused = call(&mut svc, request("k")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.extensions().get(), Some(&Dialect::Coded));
    let body: serde_json::Value = serde_json::from_slice(refused.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "error": {
                "code": "RATE_LIMIT_ERROR",
                "message": "Rate limit exceeded: 2 calls per 30 seconds",
                "details": {}
            },
            "request_id": "req_42"
        })
    );
}

#[tokio::test]
async fn fail_closed_answers_503_and_fail_open_admits() {
    // Nothing listens on port 1: every decision fails at once.
    let down = || Backend::from_url("redis://127.0.0.1:1").unwrap();
    let closed = Limiter::builder()
        .policy(policy("per-key", 10, 60), ApiKey::bearer())
        .backend(down())
        .fail_mode(FailMode::Closed {
            retry_after: Duration::from_secs(2),
        })
        .build();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = service(
        RateLimitLayer::new(closed).dialect(Dialect::StatusCode),
        calls.clone(),
    );
    let response = call(&mut svc, request("k")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        response.extensions().get::<ApiError>().map(ApiError::code),
        Some("service_unavailable")
    );
    let decoded = Catalog::builtin().decode(
        503,
        response.headers(),
        response.body(),
        std::time::SystemTime::now(),
    );
    assert_eq!(decoded.retry_after, Some(Duration::from_secs(2)));

    let open = Limiter::builder()
        .policy(policy("per-key", 10, 60), ApiKey::bearer())
        .backend(down())
        .build();
    let mut svc = service(RateLimitLayer::new(open), calls.clone());
    let response = call(&mut svc, request("k")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn axum_router_with_connect_info() {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;

    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-ip", 1, 60), ClientIp::new())
        .clock(clock.clone())
        .build();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(RateLimitLayer::new(limiter));
    let from = |peer: &str| {
        let mut request = Request::builder()
            .uri("/")
            .body(axum::body::Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        request
    };
    assert_eq!(
        app.clone()
            .oneshot(from("192.0.2.1:1"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(from("192.0.2.1:2"))
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        app.oneshot(from("192.0.2.2:1")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn a_refusal_under_router_nest_names_the_path_the_client_sent() {
    use http_body_util::BodyExt;

    let clock = FakeClock::new();
    let limiter = Limiter::builder()
        .policy(policy("per-ip", 1, 60), ClientIp::new())
        .clock(clock.clone())
        .build();
    let scans = axum::Router::new()
        .route("/scans", axum::routing::get(|| async { "ok" }))
        .layer(RateLimitLayer::new(limiter).dialect(Dialect::Problem));
    let app = axum::Router::new().nest("/v1", scans);
    let get = || {
        let mut request = Request::builder()
            .uri("/v1/scans")
            .body(axum::body::Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(PeerAddr("198.51.100.7:5000".parse().unwrap()));
        request
    };
    assert_eq!(app.clone().oneshot(get()).await.unwrap().status(), 200);
    let refused = app.oneshot(get()).await.unwrap();
    assert_eq!(refused.status(), 429);
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["instance"], "/v1/scans", "{body}");
}

#[tokio::test]
async fn fail_closed_never_asks_for_a_retry_after_of_zero() {
    // Nothing listens on port 1: every decision fails at once.
    for (asked, sent) in [(Duration::ZERO, "1"), (Duration::from_millis(1), "1")] {
        let closed = Limiter::builder()
            .policy(policy("per-key", 10, 60), ApiKey::bearer())
            .backend(Backend::from_url("redis://127.0.0.1:1").unwrap())
            .fail_mode(FailMode::Closed { retry_after: asked })
            .build();
        let calls = Arc::new(AtomicUsize::new(0));
        let mut svc = service(
            RateLimitLayer::new(closed).dialect(Dialect::StatusCode),
            calls.clone(),
        );
        let response = call(&mut svc, request("k")).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], sent, "{asked:?}");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"]["retry_after"], 1, "{asked:?}: {body}");
    }
}

/// A RateLimit field as a client reads it: every line joined, parsed as a
/// Structured Fields list; each member a string naming a policy, with the
/// integer parameters `params` and no others.
fn sf_list(headers: &HeaderMap, field: &str, params: &[&str]) -> Vec<(String, Vec<i64>)> {
    let lines: Vec<&str> = headers
        .get_all(field)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let joined = lines.join(", ");
    let list: sfv::List = sfv::Parser::new(&joined)
        .parse_list()
        .unwrap_or_else(|e| panic!("{field}: {joined:?}: {e}"));
    list.into_iter()
        .map(|entry| {
            let sfv::ListEntry::Item(item) = entry else {
                panic!("{field}: an inner list in {joined:?}");
            };
            let name = item.bare_item.as_string().expect("a string").as_str();
            let keys: Vec<&str> = item.params.keys().map(|k| k.as_str()).collect();
            assert_eq!(keys, params, "{field}: {joined:?}");
            let values = item
                .params
                .values()
                .map(|v| i64::from(v.as_integer().expect("an integer")))
                .collect();
            (name.to_owned(), values)
        })
        .collect()
}

#[tokio::test]
async fn the_ratelimit_fields_parse_as_structured_fields_and_agree_with_retry_after() {
    let catalog = Catalog::builtin();
    for dialect in Dialect::ALL {
        let clock = FakeClock::new();
        let per_ip = Limiter::builder()
            .policy(policy("per-ip", 1000, 60), ClientIp::new())
            .clock(clock.clone())
            .build();
        let per_key = Limiter::builder()
            .policy(
                policy("per-key", 7, 60).with_burst(3).unwrap(),
                ApiKey::bearer(),
            )
            .policy(
                policy("per-key.daily", 1000, 86_400)
                    .with_burst(4000)
                    .unwrap(),
                ApiKey::bearer(),
            )
            .clock(clock.clone())
            .build();
        let svc = ServiceBuilder::new()
            .layer(RateLimitLayer::new(per_ip).dialect(dialect))
            .layer(RateLimitLayer::new(per_key).dialect(dialect))
            .service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new(b"ok".to_vec()))
            });
        let mut svc = tower::util::BoxCloneService::new(svc);
        let mut refusals = 0;
        for i in 0..12 {
            let response = call(&mut svc, request("k")).await;
            let headers = response.headers();
            let policies = sf_list(headers, "ratelimit-policy", &["q", "w"]);
            let limits = sf_list(headers, "ratelimit", &["r", "t"]);
            let names = |list: &[(String, Vec<i64>)]| {
                let mut names: Vec<String> = list.iter().map(|(n, _)| n.clone()).collect();
                names.sort();
                names
            };
            assert_eq!(
                names(&policies),
                ["per-ip", "per-key", "per-key.daily"],
                "{dialect} {i}"
            );
            assert_eq!(names(&limits), names(&policies), "{dialect} {i}");
            for (name, qw) in &policies {
                let (_, rt) = limits.iter().find(|(n, _)| n == name).unwrap();
                assert!(qw[0] >= 1 && qw[1] >= 1, "{dialect} {i} {name}: {qw:?}");
                assert!(rt[0] >= 0 && rt[0] <= qw[0], "{dialect} {i} {name}");
                assert!(rt[1] >= 0, "{dialect} {i} {name}");
            }
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                refusals += 1;
                let retry_after: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(retry_after >= 1, "{dialect} {i}");
                // The policy that refused has no calls left and resets when
                // the Retry-After says.
                let (_, rt) = limits.iter().find(|(n, _)| n == "per-key").unwrap();
                assert_eq!(rt, &[0, retry_after], "{dialect} {i}");
                let body_only =
                    catalog.decode(429, &HeaderMap::new(), response.body(), clock.wall());
                if let Some(delay) = body_only.retry_after {
                    assert_eq!(
                        delay,
                        Duration::from_secs(retry_after as u64),
                        "{dialect} {i}"
                    );
                }
            }
            clock.advance(Duration::from_millis(700));
        }
        assert!(refusals > 0, "{dialect}");
    }
}

/// Nested layers where the inner one has fewer calls left: the legacy
/// triple is the inner layer's, not overwritten by the outer one's.
#[tokio::test]
async fn nested_layers_keep_the_inner_legacy_triple_when_it_has_fewer_calls_left() {
    let clock = FakeClock::new();
    // Here the key's budget is the tighter.
    let mut svc = nested(10, per_key(4, &clock), &clock);
    for (key_left, reset) in [(3, "15"), (2, "30")] {
        let response = call(&mut svc, request("k")).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        for legacy in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert_eq!(headers.get_all(legacy).iter().count(), 1, "{headers:?}");
        }
        assert_eq!(headers["x-ratelimit-limit"], "4", "{headers:?}");
        assert_eq!(
            headers["x-ratelimit-remaining"],
            key_left.to_string().as_str(),
            "{headers:?}"
        );
        // One call of 4 per minute comes back every 15 s.
        assert_eq!(headers["x-ratelimit-reset"], reset, "{headers:?}");
    }
}

/// Nested layers whose policies leave as many calls: the inner layer's
/// triple is kept, as the outer one replaces it only with fewer calls left.
#[tokio::test]
async fn nested_layers_with_as_many_calls_left_keep_the_inner_legacy_triple() {
    let clock = FakeClock::new();
    // 5 a minute per IP outside, 5 every two minutes per key inside.
    let per_key = Limiter::builder()
        .policy(policy("per-key", 5, 120), ApiKey::bearer())
        .clock(clock.clone())
        .build();
    let mut svc = nested(5, per_key, &clock);
    // A call of the key comes back every 24 s, one of the IP every 12 s.
    for (left, reset) in [(4, "24"), (3, "48")] {
        let response = call(&mut svc, request("k")).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(
            headers.get_all("x-ratelimit-reset").iter().count(),
            1,
            "{headers:?}"
        );
        assert_eq!(
            headers["x-ratelimit-remaining"],
            left.to_string().as_str(),
            "{headers:?}"
        );
        assert_eq!(headers["x-ratelimit-reset"], reset, "{headers:?}");
    }
}

/// An inner service that is never ready: it fails its readiness check.
#[derive(Clone)]
struct Overloaded;

impl Service<Request<()>> for Overloaded {
    type Response = Response<Vec<u8>>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Response<Vec<u8>>, &'static str>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Err("overloaded"))
    }

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        std::future::ready(Err("called while not ready"))
    }
}

/// The layer is ready only when the service inside it is: its readiness
/// error comes out of the layer's `poll_ready`.
#[tokio::test]
async fn the_layer_passes_on_the_readiness_of_the_inner_service() {
    let clock = FakeClock::new();
    let mut svc = tower::Layer::layer(&RateLimitLayer::new(per_key(10, &clock)), Overloaded);
    let ready = ServiceExt::<Request<()>>::ready(&mut svc).await;
    assert_eq!(ready.err(), Some("overloaded"));
}

/// The `Debug` output of the layer and of its service names the limiter's
/// policies and, for the layer, its settings.
#[test]
fn the_layer_and_its_service_debug_as_their_limiter_and_settings() {
    let clock = FakeClock::new();
    let layer = RateLimitLayer::new(per_key(10, &clock))
        .dialect(Dialect::Coded)
        .legacy_headers(true);
    let shown = format!("{layer:?}");
    assert!(shown.starts_with("RateLimitLayer {"), "{shown}");
    assert!(shown.contains(r#"policies: ["per-key"]"#), "{shown}");
    assert!(shown.contains("dialect: Coded"), "{shown}");
    assert!(shown.contains("legacy_headers: true"), "{shown}");
    let svc = tower::Layer::layer(&layer, Overloaded);
    let shown = format!("{svc:?}");
    assert!(shown.starts_with("RateLimit {"), "{shown}");
    assert!(shown.contains(r#"policies: ["per-key"]"#), "{shown}");
}

/// A catalog entry whose template names only `{limit}` gets the limit and
/// no window: each value is sent only when that entry documents it.
#[tokio::test]
async fn a_catalog_entry_naming_only_the_limit_gets_the_limit_and_no_window() {
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "app.toml",
            r#"
            [errors.rate_limit_exceeded]
            message = "At most {limit} calls; wait and retry."
            details = ["limit"]
            "#,
        )
        .unwrap();
    let clock = FakeClock::new();
    let layer = RateLimitLayer::new(per_key(1, &clock)).catalog(Arc::new(catalog));
    let mut svc = service(layer, Arc::default());
    assert_eq!(call(&mut svc, request("k")).await.status(), 200);
    let refused = call(&mut svc, request("k")).await;
    assert_eq!(refused.status(), 429);
    let err = refused.extensions().get::<ApiError>().unwrap();
    assert_eq!(err.message(), "At most 1 calls; wait and retry.");
    assert_eq!(err.details().get("limit"), Some(&1.into()));
    assert_eq!(err.details().get("window"), None, "{:?}", err.details());
}

/// The 500 or 504 that `tollgate-axum`'s layer outside makes in place of a
/// response that never came (a panic, a timeout) carries the limiter's
/// fields, once.
#[tokio::test]
async fn the_outer_layers_own_answers_carry_the_limiters_fields() {
    use axum::body::Body;
    use axum::routing::get;

    let limiter = Limiter::builder()
        .policy(policy("per-ip", 100, 60), ClientIp::new())
        .build();
    let app = axum::Router::new()
        .route(
            "/panic",
            get(|| async { std::hint::black_box(None::<&str>).expect("the handler failed") }),
        )
        .route("/slow", get(|| tokio::time::sleep(Duration::from_secs(60))))
        .layer(RateLimitLayer::new(limiter))
        .layer(
            tollgate_axum::Tollgate::new(Catalog::builtin())
                .timeout(Duration::from_millis(100))
                .layer(),
        );
    // From two clients, each with a budget of its own.
    for (path, status, peer) in [
        ("/panic", 500, "198.51.100.7:1"),
        ("/slow", 504, "198.51.100.8:1"),
    ] {
        let mut request = Request::builder().uri(path).body(Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(PeerAddr(peer.parse().unwrap()));
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
        let lines = |name: &str| -> Vec<String> {
            let values = response.headers().get_all(name).iter();
            values.map(|v| v.to_str().unwrap().to_owned()).collect()
        };
        assert_eq!(lines("ratelimit"), [r#""per-ip";r=99;t=1"#], "{path}");
        assert_eq!(
            lines("ratelimit-policy"),
            [r#""per-ip";q=100;w=60"#],
            "{path}"
        );
    }
}
