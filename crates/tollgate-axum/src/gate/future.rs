//! [`ResponseFuture`]: runs the inner service under the request's span, its
//! deadline and a panic guard, then finishes the response.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt as _;
use http::Response;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::uri::PathAndQuery;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tollgate::layer_fields::LayerFields;
use tollgate::{ApiError, Dialect};
use tracing::Span;

use super::layer::Shared;
use crate::current::{self, Decision, IdSlot};
use crate::rejection::{self, builtin};
use crate::{BoxError, render};

/// Plain-text error bodies longer than this are not read for their meaning.
const MAX_TEXT: usize = 4096;
/// How long that text is waited for with no timeout set: a body that stalls
/// (an upstream's, proxied) must not hold back the status for ever.
const TEXT_WAIT: Duration = Duration::from_secs(1);
/// A deadline too far to reach: a timeout too long for the clock.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

type BoxFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// What the response needs from the request.
pub(crate) struct Finish {
    pub(crate) shared: Arc<Shared>,
    /// The request id: swapped into the thread's current slot while the
    /// inner service runs (see `current`), here otherwise.
    pub(crate) request_id: IdSlot,
    pub(crate) dialect: Dialect,
    /// Whether success bodies wear the envelope.
    pub(crate) envelope_replies: bool,
    /// The request's path, kept only for the `problem` dialect's `instance`.
    pub(crate) instance: Option<PathAndQuery>,
    /// Whether the request is a `HEAD`, whose errors have no body.
    pub(crate) head: bool,
    /// Whether the request's `Content-Type` is `multipart/form-data` (see
    /// [`rejection::recognise`]).
    pub(crate) multipart_form: bool,
    /// The count of a body of unknown length against a limit: this layer's,
    /// or one outside's (see [`OverLimit`]).
    pub(crate) over_limit: Option<OverLimit>,
    /// What the layers inside add to a response on its way out (a rate
    /// limiter's `RateLimit` fields), for an answer made here in place of
    /// one that never came through them: a panic's, a timeout's.
    pub(crate) layer_fields: LayerFields,
}

/// A request body of unknown length (or a compressed one) counted against a
/// Tollgate layer's limit, and whether the count passed it. Kept in the
/// request's extensions, so that a layer inside (on a sub-router) answers
/// for it too, and [`Decompression`](crate::Decompression) counts the
/// decoded bytes against the same limit.
/// What the handler made of the error is not to be trusted for the answer:
/// axum's `Multipart` reads it as a 500 ("failed to read stream") once it
/// is wrapped twice, and a handler may map it to anything.
#[derive(Clone)]
pub(crate) struct OverLimit {
    limit: usize,
    passed: Arc<std::sync::atomic::AtomicBool>,
}

impl OverLimit {
    /// A count against `limit`, not passed yet.
    pub(crate) fn new(limit: usize) -> OverLimit {
        OverLimit {
            limit,
            passed: Arc::default(),
        }
    }

    /// `body`, failing with a length limit error once it passes the limit,
    /// which is noted here.
    pub(crate) fn count(&self, body: Body) -> Body {
        let over_limit = self.clone();
        let counted = http_body_util::Limited::new(body, self.limit).map_err(move |e| {
            over_limit.note(&e);
            e
        });
        Body::new(counted)
    }

