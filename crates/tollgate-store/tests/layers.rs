//! The tower layers on both backends: authentication errors, scopes, charging
//! around the handler, and idempotent retries.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Kind, TestDb};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tollgate::{ApiError, Dialect};
use tollgate_store::{
    Gatekeeper, Idempotency, Limits, NewAccount, NewKey, Principal, Reservation, Store,
    StoreOptions,
};
use tower::{Layer, Service, ServiceExt};

both_backends!(
    an_authenticated_request_carries_its_key_id_as_its_rate_limit_key,
    answers_to_a_keyed_request_are_kept_by_no_shared_cache,
    auth_errors_are_401s_with_www_authenticate,
    scope_and_suspension_errors,
    several_api_keys_on_one_request_are_refused,
    charged_on_success_released_on_errors_and_on_drop,
    credit_and_usage_refusals_render_in_the_dialect,
    idempotent_replay_and_conflicts,
    a_replay_sends_no_rate_limit_fields_of_the_first_response,
    a_route_idempotency_layer_inside_a_global_one_runs_once,
    twenty_concurrent_requests_with_one_key_run_once_and_charge_once,
    failures_are_not_stored_so_retries_run,
    refusals_of_the_request_as_sent_are_not_stored_so_retries_run,
    responses_too_large_to_keep_spend_the_key,
    a_response_lost_after_the_handler_answered_spends_the_key,
    a_request_dropped_while_its_charge_waits_is_not_charged,
    a_request_dropped_while_claiming_its_key_leaves_it_free,
    a_charge_or_claim_held_up_by_a_lock_is_a_503_after_the_acquire_timeout,
    an_answer_is_not_held_up_by_a_lock_on_its_refund_or_record,
    an_answer_is_not_held_up_by_a_lock_on_its_key_s_renewal,
    a_lookup_waiting_for_a_connection_a_lock_holds_is_a_503,
    a_request_dropped_while_its_lock_renews_leaves_the_key_free,
    an_outcome_is_stored_though_its_first_writes_fail,
    a_key_is_freed_though_its_first_writes_fail,
    a_claim_whose_answer_is_lost_leaves_the_key_free,
    an_expired_record_a_claim_finds_after_its_delete_does_not_hold_the_key,
    a_revocation_or_suspension_whose_answer_is_lost_still_clears_the_cache,
    credits_are_given_back_though_the_first_release_finds_no_connection,
    a_charge_refused_as_a_top_up_lands_is_made_with_the_new_credits,
    finish_writes_waits_for_what_a_late_charge_or_claim_gives_back,
    a_response_dropped_while_its_lock_renews_spends_the_key,
    a_request_dropped_as_its_handler_answers_during_a_renewal_spends_the_key,
    a_slow_request_keeps_its_key_past_the_lock_timeout,
    a_slow_response_body_keeps_its_key_past_the_lock_timeout,
    a_lock_timeout_too_long_for_the_clock_still_answers,
    the_handler_runs_on_while_a_renewal_waits,
    idempotency_key_required_and_validated,
    idempotency_keys_apply_to_posts_and_patches_only_and_not_when_off,
    a_response_exactly_at_the_body_limit_is_kept_for_replay,
    a_stored_answer_keeps_its_charge_though_its_process_stopped_before_deleting_the_record,
    an_upload_cut_off_midway_is_malformed_not_too_large,
    several_idempotency_keys_on_one_request_are_refused,
    a_form_with_a_boundary_where_another_holds_its_mark_is_another_request,
    an_outer_body_limit_is_told_without_an_unfilled_limit,
    idempotency_records_expire,
    idempotency_records_are_kept_a_day_by_default,
    any_custom_principals_key_id_scopes_its_idempotency_keys,
);

type Req = Request<Full<Bytes>>;

/// A handler that counts its calls and answers `status` with a body naming the account.
#[derive(Clone)]
struct Handler {
    calls: Arc<AtomicUsize>,
    status: Arc<std::sync::Mutex<u16>>,
    delay_yields: usize,
}

impl Handler {
    fn new() -> Handler {
        Handler {
            calls: Arc::default(),
            status: Arc::new(std::sync::Mutex::new(201)),
            delay_yields: 0,
        }
    }
    fn set_status(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn service(
        &self,
    ) -> impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static {
        let this = self.clone();
        tower::service_fn(move |req: Req| {
            let this = this.clone();
            async move {
                let n = this.calls.fetch_add(1, Ordering::SeqCst) + 1;
                for _ in 0..this.delay_yields {
                    tokio::task::yield_now().await;
                }
                let status = *this.status.lock().unwrap();
                let who = req
                    .extensions()
                    .get::<Principal>()
                    .map(|p| p.account_id().to_owned())
                    .unwrap_or_default();
                let body = format!(r#"{{"id":"scan_{n}","account":"{who}"}}"#);
                let mut res = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .header("location", format!("/v1/scans/scan_{n}"))
                    .body(Full::from(body))
                    .unwrap();
                if status == 404 {
                    let err = tollgate::Catalog::builtin().error("not_found").unwrap();
                    res.extensions_mut().insert(err);
                }
                Ok(res)
            }
        })
    }
}

struct Fixture {
    db: TestDb,
    gate: Gatekeeper,
    key: String,
}

impl Fixture {
    async fn new(kind: Kind, credits: i64) -> Option<Fixture> {
        Fixture::with(kind, credits, |options| options).await
    }
    /// The fixture on a store opened with `options` changed.
    async fn with(
        kind: Kind,
        credits: i64,
        options: impl FnOnce(StoreOptions) -> StoreOptions,
    ) -> Option<Fixture> {
        let db = TestDb::with(kind, options).await?;
        db.store
            .create_account(NewAccount::new("acme").credits(credits))
            .await
            .unwrap();
        let key = db
            .store
            .create_key(NewKey::new("acme", ["scans:read", "scans:write"]))
            .await
            .unwrap();
        let gate = Gatekeeper::new(db.store.clone());
        Some(Fixture {
            db,
            gate,
            key: key.secret().to_owned(),
        })
    }
    fn store(&self) -> &Store {
        &self.db.store
    }
    async fn balance(&self) -> i64 {
        self.store().account("acme").await.unwrap().balance()
    }
}

/// A handler that is still running: it says when it is entered, and answers
/// 201 with `body` only once released.
struct Held {
    entered: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
    /// Told as the handler returns its answer.
    answered: Arc<tokio::sync::Notify>,
}

impl Held {
    fn new() -> Held {
        Held {
            entered: Arc::default(),
            release: Arc::default(),
            answered: Arc::default(),
        }
    }
    fn service(
        &self,
        body: &'static str,
    ) -> impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static {
        let (entered, release) = (self.entered.clone(), self.release.clone());
        let answered = self.answered.clone();
        tower::service_fn(move |_req: Req| {
            let (entered, release) = (entered.clone(), release.clone());
            let answered = answered.clone();
            async move {
                entered.notify_one();
                release.notified().await;
                let response = Response::builder().status(201).body(Full::from(body));
                // In the poll that returns the answer: the layer takes it
                // before anything polled later can drop the request.
                answered.notify_one();
                Ok(response.unwrap())
            }
        })
    }
}

/// A handler that answers 201 at once, its body sending `first` and then
/// waiting for `release`; `calls` counts its calls.
#[derive(Default)]
struct HeldAnswer {
    release: Arc<tokio::sync::Notify>,
    calls: Arc<AtomicUsize>,
}

impl HeldAnswer {
    fn service(
        &self,
        first: &'static [u8],
    ) -> impl Service<Req, Response = Response<axum::body::Body>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static {
        let (release, calls) = (self.release.clone(), self.calls.clone());
        tower::service_fn(move |_req: Req| {
            calls.fetch_add(1, Ordering::SeqCst);
            let body = axum::body::Body::new(HeldBody {
                first: Some(Bytes::from_static(first)),
                release: Box::pin(release.clone().notified_owned()),
            });
            async move { Ok(Response::builder().status(201).body(body).unwrap()) }
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn post(key: &str, idem: Option<&str>, body: &'static str) -> Req {
    let mut b = Request::post("/v1/scans")
        .header("x-api-key", key)
        .header("x-request-id", "req_test_1");
    if let Some(k) = idem {
        b = b.header("idempotency-key", k);
    }
    b.body(Full::from(body)).unwrap()
}

async fn send<S>(svc: &S, req: Req) -> (Response<Full<Bytes>>, Bytes)
where
    S: Service<Req, Response = Response<Full<Bytes>>, Error = Infallible> + Clone,
{
    let res = svc.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, Full::from(bytes.clone())),
        bytes,
    )
}

fn json(bytes: &Bytes) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

fn code(res: &Response<Full<Bytes>>) -> &str {
    res.headers()
        .get("x-error-code")
        .map_or("", |v| v.to_str().unwrap())
}

/// A per-key rate limit after authentication (`tollgate-limit`'s
/// `ApiKey::from_extension()`) counts the key that authenticated: its id is
/// left as the request's `RateLimitKey`, whether the key came from the
/// database or the cache.
async fn an_authenticated_request_carries_its_key_id_as_its_rate_limit_key(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = tower::service_fn(|req: Req| async move {
        let key = req.extensions().get::<tollgate::RateLimitKey>();
        let body = key.map(|k| k.as_str().to_owned()).unwrap_or_default();
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body)))
    });
    let mut svc = f.gate.auth().layer(handler);
    let id = f.store().key(&f.key).await.unwrap().id().to_owned();
    for lookup in ["database", "cache"] {
        let req = Request::get("/v1/scans")
            .header("x-api-key", &f.key)
            .body(Full::default())
            .unwrap();
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, id.as_bytes(), "from the {lookup}");
    }
    f.db.cleanup().await;
}

/// A keyed answer, or a refusal of its key, is `Cache-Control: no-store`
/// (a shared cache does not know `X-API-Key` for a credential); a service
/// that says how its answer may be kept is left to say so.
async fn answers_to_a_keyed_request_are_kept_by_no_shared_cache(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = tower::service_fn(|req: Req| async move {
        let mut res = Response::new(Full::<Bytes>::from("scan"));
        if req.uri().path() == "/v1/public" {
            let kept = http::HeaderValue::from_static("public, max-age=60");
            res.headers_mut().insert(http::header::CACHE_CONTROL, kept);
        }
        Ok::<_, Infallible>(res)
    });
    let svc = f.gate.auth().layer(handler);
    let get = |path: &str, key: &str| {
        Request::get(path)
            .header("x-api-key", key)
            .body(Full::default())
            .unwrap()
    };
    for (path, key, status, kept) in [
        ("/v1/scans/1", f.key.as_str(), 200, "no-store"),
        ("/v1/scans/1", f.key.as_str(), 200, "no-store"),
        ("/v1/public", f.key.as_str(), 200, "public, max-age=60"),
        ("/v1/scans/1", "tg_live_nope", 401, "no-store"),
    ] {
        let (res, _) = send(&svc, get(path, key)).await;
        assert_eq!(res.status(), status, "{path} {key}");
        assert_eq!(res.headers()["cache-control"], kept, "{path} {key}");
    }
    f.db.cleanup().await;
}

