//! Several policies per request, on one backend: what the layer runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;

use crate::clock::{Clock, MonotonicClock};
use crate::key::{Key, KeyExtractor};
use crate::memory::{DEFAULT_MAX_KEYS, MemoryStore};
use crate::policy::{Decision, Policy};

/// Where the limiter keeps its state, chosen by a URL.
///
/// - `memory://` (or `memory://?max_keys=N`): this process only; each policy
///   tracks at most `N` keys (default a million). A store that is full of
///   keys still owing time makes room by forgetting those that owe the
///   least, which then start afresh: past `N` keys in use at once the
///   limits hold only roughly, so set `N` above the keys a window sees
///   (see [`MemoryStore`](crate::MemoryStore)).
/// - `redis://…`, `rediss://…`, `redis+unix://…`: shared by every node (with
///   the `redis` feature; see [`RedisStore`](crate::RedisStore)).
/// - `redis+cluster://host:port,host:port` (`rediss+cluster://…` for TLS):
///   the same on a Redis Cluster.
/// - `redis+sentinel://host:port,host:port/service`: the same on the primary
///   of a Redis Sentinel service, followed through failovers.
///
/// A Redis URL opens a store with [`RedisOptions`](crate::RedisOptions)'
/// defaults (key prefix `tollgate:rl:`, a 500 ms timeout); for others, open
/// it yourself: `Backend::Redis(RedisStore::open(url,
/// RedisOptions::default().prefix("myapp:rl:"))?)`.
///
/// ```
/// use tollgate_limit::Backend;
/// assert!(matches!(Backend::from_url("memory://?max_keys=5000")?, Backend::Memory { max_keys: 5000 }));
/// assert!(Backend::from_url("memcached://x").is_err());
/// // A password is never echoed, whatever is wrong with the URL.
/// let error = Backend::from_url("redis-sentinel://:hunter2@10.0.0.1/svc").unwrap_err();
/// assert!(!error.to_string().contains("hunter2"));
/// let error = Backend::from_url("redis+sentinel://10.0.0.1/svc?sentinel_password=hunter2&x=1").unwrap_err();
/// assert!(!error.to_string().contains("hunter2"));
/// // Other options are shown, to say what is wrong.
/// let error = Backend::from_url("memory://?max_keys=lots").unwrap_err();
/// assert!(error.to_string().contains("max_keys=lots"));
/// # Ok::<(), tollgate_limit::BackendError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Backend {
    /// In-process memory.
    Memory {
        /// The cap on tracked keys per policy (past it, the keys owing the
        /// least are forgotten).
        max_keys: usize,
    },
    /// Redis.
    #[cfg(feature = "redis")]
    Redis(crate::RedisStore),
}

impl Default for Backend {
    fn default() -> Self {
        Backend::Memory {
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

impl Backend {
    /// The backend a URL names. A Redis URL connects lazily; call inside a
    /// Tokio runtime.
    pub fn from_url(url: &str) -> Result<Backend, BackendError> {
        let err = |why: &str| {
            let url = tollgate::redact_url(url);
            BackendError(format!("invalid rate-limit store URL {url:?}: {why}"))
        };
        if let Some(rest) = url.strip_prefix("memory://") {
            let mut max_keys = DEFAULT_MAX_KEYS;
            if let Some(query) = rest.strip_prefix('?') {
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    match pair.split_once('=') {
                        Some(("max_keys", n)) => {
                            max_keys = n
                                .parse()
                                .ok()
                                .filter(|&n| n > 0)
                                .ok_or_else(|| err("max_keys must be a positive integer"))?;
                        }
                        _ => return Err(err("the only option of memory:// is max_keys")),
                    }
                }
            } else if !rest.is_empty() {
                return Err(err("expected memory:// or memory://?max_keys=N"));
            }
            return Ok(Backend::Memory { max_keys });
        }
        #[cfg(feature = "redis")]
        if [
            "redis://",
            "rediss://",
            "redis+unix://",
            "unix://",
            "redis+cluster://",
            "rediss+cluster://",
            "redis+sentinel://",
            "rediss+sentinel://",
        ]
        .iter()
        .any(|s| url.starts_with(s))
        {
            return crate::RedisStore::open(url, crate::RedisOptions::default())
                .map(Backend::Redis)
                .map_err(|e| BackendError(e.to_string()));
        }
        Err(err(
            "expected memory://, redis://, rediss://, redis+unix://, redis+cluster:// or redis+sentinel://",
        ))
    }
}

/// An unusable store URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError(String);

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

/// What to do when the store cannot decide (Redis down or slow).
///
/// Either way the failure is logged (a `WARN` of `tracing`): at most one
/// line a second, each with `failures_since_last_line`, so that an outage
/// under load neither goes unseen nor floods the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailMode {
    /// Admit the request (the policy is skipped for it). The default: an
    /// outage of the limiter does not become an outage of the API.
    #[default]
    Open,
    /// Refuse the request with 503 `service_unavailable` and `Retry-After`
    /// (a request that a policy which did answer refused gets that
    /// policy's 429, as when the store is up).
    Closed {
        /// The `Retry-After` of the 503, rounded up to the second; at least
        /// a second (a refusal never asks for a wait of 0).
        retry_after: Duration,
    },
}

impl FailMode {
    /// Fail closed, asking clients to come back after a second.
    pub const CLOSED: FailMode = FailMode::Closed {
        retry_after: Duration::from_secs(1),
    };

