//! What serve runs with: its flags, the TOML config file, the environment,
//! and the defaults, resolved into one [`Settings`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use tollgate::Dialect;
use tollgate_limit::{Backend, Cidr, FailMode};
use toml::Spanned;

use crate::args::{SecretUrl, parse_dialect, parse_duration};
use crate::error::CliError;
use crate::input::{self, MAX_INPUT, Source};
use crate::store_db;

/// Shown after `tollgate serve --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  tollgate serve
  tollgate serve --dialect envelope --catalog examples/catalogs/004-detection.toml
  tollgate serve --listen 0.0.0.0:8080 --data-dir /var/lib/tollgate --trust-proxy 10.0.0.0/8
  tollgate serve --database postgres://postgres@127.0.0.1/tollgate --redis redis://127.0.0.1:6379

Routes: POST /v1/scans (scope scans:write, 1 credit, Idempotency-Key),
GET /v1/scans/{id} (scans:read), POST /v1/detections (detections:write, 1 credit,
Idempotency-Key), GET /errors, GET /openapi.json. Send the key as `Authorization: Bearer KEY`
or `X-API-Key: KEY`. The header `X-Simulate: model-unavailable | model-timeout | model-crash`
on POST /v1/scans provokes a 503, 504 or 500.

Idempotency records are kept 24 h (--idempotency-retention); expired ones are deleted at start
and every 10 minutes (every retention, when it is shorter).

On first start the demo account `demo` (1000 credits) and a key with the scopes
scans:write,scans:read,detections:write are created, and the key is printed once (nodes that
first start at the same moment on one shared database may each make and print one). While stdout
is /dev/null (`> /dev/null`, or closed) the server runs but makes no demo key, which would be
shown nowhere: stderr says so and how to make one, and a later start whose stdout is shown makes it.

The config file (./tollgate.toml when present, or --config FILE) takes the flags' settings:
  listen = \"127.0.0.1:8080\"
  data_dir = \"/var/lib/tollgate\"      # relative paths (here and in sqlite:// URLs) are
                                      # relative to the config file
  dialect = \"envelope\"
  problem_on_accept = false           # true (the default): problem details to a client that
                                      # asks for them in Accept, whatever the dialect
  catalog = [\"api.toml\"]
  redis = \"redis://127.0.0.1:6379\"
  rate_limit_fail = \"closed\"          # \"open\" (the default) or \"closed\"
  database = \"postgres://postgres@127.0.0.1/tollgate\"
  timeout = \"10s\"
  idempotency_retention = \"24h\"
  trust_proxy = [\"10.0.0.0/8\"]
`catalog` and `trust_proxy` are lists, even of one (catalog = [\"api.toml\"]), and `timeout` and
`idempotency_retention` are durations in quotes, as the flags take them (timeout = \"5s\", not 5).
Flags, and TOLLGATE_REDIS_URL / TOLLGATE_DATABASE_URL in the environment, override it;
--catalog and --trust-proxy add to its lists. `keys` and `accounts` take their database from
./tollgate.toml too.";

/// The address served when neither a flag nor the config names one.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The config file read when present and no `--config` is given.
pub(crate) const DEFAULT_CONFIG: &str = "tollgate.toml";
/// The SQLite file created in the data directory.
const DATABASE_FILE: &str = "tollgate.db";
/// The handler deadline unless set.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest and longest deadline accepted.
const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(3600));
/// How long an Idempotency-Key's answer is kept unless set: the store's default.
pub(super) const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The shortest and longest retention accepted.
const RETENTION_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(30 * 24 * 3600));

/// Arguments of `tollgate serve`.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR", value_parser = parse_checked::<ListenAddress>)]
    listen: Option<String>,

    /// Where the SQLite database (tollgate.db) is kept; created if missing [default: .]
    #[arg(long, value_name = "DIR", conflicts_with = "database")]
    data_dir: Option<PathBuf>,

    /// The dialect errors are written in: problem, status-code, coded, detail, meta, envelope,
    /// flat, google, stripe or jsonapi [default: problem]
    #[arg(long, short, value_name = "DIALECT", value_parser = parse_dialect)]
    dialect: Option<Dialect>,

    /// Whether a client whose Accept asks for application/problem+json gets its errors as
    /// problem details, whatever the dialect: true or false [default: true]
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    problem_on_accept: Option<bool>,

    /// A TOML catalog that extends or overrides the built-in and serve's own errors; repeat to
    /// load several, in order
    #[arg(long = "catalog", short = 'c', value_name = "FILE")]
    catalogs: Vec<PathBuf>,

    /// Count rate limits in Redis, shared by every node (redis://HOST:PORT, redis+unix:///PATH, redis+cluster://HOST:PORT,HOST:PORT for a Redis Cluster, or redis+sentinel://HOST:PORT,HOST:PORT/SERVICE for a Sentinel service; memory:// keeps them in memory) [default: in memory] [env: TOLLGATE_REDIS_URL]
    #[arg(long, value_name = "URL", value_parser = SecretUrl {
        parse: parse_checked::<RedisUrl>,
        show: crate::store_db::shown_url,
    })]
    redis: Option<String>,

    /// What requests get while the rate-limit store cannot be reached: open serves them
    /// without rate limits and without the RateLimit fields, closed answers 503
    /// service_unavailable with Retry-After: 1; either way the failures are logged, a line a
    /// second at most. Matters with --redis only: limits counted in memory never fail
    /// [default: open]
    #[arg(long, value_name = "MODE", value_parser = parse_fail_mode)]
    rate_limit_fail: Option<FailMode>,

    /// Keep keys, accounts, credits, idempotency records and scans in this database:
    /// sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://DIR/tollgate.db] [env:
    /// TOLLGATE_DATABASE_URL, unless --data-dir is given]
    #[arg(long, value_name = "URL")]
    database: Option<String>,

    /// Read settings from this TOML file [default: ./tollgate.toml when present]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// How long a request may take before it is answered with `timeout` (504): 10s, 1m; a
    /// connection whose answer cannot be written for that long is closed, and on Ctrl-C
    /// requests in flight get this long to finish, a second Ctrl-C stopping at once (a request
    /// head, or an idle connection's next one, gets 5 s; so Ctrl-C waits this long plus 7 s at
    /// most for them: 5 s for a head on its way, 2 s to close; then this long again at most for
    /// the refunds of those cut off) [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    timeout: Option<Duration>,

    /// How long an Idempotency-Key's answer is kept and replayed: 24h, 30m; expired records
    /// are deleted at start and every 10 minutes, or every retention when it is shorter
    /// [default: 24h]
    #[arg(long, value_name = "DURATION", value_parser = parse_retention)]
    idempotency_retention: Option<Duration>,

    /// Read the client IP from X-Forwarded-For when the peer is this proxy (an address or a
    /// CIDR); repeatable
    #[arg(long = "trust-proxy", value_name = "CIDR", value_parser = parse_checked::<Cidr>)]
    trust_proxies: Vec<String>,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_duration_in(text, TIMEOUT_RANGE)
}

