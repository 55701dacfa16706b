//! The reqwest-middleware middleware: send, decode, decide, wait, send again.

use std::time::Duration;

use http::{Extensions, HeaderValue, Method};
use reqwest::{Request, Response, Url};
use reqwest_middleware::{Middleware, Next};
use tokio::time::Instant;
use tollgate::RetryClass;
use tollgate::headers::IDEMPOTENCY_KEY;

use super::{Jitter, RetryBudget, RetryPolicy};
use crate::error::{transport_reason, without_credentials};
use crate::{Attempt, Cause, Error, ErrorDecoder, ErrorResponse, StopReason};

/// The middleware: turns every error response into a decoded [`Error`] and
/// retries the way the server asked.
///
/// Add it to a reqwest-middleware client; convert the errors it returns
/// with [`Error::from`], or send with
/// [`send_api`](crate::RequestBuilderExt::send_api), which does.
/// Responses with a status below 400 pass through untouched, with the
/// [`attempts`](crate::ResponseExt::attempts) it took.
///
/// A [`RetryPolicy`] in a request's extensions replaces the middleware's for
/// that request. One is enough in a chain: a second one, further in, passes
/// requests through, so the outer one's policy, decoder and budget decide.
///
/// ```
/// # use axum::{Router, routing::get, http::StatusCode};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/", listener.local_addr()?);
/// # let app = Router::new().route("/", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// use std::time::Duration;
/// use reqwest_middleware::ClientBuilder;
/// use tollgate_client::{Error, RetryBudget, RetryPolicy, StopReason, TollgateMiddleware};
///
/// let middleware = TollgateMiddleware::new()
///     .policy(RetryPolicy::default().max_attempts(3))
///     .budget(RetryBudget::new(100, 10, 1));
/// let client = ClientBuilder::new(reqwest::Client::new()).with(middleware).build();
///
/// let err = Error::from(client.get(&url).send().await.unwrap_err());
/// assert_eq!(err.attempts().len(), 3);
/// assert_eq!(err.stop(), Some(&StopReason::MaxAttempts(3)));
///
/// // One request without retries, whatever the client's policy:
/// let err = Error::from(
///     client.get(&url).with_extension(RetryPolicy::disabled()).send().await.unwrap_err(),
/// );
/// assert_eq!(err.attempts().len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct TollgateMiddleware {
    policy: RetryPolicy,
    budget: RetryBudget,
    jitter: Jitter,
    decoder: ErrorDecoder,
}

/// Marks a request whose attempts a middleware is already running, so that a
/// second one in the same chain does not retry each of them again.
#[derive(Clone, Copy, Debug)]
struct Running;

/// The attempts a successful response took, kept in its extensions.
#[derive(Clone, Debug)]
pub(crate) struct Attempts(pub(crate) Vec<Attempt>);

/// The `Idempotency-Key` a request carries. A blank one is none: it
/// protects nothing, and a server that ignores it would run the request
/// again.
pub(crate) fn sent_idempotency_key(request: &Request) -> Option<String> {
    let key = request.headers().get(IDEMPOTENCY_KEY)?.to_str().ok()?;
    (!key.trim().is_empty()).then(|| key.to_owned())
}

/// How long the middleware reads the body of an error that may be retried
/// (its head alone says so: its status's retry class is not `never`, or it
/// has `Retry-After`, a spent rate-limit quota, a throttling or
/// `idempotency_key_in_use` code in `X-Error-Code` or `X-Amzn-ErrorType`,
/// or `x-should-retry: true`), at most: a body that
/// stalls or trickles is then decoded as far as it came, so that the wait
/// its headers ask for (`Retry-After: 1`) is still kept before the
/// deadline, not spent on the body. Other errors' bodies are read until the
/// deadline, for their message.
pub const ERROR_BODY_TIME: Duration = Duration::from_secs(5);

/// Whether an error response's head says a retry may follow: a status sent
/// again by default ([`RetryClass::from_status`]), a `Retry-After`, or
/// anything else in its headers the client retries for, decoded without
/// its body (a [`retry_when`](RetryPolicy::retry_when) rule is asked once,
/// with the body).
fn may_be_retried(response: &Response, decoder: &ErrorDecoder) -> bool {
    if RetryClass::from_status(response.status().as_u16()) != RetryClass::Never
        || response.headers().contains_key(http::header::RETRY_AFTER)
    {
        return true;
    }
    let head = decoder.decode(
        response.status(),
        response.headers().clone(),
        bytes::Bytes::new(),
    );
    head.retryable()
}

