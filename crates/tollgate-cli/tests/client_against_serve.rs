//! `tollgate-client` against the real `tollgate serve` on 127.0.0.1: every
//! dialect's errors decode to the code, status, message and request id the
//! server sent; a burst past the per-key rate limit is waited out as
//! Retry-After asked; a POST replayed with its Idempotency-Key, or sent
//! again while its key is in use, is charged once; a POST the server times
//! out is retried with its key and not charged.
//!
//! Embedded defaults only (a SQLite file in a temporary directory, rate
//! limits in memory): nothing here needs Redis or Postgres.

mod common;
#[allow(dead_code)]
#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::{Server, last_line, tollgate};
use tollgate::{Catalog, Dialect};
use tollgate_client::{Error, RequestBuilderExt, ResponseExt, RetryPolicy, StopReason};

/// serve's per-key limit: 100 calls per 60 s.
const PER_KEY_CALLS: usize = 100;
/// What serve's 429 asks a client to wait once the per-key limit is spent:
/// one call's share of the window (0.6 s), rounded up to whole seconds.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// What serve's 409 `idempotency_key_in_use` asks a client to wait.
const IN_USE_WAIT: Duration = Duration::from_secs(1);
/// What serve's simulated model outage asks a client to wait.
const MODEL_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The catalog serve answers from when given no `--catalog`: the built-in
/// one with serve's own domain errors.
fn serve_catalog() -> Catalog {
    Catalog::from_toml("catalog.toml", include_str!("../src/serve/catalog.toml"))
        .expect("serve's catalog loads")
}

/// A running `tollgate serve` on a free loopback port, with its SQLite file
/// in a directory of its own, and the demo key its first start printed;
/// killed when dropped, a failed test included.
struct Api {
    server: Server,
    key: String,
    /// Dropped after the server: its files outlive the process.
    dir: tempfile::TempDir,
}

impl Api {
    fn start(args: &[&str]) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), args);
        let key = server
            .key
            .clone()
            .unwrap_or_else(|| panic!("no demo key in the banner:\n{}", server.banner));
        Api { server, key, dir }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    fn stderr(&self) -> String {
        self.server.stderr()
    }

    /// `tollgate ARGS --database <this server's>`.
    fn cli(&self, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["--database", &self.server.database]);
        last_line(&tollgate(self.dir.path(), &all))
    }

    /// A new key of `account` with `scopes`.
    fn new_key(&self, account: &str, scopes: &str) -> String {
        self.cli(&["keys", "create", "--account", account, "--scopes", scopes])
    }

    /// The account's balance, as `tollgate accounts show` prints it.
    fn balance(&self, account: &str) -> i64 {
        let args = ["accounts", "show", account, "--database"];
        let output = tollgate(
            self.dir.path(),
            &[&args[..], &[&self.server.database]].concat(),
        );
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("balance"))
            .and_then(|b| b.trim().parse().ok())
            .unwrap_or_else(|| panic!("no balance in {text}"))
    }
}

/// A `POST /v1/detections` body of `n` frames.
fn detection(session: &str, n: usize) -> Value {
    let frames: Vec<Value> = (0..n)
        .map(|i| json!({"t": i * 40, "brightness": if i % 2 == 0 { 110 } else { 130 }}))
        .collect();
    json!({"session_id": session, "model": "mixed-10-v2", "frames": frames})
}

/// The header `name` of a decoded error response, or "".
fn header<'a>(err: &'a Error, name: &str) -> &'a str {
    err.response()
        .and_then(|r| r.headers().get(name))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// How `catalog` writes `code` in `dialect`.
fn wire(catalog: &Catalog, code: &str, dialect: Dialect) -> String {
    catalog.get(code).unwrap().wire_code(dialect).into_owned()
}

/// Sends `request`, which must fail with an error status.
async fn send(request: impl RequestBuilderExt) -> Error {
    request.send_api().await.expect_err("an error status")
}

/// What the client must decode from one error response.
struct Expected<'a> {
    what: &'a str,
    status: u16,
    /// The catalog code; the client reads it as written in the dialect.
    code: &'a str,
    message: String,
}

