//! [`Store`]: the library API over a backend (what the CLI's `keys` and
//! `accounts` commands call) and the request-path operations the layers use.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Executor};
use tokio_util::task::TaskTracker;

use crate::backend::{
    AccountRow, Backend, IdempotencyRow, KeyRow, LockToken, PostgresBackend, SqliteBackend,
};
use crate::cache::{CachedKey, KeyCache};
use crate::clock::{from_unix, month_start, next_month_start, unix};
use crate::error::{clip, config_error, quoted};
use crate::key::{self, Presented};
use crate::model::{
    Account, AccountState, CreatedKey, KeyInfo, Limits, NewAccount, NewKey, Principal,
    PrincipalInner, check_account_id, check_scope, join_scopes, split_scopes,
};
use crate::{Clock, Rejection, StoreError, SystemClock, detach};

/// The database used when none is given: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.db";

/// How long a store call waits for a connection by default: past it, the
/// store is unavailable (503 `service_unavailable`), not slow.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a SQLite store call waits for a lock another connection holds
/// (a writer in another process, say) before it fails with `database is
/// locked`.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How to open a [`Store`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_store::StoreOptions;
/// let options = StoreOptions::default()
///     .cache_ttl(Duration::from_secs(5))
///     .max_connections(8)
///     .key_prefix("acme_live_");
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct StoreOptions {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_capacity: usize,
    pub(crate) key_prefix: String,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) schema: Option<String>,
    pub(crate) create_tables: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: Arc::new(SystemClock),
            cache_ttl: Duration::from_secs(10),
            cache_capacity: 100_000,
            key_prefix: key::DEFAULT_KEY_PREFIX.to_owned(),
            max_connections: 10,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            schema: None,
            create_tables: true,
        }
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("key_prefix", &self.key_prefix)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("schema", &self.schema)
            .field("create_tables", &self.create_tables)
            .finish_non_exhaustive()
    }
}

impl StoreOptions {
    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// How long a key lookup is cached (default 10 s; zero disables the cache).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }
    /// How many key lookups are cached at most (default 100 000).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }
    /// The prefix of new keys (default `tg_live_`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }
    /// The connection pool's size (default 10).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
    /// How long a call waits for a pooled connection before it fails
    /// (default [`DEFAULT_ACQUIRE_TIMEOUT`]). While the database is down, or
    /// every connection waits on a lock, calls fail after this wait, so
    /// requests are answered `service_unavailable` rather than held until
    /// their own deadline. Opening a Postgres store waits as long for the
    /// connection its migrations run on, and then for its pool's first.
    /// Zero is refused when the store opens.
    ///
    /// On either backend, it is also how long the layers wait for a charge
    /// or for the claim of an idempotency key: one held up past it (a SQLite
    /// file another process holds locked, an account's row or a key another
    /// transaction holds) is answered `service_unavailable` (503,
    /// `Retry-After: 1`) rather than held until the request's own deadline,
    /// and what it takes once the lock is gone is given back.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }
    /// Postgres only: keep the tables in this schema (created if missing),
    /// e.g. one per test run or per application. 1–63 of `[a-z0-9_]`.
    ///
    /// Set it when the database is shared with another application: the
    /// tables (`accounts`, `api_keys`, `idempotency`) and sqlx's migration
    /// table `_sqlx_migrations` then cannot meet that application's own (a
    /// second set of sqlx migrations in one schema makes either refuse to
    /// start).
    ///
    /// Each connection names the schema in its startup `options`
    /// (`-c search_path=…`), so that it holds for every statement even
    /// through a pooler that shares server connections between
    /// transactions. PgBouncer refuses such a connection unless told to
    /// track the parameter (`track_extra_parameters = search_path`, 1.20 or
    /// later). Without a schema, a connection sends only parameters
    /// PgBouncer tracks by default.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }
    /// Whether opening a database without Tollgate's tables creates them
    /// (default `true`).
    ///
    /// With `false`, for a tool that works on what a database already holds
    /// (as the `tollgate keys` and `tollgate accounts` commands do), such a
    /// database (another application's, a mistyped name) is refused with
    /// [`StoreError::NoTables`] and left as it was: no table is made, a
    /// SQLite file is neither created nor switched to WAL, a Postgres
    /// [`schema`](Self::schema) is not created. A database a store has
    /// opened before (sqlx's migration table records Tollgate's first
    /// migration) opens as always, and gets the migrations it lacks; one
    /// that records it with other text than this version's is
    /// [`StoreError::MigrationChanged`].
    pub fn create_tables(mut self, create: bool) -> Self {
        self.create_tables = create;
        self
    }
}

