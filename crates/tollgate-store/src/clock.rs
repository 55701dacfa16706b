//! Time, injected: the store and its layers never read the system clock directly,
//! so tests move time forward instead of sleeping.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
///
/// ```
/// use tollgate_store::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now > std::time::UNIX_EPOCH);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to: for tests.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tollgate_store::{Clock, ManualClock};
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_005));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: SystemTime) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: SystemTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

/// Seconds since the Unix epoch (0 before it), as stored in the database.
pub(crate) fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds of `t`, rounded up: a time stored as the end of a hold
/// that began within a second (`x.999`) is not a second early.
pub(crate) fn unix_up(t: SystemTime) -> i64 {
    let whole = unix(t);
    let part = t
        .duration_since(UNIX_EPOCH)
        .is_ok_and(|d| d.subsec_nanos() > 0);
    whole.saturating_add(i64::from(part))
}

/// The time of a stored Unix timestamp.
pub(crate) fn from_unix(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// The start of the calendar month (UTC) containing `t`, as Unix seconds:
/// usage limits count per month.
pub(crate) fn month_start(t: SystemTime) -> i64 {
    let days = unix(t).div_euclid(86_400);
    let (y, m, _) = civil_from_days(days);
    days_from_civil(y, m, 1) * 86_400
}

/// The start of the month after the one containing `t`, as Unix seconds.
pub(crate) fn next_month_start(t: SystemTime) -> i64 {
    let days = unix(t).div_euclid(86_400);
    let (y, m, _) = civil_from_days(days);
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * 86_400
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> SystemTime {
        from_unix(secs)
    }

    #[test]
    fn month_boundaries() {
        // 2024-02-29T12:00:00Z (leap day)
        let t = at(1_709_208_000);
        assert_eq!(month_start(t), 1_706_745_600); // 2024-02-01
        assert_eq!(next_month_start(t), 1_709_251_200); // 2024-03-01
        // 2023-12-31T23:59:59Z rolls into the next year
        let t = at(1_704_067_199);
        assert_eq!(month_start(t), 1_701_388_800); // 2023-12-01
        assert_eq!(next_month_start(t), 1_704_067_200); // 2024-01-01
        // the first second of a month starts it
        assert_eq!(month_start(at(1_704_067_200)), 1_704_067_200);
    }

    /// Every day from about 2200 years before 1970 to as many after has
    /// the date a day-by-day Gregorian calendar gives it, across the
    /// 400-year cycles and the century and leap-year rules.
    #[test]
    fn civil_dates_match_a_day_by_day_calendar() {
        fn leap(y: i64) -> bool {
            y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        }
        fn month_days(y: i64, m: u32) -> u32 {
            match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        }
        const SPAN: i64 = 800_000;
        // Forward from 1970-01-01.
        let (mut y, mut m, mut d) = (1970_i64, 1_u32, 1_u32);
        for days in 0..=SPAN {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            d += 1;
            if d > month_days(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        // Backward from 1969-12-31.
        let (mut y, mut m, mut d) = (1969_i64, 12_u32, 31_u32);
        for days in (-SPAN..0).rev() {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            d -= 1;
            if d == 0 {
                if m == 1 {
                    m = 12;
                    y -= 1;
                } else {
                    m -= 1;
                }
                d = month_days(y, m);
            }
        }
    }

    /// Each month of a leap year and of a common one starts and ends where
    /// the calendar says, from any second in it.
    #[test]
    fn every_month_of_a_year_starts_on_its_first() {
        // 2024-01-01 (leap year) and 2023-01-01.
        for (mut start, leap) in [(1_704_067_200_i64, true), (1_672_531_200, false)] {
            for m in 1..=12 {
                let days = match m {
                    2 if leap => 29,
                    2 => 28,
                    4 | 6 | 9 | 11 => 30,
                    _ => 31,
                };
                let next = start + days * 86_400;
                for t in [start, start + 1, start + 86_400 * 14 + 3_600, next - 1] {
                    assert_eq!(month_start(at(t)), start, "{t}");
                    assert_eq!(next_month_start(at(t)), next, "{t}");
                }
                start = next;
            }
        }
        // Before the epoch, a time reads as the epoch.
        assert_eq!(unix(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert_eq!(month_start(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }

    /// A manual clock is set to a time, moves from it when advanced, and
    /// shows it in its debug form.
    #[test]
    fn a_manual_clock_is_set_and_shows_its_time() {
        let clock = ManualClock::new(at(1_000));
        clock.set(at(5_000));
        assert_eq!(clock.now(), at(5_000));
        clock.advance(Duration::from_secs(7));
        assert_eq!(unix(clock.now()), 5_007);
        assert_eq!(
            format!("{clock:?}"),
            format!("ManualClock({:?})", at(5_007))
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
