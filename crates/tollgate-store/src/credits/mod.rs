//! Credits and monthly usage: [`CreditsLayer`].
//!
//! The rule: before the handler runs, the route's cost is **reserved** — taken
//! from the balance in one conditional `UPDATE … WHERE balance >= cost`, so no
//! number of concurrent requests, on SQLite or Postgres, can take a balance
//! below zero — and one request is counted against the month's usage limit;
//! the charge is recorded in the same transaction. When the handler succeeds
//! (any status below 400) the reservation is **committed**: the record is
//! deleted after the answer, with others in one write a few milliseconds
//! later (see [`Store::commit`](crate::Store::commit)). When it answers with an
//! error (4xx or 5xx), or its future is dropped (client gone, timeout), the
//! reservation is **released**: credits and usage are given back, and the
//! record deleted in the same transaction, so only work that succeeded is
//! paid for, a retry after a failure is charged once, and a release repeated
//! (by a retry of it, or on another node) gives back nothing more.
//! Taking and giving back run on tasks of their own, so a request dropped
//! midway (while its charge waits for the account's row, say) cannot cut
//! them off; a charge that lands after its request is gone is given back, as
//! is one that lands after the request was answered `service_unavailable`
//! (503, `Retry-After: 1`) for waiting longer than the store's
//! [acquire timeout](crate::StoreOptions::acquire_timeout) on a lock. A
//! release that fails is tried again (twice, 0.1 s and 1 s later) and logged
//! (`tracing`, level error) if it still fails.
//!
//! **A process that stops mid-request** (killed, crashed, its machine gone)
//! leaves its charges recorded but neither kept nor given back: once a
//! charge is older than the [charge hold](crate::StoreOptions::charge_hold)
//! (10 minutes by default), its credits and usage are given back, by the
//! next charge on any node (they look at most once a minute) or by
//! [`Store::release_abandoned_charges`](crate::Store::release_abandoned_charges).
//! So a client whose request was cut off that way, and which retries it,
//! pays once. A request that runs longer than the hold is not charged (its
//! commit finds the charge given back, and logs a warning): set the hold
//! above the longest a request may run. A success's charge is kept while
//! the database is out of reach: the process holds it, and writes it once
//! the database is back (tried every second; one error logged), so no node
//! gives it back meanwhile, unless the process stops first. A success whose
//! answer the [idempotency layer](crate::IdempotencyLayer) outside stores is
//! kept even then: the record names the charge, and no node gives back a
//! charge whose answer is stored (its retries get that answer).
//!
//! Refusals: `account_suspended` (402), `insufficient_credits` (402, details
//! `required` and `available`), `usage_limit_exceeded` (429, `Retry-After`
//! until the next calendar month, UTC). The [`Reservation`](crate::Reservation)
//! is put in the request's extensions for the handler (balance left).
//!
//! The layer needs a [`Principal`](crate::Principal) from an
//! [`AuthLayer`](crate::AuthLayer) outside it; without one it answers `invalid_key`.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tollgate_store::{Gatekeeper, NewAccount, NewKey, Store};
//! use tower::{Layer, Service, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
//! store.create_account(NewAccount::new("acme").credits(1)).await?;
//! let key = store.create_key(NewKey::new("acme", ["scans:write"])).await?;
//!
//! let handler = tower::service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from("scanned")))
//! });
//! let gate = Gatekeeper::new(store.clone());
//! let mut svc = tower::ServiceBuilder::new().layer(gate.auth()).layer(gate.credits(1)).service(handler);
//!
//! for expected in [200, 402] {
//!     let req = Request::post("/v1/scans").header("x-api-key", key.secret()).body(Full::default())?;
//!     let res = svc.ready().await?.call(req).await?;
//!     assert_eq!(res.status(), expected);
//! }
//! assert_eq!(store.account("acme").await?.balance(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod future;
mod layer;
mod service;

pub use future::CreditsFuture;
pub use layer::CreditsLayer;
pub use service::Credits;

/// The charge a response's request made and kept, in the response's
/// extensions: the idempotency layer stores it with the answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeptCharge(pub(crate) i64);