    /// The verdict once the store failed: `verdict` (what the policies
    /// that answered decided) when open, unavailable when closed, unless a
    /// policy that answered refused the request: that refusal stands either
    /// way, so that `Retry-After` is the wait its `RateLimit` item tells
    /// (and a request whose cost no wait admits is not asked to come back).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn on_failure(self, verdict: Verdict) -> Verdict {
        match (self, verdict) {
            (FailMode::Open, verdict) | (_, verdict @ Verdict::Limited { .. }) => verdict,
            (FailMode::Closed { retry_after }, _) => Verdict::Unavailable {
                retry_after: retry_after.max(Duration::from_secs(1)),
            },
        }
    }
}

/// One policy and how to find its key.
struct Rule {
    policy: Arc<Policy>,
    extractor: Box<dyn KeyExtractor>,
    memory: Option<MemoryStore<Key>>,
}

type CostFn = dyn Fn(&Parts) -> u64 + Send + Sync;

/// Several policies per request (per key *and* per IP), each with its own key
/// extractor, on one backend.
///
/// A request is admitted only if every policy whose key it has admits it;
/// when one refuses, the calls the others recorded for it are given back, so
/// a refused request costs nothing. In memory, the policies are looked at
/// before any records the call, so a refused request does not even leave an
/// entry for a new key. On Redis, a check of several policies runs on a
/// Tokio task of its own, so that a request dropped part-way (its client
/// gone) still gives back what it owes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tollgate_limit::{ApiKey, ClientIp, FakeClock, Limiter, Policy};
/// let clock = FakeClock::new();
/// let limiter = Limiter::builder()
///     .policy(Policy::new("per-key", 2, Duration::from_secs(60))?, ApiKey::bearer())
///     .policy(Policy::new("per-ip", 1000, Duration::from_secs(60))?, ClientIp::new())
///     .clock(clock.clone())
///     .build();
/// let (parts, ()) = http::Request::builder().header("authorization", "Bearer k1").body(())?.into_parts();
/// assert!(limiter.check(&parts).await.is_allowed());
/// assert!(limiter.check(&parts).await.is_allowed());
/// let outcome = limiter.check(&parts).await;
/// assert!(!outcome.is_allowed());
/// assert_eq!(outcome.retry_after(), Some(Duration::from_secs(30)));
/// // The refused call was given back to the per-IP policy.
/// assert_eq!(outcome.decisions().nth(1).map(|(_, d)| d.remaining()), Some(998));
/// # Ok(()) }
/// ```
pub struct Limiter {
    rules: Vec<Rule>,
    backend: Backend,
    clock: Arc<dyn Clock>,
    cost: Option<Box<CostFn>>,
    fail_mode: FailMode,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policies: Vec<&str> = self.rules.iter().map(|r| r.policy.name()).collect();
        f.debug_struct("Limiter")
            .field("policies", &policies)
            .field("backend", &self.backend)
            .field("fail_mode", &self.fail_mode)
            .finish()
    }
}

