//! Every failure source × every dialect, without sockets: status, code, body
//! shape (read back with the core decoder), request id and kept headers.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Router, middleware};
use axum_extra::TypedHeader;
use axum_extra::headers::UserAgent;
use http_body_util::BodyExt;
use serde::Deserialize;
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Form, HandlerError, Json, Path, Query, Tollgate};
use tower::ServiceExt;

const LIMIT: usize = 64;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Item {
    name: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Order {
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Page {
    page: u32,
}

/// A streamed body of unknown length (as a chunked upload arrives).
struct Chunks(VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// A streamed body that breaks after its first chunk (a connection reset, bad
/// chunking).
struct Broken(Option<Bytes>);

impl http_body::Body for Broken {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(match self.0.take() {
            Some(chunk) => Ok(http_body::Frame::data(chunk)),
            None => Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        }))
    }
}

/// A body that announces 20 bytes and never sends them (an upstream that
/// stalls after its headers).
struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(20)
    }
}

/// An upstream's plain-text 503 whose body stalls.
fn stalled_503() -> Response<Body> {
    let mut response = Response::new(Body::new(Stalled));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// A proxied plain-text 409, gzipped.
async fn gzipped_409() -> Response<Body> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, b"scan_1 already exists").unwrap();
    let text = gzip.finish().unwrap();
    (
        StatusCode::CONFLICT,
        [
            (header::CONTENT_ENCODING, "gzip"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        text,
    )
        .into_response()
}

/// Reads every part of a multipart body, as an upload handler does.
async fn read_parts(mut parts: axum::extract::Multipart) -> Result<&'static str, HandlerError> {
    while let Some(field) = parts.next_field().await? {
        field.bytes().await?;
    }
    Ok("ok")
}

/// Takes axum's `Multipart` rejection, and returns it with `?`.
async fn take_multipart(
    parts: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<&'static str, HandlerError> {
    parts?;
    Ok("ok")
}

/// The same, answering axum's own `MultipartError` (its status and text).
async fn read_parts_axum(
    mut parts: axum::extract::Multipart,
) -> Result<&'static str, axum::extract::multipart::MultipartError> {
    while let Some(field) = parts.next_field().await? {
        field.bytes().await?;
    }
    Ok("ok")
}

/// A multipart request to `/upload-read` whose body is `body`.
fn multipart(body: Body) -> Request<Body> {
    multipart_to("/upload-read", body)
}

/// A multipart request to `path` whose body is `body`.
fn multipart_to(path: &str, body: Body) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=X")
        .body(body)
        .unwrap()
}

const PART_HEAD: &[u8] = b"--X\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n";

/// What a rate limiter (another crate) answers: already rendered on its own
/// in the `problem` dialect, with its headers and the error in the extensions.
async fn rate_limited() -> Response<Body> {
    let err = Catalog::builtin_ref()
        .error("rate_limit_exceeded")
        .unwrap()
        .with("limit", 10)
        .with("window", 60)
        .retry_after(Duration::from_millis(1500));
    let ctx = tollgate::Context::new(SystemTime::now());
    let mut response = Catalog::builtin_ref()
        .renderer(Dialect::Problem)
        .response(&err, &ctx)
        .map(Body::from);
    response
        .headers_mut()
        .insert("ratelimit-policy", HeaderValue::from_static("10;w=60"));
    response.extensions_mut().insert(err);
    response
}

async fn unauthenticated() -> Result<&'static str, HandlerError> {
    let err = Catalog::builtin_ref().error("invalid_key")?.header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"api\""),
    );
    Err(err.into())
}

async fn io_failure() -> Result<&'static str, HandlerError> {
    Err(std::io::Error::other("database password is hunter2"))?
}

async fn panics() -> &'static str {
    panic!("the secret is hunter2")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(60)).await;
    "late"
}

/// A 404 page served precompressed (as `ServeDir` does), with the headers
/// that describe it and some that describe the response.
async fn precompressed_not_found() -> Response<Body> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, b"<h1>Not found</h1>").unwrap();
    let page = gzip.finish().unwrap();
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_ENCODING, "gzip"),
            (header::CONTENT_TYPE, "text/html"),
            (header::CONTENT_LANGUAGE, "en"),
            (header::ETAG, "\"404-page\""),
            (header::LAST_MODIFIED, "Wed, 01 May 2024 12:00:00 GMT"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

fn app(dialect: Dialect) -> Router {
    app_timed(dialect, Some(Duration::from_secs(1)))
}

/// [`app`] with its layer's timeout, or none.
fn app_timed(dialect: Dialect, timeout: Option<Duration>) -> Router {
    let mut gate = Tollgate::new(Catalog::builtin())
        .dialect(dialect)
        .problem_on_accept(false)
        .body_limit(LIMIT);
    if let Some(timeout) = timeout {
        gate = gate.timeout(timeout);
    }
    Router::new()
        .route("/json", post(|Json(_): Json<Order>| async { "ok" }))
        .route(
            "/axum-json",
            post(|axum::Json(_): axum::Json<Order>| async { "ok" }),
        )
        .route("/query", get(|Query(_): Query<Page>| async { "ok" }))
        .route(
            "/axum-query",
            get(|axum::extract::Query(_): axum::extract::Query<Page>| async { "ok" }),
        )
        .route("/users/{id}", get(|Path(_): Path<u32>| async { "ok" }))
        .route(
            "/axum-users/{id}",
            get(|axum::extract::Path(_): axum::extract::Path<u32>| async { "ok" }),
        )
        .route(
            "/arity/{a}/{b}",
            get(|axum::extract::Path(_): axum::extract::Path<u32>| async { "ok" }),
        )
        .route("/form", post(|Form(_): Form<Page>| async { "ok" }))
        .route(
            "/axum-form",
            post(|axum::Form(_): axum::Form<Page>| async { "ok" }),
        )
        .route(
            "/header",
            get(|TypedHeader(_): TypedHeader<UserAgent>| async { "ok" }),
        )
        .route(
            "/upload",
            post(|_: axum::extract::Multipart| async { "ok" }),
        )
        .route("/upload-typed", post(take_multipart))
        .route("/upload-read", post(read_parts))
        .route("/upload-read-axum", post(read_parts_axum))
        .route("/bytes", post(|_: Bytes| async { "ok" }))
        .route("/slow", get(slow))
        .route("/panic", get(panics))
        .route("/auth", get(unauthenticated))
        .route("/io", get(io_failure))
        .route("/limited", get(rate_limited))
        .route(
            "/bare-429",
            get(|| async {
                (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")]).into_response()
            }),
        )
        .route(
            "/bare-403",
            get(|| async { StatusCode::FORBIDDEN.into_response() }),
        )
        .route(
            "/conflict",
            get(|| async { (StatusCode::CONFLICT, "scan_1 already exists").into_response() }),
        )
        .route("/precompressed-404", get(precompressed_not_found))
        .route("/stalled-503", get(|| async { stalled_503() }))
        .route(
            "/proxied-stalled-503",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                stalled_503()
            }),
        )
        .route("/gzipped-409", get(gzipped_409))
        .route(
            "/conflict-upper-case-type",
            get(|| async {
                let text = "scan_1 already exists";
                (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, "Text/Plain; charset=UTF-8")],
                    text,
                )
            }),
        )
        .route(
            "/bare-409",
            get(|| async { StatusCode::CONFLICT.into_response() }),
        )
        .layer(middleware::map_response(
            |mut res: Response<Body>| async move {
                // CORS, set by a layer inside ours: must survive the rewrite.
                res.headers_mut()
                    .insert("access-control-allow-origin", HeaderValue::from_static("*"));
                res
            },
        ))
        .layer(gate.layer())
}

