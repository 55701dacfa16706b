//! `tollgate serve`: the example API that uses every piece of Tollgate, on
//! embedded defaults (rate limits in memory, a SQLite file created on first
//! start), or on Redis and Postgres by URL. While its Redis cannot be
//! reached, the rate limits fail open (requests pass unlimited) or closed
//! (503 `service_unavailable`), as `--rate-limit-fail` says.
//!
//! Its routes reproduce the seed APIs' situations (see [`scans`] and
//! [`detections`]); [`app`] says which layers guard them; [`reference`](mod@reference)
//! serves `/errors` and `/openapi.json` from the same catalog and routes.
//! Settings come from flags, then the environment (`TOLLGATE_DATABASE_URL`,
//! `TOLLGATE_REDIS_URL`), then a TOML config file, then the defaults
//! ([`settings`]).

mod app;
pub(crate) mod db;
mod detections;
mod model;
mod reference;
mod scans;
mod settings;

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tollgate::Catalog;
use tollgate::docs::openapi::ErrorMedia;
use tollgate_limit::{Backend, ClientIp, FailMode, Key, Policy, RedisStore};
use tollgate_store::{Gatekeeper, NewAccount, NewKey, Store, StoreError};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::catalogs;
use crate::error::CliError;
use crate::input::{self, Source};
use crate::store_db;

pub(crate) use settings::{DEFAULT_CONFIG, EXAMPLES, ServeArgs, config_database};
use settings::{FromEnv, Settings};

/// The demo account created on first start.
const DEMO_ACCOUNT: &str = "demo";
/// Its starting credits.
const DEMO_CREDITS: i64 = 1000;
/// The demo key's scopes.
const DEMO_SCOPES: [&str; 3] = ["scans:write", "scans:read", "detections:write"];

/// The effective catalog: built-in, serve's domain errors, then `files`. A
/// file that cannot be read is located where the config file names it
/// (`at[i]` for `files[i]`), as its other problems are.
fn load_catalog(files: &[PathBuf], at: &[String]) -> Result<Catalog, CliError> {
    catalogs::load_onto(
        app::base_catalog().map_err(|e| CliError::Catalog(e.into_vec()))?,
        files,
        at,
    )
}

/// Runs the server until Ctrl-C.
pub(crate) fn run(args: ServeArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let settings = Settings::resolve(args, FromEnv::read())?;
    let catalog = Arc::new(load_catalog(&settings.catalogs, &settings.catalogs_at)?);
    let client_ip = ClientIp::new()
        .trust_proxies(settings.trust_proxies.iter().map(String::as_str))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    // Logs go to stderr; stdout is the banner (and the key) only. Postgres's
    // notices ("relation … already exists, skipping", from every start's
    // `CREATE … IF NOT EXISTS`) tell an operator nothing. sqlx warns of a
    // URL parameter it does not know with its value, which may be a secret
    // (libpq's `sslpassword`): not logged.
    let quiet_notices = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::INFO)
        .with_target("sqlx::postgres::notice", tracing::Level::WARN)
        .with_target("sqlx_postgres::options", tracing::Level::ERROR);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .finish()
        .with(quiet_notices)
        .try_init();
    runtime.block_on(serve(settings, catalog, client_ip, out))
}

