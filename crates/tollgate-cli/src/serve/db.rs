//! The scans, kept in the store's database (SQLite or Postgres) in a table
//! of serve's own, `serve_scans`, created on start.
//!
//! `tollgate-store` has no table API for an application's rows, so serve
//! opens a small pool of its own on the same URL; the SQL (`$n`
//! placeholders, `ON CONFLICT`) is the same on both databases. One image is
//! scanned once per account: the pair is unique, which makes a second scan
//! of it a `conflict` even when two race.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Row};
use tollgate_store::{Owned, SQLITE_BUSY_TIMEOUT};

use crate::store_db::sqlite_in_memory;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS serve_scans (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    format       TEXT NOT NULL,
    width        BIGINT NOT NULL,
    height       BIGINT NOT NULL,
    label        TEXT NOT NULL,
    confidence   DOUBLE PRECISION NOT NULL,
    brightness   DOUBLE PRECISION NOT NULL,
    contrast     DOUBLE PRECISION NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (account_id, image_sha256)
)";
/// The columns of `serve_scans`, which `record!` reads: a macro
/// so that the statements built from it with `concat!` are `&'static str`,
/// which sqlx takes as a query.
macro_rules! columns {
    () => {
        "id, account_id, image_sha256, format, width, height, label, confidence, \
         brightness, contrast, created_at"
    };
}

/// One stored scan.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScanRecord {
    /// `scan_…`.
    pub(crate) id: String,
    /// The owning account.
    pub(crate) account_id: String,
    /// SHA-256 of the image bytes, hex.
    pub(crate) image_sha256: String,
    /// `png` or `jpeg`.
    pub(crate) format: String,
    /// Width in pixels.
    pub(crate) width: i64,
    /// Height in pixels.
    pub(crate) height: i64,
    /// The model's label.
    pub(crate) label: String,
    /// The model's confidence, 0–1.
    pub(crate) confidence: f64,
    /// Mean luminance, 0–255.
    pub(crate) brightness: f64,
    /// Standard deviation of the luminance.
    pub(crate) contrast: f64,
    /// Unix seconds.
    pub(crate) created_at: i64,
}

impl Owned for ScanRecord {
    fn owner(&self) -> &str {
        &self.account_id
    }
}

impl ScanRecord {
    /// `created_at` as RFC 3339.
    pub(crate) fn created_at_text(&self) -> String {
        let secs = u64::try_from(self.created_at).unwrap_or(0);
        crate::store_db::time(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }
}

/// What [`Scans::insert`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The scan is stored.
    New,
    /// The account had scanned the image already: the earlier scan's id.
    Duplicate(String),
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The scans table.
#[derive(Clone, Debug)]
pub(crate) struct Scans {
    pool: Pool,
}

/// Runs the same statement on whichever pool there is.
macro_rules! on_pool {
    ($self:expr, |$pool:ident| $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

macro_rules! record {
    ($row:expr) => {{
        let row = $row;
        ScanRecord {
            id: row.try_get("id")?,
            account_id: row.try_get("account_id")?,
            image_sha256: row.try_get("image_sha256")?,
            format: row.try_get("format")?,
            width: row.try_get("width")?,
            height: row.try_get("height")?,
            label: row.try_get("label")?,
            confidence: row.try_get("confidence")?,
            brightness: row.try_get("brightness")?,
            contrast: row.try_get("contrast")?,
            created_at: row.try_get("created_at")?,
        }
    }};
}

impl Scans {
    /// Opens `url` (the store's database) and creates the table if missing.
    pub(crate) async fn open(url: &str) -> Result<Scans, sqlx::Error> {
        let pool = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            // An in-memory database lives as long as its one connection.
            let options = if sqlite_in_memory(url) {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(4)
            };
            Pool::Sqlite(options.connect_with(connect).await?)
        } else {
            let connect = PgConnectOptions::from_str(url)?.disable_statement_logging();
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(tollgate_store::DEFAULT_ACQUIRE_TIMEOUT)
                    .connect_with(connect)
                    .await?,
            )
        };
        let scans = Scans { pool };
        let created = on_pool!(scans, |pool| sqlx::query(CREATE)
            .execute(pool)
            .await
            .map(drop));
        // On Postgres `IF NOT EXISTS` is not safe under concurrency: of
        // several nodes starting at once on an empty database, all but one
        // may fail on the catalog's unique index (23505), or find the table
        // (42P07) or its row type (42710) made. The table is there either way.
        let made_by_another = |e: &sqlx::Error| {
            e.as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| ["23505", "42P07", "42710"].contains(&code.as_ref()))
        };
        match created {
            Err(e) if !made_by_another(&e) => Err(e),
            _ => Ok(scans),
        }
    }

    /// Closes the pool's connections, as [`Store::close`](tollgate_store::Store::close)
    /// does the store's.
    pub(crate) async fn close(&self) {
        on_pool!(self, |pool| pool.close().await);
    }

    /// The scan `id`, whoever owns it.
    pub(crate) async fn find(&self, id: &str) -> Result<Option<ScanRecord>, sqlx::Error> {
        let sql = concat!("SELECT ", columns!(), " FROM serve_scans WHERE id = $1");
        on_pool!(self, |pool| {
            match sqlx::query(sql).bind(id).fetch_optional(pool).await? {
                Some(row) => Ok(Some(record!(row))),
                None => Ok(None),
            }
        })
    }