struct Case {
    name: &'static str,
    request: fn() -> Request<Body>,
    status: u16,
    code: &'static str,
    /// The field the error names (a violation, the `field` detail, or the message).
    field: Option<&'static str>,
    /// Headers that must be on the response (value checked when given).
    keep: &'static [(&'static str, Option<&'static str>)],
}

fn json(uri: &str, body: &'static str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn get_(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

const CORS: (&str, Option<&str>) = ("access-control-allow-origin", Some("*"));

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "json syntax",
            request: || json("/json", "{\"items\": ["),
            status: 400,
            code: "malformed_request",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "json wrong type",
            request: || {
                json(
                    "/json",
                    r#"{"items":[{"name":"a"},{"name":"b"},{"name":5}]}"#,
                )
            },
            status: 400,
            code: "validation_error",
            field: Some("items[2].name"),
            keep: &[CORS],
        },
        Case {
            // Valid JSON (RFC 8259 sets numbers no range) that no number
            // type holds: the field's value is wrong, not the body.
            name: "json number out of range",
            request: || json("/json", r#"{"items":[{"name":1e400}]}"#),
            status: 400,
            code: "validation_error",
            field: Some("items[0].name"),
            keep: &[CORS],
        },
        Case {
            name: "json missing field",
            request: || json("/json", r#"{"items":[{}]}"#),
            status: 400,
            code: "missing_field",
            field: Some("items[0].name"),
            keep: &[CORS],
        },
        Case {
            name: "json content type",
            request: || Request::post("/json").body(Body::from("{}")).unwrap(),
            status: 415,
            code: "unsupported_media_type",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "axum json wrong type",
            request: || {
                json(
                    "/axum-json",
                    r#"{"items":[{"name":"a"},{"name":"b"},{"name":5}]}"#,
                )
            },
            status: 400,
            code: "validation_error",
            field: Some("items[2].name"),
            keep: &[CORS],
        },
        Case {
            name: "axum json number out of range",
            request: || json("/axum-json", r#"{"items":[{"name":1e400}]}"#),
            status: 400,
            code: "validation_error",
            field: Some("items[0].name"),
            keep: &[CORS],
        },
        Case {
            name: "axum json missing field",
            request: || json("/axum-json", r#"{"items":[{}]}"#),
            status: 400,
            code: "missing_field",
            field: Some("items[0].name"),
            keep: &[CORS],
        },
        Case {
            name: "axum json syntax",
            request: || json("/axum-json", "{"),
            status: 400,
            code: "malformed_request",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "axum json content type",
            request: || Request::post("/axum-json").body(Body::from("{}")).unwrap(),
            status: 415,
            code: "unsupported_media_type",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "query bad value",
            request: || get_("/query?page=abc"),
            status: 400,
            code: "validation_error",
            field: Some("page"),
            keep: &[CORS],
        },
        Case {
            name: "query missing",
            request: || get_("/query"),
            status: 400,
            code: "missing_field",
            field: Some("page"),
            keep: &[CORS],
        },
        Case {
            name: "axum query bad value",
            request: || get_("/axum-query?page=abc"),
            status: 400,
            code: "validation_error",
            field: Some("page"),
            keep: &[CORS],
        },
        Case {
            name: "axum query missing",
            request: || get_("/axum-query"),
            status: 400,
            code: "missing_field",
            field: Some("page"),
            keep: &[CORS],
        },
        Case {
            name: "path bad value",
            request: || get_("/users/abc"),
            status: 400,
            code: "validation_error",
            field: Some("id"),
            keep: &[CORS],
        },
        Case {
            name: "axum path bad value",
            request: || get_("/axum-users/abc"),
            status: 400,
            code: "validation_error",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "axum path arity (a bug: 500)",
            request: || get_("/arity/1/2"),
            status: 500,
            code: "internal_error",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "form bad value",
            request: || {
                Request::post("/form")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from("page=x"))
                    .unwrap()
            },
            status: 400,
            code: "validation_error",
            field: Some("page"),
            keep: &[CORS],
        },
        Case {
            name: "form content type",
            request: || Request::post("/form").body(Body::from("page=1")).unwrap(),
            status: 415,
            code: "unsupported_media_type",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "axum form bad value",
            request: || {
                Request::post("/axum-form")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from("page=x"))
                    .unwrap()
            },
            status: 400,
            code: "validation_error",
            field: Some("page"),
            keep: &[CORS],
        },
        Case {
            name: "typed header missing",
            request: || get_("/header"),
            status: 400,
            code: "missing_field",
            field: Some("user-agent"),
            keep: &[CORS],
        },
        Case {
            name: "multipart without boundary",
            request: || {
                Request::post("/upload")
                    .header(header::CONTENT_TYPE, "text/plain")
                    .body(Body::from("x"))
                    .unwrap()
            },
            status: 415,
            code: "unsupported_media_type",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "multipart/form-data without a boundary",
            request: || {
                Request::post("/upload")
                    .header(header::CONTENT_TYPE, "multipart/form-data")
                    .body(Body::from("x"))
                    .unwrap()
            },
            status: 400,
            code: "malformed_request",
            field: Some("boundary"),
            keep: &[CORS],
        },
        Case {
            name: "multipart/form-data without a boundary, taken with ?",
            request: || {
                Request::post("/upload-typed")
                    .header(header::CONTENT_TYPE, "Multipart/Form-Data; charset=utf-8")
                    .body(Body::from("x"))
                    .unwrap()
            },
            status: 400,
            code: "malformed_request",
            field: Some("boundary"),
            keep: &[CORS],
        },
        Case {
            name: "multipart of another type, taken with ?",
            request: || {
                Request::post("/upload-typed")
                    .header(header::CONTENT_TYPE, "text/plain")
                    .body(Body::from("x"))
                    .unwrap()
            },
            status: 415,
            code: "unsupported_media_type",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "unmatched route",
            request: || get_("/nowhere"),
            status: 404,
            code: "not_found",
            field: None,
            keep: &[],
        },
        Case {
            name: "wrong method",
            request: || Request::delete("/query").body(Body::empty()).unwrap(),
            status: 405,
            code: "method_not_allowed",
            field: None,
            keep: &[("allow", None), CORS],
        },
        Case {
            name: "content-length over the limit",
            request: || {
                Request::post("/bytes")
                    .header(header::CONTENT_LENGTH, "100")
                    .body(Body::from(vec![b'x'; 100]))
                    .unwrap()
            },
            status: 413,
            code: "payload_too_large",
            field: None,
            keep: &[],
        },
        Case {
            name: "chunked body growing past the limit",
            request: || {
                let chunks = (0..10).map(|_| Bytes::from_static(&[b'x'; 16])).collect();
                Request::post("/bytes")
                    .body(Body::new(Chunks(chunks)))
                    .unwrap()
            },
            status: 413,
            code: "payload_too_large",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "chunked multipart growing past the limit",
            request: || {
                let head = std::iter::once(Bytes::from_static(PART_HEAD));
                let data = (0..10).map(|_| Bytes::from_static(&[b'x'; 16]));
                multipart(Body::new(Chunks(head.chain(data).collect())))
            },
            status: 413,
            code: "payload_too_large",
            field: None,
            keep: &[CORS],
        },
        Case {
            // axum reads the twice-wrapped limit error as a 500.
            name: "chunked multipart past the limit, axum's own error",
            request: || {
                let head = std::iter::once(Bytes::from_static(PART_HEAD));
                let data = (0..10).map(|_| Bytes::from_static(&[b'x'; 16]));
                multipart_to(
                    "/upload-read-axum",
                    Body::new(Chunks(head.chain(data).collect())),
                )
            },
            status: 413,
            code: "payload_too_large",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "multipart body broken midway",
            request: || multipart(Body::new(Broken(Some(Bytes::from_static(PART_HEAD))))),
            status: 400,
            code: "malformed_request",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "chunked json growing past the limit",
            request: || {
                let chunks = (0..10).map(|_| Bytes::from_static(&[b' '; 16])).collect();
                Request::post("/json")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::new(Chunks(chunks)))
                    .unwrap()
            },
            status: 413,
            code: "payload_too_large",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "timeout",
            request: || get_("/slow"),
            status: 504,
            code: "timeout",
            field: None,
            keep: &[],
        },
        Case {
            name: "panic",
            request: || get_("/panic"),
            status: 500,
            code: "internal_error",
            field: None,
            keep: &[],
        },
        Case {
            name: "api error keeps WWW-Authenticate",
            request: || get_("/auth"),
            status: 401,
            code: "invalid_key",
            field: None,
            keep: &[("www-authenticate", Some("Bearer realm=\"api\"")), CORS],
        },
        Case {
            name: "other error with ?",
            request: || get_("/io"),
            status: 500,
            code: "internal_error",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "another component's error",
            request: || get_("/limited"),
            status: 429,
            code: "rate_limit_exceeded",
            field: None,
            keep: &[
                ("retry-after", Some("2")),
                ("ratelimit-policy", Some("10;w=60")),
                CORS,
            ],
        },
        Case {
            name: "json body still compressed",
            request: || {
                let mut request = json("/json", "\u{1f}\u{8b}\u{8}\u{0}");
                request
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                request
            },
            status: 415,
            code: "unsupported_media_type",
            field: Some("(gzip)"),
            keep: &[("accept-encoding", Some("identity")), CORS],
        },
        Case {
            name: "form body still compressed",
            request: || {
                Request::post("/form")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::CONTENT_ENCODING, "identity, br")
                    .body(Body::from("page=1"))
                    .unwrap()
            },
            status: 415,
            code: "unsupported_media_type",
            field: Some("(br)"),
            keep: &[("accept-encoding", Some("identity")), CORS],
        },
        Case {
            name: "a bare 429 from another limiter",
            request: || get_("/bare-429"),
            status: 429,
            code: "rate_limit_exceeded",
            field: Some("Rate limit exceeded"),
            keep: &[("retry-after", Some("7")), CORS],
        },
        Case {
            name: "a bare 403",
            request: || get_("/bare-403"),
            status: 403,
            code: "insufficient_scope",
            field: None,
            keep: &[CORS],
        },
        Case {
            name: "handler's own plain error",
            request: || get_("/conflict"),
            status: 409,
            code: "conflict",
            field: None,
            keep: &[CORS],
        },
    ]
}