/// Keys, accounts, credits, quotas and idempotency records over one backend.
///
/// Cheap to clone (an `Arc`). Open one per process and share it.
///
/// ```
/// use tollgate_store::{NewAccount, NewKey, Store};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
/// store.create_account(NewAccount::new("acme").credits(5)).await?;
/// let key = store.create_key(NewKey::new("acme", ["scans:write"])).await?;
/// let principal = store.authenticate(key.secret()).await?;
/// assert_eq!(principal.account_id(), "acme");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    cache: KeyCache,
    clock: Arc<dyn Clock>,
    key_prefix: String,
    /// How long the layers wait for a charge or a claim.
    acquire_timeout: Duration,
    /// The writes running on tasks of their own (`detach`).
    writes: TaskTracker,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend.name())
            .finish_non_exhaustive()
    }
}

/// Credits taken for one request, to keep or give back.
///
/// The rule the [`CreditsLayer`](crate::CreditsLayer) applies: credits are
/// *reserved* (taken, atomically, never below zero) before the handler runs,
/// *committed* when the handler answers with a status below 400 (keeping them
/// needs no further write), and *released* (given back, with the request's
/// usage count) when it answers with a 4xx or 5xx or its future is dropped.
///
/// Clones are one reservation: the first [`Store::release`] of any of them
/// gives the credits back, and later ones do nothing (a handler that released
/// the copy in its request's extensions, then answered 4xx, is refunded once).
#[derive(Clone, Debug)]
#[must_use = "a reservation is either kept or released"]
pub struct Reservation {
    pub(crate) account_id: String,
    pub(crate) cost: i64,
    /// The month (its first second, Unix time) the request was counted in.
    pub(crate) period: i64,
    pub(crate) remaining: i64,
    /// Set by the first release, shared by every clone.
    pub(crate) released: Arc<std::sync::atomic::AtomicBool>,
}

impl PartialEq for Reservation {
    fn eq(&self, other: &Reservation) -> bool {
        (&self.account_id, self.cost, self.period, self.remaining)
            == (&other.account_id, other.cost, other.period, other.remaining)
    }
}

impl Eq for Reservation {}

impl Reservation {
    /// The account charged.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
    /// Credits taken.
    pub fn cost(&self) -> i64 {
        self.cost
    }
    /// The balance left after taking them.
    pub fn remaining(&self) -> i64 {
        self.remaining
    }
}

/// What [`Store::idempotency_begin`] found.
#[derive(Debug)]
pub(crate) enum Begin {
    /// This request owns the key: the record holds its `token`, and is
    /// locked until `lock`.
    Started { lock: i64, token: LockToken },
    /// Another request with the key is running.
    InUse,
    /// The key was used with a different request.
    Reused,
    /// The key's first response, to replay.
    Replay(Box<IdempotencyRow>),
}

/// The longest key name, in characters: a label for `keys list`.
const MAX_KEY_NAME: usize = 200;

/// The most characters of a database URL an error message shows: a path
/// of some length fits, a runaway value does not flood the message.
const MAX_URL: usize = 256;

/// How long opening a Postgres store waits for its first connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a Postgres migration waits for a lock (Postgres's
/// `lock_timeout`): another node's migration of the same schema (the
/// advisory lock waits under it too), or a table a long statement holds. An `ALTER TABLE` queued behind a long lock would hold up every
/// statement on that table behind it, on every node.
const MIGRATION_LOCK_TIMEOUT: &str = "10s";

