//! Any request, sent through a realistic app, is answered as the crate
//! promises: a standard or odd method; a path with odd percent-encodings
//! (`%FF`, `..`), very long, with any query; any number of `Accept`,
//! `Content-Type`, `Content-Encoding`, `Content-Length`, `X-Request-Id`,
//! version and `Host` lines, well-formed or not; a body of any bytes
//! (malformed or mistyped JSON, invalid UTF-8, compressed, over the limit).
//!
//! The app is the one the crate's docs recommend: the crate's extractors
//! and `Reply`, handler errors, a panic, a slow route and bare statuses,
//! under `Decompression` (with the `decompression` feature) and the layer
//! with a body limit, a timeout, a path pin and a version pin (a header's,
//! or a media type in `Accept`), installed with `Router::layer` or around
//! the whole router, with either validation status. Every answer
//! must come back with no panic escaping; with a 500 only from the routes
//! made to fail; every error in the catalog's envelope of the dialect the
//! request negotiated (read back with the core decoder), its code a catalog
//! code of its status in `X-Error-Code`; a well-formed `X-Request-Id` on
//! every answer, the caller's only when it is valid; the headers its
//! status needs (`Allow`, `Retry-After`, `Accept-Encoding`, `Vary`); and
//! what is known in advance (404, 405, the refusals before any route, the
//! routes made to fail) as predicted.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Form, HandlerError, Json, Path, Query, Reply, Tollgate, ValidationStatus};
use tower::ServiceExt;

mod common;

/// The layer's body limit.
const LIMIT: usize = 4096;
/// The layer's deadline.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The value of `X-Api-Version` pinned to the `coded` dialect.
const VERSION: &str = "2023-06-01";
/// The media type pinned to the `meta` dialect when `Accept` is the
/// version header.
const MEDIA_PIN: &str = "application/vnd.scans.v1+json";
/// The path prefix pinned to the `flat` dialect.
const FLAT_PREFIX: &str = "v1";

#[derive(Deserialize)]
#[allow(dead_code)]
struct Frame {
    t: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Fast,
    Accurate,
}

#[derive(Deserialize)]
struct NewScan {
    session_id: String,
    frames: Vec<Frame>,
    #[serde(default)]
    mode: Option<Mode>,
}

#[derive(Deserialize)]
struct Page {
    page: u32,
}

#[derive(Deserialize)]
struct Listing {
    limit: Option<u8>,
}

async fn create(Json(scan): Json<NewScan>) -> Reply<Value> {
    let mode = match scan.mode {
        Some(Mode::Fast) => "fast",
        Some(Mode::Accurate) | None => "accurate",
    };
    Reply(json!({"session_id": scan.session_id, "frames": scan.frames.len(), "mode": mode}))
}

async fn show(Path(id): Path<u32>, Query(listing): Query<Listing>) -> Reply<Value> {
    Reply(json!({"id": id, "limit": listing.limit}))
}

async fn fail() -> Result<&'static str, HandlerError> {
    Err(std::io::Error::other("the disk is full"))?
}

/// What the panicking route panics with, kept out of the test's output.
const PANIC: &str = "pool exhausted";

async fn panics() -> &'static str {
    panic!("{}", PANIC)
}

/// Leaves [`PANIC`] unprinted; every other panic is printed as usual.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let print = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<String>().map(String::as_str) != Some(PANIC) {
                print(info);
            }
        }));
    });
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(60)).await;
    "late"
}

/// The routes of the app, and the methods each answers.
const ROUTES: [(&str, &[&str]); 10] = [
    ("/scans", &["POST"]),
    ("/v1/scans", &["POST"]),
    ("/notes", &["POST"]),
    ("/form", &["POST"]),
    ("/fail", &["GET", "HEAD"]),
    ("/panic", &["GET", "HEAD"]),
    ("/slow", &["GET", "HEAD"]),
    ("/busy", &["GET", "HEAD"]),
    ("/unavailable", &["GET", "HEAD"]),
    ("/conflict", &["GET", "HEAD"]),
];
/// The methods `/scans/{id}` answers.
const SCAN_METHODS: &[&str] = &["GET", "HEAD", "DELETE"];

/// The layer as `case` configures it.
fn gate(case: &Case) -> Tollgate {
    let status = if case.unprocessable {
        ValidationStatus::UnprocessableEntity
    } else {
        ValidationStatus::BadRequest
    };
    let gate = Tollgate::new(Catalog::builtin())
        .dialect(case.default)
        .problem_on_accept(case.problem_on_accept)
        .validation_status(status)
        .pin_path(&format!("/{FLAT_PREFIX}"), Dialect::Flat);
    let gate = if case.media_pin {
        gate.version_header(header::ACCEPT)
            .pin(MEDIA_PIN, Dialect::Meta)
    } else {
        gate.version_header(HeaderName::from_static("x-api-version"))
            .pin(VERSION, Dialect::Coded)
    };
    gate.body_limit(LIMIT)
        .timeout(TIMEOUT)
        .clock(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800))
}

