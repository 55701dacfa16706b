//! The layer behind a real HTTP/2 server (`axum::serve` with axum's
//! `http2` feature: h2c with prior knowledge, beside HTTP/1 on the same
//! port), spoken to by hyper's HTTP/2 client over one connection: what a
//! client sees when its streams are refused, time out, break, are reset or
//! run side by side.
//!
//! A `Transfer-Encoding` never reaches the layer over HTTP/2: the client
//! strips it, and the server resets a stream that carries one.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, Version, header};
use axum::middleware::map_response;
use axum::routing::{get, post};
use futures_util::StreamExt;
use futures_util::future::join_all;
use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Json, Tollgate};

mod common;
use common::streamed;

/// The layer's body limit, in bytes.
const LIMIT: usize = 1000;

/// How long a route may take.
const TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct Scan {
    session_id: String,
    pages: u32,
}

async fn create(Json(scan): Json<Scan>) -> String {
    format!("{} {}", scan.session_id, scan.pages)
}

async fn slow() -> &'static str {
    tokio::time::sleep(TIMEOUT * 30).await;
    "late"
}

async fn panics() -> &'static str {
    panic!("pool exhausted")
}

/// Headers HTTP/2 forbids in a message (RFC 9113, section 8.2.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Names, in `x-connection-specific`, the forbidden headers a response
/// leaves the layer with: hyper strips them before they reach the wire,
/// so the client could not tell otherwise.
async fn mark_connection_specific(mut response: Response<Body>) -> Response<Body> {
    let found: Vec<&str> = CONNECTION_SPECIFIC
        .into_iter()
        .filter(|name| response.headers().contains_key(*name))
        .collect();
    if !found.is_empty() {
        let value = found.join(", ").parse().unwrap();
        response
            .headers_mut()
            .insert("x-connection-specific", value);
    }
    response
}

/// Serves a small app under the layer (problem details, a 1000-byte body
/// limit, a one-second timeout; `Decompression` inside it when built) on a
/// local port.
async fn serve() -> SocketAddr {
    let routes = Router::new()
        .route("/scans", post(create))
        .route("/", get(|| async { "root" }))
        .route("/slow", get(slow))
        .route("/panic", get(panics));
    #[cfg(feature = "decompression")]
    let routes = routes.layer(tollgate_axum::Decompression);
    let app = routes
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Problem)
                .body_limit(LIMIT)
                .timeout(TIMEOUT)
                .layer(),
        )
        .layer(map_response(mark_connection_specific));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// One HTTP/2 connection (prior knowledge, no upgrade); clones of the
/// sender open streams on it.
struct Connection {
    addr: SocketAddr,
    sender: SendRequest<Body>,
}

/// What the client got on a stream.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        Connection { addr, sender }
    }

    /// A request for `path` on this connection's server.
    fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
    }

    /// A JSON `body` for `/scans` (hyper's client declares its length
    /// when the body knows it).
    fn post_scan(&self, body: impl Into<Body>) -> Request<Body> {
        self.request(Method::POST, "/scans")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap()
    }

    fn get(&self, path: &str) -> Request<Body> {
        self.request(Method::GET, path).body(Body::empty()).unwrap()
    }

    /// Sends `request` on a new stream; the stream's error, when the client
    /// or the server reset it.
    async fn try_send(&self, request: Request<Body>) -> Result<Answer, hyper::Error> {
        let mut sender = self.sender.clone();
        let exchange = async move {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            assert_eq!(response.version(), Version::HTTP_2);
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(TIMEOUT * 10, exchange)
            .await
            .expect("the stream is answered")
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        self.try_send(request).await.unwrap()
    }
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a success with `body`.
    fn assert_ok(&self, body: &str) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        assert_eq!(self.text(), body);
        self.assert_clean();
    }

    /// Asserts the catalog's `code` with `status` in problem details, with
    /// the same request id in `X-Request-Id` and the body; returns the body.
    fn assert_error(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.headers["x-error-code"], code);
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let decoded = Catalog::builtin().decode(
            status.as_u16(),
            &self.headers,
            &self.body,
            SystemTime::now(),
        );
        assert_eq!(decoded.code.as_deref(), Some(code), "{}", self.text());
        let body: Value = serde_json::from_slice(&self.body).unwrap();
        assert_eq!(body["request_id"], self.request_id(), "{body}");
        self.assert_clean();
        body
    }

    /// The `X-Request-Id` the answer carries (every answer has one).
    fn request_id(&self) -> &str {
        self.headers["x-request-id"].to_str().unwrap()
    }

    /// Asserts the answer has a request id, and that the layer left no
    /// header HTTP/2 forbids on the response.
    fn assert_clean(&self) {
        assert!(!self.request_id().is_empty());
        assert_eq!(self.headers.get("x-connection-specific"), None);
    }
}