async fn auth_errors_are_401s_with_www_authenticate(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f.gate.auth().layer(handler.service());
    let expiring = f
        .store()
        .create_key(NewKey::new("acme", ["scans:read"]).expires_in(Duration::from_secs(60)))
        .await
        .unwrap();
    let revoked = f
        .store()
        .create_key(NewKey::new("acme", ["scans:read"]))
        .await
        .unwrap();
    f.store().revoke_key(revoked.info().id()).await.unwrap();
    f.db.clock.advance(Duration::from_secs(60));

    let get = |h: Option<(&str, String)>| {
        let mut b = Request::get("/v1/scans/1");
        if let Some((name, value)) = h {
            b = b.header(name, value);
        }
        b.body(Full::default()).unwrap()
    };
    // The challenge says what is wrong with the key (RFC 6750, 3): nothing
    // when none is sent (another scheme sends none), else the error.
    let bare = r#"Bearer realm="api""#;
    let not_valid = r#"Bearer realm="api", error="invalid_token", error_description="The API key is not valid""#;
    let cases = [
        (None, "invalid_key", bare),
        (
            Some(("x-api-key", "tg_live_nope".to_owned())),
            "invalid_key",
            not_valid,
        ),
        (
            Some(("authorization", format!("Bearer {}x", f.key))),
            "invalid_key",
            not_valid,
        ),
        (
            Some(("x-api-key", "tg_live_é".to_owned())),
            "invalid_key",
            not_valid,
        ),
        (
            Some(("authorization", format!("Basic {}", f.key))),
            "invalid_key",
            bare,
        ),
        (
            Some(("x-api-key", expiring.secret().to_owned())),
            "expired_key",
            r#"Bearer realm="api", error="invalid_token", error_description="The API key has expired""#,
        ),
        (
            Some(("authorization", format!("Bearer {}", revoked.secret()))),
            "deactivated_key",
            r#"Bearer realm="api", error="invalid_token", error_description="The API key has been deactivated""#,
        ),
    ];
    for (header, expected, challenge) in cases {
        let (res, body) = send(&svc, get(header.clone())).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(code(&res), expected);
        assert_eq!(res.headers()["www-authenticate"], challenge, "{header:?}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let err = res
            .extensions()
            .get::<ApiError>()
            .expect("ApiError in extensions");
        assert_eq!(err.code(), expected);
        let v = json(&body);
        assert_eq!(v["status"], 401);
        assert_eq!(v["code"], expected);
        assert_eq!(v["instance"], "/v1/scans/1");
    }
    assert_eq!(
        handler.calls(),
        0,
        "rejected requests never reach the handler"
    );

    // Both headers work; the principal reaches the handler.
    for header in [
        ("x-api-key", f.key.clone()),
        ("authorization", format!("Bearer {}", f.key)),
    ] {
        let (res, body) = send(&svc, get(Some(header))).await;
        assert_eq!(res.status(), 201);
        assert_eq!(json(&body)["account"], "acme");
    }
    f.db.cleanup().await;
}

async fn several_api_keys_on_one_request_are_refused(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    f.store()
        .create_account(NewAccount::new("globex"))
        .await
        .unwrap();
    let other = f
        .store()
        .create_key(NewKey::new("globex", ["scans:read", "scans:write"]))
        .await
        .unwrap();
    let handler = Handler::new();
    let svc = f.gate.auth().layer(handler.service());
    let get = |lines: &[(&'static str, String)]| {
        let mut req = Request::get("/v1/scans").body(Full::default()).unwrap();
        for (name, value) in lines {
            req.headers_mut().append(*name, value.parse().unwrap());
        }
        req
    };
    let bearer = |key: &str| format!("Bearer {key}");
    // Which of two keys is meant cannot be told: taking the first would let
    // a line the client (or a proxy) added be silently ignored. Sent twice,
    // even the same key is refused, as the idempotency layer refuses two
    // `Idempotency-Key` lines.
    let ambiguous = [
        vec![
            ("x-api-key", f.key.clone()),
            ("x-api-key", other.secret().to_owned()),
        ],
        vec![
            ("x-api-key", other.secret().to_owned()),
            ("x-api-key", f.key.clone()),
        ],
        vec![
            ("x-api-key", f.key.clone()),
            ("x-api-key", "tg_live_nope".to_owned()),
        ],
        vec![("x-api-key", f.key.clone()), ("x-api-key", f.key.clone())],
        vec![
            ("authorization", bearer(&f.key)),
            ("authorization", bearer(other.secret())),
        ],
        vec![
            ("authorization", bearer(&f.key)),
            ("authorization", "Basic abc".to_owned()),
        ],
        vec![
            ("x-api-key", f.key.clone()),
            ("authorization", bearer(&f.key)),
            ("authorization", bearer(other.secret())),
        ],
    ];
    for lines in ambiguous {
        // Twice: the second is answered from the key cache.
        for _ in 0..2 {
            let (res, _) = send(&svc, get(&lines)).await;
            assert_eq!(
                (res.status().as_u16(), code(&res)),
                (401, "invalid_key"),
                "{lines:?}"
            );
            assert_eq!(
                res.headers()["www-authenticate"],
                r#"Bearer realm="api", error="invalid_request", error_description="The API key was sent in several X-API-Key or Authorization lines: send it once""#,
                "{lines:?}"
            );
        }
    }
    assert_eq!(handler.calls(), 0);

    // One line of each: `X-API-Key` wins, as documented.
    let (res, body) = send(
        &svc,
        get(&[
            ("x-api-key", f.key.clone()),
            ("authorization", bearer(other.secret())),
        ]),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(json(&body)["account"], "acme");
    f.db.cleanup().await;
}

async fn scope_and_suspension_errors(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let reader = f
        .store()
        .create_key(NewKey::new("acme", ["detection:read"]))
        .await
        .unwrap();
    let gate = f.gate.clone().dialect(Dialect::Envelope);
    // A global AuthLayer outside, the route's scope inside: authenticated once.
    let svc = tower::ServiceBuilder::new()
        .layer(gate.auth())
        .layer(gate.auth().scope("detection:write"))
        .service(handler.service());
    let (res, body) = send(&svc, post(reader.secret(), None, "{}")).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        json(&body),
        serde_json::json!({"data": null, "success": false,
            "message": "API key lacks required scope: detection:write",
            "errors": [{"insufficient_scope": ["API key lacks required scope: detection:write"]}]})
    );
    let err = res.extensions().get::<ApiError>().unwrap();
    assert_eq!(err.details()["scope"], "detection:write");
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="api", error="insufficient_scope", error_description="The API key lacks the scope this request needs", scope="detection:write""#
    );
    assert_eq!(handler.calls(), 0);

    // Suspended: 402 account_suspended, on a cached key too.
    let svc = gate.route().scope("scans:read").layer(handler.service());
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 201);
    f.store().suspend("acme").await.unwrap();
    let (res, _) = send(&svc, post(&f.key, None, "{}")).await;
    assert_eq!(
        (res.status().as_u16(), code(&res)),
        (402, "account_suspended")
    );
    f.db.cleanup().await;
}

async fn charged_on_success_released_on_errors_and_on_drop(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .route()
        .scope("scans:write")
        .cost(2)
        .layer(handler.service());

    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 201);
    assert_eq!(f.balance().await, 8);
    handler.set_status(422); // a client error the handler chose: not charged
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 422);
    assert_eq!(f.balance().await, 8);
    handler.set_status(503); // failed on the server's side: not charged
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 503);
    assert_eq!(f.balance().await, 8);
    handler.set_status(201);
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 201);
    assert_eq!(f.balance().await, 6);
    let usage = f
        .store()
        .account("acme")
        .await
        .unwrap()
        .usage_in_month_of(f.store().now());
    assert_eq!(usage, 2, "the failed requests are not counted either");

    // A request dropped mid-handler gives its credits back.
    let held = Held::new();
    let svc = f.gate.route().cost(2).layer(held.service(""));
    let call = tokio::spawn(svc.oneshot(post(&f.key, None, "{}")));
    held.entered.notified().await;
    assert_eq!(f.balance().await, 4, "reserved while the handler runs");
    call.abort();
    let _ = call.await;
    // The refund runs on a task of its own, which the store waits for.
    f.store().finish_writes().await;
    assert_eq!(
        f.balance().await,
        6,
        "credits of a dropped request are released"
    );
    f.db.cleanup().await;
}

async fn credit_and_usage_refusals_render_in_the_dialect(kind: Kind) {
    let Some(f) = Fixture::new(kind, 1).await else {
        return;
    };
    let handler = Handler::new();
    let gate = f.gate.clone().dialect(Dialect::Envelope);
    let svc = gate
        .route()
        .scope("scans:write")
        .cost(1)
        .layer(handler.service());
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 201);
    let (res, body) = send(&svc, post(&f.key, None, "{}")).await;
    assert_eq!(res.status(), 402);
    assert_eq!(
        json(&body),
        serde_json::json!({"data": null, "success": false,
            "message": "Insufficient credits. Required: 1, available: 0",
            "errors": [{"insufficient_credits": ["Insufficient credits. Required: 1, available: 0"]}]})
    );
    assert_eq!(res.headers()["x-request-id"], "req_test_1");

    f.store().credit("acme", 10).await.unwrap();
    f.store()
        .set_limits(
            "acme",
            Limits {
                usage_limit: Some(2),
                storage_quota: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 201);
    let (res, _) = send(&svc, post(&f.key, None, "{}")).await;
    assert_eq!(
        (res.status().as_u16(), code(&res)),
        (429, "usage_limit_exceeded")
    );
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 1_717_200_000 - common::START);
    assert_eq!(handler.calls(), 2);
    assert_eq!(f.balance().await, 9);
    f.db.cleanup().await;
}

async fn idempotent_replay_and_conflicts(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .route()
        .scope("scans:write")
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler.service());

    let (first, first_body) = send(&svc, post(&f.key, Some("order-1"), r#"{"a":1}"#)).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (again, again_body) = send(&svc, post(&f.key, Some("order-1"), r#"{"a":1}"#)).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], first.headers()["location"]);
    assert_eq!(again.headers()["content-type"], "application/json");
    assert_eq!(again_body, first_body);
    assert_eq!((handler.calls(), f.balance().await), (1, 9));

    // Same key, different payload (body, or path): 422, nothing run or charged.
    let (res, body) = send(&svc, post(&f.key, Some("order-1"), r#"{"a":2}"#)).await;
    assert_eq!(
        (res.status().as_u16(), code(&res)),
        (422, "idempotency_key_reused")
    );
    assert_eq!(json(&body)["code"], "idempotency_key_reused");
    let mut other_path = post(&f.key, Some("order-1"), r#"{"a":1}"#);
    *other_path.uri_mut() = "/v1/scans?dry_run=1".parse().unwrap();
    assert_eq!(send(&svc, other_path).await.0.status(), 422);
    assert_eq!((handler.calls(), f.balance().await), (1, 9));

    // Keys are scoped to the API key: another key's "order-1" is its own.
    let other = f
        .store()
        .create_key(NewKey::new("acme", ["scans:write"]))
        .await
        .unwrap();
    let (res, _) = send(&svc, post(other.secret(), Some("order-1"), r#"{"a":2}"#)).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());

    // GET is not idempotency-handled; no key means no record.
    let get = Request::get("/v1/scans")
        .header("x-api-key", &f.key)
        .header("idempotency-key", "order-1");
    assert!(
        send(&svc, get.body(Full::default()).unwrap())
            .await
            .0
            .headers()
            .get("idempotent-replayed")
            .is_none()
    );
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 201);
    let calls = handler.calls();

    // A handler's error is replayed with its ApiError for the outer layer to re-render.
    handler.set_status(404);
    let (res, _) = send(&svc, post(&f.key, Some("lookup-9"), "{}")).await;
    assert_eq!(res.status(), 404);
    let (res, _) = send(&svc, post(&f.key, Some("lookup-9"), "{}")).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(
        res.extensions()
            .get::<ApiError>()
            .map(|e| e.code().to_owned())
            .as_deref(),
        Some("not_found")
    );
    assert_eq!(handler.calls(), calls + 1);

    // A request still running holds its key: 409 with Retry-After.
    let held = Held::new();
    let slow_svc = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(held.service("slow"));
    let running = tokio::spawn(slow_svc.clone().oneshot(post(&f.key, Some("slow-1"), "{}")));
    held.entered.notified().await;
    let (res, _) = send(&slow_svc, post(&f.key, Some("slow-1"), "{}")).await;
    assert_eq!(
        (res.status().as_u16(), code(&res)),
        (409, "idempotency_key_in_use")
    );
    assert_eq!(res.headers()["retry-after"], "1");
    held.release.notify_one();
    assert_eq!(running.await.unwrap().unwrap().status(), 201);
    let (res, body) = send(&slow_svc, post(&f.key, Some("slow-1"), "{}")).await;
    assert_eq!((res.status().as_u16(), body.as_ref()), (201, &b"slow"[..]));
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    f.db.cleanup().await;
}

/// A custom authenticator's key id may be anything: a whole token (several
/// kilobytes, more than a Postgres index entry holds) or text with a NUL
/// (which Postgres text cannot hold). Each still scopes its keys, on both
/// backends, and apart from any other id.
async fn any_custom_principals_key_id_scopes_its_idempotency_keys(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f.gate.idempotency().layer(handler.service());
    let as_principal = |key_id: &str| {
        let mut req = post("", Some("order-1"), "{}");
        req.extensions_mut()
            .insert(Principal::new(key_id, "acme", ["scans:write"]));
        req
    };
    // A token-like id: random letters, which do not compress.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let token: String = (0..4000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            char::from(b'a' + u8::try_from(seed % 26).unwrap())
        })
        .collect();
    let longer = format!("{token}x");
    for (n, id) in [token.as_str(), &longer, "key\0one", "key\0two"]
        .into_iter()
        .enumerate()
    {
        let (first, _) = send(&svc, as_principal(id)).await;
        assert_eq!(first.status(), 201, "key id {n}");
        assert!(first.headers().get("idempotent-replayed").is_none(), "{n}");
        let (again, _) = send(&svc, as_principal(id)).await;
        assert_eq!(again.headers()["idempotent-replayed"], "true", "{n}");
        assert_eq!(handler.calls(), n + 1);
    }
    f.db.cleanup().await;
}

/// A limiter inside the idempotency layer counted the first request only:
/// its fields would be stale on a replay, which never reaches it.
async fn a_replay_sends_no_rate_limit_fields_of_the_first_response(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let counted = Arc::new(AtomicUsize::new(0));
    let limiter = tower::util::MapResponseLayer::new(move |mut res: Response<Full<Bytes>>| {
        let left = 99 - counted.fetch_add(1, Ordering::SeqCst);
        let headers = res.headers_mut();
        headers.insert(
            "ratelimit-policy",
            "\"per-key\";q=100;w=60".parse().unwrap(),
        );
        headers.insert(
            "ratelimit",
            format!("\"per-key\";r={left};t=1").parse().unwrap(),
        );
        headers.insert("x-ratelimit-remaining", left.into());
        res
    });
    let svc = f
        .gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(limiter.layer(handler.service()));
    let (first, _) = send(&svc, post(&f.key, Some("k1"), "{}")).await;
    assert_eq!(first.headers()["x-ratelimit-remaining"], "99");
    let (again, _) = send(&svc, post(&f.key, Some("k1"), "{}")).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], first.headers()["location"]);
    for name in ["ratelimit-policy", "ratelimit", "x-ratelimit-remaining"] {
        assert!(!again.headers().contains_key(name), "{name}: {again:?}");
    }
    assert_eq!(handler.calls(), 1);
    f.db.cleanup().await;
}

async fn a_route_idempotency_layer_inside_a_global_one_runs_once(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let route = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Required)
        .layer(handler.service());
    // Inside the auth layer, as the docs place it: both scope the key alike.
    let svc = f.gate.auth().layer(f.gate.idempotency().layer(route));

    let (first, first_body) = send(&svc, post(&f.key, Some("order-1"), "{}")).await;
    assert_eq!(
        first.status(),
        201,
        "{}",
        String::from_utf8_lossy(&first_body)
    );
    let (again, again_body) = send(&svc, post(&f.key, Some("order-1"), "{}")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again_body, first_body);
    assert_eq!((handler.calls(), f.balance().await), (1, 9));

    // The inner layer's own rule still holds where the outer one has no key.
    let (res, _) = send(&svc, post(&f.key, None, "{}")).await;
    assert_eq!((res.status().as_u16(), code(&res)), (400, "missing_field"));
    f.db.cleanup().await;
}

