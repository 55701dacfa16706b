//! Reading an error response: a bounded body, decoded whatever the API.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};
use tollgate::{Catalog, Decoded, Kind, Violation, headers};

/// How much of an error body is read by default: 1 MiB.
pub const DEFAULT_MAX_ERROR_BODY: usize = 1024 * 1024;

/// How much of a success body [`json_data`](crate::ResponseExt::json_data)
/// reads by default: 32 MiB.
pub const DEFAULT_MAX_SUCCESS_BODY: usize = 32 * 1024 * 1024;

/// An error response from any API, decoded: status, code, kind, message,
/// details, violations, request id and retry hint, with the headers and the
/// (bounded) body it came with.
///
/// The status and the request id survive any body: empty, HTML, plain text,
/// truncated or not JSON at all. A body in the charset its `Content-Type`
/// names (`charset=iso-8859-1`), or its byte order mark does, is read in
/// it; [`body`](Self::body) keeps the bytes as they came.
///
/// ```
/// # use axum::{Router, routing::get, http::StatusCode};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/", listener.local_addr()?);
/// # let app = Router::new().route("/", get(|| async {
/// #     (StatusCode::BAD_GATEWAY, [("content-type", "text/html"), ("x-request-id", "edge-9")],
/// #      "<html><head><title>502 Bad Gateway</title></head></html>")
/// # }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// use tollgate_client::{RequestBuilderExt, RetryPolicy};
///
/// let client = tollgate_client::client_with(RetryPolicy::disabled());
/// let err = client.get(&url).send_api().await.unwrap_err();
/// let response = err.response().expect("an error response");
/// assert_eq!(response.status(), 502);
/// assert_eq!(response.request_id(), Some("edge-9"));
/// assert_eq!(response.message(), Some("502 Bad Gateway"));
/// assert_eq!(response.dialect(), "html");
/// assert_eq!(response.kind(), tollgate::Kind::Unavailable);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ErrorResponse {
    pub(crate) status: StatusCode,
    pub(crate) decoded: Decoded,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) truncated: bool,
}

impl ErrorResponse {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The API's own code, verbatim (`RATE_LIMIT_ERROR`, `invalid_key`,
    /// `FORBIDDEN`), from the body or `X-Error-Code`.
    pub fn code(&self) -> Option<&str> {
        self.decoded.code.as_deref()
    }

    /// The canonical category, from the code (through the catalog) or the
    /// status.
    pub fn kind(&self) -> Kind {
        self.decoded.kind
    }

    /// The human-readable message.
    pub fn message(&self) -> Option<&str> {
        self.decoded.message.as_deref()
    }

    /// Extra context the body carried.
    pub fn details(&self) -> &Map<String, Value> {
        &self.decoded.details
    }

    /// Field-level problems.
    pub fn violations(&self) -> &[Violation] {
        &self.decoded.violations
    }

    /// The request id, from the body or any common request-id header.
    pub fn request_id(&self) -> Option<&str> {
        self.decoded.request_id.as_deref()
    }

    /// How long the server asked the client to wait: `Retry-After` (seconds
    /// or HTTP-date; of several lines, the longest), which decides; failing
    /// it, Azure's `retry-after-ms`; failing those, the longest of the
    /// body's `retry_after` and google's `RetryInfo`; failing those, a spent
    /// rate-limit quota's refill.
    pub fn retry_after(&self) -> Option<Duration> {
        self.decoded.retry_after
    }

    /// Whether the client retries this response, by the rules its
    /// [`RetryPolicy`](crate::RetryPolicy) follows without a
    /// [`retry_when`](crate::RetryPolicy::retry_when) rule: the server's
    /// `x-should-retry` or `Stripe-Should-Retry`, then the catalog entry of
    /// its code, then its status; a spent quota (`quota_exceeded`) only
    /// with a wait asked. The request's own limits are not counted: its
    /// method, its attempts, its deadline, the retry budget, or a wait
    /// longer than the policy allows. [`decoded`](Self::decoded)'s
    /// `retryable` is the catalog's class alone.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use tollgate_client::ErrorDecoder;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-should-retry", "false".parse().unwrap());
    /// let e = ErrorDecoder::new().decode(StatusCode::SERVICE_UNAVAILABLE, headers, Default::default());
    /// assert!(!e.retryable());
    /// assert!(e.decoded().retryable); // a 503, by its status alone
    /// ```
    pub fn retryable(&self) -> bool {
        crate::retry::plan_after_response(self, None).is_ok()
    }

