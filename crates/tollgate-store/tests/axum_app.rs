//! The issue's "done when": an axum app declares "POST /v1/scans needs
//! `scans:write` and costs 1 credit, idempotency supported", and every seed
//! behaviour comes back in its dialect, on SQLite with no setup and on
//! Postgres by URL.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{Kind, TestDb};
use http::Request;
use http_body_util::BodyExt;
use tollgate::{ApiError, Catalog, Context, Dialect};
use tollgate_store::{Gatekeeper, Idempotency, NewAccount, NewKey, Owned, Principal};
use tower::ServiceExt;

both_backends!(
    seed_behaviours_in_the_envelope_dialect,
    idempotency_tells_apart_resources_under_a_nested_router,
    refusals_under_a_nested_router_name_the_path_the_client_sent,
    idempotency_buffers_a_compressed_body_no_further_than_the_body_limit
);

#[derive(Clone)]
struct Scan {
    id: String,
    account: String,
}

impl Owned for Scan {
    fn owner(&self) -> &str {
        &self.account
    }
}

#[derive(Clone, Default)]
struct Scans(Arc<Mutex<HashMap<String, Scan>>>);

/// What a handler returns without `tollgate-axum`: the error rendered, and in the extensions.
fn render(err: ApiError) -> Response {
    let rendered = Catalog::builtin_ref()
        .renderer(Dialect::Envelope)
        .response(&err, &Context::new(std::time::SystemTime::now()));
    let (mut parts, body) = rendered.into_parts();
    parts.extensions.insert(err);
    Response::from_parts(parts, Body::from(body))
}

async fn create_scan(State(scans): State<Scans>, Extension(who): Extension<Principal>) -> Response {
    let mut map = scans.0.lock().unwrap();
    let id = format!("scan_{}", map.len() + 1);
    map.insert(
        id.clone(),
        Scan {
            id: id.clone(),
            account: who.account_id().to_owned(),
        },
    );
    (
        http::StatusCode::CREATED,
        format!(r#"{{"data":{{"id":"{id}"}},"success":true,"message":"OK"}}"#),
    )
        .into_response()
}

async fn get_scan(
    State(scans): State<Scans>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let found = scans.0.lock().unwrap().get(&id).cloned();
    match who.own(Catalog::builtin_ref(), found) {
        Ok(scan) => format!(
            r#"{{"data":{{"id":"{}"}},"success":true,"message":"OK"}}"#,
            scan.id
        )
        .into_response(),
        Err(err) => render(err),
    }
}

fn app(gate: &Gatekeeper, scans: Scans) -> Router {
    Router::new()
        .route(
            "/v1/scans",
            post(create_scan).route_layer(
                gate.route()
                    .scope("scans:write")
                    .cost(1)
                    .idempotency(Idempotency::Optional),
            ),
        )
        .route(
            "/v1/scans/{id}",
            get(get_scan).route_layer(gate.route().scope("scans:read")),
        )
        .with_state(scans)
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    idem: Option<&str>,
) -> (u16, http::HeaderMap, serde_json::Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    if let Some(i) = idem {
        b = b.header("idempotency-key", i);
    }
    let res = app
        .clone()
        .oneshot(b.body(Body::from("{}")).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (parts.status.as_u16(), parts.headers, json)
}

fn envelope_error(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"data": null, "success": false, "message": message, "errors": [{code: [message]}]})
}