async fn twenty_concurrent_requests_with_one_key_run_once_and_charge_once(kind: Kind) {
    let Some(f) = Fixture::new(kind, 100).await else {
        return;
    };
    let mut handler = Handler::new();
    handler.delay_yields = 50;
    let svc = f
        .gate
        .route()
        .scope("scans:write")
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (svc, start, key) = (svc.clone(), start.clone(), f.key.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            send(&svc, post(&key, Some("same-key"), r#"{"image":"x"}"#)).await
        }));
    }
    let (mut original, mut replays, mut in_use) = (0, 0, 0);
    let mut bodies = std::collections::HashSet::new();
    for t in tasks {
        let (res, body) = t.await.unwrap();
        match (
            res.status().as_u16(),
            res.headers().contains_key("idempotent-replayed"),
        ) {
            (201, false) => original += 1,
            (201, true) => replays += 1,
            (409, _) => {
                assert_eq!(code(&res), "idempotency_key_in_use");
                in_use += 1;
                continue;
            }
            other => panic!("unexpected {other:?}"),
        }
        bodies.insert(body);
    }
    assert_eq!(original, 1, "exactly one request ran the handler");
    assert_eq!(original + replays + in_use, 20);
    assert_eq!(bodies.len(), 1, "replays carry the original body");
    assert_eq!(handler.calls(), 1);
    assert_eq!(f.balance().await, 99, "charged once");
    // After the dust settles every retry is a replay.
    let (res, _) = send(&svc, post(&f.key, Some("same-key"), r#"{"image":"x"}"#)).await;
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!((handler.calls(), f.balance().await), (1, 99));
    f.db.cleanup().await;
}

async fn failures_are_not_stored_so_retries_run(kind: Kind) {
    let Some(f) = Fixture::new(kind, 1).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler.service());

    // 5xx: not stored, not charged; the retry runs and is charged once.
    handler.set_status(500);
    assert_eq!(
        send(&svc, post(&f.key, Some("k1"), "{}")).await.0.status(),
        500
    );
    assert_eq!(f.balance().await, 1);
    handler.set_status(201);
    let (res, _) = send(&svc, post(&f.key, Some("k1"), "{}")).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!((handler.calls(), f.balance().await), (2, 0));

    // 402 before the handler ran: not stored; after a top-up the retry runs.
    let (res, _) = send(&svc, post(&f.key, Some("k2"), "{}")).await;
    assert_eq!(res.status(), 402);
    f.store().credit("acme", 1).await.unwrap();
    let (res, _) = send(&svc, post(&f.key, Some("k2"), "{}")).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!((handler.calls(), f.balance().await), (3, 0));
    f.db.cleanup().await;
}

/// A handler that refuses what its `x-refuse` header names, once per
/// idempotency key: a status (`408`), or an error of the app's catalog by its
/// code (`unsupported_media_type`), carried in the extensions as
/// `tollgate-axum`'s extractors and handler errors carry theirs. Without the
/// header it answers 201.
fn refusing(
    catalog: Arc<tollgate::Catalog>,
    calls: Arc<AtomicUsize>,
) -> impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |req: Req| {
        calls.fetch_add(1, Ordering::SeqCst);
        let refusal = req.headers().get("x-refuse").map(|v| v.to_str().unwrap());
        let response = match refusal {
            None => Response::builder().status(201).body(Full::from("made")),
            Some(refusal) => match refusal.parse::<u16>() {
                Ok(status) => Response::builder().status(status).body(Full::from("")),
                Err(_) => {
                    let err = catalog.error(refusal).unwrap();
                    let mut res = Response::builder().status(err.status());
                    res.extensions_mut().unwrap().insert(err);
                    res.body(Full::from(""))
                }
            },
        };
        std::future::ready(Ok(response.unwrap()))
    })
}

async fn refusals_of_the_request_as_sent_are_not_stored_so_retries_run(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    // The app's catalog moves and respells one: still the same entry.
    let mut catalog = tollgate::Catalog::builtin();
    catalog
        .load_toml(
            "app.toml",
            "[errors.validation_error]\nstatus = 422\naliases = { coded = 'VALIDATION_ERROR' }\n",
        )
        .unwrap();
    let catalog = Arc::new(catalog);
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(refusing(catalog, calls.clone()));
    let refused = |key: &str, refusal: &str| {
        let mut req = post(&f.key, Some(key), "{}");
        req.headers_mut()
            .insert("x-refuse", refusal.parse().unwrap());
        req
    };

    // Told to retry (408, 425), or refused as sent, before the endpoint
    // began work (a `Content-Type` that is not JSON, say, even in axum's
    // own plain 415): the corrected retry with the same key runs.
    let as_sent = [
        "408",
        "415",
        "425",
        "malformed_request",
        "unsupported_media_type",
        "missing_field",
        "validation_error",
        "payload_too_large",
    ];
    for refusal in as_sent {
        let (res, _) = send(&svc, refused(refusal, refusal)).await;
        assert!(
            res.status().is_client_error(),
            "{refusal}: {}",
            res.status()
        );
        let (res, body) = send(&svc, post(&f.key, Some(refusal), "{}")).await;
        assert_eq!(
            (res.status().as_u16(), &body[..]),
            (201, &b"made"[..]),
            "{refusal}"
        );
        assert!(
            res.headers().get("idempotent-replayed").is_none(),
            "{refusal}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2 * as_sent.len());
    assert_eq!(f.balance().await, 10 - 8, "only the successes are paid for");

    // Refused by the endpoint's own work (a conflict, a quota): spent.
    for refusal in ["409", "conflict", "storage_quota_exceeded"] {
        let (first, _) = send(&svc, refused(refusal, refusal)).await;
        let (again, _) = send(&svc, post(&f.key, Some(refusal), "{}")).await;
        assert_eq!(again.status(), first.status(), "{refusal}");
        assert_eq!(again.headers()["idempotent-replayed"], "true", "{refusal}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2 * as_sent.len() + 3);
    f.db.cleanup().await;
}

/// A body of `chunks` KiB that does not say its size. Then it ends, or, if it
/// `stalls`, never sends another byte (a client that stops reading, a stream
/// stuck upstream).
struct UnsizedBody {
    chunks: usize,
    stalls: bool,
}

impl http_body::Body for UnsizedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if self.chunks == 0 {
            return if self.stalls {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(None)
            };
        }
        self.chunks -= 1;
        let chunk = Bytes::from(vec![b'x'; 1024]);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }
}

async fn responses_too_large_to_keep_spend_the_key(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handler = tower::service_fn(move |req: Req| {
        counted.fetch_add(1, Ordering::SeqCst);
        let path = req.uri().path();
        let mut response = Response::builder().status(201);
        let body = if path.ends_with("/big") {
            axum::body::Body::from(vec![b'x'; 4096])
        } else {
            if path.ends_with("/declared") {
                response = response.header("content-length", "4096");
            }
            axum::body::Body::new(UnsizedBody {
                chunks: 4,
                stalls: false,
            })
        };
        async move { Ok::<_, Infallible>(response.body(body).unwrap()) }
    });
    let svc = f
        .gate
        .clone()
        .max_body_bytes(1024)
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler);
    let send = |path: &'static str| {
        let mut req = post(&f.key, Some(path), "{}");
        *req.uri_mut() = path.parse().unwrap();
        let svc = svc.clone();
        async move {
            let res = svc.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let cause = res.extensions().get::<tollgate::ApiError>();
            let cause = cause.and_then(|e| Some(e.source_error()?.to_string()));
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, body, cause)
        }
    };
    let not_kept = |(status, body, _): (u16, Bytes, Option<String>)| {
        status == 409 && String::from_utf8_lossy(&body).contains("was not kept")
    };

    // Known to be too large: it goes out whole, and a retry is told it ran.
    let (status, body, _) = send("/v1/scans/big").await;
    assert_eq!((status, body.len()), (201, 4096));
    assert!(not_kept(send("/v1/scans/big").await));
    assert_eq!((calls.load(Ordering::SeqCst), f.balance().await), (1, 9));

    // A stream whose `Content-Length` says it is too large: the same.
    let (status, body, _) = send("/v1/scans/declared").await;
    assert_eq!((status, body.len()), (201, 4096));
    assert!(not_kept(send("/v1/scans/declared").await));
    assert_eq!((calls.load(Ordering::SeqCst), f.balance().await), (2, 8));

    // Found too large while reading: that response is lost (500), with
    // the reason for the log, but the retry is still not run again.
    let (status, body, cause) = send("/v1/scans/stream").await;
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    let cause = cause.expect("the 500 says why");
    assert!(
        cause.contains("over max_body_bytes (1024 bytes)"),
        "{cause}"
    );
    assert!(not_kept(send("/v1/scans/stream").await));
    assert_eq!((calls.load(Ordering::SeqCst), f.balance().await), (3, 7));
    f.db.cleanup().await;
}

/// Polls `check` for up to two seconds: for writes left running by a dropped
/// request.
async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn a_response_lost_after_the_handler_answered_spends_the_key(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handler = tower::service_fn(move |_req: Req| {
        counted.fetch_add(1, Ordering::SeqCst);
        let body = axum::body::Body::new(UnsizedBody {
            chunks: 1,
            stalls: true,
        });
        async move { Ok::<_, Infallible>(Response::builder().status(201).body(body).unwrap()) }
    });
    let svc = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler);
    let first = svc.clone().oneshot(post(&f.key, Some("k1"), "{}"));
    // The handler answered, its body never ends: the request is dropped
    // (its client gone, or a timeout) while the layer reads it.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), first)
            .await
            .is_err()
    );
    // The handler ran and was charged: a retry must not run it again.
    let retried = eventually(|| {
        let svc = svc.clone();
        let req = post(&f.key, Some("k1"), "{}");
        // A retry that runs the handler again would stall on its body.
        let answer = async move {
            let res = svc.oneshot(req).await.unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            status == 409 && String::from_utf8_lossy(&body).contains("was not kept")
        };
        async move {
            tokio::time::timeout(Duration::from_millis(500), answer)
                .await
                .unwrap_or(false)
        }
    })
    .await;
    assert!(retried, "the retry is told the request ran");
    assert_eq!((calls.load(Ordering::SeqCst), f.balance().await), (1, 9));
    f.db.cleanup().await;
}

async fn a_request_dropped_while_its_charge_waits_is_not_charged(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f.gate.route().cost(3).layer(handler.service());
    // Another writer holds the account's row, so the charge waits for it.
    let hold = WriteHold::new(
        &f,
        kind,
        "SELECT 1 FROM accounts WHERE id = 'acme' FOR UPDATE",
    )
    .await;
    let waiting = svc.oneshot(post(&f.key, None, "{}"));
    assert!(
        given_up_waiting(waiting).await,
        "the charge waits for the row"
    );
    // The request is gone; its charge goes through once the row is free, and
    // is given straight back.
    hold.release().await;
    let usage = || async {
        let a = f.store().account("acme").await.unwrap();
        (a.balance(), a.usage_in_month_of(f.store().now()))
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        eventually(|| async { usage().await == (10, 0) }).await,
        "{:?}",
        usage().await
    );
    assert_eq!(handler.calls(), 0);
    f.db.cleanup().await;
}

/// Whether `request` is still waiting after 300 ms; it is then dropped, as
/// by a client that gives up.
async fn given_up_waiting<F: std::future::Future>(request: F) -> bool {
    tokio::time::timeout(Duration::from_millis(300), request)
        .await
        .is_err()
}