/// `err` is the error `expected` describes, as the catalog writes it in
/// `dialect`, with the request id the server sent, after one attempt.
fn assert_decoded(err: &Error, dialect: Dialect, catalog: &Catalog, expected: &Expected<'_>) {
    let context = format!(
        "{dialect} {}: {err:?}\nbody: {}",
        expected.what,
        err.response()
            .map(|r| String::from_utf8_lossy(r.body()).into_owned())
            .unwrap_or_default()
    );
    let def = catalog.get(expected.code).expect("a catalog code");
    assert_eq!(def.status(), expected.status, "{context}");
    let response = err.response().unwrap_or_else(|| panic!("{context}"));
    assert_eq!(
        err.status().map(|s| s.as_u16()),
        Some(expected.status),
        "{context}"
    );
    let wire = def.wire_code(dialect);
    assert_eq!(err.code(), Some(wire.as_ref()), "{context}");
    assert_eq!(header(err, "x-error-code"), wire, "{context}");
    // The client's built-in catalog knows it by its catalog code.
    assert_eq!(
        response.decoded().catalog_code.as_deref(),
        Some(expected.code),
        "{context}"
    );
    assert_eq!(err.kind(), Some(def.kind()), "{context}");
    assert_eq!(err.message(), Some(expected.message.as_str()), "{context}");
    let sent = header(err, "x-request-id");
    assert!(!sent.is_empty(), "{context}");
    assert_eq!(err.request_id(), Some(sent), "{context}");
    assert_eq!(err.request_ids(), [sent], "{context}");
    assert_eq!(response.dialect(), dialect.name(), "{context}");
    assert_eq!(err.attempts().len(), 1, "not sent again: {context}");
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_dialects_errors_decode_to_the_catalogs_code_status_and_message() {
    let catalog = serve_catalog();
    let client = tollgate_client::client();
    for dialect in Dialect::ALL {
        let server = Api::start(&["--dialect", dialect.name()]);
        let key = server.key.as_str();
        // An account without credits, whose key may detect and read scans
        // but not scan.
        server.cli(&["accounts", "create", "broke"]);
        let broke = server.new_key("broke", "detections:write,scans:read");
        let check = |err: Error, expected: Expected<'_>| {
            assert_decoded(&err, dialect, &catalog, &expected);
        };
        let message = |code: &str, details: &[(&str, Value)]| {
            let mut err = catalog.error(code).unwrap();
            for (name, value) in details {
                err = err.with(*name, value.clone());
            }
            err.message().into_owned()
        };

        let err = send(
            client
                .get(server.url("/v1/scans/scan_nope"))
                .bearer_auth(key),
        )
        .await;
        let expected = Expected {
            what: "an unknown scan",
            status: 404,
            code: "not_found",
            message: message("not_found", &[]),
        };
        check(err, expected);

        // A request id of the caller's own comes back, in the body where
        // the dialect has a place for it.
        let err = send(
            client
                .get(server.url("/v1/scans/scan_nope"))
                .bearer_auth(key)
                .header("x-request-id", "client-chosen.1"),
        )
        .await;
        assert_eq!(err.request_id(), Some("client-chosen.1"), "{dialect}");
        let body = String::from_utf8_lossy(err.response().unwrap().body()).into_owned();
        let in_body = !matches!(
            dialect,
            Dialect::Detail | Dialect::Envelope | Dialect::Flat | Dialect::Stripe
        );
        assert_eq!(
            body.contains("client-chosen.1"),
            in_body,
            "{dialect}: {body}"
        );
        if dialect == Dialect::Stripe {
            assert_eq!(header(&err, "request-id"), "client-chosen.1");
        }

        // No body to read: the code and request id come from the headers.
        let err = send(
            client
                .head(server.url("/v1/scans/scan_nope"))
                .bearer_auth(key),
        )
        .await;
        assert_eq!(err.status().map(|s| s.as_u16()), Some(404), "{err:?}");
        let not_found = wire(&catalog, "not_found", dialect);
        assert_eq!(err.code(), Some(not_found.as_str()), "{err:?}");
        assert_eq!(err.request_id(), Some(header(&err, "x-request-id")));
        assert!(err.request_id().is_some(), "{err:?}");
        assert_eq!(err.attempts().len(), 1, "{err:?}");

        let err = send(client.get(server.url("/v1/scans/scan_nope"))).await;
        assert!(!header(&err, "www-authenticate").is_empty(), "{err:?}");
        let expected = Expected {
            what: "no key",
            status: 401,
            code: "invalid_key",
            message: message("invalid_key", &[]),
        };
        check(err, expected);

        let err = send(client.delete(server.url("/v1/scans")).bearer_auth(key)).await;
        assert_eq!(header(&err, "allow"), "POST", "{err:?}");
        let expected = Expected {
            what: "a method the route lacks",
            status: 405,
            code: "method_not_allowed",
            message: message("method_not_allowed", &[]),
        };
        check(err, expected);

        let err = send(
            client
                .post(server.url("/v1/scans"))
                .header("x-api-key", key)
                .json(&json!({})),
        )
        .await;
        let expected = Expected {
            what: "a scan without its image",
            status: 400,
            code: "missing_field",
            message: message("missing_field", &[("field", json!("image_data"))]),
        };
        check(err, expected);

        // The handler words this one itself, and names the field.
        let err = send(
            client
                .post(server.url("/v1/scans"))
                .header("x-api-key", key)
                .json(&json!({"image_data": "!!!"})),
        )
        .await;
        let expected = Expected {
            what: "an image that is not base64",
            status: 400,
            code: "validation_error",
            message: "image_data: must be the image's bytes in base64".to_owned(),
        };
        // The field comes back too, wherever the dialect has room for it:
        // `flat` has none, `envelope` no code per field.
        let violations: Vec<(&str, &str, &str)> = err
            .response()
            .map(|r| r.violations())
            .unwrap_or_default()
            .iter()
            .map(|v| (v.field.as_str(), v.code.as_str(), v.message.as_str()))
            .collect();
        let field = match dialect {
            Dialect::Flat => vec![],
            Dialect::Envelope => vec![("image_data", "", "must be the image's bytes in base64")],
            _ => vec![(
                "image_data",
                "invalid_value",
                "must be the image's bytes in base64",
            )],
        };
        assert_eq!(violations, field, "{dialect}");
        check(err, expected);

        let err = send(
            client
                .post(server.url("/v1/detections"))
                .header("x-api-key", broke.as_str())
                .json(&detection("s_1", 10)),
        )
        .await;
        let details = [("required", json!(1)), ("available", json!(0))];
        let expected = Expected {
            what: "a detection on an empty account",
            status: 402,
            code: "insufficient_credits",
            message: message("insufficient_credits", &details),
        };
        check(err, expected);

        let err = send(
            client
                .post(server.url("/v1/scans"))
                .header("x-api-key", broke.as_str())
                .json(&json!({"image_data": "AAAA"})),
        )
        .await;
        let expected = Expected {
            what: "a scan by a key without scans:write",
            status: 403,
            code: "insufficient_scope",
            message: message("insufficient_scope", &[("scope", json!("scans:write"))]),
        };
        check(err, expected);

        // The same Idempotency-Key with another body.
        let first = client
            .post(server.url("/v1/detections"))
            .header("x-api-key", key)
            .header("idempotency-key", "dialects-1")
            .json(&detection("s_1", 10))
            .send_api()
            .await
            .unwrap_or_else(|e| panic!("{dialect}: {e:?}\n{}", server.stderr()));
        assert_eq!(first.status(), 200, "{dialect}");
        let err = send(
            client
                .post(server.url("/v1/detections"))
                .header("x-api-key", key)
                .header("idempotency-key", "dialects-1")
                .json(&detection("s_2", 10)),
        )
        .await;
        let expected = Expected {
            what: "a reused Idempotency-Key",
            status: 422,
            code: "idempotency_key_reused",
            message: message("idempotency_key_reused", &[]),
        };
        check(err, expected);

        // A 503 asking for 30 s, more than this client waits: it stops at
        // once and says when to come back.
        let impatient = RetryPolicy::default().max_retry_after(Duration::from_secs(5));
        let err = send(
            client
                .post(server.url("/v1/scans"))
                .header("x-api-key", key)
                .header("idempotency-key", "dialects-2")
                .header("x-simulate", "model-unavailable")
                .json(&json!({"image_data": "AAAA"}))
                .with_extension(impatient),
        )
        .await;
        let stop = StopReason::RetryAfterTooLong {
            asked: MODEL_RETRY_AFTER,
            max: Duration::from_secs(5),
        };
        assert_eq!(err.stop(), Some(&stop), "{err:?}");
        assert_eq!(err.retry_after(), Some(MODEL_RETRY_AFTER), "{dialect}");
        let expected = Expected {
            what: "an unavailable model",
            status: 503,
            code: "upstream_unavailable",
            message: message("upstream_unavailable", &[]),
        };
        check(err, expected);

        // The per-key limit, spent by 404s; retries off to see the 429.
        let once = || {
            client
                .get(server.url("/v1/scans/scan_nope"))
                .header("x-api-key", broke.as_str())
                .with_extension(RetryPolicy::disabled())
        };
        let mut limited = None;
        for _ in 0..PER_KEY_CALLS + 50 {
            let err = send(once()).await;
            if err.status().is_some_and(|s| s.as_u16() == 429) {
                limited = Some(err);
                break;
            }
            let not_found = wire(&catalog, "not_found", dialect);
            assert_eq!(err.code(), Some(not_found.as_str()), "{err:?}");
        }
        let err = limited.expect("a 429 within 150 calls");
        assert_eq!(header(&err, "retry-after"), "1", "{dialect}");
        assert_eq!(err.retry_after(), Some(RATE_LIMIT_WAIT), "{dialect}");
        let details = [("limit", json!(PER_KEY_CALLS)), ("window", json!(60))];
        let expected = Expected {
            what: "a spent rate limit",
            status: 429,
            code: "rate_limit_exceeded",
            message: message("rate_limit_exceeded", &details),
        };
        check(err, expected);

        // Only the one detection that succeeded was paid for.
        assert_eq!(server.balance("demo"), 999, "{dialect}");
        assert_eq!(server.balance("broke"), 0, "{dialect}");
    }
}

