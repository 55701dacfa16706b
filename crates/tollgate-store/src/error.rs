//! Errors: [`StoreError`] for the store's own operations, [`Rejection`] for a
//! request the store turns away (each becomes a catalog error).

use std::fmt;
use std::time::Duration;

use http::HeaderValue;
use tollgate::{ApiError, Catalog};

/// A failure of a store operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names no supported backend or cannot be parsed.
    InvalidUrl(String),
    /// An argument was refused (an account id with spaces, a negative amount).
    InvalidInput(String),
    /// The account does not exist.
    AccountNotFound(String),
    /// An account with this id already exists.
    AccountExists(String),
    /// The key does not exist.
    KeyNotFound(String),
    /// The database failed.
    Database(sqlx::Error),
    /// Applying the embedded migrations failed.
    Migrate(sqlx::migrate::MigrateError),
    /// The database has no Tollgate tables, and the store was opened not to
    /// create them ([`StoreOptions::create_tables`](crate::StoreOptions::create_tables)).
    NoTables,
    /// A migration the database records was applied with other text than
    /// this version's (its file was edited, or another Tollgate version
    /// migrated the database): the tables are there, but may not be what
    /// this version expects.
    MigrationChanged {
        /// The migration's number.
        version: i64,
        /// The migration's name (`init`, `lock token`).
        description: String,
    },
    /// The database records a migration this version does not have: a later
    /// version of Tollgate migrated it.
    MigrationUnknown {
        /// The migration's number.
        version: i64,
    },
    /// The operating system's random source failed.
    Random(getrandom::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::InvalidUrl(m) => write!(f, "invalid database url: {m}"),
            StoreError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            StoreError::AccountNotFound(id) => write!(f, "account {} not found", quoted(id)),
            StoreError::AccountExists(id) => write!(f, "account {} already exists", quoted(id)),
            StoreError::KeyNotFound(id) => write!(f, "api key {} not found", quoted(id)),
            // sqlx ends a Postgres error with "at line N", the line of
            // Postgres's own source that raised it, which reads as a line
            // of the caller's: the message and its code say what failed.
            StoreError::Database(sqlx::Error::Database(e)) => {
                write!(f, "database error: {}", e.message())?;
                match e.code() {
                    Some(code) => write!(f, " (code {code})"),
                    None => Ok(()),
                }
            }
            StoreError::Database(e) => write!(f, "database error: {e}"),
            StoreError::Migrate(e) => write!(f, "database migration failed: {e}"),
            StoreError::NoTables => f.write_str(
                "no Tollgate tables in the database (opened with create_tables(false)): open it \
                 once with create_tables(true), the default, to make them",
            ),
            StoreError::MigrationChanged {
                version,
                description,
            } => write!(
                f,
                "the database was migrated by a different version of Tollgate's migrations: \
                 migration {version} ({description}) was applied with other text than this \
                 version's; open it with the Tollgate version that migrated it, or restore that \
                 migration's file as released"
            ),
            StoreError::MigrationUnknown { version } => write!(
                f,
                "the database was migrated by a newer version of Tollgate: it records migration \
                 {version}, which this version does not have; open it with that version or a later \
                 one"
            ),
            StoreError::Random(e) => write!(f, "random source failed: {e}"),
        }
    }
}

/// The most characters of a value an error message quotes.
pub(crate) const QUOTED_CHARS: usize = 64;

/// The first `max` characters of `text`, and whether it had more.
fn head(text: &str, max: usize) -> (&str, bool) {
    match text.char_indices().nth(max) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

/// At most `max` characters of `text`, then `…` if it had more: what an
/// error message shows of a value it was given (a URL), so that a huge one
/// cannot flood it.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match head(text, max) {
        (head, true) => format!("{head}…"),
        (head, false) => head.to_owned(),
    }
}

/// A value given to the store (an account id, a key name), as an error
/// message quotes it: escaped in quotes, at most [`QUOTED_CHARS`]
/// characters of it, then `…` (after the quotes) if it had more.
pub(crate) fn quoted(text: &str) -> String {
    match head(text, QUOTED_CHARS) {
        (head, true) => format!("{head:?}…"),
        (head, false) => format!("{head:?}"),
    }
}