/// A transaction that holds up the store's writes until it is released:
/// on SQLite, the database's write lock; on Postgres, the locks its
/// statement took.
enum WriteHold {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteHold {
    /// Begins the transaction; on Postgres, runs `statement` in it.
    async fn new(f: &Fixture, kind: Kind, statement: &str) -> WriteHold {
        use sqlx::Connection;
        match kind {
            Kind::Sqlite => {
                let url = format!("sqlite://{}", f.db.file.as_ref().unwrap().display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                WriteHold::Sqlite(conn)
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&f.db.url).await.unwrap();
                let schema = f.db.schema.clone().unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                WriteHold::Postgres(conn)
            }
        }
    }

    /// Rolls the transaction back.
    async fn release(self) {
        let failed = match self {
            WriteHold::Sqlite(mut conn) => sqlx::query("ROLLBACK").execute(&mut conn).await.err(),
            WriteHold::Postgres(mut conn) => sqlx::query("ROLLBACK").execute(&mut conn).await.err(),
        };
        assert!(failed.is_none(), "{failed:?}");
    }
}

async fn a_request_dropped_while_claiming_its_key_leaves_it_free(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let scope = f.store().authenticate(&f.key).await.unwrap();
    // Another request's claim of the same key, not yet committed: on
    // Postgres the claim's insert waits on it, so the drop lands inside the
    // insert. On SQLite the claim waits for the write lock before it
    // inserts: the claim, left running, lands after the drop, and must free
    // the key all the same.
    let hold = WriteHold::new(
        &f,
        kind,
        &format!(
            "INSERT INTO idempotency (api_key_id, idem_key, fingerprint, state, locked_until, \
             created_at, expires_at) VALUES ('{}', 'k1', '\\x00', 'running', 0, 0, 0)",
            scope.key_id()
        ),
    )
    .await;
    let waiting = svc.clone().oneshot(post(&f.key, Some("k1"), "{}"));
    assert!(given_up_waiting(waiting).await, "the claim waits");
    // The request is gone; the other claim rolls back, so this one lands,
    // with no request left to run. The key must not stay in use.
    hold.release().await;
    let retried = eventually(|| async {
        let (res, _) = send(&svc, post(&f.key, Some("k1"), "{}")).await;
        res.status() == 201
    })
    .await;
    assert!(retried, "the retry runs");
    assert_eq!(handler.calls(), 1);
    f.db.cleanup().await;
}

/// A database held up by another writer (a SQLite file another process
/// holds locked, a Postgres row or key another transaction holds): a charge
/// or claim that waits for it is answered 503 with Retry-After once the
/// acquire timeout has passed, not held until the request's own deadline;
/// what it took once the lock is gone is given back.
async fn a_charge_or_claim_held_up_by_a_lock_is_a_503_after_the_acquire_timeout(kind: Kind) {
    let one_second = |o: StoreOptions| o.acquire_timeout(Duration::from_secs(1));
    let Some(f) = Fixture::with(kind, 10, one_second).await else {
        return;
    };
    let handler = Handler::new();
    let unavailable = |res: &Response<Full<Bytes>>| {
        (
            res.status().as_u16(),
            code(res).to_owned(),
            res.headers().get("retry-after").cloned(),
        )
    };
    let expected = (
        503,
        "service_unavailable".to_owned(),
        Some(http::HeaderValue::from_static("1")),
    );

    let paid = f.gate.route().cost(3).layer(handler.service());
    let hold = WriteHold::new(
        &f,
        kind,
        "SELECT 1 FROM accounts WHERE id = 'acme' FOR UPDATE",
    )
    .await;
    let answered = tokio::time::timeout(
        Duration::from_secs(5),
        send(&paid, post(&f.key, None, "{}")),
    );
    let (res, _) = answered.await.expect("answered before the lock is gone");
    assert_eq!(unavailable(&res), expected);
    hold.release().await;
    let usage = || async {
        let a = f.store().account("acme").await.unwrap();
        (a.balance(), a.usage_in_month_of(f.store().now()))
    };
    assert!(
        eventually(|| async { usage().await == (10, 0) }).await,
        "{:?}",
        usage().await
    );

    let keyed = f
        .gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let scope = f.store().authenticate(&f.key).await.unwrap();
    let hold = WriteHold::new(
        &f,
        kind,
        &format!(
            "INSERT INTO idempotency (api_key_id, idem_key, fingerprint, state, locked_until, \
             created_at, expires_at) VALUES ('{}', 'k1', '\\x00', 'running', 0, 0, 0)",
            scope.key_id()
        ),
    )
    .await;
    let answered = tokio::time::timeout(
        Duration::from_secs(5),
        send(&keyed, post(&f.key, Some("k1"), "{}")),
    );
    let (res, _) = answered.await.expect("answered before the lock is gone");
    assert_eq!(unavailable(&res), expected);
    hold.release().await;
    let retried = eventually(|| async {
        let (res, _) = send(&keyed, post(&f.key, Some("k1"), "{}")).await;
        res.status() == 201
    })
    .await;
    assert!(retried, "the key is free once the lock is gone");
    assert_eq!(handler.calls(), 1);
    f.db.cleanup().await;
}

/// A handler's answer is not held up by a lock on what the layers write
/// after it (the refund of an error, the record of an idempotent request):
/// past the acquire timeout it goes out, and the write lands once the lock
/// is gone.
async fn an_answer_is_not_held_up_by_a_lock_on_its_refund_or_record(kind: Kind) {
    let one_second = |o: StoreOptions| o.acquire_timeout(Duration::from_secs(1));
    let Some(f) = Fixture::with(kind, 10, one_second).await else {
        return;
    };
    let (entered, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    // Answers `status` once released.
    let answering = |status: u16| {
        let (entered, release) = (entered.clone(), release.clone());
        tower::service_fn(move |_req: Req| {
            let (entered, release) = (entered.clone(), release.clone());
            async move {
                entered.notify_one();
                release.notified().await;
                let response = Response::builder().status(status).body(Full::from("{}"));
                Ok::<_, Infallible>(response.unwrap())
            }
        })
    };

    // The refund of a 404 waits for the account's row.
    let paid = f.gate.route().cost(3).layer(answering(404));
    let request = tokio::spawn({
        let (paid, key) = (paid.clone(), f.key.clone());
        async move { send(&paid, post(&key, None, "{}")).await.0.status() }
    });
    entered.notified().await;
    let hold = WriteHold::new(
        &f,
        kind,
        "SELECT 1 FROM accounts WHERE id = 'acme' FOR UPDATE",
    )
    .await;
    release.notify_one();
    let answered = tokio::time::timeout(Duration::from_secs(5), request).await;
    assert_eq!(
        answered.expect("answered while the row is held").unwrap(),
        404
    );
    hold.release().await;
    let balance = || async { f.store().account("acme").await.unwrap().balance() };
    assert!(eventually(|| async { balance().await == 10 }).await);

    // The record of a 201 waits for the key's row.
    let keyed = f
        .gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(answering(201));
    let request = tokio::spawn({
        let (keyed, key) = (keyed.clone(), f.key.clone());
        async move { send(&keyed, post(&key, Some("k2"), "{}")).await.0.status() }
    });
    entered.notified().await;
    let hold = WriteHold::new(
        &f,
        kind,
        "SELECT 1 FROM idempotency WHERE idem_key = 'k2' FOR UPDATE",
    )
    .await;
    release.notify_one();
    let answered = tokio::time::timeout(Duration::from_secs(5), request).await;
    assert_eq!(
        answered.expect("answered while the key is held").unwrap(),
        201
    );
    hold.release().await;
    let replayed = eventually(|| async {
        let (res, _) = send(&keyed, post(&f.key, Some("k2"), "{}")).await;
        res.headers().contains_key("idempotent-replayed")
    })
    .await;
    assert!(replayed, "the record lands once the lock is gone");
    f.db.cleanup().await;
}

/// A renewal of the key's lock under way when the handler answers, waiting
/// on another writer: the answer waits for it no longer than the acquire
/// timeout, and the renewal, left to finish, holds up nothing after it (the
/// record lands, and a retry gets it, once the lock is gone).
async fn an_answer_is_not_held_up_by_a_lock_on_its_key_s_renewal(kind: Kind) {
    let one_second = |o: StoreOptions| o.acquire_timeout(Duration::from_secs(1));
    let Some(f) = Fixture::with(kind, 10, one_second).await else {
        return;
    };
    let held = Held::new();
    // A one-second lock, renewed every third of a second.
    let keyed = f
        .gate
        .clone()
        .idempotency_lock_timeout(Duration::from_secs(1))
        .route()
        .idempotency(Idempotency::Optional)
        .layer(held.service("first"));
    let request = tokio::spawn({
        let (keyed, key) = (keyed.clone(), f.key.clone());
        async move { send(&keyed, post(&key, Some("k1"), "{}")).await.0.status() }
    });
    held.entered.notified().await;
    let hold = WriteHold::new(
        &f,
        kind,
        "SELECT 1 FROM idempotency WHERE idem_key = 'k1' FOR UPDATE",
    )
    .await;
    // The clock moves (not past the lock, which a retry would take over),
    // so the next renewal writes a later lock, and waits on the hold; the
    // handler answers while it does.
    f.db.clock.advance(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(700)).await;
    held.release.notify_one();
    let answered = tokio::time::timeout(Duration::from_secs(5), request).await;
    let status = answered.map(Result::unwrap);
    // Answered, its record still waiting: a retry is told the key is in use
    // (on SQLite, whose lock holds up the retry's claim too, the claim is
    // given up after the acquire timeout).
    let (retry, body) = send(&keyed, post(&f.key, Some("k1"), "{}")).await;
    hold.release().await;
    assert_eq!(status.expect("answered while the key is held"), 201);
    let told = (
        retry.status().as_u16(),
        json(&body)["code"].clone(),
        retry.headers().get("retry-after").cloned(),
    );
    let expected = match kind {
        Kind::Postgres => (
            409,
            "idempotency_key_in_use".into(),
            Some("1".parse().unwrap()),
        ),
        Kind::Sqlite => (503, "service_unavailable".into(), told.2.clone()),
    };
    assert_eq!(told, expected);
    let replayed = eventually(|| async {
        let (res, _) = send(&keyed, post(&f.key, Some("k1"), "{}")).await;
        res.headers().contains_key("idempotent-replayed")
    })
    .await;
    assert!(replayed, "the record lands once the lock is gone");
    f.db.cleanup().await;
}

/// The pool's connections all held by writes waiting on a lock: a key
/// lookup waits for one no longer than the acquire timeout, on SQLite as
/// on Postgres, and is answered 503 rather than held until the request's
/// own deadline.
async fn a_lookup_waiting_for_a_connection_a_lock_holds_is_a_503(kind: Kind) {
    let tune = |o: StoreOptions| o.acquire_timeout(Duration::from_secs(1)).max_connections(1);
    let Some(f) = Fixture::with(kind, 10, tune).await else {
        return;
    };
    let second = f
        .store()
        .create_key(NewKey::new("acme", ["a"]))
        .await
        .unwrap();
    let handler = Handler::new();
    let paid = f.gate.route().cost(1).layer(handler.service());
    let hold = WriteHold::new(
        &f,
        kind,
        "SELECT 1 FROM accounts WHERE id = 'acme' FOR UPDATE",
    )
    .await;
    // The charge waits on the lock, on the pool's one connection.
    let request = send(&paid, post(&f.key, None, "{}"));
    let answered = tokio::time::timeout(Duration::from_secs(5), request).await;
    assert_eq!(answered.expect("answered").0.status(), 503);
    // A key not in the cache needs that connection.
    let request = send(&paid, post(second.secret(), None, "{}"));
    let answered = tokio::time::timeout(Duration::from_secs(5), request).await;
    let (res, _) = answered.expect("answered before the lock is gone");
    assert_eq!(
        (res.status().as_u16(), code(&res)),
        (503, "service_unavailable")
    );
    hold.release().await;
    assert!(eventually(|| async { f.balance().await == 10 }).await);
    assert_eq!(handler.calls(), 0);
    f.db.cleanup().await;
}

/// A backend over the test database with faults of its own: lock renewals
/// that are made but never answered (a request cannot learn the lock its
/// renewal set, as when it is dropped while the renewal's statement runs),
/// and owner writes (completing or freeing a key) that fail at first, as
/// when a connection drops.
struct Faulty {
    inner: Arc<dyn tollgate_store::backend::Backend>,
    /// Whether renewals go unanswered.
    unanswered_renewals: bool,
    /// Told once a renewal has landed.
    landed: Arc<tokio::sync::Notify>,
    /// How many lock renewals have been sent (one that would not move the
    /// lock sends nothing).
    renewals: Arc<AtomicUsize>,
    /// How many of those have been answered.
    renewals_answered: Arc<AtomicUsize>,
    /// How many owner writes are still to fail.
    failing_writes: Arc<AtomicUsize>,
    /// How many releases are still to find no connection.
    unconnected_releases: Arc<AtomicUsize>,
    /// How many claims (inserts) are still to land with their answer lost.
    unanswered_claims: Arc<AtomicUsize>,
    /// How many revocations and account state changes are still to land
    /// with their answer lost.
    unanswered_state_changes: Arc<AtomicUsize>,
    /// When set, charges and claims wait for a permit before they are made.
    held_writes: Option<Arc<tokio::sync::Semaphore>>,
    /// Whether refunds and freed keys take 200 ms to be written.
    slow_writes: bool,
    /// Credits added to the account, once, just after a charge is refused
    /// (a top-up that lands while the refusal is looked into).
    top_up_on_refusal: Arc<std::sync::atomic::AtomicI64>,
    /// How many deletes of a key's expired record are still to miss it, as
    /// when the record is written (by another node) just after the delete.
    missed_deletes: Arc<AtomicUsize>,
    /// Whether the deletes of kept charges' records fail, as in a process
    /// about to stop: the records stay.
    failing_commits: bool,
}

impl Faulty {
    /// Waits for a permit, when charges and claims are held.
    async fn held(&self) {
        if let Some(permits) = &self.held_writes {
            permits.acquire().await.unwrap().forget();
        }
    }

    /// Takes 200 ms, when refunds and freed keys are slow.
    async fn slowly(&self) {
        if self.slow_writes {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Fails this owner write if some are still to fail.
    fn write_fails(&self) -> bool {
        self.failing_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Loses the answer of this state change if some are still to lose it.
    fn state_change_unanswered(&self) -> bool {
        self.unanswered_state_changes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

mod faulty {
    use std::sync::atomic::Ordering;

    use tollgate_store::StoreError;
    use tollgate_store::backend::{
        AccountBackend, AccountRow, Backend, BoxFuture, IdempotencyBackend, IdempotencyRow,
        KeyBackend, KeyRow, LockToken,
    };

    use super::Faulty;

    /// What a dropped connection looks like to a write.
    fn dropped() -> StoreError {
        StoreError::Database(sqlx::Error::PoolTimedOut)
    }

    /// What a write that landed looks like when the connection drops on
    /// its answer.
    fn reset() -> StoreError {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        StoreError::Database(sqlx::Error::Io(reset))
    }

    impl IdempotencyBackend for Faulty {
        fn idem_renew<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
            token: LockToken,
            until: i64,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.renewals.fetch_add(1, Ordering::SeqCst);
            if !self.unanswered_renewals {
                return Box::pin(async move {
                    let renewed = self.inner.idem_renew(api_key_id, idem_key, token, until);
                    let renewed = renewed.await;
                    self.renewals_answered.fetch_add(1, Ordering::SeqCst);
                    renewed
                });
            }
            Box::pin(async move {
                let renewed = self.inner.idem_renew(api_key_id, idem_key, token, until);
                assert!(renewed.await.unwrap(), "the renewal lands");
                self.landed.notify_one();
                std::future::pending().await
            })
        }
        fn idem_insert(
            &self,
            row: IdempotencyRow,
            token: LockToken,
        ) -> BoxFuture<'_, Result<bool, StoreError>> {
            let unanswered = self
                .unanswered_claims
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if !unanswered {
                return Box::pin(async move {
                    self.held().await;
                    self.inner.idem_insert(row, token).await
                });
            }
            Box::pin(async move {
                assert!(self.inner.idem_insert(row, token).await.unwrap());
                Err(reset())
            })
        }
        fn idem_get<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
        ) -> BoxFuture<'a, Result<Option<IdempotencyRow>, StoreError>> {
            self.inner.idem_get(api_key_id, idem_key)
        }
        fn idem_take_over<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
            fingerprint: &'a [u8],
            now: i64,
            locked_until: i64,
            token: LockToken,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner
                .idem_take_over(api_key_id, idem_key, fingerprint, now, locked_until, token)
        }
        fn idem_complete(
            &self,
            row: IdempotencyRow,
            token: LockToken,
        ) -> BoxFuture<'_, Result<bool, StoreError>> {
            if self.write_fails() {
                return Box::pin(async { Err(dropped()) });
            }
            self.inner.idem_complete(row, token)
        }
        fn idem_abandon<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
            token: LockToken,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            if self.write_fails() {
                return Box::pin(async { Err(dropped()) });
            }
            Box::pin(async move {
                self.slowly().await;
                self.inner.idem_abandon(api_key_id, idem_key, token).await
            })
        }
        fn idem_delete_expired<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
            now: i64,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            let missed = self
                .missed_deletes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if missed {
                return Box::pin(async { Ok(()) });
            }
            self.inner.idem_delete_expired(api_key_id, idem_key, now)
        }
        fn idem_purge(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
            self.inner.idem_purge(now)
        }
    }

    impl AccountBackend for Faulty {
        fn insert_account(&self, row: AccountRow) -> BoxFuture<'_, Result<bool, StoreError>> {
            self.inner.insert_account(row)
        }
        fn account<'a>(
            &'a self,
            id: &'a str,
        ) -> BoxFuture<'a, Result<Option<AccountRow>, StoreError>> {
            self.inner.account(id)
        }
        fn set_account_state<'a>(
            &'a self,
            id: &'a str,
            state: &'static str,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            if !self.state_change_unanswered() {
                return self.inner.set_account_state(id, state);
            }
            Box::pin(async move {
                assert!(self.inner.set_account_state(id, state).await.unwrap());
                Err(reset())
            })
        }
        fn add_credits<'a>(
            &'a self,
            id: &'a str,
            amount: i64,
        ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
            self.inner.add_credits(id, amount)
        }
        fn set_limits<'a>(
            &'a self,
            id: &'a str,
            usage_limit: Option<i64>,
            storage_quota: Option<i64>,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.set_limits(id, usage_limit, storage_quota)
        }
        fn reserve<'a>(
            &'a self,
            id: &'a str,
            cost: i64,
            period: i64,
            hold: tollgate_store::backend::Hold,
        ) -> BoxFuture<'a, Result<Option<tollgate_store::backend::Reserved>, StoreError>> {
            Box::pin(async move {
                self.held().await;
                let reserved = self.inner.reserve(id, cost, period, hold).await?;
                if reserved.is_none() {
                    let top_up = self.top_up_on_refusal.swap(0, Ordering::SeqCst);
                    if top_up > 0 {
                        self.inner.add_credits(id, top_up).await?;
                    }
                }
                Ok(reserved)
            })
        }
        fn release(&self, token: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
            let unconnected = self
                .unconnected_releases
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if unconnected {
                return Box::pin(async { Err(dropped()) });
            }
            Box::pin(async move {
                self.slowly().await;
                self.inner.release(token).await
            })
        }
        fn commit<'a>(&'a self, tokens: &'a [i64]) -> BoxFuture<'a, Result<u64, StoreError>> {
            if self.failing_commits {
                return Box::pin(async { Err(dropped()) });
            }
            self.inner.commit(tokens)
        }
        fn expired_charges(
            &self,
            now: i64,
            limit: u32,
        ) -> BoxFuture<'_, Result<Vec<i64>, StoreError>> {
            self.inner.expired_charges(now, limit)
        }
        fn forget_stored_charges(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
            self.inner.forget_stored_charges(now)
        }
        fn add_storage<'a>(
            &'a self,
            id: &'a str,
            bytes: i64,
        ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
            self.inner.add_storage(id, bytes)
        }
        fn remove_storage<'a>(
            &'a self,
            id: &'a str,
            bytes: i64,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.remove_storage(id, bytes)
        }
    }

    impl KeyBackend for Faulty {
        fn insert_key(&self, row: KeyRow) -> BoxFuture<'_, Result<(), StoreError>> {
            self.inner.insert_key(row)
        }
        fn key<'a>(
            &'a self,
            id: &'a str,
        ) -> BoxFuture<'a, Result<Option<(KeyRow, String)>, StoreError>> {
            self.inner.key(id)
        }
        fn list_keys<'a>(
            &'a self,
            account_id: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Vec<KeyRow>, StoreError>> {
            self.inner.list_keys(account_id)
        }
        fn revoke_key<'a>(
            &'a self,
            id: &'a str,
            now: i64,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            if !self.state_change_unanswered() {
                return self.inner.revoke_key(id, now);
            }
            Box::pin(async move {
                assert!(self.inner.revoke_key(id, now).await.unwrap());
                Err(reset())
            })
        }
    }

    impl Backend for Faulty {
        fn name(&self) -> &'static str {
            self.inner.name()
        }
    }
}