/// The method a successful response's request was sent with, kept in its
/// extensions to name the request of an error found in its body later.
#[derive(Clone, Debug)]
pub(crate) struct SentMethod(pub(crate) Method);

/// The middleware's decoder, in a success's extensions:
/// [`ResponseExt::json_data`](crate::ResponseExt::json_data) reads the body
/// with its limits and catalog.
#[derive(Clone, Debug)]
pub(crate) struct MiddlewareDecoder(pub(crate) ErrorDecoder);

/// A success's deadline (when, and how long it was), in the response's
/// extensions: [`ResponseExt::json_data`](crate::ResponseExt::json_data)
/// reads the body within it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(pub(crate) (Instant, Duration));

/// The `Idempotency-Key` a successful response's request was sent with,
/// kept in its extensions for an error found in its body later.
#[derive(Clone, Debug)]
pub(crate) struct SentIdempotencyKey(pub(crate) String);

impl TollgateMiddleware {
    /// The default [`RetryPolicy`], a fresh default [`RetryBudget`], a new
    /// [`Jitter`] and the default [`ErrorDecoder`].
    pub fn new() -> TollgateMiddleware {
        TollgateMiddleware::default()
    }

    /// Retries by `policy`.
    pub fn policy(mut self, policy: RetryPolicy) -> TollgateMiddleware {
        self.policy = policy;
        self
    }

    /// Spends retries from `budget` (share one budget between middlewares by
    /// cloning it).
    pub fn budget(mut self, budget: RetryBudget) -> TollgateMiddleware {
        self.budget = budget;
        self
    }

    /// Draws backoff delays from `jitter` ([`Jitter::seeded`] replays them).
    pub fn jitter(mut self, jitter: Jitter) -> TollgateMiddleware {
        self.jitter = jitter;
        self
    }

    /// Reads error responses with `decoder`, and success bodies that
    /// [`json_data`](crate::ResponseExt::json_data) unwraps (its success
    /// body limit, and its catalog for an envelope that says it failed).
    pub fn decoder(mut self, decoder: ErrorDecoder) -> TollgateMiddleware {
        self.decoder = decoder;
        self
    }

