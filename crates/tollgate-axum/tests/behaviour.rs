//! Negotiation, version pins, success envelopes, request ids, validation
//! status, catalog overrides and logs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, header};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate::{Catalog, Dialect};
use tollgate_axum::{HandlerError, Json, Negotiated, Reply, RequestId, Tollgate, ValidationStatus};
use tower::{Service, ServiceExt};

mod common;
use common::{Logs, logs};

#[derive(Deserialize)]
#[allow(dead_code)]
struct Scan {
    session_id: String,
}

async fn create(Json(_): Json<Scan>) -> Reply<Value> {
    Reply(json!({"id": "scan_1"}))
}

async fn panics() -> String {
    panic!("pool exhausted")
}

fn routes() -> Router {
    Router::new()
        .route("/v1/scans", post(create))
        .route("/v2/scans", post(create))
        .route("/scans", get(|| async { Reply(vec![1, 2, 3]) }))
        .route("/id", get(|id: RequestId| async move { id.to_string() }))
        .route(
            "/negotiated",
            get(|n: Negotiated| async move { n.dialect().to_string() }),
        )
        .route("/panic", get(panics))
}

async fn send(app: &mut Router, request: Request<Body>) -> (Response<()>, Bytes) {
    let response = ServiceExt::<Request<Body>>::ready(app)
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        Response::from_parts(parts, ()),
        body.collect().await.unwrap().to_bytes(),
    )
}

fn post_json(uri: &str, body: &'static str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// Seed 004's migration: old clients (under `/v1`, or sending
/// `X-API-Version: 1`) keep the flat shape; new ones get the envelope, and
/// anyone may ask for problem details.
#[tokio::test]
async fn dialects_are_pinned_per_version_and_negotiated() {
    let mut app = routes().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Envelope)
            .pin_path("/v1", Dialect::Flat)
            .version_header(header::HeaderName::from_static("x-api-version"))
            .pin("1", Dialect::Flat)
            .layer(),
    );
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );
    let cases: [Case; 5] = [
        ("/v1/scans", &[], "flat"),
        ("/v2/scans", &[], "envelope"),
        ("/v2/scans", &[("x-api-version", "1")], "flat"),
        ("/v2/scans", &[("x-api-version", "2")], "envelope"),
        (
            "/v1/scans",
            &[("accept", "application/problem+json")],
            "problem",
        ),
    ];
    for (uri, headers, want) in cases {
        let mut req = post_json(uri, "{}");
        for (k, v) in headers {
            req.headers_mut().insert(*k, HeaderValue::from_static(v));
        }
        let (res, body) = send(&mut app, req).await;
        let decoded = Catalog::builtin_ref().decode(
            res.status().as_u16(),
            res.headers(),
            &body,
            SystemTime::now(),
        );
        assert_eq!(
            decoded.dialect,
            want,
            "{uri} {headers:?}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(decoded.code.as_deref(), Some("missing_field"));
        assert_eq!(res.status(), 400);
    }
    let (_, body) = send(
        &mut app,
        Request::get("/negotiated").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(body, "envelope");
}

/// Media-type versioning: `Accept` names the version, and a client of v1
/// sends more than the bare media type (parameters, another case, other
/// ranges, several lines); `q=0` refuses it.
#[tokio::test]
async fn a_media_type_version_matches_whatever_else_accept_says() {
    let mut app = routes().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Envelope)
            .version_header(header::ACCEPT)
            .pin("application/vnd.scans.v1+json", Dialect::Flat)
            .pin("application/vnd.scans.v2+json", Dialect::Coded)
            .layer(),
    );
    let cases: [(&[&str], &str); 7] = [
        (&["application/vnd.scans.v1+json; charset=utf-8"], "flat"),
        (&["application/vnd.scans.v1+json, */*;q=0.1"], "flat"),
        (&["Application/Vnd.Scans.V1+JSON"], "flat"),
        (&["text/html", "application/vnd.scans.v1+json"], "flat"),
        (
            &["application/vnd.scans.v1+json;q=0.5, application/vnd.scans.v2+json"],
            "coded",
        ),
        (&["application/vnd.scans.v1+json;q=0"], "envelope"),
        (&["application/json"], "envelope"),
    ];
    for (lines, want) in cases {
        let mut req = post_json("/v2/scans", "{}");
        for line in lines {
            req.headers_mut()
                .append(header::ACCEPT, HeaderValue::from_static(line));
        }
        let (res, body) = send(&mut app, req).await;
        let decoded = Catalog::builtin_ref().decode(
            res.status().as_u16(),
            res.headers(),
            &body,
            SystemTime::now(),
        );
        assert_eq!(
            decoded.dialect,
            want,
            "{lines:?}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(decoded.code.as_deref(), Some("missing_field"));
        assert_eq!(res.headers()[header::VARY], "accept");
    }
}