    /// The id of `account`'s scan of the image with this hash, if any.
    pub(crate) async fn find_image(
        &self,
        account: &str,
        sha256: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let sql = "SELECT id FROM serve_scans WHERE account_id = $1 AND image_sha256 = $2";
        on_pool!(self, |pool| {
            match sqlx::query(sql)
                .bind(account)
                .bind(sha256)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(row.try_get("id")?)),
                None => Ok(None),
            }
        })
    }

    /// Stores `scan`, unless its account scanned the image already.
    pub(crate) async fn insert(&self, scan: &ScanRecord) -> Result<Inserted, sqlx::Error> {
        let sql = concat!(
            "INSERT INTO serve_scans (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (account_id, image_sha256) DO NOTHING"
        );
        let done = on_pool!(self, |pool| sqlx::query(sql)
            .bind(&scan.id)
            .bind(&scan.account_id)
            .bind(&scan.image_sha256)
            .bind(&scan.format)
            .bind(scan.width)
            .bind(scan.height)
            .bind(&scan.label)
            .bind(scan.confidence)
            .bind(scan.brightness)
            .bind(scan.contrast)
            .bind(scan.created_at)
            .execute(pool)
            .await?
            .rows_affected());
        if done == 1 {
            return Ok(Inserted::New);
        }
        let existing = self
            .find_image(&scan.account_id, &scan.image_sha256)
            .await?
            .unwrap_or_default();
        Ok(Inserted::Duplicate(existing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, account: &str, sha: &str) -> ScanRecord {
        ScanRecord {
            id: id.to_owned(),
            account_id: account.to_owned(),
            image_sha256: sha.to_owned(),
            format: "png".to_owned(),
            width: 8,
            height: 8,
            label: "balanced".to_owned(),
            confidence: 1.0,
            brightness: 128.0,
            contrast: 96.0,
            created_at: 1_735_689_600,
        }
    }

    #[tokio::test]
    async fn one_scan_per_image_and_account() {
        let scans = Scans::open("sqlite::memory:").await.unwrap();
        let first = record("scan_1", "acme", "abc");
        assert_eq!(scans.insert(&first).await.unwrap(), Inserted::New);
        assert_eq!(
            scans
                .insert(&record("scan_2", "acme", "abc"))
                .await
                .unwrap(),
            Inserted::Duplicate("scan_1".to_owned())
        );
        // Another account may scan the same image.
        assert_eq!(
            scans
                .insert(&record("scan_3", "globex", "abc"))
                .await
                .unwrap(),
            Inserted::New
        );
        assert_eq!(scans.find("scan_1").await.unwrap(), Some(first.clone()));
        assert_eq!(scans.find("scan_2").await.unwrap(), None);
        assert_eq!(
            scans.find_image("acme", "abc").await.unwrap().as_deref(),
            Some("scan_1")
        );
        assert_eq!(first.created_at_text(), "2025-01-01T00:00:00Z");
    }

    /// A table that cannot be made stops the start, rather than every scan
    /// failing later: here an index already has its name.
    #[tokio::test]
    async fn a_table_that_cannot_be_made_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let pool = SqlitePool::connect(&url).await.unwrap();
        for sql in ["CREATE TABLE t (x)", "CREATE INDEX serve_scans ON t (x)"] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let err = Scans::open(&url).await.unwrap_err();
        assert!(err.to_string().contains("serve_scans"), "{err}");
    }

    /// Closing takes in the write-ahead log, as serve's stop relies on: the
    /// SQLite file alone is then the whole database, the scan in it.
    #[tokio::test]
    async fn closing_leaves_the_whole_database_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let scans = Scans::open(&url).await.unwrap();
        let scan = record("scan_1", "acme", "abc");
        assert_eq!(scans.insert(&scan).await.unwrap(), Inserted::New);
        assert!(wal.exists(), "the scan is in the write-ahead log");
        scans.close().await;
        assert!(!wal.exists(), "the write-ahead log is taken in");
        let reopened = Scans::open(&url).await.unwrap();
        assert_eq!(reopened.find("scan_1").await.unwrap(), Some(scan));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_starting_together_on_postgres_all_open() {
        let Ok(base) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
            eprintln!("skipping: TOLLGATE_TEST_DATABASE_URL is unset");
            return;
        };
        // A schema of its own, where the table does not exist yet.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let schema = format!("serve_race_{}_{nanos}", std::process::id());
        let admin = PgPool::connect(&base).await.unwrap();
        let create = format!("CREATE SCHEMA \"{schema}\"");
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&admin)
            .await
            .unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options[search_path]={schema}");
        let opened = futures_util::future::join_all((0..8).map(|_| Scans::open(&url))).await;
        let drop_schema = format!("DROP SCHEMA \"{schema}\" CASCADE");
        sqlx::query(sqlx::AssertSqlSafe(drop_schema))
            .execute(&admin)
            .await
            .unwrap();
        for result in opened {
            result.unwrap();
        }
    }
}
