//! The `--database` argument shared by `tollgate keys` and `tollgate accounts`,
//! running their store calls to completion, and opening a store as every
//! command (serve too) does.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use tollgate_store::{Store, StoreError, StoreOptions};

use crate::error::CliError;

/// Where keys and accounts are kept.
#[derive(Debug, clap::Args)]
pub(crate) struct DatabaseArgs {
    /// The database: sqlite://PATH (`accounts create` creates it, and its tables; the other
    /// commands refuse a database without them) or postgres://USER@HOST/DB [default:
    /// $TOLLGATE_DATABASE_URL, else the database or data_dir of ./tollgate.toml as `serve`
    /// reads it, else sqlite://tollgate.db]
    #[arg(long, value_name = "URL", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    database: Option<String>,
}

/// A database URL, and where it was named (for messages).
struct Named {
    url: String,
    by: String,
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

/// Opens the store at `url`, creating its tables if missing. A SQLite file
/// it names that does not exist yet is created first, readable by its owner
/// only (0600 on Unix; SQLite gives its `-wal` and `-shm` files the same
/// mode); one that cannot be made is reported with why (a missing
/// directory, say). An existing SQLite file that holds other tables and
/// none of Tollgate's (another application's) is refused, left as it was;
/// one others may read is warned of. `by` says what named it
/// (`--database`, a variable, a config file's line), for the error.
pub(crate) async fn open(url: &str, by: &str) -> Result<Store, CliError> {
    if let Some(why) = sqlite_path_problem(url) {
        return Err(cannot_open(url, by, why));
    }
    if let Some(file) = missing_sqlite_file(url) {
        // Said here, where the reason is plain (a missing directory), rather
        // than as SQLite's "unable to open database file".
        private_file(&file)
            .map_err(|e| cannot_open(url, by, format!("cannot create {}: {e}", file.display())))?;
    } else if sqlite_file(url).is_some() {
        // Tollgate's file, or another application's (or a mistyped name):
        // making the tables there would switch it to WAL and add to it, or
        // fail halfway on a table of the same name.
        match Store::open_with(url, StoreOptions::default().create_tables(false)).await {
            Ok(store) => return Ok(warned_if_shared(url, store)),
            Err(StoreError::NoTables) => {
                if let Some(tables) = foreign_tables(url).await.filter(|t| !t.is_empty()) {
                    return Err(cannot_open(
                        url,
                        by,
                        format!(
                            "it holds another application's tables ({}) and no record of \
                             Tollgate's migrations: name a new file, or the one `tollgate \
                             serve` made",
                            tables.join(", ")
                        ),
                    ));
                }
            }
            Err(e) => return Err(plain(url, by, &e).unwrap_or_else(|| cannot_open(url, by, e))),
        }
        // An empty file made by hand, its mode with it: filled from here.
        let store = Store::open(url)
            .await
            .map_err(|e| plain(url, by, &e).unwrap_or_else(|| cannot_open(url, by, e)))?;
        return Ok(warned_if_shared(url, store));
    }
    Store::open(url)
        .await
        .map_err(|e| plain(url, by, &e).unwrap_or_else(|| cannot_open(url, by, e)))
}

/// The tables Tollgate makes in a SQLite file: the store's, sqlx's record of
/// its migrations, and serve's scans.
const TOLLGATE_TABLES: [&str; 6] = [
    "_sqlx_migrations",
    "accounts",
    "api_keys",
    "idempotency",
    "reservations",
    "serve_scans",
];

/// The tables of a SQLite file that are not Tollgate's (the first five, by
/// name), read on a connection that changes nothing; `None` when it cannot
/// be read. Tables of Tollgate's names are its own only beside sqlx's record
/// of migrations, which a node makes before its first migration: another
/// node starting on the file at the same moment may have made some before
/// that migration is recorded; without the record, they are another
/// application's (an `accounts` table of its own).
async fn foreign_tables(url: &str) -> Option<Vec<String>> {
    let mut conn = SqliteConnectOptions::from_str(url)
        .ok()?
        .create_if_missing(false)
        .read_only(true)
        .connect()
        .await
        .ok()?;
    let tables: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .ok();
    drop(conn.close().await);
    let tables = tables?;
    let migrating = tables.iter().any(|name| name == "_sqlx_migrations");
    let foreign = tables
        .into_iter()
        .filter(|name| !(migrating && TOLLGATE_TABLES.contains(&name.as_str())))
        .take(5)
        .collect();
    Some(foreign)
}

/// Opens the store at `url` if it holds Tollgate's tables (applying any
/// migrations they lack); a database without them (another application's,
/// a mistyped name) is refused, and nothing is written to it.
async fn open_existing(url: &str, by: &str) -> Result<Store, CliError> {
    if let Some(why) = sqlite_path_problem(url) {
        return Err(cannot_open(url, by, why));
    }
    let options = StoreOptions::default().create_tables(false);
    let store = Store::open_with(url, options).await.map_err(|e| match e {
        StoreError::NoTables => CliError::Usage(format!(
            "no Tollgate tables in {} (named by {by}): is this the database \
             `tollgate serve` uses?",
            shown_url(url)
        )),
        e => plain(url, by, &e).unwrap_or_else(|| cannot_open(url, by, e)),
    })?;
    Ok(warned_if_shared(url, store))
}

/// The most characters of a URL an error message shows: the whole of any
/// real one, and not a flood for a mistaken one (a file pasted in).
const URL_SHOWN: usize = 256;

/// A URL as an error message shows it: its password hidden, at most
/// [`URL_SHOWN`] characters of it, made safe for a terminal
/// ([`printable`](crate::input::printable)).
pub(crate) fn shown_url(url: &str) -> String {
    crate::input::printable(&crate::wire::clipped_at(
        &tollgate::redact_url(url),
        URL_SHOWN,
    ))
}

/// The error for a database that cannot be opened, its password hidden,
/// with what named it.
pub(crate) fn cannot_open(url: &str, by: &str, why: impl std::fmt::Display) -> CliError {
    let shown = shown_url(url);
    let why = without_secrets(&why.to_string(), url);
    CliError::Usage(format!(
        "cannot open the database {shown} (named by {by}): {why}"
    ))
}

/// `text` (a driver's error, a path) with the secrets of `url` hidden where
/// it repeats them: the whole URL (sqlx's `invalid database url: …`), or
/// its user info (a `sqlite://user:pw@/tmp/x.db` path, which SQLite reads
/// as `user:pw@/tmp/x.db`).
fn without_secrets(text: &str, url: &str) -> String {
    let redacted = tollgate::redact_url(url);
    if redacted == url {
        return text.to_owned();
    }
    let mut text = text.replace(url, &redacted);
    let user_info = |url: &str| {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        rest.rsplit_once('@')
            .map(|(user_info, _)| user_info.to_owned())
    };
    if let (Some(secret), Some(hidden)) = (user_info(url), user_info(&redacted))
        && secret != hidden
        && !secret.is_empty()
    {
        text = text.replace(&secret, &hidden);
    }
    text
}

/// The error for a store call that failed. A failure of the database itself
/// (locked, read-only, gone) names it and what named it, its password
/// hidden; a refusal (an account not found, a balance that would go below
/// zero) is said as it is.
fn failed(database: &Named, e: StoreError) -> CliError {
    let (url, by) = (&database.url, &database.by);
    if let Some(plain) = plain(url, by, &e) {
        return plain;
    }
    match e {
        StoreError::Database(_) => CliError::Usage(format!(
            "the database {} (named by {by}): {}",
            shown_url(url),
            without_secrets(&e.to_string(), url)
        )),
        e => CliError::Usage(e.to_string()),
    }
}

/// The error for a SQLite database that stayed locked, or that SQLite would
/// not write, said plainly, if that is why `e` failed.
fn plain(url: &str, by: &str, e: &StoreError) -> Option<CliError> {
    locked(url, by, e)
        .or_else(|| read_only(url, by, e))
        .or_else(|| directory_refused(url, by, e))
}

/// The SQLite result code of a failed store call (extended codes included).
fn sqlite_code(url: &str, e: &StoreError) -> Option<i32> {
    let StoreError::Database(cause) = e else {
        return None;
    };
    let code = cause.as_database_error().and_then(|e| e.code())?;
    url.starts_with("sqlite:").then(|| code.parse().ok())?
}

/// The error for a SQLite database `e` says SQLite would not write, said
/// plainly (see [`read_only`]); `None` for any other error. serve's first
/// write at its start asks it: a file it can read but not write would
/// otherwise answer every charged request 503.
pub(crate) fn not_writable(url: &str, by: &str, e: &StoreError) -> Option<CliError> {
    read_only(url, by, e)
}

/// The error for a SQLite database SQLite would not write (`SQLITE_READONLY`),
/// naming what is read-only: the directory, where SQLite must create the
/// `-wal` and `-shm` files (even to read), or the database or one of those
/// files (made read-only beside a read-only database, they stay so when the
/// database is made writable). `None` when none is (a `?mode=ro` URL), or
/// for another error.
fn read_only(url: &str, by: &str, e: &StoreError) -> Option<CliError> {
    const SQLITE_READONLY: i32 = 8;
    const SQLITE_READONLY_DIRECTORY: i32 = SQLITE_READONLY | (6 << 8);
    let code = sqlite_code(url, e)?;
    if code & 0xff != SQLITE_READONLY {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    let why = if code == SQLITE_READONLY_DIRECTORY {
        directory_not_writable(file)?
    } else {
        let with = |suffix: &str| {
            let mut path = file.as_os_str().to_owned();
            path.push(suffix);
            PathBuf::from(path)
        };
        // Opened for writing only to find out: nothing is written.
        let writable = |path: &Path| {
            let opened = std::fs::OpenOptions::new().write(true).open(path);
            !matches!(opened, Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied)
        };
        let file = [with(""), with("-wal"), with("-shm")]
            .into_iter()
            .find(|path| !writable(path))?;
        format!("{} is not writable", file.display())
    };
    Some(CliError::Usage(format!(
        "cannot use the database {} (named by {by}): {why}",
        shown_url(url)
    )))
}

/// Why SQLite cannot use the database `file`: its directory is not
/// writable, and SQLite makes the `-wal` and `-shm` files there.
fn directory_not_writable(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_string_lossy();
    Some(format!(
        "the directory {} is not writable, and SQLite makes {name}-wal and {name}-shm in it",
        directory_of(file).display()
    ))
}

/// The directory `file` is in (`.` for a bare name).
fn directory_of(file: &Path) -> &Path {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The error for a SQLite database file that exists but could not be opened
/// (`SQLITE_CANTOPEN`) because SQLite cannot make its `-wal` and `-shm`
/// files beside it (a directory made read-only, or immutable), if that is
/// why `e` failed: SQLite says only "unable to open database file".
fn directory_refused(url: &str, by: &str, e: &StoreError) -> Option<CliError> {
    const SQLITE_CANTOPEN: i32 = 14;
    if sqlite_code(url, e)? & 0xff != SQLITE_CANTOPEN {
        return None;
    }
    let file = SqliteConnectOptions::from_str(url)
        .ok()?
        .get_filename()
        .to_owned();
    if !file.is_file() {
        return None;
    }
    // Whether a file can be made there, found by making one no one else
    // names, and removing it at once.
    let name = file.file_name()?.to_string_lossy();
    let probe = directory_of(&file).join(format!(".{name}-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(_) => Some(CliError::Usage(format!(
            "cannot use the database {} (named by {by}): {}",
            shown_url(url),
            directory_not_writable(&file)?
        ))),
    }
}

/// The error for a SQLite database that stayed locked (`SQLITE_BUSY` or
/// `SQLITE_LOCKED`, extended codes included) through the store's wait, if
/// that is why `e` failed.
fn locked(url: &str, by: &str, e: &StoreError) -> Option<CliError> {
    if !matches!(sqlite_code(url, e)? & 0xff, 5 | 6) {
        return None;
    }
    Some(CliError::Usage(format!(
        "the database {} (named by {by}) stayed locked for the {} s wait: another process \
         (tollgate serve?) holds it",
        shown_url(url),
        tollgate_store::SQLITE_BUSY_TIMEOUT.as_secs()
    )))
}

/// Writes `text`, the output of a command that changed the database, and
/// flushes it. A failure says that the change was made anyway: `change`
/// says what it was.
pub(crate) fn show_change(
    out: &mut dyn Write,
    text: &str,
    change: impl FnOnce() -> String,
) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| CliError::Unshown {
            change: change(),
            source,
        })
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
        // A dangling symbolic link is "already there" to `create_new`, yet
        // SQLite would create the file it names with the umask's mode
        // (0644): create that file here, 0600, through the link.
        Err(e)
            if e.kind() == std::io::ErrorKind::AlreadyExists
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
                && std::fs::metadata(path).is_err() =>
        {
            options.create_new(false).create(true);
            options.open(path).map(drop)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// What names the default database, in messages.
const DEFAULT_BY: &str = "the default";

impl DatabaseArgs {
    /// The database, as `serve` in this directory would find it: the flag,
    /// the variable, `./tollgate.toml`, then the default. A data directory
    /// the file names is made, as `serve` makes it, when `create`.
    fn named(&self, create: bool) -> Result<Named, CliError> {
        if let Some(url) = &self.database {
            return Ok(Named {
                url: url.clone(),
                by: "--database".to_owned(),
            });
        }
        if let Some(url) = url_from_env(DATABASE_ENV)? {
            return Ok(Named {
                url,
                by: DATABASE_ENV.to_owned(),
            });
        }
        let config = Path::new(crate::serve::DEFAULT_CONFIG);
        if let Some((url, by)) = crate::serve::config_database(config, create)? {
            // Said, since a file in the working directory chose it.
            stderr!(
                "database {} (from ./tollgate.toml)",
                crate::input::printable(&tollgate::redact_url(&url))
            );
            return Ok(Named { url, by });
        }
        Ok(Named {
            url: tollgate_store::DEFAULT_DATABASE_URL.to_owned(),
            by: DEFAULT_BY.to_owned(),
        })
    }

    /// The database a command keeps what it changes in: not one in memory,
    /// which would be gone, with the change, when the command ends.
    fn lasting(&self, create: bool) -> Result<Named, CliError> {
        let named = self.named(create)?;
        if sqlite_in_memory(&named.url) {
            return Err(CliError::Usage(format!(
                "the database named by {} is in memory, and would be gone with what this \
                 command does when it ends: name the database `tollgate serve` uses",
                named.by
            )));
        }
        Ok(named)
    }

    /// Opens the store, creating the database and its tables if missing, and
    /// runs `f` on it to completion (`accounts create`). A SQLite file made
    /// where no setting named one is said, so that an account does not land
    /// unnoticed in a database the server never reads.
    pub(crate) fn run<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let named = self.lasting(true)?;
        if let (true, Some(path)) = (named.by == DEFAULT_BY, missing_sqlite_file(&named.url)) {
            stderr!(
                "creating the database {} (the default: no --database, {DATABASE_ENV} or \
                 ./tollgate.toml names one)",
                Path::new(".").join(path).display()
            );
        }
        run_at(&named, true, f)
    }

    /// As [`run`](Self::run), for a command about what a database already
    /// holds (all but `accounts create`): a SQLite file that does not exist,
    /// or a database without Tollgate's tables, is an error, not an empty
    /// database to create.
    pub(crate) fn existing<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let named = self.lasting(false)?;
        if let Some(why) = sqlite_path_problem(&named.url) {
            return Err(cannot_open(&named.url, &named.by, why));
        }
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
        run_at(&named, false, f)
    }
}