async fn send(app: Router, mut request: Request<Body>, id: Option<&str>) -> (Response<()>, Bytes) {
    if let Some(id) = id {
        request
            .headers_mut()
            .insert("x-request-id", HeaderValue::from_str(id).unwrap());
    }
    let response = app.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

#[tokio::test(start_paused = true)]
async fn every_failure_source_in_every_dialect() {
    let catalog = Catalog::builtin();
    let mut checked = 0;
    for dialect in Dialect::ALL {
        for case in cases() {
            let at = format!("{} in {dialect}", case.name);
            // Half the requests bring their own id, which must be echoed.
            let given = (checked % 2 == 0).then(|| format!("req_{checked}"));
            let (res, body) = send(app(dialect), (case.request)(), given.as_deref()).await;
            let text = String::from_utf8_lossy(&body);

            assert_eq!(res.status().as_u16(), case.status, "{at}: {text}");
            let wire = catalog.get(case.code).unwrap().wire_code(dialect);
            assert_eq!(res.headers()["x-error-code"], &*wire, "{at}");
            assert_eq!(
                res.headers()[header::CONTENT_TYPE],
                dialect.content_type(),
                "{at}"
            );
            let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            assert!(tollgate::headers::is_valid_request_id(&id), "{at}");
            if let Some(given) = &given {
                assert_eq!(&id, given, "{at}");
            }
            for (name, value) in case.keep {
                let values: Vec<_> = res.headers().get_all(*name).iter().collect();
                assert_eq!(
                    values.len(),
                    1,
                    "{at}: header {name} kept once: {:?}",
                    res.headers()
                );
                if let Some(value) = value {
                    assert_eq!(values[0], *value, "{at}: header {name}");
                }
            }

            let decoded = catalog.decode(
                res.status().as_u16(),
                res.headers(),
                &body,
                SystemTime::now(),
            );
            assert_eq!(decoded.dialect, dialect.name(), "{at}: {text}");
            assert_eq!(decoded.code.as_deref(), Some(&*wire), "{at}: {text}");
            assert_eq!(decoded.status, case.status, "{at}");
            assert_eq!(
                decoded.request_id.as_deref(),
                Some(id.as_str()),
                "{at}: {text}"
            );
            if let Some(field) = case.field {
                let named = decoded.violations.iter().any(|v| v.field == field)
                    || decoded.details.get("field").and_then(|f| f.as_str()) == Some(field)
                    || decoded
                        .message
                        .as_deref()
                        .is_some_and(|m| m.contains(field));
                assert!(named, "{at}: {field} not named in {text}");
            }
            assert!(
                !text.contains("hunter2"),
                "{at}: a cause leaked into the body: {text}"
            );
            // Read from a status alone, a message names nothing it lacks.
            let message = decoded.message.as_deref().unwrap_or_default();
            assert!(
                !message.contains(['{', '}']) && !message.contains("unknown"),
                "{at}: {text}"
            );
            if res.headers().contains_key("retry-after") {
                assert!(decoded.retry_after.is_some(), "{at}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Dialect::ALL.len() * cases().len());
}

#[tokio::test]
async fn a_bare_429_says_its_wait_in_the_body_too() {
    let (res, body) = send(app(Dialect::StatusCode), get_("/bare-429"), None).await;
    assert_eq!(res.headers()["retry-after"], "7");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["retry_after"], 7, "{body}");
    assert_eq!(body["error"]["message"], "Rate limit exceeded", "{body}");
}

/// The body a rewrite replaces takes the headers that described it along
/// (a client would try to gunzip the envelope); those about the response
/// stay.
#[tokio::test]
async fn a_replaced_bodys_headers_go_with_it() {
    let catalog = Catalog::builtin();
    for dialect in Dialect::ALL {
        let (res, body) = send(app(dialect), get_("/precompressed-404"), None).await;
        assert_eq!(res.status(), 404, "{dialect}");
        for gone in [
            header::CONTENT_ENCODING,
            header::CONTENT_LANGUAGE,
            header::ETAG,
            header::LAST_MODIFIED,
        ] {
            assert!(
                !res.headers().contains_key(&gone),
                "{dialect}: {gone} kept: {:?}",
                res.headers()
            );
        }
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            "no-store",
            "{dialect}"
        );
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "*",
            "{dialect}"
        );
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            dialect.content_type(),
            "{dialect}"
        );
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let decoded = catalog.decode(404, res.headers(), &body, SystemTime::now());
        assert_eq!(decoded.dialect, dialect.name(), "{dialect}: {value}");
        assert_eq!(
            decoded.code.as_deref(),
            Some(&*catalog.get("not_found").unwrap().wire_code(dialect)),
            "{dialect}: {value}"
        );
    }
}

/// The text of an error whose body stalls is read no longer than the
/// deadline, counted from the first wait (the service's or, when it answered
/// at once, the read's); the status alone then speaks.
#[tokio::test(start_paused = true)]
async fn a_stalled_error_body_ends_at_the_deadline() {
    for uri in ["/stalled-503", "/proxied-stalled-503"] {
        let start = tokio::time::Instant::now();
        let sent = send(app(Dialect::Flat), get_(uri), None);
        let (res, _) = tokio::time::timeout(Duration::from_secs(60), sent)
            .await
            .unwrap_or_else(|_| panic!("{uri}: no response by the deadline"));
        assert_eq!(start.elapsed(), Duration::from_secs(1), "{uri}");
        assert_eq!(res.status(), 503, "{uri}");
        assert_eq!(
            res.headers()["x-error-code"],
            "service_unavailable",
            "{uri}"
        );
    }
}

/// With no timeout set, the text is waited for 1 s; a timeout too long for
/// the clock is no deadline, not a panic.
#[tokio::test(start_paused = true)]
async fn a_stalled_error_body_is_not_waited_for_ever() {
    for (timeout, waited) in [
        (None, Duration::from_secs(1)),
        (Some(Duration::MAX), Duration::from_secs(86_400 * 365 * 30)),
    ] {
        let start = tokio::time::Instant::now();
        let sent = send(
            app_timed(Dialect::Flat, timeout),
            get_("/stalled-503"),
            None,
        );
        let (res, _) = sent.await;
        assert_eq!(start.elapsed(), waited, "{timeout:?}");
        assert_eq!(res.status(), 503, "{timeout:?}");
        assert_eq!(res.headers()["x-error-code"], "service_unavailable");
    }
    // A plain-text rejection read at once under the longest timeout.
    let app = app_timed(Dialect::Flat, Some(Duration::MAX));
    let request = Request::post("/axum-json")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let (res, _) = send(app, request, None).await;
    assert_eq!(res.status(), 415);
    assert_eq!(res.headers()["x-error-code"], "unsupported_media_type");
}

/// A compressed text body is not read for its meaning: the status says it.
#[tokio::test]
async fn a_compressed_error_text_is_not_read() {
    let (res, body) = send(app(Dialect::Flat), get_("/gzipped-409"), None).await;
    let (_, bare) = send(app(Dialect::Flat), get_("/bare-409"), None).await;
    assert_eq!(res.status(), 409);
    assert!(!res.headers().contains_key(header::CONTENT_ENCODING));
    assert_eq!(body, bare, "{}", String::from_utf8_lossy(&body));
}

/// A JSON error no layer rendered (a handler's own format, an upstream
/// Tollgate service's answer) is read by the catalog's decoder: its message
/// as a text body's would be, its code where the catalog knows it, its
/// violations kept; a server error's message stays in the log.
#[tokio::test]
async fn an_error_in_json_of_its_own_is_read() {
    let json = |status: StatusCode, body: &'static str| {
        move || async move { (status, [(header::CONTENT_TYPE, "application/json")], body) }
    };
    let upstream = || async {
        let err = Catalog::builtin()
            .error("validation_error")
            .unwrap()
            .violation(tollgate::Violation::new(
                "email",
                "invalid_format",
                "not an email",
            ));
        let ctx = tollgate::Context::new(SystemTime::UNIX_EPOCH).request_id("req_upstream");
        let rendered = Catalog::builtin()
            .renderer(Dialect::Coded)
            .response(&err, &ctx);
        rendered.map(Body::from)
    };
    let app = || {
        let own_500 = r#"{"message":"db password is hunter2"}"#;
        Router::new()
            .route(
                "/own-409",
                get(json(
                    StatusCode::CONFLICT,
                    r#"{"error":"scan_1 already exists"}"#,
                )),
            )
            .route(
                "/own-500",
                get(json(StatusCode::INTERNAL_SERVER_ERROR, own_500)),
            )
            .route(
                "/opaque-404",
                get(json(StatusCode::NOT_FOUND, r#"{"ok":false}"#)),
            )
            .route("/upstream-400", get(upstream))
            // 402 means nothing by itself; the catalog's entries give it one.
            .route(
                "/own-402",
                get(json(
                    StatusCode::PAYMENT_REQUIRED,
                    r#"{"error":"insufficient_credits","message":"Top up first."}"#,
                )),
            )
            // Its details beside its code, as no dialect puts them.
            .route(
                "/flat-402",
                get(json(
                    StatusCode::PAYMENT_REQUIRED,
                    r#"{"code":"insufficient_credits","message":"pay up","required":9,"available":2,"extra":"x"}"#,
                )),
            )
            .route(
                "/opaque-402",
                get(json(StatusCode::PAYMENT_REQUIRED, r#"{"ok":false}"#)),
            )
            .route(
                "/text-402",
                get(|| async { (StatusCode::PAYMENT_REQUIRED, "Out of credits") }),
            )
            // The wait asked for in the body alone (the headers were dropped).
            .route(
                "/own-503",
                get(json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"code":"service_unavailable","detail":"busy","retry_after":5}"#,
                )),
            )
            .layer(
                Tollgate::new(Catalog::builtin())
                    .dialect(Dialect::Problem)
                    .layer(),
            )
    };
    let body = |bytes: &Bytes| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();

    let (res, bytes) = send(app(), get_("/own-409"), None).await;
    let own = body(&bytes);
    assert_eq!(
        (res.status(), &own["code"]),
        (StatusCode::CONFLICT, &"conflict".into())
    );
    assert_eq!(own["detail"], "scan_1 already exists", "{own}");

    let (res, bytes) = send(app(), get_("/upstream-400"), None).await;
    let upstream = body(&bytes);
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(upstream["code"], "validation_error", "{upstream}");
    assert_eq!(upstream["errors"][0]["pointer"], "/email", "{upstream}");
    assert_ne!(
        upstream["request_id"], "req_upstream",
        "the id is this request's"
    );

    let (res, bytes) = send(app(), get_("/own-500"), None).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!String::from_utf8_lossy(&bytes).contains("hunter2"));
    assert_eq!(body(&bytes)["code"], "internal_error");

    let (res, bytes) = send(app(), get_("/opaque-404"), None).await;
    assert_eq!(
        (res.status(), &body(&bytes)["code"]),
        (StatusCode::NOT_FOUND, &"not_found".into())
    );

    let (res, bytes) = send(app(), get_("/own-402"), None).await;
    let own = body(&bytes);
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(res.headers()["x-error-code"], "insufficient_credits");
    assert_eq!(
        (&own["code"], &own["detail"]),
        (&"insufficient_credits".into(), &"Top up first.".into()),
        "{own}"
    );
    // The details its entry documents are kept, wherever they stood.
    let (_, bytes) = send(app(), get_("/flat-402"), None).await;
    let flat = body(&bytes);
    assert_eq!(
        (&flat["required"], &flat["available"]),
        (&9.into(), &2.into()),
        "{flat}"
    );
    assert!(flat.get("extra").is_none(), "{flat}");
    // Naming no entry, or in text: no meaning to give it, so as it was.
    let (res, bytes) = send(app(), get_("/opaque-402"), None).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(!res.headers().contains_key("x-error-code"));
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(&bytes[..], br#"{"ok":false}"#);
    let (res, bytes) = send(app(), get_("/text-402"), None).await;
    assert!(!res.headers().contains_key("x-error-code"));
    assert_eq!(&bytes[..], b"Out of credits");

    let (res, bytes) = send(app(), get_("/own-503"), None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "5");
    assert_eq!(
        body(&bytes)["retry_after"],
        5,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

/// A media type is read in any case: a `Text/Plain` body is text.
#[tokio::test]
async fn an_error_text_of_any_case_is_read() {
    let (_, lower) = send(app(Dialect::Flat), get_("/conflict"), None).await;
    let (res, upper) = send(app(Dialect::Flat), get_("/conflict-upper-case-type"), None).await;
    let (_, bare) = send(app(Dialect::Flat), get_("/bare-409"), None).await;
    assert_eq!(res.status(), 409);
    // The flat dialect's body holds no request id: the bodies compare whole.
    assert_ne!(lower, bare, "{}", String::from_utf8_lossy(&lower));
    assert_eq!(upper, lower, "{}", String::from_utf8_lossy(&upper));
}

/// Around the whole router, the layer answers `HEAD` after axum emptied the
/// body: its error has the headers and length a `GET` would get, and no body.
#[tokio::test]
async fn head_errors_have_no_body() {
    use tower::Layer;
    let service = Tollgate::new(Catalog::builtin()).layer().layer(
        Router::new()
            .route("/bare-409", get(|| async { StatusCode::CONFLICT }))
            .route(
                "/missing",
                get(|| async {
                    Err::<(), _>(HandlerError::from(
                        Catalog::builtin_ref().error("not_found").unwrap(),
                    ))
                }),
            ),
    );
    for uri in ["/nowhere", "/bare-409", "/missing"] {
        let request = |method| {
            Request::builder()
                .method(method)
                .uri(uri)
                .header("x-request-id", "req_head")
                .body(Body::empty())
                .unwrap()
        };
        let get = service
            .clone()
            .oneshot(request(http::Method::GET))
            .await
            .unwrap();
        let get_body = get.into_body().collect().await.unwrap().to_bytes();
        let head = service
            .clone()
            .oneshot(request(http::Method::HEAD))
            .await
            .unwrap();
        let (parts, body) = head.into_parts();
        assert!(parts.status.is_client_error(), "{uri}: {}", parts.status);
        assert!(parts.headers.contains_key("x-error-code"), "{uri}");
        assert_eq!(
            parts.headers[header::CONTENT_LENGTH],
            get_body.len().to_string(),
            "{uri}"
        );
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(0), "{uri}");
        let body = body.collect().await.unwrap().to_bytes();
        assert!(body.is_empty(), "{uri}: {}", String::from_utf8_lossy(&body));
    }
}

/// A handler's own error JSON, with no `ApiError` on its response.
const UNMARKED_JSON_404: &str = r#"{"error":"not_found","message":"Rule 7 is not here"}"#;

/// Routes whose handlers answer errors of their own, with no `ApiError`
/// on the response: a text 409, a JSON 404 and a text 500.
fn unmarked_error_routes() -> Router {
    Router::new()
        .route(
            "/text-409",
            get(|| async { (StatusCode::CONFLICT, "scan_1 already exists") }),
        )
        .route(
            "/json-404",
            get(|| async {
                let json = [(header::CONTENT_TYPE, "application/json")];
                (StatusCode::NOT_FOUND, json, UNMARKED_JSON_404)
            }),
        )
        .route(
            "/text-500",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "db down") }),
        )
}