impl Fixture {
    /// A gatekeeper over the same database whose lock renewals land but are
    /// never answered (told on the returned `Notify`), with a one-second lock
    /// renewed every third of a second.
    async fn unanswered_renewals(&self) -> (Gatekeeper, Arc<tokio::sync::Notify>) {
        let landed = Arc::new(tokio::sync::Notify::new());
        let gate = self
            .faulty(Faulty {
                unanswered_renewals: true,
                landed: landed.clone(),
                ..self.sound().await
            })
            .idempotency_lock_timeout(Duration::from_secs(1));
        (gate, landed)
    }

    /// A gatekeeper over the same database whose first `n` owner writes
    /// (completing or freeing a key) fail.
    async fn failing_writes(&self, n: usize) -> Gatekeeper {
        self.faulty(Faulty {
            failing_writes: Arc::new(AtomicUsize::new(n)),
            ..self.sound().await
        })
    }

    /// A gatekeeper over the same database whose first `n` releases find
    /// no connection.
    async fn unconnected_releases(&self, n: usize) -> Gatekeeper {
        self.faulty(Faulty {
            unconnected_releases: Arc::new(AtomicUsize::new(n)),
            ..self.sound().await
        })
    }

    /// A gatekeeper over the same database whose first `n` claims of a key
    /// land but lose their answer (the connection drops on the way back).
    async fn unanswered_claims(&self, n: usize) -> Gatekeeper {
        self.faulty(Faulty {
            unanswered_claims: Arc::new(AtomicUsize::new(n)),
            ..self.sound().await
        })
    }

    /// A gatekeeper over the same database whose first `n` revocations and
    /// account state changes land but lose their answer.
    async fn unanswered_state_changes(&self, n: usize) -> Gatekeeper {
        self.faulty(Faulty {
            unanswered_state_changes: Arc::new(AtomicUsize::new(n)),
            ..self.sound().await
        })
    }

    /// A gatekeeper over the same database where `credits` are added to the
    /// account just after its first refused charge.
    async fn top_up_on_refusal(&self, credits: i64) -> Gatekeeper {
        self.faulty(Faulty {
            top_up_on_refusal: Arc::new(std::sync::atomic::AtomicI64::new(credits)),
            ..self.sound().await
        })
    }

    /// A gatekeeper over the same database whose first `n` deletes of a
    /// key's expired record miss it.
    async fn missed_deletes(&self, n: usize) -> Gatekeeper {
        self.faulty(Faulty {
            missed_deletes: Arc::new(AtomicUsize::new(n)),
            ..self.sound().await
        })
    }

    /// A backend over the same database with no faults, to change one of.
    async fn sound(&self) -> Faulty {
        Faulty {
            inner: self.db.backend().await,
            unanswered_renewals: false,
            landed: Arc::default(),
            renewals: Arc::default(),
            renewals_answered: Arc::default(),
            failing_writes: Arc::default(),
            unconnected_releases: Arc::default(),
            unanswered_claims: Arc::default(),
            unanswered_state_changes: Arc::default(),
            held_writes: None,
            slow_writes: false,
            top_up_on_refusal: Arc::default(),
            missed_deletes: Arc::default(),
            failing_commits: false,
        }
    }

    fn faulty(&self, backend: Faulty) -> Gatekeeper {
        let options = tollgate_store::StoreOptions::default().clock(self.db.clock.clone());
        Gatekeeper::new(Store::with_backend(backend, options))
    }
}

/// A request with key `k1` whose handler has entered and is held, on a
/// gatekeeper whose renewals go unanswered, once a renewal has landed (the
/// clock moved, so it set a later lock).
async fn held_through_a_renewal(
    f: &Fixture,
) -> (
    Held,
    tokio::task::JoinHandle<Result<Response<Full<Bytes>>, Infallible>>,
) {
    let (gate, landed) = f.unanswered_renewals().await;
    let held = Held::new();
    let svc = gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(held.service("first"));
    let running = tokio::spawn(svc.oneshot(post(&f.key, Some("k1"), "{}")));
    held.entered.notified().await;
    f.db.clock.advance(Duration::from_secs(2));
    let renewed = tokio::time::timeout(Duration::from_secs(5), landed.notified());
    assert!(renewed.await.is_ok(), "a renewal lands");
    (held, running)
}

async fn a_request_dropped_while_its_lock_renews_leaves_the_key_free(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    // A renewal lands, and the request is dropped before it hears so.
    let (_held, running) = held_through_a_renewal(&f).await;
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    // Its handler had not answered: the key is freed (the clock stands
    // still, so it is not a lock running out), and a retry runs.
    let handler = Handler::new();
    let retry = f
        .gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let retried = eventually(|| async {
        let (res, _) = send(&retry, post(&f.key, Some("k1"), "{}")).await;
        res.status() == 201
    })
    .await;
    assert!(retried, "the retry runs");
    assert_eq!(handler.calls(), 1);
    f.db.cleanup().await;
}

