//! The error a request ends with: what the last attempt got, why the client
//! stopped, and every attempt made.

use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};
use reqwest::Url;
use tollgate::Kind;

use crate::{Attempt, ErrorResponse};

/// A request that failed, with every attempt the client made.
///
/// The [`cause`](Error::cause) is what the last attempt got: an error response
/// decoded from any API ([`Cause::Status`]), no response at all
/// ([`Cause::Transport`]), or a success body that was not what was asked for
/// ([`Cause::Body`]). [`stop`](Error::stop) tells why the client did not try
/// again, and [`request_ids`](Error::request_ids) lists the server's request id
/// of every attempt, to quote to support.
///
/// ```
/// # use axum::{Router, routing::get, http::StatusCode};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/v1/rules/7", listener.local_addr()?);
/// # let app = Router::new().route("/v1/rules/7", get(|| async {
/// #     (StatusCode::NOT_FOUND, [("x-request-id", "req_7")], r#"{"detail":"Rule not found"}"#)
/// # }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// use tollgate_client::{Cause, RequestBuilderExt};
///
/// let client = tollgate_client::client();
/// let err = client.get(&url).send_api().await.unwrap_err();
/// assert_eq!(err.status(), Some(http::StatusCode::NOT_FOUND));
/// assert_eq!(err.kind(), Some(tollgate::Kind::NotFound));
/// assert_eq!(err.message(), Some("Rule not found"));
/// assert_eq!(err.request_ids(), ["req_7"]);
/// assert!(matches!(err.cause(), Cause::Status(_)));
/// assert_eq!(
///     err.to_string(),
///     format!("GET {url}: 404 Not Found: Rule not found (request id req_7)")
/// );
/// # Ok(())
/// # }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    method: Option<Method>,
    url: Option<Url>,
    idempotency_key: Option<String>,
    cause: Cause,
    attempts: Vec<Attempt>,
    stop: Option<StopReason>,
}

/// What the last attempt of a failed request got.
#[derive(Debug)]
#[non_exhaustive]
// Only ever stored inside `Error`'s box, so the size of a variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Cause {
    /// The server answered with an error status (4xx or 5xx); its body,
    /// whatever the API's dialect, decoded.
    Status(ErrorResponse),
    /// No response: the connection failed, timed out or was cut.
    Transport(reqwest::Error),
    /// No response before the client's overall deadline (a timeout of the
    /// reqwest client's that ends with the deadline included, as
    /// [`client_with`](crate::client_with)'s read timeout does), or a
    /// response whose body was not read whole by it (the last attempt then
    /// has a status).
    DeadlineElapsed(Duration),
    /// Another middleware in the chain failed.
    Middleware(Box<dyn std::error::Error + Send + Sync>),
    /// A success response whose body is not what was asked for.
    Body(BodyError),
}

/// Why the client did not send a failed request again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The outcome is one that sending again cannot fix (a 4xx other than
    /// 408, 425, 429, 409 `idempotency_key_in_use`, a 403 or 413 with `Retry-After`
    /// or a spent rate-limit quota and a 400 or 403 with a throttling code;
    /// a 501, 505, 506, 508, 510 or 511; a malformed request).
    NotRetryable,
    /// Retries are turned off ([`RetryPolicy::disabled`](crate::RetryPolicy::disabled)).
    Disabled,
    /// The method is not idempotent (POST, PATCH) and the request carries no
    /// `Idempotency-Key`: sending it twice could do its work twice.
    NotIdempotent(Method),
    /// The request body is a stream, which cannot be sent a second time.
    BodyNotCloneable,
    /// The server asked to wait longer than the policy's maximum.
    RetryAfterTooLong {
        /// What the server asked for.
        asked: Duration,
        /// The policy's maximum.
        max: Duration,
    },
    /// The policy's maximum number of attempts was reached.
    MaxAttempts(u32),
    /// The overall deadline came, or the next attempt would start after it.
    Deadline(Duration),
    /// The client's shared retry budget is spent: the server is failing
    /// often, and more retries would only add to its load.
    BudgetExhausted,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::NotRetryable => f.write_str("not retryable"),
            StopReason::Disabled => f.write_str("retries are disabled"),
            StopReason::NotIdempotent(method) => write!(
                f,
                "not retried: a {method} without an Idempotency-Key could be processed twice"
            ),
            StopReason::BodyNotCloneable => {
                f.write_str("not retried: the request body is a stream and cannot be sent again")
            }
            StopReason::RetryAfterTooLong { asked, max } => write!(
                f,
                "not retried: the server asked to wait {}, more than the {} allowed",
                secs(*asked),
                secs(*max)
            ),
            StopReason::MaxAttempts(n) => {
                write!(
                    f,
                    "gave up after {n} attempt{}",
                    if *n == 1 { "" } else { "s" }
                )
            }
            StopReason::Deadline(d) => {
                write!(
                    f,
                    "gave up: the next attempt would start after the {} deadline",
                    secs(*d)
                )
            }
            StopReason::BudgetExhausted => {
                f.write_str("gave up: the client's retry budget is spent")
            }
        }
    }
}

