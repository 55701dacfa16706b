//! Credits, usage limits and storage quotas.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::backend::{Hold, LockToken};
use crate::clock::{from_unix, month_start, next_month_start, unix, unix_up};
use crate::model::AccountState;
use crate::{Rejection, StoreError, detach};

use super::{Reservation, Store, lock_secs, nameable, non_negative};

/// How long the first commit of a batch waits for others to join it.
const COMMIT_BATCH_WAIT: Duration = Duration::from_millis(10);

impl Store {
    /// Takes `cost` credits from an account and counts one request against its
    /// monthly usage limit, in one conditional statement that can never take
    /// the balance below zero, however many run at once, and records the
    /// charge until it is [committed](Self::commit) or
    /// [released](Self::release): one left past the
    /// [charge hold](crate::StoreOptions::charge_hold) is given back.
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
            let hold = Hold {
                token: LockToken::random()?.0,
                expires_at: unix_up(now).saturating_add(lock_secs(self.inner.charge_hold)),
            };
            let reserved = self.backend().reserve(account_id, cost, period, hold);
            if let Some(reserved) = reserved.await? {
                self.look_for_abandoned_charges(unix(now));
                return Ok(Reservation {
                    account_id: account_id.to_owned(),
                    cost,
                    remaining: reserved.balance,
                    token: hold.token,
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
    /// once however many clones of it are released, here or on other nodes:
    /// the charge's record is deleted in the same transaction, and a release
    /// that finds none gives back nothing.
    ///
    /// The release runs on a task of its own, so a caller dropped meanwhile
    /// (its request cut off) does not cut it off. One that fails is tried
    /// again, 0.1 s and then 1 s later (safe, as it gives back at most
    /// once), and if it still fails, a later call may try again; failing
    /// that, the charge is given back when its hold ends.
    pub async fn release(&self, reservation: Reservation) -> Result<(), StoreError> {
        if reservation.released.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let store = self.clone();
        let work = async move {
            let token = reservation.token;
            let released =
                detach::persistently(detach::any_error, || store.backend().release(token)).await;
            if released.is_err() {
                reservation.released.store(false, Ordering::Release);
            }
            released.map(drop)
        };
        detach::finish(self.writes(), work)
            .await
            .unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed)))
    }

    /// Keeps a reservation's credits (the request succeeded): its record is
    /// deleted, so that it is never given back. Records are deleted in
    /// batches, a few milliseconds after the first commit of a batch, on a
    /// task of their own ([`finish_writes`](Self::finish_writes) waits for
    /// it): one write for many commits, where a write each would halve how
    /// many charges a second SQLite takes. A batch that fails (the database
    /// out of reach) is tried again every second until it is written, the
    /// charges kept meanwhile: this store never gives them back, however
    /// long it takes. A process that stops first (or a store whose
    /// [`finish_writes`](Self::finish_writes) has begun, which tries no
    /// more) leaves their records, which are given back when their hold
    /// ends: the side that charges no client for work not done. A charge
    /// whose record is gone already (the request ran past the
    /// [charge hold](crate::StoreOptions::charge_hold), so its credits were
    /// given back) stays given back, and is logged.
    pub fn commit(&self, reservation: Reservation) {
        if reservation.released.load(Ordering::Acquire) {
            return;
        }
        let mut commits = self.commits();
        commits.waiting.push(reservation.token);
        self.schedule_batch(&mut commits, COMMIT_BATCH_WAIT);
    }

    /// The charges committed whose records are not yet deleted.
    fn commits(&self) -> std::sync::MutexGuard<'_, super::Commits> {
        self.inner.commits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a task that deletes the records of the charges committed,
    /// `after` a wait, unless one is due already.
    fn schedule_batch(&self, commits: &mut super::Commits, after: Duration) {
        if std::mem::replace(&mut commits.due, true) {
            return;
        }
        let store = self.clone();
        detach::start(self.writes(), async move {
            tokio::time::sleep(after).await;
            store.delete_committed().await;
        });
    }