/// A path prefix written without its leading slash means the same as one
/// with it: `v1` pins `/v1` and the paths under it.
#[tokio::test]
async fn a_path_pin_without_its_leading_slash_still_matches() {
    let mut app = routes().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Envelope)
            .pin_path("v1", Dialect::Flat)
            .layer(),
    );
    for (uri, want) in [("/v1/scans", "flat"), ("/v2/scans", "envelope")] {
        let (res, body) = send(&mut app, post_json(uri, "{}")).await;
        let decoded = Catalog::builtin_ref().decode(
            res.status().as_u16(),
            res.headers(),
            &body,
            SystemTime::now(),
        );
        assert_eq!(
            decoded.dialect,
            want,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test]
async fn replies_wear_the_envelope_only_in_the_envelope_dialect() {
    for dialect in Dialect::ALL {
        let mut app = routes().layer(Tollgate::new(Catalog::builtin()).dialect(dialect).layer());
        let (res, body) = send(
            &mut app,
            Request::get("/scans").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key("x-request-id"));
        let value: Value = serde_json::from_slice(&body).unwrap();
        let want = match dialect {
            Dialect::Envelope => json!({"data": [1, 2, 3], "success": true, "message": "OK"}),
            _ => json!([1, 2, 3]),
        };
        assert_eq!(value, want, "{dialect}");
        if let Some(len) = res.headers().get(header::CONTENT_LENGTH) {
            assert_eq!(len.to_str().unwrap(), body.len().to_string(), "{dialect}");
        }
    }
    // Without the layer a reply is bare.
    let (_, body) = send(
        &mut routes(),
        Request::get("/scans").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(body, "[1,2,3]");
}

#[tokio::test]
async fn request_ids_are_kept_when_valid_and_replaced_when_not() {
    let mut app = routes().layer(Tollgate::new(Catalog::builtin()).layer());
    let long = "a".repeat(128);
    let too_long = "a".repeat(129);
    for (given, kept) in [
        ("req_01J.x-9", true),
        (long.as_str(), true),
        (too_long.as_str(), false),
        ("a b", false),
        ("", false),
    ] {
        let req = Request::get("/id")
            .header("x-request-id", given)
            .body(Body::empty())
            .unwrap();
        let (res, body) = send(&mut app, req).await;
        let header = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(
            body,
            header.as_bytes(),
            "the handler sees the id the header echoes"
        );
        if kept {
            assert_eq!(header, given);
        } else {
            assert_eq!(
                uuid::Uuid::parse_str(&header).unwrap().get_version_num(),
                7,
                "{header}"
            );
        }
    }
}

/// In `stripe`, a success carries the id in `Request-Id` too, as Stripe
/// sends it on every response; other dialects send `X-Request-Id` alone.
#[tokio::test]
async fn stripe_successes_carry_request_id_too() {
    for (dialect, both) in [(Dialect::Stripe, true), (Dialect::Problem, false)] {
        let mut app = routes().layer(Tollgate::new(Catalog::builtin()).dialect(dialect).layer());
        let req = Request::get("/id")
            .header("x-request-id", "req_7")
            .body(Body::empty())
            .unwrap();
        let (res, _) = send(&mut app, req).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-request-id"], "req_7");
        let stripe = res.headers().get("request-id").map(|v| v.to_str().unwrap());
        assert_eq!(stripe, both.then_some("req_7"), "{dialect}");
    }
}

/// Several `X-Request-Id` lines are one list (`a, b`, RFC 9110 5.3), which
/// is no valid id: whichever line is taken, a client's or a proxy's, the
/// other is ignored, so the request gets a new id, as with `a, b` in one line.
#[tokio::test]
async fn several_request_id_lines_are_replaced() {
    let mut app = routes().layer(Tollgate::new(Catalog::builtin()).layer());
    for lines in [
        &["req_a", "req_b"][..],
        &["req_a", "req_a"],
        &["req_a, req_b"],
    ] {
        let mut req = Request::get("/id").body(Body::empty()).unwrap();
        for line in lines {
            req.headers_mut()
                .append("x-request-id", HeaderValue::from_static(line));
        }
        let (res, body) = send(&mut app, req).await;
        let header = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(body, header.as_bytes(), "{lines:?}");
        assert_eq!(
            uuid::Uuid::parse_str(&header).map(|id| id.get_version_num()),
            Ok(7),
            "{lines:?}: {header}"
        );
    }
    // Without the layer, the extractor reads the lines alike.
    let mut headers = axum::http::HeaderMap::new();
    headers.append("x-request-id", HeaderValue::from_static("req_a"));
    headers.append("x-request-id", HeaderValue::from_static("req_b"));
    let id = RequestId::from_headers(&headers);
    assert!(!id.as_str().starts_with("req_"), "{id}");
}

#[tokio::test]
async fn validation_status_is_configurable() {
    for (status, want) in [
        (None, 400),
        (Some(ValidationStatus::UnprocessableEntity), 422),
        (Some(ValidationStatus::BadRequest), 400),
    ] {
        let mut config = Tollgate::new(Catalog::builtin()).dialect(Dialect::Envelope);
        if let Some(status) = status {
            config = config.validation_status(status);
        }
        // The catalog documents say what the server answers.
        for code in ["validation_error", "missing_field"] {
            assert_eq!(config.catalog().get(code).unwrap().status(), want, "{code}");
        }
        let mut app = routes().layer(config.layer());
        let (res, _) = send(&mut app, post_json("/v2/scans", r#"{"session_id": 5}"#)).await;
        assert_eq!(res.status(), want, "validation_error with {status:?}");
        let (res, _) = send(&mut app, post_json("/v2/scans", "{}")).await;
        assert_eq!(res.status(), want, "missing_field with {status:?}");
    }
}

/// An app's catalog overrides the built-in entries the extractors start from.
#[tokio::test]
async fn the_apps_catalog_wins() {
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "app.toml",
            "[errors.missing_field]\nmessage = '{field} is required'\n\n[errors.missing_field.aliases]\ncoded = 'MISSING_FIELD'\n",
        )
        .unwrap();
    let mut app = routes().layer(Tollgate::new(catalog).dialect(Dialect::Coded).layer());
    let (res, body) = send(&mut app, post_json("/v2/scans", "{}")).await;
    assert_eq!(res.headers()["x-error-code"], "MISSING_FIELD");
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["error"]["message"], "session_id is required");
    assert_eq!(value["error"]["code"], "MISSING_FIELD");
}

/// A validation error is told by its first violation, unless the app's
/// catalog words `validation_error` its own way (seed 002's "Invalid request
/// parameters", which its docs show): then the answer carries that message,
/// and the violation still carries the field's.
#[tokio::test]
async fn the_apps_validation_message_wins_over_the_first_violations() {
    let body = r#"{"session_id": 5}"#;
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "app.toml",
            "[errors.validation_error]\nmessage = 'Invalid request parameters'\n",
        )
        .unwrap();
    let mut app = routes().layer(Tollgate::new(catalog).dialect(Dialect::Coded).layer());
    let (_, got) = send(&mut app, post_json("/v2/scans", body)).await;
    let value: Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(
        value["error"]["message"], "Invalid request parameters",
        "{value}"
    );
    let violation = &value["error"]["details"]["errors"][0];
    assert_eq!(violation["field"], "session_id", "{value}");
    assert!(
        violation["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid type"),
        "{value}"
    );

    // The built-in wording (another status set alone keeps it): the first
    // violation's message, as before.
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml("app.toml", "[errors.validation_error]\nstatus = 422\n")
        .unwrap();
    let mut app = routes().layer(Tollgate::new(catalog).dialect(Dialect::Coded).layer());
    let (res, got) = send(&mut app, post_json("/v2/scans", body)).await;
    assert_eq!(res.status(), 422);
    let value: Value = serde_json::from_slice(&got).unwrap();
    let message = value["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("session_id: invalid type"), "{value}");
}

/// Seed 002's API answers in two shapes: the layer's own errors (here its
/// 404) in `coded` where the catalog says so, the rest in FastAPI's
/// `detail`; a client asking for problem details gets those for either.
#[tokio::test]
async fn an_entry_sent_in_another_dialect_is_answered_in_it() {
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "002.toml",
            "[errors.not_found]\naliases = { coded = 'NOT_FOUND' }\nsent_in = { detail = 'coded' }\n",
        )
        .unwrap();
    let mut app = routes().layer(Tollgate::new(catalog).dialect(Dialect::Detail).layer());
    let nowhere = || Request::get("/nowhere").body(Body::empty()).unwrap();
    let (res, body) = send(&mut app, nowhere()).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["x-error-code"], "NOT_FOUND");
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["error"]["code"], "NOT_FOUND", "{value}");
    assert_eq!(
        value["request_id"],
        res.headers()["x-request-id"].to_str().unwrap()
    );
    let (_, body) = send(&mut app, post_json("/v2/scans", "{}")).await;
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["detail"]["code"], "missing_field", "{value}");
    let mut asked = nowhere();
    asked.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/problem+json"),
    );
    let (res, _) = send(&mut app, asked).await;
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    // Sent in `problem`, it names the request's path, as `problem` does.
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml(
            "t.toml",
            "[errors.not_found]\nsent_in = { detail = 'problem' }\n",
        )
        .unwrap();
    let mut app = routes().layer(Tollgate::new(catalog).dialect(Dialect::Detail).layer());
    let (res, body) = send(&mut app, nowhere()).await;
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["instance"], "/nowhere", "{value}");
}

