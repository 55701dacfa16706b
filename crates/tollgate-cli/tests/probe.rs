//! `tollgate probe` against live servers on 127.0.0.1: a deliberately sloppy
//! axum app, whose every fault must be named, and a conforming one built on
//! `tollgate-axum`, which must pass in every dialect.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::FromRequest;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tollgate::{Catalog, Dialect};
use tollgate_axum::{HandlerError, Tollgate};

const KEY: &str = "good-key";

/// A key the conforming app knows, of an account out of credits.
const BROKE_KEY: &str = "broke-key";

/// A key the conforming app knows, lacking the scope `items:write`.
const NARROW_KEY: &str = "narrow-key";

/// Serves `app` on 127.0.0.1 from a thread of its own, for the rest of the test process.
fn serve(app: Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

fn tollgate(args: &[&str]) -> Output {
    tollgate_with_env(args, &[])
}

fn tollgate_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = common::tollgate_command()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the tollgate binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "tollgate {args:?} panicked:\n{stderr}"
    );
    output
}

fn probe_json(args: &[&str]) -> (i32, Value) {
    probe_json_with_env(args, &[])
}

fn probe_json_with_env(args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut all = vec!["probe", "--json"];
    all.extend(args);
    let output = tollgate_with_env(&all, env);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "--json prints one JSON object ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().expect("exited normally"), report)
}

/// Every failed check as `check | request | reason`.
fn failures(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail")
        .map(|c| {
            format!(
                "{} | {} | {}",
                c["check"].as_str().unwrap(),
                c["request"].as_str().unwrap(),
                c["reason"].as_str().unwrap()
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// A sloppy app: what an axum service answers with no care for its errors.

#[derive(Clone, Default)]
struct Sloppy {
    lists: Arc<AtomicU32>,
    seen: Arc<Mutex<HashMap<String, Value>>>,
}

/// 401s in two shapes, neither with `WWW-Authenticate`.
async fn sloppy_auth(request: Request, next: Next) -> Response {
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match auth.as_deref() {
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "unauthorized"})),
        )
            .into_response(),
        Some(value) if value == format!("Bearer {KEY}") => next.run(request).await,
        Some(_) => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Invalid token", "code": "AUTH_FAILED"})),
        )
            .into_response(),
    }
}

/// A 429 after 20 calls, without `Retry-After`, in yet another shape.
async fn sloppy_list(app: Sloppy) -> Response {
    if app.lists.fetch_add(1, Ordering::SeqCst) >= 20 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"detail": "Too many requests"})),
        )
            .into_response();
    }
    axum::Json(json!([])).into_response()
}

/// axum's own plain-text rejections, and a 500 that tells all.
async fn sloppy_create(app: Sloppy, request: Request) -> Response {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match axum::Json::<Value>::from_request(request, &()).await {
        Ok(axum::Json(body)) => body,
        Err(rejection) => return rejection.into_response(),
    };
    if let Some(key) = key {
        let mut seen = app.seen.lock().unwrap();
        match seen.get(&key) {
            Some(first) if *first != body => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({
                        "error": "internal",
                        "message": "thread 'main' panicked at src/main.rs:10:5: \
                                    UNIQUE constraint failed: items.idempotency_key"
                    })),
                )
                    .into_response();
            }
            _ => {
                seen.insert(key, body);
            }
        }
    }
    (StatusCode::CREATED, axum::Json(json!({"id": 1}))).into_response()
}

