//! The `--database` argument shared by `tollgate keys` and `tollgate accounts`,
//! and running their store calls to completion.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use sqlx::sqlite::SqliteConnectOptions;

use tollgate_store::{Store, StoreError};

use crate::error::CliError;

/// Where keys and accounts are kept.
#[derive(Debug, clap::Args)]
pub(crate) struct DatabaseArgs {
    /// The database: sqlite://PATH (`accounts create` creates it) or postgres://USER@HOST/DB
    #[arg(long, value_name = "URL", default_value = tollgate_store::DEFAULT_DATABASE_URL)]
    database: String,
}

impl DatabaseArgs {
    /// Opens the store and runs `f` on it to completion.
    pub(crate) fn run<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
        runtime.block_on(async {
            let store = Store::open(&self.database).await.map_err(|e| {
                let database = tollgate::redact_url(&self.database);
                CliError::Usage(format!("cannot open the database {database}: {e}"))
            })?;
            f(store).await.map_err(|e| CliError::Usage(e.to_string()))
        })
    }

    /// As [`run`](Self::run), for a command about what a database already
    /// holds (all but `accounts create`): a SQLite file that does not exist
    /// is an error, not an empty database to create.
    pub(crate) fn existing<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        if let Some(path) = missing_sqlite_file(&self.database) {
            let shown = if path.is_relative() {
                Path::new(".").join(&path)
            } else {
                path
            };
            return Err(CliError::Usage(format!(
                "no database at {}: run where `tollgate serve` created it, or pass --database",
                shown.display()
            )));
        }
        self.run(f)
    }
}

/// The file a `sqlite:` URL names, when it does not exist.
pub(crate) fn missing_sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    // A URL sqlx cannot read is left to `Store::open` to report.
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path.exists() {
        return None;
    }
    Some(path.to_owned())
}

/// A time as RFC 3339, to the second; past year 9999 (which RFC 3339 cannot
/// write) as its Unix time.
pub(crate) fn time(t: SystemTime) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    match write!(text, "{}", humantime::format_rfc3339_seconds(t)) {
        Ok(()) => text,
        Err(_) => {
            let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            format!("after year 9999 (Unix time {})", secs.as_secs())
        }
    }
}