    /// Deletes the records of the charges committed since the last batch.
    async fn delete_committed(&self) {
        /// How many records one statement deletes at most.
        const MOST: usize = 500;
        /// How long a failed batch waits to be tried again.
        const AGAIN_AFTER: Duration = Duration::from_secs(1);
        let (fresh, again) = {
            let mut commits = self.commits();
            commits.due = false;
            let fresh = std::mem::take(&mut commits.waiting);
            let again = std::mem::take(&mut commits.again);
            commits.deleting.extend(fresh.iter().chain(&again));
            (fresh, again)
        };
        let batches = fresh.chunks(MOST).map(|chunk| (chunk, false));
        let batches = batches.chain(again.chunks(MOST).map(|chunk| (chunk, true)));
        for (chunk, tried_before) in batches {
            let deleted = self.backend().commit(chunk).await;
            let mut commits = self.commits();
            commits.deleting.retain(|token| !chunk.contains(token));
            match deleted {
                Ok(deleted) => {
                    if std::mem::take(&mut commits.failing) {
                        tracing::info!("the charges of requests that succeeded are kept again");
                    }
                    // A batch tried before may have been deleted by the try
                    // whose answer was lost: its count tells nothing.
                    if deleted < chunk.len() as u64 && !tried_before {
                        tracing::warn!(
                            charges = chunk.len() as u64 - deleted,
                            hold = ?self.inner.charge_hold,
                            "requests ran past the charge hold: their credits were given back, so they were not charged"
                        );
                    }
                }
                Err(error) if self.writes().is_closed() => tracing::error!(
                    charges = chunk.len(),
                    %error,
                    "the charges of requests that succeeded could not be kept before the stop: they are given back when their hold ends"
                ),
                Err(error) => {
                    if !std::mem::replace(&mut commits.failing, true) {
                        tracing::error!(
                            charges = chunk.len(),
                            %error,
                            "the charges of requests that succeeded are not written yet: kept here, tried again every second"
                        );
                    }
                    commits.again.extend_from_slice(chunk);
                    self.schedule_batch(&mut commits, AGAIN_AFTER);
                }
            }
        }
    }

    /// Gives back the credits and usage of every charge whose hold has
    /// ended: its request never ended, its process having stopped
    /// mid-request (killed, crashed, its machine gone). How many. A charge
    /// whose request's answer an idempotency record stores was served (its
    /// process stopped before deleting the record): it is kept. Charges
    /// look for these themselves, at most once a minute; call this to do it
    /// now (at start, say).
    pub async fn release_abandoned_charges(&self) -> Result<u64, StoreError> {
        /// How many charges one query finds.
        const BATCH: u32 = 100;
        // Those whose answer is stored were served: kept, not given back.
        self.backend()
            .forget_stored_charges(unix(self.now()))
            .await?;
        let mut given_back = 0;
        loop {
            let now = unix(self.now());
            let tokens = self.backend().expired_charges(now, BATCH).await?;
            // Charges this store has committed but not yet deleted were kept.
            let abandoned: Vec<i64> = {
                let commits = self.commits();
                tokens
                    .iter()
                    .copied()
                    .filter(|&t| !commits.kept(t))
                    .collect()
            };
            for &token in &abandoned {
                given_back += u64::from(self.backend().release(token).await?);
            }
            if tokens.len() < BATCH as usize || abandoned.is_empty() {
                if given_back > 0 {
                    tracing::warn!(
                        charges = given_back,
                        "gave back the credits of requests whose process stopped before they ended"
                    );
                }
                return Ok(given_back);
            }
        }
    }

    /// Starts [`release_abandoned_charges`](Self::release_abandoned_charges)
    /// on a task of its own if a minute has passed since it last did, so
    /// that a process that stopped mid-request is made good without any
    /// timer of the application's.
    fn look_for_abandoned_charges(&self, now: i64) {
        /// How often charges look, in seconds.
        const EVERY: i64 = 60;
        let next = &self.inner.next_abandoned_check;
        let due = next.load(Ordering::Relaxed);
        if now < due
            || next
                .compare_exchange(
                    due,
                    now.saturating_add(EVERY),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        let store = self.clone();
        detach::start(self.writes(), async move {
            if let Err(error) = store.release_abandoned_charges().await {
                tracing::error!(%error, "the credits of abandoned charges could not be given back");
            }
        });
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