#[tokio::test]
async fn timestamps_come_from_the_clock() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut app = routes().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::StatusCode)
            .clock(move || at)
            .layer(),
    );
    let (_, body) = send(
        &mut app,
        Request::get("/nowhere").body(Body::empty()).unwrap(),
    )
    .await;
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        value["timestamp"]
            .as_str()
            .unwrap()
            .starts_with("2023-11-14T22:13:20"),
        "{value}"
    );
}

impl Logs {
    /// The first line logged that contains `text`.
    fn line(&self, text: &str) -> String {
        let logged = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        logged
            .lines()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {text} in {logged}"))
            .to_owned()
    }
}

/// A panic's text goes to the log with the request id and the code, never
/// into the body.
#[tokio::test]
async fn panics_are_logged_with_the_request_id_and_code() {
    let logs = logs();
    let mut app = routes().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Envelope)
            .layer(),
    );
    let req = Request::get("/panic")
        .header("x-request-id", "req_panic_1")
        .body(Body::empty())
        .unwrap();
    let (res, body) = send(&mut app, req).await;
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["x-request-id"], "req_panic_1");
    assert!(!String::from_utf8_lossy(&body).contains("pool exhausted"));

    // The panic's text does not name the id: the layer must.
    let line = logs.line("pool exhausted");
    assert!(line.contains("req_panic_1"), "{line}");
    assert!(line.contains("internal_error"), "{line}");
    assert!(line.contains("ERROR"), "{line}");
}

/// A handler's error is logged once, by the layer, with the request id: not
/// also where the handler's `?` made its response.
#[tokio::test]
async fn a_handler_error_is_logged_once_with_the_request_id() {
    async fn failing() -> Result<&'static str, HandlerError> {
        Err(std::io::Error::other("disk 7f3a on fire"))?;
        Ok("unreachable")
    }
    let logs = logs();
    let mut app = Router::new()
        .route("/", get(failing))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let req = Request::get("/")
        .header("x-request-id", "req_logged_once")
        .body(Body::empty())
        .unwrap();
    let (res, body) = send(&mut app, req).await;
    assert_eq!(res.status(), 500);
    assert!(!String::from_utf8_lossy(&body).contains("7f3a"));
    let lines = logs.lines(&["disk 7f3a on fire"]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("req_logged_once"), "{lines:#?}");
}

/// A handler cut off at the deadline is dropped, and its code runs then (the
/// destructors of what it held): a panic there still leaves the `timeout`
/// answered, not a task that dies unanswered.
#[tokio::test(start_paused = true)]
async fn a_handler_that_panics_as_the_deadline_drops_it_is_timeout() {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("cancelled mid-transaction");
            }
        }
    }
    async fn stuck() -> &'static str {
        let _guard = Guard;
        std::future::pending::<()>().await;
        "unreachable"
    }
    let app = Router::new().route("/stuck", get(stuck)).layer(
        Tollgate::new(Catalog::builtin())
            .timeout(Duration::from_millis(50))
            .layer(),
    );
    let request = Request::get("/stuck").body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 504);
    assert_eq!(response.headers()["x-error-code"], "timeout");
}

/// A panic of any payload is answered, even one whose payload panics as it
/// drops (a guard passed to `panic_any`): not a task that dies unanswered.
#[tokio::test]
async fn a_panic_whose_payload_panics_as_it_drops_is_internal_error() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("payload dropped");
            }
        }
    }
    async fn int() -> &'static str {
        std::panic::panic_any(7_u32)
    }
    async fn bomb() -> &'static str {
        std::panic::panic_any(Bomb)
    }
    let mut app = Router::new()
        .route("/int", get(int))
        .route("/bomb", get(bomb))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    for uri in ["/int", "/bomb"] {
        let req = Request::get(uri)
            .header("x-request-id", "req_bomb")
            .body(Body::empty())
            .unwrap();
        let (res, _) = send(&mut app, req).await;
        assert_eq!(res.status(), 500, "{uri}");
        assert_eq!(res.headers()["x-error-code"], "internal_error", "{uri}");
        assert_eq!(res.headers()["x-request-id"], "req_bomb", "{uri}");
    }
}

/// A short error body the layer reads (to find what the error is) and that
/// panics: the handler's panic too, answered `internal_error`, not a
/// dropped connection.
#[tokio::test]
async fn a_panic_in_an_error_body_the_layer_reads_is_internal_error() {
    struct Panicking;
    impl http_body::Body for Panicking {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            panic!("body broke")
        }
        fn size_hint(&self) -> http_body::SizeHint {
            http_body::SizeHint::with_exact(12)
        }
    }
    let logs = logs();
    let broken = || async {
        let mut response = Response::new(Body::new(Panicking));
        *response.status_mut() = axum::http::StatusCode::NOT_FOUND;
        response
    };
    let mut app = Router::new()
        .route("/broken", get(broken))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let req = Request::get("/broken")
        .header("x-request-id", "req_body_panic")
        .body(Body::empty())
        .unwrap();
    let (res, body) = send(&mut app, req).await;
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["x-error-code"], "internal_error");
    assert!(!String::from_utf8_lossy(&body).contains("body broke"));
    let line = logs.line("body broke");
    assert!(line.contains("req_body_panic"), "{line}");
}

/// An error is logged as the layer's catalog defines it: with the status the
/// client gets, at the level that status calls for.
#[tokio::test(start_paused = true)]
async fn errors_are_logged_as_the_catalog_defines_them() {
    let logs = logs();
    let mut catalog = Catalog::builtin();
    catalog
        .load_toml("app.toml", "[errors.timeout]\nstatus = 408\n")
        .unwrap();
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        "late"
    };
    let mut app = routes().route("/slow", get(slow)).layer(
        Tollgate::new(catalog)
            .validation_status(ValidationStatus::UnprocessableEntity)
            .timeout(Duration::from_secs(1))
            .layer(),
    );
    let mut missing = post_json("/v2/scans", "{}");
    missing
        .headers_mut()
        .insert("x-request-id", HeaderValue::from_static("req_log_422"));
    let (res, _) = send(&mut app, missing).await;
    assert_eq!(res.status(), 422);
    let slow = Request::get("/slow")
        .header("x-request-id", "req_log_408")
        .body(Body::empty())
        .unwrap();
    let (res, _) = send(&mut app, slow).await;
    assert_eq!(res.status(), 408);

    let missing = logs.line("request_id=\"req_log_422\" code=\"missing_field\"");
    assert!(missing.contains("status=422"), "{missing}");
    let timeout = logs.line("request_id=\"req_log_408\" code=\"timeout\"");
    assert!(timeout.contains("status=408"), "{timeout}");
    assert!(timeout.contains("DEBUG"), "{timeout}");
}