/// Around the whole router the layer sees a `HEAD` after axum left its
/// body off: an error whose text (or JSON) a `GET` gets read for its
/// message has a length the layer cannot tell, so it tells none rather
/// than a wrong one (RFC 9110 9.3.2). One whose text does not count keeps
/// the `GET`'s length.
#[tokio::test]
async fn a_head_error_tells_the_gets_length_or_none() {
    use tower::Layer;
    let service = Tollgate::new(Catalog::builtin())
        .layer()
        .layer(unmarked_error_routes());
    for (uri, length_known) in [
        ("/text-409", false),
        ("/json-404", false),
        ("/text-500", true),
    ] {
        let request = |method| {
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap()
        };
        let get = service.clone().oneshot(request(http::Method::GET));
        let get_body = get.await.unwrap().into_body().collect().await.unwrap();
        let get_length = get_body.to_bytes().len().to_string();
        let head = service.clone().oneshot(request(http::Method::HEAD));
        let (parts, body) = head.await.unwrap().into_parts();
        assert!(parts.headers.contains_key("x-error-code"), "{uri}");
        let length = parts.headers.get(header::CONTENT_LENGTH);
        if length_known {
            assert_eq!(
                length.map(|l| l.to_str().unwrap()),
                Some(&*get_length),
                "{uri}"
            );
        } else {
            assert!(
                length.is_none(),
                "{uri}: {length:?}, the GET's is {get_length}"
            );
        }
        assert!(body.collect().await.unwrap().to_bytes().is_empty(), "{uri}");
    }
}