fn parse_retention(text: &str) -> Result<Duration, String> {
    parse_duration_in(text, RETENTION_RANGE)
}

/// `--rate-limit-fail`: `open` or `closed`.
fn parse_fail_mode(text: &str) -> Result<FailMode, String> {
    match text {
        "open" => Ok(FailMode::Open),
        // A second: long enough not to hammer a server whose Redis is down,
        // short enough that clients are back as soon as it is up.
        "closed" => Ok(FailMode::CLOSED),
        // Quoted as `--dialect` quotes a name it does not know.
        _ => Err(format!(
            "unknown fail mode {:?}, expected open or closed",
            crate::wire::clipped(text)
        )),
    }
}

/// A duration such as `10s` or `2m`, refused outside `(min, max)`.
fn parse_duration_in(text: &str, (min, max): (Duration, Duration)) -> Result<Duration, String> {
    let d = parse_duration(text, "10s, 500ms or 2m")?;
    if d < min || d > max {
        let (min, max) = (
            humantime::format_duration(min),
            humantime::format_duration(max),
        );
        return Err(format!(
            "{} is out of range: {min} to {max}",
            crate::input::shown(text)
        ));
    }
    Ok(d)
}

/// The config file: the flags' settings, each optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    listen: Option<Spanned<String>>,
    data_dir: Option<Spanned<PathBuf>>,
    #[serde(default, deserialize_with = "dialect")]
    dialect: Option<Dialect>,
    problem_on_accept: Option<bool>,
    #[serde(default)]
    catalog: Vec<Spanned<PathBuf>>,
    redis: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "fail_mode")]
    rate_limit_fail: Option<FailMode>,
    database: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "timeout")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "retention")]
    idempotency_retention: Option<Duration>,
    #[serde(default)]
    trust_proxy: Vec<Spanned<String>>,
    /// Where `data_dir` is set, `file:line:column`, for problems found when
    /// the directory is made.
    #[serde(skip)]
    data_dir_at: String,
    /// Where `database` is set, `file:line:column`, for a database that
    /// cannot be opened.
    #[serde(skip)]
    database_at: String,
    /// Where `redis` is set, `file:line:column`, for a Redis that cannot be
    /// reached.
    #[serde(skip)]
    redis_at: String,
    /// Where `listen` is set, `file:line:column`, for an address that
    /// cannot be bound (a host that does not resolve, a port in use).
    #[serde(skip)]
    listen_at: String,
    /// Where each of `catalog` is named, `file:line:column`, for a file
    /// that cannot be read.
    #[serde(skip)]
    catalog_at: Vec<String>,
}

fn timeout<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    parse_timeout(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn retention<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    parse_retention(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A fail mode, refused as `--rate-limit-fail` refuses it.
fn fail_mode<'de, D: Deserializer<'de>>(de: D) -> Result<Option<FailMode>, D::Error> {
    let text = String::deserialize(de)?;
    parse_fail_mode(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A dialect's name, refused as `--dialect` refuses it.
fn dialect<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Dialect>, D::Error> {
    let name = String::deserialize(de)?;
    parse_dialect(&name)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// What toml says of the problem `e` in the config file `text`: a key given
/// twice is named (as catalog files name it), an unknown one is told the
/// setting it likely meant, and a setting of the wrong type is followed by
/// what to write instead.
fn explained(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    let Some(span) = e.span() else {
        return tollgate::suggest::suggested(message).into_owned();
    };
    if message == "duplicate key" {
        let key = text.get(span.clone()).map(str::trim);
        if let Some(key) = key.filter(|k| k.len() <= 64) {
            return format!("duplicate key `{key}`");
        }
    }
    if !message.starts_with("invalid type: ") {
        return tollgate::suggest::suggested(message).into_owned();
    }
    // The setting whose value (or one of whose values) is at fault.
    let Ok(root) = toml::de::DeTable::parse(text) else {
        return message.to_owned();
    };
    let setting = root.get_ref().iter().find(|(key, value)| {
        key.span().contains(&span.start) || value.span().contains(&span.start)
    });
    match setting.and_then(|(key, value)| what_to_write(key.get_ref(), value, text)) {
        Some(hint) => format!("{message}: {hint}"),
        None => message.to_owned(),
    }
}

/// What the setting `key` takes, with an example taken from `value` (of the
/// wrong type) where one can be: `catalog = ["api.toml"]` for `catalog =
/// "api.toml"`, `timeout = "5s"` for `timeout = 5`.
fn what_to_write(key: &str, value: &Spanned<toml::de::DeValue<'_>>, text: &str) -> Option<String> {
    use toml::de::DeValue;
    let hint = match key {
        "listen" => {
            "listen takes HOST:PORT in quotes, such as listen = \"127.0.0.1:8080\"".to_owned()
        }
        "data_dir" => {
            "data_dir takes a directory in quotes, such as data_dir = \"/var/lib/tollgate\""
                .to_owned()
        }
        "dialect" => {
            "dialect takes a dialect's name in quotes, such as dialect = \"envelope\"".to_owned()
        }
        "problem_on_accept" => "problem_on_accept takes true or false, without quotes, such as \
             problem_on_accept = false"
            .to_owned(),
        "catalog" | "trust_proxy" => {
            let (what, example) = match key {
                "catalog" => ("catalog files", "\"api.toml\""),
                _ => ("proxies (addresses or CIDRs)", "\"10.0.0.0/8\""),
            };
            // A single string is that string in a list.
            let written = text
                .get(value.span())
                .filter(|w| w.len() <= 100 && !w.contains('\n'));
            let one = match value.get_ref() {
                DeValue::String(_) => written.unwrap_or(example),
                _ => example,
            };
            format!("{key} takes a list of {what}, such as {key} = [{one}]")
        }
        "redis" => {
            "redis takes a URL in quotes, such as redis = \"redis://127.0.0.1:6379\"".to_owned()
        }
        "rate_limit_fail" => "rate_limit_fail takes open or closed in quotes, such as \
                              rate_limit_fail = \"closed\""
            .to_owned(),
        "database" => {
            "database takes a URL in quotes, such as database = \"sqlite://tollgate.db\" or \
             database = \"postgres://USER@HOST/DB\""
                .to_owned()
        }
        "timeout" => {
            // A number in range is taken as seconds in the example.
            let duration = match value.get_ref() {
                DeValue::Integer(n) => u64::from_str_radix(n.as_str(), n.radix())
                    .ok()
                    .filter(|n| (1..=3600).contains(n))
                    .map(|n| format!("{n}s")),
                DeValue::Float(f) => f
                    .as_str()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| (0.1..=3600.0).contains(f))
                    .map(|f| format!("{}ms", (f * 1000.0).round())),
                _ => None,
            };
            let duration = duration.as_deref().unwrap_or("10s");
            format!("timeout takes a duration in quotes, such as timeout = \"{duration}\"")
        }
        "idempotency_retention" => "idempotency_retention takes a duration in quotes, such as \
                                    idempotency_retention = \"24h\""
            .to_owned(),
        _ => return None,
    };
    Some(hint)
}

/// `HOST:PORT`, as `--listen` takes it; the host is resolved when binding.
struct ListenAddress;

impl std::str::FromStr for ListenAddress {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.rsplit_once(':') {
            // A space would be taken into the name to look up.
            Some((host, port))
                if !host.is_empty()
                    && !text.contains(char::is_whitespace)
                    && port.parse::<u16>().is_ok() =>
            {
                Ok(ListenAddress)
            }
            _ => Err(format!(
                "{text:?} is not an address to listen on: expected HOST:PORT, such as \
                 127.0.0.1:8080"
            )),
        }
    }
}

/// A rate-limit store URL, as `--redis` takes it.
struct RedisUrl;

impl std::str::FromStr for RedisUrl {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let tls = text.starts_with("rediss://") || text.starts_with("rediss+cluster://");
        if tls && !cfg!(feature = "rustls") {
            return Err("rediss:// needs tollgate built with TLS: \
                        cargo install tollgate-cli --features rustls"
                .to_owned());
        }
        Backend::from_url(text)
            .map(|_| RedisUrl)
            .map_err(|e| e.to_string())
    }
}

/// A database URL as the store opens it, `sqlite:` naming a file or
/// `postgres://`; checked without connecting.
struct DatabaseUrl;

impl std::str::FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        // The URL is never shown: it may hold a password.
        if text.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(text)
                .map_err(|e| format!("invalid SQLite URL: {e}"))?;
            if options.get_filename().as_os_str().is_empty() {
                return Err(
                    "no file named: expected sqlite://PATH, or sqlite::memory: for a database \
                     in memory"
                        .to_owned(),
                );
            }
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            sqlx::postgres::PgConnectOptions::from_str(text)
                .map_err(|e| format!("invalid Postgres URL: {e}"))?;
        } else {
            return Err(
                "not a database URL: expected sqlite://PATH or postgres://USER@HOST/DB".to_owned(),
            );
        }
        Ok(DatabaseUrl)
    }
}

