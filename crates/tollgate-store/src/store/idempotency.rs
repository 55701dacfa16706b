//! Idempotency records: claims, answers kept for replay, and the purge.

use std::time::Duration;

use crate::backend::{IdempotencyRow, LockToken};
use crate::clock::unix;
use crate::key;
use crate::{StoreError, detach};

use super::{Begin, Store, lock_secs, secs};

impl Store {
    /// Deletes every expired idempotency record; how many. Expired records
    /// are already ignored; this only reclaims space (run it from a timer or cron).
    /// They go a thousand to a statement, so that other writes (charges,
    /// claims) get in between: SQLite lets one writer in at a time. An error
    /// part-way leaves what went before it deleted.
    pub async fn purge_expired_idempotency(&self) -> Result<u64, StoreError> {
        self.backend().idem_purge(unix(self.now())).await
    }

    pub(crate) async fn idempotency_begin(
        &self,
        api_key_id: &str,
        idem_key: &str,
        fingerprint: &[u8],
        retention: Duration,
        lock_timeout: Duration,
    ) -> Result<Begin, StoreError> {
        let token = LockToken::random()?;
        let begun = self
            .begin_with(
                api_key_id,
                idem_key,
                fingerprint,
                retention,
                lock_timeout,
                token,
            )
            .await;
        if let Err(error) = &begun
            && !detach::never_landed(error)
        {
            // A claim may have landed with its answer lost: free the key in
            // case, or it stays `running` under a token no request holds
            // until its lock times out (every retry a 409 till then).
            let (store, scope, key) = (self.clone(), api_key_id.to_owned(), idem_key.to_owned());
            let lock = unix(self.now()).saturating_add(lock_secs(lock_timeout));
            detach::start(
                self.writes(),
                crate::idempotency::abandon(store, scope, key, token, lock),
            );
        }
        begun
    }

    async fn begin_with(
        &self,
        api_key_id: &str,
        idem_key: &str,
        fingerprint: &[u8],
        retention: Duration,
        lock_timeout: Duration,
        token: LockToken,
    ) -> Result<Begin, StoreError> {
        for _ in 0..4 {
            let now = unix(self.now());
            let backend = self.backend();
            backend
                .idem_delete_expired(api_key_id, idem_key, now)
                .await?;
            let locked_until = now.saturating_add(lock_secs(lock_timeout));
            let inserted = backend
                .idem_insert(
                    IdempotencyRow::running(
                        api_key_id,
                        idem_key,
                        fingerprint,
                        locked_until,
                        now,
                        now.saturating_add(secs(retention).max(lock_secs(lock_timeout))),
                    ),
                    token,
                )
                .await?;
            if inserted {
                return Ok(Begin::Started {
                    lock: locked_until,
                    token,
                });
            }
            let Some(row) = backend.idem_get(api_key_id, idem_key).await? else {
                continue; // deleted in between: try to insert again
            };
            // Expired, as the delete above tells it: gone by now.
            if row.expires_at <= now && (row.state == "done" || row.locked_until < now) {
                continue;
            }
            if !key::hashes_match(&row.fingerprint, fingerprint) {
                return Ok(Begin::Reused);
            }
            if row.state == "done" {
                return Ok(Begin::Replay(Box::new(row)));
            }
            // Strictly after: times are whole seconds, so a lock set at 10.9 s
            // to 11 is not over at 11.0; past 11 it has lasted the timeout.
            if row.locked_until < now
                && backend
                    .idem_take_over(api_key_id, idem_key, fingerprint, now, locked_until, token)
                    .await?
            {
                return Ok(Begin::Started {
                    lock: locked_until,
                    token,
                });
            }
            return Ok(Begin::InUse);
        }
        Ok(Begin::InUse)
    }

    /// Stores the outcome of the request holding `token`; `false` when the
    /// key was taken over meanwhile (the outcome of the request that took it
    /// stands).
    pub(crate) async fn idempotency_complete(
        &self,
        row: IdempotencyRow,
        token: LockToken,
    ) -> Result<bool, StoreError> {
        self.backend().idem_complete(row, token).await
    }

    /// Frees a key still held by `token`; `false` when it was not.
    pub(crate) async fn idempotency_abandon(
        &self,
        api_key_id: &str,
        idem_key: &str,
        token: LockToken,
    ) -> Result<bool, StoreError> {
        self.backend()
            .idem_abandon(api_key_id, idem_key, token)
            .await
    }

    /// Holds a key another `lock_timeout` from now; the new lock, or `None`
    /// when the key is no longer held by `token`. `lock` is the lock the
    /// holder last set: when the new one would be no later, nothing is
    /// written.
    pub(crate) async fn idempotency_renew(
        &self,
        api_key_id: &str,
        idem_key: &str,
        token: LockToken,
        lock: i64,
        lock_timeout: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let until = unix(self.now()).saturating_add(lock_secs(lock_timeout));
        if until <= lock {
            return Ok(Some(lock));
        }
        let renewed = self
            .backend()
            .idem_renew(api_key_id, idem_key, token, until)
            .await?;
        Ok(renewed.then_some(until))
    }
}
