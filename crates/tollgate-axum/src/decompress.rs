//! Request bodies sent compressed (`Content-Encoding: gzip` or `deflate`),
//! decoded for the extractors.
//!
//! Written here rather than taken from tower-http's
//! `RequestDecompressionLayer`, which reads only the first member of a gzip
//! body and drops the rest without an error (tower-rs/tower-http#737): a
//! body made of several members (`cat a.gz b.gz`, `pigz`, a client that
//! flushes as it streams) reached the handler cut short, and bytes after
//! the compressed data were ignored. It also takes codings in lower case
//! only (`GZIP`, `x-gzip`: 415). The decoding itself is async-compression's,
//! as there.

use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_compression::tokio::bufread::{GzipDecoder, ZlibDecoder};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::future::Either;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderMap, HeaderValue, Request};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::Rejection;
use crate::gate::OverLimit;
use crate::rejection::{sent_codings, unsupported_encoding};

/// What [`Decompression`] decodes, as sent in `Accept-Encoding` with a
/// refusal.
const DECODED: &str = "gzip, deflate";

/// A layer that decodes request bodies sent with `Content-Encoding: gzip`
/// (or `x-gzip`) or `deflate` (the zlib format, RFC 9110, section 8.4.1),
/// in any case, for the extractors inside it.
///
/// A gzip body may be several members one after another (RFC 1952, section
/// 2.2): all are decoded. A body that is not what its coding says (corrupt,
/// cut short, followed by other bytes) fails as the extractor reads it:
/// `malformed_request`, whose `reason` says so (`the body is not gzip data,
/// as its Content-Encoding says`). A body in another coding, or in several at once, is
/// refused before the service inside runs: 415 `unsupported_media_type` with
/// `Accept-Encoding: gzip, deflate`. Place it inside the [`Tollgate`](crate::Tollgate)
/// layer, whose [`body_limit`](crate::Tollgate::body_limit) then counts the
/// decoded bytes (a small body that expands past it is `payload_too_large`),
/// for whatever reads the body inside: an extractor, or a layer that buffers
/// it (idempotency's), which reads no more of a bomb than the limit.
///
/// ```
/// # use axum::{Router, routing::post};
/// use tollgate::Catalog;
/// use tollgate_axum::{Decompression, Tollgate};
///
/// let app: Router = Router::new()
///     .route("/notes", post(|body: String| async move { body }))
///     .layer(Decompression)
///     .layer(Tollgate::new(Catalog::builtin()).body_limit(1 << 20).layer());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Decompression;

impl<S> tower::Layer<S> for Decompression {
    type Service = DecompressionService<S>;

    fn layer(&self, inner: S) -> DecompressionService<S> {
        DecompressionService { inner }
    }
}

/// The service of [`Decompression`].
#[derive(Clone, Debug)]
pub struct DecompressionService<S> {
    inner: S,
}

/// A content coding this layer decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
}

impl<S> tower::Service<Request<Body>> for DecompressionService<S>
where
    S: tower::Service<Request<Body>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let coding = match coding(request.headers()) {
            Ok(Some(coding)) => coding,
            Ok(None) => return Either::Left(self.inner.call(request)),
            Err(Unsupported) => {
                let sent = sent_codings(request.headers());
                let err = unsupported_encoding(sent.as_deref(), Some(DECODED))
                    .header(ACCEPT_ENCODING, HeaderValue::from_static(DECODED));
                return Either::Right(ready(Ok(Rejection::from(err).into_response())));
            }
        };
        let (mut parts, body) = request.into_parts();
        parts.headers.remove(CONTENT_ENCODING);
        parts.headers.remove(CONTENT_LENGTH);
        let mut body = decoded(body, coding);
        // The decoded bytes count against the limit of the Tollgate layer
        // outside, for every reader inside: a layer that buffers the body
        // reads no more of a bomb than an extractor would.
        if let Some(over_limit) = parts.extensions.get::<OverLimit>() {
            body = over_limit.count(body);
        }
        let request = Request::from_parts(parts, body);
        Either::Left(self.inner.call(request))
    }
}

