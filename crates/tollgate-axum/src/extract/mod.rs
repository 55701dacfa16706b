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
use http::HeaderMap;
use http::header::CONTENT_TYPE;

use crate::Rejection;
use crate::rejection::{builtin, recognise};

/// The media type of a request, lowercased, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or_default().trim();
    Some(media.to_ascii_lowercase())
}

/// A body that could not be read: too large, or broken off.
fn body_rejection(rejection: BytesRejection) -> Rejection {
    let err = recognise(rejection.status().as_u16(), &rejection.body_text(), None)
        .unwrap_or_else(|| builtin("malformed_request").with("reason", rejection.body_text()));
    Rejection::from(err)
}