/// Whether the SQLite database `conn` is on holds Tollgate's tables: sqlx's
/// migration table records Tollgate's first migration (another
/// application's sqlx migrations do not count). One recorded with other
/// text than this version's, over Tollgate's tables, is
/// [`StoreError::MigrationChanged`], not a database without them.
async fn sqlite_has_tables(
    conn: &mut sqlx::SqliteConnection,
    migrator: &Migrator,
) -> Result<bool, StoreError> {
    let Some(first) = migrator.iter().next() else {
        return Ok(true);
    };
    let table = "SELECT count(*) FROM sqlite_master \
                 WHERE type = 'table' AND name = '_sqlx_migrations'";
    let tables: i64 = sqlx::query_scalar(table).fetch_one(&mut *conn).await?;
    if tables == 0 {
        return Ok(false);
    }
    let recorded = "SELECT description, checksum FROM _sqlx_migrations WHERE version = ?";
    let found: Option<(String, Vec<u8>)> = sqlx::query_as(recorded)
        .bind(first.version)
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        None => Ok(false),
        Some((_, checksum)) if checksum == *first.checksum => Ok(true),
        Some((description, _)) => {
            let ours = "SELECT count(*) FROM sqlite_master \
                        WHERE type = 'table' AND name IN ('api_keys', 'idempotency')";
            let ours: i64 = sqlx::query_scalar(ours).fetch_one(conn).await?;
            changed_or_foreign(first, &description, ours == 2)
        }
    }
}

/// As [`sqlite_has_tables`], on Postgres, in `schema` or else the
/// connection's search path.
async fn postgres_has_tables(
    conn: &mut sqlx::PgConnection,
    schema: Option<&str>,
    migrator: &Migrator,
) -> Result<bool, StoreError> {
    let Some(first) = migrator.iter().next() else {
        return Ok(true);
    };
    // The schema's name is checked: 1-63 of [a-z0-9_].
    let qualify = |table: &str| match schema {
        Some(schema) => format!("\"{schema}\".{table}"),
        None => table.to_owned(),
    };
    let table = qualify("_sqlx_migrations");
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&table)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(false);
    }
    let recorded = format!("SELECT description, checksum FROM {table} WHERE version = $1");
    let found: Option<(String, Vec<u8>)> = sqlx::query_as(&recorded)
        .bind(first.version)
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        None => Ok(false),
        Some((_, checksum)) if checksum == *first.checksum => Ok(true),
        Some((description, _)) => {
            let ours: bool = sqlx::query_scalar(
                "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
            )
            .bind(qualify("api_keys"))
            .bind(qualify("idempotency"))
            .fetch_one(conn)
            .await?;
            changed_or_foreign(first, &description, ours)
        }
    }
}

/// For a database whose migration table records Tollgate's first
/// migration's version with other text: a changed migration
/// ([`StoreError::MigrationChanged`]) when it bears that migration's name
/// and Tollgate's tables are there (`ours`), else another application's
/// migrations (`false`: no Tollgate tables).
fn changed_or_foreign(
    first: &sqlx::migrate::Migration,
    description: &str,
    ours: bool,
) -> Result<bool, StoreError> {
    if ours && description == first.description {
        Err(migration_changed(first.version, description))
    } else {
        Ok(false)
    }
}

/// The error for migration `version` (named `description`), applied to the
/// database with other text than this version's.
fn migration_changed(version: i64, description: &str) -> StoreError {
    StoreError::MigrationChanged {
        version,
        description: description.to_owned(),
    }
}

/// Opens a SQLite pool. Switching a new file to WAL takes an exclusive lock
/// SQLite does not wait for (the busy timeout does not apply): of processes
/// opening a new file at once, all but one may be refused with `database is
/// locked`. They try again, until the busy timeout is spent. A file already
/// in WAL takes no such lock.
async fn sqlite_connect(
    pool: SqlitePoolOptions,
    connect: SqliteConnectOptions,
) -> Result<sqlx::SqlitePool, sqlx::Error> {
    let started = tokio::time::Instant::now();
    loop {
        match pool.clone().connect_with(connect.clone()).await {
            Err(e) if sqlite_busy(&e) && started.elapsed() < SQLITE_BUSY_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            connected => return connected,
        }
    }
}

/// Whether `e` is SQLite's `SQLITE_BUSY` (extended codes included).
fn sqlite_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

