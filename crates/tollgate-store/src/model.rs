//! What the store keeps: accounts (tenants) and their API keys, and the
//! [`Principal`] an authenticated request carries.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::StoreError;
use crate::error::quoted;

/// Whether an account may make requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountState {
    /// In good standing.
    Active,
    /// Suspended (a payment issue): every request gets `account_suspended`.
    Suspended,
}

impl AccountState {
    /// The stored name: `active` or `suspended`.
    ///
    /// ```
    /// assert_eq!(tollgate_store::AccountState::Suspended.as_str(), "suspended");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Suspended => "suspended",
        }
    }

    pub(crate) fn parse(s: &str) -> AccountState {
        // Anything but "active" is treated as suspended: fail closed.
        if s == "active" {
            AccountState::Active
        } else {
            AccountState::Suspended
        }
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account (tenant): its state, credits and quotas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    pub(crate) id: String,
    pub(crate) state: AccountState,
    pub(crate) balance: i64,
    pub(crate) usage_limit: Option<i64>,
    pub(crate) usage_count: i64,
    pub(crate) usage_period: i64,
    pub(crate) storage_quota: Option<i64>,
    pub(crate) storage_used: i64,
    pub(crate) created_at: i64,
}

impl Account {
    /// The account id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Active or suspended.
    pub fn state(&self) -> AccountState {
        self.state
    }
    /// The credit balance (never negative).
    pub fn balance(&self) -> i64 {
        self.balance
    }
    /// The monthly usage limit (requests), if any.
    pub fn usage_limit(&self) -> Option<i64> {
        self.usage_limit
    }
    /// Requests counted in the month containing `now`. A count stored for a
    /// later month (written by a node whose clock is ahead) is the current
    /// one, as charges count it.
    pub fn usage_in_month_of(&self, now: SystemTime) -> i64 {
        if self.usage_period >= crate::clock::month_start(now) {
            self.usage_count
        } else {
            0
        }
    }
    /// The storage quota in bytes, if any.
    pub fn storage_quota(&self) -> Option<i64> {
        self.storage_quota
    }
    /// Bytes of storage in use.
    pub fn storage_used(&self) -> i64 {
        self.storage_used
    }
    /// When the account was created.
    pub fn created_at(&self) -> SystemTime {
        crate::clock::from_unix(self.created_at)
    }
}

/// A new account.
///
/// ```
/// use tollgate_store::NewAccount;
/// let acme = NewAccount::new("acme").credits(100).usage_limit(10_000).storage_quota(1 << 30);
/// # let _ = acme;
/// ```
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub(crate) id: String,
    pub(crate) credits: i64,
    pub(crate) usage_limit: Option<i64>,
    pub(crate) storage_quota: Option<i64>,
}

impl NewAccount {
    /// An active account with no credits and no limits.
    pub fn new(id: impl Into<String>) -> NewAccount {
        NewAccount {
            id: id.into(),
            credits: 0,
            usage_limit: None,
            storage_quota: None,
        }
    }
    /// Starting credits.
    pub fn credits(mut self, credits: i64) -> Self {
        self.credits = credits;
        self
    }
    /// Requests allowed per calendar month (UTC).
    pub fn usage_limit(mut self, limit: i64) -> Self {
        self.usage_limit = Some(limit);
        self
    }
    /// Bytes of storage allowed.
    pub fn storage_quota(mut self, bytes: i64) -> Self {
        self.storage_quota = Some(bytes);
        self
    }
}

/// The limits of an account, as set by [`Store::set_limits`](crate::Store::set_limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests allowed per calendar month (UTC); `None` for no limit.
    pub usage_limit: Option<i64>,
    /// Bytes of storage allowed; `None` for no quota.
    pub storage_quota: Option<i64>,
}

/// The state of an API key at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyState {
    /// Usable.
    Active,
    /// Its expiry time has passed.
    Expired,
    /// Revoked.
    Deactivated,
}

impl KeyState {
    /// `active`, `expired` or `deactivated`.
    ///
    /// ```
    /// assert_eq!(tollgate_store::KeyState::Deactivated.as_str(), "deactivated");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expired => "expired",
            KeyState::Deactivated => "deactivated",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the store knows about a key: everything but the key itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) display_prefix: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
}

