//! GCRA rate limiting for HTTP APIs that answer from a Tollgate catalog.
//!
//! - [`Policy`]: named quotas ("100 calls per 60 seconds, bursts of 100"),
//!   enforced with the generic cell rate algorithm; weighted costs and peeks.
//! - [`MemoryStore`] / [`KeyedLimiter`] / [`DirectLimiter`]: in-process state,
//!   lock-free on the hot path, with bounded memory and no background thread.
//! - [`RedisStore`]: state shared by every node, one round trip per decision,
//!   timed by Redis's own clock, on one server, a Redis Cluster or a
//!   Sentinel service's primary (followed through failovers); concurrent
//!   decisions batched into one script call (on a Cluster, each is its own
//!   call); fails open or closed by config.
//! - [`Limiter`]: several policies per request (per key *and* per IP), each
//!   with a [`KeyExtractor`] ([`ApiKey`], [`ClientIp`] that reads proxy
//!   headers only through trusted proxies), on a [`Backend`] chosen by URL.
//! - [`RateLimitLayer`]: the tower layer. Refusals are 429
//!   `rate_limit_exceeded` in the catalog's dialect with `Retry-After` (400
//!   `validation_error` for a request that costs more than a burst); every
//!   response a policy applied to carries the IETF `RateLimit-Policy` and
//!   `RateLimit` fields ([`headers`] says which draft), also the 500 or
//!   504 that `tollgate-axum`'s layer outside makes in place of a response
//!   that never came (a panic, a timeout: see [`tollgate::layer_fields`]).
//! - Time is injected through [`Clock`]: [`MonotonicClock`] by default,
//!   `QuantaClock` (TSC, feature `quanta`) where the clock read shows in
//!   profiles; tests use [`FakeClock`].
//!
//! Features: `redis` (the Redis store), `axum` (reads axum's `ConnectInfo`
//! peer address, and `OriginalUri` for the `instance` of a refusal under
//! `Router::nest`), `quanta` (`QuantaClock`), all on by default; `rustls`
//! (`rediss://` URLs: the Redis store over TLS), off by default.
//!
//! An axum app limited to 100 calls per 60 s per API key and 1000 per 60 s per
//! client IP, behind a proxy at 10.0.0.0/8:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use axum::{Router, routing::get, extract::ConnectInfo, body::Body};
//! use tollgate_limit::{ApiKey, Backend, ClientIp, Limiter, Policy, RateLimitLayer};
//! use tower::ServiceExt;
//!
//! let limiter = Limiter::builder()
//!     .policy(Policy::new("per-key", 100, Duration::from_secs(60))?, ApiKey::presented())
//!     .policy(
//!         Policy::new("per-ip", 1000, Duration::from_secs(60))?,
//!         ClientIp::new().trust_proxy("10.0.0.0/8")?,
//!     )
//!     // Or "redis://127.0.0.1:6379" to share the limits between nodes.
//!     .backend(Backend::from_url("memory://")?)
//!     .build();
//! let app = Router::new().route("/v1/scans", get(|| async { "ok" })).layer(RateLimitLayer::new(limiter));
//! // Served with `app.into_make_service_with_connect_info::<SocketAddr>()`.
//!
//! let mut request = http::Request::builder()
//!     .uri("/v1/scans")
//!     .header("authorization", "Bearer sk_1")
//!     .body(Body::empty())?;
//! request.extensions_mut().insert(ConnectInfo("198.51.100.7:4711".parse::<SocketAddr>()?));
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["ratelimit-policy"], r#""per-key";q=100;w=60, "per-ip";q=1000;w=60"#);
//! assert_eq!(response.headers()["ratelimit"], r#""per-key";r=99;t=1, "per-ip";r=999;t=1"#);
//! # Ok(()) }
//! ```
//!
//! The per-key policy here counts the key as sent, before any
//! authentication: each made-up key gets a budget of its own (the per-IP
//! policy still counts them all). Behind `tollgate-store`'s authentication,
//! count only keys that authenticated: a limiter with
//! [`ApiKey::from_extension()`] as a route layer inside the store's auth
//! layer, on each method router, and the route's own needs (scope, credits,
//! idempotency: `gate.route()`) inside the limiter, so that a refused request
//! is never charged (`tollgate-store`'s crate docs run such an app):
//!
//! ```text
//! let per_key = RateLimitLayer::new(per_key_limiter);   // once; one budget for every route
//! post(create)
//!     .route_layer(gate.route().scope("scans:write").cost(1))   // innermost
//!     .route_layer(per_key.clone())
//!     .route_layer(gate.auth())                                  // outermost: added last
//! ```
//!
//! (a [`Limiter`] is not `Clone`: build its layer once and clone the layer,
//! which shares it, for each method router; on the whole `Router` they would also wrap each route's 405 fallback, so
//! a wrong method without a key would get 401). The auth layer leaves the
//! key's id as the request's [`RateLimitKey`]; the per-IP limiter goes
//! outside it, as `tollgate serve` does. `gate.route()` reuses the principal
//! the auth layer found: the key is looked up once a request. A limiter
//! placed outside the auth layer finds no key and limits nothing (the first
//! request that sent one logs it). Without `ConnectInfo` (served without
//! `into_make_service_with_connect_info`, or with the `axum` feature off and
//! no [`PeerAddr`]), every client shares the per-IP bucket `unknown`, which
//! the first such request logs.
//!
//! With `tollgate-axum`, add its layer after this one
//! (`.layer(RateLimitLayer::new(limiter)).layer(tollgate)`, the outermost
//! last): the 429 then leaves in that layer's dialect and catalog, with the
//! request id.

mod client_ip;
mod clock;
pub mod headers;
mod key;
pub mod layer;
mod limiter;
mod memory;
#[cfg(test)]
mod on_event;
mod policy;
#[cfg(feature = "redis")]
mod redis;

pub use client_ip::{Cidr, CidrError, ClientIp, ForwardedHeader, PeerAddr};
#[cfg(feature = "quanta")]
pub use clock::QuantaClock;
pub use clock::{Clock, FakeClock, MonotonicClock};
pub use key::{ApiKey, Key, KeyExtractor, MAX_KEY_LEN};
pub use layer::{RateLimit, RateLimitLayer};
pub use limiter::{Backend, BackendError, FailMode, Limiter, LimiterBuilder, Outcome, Verdict};
pub use memory::{
    DEFAULT_IDLE_GRACE, DEFAULT_MAX_KEYS, DefaultHasher, DirectLimiter, KeyedLimiter, MemoryStore,
};
pub use policy::{Decision, Policy, PolicyError, PolicyErrorKind};
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_MAX_BATCH, RedisOptions, RedisStore, RedisStoreError};
pub use tollgate::RateLimitKey;