async fn a_response_dropped_while_its_lock_renews_spends_the_key(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let (gate, landed) = f.unanswered_renewals().await;
    let held = HeldAnswer::default();
    let svc = gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(held.service(b"first"));
    let running = tokio::spawn(svc.clone().oneshot(post(&f.key, Some("k1"), "{}")));
    assert!(eventually(|| async { held.calls() == 1 }).await);
    // The handler has answered and its body is being read when a renewal
    // lands unheard and the request is dropped.
    f.db.clock.advance(Duration::from_secs(2));
    let renewed = tokio::time::timeout(Duration::from_secs(5), landed.notified());
    assert!(renewed.await.is_ok(), "a renewal lands");
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    // The key is spent: a retry is told the request ran, not that it is
    // still running.
    assert_spent_unkept(&f, "k1").await;
    assert_eq!(held.calls(), 1);
    f.db.cleanup().await;
}

/// Retries `key` until told its request ran but its answer was not kept
/// (409), and asserts that it was told so, and that the retry did not run
/// its handler.
async fn assert_spent_unkept(f: &Fixture, key: &str) {
    let handler = Handler::new();
    let retry = f
        .gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let last = std::sync::Mutex::new(String::new());
    let spent = eventually(|| async {
        let (res, body) = send(&retry, post(&f.key, Some(key), "{}")).await;
        let answer = format!("{} {}", code(&res), String::from_utf8_lossy(&body));
        let spent = res.status() == 409 && answer.contains("was not kept");
        *last.lock().unwrap() = answer;
        spent
    })
    .await;
    let last = last.into_inner().unwrap();
    assert!(spent, "the retry is told the request ran: {last}");
    assert_eq!(handler.calls(), 0, "the retry ran the handler");
}

async fn a_request_dropped_as_its_handler_answers_during_a_renewal_spends_the_key(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    // A renewal lands unheard; the handler answers 201 while the layer
    // still waits for it, and the request is dropped then.
    let (held, running) = held_through_a_renewal(&f).await;
    held.release.notify_one();
    held.answered.notified().await;
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    // The handler answered: the key is spent, and a retry does not run it.
    assert_spent_unkept(&f, "k1").await;
    f.db.cleanup().await;
}

/// A release that found no connection (nothing sent) is tried again: the
/// failed request is not charged.
/// A revocation or a suspension that landed though its answer was lost (the
/// connection dropped on the way back) takes effect on this node at once:
/// its key cache does not keep the key working until the entry expires.
async fn a_revocation_or_suspension_whose_answer_is_lost_still_clears_the_cache(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    f.store()
        .create_account(NewAccount::new("globex"))
        .await
        .unwrap();
    let other = f
        .store()
        .create_key(NewKey::new("globex", ["scans:read"]))
        .await
        .unwrap();
    let gate = f.unanswered_state_changes(3).await;
    let store = gate.store().clone();
    let handler = Handler::new();
    let svc = gate.auth().layer(handler.service());
    let get = |key: &str| {
        Request::get("/v1/scans")
            .header("x-api-key", key)
            .body(Full::default())
            .unwrap()
    };
    let status = |res: &Response<Full<Bytes>>| (res.status().as_u16(), code(res).to_owned());
    // Both keys are cached.
    for key in [f.key.as_str(), other.secret()] {
        assert_eq!(send(&svc, get(key)).await.0.status(), 201);
    }

    assert!(store.revoke_key(&f.key).await.is_err());
    let (res, _) = send(&svc, get(&f.key)).await;
    assert_eq!(status(&res), (401, "deactivated_key".to_owned()));

    assert!(store.suspend("globex").await.is_err());
    let (res, _) = send(&svc, get(other.secret())).await;
    assert_eq!(status(&res), (402, "account_suspended".to_owned()));
    assert!(store.resume("globex").await.is_err());
    let (res, _) = send(&svc, get(other.secret())).await;
    assert_eq!(status(&res), (201, String::new()));
    assert_eq!(handler.calls(), 3);
    f.db.cleanup().await;
}

async fn credits_are_given_back_though_the_first_release_finds_no_connection(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    handler.set_status(503);
    let svc = f
        .unconnected_releases(2)
        .await
        .route()
        .cost(3)
        .layer(handler.service());
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 503);
    assert_eq!((handler.calls(), f.balance().await), (1, 10));

    // A handler's own release that never got a connection leaves the
    // reservation to the layer's, which gives the credits back.
    let gate = f.unconnected_releases(3).await;
    let store = gate.store().clone();
    let svc = gate
        .route()
        .cost(3)
        .layer(tower::service_fn(move |req: Req| {
            let store = store.clone();
            async move {
                let reservation = req.extensions().get::<Reservation>().cloned().unwrap();
                assert!(
                    store.release(reservation).await.is_err(),
                    "no connection, thrice"
                );
                let response = Response::builder().status(503).body(Full::default());
                Ok::<_, Infallible>(response.unwrap())
            }
        }));
    assert_eq!(send(&svc, post(&f.key, None, "{}")).await.0.status(), 503);
    assert_eq!(f.balance().await, 10);
    f.db.cleanup().await;
}

/// A charge refused for want of credits, with a top-up landing before the
/// refusal is explained, is tried again: not refused with as many credits
/// available as it needs, or more.
async fn a_charge_refused_as_a_top_up_lands_is_made_with_the_new_credits(kind: Kind) {
    let Some(f) = Fixture::new(kind, 0).await else {
        return;
    };
    // Topped up to exactly the cost, and then to more than it.
    for (top_up, left) in [(2, 0), (5, 3)] {
        let gate = f.top_up_on_refusal(top_up).await;
        match gate.store().reserve("acme", 2).await {
            Ok(reservation) => assert_eq!(reservation.remaining(), left, "top-up {top_up}"),
            Err(refused) => panic!("top-up of {top_up} refused: {refused}"),
        }
        assert_eq!(f.balance().await, left);
    }
    f.db.cleanup().await;
}