/// Builds a [`Limiter`].
pub struct LimiterBuilder {
    rules: Vec<(Policy, Box<dyn KeyExtractor>)>,
    backend: Backend,
    clock: Arc<dyn Clock>,
    cost: Option<Box<CostFn>>,
    fail_mode: FailMode,
}

impl LimiterBuilder {
    /// Adds a policy counted against the key `extractor` finds.
    ///
    /// # Panics
    ///
    /// When a policy of the same name was added already: the name tells the
    /// policies apart in the `RateLimit` fields and in Redis keys, where two
    /// policies of one name would count in one bucket. (A limiter is built
    /// once, at startup, from code: as axum's router does with overlapping
    /// routes, the mistake stops the program there.)
    #[track_caller]
    pub fn policy(mut self, policy: Policy, extractor: impl KeyExtractor) -> Self {
        let taken = self.rules.iter().any(|(p, _)| p.name() == policy.name());
        assert!(
            !taken,
            "two rate-limit policies are named {:?}",
            policy.name()
        );
        self.rules.push((policy, Box::new(extractor)));
        self
    }

    /// The backend (default: memory, a million keys per policy).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The clock of the in-memory store (default [`MonotonicClock`]); the
    /// Redis store always uses Redis's clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The weight of a request (default 1): an export that costs 10 calls.
    /// A request that costs more than a policy's burst can never be
    /// admitted: the layer refuses it as made (see [`crate::layer`]). One
    /// that costs 0 is admitted while the limit is spent too, counted for
    /// nothing (a health check under the same layer).
    pub fn cost(mut self, cost: impl Fn(&Parts) -> u64 + Send + Sync + 'static) -> Self {
        self.cost = Some(Box::new(cost));
        self
    }

    /// What to do when the store fails (default [`FailMode::Open`]).
    pub fn fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = mode;
        self
    }

    /// The limiter.
    pub fn build(self) -> Limiter {
        let max_keys = match self.backend {
            Backend::Memory { max_keys } => Some(max_keys),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => None,
        };
        let rules = self
            .rules
            .into_iter()
            .map(|(policy, extractor)| Rule {
                policy: Arc::new(policy),
                extractor,
                memory: max_keys.map(MemoryStore::new),
            })
            .collect();
        Limiter {
            rules,
            backend: self.backend,
            clock: self.clock,
            cost: self.cost,
            fail_mode: self.fail_mode,
        }
    }
}

/// The verdict on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Every policy admitted it (or was skipped).
    Allowed,
    /// A policy refused it: 429, or 400 when no wait would admit it.
    Limited {
        /// The policy that refused (the one asking for the longest wait), as
        /// an index into [`Outcome::decisions`], which holds only the
        /// policies that decided: not an index into the limiter's policies.
        policy: usize,
        /// How long until the request would be admitted; `None` if its cost
        /// exceeds a burst and it never will be.
        retry_after: Option<Duration>,
    },
    /// The store failed and the fail mode is closed: 503.
    Unavailable {
        /// The `Retry-After` to send.
        retry_after: Duration,
    },
}

/// The outcome of checking a request against every policy.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub(crate) decisions: Vec<(Arc<Policy>, Decision)>,
    pub(crate) verdict: Verdict,
    pub(crate) cost: u64,
}

impl Outcome {
    /// Whether the request is admitted.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allowed
    }

    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// What the request cost (1 unless the limiter weighs requests).
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// How long to wait before retrying, when refused.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.verdict {
            Verdict::Allowed => None,
            Verdict::Limited { retry_after, .. } => retry_after,
            Verdict::Unavailable { retry_after } => Some(retry_after),
        }
    }

    /// Each policy that applied, with its decision.
    pub fn decisions(&self) -> impl Iterator<Item = (&Policy, &Decision)> {
        self.decisions.iter().map(|(p, d)| (&**p, d))
    }

    /// The policy that refused the request.
    pub fn limiting(&self) -> Option<(&Policy, &Decision)> {
        match self.verdict {
            Verdict::Limited { policy, .. } => self.decisions.get(policy).map(|(p, d)| (&**p, d)),
            _ => None,
        }
    }
}

