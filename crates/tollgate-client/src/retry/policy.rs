//! When to send a failed request again, and how long to wait first.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use tollgate::{Kind, RetryClass};

use super::Jitter;
use crate::{ErrorResponse, StopReason};

/// How a client retries. Every field has a documented default; all are
/// configurable; [`RetryPolicy::disabled`] turns retries off.
///
/// | setting | default | what it does |
/// |---|---|---|
/// | [`max_attempts`](Self::max_attempts) | 4 | attempts in all, the first included |
/// | [`deadline`](Self::deadline) | 120 s | covers every attempt and wait; an attempt still running then is cut, a wait that would end after it is not started |
/// | [`backoff`](Self::backoff) | base 1 s, cap 30 s | without a hint, retry *n* (from 0) waits `random(0, min(cap, base·2ⁿ))` |
/// | [`max_retry_after`](Self::max_retry_after) | 60 s | the longest server-asked wait obeyed |
/// | [`clamp_retry_after`](Self::clamp_retry_after) | `false` | a longer ask ends the request at once (`false`) or is cut to the maximum (`true`) |
/// | [`in_use_delay`](Self::in_use_delay) | 1 s | the wait after a 409 `idempotency_key_in_use` without a hint |
/// | [`auto_idempotency`](Self::auto_idempotency) | `false` | add an `Idempotency-Key` (UUIDv4) to POST and PATCH, reused by their retries |
/// | [`retry_transport_errors`](Self::retry_transport_errors) | `true` | retry timeouts, refused and reset connections and failed DNS lookups with backoff (not a failed TLS handshake) |
///
/// What is retried: 429 and 503 after the server's hint (`Retry-After` in
/// seconds or as an HTTP-date, which decides, as HTTP's own field (RFC 9110,
/// 10.2.3), the longest of several lines; failing it, Azure's
/// `retry-after-ms`; failing those, the longest of a body `retry_after` and
/// google `RetryInfo`, so that an absurd value in a body does not outweigh a
/// sane header; failing those, a spent quota's
/// refill by `RateLimit`, `RateLimit-Reset` or `X-RateLimit-Reset`), or with
/// backoff when there is none (but a spent longer-term quota, a code of kind
/// `quota_exceeded` such as `usage_limit_exceeded`, only after a hint);
/// a 403 with `Retry-After` or a quota spent by `RateLimit-Remaining` or
/// `X-RateLimit-Remaining` (GitHub's rate limits), and a 400 or 403 with a
/// throttling code (AWS's `ThrottlingException`), as a 429; 408, 425 and every
/// 5xx but 501, 505, 506, 508, 510 and 511 (500, 502, 504, 507, a proxy's
/// 520–529) with backoff (or after their hint, if they give one); a 409
/// `idempotency_key_in_use` after [`in_use_delay`](Self::in_use_delay). Every
/// other status is final. A code the catalog knows decides over the status
/// (a catalog entry with `retry = "never"` is never retried), the server's
/// `x-should-retry` / `Stripe-Should-Retry` over both, and
/// [`retry_when`](Self::retry_when) over all of them. POST, PATCH and other
/// non-idempotent methods are retried only when they carry an
/// `Idempotency-Key`, when their connection was never made, or when the
/// server did not act on them (a 429 or another rate limit's refusal, a
/// 425, a `should-retry: true`, or `retry_when` saying `Some(true)`).
///
/// ```
/// use std::time::Duration;
/// use tollgate_client::RetryPolicy;
/// let policy = RetryPolicy::default()
///     .max_attempts(6)
///     .deadline(Duration::from_secs(20))
///     .backoff(Duration::from_millis(100), Duration::from_secs(5))
///     .max_retry_after(Duration::from_secs(10))
///     .auto_idempotency(true);
/// assert_eq!(policy.backoff_ceiling(0), Duration::from_millis(100));
/// assert_eq!(policy.backoff_ceiling(3), Duration::from_millis(800));
/// assert_eq!(policy.backoff_ceiling(10), Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) deadline: Option<Duration>,
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) clamp_retry_after: bool,
    pub(crate) in_use_delay: Duration,
    pub(crate) auto_idempotency: bool,
    pub(crate) retry_transport: bool,
    pub(crate) rule: Option<RetryRule>,
}

