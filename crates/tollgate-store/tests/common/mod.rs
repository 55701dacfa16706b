//! Test databases: every test runs on SQLite (a fresh file) and on Postgres
//! (a fresh schema) when `TOLLGATE_TEST_DATABASE_URL` is set.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, UNIX_EPOCH};

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
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
        let options = tune(StoreOptions::default().clock(clock.clone()));
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let file = dir.path().join("tollgate.db");
                let url = format!("sqlite://{}", file.display());
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
                let schema = format!(
                    "tg_store_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    START % 1000
                );
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
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await;
            }
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
