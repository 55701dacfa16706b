//! Accounts, keys and authenticating a presented key.

use std::sync::Arc;
use std::time::SystemTime;

use crate::backend::{AccountRow, KeyRow};
use crate::cache::CachedKey;
use crate::clock::unix;
use crate::error::quoted;
use crate::key::{self, Presented};
use crate::model::{
    Account, AccountState, CreatedKey, KeyInfo, Limits, NewAccount, NewKey, Principal,
    PrincipalInner, check_account_id, check_scope, join_scopes, split_scopes,
};
use crate::{Rejection, StoreError};

use super::{MAX_KEY_NAME, Store, nameable, non_negative};

impl Store {
    /// Creates an account (`accounts create`); an id taken already is
    /// [`StoreError::AccountExists`], and the account is left as it was.
    pub async fn create_account(&self, new: NewAccount) -> Result<Account, StoreError> {
        check_account_id(&new.id)?;
        non_negative("credits", new.credits)?;
        if let Some(l) = new.usage_limit {
            non_negative("usage limit", l)?;
        }
        if let Some(q) = new.storage_quota {
            non_negative("storage quota", q)?;
        }
        let row = AccountRow {
            id: new.id.clone(),
            state: AccountState::Active.as_str().to_owned(),
            balance: new.credits,
            usage_limit: new.usage_limit,
            usage_count: 0,
            usage_period: 0,
            storage_quota: new.storage_quota,
            storage_used: 0,
            created_at: unix(self.now()),
        };
        if !self.backend().insert_account(row).await? {
            return Err(StoreError::AccountExists(new.id));
        }
        self.account(&new.id).await
    }

    /// Loads an account (`accounts show`).
    pub async fn account(&self, id: &str) -> Result<Account, StoreError> {
        if !nameable(id) {
            return Err(StoreError::AccountNotFound(id.to_owned()));
        }
        let row = self.backend().account(id).await?;
        row.map(account_from_row)
            .ok_or_else(|| StoreError::AccountNotFound(id.to_owned()))
    }

    /// Adds credits (`accounts credit`); a negative amount debits, refused when
    /// it would take the balance below zero (or past `i64::MAX`).
    pub async fn credit(&self, id: &str, amount: i64) -> Result<Account, StoreError> {
        if !nameable(id) {
            return Err(StoreError::AccountNotFound(id.to_owned()));
        }
        if self.backend().add_credits(id, amount).await?.is_some() {
            return self.account(id).await;
        }
        let balance = self.account(id).await?.balance;
        Err(StoreError::InvalidInput(if amount < 0 {
            format!(
                "debiting {} would take account {} below zero (balance {balance})",
                amount.unsigned_abs(),
                quoted(id)
            )
        } else {
            format!(
                "crediting {amount} would take account {} past the largest balance, {} \
                 (balance {balance})",
                quoted(id),
                i64::MAX
            )
        }))
    }

    /// Suspends an account (`accounts suspend`): its requests get
    /// `account_suspended`. This node's cache forgets the account's keys at
    /// once, even if the call fails, as [`revoke_key`](Self::revoke_key)'s does.
    pub async fn suspend(&self, id: &str) -> Result<Account, StoreError> {
        self.set_state(id, AccountState::Suspended).await
    }

    /// Resumes a suspended account (`accounts resume`); this node's cache
    /// forgets the account's keys as for [`suspend`](Self::suspend).
    pub async fn resume(&self, id: &str) -> Result<Account, StoreError> {
        self.set_state(id, AccountState::Active).await
    }

    async fn set_state(&self, id: &str, state: AccountState) -> Result<Account, StoreError> {
        if !nameable(id) {
            return Err(StoreError::AccountNotFound(id.to_owned()));
        }
        // Forgotten whatever the outcome (see `revoke_key`).
        self.inner.cache.remove_account(id);
        let changed = self.backend().set_account_state(id, state.as_str()).await;
        self.inner.cache.remove_account(id);
        if !changed? {
            return Err(StoreError::AccountNotFound(id.to_owned()));
        }
        self.account(id).await
    }

    /// Sets an account's monthly usage limit and storage quota.
    pub async fn set_limits(&self, id: &str, limits: Limits) -> Result<Account, StoreError> {
        if let Some(l) = limits.usage_limit {
            non_negative("usage limit", l)?;
        }
        if let Some(q) = limits.storage_quota {
            non_negative("storage quota", q)?;
        }
        if !nameable(id)
            || !self
                .backend()
                .set_limits(id, limits.usage_limit, limits.storage_quota)
                .await?
        {
            return Err(StoreError::AccountNotFound(id.to_owned()));
        }
        self.account(id).await
    }

    // ---- keys ----------------------------------------------------------

