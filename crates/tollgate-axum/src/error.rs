//! Handler errors: anything returned with `?` becomes a catalog error.

use std::any::Any;
use std::fmt;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use tollgate::{ApiError, Catalog, Context, Dialect, Violation};

use crate::BoxError;
use crate::rejection::{self, builtin};

/// The response for an error: the error in the extensions, for the layer to
/// render in the negotiated dialect with the request id.
///
/// Without the layer (a spawned task, a router without it), the body is
/// rendered here in the `problem` dialect and the source is logged, so the
/// response is correct on its own.
pub(crate) fn error_response(err: ApiError) -> Response {
    if crate::current::under_layer() {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = http::StatusCode::from_u16(err.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        response.extensions_mut().insert(err);
        return response;
    }
    // The body names axum's default limit; the error left for a layer
    // that renders it later does not, so that the layer names its own.
    let named = rejection::name_limit(err.clone(), None);
    crate::render::log(&named, None);
    let ctx = Context::new(SystemTime::now());
    let rendered = Catalog::builtin_ref()
        .renderer(Dialect::Problem)
        .response(&named, &ctx);
    let mut response = rendered.map(Body::from);
    response.extensions_mut().insert(err);
    response
}

/// The error type for handlers: `?` turns any error into a catalog error.
///
/// - a [`tollgate::ApiError`] renders as itself;
/// - a `#[derive(ApiError)]` enum renders as its variant's entry;
/// - an axum rejection (`JsonRejection`, `QueryRejection`, `PathRejection`,
///   `FormRejection`, `BytesRejection`, …, or one of their variants' errors,
///   such as `JsonDataError`), also wrapped in an error of the app's,
///   renders as the catalog error it means (`validation_error`,
///   `missing_field`, …);
/// - any other error is `internal_error`: a generic 500 whose source goes to
///   the log (with the request id), never into the body.
///
/// Like `anyhow::Error`, it does not implement `std::error::Error` itself
/// (that would make `From<E>` overlap).
///
/// ```
/// use axum::{Router, routing::get};
/// use tollgate::Catalog;
/// use tollgate_axum::HandlerError;
///
/// async fn read_config() -> Result<String, HandlerError> {
///     // A missing file is an io::Error: a 500 with the cause in the log.
///     let text = std::fs::read_to_string("/no/such/file")?;
///     Ok(text)
/// }
///
/// async fn find(id: u64) -> Result<String, HandlerError> {
///     let err = Catalog::builtin_ref().error("not_found")?.with_message(format!("Rule {id} not found"));
///     Err(err.into())
/// }
/// let app: Router = Router::new().route("/config", get(read_config));
/// ```
pub struct HandlerError(pub(crate) ApiError);

/// `Result` with [`HandlerError`] as the default error.
pub type Result<T, E = HandlerError> = std::result::Result<T, E>;

impl HandlerError {
    /// The catalog error this will render as.
    ///
    /// ```
    /// let e = tollgate_axum::HandlerError::from(std::io::Error::other("disk"));
    /// assert_eq!(e.api_error().code(), "internal_error");
    /// ```
    pub fn api_error(&self) -> &ApiError {
        &self.0
    }

    /// The catalog error, by value.
    pub fn into_api_error(self) -> ApiError {
        self.0
    }

    /// Wraps any error that converts into an `ApiError` (such as a
    /// `#[derive(ApiError)]` enum).
    pub fn from_api(err: impl Into<ApiError>) -> HandlerError {
        HandlerError(err.into())
    }

    /// Adds a field violation: a business rule's fields at fault, beside a
    /// derived error's own code.
    ///
    /// ```
    /// use tollgate::{Catalog, Violation};
    /// use tollgate_axum::HandlerError;
    /// let err = HandlerError::from_api(Catalog::builtin_ref().error("conflict").unwrap())
    ///     .violation(Violation::new("sku", "out_of_stock", "No stock left"));
    /// assert_eq!(err.api_error().violations()[0].field, "sku");
    /// ```
    pub fn violation(self, violation: Violation) -> HandlerError {
        HandlerError(self.0.violation(violation))
    }
}

impl<E> From<E> for HandlerError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> HandlerError {
        HandlerError(classify(err))
    }
}

/// Reads an error as the catalog error it means.
pub(crate) fn classify<E>(err: E) -> ApiError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut slot = Some(err);
    if let Some(api) = (&mut slot as &mut dyn Any).downcast_mut::<Option<ApiError>>() {
        if let Some(api) = api.take() {
            return api;
        }
    }
    let Some(err) = slot else {
        unreachable!("the slot is only emptied by an ApiError")
    };
    meaning(&err).unwrap_or_else(|| builtin("internal_error").with_source(err))
}

/// Reads an inner service's error as the catalog error it means, as
/// [`classify`] does; what no rule reads is an `internal_error` with the
/// error's text as its source.
pub(crate) fn classify_boxed(err: BoxError) -> ApiError {
    meaning(&*err).unwrap_or_else(|| builtin("internal_error").with_source(err))
}