/// A check that is done, or one waiting on Redis.
pub(crate) enum Pending {
    Ready(Outcome),
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Wait(Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

impl Limiter {
    /// Whether a store failure refuses requests ([`FailMode::Closed`]).
    pub fn fails_closed(&self) -> bool {
        matches!(self.fail_mode, FailMode::Closed { .. })
    }

    /// Whether requests are weighed ([`LimiterBuilder::cost`]).
    pub fn weighs_requests(&self) -> bool {
        self.cost.is_some()
    }

    /// A builder with no policies, the memory backend and the real clock.
    pub fn builder() -> LimiterBuilder {
        LimiterBuilder {
            rules: Vec::new(),
            backend: Backend::default(),
            clock: Arc::new(MonotonicClock::new()),
            cost: None,
            fail_mode: FailMode::Open,
        }
    }

    /// The policies, in order.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.rules.iter().map(|r| &*r.policy)
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Checks a request against every policy and records it if admitted.
    pub async fn check(&self, parts: &Parts) -> Outcome {
        match self.start(parts, false) {
            Pending::Ready(outcome) => outcome,
            Pending::Wait(future) => future.await,
        }
    }

    /// What [`check`](Self::check) would decide, recording nothing.
    pub async fn peek(&self, parts: &Parts) -> Outcome {
        match self.start(parts, true) {
            Pending::Ready(outcome) => outcome,
            Pending::Wait(future) => future.await,
        }
    }

    /// Starts a check: done at once in memory, a future on Redis.
    pub(crate) fn start(&self, parts: &Parts, peek: bool) -> Pending {
        let cost = self.cost.as_ref().map_or(1, |f| f(parts));
        let keys = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| Some((i, rule.extractor.extract(parts)?)));
        match &self.backend {
            Backend::Memory { .. } => Pending::Ready(self.check_memory(keys, cost, peek)),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let keys: Vec<(Arc<Policy>, Key)> = keys
                    .map(|(i, key)| (Arc::clone(&self.rules[i].policy), key))
                    .collect();
                let several = keys.len() > 1 && !peek;
                let check = check_redis(store.clone(), keys, cost, peek, self.fail_mode);
                if !several {
                    return Pending::Wait(Box::pin(check));
                }
                // Several policies' decisions come back one by one: a check
                // dropped between them (its client gone) would keep the
                // charges of those admitted, though another refused and they
                // are owed back. On a task of its own it runs to its end.
                let fail_mode = self.fail_mode;
                Pending::Wait(Box::pin(async move {
                    match tokio::spawn(check).await {
                        Ok(outcome) => outcome,
                        Err(error) if error.is_panic() => {
                            std::panic::resume_unwind(error.into_panic())
                        }
                        // Cancelled: the runtime is shutting down, and the
                        // store is as good as failed.
                        Err(_) => Outcome {
                            decisions: Vec::new(),
                            verdict: fail_mode.on_failure(Verdict::Allowed),
                            cost,
                        },
                    }
                }))
            }
        }
    }

    fn check_memory(
        &self,
        keys: impl Iterator<Item = (usize, Key)>,
        cost: u64,
        peek: bool,
    ) -> Outcome {
        let now = self.clock.now();
        let keys: Vec<(usize, Key)> = keys.collect();
        // With several policies, look before recording: a request that one of
        // them refuses then leaves no entry in the others (a flood of new
        // keys from a client its per-IP policy refuses would otherwise fill
        // the per-key store to its cap). It is reported as if recorded and
        // given back, as when a refusal comes only while recording; a peek
        // reports the same.
        if peek || keys.len() > 1 {
            let mut looked = self.decide_memory(&keys, now, cost, true);
            if looked.verdict != Verdict::Allowed {
                for (_, decision) in &mut looked.decisions {
                    if decision.is_allowed() {
                        decision.given_back(cost);
                    }
                }
                return looked;
            }
            if peek {
                return looked;
            }
        }
        self.decide_memory(&keys, now, cost, false)
    }

