//! Credits and monthly usage: [`CreditsLayer`].
//!
//! The rule: before the handler runs, the route's cost is **reserved** — taken
//! from the balance in one conditional `UPDATE … WHERE balance >= cost`, so no
//! number of concurrent requests, on SQLite or Postgres, can take a balance
//! below zero — and one request is counted against the month's usage limit.
//! When the handler succeeds (any status below 400) the reservation is
//! **committed** (kept; no further write). When it answers with an error (4xx
//! or 5xx), or its future is dropped (client gone, timeout), the reservation
//! is **released**: credits and usage are given back, so only work that
//! succeeded is paid for, and a retry after a failure is charged once.
//! Taking and giving back run on tasks of their own, so a request dropped
//! midway (while its charge waits for the account's row, say) cannot cut
//! them off; a charge that lands after its request is gone is given back, as
//! is one that lands after the request was answered `service_unavailable`
//! (503, `Retry-After: 1`) for waiting longer than the store's
//! [acquire timeout](crate::StoreOptions::acquire_timeout) on a lock. A
//! release that finds no connection, or that the database refuses for a
//! lock (SQLite busy past its busy timeout, a Postgres lock timeout or
//! deadlock: it did not land), is tried again (twice, 0.1 s and 1 s later);
//! one that fails otherwise once sent leaves the credits taken (it may have
//! landed, and a second would hand out free calls) and is logged
//! (`tracing`, level error).
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
