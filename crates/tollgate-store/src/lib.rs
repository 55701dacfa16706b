//! API keys, scopes, accounts, credits, usage quotas and idempotent retries
//! for Tollgate: stored in SQLite by default (one file, no setup) or Postgres
//! when many nodes share them, and enforced by plain tower layers over
//! `http::Request` / `http::Response`.
#![doc = include_str!("docs/overview.md")]

pub mod auth;
pub mod backend;
mod cache;
mod clock;
pub mod credits;
mod detach;
mod error;
mod future;
mod gatekeeper;
pub mod idempotency;
mod key;
mod model;
mod route;
mod store;
mod tenant;

pub use auth::AuthLayer;
pub use clock::{Clock, ManualClock, SystemClock};
pub use credits::CreditsLayer;
pub use error::{Rejection, StoreError, WWW_AUTHENTICATE_VALUE};
pub use future::GateFuture;
pub use gatekeeper::{DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_RETENTION, Gatekeeper};
pub use idempotency::{Idempotency, IdempotencyLayer};
pub use key::DEFAULT_KEY_PREFIX;
pub use model::{
    Account, AccountState, CreatedKey, KeyInfo, KeyState, Limits, NewAccount, NewKey, Principal,
    check_account_id,
};
pub use route::RouteLayer;
pub use store::{
    DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_CHARGE_HOLD, DEFAULT_DATABASE_URL, Reservation,
    SQLITE_BUSY_TIMEOUT, Store, StoreOptions,
};
pub use tenant::Owned;