    /// Every policy's decision on `keys` at `now`, recorded unless `peek`;
    /// when one refuses, what the others recorded is given back.
    fn decide_memory(&self, keys: &[(usize, Key)], now: u64, cost: u64, peek: bool) -> Outcome {
        let mut decisions = Vec::with_capacity(self.rules.len());
        let mut recorded: Vec<(usize, &Key, usize)> = Vec::new();
        let mut verdict = Verdict::Allowed;
        for (i, key) in keys {
            let rule = &self.rules[*i];
            let Some(store) = &rule.memory else { continue };
            let decision = if peek {
                store.peek(&rule.policy, key, now, cost)
            } else if verdict != Verdict::Allowed {
                // Already refused: report this policy as it stands.
                let mut decision = store.peek(&rule.policy, key, now, cost);
                if decision.is_allowed() {
                    decision.given_back(cost);
                }
                decision
            } else {
                store.check(&rule.policy, key, now, cost)
            };
            if decision.is_allowed() {
                if !peek && verdict == Verdict::Allowed {
                    recorded.push((*i, key, decisions.len()));
                }
            } else {
                verdict = refuse(verdict, decisions.len(), &decision);
            }
            decisions.push((Arc::clone(&rule.policy), decision));
        }
        if verdict != Verdict::Allowed {
            for (i, key, at) in recorded {
                let rule = &self.rules[i];
                if let Some(store) = &rule.memory {
                    store.refund(&rule.policy, key, cost);
                    decisions[at].1.given_back(cost);
                }
            }
        }
        Outcome {
            decisions,
            verdict,
            cost,
        }
    }
}

/// Folds a refusal into the verdict: the longest wait wins.
fn refuse(verdict: Verdict, index: usize, decision: &Decision) -> Verdict {
    let this = Verdict::Limited {
        policy: index,
        retry_after: decision.retry_after(),
    };
    match verdict {
        Verdict::Limited {
            retry_after: Some(old),
            ..
        } => match decision.retry_after() {
            Some(new) if new > old => this,
            None => this,
            _ => verdict,
        },
        Verdict::Limited {
            retry_after: None, ..
        }
        | Verdict::Unavailable { .. } => verdict,
        Verdict::Allowed => this,
    }
}