/// The catalog error `err` means, if a rule reads it: an [`ApiError`] or a
/// [`Rejection`] anywhere in its chain of sources (behind an `anyhow`
/// context, say); a body length limit met while a rejection's own reader ran
/// (multipart's, which may call it a server error); one of axum's
/// rejections, or one of their variants' errors, anywhere in the chain;
/// tower's timeout and load-shed errors.
fn meaning(err: &(dyn std::error::Error + 'static)) -> Option<ApiError> {
    let carried = std::iter::successors(Some(err), |e| e.source()).find_map(|e| {
        e.downcast_ref::<ApiError>()
            .or_else(|| e.downcast_ref::<Rejection>().map(Rejection::api_error))
            .cloned()
    });
    if carried.is_some() {
        return carried;
    }
    if is_length_limit(err) {
        return Some(rejection::payload_too_large(None));
    }
    // An app's error may wrap the rejection (`#[from] JsonRejection`), or
    // forward to its variant's error (`#[error(transparent)]`).
    if let Some(api) = std::iter::successors(Some(err), |e| e.source()).find_map(known_rejection) {
        return Some(api);
    }
    if err.is::<tower::timeout::error::Elapsed>() {
        return Some(builtin("timeout"));
    }
    // Shed load clears as soon as a request ends: a second is the hint the
    // entry's remedy ("wait for Retry-After") needs.
    err.is::<tower::load_shed::error::Overloaded>()
        .then(|| builtin("service_unavailable").retry_after(Duration::from_secs(1)))
}

/// axum's rejections (and the errors of their variants, which a handler
/// may take apart and return), read from their status and text.
fn known_rejection(err: &(dyn std::error::Error + 'static)) -> Option<ApiError> {
    use axum::extract::rejection as r;
    // What the layer running the handler saw of the request: the text of
    // axum's multipart rejection does not tell it.
    let multipart_form = crate::current::decision().is_some_and(|d| d.multipart_form);
    macro_rules! try_types {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(rej) = err.downcast_ref::<$ty>() {
                let (status, text) = (rej.status().as_u16(), rej.body_text());
                return rejection::recognise(status, &text, None, multipart_form);
            })*
        };
    }
    try_types!(
        r::JsonRejection,
        r::QueryRejection,
        r::FormRejection,
        r::PathRejection,
        r::RawPathParamsRejection,
        r::BytesRejection,
        r::StringRejection,
        r::FailedToBufferBody,
        r::RawFormRejection,
        r::JsonDataError,
        r::JsonSyntaxError,
        r::MissingJsonContentType,
        r::FailedToDeserializeQueryString,
        r::FailedToDeserializeForm,
        r::FailedToDeserializeFormBody,
        r::InvalidFormContentType,
        r::FailedToDeserializePathParams,
        r::InvalidUtf8InPathParam,
        r::MissingPathParams,
        r::InvalidUtf8,
        r::UnknownBodyError,
    );
    #[cfg(feature = "multipart")]
    {
        // A multipart body that could not be read to its end (cut off, bad
        // chunking, a broken compression) is the request's fault, not a
        // server error, whatever axum's status says.
        if let Some(rej) = err.downcast_ref::<axum::extract::multipart::MultipartError>() {
            if rej.status().is_server_error() {
                return Some(
                    builtin("malformed_request").with("reason", "the body could not be read"),
                );
            }
        }
        try_types!(
            axum::extract::multipart::MultipartRejection,
            axum::extract::multipart::MultipartError,
            axum::extract::multipart::InvalidBoundary,
        );
    }
    None
}

/// Whether the error, or one of its sources, is a body length limit.
pub(crate) fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}

