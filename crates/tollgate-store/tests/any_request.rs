//! Hostile and malformed requests through the whole HTTP stack: an axum app
//! as the crate's docs assemble it (`tollgate-axum`'s layer outermost, with a
//! body limit and a deadline; per route, with `route_layer`, a scope, a cost
//! and idempotency; the idempotency layer with a body limit of its own) over
//! a SQLite store, sent sequences of requests built from good, revoked,
//! suspended, unknown and malformed keys (odd-cased schemes, junk, bytes
//! that are not ASCII, very long values, several `Authorization` or
//! `X-API-Key` lines), `Idempotency-Key` values good, hostile, too long,
//! sent twice, reused with the same or another body, and bodies valid,
//! malformed, not UTF-8, mistyped, over either limit.
//!
//! Every answer is checked against a model of what the docs promise: its
//! status and catalog code (no panic, and a 500 only from the route made to
//! fail); every error in the catalog's envelope, read back with
//! `Catalog::decode`, and every 401 with `WWW-Authenticate`; a replay of an
//! idempotency key with the same request gives the first answer again
//! (byte for byte for a success), marked `Idempotent-Replayed`, and nothing
//! else is so marked; and after every request each account's balance is its
//! initial one less the cost of the requests answered with success that
//! were no replays. `PROPTEST_CASES` sets the number of sequences (default 96).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::routing::{get, post};
use common::{Kind, TestDb};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate::{Catalog, Decoded, Dialect};
use tollgate_axum::{HandlerError, Json, Reply, Tollgate};
use tollgate_store::{Gatekeeper, Idempotency, NewAccount, NewKey};
use tower::ServiceExt;

/// `tollgate-axum`'s body limit.
const OUTER_LIMIT: usize = 8192;
/// The idempotency layer's body limit: smaller, so that a body between the
/// two is refused only where that layer buffers it.
const IDEMPOTENCY_LIMIT: usize = 4096;
/// The scan name the handler answers `conflict` to (a stored error).
const TAKEN: &str = "taken";

// ---- the app ------------------------------------------------------------

#[derive(Deserialize)]
struct NewScan {
    name: String,
}

/// Counts the handlers' runs: a success's body names its run, so a request
/// run twice cannot pass for a replay.
#[derive(Clone, Default)]
struct Runs(Arc<AtomicU64>);

impl Runs {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

async fn create_scan(
    State(runs): State<Runs>,
    Json(scan): Json<NewScan>,
) -> Result<(StatusCode, Reply<Value>), HandlerError> {
    if scan.name == TAKEN {
        let err = Catalog::builtin_ref()
            .error("conflict")
            .expect("a built-in code");
        return Err(err.into());
    }
    let run = runs.next();
    Ok((
        StatusCode::CREATED,
        Reply(json!({"scan": run, "name_len": scan.name.len()})),
    ))
}

async fn create_order(State(runs): State<Runs>, body: Bytes) -> (StatusCode, Reply<Value>) {
    let run = runs.next();
    (
        StatusCode::CREATED,
        Reply(json!({"order": run, "bytes": body.len()})),
    )
}

async fn list_scans(State(runs): State<Runs>) -> Reply<Value> {
    Reply(json!({"runs": runs.0.load(Ordering::SeqCst)}))
}

async fn fail() -> Result<&'static str, HandlerError> {
    Err(std::io::Error::other("the disk is full"))?
}

async fn admin() -> &'static str {
    "admin"
}

fn app(gate: &Gatekeeper) -> Router {
    let routes = Router::new()
        .route(
            "/v1/scans",
            post(create_scan).route_layer(
                gate.route()
                    .scope("scans:write")
                    .cost(Route::CreateScan.cost())
                    .idempotency(Idempotency::Optional),
            ),
        )
        .route(
            "/v1/scans",
            get(list_scans).route_layer(
                gate.route()
                    .scope("scans:read")
                    .cost(Route::ListScans.cost()),
            ),
        )
        .route(
            "/v1/orders",
            post(create_order).route_layer(
                gate.route()
                    .scope("scans:write")
                    .cost(Route::CreateOrder.cost())
                    .idempotency(Idempotency::Required),
            ),
        )
        .route(
            "/v1/fail",
            get(fail).route_layer(gate.route().scope("scans:read").cost(Route::Fail.cost())),
        )
        .route(
            "/v1/admin",
            post(admin).route_layer(
                gate.route()
                    .scope("admin")
                    .cost(Route::Admin.cost())
                    .idempotency(Idempotency::Optional),
            ),
        )
        .with_state(Runs::default());
    let tollgate = Tollgate::new(Catalog::builtin())
        .dialect(Dialect::Problem)
        .body_limit(OUTER_LIMIT)
        .timeout(Duration::from_secs(30));
    routes.layer(tollgate.layer())
}