/// One handler for every method (axum's own 405 would carry `Allow`): an
/// empty 405 without it.
async fn sloppy_items(State(app): State<Sloppy>, request: Request) -> Response {
    match *request.method() {
        Method::GET => sloppy_list(app).await,
        Method::POST => sloppy_create(app, request).await,
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

fn sloppy() -> Router {
    Router::new()
        .route("/v1/items", any(sloppy_items))
        .route_layer(middleware::from_fn(sloppy_auth))
        .with_state(Sloppy::default())
}

/// A report its reader left before it was written (`probe … | head`) still
/// exits 1 when checks failed; it is long enough to be written before the
/// end.
#[test]
fn failed_checks_exit_1_though_the_reader_left() {
    let base = format!("http://{}", serve(sloppy()));
    let args = [
        "probe",
        &base,
        "--key",
        KEY,
        "--route",
        "GET:/v1/items",
        "--json",
    ];
    let full = tollgate(&args);
    // More than the output buffer (8 KiB) holds.
    assert!(full.stdout.len() > 8 << 10, "{} bytes", full.stdout.len());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let cut = common::tollgate_command()
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        cut.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
}

#[test]
fn every_fault_of_a_sloppy_app_is_named() {
    let addr = serve(sloppy());
    let base = format!("http://{addr}");
    let (code, report) = probe_json(&[
        &base,
        "--key",
        KEY,
        "--route",
        "GET:/v1/items",
        "--route",
        "POST:/v1/items",
        "--max-requests",
        "50",
    ]);
    let failed = failures(&report);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["routes_from"], "flags");
    assert_eq!(report["failed"].as_u64(), Some(failed.len() as u64));

    // Each fault, on the request that provoked it.
    let named = |check: &str, request: &str, reason: &str| {
        assert!(
            failed.iter().any(|f| {
                let parts: Vec<&str> = f.splitn(3, " | ").collect();
                parts[0] == check && parts[1].starts_with(request) && parts[2].contains(reason)
            }),
            "no failed {check:?} on {request:?} mentioning {reason:?} in:\n{failed:#?}"
        );
    };
    named(
        "www-authenticate",
        "no key: GET /v1/items",
        "401 without WWW-Authenticate",
    );
    named(
        "www-authenticate",
        "invalid key: GET /v1/items",
        "401 without WWW-Authenticate",
    );
    named(
        "allow",
        "wrong method: PATCH /v1/items",
        "405 without Allow",
    );
    named(
        "retry-after",
        "burst: GET /v1/items",
        "429 without Retry-After",
    );
    named(
        "leaks",
        "idempotency, reused: POST /v1/items",
        "panicked at src/main.rs:10:5",
    );
    named(
        "idempotency",
        "idempotency, reused: POST /v1/items",
        "got 500",
    );
    // axum's plain-text rejections.
    named(
        "dialect",
        "malformed JSON: POST /v1/items",
        "a plain-text body",
    );
    named(
        "content-type",
        "malformed JSON: POST /v1/items",
        "text/plain",
    );
    named(
        "dialect",
        "wrong content type: POST /v1/items",
        "a plain-text body",
    );
    named(
        "dialect",
        "oversized body: POST /v1/items",
        "a plain-text body",
    );
    // Empty bodies.
    named(
        "dialect",
        "unknown route: GET /tollgate-probe-",
        "an empty body",
    );
    named("dialect", "wrong method: PATCH /v1/items", "an empty body");
    // Mixed JSON shapes and codes no catalog has.
    named("dialect", "no key: GET /v1/items", "no dialect (plain)");
    named(
        "dialect",
        "invalid key: GET /v1/items",
        "no dialect (message)",
    );
    named(
        "code",
        "no key: GET /v1/items",
        "\"unauthorized\" is not a code of the catalog",
    );
    named(
        "code",
        "invalid key: GET /v1/items",
        "\"AUTH_FAILED\" is not a code of the catalog",
    );
    named("code", "unknown route: GET", "no error code");
    // What none of its errors carry.
    for request in [
        "no key",
        "malformed JSON",
        "unknown route",
        "burst",
        "idempotency, reused",
    ] {
        named("x-error-code", request, "no X-Error-Code header");
        named("request-id", request, "no X-Request-Id header");
    }
    // The statuses themselves are right, and said so.
    let passed = |check: &str, request: &str| {
        report["checks"].as_array().unwrap().iter().any(|c| {
            c["check"] == check
                && c["request"].as_str().unwrap().starts_with(request)
                && c["result"] == "pass"
        })
    };
    for request in [
        "no key",
        "invalid key",
        "malformed JSON",
        "wrong content type",
        "unknown route",
        "wrong method",
        "oversized body",
    ] {
        assert!(passed("expected-status", request), "{request}: {report:#}");
    }
    assert!(passed("rate-limit", "burst: GET /v1/items"));
}

#[test]
fn the_table_names_faults_and_ends_failed() {
    let addr = serve(sloppy());
    let output = tollgate(&[
        "probe",
        &format!("http://{addr}"),
        "--route",
        "GET:/v1/items",
        "--route",
        "POST:/v1/items",
        "--max-requests",
        "0",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let table = String::from_utf8(output.stdout).unwrap();
    let header = table.lines().next().unwrap();
    for column in ["CHECK", "REQUEST", "STATUS", "RESULT", "REASON"] {
        assert!(header.contains(column), "{header}");
    }
    let allow = table
        .lines()
        .find(|l| l.starts_with("www-authenticate"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(allow.contains("no key: GET /v1/items"), "{allow}");
    assert!(allow.contains(" 401 "), "{allow}");
    assert!(allow.contains(" fail "), "{allow}");
    let last = table.lines().last().unwrap();
    assert!(last.starts_with("FAILED: "), "{last}");
    assert!(last.contains(&format!("http://{addr}/")), "{last}");
    // Without a key, idempotency cannot be checked; with --max-requests 0, no burst.
    assert!(table.contains("needs --key"), "{table}");
    assert!(table.contains("--max-requests 0"), "{table}");
    // Not a terminal: no progress bar on stderr.
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

// ---------------------------------------------------------------------------
// A conforming app: tollgate-axum, a key check and a rate limit that answer
// from the catalog, and an OpenAPI document the probe discovers routes from.

#[derive(Clone, Default)]
struct Conforming {
    lists: Arc<AtomicU32>,
    seen: Arc<Mutex<HashMap<String, Value>>>,
}

fn catalog_error(code: &str) -> tollgate::ApiError {
    Catalog::builtin_ref().error(code).unwrap()
}

async fn auth(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let presented = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    let err = match presented {
        Some(KEY) => return next.run(request).await,
        Some(BROKE_KEY) => catalog_error("insufficient_credits")
            .with("required", 1)
            .with("available", 0),
        Some(NARROW_KEY) => catalog_error("insufficient_scope").with("scope", "items:write"),
        _ => catalog_error("invalid_key").header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="api""#),
        ),
    };
    HandlerError::from(err).into_response()
}

async fn list(State(app): State<Conforming>) -> Result<axum::Json<Value>, HandlerError> {
    if app.lists.fetch_add(1, Ordering::SeqCst) >= 20 {
        let err = catalog_error("rate_limit_exceeded").retry_after(Duration::from_secs(30));
        return Err(err.into());
    }
    Ok(axum::Json(json!([])))
}

async fn create(
    State(app): State<Conforming>,
    headers: HeaderMap,
    tollgate_axum::Json(body): tollgate_axum::Json<Value>,
) -> Result<(StatusCode, axum::Json<Value>), HandlerError> {
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        let mut seen = app.seen.lock().unwrap();
        match seen.get(key) {
            Some(first) if *first != body => {
                return Err(catalog_error("idempotency_key_reused").into());
            }
            _ => {
                seen.insert(key.to_owned(), body);
            }
        }
    }
    Ok((StatusCode::CREATED, axum::Json(json!({"id": 1}))))
}

async fn openapi() -> axum::Json<Value> {
    let keyed = json!([{"bearerAuth": []}]);
    axum::Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "items", "version": "1"},
        "paths": {
            "/v1/items": {
                "get": {"security": keyed, "responses": {"200": {"description": "the items"}}},
                "post": {
                    "security": keyed,
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false}],
                    "requestBody": {"content": {"application/json": {"example": {"name": "probe"}}}},
                    "responses": {"201": {"description": "created"}}
                }
            }
        }
    }))
}

fn conforming(dialect: Dialect) -> Router {
    conforming_with(dialect, 64 * 1024, None)
}

/// A rate limit spent by an earlier client: every request that passes the
/// key check is refused (429, from the catalog) until `wait` after the
/// first one.
#[derive(Clone)]
struct Spent {
    wait: Duration,
    until: Arc<Mutex<Option<std::time::Instant>>>,
}

impl Spent {
    fn new(wait: Duration) -> Spent {
        Spent {
            wait,
            until: Arc::default(),
        }
    }

    async fn check(self, request: Request, next: Next) -> Response {
        let now = std::time::Instant::now();
        let until = *self.until.lock().unwrap().get_or_insert(now + self.wait);
        if now >= until {
            return next.run(request).await;
        }
        let left = (until - now).as_secs_f64().ceil() as u64;
        let err = catalog_error("rate_limit_exceeded").retry_after(Duration::from_secs(left));
        HandlerError::from(err).into_response()
    }
}

/// The conforming app with this body limit and, when given, a rate limit
/// spent already.
fn conforming_with(dialect: Dialect, body_limit: usize, spent: Option<Spent>) -> Router {
    let mut keyed = Router::new().route("/v1/items", get(list).post(create));
    if let Some(spent) = spent {
        keyed = keyed.route_layer(middleware::from_fn(move |request, next| {
            spent.clone().check(request, next)
        }));
    }
    let keyed = keyed.route_layer(middleware::from_fn(auth));
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(keyed)
        .with_state(Conforming::default())
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(dialect)
                .body_limit(body_limit)
                .layer(),
        )
}

