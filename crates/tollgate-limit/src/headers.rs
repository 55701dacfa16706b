//! The IETF RateLimit fields and the legacy `X-RateLimit-*` headers.
//!
//! Tollgate implements the structured-field syntax of
//! [draft-ietf-httpapi-ratelimit-headers-09]: one list item per policy, named
//! by the policy, in two fields.
//!
//! - `RateLimit-Policy: "per-key";q=100;w=60` — the quota `q` per window `w`
//!   (seconds) of each policy that applied to the request. A policy whose
//!   burst is larger than its quota is about the same rate told as its
//!   burst: `q` is the burst and `w` the time it takes to come back (burst ×
//!   the interval between calls, rounded up to the second), so that `r`
//!   never exceeds `q`. `t` may pass `w` by up to 1 % of it, rounded up to
//!   the second: an interval is rounded up to the microsecond (by at most
//!   1 %, or the policy is refused), so 3 calls a second come back in a
//!   shade over one.
//! - `RateLimit: "per-key";r=42;t=35` — `r`, the calls of cost 1 the caller
//!   may still make right now, and `t`, the seconds (rounded up) until the
//!   whole burst (the quota, unless the policy sets another) is available
//!   again; on a refused call, the seconds until it would be admitted, the
//!   time its `Retry-After` names (the draft asks that both name one).
//!
//! GCRA has no fixed windows: `t` is the time until the caller's burst is
//! fully restored, and calls come back one every `window / quota` before that,
//! so `r` grows steadily rather than jumping at `t`. A caller with its whole
//! burst may therefore make up to about twice `q` calls in the next `w`
//! seconds (the burst, then the calls that come back meanwhile); one that
//! keeps at the limit gets `q` per `w`. An idle caller's burst comes back, so
//! any `w` seconds admit at most the burst plus `q`.
//!
//! [draft-ietf-httpapi-ratelimit-headers-09]: https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/09/

use std::fmt::Write;

pub use tollgate::headers::{
    RATELIMIT, RATELIMIT_POLICY, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
};

use crate::policy::{Decision, Policy};

/// One `RateLimit-Policy` item: `"name";q=100;w=60`; with a burst larger
/// than the quota, the burst and the time it takes to come back (a smaller
/// burst keeps `r` under the quota already).
///
/// ```
/// use std::time::Duration;
/// use tollgate_limit::{Policy, headers};
/// let policy = Policy::new("per-ip", 1000, Duration::from_secs(60))?;
/// assert_eq!(headers::policy_item(&policy), r#""per-ip";q=1000;w=60"#);
/// // 10 a minute, 100 at once: 100 per 600 s.
/// let policy = Policy::new("per-key", 10, Duration::from_secs(60))?.with_burst(100)?;
/// assert_eq!(headers::policy_item(&policy), r#""per-key";q=100;w=600"#);
/// // 100 a minute, 1 at once: still 100 per 60 s.
/// let policy = Policy::new("per-key", 100, Duration::from_secs(60))?.with_burst(1)?;
/// assert_eq!(headers::policy_item(&policy), r#""per-key";q=100;w=60"#);
/// # Ok::<(), tollgate_limit::PolicyError>(())
/// ```
pub fn policy_item(policy: &Policy) -> String {
    let (quota, window) = if policy.burst() <= policy.quota() {
        (policy.quota(), policy.window().as_secs())
    } else {
        // burst × interval, rounded up: under the hundred years a policy's
        // burst may take to come back.
        let nanos = u128::from(policy.burst()) * policy.emission_interval().as_nanos();
        let secs = nanos.div_ceil(1_000_000_000);
        (policy.burst(), u64::try_from(secs).unwrap_or(u64::MAX))
    };
    // Policy names are [A-Za-z0-9_.-]: a valid sf-string without escapes.
    format!("\"{}\";q={quota};w={window}", policy.name())
}

/// One `RateLimit` item: `"name";r=42;t=35`.
///
/// ```
/// use std::time::Duration;
/// use tollgate_limit::{FakeClock, KeyedLimiter, Policy, headers};
/// let policy = Policy::new("per-key", 100, Duration::from_secs(60))?;
/// let limiter = KeyedLimiter::new(policy.clone(), FakeClock::new());
/// let decision = limiter.check(&1u64);
/// assert_eq!(headers::limit_item(&policy, &decision), r#""per-key";r=99;t=1"#);
/// # Ok::<(), tollgate_limit::PolicyError>(())
/// ```
pub fn limit_item(policy: &Policy, decision: &Decision) -> String {
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "\"{}\";r={};t={}",
        policy.name(),
        decision.remaining(),
        tollgate::retry_after_secs(decision.shown_reset())
    );
    out
}