/// The app's routes, under `Decompression` when the feature is on.
fn routes() -> Router {
    let router = Router::new()
        .route("/scans", post(create))
        .route("/v1/scans", post(create))
        .route(
            "/scans/{id}",
            get(show).delete(|Path(_): Path<u32>| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/notes",
            post(|text: String| async move { text.len().to_string() }),
        )
        .route(
            "/form",
            post(|Form(page): Form<Page>| async move { Reply(json!({"page": page.page})) }),
        )
        .route("/fail", get(fail))
        .route("/panic", get(panics))
        .route("/slow", get(slow))
        .route(
            "/busy",
            get(|| async {
                (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")]).into_response()
            }),
        )
        .route(
            "/unavailable",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "2")],
                    "down for maintenance",
                )
                    .into_response()
            }),
        )
        .route(
            "/conflict",
            get(|| async { (StatusCode::CONFLICT, "scan_1 already exists").into_response() }),
        );
    #[cfg(feature = "decompression")]
    let router = router.layer(tollgate_axum::Decompression);
    router
}

// ---------------------------------------------------------------- requests

/// Where a request goes, and what is known of the route it reaches.
#[derive(Clone, Debug)]
enum Target {
    /// One of [`ROUTES`], exactly.
    Route(&'static str),
    /// `/scans/{id}` with this id segment (as sent, percent-encoded).
    Scan(String),
    /// A path no route matches.
    Unknown(String),
    /// Any path: it may or may not match a route.
    Any(String),
}

impl Target {
    fn path(&self) -> String {
        match self {
            Target::Route(path) => (*path).to_owned(),
            Target::Scan(id) => format!("/scans/{id}"),
            Target::Unknown(path) | Target::Any(path) => path.clone(),
        }
    }

    /// The methods the path's route answers; `Some(&[])` when no route
    /// matches; `None` when unknown.
    fn methods(&self) -> Option<&'static [&'static str]> {
        match self {
            Target::Route(path) => ROUTES.iter().find(|(p, _)| p == path).map(|(_, m)| *m),
            Target::Scan(_) => Some(SCAN_METHODS),
            Target::Unknown(_) => Some(&[]),
            Target::Any(_) => None,
        }
    }
}

/// One range of an `Accept` value: media type, weight (its text, and
/// its value in thousandths when well-formed), and a `charset` parameter.
type Range = (&'static str, (&'static str, Option<u16>), bool);

/// The weights a range may carry: none (1000), well-formed and malformed.
const WEIGHTS: [(&str, Option<u16>); 12] = [
    ("", Some(1000)),
    ("q=1", Some(1000)),
    ("q=0", Some(0)),
    ("q=0.5", Some(500)),
    ("q=0.001", Some(1)),
    ("q=1.000", Some(1000)),
    ("Q=0.3", Some(300)),
    ("q=0.0000", None),
    ("q=2", None),
    ("q=abc", None),
    ("q=", None),
    ("q=-0.5", None),
];

/// The media types of `Accept` ranges: those that decide between problem
/// details and JSON, the pinned one, others.
const MEDIA: [&str; 14] = [
    "application/json",
    "application/problem+json",
    "Application/Problem+JSON",
    "*/*",
    "application/*",
    "APPLICATION/JSON",
    "text/html",
    "application/xml",
    "image/*",
    MEDIA_PIN,
    "Application/Vnd.Scans.V1+JSON",
    "application/vnd.api+json",
    "text/*",
    "application/problem+xml",
];

/// One header line of a request.
#[derive(Clone, Debug)]
enum Line {
    /// `Accept`, as ranges whose meaning the test knows.
    Accept(Vec<Range>),
    ContentType(&'static str),
    ContentEncoding(&'static str),
    /// Any bytes, under one of the names the layer or the extractors read.
    Junk(HeaderName, Vec<u8>),
    RequestId(Vec<u8>),
    Version(&'static str),
    TransferEncoding(&'static str),
    Host(&'static str),
    Other(String, Vec<u8>),
}

impl Line {
    fn header(&self) -> (HeaderName, HeaderValue) {
        let value = |bytes: &[u8]| HeaderValue::from_bytes(bytes).expect("generated valid");
        match self {
            Line::Accept(ranges) => {
                let text = ranges
                    .iter()
                    .map(|(media, (q, _), charset)| {
                        let mut range = (*media).to_owned();
                        if *charset {
                            range.push_str("; charset=utf-8");
                        }
                        if !q.is_empty() {
                            range.push_str("; ");
                            range.push_str(q);
                        }
                        range
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                (header::ACCEPT, value(text.as_bytes()))
            }
            Line::ContentType(v) => (header::CONTENT_TYPE, value(v.as_bytes())),
            Line::ContentEncoding(v) => (header::CONTENT_ENCODING, value(v.as_bytes())),
            Line::RequestId(bytes) => (HeaderName::from_static("x-request-id"), value(bytes)),
            Line::Version(v) => (
                HeaderName::from_static("x-api-version"),
                value(v.as_bytes()),
            ),
            Line::TransferEncoding(v) => (header::TRANSFER_ENCODING, value(v.as_bytes())),
            Line::Host(v) => (header::HOST, value(v.as_bytes())),
            Line::Junk(name, bytes) => (name.clone(), value(bytes)),
            Line::Other(name, bytes) => {
                (HeaderName::try_from(name.as_str()).unwrap(), value(bytes))
            }
        }
    }
}

/// The `Content-Length` lines of a request.
#[derive(Clone, Debug)]
enum Length {
    None,
    Exact,
    Plus(u64),
    Minus,
    Zero,
    Text(&'static str),
    Twice,
}

/// How the body arrives: whole, in chunks of unknown length, or in one
/// chunk followed by an error (a connection reset mid-upload).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Whole,
    Chunks(usize),
    Broken,
    /// Its bytes, then nothing more for ever (a client that stops sending).
    Stalled,
}

/// A body that sends its bytes, then waits for ever.
struct Stalled(Option<Bytes>);

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match self.0.take() {
            Some(bytes) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes)))),
            None => std::task::Poll::Pending,
        }
    }
}

/// A body that sends its bytes, then fails.
struct Broken(Option<Bytes>);

impl http_body::Body for Broken {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(Some(match self.0.take() {
            Some(bytes) => Ok(http_body::Frame::data(bytes)),
            None => Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        }))
    }
}