/// Skips say why: routes are known, but none needs a key, and the one
/// path has every method the probe would send.
#[test]
fn skips_say_why_when_routes_are_known() {
    let every = ["get", "post", "put", "patch", "delete"].map(|method| {
        (
            method,
            json!({"security": [], "responses": {"200": {"description": "ok"}}}),
        )
    });
    let document = json!({
        "openapi": "3.1.0",
        "info": {"title": "public", "version": "1"},
        "paths": {"/v1/public": serde_json::Map::from_iter(
            every.map(|(method, op)| (method.to_owned(), op))
        )}
    });
    let ok = || async { "ok" };
    let app = Router::new()
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(document) }),
        )
        .route("/v1/public", get(ok).post(ok).put(ok).patch(ok).delete(ok))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let base = format!("http://{}", serve(app));
    let (_, report) = probe_json(&[base.as_str(), "--max-requests", "20"]);
    let reason = |request: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["request"] == request)
            .map(|c| c["reason"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert!(
        reason("no key").contains("every route known is public"),
        "{report:#}"
    );
    assert!(
        reason("wrong method").contains("has every method"),
        "{report:#}"
    );
}

#[test]
fn the_key_can_come_from_the_environment() {
    let base = format!("http://{}", serve(conforming(Dialect::Problem)));
    let args = [base.as_str(), "--max-requests", "50"];
    let (code, report) = probe_json_with_env(&args, &[("TOLLGATE_API_KEY", KEY)]);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["skipped"].as_u64(), Some(0), "{report:#}");
    // Without it, the checks that need a key are skipped.
    let (_, report) = probe_json(&args);
    assert!(report["skipped"].as_u64() > Some(0), "{report:#}");
    // An empty one (an unset CI secret) is no key, and said to be empty.
    let empty = tollgate(&[
        "probe",
        &base,
        "--key",
        " ",
        "--max-requests",
        "0",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&empty.stderr);
    assert!(
        stderr.starts_with("warning: --key (or TOLLGATE_API_KEY) is empty"),
        "{stderr}"
    );
    // One that cannot be a header value is refused, naming where it came from.
    let bad = tollgate_with_env(&["probe", &base], &[("TOLLGATE_API_KEY", "tg\u{7f}key")]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TOLLGATE_API_KEY"), "{stderr}");
}

/// A key pasted with spaces or the line's end around it, by flag or by
/// variable, is sent without them.
#[test]
fn spaces_and_line_ends_around_the_key_are_not_sent() {
    let base = format!("http://{}", serve(conforming(Dialect::Problem)));
    let args = [base.as_str(), "--max-requests", "0"];
    let padded = format!(" {KEY} ");
    let mut by_flag = args.to_vec();
    by_flag.extend(["--key", &padded]);
    let (code, report) = probe_json(&by_flag);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = probe_json_with_env(&args, &[("TOLLGATE_API_KEY", &format!("{KEY}\n"))]);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    // Nothing but spaces is no key, as an empty variable is.
    let (code, report) = probe_json_with_env(&args, &[("TOLLGATE_API_KEY", " \n")]);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn a_conforming_app_passes_in_every_dialect() {
    for (i, dialect) in Dialect::ALL.into_iter().enumerate() {
        let addr = serve(conforming(dialect));
        // Every other run sends the key in its own header.
        let key_header = if i % 2 == 0 {
            "Authorization"
        } else {
            "X-API-Key"
        };
        let (code, report) = probe_json(&[
            &format!("http://{addr}"),
            "--key",
            KEY,
            "--key-header",
            key_header,
            "--dialect",
            dialect.name(),
            "--max-requests",
            "50",
        ]);
        assert_eq!(failures(&report), Vec::<String>::new(), "{dialect}");
        assert_eq!(code, 0, "{dialect}: {report:#}");
        assert_eq!(report["dialect"], dialect.name());
        assert_eq!(report["routes_from"], "openapi");
        assert_eq!(report["routes"], json!(["GET /v1/items", "POST /v1/items"]));
        assert_eq!(report["skipped"].as_u64(), Some(0), "{dialect}: {report:#}");
        let checks: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["check"].as_str().unwrap())
            .collect();
        for check in [
            "www-authenticate",
            "allow",
            "retry-after",
            "idempotency",
            "rate-limit",
            "leaks",
            "request-id",
            "catalog-status",
        ] {
            assert!(checks.contains(&check), "{dialect}: no {check} check");
        }
    }
}

#[test]
fn without_a_key_the_keyed_probes_still_pass() {
    let addr = serve(conforming(Dialect::Coded));
    // An empty variable (`TOLLGATE_API_KEY= tollgate probe …`) is no key.
    let (code, empty) = probe_json_with_env(
        &[&format!("http://{addr}"), "--max-requests", "0"],
        &[("TOLLGATE_API_KEY", "")],
    );
    assert_eq!(failures(&empty), Vec::<String>::new());
    assert_eq!(code, 0, "{empty:#}");
    let (code, report) = probe_json(&[&format!("http://{addr}"), "--max-requests", "0"]);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    // Every keyed request was refused for its key, as it should be.
    let statuses: Vec<u64> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "expected-status")
        .map(|c| c["status"].as_u64().unwrap())
        .collect();
    assert!(statuses.contains(&401), "{statuses:?}");
}

/// Without a key, a keyed route refuses before it reads the body: its 401
/// says nothing of the body checks, which are skipped, not passed.
#[test]
fn without_a_key_a_refusal_for_the_key_is_a_skip_of_what_it_hides() {
    let addr = serve(conforming(Dialect::Problem));
    let (code, report) = probe_json(&[&format!("http://{addr}"), "--max-requests", "0"]);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    for request in [
        "malformed JSON: POST /v1/items",
        "wrong content type: POST /v1/items",
        "oversized body: POST /v1/items",
    ] {
        let status = check(&report, "expected-status", request);
        assert_eq!(status["status"], 401, "{status}");
        assert_eq!(status["result"], "skip", "{status}");
        assert_eq!(
            status["reason"], "refused for the missing key (401); pass --key to check this",
            "{status}"
        );
        // The 401 itself is held to the rules like any error.
        assert_eq!(
            check(&report, "www-authenticate", request)["result"],
            "pass"
        );
    }
    // The request meant to be refused for its key passes.
    let no_key = check(&report, "expected-status", "no key: GET /v1/items");
    assert_eq!(no_key["result"], "pass", "{no_key}");
}

#[test]
fn the_oversized_body_stops_once_the_server_answers() {
    let addr = serve(conforming(Dialect::Problem));
    let started = std::time::Instant::now();
    // Paced at 64 KiB per millisecond at most, 1 GiB takes 16 s or more to send.
    let (code, report) = probe_json(&[
        &format!("http://{addr}"),
        "--key",
        KEY,
        "--max-body-mib",
        "1024",
        "--max-requests",
        "0",
    ]);
    let elapsed = started.elapsed();
    assert_eq!(code, 0, "{report:#}");
    let oversized = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["check"] == "expected-status" && c["request"] == "oversized body: POST /v1/items"
        })
        .unwrap();
    assert_eq!(oversized["status"], 413);
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

