//! The tower layer: checks every request, answers 429 in the catalog's
//! dialect, and puts the RateLimit fields on every response a policy applied
//! to.
//!
//! A refused request never reaches the inner service. Its response is
//! rendered here with [`Catalog::renderer`](tollgate::Catalog::renderer), so
//! the layer is correct on its own, and carries the [`ApiError`] in its
//! extensions, so `tollgate-axum`'s outer layer can render it again in the
//! negotiated dialect with the request id:
//!
//! - 429 `rate_limit_exceeded`, message "Rate limit exceeded: {limit} calls
//!   per {window} seconds" (`limit` and `window` of the policy that refused,
//!   sent as details unless the catalog entry makes them `message_only`, as
//!   seed 002's does), the wait in the body where the dialect has a place
//!   for it (`retry_after` in `problem` and `status-code`, `meta.retry_after`
//!   in `jsonapi`, `RetryInfo.retryDelay` in `google`; the others carry it
//!   in the header alone), and `Retry-After` in delay-seconds, rounded up;
//! - 503 `service_unavailable` with `Retry-After` (at least a second) when
//!   the store fails and the fail mode is closed, unless a policy the store
//!   did answer for refused the request: then that refusal;
//! - the catalog's `validation_error` (400 unless the catalog says 422) for a
//!   request whose [cost](crate::LimiterBuilder::cost) exceeds a policy's
//!   burst, with a message naming the cost and the burst: no wait would admit
//!   it, so it is refused as made, and clients do not retry it;
//! - on every response, refused or not, `RateLimit-Policy` and `RateLimit`
//!   for each policy that decided (see [`headers`](crate::headers) for the
//!   draft implemented), and the legacy `X-RateLimit-*` headers if enabled.
//!   A policy decides nothing when its key is absent (an anonymous request
//!   under a per-key policy), or when the store failed and the fail mode is
//!   open. An admitted request whose inner service fails with an error
//!   rather than a response stays counted, and its error goes out as the
//!   outer layers render it, without the fields.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tollgate::Dialect;
//! use tollgate_limit::{ApiKey, Limiter, Policy, RateLimitLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let limiter = Limiter::builder()
//!     .policy(Policy::new("per-key", 1, Duration::from_secs(60))?, ApiKey::bearer())
//!     .build();
//! let service = ServiceBuilder::new()
//!     .layer(RateLimitLayer::new(limiter).dialect(Dialect::Coded))
//!     .service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Vec::from("ok")))
//!     });
//! let request = || http::Request::builder().header("authorization", "Bearer k").body(()).unwrap();
//! let ok = service.clone().oneshot(request()).await?;
//! assert_eq!(ok.status(), 200);
//! assert_eq!(ok.headers()["ratelimit"], r#""per-key";r=0;t=60"#);
//! let limited = service.oneshot(request()).await?;
//! assert_eq!(limited.status(), 429);
//! assert_eq!(limited.headers()["retry-after"], "60");
//! assert_eq!(limited.headers()["ratelimit-policy"], r#""per-key";q=1;w=60"#);
//! assert!(limited.extensions().get::<tollgate::ApiError>().is_some());
//! let body = String::from_utf8(limited.into_body())?;
//! assert!(body.contains(r#""code":"rate_limit_exceeded","message":"Rate limit exceeded: 1 calls per 60 seconds""#), "{body}");
//! # Ok(()) }
//! ```
//!
//! [`ApiError`]: tollgate::ApiError

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::RateLimitLayer;
pub use service::RateLimit;
