//! Named policies ("100 calls per 60 seconds, bursts of 100") and the GCRA
//! arithmetic that enforces them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A named rate-limit policy: `quota` calls per `window`, at most `burst` at
/// once.
///
/// Enforced with the generic cell rate algorithm (GCRA): calls are spaced by
/// an emission interval `T = window / quota` (rounded up to the microsecond,
/// the Redis store's unit, so rounding never admits more), and a caller may
/// run up to `burst` intervals ahead. With the default `burst = quota`, a fresh caller may spend the whole
/// quota at once and then gets one call every `T`; over any stretch of time
/// `d`, at most `burst + d / T` calls are admitted.
///
/// On Redis a caller's state is kept under the policy's name, across
/// deploys: a policy changed under the same name takes what callers used
/// with it, counted as at most its own whole burst, so tightening a policy
/// never locks anyone out for longer than its new window. (In memory, state
/// starts afresh with the process.)
///
/// ```
/// use std::time::Duration;
/// use tollgate_limit::Policy;
/// let policy = Policy::new("per-key", 100, Duration::from_secs(60))?;
/// assert_eq!(policy.emission_interval(), Duration::from_millis(600));
/// assert_eq!(policy.burst(), 100);
/// let smooth = policy.with_burst(10)?;
/// assert_eq!(smooth.burst(), 10);
/// assert!(Policy::new("bad name", 1, Duration::from_secs(1)).is_err());
/// assert!(Policy::new("zero", 0, Duration::from_secs(1)).is_err());
/// # Ok::<(), tollgate_limit::PolicyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub(crate) name: Arc<str>,
    pub(crate) quota: u64,
    pub(crate) window: Duration,
    pub(crate) burst: u64,
    /// `window / quota` rounded up to a whole microsecond, in nanoseconds.
    pub(crate) interval_ns: u64,
}

/// Longest tolerance a policy may have: a hundred years, which keeps every
/// time value exact in Lua's doubles (microseconds below 2^53).
const MAX_TOLERANCE_NS: u128 = 100 * 365 * 24 * 3600 * 1_000_000_000;

/// Largest quota or burst: the RateLimit fields' integers have at most 15
/// digits (RFC 8941).
const MAX_CALLS: u64 = 999_999_999_999_999;

impl Policy {
    /// `quota` calls per `window`, with a burst of `quota`.
    ///
    /// The name goes into the `RateLimit-Policy` field and store keys: 1–64
    /// characters of `[A-Za-z0-9_.-]`. The window is a whole number of seconds
    /// (the unit of the RateLimit fields and of the built-in message). The
    /// quota is below 10¹⁵ (the largest integer the RateLimit fields carry)
    /// and at most one call per microsecond, the Redis store's unit; the
    /// spacing `window / quota`, rounded up to the microsecond, must stay
    /// within 1 % of the exact one, so that the rate enforced is the rate
    /// advertised (999 999 calls a second would be spaced 2 µs apart).
    pub fn new(name: &str, quota: u64, window: Duration) -> Result<Policy, PolicyError> {
        let valid_name = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid_name {
            return Err(PolicyError::new(name, PolicyErrorKind::Name));
        }
        if quota == 0 {
            return Err(PolicyError::new(name, PolicyErrorKind::ZeroQuota));
        }
        if quota > MAX_CALLS {
            return Err(PolicyError::new(name, PolicyErrorKind::TooLarge));
        }
        if window.is_zero() || window.subsec_nanos() != 0 {
            return Err(PolicyError::new(name, PolicyErrorKind::Window));
        }
        let window_ns = window.as_nanos();
        // At least a microsecond between calls, in whole microseconds: the
        // Redis store counts in µs. Where rounding up to one slows the rate
        // by more than 1 %, the quota would be enforced slower than it is
        // advertised.
        let interval_ns = window_ns.div_ceil(u128::from(quota)).div_ceil(1000) * 1000;
        if u128::from(quota) * 1000 > window_ns
            || interval_ns * u128::from(quota) * 100 > window_ns * 101
        {
            return Err(PolicyError::new(name, PolicyErrorKind::TooFast));
        }
        let policy = Policy {
            name: name.into(),
            quota,
            window,
            burst: quota,
            interval_ns: u64::try_from(interval_ns)
                .map_err(|_| PolicyError::new(name, PolicyErrorKind::TooLong))?,
        };
        policy.checked()
    }