// ---- keys and accounts --------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyState {
    Active,
    Revoked,
    /// Its account is suspended.
    Suspended,
}

struct KeySpec {
    account: &'static str,
    scopes: &'static [&'static str],
    state: KeyState,
}

const KEYS: [KeySpec; 5] = [
    KeySpec {
        account: "acme",
        scopes: &["scans:read", "scans:write"],
        state: KeyState::Active,
    },
    KeySpec {
        account: "acme",
        scopes: &["scans:read"],
        state: KeyState::Active,
    },
    KeySpec {
        account: "globex",
        scopes: &["scans:read", "scans:write"],
        state: KeyState::Active,
    },
    KeySpec {
        account: "acme",
        scopes: &["scans:read", "scans:write"],
        state: KeyState::Revoked,
    },
    KeySpec {
        account: "initech",
        scopes: &["scans:read", "scans:write"],
        state: KeyState::Suspended,
    },
];

const ACCOUNTS: [&str; 3] = ["acme", "globex", "initech"];

/// A key index, mostly the first (which may do everything but `admin`).
fn key() -> impl Strategy<Value = usize> {
    prop_oneof![8 => Just(0usize), 3 => 0..KEYS.len()]
}

// ---- requests -----------------------------------------------------------

/// A value that is no key.
#[derive(Clone, Debug)]
enum Junk {
    Empty,
    Spaces,
    /// Well-formed, of no stored key.
    Unknown,
    /// A stored key's id with another secret.
    WrongSecret(usize),
    Text(String),
    /// Bytes a header may carry that are not ASCII.
    NotAscii(Vec<u8>),
    Long(usize),
}

impl Junk {
    fn bytes(&self, secrets: &[String]) -> Vec<u8> {
        match self {
            Junk::Empty => Vec::new(),
            Junk::Spaces => b"   ".to_vec(),
            Junk::Unknown => format!("tg_live_{}", "A".repeat(44)).into_bytes(),
            Junk::WrongSecret(k) => {
                let mut secret = secrets[*k].clone().into_bytes();
                let last = secret.last_mut().expect("a secret");
                *last = if *last == b'a' { b'b' } else { b'a' };
                secret
            }
            Junk::Text(text) => text.clone().into_bytes(),
            Junk::NotAscii(bytes) => bytes.clone(),
            Junk::Long(n) => format!("tg_live_{}", "x".repeat(*n)).into_bytes(),
        }
    }

    /// Trimmed to nothing: `X-API-Key` then falls back to `Authorization`.
    fn blank(&self) -> bool {
        matches!(self, Junk::Empty | Junk::Spaces)
    }
}

fn junk() -> BoxedStrategy<Junk> {
    prop_oneof![
        Just(Junk::Empty),
        Just(Junk::Spaces),
        Just(Junk::Unknown),
        (0..KEYS.len()).prop_map(Junk::WrongSecret),
        "[!-~]{1,40}".prop_map(Junk::Text),
        proptest::collection::vec(0x80u8..=0xff, 1..12).prop_map(Junk::NotAscii),
        prop_oneof![Just(300usize), Just(8000), Just(20_000)].prop_map(Junk::Long),
    ]
    .boxed()
}

/// What a request presents as its key.
#[derive(Clone, Debug)]
enum Cred {
    None,
    /// `Authorization: <scheme><spaces><key>`, the scheme `Bearer` in some case.
    Bearer {
        key: usize,
        scheme: &'static str,
        spaces: usize,
        padded: bool,
    },
    XApiKey {
        key: usize,
        padded: bool,
    },
    BearerJunk(Junk),
    /// `X-API-Key` junk, perhaps with a good `Authorization: Bearer`.
    XApiKeyJunk {
        junk: Junk,
        bearer: Option<usize>,
    },
    /// A good `X-API-Key` with junk in `Authorization`: `X-API-Key` wins.
    XApiKeyOverJunk {
        key: usize,
        junk: Junk,
    },
    /// Two good keys: `X-API-Key` wins over `Authorization`.
    BothKeys {
        x_api_key: usize,
        bearer: usize,
    },
    /// A good key under another scheme, or no space after `Bearer`.
    OtherScheme {
        key: usize,
        scheme: &'static str,
    },
    /// Two `Authorization` lines of one good key, perhaps a good `X-API-Key` too.
    TwoAuthorization {
        key: usize,
        x_api_key: bool,
    },
    TwoXApiKeys {
        key: usize,
    },
}