/// Applies the migrations a SQLite database lacks. sqlx takes no lock for
/// them on SQLite: of two processes starting at once on a new file, both
/// find migration 1 missing, and the second to apply it fails on the
/// tables the first made. A run that fails so is run again inside one
/// `BEGIN IMMEDIATE` transaction, which waits (up to the busy timeout) for
/// the other process's migrations to be committed and then finds them
/// applied. The first run takes no write lock when nothing is missing, so
/// that a file opened read-only still opens.
async fn sqlite_migrate(
    migrator: &Migrator,
    pool: &sqlx::SqlitePool,
) -> Result<(), sqlx::migrate::MigrateError> {
    use sqlx::migrate::MigrateError;
    match migrator.run(pool).await {
        Err(MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)) => {
            let mut conn = pool.acquire().await?;
            let mut locked = conn.begin_with("BEGIN IMMEDIATE").await?;
            migrator.run_direct(&mut *locked).await?;
            locked.commit().await?;
            Ok(())
        }
        ran => ran,
    }
}

/// A failed migration run's error: a migration applied with other text
/// than this version's ([`StoreError::MigrationChanged`]), or one this
/// version does not have ([`StoreError::MigrationUnknown`]), is said as
/// such.
fn migrate_error(migrator: &Migrator, e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::VersionMismatch(version) => {
            let description = migrator
                .iter()
                .find(|m| m.version == version)
                .map_or("", |m| &*m.description);
            migration_changed(version, description)
        }
        sqlx::migrate::MigrateError::VersionMissing(version) => {
            StoreError::MigrationUnknown { version }
        }
        e => StoreError::Migrate(e),
    }
}