    /// The same policy with another burst (1 or more, below 10¹⁵): how many
    /// calls a fresh caller may make at once.
    pub fn with_burst(mut self, burst: u64) -> Result<Policy, PolicyError> {
        if burst == 0 {
            return Err(PolicyError::new(&self.name, PolicyErrorKind::ZeroBurst));
        }
        if burst > MAX_CALLS {
            return Err(PolicyError::new(&self.name, PolicyErrorKind::TooLarge));
        }
        self.burst = burst;
        self.checked()
    }

    fn checked(self) -> Result<Policy, PolicyError> {
        if u128::from(self.interval_ns) * u128::from(self.burst) > MAX_TOLERANCE_NS {
            return Err(PolicyError::new(&self.name, PolicyErrorKind::TooLong));
        }
        Ok(self)
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls allowed per window.
    pub fn quota(&self) -> u64 {
        self.quota
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Calls allowed at once.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// The spacing between calls at the sustained rate, `window / quota`
    /// rounded up to the microsecond.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }

    /// The arithmetic in nanoseconds (the in-memory store's unit).
    pub(crate) fn gcra_ns(&self) -> Gcra {
        Gcra {
            interval: self.interval_ns,
            tolerance: self.interval_ns * self.burst,
            limit: self.quota,
            unit_ns: 1,
        }
    }

    /// The arithmetic in microseconds (the Redis store's unit, from `TIME`).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn gcra_us(&self) -> Gcra {
        let interval = self.interval_ns / 1000;
        Gcra {
            interval,
            tolerance: interval * self.burst,
            limit: self.quota,
            unit_ns: 1000,
        }
    }
}

/// The outcome of one check of one policy.
///
/// ```
/// use std::time::Duration;
/// use tollgate_limit::{FakeClock, KeyedLimiter, Policy};
/// let clock = FakeClock::new();
/// let limiter = KeyedLimiter::new(Policy::new("p", 2, Duration::from_secs(10))?, clock.clone());
/// assert_eq!(limiter.check(&"k").remaining(), 1);
/// assert_eq!(limiter.check(&"k").remaining(), 0);
/// let denied = limiter.check(&"k");
/// assert!(!denied.is_allowed());
/// assert_eq!(denied.retry_after(), Some(Duration::from_secs(5)));
/// # Ok::<(), tollgate_limit::PolicyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub(crate) allowed: bool,
    /// The cost exceeds the burst: never admissible.
    pub(crate) impossible: bool,
    pub(crate) limit: u64,
    pub(crate) interval: u64,
    pub(crate) tolerance: u64,
    /// Time units owed after this decision (the reset).
    pub(crate) owed: u64,
    /// Time units until a refused call would be admitted.
    pub(crate) wait: u64,
    pub(crate) unit_ns: u64,
}

impl Decision {
    /// Whether the call is admitted.
    #[inline]
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// The policy's quota.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Calls of cost 1 that would be admitted right after this one.
    pub fn remaining(&self) -> u64 {
        self.tolerance.saturating_sub(self.owed) / self.interval.max(1)
    }

    /// How long until the caller's whole burst is available again.
    pub fn reset(&self) -> Duration {
        Duration::from_nanos(self.owed.saturating_mul(self.unit_ns))
    }

    /// The reset the headers show: for a refused call, its wait (the
    /// `Retry-After`, so that both name one point in time, as the IETF draft
    /// asks), else [`reset`](Self::reset).
    pub(crate) fn shown_reset(&self) -> Duration {
        self.retry_after().unwrap_or_else(|| self.reset())
    }

    /// For a denied call, how long until the same call would be admitted;
    /// `None` when it is admitted, or when its cost exceeds the burst and it
    /// can never be.
    pub fn retry_after(&self) -> Option<Duration> {
        (!self.allowed && !self.impossible)
            .then(|| Duration::from_nanos(self.wait.saturating_mul(self.unit_ns)))
    }

    /// The decision as it stands once a call of `cost` is given back.
    pub(crate) fn given_back(&mut self, cost: u64) {
        self.owed = self.owed.saturating_sub(self.interval.saturating_mul(cost));
    }
}

/// GCRA in one time unit. A stored theoretical arrival time (TAT) of 0 means
/// "never seen".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gcra {
    pub(crate) interval: u64,
    pub(crate) tolerance: u64,
    pub(crate) limit: u64,
    pub(crate) unit_ns: u64,
}

