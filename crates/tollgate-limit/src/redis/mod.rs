//! The Redis store: GCRA in a Lua script, one round trip per decision, timed
//! by Redis's own clock; concurrent decisions share one script call.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::key::Key;
use crate::policy::{Decision, Gcra, Policy};

mod batch;
mod connect;

use batch::{Batcher, Enqueued, Job, Mode, OwnCall, Queue, in_flight_cap};
use connect::{CLUSTER_SCHEMES, Link, SENTINEL_SCHEME, prepare_tls};

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
    /// is replaced. Each limiter layer waits in turn: a request under a
    /// per-IP layer and a per-key layer on one Redis that stalls waits up to
    /// twice the timeout before `fail_open` lets it through.
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
/// multiplexed connection
/// ([`ConnectionManager`](::redis::aio::ConnectionManager)), which reconnects
/// by itself.
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
            RedisErrorKind::Url(url, e) => {
                write!(f, "rate-limit store {url:?}: {e}")?;
                // A URL of no scheme Redis reads (`127.0.0.1:6379`, `redis//h`).
                if e.to_string().contains("did not parse") {
                    f.write_str(
                        " (expected redis://host:port/db, rediss://, redis+unix:///path, \
                         redis+cluster://host:port,host:port or redis+sentinel://…/service)",
                    )?;
                }
                Ok(())
            }
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
    use super::FailureLog;
    use super::batch::{Job, MAX_IN_FLIGHT, Mode, Queue, in_flight_cap, threshold};
    use super::{Gcra, Policy, RedisErrorKind, RedisOptions, RedisStore, RedisStoreError};
    use std::time::Duration;

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

    /// `record` reads the log's own clock: a log started an hour ahead
    /// reads 0 ms for that hour, so the second failure waits for a line.
    #[test]
    fn failures_are_recorded_on_the_logs_own_clock() {
        let log = FailureLog {
            start: std::time::Instant::now() + Duration::from_secs(3600),
            ..FailureLog::new()
        };
        assert_eq!(log.record(), Some(0), "the first is logged");
        assert_eq!(log.record(), None);
        assert_eq!(log.record_at(1000), Some(1));
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

    /// A URL Redis cannot parse (no scheme, a slip) is told the forms it takes.
    #[tokio::test]
    async fn a_url_that_does_not_parse_is_told_the_forms_taken() {
        for url in ["127.0.0.1:6379", "redis//127.0.0.1:6379"] {
            let Err(e) = super::RedisStore::open(url, super::RedisOptions::default()) else {
                panic!("{url} opened");
            };
            let said = e.to_string();
            assert!(said.contains("did not parse"), "{said}");
            assert!(said.ends_with("redis+sentinel://…/service)"), "{said}");
        }
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
        use super::connect::{DEFAULT_SENTINEL_PORT as D, sentinel_address as at};
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

    /// What the script answers for a call of `cost` on a key owing `used`
    /// units: the units owed after it, or minus the units to wait.
    fn script_answer(gcra: Gcra, used: u64, cost: u64) -> i64 {
        let debt = used + super::sent_increment(gcra, cost);
        match debt.checked_sub(gcra.tolerance) {
            Some(over) if over > 0 => -(over as i64),
            _ => debt as i64,
        }
    }

    /// The script's answers read as the decisions the memory store makes
    /// in the same state, a call of the whole burst included (refused once
    /// some is used, but not impossible).
    #[test]
    fn the_scripts_answers_read_as_the_memory_stores_decisions() {
        let policy = Policy::new("p", 10, Duration::from_secs(60)).unwrap();
        let gcra = policy.gcra_us();
        let now = 1_000_000_000;
        for used in [0, 1, gcra.interval, 5 * gcra.interval, gcra.tolerance] {
            for cost in 0..=10 {
                let expected = gcra.decide(now + used, now, cost).0;
                let read = super::decision(gcra, cost, script_answer(gcra, used, cost));
                assert_eq!(read, expected, "used {used}, cost {cost}");
            }
        }
        let whole = super::decision(gcra, 10, script_answer(gcra, 1, 10));
        assert!(!whole.is_allowed());
        assert!(whole.retry_after().is_some(), "possible, later");
        let never = super::decision(gcra, 11, script_answer(gcra, 0, 11));
        assert!(!never.is_allowed());
        assert_eq!(never.retry_after(), None);
    }

    #[test]
    fn options_show_their_settings_and_the_store_its_options() {
        let options = RedisOptions::default()
            .timeout(Duration::from_millis(100))
            .prefix("app:rl:")
            .max_batch(0);
        assert_eq!(options.get_timeout(), Duration::from_millis(100));
        let shown = format!("{options:?}");
        assert!(
            shown.starts_with(r#"RedisOptions { timeout: 100ms, prefix: "app:rl:", max_batch: 1"#),
            "{shown}"
        );
        let store = RedisStore::open("redis://127.0.0.1:6379", options).unwrap();
        assert_eq!(store.batcher.max_batch, 1, "0 counts as 1");
        assert_eq!(
            format!("{store:?}"),
            format!("RedisStore {{ options: {shown}, .. }}")
        );
    }

    /// Only a `READONLY` answer is told to come from a replica; a
    /// `MOVED` one points at `redis+cluster://`.
    #[test]
    fn error_messages_name_their_likely_cause() {
        let error = |kind, text| RedisStoreError {
            kind: RedisErrorKind::Redis(redis::RedisError::from((kind, text))),
        };
        let read_only = error(
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "READONLY",
        )
        .to_string();
        assert!(
            read_only.contains("(a replica: reconnecting"),
            "{read_only}"
        );
        let moved = error(
            redis::ErrorKind::Server(redis::ServerErrorKind::Moved),
            "MOVED",
        )
        .to_string();
        assert!(moved.contains("use a redis+cluster:// URL"), "{moved}");
        assert!(!moved.contains("replica"), "{moved}");
        let io = error(redis::ErrorKind::Io, "gone");
        assert!(!io.to_string().contains("replica"), "{io}");
        assert!(std::error::Error::source(&io).is_some());
        let timeout = RedisStoreError {
            kind: RedisErrorKind::Timeout(Duration::from_millis(5)),
        };
        assert!(std::error::Error::source(&timeout).is_none());
        assert!(timeout.is_timeout() && !io.is_timeout());
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