/// What a replay keeps of a response: status, headers and body (no
/// extensions), as an idempotency layer or a cache stores them.
type Stored = Arc<Mutex<Option<(http::StatusCode, http::HeaderMap, Bytes)>>>;

async fn replaying(
    axum::extract::State(stored): axum::extract::State<Stored>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let kept = stored.lock().unwrap().clone();
    if let Some((status, headers, body)) = kept {
        let mut replay = axum::response::Response::new(Body::from(body));
        *replay.status_mut() = status;
        *replay.headers_mut() = headers;
        return replay;
    }
    let (parts, body) = next.run(request).await.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    *stored.lock().unwrap() = Some((parts.status, parts.headers.clone(), body.clone()));
    axum::response::Response::from_parts(parts, Body::from(body))
}

/// A `Reply` rebuilt from its status, headers and body inside the layer (a
/// replay) still wears the envelope, and gets the replaying request's id.
#[tokio::test]
async fn replayed_replies_keep_the_envelope() {
    let stored = Stored::default();
    let mut app = Router::new()
        .route("/scans", get(|| async { Reply(vec![1, 2, 3]) }))
        .layer(axum::middleware::from_fn_with_state(
            stored.clone(),
            replaying,
        ))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Envelope)
                .layer(),
        );
    let get_with_id = |id: &str| {
        Request::get("/scans")
            .header("x-request-id", id)
            .body(Body::empty())
            .unwrap()
    };
    let want = json!({"data": [1, 2, 3], "success": true, "message": "OK"});
    let (first, body) = send(&mut app, get_with_id("req_first")).await;
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), want);
    assert_eq!(first.headers()["x-request-id"], "req_first");
    assert!(
        stored.lock().unwrap().is_some(),
        "the first response was stored"
    );

    let (again, body) = send(&mut app, get_with_id("req_again")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), want);
    assert_eq!(again.headers()["x-request-id"], "req_again");
    assert_eq!(again.headers()[header::CONTENT_TYPE], "application/json");
}

/// A body the layer wrote or negotiated names in `Vary` the request headers
/// that chose its dialect, added to what the response said already; plain
/// successes are left alone, and nothing is added when no header can change
/// the body.
#[tokio::test]
async fn negotiated_bodies_say_what_they_vary_on() {
    let app = || {
        routes().route(
            "/own-vary",
            get(|| async {
                (
                    http::StatusCode::NOT_FOUND,
                    [(header::VARY, "Origin, Accept")],
                )
            }),
        )
    };
    let vary = |res: &Response<()>| -> Vec<String> {
        res.headers()
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let get_ = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();

    let mut pinned = app().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Envelope)
            .pin_path("/v1", Dialect::Flat)
            .version_header(header::HeaderName::from_static("x-api-version"))
            .pin("1", Dialect::Flat)
            .layer(),
    );
    let (res, _) = send(&mut pinned, post_json("/v2/scans", "{}")).await;
    assert_eq!(vary(&res), ["accept, x-api-version"]);
    let (res, _) = send(&mut pinned, get_("/nowhere")).await;
    assert_eq!(vary(&res), ["accept, x-api-version"]);
    let (res, _) = send(&mut pinned, get_("/own-vary")).await;
    assert_eq!(vary(&res), ["Origin, Accept", "x-api-version"]);
    // A reply's shape follows the pins, never `Accept`.
    let (res, _) = send(&mut pinned, get_("/scans")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(vary(&res), ["x-api-version"]);
    let (res, _) = send(&mut pinned, get_("/id")).await;
    assert_eq!(vary(&res), Vec::<String>::new(), "a plain success");

    // Every request gets `problem`: no header changes a thing.
    let mut fixed = app().layer(Tollgate::new(Catalog::builtin()).layer());
    for uri in ["/nowhere", "/scans", "/id"] {
        let (res, _) = send(&mut fixed, get_(uri)).await;
        assert_eq!(vary(&res), Vec::<String>::new(), "{uri}");
    }
    let (res, _) = send(&mut fixed, get_("/own-vary")).await;
    assert_eq!(vary(&res), ["Origin, Accept"]);

    // `Accept` picks `problem` over `flat` for errors; a reply is bare in both.
    let mut flat = app().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Flat)
            .layer(),
    );
    let (res, _) = send(&mut flat, get_("/nowhere")).await;
    assert_eq!(vary(&res), ["accept"]);
    let (res, _) = send(&mut flat, get_("/scans")).await;
    assert_eq!(vary(&res), Vec::<String>::new());
}

#[tokio::test]
async fn a_reply_varies_on_a_version_only_when_it_moves_the_envelope() {
    let version = header::HeaderName::from_static("x-api-version");
    let scans = || Request::get("/scans").body(Body::empty()).unwrap();
    let nowhere = || Request::get("/nowhere").body(Body::empty()).unwrap();

    let mut moved = routes().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Envelope)
            .version_header(version.clone())
            .pin("1", Dialect::Flat)
            .layer(),
    );
    let (res, _) = send(&mut moved, scans()).await;
    assert_eq!(res.headers()[header::VARY], "x-api-version");

    // `flat` and `coded` both leave a reply bare; their errors differ.
    let mut bare = routes().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Flat)
            .version_header(version)
            .pin("2", Dialect::Coded)
            .layer(),
    );
    let (res, _) = send(&mut bare, scans()).await;
    assert!(!res.headers().contains_key(header::VARY));
    let (res, _) = send(&mut bare, nowhere()).await;
    assert_eq!(res.headers()[header::VARY], "accept, x-api-version");
}

#[test]
fn the_configuration_shows_in_debug_output() {
    let config = Tollgate::new(Catalog::builtin())
        .body_limit(1024)
        .timeout(Duration::from_secs(30))
        .rewrite_unmarked(false);
    let text = format!("{config:?}");
    for part in [
        "Tollgate {",
        "\"not_found\"",
        "body_limit: Some(1024)",
        "timeout: Some(30s)",
        "rewrite_unmarked: false",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert_eq!(format!("{:?}", config.layer()), "TollgateLayer { .. }");
}

#[test]
fn the_service_and_its_future_show_in_debug_output() {
    let mut service = tower::Layer::layer(
        &Tollgate::new(Catalog::builtin()).layer(),
        tower::service_fn(|_: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        }),
    );
    let text = format!("{service:?}");
    assert!(
        text.starts_with("TollgateService { inner: ServiceFn {") && text.ends_with(", .. }"),
        "{text}"
    );
    let future = service.call(Request::new(Body::empty()));
    assert_eq!(format!("{future:?}"), "ResponseFuture { .. }");
}