impl Gcra {
    /// Decides a call of `cost` at `now` against `tat`: the decision, and the
    /// TAT to store when it is admitted.
    ///
    /// A TAT is never more than the tolerance ahead here: a store holds one
    /// policy's TATs on a monotonic clock. (The Redis script, whose TATs
    /// outlive deploys and follow Redis's clock, caps them at the tolerance.)
    #[inline]
    pub(crate) fn decide(&self, tat: u64, now: u64, cost: u64) -> (Decision, Option<u64>) {
        let used = tat.max(now) - now;
        let increment = self.interval.saturating_mul(cost);
        let debt = used.saturating_add(increment);
        let allowed = debt <= self.tolerance;
        let decision = Decision {
            allowed,
            impossible: increment > self.tolerance,
            limit: self.limit,
            interval: self.interval,
            tolerance: self.tolerance,
            owed: if allowed { debt } else { used },
            wait: debt.saturating_sub(self.tolerance),
            unit_ns: self.unit_ns,
        };
        // Admitted, `debt` is within the tolerance and the sum cannot
        // overflow; refused, it may be saturated and the sum is thrown
        // away, so it wraps rather than being computed behind a branch.
        (decision, allowed.then_some(now.wrapping_add(debt)))
    }

    /// The TAT after giving back a call of `cost` admitted earlier.
    #[inline]
    pub(crate) fn refund(&self, tat: u64, cost: u64) -> u64 {
        tat.saturating_sub(self.interval.saturating_mul(cost))
    }
}

/// An invalid [`Policy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    name: String,
    kind: PolicyErrorKind,
}

/// What is wrong with a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// The name is not 1–64 characters of `[A-Za-z0-9_.-]`.
    Name,
    /// The quota is zero.
    ZeroQuota,
    /// The burst is zero.
    ZeroBurst,
    /// The window is not a whole, positive number of seconds.
    Window,
    /// The window or burst is so long that the arithmetic would overflow.
    TooLong,
    /// The quota is more than one call per microsecond, or its spacing in
    /// whole microseconds is more than 1 % off.
    TooFast,
    /// The quota or burst is 10¹⁵ or more.
    TooLarge,
}