/// One dropped connection while storing the outcome does not leave the key
/// running (to run, and charge, again once its lock times out): the write is
/// tried again, and the retry is a replay.
async fn finish_writes_waits_for_what_a_late_charge_or_claim_gives_back(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = f.faulty(Faulty {
        held_writes: Some(permits.clone()),
        slow_writes: true,
        ..f.sound().await
    });
    let handler = Handler::new();
    let charged = gate.route().cost(3).layer(handler.service());
    let claimed = gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    for (svc, idem) in [(charged, None), (claimed, Some("k1"))] {
        // The request is dropped while its charge (or claim) waits ...
        assert!(given_up_waiting(svc.oneshot(post(&f.key, idem, "{}"))).await);
        // ... and the server stops: it waits for the store's writes, and
        // the charge lands meanwhile. Its refund (or the key's freeing),
        // begun as it lands, is waited for too, or the runtime's end would
        // cut it off.
        let store = gate.store().clone();
        let stopping = tokio::spawn(async move { store.finish_writes().await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        permits.add_permits(1);
        stopping.await.unwrap();
        let backend = f.db.backend().await;
        let scope = f.store().authenticate(&f.key).await.unwrap();
        let record = backend.idem_get(scope.key_id(), "k1").await.unwrap();
        assert_eq!((f.balance().await, record), (10, None));
    }
    assert_eq!(handler.calls(), 0);
    f.db.cleanup().await;
}

/// Sends `request()` again while it is told its key is in use (an owner's
/// write still being tried), for up to ten seconds.
async fn send_while_in_use<S>(svc: &S, request: impl Fn() -> Req) -> (Response<Full<Bytes>>, Bytes)
where
    S: Service<Req, Response = Response<Full<Bytes>>, Error = Infallible> + Clone,
{
    for _ in 0..100 {
        let (res, body) = send(svc, request()).await;
        if code(&res) != "idempotency_key_in_use" {
            return (res, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the key stayed in use for ten seconds")
}

/// An outcome whose writes fail for a while (a database out of reach for
/// less than the lock timeout; here four failures, 2 to 4 s of waits) is
/// stored once they succeed: the retry is a replay, not a second run.
async fn an_outcome_is_stored_though_its_first_writes_fail(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .failing_writes(4)
        .await
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let (first, first_body) = send(&svc, post(&f.key, Some("k1"), "{}")).await;
    assert_eq!(first.status(), 201);
    let (again, again_body) = send_while_in_use(&svc, || post(&f.key, Some("k1"), "{}")).await;
    assert_eq!(
        again.status(),
        201,
        "{}",
        String::from_utf8_lossy(&again_body)
    );
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again_body, first_body);
    assert_eq!((handler.calls(), f.balance().await), (1, 9));
    f.db.cleanup().await;
}

/// Failed writes while freeing a failed request's key do not leave it at
/// 409 until its lock times out: the retry runs once they succeed.
async fn a_key_is_freed_though_its_first_writes_fail(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .failing_writes(4)
        .await
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    handler.set_status(500);
    assert_eq!(
        send(&svc, post(&f.key, Some("k1"), "{}")).await.0.status(),
        500
    );
    handler.set_status(201);
    let (retried, body) = send_while_in_use(&svc, || post(&f.key, Some("k1"), "{}")).await;
    assert_eq!(retried.status(), 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(handler.calls(), 2);
    f.db.cleanup().await;
}

/// A claim that landed though its answer was lost does not hold the key
/// until its lock times out: the retry runs.
async fn a_claim_whose_answer_is_lost_leaves_the_key_free(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .unanswered_claims(1)
        .await
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let (first, _) = send(&svc, post(&f.key, Some("k1"), "{}")).await;
    assert_eq!(first.status(), 503);
    let ran =
        eventually(|| async { send(&svc, post(&f.key, Some("k1"), "{}")).await.0.status() == 201 });
    assert!(ran.await, "the retry kept getting 409 after a lost claim");
    assert_eq!(handler.calls(), 1);
    f.db.cleanup().await;
}

/// A record a claim finds though its delete of expired records missed it
/// (written just after the delete) is judged as that delete would have:
/// expired, it is gone, and holds the key against no request. Here each is
/// another request's (its fingerprint differs): a running one whose lock is
/// over, and a done one expiring as its lock ends. Each refuses the key
/// while it lasts (422), and is not taken for live once expired.
async fn an_expired_record_a_claim_finds_after_its_delete_does_not_hold_the_key(kind: Kind) {
    use tollgate_store::backend::{IdempotencyRow, LockToken};
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let sound = f
        .gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let scope = f.store().key(&f.key).await.unwrap().id().to_owned();
    let backend = f.db.backend().await;
    let now = || {
        let since = f.store().now().duration_since(std::time::UNIX_EPOCH);
        i64::try_from(since.unwrap().as_secs()).unwrap()
    };
    let other = b"another request".as_slice();
    let token = LockToken(7);

    // Running, locked and kept for a minute.
    let running = IdempotencyRow::running(&scope, "k1", other, now() + 60, now(), now() + 60);
    assert!(backend.idem_insert(running, token).await.unwrap());
    // Done, kept for as long as its lock: both end together.
    let until = now() + 61;
    let done = IdempotencyRow::running(&scope, "k2", other, until, now(), until);
    assert!(backend.idem_insert(done.clone(), token).await.unwrap());
    let outcome = IdempotencyRow {
        state: "done".to_owned(),
        status: Some(201),
        headers: Some("[]".to_owned()),
        body: Some(b"{}".to_vec()),
        ..done
    };
    assert!(backend.idem_complete(outcome, token).await.unwrap());
    for key in ["k1", "k2"] {
        let (res, _) = send(&sound, post(&f.key, Some(key), "{}")).await;
        assert_eq!(
            res.status(),
            422,
            "{key}: another request's, while it lasts"
        );
    }

    // The running record's lock over and past its expiry; then the done
    // record's lock ending, as it expires.
    for (key, advance) in [("k1", 61), ("k2", 0)] {
        f.db.clock.advance(Duration::from_secs(advance));
        let svc = f
            .missed_deletes(1)
            .await
            .route()
            .idempotency(Idempotency::Optional)
            .layer(handler.service());
        let (res, body) = send(&svc, post(&f.key, Some(key), "{}")).await;
        assert_eq!(
            res.status(),
            201,
            "{key}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(!res.headers().contains_key("idempotent-replayed"), "{key}");
    }
    assert_eq!(handler.calls(), 2);
    f.db.cleanup().await;
}

/// A request run through `gate` with `Idempotency-Key: k1`, whose handler
/// moves the store's clock ten seconds as it begins, then answers 201
/// `done` once told: the request, spawned, and what tells its handler.
async fn a_request_that_moves_the_clock(
    f: &Fixture,
    gate: Gatekeeper,
) -> (
    impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible> + Clone + use<>,
    tokio::task::JoinHandle<Result<Response<Full<Bytes>>, Infallible>>,
    Arc<tokio::sync::Notify>,
) {
    let (entered, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let handler = tower::service_fn({
        let (clock, entered, release) = (f.db.clock.clone(), entered.clone(), release.clone());
        move |_req: Req| {
            let (clock, entered, release) = (clock.clone(), entered.clone(), release.clone());
            async move {
                clock.advance(Duration::from_secs(10));
                entered.notify_one();
                release.notified().await;
                let response = Response::builder().status(201).body(Full::from("done"));
                Ok::<_, Infallible>(response.unwrap())
            }
        }
    });
    let svc = gate
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler);
    let running = tokio::spawn(svc.clone().oneshot(post(&f.key, Some("k1"), "{}")));
    entered.notified().await;
    (svc, running, release)
}

/// Lets the request that [`a_request_that_moves_the_clock`] holds finish,
/// and checks that it is answered, and that its answer is replayed.
async fn finish_and_replay<S>(
    svc: &S,
    running: tokio::task::JoinHandle<Result<Response<Full<Bytes>>, Infallible>>,
    release: &tokio::sync::Notify,
    key: &str,
) where
    S: Service<Req, Response = Response<Full<Bytes>>, Error = Infallible> + Clone,
{
    release.notify_one();
    assert_eq!(running.await.unwrap().unwrap().status(), 201);
    let (status, body) = send_any(svc, post(key, Some("k1"), "{}")).await;
    assert_eq!((status, &body[..]), (201, &b"done"[..]));
}

/// Yields until `count` reaches `n`, then a while longer for what follows
/// from it to run: the runtime is kept busy, so a paused Tokio clock does
/// not move meanwhile (it moves on its own only when the runtime idles).
async fn yield_until(count: &AtomicUsize, n: usize) {
    while count.load(Ordering::SeqCst) < n {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// A request's first lock renewal comes a third of the lock timeout after
/// its claim, not as its handler begins: until then the lock stands, though
/// the store's clock has moved (a renewal would set a later one and write).
#[tokio::test]
async fn a_lock_is_not_renewed_before_a_third_of_its_timeout_has_passed() {
    let f = Fixture::new(Kind::Sqlite, 10).await.unwrap();
    let faulty = f.sound().await;
    let renewals = faulty.renewals.clone();
    // The handler's ten seconds are well within the third (20 s) of the
    // default lock.
    let (svc, running, release) = a_request_that_moves_the_clock(&f, f.faulty(faulty)).await;
    // Tokio's clock moves only when told from here: what the request's
    // tasks do while this one yields, they would do at once.
    tokio::time::pause();
    yield_until(&renewals, 0).await;
    assert_eq!(renewals.load(Ordering::SeqCst), 0, "renewed early");
    tokio::time::resume();
    finish_and_replay(&svc, running, &release, &f.key).await;
    f.db.cleanup().await;
}

/// Once a renewal has moved a key's lock, the next one, the store's clock
/// not having moved since, would set the same lock: it sends nothing.
#[tokio::test]
async fn a_renewal_that_would_not_move_the_lock_sends_nothing() {
    let f = Fixture::new(Kind::Sqlite, 10).await.unwrap();
    let faulty = f.sound().await;
    let (renewals, answered) = (faulty.renewals.clone(), faulty.renewals_answered.clone());
    // A 3 s lock, renewed every second.
    let gate = f
        .faulty(faulty)
        .idempotency_lock_timeout(Duration::from_secs(3));
    let (svc, running, release) = a_request_that_moves_the_clock(&f, gate).await;
    // Tokio's clock moves only when told from here: past the first
    // renewal's time, then past the next's.
    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(1500)).await;
    yield_until(&answered, 1).await;
    assert_eq!(
        renewals.load(Ordering::SeqCst),
        1,
        "the first renewal moves the lock"
    );
    tokio::time::advance(Duration::from_millis(1500)).await;
    yield_until(&answered, 0).await;
    assert_eq!(
        renewals.load(Ordering::SeqCst),
        1,
        "a renewal that would not move the lock was sent"
    );
    tokio::time::resume();
    finish_and_replay(&svc, running, &release, &f.key).await;
    f.db.cleanup().await;
}

async fn a_slow_request_keeps_its_key_past_the_lock_timeout(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let held = Held::new();
    // A 3 s lock, renewed every second while the handler works.
    let svc = f
        .gate
        .clone()
        .idempotency_lock_timeout(Duration::from_secs(3))
        .route()
        .idempotency(Idempotency::Optional)
        .layer(held.service("done"));
    let first = tokio::spawn(svc.clone().oneshot(post(&f.key, Some("slow"), "{}")));
    held.entered.notified().await;
    // Renewed at +2 s (to +5 s), then at +4 s (to +7 s): for as long as the
    // handler works, not once.
    for _ in 0..2 {
        f.db.clock.advance(Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    // Past the first lock (3 s) and the first renewal's (5 s), within the
    // second's: still in use, not taken over and run a second time.
    f.db.clock.advance(Duration::from_secs(2));
    let retry = send_any(&svc, post(&f.key, Some("slow"), "{}"));
    // (A retry that took the key over would run the handler, and wait.)
    let retried = tokio::time::timeout(Duration::from_secs(5), retry).await;
    assert_eq!(retried.map(|(status, _)| status).ok(), Some(409));
    held.release.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), 201);
    let (res, body) = send_any(&svc, post(&f.key, Some("slow"), "{}")).await;
    assert_eq!((res, &body[..]), (201, &b"done"[..]));
    f.db.cleanup().await;
}

async fn a_lock_timeout_too_long_for_the_clock_still_answers(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .clone()
        .idempotency_lock_timeout(Duration::MAX)
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let (first, _) = send(&svc, post(&f.key, Some("long"), "{}")).await;
    assert_eq!(first.status(), 201);
    let (again, _) = send(&svc, post(&f.key, Some("long"), "{}")).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(handler.calls(), 1);
    f.db.cleanup().await;
}

/// A body that sends its first chunk, then waits for `release` to end.
struct HeldBody {
    first: Option<Bytes>,
    release: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take() {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(first))));
        }
        self.release.as_mut().poll(cx).map(|()| None)
    }
}

async fn a_slow_response_body_keeps_its_key_past_the_lock_timeout(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let held = HeldAnswer::default();
    // A 3 s lock, renewed every second while the handler works and while its
    // body is read.
    let svc = f
        .gate
        .clone()
        .idempotency_lock_timeout(Duration::from_secs(3))
        .route()
        .idempotency(Idempotency::Optional)
        .layer(held.service(b"done"));
    let first = tokio::spawn(svc.clone().oneshot(post(&f.key, Some("slow"), "{}")));
    assert!(eventually(|| async { held.calls() == 1 }).await);
    f.db.clock.advance(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Past the first lock, within the renewed one: the key is still in use.
    f.db.clock.advance(Duration::from_secs(2));
    let retry = send_any(&svc, post(&f.key, Some("slow"), "{}"));
    let retried = tokio::time::timeout(Duration::from_secs(5), retry).await;
    assert_eq!(retried.map(|(status, _)| status).ok(), Some(409));
    assert_eq!(held.calls(), 1, "the retry did not run");
    held.release.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), 201);
    let (res, body) = send_any(&svc, post(&f.key, Some("slow"), "{}")).await;
    assert_eq!((res, &body[..]), (201, &b"done"[..]));
    f.db.cleanup().await;
}

async fn the_handler_runs_on_while_a_renewal_waits(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let entered = Arc::new(tokio::sync::Notify::new());
    let steps = Arc::new(AtomicUsize::new(0));
    let handler = tower::service_fn({
        let (entered, steps) = (entered.clone(), steps.clone());
        move |_req: Req| {
            let (entered, steps) = (entered.clone(), steps.clone());
            async move {
                entered.notify_one();
                // Three seconds of work, in steps that need polling.
                for _ in 0..300 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    steps.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<_, Infallible>(Response::new(Full::from("done")))
            }
        }
    });
    // A one-second lock, renewed every third of a second.
    let svc = f
        .gate
        .clone()
        .idempotency_lock_timeout(Duration::from_secs(1))
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler);
    let first = tokio::spawn(svc.clone().oneshot(post(&f.key, Some("k1"), "{}")));
    entered.notified().await;
    // The renewal's write (a later lock, the clock having moved) waits on
    // another writer for two seconds.
    f.db.clock.advance(Duration::from_secs(2));
    let hold = WriteHold::new(
        &f,
        kind,
        "SELECT 1 FROM idempotency WHERE idem_key = 'k1' FOR UPDATE",
    )
    .await;
    // The renewal, due every third of a second, waits on the hold by the
    // end of this second; the handler's steps in the next are counted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting = steps.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = steps.load(Ordering::SeqCst) - waiting;
    hold.release().await;
    // Stalled with its renewal, the handler would make none (a hundred
    // steps fit the second; a loaded machine makes fewer).
    assert!(during >= 10, "{during} steps while the renewal waited");
    let res = first.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    // Its outcome was stored under the lock the renewals left.
    let (status, body) = send_any(&svc, post(&f.key, Some("k1"), "{}")).await;
    assert_eq!((status, &body[..]), (200, &b"done"[..]));
    assert_eq!(steps.load(Ordering::SeqCst), 300, "the retry was a replay");
    f.db.cleanup().await;
}

/// Status and body of a response of any body type.
async fn send_any<S, B>(svc: &S, req: Req) -> (u16, Bytes)
where
    S: Service<Req, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let res = svc.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

async fn idempotency_key_required_and_validated(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Required)
        .layer(handler.service());
    let (res, body) = send(&svc, post(&f.key, None, "{}")).await;
    assert_eq!((res.status().as_u16(), code(&res)), (400, "missing_field"));
    assert_eq!(
        json(&body)["detail"],
        "Missing required field 'Idempotency-Key'"
    );
    let long = "k".repeat(256);
    for bad in [long.as_str(), "has space"] {
        let (res, body) = send(&svc, post(&f.key, Some(bad), "{}")).await;
        assert_eq!(
            (res.status().as_u16(), code(&res)),
            (400, "validation_error")
        );
        assert_eq!(json(&body)["errors"][0]["pointer"], "/Idempotency-Key");
        // Coded as every other wrong value is, and told by its violation,
        // as the other layers tell a `validation_error`: a dialect without
        // violations still names the header.
        assert_eq!(json(&body)["errors"][0]["code"], "invalid_value");
        assert_eq!(
            json(&body)["detail"],
            "Idempotency-Key: must be sent once, as 1-255 visible ASCII characters"
        );
    }
    assert_eq!((handler.calls(), f.balance().await), (0, 10));
    // Bodies over the limit are refused before anything runs.
    let small = Gatekeeper::new(f.store().clone()).max_body_bytes(4);
    let svc = small
        .route()
        .cost(1)
        .idempotency(Idempotency::Required)
        .layer(handler.service());
    let (res, _) = send(&svc, post(&f.key, Some("big"), "12345")).await;
    assert_eq!(
        (res.status().as_u16(), code(&res)),
        (413, "payload_too_large")
    );
    assert_eq!((handler.calls(), f.balance().await), (0, 10));
    f.db.cleanup().await;
}

/// A GET or DELETE is neither refused for want of a key, even where keys
/// are required, nor answered from a record; a layer turned off records
/// nothing, even for a POST with a key.
async fn idempotency_keys_apply_to_posts_and_patches_only_and_not_when_off(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let required = f
        .gate
        .idempotency()
        .mode(Idempotency::Required)
        .layer(handler.service());
    let get = Request::get("/v1/scans").header("x-api-key", &f.key);
    let (res, _) = send(&required, get.body(Full::default()).unwrap()).await;
    assert_eq!((res.status().as_u16(), code(&res)), (201, ""));
    for _ in 0..2 {
        let delete = Request::delete("/v1/scans/scan_1")
            .header("x-api-key", &f.key)
            .header("idempotency-key", "delete-1");
        let (res, _) = send(&required, delete.body(Full::default()).unwrap()).await;
        assert_eq!(res.status(), 201);
        assert!(res.headers().get("idempotent-replayed").is_none());
    }
    assert_eq!(handler.calls(), 3);

    let off = f
        .gate
        .idempotency()
        .mode(Idempotency::Off)
        .layer(handler.service());
    for _ in 0..2 {
        let (res, _) = send(&off, post(&f.key, Some("post-1"), "{}")).await;
        assert_eq!(res.status(), 201);
        assert!(res.headers().get("idempotent-replayed").is_none());
    }
    assert_eq!(handler.calls(), 5);
    f.db.cleanup().await;
}

/// A success deletes its charge's record in a batch a few milliseconds
/// after its answer: a process stopped first leaves the record. Another
/// node past the hold gives it back, unless the request's answer is stored
/// under its Idempotency-Key: that one was served, and every retry gets it.
async fn a_stored_answer_keeps_its_charge_though_its_process_stopped_before_deleting_the_record(
    kind: Kind,
) {
    let hold = Duration::from_secs(600);
    let Some(f) = Fixture::with(kind, 10, |o| o.charge_hold(hold)).await else {
        return;
    };
    let gate = f.faulty(Faulty {
        failing_commits: true,
        ..f.sound().await
    });
    let handler = tower::service_fn(|_req: Req| async {
        Ok::<_, Infallible>(
            Response::builder()
                .status(201)
                .body(Full::from("made"))
                .unwrap(),
        )
    });
    let svc = gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler);
    let (stored, _) = send(&svc, post(&f.key, Some("kept-1"), "{}")).await;
    let (unstored, _) = send(&svc, post(&f.key, None, "{}")).await;
    assert_eq!(
        (stored.status().as_u16(), unstored.status().as_u16()),
        (201, 201)
    );
    assert_eq!(f.balance().await, 8);
    drop((svc, gate));

    f.db.clock.advance(hold);
    let other = f.db.another_node(|o| o.charge_hold(hold)).await;
    assert_eq!(
        other.release_abandoned_charges().await.unwrap(),
        1,
        "only the charge whose answer is not stored"
    );
    assert_eq!(f.balance().await, 9);
    // Its record is gone too: nothing is left to look at again.
    f.db.clock.advance(hold);
    assert_eq!(other.release_abandoned_charges().await.unwrap(), 0);
    assert_eq!(f.balance().await, 9);
    let (replayed, body) = send(
        &f.gate
            .route()
            .cost(1)
            .idempotency(Idempotency::Optional)
            .layer(tower::service_fn(|_req: Req| async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(500)
                        .body(Full::from("ran again"))
                        .unwrap(),
                )
            })),
        post(&f.key, Some("kept-1"), "{}"),
    )
    .await;
    assert_eq!((replayed.status().as_u16(), &body[..]), (201, &b"made"[..]));
    f.db.cleanup().await;
}