#[test]
fn a_burst_keeps_a_few_answers_of_other_error_statuses() {
    // Every request of the burst answered with a status of its own.
    let next = Arc::new(AtomicU32::new(0));
    let app = Router::new().route(
        "/v1/items",
        get(move || {
            let n = next.fetch_add(1, Ordering::SeqCst);
            async move { (StatusCode::from_u16(430 + (n % 60) as u16).unwrap(), "no") }
        }),
    );
    let addr = serve(app);
    let (_, report) = probe_json(&[
        &format!("http://{addr}"),
        "--route",
        "GET:/v1/items",
        "--max-requests",
        "40",
    ]);
    let statuses: std::collections::HashSet<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["request"] == "burst: GET /v1/items")
        .filter_map(|c| c["status"].as_u64())
        .collect();
    assert_eq!(statuses.len(), 8, "{statuses:?}");
    // The verdict says what came instead of a 429, the most frequent first.
    let verdict = check(&report, "rate-limit", "burst: GET /v1/items");
    let reason = verdict["reason"].as_str().unwrap();
    let (_, answered) = reason.split_once(" (answered ").unwrap();
    assert_eq!(answered.matches(" ×1, ").count(), 4, "{reason}");
    assert!(answered.ends_with(", … instead)"), "{reason}");
}

#[test]
fn a_dialect_other_than_the_one_required_fails() {
    let addr = serve(conforming(Dialect::Problem));
    let (code, report) = probe_json(&[
        &format!("http://{addr}"),
        "--key",
        KEY,
        "--dialect",
        "envelope",
        "--max-requests",
        "0",
    ]);
    assert_eq!(code, 1);
    let failed = failures(&report);
    assert!(!failed.is_empty());
    for f in &failed {
        assert!(
            f.starts_with("dialect | ") && f.ends_with("problem, expected envelope (--dialect)"),
            "{f}"
        );
    }
}