async fn seed_behaviours_in_the_envelope_dialect(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = &db.store;
    store
        .create_account(NewAccount::new("acme").credits(1))
        .await
        .unwrap();
    store
        .create_account(NewAccount::new("globex").credits(5))
        .await
        .unwrap();
    let writer = store
        .create_key(NewKey::new("acme", ["scans:read", "scans:write"]))
        .await
        .unwrap();
    let reader = store
        .create_key(NewKey::new("acme", ["scans:read"]))
        .await
        .unwrap();
    let other = store
        .create_key(NewKey::new("globex", ["scans:read", "scans:write"]))
        .await
        .unwrap();
    let gate = Gatekeeper::new(store.clone()).dialect(Dialect::Envelope);
    let app = app(&gate, Scans::default());

    // 401 invalid_key, with WWW-Authenticate.
    let (status, headers, body) = call(&app, "POST", "/v1/scans", None, None).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(
        body,
        envelope_error("invalid_key", "The API key is missing or invalid.")
    );

    // A method the route lacks is axum's 405, not an authentication failure.
    let (status, headers, _) = call(&app, "DELETE", "/v1/scans", None, None).await;
    assert_eq!(status, 405);
    assert!(headers.contains_key("allow"));

    // 403 naming the scope.
    let (status, _, body) = call(&app, "POST", "/v1/scans", Some(reader.secret()), None).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        envelope_error(
            "insufficient_scope",
            "API key lacks required scope: scans:write"
        )
    );

    // 201, then a replay of it, charged once.
    let (status, _, created) =
        call(&app, "POST", "/v1/scans", Some(writer.secret()), Some("k1")).await;
    assert_eq!(status, 201);
    let (status, headers, replayed) =
        call(&app, "POST", "/v1/scans", Some(writer.secret()), Some("k1")).await;
    assert_eq!((status, &replayed), (201, &created));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(store.account("acme").await.unwrap().balance(), 0);

    // 402 insufficient credits, seed 004's exact envelope.
    let (status, _, body) =
        call(&app, "POST", "/v1/scans", Some(writer.secret()), Some("k2")).await;
    assert_eq!(status, 402);
    assert_eq!(
        body,
        envelope_error(
            "insufficient_credits",
            "Insufficient credits. Required: 1, available: 0"
        )
    );

    // Another tenant's scan does not exist; the owner sees it.
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, _, body) = call(
        &app,
        "GET",
        &format!("/v1/scans/{id}"),
        Some(other.secret()),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        envelope_error("not_found", "The requested resource was not found.")
    );
    let (status, _, missing) = call(
        &app,
        "GET",
        "/v1/scans/scan_999",
        Some(other.secret()),
        None,
    )
    .await;
    assert_eq!((status, missing), (404, body));
    assert_eq!(
        call(
            &app,
            "GET",
            &format!("/v1/scans/{id}"),
            Some(reader.secret()),
            None
        )
        .await
        .0,
        200
    );

    // 402 account_suspended.
    store.suspend("acme").await.unwrap();
    let (status, _, body) = call(
        &app,
        "GET",
        &format!("/v1/scans/{id}"),
        Some(reader.secret()),
        None,
    )
    .await;
    assert_eq!(status, 402);
    assert_eq!(
        body["errors"][0]["account_suspended"][0],
        "The account is suspended."
    );

    // 401 deactivated_key.
    store.revoke_key(other.info().id()).await.unwrap();
    let (status, _, body) = call(&app, "POST", "/v1/scans", Some(other.secret()), None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        envelope_error("deactivated_key", "The API key has been deactivated.")
    );
    db.cleanup().await;
}

async fn idempotency_tells_apart_resources_under_a_nested_router(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = &db.store;
    store.create_account(NewAccount::new("acme")).await.unwrap();
    let key = store
        .create_key(NewKey::new("acme", ["transfers:write"]))
        .await
        .unwrap();
    let gate = Gatekeeper::new(store.clone());
    let transfers = Router::new().route(
        "/transfers",
        post(|Path(account): Path<String>| async move { (http::StatusCode::CREATED, account) })
            .route_layer(
                gate.route()
                    .scope("transfers:write")
                    .idempotency(Idempotency::Optional),
            ),
    );
    // The nested router's layers see `/transfers` for either account.
    let app = Router::new().nest("/accounts/{account}", transfers);
    let send = |uri: &'static str| {
        let request = Request::post(uri)
            .header("x-api-key", key.secret())
            .header("idempotency-key", "k1")
            .body(Body::from("{}"))
            .unwrap();
        let app = app.clone();
        async move {
            let res = app.oneshot(request).await.unwrap();
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(send("/accounts/a/transfers").await, (201, "a".to_owned()));
    // The same key for another resource is another request, not a replay of a's.
    let (status, body) = send("/accounts/b/transfers").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("idempotency_key_reused"), "{body}");
    assert_eq!(send("/accounts/a/transfers").await, (201, "a".to_owned()));
    db.cleanup().await;
}

