//! The Redis store: GCRA in a Lua script, one round trip per decision, timed
//! by Redis's own clock; concurrent decisions share one script call.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::{OnceCell, oneshot};

use crate::key::Key;
use crate::policy::{Decision, Gcra, Policy};

/// GCRA on a batch of keys, in order (a key may appear twice; the second
/// sees the first's write). `KEYS[i]` is a key and `ARGV[i]` its job, packed
/// big-endian as `>ddB`: increment (emission interval × cost, µs), tolerance
/// (µs), mode (`0` check, `1` peek, `2` refund). Answers one integer per
/// key (an array, or the integer alone for one key: building a Lua table
/// costs as much as a `GET`): the units owed after an admitted call (≥ 0),
/// or minus the units to wait before a refused one could be admitted (< 0);
/// `0` for a refund.
///
/// Time comes from `TIME` on the Redis server, read once per batch, so the
/// clocks of the nodes running the limiter do not matter. Times are
/// microseconds since the Unix epoch, below 2^53 and so exact in Lua's
/// doubles.
///
/// A key's value is `>Bdd`: a format byte (1), the theoretical arrival time,
/// and the key's deadline. The key expires at its deadline, which is set one
/// horizon (the tolerance, at least a second) past the arrival time whenever
/// the arrival time passes it: idle callers cost Redis nothing after at most
/// a horizon, and most writes keep the expiry as it is (`KEEPTTL`).
/// Binary numbers and a rare expiry: formatting numbers as text and setting
/// an expiry were most of the script's cost. A value the script did not
/// write (another length, another type under the prefix, numbers that are
/// not finite) is a fresh caller, and is replaced: one such key must not
/// fail the decisions batched with it, nor lock its caller out for good. A
/// stored arrival time more than the tolerance ahead (a policy tightened
/// under the same name, Redis's clock stepped back) is capped at the
/// tolerance, and the cap is stored even when the check is refused, so the
/// caller waits out one burst of the new policy.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local out = #KEYS > 1 and {} or nil
for i = 1, #KEYS do
  local key = KEYS[i]
  local increment, tolerance, mode = struct.unpack('>ddB', ARGV[i])
  local tat, deadline = now, 0
  local stored = redis.pcall('GET', key)
  if type(stored) == 'string' and #stored == 17 then
    local format, stored_tat, stored_deadline = struct.unpack('>Bdd', stored)
    -- x - x is 0 for a finite x only (NaN and infinities were not written here)
    if format == 1 and stored_tat - stored_tat == 0 and stored_deadline - stored_deadline == 0 then
      tat, deadline = stored_tat, stored_deadline
    end
  end
  local capped = false
  if tat < now then tat = now elseif tat > now + tolerance then tat, capped = now + tolerance, true end
  local new, answer = nil, 0
  if mode == 2 then
    new = tat - increment
    if new <= now then
      redis.call('DEL', key)
      new = nil
    end
  else
    local debt = tat - now + increment
    local over = debt - tolerance
    if over > 0 then
      answer = -over
      if capped and mode == 0 then new = tat end
    else
      if mode == 0 then new = now + debt end
      answer = debt
    end
  end
  if new then
    if new > deadline then
      deadline = new + math.max(tolerance, 1000000)
      redis.call('SET', key, struct.pack('>Bdd', 1, new, deadline), 'PX', string.format('%d', math.ceil((deadline - now) / 1000)))
    else
      redis.call('SET', key, struct.pack('>Bdd', 1, new, deadline), 'KEEPTTL')
    end
  end
  if not out then return answer end
  out[i] = answer
end
return out
";

/// How many decisions share one script call at most, by default.
pub const DEFAULT_MAX_BATCH: usize = 64;

/// Connection settings of a [`RedisStore`].
///
/// ```
/// use std::time::Duration;
/// let options = tollgate_limit::RedisOptions::default().timeout(Duration::from_millis(100)).prefix("myapp:rl:");
/// assert_eq!(options.get_timeout(), Duration::from_millis(100));
/// ```
#[derive(Clone)]
pub struct RedisOptions {
    timeout: Duration,
    prefix: Arc<str>,
    max_batch: usize,
    #[cfg(feature = "rustls")]
    tls_roots: Option<Arc<[u8]>>,
    #[cfg(feature = "rustls")]
    tls_client: Option<ClientCertificate>,
}

/// A client certificate chain and its private key, both PEM.
#[cfg(feature = "rustls")]
#[derive(Clone)]
struct ClientCertificate {
    chain: Arc<[u8]>,
    key: Arc<[u8]>,
}

/// Shows whether certificates are set, never their bytes (a private key
/// among them).
impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RedisOptions");
        debug
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .field("max_batch", &self.max_batch);
        #[cfg(feature = "rustls")]
        debug
            .field("tls_root_certificates", &self.tls_roots.is_some())
            .field("tls_client_certificate", &self.tls_client.is_some());
        debug.finish()
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            timeout: Duration::from_millis(500),
            prefix: "tollgate:rl:".into(),
            max_batch: DEFAULT_MAX_BATCH,
            #[cfg(feature = "rustls")]
            tls_roots: None,
            #[cfg(feature = "rustls")]
            tls_client: None,
        }
    }
}

