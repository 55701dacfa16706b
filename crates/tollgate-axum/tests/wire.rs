//! The layer behind a real HTTP/1.1 server, spoken to in raw bytes: what
//! a client sees on the socket when its request is refused early, broken
//! off, or followed by others on the same connection.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Json, Tollgate};

#[derive(Deserialize)]
#[allow(dead_code)]
struct Scan {
    session_id: String,
}

/// Serves a small app under the layer (a 1000-byte body limit) on a local
/// port.
async fn serve() -> SocketAddr {
    let app = Router::new()
        .route("/scans", post(|Json(_): Json<Scan>| async { "created" }))
        .route("/", get(|| async { "root" }))
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Coded)
                .body_limit(1000)
                .timeout(Duration::from_secs(5))
                .layer(),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Sends `request` on a new connection (then shuts the write side, when
/// `half_close`) and reads what comes back until the server closes.
async fn exchange(addr: SocketAddr, request: &[u8], half_close: bool) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    if half_close {
        stream.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

/// The status lines and error codes of the answers, in order (a body ends
/// with no line break, so the next answer starts on its last line).
fn answers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for answer in text.split("HTTP/1.1 ").skip(1) {
        let mut lines = answer.split("\r\n");
        found.push(format!("HTTP/1.1 {}", lines.next().unwrap_or_default()));
        let code = lines.find(|line| line.starts_with("x-error-code: "));
        found.extend(code.map(str::to_owned));
    }
    found
}

/// A body refused from its `Content-Length` is refused before it is asked
/// for: a client that waits for `100 Continue` gets the 413 in the
/// envelope instead, and never sends the body.
#[tokio::test]
async fn an_expect_continue_over_the_limit_is_refused_without_a_100() {
    let addr = serve().await;
    let text = exchange(
        addr,
        b"POST /scans HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 5000\r\nexpect: 100-continue\r\n\r\n",
        false,
    )
    .await;
    assert_eq!(
        answers(&text),
        [
            "HTTP/1.1 413 Payload Too Large",
            "x-error-code: payload_too_large"
        ],
        "{text}"
    );
    assert!(text.contains(r#""limit":1000"#), "{text}");
}

/// A body the client breaks off (it shuts its side before the length it
/// announced, or before the last chunk) is `malformed_request`, answered.
#[tokio::test]
async fn a_body_broken_off_by_the_client_is_malformed_request() {
    let addr = serve().await;
    for request in [
        &b"POST /scans HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
           content-length: 50\r\n\r\n{\"session_id\":"[..],
        b"POST /scans HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
           transfer-encoding: chunked\r\n\r\n5\r\n{\"ses",
    ] {
        let text = exchange(addr, request, true).await;
        assert_eq!(
            answers(&text),
            [
                "HTTP/1.1 400 Bad Request",
                "x-error-code: malformed_request"
            ],
            "{text}"
        );
        assert!(text.contains("x-request-id: "), "{text}");
    }
}

/// An error leaves the connection usable: requests pipelined behind a 404,
/// a 415 whose body was never read and a 400 are answered, in order.
#[tokio::test]
async fn requests_pipelined_behind_errors_are_answered() {
    let addr = serve().await;
    let text = exchange(
        addr,
        b"GET /nope HTTP/1.1\r\nhost: x\r\n\r\n\
          POST /scans HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n{}\
          POST /scans HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{]\
          GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        false,
    )
    .await;
    assert_eq!(
        answers(&text),
        [
            "HTTP/1.1 404 Not Found",
            "x-error-code: not_found",
            "HTTP/1.1 415 Unsupported Media Type",
            "x-error-code: unsupported_media_type",
            "HTTP/1.1 400 Bad Request",
            "x-error-code: malformed_request",
            "HTTP/1.1 200 OK",
        ],
        "{text}"
    );
    assert!(text.ends_with("root"), "{text}");
}

/// hyper serves an HTTP/1.1 request with two `Host` lines: the layer
/// answers it with a 400 in the envelope (hyper's own 400s have an empty
/// body), and the connection goes on. A request without `Host` is served.
#[tokio::test]
async fn a_request_naming_several_hosts_is_refused_in_the_envelope() {
    let addr = serve().await;
    let text = exchange(
        addr,
        b"GET / HTTP/1.1\r\nhost: a.example\r\nhost: b.example\r\n\r\n\
          GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        false,
    )
    .await;
    assert_eq!(
        answers(&text),
        [
            "HTTP/1.1 400 Bad Request",
            "x-error-code: malformed_request",
            "HTTP/1.1 200 OK",
        ],
        "{text}"
    );
    assert!(text.contains("x-request-id: "), "{text}");
    assert!(text.contains("more than one Host"), "{text}");
    assert!(text.ends_with("root"), "{text}");
    let text = exchange(addr, b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n", false).await;
    assert_eq!(answers(&text), ["HTTP/1.1 200 OK"], "{text}");
    assert!(text.ends_with("root"), "{text}");
}