async fn refusals_under_a_nested_router_name_the_path_the_client_sent(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = &db.store;
    store.create_account(NewAccount::new("acme")).await.unwrap();
    let key = store
        .create_key(NewKey::new("acme", ["scans:write"]))
        .await
        .unwrap();
    let key = key.secret();
    let gate = Gatekeeper::new(store.clone());
    let ok = || async { http::StatusCode::CREATED };
    let scans = Router::new()
        .route(
            "/scans",
            post(ok).route_layer(
                gate.route()
                    .scope("scans:write")
                    .cost(1)
                    .idempotency(Idempotency::Required),
            ),
        )
        // Credits without authentication before them: no principal to charge.
        .route("/unauthenticated", post(ok).route_layer(gate.credits(1)));
    // The nested router's layers see `/scans`; the client sent `/v1/scans`.
    let app = Router::new().nest("/v1", scans);
    let long_key = "k".repeat(256);
    let cases = [
        ("/v1/scans", None, None, 401, "invalid_key"),
        ("/v1/scans", Some("sk_unknown"), None, 401, "invalid_key"),
        ("/v1/scans", Some(key), None, 400, "missing_field"),
        (
            "/v1/scans",
            Some(key),
            Some(long_key.as_str()),
            400,
            "validation_error",
        ),
        (
            "/v1/scans",
            Some(key),
            Some("k1"),
            402,
            "insufficient_credits",
        ),
        ("/v1/unauthenticated", Some(key), None, 401, "invalid_key"),
    ];
    for (uri, key, idem, status, code) in cases {
        let (got, _, body) = call(&app, "POST", uri, key, idem).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
        assert_eq!(body["instance"], uri, "{body}");
    }
    db.cleanup().await;
}

async fn idempotency_buffers_a_compressed_body_no_further_than_the_body_limit(kind: Kind) {
    use std::io::Write;
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = &db.store;
    store
        .create_account(NewAccount::new("acme").credits(10))
        .await
        .unwrap();
    let key = store
        .create_key(NewKey::new("acme", ["scans:write"]))
        .await
        .unwrap();
    // The idempotency layer's own limit left at its default (10 MiB): the
    // Tollgate layer's, 64 KiB, bounds what it reads of a decoded body.
    let gate = Gatekeeper::new(store.clone());
    let limit = 64 << 10;
    let app = app(&gate, Scans::default())
        .layer(tollgate_axum::Decompression)
        .layer(
            tollgate_axum::Tollgate::new(Catalog::builtin())
                .body_limit(limit)
                .layer(),
        );
    // 10 KB of gzip that decodes to 10 MiB.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&vec![b' '; 10 << 20]).unwrap();
    let bomb = gzip.finish().unwrap();
    assert!(bomb.len() < limit, "{} bytes", bomb.len());
    let request = Request::post("/v1/scans")
        .header("authorization", format!("Bearer {}", key.secret()))
        .header("idempotency-key", "k1")
        .header("content-encoding", "gzip")
        .header("content-length", bomb.len())
        .body(Body::from(bomb))
        .unwrap();
    let res = app.oneshot(request).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["code"], "payload_too_large");
    assert_eq!(
        problem["limit"], limit,
        "the limit the client met is the layer's"
    );
    // Nothing was charged for it.
    assert_eq!(store.account("acme").await.unwrap().balance(), 10);
    db.cleanup().await;
}