impl RedisOptions {
    /// How long one decision may take, reconnecting included, before it
    /// counts as a failure (default 500 ms). A decision Redis answers after
    /// its caller gave up (within twice the timeout, the connection's own
    /// limit) is given back, so it charges nothing: under `fail_open` the
    /// request let through is then not counted either. A call that gets no
    /// answer at all may or may not have been recorded, and its connection
    /// is replaced.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The prefix of every key (default `tollgate:rl:`). It may not hold a
    /// brace: a `{tag}` in it would be every key's Redis Cluster hash tag,
    /// putting all of them in one slot, on one node
    /// ([`RedisStore::open`] refuses it).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many concurrent decisions may share one script call (default
    /// [`DEFAULT_MAX_BATCH`]; `0` counts as `1`). `1` sends every decision
    /// alone, touching one key: what a proxy in front of a Redis Cluster
    /// needs, since one call's keys must then live in one slot (a
    /// `redis+cluster://` store sends decisions alone by itself).
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Trusts the certificate authorities in `pem` (one or more PEM
    /// certificates) for a `rediss://` store, instead of the system's root
    /// certificates: for a Redis whose certificate a private authority
    /// signed. A store on a URL without TLS and with roots set fails to
    /// open.
    #[cfg(feature = "rustls")]
    pub fn tls_root_certificates(mut self, pem: &[u8]) -> Self {
        self.tls_roots = Some(pem.into());
        self
    }

    /// Presents the certificate chain `certificate` (PEM) and its private
    /// `key` (PEM) to a `rediss://` server that asks clients for one
    /// (mutual TLS, `tls-auth-clients yes`). A store on a URL without TLS
    /// and with a client certificate set fails to open.
    #[cfg(feature = "rustls")]
    pub fn tls_client_certificate(mut self, certificate: &[u8], key: &[u8]) -> Self {
        self.tls_client = Some(ClientCertificate {
            chain: certificate.into(),
            key: key.into(),
        });
        self
    }

    /// The certificates a TLS client is built with, if any are set.
    #[cfg(feature = "rustls")]
    fn tls_certificates(&self) -> Option<redis::TlsCertificates> {
        if self.tls_roots.is_none() && self.tls_client.is_none() {
            return None;
        }
        Some(redis::TlsCertificates {
            client_tls: self
                .tls_client
                .as_ref()
                .map(|client| redis::ClientTlsConfig {
                    client_cert: client.chain.to_vec(),
                    client_key: client.key.to_vec(),
                }),
            root_cert: self.tls_roots.as_deref().map(<[u8]>::to_vec),
        })
    }
}

/// GCRA state in Redis, shared by every node of an API.
///
/// **One round trip per decision.** A check is one `EVALSHA` of a Lua script
/// that reads the key, decides with Redis's own `TIME` and writes the new
/// state atomically (the script is loaded again by itself after a Redis
/// restart: `EVALSHA`, then `SCRIPT LOAD` once on `NOSCRIPT`). Calls share one
/// multiplexed connection ([`ConnectionManager`]), which reconnects by
/// itself.
///
/// **Batches** (on one server). A lone decision is sent at once. While
/// calls are on their way, the decisions that arrive wait a moment and go
/// together (up to [`RedisOptions::max_batch`] per call): under load Redis
/// runs one script, and reads `TIME` once, for many decisions instead of one
/// each, which is where its time goes. The policies of one request (per key
/// and per IP) often travel in one call too.
///
/// **Keys.** `{prefix}{policy:k:digest}` for a text key, where the digest is
/// the first 128 bits of its SHA-256 in hex (text keys are often API keys,
/// which must not be readable in Redis), and `{prefix}{policy:ip:address}`
/// for an IP: the braces are a hash tag, so everything one decision touches
/// lives in one Redis Cluster slot. Keys expire once their caller is idle, so
/// Redis memory stays bounded too. A policy's name is its state: two
/// limiters (two layers, two services, two deploys) whose policies share a
/// name and a prefix share their callers' budgets, as one service's nodes
/// must. Name policies with different quotas apart (`per-key`,
/// `per-key-export`), or give the services their own
/// [`prefix`](RedisOptions::prefix); in memory each limiter keeps its own.
///
/// **TLS.** `rediss://` (and `rediss+cluster://`) URLs need the `rustls`
/// feature; the server's certificate is checked against the system's root
/// certificates, or against those given to
/// `RedisOptions::tls_root_certificates`; a client certificate for mutual
/// TLS goes in `RedisOptions::tls_client_certificate`. Opening such a store
/// installs rustls's aws-lc-rs provider as the process's default when none
/// is installed yet: an application that wants another installs it first.
///
/// **Redis Cluster.** A `redis+cluster://host:port,host:port` URL (any of
/// the cluster's nodes; credentials as in `redis://user:pass@…`, for every
/// node; `rediss+cluster://` for TLS) talks to a cluster through redis's
/// cluster client, which sends each call to the node owning its key's slot
/// and follows the slots when they move. There every decision is its own
/// call (one key, one slot; concurrent calls still share each node's
/// connection), and each key is timed by the clock of the node that holds
/// it, so keep the nodes' clocks in step (NTP): after a failover the
/// replica's clock takes over, and writes it had not yet received are lost
/// as for any Redis data, which can admit a key's callers up to that much
/// again. Behind a cluster proxy instead, use a `redis://` URL with
/// [`RedisOptions::max_batch`] `1`.
///
/// **Redis Sentinel.**
/// `redis+sentinel://[user:pass@]host[:port][,host[:port]…]/service[/db][?sentinel_password=…]`
/// names the sentinels (port 26379 by default) and the service. The
/// credentials are the primary's; `sentinel_password` is for sentinels that
/// require one (both percent-encoded, as in `redis://` URLs). No TLS here:
/// `rediss+sentinel://` is refused. The store asks the sentinels for the
/// service's primary and decides there, batched as on one server. It
/// listens to the sentinels' `+switch-master` announcements (one connection
/// to one sentinel, in a task of its own): after a failover the next call
/// asks for the new primary (measured: decided there 41–110 ms after the
/// sentinel named it), rather than writing to the old one until the
/// sentinels demote it. A broken connection, or a `READONLY` answer from a
/// demoted primary, makes the next call ask again too. As with any Redis
/// data, what the old primary recorded after its last write reached the
/// replica is lost in a failover, which can admit those calls again.
///
/// **Failures** (Redis down, timeout) are returned as [`RedisStoreError`];
/// the [`Limiter`](crate::Limiter) logs them and fails open or closed as
/// configured.
///
/// **Failover behind one address** (a DNS name, a virtual IP, a proxy or a
/// Kubernetes service that moves to the new primary, as managed Redis
/// services do): the old primary, now a replica, keeps the store's
/// connection open and answers `READONLY` to every write. The decision that
/// gets that answer fails as above; the store then drops the connection, and
/// the next decision connects again through the same address, to the new
/// primary.
#[derive(Clone)]
pub struct RedisStore {
    batcher: Arc<Batcher>,
    options: RedisOptions,
}

/// A store's failures, logged at most once a second, each line with the
/// number of failures since the last: every failure is counted, and an
/// outage under thousands of decisions a second is a line a second rather
/// than thousands.
#[derive(Debug)]
pub(crate) struct FailureLog {
    start: std::time::Instant,
    /// Milliseconds from `start` before which no line is written.
    quiet_until_ms: std::sync::atomic::AtomicU64,
    /// Failures since the last line.
    unlogged: std::sync::atomic::AtomicU64,
}

impl FailureLog {
    fn new() -> FailureLog {
        FailureLog {
            start: std::time::Instant::now(),
            quiet_until_ms: 0.into(),
            unlogged: 0.into(),
        }
    }

    /// Counts a failure; `Some(n)` when it is to be logged now, `n` being
    /// the failures left unlogged since the last line.
    pub(crate) fn record(&self) -> Option<u64> {
        let now_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.record_at(now_ms)
    }

    fn record_at(&self, now_ms: u64) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let quiet_until = self.quiet_until_ms.load(Relaxed);
        let due = now_ms >= quiet_until
            && self
                .quiet_until_ms
                .compare_exchange(quiet_until, now_ms.saturating_add(1000), Relaxed, Relaxed)
                .is_ok();
        if due {
            Some(self.unlogged.swap(0, Relaxed))
        } else {
            self.unlogged.fetch_add(1, Relaxed);
            None
        }
    }
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
    /// `redis+unix:///path`, `redis+cluster://host:port,host:port` and
    /// `rediss+cluster://…` for a Redis Cluster, or
    /// `redis+sentinel://host:port,host:port/service` for the primary of a
    /// Redis Sentinel service). Connects lazily: Redis may
    /// be down at start; calls fail (and the limiter's fail mode applies)
    /// until it is up. Call inside a Tokio runtime.
    pub fn open(url: &str, options: RedisOptions) -> Result<RedisStore, RedisStoreError> {
        if url.starts_with("rediss+sentinel://") {
            let why = "a Sentinel service is reached without TLS (redis+sentinel://); \
                       for TLS, use rediss:// with an address that follows the primary";
            return Err(RedisStoreError::invalid(url, why));
        }
        if options.prefix.contains(['{', '}']) {
            let error = (
                redis::ErrorKind::InvalidClientConfig,
                "invalid key prefix",
                format!(
                    "{:?} holds a brace: a {{tag}} there would put every key in one Redis \
                     Cluster slot",
                    options.prefix
                ),
            );
            return Err(RedisStoreError::url(url, error.into()));
        }
        if url.starts_with("rediss") {
            prepare_tls(url)?;
        }
        #[cfg(feature = "rustls")]
        if options.tls_certificates().is_some() && !url.starts_with("rediss") {
            let why = "TLS certificates need a rediss:// or rediss+cluster:// URL";
            return Err(RedisStoreError::invalid(url, why));
        }
        let cluster = CLUSTER_SCHEMES
            .iter()
            .find_map(|&(scheme, node_scheme)| Some((url.strip_prefix(scheme)?, node_scheme)));
        let (link, max_batch) = match (cluster, url.strip_prefix(SENTINEL_SCHEME)) {
            (Some((nodes, node_scheme)), _) => {
                (Link::cluster(url, node_scheme, nodes, &options)?, 1)
            }
            (None, Some(spec)) => (Link::sentinel(url, spec, &options)?, options.max_batch),
            (None, None) => (Link::server(url, &options)?, options.max_batch),
        };
        Ok(RedisStore {
            batcher: Arc::new(Batcher {
                link,
                script: redis::Script::new(SCRIPT),
                max_batch,
                max_in_flight: in_flight_cap(max_batch),
                queue: Mutex::new(Queue::default()),
                failures: FailureLog::new(),
            }),
            options,
        })
    }

