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
use std::task::{Context, Poll};

use async_compression::tokio::bufread::{GzipDecoder, ZlibDecoder};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use futures_util::{StreamExt, TryStreamExt};
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

/// `body` decoded from `coding` as it is read.
fn decoded(body: Body, coding: Coding) -> Body {
    let reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let stream = match coding {
        Coding::Gzip => {
            let mut decoder = GzipDecoder::new(reader);
            decoder.multiple_members(true);
            Either::Left(ReaderStream::new(decoder))
        }
        Coding::Deflate => Either::Right(ReaderStream::new(ZlibDecoder::new(reader))),
    };
    let mut decoded_some = false;
    Body::from_stream(stream.map(move |chunk| match chunk {
        Ok(chunk) => {
            decoded_some |= !chunk.is_empty();
            Ok(chunk)
        }
        Err(e) => Err(undecodable(e, coding, decoded_some)),
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
    let why = if e.kind() == std::io::ErrorKind::UnexpectedEof {
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
