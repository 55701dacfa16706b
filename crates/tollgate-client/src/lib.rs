#![doc = include_str!("docs/crate.md")]

mod attempt;
mod error;
mod ext;
mod response;
mod retry;

pub use attempt::Attempt;
pub use error::{BodyError, Cause, Error, StopReason};
pub use ext::{RequestBuilderExt, ResponseExt};
pub use response::{DEFAULT_MAX_ERROR_BODY, ErrorDecoder, ErrorResponse};
pub use retry::{Jitter, RetryBudget, RetryPolicy, TollgateMiddleware};

/// A reqwest-middleware client with [`TollgateMiddleware`] and its defaults.
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
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TollgateMiddleware::new().policy(policy))
        .build()
}