/// A `Content-Encoding` this layer does not decode.
struct Unsupported;

/// The one coding a request's `Content-Encoding` names (`identity` aside),
/// or `None` for none.
fn coding(headers: &HeaderMap) -> Result<Option<Coding>, Unsupported> {
    let mut codings = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"));
    let Some(first) = codings.next() else {
        return Ok(None);
    };
    let coding = if first.eq_ignore_ascii_case(b"gzip") || first.eq_ignore_ascii_case(b"x-gzip") {
        Coding::Gzip
    } else if first.eq_ignore_ascii_case(b"deflate") {
        Coding::Deflate
    } else {
        return Err(Unsupported);
    };
    match codings.next() {
        None => Ok(Some(coding)),
        Some(_) => Err(Unsupported),
    }
}

/// How many encoded bytes past twice the decoded ones a body may hold.
const SPARSE_SLACK: u64 = 64 * 1024;

/// The error of a body whose coded data decodes to next to nothing.
#[derive(Debug)]
struct Sparse;

impl std::fmt::Display for Sparse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("it decodes to far fewer bytes than it holds")
    }
}

impl std::error::Error for Sparse {}

/// `body` decoded from `coding` as it is read.
///
/// Coded data that decodes to next to nothing (gzip members of nothing,
/// each of which resets the decoder's 32 KiB window) costs far more to
/// decode than its size, on the request's thread: such a body is refused
/// once what it holds runs past twice what it decoded to, and 64 KiB.
/// Compressed data is smaller than what it decodes to, and data that does
/// not compress is stored at about its size.
fn decoded(body: Body, coding: Coding) -> Body {
    let produced = Arc::new(AtomicU64::new(0));
    let (seen, mut read) = (Arc::clone(&produced), 0u64);
    let input = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        // Against what the chunks before this one decoded to: this one
        // has not been decoded yet.
        if read > seen.load(Ordering::Relaxed).saturating_mul(2) + SPARSE_SLACK {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, Sparse));
        }
        read += chunk.len() as u64;
        Ok(chunk)
    });
    let reader = StreamReader::new(input);
    let stream = match coding {
        Coding::Gzip => {
            let mut decoder = GzipDecoder::new(reader);
            decoder.multiple_members(true);
            Either::Left(ReaderStream::new(decoder))
        }
        Coding::Deflate => Either::Right(ReaderStream::new(ZlibDecoder::new(reader))),
    };
    Body::from_stream(stream.map(move |chunk| match chunk {
        Ok(chunk) => {
            produced.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Ok(chunk)
        }
        Err(e) => Err(undecodable(e, coding, produced.load(Ordering::Relaxed) > 0)),
    }))
}

/// A decoder's failure in the client's terms (the body is not what its
/// `Content-Encoding` says), not the decoder's (`invalid gzip header`,
/// `corrupt deflate stream`), and whether it came after some of the body
/// was decoded (`decoded_some`: gzip data followed by other bytes); a
/// failure of the body itself (the connection, the length limit), which
/// the decoder passes on, is kept as it is.
fn undecodable(e: std::io::Error, coding: Coding, decoded_some: bool) -> std::io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<axum::Error>()) {
        return e;
    }
    let name = match coding {
        Coding::Gzip => "gzip",
        Coding::Deflate => "deflate (zlib)",
    };
    let why = if e.get_ref().is_some_and(|inner| inner.is::<Sparse>()) {
        format!("the body's {name} data is refused: {Sparse}")
    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
        format!("the body ends before its {name} data does")
    } else if decoded_some {
        format!(
            "the body is not all {name} data, as its Content-Encoding says: other bytes \
             follow or break into it"
        )
    } else {
        format!("the body is not {name} data, as its Content-Encoding says")
    };
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}