/// serve allows a key 100 calls at once, then one per 0.6 s: the call past
/// them is answered 429 with `Retry-After: 1`, which the client waits before
/// sending it again. A POST refused by a rate limit was not acted on, so it
/// is retried without an Idempotency-Key, and charged only once it passes.
#[tokio::test]
async fn a_burst_past_the_per_key_limit_waits_what_retry_after_asked_then_succeeds() {
    let server = Api::start(&[]);
    let catalog = serve_catalog();
    // A key of its own: a bucket nothing else has spent.
    let key = server.new_key("demo", "detections:write");
    let url = server.url("/v1/detections");
    let client = tollgate_client::client();
    let before = server.balance("demo");
    let detect = || {
        client
            .post(&url)
            .header("x-api-key", key.as_str())
            .json(&detection("burst", 10))
    };

    let mut retried = None;
    for n in 0..PER_KEY_CALLS + 50 {
        let sent = Instant::now();
        let response = detect()
            .send_api()
            .await
            .unwrap_or_else(|e| panic!("call {n}: {e:?}\n{}", server.stderr()));
        let took = sent.elapsed();
        assert_eq!(response.status(), 200, "call {n}");
        if response.attempts().len() > 1 {
            retried = Some((n, took, response));
            break;
        }
    }
    let (n, took, response) = retried.expect("a 429 within 150 calls");
    assert!(
        n >= PER_KEY_CALLS,
        "the first {PER_KEY_CALLS} calls pass at once, yet call {n} was refused"
    );
    let attempts = response.attempts();
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let (refused, passed) = (&attempts[0], &attempts[1]);
    assert_eq!(refused.status(), Some(429), "{attempts:#?}");
    assert_eq!(refused.code(), Some("rate_limit_exceeded"), "{attempts:#?}");
    assert_eq!(refused.delay(), Some(RATE_LIMIT_WAIT), "{attempts:#?}");
    assert_eq!(passed.status(), Some(200), "{attempts:#?}");
    assert_eq!(passed.delay(), None, "{attempts:#?}");
    assert!(passed.started() >= RATE_LIMIT_WAIT, "{attempts:#?}");
    assert!(
        // The wait is exact above; a loaded machine's debug server may take
        // seconds to answer.
        took >= RATE_LIMIT_WAIT && took < RATE_LIMIT_WAIT + Duration::from_secs(10),
        "the call took {took:?}; its 429 asked for {RATE_LIMIT_WAIT:?}"
    );
    let ids = [refused.request_id(), passed.request_id()];
    assert!(ids.iter().all(Option::is_some), "{attempts:#?}");
    assert_ne!(ids[0], ids[1], "each attempt has its own request id");
    // Every call passed once, and the refused attempt was not charged.
    assert_eq!(server.balance("demo"), before - (n as i64 + 1));

    // With retries off, the next refusal shows what the server said.
    let mut refusal = None;
    for _ in 0..10 {
        match detect()
            .with_extension(RetryPolicy::disabled())
            .send_api()
            .await
        {
            Ok(response) => assert_eq!(response.status(), 200),
            Err(err) => {
                refusal = Some(err);
                break;
            }
        }
    }
    let err = refusal.expect("the limit is still spent");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(429), "{err:?}");
    assert_eq!(header(&err, "retry-after"), "1", "{err:?}");
    assert_eq!(err.retry_after(), Some(RATE_LIMIT_WAIT), "{err:?}");
    assert_eq!(err.attempts().len(), 1, "{err:?}");
    assert_eq!(err.stop(), Some(&StopReason::Disabled), "{err:?}");
    assert_eq!(err.code(), Some("rate_limit_exceeded"), "{err:?}");
    let message = catalog
        .error("rate_limit_exceeded")
        .unwrap()
        .with("limit", PER_KEY_CALLS)
        .with("window", 60)
        .message()
        .into_owned();
    assert_eq!(err.message(), Some(message.as_str()), "{err:?}");
    assert_eq!(err.request_id(), Some(header(&err, "x-request-id")));
}