const LATE_BODY: &str = r#"{"ok":false,"balance":0}"#;

/// A body whose frames each come a wait after the one before (a slow
/// upstream, proxied); `None` for a connection reset.
struct Late {
    frames: VecDeque<(Duration, Option<Bytes>)>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// What is left of the length announced.
    left: u64,
}

impl http_body::Body for Late {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let Some(&(wait, _)) = self.frames.front() else {
            return Poll::Ready(None);
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(wait)));
        std::task::ready!(sleep.as_mut().poll(cx));
        self.sleep = None;
        Poll::Ready(self.frames.pop_front().map(|(_, frame)| match frame {
            Some(data) => {
                self.left = self.left.saturating_sub(data.len() as u64);
                Ok(http_body::Frame::data(data))
            }
            None => Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        }))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// A JSON 402 naming no catalog entry (so passed on as it is), `announced`
/// bytes long by its `Content-Length`, its body sent as `frames`, under a
/// layer with no timeout (its body is read for 1 s).
async fn late_402(announced: usize, frames: Vec<(Duration, Option<Bytes>)>) -> Response<Body> {
    let handler = move || {
        let late = Late {
            frames: frames.clone().into(),
            sleep: None,
            left: announced as u64,
        };
        async move {
            Response::builder()
                .status(StatusCode::PAYMENT_REQUIRED)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, announced)
                .body(Body::new(late))
                .unwrap()
        }
    };
    let app = Router::new()
        .route("/", get(handler))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    app.oneshot(get_("/")).await.unwrap()
}