    /// The retry budget in use.
    pub fn retry_budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// Sends `request` until it succeeds or the policy says stop.
    pub(crate) async fn execute(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response, Error> {
        let policy = extensions
            .get::<RetryPolicy>()
            .unwrap_or(&self.policy)
            .clone();
        let method = request.method().clone();
        if policy.auto_idempotency
            && matches!(method, Method::POST | Method::PATCH)
            && sent_idempotency_key(&request).is_none()
        {
            let key = uuid::Uuid::new_v4().hyphenated().to_string();
            if let Ok(value) = HeaderValue::from_str(&key) {
                request.headers_mut().insert(IDEMPOTENCY_KEY, value);
            }
        }
        let start = Instant::now();
        let idempotency_key = sent_idempotency_key(&request);
        let call = Call {
            may_repeat: RetryPolicy::may_repeat(&method, idempotency_key.is_some()),
            idempotency_key,
            // A copy to send again; `None` for a streaming body (or when
            // retries are off).
            template: if policy.max_attempts > 1 {
                request.try_clone()
            } else {
                None
            },
            // A deadline too far to represent is no deadline.
            deadline: policy
                .deadline
                .and_then(|d| Some((start.checked_add(d)?, d))),
            url: request.url().clone(),
            method,
            policy,
        };
        let mut attempts: Vec<Attempt> = Vec::new();
        loop {
            let mut attempt = Attempt {
                number: attempts.len() as u32 + 1,
                status: None,
                code: None,
                request_id: None,
                error: None,
                started: start.elapsed(),
                delay: None,
            };
            let cause = match self
                .attempt(request, extensions, next.clone(), call.deadline)
                .await
            {
                Outcome::Success(mut response) => {
                    self.budget.earn();
                    attempt.status = Some(response.status().as_u16());
                    attempt.request_id = success_request_id(&response);
                    trace(&attempt, &call, Decision::Done);
                    attempts.push(attempt);
                    response.extensions_mut().insert(Attempts(attempts));
                    if let Some(deadline) = call.deadline {
                        response.extensions_mut().insert(Deadline(deadline));
                    }
                    if let Some(key) = call.idempotency_key {
                        response.extensions_mut().insert(SentIdempotencyKey(key));
                    }
                    response.extensions_mut().insert(SentMethod(call.method));
                    response
                        .extensions_mut()
                        .insert(MiddlewareDecoder(self.decoder.clone()));
                    return Ok(response);
                }
                Outcome::Status(response) => {
                    attempt.status = Some(response.status().as_u16());
                    attempt.code = response.code().map(str::to_owned);
                    attempt.request_id = response.request_id().map(str::to_owned);
                    Cause::Status(*response)
                }
                Outcome::Transport(e) => {
                    attempt.error = Some(transport_reason(&e));
                    Cause::Transport(e)
                }
                Outcome::Middleware(e) => {
                    attempt.error = Some(e.to_string());
                    Cause::Middleware(e)
                }
                Outcome::DeadlineElapsed(d) => {
                    attempt.error = Some(format!("no response within the {d:?} deadline"));
                    Cause::DeadlineElapsed(d)
                }
            };
            match self.decide(&call, &cause, &attempt) {
                Ok((delay, again)) => {
                    attempt.delay = Some(delay);
                    trace(&attempt, &call, Decision::Retry);
                    attempts.push(attempt);
                    tokio::time::sleep(delay).await;
                    request = again;
                }
                Err(stop) => {
                    trace(&attempt, &call, Decision::GiveUp(&stop));
                    attempts.push(attempt);
                    let error = Error::new(cause)
                        .request(Some(call.method), Some(call.url))
                        .idempotency_key_sent(call.idempotency_key);
                    return Err(error.attempts_made(attempts, Some(stop)));
                }
            }
        }
    }

    /// Sends once and reads an error response's body, within the deadline
    /// and [`ERROR_BODY_TIME`]. An error whose body is still arriving then
    /// keeps its status and headers, with the body as far as it came.
    async fn attempt(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
        deadline: Option<(Instant, Duration)>,
    ) -> Outcome {
        let send = next.run(request, extensions);
        let sent = match deadline {
            Some((at, total)) => match tokio::time::timeout_at(at, send).await {
                Ok(sent) => sent,
                Err(_) => return Outcome::DeadlineElapsed(total),
            },
            None => send.await,
        };
        match sent {
            Ok(response) if response.status().as_u16() < 400 => Outcome::Success(response),
            Ok(response) => {
                let deadline = deadline.map(|(at, _)| at);
                // A retry that may follow is not held up by the body; a
                // final answer's body is read to the deadline, for its message.
                let until = match may_be_retried(&response, &self.decoder) {
                    true => {
                        let body_until = Instant::now() + ERROR_BODY_TIME;
                        Some(deadline.map_or(body_until, |at| at.min(body_until)))
                    }
                    false => deadline,
                };
                let read = self.decoder.read_until(response, until);
                Outcome::Status(Box::new(read.await))
            }
            Err(reqwest_middleware::Error::Reqwest(e)) => match deadline {
                // A reqwest timeout that ends at the deadline (`client_with`
                // sets its read timeout to it) fires on the deadline's tick
                // and, polled first, comes before it: it is the deadline.
                Some((at, total)) if e.is_timeout() && Instant::now() >= at => {
                    Outcome::DeadlineElapsed(total)
                }
                _ => Outcome::Transport(without_credentials(e)),
            },
            Err(reqwest_middleware::Error::Middleware(e)) => Outcome::Middleware(e.into()),
        }
    }

    /// The wait and the request to send next, or why not to.
    fn decide(
        &self,
        call: &Call,
        cause: &Cause,
        attempt: &Attempt,
    ) -> Result<(Duration, Request), StopReason> {
        let policy = &call.policy;
        let (plan, not_acted_on) = match cause {
            Cause::Status(response) => policy.plan_after_response(response)?,
            Cause::Transport(e) => (policy.plan_after_transport(e)?, false),
            Cause::DeadlineElapsed(d) => return Err(StopReason::Deadline(*d)),
            Cause::Middleware(_) | Cause::Body(_) => return Err(StopReason::NotRetryable),
        };
        if policy.max_attempts == 1 {
            return Err(StopReason::Disabled);
        }
        // An attempt that ended at the deadline (an error body still
        // arriving, cut) leaves no time for another, whatever else holds.
        if let Some((at, total)) = call.deadline {
            if Instant::now() >= at {
                return Err(StopReason::Deadline(total));
            }
        }
        // A request whose connection was never made was never sent: sending
        // it again cannot run it twice, whatever its method.
        let never_sent = matches!(cause, Cause::Transport(e) if e.is_connect());
        // Nor can one the server did not act on.
        if !call.may_repeat && !never_sent && !not_acted_on {
            return Err(StopReason::NotIdempotent(call.method.clone()));
        }
        let Some(template) = &call.template else {
            return Err(StopReason::BodyNotCloneable);
        };
        if attempt.number >= policy.max_attempts {
            return Err(StopReason::MaxAttempts(policy.max_attempts));
        }
        let delay = policy.wait(plan, attempt.number - 1, &self.jitter)?;
        if let Some((at, total)) = call.deadline {
            if Instant::now()
                .checked_add(delay)
                .is_none_or(|next| next >= at)
            {
                return Err(StopReason::Deadline(total));
            }
        }
        let again = template.try_clone().ok_or(StopReason::BodyNotCloneable)?;
        // A 429 (or GitHub's rate-limit 403) paces a client that asks too
        // fast; the budget is for a server that fails, and would otherwise
        // run dry on a steady pace of 429s each followed by a success.
        let paced = matches!(cause, Cause::Status(r) if super::policy::rate_limited(r));
        if !paced && !self.budget.try_spend() {
            return Err(StopReason::BudgetExhausted);
        }
        Ok((delay, again))
    }
}

/// What stays the same across one request's attempts.
struct Call {
    policy: RetryPolicy,
    method: Method,
    url: Url,
    may_repeat: bool,
    /// The `Idempotency-Key` sent, to give back with a failure.
    idempotency_key: Option<String>,
    template: Option<Request>,
    deadline: Option<(Instant, Duration)>,
}

#[async_trait::async_trait]
impl Middleware for TollgateMiddleware {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if extensions.insert(Running).is_some() {
            return next.run(req, extensions).await;
        }
        let result = self.execute(req, extensions, next).await;
        extensions.remove::<Running>();
        result.map_err(reqwest_middleware::Error::middleware)
    }
}