#[test]
fn an_unreachable_api_exits_2_with_a_clear_message() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = tollgate(&["probe", &format!("http://{addr}"), "--json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("error: cannot reach http://{addr}/: ")),
        "{stderr}"
    );
    assert!(stderr.contains("is the server running"), "{stderr}");
    // reqwest's reason does not repeat the URL, which could be long.
    assert!(!stderr.contains("for url"), "{stderr}");
    let long = format!("http://{addr}/{}", "p".repeat(5000));
    let output = tollgate(&["probe", &long]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.len() < 1000, "{stderr}");
    assert!(stderr.contains("is the server running"), "{stderr}");

    for bad in ["ftp://127.0.0.1", "127.0.0.1:8080", "http://127.0.0.1/?q=1"] {
        let output = tollgate(&["probe", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
    }
    let output = tollgate(&["probe", "http://127.0.0.1:1", "--route", "/v1/items"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected METHOD:PATH"));
}

#[test]
fn a_password_in_the_base_url_is_never_shown() {
    let addr = serve(sloppy());
    // Nor the user name: reqwest sends both as basic auth, and a key given
    // as the user name (as Stripe takes it) is the credential.
    let base = format!("http://sk_live_1:hunter2@{addr}");
    let shown = format!("http://{addr}/");
    let args = ["--route", "GET:/v1/items", "--max-requests", "0"];

    let (code, report) = probe_json(&[&[base.as_str()][..], &args].concat());
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["base_url"], shown.as_str());
    assert!(!report.to_string().contains("hunter2"), "{report:#}");
    assert!(!report.to_string().contains("sk_live"), "{report:#}");

    let output = tollgate(&[&["probe", base.as_str()][..], &args].concat());
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.lines().last().unwrap().contains(&shown), "{table}");
    assert!(!table.contains("hunter2"), "{table}");

    // Nothing listens on port 1.
    let output = tollgate(&["probe", "http://probe:hunter2@127.0.0.1:1"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot reach http://127.0.0.1:1/: "),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // A base URL refused by its parser is shown redacted too, its user
    // name with its password: either may be the key.
    for bad in [
        "http://probe:hunter2@127.0.0.1/?q=1",
        "ftp://probe:hunter2@127.0.0.1",
        "http://hunter2@127.0.0.1:99999/",
    ] {
        let output = tollgate(&["probe", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: invalid value '") && stderr.contains("://***@127.0.0.1"),
            "{stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[test]
fn redirects_are_answers_and_never_carry_the_key_elsewhere() {
    // Another host, which records every key presented to it.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let elsewhere = serve(Router::new().fallback(move |headers: HeaderMap| {
        let record = record.clone();
        async move {
            if let Some(key) = headers.get("x-api-key") {
                record
                    .lock()
                    .unwrap()
                    .push(key.to_str().unwrap_or("").to_owned());
            }
            "{}"
        }
    }));
    // An API that sends every request there.
    let api = serve(Router::new().fallback(move |request: Request| async move {
        let to = format!("http://{elsewhere}{}", request.uri());
        (StatusCode::FOUND, [(header::LOCATION, to)])
    }));
    let base = format!("http://{api}");
    let output = tollgate(&[
        "probe",
        &base,
        "--key",
        KEY,
        "--key-header",
        "x-api-key",
        "--json",
    ]);
    assert!(
        seen.lock().unwrap().is_empty(),
        "the key went to another host {} times\n{}",
        seen.lock().unwrap().len(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(
        output.status.code(),
        Some(0),
        "a 302 is no conforming error"
    );
}

#[test]
fn a_document_that_never_comes_is_reported_and_the_given_routes_still_probed() {
    // /openapi.json hangs; everything else answers at once.
    let app = Router::new()
        .route(
            "/openapi.json",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "{}"
            }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND });
    let base = format!("http://{}", serve(app));
    let (code, report) = probe_json(&[
        &base,
        "--timeout",
        "1",
        "--max-requests",
        "0",
        "--route",
        "GET:/v1/items",
    ]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["routes_from"], "flags", "{report}");
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["request"].as_str().unwrap_or("").contains("/v1/items")),
        "{report}"
    );
}

/// What the probe says of the routes it found, serving `document` as
/// `/openapi.json`.
fn routes_reason(document: axum::routing::MethodRouter) -> String {
    let app = Router::new()
        .route("/openapi.json", document)
        .fallback(|| async { StatusCode::NOT_FOUND });
    let base = format!("http://{}", serve(app));
    let (_, report) = probe_json(&[&base, "--max-requests", "0"]);
    let routes = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "routes")
        .unwrap_or_else(|| panic!("{report}"));
    routes["reason"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_document_that_is_not_openapi_is_named_as_such() {
    let reason = routes_reason(get(|| async { "not json at all" }));
    assert!(
        reason.contains("/openapi.json answered 200, but it is not a JSON object"),
        "{reason}"
    );
}

/// Probe asks for bodies in no coding: a server that compresses unless
/// told `identity` sends it the document plain.
#[test]
fn bodies_are_asked_for_in_no_coding() {
    let reason = routes_reason(get(|headers: axum::http::HeaderMap| async move {
        match headers.get("accept-encoding").map(|v| v.as_bytes()) {
            Some(b"identity") => r#"{"openapi":"3.1.0","paths":{"/v1/x":{"get":{}}}}"#,
            _ => "\u{1f}\u{8b} gzip bytes",
        }
    }));
    assert!(reason.contains("1 route"), "{reason}");
}

#[test]
fn a_document_too_large_to_read_is_named_as_such() {
    // 17 MiB of valid JSON: past what the probe reads of a document.
    let reason = routes_reason(get(|| async {
        let mut doc = String::from(r#"{"paths":{},"x":""#);
        doc.push_str(&"x".repeat(17 << 20));
        doc.push_str("\"}");
        ([(header::CONTENT_TYPE, "application/json")], doc)
    }));
    assert!(
        reason.contains("answered 200, but the document fills the 16 MiB read"),
        "{reason}"
    );
}

#[test]
fn a_document_that_ends_at_the_bound_is_read_whole() {
    // Exactly 16 MiB of valid JSON: all of it is read, and it ends there.
    let reason = routes_reason(get(|| async {
        let mut doc = String::from(r#"{"paths":{},"x":""#);
        doc.push_str(&"x".repeat((16 << 20) - doc.len() - 2));
        doc.push_str("\"}");
        assert_eq!(doc.len(), 16 << 20);
        ([(header::CONTENT_TYPE, "application/json")], doc)
    }));
    assert!(reason.contains("it lists no route"), "{reason}");
    assert!(!reason.contains("fills"), "{reason}");
}

/// Every check's reason when every request is answered 404 with `len`
/// bytes of plain text.
fn reasons_for_a_plain_text_404_of(len: usize) -> Vec<String> {
    let app =
        Router::new().fallback(move || async move { (StatusCode::NOT_FOUND, "x".repeat(len)) });
    let base = format!("http://{}", serve(app));
    let (_, report) = probe_json(&[&base, "--max-requests", "0"]);
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_body_that_ends_at_the_bound_is_not_said_to_go_on() {
    let says_more = |reasons: &[String]| reasons.iter().any(|r| r.contains("fills the 1 MiB read"));
    let whole = reasons_for_a_plain_text_404_of(1 << 20);
    assert!(!says_more(&whole), "{whole:#?}");
    assert!(
        whole.iter().any(|r| r.contains("plain-text body")),
        "{whole:#?}"
    );
    let longer = reasons_for_a_plain_text_404_of((1 << 20) + 1);
    assert!(says_more(&longer), "{longer:#?}");
}

#[test]
fn a_body_that_stalls_at_the_bound_is_not_waited_for() {
    // Every answer: 1 MiB of a 2 MiB body, then nothing, the connection open.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut open = Vec::new();
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let mut request = [0; 4096];
            let _ = socket.read(&mut request);
            let head = "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\
                        content-length: 2097152\r\n\r\n";
            let _ = socket.write_all(head.as_bytes());
            let _ = socket.write_all("x".repeat(1 << 20).as_bytes());
            open.push(socket);
        }
    });
    let (_, report) = probe_json(&[&base, "--timeout", "3", "--max-requests", "0"]);
    let unknown = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["check"] == "dialect"
                && c["request"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("unknown route"))
        })
        .unwrap_or_else(|| panic!("{report:#}"));
    // Read up to the bound and no further: not cut off by the timeout.
    let reason = unknown["reason"].as_str().unwrap();
    assert!(reason.contains("fills the 1 MiB read"), "{reason}");
}

#[test]
fn an_invalid_key_accepted_where_no_key_is_refused_fails() {
    // Any Authorization at all lets the request through; all else conforms.
    let app = Router::new()
        .route(
            "/v1/items",
            get(|headers: HeaderMap| async move {
                if headers.contains_key(header::AUTHORIZATION) {
                    return axum::Json(json!([])).into_response();
                }
                HandlerError::from(
                    catalog_error("invalid_key")
                        .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
                )
                .into_response()
            }),
        )
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let base = format!("http://{}", serve(app));
    let (code, report) = probe_json(&[&base, "--route", "GET:/v1/items", "--max-requests", "0"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(failures(&report).len(), 1, "{report:#}");
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "expected-status" && c["request"] == "invalid key: GET /v1/items")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(check["result"], "fail", "{check}");
    assert_eq!(check["status"], 200);
    assert_eq!(
        check["reason"],
        "an invalid key was accepted, though no key got 401; answered 200, expected 401"
    );
}

/// An API that refuses a payload it has seen (the example, sent by an
/// earlier run) with 409: the idempotency check is skipped at its first
/// request, saying so, and its second is not sent.
#[test]
fn a_first_idempotent_request_refused_as_a_duplicate_is_a_skip_saying_so() {
    async fn duplicate(headers: HeaderMap) -> Result<StatusCode, HandlerError> {
        match headers.contains_key("idempotency-key") {
            true => Err(catalog_error("conflict").into()),
            false => Ok(StatusCode::CREATED),
        }
    }
    let keyed = Router::new()
        .route("/v1/items", get(list).post(duplicate))
        .route_layer(middleware::from_fn(auth));
    let app = Router::new()
        .route("/openapi.json", get(openapi))
        .merge(keyed)
        .with_state(Conforming::default())
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let base = format!("http://{}", serve(app));
    let (_, report) = probe_json(&[&base, "--key", KEY, "--max-requests", "5"]);
    let first = check(&report, "idempotency", "idempotency, first: POST /v1/items");
    assert_eq!(
        (&first["result"], &first["status"]),
        (&json!("skip"), &json!(409))
    );
    let reason = first["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("the first request was refused with 409 (a conflict: an API that"),
        "{reason}"
    );
    assert!(
        !report.to_string().contains("idempotency, reused"),
        "{report:#}"
    );
}

/// Every check named `request` (`malformed JSON: POST /v1/items`) of `check`.
fn check<'r>(report: &'r Value, check: &str, request: &str) -> &'r Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check && c["request"] == request)
        .unwrap_or_else(|| panic!("no {check} check of {request:?} in {report:#}"))
}

#[test]
fn a_429_to_a_check_that_does_not_test_the_rate_limit_is_a_skip_naming_the_wait() {
    let app = conforming_with(
        Dialect::Problem,
        64 * 1024,
        Some(Spent::new(Duration::from_secs(60))),
    );
    let base = format!("http://{}", serve(app));
    let (code, report) = probe_json(&[&base, "--key", KEY, "--max-requests", "5"]);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    let said = "rate-limited: Retry-After asks for 1m; probe again after that (waits of up to 5s \
                are waited out)";
    for request in [
        "malformed JSON: POST /v1/items",
        "wrong content type: POST /v1/items",
        "oversized body: POST /v1/items",
    ] {
        let status = check(&report, "expected-status", request);
        assert_eq!(status["status"], 429, "{status}");
        assert_eq!(status["result"], "skip", "{status}");
        assert_eq!(status["reason"], said, "{status}");
        // The 429 itself is held to the rules like any error.
        assert_eq!(check(&report, "retry-after", request)["result"], "pass");
    }
    // The idempotency check is skipped for the same reason, and its second
    // request is not sent.
    let idempotency = check(&report, "idempotency", "idempotency, first: POST /v1/items");
    assert_eq!(idempotency["result"], "skip", "{idempotency}");
    assert_eq!(idempotency["reason"], said, "{idempotency}");
    assert!(
        !report.to_string().contains("idempotency, reused"),
        "{report:#}"
    );
    // The burst tests the rate limit: its 429 passes.
    let burst = check(&report, "rate-limit", "burst: GET /v1/items");
    assert_eq!(burst["result"], "pass");
    assert_eq!(burst["reason"], "429 after 1 request", "{burst}");
}

#[test]
fn a_short_retry_after_is_waited_out_and_the_request_sent_again() {
    let app = conforming_with(
        Dialect::Problem,
        64 * 1024,
        Some(Spent::new(Duration::from_secs(1))),
    );
    let base = format!("http://{}", serve(app));
    let started = std::time::Instant::now();
    let (code, report) = probe_json(&[&base, "--key", KEY, "--max-requests", "0"]);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    // The first request past the key check got the 429, and its retry the answer.
    let malformed = check(&report, "expected-status", "malformed JSON: POST /v1/items");
    assert_eq!(malformed["result"], "pass", "{malformed}");
    assert_eq!(
        malformed["reason"],
        format!(
            "{}, as expected (after a 429 and the 1s it asked for)",
            malformed["status"]
        )
    );
    assert_eq!(
        report["skipped"].as_u64(),
        Some(1),
        "only the burst: {report:#}"
    );
    // openapi, no key, invalid key, malformed JSON twice, wrong content
    // type, oversized body, unknown route, wrong method, idempotency twice.
    assert_eq!(report["requests"], 11, "{report:#}");
}

#[test]
fn no_413_within_max_body_mib_is_a_skip() {
    // A limit of 4 MiB, above the 1 MiB sent: the body is accepted.
    let app = conforming_with(Dialect::Problem, 4 << 20, None);
    let base = format!("http://{}", serve(app));
    let (code, report) = probe_json(&[
        &base,
        "--key",
        KEY,
        "--max-body-mib",
        "1",
        "--max-requests",
        "0",
    ]);
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    let oversized = check(&report, "expected-status", "oversized body: POST /v1/items");
    assert_eq!(oversized["status"], 201, "{oversized}");
    assert_eq!(oversized["result"], "skip", "{oversized}");
    assert_eq!(
        oversized["reason"],
        "no 413 within 1 MiB; raise --max-body-mib to find the API's limit"
    );
}

/// Every request's `METHOD PATH` and `Authorization` fields, in order.
type Seen = Arc<Mutex<Vec<(String, Vec<String>)>>>;

#[test]
fn user_info_in_the_base_url_is_the_key_and_only_where_a_key_belongs() {
    // A key is accepted as basic auth (`sk_live_1:`, as Stripe takes it) only.
    let seen = Seen::default();
    let record = seen.clone();
    let app = Router::new()
        .fallback(move |request: Request| {
            let record = record.clone();
            async move {
                let fields: Vec<String> = request
                    .headers()
                    .get_all(header::AUTHORIZATION)
                    .iter()
                    .map(|v| v.to_str().unwrap_or("?").to_owned())
                    .collect();
                let accepted = fields == ["Basic c2tfbGl2ZV8xOg=="];
                let route = format!("{} {}", request.method(), request.uri().path());
                record.lock().unwrap().push((route.clone(), fields));
                match route.as_str() {
                    "GET /v1/items" if accepted => axum::Json(json!([])).into_response(),
                    "GET /v1/items" => HandlerError::from(
                        catalog_error("invalid_key")
                            .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic")),
                    )
                    .into_response(),
                    _ if request.uri().path() == "/v1/items" => HandlerError::from(
                        catalog_error("method_not_allowed")
                            .header(header::ALLOW, HeaderValue::from_static("GET")),
                    )
                    .into_response(),
                    _ => HandlerError::from(catalog_error("not_found")).into_response(),
                }
            }
        })
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let addr = serve(app);
    let base = format!("http://sk_live_1@{addr}");
    let args = ["--route", "GET:/v1/items", "--max-requests", "0"];
    let (code, report) = probe_json(&[&[base.as_str()][..], &args].concat());
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report:#}");
    assert!(!report.to_string().contains("sk_live"), "{report:#}");
    for request in ["no key: GET /v1/items", "invalid key: GET /v1/items"] {
        let status = check(&report, "expected-status", request);
        assert_eq!(
            (&status["status"], &status["result"]),
            (&json!(401), &json!("pass"))
        );
    }
    let sent = std::mem::take(&mut *seen.lock().unwrap());
    let to_items: Vec<&Vec<String>> = sent
        .iter()
        .filter(|(route, _)| route == "GET /v1/items")
        .map(|(_, fields)| fields)
        .collect();
    // No key at all, then one invalid key in the same form; every other
    // request carries the key, once.
    assert_eq!(to_items.len(), 2, "{sent:?}");
    assert!(to_items[0].is_empty(), "{sent:?}");
    assert_eq!(to_items[1].len(), 1, "{sent:?}");
    assert!(to_items[1][0].starts_with("Basic "), "{sent:?}");
    assert_ne!(to_items[1][0], "Basic c2tfbGl2ZV8xOg==", "{sent:?}");
    for (route, fields) in sent.iter().filter(|(route, _)| route != "GET /v1/items") {
        assert_eq!(fields, &["Basic c2tfbGl2ZV8xOg=="], "{route}: {sent:?}");
    }

    // With --key, the key goes where --key-header says, and the user info
    // nowhere: it is said on stderr.
    let output = tollgate(&[&["probe", base.as_str(), "--key", KEY][..], &args].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the user name and password in BASE_URL are not sent"),
        "{stderr}"
    );
    let sent = std::mem::take(&mut *seen.lock().unwrap());
    assert!(!sent.is_empty());
    for (route, fields) in &sent {
        assert!(
            fields.iter().all(|f| f.starts_with("Bearer ")),
            "{route}: {sent:?}"
        );
    }
}

/// What the probe says of the routes it found, serving `document` as
/// `/openapi.json` and passing `args`: its `routes` check, and its check
/// of `request`.
fn routes_and(
    document: axum::routing::MethodRouter,
    args: &[&str],
    request: &str,
) -> (String, String) {
    let app = Router::new()
        .route("/openapi.json", document)
        .fallback(|| async { StatusCode::NOT_FOUND });
    let base = format!("http://{}", serve(app));
    let (_, report) = probe_json(&[&[base.as_str(), "--max-requests", "0"][..], args].concat());
    let reason = |check: &str, request: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check && c["request"] == request)
            .and_then(|c| c["reason"].as_str())
            .unwrap_or_else(|| panic!("no {check} check of {request} in {report:#}"))
            .to_owned()
    };
    (
        reason("routes", "GET /openapi.json"),
        reason("probe", request),
    )
}