    /// Where the limiter counts this store's failures.
    pub(crate) fn failures(&self) -> &FailureLog {
        &self.batcher.failures
    }

    /// The Redis key of `key` under `policy`. An IP is written as `ip:` and
    /// the address. A text key is written as `k:` and the first 128 bits of
    /// its SHA-256, in hex: text keys are often API keys, which are secrets
    /// and must not be readable by anyone who can list Redis keys or read its
    /// files. The tags keep any text from naming an IP's bucket.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tollgate_limit::{Key, Policy, RedisOptions, RedisStore};
    /// let store = RedisStore::open("redis://127.0.0.1:6379", RedisOptions::default())?;
    /// let policy = Policy::new("per-key", 100, Duration::from_secs(60))?;
    /// assert_eq!(
    ///     store.redis_key(&policy, &Key::from("sk_live_1")),
    ///     "tollgate:rl:{per-key:k:992621cb15795f3e17e7e637aad64ef2}"
    /// );
    /// let ip: std::net::IpAddr = "192.0.2.7".parse()?;
    /// assert_eq!(store.redis_key(&policy, &Key::from(ip)), "tollgate:rl:{per-key:ip:192.0.2.7}");
    /// # Ok(()) }
    /// ```
    pub fn redis_key(&self, policy: &Policy, key: &Key) -> String {
        // Room for a key digest or an IPv6 address without growing.
        let mut out = String::with_capacity(self.options.prefix.len() + policy.name().len() + 48);
        out.push_str(&self.options.prefix);
        out.push('{');
        out.push_str(policy.name());
        out.push(':');
        // Written straight into the key (one allocation per decision, not
        // two); writing into a `String` cannot fail.
        match key.as_str() {
            Some(text) => {
                out.push_str("k:");
                crate::key::push_digest(&mut out, text);
            }
            None => {
                let _ = write!(out, "{key}");
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
        self.run(policy, key, cost, Mode::Check).await
    }

    /// What [`check`](Self::check) would decide, without recording it.
    pub async fn peek(
        &self,
        policy: &Policy,
        key: &Key,
        cost: u64,
    ) -> Result<Decision, RedisStoreError> {
        self.run(policy, key, cost, Mode::Peek).await
    }

    /// Gives back a call of `cost` admitted earlier.
    pub async fn refund(
        &self,
        policy: &Policy,
        key: &Key,
        cost: u64,
    ) -> Result<(), RedisStoreError> {
        self.run(policy, key, cost, Mode::Refund).await.map(drop)
    }

    async fn run(
        &self,
        policy: &Policy,
        key: &Key,
        cost: u64,
        mode: Mode,
    ) -> Result<Decision, RedisStoreError> {
        let gcra = policy.gcra_us();
        let (reply, answer) = oneshot::channel();
        let job = Job {
            key: self.redis_key(policy, key),
            increment: sent_increment(gcra, cost),
            tolerance: gcra.tolerance,
            mode,
            reply,
        };
        // A caller whose decision opens a call sends it itself (no task hop);
        // `OwnCall` keeps the call going if this future is dropped first.
        let own_call = match self.batcher.enqueue(job) {
            Enqueued::Send(batch) => Some(OwnCall::new(&self.batcher, batch)),
            Enqueued::Queued => None,
        };
        let decided = async move {
            if let Some(call) = own_call {
                call.await;
            }
            answer.await
        };
        let timeout = self.options.timeout;
        let result = tokio::time::timeout(timeout, decided)
            .await
            .map_err(|_| RedisStoreError {
                kind: RedisErrorKind::Timeout(timeout),
            })?
            // Unanswered only if a sender was cancelled (the runtime is
            // shutting down).
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "rate-limit batch cancelled",
                )))
            });
        let owed_or_wait = result.map_err(|e| RedisStoreError {
            kind: RedisErrorKind::Redis(e),
        })?;
        Ok(decision(gcra, cost, owed_or_wait))
    }

    /// Runs a plain `SET` on the store's connection (for benchmarks that
    /// compare a decision with the cheapest write).
    #[doc(hidden)]
    pub async fn plain_set(&self, key: &str) -> Result<(), RedisStoreError> {
        let set = async {
            let mut conn = self.batcher.link.connection().await?;
            redis::cmd("SET")
                .arg(key)
                .arg(1)
                .query_async::<()>(&mut conn)
                .await
        };
        set.await.map_err(|e| RedisStoreError {
            kind: RedisErrorKind::Redis(e),
        })
    }
}

/// The scheme of a store on a Redis Sentinel service's primary.
const SENTINEL_SCHEME: &str = "redis+sentinel://";

/// Sentinel's port, when a URL names none.
const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// A sentinel's host and port from `host`, `host:port`, `[v6]`, `[v6]:port`
/// or a bare IPv6 address (which cannot carry a port: `[v6]:port` does).
fn sentinel_address(text: &str) -> Result<(&str, u16), &'static str> {
    let (name, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (name, rest) = bracketed
            .split_once(']')
            .ok_or("a sentinel's IPv6 address has no closing ']'")?;
        match rest {
            "" => (name, None),
            _ => (
                name,
                Some(
                    rest.strip_prefix(':')
                        .ok_or("expected ':' and a port after ']'")?,
                ),
            ),
        }
    } else {
        match text.split_once(':') {
            Some((name, port)) if !port.contains(':') => (name, Some(port)),
            _ => (text, None),
        }
    };
    if name.is_empty() {
        return Err("a sentinel has no host");
    }
    let port = match port {
        Some(port) => port
            .parse()
            .map_err(|_| "a sentinel's port is not a number")?,
        None => DEFAULT_SENTINEL_PORT,
    };
    Ok((name, port))
}

/// The user and password of `user:password`, read as a `redis://` URL reads
/// them (percent-decoded).
fn read_credentials(credentials: &str) -> RedisResult<(Option<String>, Option<String>)> {
    let info = redis::IntoConnectionInfo::into_connection_info(format!(
        "redis://{credentials}@localhost"
    ))?;
    let settings = info.redis_settings();
    Ok((
        settings.username().map(str::to_owned),
        settings.password().map(str::to_owned),
    ))
}

