//! [`Store`]: the library API over a backend (what the CLI's `keys` and
//! `accounts` commands call) and the request-path operations the layers use.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Executor};
use tokio_util::task::TaskTracker;

use crate::backend::{
    Backend, IdempotencyRow, LockToken, OpenedFile, PostgresBackend, SqliteBackend,
};
use crate::cache::KeyCache;
use crate::error::{clip, config_error, quoted};
use crate::key;
use crate::{Clock, StoreError, SystemClock};

mod accounts;
mod credits;
mod idempotency;
mod migrate;

use migrate::{
    migrate_error, postgres_has_tables, sqlite_connect, sqlite_has_tables, sqlite_migrate,
    warn_of_wal_reset_bug,
};

/// The database used when none is given: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.db";

/// How long a store call waits for a connection by default: past it, the
/// store is unavailable (503 `service_unavailable`), not slow.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a charge is held for a request that has not ended, by default:
/// past it, the credits are given back (its process is taken to have
/// stopped). Requests rarely run for minutes; a process that was killed is
/// usually back well within this.
pub const DEFAULT_CHARGE_HOLD: Duration = Duration::from_secs(10 * 60);

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
    pub(crate) charge_hold: Duration,
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
            charge_hold: DEFAULT_CHARGE_HOLD,
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
            .field("charge_hold", &self.charge_hold)
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
    /// and what it takes once the lock is gone is given back. On Postgres,
    /// a statement waits as long for a lock (`lock_timeout`) and then
    /// fails, giving its connection back: a row held for minutes fails the
    /// calls on that row, not every call for want of a connection.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }
    /// How long a charge is held for a request that has not ended (default
    /// [`DEFAULT_CHARGE_HOLD`]): past it, the request's process is taken to
    /// have stopped mid-request (killed, crashed, its machine gone), and the
    /// credits and usage are given back (see
    /// [`Store::release_abandoned_charges`]). Set it above the longest a
    /// request may run: one running longer is not charged. Kept in whole
    /// seconds, rounded up (half a second holds a charge for one). Zero is
    /// refused when the store opens.
    pub fn charge_hold(mut self, hold: Duration) -> Self {
        self.charge_hold = hold;
        self
    }
    /// Postgres only: keep the tables in this schema (created if missing),
    /// e.g. one per test run or per application. 1–63 of `[a-z0-9_]`, not
    /// starting with a digit.
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
    /// (as the `tollgate keys` and `tollgate accounts` commands do, but
    /// `accounts create`), such a database (another application's, a
    /// mistyped name) is refused with [`StoreError::NoTables`] and left as
    /// it was: no table is made, a SQLite file is neither created nor
    /// switched to WAL, a Postgres [`schema`](Self::schema) is not created.
    /// A database a store has opened before (sqlx's migration table records
    /// Tollgate's first migration) opens as always, and gets the migrations
    /// it lacks; one that records it with other text than this version's
    /// is [`StoreError::MigrationChanged`].
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
    /// How long a charge is held for a request that has not ended.
    charge_hold: Duration,
    /// When (Unix seconds) a charge next looks for abandoned ones.
    next_abandoned_check: AtomicI64,
    /// The charges committed whose records are not yet deleted.
    commits: std::sync::Mutex<Commits>,
    /// The writes running on tasks of their own (`detach`).
    writes: TaskTracker,
}

/// The charges a store has committed whose records are not yet deleted:
/// kept, though their records are still there (see [`Store::commit`]).
#[derive(Debug, Default)]
struct Commits {
    /// Waiting for their batch.
    waiting: Vec<i64>,
    /// Waiting for a batch again: a delete of theirs failed, and may have
    /// deleted them all the same (its answer lost with the connection).
    again: Vec<i64>,
    /// In a batch being deleted.
    deleting: Vec<i64>,
    /// Whether a batch is due: a task will take `waiting` and `again`.
    due: bool,
    /// Whether the last batch failed (told once, until one succeeds).
    failing: bool,
}