#[cfg(feature = "redis")]
async fn check_redis(
    store: crate::RedisStore,
    keys: Vec<(Arc<Policy>, Key)>,
    cost: u64,
    peek: bool,
    fail_mode: FailMode,
) -> Outcome {
    let results = futures_util::future::join_all(keys.iter().map(|(policy, key)| {
        let store = &store;
        async move {
            if peek {
                store.peek(policy, key, cost).await
            } else {
                store.check(policy, key, cost).await
            }
        }
    }))
    .await;
    let mut decisions = Vec::with_capacity(keys.len());
    let mut recorded = Vec::new();
    let mut verdict = Verdict::Allowed;
    let mut failed = false;
    for ((policy, key), result) in keys.iter().zip(results) {
        match result {
            Ok(decision) => {
                if decision.is_allowed() {
                    recorded.push((policy, key, decisions.len()));
                } else {
                    verdict = refuse(verdict, decisions.len(), &decision);
                }
                decisions.push((Arc::clone(policy), decision));
            }
            Err(error) => {
                failed = true;
                if let Some(unlogged) = store.failures().record() {
                    tracing::warn!(
                        policy = policy.name(),
                        error = %error,
                        fail_mode = ?fail_mode,
                        failures_since_last_line = unlogged,
                        "rate-limit store failed"
                    );
                }
            }
        }
    }
    if failed {
        verdict = fail_mode.on_failure(verdict);
    }
    if verdict != Verdict::Allowed {
        // What a refusal gives back, a peek reports as given back too.
        for &(_, _, at) in &recorded {
            decisions[at].1.given_back(cost);
        }
        let refunds = recorded
            .into_iter()
            .filter(|_| !peek)
            .map(|(policy, key, _)| store.refund(policy, key, cost));
        for result in futures_util::future::join_all(refunds).await {
            if let Err(error) = result
                && let Some(unlogged) = store.failures().record()
            {
                tracing::warn!(
                    error = %error,
                    failures_since_last_line = unlogged,
                    "rate-limit store failed to give back a refused call"
                );
            }
        }
    }
    Outcome {
        decisions,
        verdict,
        cost,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{ApiKey, ClientIp, FakeClock};

    /// A store that fails for one policy after another refused the
    /// request: the refusal stands, with the wait that policy's `RateLimit`
    /// item tells (or none, for a cost no wait admits), rather than a 503
    /// asking the client to come back sooner.
    #[test]
    fn failing_closed_keeps_a_refusal_that_was_decided() {
        let closed = FailMode::Closed {
            retry_after: Duration::from_secs(2),
        };
        for refused in [
            Verdict::Limited {
                policy: 1,
                retry_after: Some(Duration::from_secs(30)),
            },
            Verdict::Limited {
                policy: 0,
                retry_after: None,
            },
        ] {
            assert_eq!(closed.on_failure(refused), refused);
            assert_eq!(FailMode::Open.on_failure(refused), refused);
        }
        assert_eq!(
            closed.on_failure(Verdict::Allowed),
            Verdict::Unavailable {
                retry_after: Duration::from_secs(2)
            }
        );
        assert_eq!(
            FailMode::Open.on_failure(Verdict::Allowed),
            Verdict::Allowed
        );
    }

    #[test]
    #[should_panic(expected = "two rate-limit policies are named \"per-key\"")]
    fn two_policies_of_one_name_are_refused() {
        let policy = || Policy::new("per-key", 10, Duration::from_secs(60)).unwrap();
        let _ = Limiter::builder()
            .policy(policy(), ApiKey::presented())
            .policy(policy(), ClientIp::new());
    }

    #[tokio::test]
    async fn a_request_another_policy_refuses_leaves_no_entry() {
        let limiter = Limiter::builder()
            .policy(
                Policy::new("per-key", 10, Duration::from_secs(60)).unwrap(),
                ApiKey::presented(),
            )
            .policy(
                Policy::new("per-ip", 1, Duration::from_secs(60)).unwrap(),
                ClientIp::new(),
            )
            .clock(FakeClock::new())
            .build();
        let request = |key: usize| {
            let (parts, ()) = http::Request::builder()
                .header("x-api-key", format!("guess-{key}"))
                .body(())
                .unwrap()
                .into_parts();
            parts
        };
        assert!(limiter.check(&request(0)).await.is_allowed());
        // The IP is spent: a flood of new keys from it is refused...
        for key in 1..100 {
            let outcome = limiter.check(&request(key)).await;
            assert!(!outcome.is_allowed());
            // ...reported as the per-key policy stands, the call given back.
            let (_, per_key) = &outcome.decisions[0];
            assert_eq!(per_key.remaining(), 10);
        }
        // ...and the per-key store tracks only the key that got through.
        assert_eq!(limiter.rules[0].memory.as_ref().unwrap().len(), 1);
    }

    /// What `peek` reports for a request one policy refuses is what `check`
    /// then reports: the other policies' calls given back.
    async fn assert_peek_reports_what_check_decides(limiter: &Limiter) {
        let (parts, ()) = http::Request::builder()
            .header("x-api-key", "k")
            .body(())
            .unwrap()
            .into_parts();
        let remaining = |outcome: &Outcome| -> Vec<u64> {
            outcome.decisions().map(|(_, d)| d.remaining()).collect()
        };
        for _ in 0..2 {
            assert!(limiter.check(&parts).await.is_allowed());
        }
        let peeked = limiter.peek(&parts).await;
        let checked = limiter.check(&parts).await;
        assert!(!peeked.is_allowed() && !checked.is_allowed());
        assert_eq!(remaining(&peeked), remaining(&checked));
        assert_eq!(remaining(&checked), [0, 998]);
    }

    /// Per key 2 a minute, per IP 1000 an hour (slow enough that Redis's
    /// clock gives none back during a test).
    fn two_policies(builder: LimiterBuilder) -> Limiter {
        builder
            .policy(
                Policy::new("per-key", 2, Duration::from_secs(60)).unwrap(),
                ApiKey::presented(),
            )
            .policy(
                Policy::new("per-ip", 1000, Duration::from_secs(3600)).unwrap(),
                ClientIp::new(),
            )
            .build()
    }

    #[tokio::test]
    async fn peek_reports_what_check_decides() {
        let limiter = two_policies(Limiter::builder().clock(FakeClock::new()));
        assert_peek_reports_what_check_decides(&limiter).await;
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn peek_reports_what_check_decides_on_redis() {
        let Some(url) = std::env::var("TOLLGATE_TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("skipping: TOLLGATE_TEST_REDIS_URL is unset");
            return;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!("tollgate:test:{}:{nanos}:", std::process::id());
        let options = crate::RedisOptions::default().prefix(&prefix);
        let store = crate::RedisStore::open(&url, options).unwrap();
        let limiter = two_policies(Limiter::builder().backend(Backend::Redis(store)));
        assert_peek_reports_what_check_decides(&limiter).await;
    }

    /// A check of several policies runs on a task of its own; a panic there
    /// (here: while the store's failure is logged) is its caller's panic, as
    /// on the caller's own task, not a failure the fail mode answers.
    #[cfg(feature = "redis")]
    #[tokio::test]
    #[should_panic(expected = "a check panicked part-way")]
    async fn a_panic_in_a_check_of_several_policies_reaches_its_caller() {
        // Nothing listens on port 1: the store fails, and logs it.
        let store =
            crate::RedisStore::open("redis://127.0.0.1:1", crate::RedisOptions::default()).unwrap();
        let limiter = two_policies(Limiter::builder().backend(Backend::Redis(store)));
        let (parts, ()) = http::Request::builder()
            .header("x-api-key", "k")
            .body(())
            .unwrap()
            .into_parts();
        // A panic at every event of this crate: a way to make a check panic part-way.
        let panic_at_events =
            crate::on_event::OnEvent(|_: &tracing::Event<'_>| panic!("a check panicked part-way"));
        let _subscriber = tracing::subscriber::set_default(panic_at_events);
        let _ = limiter.check(&parts).await;
    }

    /// `Debug` names the policies, the backend and the fail mode.
    #[test]
    fn debug_names_the_policies_the_backend_and_the_fail_mode() {
        let limiter = two_policies(
            Limiter::builder()
                .backend(Backend::Memory { max_keys: 7 })
                .fail_mode(FailMode::CLOSED),
        );
        let shown = format!("{limiter:?}");
        for part in [
            "Limiter",
            r#"policies: ["per-key", "per-ip"]"#,
            "Memory { max_keys: 7 }",
            "Closed",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
    }

    /// `memory://` takes one option, `max_keys`, a positive integer: `0`
    /// would be a store that keeps no key, and is refused like any other
    /// value that is not a positive integer.
    #[test]
    fn a_memory_url_takes_a_positive_max_keys_only() {
        let max_keys = |url: &str| match Backend::from_url(url) {
            Ok(Backend::Memory { max_keys }) => Ok(max_keys),
            Ok(other) => panic!("{url}: {other:?}"),
            Err(error) => Err(error.to_string()),
        };
        assert_eq!(max_keys("memory://"), Ok(DEFAULT_MAX_KEYS));
        assert_eq!(max_keys("memory://?"), Ok(DEFAULT_MAX_KEYS));
        assert_eq!(max_keys("memory://?max_keys=1"), Ok(1));
        assert_eq!(max_keys("memory://?max_keys=5&"), Ok(5));
        for url in [
            "memory://?max_keys=0",
            "memory://?max_keys=-1",
            "memory://?max_keys=",
            "memory://?max_keys",
            "memory://?keys=5",
            "memory://host",
        ] {
            let error = max_keys(url).unwrap_err();
            assert!(error.contains(url), "{url}: {error}");
        }
    }

    /// `policies` lists every policy, in the order they were added.
    #[test]
    fn policies_lists_the_policies_in_order() {
        let limiter = two_policies(Limiter::builder());
        let names: Vec<&str> = limiter.policies().map(Policy::name).collect();
        assert_eq!(names, ["per-key", "per-ip"]);
    }
}