fn cred() -> BoxedStrategy<Cred> {
    let scheme = prop_oneof![
        Just("Bearer"),
        Just("bearer"),
        Just("BEARER"),
        Just("bEaReR")
    ];
    prop_oneof![
        1 => Just(Cred::None),
        12 => (key(), scheme, 1..4usize, any::<bool>()).prop_map(|(key, scheme, spaces, padded)| {
            Cred::Bearer { key, scheme, spaces, padded }
        }),
        8 => (key(), any::<bool>()).prop_map(|(key, padded)| Cred::XApiKey { key, padded }),
        2 => junk().prop_map(Cred::BearerJunk),
        2 => (junk(), proptest::option::of(key()))
            .prop_map(|(junk, bearer)| Cred::XApiKeyJunk { junk, bearer }),
        1 => (key(), junk()).prop_map(|(key, junk)| Cred::XApiKeyOverJunk { key, junk }),
        1 => (key(), key()).prop_map(|(x_api_key, bearer)| Cred::BothKeys { x_api_key, bearer }),
        1 => (
            key(),
            prop_oneof![Just("Basic "), Just("Token "), Just("Bearer:"), Just("Bearer"), Just("Bearer\t"), Just("")]
        )
            .prop_map(|(key, scheme)| Cred::OtherScheme { key, scheme }),
        1 => (key(), any::<bool>())
            .prop_map(|(key, x_api_key)| Cred::TwoAuthorization { key, x_api_key }),
        1 => key().prop_map(|key| Cred::TwoXApiKeys { key }),
    ]
    .boxed()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Route {
    /// `POST /v1/scans`: `scans:write`, idempotency optional, a JSON body.
    CreateScan,
    /// `GET /v1/scans`: `scans:read`.
    ListScans,
    /// `POST /v1/orders`: `scans:write`, idempotency required, any body.
    CreateOrder,
    /// `GET /v1/fail`: `scans:read`; the handler fails (500).
    Fail,
    /// `POST /v1/admin`: a scope no key has.
    Admin,
}

impl Route {
    fn method(self) -> Method {
        match self {
            Route::ListScans | Route::Fail => Method::GET,
            _ => Method::POST,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Route::CreateScan | Route::ListScans => "/v1/scans",
            Route::CreateOrder => "/v1/orders",
            Route::Fail => "/v1/fail",
            Route::Admin => "/v1/admin",
        }
    }

    fn scope(self) -> &'static str {
        match self {
            Route::CreateScan | Route::CreateOrder => "scans:write",
            Route::ListScans | Route::Fail => "scans:read",
            Route::Admin => "admin",
        }
    }

    fn cost(self) -> i64 {
        match self {
            Route::CreateScan => 2,
            Route::ListScans | Route::CreateOrder | Route::Fail | Route::Admin => 1,
        }
    }

    fn idempotency(self) -> Idempotency {
        match self {
            Route::CreateScan | Route::Admin => Idempotency::Optional,
            Route::CreateOrder => Idempotency::Required,
            Route::ListScans | Route::Fail => Idempotency::Off,
        }
    }
}

fn route() -> BoxedStrategy<Route> {
    prop_oneof![
        6 => Just(Route::CreateScan),
        2 => Just(Route::ListScans),
        3 => Just(Route::CreateOrder),
        1 => Just(Route::Fail),
        1 => Just(Route::Admin),
    ]
    .boxed()
}

/// Good idempotency keys: 1–255 visible ASCII characters.
fn idempotency_key(i: usize) -> String {
    match i {
        0 => "order-1".to_owned(),
        1 => "order-2".to_owned(),
        2 => r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##.to_owned(),
        _ => "k".repeat(255),
    }
}