/// `text` when it parses as `T`: how `--listen`, `--redis` and `--trust-proxy`, and the
/// same settings and `database` in the config file, are checked before the server starts.
fn parse_checked<T: std::str::FromStr<Err: std::fmt::Display>>(
    text: &str,
) -> Result<String, String> {
    text.parse::<T>()
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

impl Config {
    /// Reads and checks `path`; every problem names the file and the line,
    /// and all of them are told at once, in the order of the file.
    fn read(path: &Path) -> Result<Config, CliError> {
        let input = input::read(&Source::File(path.to_owned()), MAX_INPUT)?;
        if input.truncated {
            return Err(CliError::Usage(format!(
                "{}: larger than {} MiB, which no config file is",
                path.display(),
                MAX_INPUT >> 20
            )));
        }
        // `file:line:column` of a place, and of byte `at` of `bytes`.
        let place = |(line, column): (usize, usize)| format!("{}:{line}:{column}", path.display());
        let located = |bytes: &[u8], at: usize| place(input::locate(bytes, at));
        let refused = |problems, not_shown| CliError::Config {
            file: path.display().to_string(),
            problems,
            not_shown,
        };
        let text = String::from_utf8(input.bytes).map_err(|e| {
            let at = located(e.as_bytes(), e.utf8_error().valid_up_to());
            let why = match input::is_utf16(e.as_bytes()) {
                true => "UTF-16, not UTF-8 (a config file is UTF-8 TOML: save it so)",
                false => "not valid UTF-8 (a config file is UTF-8 TOML)",
            };
            refused(vec![format!("{at}: {why}")], 0)
        })?;
        let at = |offset: usize| located(text.as_bytes(), offset);
        let toml_problem = |e: &toml::de::Error| {
            let offset = e.span().map_or(0, |s| s.start);
            (offset, explained(&text, e))
        };
        // A file that is not TOML stops at its first error; past that, each
        // setting is read on its own, so that one of the wrong type does not
        // hide the others' problems.
        let root = toml::de::DeTable::parse(&text).map_err(|e| {
            let (offset, why) = toml_problem(&e);
            refused(vec![format!("{}: {why}", at(offset))], 0)
        })?;
        let (span, root) = (root.span(), root.into_inner());
        let mut problems: Vec<(usize, String)> = Vec::new();
        let mut config = Config::default();
        for (key, value) in root {
            let mut one = toml::de::DeTable::new();
            one.insert(key, value);
            let one = Spanned::new(span.clone(), toml::de::DeValue::Table(one));
            match Config::deserialize(toml::de::ValueDeserializer::from(one)) {
                Ok(setting) => config.take(setting),
                Err(e) => problems.push(toml_problem(&e)),
            }
        }
        // Checked here, where the file and line are known, rather than when
        // the server starts.
        let mut check = |value: &Spanned<String>, parse: fn(&str) -> Result<String, String>| {
            if let Err(why) = parse(value.get_ref()) {
                problems.push((value.span().start, why));
            }
        };
        if let Some(value) = &config.listen {
            check(value, parse_checked::<ListenAddress>);
            config.listen_at = at(value.span().start);
        }
        if let Some(value) = &config.redis {
            check(value, parse_checked::<RedisUrl>);
            config.redis_at = at(value.span().start);
        }
        for value in &config.trust_proxy {
            check(value, parse_checked::<Cidr>);
        }
        // Paths in the file are relative to the file.
        let base = path.parent().unwrap_or(Path::new(""));
        if let Some(url) = &mut config.database {
            let offset = url.span().start;
            config.database_at = at(offset);
            match parse_checked::<DatabaseUrl>(url.get_ref())
                .and_then(|_| sqlite_relative_to(url.get_ref(), base))
            {
                Ok(relative) => *url.get_mut() = relative,
                Err(why) => problems.push((offset, why)),
            }
        }
        if let (Some(_), Some(dir)) = (&config.database, &config.data_dir) {
            let why = "data_dir and database both name the database; keep one";
            problems.push((dir.span().start, why.to_owned()));
        }
        if let Some(dir) = &mut config.data_dir {
            let offset = dir.span().start;
            let joined = base.join(dir.get_ref());
            if joined.exists() && !joined.is_dir() {
                let why = format!("data_dir {} is not a directory", joined.display());
                problems.push((offset, why));
            } else if joined.to_str().is_none() {
                let why = format!("data_dir {} is not valid UTF-8", joined.display());
                problems.push((offset, why));
            }
            *dir.get_mut() = joined;
            config.data_dir_at = at(offset);
        }
        // Located all in one pass: a list of a hundred thousand files is
        // read once, not once a file.
        let offsets: Vec<usize> = config.catalog.iter().map(|f| f.span().start).collect();
        let places = input::locate_each(text.as_bytes(), &offsets);
        for (file, at) in config.catalog.iter_mut().zip(places) {
            *file.get_mut() = base.join(file.get_ref());
            config.catalog_at.push(place(at));
        }
        if !problems.is_empty() {
            // Millions of problems would make a message no one reads.
            const TOLD: usize = 100;
            problems.sort_by_key(|(offset, _)| *offset);
            let not_shown = problems.len().saturating_sub(TOLD);
            problems.truncate(TOLD);
            let offsets: Vec<usize> = problems.iter().map(|(offset, _)| *offset).collect();
            let places = input::locate_each(text.as_bytes(), &offsets);
            let told = problems
                .into_iter()
                .zip(places)
                .map(|((_, why), at)| format!("{}: {why}", place(at)));
            return Err(refused(told.collect(), not_shown));
        }
        Ok(config)
    }

    /// Takes the settings `one` sets (read from a file of one setting).
    fn take(&mut self, one: Config) {
        self.listen = self.listen.take().or(one.listen);
        self.data_dir = self.data_dir.take().or(one.data_dir);
        self.dialect = self.dialect.or(one.dialect);
        self.problem_on_accept = self.problem_on_accept.or(one.problem_on_accept);
        self.catalog.extend(one.catalog);
        self.redis = self.redis.take().or(one.redis);
        self.rate_limit_fail = self.rate_limit_fail.or(one.rate_limit_fail);
        self.database = self.database.take().or(one.database);
        self.timeout = self.timeout.or(one.timeout);
        self.idempotency_retention = self.idempotency_retention.or(one.idempotency_retention);
        self.trust_proxy.extend(one.trust_proxy);
    }

    /// The database the file names (`database`, or the SQLite file in
    /// `data_dir`, that directory made first when `create`), and where it
    /// names it, `file:line:column`.
    fn database(&self, create: bool) -> Result<Option<(String, String)>, CliError> {
        match (&self.database, &self.data_dir) {
            (Some(url), _) => Ok(Some((url.get_ref().clone(), self.database_at.clone()))),
            (None, Some(dir)) => {
                let url = if create {
                    sqlite_in(dir.get_ref())
                } else {
                    sqlite_url_in(dir.get_ref())
                };
                // A directory that cannot be made is located in the file.
                let url = url
                    .map_err(|e| CliError::Usage(format!("{}: data_dir: {e}", self.data_dir_at)))?;
                Ok(Some((url, self.data_dir_at.clone())))
            }
            (None, None) => Ok(None),
        }
    }
}

/// The settings in force: flags over the environment over the config file
/// over the defaults.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) listen: String,
    /// What named `listen`: the flag, the config file's line, or the
    /// default.
    pub(super) listen_by: String,
    /// How a shell reaches this program, for the commands the banner
    /// prints ([`program`]).
    pub(super) program: String,
    pub(super) dialect: Dialect,
    /// Whether a client asking for problem details in `Accept` gets them.
    pub(super) problem_on_accept: bool,
    pub(super) catalogs: Vec<PathBuf>,
    /// Where the config file names each of the first `catalogs`.
    pub(super) catalogs_at: Vec<String>,
    pub(super) redis: Option<String>,
    /// What named `redis`: the flag, the variable or the config file's line.
    pub(super) redis_by: String,
    /// What requests get while Redis cannot be reached (in memory, the
    /// limits never fail).
    pub(super) rate_limit_fail: FailMode,
    pub(super) database: String,
    /// What named `database`: a flag, the variable, the config file's line,
    /// or the default.
    pub(super) database_by: String,
    /// The data directory `database` is in, when one is named, with what
    /// named it: made only as the database is opened, so that a start that
    /// fails before (a broken catalog, a port in use) leaves nothing behind.
    pub(super) data_dir: Option<(PathBuf, String)>,
    pub(super) timeout: Duration,
    pub(super) idempotency_retention: Duration,
    pub(super) trust_proxies: Vec<String>,
    pub(super) config: Option<PathBuf>,
}