/// The same POST sent twice with one Idempotency-Key: the second answer is
/// the first one replayed, and the account is charged once.
#[tokio::test]
async fn a_post_replayed_with_its_idempotency_key_is_charged_once() {
    let server = Api::start(&["--dialect", "envelope"]);
    let url = server.url("/v1/detections");
    let client = tollgate_client::client();
    let before = server.balance("demo");
    let detect = |idempotency_key: &str| {
        client
            .post(&url)
            .bearer_auth(&server.key)
            .header("idempotency-key", idempotency_key)
            .json(&detection("s_replay", 10))
            .send_api()
    };

    let first = detect("replay-1")
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", server.stderr()));
    assert_eq!(first.status(), 200);
    assert_eq!(first.attempts().len(), 1);
    assert!(
        first.headers().get("idempotent-replayed").is_none(),
        "{:?}",
        first.headers()
    );
    let created: Value = first.json_data().await.unwrap();
    assert!(created["id"].is_string(), "{created}");
    assert_eq!(server.balance("demo"), before - 1);

    let again = detect("replay-1").await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.attempts().len(), 1);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true"),
        "{:?}",
        again.headers()
    );
    let replayed: Value = again.json_data().await.unwrap();
    assert_eq!(replayed, created, "the first answer, replayed");
    assert_eq!(server.balance("demo"), before - 1, "charged once");

    // Another key is another detection.
    let other: Value = detect("replay-2").await.unwrap().json_data().await.unwrap();
    assert_ne!(other["id"], created["id"]);
    assert_eq!(server.balance("demo"), before - 2);
}