/// How a connection to one server waits and retries.
fn server_config(options: &RedisOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.timeout))
        // Callers time out on their own (queue and call); this bounds the
        // calls that tasks send, and fires after the callers' own.
        .set_response_timeout(Some(options.timeout.saturating_mul(2)))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(200))
}

/// The URL schemes of a Redis Cluster store, each with its nodes' scheme.
const CLUSTER_SCHEMES: [(&str, &str); 2] = [
    ("redis+cluster://", "redis://"),
    ("rediss+cluster://", "rediss://"),
];

/// Makes a `rediss://` URL usable: rustls's aws-lc-rs provider installed as
/// the process's default, unless the application installed one already.
#[cfg(feature = "rustls")]
fn prepare_tls(_url: &str) -> Result<(), RedisStoreError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(())
}

/// Without the `rustls` feature, a `rediss://` URL is refused at once.
#[cfg(not(feature = "rustls"))]
fn prepare_tls(url: &str) -> Result<(), RedisStoreError> {
    Err(RedisStoreError::invalid(
        url,
        "rediss:// needs the `rustls` feature of tollgate-limit",
    ))
}

/// Where a store's calls go.
enum Link {
    /// One Redis server (or a proxy), or a Sentinel service's primary.
    Server(Arc<ServerLink>),
    /// A Redis Cluster.
    Cluster(Box<ClusterLink>),
}

/// One Redis server, through a [`ConnectionManager`]: one multiplexed
/// connection that reconnects by itself when it breaks.
///
/// The connection is also dropped, and the next call makes a new one, when
/// the server answers `READONLY`: it was a primary and is now a replica (a
/// failover), and the store's address (a DNS name, a virtual IP, a proxy, a
/// Kubernetes service) leads to the new primary, but only for new
/// connections. redis's manager reconnects on broken connections only, so
/// without this every admission would fail until the process restarts. The
/// same for a call that times out: a server gone without a word (a host
/// powered off, a partition) leaves a connection that only ever times out,
/// until the kernel gives up on it some fifteen minutes later. On
/// a Sentinel service, the sentinels are asked for the primary again for
/// every new connection, a broken connection is dropped too (its primary
/// may be gone for good), and so is the connection when the sentinels
/// announce a new primary ([`watch_sentinels`]).
struct ServerLink {
    config: ConnectionManagerConfig,
    state: tokio::sync::Mutex<ServerState>,
    /// Dropped with the link, which ends its sentinel watch.
    _watched: Option<oneshot::Sender<()>>,
}

/// A [`ServerLink`]'s connection and where it leads.
struct ServerState {
    target: Target,
    /// Made by the first call that needs it.
    connection: Option<ConnectionManager>,
    /// How many connections were dropped, so that the calls that failed on
    /// one drop it once, not each.
    dropped: u64,
}

/// Where a server link connects.
enum Target {
    /// One address.
    Address(redis::Client),
    /// The primary of a Redis Sentinel service.
    Sentinel(SentinelClient),
}

impl ServerLink {
    fn new(
        target: Target,
        config: ConnectionManagerConfig,
        watched: Option<oneshot::Sender<()>>,
    ) -> Arc<ServerLink> {
        Arc::new(ServerLink {
            config,
            state: tokio::sync::Mutex::new(ServerState {
                target,
                connection: None,
                dropped: 0,
            }),
            _watched: watched,
        })
    }

    /// The connection and its number.
    async fn connection(&self) -> RedisResult<(u64, ConnectionManager)> {
        let mut state = self.state.lock().await;
        let connection = match &state.connection {
            Some(connection) => connection.clone(),
            None => {
                let client = match &mut state.target {
                    Target::Address(client) => client.clone(),
                    Target::Sentinel(sentinel) => sentinel.async_get_client().await?,
                };
                let connection =
                    ConnectionManager::new_lazy_with_config(client, self.config.clone())?;
                state.connection = Some(connection.clone());
                connection
            }
        };
        Ok((state.dropped, connection))
    }

    /// Drops connection number `number` if `error` says it leads to the
    /// wrong server, unless that was done already.
    async fn drop_if_stale(&self, number: u64, error: &redis::RedisError) {
        let mut state = self.state.lock().await;
        let read_only = error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
        // A server that is gone without a word (a host powered off, a
        // partition) only ever times out, and the connection manager does
        // not reconnect on a timeout: the dead socket would stay until the
        // kernel gives up on it (about 15 minutes). For a sentinel's primary,
        // any I/O error (ask the sentinels again). At most one new
        // connection per connection that failed, whatever the number of
        // calls on it.
        let broken = error.is_timeout()
            || (matches!(state.target, Target::Sentinel(_)) && error.is_io_error());
        if state.dropped == number && (read_only || broken) {
            state.connection = None;
            state.dropped += 1;
        }
    }

    /// Drops the connection, whatever it is.
    async fn drop_connection(&self) {
        let mut state = self.state.lock().await;
        state.connection = None;
        state.dropped += 1;
    }
}

/// Listens to the sentinels for `+switch-master` of `service`, and drops
/// the link's connection when it comes, so that the next call asks for the
/// new primary. Without it, decisions would go on to the old primary until
/// the sentinels demote it (their next look at it: up to ten seconds, and
/// what it records meanwhile is lost). Listens to one sentinel at a time,
/// trying the next when one is out of reach (each of them announces every
/// switch), all again a second later; ends when the link is dropped.
async fn watch_sentinels(
    link: std::sync::Weak<ServerLink>,
    mut dropped: oneshot::Receiver<()>,
    sentinels: Vec<redis::ConnectionInfo>,
    service: String,
) {
    use futures_util::StreamExt as _;
    use futures_util::future::{Either, select};
    loop {
        for address in &sentinels {
            let listen = async {
                let client = redis::Client::open(address.clone())?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe("+switch-master").await?;
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    // "<service> <old ip> <old port> <new ip> <new port>"
                    let switch: String = message.get_payload()?;
                    if switch.split(' ').next() != Some(service.as_str()) {
                        continue;
                    }
                    let Some(link) = link.upgrade() else {
                        break;
                    };
                    tracing::info!(%switch, "rate-limit store: Redis Sentinel named a new primary");
                    link.drop_connection().await;
                }
                Ok::<(), redis::RedisError>(())
            };
            match select(&mut dropped, std::pin::pin!(listen)).await {
                Either::Left(_) => return,
                Either::Right((Err(error), _)) => {
                    let sentinel = address.addr();
                    tracing::debug!(%error, %sentinel, "rate-limit store: a sentinel is out of reach");
                }
                Either::Right((Ok(()), _)) => {}
            }
        }
        let pause = std::pin::pin!(tokio::time::sleep(Duration::from_secs(1)));
        if let Either::Left(_) = select(&mut dropped, pause).await {
            return;
        }
    }
}

/// A Redis Cluster, through redis's cluster client. Its connection is made
/// by the first call that needs it (the cluster may be down when the store
/// opens), and again by a later call if that failed; once made, it follows
/// the cluster's slots and reconnects to nodes by itself.
struct ClusterLink {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

impl Link {
    /// A link to the server at `url`.
    fn server(url: &str, options: &RedisOptions) -> Result<Link, RedisStoreError> {
        #[cfg(feature = "rustls")]
        let client = match options.tls_certificates() {
            Some(certificates) => redis::Client::build_with_tls(url, certificates),
            None => redis::Client::open(url),
        };
        #[cfg(not(feature = "rustls"))]
        let client = redis::Client::open(url);
        let client = client.map_err(|e| RedisStoreError::url(url, e))?;
        Ok(Link::Server(ServerLink::new(
            Target::Address(client),
            server_config(options),
            None,
        )))
    }