impl KeyInfo {
    /// The key's id (not secret; used to revoke it).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The owning account.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
    /// The first characters of the key, to recognise it: its prefix and
    /// 12-character id (`tg_live_3fQx9Zk2LmP7`).
    pub fn display_prefix(&self) -> &str {
        &self.display_prefix
    }
    /// The key's scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// A label, if given.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// When the key was created.
    pub fn created_at(&self) -> SystemTime {
        crate::clock::from_unix(self.created_at)
    }
    /// When the key expires, if ever.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at.map(crate::clock::from_unix)
    }
    /// When the key was revoked, if it was.
    pub fn revoked_at(&self) -> Option<SystemTime> {
        self.revoked_at.map(crate::clock::from_unix)
    }
    /// The key's state at `now`: deactivated wins over expired.
    pub fn state_at(&self, now: SystemTime) -> KeyState {
        key_state(self.revoked_at, self.expires_at, now)
    }
}

pub(crate) fn key_state(
    revoked_at: Option<i64>,
    expires_at: Option<i64>,
    now: SystemTime,
) -> KeyState {
    if revoked_at.is_some() {
        KeyState::Deactivated
    } else if expires_at.is_some_and(|e| crate::clock::unix(now) >= e) {
        KeyState::Expired
    } else {
        KeyState::Active
    }
}

/// A key to create.
///
/// ```
/// use std::time::Duration;
/// use tollgate_store::NewKey;
/// let key = NewKey::new("acme", ["scans:read", "scans:write"])
///     .expires_in(Duration::from_secs(30 * 86_400))
///     .name("ci");
/// # let _ = key;
/// ```
#[derive(Clone, Debug)]
pub struct NewKey {
    pub(crate) account_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) name: Option<String>,
    pub(crate) prefix: Option<String>,
}

impl NewKey {
    /// A key of `account` with `scopes` that never expires.
    pub fn new<I, S>(account: impl Into<String>, scopes: I) -> NewKey
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        NewKey {
            account_id: account.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            expires_in: None,
            expires_at: None,
            name: None,
            prefix: None,
        }
    }
    /// Expires this long after creation (the CLI's `--expires 30d`).
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expires_in = Some(ttl);
        self
    }
    /// Expires at this time.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }
    /// A label shown by `keys list`: 1–200 characters, no control characters.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// The readable prefix (default from [`StoreOptions::key_prefix`](crate::StoreOptions::key_prefix),
    /// `tg_live_`): 1–32 of `[A-Za-z0-9_]`, ending in `_`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }
}

/// A key just created: the only time the whole key is known.
pub struct CreatedKey {
    pub(crate) key: String,
    pub(crate) info: KeyInfo,
}

impl CreatedKey {
    /// The whole key, to show once: it is not stored.
    pub fn secret(&self) -> &str {
        &self.key
    }
    /// What is stored about it.
    pub fn info(&self) -> &KeyInfo {
        &self.info
    }
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &"<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

/// The authenticated caller, put in the request's extensions by
/// [`AuthLayer`](crate::AuthLayer): which key, which account, which scopes.
///
/// ```
/// use tollgate_store::Principal;
/// let p = Principal::new("key1", "acme", ["scans:read"]);
/// assert!(p.has_scope("scans:read"));
/// assert!(!p.has_scope("scans:write"));
/// assert_eq!(p.account_id(), "acme");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub(crate) inner: Arc<PrincipalInner>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PrincipalInner {
    /// Shared with the [`RateLimitKey`](tollgate::RateLimitKey) that
    /// authentication leaves beside the principal, not copied into it.
    pub(crate) key_id: Arc<str>,
    pub(crate) account_id: String,
    pub(crate) scopes: Box<[String]>,
}

impl Principal {
    /// A principal (for tests and custom authenticators).
    pub fn new<I, S>(
        key_id: impl Into<String>,
        account_id: impl Into<String>,
        scopes: I,
    ) -> Principal
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Principal {
            inner: Arc::new(PrincipalInner {
                key_id: key_id.into().into(),
                account_id: account_id.into(),
                scopes: scopes.into_iter().map(Into::into).collect(),
            }),
        }
    }
    /// The key's id.
    pub fn key_id(&self) -> &str {
        &self.inner.key_id
    }
    /// The account (tenant) the key belongs to.
    pub fn account_id(&self) -> &str {
        &self.inner.account_id
    }
    /// The key's scopes.
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }
    /// Whether the key has `scope` (exact match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.iter().any(|s| s == scope)
    }
    /// The first of `required` the key lacks.
    pub fn missing_scope<'a, I>(&self, required: I) -> Option<&'a str>
    where
        I: IntoIterator<Item = &'a str>,
    {
        required.into_iter().find(|s| !self.has_scope(s))
    }
}

/// Checks an account id: 1–64 of `[A-Za-z0-9._-]`, as
/// [`Store::create_account`](crate::Store::create_account) does
/// (for a caller that checks its input before it opens a store).
pub fn check_account_id(id: &str) -> Result<(), StoreError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput(format!(
            "account id {} must be 1-64 characters of [A-Za-z0-9._-]",
            quoted(id)
        )))
    }
}