#[test]
fn a_document_without_routes_is_named_as_such() {
    let (routes, no_key) = routes_and(
        get(|| async { axum::Json(json!({"openapi": "3.1.0", "paths": {}})) }),
        &[],
        "no key",
    );
    assert_eq!(
        routes,
        "/openapi.json answered 200, but it lists no route (no get, post, put, patch or delete \
         operation under `paths`); pass --route METHOD:PATH; only the unknown-route and burst \
         probes run"
    );
    assert_eq!(
        no_key,
        "no route known: /openapi.json gave none (the routes check says why); pass --route \
         METHOD:PATH"
    );
}

#[test]
fn a_document_of_no_use_is_named_though_routes_are_given() {
    let (routes, _) = routes_and(
        get(|| async { "not json at all" }),
        &["--route", "GET:/v1/items"],
        "idempotency",
    );
    assert!(
        routes.starts_with(
            "1 route (flags); /openapi.json answered 200, but it is not a JSON object ("
        ),
        "{routes}"
    );
}

#[test]
fn a_burst_stops_at_an_answer_whose_body_never_ends() {
    // Every answer: a head, two bytes of a hundred, then nothing, for longer
    // than the probe waits.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut head = [0; 4096];
                let _ = stream.read(&mut head);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                      content-length: 100\r\n\r\n[]",
                );
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    let base = format!("http://{addr}");
    let started = std::time::Instant::now();
    let (code, report) = probe_json(&[&base, "--timeout", "1", "--max-requests", "40"]);
    // Each request takes the whole --timeout: 40 of them would take 40 s.
    assert!(started.elapsed() < Duration::from_secs(20), "{report:#}");
    assert_eq!(code, 1, "{report:#}");
    let burst = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "rate-limit")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(burst["result"], "fail", "{burst}");
    assert!(
        burst["reason"]
            .as_str()
            .unwrap()
            .starts_with("the burst stopped after 1 request: the body "),
        "{burst}"
    );
    // The document, the unknown route and one request of the burst.
    assert_eq!(report["requests"], 3, "{report:#}");
}