/// How a shell reaches this program: `tollgate`, when that name on the
/// `PATH` is this program; else its path (a `cargo run` build is on no
/// `PATH`), quoted for the shell; else, a path that cannot be printed as
/// it is, the name.
fn program() -> String {
    let Ok(exe) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return "tollgate".to_owned();
    };
    let named = |dir: PathBuf| std::fs::canonicalize(dir.join("tollgate")).is_ok_and(|f| f == exe);
    let on_path =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(named));
    match exe.to_str() {
        Some(path) if !on_path && crate::input::printable(path) == path => super::shell_quote(path),
        _ => "tollgate".to_owned(),
    }
}

/// The URL of the SQLite file in `dir`, which is created if missing.
pub(super) fn sqlite_in(dir: &Path) -> Result<String, CliError> {
    make_data_dir(dir)?;
    sqlite_url_in(dir)
}

/// Creates the data directory `dir` if missing: on Unix readable by its
/// owner only (0700); an existing one is left as it is.
pub(super) fn make_data_dir(dir: &Path) -> Result<(), CliError> {
    private_dir(dir).map_err(|e| {
        CliError::Usage(format!(
            "cannot create the data directory {}: {e}",
            dir.display()
        ))
    })
}

/// What sqlx must see percent-encoded in a SQLite URL's path: it reads the
/// path percent-decoded and up to its first `?`.
const SQLX_PATH: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');