/// A user's rule for error responses ([`RetryPolicy::retry_when`]); equal
/// only to itself.
#[derive(Clone)]
pub(crate) struct RetryRule(Arc<RuleFn>);

/// What [`RetryRule`] holds.
type RuleFn = dyn Fn(&ErrorResponse) -> Option<bool> + Send + Sync;

impl PartialEq for RetryRule {
    fn eq(&self, other: &RetryRule) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RetryRule {}

impl fmt::Debug for RetryRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryRule(..)")
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            deadline: Some(Duration::from_secs(120)),
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            clamp_retry_after: false,
            in_use_delay: Duration::from_secs(1),
            auto_idempotency: false,
            retry_transport: true,
            rule: None,
        }
    }
}

impl RetryPolicy {
    /// Never retry: each request is sent once (its errors are still decoded).
    ///
    /// ```
    /// assert_eq!(tollgate_client::RetryPolicy::disabled().attempts(), 1);
    /// ```
    pub fn disabled() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// At most `attempts` attempts in all, the first included (at least 1;
    /// 1 disables retries).
    pub fn max_attempts(mut self, attempts: u32) -> RetryPolicy {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The maximum number of attempts.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// An overall deadline for all attempts and the waits between them,
    /// counted from the first attempt.
    pub fn deadline(mut self, deadline: Duration) -> RetryPolicy {
        self.deadline = Some(deadline);
        self
    }

    /// No overall deadline: then only the reqwest client's own timeouts end
    /// an attempt, the reading of its error body included. A client from
    /// [`client_with`](crate::client_with) with such a policy bounds only its
    /// connections (10 s): an answer that never comes keeps the request
    /// waiting. Keep a deadline, or give the reqwest client a total
    /// `timeout`, to bound it.
    pub fn without_deadline(mut self) -> RetryPolicy {
        self.deadline = None;
        self
    }

    /// Exponential backoff with full jitter: retry `n` (from 0) waits a
    /// uniform random delay in `[0, min(cap, base·2ⁿ)]`.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> RetryPolicy {
        self.base = base;
        self.cap = cap;
        self
    }

    /// The longest server-asked wait the client obeys.
    pub fn max_retry_after(mut self, max: Duration) -> RetryPolicy {
        self.max_retry_after = max;
        self
    }

    /// What to do when the server asks for a longer wait than
    /// [`max_retry_after`](Self::max_retry_after): `false` (the default) ends
    /// the request at once with the error (its
    /// [`retry_after`](crate::Error::retry_after) tells the caller when to come
    /// back); `true` waits the maximum and tries again anyway.
    pub fn clamp_retry_after(mut self, clamp: bool) -> RetryPolicy {
        self.clamp_retry_after = clamp;
        self
    }

    /// The wait before retrying a 409 `idempotency_key_in_use` that gave no
    /// hint: the first request with the key is still running.
    pub fn in_use_delay(mut self, delay: Duration) -> RetryPolicy {
        self.in_use_delay = delay;
        self
    }

    /// Adds an `Idempotency-Key` (a UUIDv4) to every POST and PATCH that has
    /// none, and sends the same key with each of its retries, so they are
    /// safe to retry. Turn on only for APIs that honour the header: a server
    /// that ignores it would process a retried POST twice.
    pub fn auto_idempotency(mut self, on: bool) -> RetryPolicy {
        self.auto_idempotency = on;
        self
    }

    /// Whether timeouts and connection errors (refused, reset, closed early, a
    /// failed DNS lookup, which may be temporary) are retried with backoff. A
    /// failed TLS handshake under rustls (a certificate expired, self-signed or
    /// for another name) is not: it would fail the same way again.
    pub fn retry_transport_errors(mut self, on: bool) -> RetryPolicy {
        self.retry_transport = on;
        self
    }

