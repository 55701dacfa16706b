#![doc = include_str!("docs/crate.md")]

mod current;
#[cfg(feature = "decompression")]
mod decompress;
mod error;
mod extract;
mod gate;
mod negotiate;
#[cfg(feature = "utoipa")]
pub mod openapi;
mod rejection;
mod render;
mod reply;
mod request_id;
#[cfg(feature = "serve")]
mod serve;

#[cfg(feature = "decompression")]
pub use decompress::{Decompression, DecompressionService};
pub use error::{HandlerError, Rejection, Result};
pub use extract::{BODY_ERROR_CODES, Form, Json, Path, Query};
pub use gate::{ResponseFuture, Tollgate, TollgateLayer, TollgateService, ValidationStatus};
pub use reply::Reply;
pub use request_id::{Negotiated, RequestId};
#[cfg(feature = "serve")]
pub use serve::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS, serve};
pub use tollgate_macros::ApiError;

/// The boxed error of bodies and services.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What `#[derive(ApiError)]` expands to uses; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use axum::response::{IntoResponse, Response};
    pub use serde_json;
    pub use tollgate;

    /// The response for a derived error (see `HandlerError`).
    pub fn error_response(err: tollgate::ApiError) -> Response {
        crate::error::error_response(err)
    }

    /// Wraps a derived error for `?` in handlers returning `HandlerError`.
    pub fn handler_error(err: tollgate::ApiError) -> crate::HandlerError {
        crate::HandlerError(err)
    }

    /// A built-in entry (checked to exist by the derive at compile time).
    pub fn builtin_def(code: &str) -> tollgate::ErrorDef {
        let catalog = tollgate::Catalog::builtin_ref();
        match catalog.get(code).or_else(|| catalog.get("internal_error")) {
            Some(def) => (**def).clone(),
            None => unreachable!("the built-in catalog has internal_error"),
        }
    }

    /// A new entry (its template checked by the derive at compile time).
    pub fn def(code: &str, status: u16, title: &str, message: &str) -> tollgate::ErrorDef {
        match tollgate::ErrorDef::new(code, status, title, message) {
            Ok(def) => def,
            Err(e) => unreachable!("#[derive(ApiError)] checked the template of {code:?}: {e}"),
        }
    }

    /// A field as a detail value (`null` if it cannot be serialized).
    pub fn to_detail<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
    }
}