/// `application/problem+json` picks `problem` only when the client rates it
/// no lower than JSON; one that prefers JSON keeps the app's dialect. Either
/// way a success keeps the app's envelope: `Accept` chooses how errors are
/// written (a client sending `application/json, application/problem+json`
/// still reads the envelope's `data`).
#[tokio::test]
async fn problem_details_only_when_rated_no_lower_than_json() {
    let mut app = routes().layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Envelope)
            .layer(),
    );
    for (accept, want) in [
        (
            "application/json, application/problem+json;q=0.1",
            "envelope",
        ),
        ("*/*;q=0.8, application/problem+json;q=0.5", "envelope"),
        (
            "application/json;q=0.1, application/problem+json",
            "problem",
        ),
        ("application/json, application/problem+json", "problem"),
    ] {
        let with_accept = |mut req: Request<Body>| {
            req.headers_mut()
                .insert(header::ACCEPT, HeaderValue::from_static(accept));
            req
        };
        let (res, body) = send(&mut app, with_accept(post_json("/v2/scans", "{}"))).await;
        let decoded = Catalog::builtin_ref().decode(
            res.status().as_u16(),
            res.headers(),
            &body,
            SystemTime::now(),
        );
        assert_eq!(decoded.dialect, want, "{accept}");
        let get_ = |uri| with_accept(Request::get(uri).body(Body::empty()).unwrap());
        let (_, body) = send(&mut app, get_("/negotiated")).await;
        assert_eq!(body, want, "{accept}");
        let (_, body) = send(&mut app, get_("/scans")).await;
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert!(value.get("data").is_some(), "{accept}: {value}");
    }
}

/// Behind `Router::nest`, the layer reads the path the caller sent: for
/// `problem`'s `instance` and for path pins.
#[tokio::test]
async fn nested_routers_see_the_callers_path() {
    let layer = Tollgate::new(Catalog::builtin())
        .pin_path("/legacy", Dialect::Flat)
        .pin_path("/reports", Dialect::Flat)
        .layer();
    let not_found = || async {
        Err::<(), HandlerError>(Catalog::builtin_ref().error("not_found").unwrap().into())
    };
    let inner = || {
        Router::new()
            .route("/scans", get(not_found))
            .route("/reports", get(not_found))
            .layer(layer.clone())
    };
    let mut app = Router::new().nest("/api", inner()).nest("/legacy", inner());
    let (res, body) = send(
        &mut app,
        Request::get("/api/scans?page=2")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 404);
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["instance"], "/api/scans", "{value}");
    let (res, body) = send(
        &mut app,
        Request::get("/legacy/scans").body(Body::empty()).unwrap(),
    )
    .await;
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        value,
        json!({"error": "not_found", "message": value["message"]})
    );
    // A pin written for the path under the nest matches too.
    let (res, _) = send(
        &mut app,
        Request::get("/api/reports").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
}

/// A sub-router with a layer of its own under the app's: one request id,
/// the one the handler sees, in the header and in the body.
#[tokio::test]
async fn a_layer_under_another_keeps_the_request_id() {
    let sub = Router::new()
        .route("/id", get(|id: RequestId| async move { id.to_string() }))
        .route(
            "/missing",
            get(|| async {
                Err::<(), HandlerError>(Catalog::builtin_ref().error("not_found").unwrap().into())
            }),
        )
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let mut app = Router::new().nest("/api", sub).layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Coded)
            .layer(),
    );
    let (res, body) = send(
        &mut app,
        Request::get("/api/id").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        res.headers()["x-request-id"],
        std::str::from_utf8(&body).unwrap()
    );
    let (res, body) = send(
        &mut app,
        Request::get("/api/missing").body(Body::empty()).unwrap(),
    )
    .await;
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        res.headers()["x-request-id"],
        value["request_id"].as_str().unwrap(),
        "{value}"
    );
    // The layer nearest the route answers for it: its dialect (problem, as
    // built in), not the outer one's.
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(value["status"], 404, "{value}");
}

/// Runs the service it wraps on a task of its own, as tower's `Buffer` runs
/// it on its worker: away from the thread-local the layer outside set.
#[derive(Clone)]
struct OnItsOwnTask<S>(S);

impl<S> Service<Request<Body>> for OnItsOwnTask<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move { tokio::spawn(inner.oneshot(request)).await.unwrap() })
    }
}

/// A layer behind a channel (`Buffer`) under another: when the caller sent
/// no valid id, the error the inner one rendered says one id, in the header
/// and in the body.
#[tokio::test]
async fn a_layer_behind_a_channel_keeps_the_id_its_error_states() {
    use tower::Layer;
    let sub = Router::new()
        .route(
            "/missing",
            get(|| async {
                Err::<(), HandlerError>(Catalog::builtin_ref().error("not_found").unwrap().into())
            }),
        )
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let app = Tollgate::new(Catalog::builtin())
        .layer()
        .layer(OnItsOwnTask(sub));
    for id in [None, Some("not valid!")] {
        let mut request = Request::get("/missing").body(Body::empty()).unwrap();
        if let Some(id) = id {
            request
                .headers_mut()
                .insert("x-request-id", HeaderValue::from_static(id));
        }
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 404);
        let header = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            header,
            value["request_id"].as_str().unwrap(),
            "{id:?}: {value}"
        );
    }
}

/// A body of unknown length counted by the app's layer and found too large
/// while a sub-router's route read it: the sub-router's layer, which sets
/// no limit of its own, answers 413 in its dialect naming the app's limit.
#[tokio::test]
async fn a_layer_inside_names_the_limit_outside() {
    let sub = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Flat)
                .layer(),
        );
    let mut app = Router::new()
        .nest("/api", sub)
        .layer(Tollgate::new(Catalog::builtin()).body_limit(64).layer());
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&[b'x'; 16])));
    let request = Request::post("/api/echo")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let (res, body) = send(&mut app, request).await;
    assert_eq!(res.status(), 413);
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["error"], "payload_too_large", "{value}");
    assert!(
        value["message"].as_str().unwrap().contains("64 bytes"),
        "{value}"
    );
}

/// A sub-router's layer decides its errors' status and dialect, as it
/// decides its `Reply`s'; the app's layer outside renders the rest.
#[tokio::test]
async fn the_layer_nearest_the_route_answers_for_it() {
    #[derive(Deserialize)]
    struct Scan {
        #[allow(dead_code)]
        image: String,
    }
    let v1 = Router::new()
        .route(
            "/scans",
            post(|_: Json<Scan>| async { Reply(json!({"id": "scan_1"})) }),
        )
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Flat)
                .validation_status(ValidationStatus::UnprocessableEntity)
                .layer(),
        );
    let mut app = Router::new()
        .nest("/v1", v1)
        .route("/other", get(|| async { http::StatusCode::NOT_FOUND }))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Envelope)
                .layer(),
        );
    let post_json = |body: &'static str| {
        Request::post("/v1/scans")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let (res, body) = send(&mut app, post_json("{}")).await;
    assert_eq!(res.status(), 422);
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["error"], "missing_field", "{value}");
    assert!(
        value.get("success").is_none(),
        "flat, not the envelope: {value}"
    );
    let (res, body) = send(&mut app, post_json(r#"{"image":"x"}"#)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"id": "scan_1"})
    );
    // Outside the sub-router, the app's layer answers.
    let (res, body) = send(
        &mut app,
        Request::get("/other").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(res.status(), 404);
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["success"], false, "{value}");
}