    /// A link to the primary of the Sentinel service that `spec` names
    /// (`[user:pass@]host[:port][,host[:port]…]/service[/db][?sentinel_password=…]`,
    /// what follows the scheme of `url`; the credentials are the primary's).
    fn sentinel(url: &str, spec: &str, options: &RedisOptions) -> Result<Link, RedisStoreError> {
        let invalid = |why: &str| RedisStoreError::invalid(url, why);
        let usage = "expected redis+sentinel://host:port[,host:port…]/service[/db]";
        let (spec, query) = spec.split_once('?').unwrap_or((spec, ""));
        let mut sentinel_password = None;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some(("sentinel_password", value)) => {
                    let (_, password) = read_credentials(&format!(":{value}"))
                        .map_err(|_| invalid("the sentinel password cannot be read"))?;
                    sentinel_password = password;
                }
                _ => {
                    return Err(invalid(
                        "the only option of redis+sentinel:// is sentinel_password",
                    ));
                }
            }
        }
        let (credentials, rest) = match spec.rsplit_once('@') {
            Some((credentials, rest)) => (Some(credentials), rest),
            None => (None, spec),
        };
        let (hosts, path) = rest.split_once('/').ok_or_else(|| invalid(usage))?;
        let (service, database) = path.split_once('/').unwrap_or((path, ""));
        if service.is_empty() {
            return Err(invalid(usage));
        }
        let sentinels = hosts
            .split(',')
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| {
                let (name, port) = sentinel_address(host).map_err(invalid)?;
                Ok(redis::ConnectionAddr::Tcp(name.to_owned(), port))
            })
            .collect::<Result<Vec<_>, RedisStoreError>>()?;
        if sentinels.is_empty() {
            return Err(invalid(usage));
        }
        let mut builder = SentinelClientBuilder::new(
            sentinels.iter().cloned(),
            service,
            SentinelServerType::Master,
        )
        .map_err(|e| RedisStoreError::url(url, e))?;
        if !database.is_empty() {
            let database = database
                .parse()
                .map_err(|_| invalid("the database is not a number"))?;
            builder = builder.set_client_to_redis_db(database);
        }
        if let Some(credentials) = credentials {
            let (user, password) = read_credentials(credentials)
                .map_err(|_| invalid("the credentials cannot be read"))?;
            if let Some(user) = user {
                builder = builder.set_client_to_redis_username(user);
            }
            if let Some(password) = password {
                builder = builder.set_client_to_redis_password(password);
            }
        }
        // The sentinels as the watch connects to them.
        let mut sentinel_auth = redis::RedisConnectionInfo::default();
        if let Some(password) = &sentinel_password {
            builder = builder.set_client_to_sentinel_password(password);
            sentinel_auth = sentinel_auth.set_password(password);
        }
        let watched_sentinels = sentinels
            .iter()
            .map(|address| {
                let info = redis::IntoConnectionInfo::into_connection_info(address.clone())?;
                Ok(info.set_redis_settings(sentinel_auth.clone()))
            })
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| RedisStoreError::url(url, e))?;
        let sentinel = builder.build().map_err(|e| RedisStoreError::url(url, e))?;
        let (watched, dropped) = oneshot::channel();
        let link = ServerLink::new(
            Target::Sentinel(sentinel),
            server_config(options),
            Some(watched),
        );
        let watch = watch_sentinels(
            Arc::downgrade(&link),
            dropped,
            watched_sentinels,
            service.to_owned(),
        );
        // Without a runtime the store cannot run anyway; its calls say so.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(watch));
        }
        Ok(Link::Server(link))
    }

    /// A link to the cluster whose nodes `nodes` lists
    /// (`[user:pass@]host:port,host:port`, what follows the scheme of `url`),
    /// reached with `node_scheme`.
    fn cluster(
        url: &str,
        node_scheme: &str,
        nodes: &str,
        options: &RedisOptions,
    ) -> Result<Link, RedisStoreError> {
        let invalid = |why: &str| RedisStoreError::invalid(url, why);
        let (nodes, database) = nodes.split_once('/').unwrap_or((nodes, ""));
        if !matches!(database, "" | "0") {
            return Err(invalid("a Redis Cluster has only database 0"));
        }
        let (credentials, hosts) = match nodes.rsplit_once('@') {
            Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
            None => (String::new(), nodes),
        };
        let urls: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| format!("{node_scheme}{credentials}{host}"))
            .collect();
        if urls.is_empty() {
            return Err(invalid("expected redis+cluster://host:port[,host:port…]"));
        }
        let builder = ClusterClientBuilder::new(urls);
        #[cfg(feature = "rustls")]
        let builder = match options.tls_certificates() {
            Some(certificates) => builder.certs(certificates),
            None => builder,
        };
        let client = builder
            .connection_timeout(options.timeout)
            // As for one server: callers time out first, and a call that
            // failed is tried again after 50-200 ms (redis's default is 1.3 s
            // at least, past most callers' timeouts).
            .response_timeout(options.timeout.saturating_mul(2))
            .min_retry_wait(50)
            .max_retry_wait(200)
            .build()
            .map_err(|e| RedisStoreError::url(url, e))?;
        Ok(Link::Cluster(Box::new(ClusterLink {
            client,
            connection: OnceCell::new(),
        })))
    }

    /// A handle on the link's connection (cheap: they are multiplexed).
    async fn connection(&self) -> RedisResult<Connection> {
        match self {
            Link::Server(server) => {
                let (number, conn) = server.connection().await?;
                Ok(Connection::Server(conn, number))
            }
            Link::Cluster(cluster) => cluster
                .connection
                .get_or_try_init(|| cluster.client.get_async_connection())
                .await
                .map(|conn| Connection::Cluster(conn.clone())),
        }
    }
}

/// A connection to one server (with its number, see [`ServerLink`]) or to a
/// cluster, for commands alike.
enum Connection {
    Server(ConnectionManager, u64),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Server(conn, _) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Server(conn, _) => conn.req_packed_commands(cmd, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(conn, _) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}

/// What a decision does to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Check,
    Peek,
    Refund,
}

/// One decision waiting for its script call.
struct Job {
    key: String,
    increment: u64,
    tolerance: u64,
    mode: Mode,
    reply: oneshot::Sender<Result<i64, redis::RedisError>>,
}

impl Job {
    /// The job as the script reads it: `>ddB` (µs up to 2^53 are exact).
    fn packed(&self) -> [u8; 17] {
        let mut packed = [0; 17];
        packed[..8].copy_from_slice(&(self.increment as f64).to_be_bytes());
        packed[8..16].copy_from_slice(&(self.tolerance as f64).to_be_bytes());
        packed[16] = match self.mode {
            Mode::Check => 0,
            Mode::Peek => 1,
            Mode::Refund => 2,
        };
        packed
    }
}

/// Decisions waiting while script calls are on their way.
#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Script calls on their way.
    calls: usize,
    /// Decisions in those calls.
    flying: usize,
}

impl Queue {
    /// Whether the waiting decisions make a new call: see [`threshold`].
    fn ready(&self, max_batch: usize, max_in_flight: usize) -> bool {
        self.calls < max_in_flight && self.jobs.len() >= threshold(self.flying, max_batch)
    }