/// A JSON error body that arrives after the read window, with a status it
/// gives no meaning to, passes through whole: all of it late, or the part
/// after the window.
#[tokio::test(start_paused = true)]
async fn a_late_json_body_the_layer_gives_no_meaning_passes_through_whole() {
    let (first, second) = LATE_BODY.split_at(12);
    for frames in [
        vec![(Duration::from_secs(2), Some(Bytes::from(LATE_BODY)))],
        vec![
            (Duration::from_millis(100), Some(Bytes::from(first))),
            (Duration::from_secs(2), Some(Bytes::from(second))),
        ],
    ] {
        let response = late_402(LATE_BODY.len(), frames).await;
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
        assert!(!response.headers().contains_key("x-error-code"));
        assert!(response.headers().contains_key("x-request-id"));
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "24");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes, LATE_BODY);
    }
}

/// A JSON error whose status neither means anything by itself nor is one
/// the catalog gives its entries (418) is not read: it passes on at once,
/// not after its late body, and whole.
#[tokio::test(start_paused = true)]
async fn an_error_status_the_catalog_never_gives_passes_on_without_waiting_for_its_body() {
    let handler = || async {
        let late = Late {
            frames: [(Duration::from_secs(2), Some(Bytes::from(LATE_BODY)))].into(),
            sleep: None,
            left: LATE_BODY.len() as u64,
        };
        Response::builder()
            .status(StatusCode::IM_A_TEAPOT)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, LATE_BODY.len())
            .body(Body::new(late))
            .unwrap()
    };
    let app = Router::new()
        .route("/", get(handler))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let started = tokio::time::Instant::now();
    let response = app.oneshot(get_("/")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert!(!response.headers().contains_key("x-error-code"));
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "24");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes, LATE_BODY);
}

