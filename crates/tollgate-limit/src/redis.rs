//! The Redis store: GCRA in a Lua script, one round trip per decision, timed
//! by Redis's own clock.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::key::Key;
use crate::policy::{Decision, Gcra, Policy};

/// GCRA on one key. KEYS[1]: the key. ARGV: emission interval (µs),
/// tolerance (µs), cost, mode (0 check, 1 peek, 2 refund). Returns
/// `{allowed, units owed after the call (reset), units until admissible}`.
///
/// Time comes from `TIME` on the Redis server, so the clocks of the nodes
/// running the limiter do not matter. Times are microseconds since the Unix
/// epoch (below 2^53, exact in Lua's doubles); the stored value is written
/// with `%.0f` so it never turns into an exponent.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local mode = ARGV[4]
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local increment = interval * cost
if mode == '2' then
  local back = tat - increment
  if back <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], string.format('%.0f', back), 'PX', math.ceil((back - now) / 1000))
  end
  return {1, 0, 0}
end
if tat < now then tat = now end
local used = tat - now
local debt = used + increment
if debt > tolerance then
  return {0, used, debt - tolerance}
end
if mode == '0' then
  redis.call('SET', KEYS[1], string.format('%.0f', now + debt), 'PX', math.ceil(debt / 1000) + 1)
end
return {1, debt, 0}
";

/// Connection settings of a [`RedisStore`].
///
/// ```
/// use std::time::Duration;
/// let options = tollgate_limit::RedisOptions::default().timeout(Duration::from_millis(100)).prefix("myapp:rl:");
/// assert_eq!(options.get_timeout(), Duration::from_millis(100));
/// ```
#[derive(Clone, Debug)]
pub struct RedisOptions {
    timeout: Duration,
    prefix: Arc<str>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            timeout: Duration::from_millis(500),
            prefix: "tollgate:rl:".into(),
        }
    }
}