/// The URL of the SQLite file in `dir`, by its absolute path.
fn sqlite_url_in(dir: &Path) -> Result<String, CliError> {
    let file = std::path::absolute(dir.join(DATABASE_FILE))
        .map_err(|e| CliError::Usage(format!("cannot locate {}: {e}", dir.display())))?;
    let path = file.to_str().ok_or_else(|| {
        CliError::Usage(format!(
            "the data directory {} is not valid UTF-8",
            dir.display()
        ))
    })?;
    Ok(format!(
        "sqlite://{}",
        percent_encoding::utf8_percent_encode(path, SQLX_PATH)
    ))
}

/// `url` with a relative SQLite path taken from `base` (a config file's
/// folder) rather than from the working directory; any other URL as it is.
fn sqlite_relative_to(url: &str, base: &Path) -> Result<String, String> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(url.to_owned());
    };
    let (path, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    if path.is_empty() || store_db::sqlite_in_memory(url) || Path::new(path).is_absolute() {
        return Ok(url.to_owned());
    }
    // A file named without a folder is in the working directory.
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let base = std::path::absolute(base).map_err(|e| format!("cannot locate the file: {e}"))?;
    let base = base
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", base.display()))?;
    let base = percent_encoding::utf8_percent_encode(base.trim_end_matches('/'), SQLX_PATH);
    Ok(format!("sqlite://{base}/{path}{query}"))
}

/// The database `serve` would take from the config file at `path`, if the
/// file exists and names one (`database`, or `data_dir`), and where the file
/// names it (`file:line:column`): what `keys` and `accounts` use by default.
/// A data directory is made, as `serve` makes it, when `create`.
pub(crate) fn config_database(
    path: &Path,
    create: bool,
) -> Result<Option<(String, String)>, CliError> {
    if !present(path) {
        return Ok(None);
    }
    Config::read(path)?.database(create)
}

/// Whether anything is at `path`. The implicit `./tollgate.toml` is read
/// whenever something of that name exists, so that a directory, a dangling
/// link or an unreadable file is reported rather than passed over.
fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Creates `dir` and its missing parents, 0700 on Unix.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The variable a Redis URL can come from, so that a password in it stays
/// out of the process list.
const REDIS_ENV: &str = "TOLLGATE_REDIS_URL";

/// The settings the environment gives; each an error only once it is used.
pub(super) struct FromEnv {
    database: Result<Option<String>, CliError>,
    redis: Result<Option<String>, CliError>,
}

impl FromEnv {
    /// [`DATABASE_ENV`](store_db::DATABASE_ENV) and [`REDIS_ENV`], each if
    /// set and not empty; a Redis URL that does not parse is refused naming
    /// the variable (not its value, which may hold a password).
    pub(super) fn read() -> FromEnv {
        let redis = store_db::url_from_env(REDIS_ENV).and_then(|url| match url {
            Some(url) => parse_checked::<RedisUrl>(&url)
                .map(Some)
                .map_err(|why| CliError::Usage(format!("{REDIS_ENV}: {why}"))),
            None => Ok(None),
        });
        FromEnv {
            database: store_db::url_from_env(store_db::DATABASE_ENV),
            redis,
        }
    }

    /// Nothing set.
    #[cfg(test)]
    pub(super) fn none() -> FromEnv {
        FromEnv {
            database: Ok(None),
            redis: Ok(None),
        }
    }
}

impl Settings {
    /// The settings of `args`, the config file and `env`.
    pub(super) fn resolve(args: ServeArgs, env: FromEnv) -> Result<Settings, CliError> {
        let config_path = match args.config {
            Some(path) => Some(path),
            None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| present(p)),
        };
        let config = match &config_path {
            Some(path) => Config::read(path)?,
            None => Config::default(),
        };
        // Either flag beats the environment, which beats either setting of
        // the file. (The variable is read here, not by clap, which would
        // put it before `--data-dir`.)
        let mut data_dir = None;
        let (database, database_by) = match (args.database, args.data_dir) {
            (Some(url), _) => (url, "--database".to_owned()),
            (None, Some(dir)) => {
                // Said as the config file's `data_dir` says it, rather than
                // as creating the directory fails ("File exists").
                if dir.exists() && !dir.is_dir() {
                    return Err(CliError::Usage(format!(
                        "--data-dir {} is not a directory",
                        dir.display()
                    )));
                }
                let url = sqlite_url_in(&dir)?;
                data_dir = Some((dir, "--data-dir".to_owned()));
                (url, "--data-dir".to_owned())
            }
            (None, None) => match env.database? {
                Some(url) => (url, store_db::DATABASE_ENV.to_owned()),
                None => match config.database(false)? {
                    Some(named) => {
                        data_dir = config
                            .data_dir
                            .as_ref()
                            .map(|dir| (dir.get_ref().clone(), format!("{}: data_dir", named.1)));
                        named
                    }
                    None => (sqlite_url_in(Path::new("."))?, "the default".to_owned()),
                },
            },
        };
        let (redis, redis_by) = match (args.redis, config.redis) {
            (Some(url), _) => (Some(url), "--redis".to_owned()),
            (None, in_file) => match env.redis? {
                Some(url) => (Some(url), REDIS_ENV.to_owned()),
                None => (in_file.map(Spanned::into_inner), config.redis_at),
            },
        };
        let mut catalogs: Vec<PathBuf> = config
            .catalog
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        catalogs.extend(args.catalogs);
        let mut trust_proxies: Vec<String> = config
            .trust_proxy
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        trust_proxies.extend(args.trust_proxies);
        let (listen, listen_by) = match (args.listen, config.listen) {
            (Some(listen), _) => (listen, "--listen".to_owned()),
            (None, Some(listen)) => (listen.into_inner(), config.listen_at),
            (None, None) => (DEFAULT_LISTEN.to_owned(), "the default".to_owned()),
        };
        Ok(Settings {
            listen,
            listen_by,
            program: program(),
            dialect: args.dialect.or(config.dialect).unwrap_or(Dialect::Problem),
            problem_on_accept: args
                .problem_on_accept
                .or(config.problem_on_accept)
                .unwrap_or(true),
            catalogs,
            catalogs_at: config.catalog_at,
            redis,
            redis_by,
            rate_limit_fail: args
                .rate_limit_fail
                .or(config.rate_limit_fail)
                .unwrap_or(FailMode::Open),
            database,
            database_by,
            data_dir,
            timeout: args.timeout.or(config.timeout).unwrap_or(DEFAULT_TIMEOUT),
            idempotency_retention: args
                .idempotency_retention
                .or(config.idempotency_retention)
                .unwrap_or(DEFAULT_RETENTION),
            trust_proxies,
            config: config_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_catalog;
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("tollgate.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn relative_sqlite_paths_are_taken_from_the_config_file() {
        let base = Path::new("/etc/tollgate #1");
        let cases = [
            ("sqlite://x.db", "sqlite:///etc/tollgate %231/x.db"),
            (
                "sqlite:data/x.db?mode=rwc",
                "sqlite:///etc/tollgate %231/data/x.db?mode=rwc",
            ),
            ("sqlite:///var/x.db", "sqlite:///var/x.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite://x.db?mode=memory", "sqlite://x.db?mode=memory"),
            ("postgres://u@h/db", "postgres://u@h/db"),
        ];
        for (url, expected) in cases {
            assert_eq!(sqlite_relative_to(url, base).unwrap(), expected, "{url}");
        }
    }

    #[test]
    fn flags_override_the_config_file_and_lists_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "listen = '127.0.0.1:9000'\ndialect = 'envelope'\ncatalog = ['a.toml']\n\
             data_dir = 'data'\ntimeout = '2s'\ntrust_proxy = ['10.0.0.0/8']\n\
             idempotency_retention = '90m'\n",
        );
        let args = ServeArgs {
            config: Some(path.clone()),
            dialect: Some(Dialect::Coded),
            catalogs: vec![PathBuf::from("b.toml")],
            ..ServeArgs::default()
        };
        let s = Settings::resolve(args, FromEnv::none()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000");
        assert_eq!(s.dialect, Dialect::Coded);
        assert_eq!(
            s.catalogs,
            [dir.path().join("a.toml"), PathBuf::from("b.toml")]
        );
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.idempotency_retention, Duration::from_secs(90 * 60));
        assert_eq!(s.trust_proxies, ["10.0.0.0/8"]);
        assert!(s.database.starts_with("sqlite://"), "{}", s.database);
        assert!(s.database.ends_with("data/tollgate.db"), "{}", s.database);
        // Named, and made only as the database is opened.
        let (data, _) = s.data_dir.clone().unwrap();
        assert_eq!(data, dir.path().join("data"));
        assert!(!data.exists());
        assert_eq!(s.config, Some(path));
    }

