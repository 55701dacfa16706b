//! Opening a database: connecting, and running the migrations once however
//! many processes open a new file or schema at once.

use std::time::Duration;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::StoreError;

use super::SQLITE_BUSY_TIMEOUT;

/// Whether the SQLite database `conn` is on holds Tollgate's tables: sqlx's
/// migration table records Tollgate's first migration (another
/// application's sqlx migrations do not count). One recorded with other
/// text than this version's, over Tollgate's tables, is
/// [`StoreError::MigrationChanged`], not a database without them.
pub(super) async fn sqlite_has_tables(
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
pub(super) async fn postgres_has_tables(
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
    let found: Option<(String, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(recorded))
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
pub(super) async fn sqlite_connect(
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

/// The first SQLite release without the WAL-reset bug, which can corrupt a
/// WAL database that two connections write and checkpoint at once, as a
/// store's pool does (<https://sqlite.org/wal.html#walresetbug>).
const WAL_RESET_FIXED: [u32; 3] = [3, 51, 3];

/// Warns when the SQLite linked in has the WAL-reset bug: a build whose
/// lockfile holds an older `libsqlite3-sys` (0.30.1 bundles 3.46.0) has one.
pub(super) async fn warn_of_wal_reset_bug(pool: &sqlx::SqlitePool) {
    let version = sqlx::query_scalar::<_, String>("SELECT sqlite_version()")
        .fetch_one(pool)
        .await;
    if let Ok(version) = version
        && has_wal_reset_bug(&version)
    {
        tracing::warn!(
            "SQLite {version} has the WAL-reset bug, which can corrupt a database several \
             connections write (fixed in 3.51.3): update it, with `cargo update -p libsqlite3-sys`"
        );
    }
}

/// Whether SQLite `version` (`3.46.0`) predates [`WAL_RESET_FIXED`].
fn has_wal_reset_bug(version: &str) -> bool {
    let mut parts = version
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let version: [u32; 3] = std::array::from_fn(|_| parts.next().unwrap_or(0));
    version < WAL_RESET_FIXED
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
pub(super) async fn sqlite_migrate(
    migrator: &Migrator,
    pool: &sqlx::SqlitePool,
) -> Result<(), sqlx::migrate::MigrateError> {
    use sqlx::migrate::MigrateError;
    match migrator.run(pool).await {
        Err(MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)) => {
            let mut conn = pool.acquire().await?;
            let mut locked = conn.begin_with("BEGIN IMMEDIATE").await?;
            migrator.run_direct(None, &mut *locked, false).await?;
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
pub(super) fn migrate_error(migrator: &Migrator, e: sqlx::migrate::MigrateError) -> StoreError {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions are compared as numbers, part by part; one that does not
    /// read as a version counts as old.
    #[test]
    fn sqlite_before_3_51_3_has_the_wal_reset_bug() {
        for old in ["3.7.0", "3.46.0", "3.51.2", "3.50.9", "2.99.99", ""] {
            assert!(has_wal_reset_bug(old), "{old}");
        }
        for fixed in ["3.51.3", "3.52.0", "3.53.2", "3.100.0", "4.0.0"] {
            assert!(!has_wal_reset_bug(fixed), "{fixed}");
        }
    }

    /// `database is locked` (SQLITE_BUSY) is told apart from other errors,
    /// so that only it is tried again.
    #[tokio::test]
    async fn a_locked_database_is_busy_and_a_bad_statement_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .busy_timeout(Duration::ZERO);
        let mut holder = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let mut waiter = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::raw_sql("BEGIN EXCLUSIVE")
            .execute(&mut holder)
            .await
            .unwrap();
        let locked = sqlx::raw_sql("BEGIN EXCLUSIVE")
            .execute(&mut waiter)
            .await
            .unwrap_err();
        assert!(sqlite_busy(&locked), "{locked}");
        let bad = sqlx::raw_sql("SELEC 1")
            .execute(&mut waiter)
            .await
            .unwrap_err();
        assert!(!sqlite_busy(&bad), "{bad}");
        assert!(!sqlite_busy(&sqlx::Error::PoolTimedOut));
    }

    /// A new file another connection is writing (so that switching it to
    /// WAL is refused at once, not waited for) opens once that write is
    /// done: the store tries again rather than fail with `database is
    /// locked`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_file_being_written_opens_once_the_write_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut writer = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE other (id INTEGER); BEGIN IMMEDIATE; INSERT INTO other VALUES (1)",
        )
        .execute(&mut writer)
        .await
        .unwrap();
        let url = format!("sqlite://{}", path.display());
        let opening = tokio::spawn(async move { crate::Store::open(&url).await });
        // Not an assertion on time: only a chance for the store to find the
        // file locked before the write is committed.
        tokio::time::sleep(Duration::from_millis(500)).await;
        sqlx::raw_sql("COMMIT").execute(&mut writer).await.unwrap();
        let store = opening
            .await
            .unwrap()
            .expect("opens once the write is done");
        store.list_keys(None).await.unwrap();
        store.close().await;
        writer.close().await.unwrap();
    }

    /// The SQLite this workspace bundles (through its lockfile's
    /// `libsqlite3-sys`) is one without the bug.
    #[tokio::test]
    async fn the_bundled_sqlite_has_no_wal_reset_bug() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(!has_wal_reset_bug(&version), "SQLite {version}");
    }
}
