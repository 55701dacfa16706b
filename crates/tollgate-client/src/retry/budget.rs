//! A token bucket that keeps a failing server from being stormed by retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A retry budget shared by every request of a client: each retry spends
/// tokens, each success earns some back, and when the bucket is empty the
/// client stops retrying (and sends each request once) until successes refill
/// it.
///
/// A healthy server never notices the budget; a failing one sees at most
/// `max_tokens / retry_cost` retries in a burst, then about one retry per
/// `retry_cost / success_earns` successes. The default (500 tokens, a retry
/// costs 5, a success earns 1) allows a burst of 100 retries, then one retry
/// per five successes — the quota the AWS SDKs' standard retry mode uses.
///
/// Clones share one bucket.
///
/// ```
/// use tollgate_client::RetryBudget;
/// let budget = RetryBudget::new(10, 5, 1);
/// let shared = budget.clone();
/// assert!(budget.try_spend());
/// assert!(shared.try_spend());
/// assert!(!budget.try_spend()); // empty: no more retries
/// budget.earn();
/// assert_eq!(shared.tokens(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct RetryBudget {
    inner: Arc<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: AtomicU32,
    max: u32,
    cost: u32,
    earn: u32,
}

impl Default for RetryBudget {
    /// 500 tokens, a retry costs 5, a success earns 1.
    fn default() -> Self {
        RetryBudget::new(500, 5, 1)
    }
}

impl RetryBudget {
    /// A full bucket of `max_tokens`; each retry costs `retry_cost` tokens and
    /// each success earns `success_earns` back (never above `max_tokens`).
    pub fn new(max_tokens: u32, retry_cost: u32, success_earns: u32) -> RetryBudget {
        RetryBudget {
            inner: Arc::new(Bucket {
                tokens: AtomicU32::new(max_tokens),
                max: max_tokens,
                cost: retry_cost,
                earn: success_earns,
            }),
        }
    }

    /// A budget that never runs out.
    ///
    /// ```
    /// let budget = tollgate_client::RetryBudget::unlimited();
    /// assert!((0..10_000).all(|_| budget.try_spend()));
    /// ```
    pub fn unlimited() -> RetryBudget {
        RetryBudget::new(0, 0, 0)
    }

    /// The tokens left.
    pub fn tokens(&self) -> u32 {
        self.inner.tokens.load(Ordering::Relaxed)
    }

    /// Spends the cost of one retry; `false` (and nothing spent) when the
    /// bucket holds less.
    pub fn try_spend(&self) -> bool {
        let cost = self.inner.cost;
        self.inner
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .is_ok()
    }

    /// Earns back what one success is worth.
    pub fn earn(&self) {
        let Bucket { max, earn, .. } = *self.inner;
        if earn == 0 {
            return;
        }
        let _ = self
            .inner
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(earn).min(max))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earning_never_overfills() {
        let budget = RetryBudget::new(10, 5, 3);
        budget.earn();
        assert_eq!(budget.tokens(), 10);
        assert!(budget.try_spend());
        budget.earn();
        budget.earn();
        assert_eq!(budget.tokens(), 10);
    }

    #[test]
    fn spending_is_all_or_nothing_across_threads() {
        let budget = RetryBudget::new(1000, 7, 0);
        let spent: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100).filter(|_| budget.try_spend()).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(spent, 1000 / 7);
        assert_eq!(budget.tokens(), 1000 % 7);
    }
}
