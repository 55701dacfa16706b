//! The in-memory store under two threads and the real clock admits exactly
//! what GCRA allows. `TOLLGATE_EXACTNESS_SECS` sets the duration (default 2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_limit::{KeyedLimiter, MonotonicClock, Policy};

#[test]
fn two_threads_at_far_above_the_quota_never_over_admit() {
    let secs: u64 = std::env::var("TOLLGATE_EXACTNESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let policy = Policy::new("exact", 100, Duration::from_secs(1)).unwrap();
    let interval = policy.emission_interval();
    let limiter = Arc::new(KeyedLimiter::new(policy, MonotonicClock::new()));
    // Warm the key so that the start is the first admission.
    let start = Instant::now();
    assert!(limiter.check(&1u64).is_allowed());
    let deadline = start + Duration::from_secs(secs);
    let (admitted, attempts) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                s.spawn(move || {
                    let (mut admitted, mut attempts) = (0u64, 0u64);
                    while Instant::now() < deadline {
                        attempts += 1;
                        admitted += u64::from(limiter.check(&1u64).is_allowed());
                    }
                    (admitted, attempts)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((1, 0), |(a, t), (x, y)| (a + x, t + y))
    });
    // The most GCRA allows counts up to the last check, which may come after
    // the deadline; the least it must admit, only up to the deadline (after
    // it nobody calls, however late this thread gets to read the clock).
    let allowed_by =
        |elapsed: Duration| 100 + (elapsed.as_nanos() / interval.as_nanos()) as u64 + 1;
    let allowed = allowed_by(start.elapsed());
    let owed = allowed_by(deadline - start);
    eprintln!(
        "memory exactness: {secs} s, {attempts} attempts, {admitted} admitted, GCRA allows at most {allowed}"
    );
    assert!(
        attempts > 10 * allowed,
        "the threads did hammer: {attempts}"
    );
    assert!(
        admitted <= allowed,
        "over-admission: {admitted} > {allowed}"
    );
    assert!(admitted + 3 >= owed, "under-admission: {admitted} < {owed}");
}