async fn serve(
    settings: Settings,
    catalog: Arc<Catalog>,
    client_ip: ClientIp,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    // Bound, and Redis reached, before the database is opened: a start that
    // fails on either leaves no SQLite file, and creates no demo key that
    // it would never show.
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (another server has it: pass --listen with another port, 127.0.0.1:8081 say)"
            } else {
                ""
            };
            CliError::Usage(format!(
                "cannot listen on {} (named by {}): {e}{hint}",
                settings.listen, settings.listen_by
            ))
        })?;
    let limits = match &settings.redis {
        Some(url) => Backend::from_url(url).map_err(|e| CliError::Usage(e.to_string()))?,
        None => Backend::default(),
    };
    if let (Backend::Redis(redis), Some(url)) = (&limits, &settings.redis) {
        reach_redis(redis, url, &settings.redis_by).await?;
    }
    if let Some((dir, by)) = &settings.data_dir {
        settings::make_data_dir(dir).map_err(|e| CliError::Usage(format!("{by}: {e}")))?;
    }
    let store = store_db::open(&settings.database, &settings.database_by).await?;
    // The first purge is the start's first write: a database it cannot
    // write (a file of another user's, read-only) stops the start.
    if let Err(e) = store.purge_expired_idempotency().await {
        match store_db::not_writable(&settings.database, &settings.database_by, &e) {
            Some(refused) => return Err(refused),
            None => tracing::warn!(error = %e, "purging expired idempotency records failed"),
        }
    }
    #[cfg(unix)]
    let _watch = store_db::sqlite_file(&settings.database)
        .map(|file| Background(tokio::spawn(watch_database_file(file))));
    // Stops with the server: aborted before the store closes.
    let purge = Background(tokio::spawn(purge_idempotency(
        store.clone(),
        PURGE_INTERVAL.min(settings.idempotency_retention),
    )));
    let scans = db::Scans::open(&settings.database)
        .await
        .map_err(|e| store_db::cannot_open(&settings.database, &settings.database_by, e))?;
    // A key printed to /dev/null is a key nobody has: none is made.
    let discarded = crate::discarded::stdout_is_null();
    let demo = demo_account(&store, !discarded)
        .await
        .map_err(|e| CliError::Usage(format!("cannot set up the demo account: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", settings.listen)))?;

    let dialect = settings.dialect;
    // The fail mode is the document's only where the limits can fail.
    let redis_fail = matches!(limits, Backend::Redis(_)).then_some(settings.rate_limit_fail);
    let media = ErrorMedia::new(dialect).problem_on_accept(settings.problem_on_accept);
    let openapi =
        reference::document_json(&catalog, media, settings.idempotency_retention, redis_fail)
            .map_err(std::io::Error::from)?;
    let state = Arc::new(app::AppState {
        catalog: catalog.clone(),
        dialect,
        scans,
        openapi: openapi.into(),
        reference: tollgate::docs::html(&catalog, dialect, None).into(),
        decoders: scans::Decoders::new(std::thread::available_parallelism().map_or(2, usize::from)),
    });
    let gate = Gatekeeper::new(store.clone())
        .catalog(catalog)
        .dialect(dialect)
        .max_body_bytes(app::BODY_LIMIT)
        .idempotency_retention(settings.idempotency_retention);
    let layers = app::Layers {
        limits: limits.clone(),
        fail_mode: settings.rate_limit_fail,
        client_ip,
        timeout: settings.timeout,
        problem_on_accept: settings.problem_on_accept,
    };
    let router = app::router(Arc::clone(&state), &gate, layers)
        .map_err(|e| CliError::Usage(e.to_string()))?;

    let shown = banner(out, &settings, &limits, addr, &demo).and_then(|()| out.flush());
    match (shown, &demo) {
        (Ok(()), Demo::Withheld { .. }) => {
            let mut hint = Vec::new();
            make_key_hint(&mut hint, &settings)?;
            stderr!(
                "stdout is discarded (/dev/null): no demo key was made, as it would be shown \
                 nowhere (a later start whose stdout is shown makes it). Make one now with:\n{}",
                String::from_utf8_lossy(&hint).trim_end()
            );
        }
        (Ok(()), _) => {}
        // A demo key nobody saw (stdout a closed pipe, say) is revoked.
        (Err(e), Demo::Created { key, .. }) => {
            let why = match store.revoke_key(key).await {
                Ok(_) => "it was revoked".to_owned(),
                Err(revoke) => format!("revoking it failed too ({revoke})"),
            };
            let scopes = DEMO_SCOPES.join(",");
            return Err(CliError::Usage(format!(
                "cannot write the banner with the demo key: {e}; {why}; make another with \
                 `tollgate keys create --account {DEMO_ACCOUNT} --scopes {scopes}`"
            )));
        }
        // Not a reader that left early: nothing was served yet.
        (Err(e), Demo::Exists { .. } | Demo::Withheld { .. }) => {
            return Err(CliError::Usage(format!("cannot write the banner: {e}")));
        }
    }
    tollgate_axum::serve(listener, router, settings.timeout, shutdown()).await;
    // Refunds and idempotency records of requests that ended without an
    // answer, before the runtime that runs them ends.
    let finished = tokio::time::timeout(settings.timeout, store.finish_writes()).await;
    if finished.is_err() {
        tracing::warn!("some refunds or idempotency records were not written before the stop");
    }
    drop(purge);
    // Closed, so that a SQLite file takes in its write-ahead log: the file
    // alone is then the whole database.
    let closed = async { tokio::join!(store.close(), state.scans.close()) };
    if tokio::time::timeout(settings.timeout, closed)
        .await
        .is_err()
    {
        tracing::warn!("the database was not closed before the stop");
    }
    writeln!(out, "stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// How often expired idempotency records are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Deletes expired idempotency records every `every`, for ever (serve's
/// start deletes them first). Without it a key holder sending new
/// Idempotency-Keys grows the database without bound.
async fn purge_idempotency(store: Store, every: Duration) {
    purge_every(every, || store.purge_expired_idempotency()).await;
}

/// Runs `purge` every `every`, from `every` on, logging what it did.
async fn purge_every<F, E>(every: Duration, mut purge: impl FnMut() -> F)
where
    F: std::future::Future<Output = Result<u64, E>>,
    E: std::fmt::Display,
{
    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        match purge().await {
            Ok(rows) => tracing::debug!(rows, "purged expired idempotency records"),
            Err(e) => tracing::warn!(error = %e, "purging expired idempotency records failed"),
        }
    }
}