/// A delay in seconds: whole when it is, else to the millisecond; one of
/// hours or more also in hours, days or years, which a reader takes in at
/// a glance. A saturated one (`Retry-After: 1e400`) is past any clock.
fn secs(d: Duration) -> String {
    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;
    const YEAR: u64 = 365 * DAY;
    let whole = d.as_secs();
    let text = if d.subsec_nanos() == 0 {
        format!("{whole}s")
    } else {
        format!("{:.3}s", d.as_secs_f64())
    };
    match whole {
        u64::MAX => "forever (a wait past any clock)".to_owned(),
        _ if whole >= 2 * YEAR => format!("{text} (about {} years)", whole / YEAR),
        _ if whole >= 2 * DAY => format!("{text} (about {} days)", whole / DAY),
        _ if whole >= 2 * HOUR => format!("{text} (about {} hours)", whole / HOUR),
        _ => text,
    }
}

/// A success body that is not what was asked for.
#[derive(Debug)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is not valid JSON for the type asked for.
    Json(serde_json::Error),
    /// [`json_data`](crate::ResponseExt::json_data) was asked for, but the body
    /// is not an envelope (`{"data":…,"success":true,"message":"OK"}`).
    NotEnvelope,
    /// The body is longer than the decoder's
    /// [`max_success_body`](crate::ErrorDecoder::max_success_body), this
    /// many bytes; the rest of it was not read.
    TooLarge(usize),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Json(e) => write!(f, "invalid JSON body: {e}"),
            BodyError::NotEnvelope => f.write_str(
                r#"expected an envelope body {"data":…,"success":true}, got another shape"#,
            ),
            BodyError::TooLarge(limit) => {
                write!(f, "success body longer than its limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Json(e) => Some(e),
            BodyError::NotEnvelope | BodyError::TooLarge(_) => None,
        }
    }
}

impl Error {
    pub(crate) fn new(cause: Cause) -> Error {
        Error {
            inner: Box::new(Inner {
                method: None,
                url: None,
                idempotency_key: None,
                cause,
                attempts: Vec::new(),
                stop: None,
            }),
        }
    }

    pub(crate) fn request(mut self, method: Option<Method>, url: Option<Url>) -> Error {
        self.inner.method = method;
        self.inner.url = url;
        self
    }

    pub(crate) fn idempotency_key_sent(mut self, key: Option<String>) -> Error {
        self.inner.idempotency_key = key;
        self
    }

