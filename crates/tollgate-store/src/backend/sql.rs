//! The SQLite and Postgres backends: one body of code, written once in a
//! macro and compiled for each driver. The SQL is the same on both (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`, `CASE`), so a behaviour tested on
//! one is the same statement on the other, but for three the macro is given:
//! the purge's batches name the row address each has (`rowid`, `ctid`), a
//! charge is one statement each its own way (`RESERVE_POSTGRES`), and the
//! charges kept are read from a JSON list each its own way.

use sqlx::Row;

use super::OpenedFile;
use super::{
    AccountBackend, AccountRow, Backend, BoxFuture, Hold, IdempotencyBackend, IdempotencyRow,
    KeyBackend, KeyRow, LockToken, Reserved,
};
use crate::StoreError;

// The column lists are macros, not constants, so that the statements built
// from them with `concat!` are `&'static str`: sqlx takes only those (or SQL
// marked audited) as a query, and no statement is formatted per call.

/// The columns of `accounts`, which `account_row` reads.
macro_rules! account_columns {
    () => {
        "id, state, balance, usage_limit, usage_count, usage_period, \
         storage_quota, storage_used, created_at"
    };
}

/// The columns of `api_keys` (as `k`), which `key_row` reads.
macro_rules! key_columns {
    () => {
        "k.id, k.account_id, k.key_hash, k.display_prefix, k.scopes, k.name, \
         k.created_at, k.expires_at, k.revoked_at"
    };
}

/// The columns of `idempotency`, which `idem_row` reads.
macro_rules! idempotency_columns {
    () => {
        "api_key_id, idem_key, fingerprint, state, locked_until, status, \
         headers, body, error, created_at, expires_at, charge_id"
    };
}

/// Takes the credits, counts the request and records the charge in one
/// statement, on Postgres: the row lock (Postgres re-checks the `WHERE` on the
/// latest row version after waiting for it) makes "read balance, then write"
/// a single step, so concurrent charges can never overdraw, and one
/// statement holds the lock for no round trip of its own.
///
/// The usage period only moves forward: a node whose clock is a little behind
/// (still in last month while another has begun this one) counts against the
/// stored month rather than resetting it.
const RESERVE_POSTGRES: &str = "WITH taken AS (UPDATE accounts SET balance = balance - $2, \
     usage_count = CASE WHEN usage_period >= $3 THEN usage_count + 1 ELSE 1 END, \
     usage_period = CASE WHEN usage_period > $3 THEN usage_period ELSE $3 END \
     WHERE id = $1 AND state = 'active' AND balance >= $2 \
     AND (usage_limit IS NULL OR (CASE WHEN usage_period >= $3 THEN usage_count ELSE 0 END) < usage_limit) \
     RETURNING balance, usage_period) \
     INSERT INTO reservations (id, account_id, cost, period, expires_at, remaining) \
     SELECT $4, $1, $2, usage_period, $5, balance FROM taken \
     RETURNING remaining, period";
/// [`RESERVE_POSTGRES`] on SQLite, which has no `UPDATE` in a `WITH`: the
/// charge is recorded if the account can pay, and the migration's trigger on
/// `reservations` takes the credits and counts the request, in the same
/// statement. SQLite runs one writer at a time, and a statement holds the
/// write lock from its start, so the check and the taking are one step; a
/// transaction of several statements would hold that lock while the task
/// waits its turn between them, and every other writer would sleep in
/// SQLite's busy handler (a charge took four times as long).
const RESERVE_SQLITE: &str = "INSERT INTO reservations (id, account_id, cost, period, expires_at, remaining) \
     SELECT $4, id, $2, CASE WHEN usage_period > $3 THEN usage_period ELSE $3 END, $5, balance - $2 \
     FROM accounts WHERE id = $1 AND state = 'active' AND balance >= $2 \
     AND (usage_limit IS NULL OR (CASE WHEN usage_period >= $3 THEN usage_count ELSE 0 END) < usage_limit) \
     RETURNING remaining, period";