impl Store {
    /// Opens the database at `url` (`sqlite://path`, `sqlite::memory:`,
    /// `postgres://…`), creating its tables if missing, and applies the
    /// embedded migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, StoreOptions::default()).await
    }

    /// Opens the database at `url` with `options`; see
    /// [`StoreOptions::create_tables`] to open only a database that has
    /// Tollgate's tables.
    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        if options.acquire_timeout.is_zero() {
            return Err(StoreError::InvalidInput(
                "the acquire timeout must be above zero (with none, every call would fail)"
                    .to_owned(),
            ));
        }
        if url.starts_with("sqlite:") {
            let given = SqliteConnectOptions::from_str(url)
                .map_err(|e| {
                    StoreError::InvalidUrl(format!("{}: {}", clip(url, MAX_URL), config_error(&e)))
                })?
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            // SQLite opens an empty name as a private database per connection:
            // the pool's connections would not see each other's tables.
            if given.get_filename().as_os_str().is_empty() {
                return Err(StoreError::InvalidUrl(format!(
                    "{}: no file named: sqlite://PATH, or sqlite::memory: for a database \
                     in memory",
                    clip(url, MAX_URL)
                )));
            }
            let migrator = sqlx::migrate!("migrations/sqlite");
            if !options.create_tables {
                // Looked for on a connection that changes nothing: it
                // creates no file and sets no journal mode.
                let mut conn = given.clone().create_if_missing(false).connect().await?;
                let found = sqlite_has_tables(&mut conn, &migrator).await;
                conn.close().await?;
                if !found? {
                    return Err(StoreError::NoTables);
                }
            }
            let connect = given
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true);
            // An in-memory database lives as long as its one connection: keep
            // exactly one, forever.
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool = if in_memory {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(options.max_connections)
            }
            // Connections busy waiting on a lock another process holds
            // (each up to the busy timeout) must not hold up the calls
            // queued for one, a key lookup say, past it either.
            .acquire_timeout(options.acquire_timeout);
            let pool = sqlite_connect(pool, connect).await?;
            let backend = SqliteBackend::from_pool(pool);
            if let Err(e) = sqlite_migrate(&migrator, backend.pool()).await {
                // Closed as a store is, so that a program that then exits
                // leaves no `-wal` or `-shm` file beside the database.
                backend.close().await;
                return Err(migrate_error(&migrator, e));
            }
            Ok(Store::with_backend(backend, options))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect = PgConnectOptions::from_str(url)
                .map_err(|e| {
                    let url = tollgate::redact_url(url);
                    StoreError::InvalidUrl(format!("{}: {}", clip(&url, MAX_URL), config_error(&e)))
                })?
                .disable_statement_logging()
                // No float is stored; and PgBouncer refuses this startup
                // parameter unless told to ignore it.
                .extra_float_digits(None);
            if let Some(schema) = &options.schema {
                let valid = (1..=63).contains(&schema.len())
                    && schema
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    && !schema.starts_with(|c: char| c.is_ascii_digit());
                if !valid {
                    return Err(StoreError::InvalidInput(format!(
                        "schema {} must be 1-63 of [a-z0-9_], not starting with a digit",
                        quoted(schema)
                    )));
                }
            }
            // One connection first: it fails at once with the cause (refused,
            // no such database, a wrong password), where the pool would retry
            // for its whole acquire timeout and report only that it timed out.
            let mut conn =
                tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&connect))
                    .await
                    .map_err(|_| {
                        StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
                        )))
                    })??;
            let migrator = sqlx::migrate!("migrations/postgres");
            if !options.create_tables {
                let found = postgres_has_tables(&mut conn, options.schema.as_deref(), &migrator);
                let found = found.await;
                if !matches!(found, Ok(true)) {
                    conn.close().await?;
                    found?;
                    return Err(StoreError::NoTables);
                }
            }
            if let (Some(schema), true) = (&options.schema, options.create_tables) {
                // Looked for first: `CREATE SCHEMA IF NOT EXISTS` needs the
                // right to create schemas in the database even when the
                // schema exists, which a role given a schema made for it
                // (by whoever administers the database) need not have.
                let exists = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)";
                let exists: bool = sqlx::query_scalar(exists)
                    .bind(schema)
                    .fetch_one(&mut conn)
                    .await?;
                if !exists {
                    let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
                    let created = conn.execute(create.as_str()).await;
                    // `IF NOT EXISTS` is not safe under concurrency: of
                    // several nodes starting at once, all but one may fail
                    // on the catalog's unique index (23505), or find it
                    // made (42P06).
                    let made_by_another = |e: &sqlx::Error| {
                        e.as_database_error()
                            .and_then(|e| e.code())
                            .is_some_and(|code| code == "23505" || code == "42P06")
                    };
                    match created {
                        Err(e) if !made_by_another(&e) => return Err(e.into()),
                        _ => {}
                    }
                }
            }
            if let Some(schema) = &options.schema {
                connect = connect.options([("search_path", schema.as_str())]);
            }
            conn.close().await?;
            // On a connection of its own (a pool of one: a connection
            // borrowed for the run makes the future not `Send` for every
            // lifetime), so that its lock timeout stays with it. Set by a
            // statement, not a startup parameter: PgBouncer refuses
            // `options` it does not track. Closed before the store's pool
            // opens, so that opening holds one connection at a time: a
            // server (or role) with one left opens, where two at once
            // would wait for a second that never comes.
            let migrating = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(options.acquire_timeout)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        let set = format!("SET lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'");
                        conn.execute(set.as_str()).await.map(drop)
                    })
                })
                .connect_with(connect.clone())
                .await?;
            // sqlx's migrator locks the whole database (an advisory lock
            // keyed by its name): a migration held up in one schema would
            // hold up every other schema's, each under the lock timeout.
            // The lock is the schema's own instead, taken and given back on
            // the pool's one connection, which the migration runs on.
            let mut migrator = migrator;
            migrator.set_locking(false);
            let lock =
                "SELECT pg_advisory_lock(hashtextextended('tollgate:' || current_schema(), 0))";
            let unlock =
                "SELECT pg_advisory_unlock(hashtextextended('tollgate:' || current_schema(), 0))";
            let migrated = match sqlx::query(lock).execute(&migrating).await {
                Ok(_) => {
                    let migrated = migrator
                        .run(&migrating)
                        .await
                        .map_err(|e| migrate_error(&migrator, e));
                    // Closing the connection gives it back too.
                    let _ = sqlx::query(unlock).execute(&migrating).await;
                    migrated
                }
                Err(e) => Err(e.into()),
            };
            // Every connection back and closed, as a store's are.
            crate::backend::close_pool(&migrating).await;
            migrated?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            Ok(Store::with_backend(
                PostgresBackend::from_pool(pool),
                options,
            ))
        } else {
            Err(StoreError::InvalidUrl(format!(
                "{}: expected sqlite://path or postgres://…",
                clip(&tollgate::redact_url(url), MAX_URL)
            )))
        }
    }

    /// A store over any backend.
    pub fn with_backend(backend: impl Backend, options: StoreOptions) -> Store {
        Store {
            inner: Arc::new(Inner {
                backend: Arc::new(backend),
                cache: KeyCache::new(options.cache_ttl, options.cache_capacity),
                clock: options.clock,
                key_prefix: options.key_prefix,
                acquire_timeout: options.acquire_timeout,
                writes: TaskTracker::new(),
            }),
        }
    }

    /// Waits for the writes this store runs on tasks of their own to finish:
    /// the refund of a request that was dropped (its client gone, a timeout)
    /// and the idempotency record it leaves, begun as its future was dropped.
    /// A server calls it once it has stopped serving, before its runtime
    /// ends, which would otherwise cut them off; bound it with a timeout
    /// (each write gives up once the database has been unreachable for the
    /// pool's acquire timeout). Writes begun while it waits are waited for
    /// too.
    ///
    /// ```
    /// # async fn stop(store: tollgate_store::Store) {
    /// let waited = tokio::time::timeout(std::time::Duration::from_secs(10), store.finish_writes());
    /// if waited.await.is_err() {
    ///     eprintln!("some refunds did not finish");
    /// }
    /// # }
    /// ```
    pub async fn finish_writes(&self) {
        // Closed for good: a tracker only says it is empty once closed, and
        // closing it does not stop it taking more.
        self.inner.writes.close();
        self.inner.writes.wait().await;
    }

    /// Closes the database's connections, once those in use are given back:
    /// a SQLite file takes in what its write-ahead log holds, so that the
    /// file alone is the whole database (a copy of it misses nothing, unless
    /// another process was reading an older state of it); Postgres sees each session end rather than break
    /// off. Calls after it fail. A server calls it last, after
    /// [`finish_writes`](Self::finish_writes); a program that just ends need
    /// not (nothing committed is lost), but leaves part of what it wrote in
    /// the `-wal` file beside a SQLite database.
    pub async fn close(&self) {
        self.inner.backend.close().await;
    }

    /// How long the layers wait for a charge or a claim of an idempotency
    /// key before they answer `service_unavailable`
    /// ([`StoreOptions::acquire_timeout`]).
    pub(crate) fn acquire_timeout(&self) -> Duration {
        self.inner.acquire_timeout
    }

    /// Counts the writes that run on tasks of their own.
    pub(crate) fn writes(&self) -> &TaskTracker {
        &self.inner.writes
    }

    /// The backend's name: `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// The current time from the store's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.inner.backend
    }

    // ---- accounts ------------------------------------------------------

    /// Creates an account (`accounts create`).
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
    /// characters, nor a key) is `InvalidInput`, and is not repeated in it.
    pub async fn key(&self, id_or_key: &str) -> Result<KeyInfo, StoreError> {
        let id = key_id_of(id_or_key)?;
        match self.backend().key(id).await? {
            Some((row, _)) => Ok(key_info(row)),
            None => Err(StoreError::KeyNotFound(id.to_owned())),
        }
    }

    /// Revokes a key by id (or by the whole key) (`keys revoke`): from now on
    /// it gets `deactivated_key`. This node's cache forgets it at once, even
    /// if the call fails (the revocation may have landed though its answer
    /// was lost). Text that is neither an id nor a key is `InvalidInput`, as
    /// for [`key`](Self::key).
    pub async fn revoke_key(&self, id_or_key: &str) -> Result<KeyInfo, StoreError> {
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
        self.inner
            .cache
            .with(p.id, now, |cached| judge(cached, &hash, now))
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
            return Err(Rejection::InvalidKey);
        };
        let Ok(hash) = <[u8; 32]>::try_from(row.key_hash.as_slice()) else {
            return Err(Rejection::InvalidKey);
        };
        let cached = CachedKey {
            hash,
            principal: Principal {
                inner: Arc::new(PrincipalInner {
                    key_id: row.id.clone(),
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

    // ---- credits and quotas ---------------------------------------------

    /// Takes `cost` credits from an account and counts one request against its
    /// monthly usage limit, in one conditional statement that can never take
    /// the balance below zero, however many run at once.
    ///
    /// Refused with `account_suspended`, `usage_limit_exceeded` (with
    /// `Retry-After` to the next month) or `insufficient_credits`; with
    /// `invalid_key` when no account has that id (the key's account is
    /// gone), and with a store error for a negative `cost`.
    pub async fn reserve(&self, account_id: &str, cost: i64) -> Result<Reservation, Rejection> {
        if cost < 0 {
            return Err(StoreError::InvalidInput(format!("cost {cost} is negative")).into());
        }
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

    // ---- idempotency -----------------------------------------------------

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
            detach::start(
                self.writes(),
                crate::idempotency::abandon(store, scope, key, token),
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
fn key_id_of(id_or_key: &str) -> Result<&str, StoreError> {
    match Presented::parse(id_or_key) {
        Some(p) => Ok(p.id),
        // Ids are base62: anything else of that length is no id either.
        None if id_or_key.len() == crate::key::ID_LEN
            && id_or_key.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(id_or_key)
        }
        None => Err(StoreError::InvalidInput(format!(
            "{} characters are neither a key id ({} characters, as `keys list` shows it) nor a \
             whole API key: check it was copied whole",
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

/// Whether `id` can name a stored account: no account id holds a NUL, and
/// Postgres text cannot even be asked about one (the statement fails, where
/// SQLite finds nothing), so such an id is answered as not found on either.
fn nameable(id: &str) -> bool {
    !id.contains('\0')
}

fn non_negative(what: &str, n: i64) -> Result<(), StoreError> {
    if n < 0 {
        Err(StoreError::InvalidInput(format!("{what} {n} is negative")))
    } else {
        Ok(())
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A lock timeout in the whole seconds locks are kept in: rounded up, at
/// least one, so no lock is over the moment it is taken.
fn lock_secs(d: Duration) -> i64 {
    i64::try_from(tollgate::retry_after_secs(d))
        .unwrap_or(i64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_come_from_whole_keys() {
        let key = format!("tg_live_{}{}", "A".repeat(12), "b".repeat(32));
        assert_eq!(key_id_of(&key).unwrap(), "AAAAAAAAAAAA");
        assert_eq!(key_id_of("AAAAAAAAAAAA").unwrap(), "AAAAAAAAAAAA");
        // Twelve bytes that are no id: refused as input, not looked up.
        for text in ["AAAAAA AAAAA", "éééééé"] {
            let err = key_id_of(text).unwrap_err().to_string();
            assert!(err.contains("neither a key id"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_key_taken_over_is_written_only_by_the_request_that_took_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let start = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = crate::ManualClock::new(start);
        let store = Store::open_with(&url, StoreOptions::default().clock(clock.clone()))
            .await
            .unwrap();
        let (day, minute) = (Duration::from_secs(86_400), Duration::from_secs(60));
        let begin = || store.idempotency_begin("key_1", "order-1", b"fp", day, minute);
        let outcome = |body: &str| IdempotencyRow {
            api_key_id: "key_1".to_owned(),
            idem_key: "order-1".to_owned(),
            fingerprint: b"fp".to_vec(),
            state: "done".to_owned(),
            locked_until: 0,
            status: Some(201),
            headers: Some("[]".to_owned()),
            body: Some(body.as_bytes().to_vec()),
            error: None,
            created_at: 0,
            expires_at: i64::MAX,
        };

        let Begin::Started {
            lock: first,
            token: first_token,
        } = begin().await.unwrap()
        else {
            panic!("the first request owns the key")
        };
        assert!(matches!(begin().await.unwrap(), Begin::InUse));
        // The first request stalls past its lock (its node paused, say): a
        // retry takes the key over.
        clock.advance(minute + Duration::from_secs(1));
        let Begin::Started {
            lock: second,
            token: second_token,
        } = begin().await.unwrap()
        else {
            panic!("a retry takes over a key whose lock ran out")
        };
        assert!(second > first);
        assert_ne!(first_token, second_token);
        // The first request comes back: none of its writes lands, though a
        // renewal it makes now would set the very lock the retry holds.
        assert_eq!(unix(store.now()) + 60, second);
        let renewed = store.idempotency_renew("key_1", "order-1", first_token, first, minute);
        assert_eq!(renewed.await.unwrap(), None);
        assert!(
            !store
                .idempotency_complete(outcome("first"), first_token)
                .await
                .unwrap()
        );
        assert!(
            !store
                .idempotency_abandon("key_1", "order-1", first_token)
                .await
                .unwrap()
        );
        // The request that took it over renews and stores its outcome.
        clock.advance(Duration::from_secs(5));
        let renewed = store.idempotency_renew("key_1", "order-1", second_token, second, minute);
        let third = renewed.await.unwrap().expect("still held");
        assert!(third > second);
        assert!(
            store
                .idempotency_complete(outcome("second"), second_token)
                .await
                .unwrap()
        );
        let Begin::Replay(row) = begin().await.unwrap() else {
            panic!("the outcome is replayed")
        };
        assert_eq!(row.body.as_deref(), Some(&b"second"[..]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_opening_together_on_a_new_sqlite_file_all_open() {
        let dir = tempfile::tempdir().unwrap();
        // Of processes starting at once on a new file, none is refused: not
        // when switching it to WAL (a lock SQLite does not wait for), nor
        // when applying a migration another applied meanwhile.
        for round in 0..10 {
            let url = format!(
                "sqlite://{}",
                dir.path().join(format!("{round}.db")).display()
            );
            let opened = futures_util::future::join_all((0..6).map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Store::open(&url).await })
            }))
            .await;
            for store in opened {
                let store = store.unwrap().unwrap();
                store.list_keys(None).await.unwrap();
                store.close().await;
            }
        }
    }

    #[tokio::test]
    async fn a_lock_lasts_at_least_its_timeout_in_whole_seconds() {
        assert_eq!(lock_secs(Duration::from_millis(1)), 1);
        assert_eq!(lock_secs(Duration::from_millis(1500)), 2);
        assert_eq!(lock_secs(Duration::from_secs(60)), 60);
        assert_eq!(lock_secs(Duration::MAX), i64::MAX);

        let start = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = crate::ManualClock::new(start);
        let store = Store::open_with(
            "sqlite::memory:",
            StoreOptions::default().clock(clock.clone()),
        )
        .await
        .unwrap();
        let half = Duration::from_millis(500);
        let day = Duration::from_secs(86_400);
        let begin = || store.idempotency_begin("key_1", "order-1", b"fp", day, half);
        let Begin::Started { lock, .. } = begin().await.unwrap() else {
            panic!("the first request owns the key")
        };
        // Times are whole seconds: a claim made late in a second still holds
        // through the next one, and is taken over only after it.
        clock.advance(Duration::from_secs(1));
        assert!(matches!(begin().await.unwrap(), Begin::InUse));
        clock.advance(Duration::from_secs(1));
        let Begin::Started { lock: taken, .. } = begin().await.unwrap() else {
            panic!("a lock past its end is taken over")
        };
        assert!(taken > lock);

        // A retention no longer than the lock: the record expires as its
        // lock ends, and is not removed (nor its key given to another
        // request) before the lock is over.
        let begin = |fp: &'static [u8]| store.idempotency_begin("key_1", "order-2", fp, half, half);
        assert!(matches!(begin(b"fp").await.unwrap(), Begin::Started { .. }));
        clock.advance(Duration::from_secs(1));
        assert!(matches!(begin(b"fp").await.unwrap(), Begin::InUse));
        assert!(matches!(begin(b"other").await.unwrap(), Begin::Reused));
        assert_eq!(store.purge_expired_idempotency().await.unwrap(), 0);
        clock.advance(Duration::from_secs(1));
        assert!(matches!(
            begin(b"other").await.unwrap(),
            Begin::Started { .. }
        ));
    }
}
