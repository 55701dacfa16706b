//! Storage behind three small traits, one per concern, so a backend can be
//! swapped without touching the layers. [`SqliteBackend`] (one file, the
//! default) and [`PostgresBackend`] (shared by many nodes) implement them with
//! the same SQL; every method is one statement, atomic on its own, but the
//! purge of expired idempotency records (a statement per thousand) and the
//! release of a charge (its record deleted and its credits given back, in
//! one transaction).
//!
//! Times are Unix seconds computed by the caller from the injected
//! [`Clock`](crate::Clock): the database's own clock is never read.

use std::future::Future;
use std::pin::Pin;

use crate::StoreError;

mod opened_file;
mod sql;

pub(crate) use opened_file::OpenedFile;
pub(crate) use sql::close_pool;
pub use sql::{PostgresBackend, SqliteBackend};

/// A boxed, sendable future, as returned by the backend traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stored account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    /// Account id.
    pub id: String,
    /// `active` or `suspended`.
    pub state: String,
    /// Credit balance, never negative.
    pub balance: i64,
    /// Requests allowed per month, if limited.
    pub usage_limit: Option<i64>,
    /// Requests counted in `usage_period`.
    pub usage_count: i64,
    /// Start of the month `usage_count` is for (Unix seconds).
    pub usage_period: i64,
    /// Bytes of storage allowed, if limited.
    pub storage_quota: Option<i64>,
    /// Bytes of storage in use.
    pub storage_used: i64,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

/// A stored API key: its hash, never the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    /// Lookup id (part of the key, not secret).
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// SHA-256 of the whole key.
    pub key_hash: Vec<u8>,
    /// The first characters of the key, for display.
    pub display_prefix: String,
    /// Scopes, space-separated.
    pub scopes: String,
    /// Optional label.
    pub name: Option<String>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Expiry time (Unix seconds).
    pub expires_at: Option<i64>,
    /// Revocation time (Unix seconds).
    pub revoked_at: Option<i64>,
}

/// A stored idempotency record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRow {
    /// The API key the record belongs to: its id (a custom authenticator's
    /// id that Postgres could not keep, too long or holding a NUL, as
    /// `sha256~` and the id's SHA-256 in hex).
    pub api_key_id: String,
    /// The caller's `Idempotency-Key`.
    pub idem_key: String,
    /// SHA-256 of method, path and query, and body of the first request
    /// (a multipart body without its boundary).
    pub fingerprint: Vec<u8>,
    /// `running` or `done`.
    pub state: String,
    /// A `running` record whose owner has not finished by then may be taken over.
    pub locked_until: i64,
    /// The stored response's status (`done` only).
    pub status: Option<i64>,
    /// The stored response's headers as JSON `[[name, value], …]` (`done` only).
    pub headers: Option<String>,
    /// The stored response's body (`done` only).
    pub body: Option<Vec<u8>>,
    /// The stored response's error as JSON, if it carried one (`done` only).
    pub error: Option<String>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// The record is ignored and purged from then on (Unix seconds).
    pub expires_at: i64,
    /// The charge the request made and kept (`done` only): its record, if a
    /// stopped process left it, is not given back.
    pub charge_id: Option<i64>,
}

impl IdempotencyRow {
    /// A `running` record, as a claim writes it: `key` of `api_key_id`'s,
    /// for the request of `fingerprint`, locked until `locked_until`,
    /// created at `created_at` and ignored from `expires_at` (Unix seconds).
    pub fn running(
        api_key_id: &str,
        key: &str,
        fingerprint: &[u8],
        locked_until: i64,
        created_at: i64,
        expires_at: i64,
    ) -> IdempotencyRow {
        IdempotencyRow {
            api_key_id: api_key_id.to_owned(),
            idem_key: key.to_owned(),
            fingerprint: fingerprint.to_vec(),
            state: "running".to_owned(),
            locked_until,
            status: None,
            headers: None,
            body: None,
            error: None,
            created_at,
            expires_at,
            charge_id: None,
        }
    }
}

/// What [`AccountBackend::reserve`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The balance left.
    pub balance: i64,
    /// The month the request was counted in (its first second, Unix time):
    /// the stored one when another node has already begun a later month.
    pub period: i64,
}

/// How [`AccountBackend::reserve`] records a charge until its request ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The charge's random id.
    pub token: i64,
    /// When its credits are given back if the request has not ended by then
    /// (its process stopped): Unix seconds.
    pub expires_at: i64,
}