/// Gives credits back. Saturates at the largest balance rather than overflow
/// (SQLite would store an overflowing sum as a float, which no read accepts).
/// The request is uncounted from the month the charge counted it in (`$3`,
/// the period it recorded), unless that month is over.
const RELEASE: &str = "UPDATE accounts SET balance = \
     CASE WHEN balance <= 9223372036854775807 - $2 THEN balance + $2 ELSE 9223372036854775807 END, \
     usage_count = CASE WHEN usage_period = $3 AND usage_count > 0 THEN usage_count - 1 ELSE usage_count END \
     WHERE id = $1";

/// How many expired idempotency records one purge statement deletes. A
/// statement holds SQLite's write lock (the one writer it allows) until it
/// ends, and records keep bodies of up to 10 MiB: a backlog deleted in one
/// statement would hold back every charge and claim until it was gone. Two
/// under test, so that the loop runs.
const PURGE_BATCH: u32 = if cfg!(test) { 2 } else { 1000 };

macro_rules! sql_backend {
    // `$row` names a row's physical address (`rowid`, `ctid`): the purge
    // picks a batch by it, which both look up directly.
    // `$reserve` is the statement that charges (see `RESERVE_POSTGRES`),
    // `$commit` the one that deletes the records of charges kept.
    ($name:ident, $db:ty, $row:literal, $reserve:ident, $commit:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug)]
        pub struct $name {
            pub(crate) pool: sqlx::Pool<$db>,
            /// The file the pool opened, when one is watched.
            file: Option<std::sync::Arc<OpenedFile>>,
        }

        impl $name {
            /// A backend over an open pool whose schema is migrated.
            pub fn from_pool(pool: sqlx::Pool<$db>) -> Self {
                $name { pool, file: None }
            }

            /// The connection pool.
            pub fn pool(&self) -> &sqlx::Pool<$db> {
                &self.pool
            }

            /// The pool, for a call: an error while the watched file is
            /// gone.
            fn db(&self) -> Result<&sqlx::Pool<$db>, sqlx::Error> {
                if let Some(file) = &self.file {
                    file.check()?;
                }
                Ok(&self.pool)
            }

            fn account_row(row: &<$db as sqlx::Database>::Row) -> Result<AccountRow, sqlx::Error> {
                Ok(AccountRow {
                    id: row.try_get("id")?,
                    state: row.try_get("state")?,
                    balance: row.try_get("balance")?,
                    usage_limit: row.try_get("usage_limit")?,
                    usage_count: row.try_get("usage_count")?,
                    usage_period: row.try_get("usage_period")?,
                    storage_quota: row.try_get("storage_quota")?,
                    storage_used: row.try_get("storage_used")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn key_row(row: &<$db as sqlx::Database>::Row) -> Result<KeyRow, sqlx::Error> {
                Ok(KeyRow {
                    id: row.try_get("id")?,
                    account_id: row.try_get("account_id")?,
                    key_hash: row.try_get("key_hash")?,
                    display_prefix: row.try_get("display_prefix")?,
                    scopes: row.try_get("scopes")?,
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            }

            fn idem_row(row: &<$db as sqlx::Database>::Row) -> Result<IdempotencyRow, sqlx::Error> {
                Ok(IdempotencyRow {
                    api_key_id: row.try_get("api_key_id")?,
                    idem_key: row.try_get("idem_key")?,
                    fingerprint: row.try_get("fingerprint")?,
                    state: row.try_get("state")?,
                    locked_until: row.try_get("locked_until")?,
                    status: row.try_get("status")?,
                    headers: row.try_get("headers")?,
                    body: row.try_get("body")?,
                    error: row.try_get("error")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    charge_id: row.try_get("charge_id")?,
                })
            }
        }

        impl AccountBackend for $name {
            fn insert_account(&self, row: AccountRow) -> BoxFuture<'_, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(concat!("INSERT INTO accounts (", account_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (id) DO NOTHING"))
                    .bind(row.id)
                    .bind(row.state)
                    .bind(row.balance)
                    .bind(row.usage_limit)
                    .bind(row.usage_count)
                    .bind(row.usage_period)
                    .bind(row.storage_quota)
                    .bind(row.storage_used)
                    .bind(row.created_at)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn account<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<AccountRow>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(concat!("SELECT ", account_columns!(), " FROM accounts WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(self.db()?)
                        .await?;
                    Ok(row.as_ref().map(Self::account_row).transpose()?)
                })
            }

            fn set_account_state<'a>(
                &'a self,
                id: &'a str,
                state: &'static str,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query("UPDATE accounts SET state = $2 WHERE id = $1")
                        .bind(id)
                        .bind(state)
                        .execute(self.db()?)
                        .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn add_credits<'a>(
                &'a self,
                id: &'a str,
                amount: i64,
            ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(
                        // Written so that neither test can overflow (SQLite
                        // would turn the sum into a float and store it).
                        "UPDATE accounts SET balance = balance + $2 WHERE id = $1 AND \
                         CASE WHEN $2 >= 0 THEN balance <= 9223372036854775807 - $2 \
                         ELSE balance + $2 >= 0 END RETURNING balance",
                    )
                    .bind(id)
                    .bind(amount)
                    .fetch_optional(self.db()?)
                    .await?;
                    Ok(row.map(|r| r.try_get::<i64, _>("balance")).transpose()?)
                })
            }

            fn set_limits<'a>(
                &'a self,
                id: &'a str,
                usage_limit: Option<i64>,
                storage_quota: Option<i64>,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE accounts SET usage_limit = $2, storage_quota = $3 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(usage_limit)
                    .bind(storage_quota)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn reserve<'a>(
                &'a self,
                id: &'a str,
                cost: i64,
                period: i64,
                hold: Hold,
            ) -> BoxFuture<'a, Result<Option<Reserved>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query($reserve)
                        .bind(id)
                        .bind(cost)
                        .bind(period)
                        .bind(hold.token)
                        .bind(hold.expires_at)
                        .fetch_optional(self.db()?)
                        .await?;
                    Ok(row
                        .map(|r| {
                            Ok::<_, sqlx::Error>(Reserved {
                                balance: r.try_get("remaining")?,
                                period: r.try_get("period")?,
                            })
                        })
                        .transpose()?)
                })
            }

            fn release(&self, token: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
                Box::pin(async move {
                    let mut tx = self.db()?.begin().await?;
                    let held = sqlx::query(
                        "DELETE FROM reservations WHERE id = $1 RETURNING account_id, cost, period",
                    )
                    .bind(token)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(held) = held else {
                        return Ok(false);
                    };
                    sqlx::query(RELEASE)
                        .bind(held.try_get::<String, _>("account_id")?)
                        .bind(held.try_get::<i64, _>("cost")?)
                        .bind(held.try_get::<i64, _>("period")?)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                })
            }

            fn commit<'a>(&'a self, tokens: &'a [i64]) -> BoxFuture<'a, Result<u64, StoreError>> {
                Box::pin(async move {
                    // The tokens as a JSON array, which both read as a set:
                    // SQLite binds no arrays.
                    let list = serde_json::to_string(tokens).map_err(|e| {
                        StoreError::InvalidInput(format!("charges to keep: {e}"))
                    })?;
                    let done = sqlx::query($commit).bind(list).execute(self.db()?).await?;
                    Ok(done.rows_affected())
                })
            }

            fn forget_stored_charges(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "DELETE FROM reservations WHERE expires_at <= $1 AND id IN \
                         (SELECT charge_id FROM idempotency WHERE state = 'done' AND charge_id IS NOT NULL)",
                    )
                    .bind(now)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected())
                })
            }

            fn expired_charges(&self, now: i64, limit: u32) -> BoxFuture<'_, Result<Vec<i64>, StoreError>> {
                Box::pin(async move {
                    Ok(sqlx::query_scalar("SELECT id FROM reservations WHERE expires_at <= $1 LIMIT $2")
                        .bind(now)
                        .bind(i64::from(limit))
                        .fetch_all(self.db()?)
                        .await?)
                })
            }

            fn add_storage<'a>(
                &'a self,
                id: &'a str,
                bytes: i64,
            ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(
                        "UPDATE accounts SET storage_used = storage_used + $2 \
                         WHERE id = $1 AND storage_used <= 9223372036854775807 - $2 \
                         AND (storage_quota IS NULL OR storage_used + $2 <= storage_quota) \
                         RETURNING storage_used",
                    )
                    .bind(id)
                    .bind(bytes)
                    .fetch_optional(self.db()?)
                    .await?;
                    Ok(row.map(|r| r.try_get::<i64, _>("storage_used")).transpose()?)
                })
            }

            fn remove_storage<'a>(&'a self, id: &'a str, bytes: i64) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE accounts SET storage_used = \
                         CASE WHEN storage_used > $2 THEN storage_used - $2 ELSE 0 END WHERE id = $1",
                    )
                    .bind(id)
                    .bind(bytes)
                    .execute(self.db()?)
                    .await?;
                    Ok(())
                })
            }
        }

        impl KeyBackend for $name {
            fn insert_key(&self, row: KeyRow) -> BoxFuture<'_, Result<(), StoreError>> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO api_keys (id, account_id, key_hash, display_prefix, scopes, name, \
                         created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(row.id)
                    .bind(row.account_id)
                    .bind(row.key_hash)
                    .bind(row.display_prefix)
                    .bind(row.scopes)
                    .bind(row.name)
                    .bind(row.created_at)
                    .bind(row.expires_at)
                    .bind(row.revoked_at)
                    .execute(self.db()?)
                    .await?;
                    Ok(())
                })
            }

            fn key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<(KeyRow, String)>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(concat!("SELECT ", key_columns!(), ", a.state AS account_state FROM api_keys k \
                         JOIN accounts a ON a.id = k.account_id WHERE k.id = $1"))
                    .bind(id)
                    .fetch_optional(self.db()?)
                    .await?;
                    match row {
                        None => Ok(None),
                        Some(r) => Ok(Some((Self::key_row(&r)?, r.try_get("account_state")?))),
                    }
                })
            }

            fn list_keys<'a>(
                &'a self,
                account_id: Option<&'a str>,
            ) -> BoxFuture<'a, Result<Vec<KeyRow>, StoreError>> {
                Box::pin(async move {
                    let rows = match account_id {
                        Some(account) => {
                            sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys k WHERE k.account_id = $1"))
                            .bind(account)
                            .fetch_all(self.db()?)
                            .await?
                        }
                        None => {
                            sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys k"))
                            .fetch_all(self.db()?)
                            .await?
                        }
                    };
                    Ok(rows.iter().map(Self::key_row).collect::<Result<_, _>>()?)
                })
            }

            fn revoke_key<'a>(&'a self, id: &'a str, now: i64) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }
        }

        impl IdempotencyBackend for $name {
            fn idem_insert(
                &self,
                row: IdempotencyRow,
                token: LockToken,
            ) -> BoxFuture<'_, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "INSERT INTO idempotency (api_key_id, idem_key, fingerprint, state, locked_until, \
                         lock_token, created_at, expires_at) VALUES ($1, $2, $3, 'running', $4, $5, $6, $7) \
                         ON CONFLICT (api_key_id, idem_key) DO NOTHING",
                    )
                    .bind(row.api_key_id)
                    .bind(row.idem_key)
                    .bind(row.fingerprint)
                    .bind(row.locked_until)
                    .bind(token.0)
                    .bind(row.created_at)
                    .bind(row.expires_at)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn idem_get<'a>(
                &'a self,
                api_key_id: &'a str,
                idem_key: &'a str,
            ) -> BoxFuture<'a, Result<Option<IdempotencyRow>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(concat!("SELECT ", idempotency_columns!(), " FROM idempotency WHERE api_key_id = $1 AND idem_key = $2"))
                    .bind(api_key_id)
                    .bind(idem_key)
                    .fetch_optional(self.db()?)
                    .await?;
                    Ok(row.as_ref().map(Self::idem_row).transpose()?)
                })
            }

            fn idem_take_over<'a>(
                &'a self,
                api_key_id: &'a str,
                idem_key: &'a str,
                fingerprint: &'a [u8],
                now: i64,
                locked_until: i64,
                token: LockToken,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE idempotency SET locked_until = $5, lock_token = $6, \
                         expires_at = CASE WHEN expires_at < $5 THEN $5 ELSE expires_at END \
                         WHERE api_key_id = $1 AND idem_key = $2 \
                         AND fingerprint = $3 AND state = 'running' AND locked_until < $4",
                    )
                    .bind(api_key_id)
                    .bind(idem_key)
                    .bind(fingerprint)
                    .bind(now)
                    .bind(locked_until)
                    .bind(token.0)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn idem_complete(
                &self,
                row: IdempotencyRow,
                token: LockToken,
            ) -> BoxFuture<'_, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE idempotency SET state = 'done', status = $3, headers = $4, body = $5, \
                         error = $6, expires_at = $7, charge_id = $9 WHERE api_key_id = $1 \
                         AND idem_key = $2 AND state = 'running' AND lock_token = $8",
                    )
                    .bind(row.api_key_id)
                    .bind(row.idem_key)
                    .bind(row.status)
                    .bind(row.headers)
                    .bind(row.body)
                    .bind(row.error)
                    .bind(row.expires_at)
                    .bind(token.0)
                    .bind(row.charge_id)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn idem_abandon<'a>(
                &'a self,
                api_key_id: &'a str,
                idem_key: &'a str,
                token: LockToken,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "DELETE FROM idempotency WHERE api_key_id = $1 AND idem_key = $2 \
                         AND state = 'running' AND lock_token = $3",
                    )
                    .bind(api_key_id)
                    .bind(idem_key)
                    .bind(token.0)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn idem_renew<'a>(
                &'a self,
                api_key_id: &'a str,
                idem_key: &'a str,
                token: LockToken,
                until: i64,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE idempotency SET \
                         locked_until = CASE WHEN locked_until < $4 THEN $4 ELSE locked_until END, \
                         expires_at = CASE WHEN expires_at < $4 THEN $4 ELSE expires_at END \
                         WHERE api_key_id = $1 AND idem_key = $2 AND state = 'running' AND lock_token = $3",
                    )
                    .bind(api_key_id)
                    .bind(idem_key)
                    .bind(token.0)
                    .bind(until)
                    .execute(self.db()?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn idem_delete_expired<'a>(
                &'a self,
                api_key_id: &'a str,
                idem_key: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    sqlx::query(
                        "DELETE FROM idempotency WHERE api_key_id = $1 AND idem_key = $2 AND expires_at <= $3 \
                         AND (state = 'done' OR locked_until < $3)",
                    )
                    .bind(api_key_id)
                    .bind(idem_key)
                    .bind(now)
                    .execute(self.db()?)
                    .await?;
                    Ok(())
                })
            }

            fn idem_purge(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
                // A batch a statement, until one finds less than a batch. The
                // outer `WHERE` checks expiry again: on Postgres a record
                // claimed anew while the statement waited for its row is
                // judged as it is now, and kept.
                const PURGE: &str = concat!(
                    "DELETE FROM idempotency WHERE ", $row, " IN (SELECT ", $row,
                    " FROM idempotency WHERE expires_at <= $1 AND (state = 'done' OR locked_until < $1) \
                     LIMIT $2) AND expires_at <= $1 AND (state = 'done' OR locked_until < $1)",
                );
                Box::pin(async move {
                    let mut total = 0;
                    loop {
                        let done = sqlx::query(PURGE)
                            .bind(now)
                            .bind(i64::from(PURGE_BATCH))
                            .execute(self.db()?)
                            .await?
                            .rows_affected();
                        total += done;
                        if done < u64::from(PURGE_BATCH) {
                            return Ok(total);
                        }
                    }
                })
            }
        }

    };
}