/// An error rendered in the Stripe dialect by a layer inside (its own
/// `Request-Id`), answered in another: no stale `Request-Id` is left.
#[tokio::test]
async fn a_stripe_request_id_does_not_outlive_its_dialect() {
    let inner = || async {
        let err = Catalog::builtin_ref().error("invalid_key").unwrap();
        let ctx = tollgate::Context::new(SystemTime::now()).request_id("store_made_id");
        let mut response = Catalog::builtin_ref()
            .renderer(Dialect::Stripe)
            .response(&err, &ctx)
            .map(Body::from);
        assert_eq!(response.headers()["request-id"], "store_made_id");
        response.extensions_mut().insert(err);
        response
    };
    let mut app = Router::new()
        .route("/v1/x", get(inner))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let (res, _) = send(&mut app, Request::get("/v1/x").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), 401);
    assert!(
        res.headers().get("request-id").is_none(),
        "{:?}",
        res.headers()
    );
    // In the Stripe dialect it is this layer's id.
    let mut app = Router::new().route("/v1/x", get(inner)).layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Stripe)
            .layer(),
    );
    let (res, _) = send(&mut app, Request::get("/v1/x").body(Body::empty()).unwrap()).await;
    assert_eq!(res.headers()["request-id"], res.headers()["x-request-id"]);

    // An app's own `Request-Id` is a header already set, and is kept.
    let own = || async {
        (
            axum::http::StatusCode::NOT_FOUND,
            [("request-id", "app_own_id")],
        )
    };
    let mut app = Router::new()
        .route("/v1/x", get(own))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let (res, body) = send(&mut app, Request::get("/v1/x").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), 404);
    assert!(!body.is_empty(), "the 404 is rewritten");
    assert_eq!(res.headers()["request-id"], "app_own_id");
    // Also when it repeats the request's id, as an app echoing ids
    // Stripe-style does.
    let echo = |req: Request<Body>| async move {
        let id = req.headers()["x-request-id"].clone();
        (
            axum::http::StatusCode::NOT_FOUND,
            [("request-id", id.clone()), ("x-request-id", id)],
        )
    };
    let mut app = Router::new()
        .route("/v1/x", get(echo))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let req = Request::get("/v1/x")
        .header("x-request-id", "req_echoed")
        .body(Body::empty())
        .unwrap();
    let (res, _) = send(&mut app, req).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["request-id"], "req_echoed");
}

/// An inner service that fails to become ready with an error that has a
/// meaning (here an `ApiError`; tower's `Overloaded` is read the same way)
/// is answered as that error, as its response future's errors are.
#[tokio::test]
async fn a_service_that_fails_to_become_ready_keeps_its_errors_meaning() {
    #[derive(Clone)]
    struct NeverReady;
    impl Service<Request<Body>> for NeverReady {
        type Response = Response<Body>;
        type Error = tollgate::ApiError;
        type Future = std::future::Ready<Result<Response<Body>, tollgate::ApiError>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), tollgate::ApiError>> {
            let busy = Catalog::builtin_ref().error("service_unavailable").unwrap();
            std::task::Poll::Ready(Err(busy.retry_after(Duration::from_secs(3))))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            unreachable!("never ready")
        }
    }
    let mut svc = tower::Layer::layer(&Tollgate::new(Catalog::builtin()).layer(), NeverReady);
    let response = ServiceExt::<Request<Body>>::ready(&mut svc)
        .await
        .unwrap()
        .call(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(response.headers()["x-error-code"], "service_unavailable");
}

/// An axum rejection taken with `?` is the client error it means, as when
/// it is returned as a response: raw path parameters that are not UTF-8.
#[tokio::test]
async fn a_raw_path_params_rejection_taken_with_question_mark_is_a_400() {
    use axum::extract::RawPathParams;
    use axum::extract::rejection::RawPathParamsRejection;
    async fn file(
        params: Result<RawPathParams, RawPathParamsRejection>,
    ) -> Result<&'static str, HandlerError> {
        params?;
        Ok("ok")
    }
    async fn returned(params: Result<RawPathParams, RawPathParamsRejection>) -> Response<Body> {
        use axum::response::IntoResponse;
        params.map(|_| "ok").into_response()
    }
    let mut app = Router::new()
        .route("/files/{key}", get(file))
        .route("/returned/{key}", get(returned))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Flat)
                .layer(),
        );
    let request = |uri| Request::get(uri).body(Body::empty()).unwrap();
    let (res, body) = send(&mut app, request("/files/%FF")).await;
    assert_eq!(res.status(), 400, "{}", String::from_utf8_lossy(&body));
    let (as_response, as_body) = send(&mut app, request("/returned/%FF")).await;
    assert_eq!(
        res.headers()["x-error-code"],
        as_response.headers()["x-error-code"]
    );
    assert_eq!(body, as_body);
}

/// A server error's own JSON body is for the log only: its message, its
/// field violations and the values of its entry's details are logged, none
/// of them sent.
#[tokio::test]
async fn a_server_errors_json_body_goes_to_the_log_only() {
    const CATALOG: &str = r#"
[errors.database_unavailable]
status = 503
title = "Database unavailable"
message = "The database {database} is unavailable."
details = ["database"]
"#;
    const OWN: &str =
        r#"{"message":"db down","errors":[{"field":"dsn","message":"password hunter2 rejected"}]}"#;
    const NAMED: &str = r#"{"error":{"code":"database_unavailable","message":"db down","details":{"database":"hunter2-db"}}}"#;
    let logs = logs();
    for dialect in Dialect::ALL {
        for (status, body) in [(500, OWN), (502, OWN), (503, OWN), (503, NAMED)] {
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            let json = [(header::CONTENT_TYPE, "application/json")];
            let mut app = Router::new()
                .route("/", get(move || async move { (status, json, body) }))
                .layer(
                    Tollgate::new(Catalog::from_toml("app.toml", CATALOG).unwrap())
                        .dialect(dialect)
                        .layer(),
                );
            let id = format!("req_{dialect}_{}_{}", status.as_u16(), body.len());
            let req = Request::get("/")
                .header("x-request-id", &id)
                .body(Body::empty())
                .unwrap();
            let (res, bytes) = send(&mut app, req).await;
            let text = String::from_utf8_lossy(&bytes);
            assert!(res.status().is_server_error(), "{id}: {text}");
            assert!(res.headers().contains_key("x-error-code"), "{id}: {text}");
            assert!(!text.contains("hunter2"), "{id}: {text}");
            assert!(!text.contains("db down"), "{id}: {text}");
            let line = logs.line(&id);
            assert!(line.contains("hunter2"), "{line}");
            assert!(line.contains("db down"), "{line}");
            // The message first, then each violation or detail, `; ` apart.
            let logged = if body == OWN {
                "db down; dsn: password hunter2 rejected"
            } else {
                r#"db down; database: "hunter2-db""#
            };
            assert!(line.contains(logged), "{line}");
        }
    }
}