/// Opens the store `database` names (creating its tables when `create`) and
/// runs `f` on it to completion.
fn run_at<T, F, Fut>(database: &Named, create: bool, f: F) -> Result<T, CliError>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let store = if create {
            open(&database.url, &database.by).await?
        } else {
            open_existing(&database.url, &database.by).await?
        };
        let result = f(store.clone()).await;
        // A SQLite file takes in its write-ahead log: what the command did
        // is in the file alone, not in a `-wal` file beside it.
        store.close().await;
        result.map_err(|e| failed(database, e))
    })
}

/// Whether a `sqlite:` URL names an in-memory database rather than a file.
pub(crate) fn sqlite_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The file a `sqlite:` URL names (none for an in-memory database).
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || sqlite_in_memory(url) {
        return None;
    }
    // A URL sqlx cannot read is left to `Store::open` to report.
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty()).then(|| path.to_owned())
}

/// `store`, opened on `url`, once a SQLite file others may read is warned
/// of: only a file opened as a database, not `/dev/zero` or a text file.
fn warned_if_shared(url: &str, store: Store) -> Store {
    warn_if_shared(url);
    store
}

/// Warns of a SQLite file other users may read or write, in a directory
/// they may enter: it holds the accounts and the keys' hashes (a new one is
/// made 0600; one made by hand keeps its mode).
fn warn_if_shared(url: &str) {
    #[cfg(unix)]
    if let Some(file) = sqlite_file(url) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).map(|meta| meta.permissions().mode() & 0o777);
        // A directory others cannot enter (0700) keeps them out of it anyway.
        let dir = std::path::absolute(&file)
            .ok()
            .and_then(|file| Some(file.parent()?.to_owned()));
        let closed = dir
            .and_then(|dir| std::fs::metadata(dir).ok())
            .is_some_and(|meta| meta.permissions().mode() & 0o011 == 0);
        if let Some(mode) = mode.ok().filter(|mode| mode & 0o077 != 0 && !closed) {
            stderr!(
                "warning: other users may read {} (mode {mode:o}), which holds the accounts and \
                 the keys' hashes: chmod 600 it",
                crate::input::printable(&file.display().to_string())
            );
        }
    }
}

