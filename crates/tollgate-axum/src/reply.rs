//! [`Reply`]: success bodies in the `envelope` dialect's shape.

use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use serde::Serialize;

use crate::error::error_response;
use crate::rejection::builtin;

/// A success body: `{"data":…,"success":true,"message":"OK"}` when the
/// request's errors are written in the `envelope` dialect (seed 004, where
/// every response shares the envelope), the bare JSON of `T` otherwise.
///
/// `Reply` serializes `T` once and marks the response; the
/// [`Tollgate`](crate::Tollgate) layer, which knows the negotiated dialect,
/// wraps the marked bytes on the way out. Without the layer the body stays
/// bare. Middleware that rewrites bodies (compression) belongs outside the
/// layer.
///
/// ```
/// use axum::{Router, routing::get};
/// use tollgate::{Catalog, Dialect};
/// use tollgate_axum::{Reply, Tollgate};
///
/// async fn scan() -> Reply<serde_json::Value> {
///     Reply(serde_json::json!({"id": "scan_1"}))
/// }
/// // GET /scan → {"data":{"id":"scan_1"},"success":true,"message":"OK"}
/// let app: Router = Router::new()
///     .route("/scan", get(scan))
///     .layer(Tollgate::new(Catalog::builtin()).dialect(Dialect::Envelope).layer());
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[must_use]
pub struct Reply<T>(pub T);

/// The serialized data of a [`Reply`], for the layer to wrap.
#[derive(Clone)]
pub(crate) struct ReplyBody(pub(crate) Bytes);

/// `{"data":<data>,"success":true,"message":"OK"}`.
pub(crate) fn envelope_body(data: &[u8]) -> Bytes {
    const HEAD: &[u8] = br#"{"data":"#;
    const TAIL: &[u8] = br#","success":true,"message":"OK"}"#;
    let mut out = BytesMut::with_capacity(HEAD.len() + data.len() + TAIL.len());
    out.put_slice(HEAD);
    out.put_slice(data);
    out.put_slice(TAIL);
    out.freeze()
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let mut buf = BytesMut::with_capacity(128).writer();
        if let Err(e) = serde_json::to_writer(&mut buf, &self.0) {
            return error_response(builtin("internal_error").with_source(e));
        }
        let data = buf.into_inner().freeze();
        let mut response = (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            data.clone(),
        )
            .into_response();
        response.extensions_mut().insert(ReplyBody(data));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_wraps_the_data() {
        let body = envelope_body(br#"{"id":1}"#);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"data": {"id": 1}, "success": true, "message": "OK"})
        );
    }
}