impl PolicyError {
    fn new(name: &str, kind: PolicyErrorKind) -> PolicyError {
        PolicyError {
            name: name.to_owned(),
            kind,
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> PolicyErrorKind {
        self.kind
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid rate-limit policy {:?}: ", self.name)?;
        f.write_str(match self.kind {
            PolicyErrorKind::Name => "the name must be 1-64 characters of [A-Za-z0-9_.-]",
            PolicyErrorKind::ZeroQuota => "the quota must be at least 1",
            PolicyErrorKind::ZeroBurst => "the burst must be at least 1",
            PolicyErrorKind::Window => "the window must be a whole, positive number of seconds",
            PolicyErrorKind::TooLong => {
                "the window or burst is too long (at most 100 years of calls)"
            }
            PolicyErrorKind::TooFast => {
                "the quota must be at most one call per microsecond, spaced a whole number of microseconds apart within 1%"
            }
            PolicyErrorKind::TooLarge => "the quota and burst must be below 10^15",
        })
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn policy(quota: u64, window_s: u64) -> Policy {
        Policy::new("p", quota, Duration::from_secs(window_s)).unwrap()
    }

    #[test]
    fn fresh_caller_gets_the_whole_burst_then_one_per_interval() {
        let g = policy(100, 60).gcra_ns();
        let now = 10 * S;
        let mut tat = 0;
        for i in 0..100 {
            let (d, new) = g.decide(tat, now, 1);
            assert!(d.is_allowed(), "call {i}");
            assert_eq!(d.remaining(), 99 - i);
            tat = new.unwrap();
        }
        let (d, new) = g.decide(tat, now, 1);
        assert!(!d.is_allowed());
        assert_eq!(new, None);
        assert_eq!(d.remaining(), 0);
        assert_eq!(d.retry_after(), Some(Duration::from_millis(600)));
        assert_eq!(d.reset(), Duration::from_secs(60));
        // One interval later exactly one more call fits.
        let later = now + 600_000_000;
        let (d, new) = g.decide(tat, later, 1);
        assert!(d.is_allowed());
        assert_eq!(d.remaining(), 0);
        let (d, _) = g.decide(new.unwrap(), later, 1);
        assert!(!d.is_allowed());
        // Just before the interval it does not.
        let (d, _) = g.decide(tat, later - 1, 1);
        assert!(!d.is_allowed());
        assert_eq!(d.retry_after(), Some(Duration::from_nanos(1)));
    }

    #[test]
    fn weighted_cost_spends_several_cells() {
        let g = policy(10, 10).gcra_ns();
        let (d, tat) = g.decide(0, S, 7);
        assert!(d.is_allowed());
        assert_eq!(d.remaining(), 3);
        let (d, _) = g.decide(tat.unwrap(), S, 4);
        assert!(!d.is_allowed());
        assert_eq!(d.remaining(), 3, "what is left is reported, not spent");
        assert_eq!(d.retry_after(), Some(Duration::from_secs(1)));
        let (d, _) = g.decide(tat.unwrap(), S, 3);
        assert!(d.is_allowed());
    }

    #[test]
    fn cost_above_burst_is_never_admitted() {
        let g = policy(10, 10).with_burst(5).unwrap().gcra_ns();
        let (d, _) = g.decide(0, S, 6);
        assert!(!d.is_allowed());
        assert_eq!(d.retry_after(), None);
        assert_eq!(d.remaining(), 5);
    }

    #[test]
    fn a_cost_too_large_to_count_is_refused_not_overflowed() {
        // A cost from a request header can be anything; the debt then
        // saturates, and a refusal must not add it to the clock.
        let g = policy(10, 3600).gcra_ns();
        for cost in [u64::MAX, u64::MAX / 2, 1 << 40] {
            let (d, tat) = g.decide(0, 100 * S, cost);
            assert!(!d.is_allowed(), "cost {cost}");
            assert_eq!(tat, None);
            assert_eq!(d.retry_after(), None, "never admitted, at any wait");
        }
    }

    #[test]
    fn a_decision_tells_the_quota_not_the_burst() {
        let g = policy(10, 10).with_burst(5).unwrap().gcra_ns();
        let (admitted, tat) = g.decide(0, S, 5);
        assert!(admitted.is_allowed());
        assert_eq!(admitted.limit(), 10);
        let (refused, _) = g.decide(tat.unwrap(), S, 1);
        assert!(!refused.is_allowed());
        assert_eq!(refused.limit(), 10);
    }

    #[test]
    fn a_cost_equal_to_the_burst_is_admitted_after_a_wait() {
        let g = policy(10, 10).with_burst(5).unwrap().gcra_ns();
        let (d, _) = g.decide(0, S, 5);
        assert!(d.is_allowed(), "a fresh caller has the whole burst");
        let (_, tat) = g.decide(0, S, 1);
        let (d, new) = g.decide(tat.unwrap(), S, 5);
        assert!(!d.is_allowed());
        assert_eq!(new, None);
        assert_eq!(d.retry_after(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn microseconds_decide_as_nanoseconds_do() {
        // The Redis store's unit: the same calls at the same times get the
        // same decisions, told in the same durations.
        let p = policy(100, 60).with_burst(10).unwrap();
        let (ns, us) = (p.gcra_ns(), p.gcra_us());
        let (mut tat_ns, mut tat_us) = (0, 0);
        for step in 0..40u64 {
            let now_us = 1_000_000 + step * 150_000;
            let cost = 1 + step % 3;
            let (a, new_ns) = ns.decide(tat_ns, now_us * 1000, cost);
            let (b, new_us) = us.decide(tat_us, now_us, cost);
            assert_eq!(a.is_allowed(), b.is_allowed(), "step {step}");
            assert_eq!(a.remaining(), b.remaining(), "step {step}");
            assert_eq!(a.retry_after(), b.retry_after(), "step {step}");
            assert_eq!(a.reset(), b.reset(), "step {step}");
            tat_ns = new_ns.unwrap_or(tat_ns);
            tat_us = new_us.unwrap_or(tat_us);
        }
        assert_eq!(tat_ns, tat_us * 1000);
    }

    #[test]
    fn a_burst_may_take_up_to_a_hundred_years_to_come_back() {
        let hundred_years = 100 * 365 * 24 * 3600;
        let p = policy(1, 1).with_burst(hundred_years).unwrap();
        assert_eq!(p.burst(), hundred_years);
        let err = policy(1, 1).with_burst(hundred_years + 1).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooLong);
        // The largest burst the fields carry, when it comes back in time.
        let largest = 999_999_999_999_999;
        assert_eq!(
            policy(1_000_000, 1).with_burst(largest).unwrap().burst(),
            largest
        );
    }

    #[test]
    fn idle_time_restores_capacity_up_to_the_burst_only() {
        let g = policy(10, 10).with_burst(3).unwrap().gcra_ns();
        let mut tat = 0;
        for _ in 0..3 {
            tat = g.decide(tat, S, 1).1.unwrap();
        }
        assert!(!g.decide(tat, S, 1).0.allowed);
        // A long idle stretch gives back the burst, not more.
        let now = 1000 * S;
        let mut admitted = 0;
        while let (_, Some(t)) = g.decide(tat, now, 1) {
            tat = t;
            admitted += 1;
        }
        assert_eq!(admitted, 3);
    }

    #[test]
    fn refund_gives_back_exactly_the_cost() {
        let g = policy(10, 10).gcra_ns();
        let (_, tat) = g.decide(0, S, 10);
        let tat = tat.unwrap();
        assert!(!g.decide(tat, S, 1).0.allowed);
        let back = g.refund(tat, 2);
        let (d, _) = g.decide(back, S, 2);
        assert!(d.is_allowed());
        assert_eq!(d.remaining(), 0);
    }

    #[test]
    fn interval_rounds_up_so_rounding_never_admits_more() {
        let p = policy(7, 60);
        assert!(u128::from(p.interval_ns) * 7 >= Duration::from_secs(60).as_nanos());
        assert_eq!(p.interval_ns % 1000, 0);
        let us = p.gcra_us();
        assert_eq!(us.interval * 1000, p.interval_ns);
    }

    #[test]
    fn sustained_rate_matches_the_quota() {
        // Over 10 windows, a caller hammering every millisecond gets
        // burst + 10 * quota calls, not one more.
        let g = policy(100, 60).gcra_ns();
        let mut tat = 0;
        let mut admitted = 0u64;
        let start = S;
        let end = start + 600 * S;
        let mut now = start;
        while now <= end {
            if let (_, Some(t)) = g.decide(tat, now, 1) {
                tat = t;
                admitted += 1;
            }
            now += 1_000_000;
        }
        assert_eq!(admitted, 100 + 1000);
    }

    #[test]
    fn invalid_policies_say_what_is_wrong() {
        let err = Policy::new("a b", 1, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::Name);
        assert!(err.to_string().contains("\"a b\""), "{err}");
        let err = Policy::new("p", 1, Duration::from_millis(1500)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::Window);
        let err = policy(1, 1).with_burst(0).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::ZeroBurst);
        let err = policy(1, 1).with_burst(1_000_000_000_000).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooLong);
        assert_eq!(
            policy(1_000_000, 1).emission_interval(),
            Duration::from_micros(1)
        );
        let err = Policy::new("p", 1_000_001, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooFast);
        // Spaced 2 µs apart, it would be enforced at half its rate.
        let err = Policy::new("p", 999_999, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooFast);
        // 3.003 µs, rounded to 4: a third slower.
        let err = Policy::new("p", 333_000, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooFast);
        // 10.1 µs rounded to 11 is 9 % off; 101 µs rounded to 102, under 1 %.
        assert!(Policy::new("p", 99_000, Duration::from_secs(1)).is_err());
        assert!(Policy::new("p", 9_900, Duration::from_secs(1)).is_ok());
        let huge = 1_000_000_000_000_000;
        let err = Policy::new("p", huge, Duration::from_secs(2_000_000_000)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooLarge);
        let err = policy(1, 1).with_burst(huge).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooLarge);
    }

    /// A spacing that rounding to the microsecond makes exactly 1 % slower
    /// than the advertised one is still within 1 %: accepted. A shade more
    /// is not.
    #[test]
    fn a_spacing_rounded_exactly_one_percent_slow_is_accepted() {
        // 1 s / 10 100 = 99.0099 µs, spaced 100 µs apart: 1 % slower.
        let p = Policy::new("p", 10_100, Duration::from_secs(1)).unwrap();
        assert_eq!(p.emission_interval(), Duration::from_micros(100));
        // 1 s / 10 101 = 99.0001 µs, spaced 100 µs apart: 1.01 % slower.
        let err = Policy::new("p", 10_101, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooFast);
    }

    /// The largest quota the fields carry is not too large: a second's
    /// worth of it is refused for its rate, not its size.
    #[test]
    fn the_largest_quota_is_refused_for_its_rate_not_its_size() {
        let largest = 999_999_999_999_999;
        let err = Policy::new("p", largest, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooFast);
        let err = Policy::new("p", largest + 1, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::TooLarge);
    }
}