/// A scan the server cuts off at its deadline (504 `timeout`) is transient:
/// the client sends it again with the Idempotency-Key it made for it, and
/// no attempt is charged (a dropped request gives its credit back).
#[tokio::test]
async fn a_post_timed_out_by_the_server_is_retried_with_its_key_and_not_charged() {
    let server = Api::start(&["--timeout", "300ms"]);
    let catalog = serve_catalog();
    let client = tollgate_client::client_with(
        RetryPolicy::default()
            .auto_idempotency(true)
            .max_attempts(3)
            .backoff(Duration::from_millis(10), Duration::from_millis(50)),
    );
    let before = server.balance("demo");
    let err = client
        .post(server.url("/v1/scans"))
        .header("x-api-key", server.key.as_str())
        .header("x-simulate", "model-timeout")
        .json(&json!({"image_data": "AAAA"}))
        .send_api()
        .await
        .expect_err("the model never answers");
    assert_eq!(err.stop(), Some(&StopReason::MaxAttempts(3)), "{err:?}");
    // A retry that comes before the cut-off request's key is freed (on a
    // task of its own, after the 504) is told the key is in use: a 409
    // asking for a second's wait, the request not run twice.
    let statuses: Vec<_> = err.attempts().iter().map(|a| a.status()).collect();
    assert_eq!(statuses[0], Some(504), "{err:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, Some(504 | 409))),
        "{err:?}"
    );
    let key = err.idempotency_key().expect("a key made for the POST");
    assert!(uuid::Uuid::parse_str(key).is_ok(), "{key}");
    let (code, status) = match err.status().map(|s| s.as_u16()) {
        Some(409) => ("idempotency_key_in_use", 409),
        _ => ("timeout", 504),
    };
    let message = catalog.error(code).unwrap().message().into_owned();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(status), "{err:?}");
    assert_eq!(err.code(), Some(code), "{err:?}");
    assert_eq!(err.message(), Some(message.as_str()), "{err:?}");
    assert_eq!(err.request_id(), Some(header(&err, "x-request-id")));
    assert_eq!(err.request_ids().len(), 3, "{err:?}");
    // The refunds of the dropped requests are written on tasks of their own.
    let deadline = Instant::now() + Duration::from_secs(3);
    while server.balance("demo") != before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.balance("demo"), before, "no attempt is charged");
}