    /// A new call of the oldest `max_batch` waiting decisions (or all).
    fn open_call(&mut self, max_batch: usize) -> Vec<Job> {
        let later = self.jobs.split_off(max_batch.min(self.jobs.len()));
        let batch = std::mem::replace(&mut self.jobs, later);
        self.calls += 1;
        self.flying += batch.len();
        batch
    }

    /// A call of `decisions` has ended.
    fn close_call(&mut self, decisions: usize) {
        self.calls -= 1;
        self.flying -= decisions;
    }
}

/// At most this many script calls on their way at once, unless batches are
/// capped small ([`in_flight_cap`]).
const MAX_IN_FLIGHT: usize = 8;

/// How many script calls may be on their way with batches of at most
/// `max_batch`: [`MAX_IN_FLIGHT`], or as many as carry 64 decisions when
/// batches are smaller than 8 (with `max_batch` 1, 64 calls: one decision
/// each, pipelined like plain commands).
fn in_flight_cap(max_batch: usize) -> usize {
    (64 / max_batch.max(1)).max(MAX_IN_FLIGHT)
}

/// The fewest decisions a call takes while others are on their way: a call
/// of two costs Redis almost what a call of four does.
const MIN_BATCH: usize = 4;

/// How many decisions must wait for a new call while `flying` decisions are
/// on their way: one when none are; else as many as are on their way and at
/// least [`MIN_BATCH`], or a full batch if that is fewer. With `max_batch`
/// 1, every decision goes at once, up to [`in_flight_cap`] calls.
fn threshold(flying: usize, max_batch: usize) -> usize {
    if flying == 0 {
        return 1;
    }
    flying.max(MIN_BATCH).min(max_batch)
}

/// What became of a queued decision.
enum Enqueued {
    /// A new call takes these decisions (the caller's among them): the
    /// caller sends it.
    Send(Vec<Job>),
    /// It waits: a later decision or an answered call sends it, with
    /// others, once enough wait.
    Queued,
}

/// Gathers concurrent decisions into script calls. A lone decision goes at
/// once; while calls are on their way, decisions wait, and a new call takes
/// them once as many wait as are on their way, and at least [`MIN_BATCH`]
/// (or a full batch; up to [`in_flight_cap`] calls), whether the count is
/// reached by a decision arriving or by a call being answered
/// ([`threshold`]). So batches follow the load (measured: 3.7 decisions a
/// call with 8 callers, 14.9 with 32): Redis decides a batch for much less
/// than its decisions one by one, and still never idles while the client
/// works.
/// (Tried, and slower somewhere from 1 to 128 concurrent callers: one call
/// at a time, which leaves Redis idle between calls; a new call once a fixed
/// 2, 4 or 8 decisions wait; an answered call taking whatever waits; a new
/// call once 2ⁿ or 2ⁿ⁺¹ decisions wait with n calls on their way; as many
/// as are on their way without the floor of four; see `BENCHMARKS.md`.) No
/// crate batches calls of one Lua script, so it is written here: a lock held
/// only to push or take jobs.
struct Batcher {
    link: Link,
    script: redis::Script,
    max_batch: usize,
    /// [`in_flight_cap`] of `max_batch`.
    max_in_flight: usize,
    queue: Mutex<Queue>,
    /// The store's failures, as the limiter logs them.
    failures: FailureLog,
}

impl Batcher {
    /// Queues `job` and says who sends it.
    fn enqueue(&self, job: Job) -> Enqueued {
        let mut queue = self.lock();
        queue.jobs.push(job);
        if queue.ready(self.max_batch, self.max_in_flight) {
            return Enqueued::Send(queue.open_call(self.max_batch));
        }
        Enqueued::Queued
    }

    /// The queue (a panic elsewhere while it was held leaves it consistent:
    /// every change to it is one step).
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends a call of `decisions` without a next one.
    fn release(&self, decisions: usize) {
        self.lock().close_call(decisions);
    }

    /// Ends a call of `decisions`, and opens the next if enough decisions
    /// wait for it (with no other call on its way, one is enough: nothing is
    /// ever left waiting without a call that will take it).
    fn next_batch(&self, decisions: usize) -> Option<Vec<Job>> {
        let mut queue = self.lock();
        queue.close_call(decisions);
        queue
            .ready(self.max_batch, self.max_in_flight)
            .then(|| queue.open_call(self.max_batch))
    }

    /// Sends `batch` as one script call and answers its callers. Callers
    /// that gave up while queued (a timeout) are left out: their calls are
    /// neither decided nor recorded. A refund is sent whoever waits for it:
    /// a request dropped while its refunds were queued is not charged.
    /// A caller that gave up while its call was on its way (its timeout
    /// fired first) and was admitted, and so charged, is refunded at once:
    /// a request that failed is not charged either.
    async fn send_batch(self: &Arc<Batcher>, mut batch: Vec<Job>) {
        batch.retain(|job| job.mode == Mode::Refund || !job.reply.is_closed());
        if batch.is_empty() {
            return;
        }
        let replies = match self.run_script(&batch).await {
            Ok(replies) => replies,
            Err(error) => {
                for job in batch {
                    let _ = job.reply.send(Err(error.clone()));
                }
                return;
            }
        };
        let mut refunds = Vec::new();
        for (job, reply) in batch.into_iter().zip(replies) {
            let Job {
                key,
                increment,
                tolerance,
                mode,
                reply: caller,
            } = job;
            let unheard = caller.send(Ok(reply)).is_err();
            if unheard && mode == Mode::Check && reply >= 0 && increment > 0 {
                refunds.push(Job {
                    key,
                    increment,
                    tolerance,
                    mode: Mode::Refund,
                    reply: oneshot::channel().0,
                });
            }
        }
        // On a task of their own: neither the callers answered here nor this
        // call's slot wait for them.
        if !refunds.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let batcher = Arc::clone(self);
            drop(runtime.spawn(async move {
                let _ = batcher.run_script(&refunds).await;
            }));
        }
    }

    /// Runs `batch` as one script call: one answer per job, in order.
    async fn run_script(&self, batch: &[Job]) -> RedisResult<Vec<i64>> {
        // The command is built by hand rather than through
        // `Script::prepare_invoke`, which copies every key and argument into
        // a vector of its own before building the same command: on a batch
        // that was most of the client's allocations.
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash()).arg(batch.len());
        for job in batch {
            cmd.arg(job.key.as_bytes());
        }
        for job in batch {
            cmd.arg(&job.packed()[..]);
        }
        let replies = match self.call(&cmd).await? {
            redis::Value::Int(answer) => vec![answer],
            answers => <Vec<i64> as redis::FromRedisValue>::from_redis_value(answers)?,
        };
        if replies.len() != batch.len() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "rate-limit script answered the wrong number of decisions",
                format!("{} for {}", replies.len(), batch.len()),
            )));
        }
        Ok(replies)
    }

    /// Runs the script call `cmd`, loading the script first if Redis lost it.
    async fn call(&self, cmd: &Cmd) -> RedisResult<Value> {
        let mut conn = self.link.connection().await?;
        let mut reply = cmd.query_async(&mut conn).await;
        let no_script = redis::ErrorKind::Server(redis::ServerErrorKind::NoScript);
        if matches!(&reply, Err(error) if error.kind() == no_script) {
            // Redis restarted or flushed its scripts (on a cluster: every
            // node is sent the script): load ours, try again.
            reply = match self.script.load_async(&mut conn).await {
                Ok(_) => cmd.query_async(&mut conn).await,
                Err(error) => Err(error),
            };
        }
        // Whichever call failed: a restarted ex-primary, now a replica, has
        // no scripts and refuses the retried one as READONLY.
        if let (Err(error), Link::Server(server), Connection::Server(_, number)) =
            (&reply, &self.link, &conn)
        {
            server.drop_if_stale(*number, error).await;
        }
        reply
    }

    /// Sends `batch`, then the batches that [`next_batch`](Self::next_batch)
    /// hands over.
    async fn drain(self: Arc<Batcher>, mut batch: Vec<Job>) {
        loop {
            let decisions = batch.len();
            self.send_batch(batch).await;
            match self.next_batch(decisions) {
                Some(next) => batch = next,
                None => return,
            }
        }
    }

    /// What follows a call of `decisions` answered: the next batch, in a
    /// task of its own.
    fn after_call(self: Arc<Batcher>, decisions: usize) {
        let Some(next) = self.next_batch(decisions) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(self.drain(next))),
            // The runtime is gone: the queued callers are answered
            // "cancelled" as their jobs drop.
            Err(_) => self.release(next.len()),
        }
    }
}

