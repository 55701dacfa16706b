//! The request id: accepted from `X-Request-Id` when valid, else a new UUIDv7.

use std::convert::Infallible;
use std::fmt;

use axum::extract::FromRequestParts;
use bytes::Bytes;
use http::HeaderValue;
use http::request::Parts;
use tollgate::Dialect;
use uuid::Timestamp;
use uuid::timestamp::context::{ContextV7, ThreadLocalContext};

/// The id of the request being served: the caller's `X-Request-Id` when it is
/// valid (1–128 characters of `[A-Za-z0-9._-]`), else a new UUIDv7.
///
/// The [`Tollgate`](crate::Tollgate) layer decides it before the handler
/// runs; handlers extract it. Without the layer the extractor still works: it
/// reads the header, or makes a new id.
///
/// ```
/// use axum::{Router, routing::get};
/// use tollgate_axum::RequestId;
///
/// async fn handler(id: RequestId) -> String {
///     format!("your request is {id}")
/// }
/// let app: Router = Router::new().route("/", get(handler));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The caller's id from `headers` when valid, else a new UUIDv7.
    /// Several `X-Request-Id` lines are one list (`a, b`, RFC 9110 5.3),
    /// which is no valid id.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tollgate_axum::RequestId;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-request-id", "req_42".parse().unwrap());
    /// assert_eq!(RequestId::from_headers(&headers).as_str(), "req_42");
    /// headers.insert("x-request-id", "bad id!".parse().unwrap());
    /// assert_eq!(RequestId::from_headers(&headers).as_str().len(), 36);
    /// ```
    pub fn from_headers(headers: &http::HeaderMap) -> RequestId {
        let mut lines = headers.get_all(tollgate::headers::X_REQUEST_ID).iter();
        match (lines.next(), lines.next()) {
            (one, None) => RequestId::from_header(one),
            _ => RequestId::generate(),
        }
    }

    /// The caller's `X-Request-Id` value when valid, else a new UUIDv7.
    #[inline]
    pub(crate) fn from_header(value: Option<&HeaderValue>) -> RequestId {
        match value {
            Some(value) if is_valid(value.as_bytes()) => RequestId(value.clone()),
            _ => RequestId::generate(),
        }
    }

    /// A new UUIDv7 id (time-ordered, hyphenated).
    ///
    /// ```
    /// let a = tollgate_axum::RequestId::generate();
    /// assert!(tollgate::headers::is_valid_request_id(a.as_str()));
    /// ```
    pub fn generate() -> RequestId {
        // A context per thread: ids stay ordered within a thread's
        // millisecond, and threads never meet on the process-wide lock that
        // `Uuid::now_v7` takes.
        let now = Timestamp::now(ThreadLocalContext::new(&UUID_CONTEXT));
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::new_v7(now).hyphenated().encode_lower(&mut text);
        // One allocation, shared by every clone (a `Vec` would be copied
        // into shared storage at the first clone).
        let value = HeaderValue::from_maybe_shared(Bytes::from_owner(text));
        RequestId(value.unwrap_or_else(|_| HeaderValue::from_static("invalid")))
    }

    /// Wraps an id that is already known to be valid; `None` when it is not
    /// 1–128 characters of `[A-Za-z0-9._-]`.
    ///
    /// ```
    /// assert!(tollgate_axum::RequestId::new("req_1").is_some());
    /// assert!(tollgate_axum::RequestId::new("").is_none());
    /// ```
    pub fn new(id: &str) -> Option<RequestId> {
        if !is_valid(id.as_bytes()) {
            return None;
        }
        HeaderValue::from_str(id).ok().map(RequestId)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ids of [A-Za-z0-9._-] are ever stored, so this never falls back.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value, for `X-Request-Id`.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// No id: what the thread's current slot holds while no layer runs (a
    /// valid id is never empty). A constant, so taking one copies a few
    /// words instead of calling `HeaderValue::from_static` and reading its
    /// result back (a store-forwarding stall on the happy path).
    pub(crate) const EMPTY: RequestId = RequestId(HeaderValue::from_static(""));

    /// The id as an owned header value.
    pub(crate) fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

thread_local! {
    /// The UUIDv7 counter of this thread (see [`RequestId::generate`]).
    static UUID_CONTEXT: ContextV7 = const { ContextV7::new() };
}

use tollgate::headers::is_valid_request_id_bytes as is_valid;

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

/// What the layer decided about a request before the handler ran: its id and
/// the dialect its errors (and [`Reply`](crate::Reply) bodies) are written in.
///
/// The layer makes it current on the thread while it runs the inner service
/// (no request extension, so the happy path allocates nothing for it);
/// handlers extract it. Code that runs elsewhere — a task the handler
/// spawned, a service behind a channel such as tower's `Buffer` inside the
/// layer — sees the caller's valid `X-Request-Id` (or a new id) and the
/// `problem` dialect instead.
///
/// ```
/// use axum::{Router, routing::get};
/// use tollgate_axum::Negotiated;
///
/// async fn handler(negotiated: Negotiated) -> String {
///     format!("{} speaks {}", negotiated.request_id(), negotiated.dialect())
/// }
/// let app: Router = Router::new().route("/", get(handler));
/// ```
#[derive(Clone, Debug)]
pub struct Negotiated {
    pub(crate) request_id: RequestId,
    pub(crate) dialect: Dialect,
}

impl Negotiated {
    /// The request id.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The dialect errors are written in for this request.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// What the layer decided, or without the layer: the header's id (or a
    /// new one) and the default `problem` dialect.
    fn from_parts(parts: &Parts) -> Negotiated {
        crate::current::get().unwrap_or_else(|| Negotiated {
            request_id: RequestId::from_headers(&parts.headers),
            dialect: Dialect::Problem,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Negotiated {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Negotiated::from_parts(parts))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(crate::current::request_id().unwrap_or_else(|| RequestId::from_headers(&parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_ids_are_replaced() {
        for bad in ["", "a b", "é", &"a".repeat(129), "a/b"] {
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(bad) {
                headers.insert(tollgate::headers::X_REQUEST_ID, v);
            }
            let id = RequestId::from_headers(&headers);
            assert_ne!(id.as_str(), bad);
            assert_eq!(
                uuid::Uuid::parse_str(id.as_str())
                    .unwrap()
                    .get_version_num(),
                7
            );
        }
    }

    #[test]
    fn generated_ids_are_uuid_v7_and_share_their_bytes() {
        let id = RequestId::generate();
        let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert_eq!(id.as_str(), uuid.hyphenated().to_string());
        let copy = id.clone();
        assert_eq!(
            copy.header_value().as_bytes().as_ptr(),
            id.header_value().as_bytes().as_ptr()
        );
        // Time-ordered: each id of a thread sorts after the one before, even
        // within one millisecond.
        let ids: Vec<String> = (0..2000)
            .map(|_| RequestId::generate().as_str().to_owned())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids are not ordered");
    }

    #[test]
    fn valid_ids_are_kept() {
        let long = "a".repeat(128);
        for good in ["r", "req_01J.abc-9", long.as_str()] {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                tollgate::headers::X_REQUEST_ID,
                HeaderValue::from_str(good).unwrap(),
            );
            assert_eq!(RequestId::from_headers(&headers).as_str(), good);
        }
    }

    /// `{:?}` (a `tracing` field, `Negotiated`'s derived `Debug`) shows the id.
    #[test]
    fn debug_shows_the_id() {
        let id = RequestId::new("req_42").unwrap();
        assert_eq!(format!("{id:?}"), r#"RequestId("req_42")"#);
    }
}