#[derive(Clone, Debug)]
struct Case {
    /// The layer's dialect, whether `Accept` may pick problem details, and
    /// whether validation errors are 422s.
    default: Dialect,
    problem_on_accept: bool,
    unprocessable: bool,
    /// Whether the layer wraps the whole router as a service, rather than
    /// being installed with `Router::layer`.
    around: bool,
    /// Whether `Accept` is the version header (a media type pinned),
    /// rather than `X-Api-Version`.
    media_pin: bool,
    method: Method,
    target: Target,
    query: Option<String>,
    lines: Vec<Line>,
    /// The body, and the coding it was compressed in (with its own
    /// `Content-Encoding` line).
    body: (Vec<u8>, Option<&'static str>),
    length: Length,
    shape: Shape,
}

impl Case {
    fn uri(&self) -> Uri {
        let mut text = self.target.path();
        if let Some(query) = &self.query {
            text.push('?');
            text.push_str(query);
        }
        text.parse().expect("generated paths are valid")
    }

    fn body_bytes(&self) -> Vec<u8> {
        let (bytes, coding) = &self.body;
        match *coding {
            Some("gzip") => {
                let mut gzip =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gzip.write_all(bytes).unwrap();
                gzip.finish().unwrap()
            }
            Some(_) => {
                let mut zlib =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                zlib.write_all(bytes).unwrap();
                zlib.finish().unwrap()
            }
            None => bytes.clone(),
        }
    }

    /// Every header line the request has, in order.
    fn all_lines(&self) -> Vec<Line> {
        let mut lines = self.lines.clone();
        if let Some(coding) = self.body.1 {
            lines.push(Line::ContentEncoding(coding));
        }
        lines
    }

    /// Every header line of the request, in order.
    fn head(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut lines: Vec<_> = self.all_lines().iter().map(Line::header).collect();
        let len = self.body_bytes().len() as u64;
        let lengths: Vec<String> = match &self.length {
            Length::None => vec![],
            Length::Exact => vec![len.to_string()],
            Length::Plus(n) => vec![(len + n).to_string()],
            Length::Minus => vec![len.saturating_sub(1).to_string()],
            Length::Zero => vec!["0".to_owned()],
            Length::Text(text) => vec![(*text).to_owned()],
            Length::Twice => vec![len.to_string(), (len + 1).to_string()],
        };
        for length in lengths {
            lines.push((
                header::CONTENT_LENGTH,
                HeaderValue::try_from(length).unwrap(),
            ));
        }
        lines
    }

    /// The values of the request's `name` lines, in order.
    fn values(&self, name: &HeaderName) -> Vec<Vec<u8>> {
        self.head()
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_bytes().to_vec())
            .collect()
    }

    fn request(&self) -> Request<Body> {
        let body = self.body_bytes();
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(self.uri());
        for (name, value) in self.head() {
            request = request.header(name, value);
        }
        let body = match self.shape {
            Shape::Whole => Body::from(body),
            Shape::Chunks(size) => common::streamed(&body, size),
            Shape::Broken => Body::new(Broken(Some(Bytes::from(body)))),
            Shape::Stalled => Body::new(Stalled(Some(Bytes::from(body)))),
        };
        request.body(body).unwrap()
    }
}

// -------------------------------------------------------------- strategies

fn dialect() -> impl Strategy<Value = Dialect> {
    select(Dialect::ALL.to_vec())
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => select(vec!["GET", "POST"]).prop_map(str::to_owned),
        3 => select(vec!["HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"])
            .prop_map(str::to_owned),
        1 => select(vec!["get", "Post", "PROPFIND", "M-SEARCH", "BREW", "QUERY", "X!#$%&'*+.^_`|~"])
            .prop_map(str::to_owned),
        1 => "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,24}",
    ]
    .prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap())
}

/// Path segments that no route starts with.
fn junk_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(vec![
            "zz", "%FF", "..", ".", "%2e%2e", "sc%61ns", "SCANS", "scans%2F1", "errors",
            "v2", "%00", "~", "%C3%A9", "a%20b", "%", "%zz", ";x", ":", "@",
        ])
        .prop_map(str::to_owned),
        1 => (1000usize..4000).prop_map(|n| "a".repeat(n)),
    ]
}

