//! Compressed request bodies: decoded by `Decompression` inside the layer,
//! with the body limit counting the decoded bytes (a decompression bomb is
//! `payload_too_large`), every gzip member read, and the decoder's
//! refusals in the catalog's envelope.
#![cfg(feature = "decompression")]

use std::io::Write;
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, header};
use axum::response::IntoResponse;
use axum::routing::post;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use http_body_util::BodyExt;
use serde::Deserialize;
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Decompression, Json, Tollgate};
use tower::ServiceExt;

mod common;
use common::streamed;

const LIMIT: usize = 1024;

#[derive(Deserialize)]
struct Note {
    text: String,
}

fn app() -> Router {
    Router::new()
        .route(
            "/notes",
            post(|Json(note): Json<Note>| async move { note.text }),
        )
        .layer(Decompression)
        .layer(
            Tollgate::new(Catalog::builtin())
                .dialect(Dialect::Problem)
                .body_limit(LIMIT)
                .layer(),
        )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post_note(encoding: &str, body: Vec<u8>) -> (u16, axum::http::HeaderMap, Bytes) {
    send(Some(encoding), Body::from(body)).await
}

/// `body` as a new note, with `Content-Encoding: encoding` when given.
async fn send(encoding: Option<&str>, body: Body) -> (u16, axum::http::HeaderMap, Bytes) {
    let mut request = Request::post("/notes").header(header::CONTENT_TYPE, "application/json");
    if let Some(encoding) = encoding {
        request = request.header(header::CONTENT_ENCODING, encoding);
    }
    let response = app().oneshot(request.body(body).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status.as_u16(), parts.headers, bytes)
}

/// Asserts that the answer is the catalog's `code` with `status`.
fn assert_error(answer: &(u16, axum::http::HeaderMap, Bytes), status: u16, code: &str) {
    let (got, headers, body) = answer;
    assert_eq!(*got, status, "{}", String::from_utf8_lossy(body));
    let decoded = Catalog::builtin().decode(*got, headers, body, SystemTime::now());
    assert_eq!(decoded.code.as_deref(), Some(code));
}

#[tokio::test]
async fn a_gzip_body_is_decoded_for_the_extractor() {
    let (status, _, body) = post_note("gzip", gzip(br#"{"text":"hello"}"#)).await;
    assert_eq!((status, &body[..]), (200, &b"hello"[..]));
}

#[tokio::test]
async fn a_body_that_expands_past_the_limit_is_payload_too_large() {
    // 100 kB of spaces inside a JSON string compress to a few hundred bytes:
    // the compressed body is under the limit, the decoded one far over it.
    let mut json = br#"{"text":""#.to_vec();
    json.extend(std::iter::repeat_n(b' ', 100_000));
    json.extend(br#""}"#);
    let compressed = gzip(&json);
    assert!(compressed.len() < LIMIT, "{} bytes", compressed.len());
    let answer = post_note("gzip", compressed).await;
    assert_error(&answer, 413, "payload_too_large");
}

#[tokio::test]
async fn a_streamed_body_past_the_limit_is_payload_too_large_through_the_decoder() {
    // No `Content-Length` (a chunked upload): the layer counts the body as it
    // streams, and the decoder passes the uncompressed body through.
    let answer = send(None, streamed(&[b' '; 64 * 64], 64)).await;
    assert_error(&answer, 413, "payload_too_large");
}

#[tokio::test]
async fn a_corrupted_gzip_body_is_malformed() {
    let mut compressed = gzip(br#"{"text":"hello"}"#);
    let middle = compressed.len() / 2;
    compressed[middle] ^= 0xff;
    let answer = post_note("gzip", compressed).await;
    assert_error(&answer, 400, "malformed_request");
    // Said in the client's terms, not the decoder's or axum's.
    let reason = |answer: &(u16, axum::http::HeaderMap, Bytes)| {
        let body: serde_json::Value = serde_json::from_slice(&answer.2).unwrap();
        body["reason"].as_str().unwrap().to_owned()
    };
    let not_gzip = post_note("gzip", br#"{"text":"hello"}"#.to_vec()).await;
    assert_eq!(
        reason(&not_gzip),
        "the body is not gzip data, as its Content-Encoding says"
    );
    let cut = gzip(br#"{"text":"hello"}"#);
    let cut = post_note("gzip", cut[..cut.len() / 2].to_vec()).await;
    assert_eq!(reason(&cut), "the body ends before its gzip data does");
    // Good gzip data with other bytes after it is not said to be no gzip.
    let mut trailed = gzip(br#"{"text":"hello"}"#);
    trailed.extend(b"and some bytes more");
    assert_eq!(
        reason(&post_note("gzip", trailed).await),
        "the body is not all gzip data, as its Content-Encoding says: other bytes follow or \
         break into it"
    );
    let not_zlib = post_note("deflate", b"raw bytes".to_vec()).await;
    assert_eq!(
        reason(&not_zlib),
        "the body is not deflate (zlib) data, as its Content-Encoding says"
    );
}

/// Gzip members of nothing, one after another, cost far more to decode than
/// their size (each resets the decoder): a body of them is refused once it
/// holds far more than it decodes to. Data that does not compress is not.
#[tokio::test]
async fn a_body_that_decodes_to_next_to_nothing_is_refused() {
    // A limit the coded bodies here are within.
    let roomy = Router::new()
        .route(
            "/notes",
            post(|Json(note): Json<Note>| async move { note.text.len().to_string() }),
        )
        .layer(Decompression)
        .layer(
            Tollgate::new(Catalog::builtin())
                .body_limit(1 << 20)
                .layer(),
        );
    let send = |coded: &[u8]| {
        let request = Request::post("/notes")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, "gzip")
            .body(streamed(coded, 16 * 1024))
            .unwrap();
        let roomy = roomy.clone();
        async move {
            let response = roomy.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        }
    };
    let (status, body) = send(&gzip(b"").repeat(20_000)).await;
    assert_eq!(status, 400, "{body:?}");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["reason"],
        "the body's gzip data is refused: it decodes to far fewer bytes than it holds"
    );
    // Random text, which compresses little: read.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: String = (0..600_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // `#` to `[`: no quote or backslash to escape.
            char::from(b'#' + (state % 57) as u8)
        })
        .collect();
    let note = format!(r#"{{"text":"{noise}"}}"#);
    let coded = gzip(note.as_bytes());
    assert!(
        coded.len() * 10 > note.len() * 7,
        "it compressed: {}",
        coded.len()
    );
    let (status, body) = send(&coded).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body, noise.len().to_string());
}

#[tokio::test]
async fn a_coding_the_decoder_lacks_is_unsupported_and_says_which_it_decodes() {
    let answer = post_note("br", b"not really brotli".to_vec()).await;
    assert_error(&answer, 415, "unsupported_media_type");
    let (_, headers, body) = answer;
    assert_eq!(headers[header::ACCEPT_ENCODING], "gzip, deflate");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(
            "Content-Encoding (br) is not supported: send it uncompressed, or in just one of gzip, deflate."
        ),
        "{text}"
    );
    assert!(!text.contains("Content-Type"), "{text}");
    // Two codings, though the first is one it decodes, are named as sent.
    let answer = post_note("gzip, BR", gzip(b"{}")).await;
    assert_error(&answer, 415, "unsupported_media_type");
    let text = String::from_utf8_lossy(&answer.2);
    assert!(
        text.contains("Content-Encoding (gzip, BR) is not"),
        "{text}"
    );
}

#[tokio::test]
async fn every_member_of_a_gzip_body_is_decoded() {
    // `cat a.gz b.gz`: one gzip body (RFC 1952, section 2.2), whose members
    // after the first are part of it, not bytes to drop.
    let mut body = gzip(br#"{"text":"hello"}"#);
    body.extend(gzip(b"          "));
    let (status, _, text) = post_note("gzip", body).await;
    assert_eq!((status, &text[..]), (200, &b"hello"[..]));
    let mut body = gzip(br#"{"text":"#);
    body.extend(gzip(br#""hello"}"#));
    let (status, _, text) = post_note("gzip", body).await;
    assert_eq!((status, &text[..]), (200, &b"hello"[..]));
}

#[tokio::test]
async fn bytes_after_the_gzip_data_are_malformed_not_ignored() {
    for tail in [&b"x"[..], b"GARBAGE GARBAGE", &[0x1f, 0x8b, 8, 0]] {
        let mut body = gzip(br#"{"text":"hello"}"#);
        body.extend(tail);
        let answer = post_note("gzip", body).await;
        assert_error(&answer, 400, "malformed_request");
    }
}

#[tokio::test]
async fn codings_are_named_in_any_case_and_x_gzip_is_gzip() {
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(br#"{"text":"hello"}"#).unwrap();
    let zlib = zlib.finish().unwrap();
    for (encoding, body) in [
        ("GZIP", gzip(br#"{"text":"hello"}"#)),
        ("x-gzip", gzip(br#"{"text":"hello"}"#)),
        ("identity, Gzip", gzip(br#"{"text":"hello"}"#)),
        ("deflate", zlib.clone()),
        ("Deflate", zlib),
        ("identity", br#"{"text":"hello"}"#.to_vec()),
    ] {
        let (status, _, text) = post_note(encoding, body).await;
        assert_eq!((status, &text[..]), (200, &b"hello"[..]), "{encoding}");
    }
}

#[tokio::test]
async fn two_codings_at_once_are_unsupported() {
    let body = gzip(&gzip(br#"{"text":"hello"}"#));
    let answer = post_note("gzip, gzip", body).await;
    assert_error(&answer, 415, "unsupported_media_type");
}

#[tokio::test]
async fn a_streamed_compressed_body_past_the_limit_is_payload_too_large() {
    // Compressed random-looking bytes do not shrink: over the limit before
    // decoding, with no `Content-Length` to refuse it up front.
    let mut state = 1u64;
    let noise: Vec<u8> = (0..8 * LIMIT)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            b'a' + (state >> 59) as u8
        })
        .collect();
    let mut json = br#"{"text":""#.to_vec();
    json.extend(noise);
    json.extend(br#""}"#);
    let compressed = gzip(&json);
    assert!(compressed.len() > 2 * LIMIT, "{} bytes", compressed.len());
    let answer = send(Some("gzip"), streamed(&compressed, 256)).await;
    assert_error(&answer, 413, "payload_too_large");
}

#[tokio::test]
async fn the_decoder_is_ready_only_when_the_service_inside_is() {
    use std::task::{Context, Poll};
    struct Down;
    impl tower::Service<Request<Body>> for Down {
        type Response = axum::response::Response;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Err("inner down"))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            unreachable!("never ready")
        }
    }
    let mut service = tower::Layer::layer(&Decompression, Down);
    assert_eq!(service.ready().await.err(), Some("inner down"));
}

#[tokio::test]
async fn a_layer_that_buffers_the_body_reads_no_more_of_a_bomb_than_the_limit() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A layer between the decoder and the route that reads the whole body
    // itself, with no limit of its own (as idempotency's does, to hash it),
    // noting how many decoded bytes it got. A plain tower layer: axum's
    // `Request` extractor would apply the limit itself.
    let read = Arc::new(AtomicUsize::new(0));
    let counted = read.clone();
    let buffering = tower::layer::layer_fn(move |route: axum::routing::Route| {
        let read = counted.clone();
        tower::service_fn(move |request: Request<Body>| {
            let (route, read) = (route.clone(), read.clone());
            async move {
                let (parts, mut body) = request.into_parts();
                let mut kept = Vec::new();
                while let Some(frame) = body.frame().await {
                    let Ok(frame) = frame else {
                        return Ok(axum::http::StatusCode::BAD_REQUEST.into_response());
                    };
                    if let Some(data) = frame.data_ref() {
                        read.fetch_add(data.len(), Ordering::Relaxed);
                        kept.extend_from_slice(data);
                    }
                }
                route
                    .oneshot(Request::from_parts(parts, Body::from(kept)))
                    .await
            }
        })
    });
    let app = Router::new()
        .route("/notes", post(|| async { "stored" }))
        .layer(buffering)
        .layer(Decompression)
        .layer(Tollgate::new(Catalog::builtin()).body_limit(LIMIT).layer());
    // 512 KiB of spaces, under the limit compressed, sent with its length
    // declared as a client sends it.
    let compressed = gzip(&vec![b' '; 512 << 10]);
    assert!(compressed.len() < LIMIT, "{} bytes", compressed.len());
    let request = Request::post("/notes")
        .header(header::CONTENT_ENCODING, "gzip")
        .header(header::CONTENT_LENGTH, compressed.len())
        .body(Body::from(compressed))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let answer = (parts.status.as_u16(), parts.headers, body);
    assert_error(&answer, 413, "payload_too_large");
    let problem: serde_json::Value = serde_json::from_slice(&answer.2).unwrap();
    assert_eq!(problem["limit"], LIMIT);
    let read = read.load(Ordering::Relaxed);
    assert!(read <= LIMIT, "{read} bytes read past a limit of {LIMIT}");
}