    /// The body shape recognised: a dialect name (`problem`, `coded`, …) or
    /// another shape ([`Decoded::dialect`] lists them: `html`, `text`,
    /// `binary`, `empty`, `json`, …).
    pub fn dialect(&self) -> &'static str {
        self.decoded.dialect
    }

    /// Everything the decoder read.
    pub fn decoded(&self) -> &Decoded {
        &self.decoded
    }

    /// The response's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as read: at most the decoder's limit.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the body was cut: longer than the decoder's limit, or not read
    /// to its end (the connection failed, or the retry deadline came first).
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Debug for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorResponse")
            .field("status", &self.status)
            .field("decoded", &self.decoded)
            .field("body_len", &self.body.len())
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// Reads error responses: which catalog resolves codes, how much body is
/// read (of an error, and of a success body unwrapped by
/// [`json_data_with`](crate::ResponseExt::json_data_with)), and which wall
/// clock turns an HTTP-date `Retry-After` into a delay.
///
/// ```
/// use tollgate_client::ErrorDecoder;
/// let decoder = ErrorDecoder::new().max_body(64 * 1024);
/// assert_eq!(decoder.max_body_len(), 64 * 1024);
/// ```
#[derive(Clone)]
pub struct ErrorDecoder {
    pub(crate) catalog: CatalogRef,
    pub(crate) max_body: usize,
    pub(crate) max_success_body: usize,
    pub(crate) clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

#[derive(Clone)]
pub(crate) enum CatalogRef {
    Builtin,
    Owned(Arc<Catalog>),
}

impl Default for ErrorDecoder {
    fn default() -> Self {
        ErrorDecoder::new()
    }
}

impl fmt::Debug for ErrorDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorDecoder")
            .field(
                "catalog",
                &matches!(self.catalog, CatalogRef::Builtin).then_some("builtin"),
            )
            .field("max_body", &self.max_body)
            .field("max_success_body", &self.max_success_body)
            .finish_non_exhaustive()
    }
}