/// An API that redirects every request (plain HTTP to HTTPS, say) is told
/// so, with where it redirects: not that it serves no `/openapi.json`, nor
/// that its 301 accepted the request.
#[test]
fn a_redirect_is_named_with_where_it_goes() {
    let app = Router::new().fallback(|request: Request| async move {
        let to = format!("https://api.example.com{}", request.uri());
        (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, to)])
    });
    let base = format!("http://{}", serve(app));
    let (code, report) = probe_json(&[&base, "--max-requests", "0"]);
    assert_eq!(code, 1, "{report:#}");
    let checks = report["checks"].as_array().unwrap();
    let reason = |check: &str| {
        checks
            .iter()
            .find(|c| c["check"] == check)
            .and_then(|c| c["reason"].as_str())
            .unwrap_or_else(|| panic!("no {check} check in {report:#}"))
            .to_owned()
    };
    let routes = reason("routes");
    assert!(
        routes.starts_with(
            "/openapi.json was redirected (301) to https://api.example.com/openapi.json"
        ),
        "{routes}"
    );
    let unknown = reason("expected-status");
    assert!(
        unknown.starts_with("redirected (301) to https://api.example.com/tollgate-probe-"),
        "{unknown}"
    );
    assert!(unknown.ends_with("; expected 404"), "{unknown}");
}