sql_backend!(
    SqliteBackend,
    sqlx::Sqlite,
    "rowid",
    RESERVE_SQLITE,
    "DELETE FROM reservations WHERE id IN (SELECT value FROM json_each($1))",
    "The embedded backend: one SQLite file in WAL mode, migrated on open."
);
sql_backend!(
    PostgresBackend,
    sqlx::Postgres,
    "ctid",
    RESERVE_POSTGRES,
    "DELETE FROM reservations WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)",
    "The shared backend: a Postgres database used by many nodes at once."
);

impl SqliteBackend {
    /// Fails every call while `file` is removed or replaced.
    pub(crate) fn watching(mut self, file: Option<OpenedFile>) -> Self {
        self.file = file.map(std::sync::Arc::new);
        self
    }
}

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The write-ahead log taken into the file first. Closing the
            // last connection would do it too (and delete the `-wal` and
            // `-shm` files), but not while another process (a server) has
            // the file open. Passive: it does not wait for that other
            // process's readers.
            let checkpoint = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)");
            if let Err(e) = checkpoint.execute(&self.pool).await {
                tracing::warn!("closing the SQLite store: the checkpoint failed: {e}");
            }
            close_pool(&self.pool).await;
        })
    }
}

impl Backend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(close_pool(&self.pool))
    }
}

