//! The `--database` argument shared by `tollgate keys` and `tollgate accounts`,
//! running their store calls to completion, and opening a store as every
//! command (serve too) does.

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
    /// [default: $TOLLGATE_DATABASE_URL, else the database or data_dir of ./tollgate.toml as
    /// `serve` reads it, else sqlite://tollgate.db]
    #[arg(long, value_name = "URL")]
    database: Option<String>,
}

/// A database URL, and where it was named (for messages).
struct Named {
    url: String,
    by: &'static str,
}

/// The variable a database URL can come from, so that a password in it stays
/// out of the process list.
pub(crate) const DATABASE_ENV: &str = "TOLLGATE_DATABASE_URL";

/// The URL in the variable `name`, if set and not empty (an empty one, as
/// `NAME= tollgate …` sets it, is unset).
pub(crate) fn url_from_env(name: &str) -> Result<Option<String>, CliError> {
    match std::env::var(name) {
        Ok(url) if url.is_empty() => Ok(None),
        Ok(url) => Ok(Some(url)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(CliError::Usage(format!("{name} is not valid UTF-8")))
        }
    }
}

/// Opens the store at `url`. A SQLite file it names that does not exist yet
/// is created first, readable by its owner only (0600 on Unix; SQLite gives
/// its `-wal` and `-shm` files the same mode); one that cannot be made is
/// reported with why (a missing directory, say).
/// `by` says what named it (`--database`, a variable, a config file's line),
/// for the error.
pub(crate) async fn open(url: &str, by: &str) -> Result<Store, CliError> {
    if let Some(file) = missing_sqlite_file(url) {
        // Said here, where the reason is plain (a missing directory), rather
        // than as SQLite's "unable to open database file".
        private_file(&file)
            .map_err(|e| cannot_open(url, by, format!("cannot create {}: {e}", file.display())))?;
    }
    Store::open(url).await.map_err(|e| cannot_open(url, by, e))
}

/// The error for a database that cannot be opened, its password hidden,
/// with what named it.
pub(crate) fn cannot_open(url: &str, by: &str, why: impl std::fmt::Display) -> CliError {
    let shown = tollgate::redact_url(url);
    CliError::Usage(format!(
        "cannot open the database {shown} (named by {by}): {why}"
    ))
}

/// Creates the empty file `path` if missing, 0600 on Unix; an existing file
/// is neither truncated nor changed.
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// What names the default database, in messages.
const DEFAULT_BY: &str = "the default";

impl DatabaseArgs {
    /// The database, as `serve` in this directory would find it: the flag,
    /// the variable, `./tollgate.toml`, then the default.
    fn named(&self) -> Result<Named, CliError> {
        if let Some(url) = &self.database {
            return Ok(Named {
                url: url.clone(),
                by: "--database",
            });
        }
        if let Some(url) = url_from_env(DATABASE_ENV)? {
            return Ok(Named {
                url,
                by: DATABASE_ENV,
            });
        }
        if let Some(url) = crate::serve::config_database(Path::new(crate::serve::DEFAULT_CONFIG))? {
            // Said, since a file in the working directory chose it.
            stderr!(
                "database {} (from ./tollgate.toml)",
                tollgate::redact_url(&url)
            );
            return Ok(Named {
                url,
                by: "./tollgate.toml",
            });
        }
        Ok(Named {
            url: tollgate_store::DEFAULT_DATABASE_URL.to_owned(),
            by: DEFAULT_BY,
        })
    }

    /// The database a command keeps what it changes in: not one in memory,
    /// which would be gone, with the change, when the command ends.
    fn lasting(&self) -> Result<Named, CliError> {
        let named = self.named()?;
        if sqlite_in_memory(&named.url) {
            return Err(CliError::Usage(format!(
                "the database named by {} is in memory, and would be gone with what this \
                 command does when it ends: name the database `tollgate serve` uses",
                named.by
            )));
        }
        Ok(named)
    }

    /// Opens the store and runs `f` on it to completion. A SQLite file made
    /// where no setting named one is said, so that an account does not land
    /// unnoticed in a database the server never reads.
    pub(crate) fn run<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let named = self.lasting()?;
        if let (true, Some(path)) = (named.by == DEFAULT_BY, missing_sqlite_file(&named.url)) {
            stderr!(
                "creating the database {} (the default: no --database, {DATABASE_ENV} or \
                 ./tollgate.toml names one)",
                Path::new(".").join(path).display()
            );
        }
        run_at(&named, f)
    }

    /// As [`run`](Self::run), for a command about what a database already
    /// holds (all but `accounts create`): a SQLite file that does not exist
    /// is an error, not an empty database to create.
    pub(crate) fn existing<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let named = self.lasting()?;
        if let Some(path) = missing_sqlite_file(&named.url) {
            let shown = if path.is_relative() {
                Path::new(".").join(&path)
            } else {
                path
            };
            return Err(CliError::Usage(format!(
                "no database at {} (named by {}): run where `tollgate serve` created it, or pass \
                 --database (or set {DATABASE_ENV})",
                shown.display(),
                named.by
            )));
        }
        run_at(&named, f)
    }
}

/// Opens the store `database` names and runs `f` on it to completion.
fn run_at<T, F, Fut>(database: &Named, f: F) -> Result<T, CliError>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let store = open(&database.url, database.by).await?;
        f(store).await.map_err(|e| CliError::Usage(e.to_string()))
    })
}

/// Whether a `sqlite:` URL names an in-memory database rather than a file.
pub(crate) fn sqlite_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The file a `sqlite:` URL names, when it does not exist.
pub(crate) fn missing_sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || sqlite_in_memory(url) {
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
