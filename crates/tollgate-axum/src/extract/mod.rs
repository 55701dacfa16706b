//! Extractors whose rejections are catalog errors naming the field as the
//! caller wrote it (`items[2].name`).
//!
//! They are drop-in replacements for axum's `Json`, `Query`, `Form` and
//! `Path`. With axum's own extractors the layer still answers in the catalog's
//! envelope (it reads axum's rejection responses), but only these know the
//! error's structure first-hand.

mod form;
mod json;
mod path;
mod query;

pub use form::Form;
pub use json::Json;
pub use path::Path;
pub use query::Query;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};

use crate::Rejection;
use crate::rejection::{builtin, recognise, sent_codings, unsupported_encoding, unsupported_type};

/// The codes a route that reads its body with [`Json`] or [`Form`] (or
/// axum's own, behind the layer) answers a body it cannot take with: one
/// that does not parse, of another type or coding, missing a field, with a
/// wrong one, too large. For a route's documented responses, beside
/// [`Tollgate::error_codes`](crate::Tollgate::error_codes).
pub const BODY_ERROR_CODES: [&str; 5] = [
    "malformed_request",
    "unsupported_media_type",
    "missing_field",
    "validation_error",
    "payload_too_large",
];

/// The media type of a request, lowercased, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or_default().trim();
    Some(media.to_ascii_lowercase())
}

/// Refuses a body still in a content coding (`Content-Encoding: gzip`): the
/// bytes an extractor reads would be compressed, not JSON or a form. A
/// decompression layer in front (`Decompression`, or tower-http's)
/// removes the header once it decodes the body, so only bodies nobody
/// decoded are refused: 415 `unsupported_media_type` with
/// `Accept-Encoding: identity` (RFC 9110, section 15.5.16).
fn refuse_encoded(headers: &HeaderMap) -> Result<(), Rejection> {
    let Some(codings) = sent_codings(headers) else {
        return Ok(());
    };
    let err = unsupported_encoding(Some(&codings), None)
        .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    Err(Rejection::from(err))
}

/// The body of a request whose media type `accepts` takes, in no content
/// coding ([`refuse_encoded`]); else the rejection, which asks for
/// `expected` (`application/json`).
async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
    accepts: fn(&str) -> bool,
    expected: &str,
) -> Result<Bytes, Rejection> {
    if !media_type(req.headers()).is_some_and(|media| accepts(&media)) {
        let sent = req.headers().get(CONTENT_TYPE);
        return Err(Rejection::from(unsupported_type(sent, expected)));
    }
    refuse_encoded(req.headers())?;
    Bytes::from_request(req, state)
        .await
        .map_err(body_rejection)
}

/// A body that could not be read: too large, or broken off.
fn body_rejection(rejection: BytesRejection) -> Rejection {
    let err = recognise(
        rejection.status().as_u16(),
        &rejection.body_text(),
        None,
        false,
    )
    .unwrap_or_else(|| builtin("malformed_request").with("reason", rejection.body_text()));
    Rejection::from(err)
}