/// How often serve looks whether its SQLite file is still there.
#[cfg(unix)]
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Says loudly, once a minute while it lasts, that the SQLite file serve
/// opened was removed or replaced (a data directory deleted under it):
/// SQLite goes on writing to the file it has open, which nobody can open
/// again, and says nothing.
#[cfg(unix)]
async fn watch_database_file(file: std::path::PathBuf) {
    use std::os::unix::fs::MetadataExt;
    let identity = |file: &std::path::Path| {
        let meta = std::fs::metadata(file).ok()?;
        Some((meta.dev(), meta.ino()))
    };
    let Some(opened) = identity(&file) else {
        return;
    };
    let mut timer = tokio::time::interval(WATCH_INTERVAL);
    let mut said: Option<tokio::time::Instant> = None;
    loop {
        timer.tick().await;
        if identity(&file) == Some(opened) {
            if said.take().is_some() {
                tracing::info!(file = %file.display(), "the database file is back");
            }
            continue;
        }
        if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            tracing::error!(
                file = %file.display(),
                "the database file was removed or replaced while serve runs: what serve writes \
                 now (charges, keys used, idempotency records) is lost when it stops; stop serve \
                 and put the file back"
            );
            said = Some(tokio::time::Instant::now());
        }
    }
}

/// A background task aborted when dropped.
struct Background(tokio::task::JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long the first call to Redis may take, connecting included.
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(5);

/// One round trip to the rate-limit store, so that a wrong or unreachable
/// Redis stops the start rather than leaving every request unlimited. `by`
/// says what named `url`, for the error.
async fn reach_redis(store: &RedisStore, url: &str, by: &str) -> Result<(), CliError> {
    let policy = Policy::new("serve-start", 1, Duration::from_secs(1))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let key = Key::from("serve-start");
    let started = tokio::time::Instant::now();
    let error = loop {
        match store.peek(&policy, &key, 1).await {
            Ok(_) => return Ok(()),
            // A first connection (TLS, or asking the sentinels) may take
            // longer than one decision may.
            Err(e) if e.is_timeout() && started.elapsed() < REDIS_START_TIMEOUT => {}
            Err(e) => break e,
        }
    };
    let cause = if error.is_timeout() {
        // Each try says its own timeout; the wait was all of them.
        let waited = started.elapsed().as_secs_f64();
        format!("no answer within {waited:.1} s")
    } else if error.is_parse() {
        // Its answer, as the parser saw it, says nothing to the reader.
        "it answers, but not as a Redis server (the wrong port?)".to_owned()
    } else if error.is_hung_up() {
        "it closed the connection without an answer: not a Redis server? (the wrong port?)"
            .to_owned()
    } else {
        let cause = error.to_string();
        let plain = cause.strip_prefix("rate-limit store: ");
        plain.map_or_else(|| cause.clone(), str::to_owned)
    };
    Err(CliError::Usage(format!(
        "cannot reach Redis at {} (named by {by}): {cause}",
        crate::store_db::shown_url(url)
    )))
}

/// Resolves on Ctrl-C (and SIGTERM on Unix); the server then finishes the
/// requests in flight.
async fn shutdown() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    stderr!("shutting down: finishing the requests in flight (Ctrl-C again to stop at once)");
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            stderr!(
                "stopped at once: the requests in flight were cut off, their credits not given back"
            );
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}