    /// The `Idempotency-Key` every attempt was sent with, yours or the one
    /// [`auto_idempotency`](crate::RetryPolicy::auto_idempotency) made. When
    /// the outcome is unknown (a timeout, the deadline), send the request
    /// again later with this key: a server that honours it will not do the
    /// work twice.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.inner.idempotency_key.as_deref()
    }

    pub(crate) fn attempts_made(
        mut self,
        attempts: Vec<Attempt>,
        stop: Option<StopReason>,
    ) -> Error {
        self.inner.attempts = attempts;
        self.inner.stop = stop;
        self
    }

    /// What the last attempt got.
    pub fn cause(&self) -> &Cause {
        &self.inner.cause
    }

    /// The decoded error response, when the server answered with an error
    /// status.
    pub fn response(&self) -> Option<&ErrorResponse> {
        match &self.inner.cause {
            Cause::Status(response) => Some(response),
            _ => None,
        }
    }

    /// Why the client did not try again (`None` when the error did not come
    /// through the retrying middleware).
    pub fn stop(&self) -> Option<&StopReason> {
        self.inner.stop.as_ref()
    }

    /// Every attempt, in order (one for a request that was not retried).
    pub fn attempts(&self) -> &[Attempt] {
        &self.inner.attempts
    }

    /// The request id of every attempt that has one, in order.
    pub fn request_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .inner
            .attempts
            .iter()
            .filter_map(Attempt::request_id)
            .collect();
        if ids.is_empty() {
            ids.extend(self.response().and_then(ErrorResponse::request_id));
        }
        ids
    }

    /// The HTTP status of the last attempt's response.
    pub fn status(&self) -> Option<StatusCode> {
        self.response().map(ErrorResponse::status)
    }

    /// The API's own error code of the last response, verbatim
    /// (`RATE_LIMIT_ERROR`, `invalid_key`).
    pub fn code(&self) -> Option<&str> {
        self.response().and_then(ErrorResponse::code)
    }

    /// The canonical category: the response's, [`Kind::Timeout`] for a timeout
    /// or an elapsed deadline, [`Kind::Unavailable`] for other transport errors.
    pub fn kind(&self) -> Option<Kind> {
        match &self.inner.cause {
            Cause::Status(response) => Some(response.kind()),
            Cause::Transport(e) if e.is_timeout() => Some(Kind::Timeout),
            Cause::Transport(_) => Some(Kind::Unavailable),
            Cause::DeadlineElapsed(_) => Some(Kind::Timeout),
            Cause::Middleware(_) | Cause::Body(_) => None,
        }
    }

    /// The human-readable message of the last response.
    pub fn message(&self) -> Option<&str> {
        self.response().and_then(ErrorResponse::message)
    }

    /// The last response's request id.
    pub fn request_id(&self) -> Option<&str> {
        self.response().and_then(ErrorResponse::request_id)
    }

    /// How long the last response asked the client to wait before trying
    /// again ([`ErrorResponse::retry_after`]: its `Retry-After`, else its
    /// body's hints).
    pub fn retry_after(&self) -> Option<Duration> {
        self.response().and_then(ErrorResponse::retry_after)
    }

    /// The transport error, when no response came back.
    pub fn transport(&self) -> Option<&reqwest::Error> {
        match &self.inner.cause {
            Cause::Transport(e) => Some(e),
            _ => None,
        }
    }

    /// The request's method, when known.
    pub fn method(&self) -> Option<&Method> {
        self.inner.method.as_ref()
    }

    /// The request's URL, when known, whole. The error's text and `Debug`
    /// show it without its query, user name and password, which may hold
    /// credentials.
    pub fn url(&self) -> Option<&Url> {
        self.inner.url.as_ref()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("method", &self.inner.method)
            .field(
                "url",
                &self.inner.url.as_ref().map(|u| shown(u).to_string()),
            )
            .field("idempotency_key", &self.inner.idempotency_key)
            .field("cause", &self.inner.cause)
            .field("stop", &self.inner.stop)
            .field("attempts", &self.inner.attempts)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.inner.method, &self.inner.url) {
            (Some(method), Some(url)) => write!(f, "{method} {}: ", shown(url))?,
            (None, Some(url)) => write!(f, "{}: ", shown(url))?,
            _ => {}
        }
        match &self.inner.cause {
            Cause::Status(response) => {
                let status = response.status();
                let line = match status.canonical_reason() {
                    Some(reason) => format!("{} {reason}", status.as_u16()),
                    None => status.as_u16().to_string(),
                };
                f.write_str(&line)?;
                let code = response.code().filter(|c| Some(*c) != response.message());
                if let Some(code) = code {
                    write!(f, " {}", Escaped(code))?;
                }
                // An HTML page's title is often the status line again.
                let message = response.message().filter(|message| {
                    let message = message.trim();
                    !message.eq_ignore_ascii_case(&line)
                        && status
                            .canonical_reason()
                            .is_none_or(|reason| !message.eq_ignore_ascii_case(reason))
                });
                if let Some(message) = message {
                    write!(f, ": {}", Escaped(message))?;
                }
            }
            Cause::Transport(e) => f.write_str(&transport_reason(e))?,
            // A head came but its body did not (`json_data` reading past it).
            Cause::DeadlineElapsed(d) => match self.inner.attempts.last().and_then(|a| a.status) {
                Some(status) => write!(
                    f,
                    "the {status} response's body was not read within the {} deadline",
                    secs(*d)
                )?,
                None => write!(f, "no response within the {} deadline", secs(*d))?,
            },
            Cause::Middleware(e) => write!(f, "{e}")?,
            Cause::Body(e) => write!(f, "{e}")?,
        }
        match &self.inner.stop {
            Some(StopReason::NotRetryable | StopReason::Disabled) | None => {}
            // The cause already says the deadline ended it.
            Some(StopReason::Deadline(_))
                if matches!(self.inner.cause, Cause::DeadlineElapsed(_)) => {}
            Some(stop) => write!(f, "; {stop}")?,
        }
        let mut notes = Vec::new();
        let attempts = self.inner.attempts.len();
        if attempts > 1 && !matches!(self.inner.stop, Some(StopReason::MaxAttempts(_))) {
            notes.push(format!("{attempts} attempts"));
        }
        match self.request_ids().as_slice() {
            [] => {}
            [one] => notes.push(format!("request id {}", Escaped(one))),
            many => notes.push(format!("request ids {}", Escaped(&many.join(", ")))),
        }
        if notes.is_empty() {
            Ok(())
        } else {
            write!(f, " ({})", notes.join(", "))
        }
    }
}

