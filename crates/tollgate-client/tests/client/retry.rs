//! Retries against a local server, on tokio's paused clock: every wait is
//! exactly what the server asked for or the policy chose, so the gaps the
//! server sees between requests are checked to the millisecond.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use tollgate::Dialect;
use tollgate_client::{
    Cause, Jitter, RequestBuilderExt, ResponseExt, RetryBudget, RetryPolicy, StopReason,
    TollgateMiddleware,
};

use crate::common::{Events, InBody, Mock, Reply, client, client_from};

const SECOND: Duration = Duration::from_secs(1);

/// Gaps on the paused clock are exact; allow a millisecond for rounding.
fn assert_gap(actual: Duration, expected: Duration) {
    let diff = actual.abs_diff(expected);
    assert!(
        diff <= Duration::from_millis(1),
        "waited {actual:?}, expected {expected:?}"
    );
}

fn seed_002_rate_limited() -> Reply {
    Reply::new(429).header("content-type", "application/json").body(
        r#"{ "error": { "code": "RATE_LIMIT_ERROR", "message": "Rate limit exceeded: 100 calls per 60 seconds", "details": {} }, "request_id": "550e8400-e29b-41d4-a716-446655440000"}"#,
    )
}

#[tokio::test(start_paused = true)]
async fn waits_the_retry_after_seconds_then_succeeds() {
    let mock = Mock::start(vec![
        seed_002_rate_limited().header("retry-after", 2),
        Reply::ok(),
    ])
    .await;
    let response = client(RetryPolicy::default())
        .get(mock.url("/v1/rules"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.hits(), 2);
    assert_gap(mock.gaps()[0], 2 * SECOND);
    let attempts = response.attempts();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status(), Some(429));
    assert_eq!(attempts[0].code(), Some("RATE_LIMIT_ERROR"));
    assert_eq!(
        attempts[0].request_id(),
        Some("550e8400-e29b-41d4-a716-446655440000")
    );
    assert_eq!(attempts[0].delay(), Some(2 * SECOND));
    assert_eq!(attempts[1].started(), 2 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn waits_until_an_http_date() {
    // The server's clock follows tokio's paused clock; the client's runs
    // 90 s fast. The hint is read against the response's `Date`, so the
    // skew does not shorten the wait.
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_753_356_600);
    let t0 = tokio::time::Instant::now();
    let wall = move || epoch + t0.elapsed();
    let date = httpdate::fmt_http_date(wall() + 7 * SECOND);
    let mock = Mock::start(vec![
        Reply::api(Dialect::Problem, "service_unavailable", "r1", None)
            .header("retry-after", date)
            .header("date", httpdate::fmt_http_date(wall())),
        Reply::ok(),
    ])
    .await;
    let decoder = tollgate_client::ErrorDecoder::new().wall_clock(move || wall() + 90 * SECOND);
    let client = client_from(TollgateMiddleware::new().decoder(decoder));
    client.get(mock.url("/")).send_api().await.unwrap();
    assert_eq!(mock.hits(), 2);
    assert_gap(mock.gaps()[0], 7 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn waits_the_body_retry_after_of_seed_001() {
    // Seed 001's 429 example, verbatim: the hint is only in the body.
    let body = r#"{
  "error": {
    "code": 429,
    "message": "Too Many Requests: Rate limit exceeded",
    "retry_after": 60
  }
}"#;
    let mock = Mock::start(vec![Reply::new(429).body(body), Reply::ok()]).await;
    client(RetryPolicy::default())
        .get(mock.url("/scans"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
    assert_gap(mock.gaps()[0], 60 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn waits_for_githubs_spent_quota_on_a_403() {
    // GitHub's primary rate limit: a 403 with the quota at 0 and its reset
    // as a Unix time, no `Retry-After`.
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_753_356_600);
    let t0 = tokio::time::Instant::now();
    let wall = move || epoch + t0.elapsed();
    let reset = (wall() + 9 * SECOND)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let limited = Reply::new(403)
        .header("content-type", "application/json")
        .header("x-ratelimit-limit", 60)
        .header("x-ratelimit-remaining", 0)
        .header("x-ratelimit-reset", reset)
        .header("date", httpdate::fmt_http_date(wall()))
        .body(r#"{"message":"API rate limit exceeded for 203.0.113.7.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#);
    let mock = Mock::start(vec![limited, Reply::ok()]).await;
    let decoder = tollgate_client::ErrorDecoder::new().wall_clock(wall);
    let client = client_from(TollgateMiddleware::new().decoder(decoder));
    client.get(mock.url("/repos")).send_api().await.unwrap();
    assert_eq!(mock.hits(), 2);
    assert_gap(mock.gaps()[0], 9 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn waits_for_the_ietf_ratelimit_fields_spent_policy() {
    let limited = Reply::new(429)
        .header("ratelimit-policy", "\"per-key\";q=100;w=60")
        .header("ratelimit", "\"per-key\";r=0;t=4");
    let mock = Mock::start(vec![limited, Reply::ok()]).await;
    client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
    assert_gap(mock.gaps()[0], 4 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn a_cached_responses_age_moves_the_servers_now_for_an_http_date() {
    // A cache serves a 503 it stored 40 s ago: its `Date` is 40 s old and
    // `Age: 40` says so. The server's clock now reads `Date + Age`, and the
    // `Retry-After` date is 7 s after that.
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_753_356_600);
    let t0 = tokio::time::Instant::now();
    let wall = move || epoch + t0.elapsed();
    let mock = Mock::start(vec![
        Reply::new(503)
            .header("date", httpdate::fmt_http_date(wall() - 40 * SECOND))
            .header("age", 40)
            .header("retry-after", httpdate::fmt_http_date(wall() + 7 * SECOND)),
        Reply::ok(),
    ])
    .await;
    let decoder = tollgate_client::ErrorDecoder::new().wall_clock(wall);
    let client = client_from(TollgateMiddleware::new().decoder(decoder));
    let response = client.get(mock.url("/")).send_api().await.unwrap();
    assert_eq!(mock.hits(), 2);
    assert_gap(mock.gaps()[0], 7 * SECOND);
    assert_eq!(response.attempts()[0].delay(), Some(7 * SECOND));
}

#[test]
fn age_applies_to_an_http_date_only_when_valid_and_never_to_delay_seconds() {
    // The client's clock is an hour off: only `Date` and `Age` count.
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_753_356_600);
    let decoder = tollgate_client::ErrorDecoder::new().wall_clock(move || date + 3600 * SECOND);
    let retry_at = httpdate::fmt_http_date(date + 47 * SECOND);
    let cases: [(&[&str], &str, Duration); 13] = [
        (&["40"], &retry_at, 7 * SECOND),
        (&["0"], &retry_at, 47 * SECOND),
        (&[" 40 "], &retry_at, 7 * SECOND),
        // Past the date: no wait, never a negative one.
        (&["300"], &retry_at, Duration::ZERO),
        // Malformed or huge: ignored, the date counts alone.
        (&["abc"], &retry_at, 47 * SECOND),
        (&["-5"], &retry_at, 47 * SECOND),
        (&["4.5"], &retry_at, 47 * SECOND),
        (&["+40"], &retry_at, 47 * SECOND),
        (&["40, 40"], &retry_at, 47 * SECOND),
        (&["40", "40"], &retry_at, 47 * SECOND),
        (&["2147483648"], &retry_at, 47 * SECOND),
        (&["99999999999999999999999"], &retry_at, 47 * SECOND),
        // RFC 9110 §10.2.3: delay-seconds count from when the response is
        // received, whatever its age.
        (&["40"], "47", 47 * SECOND),
    ];
    for (ages, retry_after, expected) in cases {
        let mut headers = http::HeaderMap::new();
        headers.insert("date", httpdate::fmt_http_date(date).parse().unwrap());
        headers.insert("retry-after", retry_after.parse().unwrap());
        for age in ages {
            headers.append("age", age.parse().unwrap());
        }
        let e = decoder.decode(StatusCode::SERVICE_UNAVAILABLE, headers, Default::default());
        assert_eq!(e.retry_after(), Some(expected), "age {ages:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn ratelimit_fields_of_a_cached_response_are_ignored() {
    // The RateLimit draft (§7.3): a response with a positive age may carry
    // a stale quota, so its fields are not read; the 429 backs off instead.
    let policy = RetryPolicy::default().backoff(100 * Duration::from_millis(1), SECOND);
    let limited = || {
        Reply::new(429)
            .header("ratelimit-policy", "\"per-key\";q=100;w=60")
            .header("ratelimit", "\"per-key\";r=0;t=30")
    };
    let mock = Mock::start(vec![limited().header("age", 5), Reply::ok()]).await;
    client(policy.clone())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
    assert!(mock.gaps()[0] <= 100 * Duration::from_millis(1) + Duration::from_millis(1));

    // The older drafts' fields too.
    let mock = Mock::start(vec![
        Reply::new(429)
            .header("ratelimit-remaining", 0)
            .header("ratelimit-reset", 30)
            .header("age", 5),
        Reply::ok(),
    ])
    .await;
    client(policy.clone())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert!(mock.gaps()[0] <= 100 * Duration::from_millis(1) + Duration::from_millis(1));

    // `Age: 0` (or none that is valid) is no cached response: `t` is waited.
    for age in ["0", "abc"] {
        let mock = Mock::start(vec![limited().header("age", age), Reply::ok()]).await;
        client(policy.clone())
            .get(mock.url("/"))
            .send_api()
            .await
            .unwrap();
        assert_gap(mock.gaps()[0], 30 * SECOND);
    }

    // The response keeps its headers as they came.
    let mut headers = http::HeaderMap::new();
    headers.insert("ratelimit", "\"per-key\";r=0;t=30".parse().unwrap());
    headers.insert("age", "5".parse().unwrap());
    let e = tollgate_client::ErrorDecoder::new().decode(
        StatusCode::TOO_MANY_REQUESTS,
        headers,
        Default::default(),
    );
    assert_eq!(e.retry_after(), None);
    assert!(e.headers().contains_key("ratelimit"));
}
#[tokio::test(start_paused = true)]
async fn waits_the_google_retry_info() {
    // The google dialect's RetryInfo alone (the Retry-After header removed).
    let reply = Reply::api(
        Dialect::Google,
        "rate_limit_exceeded",
        "g1",
        Some(Duration::from_secs(9)),
    )
    .without_header("retry-after");
    assert!(
        String::from_utf8_lossy(&reply.body).contains("RetryInfo"),
        "{:?}",
        reply.body
    );
    let mock = Mock::start(vec![reply, Reply::ok()]).await;
    client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert_gap(mock.gaps()[0], 9 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn every_dialect_hint_is_honoured() {
    for dialect in Dialect::ALL {
        for (code, secs) in [("rate_limit_exceeded", 3), ("service_unavailable", 4)] {
            let reply = Reply::api(dialect, code, "r", Some(Duration::from_secs(secs)));
            let in_body = InBody::of(dialect, &reply.body).retry_after;
            // With `Retry-After`, then without it: the body's own hint, or
            // backoff when the dialect has no place for one.
            for (reply, hinted) in [(reply.clone(), true), (reply.body_only(), in_body)] {
                let mock = Mock::start(vec![reply, Reply::ok()]).await;
                client(RetryPolicy::default())
                    .get(mock.url("/"))
                    .send_api()
                    .await
                    .unwrap();
                assert_eq!(mock.hits(), 2, "{dialect} {code}");
                if hinted {
                    assert_gap(mock.gaps()[0], Duration::from_secs(secs));
                } else {
                    let ceiling = RetryPolicy::default().backoff_ceiling(0);
                    assert!(mock.gaps()[0] <= ceiling, "{dialect} {code}");
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_decides_over_the_bodys_hint() {
    // Longer or absurdly long, the body's hint gives way to the header's.
    for body_hint in ["5", "1e12"] {
        let reply = Reply::new(503).header("retry-after", 2).body(format!(
            r#"{{"error":{{"code":503,"message":"busy","retry_after":{body_hint}}}}}"#
        ));
        let mock = Mock::start(vec![reply, Reply::ok()]).await;
        client(RetryPolicy::default())
            .get(mock.url("/"))
            .send_api()
            .await
            .unwrap();
        assert_eq!(mock.hits(), 2, "{body_hint}");
        assert_gap(mock.gaps()[0], 2 * SECOND);
    }
}

#[tokio::test(start_paused = true)]
async fn a_hint_over_the_maximum_ends_the_request_at_once() {
    let mock = Mock::start(vec![
        seed_002_rate_limited().header("retry-after", 600),
        Reply::ok(),
    ])
    .await;
    let started = tokio::time::Instant::now();
    let err = client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(mock.hits(), 1);
    assert_eq!(
        err.stop(),
        Some(&StopReason::RetryAfterTooLong {
            asked: 600 * SECOND,
            max: 60 * SECOND
        })
    );
    assert_eq!(
        err.retry_after(),
        Some(600 * SECOND),
        "the caller learns when to come back"
    );
    assert!(
        err.to_string()
            .contains("the server asked to wait 600s, more than the 60s allowed"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hint_over_the_maximum_is_clamped_when_configured() {
    let mock = Mock::start(vec![
        seed_002_rate_limited().header("retry-after", 600),
        Reply::ok(),
    ])
    .await;
    let policy = RetryPolicy::default()
        .max_retry_after(10 * SECOND)
        .clamp_retry_after(true);
    client(policy).get(mock.url("/")).send_api().await.unwrap();
    assert_eq!(mock.hits(), 2);
    assert_gap(mock.gaps()[0], 10 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn final_4xx_are_never_retried_in_any_dialect() {
    let cases = [
        (400, "validation_error"),
        (400, "malformed_request"),
        (401, "invalid_key"),
        (402, "insufficient_credits"),
        (403, "insufficient_scope"),
        (404, "not_found"),
        (409, "conflict"),
        (413, "payload_too_large"),
        (422, "idempotency_key_reused"),
    ];
    let catalog = tollgate::Catalog::builtin();
    for dialect in Dialect::ALL {
        for (status, code) in cases {
            let mock = Mock::start(vec![
                Reply::api(dialect, code, "req_4xx", None),
                Reply::ok(),
            ])
            .await;
            let err = client(RetryPolicy::default())
                .get(mock.url("/"))
                .send_api()
                .await
                .unwrap_err();
            assert_eq!(mock.hits(), 1, "{dialect} {code} was retried");
            assert_eq!(err.status(), Some(StatusCode::from_u16(status).unwrap()));
            assert_eq!(err.stop(), Some(&StopReason::NotRetryable));
            let wire = err
                .code()
                .unwrap_or_else(|| panic!("{dialect} {code}: no code"));
            assert_eq!(
                catalog.find_wire_code(wire).map(|d| d.code()),
                Some(code),
                "{dialect}"
            );
            assert_eq!(err.request_ids(), ["req_4xx"], "{dialect} {code}");
        }
    }
    // And a bare 422 with no body at all.
    let mock = Mock::start(vec![Reply::new(422), Reply::ok()]).await;
    let err = client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(
        (mock.hits(), err.stop()),
        (1, Some(&StopReason::NotRetryable))
    );
}

#[tokio::test(start_paused = true)]
async fn a_409_idempotency_key_in_use_is_retried_after_a_short_wait() {
    let mock = Mock::start(vec![
        Reply::api(Dialect::Problem, "idempotency_key_in_use", "r1", None),
        Reply::new(201).body("{}"),
    ])
    .await;
    let response = client(RetryPolicy::default().in_use_delay(Duration::from_millis(750)))
        .post(mock.url("/v1/scans"))
        .header("idempotency-key", "k-409")
        .body("{}")
        .send_api()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(mock.hits(), 2);
    assert_gap(mock.gaps()[0], Duration::from_millis(750));
}

#[tokio::test(start_paused = true)]
async fn every_retryable_5xx_is_retried() {
    for status in [500, 502, 503, 504] {
        let mock = Mock::start(vec![Reply::new(status), Reply::new(status), Reply::ok()]).await;
        let response = client(RetryPolicy::default())
            .get(mock.url("/"))
            .send_api()
            .await
            .unwrap();
        assert_eq!(
            (response.status().as_u16(), mock.hits()),
            (200, 3),
            "{status}"
        );
    }
    for status in [501, 505] {
        let mock = Mock::start(vec![Reply::new(status), Reply::ok()]).await;
        let err = client(RetryPolicy::default())
            .get(mock.url("/"))
            .send_api()
            .await
            .unwrap_err();
        assert_eq!(
            (mock.hits(), err.stop()),
            (1, Some(&StopReason::NotRetryable)),
            "{status}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn post_and_patch_without_a_key_are_not_retried() {
    let client = client(RetryPolicy::default());
    for method in [http::Method::POST, http::Method::PATCH] {
        let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1), Reply::ok()]).await;
        let err = client
            .request(method.clone(), mock.url("/v1/scans"))
            .body("{}")
            .send_api()
            .await
            .unwrap_err();
        assert_eq!(mock.hits(), 1, "{method} was sent twice");
        assert_eq!(err.stop(), Some(&StopReason::NotIdempotent(method.clone())));
        assert!(
            err.to_string()
                .contains("without an Idempotency-Key could be processed twice"),
            "{err}"
        );
    }
    // A blank key protects nothing: a server that ignores it would run
    // the POST again.
    let mock = Mock::start(vec![Reply::new(500), Reply::ok()]).await;
    let err = client
        .post(mock.url("/v1/scans"))
        .header("idempotency-key", " ")
        .body("{}")
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(mock.hits(), 1, "a POST with a blank key was sent twice");
    assert_eq!(
        err.stop(),
        Some(&StopReason::NotIdempotent(http::Method::POST))
    );
    assert_eq!(err.idempotency_key(), None);
    // With auto_idempotency, a blank key is replaced by one of its own.
    let mock = Mock::start(vec![Reply::new(500), Reply::ok()]).await;
    crate::common::client(RetryPolicy::default().auto_idempotency(true))
        .post(mock.url("/v1/scans"))
        .header("idempotency-key", " ")
        .body("{}")
        .send_api()
        .await
        .unwrap();
    let keys: Vec<_> = mock
        .seen()
        .iter()
        .map(|seen| seen.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys[0] == keys[1] && keys[0].len() == 36, "{keys:?}");
    // PUT and DELETE are idempotent: retried without a key.
    for method in [http::Method::PUT, http::Method::DELETE] {
        let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1), Reply::ok()]).await;
        client
            .request(method.clone(), mock.url("/v1/scans/1"))
            .send_api()
            .await
            .unwrap();
        assert_eq!(mock.hits(), 2, "{method}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_post_the_server_did_not_act_on_is_retried_without_a_key() {
    let post = |client: &reqwest_middleware::ClientWithMiddleware, url: String| {
        client.post(url).body("{}").send_api()
    };
    // A 429: the rate limit refused it before any work.
    let mock = Mock::start(vec![
        seed_002_rate_limited().header("retry-after", 1),
        Reply::ok(),
    ])
    .await;
    post(&client(RetryPolicy::default()), mock.url("/v1/messages"))
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
    // Anthropic's 529 with `x-should-retry: true`, Stripe's 500 with
    // `Stripe-Should-Retry: true`: the server says so.
    for (status, header) in [(529, "x-should-retry"), (500, "stripe-should-retry")] {
        let mock = Mock::start(vec![Reply::new(status).header(header, "true"), Reply::ok()]).await;
        post(&client(RetryPolicy::default()), mock.url("/v1/messages"))
            .await
            .unwrap();
        assert_eq!(mock.hits(), 2, "{status} {header}");
    }
    // The policy's own rule says so, asked once per answer.
    let mock = Mock::start(vec![Reply::new(529), Reply::ok()]).await;
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = asked.clone();
    let policy = RetryPolicy::default().retry_when(move |e| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (e.status().as_u16() == 529).then_some(true)
    });
    post(&client(policy), mock.url("/v1/messages"))
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Without a word, a 529 is final and a 503 POST is not sent again.
    for status in [529, 503] {
        let mock = Mock::start(vec![Reply::new(status), Reply::ok()]).await;
        let err = post(&client(RetryPolicy::default()), mock.url("/v1/messages"))
            .await
            .unwrap_err();
        assert_eq!(mock.hits(), 1, "{status}: {err}");
    }
}

#[tokio::test(start_paused = true)]
async fn should_retry_false_makes_a_retryable_status_final() {
    let mock = Mock::start(vec![
        Reply::new(503).header("x-should-retry", "false"),
        Reply::ok(),
    ])
    .await;
    let err = client(RetryPolicy::default())
        .get(mock.url("/v1/models"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(mock.hits(), 1);
    assert_eq!(err.stop(), Some(&StopReason::NotRetryable));
    // The policy's rule outranks the server's header.
    let mock = Mock::start(vec![
        Reply::new(503).header("x-should-retry", "false"),
        Reply::ok(),
    ])
    .await;
    let policy = RetryPolicy::default().retry_when(|e| (e.status() == 503).then_some(true));
    client(policy)
        .get(mock.url("/v1/models"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_post_with_a_key_is_retried_with_that_same_key_and_body() {
    let mock = Mock::start(vec![Reply::new(503), Reply::new(502), Reply::new(201)]).await;
    let sent = serde_json::json!({"image_data": "...", "session_id": "s1"});
    let response = client(RetryPolicy::default())
        .post(mock.url("/v1/scans"))
        .header("idempotency-key", "key-123")
        .json(&sent)
        .send_api()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let seen = mock.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(
            (&s.method, s.path.as_str()),
            (&http::Method::POST, "/v1/scans")
        );
        assert_eq!(s.headers["idempotency-key"], "key-123");
        assert_eq!(
            String::from_utf8_lossy(&s.body),
            sent.to_string(),
            "every attempt sends the body whole"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn auto_idempotency_adds_one_uuid_v4_key_per_request() {
    let mock = Mock::start(vec![
        Reply::new(500),
        Reply::new(201),
        Reply::new(503),
        Reply::new(201),
    ])
    .await;
    let client = client(RetryPolicy::default().auto_idempotency(true));
    for _ in 0..2 {
        client
            .post(mock.url("/v1/scans"))
            .body("{}")
            .send_api()
            .await
            .unwrap();
    }
    let keys: Vec<String> = mock
        .seen()
        .iter()
        .map(|s| s.headers["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 4);
    assert_eq!(keys[0], keys[1], "a retry reuses its request's key");
    assert_eq!(keys[2], keys[3]);
    assert_ne!(keys[0], keys[2], "each request has its own key");
    for key in &keys {
        let uuid = uuid::Uuid::parse_str(key).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
    }
    // A key the caller set is kept; GETs get none.
    client
        .post(mock.url("/x"))
        .header("idempotency-key", "mine")
        .send_api()
        .await
        .ok();
    client.get(mock.url("/x")).send_api().await.ok();
    let seen = mock.seen();
    assert_eq!(seen[4].headers["idempotency-key"], "mine");
    assert!(!seen.last().unwrap().headers.contains_key("idempotency-key"));
    // A request that failed gives back the key it was sent with, to send it
    // again later under the same key.
    let failing = Mock::start(vec![Reply::new(503)]).await;
    let err = client
        .post(failing.url("/v1/scans"))
        .body("{}")
        .send_api()
        .await
        .unwrap_err();
    let sent = failing.seen()[0].headers["idempotency-key"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(err.idempotency_key(), Some(sent.as_str()));
    assert!(
        failing
            .seen()
            .iter()
            .all(|s| s.headers["idempotency-key"] == sent.as_str())
    );
    // Nor do methods other than POST and PATCH: servers honour the key for
    // those two, and a key would make a PURGE retryable.
    let purge = http::Method::from_bytes(b"PURGE").unwrap();
    client.request(purge, mock.url("/x")).send_api().await.ok();
    assert!(
        !mock
            .seen()
            .last()
            .unwrap()
            .headers
            .contains_key("idempotency-key")
    );
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_is_shared_and_runs_out() {
    let budget = RetryBudget::new(10, 5, 1);
    let middleware = TollgateMiddleware::new()
        .budget(budget.clone())
        .policy(RetryPolicy::default().max_attempts(10));
    let client = client_from(middleware);
    let mock = Mock::start(vec![Reply::new(503)]).await;

    let err = client.get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!(err.attempts().len(), 3, "10 tokens pay for two retries");
    assert_eq!(err.stop(), Some(&StopReason::BudgetExhausted));
    assert_eq!(budget.tokens(), 0);

    // A second request, and a clone of the client, find the bucket empty.
    let err = client
        .clone()
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.attempts().len(), 1);
    assert_eq!(err.stop(), Some(&StopReason::BudgetExhausted));
    assert!(err.to_string().contains("retry budget is spent"), "{err}");
    assert_eq!(mock.hits(), 4);

    // Successes earn tokens back: five of them pay for one retry again.
    let ok = Mock::start(vec![Reply::ok()]).await;
    for _ in 0..5 {
        client.get(ok.url("/")).send_api().await.unwrap();
    }
    assert_eq!(budget.tokens(), 5);
    let err = client.get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!(err.attempts().len(), 2);

    // A 429 paces the client: its retries spend nothing, so a steady pace
    // of 429s each followed by a success keeps retrying.
    for _ in 0..5 {
        let paced = Mock::start(vec![Reply::new(429).header("retry-after", 1), Reply::ok()]).await;
        let response = client.get(paced.url("/")).send_api().await.unwrap();
        assert_eq!(response.attempts().len(), 2);
    }
    assert_eq!(budget.tokens(), 5);
    // So does GitHub's rate-limit 403: its five successes only earn.
    for _ in 0..5 {
        let paced = Mock::start(vec![Reply::new(403).header("retry-after", 1), Reply::ok()]).await;
        let response = client.get(paced.url("/")).send_api().await.unwrap();
        assert_eq!(response.attempts().len(), 2);
    }
    assert_eq!(budget.tokens(), 10);
}

#[tokio::test(start_paused = true)]
async fn the_middleware_reports_the_budget_it_spends_from() {
    let middleware = TollgateMiddleware::new()
        .budget(RetryBudget::new(10, 5, 1))
        .jitter(Jitter::seeded(1));
    let budget = middleware.retry_budget().clone();
    assert_eq!(budget.tokens(), 10);
    let mock = Mock::start(vec![Reply::new(503), Reply::ok()]).await;
    client_from(middleware)
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    // One retry spent 5, the success earned 1 back.
    assert_eq!(budget.tokens(), 6);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_stops_before_a_wait_that_would_pass_it() {
    let mock = Mock::start(vec![Reply::new(503).header("retry-after", 4)]).await;
    let policy = RetryPolicy::default()
        .max_attempts(100)
        .deadline(10 * SECOND);
    let started = tokio::time::Instant::now();
    let err = client(policy)
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    // Attempts at 0 s, 4 s and 8 s; a fourth would start at 12 s.
    assert_eq!(mock.hits(), 3);
    assert_eq!(started.elapsed(), 8 * SECOND);
    assert_eq!(err.stop(), Some(&StopReason::Deadline(10 * SECOND)));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_an_attempt_that_hangs() {
    let mock = Mock::start(vec![Reply::ok().stall(3600 * SECOND)]).await;
    let started = tokio::time::Instant::now();
    let err = client(RetryPolicy::default().deadline(5 * SECOND))
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), 5 * SECOND);
    assert!(
        matches!(err.cause(), Cause::DeadlineElapsed(d) if *d == 5 * SECOND),
        "{err:?}"
    );
    assert_eq!(err.kind(), Some(tollgate::Kind::Timeout));
    assert_eq!(err.stop(), Some(&StopReason::Deadline(5 * SECOND)));
}

#[tokio::test(start_paused = true)]
async fn without_a_deadline_a_slow_answer_is_waited_for() {
    // Past the default deadline of 120 s.
    let mock = Mock::start(vec![Reply::ok().stall(200 * SECOND)]).await;
    let response = client(RetryPolicy::default().without_deadline())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.hits(), 1);
}

/// `client_with` sets reqwest's read timeout to the policy's deadline: a
/// success's body, which the middleware hands on before it is read, is
/// ended when it stalls that long, not waited for; a deadline of 500 days
/// too (one of a century or more sets none).
#[tokio::test(start_paused = true)]
async fn a_success_body_that_stalls_is_ended_at_the_deadline() {
    const DAY: Duration = Duration::from_secs(86_400);
    for deadline in [10 * SECOND, 500 * DAY] {
        // Within Tokio's longest timer, about 795 days.
        let reply = Reply::ok().body("0123456789").body_stall(700 * DAY);
        let mock = Mock::start(vec![reply]).await;
        let client = tollgate_client::client_with(RetryPolicy::default().deadline(deadline));
        let response = client.get(mock.url("/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let err = response.bytes().await.unwrap_err();
        assert!(err.is_timeout(), "{deadline:?}: {err:?}");
    }
}

/// A success body that trickles in (no read waits long enough for
/// reqwest's read timeout) is ended at the deadline by `json_data`.
#[tokio::test(start_paused = true)]
async fn a_success_body_that_trickles_is_ended_at_the_deadline_by_json_data() {
    let envelope = format!(r#"{{"success":true,"data":"{}"}}"#, "x".repeat(100));
    let reply = Reply::ok()
        .body(envelope)
        .trickle(Duration::from_millis(500));
    let mock = Mock::start(vec![reply]).await;
    let client = tollgate_client::client_with(RetryPolicy::default().deadline(10 * SECOND));
    let started = tokio::time::Instant::now();
    let response = client.get(mock.url("/")).send().await.unwrap();
    let err = response.json_data::<String>().await.unwrap_err();
    assert_eq!(started.elapsed(), 10 * SECOND);
    assert!(
        matches!(err.cause(), Cause::DeadlineElapsed(d) if *d == 10 * SECOND),
        "{err:?}"
    );
    // The head came: what did not is the body.
    let url = mock.url("/");
    assert_eq!(
        err.to_string(),
        format!("GET {url}: the 200 response's body was not read within the 10s deadline")
    );
    // Within it, the same body is read.
    let reply = Reply::ok()
        .body(r#"{"success":true,"data":"ok"}"#)
        .trickle(Duration::from_millis(100));
    let mock = Mock::start(vec![reply]).await;
    let response = client.get(mock.url("/")).send().await.unwrap();
    assert_eq!(response.json_data::<String>().await.unwrap(), "ok");
}

#[tokio::test(start_paused = true)]
async fn an_error_body_still_arriving_at_the_deadline_keeps_status_and_hint() {
    let reply = Reply::new(429)
        .header("retry-after", 5)
        .header("x-request-id", "req_slow")
        .body(r#"{"error":{"code":429,"message":"slow down","retry_after":5}}"#)
        .body_stall(3600 * SECOND);
    let mock = Mock::start(vec![reply]).await;
    let started = tokio::time::Instant::now();
    let err = client(RetryPolicy::default().deadline(3 * SECOND))
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), 3 * SECOND);
    assert_eq!(mock.hits(), 1);
    assert_eq!(err.status(), Some(http::StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(err.retry_after(), Some(5 * SECOND));
    assert_eq!(err.request_ids(), ["req_slow"]);
    assert!(err.response().unwrap().is_truncated());
    assert_eq!(err.stop(), Some(&StopReason::Deadline(3 * SECOND)));
}

/// An error body that stalls or trickles is read for `ERROR_BODY_TIME` at
/// most: the wait its headers ask for, and the retry, still fit the deadline.
#[tokio::test(start_paused = true)]
async fn an_error_body_that_stalls_does_not_spend_the_deadline_of_the_retry() {
    for slow in [
        Reply::new(503)
            .header("retry-after", 1)
            .body(r#"{"error":{"code":"busy","message":"try again"}}"#)
            .body_stall(3600 * SECOND),
        Reply::new(503)
            .header("retry-after", 1)
            .body(format!(r#"{{"error":"{}"}}"#, "x".repeat(100)))
            .trickle(Duration::from_millis(500)),
    ] {
        let mock = Mock::start(vec![slow, Reply::ok().body("done")]).await;
        let started = tokio::time::Instant::now();
        let response = client(RetryPolicy::default().deadline(60 * SECOND))
            .get(mock.url("/"))
            .send_api()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "done");
        assert_eq!(started.elapsed(), tollgate_client::ERROR_BODY_TIME + SECOND);
        assert_eq!(mock.hits(), 2);
    }
    // A final answer's body is read to the deadline, for its message.
    let message = "x".repeat(16);
    let slow = Reply::new(400)
        .body(format!(
            r#"{{"error":{{"code":"bad","message":"{message}"}}}}"#
        ))
        .trickle(Duration::from_millis(200));
    let mock = Mock::start(vec![slow]).await;
    let err = client(RetryPolicy::default().deadline(60 * SECOND))
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    let response = err.response().unwrap();
    assert!(!response.is_truncated());
    assert_eq!(response.message(), Some(message.as_str()));
}

/// A wait given as a point in time ends at that point, however long the
/// error body took: `Date` 8 s before the `Retry-After` date and a body cut
/// after 5 s leave 3 s to wait, not 8 more.
#[tokio::test(start_paused = true)]
async fn a_point_in_time_to_retry_at_is_kept_when_the_body_was_slow() {
    let date = SystemTime::now();
    let slow = Reply::new(503)
        .header("date", httpdate::fmt_http_date(date))
        .header("retry-after", httpdate::fmt_http_date(date + 8 * SECOND))
        .body(r#"{"error":{"code":"busy","message":"try again"}}"#)
        .body_stall(3600 * SECOND);
    let mock = Mock::start(vec![slow, Reply::ok().body("done")]).await;
    let started = tokio::time::Instant::now();
    let response = client(RetryPolicy::default().deadline(60 * SECOND))
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert_gap(started.elapsed(), 8 * SECOND);
    assert_gap(response.attempts()[0].delay().unwrap(), 3 * SECOND);
    assert_eq!(response.text().await.unwrap(), "done");
}

/// A status final by itself whose headers make it retried (a key still in
/// use, AWS's throttling, a spent GitHub quota) has its stalled body cut
/// after `ERROR_BODY_TIME` too: the retry is made, not the deadline spent.
#[tokio::test(start_paused = true)]
async fn headers_that_make_a_final_status_retried_do_not_wait_on_its_body() {
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        + 7 * SECOND;
    let heads = [
        Reply::new(409).header("x-error-code", "idempotency_key_in_use"),
        Reply::new(400).header("x-amzn-errortype", "ThrottlingException"),
        Reply::new(403)
            .header("date", httpdate::fmt_http_date(SystemTime::now()))
            .header("x-ratelimit-remaining", 0)
            .header("x-ratelimit-reset", reset.as_secs()),
    ];
    for head in heads {
        let slow = head.body(r#"{"message":"wait"#).body_stall(3600 * SECOND);
        let mock = Mock::start(vec![slow, Reply::ok().body("done")]).await;
        let started = tokio::time::Instant::now();
        let response = client(RetryPolicy::default().deadline(60 * SECOND))
            .post(mock.url("/"))
            .header("idempotency-key", "k-7")
            .send_api()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "done");
        assert_eq!(mock.hits(), 2);
        assert!(started.elapsed() < 10 * SECOND, "{:?}", started.elapsed());
    }
}

#[tokio::test(start_paused = true)]
async fn max_attempts_and_disabled_retries() {
    let mock = Mock::start(vec![Reply::new(503)]).await;
    let err = client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.attempts().len(), 4);
    assert_eq!(err.stop(), Some(&StopReason::MaxAttempts(4)));
    assert!(
        err.to_string().contains("gave up after 4 attempts"),
        "{err}"
    );

    let mock = Mock::start(vec![Reply::new(503)]).await;
    let err = client(RetryPolicy::disabled())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!((mock.hits(), err.stop()), (1, Some(&StopReason::Disabled)));

    // A per-request policy replaces the client's.
    let mock = Mock::start(vec![Reply::new(503)]).await;
    let err = client(RetryPolicy::default())
        .get(mock.url("/"))
        .with_extension(RetryPolicy::default().max_attempts(2))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(
        (mock.hits(), err.stop()),
        (2, Some(&StopReason::MaxAttempts(2)))
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_are_numbered_from_one() {
    let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1)]).await;
    let err = client(RetryPolicy::default().max_attempts(3))
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    let numbers: Vec<u32> = err.attempts().iter().map(|a| a.number()).collect();
    assert_eq!(numbers, [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_is_not_retried_and_says_so() {
    let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1), Reply::ok()]).await;
    let body = reqwest::Body::wrap(http_body_util::Full::new(bytes::Bytes::from_static(
        b"frame",
    )));
    let err = client(RetryPolicy::default())
        .put(mock.url("/v1/frames/1"))
        .body(body)
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(mock.hits(), 1);
    assert_eq!(mock.seen()[0].body, "frame");
    assert_eq!(err.stop(), Some(&StopReason::BodyNotCloneable));
    assert!(
        err.to_string()
            .contains("the request body is a stream and cannot be sent again"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn connection_errors_are_retried_with_backoff() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener); // nothing listens there now: connections are refused
    let err = client(RetryPolicy::default())
        .get(&url)
        .send_api()
        .await
        .unwrap_err();
    let attempts = err.attempts();
    assert_eq!(attempts.len(), 4);
    // Each wait is the seeded jitter's draw, within retry n's ceiling.
    let policy = RetryPolicy::default();
    let replay = Jitter::seeded(1);
    for (n, pair) in (0..).zip(attempts.windows(2)) {
        let delay = pair[0].delay().expect("a retry follows");
        assert_eq!(delay, policy.backoff_delay(n, &replay), "retry {n}");
        assert!(
            delay > Duration::ZERO && delay <= policy.backoff_ceiling(n),
            "retry {n}: {delay:?}"
        );
        assert_gap(pair[1].started() - pair[0].started(), delay);
    }
    assert_eq!(attempts[3].delay(), None);
    assert!(
        err.transport().is_some_and(reqwest::Error::is_connect),
        "{err:?}"
    );
    assert_eq!(err.kind(), Some(tollgate::Kind::Unavailable));
    // A POST whose connection was never made was never sent: retried too.
    let err = client(RetryPolicy::default())
        .post(&url)
        .body("{}")
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.attempts().len(), 4, "{err:?}");
    assert_eq!(err.stop(), Some(&StopReason::MaxAttempts(4)));
    assert!(
        err.attempts()
            .iter()
            .all(|a| a.status().is_none() && a.error().is_some())
    );
    // The attempt's text names the cause and leaves out the query (it may hold a key).
    let err = client(RetryPolicy::default().max_attempts(1))
        .get(format!("{url}?api_key=secret"))
        .send_api()
        .await
        .unwrap_err();
    let text = err.attempts()[0].error().unwrap();
    assert!(!text.contains("secret"), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    // So do the error's text and debug output, and the user name and
    // password with it; the URL itself stays whole.
    let with_password = url.replace("http://", "http://sk_live_1:hunter2@");
    let err = client(RetryPolicy::default().max_attempts(1))
        .get(format!("{with_password}?api_key=secret"))
        .send_api()
        .await
        .unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(
            !text.contains("secret") && !text.contains("hunter2") && !text.contains("sk_live"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1"), "{text}");
    }
    assert_eq!(err.url().unwrap().query(), Some("api_key=secret"));
    // A request built whole keeps its user name in the URL (a request
    // builder moves it into `Authorization`); the text leaves it out.
    let request = reqwest::Request::new(reqwest::Method::GET, with_password.parse().unwrap());
    let err = client(RetryPolicy::default().max_attempts(1))
        .execute(request)
        .await
        .unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("sk_live"), "{text}");
        assert!(text.contains("127.0.0.1"), "{text}");
    }

    let err = client(RetryPolicy::default().retry_transport_errors(false))
        .get(&url)
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.attempts().len(), 1);
}

// In real time: a paused clock could jump to the deadline while the server's
// thread answers.
#[cfg(feature = "rustls")]
#[tokio::test]
async fn a_failed_tls_handshake_is_not_retried() {
    // A server that answers the TLS hello in plain HTTP: the handshake fails
    // in rustls as it does on a certificate it rejects.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let mut hello = [0; 16];
            let _ = std::io::Read::read(&mut socket, &mut hello);
            let _ = std::io::Write::write_all(&mut socket, b"HTTP/1.1 400 Bad Request\r\n\r\n");
            // Kept open: a close could reset the connection first.
            open.push(socket);
        }
    });
    let err = client(RetryPolicy::default())
        .get(&url)
        .send_api()
        .await
        .unwrap_err();
    assert!(
        err.transport().is_some_and(reqwest::Error::is_connect),
        "{err:?}"
    );
    assert_eq!(err.attempts().len(), 1, "{err:?}");
    assert_eq!(err.stop(), Some(&StopReason::NotRetryable));
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retried() {
    let mock = Mock::start(vec![Reply::ok().stall(30 * SECOND), Reply::ok()]).await;
    let http = reqwest::Client::builder()
        .timeout(2 * SECOND)
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(http)
        .with(TollgateMiddleware::new().jitter(Jitter::seeded(3)))
        .build();
    let response = client.get(mock.url("/")).send_api().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.hits(), 2);
    assert!(response.attempts()[0].error().is_some());
}

// In real time: the server closes a socket of its own.
#[tokio::test]
async fn a_connection_closed_before_any_response_is_retried() {
    // The first connection is closed once the request is read (hyper's
    // incomplete message); the second is answered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for answer in [false, true] {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0; 4096];
            let _ = socket.read(&mut request).await;
            if answer {
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                let _ = socket.write_all(ok).await;
            }
        }
    });
    let quick = Duration::from_millis(1);
    let response = client(RetryPolicy::default().backoff(quick, quick))
        .get(&url)
        .send_api()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let attempts = response.attempts();
    assert_eq!(attempts.len(), 2);
    assert!(attempts[0].error().is_some(), "{attempts:?}");
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_a_tracing_event_and_the_error_lists_every_request_id() {
    let (events, _guard) = Events::capture();
    let mock = Mock::start(vec![
        Reply::api(Dialect::Coded, "service_unavailable", "r1", Some(SECOND)),
        Reply::api(
            Dialect::Coded,
            "service_unavailable",
            "r2",
            Some(2 * SECOND),
        ),
        Reply::api(
            Dialect::Coded,
            "service_unavailable",
            "r3",
            Some(3 * SECOND),
        ),
    ])
    .await;
    let err = client(RetryPolicy::default().max_attempts(3))
        .get(mock.url("/v1/scans"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.request_ids(), ["r1", "r2", "r3"]);
    assert!(
        err.to_string().ends_with("(request ids r1, r2, r3)"),
        "{err}"
    );

    let events = events.all();
    assert_eq!(events.len(), 3, "{events:?}");
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["attempt"], (i + 1).to_string());
        assert_eq!(event["status"], "503");
        assert_eq!(event["code"], "service_unavailable");
        assert_eq!(event["request_id"], format!("r{}", i + 1));
        assert_eq!(event["method"], "GET");
        assert_eq!(event["path"], "/v1/scans");
    }
    assert_eq!(events[0]["decision"], "retry");
    assert_eq!(events[0]["delay_ms"], "1000.0");
    assert_eq!(events[1]["delay_ms"], "2000.0");
    assert_eq!(events[2]["decision"], "give_up");
    assert_eq!(events[2]["reason"], "gave up after 3 attempts");
    assert!(!events[2].contains_key("delay_ms"));
}

#[tokio::test(start_paused = true)]
async fn retries_log_at_info_and_a_success_at_debug() {
    let (events, _guard) = Events::capture();
    let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1), Reply::ok()]).await;
    client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    let events = events.all();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        (events[0]["decision"].as_str(), events[0]["level"].as_str()),
        ("retry", "INFO")
    );
    assert_eq!(
        (events[1]["decision"].as_str(), events[1]["level"].as_str()),
        ("done", "DEBUG")
    );
}

#[tokio::test(start_paused = true)]
async fn a_catalog_code_marked_never_is_not_retried() {
    let catalog = tollgate::Catalog::from_toml(
        "app.toml",
        r#"
[errors.maintenance_forever]
status = 503
title = "Retired"
message = "This endpoint is retired."
retry = "never"
"#,
    )
    .unwrap();
    let mock = Mock::start(vec![
        Reply::new(503).body(r#"{"error":"maintenance_forever","message":"retired"}"#),
    ])
    .await;
    let decoder = tollgate_client::ErrorDecoder::new().catalog(catalog);
    let err = client_from(TollgateMiddleware::new().decoder(decoder))
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(
        (mock.hits(), err.stop()),
        (1, Some(&StopReason::NotRetryable))
    );
    // The built-in catalog does not know the code: the status decides.
    let err = client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.attempts().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn absurd_hints_and_limits_do_not_panic() {
    // A hint of u64::MAX seconds with no maximum and a deadline too far to
    // represent: the deadline is dropped, and the client waits as asked.
    let reply = Reply::new(429).header("retry-after", "99999999999999999999999");
    let mock = Mock::start(vec![reply.clone(), Reply::ok()]).await;
    let policy = RetryPolicy::default()
        .max_retry_after(Duration::MAX)
        .deadline(Duration::MAX);
    let task = tokio::spawn({
        let url = mock.url("/");
        async move { client(policy).get(url).send_api().await }
    });
    // The client now sleeps "forever" (as asked); nothing panicked.
    tokio::time::sleep(Duration::from_secs(365 * 24 * 3600)).await;
    assert!(!task.is_finished());
    task.abort();
    assert_eq!(mock.hits(), 1);

    // The client built with that deadline reads bodies without a timeout
    // (reqwest's, added to each read's time, would overflow).
    let mock = Mock::start(vec![Reply::new(404), Reply::ok()]).await;
    let far = tollgate_client::client_with(RetryPolicy::default().deadline(Duration::MAX));
    let err = far.get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    let body = far
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap()
        .bytes()
        .await;
    assert!(body.is_ok());

    // With a deadline, the same hint gives up at once.
    let mock = Mock::start(vec![reply, Reply::ok()]).await;
    let policy = RetryPolicy::default().max_retry_after(Duration::MAX);
    let err = client(policy)
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.stop(), Some(&StopReason::Deadline(120 * SECOND)));
}

#[tokio::test(start_paused = true)]
async fn a_rule_of_the_users_own_overrides_the_status() {
    let policy = RetryPolicy::default().retry_when(|e| match (e.status().as_u16(), e.code()) {
        (529, _) => Some(true),
        (429, Some("insufficient_quota")) => Some(false),
        _ => None,
    });
    // Anthropic's overloaded 529: a GET is retried by its status (a server
    // error), a POST without a key only by the rule, which says the API did
    // not act on it.
    let overloaded =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let mock = Mock::start(vec![Reply::new(529).body(overloaded), Reply::ok()]).await;
    client(RetryPolicy::default())
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
    let mock = Mock::start(vec![Reply::new(529).body(overloaded), Reply::ok()]).await;
    let without = client(RetryPolicy::default())
        .post(mock.url("/"))
        .send_api()
        .await;
    assert_eq!(without.unwrap_err().attempts().len(), 1);
    let mock = Mock::start(vec![Reply::new(529).body(overloaded), Reply::ok()]).await;
    client(policy.clone())
        .post(mock.url("/"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(mock.hits(), 2);
    // OpenAI's spent quota: a 429 made final.
    let spent = r#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","code":"insufficient_quota"}}"#;
    let mock = Mock::start(vec![Reply::new(429).body(spent), Reply::ok()]).await;
    let err = client(policy)
        .get(mock.url("/"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(err.stop(), Some(&StopReason::NotRetryable));
    assert_eq!(mock.hits(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_default_client_waits_for_a_slow_answer_up_to_the_deadline() {
    // 45 s before the head: a long report, a model's answer. Neither cut at
    // 30 s nor sent again.
    let mock = Mock::start(vec![Reply::ok().stall(45 * SECOND), Reply::ok()]).await;
    let response = tollgate_client::client()
        .get(mock.url("/v1/report"))
        .send_api()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.hits(), 1);

    // Past the deadline, it is cut there.
    let mock = Mock::start(vec![Reply::ok().stall(200 * SECOND)]).await;
    let client = tollgate_client::client_with(RetryPolicy::default().deadline(60 * SECOND));
    let err = client
        .get(mock.url("/v1/report"))
        .send_api()
        .await
        .unwrap_err();
    assert_eq!(
        err.stop(),
        Some(&StopReason::Deadline(60 * SECOND)),
        "{err}"
    );
}

#[cfg(feature = "reqwest-retry")]
#[tokio::test(start_paused = true)]
async fn with_reqwest_retry_outside_only_this_middleware_retries() {
    use reqwest_retry::RetryTransientMiddleware;
    use reqwest_retry::policies::ExponentialBackoff;

    let reqwest_retry = || {
        RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder().build_with_max_retries(2),
        )
    };
    let ours = || {
        TollgateMiddleware::new()
            .policy(RetryPolicy::default().max_attempts(3))
            .jitter(Jitter::seeded(1))
    };
    // Outside: it sees this middleware's error, which it does not retry.
    let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1)]).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(reqwest_retry())
        .with(ours())
        .build();
    let err = client.get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!((mock.hits(), err.attempts().len()), (3, 3));
    // What this middleware decoded comes through reqwest-retry's wrapper.
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.stop(), Some(&StopReason::MaxAttempts(3)));
    // Inside: each of this middleware's attempts is retried by it too.
    let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1)]).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ours())
        .with(reqwest_retry())
        .build();
    let err = client.get(mock.url("/")).send_api().await.unwrap_err();
    assert_eq!((mock.hits(), err.attempts().len()), (9, 3));
}

#[tokio::test(start_paused = true)]
async fn a_second_middleware_in_the_chain_leaves_the_retries_to_the_first() {
    let middleware = |attempts| {
        TollgateMiddleware::new()
            .policy(RetryPolicy::default().max_attempts(attempts))
            .jitter(Jitter::seeded(1))
    };
    let chain = |outer, inner| {
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(middleware(outer))
            .with(middleware(inner))
            .build()
    };
    let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1)]).await;
    let err = chain(3, 2).get(mock.url("/")).send_api().await.unwrap_err();
    // The outer one's policy, and its attempts are the requests sent.
    assert_eq!((mock.hits(), err.attempts().len()), (3, 3));
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.stop(), Some(&StopReason::MaxAttempts(3)));
    // A success passes through both as it came.
    let mock = Mock::start(vec![Reply::new(503).header("retry-after", 1), Reply::ok()]).await;
    let response = chain(3, 3).get(mock.url("/")).send_api().await.unwrap();
    assert_eq!((mock.hits(), response.attempts().len()), (2, 2));
}

/// `client_with` sets reqwest's read timeout to the deadline: it fires on
/// the deadline's tick, and is reported as the deadline, as the
/// middleware's own cut is, a POST without a key included.
#[tokio::test(start_paused = true)]
async fn a_read_timeout_at_the_deadline_is_the_deadline() {
    let policy = RetryPolicy::default().deadline(2 * SECOND);
    let built = tollgate_client::client_with(policy.clone());
    let own = client(policy);
    for client in [&built, &own] {
        let mock = Mock::start(vec![Reply::ok().stall(4 * SECOND)]).await;
        let url = mock.url("/v1/scans");
        for request in [client.get(&url), client.post(&url).body("{}")] {
            let err = request.send_api().await.unwrap_err();
            assert!(
                matches!(err.cause(), Cause::DeadlineElapsed(d) if *d == 2 * SECOND),
                "{err:?}"
            );
            assert_eq!(err.stop(), Some(&StopReason::Deadline(2 * SECOND)));
            let method = err.method().unwrap();
            // The deadline is said once.
            assert_eq!(
                err.to_string(),
                format!("{method} {url}: no response within the 2s deadline")
            );
        }
    }
}