/// The exit status of a second Ctrl-C, as a shell reports death by SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

/// What the first start created, or what later starts found.
enum Demo {
    /// A key was made, shown once; `balance` is `Some` when the account
    /// already existed (a first start stopped before its key was made).
    Created {
        key: String,
        balance: Option<i64>,
    },
    Exists {
        balance: i64,
    },
    /// The account has no key, and none was made: stdout is discarded.
    Withheld {
        balance: i64,
    },
}

/// Creates the demo account and key on first start, and the key alone when
/// a first start stopped between the two (the account has no key at all; a
/// revoked one is not replaced). Two nodes starting at once may then both
/// make one, each shown by its node. Without `make_key` (stdout is
/// discarded) the account is made but not the key.
async fn demo_account(store: &Store, make_key: bool) -> Result<Demo, StoreError> {
    let balance = match store.account(DEMO_ACCOUNT).await {
        Ok(account) if !store.list_keys(Some(DEMO_ACCOUNT)).await?.is_empty() => {
            return Ok(Demo::Exists {
                balance: account.balance(),
            });
        }
        Ok(account) => Some(account.balance()),
        Err(StoreError::AccountNotFound(_)) => {
            match store
                .create_account(NewAccount::new(DEMO_ACCOUNT).credits(DEMO_CREDITS))
                .await
            {
                Ok(_) => None,
                // Another node created it first: it shows the key.
                Err(StoreError::AccountExists(_)) => {
                    let balance = store.account(DEMO_ACCOUNT).await?.balance();
                    return Ok(Demo::Exists { balance });
                }
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    if !make_key {
        return Ok(Demo::Withheld {
            balance: balance.unwrap_or(DEMO_CREDITS),
        });
    }
    let key = store
        .create_key(
            NewKey::new(DEMO_ACCOUNT, DEMO_SCOPES).name("demo key, created by tollgate serve"),
        )
        .await?;
    Ok(Demo::Created {
        key: key.secret().to_owned(),
        balance,
    })
}

/// What the server prints on start: settings, the demo key, curl lines, and
/// last the address (which tests and scripts wait for). Paths and URLs, as
/// a config file or the command line wrote them, are written
/// [`printable`](input::printable).
fn banner(
    out: &mut dyn Write,
    settings: &Settings,
    limits: &Backend,
    addr: SocketAddr,
    demo: &Demo,
) -> std::io::Result<()> {
    let base = format!("http://{addr}");
    let database = tollgate::redact_url(&settings.database);
    let shown = |path: &Path| input::printable(&path.display().to_string());
    writeln!(out, "tollgate serve: the example API")?;
    if let Some(config) = &settings.config {
        writeln!(out, "  config       {}", shown(config))?;
    }
    writeln!(out, "  dialect      {}", settings.dialect)?;
    let mut catalogs = vec!["built-in".to_owned(), "serve's domain errors".to_owned()];
    // Named as its problems name it: `-` is stdin.
    catalogs.extend(
        settings
            .catalogs
            .iter()
            .map(|p| match Source::from_arg(Some(p)) {
                stdin @ Source::Stdin => stdin.name(),
                Source::File(_) => shown(p),
            }),
    );
    writeln!(out, "  catalog      {}", catalogs.join(" + "))?;
    writeln!(out, "  database     {}", input::printable(&database))?;
    // `--redis memory://` counts in memory too, which never fails: the fail
    // mode is said only for Redis.
    let counted = match (limits, &settings.redis) {
        (Backend::Memory { .. }, _) | (_, None) => "in memory".to_owned(),
        (_, Some(url)) => {
            let fails = if settings.rate_limit_fail == FailMode::Open {
                "fail open: unlimited while Redis cannot be reached"
            } else {
                "fail closed: 503 while Redis cannot be reached"
            };
            format!(
                "in Redis at {} ({fails})",
                input::printable(&tollgate::redact_url(url))
            )
        }
    };
    writeln!(
        out,
        "  rate limits  {} calls per {} s per key, {} per client IP, {counted}",
        app::PER_KEY_CALLS,
        app::WINDOW.as_secs(),
        app::PER_IP_CALLS,
    )?;
    if !settings.trust_proxies.is_empty() {
        writeln!(
            out,
            "  proxies      {} (the client IP is read from their X-Forwarded-For)",
            settings.trust_proxies.join(", ")
        )?;
        // `0.0.0.0/0`, `::/0`, `::ffff:0:0/96` (`0.0.0.0/00` too): every
        // client a proxy; both ends of a family contained is all of it.
        for proxy in &settings.trust_proxies {
            let Ok(cidr) = proxy.parse::<tollgate_limit::Cidr>() else {
                continue;
            };
            let holds = |first: std::net::IpAddr, last: std::net::IpAddr| {
                cidr.contains(first) && cidr.contains(last)
            };
            // A network that holds every IPv6 address holds the IPv4 ones
            // too, mapped (`::/0`).
            if !holds(Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::BROADCAST.into()) {
                continue;
            }
            let everyone = if holds(
                Ipv6Addr::UNSPECIFIED.into(),
                Ipv6Addr::from(u128::MAX).into(),
            ) {
                "every address"
            } else {
                "every IPv4 address"
            };
            writeln!(
                out,
                "  warning      {proxy} trusts {everyone}: a client can name any IP in \
                 X-Forwarded-For, and so pass the per-IP limit"
            )?;
        }
    }
    writeln!(
        out,
        "  limits       bodies up to {} MiB, requests up to {}",
        app::BODY_LIMIT >> 20,
        humantime::format_duration(settings.timeout)
    )?;
    writeln!(out)?;
    let scopes = DEMO_SCOPES.join(",");
    match demo {
        Demo::Created { key, balance } => {
            let made = match balance {
                None => format!(
                    "Created the demo account \"{DEMO_ACCOUNT}\" ({DEMO_CREDITS} credits) and its key"
                ),
                Some(balance) => format!(
                    "The demo account \"{DEMO_ACCOUNT}\" ({balance} credits) had no key; created one"
                ),
            };
            writeln!(
                out,
                "{made} (scopes {scopes}). The key is shown once, here; only its hash is kept:"
            )?;
            writeln!(out, "  export KEY={key}")?;
        }
        Demo::Exists { balance } => {
            writeln!(
                out,
                "The demo account \"{DEMO_ACCOUNT}\" exists ({balance} credits); a key is shown only \
                 when it is made. Make another with:"
            )?;
            make_key_hint(out, settings)?;
        }
        Demo::Withheld { balance } => {
            writeln!(
                out,
                "The demo account \"{DEMO_ACCOUNT}\" ({balance} credits) has no key: none is made \
                 while stdout is discarded. Make one with:"
            )?;
            make_key_hint(out, settings)?;
        }
    }
    writeln!(out)?;
    let auth = "-H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json'";
    writeln!(out, "Try:")?;
    writeln!(
        out,
        "  curl -i {base}/v1/scans {auth} -d '{}'",
        reference::scan_example()
    )?;
    writeln!(
        out,
        "  curl -i {base}/v1/scans {auth} -H 'X-Simulate: model-unavailable' -d '{}'",
        reference::scan_example()
    )?;
    writeln!(
        out,
        "  curl -i {base}/v1/detections {auth} -d '{{\"session_id\":\"s_1\",\"model\":\"mixed-10-v2\",\"frames\":[{{\"t\":0,\"brightness\":120}}]}}'"
    )?;
    writeln!(out, "  tollgate probe {base} --key $KEY")?;
    writeln!(
        out,
        "Error reference: {base}/errors    OpenAPI: {base}/openapi.json"
    )?;
    writeln!(out)?;
    writeln!(out, "listening on {base} (Ctrl-C stops)")?;
    Ok(())
}

/// The lines that say how to make a demo key with `tollgate keys create`,
/// on the database this server uses.
fn make_key_hint(out: &mut dyn Write, settings: &Settings) -> std::io::Result<()> {
    let database = tollgate::redact_url(&settings.database);
    let scopes = DEMO_SCOPES.join(",");
    // A password is never printed, nor a URL that cannot be
    // printed as it is: the command then reads the URL from the
    // environment.
    let has_password = database != settings.database;
    let unprintable = input::printable(&database) != database;
    let flag = if has_password || unprintable {
        String::new()
    } else {
        format!(" --database {}", shell_quote(&database))
    };
    writeln!(
        out,
        "  export KEY=$({} keys create --account {DEMO_ACCOUNT} --scopes {scopes}\
         {flag} | tail -n1)",
        settings.program
    )?;
    if has_password {
        writeln!(
            out,
            "  (with {} set to the database's URL; its password is not shown here)",
            store_db::DATABASE_ENV
        )?;
    } else if unprintable {
        writeln!(
            out,
            "  (with {} set to the database's URL, which cannot be printed as it is)",
            store_db::DATABASE_ENV
        )?;
    }
    Ok(())
}

/// `word` as one word of a POSIX shell command: as it is when every
/// character is plain, else in single quotes (each `'` written `'\''`).
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::settings::{DEFAULT_LISTEN, DEFAULT_RETENTION, DEFAULT_TIMEOUT, sqlite_in};
    use super::*;
    use tollgate::Dialect;

    /// On a paused clock, so that the timer's ticks come as counted.
    #[tokio::test(start_paused = true)]
    async fn the_purge_runs_on_its_timer_until_stopped() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let task = Background(tokio::spawn(purge_every(
            Duration::from_millis(20),
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                // A failure is logged and the next run happens anyway.
                async move { if n == 1 { Err("down") } else { Ok(3) } }
            },
        )));
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "the start's purge is serve's own"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 10, "every 20 ms");
        drop(task);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stopped = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(runs.load(Ordering::SeqCst), stopped, "stops when dropped");
    }

    /// The banner of a later start, with `database` and `limits`.
    fn later_banner(database: &str, redis: Option<&str>, limits: &Backend) -> String {
        banner_of(&settings_with(database, redis), limits)
    }

    /// The settings of a start with `database` and `redis`, and no config file.
    fn settings_with(database: &str, redis: Option<&str>) -> Settings {
        Settings {
            listen: DEFAULT_LISTEN.to_owned(),
            listen_by: "the default".to_owned(),
            program: "tollgate".to_owned(),
            dialect: Dialect::Problem,
            problem_on_accept: true,
            catalogs: Vec::new(),
            catalogs_at: Vec::new(),
            redis: redis.map(str::to_owned),
            redis_by: "--redis".to_owned(),
            rate_limit_fail: FailMode::Open,
            database: database.to_owned(),
            database_by: "the default".to_owned(),
            data_dir: None,
            timeout: DEFAULT_TIMEOUT,
            idempotency_retention: DEFAULT_RETENTION,
            trust_proxies: Vec::new(),
            config: None,
        }
    }

    /// The banner of a later start with `settings` and `limits`.
    fn banner_of(settings: &Settings, limits: &Backend) -> String {
        let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
        let mut out = Vec::new();
        banner(
            &mut out,
            settings,
            limits,
            addr,
            &Demo::Exists { balance: 5 },
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn paths_in_the_banner_are_printable() {
        let mut settings = settings_with("sqlite:///srv/\u{1b}[2Kdata/tollgate.db", None);
        settings.config = Some(PathBuf::from("conf/\u{202e}lmot.toml"));
        settings.catalogs = vec![PathBuf::from("api\u{1b}[1A.toml")];
        let text = banner_of(&settings, &Backend::default());
        assert!(
            !text.contains(['\u{1b}', '\u{202e}']),
            "{}",
            text.escape_debug()
        );
        assert!(
            text.contains("  config       conf/\\u{202e}lmot.toml\n"),
            "{text}"
        );
        assert!(text.contains(" + api\\u{1b}[1A.toml\n"), "{text}");
        assert!(
            text.contains("  database     sqlite:///srv/\\u{1b}[2Kdata/tollgate.db\n"),
            "{text}"
        );
    }

    #[test]
    fn the_banner_names_trusted_proxies_and_a_catalog_from_stdin() {
        let mut settings = settings_with("sqlite://tollgate.db", None);
        let text = banner_of(&settings, &Backend::default());
        assert!(!text.contains("proxies"), "{text}");
        settings.trust_proxies = vec!["10.0.0.0/8".to_owned(), "192.168.0.1".to_owned()];
        settings.catalogs = vec![PathBuf::from("-"), PathBuf::from("api.toml")];
        let text = banner_of(&settings, &Backend::default());
        assert!(
            text.contains(
                "  proxies      10.0.0.0/8, 192.168.0.1 (the client IP is read from their \
                 X-Forwarded-For)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  catalog      built-in + serve's domain errors + <stdin> + api.toml\n"),
            "{text}"
        );
        assert!(!text.contains("warning"), "{text}");
        settings.trust_proxies = vec!["::/0".to_owned()];
        let text = banner_of(&settings, &Backend::default());
        assert!(
            text.contains("  warning      ::/0 trusts every address: a client can name any IP"),
            "{text}"
        );
        // Every spelling of every address of a family is told, a network of
        // some not.
        for (everyone, told) in [
            ("0.0.0.0/0", "every IPv4 address"),
            ("0.0.0.0/00", "every IPv4 address"),
            ("::ffff:0:0/96", "every IPv4 address"),
            ("::/1", "every IPv4 address"),
            ("::/0", "every address"),
        ] {
            settings.trust_proxies = vec![everyone.to_owned(), "10.0.0.0/8".to_owned()];
            let text = banner_of(&settings, &Backend::default());
            assert_eq!(text.matches("  warning").count(), 1, "{text}");
            assert!(
                text.contains(&format!("warning      {everyone} trusts {told}:")),
                "{text}"
            );
        }
    }

    #[test]
    fn limits_counted_in_memory_are_said_to_be() {
        for url in [None, Some("memory://"), Some("memory://?max_keys=5")] {
            let limits = url.map_or_else(Backend::default, |u| Backend::from_url(u).unwrap());
            let text = later_banner("sqlite://tollgate.db", url, &limits);
            let line = text.lines().find(|l| l.contains("rate limits")).unwrap();
            assert!(line.ends_with(", in memory"), "{url:?}: {line}");
            assert!(!line.contains("Redis"), "{url:?}: {line}");
            // Memory never fails: no fail mode is said, even one set.
            let mut settings = settings_with("sqlite://tollgate.db", url);
            settings.rate_limit_fail = FailMode::CLOSED;
            let text = banner_of(&settings, &limits);
            let line = text.lines().find(|l| l.contains("rate limits")).unwrap();
            assert!(line.ends_with(", in memory"), "{url:?}: {line}");
        }
    }

    /// In a runtime: a Redis backend is made in one (it connects only when
    /// first used, which the banner does not do).
    #[tokio::test]
    async fn limits_counted_in_redis_say_what_requests_get_while_it_cannot_be_reached() {
        let url = "redis://:hunter2@127.0.0.1:6379";
        let limits = Backend::from_url(url).unwrap();
        let mut settings = settings_with("sqlite://tollgate.db", Some(url));
        for (mode, says) in [
            (
                FailMode::Open,
                "(fail open: unlimited while Redis cannot be reached)",
            ),
            (
                FailMode::CLOSED,
                "(fail closed: 503 while Redis cannot be reached)",
            ),
        ] {
            settings.rate_limit_fail = mode;
            let text = banner_of(&settings, &limits);
            let line = text.lines().find(|l| l.contains("rate limits")).unwrap();
            let expected = format!(", in Redis at redis://:***@127.0.0.1:6379 {says}");
            assert!(line.ends_with(&expected), "{mode:?}: {line}");
        }
    }

    #[test]
    fn shell_words_are_quoted_when_they_must_be() {
        assert_eq!(
            shell_quote("sqlite:///var/lib/tollgate/tollgate.db"),
            "sqlite:///var/lib/tollgate/tollgate.db"
        );
        assert_eq!(shell_quote("/my data/t.db"), "'/my data/t.db'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(
            shell_quote("postgres://u:***@db/x"),
            "'postgres://u:***@db/x'"
        );
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote(""), "''");
    }

    #[cfg(unix)]
    #[test]
    fn the_printed_keys_create_command_survives_the_shell() {
        let dir = tempfile::tempdir().unwrap();
        let database = sqlite_in(&dir.path().join("it's my $data")).unwrap();
        let text = later_banner(&database, None, &Backend::default());
        let line = text.lines().find(|l| l.contains("keys create")).unwrap();
        // `tollgate` stands in for the command: it prints its last argument.
        let script = format!(
            "tollgate() {{ for a; do last=$a; done; printf '%s\\n' \"$last\"; }}\n{line}\n\
             printf '%s' \"$KEY\""
        );
        let output = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8(output.stdout).unwrap(), database);
    }
}