/// Accounts: state, credits, usage and storage.
pub trait AccountBackend: Send + Sync + 'static {
    /// Inserts an account; `false` when the id is taken.
    fn insert_account(&self, row: AccountRow) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Loads an account.
    fn account<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<AccountRow>, StoreError>>;
    /// Sets `active` / `suspended`; `false` when the account does not exist.
    fn set_account_state<'a>(
        &'a self,
        id: &'a str,
        state: &'static str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Adds `amount` (negative to debit) unless the balance would go below
    /// zero; the new balance, `None` when refused or not found.
    fn add_credits<'a>(
        &'a self,
        id: &'a str,
        amount: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>>;
    /// Sets the usage limit and storage quota; `false` when not found.
    fn set_limits<'a>(
        &'a self,
        id: &'a str,
        usage_limit: Option<i64>,
        storage_quota: Option<i64>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// In one transaction: if the account is active, has at least `cost`
    /// credits and is under its usage limit for the month starting at
    /// `period`, takes `cost`, counts one request and records the charge as
    /// `hold` (its row kept until the request ends); `None` when nothing was
    /// taken.
    fn reserve<'a>(
        &'a self,
        id: &'a str,
        cost: i64,
        period: i64,
        hold: Hold,
    ) -> BoxFuture<'a, Result<Option<Reserved>, StoreError>>;
    /// In one transaction: deletes the charge `token` and gives back what
    /// [`reserve`](Self::reserve) took (the request uncounted from the month
    /// it was counted in); `false` when there was no such charge (kept,
    /// or given back already), so a release repeated gives back nothing.
    fn release(&self, token: i64) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Keeps the charges `tokens`: deletes their rows; how many there were
    /// (one given back already, its request having outlived its hold, has
    /// none).
    fn commit<'a>(&'a self, tokens: &'a [i64]) -> BoxFuture<'a, Result<u64, StoreError>>;
    /// The tokens of at most `limit` charges whose hold ended at or before
    /// `now` (Unix seconds).
    fn expired_charges(&self, now: i64, limit: u32) -> BoxFuture<'_, Result<Vec<i64>, StoreError>>;
    /// Deletes the charges whose hold ended at or before `now` whose
    /// request's answer an idempotency record stores with them as kept
    /// ([`IdempotencyRow::charge_id`]): a success whose process stopped
    /// before deleting its record, kept rather than given back; how many.
    fn forget_stored_charges(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// Adds `bytes` of storage if within quota; bytes now used, `None` when refused.
    fn add_storage<'a>(
        &'a self,
        id: &'a str,
        bytes: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>>;
    /// Frees `bytes` of storage (not below zero).
    fn remove_storage<'a>(
        &'a self,
        id: &'a str,
        bytes: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// API keys.
pub trait KeyBackend: Send + Sync + 'static {
    /// Inserts a key.
    fn insert_key(&self, row: KeyRow) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Loads a key by lookup id with its account's state.
    fn key<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<(KeyRow, String)>, StoreError>>;
    /// Every key, or an account's, in any order (the store sorts them).
    fn list_keys<'a>(
        &'a self,
        account_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<KeyRow>, StoreError>>;
    /// Marks a key revoked at `now` (kept if already revoked); `false` when not found.
    fn revoke_key<'a>(&'a self, id: &'a str, now: i64) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// Names the request that holds a `running` idempotency record: a random
/// number written to the record when a request claims it or takes it over.
/// The writes only that request may make (renew, complete, abandon) match
/// it, so the lock's time can change under them without losing the owner,
/// and a request whose record was taken over (a new token) can touch it no
/// more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockToken(pub i64);

impl LockToken {
    /// A new token from the system's random source.
    pub(crate) fn random() -> Result<LockToken, StoreError> {
        let mut buf = [0u8; 8];
        getrandom::fill(&mut buf).map_err(StoreError::Random)?;
        Ok(LockToken(i64::from_le_bytes(buf)))
    }
}

/// Idempotency records.
///
/// A `running` record is owned by the request whose [`LockToken`] it holds.
/// Records written before tokens were kept hold none: no request owns them,
/// and they are freed only by a take-over once their lock has ended.
pub trait IdempotencyBackend: Send + Sync + 'static {
    /// Inserts a `running` record owned by `token` unless one exists for the
    /// pair; `true` when inserted.
    fn idem_insert(
        &self,
        row: IdempotencyRow,
        token: LockToken,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Loads the record of a pair.
    fn idem_get<'a>(
        &'a self,
        api_key_id: &'a str,
        idem_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRow>, StoreError>>;
    /// Takes over a `running` record with this fingerprint whose lock ended
    /// before `now`, locking it until `locked_until` and making `token` its
    /// owner; `true` when taken.
    fn idem_take_over<'a>(
        &'a self,
        api_key_id: &'a str,
        idem_key: &'a str,
        fingerprint: &'a [u8],
        now: i64,
        locked_until: i64,
        token: LockToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Stores the response of a record's first request and marks it `done`,
    /// if the record is still `running` and owned by `token`; `false` when
    /// another request has taken it over.
    fn idem_complete(
        &self,
        row: IdempotencyRow,
        token: LockToken,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Deletes a pair's record if still `running` and owned by `token` (the
    /// request failed and may be retried); `false` when it was not.
    fn idem_abandon<'a>(
        &'a self,
        api_key_id: &'a str,
        idem_key: &'a str,
        token: LockToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Moves the lock of a `running` record owned by `token` to `until` if
    /// that is later (and its expiry at least as far); `false` when the
    /// record is no longer owned by `token`.
    fn idem_renew<'a>(
        &'a self,
        api_key_id: &'a str,
        idem_key: &'a str,
        token: LockToken,
        until: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Deletes a pair's record if expired at `now`: past its expiry, and
    /// done or with its lock over (a retention no longer than the lock
    /// expires a running record as its lock ends).
    fn idem_delete_expired<'a>(
        &'a self,
        api_key_id: &'a str,
        idem_key: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Deletes every record expired at `now` (as
    /// [`idem_delete_expired`](Self::idem_delete_expired) tells it); how many.
    /// The SQL backends delete them in batches, a statement each, so that no
    /// statement holds the database's writes back for the whole backlog.
    fn idem_purge(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// A whole backend.
pub trait Backend: AccountBackend + KeyBackend + IdempotencyBackend {
    /// `sqlite` or `postgres`: for logs and reports.
    fn name(&self) -> &'static str;

    /// Closes the backend's connections, once those in use are given back;
    /// calls after it fail. Does nothing unless the backend holds any.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}