    /// Decides for error responses the status and the catalog misjudge for
    /// an API: `Some(true)` retries one (after its hint, else with backoff),
    /// `Some(false)` makes it final, `None` leaves it to the server's own
    /// `x-should-retry` / `Stripe-Should-Retry` header, then the status and
    /// the catalog. `Some(true)` also says the API did not act on the
    /// request (an overload, a queue that was full), so a POST without an
    /// `Idempotency-Key` is sent again too, as it is after a 429 or a
    /// `should-retry: true`.
    ///
    /// ```
    /// use tollgate_client::RetryPolicy;
    /// // Anthropic's 529 (overloaded) did not act on the request, so a POST
    /// // without a key is sent again too; OpenAI's `insufficient_quota` 429
    /// // is final, whatever it says.
    /// let policy = RetryPolicy::default().retry_when(|e| match (e.status().as_u16(), e.code()) {
    ///     (529, _) => Some(true),
    ///     (429, Some("insufficient_quota")) => Some(false),
    ///     _ => None,
    /// });
    /// ```
    pub fn retry_when(
        mut self,
        rule: impl Fn(&ErrorResponse) -> Option<bool> + Send + Sync + 'static,
    ) -> RetryPolicy {
        self.rule = Some(RetryRule(Arc::new(rule)));
        self
    }

    /// The upper bound of retry `n`'s backoff (from 0): `min(cap, base·2ⁿ)`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        match 2u32.checked_pow(retry) {
            Some(factor) => self.base.checked_mul(factor).unwrap_or(Duration::MAX),
            // Past 2³¹ doublings anything but zero has passed any cap.
            None if self.base.is_zero() => Duration::ZERO,
            None => Duration::MAX,
        }
        .min(self.cap)
    }

    /// Retry `n`'s backoff (from 0), drawn from `jitter`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_client::{Jitter, RetryPolicy};
    /// let policy = RetryPolicy::default();
    /// let delay = policy.backoff_delay(2, &Jitter::seeded(1));
    /// assert!(delay <= Duration::from_secs(4)); // min(30 s, 1 s·2²)
    /// ```
    pub fn backoff_delay(&self, retry: u32, jitter: &Jitter) -> Duration {
        jitter.full(self.backoff_ceiling(retry))
    }

    /// Whether a request with this method may be sent twice.
    pub(crate) fn may_repeat(method: &Method, has_key: bool) -> bool {
        has_key
            || matches!(
                *method,
                Method::GET
                    | Method::HEAD
                    | Method::OPTIONS
                    | Method::TRACE
                    | Method::PUT
                    | Method::DELETE
            )
    }

    /// How a retry after an error response would wait, and whether the
    /// server did not act on the request (so that sending it again cannot do
    /// its work twice, whatever its method: a rate limit's refusal, a 425,
    /// or a retry the policy's rule or the server asked for); or why there is no
    /// retry.
    pub(crate) fn plan_after_response(
        &self,
        response: &ErrorResponse,
    ) -> Result<(Plan, bool), StopReason> {
        let ruled = self.rule.as_ref().and_then(|rule| (rule.0)(response));
        plan_after_response(response, ruled)
    }

    /// How a retry after a transport error would wait, or why there is none.
    pub(crate) fn plan_after_transport(&self, error: &reqwest::Error) -> Result<Plan, StopReason> {
        if self.retry_transport && is_transient(error) {
            Ok(Plan::Backoff)
        } else {
            Err(StopReason::NotRetryable)
        }
    }

    /// The wait before retry `retry` (from 0), or why not to retry.
    pub(crate) fn wait(
        &self,
        plan: Plan,
        retry: u32,
        jitter: &Jitter,
    ) -> Result<Duration, StopReason> {
        match plan {
            Plan::Asked(asked) if asked > self.max_retry_after => {
                if self.clamp_retry_after {
                    Ok(self.max_retry_after)
                } else {
                    Err(StopReason::RetryAfterTooLong {
                        asked,
                        max: self.max_retry_after,
                    })
                }
            }
            Plan::Asked(asked) => Ok(asked),
            Plan::InUse => Ok(self.in_use_delay),
            Plan::Backoff => Ok(self.backoff_delay(retry, jitter)),
        }
    }
}