/// A `sqlx` error about a connection's configuration (a URL it cannot
/// read), said once: sqlx wraps its own configuration errors in another.
pub(crate) fn config_error(e: &sqlx::Error) -> String {
    if let sqlx::Error::Configuration(inner) = e
        && let Some(inner @ sqlx::Error::Configuration(_)) = inner.downcast_ref::<sqlx::Error>()
    {
        return config_error(inner);
    }
    e.to_string()
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Database(e) => Some(e),
            StoreError::Migrate(e) => Some(e),
            StoreError::Random(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

/// Why the store turned a request away. Each variant maps to one entry of the
/// built-in catalog with [`Rejection::to_api_error`].
///
/// ```
/// use tollgate::Catalog;
/// use tollgate_store::Rejection;
/// let err = Rejection::InsufficientCredits { required: 1, available: 0 }
///     .to_api_error(Catalog::builtin_ref());
/// assert_eq!(err.status(), 402);
/// assert_eq!(err.message(), "Insufficient credits. Required: 1, available: 0");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// No key: `invalid_key` (401), challenged with no error (RFC 6750,
    /// 3.1: a request that sends no credentials is told only the scheme).
    MissingKey,
    /// The key sent in several `X-API-Key` or `Authorization` lines:
    /// `invalid_key` (401), challenged with `error="invalid_request"`.
    SeveralKeys,
    /// A malformed or unknown key: `invalid_key` (401), challenged with
    /// `error="invalid_token"`.
    InvalidKey,
    /// The key's expiry time has passed: `expired_key` (401).
    ExpiredKey,
    /// The key was revoked: `deactivated_key` (401).
    DeactivatedKey,
    /// The key lacks a scope the route needs: `insufficient_scope` (403).
    InsufficientScope {
        /// The missing scope.
        scope: String,
    },
    /// The account is suspended: `account_suspended` (402).
    AccountSuspended,
    /// The balance is below the route's cost: `insufficient_credits` (402).
    InsufficientCredits {
        /// The route's cost.
        required: i64,
        /// The balance.
        available: i64,
    },
    /// The monthly usage limit is reached: `usage_limit_exceeded` (429).
    UsageLimitExceeded {
        /// The monthly limit.
        limit: i64,
        /// Time until the next cycle starts.
        retry_after: Duration,
    },
    /// The storage quota would be exceeded: `storage_quota_exceeded` (413).
    StorageQuotaExceeded {
        /// The quota in bytes.
        quota: i64,
        /// Bytes in use.
        used: i64,
        /// Bytes asked for.
        requested: i64,
    },
    /// The store could not be reached: `service_unavailable` (503); the cause
    /// is attached as the error's source, never rendered.
    Unavailable(StoreError),
    /// The store refused a call as made (a negative amount, an account that
    /// does not exist): `internal_error` (500), since retrying the same call
    /// cannot help. The cause is attached as the error's source, never
    /// rendered.
    Internal(StoreError),
}

/// The `WWW-Authenticate` challenge sent with `invalid_key` when no key is
/// sent. Every other 401 sends the same scheme and realm with an `error`
/// and an `error_description` saying what is wrong with the key (RFC 6750,
/// 3): `invalid_request` for a key sent several times, `invalid_token` for
/// one that is not valid, has expired or was deactivated.
pub const WWW_AUTHENTICATE_VALUE: &str = r#"Bearer realm="api""#;

impl Rejection {
    /// The catalog code this rejection renders as.
    ///
    /// ```
    /// assert_eq!(tollgate_store::Rejection::ExpiredKey.code(), "expired_key");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MissingKey | Rejection::SeveralKeys | Rejection::InvalidKey => "invalid_key",
            Rejection::ExpiredKey => "expired_key",
            Rejection::DeactivatedKey => "deactivated_key",
            Rejection::InsufficientScope { .. } => "insufficient_scope",
            Rejection::AccountSuspended => "account_suspended",
            Rejection::InsufficientCredits { .. } => "insufficient_credits",
            Rejection::UsageLimitExceeded { .. } => "usage_limit_exceeded",
            Rejection::StorageQuotaExceeded { .. } => "storage_quota_exceeded",
            Rejection::Unavailable(_) => "service_unavailable",
            Rejection::Internal(_) => "internal_error",
        }
    }

    /// The catalog error, with its details, `Retry-After` and (for 401s)
    /// `WWW-Authenticate`. A catalog missing the code falls back to the
    /// built-in entry.
    pub fn to_api_error(&self, catalog: &Catalog) -> ApiError {
        let err = error(catalog, self.code());
        match self {
            Rejection::MissingKey
            | Rejection::SeveralKeys
            | Rejection::InvalidKey
            | Rejection::ExpiredKey
            | Rejection::DeactivatedKey
                if err.status() == 401 =>
            {
                // A key's state is told only where the catalog tells it: a
                // catalog that sends `expired_key` as `invalid_key` (seeds
                // 003, 004) says no more in the challenge either.
                let challenge = match self {
                    Rejection::MissingKey => WWW_AUTHENTICATE_VALUE,
                    Rejection::SeveralKeys => {
                        r#"Bearer realm="api", error="invalid_request", error_description="The API key was sent in several X-API-Key or Authorization lines: send it once""#
                    }
                    Rejection::ExpiredKey if err.code() == self.code() => {
                        r#"Bearer realm="api", error="invalid_token", error_description="The API key has expired""#
                    }
                    Rejection::DeactivatedKey if err.code() == self.code() => {
                        r#"Bearer realm="api", error="invalid_token", error_description="The API key has been deactivated""#
                    }
                    _ => {
                        r#"Bearer realm="api", error="invalid_token", error_description="The API key is not valid""#
                    }
                };
                err.header(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                )
            }
            // A catalog that sends the key's errors as another status (a 404
            // that hides the resource) sends no challenge saying otherwise.
            Rejection::MissingKey
            | Rejection::SeveralKeys
            | Rejection::InvalidKey
            | Rejection::ExpiredKey
            | Rejection::DeactivatedKey => err,
            Rejection::InsufficientScope { scope } if err.code() != self.code() => {
                err.with("scope", scope.as_str())
            }
            Rejection::InsufficientScope { scope } => {
                let err = err.with("scope", scope.as_str());
                // RFC 6750, 3.1: the scope the request needs, in the
                // challenge too (a scope a header cannot carry is left out).
                let quoted = scope.replace('\\', "\\\\").replace('"', "\\\"");
                let challenge = format!(
                    r#"Bearer realm="api", error="insufficient_scope", error_description="The API key lacks the scope this request needs", scope="{quoted}""#
                );
                match HeaderValue::try_from(challenge) {
                    Ok(challenge) => err.header(http::header::WWW_AUTHENTICATE, challenge),
                    Err(_) => err,
                }
            }
            Rejection::AccountSuspended => err,
            Rejection::InsufficientCredits {
                required,
                available,
            } => err
                .with("required", *required)
                .with("available", *available),
            Rejection::UsageLimitExceeded { limit, retry_after } => {
                err.with("limit", *limit).retry_after(*retry_after)
            }
            Rejection::StorageQuotaExceeded {
                quota,
                used,
                requested,
            } => err
                .with("quota", *quota)
                .with("used", *used)
                .with("requested", *requested),
            Rejection::Unavailable(cause) => err
                .retry_after(Duration::from_secs(1))
                .with_source(cause.to_string()),
            Rejection::Internal(cause) => err.with_source(cause.to_string()),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Unavailable(e) => write!(f, "store unavailable: {e}"),
            Rejection::Internal(e) => write!(f, "store call refused: {e}"),
            other => f.write_str(other.code()),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Rejection::Unavailable(e) | Rejection::Internal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for Rejection {
    /// The database, its migrations and the random source failing make the
    /// store unavailable (a retry may succeed); anything else is a refused call.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Random(_) => {
                Rejection::Unavailable(e)
            }
            _ => Rejection::Internal(e),
        }
    }
}