/// The body limit is a limit, not a bound never reached: a response of
/// exactly that many bytes is kept and replayed, not told as too large.
async fn a_response_exactly_at_the_body_limit_is_kept_for_replay(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handler = tower::service_fn(move |_req: Req| {
        counted.fetch_add(1, Ordering::SeqCst);
        let response = Response::builder()
            .status(201)
            .body(Full::from("x".repeat(1024)));
        async move { Ok::<_, Infallible>(response.unwrap()) }
    });
    let svc = f
        .gate
        .clone()
        .max_body_bytes(1024)
        .route()
        .idempotency(Idempotency::Optional)
        .layer(handler);
    let (first, first_body) = send(&svc, post(&f.key, Some("at-limit"), "{}")).await;
    assert_eq!((first.status().as_u16(), first_body.len()), (201, 1024));
    let (again, again_body) = send(&svc, post(&f.key, Some("at-limit"), "{}")).await;
    assert_eq!(
        again.status(),
        201,
        "{}",
        String::from_utf8_lossy(&again_body)
    );
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again_body, first_body);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    f.db.cleanup().await;
}

/// A request body that fails while being read (the client's connection
/// reset) is a malformed request (400): not blamed on a size limit (413),
/// which would tell the client to send less.
async fn an_upload_cut_off_midway_is_malformed_not_too_large(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handler = tower::service_fn(move |_: Request<axum::body::Body>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("ran"))) }
    });
    let svc = f
        .gate
        .route()
        .idempotency(Idempotency::Required)
        .layer(handler);
    let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from("12")), Err(reset)];
    let request = Request::post("/v1/scans")
        .header("x-api-key", &f.key)
        .header("idempotency-key", "cut-off")
        .body(axum::body::Body::from_stream(futures_util::stream::iter(
            chunks,
        )))
        .unwrap();
    let res = svc.oneshot(request).await.unwrap();
    let err = res.extensions().get::<ApiError>().unwrap();
    assert_eq!(
        (res.status().as_u16(), err.code()),
        (400, "malformed_request")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    f.db.cleanup().await;
}

async fn several_idempotency_keys_on_one_request_are_refused(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    // Which of two keys is meant cannot be told (the draft: a client sends
    // one), and taking the first would run `[a, b]` and `[b, a]` twice.
    for keys in [["a", "b"], ["b", "a"], ["a", "a"]] {
        let mut req = post(&f.key, Some(keys[0]), "{}");
        req.headers_mut()
            .append("idempotency-key", keys[1].parse().unwrap());
        let (res, body) = send(&svc, req).await;
        assert_eq!(
            (res.status().as_u16(), code(&res)),
            (400, "validation_error"),
            "{keys:?}"
        );
        assert_eq!(json(&body)["errors"][0]["pointer"], "/Idempotency-Key");
    }
    assert_eq!((handler.calls(), f.balance().await), (0, 10));
    f.db.cleanup().await;
}

async fn a_form_with_a_boundary_where_another_holds_its_mark_is_another_request(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    let form = |idem: &str, boundary: &str, body: &[u8]| {
        let mut req = post(&f.key, Some(idem), "");
        req.headers_mut().insert(
            "content-type",
            format!("multipart/form-data; boundary={boundary}")
                .parse()
                .unwrap(),
        );
        *req.body_mut() = Full::from(Bytes::copy_from_slice(body));
        req
    };
    // Other bytes where the first has a boundary (here `--` and a NUL, which
    // a binary part may hold) make another request.
    let (res, _) = send(&svc, form("k1", "a", b"x\r\n--a\r\ny")).await;
    assert_eq!(res.status(), 201);
    let (res, _) = send(&svc, form("k1", "a", b"x\r\n--\0\r\ny")).await;
    assert_eq!(
        (res.status().as_u16(), code(&res)),
        (422, "idempotency_key_reused")
    );
    assert_eq!((handler.calls(), f.balance().await), (1, 9));
    // Such a body is still the same request under another boundary.
    let (first, first_body) = send(&svc, form("k2", "a", b"--a\r\n--\0\r\n--a--")).await;
    assert_eq!(first.status(), 201);
    let (again, again_body) = send(&svc, form("k2", "zz", b"--zz\r\n--\0\r\n--zz--")).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again_body, first_body);
    let (other, _) = send(&svc, form("k2", "a", b"--a\r\n--\0\r\n--a--\r\n")).await;
    assert_eq!(other.status(), 422);
    assert_eq!((handler.calls(), f.balance().await), (2, 8));
    f.db.cleanup().await;
}

async fn an_outer_body_limit_is_told_without_an_unfilled_limit(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    // An outer layer's limit (`tollgate-axum`'s, its error wrapped in the
    // body's) is that layer's to name: not told as this layer's 10 MiB.
    #[derive(Debug)]
    struct Wrapped(Box<dyn std::error::Error + Send + Sync>);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the body failed")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }
    let request = || async {
        let outer_limit = http_body_util::Limited::new(Full::<Bytes>::from("12345"), 1)
            .collect()
            .await
            .unwrap_err();
        let chunks: Vec<Result<Bytes, Wrapped>> =
            vec![Ok(Bytes::from("12")), Err(Wrapped(outer_limit))];
        let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
        Request::post("/v1/scans")
            .header("x-api-key", &f.key)
            .header("idempotency-key", "outer")
            .body(body)
            .unwrap()
    };
    let handler = tower::service_fn(|_: Request<axum::body::Body>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("ran")))
    });
    let svc = f
        .gate
        .route()
        .idempotency(Idempotency::Required)
        .layer(handler);
    let res = svc.oneshot(request().await).await.unwrap();
    assert_eq!(res.status(), 413);
    let err = res.extensions().get::<ApiError>().unwrap().clone();
    assert_eq!(err.code(), "payload_too_large");
    assert!(err.details().get("limit").is_none(), "{:?}", err.details());
    // The error is left for that layer to word; the body rendered here,
    // which goes out as it is without such a layer, says no number rather
    // than an unfilled `{limit}`.
    assert!(err.message_override().is_none());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        json(&body)["detail"],
        "The request body exceeds the size limit."
    );

    // A catalog whose message names no limit words it as it does.
    let mut catalog = tollgate::Catalog::builtin();
    catalog
        .load_toml(
            "app.toml",
            "[errors.payload_too_large]\nmessage = 'Too big.'\n",
        )
        .unwrap();
    let svc = f
        .gate
        .clone()
        .catalog(catalog)
        .route()
        .idempotency(Idempotency::Required)
        .layer(handler);
    let res = svc.oneshot(request().await).await.unwrap();
    assert_eq!(res.status(), 413);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(json(&body)["detail"], "Too big.");
    f.db.cleanup().await;
}

async fn idempotency_records_expire(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let gate = f
        .gate
        .clone()
        .idempotency_retention(Duration::from_secs(3600));
    let svc = gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    send(&svc, post(&f.key, Some("k"), "{}")).await;
    f.db.clock.advance(Duration::from_secs(3599));
    assert!(
        send(&svc, post(&f.key, Some("k"), "{}"))
            .await
            .0
            .headers()
            .contains_key("idempotent-replayed")
    );
    f.db.clock.advance(Duration::from_secs(1));
    // Expired: the same key may now carry a new request.
    let (res, _) = send(&svc, post(&f.key, Some("k"), r#"{"new":true}"#)).await;
    assert!(!res.headers().contains_key("idempotent-replayed"));
    assert_eq!((handler.calls(), f.balance().await), (2, 8));
    f.db.clock.advance(Duration::from_secs(3600));
    assert_eq!(f.store().purge_expired_idempotency().await.unwrap(), 1);
    f.db.cleanup().await;
}

/// Without `idempotency_retention`, a key's response is replayed for 24
/// hours (`DEFAULT_RETENTION`) and the key is free again after that.
async fn idempotency_records_are_kept_a_day_by_default(kind: Kind) {
    let Some(f) = Fixture::new(kind, 10).await else {
        return;
    };
    let handler = Handler::new();
    let svc = f
        .gate
        .route()
        .cost(1)
        .idempotency(Idempotency::Optional)
        .layer(handler.service());
    send(&svc, post(&f.key, Some("k"), "{}")).await;
    f.db.clock.advance(Duration::from_secs(24 * 3600 - 1));
    let (res, _) = send(&svc, post(&f.key, Some("k"), "{}")).await;
    assert!(res.headers().contains_key("idempotent-replayed"));
    f.db.clock.advance(Duration::from_secs(1));
    let (res, _) = send(&svc, post(&f.key, Some("k"), r#"{"new":true}"#)).await;
    assert!(!res.headers().contains_key("idempotent-replayed"));
    assert_eq!((handler.calls(), f.balance().await), (2, 8));
    f.db.cleanup().await;
}

/// A handler that cannot take a request: its `poll_ready` says it is
/// overloaded, and calling it anyway is a bug.
#[derive(Clone)]
struct Overloaded;

impl Service<Req> for Overloaded {
    type Response = Response<Full<Bytes>>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Err("overloaded"))
    }

    fn call(&mut self, _req: Req) -> Self::Future {
        panic!("called though not ready")
    }
}

/// Backpressure passes through the layers: each is ready only when its
/// handler is, so a caller (a load shedder, a buffer) never hands a request
/// to a handler that cannot take it, and is told why.
#[tokio::test]
async fn the_credits_and_idempotency_layers_are_ready_only_when_their_handler_is() {
    let f = Fixture::new(Kind::Sqlite, 10).await.unwrap();
    let credits = f.gate.credits(1).layer(Overloaded);
    assert!(matches!(credits.ready_oneshot().await, Err("overloaded")));
    let idempotency = f.gate.idempotency().layer(Overloaded);
    assert!(matches!(
        idempotency.ready_oneshot().await,
        Err("overloaded")
    ));
    f.db.cleanup().await;
}

/// The auth layer, and so a whole route, is ready only when its handler is,
/// and passes on the handler's reason when it is not.
#[tokio::test]
async fn the_auth_layer_and_a_route_are_ready_only_when_their_handler_is() {
    let f = Fixture::new(Kind::Sqlite, 10).await.unwrap();
    let auth = f.gate.auth().layer(Overloaded);
    assert!(matches!(auth.ready_oneshot().await, Err("overloaded")));
    let route = f.gate.route().cost(1).layer(Overloaded);
    assert!(matches!(route.ready_oneshot().await, Err("overloaded")));
    f.db.cleanup().await;
}

/// A database that stops answering: the layers answer 503 service_unavailable
/// with Retry-After, and the cause is kept as the error's source, never rendered.
#[tokio::test]
async fn an_unreachable_database_is_a_503_that_hides_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let setup = Store::open(&url).await.unwrap();
    setup
        .create_account(NewAccount::new("acme").credits(5))
        .await
        .unwrap();
    let key = setup.create_key(NewKey::new("acme", ["a"])).await.unwrap();

    let pool = sqlx::sqlite::SqlitePool::connect(&url).await.unwrap();
    let store = Store::with_backend(
        tollgate_store::backend::SqliteBackend::from_pool(pool.clone()),
        tollgate_store::StoreOptions::default(),
    );
    let gate = Gatekeeper::new(store.clone());
    let handler = Handler::new();
    let svc = gate.route().cost(1).layer(handler.service());
    assert_eq!(
        send(&svc, post(key.secret(), None, "{}")).await.0.status(),
        201
    );

    pool.close().await;
    // Authentication still answers from the cache; the charge cannot be made.
    let (res, body) = send(&svc, post(key.secret(), None, "{}")).await;
    assert_eq!(
        (res.status().as_u16(), code(&res)),
        (503, "service_unavailable")
    );
    assert_eq!(res.headers()["retry-after"], "1");
    let err = res.extensions().get::<ApiError>().unwrap();
    let cause = err
        .source_error()
        .expect("the cause is kept for the log")
        .to_string();
    assert!(cause.contains("closed"), "{cause}");
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("closed") && !text.contains("sqlite"),
        "{text}"
    );
    // A key not in the cache cannot be checked either: 503, not 401.
    let other = setup.create_key(NewKey::new("acme", ["a"])).await.unwrap();
    let (res, _) = send(&svc, post(other.secret(), None, "{}")).await;
    assert_eq!(res.status(), 503);
    assert_eq!(handler.calls(), 1);
}