impl ErrorDecoder {
    /// The built-in catalog, a 1 MiB error body limit, a 32 MiB success body
    /// limit and the system clock.
    pub fn new() -> ErrorDecoder {
        ErrorDecoder {
            catalog: CatalogRef::Builtin,
            max_body: DEFAULT_MAX_ERROR_BODY,
            max_success_body: DEFAULT_MAX_SUCCESS_BODY,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Resolves codes through `catalog` (an app's own codes and aliases get
    /// their kind and retry class from it).
    pub fn catalog(mut self, catalog: Catalog) -> ErrorDecoder {
        self.catalog = CatalogRef::Owned(Arc::new(catalog));
        self
    }

    /// Reads at most `bytes` of an error body; the rest is dropped (and the
    /// connection with it). A success body that says `"success":false` is
    /// read within [`max_success_body`](Self::max_success_body) and decoded
    /// from its first `bytes`.
    pub fn max_body(mut self, bytes: usize) -> ErrorDecoder {
        self.max_body = bytes;
        self
    }

    /// The error body limit.
    pub fn max_body_len(&self) -> usize {
        self.max_body
    }

    /// Reads at most `bytes` of a success body that
    /// [`json_data_with`](crate::ResponseExt::json_data_with) unwraps; a
    /// longer one is [`BodyError::TooLarge`](crate::BodyError::TooLarge), its
    /// rest not read.
    pub fn max_success_body(mut self, bytes: usize) -> ErrorDecoder {
        self.max_success_body = bytes;
        self
    }

    /// The success body limit.
    pub fn max_success_body_len(&self) -> usize {
        self.max_success_body
    }

    /// The wall clock that HTTP-date `Retry-After` values and Unix-time
    /// resets are measured against when the response has no `Date` (tests
    /// pin it; the default is [`SystemTime::now`]). With a `Date`, they are
    /// measured against it, plus the response's `Age` when a cache kept it.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use http::{HeaderMap, StatusCode};
    /// use tollgate_client::ErrorDecoder;
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_753_356_600);
    /// let decoder = ErrorDecoder::new().wall_clock(move || now);
    /// let mut headers = HeaderMap::new();
    /// let at = httpdate::fmt_http_date(now + Duration::from_secs(30));
    /// headers.insert("retry-after", at.parse().unwrap());
    /// let e = decoder.decode(StatusCode::SERVICE_UNAVAILABLE, headers.clone(), Default::default());
    /// assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    /// // Against the server's `Date`, 10 s behind this clock: 40 s away.
    /// let date = httpdate::fmt_http_date(now - Duration::from_secs(10));
    /// headers.insert("date", date.parse().unwrap());
    /// let e = decoder.decode(StatusCode::SERVICE_UNAVAILABLE, headers.clone(), Default::default());
    /// assert_eq!(e.retry_after(), Some(Duration::from_secs(40)));
    /// // From a cache that kept it 25 s: the server's clock reads `Date` + 25 s.
    /// headers.insert("age", "25".parse().unwrap());
    /// let e = decoder.decode(StatusCode::SERVICE_UNAVAILABLE, headers, Default::default());
    /// assert_eq!(e.retry_after(), Some(Duration::from_secs(15)));
    /// ```
    pub fn wall_clock(
        mut self,
        now: impl Fn() -> SystemTime + Send + Sync + 'static,
    ) -> ErrorDecoder {
        self.clock = Arc::new(now);
        self
    }

    pub(crate) fn catalog_ref(&self) -> &Catalog {
        match &self.catalog {
            CatalogRef::Builtin => Catalog::builtin_ref(),
            CatalogRef::Owned(catalog) => catalog,
        }
    }

    /// Decodes an error response already in memory.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use tollgate_client::ErrorDecoder;
    /// let body = br#"{"error":{"code":429,"message":"Too Many Requests: Rate limit exceeded","retry_after":60}}"#;
    /// let e = ErrorDecoder::new().decode(StatusCode::TOO_MANY_REQUESTS, HeaderMap::new(), body.to_vec().into());
    /// assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(60)));
    /// assert_eq!(e.kind(), tollgate::Kind::RateLimited);
    /// // `Retry-After`, where the response has one, decides over the body.
    /// let mut headers = HeaderMap::new();
    /// headers.insert("retry-after", "30".parse().unwrap());
    /// let e = ErrorDecoder::new().decode(StatusCode::TOO_MANY_REQUESTS, headers, body.to_vec().into());
    /// assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(30)));
    /// ```
    pub fn decode(&self, status: StatusCode, headers: HeaderMap, body: Bytes) -> ErrorResponse {
        self.decode_read_in(status, headers, body, Duration::ZERO)
    }

    /// [`decode`](Self::decode) for a body that took `reading` to arrive
    /// after its head.
    pub(crate) fn decode_read_in(
        &self,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        reading: Duration,
    ) -> ErrorResponse {
        // Hints are read against the server's clock: the response's own
        // `Date`, plus its `Age` when a cache kept it that long, plus the
        // time its body took (a point in time is that much nearer once the
        // body is in).
        let now = headers::sent_at(&headers)
            .and_then(|sent| sent.checked_add(reading))
            .unwrap_or_else(|| (self.clock)());
        let decoded = self
            .catalog_ref()
            .decode(status.as_u16(), &headers, &body, now);
        ErrorResponse {
            status,
            decoded,
            headers,
            body,
            truncated: false,
        }
    }

    /// Reads at most the limit of `response`'s body and decodes it. A body that
    /// fails half-way is decoded as far as it came; one still in a content
    /// coding reqwest did not undo (gzip the client did not ask for) is kept
    /// but not read, as an `empty` one.
    ///
    /// There is no time limit of its own: only the reqwest client's timeouts
    /// bound the read. A per-read timeout does not stop a body that trickles
    /// in; reqwest's total `timeout` does.
    pub async fn read(&self, response: reqwest::Response) -> ErrorResponse {
        self.read_until(response, None).await
    }

    /// [`read`](Self::read), stopping at `deadline`: a body still arriving
    /// then is decoded as far as it came, so the status, the headers and
    /// their retry hint are not lost with it.
    pub(crate) async fn read_until(
        &self,
        mut response: reqwest::Response,
        deadline: Option<tokio::time::Instant>,
    ) -> ErrorResponse {
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let head_at = tokio::time::Instant::now();
        let (body, truncated) = read_bounded(&mut response, self.max_body, deadline).await;
        let reading = head_at.elapsed();
        let mut out = if encoded(&headers) {
            // Compressed bytes are no message: decoded from the headers.
            let mut out = self.decode_read_in(status, headers, Bytes::new(), reading);
            out.body = body;
            out
        } else {
            self.decode_read_in(status, headers, body, reading)
        };
        out.truncated = truncated;
        out
    }
}

/// Whether a body is still in a content coding (gzip sent to a client that
/// asked for none): reqwest removes `Content-Encoding` from what it decodes.
fn encoded(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"))
}

/// Reads up to `limit` bytes of a body, until `deadline`; `true` when it was
/// cut: there was more, or it failed or ran out of time before its end.
async fn read_bounded(
    response: &mut reqwest::Response,
    limit: usize,
    deadline: Option<tokio::time::Instant>,
) -> (Bytes, bool) {
    let mut buf = BytesMut::new();
    loop {
        let chunk = match deadline {
            Some(at) => match tokio::time::timeout_at(at, response.chunk()).await {
                Ok(chunk) => chunk,
                Err(_) => return (buf.freeze(), true),
            },
            None => response.chunk().await,
        };
        match chunk {
            Ok(Some(chunk)) => {
                let room = limit - buf.len();
                if chunk.len() > room {
                    buf.extend_from_slice(&chunk[..room]);
                    return (buf.freeze(), true);
                }
                buf.extend_from_slice(&chunk);
                if buf.len() == limit {
                    // Full: whatever comes next is not read, so it is not
                    // waited for (a body that stalls here would hold the
                    // read until a timeout); cut unless its end is here.
                    let ended = ended_already(response);
                    return (buf.freeze(), !ended);
                }
            }
            Ok(None) => return (buf.freeze(), false),
            // A body cut short still has a status and headers worth keeping.
            Err(_) => return (buf.freeze(), true),
        }
    }
}

/// Whether the body has ended, as far as what has already arrived tells:
/// its next chunk is polled once, not waited for.
fn ended_already(response: &mut reqwest::Response) -> bool {
    use futures_util::FutureExt;
    matches!(response.chunk().now_or_never(), Some(Ok(None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debug output shows what was decoded and how long the body is, not
    /// the body's bytes (up to the decoder's limit of them).
    #[test]
    fn an_error_response_debugs_its_decoding_and_body_length() {
        let body = r#"{"error":{"code":503,"message":"Try later"}}"#;
        let response = ErrorDecoder::new().decode(
            StatusCode::SERVICE_UNAVAILABLE,
            HeaderMap::new(),
            Bytes::from(body),
        );
        let shown = format!("{response:?}");
        assert!(shown.starts_with("ErrorResponse {"), "{shown}");
        assert!(shown.contains("status: 503"), "{shown}");
        assert!(
            shown.contains(&format!("body_len: {}", body.len())),
            "{shown}"
        );
        assert!(shown.contains("truncated: false"), "{shown}");
    }

    /// Debug output names the catalog only when it is the built-in one.
    #[test]
    fn a_decoder_debugs_its_catalog_and_body_limit() {
        let shown = format!("{:?}", ErrorDecoder::new().max_body(4096));
        assert!(shown.starts_with("ErrorDecoder {"), "{shown}");
        assert!(shown.contains(r#"catalog: Some("builtin")"#), "{shown}");
        assert!(shown.contains("max_body: 4096"), "{shown}");
        let owned = ErrorDecoder::new().catalog(Catalog::builtin());
        assert!(format!("{owned:?}").contains("catalog: None"), "{owned:?}");
    }
}
