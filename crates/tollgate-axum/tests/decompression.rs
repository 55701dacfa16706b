//! Compressed request bodies: decoded by tower-http's
//! `RequestDecompressionLayer` inside the layer, with the body limit
//! counting the decoded bytes (a decompression bomb is `payload_too_large`)
//! and the decoder's refusals in the catalog's envelope.

use std::io::Write;
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, header};
use axum::routing::post;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::BodyExt;
use serde::Deserialize;
use tollgate::{Catalog, Dialect};
use tollgate_axum::{Json, Tollgate};
use tower::ServiceExt;
use tower_http::decompression::RequestDecompressionLayer;

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
        .layer(RequestDecompressionLayer::new())
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
    let request = Request::post("/notes")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, encoding)
        .body(Body::from(body))
        .unwrap();
    let response = app().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status.as_u16(), parts.headers, bytes)
}

fn code(status: u16, headers: &axum::http::HeaderMap, body: &[u8]) -> Option<String> {
    Catalog::builtin()
        .decode(status, headers, body, SystemTime::now())
        .code
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
    let (status, headers, body) = post_note("gzip", compressed).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        code(status, &headers, &body).as_deref(),
        Some("payload_too_large")
    );
}

#[tokio::test]
async fn a_streamed_body_past_the_limit_is_payload_too_large_through_the_decoder() {
    // No `Content-Length` (a chunked upload): the layer counts the body as it
    // streams, and the decoder passes the uncompressed body through.
    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&[b' '; 64])));
    let request = Request::post("/notes")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let response = app().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let status = parts.status.as_u16();
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        code(status, &parts.headers, &body).as_deref(),
        Some("payload_too_large")
    );
}

#[tokio::test]
async fn a_corrupted_gzip_body_is_malformed() {
    let mut compressed = gzip(br#"{"text":"hello"}"#);
    let middle = compressed.len() / 2;
    compressed[middle] ^= 0xff;
    let (status, headers, body) = post_note("gzip", compressed).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        code(status, &headers, &body).as_deref(),
        Some("malformed_request")
    );
}

#[tokio::test]
async fn a_coding_the_decoder_lacks_is_unsupported_and_says_which_it_decodes() {
    let (status, headers, body) = post_note("br", b"not really brotli".to_vec()).await;
    assert_eq!(status, 415);
    assert_eq!(
        code(status, &headers, &body).as_deref(),
        Some("unsupported_media_type")
    );
    // What the decoder was built with: gzip here, more in a workspace build.
    let accepted = headers[header::ACCEPT_ENCODING].to_str().unwrap();
    assert!(
        accepted.split(',').any(|c| c == "gzip") && !accepted.contains("br"),
        "{accepted}"
    );
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Content-Encoding is not supported"), "{text}");
    assert!(!text.contains("Content-Type"), "{text}");
}