/// A script call sent by a caller whose decision is in it. If the caller
/// gives up before the answer (a timeout, a dropped request), the call goes
/// on in a task of its own, so that the other callers in it are still
/// answered. Once answered, the decisions that queued meanwhile go on in a
/// task: this caller returns at once.
struct OwnCall {
    batcher: Arc<Batcher>,
    /// How many decisions the call carries.
    decisions: usize,
    /// Boxed so that it can move into a task when this caller gives up.
    call: Option<futures_util::future::BoxFuture<'static, ()>>,
}

impl OwnCall {
    fn new(batcher: &Arc<Batcher>, batch: Vec<Job>) -> OwnCall {
        let sender = Arc::clone(batcher);
        OwnCall {
            batcher: Arc::clone(batcher),
            decisions: batch.len(),
            call: Some(Box::pin(async move { sender.send_batch(batch).await })),
        }
    }
}

impl Future for OwnCall {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(call) = self.call.as_mut() {
            ready!(call.as_mut().poll(cx));
            self.call = None;
        }
        Poll::Ready(())
    }
}

impl Drop for OwnCall {
    fn drop(&mut self) {
        let (batcher, decisions) = (Arc::clone(&self.batcher), self.decisions);
        let Some(call) = self.call.take() else {
            return batcher.after_call(decisions);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move {
                call.await;
                batcher.after_call(decisions);
            })),
            // The runtime is gone: the call's callers are answered
            // "cancelled" as their jobs drop.
            Err(_) => batcher.after_call(decisions),
        }
    }
}

/// The increment the script is sent for a call of `cost`: at most one unit
/// past the tolerance, which is enough to refuse it. A larger one would
/// leave the script's doubles (and the `i64` it answers) and lose what the
/// caller has used.
fn sent_increment(gcra: Gcra, cost: u64) -> u64 {
    gcra.interval
        .saturating_mul(cost)
        .min(gcra.tolerance.saturating_add(1))
}

/// The script's answer for one key as a [`Decision`].
fn decision(gcra: Gcra, cost: u64, owed_or_wait: i64) -> Decision {
    let increment = sent_increment(gcra, cost);
    let (allowed, owed, wait) = match u64::try_from(owed_or_wait) {
        Ok(owed) => (true, owed, 0),
        // Refused: the units owed now are what the call would have added
        // beyond the tolerance, minus the call itself.
        Err(_) => {
            let wait = owed_or_wait.unsigned_abs();
            (
                false,
                wait.saturating_add(gcra.tolerance)
                    .saturating_sub(increment),
                wait,
            )
        }
    };
    Decision {
        allowed,
        impossible: increment > gcra.tolerance,
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
    /// `url` cannot be used, for the reason `why`.
    fn invalid(url: &str, why: &str) -> RedisStoreError {
        let error = (
            redis::ErrorKind::InvalidClientConfig,
            "invalid URL",
            why.to_owned(),
        );
        RedisStoreError::url(url, error.into())
    }

    fn url(url: &str, e: redis::RedisError) -> RedisStoreError {
        RedisStoreError {
            kind: RedisErrorKind::Url(tollgate::redact_url(url), e),
        }
    }

    /// Whether the decision timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, RedisErrorKind::Timeout(_))
    }

    /// Whether the answer could not be read: not Redis's protocol, or not
    /// what the script returns. On a first call, the URL's port usually has
    /// a server other than Redis.
    pub fn is_parse(&self) -> bool {
        matches!(&self.kind, RedisErrorKind::Redis(e) if e.kind() == redis::ErrorKind::Parse)
    }

    /// Whether the server took the connection, then closed it without an
    /// answer (a refused connection is not this, nor a cluster none of
    /// whose nodes could be reached, whatever the cause). On a first call,
    /// the URL's port usually has a server other than Redis (Postgres, say),
    /// which hung up on a command it could not read.
    pub fn is_hung_up(&self) -> bool {
        // Only an I/O error of the connection itself says so: the cluster
        // client reports any failure to reach its nodes (refused, a name
        // that does not resolve) as an I/O error of its own, whose cause is
        // text.
        let RedisErrorKind::Redis(e) = &self.kind else {
            return false;
        };
        // The client keeps the cause of its own I/O errors behind an `Arc`.
        type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
        let io = std::error::Error::source(e)
            .and_then(|cause| cause.downcast_ref::<Shared>())
            .and_then(|cause| cause.downcast_ref::<std::io::Error>());
        io.is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::NotConnected
            )
        })
    }
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RedisErrorKind::Url(url, e) => write!(f, "rate-limit store {url:?}: {e}"),
            RedisErrorKind::Timeout(t) => {
                write!(f, "rate-limit store: no answer from redis within {t:?}")
            }
            RedisErrorKind::Redis(e) => {
                write!(f, "rate-limit store: {e}")?;
                if let redis::ErrorKind::Server(
                    redis::ServerErrorKind::Moved
                    | redis::ServerErrorKind::Ask
                    | redis::ServerErrorKind::CrossSlot,
                ) = e.kind()
                {
                    f.write_str(" (if this Redis is a cluster node, use a redis+cluster:// URL)")?;
                }
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly) {
                    f.write_str(" (a replica: reconnecting, to reach the primary again)")?;
                }
                Ok(())
            }
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

#[cfg(test)]
mod tests {
    use super::{FailureLog, Job, MAX_IN_FLIGHT, Mode, Queue, in_flight_cap, threshold};

    #[test]
    fn failures_are_logged_once_a_second_with_the_count_between() {
        let log = FailureLog::new();
        assert_eq!(log.record_at(0), Some(0), "the first is logged");
        for ms in 1..=500 {
            assert_eq!(log.record_at(ms), None);
        }
        assert_eq!(log.record_at(999), None);
        assert_eq!(log.record_at(1000), Some(501), "the next line counts them");
        assert_eq!(log.record_at(1001), None);
        assert_eq!(
            log.record_at(60_000),
            Some(1),
            "after a quiet while, at once"
        );
    }