/// An axum rejection taken apart (one of its variants' errors) or wrapped
/// in an app's own error, then returned with `?`, is the client error it
/// is as a response, not a 500.
#[tokio::test]
async fn an_axum_rejection_taken_apart_or_wrapped_keeps_its_meaning() {
    use axum::extract::rejection::JsonRejection;

    #[derive(Debug)]
    struct AppError(JsonRejection);
    impl std::fmt::Display for AppError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not read the scan")
        }
    }
    impl std::error::Error for AppError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    async fn apart(
        body: Result<axum::Json<Scan>, JsonRejection>,
    ) -> Result<&'static str, HandlerError> {
        match body {
            Ok(_) => Ok("ok"),
            Err(JsonRejection::JsonDataError(e)) => Err(e.into()),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(e.into()),
            Err(JsonRejection::MissingJsonContentType(e)) => Err(e.into()),
            Err(other) => Err(other.into()),
        }
    }
    async fn wrapped(
        body: Result<axum::Json<Scan>, JsonRejection>,
    ) -> Result<&'static str, HandlerError> {
        let _scan = body.map_err(AppError)?;
        Ok("ok")
    }
    async fn returned(body: Result<axum::Json<Scan>, JsonRejection>) -> Response<Body> {
        use axum::response::IntoResponse;
        body.map(|_| "ok").into_response()
    }
    let mut app = Router::new()
        .route("/apart", post(apart))
        .route("/wrapped", post(wrapped))
        .route("/returned", post(returned))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Flat)
                .layer(),
        );
    for (content_type, body, code) in [
        (
            "application/json",
            r#"{"session_id":5}"#,
            "validation_error",
        ),
        ("application/json", "{", "malformed_request"),
        ("text/plain", "{}", "unsupported_media_type"),
    ] {
        let request = |uri: &str| {
            Request::post(uri)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap()
        };
        let (as_response, as_body) = send(&mut app, request("/returned")).await;
        assert_eq!(as_response.headers()["x-error-code"], code);
        for uri in ["/apart", "/wrapped"] {
            let (res, bytes) = send(&mut app, request(uri)).await;
            assert_eq!(res.status(), as_response.status(), "{uri} {body}");
            assert_eq!(res.headers()["x-error-code"], code, "{uri} {body}");
            assert_eq!(bytes, as_body, "{uri} {body}");
        }
    }
}

/// A body of a type the extractor does not read is refused with the type
/// to send, and the type sent when there was one: by Tollgate's `Json` and
/// `Form`, and, as far as its rejection says, by axum's `Json`.
#[tokio::test]
async fn a_body_of_another_type_is_told_the_type_to_send() {
    async fn ours(_: Json<Scan>) -> &'static str {
        "ok"
    }
    async fn form(
        _: tollgate_axum::Form<std::collections::HashMap<String, String>>,
    ) -> &'static str {
        "ok"
    }
    async fn axums(_: axum::Json<Scan>) -> &'static str {
        "ok"
    }
    let mut app = Router::new()
        .route("/ours", post(ours))
        .route("/form", post(form))
        .route("/axums", post(axums))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Flat)
                .layer(),
        );
    let long = format!("text/{}", "x".repeat(5_000));
    let cases = [
        (
            "/ours",
            Some("Text/Plain; charset=utf-8"),
            "The request's Content-Type (Text/Plain; charset=utf-8) is not supported: send \
             application/json.",
        ),
        (
            "/ours",
            None,
            "The request has no Content-Type: send the body as application/json.",
        ),
        (
            "/ours",
            Some("  "),
            "The request has no Content-Type: send the body as application/json.",
        ),
        (
            "/form",
            Some("application/json"),
            "The request's Content-Type (application/json) is not supported: send \
             application/x-www-form-urlencoded.",
        ),
        (
            "/axums",
            Some("text/plain"),
            "The request's Content-Type is not supported: send application/json.",
        ),
        (
            "/axums",
            None,
            "The request's Content-Type is not supported: send application/json.",
        ),
    ];
    for (uri, content_type, expected) in cases {
        let mut request = Request::post(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let (res, bytes) = send(&mut app, request.body(Body::from("{}")).unwrap()).await;
        assert_eq!(res.status(), 415, "{uri} {content_type:?}");
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["message"], expected, "{uri} {content_type:?}");
    }
    // A type sent at length is shown clipped, its middle left out.
    let request = Request::post("/ours")
        .header(header::CONTENT_TYPE, &long)
        .body(Body::from("{}"))
        .unwrap();
    let (_, bytes) = send(&mut app, request).await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("The request's Content-Type (text/xxx")
            && message.ends_with("xxx) is not supported: send application/json.")
            && message.contains('…')
            && message.len() < 400,
        "{message}"
    );
}

/// A rejection made where the layer does not run (a task the handler
/// spawned) names the layer's body limit once the layer renders it, not
/// axum's default.
#[tokio::test]
async fn a_rejection_made_off_the_layer_names_the_layers_limit() {
    use axum::extract::FromRequest;
    use axum::response::IntoResponse;
    async fn spawned(request: axum::extract::Request) -> Response<Body> {
        let read = tokio::spawn(async move {
            match Json::<Scan>::from_request(request, &()).await {
                Ok(_) => "ok".into_response(),
                Err(rejection) => rejection.into_response(),
            }
        });
        read.await.unwrap()
    }
    let mut app = Router::new().route("/spawned", post(spawned)).layer(
        Tollgate::new(Catalog::builtin())
            .dialect(Dialect::Flat)
            .body_limit(64)
            .layer(),
    );
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&[b' '; 16])));
    let request = Request::post("/spawned")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let (res, body) = send(&mut app, request).await;
    assert_eq!(res.status(), 413);
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["error"], "payload_too_large", "{value}");
    assert!(
        value["message"].as_str().unwrap().contains("64 bytes"),
        "{value}"
    );
}