/// [`RetryPolicy::plan_after_response`] with what the policy's rule said
/// (`ruled`): the one decision behind both the client's retries and
/// [`ErrorResponse::retryable`].
pub(crate) fn plan_after_response(
    response: &ErrorResponse,
    ruled: Option<bool>,
) -> Result<(Plan, bool), StopReason> {
    let said = ruled.or_else(|| should_retry(response));
    let never = response.decoded().retry == RetryClass::Never;
    if said == Some(false) || (said.is_none() && never) {
        return Err(StopReason::NotRetryable);
    }
    // A 425 (sent in early data, RFC 8470) was not processed either. A 408
    // may have been: servers send it when their handler ran too long
    // (NestJS's `RequestTimeoutException`), after the work began.
    let unprocessed = response.status().as_u16() == 425;
    let not_acted_on = rate_limited(response) || unprocessed || said == Some(true);
    let plan = match response.retry_after() {
        Some(asked) => Plan::Asked(asked),
        // A spent quota (a month's usage) refills on no backoff's
        // scale: without a wait asked, sending again cannot succeed.
        None if said.is_none() && response.kind() == Kind::QuotaExceeded => {
            return Err(StopReason::NotRetryable);
        }
        None if response.decoded().catalog_code.as_deref() == Some("idempotency_key_in_use") => {
            Plan::InUse
        }
        None => Plan::Backoff,
    };
    Ok((plan, not_acted_on))
}

/// The server's word on retrying `response`: its `x-should-retry` (OpenAI,
/// Anthropic) or `Stripe-Should-Retry`, when that is `true` or `false`.
fn should_retry(response: &ErrorResponse) -> Option<bool> {
    let headers = response.headers();
    let value = headers
        .get("x-should-retry")
        .or_else(|| headers.get("stripe-should-retry"))?;
    match value.to_str().ok()?.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether `response` is a rate limit's refusal: a 429, or another status
/// the decoder reads as one (GitHub's 403 with `Retry-After` or a spent
/// quota, AWS's 400 `ThrottlingException`).
pub(crate) fn rate_limited(response: &ErrorResponse) -> bool {
    response.status() == StatusCode::TOO_MANY_REQUESTS || response.kind() == Kind::RateLimited
}

/// How the next attempt waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The server's hint.
    Asked(Duration),
    /// A 409 `idempotency_key_in_use` without a hint.
    InUse,
    /// Exponential backoff with full jitter.
    Backoff,
}

/// Timeouts, failed connections (refused, a failed DNS lookup, which may be
/// temporary) but not a failed TLS handshake, and connections closed or reset
/// before the response was complete.
fn is_transient(error: &reqwest::Error) -> bool {
    if error.is_timeout() {
        return true;
    }
    if error.is_connect() {
        return !is_tls_failure(error);
    }
    if error.is_builder() || error.is_redirect() || error.is_decode() || error.is_body() {
        return false;
    }
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_timeout() {
                return true;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | BrokenPipe
                    | UnexpectedEof
                    | TimedOut
            );
        }
        source = e.source();
    }
    false
}