/// How long [`close_pool`] waits for connections to come back to the pool
/// before it closes it.
const GIVE_BACK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Closes `pool`, every connection of it. A connection is given back to
/// the pool on a task of its own once its call is done, and sqlx's `close`
/// can return with one given back while it waited still open in the pool,
/// closed only when the pool is dropped (a SQLite file's `-wal` and `-shm`
/// files then stay behind a program that exits). So the connections are
/// waited for (at most [`GIVE_BACK_WAIT`]) first: all back in the pool,
/// `close` closes each.
pub(crate) async fn close_pool<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) {
    let given_back = async {
        while pool.num_idle() < pool.size() as usize {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    };
    let _ = tokio::time::timeout(GIVE_BACK_WAIT, given_back).await;
    pool.close().await;
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::Connection;

    use super::*;
    use crate::{Store, StoreOptions};

    /// A `running` record of `key`, locked until `locked_until`, expiring at
    /// `expires_at`.
    fn record(key: &str, locked_until: i64, expires_at: i64) -> IdempotencyRow {
        IdempotencyRow::running("key_1", key, b"fp", locked_until, 0, expires_at)
    }

    /// Purges, at 100, five records expired by then (over two batches and
    /// a part), and keeps one whose lock still holds and one not expired.
    async fn purges_in_batches(store: &Store) {
        let backend = store.backend();
        for i in 0..5 {
            let old = record(&format!("old-{i}"), 0, 10);
            assert!(backend.idem_insert(old, LockToken(1)).await.unwrap());
        }
        let kept = [record("locked", 1_000, 10), record("live", 0, 1_000)];
        for row in kept {
            assert!(backend.idem_insert(row, LockToken(1)).await.unwrap());
        }
        assert_eq!(backend.idem_purge(100).await.unwrap(), 5);
        assert_eq!(backend.idem_purge(100).await.unwrap(), 0);
        for key in ["locked", "live"] {
            assert!(backend.idem_get("key_1", key).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn sqlite_purges_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        purges_in_batches(&Store::open(&url).await.unwrap()).await;
    }

    /// On Postgres (when `TOLLGATE_TEST_DATABASE_URL` is set), a statement
    /// trigger counts what each `DELETE` took: never more than a batch.
    #[tokio::test]
    async fn postgres_purges_in_batches() {
        let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
            eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
            return;
        };
        let schema = format!("tg_store_unit_purge_{}", std::process::id());
        let connect = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
        let mut conn =
            sqlx::PgConnection::connect_with(&connect.options([("search_path", schema.as_str())]))
                .await
                .unwrap();
        // A run that failed here left its schema; its pid may be this one.
        let leftover = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        sqlx::query(sqlx::AssertSqlSafe(leftover))
            .execute(&mut conn)
            .await
            .unwrap();
        let options = StoreOptions::default().schema(schema.clone());
        let store = Store::open_with(&url, options).await.unwrap();
        for statement in [
            "CREATE TABLE purged (n BIGINT NOT NULL)",
            "CREATE FUNCTION count_purged() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN INSERT INTO purged SELECT count(*) FROM gone; RETURN NULL; END $$",
            "CREATE TRIGGER count_purged AFTER DELETE ON idempotency \
             REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION count_purged()",
        ] {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        purges_in_batches(&store).await;
        let counts: Vec<i64> = sqlx::query_scalar("SELECT n FROM purged")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(counts.iter().sum::<i64>(), 5, "{counts:?}");
        let batch = i64::from(PURGE_BATCH);
        assert!(counts.iter().all(|&n| n <= batch), "{counts:?}");
    }
}