/// A JSON error body of bounded but unknown length, read whole for its
/// meaning and given none, passes on with its exact length (so that it is
/// sent with a `Content-Length`, not chunked).
#[tokio::test]
async fn a_json_body_read_whole_passes_on_with_its_exact_length() {
    let handler = || async {
        let chunks = [Ok::<_, std::io::Error>(Bytes::from(LATE_BODY))];
        let streamed = Body::from_stream(futures_util::stream::iter(chunks));
        Response::builder()
            .status(StatusCode::PAYMENT_REQUIRED)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::new(http_body_util::Limited::new(streamed, 4096)))
            .unwrap()
    };
    let app = Router::new()
        .route("/", get(handler))
        .layer(Tollgate::new(Catalog::builtin()).layer());
    let response = app.oneshot(get_("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(!response.headers().contains_key("x-error-code"));
    let body = response.into_body();
    assert_eq!(
        http_body::Body::size_hint(&body).exact(),
        Some(LATE_BODY.len() as u64)
    );
    assert_eq!(body.collect().await.unwrap().to_bytes(), LATE_BODY);
}

/// A body that breaks while the layer reads it passes on what came, then
/// the break: not a shorter body that ends well.
#[tokio::test(start_paused = true)]
async fn a_json_body_that_breaks_while_read_passes_on_the_break() {
    let (first, _) = LATE_BODY.split_at(12);
    let frames = vec![
        (Duration::ZERO, Some(Bytes::from(first))),
        (Duration::from_millis(100), None),
    ];
    let mut body = late_402(LATE_BODY.len(), frames).await.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), first);
    assert!(body.frame().await.unwrap().is_err());
}

/// A body longer than its announced length, past what the layer reads,
/// passes through whole too.
#[tokio::test(start_paused = true)]
async fn a_json_body_past_what_is_read_passes_through_whole() {
    let long = format!(r#"{{"ok":false,"pad":"{}"}}"#, "x".repeat(5000));
    let frames = vec![(Duration::ZERO, Some(Bytes::from(long.clone())))];
    let response = late_402(LATE_BODY.len(), frames).await;
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert!(bytes == long, "{} bytes of {}", bytes.len(), long.len());
}

/// The `Retry-After` of an error the layer writes is the wait its body
/// tells: a line that does not read as a wait (`-1`, `soon`) does not go
/// out, and of several lines the longest wait wins (as the decoder reads
/// them), sent once.
#[tokio::test]
async fn a_rewritten_errors_retry_after_is_the_wait_its_body_tells() {
    let bare_429 = |lines: &'static [&'static str]| {
        move || async move {
            let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
            for line in lines {
                response
                    .headers_mut()
                    .append(header::RETRY_AFTER, HeaderValue::from_static(line));
            }
            response
        }
    };
    let limited =
        || HandlerError::from(Catalog::builtin_ref().error("rate_limit_exceeded").unwrap());
    let app = Router::new()
        .route("/minus-one", get(bare_429(&["-1"])))
        .route("/garbage", get(bare_429(&["soon"])))
        .route("/two", get(bare_429(&["3", "30"])))
        .route("/garbage-then-wait", get(bare_429(&["soon", "30"])))
        .route(
            "/own-header",
            get(move || async move {
                let err = Catalog::builtin_ref()
                    .error("rate_limit_exceeded")
                    .unwrap()
                    .header(header::RETRY_AFTER, HeaderValue::from_static("-1"));
                Err::<(), _>(HandlerError::from(err))
            }),
        )
        .route(
            "/response-header",
            get(move || async move { ([(header::RETRY_AFTER, "-1")], limited()) }),
        )
        .route(
            "/response-wait",
            get(move || async move { ([(header::RETRY_AFTER, "12")], limited()) }),
        )
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::StatusCode)
                .layer(),
        );
    for (uri, wait) in [
        ("/minus-one", None),
        ("/garbage", None),
        ("/two", Some(30)),
        ("/garbage-then-wait", Some(30)),
        ("/own-header", None),
        ("/response-header", None),
        ("/response-wait", Some(12)),
    ] {
        let (res, body) = send(app.clone(), get_(uri), None).await;
        assert_eq!(res.status(), 429, "{uri}");
        let lines: Vec<_> = res.headers().get_all(header::RETRY_AFTER).iter().collect();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        match wait {
            Some(wait) => assert_eq!(lines, [&*wait.to_string()], "{uri}"),
            None => assert!(lines.is_empty(), "{uri}: {lines:?}"),
        }
        assert_eq!(
            body["error"].get("retry_after").and_then(|w| w.as_u64()),
            wait,
            "{uri}: {body}"
        );
    }
}

/// A 413 answered over another error (the body passed the limit while the
/// handler read it) leaves the replaced error's `Retry-After` behind.
#[tokio::test]
async fn a_413_over_a_429_asks_for_no_wait() {
    let app = Router::new()
        .route(
            "/",
            post(
                |body: Result<Bytes, axum::extract::rejection::BytesRejection>| async move {
                    drop(body);
                    rate_limited().await
                },
            ),
        )
        .layer(Tollgate::new(Catalog::builtin()).body_limit(LIMIT).layer());
    let chunks = (0..10).map(|_| Bytes::from_static(&[b'x'; 16])).collect();
    let request = Request::post("/").body(Body::new(Chunks(chunks))).unwrap();
    let (res, body) = send(app, request, None).await;
    assert_eq!(res.status(), 413, "{}", String::from_utf8_lossy(&body));
    assert_eq!(res.headers()["x-error-code"], "payload_too_large");
    assert!(
        !res.headers().contains_key(header::RETRY_AFTER),
        "{:?}",
        res.headers()
    );
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(body.get("retry_after").is_none(), "{body}");
}

/// The limit is the largest body taken: one declaring exactly the limit's
/// length reaches the route, one a byte longer is refused.
#[tokio::test]
async fn a_body_of_exactly_the_limit_is_taken() {
    for (len, status) in [(LIMIT, 200), (LIMIT + 1, 413)] {
        let request = Request::post("/bytes")
            .header(header::CONTENT_LENGTH, len.to_string())
            .body(Body::from(vec![b'x'; len]))
            .unwrap();
        let (res, body) = send(app(Dialect::Envelope), request, None).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(res.status(), status, "{len} bytes: {body}");
    }
}

/// An error that tells its own wait keeps it: a `Retry-After` the handler
/// put on the response besides is dropped, not adopted.
#[tokio::test]
async fn an_errors_own_wait_wins_over_the_responses_retry_after() {
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                let err = Catalog::builtin_ref()
                    .error("rate_limit_exceeded")
                    .unwrap()
                    .retry_after(Duration::from_secs(30));
                ([(header::RETRY_AFTER, "12")], HandlerError::from(err))
            }),
        )
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::StatusCode)
                .layer(),
        );
    let (res, body) = send(app, get_("/"), None).await;
    assert_eq!(res.status(), 429);
    let lines: Vec<_> = res.headers().get_all(header::RETRY_AFTER).iter().collect();
    assert_eq!(lines, ["30"], "{:?}", res.headers());
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["retry_after"], 30, "{body}");
}

