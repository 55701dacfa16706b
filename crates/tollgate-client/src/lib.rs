#![doc = include_str!("docs/crate.md")]

use std::time::Duration;

mod attempt;
mod error;
mod ext;
mod response;
mod retry;

pub use attempt::Attempt;
pub use error::{BodyError, Cause, Error, StopReason};
pub use ext::{RequestBuilderExt, ResponseExt};
pub use response::{DEFAULT_MAX_ERROR_BODY, DEFAULT_MAX_SUCCESS_BODY, ErrorDecoder, ErrorResponse};
pub use retry::{ERROR_BODY_TIME, Jitter, RetryBudget, RetryPolicy, TollgateMiddleware};

/// A reqwest-middleware client with [`TollgateMiddleware`] and its defaults,
/// over a reqwest client that gives up on a connection after 10 s and on a
/// response body that stalls for as long as the policy's
/// [`deadline`](RetryPolicy::deadline) (it has no total timeout: the deadline
/// bounds a request; a slow answer, one that takes minutes as some model
/// APIs' do, is not cut short of it; an attempt of a request given a policy
/// of its own with a longer deadline still gets no more than this one to
/// answer, and is then retried as a timeout, if it may be sent again: give
/// such calls a client of their own), and follows
/// redirects only within the origin it was sent to (a redirect elsewhere is
/// the response: the request's `X-API-Key` or `Idempotency-Key` would
/// otherwise go along).
///
/// # Panics
///
/// As [`reqwest::Client::new`]: when the TLS backend cannot be initialised.
///
/// ```
/// let client = tollgate_client::client();
/// # drop(client);
/// ```
pub fn client() -> reqwest_middleware::ClientWithMiddleware {
    client_with(RetryPolicy::default())
}

/// A reqwest-middleware client with [`TollgateMiddleware`] retrying by
/// `policy`.
///
/// # Panics
///
/// As [`reqwest::Client::new`]: when the TLS backend cannot be initialised.
///
/// ```
/// let client = tollgate_client::client_with(tollgate_client::RetryPolicy::disabled());
/// # drop(client);
/// ```
pub fn client_with(policy: RetryPolicy) -> reqwest_middleware::ClientWithMiddleware {
    let mut http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    // reqwest's read timeout runs from the moment a request is sent until
    // its response's head arrives, then again for each read of the body: a
    // shorter one than the deadline would cut off (and retry) an answer the
    // server is still working on. At the deadline it cuts nothing the
    // deadline would not, and still ends a body that stalls. reqwest adds
    // it to the time of each read, which overflows (a panic) for a deadline
    // too far off: one of a century or more sets none, as the middleware
    // takes it for no deadline at all.
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    if let Some(deadline) = policy.deadline.filter(|deadline| *deadline < FAR) {
        http = http.read_timeout(deadline);
    }
    let http = http
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_none_or(|first| first.origin() == attempt.url().origin());
            if !same_origin {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("more than 10 redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .expect("the TLS backend initialises, as in reqwest::Client::new");
    reqwest_middleware::ClientBuilder::new(http)
        .with(TollgateMiddleware::new().policy(policy))
        .build()
}