impl RedisOptions {
    /// How long one decision may take, reconnecting included, before it
    /// counts as a failure (default 500 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The prefix of every key (default `tollgate:rl:`).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// GCRA state in Redis, shared by every node of an API.
///
/// **One round trip per decision.** A check is one `EVALSHA` of a Lua script
/// that reads the key, decides with Redis's own `TIME` and writes the new
/// state atomically (the script is loaded again by itself after a Redis
/// restart: `EVALSHA`, then `SCRIPT LOAD` once on `NOSCRIPT`). Calls share one
/// multiplexed connection ([`ConnectionManager`]), which pipelines concurrent
/// requests and reconnects by itself.
///
/// **Keys.** `{prefix}{policy:key}`: the braces are a hash tag, so everything
/// a decision touches lives in one Redis Cluster slot, and keys spread over
/// slots by caller. Braces and `%` inside a key are percent-encoded. Keys
/// expire once their caller is idle, so Redis memory stays bounded too.
///
/// **Failures** (Redis down, timeout) are returned as [`RedisStoreError`];
/// the [`Limiter`](crate::Limiter) logs them and fails open or closed as
/// configured.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    script: Arc<redis::Script>,
    options: RedisOptions,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on `url` (`redis://host:port/db`, `rediss://…`,
    /// `redis+unix:///path`). Connects lazily: Redis may be down at start;
    /// calls fail (and the limiter's fail mode applies) until it is up. Call
    /// inside a Tokio runtime.
    pub fn open(url: &str, options: RedisOptions) -> Result<RedisStore, RedisStoreError> {
        let client = redis::Client::open(url).map_err(|e| RedisStoreError::url(url, e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| RedisStoreError::url(url, e))?;
        Ok(RedisStore {
            conn,
            script: Arc::new(redis::Script::new(SCRIPT)),
            options,
        })
    }

    /// The Redis key of `key` under `policy`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tollgate_limit::{Key, Policy, RedisOptions, RedisStore};
    /// let store = RedisStore::open("redis://127.0.0.1:6379", RedisOptions::default())?;
    /// let policy = Policy::new("per-key", 100, Duration::from_secs(60))?;
    /// assert_eq!(store.redis_key(&policy, &Key::from("a{b}%")), "tollgate:rl:{per-key:a%7Bb%7D%25}");
    /// # Ok(()) }
    /// ```
    pub fn redis_key(&self, policy: &Policy, key: &Key) -> String {
        let key = key.to_string();
        let mut out =
            String::with_capacity(self.options.prefix.len() + policy.name().len() + key.len() + 4);
        out.push_str(&self.options.prefix);
        out.push('{');
        out.push_str(policy.name());
        out.push(':');
        for c in key.chars() {
            match c {
                '{' => out.push_str("%7B"),
                '}' => out.push_str("%7D"),
                '%' => out.push_str("%25"),
                c => out.push(c),
            }
        }
        out.push('}');
        out
    }

    /// Checks and, if admitted, records a call of `cost` for `key`.
    pub async fn check(
        &self,
        policy: &Policy,
        key: &Key,
        cost: u64,
    ) -> Result<Decision, RedisStoreError> {
        self.run(policy, key, cost, "0").await
    }

    /// What [`check`](Self::check) would decide, without recording it.
    pub async fn peek(
        &self,
        policy: &Policy,
        key: &Key,
        cost: u64,
    ) -> Result<Decision, RedisStoreError> {
        self.run(policy, key, cost, "1").await
    }

    /// Gives back a call of `cost` admitted earlier.
    pub async fn refund(
        &self,
        policy: &Policy,
        key: &Key,
        cost: u64,
    ) -> Result<(), RedisStoreError> {
        self.run(policy, key, cost, "2").await.map(drop)
    }

    async fn run(
        &self,
        policy: &Policy,
        key: &Key,
        cost: u64,
        mode: &str,
    ) -> Result<Decision, RedisStoreError> {
        let gcra = policy.gcra_us();
        let mut invocation = self.script.key(self.redis_key(policy, key));
        invocation
            .arg(gcra.interval)
            .arg(gcra.tolerance)
            .arg(cost)
            .arg(mode);
        let mut conn = self.conn.clone();
        let reply: (u8, u64, u64) =
            tokio::time::timeout(self.options.timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| RedisStoreError {
                    kind: RedisErrorKind::Timeout(self.options.timeout),
                })?
                .map_err(|e| RedisStoreError {
                    kind: RedisErrorKind::Redis(e),
                })?;
        Ok(decision(gcra, cost, reply))
    }

    /// Runs a plain `SET` on the store's connection (for benchmarks that
    /// compare a decision with the cheapest write).
    #[doc(hidden)]
    pub async fn plain_set(&self, key: &str) -> Result<(), RedisStoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(key)
            .arg(1)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| RedisStoreError {
                kind: RedisErrorKind::Redis(e),
            })
    }
}

/// The script's reply as a [`Decision`].
fn decision(gcra: Gcra, cost: u64, (allowed, owed, wait): (u8, u64, u64)) -> Decision {
    Decision {
        allowed: allowed == 1,
        impossible: gcra.interval.saturating_mul(cost) > gcra.tolerance,
        limit: gcra.limit,
        interval: gcra.interval,
        tolerance: gcra.tolerance,
        owed,
        wait,
        unit_ns: gcra.unit_ns,
    }
}

/// A failed Redis decision.
#[derive(Debug)]
pub struct RedisStoreError {
    kind: RedisErrorKind,
}

#[derive(Debug)]
enum RedisErrorKind {
    Url(String, redis::RedisError),
    Timeout(Duration),
    Redis(redis::RedisError),
}

impl RedisStoreError {
    fn url(url: &str, e: redis::RedisError) -> RedisStoreError {
        // Never echo a password.
        let shown = match url.split_once('@') {
            Some((_, host)) => format!("redis://…@{host}"),
            None => url.to_owned(),
        };
        RedisStoreError {
            kind: RedisErrorKind::Url(shown, e),
        }
    }

    /// Whether the decision timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, RedisErrorKind::Timeout(_))
    }
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RedisErrorKind::Url(url, e) => write!(f, "rate-limit store {url:?}: {e}"),
            RedisErrorKind::Timeout(t) => {
                write!(f, "rate-limit store: no answer from redis within {t:?}")
            }
            RedisErrorKind::Redis(e) => write!(f, "rate-limit store: {e}"),
        }
    }
}

impl std::error::Error for RedisStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RedisErrorKind::Url(_, e) | RedisErrorKind::Redis(e) => Some(e),
            RedisErrorKind::Timeout(_) => None,
        }
    }
}