/// An API whose TLS cannot be set up is told what to check: that it speaks
/// TLS there at all, or that its certificate's authority is trusted; not
/// whether it runs.
#[cfg(feature = "rustls")]
#[test]
fn a_tls_failure_says_what_to_check() {
    // Plain HTTP where TLS was asked for.
    let addr = serve(sloppy());
    let output = tollgate(&["probe", &format!("https://{addr}")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("http:// for plain HTTP"), "{stderr}");
    assert!(!stderr.contains("is the server running"), "{stderr}");

    // A certificate signed by no authority this machine trusts (openssl
    // makes it, and serves TLS; skipped without it).
    let dir = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args([
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            "/CN=probe",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !made.is_ok_and(|status| status.success()) {
        eprintln!("skipping: no openssl to make a certificate");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
        .args(["-cert", "cert.pem", "-key", "key.pem"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "openssl s_server");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = tollgate(&["probe", &format!("https://127.0.0.1:{port}")]);
    let _ = server.kill();
    let _ = server.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(stderr.contains("SSL_CERT_FILE=ca.pem"), "{stderr}");
    assert!(!stderr.contains("is the server running"), "{stderr}");
}

/// A key the API refuses is said to be refused, once; the checks its 401
/// hides are skipped, not failed as if the API got them wrong, and neither
/// the idempotency pair's second request nor the burst is sent with it.
#[test]
fn a_refused_key_is_named_once_and_what_it_hides_is_not_judged() {
    let base = format!("http://{}", serve(conforming(Dialect::Problem)));
    let (code, report) = probe_json(&[&base, "--key", "tg_live_revoked", "--max-requests", "20"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        failures(&report),
        [
            "key | malformed JSON: POST /v1/items | the key was refused (401 invalid_key): pass \
          a valid --key (or TOLLGATE_API_KEY)"
        ],
        "{report:#}"
    );
    let said = "the key was refused (401); pass a valid --key to check this";
    for request in [
        "malformed JSON: POST /v1/items",
        "wrong content type: POST /v1/items",
        "oversized body: POST /v1/items",
    ] {
        let status = check(&report, "expected-status", request);
        assert_eq!(status["status"], 401, "{status}");
        assert_eq!(status["result"], "skip", "{status}");
        assert_eq!(status["reason"], said, "{status}");
        // The 401 itself is held to the rules like any error.
        assert_eq!(
            check(&report, "www-authenticate", request)["result"],
            "pass"
        );
    }
    let idempotency = check(&report, "idempotency", "idempotency, first: POST /v1/items");
    assert_eq!(idempotency["result"], "skip", "{idempotency}");
    assert_eq!(idempotency["reason"], said, "{idempotency}");
    assert!(
        !report.to_string().contains("idempotency, reused"),
        "{report:#}"
    );
    let burst = check(&report, "probe", "burst");
    assert_eq!(burst["result"], "skip", "{burst}");
    assert_eq!(
        burst["reason"],
        "not sent: the key was refused (401), and its limit cannot be reached with it; pass a \
         valid --key"
    );
    // openapi, no key, invalid key, malformed JSON, wrong content type,
    // oversized body, unknown route, wrong method, idempotency once.
    assert_eq!(report["requests"], 9, "{report:#}");
    // The table says it first, before the checks it explains.
    let table = tollgate(&[
        "probe",
        &base,
        "--key",
        "tg_live_revoked",
        "--max-requests",
        "0",
    ]);
    let table = String::from_utf8_lossy(&table.stdout);
    let first_check = table.lines().nth(2).unwrap_or_default();
    assert!(
        first_check.starts_with("key ") && first_check.contains("the key was refused"),
        "{table}"
    );
}

/// A key the API knows but will not serve (its account out of credits, a
/// scope it lacks) is named once, as a refused key is: the checks its 402
/// or 403 hides are skipped, and neither the idempotency pair's second
/// request nor the burst is sent with it.
#[test]
fn a_key_that_cannot_be_used_is_named_once_and_what_it_hides_is_not_judged() {
    let base = format!("http://{}", serve(conforming(Dialect::Problem)));
    for (key, status, named, skipped, burst) in [
        (
            BROKE_KEY,
            402,
            "the key's account is out of credits (402 insufficient_credits): pass the --key of an \
             account with credits (or TOLLGATE_API_KEY)",
            "the key's account is out of credits (402); pass the --key of an account with credits \
             to check this",
            "not sent: the key's account is out of credits (402), and its limit cannot be reached \
             with it; pass the --key of an account with credits",
        ),
        (
            NARROW_KEY,
            403,
            "the key lacks the scope items:write (403 insufficient_scope): pass a --key with that \
             scope (or TOLLGATE_API_KEY)",
            "the key lacks the scope items:write (403); pass a --key with that scope to check this",
            "not sent: the key lacks the scope items:write (403), and its limit cannot be reached \
             with it; pass a --key with that scope",
        ),
    ] {
        let (code, report) = probe_json(&[&base, "--key", key, "--max-requests", "20"]);
        assert_eq!(code, 1, "{report:#}");
        assert_eq!(
            failures(&report),
            [format!("key | malformed JSON: POST /v1/items | {named}")],
            "{report:#}"
        );
        for request in [
            "malformed JSON: POST /v1/items",
            "wrong content type: POST /v1/items",
            "oversized body: POST /v1/items",
        ] {
            let expected = check(&report, "expected-status", request);
            assert_eq!(expected["status"], status, "{expected}");
            assert_eq!(expected["result"], "skip", "{expected}");
            assert_eq!(expected["reason"], skipped, "{expected}");
        }
        let idempotency = check(&report, "idempotency", "idempotency, first: POST /v1/items");
        assert_eq!(idempotency["result"], "skip", "{idempotency}");
        assert_eq!(idempotency["reason"], skipped, "{idempotency}");
        assert!(
            !report.to_string().contains("idempotency, reused"),
            "{report:#}"
        );
        assert_eq!(check(&report, "probe", "burst")["reason"], burst);
    }
}

/// The oversized body's skip says how much of it was sent when the answer
/// came, and asks for a larger --max-body-mib only once the whole was sent.
#[test]
fn an_oversized_body_answered_early_names_what_was_sent() {
    let app = Router::new().fallback(|| async { "ok" });
    let base = format!("http://{}", serve(app));
    let (_, report) = probe_json(&[
        &base,
        "--route",
        "POST:/v1/items",
        "--max-body-mib",
        "1024",
        "--max-requests",
        "0",
    ]);
    let oversized = check(&report, "expected-status", "oversized body: POST /v1/items");
    assert_eq!(oversized["status"], 200, "{oversized}");
    assert_eq!(oversized["result"], "skip", "{oversized}");
    let reason = oversized["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("answered 200 after ")
            && reason.ends_with(" of the body: no limit found"),
        "{reason}"
    );
}

/// A base URL below which no document is served says what its request got,
/// at the path requested; the summary says that no route was known.
#[test]
fn a_base_url_without_a_document_names_the_path_requested_and_its_answer() {
    let base = format!("http://{}/v1", serve(conforming(Dialect::Problem)));
    let (_, report) = probe_json(&[&base, "--max-requests", "0"]);
    let routes = check(&report, "routes", "GET /v1/openapi.json");
    assert_eq!(routes["result"], "skip", "{routes}");
    assert_eq!(
        routes["reason"],
        "no route known: GET /v1/openapi.json answered 404; serve the API's OpenAPI document \
         there, or pass --route METHOD:PATH; only the unknown-route and burst probes run"
    );
    let table = tollgate(&["probe", &base, "--max-requests", "0"]);
    let table = String::from_utf8_lossy(&table.stdout);
    let summary = table.lines().last().unwrap_or_default();
    assert!(
        summary.contains("skipped (no route known: only the unknown-route and burst probes ran);"),
        "{table}"
    );
}

/// With no route known, the burst goes to a route the API does not have:
/// 404s all along say nothing of a limit on its own routes (a skip, naming
/// --route), not that it has none.
#[test]
fn a_burst_answered_404_on_the_unknown_route_alone_is_skipped() {
    let base = format!("http://{}/v1", serve(conforming(Dialect::Problem)));
    let (_, report) = probe_json(&[&base, "--max-requests", "5"]);
    let burst = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "rate-limit")
        .unwrap();
    assert_eq!(burst["result"], "skip", "{burst}");
    assert_eq!(
        burst["reason"],
        "no 429 after 5 requests, all 404 from a route the API does not have (no document names \
         one): a limit may cover only its routes; pass --route METHOD:PATH"
    );
}

/// A key refused first by the burst (the one request of the probe that
/// carries it to a route checking it) skips the burst, rather than failing
/// it for a rate limit it could not reach.
#[test]
fn a_key_refused_by_the_burst_alone_skips_it() {
    let items = get(|| async { axum::Json(json!([])) }).route_layer(middleware::from_fn(auth));
    let app = Router::new()
        .route("/v1/items", items)
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let base = format!("http://{}", serve(app));
    let args = [&base, "--route", "GET:/v1/items", "--max-requests", "5"];
    let (code, report) = probe_json(&[&args[..], &["--key", "tg_live_revoked"]].concat());
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        failures(&report),
        [
            "key | burst: GET /v1/items | the key was refused (401 invalid_key): pass a valid \
          --key (or TOLLGATE_API_KEY)"
        ],
        "{report:#}"
    );
    let burst = check(&report, "rate-limit", "burst: GET /v1/items");
    assert_eq!(burst["result"], "skip", "{burst}");
    assert_eq!(
        burst["reason"],
        "the key was refused (401); pass a valid --key to check this"
    );
    // With the right key, the burst is judged: this app has no rate limit.
    let (_, report) = probe_json(&[&args[..], &["--key", KEY]].concat());
    assert_eq!(
        failures(&report),
        [
            "rate-limit | burst: GET /v1/items | no 429 after 5 requests: no rate limit, or one \
          above --max-requests"
        ],
        "{report:#}"
    );
}
