//! Long-lived responses under the layer, over a real HTTP/1.1 socket: a
//! body streamed after its head (Server-Sent Events, `Body::from_stream`)
//! and a WebSocket upgrade. The layer's deadline is short (300 ms) and the
//! streams and sockets outlive it: it bounds the wait for the head only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{Stream, StreamExt as _, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate::{Catalog, Dialect};
use tollgate_axum::Tollgate;

mod common;
use common::logs;

/// The layer's deadline: each stream below runs about a second.
const TIMEOUT: Duration = Duration::from_millis(300);
/// A guard on every read, far past anything the tests wait for.
const GUARD: Duration = Duration::from_secs(10);

/// Five items, 200 ms apart: a stream that outlives [`TIMEOUT`].
fn ticks() -> impl Stream<Item = usize> + Send {
    stream::iter(0..5).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        i
    })
}

/// A body that sends one chunk, waits past the deadline, then fails (or
/// panics, when `panic`).
fn broken_body(panic: bool) -> Response {
    let chunks = stream::iter(0..2).then(move |i| async move {
        if i == 0 {
            return Ok(Bytes::from_static(b"first chunk"));
        }
        tokio::time::sleep(TIMEOUT * 2).await;
        if panic {
            panic!("the stream panicked mid-way");
        }
        Err(std::io::Error::other("the upstream went away"))
    });
    Body::from_stream(chunks).into_response()
}

/// Serves the streaming routes under the layer (a 1000-byte body limit and
/// the short deadline) on a local port.
async fn serve() -> SocketAddr {
    let app = Router::new()
        .route(
            "/events",
            get(|| async {
                let events = ticks()
                    .map(|i| Ok::<_, Infallible>(Event::default().data(format!("tick {i}"))));
                Sse::new(events)
            }),
        )
        .route(
            "/download",
            get(|| async {
                let chunks =
                    ticks().map(|i| Ok::<_, Infallible>(Bytes::from(format!("part {i};"))));
                Body::from_stream(chunks)
            }),
        )
        .route("/broken", get(|| async { broken_body(false) }))
        .route("/panicking", get(|| async { broken_body(true) }))
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                // Echoes each text message back, upper-cased.
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(Message::Text(text))) = socket.recv().await {
                        let reply = Message::text(text.as_str().to_uppercase());
                        if socket.send(reply).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        )
        .route("/", get(|| async { "root" }))
        // A sub-router with a layer of its own, under the outer one.
        .nest(
            "/inner",
            Router::new()
                .route("/broken", get(|| async { broken_body(false) }))
                .layer(Tollgate::new(Catalog::builtin()).layer()),
        )
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Coded)
                .body_limit(1000)
                .timeout(TIMEOUT)
                .layer(),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Sends a `GET` of `path` (with the request id `req` and the path's
/// words, the connection to close after it) and reads until the server
/// closes or resets it: what arrived, and how long it took.
async fn get_all(addr: SocketAddr, path: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let id = format!("req{}", path.replace('/', "_"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: x\r\nx-request-id: {id}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    loop {
        let read = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("the server ends the response");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8(answer).unwrap(), started.elapsed())
}

/// Reads a response head (up to its blank line) off `stream`; what came
/// after it is returned too.
async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut read = Vec::new();
    let mut buf = [0; 1024];
    loop {
        if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = read.split_off(end + 4);
            return (String::from_utf8(read).unwrap(), rest);
        }
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("the server answers")
            .unwrap();
        assert_ne!(n, 0, "closed before the head ended: {read:?}");
        read.extend_from_slice(&buf[..n]);
    }
}

/// Opens a WebSocket handshake on `/ws` with `headers` (each ending in
/// CRLF): the connection, the response head and what came after it.
async fn handshake(addr: SocketAddr, headers: &str) -> (TcpStream, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /ws HTTP/1.1\r\nhost: x\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut stream).await;
    (stream, head, rest)
}

/// The handshake of RFC 6455, section 1.3, whose accept key is known.
const UPGRADE: &str = "upgrade: websocket\r\nconnection: Upgrade\r\n\
                       sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n";

/// A client's text frame: final, masked, with the 16-bit length past 125.
fn text_frame(text: &str) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81];
    match text.len() {
        len @ 0..126 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads one unmasked text frame from the server.
async fn read_text_frame(stream: &mut TcpStream) -> String {
    let read = async {
        let mut head = [0; 2];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 0x81, "a final text frame");
        let len = match head[1] {
            126 => usize::from(stream.read_u16().await.unwrap()),
            len @ 0..126 => usize::from(len),
            other => panic!("unexpected length byte {other}"),
        };
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await.unwrap();
        String::from_utf8(payload).unwrap()
    };
    tokio::time::timeout(GUARD, read)
        .await
        .expect("the server replies")
}