/// Checks a scope: 1–128 visible ASCII characters but for commas, quotes
/// and backslashes (an OAuth `scope-token`, RFC 6749 3.3, so that it can be
/// quoted in a challenge as is), and no `*`: scopes match exactly, so
/// `scans:*` would grant nothing.
pub(crate) fn check_scope(scope: &str) -> Result<(), StoreError> {
    if scope.contains('*') {
        return Err(StoreError::InvalidInput(format!(
            "scope {}: scopes match exactly, there are no wildcards; name each scope",
            quoted(scope)
        )));
    }
    let ok = (1..=128).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'"' | b'\\'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput(format!(
            "scope {} must be 1-128 visible ASCII characters without commas, quotes or \
             backslashes",
            quoted(scope)
        )))
    }
}

/// Scopes as stored: space-separated.
pub(crate) fn join_scopes(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// Scopes as read back.
pub(crate) fn split_scopes(s: &str) -> Vec<String> {
    s.split_ascii_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{from_unix, month_start, next_month_start};

    /// Account and key states display as their stored names.
    #[test]
    fn states_display_as_their_names() {
        assert_eq!(AccountState::Active.to_string(), "active");
        assert_eq!(AccountState::Suspended.to_string(), "suspended");
        assert_eq!(KeyState::Active.to_string(), "active");
        assert_eq!(KeyState::Expired.to_string(), "expired");
        assert_eq!(KeyState::Deactivated.to_string(), "deactivated");
    }

    #[test]
    fn scopes_are_oauth_scope_tokens() {
        for good in ["scans:read", "a", "x.y-z_1/2", &"s".repeat(128)] {
            assert!(check_scope(good).is_ok(), "{good}");
        }
        let long = "s".repeat(129);
        for bad in [
            "",
            "a b",
            "a,b",
            "a\"b",
            "a\\b",
            "scans:*",
            "caf\u{e9}",
            &long,
        ] {
            assert!(check_scope(bad).is_err(), "{bad}");
        }
    }

    /// A created key's debug form hides the whole key but shows what is
    /// stored about it.
    #[test]
    fn a_created_keys_debug_form_hides_the_secret_and_shows_its_info() {
        let created = CreatedKey {
            key: "tg_live_3fQx9Zk2LmP7secretsecretsecret".into(),
            info: KeyInfo {
                id: "3fQx9Zk2LmP7".into(),
                account_id: "acme".into(),
                display_prefix: "tg_live_3fQx9Zk2LmP7".into(),
                scopes: vec!["scans:read".into()],
                name: Some("ci".into()),
                created_at: 0,
                expires_at: None,
                revoked_at: None,
            },
        };
        let shown = format!("{created:?}");
        assert!(!shown.contains("secretsecret"), "{shown}");
        assert!(shown.starts_with("CreatedKey"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("3fQx9Zk2LmP7"), "{shown}");
        assert!(shown.contains("scans:read"), "{shown}");
    }

    /// A principal gives back its key, account and scopes as made, and
    /// names the first required scope it lacks.
    #[test]
    fn a_principal_names_its_scopes_and_the_first_it_lacks() {
        let p = Principal::new("key1", "acme", ["scans:read", "orders:write"]);
        assert_eq!((p.key_id(), p.account_id()), ("key1", "acme"));
        assert_eq!(p.scopes(), ["scans:read", "orders:write"]);
        assert_eq!(p.missing_scope(["scans:read", "orders:write"]), None);
        assert_eq!(p.missing_scope([]), None);
        assert_eq!(
            p.missing_scope(["scans:read", "scans:write", "admin"]),
            Some("scans:write")
        );
        assert!(!p.has_scope("scans"));
        assert!(Principal::new("key2", "acme", [""; 0]).scopes().is_empty());
    }

    fn account(usage_period: i64) -> Account {
        Account {
            id: "acme".into(),
            state: AccountState::Active,
            balance: 0,
            usage_limit: Some(10),
            usage_count: 7,
            usage_period,
            storage_quota: None,
            storage_used: 0,
            created_at: 0,
        }
    }

    #[test]
    fn usage_counts_the_stored_month_unless_it_is_over() {
        let now = from_unix(1_780_000_000);
        assert_eq!(account(month_start(now)).usage_in_month_of(now), 7);
        // A node ahead of this one has begun next month: charges count
        // against that month, so the reading does too.
        assert_eq!(account(next_month_start(now)).usage_in_month_of(now), 7);
        assert_eq!(
            account(month_start(now) - 86_400 * 31).usage_in_month_of(now),
            0
        );
    }
}