    /// This program, not on the PATH under its name, is named by its path.
    #[test]
    fn the_program_is_named_as_a_shell_reaches_it() {
        let exe = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(program(), super::super::shell_quote(exe.to_str().unwrap()));
    }

    /// Problem details on `Accept` are on unless the file or the flag turns
    /// them off, the flag winning; a quoted value is told how to write it.
    #[test]
    fn problem_on_accept_is_on_unless_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let resolve = |text: &str, flag: Option<bool>| {
            let args = ServeArgs {
                config: Some(write(dir.path(), text)),
                problem_on_accept: flag,
                ..ServeArgs::default()
            };
            Settings::resolve(args, FromEnv::none()).map(|s| s.problem_on_accept)
        };
        assert!(resolve("", None).unwrap());
        assert!(!resolve("problem_on_accept = false\n", None).unwrap());
        assert!(resolve("problem_on_accept = false\n", Some(true)).unwrap());
        assert!(!resolve("", Some(false)).unwrap());
        let Err(CliError::Config { problems, .. }) = resolve("problem_on_accept = 'no'\n", None)
        else {
            panic!("a string is no boolean");
        };
        assert!(
            problems[0].contains(":1:21: ")
                && problems[0].contains("problem_on_accept takes true or false"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_data_dir_flag_beats_the_files_database_and_odd_paths_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "database = 'sqlite:///nowhere/a.db'\n");
        let odd = dir.path().join("50%?#off");
        let args = ServeArgs {
            config: Some(path),
            data_dir: Some(odd.clone()),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(args, FromEnv::none()).unwrap();
        assert_eq!(s.data_dir, Some((odd.clone(), "--data-dir".to_owned())));
        make_data_dir(&odd).unwrap();
        assert!(
            s.database.ends_with("/50%25%3F%23off/tollgate.db"),
            "{}",
            s.database
        );
        // sqlx reads it back as the file in the directory made.
        let options: sqlx::sqlite::SqliteConnectOptions = s.database.parse().unwrap();
        assert_eq!(
            options.get_filename(),
            std::path::absolute(odd.join("tollgate.db")).unwrap()
        );
    }

    #[test]
    fn a_data_dir_flag_naming_a_file_says_it_is_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        let args = ServeArgs {
            data_dir: Some(file.clone()),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(args, FromEnv::none())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("--data-dir {} is not a directory", file.display())
        );
    }

