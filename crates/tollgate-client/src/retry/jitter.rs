//! Randomness for backoff delays, seedable so tests can replay it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The source of backoff jitter: a random number generator shared by every
/// clone, seedable so a test can replay the delays.
///
/// [`full`](Jitter::full) draws uniformly from `[0, ceiling]` ("full jitter"),
/// which spreads the retries of many clients across the whole window instead
/// of bunching them at its end.
///
/// ```
/// use std::time::Duration;
/// use tollgate_client::Jitter;
/// let a = Jitter::seeded(7);
/// let b = Jitter::seeded(7);
/// let ceiling = Duration::from_secs(4);
/// let draws: Vec<_> = (0..5).map(|_| a.full(ceiling)).collect();
/// assert!(draws.iter().all(|d| *d <= ceiling));
/// assert_eq!(draws, (0..5).map(|_| b.full(ceiling)).collect::<Vec<_>>());
/// ```
#[derive(Clone, Debug)]
pub struct Jitter {
    rng: Arc<Mutex<fastrand::Rng>>,
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::new()
    }
}

impl Jitter {
    /// Jitter with a seed of its own, drawn from fastrand's thread-local
    /// generator (seeded from the time and the thread's id).
    pub fn new() -> Jitter {
        Jitter {
            rng: Arc::new(Mutex::new(fastrand::Rng::new())),
        }
    }

    /// Jitter that draws the same sequence for the same seed.
    pub fn seeded(seed: u64) -> Jitter {
        Jitter {
            rng: Arc::new(Mutex::new(fastrand::Rng::with_seed(seed))),
        }
    }

    /// A delay drawn uniformly from `[0, ceiling]`, to the nanosecond.
    pub fn full(&self, ceiling: Duration) -> Duration {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        // The lock guards two integers; a panic elsewhere cannot leave them invalid.
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        Duration::from_nanos(rng.u64(0..=nanos))
    }
}
