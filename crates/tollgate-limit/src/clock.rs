//! Where the limiter reads the time: a real monotonic clock, or a fake one
//! that tests move by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A source of time for the limiter.
///
/// [`now`](Clock::now) is a monotonic reading in nanoseconds since the
/// clock's own epoch; the GCRA state of a store is kept on that scale, so one
/// store must always be used with one clock. [`wall`](Clock::wall) is the
/// calendar time printed in error bodies (the `status-code` dialect's
/// `timestamp`).
///
/// ```
/// use std::time::Duration;
/// use tollgate_limit::{Clock, FakeClock};
/// let clock = FakeClock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now() - before, 1_500_000_000);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds since the clock's epoch; never goes back, and is at most
    /// 2⁶³ (292 years), which leaves room to add a policy's tolerance
    /// without overflow.
    fn now(&self) -> u64;

    /// The calendar time, for error bodies.
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }

    fn wall(&self) -> SystemTime {
        (**self).wall()
    }
}

/// The real clock: [`Instant`] since the clock was made.
///
/// Readings start at one second rather than zero, so that a stored
/// "theoretical arrival time" of zero can always mean "never seen".
///
/// ```
/// use tollgate_limit::{Clock, MonotonicClock};
/// let clock = MonotonicClock::new();
/// let a = clock.now();
/// assert!(clock.now() >= a);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    /// A clock whose epoch is one second before now.
    pub fn new() -> MonotonicClock {
        MonotonicClock {
            start: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> u64 {
        // u64 nanoseconds last 584 years.
        let elapsed = self.start.elapsed();
        EPOCH_OFFSET_NS + elapsed.as_secs() * 1_000_000_000 + u64::from(elapsed.subsec_nanos())
    }
}

const EPOCH_OFFSET_NS: u64 = 1_000_000_000;

/// A clock read from the CPU's time-stamp counter through [`quanta`]: a few
/// nanoseconds per reading where `Instant::now` takes a system call's worth
/// of work (the vDSO still costs ~20 ns). quanta falls back to the OS clock
/// where the TSC is not reliable. Readings start at one second, like
/// [`MonotonicClock`].
///
/// ```
/// use tollgate_limit::{Clock, QuantaClock};
/// let clock = QuantaClock::new();
/// let a = clock.now();
/// assert!(clock.now() >= a);
/// ```
#[cfg(feature = "quanta")]
#[derive(Clone, Debug)]
pub struct QuantaClock {
    clock: quanta::Clock,
    /// The raw counter at the start (scaled only as a difference, so a
    /// reading costs one multiply and shift, no `Duration`).
    start: u64,
}

#[cfg(feature = "quanta")]
impl QuantaClock {
    /// A clock whose epoch is one second before now.
    pub fn new() -> QuantaClock {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        QuantaClock { clock, start }
    }
}

#[cfg(feature = "quanta")]
impl Default for QuantaClock {
    fn default() -> Self {
        QuantaClock::new()
    }
}

#[cfg(feature = "quanta")]
impl Clock for QuantaClock {
    #[inline]
    fn now(&self) -> u64 {
        EPOCH_OFFSET_NS + self.clock.delta_as_nanos(self.start, self.clock.raw())
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tollgate_limit::{Clock, FakeClock};
/// let clock = FakeClock::new();
/// let other = clock.clone();
/// other.advance(Duration::from_secs(2));
/// assert_eq!(clock.now(), other.now());
/// assert_eq!(clock.wall(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_002));
/// ```
#[derive(Clone, Debug)]
pub struct FakeClock {
    nanos: Arc<AtomicU64>,
}

/// The wall time a [`FakeClock`] reads at its start: 2023-11-14T22:13:20Z.
const FAKE_WALL_START: Duration = Duration::from_secs(1_700_000_000);

impl FakeClock {
    /// A fake clock at its start.
    pub fn new() -> FakeClock {
        FakeClock {
            nanos: Arc::new(AtomicU64::new(EPOCH_OFFSET_NS)),
        }
    }

    /// Moves the clock forward, stopping at 2⁶³ ns (see [`Clock::now`]).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(by).min(1 << 63))
            });
    }

    /// How far the clock has moved since it was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now() - EPOCH_OFFSET_NS)
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }

    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + FAKE_WALL_START + self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A monotonic reading is one second plus the time since the clock's
    /// start, in nanoseconds, whole seconds and fraction alike.
    #[test]
    fn a_monotonic_reading_is_one_second_plus_the_nanoseconds_since_the_start() {
        let since = Duration::from_millis(5_250);
        let start = Instant::now()
            .checked_sub(since)
            .expect("the machine has been up for 5 s");
        let clock = MonotonicClock { start };
        let now = clock.now();
        let upper = start.elapsed();
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap();
        assert!(now >= 1_000_000_000 + nanos(since), "{now}");
        assert!(now <= 1_000_000_000 + nanos(upper), "{now} > {upper:?}");
        assert!(MonotonicClock::new().now() >= 1_000_000_000);
    }

    /// A quanta reading is one second plus the counter's nanoseconds since
    /// the clock's start.
    #[cfg(feature = "quanta")]
    #[test]
    fn a_quanta_reading_is_one_second_plus_the_nanoseconds_since_the_start() {
        let (clock, mock) = quanta::Clock::mock();
        mock.increment(Duration::from_secs(7));
        let start = clock.raw();
        let clock = QuantaClock { clock, start };
        assert_eq!(clock.now(), 1_000_000_000);
        mock.increment(Duration::from_millis(1_500));
        assert_eq!(clock.now(), 2_500_000_000);
    }

    /// A fake clock starts at one second with nothing elapsed and its wall
    /// time at 2023-11-14T22:13:20Z; both move by what it is advanced, and
    /// it stops at 2⁶³ ns.
    #[test]
    fn a_fake_clock_moves_its_reading_elapsed_and_wall_time_together() {
        let clock = FakeClock::new();
        assert_eq!(clock.now(), 1_000_000_000);
        assert_eq!(clock.elapsed(), Duration::ZERO);
        let wall_start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(clock.wall(), wall_start);
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(clock.now(), 2_500_000_000);
        assert_eq!(clock.elapsed(), Duration::from_millis(1_500));
        assert_eq!(clock.wall(), wall_start + Duration::from_millis(1_500));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), 1 << 63);
    }

    /// A shared clock reads the same time as the clock it holds.
    #[test]
    fn an_arc_of_a_clock_reads_the_clock_it_holds() {
        let fake = FakeClock::new();
        fake.advance(Duration::from_secs(3));
        let shared = Arc::new(fake.clone());
        assert_eq!(<Arc<FakeClock> as Clock>::now(&shared), 4_000_000_000);
        assert_eq!(<Arc<FakeClock> as Clock>::wall(&shared), fake.wall());
        let dynamic: Arc<dyn Clock> = Arc::new(fake.clone());
        assert_eq!(<Arc<dyn Clock> as Clock>::now(&dynamic), fake.now());
    }
}