    #[test]
    fn broken_config_files_name_the_file_and_line() {
        for (text, line, says) in [
            (
                "listen = '127.0.0.1:1'\nport = 8080\n",
                2,
                "unknown field `port`",
            ),
            // A slip of the keys is told the setting it likely meant.
            (
                "trust_proxies = ['10.0.0.1']\n",
                1,
                "(did you mean `trust_proxy`?)",
            ),
            (
                "dialect = 'soap'\n",
                1,
                "unknown dialect \"soap\", expected one of: problem,",
            ),
            ("\n\ntimeout = 'soon'\n", 3, "expected a duration"),
            (
                "idempotency_retention = '40d'\n",
                1,
                "40d is out of range: 1s to 30days",
            ),
            ("listen = \n", 1, ""),
            ("\nlisten = 'nowhere'\n", 2, "expected HOST:PORT"),
            ("listen = '[::1]:99999'\n", 1, "expected HOST:PORT"),
            ("listen = ' 127.0.0.1:8080'\n", 1, "expected HOST:PORT"),
            ("redis = 'bogus://x'\n", 1, "invalid rate-limit store URL"),
            (
                "\nrate_limit_fail = 'shut'\n",
                2,
                "unknown fail mode \"shut\", expected open or closed",
            ),
            (
                "trust_proxy = [\n  '10.0.0.0/8',\n  '10.0.0.0/99',\n]\n",
                3,
                "invalid trusted proxy",
            ),
            ("database = 'mysql://db/x'\n", 1, "not a database URL"),
            ("\ndatabase = 'tollgate.db'\n", 2, "not a database URL"),
            ("database = 'sqlite://'\n", 1, "no file named"),
            (
                "database = 'postgres://u:hunter2@db:99999/x'\n",
                1,
                "invalid Postgres URL",
            ),
            ("\ndata_dir = 'tollgate.toml'\n", 2, "is not a directory"),
        ] {
            let err = refusal_of(text);
            assert!(err.starts_with(&format!("{line}:")), "{text:?}: {err}");
            assert!(err.contains(says), "{text:?}: {err}");
            assert!(!err.contains("hunter2"), "{text:?}: {err}");
        }
        // A data directory under a file: found when the directory is made,
        // as the database is opened, and told at the setting.
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "dialect = 'coded'\ndata_dir = 'tollgate.toml/data'\n",
        );
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let (data, by) = Settings::resolve(args, FromEnv::none())
            .unwrap()
            .data_dir
            .unwrap();
        assert!(by.starts_with(&format!("{}:2:", path.display())), "{by}");
        let err = make_data_dir(&data).unwrap_err().to_string();
        assert!(err.contains("cannot create the data directory"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let args = ServeArgs {
            config: Some(dir.path().join("missing.toml")),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(args, FromEnv::none())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn every_problem_of_a_config_file_is_told_at_once_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        let text = "listen = 'nowhere'\nport = 8080\ntimeout = 5\n\
                    trust_proxy = ['10.0.0.0/8', '10.0.0.0/99']\ndialect = 'soap'\n\
                    catalog = ['a.toml']\ndatabase = 'mysql://db/x'\ndata_dir = 'file'\n";
        let path = write(dir.path(), text);
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(args, FromEnv::none()).unwrap_err();
        assert!(matches!(&err, CliError::Config { problems, .. } if problems.len() == 8));
        let told: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
        let file = path.display();
        for (problem, (line, says)) in told.iter().zip([
            (1, "expected HOST:PORT"),
            (2, "unknown field `port`"),
            (3, "timeout takes a duration in quotes"),
            (4, "invalid trusted proxy"),
            (5, "unknown dialect \"soap\""),
            (7, "not a database URL"),
            (8, "data_dir and database both name the database"),
            (8, "is not a directory"),
        ]) {
            assert!(problem.starts_with(&format!("{file}:{line}:")), "{problem}");
            assert!(problem.contains(says), "{problem}");
        }
    }

    #[test]
    fn past_a_hundred_problems_the_rest_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..250).map(|i| format!("k{i} = {i}\n")).collect();
        let path = write(dir.path(), &text);
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(args, FromEnv::none()).unwrap_err();
        let CliError::Config {
            problems,
            not_shown,
            ..
        } = err
        else {
            panic!("{err}");
        };
        assert_eq!((problems.len(), not_shown), (100, 150));
        let file = path.display();
        assert!(problems[0].starts_with(&format!("{file}:1:1: unknown field `k0`")));
        assert!(problems[99].starts_with(&format!("{file}:100:1: unknown field `k99`")));
    }