/// `catalog.error(code)`, falling back to the built-in catalog (which has
/// every code this crate emits) when an app's catalog dropped the entry.
pub(crate) fn error(catalog: &Catalog, code: &str) -> ApiError {
    match catalog.error(code) {
        Ok(err) => err,
        Err(_) => match Catalog::builtin_ref().error(code) {
            Ok(err) => err,
            // Every code passed here is a literal of this crate, checked by its tests.
            Err(_) => unreachable_code(code),
        },
    }
}

#[cold]
fn unreachable_code(code: &str) -> ApiError {
    let def = tollgate::ErrorDef::new(
        code,
        500,
        "Internal server error",
        "An unexpected error occurred.",
    );
    match def {
        Ok(def) => ApiError::new(std::sync::Arc::new(def)),
        Err(_) => unreachable!("built-in catalog lacks {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The details a rejection adds are sent only when the catalog's entry
    /// documents them: an app's `details = []` sends none, as its error
    /// reference shows, while the message may still use them.
    #[test]
    fn an_apps_entry_without_details_sends_none() {
        use std::time::SystemTime;
        use tollgate::{Context, Dialect};
        let app = Catalog::from_toml(
            "app.toml",
            "[errors.insufficient_credits]\nmessage = 'Not enough credits.'\ndetails = []\n\n\
             [errors.insufficient_scope]\nmessage = 'Needs {scope}.'\ndetails = []\n\
             message_only = ['scope']\n",
        )
        .unwrap();
        let ctx = Context::new(SystemTime::UNIX_EPOCH);
        let body = |catalog: &Catalog, rejection: &Rejection, dialect: Dialect| {
            let err = rejection.to_api_error(catalog);
            let body = catalog.renderer(dialect).body(&err, &ctx);
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        };
        let credits = Rejection::InsufficientCredits {
            required: 1,
            available: 0,
        };
        let sent = body(&app, &credits, Dialect::Problem);
        assert_eq!(sent["detail"], "Not enough credits.");
        assert!(sent.get("required").is_none(), "{sent}");
        assert!(sent.get("available").is_none(), "{sent}");
        let builtin = body(Catalog::builtin_ref(), &credits, Dialect::Problem);
        assert_eq!(
            (&builtin["required"], &builtin["available"]),
            (&1.into(), &0.into())
        );

        let scope = Rejection::InsufficientScope {
            scope: "scans:write".into(),
        };
        let sent = body(&app, &scope, Dialect::Coded);
        assert_eq!(sent["error"]["message"], "Needs scans:write.");
        assert_eq!(sent["error"]["details"], serde_json::json!({}));
    }

    /// A database's own error is its message and code, not sqlx's text
    /// (which ends a Postgres error with a line of Postgres's source).
    #[tokio::test]
    async fn a_database_error_is_its_message_and_code() {
        use sqlx::Connection as _;
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let e = sqlx::query("SELECT * FROM nowhere")
            .execute(&mut db)
            .await
            .unwrap_err();
        assert_eq!(
            StoreError::Database(e).to_string(),
            "database error: no such table: nowhere (code 1)"
        );
        assert_eq!(
            StoreError::Database(sqlx::Error::PoolTimedOut).to_string(),
            format!("database error: {}", sqlx::Error::PoolTimedOut)
        );
    }

    /// A store error wrapping a cause (the database, a migration, the
    /// random source) gives it as its source, and so does a rejection
    /// wrapping a store error; the others have none.
    #[test]
    fn wrapped_causes_are_the_errors_sources() {
        use std::error::Error as _;
        let with_cause = [
            StoreError::Database(sqlx::Error::PoolTimedOut),
            StoreError::Migrate(sqlx::migrate::MigrateError::VersionMissing(7)),
            StoreError::Random(getrandom::Error::UNSUPPORTED),
        ];
        for e in with_cause {
            let cause = e.source().map(ToString::to_string);
            let expected = match &e {
                StoreError::Database(c) => c.to_string(),
                StoreError::Migrate(c) => c.to_string(),
                StoreError::Random(c) => c.to_string(),
                _ => unreachable!(),
            };
            assert_eq!(cause, Some(expected), "{e}");
            assert!(
                matches!(Rejection::from(e), Rejection::Unavailable(_)),
                "a failing dependency makes the store unavailable"
            );
        }
        assert!(StoreError::NoTables.source().is_none());
        assert!(StoreError::InvalidInput("x".into()).source().is_none());

        let rejection = Rejection::Unavailable(StoreError::NoTables);
        let source = rejection.source().map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some(StoreError::NoTables.to_string().as_str())
        );
        let rejection = Rejection::Internal(StoreError::KeyNotFound("k".into()));
        let source = rejection.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("api key \"k\" not found"));
        assert!(Rejection::InvalidKey.source().is_none());
    }

    /// Every code this crate emits is in the built-in catalog, so the
    /// fallback in [`error`] always finds it.
    #[test]
    fn every_emitted_code_is_built_in() {
        for code in [
            "invalid_key",
            "expired_key",
            "deactivated_key",
            "insufficient_scope",
            "account_suspended",
            "insufficient_credits",
            "usage_limit_exceeded",
            "storage_quota_exceeded",
            "service_unavailable",
            "missing_field",
            "validation_error",
            "payload_too_large",
            "malformed_request",
            "idempotency_key_in_use",
            "idempotency_key_reused",
            "internal_error",
            "not_found",
        ] {
            assert!(Catalog::builtin_ref().get(code).is_some(), "{code}");
        }
    }

    #[test]
    fn rejections_map_to_statuses_details_and_headers() {
        let catalog = Catalog::builtin();
        let cases = [
            (Rejection::MissingKey, 401),
            (Rejection::SeveralKeys, 401),
            (Rejection::InvalidKey, 401),
            (Rejection::ExpiredKey, 401),
            (Rejection::DeactivatedKey, 401),
            (
                Rejection::InsufficientScope {
                    scope: "scans:write".into(),
                },
                403,
            ),
            (Rejection::AccountSuspended, 402),
            (
                Rejection::InsufficientCredits {
                    required: 2,
                    available: 1,
                },
                402,
            ),
            (
                Rejection::UsageLimitExceeded {
                    limit: 5,
                    retry_after: Duration::from_secs(9),
                },
                429,
            ),
            (
                Rejection::StorageQuotaExceeded {
                    quota: 10,
                    used: 8,
                    requested: 3,
                },
                413,
            ),
            (
                Rejection::Unavailable(StoreError::InvalidInput("db down".into())),
                503,
            ),
            (
                Rejection::from(StoreError::Database(sqlx::Error::PoolTimedOut)),
                503,
            ),
            // A call the store refuses fails the same way every time: not a
            // 503, which clients retry.
            (
                Rejection::from(StoreError::AccountNotFound("acme".into())),
                500,
            ),
            (
                Rejection::from(StoreError::InvalidInput("storage of -1 bytes".into())),
                500,
            ),
        ];
        for (rejection, status) in cases {
            let err = rejection.to_api_error(&catalog);
            assert_eq!((err.code(), err.status()), (rejection.code(), status));
            let challenge = err
                .headers()
                .iter()
                .any(|(n, _)| n == http::header::WWW_AUTHENTICATE);
            let challenged = status == 401 || rejection.code() == "insufficient_scope";
            assert_eq!(challenge, challenged, "{rejection}");
        }
        let err = Rejection::UsageLimitExceeded {
            limit: 5,
            retry_after: Duration::from_secs(9),
        }
        .to_api_error(&catalog);
        assert_eq!(err.retry_after_delay(), Some(Duration::from_secs(9)));
        let err = Rejection::InsufficientScope {
            scope: "scans:write".into(),
        }
        .to_api_error(&catalog);
        assert_eq!(err.message(), "API key lacks required scope: scans:write");
        assert_eq!(
            err.headers()[0].1,
            r#"Bearer realm="api", error="insufficient_scope", error_description="The API key lacks the scope this request needs", scope="scans:write""#
        );
        // Quotes and backslashes escaped; a scope no header can carry is not
        // challenged.
        let challenge = |scope: &str| {
            let err = Rejection::InsufficientScope {
                scope: scope.into(),
            }
            .to_api_error(&catalog);
            err.headers()
                .first()
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert!(
            challenge(r#"a"b\c"#)
                .unwrap()
                .ends_with(r#"scope="a\"b\\c""#)
        );
        assert_eq!(challenge("line\nbreak"), None);
        let err = Rejection::Unavailable(StoreError::InvalidInput("db down".into()))
            .to_api_error(&catalog);
        assert!(!err.message().contains("db down"));
        assert!(err.source_error().unwrap().to_string().contains("db down"));
    }

    /// A rejection reads as its code; one wrapping a store error, as its cause.
    #[test]
    fn rejections_read_as_their_code_or_cause() {
        let cases = [
            (Rejection::AccountSuspended, "account_suspended"),
            (
                Rejection::Unavailable(StoreError::NoTables),
                &format!("store unavailable: {}", StoreError::NoTables),
            ),
            (
                Rejection::Internal(StoreError::KeyNotFound("k".into())),
                "store call refused: api key \"k\" not found",
            ),
        ];
        for (rejection, text) in cases {
            assert_eq!(rejection.to_string(), text);
        }
    }

    /// Each 401 carries its own challenge: a plain one when no key is sent,
    /// `invalid_request` for a key sent several times, and `invalid_token`
    /// saying why for a key that is not valid, expired or deactivated.
    #[test]
    fn each_key_rejection_says_its_own_challenge() {
        let catalog = Catalog::builtin();
        let cases = [
            (Rejection::MissingKey, WWW_AUTHENTICATE_VALUE),
            (
                Rejection::SeveralKeys,
                r#"Bearer realm="api", error="invalid_request", error_description="The API key was sent in several X-API-Key or Authorization lines: send it once""#,
            ),
            (
                Rejection::InvalidKey,
                r#"Bearer realm="api", error="invalid_token", error_description="The API key is not valid""#,
            ),
            (
                Rejection::ExpiredKey,
                r#"Bearer realm="api", error="invalid_token", error_description="The API key has expired""#,
            ),
            (
                Rejection::DeactivatedKey,
                r#"Bearer realm="api", error="invalid_token", error_description="The API key has been deactivated""#,
            ),
        ];
        for (rejection, expected) in cases {
            let err = rejection.to_api_error(&catalog);
            let challenges: Vec<_> = err
                .headers()
                .iter()
                .filter(|(n, _)| *n == http::header::WWW_AUTHENTICATE)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
                .collect();
            assert_eq!(challenges, [expected], "{rejection}");
        }

        // A catalog that sends the key's states as `invalid_key` tells
        // them nowhere.
        let catalog = Catalog::from_toml(
            "api.toml",
            "[errors.expired_key]\nsent_as = 'invalid_key'\n\
             [errors.deactivated_key]\nsent_as = 'invalid_key'\n",
        )
        .unwrap();
        for rejection in [Rejection::ExpiredKey, Rejection::DeactivatedKey] {
            let err = rejection.to_api_error(&catalog);
            assert_eq!(err.code(), "invalid_key");
            let challenge = &err.headers()[0].1;
            assert_eq!(
                challenge,
                r#"Bearer realm="api", error="invalid_token", error_description="The API key is not valid""#,
                "{rejection}"
            );
        }

        // One that hides them behind a 404 sends no challenge at all.
        let catalog = Catalog::from_toml(
            "api.toml",
            "[errors.invalid_key]\nsent_as = 'not_found'\n\
             [errors.insufficient_scope]\nsent_as = 'not_found'\n",
        )
        .unwrap();
        let scope = Rejection::InsufficientScope {
            scope: "scans:write".to_owned(),
        };
        for rejection in [Rejection::MissingKey, Rejection::InvalidKey, scope] {
            let err = rejection.to_api_error(&catalog);
            assert_eq!((err.code(), err.status()), ("not_found", 404));
            assert!(err.headers().is_empty(), "{rejection}: {:?}", err.headers());
        }
    }

    /// A value is quoted whole up to 64 characters, past them cut at a
    /// character's boundary with `…` after the quotes; a URL is clipped so.
    #[test]
    fn quoting_bounds_a_value_at_whole_characters() {
        assert_eq!(quoted("acme"), "\"acme\"");
        assert_eq!(quoted(&"é".repeat(64)), format!("\"{}\"", "é".repeat(64)));
        assert_eq!(quoted(&"é".repeat(65)), format!("\"{}\"…", "é".repeat(64)));
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
        assert_eq!(clip("sqlite://t.db", 5), "sqlit…");
        assert_eq!(clip("sqlite://t.db", 13), "sqlite://t.db");
        let text = StoreError::AccountNotFound("x".repeat(100_000)).to_string();
        assert_eq!(text, format!("account \"{}\"… not found", "x".repeat(64)));
    }

    /// A configuration error sqlx wrapped in another is said once.
    #[test]
    fn a_wrapped_configuration_error_is_said_once() {
        let inner = sqlx::Error::Configuration("unknown value".into());
        let outer = sqlx::Error::Configuration(Box::new(inner));
        assert_eq!(
            config_error(&outer),
            "error with configuration: unknown value"
        );
        assert_eq!(
            config_error(&sqlx::Error::PoolClosed),
            sqlx::Error::PoolClosed.to_string()
        );
    }

    #[test]
    fn a_catalog_without_the_entry_falls_back_to_the_built_in_one() {
        let empty = Catalog::empty();
        let err = Rejection::ExpiredKey.to_api_error(&empty);
        assert_eq!((err.code(), err.status()), ("expired_key", 401));
    }
}