/// A scan whose `session_id` is `len` bytes long.
fn scan_of(len: usize) -> Vec<u8> {
    format!(r#"{{"session_id":"{}","pages":1}}"#, "a".repeat(len)).into_bytes()
}

/// 404 and 405 are answered in the envelope over HTTP/2, with the caller's
/// request id echoed (or a new one), and the route itself is served.
#[tokio::test]
async fn routing_errors_are_answered_in_the_envelope() {
    let h2 = Connection::open(serve().await).await;
    h2.send(h2.get("/")).await.assert_ok("root");

    let request = h2
        .request(Method::GET, "/nope")
        .header("x-request-id", "req_h2")
        .body(Body::empty())
        .unwrap();
    let answer = h2.send(request).await;
    let body = answer.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(answer.request_id(), "req_h2");
    assert_eq!(body["instance"], "/nope", "{body}");

    let request = h2.request(Method::DELETE, "/scans").body(Body::empty());
    let answer = h2.send(request.unwrap()).await;
    answer.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(answer.headers[header::ALLOW], "POST");
    assert_ne!(answer.request_id(), "req_h2");
}

/// A body that is not JSON is `malformed_request`; a field of the wrong
/// type is `validation_error` pointing at the field.
#[tokio::test]
async fn json_rejections_name_the_field() {
    let h2 = Connection::open(serve().await).await;
    h2.send(h2.post_scan(r#"{"session_id":"s_1","pages":2}"#))
        .await
        .assert_ok("s_1 2");
    h2.send(h2.post_scan("{]"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "malformed_request");
    let answer = h2
        .send(h2.post_scan(r#"{"session_id":"s_1","pages":"two"}"#))
        .await;
    let body = answer.assert_error(StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["errors"][0]["pointer"], "/pages", "{body}");
}

/// A body over the limit is 413 whether it declares its length (refused
/// before it is read: the client gets the answer though its upload is cut
/// off) or streams without one (refused as it passes the limit); the
/// connection serves on.
#[tokio::test]
async fn a_body_over_the_limit_is_payload_too_large() {
    let h2 = Connection::open(serve().await).await;
    // Larger than the stream's flow-control window: the server must
    // answer before the client has sent it all.
    let mut declared = h2.post_scan(scan_of(1 << 20));
    let length = (scan_of(1 << 20).len()).into();
    declared
        .headers_mut()
        .insert(header::CONTENT_LENGTH, length);
    for request in [declared, h2.post_scan(streamed(&scan_of(5 * LIMIT), 100))] {
        let body = h2
            .send(request)
            .await
            .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        assert_eq!(body["limit"], LIMIT, "{body}");
    }
    // The layer counts only a body of unknown length: one longer than it
    // declared is cut off by the server, never read past its length.
    let mut lying = h2.post_scan(streamed(&scan_of(5 * LIMIT), 100));
    lying
        .headers_mut()
        .insert(header::CONTENT_LENGTH, 10.into());
    assert!(h2.try_send(lying).await.is_err(), "the server reset it");
    h2.send(h2.post_scan(streamed(&scan_of(LIMIT / 2), 100)))
        .await
        .assert_ok(&format!("{} 1", "a".repeat(LIMIT / 2)));
}

/// A gzipped body is decoded inside the layer, and the limit counts the
/// decoded bytes: a small body that expands past it is 413.
#[cfg(feature = "decompression")]
#[tokio::test]
async fn a_gzipped_body_is_decoded_and_counted() {
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let level = flate2::Compression::best();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }
    let h2 = Connection::open(serve().await).await;
    let gzipped = |body: &[u8]| {
        let body = gzip(body);
        assert!(body.len() < LIMIT);
        h2.request(Method::POST, "/scans")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, "gzip")
            .body(Body::from(body))
            .unwrap()
    };
    h2.send(gzipped(&scan_of(10)))
        .await
        .assert_ok(&format!("{} 1", "a".repeat(10)));
    h2.send(gzipped(&scan_of(50 * LIMIT)))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

/// A route past the timeout is 504 `timeout`, a panic 500
/// `internal_error` without its text, each on its own stream: the
/// connection serves on.
#[tokio::test]
async fn a_timeout_and_a_panic_are_answered_in_the_envelope() {
    let h2 = Connection::open(serve().await).await;
    let (late, panicked) = tokio::join!(h2.send(h2.get("/slow")), h2.send(h2.get("/panic")));
    late.assert_error(StatusCode::GATEWAY_TIMEOUT, "timeout");
    panicked.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    assert!(!panicked.text().contains("pool exhausted"));
    h2.send(h2.get("/")).await.assert_ok("root");
}

/// Streams the client resets (`RST_STREAM`) mid-upload, or while their
/// route is running, end there; the server keeps the connection and
/// answers the streams after them.
#[tokio::test]
async fn streams_reset_by_the_client_leave_the_connection_serving() {
    let h2 = Connection::open(serve().await).await;
    for _ in 0..5 {
        // Half a body, then (once the route is reading it) an error: the
        // client resets the stream.
        let broken = futures_util::stream::iter([
            Ok(Bytes::from_static(br#"{"session_id":"#)),
            Err(std::io::Error::other("client gave up")),
        ])
        .then(|chunk| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            chunk
        });
        let reset = h2.try_send(h2.post_scan(Body::from_stream(broken))).await;
        assert!(reset.is_err(), "the client reset its stream");
        // Given up while the route sleeps: the client cancels the stream.
        let waited = tokio::time::timeout(TIMEOUT / 10, h2.send(h2.get("/slow"))).await;
        assert!(waited.is_err(), "the route is still running");
    }
    h2.send(h2.post_scan(r#"{"session_id":"s_2","pages":3}"#))
        .await
        .assert_ok("s_2 3");
    h2.send(h2.get("/nope"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

/// Many streams at once on one connection, run on several threads: each
/// gets its own answer, in the envelope where it failed, with its own
/// request id (the caller's, or a new one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_are_each_answered() {
    const STREAMS: usize = 60;
    let h2 = Connection::open(serve().await).await;
    let requests = (0..STREAMS).map(|i| {
        let (method, path, body) = match i % 3 {
            0 => (Method::GET, "/", Body::empty()),
            1 => (Method::GET, "/nope", Body::empty()),
            _ => (Method::POST, "/scans", Body::from("{]")),
        };
        let mut request = h2
            .request(method, path)
            .header(header::CONTENT_TYPE, "application/json");
        if i < STREAMS / 2 {
            request = request.header("x-request-id", format!("req_{i}"));
        }
        h2.send(request.body(body).unwrap())
    });
    let mut ids = HashSet::new();
    for (i, answer) in join_all(requests).await.into_iter().enumerate() {
        match i % 3 {
            0 => answer.assert_ok("root"),
            1 => {
                answer.assert_error(StatusCode::NOT_FOUND, "not_found");
            }
            _ => {
                answer.assert_error(StatusCode::BAD_REQUEST, "malformed_request");
            }
        }
        if i < STREAMS / 2 {
            assert_eq!(answer.request_id(), format!("req_{i}"));
        }
        ids.insert(answer.request_id().to_owned());
    }
    assert_eq!(ids.len(), STREAMS);
}

/// HEAD gets the headers of the GET's error, with its `Content-Length`,
/// and no body.
#[tokio::test]
async fn head_gets_the_error_headers_without_a_body() {
    let h2 = Connection::open(serve().await).await;
    let get = h2.send(h2.get("/nope")).await;
    get.assert_error(StatusCode::NOT_FOUND, "not_found");
    let head = h2
        .send(
            h2.request(Method::HEAD, "/nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    assert_eq!(head.headers["x-error-code"], "not_found");
    assert_eq!(
        head.headers[header::CONTENT_LENGTH],
        get.body.len().to_string()
    );
    assert!(head.body.is_empty());
    head.assert_clean();
}

/// An HTTP/2 request names its host in `:authority`, with or without a
/// `host` header: either is served. Two `host` lines are refused as over
/// HTTP/1.1, on their stream alone.
#[tokio::test]
async fn host_lines_over_http2() {
    let h2 = Connection::open(serve().await).await;
    let with_hosts = |hosts: &[&str]| {
        let mut request = h2.get("/");
        for host in hosts {
            let value = host.parse().unwrap();
            request.headers_mut().append(header::HOST, value);
        }
        request
    };
    let authority = h2.addr.to_string();
    h2.send(with_hosts(&[])).await.assert_ok("root");
    h2.send(with_hosts(&[&authority])).await.assert_ok("root");
    let answer = h2.send(with_hosts(&["a.example", "b.example"])).await;
    answer.assert_error(StatusCode::BAD_REQUEST, "malformed_request");
    assert!(answer.text().contains("more than one Host"));
    h2.send(with_hosts(&[])).await.assert_ok("root");
}
