//! [`Reply`]: success bodies in the `envelope` dialect's shape.

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CONTENT_TYPE, VARY};
use serde::Serialize;

use crate::current;
use crate::error::error_response;
use crate::rejection::builtin;

/// A success body: `{"data":…,"success":true,"message":"OK"}` when the
/// request's errors are written in the `envelope` dialect (seed 004, where
/// every response shares the envelope), the bare JSON of `T` otherwise. A
/// request asking for problem details (`Accept`) changes how its errors are
/// written, not its successes: those follow the API's dialect (its default,
/// or the version or path pinned).
///
/// `Reply` asks the [`Tollgate`](crate::Tollgate) layer running the handler
/// which dialect the request negotiated and writes the finished body at once
/// (one serialization, one buffer), so a component that stores and replays
/// responses (an idempotency layer) replays the same envelope. When a request
/// header can change whether the body wears the envelope (the version
/// header), the response says so in `Vary`. Without the layer the
/// body stays bare. Pair it with a 2xx status: the envelope says
/// `"success":true`.
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

/// What the envelope writes before and after the data.
const HEAD: &[u8] = br#"{"data":"#;
const TAIL: &[u8] = br#","success":true,"message":"OK"}"#;

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let decision = current::decision();
        let envelope = decision.is_some_and(|d| d.envelope_replies);
        let mut body = Vec::with_capacity(128);
        if envelope {
            body.extend_from_slice(HEAD);
        }
        if let Err(e) = serde_json::to_writer(&mut body, &self.0) {
            return error_response(builtin("internal_error").with_source(e));
        }
        if envelope {
            body.extend_from_slice(TAIL);
        }
        let mut response = (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response();
        if let Some(vary) = decision.and_then(|d| d.reply_vary) {
            response.headers_mut().insert(VARY, vary.clone());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestId;
    use http_body_util::BodyExt;
    use tollgate::Dialect;

    fn body_of(reply: Reply<serde_json::Value>, dialect: Option<Dialect>) -> serde_json::Value {
        let response = match dialect {
            Some(dialect) => {
                let mut id = current::IdSlot::new(RequestId::new("r1").unwrap());
                let decision = current::Decision {
                    dialect,
                    envelope_replies: dialect == Dialect::Envelope,
                    reply_vary: None,
                    multipart_form: false,
                };
                let _entered = current::enter(&mut id, decision);
                reply.into_response()
            }
            None => reply.into_response(),
        };
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn the_envelope_wraps_the_data_in_the_envelope_dialect_only() {
        let data = serde_json::json!({"id": 1});
        assert_eq!(
            body_of(Reply(data.clone()), Some(Dialect::Envelope)),
            serde_json::json!({"data": {"id": 1}, "success": true, "message": "OK"})
        );
        assert_eq!(body_of(Reply(data.clone()), Some(Dialect::Flat)), data);
        assert_eq!(body_of(Reply(data.clone()), None), data);
    }
}