/// The server's text with its control characters escaped: a message with a
/// line break or a terminal escape sequence would otherwise forge log lines.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner.cause {
            Cause::Transport(e) => Some(e),
            Cause::Middleware(e) => Some(&**e),
            Cause::Body(e) => Some(e),
            Cause::Status(_) | Cause::DeadlineElapsed(_) => None,
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Error {
        let url = e.url().cloned();
        Error::new(Cause::Transport(without_credentials(e))).request(None, url)
    }
}

/// `url` without its query and user name and password, which may hold
/// credentials (a key sent as a user name, as Stripe's basic auth takes it): the
/// form in which URLs go into messages and logs. (Unlike the connection URLs
/// `tollgate::redact_url` shows, a request's query may carry a credential
/// under any name, so all of it goes.)
pub(crate) fn shown(url: &Url) -> Url {
    let mut shown = url.clone();
    shown.set_query(None);
    // Fails only for URLs that cannot have a user name or a password.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown
}

/// A transport error whose text, and that of anything that reports it, shows
/// its URL as [`shown`] does.
pub(crate) fn without_credentials(mut e: reqwest::Error) -> reqwest::Error {
    if let Some(url) = e.url_mut() {
        *url = shown(url);
    }
    e
}

/// A transport error's text without its URL (the error's own text names
/// the request already), then each of its causes: what tells a refused
/// connection, a timeout and a reset apart
/// (`error sending request: client error (Connect): tcp connect error:
/// Connection refused (os error 111)`).
pub(crate) fn transport_reason(e: &reqwest::Error) -> String {
    let text = e.to_string();
    let mut reason = match e.url() {
        Some(url) => text
            .strip_suffix(&format!(" for url ({url})"))
            .map_or_else(|| text.clone(), str::to_owned),
        None => text,
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

/// Unwraps the [`Error`] that [`TollgateMiddleware`](crate::TollgateMiddleware)
/// returns through reqwest-middleware; wraps any other middleware error.
impl From<reqwest_middleware::Error> for Error {
    fn from(e: reqwest_middleware::Error) -> Error {
        match e {
            reqwest_middleware::Error::Reqwest(e) => Error::from(e),
            reqwest_middleware::Error::Middleware(e) => {
                let e = match e.downcast::<Error>() {
                    Ok(ours) => return ours,
                    Err(other) => other,
                };
                // reqwest-retry's middleware, outside this one, wraps every
                // error it passes on, retried or not.
                #[cfg(feature = "reqwest-retry")]
                let e = match e.downcast::<reqwest_retry::RetryError>() {
                    Ok(
                        reqwest_retry::RetryError::Error(inner)
                        | reqwest_retry::RetryError::WithRetries { err: inner, .. },
                    ) => return Error::from(inner),
                    Err(other) => other,
                };
                Error::new(Cause::Middleware(e.into()))
            }
        }
    }
}

impl From<BodyError> for Error {
    fn from(e: BodyError) -> Error {
        Error::new(Cause::Body(e))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// A body that is not valid JSON keeps serde's error as its cause, so a
    /// caller walking the chain finds the line and column.
    #[test]
    fn a_json_body_error_has_the_parse_error_as_its_source() {
        let parse = serde_json::from_str::<u32>("{").unwrap_err();
        let text = parse.to_string();
        let body = BodyError::Json(parse);
        let source = body.source().expect("the parse error");
        assert_eq!(source.to_string(), text);
        assert!(source.is::<serde_json::Error>());
        assert!(BodyError::NotEnvelope.source().is_none());

        let error = Error::from(body);
        let cause = error.source().expect("the body error");
        assert!(cause.is::<BodyError>());
        assert_eq!(cause.source().map(ToString::to_string), Some(text));
    }

    /// A reqwest error of a request to a server that never answers, cut by
    /// the client's own timeout, and the URL it was sent to.
    async fn timed_out() -> (reqwest::Error, Url) {
        // Connections complete in the backlog; nothing is ever read or sent.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!(
            "http://{}/v1/scans",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let error = client.get(url.clone()).send().await.unwrap_err();
        drop(listener);
        (error, url)
    }

    #[tokio::test]
    async fn a_reqwest_timeout_is_of_kind_timeout() {
        let (error, _) = timed_out().await;
        assert!(error.is_timeout(), "{error:?}");
        let error = Error::from(error);
        assert_eq!(error.kind(), Some(Kind::Timeout));
        assert!(error.transport().is_some());
    }

    /// Converted from reqwest, an error knows its URL but not its method:
    /// the text starts with the URL alone, and no method is made up.
    #[tokio::test]
    async fn an_error_from_reqwest_names_its_url_without_a_method() {
        let (error, url) = timed_out().await;
        let error = Error::from(error);
        assert_eq!(error.method(), None);
        assert_eq!(error.url(), Some(&url));
        let text = error.to_string();
        assert!(text.starts_with(&format!("{url}: ")), "{text}");
    }
}
