//! The `--database` argument shared by `tollgate keys` and `tollgate accounts`,
//! and running their store calls to completion.

use std::future::Future;
use std::time::SystemTime;

use tollgate_store::{Store, StoreError};

use crate::error::CliError;

/// Where keys and accounts are kept.
#[derive(Debug, clap::Args)]
pub(crate) struct DatabaseArgs {
    /// The database: sqlite://PATH (created and migrated if missing) or postgres://USER@HOST/DB
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
