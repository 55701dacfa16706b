//! Credits, usage limits and storage quotas.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{from_unix, month_start, next_month_start};
use crate::model::AccountState;
use crate::{Rejection, StoreError, detach};

use super::{Reservation, Store, nameable, non_negative};

impl Store {
    /// Takes `cost` credits from an account and counts one request against its
    /// monthly usage limit, in one conditional statement that can never take
    /// the balance below zero, however many run at once.
    ///
    /// Refused with `account_suspended`, `usage_limit_exceeded` (with
    /// `Retry-After` to the next month) or `insufficient_credits`; with
    /// `invalid_key` when no account has that id (the key's account is
    /// gone), and with a store error for a negative `cost`.
    pub async fn reserve(&self, account_id: &str, cost: i64) -> Result<Reservation, Rejection> {
        non_negative("cost", cost)?;
        if !nameable(account_id) {
            return Err(Rejection::InvalidKey);
        }
        for _ in 0..3 {
            let now = self.now();
            let period = month_start(now);
            if let Some(reserved) = self.backend().reserve(account_id, cost, period).await? {
                return Ok(Reservation {
                    account_id: account_id.to_owned(),
                    cost,
                    period: reserved.period,
                    remaining: reserved.balance,
                    released: Arc::default(),
                });
            }
            // Nothing taken: find out why. The row may have changed since
            // (a top-up); then try again.
            let Some(row) = self.backend().account(account_id).await? else {
                return Err(Rejection::InvalidKey);
            };
            if AccountState::parse(&row.state) != AccountState::Active {
                self.inner.cache.remove_account(account_id);
                return Err(Rejection::AccountSuspended);
            }
            let used = if row.usage_period >= period {
                row.usage_count
            } else {
                0
            };
            if let Some(limit) = row.usage_limit.filter(|&l| used >= l) {
                let next = from_unix(next_month_start(now));
                let retry_after = next.duration_since(now).unwrap_or(Duration::from_secs(1));
                return Err(Rejection::UsageLimitExceeded { limit, retry_after });
            }
            if row.balance < cost {
                return Err(Rejection::InsufficientCredits {
                    required: cost,
                    available: row.balance,
                });
            }
        }
        let available = self
            .backend()
            .account(account_id)
            .await?
            .map_or(0, |r| r.balance);
        Err(Rejection::InsufficientCredits {
            required: cost,
            available,
        })
    }

    /// Gives back a reservation's credits and usage (the request failed),
    /// once however many clones of it are released.
    ///
    /// The release runs on a task of its own, so a caller dropped meanwhile
    /// (its request cut off) does not cut it off. One that certainly did not
    /// land (no connection was had, or the database refused it for a lock)
    /// is tried again, 0.1 s and then 1 s later, and if it still has not
    /// landed, a later call may try again. One that failed otherwise once
    /// sent is not repeated, by it or a later call: it may have landed, and
    /// giving the credits back twice would hand out free calls.
    pub async fn release(&self, reservation: Reservation) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        if reservation.released.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let store = self.clone();
        let work = async move {
            let (account, cost, period) = (
                &reservation.account_id,
                reservation.cost,
                reservation.period,
            );
            let released = detach::persistently(detach::never_landed, || {
                store.backend().release(account, cost, period)
            })
            .await;
            if released.as_ref().is_err_and(detach::never_landed) {
                reservation.released.store(false, Ordering::Release);
            }
            released
        };
        detach::finish(self.writes(), work)
            .await
            .unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed)))
    }

    /// Counts `bytes` of new storage against the account's quota, atomically;
    /// the bytes now in use, or `storage_quota_exceeded`.
    pub async fn add_storage(&self, account_id: &str, bytes: i64) -> Result<i64, Rejection> {
        if bytes < 0 {
            return Err(
                StoreError::InvalidInput(format!("storage of {bytes} bytes is negative")).into(),
            );
        }
        if !nameable(account_id) {
            return Err(StoreError::AccountNotFound(account_id.to_owned()).into());
        }
        if let Some(used) = self.backend().add_storage(account_id, bytes).await? {
            return Ok(used);
        }
        let row = self
            .backend()
            .account(account_id)
            .await?
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_owned()))?;
        Err(Rejection::StorageQuotaExceeded {
            // Unlimited, and refused only because the sum would overflow.
            quota: row.storage_quota.unwrap_or(i64::MAX),
            used: row.storage_used,
            requested: bytes,
        })
    }

    /// Frees `bytes` of storage (a file was deleted).
    pub async fn remove_storage(&self, account_id: &str, bytes: i64) -> Result<(), StoreError> {
        non_negative("bytes", bytes)?;
        if !nameable(account_id) {
            return Ok(());
        }
        self.backend().remove_storage(account_id, bytes).await
    }
}