impl Commits {
    /// Whether the charge `token` is committed here, its record not yet
    /// deleted.
    fn kept(&self, token: i64) -> bool {
        [&self.waiting, &self.again, &self.deleting]
            .iter()
            .any(|tokens| tokens.contains(&token))
    }
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
/// *reserved* (taken, atomically, never below zero, and the charge recorded)
/// before the handler runs, *committed* when the handler answers with a
/// status below 400 (the record deleted, in a batch), and *released* (given back, with
/// the request's usage count) when it answers with a 4xx or 5xx or its
/// future is dropped. A charge neither committed nor released within the
/// [charge hold](StoreOptions::charge_hold) (its process stopped) is given
/// back.
///
/// Clones are one reservation: the first [`Store::release`] of any of them
/// gives the credits back, and later ones do nothing (a handler that released
/// the copy in its request's extensions, then answered 4xx, is refunded once).
#[derive(Clone, Debug)]
#[must_use = "a reservation is either kept or released"]
pub struct Reservation {
    pub(crate) account_id: String,
    pub(crate) cost: i64,
    pub(crate) remaining: i64,
    /// The charge's record, which commit and release delete.
    pub(crate) token: i64,
    /// Set by the first release, shared by every clone.
    pub(crate) released: Arc<std::sync::atomic::AtomicBool>,
}

impl PartialEq for Reservation {
    fn eq(&self, other: &Reservation) -> bool {
        (&self.account_id, self.cost, self.remaining)
            == (&other.account_id, other.cost, other.remaining)
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

/// Sets how long a Postgres migration waits for a lock (Postgres's
/// `lock_timeout`, 10 s): another node's migration of the same schema (the
/// advisory lock waits under it too), or a table a long statement holds. An
/// `ALTER TABLE` queued behind a long lock would hold up every statement on
/// that table behind it, on every node.
const SET_MIGRATION_LOCK_TIMEOUT: &str = "SET lock_timeout = '10s'";

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
        if options.charge_hold.is_zero() {
            return Err(StoreError::InvalidInput(
                "the charge hold must be above zero (with none, every charge would be given back)"
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
            let path = given.get_filename().to_owned();
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
            if in_memory {
                return Ok(Store::with_backend(backend, options));
            }
            warn_of_wal_reset_bug(backend.pool()).await;
            let backend = backend.watching(OpenedFile::of(&path));
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
                            // Connected, then silence: a server hung, or
                            // another kind of server at that port.
                            format!(
                                "no connection within {} s: is a Postgres server answering at \
                                 that address (the right port)?",
                                CONNECT_TIMEOUT.as_secs()
                            ),
                        )))
                    })?
                    .map_err(|e| match e {
                        // Refused, unreachable: said with where it went.
                        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(
                            io.kind(),
                            format!(
                                "{io} (connecting to {}:{})",
                                connect.get_host(),
                                connect.get_port()
                            ),
                        )),
                        other => other,
                    })?;
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
                    // The schema's name is checked: 1-63 of [a-z0-9_].
                    let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
                    let created = conn.execute(sqlx::AssertSqlSafe(create)).await;
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
                        conn.execute(SET_MIGRATION_LOCK_TIMEOUT).await?;
                        // sqlx's `CREATE TABLE IF NOT EXISTS _sqlx_migrations`
                        // raises a notice at every start, which sqlx logs.
                        conn.execute("SET client_min_messages = warning")
                            .await
                            .map(drop)
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
            // A statement waits for a row lock no longer than a call waits
            // for a connection: a charge queued behind a transaction that
            // holds one account's row (an operator's, a long report) would
            // otherwise keep its connection until that ends, and a few
            // such would take the whole pool, every other account's calls
            // failing for want of one. Set by a statement, as above.
            let set_lock_timeout = format!(
                "SET lock_timeout = '{}ms'",
                options.acquire_timeout.as_millis().max(1)
            );
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .after_connect(move |conn, _| {
                    let set = sqlx::AssertSqlSafe(set_lock_timeout.clone());
                    Box::pin(async move { conn.execute(set).await.map(drop) })
                })
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
                charge_hold: options.charge_hold,
                next_abandoned_check: AtomicI64::new(i64::MIN),
                commits: std::sync::Mutex::default(),
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
    use std::sync::atomic::Ordering;

    use super::accounts::key_id_of;
    use super::*;
    use crate::backend::{
        AccountBackend, AccountRow, BoxFuture, Hold, IdempotencyBackend, KeyBackend, KeyRow,
        Reserved,
    };
    use crate::clock::unix;

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
            charge_id: None,
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

    /// An in-memory store whose time is a manual clock.
    async fn store_on_a_manual_clock() -> (Store, crate::ManualClock) {
        let start = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = crate::ManualClock::new(start);
        let options = StoreOptions::default().clock(clock.clone());
        let store = Store::open_with("sqlite::memory:", options).await.unwrap();
        (store, clock)
    }

    #[tokio::test]
    async fn a_lock_lasts_at_least_its_timeout_in_whole_seconds() {
        assert_eq!(lock_secs(Duration::from_millis(1)), 1);
        assert_eq!(lock_secs(Duration::from_millis(1500)), 2);
        assert_eq!(lock_secs(Duration::from_secs(60)), 60);
        assert_eq!(lock_secs(Duration::MAX), i64::MAX);

        let (store, clock) = store_on_a_manual_clock().await;
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

    /// A claim whose request never finished (its node died) is kept for
    /// the whole retention, not only its lock: once the lock is over, a
    /// retry of that request takes it over, but another request with the
    /// key is still refused, and the purge keeps the record till then.
    #[tokio::test]
    async fn an_unfinished_claim_is_kept_for_the_retention_past_its_lock() {
        let (store, clock) = store_on_a_manual_clock().await;
        let (hour, minute) = (Duration::from_secs(3600), Duration::from_secs(60));
        let begin =
            |fp: &'static [u8]| store.idempotency_begin("key_1", "order-1", fp, hour, minute);
        assert!(matches!(begin(b"fp").await.unwrap(), Begin::Started { .. }));
        clock.advance(minute + Duration::from_secs(1));
        assert!(matches!(begin(b"other").await.unwrap(), Begin::Reused));
        assert_eq!(store.purge_expired_idempotency().await.unwrap(), 0);
        assert!(matches!(begin(b"fp").await.unwrap(), Begin::Started { .. }));
        // Taken over, it is kept as long as it was: past the retention, the
        // key is free and the record purged.
        clock.advance(hour);
        assert_eq!(store.purge_expired_idempotency().await.unwrap(), 1);
        assert!(matches!(
            begin(b"other").await.unwrap(),
            Begin::Started { .. }
        ));
    }

    /// A backend over another that meddles as a concurrent node would, at
    /// the moment the store cannot see: a top-up landing just after a charge
    /// was refused, a claim written just before this one's, or a claim that
    /// lands with its answer lost on the way back.
    struct Meddling {
        inner: Arc<dyn Backend>,
        /// Credits added to an account once its next charge is refused.
        top_ups: std::sync::Mutex<std::collections::HashMap<String, i64>>,
        /// A claim another node writes just before this node's next one.
        claim_first: std::sync::Mutex<Option<IdempotencyRow>>,
        /// Whether the next claim lands but reports a lost connection.
        lose_claim_answer: std::sync::atomic::AtomicBool,
    }

    impl Meddling {
        fn over(store: &Store) -> Meddling {
            Meddling {
                inner: store.inner.backend.clone(),
                top_ups: Default::default(),
                claim_first: Default::default(),
                lose_claim_answer: Default::default(),
            }
        }
    }

    impl AccountBackend for Meddling {
        fn insert_account(&self, row: AccountRow) -> BoxFuture<'_, Result<bool, StoreError>> {
            self.inner.insert_account(row)
        }
        fn account<'a>(
            &'a self,
            id: &'a str,
        ) -> BoxFuture<'a, Result<Option<AccountRow>, StoreError>> {
            self.inner.account(id)
        }
        fn set_account_state<'a>(
            &'a self,
            id: &'a str,
            state: &'static str,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.set_account_state(id, state)
        }
        fn add_credits<'a>(
            &'a self,
            id: &'a str,
            amount: i64,
        ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
            self.inner.add_credits(id, amount)
        }
        fn set_limits<'a>(
            &'a self,
            id: &'a str,
            usage_limit: Option<i64>,
            storage_quota: Option<i64>,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.set_limits(id, usage_limit, storage_quota)
        }
        fn reserve<'a>(
            &'a self,
            id: &'a str,
            cost: i64,
            period: i64,
            hold: Hold,
        ) -> BoxFuture<'a, Result<Option<Reserved>, StoreError>> {
            Box::pin(async move {
                let reserved = self.inner.reserve(id, cost, period, hold).await?;
                if reserved.is_none() {
                    let top_up = self.top_ups.lock().unwrap().remove(id);
                    if let Some(amount) = top_up {
                        self.inner.add_credits(id, amount).await?;
                    }
                }
                Ok(reserved)
            })
        }
        fn release(&self, token: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
            self.inner.release(token)
        }
        fn commit<'a>(&'a self, tokens: &'a [i64]) -> BoxFuture<'a, Result<u64, StoreError>> {
            self.inner.commit(tokens)
        }
        fn expired_charges(
            &self,
            now: i64,
            limit: u32,
        ) -> BoxFuture<'_, Result<Vec<i64>, StoreError>> {
            self.inner.expired_charges(now, limit)
        }
        fn forget_stored_charges(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
            self.inner.forget_stored_charges(now)
        }
        fn add_storage<'a>(
            &'a self,
            id: &'a str,
            bytes: i64,
        ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
            self.inner.add_storage(id, bytes)
        }
        fn remove_storage<'a>(
            &'a self,
            id: &'a str,
            bytes: i64,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.remove_storage(id, bytes)
        }
    }

    impl KeyBackend for Meddling {
        fn insert_key(&self, row: KeyRow) -> BoxFuture<'_, Result<(), StoreError>> {
            self.inner.insert_key(row)
        }
        fn key<'a>(
            &'a self,
            id: &'a str,
        ) -> BoxFuture<'a, Result<Option<(KeyRow, String)>, StoreError>> {
            self.inner.key(id)
        }
        fn list_keys<'a>(
            &'a self,
            account_id: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Vec<KeyRow>, StoreError>> {
            self.inner.list_keys(account_id)
        }
        fn revoke_key<'a>(
            &'a self,
            id: &'a str,
            now: i64,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.revoke_key(id, now)
        }
    }

    impl IdempotencyBackend for Meddling {
        fn idem_insert(
            &self,
            row: IdempotencyRow,
            token: LockToken,
        ) -> BoxFuture<'_, Result<bool, StoreError>> {
            Box::pin(async move {
                let first = self.claim_first.lock().unwrap().take();
                if let Some(first) = first {
                    assert!(self.inner.idem_insert(first, LockToken(7)).await?);
                }
                let inserted = self.inner.idem_insert(row, token).await?;
                if self.lose_claim_answer.swap(false, Ordering::Relaxed) {
                    let lost = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
                    return Err(StoreError::Database(sqlx::Error::Io(lost)));
                }
                Ok(inserted)
            })
        }
        fn idem_get<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
        ) -> BoxFuture<'a, Result<Option<IdempotencyRow>, StoreError>> {
            self.inner.idem_get(api_key_id, idem_key)
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
            self.inner
                .idem_take_over(api_key_id, idem_key, fingerprint, now, locked_until, token)
        }
        fn idem_complete(
            &self,
            row: IdempotencyRow,
            token: LockToken,
        ) -> BoxFuture<'_, Result<bool, StoreError>> {
            self.inner.idem_complete(row, token)
        }
        fn idem_abandon<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
            token: LockToken,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.idem_abandon(api_key_id, idem_key, token)
        }
        fn idem_renew<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
            token: LockToken,
            until: i64,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.idem_renew(api_key_id, idem_key, token, until)
        }
        fn idem_delete_expired<'a>(
            &'a self,
            api_key_id: &'a str,
            idem_key: &'a str,
            now: i64,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.idem_delete_expired(api_key_id, idem_key, now)
        }
        fn idem_purge(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
            self.inner.idem_purge(now)
        }
    }

    impl Backend for Meddling {
        fn name(&self) -> &'static str {
            self.inner.name()
        }
    }

    /// A charge refused for want of credits, whose account was topped up
    /// before the store looked at why, is tried again rather than refused:
    /// whether the top-up brought the balance to exactly the cost or past it.
    #[tokio::test]
    async fn a_charge_refused_just_before_a_top_up_is_tried_again() {
        let (base, clock) = store_on_a_manual_clock().await;
        for (id, top_up) in [("exact", 2), ("more", 4)] {
            let account = crate::NewAccount::new(id).credits(1);
            base.create_account(account).await.unwrap();
            let meddling = Meddling::over(&base);
            meddling
                .top_ups
                .lock()
                .unwrap()
                .insert(id.to_owned(), top_up);
            let options = StoreOptions::default().clock(clock.clone());
            let store = Store::with_backend(meddling, options);
            match store.reserve(id, 3).await {
                Ok(charged) => assert_eq!(charged.remaining(), top_up - 2, "{id}"),
                Err(refused) => panic!("{id}: {refused:?}"),
            }
        }
    }

    /// A claim another node wrote between this node's delete of expired
    /// records and its own claim, already expired by this node's clock (the
    /// other's is behind), is taken as gone: the key is this request's, not
    /// refused as used with another request.
    #[tokio::test]
    async fn a_claim_expired_by_this_nodes_clock_does_not_hold_the_key() {
        let (base, clock) = store_on_a_manual_clock().await;
        let now = crate::clock::unix(base.now());
        let meddling = Meddling::over(&base);
        let stale =
            IdempotencyRow::running("key_1", "order-1", b"other", now - 60, now - 120, now - 1);
        *meddling.claim_first.lock().unwrap() = Some(stale);
        let store = Store::with_backend(meddling, StoreOptions::default().clock(clock));
        let (day, minute) = (Duration::from_secs(86_400), Duration::from_secs(60));
        let begun = store.idempotency_begin("key_1", "order-1", b"fp", day, minute);
        assert!(matches!(begun.await.unwrap(), Begin::Started { .. }));
    }

    /// A claim that landed though its answer was lost (the connection broke
    /// on the way back) is freed, so that a retry of the request is not held
    /// off as in use until the claim's lock runs out.
    #[tokio::test]
    async fn a_claim_whose_answer_was_lost_is_freed_for_a_retry() {
        let (base, clock) = store_on_a_manual_clock().await;
        let meddling = Meddling::over(&base);
        meddling.lose_claim_answer.store(true, Ordering::Relaxed);
        let store = Store::with_backend(meddling, StoreOptions::default().clock(clock));
        let (day, minute) = (Duration::from_secs(86_400), Duration::from_secs(60));
        let begin = || store.idempotency_begin("key_1", "order-1", b"fp", day, minute);
        assert!(begin().await.is_err());
        store.finish_writes().await;
        assert!(matches!(begin().await.unwrap(), Begin::Started { .. }));
    }
}
