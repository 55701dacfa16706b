//! Test databases: every test runs on SQLite (a fresh file) and on Postgres
//! (a fresh schema) when `TOLLGATE_TEST_DATABASE_URL` is set.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use tollgate_store::backend::{Backend, PostgresBackend, SqliteBackend};
use tollgate_store::{ManualClock, Store, StoreOptions};

pub struct TestDb {
    pub store: Store,
    pub clock: ManualClock,
    pub url: String,
    pub schema: Option<String>,
    pub file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

/// 2024-05-15T12:00:00Z: mid-month, so a month boundary is a known distance away.
pub const START: u64 = 1_715_774_400;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this process has dropped what ended runs left behind.
static SWEPT: AtomicBool = AtomicBool::new(false);

/// The prefix of every test schema, followed by the process id.
const SCHEMA_PREFIX: &str = "tg_store_test_";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl TestDb {
    /// A fresh database of `kind`, or `None` (with a notice) when Postgres is not configured.
    pub async fn new(kind: Kind) -> Option<TestDb> {
        Self::with(kind, |o| o).await
    }

    pub async fn with(
        kind: Kind,
        tune: impl FnOnce(StoreOptions) -> StoreOptions,
    ) -> Option<TestDb> {
        Self::open(kind, tune, None::<fn(Pool) -> std::future::Ready<()>>).await
    }

    /// Like [`TestDb::new`], with `prepare` run on the empty database before
    /// the store opens it (and applies its migrations).
    pub async fn prepared<F, Fut>(kind: Kind, prepare: F) -> Option<TestDb>
    where
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = ()>,
    {
        Self::open(kind, |o| o, Some(prepare)).await
    }

    async fn open<F, Fut>(
        kind: Kind,
        tune: impl FnOnce(StoreOptions) -> StoreOptions,
        prepare: Option<F>,
    ) -> Option<TestDb>
    where
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = ()>,
    {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
        let options = tune(StoreOptions::default().clock(clock.clone()));
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let file = dir.path().join("tollgate.db");
                let url = format!("sqlite://{}", file.display());
                if let Some(prepare) = prepare {
                    let pool = Pool::open(&url, None, true).await;
                    prepare(pool.clone()).await;
                    pool.close().await;
                }
                let store = Store::open_with(&url, options).await.expect("open sqlite");
                Some(TestDb {
                    store,
                    clock,
                    url,
                    schema: None,
                    file: Some(file),
                    _dir: Some(dir),
                })
            }
            Kind::Postgres => {
                let Ok(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
                    eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
                    return None;
                };
                if !SWEPT.swap(true, Ordering::Relaxed) {
                    drop_schemas_of_ended_runs(&url).await;
                }
                let schema = format!(
                    "{SCHEMA_PREFIX}{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    START % 1000
                );
                if let Some(prepare) = prepare {
                    let pool = Pool::open(&url, Some(&schema), true).await;
                    prepare(pool.clone()).await;
                    pool.close().await;
                }
                let store = Store::open_with(&url, options.schema(schema.clone()))
                    .await
                    .expect("open postgres");
                Some(TestDb {
                    store,
                    clock,
                    url,
                    schema: Some(schema),
                    file: None,
                    _dir: None,
                })
            }
        }
    }

    /// The database's backend, over a pool of its own: no store, cache or
    /// clock around it.
    pub async fn backend(&self) -> Arc<dyn Backend> {
        match Pool::open(&self.url, self.schema.as_deref(), false).await {
            Pool::Sqlite(pool) => Arc::new(SqliteBackend::from_pool(pool)),
            Pool::Postgres(pool) => Arc::new(PostgresBackend::from_pool(pool)),
        }
    }

    /// Another store on the same database (another node), with its own cache.
    pub async fn another_node(&self, tune: impl FnOnce(StoreOptions) -> StoreOptions) -> Store {
        let mut options = tune(StoreOptions::default().clock(self.clock.clone()));
        if let Some(schema) = &self.schema {
            options = options.schema(schema.clone());
        }
        Store::open_with(&self.url, options)
            .await
            .expect("open second store")
    }

    /// Drops the Postgres schema (SQLite's file goes with its directory).
    pub async fn cleanup(self) {
        if let Some(schema) = &self.schema {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&self.url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
}

/// Drops the schemas that a test which failed before its cleanup left
/// behind, once its process has ended (its id is in the name). Only where
/// `/proc` tells which processes run: elsewhere nothing is dropped. The test
/// database is taken to be this machine's: a run from another machine or
/// container on the same database would look ended.
async fn drop_schemas_of_ended_runs(url: &str) {
    use sqlx::Connection;
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
        return;
    };
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)")
            .bind(SCHEMA_PREFIX)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for schema in schemas {
        let pid = schema[SCHEMA_PREFIX.len()..]
            .split('_')
            .next()
            .unwrap_or("");
        // Only names as the tests make them, safe to write into SQL bare.
        let made_here = schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if made_here && pid.parse::<u32>().is_ok() && !proc.join(pid).exists() {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// Runs each `async fn name(kind: Kind)` on both backends as two tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Kind::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Kind::Postgres).await;
                }
            )*
        }
    };
}

/// A pool on a test database, of either kind.
#[derive(Clone)]
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    /// Connects to `url`; on Postgres, with `schema` as the search path (made
    /// first when `create`).
    pub async fn open(url: &str, schema: Option<&str>, create: bool) -> Pool {
        if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .unwrap()
                .create_if_missing(create)
                .busy_timeout(Duration::from_secs(30));
            Pool::Sqlite(sqlx::SqlitePool::connect_with(options).await.unwrap())
        } else {
            let mut options = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
            if let Some(schema) = schema {
                if create {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
                options = options.options([("search_path", schema)]);
            }
            Pool::Postgres(sqlx::PgPool::connect_with(options).await.unwrap())
        }
    }

    /// Runs one statement.
    pub async fn execute(&self, sql: &str) {
        match self {
            Pool::Sqlite(pool) => drop(
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await
                    .unwrap(),
            ),
            Pool::Postgres(pool) => drop(
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Applies the crate's migrations up to `version` only, as an older
    /// release of the crate did.
    pub async fn migrate_to(&self, version: i64) {
        let kind = match self {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        };
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(kind);
        let older = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let number: i64 = name.split('_').next().unwrap().parse().unwrap();
            if number <= version {
                std::fs::copy(&path, older.path().join(name)).unwrap();
            }
        }
        self.migrate_from(older.path()).await;
    }

    /// Applies the migrations in `dir`, as another application's sqlx
    /// migrations would be.
    pub async fn migrate_from(&self, dir: &std::path::Path) {
        let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
        match self {
            Pool::Sqlite(pool) => migrator.run(pool).await.unwrap(),
            Pool::Postgres(pool) => migrator.run(pool).await.unwrap(),
        }
    }

    pub async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}