/// With `rewrite_unmarked(false)` an error response that carries no
/// `ApiError` (axum's empty 404, a handler's own text or JSON) leaves as
/// the handler made it, with the request id; a marked error is still
/// rendered.
#[tokio::test]
async fn unmarked_errors_pass_through_when_rewriting_is_off() {
    let app = unmarked_error_routes()
        .route("/auth", get(unauthenticated))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Envelope)
                .rewrite_unmarked(false)
                .layer(),
        );
    for (uri, status, sent) in [
        ("/text-409", 409, "scan_1 already exists"),
        ("/json-404", 404, UNMARKED_JSON_404),
        ("/text-500", 500, "db down"),
        ("/nowhere", 404, ""),
    ] {
        let (res, body) = send(app.clone(), get_(uri), Some("req_raw")).await;
        assert_eq!(res.status(), status, "{uri}");
        assert!(
            !res.headers().contains_key("x-error-code"),
            "{uri}: {:?}",
            res.headers()
        );
        assert_eq!(res.headers()["x-request-id"], "req_raw", "{uri}");
        assert_eq!(String::from_utf8_lossy(&body), sent, "{uri}");
    }
    let (res, _) = send(app, get_("/auth"), None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["x-error-code"], "invalid_key");
}

/// Only plain text (or JSON) is read for its meaning: an HTML error page's
/// markup never becomes the message, the status alone says it.
#[tokio::test]
async fn an_html_error_page_is_not_read() {
    let app = Router::new()
        .route(
            "/html-409",
            get(|| async {
                (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<h1>scan_1 already exists</h1>",
                )
            }),
        )
        .route("/bare-409", get(|| async { StatusCode::CONFLICT }))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Flat)
                .layer(),
        );
    let (res, body) = send(app.clone(), get_("/html-409"), None).await;
    let (_, bare) = send(app, get_("/bare-409"), None).await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.headers()["x-error-code"], "conflict");
    assert_eq!(body, bare, "{}", String::from_utf8_lossy(&body));
}

/// Error bodies up to 4 KiB are read for their meaning, that size included:
/// a JSON error of exactly 4096 bytes gives its message, one a byte longer
/// only its status.
#[tokio::test]
async fn a_json_error_of_exactly_four_kib_is_read() {
    let sized = |len: usize| {
        let head = r#"{"error":"not_found","message":"Rule 7 is not here","pad":""#;
        let mut body = head.to_owned();
        body.push_str(&"x".repeat(len - head.len() - 2));
        body.push_str(r#""}"#);
        assert_eq!(body.len(), len);
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
    };
    let app = Router::new()
        .route("/4096", get(move || async move { sized(4096) }))
        .route("/4097", get(move || async move { sized(4097) }))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Envelope)
                .layer(),
        );
    for (uri, message_read) in [("/4096", true), ("/4097", false)] {
        let (res, body) = send(app.clone(), get_(uri), None).await;
        assert_eq!(res.headers()["x-error-code"], "not_found", "{uri}");
        let decoded = Catalog::builtin_ref().decode(404, res.headers(), &body, SystemTime::now());
        let message = decoded.message.unwrap_or_default();
        assert_eq!(
            message == "Rule 7 is not here",
            message_read,
            "{uri}: {message}"
        );
    }
}

/// A bare 415 that lists the codings it decodes in `Accept-Encoding` (as a
/// request decompression layer answers) refused the body's coding, and
/// says so; a 415 without it, or another error with it, keeps its meaning.
#[tokio::test]
async fn a_bare_415_listing_codings_refused_the_content_encoding() {
    let app = Router::new()
        .route(
            "/coding-415",
            get(|| async {
                let gzip_only = [(header::ACCEPT_ENCODING, "gzip")];
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, gzip_only)
            }),
        )
        .route(
            "/blank-coding-415",
            get(|| async {
                let none = [(header::ACCEPT_ENCODING, "")];
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, none)
            }),
        )
        .route(
            "/type-415",
            get(|| async { StatusCode::UNSUPPORTED_MEDIA_TYPE }),
        )
        .route(
            "/coding-404",
            get(|| async { (StatusCode::NOT_FOUND, [(header::ACCEPT_ENCODING, "gzip")]) }),
        )
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Envelope)
                .layer(),
        );
    for (uri, status, code, about_coding) in [
        ("/coding-415", 415, "unsupported_media_type", true),
        ("/blank-coding-415", 415, "unsupported_media_type", true),
        ("/type-415", 415, "unsupported_media_type", false),
        ("/coding-404", 404, "not_found", false),
    ] {
        let (res, body) = send(app.clone(), get_(uri), None).await;
        assert_eq!(res.status(), status, "{uri}");
        assert_eq!(res.headers()["x-error-code"], code, "{uri}");
        let decoded =
            Catalog::builtin_ref().decode(status, res.headers(), &body, SystemTime::now());
        let message = decoded.message.unwrap_or_default();
        assert_eq!(
            message.contains("Content-Encoding"),
            about_coding,
            "{uri}: {message}"
        );
        // The codings it decodes, as its `Accept-Encoding` lists them: none
        // when the list is empty.
        let expected = match uri {
            "/coding-415" => {
                "The request body's Content-Encoding is not supported: send it uncompressed, or in just one of gzip."
            }
            "/blank-coding-415" => {
                "The request body's Content-Encoding is not supported: send it uncompressed."
            }
            _ => continue,
        };
        assert_eq!(message, expected, "{uri}");
    }
}

/// A body passed on after the layer read part of it still tells its whole
/// length, and is not ended while the late part is still to come.
#[tokio::test(start_paused = true)]
async fn a_partly_read_body_keeps_its_length_and_is_not_ended_early() {
    let (first, second) = LATE_BODY.split_at(12);
    let frames = vec![
        (Duration::from_millis(100), Some(Bytes::from(first))),
        (Duration::from_secs(2), Some(Bytes::from(second))),
    ];
    let mut body = late_402(LATE_BODY.len(), frames).await.into_body();
    let hint = http_body::Body::size_hint(&body);
    assert_eq!(hint.exact(), Some(LATE_BODY.len() as u64), "{hint:?}");
    assert!(!http_body::Body::is_end_stream(&body));
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), first);
    assert!(!http_body::Body::is_end_stream(&body));
    let hint = http_body::Body::size_hint(&body);
    assert_eq!(hint.exact(), Some(second.len() as u64), "{hint:?}");
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, second);
}