/// An app's entry for an error the layer makes itself may name details the
/// layer has no value for: the message is then the entry's title, never a
/// template with blanks (`{accepted}`) sent to the client.
#[tokio::test(start_paused = true)]
async fn the_layers_own_errors_never_send_a_template_with_blanks() {
    const CATALOG: &str = r#"
[errors.unsupported_media_type]
message = "Send one of {accepted}."
details = ["accepted"]

[errors.timeout]
message = "No response within {seconds} seconds."
details = ["seconds"]
"#;
    // A handler's bare 415: the layer knows no type to ask for.
    let mut app = Router::new()
        .route(
            "/v1/scans",
            post(|| async { axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .layer(
            Tollgate::new(Catalog::from_toml("app.toml", CATALOG).unwrap())
                .dialect(Dialect::Flat)
                .timeout(Duration::from_millis(100))
                .layer(),
        );
    let unsupported = Request::post("/v1/scans")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let slow = Request::get("/slow").body(Body::empty()).unwrap();
    for (request, code, title) in [
        (
            unsupported,
            "unsupported_media_type",
            "Unsupported media type",
        ),
        (slow, "timeout", "Timeout"),
    ] {
        let (res, body) = send(&mut app, request).await;
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(res.headers()["x-error-code"], code, "{value}");
        assert_eq!(value["message"], title, "{value}");
    }
}

/// hyper decodes `chunked` and no other transfer coding, yet takes a request
/// whose `Transfer-Encoding` ends in `chunked` (`gzip, chunked`) and hands
/// the body on still in the codings before it. Read as plain, that body
/// would be misread (or, when it parses, acted on); it is refused before any
/// route reads it. `chunked` alone, in any case, is untouched.
#[tokio::test]
async fn a_transfer_coding_besides_chunked_is_refused() {
    let mut app = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .layer(Tollgate::new(Catalog::builtin()).body_limit(1024).layer());
    let with = |codings: &[&'static str]| {
        let mut request = Request::post("/echo");
        for coding in codings {
            request = request.header(header::TRANSFER_ENCODING, *coding);
        }
        request.body(Body::from("{}")).unwrap()
    };
    for codings in [
        &["gzip"][..],
        &["gzip, chunked"],
        &["x-custom ,chunked"],
        &["chunked, chunked"],
        &["gzip", "chunked"],
        &["chunked", "chunked"],
        &["identity, chunked"],
    ] {
        let (res, body) = send(&mut app, with(codings)).await;
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(res.status(), 400, "{codings:?}: {value}");
        assert_eq!(res.headers()["x-error-code"], "malformed_request");
        assert!(
            value["detail"]
                .as_str()
                .unwrap()
                .contains("Transfer-Encoding"),
            "{codings:?}: {value}"
        );
        // The detail the reference documents for the entry is sent too.
        assert_eq!(
            value["reason"],
            "its Transfer-Encoding names a coding other than chunked, or chunked twice"
        );
    }
    for codings in [&["chunked"][..], &["Chunked"], &[" chunked "], &[]] {
        let (res, body) = send(&mut app, with(codings)).await;
        assert_eq!(res.status(), 200, "{codings:?}");
        assert_eq!(body, "{}");
    }
}

/// A request with several `Content-Type` lines is refused before any route
/// runs, in either order: an extractor read the first (`application/json`
/// then `text/plain` was JSON, the other order a 415), where another layer
/// may read the last. One line, of any value, is the route's to judge.
#[tokio::test]
async fn a_request_naming_several_content_types_is_refused() {
    let mut app =
        Router::new()
            .route(
                "/echo",
                post(
                    |tollgate_axum::Json(body): tollgate_axum::Json<Value>| async move {
                        body.to_string()
                    },
                ),
            )
            .layer(Tollgate::new(Catalog::builtin()).layer());
    let with = |types: &[&str]| {
        let mut request = Request::post("/echo");
        for media in types {
            request = request.header(header::CONTENT_TYPE, *media);
        }
        request.body(Body::from("{}")).unwrap()
    };
    for types in [
        &["application/json", "text/plain"][..],
        &["text/plain", "application/json"],
        &["application/json", "application/json"],
    ] {
        let (res, body) = send(&mut app, with(types)).await;
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(res.status(), 400, "{types:?}: {value}");
        assert_eq!(res.headers()["x-error-code"], "malformed_request");
        let detail = value["detail"].as_str().unwrap();
        assert!(
            detail.contains("more than one Content-Type"),
            "{types:?}: {value}"
        );
        assert_eq!(value["reason"], "it has more than one Content-Type header");
    }
    let (res, _) = send(&mut app, with(&["application/json"])).await;
    assert_eq!(res.status(), 200);
    let (res, _) = send(&mut app, with(&["text/plain"])).await;
    assert_eq!(res.status(), 415);
}

/// hyper serves an HTTP/1.1 request with two `Host` lines: RFC 9112 asks
/// for a 400, and a route that reads the host (a redirect, a tenant) must
/// not pick one of them; it is refused before any route runs. A request
/// without `Host` (an HTTP/2 one, or one built in-process), one whose
/// `Host` differs from the URI's authority (a proxy rewrites one or the
/// other), and any single value are served.
#[tokio::test]
async fn a_request_naming_several_hosts_is_refused() {
    let mut app = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .layer(Tollgate::new(Catalog::builtin()).body_limit(1024).layer());
    let with = |uri: &str, hosts: &[&str]| {
        let mut request = Request::post(uri);
        for host in hosts {
            request = request.header(header::HOST, *host);
        }
        request.body(Body::from("{}")).unwrap()
    };
    for hosts in [
        &["a.example", "b.example"][..],
        &["a.example", "a.example"],
        &["a.example", "b.example", "c.example"],
    ] {
        let (res, body) = send(&mut app, with("/echo", hosts)).await;
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(res.status(), 400, "{hosts:?}: {value}");
        assert_eq!(res.headers()["x-error-code"], "malformed_request");
        let detail = value["detail"].as_str().unwrap();
        assert!(detail.contains("more than one Host"), "{hosts:?}: {value}");
        assert_eq!(value["reason"], "it has more than one Host header");
    }
    for hosts in [
        &[][..],
        &[""],
        &["a.example"],
        &["localhost:3000"],
        &["[::1]:443"],
        &["a b"],
        &["a.example, b.example"],
    ] {
        let (res, body) = send(&mut app, with("/echo", hosts)).await;
        assert_eq!(res.status(), 200, "{hosts:?}: {body:?}");
        assert_eq!(body, "{}");
    }
    // The URI names another authority: a proxy's rewrite, not a conflict.
    let (res, _) = send(&mut app, with("http://b.example/echo", &["a.example"])).await;
    assert_eq!(res.status(), 200);
    // HTTP/2 names the host in `:authority`, which lands in the URI; there
    // is no `Host` line to read.
    let http2 = Request::post("https://a.example:8443/echo")
        .version(axum::http::Version::HTTP_2)
        .body(Body::from("{}"))
        .unwrap();
    let (res, body) = send(&mut app, http2).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body, "{}");
}

/// A success body of unknown length, announcing 4 to 10 bytes, that says
/// it has ended once its one frame is read.
struct Hinted(Option<Bytes>);

impl http_body::Body for Hinted {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let mut hint = http_body::SizeHint::new();
        if self.0.is_some() {
            hint.set_lower(4);
            hint.set_upper(10);
        }
        hint
    }
}

/// A success streamed after its head keeps what its body tells of itself:
/// the bounds of its length, and when it has ended.
#[tokio::test]
async fn a_streamed_success_keeps_its_bodys_hints() {
    let app = Router::new()
        .route(
            "/stream",
            get(|| async { Body::new(Hinted(Some(Bytes::from_static(b"tick")))) }),
        )
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let response = app
        .oneshot(Request::get("/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let mut body = response.into_body();
    let hint = http_body::Body::size_hint(&body);
    assert_eq!((hint.lower(), hint.upper()), (4, Some(10)), "{hint:?}");
    assert!(!http_body::Body::is_end_stream(&body));
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "tick");
    assert!(http_body::Body::is_end_stream(&body));
    assert!(body.frame().await.is_none());
}