    #[test]
    fn a_lone_decision_goes_at_once_then_as_many_wait_as_fly_at_least_four() {
        let thresholds: Vec<usize> = [0, 1, 2, 4, 5, 16, 63, 64, 65, 500]
            .into_iter()
            .map(|flying| threshold(flying, 64))
            .collect();
        assert_eq!(thresholds, [1, 4, 4, 4, 5, 16, 63, 64, 64, 64]);
        assert_eq!(threshold(1, 3), 3, "a full batch is enough");
        assert_eq!(threshold(5, 1), 1);
        assert_eq!(threshold(usize::MAX, 64), 64);
    }

    /// Adds `n` waiting decisions (their callers already gone).
    fn wait(queue: &mut Queue, n: usize) {
        for _ in 0..n {
            let (reply, _) = tokio::sync::oneshot::channel();
            queue.jobs.push(Job {
                key: String::new(),
                increment: 1,
                tolerance: 1,
                mode: Mode::Check,
                reply,
            });
        }
    }

    #[test]
    fn calls_count_their_decisions_in_and_out() {
        let mut queue = Queue::default();
        wait(&mut queue, 1);
        assert!(queue.ready(64, 8), "a lone decision goes at once");
        let first = queue.open_call(64);
        assert_eq!((queue.calls, queue.flying, first.len()), (1, 1, 1));
        wait(&mut queue, 3);
        assert!(!queue.ready(64, 8), "three wait for four");
        wait(&mut queue, 1);
        let second = queue.open_call(64);
        assert_eq!((queue.calls, queue.flying, second.len()), (2, 5, 4));
        wait(&mut queue, 4);
        assert!(!queue.ready(64, 8), "four wait for five on their way");
        wait(&mut queue, 1);
        assert!(queue.ready(64, 8));
        assert!(!queue.ready(64, 2), "no call slot");
        queue.close_call(first.len());
        assert_eq!((queue.calls, queue.flying), (1, 4));
        queue.close_call(second.len());
        assert_eq!((queue.calls, queue.flying), (0, 0));
    }

    #[test]
    fn cluster_urls_list_nodes_on_database_0_and_never_echo_a_password() {
        let open = |url: &str| super::RedisStore::open(url, super::RedisOptions::default());
        let store = open("redis+cluster://user:secret@10.0.0.1:7000, 10.0.0.2:7001/").unwrap();
        assert_eq!(store.batcher.max_batch, 1, "one key, one slot a call");
        assert!(open("redis+cluster://10.0.0.1:7000/0").is_ok());
        let tls = open("rediss+cluster://10.0.0.1:7000,10.0.0.2:7001");
        #[cfg(feature = "rustls")]
        assert!(tls.is_ok());
        #[cfg(not(feature = "rustls"))]
        assert!(tls.unwrap_err().to_string().contains("`rustls` feature"));
        for (url, why) in [
            ("redis+cluster://", "expected redis+cluster://host:port"),
            (
                "redis+cluster://:secret@,",
                "expected redis+cluster://host:port",
            ),
            ("redis+cluster://:secret@10.0.0.1:7000/2", "only database 0"),
        ] {
            let error = open(url).unwrap_err().to_string();
            assert!(error.contains(why), "{url}: {error}");
            assert!(!error.contains("secret"), "{url}: {error}");
        }
    }

    #[test]
    fn sentinel_addresses_take_ipv6_with_or_without_a_port() {
        use super::{DEFAULT_SENTINEL_PORT as D, sentinel_address as at};
        assert_eq!(at("10.0.0.1:26380"), Ok(("10.0.0.1", 26380)));
        assert_eq!(at("sentinel.internal"), Ok(("sentinel.internal", D)));
        assert_eq!(at("[2001:db8::1:2]"), Ok(("2001:db8::1:2", D)));
        assert_eq!(at("[2001:db8::1:2]:26380"), Ok(("2001:db8::1:2", 26380)));
        assert_eq!(at("2001:db8::1:2"), Ok(("2001:db8::1:2", D)));
        assert_eq!(at("::1"), Ok(("::1", D)));
        assert!(at("[::1").is_err());
        assert!(at("[::1]x").is_err());
        assert!(at(":26379").is_err());
        assert!(at("host:x").is_err());
    }

    #[test]
    fn sentinel_urls_name_sentinels_and_a_service_and_never_echo_a_password() {
        let open = |url: &str| super::RedisStore::open(url, super::RedisOptions::default());
        for url in [
            "redis+sentinel://10.0.0.1:26379,10.0.0.2/mymaster",
            "redis+sentinel://:secret@10.0.0.1, [::1]:26380/mymaster/2",
            "redis+sentinel://user:s%40cret@sentinel.internal/mymaster",
            "redis+sentinel://10.0.0.1/mymaster?sentinel_password=s%26cret",
        ] {
            let store = open(url).unwrap();
            assert_eq!(store.batcher.max_batch, super::DEFAULT_MAX_BATCH, "{url}");
        }
        for (url, why) in [
            (
                "redis+sentinel://10.0.0.1:26379",
                "expected redis+sentinel://",
            ),
            (
                "rediss+sentinel://:secret@10.0.0.1/m",
                "reached without TLS",
            ),
            (
                "redis+sentinel://:secret@10.0.0.1/",
                "expected redis+sentinel://",
            ),
            (
                "redis+sentinel://:secret@,/mymaster",
                "expected redis+sentinel://",
            ),
            (
                "redis+sentinel://:secret@10.0.0.1:x/m",
                "port is not a number",
            ),
            (
                "redis+sentinel://:secret@:26379/m",
                "a sentinel has no host",
            ),
            (
                "redis+sentinel://:secret@10.0.0.1/m/two",
                "database is not a number",
            ),
            (
                "redis+sentinel://10.0.0.1/m?password=secret",
                "only option of redis+sentinel:// is sentinel_password",
            ),
        ] {
            let error = open(url).unwrap_err().to_string();
            assert!(error.contains(why), "{url}: {error}");
            assert!(!error.contains("secret"), "{url}: {error}");
        }
    }

    #[cfg(feature = "rustls")]
    #[test]
    fn certificates_without_tls_are_refused_at_open() {
        let options = super::RedisOptions::default().tls_root_certificates(b"PEM");
        for url in ["redis://10.0.0.1:6379", "redis+cluster://10.0.0.1:7000"] {
            let error = super::RedisStore::open(url, options.clone()).unwrap_err();
            assert!(
                error.to_string().contains("need a rediss://"),
                "{url}: {error}"
            );
        }
    }

    #[test]
    fn a_prefix_with_a_hash_tag_is_refused() {
        // `{app}` would be every key's Cluster hash tag: one slot, one node.
        for prefix in ["{app}:rl:", "app}:", "a{"] {
            let options = super::RedisOptions::default().prefix(prefix);
            let Err(e) = super::RedisStore::open("redis://127.0.0.1:6379", options) else {
                panic!("{prefix} was taken");
            };
            assert!(e.to_string().contains("prefix"), "{e}");
        }
        let options = super::RedisOptions::default().prefix("app:rl:");
        assert!(super::RedisStore::open("redis://127.0.0.1:6379", options).is_ok());
    }

    #[test]
    fn small_batches_may_have_more_calls_on_their_way() {
        assert_eq!(in_flight_cap(1), 64);
        assert_eq!(in_flight_cap(3), 21);
        assert_eq!(in_flight_cap(8), MAX_IN_FLIGHT);
        assert_eq!(in_flight_cap(super::DEFAULT_MAX_BATCH), MAX_IN_FLIGHT);
        assert_eq!(in_flight_cap(usize::MAX), MAX_IN_FLIGHT);
    }
}