impl IntoResponse for HandlerError {
    fn into_response(self) -> Response {
        error_response(self.0)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The rejection of this crate's extractors ([`Json`](crate::Json),
/// [`Query`](crate::Query), [`Form`](crate::Form), [`Path`](crate::Path)):
/// the catalog error the request earned, rendered by the layer.
///
/// ```
/// use axum::{Router, routing::post};
/// use tollgate_axum::{Json, Rejection};
///
/// // Take the rejection to inspect it, or return it as the response.
/// async fn create(body: Result<Json<serde_json::Value>, Rejection>) -> Result<String, Rejection> {
///     let Json(value) = body?;
///     Ok(value.to_string())
/// }
/// let app: Router = Router::new().route("/", post(create));
/// ```
#[derive(Debug)]
pub struct Rejection(pub(crate) ApiError);

impl Rejection {
    /// `unsupported_media_type` (415) for a body of a type a handler does
    /// not read, worded as this crate's extractors word theirs: it names
    /// `sent`, the request's `Content-Type` (or says it sent none), and
    /// `expected`, what to send instead. For a handler that reads its body
    /// itself, or takes several types:
    ///
    /// ```
    /// use http::{HeaderValue, header::CONTENT_TYPE};
    /// use tollgate_axum::Rejection;
    /// let mut request = http::Request::new(());
    /// request.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    /// let sent = request.headers().get(CONTENT_TYPE);
    /// let refusal = Rejection::unsupported_media_type(sent, "application/json or multipart/form-data");
    /// assert_eq!(refusal.api_error().status(), 415);
    /// assert_eq!(
    ///     refusal.api_error().message(),
    ///     "The request's Content-Type (text/plain) is not supported: \
    ///      send application/json or multipart/form-data."
    /// );
    /// let refusal = Rejection::unsupported_media_type(None, "application/json");
    /// assert_eq!(
    ///     refusal.api_error().message(),
    ///     "The request has no Content-Type: send the body as application/json."
    /// );
    /// ```
    pub fn unsupported_media_type(sent: Option<&http::HeaderValue>, expected: &str) -> Rejection {
        Rejection(crate::rejection::unsupported_type(sent, expected))
    }

    /// The catalog error.
    pub fn api_error(&self) -> &ApiError {
        &self.0
    }

    /// The catalog error, by value.
    pub fn into_api_error(self) -> ApiError {
        self.0
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        error_response(self.0)
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> ApiError {
        r.0
    }
}

impl From<ApiError> for Rejection {
    fn from(err: ApiError) -> Rejection {
        Rejection(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_keep_their_code() {
        let err = Catalog::builtin_ref().error("conflict").unwrap();
        assert_eq!(HandlerError::from(err).api_error().code(), "conflict");
    }

    #[test]
    fn rejections_and_wrapped_api_errors_keep_their_code() {
        let rejection = Rejection(Catalog::builtin_ref().error("malformed_request").unwrap());
        assert_eq!(
            HandlerError::from(rejection).api_error().code(),
            "malformed_request"
        );
        #[derive(Debug)]
        struct Context(ApiError);
        impl fmt::Display for Context {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("while saving the scan")
            }
        }
        impl std::error::Error for Context {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let wrapped = Context(Catalog::builtin_ref().error("conflict").unwrap());
        assert_eq!(HandlerError::from(wrapped).api_error().code(), "conflict");
    }

    #[test]
    fn handler_errors_and_rejections_show_as_their_catalog_error() {
        let err = Catalog::builtin_ref().error("conflict").unwrap();
        let handler = HandlerError::from(err.clone());
        assert_eq!(handler.to_string(), err.to_string());
        assert_eq!(format!("{handler:?}"), format!("{err:?}"));
        let rejection = Rejection(err.clone());
        assert_eq!(rejection.to_string(), err.to_string());
        assert!(rejection.to_string().starts_with("conflict (409)"));
        let source = std::error::Error::source(&rejection).unwrap();
        assert_eq!(
            source.downcast_ref::<ApiError>().unwrap().code(),
            "conflict"
        );
    }

    #[test]
    fn inner_service_errors_from_tower_keep_their_meaning() {
        let code = |e: BoxError| classify_boxed(e).code().to_owned();
        assert_eq!(
            code(tower::timeout::error::Elapsed::new().into()),
            "timeout"
        );
        assert_eq!(
            code(tower::load_shed::error::Overloaded::new().into()),
            "service_unavailable"
        );
        let shed = classify_boxed(tower::load_shed::error::Overloaded::new().into());
        assert_eq!(shed.retry_after_delay(), Some(Duration::from_secs(1)));
        let api = Catalog::builtin_ref().error("not_found").unwrap();
        assert_eq!(code(api.into()), "not_found");
        assert_eq!(code("disk on fire".into()), "internal_error");
    }

    #[test]
    fn a_huge_key_in_axums_json_syntax_error_is_not_repeated_whole() {
        use axum::extract::FromRequest;
        type Map = std::collections::BTreeMap<String, u32>;
        let key = "k".repeat(1 << 20);
        let request = http::Request::post("/")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(r#"{{"{key}": tru"#)))
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let rejection = rt
            .block_on(axum::Json::<Map>::from_request(request, &()))
            .err()
            .unwrap();
        let err = HandlerError::from(rejection).into_api_error();
        assert_eq!(err.code(), "malformed_request");
        let reason = err.details()["reason"].as_str().unwrap();
        assert!(reason.len() <= 512, "{}", reason.len());
        assert!(reason.starts_with("kkk"), "{reason}");
        assert!(reason.contains("the body ends where a value"), "{reason}");
        assert!(err.message().len() <= 1024, "{}", err.message().len());
    }

    #[test]
    fn other_errors_are_internal_with_their_source() {
        let e = HandlerError::from(std::io::Error::other("disk on fire"));
        assert_eq!(e.api_error().code(), "internal_error");
        assert_eq!(
            e.api_error().source_error().unwrap().to_string(),
            "disk on fire"
        );
        assert!(!e.api_error().message().contains("disk"));
    }

    #[test]
    fn length_limits_are_payload_too_large() {
        #[derive(Debug)]
        struct Wrapper(http_body_util::LengthLimitError);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("read failed")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let limited =
            http_body_util::Limited::new(http_body_util::Full::new(bytes::Bytes::from("xx")), 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt
            .block_on(http_body_util::BodyExt::collect(limited))
            .unwrap_err();
        let inner = err.downcast::<http_body_util::LengthLimitError>().unwrap();
        let e = HandlerError::from(Wrapper(*inner));
        assert_eq!(e.api_error().code(), "payload_too_large");
    }
}