enum Outcome {
    Success(Response),
    Status(Box<ErrorResponse>),
    Transport(reqwest::Error),
    Middleware(Box<dyn std::error::Error + Send + Sync>),
    DeadlineElapsed(Duration),
}

/// A success response's request id, from the first request-id header that
/// has one (`traceparent` aside).
pub(crate) fn success_request_id(response: &Response) -> Option<String> {
    tollgate::headers::REQUEST_ID_HEADERS
        .iter()
        .filter(|name| **name != "traceparent")
        .find_map(|name| {
            let id = response.headers().get(*name)?.to_str().ok()?.trim();
            (!id.is_empty()).then(|| id.to_owned())
        })
}

enum Decision<'a> {
    Done,
    Retry,
    GiveUp(&'a StopReason),
}

/// One event per attempt: `tollgate_client` target, fields `attempt`,
/// `method`, `path`, `status`, `code`, `request_id`, `error`, `delay_ms`,
/// `decision` (`done`, `retry`, `give_up`) and `reason`.
fn trace(attempt: &Attempt, call: &Call, decision: Decision<'_>) {
    let delay_ms = attempt.delay.map(|d| d.as_secs_f64() * 1000.0);
    let (decision, reason) = match decision {
        Decision::Done => ("done", None),
        Decision::Retry => ("retry", None),
        Decision::GiveUp(stop) => ("give_up", Some(stop.to_string())),
    };
    macro_rules! event {
        ($level:expr) => {
            tracing::event!(
                target: "tollgate_client",
                $level,
                attempt = attempt.number,
                method = call.method.as_str(),
                path = call.url.path(),
                status = attempt.status,
                code = attempt.code.as_deref(),
                request_id = attempt.request_id.as_deref(),
                error = attempt.error.as_deref(),
                delay_ms,
                decision,
                reason = reason.as_deref(),
                "request attempt"
            )
        };
    }
    if decision == "done" {
        event!(tracing::Level::DEBUG);
    } else {
        event!(tracing::Level::INFO);
    }
}