    /// The message for the config file `text`, after its `path:`.
    fn refusal_of(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), text);
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(args, FromEnv::none())
            .unwrap_err()
            .to_string();
        let located = err.strip_prefix(&format!("{}:", path.display()));
        located
            .unwrap_or_else(|| panic!("{text:?}: {err}"))
            .to_owned()
    }

    #[test]
    fn a_setting_of_the_wrong_type_says_what_to_write() {
        for (text, says) in [
            (
                "catalog = \"x.toml\"\n",
                "1:11: invalid type: string \"x.toml\", expected a sequence: catalog takes a list \
                 of catalog files, such as catalog = [\"x.toml\"]",
            ),
            (
                "catalog = [1]\n",
                "1:12: invalid type: integer `1`, expected path string: catalog takes a list of \
                 catalog files, such as catalog = [\"api.toml\"]",
            ),
            (
                "\ntimeout = 5\n",
                "2:11: invalid type: integer `5`, expected a string: timeout takes a duration in \
                 quotes, such as timeout = \"5s\"",
            ),
            (
                "timeout = 0.5\n",
                "1:11: invalid type: floating point `0.5`, expected a string: timeout takes a \
                 duration in quotes, such as timeout = \"500ms\"",
            ),
            (
                "timeout = true\n",
                "1:11: invalid type: boolean `true`, expected a string: timeout takes a duration \
                 in quotes, such as timeout = \"10s\"",
            ),
            (
                "idempotency_retention = 60\n",
                "1:25: invalid type: integer `60`, expected a string: idempotency_retention takes \
                 a duration in quotes, such as idempotency_retention = \"24h\"",
            ),
            (
                "listen = 8080\n",
                "1:10: invalid type: integer `8080`, expected a string: listen takes HOST:PORT in \
                 quotes, such as listen = \"127.0.0.1:8080\"",
            ),
            (
                "[listen]\nport = 8080\n",
                "1:1: invalid type: map, expected a string: listen takes HOST:PORT in quotes, such \
                 as listen = \"127.0.0.1:8080\"",
            ),
            (
                "data_dir = ['a', 'b']\n",
                "1:12: invalid type: sequence, expected path string: data_dir takes a directory in \
                 quotes, such as data_dir = \"/var/lib/tollgate\"",
            ),
            (
                "dialect = 5\n",
                "1:11: invalid type: integer `5`, expected a string: dialect takes a dialect's name \
                 in quotes, such as dialect = \"envelope\"",
            ),
            (
                "redis = 6379\n",
                "1:9: invalid type: integer `6379`, expected a string: redis takes a URL in quotes, \
                 such as redis = \"redis://127.0.0.1:6379\"",
            ),
            (
                "rate_limit_fail = false\n",
                "1:19: invalid type: boolean `false`, expected a string: rate_limit_fail takes \
                 open or closed in quotes, such as rate_limit_fail = \"closed\"",
            ),
            (
                "database = true\n",
                "1:12: invalid type: boolean `true`, expected a string: database takes a URL in \
                 quotes, such as database = \"sqlite://tollgate.db\" or database = \
                 \"postgres://USER@HOST/DB\"",
            ),
            (
                "trust_proxy = '10.0.0.0/8'\n",
                "1:15: invalid type: string \"10.0.0.0/8\", expected a sequence: trust_proxy takes \
                 a list of proxies (addresses or CIDRs), such as trust_proxy = ['10.0.0.0/8']",
            ),
            (
                "trust_proxy = [\n  '10.0.0.0/8',\n  8,\n]\n",
                "3:3: invalid type: integer `8`, expected a string: trust_proxy takes a list of \
                 proxies (addresses or CIDRs), such as trust_proxy = [\"10.0.0.0/8\"]",
            ),
        ] {
            assert_eq!(refusal_of(text), says, "{text:?}");
        }
    }

    /// A single string given for a list is quoted back in the example only
    /// when it fits on one line of at most 100 characters; otherwise the
    /// example is the plain one.
    #[test]
    fn a_long_or_multiline_string_for_a_list_gets_the_plain_example() {
        let fits = format!("'{}'", "a".repeat(98));
        let long = format!("'{}'", "a".repeat(99));
        for (value, example) in [
            (fits.as_str(), fits.as_str()),
            (long.as_str(), "\"api.toml\""),
            ("'''\nx.toml'''", "\"api.toml\""),
        ] {
            let said = refusal_of(&format!("catalog = {value}\n"));
            assert!(said.starts_with("1:11: invalid type: string "), "{said}");
            assert!(
                said.ends_with(&format!(
                    ": catalog takes a list of catalog files, such as catalog = [{example}]"
                )),
                "{value:?}: {said}"
            );
        }
    }

    #[test]
    fn a_key_given_twice_is_named() {
        for (text, says) in [
            (
                "listen = '127.0.0.1:1'\nlisten = '127.0.0.1:2'\n",
                "2:1: duplicate key `listen`",
            ),
            (
                "catalog = []\n\n[catalog]\n",
                "3:2: duplicate key `catalog`",
            ),
            (
                "timeout = '1s'\n'timeout' = '2s'\n",
                "2:1: duplicate key `'timeout'`",
            ),
        ] {
            assert_eq!(refusal_of(text), says, "{text:?}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_no_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "\u{feff}dialect = 'soap'\n");
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(args, FromEnv::none())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:1:11: ", path.display())),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_catalog_is_located_in_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "").unwrap();
        let path = write(
            dir.path(),
            "dialect = 'coded'\ncatalog = ['a.toml', 'nonexist.toml']\n",
        );
        let args = ServeArgs {
            config: Some(path.clone()),
            catalogs: vec![dir.path().join("flag.toml")],
            ..ServeArgs::default()
        };
        let s = Settings::resolve(args, FromEnv::none()).unwrap();
        let err = load_catalog(&s.catalogs, &s.catalogs_at)
            .unwrap_err()
            .to_string();
        let prefix = format!("{}:2:22: catalog: cannot read ", path.display());
        assert!(err.starts_with(&prefix), "{err}");
        assert!(err.contains("nonexist.toml"), "{err}");
        // A file named by a flag is named as given.
        std::fs::write(dir.path().join("nonexist.toml"), "").unwrap();
        let err = load_catalog(&s.catalogs, &s.catalogs_at)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read "), "{err}");
        assert!(err.contains("flag.toml"), "{err}");
    }

    #[test]
    fn rediss_says_how_to_build_with_tls() {
        for url in ["rediss://127.0.0.1:6380", "rediss+cluster://127.0.0.1:6380"] {
            let parsed = url.parse::<RedisUrl>();
            if cfg!(feature = "rustls") {
                assert!(parsed.is_ok(), "{url}");
            } else {
                let e = parsed.err().unwrap();
                assert!(
                    e.contains("cargo install tollgate-cli --features rustls"),
                    "{e}"
                );
            }
        }
    }

    /// The bounds themselves are accepted: 100ms and 1h for the deadline,
    /// 1s and 30 days for the retention.
    #[test]
    fn durations_at_their_bounds_are_accepted() {
        assert_eq!(parse_timeout("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_timeout("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_timeout("99ms").unwrap_err().contains("out of range"));
        assert_eq!(parse_retention("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(
            parse_retention("30days"),
            Ok(Duration::from_secs(30 * 24 * 3600))
        );
        assert!(
            parse_retention("999ms")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            parse_retention("31days")
                .unwrap_err()
                .contains("out of range")
        );
    }

    /// Without a flag or a setting the deadline is 10 s and answers are
    /// kept 24 h, as `--help` says.
    #[test]
    fn unset_durations_take_their_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "data_dir = 'data'\n");
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(args, FromEnv::none()).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.idempotency_retention, Duration::from_secs(24 * 3600));
    }

    /// Open unless set, as `--help` says; the flag beats the file, and
    /// takes what the file takes.
    #[test]
    fn the_fail_mode_is_open_unless_set_and_the_flag_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let resolved = |text: &str, flag: Option<FailMode>| {
            let args = ServeArgs {
                config: Some(write(dir.path(), text)),
                rate_limit_fail: flag,
                ..ServeArgs::default()
            };
            Settings::resolve(args, FromEnv::none())
                .unwrap()
                .rate_limit_fail
        };
        assert_eq!(resolved("", None), FailMode::Open);
        assert_eq!(
            resolved("rate_limit_fail = 'closed'\n", None),
            FailMode::CLOSED
        );
        assert_eq!(resolved("rate_limit_fail = 'open'\n", None), FailMode::Open);
        assert_eq!(
            resolved("rate_limit_fail = 'closed'\n", Some(FailMode::Open)),
            FailMode::Open
        );
        assert_eq!(parse_fail_mode("open"), Ok(FailMode::Open));
        assert_eq!(parse_fail_mode("closed"), Ok(FailMode::CLOSED));
        for bad in ["Closed", "", "fail-closed"] {
            let why = parse_fail_mode(bad).unwrap_err();
            assert!(why.ends_with(", expected open or closed"), "{bad:?}: {why}");
        }
        // Quoted escaped and cut, as any value an error repeats.
        let why = parse_fail_mode(&format!("\u{1b}[2J{}", "x".repeat(200))).unwrap_err();
        assert!(why.starts_with("unknown fail mode \"\\u{1b}[2J"), "{why}");
        assert!(why.len() < 150, "{why}");
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(parse_timeout("10s"), Ok(Duration::from_secs(10)));
        assert!(parse_timeout("0s").unwrap_err().contains("out of range"));
        assert!(parse_timeout("2h").unwrap_err().contains("out of range"));
        assert!(
            parse_timeout("soon")
                .unwrap_err()
                .contains("expected a duration")
        );
    }
}