fn scan_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec![
            "1", "0", "4294967295", "4294967296", "-1", "%FF", "..", ".", "%2e%2e", "abc",
            "%31", "1%2F2", "%00", "1e3", "%C3%A9", "+1", "01",
        ])
        .prop_map(str::to_owned),
        2 => "[0-9]{1,12}",
        1 => (200usize..2000).prop_map(|n| "9".repeat(n)),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        // Mostly the routes that read a body.
        4 => select(ROUTES[..4].iter().map(|(path, _)| *path).collect::<Vec<_>>())
            .prop_map(Target::Route),
        3 => select(ROUTES.map(|(path, _)| path).to_vec()).prop_map(Target::Route),
        2 => scan_id().prop_map(Target::Scan),
        2 => (
            any::<bool>(),
            junk_segment(),
            prop::collection::vec(prop_oneof![junk_segment(), Just("scans".to_owned())], 0..3),
        )
            .prop_map(|(pinned, first, rest)| {
                let mut path = String::new();
                if pinned {
                    path.push('/');
                    path.push_str(FLAT_PREFIX);
                }
                path.push('/');
                path.push_str(&first);
                for segment in rest {
                    path.push('/');
                    path.push_str(&segment);
                }
                Target::Unknown(path)
            }),
        2 => "/[A-Za-z0-9._~%/:@!$&'()*+,;=-]{0,40}".prop_map(|path| {
            if path.parse::<Uri>().is_ok() {
                Target::Any(path)
            } else {
                Target::Any("/".to_owned())
            }
        }),
    ]
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        2 => select(vec![
            "limit=5", "limit=300", "limit=abc", "limit=%FF", "limit=1&limit=2", "a=%", "=&&=",
            "limit=1e400", "limit=", "limit", "page=1", "limit=-1", "",
        ])
        .prop_map(|q| Some(q.to_owned())),
        1 => "[A-Za-z0-9=&%+._/?-]{0,30}".prop_map(Some),
    ]
}

/// Header value bytes: anything but control characters (which no header
/// value holds), bytes past ASCII included.
fn value_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![8 => 0x20u8..0x7f, 1 => 0x80u8..=0xff, 1 => Just(b'\t')],
        0..max,
    )
}

fn accept_range() -> impl Strategy<Value = Range> {
    (
        select(MEDIA.to_vec()),
        select(WEIGHTS.to_vec()),
        prop::bool::weighted(0.2),
    )
}