/// Whether a TLS handshake failed (a certificate expired, self-signed or for
/// another name; no protocol in common): rustls reports it as an
/// `InvalidData` I/O error, and sending again gets the same answer.
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            // An I/O error wrapping another (hyper-rustls wraps rustls's so)
            // hides it from `source`.
            if let Some(inner) = io.get_ref() {
                next = Some(inner);
                continue;
            }
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, StatusCode};

    use super::*;
    use crate::ErrorDecoder;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> ErrorResponse {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        ErrorDecoder::new().decode(
            StatusCode::from_u16(status).unwrap(),
            map,
            body.as_bytes().to_vec().into(),
        )
    }

    fn plan(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Plan, StopReason> {
        RetryPolicy::default()
            .plan_after_response(&response(status, headers, body))
            .map(|(plan, _)| plan)
    }

    #[test]
    fn statuses_map_to_plans() {
        for status in [429, 503, 408, 425, 500, 502, 504, 507, 520, 529] {
            assert_eq!(plan(status, &[], ""), Ok(Plan::Backoff), "{status}");
        }
        for status in [
            400, 401, 402, 403, 404, 405, 409, 410, 413, 415, 422, 451, 501, 505, 506, 508, 510,
            511,
        ] {
            assert_eq!(
                plan(status, &[], ""),
                Err(StopReason::NotRetryable),
                "{status}"
            );
        }
        assert_eq!(
            plan(429, &[("retry-after", "7")], ""),
            Ok(Plan::Asked(Duration::from_secs(7)))
        );
        // A hint on a final status does not make it retryable.
        assert_eq!(
            plan(400, &[("retry-after", "7")], ""),
            Err(StopReason::NotRetryable)
        );
    }

    #[test]
    fn a_spent_quota_is_retried_only_after_a_wait_asked() {
        let spent = [("x-error-code", "usage_limit_exceeded")];
        assert_eq!(plan(429, &spent, ""), Err(StopReason::NotRetryable));
        let with_wait = [
            ("x-error-code", "usage_limit_exceeded"),
            ("retry-after", "30"),
        ];
        assert_eq!(
            plan(429, &with_wait, ""),
            Ok(Plan::Asked(Duration::from_secs(30)))
        );
        // The server's word decides over the kind.
        let said = [
            ("x-error-code", "usage_limit_exceeded"),
            ("x-should-retry", "true"),
        ];
        assert_eq!(plan(429, &said, ""), Ok(Plan::Backoff));
        // A window's rate limit without a hint is still retried.
        let window = [("x-error-code", "rate_limit_exceeded")];
        assert_eq!(plan(429, &window, ""), Ok(Plan::Backoff));
    }

    /// Only `true` and `false`, in any case, are the server's word.
    #[test]
    fn a_should_retry_value_neither_true_nor_false_leaves_it_to_the_status() {
        assert_eq!(
            plan(503, &[("x-should-retry", "FALSE")], ""),
            Err(StopReason::NotRetryable)
        );
        assert_eq!(
            plan(503, &[("x-should-retry", "maybe")], ""),
            Ok(Plan::Backoff)
        );
        assert_eq!(
            plan(503, &[("stripe-should-retry", "1")], ""),
            Ok(Plan::Backoff)
        );
    }

    #[test]
    fn a_409_is_retried_only_for_a_key_in_use() {
        let in_use = r#"{"type":"https://errors.tollgate.dev/#idempotency_key_in_use","title":"Idempotency key in use","status":409,"code":"idempotency_key_in_use"}"#;
        assert_eq!(plan(409, &[], in_use), Ok(Plan::InUse));
        assert_eq!(
            plan(409, &[("x-error-code", "idempotency_key_in_use")], ""),
            Ok(Plan::InUse)
        );
        assert_eq!(
            plan(409, &[("x-error-code", "conflict")], ""),
            Err(StopReason::NotRetryable)
        );
        // The code must match the status: a 400 claiming the code is final.
        assert_eq!(
            plan(400, &[("x-error-code", "idempotency_key_in_use")], ""),
            Err(StopReason::NotRetryable)
        );
    }

    #[test]
    fn a_key_in_use_is_known_in_its_dialect() {
        // Another entry writes the same code in the coded dialect; a google
        // body's reason is still the key in use, as the decoder found.
        let catalog = tollgate::Catalog::from_toml(
            "t.toml",
            "[errors.conflict.aliases]\ncoded = 'IDEMPOTENCY_KEY_IN_USE'\n",
        )
        .unwrap();
        // Looked up without its dialect, the code is `conflict`'s.
        let anywhere = catalog.find_wire_code("IDEMPOTENCY_KEY_IN_USE");
        assert_eq!(anywhere.map(|def| def.code()), Some("conflict"));
        let body = r#"{"error":{"code":409,"status":"ABORTED","message":"In use","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IDEMPOTENCY_KEY_IN_USE","domain":"api.example.com"}]}}"#;
        let response = ErrorDecoder::new().catalog(catalog).decode(
            StatusCode::CONFLICT,
            HeaderMap::new(),
            body.as_bytes().to_vec().into(),
        );
        assert_eq!(response.dialect(), "google");
        let planned = RetryPolicy::default().plan_after_response(&response);
        assert_eq!(planned.map(|(plan, _)| plan), Ok(Plan::InUse));
    }

    #[test]
    fn long_hints_end_or_are_clamped() {
        let jitter = Jitter::seeded(1);
        let asked = Plan::Asked(Duration::from_secs(61));
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.wait(asked, 0, &jitter),
            Err(StopReason::RetryAfterTooLong {
                asked: Duration::from_secs(61),
                max: Duration::from_secs(60)
            })
        );
        assert_eq!(
            policy
                .clone()
                .clamp_retry_after(true)
                .wait(asked, 0, &jitter),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(
            policy.wait(Plan::Asked(Duration::from_secs(60)), 0, &jitter),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(
            policy.wait(Plan::InUse, 3, &jitter),
            Ok(Duration::from_secs(1))
        );
    }

    #[test]
    fn only_safe_methods_repeat_without_a_key() {
        for method in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(RetryPolicy::may_repeat(&method, false), "{method}");
        }
        let custom = Method::from_bytes(b"PURGE").unwrap();
        for method in [Method::POST, Method::PATCH, Method::CONNECT, custom] {
            assert!(!RetryPolicy::may_repeat(&method, false), "{method}");
            assert!(RetryPolicy::may_repeat(&method, true), "{method}");
        }
    }

    #[test]
    fn only_a_failed_tls_handshake_is_a_tls_failure() {
        use std::io::{Error, ErrorKind};

        /// A connector's error with its cause, as hyper-util wraps them.
        #[derive(Debug)]
        struct Connect(Error);
        impl std::fmt::Display for Connect {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Connect {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        // What hyper-rustls returns for a certificate rustls rejects.
        let certificate = Connect(Error::other(Error::new(
            ErrorKind::InvalidData,
            "invalid peer certificate: Expired",
        )));
        assert!(is_tls_failure(&certificate));
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::ConnectionReset,
            ErrorKind::TimedOut,
        ] {
            assert!(!is_tls_failure(&Connect(Error::other(Error::from(kind)))));
        }
        let dns = Connect(Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        ));
        assert!(!is_tls_failure(&dns));
    }

    /// A response cut in its body was answered: the error reading that body
    /// (reqwest reports it as a decode or body error, with the connection's
    /// early close as its cause) is no failed send, so it is not retried.
    #[tokio::test]
    async fn an_error_reading_a_body_cut_short_is_not_retried() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            // The whole request head read, so that closing resets nothing.
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut chunk = [0u8; 1024];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            // Promises 100 bytes, sends 10, then closes.
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789";
            socket.write_all(head.as_bytes()).await.unwrap();
        });
        let response = reqwest::Client::new().get(&url).send().await.unwrap();
        let error = response.bytes().await.unwrap_err();
        assert!(error.is_decode() || error.is_body(), "{error:?}");
        assert_eq!(
            RetryPolicy::default().plan_after_transport(&error),
            Err(StopReason::NotRetryable)
        );
    }

    /// A rule is a closure, so policies compare by the rule they share.
    #[test]
    fn policies_with_rules_are_equal_only_when_they_share_the_rule() {
        let ruled = RetryPolicy::default().retry_when(|_| None);
        assert_eq!(ruled, ruled.clone());
        assert_ne!(ruled, RetryPolicy::default().retry_when(|_| None));
    }

    /// A rule is a closure, so a policy's debug output names it without
    /// showing it.
    #[test]
    fn a_policy_with_a_rule_debugs_the_rule_as_opaque() {
        let shown = format!("{:?}", RetryPolicy::default().retry_when(|_| None));
        assert!(shown.contains("rule: Some(RetryRule(..))"), "{shown}");
    }

    #[test]
    fn max_attempts_is_at_least_one() {
        assert_eq!(RetryPolicy::default().max_attempts(0).attempts(), 1);
    }

    #[test]
    fn attempts_reports_the_configured_maximum() {
        assert_eq!(RetryPolicy::default().attempts(), 4);
        assert_eq!(RetryPolicy::default().max_attempts(6).attempts(), 6);
    }
}