/// A 4096 × 4096 checkerboard PNG: the largest image serve takes, slow
/// enough to decode that a second request arrives while it runs.
fn large_png() -> Vec<u8> {
    let side = 4096;
    let data: Vec<u8> = (0..side * side)
        .map(|i| {
            if (i % side + i / side) % 2 == 0 {
                0
            } else {
                255
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&data)
        .unwrap();
    out
}

/// The same scan sent again with its Idempotency-Key while the first is
/// still running: the server answers 409 `idempotency_key_in_use`, the
/// client waits and sends it again, and gets the first one's answer
/// replayed. One scan, one credit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_sent_again_while_its_key_is_in_use_gets_the_first_answer_replayed() {
    use base64::Engine as _;
    let server = Api::start(&[]);
    let image = base64::engine::general_purpose::STANDARD.encode(large_png());
    let body = json!({ "image_data": image });
    // Attempts enough to outwait the first scan on a loaded machine, where
    // it can take seconds: the default four give up after about three.
    let client = tollgate_client::client_with(
        RetryPolicy::default()
            .in_use_delay(Duration::from_millis(200))
            .max_attempts(30),
    );
    let before = server.balance("demo");
    let scan = || {
        client
            .post(server.url("/v1/scans"))
            .header("x-api-key", server.key.as_str())
            .header("idempotency-key", "in-use-1")
            .json(&body)
            .send_api()
    };
    let first = scan();
    let second = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        scan().await
    };
    let (first, second) = tokio::join!(first, second);
    let first = first.unwrap_or_else(|e| panic!("{e:?}\n{}", server.stderr()));
    let second = second.unwrap_or_else(|e| panic!("{e:?}\n{}", server.stderr()));
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    // A scan of this image takes about half a second in a debug build; on a
    // machine fast enough to finish it within 50 ms, the second request
    // finds the answer kept and is replayed at once.
    let attempts = second.attempts();
    let (last, waited) = attempts.split_last().unwrap();
    assert_eq!(last.status(), Some(201), "{attempts:#?}");
    for attempt in waited {
        assert_eq!(attempt.status(), Some(409), "{attempts:#?}");
        assert_eq!(
            attempt.code(),
            Some("idempotency_key_in_use"),
            "{attempts:#?}"
        );
        // The 409's `Retry-After: 1` wins over the policy's 200 ms, which
        // is for a 409 without a hint.
        assert_eq!(attempt.delay(), Some(IN_USE_WAIT), "{attempts:#?}");
    }
    let first: Value = first.json().await.unwrap();
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second, "the first answer, replayed");
    assert_eq!(server.balance("demo"), before - 1, "one scan, one credit");
}