    /// Creates a key (`keys create`). The whole key is in the result only:
    /// the store keeps its SHA-256 and display prefix.
    pub async fn create_key(&self, new: NewKey) -> Result<CreatedKey, StoreError> {
        self.account(&new.account_id).await?;
        for scope in &new.scopes {
            check_scope(scope)?;
        }
        if let Some(name) = &new.name {
            let valid = (1..=MAX_KEY_NAME).contains(&name.chars().count())
                && !name.chars().any(char::is_control);
            if !valid {
                return Err(StoreError::InvalidInput(format!(
                    "key name {} must be 1-{MAX_KEY_NAME} characters with no control \
                     characters (tabs, newlines, escapes)",
                    quoted(name)
                )));
            }
        }
        let prefix = new.prefix.as_deref().unwrap_or(&self.inner.key_prefix);
        if !key::valid_prefix(prefix) {
            return Err(StoreError::InvalidInput(format!(
                "key prefix {} must be 1-32 of [A-Za-z0-9_] ending in '_'",
                quoted(prefix)
            )));
        }
        let now = self.now();
        let expires_at = match (new.expires_at, new.expires_in) {
            (Some(at), _) => Some(unix(at)),
            (None, Some(ttl)) => Some(unix(now.checked_add(ttl).ok_or_else(|| {
                StoreError::InvalidInput(format!(
                    "an expiry {}s from now is past what a time can hold",
                    ttl.as_secs()
                ))
            })?)),
            (None, None) => None,
        };
        let (whole, id) = key::generate(prefix)?;
        let scopes: Vec<String> = dedup(new.scopes);
        let row = KeyRow {
            id: id.clone(),
            account_id: new.account_id,
            key_hash: key::hash(&whole).to_vec(),
            display_prefix: format!("{prefix}{id}"),
            scopes: join_scopes(&scopes),
            name: new.name,
            created_at: unix(now),
            expires_at,
            revoked_at: None,
        };
        let info = key_info(row.clone());
        self.backend().insert_key(row).await?;
        Ok(CreatedKey { key: whole, info })
    }

    /// Every key, or one account's (`keys list`), oldest first; keys made
    /// in the same second by id.
    pub async fn list_keys(&self, account_id: Option<&str>) -> Result<Vec<KeyInfo>, StoreError> {
        if !account_id.is_none_or(nameable) {
            return Ok(Vec::new());
        }
        let mut rows = self.backend().list_keys(account_id).await?;
        // Here, not in SQL: Postgres would order ids by the database's
        // collation, SQLite byte by byte.
        rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(rows.into_iter().map(key_info).collect())
    }

    /// Loads a key by id (or by the whole key). Text that is neither (not 12
    /// characters, nor a key) is `InvalidInput`, and is not repeated in it;
    /// so is a whole key that starts with a stored key's id but is not that
    /// key (a slip in copying it).
    pub async fn key(&self, id_or_key: &str) -> Result<KeyInfo, StoreError> {
        self.stored_key(id_or_key).await.map(key_info)
    }

    /// The row of the key `id_or_key` names: by its id, or by the whole key,
    /// which must then be the key stored under its id.
    async fn stored_key(&self, id_or_key: &str) -> Result<KeyRow, StoreError> {
        let id = key_id_of(id_or_key)?;
        let Some((row, _)) = self.backend().key(id).await? else {
            return Err(StoreError::KeyNotFound(id.to_owned()));
        };
        if let Some(presented) = Presented::parse(id_or_key)
            && !key::hashes_match(&row.key_hash, &presented.hash())
        {
            return Err(StoreError::InvalidInput(format!(
                "the key given starts with the id of key {id} but is not that key: check it \
                 was copied whole"
            )));
        }
        Ok(row)
    }

    /// Revokes a key by id (or by the whole key) (`keys revoke`): from now on
    /// it gets `deactivated_key`. This node's cache forgets it at once, even
    /// if the call fails (the revocation may have landed though its answer
    /// was lost). Text that is neither an id nor a key is `InvalidInput`, as
    /// for [`key`](Self::key), and so is a whole key that is not the key
    /// stored under its id: nothing is revoked then.
    pub async fn revoke_key(&self, id_or_key: &str) -> Result<KeyInfo, StoreError> {
        if Presented::parse(id_or_key).is_some() {
            self.stored_key(id_or_key).await?;
        }
        let id = key_id_of(id_or_key)?;
        // Forgotten before the statement, for a call dropped while it runs,
        // and again after it whatever its outcome: a statement that landed
        // though its answer was lost (the connection dropped on the way
        // back) has taken effect, and a lookup that read the row before it
        // landed must not cache what it read.
        self.inner.cache.remove(id);
        let revoked = self.backend().revoke_key(id, unix(self.now())).await;
        self.inner.cache.remove(id);
        if !revoked? {
            return Err(StoreError::KeyNotFound(id.to_owned()));
        }
        self.key(id).await
    }