#[derive(Clone, Debug)]
enum Idem {
    None,
    Key(usize),
    /// Two lines, good keys each.
    Twice(usize, usize),
    Empty,
    /// Visible ASCII but for a space or a tab.
    Blank(&'static str),
    NotAscii(Vec<u8>),
    TooLong,
}

fn idem() -> BoxedStrategy<Idem> {
    prop_oneof![
        3 => Just(Idem::None),
        8 => prop_oneof![3 => 0..2usize, 1 => 0..4usize].prop_map(Idem::Key),
        1 => (0..4usize, 0..4usize).prop_map(|(a, b)| Idem::Twice(a, b)),
        1 => Just(Idem::Empty),
        1 => prop_oneof![Just("order 1"), Just("order\t1"), Just(" ")].prop_map(Idem::Blank),
        1 => proptest::collection::vec(0x80u8..=0xff, 1..8).prop_map(Idem::NotAscii),
        1 => Just(Idem::TooLong),
    ]
    .boxed()
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Payload {
    /// `{"name": …}`: a scan (`taken` is refused as a conflict).
    Scan(&'static str),
    /// A scan whose name makes the body `len` bytes long.
    Sized(usize),
    Empty,
    Malformed(&'static str),
    /// Valid JSON of the wrong shape.
    Mistyped(&'static str),
    /// Not UTF-8.
    NotUtf8,
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Scan(name) => format!(r#"{{"name":"{name}"}}"#).into_bytes(),
            Payload::Sized(len) => {
                let frame = r#"{"name":""}"#.len();
                format!(r#"{{"name":"{}"}}"#, "n".repeat(len - frame)).into_bytes()
            }
            Payload::Empty => Vec::new(),
            Payload::Malformed(text) | Payload::Mistyped(text) => text.as_bytes().to_vec(),
            Payload::NotUtf8 => b"{\"name\":\"\xff\xfe\"}".to_vec(),
            Payload::Bytes(bytes) => bytes.clone(),
        }
    }

    /// A valid scan, the name given.
    fn scan_name(&self) -> Option<&str> {
        match self {
            Payload::Scan(name) => Some(name),
            Payload::Sized(_) => Some("n"),
            _ => None,
        }
    }
}

fn payload() -> BoxedStrategy<Payload> {
    prop_oneof![
        8 => prop_oneof![Just("a"), Just("b"), Just(TAKEN)].prop_map(Payload::Scan),
        2 => prop_oneof![
            Just(IDEMPOTENCY_LIMIT),
            Just(IDEMPOTENCY_LIMIT + 1),
            Just(6000usize),
            Just(OUTER_LIMIT),
            Just(OUTER_LIMIT + 1),
            Just(20_000),
        ]
        .prop_map(Payload::Sized),
        1 => Just(Payload::Empty),
        1 => prop_oneof![Just("{"), Just(r#"{"name":"a""#), Just("nul"), Just(r#"{"name":"a"} x"#)]
            .prop_map(Payload::Malformed),
        1 => prop_oneof![Just("{}"), Just("[1]"), Just(r#"{"name":1}"#), Just("null")]
            .prop_map(Payload::Mistyped),
        1 => Just(Payload::NotUtf8),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Payload::Bytes),
    ]
    .boxed()
}

/// A request, or one sent before sent again (a retry), perhaps changed.
#[derive(Clone, Debug)]
enum Step {
    New(Req),
    Again {
        of: prop::sample::Index,
        change: Change,
    },
}

#[derive(Clone, Debug)]
enum Change {
    Nothing,
    Cred(Cred),
    Payload(Payload),
    ContentType(Option<&'static str>),
    Declared(bool),
    Query(Option<&'static str>),
}

fn step() -> BoxedStrategy<Step> {
    let change = prop_oneof![
        4 => Just(Change::Nothing),
        1 => cred().prop_map(Change::Cred),
        2 => payload().prop_map(Change::Payload),
        1 => prop_oneof![Just(None), Just(Some("application/json")), Just(Some("text/plain"))]
            .prop_map(Change::ContentType),
        1 => any::<bool>().prop_map(Change::Declared),
        1 => prop_oneof![Just(None), Just(Some("dry_run=1"))].prop_map(Change::Query),
    ];
    prop_oneof![
        1 => req().prop_map(Step::New),
        1 => (any::<prop::sample::Index>(), change).prop_map(|(of, change)| Step::Again { of, change }),
    ]
    .boxed()
}

/// The requests of `steps`, a retry a copy of an earlier request.
fn requests(steps: Vec<Step>) -> Vec<Req> {
    let mut sent: Vec<Req> = Vec::new();
    for step in steps {
        let req = match step {
            Step::New(req) => req,
            Step::Again { .. } if sent.is_empty() => continue,
            Step::Again { of, change } => {
                let mut req = sent[of.index(sent.len())].clone();
                match change {
                    Change::Nothing => {}
                    Change::Cred(cred) => req.cred = cred,
                    Change::Payload(payload) => req.payload = payload,
                    Change::ContentType(content_type) => req.content_type = content_type,
                    Change::Declared(declared) => req.declared = declared,
                    Change::Query(query) => req.query = query,
                }
                req
            }
        };
        sent.push(req);
    }
    sent
}

#[derive(Clone, Debug)]
struct Req {
    cred: Cred,
    route: Route,
    idem: Idem,
    payload: Payload,
    /// `Content-Type`: JSON, none, or text.
    content_type: Option<&'static str>,
    /// Whether `Content-Length` is sent (the body's true length).
    declared: bool,
    /// A query string, part of what makes two requests the same.
    query: Option<&'static str>,
}

fn req() -> BoxedStrategy<Req> {
    let content_type = prop_oneof![
        6 => Just(Some("application/json")),
        1 => Just(Some("application/json; charset=utf-8")),
        1 => Just(None),
        1 => Just(Some("text/plain")),
    ];
    let query = prop_oneof![
        6 => Just(None),
        1 => Just(Some("dry_run=1")),
        1 => Just(Some("name=%FF%00&name=..")),
    ];
    (
        cred(),
        route(),
        idem(),
        payload(),
        content_type,
        any::<bool>(),
        query,
    )
        .prop_map(
            |(cred, route, idem, payload, content_type, declared, query)| Req {
                cred,
                route,
                idem,
                payload,
                content_type,
                declared,
                query,
            },
        )
        .boxed()
}

fn value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("a header value")
}

fn bearer(scheme: &str, spaces: usize, key: &str, padded: bool) -> HeaderValue {
    let pad = if padded { "  " } else { "" };
    value(format!("{pad}{scheme}{}{key}{pad}", " ".repeat(spaces)).as_bytes())
}

impl Req {
    fn build(&self, secrets: &[String]) -> Request<Body> {
        let mut request = Request::builder()
            .method(self.route.method())
            .uri(match self.query {
                Some(query) => format!("{}?{query}", self.route.path()),
                None => self.route.path().to_owned(),
            });
        let headers = request.headers_mut().expect("a valid request");
        let auth = header::AUTHORIZATION;
        match &self.cred {
            Cred::None => {}
            Cred::Bearer {
                key,
                scheme,
                spaces,
                padded,
            } => {
                headers.append(&auth, bearer(scheme, *spaces, &secrets[*key], *padded));
            }
            Cred::XApiKey { key, padded } => {
                let pad = if *padded { " " } else { "" };
                let key = format!("{pad}{}{pad}", secrets[*key]);
                headers.append("x-api-key", value(key.as_bytes()));
            }
            Cred::BearerJunk(junk) => {
                let mut line = b"Bearer ".to_vec();
                line.extend(junk.bytes(secrets));
                headers.append(&auth, value(&line));
            }
            Cred::XApiKeyJunk { junk, bearer: key } => {
                headers.append("x-api-key", value(&junk.bytes(secrets)));
                if let Some(key) = key {
                    headers.append(&auth, bearer("Bearer", 1, &secrets[*key], false));
                }
            }
            Cred::XApiKeyOverJunk { key, junk } => {
                headers.append("x-api-key", value(secrets[*key].as_bytes()));
                let mut line = b"Bearer ".to_vec();
                line.extend(junk.bytes(secrets));
                headers.append(&auth, value(&line));
            }
            Cred::BothKeys {
                x_api_key,
                bearer: key,
            } => {
                headers.append("x-api-key", value(secrets[*x_api_key].as_bytes()));
                headers.append(&auth, bearer("Bearer", 1, &secrets[*key], false));
            }
            Cred::OtherScheme { key, scheme } => {
                headers.append(
                    &auth,
                    value(format!("{scheme}{}", secrets[*key]).as_bytes()),
                );
            }
            Cred::TwoAuthorization { key, x_api_key } => {
                headers.append(&auth, bearer("Bearer", 1, &secrets[*key], false));
                headers.append(&auth, bearer("Bearer", 1, &secrets[*key], false));
                if *x_api_key {
                    headers.append("x-api-key", value(secrets[*key].as_bytes()));
                }
            }
            Cred::TwoXApiKeys { key } => {
                headers.append("x-api-key", value(secrets[*key].as_bytes()));
                headers.append("x-api-key", value(secrets[*key].as_bytes()));
            }
        }
        let idem = "idempotency-key";
        match &self.idem {
            Idem::None => {}
            Idem::Key(i) => {
                headers.append(idem, value(idempotency_key(*i).as_bytes()));
            }
            Idem::Twice(a, b) => {
                headers.append(idem, value(idempotency_key(*a).as_bytes()));
                headers.append(idem, value(idempotency_key(*b).as_bytes()));
            }
            Idem::Empty => {
                headers.append(idem, value(b""));
            }
            Idem::Blank(text) => {
                headers.append(idem, value(text.as_bytes()));
            }
            Idem::NotAscii(bytes) => {
                headers.append(idem, value(bytes));
            }
            Idem::TooLong => {
                headers.append(idem, value("k".repeat(256).as_bytes()));
            }
        }
        let body = self.payload.bytes();
        if let Some(content_type) = self.content_type {
            headers.append(header::CONTENT_TYPE, value(content_type.as_bytes()));
        }
        if self.declared {
            headers.append(header::CONTENT_LENGTH, body.len().into());
        }
        request.body(Body::from(body)).expect("a valid request")
    }

    /// The key the request authenticates with, or the refusal (status, code).
    fn presented(&self) -> Result<usize, (u16, &'static str)> {
        const INVALID: (u16, &str) = (401, "invalid_key");
        let key = match &self.cred {
            Cred::Bearer { key, .. } | Cred::XApiKey { key, .. } => *key,
            Cred::XApiKeyOverJunk { key, .. } => *key,
            Cred::BothKeys { x_api_key, .. } => *x_api_key,
            Cred::XApiKeyJunk {
                junk,
                bearer: Some(key),
            } if junk.blank() => *key,
            _ => return Err(INVALID),
        };
        match KEYS[key].state {
            KeyState::Active => Ok(key),
            KeyState::Revoked => Err((401, "deactivated_key")),
            KeyState::Suspended => Err((402, "account_suspended")),
        }
    }

    /// The idempotency key the layer reads: `Ok(None)` when it reads none.
    fn idempotency_key(&self) -> Result<Option<String>, (u16, &'static str)> {
        let mode = self.route.idempotency();
        if mode == Idempotency::Off || self.route.method() != Method::POST {
            return Ok(None);
        }
        match &self.idem {
            Idem::None if mode == Idempotency::Required => Err((400, "missing_field")),
            Idem::None => Ok(None),
            Idem::Key(i) => Ok(Some(idempotency_key(*i))),
            _ => Err((400, "validation_error")),
        }
    }
}

// ---- the model ----------------------------------------------------------

/// What a request with a given idempotency key was: its route, query and
/// body (not its `Content-Type`).
type Fingerprint = (Route, Option<&'static str>, Vec<u8>);

/// A stored answer to an idempotency key.
#[derive(Clone, Debug)]
struct Record {
    fingerprint: Fingerprint,
    status: u16,
    /// The body of a success, replayed byte for byte.
    body: Option<Bytes>,
    /// The code of an error, rendered again for each replay.
    code: Option<String>,
}

/// What the model expects of a request.
#[derive(Debug)]
enum Expected {
    /// Refused with one of `codes`, and these details: never charged,
    /// never stored.
    Refused {
        status: u16,
        codes: Vec<&'static str>,
        details: Vec<(&'static str, Value)>,
    },
    /// The stored answer again, charged nothing.
    Replay(Record),
    /// The handler runs.
    Runs {
        status: u16,
        codes: &'static [&'static str],
        account: &'static str,
        cost: i64,
        /// Where the answer is stored: the key's index and the idempotency key.
        stored: Option<((usize, String), Fingerprint)>,
    },
}

/// The codes `tollgate-axum`'s `Json` refuses a body with.
const BAD_BODY: &[&str] = &["malformed_request", "validation_error", "missing_field"];

fn refused(status: u16, code: &'static str) -> Expected {
    Expected::Refused {
        status,
        codes: vec![code],
        details: Vec::new(),
    }
}

struct Model {
    balances: HashMap<&'static str, i64>,
    records: HashMap<(usize, String), Record>,
}

impl Model {
    fn expect(&self, req: &Req) -> Expected {
        let route = req.route;
        let body = req.payload.bytes();
        // `tollgate-axum` refuses a declared length over its limit up front.
        if req.declared && body.len() > OUTER_LIMIT {
            return refused(413, "payload_too_large");
        }
        let key = match req.presented() {
            Ok(key) => key,
            Err((status, code)) => return refused(status, code),
        };
        let spec = &KEYS[key];
        if !spec.scopes.contains(&route.scope()) {
            return Expected::Refused {
                status: 403,
                codes: vec!["insufficient_scope"],
                details: vec![("scope", json!(route.scope()))],
            };
        }
        let idem = match req.idempotency_key() {
            Ok(idem) => idem,
            Err((status, code)) => return refused(status, code),
        };
        let mut stored = None;
        if let Some(idem) = idem {
            // The idempotency layer buffers the body before it claims the key.
            if body.len() > IDEMPOTENCY_LIMIT {
                return refused(413, "payload_too_large");
            }
            let fingerprint = (route, req.query, body.clone());
            let scope = (key, idem);
            match self.records.get(&scope) {
                Some(record) if record.fingerprint == fingerprint => {
                    return Expected::Replay(record.clone());
                }
                Some(_) => return refused(422, "idempotency_key_reused"),
                None => stored = Some((scope, fingerprint)),
            }
        }
        let account = spec.account;
        let balance = self.balances[account];
        if balance < route.cost() {
            return Expected::Refused {
                status: 402,
                codes: vec!["insufficient_credits"],
                details: vec![
                    ("required", json!(route.cost())),
                    ("available", json!(balance)),
                ],
            };
        }
        let (status, codes): (u16, &'static [&'static str]) = match route {
            Route::CreateScan => {
                let json = req
                    .content_type
                    .is_some_and(|t| t.starts_with("application/json"));
                if !json {
                    (415, &["unsupported_media_type"])
                } else if body.len() > OUTER_LIMIT {
                    (413, &["payload_too_large"])
                } else {
                    match req.payload.scan_name() {
                        Some(TAKEN) => (409, &["conflict"]),
                        Some(_) => (201, &[]),
                        None => (400, BAD_BODY),
                    }
                }
            }
            Route::CreateOrder => (201, &[]),
            Route::ListScans | Route::Admin => (200, &[]),
            Route::Fail => (500, &["internal_error"]),
        };
        // Stored: a success, or an error the handler made after it began
        // work (not a refusal of the body as sent, not a 5xx).
        let keeps = status < 400 || status == 409;
        Expected::Runs {
            status,
            codes,
            account,
            cost: route.cost(),
            stored: stored.filter(|_| keeps),
        }
    }
}

// ---- checks -------------------------------------------------------------

/// An error answer: the catalog's envelope (`problem`), its code one of
/// `codes`, the catalog's entry for it of this status; read back with
/// `Catalog::decode`. Returns what was read.
fn check_error(
    status: u16,
    headers: &http::HeaderMap,
    body: &Bytes,
    codes: &[&str],
    at: &str,
) -> Result<Decoded, TestCaseError> {
    let catalog = Catalog::builtin_ref();
    prop_assert_eq!(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok()),
        Some("application/problem+json"),
        "the problem content type: {}",
        at
    );
    let sent: Vec<_> = headers.get_all("x-error-code").iter().collect();
    prop_assert_eq!(sent.len(), 1, "one X-Error-Code: {}", at);
    let code = sent[0].to_str().unwrap_or_default().to_owned();
    prop_assert!(
        codes.contains(&code.as_str()),
        "{} is one of {:?}: {}",
        code,
        codes,
        at
    );
    let decoded = catalog.decode(status, headers, body, SystemTime::now());
    prop_assert_eq!(decoded.dialect, "problem", "the dialect: {}", at);
    prop_assert_eq!(decoded.status, status, "the status: {}", at);
    prop_assert_eq!(decoded.code.as_deref(), Some(code.as_str()), "{}", at);
    prop_assert_eq!(
        decoded.catalog_code.as_deref(),
        Some(code.as_str()),
        "a catalog code of its status: {}",
        at
    );
    prop_assert!(decoded.message.is_some(), "a message: {}", at);
    prop_assert!(decoded.request_id.is_some(), "a request id: {}", at);
    if status == 401 {
        prop_assert!(
            headers.contains_key(header::WWW_AUTHENTICATE),
            "401 with WWW-Authenticate: {}",
            at
        );
    }
    Ok(decoded)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn run(credits: [i64; 2], requests: Vec<Req>) -> Result<(), TestCaseError> {
    let db = TestDb::new(Kind::Sqlite).await.expect("a SQLite store");
    let store = &db.store;
    let initial = [credits[0], credits[1], 5];
    for (account, credits) in ACCOUNTS.iter().zip(initial) {
        store
            .create_account(NewAccount::new(*account).credits(credits))
            .await
            .expect("an account");
    }
    let mut secrets = Vec::new();
    for spec in &KEYS {
        let created = store
            .create_key(NewKey::new(spec.account, spec.scopes.iter().copied()))
            .await
            .expect("a key");
        if spec.state == KeyState::Revoked {
            store
                .revoke_key(created.info().id())
                .await
                .expect("revoked");
        }
        secrets.push(created.secret().to_owned());
    }
    store.suspend("initech").await.expect("suspended");
    let gate = Gatekeeper::new(store.clone()).max_body_bytes(IDEMPOTENCY_LIMIT);
    let app = app(&gate);
    let mut model = Model {
        balances: ACCOUNTS.iter().copied().zip(initial).collect(),
        records: HashMap::new(),
    };

    for (i, req) in requests.iter().enumerate() {
        let expected = model.expect(req);
        let response = app
            .clone()
            .oneshot(req.build(&secrets))
            .await
            .expect("axum's router is infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a body").to_bytes();
        let status = parts.status.as_u16();
        let at = format!(
            "request {i}: {req:?}\nexpected {expected:?}\ngot {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(600)])
        );
        if status == 500 {
            prop_assert_eq!(req.route, Route::Fail, "a 500 only where made: {}", &at);
        }
        let replayed = parts.headers.get("idempotent-replayed");
        match expected {
            Expected::Refused {
                status: want,
                codes,
                details,
            } => {
                prop_assert_eq!(status, want, "the status: {}", &at);
                let decoded = check_error(status, &parts.headers, &body, &codes, &at)?;
                for (name, value) in details {
                    prop_assert_eq!(decoded.details.get(name), Some(&value), "{}: {}", name, &at);
                }
                prop_assert!(replayed.is_none(), "no replay: {}", &at);
            }
            Expected::Replay(record) => {
                prop_assert_eq!(status, record.status, "a replay's status: {}", &at);
                prop_assert_eq!(
                    replayed.map(HeaderValue::as_bytes),
                    Some(&b"true"[..]),
                    "Idempotent-Replayed: {}",
                    &at
                );
                match (&record.body, &record.code) {
                    (Some(first), _) => {
                        prop_assert_eq!(first, &body, "a replay's body: {}", &at);
                    }
                    (None, Some(code)) => {
                        check_error(status, &parts.headers, &body, &[code.as_str()], &at)?;
                    }
                    (None, None) => unreachable!("a record holds a body or a code"),
                }
            }
            Expected::Runs {
                status: want,
                codes,
                account,
                cost,
                stored,
            } => {
                prop_assert_eq!(status, want, "the status: {}", &at);
                prop_assert!(replayed.is_none(), "no replay: {}", &at);
                let mut code = None;
                if status >= 400 {
                    let decoded = check_error(status, &parts.headers, &body, codes, &at)?;
                    code = decoded.code;
                } else {
                    *model.balances.get_mut(account).expect("an account") -= cost;
                }
                if let Some((scope, fingerprint)) = stored {
                    let record = Record {
                        fingerprint,
                        status,
                        body: (status < 400).then(|| body.clone()),
                        code,
                    };
                    model.records.insert(scope, record);
                }
            }
        }
        // Only success is paid for, and only once.
        for account in ACCOUNTS {
            let balance = store.account(account).await.expect("an account").balance();
            prop_assert_eq!(
                balance,
                model.balances[account],
                "{}'s balance after {}",
                account,
                &at
            );
        }
    }
    db.cleanup().await;
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_requests_are_refused_in_the_envelope_and_only_success_is_charged_once(
        credits in [0i64..16, 0i64..16],
        steps in proptest::collection::vec(step(), 1..=12),
    ) {
        runtime().block_on(run(credits, requests(steps)))?;
    }
}