    /// Notes that the count passed the limit when `error` says so.
    fn note(&self, error: &BoxError) {
        if error.is::<http_body_util::LengthLimitError>() {
            self.passed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn passed(&self) -> bool {
        self.passed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Finish {
    /// What code under the layer reads about the request.
    #[inline]
    pub(crate) fn decision(&self) -> Decision {
        Decision {
            dialect: self.dialect,
            envelope_replies: self.envelope_replies,
            reply_vary: self.shared.reply_vary,
            multipart_form: self.multipart_form,
        }
    }

    /// `err` over the response `parts`: adopted by the layer's catalog,
    /// given the wait the response's `Retry-After` asked for, logged (with
    /// the status the client gets), rendered in the request's dialect with
    /// its id. An entry whose message names details the error lacks (an
    /// app's, over an error the layer made) says its title.
    fn respond(&self, err: ApiError, mut parts: http::response::Parts) -> Response<Body> {
        let err = rejection::name_limit(err, self.body_limit());
        let err = rejection::with_message_filled(render::adopt(&self.shared.config.catalog, err));
        let err = self.with_asked_wait(err, &mut parts.headers);
        render::log(&err, Some(self.request_id.get().as_str()));
        let mut ctx = tollgate::Context::new((self.shared.config.clock)())
            .request_id(self.request_id.get().as_str());
        if let Some(uri) = &self.instance {
            ctx = ctx.instance(uri.path());
        }
        let mut response =
            render::render(&self.shared.config.catalog, self.dialect, err, &ctx, parts);
        if let Some(vary) = self.shared.error_vary {
            render::add_vary(response.headers_mut(), vary);
        }
        if self.head {
            // Around the whole router the layer sees a `HEAD` after axum
            // emptied its body. As axum answers one, the body is left off
            // and `Content-Length` gives the length a `GET` would get
            // (`finish` drops it when that length is unknown).
            let len = http_body::Body::size_hint(response.body()).lower();
            response.headers_mut().insert(CONTENT_LENGTH, len.into());
            *response.body_mut() = Body::empty();
        }
        response
    }

    /// `err` with the wait the response's `Retry-After` lines ask for, when
    /// it tells none of its own: the longest of those that read as a wait
    /// (as the decoder reads several lines). The lines go, whether they read
    /// as one or not: the renderer writes the error's wait (in seconds), or
    /// none, so that the header and the body tell the same.
    fn with_asked_wait(&self, err: ApiError, headers: &mut http::HeaderMap) -> ApiError {
        if !headers.contains_key(RETRY_AFTER) {
            return err;
        }
        let now = (self.shared.config.clock)();
        let asked = headers
            .get_all(RETRY_AFTER)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| tollgate::parse_retry_after(value, now))
            .max();
        headers.remove(RETRY_AFTER);
        match asked {
            Some(delay) if err.retry_after_delay().is_none() => err.retry_after(delay),
            _ => err,
        }
    }

    /// `err` as a whole new response, with the fields the layers inside
    /// left for it.
    pub(crate) fn error(&mut self, err: ApiError) -> Response<Body> {
        let mut response = self.respond(err, Response::new(()).into_parts().0);
        self.layer_fields.apply(response.headers_mut());
        response
    }

    /// `internal_error` for a panic; the panic's text is kept as the source
    /// (logged, never rendered).
    pub(crate) fn panicked(&self, payload: Box<dyn Any + Send>) -> ApiError {
        let text = panic_text(payload);
        builtin("internal_error").with_source(format!("handler panicked: {text}"))
    }

    /// The layer's timeout, when there is one and a Tokio runtime to time it
    /// (outside one there is no deadline).
    fn timer(&self) -> Option<std::time::Duration> {
        self.shared
            .config
            .timeout
            .filter(|_| tokio::runtime::Handle::try_current().is_ok())
    }

    /// Whether the inner service's response leaves as it is (with the
    /// request id, unless it is an error a layer inside rendered with its
    /// own): a success or redirect that carries no `ApiError`, or what a
    /// Tollgate layer inside already rendered (unless it is an error other
    /// than 413 for a body this layer found too large).
    fn passes<B>(&self, response: &Response<B>) -> bool {
        let extensions = response.extensions();
        let status = response.status().as_u16();
        (status < 400 && extensions.get::<ApiError>().is_none())
            || (extensions.get::<crate::render::Rendered>().is_some()
                && !self.answers_too_large(status))
    }

    /// The body limit a 413 names: this layer's, else the one a layer
    /// outside counted the body against.
    fn body_limit(&self) -> Option<usize> {
        self.shared
            .config
            .body_limit
            .or(self.over_limit.as_ref().map(|over| over.limit))
    }

    /// Whether an error response of `status` is answered 413 instead: the
    /// request's body passed the limit while the handler read it.
    fn answers_too_large(&self, status: u16) -> bool {
        status >= 400 && status != 413 && self.over_limit.as_ref().is_some_and(OverLimit::passed)
    }

    /// The inner service's response, finished: an `ApiError` in its
    /// extensions is rendered; an unmarked error is read for its meaning
    /// (until `deadline`, when one is armed); a success gets the request id.
    fn finish<B>(
        mut self,
        response: Response<B>,
        deadline: Option<Instant>,
    ) -> Result<Response<Body>, BoxFuture>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = response.into_parts();
        let status = parts.status.as_u16();
        let err = parts.extensions.remove::<ApiError>();
        if self.answers_too_large(status) {
            // The wait the replaced error asked for is not this one's.
            parts.headers.remove(RETRY_AFTER);
            let err = rejection::payload_too_large(self.body_limit());
            return Ok(self.respond(err, parts));
        }
        if let Some(err) = err {
            return Ok(self.respond(err, parts));
        }
        let limit = self.body_limit();
        // A status with a meaning of its own, or (402, an app's 410) only
        // one the catalog gives its entries: read then only from a JSON
        // body that names such an entry, and passed through otherwise.
        let by_status = rejection::recognise(status, "", None, false).is_some();
        let config = &self.shared.config;
        if status >= 400
            && config.rewrite_unmarked
            && (by_status || config.catalog.iter().any(|d| d.status() == status))
        {
            // Text or JSON as sent: a compressed body (a proxied gzip
            // error) is not read, whatever its type.
            let content_type = parts.headers.get(CONTENT_TYPE);
            let plain = content_type.is_none_or(|ct| {
                let plain = b"text/plain";
                ct.as_bytes()
                    .get(..plain.len())
                    .is_some_and(|t| t.eq_ignore_ascii_case(plain))
            });
            let json = content_type
                .and_then(|ct| ct.to_str().ok())
                .is_some_and(tollgate::headers::is_json_media);
            let identity = parts
                .headers
                .get_all(CONTENT_ENCODING)
                .iter()
                .all(|ce| ce.as_bytes().trim_ascii().eq_ignore_ascii_case(b"identity"));
            let size = http_body::Body::size_hint(&body);
            let readable = (plain && by_status || json)
                && identity
                && size.exact() != Some(0)
                && size.upper().is_some_and(|u| u <= MAX_TEXT as u64);
            if !readable {
                // A `HEAD` whose body axum left off (the layer around the
                // whole router): the text a `GET` gets read, for the
                // message (`recognise`) or as JSON, is unseen, and so is
                // the length of the error it makes. None is told rather
                // than a wrong one (RFC 9110, 9.3.2).
                let unseen = self.head
                    && size.exact() == Some(0)
                    && parts
                        .headers
                        .get(CONTENT_LENGTH)
                        .is_some_and(|len| len.as_bytes() != b"0")
                    && (json || plain && rejection::reads_text(status));
                return Ok(match rejection::recognise(status, "", limit, false) {
                    Some(err) => {
                        let mut response = self.error_over(err, parts);
                        if unseen {
                            response.headers_mut().remove(CONTENT_LENGTH);
                        }
                        response
                    }
                    None => self.untouched(parts, Body::new(body)),
                });
            }
            // The read is a wait like any other: it ends at the deadline,
            // counted from here when the service never waited (or after
            // `TEXT_WAIT` with no deadline set). Past it the status alone
            // answers, not `timeout`: that means no response came, and this
            // one came in time; only its text was late.
            let in_runtime = tokio::runtime::Handle::try_current().is_ok();
            let deadline = deadline.or_else(|| {
                let wait = self.timer().unwrap_or(TEXT_WAIT);
                // As `tokio::time::sleep` does with a wait past its clock's range.
                let now = Instant::now();
                in_runtime.then(|| now.checked_add(wait).unwrap_or(now + FAR_FUTURE))
            });
            return Err(Box::pin(async move {
                // Read frame by frame, the body kept here: what is not read
                // in time (or past `MAX_TEXT`) is still the response's when
                // it passes on.
                let mut body = Body::new(body);
                let mut read = BytesMut::new();
                // The frame that ended the read (trailers, an error), passed on
                // after the bytes read.
                let mut ended = None;
                // Whether the body was read to its end.
                let whole = async {
                    while let Some(frame) = body.frame().await {
                        match frame.map(http_body::Frame::into_data) {
                            Ok(Ok(data)) => read.extend_from_slice(&data),
                            Ok(Err(trailers)) => {
                                ended = Some(Ok(trailers));
                                return true;
                            }
                            Err(e) => {
                                ended = Some(Err(e));
                                return false;
                            }
                        }
                        if read.len() > MAX_TEXT {
                            return false;
                        }
                    }
                    true
                };
                // The body is the handler's code too: a panic in it is the
                // handler's panic.
                let whole = AssertUnwindSafe(whole).catch_unwind();
                let whole = match deadline {
                    Some(at) => tokio::time::timeout_at(at, whole)
                        .await
                        .unwrap_or(Ok(false)),
                    // No runtime, so no timer: as long as it takes.
                    None => whole.await,
                };
                let whole = match whole {
                    Ok(whole) => whole,
                    Err(panic) => {
                        let err = self.panicked(panic);
                        return self.error(err);
                    }
                };
                // A body not read whole has no text: the status alone speaks.
                let read = read.freeze();
                let text = if whole { &read[..] } else { &[] };
                let err = if json {
                    self.read_json(status, &parts.headers, text)
                } else {
                    rejection::recognise(
                        status,
                        &String::from_utf8_lossy(text),
                        limit,
                        self.multipart_form,
                    )
                };
                if let Some(err) = err {
                    return self.error_over(err, parts);
                }
                let body = match ended {
                    None if whole => Body::from(read),
                    None => Body::new(Resumed { read, rest: body }),
                    Some(frame) => {
                        let rest = futures_util::stream::iter([frame]);
                        let rest = Body::new(http_body_util::StreamBody::new(rest));
                        Body::new(Resumed { read, rest })
                    }
                };
                self.untouched(parts, body)
            }));
        }
        Ok(self.untouched(parts, Body::new(body)))
    }

    /// The response as the inner service made it, with the request id.
    fn untouched(&mut self, mut parts: http::response::Parts, body: Body) -> Response<Body> {
        // The id moves into the header: no copy, no reference count.
        let id = self.request_id.take().into_header_value();
        self.stamp(&mut parts.headers, id);
        Response::from_parts(parts, body)
    }

    /// Gives a response the request id: `X-Request-Id`, and in `stripe`
    /// also `Request-Id`, as Stripe sends on every response.
    fn stamp(&self, headers: &mut http::HeaderMap, id: http::HeaderValue) {
        if self.dialect == Dialect::Stripe {
            headers
                .entry(tollgate::headers::REQUEST_ID)
                .or_insert_with(|| id.clone());
        }
        headers.insert(tollgate::headers::X_REQUEST_ID, id);
    }

    /// A JSON error body no layer rendered (a handler's own format, an
    /// upstream's), read by the catalog's decoder: the entry its code names
    /// when the status agrees (with the details that entry documents), else
    /// what the status means (`None` when it means nothing by itself); its
    /// message is told as a text body's would be, its field violations kept,
    /// and the wait it asked for (in `Retry-After` or the body) kept. A
    /// server error's message, violations and details go to the log only.
    fn read_json(&self, status: u16, headers: &http::HeaderMap, body: &[u8]) -> Option<ApiError> {
        let catalog = &self.shared.config.catalog;
        let decoded = catalog.decode(status, headers, body, (self.shared.config.clock)());
        let mut message = decoded
            .message
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let known = decoded
            .catalog_code
            .as_deref()
            .and_then(|code| catalog.error(code).ok());
        // A server error's body is for the log only: its violations (and
        // its details, below) join its message there.
        let server_error = status >= 500;
        if server_error {
            for v in &decoded.violations {
                logged(&mut message, format_args!("{}: {}", v.field, v.message));
            }
        }
        // A handler's own flat body puts its details beside its code
        // (`{"code":…,"required":9}`), where no dialect does: its documented
        // keys are looked for there too, the body read once more only then.
        let mut flat: Option<Option<serde_json::Value>> = None;
        let mut err = match known {
            Some(mut err) => {
                let def = Arc::clone(err.def());
                for key in def.detail_keys() {
                    let beside = |flat: &mut Option<Option<serde_json::Value>>| {
                        let json = flat.get_or_insert_with(|| serde_json::from_slice(body).ok());
                        let json = json.as_ref()?;
                        let holder = json.get("error").filter(|e| e.is_object()).unwrap_or(json);
                        holder.get(key.as_str()).cloned()
                    };
                    let value = match decoded.details.get(key) {
                        Some(value) => Some(value.clone()),
                        None => beside(&mut flat),
                    };
                    if let Some(value) = value {
                        if server_error {
                            logged(&mut message, format_args!("{key}: {value}"));
                        } else {
                            err = err.with(key.as_str(), value);
                        }
                    }
                }
                match (message.is_empty(), server_error) {
                    (true, _) => err,
                    (false, true) => err.with_source(message),
                    (false, false) => err.with_message(message),
                }
            }
            None => rejection::recognise(status, &message, self.body_limit(), self.multipart_form)?,
        };
        if !server_error {
            for violation in decoded.violations {
                err = err.violation(violation);
            }
        }
        if let Some(delay) = decoded.retry_after {
            err = err.retry_after(delay);
        }
        Some(err)
    }

    /// `err`, read from an unmarked error response, over it (with the wait
    /// it asked for in `Retry-After`, as [`respond`](Self::respond) gives
    /// every error).
    fn error_over(&self, err: ApiError, parts: http::response::Parts) -> Response<Body> {
        // Read as the app's catalog words it.
        let mut err =
            rejection::with_message_filled(render::adopt(&self.shared.config.catalog, err));
        // A 415 listing the codings it decodes refused the body's
        // `Content-Encoding` (a request decompression layer's), not its type.
        if parts.status == http::StatusCode::UNSUPPORTED_MEDIA_TYPE
            && let Some(decoded) = parts.headers.get(http::header::ACCEPT_ENCODING)
        {
            let decoded = decoded.to_str().ok().filter(|text| !text.trim().is_empty());
            err = rejection::unsupported_encoding(None, decoded);
        }
        self.respond(err, parts)
    }
}

/// A panic's text, its payload dropped. A payload may panic as it drops
/// (`panic_any` of a guard): that is the handler's panic too, and must not
/// escape with no answer.
fn panic_text(payload: Box<dyn Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
    text
}

/// Adds `line` to a server error's text for the log.
fn logged(text: &mut String, line: fmt::Arguments<'_>) {
    if !text.is_empty() {
        text.push_str("; ");
    }
    let _ = fmt::Write::write_fmt(text, line);
}

/// An error body passed on after the layer read part of it for its meaning:
/// the bytes read, then the rest. http-body-util has no body that chains
/// two, and this one keeps the length the rest still announces.
struct Resumed {
    read: Bytes,
    rest: Body,
}

impl http_body::Body for Resumed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if !self.read.is_empty() {
            let read = std::mem::take(&mut self.read);
            return Poll::Ready(Some(Ok(http_body::Frame::data(read))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let (read, rest) = (self.read.len() as u64, self.rest.size_hint());
        let mut hint = http_body::SizeHint::new();
        if let Some(upper) = rest.upper().and_then(|u| u.checked_add(read)) {
            hint.set_upper(upper);
        }
        hint.set_lower(rest.lower().saturating_add(read));
        hint
    }
}

/// A success's body of unknown length (an event stream, a download), sent
/// after the layer answered: polled in the request's span, and an error or
/// a panic in it, which ends the connection with the message unfinished
/// (the status is gone), logged with the request id. A body of known length
/// passes unwrapped, and so does one a layer inside watches already.
struct Streamed {
    body: Body,
    request_id: http::HeaderValue,
    span: Span,
}

/// In a response's extensions: its body is watched already, by a Tollgate
/// layer inside (a sub-router's own), so that the failure is logged once.
#[derive(Clone, Copy)]
struct Watched;

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let polled = catch_unwind(AssertUnwindSafe(|| Pin::new(&mut this.body).poll_frame(cx)));
        let request_id = this.request_id.to_str().unwrap_or_default();
        match polled {
            Ok(Poll::Ready(Some(Err(e)))) => {
                tracing::error!(request_id, error = %e, "response body failed after its head was sent");
                Poll::Ready(Some(Err(e)))
            }
            Ok(polled) => polled,
            Err(panic) => {
                let error = panic_text(panic);
                tracing::error!(request_id, %error, "response body panicked after its head was sent");
                let e = axum::Error::new(format!("response body panicked: {error}"));
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

pin_project! {
    /// The response future of [`TollgateService`](super::TollgateService).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        span: Span,
    }
}

pin_project! {
    // Only `Running` holds anything large (the inner future); the rare states
    // are a pointer each, so the happy path moves no more than it needs.
    #[project = StateProj]
    enum State<F> {
        Running {
            #[pin]
            future: F,
            finish: Option<Finish>,
            // Armed at the first `Pending` only, and boxed: a handler that
            // answers at once never touches the timer nor pays for its size.
            deadline: Option<Pin<Box<Sleep>>>,
        },
        // An unmarked error response whose text is being read for its meaning
        // (under the deadline, which the read carries).
        Reading {
            future: BoxFuture,
        },
        // A response decided without the inner service.
        Ready {
            response: Option<Box<Response<Body>>>,
        },
        Done,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn new(future: F, finish: Finish, span: Span) -> ResponseFuture<F> {
        ResponseFuture {
            state: State::Running {
                future,
                finish: Some(finish),
                deadline: None,
            },
            span,
        }
    }

    /// A response decided without the inner service (logged now, in the
    /// request's span).
    pub(crate) fn error(mut finish: Finish, err: ApiError, span: Span) -> ResponseFuture<F> {
        let response = span.in_scope(|| finish.error(err));
        ResponseFuture {
            state: State::Ready {
                response: Some(Box::new(response)),
            },
            span,
        }
    }
}

/// What answers a future polled again after it completed.
fn polled_after_completion() -> Response<Body> {
    Response::new(Body::empty())
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, std::convert::Infallible>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let response = match this.state.as_mut().project() {
            StateProj::Running {
                future,
                finish,
                deadline,
            } => {
                let Some(f) = finish.as_mut() else {
                    return Poll::Ready(Ok(polled_after_completion()));
                };
                let polled = {
                    let decision = f.decision();
                    let _current = current::enter(&mut f.request_id, decision);
                    let poll = || catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
                    f.layer_fields.collect(poll)
                };
                match polled {
                    Ok(Poll::Ready(Ok(mut response))) if f.passes(&response) => {
                        // The happy path: the id moves into the header (no
                        // copy, no reference count) and the response leaves.
                        let id = f.request_id.take().into_header_value();
                        let rendered_inside = response.status().as_u16() >= 400;
                        // A success streamed after its head (see `Streamed`);
                        // one of known length leaves as it is.
                        let streamed = !rendered_inside
                            && http_body::Body::size_hint(response.body())
                                .exact()
                                .is_none()
                            && response.extensions_mut().insert(Watched).is_none();
                        let stream_id = streamed.then(|| id.clone());
                        let headers = response.headers_mut();
                        if rendered_inside {
                            // An error that passes was rendered by a layer
                            // inside, with the id its body states: that
                            // layer's own when it ran where this one's is
                            // not current (behind a channel such as `Buffer`).
                            headers.entry(tollgate::headers::X_REQUEST_ID).or_insert(id);
                        } else {
                            f.stamp(headers, id);
                        }
                        this.state.set(State::Done);
                        if let Some(request_id) = stream_id {
                            let span = this.span.clone();
                            return Poll::Ready(Ok(response.map(|body| {
                                let body = Body::new(body);
                                Body::new(Streamed {
                                    body,
                                    request_id,
                                    span,
                                })
                            })));
                        }
                        return Poll::Ready(Ok(response.map(Body::new)));
                    }
                    Ok(Poll::Ready(Ok(response))) => {
                        let armed = deadline.as_ref().map(|d| d.deadline());
                        match finish.take().map(|f| f.finish(response, armed)) {
                            None => polled_after_completion(),
                            Some(Ok(response)) => response,
                            Some(Err(reading)) => {
                                this.state.set(State::Reading { future: reading });
                                return poll_reading(this.state, cx);
                            }
                        }
                    }
                    Ok(Poll::Ready(Err(e))) => f.error(crate::error::classify_boxed(e.into())),
                    Err(panic) => {
                        let err = f.panicked(panic);
                        f.error(err)
                    }
                    Ok(Poll::Pending) => {
                        if deadline.is_none() {
                            // The deadline runs from the first time the service waits
                            // (the work before it cannot be interrupted anyway).
                            *deadline = f.timer().map(|t| Box::pin(tokio::time::sleep(t)));
                        }
                        let expired = deadline
                            .as_mut()
                            .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                        if !expired {
                            return Poll::Pending;
                        }
                        let after = f.shared.config.timeout.unwrap_or_default();
                        let source = format!("no response within {after:?}");
                        let response = f.error(builtin("timeout").with_source(source));
                        let request_id = f.request_id.get().clone();
                        // The service, cut off, is dropped: what it held
                        // runs its destructors (the handler's code), and a
                        // panic there is logged; the answer stands.
                        let ended = catch_unwind(AssertUnwindSafe(|| this.state.set(State::Done)));
                        if let Err(panic) = ended {
                            let error = panic_text(panic);
                            let request_id = request_id.as_str();
                            tracing::error!(
                                request_id,
                                %error,
                                "handler panicked as the deadline dropped it"
                            );
                        }
                        return Poll::Ready(Ok(response));
                    }
                }
            }
            StateProj::Reading { .. } => return poll_reading(this.state, cx),
            StateProj::Ready { response } => {
                response.take().map_or_else(polled_after_completion, |r| *r)
            }
            StateProj::Done => polled_after_completion(),
        };
        this.state.set(State::Done);
        Poll::Ready(Ok(response))
    }
}

/// Polls the `Reading` state to its response.
fn poll_reading<F>(
    mut state: Pin<&mut State<F>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Response<Body>, std::convert::Infallible>> {
    let StateProj::Reading { future } = state.as_mut().project() else {
        return Poll::Ready(Ok(polled_after_completion()));
    };
    let response = ready!(future.as_mut().poll(cx));
    state.set(State::Done);
    Poll::Ready(Ok(response))
}