/// The file a `sqlite:` URL names, when it does not exist.
pub(crate) fn missing_sqlite_file(url: &str) -> Option<PathBuf> {
    sqlite_file(url).filter(|path| !path.exists())
}

/// Why the file a `sqlite:` URL names can be no database, said plainly
/// rather than as SQLite's "unable to open database file": it is a
/// directory, or the directory it would be in does not exist or is a file.
pub(crate) fn sqlite_path_problem(url: &str) -> Option<String> {
    if !url.starts_with("sqlite:") || sqlite_in_memory(url) {
        return None;
    }
    // A URL sqlx cannot read is left to `Store::open` to report.
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() {
        return None;
    }
    if path.is_dir() {
        return Some(format!(
            "{} is a directory, not a database file",
            path.display()
        ));
    }
    if path.exists() {
        return None;
    }
    // A file named without a folder is in the working directory.
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty())?;
    if parent.is_dir() {
        None
    } else if parent.exists() {
        Some(format!("{} is not a directory", parent.display()))
    } else {
        Some(format!("no such directory: {}", parent.display()))
    }
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A database's refusal with an error `code`, as a driver reports it.
    #[derive(Debug)]
    struct Refused(&'static str);

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "refused ({})", self.0)
        }
    }

    impl std::error::Error for Refused {}

    impl sqlx::error::DatabaseError for Refused {
        fn message(&self) -> &str {
            "refused"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    /// What `failed` says of a refusal with `code` by the database at `url`.
    fn said(url: &str, code: &'static str) -> String {
        let database = Named {
            url: url.to_owned(),
            by: "--database".to_owned(),
        };
        let e = StoreError::Database(sqlx::Error::Database(Box::new(Refused(code))));
        failed(&database, e).to_string()
    }

    #[test]
    fn a_url_is_shown_whole_its_password_hidden_and_a_huge_one_clipped() {
        let url =
            "postgres://tollgate:hunter2@db.internal.example.com:5432/tollgate?sslmode=require";
        let shown = shown_url(url);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.ends_with("/tollgate?sslmode=require"), "{shown}");
        let huge = format!("postgres://{}@h/db", "a".repeat(5000));
        let said = cannot_open(&huge, "--database", "no such role").to_string();
        let expected = format!(
            "postgres://{}…",
            "a".repeat(URL_SHOWN - "postgres://".len())
        );
        assert!(
            said.contains(&format!("{expected} (named by --database)")),
            "{said}"
        );
        assert!(said.len() < 400, "{}", said.len());
    }

    #[test]
    fn an_error_that_repeats_the_url_or_its_user_info_hides_the_password() {
        let url = "sqlite://user:s3cretpw@/tmp/x.db?password=s3cretpw";
        let said = cannot_open(
            url,
            "--database",
            format!("invalid database url: {url}; no such directory: user:s3cretpw@/tmp"),
        )
        .to_string();
        assert!(!said.contains("s3cretpw"), "{said}");
        assert!(said.contains("no such directory: user:***@/tmp"), "{said}");
    }

    /// Every table a store and serve make is one `foreign_tables` knows
    /// as Tollgate's.
    #[tokio::test]
    async fn the_tables_a_store_makes_are_known_as_tollgates() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = open(&url, "--database").await.unwrap();
        crate::serve::db::Scans::open(&url).await.unwrap();
        store.close().await;
        assert_eq!(foreign_tables(&url).await, Some(Vec::new()));
        execute(&url, "CREATE TABLE users (id INTEGER)").await;
        assert_eq!(foreign_tables(&url).await, Some(vec!["users".to_owned()]));
        // Without sqlx's record, a table of one of Tollgate's names is
        // another application's.
        let other = format!("sqlite://{}", dir.path().join("other.db").display());
        execute(
            &format!("{other}?mode=rwc"),
            "CREATE TABLE accounts (email TEXT)",
        )
        .await;
        assert_eq!(
            foreign_tables(&other).await,
            Some(vec!["accounts".to_owned()])
        );
    }

    async fn execute(url: &str, sql: &'static str) {
        let mut conn = SqliteConnectOptions::from_str(url)
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    /// A database named through a link to a file not made yet is made
    /// readable by its owner only, as one named directly is.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_database_made_through_a_dangling_link_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (link, target) = (dir.path().join("t.db"), dir.path().join("volume.db"));
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let url = format!("sqlite://{}", link.display());
        open(&url, "--database").await.unwrap().close().await;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    #[test]
    fn a_sqlite_database_that_stayed_locked_is_said_so() {
        // SQLITE_BUSY and SQLITE_LOCKED, extended codes too.
        for code in ["5", "261", "517", "6", "262"] {
            let said = said("sqlite://t.db", code);
            assert!(
                said.starts_with("the database sqlite://t.db (named by --database) stayed locked"),
                "{code}: {said}"
            );
        }
        // A constraint, or another database's code 5, is no lock.
        for (url, code) in [("sqlite://t.db", "2067"), ("postgres://u@h/db", "5")] {
            let said = said(url, code);
            assert_eq!(
                said,
                format!(
                    "the database {url} (named by --database): database error: refused (code {code})"
                )
            );
        }
    }

    #[test]
    fn a_private_file_is_made_once_and_never_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        private_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "data").unwrap();
        private_file(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
        let missing = private_file(&dir.path().join("none/t.db")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