/// The count of status lines in `text`: a second one, or an envelope,
/// would be glued into a body already under way.
fn status_lines(text: &str) -> usize {
    text.matches("HTTP/1.1 ").count()
}

/// Event streams and streamed downloads run past the deadline whole: the
/// deadline bounds the wait for the head, which came at once.
#[tokio::test]
async fn a_stream_outlives_the_timeout_whole() {
    let addr = serve().await;
    for (path, last) in [("/events", "data: tick 4\n\n"), ("/download", "part 4;")] {
        let (text, took) = get_all(addr, path).await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert_eq!(status_lines(&text), 1, "{text}");
        assert!(text.contains("x-request-id: "), "{text}");
        assert!(!text.contains("x-error-code"), "{text}");
        assert!(text.contains(last), "{path}: {text}");
        // The last chunk of a chunked body: the stream ended, not cut.
        assert!(text.ends_with("\r\n0\r\n\r\n"), "{path}: {text}");
        assert!(took > TIMEOUT * 2, "{path} took {took:?}");
    }
    let (text, _) = get_all(addr, "/events").await;
    assert!(text.contains("content-type: text/event-stream"), "{text}");
}

/// A body that fails after its head was sent ends the connection with the
/// chunked message unfinished: the client sees the 200 and the chunk that
/// came, never a second status line nor an envelope in the stream. The
/// failure is logged once, with the request id, under nested layers too.
#[tokio::test]
async fn a_stream_failing_after_its_head_is_cut_off_and_logged() {
    let logs = logs();
    let addr = serve().await;
    for (path, error) in [
        ("/broken", "the upstream went away"),
        ("/panicking", "the stream panicked mid-way"),
        ("/inner/broken", "the upstream went away"),
    ] {
        let (text, _) = get_all(addr, path).await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {text}");
        assert_eq!(status_lines(&text), 1, "{path}: {text}");
        assert!(text.contains("first chunk"), "{path}: {text}");
        assert!(!text.contains("x-error-code"), "{path}: {text}");
        assert!(!text.contains("internal_error"), "{path}: {text}");
        assert!(!text.ends_with("\r\n0\r\n\r\n"), "{path}: {text}");
        let id = format!("request_id={:?}", format!("req{}", path.replace('/', "_")));
        let lines = logs.lines(&[error, &id]);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("ERROR"), "{lines:#?}");
    }
    // The panic ended one connection, not the server.
    let (text, _) = get_all(addr, "/").await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("root"), "{text}");
}

/// The 101 passes through untouched but for the request id, and the
/// socket it opens outlives the deadline; a message past the body limit
/// goes through (the limit is the request body's, not the socket's).
#[tokio::test]
async fn a_websocket_upgrade_passes_and_outlives_the_timeout() {
    let addr = serve().await;
    let (mut socket, head, rest) = handshake(addr, UPGRADE).await;
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(rest.is_empty(), "no body after a 101: {rest:?}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(
        lower.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{head}"
    );
    assert!(lower.contains("\r\nx-request-id: "), "{head}");
    for absent in [
        "x-error-code",
        "content-length",
        "content-type",
        "transfer-encoding",
    ] {
        assert!(!lower.contains(absent), "{absent}: {head}");
    }

    tokio::time::sleep(TIMEOUT * 2).await;
    socket.write_all(&text_frame("hello")).await.unwrap();
    assert_eq!(read_text_frame(&mut socket).await, "HELLO");
    tokio::time::sleep(TIMEOUT * 2).await;
    let long = "x".repeat(2000);
    socket.write_all(&text_frame(&long)).await.unwrap();
    assert_eq!(read_text_frame(&mut socket).await, long.to_uppercase());
}

/// A handshake axum refuses is an API error like any other: the envelope,
/// the code, the request id, and no upgrade.
#[tokio::test]
async fn a_refused_upgrade_is_answered_in_the_envelope() {
    let addr = serve().await;
    let without_key = UPGRADE.replace("sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    let wrong_version = UPGRADE.replace("version: 13", "version: 8");
    for (headers, names) in [
        (without_key, "Sec-WebSocket-Key"),
        (wrong_version, "Sec-WebSocket-Version"),
    ] {
        let (mut stream, head, mut body) = handshake(addr, &headers).await;
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(
            head.contains("\r\nx-error-code: malformed_request\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nx-request-id: "), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("sec-websocket-accept"),
            "{head}"
        );
        let length: usize = head
            .split("\r\n")
            .find_map(|line| line.strip_prefix("content-length: "))
            .expect("a body of known length")
            .parse()
            .unwrap();
        while body.len() < length {
            let mut buf = [0; 1024];
            let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_ne!(n, 0, "the body broke off");
            body.extend_from_slice(&buf[..n]);
        }
        let body = String::from_utf8(body).unwrap();
        assert!(
            body.starts_with(r#"{"error":{"code":"malformed_request""#),
            "{body}"
        );
        assert!(body.contains(names), "{body}");
    }
}
