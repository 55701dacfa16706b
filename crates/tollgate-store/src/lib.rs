//! API keys, scopes, accounts, credits, usage quotas and idempotent retries
//! for Tollgate: stored in SQLite by default (one file, no setup) or Postgres
//! when many nodes share them, and enforced by tower layers.
#![doc = include_str!("docs/overview.md")]


pub mod backend;
mod cache;
mod clock;
mod error;
mod key;
mod model;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Rejection, StoreError, WWW_AUTHENTICATE_VALUE};
pub use key::DEFAULT_KEY_PREFIX;
pub use model::{
    Account, AccountState, CreatedKey, KeyInfo, KeyState, Limits, NewAccount, NewKey, Principal,
};
pub use store::{DEFAULT_DATABASE_URL, Reservation, Store, StoreOptions};