    // ---- authentication ------------------------------------------------

    /// Authenticates a presented key from the cache alone: `None` when the
    /// cache does not know the key's id (then call [`authenticate`](Self::authenticate)).
    ///
    /// Missing, malformed or unknown → `invalid_key`; expired → `expired_key`;
    /// revoked → `deactivated_key`; account suspended → `account_suspended`.
    pub fn authenticate_cached(&self, presented: &str) -> Option<Result<Principal, Rejection>> {
        let Some(p) = Presented::parse(presented) else {
            return Some(Err(Rejection::InvalidKey));
        };
        let now = self.now();
        let hash = p.hash();
        let cached = self
            .inner
            .cache
            .with(p.id, now, |cached| judge(cached, &hash, now));
        // An id no key has, remembered so: refused as fast as a key's.
        cached.or_else(|| {
            (self.inner.cache.is_unknown(p.id, now)).then_some(Err(Rejection::InvalidKey))
        })
    }

    /// Authenticates a presented key, from the cache when it can.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, Rejection> {
        if let Some(verdict) = self.authenticate_cached(presented) {
            return verdict;
        }
        let Some(p) = Presented::parse(presented) else {
            return Err(Rejection::InvalidKey);
        };
        let generation = self.inner.cache.generation();
        // Read before the row: an entry then never outlives the TTL counted
        // from when the database was asked.
        let now = self.now();
        let Some((row, account_state)) = self.backend().key(p.id).await? else {
            self.inner
                .cache
                .insert_unknown(p.id.to_owned(), now, generation);
            return Err(Rejection::InvalidKey);
        };
        let Ok(hash) = <[u8; 32]>::try_from(row.key_hash.as_slice()) else {
            return Err(Rejection::InvalidKey);
        };
        let cached = CachedKey {
            hash,
            principal: Principal {
                inner: Arc::new(PrincipalInner {
                    key_id: row.id.as_str().into(),
                    account_id: row.account_id,
                    scopes: split_scopes(&row.scopes).into_boxed_slice(),
                }),
            },
            expires_at: row.expires_at,
            revoked: row.revoked_at.is_some(),
            account_active: AccountState::parse(&account_state) == AccountState::Active,
        };
        // Judged at the time it is answered (a key that expired while the
        // database was asked is expired); cached from the time it was asked.
        let verdict = judge(&cached, &p.hash(), self.now());
        self.inner.cache.insert(row.id, cached, now, generation);
        verdict
    }
}

/// The verdict on a presented key whose hash is `hash`, given what is stored.
fn judge(cached: &CachedKey, hash: &key::KeyHash, now: SystemTime) -> Result<Principal, Rejection> {
    if !key::hashes_match(&cached.hash, hash) {
        return Err(Rejection::InvalidKey);
    }
    if cached.revoked {
        return Err(Rejection::DeactivatedKey);
    }
    if cached.expires_at.is_some_and(|e| unix(now) >= e) {
        return Err(Rejection::ExpiredKey);
    }
    if !cached.account_active {
        return Err(Rejection::AccountSuspended);
    }
    Ok(cached.principal.clone())
}

fn account_from_row(row: AccountRow) -> Account {
    Account {
        state: AccountState::parse(&row.state),
        id: row.id,
        balance: row.balance,
        usage_limit: row.usage_limit,
        usage_count: row.usage_count,
        usage_period: row.usage_period,
        storage_quota: row.storage_quota,
        storage_used: row.storage_used,
        created_at: row.created_at,
    }
}

fn key_info(row: KeyRow) -> KeyInfo {
    KeyInfo {
        scopes: split_scopes(&row.scopes),
        id: row.id,
        account_id: row.account_id,
        display_prefix: row.display_prefix,
        name: row.name,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

/// A key id, from an id or a whole key. Text that is neither is refused
/// without being repeated: a whole key pasted with a character too many or
/// too few is a live secret, and would be printed in the error.
pub(super) fn key_id_of(id_or_key: &str) -> Result<&str, StoreError> {
    match Presented::parse(id_or_key) {
        Some(p) => Ok(p.id),
        // Ids are base62: anything else of that length is no id either.
        None if id_or_key.len() == crate::key::ID_LEN
            && id_or_key.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(id_or_key)
        }
        None => Err(StoreError::InvalidInput(format!(
            "{} characters are neither a key id ({} letters and digits, as `keys list` shows \
             it) nor a whole API key: check it was copied whole",
            id_or_key.chars().count(),
            crate::key::ID_LEN
        ))),
    }
}

fn dedup(scopes: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for s in scopes {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}