fn request_id() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[A-Za-z0-9._-]{1,128}".prop_map(String::into_bytes),
        2 => select(vec![
            "req_42", "", " req_42", "req 42", "req_42, req_43", "<script>", "../../etc/passwd",
            "req_42\t", "%72eq", "req/42", "req:42", "\"req\"",
        ])
        .prop_map(|id| id.as_bytes().to_vec()),
        1 => Just(vec![b'a'; 129]),
        1 => Just(vec![b'a'; 128]),
        2 => value_bytes(200),
    ]
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        3 => prop::collection::vec(accept_range(), 0..5).prop_map(Line::Accept),
        1 => value_bytes(60).prop_map(|bytes| Line::Junk(header::ACCEPT, bytes)),
        2 => select(vec![
            "application/json", "application/json", "application/json; charset=utf-8",
            "APPLICATION/JSON", "application/problem+json", "application/vnd.api+json",
            "application/x-www-form-urlencoded", "text/plain", "multipart/form-data",
            "application/jsonx", "", "application/", "*/*", "application/json; charset=\"",
            "multipart/form-data; boundary=X", "text/plain; charset=utf-8",
        ])
        .prop_map(Line::ContentType),
        1 => select(vec![
            "gzip", "deflate", "x-gzip", "GZIP", "br", "zstd", "identity", "gzip, gzip",
            "gzip, br", "identity, gzip", "", ",", "compress",
        ])
        .prop_map(Line::ContentEncoding),
        3 => request_id().prop_map(Line::RequestId),
        1 => select(vec![VERSION, " 2023-06-01 ", "2023-06-01, 2024-01-01", "2024-01-01", ""])
            .prop_map(Line::Version),
        1 => select(vec!["chunked", "CHUNKED", "gzip, chunked", "chunked, chunked", "identity", "gzip"])
            .prop_map(Line::TransferEncoding),
        1 => select(vec!["example.com", "example.com:8080", "a b"]).prop_map(Line::Host),
        1 => (
            select(vec![
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                header::TRANSFER_ENCODING,
                header::CONTENT_LENGTH,
                header::ACCEPT,
                HeaderName::from_static("x-api-version"),
            ]),
            prop_oneof![4 => value_bytes(40), 1 => value_bytes(4000)],
        )
            .prop_map(|(name, bytes)| Line::Junk(name, bytes)),
        1 => ("x-[a-z0-9-]{1,12}", value_bytes(40))
            .prop_filter("not a header the layer reads", |(n, _)| {
                n != "x-request-id" && n != "x-api-version"
            })
            .prop_map(|(n, v)| Line::Other(n, v)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
        select(vec![
            json!("s_1"),
            json!(0),
            json!(4_294_967_296u64),
            json!("fast"),
            json!("slow")
        ]),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec(
                (
                    select(vec!["session_id", "frames", "t", "mode", "page", "extra"]),
                    inner
                ),
                0..5
            )
            .prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// A new scan, each member valid, of another type, or missing.
fn scan_like() -> impl Strategy<Value = Value> {
    let member = |valid: Value| {
        prop_oneof![
            3 => Just(Some(valid)),
            1 => json_value().prop_map(Some),
            1 => Just(None),
        ]
    };
    let frame = member(json!(7)).prop_map(|t| {
        let mut frame = serde_json::Map::new();
        if let Some(t) = t {
            frame.insert("t".to_owned(), t);
        }
        Value::Object(frame)
    });
    (
        member(json!("s_1")),
        prop_oneof![
            3 => prop::collection::vec(frame, 0..4).prop_map(|f| Some(Value::from(f))),
            1 => json_value().prop_map(Some),
            1 => Just(None),
        ],
        prop_oneof![2 => Just(None), 1 => select(vec![json!("fast"), json!("slow"), json!(1)]).prop_map(Some)],
    )
        .prop_map(|(session_id, frames, mode)| {
            let mut scan = serde_json::Map::new();
            for (key, value) in [("session_id", session_id), ("frames", frames), ("mode", mode)] {
                if let Some(value) = value {
                    scan.insert(key.to_owned(), value);
                }
            }
            Value::Object(scan)
        })
}

/// Bodies the app's routes read: valid, mistyped, malformed, not JSON.
const CRAFTED: [&[u8]; 20] = [
    br#"{"session_id":"s_1","frames":[{"t":0},{"t":1}]}"#,
    br#"{"session_id":"s_1","frames":[{"t":0}],"mode":"fast"}"#,
    br#"{"session_id":"s_1","frames":[{"t":0},{"t":"x"}]}"#,
    br#"{"session_id":"s_1","frames":[{"t":1e400}]}"#,
    br#"{"session_id":"s_1","frames":[{"t":-1}]}"#,
    br#"{"session_id":"s_1","frames":[],"mode":"slow"}"#,
    br#"{"session_id":"s_1","frames":[]} trailing"#,
    br#"{"session_id":"s_1","frames":[]}{}"#,
    b"{\"session_id\":\"\xff\xfe\",\"frames\":[]}",
    b"\xef\xbb\xbf{\"session_id\":\"s\",\"frames\":[]}",
    br#"{"session_id":"\ud800","frames":[]}"#,
    br#"{"session_id":"s_1","session_id":"s_2","frames":[]}"#,
    b"page=1",
    b"page=abc",
    b"page=%FF",
    b"page=1&page=2",
    b"null",
    b" ",
    b"{\"items\": [",
    b"\x00\x01\x02",
];

fn body() -> impl Strategy<Value = (Vec<u8>, Option<&'static str>)> {
    let bytes = prop_oneof![
        2 => Just(Vec::new()),
        4 => select(CRAFTED.to_vec()).prop_map(<[u8]>::to_vec),
        4 => scan_like().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => (json_value(), any::<prop::sample::Index>()).prop_map(|(v, at)| {
            let mut bytes = serde_json::to_vec(&v).unwrap();
            bytes.truncate(at.index(bytes.len() + 1));
            bytes
        }),
        2 => prop::collection::vec(any::<u8>(), 0..256),
        1 => (LIMIT - 64..LIMIT * 3, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        1 => (LIMIT - 64..LIMIT * 3).prop_map(|n| {
            format!(r#"{{"session_id":"{}","frames":[]}}"#, "s".repeat(n)).into_bytes()
        }),
        1 => (100usize..400).prop_map(|depth| {
            let mut bytes = vec![b'['; depth];
            bytes.extend(vec![b']'; depth]);
            bytes
        }),
    ];
    let coding = prop_oneof![8 => Just(None), 1 => Just(Some("gzip")), 1 => Just(Some("deflate"))];
    (bytes, coding)
}

fn length() -> impl Strategy<Value = Length> {
    prop_oneof![
        4 => Just(Length::None),
        3 => Just(Length::Exact),
        1 => (1u64..8192).prop_map(Length::Plus),
        1 => Just(Length::Minus),
        1 => Just(Length::Zero),
        1 => select(vec!["abc", "-1", " 12 ", "18446744073709551616", "1, 1", "", "0x10"])
            .prop_map(Length::Text),
        1 => Just(Length::Twice),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let lines = (
        prop::bool::weighted(0.6),
        prop::collection::vec(line(), 0..6),
    )
        .prop_map(|(json, mut lines)| {
            if json {
                lines.insert(0, Line::ContentType("application/json"));
            }
            lines
        });
    // Half the requests use a method their route answers.
    let method = prop_oneof![Just(None), method().prop_map(Some)];
    (
        (
            dialect(),
            prop::bool::weighted(0.8),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (method, any::<prop::sample::Index>()),
        target(),
        query(),
        lines,
        body(),
        (length(), shape()),
    )
        .prop_map(
            |(
                (default, problem_on_accept, unprocessable, around, media_pin),
                (method, pick),
                target,
                query,
                lines,
                body,
                (length, shape),
            )| {
                let method = method.unwrap_or_else(|| match target.methods() {
                    Some(methods) if !methods.is_empty() => {
                        Method::from_bytes(pick.get(methods).as_bytes()).unwrap()
                    }
                    _ => Method::GET,
                });
                Case {
                    default,
                    problem_on_accept,
                    unprocessable,
                    around,
                    media_pin,
                    method,
                    target,
                    query,
                    lines,
                    body,
                    length,
                    shape,
                }
            },
        )
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        6 => Just(Shape::Whole),
        2 => (1usize..2048).prop_map(Shape::Chunks),
        1 => Just(Shape::Broken),
        1 => Just(Shape::Stalled),
    ]
}

// ------------------------------------------------------------------ oracle

/// Whether the caller's id is kept: 1–128 characters of `[A-Za-z0-9._-]`.
fn valid_id(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `Accept` picks problem details (the crate docs' rule): listed with
/// a weight above 0 and no lower than JSON's, JSON's being that of the most
/// specific range listed of `application/json` (over `pinned` `jsonapi`,
/// or its own type), `application/*` and `*/*`
/// (a range with a malformed weight is not listed). `None` when a line is
/// not made of known ranges.
fn prefers_problem(lines: &[Line], pinned: Dialect) -> Option<bool> {
    let (mut problem, mut json, mut application, mut any) = (None, None, None, None);
    let own = pinned.content_type();
    for line in lines {
        let ranges = match line {
            Line::Accept(ranges) => ranges,
            Line::Junk(name, _) if name == header::ACCEPT => return None,
            _ => continue,
        };
        for (media, (_, weight), _) in ranges {
            let slot = if media.eq_ignore_ascii_case("application/problem+json") {
                &mut problem
            } else if media.eq_ignore_ascii_case("application/json")
                || (pinned == Dialect::Jsonapi && media.eq_ignore_ascii_case(own))
            {
                &mut json
            } else if media.eq_ignore_ascii_case("application/*") {
                &mut application
            } else if *media == "*/*" {
                &mut any
            } else {
                continue;
            };
            if let Some(w) = weight {
                *slot = Some(slot.map_or(*w, |seen: u16| seen.max(*w)));
            }
        }
    }
    let json = json.or(application).or(any).unwrap_or(0);
    Some(problem.is_some_and(|p| p > 0 && p >= json))
}

/// Whether `Accept` names the pinned media type with a weight above 0;
/// `None` when a line is not made of known ranges.
fn names_media_pin(lines: &[Line]) -> Option<bool> {
    let mut named = false;
    for line in lines {
        match line {
            Line::Accept(ranges) => {
                named |= ranges.iter().any(|(media, (_, weight), _)| {
                    media.eq_ignore_ascii_case(MEDIA_PIN) && weight.is_some_and(|w| w > 0)
                });
            }
            Line::Junk(name, _) if name == header::ACCEPT => return None,
            _ => {}
        }
    }
    Some(named)
}

/// The dialects pins may give a request (successes wear it; errors too
/// unless `Accept` picks problem details): the version header's (the first
/// line of `X-Api-Version`, or a media type `Accept` names), then the path
/// prefix's, then the default. Two when `Accept` is unknown ranges.
fn pinned(case: &Case) -> Vec<Dialect> {
    let path = case.target.path();
    let unpinned = if path.split('/').find(|s| !s.is_empty()) == Some(FLAT_PREFIX) {
        Dialect::Flat
    } else {
        case.default
    };
    if case.media_pin {
        return match names_media_pin(&case.lines) {
            Some(true) => vec![Dialect::Meta],
            Some(false) => vec![unpinned],
            None => vec![unpinned, Dialect::Meta],
        };
    }
    let versions = case.values(&HeaderName::from_static("x-api-version"));
    if versions
        .first()
        .is_some_and(|v| v.trim_ascii() == VERSION.as_bytes())
    {
        return vec![Dialect::Coded];
    }
    vec![unpinned]
}

/// The dialects an error may be in: problem details when `Accept` picks
/// them, else the pinned one.
fn error_dialects(case: &Case) -> Vec<Dialect> {
    let pinned = pinned(case);
    if !case.problem_on_accept {
        return pinned;
    }
    let mut dialects = Vec::new();
    for d in pinned {
        match prefers_problem(&case.lines, d) {
            Some(true) => dialects.push(Dialect::Problem),
            Some(false) => dialects.push(d),
            None => dialects.extend([d, Dialect::Problem]),
        }
    }
    dialects
}

/// A header value as text: visible ASCII and tabs only.
fn text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// What the layer refuses before any route runs, as a status: several
/// `Host` or `Content-Type` lines, a transfer coding besides one `chunked`,
/// a body declared over the limit.
fn refused_up_front(case: &Case, body_len: usize) -> Option<u16> {
    if case.values(&header::HOST).len() > 1 || case.values(&header::CONTENT_TYPE).len() > 1 {
        return Some(400);
    }
    let mut codings = Vec::new();
    for value in case.values(&header::TRANSFER_ENCODING) {
        let Some(value) = text(&value) else {
            return Some(400);
        };
        codings.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        );
    }
    if codings.len() > 1 || codings.iter().any(|c| !c.eq_ignore_ascii_case("chunked")) {
        return Some(400);
    }
    let declared: Option<u64> = case
        .values(&header::CONTENT_LENGTH)
        .first()
        .and_then(|v| text(v)?.trim().parse().ok());
    let has_body = body_len > 0 || case.shape != Shape::Whole;
    if has_body && declared.is_some_and(|len| len > LIMIT as u64) {
        return Some(413);
    }
    None
}

/// The request's content codings other than `identity`.
fn content_codings(case: &Case) -> Vec<Vec<u8>> {
    case.values(&header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"identity"))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Whether `Decompression` decodes the request's content codings (one of
/// gzip, x-gzip or deflate, or none); always `true` without it.
fn decodable(case: &Case) -> bool {
    if !cfg!(feature = "decompression") {
        return true;
    }
    match &content_codings(case)[..] {
        [] => true,
        [one] => ["gzip", "x-gzip", "deflate"]
            .iter()
            .any(|c| one.eq_ignore_ascii_case(c.as_bytes())),
        _ => false,
    }
}

/// The status and code a route made to answer one way answers with.
fn fixed_outcome(path: &str) -> Option<(u16, &'static str)> {
    Some(match path {
        "/fail" | "/panic" => (500, "internal_error"),
        "/slow" => (504, "timeout"),
        "/busy" => (429, "rate_limit_exceeded"),
        "/unavailable" => (503, "service_unavailable"),
        "/conflict" => (409, "conflict"),
        _ => return None,
    })
}

/// `case`'s request, answered by the app with the layer installed as
/// `case` says: on the router (`Router::layer`), or around it.
async fn send(case: &Case) -> (Response<()>, Bytes) {
    let gate = gate(case);
    let response = if case.around {
        tower::Layer::layer(&gate.layer(), routes())
            .oneshot(case.request())
            .await
            .unwrap()
    } else {
        routes()
            .layer(gate.layer())
            .oneshot(case.request())
            .await
            .unwrap()
    };
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .expect("the body is readable")
        .to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

fn check(case: &Case, res: &Response<()>, body: &Bytes) -> Result<(), TestCaseError> {
    let gate = gate(case);
    let catalog = gate.catalog();
    let status = res.status().as_u16();
    let headers = res.headers();
    let text = String::from_utf8_lossy(body);
    let at = format!("{status} {headers:?}\n{text}");
    let head = case.method == Method::HEAD;
    let path = case.target.path();

    // The request id: one well-formed line, the caller's only when valid.
    let ids: Vec<_> = headers.get_all("x-request-id").iter().collect();
    prop_assert_eq!(ids.len(), 1, "one X-Request-Id: {}", at);
    let id = ids[0].to_str().unwrap_or_default().to_owned();
    prop_assert!(valid_id(id.as_bytes()), "a well-formed id: {}", at);
    let given: Vec<&Vec<u8>> = case
        .lines
        .iter()
        .filter_map(|l| match l {
            Line::RequestId(id) => Some(id),
            _ => None,
        })
        .collect();
    match &given[..] {
        [one] if valid_id(one) => prop_assert_eq!(id.as_bytes(), &one[..], "kept: {}", at),
        _ => {
            let uuid = uuid::Uuid::parse_str(&id).map(|u| u.get_version_num());
            prop_assert_eq!(uuid, Ok(7), "replaced by a UUIDv7: {}", at);
        }
    }

    // A length told is the body's (a HEAD's is its GET's, checked apart).
    if let Some(len) = headers.get(header::CONTENT_LENGTH).filter(|_| !head) {
        prop_assert_eq!(len.to_str().ok(), Some(&*body.len().to_string()), "{}", at);
    }

    // Statuses only a route made to answer so answers.
    prop_assert!(
        matches!(
            status,
            200 | 204 | 400 | 404 | 405 | 409 | 413 | 415 | 429 | 500 | 503 | 504
        ) || status == 422 && case.unprocessable,
        "an expected status: {}",
        at
    );
    // A body that stops coming holds the handler that reads it past the
    // deadline.
    let stalled = case.shape == Shape::Stalled && status == 504;
    if matches!(status, 409 | 429 | 500 | 503 | 504) && !stalled {
        prop_assert_eq!(
            fixed_outcome(&path).map(|(s, _)| s),
            Some(status),
            "only {} answers {}: {}",
            path,
            status,
            at
        );
    }

    // The dialect of an error: of those the request may get (several
    // when its `Accept` is unknown ranges), the one the content type and
    // the body's shape say.
    let content_type = headers.get(header::CONTENT_TYPE).map(|c| c.as_bytes());
    let shape = (!head).then(|| {
        catalog
            .decode(status, headers, body, SystemTime::now())
            .dialect
    });
    let code = headers.get("x-error-code").map(|c| c.as_bytes());
    let dialects = error_dialects(case);
    let dialect = dialects
        .iter()
        .copied()
        .find(|d| {
            content_type == Some(d.content_type().as_bytes())
                && shape.is_none_or(|shape| shape == d.name())
                && catalog
                    .iter()
                    .any(|def| Some(def.wire_code(*d).as_bytes()) == code)
        })
        .unwrap_or(dialects[0]);

    // What is known in advance: refusals before any route, 404, 405 and
    // the routes made to fail.
    let body_len = case.body_bytes().len();
    let predicted = match refused_up_front(case, body_len) {
        Some(status) => Some((status, None)),
        None if !decodable(case) => None,
        None => match case.target.methods() {
            Some([]) => Some((404, Some("not_found"))),
            Some(methods) if !methods.contains(&case.method.as_str()) => {
                Some((405, Some("method_not_allowed")))
            }
            Some(_) => fixed_outcome(&path).map(|(s, code)| (s, Some(code))),
            None => None,
        },
    };
    if let Some((want, code)) = predicted {
        prop_assert_eq!(status, want, "predicted status: {}", at);
        if let Some(code) = code {
            let wire = catalog.get(code).unwrap().wire_code(dialect);
            prop_assert_eq!(
                headers.get("x-error-code").map(|c| c.as_bytes()),
                Some(wire.as_bytes()),
                "predicted code: {}",
                at
            );
        }
    }

    if status < 400 {
        prop_assert!(!headers.contains_key("x-error-code"), "{}", at);
        let replies = matches!(
            &case.target,
            Target::Route("/scans" | "/v1/scans" | "/form")
        ) || matches!(&case.target, Target::Scan(_));
        if status == 200 && replies && !head {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| TestCaseError::fail(format!("a JSON reply ({e}): {at}")))?;
            let enveloped =
                value.get("success") == Some(&Value::Bool(true)) && value.get("data").is_some();
            let pinned = pinned(case);
            if pinned.len() == 1 {
                prop_assert_eq!(
                    enveloped,
                    pinned[0] == Dialect::Envelope,
                    "the envelope only in its dialect: {}",
                    at
                );
            }
        }
        return Ok(());
    }

    // An error: in the negotiated dialect, with a code of the catalog.
    prop_assert_eq!(
        headers.get(header::CONTENT_TYPE).map(|c| c.as_bytes()),
        Some(dialect.content_type().as_bytes()),
        "the {} content type: {}",
        dialect,
        at
    );
    let codes: Vec<_> = headers.get_all("x-error-code").iter().collect();
    prop_assert_eq!(codes.len(), 1, "one X-Error-Code: {}", at);
    let code = codes[0].to_str().unwrap_or_default();
    let def = catalog
        .iter()
        .find(|def| def.wire_code(dialect) == code && def.status() == status);
    prop_assert!(
        def.is_some(),
        "{} is a catalog code of {}: {}",
        code,
        status,
        at
    );
    if head {
        prop_assert!(body.is_empty(), "HEAD has no body: {}", at);
    } else {
        prop_assert!(
            serde_json::from_slice::<Value>(body).is_ok_and(|v| v.is_object()),
            "a JSON object: {}",
            at
        );
        let decoded = catalog.decode(status, headers, body, SystemTime::now());
        prop_assert_eq!(decoded.dialect, dialect.name(), "the dialect: {}", at);
        prop_assert_eq!(decoded.code.as_deref(), Some(code), "the code: {}", at);
        prop_assert_eq!(decoded.status, status, "the status: {}", at);
        prop_assert_eq!(decoded.request_id.as_deref(), Some(id.as_str()), "{}", at);
        if status == 413 {
            prop_assert!(text.contains(&LIMIT.to_string()), "names the limit: {}", at);
        }
        if let Some(wait) = headers.get(header::RETRY_AFTER) {
            let secs: Option<u64> = wait.to_str().ok().and_then(|w| w.parse().ok());
            prop_assert_eq!(
                decoded.retry_after,
                secs.map(Duration::from_secs),
                "the body tells the header's wait: {}",
                at
            );
        }
    }

    // An error says what it varies on, each header once, and keeps no
    // header of a body it replaced.
    let vary: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or_default().split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    let mut once = vary.clone();
    once.sort();
    once.dedup();
    prop_assert_eq!(
        once.len(),
        vary.len(),
        "Vary names each header once: {}",
        at
    );
    let version = if case.media_pin {
        "accept"
    } else {
        "x-api-version"
    };
    prop_assert!(
        vary.iter().any(|v| v == version),
        "Vary names {}: {}",
        version,
        at
    );
    if case.problem_on_accept {
        prop_assert!(
            vary.iter().any(|v| v == "accept"),
            "Vary names accept: {}",
            at
        );
    }
    prop_assert!(!headers.contains_key(header::CONTENT_ENCODING), "{}", at);

    // The headers a status needs.
    if status == 405 {
        let allow = headers
            .get(header::ALLOW)
            .and_then(|a| a.to_str().ok())
            .unwrap_or_default();
        let allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
        prop_assert!(!allow.is_empty(), "405 keeps Allow: {}", at);
        prop_assert!(!allowed.contains(&case.method.as_str()), "{}", at);
        if let Some(methods) = case.target.methods() {
            for method in methods {
                prop_assert!(allowed.contains(method), "Allow lists {}: {}", method, at);
            }
        }
    }
    if matches!(status, 429 | 503) {
        prop_assert!(headers.contains_key(header::RETRY_AFTER), "{}", at);
    }
    for wait in headers.get_all(header::RETRY_AFTER) {
        prop_assert!(
            !wait.is_empty() && wait.as_bytes().iter().all(u8::is_ascii_digit),
            "Retry-After in delay-seconds: {}",
            at
        );
    }
    if status == 415 && !decodable(case) {
        prop_assert_eq!(
            headers.get(header::ACCEPT_ENCODING).map(|v| v.as_bytes()),
            Some(&b"gzip, deflate"[..]),
            "a refused coding lists those decoded: {}",
            at
        );
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_request_is_answered_in_the_envelope_with_a_request_id(case in case()) {
        quiet_panics();
        let runtime = runtime();
        let (res, body) = runtime.block_on(send(&case));
        check(&case, &res, &body)?;
        // A HEAD error tells the length its GET's body has.
        if case.method == Method::HEAD && res.status().as_u16() >= 400 {
            let twin = Case { method: Method::GET, ..case.clone() };
            let (got, got_body) = runtime.block_on(send(&twin));
            prop_assert_eq!(got.status(), res.status(), "HEAD answers as GET does");
            // Around the whole router, a HEAD error whose length is unseen
            // tells none; a length told is the GET's.
            let told = res.headers().get(header::CONTENT_LENGTH).and_then(|l| l.to_str().ok());
            if told.is_some() || !case.around {
                prop_assert_eq!(
                    told,
                    Some(&*got_body.len().to_string()),
                    "HEAD tells GET's length: {:?}", String::from_utf8_lossy(&got_body)
                );
            }
        }
    }
}
